//! NetFlow v9: templates, options, held data, sequence counted in datagrams, persistence.

use super::build::{be, collector, decode, ip, set, template, v9, v9_options_template};
use crate::{Collector, CustomKey, FlowTime, Limits, Malformed};

const UPTIME: u32 = 100_000;
const SECS: u32 = 1_700_000_000;

/// Template 256: a typical IPv4 record.
fn template_256() -> Vec<u8> {
    template(
        256,
        &[
            (8, 4),   // src
            (12, 4),  // dst
            (7, 2),   // src port
            (11, 2),  // dst port
            (4, 1),   // proto
            (6, 1),   // tcp flags
            (5, 1),   // tos
            (1, 4),   // bytes
            (2, 4),   // packets
            (10, 2),  // in iface (reduced size)
            (14, 4),  // out iface
            (22, 4),  // first switched
            (21, 4),  // last switched
            (15, 4),  // next hop
            (18, 4),  // bgp next hop
            (16, 4),  // src as
            (17, 4),  // dst as
            (9, 1),   // src mask
            (13, 1),  // dst mask
            (61, 1),  // direction
            (89, 1),  // forwarding status
            (58, 2),  // vlan
            (56, 6),  // src mac
            (80, 6),  // dst mac
            (38, 1),  // engine type
            (39, 1),  // engine id
            (48, 1),  // sampler id
            (999, 3), // unknown: skipped
        ],
    )
}

fn record_256(src_last: u8, bytes: u64) -> Vec<u8> {
    let mut r = be(&[
        (0x0a00_0000 | u64::from(src_last), 4),
        (0xc000_0201, 4),
        (40000, 2),
        (53, 2),
        (17, 1),
        (0, 1),
        (0xb8, 1),
        (bytes, 4),
        (3, 4),
        (7, 2),
        (8, 4),
        (95_500, 4),
        (99_250, 4),
        (0x0a00_00fe, 4),
        (0xc633_6401, 4),
        (65001, 4),
        (65002, 4),
        (24, 1),
        (32, 1),
        (1, 1),
        (0x40, 1),
        (100, 2),
    ]);
    r.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    r.extend_from_slice(&[7, 8, 9, 10, 11, 12]);
    r.extend_from_slice(&[2, 9, 5, 0xaa, 0xbb, 0xcc]);
    r
}

