//! A real Kafka-protocol broker for the tests: tansu (crates.io), in memory, on a free
//! loopback port, started per test and killed at drop; scripts/test.sh builds it once per
//! machine. Messages are read back by the confluent-kafka Python package (not our code).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where scripts/test.sh keeps tansu and the Python venv.
pub fn cache() -> PathBuf {
    std::env::var_os("PMACCT_RS_TEST_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cache/pmacct-rs-test")
        },
        PathBuf::from,
    )
}

/// The venv's python (chdb, confluent-kafka).
pub fn python() -> PathBuf {
    let p = cache().join("venv/bin/python3");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// One message as read back.
#[derive(Debug)]
pub struct Read {
    pub partition: u32,
    pub key: Option<String>,
    pub value: Vec<u8>,
}

pub struct Tansu {
    child: Child,
    port: u16,
}

impl Tansu {
    pub fn start() -> Tansu {
        let bin = cache().join("bin/tansu");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test.sh, which builds it",
            bin.display()
        );
        let port = super::collector::free_tcp_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu");
        let t = Tansu { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(cache().join("bin/tansu"))
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
            ])
            .args(["--partitions", &partitions.to_string(), topic])
            .output()
            .expect("tansu topic create");
        assert!(out.status.success(), "{out:?}");
    }

    /// Every message of `topic`, partition by partition, in order.
    pub fn read(&self, topic: &str) -> Vec<Read> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/kafka_read.py");
        let out = Command::new(python())
            .arg(script)
            .args([&self.bootstrap(), topic])
            .output()
            .expect("kafka_read.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                Read {
                    partition: v["partition"].as_u64().expect("partition") as u32,
                    key: v["key"].as_str().map(str::to_string),
                    value: unhex(v["value_hex"].as_str().expect("value")),
                }
            })
            .collect()
    }

    /// The messages' bodies, one a line (JSON outputs).
    pub fn read_text(&self, topic: &str) -> String {
        let mut text = String::new();
        for m in self.read(topic) {
            text.push_str(&String::from_utf8_lossy(&m.value));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }

    /// The messages in kcat's `%R%s` framing (4-byte big-endian length, then the body), as
    /// [`super::avro_decode`] reads them.
    pub fn read_framed(&self, topic: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for m in self.read(topic) {
            out.extend_from_slice(&(m.value.len() as u32).to_be_bytes());
            out.extend_from_slice(&m.value);
        }
        out
    }

    /// SIGSTOP / SIGCONT: a broker that stops answering, its data kept.
    pub fn pause(&self, paused: bool) {
        let sig = if paused { "-STOP" } else { "-CONT" };
        assert!(super::sh(&["kill", sig, &self.pid().to_string()]));
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
