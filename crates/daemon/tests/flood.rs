//! A flood of random source addresses and ports, live in a network namespace, into a memory
//! plugin with a small table bound and a print plugin with time bins: the daemon's RSS stays
//! under what its configuration bounds (sampled from /proc while the flood runs), and every
//! packet sent is accounted for exactly once: stored in the table, counted as overflow, or
//! dropped (on the wire, by the kernel's capture buffer, or at a full plugin queue).
//! Needs root and tcpreplay (`.ci/run` installs it).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::netns::{wait_until, Daemon, Wire};
use common::{write_udp_pcap, Udp};

const PACKETS: u64 = 300_000;
/// imt_mem_pools_number x imt_mem_pools_size.
const TABLE_BOUND: u64 = 8 * 131_072;
/// print_cache_entries of the print plugin, which sees every source.
const PRINT_CACHE: u64 = 20_000;

/// The texts of the print plugin's files.
fn print_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("p-") && name.ends_with(".csv") {
            out.push(std::fs::read_to_string(e.path()).expect("print file"));
        }
    }
    assert!(!out.is_empty(), "no print files in {}", dir.display());
    out
}

fn flood_pcap(path: &Path) {
    let mut rng = pmacct_daemon::synth::Rng(0x2545_f491_4f6c_dd1d);
    let packets: Vec<Udp> = (0..PACKETS)
        .map(|i| {
            let r = rng.next_u64();
            Udp {
                ts: 1_700_000_000 + (i / 10_000) as i64,
                src: std::net::Ipv4Addr::from((r >> 32) as u32 | 0x0100_0000).into(),
                dst: std::net::Ipv4Addr::new(192, 0, 2, 1 + (r % 4) as u8).into(),
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                payload: 18 + (r >> 8) as usize % 64,
            }
        })
        .collect();
    let refs: Vec<&Udp> = packets.iter().collect();
    write_udp_pcap(path, &refs);
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The numbers of the newest `stats` lines of the log: `label key` -> value.
fn stats(log: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("): stats ")) {
        let Some((head, fields)) = line.split_once("): stats ") else {
            continue;
        };
        let label = head.rsplit("( ").next().unwrap_or("").trim();
        for f in fields.split_whitespace() {
            if let Some((k, v)) = f.split_once('=') {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{label} {k}"), v);
                }
            }
        }
    }
    out
}

fn client(args: &[&str], sock: &Path) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(bin)
        .arg("-p")
        .arg(sock)
        .args(args)
        .output()
        .expect("pmacct");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Packets of CSV rows (the column named PACKETS), every file given.
fn csv_packets(text: &str) -> u64 {
    let mut col = None;
    let mut sum = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        if let Some(i) = fields.iter().position(|f| *f == "PACKETS") {
            col = Some(i);
            continue;
        }
        if let Some(v) = col.and_then(|i| fields.get(i)?.parse::<u64>().ok()) {
            sum += v;
        }
    }
    sum
}

/// Asks for stats (SIGUSR1: a line for the core and one per plugin) until the daemon has seen
/// every packet the wire delivered.
fn settle(daemon: &Daemon, plugins: usize, delivered: u64) -> BTreeMap<String, u64> {
    let mut last = BTreeMap::new();
    wait_until(
        60,
        "the daemon to account for every delivered packet",
        || {
            let before = daemon.log().matches("): stats ").count();
            daemon.signal("-USR1");
            wait_until(10, "the stats lines", || {
                daemon.log().matches("): stats ").count() >= before + 1 + plugins
            });
            last = stats(&daemon.log());
            let seen = last
                .get("default/core received_packets")
                .copied()
                .unwrap_or(0)
                + last
                    .get("default/core kernel_dropped_packets")
                    .copied()
                    .unwrap_or(0);
            seen == delivered
        },
    );
    last
}