#[test]
fn template_then_data_fills_every_mapped_field() {
    let mut c = collector();
    let t = v9(UPTIME, SECS, 1, 7, &[set(0, &template_256())]);
    let (info, out) = decode(&mut c, "192.0.2.1", &t, 0);
    assert_eq!(
        (info.version, info.seqno, info.source_id, info.records),
        (9, 1, 7, 0)
    );
    assert!(out.is_empty());
    assert_eq!(c.stats().templates, 1);

    let mut body = record_256(1, 1000);
    body.extend(record_256(2, 2000));
    body.extend_from_slice(&[0, 0]); // padding
    let d = v9(UPTIME, SECS, 2, 7, &[set(256, &body)]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!((info.records, info.lost, info.export_time), (2, 0, SECS));
    let r = &out[0];
    assert_eq!(r.exporter, ip("192.0.2.1"));
    assert_eq!((r.version, r.seqno, r.source_id), (9, 2, 7));
    assert_eq!(r.src_addr, Some(ip("10.0.0.1")));
    assert_eq!(r.dst_addr, Some(ip("192.0.2.1")));
    assert_eq!(
        (r.src_port, r.dst_port, r.proto, r.tcp_flags, r.tos),
        (40000, 53, 17, 0, 0xb8)
    );
    assert_eq!((r.bytes, r.packets, r.flows), (1000, 3, 1));
    assert_eq!((r.in_iface, r.out_iface), (7, 8));
    // Export at SECS with 100 s of uptime: 95.5 s and 99.25 s of uptime were 4.5 s and
    // 0.75 s before, whole seconds before the export second as pmacct counts them: 4 and 0.
    assert_eq!(
        r.start,
        Some(FlowTime {
            secs: i64::from(SECS) - 4,
            micros: 0
        })
    );
    assert_eq!(
        r.end,
        Some(FlowTime {
            secs: i64::from(SECS),
            micros: 0
        })
    );
    assert_eq!(r.next_hop, Some(ip("10.0.0.254")));
    assert_eq!(r.bgp_next_hop, Some(ip("198.51.100.1")));
    assert_eq!(
        (r.src_as, r.dst_as, r.src_mask, r.dst_mask),
        (65001, 65002, 24, 32)
    );
    assert_eq!((r.direction, r.fwd_status, r.vlan), (Some(1), 0x40, 100));
    assert_eq!(r.src_mac, [1, 2, 3, 4, 5, 6]);
    assert_eq!(r.dst_mac, [7, 8, 9, 10, 11, 12]);
    assert_eq!((r.engine_type, r.engine_id, r.sampler_id), (2, 9, Some(5)));
    assert_eq!(r.sampling_rate, 0);
    assert!(r.custom.is_empty());
    assert_eq!(out[1].src_addr, Some(ip("10.0.0.2")));
    assert_eq!(out[1].bytes, 2000);
    let s = c.stats();
    assert_eq!(
        (s.datagrams_v9, s.records, s.records_without_sampling_rate),
        (2, 2, 2)
    );
}

#[test]
fn data_before_its_template_is_held_then_decoded_in_order() {
    let mut c = collector();
    let early1 = v9(UPTIME, SECS, 1, 0, &[set(256, &record_256(1, 10))]);
    let early2 = v9(UPTIME, SECS, 2, 0, &[set(256, &record_256(2, 20))]);
    for d in [&early1, &early2] {
        let (info, out) = decode(&mut c, "192.0.2.1", d, 100);
        assert_eq!(info.records, 0);
        assert!(out.is_empty());
    }
    assert_eq!(c.stats().pending_sets, 2);
    assert_eq!(c.stats().pending_bytes, 2 * record_256(1, 0).len() as u64);
    // The template and more data in one datagram: held records come first, then the new one.
    let d = v9(
        UPTIME,
        SECS,
        3,
        0,
        &[set(0, &template_256()), set(256, &record_256(3, 30))],
    );
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 101);
    assert_eq!(info.records, 3);
    let bytes: Vec<u64> = out.iter().map(|r| r.bytes).collect();
    assert_eq!(bytes, vec![10, 20, 30]);
    // Held records keep their own datagram's header.
    assert_eq!((out[0].seqno, out[1].seqno, out[2].seqno), (1, 2, 3));
    let s = c.stats();
    assert_eq!(
        (s.pending_sets, s.pending_bytes, s.pending_records),
        (0, 0, 2)
    );
    assert_eq!((s.pending_dropped, s.records), (0, 3));
}

#[test]
fn held_data_is_bounded_by_bytes_and_age() {
    let limits = Limits {
        max_pending_bytes_per_exporter: 2 * (record_256(0, 0).len() + 64),
        pending_secs: 10,
        ..Limits::default()
    };
    let mut c = Collector::new(limits);
    for (i, now) in [(1u8, 100), (2, 101), (3, 102)] {
        let d = v9(
            UPTIME,
            SECS,
            u32::from(i),
            0,
            &[set(256, &record_256(i, u64::from(i)))],
        );
        decode(&mut c, "192.0.2.1", &d, now);
    }
    // Room for two: the oldest was dropped.
    assert_eq!((c.stats().pending_sets, c.stats().pending_dropped), (2, 1));
    c.expire(111);
    assert_eq!(
        c.stats().pending_sets,
        2,
        "101 and 102 are not older than 10 s at 111"
    );
    c.expire(112);
    assert_eq!((c.stats().pending_sets, c.stats().pending_dropped), (1, 2));
    let d = v9(UPTIME, SECS, 4, 0, &[set(0, &template_256())]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 112);
    assert_eq!(info.records, 1);
    assert_eq!(out[0].bytes, 3);
}

