//! The capture-file reader end to end: pcapng with interfaces of different link types, replay
//! through the mapped reader, and the libpcap path for pipes giving the same rows.

mod common;

use std::path::Path;

use common::*;
use pmacct_daemon::synth::{write_pcapng, NgInterface, NgPacket};

fn config(pcap: &Path, extra: &str) -> String {
    format!(
        "pcap_savefile: {}\nplugins: print[p]\nprint_output[p]: csv\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n{extra}",
        pcap.display()
    )
}

/// An IPv4/UDP packet of `len` bytes from 10.0.0.`src` to 10.0.0.`dst`.
fn udp(src: u8, dst: u8, sport: u16, len: u16) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, src, 10, 0, 0, dst,
    ];
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&53u16.to_be_bytes());
    p.extend_from_slice(&(len - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.resize(usize::from(len), 0);
    p
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

#[test]
fn pcapng_with_an_ethernet_and_a_raw_ip_interface() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("two-links.pcapng");
    let (a, b) = (ethernet(&udp(1, 2, 1000, 100)), udp(3, 4, 2000, 60));
    let c = ethernet(&udp(1, 2, 1000, 200));
    write_pcapng(
        &path,
        &[
            NgInterface {
                link: 1,
                tsresol: 6,
            },
            NgInterface {
                link: 101,
                tsresol: 9,
            },
        ],
        &[
            NgPacket {
                interface: 0,
                ticks: 1_700_000_000_000_000,
                data: &a,
            },
            NgPacket {
                interface: 1,
                ticks: 1_700_000_001_000_000_000,
                data: &b,
            },
            NgPacket {
                interface: 0,
                ticks: 1_700_000_002_000_000,
                data: &c,
            },
        ],
    )
    .expect("write");
    let run = run_ours(&config(&path, ""));
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        rows_csv(&run.stdout, 5),
        Rows::from([
            ("10.0.0.1,10.0.0.2,1000,53,udp".into(), (2, 300, 0)),
            ("10.0.0.3,10.0.0.4,2000,53,udp".into(), (1, 60, 0)),
        ])
    );
    assert_eq!(
        total_bytes(&run.stdout),
        tshark_ip_bytes(&path).expect("tshark")
    );
    // A plugin filter compiles for each link type it meets.
    let run = run_ours(&config(&path, "aggregate_filter[p]: src host 10.0.0.3\n"));
    assert_eq!(
        rows_csv(&run.stdout, 5),
        Rows::from([("10.0.0.3,10.0.0.4,2000,53,udp".into(), (1, 60, 0))])
    );
    // So does pcap_filter.
    let run = run_ours(&config(&path, "pcap_filter: udp and src port 1000\n"));
    assert_eq!(
        rows_csv(&run.stdout, 5),
        Rows::from([("10.0.0.1,10.0.0.2,1000,53,udp".into(), (2, 300, 0))])
    );
}

#[test]
fn replay_and_a_pipe_give_the_rows_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("gen.pcap");
    generate(&pcap, 20_000, 50, 600);
    let once = run_ours(&config(&pcap, ""));
    assert!(once.ok, "{}", once.stderr);
    let rows = rows_csv(&once.stdout, 5);
    assert_eq!(rows.values().map(|r| r.0).sum::<u64>(), 20_000);
    let thrice = run_ours(&config(&pcap, "pcap_savefile_replay: 3\n"));
    let tripled: Rows = rows
        .iter()
        .map(|(k, (p, b, f))| (k.clone(), (3 * p, 3 * b, *f)))
        .collect();
    assert_eq!(rows_csv(&thrice.stdout, 5), tripled);
    // A named pipe is not mapped: libpcap reads it, with the same result.
    let fifo = dir.path().join("pipe.pcap");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let (src, dst) = (pcap.clone(), fifo.clone());
    let writer = std::thread::spawn(move || {
        let data = std::fs::read(&src).expect("read");
        std::fs::write(&dst, data).expect("write to the pipe");
    });
    let piped = run_ours(&config(&fifo, ""));
    writer.join().expect("writer");
    assert!(piped.ok, "{}", piped.stderr);
    assert_eq!(rows_csv(&piped.stdout, 5), rows);
}
