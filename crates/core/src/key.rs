//! Aggregation keys and counters, and the per-plugin extractor compiled once from `aggregate`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use pmacct_wire::{IpPacket, L2Info, Ports};

use crate::custom::{ValueId, MAX_CUSTOM};
use crate::labels::LabelId;
use crate::layout::KeyLayout;
use crate::networks::{Networks, PortSet};
use crate::primitive::{Aggregate, Primitive, Sum};

/// An IP address that defaults to `0.0.0.0` (pmacct prints unset addresses so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Addr(pub IpAddr);

impl Default for Addr {
    fn default() -> Self {
        Addr(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// As pmacct prints addresses (inet_ntop: `::ffff:a.b.c.d`, `::a.b.c.d`).
impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(40);
        crate::format::push_addr(&mut s, *self);
        f.write_str(&s)
    }
}

impl Addr {
    /// The address with all bits after `len` cleared.
    pub fn masked(self, len: u8) -> Addr {
        match self.0 {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len.min(32)))
                };
                Addr(IpAddr::V4(Ipv4Addr::from(bits & mask)))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len.min(128)))
                };
                Addr(IpAddr::V6(Ipv6Addr::from(bits & mask)))
            }
        }
    }

    /// The unspecified address of the same family.
    pub fn zero_like(self) -> Addr {
        match self.0 {
            IpAddr::V4(_) => Addr(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            IpAddr::V6(_) => Addr(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        }
    }
}

/// A MAC address printed as pmacct does (`0:1:2:3:4:5` style is not used: two hex digits).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Read access to a key's values by primitive, so the output formats work alike on a decoded
/// [`FlowKey`] and on a packed key read in place ([`crate::layout::PackedKey`]).
pub trait KeyFields {
    /// A numeric primitive (VLAN, ports, protocol, interfaces, masks, tags, the label's id,
    /// ...); 0 for others.
    fn number(&self, p: Primitive) -> u64;
    /// An address primitive (hosts, nets).
    fn addr(&self, p: Primitive) -> Addr;
    /// A MAC primitive.
    fn mac(&self, p: Primitive) -> Mac;
    /// `timestamp_arrival`, `timestamp_start`, `timestamp_end`.
    fn timestamp(&self, p: Primitive) -> Timestamp;
}

impl KeyFields for FlowKey {
    fn number(&self, p: Primitive) -> u64 {
        if let Some(slot) = p.custom_slot() {
            return self.custom.get(slot).map_or(0, |id| u64::from(id.0));
        }
        match p {
            Primitive::Vlan => u64::from(self.vlan),
            Primitive::InCvlan => u64::from(self.cvlan),
            Primitive::Cos => u64::from(self.cos),
            Primitive::Etype => u64::from(self.etype),
            Primitive::InIface => u64::from(self.in_iface),
            Primitive::OutIface => u64::from(self.out_iface),
            Primitive::SrcMask => u64::from(self.src_mask),
            Primitive::DstMask => u64::from(self.dst_mask),
            Primitive::SrcPort => u64::from(self.src_port),
            Primitive::DstPort => u64::from(self.dst_port),
            Primitive::Proto => u64::from(self.proto),
            Primitive::Tos => u64::from(self.tos),
            Primitive::Tag => self.tag,
            Primitive::Tag2 => self.tag2,
            Primitive::Label => u64::from(self.label.0),
            Primitive::SamplingRate => u64::from(self.sampling_rate),
            Primitive::SrcAs => u64::from(self.src_as),
            Primitive::DstAs => u64::from(self.dst_as),
            Primitive::SrcAsName => u64::from(self.src_as_name.0),
            Primitive::DstAsName => u64::from(self.dst_as_name.0),
            Primitive::SrcHostName => u64::from(self.src_host_name.0),
            Primitive::DstHostName => u64::from(self.dst_host_name.0),
            Primitive::SrcHostCountry => u64::from(self.src_country),
            Primitive::DstHostCountry => u64::from(self.dst_country),
            Primitive::SrcHostPocode => u64::from(self.src_pocode.0),
            Primitive::DstHostPocode => u64::from(self.dst_pocode.0),
            Primitive::SrcHostLat => u64::from(self.src_lat as u32),
            Primitive::SrcHostLon => u64::from(self.src_lon as u32),
            Primitive::DstHostLat => u64::from(self.dst_lat as u32),
            Primitive::DstHostLon => u64::from(self.dst_lon as u32),
            Primitive::MplsVpnRd => self.mpls_vpn_rd,
            Primitive::FwdStatus => u64::from(self.fwd_status),
            Primitive::PostNatSrcPort => u64::from(self.post_nat_src_port),
            Primitive::PostNatDstPort => u64::from(self.post_nat_dst_port),
            Primitive::NatEvent => u64::from(self.nat_event),
            Primitive::MplsLabelTop => u64::from(self.mpls_label_top),
            Primitive::MplsLabelBottom => u64::from(self.mpls_label_bottom),
            Primitive::Vxlan => u64::from(self.vxlan),
            Primitive::ExportProtoSeqno => u64::from(self.export_proto_seqno),
            Primitive::ExportProtoVersion => u64::from(self.export_proto_version),
            Primitive::ExportProtoSysid => u64::from(self.export_proto_sysid),
            _ => 0,
        }
    }
    fn addr(&self, p: Primitive) -> Addr {
        match p {
            Primitive::SrcHost => self.src_host,
            Primitive::SrcNet => self.src_net,
            Primitive::DstHost => self.dst_host,
            Primitive::DstNet => self.dst_net,
            Primitive::PeerSrcIp => self.peer_src_ip,
            Primitive::PeerDstIp => self.peer_dst_ip,
            Primitive::PostNatSrcHost => self.post_nat_src_host,
            Primitive::PostNatDstHost => self.post_nat_dst_host,
            _ => Addr::default(),
        }
    }
    fn mac(&self, p: Primitive) -> Mac {
        match p {
            Primitive::SrcMac => self.src_mac,
            Primitive::DstMac => self.dst_mac,
            _ => Mac::default(),
        }
    }
    fn timestamp(&self, p: Primitive) -> Timestamp {
        match p {
            Primitive::TimestampStart => self.timestamp_start,
            Primitive::TimestampEnd => self.timestamp_end,
            Primitive::TimestampArrival => self.timestamp_arrival,
            _ => Timestamp::default(),
        }
    }
}

/// The key of one aggregate: every primitive, zero where not aggregated. `bin` is the start of
/// the time bin (0 without history). Ordering is output order: bin first, then canonical
/// column order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowKey {
    #[serde(default, skip_serializing_if = "is_default")]
    pub bin: i64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tag: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tag2: u64,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub label: LabelId,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_mac: Mac,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_mac: Mac,
    #[serde(default, skip_serializing_if = "is_default")]
    pub vlan: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub cvlan: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub cos: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub etype: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub in_iface: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub out_iface: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_host: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_net: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_host: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_net: Addr,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub src_host_name: LabelId,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub dst_host_name: LabelId,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_mask: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_mask: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_port: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_port: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub proto: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub tos: u8,
    /// ISO country code as two ASCII bytes (0: none).
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_country: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_country: u16,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub src_pocode: LabelId,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub dst_pocode: LabelId,
    /// Latitude and longitude in millionths of a degree.
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_lat: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_lon: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_lat: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_lon: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub sampling_rate: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub timestamp_arrival: Timestamp,
    #[serde(default, skip_serializing_if = "is_default")]
    pub src_as: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dst_as: u32,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub src_as_name: LabelId,
    #[serde(default, skip_serializing_if = "is_default", with = "label_text")]
    pub dst_as_name: LabelId,
    #[serde(default, skip_serializing_if = "is_default")]
    pub peer_src_ip: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub peer_dst_ip: Addr,
    /// The route distinguisher's 8 bytes, big-endian (type, administrator, assigned number).
    #[serde(default, skip_serializing_if = "is_default")]
    pub mpls_vpn_rd: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub fwd_status: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub post_nat_src_host: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub post_nat_dst_host: Addr,
    #[serde(default, skip_serializing_if = "is_default")]
    pub post_nat_src_port: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub post_nat_dst_port: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub nat_event: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub mpls_label_top: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub mpls_label_bottom: u32,
    /// The VXLAN network identifier of a VXLAN packet (24 bits).
    pub vxlan: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub timestamp_start: Timestamp,
    #[serde(default, skip_serializing_if = "is_default")]
    pub timestamp_end: Timestamp,
    #[serde(default, skip_serializing_if = "is_default")]
    pub export_proto_seqno: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub export_proto_version: u16,
    #[serde(default, skip_serializing_if = "is_default")]
    pub export_proto_sysid: u32,
    /// The custom primitives' value ids, by slot (see [`crate::custom`]).
    #[serde(default, skip_serializing_if = "is_default", with = "custom_values")]
    pub custom: [ValueId; MAX_CUSTOM],
}

