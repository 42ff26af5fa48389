//! Running the daemon: the log file and SIGHUP (logrotate), the pidfile.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        Daemon(
            Command::new(env!("CARGO_BIN_EXE_pmacctd"))
                .arg("-f")
                .arg(config)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("pmacctd"),
        )
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory effects; the child is ours and not yet waited for.
        assert_eq!(unsafe { libc::kill(self.0.id() as i32, sig) }, 0);
    }
}

/// Waits (at most 10 s) until the file at `path` contains `text`.
fn wait_for_text(path: &Path, text: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(path).is_ok_and(|t| t.contains(text)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no '{text}' in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon that stays up after reading a small file, logging to `dir/pm.log`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let pcap = dir.join("t.pcap");
    common::generate(&pcap, 1_000, 5, 60);
    let cfg = dir.join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nlogfile: {}\nplugins: memory[m]\n\
             imt_path[m]: {}\n{extra}",
            pcap.display(),
            dir.join("pm.log").display(),
            dir.join("m.pipe").display()
        ),
    )
    .expect("config");
    cfg
}

/// logrotate's create cycle (move the file away, SIGHUP): lines before the signal are in the
/// moved file, lines after it in the new one, none lost or split.
#[test]
fn sighup_reopens_the_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "");
    let log = dir.path().join("pm.log");
    let rotated = dir.path().join("pm.log.1");
    let mut daemon = Daemon::start(&cfg);
    wait_for_text(&log, "finished reading");
    std::fs::rename(&log, &rotated).expect("rotate");
    // Written after the move, before the signal: still to the moved file.
    daemon.signal(libc::SIGUSR1);
    wait_for_text(&rotated, "stats received_packets=1000");
    daemon.signal(libc::SIGHUP);
    wait_for_text(&log, "SIGHUP: log file reopened");
    daemon.signal(libc::SIGTERM);
    assert!(daemon.0.wait().expect("wait").success());
    let old = std::fs::read_to_string(&rotated).expect("rotated");
    let new = std::fs::read_to_string(&log).expect("new log");
    assert!(
        old.contains("starting") && !old.contains("reopened"),
        "{old}"
    );
    assert!(
        new.contains("exiting") && !new.contains("starting"),
        "{new}"
    );
    for line in old.lines().chain(new.lines()) {
        // Every line whole: an ISO-8601 time, a level, a message.
        assert!(
            line.len() > 22 && line.as_bytes()[10] == b'T' && line[21..].starts_with("INFO "),
            "{line}"
        );
    }
}

/// A pidfile naming a running pmacctd is refused; a stale one is taken over; the file is
/// removed at exit.
#[test]
fn a_pidfile_held_by_a_running_daemon_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pmacctd.pid");
    let cfg = config(dir.path(), &format!("pidfile: {}\n", pidfile.display()));
    let mut first = Daemon::start(&cfg);
    wait_for_text(&pidfile, &format!("{}\n", first.0.id()));
    let second = common::run_file(&cfg);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "pidfile '{}' names a running pmacctd (PID {})",
            pidfile.display(),
            first.0.id()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pidfile"),
        format!("{}\n", first.0.id())
    );
    first.signal(libc::SIGTERM);
    assert!(first.0.wait().expect("wait").success());
    assert!(!pidfile.exists());

    // A stale pidfile (PID 1 is not a pmacctd) is taken over.
    std::fs::write(&pidfile, "1\n").expect("stale");
    let mut third = Daemon::start(&cfg);
    wait_for_text(&pidfile, &format!("{}\n", third.0.id()));
    third.signal(libc::SIGTERM);
    assert!(third.0.wait().expect("wait").success());
}

