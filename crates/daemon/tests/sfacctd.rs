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

/// The sFlow captures of the test data, sorted.
fn captures(data: &Path) -> Vec<std::path::PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(data.join("flow/sflow"))
        .expect("sflow dir")
        .map(|e| e.expect("entry").path())
        .collect();
    cases.sort();
    cases
}

#[test]
fn rows_equal_debian_sfacctd_on_every_sflow_capture() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let cases = captures(&data);
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

/// Packets and bytes of a pcap file's frames (their length on the wire), and the sum of the
/// squared lengths.
fn frame_totals(pcap: &Path) -> (u64, u64, f64) {
    let d = std::fs::read(pcap).expect("pcap");
    let (mut at, mut packets, mut bytes, mut squares) = (24, 0, 0, 0.0);
    while at + 16 <= d.len() {
        let word = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        let (captured, wire) = (word(at + 8) as usize, u64::from(word(at + 12)));
        packets += 1;
        bytes += wire;
        squares += (wire * wire) as f64;
        at += 16 + captured;
    }
    (packets, bytes, squares)
}

/// The sum of two csv columns from the end (packets, bytes) over rows, header skipped.
fn column_totals(rows: &[String]) -> (u64, u64) {
    rows.iter()
        .filter_map(|r| {
            let f: Vec<&str> = r.rsplitn(3, ',').collect();
            Some((
                f.get(1)?.parse::<u64>().ok()?,
                f.first()?.parse::<u64>().ok()?,
            ))
        })
        .fold((0, 0), |(p, b), (rp, rb)| (p + rp, b + rb))
}

/// sFlow that Debian's pmacctd (its sfprobe plugin, one packet in 10 at random) exports for a
/// generated capture: our rows are Debian's sfacctd's, as sent and renormalized (both take
/// each sample's rate from the sample pool: packets seen since the source's previous sample),
/// and the renormalized totals are the capture's: packets within 10 rates (the pools add up
/// to the packets seen up to the last sample), bytes within 5 standard errors of 1-in-10
/// random sampling.
#[test]
fn sfprobe_exports_give_debian_sfacctds_rows_and_the_captures_totals() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 30_000, 300, 300);
    let (true_packets, true_bytes, squares) = frame_totals(&packets);
    assert_eq!(true_packets, 30_000);
    let aggregate = "src_host, dst_host, src_port, dst_port, proto, peer_src_ip, in_iface, \
                     out_iface, sampling_rate";
    // Under load 1.7.7's pmacctd sometimes stops exporting before the end of the capture:
    // the exports are made again, up to 4 times, until they cover it.
    let mut totals = Vec::new();
    for attempt in 0..4 {
        let dir = work.path().join(format!("{attempt}"));
        std::fs::create_dir(&dir).expect("dir");
        let (pcap, datagrams) = common::probe_exports(
            &packets,
            "plugins: sfprobe\nsampling_rate: 10\nsfprobe_receiver",
            &dir,
        );
        assert!(datagrams > 100, "{datagrams} datagrams");
        // As sent, renormalized by the sample pools, and by sfacctd_ext_sampling_rate instead.
        let ext = "sfacctd_ext_sampling_rate: 7\nsfacctd_renormalize: true\n";
        let runs: Vec<Vec<String>> = ["", "sfacctd_renormalize: true\n", ext]
            .iter()
            .map(|extra| {
                let ours = rows_with(OURS, &pcap, &dir, aggregate, extra);
                let reference = rows_with(REFERENCE, &pcap, &dir, aggregate, extra);
                assert_eq!(ours, reference, "'{extra}'");
                ours
            })
            .collect();
        // As sent, each sample is one packet; with the external rate, seven.
        assert_eq!(column_totals(&runs[2]).0, 7 * column_totals(&runs[0]).0);
        let renormalized = &runs[1];
        let (got_packets, got_bytes) = column_totals(renormalized);
        totals.push((got_packets, got_bytes));
        if got_packets.abs_diff(true_packets) <= 100 {
            break;
        }
    }
    let Some(&(got_packets, got_bytes)) = totals.last() else {
        panic!("no exports")
    };
    assert!(
        got_packets.abs_diff(true_packets) <= 100,
        "packets of {true_packets}: {totals:?}"
    );
    let standard_error = (squares * 9.0).sqrt();
    assert!(
        (got_bytes.abs_diff(true_bytes) as f64) <= 5.0 * standard_error,
        "{got_bytes} bytes of {true_bytes} (standard error {standard_error:.0})"
    );
}

