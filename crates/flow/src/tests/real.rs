//! Real datagrams from the shared corpus (`../shared/testdata`, never copied here): Telegraf's
//! raw test datagrams compared with Telegraf's own decode (`expected.out`), and exporter pcaps
//! compared with totals tshark computed from the same files.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pmacct_wire::savefile::Savefile;

use super::build::ip;
use crate::{Collector, CollectorStats, FlowRecord, Limits, Malformed};

pub(crate) fn testdata() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: {} is absent", dir.display());
        None
    }
}

/// The raw datagrams of one Telegraf case, in lexical order of their file names.
pub(crate) fn telegraf_case(root: &Path, case: &str) -> (Vec<Vec<u8>>, String) {
    let dir = root.join("flow/raw/telegraf").join(case);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    names.sort();
    let datagrams = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let expected = std::fs::read_to_string(dir.join("expected.out")).unwrap();
    (datagrams, expected)
}

/// One line of InfluxDB line protocol: measurement and fields (string values unquoted).
#[derive(Debug)]
struct Line {
    measurement: String,
    fields: BTreeMap<String, String>,
}

fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Line {
    let (head, rest) = line.split_once(' ').unwrap();
    let measurement = head.split(',').next().unwrap().to_string();
    let mut fields = BTreeMap::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut key = String::new();
        while chars[i] != '=' {
            key.push(chars[i]);
            i += 1;
        }
        i += 1;
        let mut value = String::new();
        if chars[i] == '"' {
            i += 1;
            while chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && chars[i] != ',' && chars[i] != ' ' {
                value.push(chars[i]);
                i += 1;
            }
            if let Some(unsigned) = value.strip_suffix('u') {
                value = unsigned.to_string();
            }
        }
        fields.insert(key, value);
        if i < chars.len() && chars[i] == ' ' {
            break; // the timestamp follows
        }
        i += 1;
    }
    Line {
        measurement,
        fields,
    }
}

fn proto_number(name: &str) -> Option<u8> {
    match name {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "ipv6-icmp" => Some(58),
        other => other.parse().ok(),
    }
}

/// Telegraf's tcp_flags string: "CEUAPRSF" with '.' for a clear bit.
fn tcp_flags(s: &str) -> u8 {
    s.chars()
        .enumerate()
        .filter(|&(_, c)| c != '.')
        .fold(0, |acc, (i, _)| acc | (0x80 >> i))
}

fn hex_or_dec(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, part) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(part, 16).unwrap();
    }
    m
}

/// Compares every field of `line` that a [`FlowRecord`] holds; returns the differences and how
/// many values were compared.
fn compare(case: &str, n: usize, line: &Line, r: &FlowRecord) -> (Vec<String>, usize) {
    let mut diffs = Vec::new();
    let mut checked = 0;
    let mut check = |key: &str, ours: String, theirs: String| {
        checked += 1;
        if ours != theirs {
            diffs.push(format!(
                "{case} record {n} {key}: ours {ours}, telegraf {theirs}"
            ));
        }
    };
    let addr = |a: Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    for (key, value) in &line.fields {
        let v = value.clone();
        match key.as_str() {
            "src" => check(key, addr(r.src_addr), v),
            "dst" => check(key, addr(r.dst_addr), v),
            "next_hop" => check(key, addr(r.next_hop), v),
            "src_port" => check(key, r.src_port.to_string(), v),
            "dst_port" if r.proto != 1 && r.proto != 58 => check(key, r.dst_port.to_string(), v),
            "protocol" => check(
                key,
                r.proto.to_string(),
                proto_number(&v).unwrap().to_string(),
            ),
            "in_bytes" | "in_total_bytes" => check(key, r.bytes.to_string(), v),
            "in_packets" | "in_total_packets" => check(key, r.packets.to_string(), v),
            "in_snmp" => check(key, r.in_iface.to_string(), v),
            "out_snmp" => check(key, r.out_iface.to_string(), v),
            "src_mask" => check(key, r.src_mask.to_string(), v),
            "dst_mask" => check(key, r.dst_mask.to_string(), v),
            "bgp_src_as" => check(key, r.src_as.to_string(), v),
            "bgp_dst_as" => check(key, r.dst_as.to_string(), v),
            "src_tos" => check(key, r.tos.to_string(), hex_or_dec(&v).to_string()),
            "tcp_flags" => check(key, r.tcp_flags.to_string(), tcp_flags(&v).to_string()),
            "vlan_src" => check(key, r.vlan.to_string(), v),
            "in_src_mac" => check(key, format!("{:?}", r.src_mac), format!("{:?}", mac(&v))),
            "in_dst_mac" => check(key, format!("{:?}", r.dst_mac), format!("{:?}", mac(&v))),
            "flow_start_ms" => check(key, ms(r.start), v),
            "flow_end_ms" => check(key, ms(r.end), v),
            "engine_type" => check(key, r.engine_type.to_string(), hex_or_dec(&v).to_string()),
            "engine_id" => check(key, r.engine_id.to_string(), hex_or_dec(&v).to_string()),
            "direction" => {
                let d = match v.as_str() {
                    "ingress" => "0",
                    "egress" => "1",
                    _ => "?",
                };
                check(key, format!("{:?}", r.direction), format!("Some({d})"));
            }
            "flows" if r.version != 5 => check(key, r.flows.to_string(), v),
            _ => {}
        }
    }
    // v5 times are uptime-relative in Telegraf's output: the durations must agree to the second
    // (the decoder gives whole seconds before the export second, as pmacct does; the absolute
    // times are checked against the header in the hand-built v5 test).
    if let (Some(first), Some(last), Some(_)) = (
        line.fields.get("first_switched"),
        line.fields.get("last_switched"),
        line.fields.get("sys_uptime"),
    ) {
        let (first, last): (i64, i64) = (first.parse().unwrap(), last.parse().unwrap());
        let end = r.end.map(|t| t.as_millis()).unwrap_or_default();
        let start = r.start.map(|t| t.as_millis()).unwrap_or_default();
        if ((end - start) - (last - first)).abs() >= 1000 {
            diffs.push(format!(
                "{case} record {n}: duration {} vs {}",
                end - start,
                last - first
            ));
        }
        checked += 1;
    }
    (diffs, checked)
}

