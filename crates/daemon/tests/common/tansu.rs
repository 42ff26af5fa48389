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

fn bin() -> PathBuf {
    let bin = cache().join("bin/tansu");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which builds it",
        bin.display()
    );
    bin
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

/// A broker behind a link: its own network namespace, joined to the test's by a veth pair
/// whose test-side end can be set down (packets to the broker then go nowhere).
struct Link {
    ns: String,
    dev: String,
}

impl Drop for Link {
    fn drop(&mut self) {
        super::sh(&["ip", "link", "del", &self.dev]);
        super::sh(&["ip", "netns", "del", &self.ns]);
    }
}

pub struct Tansu {
    child: Child,
    host: String,
    port: u16,
    // Dropped after the broker is killed (in Drop), so its namespace can go.
    link: Option<Link>,
}

impl Tansu {
    /// On a free loopback port.
    pub fn start() -> Tansu {
        let port = super::collector::free_tcp_port();
        Tansu::launch(Command::new(bin()), "127.0.0.1", port, None)
    }

    /// In a network namespace of its own behind a veth pair, at 10.201.N.2:9092 (N from the
    /// test's pid); None (after saying so) without root.
    pub fn start_behind_link(tag: &str) -> Option<Tansu> {
        let id = std::process::id() % 100_000;
        let ns = format!("tk{tag}{id}");
        if !super::sh(&["ip", "netns", "add", &ns]) {
            println!("SKIPPED: the broker-cut test needs root and iproute2 (ip netns add failed)");
            return None;
        }
        let link = Link {
            ns,
            dev: format!("tk{tag}{id}"),
        };
        let net = format!("10.201.{}", id % 250);
        let in_ns = |args: &[&str]| super::sh(&[&["ip", "netns", "exec", &link.ns], args].concat());
        let dev = link.dev.as_str();
        assert!(super::sh(&[
            "ip", "link", "add", dev, "type", "veth", "peer", "name", "b0", "netns", &link.ns
        ]));
        assert!(super::sh(&[
            "ip",
            "addr",
            "add",
            &format!("{net}.1/30"),
            "dev",
            dev
        ]));
        assert!(super::sh(&["ip", "link", "set", dev, "up"]));
        assert!(in_ns(&[
            "ip",
            "addr",
            "add",
            &format!("{net}.2/30"),
            "dev",
            "b0"
        ]));
        assert!(in_ns(&["ip", "link", "set", "b0", "up"]));
        assert!(in_ns(&["ip", "link", "set", "lo", "up"]));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &link.ns]).arg(bin());
        Some(Tansu::launch(cmd, &format!("{net}.2"), 9092, Some(link)))
    }

    fn launch(mut cmd: Command, host: &str, port: u16, link: Option<Link>) -> Tansu {
        let url = format!("tcp://{host}:{port}");
        let child = cmd
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
        let t = Tansu {
            child,
            host: host.to_string(),
            port,
            link,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Sets the link to a broker started behind one down (true) or up.
    pub fn cut(&self, down: bool) {
        let link = self.link.as_ref().expect("a broker behind a link");
        let state = if down { "down" } else { "up" };
        assert!(super::sh(&["ip", "link", "set", &link.dev, state]));
    }

    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(bin())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.bootstrap()),
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

    /// The messages in kcat's `%R%s` framing, as [`super::avro_decode`] reads them.
    pub fn read_framed(&self, topic: &str) -> Vec<u8> {
        framed(&self.read(topic))
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages in kcat's `%R%s` framing (a 4-byte big-endian length, then the body), in order.
pub fn framed(messages: &[Read]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(&(m.value.len() as u32).to_be_bytes());
        out.extend_from_slice(&m.value);
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
