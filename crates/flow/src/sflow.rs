//! Sans-IO decoding of sFlow version 5 datagrams (sflow.org, "sFlow Version 5", 2004, and its
//! discard extension): the datagram header, flow samples (compact and expanded) with their
//! raw packet header, Ethernet, IPv4, IPv6 and extended switch, router and gateway records,
//! counter samples (compact and expanded) with their generic interface counters, and
//! discarded-packet samples. sFlow needs no state: each datagram decodes on its own.
//!
//! Everything read borrows the datagram (a sampled header is a slice of it); nothing panics,
//! whatever the bytes. A sample or record whose length runs past its container ends the
//! decoding of that container (counted by the caller from the result); a record of a format
//! this decoder does not know is skipped by its length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{FlowRecord, Malformed};

/// The datagram header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SflowHeader {
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The datagram sequence number (per agent and sub-agent).
    pub seqno: u32,
    /// Milliseconds since the agent booted.
    pub uptime_ms: u32,
    /// Samples the header announced.
    pub samples: u32,
}

/// A data source: its type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry) and index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataSource {
    pub kind: u32,
    pub index: u32,
}

/// An interface as a flow sample gives it: the format (0 an ifIndex, 1 a discard reason, 2 a
/// count of interfaces for multicast) and its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub format: u32,
    pub value: u32,
}

/// The sampled packet's first bytes (flow record 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledHeader<'a> {
    /// 1 Ethernet, 11 IPv4, 12 IPv6, ... (sFlow's header_protocol).
    pub protocol: u32,
    /// The packet's length on the wire.
    pub frame_length: u32,
    /// Bytes removed from the end before sampling (the FCS, say).
    pub stripped: u32,
    pub bytes: &'a [u8],
}

/// Flow record 3 or 4: what the agent decoded of an IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledIp {
    pub length: u32,
    pub protocol: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u32,
    pub dst_port: u32,
    pub tcp_flags: u32,
    /// ToS (IPv4) or priority (IPv6).
    pub tos: u32,
}

/// Flow record 2: the frame's Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledEthernet {
    pub length: u32,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub ethertype: u32,
}

/// Flow record 1001.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtendedSwitch {
    pub src_vlan: u32,
    pub src_priority: u32,
    pub dst_vlan: u32,
    pub dst_priority: u32,
}

/// Flow record 1002.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedRouter {
    pub next_hop: IpAddr,
    pub src_mask: u32,
    pub dst_mask: u32,
}

/// Flow record 1003 (the AS path is summed up by its last AS, the destination's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedGateway {
    pub next_hop: IpAddr,
    pub asn: u32,
    pub src_as: u32,
    pub src_peer_as: u32,
    /// The last AS of the path, 0 for an empty path.
    pub dst_as: u32,
    /// The first AS of the path (the neighbour the traffic goes to), 0 for an empty path.
    pub dst_peer_as: u32,
    pub local_pref: u32,
}

/// Counter record 1: generic interface counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub if_index: u32,
    pub if_type: u32,
    pub if_speed: u64,
    pub if_direction: u32,
    pub if_status: u32,
    pub in_octets: u64,
    pub in_unicast: u32,
    pub in_multicast: u32,
    pub in_broadcast: u32,
    pub in_discards: u32,
    pub in_errors: u32,
    pub in_unknown_protos: u32,
    pub out_octets: u64,
    pub out_unicast: u32,
    pub out_multicast: u32,
    pub out_broadcast: u32,
    pub out_discards: u32,
    pub out_errors: u32,
    pub promiscuous: u32,
}

/// A flow sample (formats 1 and 3) or a discarded packet (format 5: `drops` then holds the
/// discards, `output` the reason as sFlow encodes it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowSample<'a> {
    pub seqno: u32,
    pub source: DataSource,
    /// One packet in `sampling_rate` was sampled (0 for a discarded packet).
    pub sampling_rate: u32,
    /// Packets that could have been sampled (total packets seen by the sampler).
    pub sample_pool: u32,
    /// Samples lost for lack of resources (discarded packets: packets discarded).
    pub drops: u32,
    pub input: Interface,
    pub output: Interface,
    /// Discarded packets only: the reason code.
    pub reason: Option<u32>,
    pub header: Option<SampledHeader<'a>>,
    pub ethernet: Option<SampledEthernet>,
    pub ip: Option<SampledIp>,
    pub switch: Option<ExtendedSwitch>,
    pub router: Option<ExtendedRouter>,
    pub gateway: Option<ExtendedGateway>,
    /// Records of formats not decoded here, skipped by their length.
    pub other_records: u32,
}