#[test]
fn templates_are_scoped_by_exporter_address_and_source_id() {
    let mut c = collector();
    let short = template(300, &[(8, 4), (1, 2)]);
    let long = template(300, &[(8, 4), (1, 8)]);
    decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &short)]),
        0,
    );
    decode(
        &mut c,
        "192.0.2.2",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &long)]),
        0,
    );
    let a = be(&[(0x0a00_0001, 4), (500, 2)]);
    let b = be(&[(0x0a00_0002, 4), (1 << 40, 8)]);
    let (_, out) = decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 2, 0, &[set(300, &a)]),
        0,
    );
    assert_eq!((out.len(), out[0].bytes), (1, 500));
    let (_, out) = decode(
        &mut c,
        "192.0.2.2",
        &v9(UPTIME, SECS, 2, 0, &[set(300, &b)]),
        0,
    );
    assert_eq!((out.len(), out[0].bytes), (1, 1 << 40));
    // Same address, other source id: no template there, the data is held.
    let (info, out) = decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 1, 9, &[set(300, &a)]),
        0,
    );
    assert_eq!((info.records, out.len(), c.stats().pending_sets), (0, 0, 1));
    assert_eq!(c.stats().templates, 2);
}

#[test]
fn a_template_resent_with_another_layout_replaces_the_old_one() {
    let mut c = collector();
    decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &template(300, &[(1, 4)]))]),
        0,
    );
    decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 2, 0, &[set(0, &template(300, &[(1, 4)]))]),
        0,
    );
    let d = v9(
        UPTIME,
        SECS,
        3,
        0,
        &[set(0, &template(300, &[(2, 2), (1, 2)]))],
    );
    decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(c.stats().templates, 1);
    let (_, out) = decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 4, 0, &[set(300, &be(&[(9, 2), (900, 2)]))]),
        0,
    );
    assert_eq!((out[0].packets, out[0].bytes), (9, 900));
}

#[test]
fn options_data_sets_the_sampling_rate_of_later_records() {
    let mut c = collector();
    // Before any options data the rate is unknown.
    let t = template(256, &[(8, 4), (1, 4), (48, 1)]);
    let rec = |sampler: u64| be(&[(0x0a00_0001, 4), (100, 4), (sampler, 1)]);
    decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &t)]),
        0,
    );
    let (_, out) = decode(
        &mut c,
        "192.0.2.1",
        &v9(UPTIME, SECS, 2, 0, &[set(256, &rec(1))]),
        0,
    );
    assert_eq!(out[0].sampling_rate, 0);
    // Options template: scope System (type 1, which is not octetDeltaCount here), then
    // FLOW_SAMPLER_ID, FLOW_SAMPLER_MODE, FLOW_SAMPLER_RANDOM_INTERVAL.
    let ot = v9_options_template(257, &[(1, 4)], &[(48, 1), (49, 1), (50, 4)]);
    let mut od = be(&[(0, 4), (1, 1), (2, 1), (100, 4)]);
    od.extend(be(&[(0, 4), (2, 1), (2, 1), (1000, 4)]));
    let d = v9(UPTIME, SECS, 3, 0, &[set(1, &ot), set(257, &od)]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(
        (info.records, out.len()),
        (0, 0),
        "options records are not flows"
    );
    assert_eq!(c.stats().options_records, 2);
    let d = v9(
        UPTIME,
        SECS,
        4,
        0,
        &[set(256, &[rec(1), rec(2), rec(3)].concat())],
    );
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    let rates: Vec<u32> = out.iter().map(|r| r.sampling_rate).collect();
    assert_eq!(rates, vec![100, 1000, 0], "sampler 3 is unknown");
    assert_eq!(c.stats().records_without_sampling_rate, 2);
    // Another exporter learnt nothing.
    decode(
        &mut c,
        "192.0.2.2",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &t)]),
        0,
    );
    let (_, out) = decode(
        &mut c,
        "192.0.2.2",
        &v9(UPTIME, SECS, 2, 0, &[set(256, &rec(1))]),
        0,
    );
    assert_eq!(out[0].sampling_rate, 0);
}

