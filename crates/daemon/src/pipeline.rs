//! The core loop of one input: decode, per-plugin filter, fragment tracking, key extraction and
//! batching towards the plugins.
//!
//! Promises: every packet read is either accounted by the plugins whose filter it passes, or
//! counted (non-IP, malformed by reason); a batch reaches its plugin when full, or within
//! [`FLUSH_INTERVAL`] on a quiet live link; reading a file never drops (sends block), live
//! capture drops per plugin by its policy and counts every dropped record.

use std::sync::atomic::{
    AtomicBool, AtomicI64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossbeam_channel::{Sender, TrySendError};
use pmacct_core::config::QueuePolicy;
use pmacct_core::config::TagFilters;
use pmacct_core::fragments::{FragmentTracker, Pending};
use pmacct_core::key::{KeyExtractor, PacketFacts, RecordBatch, Tags};
use pmacct_wire::{decode_into, IpPacket, L2Info, LinkType, Outcome, Ports};

use crate::input::{InputError, LinkFilter, Next, PacketSource};
use crate::plugins::PluginMsg;
use crate::stats::{CoreStats, LocalCounts, PluginStats};
use crate::tagging::Tagger;

/// Longest time a live record waits in a partial batch.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
const FRAGMENT_TIMEOUT_SECS: i64 = 60;
const MAX_HELD_FRAGMENTS: usize = 65536;
const PUBLISH_EVERY: u64 = 4096;

/// The core's end of one plugin, for one input thread.
pub struct Lane {
    pub filter: Option<LinkFilter>,
    /// `pre_tag_filter`, `pre_tag2_filter`, `pre_tag_label_filter` (`None`: none set).
    pub tags: Option<TagFilters>,
    pub sampler: Option<Sampler>,
    pub extractor: KeyExtractor,
    pub out: Batcher,
    /// Flow records: counters multiplied by each record's sampling rate (nfacctd_renormalize).
    pub renormalize: bool,
    /// The plugin takes sampled frames, not records (sfprobe).
    pub frames: Option<crate::frames::FrameSink>,
}

impl Lane {
    /// Whether the plugin takes this packet: its filters pass it and its sampling keeps it.
    #[inline]
    pub(crate) fn takes(&mut self, link: LinkType, frame: &[u8], tags: &Tags) -> bool {
        self.passes(link, frame, tags) && self.sampler.as_mut().is_none_or(Sampler::keep)
    }

    /// Whether the plugin's filters pass this packet (before sampling).
    #[inline]
    fn passes(&mut self, link: LinkType, frame: &[u8], tags: &Tags) -> bool {
        self.filter.as_mut().is_none_or(|f| f.matches(link, frame))
            && self.tags.as_ref().is_none_or(|t| t.pass(tags))
    }

    /// A lane of sampled frames (sfprobe): counts the packet if its filters pass it, keeps it
    /// if its sampler does. Whether the filters passed it.
    fn sample_frame(&mut self, packet: &crate::input::RawPacket, facts: &PacketFacts) -> bool {
        if self.frames.is_none() || !self.passes(packet.link, packet.data, &facts.tags) {
            return false;
        }
        let keep = self.sampler.as_mut().is_none_or(Sampler::keep);
        let Lane { frames, out, .. } = self;
        let Some(sink) = frames.as_mut() else {
            return false;
        };
        sink.count(packet.link, packet.data, packet.wire_len);
        if keep {
            let end = packet.data.len().min(crate::frames::FRAME_HEADER_BYTES);
            let frame = crate::frames::SampledFrame {
                ts: packet.ts,
                link: packet.link,
                wire_len: packet.wire_len,
                header: packet.data[..end].to_vec(),
                in_iface: facts.in_iface,
                out_iface: facts.out_iface,
                tags: facts.tags,
                seen: Default::default(),
            };
            sink.push(frame, out);
        }
        true
    }

    /// Hands what the lane holds to its plugin.
    fn flush(&mut self) {
        if let Some(sink) = self.frames.as_mut() {
            sink.flush(&self.out);
        }
        self.out.flush();
    }
}

/// `sampling_rate: N`: keeps each packet with probability 1/N, independently (a xorshift
/// generator per lane, seeded at random).
pub struct Sampler {
    rate: u64,
    state: u64,
}

impl Sampler {
    pub fn new(rate: u32, seed: u64) -> Sampler {
        Sampler {
            rate: u64::from(rate.max(1)),
            state: seed | 1,
        }
    }

    #[inline]
    pub fn keep(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state.is_multiple_of(self.rate)
    }
}

/// Batches a plugin's records and hands them to its queue.
pub struct Batcher {
    pub label: String,
    pub batch: RecordBatch,
    pub batch_records: usize,
    pub tx: Sender<PluginMsg>,
    /// Batches the plugin has emptied, reused before allocating new ones.
    pub recycled: Receiver<RecordBatch>,
    pub policy: QueuePolicy,
    pub stats: Arc<PluginStats>,
    /// What each record's packets and bytes stand for (renormalized sampling; 1 otherwise).
    pub scale: u32,
}

impl Batcher {
    /// Sends the batch once it is full.
    #[inline]
    pub(crate) fn filled(&mut self) {
        if self.batch.len() >= self.batch_records {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        let Some(now) = self.batch.last_ts() else {
            return;
        };
        let fresh = self.recycled.try_recv().unwrap_or_else(|_| {
            RecordBatch::with_capacity(self.batch.width(), self.batch_records + 1)
        });
        let mut records = std::mem::replace(&mut self.batch, fresh);
        records.set_scale(self.scale);
        let n = records.len() as u64;
        let msg = PluginMsg::Batch { records, now };
        match self.policy {
            QueuePolicy::Block => {
                if self.tx.send(msg).is_ok() {
                    self.stats.records.fetch_add(n, Relaxed);
                }
            }
            QueuePolicy::Drop => match self.tx.try_send(msg) {
                Ok(()) => {
                    self.stats.records.fetch_add(n, Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    let before = self.stats.dropped.fetch_add(n, Relaxed);
                    // Log on the first drop and then at most once per million dropped records.
                    if before == 0 || before / 1_000_000 != (before + n) / 1_000_000 {
                        tracing::warn!(
                            "( {} ): queue full, {} records dropped so far (plugin too slow for the traffic; raise plugin_pipe_size or set plugin_queue_when_full: block)",
                            self.label,
                            before + n
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => {}
            },
        }
    }

    pub(crate) fn tick(&mut self, now: i64) {
        self.flush();
        let _ = self.tx.try_send(PluginMsg::Tick { now });
    }
}

/// Per-input settings of the dispatcher.
#[derive(Clone, Copy, Debug)]
pub struct InputFacts {
    pub in_iface: u32,
    pub out_iface: u32,
    pub aggregate_unknown_etype: bool,
}

/// Runs one input to its end (or until `stop`), feeding the lanes.
pub struct Dispatcher {
    pub lanes: Vec<Lane>,
    tagger: Option<Tagger>,
    hosts: Option<crate::hosts::HostLookup>,
    /// Names this thread's cache held when last published.
    names_cached: usize,
    tracker: FragmentTracker,
    local: LocalCounts,
    stats: Arc<CoreStats>,
    facts: InputFacts,
}

/// After a stop, a live capture is read on for what the kernel captured before the stop: it
/// hands a partly filled ring block to libpcap only when its read timeout expires, so a stop
/// right after a burst would otherwise lose the burst's tail, and a capture behind the traffic
/// would lose what its buffer holds. It ends at the first packet captured after the stop, once
/// idle a read timeout after it, or [`STOP_DRAIN_MAX`] after it (a flood cannot hold it up).
const STOP_SETTLE: Duration = Duration::from_millis(crate::input::READ_TIMEOUT_MS as u64 + 50);
const STOP_DRAIN_MAX: Duration = Duration::from_secs(5);

/// A request to stop reading one input, and when it was made.
#[derive(Default)]
pub struct StopFlag {
    requested: AtomicBool,
    /// Wall-clock microseconds of the request (packet time).
    at_micros: AtomicI64,
}

impl StopFlag {
    pub fn request(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        self.at_micros.store(now, Relaxed);
        self.requested.store(true, Release);
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Acquire)
    }

    /// The flag alone, for loops that only need to know (waiting for an interface).
    pub fn as_bool(&self) -> &AtomicBool {
        &self.requested
    }
}

#[derive(Default)]
struct StopDrain {
    /// When the stop was seen, and when it was requested (wall-clock microseconds).
    since: Option<(Instant, i64)>,
}

impl StopDrain {
    /// Whether a reading loop should end: at once for files.
    fn should_end(&mut self, stop: &StopFlag, live: bool, idle: bool) -> bool {
        if !stop.is_requested() {
            return false;
        }
        if !live {
            return true;
        }
        let (since, _) = *self
            .since
            .get_or_insert_with(|| (Instant::now(), stop.at_micros.load(Relaxed)));
        (idle && since.elapsed() >= STOP_SETTLE) || since.elapsed() >= STOP_DRAIN_MAX
    }

    /// Whether a packet stamped `ts` was captured after the stop was requested (and ends the
    /// reading).
    fn is_after_stop(&self, ts: pmacct_core::key::Timestamp) -> bool {
        self.since
            .is_some_and(|(_, at)| ts.secs * 1_000_000 + i64::from(ts.micros) >= at)
    }
}

impl Dispatcher {
    pub fn new(lanes: Vec<Lane>, stats: Arc<CoreStats>, facts: InputFacts) -> Self {
        Dispatcher {
            lanes,
            tagger: None,
            hosts: None,
            names_cached: 0,
            tracker: FragmentTracker::new(FRAGMENT_TIMEOUT_SECS, MAX_HELD_FRAGMENTS),
            local: LocalCounts::default(),
            stats,
            facts,
        }
    }

    /// Tags packets with the pre_tag_map before the plugins see them.
    pub fn with_tagger(mut self, tagger: Option<Tagger>) -> Self {
        self.tagger = tagger;
        self
    }

    /// Looks up what plugins aggregate of each packet's addresses (countries, AS numbers).
    pub fn with_hosts(mut self, hosts: Option<crate::hosts::HostLookup>) -> Self {
        self.hosts = hosts;
        self
    }

    /// Reads `source` until its end or `stop`; returns the input error that ended it, if any.
    pub fn run(
        &mut self,
        source: &mut dyn PacketSource,
        stop: &StopFlag,
    ) -> Result<(), InputError> {
        let live = source.is_live();
        let mut last_flush = Instant::now();
        let mut last_expire = i64::MIN;
        let mut since_check = 0u32;
        let mut drain = StopDrain::default();
        let mut idle = false;
        let mut latest_ts = 0i64;
        let mut facts = PacketFacts {
            ts: Default::default(),
            l2: L2Info::default(),
            ip: None,
            bytes: 0,
            in_iface: self.facts.in_iface,
            out_iface: self.facts.out_iface,
            tags: Default::default(),
            hosts: Default::default(),
        };
        let result = loop {
            if since_check >= 256 {
                since_check = 0;
                if drain.should_end(stop, live, idle) {
                    break Ok(());
                }
                if let Some(h) = &mut self.hosts {
                    h.catch_up();
                }
                if live && last_flush.elapsed() >= FLUSH_INTERVAL {
                    self.tick_all(crate::plugins::wall_now());
                    last_flush = Instant::now();
                }
            }
            since_check += 1;
            idle = false;
            let packet = match source.next_packet() {
                Ok(Next::Packet(p)) => p,
                Ok(Next::Idle) => {
                    since_check = 256;
                    idle = true;
                    if live {
                        // Quiet: the shared counters catch up (SIGUSR1, metrics).
                        self.publish();
                        self.tick_all(crate::plugins::wall_now());
                        last_flush = Instant::now();
                        if let Some(d) = source.kernel_drops() {
                            self.stats.kernel_dropped.store(d, Relaxed);
                        }
                    }
                    continue;
                }
                Ok(Next::End) => break Ok(()),
                Err(e) => break Err(e),
            };
            if drain.is_after_stop(packet.ts) {
                break Ok(());
            }
            self.local.received += 1;
            latest_ts = latest_ts.max(packet.ts.secs);
            // One packet reused for every frame: decoded in place, never copied on this path.
            facts.ts = packet.ts;
            let ip = facts
                .ip
                .get_or_insert_with(|| IpPacket::new(L2Info::default()));
            match decode_into(packet.link, packet.data, packet.wire_len, ip) {
                Outcome::Malformed(reason) => {
                    self.local.malformed[reason.index()] += 1;
                    continue;
                }
                Outcome::NonIp => {
                    if !self.facts.aggregate_unknown_etype {
                        self.local.non_ip += 1;
                        continue;
                    }
                    facts.l2 = ip.l2;
                    facts.bytes = packet.wire_len.saturating_sub(ip.l2.header_len);
                    facts.ip = None;
                    facts.hosts = Default::default();
                }
                Outcome::Ip => {
                    if ip.ports == Ports::Truncated {
                        self.local.truncated_ports += 1;
                    }
                    facts.l2 = ip.l2;
                    facts.bytes = ip.length;
                    if let Some(h) = &mut self.hosts {
                        h.observe(ip, packet.data, packet.ts.secs);
                        h.fill(ip.src, ip.dst, packet.ts.secs, &mut facts.hosts);
                    }
                }
            }
            if let Some(t) = &mut self.tagger {
                let ids = (facts.in_iface, facts.out_iface);
                facts.tags = t.tags(packet.link, packet.data, ids, packet.interface);
            }
            let mut plugins = 0u64;
            let mut sampled = false;
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                if lane.frames.is_some() {
                    sampled |= lane.sample_frame(&packet, &facts);
                } else if lane.takes(packet.link, packet.data, &facts.tags) {
                    plugins |= 1 << i;
                }
            }
            if plugins == 0 {
                self.local.accounted += u64::from(sampled);
                continue;
            }
            self.local.accounted += 1;
            let lanes = &mut self.lanes;
            if facts.ip.is_some_and(|ip| ip.fragment.is_some()) {
                self.tracker
                    .process(Pending { facts, plugins }, |p| dispatch(lanes, &p));
            } else {
                // Not a fragment: nothing for the tracker to do, straight to the plugins.
                dispatch_facts(lanes, &facts, plugins);
            }
            if latest_ts > last_expire {
                last_expire = latest_ts;
                let lanes = &mut self.lanes;
                self.tracker.expire(latest_ts, |p| dispatch(lanes, &p));
            }
            if self.local.received >= PUBLISH_EVERY {
                self.publish();
            }
        };
        let lanes = &mut self.lanes;
        self.tracker.drain(|p| dispatch(lanes, &p));
        self.stats
            .fragments_orphaned
            .fetch_add(self.tracker.stats.orphaned, Relaxed);
        self.tracker.stats.orphaned = 0;
        for lane in &mut self.lanes {
            lane.flush();
            if !live && result.is_ok() {
                let _ = lane.out.tx.send(PluginMsg::InputEnded {
                    source: source.name().to_string(),
                });
            }
        }
        self.publish();
        if let Some(d) = source.kernel_drops() {
            self.stats.kernel_dropped.store(d, Relaxed);
        }
        result
    }

    /// This thread's counts into the shared stats.
    fn publish(&mut self) {
        self.local.publish(&self.stats);
        if let Some(h) = &mut self.hosts {
            self.stats.hosts.publish(h, &mut self.names_cached);
        }
    }

    fn tick_all(&mut self, now: i64) {
        for lane in &mut self.lanes {
            if let Some(sink) = lane.frames.as_mut() {
                sink.flush(&lane.out);
            }
            lane.out.tick(now);
        }
    }
}

#[inline]
fn dispatch(lanes: &mut [Lane], p: &Pending) {
    dispatch_facts(lanes, &p.facts, p.plugins);
}

/// Hands a packet to the lanes whose bit is set in `plugins`.
#[inline]
fn dispatch_facts(lanes: &mut [Lane], facts: &PacketFacts, plugins: u64) {
    for (i, lane) in lanes.iter_mut().enumerate() {
        if plugins & (1 << i) != 0 {
            let Lane { extractor, out, .. } = lane;
            extractor.extract(facts, &mut out.batch);
            out.filled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmacct_core::key::Timestamp;

    #[test]
    fn a_stopped_file_ends_at_once_and_a_live_capture_reads_what_came_before() {
        let stop = StopFlag::default();
        let mut drain = StopDrain::default();
        assert!(!drain.should_end(&stop, true, true), "not stopped");
        stop.request();
        assert!(
            StopDrain::default().should_end(&stop, false, false),
            "a file"
        );
        // Live: an idle read right after the stop does not end it (the kernel may still hold
        // a partly filled block), nor does traffic.
        assert!(!drain.should_end(&stop, true, true));
        assert!(!drain.should_end(&stop, true, false));
        let at = stop.at_micros.load(Relaxed);
        let before = Timestamp {
            secs: (at - 1) / 1_000_000,
            micros: ((at - 1) % 1_000_000) as u32,
        };
        let after = Timestamp {
            secs: (at + 1) / 1_000_000,
            micros: ((at + 1) % 1_000_000) as u32,
        };
        assert!(!drain.is_after_stop(before));
        assert!(drain.is_after_stop(after));
        std::thread::sleep(STOP_SETTLE);
        assert!(!drain.should_end(&stop, true, false), "packets still come");
        assert!(
            drain.should_end(&stop, true, true),
            "idle after the settle time"
        );
    }
}
