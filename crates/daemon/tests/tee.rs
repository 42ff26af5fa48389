//! tee: nfacctd replicating what it reads to receivers. Byte for byte to every receiver of a
//! pool; hash-agent keeping one exporter on one receiver; round-robin over two of our
//! nfacctd (the scale-out recipe): templates reach both, and together they account every
//! record; transparent mode keeps the exporter's address across namespaces.

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::collector::{free_udp_port, Daemon};

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");
const NFACCTD: &str = env!("CARGO_BIN_EXE_nfacctd");

/// The UDP payloads of a capture written by [`common::write_frames_pcap`] (Ethernet, IPv4
/// without options).
fn payloads(pcap: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(pcap).expect("capture");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let frame = &bytes[at + 16..at + 16 + len];
        out.push(frame[42..].to_vec());
        at += 16 + len;
    }
    out
}

/// An Ethernet/IPv4/UDP frame from `src`:4444 to 127.0.0.1:2055.
fn frame_from(src: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut f = common::udp_frame(payload, 2055);
    f[26..30].copy_from_slice(&src.octets());
    f[34..36].copy_from_slice(&4444u16.to_be_bytes());
    f
}

/// Runs nfacctd on `pcap` with one tee plugin whose map is `map`; its stderr.
fn tee_run(dir: &Path, pcap: &Path, map: &str, extra: &str) -> String {
    let map_path = dir.join("tee.lst");
    std::fs::write(&map_path, map).expect("map");
    let cfg = dir.join("tee.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: tee[t]\ntee_receivers[t]: {}\n{extra}",
            pcap.display(),
            map_path.display()
        ),
    )
    .expect("config");
    let out = Command::new(NFACCTD)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("nfacctd");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// IPFIX exports of a generated capture by our nfprobe, and the capture's packet count.
fn exports(dir: &Path, packets: u64) -> PathBuf {
    let capture = dir.join("packets.pcap");
    common::generate(&capture, packets, 200, 120);
    let plugin = "plugins: nfprobe\nnfprobe_version: 10\n\
                  nfprobe_timeouts: tcp=5:udp=5:maxlife=60:expint=1\nnfprobe_receiver";
    common::probe_exports_with(Path::new(PMACCTD), &capture, plugin, dir).0
}

#[test]
fn every_receiver_of_a_pool_gets_every_datagram_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = exports(dir.path(), 10_000);
    let sent = payloads(&pcap);
    assert!(sent.len() > 100);
    let (a, b) = (common::roomy_udp_socket(), common::roomy_udp_socket());
    let addr = |s: &UdpSocket| s.local_addr().expect("addr");
    let err = tee_run(
        dir.path(),
        &pcap,
        &format!("id=1 ip={},{}\n", addr(&a), addr(&b)),
        "",
    );
    assert!(common::drain_udp(&a) == sent, "receiver a");
    assert!(common::drain_udp(&b) == sent, "receiver b");
    let n = sent.len();
    let line = format!(
        "stats records={n} dropped_records=0 exported_flows=0 export_datagrams={} send_errors=0",
        2 * n
    );
    assert!(err.contains(&line), "{err}");
    // Nothing decoded: no plugin needs records.
    assert!(err.contains(&format!("stats datagrams={n} ")), "{err}");
    assert!(err.contains(" flow_records=0 "), "{err}");
}

#[test]
fn hash_agent_keeps_one_exporter_on_one_receiver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let frames: Vec<Vec<u8>> = (0..40u8)
        .map(|i| {
            let from = if i % 3 == 0 { one } else { two };
            frame_from(from, &[from.octets()[3], i, 0xaa, 0x55])
        })
        .collect();
    let pcap = dir.path().join("two-exporters.pcap");
    common::write_frames_pcap(&pcap, &frames);
    let (a, b) = (common::roomy_udp_socket(), common::roomy_udp_socket());
    let addr = |s: &UdpSocket| s.local_addr().expect("addr");
    tee_run(
        dir.path(),
        &pcap,
        &format!("id=1 ip={},{} balance-alg=hash-agent\n", addr(&a), addr(&b)),
        "",
    );
    // 10.0.0.1 is odd: the second receiver; 10.0.0.2 the first.
    let (got_a, got_b) = (common::drain_udp(&a), common::drain_udp(&b));
    assert_eq!((got_a.len(), got_b.len()), (26, 14));
    assert!(got_a.iter().all(|d| d[0] == 2), "{got_a:?}");
    assert!(got_b.iter().all(|d| d[0] == 1), "{got_b:?}");
}

