//! Zero-copy, panic-free decoding of captured frames into the fields pmacct accounts.
//!
//! This crate owns the wire formats of the packet-capture path: link layers (Ethernet with
//! 802.1Q/802.1ad tags, Cisco FabricPath and VN-Tag, MPLS, PPPoE, Linux SLL/SLL2, BSD NULL/LOOP,
//! PPP, 802.11 data frames with LLC/SNAP, raw IP), IPv4 and IPv6
//! (options, extension headers, fragments) and the first bytes of TCP, UDP, SCTP, ICMP and ICMPv6.
//!
//! Promises:
//! - [`decode`] never panics and never allocates, whatever the bytes (every read is bounds
//!   checked through [`Cursor`]).
//! - Parsing is lax where the capture is short: a frame cut by the snaplen after the fixed IP
//!   header still yields an [`IpPacket`] accounted at its IP length, with [`Ports::Truncated`].
//! - Parsing is strict where the headers lie: an IP length that the frame on the wire could not
//!   carry is [`Malformed`], so nobody can inflate a host's usage with a forged length field.
//! - Bytes are accounted the way pmacct does: from the IP header to the end of the IP payload,
//!   taken from the IP length fields, not from the captured length.

mod ip;
mod link;
pub mod savefile;

use std::net::{IpAddr, Ipv4Addr};

pub use ip::{decode_ip, decode_ip_into};
pub use link::LinkType;

/// Ethertypes the decoder knows by name.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Cisco FabricPath: a 16-byte header (tag, then the original frame's MACs and ethertype).
    pub const FABRICPATH: u16 = 0x8903;
    /// Cisco VN-Tag: a 6-byte tag ending with the next ethertype.
    pub const VNTAG: u16 = 0x8926;
}

/// IP protocol numbers the decoder treats specially.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// The layer-2 facts of a frame (zero where the link layer has no such field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L2Info {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// VLAN id of the outer 802.1Q/802.1ad tag, 0 when untagged.
    pub vlan: u16,
    /// VLAN id of the inner tag of a QinQ frame, 0 when there is none.
    pub cvlan: u16,
    /// 802.1p priority of the outer tag.
    pub cos: u8,
    /// The ethertype of the payload after all tags (0 where the link layer has none).
    pub etype: u16,
    /// Bytes of link-layer headers (including tags, MPLS labels, PPPoE) before the payload.
    pub header_len: u32,
}

/// What the transport header told us about ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// TCP, UDP or SCTP ports read from the packet.
    Found { src: u16, dst: u16 },
    /// The protocol has ports but the capture ended before them (snaplen).
    Truncated,
    /// A non-first fragment: the ports are in the first fragment.
    InFirstFragment,
    /// The protocol has no ports.
    None,
}

/// Fragmentation facts of an IP packet that is a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Offset of this fragment's data, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

impl Fragment {
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// An IP packet decoded far enough to be accounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPacket {
    pub l2: L2Info,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub proto: u8,
    /// IPv4 TOS byte or IPv6 traffic class.
    pub tos: u8,
    /// Bytes to account: IP header plus payload, from the IP length fields.
    pub length: u32,
    pub ports: Ports,
    /// TCP flags (the low 8 bits of the flags field), 0 for other protocols.
    pub tcp_flags: u8,
    /// ICMP/ICMPv6 type and code, when present.
    pub icmp: Option<(u8, u8)>,
    /// Present when the packet is a fragment.
    pub fragment: Option<Fragment>,
    /// Where the TCP or UDP payload is in the frame [`decode_into`] read (bytes from its
    /// start) and how much of it was captured; (0, 0) for other packets. Readers of names
    /// (DNS answers, TLS server names) look there.
    pub payload: (u32, u32),
}

impl IpPacket {
    pub fn new(l2: L2Info) -> Self {
        IpPacket {
            l2,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            proto: 0,
            tos: 0,
            length: 0,
            ports: Ports::None,
            tcp_flags: 0,
            icmp: None,
            fragment: None,
            payload: (0, 0),
        }
    }
}

/// Why a frame could not be accounted. Each reason is counted separately in the daemon's stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Malformed {
    TruncatedLinkHeader,
    TruncatedVlanTag,
    TruncatedMplsStack,
    TruncatedPppoe,
    TruncatedIpHeader,
    BadIpVersion,
    Ipv4HeaderLengthBelowMinimum,
    Ipv4TotalLengthBelowHeader,
    IpLengthBeyondFrame,
}

impl Malformed {
    pub const ALL: [Malformed; 9] = [
        Malformed::TruncatedLinkHeader,
        Malformed::TruncatedVlanTag,
        Malformed::TruncatedMplsStack,
        Malformed::TruncatedPppoe,
        Malformed::TruncatedIpHeader,
        Malformed::BadIpVersion,
        Malformed::Ipv4HeaderLengthBelowMinimum,
        Malformed::Ipv4TotalLengthBelowHeader,
        Malformed::IpLengthBeyondFrame,
    ];

