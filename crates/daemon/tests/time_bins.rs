//! Calendar time bins and purges on capture files, checked against an independent
//! computation: tshark decodes the packets and jiff's calendar says which local day, week,
//! month and hour each belongs to. The capture spans more than a month, starts on a Sunday and
//! crosses the end of summer time in Europe/Berlin.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

const ZONE: &str = "Europe/Berlin";

fn epoch(s: &str) -> i64 {
    s.parse::<Timestamp>().expect("timestamp").as_second()
}

/// Expected files of one plugin: file name -> rows (`src,dst` -> packets, bytes), and the
/// number of distinct bins (one purge each).
fn expected(
    packets: &[TsharkPacket],
    prefix: &str,
    bin_start: impl Fn(i64) -> i64,
) -> (BTreeMap<String, Rows>, usize) {
    let tz = TimeZone::get(ZONE).expect("zone");
    let mut files: BTreeMap<String, Rows> = BTreeMap::new();
    let mut bins = std::collections::BTreeSet::new();
    for p in packets {
        let start = bin_start(p.secs);
        bins.insert(start);
        let local = Timestamp::from_second(start)
            .expect("ts")
            .to_zoned(tz.clone());
        let name = format!("{prefix}-{}.csv", local.strftime("%Y%m%d-%H%M"));
        let row = files
            .entry(name)
            .or_default()
            .entry(format!("{},{}", p.src, p.dst))
            .or_insert((0, 0, 0));
        row.0 += 1;
        row.1 += p.bytes;
    }
    (files, bins.len())
}

/// Local midnight starting the day, week (Monday) or month containing `t`, in `ZONE`.
fn local_start(t: i64, unit: &str) -> i64 {
    let tz = TimeZone::get(ZONE).expect("zone");
    let z = Timestamp::from_second(t).expect("ts").to_zoned(tz.clone());
    let date = z.date();
    let first = match unit {
        "day" => date,
        "week" => date
            .checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
            .expect("date"),
        "month" => date.first_of_month(),
        _ => unreachable!(),
    };
    first
        .to_zoned(tz)
        .expect("local midnight")
        .timestamp()
        .as_second()
}

fn files_with(dir: &Path, prefix: &str) -> BTreeMap<String, Rows> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{prefix}-")) {
            let text = std::fs::read_to_string(entry.path()).expect("read file");
            out.insert(name, rows_csv(&text, 2));
        }
    }
    out
}

