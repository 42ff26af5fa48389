//! Live capture in a network namespace: a veth pair, a known burst of ICMP, UDP and TCP, and
//! exact counts. Needs root (ip netns); elsewhere it says it was skipped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}a", self.0)])
            .status();
    }
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills the daemon if the test fails before stopping it.
struct Daemon(Option<Child>);
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stop(mut daemon: Daemon) -> String {
    let child = daemon.0.take().expect("running");
    // A graceful stop: SIGTERM makes pmacctd flush and exit 0.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "pmacctd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn live_capture_on_a_veth_counts_a_known_burst_exactly() {
    let ns = format!("pmrs{}", std::process::id() % 100000);
    if !sh(&["ip", "netns", "add", &ns]) {
        println!("SKIPPED: live capture test needs root and iproute2 (ip netns add failed)");
        return;
    }
    let guard = Netns(ns.clone());
    let (host_if, peer_if) = (format!("{ns}a"), format!("{ns}b"));
    assert!(sh(&[
        "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if
    ]));
    assert!(sh(&["ip", "link", "set", &peer_if, "netns", &ns]));
    assert!(sh(&["ip", "addr", "add", "10.99.0.1/24", "dev", &host_if]));
    assert!(sh(&["ip", "link", "set", &host_if, "up"]));
    assert!(sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "ip",
        "addr",
        "add",
        "10.99.0.2/24",
        "dev",
        &peer_if
    ]));
    assert!(sh(&[
        "ip", "netns", "exec", &ns, "ip", "link", "set", &peer_if, "up"
    ]));
    assert!(sh(&[
        "ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"
    ]));

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("live.conf");
    // Only what the test sends: ICMP echo, UDP to 9999, TCP to 9998 (all from 10.99.0.1).
    std::fs::write(
        &cfg,
        format!("interface: {host_if}\npromisc: false\npcap_filter: src host 10.99.0.1 and (icmp or udp port 9999 or tcp port 9998)\nplugins: print[p]\nprint_output[p]: csv\nprint_refresh_time[p]: 3600\naggregate[p]: src_host, dst_host, dst_port, proto\n"),
    )
    .expect("write");
    let child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pmacctd");
    let child = Daemon(Some(child));
    // Wait until the capture is open: the log says so.
    std::thread::sleep(Duration::from_millis(700));

    // 5 pings of 56 data bytes: IPv4 20 + ICMP 8 + 56 = 84 bytes each.
    assert!(sh(&[
        "ping",
        "-c",
        "5",
        "-i",
        "0.2",
        "-W",
        "1",
        "10.99.0.2"
    ]));
    // 3 UDP datagrams of 100 bytes: 20 + 8 + 100 = 128 bytes each.
    let udp = std::net::UdpSocket::bind("10.99.0.1:0").expect("bind");
    for _ in 0..3 {
        udp.send_to(&[0u8; 100], "10.99.0.2:9999").expect("send");
    }
    // One TCP attempt to a closed port: the SYN is answered by RST; SYN = 20 + 40 options... so
    // count packets and take the bytes from the kernel's SYN size below.
    let _ = std::net::TcpStream::connect_timeout(
        &"10.99.0.2:9998".parse().expect("addr"),
        Duration::from_secs(1),
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = stop(child);
    drop(guard);

    let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with("SRC_IP")).collect();
    assert!(rows.contains(&"10.99.0.1,10.99.0.2,0,icmp,5,420"), "{out}");
    assert!(
        rows.contains(&"10.99.0.1,10.99.0.2,9999,udp,3,384"),
        "{out}"
    );
    let tcp: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|r| r.contains(",9998,tcp,"))
        .collect();
    assert_eq!(tcp.len(), 1, "{out}");
    // Linux sends one SYN of 60 bytes (20 IP + 40 TCP with options) to a port answering RST.
    assert_eq!(tcp[0], "10.99.0.1,10.99.0.2,9998,tcp,1,60", "{out}");
    assert_eq!(rows.len(), 3, "{out}");
}