/// Counter record 2: Ethernet interface counters (dot3Stats, RFC 2358).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthernetCounters {
    pub alignment_errors: u32,
    pub fcs_errors: u32,
    pub single_collision_frames: u32,
    pub multiple_collision_frames: u32,
    pub sqe_test_errors: u32,
    pub deferred_transmissions: u32,
    pub late_collisions: u32,
    pub excessive_collisions: u32,
    pub internal_mac_transmit_errors: u32,
    pub carrier_sense_errors: u32,
    pub frame_too_longs: u32,
    pub internal_mac_receive_errors: u32,
    pub symbol_errors: u32,
}

/// Counter record 5: VLAN counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VlanCounters {
    pub vlan_id: u32,
    pub octets: u64,
    pub unicast: u32,
    pub multicast: u32,
    pub broadcast: u32,
    pub discards: u32,
}

/// Counter record 1001: processor load (hundredths of a percent) and memory (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessorCounters {
    pub cpu_5s: u32,
    pub cpu_1m: u32,
    pub cpu_5m: u32,
    pub total_memory: u64,
    pub free_memory: u64,
}

/// Counter record 3 (token ring, dot5Stats) and 4 (100BaseVG, dot12): their values in the
/// order of [`TOKEN_RING_NAMES`] and [`VG_NAMES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedCounters {
    pub values: Vec<u64>,
}

/// The token ring record's values, in order (each 32 bits).
pub const TOKEN_RING_NAMES: [&str; 18] = [
    "dot5StatsLineErrors",
    "dot5StatsBurstErrors",
    "dot5StatsACErrors",
    "dot5StatsAbortTransErrors",
    "dot5StatsInternalErrors",
    "dot5StatsLostFrameErrors",
    "dot5StatsReceiveCongestions",
    "dot5StatsFrameCopiedErrors",
    "dot5StatsTokenErrors",
    "dot5StatsSoftErrors",
    "dot5StatsHardErrors",
    "dot5StatsSignalLoss",
    "dot5StatsTransmitBeacons",
    "dot5StatsRecoverys",
    "dot5StatsLobeWires",
    "dot5StatsRemoves",
    "dot5StatsSingles",
    "dot5StatsFreqErrors",
];

/// The 100BaseVG record's values, in order, and whether each is 64 bits.
pub const VG_NAMES: [(&str, bool); 14] = [
    ("dot12InHighPriorityFrames", false),
    ("dot12InHighPriorityOctets", true),
    ("dot12InNormPriorityFrames", false),
    ("dot12InNormPriorityOctets", true),
    ("dot12InIPMErrors", false),
    ("dot12InOversizeFrameErrors", false),
    ("dot12InDataErrors", false),
    ("dot12InNullAddressedFrames", false),
    ("dot12OutHighPriorityFrames", false),
    ("dot12OutHighPriorityOctets", true),
    ("dot12TransitionIntoTrainings", false),
    ("dot12HCInHighPriorityOctets", true),
    ("dot12HCInNormPriorityOctets", true),
    ("dot12HCOutHighPriorityOctets", true),
];

/// One record of a counter sample, in the order the datagram gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CounterRecord {
    Interface(InterfaceCounters),
    Ethernet(EthernetCounters),
    Vlan(VlanCounters),
    Processor(ProcessorCounters),
    TokenRing(ListedCounters),
    Vg(ListedCounters),
    /// A record of another format (enterprise << 12 | format: vendor records, host and
    /// application structures), skipped by its length.
    Other(u32),
}

