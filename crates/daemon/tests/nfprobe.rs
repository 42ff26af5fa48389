//! nfprobe: our pmacctd's NetFlow v5, v9 and IPFIX exports of a generated capture, read by
//! tshark, by our nfacctd, by Debian's nfacctd 1.7.7 and by nfdump's nfcapd: each gives the
//! capture's packets and bytes per 5-tuple, exactly (v5: the IPv4 ones, it carries no IPv6).

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");
const NFACCTD: &str = env!("CARGO_BIN_EXE_nfacctd");
const REFERENCE: &str = "/usr/sbin/nfacctd";

use common::{print_totals, Totals};

fn ipv4_only(t: &Totals) -> Totals {
    t.iter()
        .filter(|(k, _)| !k.contains(':'))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn sum(t: &Totals) -> (u64, u64) {
    t.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1))
}

fn plugin(version: u8) -> String {
    format!(
        "plugins: nfprobe\nnfprobe_version: {version}\n\
         nfprobe_timeouts: tcp=5:udp=5:maxlife=60:expint=1\nnfprobe_receiver"
    )
}

/// Our nfprobe's exports of a 30,000-packet capture (IPv4 and IPv6, TCP and UDP), in every
/// version: tshark decodes every datagram without a note, and our nfacctd and Debian's
/// nfacctd 1.7.7 both give the capture's packets and bytes per 5-tuple.
#[test]
fn exports_give_every_collector_the_captures_totals() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 30_000, 300, 300);
    let capture = print_totals(PMACCTD, &packets, work.path());
    assert_eq!(sum(&capture).0, 30_000);
    let v4 = ipv4_only(&capture);
    assert!(v4.len() < capture.len() && !v4.is_empty());
    for version in [5u8, 9, 10] {
        let dir = work.path().join(format!("v{version}"));
        std::fs::create_dir(&dir).expect("dir");
        let (pcap, datagrams) =
            common::probe_exports_with(Path::new(PMACCTD), &packets, &plugin(version), &dir);
        let expected = if version == 5 { &v4 } else { &capture };
        let (decoded, notes, exported) = common::tshark_cflow(&pcap);
        assert_eq!((decoded, notes), (datagrams, 0), "v{version}: tshark");
        assert_eq!(exported, sum(expected).0, "v{version}: tshark's packets");
        let ours = print_totals(NFACCTD, &pcap, &dir);
        assert!(ours == *expected, "v{version}: our nfacctd differs");
        let reference = print_totals(REFERENCE, &pcap, &dir);
        assert!(
            reference == *expected,
            "v{version}: Debian's nfacctd differs"
        );
    }
}

