//! sFlow v5: a hand-built datagram with every sample and record kind decoded here, Telegraf's
//! raw sFlow datagrams against its own decode, and every prefix of them without a panic.

use super::build::ip;
use super::real::{telegraf_case, testdata};
use crate::{decode_sflow, Interface, Malformed, Sample};

fn u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A part (sample or record): format, length, body.
fn part(format: u32, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    u32s(&mut p, &[format, body.len() as u32]);
    p.extend_from_slice(body);
    p
}

fn datagram(samples: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    u32s(&mut d, &[5, 1]);
    d.extend_from_slice(&[192, 0, 2, 1]);
    u32s(&mut d, &[7, 1000, 123_456, samples.len() as u32]);
    for s in samples {
        d.extend_from_slice(s);
    }
    d
}

fn every_kind() -> Vec<u8> {
    // Flow sample (compact): seq 9, source ifIndex 3, 1 in 512, pool 51,200, 2 drops, in 3,
    // out 0x8000_0002 (format 2: two interfaces), then its records.
    let mut records = Vec::new();
    let mut raw = Vec::new();
    u32s(&mut raw, &[1, 1518, 4, 5]);
    raw.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01, 0, 0, 0]);
    records.push(part(1, &raw));
    let mut eth = Vec::new();
    u32s(&mut eth, &[1514]);
    eth.extend_from_slice(&[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0]);
    eth.extend_from_slice(&[0, 0x66, 0x77, 0x88, 0x99, 0xaa, 0, 0]);
    u32s(&mut eth, &[0x0800]);
    records.push(part(2, &eth));
    let mut v4 = Vec::new();
    u32s(&mut v4, &[1500, 6]);
    v4.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    u32s(&mut v4, &[1234, 443, 0x12, 0x20]);
    records.push(part(3, &v4));
    let mut sw = Vec::new();
    u32s(&mut sw, &[10, 1, 20, 2]);
    records.push(part(1001, &sw));
    let mut rt = Vec::new();
    u32s(&mut rt, &[2]);
    rt.extend_from_slice(
        &ip("2001:db8::1")
            .to_string()
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    u32s(&mut rt, &[24, 16]);
    records.push(part(1002, &rt));
    let mut gw = Vec::new();
    u32s(&mut gw, &[1, 0xc000_0209, 65000, 65001, 65002]);
    // Path: a set of one AS, then a sequence of 3 (the last is the destination's).
    u32s(&mut gw, &[2, 1, 1, 64512, 2, 3, 64513, 64514, 64515]);
    u32s(&mut gw, &[2, 0xffff_ff01, 0xffff_ff02, 150]);
    records.push(part(1003, &gw));
    records.push(part(2000, &[1, 2, 3, 4]));
    let mut flow = Vec::new();
    u32s(
        &mut flow,
        &[9, 3, 512, 51_200, 2, 3, 0x8000_0002, records.len() as u32],
    );
    for r in &records {
        flow.extend_from_slice(r);
    }
    // Expanded flow sample: IPv6 record, expanded source and interfaces.
    let mut v6 = Vec::new();
    u32s(&mut v6, &[80, 17]);
    v6.extend_from_slice(
        &"2001:db8::a"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v6.extend_from_slice(
        &"2001:db8::b"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    u32s(&mut v6, &[53, 5353, 0, 0]);
    let mut expanded = Vec::new();
    u32s(
        &mut expanded,
        &[10, 0, 70_000, 100, 1000, 0, 0, 70_000, 0, 70_001, 1],
    );
    expanded.extend_from_slice(&part(4, &v6));
    // Counters (compact): generic interface 3.
    let mut ifc = Vec::new();
    u32s(
        &mut ifc,
        &[
            3,
            6,
            0,
            1_000_000_000,
            1,
            3,
            0,
            3910,
            28,
            1,
            2,
            0,
            0,
            0,
            0,
            3946,
            29,
            3,
            4,
            0,
            0,
            0,
        ],
    );
    let mut counters = Vec::new();
    u32s(&mut counters, &[2, 3, 5]);
    counters.extend_from_slice(&part(1, &ifc));
    // Ethernet: 1 to 13; VLAN 20: 2^32 + 5 octets, 6, 7, 8, 9; processor: 1.5 %, 20 %, 30 %
    // of 8 GiB, 1 GiB free; then a format not decoded here.
    let mut eth = Vec::new();
    u32s(&mut eth, &(1..=13).collect::<Vec<u32>>());
    counters.extend_from_slice(&part(2, &eth));
    let mut vlan = Vec::new();
    u32s(&mut vlan, &[20, 1, 5, 6, 7, 8, 9]);
    counters.extend_from_slice(&part(5, &vlan));
    let mut cpu = Vec::new();
    u32s(&mut cpu, &[150, 2000, 3000, 2, 0, 0, 1 << 30]);
    counters.extend_from_slice(&part(1001, &cpu));
    counters.extend_from_slice(&part(2001, &[0; 4]));
    // Discard: seq 4, expanded source 0/5, 7 discarded, in 5, out 0, reason 259.
    let mut discard = Vec::new();
    u32s(&mut discard, &[4, 0, 5, 7, 5, 0, 259, 0]);
    datagram(&[
        part(1, &flow),
        part(3, &expanded),
        part(2, &counters),
        part(5, &discard),
        part(4096 | 7, &[0; 8]),
    ])
}

#[test]
fn every_sample_and_record_kind_decodes() {
    let d = every_kind();
    let got = decode_sflow(&d).expect("decode");
    assert_eq!(got.header.agent, ip("192.0.2.1"));
    assert_eq!(
        (got.header.sub_agent, got.header.seqno, got.header.uptime_ms),
        (7, 1000, 123_456)
    );
    assert!(!got.truncated);
    assert_eq!(got.samples.len(), 5);
    let Sample::Flow(f) = &got.samples[0] else {
        panic!("{:?}", got.samples[0])
    };
    assert_eq!((f.seqno, f.source.kind, f.source.index), (9, 0, 3));
    assert_eq!((f.sampling_rate, f.sample_pool, f.drops), (512, 51_200, 2));
    assert_eq!(
        f.input,
        Interface {
            format: 0,
            value: 3
        }
    );
    assert_eq!(
        f.output,
        Interface {
            format: 2,
            value: 2
        }
    );
    let h = f.header.expect("header");
    assert_eq!((h.protocol, h.frame_length, h.stripped), (1, 1518, 4));
    assert_eq!(h.bytes, &[0xde, 0xad, 0xbe, 0xef, 0x01]);
    let e = f.ethernet.expect("ethernet");
    assert_eq!(
        (e.length, e.src_mac, e.dst_mac, e.ethertype),
        (
            1514,
            [0, 0x11, 0x22, 0x33, 0x44, 0x55],
            [0, 0x66, 0x77, 0x88, 0x99, 0xaa],
            0x0800
        )
    );
    let v4 = f.ip.expect("ipv4");
    assert_eq!(
        (v4.src, v4.dst, v4.protocol),
        (ip("10.0.0.1"), ip("10.0.0.2"), 6)
    );
    assert_eq!(
        (v4.src_port, v4.dst_port, v4.tcp_flags, v4.tos),
        (1234, 443, 0x12, 0x20)
    );
    let sw = f.switch.expect("switch");
    assert_eq!(
        (sw.src_vlan, sw.src_priority, sw.dst_vlan, sw.dst_priority),
        (10, 1, 20, 2)
    );
    let rt = f.router.expect("router");
    assert_eq!(
        (rt.next_hop, rt.src_mask, rt.dst_mask),
        (ip("2001:db8::1"), 24, 16)
    );
    let gw = f.gateway.expect("gateway");
    assert_eq!(gw.next_hop, ip("192.0.2.9"));
    assert_eq!((gw.asn, gw.src_as, gw.src_peer_as), (65000, 65001, 65002));
    assert_eq!(
        (gw.dst_peer_as, gw.dst_as, gw.local_pref),
        (64512, 64515, 150)
    );
    assert_eq!(f.other_records, 1);
    let Sample::Flow(x) = &got.samples[1] else {
        panic!("{:?}", got.samples[1])
    };
    assert_eq!(
        (x.source.kind, x.source.index, x.sampling_rate),
        (0, 70_000, 100)
    );
    assert_eq!((x.input.value, x.output.value), (70_000, 70_001));
    let v6 = x.ip.expect("ipv6");
    assert_eq!(
        (v6.src, v6.dst, v6.protocol, v6.dst_port),
        (ip("2001:db8::a"), ip("2001:db8::b"), 17, 5353)
    );
    let Sample::Counters(c) = &got.samples[2] else {
        panic!("{:?}", got.samples[2])
    };
    let i = c.interface().copied().expect("interface counters");
    assert_eq!(
        (c.seqno, i.if_index, i.if_speed, i.in_octets, i.out_octets),
        (2, 3, 1_000_000_000, 3910, 3946)
    );
    assert_eq!(
        (i.in_unicast, i.in_multicast, i.out_unicast, i.out_broadcast),
        (28, 1, 29, 4)
    );
    assert_eq!(c.other_records(), 1);
    use crate::{CounterRecord as R, EthernetCounters, ProcessorCounters, VlanCounters};
    assert_eq!(
        c.records[1..],
        [
            R::Ethernet(EthernetCounters {
                alignment_errors: 1,
                fcs_errors: 2,
                single_collision_frames: 3,
                multiple_collision_frames: 4,
                sqe_test_errors: 5,
                deferred_transmissions: 6,
                late_collisions: 7,
                excessive_collisions: 8,
                internal_mac_transmit_errors: 9,
                carrier_sense_errors: 10,
                frame_too_longs: 11,
                internal_mac_receive_errors: 12,
                symbol_errors: 13,
            }),
            R::Vlan(VlanCounters {
                vlan_id: 20,
                octets: (1 << 32) + 5,
                unicast: 6,
                multicast: 7,
                broadcast: 8,
                discards: 9,
            }),
            R::Processor(ProcessorCounters {
                cpu_5s: 150,
                cpu_1m: 2000,
                cpu_5m: 3000,
                total_memory: 8 << 30,
                free_memory: 1 << 30,
            }),
            R::Other(2001),
        ]
    );
    assert_eq!(c.records[2].kind(), Some("sflow_cnt_vlan"));
    assert_eq!(
        c.records[2].values(),
        [
            ("octets", (1 << 32) + 5),
            ("ucastPkts", 6),
            ("multicastPkts", 7),
            ("broadcastPkts", 8),
            ("discards", 9),
            ("vlan", 20)
        ]
    );
    assert_eq!((c.records[4].kind(), c.records[4].values()), (None, vec![]));
    let Sample::Discard(dc) = &got.samples[3] else {
        panic!("{:?}", got.samples[3])
    };
    assert_eq!(
        (
            dc.seqno,
            dc.source.index,
            dc.drops,
            dc.input.value,
            dc.reason
        ),
        (4, 5, 7, 5, Some(259))
    );
    assert_eq!(got.samples[4], Sample::Other(4096 | 7));
}

#[test]
fn bad_headers_are_errors_and_every_prefix_decodes_without_a_panic() {
    assert_eq!(decode_sflow(&[]).unwrap_err(), Malformed::TooShort);
    assert_eq!(
        decode_sflow(&[0, 0, 0, 4, 0, 0, 0, 1]).unwrap_err(),
        Malformed::BadVersion
    );
    let d = every_kind();
    let header_len = 28;
    for n in 0..d.len() {
        match decode_sflow(&d[..n]) {
            Ok(got) => assert!(n >= header_len && got.truncated, "prefix {n}"),
            Err(e) => assert!(
                n < header_len && e == Malformed::TooShort,
                "prefix {n}: {e}"
            ),
        }
    }
    // A header announcing four billion samples over a few bytes ends at once.
    let mut huge = every_kind();
    huge[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    let got = decode_sflow(&huge).expect("decode");
    assert_eq!((got.samples.len(), got.truncated), (5, true));
}

/// Telegraf's sFlow datagrams: the values its decode gives.
#[test]
fn telegraf_sflow_cases_match_telegraf_decode() {
    let Some(root) = testdata() else { return };
    let (d, _) = telegraf_case(&root, "sflow_v5_example");
    let got = decode_sflow(&d[0]).expect("decode");
    assert_eq!(
        (got.header.agent, got.header.sub_agent, got.header.uptime_ms),
        (ip("192.168.119.184"), 100_000, 12_414)
    );
    let Some(Sample::Counters(c)) = got.samples.first() else {
        panic!("{:?}", got.samples)
    };
    let i = c.interface().copied().expect("counters");
    assert_eq!(
        (c.seqno, i.if_index, i.if_type, i.if_speed, i.if_status),
        (2, 3, 6, 1_000_000_000, 3)
    );
    assert_eq!(
        (i.in_octets, i.in_unicast, i.out_octets, i.out_unicast),
        (3910, 28, 3946, 29)
    );
    assert_eq!(
        (i.in_multicast, i.in_broadcast, i.in_unknown_protos),
        (u32::MAX, u32::MAX, u32::MAX)
    );

    let (d, _) = telegraf_case(&root, "sflow_issue_15375");
    let got = decode_sflow(&d[0]).expect("decode");
    let Some(Sample::Discard(x)) = got.samples.first() else {
        panic!("{:?}", got.samples)
    };
    assert_eq!(
        (x.input.value, x.output.value, x.reason, x.drops),
        (1, 2, Some(1), 256)
    );
    assert_eq!(x.other_records, 1, "the egress queue record (out_queue=42)");

    let (d, _) = telegraf_case(&root, "sflow_issue_15918");
    let got = decode_sflow(&d[0]).expect("decode");
    assert!(!got.truncated);
    let flows: Vec<_> = got
        .samples
        .iter()
        .filter_map(|s| match s {
            Sample::Flow(f) => Some(f),
            _ => None,
        })
        .collect();
    let counters = got
        .samples
        .iter()
        .filter(|s| matches!(s, Sample::Counters(_)))
        .count();
    assert_eq!((flows.len(), counters), (6, 1));
    // The first flow: in 96, out 95, 1 in 200, pool 687,103,949, 8,731 drops, 1,286 bytes.
    let f = flows[0];
    assert_eq!(
        (f.input.value, f.output.value, f.sampling_rate),
        (96, 95, 200)
    );
    assert_eq!(
        (f.seqno, f.sample_pool, f.drops),
        (2_404_916, 687_103_949, 8731)
    );
    assert_eq!(f.header.map(|h| h.frame_length), Some(1286));
    // The IPv6 ones carry an extended switch record: VLAN 153 both ways.
    let sw = flows[2].switch.expect("switch");
    assert_eq!((sw.src_vlan, sw.dst_vlan, sw.dst_priority), (153, 153, 0));
    let (d, _) = telegraf_case(&root, "sflow_issue_18876");
    let got = decode_sflow(&d[0]).expect("decode");
    let Some(Sample::Counters(c)) = got
        .samples
        .iter()
        .find(|s| matches!(s, Sample::Counters(_)))
    else {
        panic!("{:?}", got.samples)
    };
    let i = c.interface().copied().expect("counters");
    assert_eq!(
        (i.in_octets, i.in_errors, i.in_unicast),
        (59_347_538_341_644, 58_690, 1_698_396_964)
    );
    for case in [
        "sflow_v5_example",
        "sflow_issue_15375",
        "sflow_issue_15918",
        "sflow_issue_18876",
    ] {
        let (d, _) = telegraf_case(&root, case);
        for n in 0..d[0].len() {
            let _ = decode_sflow(&d[0][..n]);
        }
    }
}

/// Token ring and 100BaseVG counter records: every value, 32 and 64 bits, under its MIB name.
#[test]
fn token_ring_and_100basevg_counters_decode() {
    let mut ring = Vec::new();
    u32s(&mut ring, &(1..=18).collect::<Vec<u32>>());
    // 100BaseVG: 14 values, six of them 64 bits (high word 1 for the first of those): 1,
    // 2^32 + 2, then 3 to 14.
    let mut vg = Vec::new();
    u32s(
        &mut vg,
        &[
            1, 1, 2, 3, 0, 4, 5, 6, 7, 8, 9, 0, 10, 11, 0, 12, 0, 13, 0, 14,
        ],
    );
    let mut counters = Vec::new();
    u32s(&mut counters, &[9, 3, 2]);
    counters.extend_from_slice(&part(3, &ring));
    counters.extend_from_slice(&part(4, &vg));
    let d = datagram(&[part(2, &counters)]);
    let got = decode_sflow(&d).expect("decode");
    let Some(Sample::Counters(c)) = got.samples.first() else {
        panic!("{:?}", got.samples)
    };
    assert_eq!(c.records.len(), 2);
    assert_eq!(c.records[0].kind(), Some("sflow_cnt_tokenring"));
    let ring = c.records[0].values();
    assert_eq!(ring.len(), 18);
    assert_eq!(ring[0], ("dot5StatsLineErrors", 1));
    assert_eq!(ring[17], ("dot5StatsFreqErrors", 18));
    assert_eq!(c.records[1].kind(), Some("sflow_cnt_vg"));
    let vg = c.records[1].values();
    assert_eq!(vg.len(), 14);
    assert_eq!(vg[0], ("dot12InHighPriorityFrames", 1));
    assert_eq!(vg[1], ("dot12InHighPriorityOctets", (1 << 32) + 2));
    assert_eq!(vg[3], ("dot12InNormPriorityOctets", 4));
    assert_eq!(vg[13], ("dot12HCOutHighPriorityOctets", 14));
    assert!(!got.truncated);
}
