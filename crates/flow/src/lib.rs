//! Sans-IO decoding of flow export datagrams: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
//! (RFC 7011, information elements of RFC 7012 and the IANA registry), and sFlow v5
//! ([`decode_sflow`], stateless).
//!
//! This crate owns the export formats and the state they need: templates (scoped by exporter
//! address, version, observation domain / source id and template id), sampling rates learnt
//! from options data, sequence numbers, and data held while its template is unknown. It owns
//! no socket and reads no clock: the caller hands in each datagram with its source address and
//! arrival time ([`Collector::decode`]) and calls [`Collector::expire`] now and then.
//!
//! Promises:
//! - Nothing panics, whatever the bytes: every read is bounds checked.
//! - State is bounded: templates and observation domains per exporter, exporters, and bytes of
//!   held data per exporter are capped by [`Limits`]; what is refused or dropped is counted in
//!   [`CollectorStats`].
//! - A template is compiled once into a table of steps (offset, length, target field), so
//!   decoding a record is a straight walk with no lookup per field; a [`FlowRecord`] whose
//!   `custom` list is empty allocates nothing.
//! - Parsing is lax inside a datagram: a bad set or template is counted and skipped and the
//!   rest of the datagram is still decoded; only an unusable header rejects the datagram.

mod collector;
pub mod export;
mod persist;
mod read;
mod sflow;
mod sflow_agents;
mod template;
mod v5;

use std::net::{IpAddr, Ipv4Addr};

pub use collector::{Collector, CollectorStats, SflowCounters};
pub use sflow::{
    decode_sflow, CounterRecord, CounterSample, DataSource, EthernetCounters, ExtendedGateway,
    ExtendedRouter, ExtendedSwitch, FlowSample, Interface, InterfaceCounters, ListedCounters,
    ProcessorCounters, Sample, SampledEthernet, SampledHeader, SampledIp, SflowDatagram,
    SflowHeader, VlanCounters,
};
pub use sflow_agents::{SampleFacts, SflowAgents, MAX_SOURCES_PER_AGENT};
pub use template::{DATALINK_FRAME, DATALINK_FRAME_SIZE};

/// Bounds on the state one collector keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Templates (data and options, all observation domains) kept per exporter address; one
    /// more is refused and counted in [`CollectorStats::templates_refused`]. The same number
    /// bounds the observation domains tracked per exporter.
    pub max_templates_per_exporter: usize,
    /// Bytes of data sets held per exporter while their template is unknown.
    pub max_pending_bytes_per_exporter: usize,
    /// Seconds held data waits for its template before it is dropped.
    pub pending_secs: i64,
    /// Exporter addresses tracked; datagrams from more are counted in
    /// [`CollectorStats::exporters_refused`] (NetFlow v5 is still decoded: it needs no state).
    pub max_exporters: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_templates_per_exporter: 1024,
            max_pending_bytes_per_exporter: 256 * 1024,
            pending_secs: 30,
            max_exporters: 65536,
        }
    }
}

/// What one datagram's header said, and what decoding it produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramInfo {
    /// 5, 9 or 10 (IPFIX).
    pub version: u16,
    pub seqno: u32,
    /// NetFlow v9 source id or IPFIX observation domain id; v5: `engine_type << 8 | engine_id`.
    pub source_id: u32,
    /// The header's export time, unix seconds.
    pub export_time: u32,
    /// Flow records appended to `out` by this call (including held data released by a
    /// template this datagram carried).
    pub records: usize,
    /// Units missing before this datagram (v5: flows, v9: datagrams, IPFIX: data records).
    pub lost: u64,
}

/// An absolute time: unix seconds and microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowTime {
    pub secs: i64,
    pub micros: u32,
}

impl FlowTime {
    /// From milliseconds since the unix epoch.
    pub fn from_millis(ms: i64) -> FlowTime {
        FlowTime {
            secs: ms.div_euclid(1000),
            micros: (ms.rem_euclid(1000) * 1000) as u32,
        }
    }

    /// From microseconds since the unix epoch.
    pub fn from_micros(us: i64) -> FlowTime {
        FlowTime {
            secs: us.div_euclid(1_000_000),
            micros: us.rem_euclid(1_000_000) as u32,
        }
    }

    /// Milliseconds since the unix epoch (microseconds truncated).
    pub fn as_millis(&self) -> i64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(self.micros / 1000))
    }
}

/// An information element: its private enterprise number (0 for IANA) and its id (without the
/// enterprise bit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomKey {
    pub pen: u32,
    pub id: u16,
}

