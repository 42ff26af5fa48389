//! The amqp plugin against a real RabbitMQ (Debian's, in a network namespace), read by
//! Debian's amqp-tools: the records are the print plugin's JSON rows with `writer_id`, the
//! same as Debian's pmacctd 1.7.7 publishes for the same capture; markers frame each purge;
//! amqp_multi_values packs records; a broker down at exit loses nothing and repeats nothing.

mod common;

use std::path::Path;
use std::process::Command;

use common::rabbitmq::Rabbit;

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");

/// The messages of a drained queue.
fn messages(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|m| m.trim_matches('\n').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn records(text: &str) -> Vec<String> {
    let mut out: Vec<String> = messages(text)
        .iter()
        .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("\"event_type\": \"purge\""))
        .map(|l| common::stable_record(&l))
        .collect();
    out.sort();
    out
}

fn packets(records: &[String]) -> u64 {
    records
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .filter_map(|v| v["packets"].as_u64())
        .sum()
}

/// Runs `program -f` on a configuration inside the broker's namespace; its stderr.
fn run(rabbit: &Rabbit, program: &str, name: &str, text: &str) -> String {
    let cfg = rabbit.path(name);
    std::fs::write(&cfg, text).expect("config");
    let out = rabbit.run(program, &["-f", &cfg.display().to_string()]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn config(pcap: &Path, extra: &str) -> String {
    format!(
        "pcap_savefile: {}\nplugins: amqp[a]\naggregate[a]: src_host, dst_host, proto\n\
         amqp_host[a]: 127.0.0.1\namqp_history[a]: 1m\namqp_refresh_time[a]: 86400\n{extra}",
        pcap.display()
    )
}

/// The print plugin's JSON rows for the same capture and bins.
fn print_rows(pcap: &Path, dir: &Path) -> Vec<String> {
    common::print_json_rows(pcap, dir, "src_host, dst_host, proto", true)
}

/// Every purge_init read has its purge_close (the consumer stops between purges, not in one:
/// a last, empty purge may follow the one that carried the last records).
fn markers_paired(text: &str) -> bool {
    let closes = text.matches("\"purge_close\"").count();
    closes > 0 && text.matches("\"purge_init\"").count() == closes
}

#[test]
fn records_are_the_print_rows_as_debians_pmacctd_publishes_them() {
    let Some(rabbit) = Rabbit::start("a") else {
        return;
    };
    let pcap = rabbit.path("packets.pcap");
    common::generate(&pcap, 5_000, 40, 180);
    let expected = print_rows(&pcap, rabbit.dir());
    assert!(expected.len() > 100, "{}", expected.len());
    let spool = format!("amqp_spool_file[a]: {}\n", rabbit.path("spool").display());
    let conf = config(&pcap, &format!("amqp_markers[a]: true\n{spool}"));
    // The first run declares the exchange (its messages have nowhere to go).
    run(&rabbit, PMACCTD, "first.conf", &conf);
    let consumer = rabbit.consume("pmacct", "acct", "ours");
    let err = run(&rabbit, PMACCTD, "ours.conf", &conf);
    let want = expected.len();
    let text = consumer.wait_for(|t| records(t).len() >= want && markers_paired(t));
    drop(consumer);
    assert_eq!(records(&text), expected, "{err}");
    // Markers: every purge between a purge_init and a purge_close that counts its records,
    // all with one writer_id.
    let all = messages(&text);
    let first: serde_json::Value = serde_json::from_str(&all[0]).expect("json");
    let writer = first["writer_id"].as_str().expect("writer_id").to_string();
    assert!(writer.starts_with("a/"), "{writer}");
    let (mut open, mut in_purge, mut purges) = (false, 0u64, 0);
    for m in &all {
        let v: serde_json::Value = serde_json::from_str(m).expect("json");
        assert_eq!(v["writer_id"], writer.as_str());
        match v["event_type"].as_str() {
            Some("purge_init") => (open, in_purge) = (true, 0),
            Some("purge") => in_purge += u64::from(open),
            Some("purge_close") => {
                assert_eq!(v["purged_entries"], in_purge, "{m}");
                (open, purges) = (false, purges + 1);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(purges >= 2 && !open, "{purges} purges");
    // Debian's pmacctd 1.7.7, same capture and configuration (its spool key unknown to it).
    let theirs_conf = config(&pcap, "amqp_markers[a]: true\n");
    let consumer = rabbit.consume("pmacct", "acct", "theirs");
    run(&rabbit, "/usr/sbin/pmacctd", "theirs.conf", &theirs_conf);
    let text = consumer.wait_for(|t| records(t).len() >= want && markers_paired(t));
    assert_eq!(
        records(&text),
        expected,
        "Debian's pmacctd published other records"
    );
}

#[test]
fn multi_values_pack_records_up_to_the_byte_budget() {
    let Some(rabbit) = Rabbit::start("m") else {
        return;
    };
    let pcap = rabbit.path("packets.pcap");
    common::generate(&pcap, 3_000, 30, 120);
    let expected = print_rows(&pcap, rabbit.dir());
    let spool = format!("amqp_spool_file[a]: {}\n", rabbit.path("spool").display());
    let conf = config(&pcap, &format!("amqp_multi_values[a]: 2000\n{spool}"));
    run(&rabbit, PMACCTD, "first.conf", &conf);
    let consumer = rabbit.consume("pmacct", "acct", "ours");
    run(&rabbit, PMACCTD, "ours.conf", &conf);
    let want = expected.len();
    let text = consumer.wait_for(|t| records(t).len() >= want);
    assert_eq!(records(&text), expected);
    let bodies = messages(&text);
    assert!(
        bodies.iter().all(|b| b.len() < 2000),
        "a message past the budget"
    );
    // Each message is full (no room for one more record) but each purge's last one.
    let longest = bodies
        .iter()
        .flat_map(|b| b.lines())
        .map(str::len)
        .max()
        .unwrap_or(0);
    let partial = bodies
        .iter()
        .filter(|b| b.len() + 1 + longest + 1 < 2000)
        .count();
    assert!(
        partial <= 3,
        "{partial} messages not full of {}",
        bodies.len()
    );
}

/// The broker is down while a capture is read: the daemon keeps the messages, spools them at
/// exit; the broker comes back, the next run sends the spool first, then its own: every
/// record of both runs arrives once.
#[test]
fn a_broker_down_at_exit_loses_nothing_and_repeats_nothing() {
    let Some(mut rabbit) = Rabbit::start("o") else {
        return;
    };
    let (a, b) = (rabbit.path("a.pcap"), rabbit.path("b.pcap"));
    common::generate(&a, 2_000, 20, 60);
    common::generate(&b, 3_000, 25, 60);
    let want = print_rows(&a, rabbit.dir()).len() + print_rows(&b, rabbit.dir()).len();
    let spool = rabbit.path("amqp.spool");
    let extra = format!(
        "amqp_persistent_msg[a]: true\namqp_spool_file[a]: {}\n",
        spool.display()
    );
    run(&rabbit, PMACCTD, "first.conf", &config(&a, &extra));
    rabbit.stop();
    let err = run(&rabbit, PMACCTD, "down.conf", &config(&a, &extra));
    assert!(err.contains("broker unavailable at exit"), "{err}");
    assert!(err.contains("write_retries="), "{err}");
    assert!(spool.exists());
    rabbit.run_server();
    // The exchange is durable: it is back with the broker.
    let consumer = rabbit.consume("pmacct", "acct", "back");
    let err = run(&rabbit, PMACCTD, "back.conf", &config(&b, &extra));
    assert!(
        err.contains("holds") && err.contains("sending them first"),
        "{err}"
    );
    assert!(!spool.exists(), "the spool is removed once sent");
    let text = consumer.wait_for(|t| records(t).len() >= want);
    let got = records(&text);
    assert_eq!(got.len(), want, "every record once");
    assert_eq!(packets(&got), 5_000);
}

/// The broker stopped for 60 s in the middle of a live run (IPFIX from flowsend into nfacctd,
/// purged every 2 s to persistent messages); during the outage nfacctd is stopped (it spools
/// what it kept) and started again (it sends the spool first once the broker is back). Every
/// flow either run accounted reaches the consumer once (its packets: one per flow), and the
/// daemons logged the outage, the spool and the recovery.
#[test]
fn a_broker_stopped_for_60_s_with_a_restart_during_it_loses_and_repeats_nothing() {
    let Some(mut rabbit) = Rabbit::start("l") else {
        return;
    };
    let consumer = rabbit.consume_durable("pmacct", "acct", "live");
    let spool = rabbit.path("live.spool");
    let folder = rabbit.path("");
    let config = |name: &str| {
        let (cfg, log) = (
            folder.join(format!("{name}.conf")),
            folder.join(format!("{name}.log")),
        );
        std::fs::write(
            &cfg,
            format!(
                "nfacctd_ip: 127.0.0.1\nnfacctd_port: 2100\nlogfile: {}\nplugins: amqp[a]\n\
                 aggregate[a]: peer_src_ip, src_port\namqp_host[a]: 127.0.0.1\n\
                 amqp_refresh_time[a]: 2\namqp_persistent_msg[a]: true\namqp_markers[a]: true\n\
                 amqp_multi_values[a]: 65536\namqp_spool_file[a]: {}\n",
                log.display(),
                spool.display()
            ),
        )
        .expect("config");
        (cfg, log)
    };
    let log_has = |log: &Path, text: &str| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(text)
    };
    let nfacctd = env!("CARGO_BIN_EXE_nfacctd");
    let (cfg1, log1) = config("first");
    let first = common::netns::spawn_in(&rabbit.ns, &[], nfacctd, &cfg1);
    common::netns::wait_until(20, "nfacctd listening", || {
        log_has(&log1, "collecting NetFlow/IPFIX")
    });
    let mut sender = Command::new("ip")
        .args(["netns", "exec", &rabbit.ns, env!("CARGO_BIN_EXE_flowsend")])
        .args(["127.0.0.1:2100", "1000", "75", "20", "500"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flowsend");
    consumer.wait_for(|t| t.contains("purge_close"));
    let stopped = std::time::Instant::now();
    rabbit.stop();
    common::netns::wait_until(20, "the daemon finding the broker gone", || {
        log_has(&log1, "messages kept, retried every 2 s")
    });
    std::thread::sleep(std::time::Duration::from_secs(10));
    first.signal("-TERM");
    let (status, _) = first.wait_exit();
    assert!(status.success());
    let text1 = std::fs::read_to_string(&log1).expect("log");
    assert!(text1.contains("broker unavailable at exit"), "{text1}");
    assert!(spool.exists());
    let (cfg2, log2) = config("second");
    let second = common::netns::spawn_in(&rabbit.ns, &[], nfacctd, &cfg2);
    common::netns::wait_until(20, "the second daemon keeping the spool", || {
        log_has(&log2, "sending them first")
    });
    std::thread::sleep(std::time::Duration::from_secs(60).saturating_sub(stopped.elapsed()));
    rabbit.run_server();
    common::netns::wait_until(30, "the consumer back", || rabbit.binds("live") >= 2);
    common::netns::wait_until(30, "the broker back for the daemon", || {
        log_has(&log2, "back (was:")
    });
    assert!(sender.wait().expect("flowsend").success());
    second.signal("-TERM");
    let (status, _) = second.wait_exit();
    assert!(status.success());
    assert!(!spool.exists(), "the spool is sent and removed");
    let text2 = std::fs::read_to_string(&log2).expect("log");
    let accounted: u64 = [&text1, &text2]
        .iter()
        .map(|text| {
            text.lines()
                .rev()
                .find_map(|l| l.split(" flow_records=").nth(1))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .expect("nfacctd's stats line")
        })
        .sum();
    assert!(accounted > 40_000, "{accounted}");
    let got = consumer.wait_for(|t| packets(&all_records(t)) >= accounted);
    assert_eq!(packets(&all_records(&got)), accounted, "every flow once");
}

/// Every record of every message, unsorted and unfiltered by bins.
fn all_records(text: &str) -> Vec<String> {
    messages(text)
        .iter()
        .flat_map(|m| m.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("\"event_type\": \"purge\""))
        .collect()
}

/// The configuration docs/amqp.md shows runs (its interface replaced by a capture file),
/// without a warning, and its records reach a consumer.
#[test]
fn the_docs_example_runs() {
    let Some(rabbit) = Rabbit::start("d") else {
        return;
    };
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/amqp.md"))
            .expect("docs/amqp.md");
    let example = doc
        .split("```\n")
        .find(|b| b.starts_with("! pmacctd-amqp.conf"))
        .expect("the example");
    let pcap = rabbit.path("packets.pcap");
    common::generate(&pcap, 2_000, 20, 60);
    let mut conf: String = example
        .lines()
        .map(|l| match l {
            l if l.starts_with("pcap_interface:") => format!("pcap_savefile: {}\n", pcap.display()),
            l => format!("{l}\n"),
        })
        .collect();
    conf.push_str(&format!(
        "amqp_spool_file[mq]: {}\n",
        rabbit.path("spool").display()
    ));
    run(&rabbit, PMACCTD, "first.conf", &conf);
    let consumer = rabbit.consume("pmacct", "acct", "docs");
    let err = run(&rabbit, PMACCTD, "docs.conf", &conf);
    assert!(!err.contains("WARN"), "{err}");
    let text = consumer.wait_for(|t| packets(&records(t)) >= 2_000);
    assert_eq!(packets(&records(&text)), 2_000, "{err}");
}
