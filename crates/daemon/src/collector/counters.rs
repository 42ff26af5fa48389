//! sfacctd's counter samples: streamed to `sfacctd_counter_file` as pmacct's JSON lines (one
//! file per agent, `$peer_src_ip` in the name; SIGHUP reopens them), and the latest interface
//! counters of every agent and ifIndex kept for Prometheus (`pmacct_sflow_interface_*` on the
//! metrics endpoint).
//!
//! Promises: a file that cannot be written is logged once per path and counted
//! (`counter_lines_failed`), never blocks or stops the collector; the files open at once are
//! bounded ([`MAX_OPEN_FILES`]) and so is the table of interfaces ([`MAX_INTERFACES`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use pmacct_core::key::Timestamp;
use pmacct_flow::{CounterRecord, InterfaceCounters, SflowCounters};

/// Files kept open at once; past it every file is closed and reopened on its next line.
pub const MAX_OPEN_FILES: usize = 1024;
/// Interfaces (agent, ifIndex) whose counters are kept for the metrics endpoint.
pub const MAX_INTERFACES: usize = 65536;

/// Set on SIGHUP: the counter files are closed and reopened on their next line.
static REOPEN: AtomicBool = AtomicBool::new(false);
/// Lines that could not be written.
pub static LINES_FAILED: AtomicU64 = AtomicU64::new(0);

pub fn reopen() {
    REOPEN.store(true, Relaxed);
}

/// An agent's address as a file name part: `192_0_2_1`, `2001_db8__1`.
fn file_part(agent: IpAddr) -> String {
    agent.to_string().replace(['.', ':'], "_")
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in local time, as pmacct's counter log writes it.
fn local_time(t: Timestamp) -> String {
    jiff::Timestamp::new(t.secs, (t.micros as i32).saturating_mul(1000))
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        })
        .unwrap_or_default()
}

/// The JSON lines of `sfacctd_counter_file`.
pub struct CounterLog {
    template: String,
    open: HashMap<PathBuf, std::io::BufWriter<std::fs::File>>,
    failed: HashSet<PathBuf>,
    /// The line sequence number, across files (pmacct's `seq`).
    seq: u64,
    proc_name: String,
}

impl CounterLog {
    pub fn new(template: &std::path::Path, proc_name: &str) -> Self {
        CounterLog {
            template: template.to_string_lossy().into_owned(),
            open: HashMap::new(),
            failed: HashSet::new(),
            seq: 0,
            proc_name: proc_name.to_string(),
        }
    }

    /// Writes the lines of one counter sample that arrived at `arrival`.
    pub fn write(&mut self, c: &SflowCounters, arrival: Timestamp) {
        if REOPEN.swap(false, Relaxed) {
            self.close_all();
            tracing::info!(
                "( {}/core ): SIGHUP: sfacctd_counter_file files reopened",
                self.proc_name
            );
        }
        let agent = c.header.agent;
        let path = PathBuf::from(self.template.replace("$peer_src_ip", &file_part(agent)));
        let time = local_time(arrival);
        let mut text = String::new();
        if !self.open.contains_key(&path) {
            let _ = writeln!(
                text,
                "{{\"seq\": {}, \"timestamp\": \"{time}\", \"peer_src_ip\": \"{agent}\", \"event_type\": \"log_init\"}}",
                self.seq
            );
            self.seq += 1;
        }
        for r in &c.sample.records {
            self.line(&mut text, c, r, &time);
        }
        self.append(path, &text, c.sample.records.len() as u64);
    }

    fn line(&mut self, text: &mut String, c: &SflowCounters, r: &CounterRecord, time: &str) {
        let _ = write!(
            text,
            "{{\"seq\": {}, \"timestamp\": \"{time}\", \"peer_ip_src\": \"{}\", \"event_type\": \"log\", \"source_id_index\": {}, \"sflow_seq\": {}, \"sflow_cnt_seq\": {}",
            self.seq, c.header.agent, c.sample.source.index, c.header.seqno, c.sample.seqno
        );
        self.seq += 1;
        match (r.kind(), r) {
            (Some(kind), _) => {
                let _ = write!(text, ", \"sf_cnt_type\": \"{kind}\"");
                for (name, v) in r.values() {
                    let _ = write!(text, ", \"{name}\": {v}");
                }
            }
            (None, CounterRecord::Other(format)) => {
                let _ = write!(text, ", \"sf_cnt_format\": {format}");
            }
            (None, _) => {}
        }
        text.push_str("}\n");
    }

