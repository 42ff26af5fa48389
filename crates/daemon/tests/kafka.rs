//! The kafka plugin against a Kafka-protocol broker (librdkafka's mock cluster, three brokers,
//! run by this test process on loopback), read back by Debian's kcat: the records are the
//! print plugin's JSON rows with writer_id, and a record keyed by `$src_host` lands on the
//! partition librdkafka's consistent_random gives its key (CRC-32 modulo the partitions).

mod common;

use std::path::Path;
use std::process::Command;

use rdkafka::mocking::MockCluster;

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");

fn print_rows(pcap: &Path, dir: &Path) -> Vec<String> {
    common::print_json_rows(pcap, dir, "src_host, dst_host, proto", false)
}

/// Everything in the topic, from its beginning, as Debian's kcat prints it with `format`.
fn topic(brokers: &str, format: &str) -> String {
    String::from_utf8_lossy(&topic_bytes(brokers, format)).into_owned()
}

fn topic_bytes(brokers: &str, format: &str) -> Vec<u8> {
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            brokers,
            "-t",
            "pmacct.acct",
            "-o",
            "beginning",
            "-e",
        ])
        .args(["-f", format])
        .output()
        .expect("kcat (apt-get install kcat)");
    out.stdout
}

#[test]
fn records_reach_the_partition_of_their_key() {
    let mock = MockCluster::new(3).expect("a mock Kafka cluster");
    mock.create_topic("pmacct.acct", 3, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("packets.pcap");
    common::generate(&pcap, 3_000, 30, 60);
    let expected = print_rows(&pcap, dir.path());
    let cfg = dir.path().join("kafka.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: kafka[k]\naggregate[k]: src_host, dst_host, proto\n\
             kafka_broker_host[k]: {brokers}\nkafka_topic[k]: pmacct.acct\n\
             kafka_partition_key[k]: $src_host\nkafka_partition_dynamic[k]: true\n\
             kafka_refresh_time[k]: 86400\nkafka_spool_file[k]: {}\n",
            pcap.display(),
            dir.path().join("spool").display()
        ),
    )
    .expect("config");
    common::run_clean(PMACCTD, &cfg);
    let text = topic(&brokers, "%p\t%k\t%s\n");
    let mut got = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(p), Some(key), Some(body)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        let src = v["ip_src"].as_str().expect("ip_src");
        assert_eq!(key, src.replace(['.', ':'], "_"), "{line}");
        let partition: u32 = p.parse().expect("partition");
        assert_eq!(partition, common::crc32(key.as_bytes()) % 3, "{line}");
        got.push(common::stable_record(body));
    }
    got.sort();
    assert_eq!(got, expected);
}

/// `kafka_output: avro` and `avro_json`, with markers, 1-minute bins and packed messages:
/// every message decodes with the schema written to avro_schema_file (Debian's python3-avro
/// reads the binary ones), and the records are the print plugin's rows for the same capture.
#[test]
fn avro_records_decode_with_the_written_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("packets.pcap");
    common::generate(&pcap, 3_000, 30, 180);
    let expected = common::print_json_rows(&pcap, dir.path(), "src_host, dst_host, proto", true);
    assert!(expected.len() > 60, "{}", expected.len());
    for output in ["avro", "avro_json"] {
        let mock = MockCluster::new(1).expect("a mock Kafka cluster");
        mock.create_topic("pmacct.acct", 1, 1).expect("topic");
        let brokers = mock.bootstrap_servers();
        let schema = dir.path().join(format!("{output}.avsc"));
        let cfg = dir.path().join("kafka.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: kafka[k]\naggregate[k]: src_host, dst_host, proto\n\
                 kafka_broker_host[k]: {brokers}\nkafka_output[k]: {output}\n\
                 avro_schema_file[k]: {}\nkafka_markers[k]: true\nkafka_multi_values[k]: 2048\n\
                 kafka_history[k]: 1m\nkafka_refresh_time[k]: 86400\nkafka_spool_file[k]: {}\n",
                pcap.display(),
                schema.display(),
                dir.path().join("spool").display()
            ),
        )
        .expect("config");
        common::run_clean(PMACCTD, &cfg);
        let text = match output {
            "avro" => common::avro_decode(&schema, &topic_bytes(&brokers, "%R%s")),
            _ => topic(&brokers, "%s\n"),
        };
        let mut got = Vec::new();
        let (mut inits, mut closes, mut purged) = (0, 0, 0);
        let mut writers = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            writers.insert(v["writer_id"].as_str().expect("writer_id").to_string());
            match v["event_type"].as_str() {
                Some("purge") => got.push(common::stable_record(line)),
                Some("purge_init") => inits += 1,
                Some("purge_close") => {
                    closes += 1;
                    purged += v["purged_entries"].as_u64().expect("count");
                }
                other => panic!("{other:?} in {line}"),
            }
        }
        got.sort();
        assert_eq!(got, expected, "{output}");
        // A purge as each bin closes, a pair of markers around each.
        assert_eq!((inits, closes), (4, 4), "{output}");
        assert_eq!(purged, expected.len() as u64, "{output}");
        assert_eq!(writers.len(), 1, "one writer_id: {writers:?}");
        let messages = topic(&brokers, "%o\n").lines().count();
        assert!(messages < expected.len() / 5, "packed: {messages} messages");
    }
}

