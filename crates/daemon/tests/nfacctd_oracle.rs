//! pmacct's own regression cases (../shared/testdata/oracle/pmacct): each case's capture of
//! export datagrams read by our nfacctd with the case's aggregation, sampling and
//! renormalization (its Kafka output replaced by print JSON), and the aggregates compared with
//! pmacct's expected output on every field the case lists — except `peer_ip_src` (pmacct's
//! reproducer rewrites the exporter's address) and the fields that need a feature outside the
//! NetFlow/IPFIX collector, each named below with what it needs. The custom primitives of the
//! case's `aggregate_primitives` map (pmacct >= 1.7.8 nests them in `custom_primitives`) are
//! compared by name. Rows are compared after
//! summing packets and bytes per compared key: pmacct's expected output is cut into 10-second
//! Kafka bins, ours is one purge. `tcp_flags` is ORed the same way (pmacct accumulates a key's
//! flags, so one key's rows of two bins may show different flags).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const OURS: &str = env!("CARGO_BIN_EXE_nfacctd");

/// pmacct's JSON field, the primitive that prints it.
const FIELDS: &[(&str, &str)] = &[
    ("iface_in", "in_iface"),
    ("iface_out", "out_iface"),
    ("ip_src", "src_host"),
    ("ip_dst", "dst_host"),
    ("port_src", "src_port"),
    ("port_dst", "dst_port"),
    ("ip_proto", "proto"),
    ("tos", "tos"),
    ("mask_src", "src_mask"),
    ("mask_dst", "dst_mask"),
    ("net_src", "src_net"),
    ("net_dst", "dst_net"),
    ("tcp_flags", "tcpflags"),
    ("fwd_status", "fwd_status"),
    ("mpls_vpn_rd", "mpls_vpn_rd"),
    ("timestamp_start", "timestamp_start"),
    ("timestamp_end", "timestamp_end"),
];

/// Fields of pmacct's output that need features outside this collector.
const OUTSIDE: &[(&str, &str)] = &[
    ("peer_ip_src", "rewritten by pmacct's reproducer (MANIFEST.md)"),
    ("writer_id", "Kafka's writer id"),
    ("flows", "null in pmacct's output"),
    ("mpls_vpn_rd_origin", "pmacct >= 1.7.8 output field"),
    ("mpls_label_stack", "the mpls_label_stack primitive (pmacct >= 1.7.8)"),
    ("vrf_name", "the vrf_name primitive (pmacct >= 1.7.8, from options data)"),
    ("ingress_vrf_name", "pmacct >= 1.7.8 primitive"),
    ("egress_vrf_name", "pmacct >= 1.7.8 primitive"),
    ("iface_name_in", "pmacct >= 1.7.8 primitive (interface names from options data)"),
    ("iface_name_out", "pmacct >= 1.7.8 primitive (interface names from options data)"),
    ("label", "key%value labels encoded as a map (pre_tag_label_encode_as_map, pmacct >= 1.7.8; 1.7.7 refuses a label with commas)"),
];

/// Per case, fields compared elsewhere than in the case's whole output.
fn outside_for(case: &str) -> &'static [(&'static str, &'static str)] {
    match case {
        // "vrfid:N": an RD made from ingressVRFID (pmacct >= 1.7.8).
        "101-NFv9-CISCO-cust_primitives"
        | "104-IPFIXv10-IPv6-CISCO-sampling_option"
        | "111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources" => &[(
            "mpls_vpn_rd",
            "an RD made from ingressVRFID, 'vrfid:N' (pmacct >= 1.7.8)",
        )],
        "102-NFv9-CISCO-f2rd-pretag-sampling-reload" => {
            &[("mpls_vpn_rd", "flow_to_rd_map (BGP/MPLS VPN maps)")]
        }
        "106-IPFIXv10-HUAWEI-vrf_name" | "112-IPFIXv10-CISCO-options-map-reassignment" => &[(
            "mpls_vpn_rd",
            "RDs from options data per VRF id (pmacct >= 1.7.8)",
        )],
        _ => &[],
    }
}