    fn append(&mut self, path: PathBuf, text: &str, lines: u64) {
        if !self.open.contains_key(&path) {
            if self.open.len() >= MAX_OPEN_FILES {
                self.close_all();
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path);
            match file {
                Ok(f) => {
                    self.failed.remove(&path);
                    self.open.insert(path.clone(), std::io::BufWriter::new(f));
                }
                Err(e) => return self.failed(path, &e, lines),
            }
        }
        let Some(w) = self.open.get_mut(&path) else {
            return;
        };
        // One write and flush per sample: a reader of the file sees whole lines.
        if let Err(e) = w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
            self.open.remove(&path);
            self.failed(path, &e, lines);
        }
    }

    fn failed(&mut self, path: PathBuf, e: &std::io::Error, lines: u64) {
        LINES_FAILED.fetch_add(lines, Relaxed);
        if self.failed.len() < MAX_OPEN_FILES && !self.failed.contains(&path) {
            tracing::error!(
                "( {}/core ): sfacctd_counter_file '{}': {e}; its counter lines are dropped (counted) until it can be written",
                self.proc_name,
                path.display()
            );
            self.failed.insert(path);
        }
    }

    fn close_all(&mut self) {
        for (_, mut w) in self.open.drain() {
            let _ = w.flush();
        }
    }
}

