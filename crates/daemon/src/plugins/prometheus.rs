//! The `prometheus` plugin: cumulative counters per key, served over HTTP in Prometheus text
//! format (docs/prometheus.md). Series are bounded: the top `prometheus_max_series` keys by
//! bytes, plus one `other` series carrying the rest exactly; idle series expire.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pmacct_core::config::{PluginConfig, PrometheusConfig};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::{Counters, RecordBatch};
use pmacct_core::primitive::Primitive;
use pmacct_core::table::AggregateTable;

use super::{Now, Plugin, PluginError};
use crate::metrics::escape;

/// Keys kept per series shown: beyond, new keys are counted in `other` directly.
const KEPT_PER_SERIES: u64 = 4;

struct State {
    table: AggregateTable,
    expire: Option<Duration>,
    last_expiry: Instant,
    /// Bytes of each key at the last expiry check (unchanged since: dropped).
    seen: HashMap<Vec<u64>, u64>,
    /// Counted into `other` besides the table's overflow (kept at zero: expired series end).
    expired: Counters,
}

pub struct PrometheusPlugin {
    state: Arc<Mutex<State>>,
}

/// Renders the plugin's series and the daemon's metrics.
struct Exposition {
    name: String,
    columns: Vec<Primitive>,
    format: RowFormat,
    max_series: usize,
}

impl Exposition {
    /// `{src_host="...",...,plugin="..."}`; `value(p)` gives a primitive's text.
    fn labels(&self, mut value: impl FnMut(Primitive, &mut String)) -> String {
        let mut l = String::from("{");
        let mut v = String::new();
        for p in &self.columns {
            v.clear();
            value(*p, &mut v);
            let _ = write!(
                l,
                "{}=\"{}\",",
                pmacct_core::format::tag_name(*p),
                escape(&v)
            );
        }
        let _ = write!(l, "plugin=\"{}\"}}", escape(&self.name));
        l
    }

    fn render(&self, state: &State) -> String {
        let rows = state.table.sorted_rows();
        let mut series: Vec<(Counters, String)> = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let (key, c) = rows.row(i);
            let labels = self.labels(|p, out| self.format.push_value(out, p, &key, &c));
            series.push((c, labels));
        }
        series.sort_by(|a, b| b.0.bytes.cmp(&a.0.bytes).then_with(|| a.1.cmp(&b.1)));
        let mut other = state.expired;
        other.packets += state.table.overflow_packets();
        other.bytes += state.table.overflow_bytes();
        let mut has_other = other != Counters::default();
        if series.len() > self.max_series {
            for (c, _) in series.drain(self.max_series..) {
                other.packets += c.packets;
                other.bytes += c.bytes;
                other.flows += c.flows;
            }
            has_other = true;
        }
        if has_other {
            series.push((other, self.labels(|_, out| out.push_str("other"))));
        }
        let mut out = String::with_capacity(series.len() * 3 * 96);
        for (metric, help, pick) in [
            (
                "pmacct_bytes_total",
                "Bytes per key of the plugin's aggregate.",
                0,
            ),
            (
                "pmacct_packets_total",
                "Packets per key of the plugin's aggregate.",
                1,
            ),
            (
                "pmacct_flows_total",
                "Flows per key of the plugin's aggregate.",
                2,
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for (c, labels) in &series {
                let v = [c.bytes, c.packets, c.flows][pick];
                let _ = writeln!(out, "{metric}{labels} {v}");
            }
        }
        out
    }
}

impl PrometheusPlugin {
    pub fn new(config: &PluginConfig, p: &PrometheusConfig) -> Result<PrometheusPlugin, String> {
        let layout = Arc::new(config.key_layout());
        let entry = (layout.words() as u64 * 8 + 64).max(1);
        let bound = (p.max_series as u64)
            .saturating_mul(KEPT_PER_SERIES)
            .saturating_mul(entry);
        let state = Arc::new(Mutex::new(State {
            table: AggregateTable::bounded(layout, bound),
            expire: (p.expire_secs > 0).then(|| Duration::from_secs(p.expire_secs)),
            last_expiry: Instant::now(),
            seen: HashMap::new(),
            expired: Counters::default(),
        }));
        let label = format!("{}/{}", config.name, config.kind);
        let mut format = RowFormat::new(Format::Csv, config.aggregate.columns.iter().copied());
        format.num_protos = config.num_protos;
        let exposition = Arc::new(Exposition {
            name: config.name.clone(),
            columns: config.aggregate.columns.iter().copied().collect(),
            format,
            max_series: p.max_series,
        });
        let shared = state.clone();
        let handler: crate::http::Handler = Arc::new(move |path: &str| {
            (path == "/metrics").then(|| {
                let mut body = {
                    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                    // Also here: reading a file, no packet or tick may come any more.
                    s.expire_idle();
                    exposition.render(&s)
                };
                body.push_str(&crate::metrics::render());
                ("text/plain; version=0.0.4", body)
            })
        });
        let bound_to = crate::http::serve(p.listen, &label, handler)
            .map_err(|e| format!("prometheus_listen: {e}"))?;
        tracing::info!(
            "( {label} ): serving http://{bound_to}/metrics (at most {} series per metric)",
            p.max_series
        );
        Ok(PrometheusPlugin { state })
    }

    fn expire_idle(&mut self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expire_idle();
    }
}

impl State {
    /// Drops the series unchanged since the last check: a counter that stopped; Prometheus
    /// sees the series end (and a later one start from 0, which `rate()` handles).
    fn expire_idle(&mut self) {
        let Some(every) = self.expire else {
            return;
        };
        if self.last_expiry.elapsed() < every {
            return;
        }
        self.last_expiry = Instant::now();
        let s = self;
        let rows = s.table.sorted_rows();
        let mut idle = Vec::new();
        let mut seen = HashMap::with_capacity(rows.len());
        for i in 0..rows.len() {
            let (key, c) = rows.packed(i);
            if s.seen.get(key) == Some(&c.bytes) {
                idle.push(rows.row(i).0);
            } else {
                seen.insert(key.to_vec(), c.bytes);
            }
        }
        for key in &idle {
            s.table.remove(key);
        }
        s.seen = seen;
    }
}

impl Plugin for PrometheusPlugin {
    fn on_records(&mut self, records: &mut RecordBatch, _now: Now) -> Result<(), PluginError> {
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.table.add_batch(records);
        }
        self.expire_idle();
        Ok(())
    }

    fn on_tick(&mut self, _now: Now) -> Result<(), PluginError> {
        self.expire_idle();
        Ok(())
    }

    fn shutdown(&mut self, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }
}
