//! nfacctd against Debian's nfacctd 1.7.7 on every NetFlow v5, v9 and IPFIX capture of
//! ../shared/testdata/flow (template and data captures of one exporter read as one file): the
//! same rows on 5-tuple + peer_src_ip + in_iface/out_iface, with and without 1-minute bins,
//! except where 1.7.7 loses records (each case listed with its count).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const OURS: &str = env!("CARGO_BIN_EXE_nfacctd");
const REFERENCE: &str = "/usr/sbin/nfacctd";

const AGGREGATE: &str =
    "peer_src_ip, src_host, dst_host, src_port, dst_port, proto, in_iface, out_iface";

/// Rows per key (JSON objects without their write time), counted.
type Rows = BTreeMap<String, usize>;

/// The rows of a JSON output. `reference`: 1.7.7's time bins corrected where it puts a flow
/// that starts in a minute's first second into the previous minute (difference 4).
fn rows(json: &str, reference: bool) -> Rows {
    let mut out = Rows::new();
    for line in json.lines() {
        let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(line) else {
            continue;
        };
        m.remove("stamp_updated");
        // A sampled frame without an IP header: 1.7.7 prints no address, we print 0.0.0.0
        // (docs/differences.md 66).
        for k in ["ip_src", "ip_dst"] {
            if reference && m.get(k).and_then(|v| v.as_str()) == Some("") {
                m.insert(k.into(), "0.0.0.0".into());
            }
        }
        if let (true, Some(start), Some(stamp)) = (
            reference,
            m.get("timestamp_start")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            m.get("stamp_inserted")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        ) {
            // "2025-06-04 15:09:00.545000" in the bin "2025-06-04 15:08:00".
            if start.get(17..19) == Some("00") && stamp.get(..16) != start.get(..16) {
                let fixed = format!("{}:00", &start[..16]);
                m.insert("stamp_inserted".into(), fixed.into());
            }
        }
        // Records without counters (NAT events): 1.7.7 leaves packets and bytes out of the
        // object, we print them as 0 (one schema for every row; docs/differences.md).
        let zero = serde_json::Value::from(0);
        if m.get("packets").is_none_or(|v| *v == zero) && m.get("bytes").is_none_or(|v| *v == zero)
        {
            m.remove("packets");
            m.remove("bytes");
        }
        *out.entry(serde_json::Value::Object(m).to_string())
            .or_default() += 1;
    }
    out
}

fn run(program: &str, dir: &Path, pcap: &Path, bins: bool) -> Rows {
    let cfg = dir.join(format!("{}.conf", bins));
    // With bins, timestamp_start shows where 1.7.7 misplaces a flow. Without, one purge at
    // the end: 1.7.7 purges on the wall clock's minutes, so a read that spans one (a loaded
    // machine) would split its rows in two.
    let (history, start) = if bins {
        (
            "print_history[p]: 1m\nprint_history_roundoff[p]: m\nprint_refresh_time[p]: 86400\n",
            ", timestamp_start",
        )
    } else {
        ("print_refresh_time[p]: 86400\n", "")
    };
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: {AGGREGATE}{start}\nprint_output[p]: json\n{history}",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&cfg)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (apt-get install pmacct)"));
    rows(&String::from_utf8_lossy(&out.stdout), program == REFERENCE)
}

/// One pcap file holding the frames of `parts` in order (all with the first one's link type).
fn concatenate(parts: &[PathBuf], to: &Path) {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let bytes = std::fs::read(p).expect("capture");
        out.extend_from_slice(if i == 0 { &bytes } else { &bytes[24..] });
    }
    std::fs::write(to, out).expect("write");
}

/// The captures to compare: single files, and template captures followed by their data.
fn cases(flow: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for dir in ["netflow-v5", "netflow-v9", "ipfix"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(flow.join(dir))
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        for p in &names {
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            out.push((name.clone(), vec![p.clone()]));
            for suffix in ["-template.pcap", "-templates.pcap"] {
                if let Some(stem) = name.strip_suffix(suffix) {
                    let data = p.with_file_name(format!("{stem}-data.pcap"));
                    if data.exists() {
                        out.push((format!("{stem} template+data"), vec![p.clone(), data]));
                    }
                }
            }
        }
    }
    out
}

/// Rows only we have, per case: the records Debian's 1.7.7 loses.
fn expected_extra(case: &str) -> usize {
    match case {
        // Data sets before their template in the same datagram: held and decoded once the
        // template comes (1.7.7 drops them).
        "akvorado__data+templates.pcap" => 11,
        // A data set that arrives (in capture order) before its template: held, decoded; pmacct's
        // own regression expectation (oracle/pmacct/106-*) lists the row too.
        "pmacct__106__traffic-00.pcap" => 1,
        _ => 0,
    }
}

