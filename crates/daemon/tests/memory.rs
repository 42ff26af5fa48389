//! The memory plugin and the `pmacct` client against Debian's pmacctd + pmacct 1.7.7, the
//! bounded table, and queries while ingesting.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Our `pmacct` client, built beside pmacctd by `cargo test --workspace`.
fn client() -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    assert!(path.exists(), "{} is missing: run the workspace's tests (cargo test --workspace) or cargo build -p pmacct-client", path.display());
    path.display().to_string()
}
const DEADLINE: Duration = Duration::from_secs(60);

/// These tests run one at a time: the replay test loads both cores, and pmacct 1.7.7 loses
/// records under load.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running daemon whose stderr lines are collected; killed when dropped.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(program: &str, config: &Path) -> Daemon {
        let mut child = Command::new(program)
            .arg("-f")
            .arg(config)
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn daemon");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(needle);
                self.seen.push(line);
                if found {
                    return;
                }
            }
        }
        panic!(
            "no log line with '{needle}' within {DEADLINE:?}; log so far:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn query(client: &str, socket: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(client)
        .arg("-p")
        .arg(socket)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn memory_config(pcap: &Path, socket: &Path, aggregate: &str, extra: &str) -> String {
    format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: memory[m]\nimt_path[m]: {}\nimt_mem_pools_number: 0\naggregate[m]: {aggregate}\n{extra}",
        pcap.display(),
        socket.display()
    )
}

/// Starts both daemons on the same input and waits until each holds the whole file.
fn start_both(dir: &Path, pcap: &Path, aggregate: &str) -> (Daemon, PathBuf, Daemon, PathBuf) {
    start_both_with(dir, pcap, aggregate, "")
}

/// [`start_both`] with more configuration lines.
fn start_both_with(
    dir: &Path,
    pcap: &Path,
    aggregate: &str,
    extra: &str,
) -> (Daemon, PathBuf, Daemon, PathBuf) {
    let ours_sock = dir.join("ours.pipe");
    let theirs_sock = dir.join("theirs.pipe");
    let ours_cfg = dir.join("ours.conf");
    let theirs_cfg = dir.join("theirs.conf");
    std::fs::write(&ours_cfg, memory_config(pcap, &ours_sock, aggregate, extra)).expect("write");
    std::fs::write(
        &theirs_cfg,
        memory_config(pcap, &theirs_sock, aggregate, extra),
    )
    .expect("write");
    let mut ours = Daemon::start(env!("CARGO_BIN_EXE_pmacctd"), &ours_cfg);
    let mut theirs = Daemon::start("/usr/sbin/pmacctd", &theirs_cfg);
    // Ours says when the plugin has taken every record of the file.
    ours.wait_for("finished reading");
    // pmacct says when its core has read the file; its plugin may still be catching up, so wait
    // until two answers in a row agree.
    theirs.wait_for("finished reading PCAP capture file");
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let (_, now) = query("pmacct", &theirs_sock, &["-s"]);
        if !now.is_empty() && now == last {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "pmacct's table never settled");
        last = now;
        std::thread::sleep(Duration::from_millis(300));
    }
    (ours, ours_sock, theirs, theirs_sock)
}