impl CounterRecord {
    /// The record's kind as pmacct's counter log names it (`sf_cnt_type`; pmacct 1.7.7 knows
    /// generic, ethernet and vlan), `None` for a format not decoded here.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            CounterRecord::Interface(_) => "sflow_cnt_generic",
            CounterRecord::Ethernet(_) => "sflow_cnt_ethernet",
            CounterRecord::Vlan(_) => "sflow_cnt_vlan",
            CounterRecord::Processor(_) => "sflow_cnt_processor",
            CounterRecord::TokenRing(_) => "sflow_cnt_tokenring",
            CounterRecord::Vg(_) => "sflow_cnt_vg",
            CounterRecord::Other(_) => return None,
        })
    }

    /// The record's values under their MIB object names (as pmacct's counter log writes them;
    /// the processor record's under the sFlow structure's names).
    pub fn values(&self) -> Vec<(&'static str, u64)> {
        let w = u64::from;
        match self {
            CounterRecord::TokenRing(l) => {
                return TOKEN_RING_NAMES
                    .iter()
                    .copied()
                    .zip(l.values.iter().copied())
                    .collect()
            }
            CounterRecord::Vg(l) => {
                return VG_NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .zip(l.values.iter().copied())
                    .collect()
            }
            _ => {}
        }
        match *self {
            CounterRecord::Interface(i) => vec![
                ("ifIndex", w(i.if_index)),
                ("ifType", w(i.if_type)),
                ("ifSpeed", i.if_speed),
                ("ifDirection", w(i.if_direction)),
                ("ifStatus", w(i.if_status)),
                ("ifInOctets", i.in_octets),
                ("ifInUcastPkts", w(i.in_unicast)),
                ("ifInMulticastPkts", w(i.in_multicast)),
                ("ifInBroadcastPkts", w(i.in_broadcast)),
                ("ifInDiscards", w(i.in_discards)),
                ("ifInErrors", w(i.in_errors)),
                ("ifInUnknownProtos", w(i.in_unknown_protos)),
                ("ifOutOctets", i.out_octets),
                ("ifOutUcastPkts", w(i.out_unicast)),
                ("ifOutMulticastPkts", w(i.out_multicast)),
                ("ifOutBroadcastPkts", w(i.out_broadcast)),
                ("ifOutDiscards", w(i.out_discards)),
                ("ifOutErrors", w(i.out_errors)),
                ("ifPromiscuousMode", w(i.promiscuous)),
            ],
            CounterRecord::Ethernet(e) => vec![
                ("dot3StatsAlignmentErrors", w(e.alignment_errors)),
                ("dot3StatsFCSErrors", w(e.fcs_errors)),
                (
                    "dot3StatsSingleCollisionFrames",
                    w(e.single_collision_frames),
                ),
                (
                    "dot3StatsMultipleCollisionFrames",
                    w(e.multiple_collision_frames),
                ),
                ("dot3StatsSQETestErrors", w(e.sqe_test_errors)),
                (
                    "dot3StatsDeferredTransmissions",
                    w(e.deferred_transmissions),
                ),
                ("dot3StatsLateCollisions", w(e.late_collisions)),
                ("dot3StatsExcessiveCollisions", w(e.excessive_collisions)),
                (
                    "dot3StatsInternalMacTransmitErrors",
                    w(e.internal_mac_transmit_errors),
                ),
                ("dot3StatsCarrierSenseErrors", w(e.carrier_sense_errors)),
                ("dot3StatsFrameTooLongs", w(e.frame_too_longs)),
                (
                    "dot3StatsInternalMacReceiveErrors",
                    w(e.internal_mac_receive_errors),
                ),
                ("dot3StatsSymbolErrors", w(e.symbol_errors)),
            ],
            CounterRecord::Vlan(v) => vec![
                ("octets", v.octets),
                ("ucastPkts", w(v.unicast)),
                ("multicastPkts", w(v.multicast)),
                ("broadcastPkts", w(v.broadcast)),
                ("discards", w(v.discards)),
                ("vlan", w(v.vlan_id)),
            ],
            CounterRecord::Processor(p) => vec![
                ("5s_cpu", w(p.cpu_5s)),
                ("1m_cpu", w(p.cpu_1m)),
                ("5m_cpu", w(p.cpu_5m)),
                ("total_memory", p.total_memory),
                ("free_memory", p.free_memory),
            ],
            CounterRecord::TokenRing(_) | CounterRecord::Vg(_) | CounterRecord::Other(_) => {
                Vec::new()
            }
        }
    }
}

/// A counter sample (formats 2 and 4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterSample {
    pub seqno: u32,
    pub source: DataSource,
    pub records: Vec<CounterRecord>,
    /// Records of a known format shorter than that format: skipped (the records after them
    /// are still read).
    pub malformed_records: u32,
}

