//! Link layers: from the capture's link type to the payload's ethertype and offset.

use crate::{ethertype, Cursor, L2Info, Malformed};

/// The capture link types pmacct-rs decodes. Others are rejected when the input opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB.
    Ethernet,
    /// DLT_NULL: 4-byte address family in the capturing host's byte order.
    Null,
    /// DLT_LOOP: 4-byte address family in network byte order.
    Loop,
    /// DLT_RAW / LINKTYPE_RAW: bare IPv4 or IPv6.
    Raw,
    /// LINKTYPE_IPV4.
    Ipv4,
    /// LINKTYPE_IPV6.
    Ipv6,
    /// DLT_LINUX_SLL ("any" device, cooked v1).
    LinuxSll,
    /// DLT_LINUX_SLL2 (cooked v2).
    LinuxSll2,
    /// DLT_PPP (optional 0xff03 address/control, then the PPP protocol).
    Ppp,
    /// DLT_IEEE802_11: 802.11 frames without a radio header; data frames carry LLC/SNAP.
    Ieee80211,
}

/// Every link type with its libpcap DLT number and name: the one table the three lookups read.
const LINKS: [(LinkType, u16, &str); 10] = [
    (LinkType::Ethernet, 1, "EN10MB"),
    (LinkType::Null, 0, "NULL"),
    (LinkType::Loop, 108, "LOOP"),
    (LinkType::Raw, 12, "RAW"),
    (LinkType::Ipv4, 228, "IPV4"),
    (LinkType::Ipv6, 229, "IPV6"),
    (LinkType::LinuxSll, 113, "LINUX_SLL"),
    (LinkType::LinuxSll2, 276, "LINUX_SLL2"),
    (LinkType::Ppp, 9, "PPP"),
    (LinkType::Ieee80211, 105, "IEEE802_11"),
];

impl LinkType {
    /// Maps a libpcap DLT number to a link type we decode (14 and 101 are raw IP too).
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        if dlt == 14 || dlt == 101 {
            return Some(LinkType::Raw);
        }
        LINKS
            .iter()
            .find(|(_, d, _)| i32::from(*d) == dlt)
            .map(|(l, _, _)| *l)
    }

    fn entry(self) -> (LinkType, u16, &'static str) {
        LINKS
            .iter()
            .copied()
            .find(|(l, _, _)| *l == self)
            .unwrap_or((self, 1, "EN10MB"))
    }

    /// The DLT number libpcap uses for this link type.
    pub fn dlt(self) -> u16 {
        self.entry().1
    }

    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// The names of every link type decoded.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        LINKS.iter().map(|(_, _, name)| *name)
    }
}

const MAX_VLAN_TAGS: usize = 8;
const MAX_MPLS_LABELS: usize = 16;

/// Bytes of the tags that sit between two ethertypes: FabricPath's 16 (FTag/TTL, then the
/// original frame's MACs and ethertype) and VN-Tag's 6 (the tag, then the ethertype).
const FABRICPATH_LEN: usize = 16;
const VNTAG_LEN: usize = 6;

/// PPP protocol numbers.
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_MPLS: u16 = 0x0281;

