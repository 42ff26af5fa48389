//! Every file under ../shared/testdata/malformed: no crash, no hang; broken files give one clear
//! error naming the file and the reason, after accounting what was readable.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn malformed_inputs_never_crash_or_hang() {
    let Some(td) = common::testdata() else {
        return common::skipped("../shared/testdata");
    };
    let mut files = Vec::new();
    let mut dirs = vec![td.join("malformed")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).expect("read_dir").flatten() {
            if e.path().is_dir() {
                dirs.push(e.path())
            } else {
                files.push(e.path())
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the malformed corpus, found {} files",
        files.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        let cfg = dir.path().join("m.conf");
        std::fs::write(&cfg, format!("pcap_savefile: {}\nplugins: print[p]\nprint_output[p]: csv\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n", f.display())).expect("write");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Read as it comes: a daemon blocked on a full pipe would look hung.
        let mut pipe = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            text
        });
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{} hung", f.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = reader.join().expect("stderr reader");
        assert!(!stderr.contains("panicked"), "{}: {stderr}", f.display());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match name.as_str() {
            "dpkt__truncated_dns_2.pcap" | "pcap-parser__err-eof.bin" => {
                assert_eq!(status.code(), Some(1), "{name}");
                let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR")).collect();
                assert_eq!(errors.len(), 1, "{name}: one error expected: {stderr}");
                assert!(
                    errors[0].contains(&f.display().to_string()),
                    "{name}: error names the file: {}",
                    errors[0]
                );
                assert!(
                    errors[0].contains("at byte "),
                    "{name}: and the offset: {}",
                    errors[0]
                );
            }
            _ => assert_eq!(status.code(), Some(0), "{name}: {stderr}"),
        }
    }
}
