//! sfacctd on a real UDP socket: two agents on loopback send known sFlow v5 datagrams (a raw
//! header and a decoded IPv4 record, a datagram gap with lost samples, a discard sample,
//! counter samples); every row, counter line, metric and stats count is checked exactly.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::collector::{free_tcp_port, free_udp_port, metrics_once, rows, Daemon};

const OURS: &str = env!("CARGO_BIN_EXE_sfacctd");

fn u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A sample or record: format, length, body.
fn part(format: u32, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    u32s(&mut p, &[format, body.len() as u32]);
    p.extend_from_slice(body);
    p
}

/// A datagram of `agent` (IPv4, sub-agent 0) with sequence number `seq`.
fn datagram(agent: [u8; 4], seq: u32, samples: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    u32s(&mut d, &[5, 1]);
    d.extend_from_slice(&agent);
    u32s(&mut d, &[0, seq, 60_000, samples.len() as u32]);
    for s in samples {
        d.extend_from_slice(s);
    }
    d
}

/// A compact flow sample of source ifIndex `source` (in `source`, out `source + 1`).
fn flow_sample(
    seq: u32,
    source: u32,
    rate: u32,
    pool: u32,
    drops: u32,
    record: Vec<u8>,
) -> Vec<u8> {
    let mut s = Vec::new();
    u32s(
        &mut s,
        &[seq, source, rate, pool, drops, source, source + 1, 1],
    );
    s.extend_from_slice(&record);
    part(1, &s)
}

/// A raw-header record: an Ethernet/IPv4 frame of `frame_length` bytes on the wire.
fn raw_header(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ports: (u16, u16),
    frame_length: u32,
) -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10, 0x08, 0x00];
    let l4_len: u16 = if proto == 6 { 20 } else { 8 };
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(20 + l4_len).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.resize(14 + 20 + usize::from(l4_len), 0);
    let mut r = Vec::new();
    u32s(&mut r, &[1, frame_length, 4, f.len() as u32]);
    r.extend_from_slice(&f);
    r.resize(r.len().div_ceil(4) * 4, 0);
    part(1, &r)
}

/// An IPv4 record (format 3): what the agent decoded, no header.
fn ipv4_record(src: [u8; 4], dst: [u8; 4], length: u32, ports: (u32, u32)) -> Vec<u8> {
    let mut r = Vec::new();
    u32s(&mut r, &[length, 17]);
    r.extend_from_slice(&src);
    r.extend_from_slice(&dst);
    u32s(&mut r, &[ports.0, ports.1, 0, 0]);
    part(3, &r)
}

/// A compact counter sample of ifIndex `index`: generic counters, and Ethernet ones.
fn counter_sample(seq: u32, index: u32, in_octets: u32, out_errors: u32) -> Vec<u8> {
    let mut generic = Vec::new();
    u32s(
        &mut generic,
        &[
            index,
            6,
            0,
            1_000_000_000,
            1,
            3,
            0,
            in_octets,
            10,
            1,
            2,
            0,
            0,
            0,
            0,
            7000,
            20,
            3,
            4,
            0,
            out_errors,
            0,
        ],
    );
    let mut ethernet = Vec::new();
    u32s(&mut ethernet, &(1..=13).collect::<Vec<u32>>());
    let mut s = Vec::new();
    u32s(&mut s, &[seq, index, 2]);
    s.extend_from_slice(&part(1, &generic));
    s.extend_from_slice(&part(2, &ethernet));
    part(2, &s)
}

/// A discarded-packet sample (format 5): source ifIndex 3, 9 discarded, reason 258.
fn discard_sample() -> Vec<u8> {
    let mut s = Vec::new();
    u32s(&mut s, &[1, 0, 3, 9, 3, 0, 258, 0]);
    part(5, &s)
}

/// The counter file's lines without their timestamp (the arrival time).
fn counter_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v.as_object_mut().expect("an object").remove("timestamp");
            v.to_string()
        })
        .collect()
}