/// How a case is compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compare {
    Rows,
    /// Totals per key without times (timestamp_start, stamp_inserted): the flows' times differ,
    /// and so does how a key's traffic is split into bins.
    WithoutTimes,
    /// Not compared (what differs is said where this is returned).
    No,
}

fn how(case: &str, bins: bool) -> Compare {
    match (case, bins) {
        // flowStartMicroseconds (NTP, IE 154): we read it; 1.7.7 ignores it and uses the
        // export time (difference 59).
        ("akvorado__ipfixprobe template+data", true) => Compare::WithoutTimes,
        // IPFIX FIRST/LAST_SWITCHED with systemInitTimeMilliseconds from options data: we add
        // them (to the millisecond); 1.7.7 gives other times, up to 16 s apart. Open: not yet
        // understood.
        (
            "pmacct__112__traffic-00.pcap"
            | "pmacct__401__traffic-00.pcap"
            | "pmacct__500__traffic-00.pcap",
            true,
        ) => Compare::WithoutTimes,
        _ => Compare::Rows,
    }
}

/// Packets and bytes per key, times left out (each key once, with its totals).
fn without_times(rows: Rows) -> Rows {
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (k, n) in rows {
        let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(&k) else {
            continue;
        };
        m.remove("timestamp_start");
        m.remove("stamp_inserted");
        let count = |m: &mut serde_json::Map<String, serde_json::Value>, f: &str| {
            m.remove(f).and_then(|v| v.as_u64()).unwrap_or(0) * n as u64
        };
        let (p, b) = (count(&mut m, "packets"), count(&mut m, "bytes"));
        let t = totals
            .entry(serde_json::Value::Object(m).to_string())
            .or_default();
        (t.0, t.1) = (t.0 + p, t.1 + b);
    }
    totals
        .into_iter()
        .map(|(k, (p, b))| (format!("{k} packets={p} bytes={b}"), 1))
        .collect()
}

/// Compares one case with and without bins; the number of comparisons with rows.
fn compare(case: &str, parts: &[PathBuf], dir: &Path) -> usize {
    let pcap = dir.join("case.pcap");
    concatenate(parts, &pcap);
    let mut nonempty = 0;
    for bins in [false, true] {
        let mode = how(case, bins);
        if mode == Compare::No {
            continue;
        }
        let mut reference = run(REFERENCE, dir, &pcap, bins);
        let mut ours = run(OURS, dir, &pcap, bins);
        if mode == Compare::WithoutTimes {
            (reference, ours) = (without_times(reference), without_times(ours));
        }
        let missing: Vec<&String> = reference
            .keys()
            .filter(|k| ours.get(*k) != reference.get(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "{case} (bins {bins}): rows of 1.7.7 we lack or count differently: {missing:#?}"
        );
        let extra: usize = ours
            .iter()
            .filter(|(k, _)| !reference.contains_key(*k))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            extra,
            expected_extra(case),
            "{case} (bins {bins}): rows only we have: {ours:#?}"
        );
        nonempty += usize::from(!ours.is_empty());
    }
    nonempty
}

#[test]
fn rows_equal_debian_nfacctd_on_every_flow_capture() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let cases = cases(&data.join("flow"));
    // 39 captures and 10 template + data pairs.
    assert_eq!(cases.len(), 49);
    let nonempty: usize = common::on_four_workers(&cases, work.path(), |(case, parts), dir| {
        compare(case, parts, dir)
    })
    .into_iter()
    .sum();
    // Comparisons where the capture gives rows (a template alone, or data alone, gives none).
    assert_eq!(nonempty, 2 * 24, "{nonempty}");
}

/// A pre_tag_map of nfacctd's flow keys: exporter prefix, interfaces (one negated), AS
/// numbers, engine id, next hops the records do not carry (compared as 0.0.0.0), a jump.
const FLOW_MAP: &str = "\
set_tag=1 ip=138.187.57.0/24 in=143 out=-138
set_tag=2 ip=10.0.0.0/8
set_tag=3 out=141 jeq=more
set_tag=4 engine_id=0 in=-176 src_as=0 dst_as=0 nexthop=0.0.0.0
set_tag2=9 label=more
set_label=v5 engine_type=0 bgp_nexthop=0.0.0.0 in=0
set_tag=6
";

fn tagged_rows(program: &str, dir: &Path, pcap: &Path) -> Vec<String> {
    let map = dir.join("pretag.map");
    std::fs::write(&map, FLOW_MAP).expect("map");
    let cfg = dir.join("tags.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npre_tag_map: {}\nplugins: print[p]\nprint_output[p]: csv\n\
             aggregate[p]: tag, tag2, label, peer_src_ip, in_iface, out_iface, proto, src_as, dst_as\n",
            pcap.display(),
            map.display()
        ),
    )
    .expect("config");
    sorted_lines(program, &cfg)
}

