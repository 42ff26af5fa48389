//! The kafka plugin against a real Kafka-protocol broker, tansu (crates.io), read back by the
//! confluent-kafka package: NetFlow from four exporters through nfacctd lands on the
//! partition of each exporter's key, with the print plugin's records, in JSON and in Avro
//! (decoded by python3-avro with the written schema); and a live nfacctd whose
//! broker is cut off for 60 s, and which is stopped and started again during the cut, loses
//! and repeats nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tansu::Tansu;

const NFACCTD: &str = env!("CARGO_BIN_EXE_nfacctd");

/// The four exporters the test's NetFlow comes from.
const EXPORTERS: [[u8; 4]; 4] = [[10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 4]];

/// NetFlow v5 exports (our nfprobe's) of a generated capture, the datagrams' sources
/// rewritten to the four exporters, a quarter each (in order, so no exporter's sequence has
/// a gap).
fn four_exporters(dir: &Path) -> PathBuf {
    let packets = dir.join("packets.pcap");
    common::generate(&packets, 4_000, 40, 180);
    let plugin = "plugins: nfprobe\nnfprobe_version: 5\nnfprobe_receiver";
    let pmacctd = Path::new(env!("CARGO_BIN_EXE_pmacctd"));
    let (pcap, datagrams) = common::probe_exports_with(pmacctd, &packets, plugin, dir);
    assert!(datagrams > 8, "{datagrams}");
    let mut bytes = std::fs::read(&pcap).expect("pcap");
    let (mut at, mut i) = (24, 0);
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        // Ethernet (14) + the IPv4 source's offset (12).
        bytes[at + 16 + 26..at + 16 + 30].copy_from_slice(&EXPORTERS[i * 4 / datagrams]);
        at += 16 + len;
        i += 1;
    }
    std::fs::write(&pcap, bytes).expect("pcap");
    pcap
}

#[test]
fn each_exporter_s_records_are_on_the_partition_of_its_key() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = four_exporters(dir.path());
    let aggregate = "peer_src_ip, src_host, dst_host, proto";
    let print = dir.path().join("print.conf");
    std::fs::write(
        &print,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: {aggregate}\nprint_history[p]: 1m\n\
             print_refresh_time[p]: 86400\nprint_output[p]: json\n",
            pcap.display()
        ),
    )
    .expect("config");
    let mut expected: Vec<String> = common::run_clean(NFACCTD, &print)
        .0
        .lines()
        .map(common::stable_record)
        .collect();
    expected.sort();
    for output in ["json", "avro"] {
        let topic = format!("pmacct.{output}");
        broker.create_topic(&topic, 3);
        let schema = dir.path().join(format!("{output}.avsc"));
        let avro = match output {
            "avro" => format!(
                "kafka_output[k]: avro\navro_schema_file[k]: {}\n",
                schema.display()
            ),
            _ => String::new(),
        };
        let cfg = dir.path().join("kafka.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: kafka[k]\naggregate[k]: {aggregate}\n\
                 kafka_broker_host[k]: {}\nkafka_topic[k]: {topic}\n{avro}\
                 kafka_partition_key[k]: $peer_src_ip\nkafka_partition_dynamic[k]: true\n\
                 kafka_history[k]: 1m\nkafka_refresh_time[k]: 86400\nkafka_spool_file[k]: {}\n",
                pcap.display(),
                broker.bootstrap(),
                dir.path().join("spool").display()
            ),
        )
        .expect("config");
        common::run_clean(NFACCTD, &cfg);
        let messages = broker.read(&topic);
        // One record per message: the decoded records in the messages' order.
        let bodies: Vec<String> = match output {
            "avro" => common::avro_decode(&schema, &common::tansu::framed(&messages))
                .lines()
                .map(str::to_string)
                .collect(),
            _ => messages
                .iter()
                .map(|m| String::from_utf8(m.value.clone()).expect("JSON"))
                .collect(),
        };
        assert_eq!(bodies.len(), messages.len(), "{output}");
        let mut got = Vec::new();
        let mut partitions = std::collections::BTreeMap::new();
        for (m, body) in messages.iter().zip(&bodies) {
            let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
            let peer = v["peer_ip_src"].as_str().expect("peer_ip_src");
            let key = m.key.clone().expect("a key");
            assert_eq!(key, peer.replace('.', "_"));
            // librdkafka's consistent_random: CRC-32 of the key modulo the partitions.
            assert_eq!(m.partition, common::crc32(key.as_bytes()) % 3, "{body}");
            partitions.insert(peer.to_string(), m.partition);
            got.push(common::stable_record(body));
        }
        got.sort();
        assert_eq!(got, expected, "{output}");
        assert_eq!(partitions.len(), 4, "{partitions:?}");
        let used: std::collections::BTreeSet<_> = partitions.values().collect();
        assert!(used.len() >= 2, "{partitions:?}");
    }
}

