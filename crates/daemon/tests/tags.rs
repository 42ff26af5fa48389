//! pre_tag_map, the plugins' tag filters, post_tag and sampling, on file input: rows against
//! Debian's pmacctd 1.7.7 where pmacct is right, exact counts otherwise, and sampling checked
//! statistically against the truth.
//!
//! Needs `pmacctd` on the PATH (`.ci/run` installs it).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A generated capture of 20,000 packets (TCP, UDP, ICMP; some VLAN-tagged) over 60 s.
fn capture(dir: &Path) -> PathBuf {
    let pcap = dir.join("tags.pcap");
    generate(&pcap, 20_000, 40, 60);
    pcap
}

fn config(pcap: &Path, map: &Path, plugin: &str) -> String {
    format!(
        "pcap_savefile: {}\npre_tag_map: {}\nplugins: print[p]\nprint_output[p]: csv\n{plugin}",
        pcap.display(),
        map.display()
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write map");
    p
}

/// Tags set by filters, a jeq chain whose rules stack by sum and by OR, labels, and the
/// plugins' filters on them: the same rows as pmacct 1.7.7.
#[test]
fn tags_labels_and_tag_filters_match_pmacct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let tags = write(
        dir.path(),
        "tags.map",
        "! web first, then more specific rules down a chain\n\
         set_tag=1 filter='tcp' jeq=web\n\
         set_tag=100 filter='udp'\n\
         set_tag=4 filter='tcp port 80' label=web stack=sum\n\
         set_tag=16 filter='tcp port 443' stack=or\n\
         set_tag=200 filter='vlan'\n",
    );
    let labels = write(
        dir.path(),
        "labels.map",
        "set_label=web filter='tcp port 80 or tcp port 443'\nset_label=dns filter='port 53'\n",
    );
    let cases = [
        (&tags, "aggregate[p]: tag, proto, dst_port\n"),
        (
            &tags,
            "aggregate[p]: tag, src_host\npre_tag_filter[p]: 1-16,0\n",
        ),
        (&labels, "aggregate[p]: label, proto\n"),
        (
            &labels,
            "aggregate[p]: label, dst_port\npre_tag_label_filter[p]: web,null\n",
        ),
        (&tags, "aggregate[p]: tag, proto\npre_tag_filter[p]: -100\n"),
        (&tags, "aggregate[p]: tag, tag2, proto\npost_tag[p]: 7\n"),
    ];
    let jobs: Vec<(PathBuf, String)> = cases
        .iter()
        .map(|(map, plugin)| (pcap.clone(), config(&pcap, map, plugin)))
        .collect();
    let results = run_both_parallel(&jobs);
    for ((_, cfg), (ours, theirs)) in jobs.iter().zip(&results) {
        assert!(ours.ok, "{cfg}\n{}", ours.stderr);
        let width = ours
            .stdout
            .lines()
            .next()
            .map_or(0, |h| h.split(',').count() - 2);
        let (a, b) = (
            rows_csv(&ours.stdout, width),
            rows_csv(&theirs.stdout, width),
        );
        assert!(!a.is_empty(), "{cfg}: no rows");
        assert_eq!(a, b, "{cfg}: rows differ from pmacct 1.7.7");
    }
    // The chain, by hand (columns tag, dst_port, proto): TCP to port 80 is 1 + 4, to port
    // 443 1 | 16, other TCP 1; behind a VLAN tag 'tcp' does not match the raw frame: 200.
    let rows = rows_csv(&results[0].0.stdout, 3);
    for key in TAG_CHAIN_ROWS {
        assert!(rows.contains_key(key), "{key}: {rows:?}");
    }
    for key in ["1,80,tcp", "4,80,tcp", "1,443,tcp", "16,443,tcp"] {
        assert!(!rows.contains_key(key), "{key}: {rows:?}");
    }
}

/// pmacct-rs extensions: several set keys on one line, and matches on the capturing
/// interface, the direction and in_iface/out_iface. A file has no interface: `ifname=` never
/// matches it, and a negated one always does.
#[test]
fn set_keys_combine_and_interface_matches_on_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let map = write(
        dir.path(),
        "m.map",
        "set_tag=9 set_tag2=3 set_label=red-in ifname=red0 direction=in\n\
         set_tag=2 set_tag2=5 set_label=not-red ifname=-red0 filter='udp'\n",
    );
    let out = run_ours(&config(
        &pcap,
        &map,
        "aggregate[p]: tag, tag2, label, proto\n",
    ));
    assert!(out.ok, "{}", out.stderr);
    let rows = rows_csv(&out.stdout, 4);
    let keys: Vec<&String> = rows.keys().collect();
    assert_eq!(
        keys,
        vec!["0,0,,icmp", "0,0,,tcp", "0,0,,udp", "2,5,not-red,udp"],
        "{}",
        out.stdout
    );
    // Every UDP packet not behind a VLAN tag got the second rule (filters see the raw frame).
    let plain_udp = rows["2,5,not-red,udp"].0;
    let all_udp = plain_udp + rows["0,0,,udp"].0;
    assert!(
        plain_udp > 0 && plain_udp < all_udp,
        "{plain_udp} of {all_udp}"
    );
}

