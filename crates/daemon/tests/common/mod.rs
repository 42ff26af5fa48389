//! Helpers shared by the end-to-end tests: running our pmacctd and Debian's, parsing outputs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod collector;
pub mod home;
pub mod late;
pub mod netns;
pub mod rabbitmq;
pub mod tansu;

pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// ../shared/testdata, if present.
pub fn testdata() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    p.is_dir().then_some(p)
}

pub fn skipped(what: &str) {
    println!("SKIPPED: {what} is not present on this machine");
}

fn run_with(program: &str, config_text: &str) -> Outcome {
    run_in_zone(program, config_text, "UTC")
}

/// Runs `program -f <config>` with `TZ` set to `zone`.
pub fn run_in_zone(program: &str, config_text: &str, zone: &str) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("pmacctd.conf");
    std::fs::write(&cfg, config_text).expect("write config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&cfg)
        .env("TZ", zone)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (install it: apt-get install pmacct tshark)")
        });
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub const OURS: &str = env!("CARGO_BIN_EXE_pmacctd");

pub fn run_ours(config_text: &str) -> Outcome {
    run_with(env!("CARGO_BIN_EXE_pmacctd"), config_text)
}

/// Runs our pmacctd on the configuration file `cfg` (no TZ set); its output.
pub fn run_file(cfg: &Path) -> std::process::Output {
    Command::new(OURS)
        .arg("-f")
        .arg(cfg)
        .output()
        .expect("pmacctd")
}

/// Runs `program -f cfg`; the run must succeed without a warning or an error; its
/// (stdout, stderr).
pub fn run_clean(program: &str, cfg: &Path) -> (String, String) {
    let out = Command::new(program)
        .arg("-f")
        .arg(cfg)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("WARN") && !err.contains("ERROR"), "{err}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

/// Runs our pmacctd on `cfg` with `TZ` set to `zone`; the run must succeed; its log.
pub fn run_file_ok(cfg: &Path, zone: &str) -> String {
    let out = Command::new(OURS)
        .arg("-f")
        .arg(cfg)
        .env("TZ", zone)
        .output()
        .expect("pmacctd");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    log
}

/// `pmacctd -T config -f cfg`: the check alone; its output.
pub fn check_config(cfg: &Path) -> std::process::Output {
    Command::new(OURS)
        .args(["-T", "config", "-f"])
        .arg(cfg)
        .output()
        .expect("pmacctd")
}

/// Debian's pmacctd 1.7.7.
pub fn run_pmacct(config_text: &str) -> Outcome {
    run_with("/usr/sbin/pmacctd", config_text)
}

const PARALLEL: usize = 4;

/// Serialises the re-runs of the reference.
static SOLO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the reference alone on the machine while the guard lives (pmacct misbehaves under
/// load; see `run_pmacct_settled`).
pub fn solo() -> std::sync::MutexGuard<'static, ()> {
    SOLO.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes of every row of an output, whatever its format.
pub fn total_bytes(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            if l.starts_with('{') {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()?
                    .get("bytes")?
                    .as_u64()
            } else {
                l.rsplit([',', ' ']).next()?.parse::<u64>().ok()
            }
        })
        .sum()
}

/// pmacct's output is an oracle only once its totals are checked: under load pmacct 1.7.7
/// loses records between its core and its plugin, sometimes prints nothing, and sometimes
/// counts a purge twice. A reference output whose byte total differs from ours is re-run alone
/// (up to 3 times) until the totals agree; if they never do, the last run is kept and the test
/// judges it (deliberate differences are listed in the tests).
fn run_pmacct_settled(cfg: &str, ours: &Outcome) -> Outcome {
    let mut theirs = run_pmacct(cfg);
    let want = total_bytes(&ours.stdout);
    for _ in 0..3 {
        if total_bytes(&theirs.stdout) == want {
            break;
        }
        let _solo = solo();
        theirs = run_pmacct(cfg);
    }
    theirs
}

