//! Compact keys: each plugin's key holds only the primitives it aggregates, packed big-endian
//! into whole 64-bit words.
//!
//! Promises:
//! - A [`KeyLayout`] is compiled once per plugin from `aggregate`; a record of that plugin is
//!   [`KeyLayout::words`] words long whatever other primitives exist, so adding primitives never
//!   grows the record of a plugin that does not use them.
//! - Keys hash and compare as whole words, and comparing two keys word by word gives pmacct's
//!   output order: the time bin first, then the canonical column order (every field is encoded
//!   so that its bytes sort as its value does).
//! - [`KeyLayout::decode`] gives back exactly the [`FlowKey`] that [`KeyLayout::encode`] was
//!   given, restricted to the layout's primitives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::key::{Addr, FlowKey, KeyFields, Mac, Timestamp};
use crate::primitive::{Aggregate, Primitive};

/// Where one primitive sits in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    primitive: Primitive,
    offset: usize,
}

/// The byte layout of one plugin's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLayout {
    /// The time bin's start occupies the first word.
    bin: bool,
    fields: Vec<Field>,
    /// Each primitive's byte offset, by `Primitive as usize` (`None`: not in the key).
    offsets: [Option<u16>; Primitive::ALL.len()],
    words: usize,
}

/// How a primitive's bytes read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Addr,
    Mac,
    Other,
}

impl Kind {
    #[inline]
    fn of(p: Primitive) -> Kind {
        match p {
            Primitive::SrcMac | Primitive::DstMac => Kind::Mac,
            p if p.is_address() => Kind::Addr,
            p if p.is_timestamp() => Kind::Other,
            Primitive::TcpFlags => Kind::Other,
            _ => Kind::Number,
        }
    }
}

/// Bytes a primitive takes in a key (0: not part of the key, such as the OR of TCP flags,
/// which is a counter).
fn width(p: Primitive) -> usize {
    match p {
        Primitive::SrcMac | Primitive::DstMac => 6,
        Primitive::Vlan | Primitive::InCvlan | Primitive::Etype => 2,
        Primitive::SrcPort | Primitive::DstPort => 2,
        Primitive::Cos | Primitive::Proto | Primitive::Tos => 1,
        Primitive::SrcMask | Primitive::DstMask => 1,
        Primitive::InIface | Primitive::OutIface => 4,
        Primitive::Tag | Primitive::Tag2 => 8,
        // The label's id (see `labels`).
        Primitive::Label => 4,
        Primitive::SamplingRate => 4,
        Primitive::SrcAs | Primitive::DstAs => 4,
        // Two ASCII letters.
        Primitive::SrcHostCountry | Primitive::DstHostCountry => 2,
        // Ids of the text table (see `labels`), and coordinates in millionths of a degree.
        Primitive::SrcHostPocode
        | Primitive::DstHostPocode
        | Primitive::SrcAsName
        | Primitive::DstAsName
        | Primitive::SrcHostName
        | Primitive::DstHostName => 4,
        Primitive::SrcHostLat
        | Primitive::SrcHostLon
        | Primitive::DstHostLat
        | Primitive::DstHostLon => 4,
        Primitive::MplsVpnRd => 8,
        Primitive::FwdStatus | Primitive::NatEvent => 1,
        Primitive::PostNatSrcPort | Primitive::PostNatDstPort => 2,
        Primitive::MplsLabelTop | Primitive::MplsLabelBottom => 4,
        // VXLAN network identifiers are 24 bits.
        Primitive::Vxlan => 3,
        Primitive::ExportProtoSeqno | Primitive::ExportProtoSysid => 4,
        Primitive::ExportProtoVersion => 2,
        // A family byte (0 IPv4, 1 IPv6), then 16 address bytes (IPv4 in the first four).
        Primitive::SrcHost
        | Primitive::SrcNet
        | Primitive::DstHost
        | Primitive::DstNet
        | Primitive::PeerSrcIp
        | Primitive::PeerDstIp
        | Primitive::PostNatSrcHost
        | Primitive::PostNatDstHost => 17,
        // Seconds (sign-flipped, 8 bytes) and microseconds (4).
        Primitive::TimestampArrival | Primitive::TimestampStart | Primitive::TimestampEnd => 12,
        Primitive::TcpFlags => 0,
        // A custom primitive's value id (see `custom`).
        _ => 4,
    }
}