/// The lines `program -f cfg` prints, sorted; one purge at the end (1.7.7 purges on the wall
/// clock's minutes, which a read on a loaded machine may span, splitting its rows).
fn sorted_lines(program: &str, cfg: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(cfg).expect("config");
    let once = cfg.with_extension(format!(
        "{}.conf",
        Path::new(program)
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy())
    ));
    std::fs::write(&once, format!("print_refresh_time: 86400\n{text}")).expect("config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&once)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

#[test]
fn pre_tag_map_flow_keys_tag_as_debian_nfacctd_does() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    // (capture, rows per tag as "tag,tag2,label": count)
    let cases: [(&str, &[(&str, usize)]); 3] = [
        (
            "netflow-v9/pmacct__101__traffic-00.pcap",
            &[("1,0,", 2), ("3,9,", 2), ("4,0,", 6), ("0,9,", 1)],
        ),
        ("netflow-v5/akvorado__nfv5.pcap", &[("2,0,", 22)]),
        ("ipfix/pmacct__100__traffic-00.pcap", &[("0,9,", 2)]),
    ];
    for (capture, tags) in cases {
        let pcap = data.join("flow").join(capture);
        let ours = tagged_rows(OURS, work.path(), &pcap);
        let reference = tagged_rows(REFERENCE, work.path(), &pcap);
        assert_eq!(ours, reference, "{capture}");
        let mut counted: BTreeMap<String, usize> = BTreeMap::new();
        for row in ours.iter().filter(|r| !r.starts_with("TAG")) {
            let tag: Vec<&str> = row.splitn(4, ',').take(3).collect();
            *counted.entry(tag.join(",")).or_default() += 1;
        }
        let want: BTreeMap<String, usize> = tags.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(counted, want, "{capture}");
    }
}

#[test]
fn pre_tag_map_filters_match_the_flow_where_debian_nfacctd_never_matches() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let map = work.path().join("pretag.map");
    std::fs::write(
        &map,
        "set_tag=1 filter='tcp and src port 10000'\nset_tag=2 filter='udp'\nset_tag=3\n",
    )
    .expect("map");
    let cfg = work.path().join("filters.conf");
    let pcap = data.join("flow/netflow-v9/pmacct__101__traffic-00.pcap");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npre_tag_map: {}\nplugins: print[p]\nprint_output[p]: csv\naggregate[p]: tag, proto\nprint_refresh_time[p]: 86400\n",
            pcap.display(),
            map.display()
        ),
    )
    .expect("config");
    let csv = |program: &str| {
        let out = Command::new(program)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("run");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Ours: each record's made-up header (as for aggregate_filter) is matched; the 40 packets
    // from port 10000 are the capture's (its proto, src_port rows say so).
    assert_eq!(
        csv(OURS),
        "TAG,PROTOCOL,PACKETS,BYTES\n1,tcp,40,3154\n2,udp,3,176\n3,tcp,13,1170\n"
    );
    // 1.7.7: a filter in nfacctd's map never matches (difference 60).
    let reference = csv(REFERENCE);
    let mut rows: Vec<&str> = reference.lines().skip(1).collect();
    rows.sort();
    assert_eq!(rows, ["3,tcp,53,4324", "3,udp,3,176"]);
}

