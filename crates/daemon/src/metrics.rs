//! The daemon's own metrics in Prometheus text format (`pmacct_daemon_*`), served by a
//! `prometheus` plugin's endpoint and by `metrics_listen` alone.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};

use pmacct_wire::Malformed;

use crate::stats::{CoreStats, PluginStats};

struct Registry {
    core: Arc<CoreStats>,
    plugins: Vec<(String, Arc<PluginStats>)>,
}

static REGISTRY: OnceLock<Mutex<Option<Registry>>> = OnceLock::new();

/// Trigger runs that failed (exit status not 0, killed, or could not start), per plugin.
static TRIGGER_FAILURES: OnceLock<Mutex<std::collections::BTreeMap<String, u64>>> = OnceLock::new();

pub fn trigger_failed(plugin: &str) {
    let map = TRIGGER_FAILURES.get_or_init(Default::default);
    *map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(plugin.to_string())
        .or_insert(0) += 1;
}

/// Makes a run's counters visible to the endpoints.
pub fn register(core: Arc<CoreStats>, plugins: Vec<(String, Arc<PluginStats>)>) {
    let slot = REGISTRY.get_or_init(|| Mutex::new(None));
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Registry { core, plugins });
}

/// A label value, escaped as the exposition format wants.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, rows: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// The `pmacct_daemon_*` metrics (empty before the daemon has started its plugins).
/// nfacctd's counters.
fn flow_counters(out: &mut String, f: &crate::stats::FlowStats) {
    let one = |v: &std::sync::atomic::AtomicU64| vec![(String::new(), v.load(Relaxed))];
    for (name, help, value) in [
        (
            "pmacct_daemon_flow_datagrams_total",
            "Export datagrams received (denied ones included).",
            &f.datagrams,
        ),
        (
            "pmacct_daemon_flow_kernel_dropped_datagrams_total",
            "Datagrams the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL).",
            &f.kernel_dropped,
        ),
        (
            "pmacct_daemon_flow_denied_datagrams_total",
            "Datagrams from exporters nfacctd_allow_file does not list (dropped).",
            &f.denied,
        ),
        (
            "pmacct_daemon_flow_records_total",
            "Flow records decoded.",
            &f.records,
        ),
        (
            "pmacct_daemon_flow_sequence_gaps_total",
            "Sequence gaps seen in the exporters' datagrams.",
            &f.sequence_gaps,
        ),
        (
            "pmacct_daemon_flow_lost_total",
            "Units the sequence gaps lost (v5 flows, v9 datagrams, IPFIX records).",
            &f.lost,
        ),
        (
            "pmacct_daemon_flow_templates_refused_total",
            "Templates refused (an exporter's template limit reached).",
            &f.templates_refused,
        ),
        (
            "pmacct_daemon_flow_pending_dropped_total",
            "Data sets dropped because their template never came.",
            &f.pending_dropped,
        ),
        (
            "pmacct_daemon_flow_records_without_sampling_rate_total",
            "Flow records with no known sampling rate.",
            &f.records_without_sampling_rate,
        ),
        (
            "pmacct_daemon_flow_skipped_frames_total",
            "Frames of a capture file that are not export datagrams.",
            &f.skipped_frames,
        ),
    ] {
        counter(out, name, help, "counter", &one(value));
    }
    let malformed: Vec<(String, u64)> = pmacct_flow::Malformed::ALL
        .iter()
        .map(|m| {
            (
                format!("{{reason=\"{}\"}}", m.name()),
                f.malformed[m.index()].load(Relaxed),
            )
        })
        .collect();
    counter(
        out,
        "pmacct_daemon_flow_malformed_total",
        "Malformed datagrams, sets, templates and records, counted and skipped, by reason.",
        "counter",
        &malformed,
    );
}