/// `kafka_multi_values` above librdkafka's `message.max.bytes` (which would refuse every
/// packed message): messages are packed up to the limit less room for framing, and every
/// record arrives.
#[test]
fn packed_messages_stay_under_librdkafkas_limit() {
    let mock = MockCluster::new(1).expect("a mock Kafka cluster");
    mock.create_topic("pmacct.acct", 1, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("packets.pcap");
    common::generate(&pcap, 3_000, 30, 60);
    let expected = print_rows(&pcap, dir.path());
    let settings = dir.path().join("librdkafka.conf");
    std::fs::write(&settings, "global, message.max.bytes, 20000\n").expect("file");
    let cfg = dir.path().join("kafka.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: kafka[k]\naggregate[k]: src_host, dst_host, proto\n\
             kafka_broker_host[k]: {brokers}\nkafka_config_file[k]: {}\n\
             kafka_multi_values[k]: 1000000\nkafka_refresh_time[k]: 86400\nkafka_spool_file[k]: {}\n",
            pcap.display(),
            settings.display(),
            dir.path().join("spool").display()
        ),
    )
    .expect("config");
    let (_, err) = common::run_clean(PMACCTD, &cfg);
    assert!(
        err.contains("messages are packed up to 15904 bytes"),
        "{err}"
    );
    let sizes = topic(&brokers, "%S\n");
    let sizes: Vec<usize> = sizes.lines().map(|l| l.parse().expect("a size")).collect();
    assert!(
        sizes.len() > 1 && sizes.iter().all(|n| *n <= 15_904),
        "{sizes:?}"
    );
    let mut got: Vec<String> = topic(&brokers, "%s")
        .lines()
        .filter(|l| !l.is_empty())
        .map(common::stable_record)
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

/// Every broker down while a capture is read: librdkafka gives the messages back after
/// message.timeout.ms (2 s here, from kafka_config_file), the plugin keeps them and spools them
/// at exit; with the brokers back, the next run sends the spool first: every record of both
/// runs arrives once.
#[test]
fn brokers_down_at_exit_lose_nothing_and_repeat_nothing() {
    let mock = MockCluster::new(1).expect("a mock Kafka cluster");
    mock.create_topic("pmacct.acct", 1, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    common::generate(&a, 2_000, 20, 60);
    common::generate(&b, 3_000, 25, 60);
    let want = print_rows(&a, dir.path()).len() + print_rows(&b, dir.path()).len();
    let settings = dir.path().join("librdkafka.conf");
    std::fs::write(&settings, "global, message.timeout.ms, 2000\n").expect("file");
    let spool = dir.path().join("spool");
    let run = |pcap: &Path| {
        let cfg = dir.path().join("kafka.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: kafka[k]\naggregate[k]: src_host, dst_host, proto\n\
                 kafka_broker_host[k]: {brokers}\nkafka_config_file[k]: {}\n\
                 kafka_refresh_time[k]: 86400\nkafka_spool_file[k]: {}\n",
                pcap.display(),
                settings.display(),
                spool.display()
            ),
        )
        .expect("config");
        let out = Command::new(PMACCTD)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("pmacctd");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    mock.broker_down(1).expect("broker down");
    let err = run(&a);
    assert!(err.contains("broker unavailable at exit"), "{err}");
    assert!(spool.exists());
    mock.broker_up(1).expect("broker up");
    let err = run(&b);
    assert!(err.contains("sending them first"), "{err}");
    assert!(!spool.exists(), "the spool is removed once sent");
    let text = topic(&brokers, "%s\n");
    let records: Vec<&str> = text.lines().filter(|l| l.contains("\"purge\"")).collect();
    assert_eq!(records.len(), want, "every record once");
    assert_eq!(common::purge_packets(&text), 5_000);
}

/// The broker down in the middle of a live run (IPFIX from flowsend into nfacctd, purged
/// every 2 s), then up again: every flow nfacctd accounted is in the topic once (one packet
/// per flow), and the daemon logged the outage and the recovery.
#[test]
fn a_broker_outage_during_a_live_run_loses_nothing() {
    let mock = MockCluster::new(1).expect("a mock Kafka cluster");
    mock.create_topic("pmacct.acct", 1, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("librdkafka.conf");
    std::fs::write(&settings, "global, message.timeout.ms, 2000\n").expect("file");
    let port = common::collector::free_udp_port();
    let (cfg, log) = (dir.path().join("live.conf"), dir.path().join("live.log"));
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nplugins: kafka[k]\n\
             aggregate[k]: peer_src_ip, src_port\nkafka_broker_host[k]: {brokers}\n\
             kafka_config_file[k]: {}\nkafka_refresh_time[k]: 2\nkafka_markers[k]: true\n\
             kafka_multi_values[k]: 65536\nkafka_spool_file[k]: {}\n",
            log.display(),
            settings.display(),
            dir.path().join("spool").display()
        ),
    )
    .expect("config");
    let daemon = common::collector::Daemon::start(env!("CARGO_BIN_EXE_nfacctd"), &cfg, log.clone());
    let mut sender = Command::new(env!("CARGO_BIN_EXE_flowsend"))
        .args([&format!("127.0.0.1:{port}"), "2000", "12", "30", "500"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("flowsend");
    common::netns::wait_until(20, "a first purge in the topic", || {
        topic(&brokers, "%s\n").contains("purge_close")
    });
    mock.broker_down(1).expect("broker down");
    daemon.wait_for("messages kept, retried every 2 s");
    mock.broker_up(1).expect("broker up");
    assert!(sender.wait().expect("flowsend").success());
    let text = daemon.stop();
    let accounted: u64 = text
        .lines()
        .rev()
        .find_map(|l| l.split(" flow_records=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("nfacctd's stats line");
    assert!(accounted > 10_000, "{accounted}");
    assert!(text.contains("back (was:"), "{text}");
    let packets = common::purge_packets(&topic(&brokers, "%s\n"));
    assert_eq!(packets, accounted, "every flow once");
}

/// The configuration docs/kafka.md shows runs (its socket replaced by a capture of IPFIX
/// exports, its broker by the mock cluster, its librdkafka file by one of ours), without a
/// warning, and its records reach the topic.
#[test]
fn the_docs_example_runs() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kafka.md"))
            .expect("docs/kafka.md");
    let example = doc
        .split("```\n")
        .find(|b| b.starts_with("! nfacctd-kafka.conf"))
        .expect("the example");
    let mock = MockCluster::new(1).expect("a mock Kafka cluster");
    mock.create_topic("pmacct.acct", 2, 1).expect("topic");
    let brokers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let packets = dir.path().join("packets.pcap");
    common::generate(&packets, 2_000, 20, 60);
    let plugin = "plugins: nfprobe\nnfprobe_version: 10\nnfprobe_receiver";
    let (pcap, _) = common::probe_exports_with(Path::new(PMACCTD), &packets, plugin, dir.path());
    let settings = dir.path().join("librdkafka.conf");
    std::fs::write(&settings, "global, message.timeout.ms, 5000\n").expect("file");
    let mut cfg = String::new();
    for line in example.lines() {
        let line = match line {
            l if l.starts_with("nfacctd_port:") => format!("pcap_savefile: {}", pcap.display()),
            l if l.starts_with("kafka_broker_host[k]:") => {
                format!("kafka_broker_host[k]: {brokers}")
            }
            l if l.starts_with("kafka_config_file[k]:") => {
                format!("kafka_config_file[k]: {}", settings.display())
            }
            l => l.to_string(),
        };
        cfg.push_str(&line);
        cfg.push('\n');
    }
    cfg.push_str(&format!(
        "kafka_spool_file[k]: {}\n",
        dir.path().join("spool").display()
    ));
    let path = dir.path().join("nfacctd-kafka.conf");
    std::fs::write(&path, cfg).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_nfacctd"))
        .arg("-f")
        .arg(&path)
        .output()
        .expect("nfacctd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    let packets = common::purge_packets(&topic(&brokers, "%s\n"));
    assert_eq!(packets, 2_000);
}