/// Custom values travel as their bytes (ids mean something only in one process).
mod custom_values {
    use crate::custom::{bytes, intern, ValueId, MAX_CUSTOM};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(ids: &[ValueId; MAX_CUSTOM], s: S) -> Result<S::Ok, S::Error> {
        let values: Vec<Vec<u8>> = ids.iter().map(|id| bytes(*id).to_vec()).collect();
        values.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[ValueId; MAX_CUSTOM], D::Error> {
        let values = Vec::<Vec<u8>>::deserialize(d)?;
        let mut ids = [ValueId(0); MAX_CUSTOM];
        for (id, v) in ids.iter_mut().zip(&values) {
            *id = intern(v);
        }
        Ok(ids)
    }
}

/// Labels travel as their text (ids mean something only in one process).
mod label_text {
    use crate::labels::{intern, text, LabelId};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &LabelId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*id))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LabelId, D::Error> {
        Ok(intern(&String::deserialize(d)?))
    }
}

impl Addr {
    /// The address as 128 bits (IPv4 tagged above the IPv6-mapped range, for hashing only).
    #[inline]
    fn bits(self) -> u128 {
        match self.0 {
            IpAddr::V4(a) => (1u128 << 127) | u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }
}

/// Hashes every field (as `Eq` compares them) packed into a few words: one hasher call per
/// word instead of one per field, which matters on the per-packet path.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mac = |m: Mac| m.0.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        h.write_u128(self.src_host.bits());
        h.write_u128(self.dst_host.bits());
        h.write_u128(self.src_net.bits() ^ self.dst_net.bits().rotate_left(64));
        h.write_u64(mac(self.src_mac) << 16 | u64::from(self.vlan));
        h.write_u64(mac(self.dst_mac) << 16 | u64::from(self.cvlan));
        h.write_u64(
            u64::from(self.etype) << 48
                | u64::from(self.cos) << 40
                | u64::from(self.src_mask) << 32
                | u64::from(self.dst_mask) << 24
                | u64::from(self.proto) << 16
                | u64::from(self.tos) << 8,
        );
        h.write_u64(
            u64::from(self.src_port) << 48
                | u64::from(self.dst_port) << 32
                | u64::from(self.in_iface),
        );
        h.write_u64(u64::from(self.out_iface) << 32 | u64::from(self.timestamp_arrival.micros));
        h.write_i64(self.bin ^ self.timestamp_arrival.secs.rotate_left(32));
        h.write_u64(self.tag ^ self.tag2.rotate_left(32));
        h.write_u64(u64::from(self.label.0) << 32 | u64::from(self.sampling_rate));
        h.write_u64(
            u64::from(self.src_host_name.0) << 32
                | u64::from(self.dst_host_name.0)
                | u64::from(self.src_country) << 48
                | u64::from(self.dst_country) << 16,
        );
        h.write_u64(
            self.custom
                .iter()
                .fold(0u64, |acc, id| acc.rotate_left(7) ^ u64::from(id.0)),
        );
    }
}