fn ms(t: Option<crate::FlowTime>) -> String {
    t.map(|t| t.as_millis().to_string()).unwrap_or_default()
}

/// Decodes a Telegraf case; returns our flow records, the collector's stats and Telegraf's lines.
fn run_case(root: &Path, case: &str) -> (Vec<FlowRecord>, CollectorStats, Vec<Line>) {
    let (datagrams, expected) = telegraf_case(root, case);
    let mut c = Collector::new(Limits::default());
    let mut out = Vec::new();
    for d in &datagrams {
        c.decode(ip("127.0.0.1"), d, 1_700_000_000, &mut out)
            .unwrap();
    }
    (out, c.stats().clone(), parse_lines(&expected))
}

#[test]
fn telegraf_cases_match_telegraf_decode() {
    let Some(root) = testdata() else { return };
    let mut all_diffs = Vec::new();
    for case in [
        "netflow_v5_example",
        "netflow_v9_example",
        "ipfix_example",
        "ipfix_pen_35632",
        "issue_13305",
        "issue_14370",
        "netflow_v9_options",
        "ipfix_options",
    ] {
        let (records, stats, lines) = run_case(&root, case);
        let flows: Vec<&Line> = lines
            .iter()
            .filter(|l| l.measurement == "netflow")
            .collect();
        let options = lines.len() - flows.len();
        println!(
            "{case}: {} records (telegraf {}), {} options records (telegraf {options})",
            records.len(),
            flows.len(),
            stats.options_records
        );
        assert_eq!(records.len(), flows.len(), "{case}: flow records");
        assert!(
            stats.options_records as usize >= options,
            "{case}: options records"
        );
        assert_eq!(stats.malformed, [0; Malformed::ALL.len()], "{case}");
        let mut checked = 0;
        for (n, (line, r)) in flows.iter().zip(&records).enumerate() {
            let (diffs, count) = compare(case, n, line, r);
            all_diffs.extend(diffs);
            checked += count;
        }
        println!("{case}: {checked} values compared");
        assert!(
            checked >= flows.len() * 5,
            "{case}: too few values compared"
        );
    }
    for d in &all_diffs {
        println!("{d}");
    }
    assert!(all_diffs.is_empty(), "{} differences", all_diffs.len());
}

/// The UDP payloads (with source address) of a capture of exporter datagrams.
pub(crate) fn udp_payloads(path: &Path) -> Vec<(IpAddr, Vec<u8>)> {
    let data = std::fs::read(path).unwrap();
    let mut file = Savefile::open(&data).unwrap();
    let mut out = Vec::new();
    while let Some(p) = file.next(&data).unwrap() {
        if let Some((src, payload)) = strip(p.link, p.data) {
            out.push((src, payload.to_vec()));
        }
    }
    out
}

