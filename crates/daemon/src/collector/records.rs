//! A decoded flow record as the pipeline sees it: the base key every plugin starts from, the
//! counters and time it adds, and a made-up packet header for `aggregate_filter`.

use std::net::IpAddr;

use pmacct_core::key::{Addr, FlowKey, Mac, RecordMeta, Timestamp};
use pmacct_core::pretag::FlowFacts;
use pmacct_flow::{CustomKey, FlowRecord, FlowTime, DATALINK_FRAME, DATALINK_FRAME_SIZE};
use pmacct_wire::LinkType;

/// Which time bins a flow: its start (pmacct's default) or its arrival (`nfacctd_time_new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowClock {
    Start,
    Arrival,
}

fn stamp(t: Option<FlowTime>) -> Timestamp {
    t.map_or_else(Timestamp::default, |t| Timestamp {
        secs: t.secs,
        micros: t.micros,
    })
}

fn addr(a: Option<IpAddr>) -> Addr {
    a.map_or_else(Addr::default, Addr)
}

/// What a sampled frame says of the packet beyond its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The IP length (0 for a frame without an IP header).
    pub ip_bytes: u64,
    pub tcp_flags: u8,
}

/// The key a flow record gives before any plugin's own steps, and, for a record that carries
/// a sampled frame instead of addresses (IPFIX dataLinkFrameSection, an sFlow sampled
/// header), what the frame says beyond it.
pub fn base_key(r: &FlowRecord, arrival: Timestamp) -> (FlowKey, Option<Frame>) {
    let mut key = record_key(r, arrival);
    // Only custom primitives' elements (a sampled frame alone needs no registry lookup).
    if r.custom
        .iter()
        .any(|(k, _)| *k != DATALINK_FRAME && *k != DATALINK_FRAME_SIZE)
    {
        custom_values(r, &mut key);
    }
    let mut frame_bytes = None;
    if r.src_addr.is_none() {
        if let Some((_, frame)) = r.custom.iter().find(|(k, _)| *k == DATALINK_FRAME) {
            // The frame's length on the wire, when the exporter says (the section is often
            // only its first bytes, as a capture's snaplen cuts a packet).
            let wire = r
                .custom
                .iter()
                .find(|(k, _)| *k == DATALINK_FRAME_SIZE)
                .map(|(_, v)| {
                    v.iter()
                        .fold(0u32, |n, b| n.wrapping_shl(8) | u32::from(*b))
                });
            frame_bytes = from_frame(frame, wire, &mut key);
        }
    }
    (key, frame_bytes)
}

/// A sampled frame that is VXLAN becomes its inner frame (`decode_vxlan`), its length on the
/// wire the inner frame's; whether it was.
pub fn decapsulate_vxlan(r: &mut FlowRecord) -> bool {
    let Some((_, frame)) = r.custom.iter_mut().find(|(k, _)| *k == DATALINK_FRAME) else {
        return false;
    };
    let Some((at, vni)) = pmacct_wire::vxlan_inner(LinkType::Ethernet, frame) else {
        return false;
    };
    frame.drain(..at);
    r.vxlan = vni;
    if let Some((_, size)) = r.custom.iter_mut().find(|(k, _)| *k == DATALINK_FRAME_SIZE) {
        let wire = size
            .iter()
            .fold(0u32, |n, b| n.wrapping_shl(8) | u32::from(*b));
        let inner = wire.saturating_sub(u32::try_from(at).unwrap_or(u32::MAX));
        *size = inner.to_be_bytes().to_vec();
    }
    true
}

/// The elements the custom primitives (`aggregate_primitives`) read.
pub fn custom_fields() -> Vec<CustomKey> {
    pmacct_core::custom::defs()
        .iter()
        .map(|d| CustomKey {
            pen: d.pen,
            id: d.field_type,
        })
        .collect()
}

