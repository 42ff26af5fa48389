//! A deterministic synthetic capture (Ethernet, some 802.1Q, IPv4 and IPv6, TCP/UDP/ICMP) for
//! tests and benchmarks; the `pcapgen` binary is its command line.
//!
//! The same arguments always give the same bytes. Timestamps are spread evenly over `seconds`
//! from `start`, avoiding the first second of every minute (pmacct 1.7.7 misplaces those packets
//! into the previous bin; tests that compare bins against it must not depend on that).

pub mod names;

use std::io::{BufWriter, Write};

/// xorshift64*: small, fast, deterministic (also the tests' source of reproducible choices).
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Below `n` (0 for an `n` of 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// How the generated IP packets are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Ethernet, one frame in ten with an 802.1Q tag.
    Ethernet,
    /// Ethernet with a Cisco FabricPath header after the outer MACs.
    FabricPath,
    /// Ethernet with a Cisco VN-Tag after the MACs.
    VnTag,
    /// 802.11 data frames (DLT 105) with LLC/SNAP, to and from the access point; no VLANs.
    Wlan,
}

impl Framing {
    pub fn parse(name: &str) -> Option<Framing> {
        Some(match name {
            "ethernet" => Framing::Ethernet,
            "fabricpath" => Framing::FabricPath,
            "vntag" => Framing::VnTag,
            "wlan" => Framing::Wlan,
            _ => return None,
        })
    }

    fn dlt(self) -> u32 {
        match self {
            Framing::Wlan => 105,
            _ => 1,
        }
    }

    /// Rewrites an Ethernet frame (MACs at 0..12, then the ethertype) into this framing.
    fn reframe(self, eth: &[u8], i: u64, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Framing::Ethernet => out.extend_from_slice(eth),
            Framing::FabricPath => {
                out.extend_from_slice(&eth[..12]);
                out.extend_from_slice(&[0x89, 0x03, 0x00, 0x3f]);
                out.extend_from_slice(&eth[..12]);
                out.extend_from_slice(&eth[12..]);
            }
            Framing::VnTag => {
                out.extend_from_slice(&eth[..12]);
                out.extend_from_slice(&[0x89, 0x26, 0x80, 0x05, 0x00, 0x11]);
                out.extend_from_slice(&eth[12..]);
            }
            Framing::Wlan => {
                let (dst, src) = (&eth[..6], &eth[6..12]);
                let bssid = [0x02, 0xaa, 0, 0, 0, 1];
                let mut etype_at = 12;
                if eth[12..14] == [0x81, 0x00] {
                    etype_at = 16;
                }
                // Alternate to-AP (addr1 BSSID, addr2 SA, addr3 DA) and from-AP frames
                // (addr1 DA, addr2 BSSID, addr3 SA).
                if i.is_multiple_of(2) {
                    out.extend_from_slice(&[0x08, 0x01, 0, 0]);
                    out.extend_from_slice(&bssid);
                    out.extend_from_slice(src);
                    out.extend_from_slice(dst);
                } else {
                    out.extend_from_slice(&[0x08, 0x02, 0, 0]);
                    out.extend_from_slice(dst);
                    out.extend_from_slice(&bssid);
                    out.extend_from_slice(src);
                }
                out.extend_from_slice(&[0x10, 0x00]);
                out.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
                out.extend_from_slice(&eth[etype_at..]);
            }
        }
    }
}

/// Writes `packets` packets between `hosts` hosts, spread over `seconds` from `start`.
pub fn write_pcap(
    path: &std::path::Path,
    packets: u64,
    hosts: u64,
    seconds: u64,
    start: u64,
) -> std::io::Result<()> {
    write_pcap_framed(path, packets, hosts, seconds, start, Framing::Ethernet)
}