/// nfacctd_net and nfacctd_as: each source (the flow's, networks_file's, networks_mask, the
/// longest of the file's and the flow's) as 1.7.7 takes them, on v5, v9 and IPFIX captures.
#[test]
fn networks_and_as_numbers_come_from_where_nfacctd_net_and_nfacctd_as_say() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let nets = work.path().join("networks.lst");
    // Longer and shorter than the flows' own masks (pmacct__100: /20 and /30), with and
    // without an AS.
    std::fs::write(
        &nets,
        "65001,10.237.0.0/16\n65002,10.237.16.0/24\n65003,10.192.12.0/24\n138.187.0.0/16\n",
    )
    .expect("networks");
    let modes = [
        "",
        "nfacctd_net: file\n",
        "nfacctd_net: longest\nnfacctd_as: longest\n",
        "nfacctd_as: file\n",
        "nfacctd_as: longest\n",
        "nfacctd_net: mask\nnetworks_mask: 12\n",
    ];
    let captures = [
        "ipfix/pmacct__100__traffic-00.pcap",
        "netflow-v5/akvorado__nfv5.pcap",
        "ipfix/pmacct__111__traffic-01.pcap",
    ];
    let jobs: Vec<(usize, &str, &str)> = captures
        .iter()
        .flat_map(|c| modes.iter().map(move |m| (*c, *m)))
        .enumerate()
        .map(|(i, (c, m))| (i, c, m))
        .collect();
    // Six at a time: each run mostly waits for the daemons to start and stop.
    let results: Vec<(&str, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(3)
            .map(|chunk| {
                let (work, nets, data) = (work.path(), &nets, &data);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(i, capture, mode)| {
                            let cfg = work.join(format!("nets-{i}.conf"));
                            std::fs::write(
                                &cfg,
                                format!(
                                    "pcap_savefile: {}\nnetworks_file: {}\n{mode}plugins: print\nprint_output: csv\n\
                                     aggregate: src_host, dst_host, src_net, dst_net, src_mask, dst_mask, src_as, dst_as\n",
                                    data.join("flow").join(capture).display(),
                                    nets.display()
                                ),
                            )
                            .expect("config");
                            let ours = sorted_lines(OURS, &cfg);
                            assert!(ours.len() > 1, "{capture} {mode}");
                            assert_eq!(
                                ours,
                                sorted_lines(REFERENCE, &cfg),
                                "{capture} with {mode:?}"
                            );
                            (*capture, ours)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let distinct: std::collections::BTreeSet<&Vec<String>> = results
        .iter()
        .filter(|(c, _)| c.contains("__100__"))
        .map(|(_, rows)| rows)
        .collect();
    // Each mode gives other rows on the IPFIX capture: the sources really differ.
    assert_eq!(distinct.len(), modes.len());
}

/// Packets and bytes per 5-tuple (all bins together), and the rows per bin.
fn pro_rated_totals(
    program: &str,
    dir: &Path,
    pcap: &Path,
    bins: &str,
) -> (BTreeMap<String, (u64, u64)>, Vec<String>) {
    let cfg = dir.join("pro.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print\nprint_output: json\n{bins}\
             aggregate: src_host, dst_host, src_port, dst_port, proto\n",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&cfg)
        .env("TZ", "UTC")
        .output()
        .expect("run");
    let mut totals = BTreeMap::new();
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(line) else {
            continue;
        };
        let n = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
            m.get(k).and_then(|v| v.as_u64()).unwrap_or(0)
        };
        let (packets, bytes) = (n(&m, "packets"), n(&m, "bytes"));
        let stamp = m
            .remove("stamp_inserted")
            .map(|v| v.to_string())
            .unwrap_or_default();
        for k in ["packets", "bytes", "stamp_updated", "event_type"] {
            m.remove(k);
        }
        let key = serde_json::Value::Object(m).to_string();
        rows.push(format!("{stamp} {key} {packets} {bytes}"));
        let e = totals.entry(key).or_insert((0, 0));
        e.0 += packets;
        e.1 += bytes;
    }
    rows.sort();
    (totals, rows)
}

/// nfacctd_pro_rating: a flow's packets and bytes shared among the minutes it spans, the
/// totals kept exactly; 1.7.7 counts some flows twice and drops rounding remainders.
#[test]
fn pro_rating_shares_flows_among_their_bins_and_keeps_every_total() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let bins = "print_history: 1m\nprint_history_roundoff: m\nprint_refresh_time: 86400\n";
    let pro = format!("{bins}nfacctd_pro_rating: true\n");
    let mut cut = 0;
    for capture in [
        "ipfix/pmacct__100__traffic-00.pcap",
        "netflow-v5/akvorado__nfv5.pcap",
        "netflow-v9/pmacct__101__traffic-00.pcap",
        "ipfix/pmacct__106__traffic-00.pcap",
    ] {
        let pcap = data.join("flow").join(capture);
        let (whole, _) = pro_rated_totals(OURS, work.path(), &pcap, "");
        let (binned, plain_rows) = pro_rated_totals(OURS, work.path(), &pcap, bins);
        let (pro_rated, rows) = pro_rated_totals(OURS, work.path(), &pcap, &pro);
        assert!(!whole.is_empty(), "{capture}");
        assert_eq!(binned, whole, "{capture}: bins keep totals");
        assert_eq!(pro_rated, whole, "{capture}: pro rating keeps totals");
        cut += rows.len() - plain_rows.len();
    }
    // Flows that span minutes became more rows.
    assert!(cut > 0);
    // One flow of pmacct__100, 1677577558.5 to 1677577620.7 (5 packets, 6,890 bytes): 2 of its
    // 62 seconds in the first minute.
    let pcap = data.join("flow/ipfix/pmacct__100__traffic-00.pcap");
    let pick = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.contains("10.237.0.192"))
            .cloned()
            .collect()
    };
    let (_, rows) = pro_rated_totals(OURS, work.path(), &pcap, &pro);
    let ours = pick(&rows);
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(
        ours[0].starts_with("\"2023-02-28 09:45:00\"") && ours[0].ends_with(" 1 222"),
        "{ours:?}"
    );
    assert!(
        ours[1].starts_with("\"2023-02-28 09:46:00\"") && ours[1].ends_with(" 4 6668"),
        "{ours:?}"
    );
    // 1.7.7 (difference 62): 6,889 bytes of 6,890, and the 3-packet flow starting at
    // 1677577560.3 in both minutes.
    let (reference, _) = pro_rated_totals(REFERENCE, work.path(), &pcap, &pro);
    let of = |host: &str| {
        reference
            .iter()
            .find(|(k, _)| k.contains(host))
            .map(|(_, v)| *v)
    };
    assert_eq!(of("10.237.0.192"), Some((5, 6889)));
    assert_eq!(of("10.231.5.25"), Some((6, 660)));
}

