//! Builders of export datagrams for tests (the encoder half of the byte-literal tests).

use std::net::IpAddr;

use crate::{Collector, DatagramInfo, FlowRecord, Limits};

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One NetFlow v5 record's fields, in wire order.
#[derive(Clone, Copy, Default)]
pub(crate) struct V5Record {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub next_hop: [u8; 4],
    pub input: u16,
    pub output: u16,
    pub packets: u32,
    pub bytes: u32,
    pub first: u32,
    pub last: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    pub proto: u8,
    pub tos: u8,
    pub src_as: u16,
    pub dst_as: u16,
    pub src_mask: u8,
    pub dst_mask: u8,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn v5(
    uptime: u32,
    secs: u32,
    nsecs: u32,
    seq: u32,
    engine: (u8, u8),
    sampling: u16,
    records: &[V5Record],
) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&5u16.to_be_bytes());
    d.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for v in [uptime, secs, nsecs, seq] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(&[engine.0, engine.1]);
    d.extend_from_slice(&sampling.to_be_bytes());
    for r in records {
        d.extend_from_slice(&r.src);
        d.extend_from_slice(&r.dst);
        d.extend_from_slice(&r.next_hop);
        d.extend_from_slice(&r.input.to_be_bytes());
        d.extend_from_slice(&r.output.to_be_bytes());
        for v in [r.packets, r.bytes, r.first, r.last] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&r.src_port.to_be_bytes());
        d.extend_from_slice(&r.dst_port.to_be_bytes());
        d.extend_from_slice(&[0, r.tcp_flags, r.proto, r.tos]);
        d.extend_from_slice(&r.src_as.to_be_bytes());
        d.extend_from_slice(&r.dst_as.to_be_bytes());
        d.extend_from_slice(&[r.src_mask, r.dst_mask, 0, 0]);
    }
    d
}

/// A NetFlow v9 datagram around `sets` (the count field says how many sets: nobody reads it).
pub(crate) fn v9(uptime: u32, secs: u32, seq: u32, source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&9u16.to_be_bytes());
    d.extend_from_slice(&(sets.len() as u16).to_be_bytes());
    for v in [uptime, secs, seq, source_id] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    for s in sets {
        d.extend_from_slice(s);
    }
    d
}

/// An IPFIX message around `sets`.
pub(crate) fn ipfix(export_time: u32, seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let len: usize = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut d = Vec::new();
    d.extend_from_slice(&10u16.to_be_bytes());
    d.extend_from_slice(&(len as u16).to_be_bytes());
    for v in [export_time, seq, domain] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    for s in sets {
        d.extend_from_slice(s);
    }
    d
}

/// A set (flowset) with its header.
pub(crate) fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A template record of (element id, length) fields; an id with the enterprise bit takes the
/// PEN that follows it in `pens` order.
pub(crate) fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (f, len) in fields {
        r.extend_from_slice(&f.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
    }
    r
}

/// An IPFIX template record whose fields may carry a PEN (`Some(pen)`: the enterprise bit is set).
pub(crate) fn ipfix_template(id: u16, fields: &[(Option<u32>, u16, u16)]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    push_fields(&mut r, fields);
    r
}

fn push_fields(r: &mut Vec<u8>, fields: &[(Option<u32>, u16, u16)]) {
    for (pen, f, len) in fields {
        let raw = if pen.is_some() { f | 0x8000 } else { *f };
        r.extend_from_slice(&raw.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
        if let Some(pen) = pen {
            r.extend_from_slice(&pen.to_be_bytes());
        }
    }
}

/// An IPFIX options template record: the first `scope` fields are scope fields.
pub(crate) fn ipfix_options_template(id: u16, scope: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    r.extend_from_slice(&scope.to_be_bytes());
    let fields: Vec<(Option<u32>, u16, u16)> = fields.iter().map(|&(f, l)| (None, f, l)).collect();
    push_fields(&mut r, &fields);
    r
}

/// A NetFlow v9 options template record: scope fields (type, length), then option fields.
pub(crate) fn v9_options_template(
    id: u16,
    scope: &[(u16, u16)],
    options: &[(u16, u16)],
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&((scope.len() * 4) as u16).to_be_bytes());
    r.extend_from_slice(&((options.len() * 4) as u16).to_be_bytes());
    for (f, len) in scope.iter().chain(options) {
        r.extend_from_slice(&f.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
    }
    r
}

/// Concatenated big-endian values of the given widths: `be(&[(1, 2), (0x0a000001, 4)])`.
pub(crate) fn be(values: &[(u64, usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(v, width) in values {
        out.extend_from_slice(&v.to_be_bytes()[8 - width..]);
    }
    out
}

/// Decodes one datagram into a fresh vector; panics on rejection.
pub(crate) fn decode(
    c: &mut Collector,
    from: &str,
    d: &[u8],
    now: i64,
) -> (DatagramInfo, Vec<FlowRecord>) {
    let mut out = Vec::new();
    let info = c.decode(ip(from), d, now, &mut out).unwrap();
    (info, out)
}

pub(crate) fn collector() -> Collector {
    Collector::new(Limits::default())
}
