//! sFlow v5 encoder: flow samples carrying sampled packet headers, and generic interface
//! counter samples, in datagrams that fit a given size.

use std::net::IpAddr;

/// Longest sampled header kept (sFlow's customary 128 bytes).
pub const SFLOW_HEADER_BYTES: usize = 128;

/// One sampled packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowSampleOut {
    pub input: u32,
    pub output: u32,
    /// The frame's length on the wire.
    pub frame_length: u32,
    /// sFlow header protocol: 1 Ethernet, 11 IPv4, 12 IPv6.
    pub protocol: u32,
    /// The frame's first bytes (at most [`SFLOW_HEADER_BYTES`] are sent).
    pub header: Vec<u8>,
    /// One packet in `sampling_rate` sampled.
    pub sampling_rate: u32,
    /// Packets the sampler has seen so far (its sample pool).
    pub sample_pool: u32,
    /// Samples lost before this one.
    pub drops: u32,
}

/// Generic interface counters (sFlow counter record 1) of the data source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCountersOut {
    pub if_index: u32,
    pub if_speed: u64,
    pub in_octets: u64,
    pub in_unicast: u32,
    pub in_multicast: u32,
    pub in_broadcast: u32,
}

/// What one sFlow agent says of itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SflowAgentConfig {
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The data source's ifIndex (its source id: type 0, this index).
    pub source_index: u32,
    pub max_datagram: usize,
}

/// What an sFlow exporter has written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SflowExporterStats {
    pub datagrams: u64,
    pub flow_samples: u64,
    pub counter_samples: u64,
}

/// Packs samples into sFlow v5 datagrams, keeping the sequence numbers.
pub struct SflowExporter {
    config: SflowAgentConfig,
    boot_ms: Option<i64>,
    datagram_seq: u32,
    flow_seq: u32,
    counter_seq: u32,
    stats: SflowExporterStats,
}

const HEADER_V4: usize = 28;
const HEADER_V6: usize = 40;

impl SflowExporter {
    pub fn new(config: SflowAgentConfig) -> SflowExporter {
        SflowExporter {
            config,
            boot_ms: None,
            datagram_seq: 0,
            flow_seq: 0,
            counter_seq: 0,
            stats: SflowExporterStats::default(),
        }
    }

    pub fn stats(&self) -> SflowExporterStats {
        self.stats
    }

    /// The data source's ifIndex.
    pub fn source_index(&self) -> u32 {
        self.config.source_index
    }

    /// Writes the flow samples, then the counter sample if any, at `now_ms` (unix
    /// milliseconds), into datagrams handed to `send`.
    pub fn encode(
        &mut self,
        samples: &[FlowSampleOut],
        counters: Option<&InterfaceCountersOut>,
        now_ms: i64,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let boot = *self.boot_ms.get_or_insert(now_ms);
        let uptime = (now_ms.saturating_sub(boot).max(0) as u64 & 0xffff_ffff) as u32;
        let header_len = match self.config.agent {
            IpAddr::V4(_) => HEADER_V4,
            IpAddr::V6(_) => HEADER_V6,
        };
        let limit = self.config.max_datagram.max(header_len + 256);
        let mut bodies: Vec<Vec<u8>> = samples.iter().map(|s| self.flow_sample(s)).collect();
        if let Some(c) = counters {
            bodies.push(self.counter_sample(c));
        }
        let mut datagram: Vec<u8> = Vec::with_capacity(limit);
        let mut count = 0u32;
        for body in bodies {
            if count > 0 && datagram.len() + body.len() > limit {
                self.finish(&mut datagram, count, uptime, send);
                count = 0;
            }
            if count == 0 {
                datagram.clear();
                datagram.resize(header_len, 0);
            }
            datagram.extend_from_slice(&body);
            count += 1;
        }
        if count > 0 {
            self.finish(&mut datagram, count, uptime, send);
        }
    }

    fn finish(&mut self, d: &mut [u8], count: u32, uptime: u32, send: &mut dyn FnMut(&[u8])) {
        let mut h = Vec::with_capacity(HEADER_V6);
        h.extend_from_slice(&5u32.to_be_bytes());
        match self.config.agent {
            IpAddr::V4(a) => {
                h.extend_from_slice(&1u32.to_be_bytes());
                h.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                h.extend_from_slice(&2u32.to_be_bytes());
                h.extend_from_slice(&a.octets());
            }
        }
        h.extend_from_slice(&self.config.sub_agent.to_be_bytes());
        self.datagram_seq = self.datagram_seq.wrapping_add(1);
        h.extend_from_slice(&self.datagram_seq.to_be_bytes());
        h.extend_from_slice(&uptime.to_be_bytes());
        h.extend_from_slice(&count.to_be_bytes());
        d[..h.len()].copy_from_slice(&h);
        send(d);
        self.stats.datagrams += 1;
    }