/// IPFIX records that carry the sampled frame (dataLinkFrameSection, IE 315) and its length on
/// the wire (dataLinkFrameSize, IE 312): each frame's first bytes are decoded as a capture
/// cut by its snaplen is, so a truncated IPv4 packet still gives its addresses, ports and
/// length. Values as tshark reads them; the Ethernet-over-MPLS frame (a pseudowire control
/// word, then an inner Ethernet frame) gives its outer MACs only.
#[test]
fn sampled_frames_decode_with_their_wire_length() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let dir = data.join("flow/ipfix");
    let pcap = work.path().join("eompls.pcap");
    concatenate(
        &[
            dir.join("akvorado__ethernet-over-mpls-with-control-word-template.pcap"),
            dir.join("akvorado__ethernet-over-mpls-with-control-word-data.pcap"),
        ],
        &pcap,
    );
    let cfg = work.path().join("frames.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print\nprint_output: csv\n\
             aggregate: src_mac, dst_mac, vlan, in_iface, src_host, dst_host, src_port, dst_port, proto\n",
            pcap.display()
        ),
    )
    .expect("config");
    let rows: Vec<String> = sorted_lines(OURS, &cfg)
        .into_iter()
        .filter(|r| !r.starts_with("SRC_MAC"))
        .collect();
    assert_eq!(
        rows,
        [
            "02:00:00:00:00:04,02:00:00:00:00:03,0,1022,0.0.0.0,0.0.0.0,0,0,0,2,0",
            "02:00:00:00:00:07,02:00:00:00:00:11,1000,1091,198.51.100.19,198.51.100.20,80,43908,tcp,1,1440",
            "02:00:00:00:00:07,02:00:00:00:00:11,1000,1091,198.51.100.5,198.51.100.6,443,10000,udp,1,965",
            "02:00:00:00:00:09,02:00:00:00:00:0a,1610,1064,198.51.100.7,198.51.100.8,443,59706,tcp,1,1500",
            "02:00:00:00:00:0b,02:00:00:00:00:0a,27,1051,198.51.100.15,198.51.100.16,443,6921,tcp,1,1500",
            "02:00:00:00:00:0b,02:00:00:00:00:0c,27,1051,198.51.100.9,198.51.100.10,443,1470,tcp,1,1440",
            "02:00:00:00:00:0b,02:00:00:00:00:0d,27,1051,198.51.100.13,198.51.100.14,8887,57478,tcp,1,1500",
            "02:00:00:00:00:0d,02:00:00:00:00:0e,1122,1096,198.51.100.11,198.51.100.12,443,59522,tcp,1,1500",
            "02:00:00:00:00:0f,02:00:00:00:00:10,0,1087,198.51.100.17,198.51.100.18,443,64028,tcp,1,1500",
        ]
    );
}

/// nfacctd_net / nfacctd_as name a source the plugin must have; pmacct's BGP sources are
/// refused with the values that work.
#[test]
fn a_network_source_without_its_map_is_an_error() {
    let work = tempfile::tempdir().expect("tempdir");
    for (lines, want) in [
        (
            "nfacctd_net: file\n",
            "bad.conf:2: key 'nfacctd_net': plugin 'p': nfacctd_net/nfacctd_as 'file' and 'longest' need a networks_file",
        ),
        (
            "nfacctd_as: longest\n",
            "bad.conf:2: key 'nfacctd_as': plugin 'p': nfacctd_net/nfacctd_as 'file' and 'longest' need a networks_file",
        ),
        (
            "nfacctd_net: mask\n",
            "bad.conf:2: key 'nfacctd_net': plugin 'p': nfacctd_net 'mask' needs a networks_mask",
        ),
        ("nfacctd_as: bgp\n", "nfacctd_as"),
    ] {
        let cfg = work.path().join("bad.conf");
        std::fs::write(
            &cfg,
            format!("nfacctd_port: 0\n{lines}plugins: print[p]\naggregate[p]: src_net, src_as\n"),
        )
        .expect("config");
        let out = Command::new(OURS)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{lines}: {stderr}");
        assert!(stderr.contains(want), "{lines}: {stderr}");
    }
}

