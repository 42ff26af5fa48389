//! nfacctd's input: NetFlow v5/v9 and IPFIX export datagrams, from a UDP socket or a capture
//! file of them, decoded by [`pmacct_flow`] into flow records, each keyed for every plugin
//! that takes it, through the same lanes, batches and plugins as captured packets.
//!
//! Promises: every datagram is decoded or counted (malformed, skipped frame); every record is
//! accounted by the plugins whose filter passes it; a record's time is its flow's start
//! (`nfacctd_time_new`: its arrival), so its time bin is where the traffic happened.

pub mod records;
pub mod sources;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use pmacct_core::key::Tags;
use pmacct_flow::{Collector, CollectorStats, FlowRecord, Limits};
use pmacct_wire::LinkType;

use crate::input::InputError;
use crate::pipeline::{Lane, StopFlag, FLUSH_INTERVAL};
use crate::plugins::PluginMsg;
use crate::stats::CoreStats;
use crate::tagging::Tagger;
pub use records::FlowClock;
pub use sources::{DatagramFile, DatagramSource, NextDatagram, UdpSource};

/// Longest a stopping collector reads on for datagrams the kernel already received.
const STOP_DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// How one collector input turns records into plugin records.
#[derive(Clone, Debug)]
pub struct FlowSettings {
    pub clock: FlowClock,
    /// `nfacctd_templates_file`: templates read at start and written at exit.
    pub templates_file: Option<std::path::PathBuf>,
    pub proc_name: String,
}

/// Runs one collector input to its end (or until `stop`).
pub struct FlowDispatcher {
    lanes: Vec<Lane>,
    collector: Collector,
    records: Vec<FlowRecord>,
    header: Vec<u8>,
    stats: Arc<CoreStats>,
    settings: FlowSettings,
    /// The collector's counts when last published.
    published: CollectorStats,
    datagrams: u64,
    skipped: u64,
    warned_unsampled: bool,
    /// The pre_tag_map, when there is one.
    tagger: Option<Tagger>,
}

impl FlowDispatcher {
    pub fn new(
        lanes: Vec<Lane>,
        stats: Arc<CoreStats>,
        settings: FlowSettings,
        tagger: Option<Tagger>,
    ) -> Self {
        let mut collector = Collector::new(Limits::default());
        if let Some(path) = &settings.templates_file {
            load_templates(&mut collector, path, &settings.proc_name);
        }
        FlowDispatcher {
            lanes,
            published: collector.stats().clone(),
            collector,
            records: Vec::with_capacity(64),
            header: Vec::with_capacity(64),
            stats,
            settings,
            datagrams: 0,
            skipped: 0,
            warned_unsampled: false,
            tagger,
        }
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
                Ok(NextDatagram::Datagram(d)) => {
                    self.datagrams += 1;
                    let decoded = self.collector.decode(
                        d.exporter,
                        d.data,
                        d.arrival.secs,
                        &mut self.records,
                    );
                    if let Err(e) = decoded {
                        tracing::debug!("datagram from {}: {e}", d.exporter);
                    }
                    let arrival = d.arrival;
                    self.dispatch_records(arrival);
                    if self.datagrams.is_multiple_of(256) {
                        self.publish();
                    }
                }
                Ok(NextDatagram::Skipped) => self.skipped += 1,
                Ok(NextDatagram::Idle) if stopping.is_some() => break Ok(()),
                Ok(NextDatagram::Idle) => {
                    self.publish();
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
        self.publish();
        if let Some(path) = &self.settings.templates_file {
            save_templates(&self.collector, path, &self.settings.proc_name);
        }
        result
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
        for r in self.records.drain(..) {
            if needs_header {
                records::filter_header(&r, &mut self.header);
            }
            let tags = match &mut self.tagger {
                Some(t) => {
                    t.flow_tags(&self.header, (r.in_iface, r.out_iface), &records::facts(&r))
                }
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
            let (mut key, frame_bytes) = records::base_key(&r, arrival);
            (key.tag, key.tag2, key.label) = (tags.tag, tags.tag2, tags.label);
            for lane in &mut self.lanes {
                if !lane.takes(LinkType::Raw, &self.header, &tags) {
                    continue;
                }
                // Renormalized: counters times the exporter's rate (an unknown rate, 0,
                // counts as sent), and sampling_rate reports 1.
                let mut key = key;
                let scale = match lane.renormalize {
                    true => u64::from(std::mem::replace(&mut key.sampling_rate, 1).max(1)),
                    false => 1,
                };
                let meta = records::meta(&r, self.settings.clock, arrival, scale, frame_bytes);
                lane.extractor.extract_key(key, meta, &mut lane.out.batch);
                lane.out.filled();
            }
        }
    }

    /// Adds what the collector counted since the last call to the shared stats.
    fn publish(&mut self) {
        let now = self.collector.stats();
        let was = &self.published;
        let f = &self.stats.flows;
        let malformed = |s: &CollectorStats| s.malformed.iter().sum::<u64>();
        f.datagrams.fetch_add(self.datagrams, Relaxed);
        f.skipped_frames.fetch_add(self.skipped, Relaxed);
        f.malformed
            .fetch_add(malformed(now).saturating_sub(malformed(was)), Relaxed);
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
        self.published = now.clone();
        self.datagrams = 0;
        self.skipped = 0;
    }
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