#[test]
fn a_flood_stays_within_the_bounds_and_every_packet_is_accounted_for() {
    let Some(wire) = Wire::or_skip("fl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("flood.pcap");
    flood_pcap(&pcap);
    let sock = d.join("m.pipe");
    let cfg: PathBuf = d.join("flood.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interface: cap0\nplugins: memory[m], print[p]\n\
             aggregate[m]: src_host, src_port\nimt_path[m]: {}\n\
             imt_mem_pools_number[m]: 8\nimt_mem_pools_size[m]: 131072\n\
             aggregate[p]: src_host, dst_host, proto\nprint_output[p]: csv\n\
             print_history[p]: 1m\nprint_refresh_time[p]: 60\nprint_cache_entries[p]: {}\n\
             print_output_file[p]: {}/p-%Y%m%d-%H%M.csv\n",
            sock.display(),
            PRINT_CACHE,
            d.display()
        ),
    )
    .expect("config");
    let daemon = wire.daemon(common::OURS, &cfg);
    daemon.wait_log("reading from 'cap0'", 10);
    wait_until(10, "the memory socket", || sock.exists());
    let pid = daemon.pid();
    let baseline = rss_kib(pid).expect("rss");

    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push(kib);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            samples
        })
    };
    // As fast as tcpreplay goes: the capture may fall behind and drop.
    let sent = wire.replay(&pcap, 0);
    let wire_drops = wire.wire_drops();
    let st = settle(&daemon, 2, sent - wire_drops);
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler");

    let status = client(&["-t"], &sock);
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    let (entries, max_entries, overflow) = (
        field("entries:"),
        field("max_entries:"),
        field("overflow_packets:"),
    );
    let stored = csv_packets(&client(&["-s", "-O", "csv"], &sock));
    let log = daemon.stop();
    let print: u64 = print_files(d).iter().map(|t| csv_packets(t)).sum();
    let early = log
        .matches("( p/print ): *** Purging cache - START")
        .count();
    let final_stats = stats(&log);
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let kernel = get(&st, "default/core kernel_dropped_packets");
    let accounted = get(&st, "default/core accounted_packets");
    let m_dropped = get(&st, "m/memory dropped_records");
    let p_dropped = get(&final_stats, "p/print dropped_records");
    let figures = format!(
        "sent {sent}, wire drops {wire_drops}, kernel drops {kernel}, accounted {accounted}, \
         memory: {entries} of {max_entries} entries, stored {stored}, overflow {overflow}, queue \
         drops {m_dropped}; print: {print} written ({early} purges), queue drops {p_dropped}; RSS {baseline} KiB \
         at start, max {} KiB",
        samples.iter().max().copied().unwrap_or(0)
    );
    println!("{figures}");

    assert_eq!(entries, max_entries, "the table filled: {figures}");
    assert!(overflow > 0, "{figures}");
    assert_eq!(accounted + kernel + wire_drops, sent, "{figures}");
    assert_eq!(stored + overflow + m_dropped, accounted, "{figures}");
    assert_eq!(print + p_dropped, accounted, "{figures}");
    // Nearly every packet is a new source: the cache fills every PRINT_CACHE packets.
    assert!(
        early as u64 + 1 >= accounted / PRINT_CACHE,
        "the print cache was not written early: {figures}"
    );

    // Memory: the table bound, the print cache (two tables of PRINT_CACHE entries plus a
    // batch, 12 words each, and their sorted copy), two plugin queues (plugin_pipe_size: 64
    // batches of 4,096 56-byte records each), the 8 MiB capture ring, and 16 MiB for the
    // program itself.
    let queues = 2 * 64 * 4_096 * 56 / 1024;
    let print_cache = 3 * (PRINT_CACHE + 4_096) * 12 * 8 / 1024;
    let bound = baseline + TABLE_BOUND / 1024 + print_cache + queues + 8 * 1024 + 16 * 1024;
    let max = samples.iter().max().copied().unwrap_or(0);
    assert!(
        max <= bound,
        "RSS {max} KiB over the bound {bound} KiB: {figures}"
    );
    // Flat once full: the second half of the flood grows RSS by at most 2 MiB, plus eight
    // record batches (4,096 records of 56 bytes: 1.75 MiB). When the machine is busy the
    // plugins lag and, most likely, more of their queue's batches are in flight at the busiest
    // moment, which may come in either half: bounded memory (in `bound` above), not a leak.
    // CI failed once by 60 KiB over a 2 MiB allowance while other builds ran. A leak of 28
    // bytes a packet or more (150,000 packets in the half) still fails here.
    let batches = 8 * 4_096 * 56 / 1024;
    let half = &samples[samples.len() / 2..];
    let (first_max, second_max) = (
        samples[..samples.len() / 2]
            .iter()
            .max()
            .copied()
            .unwrap_or(0),
        half.iter().max().copied().unwrap_or(0),
    );
    assert!(
        second_max <= first_max + 2 * 1024 + batches,
        "RSS grew from {first_max} to {second_max} KiB in the flood's second half: {figures}"
    );
}

