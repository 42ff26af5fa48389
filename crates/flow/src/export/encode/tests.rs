//! Encoded datagrams read back by this crate's own collector.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::{Collector, Limits};

const ALL_FIELDS: [ExportField; 20] = [
    ExportField::SrcAddr,
    ExportField::DstAddr,
    ExportField::SrcPort,
    ExportField::DstPort,
    ExportField::Proto,
    ExportField::Tos,
    ExportField::TcpFlags,
    ExportField::InIface,
    ExportField::OutIface,
    ExportField::SrcMac,
    ExportField::DstMac,
    ExportField::Vlan,
    ExportField::SrcAs,
    ExportField::DstAs,
    ExportField::SrcMask,
    ExportField::DstMask,
    ExportField::NextHop,
    ExportField::MplsLabelTop,
    ExportField::Direction,
    ExportField::Sampling,
];

fn config(version: ExportVersion, max_datagram: usize) -> ExportConfig {
    ExportConfig {
        version,
        fields: ALL_FIELDS.to_vec(),
        domain_id: 7,
        engine: (1, 2),
        sampling_interval: 0,
        max_datagram,
        template_datagrams: 4,
        template_millis: 60_000,
        micros: false,
    }
}

fn flow(i: u32, v6: bool) -> FlowRecord {
    let (src, dst, hop) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)),
        )
    };
    FlowRecord {
        src_addr: Some(src),
        dst_addr: Some(dst),
        next_hop: Some(hop),
        src_port: 1024 + i as u16,
        dst_port: 443,
        proto: 6,
        tos: 0x20,
        tcp_flags: 0x1b,
        in_iface: 3,
        out_iface: 4,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        vlan: 42,
        src_as: 64_512,
        dst_as: 65_551,
        src_mask: 24,
        dst_mask: 16,
        mpls_label_top: 1000,
        direction: Some(1),
        sampling_rate: 10,
        packets: u64::from(i) + 1,
        bytes: 1000 * (u64::from(i) + 1),
        start: Some(FlowTime::from_millis(1_700_000_000_000 + i64::from(i) * 10)),
        end: Some(FlowTime::from_millis(1_700_000_005_000)),
        ..FlowRecord::default()
    }
}

fn encode(e: &mut Exporter, flows: &[FlowRecord], now_ms: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    e.encode(flows, now_ms, &mut |d| out.push(d.to_vec()));
    out
}

fn decode(datagrams: &[Vec<u8>]) -> Vec<FlowRecord> {
    let mut c = Collector::new(Limits::default());
    let mut out = Vec::new();
    for d in datagrams {
        let info = c
            .decode(IpAddr::V4(Ipv4Addr::LOCALHOST), d, 1_700_000_010, &mut out)
            .expect("decodes");
        assert_eq!(info.lost, 0);
    }
    out
}

#[test]
fn ipfix_and_v9_records_read_back_with_every_field() {
    for version in [ExportVersion::V9, ExportVersion::Ipfix] {
        let mut e = Exporter::new(config(version, 1400));
        let flows: Vec<FlowRecord> = (0..100).map(|i| flow(i, i % 3 == 0)).collect();
        let datagrams = encode(&mut e, &flows, 1_700_000_010_000);
        assert!(datagrams.iter().all(|d| d.len() <= 1400), "{version:?}");
        assert!(
            datagrams.iter().any(|d| d.len() > 1300),
            "datagrams are filled"
        );
        let back = decode(&datagrams);
        assert_eq!(back.len(), 100, "{version:?}");
        for (sent, got) in flows.iter().zip(&back) {
            assert_eq!(got.src_addr, sent.src_addr);
            assert_eq!(got.dst_addr, sent.dst_addr);
            assert_eq!(got.next_hop, sent.next_hop);
            assert_eq!(
                (
                    got.src_port,
                    got.dst_port,
                    got.proto,
                    got.tos,
                    got.tcp_flags
                ),
                (sent.src_port, 443, 6, 0x20, 0x1b)
            );
            assert_eq!((got.in_iface, got.out_iface, got.vlan), (3, 4, 42));
            assert_eq!((got.src_mac, got.dst_mac), (sent.src_mac, sent.dst_mac));
            assert_eq!((got.src_as, got.dst_as), (64_512, 65_551));
            assert_eq!((got.src_mask, got.dst_mask), (24, 16));
            assert_eq!((got.mpls_label_top, got.direction), (1000, Some(1)));
            assert_eq!(got.sampling_rate, 10);
            assert_eq!((got.packets, got.bytes), (sent.packets, sent.bytes));
            assert_eq!(got.version, version.number());
            assert_eq!(got.source_id, 7);
        }
        match version {
            ExportVersion::Ipfix => {
                assert_eq!(back[1].start, flows[1].start, "milliseconds kept");
                assert_eq!(back[1].end, flows[1].end);
            }
            _ => {
                // v9 readers as pmacct count whole seconds back from the header's export
                // second: 10 ms past a second reads as the next second.
                assert_eq!(back[0].start.map(|t| t.secs), Some(1_700_000_000));
                assert_eq!(back[1].start.map(|t| t.secs), Some(1_700_000_001));
                assert_eq!(back[1].end.map(|t| t.secs), Some(1_700_000_005));
            }
        }
    }
}

