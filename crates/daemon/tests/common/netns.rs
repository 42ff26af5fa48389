//! A wire between two network namespaces, for live tests that replay known traffic: a veth
//! pair with no addresses and IPv6 off, so the kernel adds nothing the test did not send;
//! daemons run in the capture side, tcpreplay sends from the other.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::sh;

/// Namespace `cap` holds interface `cap0`; namespace `send` holds its peer `send0`.
pub struct Wire {
    pub cap: String,
    pub send: String,
}

impl Drop for Wire {
    fn drop(&mut self) {
        sh(&["ip", "netns", "del", &self.cap]);
        sh(&["ip", "netns", "del", &self.send]);
    }
}

impl Wire {
    /// None (after saying so) when namespaces cannot be made: not root.
    pub fn or_skip(tag: &str) -> Option<Wire> {
        let id = std::process::id() % 100_000;
        let wire = Wire {
            cap: format!("pw{tag}c{id}"),
            send: format!("pw{tag}s{id}"),
        };
        for ns in [&wire.cap, &wire.send] {
            if !sh(&["ip", "netns", "add", ns]) {
                println!("SKIPPED: live test needs root and iproute2 (ip netns add failed)");
                return None;
            }
        }
        assert!(sh(&[
            "ip", "link", "add", "cap0", "netns", &wire.cap, "type", "veth", "peer", "name",
            "send0", "netns", &wire.send
        ]));
        for (ns, dev) in [(&wire.cap, "cap0"), (&wire.send, "send0")] {
            let off = format!("net.ipv6.conf.{dev}.disable_ipv6=1");
            assert!(wire.exec(ns, &["sysctl", "-q", "-w", &off]));
            assert!(wire.exec(ns, &["ip", "link", "set", dev, "up"]));
        }
        Some(wire)
    }

    pub fn exec(&self, ns: &str, args: &[&str]) -> bool {
        sh(&[&["ip", "netns", "exec", ns], args].concat())
    }

    /// Sends every packet of `pcap` into the wire at `pps` packets per second (0: as fast as
    /// possible); the number tcpreplay reports sent.
    pub fn replay(&self, pcap: &Path, pps: u32) -> u64 {
        let rate = if pps == 0 {
            "--topspeed".to_string()
        } else {
            format!("--pps={pps}")
        };
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.send,
                "tcpreplay",
                "-q",
                "-i",
                "send0",
            ])
            .arg(&rate)
            .arg(pcap)
            .output()
            .expect("tcpreplay (apt-get install tcpreplay)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "tcpreplay: {text}");
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("no '{name}' in tcpreplay's output: {text}"))
        };
        assert_eq!(field("Failed packets:"), 0, "{text}");
        field("Successful packets:")
    }

    /// Packets the kernel dropped on the wire: the sender's tx_dropped plus the capture side's
    /// rx_dropped (a full receive backlog), which no capture can see.
    pub fn wire_drops(&self) -> u64 {
        let stat = |ns: &str, dev: &str, which: &str| -> u64 {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat"])
                .arg(format!("/sys/class/net/{dev}/statistics/{which}"))
                .output()
                .expect("cat statistics");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0)
        };
        stat(&self.send, "send0", "tx_dropped") + stat(&self.cap, "cap0", "rx_dropped")
    }

    /// Starts `program -f config` in the capture namespace, its stderr collected.
    pub fn daemon(&self, program: &str, config: &Path) -> Daemon {
        spawn_in(&self.cap, &[], program, config)
    }
}

/// Starts `program -f config` in namespace `ns` through `wrapper` (e.g. setpriv, or nothing),
/// its stderr collected as it is written so a test can wait for a line.
pub fn spawn_in(ns: &str, wrapper: &[&str], program: &str, config: &Path) -> Daemon {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(wrapper)
        .args([program, "-f"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn daemon");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
            l.push_str(&line);
            l.push('\n');
        }
    });
    Daemon {
        child: Some(child),
        log,
        reader: Some(reader),
    }
}

/// A daemon in a namespace; killed if the test fails before stopping it.
pub struct Daemon {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        // `ip netns exec` execs the program in place: the child's pid is the daemon's.
        self.child.as_ref().expect("running").id()
    }

    pub fn signal(&self, sig: &str) {
        assert!(sh(&["kill", sig, &self.pid().to_string()]));
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (at most `secs`) until the log has a line containing `text`.
    pub fn wait_log(&self, text: &str, secs: u64) {
        wait_until(secs, &format!("'{text}' in the log"), || {
            self.log().contains(text)
        });
    }

    /// How many lines of the log so far contain `text`.
    pub fn count_log(&self, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(text)).count()
    }

    /// Waits for the daemon to exit on its own; its status and log.
    pub fn wait_exit(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.take().expect("running").wait().expect("wait");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.log())
    }

    /// SIGTERM (or `sig`), waits for the exit; its log. The exit must be a success.
    pub fn stop_with(self, sig: &str) -> String {
        self.signal(sig);
        let (status, log) = self.wait_exit();
        assert!(status.success(), "daemon exited with {status}: {log}");
        log
    }

    pub fn stop(self) -> String {
        self.stop_with("-TERM")
    }
}

/// Polls `done` every 10 ms until it holds; fails the test naming `what` after `secs`.
pub fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