/// Zero-valued fields are left out of the query protocol's JSON: a table entry then carries
/// only its aggregated primitives.
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A packet timestamp with microseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Timestamp {
    pub secs: i64,
    pub micros: u32,
}

/// Counters of one aggregate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    #[serde(default, skip_serializing_if = "is_default")]
    pub packets: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub flows: u64,
    /// OR of the TCP flags seen.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tcp_flags: u8,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.flows += other.flows;
        self.tcp_flags |= other.tcp_flags;
    }
}

impl PartialOrd for Counters {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Counters {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.packets, self.bytes, self.flows, self.tcp_flags).cmp(&(
            other.packets,
            other.bytes,
            other.flows,
            other.tcp_flags,
        ))
    }
}

/// What the extractor needs of one packet.
#[derive(Clone, Copy, Debug)]
pub struct PacketFacts {
    pub ts: Timestamp,
    pub l2: L2Info,
    /// `None` for non-IP frames (accounted only with `aggregate_unknown_etype`).
    pub ip: Option<IpPacket>,
    /// Bytes to account (IP length; L2 payload length for non-IP frames).
    pub bytes: u32,
    pub in_iface: u32,
    pub out_iface: u32,
    /// What the pre_tag_map set (0 and the empty label without one).
    pub tags: Tags,
    /// Names, countries and AS numbers of the two addresses, looked up only when a plugin
    /// aggregates them (all zero otherwise).
    pub hosts: HostInfos,
}

/// What the mmdb files and the names seen on the wire say of one address (zero: unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// ISO country code, two ASCII bytes.
    pub country: u16,
    pub pocode: LabelId,
    /// Millionths of a degree.
    pub lat: i32,
    pub lon: i32,
    pub asn: u32,
    pub as_name: LabelId,
    /// The name the client used for the address.
    pub name: LabelId,
}

/// The [`HostInfo`] of a packet's or flow's source and destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostInfos {
    pub src: HostInfo,
    pub dst: HostInfo,
}

impl FlowKey {
    /// Maps every id of the text table (label, postal codes, AS and host names): a peer's ids
    /// to ours.
    pub fn map_texts(&mut self, f: impl Fn(LabelId) -> LabelId) {
        for id in [
            &mut self.label,
            &mut self.src_pocode,
            &mut self.dst_pocode,
            &mut self.src_as_name,
            &mut self.dst_as_name,
            &mut self.src_host_name,
            &mut self.dst_host_name,
        ] {
            *id = f(*id);
        }
    }

    /// Takes names, geography and AS numbers from `h`; an AS number the input already set (a
    /// flow's) stays.
    #[inline]
    pub fn set_hosts(&mut self, h: &HostInfos) {
        self.src_country = h.src.country;
        self.dst_country = h.dst.country;
        self.src_pocode = h.src.pocode;
        self.dst_pocode = h.dst.pocode;
        (self.src_lat, self.src_lon) = (h.src.lat, h.src.lon);
        (self.dst_lat, self.dst_lon) = (h.dst.lat, h.dst.lon);
        self.src_host_name = h.src.name;
        self.dst_host_name = h.dst.name;
        if self.src_as == 0 {
            self.src_as = h.src.asn;
            self.src_as_name = h.src.as_name;
        }
        if self.dst_as == 0 {
            self.dst_as = h.dst.asn;
            self.dst_as_name = h.dst.as_name;
        }
    }
}