#[test]
fn sequence_numbers_count_each_versions_unit_and_templates_come_again() {
    for (version, per) in [
        (ExportVersion::V5, 30u32),
        (ExportVersion::V9, 1),
        (ExportVersion::Ipfix, 0),
    ] {
        let mut c = config(version, 1472);
        c.fields = vec![ExportField::SrcAddr, ExportField::DstAddr];
        let mut e = Exporter::new(c);
        let flows: Vec<FlowRecord> = (0..300).map(|i| flow(i, false)).collect();
        let datagrams = encode(&mut e, &flows, 1_700_000_010_000);
        let seqs: Vec<u32> = datagrams
            .iter()
            .map(|d| {
                let at = if version == ExportVersion::Ipfix {
                    8
                } else {
                    12
                };
                let at = if version == ExportVersion::V5 { 16 } else { at };
                u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
            })
            .collect();
        assert_eq!(seqs[0], 0);
        match version {
            ExportVersion::V5 => assert!(seqs.windows(2).all(|w| w[1] == w[0] + per)),
            ExportVersion::V9 => assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1)),
            ExportVersion::Ipfix => assert!(seqs.windows(2).all(|w| w[1] > w[0])),
        }
        assert_eq!(decode(&datagrams).len(), 300, "{version:?}");
        if version != ExportVersion::V5 {
            // First datagram, then every 4 datagrams.
            let expected = datagrams.len().div_ceil(4) as u64;
            assert_eq!(e.stats().template_datagrams, expected, "{version:?}");
        }
        assert_eq!(e.stats().records, 300);
    }
}

#[test]
fn microsecond_times_read_back_to_the_microsecond_in_v9_and_ipfix() {
    for version in [ExportVersion::V9, ExportVersion::Ipfix] {
        let mut c = config(version, 1472);
        c.micros = true;
        let mut e = Exporter::new(c);
        let mut f = flow(1, false);
        f.start = Some(FlowTime {
            secs: 1_700_000_000,
            micros: 123_457,
        });
        f.end = Some(FlowTime {
            secs: 1_700_000_003,
            micros: 999_999,
        });
        let back = decode(&encode(&mut e, &[f.clone()], 1_700_000_010_000));
        assert_eq!(
            (back[0].start, back[0].end),
            (f.start, f.end),
            "{version:?}"
        );
    }
}

#[test]
fn templates_are_resent_after_their_time_even_with_few_datagrams() {
    let mut e = Exporter::new(config(ExportVersion::Ipfix, 1472));
    encode(&mut e, &[flow(1, false)], 1_000_000);
    encode(&mut e, &[flow(2, false)], 1_030_000);
    assert_eq!(e.stats().template_datagrams, 1);
    encode(&mut e, &[flow(3, false)], 1_060_000);
    assert_eq!(e.stats().template_datagrams, 2);
}

#[test]
fn v5_takes_ipv4_only_and_splits_counters_past_32_bits() {
    let mut e = Exporter::new(config(ExportVersion::V5, 1472));
    let mut big = flow(1, false);
    big.bytes = 10_000_000_000;
    big.packets = 7_000_000;
    big.src_as = 4_200_000_000;
    let datagrams = encode(
        &mut e,
        &[big.clone(), flow(2, true), flow(3, false)],
        1_700_000_010_000,
    );
    assert_eq!(e.stats().unexportable, 1);
    let back = decode(&datagrams);
    assert_eq!(back.len(), 4, "3 pieces of the big flow, then flow 3");
    assert_eq!(
        back[..3].iter().map(|r| r.bytes).sum::<u64>(),
        10_000_000_000
    );
    assert_eq!(back[..3].iter().map(|r| r.packets).sum::<u64>(), 7_000_000);
    assert_eq!(back[0].src_as, u32::from(AS_TRANS));
    assert_eq!(
        (back[3].packets, back[3].in_iface, back[3].src_port),
        (4, 3, 1027)
    );
}

#[test]
fn a_flow_set_without_addresses_has_one_template() {
    let mut c = config(ExportVersion::V9, 1472);
    c.fields = vec![ExportField::SrcPort, ExportField::Proto];
    let mut e = Exporter::new(c);
    let datagrams = encode(&mut e, &[flow(1, true), flow(2, false)], 1_700_000_010_000);
    assert_eq!(datagrams.len(), 1);
    assert_eq!(
        u16::from_be_bytes([datagrams[0][2], datagrams[0][3]]),
        3,
        "1 template, 2 records"
    );
    assert_eq!(decode(&datagrams).len(), 2);
}