/// [`write_pcap`] with another framing.
pub fn write_pcap_framed(
    path: &std::path::Path,
    packets: u64,
    hosts: u64,
    seconds: u64,
    start: u64,
    framing: Framing,
) -> std::io::Result<()> {
    let hosts = hosts.max(2);
    let seconds = seconds.max(1);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&framing.dlt().to_le_bytes())?;
    let mut framed = Vec::with_capacity(1700);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut frame = Vec::with_capacity(1600);
    let step_us = seconds * 1_000_000 / packets.max(1);
    for i in 0..packets {
        let mut t_us = start * 1_000_000 + i * step_us;
        if (t_us / 1_000_000).is_multiple_of(60) {
            t_us += 1_000_000;
        }
        let a = rng.below(hosts) as u32;
        let mut b = rng.below(hosts) as u32;
        if b == a {
            b = (b + 1) % hosts as u32;
        }
        let kind = rng.below(100);
        let v6 = kind >= 85;
        let vlan = rng.below(10) == 0;
        let proto: u8 = match kind % 20 {
            0 if v6 => 58,
            0 => 1,
            1..=7 => 17,
            _ => 6,
        };
        let payload: usize = match rng.below(4) {
            0 => 0,
            1 => 100,
            2 => 512,
            _ => 1200,
        };
        let l4_len = if proto == 6 { 20 } else { 8 };
        frame.clear();
        frame.extend_from_slice(&[0x02, 0, 0, 0, (b >> 8) as u8, b as u8]);
        frame.extend_from_slice(&[0x02, 0, 0, 0, (a >> 8) as u8, a as u8]);
        if vlan {
            frame.extend_from_slice(&[0x81, 0x00, 0x20, (10 + a % 5) as u8]);
        }
        if v6 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            frame.extend_from_slice(&((l4_len + payload) as u16).to_be_bytes());
            frame.extend_from_slice(&[proto, 64]);
            for h in [a, b] {
                frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
                frame.extend_from_slice(&h.to_be_bytes());
            }
        } else {
            frame.extend_from_slice(&[0x08, 0x00]);
            let ip = frame.len();
            frame.extend_from_slice(&[0x45, (rng.below(4) * 8) as u8]);
            frame.extend_from_slice(&((20 + l4_len + payload) as u16).to_be_bytes());
            frame.extend_from_slice(&(i as u16).to_be_bytes());
            frame.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
            for h in [a, b] {
                frame.extend_from_slice(&[10, (h >> 16) as u8 | 16, (h >> 8) as u8, h as u8]);
            }
            let c = checksum(&frame[ip..ip + 20]);
            frame[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        }
        let sport = 1024 + (a % 30000) as u16;
        let dport = [80u16, 443, 53, 22, 8080][(b % 5) as usize];
        match proto {
            6 => {
                frame.extend_from_slice(&sport.to_be_bytes());
                frame.extend_from_slice(&dport.to_be_bytes());
                frame.extend_from_slice(&[0; 8]);
                frame.extend_from_slice(&[
                    0x50,
                    [0x02u8, 0x10, 0x18, 0x11][(i % 4) as usize],
                    0xff,
                    0xff,
                    0,
                    0,
                    0,
                    0,
                ]);
            }
            17 => {
                frame.extend_from_slice(&sport.to_be_bytes());
                frame.extend_from_slice(&dport.to_be_bytes());
                frame.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
                frame.extend_from_slice(&[0, 0]);
            }
            _ => frame.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0, 0, 1, 0, 1]),
        }
        frame.resize(frame.len() + payload, 0xab);
        if framing != Framing::Wlan {
            let wire = frame.len().max(60);
            frame.resize(wire, 0);
        }
        framing.reframe(&frame, i, &mut framed);
        let wire = framed.len();
        out.write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&(wire as u32).to_le_bytes())?;
        out.write_all(&(wire as u32).to_le_bytes())?;
        out.write_all(&framed)?;
    }
    out.flush()
}

/// One frame of a hand-made capture.
pub struct Frame<'a> {
    pub secs: u32,
    pub usecs: u32,
    pub data: &'a [u8],
}

/// Writes a pcap file (microsecond stamps, little-endian) holding `frames` as captured, with the
/// link type `dlt`.
pub fn write_frames(path: &std::path::Path, dlt: u32, frames: &[Frame<'_>]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&dlt.to_le_bytes())?;
    for f in frames {
        let len = f.data.len() as u32;
        for v in [f.secs, f.usecs, len, len] {
            out.write_all(&v.to_le_bytes())?;
        }
        out.write_all(f.data)?;
    }
    out.flush()
}

/// One interface of a hand-made pcapng file: its link type and `if_tsresol` (6 = microseconds,
/// 9 = nanoseconds).
pub struct NgInterface {
    pub link: u16,
    pub tsresol: u8,
}

/// One packet of a hand-made pcapng file, its time in the interface's units.
pub struct NgPacket<'a> {
    pub interface: u32,
    pub ticks: u64,
    pub data: &'a [u8],
}

fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&total.to_le_bytes());
}

/// Writes a little-endian pcapng file: one section, the interfaces, then the packets as
/// enhanced packet blocks.
pub fn write_pcapng(
    path: &std::path::Path,
    interfaces: &[NgInterface],
    packets: &[NgPacket<'_>],
) -> std::io::Result<()> {
    let mut out = Vec::new();
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    ng_block(&mut out, 0x0a0d_0d0a, &shb);
    for i in interfaces {
        let mut idb = i.link.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, i.tsresol, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]);
        ng_block(&mut out, 1, &idb);
    }
    for p in packets {
        let mut epb = p.interface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((p.ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(p.ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(p.data);
        ng_block(&mut out, 6, &epb);
    }
    std::fs::write(path, out)
}