impl KeyLayout {
    /// The layout of `aggregate`'s columns, with a leading time-bin word when `bins`.
    pub fn new(aggregate: &Aggregate, bins: bool) -> KeyLayout {
        let mut offset = if bins { 8 } else { 0 };
        let mut fields = Vec::new();
        let mut offsets = [None; Primitive::ALL.len()];
        for p in &aggregate.columns {
            let w = width(*p);
            if w == 0 {
                continue;
            }
            fields.push(Field {
                primitive: *p,
                offset,
            });
            offsets[*p as usize] = u16::try_from(offset).ok();
            offset += w;
        }
        KeyLayout {
            bin: bins,
            fields,
            offsets,
            // At least one word, so an empty key (`aggregate: none`) is still a key.
            words: offset.div_ceil(8).max(1),
        }
    }

    /// Words per key.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Whether the first word is the time bin.
    pub fn has_bin(&self) -> bool {
        self.bin
    }

    /// Writes `key`'s fields of this layout into `out` (exactly [`Self::words`] words, zeroed
    /// by the caller).
    #[inline]
    pub fn encode(&self, key: &FlowKey, out: &mut [u64]) {
        if self.bin {
            put_be(out, 0, order_i64(key.bin), 8);
        }
        for f in &self.fields {
            put(f.primitive, key, out, f.offset);
        }
    }

    /// Encodes into a new vector.
    pub fn encoded(&self, key: &FlowKey) -> Vec<u64> {
        let mut out = vec![0; self.words];
        self.encode(key, &mut out);
        out
    }

    /// The key a packed key stands for (primitives outside the layout are zero).
    pub fn decode(&self, words: &[u64]) -> FlowKey {
        let mut key = FlowKey::default();
        if self.bin {
            key.bin = unorder_i64(get_be(words, 0, 8));
        }
        for f in &self.fields {
            get(f.primitive, words, f.offset, &mut key);
        }
        key
    }

    /// The time bin of a packed key (0 without bins).
    pub fn bin(&self, words: &[u64]) -> i64 {
        match (self.bin, words.first()) {
            (true, Some(w)) => unorder_i64(*w),
            _ => 0,
        }
    }

    /// A packed key read in place (for output, without decoding it).
    pub fn view<'a>(&'a self, words: &'a [u64]) -> PackedKey<'a> {
        PackedKey {
            layout: self,
            words,
        }
    }

    /// Sets the time bin of a packed key.
    #[inline]
    pub fn set_bin(&self, words: &mut [u64], bin: i64) {
        if self.bin {
            if let Some(w) = words.first_mut() {
                *w = order_i64(bin);
            }
        }
    }
}

/// A packed key and its layout: its values read straight from the words.
#[derive(Clone, Copy, Debug)]
pub struct PackedKey<'a> {
    layout: &'a KeyLayout,
    words: &'a [u64],
}

impl PackedKey<'_> {
    /// The time bin (0 without bins).
    pub fn bin(&self) -> i64 {
        self.layout.bin(self.words)
    }
    #[inline]
    fn offset(&self, p: Primitive) -> Option<usize> {
        self.layout.offsets[p as usize].map(usize::from)
    }
}

