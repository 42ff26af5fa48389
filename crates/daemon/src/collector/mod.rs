//! nfacctd's input: NetFlow v5/v9 and IPFIX export datagrams, from a UDP socket or a capture
//! file of them, decoded by [`pmacct_flow`] into flow records, each keyed for every plugin
//! that takes it, through the same lanes, batches and plugins as captured packets.
//!
//! Promises: every datagram is decoded or counted (malformed, skipped frame); every record is
//! accounted by the plugins whose filter passes it; a record's time is its flow's start
//! (`nfacctd_time_new`: its arrival), so its time bin is where the traffic happened.

pub mod counters;
pub mod maps;
pub mod records;
pub mod sources;
pub mod udp;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use pmacct_core::flowmaps::{AllowList, SamplingMap};
use pmacct_core::key::Tags;
use pmacct_flow::{Collector, CollectorStats, FlowRecord, Limits};
use pmacct_wire::LinkType;

use crate::input::InputError;
use crate::pipeline::{Lane, StopFlag, FLUSH_INTERVAL};
use crate::plugins::PluginMsg;
use crate::stats::CoreStats;
use crate::tagging::Tagger;
pub use maps::FlowMaps;
use maps::View;
pub use records::FlowClock;
pub use sources::{DatagramFile, DatagramSource, NextDatagram};
pub use udp::UdpSource;

/// Longest a stopping collector reads on for datagrams the kernel already received.
const STOP_DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// How one collector input turns records into plugin records.
#[derive(Clone, Debug)]
pub struct FlowSettings {
    pub clock: FlowClock,
    /// `nfacctd_templates_file`: templates read at start and written at exit.
    pub templates_file: Option<std::path::PathBuf>,
    pub proc_name: String,
    /// `nfacctd_allow_file`, `sampling_map`.
    pub maps: FlowMaps,
    /// Log sequence gaps (`nfacctd_disable_checks` turns the lines off; gaps are counted).
    pub log_gaps: bool,
    /// sfacctd: the datagrams are sFlow v5 (else NetFlow v5/v9 and IPFIX).
    pub sflow: bool,
    /// sfacctd: `sfacctd_counter_file`, where counter samples are written.
    pub counter_file: Option<std::path::PathBuf>,
    /// `decode_vxlan`: sampled frames that are VXLAN are read from their inner frame.
    pub decode_vxlan: bool,
    /// `nfacctd_ext_sampling_rate`: the rate renormalization uses instead of the record's.
    pub ext_sampling_rate: Option<u32>,
}

/// At most this many gap lines per minute; the rest are summed into one line.
const GAP_LINES_PER_MINUTE: u32 = 10;

/// Sequence gap log lines, bounded so that a lossy exporter cannot flood the log.
struct GapLog {
    window: Instant,
    logged: u32,
    suppressed: u64,
}

impl GapLog {
    fn seen(
        &mut self,
        settings: &FlowSettings,
        exporter: std::net::IpAddr,
        info: &pmacct_flow::DatagramInfo,
    ) {
        if !settings.log_gaps {
            return;
        }
        let name = &settings.proc_name;
        if self.window.elapsed() >= std::time::Duration::from_secs(60) {
            if self.suppressed > 0 {
                tracing::warn!(
                    "( {name}/core ): {} more sequence gaps in the last minute not logged (all counted: lost_flows)",
                    self.suppressed
                );
            }
            *self = GapLog {
                window: Instant::now(),
                logged: 0,
                suppressed: 0,
            };
        }
        if self.logged >= GAP_LINES_PER_MINUTE {
            self.suppressed += 1;
            return;
        }
        self.logged += 1;
        if settings.sflow {
            tracing::warn!(
                "( {name}/core ): expecting sFlow datagram '{}' but received '{}' from {exporter} (sub-agent {}): {} datagrams lost",
                info.seqno.wrapping_sub(info.lost as u32),
                info.seqno,
                info.source_id,
                info.lost
            );
            return;
        }
        let unit = match info.version {
            5 => "flows",
            9 => "datagrams",
            _ => "records",
        };
        tracing::warn!(
            "( {name}/core ): expecting flow '{}' but received '{}' agent={exporter} version={} source_id={}: {} {unit} lost",
            info.seqno.wrapping_sub(info.lost as u32),
            info.seqno,
            info.version,
            info.source_id,
            info.lost
        );
    }
}

