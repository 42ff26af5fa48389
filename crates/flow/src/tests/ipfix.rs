//! IPFIX: time encodings, withdrawal, variable-length and enterprise fields, options sampling,
//! reduced-size encoding, sequence counted in data records.

use super::build::{
    be, collector, decode, ip, ipfix, ipfix_options_template, ipfix_template, set, template,
};
use crate::{Collector, CustomKey, FlowTime, Malformed};

const EXPORT: u32 = 1_700_000_000;
const NTP_OFFSET: u64 = 2_208_988_800;

fn t(secs: i64, micros: u32) -> Option<FlowTime> {
    Some(FlowTime { secs, micros })
}

/// Decodes one record of a template with one start and one end field of `len` bytes.
fn times(
    c: &mut Collector,
    id: u16,
    fields: &[(u16, u16)],
    values: &[(u64, usize)],
) -> (Option<FlowTime>, Option<FlowTime>) {
    let d = ipfix(
        EXPORT,
        0,
        1,
        &[set(2, &template(id, fields)), set(id, &be(values))],
    );
    let (_, out) = decode(c, "192.0.2.1", &d, 0);
    assert_eq!(out.len(), 1);
    (out[0].start, out[0].end)
}

#[test]
fn every_time_encoding() {
    let mut c = collector();
    let e = i64::from(EXPORT);
    // flowStart/EndSeconds.
    let got = times(
        &mut c,
        256,
        &[(150, 4), (151, 4)],
        &[(1_699_999_990, 4), (1_699_999_995, 4)],
    );
    assert_eq!(got, (t(1_699_999_990, 0), t(1_699_999_995, 0)));
    // flowStart/EndMilliseconds.
    let got = times(
        &mut c,
        257,
        &[(152, 8), (153, 8)],
        &[(1_699_999_990_123, 8), (1_699_999_995_999, 8)],
    );
    assert_eq!(got, (t(1_699_999_990, 123_000), t(1_699_999_995, 999_000)));
    // flowStart/EndMicroseconds: NTP seconds since 1900 and a binary fraction.
    let ntp = |unix: u64, fraction: u64| ((unix + NTP_OFFSET) << 32) | fraction;
    let got = times(
        &mut c,
        258,
        &[(154, 8), (155, 8)],
        &[
            (ntp(1_699_999_990, 0x4000_0000), 8),
            (ntp(1_699_999_991, 0xc000_0000), 8),
        ],
    );
    assert_eq!(got, (t(1_699_999_990, 250_000), t(1_699_999_991, 750_000)));
    // flowStart/EndNanoseconds: same format, finer fraction (truncated to microseconds).
    let got = times(
        &mut c,
        259,
        &[(156, 8), (157, 8)],
        &[
            (ntp(1_699_999_992, 0x8000_0000), 8),
            (ntp(1_699_999_993, 1), 8),
        ],
    );
    assert_eq!(got, (t(1_699_999_992, 500_000), t(1_699_999_993, 0)));
    // flowStart/EndDeltaMicroseconds: before the export time.
    let got = times(
        &mut c,
        260,
        &[(158, 4), (159, 4)],
        &[(2_500_000, 4), (0, 4)],
    );
    assert_eq!(got, (t(e - 3, 500_000), t(e, 0)));
    // systemInitTimeMilliseconds in the record, with FIRST/LAST_SWITCHED.
    let got = times(
        &mut c,
        261,
        &[(160, 8), (22, 4), (21, 4)],
        &[(1_699_000_000_000, 8), (1_500, 4), (2_000, 4)],
    );
    assert_eq!(got, (t(1_699_000_001, 500_000), t(1_699_000_002, 0)));
    // FIRST/LAST_SWITCHED alone: unknown until options data gives systemInitTimeMilliseconds;
    // the start is then the export time (as pmacct's timestamp_start), the end unknown.
    let got = times(&mut c, 262, &[(22, 4), (21, 4)], &[(1_500, 4), (2_000, 4)]);
    assert_eq!(got, (t(1_700_000_000, 0), None));
    let ot = ipfix_options_template(300, 1, &[(149, 4), (160, 8)]);
    let d = ipfix(
        EXPORT,
        0,
        1,
        &[
            set(3, &ot),
            set(300, &be(&[(1, 4), (1_600_000_000_000, 8)])),
        ],
    );
    decode(&mut c, "192.0.2.1", &d, 0);
    let got = times(&mut c, 262, &[(22, 4), (21, 4)], &[(1_500, 4), (2_000, 4)]);
    assert_eq!(got, (t(1_600_000_001, 500_000), t(1_600_000_002, 0)));
    // Several encodings in one template: the finest wins.
    let got = times(
        &mut c,
        263,
        &[(150, 4), (152, 8), (151, 4)],
        &[(1, 4), (1_699_999_990_500, 8), (7, 4)],
    );
    assert_eq!(got, (t(1_699_999_990, 500_000), t(7, 0)));
}