/// `-D`: the command returns once the daemon's inputs are open, 0, with the daemon running
/// on; or 1 with the daemon's error when an input cannot open (an init script sees it).
#[test]
fn daemonize_returns_the_daemons_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "pcap_interface: nosuch0\nplugins: print[p]\n").expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .args(["-D", "-f"])
        .arg(&bad)
        .output()
        .expect("pmacctd");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch0"), "{err}");

    let pidfile = dir.path().join("pmacctd.pid");
    let cfg = config(dir.path(), &format!("pidfile: {}\n", pidfile.display()));
    let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .args(["-D", "-f"])
        .arg(&cfg)
        .output()
        .expect("pmacctd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Ready means started: the pidfile names the running daemon, its log says it reads.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    let log = dir.path().join("pm.log");
    wait_for_text(&log, "reading from");
    // SAFETY: kill has no memory effects; the daemon is ours (its pidfile says so).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for_text(&log, "exiting");
    let start = Instant::now();
    while pidfile.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pidfile left behind"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT flushes every plugin and exits; a second stop signal during a flush that cannot
/// finish (it writes to a pipe nobody reads) exits at once, saying what was not written.
#[test]
fn a_second_stop_signal_during_the_flush_exits_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("t.pcap");
    // About 20,000 rows: more than a pipe holds.
    common::generate(&pcap, 20_000, 2_000, 60);
    let log = d.join("pm.log");
    let cfg = d.join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nlogfile: {}\n\
             plugins: memory[m], print[done], print[stuck]\naggregate: src_host, dst_host\n\
             imt_path[m]: {}\nprint_output: csv\nprint_output_file[done]: {}\n",
            pcap.display(),
            log.display(),
            d.join("m.pipe").display(),
            d.join("done.csv").display(),
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .spawn()
        .expect("pmacctd");
    // Held, never read: print[stuck] blocks once the pipe is full.
    let _stdout = child.stdout.take();
    let mut daemon = Daemon(child);
    wait_for_text(&log, "finished reading");
    assert!(
        !d.join("done.csv").exists(),
        "nothing is written before the stop"
    );
    daemon.signal(libc::SIGINT);
    wait_for_text(&log, "( done/print ): plugin stopped");
    wait_for_text(&log, "a second SIGINT or SIGTERM exits at once");
    let rows = std::fs::read_to_string(d.join("done.csv"))
        .expect("done.csv")
        .lines()
        .count()
        - 1;
    assert!(rows > 10_000, "{rows}");
    assert!(
        daemon.0.try_wait().expect("try_wait").is_none(),
        "still flushing"
    );

    daemon.signal(libc::SIGTERM);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = daemon.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log");
    let expected = format!(
        "second stop signal during the final flush: exiting now; not written: stuck/print: {rows} aggregates"
    );
    assert!(text.contains(&expected), "{text}");
}

/// The nice value of each of the daemon's threads, by thread name.
fn thread_nices(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let path = task.expect("task").path();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // Field 19 (nice) is the 17th after the command name.
        if let Some(nice) = stat[close + 1..].split_whitespace().nth(16) {
            out.push((name, nice.parse().expect("nice")));
        }
    }
    out.sort();
    out
}

