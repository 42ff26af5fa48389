//! A capture with late records, and the rows pmacct-rs must count for it per minute bin
//! (print_files.rs, influxdb.rs): held fragments released when their first fragment comes,
//! orphan fragments released after the timeout or at the end, packets stamped minutes back.

use std::collections::BTreeMap;
use std::path::Path;

use pmacct_daemon::synth::{write_frames, Frame, Rng};

/// A minute boundary (2023-11-14 22:14:00 UTC).
pub const T0: i64 = 1_700_000_040;

/// One IPv4 packet of the capture, with the ports pmacct-rs must account it under.
#[derive(Clone, Debug)]
pub struct Pkt {
    /// When it comes in the capture, and the stamp it carries (older for a late packet).
    pub arrival: (i64, u32),
    pub ts: i64,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub ports: (u16, u16),
    /// IP id, fragment offset (8-byte units), more fragments.
    pub frag: Option<(u16, u16, bool)>,
    pub payload: usize,
    /// The ports it is counted under: its own, its first fragment's, or 0/0 for an orphan.
    pub counted_ports: (u16, u16),
}

impl Pkt {
    fn l4_len(&self) -> usize {
        match (self.frag, self.proto) {
            (Some((_, off, _)), _) if off != 0 => 0,
            (_, 6) => 20,
            _ => 8,
        }
    }

    pub fn ip_len(&self) -> usize {
        20 + self.l4_len() + self.payload
    }

    fn frame(&self) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let (id, off, more) = self.frag.unwrap_or((0, 0, false));
        let flags_off = off | if more { 0x2000 } else { 0 };
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&(self.ip_len() as u16).to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&flags_off.to_be_bytes());
        f.extend_from_slice(&[64, self.proto, 0, 0]);
        f.extend_from_slice(&self.src);
        f.extend_from_slice(&self.dst);
        if self.l4_len() > 0 {
            f.extend_from_slice(&self.ports.0.to_be_bytes());
            f.extend_from_slice(&self.ports.1.to_be_bytes());
            if self.proto == 6 {
                f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            } else {
                f.extend_from_slice(&((8 + self.payload) as u16).to_be_bytes());
                f.extend_from_slice(&[0, 0]);
            }
        }
        f.resize(f.len() + self.payload, 0x5a);
        f
    }

    pub fn bin(&self) -> i64 {
        self.ts - (self.ts - T0).rem_euclid(60)
    }

    pub fn key(&self) -> Key {
        Key {
            src: ip(self.src),
            dst: ip(self.dst),
            sport: self.counted_ports.0,
            dport: self.counted_ports.1,
            proto: if self.proto == 6 { "tcp" } else { "udp" }.into(),
        }
    }
}

fn ip(a: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub src: String,
    pub dst: String,
    pub sport: u16,
    pub dport: u16,
    pub proto: String,
}

/// A file's rows as a sorted list: (key, packets, bytes), duplicates kept.
pub type FileRows = Vec<(Key, u64, u64)>;

pub struct Capture {
    pub packets: Vec<Pkt>,
}

impl Capture {
    /// Six minutes of UDP and TCP between a few hosts, plus: fragmented datagrams whose
    /// second fragment comes first (held 5 to 25 s, across minute ends), orphan fragments
    /// (one a few seconds before the end, released at the end of the file), and packets stamped
    /// two to three minutes back (late for the second minute's bin).
    pub fn generate() -> Capture {
        let mut rng = Rng(0x5eed_0019);
        let mut packets = Vec::new();
        let mut id = 1u16;
        let host = |rng: &mut Rng, net: u8| [10, net, 0, 1 + rng.below(5) as u8];
        for s in 0..360i64 {
            let t = T0 + s;
            for k in 0..4 {
                let proto = if rng.below(2) == 0 { 6 } else { 17 };
                let ports = (
                    1000 + rng.below(3) as u16,
                    [53, 80, 443][rng.below(3) as usize],
                );
                packets.push(Pkt {
                    arrival: (t, 1000 + k * 200_000),
                    ts: t,
                    src: host(&mut rng, 1),
                    dst: host(&mut rng, 2),
                    proto,
                    ports,
                    frag: None,
                    payload: rng.below(400) as usize,
                    counted_ports: ports,
                });
            }
            if s % 7 == 3 {
                let held = s % 14 == 3;
                let delay = if held { 5 + rng.below(21) as i64 } else { 0 };
                let ports = (2000 + rng.below(2) as u16, 4789);
                let first = Pkt {
                    arrival: (t + delay, 500_000),
                    ts: t + delay,
                    src: host(&mut rng, 3),
                    dst: host(&mut rng, 4),
                    proto: 17,
                    ports,
                    frag: Some((id, 0, true)),
                    payload: 1472,
                    counted_ports: ports,
                };
                let second = Pkt {
                    arrival: (t, 600_000),
                    ts: t,
                    frag: Some((id, 185, false)),
                    payload: 300 + rng.below(500) as usize,
                    ..first.clone()
                };
                id += 1;
                if t + delay < T0 + 360 {
                    packets.push(first);
                    packets.push(second);
                }
            }
            if s % 40 == 17 || s == 355 {
                packets.push(Pkt {
                    arrival: (t, 700_000),
                    ts: t,
                    src: [10, 5, 0, 1],
                    dst: [10, 6, 0, 1 + (s % 3) as u8],
                    proto: 17,
                    ports: (0, 0),
                    frag: Some((id, 100, false)),
                    payload: 100 + s as usize,
                    counted_ports: (0, 0),
                });
                id += 1;
            }
            if (250..255).contains(&s) {
                let ports = (3000, 80);
                packets.push(Pkt {
                    arrival: (t, 800_000),
                    ts: T0 + 70 + (s - 250) * 8,
                    src: [10, 7, 0, 1],
                    dst: [10, 8, 0, 1],
                    proto: 6,
                    ports,
                    frag: None,
                    payload: 10 * (s as usize - 249),
                    counted_ports: ports,
                });
            }
        }
        packets.sort_by_key(|p| p.arrival);
        Capture { packets }
    }

    pub fn write(&self, path: &Path) {
        let frames: Vec<Vec<u8>> = self.packets.iter().map(Pkt::frame).collect();
        let list: Vec<Frame<'_>> = self
            .packets
            .iter()
            .zip(&frames)
            // In the file's order of arrival, each with its own stamp.
            .map(|(p, f)| Frame {
                secs: p.ts as u32,
                usecs: p.arrival.1,
                data: f,
            })
            .collect();
        write_frames(path, 1, &list).expect("write capture");
    }

    /// The independent count: per minute bin, one row per key with its packets and bytes.
    pub fn expected(&self) -> BTreeMap<i64, FileRows> {
        let mut per_bin: BTreeMap<i64, BTreeMap<Key, (u64, u64)>> = BTreeMap::new();
        for p in &self.packets {
            let e = per_bin
                .entry(p.bin())
                .or_default()
                .entry(p.key())
                .or_default();
            e.0 += 1;
            e.1 += p.ip_len() as u64;
        }
        per_bin
            .into_iter()
            .map(|(bin, rows)| (bin, rows.into_iter().map(|(k, (p, b))| (k, p, b)).collect()))
            .collect()
    }
}

/// A bin's start as pmacct prints stamps (UTC).
pub fn stamp(bin: i64) -> String {
    jiff::Timestamp::from_second(bin)
        .expect("time")
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}