/// Returns the L2 facts, the payload's ethertype (0 when it is not something we decode further)
/// and the payload's offset.
pub(crate) fn decode_link(link: LinkType, data: &[u8]) -> Result<(L2Info, u16, usize), Malformed> {
    let c = Cursor::new(data);
    let mut l2 = L2Info::default();
    match link {
        LinkType::Ethernet => {
            l2.dst_mac = c.array::<6>(0).ok_or(Malformed::TruncatedLinkHeader)?;
            l2.src_mac = c.array::<6>(6).ok_or(Malformed::TruncatedLinkHeader)?;
            let etype = c.u16(12).ok_or(Malformed::TruncatedLinkHeader)?;
            after_ethertype(c, 14, etype, l2)
        }
        LinkType::LinuxSll => {
            let halen = c.u16(4).ok_or(Malformed::TruncatedLinkHeader)?;
            if halen == 6 {
                l2.src_mac = c.array::<6>(6).ok_or(Malformed::TruncatedLinkHeader)?;
            }
            let etype = c.u16(14).ok_or(Malformed::TruncatedLinkHeader)?;
            after_ethertype(c, 16, etype, l2)
        }
        LinkType::LinuxSll2 => {
            let etype = c.u16(0).ok_or(Malformed::TruncatedLinkHeader)?;
            let halen = c.u8(11).ok_or(Malformed::TruncatedLinkHeader)?;
            if halen == 6 {
                l2.src_mac = c.array::<6>(12).ok_or(Malformed::TruncatedLinkHeader)?;
            }
            if c.len() < 20 {
                return Err(Malformed::TruncatedLinkHeader);
            }
            after_ethertype(c, 20, etype, l2)
        }
        LinkType::Null | LinkType::Loop => {
            let raw = c.array::<4>(0).ok_or(Malformed::TruncatedLinkHeader)?;
            // DLT_NULL is in the capturing host's order, which a file may not share: take the
            // reading that gives a small number.
            let be = u32::from_be_bytes(raw);
            let family = if be < 256 {
                be
            } else {
                u32::from_le_bytes(raw)
            };
            let etype = match family {
                2 => ethertype::IPV4,
                10 | 24 | 28 | 30 => ethertype::IPV6,
                _ => 0,
            };
            finish(l2, etype, 4)
        }
        LinkType::Raw => {
            let etype = match c.u8(0).map(|b| b >> 4) {
                Some(4) => ethertype::IPV4,
                Some(6) => ethertype::IPV6,
                Some(_) => 0,
                None => return Err(Malformed::TruncatedIpHeader),
            };
            finish(l2, etype, 0)
        }
        LinkType::Ieee80211 => ieee80211(c, l2),
        LinkType::Ipv4 => finish(l2, ethertype::IPV4, 0),
        LinkType::Ipv6 => finish(l2, ethertype::IPV6, 0),
        LinkType::Ppp => {
            let mut offset = 0;
            if c.u8(0) == Some(0xff) && c.u8(1) == Some(0x03) {
                offset = 2;
            }
            let proto = c.u16(offset).ok_or(Malformed::TruncatedLinkHeader)?;
            offset += 2;
            match proto {
                PPP_IPV4 => finish(l2, ethertype::IPV4, offset),
                PPP_IPV6 => finish(l2, ethertype::IPV6, offset),
                PPP_MPLS => mpls(c, offset, l2),
                _ => finish(l2, 0, offset),
            }
        }
    }
}

fn finish(mut l2: L2Info, etype: u16, offset: usize) -> Result<(L2Info, u16, usize), Malformed> {
    if etype != 0 {
        l2.etype = etype;
    }
    l2.header_len = offset as u32;
    Ok((l2, etype, offset))
}

/// Follows VLAN tags, MPLS labels and PPPoE sessions after an ethertype field.
fn after_ethertype(
    c: Cursor<'_>,
    mut offset: usize,
    mut etype: u16,
    mut l2: L2Info,
) -> Result<(L2Info, u16, usize), Malformed> {
    let mut tags = 0;
    let mut vlan_tags = 0;
    while matches!(
        etype,
        ethertype::VLAN
            | ethertype::QINQ
            | ethertype::QINQ_OLD
            | ethertype::FABRICPATH
            | ethertype::VNTAG
    ) {
        if tags == MAX_VLAN_TAGS {
            return finish(l2, 0, offset);
        }
        // FabricPath and VN-Tag carry the next ethertype in their last two bytes; the MACs
        // stay the frame's outer ones, as pmacct reports them.
        let skip = match etype {
            ethertype::FABRICPATH => Some(FABRICPATH_LEN),
            ethertype::VNTAG => Some(VNTAG_LEN),
            _ => None,
        };
        if let Some(len) = skip {
            etype = c
                .u16(offset + len - 2)
                .ok_or(Malformed::TruncatedLinkHeader)?;
            offset += len;
            tags += 1;
            continue;
        }
        let tci = c.u16(offset).ok_or(Malformed::TruncatedVlanTag)?;
        let next = c.u16(offset + 2).ok_or(Malformed::TruncatedVlanTag)?;
        match vlan_tags {
            0 => {
                l2.vlan = tci & 0x0fff;
                l2.cos = (tci >> 13) as u8;
            }
            1 => l2.cvlan = tci & 0x0fff,
            _ => {}
        }
        vlan_tags += 1;
        tags += 1;
        offset += 4;
        etype = next;
    }
    l2.etype = etype;
    match etype {
        ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => mpls(c, offset, l2),
        ethertype::PPPOE_SESSION => {
            // version/type, code, session id, length, then the PPP protocol.
            let proto = c.u16(offset + 6).ok_or(Malformed::TruncatedPppoe)?;
            let offset = offset + 8;
            match proto {
                PPP_IPV4 => finish(l2, ethertype::IPV4, offset),
                PPP_IPV6 => finish(l2, ethertype::IPV6, offset),
                _ => {
                    l2.header_len = offset as u32;
                    Ok((l2, 0, offset))
                }
            }
        }
        ethertype::IPV4 | ethertype::IPV6 => finish(l2, etype, offset),
        _ => {
            l2.header_len = offset as u32;
            Ok((l2, 0, offset))
        }
    }
}