/// Bad maps: an error naming the file, the line and the key, and nothing runs.
#[test]
fn bad_maps_name_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let cases = [
        (
            "set_tag=1 filter='tcp'\nset_tag=2 colour=red\n",
            ":2: unknown key 'colour'",
        ),
        (
            "set_tag=1 filter='tcp and'\n",
            ":1: filter 'tcp and' does not compile",
        ),
        (
            "set_tag=1 jeq=later\n",
            ":1: jeq: no later rule has label=later",
        ),
        // nfacctd's flow keys never match a packet: pmacctd says so.
        (
            "set_tag=1 filter='tcp'\nset_tag=2 ip=10.0.0.1\n",
            ":2: ip: a key of nfacctd's flow records; pmacctd matches packets",
        ),
    ];
    for (text, want) in cases {
        let map = write(dir.path(), "bad.map", text);
        let out = run_ours(&config(&pcap, &map, "aggregate[p]: tag\n"));
        assert!(!out.ok, "{text}: {}", out.stdout);
        let expected = format!("{}{want}", map.display());
        assert!(out.stderr.contains(&expected), "{text}: {}", out.stderr);
    }
    let out = run_ours(&config(
        &pcap,
        &write(dir.path(), "ok.map", "set_tag=1\n"),
        "aggregate[p]: tag\npre_tag_filter[p]: 1-x\n",
    ));
    assert!(!out.ok);
    assert!(
        out.stderr.contains("pre_tag_filter") && out.stderr.contains("invalid tag or range '1-x'"),
        "{}",
        out.stderr
    );
}

/// Sampling done before capture (`pmacctd_ext_sampling_rate`), with and without
/// renormalization: the same rows as pmacct 1.7.7 (the rate reported, or the counts
/// multiplied and 1 reported).
#[test]
fn external_sampling_rate_matches_pmacct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let jobs: Vec<(PathBuf, String)> = ["false", "true"]
        .iter()
        .map(|renormalize| {
            let cfg = format!(
                "pcap_savefile: {}\nplugins: print[p]\nprint_output[p]: csv\n\
                 aggregate[p]: proto, sampling_rate\npmacctd_ext_sampling_rate: 10\n\
                 pmacctd_renormalize: {renormalize}\n",
                pcap.display()
            );
            (pcap.clone(), cfg)
        })
        .collect();
    let results = run_both_parallel(&jobs);
    for ((_, cfg), (ours, theirs)) in jobs.iter().zip(&results) {
        assert!(ours.ok, "{cfg}\n{}", ours.stderr);
        let (a, b) = (rows_csv(&ours.stdout, 2), rows_csv(&theirs.stdout, 2));
        assert_eq!(a, b, "{cfg}: rows differ from pmacct 1.7.7");
    }
    let plain = rows_csv(&results[0].0.stdout, 2);
    let renormalized = rows_csv(&results[1].0.stdout, 2);
    assert_eq!(plain.values().map(|v| v.0).sum::<u64>(), 20_000);
    assert!(plain.keys().all(|k| k.ends_with(",10")), "{plain:?}");
    assert_eq!(renormalized.values().map(|v| v.0).sum::<u64>(), 200_000);
    assert!(
        renormalized.keys().all(|k| k.ends_with(",1")),
        "{renormalized:?}"
    );
}