/// `proc_priority` sets the daemon's nice value and `proc_priority[name]` one plugin's threads
/// apart; `files_uid`/`files_gid` own the pidfile, the log file, the memory socket, and print
/// output files with the directories created for them.
#[test]
fn priorities_and_the_owner_of_created_files() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED: giving files to another user needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pidfile = d.join("pm.pid");
    let cfg = config(
        d,
        &format!(
            "pidfile: {}\nfiles_uid: nobody\nfiles_gid: 65534\nproc_priority: 5\n\
             plugins: memory[m], print[p]\nproc_priority[p]: 9\nprint_output: csv\n\
             print_output_file[p]: {}/%Y/p.csv\n",
            pidfile.display(),
            d.join("out").display()
        ),
    )
    .display()
    .to_string();
    // The config helper wrote `plugins: memory[m]`; this test's line replaces it.
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text.replacen("plugins: memory[m]\n", "", 1);
    std::fs::write(&cfg, text).expect("config");
    let mut daemon = Daemon::start(Path::new(&cfg));
    wait_for_text(&d.join("pm.log"), "finished reading");
    let nices = thread_nices(daemon.0.id());
    let of = |name: &str| {
        nices
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no thread {name} in {nices:?}"))
    };
    assert_eq!(of("pmacctd"), 5);
    assert_eq!(of("plugin-m"), 5);
    assert_eq!(of("plugin-p"), 9);
    assert_eq!(of("write-p"), 9);
    daemon.signal(libc::SIGTERM);
    assert!(daemon.0.wait().expect("wait").success());
    // Without bins the file name's %Y is the purge's wall-clock year, as pmacct's.
    let year = || {
        let out = Command::new("date").arg("+%Y").output().expect("date");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let out = d.join("out").join(year());
    use std::os::unix::fs::MetadataExt;
    let owner = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (m.uid(), m.gid())
    };
    for p in [
        d.join("pm.log"),
        d.join("out"),
        out.clone(),
        out.join("p.csv"),
    ] {
        assert_eq!(owner(&p), (65534, 65534), "{}", p.display());
    }
    // The socket and the pidfile are removed at exit; they were owned while they existed
    // (checked on a second run, while it runs).
    let mut daemon = Daemon::start(Path::new(&cfg));
    wait_for_text(&pidfile, &format!("{}\n", daemon.0.id()));
    wait_for_text(&d.join("pm.log"), "finished reading");
    assert_eq!(owner(&pidfile), (65534, 65534));
    assert_eq!(owner(&d.join("m.pipe")), (65534, 65534));
    daemon.signal(libc::SIGTERM);
    assert!(daemon.0.wait().expect("wait").success());
}

/// `-V` names the build's plugins and libpcap; `-a` lists primitives, and every one it lists
/// is accepted by `aggregate`.
#[test]
fn version_and_primitive_lists() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
            .args(args)
            .output()
            .expect("pmacctd");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let v = run(&["-V"]);
    assert!(v.starts_with("pmacctd (pmacct-rs) "), "{v}");
    assert!(
        v.contains("\nPlugins:\n memory\n print\n sqlite3\n pgsql\n mysql\n quota\n prometheus\n influxdb\n"),
        "{v}"
    );
    assert!(v.contains("\n libpcap version 1."), "{v}");
    let a = run(&["-a"]);
    let names: Vec<&str> = a
        .lines()
        .filter_map(|l| l.split_once(" : ").map(|(n, _)| n.trim()))
        .collect();
    assert_eq!(names.len(), 58, "{a}");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in names {
        let cfg = dir.path().join("a.conf");
        std::fs::write(
            &cfg,
            format!(
                "plugins: print[p]\naggregate: {name}\nnetworks_mask: 24\n\
                 geoipv2_file: /var/lib/GeoIP/City.mmdb\ngeoipv2_asn_file: /var/lib/GeoIP/ASN.mmdb\n"
            ),
        )
        .expect("config");
        let out = common::check_config(&cfg);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The repository's packaging folder.
fn packaging(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../packaging")
        .join(path)
}

/// The shipped logrotate snippet run by the real logrotate, with this test's paths, in its
/// create cycle (move, SIGHUP through the pidfile) and with copytruncate: every line is in
/// the rotated file or in the new one, whole, none twice, none lost.
#[test]
fn logrotate_cycles_lose_no_line() {
    for copytruncate in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let log = d.join("pm.log");
        let pidfile = d.join("pm.pid");
        let cfg = config(d, &format!("pidfile: {}\n", pidfile.display()));
        let mut snippet = std::fs::read_to_string(packaging("logrotate/pmacctd"))
            .expect("snippet")
            .replace("/var/log/pmacct/pmacctd.log", &log.display().to_string())
            .replace("/run/pmacctd.pid", &pidfile.display().to_string())
            .replace("    create 0600 root root\n", "    create 0600\n");
        if copytruncate {
            snippet = snippet.replace("    create 0600\n", "    copytruncate\n");
        }
        let conf = d.join("logrotate.conf");
        std::fs::write(&conf, snippet).expect("logrotate.conf");
        let mut daemon = Daemon::start(&cfg);
        wait_for_text(&pidfile, &format!("{}\n", daemon.0.id()));
        wait_for_text(&log, "finished reading");
        daemon.signal(libc::SIGUSR1);
        wait_for_text(&log, "stats received_packets=1000");
        let rotate = Command::new("logrotate")
            .arg("-f")
            .arg("-s")
            .arg(d.join("state"))
            .arg(&conf)
            .output()
            .expect("logrotate (apt-get install logrotate)");
        assert!(
            rotate.status.success(),
            "{}",
            String::from_utf8_lossy(&rotate.stderr)
        );
        if !copytruncate {
            wait_for_text(&log, "SIGHUP: log file reopened");
        }
        daemon.signal(libc::SIGUSR2);
        wait_for_text(&log, "SIGUSR2: no map to reload");
        daemon.signal(libc::SIGTERM);
        assert!(daemon.0.wait().expect("wait").success());
        let old = std::fs::read(d.join("pm.log.1")).expect("rotated");
        let new = std::fs::read(&log).expect("new log");
        assert!(!new.contains(&0), "NUL bytes in the new log");
        let (old, new) = (
            String::from_utf8(old).expect("utf-8"),
            String::from_utf8(new).expect("utf-8"),
        );
        let all: Vec<&str> = old.lines().chain(new.lines()).collect();
        for line in &all {
            assert!(
                line.len() > 22 && line.as_bytes()[10] == b'T' && line[21..].starts_with("INFO "),
                "{line}"
            );
        }
        let count = |text: &str| all.iter().filter(|l| l.contains(text)).count();
        assert_eq!(count("starting"), 1);
        assert_eq!(count("stats received_packets=1000"), 2, "{old}\n---\n{new}");
        assert_eq!(count("SIGUSR2"), 1);
        assert_eq!(count("exiting"), 1);
        assert!(old.contains("starting") && new.contains("exiting"));
    }
}

