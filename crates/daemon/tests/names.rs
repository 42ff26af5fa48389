//! Remote host names learned from the traffic (src_host_name, dst_host_name): the generated
//! capture of `synth::names` read by pmacctd gives every row the names the scenario says, and
//! tshark reads the same names from the same capture; a flood of distinct answers keeps the
//! cache at its bound, counted.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pmacct_daemon::synth::names::{capture, dns_response, NamedPacket, Rr, GRACE};
use pmacct_daemon::synth::{write_frames, Frame};

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pmacct-rs-names-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(path: &Path, packets: &[NamedPacket]) {
    let frames: Vec<Frame> = packets
        .iter()
        .map(|p| Frame {
            secs: p.secs,
            usecs: 0,
            data: &p.frame,
        })
        .collect();
    write_frames(path, 1, &frames).expect("pcap");
}

/// Runs pmacctd on `pcap` into the SQLite table `db` (hourly bins) with `extra` keys.
fn to_sqlite(dir: &Path, pcap: &Path, db: &Path, aggregate: &str, extra: &str) {
    let cfg = dir.join("sql.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\n{extra}plugins: sqlite3[s]\naggregate: {aggregate}\nsql_db: {}\n\
             sql_history: 1h\nsql_history_roundoff: h\nsql_refresh_time: 3600\n",
            pcap.display(),
            db.display()
        ),
    )
    .expect("config");
    let run = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("pmacctd");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Runs pmacctd on `pcap` with `extra` keys; the print plugin's CSV rows and the log.
fn run(dir: &Path, pcap: &Path, aggregate: &str, extra: &str) -> (String, String) {
    let out = dir.join("rows.csv");
    let log = dir.join("pmacctd.log");
    let cfg = dir.join("pmacctd.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nlogfile: {}\n{extra}plugins: print\naggregate: {aggregate}\n\
             print_output: csv\nprint_output_file: {}\nprint_refresh_time: 60\n",
            pcap.display(),
            log.display(),
            out.display()
        ),
    )
    .expect("config");
    let run = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("pmacctd");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(run.status.success(), "{log_text}");
    (std::fs::read_to_string(&out).expect("rows"), log_text)
}

