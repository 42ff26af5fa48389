//! Print files keep every row of their bin: late records (held fragments released when their
//! first fragment comes, orphan fragments released after the timeout or at the end, packets
//! stamped minutes back) and refreshes shorter than the bin never replace rows written earlier
//! with fewer. Every file is checked row by row (a multiset) against the test's own model of the
//! capture, for csv, json and formatted and three refresh times; sqlite3 gets the same totals.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::late::{stamp, Capture, FileRows, Key, Pkt, T0};

fn file_name(bin: i64) -> String {
    jiff::Timestamp::from_second(bin)
        .expect("time")
        .strftime("%Y%m%d-%H%M")
        .to_string()
}

/// Named fields of one output row.
fn row_of(fields: &BTreeMap<String, String>) -> (Key, u64, u64, Option<String>) {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| fields.get(*n))
            .unwrap_or_else(|| panic!("no {names:?} in {fields:?}"))
            .clone()
    };
    let num = |names: &[&str]| get(names).parse::<u64>().expect("a number");
    let key = Key {
        src: get(&["SRC_IP", "ip_src"]),
        dst: get(&["DST_IP", "ip_dst"]),
        sport: num(&["SRC_PORT", "port_src"]) as u16,
        dport: num(&["DST_PORT", "port_dst"]) as u16,
        proto: get(&["PROTOCOL", "ip_proto"]),
    };
    let inserted = ["STAMP_INSERTED", "stamp_inserted"]
        .iter()
        .find_map(|n| fields.get(*n).cloned());
    (
        key,
        num(&["PACKETS", "packets"]),
        num(&["BYTES", "bytes"]),
        inserted,
    )
}

/// Every row of an output file, by the names of its header (csv, formatted) or keys (json).
fn parse(text: &str, format: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    match format {
        "json" => lines
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON row");
                let m = v.as_object().expect("an object");
                m.iter()
                    .map(|(k, v)| {
                        let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        (k.clone(), s)
                    })
                    .collect()
            })
            .collect(),
        "csv" => {
            let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
            lines
                .map(|l| {
                    let fields: Vec<&str> = l.split(',').collect();
                    assert_eq!(fields.len(), header.len(), "{l}");
                    header
                        .iter()
                        .zip(fields)
                        .map(|(h, f)| (h.to_string(), f.to_string()))
                        .collect()
                })
                .collect()
        }
        _ => {
            // Formatted: a column starts where its name starts in the header.
            let header = lines.next().expect("a header");
            let mut starts: Vec<(usize, &str)> = Vec::new();
            let mut at = 0;
            for name in header.split_whitespace() {
                let i = at + header[at..].find(name).expect("name");
                starts.push((i, name));
                at = i + name.len();
            }
            lines
                .map(|l| {
                    (0..starts.len())
                        .map(|c| {
                            let (from, name) = starts[c];
                            let to = starts.get(c + 1).map_or(l.len(), |n| n.0).min(l.len());
                            (name.to_string(), l[from.min(to)..to].trim().to_string())
                        })
                        .collect()
                })
                .collect()
        }
    }
}

/// Each file of `dir`, by bin, as sorted rows; a row's stamp_inserted, where printed, is its
/// file's bin.
fn read_files(dir: &Path, format: &str, bins: &[i64]) -> BTreeMap<i64, FileRows> {
    let by_name: BTreeMap<String, i64> = bins.iter().map(|b| (file_name(*b), *b)).collect();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        let bin = *by_name
            .get(&name)
            .unwrap_or_else(|| panic!("unexpected file {}", path.display()));
        let text = std::fs::read_to_string(&path).expect("read");
        let mut rows: FileRows = parse(&text, format)
            .iter()
            .map(|f| {
                let (key, p, b, inserted) = row_of(f);
                if let Some(inserted) = inserted {
                    assert_eq!(inserted, stamp(bin), "{}: {f:?}", path.display());
                }
                (key, p, b)
            })
            .collect();
        rows.sort();
        out.insert(bin, rows);
    }
    out
}

fn config(pcap: &Path, dir: &Path, format: &str, refresh: u64) -> String {
    format!(
        "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n\
         print_output[p]: {format}\nprint_history[p]: 1m\nprint_history_roundoff[p]: m\n\
         print_refresh_time[p]: {refresh}\nprint_output_file[p]: {}/%Y%m%d-%H%M.{format}\n",
        pcap.display(),
        dir.display()
    )
}

fn run(dir: &Path, name: &str, text: &str) -> String {
    let cfg = dir.join(name);
    std::fs::write(&cfg, text).expect("config");
    common::run_file_ok(&cfg, "UTC")
}

