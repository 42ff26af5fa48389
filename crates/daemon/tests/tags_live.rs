//! pre_tag_map, the tag filters, post_tag and external sampling on live traffic: our pmacctd
//! and Debian's pmacctd 1.7.7 capture the same interface of a network namespace at the same
//! time while tcpreplay sends a generated capture into it; the rows must be equal, and equal
//! to what the capture holds. Needs root, tcpreplay and pmacctd (`.ci/run` installs them).

mod common;

use std::path::Path;

use common::netns::Wire;
use common::*;

const PACKETS: u64 = 8_000;

struct Case {
    name: &'static str,
    /// Core keys (the map, sampling) of the daemon pair.
    core: String,
    /// Plugin name, then its `aggregate` and other lines.
    plugins: Vec<(&'static str, &'static str)>,
}

fn config(dir: &Path, case: &Case, who: &str) -> std::path::PathBuf {
    let names: Vec<String> = case
        .plugins
        .iter()
        .map(|(n, _)| format!("print[{n}]"))
        .collect();
    let mut text = format!(
        "pcap_interface: cap0\n{}plugins: {}\nprint_output: csv\n\
         ! small buffers: pmacct 1.7.7 drops the last buffer's records at SIGINT\n\
         plugin_buffer_size: 2048\nplugin_pipe_size: 2048000\n\
         ! a refresh purge may fall inside the run (every minute on the minute)\n\
         print_output_file_append: true\n",
        case.core,
        names.join(", ")
    );
    for (name, lines) in &case.plugins {
        text.push_str(&format!(
            "print_output_file[{name}]: {}/{who}-{}-{name}.csv\n",
            dir.display(),
            case.name
        ));
        for line in lines.lines() {
            text.push_str(&line.replacen(':', &format!("[{name}]:"), 1));
            text.push('\n');
        }
    }
    let path = dir.join(format!("{who}-{}.conf", case.name));
    std::fs::write(&path, text).expect("config");
    path
}

fn start_pmacct(wire: &Wire, dir: &Path, case: &Case) -> common::netns::Daemon {
    let theirs = wire.daemon("/usr/sbin/pmacctd", &config(dir, case, "theirs"));
    theirs.wait_log("[cap0,0] link type is", 10);
    if case.core.contains("pre_tag_map") {
        theirs.wait_log("map successfully (re)loaded", 10);
    }
    theirs
}

/// pmacct 1.7.7 asks libpcap for a 1000 ms read timeout (seen with ltrace), and the kernel
/// shows a partly filled ring block only when it expires: pmacct gets a burst's tail 1 s after
/// the last packet and loses it at a stop before then. Its stop comes 1.5 s after the traffic.
fn stop_pmacct(daemons: Vec<common::netns::Daemon>) {
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    for theirs in daemons {
        // Its exit status says little: 1 at times after a clean flush. Its rows are judged.
        theirs.signal("-INT");
        let _ = theirs.wait_exit();
    }
}

/// Packets in a plugin's output file.
fn packets(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').rev().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn totals_agree(dir: &Path, case: &Case) -> bool {
    case.plugins.iter().all(|(name, _)| {
        let file = |who: &str| dir.join(format!("{who}-{}-{name}.csv", case.name));
        packets(&file("ours")) == packets(&file("theirs"))
    })
}

