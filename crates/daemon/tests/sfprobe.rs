//! sfprobe: our pmacctd's sFlow v5 exports of a generated capture, read by tshark, by our
//! sfacctd and by Debian's sfacctd 1.7.7: every packet sampled gives the capture's packets per
//! 5-tuple (bytes: the frames' length, as sFlow collectors count a raw header); sampled 1 in
//! 10 and renormalized, both collectors give the same rows and the capture's total within
//! 0.5 %; the counter samples hold what the probe saw.

mod common;

use std::path::Path;
use std::process::Command;

use common::{print_totals, Totals};

const PMACCTD: &str = env!("CARGO_BIN_EXE_pmacctd");
const SFACCTD: &str = env!("CARGO_BIN_EXE_sfacctd");
const REFERENCE: &str = "/usr/sbin/sfacctd";

fn sum(t: &Totals) -> (u64, u64) {
    t.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1))
}

/// tshark's reading of an sFlow export capture: datagrams decoded as sFlow, warnings or
/// errors (C12.22 left out: the generated traffic to its port is not C12.22), flow samples.
fn tshark_read(pcap: &Path) -> (usize, usize, usize) {
    let port = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-c", "1", "-T", "fields", "-e", "udp.dstport"])
        .output()
        .expect("tshark (apt-get install tshark)");
    let decode = format!(
        "udp.port=={},sflow",
        String::from_utf8_lossy(&port.stdout).trim()
    );
    let run = |args: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(["-d", &decode, "--disable-protocol", "c1222"])
            .args(args)
            .output()
            .expect("tshark");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let samples = run(&[
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-e",
        "sflow.flow_sample.sequence_number",
    ]);
    (
        run(&["-Y", "sflow"]).lines().count(),
        run(&["-Y", "_ws.expert.severity >= 0x600000 || _ws.malformed"])
            .lines()
            .count(),
        samples.split([',', '\n']).filter(|v| !v.is_empty()).count(),
    )
}

/// The frames' lengths on the wire, summed, of a pcap file.
fn wire_bytes(pcap: &Path) -> u64 {
    let b = std::fs::read(pcap).expect("capture");
    let (mut at, mut total) = (24, 0u64);
    while at + 16 <= b.len() {
        let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        total += u64::from(word(at + 12));
        at += 16 + word(at + 8) as usize;
    }
    total
}

fn packets_only(t: &Totals) -> Vec<(String, u64)> {
    t.iter().map(|(k, (p, _))| (k.clone(), *p)).collect()
}

/// Every packet sampled: tshark decodes every datagram cleanly; our sfacctd and Debian's
/// give the same rows: the capture's packets per 5-tuple, and bytes that total the frames'
/// length on the wire (what sFlow collectors count of a raw header).
#[test]
fn every_packet_sampled_gives_the_captures_packets_to_both_collectors() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 20_000, 200, 120);
    let capture = print_totals(PMACCTD, &packets, work.path());
    let (pcap, datagrams) = common::probe_exports_with(
        Path::new(PMACCTD),
        &packets,
        "plugins: sfprobe\nsfprobe_receiver",
        work.path(),
    );
    assert_eq!(tshark_read(&pcap), (datagrams, 0, 20_000));
    let ours = print_totals(SFACCTD, &pcap, work.path());
    let theirs = print_totals(REFERENCE, &pcap, work.path());
    assert!(ours == theirs, "our sfacctd and Debian's differ");
    assert!(
        packets_only(&ours) == packets_only(&capture),
        "not the capture's packets"
    );
    assert_eq!(sum(&ours), (20_000, wire_bytes(&packets)));
}