/// Packets of a print CSV's rows (PACKETS, the second-to-last column).
fn csv_packets(text: &str) -> u64 {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').rev().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// One of our nfacctd on a loopback port, printing 5-tuples to a CSV file at exit.
fn member(dir: &Path, name: &str) -> (Daemon, u16, PathBuf) {
    let port = free_udp_port();
    let (cfg, log, out) = (
        dir.join(format!("{name}.conf")),
        dir.join(format!("{name}.log")),
        dir.join(format!("{name}.csv")),
    );
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nnfacctd_pipe_size: 33554432\n\
             logfile: {}\nplugins: print[p]\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n\
             print_output[p]: csv\nprint_output_file[p]: {}\nprint_refresh_time[p]: 86400\n",
            log.display(),
            out.display()
        ),
    )
    .expect("config");
    (Daemon::start(NFACCTD, &cfg, log), port, out)
}

#[test]
fn round_robin_over_two_collectors_accounts_every_record_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = exports(dir.path(), 20_000);
    let (a, port_a, out_a) = member(dir.path(), "a");
    let (b, port_b, out_b) = member(dir.path(), "b");
    tee_run(
        dir.path(),
        &pcap,
        &format!("id=1 ip=127.0.0.1:{port_a},127.0.0.1:{port_b} balance-alg=rr\n"),
        "",
    );
    // A stopping collector reads its socket until it is idle, then writes its file.
    let (log_a, log_b) = (a.stop(), b.stop());
    let (pa, pb) = (
        csv_packets(&std::fs::read_to_string(&out_a).expect("a's file")),
        csv_packets(&std::fs::read_to_string(&out_b).expect("b's file")),
    );
    assert_eq!(pa + pb, 20_000, "a {pa}, b {pb}");
    assert!(pa > 5_000 && pb > 5_000, "a {pa}, b {pb}");
    for log in [&log_a, &log_b] {
        assert!(log.contains("kernel_dropped_datagrams=0"), "{log}");
    }
}

/// tee_transparent: nfacctd in one namespace replays datagrams of exporter 192.0.2.7 to our
/// nfacctd in another, over a veth; the receiver's peer_src_ip is the exporter's address.
#[test]
fn transparent_mode_keeps_the_exporters_address() {
    let id = std::process::id() % 100_000;
    let (tx, rx) = (format!("ptt{id}"), format!("ptr{id}"));
    struct Spaces(String, String);
    impl Drop for Spaces {
        fn drop(&mut self) {
            common::sh(&["ip", "netns", "del", &self.0]);
            common::sh(&["ip", "netns", "del", &self.1]);
        }
    }
    if !common::sh(&["ip", "netns", "add", &tx]) {
        return common::skipped("root and iproute2 (ip netns add)");
    }
    let _spaces = Spaces(tx.clone(), rx.clone());
    assert!(common::sh(&["ip", "netns", "add", &rx]));
    assert!(common::sh(&[
        "ip", "link", "add", "tee0", "netns", &tx, "type", "veth", "peer", "name", "rcv0", "netns",
        &rx
    ]));
    for (ns, dev, addr) in [
        (&tx, "tee0", "10.203.0.1/30"),
        (&rx, "rcv0", "10.203.0.2/30"),
    ] {
        let exec = |args: &[&str]| common::sh(&[&["ip", "netns", "exec", ns], args].concat());
        assert!(exec(&["ip", "addr", "add", addr, "dev", dev]));
        assert!(exec(&["ip", "link", "set", dev, "up"]));
        assert!(exec(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.conf.all.rp_filter=0"
        ]));
        let dev_rp = format!("net.ipv4.conf.{dev}.rp_filter=0");
        assert!(exec(&["sysctl", "-q", "-w", &dev_rp]));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let flows: Vec<pmacct_flow::FlowRecord> = (0..5u8)
        .map(|i| pmacct_flow::FlowRecord {
            src_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i))),
            dst_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1))),
            proto: 17,
            packets: 2,
            bytes: 200,
            ..Default::default()
        })
        .collect();
    let mut exporter = pmacct_flow::export::Exporter::new(pmacct_flow::export::ExportConfig {
        version: pmacct_flow::export::ExportVersion::V5,
        fields: Vec::new(),
        domain_id: 0,
        engine: (0, 0),
        sampling_interval: 0,
        max_datagram: 1472,
        template_datagrams: 20,
        template_millis: 60_000,
        micros: false,
    });
    let mut frames = Vec::new();
    exporter.encode(&flows, 1_700_000_000_000, &mut |d| {
        frames.push(frame_from(Ipv4Addr::new(192, 0, 2, 7), d))
    });
    let pcap = dir.path().join("v5.pcap");
    common::write_frames_pcap(&pcap, &frames);
    let out = dir.path().join("rx.csv");
    let rx_cfg = dir.path().join("rx.conf");
    std::fs::write(
        &rx_cfg,
        format!(
            "nfacctd_ip: 10.203.0.2\nnfacctd_port: 2055\nplugins: print[p]\n\
             aggregate[p]: peer_src_ip, src_host\nprint_output[p]: csv\n\
             print_output_file[p]: {}\nprint_refresh_time[p]: 86400\n",
            out.display()
        ),
    )
    .expect("config");
    let receiver = common::netns::spawn_in(&rx, &[], NFACCTD, &rx_cfg);
    receiver.wait_log("collecting NetFlow/IPFIX from", 10);
    let map = dir.path().join("tee.lst");
    std::fs::write(&map, "id=1 ip=10.203.0.2:2055\n").expect("map");
    let tx_cfg = dir.path().join("tx.conf");
    std::fs::write(
        &tx_cfg,
        format!(
            "pcap_savefile: {}\nplugins: tee[t]\ntee_receivers[t]: {}\ntee_transparent[t]: true\n",
            pcap.display(),
            map.display()
        ),
    )
    .expect("config");
    let (status, log) = common::netns::spawn_in(&tx, &[], NFACCTD, &tx_cfg).wait_exit();
    assert!(status.success(), "{log}");
    // A stopping collector reads its socket until it is idle: the datagram is accounted.
    receiver.stop();
    let text = std::fs::read_to_string(&out).expect("receiver's file");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{text}");
    assert!(
        rows.iter().all(|r| r.starts_with("192.0.2.7,10.1.0.")),
        "{text}"
    );
}