impl Drop for CounterLog {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// The latest generic interface counters per agent and ifIndex.
type Interfaces = BTreeMap<(IpAddr, u32), InterfaceCounters>;

static INTERFACES: OnceLock<Mutex<Interfaces>> = OnceLock::new();
/// Interfaces not kept because [`MAX_INTERFACES`] are.
static INTERFACES_REFUSED: AtomicU64 = AtomicU64::new(0);

/// Keeps a counter sample's interface counters for the metrics endpoint.
pub fn keep(c: &SflowCounters) {
    let Some(i) = c.sample.interface() else {
        return;
    };
    let table = INTERFACES.get_or_init(Default::default);
    let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
    let key = (c.header.agent, i.if_index);
    if t.len() >= MAX_INTERFACES && !t.contains_key(&key) {
        INTERFACES_REFUSED.fetch_add(1, Relaxed);
        return;
    }
    t.insert(key, *i);
}

/// The `pmacct_sflow_interface_*` metrics (nothing before the first counter sample).
pub fn render_metrics(out: &mut String) {
    let Some(table) = INTERFACES.get() else {
        return;
    };
    let t = table.lock().unwrap_or_else(|e| e.into_inner());
    type Field = fn(&InterfaceCounters) -> u64;
    let metrics: [(&str, &str, &str, Field); 9] = [
        ("in_octets_total", "counter", "ifInOctets", |i| i.in_octets),
        ("out_octets_total", "counter", "ifOutOctets", |i| {
            i.out_octets
        }),
        ("in_errors_total", "counter", "ifInErrors", |i| {
            u64::from(i.in_errors)
        }),
        ("out_errors_total", "counter", "ifOutErrors", |i| {
            u64::from(i.out_errors)
        }),
        ("in_discards_total", "counter", "ifInDiscards", |i| {
            u64::from(i.in_discards)
        }),
        ("out_discards_total", "counter", "ifOutDiscards", |i| {
            u64::from(i.out_discards)
        }),
        (
            "in_unicast_packets_total",
            "counter",
            "ifInUcastPkts",
            |i| u64::from(i.in_unicast),
        ),
        (
            "out_unicast_packets_total",
            "counter",
            "ifOutUcastPkts",
            |i| u64::from(i.out_unicast),
        ),
        ("speed_bits_per_second", "gauge", "ifSpeed", |i| i.if_speed),
    ];
    for (name, kind, mib, value) in metrics {
        let _ = writeln!(
            out,
            "# HELP pmacct_sflow_interface_{name} {mib} of the interface, from the agent's latest sFlow counter sample.\n# TYPE pmacct_sflow_interface_{name} {kind}"
        );
        for ((agent, index), i) in t.iter() {
            let _ = writeln!(
                out,
                "pmacct_sflow_interface_{name}{{agent=\"{agent}\",ifindex=\"{index}\"}} {}",
                value(i)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP pmacct_sflow_interface_up 1 when the interface is operationally up (ifStatus bit 1).\n# TYPE pmacct_sflow_interface_up gauge"
    );
    for ((agent, index), i) in t.iter() {
        let _ = writeln!(
            out,
            "pmacct_sflow_interface_up{{agent=\"{agent}\",ifindex=\"{index}\"}} {}",
            (i.if_status >> 1) & 1
        );
    }
    let _ = writeln!(
        out,
        "# HELP pmacct_sflow_interfaces_refused_total Interfaces whose counters are not kept ({MAX_INTERFACES} are).\n# TYPE pmacct_sflow_interfaces_refused_total counter\npmacct_sflow_interfaces_refused_total {}",
        INTERFACES_REFUSED.load(Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmacct_flow::{CounterSample, DataSource, SflowHeader, VlanCounters};

    fn sample(agent: &str, records: Vec<CounterRecord>) -> SflowCounters {
        SflowCounters {
            header: SflowHeader {
                agent: agent.parse().expect("ip"),
                sub_agent: 0,
                seqno: 77,
                uptime_ms: 0,
                samples: 1,
            },
            sample: CounterSample {
                seqno: 5,
                source: DataSource { kind: 0, index: 3 },
                records,
                malformed_records: 0,
            },
        }
    }

    #[test]
    fn lines_as_pmacct_writes_them_one_file_per_agent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let template = dir.path().join("c-$peer_src_ip.json");
        let mut log = CounterLog::new(&template, "default");
        let iface = InterfaceCounters {
            if_index: 3,
            in_octets: 1000,
            ..InterfaceCounters::default()
        };
        let vlan = VlanCounters {
            vlan_id: 20,
            octets: 9,
            ..VlanCounters::default()
        };
        let t = Timestamp {
            secs: 1_700_000_000,
            micros: 12,
        };
        log.write(
            &sample(
                "192.0.2.1",
                vec![CounterRecord::Interface(iface), CounterRecord::Other(2001)],
            ),
            t,
        );
        log.write(&sample("2001:db8::1", vec![CounterRecord::Vlan(vlan)]), t);
        log.write(&sample("192.0.2.1", vec![]), t);
        drop(log);
        let time = local_time(t);
        assert!(time.ends_with(".000012"), "{time}");
        let v4 = std::fs::read_to_string(dir.path().join("c-192_0_2_1.json")).expect("v4 file");
        let lines: Vec<&str> = v4.lines().collect();
        assert_eq!(lines.len(), 3, "{v4}");
        assert_eq!(
            lines[0],
            format!("{{\"seq\": 0, \"timestamp\": \"{time}\", \"peer_src_ip\": \"192.0.2.1\", \"event_type\": \"log_init\"}}")
        );
        let generic: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(generic["seq"], 1);
        assert_eq!(generic["sf_cnt_type"], "sflow_cnt_generic");
        assert_eq!(generic["ifInOctets"], 1000);
        assert_eq!(
            (
                generic["sflow_seq"].as_u64(),
                generic["sflow_cnt_seq"].as_u64()
            ),
            (Some(77), Some(5))
        );
        let other: serde_json::Value = serde_json::from_str(lines[2]).expect("json");
        assert_eq!(
            (other["seq"].as_u64(), other["sf_cnt_format"].as_u64()),
            (Some(2), Some(2001))
        );
        let v6 = std::fs::read_to_string(dir.path().join("c-2001_db8__1.json")).expect("v6 file");
        let lines: Vec<serde_json::Value> = v6
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[1]["seq"].as_u64(), lines[1]["vlan"].as_u64()),
            (Some(4), Some(20))
        );
        assert_eq!(lines[1]["octets"], 9);
    }

    #[test]
    fn an_unwritable_file_is_counted_not_fatal() {
        let before = LINES_FAILED.load(Relaxed);
        let mut log = CounterLog::new(
            std::path::Path::new("/nonexistent/dir/c-$peer_src_ip"),
            "default",
        );
        let s = sample(
            "192.0.2.1",
            vec![CounterRecord::Other(7), CounterRecord::Other(8)],
        );
        log.write(&s, Timestamp::default());
        assert!(LINES_FAILED.load(Relaxed) >= before + 2);
    }

    #[test]
    fn interface_metrics_per_agent_and_ifindex() {
        let iface = InterfaceCounters {
            if_index: 7,
            in_octets: 123,
            out_errors: 4,
            if_status: 3,
            if_speed: 1_000_000_000,
            ..InterfaceCounters::default()
        };
        keep(&sample(
            "198.51.100.7",
            vec![CounterRecord::Interface(iface)],
        ));
        let mut out = String::new();
        render_metrics(&mut out);
        for line in [
            "pmacct_sflow_interface_in_octets_total{agent=\"198.51.100.7\",ifindex=\"7\"} 123",
            "pmacct_sflow_interface_out_errors_total{agent=\"198.51.100.7\",ifindex=\"7\"} 4",
            "pmacct_sflow_interface_speed_bits_per_second{agent=\"198.51.100.7\",ifindex=\"7\"} 1000000000",
            "pmacct_sflow_interface_up{agent=\"198.51.100.7\",ifindex=\"7\"} 1",
            "# TYPE pmacct_sflow_interface_in_octets_total counter",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
