//! The pgsql plugin against a real, throwaway PostgreSQL server (Debian's `postgresql`
//! package, started by this test on a free loopback port, as the `postgres` user): the seed
//! configuration's rows for versions 1 and 9 equal what Debian's pmacct 1.7.7 writes into a
//! table made from its own schema file, and a server that is down loses nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use postgres::{Client, NoTls};

/// A PostgreSQL server in a temporary directory, stopped when dropped.
struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(program);
    c
}

impl Server {
    /// None when this machine cannot run one (no package, not root).
    fn start() -> Option<Server> {
        let bin = postgres_bin()?;
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success());
        let data = dir.path().join("data");
        let out = as_postgres(&bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Server {
            dir,
            bin,
            port: free_port(),
            child: None,
        };
        server.run();
        let mut c = server.client("postgres");
        c.batch_execute("CREATE ROLE pmacct LOGIN PASSWORD 'arealsmartpwd'")
            .expect("role");
        c.batch_execute("CREATE DATABASE pmacct OWNER pmacct")
            .expect("database");
        Some(server)
    }

    /// Starts the server process and waits until it takes connections.
    fn run(&mut self) {
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_client("postgres").is_none() {
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The postmaster's pid (runuser, our child, does not pass signals on).
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            // SAFETY: kill has no memory effects; SIGINT asks postgres for a fast shutdown.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let _ = child.wait();
    }

    fn try_client(&self, db: &str) -> Option<Client> {
        Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            NoTls,
        )
        .ok()
    }

    fn client(&self, db: &str) -> Client {
        self.try_client(db).expect("connect")
    }