/// The `name=value` counters of the last stats line of a log.
fn stat(log: &str, name: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| l.split(&format!(" {name}=")).nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {log}"))
}

/// IPFIX from flowsend into nfacctd, purged every 2 s to tansu, which is cut off (its link
/// down) for 60 s; during the cut nfacctd is stopped, spools what it kept, and is started
/// again. When the link is back every flow either run accounted is in the topic exactly once,
/// and the counters and the log show the retries, the spool and the recovery.
#[test]
fn a_cut_of_60_s_with_a_restart_during_it_loses_and_repeats_nothing() {
    let Some(broker) = Tansu::start_behind_link("ko") else {
        return;
    };
    broker.create_topic("pmacct.acct", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join("librdkafka.conf");
    std::fs::write(&settings, "global, message.timeout.ms, 2000\n").expect("file");
    let port = common::collector::free_udp_port();
    let spool = dir.path().join("spool");
    let config = |log: &Path| {
        let cfg = dir.path().join("live.conf");
        std::fs::write(
            &cfg,
            format!(
                "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nplugins: kafka[k]\n\
                 aggregate[k]: peer_src_ip, src_port\nkafka_broker_host[k]: {}\n\
                 kafka_config_file[k]: {}\nkafka_refresh_time[k]: 2\nkafka_markers[k]: true\n\
                 kafka_multi_values[k]: 65536\nkafka_spool_file[k]: {}\n",
                log.display(),
                broker.bootstrap(),
                settings.display(),
                spool.display()
            ),
        )
        .expect("config");
        cfg
    };
    let log1 = dir.path().join("first.log");
    let first = common::collector::Daemon::start(NFACCTD, &config(&log1), log1.clone());
    let mut sender = Command::new(env!("CARGO_BIN_EXE_flowsend"))
        .args([&format!("127.0.0.1:{port}"), "1000", "75", "20", "500"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("flowsend");
    first.wait_for("Purging cache - END");
    let cut = std::time::Instant::now();
    broker.cut(true);
    first.wait_for("messages kept, retried every 2 s");
    std::thread::sleep(std::time::Duration::from_secs(10));
    let text1 = first.stop();
    assert!(text1.contains("broker unavailable at exit"), "{text1}");
    assert!(stat(&text1, "write_retries") > 0, "{text1}");
    assert!(spool.exists());
    let log2 = dir.path().join("second.log");
    let second = common::collector::Daemon::start(NFACCTD, &config(&log2), log2.clone());
    second.wait_for("sending them first");
    std::thread::sleep(std::time::Duration::from_secs(60).saturating_sub(cut.elapsed()));
    broker.cut(false);
    second.wait_for("back (was:");
    assert!(sender.wait().expect("flowsend").success());
    let text2 = second.stop();
    assert!(!spool.exists(), "the spool is sent and removed");
    let (a1, a2) = (stat(&text1, "flow_records"), stat(&text2, "flow_records"));
    let accounted = a1 + a2;
    // Both runs accounted flows (the second one's start sees the broker still cut off).
    assert!(a1 > 2_000 && a2 > 10_000, "{a1} + {a2}: {text1}\n{text2}");
    let topic = broker.read_text("pmacct.acct");
    assert_eq!(common::purge_packets(&topic), accounted, "every flow once");
    let closes = topic.matches("\"purge_close\"").count();
    assert_eq!(topic.matches("\"purge_init\"").count(), closes);
}