#[test]
fn every_bins_file_holds_exactly_its_rows_whatever_the_refresh_and_format() {
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = work.path().join("late.pcap");
    let capture = Capture::generate();
    capture.write(&pcap);
    let expected = capture.expected();
    let bins: Vec<i64> = expected.keys().copied().collect();
    assert_eq!(bins.len(), 6, "six minutes");
    // The model's own shape: held fragments, orphans and late packets are all there.
    let orphans = capture
        .packets
        .iter()
        .filter(|p| p.counted_ports == (0, 0))
        .count();
    let late = capture
        .packets
        .iter()
        .filter(|p| p.ts < p.arrival.0 - 60)
        .count();
    assert_eq!((orphans, late), (10, 5));
    for refresh in [60, 86400, 20] {
        for format in ["csv", "json", "formatted"] {
            let dir = work.path().join(format!("{format}-{refresh}"));
            std::fs::create_dir(&dir).expect("dir");
            let log = run(
                work.path(),
                &format!("{format}-{refresh}.conf"),
                &config(&pcap, &dir, format, refresh),
            );
            let got = read_files(&dir, format, &bins);
            assert_eq!(got.len(), expected.len(), "{format} {refresh}: files");
            for (bin, rows) in &expected {
                assert_eq!(
                    got.get(bin),
                    Some(rows),
                    "{format}, print_refresh_time {refresh}: file of {}\n{log}",
                    stamp(*bin)
                );
            }
            assert!(!log.contains("came after it was closed"), "{log}");
        }
    }
}

#[test]
fn sqlite3_gets_the_same_totals_per_bin() {
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = work.path().join("late.pcap");
    let capture = Capture::generate();
    capture.write(&pcap);
    let db = work.path().join("acct.db");
    run(
        work.path(),
        "sql.conf",
        &format!(
            "pcap_savefile: {}\nplugins: sqlite3[s]\naggregate[s]: src_host, dst_host, src_port, dst_port, proto\n\
             sql_db[s]: {}\nsql_table_version[s]: 1\nsql_history[s]: 1m\nsql_history_roundoff[s]: m\nsql_refresh_time[s]: 60\n",
            pcap.display(),
            db.display()
        ),
    );
    let conn = rusqlite::Connection::open(&db).expect("db");
    let mut stmt = conn
        .prepare("SELECT stamp_inserted, sum(packets), sum(bytes) FROM acct GROUP BY stamp_inserted ORDER BY 1")
        .expect("select");
    let got: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    let want: Vec<(String, i64, i64)> = capture
        .expected()
        .iter()
        .map(|(bin, rows)| {
            let (p, b) = rows
                .iter()
                .fold((0, 0), |(p, b), r| (p + r.1 as i64, b + r.2 as i64));
            (stamp(*bin), p, b)
        })
        .collect();
    assert_eq!(got, want);
}

/// A packet stamped more than the grace (5 minutes past its bin's end) back: its bin's file was
/// closed, so its row is appended and the file's rows of that key add up.
#[test]
fn a_record_later_than_the_grace_is_appended_and_adds_up() {
    let work = tempfile::tempdir().expect("tempdir");
    let pcap = work.path().join("very-late.pcap");
    let pkt = |arrival: i64, ts: i64, payload: usize| Pkt {
        arrival: (arrival, 0),
        ts,
        src: [10, 1, 0, 1],
        dst: [10, 2, 0, 1],
        proto: 17,
        ports: (1000, 53),
        frag: None,
        payload,
        counted_ports: (1000, 53),
    };
    let capture = Capture {
        packets: vec![
            pkt(T0 + 10, T0 + 10, 100),
            pkt(T0 + 200, T0 + 200, 1),
            pkt(T0 + 500, T0 + 500, 2),
            pkt(T0 + 510, T0 + 20, 50),
        ],
    };
    capture.write(&pcap);
    let dir = work.path().join("out");
    std::fs::create_dir(&dir).expect("dir");
    let log = run(work.path(), "p.conf", &config(&pcap, &dir, "csv", 60));
    assert!(
        log.contains("1 rows for") && log.contains("came after it was closed: appended"),
        "{log}"
    );
    let got = read_files(&dir, "csv", &[T0, T0 + 180, T0 + 480]);
    let key = capture.packets[0].key();
    assert_eq!(
        got[&T0],
        vec![(key.clone(), 1, 78), (key, 1, 128)],
        "two rows of one key: they add up"
    );
}
