//! The influxdb plugin against a real InfluxDB 1.x (Debian's package) on a free loopback
//! port: per-bin totals equal the print plugin's for the same input; a server down at exit
//! spools, the next start sends the spool first; a server down while the daemon runs loses
//! nothing once it is back.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One InfluxDB at a time: two starting together could be given the same free port.
static ONE_SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Server {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    auth: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.0 request; the answer's status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = write!(
        s,
        "{method} {path} HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Server {
    fn start() -> Option<Server> {
        Server::start_with(false)
    }

    fn start_with(auth: bool) -> Option<Server> {
        let ok = Command::new("sh")
            .args(["-c", "command -v influxd"])
            .output()
            .ok()?;
        if !ok.status.success() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let mut s = Server {
            dir,
            port: free_port(),
            child: None,
            auth,
        };
        s.run();
        Some(s)
    }

    fn run(&mut self) {
        let d = self.dir.path().display();
        let conf = self.dir.path().join("influx.conf");
        std::fs::write(
            &conf,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{}\"\n[meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{}\"\n  log-enabled = false\n  auth-enabled = {}\n[monitor]\n  store-enabled = false\n",
                free_port(),
                self.port,
                self.auth
            ),
        )
        .expect("conf");
        self.child = Some(
            Command::new("influxd")
                .arg("-config")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(self.dir.path().join("influxd.log"))
                        .map(Stdio::from)
                        .unwrap_or_else(|_| Stdio::null()),
                )
                .spawn()
                .expect("influxd"),
        );
        let start = Instant::now();
        while http(self.port, "GET", "/ping", "").map(|r| r.0) != Some(204) {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            assert!(
                start.elapsed() < Duration::from_secs(30) && !exited,
                "influxd did not start: {}",
                std::fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn query_db(&self, db: &str, q: &str) -> serde_json::Value {
        let path = format!("/query?db={db}&epoch=s&q={}", encode(q));
        let (_, body) = http(self.port, "POST", &path, "").expect("query");
        serde_json::from_str(&body).unwrap_or_default()
    }

    /// Bytes per bin start.
    fn per_bin(&self) -> BTreeMap<i64, u64> {
        self.per_bin_in("pmacct")
    }

    fn per_bin_in(&self, db: &str) -> BTreeMap<i64, u64> {
        let v = self.query_db(
            db,
            "SELECT sum(bytes) FROM pmacct WHERE time >= 0 GROUP BY time(1m) fill(none)",
        );
        v["results"][0]["series"][0]["values"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| Some((r[0].as_i64()?, r[1].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(dir: &Path, pcap: &Path, server: &Server, extra: &str) -> PathBuf {
    let cfg = dir.join("i.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: influxdb[i], print[p], print[l]\naggregate: src_host, dst_host\n\
             sql_history: 1m\nsql_history_roundoff: m\nsql_refresh_time: 60\n\
             influxdb_url[i]: http://127.0.0.1:{}\ninfluxdb_spool_file[i]: {}\n\
             print_output[p]: json\nprint_output_file[p]: {}\nprint_output_file_append[p]: true\n\
             print_output[l]: influx\nprint_output_file[l]: {}\nprint_output_file_append[l]: true\n{extra}",
            pcap.display(),
            server.port,
            dir.join("i.spool").display(),
            dir.join("p.json").display(),
            dir.join("l.lp").display()
        ),
    )
    .expect("config");
    cfg
}

/// Bytes per bin from the print plugin's JSON lines.
fn print_per_bin(path: &Path) -> BTreeMap<i64, u64> {
    let mut by = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let stamp = v["stamp_inserted"].as_str().expect("stamp");
        let t: jiff::civil::DateTime = stamp.replace(' ', "T").parse().expect("stamp");
        let t = t
            .to_zoned(jiff::tz::TimeZone::UTC)
            .expect("utc")
            .timestamp()
            .as_second();
        *by.entry(t).or_insert(0) += v["bytes"].as_u64().expect("bytes");
    }
    by
}

fn run(cfg: &Path) -> String {
    common::run_file_ok(cfg, "UTC")
}

#[test]
fn influxdb_bins_equal_the_print_plugins_and_outages_lose_nothing() {
    let _one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut server) = Server::start() else {
        return common::skipped("influxd (apt-get install influxdb)");
    };
    assert_eq!(
        http(
            server.port,
            "POST",
            "/query",
            "q=CREATE%20DATABASE%20pmacct"
        )
        .map(|r| r.0),
        Some(200)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    // Part one: a run with the server up.
    let a = d.join("a.pcap");
    pmacct_daemon::synth::write_pcap(&a, 8_000, 20, 300, 1_700_000_000).expect("pcap");
    run(&config(d, &a, &server, ""));
    let printed = print_per_bin(&d.join("p.json"));
    assert!(printed.len() >= 5, "{printed:?}");
    assert_eq!(server.per_bin(), printed);
    // `print_output: influx` files are line protocol InfluxDB accepts, with the same bins.
    assert_eq!(
        http(
            server.port,
            "POST",
            "/query",
            "q=CREATE%20DATABASE%20fromfile"
        )
        .map(|r| r.0),
        Some(200)
    );
    let lines = std::fs::read_to_string(d.join("l.lp")).expect("line protocol");
    assert_eq!(
        http(
            server.port,
            "POST",
            "/write?db=fromfile&precision=s",
            &lines
        )
        .map(|r| r.0),
        Some(204)
    );
    assert_eq!(server.per_bin_in("fromfile"), printed);

    // Part two: the server is down for a whole run: its points wait in the spool file, and
    // the next run sends them first.
    server.stop();
    let b = d.join("b.pcap");
    pmacct_daemon::synth::write_pcap(&b, 6_000, 20, 300, 1_700_001_000).expect("pcap");
    let log = run(&config(d, &b, &server, ""));
    assert!(log.contains("written at the next start"), "{log}");
    assert!(d.join("i.spool").exists());
    server.run();
    let c = d.join("c.pcap");
    pmacct_daemon::synth::write_pcap(&c, 6_000, 20, 300, 1_700_002_000).expect("pcap");
    let log = run(&config(d, &c, &server, ""));
    assert!(
        log.contains("holds") && log.contains("sending them first"),
        "{log}"
    );
    assert!(!d.join("i.spool").exists());
    assert_eq!(server.per_bin(), print_per_bin(&d.join("p.json")));

    // Part three: the server goes away while the daemon runs, and comes back.
    server.stop();
    let e = d.join("e.pcap");
    pmacct_daemon::synth::write_pcap(&e, 6_000, 20, 300, 1_700_003_000).expect("pcap");
    let cfg = config(d, &e, &server, "pcap_savefile_wait: true\nlogfile: ");
    let log_path = d.join("e.log");
    let text = std::fs::read_to_string(&cfg)
        .expect("cfg")
        .replace("logfile: ", &format!("logfile: {}\n", log_path.display()));
    std::fs::write(&cfg, text).expect("cfg");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .env("TZ", "UTC")
        .spawn()
        .expect("pmacctd");
    let start = Instant::now();
    while !std::fs::read_to_string(&log_path)
        .is_ok_and(|t| t.contains("points kept, retried every"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no failed write logged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.run();
    // The kept batches arrive: InfluxDB catches up with what the print plugin has written.
    let start = Instant::now();
    while server.per_bin() != print_per_bin(&d.join("p.json")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the kept points did not arrive"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(common::sh(&["kill", "-TERM", &daemon.id().to_string()]));
    assert!(daemon.wait().expect("wait").success());
    assert_eq!(server.per_bin(), print_per_bin(&d.join("p.json")));
}

/// A wrong password: InfluxDB answers 401; that is logged once (not once per purge), the
/// points are kept (spooled at exit), and the next run with the right password sends them.
#[test]
fn a_refused_login_is_logged_once_and_loses_nothing() {
    let _one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(server) = Server::start_with(true) else {
        return common::skipped("influxd (apt-get install influxdb)");
    };
    let admin =
        "q=CREATE%20USER%20admin%20WITH%20PASSWORD%20%27secret%27%20WITH%20ALL%20PRIVILEGES";
    assert_eq!(
        http(server.port, "POST", "/query", admin).map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        http(
            server.port,
            "POST",
            "/query?u=admin&p=secret",
            "q=CREATE%20DATABASE%20pmacct"
        )
        .map(|r| r.0),
        Some(200)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("a.pcap");
    pmacct_daemon::synth::write_pcap(&pcap, 8_000, 20, 300, 1_700_000_000).expect("pcap");
    let wrong = config(
        d,
        &pcap,
        &server,
        "influxdb_user[i]: admin\ninfluxdb_password[i]: wrong\n",
    );
    let log = run(&wrong);
    assert_eq!(log.matches("answered 401").count(), 1, "{log}");
    assert!(
        log.contains("check influxdb_user/influxdb_password or influxdb_token"),
        "{log}"
    );
    assert!(log.contains("written at the next start"), "{log}");
    let printed = print_per_bin(&d.join("p.json"));
    std::fs::remove_file(d.join("p.json")).expect("rm");
    let empty = d.join("empty.pcap");
    pmacct_daemon::synth::write_pcap(&empty, 0, 1, 1, 1_700_000_000).expect("pcap");
    let right = config(
        d,
        &empty,
        &server,
        "influxdb_user[i]: admin\ninfluxdb_password[i]: secret\n",
    );
    run(&right);
    let v = {
        let path = format!(
            "/query?db=pmacct&epoch=s&u=admin&p=secret&q={}",
            encode("SELECT sum(bytes) FROM pmacct WHERE time >= 0 GROUP BY time(1m) fill(none)")
        );
        let (_, body) = http(server.port, "POST", &path, "").expect("query");
        serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()
    };
    let got: BTreeMap<i64, u64> = v["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| Some((r[0].as_i64()?, r[1].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(got, printed);
}

/// An InfluxDB URL that does not parse is an error at its line.
#[test]
fn a_bad_influxdb_url_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("x.conf");
    std::fs::write(
        &cfg,
        "plugins: influxdb[i]\ninfluxdb_url[i]: 127.0.0.1:8086\n",
    )
    .expect("config");
    let out = common::check_config(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x.conf:2: key 'influxdb_url' of plugin 'i': invalid value: '127.0.0.1:8086' is not an http:// URL (such as http://127.0.0.1:8086)"),
        "{err}"
    );
}

/// The capture of tests/print_files.rs (held and orphan fragments, packets stamped minutes
/// back), purged every 20 s into 1-minute bins: InfluxDB replaces a point of the same series and
/// time, so each bin must be written whole each time. Every bin's sum equals the model's, and
/// a bin written by three purges still has one point per key.
#[test]
fn late_records_and_a_refresh_shorter_than_the_bin_lose_nothing() {
    use common::late::Capture;
    let _one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(server) = Server::start() else {
        return common::skipped("influxd (apt-get install influxdb)");
    };
    assert_eq!(
        http(server.port, "POST", "/query", "q=CREATE%20DATABASE%20late").map(|r| r.0),
        Some(200)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("late.pcap");
    let capture = Capture::generate();
    capture.write(&pcap);
    let cfg = dir.path().join("late.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: influxdb[i]\naggregate: src_host, dst_host, src_port, dst_port, proto\n\
             sql_history: 1m\nsql_history_roundoff: m\nsql_refresh_time: 20\n\
             influxdb_url[i]: http://127.0.0.1:{}\ninfluxdb_db[i]: late\ninfluxdb_spool_file[i]: {}\n",
            pcap.display(),
            server.port,
            dir.path().join("i.spool").display()
        ),
    )
    .expect("config");
    let log = run(&cfg);
    let expected = capture.expected();
    let want: BTreeMap<i64, u64> = expected
        .iter()
        .map(|(bin, rows)| (*bin, rows.iter().map(|r| r.2).sum()))
        .collect();
    assert_eq!(server.per_bin_in("late"), want, "{log}");
    let points = server.query_db("late", "SELECT count(bytes) FROM pmacct WHERE time >= 0");
    let rows: usize = expected.values().map(Vec::len).sum();
    assert_eq!(
        points["results"][0]["series"][0]["values"][0][1].as_u64(),
        Some(rows as u64),
        "one point per key and bin: {points}"
    );
}