/// sfacctd's counters.
fn sflow_counters(out: &mut String, s: &crate::stats::SflowStats) {
    let one = |v: &std::sync::atomic::AtomicU64| vec![(String::new(), v.load(Relaxed))];
    for (name, help, value) in [
        (
            "pmacct_daemon_sflow_discard_samples_total",
            "sFlow discarded-packet samples (format 5) received.",
            &s.discard_samples,
        ),
        (
            "pmacct_daemon_sflow_counter_samples_total",
            "sFlow counter samples received.",
            &s.counter_samples,
        ),
        (
            "pmacct_daemon_sflow_lost_samples_total",
            "sFlow flow samples the data sources' sequence numbers say were lost.",
            &s.lost_samples,
        ),
        (
            "pmacct_daemon_sflow_lost_counter_samples_total",
            "sFlow counter samples the data sources' sequence numbers say were lost.",
            &s.lost_counter_samples,
        ),
        (
            "pmacct_daemon_sflow_agent_dropped_samples_total",
            "Samples the agents said they dropped themselves (flow samples' drops).",
            &s.agent_drops,
        ),
    ] {
        counter(out, name, help, "counter", &one(value));
    }
}

pub fn render() -> String {
    let mut out = String::new();
    let Some(slot) = REGISTRY.get() else {
        return out;
    };
    let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = guard.as_ref() else {
        return out;
    };
    let c = &r.core;
    let one = |v: &std::sync::atomic::AtomicU64| vec![(String::new(), v.load(Relaxed))];
    counter(
        &mut out,
        "pmacct_daemon_received_packets_total",
        "Packets read from the inputs.",
        "counter",
        &one(&c.received),
    );
    counter(
        &mut out,
        "pmacct_daemon_kernel_dropped_packets_total",
        "Packets the kernel dropped before the capture read them.",
        "counter",
        &one(&c.kernel_dropped),
    );
    counter(
        &mut out,
        "pmacct_daemon_accounted_packets_total",
        "Packets decoded and handed to the plugins.",
        "counter",
        &one(&c.accounted),
    );
    counter(
        &mut out,
        "pmacct_daemon_non_ip_packets_total",
        "Frames without IP (not accounted unless aggregate_unknown_etype).",
        "counter",
        &one(&c.non_ip),
    );
    let malformed: Vec<(String, u64)> = Malformed::ALL
        .iter()
        .map(|m| {
            (
                format!("{{reason=\"{}\"}}", m.name()),
                c.malformed[m.index()].load(Relaxed),
            )
        })
        .collect();
    counter(
        &mut out,
        "pmacct_daemon_malformed_packets_total",
        "Packets counted and skipped as malformed, by reason.",
        "counter",
        &malformed,
    );
    let h = &c.hosts;
    for (name, help, kind, v) in [
        (
            "pmacct_daemon_names_learned_total",
            "Host names learned from DNS answers, TLS, HTTP and QUIC.",
            "counter",
            &h.names_learned,
        ),
        (
            "pmacct_daemon_names_refused_total",
            "Host names not kept because the name cache was at its bound (names_cache_entries).",
            "counter",
            &h.names_refused,
        ),
        (
            "pmacct_daemon_names_cached",
            "(client, server) names held.",
            "gauge",
            &h.names_cached,
        ),
        (
            "pmacct_daemon_dns_malformed_total",
            "DNS answers that did not parse (skipped).",
            "counter",
            &h.dns_malformed,
        ),
        (
            "pmacct_daemon_geoip_errors_total",
            "mmdb lookups that hit a broken part of a file (counted as unknown).",
            "counter",
            &h.geoip_errors,
        ),
    ] {
        counter(&mut out, name, help, kind, &one(v));
    }
    if c.flows.collecting.load(Relaxed) {
        flow_counters(&mut out, &c.flows);
    }
    if c.flows.sflow.enabled.load(Relaxed) {
        sflow_counters(&mut out, &c.flows.sflow);
        crate::collector::counters::render_metrics(&mut out);
    }
    let per = |f: fn(&PluginStats) -> u64| -> Vec<(String, u64)> {
        r.plugins
            .iter()
            .map(|(l, s)| (format!("{{plugin=\"{}\"}}", escape(l)), f(s)))
            .collect()
    };
    counter(
        &mut out,
        "pmacct_daemon_plugin_records_total",
        "Records handed to each plugin's queue.",
        "counter",
        &per(|s| s.records.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_plugin_dropped_records_total",
        "Records a full plugin queue could not take (live capture).",
        "counter",
        &per(|s| s.dropped.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_plugin_held_aggregates",
        "Aggregates held and not yet written (print, SQL).",
        "gauge",
        &per(|s| s.held.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_plugin_purges_total",
        "Purges written (print, SQL, InfluxDB).",
        "counter",
        &per(|s| s.purges.load(Relaxed)),
    );
    let failures: Vec<(String, u64)> = r
        .plugins
        .iter()
        .map(|(l, _)| {
            let n = TRIGGER_FAILURES
                .get()
                .and_then(|m| m.lock().ok().and_then(|m| m.get(l).copied()))
                .unwrap_or(0);
            (format!("{{plugin=\"{}\"}}", escape(l)), n)
        })
        .collect();
    counter(
        &mut out,
        "pmacct_daemon_trigger_failures_total",
        "Trigger runs that did not exit with 0 (failed, killed at the timeout, or could not start).",
        "counter",
        &failures,
    );
    let seconds = |v: u64| format!("{}.{:06}", v / 1_000_000, v % 1_000_000);
    for (name, help, kind, pick) in [
        (
            "pmacct_daemon_plugin_purge_seconds_total",
            "Time spent writing purges.",
            "counter",
            0,
        ),
        (
            "pmacct_daemon_plugin_last_purge_seconds",
            "How long the last purge took to write.",
            "gauge",
            1,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (l, s) in &r.plugins {
            let v = [
                s.purge_micros_total.load(Relaxed),
                s.last_purge_micros.load(Relaxed),
            ][pick];
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", escape(l), seconds(v));
        }
    }
    counter(
        &mut out,
        "pmacct_daemon_sql_write_retries_total",
        "SQL writes that failed and will be retried.",
        "counter",
        &per(|s| s.write_retries.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_sql_kept_rows",
        "SQL rows kept in memory while the database is unavailable.",
        "gauge",
        &per(|s| s.kept_rows.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_sql_spooled_rows",
        "SQL rows in the spool file.",
        "gauge",
        &per(|s| s.spooled_rows.load(Relaxed)),
    );
    counter(
        &mut out,
        "pmacct_daemon_broker_refused_messages_total",
        "Messages a broker refused for good (too large, invalid), dropped (amqp, kafka).",
        "counter",
        &per(|s| s.refused_messages.load(Relaxed)),
    );
    type Read = fn(&PluginStats) -> u64;
    let export: [(&str, &str, Read); 5] = [
        (
            "pmacct_daemon_export_flows_total",
            "Flow records exported (nfprobe).",
            |s| s.export.flows.load(Relaxed),
        ),
        (
            "pmacct_daemon_export_datagrams_total",
            "Export datagrams sent (nfprobe).",
            |s| s.export.datagrams.load(Relaxed),
        ),
        (
            "pmacct_daemon_export_send_errors_total",
            "Export datagrams a receiver did not take.",
            |s| s.export.send_errors.load(Relaxed),
        ),
        (
            "pmacct_daemon_export_forced_flows_total",
            "Flows ended early because the flow table was full (nfprobe_maxflows).",
            |s| s.export.forced.load(Relaxed),
        ),
        (
            "pmacct_daemon_export_unexportable_flows_total",
            "Flows the export version cannot carry (IPv6 in NetFlow v5).",
            |s| s.export.unexportable.load(Relaxed),
        ),
    ];
    for (name, help, value) in export {
        counter(&mut out, name, help, "counter", &per(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_counters_and_purge_times_are_exported() {
        let core = Arc::new(CoreStats::default());
        core.received.store(42, Relaxed);
        let p = Arc::new(PluginStats::default());
        p.records.store(7, Relaxed);
        p.record_purge(std::time::Duration::from_micros(1_500));
        p.record_purge(std::time::Duration::from_micros(2_000_250));
        register(core, vec![("metrics-test/print".into(), p)]);
        trigger_failed("metrics-test/print");
        let text = render();
        for line in [
            "pmacct_daemon_received_packets_total 42",
            "pmacct_daemon_plugin_records_total{plugin=\"metrics-test/print\"} 7",
            "pmacct_daemon_plugin_purges_total{plugin=\"metrics-test/print\"} 2",
            "pmacct_daemon_plugin_purge_seconds_total{plugin=\"metrics-test/print\"} 2.001750",
            "pmacct_daemon_plugin_last_purge_seconds{plugin=\"metrics-test/print\"} 2.000250",
            "# TYPE pmacct_daemon_plugin_last_purge_seconds gauge",
            "pmacct_daemon_trigger_failures_total{plugin=\"metrics-test/print\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