impl CounterSample {
    /// The generic interface counters, when the sample has them.
    pub fn interface(&self) -> Option<&InterfaceCounters> {
        self.records.iter().find_map(|r| match r {
            CounterRecord::Interface(i) => Some(i),
            _ => None,
        })
    }

    /// Records of formats not decoded here.
    pub fn other_records(&self) -> usize {
        self.records
            .iter()
            .filter(|r| matches!(r, CounterRecord::Other(_)))
            .count()
    }
}

/// One sample of a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample<'a> {
    Flow(FlowSample<'a>),
    Discard(FlowSample<'a>),
    Counters(CounterSample),
    /// A sample of another format (enterprise << 12 | format), skipped by its length.
    Other(u32),
}

/// What a datagram held: its header, its samples, and whether a sample or record ran past its
/// container (the samples before it are still given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SflowDatagram<'a> {
    pub header: SflowHeader,
    pub samples: Vec<Sample<'a>>,
    pub truncated: bool,
}

impl FlowSample<'_> {
    /// The sample as a flow record of the agent (`exporter`, sub-agent as `source_id`, version
    /// 5): its interfaces (ifIndex format only), sampling rate, and its packet: the sampled
    /// header as a sampled frame ([`crate::DATALINK_FRAME`], an IP header behind a made-up
    /// Ethernet header) for the caller to decode, else the decoded Ethernet and IP records.
    /// A sample stands for one packet of the frame's length on the wire, no flows.
    pub fn to_record(&self, h: &SflowHeader) -> FlowRecord {
        // As pmacct 1.7.7 prints them: the format in the top two bits (a discard reason, a
        // count of interfaces) over the value.
        let iface = |i: Interface| (i.format << 30) | i.value;
        let mut r = FlowRecord {
            exporter: h.agent,
            version: 5,
            seqno: h.seqno,
            source_id: h.sub_agent,
            in_iface: iface(self.input),
            out_iface: iface(self.output),
            sampling_rate: self.sampling_rate,
            ..FlowRecord::default()
        };
        if let Some(sw) = self.switch {
            // The incoming VLAN, else the outgoing one (as pmacct 1.7.7 reports `vlan`).
            let vlan = if sw.src_vlan != 0 {
                sw.src_vlan
            } else {
                sw.dst_vlan
            };
            r.vlan = (vlan & 0xffff) as u16;
        }
        if let Some(rt) = self.router {
            r.next_hop = Some(rt.next_hop);
            r.src_mask = u8::try_from(rt.src_mask).unwrap_or(0);
            r.dst_mask = u8::try_from(rt.dst_mask).unwrap_or(0);
        }
        if let Some(gw) = self.gateway {
            r.src_as = gw.src_as;
            r.dst_as = gw.dst_as;
            r.bgp_next_hop = Some(gw.next_hop);
        }
        match (&self.header, &self.ethernet, &self.ip) {
            (Some(hd), _, ip) => {
                // The IP length the agent decoded, else the packet's length on the wire, as
                // pmacct 1.7.7's sfacctd counts them.
                r.bytes = u64::from(ip.map_or(hd.frame_length, |ip| ip.length));
                r.packets = 1;
                if let Some(frame) = ethernet_frame(hd) {
                    r.custom.push((crate::DATALINK_FRAME, frame));
                    r.custom.push((
                        crate::DATALINK_FRAME_SIZE,
                        hd.frame_length.to_be_bytes().to_vec(),
                    ));
                }
            }
            (None, eth, ip) => {
                if let Some(e) = eth {
                    r.src_mac = e.src_mac;
                    r.dst_mac = e.dst_mac;
                }
                if let Some(ip) = ip {
                    r.src_addr = Some(ip.src);
                    r.dst_addr = Some(ip.dst);
                    r.proto = u8::try_from(ip.protocol).unwrap_or(0);
                    r.src_port = u16::try_from(ip.src_port).unwrap_or(0);
                    r.dst_port = u16::try_from(ip.dst_port).unwrap_or(0);
                    r.tcp_flags = u8::try_from(ip.tcp_flags).unwrap_or(0);
                    r.tos = u8::try_from(ip.tos).unwrap_or(0);
                    r.bytes = u64::from(ip.length);
                    r.packets = 1;
                }
            }
        }
        r
    }
}

