//! sfacctd against Debian's sfacctd 1.7.7: every sFlow capture of ../shared/testdata/flow/sflow
//! read by both (`pcap_savefile`), the same rows on 5-tuple, agent (`peer_src_ip`), interfaces,
//! VLAN, MAC addresses, ToS and TCP flags, except the differences docs/differences.md lists.

mod common;

use std::path::Path;
use std::process::Command;

const OURS: &str = env!("CARGO_BIN_EXE_sfacctd");
const REFERENCE: &str = "/usr/sbin/sfacctd";
const AGGREGATE: &str = "src_host, dst_host, src_port, dst_port, proto, peer_src_ip, in_iface, \
                         out_iface, vlan, src_mac, dst_mac, tos, tcpflags";

/// The sorted csv rows `program` prints for `pcap` (one purge, at the end).
fn rows(program: &str, pcap: &Path, dir: &Path) -> Vec<String> {
    rows_with(program, pcap, dir, AGGREGATE, "")
}

/// [`rows`] with another aggregation and more configuration lines.
fn rows_with(program: &str, pcap: &Path, dir: &Path, aggregate: &str, extra: &str) -> Vec<String> {
    let cfg = dir.join("sf.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: {aggregate}\n\
             print_output[p]: csv\nprint_refresh_time[p]: 86400\n{extra}",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (apt-get install pmacct)"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

/// Our rows with the documented differences undone, as 1.7.7 prints them.
fn as_reference(case: &str, ours: Vec<String>) -> Vec<String> {
    match case {
        // QinQ (802.1ad) sampled headers: we decode them, 1.7.7 accounts nothing (difference 67).
        "akvorado__data-qinq.pcap" => Vec::new(),
        _ => ours
            .into_iter()
            .map(|r| {
                // IPv6 traffic class as `tos`: 1.7.7's sfacctd reports 0 (difference 68).
                let mut f: Vec<String> = r.split(',').map(str::to_string).collect();
                if f.len() > 12 && f[6].contains(':') {
                    f[12] = "0".into();
                }
                f.join(",")
            })
            .collect(),
    }
}

#[test]
fn rows_equal_debian_sfacctd_on_every_sflow_capture() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<_> = std::fs::read_dir(data.join("flow/sflow"))
        .expect("sflow dir")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 15);
    let compared: usize = common::on_four_workers(&cases, work.path(), |pcap, dir| {
        let case = pcap
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let ours = rows(OURS, pcap, dir);
        let reference = rows(REFERENCE, pcap, dir);
        assert_eq!(as_reference(&case, ours), reference, "{case}");
        usize::from(!reference.is_empty())
    })
    .into_iter()
    .sum();
    // Captures with flow samples (one holds counter samples only; 1.7.7 drops the QinQ one).
    assert_eq!(compared, 13);
}

/// The documented differences, exactly: a QinQ sample is accounted with both tags' inner
/// VLAN, and an IPv6 packet's traffic class is its `tos`.
#[test]
fn qinq_and_ipv6_traffic_class_as_documented() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let qinq = rows(
        OURS,
        &data.join("flow/sflow/akvorado__data-qinq.pcap"),
        work.path(),
    );
    assert_eq!(
        qinq,
        [
            "4c:ae:a3:52:0f:f6,00:01:10:62:14:93,1062,172.17.128.58,369098852,369098851,49.49.49.2,49.49.49.109,32017,443,16,tcp,0,1,106",
            "SRC_MAC,DST_MAC,VLAN,PEER_SRC_IP,IN_IFACE,OUT_IFACE,SRC_IP,DST_IP,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,TOS,PACKETS,BYTES",
        ]
    );
    let v6 = rows(
        OURS,
        &data.join("flow/sflow/akvorado__data-1140.pcap"),
        work.path(),
    );
    assert!(v6.contains(&"24:6e:96:90:7a:50,24:6e:96:04:3c:08,100,172.16.0.3,27,28,2a0c:8880:2:0:185:21:130:38,2a0c:8880:2:0:185:21:130:39,46026,22,16,tcp,8,3,4554".to_string()), "{v6:?}");
}

/// aggregate_filter matches the sampled frame's own bytes, with the VLAN a switch reports (and
/// stripped) as an 802.1Q tag: the same rows as Debian's sfacctd 1.7.7 for each filter.
#[test]
fn aggregate_filters_see_the_sampled_frames_as_debian_sfacctd_does() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let captures = [
        "akvorado__data-1140.pcap",
        "akvorado__data-discard-interface.pcap",
        "akvorado__data-sflow-ipv4-data.pcap",
        "akvorado__data-icmpv6.pcap",
        "tcpdump__sflow_expanded.pcap",
        "ndpi__sflow.pcap",
    ];
    let filters = ["vlan 100", "vlan and tcp port 22", "not vlan"];
    let aggregate = "peer_src_ip, vlan, src_host, dst_host, src_port, dst_port, proto";
    let jobs: Vec<(&str, &str)> = captures
        .iter()
        .flat_map(|c| filters.iter().map(move |f| (*c, *f)))
        .collect();
    let matched: Vec<(&str, usize)> =
        common::on_four_workers(&jobs, work.path(), |(capture, filter), dir| {
            let pcap = data.join("flow/sflow").join(capture);
            let extra = format!("aggregate_filter[p]: {filter}\n");
            let ours = rows_with(OURS, &pcap, dir, aggregate, &extra);
            let reference = rows_with(REFERENCE, &pcap, dir, aggregate, &extra);
            assert_eq!(ours, reference, "{capture}, aggregate_filter '{filter}'");
            (*filter, ours.len().saturating_sub(1))
        });
    // Rows each filter lets through, over the captures.
    let through = |f: &str| -> usize {
        matched
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(filters.map(through), [3, 3, 1], "{matched:?}");
}
