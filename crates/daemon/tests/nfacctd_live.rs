//! nfacctd on a real UDP socket: two exporters on loopback send known IPFIX and NetFlow v9
//! datagrams (data before its template, a template withdrawn and reused with another layout,
//! the same template id with different layouts at two exporters, a sequence gap, a sampled
//! exporter announcing its rate in options data); every row and counter is checked exactly.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::collector::{free_tcp_port, free_udp_port, metrics_once, rows, Daemon};

const OURS: &str = env!("CARGO_BIN_EXE_nfacctd");
const EXPORT_TIME: u32 = 1_700_000_000;

/// An IPFIX message: header, then sets (set id, body).
fn ipfix(seq: u32, domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let body: Vec<u8> = sets.iter().flat_map(|(id, b)| set(*id, b)).collect();
    let mut m = Vec::new();
    m.extend_from_slice(&10u16.to_be_bytes());
    m.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&EXPORT_TIME.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&domain.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

/// A NetFlow v9 datagram: header (`count` records), then flowsets.
fn v9(seq: u32, source: u32, count: u16, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&9u16.to_be_bytes());
    m.extend_from_slice(&count.to_be_bytes());
    m.extend_from_slice(&100_000u32.to_be_bytes());
    m.extend_from_slice(&EXPORT_TIME.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&source.to_be_bytes());
    for (id, b) in sets {
        m.extend_from_slice(&set(*id, b));
    }
    m
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A template record: id, then (element id, length) pairs.
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = id.to_be_bytes().to_vec();
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (f, len) in fields {
        t.extend_from_slice(&f.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

/// IPFIX layout one: addresses, ports, protocol, 8-byte counters, start seconds.
const LAYOUT_A: &[(u16, u16)] = &[
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (1, 8),
    (2, 8),
    (150, 4),
];
/// The same id after a withdrawal: ingressInterface first, 4-byte counters.
const LAYOUT_B: &[(u16, u16)] = &[
    (10, 4),
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (1, 4),
    (2, 4),
];
/// The v9 exporter's 256: addresses, protocol, counters and its sampler id.
const LAYOUT_V9: &[(u16, u16)] = &[(8, 4), (12, 4), (4, 1), (1, 4), (2, 4), (48, 1)];

fn record_a(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), bytes: u64, packets: u64) -> Vec<u8> {
    let mut r = src.to_vec();
    r.extend_from_slice(&dst);
    r.extend_from_slice(&ports.0.to_be_bytes());
    r.extend_from_slice(&ports.1.to_be_bytes());
    r.push(6);
    r.extend_from_slice(&bytes.to_be_bytes());
    r.extend_from_slice(&packets.to_be_bytes());
    r.extend_from_slice(&(EXPORT_TIME - 30).to_be_bytes());
    r
}

fn record_b(iface: u32, src: [u8; 4], dst: [u8; 4], bytes: u32, packets: u32) -> Vec<u8> {
    let mut r = iface.to_be_bytes().to_vec();
    r.extend_from_slice(&src);
    r.extend_from_slice(&dst);
    r.extend_from_slice(&1000u16.to_be_bytes());
    r.extend_from_slice(&53u16.to_be_bytes());
    r.push(17);
    r.extend_from_slice(&bytes.to_be_bytes());
    r.extend_from_slice(&packets.to_be_bytes());
    r
}

fn record_v9(src: [u8; 4], bytes: u32, packets: u32, sampler: u8) -> Vec<u8> {
    let mut r = src.to_vec();
    r.extend_from_slice(&[192, 0, 2, 9]);
    r.push(17);
    r.extend_from_slice(&bytes.to_be_bytes());
    r.extend_from_slice(&packets.to_be_bytes());
    r.push(sampler);
    r
}

/// v9 options template 300: scope System (1, 4 bytes); FLOW_SAMPLER_ID (48, 1) and
/// FLOW_SAMPLER_RANDOM_INTERVAL (50, 4).
fn options_template() -> Vec<u8> {
    let mut t = 300u16.to_be_bytes().to_vec();
    t.extend_from_slice(&4u16.to_be_bytes()); // scope fields' bytes
    t.extend_from_slice(&8u16.to_be_bytes()); // option fields' bytes
    for (f, len) in [(1u16, 4u16), (48, 1), (50, 4)] {
        t.extend_from_slice(&f.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

fn options_data(sampler: u8, interval: u32) -> Vec<u8> {
    let mut r = 0u32.to_be_bytes().to_vec();
    r.push(sampler);
    r.extend_from_slice(&interval.to_be_bytes());
    r
}

#[test]
fn known_datagrams_over_loopback_give_every_row_and_counter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let metrics = format!("127.0.0.1:{}", free_tcp_port());
    let (plain, renorm) = (dir.path().join("plain.csv"), dir.path().join("renorm.csv"));
    let cfg = dir.path().join("nfacctd.conf");
    let log = dir.path().join("nfacctd.log");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nmetrics_listen: {metrics}\n\
             plugins: print[plain], print[renorm]\n\
             aggregate: peer_src_ip, in_iface, src_host, dst_host, src_port, dst_port, proto, sampling_rate\n\
             print_output: csv\nprint_refresh_time: 3600\n\
             print_output_file[plain]: {}\nprint_output_file[renorm]: {}\nnfacctd_renormalize[renorm]: true\n",
            log.display(),
            plain.display(),
            renorm.display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(OURS, &cfg, log);

    let a = UdpSocket::bind("127.0.0.1:0").expect("exporter a");
    let b = UdpSocket::bind("127.0.0.2:0").expect("exporter b (127.0.0.2)");
    let to = format!("127.0.0.1:{port}");
    let send = |s: &UdpSocket, d: Vec<u8>| {
        s.send_to(&d, &to).expect("send");
        // Loopback keeps order; a pause keeps the socket buffer from ever filling.
        std::thread::sleep(Duration::from_millis(5));
    };
    // Exporter a, IPFIX domain 1: data before its template (held), then the template.
    send(
        &a,
        ipfix(
            0,
            1,
            &[(
                256,
                record_a([10, 0, 0, 1], [10, 0, 0, 2], (1234, 80), 1500, 3),
            )],
        ),
    );
    send(&a, ipfix(1, 1, &[(2, template(256, LAYOUT_A))]));
    // Withdrawn, then reused with another layout.
    send(&a, ipfix(1, 1, &[(2, template(256, &[]))]));
    send(
        &a,
        ipfix(
            1,
            1,
            &[
                (2, template(256, LAYOUT_B)),
                (256, record_b(7, [10, 0, 0, 3], [10, 0, 0, 4], 200, 2)),
            ],
        ),
    );
    // Exporter b, NetFlow v9 source 1: template 256 of its own, the sampler's options, then
    // data (sampler 1: 1 in 100), then a gap of three datagrams.
    send(&b, v9(0, 1, 1, &[(0, template(256, LAYOUT_V9))]));
    send(
        &b,
        v9(
            1,
            1,
            2,
            &[(1, options_template()), (300, options_data(1, 100))],
        ),
    );
    send(
        &b,
        v9(
            2,
            1,
            2,
            &[(
                256,
                [
                    record_v9([10, 1, 0, 1], 64, 1, 1),
                    record_v9([10, 1, 0, 2], 128, 2, 1),
                ]
                .concat(),
            )],
        ),
    );
    send(
        &b,
        v9(6, 1, 1, &[(256, record_v9([10, 1, 0, 1], 64, 1, 1))]),
    );
    // Garbage: counted, and the daemon goes on.
    send(&a, vec![0, 10, 0, 3]);
    send(&b, vec![0xff; 40]);
    let own = metrics_once(&metrics, "pmacct_daemon_flow_datagrams_total 10\n");
    let log = daemon.stop();
    for line in [
        "pmacct_daemon_flow_records_total 5",
        "pmacct_daemon_flow_sequence_gaps_total 1",
        "pmacct_daemon_flow_lost_total 3",
        "pmacct_daemon_flow_denied_datagrams_total 0",
        "pmacct_daemon_flow_records_without_sampling_rate_total 2",
        "pmacct_daemon_flow_malformed_total{reason=\"too_short\"} 1",
        "pmacct_daemon_flow_malformed_total{reason=\"bad_version\"} 1",
    ] {
        assert!(own.contains(&format!("{line}\n")), "{line}: {own}");
    }
    // The gap: v9 datagrams 3, 4 and 5 of exporter b never came.
    assert!(
        log.contains(
            "expecting flow '3' but received '6' agent=127.0.0.2 version=9 source_id=1: 3 datagrams lost"
        ),
        "{log}"
    );

    assert_eq!(
        rows(&plain),
        vec![
            "127.0.0.1,0,10.0.0.1,10.0.0.2,1234,80,tcp,0,3,1500",
            "127.0.0.1,7,10.0.0.3,10.0.0.4,1000,53,udp,0,2,200",
            "127.0.0.2,0,10.1.0.1,192.0.2.9,0,0,udp,100,2,128",
            "127.0.0.2,0,10.1.0.2,192.0.2.9,0,0,udp,100,2,128",
        ],
        "{log}"
    );
    // Renormalized: the sampled exporter's counters times 100, sampling_rate 1; unknown
    // rates (0) count as sent.
    assert_eq!(
        rows(&renorm),
        vec![
            "127.0.0.1,0,10.0.0.1,10.0.0.2,1234,80,tcp,1,3,1500",
            "127.0.0.1,7,10.0.0.3,10.0.0.4,1000,53,udp,1,2,200",
            "127.0.0.2,0,10.1.0.1,192.0.2.9,0,0,udp,1,200,12800",
            "127.0.0.2,0,10.1.0.2,192.0.2.9,0,0,udp,1,200,12800",
        ],
        "{log}"
    );
    assert!(
        log.contains(
            "stats datagrams=10 kernel_dropped_datagrams=0 denied_datagrams=0 malformed_datagrams=2 flow_records=5 lost_flows=3 templates_refused=0 pending_dropped=0 records_without_sampling_rate=2"
        ),
        "{log}"
    );
}

#[test]
fn allow_file_and_sampling_map_apply_and_reload_on_sigusr2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let (plain, renorm) = (dir.path().join("plain.csv"), dir.path().join("renorm.csv"));
    let (allow, sampling) = (
        dir.path().join("allow.lst"),
        dir.path().join("sampling.map"),
    );
    std::fs::write(&allow, "! only a, at first\n127.0.0.1\n").expect("allow file");
    std::fs::write(&sampling, "id=50 ip=127.0.0.1/32 in=7\nid=4 ip=127.0.0.2\n").expect("map");
    let cfg = dir.path().join("nfacctd.conf");
    let log = dir.path().join("nfacctd.log");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nnfacctd_disable_checks: true\n\
             nfacctd_allow_file: {}\nsampling_map: {}\n\
             plugins: print[plain], print[renorm]\n\
             aggregate: peer_src_ip, in_iface, src_host, sampling_rate\n\
             print_output: csv\nprint_refresh_time: 3600\n\
             print_output_file[plain]: {}\nprint_output_file[renorm]: {}\nnfacctd_renormalize[renorm]: true\n",
            log.display(),
            allow.display(),
            sampling.display(),
            plain.display(),
            renorm.display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(OURS, &cfg, log);
    let a = UdpSocket::bind("127.0.0.1:0").expect("exporter a");
    let b = UdpSocket::bind("127.0.0.2:0").expect("exporter b (127.0.0.2)");
    let to = format!("127.0.0.1:{port}");
    let send = |s: &UdpSocket, d: Vec<u8>| {
        s.send_to(&d, &to).expect("send");
    };
    // a: no sampler; the map gives interface 7 a rate of 50 and nothing to interface 0.
    send(
        &a,
        ipfix(
            0,
            1,
            &[
                (2, template(256, LAYOUT_A)),
                (
                    256,
                    record_a([10, 0, 0, 1], [10, 0, 0, 2], (1234, 80), 1500, 3),
                ),
            ],
        ),
    );
    send(
        &a,
        ipfix(
            1,
            1,
            &[
                (2, template(257, LAYOUT_B)),
                (257, record_b(7, [10, 0, 0, 3], [10, 0, 0, 4], 200, 2)),
            ],
        ),
    );
    // b is not allowed yet: its template is dropped with the datagram.
    send(&b, v9(0, 1, 1, &[(0, template(256, LAYOUT_V9))]));
    daemon.wait_for("datagrams from 127.0.0.2 dropped: not in nfacctd_allow_file");
    std::fs::write(&allow, "127.0.0.0/24\n").expect("allow file");
    let pid = daemon.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-USR2", &pid])
        .status()
        .expect("kill")
        .success());
    daemon.wait_for("nfacctd_allow_file reloaded");
    // Now b is taken: its sampler says 1 in 100, the map says 4, and the map wins.
    send(&b, v9(1, 1, 1, &[(0, template(256, LAYOUT_V9))]));
    send(
        &b,
        v9(
            2,
            1,
            2,
            &[(1, options_template()), (300, options_data(1, 100))],
        ),
    );
    // A gap of four datagrams: counted, not logged (nfacctd_disable_checks).
    send(
        &b,
        v9(7, 1, 1, &[(256, record_v9([10, 1, 0, 1], 64, 1, 1))]),
    );
    let log = daemon.stop();
    assert!(!log.contains("expecting flow"), "{log}");
    assert_eq!(
        rows(&plain),
        vec![
            "127.0.0.1,0,10.0.0.1,0,3,1500",
            "127.0.0.1,7,10.0.0.3,50,2,200",
            "127.0.0.2,0,10.1.0.1,4,1,64",
        ],
        "{log}"
    );
    assert_eq!(
        rows(&renorm),
        vec![
            "127.0.0.1,0,10.0.0.1,1,3,1500",
            "127.0.0.1,7,10.0.0.3,1,100,10000",
            "127.0.0.2,0,10.1.0.1,1,4,256",
        ],
        "{log}"
    );
    assert!(
        log.contains("stats datagrams=6 kernel_dropped_datagrams=0 denied_datagrams=1 malformed_datagrams=0 flow_records=3 lost_flows=4"),
        "{log}"
    );
    assert!(log.contains("sampling_map reloaded"), "{log}");
}

/// The daemon's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_template_flood_is_refused_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let metrics = format!("127.0.0.1:{}", free_tcp_port());
    let cfg = dir.path().join("nfacctd.conf");
    let log = dir.path().join("nfacctd.log");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\nmetrics_listen: {metrics}\n\
             nfacctd_pipe_size: 4194304\nplugins: print[p]\naggregate[p]: src_host\n\
             print_output[p]: csv\nprint_refresh_time[p]: 3600\nprint_output_file[p]: {}\n",
            log.display(),
            dir.path().join("out.csv").display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(OURS, &cfg, log);
    let pid = daemon.child.id();
    let before = rss_kib(pid);
    // 60,000 template ids (50 per datagram) from one exporter and domain: 1,024 are kept.
    let a = UdpSocket::bind("127.0.0.1:0").expect("exporter");
    let to = format!("127.0.0.1:{port}");
    for d in 0..1200u32 {
        let body: Vec<u8> = (0..50u32)
            .flat_map(|i| template(256 + (d * 50 + i) as u16 % 65_280, LAYOUT_A))
            .collect();
        a.send_to(&ipfix(0, 1, &[(2, body)]), &to).expect("send");
    }
    let own = metrics_once(&metrics, "pmacct_daemon_flow_datagrams_total 1200\n");
    let after = rss_kib(pid);
    println!("RSS {before} KiB before the flood, {after} KiB after");
    let log = daemon.stop();
    assert!(
        own.contains("pmacct_daemon_flow_templates_refused_total 58976\n"),
        "{own}"
    );
    assert!(
        own.contains("pmacct_daemon_flow_kernel_dropped_datagrams_total 0\n"),
        "{own}"
    );
    // 1,024 templates of 7 fields are a few hundred KiB at most.
    assert!(
        after.saturating_sub(before) < 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB: {log}"
    );
}
