//! The mysql plugin against a real, throwaway MariaDB server (Debian's `mariadb-server`,
//! started by this test on a free loopback port): the seed configuration's rows for versions 1
//! and 9 equal what Debian's pmacct 1.7.7 writes into a table made from its own schema file, and
//! a server that is down loses nothing.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

/// A MariaDB server in a temporary directory, stopped when dropped.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

const SERVER: &str = "/usr/sbin/mariadbd";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// None when this machine cannot run one (no package, not root).
    fn start() -> Option<Server> {
        // SAFETY: getuid has no preconditions.
        if !Path::new(SERVER).exists() || unsafe { libc::getuid() } != 0 {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // A temporary directory of its own: two servers bootstrapping at once in /tmp can
        // remove each other's temporary tables.
        std::fs::create_dir(dir.path().join("tmp")).expect("tmpdir");
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--tmpdir={}", dir.path().join("tmp").display()))
            .output()
            .expect("mariadb-install-db");
        assert!(
            out.status.success(),
            "install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Server {
            dir,
            port: free_port(),
            child: None,
        };
        server.run();
        server
            .conn(None)
            .query_drop("CREATE DATABASE pmacct")
            .expect("database");
        Some(server)
    }

    /// Starts the server process and waits until it takes connections.
    fn run(&mut self) {
        let child = Command::new(SERVER)
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-grant-tables",
                "--skip-log-bin",
            ])
            .args(["--bind-address=127.0.0.1", "--innodb-buffer-pool-size=64M"])
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("pid").display()
            ))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.try_conn(None).is_none() {
            assert!(Instant::now() < deadline, "mariadbd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill has no memory effects; SIGTERM asks mariadbd to shut down.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    fn try_conn(&self, db: Option<&str>) -> Option<Conn> {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .db_name(db)
            .prefer_socket(false);
        Conn::new(opts).ok()
    }

    fn conn(&self, db: Option<&str>) -> Conn {
        self.try_conn(db).expect("connect")
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
        "pcap_savefile: {}\nplugins: mysql[foo]\naggregate[foo]: src_host, dst_host, proto\nsql_table_version[foo]: {version}\nsql_refresh_time[foo]: 60\nsql_history[foo]: 1m\nsql_history_roundoff[foo]: m\nsql_spool_file[foo]: {}\n{}{extra}",
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

/// pmacct's table from its schema file (the statements after `use pmacct`).
fn pmacct_table(c: &mut Conn, version: u8) {
    let file = format!("/usr/share/doc/pmacct/sql/pmacct-create-db_v{version}.mysql");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let start = text.find("use pmacct;").expect("use pmacct") + "use pmacct;".len();
    for statement in text[start..]
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let lines: Vec<&str> = statement
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect();
        let sql = lines.join("\n");
        if !sql.trim().is_empty() {
            c.query_drop(sql).expect("pmacct schema");
        }
    }
}

/// Every row as text, without stamp_updated, in a fixed order.
fn dump(c: &mut Conn, table: &str) -> Vec<String> {
    let columns: Vec<String> = c
        .exec(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'pmacct' AND table_name = ? AND column_name <> 'stamp_updated' ORDER BY ordinal_position",
            (table,),
        )
        .expect("columns");
    c.query(format!(
        "SELECT CONCAT_WS('|', {}) FROM {table} ORDER BY {}",
        columns.join(", "),
        columns.join(", ")
    ))
    .expect("rows")
}

fn packets(c: &mut Conn, table: &str) -> i64 {
    c.query_first(format!(
        "SELECT CAST(coalesce(sum(packets), 0) AS SIGNED) FROM {table}"
    ))
    .expect("sum")
    .unwrap_or(0)
}

#[test]
fn mysql_rows_equal_pmacct_for_versions_1_and_9() {
    let Some(server) = Server::start() else {
        return skipped("a MariaDB server (apt-get install mariadb-server; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    generate(&pcap, 20_000, 20, 1200);
    for version in [1u8, 9] {
        let t = table(version);
        let mut c = server.conn(Some("pmacct"));
        c.query_drop(format!("DROP TABLE IF EXISTS {t}"))
            .expect("drop");
        let out = run_ours(&config(&pcap, &server, version, ""));
        assert!(out.ok, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("created table {t} in mysql")),
            "{}",
            out.stderr
        );
        let ours = dump(&mut c, &t);
        assert_eq!(packets(&mut c, &t), 20_000);
        let mut theirs = Vec::new();
        for attempt in 0..4 {
            let _solo = (attempt > 0).then(solo);
            c.query_drop(format!("DROP TABLE IF EXISTS {t}"))
                .expect("drop");
            pmacct_table(&mut c, version);
            // pmacct 1.7.7 writes version 9 to `acct` unless told (differences.md 33).
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
fn mysql_down_loses_nothing() {
    let Some(mut server) = Server::start() else {
        return skipped("a MariaDB server (apt-get install mariadb-server; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    generate(&pcap, 4_000, 10, 300);
    let cfg = config(&pcap, &server, 1, "");
    server.stop();
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("PRIMARY 'mysql pmacct@127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("will be written on the next start"),
        "{}",
        out.stderr
    );
    server.run();
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("holds rows kept from an earlier run"),
        "{}",
        out.stderr
    );
    let mut c = server.conn(Some("pmacct"));
    assert_eq!(packets(&mut c, "acct"), 8_000);
    assert!(!server.dir.path().join("spool").exists());
}

/// `pmacct report --mysql` reads what the mysql plugin wrote: the same report as from SQLite.
#[test]
fn report_from_mysql_equals_report_from_sqlite() {
    let Some(server) = Server::start() else {
        return skipped("a MariaDB server (apt-get install mariadb-server; run as root)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = format!(
        "sql_table_version[foo]: 1\nsql_spool_file[foo]: {}\n{}",
        dir.path().join("spool").display(),
        server.config()
    );
    let url = format!(
        "mysql://pmacct:arealsmartpwd@127.0.0.1:{}/pmacct",
        server.port
    );
    reports_agree("mysql[foo]", &lines, &["--mysql", &url], dir.path());
}