/// nfdump's nfcapd, listening on a free loopback port, until `pmacctd` has exported.
struct Nfcapd {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Nfcapd {
    fn start(dir: &Path) -> Nfcapd {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("nfcapd")
            .args([
                "-b",
                "127.0.0.1",
                "-B",
                "33554432",
                "-p",
                &port.to_string(),
                "-w",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nfcapd (apt-get install nfdump)");
        // Listening once its socket is in the kernel's table.
        let hex = format!("0100007F:{port:04X}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| t.contains(&hex)) {
            assert!(Instant::now() < deadline, "nfcapd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nfcapd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Stops nfcapd (it writes its file) and reads it back with nfdump, aggregated.
    fn totals(mut self) -> Totals {
        // SAFETY: kill(2) on the child's own pid, which has not been waited for yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().expect("nfcapd exits");
        let out = Command::new("nfdump")
            .arg("-R")
            .arg(&self.dir)
            .args(["-q", "-N", "-A", "srcip,dstip,srcport,dstport,proto", "-o"])
            .arg("fmt:%sa,%da,%sp,%dp,%pr,%pkt,%byt")
            .output()
            .expect("nfdump");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut totals = Totals::new();
        for line in text.lines() {
            let f: Vec<String> = line.split(',').map(|v| v.trim().to_lowercase()).collect();
            if f.len() != 7 {
                continue;
            }
            // -N prints protocols as numbers; pmacct names them.
            let proto = match f[4].as_str() {
                "1" => "icmp",
                "6" => "tcp",
                "17" => "udp",
                other => other,
            };
            // ICMP's destination "port" is type.code: pmacctd's ICMP ports are 0.
            let dport = if f[3] == "0.0" { "0" } else { f[3].as_str() };
            let t = totals
                .entry(format!("{},{},{},{dport},{proto}", f[0], f[1], f[2]))
                .or_default();
            t.0 += f[5].parse::<u64>().unwrap_or(0);
            t.1 += f[6].parse::<u64>().unwrap_or(0);
        }
        totals
    }
}

/// The same exports sent live to nfdump's nfcapd: nfdump gives the capture's totals per
/// 5-tuple in every version.
#[test]
fn nfcapd_receives_the_captures_totals() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 20_000, 200, 120);
    let capture = print_totals(PMACCTD, &packets, work.path());
    for version in [5u8, 9, 10] {
        let dir = work.path().join(format!("nfcapd-v{version}"));
        std::fs::create_dir(&dir).expect("dir");
        let nfcapd = Nfcapd::start(&dir);
        let cfg = dir.join("probe.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\n{}: 127.0.0.1:{}\n",
                packets.display(),
                plugin(version),
                nfcapd.port
            ),
        )
        .expect("config");
        let out = Command::new(PMACCTD)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("pmacctd");
        assert!(out.status.success(), "{out:?}");
        let got = nfcapd.totals();
        let expected = if version == 5 {
            ipv4_only(&capture)
        } else {
            capture.clone()
        };
        assert_eq!(sum(&got), sum(&expected), "v{version}: nfdump's totals");
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .take(5)
            .map(|(k, v)| format!("{k}: {v:?} nfdump {:?}", got.get(k)))
            .collect();
        assert!(
            differ.is_empty(),
            "v{version}: nfdump's 5-tuples differ: {differ:#?}"
        );
        assert_eq!(got.len(), expected.len(), "v{version}");
    }
}

/// Several receivers (a pmacct-rs extension) each get every datagram, byte for byte, and the
/// datagrams are filled to the path's MTU less the IP and UDP headers (loopback's, capped at
/// Ethernet's 1,500: 1,472 bytes), where 1.7.7 sends about 512.
#[test]
fn every_receiver_gets_every_datagram_filled_to_the_mtu() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 5_000, 100, 60);
    let (a, b) = (common::roomy_udp_socket(), common::roomy_udp_socket());
    let port = |s: &UdpSocket| s.local_addr().expect("addr").port();
    let cfg = work.path().join("two.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\n{}: 127.0.0.1:{}, 127.0.0.1:{}\n",
            packets.display(),
            plugin(10),
            port(&a),
            port(&b)
        ),
    )
    .expect("config");
    let out = Command::new(PMACCTD)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("pmacctd");
    assert!(out.status.success(), "{out:?}");
    let (got_a, got_b) = (common::drain_udp(&a), common::drain_udp(&b));
    assert!(got_a.len() > 50, "{}", got_a.len());
    assert!(got_a == got_b, "the receivers got different datagrams");
    assert!(got_a.iter().all(|d| d.len() <= 1472));
    let full = got_a.iter().filter(|d| d.len() > 1400).count();
    assert!(
        full >= got_a.len() - 10,
        "{full} of {} datagrams full",
        got_a.len()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(datagrams up to 1472 bytes)"), "{stderr}");
}

/// The configuration docs/nfprobe.md shows runs as written (its interface replaced by a
/// capture file, its collector by a local socket), without a warning, and exports the
/// capture's packets.
#[test]
fn the_docs_example_runs() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nfprobe.md"),
    )
    .expect("docs/nfprobe.md");
    let example = doc
        .split("```\n")
        .find(|b| b.starts_with("! /etc/pmacct/pmacctd-nfprobe.conf"))
        .expect("the example");
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 3_000, 50, 60);
    let socket = common::roomy_udp_socket();
    let mut cfg = String::new();
    for line in example.lines() {
        let line = match line {
            l if l.starts_with("pcap_interface:") => {
                format!("pcap_savefile: {}", packets.display())
            }
            l if l.starts_with("nfprobe_receiver[export]:") => format!(
                "nfprobe_receiver[export]: {}",
                socket.local_addr().expect("addr")
            ),
            l => l.to_string(),
        };
        cfg.push_str(&line);
        cfg.push('\n');
    }
    let path = work.path().join("pmacctd.conf");
    std::fs::write(&path, cfg).expect("config");
    let out = Command::new(PMACCTD)
        .arg("-f")
        .arg(&path)
        .output()
        .expect("pmacctd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    let datagrams = common::drain_udp(&socket);
    let pcap = work.path().join("exports.pcap");
    let port = socket.local_addr().expect("addr").port();
    let frames: Vec<Vec<u8>> = datagrams
        .iter()
        .map(|d| common::udp_frame(d, port))
        .collect();
    common::write_frames_pcap(&pcap, &frames);
    assert_eq!(sum(&print_totals(NFACCTD, &pcap, work.path())).0, 3_000);
}

