//! The web page (`web_listen`) end to end: a daemon reads the generated three-day home network
//! (`pcap_savefile_wait` keeps it up) into SQLite, a memory table and a quota plugin.
//! - The API's usage equals `pmacct report --format json` on the same table, and the
//!   per-device count the test makes from its own packets; the memory table agrees.
//! - Caps equal `pmacct caps`; a device's detail has one day per day of traffic.
//! - Authentication: every path but /healthz answers 401 without credentials; the password
//!   never reaches the log; a bare port binds loopback.
//! - Abuse: 1,000 idle connections, a client dribbling its headers, a 64 KiB header and
//!   1,500 half-requests to `metrics_listen` stop neither the page nor capture, and the
//!   daemon's threads stay bounded.
//! - A real browser (Debian's chromium driven by playwright-core) checks the page itself.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::home::{devices, ip, traffic, write_pcap, Packet, Truth, START, ZONE};

use common::collector::free_tcp_port as free_port;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

fn request(port: u16, head: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(head.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn put_name(port: u16, device: &str, name: &str) -> Answer {
    request(
        port,
        &format!(
            "PUT /api/v1/names/{device} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
            name.len()
        ),
    )
}

fn get_as(port: u16, path: &str, auth: Option<&str>) -> Answer {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"),
    )
}

fn get(port: u16, path: &str) -> Answer {
    get_as(port, path, None)
}

fn json(port: u16, path: &str) -> serde_json::Value {
    let a = get(port, path);
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body))
}

/// Starts the daemon; waits until `port` answers /healthz and the capture has been read.
fn start(dir: &Path, name: &str, config: &str, port: u16) -> Daemon {
    start_as(dir, name, config, port, None)
}