#[test]
fn v9_sequence_counts_datagrams_per_source_id() {
    let mut c = collector();
    let lost = |c: &mut Collector, seq: u32, source: u32| {
        decode(c, "192.0.2.1", &v9(UPTIME, SECS, seq, source, &[]), 0)
            .0
            .lost
    };
    assert_eq!(lost(&mut c, 10, 0), 0);
    assert_eq!(lost(&mut c, 11, 0), 0);
    assert_eq!(lost(&mut c, 14, 0), 2);
    assert_eq!(
        lost(&mut c, 500, 1),
        0,
        "another source id is another stream"
    );
    assert_eq!(lost(&mut c, 15, 0), 0);
    assert_eq!(lost(&mut c, 3, 0), 0, "restart");
    assert_eq!((c.stats().lost, c.stats().sequence_gaps), (2, 1));
}

#[test]
fn nsel_fields_and_initiator_responder_counters() {
    let mut c = collector();
    let t = template(
        260,
        &[
            (8, 4),
            (12, 4),
            (40001, 4),
            (40002, 4),
            (40003, 2),
            (40004, 2),
            (231, 4),
            (232, 4),
            (298, 4),
            (299, 4),
            (230, 1),
            (4, 1),
            (32, 2),
        ],
    );
    let rec = be(&[
        (0x0a00_0001, 4),
        (0x0a00_0002, 4),
        (0xc000_0201, 4),
        (0xc000_0202, 4),
        (1111, 2),
        (2222, 2),
        (300, 4),
        (200, 4),
        (3, 4),
        (2, 4),
        (1, 1),
        (1, 1),
        (0x0800, 2),
    ]);
    let d = v9(UPTIME, SECS, 1, 0, &[set(0, &t), set(260, &rec)]);
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    let r = &out[0];
    assert_eq!(r.post_nat_src, Some(ip("192.0.2.1")));
    assert_eq!(r.post_nat_dst, Some(ip("192.0.2.2")));
    assert_eq!(
        (r.post_nat_src_port, r.post_nat_dst_port, r.nat_event),
        (1111, 2222, 1)
    );
    assert_eq!((r.bytes, r.packets), (500, 5));
    assert_eq!(
        (r.proto, r.dst_port),
        (1, 0x0800),
        "ICMP echo request: type 8, code 0"
    );
}

#[test]
fn templates_over_the_bound_are_refused() {
    let mut c = Collector::new(Limits {
        max_templates_per_exporter: 2,
        ..Limits::default()
    });
    let sets: Vec<Vec<u8>> = (256..260)
        .map(|id| set(0, &template(id, &[(1, 4)])))
        .collect();
    decode(&mut c, "192.0.2.1", &v9(UPTIME, SECS, 1, 0, &sets), 0);
    assert_eq!((c.stats().templates, c.stats().templates_refused), (2, 2));
    // Re-sending a held template, or replacing its layout, is not refused.
    let d = v9(UPTIME, SECS, 2, 0, &[set(0, &template(256, &[(1, 8)]))]);
    decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!((c.stats().templates, c.stats().templates_refused), (2, 2));
    // Another exporter has its own bound.
    decode(&mut c, "192.0.2.2", &v9(UPTIME, SECS, 1, 0, &sets[..1]), 0);
    assert_eq!(c.stats().templates, 3);
}

