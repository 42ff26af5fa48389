//! Counters shared by the inputs, the pipeline and the plugins, and the stats log line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pmacct_wire::Malformed;

/// What the capture side counted.
#[derive(Debug, Default)]
pub struct CoreStats {
    pub received: AtomicU64,
    pub kernel_dropped: AtomicU64,
    pub accounted: AtomicU64,
    pub non_ip: AtomicU64,
    pub truncated_ports: AtomicU64,
    pub fragments_orphaned: AtomicU64,
    pub malformed: [AtomicU64; Malformed::ALL.len()],
    /// The flow collector's counts (nfacctd).
    pub flows: FlowStats,
    /// Names and mmdb lookups (docs/names.md).
    pub hosts: HostStats,
}

/// What the name cache and the mmdb lookups counted.
#[derive(Debug, Default)]
pub struct HostStats {
    pub names_learned: AtomicU64,
    /// Names forgotten early to keep a cache at its bound.
    pub names_evicted: AtomicU64,
    /// Names not kept because the table of name texts was full.
    pub names_refused: AtomicU64,
    /// (client, server) names held, over the input threads.
    pub names_cached: AtomicU64,
    pub dns_malformed: AtomicU64,
    /// mmdb lookups that hit a broken part of a file (counted as unknown).
    pub geoip_errors: AtomicU64,
}

impl HostStats {
    /// Adds one input thread's counts (`cached`: the change in its entries).
    pub fn publish(&self, lookup: &mut crate::hosts::HostLookup, cached: &mut usize) {
        let (counts, now_cached) = lookup.take_name_counts();
        self.names_learned.fetch_add(counts.learned, Relaxed);
        self.names_evicted.fetch_add(counts.evicted, Relaxed);
        self.names_refused.fetch_add(counts.refused, Relaxed);
        self.dns_malformed.fetch_add(counts.malformed, Relaxed);
        self.geoip_errors.fetch_add(lookup.take_errors(), Relaxed);
        // A gauge summed over threads: each adds its own change.
        let (old, new) = (*cached as u64, now_cached as u64);
        if new >= old {
            self.names_cached.fetch_add(new - old, Relaxed);
        } else {
            self.names_cached.fetch_sub(old - new, Relaxed);
        }
        *cached = now_cached;
    }

    fn line(&self) -> String {
        let n = [
            self.names_learned.load(Relaxed),
            self.names_evicted.load(Relaxed),
            self.names_refused.load(Relaxed),
            self.names_cached.load(Relaxed),
            self.dns_malformed.load(Relaxed),
            self.geoip_errors.load(Relaxed),
        ];
        if n.iter().all(|v| *v == 0) {
            return String::new();
        }
        format!(
            " names_learned={} names_evicted={} names_refused={} names_cached={} dns_malformed={} geoip_errors={}",
            n[0], n[1], n[2], n[3], n[4], n[5]
        )
    }
}

/// What the flow collector counted (published by its input threads).
#[derive(Debug, Default)]
pub struct FlowStats {
    /// A collector input runs (the stats line and metrics are the collector's).
    pub collecting: std::sync::atomic::AtomicBool,
    pub datagrams: AtomicU64,
    /// Datagrams the kernel dropped because the socket's buffer was full (SO_RXQ_OVFL).
    pub kernel_dropped: AtomicU64,
    /// Datagrams from exporters the allow file does not list (dropped).
    pub denied: AtomicU64,
    /// Datagrams refused whole (their header unusable), and sets or records skipped, by
    /// reason ([`pmacct_flow::Malformed::index`]).
    pub malformed: [AtomicU64; pmacct_flow::Malformed::ALL.len()],
    pub records: AtomicU64,
    /// Units the exporters' sequence numbers say were lost (v5 flows, v9 datagrams, IPFIX
    /// records).
    pub lost: AtomicU64,
    /// Sequence gaps seen (each may lose several units).
    pub sequence_gaps: AtomicU64,
    pub templates_refused: AtomicU64,
    /// Data sets dropped because their template never came.
    pub pending_dropped: AtomicU64,
    pub records_without_sampling_rate: AtomicU64,
    /// Frames of a capture file that are not export datagrams (not UDP, another port).
    pub skipped_frames: AtomicU64,
    /// sfacctd's own counts (its stats line says these instead of NetFlow's).
    pub sflow: SflowStats,
}

