//! Sampled frames for the plugins that export packets rather than records (sfprobe): a lane
//! with a [`FrameSink`] counts every packet its filters pass, and hands the plugin the first
//! bytes of those its sampler keeps, with the counts so far.

use std::sync::atomic::Ordering::Relaxed;

use pmacct_core::config::QueuePolicy;
use pmacct_core::key::{Tags, Timestamp};
use pmacct_wire::LinkType;

use crate::pipeline::Batcher;
use crate::plugins::PluginMsg;

/// Bytes of a frame kept (sFlow's customary sampled header).
pub const FRAME_HEADER_BYTES: usize = 128;
/// Frames handed over at once.
const FRAMES_PER_BATCH: usize = 64;

/// What a sampler has seen: every packet its filters passed, sampled or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeenCounts {
    pub packets: u64,
    /// Bytes on the wire.
    pub octets: u64,
    pub unicast: u64,
    pub multicast: u64,
    pub broadcast: u64,
}

/// One sampled packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampledFrame {
    pub ts: Timestamp,
    pub link: LinkType,
    pub wire_len: u32,
    /// The frame's first [`FRAME_HEADER_BYTES`] bytes.
    pub header: Vec<u8>,
    pub in_iface: u32,
    pub out_iface: u32,
    pub tags: Tags,
    /// The counts when it was sampled (it included).
    pub seen: SeenCounts,
}

/// A lane's frames on their way to its plugin.
#[derive(Debug, Default)]
pub struct FrameSink {
    seen: SeenCounts,
    batch: Vec<SampledFrame>,
}

impl FrameSink {
    /// Counts a packet the lane's filters passed.
    #[inline]
    pub fn count(&mut self, link: LinkType, frame: &[u8], wire_len: u32) {
        let s = &mut self.seen;
        s.packets += 1;
        s.octets += u64::from(wire_len);
        match (link, frame.first()) {
            (LinkType::Ethernet, Some(_)) if frame[..6.min(frame.len())] == [0xff; 6] => {
                s.broadcast += 1
            }
            (LinkType::Ethernet, Some(b)) if b & 1 == 1 => s.multicast += 1,
            _ => s.unicast += 1,
        }
    }

    /// Keeps a sampled packet, handing the batch over when full.
    pub fn push(&mut self, mut frame: SampledFrame, out: &Batcher) {
        frame.seen = self.seen;
        self.batch.push(frame);
        if self.batch.len() >= FRAMES_PER_BATCH {
            self.flush(out);
        }
    }

    /// Hands the frames kept so far to the plugin (reading a file: waits for room; live:
    /// drops and counts when its queue is full).
    pub fn flush(&mut self, out: &Batcher) {
        let Some(now) = self.batch.last().map(|f| f.ts.secs) else {
            return;
        };
        let frames = std::mem::take(&mut self.batch);
        let n = frames.len() as u64;
        let msg = PluginMsg::Frames { frames, now };
        let taken = match out.policy {
            QueuePolicy::Block => out.tx.send(msg).is_ok(),
            QueuePolicy::Drop => out.tx.try_send(msg).is_ok(),
        };
        let counter = if taken {
            &out.stats.records
        } else {
            &out.stats.dropped
        };
        counter.fetch_add(n, Relaxed);
    }
}

/// A sampled frame's sFlow header protocol: 1 Ethernet, 11 IPv4, 12 IPv6 (raw IP captures).
pub fn sflow_protocol(link: LinkType, header: &[u8]) -> u32 {
    match (link, header.first().map(|b| b >> 4)) {
        (LinkType::Ethernet, _) => 1,
        (_, Some(6)) => 12,
        _ => 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_counted_by_destination_kind() {
        let mut sink = FrameSink::default();
        sink.count(LinkType::Ethernet, &[0xff; 14], 60);
        sink.count(LinkType::Ethernet, &[0x01, 0, 0x5e, 0, 0, 1], 100);
        sink.count(LinkType::Ethernet, &[0x02, 0, 0, 0, 0, 1], 1514);
        sink.count(LinkType::Raw, &[0x45], 40);
        assert_eq!(
            sink.seen,
            SeenCounts {
                packets: 4,
                octets: 1714,
                unicast: 2,
                multicast: 1,
                broadcast: 1
            }
        );
        assert_eq!(sflow_protocol(LinkType::Raw, &[0x60]), 12);
        assert_eq!(sflow_protocol(LinkType::Ethernet, &[0x60]), 1);
    }
}
