//! flowsend: offers IPFIX flow records to a collector at a steady rate, for benchmarks.
//!
//! Usage: `flowsend <address:port> <flows_per_second> <seconds> [records_per_datagram=30]
//! [distinct_flows=65536]`
//!
//! One template (id 256: addresses, ports, protocol, 4-byte counters, start and end seconds)
//! then data sets of `records_per_datagram` records, the template again every 1,000
//! datagrams, sequence numbers as RFC 7011 says (data records sent before). Each record counts
//! 1 packet of 100 bytes, so a collector's packet total is the flows it accounted. Prints what
//! it sent and the rate it kept.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: flowsend <address:port> <flows_per_second> <seconds> [records_per_datagram=30] [distinct_flows=65536]";
const TEMPLATE_ID: u16 = 256;
/// (element id, length): sourceIPv4Address, destinationIPv4Address, sourceTransportPort,
/// destinationTransportPort, protocolIdentifier, octetDeltaCount, packetDeltaCount,
/// flowStartSeconds, flowEndSeconds.
const FIELDS: [(u16, u16); 9] = [
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (1, 4),
    (2, 4),
    (150, 4),
    (151, 4),
];
const RECORD_LEN: usize = 29;

fn message(seq: u32, now: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let body: usize = sets.iter().map(|(_, b)| 4 + b.len()).sum();
    let mut m = Vec::with_capacity(16 + body);
    m.extend_from_slice(&10u16.to_be_bytes());
    m.extend_from_slice(&((16 + body) as u16).to_be_bytes());
    m.extend_from_slice(&now.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&1u32.to_be_bytes());
    for (id, b) in sets {
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&((4 + b.len()) as u16).to_be_bytes());
        m.extend_from_slice(b);
    }
    m
}

fn template() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&TEMPLATE_ID.to_be_bytes());
    t.extend_from_slice(&(FIELDS.len() as u16).to_be_bytes());
    for (id, len) in FIELDS {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

/// Flow `n` of `distinct`: its record.
fn record(out: &mut Vec<u8>, n: u64, distinct: u64, now: u32) {
    let i = (n % distinct) as u32;
    out.extend_from_slice(&(0x0a00_0000 | (i >> 8)).to_be_bytes());
    out.extend_from_slice(&(0xc0a8_0000 | (i & 0xff)).to_be_bytes());
    out.extend_from_slice(&(1024 + (i % 50_000) as u16).to_be_bytes());
    out.extend_from_slice(&443u16.to_be_bytes());
    out.push(6);
    out.extend_from_slice(&100u32.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&now.to_be_bytes());
    out.extend_from_slice(&now.to_be_bytes());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(to), Some(rate), Some(seconds)) = (
        args.get(1),
        args.get(2).and_then(|s| s.parse::<f64>().ok()),
        args.get(3).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let per = args
        .get(4)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30)
        .clamp(1, 2000);
    let distinct = args
        .get(5)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(65_536)
        .max(1);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| {
        eprintln!("cannot open a socket: {e}");
        std::process::exit(1)
    });
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32)
    };
    let total = (rate * seconds) as u64;
    let (mut sent, mut datagrams, mut refused) = (0u64, 0u64, 0u64);
    let mut body = Vec::with_capacity(per as usize * RECORD_LEN);
    let start = Instant::now();
    while sent < total {
        // Keep up with the clock: send what is due, then yield a moment.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        if sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let t = now();
        let n = per.min(total - sent);
        body.clear();
        for k in 0..n {
            record(&mut body, sent + k, distinct, t);
        }
        let mut sets = Vec::with_capacity(2);
        if datagrams.is_multiple_of(1000) {
            sets.push((2u16, template()));
        }
        sets.push((TEMPLATE_ID, body.clone()));
        let m = message(sent as u32, t, &sets);
        if socket.send_to(&m, to).is_err() {
            refused += 1;
        }
        sent += n;
        datagrams += 1;
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} flows in {datagrams} datagrams in {took:.2} s ({:.0} flows/s); {refused} sends refused",
        sent as f64 / took
    );
}