/// The custom primitives' values of a record (the first field of each element).
fn custom_values(r: &FlowRecord, key: &mut FlowKey) {
    let defs = pmacct_core::custom::defs();
    for (slot, def) in defs.iter().enumerate() {
        let wanted = CustomKey {
            pen: def.pen,
            id: def.field_type,
        };
        if let (Some((_, field)), Some(id)) = (
            r.custom.iter().find(|(k, _)| *k == wanted),
            key.custom.get_mut(slot),
        ) {
            *id = pmacct_core::custom::intern(def.value_of(field));
        }
    }
}

/// `frame`, with an 802.1Q tag of `vlan` after its MAC addresses when the record reports a
/// VLAN the frame does not carry (a switch's sFlow agent reports the VLAN it stripped), so
/// that `vlan N` filters select what the record says.
fn tagged_frame(frame: &[u8], vlan: u16, out: &mut Vec<u8>) {
    let tagged = matches!(
        frame.get(12..14),
        Some([0x81, 0x00] | [0x88, 0xa8] | [0x91, 0x00])
    );
    match (vlan, frame.get(..12), tagged) {
        // The record's 16 bits as the tag control information (pmacct 1.7.7 does the same:
        // an agent's 0xffffffff, "unknown", reads as VID 4095 with priority 7).
        (1.., Some(macs), false) => {
            out.extend_from_slice(macs);
            out.extend_from_slice(&[0x81, 0x00]);
            out.extend_from_slice(&vlan.to_be_bytes());
            out.extend_from_slice(&frame[12..]);
        }
        _ => out.extend_from_slice(frame),
    }
}

/// A sampled frame's headers into the key, as pmacct reads them; its IP length.
fn from_frame(frame: &[u8], wire: Option<u32>, key: &mut FlowKey) -> Option<Frame> {
    let mut ip = pmacct_wire::IpPacket::new(pmacct_wire::L2Info::default());
    let captured = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let wire_len = wire.map_or(captured, |w| w.max(captured));
    let outcome =
        pmacct_wire::decode_into(pmacct_wire::LinkType::Ethernet, frame, wire_len, &mut ip);
    if outcome == pmacct_wire::Outcome::Malformed(pmacct_wire::Malformed::TruncatedLinkHeader) {
        return None;
    }
    key.src_mac = Mac(ip.l2.src_mac);
    key.dst_mac = Mac(ip.l2.dst_mac);
    // The ethertype of a real Ethernet header: an sFlow sample of an IP header (protocol 11
    // or 12) comes behind a made-up one of zero addresses, and reports none (as 1.7.7).
    if ip.l2.src_mac != [0; 6] || ip.l2.dst_mac != [0; 6] {
        key.etype = ip.l2.etype;
    }
    // Only a packet to VXLAN's port is read again for its VNI.
    let to_vxlan = matches!(
        ip.ports,
        pmacct_wire::Ports::Found {
            dst: pmacct_wire::VXLAN_PORT,
            ..
        }
    );
    if outcome == pmacct_wire::Outcome::Ip && ip.proto == pmacct_wire::ipproto::UDP && to_vxlan {
        if let Some((_, vni)) = pmacct_wire::vxlan_inner(LinkType::Ethernet, frame) {
            key.vxlan = vni;
        }
    }
    // The frame's 802.1Q tag, else the record's own VLAN (NetFlow's IE 58, sFlow's extended
    // switch record).
    if ip.l2.vlan != 0 {
        key.vlan = ip.l2.vlan;
    }
    if outcome != pmacct_wire::Outcome::Ip {
        // A frame without an IP header (an Ethernet pseudowire with a control word, ARP):
        // one packet of no IP bytes, as pmacct 1.7.7 counts it.
        return Some(Frame::default());
    }
    key.src_host = Addr(ip.src);
    key.dst_host = Addr(ip.dst);
    key.proto = ip.proto;
    key.tos = ip.tos;
    if let pmacct_wire::Ports::Found { src, dst } = ip.ports {
        key.src_port = src;
        key.dst_port = dst;
    }
    Some(Frame {
        ip_bytes: u64::from(ip.length),
        tcp_flags: ip.tcp_flags,
    })
}