    /// Stable snake_case name used in logs and stats.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::TruncatedLinkHeader => "truncated_link_header",
            Malformed::TruncatedVlanTag => "truncated_vlan_tag",
            Malformed::TruncatedMplsStack => "truncated_mpls_stack",
            Malformed::TruncatedPppoe => "truncated_pppoe",
            Malformed::TruncatedIpHeader => "truncated_ip_header",
            Malformed::BadIpVersion => "bad_ip_version",
            Malformed::Ipv4HeaderLengthBelowMinimum => "ipv4_ihl_below_5",
            Malformed::Ipv4TotalLengthBelowHeader => "ipv4_total_length_below_header",
            Malformed::IpLengthBeyondFrame => "ip_length_beyond_frame",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The result of decoding one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    Ip(IpPacket),
    /// A well-formed frame that carries no IP (ARP, STP, LCP...).
    NonIp(L2Info),
    Malformed(Malformed),
}

/// Decodes one captured frame.
///
/// `data` is what the capture holds (possibly cut by the snaplen); `wire_len` is the frame's
/// length on the wire, used to reject IP length fields that claim more than the frame carried.
pub fn decode(link: LinkType, data: &[u8], wire_len: u32) -> Decoded {
    let mut ip = IpPacket::new(L2Info::default());
    match decode_into(link, data, wire_len, &mut ip) {
        Outcome::Ip => Decoded::Ip(ip),
        Outcome::NonIp => Decoded::NonIp(ip.l2),
        Outcome::Malformed(m) => Decoded::Malformed(m),
    }
}

/// What [`decode_into`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The packet is filled in.
    Ip,
    /// A well-formed frame without IP; the packet's `l2` is filled in.
    NonIp,
    Malformed(Malformed),
}

/// [`decode`] into the caller's packet (the hot path reuses one, so nothing is copied).
#[inline]
pub fn decode_into(link: LinkType, data: &[u8], wire_len: u32, ip: &mut IpPacket) -> Outcome {
    let (l2, payload_etype, offset) = match link::decode_link(link, data) {
        Ok(x) => x,
        Err(e) => return Outcome::Malformed(e),
    };
    let rest = data.get(offset..).unwrap_or(&[]);
    let available_on_wire = wire_len.saturating_sub(offset as u32);
    match payload_etype {
        ethertype::IPV4 | ethertype::IPV6 => {
            match decode_ip_into(ip, l2, rest, available_on_wire, Some(payload_etype)) {
                Ok(()) => {
                    if ip.payload.1 > 0 {
                        ip.payload.0 += offset as u32;
                    }
                    Outcome::Ip
                }
                Err(e) => Outcome::Malformed(e),
            }
        }
        _ => {
            ip.l2 = l2;
            Outcome::NonIp
        }
    }
}

/// The UDP port VXLAN uses (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// Where the inner Ethernet frame of a VXLAN packet starts in `data` (a frame of `link`), and
/// its VNI: IPv4 (unfragmented) or IPv6 (UDP right after the fixed header) to UDP port 4789,
/// then a VXLAN header with its I flag. `None` for anything else.
pub fn vxlan_inner(link: LinkType, data: &[u8]) -> Option<(usize, u32)> {
    let (_, etype, at) = link::decode_link(link, data).ok()?;
    let c = Cursor::new(data);
    let udp = match etype {
        ethertype::IPV4 => {
            let ihl = usize::from(c.u8(at)? & 0x0f) * 4;
            let fragment = c.u16(at + 6)? & 0x3fff;
            (c.u8(at + 9)? == ipproto::UDP && fragment == 0 && ihl >= 20).then_some(at + ihl)?
        }
        ethertype::IPV6 => (c.u8(at + 6)? == ipproto::UDP).then_some(at + 40)?,
        _ => return None,
    };
    let flags = c.u8(udp + 8)?;
    let vni = c.u32(udp + 12)? >> 8;
    let inner = udp + 16;
    (c.u16(udp + 2)? == VXLAN_PORT && flags & 0x08 != 0 && inner < data.len())
        .then_some((inner, vni))
}

/// A bounds-checked reader over a byte slice: every read returns `None` past the end.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }
    pub(crate) fn u8(&self, at: usize) -> Option<u8> {
        self.data.get(at).copied()
    }
    pub(crate) fn u16(&self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at.checked_add(2)?)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&self, at: usize) -> Option<u32> {
        let b = self.data.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let b = self.data.get(at..at.checked_add(N)?)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Some(out)
    }
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests;