/// docs/nfacctd.md's "Name the routers" example, as written there.
#[test]
fn the_docs_router_example_prints_what_the_docs_say() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let (routers, sampling) = (
        work.path().join("routers.map"),
        work.path().join("sampling.map"),
    );
    std::fs::write(
        &routers,
        "set_label=edge1 ip=10.19.144.41\nset_label=other\n",
    )
    .expect("map");
    std::fs::write(&sampling, "id=100 ip=10.19.144.0/24\n").expect("map");
    let cfg = work.path().join("nf-routers.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npre_tag_map: {}\nsampling_map: {}\nplugins: print[p]\n\
             aggregate[p]: label, peer_src_ip, sampling_rate\nnfacctd_renormalize[p]: true\n\
             print_output[p]: csv\n",
            data.join("flow/netflow-v5/akvorado__nfv5.pcap").display(),
            routers.display(),
            sampling.display()
        ),
    )
    .expect("config");
    let out = Command::new(OURS)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("run");
    let doc = include_str!("../../../docs/nfacctd.md");
    let expected =
        "LABEL,PEER_SRC_IP,SAMPLING_RATE,PACKETS,BYTES\nedge1,10.19.144.41,1,7800,8834500\n";
    assert!(doc.contains(
        "   LABEL,PEER_SRC_IP,SAMPLING_RATE,PACKETS,BYTES\n   edge1,10.19.144.41,1,7800,8834500\n"
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// Custom primitives of every semantics (field 47 = mplsTopLabelIPv4Address, 4 bytes; 91 =
/// its prefix length, 1 byte; 234 = ingressVRFID, 4 bytes; 999: in no template), some with the
/// field's length, some not, printed as Debian's nfacctd prints them in csv, json and formatted.
const CUSTOM_MAP: &str = "name=vrf_id_ingress field_type=234 len=4 semantics=u_int\n\
    name=mtla field_type=47 len=4 semantics=ip\n\
    name=mtlpl field_type=91 len=1 semantics=u_int\n\
    name=mtla_hex field_type=47 len=4 semantics=hex\n\
    name=mtla_raw field_type=47 len=4 semantics=raw\n\
    name=mtla_raw8 field_type=47 len=8 semantics=raw\n\
    name=vrf_str field_type=234 len=4 semantics=str\n\
    name=mtlpl_hex field_type=91 len=1 semantics=hex\n\
    name=short_uint field_type=234 len=2 semantics=u_int\n\
    name=long_mac field_type=47 len=6 semantics=mac\n\
    name=wide_ip field_type=47 len=16 semantics=ip\n\
    name=absent_ip field_type=999 len=4 semantics=ip\n\
    name=absent_raw field_type=999 len=4 semantics=raw\n\
    name=pen_uint field_type=9:234 len=4 semantics=u_int\n";

fn custom_config(dir: &Path, pcap: &Path, map: &str, aggregate: &str, format: &str) -> PathBuf {
    let map_path = dir.join(format!("custom-{format}.map"));
    std::fs::write(&map_path, map).expect("map");
    let cfg = dir.join(format!("custom-{format}.conf"));
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\naggregate_primitives: {}\nplugins: print[p]\n\
             aggregate[p]: {aggregate}\nprint_output[p]: {format}\n",
            pcap.display(),
            map_path.display()
        ),
    )
    .expect("config");
    cfg
}

#[test]
fn custom_primitives_print_as_debian_nfacctd_prints_them() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/netflow-v9/pmacct__101__traffic-00.pcap");
    // Custom columns print in the aggregate's order, after the standard ones.
    let names: Vec<&str> = CUSTOM_MAP
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("name="))
        .rev()
        .collect();
    let aggregate = format!("{}, dst_port, src_host", names.join(", "));
    for format in ["csv", "json", "formatted"] {
        let cfg = custom_config(work.path(), &pcap, CUSTOM_MAP, &aggregate, format);
        let ours = sorted_lines(OURS, &cfg);
        let reference = sorted_lines(REFERENCE, &cfg);
        // 50 rows and a header (csv, formatted).
        assert_eq!(
            ours.len(),
            if format == "json" { 50 } else { 51 },
            "{format}"
        );
        assert_eq!(ours, reference, "{format}");
    }
    let cfg = custom_config(work.path(), &pcap, CUSTOM_MAP, &aggregate, "csv");
    let ours = sorted_lines(OURS, &cfg);
    let header = ours.last().expect("header");
    assert!(
        header.starts_with("SRC_IP,DST_PORT,pen_uint,absent_raw,absent_ip,"),
        "{header}"
    );
    assert!(ours.contains(
        &"138.187.58.13,58779,0,,0.0.0.0,::,00:00:00:00:00:00,0,20,`,\
          8A-BB-39-41,8A-BB-39-41,8abb3941,32,138.187.57.65,1610612736,1,60"
            .to_string()
    ));
}