/// Ethernet (with VLAN tags) or Linux SLL, then IPv4/IPv6, then UDP: the source and payload.
fn strip(link: u16, f: &[u8]) -> Option<(IpAddr, &[u8])> {
    let (mut etype, mut at) = match link {
        1 => (u16::from_be_bytes([f[12], f[13]]), 14),
        113 => (u16::from_be_bytes([f[14], f[15]]), 16),
        _ => return None,
    };
    while etype == 0x8100 || etype == 0x88a8 {
        etype = u16::from_be_bytes([f[at + 2], f[at + 3]]);
        at += 4;
    }
    let (src, udp) = match etype {
        0x0800 => {
            let ihl = usize::from(f[at] & 0x0f) * 4;
            if f[at + 9] != 17 {
                return None;
            }
            let src: [u8; 4] = f[at + 12..at + 16].try_into().unwrap();
            (IpAddr::from(src), at + ihl)
        }
        0x86dd => {
            if f[at + 6] != 17 {
                return None;
            }
            let src: [u8; 16] = f[at + 8..at + 24].try_into().unwrap();
            (IpAddr::from(src), at + 40)
        }
        _ => return None,
    };
    let len = usize::from(u16::from_be_bytes([f[udp + 4], f[udp + 5]]));
    Some((src, &f[udp + 8..udp + len]))
}

/// Per group of capture files sent in order to one collector: tshark's decode (flow records,
/// options records, sum of octets, sum of packets; `tshark -V` with the file's port decoded as
/// cflow, files concatenated with `mergecap -a`).
struct Oracle {
    name: &'static str,
    files: &'static [&'static str],
    records: usize,
    options: u64,
    bytes: u64,
    packets: u64,
}

const fn oracle(
    name: &'static str,
    files: &'static [&'static str],
    records: usize,
    options: u64,
    bytes: u64,
    packets: u64,
) -> Oracle {
    Oracle {
        name,
        files,
        records,
        options,
        bytes,
        packets,
    }
}