fn purges(stderr: &str, plugin: &str) -> usize {
    let needle = format!("( {plugin}/print ): *** Purging cache - END");
    stderr.lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn day_week_month_and_hour_bins_across_a_month_a_sunday_and_dst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("six-weeks.pcap");
    // Sunday 2026-10-04 10:00 CEST, for 40 days: summer time ends on Sunday 2026-10-25.
    let start = epoch("2026-10-04T08:00:00Z");
    pmacct_daemon::synth::write_pcap(&pcap, 60_000, 30, 40 * 86400, start as u64)
        .expect("generate");
    let out = dir.path().join("out");
    let mut config = format!(
        "pcap_savefile: {}\nplugins: print[d], print[w], print[mo], print[h], print[all]\naggregate: src_host, dst_host\nprint_output: csv\n",
        pcap.display()
    );
    for (name, history, roundoff, refresh) in [
        ("d", "1d", "d", 86400),
        ("w", "1w", "w", 604800),
        ("mo", "1M", "M", 2678400),
        ("h", "1h", "h", 3600),
    ] {
        config.push_str(&format!(
            "print_history[{name}]: {history}\nprint_history_roundoff[{name}]: {roundoff}\nprint_refresh_time[{name}]: {refresh}\nprint_output_file[{name}]: {}/{name}-%Y%m%d-%H%M.csv\n",
            out.display()
        ));
    }
    config.push_str(&format!(
        "print_refresh_time[all]: 86400\nprint_output_file[all]: {}/all-whole.csv\n",
        out.display()
    ));
    let run = run_in_zone(OURS, &config, ZONE);
    assert!(run.ok, "{}", run.stderr);

    let packets = tshark_packets(&pcap);
    assert_eq!(packets.len(), 60_000);
    type BinStart = fn(i64) -> i64;
    let cases: [(&str, BinStart); 4] = [
        ("d", |t| local_start(t, "day")),
        ("w", |t| local_start(t, "week")),
        ("mo", |t| local_start(t, "month")),
        ("h", |t| t - t.rem_euclid(3600)),
    ];
    for (prefix, bin_start) in cases {
        let (want, bins) = expected(&packets, prefix, bin_start);
        let got = files_with(&out, prefix);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "files of plugin {prefix}"
        );
        for (name, rows) in &want {
            assert_eq!(&got[name], rows, "rows of {name}");
        }
        // refresh == history: every bin is purged exactly once, never split.
        assert_eq!(
            purges(&run.stderr, prefix),
            bins,
            "purges of plugin {prefix}"
        );
    }
    // Spot checks of the calendar: the week files are Mondays, the 25-hour day has one file,
    // the repeated local hour 02:00 on 2026-10-25 holds both hours, months are the 1st.
    let weeks: Vec<String> = files_with(&out, "w").into_keys().collect();
    assert_eq!(
        weeks,
        [
            "w-20260928-0000.csv",
            "w-20261005-0000.csv",
            "w-20261012-0000.csv",
            "w-20261019-0000.csv",
            "w-20261026-0000.csv",
            "w-20261102-0000.csv",
            "w-20261109-0000.csv",
        ]
    );
    let months: Vec<String> = files_with(&out, "mo").into_keys().collect();
    assert_eq!(months, ["mo-20261001-0000.csv", "mo-20261101-0000.csv"]);
    let fold = &files_with(&out, "h")["h-20261025-0200.csv"];
    let in_fold = packets
        .iter()
        .filter(|p| {
            (epoch("2026-10-25T00:00:00Z")..epoch("2026-10-25T02:00:00Z")).contains(&p.secs)
        })
        .count() as u64;
    assert_eq!(fold.values().map(|r| r.0).sum::<u64>(), in_fold);
    assert!(in_fold > 100);

    // Without bins, the whole file is one period: one purge, every packet in the one file.
    let all = &files_with(&out, "all")["all-whole.csv"];
    assert_eq!(all.values().map(|r| r.0).sum::<u64>(), 60_000);
    assert_eq!(
        all.values().map(|r| r.1).sum::<u64>(),
        tshark_ip_bytes(&pcap).expect("tshark")
    );
    assert_eq!(purges(&run.stderr, "all"), 1);
}

#[test]
fn a_capture_merged_from_several_years_is_one_period_without_bins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("2019.pcap"), dir.path().join("2024.pcap"));
    pmacct_daemon::synth::write_pcap(
        &old,
        5_000,
        20,
        3 * 86400,
        epoch("2019-03-01T00:00:00Z") as u64,
    )
    .expect("generate");
    pmacct_daemon::synth::write_pcap(&new, 7_000, 20, 3600, epoch("2024-07-01T12:00:00Z") as u64)
        .expect("generate");
    // One file: the first capture, then the second's records without its file header.
    let merged = dir.path().join("merged.pcap");
    let mut bytes = std::fs::read(&old).expect("read");
    bytes.extend_from_slice(&std::fs::read(&new).expect("read")[24..]);
    std::fs::write(&merged, bytes).expect("write");
    let out = dir.path().join("all.csv");
    let config = format!(
        "pcap_savefile: {}\nplugins: print[all]\naggregate: src_host, dst_host\nprint_output: csv\nprint_refresh_time: 86400\nprint_output_file: {}\n",
        merged.display(),
        out.display()
    );
    let run = run_in_zone(OURS, &config, ZONE);
    assert!(run.ok, "{}", run.stderr);
    let rows = rows_csv(&std::fs::read_to_string(&out).expect("output"), 2);
    assert_eq!(rows.values().map(|r| r.0).sum::<u64>(), 12_000);
    assert_eq!(
        rows.values().map(|r| r.1).sum::<u64>(),
        tshark_ip_bytes(&old).expect("tshark") + tshark_ip_bytes(&new).expect("tshark")
    );
    assert_eq!(purges(&run.stderr, "all"), 1);
}