/// A sampled header as an Ethernet frame: as it is for Ethernet (protocol 1), behind a made-up
/// Ethernet header for IPv4 (11) and IPv6 (12); `None` for other protocols.
fn ethernet_frame(h: &SampledHeader<'_>) -> Option<Vec<u8>> {
    let ethertype: [u8; 2] = match h.protocol {
        1 => return Some(h.bytes.to_vec()),
        11 => [0x08, 0x00],
        12 => [0x86, 0xdd],
        _ => return None,
    };
    let mut f = Vec::with_capacity(14 + h.bytes.len());
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(&ethertype);
    f.extend_from_slice(h.bytes);
    Some(f)
}

/// A bounds-checked XDR reader over a slice.
#[derive(Clone, Copy)]
struct Xdr<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Xdr<'a> {
    fn new(d: &'a [u8]) -> Self {
        Xdr { d, at: 0 }
    }

    fn u32(&mut self) -> Option<u32> {
        let v = crate::read::u32_at(self.d, self.at)?;
        self.at += 4;
        Some(v)
    }

    fn u64(&mut self) -> Option<u64> {
        let hi = self.u32()?;
        let lo = self.u32()?;
        Some(u64::from(hi) << 32 | u64::from(lo))
    }

    /// `n` bytes, then the padding to a multiple of 4.
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.d.get(self.at..end)?;
        self.at = end.checked_add((4 - n % 4) % 4)?.min(self.d.len().max(end));
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    /// An address: its type (1 IPv4, 2 IPv6), then 4 or 16 bytes.
    fn address(&mut self) -> Option<IpAddr> {
        match self.u32()? {
            1 => Some(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            2 => Some(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => None,
        }
    }

    /// A length-prefixed part (a sample or a record): its format and a reader over its body.
    fn part(&mut self) -> Option<(u32, Xdr<'a>)> {
        let format = self.u32()?;
        let len = usize::try_from(self.u32()?).ok()?;
        let body = self.bytes(len)?;
        Some((format, Xdr::new(body)))
    }
}

/// The header of an sFlow v5 datagram.
fn header(x: &mut Xdr<'_>) -> Result<SflowHeader, Malformed> {
    let short = Malformed::TooShort;
    if x.u32().ok_or(short)? != 5 {
        return Err(Malformed::BadVersion);
    }
    let agent = x.address().ok_or(short)?;
    Ok(SflowHeader {
        agent,
        sub_agent: x.u32().ok_or(short)?,
        seqno: x.u32().ok_or(short)?,
        uptime_ms: x.u32().ok_or(short)?,
        samples: x.u32().ok_or(short)?,
    })
}

/// Decodes one sFlow v5 datagram. An unusable header is an error; past it, what decodes is
/// given, and `truncated` says whether something ran past its end.
pub fn decode_sflow(d: &[u8]) -> Result<SflowDatagram<'_>, Malformed> {
    let mut x = Xdr::new(d);
    let header = header(&mut x)?;
    let mut samples = Vec::new();
    let mut truncated = false;
    // Each sample takes at least 8 bytes: the count cannot make this loop long.
    for _ in 0..header.samples {
        let Some((format, mut body)) = x.part() else {
            truncated = true;
            break;
        };
        let sample = match format {
            1 | 3 => flow_sample(&mut body, format == 3).map(Sample::Flow),
            5 => discard_sample(&mut body).map(Sample::Discard),
            2 | 4 => counter_sample(&mut body, format == 4).map(Sample::Counters),
            other => Some(Sample::Other(other)),
        };
        match sample {
            Some(s) => samples.push(s),
            None => truncated = true,
        }
    }
    Ok(SflowDatagram {
        header,
        samples,
        truncated,
    })
}

fn source(x: &mut Xdr<'_>, expanded: bool) -> Option<DataSource> {
    if expanded {
        Some(DataSource {
            kind: x.u32()?,
            index: x.u32()?,
        })
    } else {
        let v = x.u32()?;
        Some(DataSource {
            kind: v >> 24,
            index: v & 0x00ff_ffff,
        })
    }
}

fn interface(x: &mut Xdr<'_>, expanded: bool) -> Option<Interface> {
    if expanded {
        Some(Interface {
            format: x.u32()?,
            value: x.u32()?,
        })
    } else {
        let v = x.u32()?;
        Some(Interface {
            format: v >> 30,
            value: v & 0x3fff_ffff,
        })
    }
}