/// `n` packets from distinct sources 10.a.b.c (starting at `first`), one entry each.
fn distinct_sources_pcap(path: &Path, first: u32, n: u32) {
    let packets: Vec<Udp> = (first..first + n)
        .map(|i| Udp {
            ts: 1_700_000_000,
            src: std::net::Ipv4Addr::from(0x0a00_0000 | i).into(),
            dst: std::net::Ipv4Addr::new(192, 0, 2, 1).into(),
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            payload: 32,
        })
        .collect();
    let refs: Vec<&Udp> = packets.iter().collect();
    write_udp_pcap(path, &refs);
}

/// 200 `pmacct -s` at once, while a client that sent a dump request never reads its answer
/// (larger than the socket's buffer), one connects and sends nothing and one sends half a
/// line: every one of the 200 gets the whole table, and packets sent meanwhile are counted
/// at once, none dropped.
#[test]
fn many_clients_and_stuck_ones_do_not_stall_ingestion_or_each_other() {
    use std::io::Write;
    let Some(wire) = Wire::or_skip("sk") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (base, more) = (d.join("base.pcap"), d.join("more.pcap"));
    distinct_sources_pcap(&base, 1, 10_000);
    distinct_sources_pcap(&more, 20_001, 20_000);
    let sock = d.join("m.pipe");
    let cfg = d.join("sock.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interface: cap0\nplugins: memory[m]\naggregate[m]: src_host\n\
             imt_path[m]: {}\nimt_mem_pools_number[m]: 0\n",
            sock.display()
        ),
    )
    .expect("config");
    let daemon = wire.daemon(common::OURS, &cfg);
    daemon.wait_log("reading from 'cap0'", 10);
    wait_until(10, "the memory socket", || sock.exists());
    assert_eq!(wire.replay(&base, 0), 10_000);
    settle(&daemon, 1, 10_000);

    // The stuck ones.
    let mut dumper = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    dumper
        .write_all(b"{\"protocol\":2,\"op\":\"dump\"}\n")
        .expect("request");
    let silent = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let mut half = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    half.write_all(b"{\"protocol\":2,\"op\":").expect("half");

    let bin = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let started = std::time::Instant::now();
    let children: Vec<_> = (0..200)
        .map(|_| {
            Command::new(&bin)
                .arg("-p")
                .arg(&sock)
                .args(["-s", "-O", "csv"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn pmacct")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("pmacct");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "client {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(csv_packets(&text), 10_000, "client {i}");
        assert_eq!(text.lines().count(), 10_001, "client {i}");
    }
    let many = started.elapsed();

    // Ingestion while the stuck clients still hang on.
    let started = std::time::Instant::now();
    assert_eq!(wire.replay(&more, 0), 20_000);
    let st = settle(&daemon, 1, 30_000);
    let ingest = started.elapsed();
    assert_eq!(st.get("m/memory dropped_records").copied(), Some(0));
    assert_eq!(csv_packets(&client(&["-s", "-O", "csv"], &sock)), 30_000);
    println!(
        "200 concurrent clients of a 10,000-entry table answered in {:.2} s; 20,000 packets \
         counted {:.2} s after the replay began, with 3 stuck clients connected",
        many.as_secs_f64(),
        ingest.as_secs_f64()
    );
    drop((dumper, silent, half));

    // A flood of connections that send nothing: past 512 at once, the next is told so and
    // closed (the daemon's threads stay bounded); once they go, clients are served again.
    let hogs: Vec<_> = (0..512)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).expect("connect"))
        .collect();
    let mut refused = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut refused, &mut answer).expect("read");
    assert!(answer.contains("512 clients at once"), "{answer}");
    drop(hogs);
    wait_until(10, "a client served again", || {
        let bin = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
        Command::new(&bin)
            .arg("-p")
            .arg(&sock)
            .args(["-s", "-O", "csv"])
            .output()
            .is_ok_and(|o| {
                o.status.success() && csv_packets(&String::from_utf8_lossy(&o.stdout)) == 30_000
            })
    });
    let log = daemon.stop();
    assert!(log.contains("connections refused so far"), "{log}");
}