/// What sfacctd counted beyond the datagrams and flow samples.
#[derive(Debug, Default)]
pub struct SflowStats {
    /// The collector reads sFlow.
    pub enabled: std::sync::atomic::AtomicBool,
    pub discard_samples: AtomicU64,
    pub counter_samples: AtomicU64,
    /// Flow and counter samples the data sources' sequence numbers say were lost.
    pub lost_samples: AtomicU64,
    pub lost_counter_samples: AtomicU64,
    /// Samples the agents said they dropped themselves.
    pub agent_drops: AtomicU64,
}

impl FlowStats {
    fn any(&self) -> bool {
        self.collecting.load(Relaxed)
    }

    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().map(|m| m.load(Relaxed)).sum()
    }

    pub fn line(&self) -> String {
        if self.sflow.enabled.load(Relaxed) {
            return self.sflow_line();
        }
        format!(
            "datagrams={} kernel_dropped_datagrams={} denied_datagrams={} malformed_datagrams={} flow_records={} lost_flows={} templates_refused={} pending_dropped={} records_without_sampling_rate={} skipped_frames={}",
            self.datagrams.load(Relaxed),
            self.kernel_dropped.load(Relaxed),
            self.denied.load(Relaxed),
            self.malformed_total(),
            self.records.load(Relaxed),
            self.lost.load(Relaxed),
            self.templates_refused.load(Relaxed),
            self.pending_dropped.load(Relaxed),
            self.records_without_sampling_rate.load(Relaxed),
            self.skipped_frames.load(Relaxed),
        )
    }
}

impl FlowStats {
    fn sflow_line(&self) -> String {
        let s = &self.sflow;
        format!(
            "datagrams={} kernel_dropped_datagrams={} denied_datagrams={} malformed_datagrams={} flow_samples={} lost_datagrams={} lost_samples={} agent_dropped_samples={} discard_samples={} counter_samples={} lost_counter_samples={} counter_lines_failed={} skipped_frames={}",
            self.datagrams.load(Relaxed),
            self.kernel_dropped.load(Relaxed),
            self.denied.load(Relaxed),
            self.malformed_total(),
            self.records.load(Relaxed),
            self.lost.load(Relaxed),
            s.lost_samples.load(Relaxed),
            s.agent_drops.load(Relaxed),
            s.discard_samples.load(Relaxed),
            s.counter_samples.load(Relaxed),
            s.lost_counter_samples.load(Relaxed),
            crate::collector::counters::LINES_FAILED.load(Relaxed),
            self.skipped_frames.load(Relaxed),
        )
    }
}

/// What one plugin's lane counted.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Records handed to the plugin's queue.
    pub records: AtomicU64,
    /// Records dropped because the queue was full (live capture with `drop`).
    pub dropped: AtomicU64,
    /// SQL: failed writes that will be retried.
    pub write_retries: AtomicU64,
    /// SQL: rows (per key and bin) waiting in memory for the database.
    pub kept_rows: AtomicU64,
    /// SQL: rows waiting in the spool file.
    pub spooled_rows: AtomicU64,
    /// amqp, kafka: messages the broker refused for good (too large, invalid), dropped.
    pub refused_messages: AtomicU64,
    /// Aggregates in the plugin's tables and not yet written (print, SQL).
    pub held: AtomicU64,
    /// Purges written, their total and last duration (microseconds).
    pub purges: AtomicU64,
    pub purge_micros_total: AtomicU64,
    pub last_purge_micros: AtomicU64,
    /// Flow exporters (nfprobe).
    pub export: ExportCounts,
}