/// The configuration and map docs/tee.md shows run as written (the socket replaced by a
/// capture file, the receivers by local sockets), without a warning.
#[test]
fn the_docs_example_runs() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tee.md"))
            .expect("docs/tee.md");
    let block = |first: &str| {
        doc.split("```\n")
            .find(|b| b.starts_with(first))
            .unwrap_or_else(|| panic!("no block {first}"))
            .to_string()
    };
    let (conf, map) = (
        block("! nfacctd-tee.conf"),
        block("! /etc/pmacct/tee_receivers.lst"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = exports(dir.path(), 2_000);
    let sockets: Vec<UdpSocket> = (0..3).map(|_| common::roomy_udp_socket()).collect();
    let addr = |i: usize| sockets[i].local_addr().expect("addr").to_string();
    let map = map
        .replace("192.0.2.50:2055", &addr(0))
        .replace("127.0.0.1:20551", &addr(1))
        .replace("127.0.0.1:20552", &addr(2));
    let map_path = dir.path().join("tee_receivers.lst");
    std::fs::write(&map_path, map).expect("map");
    let conf = conf
        .replace(
            "nfacctd_port: 2055",
            &format!("pcap_savefile: {}", pcap.display()),
        )
        .replace(
            "/etc/pmacct/tee_receivers.lst",
            &map_path.display().to_string(),
        );
    let cfg = dir.path().join("nfacctd-tee.conf");
    std::fs::write(&cfg, conf).expect("config");
    let out = Command::new(NFACCTD)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("nfacctd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    let sent = payloads(&pcap);
    assert!(
        common::drain_udp(&sockets[0]) == sent,
        "the SIEM gets everything"
    );
    let (one, two) = (
        common::drain_udp(&sockets[1]),
        common::drain_udp(&sockets[2]),
    );
    assert!(
        one.len() + two.len() > sent.len(),
        "templates to both members"
    );
    assert!(
        one.len().abs_diff(two.len()) <= 60,
        "{} and {}",
        one.len(),
        two.len()
    );
}

/// Live: a tee on a UDP socket forwards what arrives; SIGUSR2 reads its map again and the
/// next datagram goes to the new receiver.
#[test]
fn sigusr2_reloads_the_receivers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (common::roomy_udp_socket(), common::roomy_udp_socket());
    for s in [&a, &b] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
    }
    let addr = |s: &UdpSocket| s.local_addr().expect("addr");
    let map = dir.path().join("tee.lst");
    std::fs::write(&map, format!("id=1 ip={}\n", addr(&a))).expect("map");
    let port = free_udp_port();
    let (cfg, log) = (dir.path().join("tee.conf"), dir.path().join("tee.log"));
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nplugins: tee[t]\n\
             tee_receivers[t]: {}\n",
            log.display(),
            map.display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(NFACCTD, &cfg, log);
    let exporter = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut buf = [0u8; 64];
    exporter
        .send_to(b"first", ("127.0.0.1", port))
        .expect("send");
    let n = a.recv(&mut buf).expect("the first datagram at a");
    assert_eq!(&buf[..n], b"first");
    std::fs::write(&map, format!("id=1 ip={}\n", addr(&b))).expect("map");
    let pid = daemon.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-USR2", &pid])
        .status()
        .expect("kill")
        .success());
    daemon.wait_for("tee_receivers reloaded: 1 pools");
    exporter
        .send_to(b"second", ("127.0.0.1", port))
        .expect("send");
    let n = b.recv(&mut buf).expect("the second datagram at b");
    assert_eq!(&buf[..n], b"second");
    let log = daemon.stop();
    assert!(common::drain_udp(&a).is_empty(), "a got more: {log}");
}