/// `print_cache_entries` and `sql_cache_entries` on file input: 60,000 sources over three
/// 1-minute bins through caches of 1,000 aggregates are written early 60 times, and each
/// bin's file (not appended to by configuration: the early parts are kept) and the SQL table
/// still hold every packet exactly once.
#[test]
fn a_full_cache_is_written_early_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("sources.pcap");
    let packets: Vec<Udp> = (0..60_000u32)
        .map(|i| Udp {
            ts: 1_700_000_000 + i64::from(i / 500),
            src: std::net::Ipv4Addr::from(0x0a00_0000 | i).into(),
            dst: std::net::Ipv4Addr::new(192, 0, 2, 1).into(),
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            payload: 10 + (i % 7) as usize,
        })
        .collect();
    let bytes: u64 = packets.iter().map(Udp::ip_bytes).sum();
    write_udp_pcap(&pcap, &packets.iter().collect::<Vec<_>>());
    let db = d.join("c.db");
    let out = common::run_ours(&format!(
        "pcap_savefile: {}\nplugins: print[p], sqlite3[s]\naggregate: src_host\n\
         print_output[p]: csv\nprint_history[p]: 1m\nprint_refresh_time[p]: 60\n\
         print_output_file[p]: {}/p-%H%M.csv\nsql_db[s]: {}\nsql_history[s]: 1m\n\
         sql_refresh_time[s]: 60\nsql_optimize_clauses[s]: true\n\
         print_cache_entries: 1000\n",
        pcap.display(),
        d.display(),
        db.display()
    ));
    assert!(out.ok, "{}", out.stderr);
    // 1700000000 is 22:13:20 UTC: 20,000 packets in the 22:13 bin, 30,000 in 22:14, 10,000
    // in 22:15, each from its own source.
    for (file, want) in [
        ("p-2213.csv", 20_000),
        ("p-2214.csv", 30_000),
        ("p-2215.csv", 10_000),
    ] {
        let text = std::fs::read_to_string(d.join(file)).expect(file);
        assert_eq!(csv_packets(&text), want, "{file}");
        assert_eq!(
            text.lines().count() as u64,
            want + 1,
            "{file}: one header, a row per source"
        );
    }
    let purges = out
        .stderr
        .matches("( p/print ): *** Purging cache - START")
        .count();
    assert!(purges >= 60, "{purges} purges");
    assert!(out.stderr.contains("written early"), "{}", out.stderr);
    let sql = rusqlite::Connection::open(&db).expect("db");
    let (rows, sum_packets, sum_bytes): (u64, u64, u64) = sql
        .query_row(
            "SELECT count(*), sum(packets), sum(bytes) FROM acct",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("query");
    assert_eq!((rows, sum_packets, sum_bytes), (60_000, 60_000, bytes));
}