/// Runs ours and pmacct on every job, several pmacct runs at once (each sleeps 2 s at start).
pub fn run_both_parallel(jobs: &[(PathBuf, String)]) -> Vec<(Outcome, Outcome)> {
    let mut results: Vec<Option<(Outcome, Outcome)>> = (0..jobs.len()).map(|_| None).collect();
    for (chunk_index, chunk) in jobs.chunks(PARALLEL).enumerate() {
        let handles: Vec<_> = chunk
            .iter()
            .map(|(_, cfg)| {
                let cfg = cfg.clone();
                std::thread::spawn(move || {
                    let ours = run_ours(&cfg);
                    let theirs = run_pmacct_settled(&cfg, &ours);
                    (ours, theirs)
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            results[chunk_index * PARALLEL + i] = Some(h.join().expect("runner thread"));
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// Counters per key: (packets, bytes, OR of tcp flags).
pub type Rows = BTreeMap<String, (u64, u64, u64)>;

fn add(rows: &mut Rows, key: String, packets: u64, bytes: u64, flags: u64) {
    let e = rows.entry(key).or_insert((0, 0, 0));
    e.0 += packets;
    e.1 += bytes;
    e.2 |= flags;
}

/// CSV rows keyed by their first `key_columns` fields; several purges of one key are summed.
pub fn rows_csv(text: &str, key_columns: usize) -> Rows {
    rows_split(text, key_columns, |l| l.split(',').collect())
}

/// Formatted rows (whitespace separated).
pub fn rows_formatted(text: &str, key_columns: usize) -> Rows {
    rows_split(text, key_columns, |l| l.split_whitespace().collect())
}

fn rows_split(text: &str, key_columns: usize, fields: impl Fn(&str) -> Vec<&str>) -> Rows {
    let mut rows = Rows::new();
    for line in text.lines() {
        let f = fields(line);
        if f.len() < 2 || f.contains(&"PACKETS") || line.starts_with("--") {
            continue;
        }
        let (Ok(p), Ok(b)) = (f[f.len() - 2].parse::<u64>(), f[f.len() - 1].parse::<u64>()) else {
            continue;
        };
        add(
            &mut rows,
            f[..key_columns.min(f.len() - 2)].join(","),
            p,
            b,
            0,
        );
    }
    rows
}

/// JSON rows keyed by every field but counters, event type, stamps and tcp flags (OR-ed).
pub fn rows_json(text: &str) -> Rows {
    let mut rows = Rows::new();
    for line in text.lines() {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(line)
        else {
            continue;
        };
        let mut key = Vec::new();
        let (mut p, mut b, mut flags) = (0, 0, 0);
        for (k, v) in &m {
            match k.as_str() {
                "packets" => p = v.as_u64().unwrap_or(0),
                "bytes" => b = v.as_u64().unwrap_or(0),
                "tcp_flags" => flags = v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                "event_type" | "stamp_updated" => {}
                _ => key.push(format!("{k}={v}")),
            }
        }
        key.sort();
        add(&mut rows, key.join(","), p, b, flags);
    }
    rows
}

/// tshark's count of IP bytes: the outermost IP header's length of every frame.
pub fn tshark_ip_bytes(pcap: &Path) -> Option<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-e",
            "frame.protocols",
            "-e",
            "ip.len",
            "-e",
            "ipv6.plen",
        ])
        .output()
        .expect("tshark runs (apt-get install tshark)");
    if !out.status.success() {
        return None;
    }
    let mut total = 0u64;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let protocols: Vec<&str> = f
            .first()
            .map(|p| p.split(':').collect())
            .unwrap_or_default();
        let first = |i: usize| {
            f.get(i)
                .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match protocols.iter().find(|p| **p == "ip" || **p == "ipv6") {
            Some(&"ip") => total += first(1).unwrap_or(0),
            Some(_) => total += first(2).map_or(0, |p| p + 40),
            None => {}
        }
    }
    Some(total)
}

pub fn generate(path: &Path, packets: u64, hosts: u64, seconds: u64) {
    pmacct_daemon::synth::write_pcap(path, packets, hosts, seconds, 1_700_000_000)
        .expect("generate pcap");
}

/// One IP packet as tshark decodes it: time (whole seconds), source, destination, IP bytes.
pub struct TsharkPacket {
    pub secs: i64,
    pub src: String,
    pub dst: String,
    pub bytes: u64,
}

/// Every IP packet of a capture, decoded by tshark (an independent decoder).
pub fn tshark_packets(pcap: &Path) -> Vec<TsharkPacket> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-T", "fields", "-E", "occurrence=f"])
        .args([
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.len",
        ])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen"])
        .output()
        .expect("tshark runs (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed on {}", pcap.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let secs = f.first()?.split('.').next()?.parse().ok()?;
            let (src, dst, bytes) = if !f.get(1)?.is_empty() {
                (f[1], *f.get(2)?, f.get(3)?.parse::<u64>().ok()?)
            } else {
                (*f.get(4)?, *f.get(5)?, f.get(6)?.parse::<u64>().ok()? + 40)
            };
            Some(TsharkPacket {
                secs,
                src: src.to_string(),
                dst: dst.to_string(),
                bytes,
            })
        })
        .collect()
}

/// Runs a command quietly; whether it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `pmacct report` with `args`; its stdout (the run must succeed).
pub fn report_csv(args: &[&str]) -> String {
    let client = std::path::Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(client)
        .arg("report")
        .args(args)
        .args(["--format", "csv", "--by", "hour", "--top", "0"])
        .args([
            "--local-net",
            "10.16.0.0/28",
            "--local-net",
            "2001:db8::/124",
        ])
        .output()
        .expect("pmacct report");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

/// One run writing the plugin `decl` (configured by `lines`) and an SQLite table side by side: the report of each is the
/// same CSV (the SQLite report is checked against the packets in tests/report.rs).
pub fn reports_agree(decl: &str, lines: &str, db_args: &[&str], dir: &Path) {
    let pcap = dir.join("gen.pcap");
    generate(&pcap, 6_000, 40, 7_200);
    let sqlite = dir.join("side.db");
    let cfg = format!(
        "pcap_savefile: {}\nplugins: {decl}, sqlite3[side]\n{lines}\
         aggregate: src_host, dst_host\nsql_history: 1m\nsql_history_roundoff: m\n\
         sql_refresh_time: 60\nsql_db[side]: {}\nsql_optimize_clauses[side]: true\n",
        pcap.display(),
        sqlite.display()
    );
    let out = run_ours(&cfg);
    assert!(out.ok, "{}", out.stderr);
    let side = sqlite.display().to_string();
    let expected = report_csv(&["--db", &side]);
    assert!(expected.lines().count() > 40, "{expected}");
    assert_eq!(report_csv(db_args), expected);
}

/// A UDP packet over Ethernet, IPv4 or IPv6, for tests that build their own traffic.
pub struct Udp {
    pub ts: i64,
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub payload: usize,
}

impl Udp {
    /// The IP length pmacct counts.
    pub fn ip_bytes(&self) -> u64 {
        (self.payload + 8 + if self.src.is_ipv4() { 20 } else { 40 }) as u64
    }

    pub fn frame(&self) -> Vec<u8> {
        use std::net::IpAddr;
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let udp_len = (8 + self.payload) as u16;
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
                f.extend_from_slice(&(20 + udp_len).to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                f.extend_from_slice(&udp_len.to_be_bytes());
                f.extend_from_slice(&[17, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => panic!("a packet's addresses are of one family"),
        }
        f.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb]);
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.resize(f.len() + self.payload, 0x5a);
        f
    }
}

/// A pcap file (microseconds, Ethernet) of these packets.
pub fn write_udp_pcap(path: &Path, packets: &[&Udp]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for p in packets {
        let f = p.frame();
        for v in [p.ts as u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&f);
    }
    std::fs::write(path, b).expect("pcap");
}

/// The datagrams Debian's pmacctd exports with a probe plugin for a capture of packets,
/// received on a loopback socket, as a pcap file of Ethernet/IPv4/UDP frames (one timestamp
/// second per 100 datagrams), and how many there are. `plugin` is the plugin's configuration
/// up to its receiver key (`plugins: sfprobe\nsfprobe_receiver`): the socket's address is added.
pub fn probe_exports(packets: &Path, plugin: &str, dir: &Path) -> (PathBuf, usize) {
    probe_exports_with(Path::new("/usr/sbin/pmacctd"), packets, plugin, dir)
}

/// A loopback UDP socket with a 32 MiB receive buffer (root: SO_RCVBUFFORCE), to hold what a
/// daemon reading a file sends at once.
pub fn roomy_udp_socket() -> std::net::UdpSocket {
    use std::os::fd::AsRawFd;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let size: libc::c_int = 32 << 20;
    // SAFETY: setsockopt reads `size` (a c_int that outlives the call) for SO_RCVBUFFORCE.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket
}

/// Every datagram waiting on a socket (the sender has finished).
pub fn drain_udp(socket: &std::net::UdpSocket) -> Vec<Vec<u8>> {
    socket.set_nonblocking(true).expect("nonblocking");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// [`probe_exports`] made by `pmacctd` (Debian's or ours).
pub fn probe_exports_with(
    pmacctd: &Path,
    packets: &Path,
    plugin: &str,
    dir: &Path,
) -> (PathBuf, usize) {
    let socket = roomy_udp_socket();
    let port = socket.local_addr().expect("addr").port();
    let cfg = dir.join("probe.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\n{plugin}: 127.0.0.1:{port}\n",
            packets.display()
        ),
    )
    .expect("config");
    let out = Command::new(pmacctd)
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap_or_else(|e| panic!("run {} (apt-get install pmacct): {e}", pmacctd.display()));
    // 1.7.7's core sometimes outlives its plugin at the end of the file ("connection lost",
    // exit status 1) after the plugin has sent everything and stopped on its own.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("Shutting down on user request"),
        "{stderr}"
    );
    // pmacctd has exited: what it sent is in the socket's buffer.
    let frames: Vec<Vec<u8>> = drain_udp(&socket)
        .iter()
        .map(|d| udp_frame(d, port))
        .collect();
    let pcap = dir.join("exports.pcap");
    write_frames_pcap(&pcap, &frames);
    (pcap, frames.len())
}

/// A pcap file (Ethernet) of `frames`, one timestamp second per 100 frames from 1700000400.
pub fn write_frames_pcap(pcap: &Path, frames: &[Vec<u8>]) {
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535 + 64, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [
            1_700_000_400 + i as u32 / 100,
            0,
            f.len() as u32,
            f.len() as u32,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    std::fs::write(pcap, b).expect("pcap");
}

/// An Ethernet/IPv4/UDP frame from 127.0.0.1 to 127.0.0.1:`port` carrying `payload`.
pub fn udp_frame(payload: &[u8], port: u16) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&(28 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    f.extend_from_slice(&9999u16.to_be_bytes());
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The rows the pre_tag_map chain of tests/tags.rs and tests/tags_live.rs must give (columns
/// tag, dst_port, proto): TCP to port 80 is 1 + 4, to port 443 1 | 16, other TCP 1; behind a
/// VLAN tag 'tcp' does not match the raw frame: 200; UDP 100.
pub const TAG_CHAIN_ROWS: [&str; 5] = [
    "5,80,tcp",
    "17,443,tcp",
    "1,22,tcp",
    "200,80,tcp",
    "100,53,udp",
];

/// `f` on every item, four at a time (runs of daemons are mostly waiting for them to start and
/// stop); each worker has its own folder under `root`. The results in no particular order; a
/// panic of `f` is the caller's.
pub fn on_four_workers<T: Sync, R: Send>(
    items: &[T],
    root: &Path,
    f: impl Fn(&T, &Path) -> R + Sync,
) -> Vec<R> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (f, dir) = (&f, root.join(w.to_string()));
                s.spawn(move || {
                    std::fs::create_dir_all(&dir).expect("worker dir");
                    items
                        .iter()
                        .skip(w)
                        .step_by(4)
                        .map(|item| f(item, &dir))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The 5-tuple aggregate of [`print_totals`].
pub const TOTALS_AGGREGATE: &str = "src_host, dst_host, src_port, dst_port, proto";

/// Packets and bytes per "src,dst,sport,dport,proto".
pub type Totals = std::collections::BTreeMap<String, (u64, u64)>;

/// The totals of a print plugin's CSV (header first; columns of [`TOTALS_AGGREGATE`], then packets
/// and bytes).
pub fn csv_totals(csv: &str) -> Totals {
    let mut out = Totals::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 {
            continue;
        }
        let key = format!(
            "{},{},{},{},{}",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4].to_lowercase()
        );
        let t = out.entry(key).or_default();
        t.0 += f[5].parse::<u64>().expect("packets");
        t.1 += f[6].parse::<u64>().expect("bytes");
    }
    out
}

/// What `program` (a pmacctd or an nfacctd) prints for `pcap` with [`TOTALS_AGGREGATE`].
pub fn print_totals(program: &str, pcap: &Path, dir: &Path) -> Totals {
    let cfg = dir.join(format!(
        "print-{}.conf",
        Path::new(program).to_string_lossy().replace('/', "_")
    ));
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: {TOTALS_AGGREGATE}\n\
             print_output[p]: csv\nprint_refresh_time[p]: 86400\n",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(program)
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (apt-get install pmacct)"));
    csv_totals(&String::from_utf8_lossy(&out.stdout))
}

/// A broker record (JSON) without what differs between runs: `writer_id` (the pid) and
/// `stamp_updated` (the wall clock).
pub fn stable_record(line: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).expect("a JSON record");
    if let Some(m) = v.as_object_mut() {
        m.remove("writer_id");
        m.remove("stamp_updated");
    }
    v.to_string()
}

/// Our print plugin's JSON rows for `pcap` with `aggregate` (and 1-minute bins), as
/// [`stable_record`]s, sorted.
pub fn print_json_rows(pcap: &Path, dir: &Path, aggregate: &str, bins: bool) -> Vec<String> {
    let cfg = dir.join("print-json.conf");
    let history = if bins { "print_history[p]: 1m\n" } else { "" };
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: {aggregate}\n{history}\
             print_refresh_time[p]: 86400\nprint_output[p]: json\n",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("pmacctd");
    let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(stable_record)
        .collect();
    rows.sort();
    rows
}

/// The packets of the purge records among `text`'s lines.
pub fn purge_packets(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains("\"event_type\": \"purge\""))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .filter_map(|v| v["packets"].as_u64())
        .sum()
}

/// tshark's reading of an export capture: (datagrams it decoded as NetFlow/IPFIX, expert
/// notes of any kind, packets of every record).
pub fn tshark_cflow(pcap: &Path) -> (usize, usize, u64) {
    let fields = |args: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(args)
            .output()
            .expect("tshark (apt-get install tshark)");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let port = fields(&["-c", "1", "-T", "fields", "-e", "udp.dstport"]);
    let decode = format!("udp.port=={},cflow", port.trim());
    let read = |args: &[&str]| fields(&[&["-d", decode.as_str()], args].concat());
    let datagrams = read(&["-Y", "cflow", "-T", "fields", "-e", "frame.number"])
        .lines()
        .count();
    let expert = read(&["-Y", "_ws.expert || _ws.malformed"]).lines().count();
    let packets = read(&["-T", "fields", "-E", "occurrence=a", "-e", "cflow.packets"])
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    (datagrams, expert, packets)
}

/// Broker messages in kcat's `%R%s` framing decoded by Debian's python3-avro with the
/// schemas written at `schema` (tests/common/avro_decode.py): one JSON object per line.
pub fn avro_decode(schema: &Path, framed: &[u8]) -> String {
    use std::io::Write as _;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/avro_decode.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (apt-get install python3-avro)");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = framed.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("avro_decode.py");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// zlib's CRC-32 (IEEE), as librdkafka computes it for consistent_random.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