const TSHARK: &[Oracle] = &[
    // tshark shows v5 records as PDUs, not flowsets: 29 is the header count (and capinfos').
    oracle("v5", &["netflow-v5/akvorado__nfv5.pcap"], 29, 0, 88345, 78),
    oracle(
        "v9-template-data",
        &[
            "netflow-v9/akvorado__template.pcap",
            "netflow-v9/akvorado__data.pcap",
        ],
        4,
        0,
        5848,
        4,
    ),
    // Data sets come before their template in this datagram: tshark decodes 10 records and
    // reports 3 sets without template; with the sets reordered templates first it decodes
    // 21 records, 58329 bytes, 66 packets, what we decode by holding the early sets.
    oracle(
        "v9-data-templates",
        &["netflow-v9/akvorado__data+templates.pcap"],
        21,
        1,
        58329,
        66,
    ),
    oracle(
        "v9-options",
        &[
            "netflow-v9/akvorado__options-template.pcap",
            "netflow-v9/akvorado__options-data.pcap",
            "netflow-v9/akvorado__template.pcap",
            "netflow-v9/akvorado__data.pcap",
        ],
        4,
        4,
        5848,
        4,
    ),
    oracle(
        "v9-icmp",
        &[
            "netflow-v9/akvorado__icmp-template.pcap",
            "netflow-v9/akvorado__icmp-data.pcap",
        ],
        4,
        0,
        376,
        4,
    ),
    oracle(
        "v9-multiplesamplingrates",
        &[
            "netflow-v9/akvorado__multiplesamplingrates-options-template.pcap",
            "netflow-v9/akvorado__multiplesamplingrates-options-data.pcap",
            "netflow-v9/akvorado__multiplesamplingrates-template.pcap",
            "netflow-v9/akvorado__multiplesamplingrates-data.pcap",
        ],
        12,
        2,
        14818,
        38,
    ),
    oracle(
        "v9-samplingrate",
        &[
            "netflow-v9/akvorado__samplingrate-template.pcap",
            "netflow-v9/akvorado__samplingrate-data.pcap",
        ],
        6,
        0,
        3740,
        6,
    ),
    oracle("v9-nat", &["netflow-v9/akvorado__nat.pcap"], 9, 0, 0, 0),
    // Data sets only: templates 258-263 are never sent (23 sets held, then dropped).
    oracle("v9-ndpi", &["netflow-v9/ndpi__netflowv9.pcap"], 0, 0, 0, 0),
    oracle(
        "v9-pmacct101",
        &["netflow-v9/pmacct__101__traffic-00.pcap"],
        51,
        0,
        4500,
        56,
    ),
    oracle(
        "v9-pmacct102",
        &["netflow-v9/pmacct__102__traffic-00.pcap"],
        35,
        0,
        7594,
        107,
    ),
    oracle(
        "v9-pmacct111",
        &["netflow-v9/pmacct__111__traffic-00.pcap"],
        11,
        0,
        955,
        11,
    ),
    oracle(
        "ipfix-datalink",
        &[
            "ipfix/akvorado__datalink-template.pcap",
            "ipfix/akvorado__datalink-data.pcap",
        ],
        1,
        0,
        0,
        0,
    ),
    oracle(
        "ipfix-eompls",
        &[
            "ipfix/akvorado__ethernet-over-mpls-with-control-word-template.pcap",
            "ipfix/akvorado__ethernet-over-mpls-with-control-word-data.pcap",
        ],
        10,
        0,
        0,
        0,
    ),
    oracle(
        "ipfix-srv6",
        &[
            "ipfix/akvorado__ipfix-srv6-template.pcap",
            "ipfix/akvorado__ipfix-srv6-data.pcap",
        ],
        1,
        0,
        0,
        0,
    ),
    oracle(
        "ipfix-ipfixprobe",
        &[
            "ipfix/akvorado__ipfixprobe-templates.pcap",
            "ipfix/akvorado__ipfixprobe-data.pcap",
        ],
        4,
        0,
        24268,
        34,
    ),
    oracle(
        "ipfix-juniper",
        &[
            "ipfix/akvorado__juniper-cpid-template.pcap",
            "ipfix/akvorado__juniper-cpid-data.pcap",
        ],
        1,
        0,
        0,
        0,
    ),
    oracle("ipfix-mpls", &["ipfix/akvorado__mpls.pcap"], 2, 1, 979, 11),
    oracle(
        "ipfix-physical",
        &["ipfix/akvorado__physicalinterfaces.pcap"],
        8,
        1,
        31111,
        29,
    ),
    oracle(
        "ipfix-fritz",
        &["ipfix/ndpi__netflow-fritz.pcap"],
        0,
        0,
        0,
        0,
    ),
    oracle(
        "ipfix-pmacct100",
        &["ipfix/pmacct__100__traffic-00.pcap"],
        12,
        0,
        34172,
        34,
    ),
    oracle(
        "ipfix-pmacct104",
        &["ipfix/pmacct__104__traffic-00.pcap"],
        3,
        1,
        10632,
        121,
    ),
    oracle(
        "ipfix-pmacct106",
        &["ipfix/pmacct__106__traffic-00.pcap"],
        3,
        1,
        284557,
        1227,
    ),
    oracle(
        "ipfix-pmacct111",
        &["ipfix/pmacct__111__traffic-01.pcap"],
        13,
        0,
        9820,
        16,
    ),
    // Template 347 comes from source port 61853, its data from port 65156: tshark scopes
    // templates by port and decodes no flow; with the capture rewritten to one port it decodes
    // 9 records, 1197 bytes, 19 packets, what we decode scoping by address. Templates 313,
    // 341, 342 and 348 are never sent (4 sets stay held).
    oracle(
        "ipfix-pmacct112",
        &["ipfix/pmacct__112__traffic-00.pcap"],
        9,
        76,
        1197,
        19,
    ),
    oracle(
        "ipfix-pmacct401",
        &["ipfix/pmacct__401__traffic-00.pcap"],
        748,
        351,
        58740471,
        318954,
    ),
    oracle(
        "ipfix-pmacct500",
        &["ipfix/pmacct__500__traffic-00.pcap"],
        43,
        10,
        53644,
        558,
    ),
];

/// Sends each group's datagrams, from the address in the capture, to a fresh collector.
fn run_group(root: &Path, files: &[&str]) -> (Vec<FlowRecord>, CollectorStats) {
    let mut c = Collector::new(Limits::default());
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for (src, d) in udp_payloads(&root.join("flow").join(f)) {
            let _ = c.decode(src, &d, 1_700_000_000 + i as i64, &mut out);
        }
    }
    (out, c.stats().clone())
}

