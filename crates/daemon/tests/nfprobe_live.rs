//! nfprobe live: pmacctd captures known UDP traffic on a veth and exports IPFIX over a second
//! veth to our nfacctd in a third namespace. Rows are exact; a flow idle past its UDP timeout
//! is exported once per burst; with a 64-flow table, a flood of 1,000 new flows is exported
//! whole and the flows cut short are counted.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::netns::{spawn_in, wait_until, Daemon, Wire};
use common::{sh, write_udp_pcap, Udp};

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");
const NFACCTD: &str = env!("CARGO_BIN_EXE_nfacctd");
const PORT: u16 = 4739;

/// The collector's namespace, wired to the capture namespace: exp0 (10.201.0.1) in `cap`,
/// col0 (10.201.0.2) in `col`.
struct Collector {
    ns: String,
}

impl Drop for Collector {
    fn drop(&mut self) {
        sh(&["ip", "netns", "del", &self.ns]);
    }
}

impl Collector {
    fn wire(cap: &str) -> Collector {
        let ns = format!("{cap}x");
        assert!(sh(&["ip", "netns", "add", &ns]));
        assert!(sh(&[
            "ip", "link", "add", "exp0", "netns", cap, "type", "veth", "peer", "name", "col0",
            "netns", &ns
        ]));
        for (space, dev, addr) in [
            (cap, "exp0", "10.201.0.1/30"),
            (&ns, "col0", "10.201.0.2/30"),
        ] {
            let exec = |args: &[&str]| sh(&[&["ip", "netns", "exec", space], args].concat());
            assert!(exec(&["ip", "addr", "add", addr, "dev", dev]));
            assert!(exec(&["ip", "link", "set", dev, "up"]));
        }
        Collector { ns }
    }
}

fn udp(i: u32, ts: i64, payload: usize) -> Udp {
    Udp {
        ts,
        src: IpAddr::V4(Ipv4Addr::from(0x0a0a_0000 + i)),
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        payload,
    }
}

/// The collector's memory table as `src,dst,packets,bytes` lines, sorted.
fn table(sock: &Path) -> Vec<String> {
    let bin = Path::new(PMACCTD).with_file_name("pmacct");
    let out = Command::new(bin)
        .arg("-p")
        .arg(sock)
        .args(["-s", "-O", "csv"])
        .output()
        .expect("pmacct");
    let mut rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}

fn packets(rows: &[String]) -> u64 {
    rows.iter()
        .filter_map(|r| r.split(',').nth(2)?.parse::<u64>().ok())
        .sum()
}

struct Setup {
    wire: Wire,
    _collector: Collector,
    nfacctd: Daemon,
    sock: PathBuf,
    dir: tempfile::TempDir,
}

fn setup(tag: &str) -> Option<Setup> {
    let wire = Wire::or_skip(tag)?;
    let collector = Collector::wire(&wire.cap);
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("nf.sock");
    let cfg = dir.path().join("nfacctd.conf");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 10.201.0.2\nnfacctd_port: {PORT}\nplugins: memory[m]\n\
             aggregate[m]: src_host, dst_host\nimt_path[m]: {}\n",
            sock.display()
        ),
    )
    .expect("config");
    let nfacctd = spawn_in(&collector.ns, &[], NFACCTD, &cfg);
    nfacctd.wait_log("collecting NetFlow/IPFIX from", 10);
    Some(Setup {
        wire,
        _collector: collector,
        nfacctd,
        sock,
        dir,
    })
}

fn start_probe(s: &Setup, extra: &str) -> Daemon {
    let cfg = s.dir.path().join("pmacctd.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interface: cap0\nplugins: nfprobe\nnfprobe_version: 10\n\
             nfprobe_receiver: 10.201.0.2:{PORT}\nnfprobe_source_ip: 10.201.0.1\n{extra}"
        ),
    )
    .expect("config");
    let probe = s.wire.daemon(PMACCTD, &cfg);
    probe.wait_log("reading from 'cap0'", 10);
    probe
}

fn stat(log: &str, name: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {log}"))
}

#[test]
fn udp_flows_are_exported_once_per_burst_after_their_idle_timeout() {
    let Some(s) = setup("np") else {
        return;
    };
    let probe = start_probe(&s, "nfprobe_timeouts: udp=2:expint=1\n");
    // Flow A: 10 packets of 100 bytes of payload; flow B: 5 of 400.
    let burst: Vec<Udp> = (0..10)
        .map(|_| udp(1, 0, 100))
        .chain((0..5).map(|_| udp(2, 0, 400)))
        .collect();
    let pcap = s.dir.path().join("burst.pcap");
    write_udp_pcap(&pcap, &burst.iter().collect::<Vec<_>>());
    assert_eq!(s.wire.replay(&pcap, 1_000), 15);
    let first = ["10.10.0.1,192.0.2.1,10,1280", "10.10.0.2,192.0.2.1,5,2140"];
    wait_until(20, "the first burst's flows at the collector", || {
        table(&s.sock) == first
    });
    // Idle past the timeout, then the same traffic again: a flow of its own.
    assert_eq!(s.wire.replay(&pcap, 1_000), 15);
    let both = ["10.10.0.1,192.0.2.1,20,2560", "10.10.0.2,192.0.2.1,10,4280"];
    wait_until(20, "the second burst's flows", || table(&s.sock) == both);
    let log = probe.stop_with("-INT");
    assert_eq!(stat(&log, "exported_flows"), 4, "{log}");
    assert_eq!(stat(&log, "forced_flows"), 0);
    assert_eq!(stat(&log, "send_errors"), 0);
    assert_eq!(table(&s.sock), both, "nothing more at exit");
    assert_eq!(s.wire.wire_drops(), 0);
    drop(s.nfacctd);
}

#[test]
fn a_full_flow_table_exports_early_and_loses_nothing() {
    let Some(s) = setup("nm") else {
        return;
    };
    let probe = start_probe(&s, "nfprobe_maxflows: 64\n");
    let flood: Vec<Udp> = (0..1000).map(|i| udp(i, 0, 50)).collect();
    let pcap = s.dir.path().join("flood.pcap");
    write_udp_pcap(&pcap, &flood.iter().collect::<Vec<_>>());
    assert_eq!(s.wire.replay(&pcap, 4_000), 1000);
    // Beyond 64 flows every new flow ends the 4 least recently seen: 936 flows cut short, and
    // the 64 left go at exit.
    wait_until(20, "the flows cut short at the collector", || {
        packets(&table(&s.sock)) == 936
    });
    let log = probe.stop_with("-INT");
    assert_eq!(stat(&log, "forced_flows"), 936, "{log}");
    assert_eq!(stat(&log, "exported_flows"), 1000);
    assert!(
        log.contains("the flow table is full (nfprobe_maxflows: 64)"),
        "{log}"
    );
    wait_until(20, "every flow at the collector", || {
        packets(&table(&s.sock)) == 1000
    });
    let rows = table(&s.sock);
    assert_eq!(rows.len(), 1000);
    assert!(rows.iter().all(|r| r.ends_with(",1,78")), "{rows:?}");
    assert_eq!(s.wire.wire_drops(), 0);
}