/// A plugin fed datagrams (tee): its end of the queue. A datagram is handed over before it is
/// decoded; reading a file blocks on a full queue, a live socket drops and counts.
#[derive(Clone, Debug)]
pub struct Tap {
    pub tx: crossbeam_channel::Sender<PluginMsg>,
    pub policy: pmacct_core::config::QueuePolicy,
    pub stats: Arc<crate::stats::PluginStats>,
}

impl Tap {
    fn offer(&self, from: std::net::SocketAddr, data: &[u8], now: i64) {
        let msg = PluginMsg::Datagram {
            from,
            data: data.to_vec(),
            now,
        };
        let taken = match self.policy {
            pmacct_core::config::QueuePolicy::Block => self.tx.send(msg).is_ok(),
            pmacct_core::config::QueuePolicy::Drop => self.tx.try_send(msg).is_ok(),
        };
        let counter = if taken {
            &self.stats.records
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(1, Relaxed);
    }
}

/// Exporters whose first refused datagram is logged (later ones are only counted).
const DENIED_LOGGED_MAX: usize = 1024;

/// Runs one collector input to its end (or until `stop`).
pub struct FlowDispatcher {
    lanes: Vec<Lane>,
    collector: Collector,
    records: Vec<FlowRecord>,
    /// sFlow counter samples of the datagram being read.
    counters: Vec<pmacct_flow::SflowCounters>,
    counter_log: Option<counters::CounterLog>,
    header: Vec<u8>,
    /// The key a lane's plugin steps change (kept: no new key per record and lane).
    lane_key: pmacct_core::key::FlowKey,
    stats: Arc<CoreStats>,
    settings: FlowSettings,
    /// The collector's counts when last published.
    published: CollectorStats,
    datagrams: u64,
    skipped: u64,
    warned_unsampled: bool,
    /// The custom primitives' value table was found full (logged once).
    warned_custom_full: bool,
    /// The pre_tag_map, when there is one.
    tagger: Option<Tagger>,
    allow: Option<View<AllowList>>,
    sampling: Option<View<SamplingMap>>,
    gaps: GapLog,
    /// Datagrams refused by the allow file since the last publish; exporters logged.
    denied: u64,
    denied_logged: std::collections::HashSet<std::net::IpAddr>,
    taps: Vec<Tap>,
    /// mmdb lookups, when a plugin needs them.
    hosts: Option<crate::hosts::HostLookup>,
}

impl FlowDispatcher {
    pub fn new(
        lanes: Vec<Lane>,
        stats: Arc<CoreStats>,
        settings: FlowSettings,
        tagger: Option<Tagger>,
    ) -> Self {
        let mut collector = Collector::new(Limits::default());
        collector.keep_fields(records::custom_fields());
        if let Some(path) = &settings.templates_file {
            load_templates(&mut collector, path, &settings.proc_name);
        }
        FlowDispatcher {
            lanes,
            published: collector.stats().clone(),
            collector,
            records: Vec::with_capacity(64),
            counters: Vec::new(),
            counter_log: settings
                .counter_file
                .as_deref()
                .map(|f| counters::CounterLog::new(f, &settings.proc_name)),
            header: Vec::with_capacity(64),
            lane_key: Default::default(),
            stats,
            datagrams: 0,
            skipped: 0,
            warned_unsampled: false,
            warned_custom_full: false,
            tagger,
            allow: settings.maps.allow.as_ref().map(|a| a.view()),
            sampling: settings.maps.sampling.as_ref().map(|s| s.view()),
            denied: 0,
            denied_logged: Default::default(),
            taps: Vec::new(),
            hosts: None,
            gaps: GapLog {
                window: Instant::now(),
                logged: 0,
                suppressed: 0,
            },
            settings,
        }
    }