#[test]
fn pcaps_match_tshark_totals() {
    let Some(root) = testdata() else { return };
    for o in TSHARK {
        let (records, stats) = run_group(&root, o.files);
        let bytes: u64 = records.iter().map(|r| r.bytes).sum();
        let packets: u64 = records.iter().map(|r| r.packets).sum();
        println!(
            "{}: {} records, {} options, {bytes} bytes, {packets} packets, {} sets held",
            o.name,
            records.len(),
            stats.options_records,
            stats.pending_sets
        );
        assert_eq!(records.len(), o.records, "{}: records", o.name);
        assert_eq!(
            stats.options_records, o.options,
            "{}: options records",
            o.name
        );
        assert_eq!(bytes, o.bytes, "{}: bytes", o.name);
        assert_eq!(packets, o.packets, "{}: packets", o.name);
        assert_eq!(stats.malformed, [0; Malformed::ALL.len()], "{}", o.name);
        let held = match o.name {
            "v9-ndpi" => 23,
            "ipfix-pmacct112" => 4,
            _ => 0,
        };
        assert_eq!(stats.pending_sets, held, "{}: held sets", o.name);
    }
}

#[test]
fn data_without_templates_is_held_then_dropped() {
    let Some(root) = testdata() else { return };
    let mut c = Collector::new(Limits::default());
    let mut out = Vec::new();
    for (src, d) in udp_payloads(&root.join("flow/netflow-v9/ndpi__netflowv9.pcap")) {
        c.decode(src, &d, 100, &mut out).unwrap();
    }
    assert!(out.is_empty());
    assert_eq!(c.stats().pending_sets, 23);
    c.expire(130);
    assert_eq!(
        c.stats().pending_sets,
        23,
        "not older than pending_secs yet"
    );
    c.expire(131);
    assert_eq!(c.stats().pending_sets, 0);
    assert_eq!(c.stats().pending_bytes, 0);
    assert_eq!(c.stats().pending_dropped, 23);
}

/// The first flow record of a group.
fn first(root: &Path, name: &str) -> FlowRecord {
    let o = TSHARK.iter().find(|o| o.name == name).unwrap();
    run_group(root, o.files).0.remove(0)
}

/// Values checked against `tshark -V` on the same files.
#[test]
fn pcap_values_match_tshark() {
    let Some(root) = testdata() else { return };
    // Options data: sampler 1 at 1 in 30000 (FLOW_SAMPLER_RANDOM_INTERVAL).
    let r = first(&root, "v9-options");
    assert_eq!((r.sampler_id, r.sampling_rate), (Some(1), 30000));
    assert_eq!(r.src_addr, Some(ip("198.38.121.178")));
    assert_eq!((r.in_iface, r.out_iface, r.fwd_status), (335, 450, 0x40));
    // Two samplers: each record takes its own sampler's rate.
    let o = TSHARK
        .iter()
        .find(|o| o.name == "v9-multiplesamplingrates")
        .unwrap();
    let (records, _) = run_group(&root, o.files);
    for r in &records {
        let expected = match r.sampler_id {
            Some(1) => 2000,
            Some(2) => 4000,
            other => panic!("sampler {other:?}"),
        };
        assert_eq!(r.sampling_rate, expected);
    }
    // SAMPLING_INTERVAL in the data records themselves; SRC_VLAN.
    let r = first(&root, "v9-samplingrate");
    assert_eq!((r.sampling_rate, r.vlan), (2048, 701));
    // ICMPv6 echo request: type 128, code 0 in dst_port.
    let r = first(&root, "v9-icmp");
    assert_eq!((r.proto, r.dst_port), (58, 128 * 256));
    // NAT: post-NAT source and ports, NAT event.
    let r = first(&root, "v9-nat");
    assert_eq!(r.post_nat_src, Some(ip("10.143.52.29")));
    assert_eq!(r.post_nat_dst, Some(ip("10.89.87.1")));
    assert_eq!(
        (r.post_nat_src_port, r.post_nat_dst_port, r.nat_event),
        (35303, 53, 1)
    );
    // MPLS: label 1 on top, label 2 carries the bottom-of-stack bit.
    let r = first(&root, "ipfix-mpls");
    assert_eq!((r.mpls_label_top, r.mpls_label_bottom), (20005, 524250));
    assert_eq!(r.sampling_rate, 10);
    // ingressPhysicalInterface when ingressInterface is absent; interval+space sampling.
    let r = first(&root, "ipfix-physical");
    assert_eq!((r.in_iface, r.sampling_rate), (1342177291, 1000));
    // samplingSize 1 of samplingPopulation 256, by selectorId.
    let r = first(&root, "ipfix-pmacct104");
    assert_eq!((r.sampler_id, r.sampling_rate), (Some(1), 256));
    // flowStartMicroseconds (NTP): tshark shows Oct  5, 2009 06:06:07.492059 UTC.
    let r = first(&root, "ipfix-ipfixprobe");
    assert_eq!(
        r.start,
        Some(crate::FlowTime {
            secs: 1254722767,
            micros: 492059
        })
    );
}