/// nfprobe_direction and nfprobe_ifindex reach the collector: fixed (out, ifIndex 7 on the
/// output side), and per packet from the pre_tag_map (UDP tagged 1: in, ifIndex 1; TCP
/// tagged 2: out, ifIndex 2; untagged: neither); nfprobe_dont_cache exports one flow per
/// packet.
#[test]
fn direction_ifindex_and_dont_cache_reach_the_collector() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 2_000, 20, 30);
    let map = work.path().join("pretag.map");
    std::fs::write(&map, "set_tag=1 filter='udp'\nset_tag=2 filter='tcp'\n").expect("map");
    let interfaces = |extra: &str, dir: &str| {
        let dir = work.path().join(dir);
        std::fs::create_dir(&dir).expect("dir");
        let plugin = format!(
            "{}\n{extra}nfprobe_receiver",
            plugin(9).trim_end_matches("\nnfprobe_receiver")
        );
        let (pcap, _) = common::probe_exports_with(Path::new(PMACCTD), &packets, &plugin, &dir);
        let cfg = dir.join("ifaces.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: proto, in_iface, out_iface\n\
                 print_output[p]: csv\nprint_refresh_time[p]: 86400\n",
                pcap.display()
            ),
        )
        .expect("config");
        let out = Command::new(NFACCTD)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("nfacctd");
        let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| l.rsplitn(3, ',').nth(2).unwrap_or("").to_string())
            .collect();
        rows.sort();
        rows.dedup();
        rows
    };
    assert_eq!(
        interfaces("nfprobe_direction: out\nnfprobe_ifindex: 7\n", "fixed"),
        ["0,7,icmp", "0,7,tcp", "0,7,udp"]
    );
    let tagged = format!(
        "pre_tag_map: {}\nnfprobe_direction: tag\nnfprobe_ifindex: tag\n",
        map.display()
    );
    // Frames behind a VLAN tag match neither filter (libpcap's 'tcp' reads the raw frame):
    // tag 0, no direction, no ifIndex.
    assert_eq!(
        interfaces(&tagged, "tagged"),
        ["0,0,icmp", "0,0,tcp", "0,0,udp", "0,2,tcp", "1,0,udp"]
    );
    let dir = work.path().join("dont-cache");
    std::fs::create_dir(&dir).expect("dir");
    let (pcap, _) = common::probe_exports_with(
        Path::new(PMACCTD),
        &packets,
        "plugins: nfprobe\nnfprobe_version: 10\nnfprobe_dont_cache: true\nnfprobe_receiver",
        &dir,
    );
    let (_, _, exported) = common::tshark_cflow(&pcap);
    assert_eq!(exported, 2_000);
    let flows = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-d",
            "udp.port==1-65535,cflow",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-e",
            "cflow.packets",
        ])
        .output()
        .expect("tshark");
    let records = String::from_utf8_lossy(&flows.stdout)
        .split([',', '\n'])
        .filter(|v| !v.is_empty())
        .count();
    assert_eq!(records, 2_000, "one record per packet");
}

/// nfprobe_tstamp_usec: with one flow per packet (dont_cache), the start times our nfacctd
/// reads from the IPFIX exports are the packets' capture times, to the microsecond.
#[test]
fn microsecond_timestamps_are_the_packets_times() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 500, 10, 20);
    // The generated times are whole milliseconds: each packet gets some microseconds more.
    let mut bytes = std::fs::read(&packets).expect("capture");
    let (mut at, mut i) = (24, 0u32);
    while at + 16 <= bytes.len() {
        let usec = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let more = usec + (i * 37) % 1000;
        bytes[at + 4..at + 8].copy_from_slice(&more.to_le_bytes());
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        at += 16 + len as usize;
        i += 1;
    }
    std::fs::write(&packets, bytes).expect("capture");
    let (pcap, _) = common::probe_exports_with(
        Path::new(PMACCTD),
        &packets,
        "plugins: nfprobe\nnfprobe_version: 10\nnfprobe_dont_cache: true\n\
         nfprobe_tstamp_usec: true\nnfprobe_receiver",
        work.path(),
    );
    let cfg = work.path().join("times.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: print[p]\naggregate[p]: timestamp_start\n\
             print_output[p]: csv\ntimestamps_since_epoch[p]: true\nprint_refresh_time[p]: 86400\n",
            pcap.display()
        ),
    )
    .expect("config");
    let out = Command::new(NFACCTD)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("nfacctd");
    let mut ours: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    ours.sort();
    ours.dedup();
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&packets)
        .args(["-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .expect("tshark");
    let mut times: Vec<String> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .map(|t| t.trim().get(..17).unwrap_or("").to_string())
        .collect();
    times.sort();
    times.dedup();
    assert!(
        times.iter().any(|t| !t.ends_with('0')),
        "sub-millisecond times"
    );
    assert_eq!(ours, times);
}
