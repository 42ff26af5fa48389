//! A generated home network over three days (the clocks change in the middle,
//! Europe/Berlin): five devices (IPv4 and IPv6, one changing its address), LAN-to-LAN,
//! multicast, broadcast and link-local noise; each packet knows whose download or upload it
//! is. Used by the report's tests and the scale-out (Kafka to ClickHouse) test.

use super::Udp;
use std::net::IpAddr;
use std::path::Path;

pub const ZONE: &str = "Europe/Berlin";
/// 2024-03-30 00:00 in Berlin (CET, UTC+1); the clocks go forward on the 31st.
pub const START: i64 = 1_711_753_200;

/// What a generated packet is, for the local devices.
#[derive(Clone, Copy)]
pub enum Truth {
    /// A device (by index) downloads or uploads.
    Down(usize),
    Up(usize),
    /// LAN to LAN, or noise: no device's.
    None,
}

/// A generated packet and what it is for the devices.
pub struct Packet {
    pub udp: Udp,
    pub truth: Truth,
}

impl std::ops::Deref for Packet {
    type Target = Udp;
    fn deref(&self) -> &Udp {
        &self.udp
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

pub fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

const ROUTER: u8 = 0xfe;

/// The devices: MAC, and their address on each of the three days (the laptop moves).
pub fn devices() -> Vec<(u8, [&'static str; 3])> {
    vec![
        (1, ["192.168.1.10", "192.168.1.11", "192.168.1.11"]),
        (2, ["192.168.1.20"; 3]),
        (3, ["2001:db8:1::30"; 3]),
        (4, ["192.168.1.40"; 3]),
        (5, ["2001:db8:1::50"; 3]),
    ]
}

/// Three days of traffic, in time order, from a fixed seed.
pub fn traffic() -> Vec<Packet> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let remote4 = [ip("93.184.216.34"), ip("8.8.8.8"), ip("1.1.1.1")];
    let remote6 = [ip("2606:4700::1111"), ip("2a00:1450::200e")];
    let mut out = Vec::new();
    let mut ts = START + 60;
    while ts < START + 3 * 86_400 - 3_600 {
        let day = ((ts - START) / 86_400) as usize;
        let devs = devices();
        let d = next(devs.len() as u64) as usize;
        let (m, addrs) = devs[d];
        let me = ip(addrs[day]);
        let payload = [0usize, 100, 512, 1200][next(4) as usize];
        let remote = match me {
            IpAddr::V4(_) => remote4[next(3) as usize],
            IpAddr::V6(_) => remote6[next(2) as usize],
        };
        let kind = next(10);
        let p = match kind {
            0..=4 => Packet {
                udp: Udp {
                    ts,
                    src: remote,
                    dst: me,
                    src_mac: mac(ROUTER),
                    dst_mac: mac(m),
                    payload,
                },
                truth: Truth::Down(d),
            },
            5..=7 => Packet {
                udp: Udp {
                    ts,
                    src: me,
                    dst: remote,
                    src_mac: mac(m),
                    dst_mac: mac(ROUTER),
                    payload,
                },
                truth: Truth::Up(d),
            },
            8 => {
                // LAN to LAN: to another device of the same family.
                let other = devs
                    .iter()
                    .map(|(om, a)| (*om, ip(a[day])))
                    .find(|(om, a)| *om != m && a.is_ipv4() == me.is_ipv4())
                    .expect("a peer");
                Packet {
                    udp: Udp {
                        ts,
                        src: me,
                        dst: other.1,
                        src_mac: mac(m),
                        dst_mac: mac(other.0),
                        payload,
                    },
                    truth: Truth::None,
                }
            }
            _ => {
                let dst = match (me, next(2)) {
                    (IpAddr::V4(_), 0) => ip("224.0.0.251"),
                    (IpAddr::V4(_), _) => ip("192.168.1.255"),
                    (IpAddr::V6(_), _) => ip("ff02::1"),
                };
                let src = match me {
                    IpAddr::V6(_) if next(2) == 0 => ip("fe80::3"),
                    _ => me,
                };
                Packet {
                    udp: Udp {
                        ts,
                        src,
                        dst,
                        src_mac: mac(m),
                        dst_mac: [0xff; 6],
                        payload,
                    },
                    truth: Truth::None,
                }
            }
        };
        out.push(p);
        ts += 20 + next(100) as i64;
    }
    out
}

pub fn write_pcap(path: &Path, packets: &[Packet]) {
    let udp: Vec<&Udp> = packets.iter().map(|p| &p.udp).collect();
    super::write_udp_pcap(path, &udp);
}