/// `systemd-analyze verify` passes on the shipped units (their binary paths pointed at this
/// build) without a warning.
#[test]
fn the_systemd_units_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, binary) in [
        ("pmacctd", env!("CARGO_BIN_EXE_pmacctd")),
        ("nfacctd", env!("CARGO_BIN_EXE_nfacctd")),
        ("sfacctd", env!("CARGO_BIN_EXE_sfacctd")),
    ] {
        let unit = std::fs::read_to_string(packaging(&format!("systemd/{name}.service")))
            .expect("unit")
            .replace(&format!("/usr/local/sbin/{name}"), binary);
        let path = dir.path().join(format!("{name}.service"));
        std::fs::write(&path, unit).expect("unit");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("systemd-analyze (apt-get install systemd)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        assert_eq!(err, "", "{name}");
    }
}

/// The counter files' logrotate snippet parses and rotates what it names (pointed at a
/// temporary folder; its postrotate's systemctl finds no unit there and is ignored).
#[test]
fn the_counter_files_logrotate_snippet_rotates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let snippet = std::fs::read_to_string(packaging("logrotate/sfacctd-counters"))
        .expect("snippet")
        .replace("/var/lib/pmacct/", &format!("{}/", d.display()));
    let conf = d.join("logrotate.conf");
    std::fs::write(&conf, snippet).expect("conf");
    std::fs::write(d.join("sflow-counters-192_0_2_1.json"), "{}\n").expect("counters");
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(d.join("state"))
        .arg(&conf)
        .output()
        .expect("logrotate (apt-get install logrotate)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.join("sflow-counters-192_0_2_1.json.1").exists());
    // nocreate: sfacctd makes the file again at its next sample.
    assert!(!d.join("sflow-counters-192_0_2_1.json").exists());
}