/// `sampling_rate: 10` keeps about a tenth of the packets; renormalized, the totals are the
/// truth within 4 standard deviations of a binomial draw. Without renormalization the
/// `sampling_rate` primitive says 10; with it, 1. `pmacctd_ext_sampling_rate` multiplies in.
#[test]
fn sampling_and_renormalization() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("big.pcap");
    generate(&pcap, 400_000, 50, 60);
    let cfg = format!(
        "pcap_savefile: {}\nplugins: print[all], print[s], print[r], print[x]\n\
         aggregate: proto, sampling_rate\nprint_output: csv\n\
         print_output_file[all]: {d}/all.csv\nprint_output_file[s]: {d}/s.csv\n\
         print_output_file[r]: {d}/r.csv\nprint_output_file[x]: {d}/x.csv\n\
         sampling_rate[s]: 10\nsampling_rate[r]: 10\npmacctd_renormalize[r]: true\n\
         pmacctd_ext_sampling_rate: 1\n",
        pcap.display(),
        d = dir.path().display()
    );
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    let read = |n: &str| rows_csv(&std::fs::read_to_string(dir.path().join(n)).unwrap(), 2);
    let (all, sampled, renorm) = (read("all.csv"), read("s.csv"), read("r.csv"));
    let truth: u64 = all.values().map(|v| v.0).sum();
    assert_eq!(truth, 400_000);
    assert!(all.keys().all(|k| k.ends_with(",1")), "{all:?}");
    assert!(sampled.keys().all(|k| k.ends_with(",10")), "{sampled:?}");
    assert!(renorm.keys().all(|k| k.ends_with(",1")), "{renorm:?}");
    let kept: u64 = sampled.values().map(|v| v.0).sum();
    let renormalized: u64 = renorm.values().map(|v| v.0).sum();
    // Binomial(400000, 0.1): sd = sqrt(n p (1-p)) = 190 packets; 4 sd = 760.
    assert!(kept.abs_diff(40_000) <= 760, "kept {kept}");
    assert_eq!(renormalized % 10, 0);
    assert!(
        renormalized.abs_diff(truth) <= 7_600,
        "renormalized {renormalized}"
    );
    // Per protocol too. Each packet of s bytes is kept with p = 0.1 and then counted 10 times, so
    // the renormalized bytes have variance 100 p (1 - p) sum(s^2) <= 9 * max_s * truth_bytes,
    // with max_s < 1300 for the generator's packets (1200-byte payloads at most). Allow 5 sd.
    for (k, v) in &all {
        let proto = k.split(',').next().unwrap();
        let r = renorm
            .iter()
            .find(|(rk, _)| rk.starts_with(&format!("{proto},")))
            .map_or(0, |(_, rv)| rv.1);
        let bound = 5.0 * (9.0 * 1300.0 * v.1 as f64).sqrt();
        assert!(
            (r.abs_diff(v.1) as f64) <= bound,
            "{proto}: {r} vs {} bytes (bound {bound:.0})",
            v.1
        );
    }

    // Sampling done before capture: reported, and renormalized.
    let ext = cfg
        .replace(
            "pmacctd_ext_sampling_rate: 1",
            "pmacctd_ext_sampling_rate: 4",
        )
        .replace("x.csv", "x.csv\npmacctd_renormalize[x]: true");
    let out = run_ours(&ext);
    assert!(out.ok, "{}", out.stderr);
    let (all, x, renorm) = (read("all.csv"), read("x.csv"), read("r.csv"));
    assert!(all.keys().all(|k| k.ends_with(",4")), "{all:?}");
    let x_total: u64 = x.values().map(|v| v.0).sum();
    assert_eq!(x_total, 4 * 400_000);
    let r_total: u64 = renorm.values().map(|v| v.0).sum();
    assert!(r_total.abs_diff(1_600_000) <= 30_400, "{r_total}");
}

/// Tags, labels and the sampling rate in an SQL table: version 9's `tag` column, and columns
/// of their own for tag2, label and sampling_rate; the rows sum as the print plugin's.
#[test]
fn tags_have_sql_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let map = write(
        dir.path(),
        "m.map",
        "set_tag=1 set_tag2=3 set_label=web filter='tcp port 80'\nset_tag=2 filter='udp'\n",
    );
    let db = dir.path().join("t.db");
    let cfg = format!(
        "pcap_savefile: {}\npre_tag_map: {}\nplugins: sqlite3[s], print[p]\n\
         aggregate: tag, tag2, label, proto, sampling_rate\npmacctd_ext_sampling_rate: 1\n\
         sql_db[s]: {}\nsql_table_version[s]: 9\nprint_output[p]: csv\n",
        pcap.display(),
        map.display(),
        db.display()
    );
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    let conn = rusqlite::Connection::open(&db).expect("db");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('acct_v9')")
        .expect("info")
        .query_map([], |r| r.get::<_, String>(0))
        .expect("columns")
        .map(|c| c.expect("column"))
        .collect();
    for c in ["tag", "tag2", "label", "sampling_rate"] {
        assert!(names.iter().any(|n| n == c), "{c} in {names:?}");
    }
    let mut stmt = conn
        .prepare(
            "SELECT tag || ',' || tag2 || ',' || label || ',' || ip_proto || ',' || sampling_rate, \
             sum(packets), sum(bytes) FROM acct_v9 GROUP BY 1 ORDER BY 1",
        )
        .expect("select");
    let sql: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let print = rows_csv(&out.stdout, 5);
    let mut from_print: Vec<(String, i64, i64)> = print
        .iter()
        .map(|(k, v)| (k.clone(), v.0 as i64, v.1 as i64))
        .collect();
    from_print.sort();
    assert_eq!(sql, from_print);
    assert!(sql.iter().any(|(k, _, _)| k == "1,3,web,tcp,1"), "{sql:?}");
}