#[test]
fn withdrawal_and_reuse_with_another_layout() {
    let mut c = collector();
    let d = ipfix(
        EXPORT,
        0,
        1,
        &[
            set(
                2,
                &[template(256, &[(1, 4)]), template(257, &[(2, 4)])].concat(),
            ),
            set(3, &ipfix_options_template(258, 1, &[(149, 4), (34, 4)])),
        ],
    );
    decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(c.stats().templates, 3);
    // Withdraw 256: field count 0.
    decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 0, 1, &[set(2, &be(&[(256, 2), (0, 2)]))]),
        0,
    );
    assert_eq!((c.stats().templates, c.stats().templates_withdrawn), (2, 1));
    let (info, _) = decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 0, 1, &[set(256, &be(&[(5, 2), (6, 2)]))]),
        0,
    );
    assert_eq!(
        (info.records, c.stats().pending_sets),
        (0, 1),
        "no template 256 any more: held"
    );
    // Reuse 256 with another layout: the held set decodes with it.
    let d = ipfix(EXPORT, 0, 1, &[set(2, &template(256, &[(2, 2), (1, 2)]))]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(info.records, 1);
    assert_eq!((out[0].packets, out[0].bytes), (5, 6));
    // Withdraw all data templates (template id 2 in set 2): the options template stays.
    decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 0, 1, &[set(2, &be(&[(2, 2), (0, 2)]))]),
        0,
    );
    assert_eq!((c.stats().templates, c.stats().templates_withdrawn), (1, 3));
    // Withdraw all options templates (template id 3 in set 3).
    decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 0, 1, &[set(3, &be(&[(3, 2), (0, 2)]))]),
        0,
    );
    assert_eq!((c.stats().templates, c.stats().templates_withdrawn), (0, 4));
}

#[test]
fn variable_length_fields_are_walked() {
    let mut c = collector();
    c.keep_fields([CustomKey { pen: 0, id: 82 }]);
    // src, interfaceName (variable), bytes, applicationName (variable, not kept), packets.
    let tpl = template(256, &[(8, 4), (82, 65535), (1, 4), (96, 65535), (2, 2)]);
    let mut records = be(&[(0x0a00_0001, 4)]);
    records.extend_from_slice(&[3, b'e', b't', b'h']);
    records.extend(be(&[(1000, 4)]));
    records.push(0); // empty
    records.extend(be(&[(7, 2)]));
    // Second record: the three-byte length form (255, then 300 as two bytes).
    records.extend(be(&[(0x0a00_0002, 4)]));
    records.extend_from_slice(&[255, 1, 44]);
    records.extend(std::iter::repeat_n(b'x', 300));
    records.extend(be(&[(2000, 4)]));
    records.extend_from_slice(&[2, b'h', b'i']);
    records.extend(be(&[(8, 2)]));
    let d = ipfix(EXPORT, 0, 1, &[set(2, &tpl), set(256, &records)]);
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(info.records, 2);
    assert_eq!(
        (out[0].src_addr, out[0].bytes, out[0].packets),
        (Some(ip("10.0.0.1")), 1000, 7)
    );
    assert_eq!(
        out[0].custom,
        vec![(CustomKey { pen: 0, id: 82 }, b"eth".to_vec())]
    );
    assert_eq!(
        (out[1].src_addr, out[1].bytes, out[1].packets),
        (Some(ip("10.0.0.2")), 2000, 8)
    );
    assert_eq!(out[1].custom[0].1.len(), 300);
    // A variable length that runs past the set: counted, the records before it kept.
    let mut bad = be(&[(0x0a00_0003, 4)]);
    bad.extend_from_slice(&[0]);
    bad.extend(be(&[(1, 4)]));
    bad.push(0);
    bad.extend(be(&[(1, 2)]));
    bad.extend(be(&[(0x0a00_0004, 4)]));
    bad.extend_from_slice(&[200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let (info, out) = decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 1, 1, &[set(256, &bad)]),
        0,
    );
    assert_eq!((info.records, out[0].src_addr), (1, Some(ip("10.0.0.3"))));
    assert_eq!(c.stats().malformed(Malformed::BadRecord), 1);
}

