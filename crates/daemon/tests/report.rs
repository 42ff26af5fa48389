//! `pmacct report` end to end: a generated home network over three days (the clocks change in
//! the middle, Europe/Berlin), five devices (IPv4 and IPv6, one changing its address),
//! LAN-to-LAN, multicast, broadcast and link-local noise. The daemon stores it (SQLite, and a
//! memory table); the report's numbers must equal what the test computes from the packets it
//! generated.

mod common;

use common::home::{devices, ip, mac, traffic, write_pcap, Packet, Truth, START, ZONE};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The expected CSV: per day (Berlin) and device, computed from the packets' truth.
fn expected_csv(
    packets: &[Packet],
    by_mac: bool,
    days: bool,
    names: &BTreeMap<String, String>,
) -> String {
    let tz = jiff::tz::TimeZone::get(ZONE).expect("tzdata");
    // (day, device order key, device) -> down bytes, up bytes, down packets, up packets
    type Device = (u8, IpAddr, String);
    let mut rows: BTreeMap<(String, Device), [u64; 4]> = BTreeMap::new();
    let devs = devices();
    for p in packets {
        let (d, up) = match p.truth {
            Truth::Down(d) => (d, false),
            Truth::Up(d) => (d, true),
            Truth::None => continue,
        };
        let day_index = ((p.ts - START) / 86_400) as usize;
        let addr = ip(devs[d].1[day_index]);
        let device = if by_mac {
            let m = mac(devs[d].0);
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        } else {
            addr.to_string()
        };
        let order = if by_mac {
            (1, ip("0.0.0.0"), device.clone())
        } else {
            (0, addr, String::new())
        };
        let period = if days {
            jiff::Timestamp::from_second(p.ts)
                .expect("ts")
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%d")
                .to_string()
        } else {
            "all".to_string()
        };
        let e = rows
            .entry((period, (order.0, order.1, device)))
            .or_default();
        let i = usize::from(up);
        e[i] += p.ip_bytes();
        e[2 + i] += 1;
    }
    let mut out = String::from(
        "period_start,device,name,download_bytes,upload_bytes,download_packets,upload_packets,vendor\n",
    );
    for ((period, (_, _, device)), v) in rows {
        let name = names.get(&device).cloned().unwrap_or_default();
        out.push_str(&format!(
            // No vendor: the home network's MACs are locally administered (02:...).
            "{period},{device},{name},{},{},{},{},\n",
            v[0], v[1], v[2], v[3]
        ));
    }
    out
}

fn client() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct")
}