/// sfacctd_counter_file: every counter sample of the captures, one file per agent, with the
/// values tshark decodes (generic interface and Ethernet counters), and for IPv4 agents the
/// same typed lines as Debian's sfacctd 1.7.7 writes (but `seq` and `timestamp`).
#[test]
fn counter_file_holds_tsharks_values_and_debians_lines() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let generic = [
        "ifindex",
        "iftype",
        "ifspeed",
        "ifdirection",
        "ifadmin_status",
        "ifoper_status",
        "ifinoct",
        "ifinpkt",
        "ifinmcast",
        "ifinbcast",
        "ifindisc",
        "ifinerr",
        "ifinunk",
        "ifoutoct",
        "ifoutpkt",
        "ifoutmcast",
        "ifoutbcast",
        "ifoutdisc",
        "ifouterr",
        "ifpromisc",
    ];
    let ethernet = [
        "AlignmentErrors",
        "FCSErrors",
        "SingleCollisionFrames",
        "MultipleCollisionFrames",
        "SQETestErrors",
        "DeferredTransmissions",
        "LateCollisions",
        "ExcessiveCollisions",
        "InternalMacTransmitErrors",
        "CarrierSenseErrors",
        "FrameTooLongs",
        "InternalMacReceiveErrors",
        "SymbolErrors",
    ];
    let cases = [
        ("tcpdump__sflow_multiple_counter_30_pdus.pcap", 142, 6),
        ("ndpi__sflow.pcap", 8, 1),
        ("tcpdump__sflow-print-v6.pcap", 48, 1),
    ];
    for (case, generic_records, agents) in cases {
        let pcap = data.join("flow/sflow").join(case);
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = counter_files(OURS, &pcap, &dir.path().join("ours"));
        assert_eq!(ours.len(), agents, "{case}: {:?}", ours.keys());
        // ifStatus as tshark gives it: in its two bits.
        let lines: Vec<serde_json::Value> = ours
            .values()
            .flatten()
            .cloned()
            .map(|mut l| {
                let status = l["ifStatus"].as_u64().unwrap_or(0);
                l["ifAdmin"] = (status & 1).into();
                l["ifOper"] = (status >> 1 & 1).into();
                l
            })
            .collect();
        let mine = |kind: &str, names: &[&str]| -> Vec<Vec<u64>> {
            let mut v: Vec<Vec<u64>> = lines
                .iter()
                .filter(|l| l["sf_cnt_type"] == kind)
                .map(|l| names.iter().map(|n| l[*n].as_u64().expect(n)).collect())
                .collect();
            v.sort();
            v
        };
        let json_generic = [
            "ifIndex",
            "ifType",
            "ifSpeed",
            "ifDirection",
            "ifAdmin",
            "ifOper",
            "ifInOctets",
            "ifInUcastPkts",
            "ifInMulticastPkts",
            "ifInBroadcastPkts",
            "ifInDiscards",
            "ifInErrors",
            "ifInUnknownProtos",
            "ifOutOctets",
            "ifOutUcastPkts",
            "ifOutMulticastPkts",
            "ifOutBroadcastPkts",
            "ifOutDiscards",
            "ifOutErrors",
            "ifPromiscuousMode",
        ];
        let got_generic = mine("sflow_cnt_generic", &json_generic);
        let fields: Vec<String> = generic.iter().map(|f| format!("sflow_245.{f}")).collect();
        let want_generic = tshark_records(&pcap, &fields);
        assert_eq!(got_generic.len(), generic_records, "{case}");
        assert_eq!(
            got_generic, want_generic,
            "{case}: generic interface counters"
        );
        let dot3: Vec<String> = ethernet.iter().map(|f| format!("dot3Stats{f}")).collect();
        let dot3_names: Vec<&str> = dot3.iter().map(String::as_str).collect();
        let fields: Vec<String> = dot3.iter().map(|f| format!("sflow_245.{f}")).collect();
        assert_eq!(
            mine("sflow_cnt_ethernet", &dot3_names),
            tshark_records(&pcap, &fields),
            "{case}: Ethernet counters"
        );
        if case.contains("v6") {
            // 1.7.7 names the file and the agent 0.48.0.0 (difference 69).
            assert_eq!(ours.keys().collect::<Vec<_>>(), ["c-30__1_1_1.json"]);
            assert!(ours
                .values()
                .flatten()
                .skip(1)
                .all(|l| l["peer_ip_src"] == "30::1:1:1"));
            continue;
        }
        let theirs = counter_files(REFERENCE, &pcap, &dir.path().join("theirs"));
        let typed = |files: &std::collections::BTreeMap<String, Vec<serde_json::Value>>| {
            files
                .iter()
                .map(|(name, lines)| {
                    let typed: Vec<serde_json::Value> = lines
                        .iter()
                        .filter(|l| l.get("sf_cnt_type").is_some())
                        .map(|l| {
                            let mut l = l.clone();
                            if let Some(m) = l.as_object_mut() {
                                m.remove("seq");
                                m.remove("timestamp");
                            }
                            l
                        })
                        .collect();
                    (name.clone(), typed)
                })
                .filter(|(_, typed)| !typed.is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(typed(&ours), typed(&theirs), "{case}");
    }
}

/// The counter files `program` writes for a capture, by file name, as JSON lines.
fn counter_files(
    program: &str,
    pcap: &Path,
    dir: &Path,
) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    std::fs::create_dir_all(dir).expect("dir");
    let extra = format!(
        "sfacctd_counter_file: {}/c-$peer_src_ip.json\n",
        dir.display()
    );
    rows_with(program, pcap, dir, "src_host", &extra);
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("counter file");
            let lines = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect();
            (
                p.file_name().expect("name").to_string_lossy().to_string(),
                lines,
            )
        })
        .collect()
}