/// The shipped /etc/pmacct layout: the configuration is valid, and the example pre_tag_map
/// loads.
#[test]
fn the_example_etc_layout_is_valid() {
    let check_with = |binary: &str, args: &[&str], cfg: &Path| {
        let out = Command::new(binary)
            .args(args)
            .arg("-f")
            .arg(cfg)
            .output()
            .expect("the daemon");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}", cfg.display());
        // No key of the shipped files is unknown or ignored.
        assert!(!err.contains("WARN"), "{}: {err}", cfg.display());
    };
    let check = |args: &[&str], cfg: &Path| check_with(env!("CARGO_BIN_EXE_pmacctd"), args, cfg);
    check(&["-T", "config"], &packaging("etc/pmacct/pmacctd.conf"));
    let config = ["-T", "config"];
    check_with(
        env!("CARGO_BIN_EXE_nfacctd"),
        &config,
        &packaging("etc/pmacct/nfacctd.conf"),
    );
    check_with(
        env!("CARGO_BIN_EXE_sfacctd"),
        &config,
        &packaging("etc/pmacct/sfacctd.conf"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    common::generate(&pcap, 10, 2, 1);
    let cfg = dir.path().join("maps.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npre_tag_map: {}\nplugins: print[p]\naggregate: tag\n",
            pcap.display(),
            packaging("etc/pmacct/pretag.map").display()
        ),
    )
    .expect("config");
    check(&["-T", "setup"], &cfg);
}

/// Runs the shipped SysV init script with this build and a test configuration.
fn init_script(action: &str, cfg: &Path, pidfile: &Path) -> (i32, String) {
    let out = Command::new("sh")
        .arg(packaging("sysv/pmacctd"))
        .arg(action)
        .env("PMACCTD_DAEMON", env!("CARGO_BIN_EXE_pmacctd"))
        .env("PMACCTD_CONFIG", cfg)
        .env("PMACCTD_PIDFILE", pidfile)
        .env("PMACCTD_STOP_TIMEOUT", "10")
        .output()
        .expect("sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The SysV script's start, status, reload, stop and their LSB exit codes; a daemon that
/// cannot start makes `start` fail with its error.
#[test]
fn the_sysv_script_starts_reports_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pidfile = d.join("run.pid");
    let cfg = config(d, "");
    let log = d.join("pm.log");
    assert_eq!(
        init_script("status", &cfg, &pidfile),
        (3, "pmacctd is not running\n".into())
    );
    let (code, text) = init_script("start", &cfg, &pidfile);
    assert_eq!(code, 0, "{text}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm"),
        "pmacctd\n"
    );
    let running = format!("pmacctd is running (PID {pid})\n");
    assert_eq!(init_script("status", &cfg, &pidfile), (0, running));
    assert_eq!(
        init_script("start", &cfg, &pidfile),
        (0, format!("pmacctd is already running (PID {pid})\n"))
    );
    wait_for_text(&log, "finished reading");
    assert_eq!(init_script("reload", &cfg, &pidfile).0, 0);
    wait_for_text(&log, "SIGUSR2: no map to reload");
    assert_eq!(
        init_script("stop", &cfg, &pidfile),
        (0, format!("Stopping pmacctd (PID {pid})\n"))
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(!pidfile.exists());
    assert!(std::fs::read_to_string(&log)
        .expect("log")
        .contains("exiting"));
    assert_eq!(init_script("status", &cfg, &pidfile).0, 3);
    assert_eq!(
        init_script("stop", &cfg, &pidfile),
        (0, "pmacctd is not running\n".into())
    );

    // A pidfile left by a dead daemon.
    std::fs::write(&pidfile, "999999999\n").expect("stale");
    assert_eq!(init_script("status", &cfg, &pidfile).0, 1);
    std::fs::remove_file(&pidfile).expect("rm");

    // A daemon that cannot start: start fails with its error.
    let bad = d.join("bad.conf");
    std::fs::write(
        &bad,
        "pcap_interface: nosuch0\nplugins: print[p]\nlogfile: /dev/null\n",
    )
    .expect("config");
    let (code, text) = init_script("start", &bad, &pidfile);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("nosuch0"), "{text}");
    assert!(!pidfile.exists());
}