/// Sampled 1 in 10 and renormalized by each collector (from the sample pool, as 1.7.7
/// does): our sfacctd's rows are Debian's, and their packets total the capture's within
/// 0.5 % (the packets after the last sample are not in any pool delta).
#[test]
fn sampled_exports_renormalize_to_the_captures_total() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 30_000, 300, 120);
    let (pcap, datagrams) = common::probe_exports_with(
        Path::new(PMACCTD),
        &packets,
        "plugins: sfprobe\nsampling_rate: 10\nsfprobe_receiver",
        work.path(),
    );
    let (decoded, warnings, samples) = tshark_read(&pcap);
    assert_eq!((decoded, warnings), (datagrams, 0));
    assert!(
        samples.abs_diff(3_000) < 300,
        "{samples} samples of 30,000 packets at 1 in 10"
    );
    let renormalized = |program: &str| {
        let cfg = work.path().join("renorm.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_savefile: {}\nsfacctd_renormalize: true\nplugins: print[p]\n\
                 aggregate[p]: proto\nprint_output[p]: csv\nprint_refresh_time[p]: 86400\n",
                pcap.display()
            ),
        )
        .expect("config");
        let out = Command::new(program)
            .arg("-f")
            .arg(&cfg)
            .output()
            .expect("sfacctd");
        let mut rows = Totals::new();
        for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let [proto, p, b] = f[..] {
                rows.insert(
                    proto.to_string(),
                    (p.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                );
            }
        }
        rows
    };
    let (ours, theirs) = (renormalized(SFACCTD), renormalized(REFERENCE));
    assert!(ours == theirs, "{ours:?} {theirs:?}");
    let total = sum(&ours).0;
    assert!(total.abs_diff(30_000) <= 150, "{total}");
}

/// The counter samples, through our sfacctd's counter file: the last one holds every
/// packet's bytes on the wire and the unicast packets (the generated traffic is all unicast).
#[test]
fn counter_samples_hold_what_the_probe_saw() {
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 5_000, 50, 60);
    let wire = wire_bytes(&packets);
    let (pcap, _) = common::probe_exports_with(
        Path::new(PMACCTD),
        &packets,
        "plugins: sfprobe\nsfprobe_ifspeed: 1000000000\nsfprobe_ifindex: 7\nsfprobe_receiver",
        work.path(),
    );
    let counters = work.path().join("counters.json");
    let cfg = work.path().join("counters.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\nsfacctd_counter_file: {}\nplugins: print[p]\n\
             print_output[p]: csv\n",
            pcap.display(),
            counters.display()
        ),
    )
    .expect("config");
    let out = Command::new(SFACCTD)
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("sfacctd");
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&counters).expect("counter file");
    let last: serde_json::Value = text
        .lines()
        .rev()
        .find(|l| l.contains("\"ifInOctets\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a generic interface counter line");
    assert_eq!(last["ifIndex"], 7, "{last}");
    assert_eq!(last["ifSpeed"], 1_000_000_000u64, "{last}");
    assert_eq!(last["ifInOctets"], wire, "{last}");
    assert_eq!(last["ifInUcastPkts"], 5_000, "{last}");
}

/// The sfprobe configuration docs/nfprobe.md shows runs as written (its interface replaced by
/// a capture file, its collector by a local socket), without a warning, and its samples reach
/// our sfacctd.
#[test]
fn the_docs_example_runs() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nfprobe.md"),
    )
    .expect("docs/nfprobe.md");
    let example = doc
        .split("```\n")
        .find(|b| b.starts_with("! /etc/pmacct/pmacctd-sfprobe.conf"))
        .expect("the example");
    let work = tempfile::tempdir().expect("tempdir");
    let packets = work.path().join("packets.pcap");
    common::generate(&packets, 20_000, 50, 60);
    let socket = common::roomy_udp_socket();
    let port = socket.local_addr().expect("addr").port();
    let cfg: String = example
        .lines()
        .map(|l| match l {
            l if l.starts_with("pcap_interface:") => {
                format!("pcap_savefile: {}\n", packets.display())
            }
            l if l.starts_with("sfprobe_receiver[s]:") => {
                format!("sfprobe_receiver[s]: 127.0.0.1:{port}\n")
            }
            l => format!("{l}\n"),
        })
        .collect();
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
    let frames: Vec<Vec<u8>> = common::drain_udp(&socket)
        .iter()
        .map(|d| common::udp_frame(d, port))
        .collect();
    let pcap = work.path().join("sflow.pcap");
    common::write_frames_pcap(&pcap, &frames);
    let (_, _, samples) = tshark_read(&pcap);
    assert!(
        samples.abs_diff(200) < 60,
        "{samples} samples of 20,000 packets at 1 in 100"
    );
}
