//! The quota plugin: data caps fire exactly once per period at the packet that crosses them,
//! survive a restart without firing again, fire again after the period resets, run their
//! trigger with the documented environment and POST to a webhook that first fails.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::Udp;

/// 2024-03-30 00:00 in Berlin; periods are local days (the 31st has 23 hours).
const START: i64 = 1_711_753_200;
const ZONE: &str = "Europe/Berlin";
const LIMIT: u64 = 600_000;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// The laptop downloads 1,000-byte datagrams (1,028 IP bytes) every 60 s for two days, and
/// uploads some; the phone's traffic counts for no cap.
fn traffic() -> Vec<Udp> {
    let mut out = Vec::new();
    let mut ts = START + 30;
    let mut n = 0u64;
    while ts < START + 2 * 86_400 - 3_600 {
        let (src, dst) = match n % 4 {
            3 => (ip("192.168.1.10"), ip("93.184.216.34")),
            2 => (ip("93.184.216.34"), ip("192.168.1.20")),
            _ => (ip("93.184.216.34"), ip("192.168.1.10")),
        };
        out.push(Udp {
            ts,
            src,
            dst,
            src_mac: [2, 0, 0, 0, 0, 0xfe],
            dst_mac: [2, 0, 0, 0, 0, 1],
            payload: 1000,
        });
        ts += 60;
        n += 1;
    }
    out
}

/// The packets at which the laptop's downloads in each local day cross 80 % and 100 %.
fn crossings(packets: &[Udp]) -> Vec<(u32, i64, u64, String)> {
    let tz = jiff::tz::TimeZone::get(ZONE).expect("tzdata");
    let day = |t: i64| {
        jiff::Timestamp::from_second(t)
            .expect("ts")
            .to_zoned(tz.clone())
            .date()
    };
    let mut out = Vec::new();
    let (mut current, mut used, mut fired) = (None, 0u64, Vec::new());
    for p in packets.iter().filter(|p| p.dst == ip("192.168.1.10")) {
        if current != Some(day(p.ts)) {
            (current, used, fired) = (Some(day(p.ts)), 0, Vec::new());
        }
        used += p.ip_bytes();
        for a in [80u32, 100] {
            if !fired.contains(&a) && used * 100 >= u64::from(a) * LIMIT {
                fired.push(a);
                let at = jiff::Timestamp::from_second(p.ts)
                    .expect("ts")
                    .to_zoned(tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string();
                out.push((a, p.ts, used, at));
            }
        }
    }
    out
}

/// A webhook receiver: answers 500 to the first request, 200 to the others; keeps bodies
/// of the requests it accepted.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/alerts", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let body = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_string());
                    }
                }
            };
            let status = if i == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ =
                c.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            if let (Some(b), true) = (body, i > 0) {
                keep.lock().expect("lock").push(b);
            }
        }
    });
    (url, bodies)
}

fn run(cfg: &Path) -> String {
    common::run_file_ok(cfg, ZONE)
}