/// [`start`] for a page behind a password (`auth`: the Basic credentials).
fn start_as(dir: &Path, name: &str, config: &str, port: u16, auth: Option<&str>) -> Daemon {
    let cfg = dir.join(format!("{name}.conf"));
    std::fs::write(&cfg, config).expect("config");
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .env("TZ", ZONE)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("pmacctd");
    let mut d = Daemon { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&d.log).unwrap_or_default();
        if let Ok(Some(status)) = d.child.try_wait() {
            panic!("the daemon exited ({status}): {text}");
        }
        if text.contains("keeps the daemon up") && all_written(port, auth) {
            break;
        }
        assert!(Instant::now() < deadline, "daemon not ready: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

/// The page answers, and no plugin holds aggregates it has not written.
fn all_written(port: u16, auth: Option<&str>) -> bool {
    if TcpStream::connect(("127.0.0.1", port)).is_err() {
        return false;
    }
    let metrics = get_as(port, "/metrics", auth);
    metrics.status == 200
        && metrics
            .body
            .lines()
            .filter(|l| l.starts_with("pmacct_daemon_plugin_held_aggregates"))
            .all(|l| l.ends_with(" 0"))
}

/// Per device (IP) over the three days: download and upload IP bytes, from the packets.
fn truth(packets: &[Packet]) -> BTreeMap<String, (u64, u64)> {
    let devs = devices();
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in packets {
        let (d, up) = match p.truth {
            Truth::Down(d) => (d, false),
            Truth::Up(d) => (d, true),
            Truth::None => continue,
        };
        let day = ((p.ts - START) / 86_400) as usize;
        let e = out.entry(ip(devs[d].1[day]).to_string()).or_default();
        if up {
            e.1 += p.ip_bytes();
        } else {
            e.0 += p.ip_bytes();
        }
    }
    out
}

const LOCAL: &str = "192.168.1.0/24, 2001:db8:1::/64";

fn report_json(args: &[&str]) -> serde_json::Value {
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(client)
        .arg("report")
        .args(args)
        .args([
            "--local-net",
            "192.168.1.0/24",
            "--local-net",
            "2001:db8:1::/64",
        ])
        .args(["--format", "json"])
        .env("TZ", ZONE)
        .output()
        .expect("pmacct report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("report json")
}

fn caps_map(dir: &Path) -> PathBuf {
    let map = dir.join("caps.map");
    std::fs::write(
        &map,
        "name=laptop device=192.168.1.10 limit=1000000 period=month alerts=50,100\n",
    )
    .expect("caps");
    map
}

fn home(dir: &Path) -> (PathBuf, Vec<Packet>) {
    let packets = traffic();
    let pcap = dir.join("home.pcap");
    write_pcap(&pcap, &packets);
    (pcap, packets)
}

#[test]
fn the_api_equals_the_report_and_the_packets() {
    let dir = tempfile::tempdir().expect("dir");
    let (pcap, packets) = home(dir.path());
    let (web, mem_web) = (free_port(), free_port());
    let db = dir.path().join("home.db");
    let state = dir.path().join("caps.db");
    let config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: sqlite3[db], quota[caps]\n\
         aggregate[db]: src_host, dst_host, src_mac, dst_mac, src_port, dst_port, proto\n\
         sql_db[db]: {}\nsql_history[db]: 1h\nsql_history_roundoff[db]: h\nsql_refresh_time[db]: 3600\n\
         quota_map[caps]: {}\nquota_state[caps]: {}\nquota_local_net[caps]: {LOCAL}\n\
         web_listen: {web}\nweb_local_net: {LOCAL}\n",
        pcap.display(),
        db.display(),
        caps_map(dir.path()).display(),
        state.display()
    );
    let d = start(dir.path(), "sql", &config, web);
    let mem_config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: memory[mem]\n\
         aggregate[mem]: src_host, dst_host\nimt_path[mem]: {}\nimt_history[mem]: 1h\nsql_history_roundoff[mem]: h\n\
         web_listen: 127.0.0.1:{mem_web}\nweb_local_net: {LOCAL}\n",
        pcap.display(),
        dir.path().join("mem.pipe").display()
    );
    let _m = start(dir.path(), "mem", &mem_config, mem_web);
    let log = std::fs::read_to_string(&d.log).expect("log");
    assert!(
        log.contains(&format!("web page on http://127.0.0.1:{web}/")),
        "{log}"
    );

    // Per day: the report's records exactly, from SQLite and from the memory table.
    let db_arg = db.display().to_string();
    let daily = report_json(&["--db", &db_arg]);
    assert_eq!(json(web, "/api/v1/usage"), daily);
    // The memory plugin answers queries before data still queued: wait for the last batch.
    let deadline = Instant::now() + Duration::from_secs(30);
    while json(mem_web, "/api/v1/usage?by=day") != daily && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(json(mem_web, "/api/v1/usage?by=day"), daily);
    let hourly = report_json(&[
        "--db",
        &db_arg,
        "--by",
        "hour",
        "--from",
        "2024-03-31",
        "--to",
        "2024-03-31",
        "--top",
        "3",
    ]);
    assert_eq!(
        json(
            web,
            "/api/v1/usage?by=hour&from=2024-03-31&to=2024-03-31&top=3"
        ),
        hourly
    );
    // 23 hours: the clocks went forward.
    assert_eq!(
        hourly
            .as_array()
            .map(|a| a.iter().filter(|r| r["device"] == "192.168.1.20").count()),
        Some(23)
    );

    // The whole window per device: the packets' truth.
    let all = json(web, "/api/v1/usage?by=all&from=2024-03-30&to=2024-04-01");
    let got: BTreeMap<String, (u64, u64)> = all
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().expect("number");
            (
                r["device"].as_str().expect("device").to_string(),
                (n("download_bytes"), n("upload_bytes")),
            )
        })
        .collect();
    let want = truth(&packets);
    assert_eq!(got, want);
    assert_eq!(
        json(
            mem_web,
            "/api/v1/usage?by=all&from=2024-03-30&to=2024-04-01"
        ),
        all
    );

    // Devices: MAC addresses and addresses seen; one device's days, hours, peers, ports.
    let list = json(web, "/api/v1/devices?from=2024-03-30&to=2024-04-01");
    let laptop = list
        .as_array()
        .and_then(|l| l.iter().find(|d| d["device"] == "192.168.1.11"))
        .expect("laptop");
    assert_eq!(laptop["macs"], serde_json::json!(["02:00:00:00:00:01"]));
    assert_eq!(laptop["addresses"], serde_json::json!(["192.168.1.11"]));
    let detail = json(
        web,
        "/api/v1/device/192.168.1.20?from=2024-03-30&to=2024-04-01&day=2024-03-31",
    );
    let days = detail["days"].as_array().expect("days");
    assert_eq!(days.len(), 3);
    let sum: u64 = days
        .iter()
        .map(|d| d["download_bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sum, want["192.168.1.20"].0);
    let hours = detail["hours"].as_array().expect("hours");
    assert!(!hours.is_empty() && hours.len() <= 23, "{}", hours.len());
    assert!(hours.iter().all(|h| h["period_start"]
        .as_str()
        .is_some_and(|p| p.starts_with("2024-03-31T"))));
    let hour_sum: u64 = hours
        .iter()
        .map(|d| d["download_bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(hour_sum, days[1]["download_bytes"].as_u64().unwrap_or(0));
    let peer_sum: u64 = detail["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| p["download_bytes"].as_u64().unwrap_or(0))
        .sum();
    assert!(peer_sum > 0 && peer_sum <= sum);
    assert!(
        detail["ports"].as_array().is_some_and(|p| !p.is_empty()),
        "{}",
        detail["ports"]
    );
    let mem_detail = json(
        mem_web,
        "/api/v1/device/192.168.1.20?from=2024-03-30&to=2024-04-01",
    );
    assert_eq!(mem_detail["days"], detail["days"]);
    assert_eq!(mem_detail["ports"], serde_json::Value::Null);

    // Caps: `pmacct caps`'s numbers, with a projection.
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(client)
        .args([
            "caps",
            "--state",
            &state.display().to_string(),
            "--format",
            "json",
        ])
        .env("TZ", ZONE)
        .output()
        .expect("pmacct caps");
    let caps_cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("caps json");
    let caps = json(web, "/api/v1/caps");
    assert_eq!(caps["available"], true);
    let cap = &caps["caps"][0];
    for k in [
        "name",
        "device",
        "used_bytes",
        "limit_bytes",
        "percent",
        "period_start",
        "period_end",
        "alerts_fired",
    ] {
        assert_eq!(cap[k], caps_cli[0][k], "{k}");
    }
    // Saved when the input ended (-W), not only at exit: the laptop's March traffic.
    let march: u64 = packets
        .iter()
        .filter(|p| p.ts < 1_711_922_400)
        .filter(|p| match p.truth {
            Truth::Down(d) | Truth::Up(d) => {
                d == 0 && devices()[0].1[((p.ts - START) / 86_400) as usize] == "192.168.1.10"
            }
            Truth::None => false,
        })
        .map(|p| p.ip_bytes())
        .sum();
    assert_eq!(cap["used_bytes"], march);
    // The period (March) is over: the projection is what was used.
    assert_eq!(cap["projected_bytes"], cap["used_bytes"]);
    assert_eq!(
        caps["alerts"].as_array().map(Vec::len),
        Some(cap["alerts_fired"].as_array().map_or(0, Vec::len))
    );
    assert_eq!(json(mem_web, "/api/v1/caps")["available"], false);

    // The page's "today" is the data's last day (a capture file was read).
    assert_eq!(json(web, "/api/v1/config")["today"], "2024-04-01");
    assert_eq!(json(web, "/api/v1/live")["available"], false);

    // Errors and limits: JSON, 400, named.
    let a = get(web, "/api/v1/usage?top=101");
    assert_eq!(
        (a.status, a.body.as_str()),
        (400, r#"{"error":"top is at most 100"}"#)
    );
    let a = get(web, "/api/v1/usage?db=/etc/passwd");
    assert_eq!(a.status, 400);
    assert!(a.body.contains("unknown parameter 'db'"), "{}", a.body);
    assert_eq!(get(web, "/api/v1/device/not-an-address").status, 400);
    assert_eq!(get(web, "/api/v1/nothing").status, 404);
    let a = request(
        web,
        "POST /api/v1/usage HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(a.status, 405);

    // The page: compressed, with an ETag, a strict CSP; HEAD has no body; 304 when unchanged.
    let a = request(
        web,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-encoding"], "gzip");
    assert_eq!(a.headers["content-security-policy"], "default-src 'self'");
    let etag = a.headers["etag"].clone();
    let a = request(
        web,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(a.status, 304);
    let a = request(
        web,
        "HEAD /assets/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((a.status, a.body.len()), (200, 0));
    assert!(a.headers["content-type"].starts_with("text/javascript"));
    let status = json(web, "/api/v1/status");
    assert!(
        status["metrics"]["pmacct_daemon_received_packets_total"]
            .as_f64()
            .is_some_and(|n| n as usize == packets.len()),
        "{status}"
    );
    drop(d);
}

/// The daemon's threads and resident memory (KiB), from /proc.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:"))
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    // Base64 (RFC 4648), written out: the test does not share the daemon's encoder.
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// With credentials set, every path but /healthz needs them; the password is never logged.
/// Floods of idle, dribbling, oversized and half-sent requests neither stop the page nor
/// add threads.
#[test]
fn authentication_and_abuse() {
    let dir = tempfile::tempdir().expect("dir");
    let (pcap, _) = home(dir.path());
    let (web, metrics) = (free_port(), free_port());
    let secret = dir.path().join("password");
    std::fs::write(&secret, "correct horse battery\n").expect("password");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: sqlite3[db]\nsql_db[db]: {}\n\
         sql_history[db]: 1h\nsql_history_roundoff[db]: h\nweb_listen: {web}\nweb_user: admin\n\
         web_password_file: {}\nmetrics_listen: 127.0.0.1:{metrics}\n",
        pcap.display(),
        dir.path().join("a.db").display(),
        secret.display()
    );
    let good = basic("admin", "correct horse battery");
    let d = start_as(dir.path(), "auth", &config, web, Some(&good));
    let bad = basic("admin", "correct horse");
    for path in [
        "/",
        "/assets/app.js",
        "/api/v1/usage",
        "/api/v1/config",
        "/metrics",
        "/nothing",
    ] {
        let a = get(web, path);
        assert_eq!(a.status, 401, "{path}");
        assert!(
            a.headers["www-authenticate"].starts_with("Basic realm="),
            "{path}"
        );
        assert_eq!(get_as(web, path, Some(&bad)).status, 401, "{path}");
    }
    assert_eq!(get(web, "/healthz").status, 200);
    // With a password, the page answers to a name too.
    let a = request(web, &format!("GET /api/v1/config HTTP/1.1\r\nHost: router.lan\r\nAuthorization: Basic {good}\r\nConnection: close\r\n\r\n"));
    assert_eq!(a.status, 200);
    for path in ["/", "/assets/app.js", "/api/v1/usage", "/metrics"] {
        assert_eq!(get_as(web, path, Some(&good)).status, 200, "{path}");
    }
    let log = std::fs::read_to_string(&d.log).expect("log");
    assert!(!log.contains("correct horse"), "{log}");
    assert!(
        log.contains(&format!("web page on http://127.0.0.1:{web}/")),
        "{log}"
    );

    let pid = d.child.id();
    let (threads_before, rss_before) = threads_and_rss(pid);
    // 1,000 idle connections to the page, 1,500 half-sent requests to metrics_listen.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", web)).expect("idle"))
        .collect();
    let half: Vec<TcpStream> = (0..1500)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", metrics)).expect("half");
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            s
        })
        .collect();
    // A client dribbling its headers, one byte each 200 ms: cut at the header deadline.
    let dribbler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", web)).expect("dribbler");
        let started = Instant::now();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n");
        for _ in 0..100 {
            if s.write_all(b"X").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        started.elapsed()
    });
    // A 64 KiB header.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(request(web, &big).status, 431);
    // The page still answers, at once.
    let t = Instant::now();
    assert_eq!(get(web, "/healthz").status, 200);
    assert_eq!(get_as(web, "/api/v1/status", Some(&good)).status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (threads_during, rss_during) = threads_and_rss(pid);
    assert!(
        threads_during <= threads_before + 2,
        "{threads_before} -> {threads_during} threads"
    );
    assert!(
        rss_during < rss_before + 64 * 1024,
        "{rss_before} -> {rss_during} KiB"
    );
    let cut = dribbler.join().expect("dribbler");
    assert!(
        cut < Duration::from_secs(9),
        "the dribbler was cut after {cut:?}"
    );
    drop(idle);
    drop(half);
    // The metrics endpoint answers again once the half requests are gone.
    let m = get(metrics, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.body.contains("pmacct_daemon_received_packets_total"));
}

/// The page in Debian's chromium (driven by playwright-core, tests/web/browser.mjs): the
/// Usage table equals the API and the packets, the Device page has a bar per day, no console
/// error, no request elsewhere, dark mode and a phone's width without horizontal scrolling.
/// Screenshots go to target/web-screenshots.
#[test]
fn the_page_in_a_browser() {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    assert!(
        driver.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test.sh (it runs npm ci in {})",
        driver.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed (scripts/test-packages.txt)"
    );
    let dir = tempfile::tempdir().expect("dir");
    let (pcap, packets) = home(dir.path());
    let web = free_port();
    let config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: sqlite3[db], quota[caps]\n\
         aggregate[db]: src_host, dst_host, src_mac, dst_mac, src_port, dst_port, proto\n\
         sql_db[db]: {}\nsql_history[db]: 1h\nsql_history_roundoff[db]: h\n\
         quota_map[caps]: {}\nquota_state[caps]: {}\nquota_local_net[caps]: {LOCAL}\n\
         web_listen: {web}\nweb_local_net: {LOCAL}\nweb_names_file: {}\nweb_read_only: false\n",
        pcap.display(),
        dir.path().join("b.db").display(),
        caps_map(dir.path()).display(),
        dir.path().join("caps.db").display(),
        dir.path().join("names.txt").display()
    );
    std::fs::write(
        dir.path().join("names.txt"),
        "192.168.1.20 phone\n02:00:00:00:00:01 jon-laptop\n",
    )
    .expect("names");
    let _d = start(dir.path(), "browser", &config, web);
    // Naming a device: written to the names file (other lines kept), seen by the next answer.
    let names_at = "/api/v1/devices?from=2024-03-30&to=2024-04-01";
    let name_of = |dev: &str| {
        json(web, names_at).as_array().and_then(|l| {
            l.iter()
                .find(|d| d["device"] == dev)
                .map(|d| d["name"].clone())
        })
    };
    assert_eq!(name_of("2001:db8:1::30"), Some(serde_json::json!("")));
    let a = put_name(web, "2001:db8:1::30", "tv");
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"device":"2001:db8:1::30","name":"tv"}"#)
    );
    assert_eq!(name_of("2001:db8:1::30"), Some(serde_json::json!("tv")));
    assert_eq!(put_name(web, "2001:db8:1::30", "two words").status, 400);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("names.txt")).expect("names"),
        "192.168.1.20 phone\n02:00:00:00:00:01 jon-laptop\n2001:db8:1::30 tv\n"
    );
    let devices: serde_json::Map<String, serde_json::Value> = truth(&packets)
        .into_iter()
        .map(|(dev, (down, up))| {
            (
                dev,
                serde_json::json!({"download_bytes": down, "upload_bytes": up}),
            )
        })
        .collect();
    let expect = serde_json::json!({
        "from": "2024-03-30", "to": "2024-04-01", "devices": devices,
        "device": "192.168.1.20", "days": ["2024-03-30", "2024-03-31", "2024-04-01"],
    });
    let expect_file = dir.path().join("expect.json");
    std::fs::write(&expect_file, expect.to_string()).expect("expect");
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    std::fs::create_dir_all(&out_dir).expect("screenshots dir");
    let out = Command::new("node")
        .current_dir(&driver)
        .arg("browser.mjs")
        .args(["--url", &format!("http://127.0.0.1:{web}")])
        .arg("--out")
        .arg(&out_dir)
        .arg("--expect")
        .arg(&expect_file)
        .args(["--rename", "192.168.1.40=printer"])
        .env("TZ", ZONE)
        .output()
        .expect("node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for shot in ["usage-light.png", "usage-dark.png", "usage-phone.png"] {
        assert!(
            out_dir
                .join(shot)
                .metadata()
                .is_ok_and(|m| m.len() > 10_000),
            "{shot}"
        );
    }
}

/// The configurations of README.md and docs/web.md are valid as written (paths moved).
#[test]
fn the_documented_configurations_are_valid() {
    let dir = tempfile::tempdir().expect("dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/web.md")).expect("docs/web.md");
    let heredoc = |text: &str, tag: &str| -> String {
        let start = text.find(&format!("<<'{tag}'\n")).expect("heredoc") + tag.len() + 4;
        let end = start + text[start..].find(&format!("\n{tag}\n")).expect("end");
        text[start..end].to_string()
    };
    let at = dir.path().display().to_string();
    let moved = |t: String| {
        t.replace("/var/lib/pmacct", &at)
            .replace("/etc/pmacct", &at)
    };
    std::fs::write(dir.path().join("caps.map"), heredoc(&doc, "CAPS")).expect("caps");
    std::fs::write(dir.path().join("devices.txt"), heredoc(&doc, "NAMES")).expect("names");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let section = &readme[readme.find("### The web page").expect("section")..];
    let block = section
        .split("```")
        .nth(1)
        .expect("block")
        .trim_start_matches('\n');
    for (name, text) in [
        ("doc.conf", moved(heredoc(&doc, "CONF"))),
        (
            "readme.conf",
            format!("pcap_interface: lo\n{}", moved(block.to_string())),
        ),
    ] {
        let cfg = dir.path().join(name);
        std::fs::write(&cfg, &text).expect("config");
        let out = common::check_config(&cfg);
        assert!(
            out.status.success(),
            "{name}: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A memory table without time bins: the page's usage is its totals (by=all), and asking for
/// days says what is missing.
#[test]
fn a_memory_table_without_bins_gives_totals() {
    let dir = tempfile::tempdir().expect("dir");
    let (pcap, packets) = home(dir.path());
    let web = free_port();
    let config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: memory[mem]\n\
         aggregate[mem]: src_host, dst_host\nimt_path[mem]: {}\n\
         web_listen: {web}\nweb_local_net: {LOCAL}\n",
        pcap.display(),
        dir.path().join("m.pipe").display()
    );
    let _d = start(dir.path(), "nobins", &config, web);
    assert_eq!(json(web, "/api/v1/config")["has_bins"], false);
    let by_ip = |v: &mut Vec<(String, (u64, u64))>| {
        v.sort_by_key(|(d, _)| d.parse::<std::net::IpAddr>().expect("ip"));
    };
    let mut want: Vec<(String, (u64, u64))> = truth(&packets).into_iter().collect();
    by_ip(&mut want);
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let mut got: Vec<(String, (u64, u64))> = json(web, "/api/v1/usage")
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                assert_eq!(r["period_start"], "all");
                let n = |k: &str| r[k].as_u64().expect("number");
                (
                    r["device"].as_str().expect("device").to_string(),
                    (n("download_bytes"), n("upload_bytes")),
                )
            })
            .collect();
        by_ip(&mut got);
        if got == want || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(got, want);
    let a = get(web, "/api/v1/usage?by=day");
    assert_eq!(a.status, 400);
    assert!(a.body.contains("has no time bins"), "{}", a.body);
}