/// What a flow-exporting plugin (nfprobe) has sent.
#[derive(Debug, Default)]
pub struct ExportCounts {
    /// Flow records sent.
    pub flows: AtomicU64,
    pub datagrams: AtomicU64,
    /// Datagrams a receiver did not take (send errors), per receiver.
    pub send_errors: AtomicU64,
    /// Flows ended early because the flow table was full (nfprobe_maxflows).
    pub forced: AtomicU64,
    /// Flows the export version cannot carry (IPv6 in NetFlow v5), not sent.
    pub unexportable: AtomicU64,
}

/// Counts kept by one input thread and published in bulk (no shared writes per packet).
#[derive(Debug, Default, Clone)]
pub struct LocalCounts {
    pub received: u64,
    pub accounted: u64,
    pub non_ip: u64,
    pub truncated_ports: u64,
    pub malformed: [u64; Malformed::ALL.len()],
}

impl LocalCounts {
    pub fn publish(&mut self, to: &CoreStats) {
        to.received.fetch_add(self.received, Relaxed);
        to.accounted.fetch_add(self.accounted, Relaxed);
        to.non_ip.fetch_add(self.non_ip, Relaxed);
        to.truncated_ports.fetch_add(self.truncated_ports, Relaxed);
        for (i, n) in self.malformed.iter().enumerate() {
            to.malformed[i].fetch_add(*n, Relaxed);
        }
        *self = LocalCounts::default();
    }
}

impl CoreStats {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().map(|m| m.load(Relaxed)).sum()
    }

    /// One line: `received=… kernel_dropped=… accounted=… non_ip=… malformed=… (reason=n …)`;
    /// a flow collector's counts instead when it has any.
    pub fn line(&self) -> String {
        if self.flows.any() {
            return self.flows.line();
        }
        let reasons: Vec<String> = Malformed::ALL
            .iter()
            .filter_map(|m| {
                let n = self.malformed[m.index()].load(Relaxed);
                (n > 0).then(|| format!("{}={n}", m.name()))
            })
            .collect();
        format!(
            "received_packets={} kernel_dropped_packets={} accounted_packets={} non_ip_packets={} truncated_ports={} orphan_fragments={} malformed_packets={}{}{}",
            self.received.load(Relaxed),
            self.kernel_dropped.load(Relaxed),
            self.accounted.load(Relaxed),
            self.non_ip.load(Relaxed),
            self.truncated_ports.load(Relaxed),
            self.fragments_orphaned.load(Relaxed),
            self.malformed_total(),
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(" ")) },
            self.hosts.line(),
        )
    }
}

impl PluginStats {
    pub fn record_purge(&self, took: std::time::Duration) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.purges.fetch_add(1, Relaxed);
        self.purge_micros_total.fetch_add(us, Relaxed);
        self.last_purge_micros.store(us, Relaxed);
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "records={} dropped_records={}",
            self.records.load(Relaxed),
            self.dropped.load(Relaxed)
        );
        let sql = [
            self.write_retries.load(Relaxed),
            self.kept_rows.load(Relaxed),
            self.spooled_rows.load(Relaxed),
        ];
        if sql.iter().any(|n| *n > 0) {
            line.push_str(&format!(
                " write_retries={} kept_rows={} spooled_rows={}",
                sql[0], sql[1], sql[2]
            ));
        }
        let refused = self.refused_messages.load(Relaxed);
        if refused > 0 {
            line.push_str(&format!(" refused_messages={refused}"));
        }
        let e = &self.export;
        let export = [
            e.flows.load(Relaxed),
            e.datagrams.load(Relaxed),
            e.send_errors.load(Relaxed),
            e.forced.load(Relaxed),
            e.unexportable.load(Relaxed),
        ];
        if export.iter().any(|n| *n > 0) {
            line.push_str(&format!(
                " exported_flows={} export_datagrams={} send_errors={} forced_flows={} unexportable_flows={}",
                export[0], export[1], export[2], export[3], export[4]
            ));
        }
        line
    }
}