/// docs/differences.md 64 and 65: a `raw` primitive shorter than its field has no trailing
/// `-`; a `vlen` one takes a field the template gives a fixed length (1.7.7 leaves it empty);
/// a `str` without a NUL and a short `mac` are the field's bytes (1.7.7 reads past them).
#[test]
fn custom_raw_and_vlen_primitives_differ_from_debian_nfacctd_as_documented() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/netflow-v9/pmacct__101__traffic-00.pcap");
    // Rows of DST_PORT,mtla,PACKETS,BYTES (sorted, the header last): ours and 1.7.7's.
    let both = |map: &str| {
        let cfg = custom_config(work.path(), &pcap, map, "mtla, dst_port", "csv");
        let (ours, reference) = (sorted_lines(OURS, &cfg), sorted_lines(REFERENCE, &cfg));
        assert_eq!(ours.last(), reference.last());
        let split = |rows: &[String]| -> Vec<Vec<String>> {
            rows.iter()
                .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                .map(|r| r.split(',').map(str::to_string).collect())
                .collect()
        };
        (split(&ours), split(&reference))
    };
    let bytes = |rows: &[Vec<String>]| -> u64 {
        rows.iter().map(|r| r[3].parse::<u64>().unwrap_or(0)).sum()
    };
    // "8A-BB" here, "8A-BB-" in 1.7.7, on the same 47 rows.
    let (ours, reference) = both("name=mtla field_type=47 len=2 semantics=raw\n");
    assert_eq!((ours.len(), reference.len()), (47, 47));
    assert!(ours.iter().any(|o| o[1] == "8A-BB"), "{ours:?}");
    for (o, r) in ours.iter().zip(&reference) {
        assert_eq!(
            (format!("{}-", o[1]), &o[0], &o[3]),
            (r[1].clone(), &r[0], &r[3])
        );
    }
    // The field's 4 bytes here (50 rows), nothing in 1.7.7 (47 rows); the same bytes.
    let (ours, reference) = both("name=mtla field_type=47 len=vlen semantics=raw\n");
    assert_eq!((ours.len(), reference.len()), (50, 47));
    assert!(ours.iter().any(|o| o[1] == "8A-BB-39-41"), "{ours:?}");
    assert!(ours.iter().all(|o| o[1].len() == 11), "{ours:?}");
    assert!(reference.iter().all(|r| r[1].is_empty()), "{reference:?}");
    assert_eq!(bytes(&ours), bytes(&reference));
    // A MAC of fewer than 6 bytes and a string the field fills to its end: 1.7.7 reads on
    // past the value (whatever follows in its memory); here the value is the field's bytes.
    let (ours, reference) = both("name=mtla field_type=47 len=4 semantics=mac\n");
    assert!(ours.iter().any(|o| o[1] == "8a:bb:39:41:00:00"), "{ours:?}");
    assert!(ours.iter().all(|o| o[1].ends_with(":00:00")), "{ours:?}");
    assert!(
        reference
            .iter()
            .all(|r| ours.iter().any(|o| r[1].starts_with(&o[1][..12]))),
        "{reference:?}"
    );
    assert_eq!(bytes(&ours), bytes(&reference));
    let (ours, reference) = both("name=mtla field_type=47 len=4 semantics=str\n");
    assert!(
        ours.iter().any(|o| o[1] == "\u{fffd}\u{fffd}9A"),
        "{ours:?}"
    );
    assert!(ours.iter().all(|o| o[1].chars().count() == 4), "{ours:?}");
    assert!(
        reference
            .iter()
            .all(|r| ours.iter().any(|o| r[1].starts_with(o[1].as_str()))),
        "{reference:?}"
    );
    assert_eq!(bytes(&ours), bytes(&reference));
}

/// A bad aggregate_primitives file names its file, line and key, and nothing starts; pmacctd
/// refuses custom primitives it could not fill.
#[test]
fn custom_primitive_errors_name_the_file_line_and_key() {
    let work = tempfile::tempdir().expect("tempdir");
    let map = work.path().join("custom.map");
    std::fs::write(
        &map,
        "! custom primitives\nname=a field_type=47 len=3 semantics=u_int\nname=b field_type=47 len=4 semantics=bits\n\
         name=c field_type=47 len=4 semantics=ip\n",
    )
    .expect("map");
    let cfg = work.path().join("custom.conf");
    std::fs::write(
        &cfg,
        format!(
            "aggregate_primitives: {}\nplugins: print[p]\naggregate[p]: c, src_host\n",
            map.display()
        ),
    )
    .expect("config");
    let out = Command::new(OURS)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let m = map.display();
    assert!(
        stderr.contains(&format!("{m}:2: key 'len': u_int takes len 1, 2, 4 or 8")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{m}:3: key 'semantics': unknown semantics 'bits' (u_int, hex, ip, mac, str or raw)"
        )),
        "{stderr}"
    );
    std::fs::write(&map, "name=c field_type=47 len=4 semantics=ip\n").expect("map");
    let checked = work.path().join("checked.conf");
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&checked, format!("{text}dry_run: config\n")).expect("config");
    let check = Command::new(OURS)
        .arg("-f")
        .arg(&checked)
        .output()
        .expect("run");
    assert!(check.status.success(), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("OK: configuration"));
    let pmacctd = Path::new(OURS).with_file_name("pmacctd");
    let out = Command::new(pmacctd)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("key 'aggregate' of plugin 'p': custom primitives (aggregate_primitives) are read from NetFlow v9/IPFIX fields by nfacctd"),
        "{stderr}"
    );
}