#[test]
fn every_row_has_the_names_the_scenario_gives() {
    let dir = tempdir("rows");
    let pcap = dir.join("names.pcap");
    let packets = capture(1_700_000_000);
    write(&pcap, &packets);
    let (csv, log) = run(
        &dir,
        &pcap,
        "src_host, dst_host, src_host_name, dst_host_name",
        &format!("names_grace: {GRACE}\n"),
    );
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in &packets {
        let ip_len = p.frame.len() as u64 - 14;
        let key = format!("{},{},{},{}", p.src, p.dst, p.src_name, p.dst_name);
        let e = expected.entry(key).or_default();
        e.0 += 1;
        e.1 += ip_len;
    }
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("SRC_IP,DST_IP,SRC_HOST_NAME,DST_HOST_NAME,PACKETS,BYTES")
    );
    let got: BTreeMap<String, (u64, u64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = f.len();
            (
                f[..n - 2].join(","),
                (
                    f[n - 2].parse().expect("packets"),
                    f[n - 1].parse().expect("bytes"),
                ),
            )
        })
        .collect();
    assert_eq!(got, expected, "{log}");
    // The scenario's point, spelled out: one address, two names, by client; a name that
    // expired; a QUIC name.
    assert!(
        csv.contains("192.168.1.10,203.0.113.10,,www.example.com,1,"),
        "{csv}"
    );
    assert!(
        csv.contains("192.168.1.11,203.0.113.10,,video.example.org,2,"),
        "{csv}"
    );
    assert!(csv.contains("192.168.1.10,203.0.113.10,,,1,"), "{csv}");
    assert!(
        csv.contains("192.168.1.10,198.51.100.7,,quic.example.net,1,1228"),
        "{csv}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tshark -T fields` of the capture, one line a packet.
fn tshark(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

#[test]
fn tshark_reads_the_same_names_from_the_capture() {
    let dir = tempdir("tshark");
    let pcap = dir.join("names.pcap");
    write(&pcap, &capture(1_700_000_000));
    let rows = tshark(
        &pcap,
        &[
            "dns.qry.name",
            "dns.a",
            "dns.aaaa",
            "tls.handshake.extensions_server_name",
            "http.host",
        ],
    );
    let col = |i: usize| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r.get(i).filter(|v| !v.is_empty()).cloned())
            .collect()
    };
    assert_eq!(
        col(0),
        [
            "www.example.com",
            "www.example.com",
            "video.example.org,img.example.org",
            "ipv6.example.com"
        ]
    );
    assert_eq!(
        col(1),
        ["203.0.113.10", "203.0.113.20", "203.0.113.10,203.0.113.30"]
    );
    assert_eq!(col(2), ["2001:db8:cafe::1"]);
    assert_eq!(
        col(3),
        ["secure.example.org", "quic.example.net", "pq.example.net"]
    );
    assert_eq!(col(4), ["plain.example.org:8080"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flood_of_distinct_answers_keeps_the_cache_at_its_bound() {
    let dir = tempdir("flood");
    let pcap = dir.join("flood.pcap");
    let mut frames = Vec::new();
    for i in 0..5_000u32 {
        let addr = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        let name = format!("host{i}.flood.example");
        let msg = dns_response(
            i as u16,
            &name,
            false,
            &[Rr::Addr(&name, addr.into(), 3600)],
        );
        let mut udp = 53u16.to_be_bytes().to_vec();
        udp.extend_from_slice(&40000u16.to_be_bytes());
        udp.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&msg);
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
        f.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 168, 1, 1, 192, 168, 1, 10]);
        f.extend_from_slice(&udp);
        frames.push((1_700_000_000 + i / 100, f));
    }
    let frames: Vec<Frame> = frames
        .iter()
        .map(|(s, f)| Frame {
            secs: *s,
            usecs: 0,
            data: f,
        })
        .collect();
    write_frames(&pcap, 1, &frames).expect("pcap");
    let (_, log) = run(
        &dir,
        &pcap,
        "dst_host, dst_host_name",
        "names_cache_entries: 1000\n",
    );
    assert!(
        log.contains(
            "names_learned=5000 names_evicted=4000 names_refused=0 names_cached=1000 dns_malformed=0"
        ),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Device names learned from DHCP and mDNS on the wire, and a lease file, in `pmacct report`;
/// MAC vendors from Debian's ieee-data.
#[test]
fn dhcp_and_mdns_names_and_vendors_reach_the_report() {
    use pmacct_daemon::synth::names::write_home_devices;
    let dir = tempdir("devices");
    let pcap = dir.join("home.pcap");
    let devices = write_home_devices(&pcap, 1_700_000_000).expect("pcap");
    let db = dir.join("home.db");
    let learned = dir.join("learned.leases");
    to_sqlite(
        &dir,
        &pcap,
        &db,
        "src_host, dst_host, src_mac, dst_mac",
        &format!("names_learned_file: {}\n", learned.display()),
    );
    let text = std::fs::read_to_string(&learned).expect("learned names");
    assert_eq!(
        text,
        format!(
            "{} 00:0c:29:01:02:03 192.168.1.23 jon-laptop *\n\
             {} 00:00:0c:04:05:06 192.168.1.24 living-room-tv *\n\
             {} 02:11:22:33:44:55 192.168.1.30 printer *\n",
            1_700_000_000 + 86_400,
            1_700_000_001 + 86_400,
            1_700_000_002 + 86_400
        )
    );
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let report = |extra: &[&str]| {
        let out = Command::new(&client)
            .args(["report", "--db"])
            .arg(&db)
            .args([
                "--format",
                "csv",
                "--local-net",
                "192.168.1.0/24",
                "--leases",
            ])
            .arg(&learned)
            .args(extra)
            .env("TZ", "UTC")
            .output()
            .expect("pmacct report");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let csv = report(&[]);
    let vendors = std::path::Path::new("/usr/share/ieee-data/oui.csv").exists();
    let (vmware, cisco) = match vendors {
        true => ("VMware, Inc.", "Cisco Systems, Inc"),
        false => ("", ""),
    };
    let quote = |v: &str| {
        if v.contains(',') {
            format!("\"{v}\"")
        } else {
            v.to_string()
        }
    };
    assert_eq!(
        csv,
        format!(
            "period_start,device,name,download_bytes,upload_bytes,download_packets,upload_packets,vendor\n\
             2023-11-14,192.168.1.23,jon-laptop,0,1000,0,1,{}\n\
             2023-11-14,192.168.1.24,living-room-tv,0,1000,0,1,{}\n\
             2023-11-14,192.168.1.30,printer,0,1000,0,1,\n",
            quote(vmware),
            quote(cisco)
        )
    );
    assert_eq!(devices.len(), 3);
    // A lease file naming the TV otherwise, ending later: the latest lease wins; a names file
    // wins over both.
    let dnsmasq = dir.join("dnsmasq.leases");
    std::fs::write(
        &dnsmasq,
        "1900000000 00:00:0c:04:05:06 192.168.1.24 tv-from-lease *\n",
    )
    .expect("leases");
    let dnsmasq_arg = dnsmasq.display().to_string();
    let csv = report(&["--leases", &dnsmasq_arg]);
    assert!(csv.contains(",192.168.1.24,tv-from-lease,"), "{csv}");
    let names = dir.join("names.txt");
    std::fs::write(&names, "192.168.1.24 the-tv\n").expect("names");
    let names_arg = names.display().to_string();
    let csv = report(&["--leases", &dnsmasq_arg, "--names", &names_arg]);
    assert!(csv.contains(",192.168.1.24,the-tv,"), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every real capture of ../shared/testdata (Ethernet, VLAN, MPLS, tunnels, Wi-Fi, ...) read
/// with names on (host names aggregated, device names learned): the run succeeds and the
/// counters per (source, destination, protocol) are those of the run with names off.
#[test]
fn real_captures_count_the_same_with_names_on() {
    let Some(dir) = common::testdata().map(|d| d.join("capture")) else {
        return common::skipped("../shared/testdata");
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let work = tempdir("real");
    let totals = |csv: &str| -> BTreeMap<String, (u64, u64)> {
        let mut t: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let n = f.len();
            if n < 5 {
                continue;
            }
            // SRC_IP, DST_IP, [names,] PROTOCOL, PACKETS, BYTES
            let key = format!("{},{},{}", f[0], f[1], f[n - 3]);
            let e = t.entry(key).or_default();
            e.0 += f[n - 2].parse::<u64>().expect("packets");
            e.1 += f[n - 1].parse::<u64>().expect("bytes");
        }
        t
    };
    let mut checked = 0;
    for file in &files {
        let base = format!(
            "pcap_savefile: {}\nplugins: print\nprint_output: csv\n",
            file.display()
        );
        let off = common::run_ours(&format!("{base}aggregate: src_host, dst_host, proto\n"));
        if !off.ok {
            continue; // A link type nobody decodes (tests/differential.rs checks those).
        }
        let on = common::run_ours(&format!(
            "{base}aggregate: src_host, dst_host, src_host_name, dst_host_name, proto\n\
             names_learned_file: {}\n",
            work.join("learned").display()
        ));
        assert!(on.ok, "{}: {}", file.display(), on.stderr);
        assert_eq!(
            totals(&on.stdout),
            totals(&off.stdout),
            "{}",
            file.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked} captures");
    let _ = std::fs::remove_dir_all(&work);
}

/// The configuration of docs/names.md is valid as written (paths moved, the interface lo).
#[test]
fn the_documented_configuration_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/names.md")).expect("docs/names.md");
    let start = doc.find("<<'CONF'\n").expect("heredoc") + "<<'CONF'\n".len();
    let end = start + doc[start..].find("\nCONF\n").expect("end");
    let dir = tempdir("docs");
    let at = dir.display().to_string();
    let text = doc[start..end]
        .replace("/var/lib/pmacct", &at)
        .replace("/var/state/dhcp", &at)
        .replace("pcap_interface: green0", "pcap_interface: lo");
    assert!(text.contains("src_host_name, dst_host_name"), "{text}");
    let cfg = dir.join("names.conf");
    std::fs::write(&cfg, &text).expect("config");
    let out = common::check_config(&cfg);
    assert!(
        out.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names reach SQL: the scenario into SQLite (`host_name_src`, `host_name_dst`), and
/// `pmacct report --top` names each device's peers from the table.
#[test]
fn sqlite_rows_carry_names_and_the_report_shows_them() {
    let dir = tempdir("sql");
    let pcap = dir.join("names.pcap");
    write(&pcap, &capture(1_700_000_000));
    let db = dir.join("names.db");
    to_sqlite(
        &dir,
        &pcap,
        &db,
        "src_host, dst_host, src_host_name, dst_host_name",
        &format!("names_grace: {GRACE}\n"),
    );
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(&client)
        .args(["report", "--db"])
        .arg(&db)
        .args([
            "--by",
            "all",
            "--top",
            "10",
            "--format",
            "json",
            "--local-net",
            "192.168.1.0/24",
        ])
        .env("TZ", "UTC")
        .output()
        .expect("pmacct report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let peers = |device: &str| -> BTreeMap<String, String> {
        rows.as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["device"] == device)
            .flat_map(|r| r["peers"].as_array().cloned().unwrap_or_default())
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                (s("peer"), s("name"))
            })
            .collect()
    };
    let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // The resolver is local (not a peer). The laptop's CDN peer: named while the answer
    // lived, most of its bytes then.
    assert_eq!(
        peers("192.168.1.10"),
        want(&[
            ("198.51.100.5", "secure.example.org"),
            ("198.51.100.6", "plain.example.org"),
            ("198.51.100.7", "quic.example.net"),
            ("198.51.100.8", "pq.example.net"),
            ("203.0.113.10", "www.example.com"),
        ])
    );
    // The same CDN address is another name for the other client.
    assert_eq!(
        peers("192.168.1.11"),
        want(&[
            ("203.0.113.10", "video.example.org"),
            ("203.0.113.20", "www.example.com"),
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