#[test]
fn enterprise_fields_are_skipped_or_kept() {
    let mut c = collector();
    // An enterprise field numbered 1 is not octetDeltaCount.
    let tpl = ipfix_template(
        256,
        &[
            (Some(9), 1, 4),
            (None, 2, 4),
            (Some(29305), 5, 65535),
            (None, 7, 2),
        ],
    );
    let mut rec = be(&[(0xdead_beef, 4), (11, 4)]);
    rec.extend_from_slice(&[2, 0xab, 0xcd]);
    rec.extend(be(&[(8080, 2)]));
    let d = ipfix(EXPORT, 0, 1, &[set(2, &tpl), set(256, &rec)]);
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].src_port),
        (0, 11, 8080)
    );
    assert!(out[0].custom.is_empty());
    c.keep_fields([CustomKey { pen: 9, id: 1 }, CustomKey { pen: 29305, id: 5 }]);
    let (_, out) = decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 1, 1, &[set(256, &rec)]),
        0,
    );
    assert_eq!(
        out[0].custom,
        vec![
            (CustomKey { pen: 9, id: 1 }, vec![0xde, 0xad, 0xbe, 0xef]),
            (CustomKey { pen: 29305, id: 5 }, vec![0xab, 0xcd]),
        ]
    );
}

#[test]
fn options_sampling_by_selector_id() {
    let mut c = collector();
    // selectorId scope; samplingPacketInterval and samplingPacketSpace: 1 in (1 + 99).
    let o1 = ipfix_options_template(400, 1, &[(302, 4), (305, 4), (306, 4)]);
    // selectorId scope; samplingSize 2 of samplingPopulation 1000.
    let o2 = ipfix_options_template(401, 1, &[(302, 2), (309, 4), (310, 4)]);
    let d = ipfix(
        EXPORT,
        0,
        1,
        &[
            set(3, &[o1, o2].concat()),
            set(400, &be(&[(7, 4), (1, 4), (99, 4)])),
            set(401, &be(&[(8, 2), (2, 4), (1000, 4)])),
            set(2, &template(256, &[(302, 1), (1, 4)])),
            set(256, &be(&[(7, 1), (1, 4), (8, 1), (2, 4), (9, 1), (3, 4)])),
        ],
    );
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(info.records, 3);
    let rates: Vec<(Option<u32>, u32)> = out
        .iter()
        .map(|r| (r.sampler_id, r.sampling_rate))
        .collect();
    assert_eq!(rates, vec![(Some(7), 100), (Some(8), 500), (Some(9), 0)]);
    // samplingInterval without a selector: the domain's rate for every record.
    let o3 = ipfix_options_template(402, 1, &[(149, 4), (34, 4)]);
    let d = ipfix(
        EXPORT,
        1,
        2,
        &[
            set(3, &o3),
            set(402, &be(&[(2, 4), (64, 4)])),
            set(2, &template(256, &[(1, 4)])),
            set(256, &be(&[(1, 4)])),
        ],
    );
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!(out[0].sampling_rate, 64);
}

#[test]
fn ipfix_sequence_counts_data_records() {
    let mut c = collector();
    let tpl = set(2, &template(256, &[(1, 4)]));
    let data = |n: u64| {
        set(
            256,
            &be(&vec![(1, 4); n as usize]
                .iter()
                .map(|&(v, w)| (v, w))
                .collect::<Vec<_>>()),
        )
    };
    let lost = |c: &mut Collector, seq: u32, sets: &[Vec<u8>]| {
        decode(c, "192.0.2.1", &ipfix(EXPORT, seq, 1, sets), 0)
            .0
            .lost
    };
    assert_eq!(lost(&mut c, 0, &[tpl.clone(), data(3)]), 0);
    assert_eq!(
        lost(&mut c, 3, &[data(1)]),
        0,
        "template records are not counted"
    );
    assert_eq!(lost(&mut c, 6, &[data(2)]), 2, "records 4 and 5 lost");
    // Options data records count too.
    let ot = set(3, &ipfix_options_template(300, 1, &[(149, 4), (34, 4)]));
    let od = set(300, &be(&[(1, 4), (10, 4), (1, 4), (10, 4)]));
    assert_eq!(lost(&mut c, 8, &[ot, od, data(1)]), 0);
    assert_eq!(lost(&mut c, 11, &[]), 0);
    // A set whose template is unknown cannot be counted: the next message is a new baseline.
    assert_eq!(lost(&mut c, 11, &[set(999, &[1, 2, 3, 4])]), 0);
    assert_eq!(lost(&mut c, 40, &[data(1)]), 0);
    assert_eq!(lost(&mut c, 42, &[]), 1);
    assert_eq!((c.stats().lost, c.stats().sequence_gaps), (3, 2));
    // Another observation domain is another stream.
    assert_eq!(
        decode(&mut c, "192.0.2.1", &ipfix(EXPORT, 1000, 2, &[]), 0)
            .0
            .lost,
        0
    );
}