/// NetFlow v9 and IPFIX exports that Debian's pmacctd (nfprobe) makes of a generated capture:
/// our nfacctd gives Debian's nfacctd's rows, with and without 1-minute bins, and exactly the
/// packets the exported records carry (tshark's sum). Under load 1.7.7's nfacctd sometimes
/// exports fewer than the capture's 30,000 (soak run 24: 29,940): the exports are made again,
/// up to 4 times, until they hold every packet, which they must once.
#[test]
fn exports_of_a_generated_capture_give_debian_nfacctds_rows() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 30_000, 300, 300);
    for version in [9, 10] {
        let mut exported = Vec::new();
        for attempt in 0..4 {
            let dir = work.path().join(format!("v{version}-{attempt}"));
            std::fs::create_dir(&dir).expect("dir");
            let plugin = format!(
                "plugins: nfprobe\nnfprobe_version: {version}\n\
                 nfprobe_timeouts: tcp=5:udp=5:maxlife=60:expint=1\nnfprobe_receiver"
            );
            let (pcap, datagrams) = common::probe_exports(&packets, &plugin, &dir);
            assert!(datagrams > 10, "v{version}: {datagrams} datagrams");
            let case = format!("nfprobe v{version}");
            assert_eq!(compare(&case, std::slice::from_ref(&pcap), &dir), 2);
            let rows = run(OURS, &dir, &pcap, false);
            let total: u64 = rows
                .keys()
                .map(|k| {
                    let row: serde_json::Value = serde_json::from_str(k).expect("row");
                    row["packets"].as_u64().unwrap_or(0)
                })
                .zip(rows.values())
                .map(|(p, n)| p * *n as u64)
                .sum();
            assert_eq!(total, common::tshark_cflow(&pcap).2, "v{version}");
            exported.push(total);
            if total == 30_000 {
                break;
            }
        }
        assert_eq!(exported.last(), Some(&30_000), "v{version}: {exported:?}");
    }
}

/// nfacctd_ext_sampling_rate (as 1.7.7): renormalization uses it instead of the exporter's
/// rate (100 here), and `sampling_rate` still reports the exporter's; Debian's nfacctd 1.7.7's
/// rows, with and without renormalization.
#[test]
fn ext_sampling_rate_renormalizes_as_debian_nfacctd_does() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/netflow-v9/akvorado__data+templates.pcap");
    let mut totals = Vec::new();
    for renormalize in [false, true] {
        let cfg = dir.path().join(format!("ext-{renormalize}.conf"));
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nnfacctd_ext_sampling_rate: 7\nnfacctd_renormalize: {renormalize}\n\
                 plugins: print[p]\naggregate[p]: src_host, dst_host, sampling_rate\n\
                 print_output[p]: csv\n",
                pcap.display()
            ),
        )
        .expect("config");
        let ours = sorted_lines(OURS, &cfg);
        // Every row of 1.7.7's, and the 11 it loses (data before its template, see
        // expected_extra).
        let reference = sorted_lines(REFERENCE, &cfg);
        let missing: Vec<&String> = reference.iter().filter(|r| !ours.contains(r)).collect();
        assert!(missing.is_empty(), "renormalize {renormalize}: {missing:?}");
        assert_eq!(ours.len(), reference.len() + 11, "{ours:?}");
        let packets: u64 = ours
            .iter()
            .filter_map(|l| l.rsplit(',').nth(1)?.parse::<u64>().ok())
            .sum();
        totals.push(packets);
        let rates: std::collections::BTreeSet<&str> = ours
            .iter()
            .filter_map(|l| l.split(',').nth(2))
            .filter(|r| *r != "SAMPLING_RATE")
            .collect();
        let want = if renormalize { "1" } else { "100" };
        assert_eq!(rates.into_iter().collect::<Vec<_>>(), [want]);
    }
    assert_eq!(totals[1], totals[0] * 7, "{totals:?}");
}