fn record_key(r: &FlowRecord, arrival: Timestamp) -> FlowKey {
    FlowKey {
        src_mac: Mac(r.src_mac),
        dst_mac: Mac(r.dst_mac),
        vlan: r.vlan,
        in_iface: r.in_iface,
        out_iface: r.out_iface,
        src_host: addr(r.src_addr),
        dst_host: addr(r.dst_addr),
        src_mask: r.src_mask,
        dst_mask: r.dst_mask,
        src_port: r.src_port,
        dst_port: r.dst_port,
        proto: r.proto,
        tos: r.tos,
        sampling_rate: r.sampling_rate,
        timestamp_arrival: arrival,
        src_as: r.src_as,
        dst_as: r.dst_as,
        peer_src_ip: Addr(r.exporter),
        peer_dst_ip: addr(r.bgp_next_hop),
        mpls_vpn_rd: r.mpls_vpn_rd.map_or(0, u64::from_be_bytes),
        fwd_status: r.fwd_status,
        post_nat_src_host: addr(r.post_nat_src),
        post_nat_dst_host: addr(r.post_nat_dst),
        post_nat_src_port: r.post_nat_src_port,
        post_nat_dst_port: r.post_nat_dst_port,
        nat_event: r.nat_event,
        mpls_label_top: r.mpls_label_top,
        mpls_label_bottom: r.mpls_label_bottom,
        vxlan: r.vxlan,
        timestamp_start: stamp(r.start),
        timestamp_end: stamp(r.end),
        export_proto_seqno: r.seqno,
        export_proto_version: r.version,
        export_proto_sysid: r.source_id,
        ..FlowKey::default()
    }
}

/// What the record says of itself to the pre_tag_map's flow keys.
pub fn facts(r: &FlowRecord) -> FlowFacts {
    FlowFacts {
        exporter: r.exporter,
        engine_type: r.engine_type,
        engine_id: match r.version {
            5 => u32::from(r.engine_id),
            _ => r.source_id,
        },
        nexthop: r.next_hop,
        bgp_nexthop: r.bgp_next_hop,
        src_addr: r.src_addr,
        dst_addr: r.dst_addr,
        src_as: r.src_as,
        dst_as: r.dst_as,
        src_mac: r.src_mac,
        dst_mac: r.dst_mac,
        vlan: r.vlan,
        nat_event: r.nat_event,
        fwd_status: r.fwd_status,
        direction: r.direction,
    }
}

/// What the record adds, and when; `frame`: a sampled frame's IP length (for a record without
/// counters: one packet) and TCP flags.
pub fn meta(
    r: &FlowRecord,
    clock: FlowClock,
    arrival: Timestamp,
    frame: Option<Frame>,
) -> RecordMeta {
    let ts = match (clock, r.start) {
        (FlowClock::Start, Some(t)) => t.secs,
        _ => arrival.secs,
    };
    let (bytes, packets) = match (r.bytes, r.packets, frame) {
        (0, 0, Some(f)) => (f.ip_bytes, 1),
        (b, p, _) => (b, p),
    };
    // From the start to the end, when the flow is timed by its start (nfacctd_pro_rating).
    let span = match (clock, r.start, r.end) {
        (FlowClock::Start, Some(s), Some(e)) => u32::try_from(e.secs - s.secs).unwrap_or(0),
        _ => 0,
    };
    RecordMeta {
        ts,
        micros: 0,
        bytes,
        packets: u32::try_from(packets).unwrap_or(u32::MAX),
        flows: u16::try_from(r.flows).unwrap_or(u16::MAX),
        tcp_flags: r.tcp_flags | frame.map_or(0, |f| f.tcp_flags),
        span,
    }
}

/// Packets and bytes times `scale` (renormalization), saturating.
pub fn scaled(meta: RecordMeta, scale: u64) -> RecordMeta {
    RecordMeta {
        bytes: meta.bytes.saturating_mul(scale),
        packets: u32::try_from(u64::from(meta.packets).saturating_mul(scale)).unwrap_or(u32::MAX),
        ..meta
    }
}