/// nfacctd serves the page too, with Live fed by IPFIX arriving on its socket: the last
/// minute holds every byte flowsend sent, and the memory table's totals agree.
#[test]
fn nfacctd_serves_the_page_with_live_traffic() {
    let dir = tempfile::tempdir().expect("dir");
    let (web, udp) = (free_port(), common::collector::free_udp_port());
    let cfg = dir.path().join("nf.conf");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {udp}\nplugins: memory[mem]\n\
             aggregate[mem]: src_host, dst_host\nimt_path[mem]: {}\n\
             web_listen: {web}\nweb_local_net: 192.168.0.0/16\n",
            dir.path().join("nf.pipe").display()
        ),
    )
    .expect("config");
    let child = Command::new(Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("nfacctd"))
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nfacctd");
    let _d = Daemon {
        child,
        log: dir.path().join("none"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(TcpStream::connect(("127.0.0.1", web)).is_ok() && get(web, "/healthz").status == 200) {
        assert!(Instant::now() < deadline, "nfacctd's page did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = json(web, "/api/v1/config");
    assert_eq!(
        (config["program"].clone(), config["has_live"].clone()),
        (serde_json::json!("nfacctd"), serde_json::json!(true))
    );
    // 4,000 flows of 100 bytes to 256 devices (192.168.0.0-255) over 2 s.
    let sent = Command::new(env!("CARGO_BIN_EXE_flowsend"))
        .args([&format!("127.0.0.1:{udp}"), "2000", "2", "30", "256"])
        .output()
        .expect("flowsend");
    assert!(sent.status.success());
    let live_bytes = || -> u64 {
        json(web, "/api/v1/live?window=60")["series"]
            .as_array()
            .map_or(0, |s| {
                s.iter()
                    .map(|x| x["download_bytes"].as_u64().unwrap_or(0))
                    .sum()
            })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_bytes() != 400_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(live_bytes(), 400_000);
    let live = json(web, "/api/v1/live?window=60");
    assert_eq!(live["talkers"].as_array().map(Vec::len), Some(20));
    assert_eq!(live["interfaces"], serde_json::json!([]));
    let total: u64 = json(web, "/api/v1/usage")
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["download_bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 400_000);
}

/// Device names the daemon learned from DHCP and mDNS (`names_learned_file`) and a lease file
/// (`dhcp_leases_file`) name devices on the page, with MAC vendors; a changed lease file shows
/// at the next request.
#[test]
fn learned_and_leased_names_show_on_the_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("home.pcap");
    pmacct_daemon::synth::names::write_home_devices(&pcap, 1_700_000_000).expect("pcap");
    let leases = dir.path().join("dhcpd.leases");
    std::fs::write(
        &leases,
        "lease 192.168.1.30 {\n  ends never;\n  binding state active;\n  hardware ethernet 02:11:22:33:44:55;\n  client-hostname \"office-printer\";\n}\n",
    )
    .expect("leases");
    let web = free_port();
    let config = format!(
        "pcap_savefile: {}\npcap_savefile_wait: true\nnames_learned_file: {}\ndhcp_leases_file: {}\n\
         plugins: sqlite3[s]\naggregate[s]: src_host, dst_host, src_mac, dst_mac\nsql_db[s]: {}\n\
         sql_history[s]: 1h\nsql_history_roundoff[s]: h\nsql_refresh_time[s]: 3600\n\
         web_listen: 127.0.0.1:{web}\nweb_local_net: 192.168.1.0/24\n",
        pcap.display(),
        dir.path().join("learned.leases").display(),
        leases.display(),
        dir.path().join("home.db").display()
    );
    let _d = start(dir.path(), "names", &config, web);
    let path = "/api/v1/usage?by=all&from=2023-11-14&to=2023-11-14";
    let named = |v: &serde_json::Value| -> BTreeMap<String, (String, String)> {
        v.as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (s("device"), (s("name"), s("vendor")))
            })
            .collect()
    };
    let vendor = |v: &str| match std::path::Path::new("/usr/share/ieee-data/oui.csv").exists() {
        true => v.to_string(),
        false => String::new(),
    };
    let want = |printer: &str| {
        BTreeMap::from([
            (
                "192.168.1.23".to_string(),
                ("jon-laptop".to_string(), vendor("VMware, Inc.")),
            ),
            (
                "192.168.1.24".to_string(),
                ("living-room-tv".to_string(), vendor("Cisco Systems, Inc")),
            ),
            (
                "192.168.1.30".to_string(),
                (printer.to_string(), String::new()),
            ),
        ])
    };
    // The lease never ends: it wins over the name the printer announced.
    assert_eq!(named(&json(web, path)), want("office-printer"));
    std::fs::write(
        &leases,
        "lease 192.168.1.30 {\n  ends never;\n  binding state active;\n  hardware ethernet 02:11:22:33:44:55;\n  client-hostname \"hall-printer\";\n}\n",
    )
    .expect("leases");
    assert_eq!(named(&json(web, path)), want("hall-printer"));
}