/// tshark's values of `fields` for every record that has them (frames tshark finds malformed
/// left out), sorted.
fn tshark_records(pcap: &Path, fields: &[String]) -> Vec<Vec<u64>> {
    let mut args = vec![
        "-r".to_string(),
        pcap.display().to_string(),
        "-d".into(),
        "udp.port==6343,sflow".into(),
        "-Y".into(),
        "!_ws.malformed".into(),
        "-T".into(),
        "fields".into(),
        "-E".into(),
        "occurrence=a".into(),
        "-E".into(),
        "separator=|".into(),
    ];
    for f in fields {
        args.push("-e".into());
        args.push(f.clone());
    }
    let out = Command::new("tshark")
        .args(&args)
        .output()
        .expect("tshark (apt-get install tshark)");
    let mut records = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let columns: Vec<Vec<&str>> = line.split('|').map(|c| c.split(',').collect()).collect();
        let n = columns
            .first()
            .map_or(0, |c| c.iter().filter(|v| !v.is_empty()).count());
        for i in 0..n {
            records.push(
                columns
                    .iter()
                    .map(|c| {
                        c.get(i)
                            .and_then(|v| v.parse().ok())
                            .expect("a tshark value")
                    })
                    .collect(),
            );
        }
    }
    records.sort();
    records
}

/// decode_vxlan (a pmacct-rs key): a VXLAN sampled header is accounted by its inner frame,
/// which the filters see too; the sample's packets and bytes stay the outer frame's. Without
/// it, the outer UDP packet, as 1.7.7 (checked with every capture above).
#[test]
fn decode_vxlan_accounts_the_inner_frame() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/sflow/akvorado__data-encap-vxlan.pcap");
    let aggregate = "src_mac, dst_mac, vlan, src_host, dst_host, src_port, dst_port, proto, vxlan";
    let header =
        "SRC_MAC,DST_MAC,VLAN,SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,VXLAN,PACKETS,BYTES";
    // The VNI (100) either way.
    let outer = "00:17:08:7d:77:42,30:e4:db:3e:33:7f,0,192.168.108.40,192.168.15.14,45833,4789,udp,100,1,172";
    let inner =
        "ca:6e:98:f8:49:8f,01:02:03:04:05:06,0,2001:db8:4::1,2001:db8:4::3,0,0,ipv6-icmp,100,1,172";
    let run = |extra: &str| rows_with(OURS, &pcap, work.path(), aggregate, extra);
    assert_eq!(run(""), [outer, header]);
    // Sorted: upper case first.
    assert_eq!(run("decode_vxlan: true\n"), [header, inner]);
    assert_eq!(
        run("decode_vxlan: true\naggregate_filter[p]: icmp6\n"),
        [header, inner]
    );
    // Nothing passes: no rows, no header.
    assert!(run("aggregate_filter[p]: icmp6\n").is_empty());
}

/// sfacctd_net and sfacctd_as (sflow: the extended router and gateway records; file; longest)
/// give Debian's sfacctd 1.7.7's nets, masks and ASes.
#[test]
fn sfacctd_net_and_as_sources_give_debian_sfacctds_rows() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let networks = work.path().join("networks.txt");
    std::fs::write(
        &networks,
        "65001,45.90.0.0/16\n65002,104.26.8.0/24\n64512,10.0.0.0/8\n2a0c:8880::/32\n",
    )
    .expect("networks_file");
    let captures = [
        "akvorado__data-1140.pcap",
        "akvorado__data-sflow-ipv4-data.pcap",
        "akvorado__data-sflow-expanded-sample.pcap",
        "tcpdump__sflow-print-v6.pcap",
    ];
    let modes = ["sflow", "file", "longest"];
    let jobs: Vec<(&str, &str)> = captures
        .iter()
        .flat_map(|c| modes.iter().map(move |m| (*c, *m)))
        .collect();
    let aggregate = "src_host, dst_host, src_net, dst_net, src_mask, dst_mask, src_as, dst_as";
    let rows: Vec<usize> = common::on_four_workers(&jobs, work.path(), |(capture, mode), dir| {
        let pcap = data.join("flow/sflow").join(capture);
        let extra = format!(
            "sfacctd_net: {mode}\nsfacctd_as: {mode}\nnetworks_file: {}\n",
            networks.display()
        );
        let ours = rows_with(OURS, &pcap, dir, aggregate, &extra);
        let reference = rows_with(REFERENCE, &pcap, dir, aggregate, &extra);
        assert_eq!(ours, reference, "{capture}, {mode}");
        ours.len().saturating_sub(1)
    });
    // Rows per mode: 3, 1, 1 and 1 (the last three captures: one pair of hosts each).
    assert_eq!(rows.iter().sum::<usize>(), 3 * (3 + 1 + 1 + 1), "{rows:?}");
}