/// The tags of a packet: `set_tag`, `set_tag2` and `set_label` of the pre_tag_map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tags {
    pub tag: u64,
    pub tag2: u64,
    pub label: LabelId,
}

/// A decoded record: a key with its counters (tests and tools; the data path carries packed
/// keys in a [`RecordBatch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: FlowKey,
    pub counters: Counters,
    pub ts: i64,
}

/// What one packet or flow record adds to its key, and when.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordMeta {
    /// The record's time, seconds (the plugin's clock and time bin).
    pub ts: i64,
    /// Microseconds past `ts` (a packet's capture time; 0 for flow records).
    pub micros: u32,
    pub bytes: u64,
    pub packets: u32,
    /// Flows the record stands for (0 for a packet; a flow record counts its flows).
    pub flows: u16,
    pub tcp_flags: u8,
    /// A flow record timed by its start: seconds from `ts` to its end (0 for packets), for
    /// `nfacctd_pro_rating`.
    pub span: u32,
}

impl Counters {
    /// Packets, bytes and flows multiplied by `scale` (0 and 1 leave them).
    #[inline]
    pub fn scaled(self, scale: u32) -> Counters {
        if scale <= 1 {
            return self;
        }
        let n = u64::from(scale);
        Counters {
            packets: self.packets.saturating_mul(n),
            bytes: self.bytes.saturating_mul(n),
            flows: self.flows.saturating_mul(n),
            tcp_flags: self.tcp_flags,
        }
    }
}

impl RecordMeta {
    pub fn counters(&self) -> Counters {
        Counters {
            packets: u64::from(self.packets),
            bytes: self.bytes,
            flows: u64::from(self.flows),
            tcp_flags: self.tcp_flags,
        }
    }
}

/// The records of one plugin on their way to it: packed keys of one [`KeyLayout`] side by side
/// in one vector, and their counters in another. A 5-tuple record is 56 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordBatch {
    width: usize,
    keys: Vec<u64>,
    meta: Vec<RecordMeta>,
    /// What each record's packets and bytes stand for: the rate of renormalized sampling (the
    /// batch's records all come from one plugin's lane); 0 reads as 1.
    scale: u32,
}

impl RecordBatch {
    /// An empty batch for keys of `width` words, with room for `records`.
    pub fn with_capacity(width: usize, records: usize) -> Self {
        RecordBatch {
            width,
            keys: Vec::with_capacity(width * records),
            meta: Vec::with_capacity(records),
            scale: 1,
        }
    }

    /// Sets what each record's packets and bytes stand for (see [`RecordMeta::counters`]).
    pub fn set_scale(&mut self, scale: u32) {
        self.scale = scale;
    }

    /// Record `i`'s counters, scaled.
    #[inline]
    pub fn counters(&self, m: &RecordMeta) -> Counters {
        m.counters().scaled(self.scale)
    }