#[test]
fn tags_and_sampling_rows_equal_pmacct_on_live_traffic() {
    let Some(wire) = Wire::or_skip("tg") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("g.pcap");
    generate(&pcap, PACKETS, 40, 60);
    std::fs::write(
        d.join("tags.map"),
        "set_tag=1 filter='tcp' jeq=web\nset_tag=100 filter='udp'\n\
         set_tag=4 filter='tcp port 80' label=web stack=sum\n\
         set_tag=16 filter='tcp port 443' stack=or\nset_tag=200 filter='vlan'\n",
    )
    .expect("map");
    std::fs::write(
        d.join("labels.map"),
        "set_label=web filter='tcp port 80 or tcp port 443'\nset_label=dns filter='port 53'\n",
    )
    .expect("map");
    let map = |m: &str| format!("pre_tag_map: {}\n", d.join(m).display());
    let cases = [
        Case {
            name: "tags",
            core: map("tags.map"),
            plugins: vec![
                ("t", "aggregate: tag, proto, dst_port"),
                ("f", "aggregate: tag, src_host\npre_tag_filter: 1-16,0"),
                ("n", "aggregate: tag, proto\npre_tag_filter: -100"),
                ("pt", "aggregate: tag, tag2, proto\npost_tag: 7"),
            ],
        },
        Case {
            name: "labels",
            core: map("labels.map"),
            plugins: vec![
                ("l", "aggregate: label, proto"),
                (
                    "lf",
                    "aggregate: label, dst_port\npre_tag_label_filter: web,null",
                ),
            ],
        },
        Case {
            name: "sampled",
            core: "pmacctd_ext_sampling_rate: 10\n".into(),
            plugins: vec![("s", "aggregate: proto, sampling_rate")],
        },
        Case {
            name: "renormalized",
            core: "pmacctd_ext_sampling_rate: 10\npmacctd_renormalize: true\n".into(),
            plugins: vec![("r", "aggregate: proto, sampling_rate")],
        },
    ];
    let mut daemons = Vec::new();
    for case in &cases {
        let ours = wire.daemon(OURS, &config(d, case, "ours"));
        ours.wait_log("reading from 'cap0'", 10);
        daemons.push((ours, start_pmacct(&wire, d, case)));
    }
    assert_eq!(wire.replay(&pcap, 2_000), PACKETS);
    // Ours is stopped at once: it reads on after a stop until the kernel has handed over the
    // burst's tail.
    let mut pmacct = Vec::new();
    for (ours, theirs) in daemons {
        ours.stop_with("-INT");
        pmacct.push(theirs);
    }
    stop_pmacct(pmacct);
    assert_eq!(wire.wire_drops(), 0);
    // pmacct 1.7.7 under load sometimes loses most of a run's records between its core and
    // its plugin (as on files, see common::run_pmacct_settled): a case whose packet totals
    // differ from ours is run again alone on a second replay of the same capture, twice at most.
    for _ in 0..2 {
        let redo: Vec<&Case> = cases.iter().filter(|c| !totals_agree(d, c)).collect();
        if redo.is_empty() {
            break;
        }
        for (case, (name, _)) in redo
            .iter()
            .flat_map(|c| c.plugins.iter().map(move |p| (c, p)))
        {
            let _ = std::fs::remove_file(d.join(format!("theirs-{}-{name}.csv", case.name)));
        }
        let again: Vec<_> = redo.iter().map(|c| start_pmacct(&wire, d, c)).collect();
        assert_eq!(wire.replay(&pcap, 2_000), PACKETS);
        stop_pmacct(again);
    }

    for case in &cases {
        for (name, _) in &case.plugins {
            let read = |who: &str| {
                let p = d.join(format!("{who}-{}-{name}.csv", case.name));
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            };
            let (ours, theirs) = (read("ours"), read("theirs"));
            let width = ours.lines().next().map_or(0, |h| h.split(',').count() - 2);
            let (a, b) = (rows_csv(&ours, width), rows_csv(&theirs, width));
            assert!(!a.is_empty(), "{}/{name}: no rows", case.name);
            let differ: Vec<_> = a
                .keys()
                .chain(b.keys())
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| format!("{k}: ours {:?} pmacct {:?}", a.get(k), b.get(k)))
                .collect();
            assert!(
                differ.is_empty(),
                "{}/{name}: rows differ from pmacct 1.7.7:\n{}",
                case.name,
                differ.join("\n")
            );
        }
    }
    // What the capture holds: every packet once in the unfiltered plugins, ten times in the
    // renormalized one; the chain's tags as computed by hand in tests/tags.rs.
    let total = |file: &str| {
        let text = std::fs::read_to_string(d.join(file)).expect("output");
        rows_csv(&text, 2).values().map(|v| v.0).sum::<u64>()
    };
    assert_eq!(total("ours-labels-l.csv"), PACKETS);
    assert_eq!(total("ours-sampled-s.csv"), PACKETS);
    assert_eq!(total("ours-renormalized-r.csv"), 10 * PACKETS);
    let tags = rows_csv(
        &std::fs::read_to_string(d.join("ours-tags-t.csv")).expect("tags"),
        3,
    );
    for key in TAG_CHAIN_ROWS {
        assert!(tags.contains_key(key), "{key}: {tags:?}");
    }
    assert_eq!(tags.values().map(|v| v.0).sum::<u64>(), PACKETS);
}