    /// Configuration lines pointing a plugin at this server.
    fn config(&self) -> String {
        format!(
            "sql_host[foo]: 127.0.0.1\nsql_port[foo]: {}\nsql_user[foo]: pmacct\nsql_passwd[foo]: arealsmartpwd\nsql_db[foo]: pmacct\n",
            self.port
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(pcap: &Path, server: &Server, version: u8, extra: &str) -> String {
    format!(
        "pcap_savefile: {}\nplugins: pgsql[foo]\naggregate[foo]: src_host, dst_host, proto\nsql_table_version[foo]: {version}\nsql_refresh_time[foo]: 60\nsql_history[foo]: 1m\nsql_history_roundoff[foo]: m\nsql_spool_file[foo]: {}\n{}{extra}",
        pcap.display(),
        server.dir.path().join("spool").display(),
        server.config()
    )
}

fn table(version: u8) -> String {
    match version {
        1 => "acct".into(),
        v => format!("acct_v{v}"),
    }
}

/// pmacct's table from its schema file (the table part: the proto table's COPY needs psql).
fn pmacct_table(c: &mut Client, version: u8) {
    let file = format!("/usr/share/doc/pmacct/sql/pmacct-create-table_v{version}.pgsql");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let t = table(version);
    let start = text
        .find(&format!("DROP TABLE IF EXISTS {t};"))
        .expect("the table in the schema file");
    let end = start + text[start..].find(");").expect("end of CREATE") + 2;
    c.batch_execute(&text[start..end]).expect("pmacct schema");
    c.batch_execute(&format!("GRANT ALL ON {t} TO pmacct"))
        .expect("grant");
}

/// Every row as text, without stamp_updated, in a fixed order.
fn dump(c: &mut Client, table: &str) -> Vec<String> {
    let columns: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND column_name <> 'stamp_updated' ORDER BY ordinal_position",
            &[&table],
        )
        .expect("columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let text: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
    c.query(
        &format!(
            "SELECT concat_ws('|', {}) FROM {table} ORDER BY {}",
            text.join(", "),
            columns.join(", ")
        ),
        &[],
    )
    .expect("rows")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn packets(c: &mut Client, table: &str) -> i64 {
    c.query_one(
        &format!("SELECT coalesce(sum(packets), 0)::bigint FROM {table}"),
        &[],
    )
    .expect("sum")
    .get(0)
}

#[test]
fn pgsql_rows_equal_pmacct_for_versions_1_and_9() {
    let Some(server) = Server::start() else {
        return skipped("a PostgreSQL server (apt-get install postgresql; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    generate(&pcap, 20_000, 20, 1200);
    for version in [1u8, 9] {
        let t = table(version);
        let mut c = server.client("pmacct");
        // Ours creates its table.
        c.batch_execute(&format!("DROP TABLE IF EXISTS {t}"))
            .expect("drop");
        let out = run_ours(&config(&pcap, &server, version, ""));
        assert!(out.ok, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("created table {t} in pgsql")),
            "{}",
            out.stderr
        );
        let ours = dump(&mut c, &t);
        assert_eq!(packets(&mut c, &t), 20_000);
        // pmacct writes into the table its schema file makes; re-run when it lost records.
        let mut theirs = Vec::new();
        for attempt in 0..4 {
            let _solo = (attempt > 0).then(solo);
            c.batch_execute(&format!("DROP TABLE IF EXISTS {t}"))
                .expect("drop");
            pmacct_table(&mut server.client("pmacct"), version);
            let extra = if version == 9 {
                "sql_table[foo]: acct_v9\n"
            } else {
                ""
            };
            let out = run_pmacct(&config(&pcap, &server, version, extra));
            // The total first: a writer pmacct forked may still be adding rows.
            let complete = out.ok && packets(&mut c, &t) == 20_000;
            theirs = dump(&mut c, &t);
            if complete {
                break;
            }
        }
        assert_eq!(ours.len(), theirs.len(), "v{version}");
        assert_eq!(ours, theirs, "v{version}");
    }
}

/// The server is down for the whole run: the rows go to the spool file at exit, and the next
/// start (server back) writes them; nothing is lost.
#[test]
fn pgsql_down_loses_nothing() {
    let Some(mut server) = Server::start() else {
        return skipped("a PostgreSQL server (apt-get install postgresql; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    generate(&pcap, 4_000, 10, 300);
    let cfg = config(&pcap, &server, 1, "");
    server.stop();
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("PRIMARY 'pgsql pmacct@127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("will be written on the next start"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("write_retries="), "{}", out.stderr);
    server.run();
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("holds rows kept from an earlier run"),
        "{}",
        out.stderr
    );
    let mut c = server.client("pmacct");
    assert_eq!(packets(&mut c, "acct"), 8_000);
    assert!(!server.dir.path().join("spool").exists());
}

/// A network namespace with a veth pair, removed when dropped.
struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
        let _ = sh(&["ip", "link", "del", &format!("{}a", self.0)]);
    }
}

/// Waits until `f` holds, or fails after `secs`.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The server stops for 60 s in the middle of a live capture (UDP sent into a namespace) and
/// comes back: every datagram sent is in the table, and the log and stats say what happened.
#[test]
fn pgsql_outage_during_a_live_run_loses_nothing() {
    let ns = format!("pmsq{}", std::process::id() % 100000);
    if !sh(&["ip", "netns", "add", &ns]) {
        return skipped("root and iproute2 (ip netns add failed)");
    }
    let _ns = Netns(ns.clone());
    let (host_if, peer_if) = (format!("{ns}a"), format!("{ns}b"));
    assert!(sh(&[
        "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if
    ]));
    assert!(sh(&["ip", "link", "set", &peer_if, "netns", &ns]));
    assert!(sh(&["ip", "addr", "add", "10.98.0.1/24", "dev", &host_if]));
    assert!(sh(&["ip", "link", "set", &host_if, "up"]));
    let in_ns = |args: &[&str]| sh(&[&["ip", "netns", "exec", &ns], args].concat());
    assert!(in_ns(&[
        "ip",
        "addr",
        "add",
        "10.98.0.2/24",
        "dev",
        &peer_if
    ]));
    assert!(in_ns(&["ip", "link", "set", &peer_if, "up"]));
    let Some(mut server) = Server::start() else {
        return skipped("a PostgreSQL server (apt-get install postgresql; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("live.conf");
    std::fs::write(
        &cfg,
        format!(
            "interface: {host_if}\npromisc: false\npcap_filter: src host 10.98.0.1 and udp port 9999\nplugins: pgsql[foo]\naggregate[foo]: src_host, dst_host, proto\nsql_refresh_time[foo]: 2\nsql_spool_file[foo]: {}\n{}",
            dir.path().join("spool").display(),
            server.config()
        ),
    )
    .expect("config");
    let mut daemon = Command::new(OURS)
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pmacctd");
    // The log, line by line, for the assertions and to know when the capture is open.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = daemon.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    wait_for(10, "the capture to open", || {
        log.extend(rx.try_iter());
        log.iter()
            .any(|l| l.contains(&format!("reading from '{host_if}'")))
    });
    let udp = std::net::UdpSocket::bind("10.98.0.1:0").expect("bind");
    let send = |n: usize| {
        for _ in 0..n {
            udp.send_to(&[0u8; 100], "10.98.0.2:9999").expect("send");
        }
    };
    let mut c = server.client("pmacct");
    send(50);
    wait_for(30, "the first 50 datagrams in the table", || {
        c.query_one("SELECT to_regclass('acct') IS NOT NULL", &[])
            .is_ok_and(|r| r.get::<_, bool>(0))
            && packets(&mut c, "acct") == 50
    });
    server.stop();
    send(70);
    std::thread::sleep(Duration::from_secs(60));
    server.run();
    let mut c = server.client("pmacct");
    wait_for(60, "all 120 datagrams in the table", || {
        packets(&mut c, "acct") == 120
    });
    // SAFETY: kill has no memory effects; SIGTERM makes the daemon flush and exit.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    assert!(daemon.wait().expect("wait").success());
    reader.join().expect("log reader");
    log.extend(rx.try_iter());
    let log = log.join("\n");
    assert!(log.contains("backend trouble"), "{log}");
    assert!(log.contains("database back after"), "{log}");
    assert!(log.contains("write_retries="), "{log}");
    assert_eq!(packets(&mut c, "acct"), 120);
    let bytes: i64 = c
        .query_one("SELECT sum(bytes)::bigint FROM acct", &[])
        .expect("bytes")
        .get(0);
    assert_eq!(bytes, 120 * 128);
}

/// `pmacct report --pgsql` reads what the pgsql plugin wrote: the same report as from SQLite.
#[test]
fn report_from_pgsql_equals_report_from_sqlite() {
    let Some(server) = Server::start() else {
        return skipped("a PostgreSQL server (apt-get install postgresql; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = format!(
        "sql_table_version[foo]: 1\nsql_spool_file[foo]: {}\n{}",
        dir.path().join("spool").display(),
        server.config()
    );
    let url = format!(
        "postgresql://pmacct:arealsmartpwd@127.0.0.1:{}/pmacct",
        server.port
    );
    reports_agree("pgsql[foo]", &lines, &["--pgsql", &url], dir.path());
}