    pub fn width(&self) -> usize {
        self.width
    }
    pub fn len(&self) -> usize {
        self.meta.len()
    }
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }
    pub fn clear(&mut self) {
        self.keys.clear();
        self.meta.clear();
    }

    /// The key of record `i` (empty past the end).
    #[inline]
    pub fn key(&self, i: usize) -> &[u64] {
        let w = self.width.max(1);
        self.keys.get(i * w..(i + 1) * w).unwrap_or(&[])
    }

    /// The records' facts, in arrival order.
    pub fn meta(&self) -> &[RecordMeta] {
        &self.meta
    }

    /// Appends a record with a zeroed key and returns the key to fill in.
    #[inline]
    pub fn push(&mut self, meta: RecordMeta) -> &mut [u64] {
        let at = self.keys.len();
        self.keys.resize(at + self.width, 0);
        self.meta.push(meta);
        &mut self.keys[at..]
    }

    /// Writes each record's time bin into its key; with `pro_rating`, flows spanning several
    /// bins are first cut into them ([`RecordBatch::pro_rated`]).
    pub fn set_bins(
        &mut self,
        layout: &KeyLayout,
        bins: &mut crate::bins::BinLookup,
        pro_rating: bool,
    ) {
        if pro_rating {
            let cut = self.pro_rated(|t| {
                let start = bins.start_of(t);
                (start, bins.bins().next_start(start))
            });
            if let Some(cut) = cut {
                *self = cut;
            }
        }
        for (key, meta) in self.iter_mut() {
            layout.set_bin(key, bins.start_of(meta.ts));
        }
    }

    /// `nfacctd_pro_rating`: the batch with each record whose span crosses a bin boundary cut
    /// into one record per bin it spans, its packets and bytes shared by the seconds in each
    /// (a piece with bytes has at least one packet while there are any; the last piece takes
    /// what rounding leaves, so totals are kept; its flows count in its first bin). `None` when no record needs cutting. `bin` gives a bin's start and the next
    /// bin's start for an instant.
    pub fn pro_rated(&self, mut bin: impl FnMut(i64) -> (i64, i64)) -> Option<RecordBatch> {
        let crosses = |m: &RecordMeta| m.span > 0 && bin(m.ts).1 < m.ts + i64::from(m.span);
        if !self.meta.iter().any(crosses) {
            return None;
        }
        let mut out = RecordBatch::with_capacity(self.width, self.meta.len() * 2);
        out.scale = self.scale;
        for (key, m) in self.keys.chunks_exact(self.width.max(1)).zip(&self.meta) {
            let end = m.ts + i64::from(m.span);
            let (mut from, mut left_bytes, mut left_packets) = (m.ts, m.bytes, m.packets);
            let mut first = true;
            loop {
                let next = bin(from).1.max(from + 1);
                // A flow ending on a bin's first second ends in the bin before it.
                let last = m.span == 0 || next >= end;
                let piece = if last {
                    RecordMeta {
                        ts: from,
                        bytes: left_bytes,
                        packets: left_packets,
                        span: 0,
                        ..*m
                    }
                } else {
                    let share = |total: u64| {
                        (u128::from(total) * (next - from) as u128 / u128::from(m.span)) as u64
                    };
                    let bytes = share(m.bytes);
                    // A piece with bytes has a packet, as long as there are packets left.
                    let packets = (share(u64::from(m.packets)) as u32)
                        .max(u32::from(bytes > 0))
                        .min(left_packets);
                    (left_bytes, left_packets) = (left_bytes - bytes, left_packets - packets);
                    RecordMeta {
                        ts: from,
                        bytes,
                        packets,
                        span: 0,
                        ..*m
                    }
                };
                let flows = if first { m.flows } else { 0 };
                out.push(RecordMeta { flows, ..piece }).copy_from_slice(key);
                if last {
                    break;
                }
                (from, first) = (next, false);
            }
        }
        Some(out)
    }

    /// Keys and counters, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u64], Counters)> + '_ {
        self.keys
            .chunks_exact(self.width.max(1))
            .zip(&self.meta)
            .map(|(k, m)| (k, self.counters(m)))
    }

    /// Keys (writable, e.g. to set their time bin) with their record's facts.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&mut [u64], &RecordMeta)> + '_ {
        self.keys
            .chunks_exact_mut(self.width.max(1))
            .zip(&self.meta)
    }

    /// The last record's time.
    pub fn last_ts(&self) -> Option<i64> {
        self.meta.last().map(|m| m.ts)
    }

    /// The records decoded (tests and tools).
    pub fn decoded(&self, layout: &KeyLayout) -> Vec<Record> {
        self.keys
            .chunks_exact(self.width.max(1))
            .zip(&self.meta)
            .map(|(k, m)| Record {
                key: layout.decode(k),
                counters: self.counters(m),
                ts: m.ts,
            })
            .collect()
    }
}

/// Where nfacctd takes a flow's networks and masks (`nfacctd_net`) or AS numbers
/// (`nfacctd_as`) from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouteSource {
    /// The flow record's own (pmacct's `netflow`, nfacctd's default).
    #[default]
    Flow,
    /// `networks_file`.
    File,
    /// `networks_mask` (networks only).
    Mask,
    /// The longer prefix of the file's and the flow's; the flow's on a tie, unless the flow's
    /// mask is 0 (no route).
    Longest,
}

/// Builds a plugin's packed keys from decoded packets and flow records; compiled once per
/// plugin from its `aggregate`.
#[derive(Clone, Debug)]
pub struct KeyExtractor {
    /// nfacctd: (networks, AS numbers) sources; pmacctd: `None` (files and masks as set).
    flow_routes: Option<(RouteSource, RouteSource)>,
    layout: Arc<KeyLayout>,
    want: [bool; Primitive::ALL.len()],
    sum: Option<Sum>,
    networks: Option<Arc<Networks>>,
    networks_mask: Option<u8>,
    networks_filter: bool,
    ports: Option<Arc<PortSet>>,
    /// `post_tag`, `post_tag2`: constant tags that replace the pre_tag_map's.
    post_tag: Option<u64>,
    post_tag2: Option<u64>,
    /// The `sampling_rate` primitive's value.
    sampling_rate: u32,
}

impl KeyExtractor {
    pub fn new(
        aggregate: &Aggregate,
        layout: Arc<KeyLayout>,
        networks: Option<Arc<Networks>>,
        networks_mask: Option<u8>,
        networks_filter: bool,
        ports: Option<Arc<PortSet>>,
    ) -> Self {
        let mut want = [false; Primitive::ALL.len()];
        for p in &aggregate.columns {
            want[*p as usize] = true;
        }
        KeyExtractor {
            flow_routes: None,
            layout,
            want,
            sum: aggregate.sum,
            networks,
            networks_mask,
            networks_filter,
            ports,
            post_tag: None,
            post_tag2: None,
            sampling_rate: 1,
        }
    }

    /// Tags set by the plugin (`post_tag`, `post_tag2`) instead of the pre_tag_map's.
    pub fn with_post_tags(mut self, tag: Option<u64>, tag2: Option<u64>) -> Self {
        self.post_tag = tag;
        self.post_tag2 = tag2;
        self
    }

    /// nfacctd: where networks, masks and AS numbers come from (`None`: pmacctd's files and
    /// masks).
    pub fn with_flow_routes(mut self, routes: Option<(RouteSource, RouteSource)>) -> Self {
        self.flow_routes = routes;
        self
    }

