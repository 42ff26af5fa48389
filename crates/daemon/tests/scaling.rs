//! The scale-out layout of docs/scaling.md: pmacctd → kafka plugin → Kafka → ClickHouse. A
//! generated three-day home network (the report's) is read by one pmacctd with two plugins,
//! sqlite3 (for `pmacct report`) and kafka (UTC stamps, 1-minute bins, markers, packed
//! messages) producing to tansu, a Kafka-protocol broker; the confluent-kafka package reads
//! the topic back; ClickHouse in-process (the `chdb` package)
//! loads it with the tables docs/scaling.md gives, and the page's per-device per-day query
//! must equal `pmacct report --by day`, row for row. Once with JSON, once with Avro (decoded
//! by Debian's python3-avro with the schema the plugin wrote).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::home::{traffic, write_pcap, ZONE};
use common::tansu::Tansu;

/// A fenced block of docs/scaling.md, found by its first line.
fn doc_block(first_line: &str) -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scaling.md"),
    )
    .expect("docs/scaling.md");
    doc.split("```sql\n")
        .find(|b| b.starts_with(first_line))
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("no block '{first_line}' in docs/scaling.md"))
        .to_string()
}

/// Runs pmacctd with a sqlite3 plugin and a kafka plugin of `output` on the capture.
fn collect(dir: &Path, pcap: &Path, brokers: &str, output: &str) -> (PathBuf, PathBuf) {
    let db = dir.join(format!("{output}.db"));
    let schema = dir.join(format!("{output}.avsc"));
    let avro = match output {
        "json" => String::new(),
        _ => format!("avro_schema_file[k]: {}\n", schema.display()),
    };
    let cfg = dir.join(format!("{output}.conf"));
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: sqlite3[s], kafka[k]\n\
             aggregate[s]: src_host, dst_host, src_mac, dst_mac\nsql_db[s]: {}\n\
             sql_history[s]: 1h\nsql_history_roundoff[s]: h\nsql_refresh_time[s]: 3600\n\
             aggregate[k]: src_host, dst_host, proto\nkafka_broker_host[k]: {brokers}\n\
             kafka_topic[k]: pmacct.{output}\nkafka_output[k]: {output}\n{avro}\
             kafka_history[k]: 1m\nkafka_history_roundoff[k]: m\nkafka_refresh_time[k]: 3600\n\
             timestamps_utc[k]: true\nkafka_multi_values[k]: 1000000\nkafka_markers[k]: true\n\
             kafka_spool_file[k]: {}\n",
            pcap.display(),
            db.display(),
            dir.join(format!("{output}.spool")).display()
        ),
    )
    .expect("config");
    let err = common::run_file_ok(&cfg, ZONE);
    assert!(!err.contains("WARN"), "{err}");
    (db, schema)
}

/// `pmacct report --by day` as (day, device, down bytes, up bytes, down packets, up packets).
fn report_rows(db: &Path) -> Vec<(String, String, u64, u64, u64, u64)> {
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(client)
        .args(["report", "--db"])
        .arg(db)
        .args(["--format", "json", "--by", "day"])
        .args([
            "--local-net",
            "192.168.1.0/24",
            "--local-net",
            "2001:db8:1::/64",
        ])
        .env("TZ", ZONE)
        .output()
        .expect("pmacct report");
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| row(r, "period_start"))
        .collect()
}

fn row(r: &serde_json::Value, day: &str) -> (String, String, u64, u64, u64, u64) {
    let n = |k: &str| {
        r[k].as_u64()
            .or_else(|| r[k].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{k} in {r}"))
    };
    (
        r[day].as_str().expect("day")[..10].to_string(),
        r["device"].as_str().expect("device").to_string(),
        n("download_bytes"),
        n("upload_bytes"),
        n("download_packets"),
        n("upload_packets"),
    )
}

/// The topic's records loaded into ClickHouse with docs/scaling.md's tables, and the page's
/// per-device per-day query's rows.
fn clickhouse_rows(dir: &Path, records: &str) -> Vec<(String, String, u64, u64, u64, u64)> {
    let tables = dir.join("tables.sql");
    let query = dir.join("query.sql");
    let input = dir.join("records.jsonl");
    // The page's tables less their retention: the generated days are in 2024, older than any
    // TTL, and ClickHouse would drop them at the first merge.
    let ddl: String = doc_block("-- clickhouse: tables")
        .lines()
        .map(|l| match l.starts_with("TTL ") && l.ends_with(';') {
            true => ";\n".to_string(),
            false => format!("{l}\n"),
        })
        .collect();
    assert_eq!(ddl.matches("TTL ").count(), 0, "{ddl}");
    std::fs::write(&tables, ddl).expect("tables");
    std::fs::write(&query, doc_block("-- clickhouse: per device per day")).expect("query");
    std::fs::write(&input, records).expect("records");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/clickhouse_load.py");
    let out = Command::new(common::tansu::python())
        .arg(script)
        .args([&tables, &query, &input])
        .output()
        .expect("chdb's python (scripts/test.sh installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| row(&serde_json::from_str(l).expect("a JSON row"), "day"))
        .collect()
}

#[test]
fn clickhouse_per_device_per_day_equals_the_report_for_json_and_avro() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("home.pcap");
    write_pcap(&pcap, &traffic());
    for output in ["json", "avro"] {
        let topic = format!("pmacct.{output}");
        broker.create_topic(&topic, 3);
        let (db, schema) = collect(dir.path(), &pcap, &broker.bootstrap(), output);
        let records = match output {
            "json" => broker.read_text(&topic),
            _ => common::avro_decode(&schema, &broker.read_framed(&topic)),
        };
        let purges = records.lines().filter(|l| l.contains("\"purge\"")).count();
        assert!(purges > 2_000, "{output}: {purges} records");
        let want = report_rows(&db);
        // Three days, five devices (the laptop has two addresses).
        assert!(want.len() >= 15, "{want:?}");
        assert_eq!(clickhouse_rows(dir.path(), &records), want, "{output}");
    }
}
