//! The prometheus plugin and `metrics_listen`: a real Prometheus server (Debian's package)
//! scrapes the endpoint while a capture is replayed, and its HTTP API returns per-host byte
//! totals equal to tshark's count of the input; the series bound keeps `other` exact.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A GET's body (empty when nothing answers).
fn get(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(
        s,
        // HTTP/1.0, so the answer is not chunked.
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts our daemon on `pcap` (staying up after it), with `extra` configuration.
fn daemon(dir: &Path, pcap: &Path, extra: &str) -> Killed {
    let cfg = dir.join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\n{extra}",
            pcap.display()
        ),
    )
    .expect("config");
    Killed(
        Command::new(env!("CARGO_BIN_EXE_pmacctd"))
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pmacctd"),
    )
}

/// Bytes per source address, counted by tshark.
fn bytes_by_source(pcap: &Path) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for p in common::tshark_packets(pcap) {
        *by.entry(p.src).or_insert(0) += p.bytes;
    }
    by
}

/// The `pmacct_bytes_total` samples of an exposition, by their `src_host` label.
fn samples(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| l.starts_with("pmacct_bytes_total{"))
        .filter_map(|l| {
            let host = l
                .split("src_host=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            let v = l.rsplit(' ').next()?.parse().ok()?;
            Some((host, v))
        })
        .collect()
}

#[test]
fn prometheus_scrapes_per_host_totals_equal_to_the_input() {
    let Ok(prometheus) = which("prometheus") else {
        return common::skipped("prometheus (apt-get install prometheus)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    common::generate(&pcap, 20_000, 30, 60);
    let expected = bytes_by_source(&pcap);
    let (ours, theirs) = (free_port(), free_port());
    let _d = daemon(
        dir.path(),
        &pcap,
        &format!("plugins: prometheus[hosts]\naggregate: src_host\nprometheus_listen[hosts]: 127.0.0.1:{ours}\n"),
    );
    let yml = dir.path().join("prometheus.yml");
    std::fs::write(
        &yml,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pmacct\n    static_configs:\n      - targets: ['127.0.0.1:{ours}']\n"
        ),
    )
    .expect("yml");
    let _p = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", yml.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{theirs}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let api = format!("127.0.0.1:{theirs}");
    let start = Instant::now();
    let got = loop {
        let body = get(&api, "/api/v1/query?query=pmacct_bytes_total");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let got: BTreeMap<String, u64> = v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        let host = r["metric"]["src_host"].as_str()?.to_string();
                        let value = r["value"][1].as_str()?.parse().ok()?;
                        assert_eq!(r["metric"]["plugin"], "hosts");
                        Some((host, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if got == expected || start.elapsed() > Duration::from_secs(60) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(got, expected);
}

fn which(name: &str) -> Result<String, ()> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map_err(|_| ())?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if path.is_empty() {
        Err(())
    } else {
        Ok(path)
    }
}

/// Many more source addresses than `prometheus_max_series`: the endpoint shows the bound plus
/// one `other` series, and together they hold every byte; `metrics_listen` serves the
/// daemon's own counters.
#[test]
fn the_series_bound_keeps_other_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    common::generate(&pcap, 30_000, 3_000, 60);
    let expected = bytes_by_source(&pcap);
    assert!(expected.len() > 1_000, "{}", expected.len());
    let (port, metrics) = (free_port(), free_port());
    let _d = daemon(
        dir.path(),
        &pcap,
        &format!(
            "plugins: prometheus[p]\naggregate: src_host\nprometheus_listen[p]: 127.0.0.1:{port}\n\
             prometheus_max_series[p]: 100\nmetrics_listen: 127.0.0.1:{metrics}\n"
        ),
    );
    let addr = format!("127.0.0.1:{port}");
    let total: u64 = expected.values().sum();
    let start = Instant::now();
    let got = loop {
        let s = samples(&get(&addr, "/metrics"));
        if s.values().sum::<u64>() == total || start.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(got.len(), 101, "{got:?}");
    assert_eq!(got.values().sum::<u64>(), total);
    // Each series shown is exact; `other` holds the rest.
    for (host, bytes) in got.iter().filter(|(h, _)| *h != "other") {
        assert_eq!(expected.get(host), Some(bytes), "{host}");
    }
    let own = get(&format!("127.0.0.1:{metrics}"), "/metrics");
    assert!(
        own.contains("\npmacct_daemon_received_packets_total 30000\n"),
        "{own}"
    );
    assert!(
        own.contains("pmacct_daemon_malformed_packets_total{reason=\"truncated_ip_header\"} 0"),
        "{own}"
    );
    assert!(
        own.contains("\npmacct_daemon_plugin_records_total{plugin=\"p/prometheus\"} 30000\n"),
        "{own}"
    );
    assert!(!own.contains("pmacct_bytes_total"), "{own}");
}

/// A malformed listen address is an error at its line; one in use stops the start, named.
#[test]
fn bad_listen_addresses_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    common::generate(&pcap, 10, 2, 1);
    let run = |extra: &str| {
        let cfg = dir.path().join("b.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: prometheus[p]\n{extra}",
                pcap.display()
            ),
        )
        .expect("config");
        let out = common::run_file(&cfg);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("prometheus_listen[p]: localhost\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("b.conf:3: key 'prometheus_listen' of plugin 'p': invalid value: 'localhost' is not ADDRESS:PORT"),
        "{err}"
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let (code, err) = run(&format!("prometheus_listen[p]: 127.0.0.1:{port}\n"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("( p/prometheus ): prometheus_listen: cannot listen on 127.0.0.1:{port}: Address already in use")),
        "{err}"
    );
}

/// `prometheus_expire`: series that stopped changing are dropped (a host that went away).
#[test]
fn idle_series_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    common::generate(&pcap, 1_000, 5, 10);
    let total: u64 = bytes_by_source(&pcap).values().sum();
    let port = free_port();
    let _d = daemon(
        dir.path(),
        &pcap,
        &format!("plugins: prometheus[p]\naggregate: src_host\nprometheus_listen[p]: 127.0.0.1:{port}\nprometheus_expire[p]: 1\n"),
    );
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while samples(&get(&addr, "/metrics")).values().sum::<u64>() != total {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the capture was not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Unchanged for a second, then checked again a second later: gone.
    let start = Instant::now();
    while !samples(&get(&addr, "/metrics")).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "idle series stayed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(get(&addr, "/metrics").contains("\npmacct_daemon_received_packets_total 1000\n"));
}