fn report(args: &[&str]) -> (bool, String) {
    let out = Command::new(client())
        .arg("report")
        .args(args)
        .env("TZ", ZONE)
        .output()
        .expect("pmacct report");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

const LOCAL: [&str; 4] = [
    "--local-net",
    "192.168.1.0/24",
    "--local-net",
    "2001:db8:1::/64",
];

/// Runs the daemon on the capture into `db` (hourly bins, local stamps).
fn store(dir: &Path, pcap: &Path) -> PathBuf {
    let db = dir.join("home.db");
    let cfg = dir.join("sql.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: sqlite3[s]\naggregate: src_host, dst_host, src_mac, dst_mac\n\
             sql_db: {}\nsql_history: 1h\nsql_history_roundoff: h\nsql_refresh_time: 3600\n",
            pcap.display(),
            db.display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .env("TZ", ZONE)
        .output()
        .expect("pmacctd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// Per day and device, from SQLite: by IP address (the laptop is two devices) and by MAC
/// address (one), names from a names file; the CSV layout is exact.
#[test]
fn daily_report_from_sqlite_equals_the_packets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packets = traffic();
    assert!(packets.len() > 3_000, "{}", packets.len());
    let pcap = dir.path().join("home.pcap");
    write_pcap(&pcap, &packets);
    let db = store(dir.path(), &pcap);
    let db = db.display().to_string();
    let names = dir.path().join("names.txt");
    std::fs::write(
        &names,
        "# who is who\n192.168.1.20 phone\n02:00:00:00:00:01 jon-laptop\n",
    )
    .expect("names");
    let names = names.display().to_string();

    let mut args = vec!["--db", &db, "--format", "csv", "--names", &names];
    args.extend(LOCAL);
    let (ok, csv) = report(&args);
    assert!(ok, "{csv}");
    let by_ip_names = BTreeMap::from([("192.168.1.20".to_string(), "phone".to_string())]);
    assert_eq!(csv, expected_csv(&packets, false, true, &by_ip_names));
    // Three days, the middle one 23 hours long.
    assert!(
        csv.contains("\n2024-03-30,")
            && csv.contains("\n2024-03-31,")
            && csv.contains("\n2024-04-01,")
    );

    args.push("--by-mac");
    let (ok, csv) = report(&args);
    assert!(ok, "{csv}");
    let by_mac_names =
        BTreeMap::from([("02:00:00:00:00:01".to_string(), "jon-laptop".to_string())]);
    assert_eq!(csv, expected_csv(&packets, true, true, &by_mac_names));

    // JSON: the same fields; the table: human units and a total per day.
    let mut args = vec!["--db", &db, "--format", "json", "--top", "2"];
    args.extend(LOCAL);
    let (ok, json) = report(&args);
    assert!(ok, "{json}");
    let rows: serde_json::Value = serde_json::from_str(&json).expect("json");
    let first = &rows[0];
    for field in [
        "period_start",
        "device",
        "name",
        "download_bytes",
        "upload_bytes",
        "download_packets",
        "upload_packets",
        "peers",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    let mut args = vec!["--db", &db, "--from", "2024-03-31", "--to", "2024-03-31"];
    args.extend(LOCAL);
    let (ok, table) = report(&args);
    assert!(ok, "{table}");
    assert!(table.starts_with("PERIOD"), "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.starts_with("2024-03-31")),
        "{table}"
    );
    assert!(table.contains(" kB") || table.contains(" MB"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" total ")).count(),
        1,
        "{table}"
    );
}

/// From a running memory table: without bins one period, the same totals; with
/// `imt_history: 1h` the same per-day numbers as from SQLite. The client shows each entry's bin.
#[test]
fn report_from_a_memory_table_equals_the_packets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packets = traffic();
    let pcap = dir.path().join("home.pcap");
    write_pcap(&pcap, &packets);
    let d = dir.path().display();
    let log = dir.path().join("m.log");
    let cfg = dir.path().join("m.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nlogfile: {}\nplugins: memory[m], memory[h]\n\
             aggregate: src_host, dst_host, src_mac, dst_mac\nimt_path[m]: {d}/m.pipe\nimt_path[h]: {d}/h.pipe\n\
             imt_history[h]: 1h\nsql_history_roundoff[h]: h\n",
            pcap.display(),
            log.display(),
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .env("TZ", ZONE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pmacctd");
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |t| t.matches("finished reading").count()) < 2 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no end of file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (m, h) = (format!("{d}/m.pipe"), format!("{d}/h.pipe"));
    let run = |sock: &str, extra: &[&str]| {
        let mut args = vec!["--pipe", sock, "--format", "csv"];
        args.extend(LOCAL);
        args.extend(extra);
        report(&args)
    };
    let totals = run(&m, &[]);
    let per_day = run(&h, &["--by", "day"]);
    let per_day_mac = run(&h, &["--by", "day", "--by-mac"]);
    let no_bins = run(&m, &["--by", "day"]);
    let listing = Command::new(client())
        .args(["-p", &h, "-s", "-O", "csv"])
        .env("TZ", ZONE)
        .output()
        .expect("pmacct -s");
    let _ = child.kill();
    let _ = child.wait();
    let none = BTreeMap::new();
    assert!(totals.0, "{}", totals.1);
    assert_eq!(totals.1, expected_csv(&packets, false, false, &none));
    assert!(per_day.0, "{}", per_day.1);
    assert_eq!(per_day.1, expected_csv(&packets, false, true, &none));
    assert_eq!(per_day_mac.1, expected_csv(&packets, true, true, &none));
    assert!(!no_bins.0);
    assert!(
        no_bins
            .1
            .contains("has no time bins: use --by all, or give the plugin imt_history"),
        "{}",
        no_bins.1
    );
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.starts_with(
            "STAMP_INSERTED,SRC_MAC,DST_MAC,SRC_IP,DST_IP,PACKETS,BYTES\n2024-03-30 00:00:00,"
        ),
        "{}",
        &listing[..listing.len().min(300)]
    );
}

/// A table without the columns a report needs says which ones it lacks.
#[test]
fn a_table_of_another_layout_names_the_missing_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let conn = rusqlite::Connection::open(&db).expect("db");
    conn.execute_batch("CREATE TABLE acct (ip_src TEXT, bytes INT, packets INT)")
        .expect("table");
    drop(conn);
    let (ok, out) = report(&["--db", &db.display().to_string()]);
    assert!(!ok);
    assert_eq!(
        out,
        "ERROR: table 'acct' lacks the column(s) ip_dst, stamp_inserted a report needs (it has: ip_src, bytes, packets)\n"
    );
}