    /// A flow sample (format 1) with one raw packet header record (format 1).
    fn flow_sample(&mut self, s: &FlowSampleOut) -> Vec<u8> {
        let header = &s.header[..s.header.len().min(SFLOW_HEADER_BYTES)];
        let padded = header.len().div_ceil(4) * 4;
        let record_len = 16 + padded;
        self.flow_seq = self.flow_seq.wrapping_add(1);
        let mut b = Vec::with_capacity(8 + 32 + 8 + record_len);
        let body_len = 32 + 8 + record_len;
        for v in [
            1,
            body_len as u32,
            self.flow_seq,
            self.config.source_index,
            s.sampling_rate.max(1),
            s.sample_pool,
            s.drops,
            s.input,
            s.output,
            1,
            1,
            record_len as u32,
            s.protocol,
            s.frame_length,
            0, // octets stripped before the header was taken: none
            header.len() as u32,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(header);
        b.resize(b.len() + padded - header.len(), 0);
        self.stats.flow_samples += 1;
        b
    }

    /// A counter sample (format 2) with one generic interface record (format 1, 88 bytes).
    fn counter_sample(&mut self, c: &InterfaceCountersOut) -> Vec<u8> {
        self.counter_seq = self.counter_seq.wrapping_add(1);
        let mut b = Vec::with_capacity(8 + 12 + 8 + 88);
        for v in [
            2u32,
            12 + 8 + 88,
            self.counter_seq,
            self.config.source_index,
            1,
            1,
            88,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&c.if_index.to_be_bytes());
        b.extend_from_slice(&6u32.to_be_bytes()); // ethernetCsmacd
        b.extend_from_slice(&c.if_speed.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes()); // full duplex
        b.extend_from_slice(&3u32.to_be_bytes()); // admin and operational status up
        b.extend_from_slice(&c.in_octets.to_be_bytes());
        for v in [c.in_unicast, c.in_multicast, c.in_broadcast, 0, 0, 0] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&0u64.to_be_bytes()); // out octets: a capture sees one way
        for v in [0u32, 0, 0, 0, 0, 1] {
            b.extend_from_slice(&v.to_be_bytes()); // out counters, then promiscuous mode
        }
        self.stats.counter_samples += 1;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_sflow, Sample};
    use std::net::Ipv4Addr;

    #[test]
    fn samples_and_counters_read_back_with_their_sequences() {
        let mut e = SflowExporter::new(SflowAgentConfig {
            agent: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)),
            sub_agent: 1402,
            source_index: 3,
            max_datagram: 1400,
        });
        let samples: Vec<FlowSampleOut> = (0..20u32)
            .map(|i| FlowSampleOut {
                input: 3,
                output: 0,
                frame_length: 1514,
                protocol: 1,
                header: vec![i as u8; 200],
                sampling_rate: 10,
                sample_pool: 10 * (i + 1),
                drops: 0,
            })
            .collect();
        let counters = InterfaceCountersOut {
            if_index: 3,
            if_speed: 100_000_000,
            in_octets: 302_800,
            in_unicast: 190,
            in_multicast: 6,
            in_broadcast: 4,
        };
        let mut datagrams = Vec::new();
        e.encode(&samples, Some(&counters), 1_000, &mut |d| {
            datagrams.push(d.to_vec())
        });
        assert!(datagrams.iter().all(|d| d.len() <= 1400));
        assert_eq!(datagrams.len(), 3, "8 samples of 176 bytes a datagram");
        let mut flows = 0;
        let mut seqs = Vec::new();
        for d in &datagrams {
            let parsed = decode_sflow(d).expect("decodes");
            assert_eq!(parsed.header.sub_agent, 1402);
            seqs.push(parsed.header.seqno);
            for s in &parsed.samples {
                match s {
                    Sample::Flow(f) => {
                        flows += 1;
                        assert_eq!((f.sampling_rate, f.input.value, f.source.index), (10, 3, 3));
                        let h = f.header.as_ref().expect("header");
                        assert_eq!((h.frame_length, h.bytes.len(), h.stripped), (1514, 128, 0));
                        assert_eq!(f.sample_pool, 10 * f.seqno);
                    }
                    Sample::Counters(c) => {
                        assert_eq!(c.seqno, 1);
                        let g = c.interface().expect("generic counters");
                        assert_eq!((g.if_index, g.in_octets, g.in_unicast), (3, 302_800, 190));
                        assert_eq!(
                            (g.if_speed, g.in_multicast, g.in_broadcast),
                            (100_000_000, 6, 4)
                        );
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(flows, 20);
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(
            e.stats(),
            SflowExporterStats {
                datagrams: 3,
                flow_samples: 20,
                counter_samples: 1
            }
        );
    }
}