#[test]
fn caps_fire_once_per_period_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let packets = traffic();
    let expected = crossings(&packets);
    // Day one crosses 80 % then 100 %; day two again.
    assert_eq!(
        expected.iter().map(|e| e.0).collect::<Vec<_>>(),
        [80, 100, 80, 100]
    );
    // The restart falls between day one's 80 % and its 100 %.
    let cut = packets
        .iter()
        .position(|p| p.ts > (expected[0].1 + expected[1].1) / 2)
        .expect("cut");
    let (a, b): (Vec<&Udp>, Vec<&Udp>) = (
        packets[..cut].iter().collect(),
        packets[cut..].iter().collect(),
    );
    common::write_udp_pcap(&d.join("a.pcap"), &a);
    common::write_udp_pcap(&d.join("b.pcap"), &b);
    std::fs::write(
        d.join("caps.map"),
        format!("! the laptop's downloads, per day\nname=laptop device=192.168.1.10 limit={LIMIT} period=day direction=down alerts=80,100\n"),
    )
    .expect("caps");
    let script = d.join("alert.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$CAP $DEVICE $PERCENT $USED_BYTES $LIMIT_BYTES $PERIOD_START $PERIOD_END\" >> {}\n",
            d.join("alerts.txt").display()
        ),
    )
    .expect("script");
    assert!(common::sh(&["chmod", "755", &script.display().to_string()]));
    let (url, bodies) = receiver();
    let config = |pcap: &str| {
        let cfg = d.join(format!("{pcap}.conf"));
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nplugins: quota[caps]\nquota_map[caps]: {}\nquota_state[caps]: {}\n\
                 quota_local_net[caps]: 192.168.1.0/24\nquota_trigger_exec[caps]: {}\nquota_webhook[caps]: {url}\n",
                d.join(pcap).display(),
                d.join("caps.map").display(),
                d.join("state.db").display(),
                script.display()
            ),
        )
        .expect("config");
        cfg
    };
    let first = run(&config("a.pcap"));
    let second = run(&config("b.pcap"));
    let line = |(a, _, used, at): &(u32, i64, u64, String)| {
        format!("cap 'laptop' (192.168.1.10, down): {a}% reached at {at}: {used} of {LIMIT} bytes")
    };
    let fired = |log: &str| log.lines().filter(|l| l.contains("% reached at")).count();
    assert_eq!(fired(&first), 1, "{first}");
    assert!(first.contains(&line(&expected[0])), "{first}");
    assert_eq!(fired(&second), 3, "{second}");
    for e in &expected[1..] {
        assert!(second.contains(&line(e)), "{second}");
    }

    // The trigger ran once per alert, in order, with the documented environment.
    let periods = [
        ("2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+01:00"),
        ("2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
    ];
    let want: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(i, (a, _, used, _))| {
            let (s, e) = periods[i / 2];
            format!("laptop 192.168.1.10 {a} {used} {LIMIT} {s} {e}")
        })
        .collect();
    let alerts = std::fs::read_to_string(d.join("alerts.txt")).expect("alerts");
    assert_eq!(alerts.lines().collect::<Vec<_>>(), want);

    // The webhook: the first POST was refused (500) and retried; each alert arrived once.
    let bodies = bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 4, "{bodies:?}\n{first}\n{second}");
    let percents: Vec<u64> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).expect("json")["percent"]
                .as_u64()
                .expect("percent")
        })
        .collect();
    assert_eq!(percents, [80, 100, 80, 100]);
    assert!(first.contains("retrying in 1 s"), "{first}");

    // The client shows the current period's usage against the cap.
    let out = Command::new(Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct"))
        .args(["caps", "--format", "csv", "--state"])
        .arg(d.join("state.db"))
        .env("TZ", ZONE)
        .output()
        .expect("pmacct caps");
    let day2: u64 = packets
        .iter()
        .filter(|p| p.dst == ip("192.168.1.10") && p.ts >= 1_711_839_600)
        .map(Udp::ip_bytes)
        .sum();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "name,device,direction,period_start,period_end,used_bytes,limit_bytes,percent,alerts_fired\n\
             laptop,192.168.1.10,down,2024-03-31 00:00,2024-04-01 00:00,{day2},{LIMIT},{:.1},\"80,100\"\n",
            day2 as f64 * 100.0 / LIMIT as f64
        )
    );
}

/// A caps file with errors: each named by file and line, and the daemon does not start.
#[test]
fn a_bad_caps_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pcap = d.join("t.pcap");
    common::generate(&pcap, 10, 2, 1);
    std::fs::write(d.join("caps.map"), "device=192.168.1.10 limit=10XB period=day\ndevice=1.2.3.4 period=day limit=1GB direction=sideways\n")
        .expect("caps");
    let cfg = d.join("q.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nplugins: quota[caps]\nquota_map[caps]: {}/caps.map\nquota_state[caps]: {}/s.db\n",
            pcap.display(),
            d.display(),
            d.display()
        ),
    )
    .expect("config");
    let out = common::run_file(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let map = format!("{}/caps.map", d.display());
    assert!(
        err.contains(&format!("{map}:1: '10XB': unknown unit 'XB'")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{map}:2: direction 'sideways': expected down, up or both"
        )),
        "{err}"
    );
}