    /// Looks up what plugins aggregate of each record's addresses (countries, AS numbers).
    pub fn with_hosts(mut self, hosts: Option<crate::hosts::HostLookup>) -> Self {
        self.hosts = hosts;
        self
    }

    /// The plugins fed datagrams (tee).
    pub fn with_taps(mut self, taps: Vec<Tap>) -> Self {
        self.taps = taps;
        self
    }

    /// Whether anything needs the datagrams decoded: plugins of records, the counter file.
    fn decodes(&self) -> bool {
        !self.lanes.is_empty() || self.counter_log.is_some()
    }

    /// Reads `source` until its end or `stop`; returns the input error that ended it, if any.
    pub fn run(
        &mut self,
        source: &mut dyn DatagramSource,
        stop: &StopFlag,
    ) -> Result<(), InputError> {
        let live = source.is_live();
        let mut last_tick = Instant::now();
        // After a stop, a socket is read on until it is idle (what the kernel already received
        // is accounted), for at most STOP_DRAIN_MAX; a file ends at once.
        let mut stopping: Option<Instant> = None;
        let result = loop {
            if stop.is_requested() {
                let since = *stopping.get_or_insert_with(Instant::now);
                if !live || since.elapsed() >= STOP_DRAIN_MAX {
                    break Ok(());
                }
            }
            match source.next_datagram() {
                Ok(NextDatagram::Datagram(d)) if !allowed(&mut self.allow, d.exporter) => {
                    self.datagrams += 1;
                    self.deny(d.exporter);
                }
                Ok(NextDatagram::Datagram(d)) => {
                    self.datagrams += 1;
                    let from = std::net::SocketAddr::new(d.exporter, d.port);
                    for tap in &self.taps {
                        tap.offer(from, d.data, d.arrival.secs);
                    }
                    if !self.decodes() {
                        if self.datagrams.is_multiple_of(256) {
                            self.publish(source.kernel_drops());
                        }
                        continue;
                    }
                    let decoded = match self.settings.sflow {
                        true => self.collector.decode_sflow(
                            d.data,
                            &mut self.records,
                            &mut self.counters,
                        ),
                        false => self.collector.decode(
                            d.exporter,
                            d.data,
                            d.arrival.secs,
                            &mut self.records,
                        ),
                    };
                    match decoded {
                        Ok(info) if info.lost > 0 => {
                            self.gaps.seen(&self.settings, d.exporter, &info)
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!("datagram from {}: {e}", d.exporter),
                    }
                    let arrival = d.arrival;
                    self.counter_samples(arrival);
                    self.dispatch_records(arrival);
                    if self.datagrams.is_multiple_of(256) {
                        self.publish(source.kernel_drops());
                    }
                }
                Ok(NextDatagram::Skipped) => self.skipped += 1,
                Ok(NextDatagram::Idle) if stopping.is_some() => break Ok(()),
                Ok(NextDatagram::Idle) => {
                    self.publish(source.kernel_drops());
                    self.collector.expire(crate::plugins::wall_now());
                    self.tick_all();
                    last_tick = Instant::now();
                    continue;
                }
                Ok(NextDatagram::End) => break Ok(()),
                Err(e) => break Err(e),
            }
            if live && last_tick.elapsed() >= FLUSH_INTERVAL {
                self.tick_all();
                last_tick = Instant::now();
            }
        };
        for lane in &mut self.lanes {
            lane.out.flush();
            if !live && result.is_ok() {
                let _ = lane.out.tx.send(PluginMsg::InputEnded {
                    source: source.name().to_string(),
                });
            }
        }
        self.publish(source.kernel_drops());
        if let Some(path) = &self.settings.templates_file {
            save_templates(&self.collector, path, &self.settings.proc_name);
        }
        result
    }

    /// Counts a datagram the allow file refuses; its exporter's first is logged.
    fn deny(&mut self, exporter: std::net::IpAddr) {
        self.denied += 1;
        if self.denied_logged.len() < DENIED_LOGGED_MAX && self.denied_logged.insert(exporter) {
            tracing::warn!(
                "( {}/core ): datagrams from {exporter} dropped: not in nfacctd_allow_file (counted as denied_datagrams)",
                self.settings.proc_name
            );
        }
    }

    /// Hands the datagram's counter samples to the counter file and the metrics.
    fn counter_samples(&mut self, arrival: pmacct_core::key::Timestamp) {
        for c in self.counters.drain(..) {
            counters::keep(&c);
            if let Some(log) = &mut self.counter_log {
                log.write(&c, arrival);
            }
        }
    }

    fn tick_all(&mut self) {
        let now = crate::plugins::wall_now();
        for lane in &mut self.lanes {
            lane.out.tick(now);
        }
    }

    /// Hands the decoded records to the lanes whose filters take them.
    fn dispatch_records(&mut self, arrival: pmacct_core::key::Timestamp) {
        let needs_header = self.lanes.iter().any(|l| l.filter.is_some())
            || self.tagger.as_ref().is_some_and(Tagger::has_filters);
        // Records are read where the decoder built them (a record is a few hundred bytes: no
        // move per record), and the buffer is kept for the next datagram.
        let mut records = std::mem::take(&mut self.records);
        if let Some(h) = &mut self.hosts {
            h.catch_up();
        }
        for r in records.iter_mut() {
            let r = &mut *r;
            if let Some(rate) = self
                .sampling
                .as_mut()
                .and_then(|s| s.get().rate(r.exporter, r.in_iface, r.out_iface))
            {
                // The map's rate wins over the one an sFlow sample pool says too.
                r.sampling_rate = rate;
                r.effective_rate = 0;
            }
            if self.settings.decode_vxlan {
                records::decapsulate_vxlan(r);
            }
            let link = match needs_header {
                true => records::filter_header(r, &mut self.header),
                false => LinkType::Raw,
            };
            let tags = match &mut self.tagger {
                Some(t) => t.flow_tags(
                    link,
                    &self.header,
                    (r.in_iface, r.out_iface),
                    &records::facts(r),
                ),
                None => Tags::default(),
            };
            if r.sampling_rate == 0 && !self.warned_unsampled {
                self.warned_unsampled = true;
                tracing::info!(
                    "( {}/core ): flows from {} carry no sampling rate (no sampler options seen yet): counted as sent; sampling_rate reports 0",
                    self.settings.proc_name,
                    r.exporter
                );
            }
            let (mut key, frame) = records::base_key(r, arrival);
            (key.tag, key.tag2, key.label) = (tags.tag, tags.tag2, tags.label);
            if let Some(h) = &mut self.hosts {
                let mut infos = pmacct_core::key::HostInfos::default();
                h.fill(key.src_host.0, key.dst_host.0, arrival.secs, &mut infos);
                key.set_hosts(&infos);
            }
            let meta = records::meta(r, self.settings.clock, arrival, frame);
            let single = self.lanes.len() == 1;
            for lane in &mut self.lanes {
                if !lane.takes(link, &self.header, &tags) {
                    continue;
                }
                // Each lane changes its own copy of the key (one lane: the key itself).
                let key = match single {
                    true => &mut key,
                    false => {
                        self.lane_key.clone_from(&key);
                        &mut self.lane_key
                    }
                };
                // Renormalized: counters times the exporter's rate (sFlow: the rate its sample
                // pool says; ext_sampling_rate instead when set; an unknown rate, 0, counts as
                // sent), and sampling_rate reports 1.
                let meta = match lane.renormalize {
                    true => {
                        let rate = std::mem::replace(&mut key.sampling_rate, 1);
                        let rate = match (self.settings.ext_sampling_rate, r.effective_rate) {
                            (Some(ext), _) => ext,
                            (None, 0) => rate,
                            (None, effective) => effective,
                        };
                        records::scaled(meta, u64::from(rate.max(1)))
                    }
                    false => meta,
                };
                lane.extractor.extract_key(key, meta, &mut lane.out.batch);
                lane.out.filled();
            }
        }
        records.clear();
        self.records = records;
    }

    /// Adds what the collector counted since the last call to the shared stats.
    fn publish(&mut self, kernel_drops: Option<u64>) {
        if let Some(h) = &mut self.hosts {
            let mut cached = 0;
            self.stats.hosts.publish(h, &mut cached);
        }
        let refused = pmacct_core::custom::refused_values();
        if refused > 0 && !self.warned_custom_full {
            self.warned_custom_full = true;
            tracing::warn!(
                "( {}/core ): custom primitives: {} distinct values held, the most kept; new values are aggregated as empty ({refused} so far)",
                self.settings.proc_name,
                pmacct_core::custom::MAX_VALUES
            );
        }
        let now = self.collector.stats();
        let was = &self.published;
        let f = &self.stats.flows;
        f.datagrams.fetch_add(self.datagrams, Relaxed);
        if let Some(d) = kernel_drops {
            f.kernel_dropped.store(d, Relaxed);
        }
        f.denied.fetch_add(self.denied, Relaxed);
        f.skipped_frames.fetch_add(self.skipped, Relaxed);
        for ((to, n), w) in f.malformed.iter().zip(&now.malformed).zip(&was.malformed) {
            to.fetch_add(n.saturating_sub(*w), Relaxed);
        }
        f.sequence_gaps
            .fetch_add(now.sequence_gaps.saturating_sub(was.sequence_gaps), Relaxed);
        f.records
            .fetch_add(now.records.saturating_sub(was.records), Relaxed);
        f.lost.fetch_add(now.lost.saturating_sub(was.lost), Relaxed);
        f.templates_refused.fetch_add(
            now.templates_refused.saturating_sub(was.templates_refused),
            Relaxed,
        );
        f.pending_dropped.fetch_add(
            now.pending_dropped.saturating_sub(was.pending_dropped),
            Relaxed,
        );
        f.records_without_sampling_rate.fetch_add(
            now.records_without_sampling_rate
                .saturating_sub(was.records_without_sampling_rate),
            Relaxed,
        );
        let s = &f.sflow;
        for (to, now, was) in [
            (
                &s.discard_samples,
                now.sflow_discard_samples,
                was.sflow_discard_samples,
            ),
            (
                &s.counter_samples,
                now.sflow_counter_samples,
                was.sflow_counter_samples,
            ),
            (
                &s.lost_samples,
                now.sflow_lost_samples,
                was.sflow_lost_samples,
            ),
            (
                &s.lost_counter_samples,
                now.sflow_lost_counter_samples,
                was.sflow_lost_counter_samples,
            ),
            (&s.agent_drops, now.sflow_agent_drops, was.sflow_agent_drops),
        ] {
            to.fetch_add(now.saturating_sub(was), Relaxed);
        }
        self.published = now.clone();
        self.datagrams = 0;
        self.skipped = 0;
        self.denied = 0;
    }
}

fn allowed(allow: &mut Option<View<AllowList>>, exporter: std::net::IpAddr) -> bool {
    allow.as_mut().is_none_or(|a| a.get().allows(exporter))
}

fn load_templates(collector: &mut Collector, path: &std::path::Path, name: &str) {
    match std::fs::read(path) {
        Ok(bytes) => match collector.load_templates(&bytes) {
            Ok(n) => tracing::info!(
                "( {name}/core ): nfacctd_templates_file '{}': {n} templates loaded",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "( {name}/core ): nfacctd_templates_file '{}' not loaded: {e}",
                path.display()
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            "( {name}/core ): cannot read nfacctd_templates_file '{}': {e}",
            path.display()
        ),
    }
}

fn save_templates(collector: &Collector, path: &std::path::Path, name: &str) {
    let tmp = path.with_extension("tmp");
    let written =
        std::fs::write(&tmp, collector.save_templates()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!(
            "( {name}/core ): cannot write nfacctd_templates_file '{}': {e}",
            path.display()
        );
    }
}