/// forwardingStatus (RFC 7270) as pmacct names it.
fn fwd_status(name: &str) -> u8 {
    match name {
        "UNKNOWN Unclassified" => 0,
        "FORWARDED Unknown" => 64,
        "FORWARDED Fragmented" => 65,
        "FORWARDED Not Fragmented" => 66,
        "DROPPED Unknown" => 128,
        "CONSUMED Unknown" => 192,
        "CONSUMED Punt Adjacency" => 193,
        "CONSUMED Incomplete Adjacency" => 194,
        "CONSUMED For us" => 195,
        other => panic!("fwd_status '{other}' is not in the test's table"),
    }
}

/// A field's value as text both sides agree on.
fn normal(field: &str, v: &serde_json::Value) -> String {
    use serde_json::Value;
    match (field, v) {
        ("tcp_flags", Value::Array(names)) => {
            let bit = |n: &str| match n {
                "FIN" => 1,
                "SYN" => 2,
                "RST" => 4,
                "PSH" => 8,
                "ACK" => 16,
                "URG" => 32,
                "ECE" => 64,
                "CWR" => 128,
                other => panic!("tcp flag '{other}'"),
            };
            names
                .iter()
                .map(|n| bit(n.as_str().expect("flag name")))
                .sum::<u32>()
                .to_string()
        }
        ("fwd_status", Value::String(s)) => fwd_status(s).to_string(),
        ("timestamp_start" | "timestamp_end", Value::String(s)) => {
            s.split('.').next().unwrap_or_default().to_string()
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// Packets, bytes and ORed TCP flags per key.
type Totals = BTreeMap<String, (u64, u64, u64)>;

/// Packets and bytes per compared key.
fn totals(json: &str, fields: &[&str]) -> Totals {
    let mut out = Totals::new();
    for line in json.lines().filter(|l| l.starts_with('{')) {
        let mut row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).expect("a JSON row");
        // pmacct >= 1.7.8's Kafka output nests the custom primitives; 1.7.7's print JSON and
        // ours have them at the top.
        if let Some(serde_json::Value::Object(custom)) = row.remove("custom_primitives") {
            row.extend(custom);
        }
        let key: Vec<String> = fields
            .iter()
            .filter(|f| **f != "tcp_flags")
            .map(|f| {
                format!(
                    "{f}={}",
                    row.get(*f).map(|v| normal(f, v)).unwrap_or_default()
                )
            })
            .collect();
        let n = |k: &str| row.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let flags = row
            .get("tcp_flags")
            .map(|v| normal("tcp_flags", v).parse::<u64>().expect("flags"))
            .unwrap_or(0);
        let e = out.entry(key.join(" ")).or_default();
        e.0 += n("packets");
        e.1 += n("bytes");
        e.2 |= flags;
    }
    out
}

/// The case's key: value settings (the last of a repeated key wins, as in pmacct).
fn settings(conf: &str) -> BTreeMap<String, String> {
    conf.lines()
        .filter(|l| !l.trim_start().starts_with('!'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The captures of case `NNN-...`: flow/*/pmacct__NNN__traffic-*.pcap, in name order.
fn captures(flow: &Path, case: &str) -> Vec<PathBuf> {
    let number = case.split('-').next().expect("case number");
    let mut out = Vec::new();
    for dir in ["netflow-v5", "netflow-v9", "ipfix"] {
        for e in std::fs::read_dir(flow.join(dir)).expect("flow dir") {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            if name.starts_with(&format!("pmacct__{number}__traffic-")) {
                out.push(p);
            }
        }
    }
    out.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    out
}

/// A map of the case with its exporter matches widened to any exporter: pmacct's reproducer
/// sends from its own address, our run reads the capture's (one exporter per capture).
fn widened_map(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).expect("map");
    let widened: String = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|w| match w.starts_with("ip=") {
                    true if w.contains(':') && !w.contains('.') => "ip=::/0",
                    true => "ip=0.0.0.0/0",
                    false => w,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(to, widened + "\n").expect("write map");
}

struct Outcome {
    compared: Vec<&'static str>,
    ours: Totals,
    expected: Totals,
}

/// Runs case `case` (its `output-flow-<run>.json`, with the maps of that run).
fn run_case(oracle: &Path, flow: &Path, case: &str, run: &str, work: &Path) -> Outcome {
    let dir = oracle.join(case);
    let conf = settings(&std::fs::read_to_string(dir.join("nfacctd-00.conf")).expect("conf"));
    let expected_json =
        std::fs::read_to_string(dir.join(format!("output-flow-{run}.json"))).expect("output");
    let fields_seen: std::collections::BTreeSet<String> = expected_json
        .lines()
        .flat_map(|l| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l)
                .expect("JSON")
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let outside: Vec<&str> = OUTSIDE
        .iter()
        .chain(outside_for(case))
        .map(|(f, _)| *f)
        .collect();
    let mut compared: Vec<&'static str> = Vec::new();
    let mut primitives: Vec<&str> = Vec::new();
    // The custom primitives (aggregate_primitives): compared by their names.
    let custom_map = dir.join("pmacct_mount/custom-primitives-00.map");
    for line in expected_json.lines().take(1) {
        let row: serde_json::Value = serde_json::from_str(line).expect("JSON");
        if let Some(custom) = row.get("custom_primitives").and_then(|c| c.as_object()) {
            for name in custom.keys() {
                let name: &'static str = Box::leak(name.clone().into_boxed_str());
                compared.push(name);
                primitives.push(name);
            }
        }
    }
    for field in &fields_seen {
        if ["packets", "bytes", "custom_primitives"].contains(&field.as_str())
            || outside.contains(&field.as_str())
        {
            continue;
        }
        let (name, primitive) = FIELDS.iter().find(|(f, _)| f == field).unwrap_or_else(|| {
            panic!("{case}: field '{field}' is neither compared nor listed as outside")
        });
        compared.push(name);
        primitives.push(primitive);
    }
    let mut text = format!(
        "plugins: print[p]\nprint_output[p]: json\naggregate[p]: {}\n\
         timestamps_since_epoch: true\ntimestamps_secs: true\n",
        primitives.join(", ")
    );
    if primitives
        .iter()
        .any(|p| !FIELDS.iter().any(|(_, f)| f == p))
    {
        text.push_str(&format!("aggregate_primitives: {}\n", custom_map.display()));
    }
    for key in ["nfacctd_renormalize", "nfacctd_time_new"] {
        if let Some(v) = conf.get(key) {
            text.push_str(&format!("{key}: {v}\n"));
        }
    }
    if conf.contains_key("sampling_map") {
        let map = work.join(format!("{case}-sampling-{run}.map"));
        widened_map(&dir.join(format!("pmacct_mount/sampling-{run}.map")), &map);
        text.push_str(&format!("sampling_map: {}\n", map.display()));
    }
    let mut ours = Totals::new();
    for (i, pcap) in captures(flow, case).iter().enumerate() {
        let cfg = work.join(format!("{case}-{run}-{i}.conf"));
        std::fs::write(&cfg, format!("pcap_savefile: {}\n{text}", pcap.display())).expect("cfg");
        let out = Command::new(OURS)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("run nfacctd");
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (k, (p, b, f)) in totals(&String::from_utf8_lossy(&out.stdout), &compared) {
            let e = ours.entry(k).or_default();
            e.0 += p;
            e.1 += b;
            e.2 |= f;
        }
    }
    Outcome {
        expected: totals(&expected_json, &compared),
        compared,
        ours,
    }
}

#[test]
fn pmacct_regression_cases_give_the_same_aggregates() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let (oracle, flow) = (data.join("oracle/pmacct"), data.join("flow"));
    let work = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<String> = std::fs::read_dir(&oracle)
        .expect("oracle dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 7);
    let mut rows = 0;
    let mut customs = 0;
    for case in &cases {
        let runs: &[&str] = match case.as_str() {
            "102-NFv9-CISCO-f2rd-pretag-sampling-reload" => &["00", "01"],
            _ => &["00"],
        };
        for run in runs {
            let o = run_case(&oracle, &flow, case, run, work.path());
            assert!(o.compared.len() >= 8, "{case}: {:?}", o.compared);
            // Six cases carry custom primitives (aggregate_primitives): compared too.
            if case != "100-IPFIXv10-CISCO" {
                assert!(
                    o.compared.contains(&"vrf_id_ingress"),
                    "{case}: {:?}",
                    o.compared
                );
                customs += 1;
            }
            assert_eq!(o.ours, o.expected, "{case} run {run}, on {:?}", o.compared);
            rows += o.expected.len();
        }
    }
    assert_eq!(customs, 7);
    println!("{rows} aggregates compared");
}