/// One decoded flow. Fields a datagram did not carry stay at their zero value or `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRecord {
    /// The exporter's address (pmacct's `peer_src_ip`).
    pub exporter: IpAddr,
    pub version: u16,
    pub seqno: u32,
    /// v9 source id / IPFIX observation domain / v5 `engine_type << 8 | engine_id`
    /// (pmacct's `export_proto_sysid`).
    pub source_id: u32,
    pub engine_type: u8,
    pub engine_id: u8,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_port: u16,
    /// For ICMP flows carrying a type/code element: `type * 256 + code`, as pmacct does.
    pub dst_port: u16,
    pub proto: u8,
    pub tos: u8,
    pub tcp_flags: u8,
    pub src_mask: u8,
    pub dst_mask: u8,
    pub src_as: u32,
    pub dst_as: u32,
    pub in_iface: u32,
    pub out_iface: u32,
    pub vlan: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub mpls_label_top: u32,
    pub mpls_label_bottom: u32,
    pub mpls_vpn_rd: Option<[u8; 8]>,
    pub fwd_status: u8,
    pub next_hop: Option<IpAddr>,
    pub bgp_next_hop: Option<IpAddr>,
    /// 0 ingress, 1 egress (IE 61), when the exporter says.
    pub direction: Option<u8>,
    pub bytes: u64,
    pub packets: u64,
    /// 1 unless the record carries a flow count.
    pub flows: u64,
    pub start: Option<FlowTime>,
    pub end: Option<FlowTime>,
    /// 0 = unknown, 1 = unsampled, n = one packet in n.
    pub sampling_rate: u32,
    /// sFlow: the rate the sample pool says the sampler had (packets seen per sample since the
    /// source's previous sample), which renormalization uses; 0 for NetFlow and IPFIX.
    pub effective_rate: u32,
    /// The VNI of a sampled frame that was VXLAN, once the frame is its inner frame
    /// (`decode_vxlan`); 0 otherwise.
    pub vxlan: u32,
    pub sampler_id: Option<u32>,
    pub post_nat_src: Option<IpAddr>,
    pub post_nat_dst: Option<IpAddr>,
    pub post_nat_src_port: u16,
    pub post_nat_dst_port: u16,
    pub nat_event: u8,
    /// Raw bytes of unmapped fields asked for with [`Collector::keep_fields`], in template order.
    pub custom: Vec<(CustomKey, Vec<u8>)>,
}

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            version: 0,
            seqno: 0,
            source_id: 0,
            engine_type: 0,
            engine_id: 0,
            src_addr: None,
            dst_addr: None,
            src_port: 0,
            dst_port: 0,
            proto: 0,
            tos: 0,
            tcp_flags: 0,
            src_mask: 0,
            dst_mask: 0,
            src_as: 0,
            dst_as: 0,
            in_iface: 0,
            out_iface: 0,
            vlan: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            mpls_label_top: 0,
            mpls_label_bottom: 0,
            mpls_vpn_rd: None,
            fwd_status: 0,
            next_hop: None,
            bgp_next_hop: None,
            direction: None,
            bytes: 0,
            packets: 0,
            flows: 0,
            start: None,
            end: None,
            sampling_rate: 0,
            effective_rate: 0,
            vxlan: 0,
            sampler_id: None,
            post_nat_src: None,
            post_nat_dst: None,
            post_nat_src_port: 0,
            post_nat_dst_port: 0,
            nat_event: 0,
            custom: Vec::new(),
        }
    }
}

/// Why a datagram, a set, a template or a templates file was rejected. Each reason is counted
/// separately in [`CollectorStats::malformed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Malformed {
    /// Shorter than its version's header.
    #[error("datagram shorter than its header")]
    TooShort,
    /// Not 5, 9 or 10.
    #[error("unknown export version")]
    BadVersion,
    /// The header's record count or message length disagrees with the datagram's size.
    #[error("header length or count disagrees with the datagram")]
    BadLength,
    /// A set (flowset) whose length is below 4 or runs past the end of the message.
    #[error("set length below 4 or past the end of the message")]
    BadSet,
    /// A template or options template record that cannot be used.
    #[error("unusable template record")]
    BadTemplate,
    /// A data record whose variable-length field runs past the end of its set.
    #[error("data record runs past the end of its set")]
    BadRecord,
    /// A templates file that is not ours or has a bad line.
    #[error("unreadable templates file")]
    BadTemplatesFile,
}

impl Malformed {
    pub const ALL: [Malformed; 7] = [
        Malformed::TooShort,
        Malformed::BadVersion,
        Malformed::BadLength,
        Malformed::BadSet,
        Malformed::BadTemplate,
        Malformed::BadRecord,
        Malformed::BadTemplatesFile,
    ];

    /// Stable snake_case name used in logs and stats.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::TooShort => "too_short",
            Malformed::BadVersion => "bad_version",
            Malformed::BadLength => "bad_length",
            Malformed::BadSet => "bad_set",
            Malformed::BadTemplate => "bad_template",
            Malformed::BadRecord => "bad_record",
            Malformed::BadTemplatesFile => "bad_templates_file",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests;
