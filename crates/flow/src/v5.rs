//! NetFlow v5: a 24-byte header and `count` fixed 48-byte records, no templates. Promise: a
//! header whose count needs more bytes than the datagram holds rejects the datagram (nothing
//! half-read is returned).

use std::net::{IpAddr, Ipv4Addr};

use crate::read::{u16_at, u32_at, u8_at};
use crate::template::TimeBase;
use crate::{FlowRecord, Malformed};

pub(crate) const HEADER_LEN: usize = 24;
pub(crate) const RECORD_LEN: usize = 48;

/// The fields of a v5 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) count: u16,
    pub(crate) uptime_ms: u32,
    pub(crate) unix_secs: u32,
    pub(crate) unix_nsecs: u32,
    pub(crate) sequence: u32,
    pub(crate) engine_type: u8,
    pub(crate) engine_id: u8,
    /// The low 14 bits of the sampling field (the top 2 bits are the mode).
    pub(crate) sampling_interval: u16,
}

impl Header {
    pub(crate) fn parse(d: &[u8]) -> Result<Header, Malformed> {
        if d.len() < HEADER_LEN {
            return Err(Malformed::TooShort);
        }
        let short = Malformed::TooShort;
        let h = Header {
            count: u16_at(d, 2).ok_or(short)?,
            uptime_ms: u32_at(d, 4).ok_or(short)?,
            unix_secs: u32_at(d, 8).ok_or(short)?,
            unix_nsecs: u32_at(d, 12).ok_or(short)?,
            sequence: u32_at(d, 16).ok_or(short)?,
            engine_type: u8_at(d, 20).ok_or(short)?,
            engine_id: u8_at(d, 21).ok_or(short)?,
            sampling_interval: u16_at(d, 22).ok_or(short)? & 0x3fff,
        };
        if HEADER_LEN + usize::from(h.count) * RECORD_LEN > d.len() {
            return Err(Malformed::BadLength);
        }
        Ok(h)
    }

    pub(crate) fn source_id(&self) -> u32 {
        u32::from(self.engine_type) << 8 | u32::from(self.engine_id)
    }

    pub(crate) fn time_base(&self) -> TimeBase {
        TimeBase {
            export_secs: i64::from(self.unix_secs),
            uptime_ms: Some(self.uptime_ms),
        }
    }
}

/// Appends the datagram's records to `out`; `base` carries the header facts every record
/// shares.
pub(crate) fn records(d: &[u8], h: &Header, base: &FlowRecord, out: &mut Vec<FlowRecord>) {
    let t = h.time_base();
    let records = d.get(HEADER_LEN..).unwrap_or(&[]);
    for rec in records.chunks_exact(RECORD_LEN).take(usize::from(h.count)) {
        let Ok(rec) = <&[u8; RECORD_LEN]>::try_from(rec) else {
            continue;
        };
        let addr = |at: usize| {
            IpAddr::V4(Ipv4Addr::new(
                rec[at],
                rec[at + 1],
                rec[at + 2],
                rec[at + 3],
            ))
        };
        let u16_of = |at: usize| u16::from_be_bytes([rec[at], rec[at + 1]]);
        let u32_of =
            |at: usize| u32::from_be_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]]);
        let mut r = base.clone();
        r.src_addr = Some(addr(0));
        r.dst_addr = Some(addr(4));
        r.next_hop = Some(addr(8));
        r.in_iface = u32::from(u16_of(12));
        r.out_iface = u32::from(u16_of(14));
        r.packets = u64::from(u32_of(16));
        r.bytes = u64::from(u32_of(20));
        r.start = t.switched(u32_of(24), None);
        r.end = t.switched(u32_of(28), None);
        r.src_port = u16_of(32);
        r.dst_port = u16_of(34);
        r.tcp_flags = rec[37];
        r.proto = rec[38];
        r.tos = rec[39];
        r.src_as = u32::from(u16_of(40));
        r.dst_as = u32::from(u16_of(42));
        r.src_mask = rec[44];
        r.dst_mask = rec[45];
        out.push(r);
    }
}