    /// What the `sampling_rate` primitive reports.
    pub fn with_sampling_rate(mut self, rate: u32) -> Self {
        self.sampling_rate = rate;
        self
    }

    fn wants(&self, p: Primitive) -> bool {
        self.want[p as usize]
    }

    /// Calls `emit` once per record the packet makes (twice for `sum_*`).
    pub fn layout(&self) -> &Arc<KeyLayout> {
        &self.layout
    }

    /// Appends the packet's record (two with `sum_*`) to `out`.
    #[inline]
    pub fn extract(&self, pkt: &PacketFacts, out: &mut RecordBatch) {
        let meta = RecordMeta {
            ts: pkt.ts.secs,
            micros: pkt.ts.micros,
            bytes: u64::from(pkt.bytes),
            packets: 1,
            flows: 0,
            tcp_flags: pkt.ip.map_or(0, |ip| ip.tcp_flags),
            span: 0,
        };
        let full = self.full_key(pkt);
        self.emit(&full, meta, out);
    }

    /// Appends a record whose every field an input already set (a flow record's), with this
    /// plugin's own steps applied: ports_file, networks, post_tag, sampling_rate, sum_*. The
    /// key is the caller's copy, changed in place (a key is a few hundred bytes: no copy here).
    #[inline]
    pub fn extract_key(&self, key: &mut FlowKey, meta: RecordMeta, out: &mut RecordBatch) {
        if let Some(tag) = self.post_tag {
            key.tag = tag;
        }
        if let Some(tag2) = self.post_tag2 {
            key.tag2 = tag2;
        }
        // The exporter's rate (0: unknown, as pmacct reports it) times this plugin's own.
        key.sampling_rate = key.sampling_rate.saturating_mul(self.sampling_rate);
        self.filter_ports(key);
        if let Some((net, asn)) = self.flow_routes {
            self.flow_networks(key, net, asn);
        } else if self.networks.is_some() || self.networks_mask.is_some() {
            self.apply_networks(key);
        } else if self.needs_networks() {
            // The record's own masks (nfacctd_net: netflow).
            key.src_net = key.src_host.masked(key.src_mask);
            key.dst_net = key.dst_host.masked(key.dst_mask);
        }
        self.emit(key, meta, out);
    }

    #[inline]
    fn emit(&self, full: &FlowKey, meta: RecordMeta, out: &mut RecordBatch) {
        match self.sum {
            None => self.layout.encode(full, out.push(meta)),
            Some(sum) => {
                let (a, b) = sum_keys(sum, full);
                self.layout.encode(&a, out.push(meta));
                self.layout.encode(&b, out.push(meta));
            }
        }
    }

    fn full_key(&self, pkt: &PacketFacts) -> FlowKey {
        let mut k = FlowKey {
            src_mac: Mac(pkt.l2.src_mac),
            dst_mac: Mac(pkt.l2.dst_mac),
            vlan: pkt.l2.vlan,
            cvlan: pkt.l2.cvlan,
            cos: pkt.l2.cos,
            etype: pkt.l2.etype,
            in_iface: pkt.in_iface,
            out_iface: pkt.out_iface,
            timestamp_arrival: pkt.ts,
            tag: self.post_tag.unwrap_or(pkt.tags.tag),
            tag2: self.post_tag2.unwrap_or(pkt.tags.tag2),
            label: pkt.tags.label,
            sampling_rate: self.sampling_rate,
            ..FlowKey::default()
        };
        k.set_hosts(&pkt.hosts);
        if let Some(ip) = &pkt.ip {
            k.src_host = Addr(ip.src);
            k.dst_host = Addr(ip.dst);
            k.proto = ip.proto;
            k.tos = ip.tos;
            if let Ports::Found { src, dst } = ip.ports {
                k.src_port = src;
                k.dst_port = dst;
                self.filter_ports(&mut k);
            }
            self.apply_networks(&mut k);
        }
        k
    }

    /// ports_file: ports not listed count as 0.
    #[inline]
    fn filter_ports(&self, k: &mut FlowKey) {
        if let Some(ports) = &self.ports {
            if !ports.contains(k.src_port) {
                k.src_port = 0;
            }
            if !ports.contains(k.dst_port) {
                k.dst_port = 0;
            }
        }
    }

    /// Whether the plugin's key needs networks or masks.
    #[inline]
    fn needs_networks(&self) -> bool {
        self.sum == Some(Sum::Net)
            || self.networks_filter
            || [
                Primitive::SrcNet,
                Primitive::DstNet,
                Primitive::SrcMask,
                Primitive::DstMask,
            ]
            .iter()
            .any(|p| self.wants(*p))
    }

    /// Networks and masks from networks_file / networks_mask, when the plugin needs them.
    #[inline]
    fn apply_networks(&self, k: &mut FlowKey) {
        if !self.needs_networks() {
            return;
        }
        let (sn, sm, s_in) = self.net_of(k.src_host);
        let (dn, dm, d_in) = self.net_of(k.dst_host);
        k.src_net = sn;
        k.src_mask = sm;
        k.dst_net = dn;
        k.dst_mask = dm;
        if self.networks_filter {
            if !s_in {
                k.src_host = k.src_host.zero_like();
            }
            if !d_in {
                k.dst_host = k.dst_host.zero_like();
            }
        }
    }