impl KeyFields for PackedKey<'_> {
    #[inline]
    fn number(&self, p: Primitive) -> u64 {
        match (self.offset(p), Kind::of(p)) {
            (Some(at), Kind::Number) => get_be(self.words, at, width(p)),
            _ => 0,
        }
    }
    #[inline]
    fn addr(&self, p: Primitive) -> Addr {
        match (self.offset(p), Kind::of(p)) {
            (Some(at), Kind::Addr) => get_addr(self.words, at),
            _ => Addr::default(),
        }
    }
    fn mac(&self, p: Primitive) -> Mac {
        match (self.offset(p), Kind::of(p)) {
            (Some(at), Kind::Mac) => get_mac(self.words, at),
            _ => Mac::default(),
        }
    }
    fn timestamp(&self, p: Primitive) -> Timestamp {
        match self.offset(p).filter(|_| Kind::of(p) == Kind::Other) {
            Some(at) => Timestamp {
                secs: unorder_i64(get_be(self.words, at, 8)),
                micros: get_be(self.words, at + 8, 4) as u32,
            },
            None => Timestamp::default(),
        }
    }
}

/// Signed values as unsigned ones that sort the same way.
fn order_i64(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn unorder_i64(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// ORs the low `len` bytes of `value`, big-endian, into the key at byte `offset` (the key's
/// words read as one big-endian byte string).
#[inline]
fn put_be(out: &mut [u64], offset: usize, value: u64, len: usize) {
    if value == 0 {
        return; // the key is zeroed already
    }
    let (word, within) = (offset / 8, offset % 8);
    let value = u128::from(value) & (u128::MAX >> (128 - 8 * len));
    let bits = value << (128 - 8 * (within + len));
    if let Some(w) = out.get_mut(word) {
        *w |= (bits >> 64) as u64;
    }
    if within + len > 8 {
        if let Some(w) = out.get_mut(word + 1) {
            *w |= bits as u64;
        }
    }
}

fn mac_bits(m: Mac) -> u64 {
    m.0.iter().fold(0, |acc, b| acc << 8 | u64::from(*b))
}

#[inline]
fn put_addr(a: Addr, out: &mut [u64], offset: usize) {
    match a.0 {
        // Family byte 0 (left as the caller zeroed it), then the four address bytes.
        IpAddr::V4(v4) => put_be(out, offset + 1, u64::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            put_be(out, offset, 1, 1);
            put_be(out, offset + 1, (bits >> 64) as u64, 8);
            put_be(out, offset + 9, bits as u64, 8);
        }
    }
}

#[inline]
fn put(p: Primitive, k: &FlowKey, out: &mut [u64], at: usize) {
    match p {
        Primitive::SrcMac => put_be(out, at, mac_bits(k.src_mac), 6),
        Primitive::DstMac => put_be(out, at, mac_bits(k.dst_mac), 6),
        Primitive::Vlan => put_be(out, at, u64::from(k.vlan), 2),
        Primitive::InCvlan => put_be(out, at, u64::from(k.cvlan), 2),
        Primitive::Cos => put_be(out, at, u64::from(k.cos), 1),
        Primitive::Etype => put_be(out, at, u64::from(k.etype), 2),
        Primitive::InIface => put_be(out, at, u64::from(k.in_iface), 4),
        Primitive::OutIface => put_be(out, at, u64::from(k.out_iface), 4),
        Primitive::SrcHost => put_addr(k.src_host, out, at),
        Primitive::SrcNet => put_addr(k.src_net, out, at),
        Primitive::DstHost => put_addr(k.dst_host, out, at),
        Primitive::DstNet => put_addr(k.dst_net, out, at),
        Primitive::SrcMask => put_be(out, at, u64::from(k.src_mask), 1),
        Primitive::DstMask => put_be(out, at, u64::from(k.dst_mask), 1),
        Primitive::SrcPort => put_be(out, at, u64::from(k.src_port), 2),
        Primitive::DstPort => put_be(out, at, u64::from(k.dst_port), 2),
        Primitive::Proto => put_be(out, at, u64::from(k.proto), 1),
        Primitive::Tos => put_be(out, at, u64::from(k.tos), 1),
        Primitive::Tag => put_be(out, at, k.tag, 8),
        Primitive::Tag2 => put_be(out, at, k.tag2, 8),
        Primitive::Label => put_be(out, at, u64::from(k.label.0), 4),
        Primitive::SamplingRate => put_be(out, at, u64::from(k.sampling_rate), 4),
        Primitive::PeerSrcIp => put_addr(k.peer_src_ip, out, at),
        Primitive::PeerDstIp => put_addr(k.peer_dst_ip, out, at),
        Primitive::PostNatSrcHost => put_addr(k.post_nat_src_host, out, at),
        Primitive::PostNatDstHost => put_addr(k.post_nat_dst_host, out, at),
        Primitive::TimestampArrival => put_time(k.timestamp_arrival, out, at),
        Primitive::TimestampStart => put_time(k.timestamp_start, out, at),
        Primitive::TimestampEnd => put_time(k.timestamp_end, out, at),
        Primitive::TcpFlags => {}
        // Numbers: their value in their width.
        _ => put_be(out, at, k.number(p), width(p)),
    }
}

#[inline]
fn put_time(t: Timestamp, out: &mut [u64], at: usize) {
    put_be(out, at, order_i64(t.secs), 8);
    put_be(out, at + 8, u64::from(t.micros), 4);
}

fn get_time(words: &[u64], at: usize) -> Timestamp {
    Timestamp {
        secs: unorder_i64(get_be(words, at, 8)),
        micros: get_be(words, at + 8, 4) as u32,
    }
}

/// The `len` bytes at byte `offset` of the key, big-endian, as a number.
#[inline]
fn get_be(words: &[u64], offset: usize, len: usize) -> u64 {
    let (word, within) = (offset / 8, offset % 8);
    let hi = u128::from(words.get(word).copied().unwrap_or(0)) << 64;
    let lo = if within + len > 8 {
        u128::from(words.get(word + 1).copied().unwrap_or(0))
    } else {
        0
    };
    let v = (hi | lo) >> (128 - 8 * (within + len));
    (v & (u128::MAX >> (128 - 8 * len))) as u64
}

fn get_addr(words: &[u64], at: usize) -> Addr {
    let hi = get_be(words, at + 1, 8);
    let lo = get_be(words, at + 9, 8);
    if get_be(words, at, 1) == 0 {
        Addr(IpAddr::V4(Ipv4Addr::from((hi >> 32) as u32)))
    } else {
        Addr(IpAddr::V6(Ipv6Addr::from(
            u128::from(hi) << 64 | u128::from(lo),
        )))
    }
}

fn get_mac(words: &[u64], at: usize) -> Mac {
    let v = get_be(words, at, 6).to_be_bytes();
    Mac([v[2], v[3], v[4], v[5], v[6], v[7]])
}

fn text_id(n: u64) -> crate::labels::LabelId {
    crate::labels::LabelId(n as u32)
}

fn get(p: Primitive, words: &[u64], at: usize, k: &mut FlowKey) {
    let n = |len| get_be(words, at, len);
    match p {
        Primitive::SrcMac => k.src_mac = get_mac(words, at),
        Primitive::DstMac => k.dst_mac = get_mac(words, at),
        Primitive::Vlan => k.vlan = n(2) as u16,
        Primitive::InCvlan => k.cvlan = n(2) as u16,
        Primitive::Cos => k.cos = n(1) as u8,
        Primitive::Etype => k.etype = n(2) as u16,
        Primitive::InIface => k.in_iface = n(4) as u32,
        Primitive::OutIface => k.out_iface = n(4) as u32,
        Primitive::SrcHost => k.src_host = get_addr(words, at),
        Primitive::SrcNet => k.src_net = get_addr(words, at),
        Primitive::DstHost => k.dst_host = get_addr(words, at),
        Primitive::DstNet => k.dst_net = get_addr(words, at),
        Primitive::SrcMask => k.src_mask = n(1) as u8,
        Primitive::DstMask => k.dst_mask = n(1) as u8,
        Primitive::SrcPort => k.src_port = n(2) as u16,
        Primitive::DstPort => k.dst_port = n(2) as u16,
        Primitive::Proto => k.proto = n(1) as u8,
        Primitive::Tos => k.tos = n(1) as u8,
        Primitive::Tag => k.tag = n(8),
        Primitive::Tag2 => k.tag2 = n(8),
        Primitive::Label => k.label = crate::labels::LabelId(n(4) as u32),
        Primitive::SamplingRate => k.sampling_rate = n(4) as u32,
        Primitive::TimestampArrival => k.timestamp_arrival = get_time(words, at),
        Primitive::TimestampStart => k.timestamp_start = get_time(words, at),
        Primitive::TimestampEnd => k.timestamp_end = get_time(words, at),
        Primitive::PeerSrcIp => k.peer_src_ip = get_addr(words, at),
        Primitive::PeerDstIp => k.peer_dst_ip = get_addr(words, at),
        Primitive::PostNatSrcHost => k.post_nat_src_host = get_addr(words, at),
        Primitive::PostNatDstHost => k.post_nat_dst_host = get_addr(words, at),
        Primitive::SrcAs => k.src_as = n(4) as u32,
        Primitive::DstAs => k.dst_as = n(4) as u32,
        Primitive::SrcAsName => k.src_as_name = text_id(n(4)),
        Primitive::DstAsName => k.dst_as_name = text_id(n(4)),
        Primitive::SrcHostName => k.src_host_name = text_id(n(4)),
        Primitive::DstHostName => k.dst_host_name = text_id(n(4)),
        Primitive::SrcHostCountry => k.src_country = n(2) as u16,
        Primitive::DstHostCountry => k.dst_country = n(2) as u16,
        Primitive::SrcHostPocode => k.src_pocode = text_id(n(4)),
        Primitive::DstHostPocode => k.dst_pocode = text_id(n(4)),
        Primitive::SrcHostLat => k.src_lat = n(4) as u32 as i32,
        Primitive::SrcHostLon => k.src_lon = n(4) as u32 as i32,
        Primitive::DstHostLat => k.dst_lat = n(4) as u32 as i32,
        Primitive::DstHostLon => k.dst_lon = n(4) as u32 as i32,
        Primitive::MplsVpnRd => k.mpls_vpn_rd = n(8),
        Primitive::FwdStatus => k.fwd_status = n(1) as u8,
        Primitive::PostNatSrcPort => k.post_nat_src_port = n(2) as u16,
        Primitive::PostNatDstPort => k.post_nat_dst_port = n(2) as u16,
        Primitive::NatEvent => k.nat_event = n(1) as u8,
        Primitive::MplsLabelTop => k.mpls_label_top = n(4) as u32,
        Primitive::MplsLabelBottom => k.mpls_label_bottom = n(4) as u32,
        Primitive::Vxlan => k.vxlan = n(3) as u32,
        Primitive::ExportProtoSeqno => k.export_proto_seqno = n(4) as u32,
        Primitive::ExportProtoVersion => k.export_proto_version = n(2) as u16,
        Primitive::ExportProtoSysid => k.export_proto_sysid = n(4) as u32,
        Primitive::TcpFlags => {}
        p => {
            if let Some(id) = p.custom_slot().and_then(|slot| k.custom.get_mut(slot)) {
                *id = crate::custom::ValueId(n(4) as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: &str, dst: &str, sport: u16, dport: u16, proto: u8, bin: i64) -> FlowKey {
        FlowKey {
            bin,
            src_host: Addr(src.parse().unwrap()),
            dst_host: Addr(dst.parse().unwrap()),
            src_port: sport,
            dst_port: dport,
            proto,
            ..FlowKey::default()
        }
    }

    #[test]
    fn five_tuple_packs_into_five_words_and_round_trips() {
        let l = KeyLayout::new(
            &Aggregate::parse("src_host,dst_host,src_port,dst_port,proto").unwrap(),
            false,
        );
        assert_eq!(l.words(), 5);
        for k in [
            key("10.0.0.1", "192.168.1.2", 1234, 80, 6, 0),
            key("2001:db8::1", "fe80::2", 0, 443, 17, 0),
            key("0.0.0.0", "::", 0, 0, 0, 0),
        ] {
            assert_eq!(l.decode(&l.encoded(&k)), k);
        }
    }

    #[test]
    fn every_primitive_round_trips() {
        let all: Vec<&str> = Primitive::ALL.iter().map(|p| p.name()).collect();
        let l = KeyLayout::new(&Aggregate::parse(&all.join(",")).unwrap(), true);
        assert_eq!(l.words(), 41);
        let k = FlowKey {
            bin: -5,
            tag: u64::MAX,
            tag2: 1,
            label: crate::labels::intern("layout-test"),
            sampling_rate: 100,
            src_mac: Mac([1, 2, 3, 4, 5, 6]),
            dst_mac: Mac([7, 8, 9, 10, 11, 12]),
            vlan: 4094,
            cvlan: 7,
            cos: 5,
            etype: 0x86dd,
            in_iface: 3,
            out_iface: 0xffff_ffff,
            src_host: Addr("2001:db8::1".parse().unwrap()),
            src_net: Addr("2001:db8::".parse().unwrap()),
            dst_host: Addr("10.1.2.3".parse().unwrap()),
            dst_net: Addr("10.1.0.0".parse().unwrap()),
            src_mask: 32,
            dst_mask: 16,
            src_port: 65535,
            dst_port: 1,
            proto: 132,
            tos: 0xb8,
            timestamp_arrival: Timestamp {
                secs: 1_700_000_000,
                micros: 999_999,
            },
            src_as: 65_000,
            dst_as: u32::MAX,
            peer_src_ip: Addr("192.0.2.1".parse().unwrap()),
            peer_dst_ip: Addr("2001:db8::2".parse().unwrap()),
            mpls_vpn_rd: 0x0000_fde8_0000_00cb,
            fwd_status: 66,
            post_nat_src_host: Addr("198.51.100.1".parse().unwrap()),
            post_nat_dst_host: Addr("198.51.100.2".parse().unwrap()),
            post_nat_src_port: 1024,
            post_nat_dst_port: 443,
            nat_event: 1,
            mpls_label_top: 0xfffff,
            mpls_label_bottom: 16,
            vxlan: 0xff_ffff,
            timestamp_start: Timestamp {
                secs: -1,
                micros: 1,
            },
            timestamp_end: Timestamp {
                secs: 1_700_000_001,
                micros: 0,
            },
            export_proto_seqno: 123_456,
            export_proto_version: 10,
            export_proto_sysid: 7,
            src_country: u16::from_be_bytes(*b"GB"),
            dst_country: u16::from_be_bytes(*b"JP"),
            src_pocode: crate::labels::intern("OX1"),
            dst_pocode: crate::labels::intern("98354"),
            src_lat: 51_750_000,
            src_lon: -1_250_000,
            dst_lat: -37_815_900,
            dst_lon: 144_966_900,
            src_as_name: crate::labels::intern("Google Inc."),
            dst_as_name: crate::labels::intern("Telstra Pty Ltd"),
            src_host_name: crate::labels::intern("www.example.com"),
            dst_host_name: crate::labels::intern("jon-laptop"),
            custom: Default::default(),
        };
        assert_eq!(l.decode(&l.encoded(&k)), k);
    }

    #[test]
    fn custom_primitives_pack_their_value_ids() {
        use crate::custom::ValueId;
        let aggregate = Aggregate {
            columns: [Primitive::SrcPort, Primitive::Custom0, Primitive::Custom3].into(),
            sum: None,
        };
        let l = KeyLayout::new(&aggregate, false);
        // 2 + 4 + 4 bytes.
        assert_eq!(l.words(), 2);
        let mut k = FlowKey {
            src_port: 80,
            ..FlowKey::default()
        };
        k.custom[0] = ValueId(7);
        k.custom[3] = ValueId(u32::MAX);
        assert_eq!(l.decode(&l.encoded(&k)), k);
        assert_eq!(
            l.view(&l.encoded(&k)).number(Primitive::Custom3),
            u64::from(u32::MAX)
        );
        // A slot outside the layout reads as the empty value.
        k.custom[1] = ValueId(9);
        assert_eq!(l.decode(&l.encoded(&k)).custom[1], ValueId(0));
    }

    #[test]
    fn packed_keys_sort_as_flow_keys() {
        let l = KeyLayout::new(
            &Aggregate::parse("src_host,dst_host,src_port,dst_port,proto").unwrap(),
            true,
        );
        let mut keys = vec![
            key("10.0.0.2", "10.0.0.1", 1, 2, 6, 60),
            key("10.0.0.2", "10.0.0.1", 1, 2, 6, -60),
            key("2001:db8::1", "10.0.0.1", 1, 2, 6, 0),
            key("10.0.0.10", "10.0.0.1", 1, 2, 6, 0),
            key("10.0.0.2", "10.0.0.1", 1, 2, 17, 0),
            key("10.0.0.2", "10.0.0.1", 0, 2, 17, 0),
            key("::1", "10.0.0.1", 1, 2, 6, 0),
            key("10.0.0.2", "2001:db8::", 1, 2, 6, 0),
        ];
        let mut packed: Vec<Vec<u64>> = keys.iter().map(|k| l.encoded(k)).collect();
        keys.sort();
        packed.sort();
        let decoded: Vec<FlowKey> = packed.iter().map(|w| l.decode(w)).collect();
        assert_eq!(decoded, keys);
    }

    #[test]
    fn a_plugin_sees_only_its_primitives() {
        let l = KeyLayout::new(&Aggregate::parse("sum_host").unwrap(), false);
        assert_eq!(l.words(), 3);
        let k = key("10.0.0.1", "10.0.0.2", 1, 2, 6, 99);
        let d = l.decode(&l.encoded(&k));
        assert_eq!(
            d,
            FlowKey {
                src_host: k.src_host,
                ..FlowKey::default()
            }
        );
        let none = KeyLayout::new(&Aggregate::parse("none").unwrap(), false);
        assert_eq!(none.words(), 1);
        assert_eq!(none.decode(&none.encoded(&k)), FlowKey::default());
    }

    #[test]
    fn a_packed_view_reads_what_decode_gives() {
        let all: Vec<&str> = Primitive::ALL.iter().map(|p| p.name()).collect();
        let l = KeyLayout::new(&Aggregate::parse(&all.join(",")).unwrap(), true);
        let mut k = key("2001:db8::1", "10.1.2.3", 65535, 1, 132, -5);
        k.src_mac = Mac([1, 2, 3, 4, 5, 6]);
        k.dst_mac = Mac([7, 8, 9, 10, 11, 12]);
        (k.vlan, k.cvlan, k.cos, k.etype) = (4094, 7, 5, 0x86dd);
        (k.in_iface, k.out_iface, k.src_mask, k.dst_mask, k.tos) = (3, u32::MAX, 32, 16, 0xb8);
        k.src_net = Addr("2001:db8::".parse().unwrap());
        k.dst_net = Addr("10.1.0.0".parse().unwrap());
        k.timestamp_arrival = Timestamp {
            secs: 1_700_000_000,
            micros: 999_999,
        };
        let words = l.encoded(&k);
        let v = l.view(&words);
        assert_eq!(v.bin(), -5);
        for p in [
            Primitive::TimestampArrival,
            Primitive::TimestampStart,
            Primitive::TimestampEnd,
        ] {
            assert_eq!(v.timestamp(p), k.timestamp(p));
        }
        for p in Primitive::ALL {
            assert_eq!(v.number(p), k.number(p), "{p:?}");
            assert_eq!(v.addr(p), k.addr(p), "{p:?}");
            assert_eq!(v.mac(p), k.mac(p), "{p:?}");
        }
        // A primitive outside the layout reads as zero.
        let ports = KeyLayout::new(&Aggregate::parse("dst_port").unwrap(), false);
        let words = ports.encoded(&k);
        let v = ports.view(&words);
        assert_eq!(
            (v.number(Primitive::DstPort), v.number(Primitive::SrcPort)),
            (1, 0)
        );
        assert_eq!(v.addr(Primitive::SrcHost), Addr::default());
    }
}
