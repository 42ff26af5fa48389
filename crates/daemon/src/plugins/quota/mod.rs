//! The `quota` plugin: data caps per device or network (docs/caps.md). Every packet of a local
//! device adds to the usage of the caps covering it, in the period its time falls in; crossing
//! a threshold fires once per period: a log line, the trigger and the webhook. Usage and the
//! alerts fired persist in `quota_state`, so a restart neither forgets nor repeats.

mod store;
mod webhook;

use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use pmacct_core::caps::{self, Cap, Direction};
use pmacct_core::cidr::{LocalNets, Side};
use pmacct_core::config::{PluginConfig, QuotaConfig};
use pmacct_core::key::{Mac, RecordBatch};
use pmacct_core::layout::KeyLayout;

use super::trigger::Trigger;
use super::{Now, Plugin, PluginError};
use store::{Store, Usage};
use webhook::Webhook;

/// How often usage is saved between alerts (an alert saves at once).
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// One cap and its current period.
struct CapState {
    cap: Cap,
    id: String,
    period: Option<(i64, i64)>,
    used: u64,
    fired: Vec<u32>,
    dirty: bool,
}

pub struct QuotaPlugin {
    label: String,
    layout: KeyLayout,
    tz: TimeZone,
    nets: LocalNets,
    caps: Vec<CapState>,
    store: Store,
    trigger: Option<Trigger>,
    webhook: Option<Webhook>,
    last_save: Instant,
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Down => "down",
        Direction::Up => "up",
        Direction::Both => "both",
    }
}

