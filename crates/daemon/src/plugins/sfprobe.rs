//! sfprobe: the captured packets its lane samples (`sampling_rate`, every packet by default)
//! exported as sFlow v5 flow samples with their first 128 bytes, and counter samples of what
//! its filters passed, every 20 seconds and at exit (docs/nfprobe.md).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pmacct_core::config::{PluginConfig, ProbeSource, SfprobeConfig};
use pmacct_core::key::RecordBatch;
use pmacct_flow::export::{FlowSampleOut, InterfaceCountersOut, SflowAgentConfig, SflowExporter};

use super::nfprobe::{open_receivers, send_all, Receiver, SendOptions};
use super::{Now, Plugin, PluginError};
use crate::frames::{sflow_protocol, SampledFrame, SeenCounts};
use crate::stats::PluginStats;

/// Seconds between two counter samples (sFlow's customary polling interval).
const COUNTER_INTERVAL: i64 = 20;

pub struct SfprobePlugin {
    label: String,
    cfg: SfprobeConfig,
    receivers: Vec<Receiver>,
    /// Made at the first sample: its data source is the first packet's interface unless
    /// sfprobe_ifindex names one.
    exporter: Option<SflowExporter>,
    sampling: u32,
    seen: SeenCounts,
    last_counters: Option<i64>,
    stats: Arc<PluginStats>,
}

impl SfprobePlugin {
    pub fn new(
        config: &PluginConfig,
        cfg: &SfprobeConfig,
        stats: Arc<PluginStats>,
    ) -> Result<SfprobePlugin, String> {
        let options = SendOptions {
            source_ip: cfg.source_ip,
            hoplimit: None,
            ipprec: cfg.ipprec,
            key: "sfprobe_receiver",
        };
        let receivers = open_receivers(&cfg.receivers, &options)?;
        let label = format!("{}/{}", config.name, config.kind);
        let sampling = config.sampling_rate.unwrap_or(1).max(1);
        tracing::info!(
            "( {label} ): exporting sFlow v5 (1 packet in {sampling}) to {}",
            receivers
                .iter()
                .map(|r| r.addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(SfprobePlugin {
            label,
            cfg: cfg.clone(),
            receivers,
            exporter: None,
            sampling,
            seen: SeenCounts::default(),
            last_counters: None,
            stats,
        })
    }

    /// The agent address: sfprobe_agentip, else the address the datagrams leave from.
    fn agent(&self) -> IpAddr {
        self.cfg.agent_ip.unwrap_or_else(|| {
            self.receivers
                .first()
                .and_then(|r| r.socket.local_addr().ok())
                .map(|a| a.ip())
                .filter(|ip| !ip.is_unspecified())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        })
    }

    fn exporter(&mut self, first: &SampledFrame) -> &mut SflowExporter {
        let source_index = match self.cfg.ifindex {
            Some(ProbeSource::Fixed(n)) => n,
            _ => first.in_iface,
        };
        let config = SflowAgentConfig {
            agent: self.agent(),
            sub_agent: self.cfg.sub_agent,
            source_index,
            max_datagram: self
                .receivers
                .iter()
                .map(Receiver::max_datagram)
                .min()
                .unwrap_or(1472),
        };
        self.exporter
            .get_or_insert_with(|| SflowExporter::new(config))
    }

    /// A sampled frame as a flow sample: its interfaces, with sfprobe_direction and
    /// sfprobe_ifindex applied.
    fn sample(&self, f: &SampledFrame) -> FlowSampleOut {
        let from = |s: ProbeSource| match s {
            ProbeSource::Fixed(n) => u64::from(n),
            ProbeSource::Out => 2,
            ProbeSource::Tag => f.tags.tag,
            ProbeSource::Tag2 => f.tags.tag2,
        };
        let egress = match self.cfg.direction {
            Some(ProbeSource::Out) => true,
            Some(s @ (ProbeSource::Tag | ProbeSource::Tag2)) => from(s) == 2,
            _ => false,
        };
        let (mut input, mut output) = (f.in_iface, f.out_iface);
        if let Some(ifindex) = self
            .cfg
            .ifindex
            .map(from)
            .and_then(|v| u32::try_from(v).ok())
        {
            let slot = if egress { &mut output } else { &mut input };
            if ifindex != 0 && (*slot == 0 || self.cfg.ifindex_override) {
                *slot = ifindex;
            }
        }
        FlowSampleOut {
            input,
            output,
            frame_length: f.wire_len,
            protocol: sflow_protocol(f.link, &f.header),
            header: f.header.clone(),
            sampling_rate: self.sampling,
            sample_pool: f.seen.packets as u32,
            drops: self.stats.dropped.load(Relaxed) as u32,
        }
    }

    fn counters(&self, if_index: u32) -> InterfaceCountersOut {
        InterfaceCountersOut {
            if_index,
            if_speed: self.cfg.if_speed,
            in_octets: self.seen.octets,
            in_unicast: self.seen.unicast as u32,
            in_multicast: self.seen.multicast as u32,
            in_broadcast: self.seen.broadcast as u32,
        }
    }

    /// Sends `samples`, with a counter sample when one is due (or `force`).
    fn send(&mut self, samples: &[FlowSampleOut], now: i64, force: bool) {
        let Some(if_index) = self.exporter.as_ref().map(SflowExporter::source_index) else {
            return;
        };
        let due = force
            || self
                .last_counters
                .is_none_or(|t| now - t >= COUNTER_INTERVAL);
        if samples.is_empty() && !due {
            return;
        }
        let counters = due.then(|| self.counters(if_index));
        if due {
            self.last_counters = Some(now);
        }
        let Some(exporter) = self.exporter.as_mut() else {
            return;
        };
        let before = exporter.stats();
        let (receivers, label, stats) = (&mut self.receivers, &self.label, &self.stats);
        exporter.encode(
            samples,
            counters.as_ref(),
            now.saturating_mul(1000),
            &mut |d: &[u8]| send_all(receivers, d, now, label, stats),
        );
        let after = exporter.stats();
        let e = &self.stats.export;
        e.flows
            .fetch_add(after.flow_samples - before.flow_samples, Relaxed);
        e.datagrams
            .fetch_add(after.datagrams - before.datagrams, Relaxed);
    }
}

impl Plugin for SfprobePlugin {
    fn on_records(&mut self, _records: &mut RecordBatch, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }

    fn on_frames(&mut self, frames: &[SampledFrame], now: Now) {
        let Some(first) = frames.first() else {
            return;
        };
        self.exporter(first);
        let samples: Vec<FlowSampleOut> = frames.iter().map(|f| self.sample(f)).collect();
        if let Some(last) = frames.last() {
            self.seen = last.seen;
        }
        self.send(&samples, now.data, false);
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        self.send(&[], now.data, false);
        Ok(())
    }

    fn shutdown(&mut self, now: Now) -> Result<(), PluginError> {
        self.send(&[], now.data, true);
        Ok(())
    }
}