/// Walks an MPLS label stack to its bottom and guesses the payload from its first nibble.
fn mpls(c: Cursor<'_>, mut offset: usize, l2: L2Info) -> Result<(L2Info, u16, usize), Malformed> {
    for _ in 0..MAX_MPLS_LABELS {
        let entry = c.u32(offset).ok_or(Malformed::TruncatedMplsStack)?;
        offset += 4;
        if entry & 0x100 != 0 {
            let etype = match c.u8(offset).map(|b| b >> 4) {
                Some(4) => ethertype::IPV4,
                Some(6) => ethertype::IPV6,
                _ => 0,
            };
            return finish(l2, etype, offset);
        }
    }
    Err(Malformed::TruncatedMplsStack)
}

/// 802.11 frame control bits (the field is little-endian).
const WLAN_TYPE_DATA: u16 = 2;
const WLAN_TO_DS: u16 = 0x0100;
const WLAN_FROM_DS: u16 = 0x0200;
const WLAN_PROTECTED: u16 = 0x4000;
const WLAN_ORDER: u16 = 0x8000;
/// Subtype bit of QoS data frames, which add a 2-byte QoS control field.
const WLAN_SUBTYPE_QOS: u16 = 0x0080;

/// An 802.11 data frame: MAC header (24 bytes, 30 with four addresses, +2 for QoS data, +4 for
/// an HT control field), then LLC/SNAP (AA AA 03, OUI, ethertype). Management, control,
/// encrypted and bodiless frames carry no IP we can read: they are non-IP.
fn ieee80211(c: Cursor<'_>, mut l2: L2Info) -> Result<(L2Info, u16, usize), Malformed> {
    let fc = c
        .array::<2>(0)
        .map(u16::from_le_bytes)
        .ok_or(Malformed::TruncatedLinkHeader)?;
    if (fc >> 2) & 0x3 != WLAN_TYPE_DATA || fc & WLAN_PROTECTED != 0 {
        return finish(l2, 0, 0);
    }
    let (to_ds, from_ds) = (fc & WLAN_TO_DS != 0, fc & WLAN_FROM_DS != 0);
    let mut header = if to_ds && from_ds { 30 } else { 24 };
    if fc & WLAN_SUBTYPE_QOS != 0 {
        header += 2;
        if fc & WLAN_ORDER != 0 {
            header += 4;
        }
    }
    if c.len() < header {
        return Err(Malformed::TruncatedLinkHeader);
    }
    // Destination and source by the DS bits (addresses 1-4 at offsets 4, 10, 16, 24).
    let (dst_at, src_at) = match (to_ds, from_ds) {
        (false, false) => (4, 10),
        (true, false) => (16, 10),
        (false, true) => (4, 16),
        (true, true) => (16, 24),
    };
    l2.dst_mac = c.array::<6>(dst_at).ok_or(Malformed::TruncatedLinkHeader)?;
    l2.src_mac = c.array::<6>(src_at).ok_or(Malformed::TruncatedLinkHeader)?;
    let snap = c.array::<3>(header);
    if snap != Some([0xaa, 0xaa, 0x03]) {
        return finish(l2, 0, header);
    }
    let etype = c.u16(header + 6).ok_or(Malformed::TruncatedLinkHeader)?;
    l2.etype = etype;
    match etype {
        ethertype::IPV4 | ethertype::IPV6 => finish(l2, etype, header + 8),
        _ => {
            l2.header_len = (header + 8) as u32;
            Ok((l2, 0, header + 8))
        }
    }
}