#[test]
fn a_bad_set_or_template_skips_only_itself() {
    let mut c = collector();
    // A template with id 5 is unusable; the good template in the next set still installs.
    let d = v9(
        UPTIME,
        SECS,
        1,
        0,
        &[
            set(0, &template(5, &[(1, 4)])),
            set(0, &template(300, &[(1, 4)])),
            set(300, &be(&[(77, 4)])),
        ],
    );
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!((info.records, out[0].bytes), (1, 77));
    assert_eq!(c.stats().malformed(Malformed::BadTemplate), 1);
    // Zero bytes after the last set are padding, not a bad set.
    let mut d = v9(UPTIME, SECS, 2, 0, &[set(300, &be(&[(66, 4)]))]);
    d.extend_from_slice(&[0; 8]);
    let (info, _) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(info.records, 1);
    assert_eq!(c.stats().malformed(Malformed::BadSet), 0);
    // A set whose length runs past the datagram ends the walk; earlier sets are kept.
    let mut d = v9(UPTIME, SECS, 2, 0, &[set(300, &be(&[(88, 4)]))]);
    d.extend_from_slice(&[1, 44, 0, 200, 0, 0]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!((info.records, out[0].bytes), (1, 88));
    assert_eq!(c.stats().malformed(Malformed::BadSet), 1);
    // A set length below 4.
    let mut d = v9(UPTIME, SECS, 3, 0, &[]);
    d.extend_from_slice(&[1, 44, 0, 2]);
    decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(c.stats().malformed(Malformed::BadSet), 2);
}

#[test]
fn templates_survive_a_save_and_load() {
    let mut c = collector();
    let ot = v9_options_template(257, &[(1, 4)], &[(34, 4)]);
    let d = v9(UPTIME, SECS, 1, 3, &[set(0, &template_256()), set(1, &ot)]);
    decode(&mut c, "192.0.2.1", &d, 0);
    decode(
        &mut c,
        "2001:db8::1",
        &v9(UPTIME, SECS, 1, 0, &[set(0, &template(300, &[(1, 4)]))]),
        0,
    );
    let saved = c.save_templates();
    let text = String::from_utf8(saved.clone()).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert_eq!(text.lines().next(), Some("pmacct-flow templates 1"));
    assert!(
        text.contains("192.0.2.1 9 3 257 o 1 0:1:4,0:34:4\n"),
        "{text}"
    );

    let mut restored = collector();
    assert_eq!(restored.load_templates(&saved), Ok(3));
    assert_eq!(restored.stats().templates, 3);
    assert_eq!(restored.save_templates(), saved);
    let d = v9(UPTIME, SECS, 2, 3, &[set(256, &record_256(1, 1234))]);
    let (_, out) = decode(&mut restored, "192.0.2.1", &d, 0);
    assert_eq!(out[0].bytes, 1234);
    // Loading again changes nothing and still reports the file's templates.
    assert_eq!(restored.load_templates(&saved), Ok(3));
    assert_eq!(restored.stats().templates, 3);

    let mut other = collector();
    let bad = b"pmacct-flow templates 1\n192.0.2.1 9 0 300 d 0 0:1:4\nnonsense\n";
    assert_eq!(other.load_templates(bad), Err(Malformed::BadTemplatesFile));
    assert_eq!(other.stats().templates, 0, "a bad file loads nothing");
    assert_eq!(
        other.load_templates(b"something else\n"),
        Err(Malformed::BadTemplatesFile)
    );
    let zero_length = b"pmacct-flow templates 1\n192.0.2.1 9 0 300 d 0 0:1:0\n";
    assert_eq!(
        other.load_templates(zero_length),
        Err(Malformed::BadTemplatesFile)
    );
    assert_eq!(other.stats().malformed(Malformed::BadTemplatesFile), 3);
    assert_eq!(other.load_templates(b"pmacct-flow templates 1\n"), Ok(0));
}

#[test]
fn kept_fields_carry_their_raw_bytes() {
    let mut c = collector();
    c.keep_fields([CustomKey { pen: 0, id: 999 }, CustomKey { pen: 0, id: 1 }]);
    let d = v9(
        UPTIME,
        SECS,
        1,
        0,
        &[set(0, &template_256()), set(256, &record_256(1, 5))],
    );
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    // Field 999 is unmapped: kept. Field 1 is bytes: still mapped, and copied too (a custom
    // primitive may read a mapped element).
    assert_eq!(
        out[0].custom,
        vec![
            (CustomKey { pen: 0, id: 1 }, vec![0, 0, 0, 5]),
            (CustomKey { pen: 0, id: 999 }, vec![0xaa, 0xbb, 0xcc])
        ]
    );
    assert_eq!(out[0].bytes, 5);
    // Asking later recompiles held templates.
    c.keep_fields([]);
    let d = v9(UPTIME, SECS, 2, 0, &[set(256, &record_256(1, 5))]);
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert!(out[0].custom.is_empty());
}