    /// nfacctd's networks, masks and AS numbers, each side from `net` and `asn`.
    fn flow_networks(&self, k: &mut FlowKey, net: RouteSource, asn: RouteSource) {
        let wants_as = self.wants(Primitive::SrcAs) || self.wants(Primitive::DstAs);
        if !(self.needs_networks() || wants_as && asn != RouteSource::Flow) {
            return;
        }
        let sides = [
            (k.src_host, k.src_mask, k.src_as),
            (k.dst_host, k.dst_mask, k.dst_as),
        ];
        let [(sn, sm, sa), (dn, dm, da)] = sides.map(|(host, flow_mask, flow_as)| {
            let file = self.networks.as_ref().and_then(|n| n.lookup(host.0));
            // A flow mask of 0 says the exporter knew no route: the file's (or nothing) wins.
            let file_wins = flow_mask == 0 || matches!(file, Some((len, _)) if len > flow_mask);
            let len = match net {
                RouteSource::Flow => flow_mask,
                RouteSource::File => file.map_or(0, |(len, _)| len),
                RouteSource::Mask => match host.0 {
                    IpAddr::V4(_) => self.networks_mask.unwrap_or(0).min(32),
                    IpAddr::V6(_) => self.networks_mask.unwrap_or(0),
                },
                RouteSource::Longest if file_wins => file.map_or(0, |(len, _)| len),
                RouteSource::Longest => flow_mask,
            };
            let asn = match asn {
                RouteSource::File => file.map_or(0, |(_, a)| a),
                RouteSource::Longest if file_wins => file.map_or(0, |(_, a)| a),
                _ => flow_as,
            };
            (host.masked(len), len, asn)
        });
        (k.src_net, k.src_mask, k.src_as) = (sn, sm, sa);
        (k.dst_net, k.dst_mask, k.dst_as) = (dn, dm, da);
    }

    /// The network and mask of an address, and whether a networks_file entry matched.
    fn net_of(&self, addr: Addr) -> (Addr, u8, bool) {
        let mut result = (addr.zero_like(), 0, false);
        if let Some(mask) = self.networks_mask {
            let len = match addr.0 {
                IpAddr::V4(_) => mask.min(32),
                IpAddr::V6(_) => mask,
            };
            result = (addr.masked(len), len, false);
        }
        if let Some(nets) = &self.networks {
            if let Some(len) = nets.longest_match(addr.0) {
                result = (addr.masked(len), len, true);
            }
        }
        result
    }
}