fn iso(t: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| {
            ts.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

impl CapState {
    /// What the state file records of this cap's current period.
    fn usage(&self) -> Usage<'_> {
        Usage {
            cap: &self.id,
            name: &self.cap.name,
            device: self.cap.device(),
            direction: direction_name(self.cap.direction),
            limit: self.cap.limit,
            period: self.period.unwrap_or((0, 0)),
            used: self.used,
        }
    }
}

impl QuotaPlugin {
    pub fn new(config: &PluginConfig, q: &QuotaConfig) -> Result<QuotaPlugin, String> {
        let file = q.caps_file.display().to_string();
        let text = std::fs::read_to_string(&q.caps_file)
            .map_err(|e| format!("cannot read quota_map '{file}': {e}"))?;
        let caps = caps::parse(&file, &text)?;
        if caps.is_empty() {
            return Err(format!("quota_map '{file}' has no cap"));
        }
        let label = format!("{}/{}", config.name, config.kind);
        tracing::info!(
            "( {label} ): {} cap(s) from '{file}', state in '{}'",
            caps.len(),
            q.state.display()
        );
        Ok(QuotaPlugin {
            layout: config.key_layout(),
            tz: pmacct_core::bins::time_zone(config.timestamps_utc),
            nets: LocalNets::new(q.local.clone()),
            caps: caps
                .into_iter()
                .map(|cap| CapState {
                    id: cap.id(),
                    cap,
                    period: None,
                    used: 0,
                    fired: Vec::new(),
                    dirty: false,
                })
                .collect(),
            store: Store::open(&q.state)?,
            trigger: q
                .trigger_exec
                .as_deref()
                .map(|c| Trigger::new(c, &label, &config.trigger)),
            webhook: q.webhook.as_deref().map(|u| Webhook::start(u, &label)),
            label,
            last_save: Instant::now(),
        })
    }

    /// Moves cap `i` to the period holding `t` (saving the old one, loading the new one).
    fn enter_period(&mut self, i: usize, t: i64) {
        let inside = self.caps[i].period.is_some_and(|(s, e)| t >= s && t < e);
        if inside {
            return;
        }
        self.save(i);
        let Some(period) = self.caps[i].cap.period_of(t, &self.tz) else {
            return;
        };
        let (used, fired) = self
            .store
            .load(&self.caps[i].id, period.0)
            .unwrap_or_else(|e| {
                tracing::error!("( {} ): quota_state: {e}", self.label);
                (0, Vec::new())
            });
        let s = &mut self.caps[i];
        (s.period, s.used, s.fired, s.dirty) = (Some(period), used, fired, false);
    }

    fn save(&mut self, i: usize) {
        if !self.caps[i].dirty {
            return;
        }
        let now = crate::plugins::wall_now();
        let result = self.store.save(&self.caps[i].usage(), now);
        match result {
            Ok(()) => self.caps[i].dirty = false,
            Err(e) => tracing::error!("( {} ): quota_state: {e}", self.label),
        }
    }

    fn save_all(&mut self) {
        for i in 0..self.caps.len() {
            self.save(i);
        }
        self.last_save = Instant::now();
    }

    fn add(&mut self, i: usize, t: i64, bytes: u64) {
        self.enter_period(i, t);
        let s = &mut self.caps[i];
        s.used += bytes;
        s.dirty = true;
        let crossed: Vec<u32> = s
            .cap
            .alerts
            .iter()
            .copied()
            .filter(|a| !s.fired.contains(a))
            .filter(|a| u128::from(s.used) * 100 >= u128::from(*a) * u128::from(s.cap.limit))
            .collect();
        for a in crossed {
            self.fire(i, a, t);
        }
    }

    fn fire(&mut self, i: usize, threshold: u32, at: i64) {
        self.caps[i].fired.push(threshold);
        let usage = self.caps[i].usage();
        let saved = self.store.fired(&usage, threshold, at);
        match saved {
            Err(e) => tracing::error!("( {} ): quota_state: {e}", self.label),
            Ok(()) => self.caps[i].dirty = false,
        }
        let s = &self.caps[i];
        let (start, end) = s.period.unwrap_or((0, 0));
        let (start_iso, end_iso) = (iso(start, &self.tz), iso(end, &self.tz));
        let percent = s.used as f64 * 100.0 / s.cap.limit as f64;
        tracing::warn!(
            "( {} ): cap '{}' ({}, {}): {threshold}% reached at {}: {} of {} bytes ({percent:.1}%), period {start_iso} to {end_iso}",
            self.label,
            s.cap.name,
            s.cap.device(),
            direction_name(s.cap.direction),
            iso(at, &self.tz),
            s.used,
            s.cap.limit
        );
        let fields = [
            ("CAP", s.cap.name.clone()),
            ("DEVICE", s.cap.device()),
            ("USED_BYTES", s.used.to_string()),
            ("LIMIT_BYTES", s.cap.limit.to_string()),
            ("PERCENT", threshold.to_string()),
            ("USED_PERCENT", format!("{percent:.1}")),
            ("PERIOD_START", start_iso),
            ("PERIOD_END", end_iso),
            ("DIRECTION", direction_name(s.cap.direction).to_string()),
            ("AT", iso(at, &self.tz)),
        ];
        if let Some(w) = &self.webhook {
            let body: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| {
                    let value = match *k {
                        "USED_BYTES" | "LIMIT_BYTES" | "PERCENT" => v
                            .parse::<u64>()
                            .map_or(serde_json::Value::from(v.clone()), serde_json::Value::from),
                        _ => serde_json::Value::from(v.clone()),
                    };
                    (k.to_ascii_lowercase(), value)
                })
                .collect();
            w.send(serde_json::Value::Object(body).to_string());
        }
        if let Some(t) = &self.trigger {
            t.fire_env(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            );
        }
    }

    /// The local device of a packet, and whether it sent (upload) or received it.
    fn device_of(&self, key: &pmacct_core::key::FlowKey) -> Option<(std::net::IpAddr, Mac, bool)> {
        match self.nets.side(key.src_host.0, key.dst_host.0) {
            Side::Upload => Some((key.src_host.0, key.src_mac, true)),
            Side::Download => Some((key.dst_host.0, key.dst_mac, false)),
            _ => None,
        }
    }
}

impl Plugin for QuotaPlugin {
    fn on_records(&mut self, records: &mut RecordBatch, _now: Now) -> Result<(), PluginError> {
        let metas: Vec<i64> = records.meta().iter().map(|m| m.ts).collect();
        for ((words, counters), ts) in records.iter().zip(metas) {
            let key = self.layout.decode(words);
            let Some((ip, mac, upload)) = self.device_of(&key) else {
                continue;
            };
            for i in 0..self.caps.len() {
                let cap = &self.caps[i].cap;
                if cap.covers(ip, mac) && cap.counts(upload) {
                    self.add(i, ts, counters.bytes);
                }
            }
        }
        if self.last_save.elapsed() >= SAVE_EVERY {
            self.save_all();
        }
        Ok(())
    }

    fn on_tick(&mut self, _now: Now) -> Result<(), PluginError> {
        if self.last_save.elapsed() >= SAVE_EVERY {
            self.save_all();
        }
        Ok(())
    }

    fn on_flush(&mut self, _now: Now) -> Result<(), PluginError> {
        self.save_all();
        Ok(())
    }

    fn shutdown(&mut self, _now: Now) -> Result<(), PluginError> {
        self.save_all();
        if let Some(t) = &self.trigger {
            t.wait();
        }
        if let Some(w) = &mut self.webhook {
            w.finish();
        }
        Ok(())
    }
}