/// pmacct 1.7.7's answer to `q`, once it gives the same one twice in a row: its table no
/// longer changes (the file has been read), so an answer it does not repeat is not its real
/// one. Ours is asked once: nothing here hides a wrong answer of ours.
fn settled_answer(socket: &Path, q: &[&str]) -> (i32, String) {
    let mut last = query("pmacct", socket, q);
    for _ in 0..10 {
        let now = query("pmacct", socket, q);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("pmacct's answer to {q:?} never settled: {last:?}");
}

/// pmacct 1.7.7 answers a `-N HOST -c ...` now and then with the right lines followed by lines
/// of 0 (five: with `sum_host` in soak runs 5, 8 and 9, with `src_host` in run 21;
/// docs/differences.md 19): those are dropped when there are more lines than ours and every
/// extra one is 0. The lines compared are kept, and ours is compared as it is.
fn without_extra_zero_lines(answer: &str, ours: usize) -> String {
    let lines: Vec<&str> = answer.lines().collect();
    match lines.split_at_checked(ours) {
        Some((kept, extra)) if !extra.is_empty() && extra.iter().all(|l| l.trim() == "0") => {
            kept.iter().map(|l| format!("{l}\n")).collect()
        }
        _ => answer.to_string(),
    }
}

/// Lines of a table without its order (pmacct prints hash order; we print key order).
fn unordered(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn client_outputs_match_pmacct() {
    let _serial = serial();
    let Some(td) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = dir.path().join("gen.pcap");
    // 10 hosts keep the table small: pmacct 1.7.7 stops storing new keys after a few thousand
    // entries even with imt_mem_pools_number: 0 ("Unable to allocate more memory pools").
    common::generate(&generated, 30_000, 10, 120);
    let captures = [
        generated,
        td.join("capture/ndpi__netflix.pcap"),
        td.join("capture/ndpi__http_ipv6.pcap"),
        td.join("capture/ndpi__reddit.pcap"),
    ];
    let aggregates = [
        "sum_host",
        "src_host, dst_host, proto",
        "src_host, dst_host, src_port, dst_port, proto",
    ];
    let mut failures = Vec::new();
    for pcap in &captures {
        for aggregate in aggregates {
            let case = tempfile::tempdir_in(dir.path()).expect("tempdir");
            let (_ours, ours_sock, _theirs, theirs_sock) = start_both(case.path(), pcap, aggregate);
            let host = if pcap.ends_with("gen.pcap") {
                "10.16.0.7"
            } else if pcap.ends_with("ndpi__reddit.pcap") || pcap.ends_with("ndpi__http_ipv6.pcap")
            {
                "2a00:1450:4007:80c::200e"
            } else {
                "192.168.1.7"
            };
            let c = if aggregate == "sum_host" {
                "sum_host"
            } else {
                "src_host"
            };
            let two = format!("{host};10.0.0.1");
            let queries: Vec<Vec<&str>> = vec![
                vec!["-s"],
                vec!["-s", "-O", "csv"],
                vec!["-s", "-O", "json"],
                vec!["-s", "-T", "bytes,10"],
                vec!["-N", host, "-c", c],
                vec!["-N", host, "-c", c, "-n", "all"],
                vec!["-N", &two, "-c", c, "-S"],
                vec!["-M", host, "-c", c],
            ];
            for q in &queries {
                let (a_code, a) = query(&client(), &ours_sock, q);
                let (b_code, mut b) = settled_answer(&theirs_sock, q);
                if q.contains(&"-N") && !q.contains(&"all") {
                    b = without_extra_zero_lines(&b, a.lines().count());
                }
                let same = if q.contains(&"-T") {
                    // Top N: the same rows in the same byte order (ties may list in any order).
                    let bytes = |t: &str| {
                        t.lines()
                            .filter_map(|l| l.split_whitespace().last().map(str::to_string))
                            .collect::<Vec<_>>()
                    };
                    bytes(&a) == bytes(&b) && a.lines().count() == b.lines().count()
                } else {
                    unordered(&a) == unordered(&b)
                };
                // pmacct 1.7.7 bugs with sum_host: -s -O json prints no address, and the last
                // number of -N -n all is garbage. Both are skipped (docs/client.md).
                let known_bug = aggregate == "sum_host"
                    && (q == &vec!["-s", "-O", "json"] || q.contains(&"all"));
                if (!same || a_code != b_code) && !known_bug {
                    failures.push(format!("{} [{aggregate}] pmacct {}:\n--- ours ({a_code})\n{}\n--- pmacct ({b_code})\n{}", pcap.display(), q.join(" "), head(&a), head(&b)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Tags of a pre_tag_map through the memory table and the client: the same answers as pmacct
/// 1.7.7's daemon and client, matches on the tag included. Labels, which pmacct's memory plugin
/// refuses ("variable-length primitives, ie. label, are not supported"), are checked on ours.
#[test]
fn tags_and_labels_in_the_client() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    common::generate(&pcap, 20_000, 10, 60);
    let map = dir.path().join("pretag.map");
    std::fs::write(
        &map,
        "set_tag=1 filter='tcp port 80'\nset_tag=2 filter='tcp'\nset_label=dns filter='udp port 53'\n",
    )
    .expect("map");
    let extra = format!("pre_tag_map: {}\n", map.display());
    let case = tempfile::tempdir_in(dir.path()).expect("tempdir");
    let (_ours, ours_sock, _theirs, theirs_sock) =
        start_both_with(case.path(), &pcap, "tag, proto", &extra);
    let queries: Vec<Vec<&str>> = vec![
        vec!["-s"],
        vec!["-s", "-O", "csv"],
        vec!["-s", "-O", "json"],
        vec!["-M", "1", "-c", "tag"],
        vec!["-N", "2", "-c", "tag"],
        vec!["-M", "0,udp", "-c", "tag,proto"],
    ];
    let mut failures = Vec::new();
    for q in &queries {
        let (a_code, a) = query(&client(), &ours_sock, q);
        let (b_code, b) = settled_answer(&theirs_sock, q);
        if unordered(&a) != unordered(&b) || a_code != b_code {
            failures.push(format!(
                "pmacct {}:\n--- ours ({a_code})\n{}\n--- pmacct ({b_code})\n{}",
                q.join(" "),
                head(&a),
                head(&b)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Labels, ours only: the client gets the label table with the entries.
    let sock = dir.path().join("labels.pipe");
    let cfg = dir.path().join("labels.conf");
    std::fs::write(
        &cfg,
        memory_config(&pcap, &sock, "tag, label, proto", &extra),
    )
    .expect("write");
    let mut ours = Daemon::start(env!("CARGO_BIN_EXE_pmacctd"), &cfg);
    ours.wait_for("finished reading");
    let (_, csv) = query(&client(), &sock, &["-s", "-O", "csv"]);
    let (_, all) = query(&client(), &ours_sock, &["-s", "-O", "csv"]);
    let udp_total = |t: &str| -> u64 {
        t.lines()
            .filter(|l| l.split(',').nth_back(2) == Some("udp"))
            .filter_map(|l| l.rsplit(',').nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let dns: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("0,dns,udp,"))
        .collect();
    assert_eq!(dns.len(), 1, "{csv}");
    assert_eq!(udp_total(&csv), udp_total(&all), "{csv}\n{all}");
    let (code, matched) = query(&client(), &sock, &["-M", "dns", "-c", "label", "-O", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        matched,
        format!("TAG,LABEL,PROTOCOL,PACKETS,BYTES\n{}\n", dns[0]),
        "{csv}"
    );
    let (_, json) = query(
        &client(),
        &sock,
        &["-M", "dns", "-c", "label", "-O", "json"],
    );
    assert!(json.contains("\"label\": \"dns\""), "{json}");
}

fn head(s: &str) -> String {
    s.lines().take(6).collect::<Vec<_>>().join("\n")
}

/// A table bounded to fewer entries than the input has keys: existing keys keep counting, the
/// overflow is exact and the client shows it.
#[test]
fn bounded_table_counts_what_it_cannot_store() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    let packets = 20_000;
    common::generate(&pcap, packets, 400, 60);
    let sock = dir.path().join("m.pipe");
    let cfg = dir.path().join("m.conf");
    // 1 pool of 64 KiB: a few hundred entries for 400 hosts' thousands of host pairs.
    std::fs::write(
        &cfg,
        format!("pcap_savefile: {}\npcap_savefile_wait: true\nplugins: memory[m]\nimt_path[m]: {}\nimt_mem_pools_number: 1\nimt_mem_pools_size: 65536\naggregate[m]: src_host, dst_host\n", pcap.display(), sock.display()),
    )
    .expect("write");
    let mut d = Daemon::start(env!("CARGO_BIN_EXE_pmacctd"), &cfg);
    d.wait_for("finished reading");
    let (_, status) = query(&client(), &sock, &["-t"]);
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    let (entries, max, overflow) = (
        field("entries"),
        field("max_entries"),
        field("overflow_packets"),
    );
    let aggregate = pmacct_core::primitive::Aggregate::parse("src_host, dst_host").expect("agg");
    let words = pmacct_core::layout::KeyLayout::new(&aggregate, false).words();
    let entry_bytes = pmacct_core::table::entry_bytes(words) as u64;
    assert!(
        max * entry_bytes <= 65536,
        "the bound holds: {max} entries of {entry_bytes} bytes"
    );
    assert_eq!(entries, max, "the table is full");
    let (_, stored) = query(
        &client(),
        &sock,
        &["-N", "*,*", "-c", "src_host,dst_host", "-n", "packets"],
    );
    let stored: u64 = stored.trim().parse().expect("packets");
    assert_eq!(
        stored + overflow,
        packets,
        "every packet is either stored or counted as overflow"
    );
    assert!(overflow > 0);
    let (_, table) = query(&client(), &sock, &["-s"]);
    assert!(
        table.contains(&format!("WARN: the table is full: {overflow} packets")),
        "{table}"
    );
    assert!(
        d.seen
            .iter()
            .any(|l| l.contains(&format!("{overflow} packets not stored (table full)"))),
        "{:?}",
        d.seen
    );
}

/// Polling every 10 ms while a capture is replayed neither stalls ingestion nor shows a broken
/// table, and the final table equals the print plugin's totals for the same file.
#[test]
fn queries_while_ingesting_see_whole_rows_and_the_end_is_exact() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    common::generate(&pcap, 200_000, 500, 600);
    let sock = dir.path().join("m.pipe");
    let cfg = dir.path().join("m.conf");
    std::fs::write(
        &cfg,
        memory_config(
            &pcap,
            &sock,
            "src_host, dst_host, proto",
            "pcap_savefile_replay: 30\n",
        ),
    )
    .expect("write");
    let mut d = Daemon::start(env!("CARGO_BIN_EXE_pmacctd"), &cfg);
    let mut polls = 0;
    let mut done = false;
    while !done {
        // Often: a release build ingests the 6M packets in about a second.
        std::thread::sleep(Duration::from_millis(10));
        while let Ok(line) = d.lines.try_recv() {
            done |= line.contains("finished reading");
            d.seen.push(line);
        }
        let (code, out) = query(&client(), &sock, &["-s"]);
        if code != 0 {
            continue; // not listening yet
        }
        polls += 1;
        let lines: Vec<&str> = out.lines().collect();
        let total: usize = lines
            .last()
            .and_then(|l| l.strip_prefix("For a total of: "))
            .and_then(|l| l.strip_suffix(" entries"))
            .and_then(|n| n.parse().ok())
            .expect("footer");
        let rows: Vec<&&str> = lines.iter().skip(1).take_while(|l| !l.is_empty()).collect();
        assert_eq!(rows.len(), total, "row count matches the footer");
        for r in rows {
            assert_eq!(r.split_whitespace().count(), 5, "whole row: {r}");
        }
    }
    assert!(
        polls >= 3,
        "the client was answered while ingesting ({polls} polls)"
    );
    let (_, csv) = query(&client(), &sock, &["-s", "-O", "csv"]);
    let ours = common::rows_csv(&csv, 3);
    let print = common::run_ours(&format!(
        "pcap_savefile: {}\npcap_savefile_replay: 30\nplugins: print[p]\nprint_output[p]: csv\naggregate[p]: src_host, dst_host, proto\n",
        pcap.display()
    ));
    assert!(print.ok, "{}", print.stderr);
    assert_eq!(ours, common::rows_csv(&print.stdout, 3));
    let packets: u64 = ours.values().map(|v| v.0).sum();
    assert_eq!(packets, 30 * 200_000);
}

/// The README's memory example, unchanged but for its input and socket path, holds a network
/// of more than 50,000 hosts: without imt_mem_pools_* the table is bounded at 64 MiB, not at
/// pmacct's 16 x 8 KiB (a few hundred entries).
#[test]
fn readme_memory_example_holds_fifty_thousand_hosts() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("big-network.pcap");
    common::generate(&pcap, 400_000, 30_000, 600);
    let mut hosts = std::collections::BTreeSet::new();
    for p in common::tshark_packets(&pcap) {
        hosts.insert(p.src);
        hosts.insert(p.dst);
    }
    assert!(hosts.len() > 50_000, "{} hosts", hosts.len());
    let sock = dir.path().join("plugin1.pipe");
    let cfg = dir.path().join("readme.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: memory[plugin1]\nimt_path[plugin1]: {}\naggregate[plugin1]: sum_host\n",
            pcap.display(),
            sock.display()
        ),
    )
    .expect("write");
    let mut d = Daemon::start(env!("CARGO_BIN_EXE_pmacctd"), &cfg);
    d.wait_for("finished reading");
    assert!(
        d.seen
            .iter()
            .any(|l| l.contains("entries (64 MiB, the default")),
        "{:?}",
        d.seen
    );
    let (_, status) = query(&client(), &sock, &["-t"]);
    assert!(status.contains("overflow_packets: 0"), "{status}");
    let (_, csv) = query(&client(), &sock, &["-s", "-O", "csv"]);
    let stored: std::collections::BTreeSet<String> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    assert_eq!(stored, hosts);
}

/// Custom primitives (aggregate_primitives) in the client: the dump equals the print plugin's
/// rows, `-M` matches their values, and a name neither knows gets a "did you mean".
#[test]
fn custom_primitives_in_the_client() {
    let Some(data) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = data.join("flow/netflow-v9/pmacct__101__traffic-00.pcap");
    let map = dir.path().join("custom.map");
    std::fs::write(
        &map,
        "name=mtla field_type=47 len=4 semantics=ip\nname=mtla_raw field_type=47 len=4 semantics=raw\n\
         name=vrf field_type=234 len=4 semantics=u_int\n",
    )
    .expect("map");
    let aggregate = "dst_port, mtla, mtla_raw, vrf";
    let extra = format!("aggregate_primitives: {}\n", map.display());
    let sock = dir.path().join("custom.pipe");
    let cfg = dir.path().join("custom.conf");
    std::fs::write(&cfg, memory_config(&pcap, &sock, aggregate, &extra)).expect("write");
    let mut d = Daemon::start(env!("CARGO_BIN_EXE_nfacctd"), &cfg);
    d.wait_for("finished reading");
    let print_cfg = dir.path().join("print.conf");
    std::fs::write(
        &print_cfg,
        format!(
            "pcap_savefile: {}\n{extra}plugins: print[p]\nprint_output[p]: csv\naggregate[p]: {aggregate}\n",
            pcap.display()
        ),
    )
    .expect("write");
    let printed = Command::new(env!("CARGO_BIN_EXE_nfacctd"))
        .arg("-f")
        .arg(&print_cfg)
        .output()
        .expect("print run");
    let printed = String::from_utf8_lossy(&printed.stdout).into_owned();
    let (code, dump) = query(&client(), &sock, &["-s", "-O", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(unordered(&dump), unordered(&printed));
    assert_eq!(dump.lines().count(), 51, "{dump}");
    assert_eq!(
        dump.lines().next(),
        Some("DST_PORT,mtla,mtla_raw,vrf,PACKETS,BYTES")
    );
    let expected: Vec<String> = unordered(&dump)
        .into_iter()
        .filter(|l| l.contains(",138.187.57.65,8A-BB-39-41,1610612736,"))
        .collect();
    assert_eq!(expected.len(), 26, "{dump}");
    let (code, matched) = query(
        &client(),
        &sock,
        &[
            "-c",
            "mtla,vrf",
            "-M",
            "138.187.57.65,1610612736",
            "-O",
            "csv",
        ],
    );
    assert_eq!(code, 0);
    let mut want = expected.clone();
    want.push("DST_PORT,mtla,mtla_raw,vrf,PACKETS,BYTES".into());
    want.sort();
    assert_eq!(unordered(&matched), want);
    let (code, none) = query(&client(), &sock, &["-c", "mtla_raw", "-M", "01-02-03-04"]);
    assert_eq!((code, none.lines().count()), (0, 3), "{none}");
    let out = Command::new(client())
        .arg("-p")
        .arg(&sock)
        .args(["-c", "mtla_rw", "-M", "x"])
        .output()
        .expect("client");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("unknown primitive 'mtla_rw'; did you mean 'mtla_raw'?")
            || String::from_utf8_lossy(&out.stderr)
                .contains("unknown primitive 'mtla_rw'; did you mean 'mtla_raw'?"),
        "{out:?}"
    );
}