#[test]
fn reduced_size_and_fallback_elements() {
    let mut c = collector();
    let tpl = template(
        256,
        &[
            (85, 2),  // octetTotalCount, 2 bytes (no octetDeltaCount)
            (86, 8),  // packetTotalCount, 8 bytes
            (252, 1), // ingressPhysicalInterface, 1 byte (no ingressInterface)
            (253, 3), // egressPhysicalInterface, 3 bytes
            (243, 2), // dot1qVlanId (no vlanId)
            (3, 2),   // deltaFlowCount
            (6, 2),   // tcpControlBits, 2 bytes: low 8 bits
            (27, 16), // IPv6 source
            (28, 16), // IPv6 destination
            (29, 1),
            (30, 1),
            (62, 16), // IPv6 next hop
            (63, 16), // IPv6 BGP next hop
            (4, 1),
            (139, 2), // icmpTypeCodeIPv6
            (70, 3),  // MPLS label 1
            (71, 3),  // MPLS label 2, bottom of stack
            (72, 3),  // MPLS label 3: unused (zero)
            (90, 8),  // mplsVpnRouteDistinguisher
            (89, 4),  // forwardingStatus sent as 4 bytes
            (61, 1),
        ],
    );
    let v6 = |last: u64| [(0x2001_0db8_0000_0000, 8), (last, 8)];
    let mut values = vec![
        (1500, 2),
        (1 << 33, 8),
        (9, 1),
        (0x01_0000, 3),
        (42, 2),
        (4, 2),
        (0x0112, 2),
    ];
    values.extend(v6(1));
    values.extend(v6(2));
    values.extend([(64, 1), (48, 1)]);
    values.extend(v6(3));
    values.extend(v6(4));
    values.extend([(58, 1), (0x8000, 2)]);
    values.extend([((1000 << 4), 3), ((2000 << 4) | 1, 3), (0, 3)]);
    values.extend([(0x0000_0001_0000_0002, 8), (0x0000_0080, 4), (1, 1)]);
    let d = ipfix(EXPORT, 0, 1, &[set(2, &tpl), set(256, &be(&values))]);
    let (_, out) = decode(&mut c, "192.0.2.1", &d, 0);
    let r = &out[0];
    assert_eq!((r.bytes, r.packets, r.flows), (1500, 1 << 33, 4));
    assert_eq!((r.in_iface, r.out_iface, r.vlan), (9, 0x01_0000, 42));
    assert_eq!(r.tcp_flags, 0x12);
    assert_eq!(r.src_addr, Some(ip("2001:db8::1")));
    assert_eq!(r.dst_addr, Some(ip("2001:db8::2")));
    assert_eq!((r.src_mask, r.dst_mask), (64, 48));
    assert_eq!(r.next_hop, Some(ip("2001:db8::3")));
    assert_eq!(r.bgp_next_hop, Some(ip("2001:db8::4")));
    assert_eq!((r.proto, r.dst_port), (58, 0x8000), "ICMPv6 echo request");
    assert_eq!((r.mpls_label_top, r.mpls_label_bottom), (1000, 2000));
    assert_eq!(r.mpls_vpn_rd, Some([0, 0, 0, 1, 0, 0, 0, 2]));
    assert_eq!((r.fwd_status, r.direction), (0x80, Some(1)));
}

#[test]
fn ipfix_header_problems() {
    let mut c = collector();
    let mut out = Vec::new();
    let from = ip("192.0.2.1");
    let mut d = ipfix(EXPORT, 0, 1, &[set(2, &template(256, &[(1, 4)]))]);
    assert_eq!(
        c.decode(from, &d[..15], 0, &mut out),
        Err(Malformed::TooShort)
    );
    assert_eq!(
        c.decode(from, &d[..d.len() - 1], 0, &mut out),
        Err(Malformed::BadLength)
    );
    d[2..4].copy_from_slice(&8u16.to_be_bytes());
    assert_eq!(c.decode(from, &d, 0, &mut out), Err(Malformed::BadLength));
    // A last set that runs past the message length but not past the datagram is still read.
    let mut d = ipfix(
        EXPORT,
        0,
        1,
        &[set(2, &template(256, &[(1, 4)])), set(256, &be(&[(9, 4)]))],
    );
    let len = d.len() as u16 - 2;
    d[2..4].copy_from_slice(&len.to_be_bytes());
    let (info, out) = decode(&mut c, "192.0.2.1", &d, 0);
    assert_eq!((info.records, out[0].bytes), (1, 9));
    // An options template whose scope count exceeds its field count is unusable.
    let mut bad = ipfix_options_template(300, 1, &[(149, 4)]);
    bad[4..6].copy_from_slice(&2u16.to_be_bytes());
    decode(
        &mut c,
        "192.0.2.1",
        &ipfix(EXPORT, 1, 1, &[set(3, &bad)]),
        0,
    );
    assert_eq!(c.stats().malformed(Malformed::BadTemplate), 1);
    assert_eq!(c.stats().datagrams_ipfix, 2);
}