fn sum_keys(sum: Sum, full: &FlowKey) -> (FlowKey, FlowKey) {
    let mut a = FlowKey::default();
    let mut b = FlowKey::default();
    match sum {
        Sum::Host => {
            a.src_host = full.src_host;
            b.src_host = full.dst_host;
        }
        Sum::Net => {
            a.src_net = full.src_net;
            b.src_net = full.dst_net;
        }
        Sum::Port => {
            a.src_port = full.src_port;
            b.src_port = full.dst_port;
        }
        Sum::Mac => {
            a.src_mac = full.src_mac;
            b.src_mac = full.dst_mac;
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(src: &str, dst: &str, sport: u16, dport: u16) -> PacketFacts {
        let mut ip = IpPacket::new(L2Info::default());
        ip.src = src.parse().unwrap();
        ip.dst = dst.parse().unwrap();
        ip.proto = 6;
        ip.length = 100;
        ip.tcp_flags = 0x02;
        ip.ports = Ports::Found {
            src: sport,
            dst: dport,
        };
        PacketFacts {
            ts: Timestamp {
                secs: 1_700_000_000,
                micros: 5,
            },
            l2: L2Info::default(),
            ip: Some(ip),
            bytes: 100,
            in_iface: 0,
            out_iface: 0,
            tags: Default::default(),
            hosts: Default::default(),
        }
    }

    fn extractor(agg: &str, networks: Option<Networks>, ports: Option<PortSet>) -> KeyExtractor {
        let aggregate = Aggregate::parse(agg).unwrap();
        let layout = Arc::new(KeyLayout::new(&aggregate, false));
        KeyExtractor::new(
            &aggregate,
            layout,
            networks.map(Arc::new),
            None,
            false,
            ports.map(Arc::new),
        )
    }

    fn run(e: &KeyExtractor, pkt: &PacketFacts) -> Vec<Record> {
        let mut batch = RecordBatch::with_capacity(e.layout().words(), 2);
        e.extract(pkt, &mut batch);
        batch.decoded(e.layout())
    }

    fn records(agg: &str, pkt: &PacketFacts) -> Vec<Record> {
        run(&extractor(agg, None, None), pkt)
    }

    #[test]
    fn only_aggregated_primitives_are_kept() {
        let r = records(
            "src_host, dst_port",
            &packet("10.0.0.1", "10.0.0.2", 1234, 80),
        );
        assert_eq!(r.len(), 1);
        let k = r[0].key;
        assert_eq!(k.src_host.to_string(), "10.0.0.1");
        assert_eq!(k.dst_host, Addr::default());
        assert_eq!((k.src_port, k.dst_port, k.proto), (0, 80, 0));
        assert_eq!(
            r[0].counters,
            Counters {
                packets: 1,
                bytes: 100,
                flows: 0,
                tcp_flags: 2
            }
        );
    }

    #[test]
    fn sum_host_makes_two_records_in_the_source_column() {
        let r = records("sum_host", &packet("10.0.0.1", "10.0.0.2", 1, 2));
        let hosts: Vec<String> = r.iter().map(|r| r.key.src_host.to_string()).collect();
        assert_eq!(hosts, vec!["10.0.0.1", "10.0.0.2"]);
        assert!(r.iter().all(|r| r.key.dst_host == Addr::default()));
    }

    #[test]
    fn networks_and_ports() {
        let nets = Networks::parse("n", "10.0.0.0/24\n192.168.0.0/16\n192.168.1.0/24\n").unwrap();
        let ports = PortSet::parse("p", "80\n53\n").unwrap();
        let e = extractor(
            "src_net,dst_net,src_mask,dst_mask,src_port,dst_port",
            Some(nets),
            Some(ports),
        );
        let out = run(&e, &packet("192.168.1.7", "8.8.8.8", 12345, 80));
        let k = out[0].key;
        assert_eq!(
            (k.src_net.to_string(), k.src_mask),
            ("192.168.1.0".to_string(), 24)
        );
        assert_eq!(
            (k.dst_net.to_string(), k.dst_mask),
            ("0.0.0.0".to_string(), 0)
        );
        assert_eq!((k.src_port, k.dst_port), (0, 80));
    }

    #[test]
    fn masking() {
        let a = Addr("2001:db8:1234::1".parse().unwrap());
        assert_eq!(a.masked(32).to_string(), "2001:db8::");
        assert_eq!(
            Addr("10.1.2.3".parse().unwrap()).masked(0).to_string(),
            "0.0.0.0"
        );
    }
}

#[cfg(test)]
mod pro_rating_tests {
    use super::*;

    fn five_minutes(t: i64) -> (i64, i64) {
        let start = t - t.rem_euclid(300);
        (start, start + 300)
    }

    fn batch(metas: &[RecordMeta]) -> RecordBatch {
        let mut b = RecordBatch::with_capacity(1, metas.len());
        for (i, m) in metas.iter().enumerate() {
            b.push(*m)[0] = i as u64;
        }
        b
    }

    fn pieces(b: &RecordBatch) -> Vec<(u64, i64, u64, u32, u16)> {
        b.keys
            .iter()
            .zip(&b.meta)
            .map(|(k, m)| (*k, m.ts, m.bytes, m.packets, m.flows))
            .collect()
    }

    #[test]
    fn a_flow_is_shared_by_the_seconds_it_spends_in_each_bin() {
        let t0 = 1_700_000_100; // a multiple of 300
                                // pmacct's example: 1,000 s, 1,000 bytes, from a bin's start: 300, 300, 300, 100.
        let flow = RecordMeta {
            ts: t0,
            bytes: 1000,
            packets: 10,
            flows: 1,
            span: 1000,
            ..RecordMeta::default()
        };
        // Within one bin (and a packet, span 0): nothing to cut.
        let short = RecordMeta {
            ts: t0 + 10,
            span: 200,
            ..flow
        };
        let packet = RecordMeta {
            ts: t0 + 299,
            span: 0,
            ..flow
        };
        assert!(batch(&[short, packet]).pro_rated(five_minutes).is_none());
        let cut = batch(&[flow, short]).pro_rated(five_minutes).expect("cut");
        assert_eq!(
            pieces(&cut),
            vec![
                (0, t0, 300, 3, 1),
                (0, t0 + 300, 300, 3, 0),
                (0, t0 + 600, 300, 3, 0),
                (0, t0 + 900, 100, 1, 0),
                (1, t0 + 10, 1000, 10, 1),
            ]
        );
        // Mid-bin start, an end on a bin's first second, counts that do not divide evenly:
        // the totals are kept and no empty piece is made.
        let odd = RecordMeta {
            ts: t0 + 200,
            bytes: 7,
            packets: 3,
            span: 400,
            ..flow
        };
        let cut = batch(&[odd]).pro_rated(five_minutes).expect("cut");
        assert_eq!(
            pieces(&cut),
            vec![(0, t0 + 200, 1, 1, 1), (0, t0 + 300, 6, 2, 0)]
        );
        // One packet over three bins: the first piece has it, the others only bytes.
        let one = RecordMeta {
            ts: t0,
            bytes: 900,
            packets: 1,
            span: 900,
            ..flow
        };
        let cut = batch(&[one]).pro_rated(five_minutes).expect("cut");
        assert_eq!(
            pieces(&cut),
            vec![
                (0, t0, 300, 1, 1),
                (0, t0 + 300, 300, 0, 0),
                (0, t0 + 600, 300, 0, 0)
            ]
        );
    }
}
