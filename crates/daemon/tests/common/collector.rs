//! A collector daemon (nfacctd, sfacctd) on loopback for the live tests: free ports, the
//! daemon started and stopped, its metrics and its print files.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The daemon's /metrics, once it contains `until` (the collector publishes when idle).
pub fn metrics_once(addr: &str, until: &str) -> String {
    use std::io::{Read, Write};
    let start = Instant::now();
    loop {
        let mut text = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let _ = s.read_to_string(&mut text);
        }
        if text.contains(until) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no '{until}' in the metrics: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Daemon {
    pub child: Child,
    log: std::path::PathBuf,
}

/// A test that fails leaves no daemon behind.
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts `program` on `cfg` (which logs to `log`) and waits until its socket is open.
    pub fn start(program: &str, cfg: &std::path::Path, log: std::path::PathBuf) -> Daemon {
        let child = Command::new(program)
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the collector");
        let daemon = Daemon { child, log };
        daemon.wait_for(" from 'udp 127.0.0.1:");
        daemon
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no '{text}' in the log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{}", self.log());
        self.log()
    }
}

pub fn rows(path: &std::path::Path) -> Vec<String> {
    let mut rows: Vec<String> = std::fs::read_to_string(path)
        .expect("output file")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}