fn flow_sample<'a>(x: &mut Xdr<'a>, expanded: bool) -> Option<FlowSample<'a>> {
    let mut s = FlowSample {
        seqno: x.u32()?,
        source: source(x, expanded)?,
        sampling_rate: x.u32()?,
        sample_pool: x.u32()?,
        drops: x.u32()?,
        input: interface(x, expanded)?,
        output: interface(x, expanded)?,
        ..FlowSample::default()
    };
    flow_records(x, &mut s)?;
    Some(s)
}

fn discard_sample<'a>(x: &mut Xdr<'a>) -> Option<FlowSample<'a>> {
    let mut s = FlowSample {
        seqno: x.u32()?,
        source: source(x, true)?,
        drops: x.u32()?,
        input: Interface {
            format: 0,
            value: x.u32()?,
        },
        output: Interface {
            format: 0,
            value: x.u32()?,
        },
        ..FlowSample::default()
    };
    s.reason = Some(x.u32()?);
    flow_records(x, &mut s)?;
    Some(s)
}

/// The records of a flow or discard sample; `None` when one runs past the sample.
fn flow_records<'a>(x: &mut Xdr<'a>, s: &mut FlowSample<'a>) -> Option<()> {
    let count = x.u32()?;
    for _ in 0..count {
        let (format, mut r) = x.part()?;
        let known = match format {
            1 => raw_header(&mut r).map(|h| s.header = Some(h)),
            2 => ethernet(&mut r).map(|e| s.ethernet = Some(e)),
            3 | 4 => sampled_ip(&mut r, format == 4).map(|ip| s.ip = Some(ip)),
            1001 => switch(&mut r).map(|w| s.switch = Some(w)),
            1002 => router(&mut r).map(|rt| s.router = Some(rt)),
            1003 => gateway(&mut r).map(|g| s.gateway = Some(g)),
            _ => {
                s.other_records += 1;
                Some(())
            }
        };
        known?;
    }
    Some(())
}

fn raw_header<'a>(x: &mut Xdr<'a>) -> Option<SampledHeader<'a>> {
    let protocol = x.u32()?;
    let frame_length = x.u32()?;
    let stripped = x.u32()?;
    let len = usize::try_from(x.u32()?).ok()?;
    Some(SampledHeader {
        protocol,
        frame_length,
        stripped,
        bytes: x.bytes(len)?,
    })
}

fn ethernet(x: &mut Xdr<'_>) -> Option<SampledEthernet> {
    Some(SampledEthernet {
        length: x.u32()?,
        src_mac: x.array::<6>()?,
        dst_mac: x.array::<6>()?,
        ethertype: x.u32()?,
    })
}

fn sampled_ip(x: &mut Xdr<'_>, v6: bool) -> Option<SampledIp> {
    let length = x.u32()?;
    let protocol = x.u32()?;
    let (src, dst) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::from(x.array::<16>()?)),
            IpAddr::V6(Ipv6Addr::from(x.array::<16>()?)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::from(x.array::<4>()?)),
            IpAddr::V4(Ipv4Addr::from(x.array::<4>()?)),
        )
    };
    Some(SampledIp {
        length,
        protocol,
        src,
        dst,
        src_port: x.u32()?,
        dst_port: x.u32()?,
        tcp_flags: x.u32()?,
        tos: x.u32()?,
    })
}

fn switch(x: &mut Xdr<'_>) -> Option<ExtendedSwitch> {
    Some(ExtendedSwitch {
        src_vlan: x.u32()?,
        src_priority: x.u32()?,
        dst_vlan: x.u32()?,
        dst_priority: x.u32()?,
    })
}

fn router(x: &mut Xdr<'_>) -> Option<ExtendedRouter> {
    Some(ExtendedRouter {
        next_hop: x.address()?,
        src_mask: x.u32()?,
        dst_mask: x.u32()?,
    })
}

/// Bounds an AS path: a record of this size holds fewer ASes anyway.
const MAX_AS_PATH: u32 = 4096;

