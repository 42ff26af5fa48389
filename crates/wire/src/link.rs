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
}

impl LinkType {
    /// Maps a libpcap DLT number to a link type we decode.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            9 => LinkType::Ppp,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "EN10MB",
            LinkType::Null => "NULL",
            LinkType::Loop => "LOOP",
            LinkType::Raw => "RAW",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::LinuxSll2 => "LINUX_SLL2",
            LinkType::Ppp => "PPP",
        }
    }
}

const MAX_VLAN_TAGS: usize = 8;
const MAX_MPLS_LABELS: usize = 16;

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
    while matches!(
        etype,
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD
    ) {
        if tags == MAX_VLAN_TAGS {
            return finish(l2, 0, offset);
        }
        let tci = c.u16(offset).ok_or(Malformed::TruncatedVlanTag)?;
        let next = c.u16(offset + 2).ok_or(Malformed::TruncatedVlanTag)?;
        match tags {
            0 => {
                l2.vlan = tci & 0x0fff;
                l2.cos = (tci >> 13) as u8;
            }
            1 => l2.cvlan = tci & 0x0fff,
            _ => {}
        }
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
