//! NetFlow v5: fixed records, header sampling, sequence counted in flows.

use super::build::{collector, decode, ip, v5, V5Record};
use crate::{FlowTime, Malformed};

fn record(src_last: u8, packets: u32, bytes: u32) -> V5Record {
    V5Record {
        src: [10, 0, 0, src_last],
        dst: [192, 0, 2, 1],
        next_hop: [10, 0, 0, 254],
        input: 3,
        output: 4,
        packets,
        bytes,
        first: 4_000,
        last: 9_000,
        src_port: 12345,
        dst_port: 443,
        tcp_flags: 0x1b,
        proto: 6,
        tos: 0x28,
        src_as: 64500,
        dst_as: 64501,
        src_mask: 24,
        dst_mask: 16,
    }
}

#[test]
fn decodes_every_field_of_a_v5_record() {
    let mut c = collector();
    // Sampling field: mode 01 (deterministic) in the top bits, interval 100.
    let d = v5(
        10_000,
        1_700_000_000,
        500_000_000,
        77,
        (1, 2),
        0x4000 | 100,
        &[record(1, 5, 1500), record(2, 1, 40)],
    );
    let (info, out) = decode(&mut c, "192.0.2.9", &d, 1_700_000_000);
    assert_eq!(info.version, 5);
    assert_eq!(info.seqno, 77);
    assert_eq!(info.source_id, 0x0102);
    assert_eq!(info.export_time, 1_700_000_000);
    assert_eq!(info.records, 2);
    assert_eq!(info.lost, 0);
    assert_eq!(out.len(), 2);
    let r = &out[0];
    assert_eq!(r.exporter, ip("192.0.2.9"));
    assert_eq!((r.version, r.seqno, r.source_id), (5, 77, 0x0102));
    assert_eq!((r.engine_type, r.engine_id), (1, 2));
    assert_eq!(r.src_addr, Some(ip("10.0.0.1")));
    assert_eq!(r.dst_addr, Some(ip("192.0.2.1")));
    assert_eq!(r.next_hop, Some(ip("10.0.0.254")));
    assert_eq!((r.in_iface, r.out_iface), (3, 4));
    assert_eq!((r.packets, r.bytes, r.flows), (5, 1500, 1));
    assert_eq!((r.src_port, r.dst_port, r.proto), (12345, 443, 6));
    assert_eq!((r.tcp_flags, r.tos), (0x1b, 0x28));
    assert_eq!(
        (r.src_as, r.dst_as, r.src_mask, r.dst_mask),
        (64500, 64501, 24, 16)
    );
    assert_eq!(r.sampling_rate, 100);
    // Export at 1_700_000_000.5 s with 10 s of uptime: uptime 4 s was 6 s earlier. Whole
    // seconds before the header's export second, as pmacct 1.7.7 computes them.
    assert_eq!(
        r.start,
        Some(FlowTime {
            secs: 1_699_999_994,
            micros: 0
        })
    );
    assert_eq!(
        r.end,
        Some(FlowTime {
            secs: 1_699_999_999,
            micros: 0
        })
    );
    assert_eq!(out[1].src_addr, Some(ip("10.0.0.2")));
    assert_eq!((out[1].packets, out[1].bytes), (1, 40));
    let s = c.stats();
    assert_eq!(
        (s.datagrams_v5, s.records, s.records_without_sampling_rate),
        (1, 2, 0)
    );
}

#[test]
fn v5_without_sampling_interval_has_unknown_rate() {
    let mut c = collector();
    let d = v5(1, 2, 0, 0, (0, 0), 0, &[record(1, 1, 1)]);
    let (_, out) = decode(&mut c, "192.0.2.9", &d, 0);
    assert_eq!(out[0].sampling_rate, 0);
    assert_eq!(c.stats().records_without_sampling_rate, 1);
}

#[test]
fn v5_sequence_counts_flows_per_engine() {
    let mut c = collector();
    let two = [record(1, 1, 1), record(2, 1, 1)];
    let send = |c: &mut crate::Collector, seq: u32, engine: (u8, u8), n: usize| {
        let d = v5(1, 2, 0, seq, engine, 0, &two[..n]);
        decode(c, "192.0.2.9", &d, 0).0.lost
    };
    assert_eq!(
        send(&mut c, 100, (0, 0), 2),
        0,
        "the first datagram is the baseline"
    );
    assert_eq!(send(&mut c, 102, (0, 0), 1), 0);
    assert_eq!(send(&mut c, 106, (0, 0), 2), 3, "flows 103..=105 lost");
    assert_eq!(
        send(&mut c, 1, (0, 1), 2),
        0,
        "another engine is another stream"
    );
    assert_eq!(send(&mut c, 3, (0, 1), 2), 0);
    assert_eq!(
        send(&mut c, 50, (0, 0), 2),
        0,
        "a step back is a restart, not a loss"
    );
    assert_eq!(send(&mut c, 52, (0, 0), 2), 0);
    assert_eq!((c.stats().lost, c.stats().sequence_gaps), (3, 1));
}

#[test]
fn v5_header_problems_reject_the_datagram() {
    let mut c = collector();
    let mut out = Vec::new();
    let from = ip("192.0.2.9");
    let d = v5(1, 2, 0, 0, (0, 0), 0, &[record(1, 1, 1)]);
    assert_eq!(
        c.decode(from, &d[..20], 0, &mut out),
        Err(Malformed::TooShort)
    );
    assert_eq!(
        c.decode(from, &d[..70], 0, &mut out),
        Err(Malformed::BadLength)
    );
    assert_eq!(
        c.decode(from, &[0, 7, 0, 0], 0, &mut out),
        Err(Malformed::BadVersion)
    );
    assert_eq!(c.decode(from, &[0], 0, &mut out), Err(Malformed::TooShort));
    assert!(out.is_empty());
    let s = c.stats();
    assert_eq!(s.malformed(Malformed::TooShort), 2);
    assert_eq!(s.malformed(Malformed::BadLength), 1);
    assert_eq!(s.malformed(Malformed::BadVersion), 1);
    assert_eq!(s.datagrams_v5, 0);
}