/// A bare IP packet standing for the flow (addresses, protocol, ToS, ports and TCP flags), so
/// that `aggregate_filter` expressions compiled for raw IP match flows as they match packets.
pub fn filter_header(r: &FlowRecord, out: &mut Vec<u8>) -> LinkType {
    out.clear();
    // A record keyed by its sampled frame (an sFlow sampled header, IPFIX
    // dataLinkFrameSection): filters match the frame's real bytes.
    if r.src_addr.is_none() {
        if let Some((_, frame)) = r.custom.iter().find(|(k, _)| *k == DATALINK_FRAME) {
            tagged_frame(frame, r.vlan, out);
            return LinkType::Ethernet;
        }
    }
    let l4_len: u16 = match r.proto {
        6 => 20,
        17 => 8,
        _ => 0,
    };
    match (r.src_addr, r.dst_addr) {
        (Some(IpAddr::V6(s)), d) => {
            let d = match d {
                Some(IpAddr::V6(d)) => d,
                _ => std::net::Ipv6Addr::UNSPECIFIED,
            };
            out.extend_from_slice(&[0x60 | (r.tos >> 4), r.tos << 4, 0, 0]);
            out.extend_from_slice(&l4_len.to_be_bytes());
            out.extend_from_slice(&[r.proto, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v4 = |a: Option<IpAddr>| match a {
                Some(IpAddr::V4(a)) => a.octets(),
                _ => [0; 4],
            };
            out.extend_from_slice(&[0x45, r.tos]);
            out.extend_from_slice(&(20 + l4_len).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 64, r.proto, 0, 0]);
            out.extend_from_slice(&v4(s));
            out.extend_from_slice(&v4(d));
        }
    }
    if l4_len > 0 {
        out.extend_from_slice(&r.src_port.to_be_bytes());
        out.extend_from_slice(&r.dst_port.to_be_bytes());
        if r.proto == 6 {
            out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x50, r.tcp_flags, 0, 0, 0, 0, 0, 0]);
        } else {
            out.extend_from_slice(&[0, 8, 0, 0]);
        }
    }
    LinkType::Raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FlowRecord {
        FlowRecord {
            exporter: "192.0.2.1".parse().unwrap(),
            version: 9,
            src_addr: Some("10.0.0.1".parse().unwrap()),
            dst_addr: Some("10.0.0.2".parse().unwrap()),
            src_port: 1234,
            dst_port: 80,
            proto: 6,
            tcp_flags: 0x12,
            bytes: 1500,
            packets: 3,
            flows: 1,
            start: Some(FlowTime {
                secs: 1_700_000_000,
                micros: 5,
            }),
            sampling_rate: 10,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn a_record_keys_and_counts_as_pmacct_does() {
        let arrival = Timestamp {
            secs: 1_700_000_100,
            micros: 0,
        };
        let r = record();
        let (k, frame) = base_key(&r, arrival);
        assert_eq!(frame, None);
        assert_eq!(k.peer_src_ip.to_string(), "192.0.2.1");
        assert_eq!((k.src_port, k.dst_port, k.proto), (1234, 80, 6));
        assert_eq!(k.export_proto_version, 9);
        let m = meta(&r, FlowClock::Start, arrival, None);
        assert_eq!(
            (m.ts, m.bytes, m.packets, m.flows),
            (1_700_000_000, 1500, 3, 1)
        );
        let m = scaled(meta(&r, FlowClock::Arrival, arrival, None), 10);
        assert_eq!((m.ts, m.bytes, m.packets), (1_700_000_100, 15_000, 30));
        let m = scaled(m, u64::MAX);
        assert_eq!((m.bytes, m.packets), (u64::MAX, u32::MAX));
    }

    #[test]
    fn the_filter_header_decodes_as_the_flow() {
        let mut h = Vec::new();
        filter_header(&record(), &mut h);
        let mut ip = pmacct_wire::IpPacket::new(pmacct_wire::L2Info::default());
        let out = pmacct_wire::decode_into(pmacct_wire::LinkType::Raw, &h, h.len() as u32, &mut ip);
        assert_eq!(out, pmacct_wire::Outcome::Ip);
        assert_eq!(ip.src.to_string(), "10.0.0.1");
        assert_eq!(ip.tcp_flags, 0x12);
        assert_eq!(ip.ports, pmacct_wire::Ports::Found { src: 1234, dst: 80 });
    }
}