/// CoS, ethertype, the VXLAN VNI (`vxlan`), sampling rate and the export primitives give
/// Debian's sfacctd 1.7.7's rows on every sFlow capture (but the QinQ one, difference 67).
#[test]
fn l2_vxlan_and_export_primitives_equal_debian_sfacctds() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let mut cases = captures(&data);
    cases.retain(|p| !p.ends_with("akvorado__data-qinq.pcap"));
    assert_eq!(cases.len(), 14);
    let aggregate = "cos, etype, vxlan, sampling_rate, export_proto_version, \
                     export_proto_sysid, export_proto_seqno, src_host, dst_host";
    let rows: usize = common::on_four_workers(&cases, work.path(), |pcap, dir| {
        let ours = rows_with(OURS, pcap, dir, aggregate, "");
        let reference = rows_with(REFERENCE, pcap, dir, aggregate, "");
        assert_eq!(ours, reference, "{}", pcap.display());
        ours.iter().filter(|r| r.contains(",100,")).count()
    })
    .into_iter()
    .sum();
    // The VXLAN capture's VNI.
    assert_eq!(rows, 1);
}

/// The configuration docs/sfacctd.md shows runs: read on a capture (its socket replaced by
/// the file), its CSV file holds the capture's rows with the columns the docs name.
#[test]
fn the_docs_example_runs() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sfacctd.md"),
    )
    .expect("docs/sfacctd.md");
    let example = doc
        .split("```\n")
        .find(|b| b.starts_with("! /etc/pmacct/sfacctd.conf"))
        .expect("the example");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sflow.csv");
    let pcap = data.join("flow/sflow/akvorado__data-1140.pcap");
    let mut cfg = String::new();
    for line in example.lines() {
        match line {
            l if l.starts_with("sfacctd_port:") => {
                cfg.push_str(&format!("pcap_savefile: {}\n", pcap.display()))
            }
            l if l.starts_with("print_output_file[p]:") => {
                cfg.push_str(&format!("print_output_file[p]: {}\n", out.display()))
            }
            l => {
                cfg.push_str(l);
                cfg.push('\n');
            }
        }
    }
    let path = dir.path().join("sfacctd.conf");
    std::fs::write(&path, cfg).expect("config");
    let run = Command::new(OURS)
        .arg("-f")
        .arg(&path)
        .output()
        .expect("sfacctd");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    let text = std::fs::read_to_string(&out).expect("the CSV file");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("VLAN,PEER_SRC_IP,IN_IFACE,OUT_IFACE,SRC_IP,DST_IP,PROTOCOL,PACKETS,BYTES")
    );
    assert_eq!(lines.count(), 3, "{text}");
}

/// `peer_dst_ip` (the extended gateway record's next hop): 1.7.7's rows, but a sample without
/// the record prints `0.0.0.0` where 1.7.7 prints nothing (difference 72).
#[test]
fn peer_dst_ip_is_the_gateway_next_hop_or_zero() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/sflow/akvorado__data-1140.pcap");
    let aggregate = "src_host, peer_dst_ip";
    let ours = rows_with(OURS, &pcap, work.path(), aggregate, "");
    let mut reference: Vec<String> = rows_with(REFERENCE, &pcap, work.path(), aggregate, "")
        .into_iter()
        .map(|r| match r.strip_prefix(',') {
            Some(rest) => format!("0.0.0.0,{rest}"),
            None => r,
        })
        .collect();
    reference.sort();
    assert_eq!(ours, reference);
    assert_eq!(
        ours,
        [
            "0.0.0.0,104.26.8.24,1,439",
            "0.0.0.0,2a0c:8880:2:0:185:21:130:38,3,4554",
            "31.14.69.110,45.90.161.148,1,64",
            "PEER_DST_IP,SRC_IP,PACKETS,BYTES",
        ]
    );
}