fn gateway(x: &mut Xdr<'_>) -> Option<ExtendedGateway> {
    let mut g = ExtendedGateway {
        next_hop: x.address()?,
        asn: x.u32()?,
        src_as: x.u32()?,
        src_peer_as: x.u32()?,
        dst_as: 0,
        dst_peer_as: 0,
        local_pref: 0,
    };
    let segments = x.u32()?;
    for _ in 0..segments.min(MAX_AS_PATH) {
        let _kind = x.u32()?;
        let n = x.u32()?;
        for i in 0..n.min(MAX_AS_PATH) {
            let asn = x.u32()?;
            if g.dst_peer_as == 0 && i == 0 {
                g.dst_peer_as = asn;
            }
            g.dst_as = asn;
        }
    }
    let communities = x.u32()?;
    for _ in 0..communities.min(MAX_AS_PATH) {
        x.u32()?;
    }
    g.local_pref = x.u32()?;
    Some(g)
}

fn counter_sample(x: &mut Xdr<'_>, expanded: bool) -> Option<CounterSample> {
    let mut s = CounterSample {
        seqno: x.u32()?,
        source: source(x, expanded)?,
        ..CounterSample::default()
    };
    let count = x.u32()?;
    for _ in 0..count {
        let (format, mut r) = x.part()?;
        let record = match format {
            1 => interface_counters(&mut r).map(CounterRecord::Interface),
            2 => ethernet_counters(&mut r).map(CounterRecord::Ethernet),
            3 => listed(&mut r, &[false; 18]).map(CounterRecord::TokenRing),
            4 => listed(&mut r, &VG_NAMES.map(|(_, wide)| wide)).map(CounterRecord::Vg),
            5 => vlan_counters(&mut r).map(CounterRecord::Vlan),
            1001 => processor_counters(&mut r).map(CounterRecord::Processor),
            other => Some(CounterRecord::Other(other)),
        };
        match record {
            Some(record) => s.records.push(record),
            None => s.malformed_records += 1,
        }
    }
    Some(s)
}

fn ethernet_counters(x: &mut Xdr<'_>) -> Option<EthernetCounters> {
    Some(EthernetCounters {
        alignment_errors: x.u32()?,
        fcs_errors: x.u32()?,
        single_collision_frames: x.u32()?,
        multiple_collision_frames: x.u32()?,
        sqe_test_errors: x.u32()?,
        deferred_transmissions: x.u32()?,
        late_collisions: x.u32()?,
        excessive_collisions: x.u32()?,
        internal_mac_transmit_errors: x.u32()?,
        carrier_sense_errors: x.u32()?,
        frame_too_longs: x.u32()?,
        internal_mac_receive_errors: x.u32()?,
        symbol_errors: x.u32()?,
    })
}

/// Values of 32 or 64 bits (`wide`), in order.
fn listed(x: &mut Xdr<'_>, wide: &[bool]) -> Option<ListedCounters> {
    let values = wide
        .iter()
        .map(|w| match w {
            true => x.u64(),
            false => x.u32().map(u64::from),
        })
        .collect::<Option<Vec<u64>>>()?;
    Some(ListedCounters { values })
}

fn vlan_counters(x: &mut Xdr<'_>) -> Option<VlanCounters> {
    Some(VlanCounters {
        vlan_id: x.u32()?,
        octets: x.u64()?,
        unicast: x.u32()?,
        multicast: x.u32()?,
        broadcast: x.u32()?,
        discards: x.u32()?,
    })
}

fn processor_counters(x: &mut Xdr<'_>) -> Option<ProcessorCounters> {
    Some(ProcessorCounters {
        cpu_5s: x.u32()?,
        cpu_1m: x.u32()?,
        cpu_5m: x.u32()?,
        total_memory: x.u64()?,
        free_memory: x.u64()?,
    })
}

fn interface_counters(x: &mut Xdr<'_>) -> Option<InterfaceCounters> {
    Some(InterfaceCounters {
        if_index: x.u32()?,
        if_type: x.u32()?,
        if_speed: x.u64()?,
        if_direction: x.u32()?,
        if_status: x.u32()?,
        in_octets: x.u64()?,
        in_unicast: x.u32()?,
        in_multicast: x.u32()?,
        in_broadcast: x.u32()?,
        in_discards: x.u32()?,
        in_errors: x.u32()?,
        in_unknown_protos: x.u32()?,
        out_octets: x.u64()?,
        out_unicast: x.u32()?,
        out_multicast: x.u32()?,
        out_broadcast: x.u32()?,
        out_discards: x.u32()?,
        out_errors: x.u32()?,
        promiscuous: x.u32()?,
    })
}