#[test]
fn known_sflow_over_loopback_gives_every_row_counter_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let metrics = format!("127.0.0.1:{}", free_tcp_port());
    let (plain, renorm) = (dir.path().join("plain.csv"), dir.path().join("renorm.csv"));
    let cfg = dir.path().join("sfacctd.conf");
    let log = dir.path().join("sfacctd.log");
    std::fs::write(
        &cfg,
        format!(
            "sfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nlogfile: {}\nmetrics_listen: {metrics}\n\
             sfacctd_counter_file: {}/c-$peer_src_ip.json\n\
             plugins: print[plain], print[renorm]\n\
             aggregate: peer_src_ip, in_iface, out_iface, src_host, dst_host, src_port, dst_port, proto, sampling_rate\n\
             print_output: csv\nprint_refresh_time: 3600\n\
             print_output_file[plain]: {}\nprint_output_file[renorm]: {}\nsfacctd_renormalize[renorm]: true\n",
            log.display(),
            dir.path().display(),
            plain.display(),
            renorm.display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(OURS, &cfg, log);
    let a = UdpSocket::bind("127.0.0.1:0").expect("agent a");
    let b = UdpSocket::bind("127.0.0.2:0").expect("agent b (127.0.0.2)");
    let to = format!("127.0.0.1:{port}");
    let send = |s: &UdpSocket, d: Vec<u8>| {
        s.send_to(&d, &to).expect("send");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (a_ip, b_ip) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let web = |frame| raw_header([10, 0, 0, 1], [10, 0, 0, 2], 6, (1234, 80), frame);
    // Agent a, 1 in 100: a sample and its interface's counters; the next sample says 200
    // packets went by (pool 100 -> 300) and the agent dropped one sample.
    send(
        &a,
        datagram(
            a_ip,
            1,
            &[
                flow_sample(1, 3, 100, 100, 0, web(1000)),
                counter_sample(1, 3, 5000, 0),
            ],
        ),
    );
    send(
        &a,
        datagram(a_ip, 2, &[flow_sample(2, 3, 100, 300, 1, web(500))]),
    );
    // Datagrams 3 and 4 are lost, and with them samples 3 and 4: 300 packets over 3 samples.
    let dns = raw_header([10, 0, 0, 3], [10, 0, 0, 4], 17, (53, 5353), 200);
    send(
        &a,
        datagram(
            a_ip,
            5,
            &[flow_sample(5, 3, 100, 600, 1, dns), discard_sample()],
        ),
    );
    // Agent b, 1 in 10: a decoded IPv4 record, and counters.
    let ipv4 = ipv4_record([10, 1, 0, 1], [10, 1, 0, 2], 300, (1000, 2000));
    send(
        &b,
        datagram(
            b_ip,
            10,
            &[
                flow_sample(1, 7, 10, 10, 0, ipv4),
                counter_sample(4, 7, 800, 2),
            ],
        ),
    );
    // Not sFlow v5: counted, and the daemon goes on.
    send(&b, vec![0, 0, 0, 4, 0, 0, 0, 1]);
    let own = metrics_once(&metrics, "pmacct_daemon_flow_datagrams_total 5\n");
    let log = daemon.stop();
    for line in [
        "pmacct_daemon_flow_records_total 4",
        "pmacct_daemon_flow_sequence_gaps_total 1",
        "pmacct_daemon_flow_lost_total 2",
        "pmacct_daemon_flow_malformed_total{reason=\"bad_version\"} 1",
        "pmacct_daemon_sflow_discard_samples_total 1",
        "pmacct_daemon_sflow_counter_samples_total 2",
        "pmacct_daemon_sflow_lost_samples_total 2",
        "pmacct_daemon_sflow_agent_dropped_samples_total 1",
        "pmacct_daemon_sflow_lost_counter_samples_total 0",
        "pmacct_sflow_interface_in_octets_total{agent=\"192.0.2.1\",ifindex=\"3\"} 5000",
        "pmacct_sflow_interface_in_octets_total{agent=\"192.0.2.2\",ifindex=\"7\"} 800",
        "pmacct_sflow_interface_out_errors_total{agent=\"192.0.2.2\",ifindex=\"7\"} 2",
        "pmacct_sflow_interface_up{agent=\"192.0.2.1\",ifindex=\"3\"} 1",
    ] {
        assert!(own.contains(&format!("{line}\n")), "{line}: {own}");
    }
    assert!(
        log.contains("expecting sFlow datagram '3' but received '5' from 127.0.0.1 (sub-agent 0): 2 datagrams lost"),
        "{log}"
    );
    assert!(
        log.contains("stats datagrams=5 kernel_dropped_datagrams=0 denied_datagrams=0 malformed_datagrams=1 flow_samples=4 lost_datagrams=2 lost_samples=2 agent_dropped_samples=1 discard_samples=1 counter_samples=2 lost_counter_samples=0 counter_lines_failed=0"),
        "{log}"
    );
    assert_eq!(
        rows(&plain),
        [
            "192.0.2.1,3,4,10.0.0.1,10.0.0.2,1234,80,tcp,100,2,1500",
            "192.0.2.1,3,4,10.0.0.3,10.0.0.4,53,5353,udp,100,1,200",
            "192.0.2.2,7,8,10.1.0.1,10.1.0.2,1000,2000,udp,10,1,300",
        ],
        "{log}"
    );
    // Renormalized by the rate each sample's pool says: 100 (the first: its own rate), then
    // 200, then 300 packets over 3 samples; agent b's first sample: its rate, 10.
    assert_eq!(
        rows(&renorm),
        [
            "192.0.2.1,3,4,10.0.0.1,10.0.0.2,1234,80,tcp,1,300,200000",
            "192.0.2.1,3,4,10.0.0.3,10.0.0.4,53,5353,udp,1,100,20000",
            "192.0.2.2,7,8,10.1.0.1,10.1.0.2,1000,2000,udp,1,10,3000",
        ],
        "{log}"
    );
    let generic = |seq: u32,
                   dseq: u32,
                   agent: &str,
                   index: u32,
                   in_octets: u32,
                   out_errors: u32| {
        format!(
            "{{\"event_type\":\"log\",\"ifDirection\":1,\"ifInBroadcastPkts\":2,\"ifInDiscards\":0,\"ifInErrors\":0,\"ifInMulticastPkts\":1,\"ifInOctets\":{in_octets},\"ifInUcastPkts\":10,\"ifInUnknownProtos\":0,\"ifIndex\":{index},\"ifOutBroadcastPkts\":4,\"ifOutDiscards\":0,\"ifOutErrors\":{out_errors},\"ifOutMulticastPkts\":3,\"ifOutOctets\":7000,\"ifOutUcastPkts\":20,\"ifPromiscuousMode\":0,\"ifSpeed\":1000000000,\"ifStatus\":3,\"ifType\":6,\"peer_ip_src\":\"{agent}\",\"seq\":{seq},\"sf_cnt_type\":\"sflow_cnt_generic\",\"sflow_cnt_seq\":{dseq},\"sflow_seq\":{},\"source_id_index\":{index}}}",
            if index == 3 { 1 } else { 10 }
        )
    };
    let ethernet = |seq: u32, dseq: u32, agent: &str, index: u32| {
        format!(
            "{{\"dot3StatsAlignmentErrors\":1,\"dot3StatsCarrierSenseErrors\":10,\"dot3StatsDeferredTransmissions\":6,\"dot3StatsExcessiveCollisions\":8,\"dot3StatsFCSErrors\":2,\"dot3StatsFrameTooLongs\":11,\"dot3StatsInternalMacReceiveErrors\":12,\"dot3StatsInternalMacTransmitErrors\":9,\"dot3StatsLateCollisions\":7,\"dot3StatsMultipleCollisionFrames\":4,\"dot3StatsSQETestErrors\":5,\"dot3StatsSingleCollisionFrames\":3,\"dot3StatsSymbolErrors\":13,\"event_type\":\"log\",\"peer_ip_src\":\"{agent}\",\"seq\":{seq},\"sf_cnt_type\":\"sflow_cnt_ethernet\",\"sflow_cnt_seq\":{dseq},\"sflow_seq\":{},\"source_id_index\":{index}}}",
            if index == 3 { 1 } else { 10 }
        )
    };
    assert_eq!(
        counter_lines(&dir.path().join("c-192_0_2_1.json")),
        [
            "{\"event_type\":\"log_init\",\"peer_src_ip\":\"192.0.2.1\",\"seq\":0}".to_string(),
            generic(1, 1, "192.0.2.1", 3, 5000, 0),
            ethernet(2, 1, "192.0.2.1", 3),
        ]
    );
    assert_eq!(
        counter_lines(&dir.path().join("c-192_0_2_2.json")),
        [
            "{\"event_type\":\"log_init\",\"peer_src_ip\":\"192.0.2.2\",\"seq\":3}".to_string(),
            generic(4, 4, "192.0.2.2", 7, 800, 2),
            ethernet(5, 4, "192.0.2.2", 7),
        ]
    );
}

/// Waits until `path` holds `lines` lines.
fn wait_for_lines(path: &std::path::Path, lines: usize) {
    let start = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        if n >= lines {
            assert_eq!(n, lines, "{}", path.display());
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}: {n} lines",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// logrotate's create cycle on the counter file: moved away, SIGHUP, and the next counter
/// samples go to a new file; every line is in one file or the other, none twice.
#[test]
fn sighup_reopens_the_counter_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_udp_port();
    let cfg = dir.path().join("sfacctd.conf");
    let log = dir.path().join("sfacctd.log");
    let counters = dir.path().join("counters.json");
    std::fs::write(
        &cfg,
        format!(
            "sfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nlogfile: {}\n\
             sfacctd_counter_file: {}\nplugins: print[p]\naggregate[p]: src_host\n\
             print_output_file[p]: {}/out.csv\nprint_refresh_time[p]: 3600\n",
            log.display(),
            counters.display(),
            dir.path().display()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(OURS, &cfg, log);
    let agent = UdpSocket::bind("127.0.0.1:0").expect("agent");
    let to = format!("127.0.0.1:{port}");
    let send = |seq: u32| {
        let d = datagram(
            [192, 0, 2, 1],
            seq,
            &[counter_sample(seq, 3, 1000 * seq, 0)],
        );
        agent.send_to(&d, &to).expect("send");
    };
    send(1);
    wait_for_lines(&counters, 3);
    let rotated = dir.path().join("counters.json.1");
    std::fs::rename(&counters, &rotated).expect("rotate");
    let pid = daemon.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    // The supervisor asks for the counter files' reopening before it reopens its log.
    daemon.wait_for("SIGHUP: log file reopened");
    send(2);
    wait_for_lines(&counters, 3);
    let log = daemon.stop();
    assert!(
        log.contains("SIGHUP: sfacctd_counter_file files reopened"),
        "{log}"
    );
    let octets = |path: &std::path::Path| -> Vec<u64> {
        std::fs::read_to_string(path)
            .expect("counter file")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["ifInOctets"].as_u64())
            .collect()
    };
    assert_eq!(octets(&rotated), [1000]);
    assert_eq!(octets(&counters), [2000]);
}
