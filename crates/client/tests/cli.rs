//! The `pmacct` binary against a fake memory plugin: one canned response per connection.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pmacct_core::key::{Addr, Counters, FlowKey};
use pmacct_core::query::{Entry, Op, Query, Request, Response, TableStatus, PROTOCOL_VERSION};

/// A socket path unique to this process and call.
fn socket_path() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "pmacct-client-test-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Serves `answer` to one connection; the thread returns the request line it got (nothing if
/// the client never connects within 10 s, so a failing client cannot hang the test).
fn serve_once(path: &PathBuf, answer: Vec<u8>) -> JoinHandle<String> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind the fake daemon's socket");
    listener.set_nonblocking(true).expect("nonblocking");
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return String::new(),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the request");
        let mut stream = reader.into_inner();
        stream.write_all(&answer).expect("answer");
        line
    })
}

fn pmacct(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pmacct"))
        .args(args)
        .output()
        .expect("run pmacct")
}

fn entry(src: &str, dst: &str, proto: u8, packets: u64, bytes: u64) -> Entry {
    Entry {
        key: FlowKey {
            src_host: Addr(src.parse().expect("address")),
            dst_host: Addr(dst.parse().expect("address")),
            proto,
            ..FlowKey::default()
        },
        counters: Counters {
            packets,
            bytes,
            flows: 0,
            tcp_flags: 0,
        },
    }
}

/// A response in the daemon's wire form (a JSON line, then the entries packed).
fn response(results: Vec<Vec<Entry>>, status: TableStatus) -> Vec<u8> {
    let mut wire = Vec::new();
    pmacct_core::query::write_response(
        &mut wire,
        &Response {
            protocol: PROTOCOL_VERSION,
            columns: vec!["src_host".into(), "dst_host".into(), "proto".into()],
            results,
            status,
            error: None,
            packed: None,
            dump: None,
            bins: false,
            custom: Vec::new(),
        },
    )
    .expect("encode");
    wire
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn dump_against_a_fake_daemon() {
    let path = socket_path();
    let status = TableStatus {
        entries: 2,
        max_entries: Some(2),
        overflow_packets: 5,
        overflow_bytes: 300,
        ..TableStatus::default()
    };
    let server = serve_once(
        &path,
        response(
            vec![vec![
                entry("192.168.1.10", "8.8.8.8", 17, 2, 96),
                entry("10.0.0.1", "10.0.0.2", 6, 3, 150),
            ]],
            status,
        ),
    );
    let out = pmacct(&["-s", "-p", path.to_str().expect("utf-8 path")]);
    let request = server.join().expect("fake daemon");
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        serde_json::from_str::<Request>(&request).ok(),
        Some(Request {
            protocol: PROTOCOL_VERSION,
            op: Op::Dump
        })
    );
    assert!(request.ends_with('\n'));
    assert_eq!(
        stdout(&out),
        format!(
            "{:<47}{:<47}{:<12}{:<22}BYTES\n\
             {:<47}{:<47}{:<12}{:<22}96\n\
             {:<47}{:<47}{:<12}{:<22}150\n\
             \n\
             For a total of: 2 entries\n\
             WARN: the table is full: 5 packets (300 bytes) of new keys were not stored\n",
            "SRC_IP",
            "DST_IP",
            "PROTOCOL",
            "PACKETS",
            "192.168.1.10",
            "8.8.8.8",
            "udp",
            "2",
            "10.0.0.1",
            "10.0.0.2",
            "tcp",
            "3"
        )
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn counters_with_reset_against_a_fake_daemon() {
    let path = socket_path();
    let server = serve_once(
        &path,
        response(
            vec![
                vec![
                    entry("10.0.0.1", "10.0.0.2", 6, 3, 150),
                    entry("10.0.0.1", "10.0.0.3", 6, 1, 60),
                ],
                vec![],
            ],
            TableStatus::default(),
        ),
    );
    let out = pmacct(&[
        "-N",
        "10.0.0.1,*;10.9.9.9,udp",
        "-c",
        "src_host,proto",
        "-n",
        "all",
        "-r",
        &format!("-p{}", path.display()),
    ]);
    let request = server.join().expect("fake daemon");
    let _ = std::fs::remove_file(&path);
    let query = |host: &str, proto: &str| Query {
        fields: vec![
            ("src_host".into(), host.into()),
            ("proto".into(), proto.into()),
        ],
    };
    assert_eq!(
        serde_json::from_str::<Request>(&request).ok(),
        Some(Request {
            protocol: PROTOCOL_VERSION,
            op: Op::Match {
                queries: vec![query("10.0.0.1", "*"), query("10.9.9.9", "udp")],
                reset: true,
            }
        })
    );
    assert_eq!(stdout(&out), "4 210 0 2\n0 0 0 0\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn daemon_errors_and_version_mismatch_exit_1() {
    let path = socket_path();
    let server = serve_once(
        &path,
        br#"{"protocol":2,"columns":[],"results":[],"status":{"entries":0,"max_entries":null,"overflow_packets":0,"overflow_bytes":0,"seconds_since_erase":null,"erased_ever":false},"error":"unknown primitive 'tos'"}
"#
        .to_vec(),
    );
    let out = pmacct(&[
        "-M",
        "0",
        "-c",
        "tos",
        "-p",
        path.to_str().expect("utf-8 path"),
    ]);
    server.join().expect("fake daemon");
    assert_eq!(stdout(&out), "ERROR: unknown primitive 'tos'\n");
    assert_eq!(out.status.code(), Some(1));

    let server = serve_once(&path, b"{\"protocol\":3,\"error\":\"speak 3\"}\n".to_vec());
    let out = pmacct(&["-e", "-p", path.to_str().expect("utf-8 path")]);
    server.join().expect("fake daemon");
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        stdout(&out),
        "ERROR: protocol version mismatch: client speaks 2, daemon speaks 3\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn connect_error_exits_1() {
    let path = socket_path();
    let _ = std::fs::remove_file(&path);
    let p = path.to_str().expect("utf-8 path");
    let out = pmacct(&["-s", "-p", p]);
    assert_eq!(stdout(&out), format!("ERROR: Unable to connect to '{p}'\n"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_1_and_version_exits_0() {
    let out = pmacct(&[]);
    let text = stdout(&out);
    assert!(text.starts_with("ERROR: one of -s -e -t -i -M -N must be given\n\npmacct-rs client "));
    assert!(text.contains("Usage: pmacct [query]"));
    assert_eq!(out.status.code(), Some(1));

    let out = pmacct(&["-M", "10.0.0.1"]);
    assert_eq!(
        stdout(&out),
        "ERROR: -N or -M selected but -c has not been specified or is invalid.\n"
    );
    assert_eq!(out.status.code(), Some(1));

    let out = pmacct(&["-V"]);
    assert_eq!(
        stdout(&out),
        format!(
            "pmacct-rs client {} (pmacct 1.7.7 compatible)\n",
            pmacct_core::VERSION
        )
    );
    assert_eq!(out.status.code(), Some(0));

    let out = pmacct(&["-h"]);
    assert!(stdout(&out).contains("\n  -s\tShow statistics\n"));
    assert_eq!(out.status.code(), Some(0));
}
