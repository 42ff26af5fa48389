//! IPv4 and IPv6 headers, IPv6 extension headers, and the first bytes of the transport header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{ethertype, ipproto, Cursor, Fragment, IpPacket, L2Info, Malformed, Ports};

const MAX_IPV6_EXTENSION_HEADERS: usize = 8;

/// Decodes an IP packet that starts at `data[0]`.
///
/// `wire_len` is how many bytes of the frame were on the wire from this header on; an IP length
/// field claiming more is [`Malformed::IpLengthBeyondFrame`]. `expected` is the ethertype the
/// link layer announced (the version nibble must agree); `None` accepts either version.
pub fn decode_ip(
    l2: L2Info,
    data: &[u8],
    wire_len: u32,
    expected: Option<u16>,
) -> Result<IpPacket, Malformed> {
    let mut p = IpPacket::new(l2);
    decode_ip_into(&mut p, l2, data, wire_len, expected)?;
    Ok(p)
}

/// [`decode_ip`] into `p` (every field is rewritten), so the caller's packet is filled in place.
pub fn decode_ip_into(
    p: &mut IpPacket,
    l2: L2Info,
    data: &[u8],
    wire_len: u32,
    expected: Option<u16>,
) -> Result<(), Malformed> {
    let c = Cursor::new(data);
    let version = c.u8(0).ok_or(Malformed::TruncatedIpHeader)? >> 4;
    match (version, expected) {
        (4, None | Some(ethertype::IPV4)) => ipv4(p, l2, c, wire_len),
        (6, None | Some(ethertype::IPV6)) => ipv6(p, l2, c, wire_len),
        _ => Err(Malformed::BadIpVersion),
    }
}

fn ipv4(p: &mut IpPacket, l2: L2Info, c: Cursor<'_>, wire_len: u32) -> Result<(), Malformed> {
    let src: [u8; 4] = c.array(12).ok_or(Malformed::TruncatedIpHeader)?;
    let dst: [u8; 4] = c.array(16).ok_or(Malformed::TruncatedIpHeader)?;
    let vihl = c.u8(0).ok_or(Malformed::TruncatedIpHeader)?;
    let header_len = usize::from(vihl & 0x0f) * 4;
    if header_len < 20 {
        return Err(Malformed::Ipv4HeaderLengthBelowMinimum);
    }
    let total_len = c.u16(2).ok_or(Malformed::TruncatedIpHeader)?;
    if usize::from(total_len) < header_len {
        return Err(Malformed::Ipv4TotalLengthBelowHeader);
    }
    if u32::from(total_len) > wire_len {
        return Err(Malformed::IpLengthBeyondFrame);
    }
    *p = IpPacket::new(l2);
    p.src = IpAddr::V4(Ipv4Addr::from(src));
    p.dst = IpAddr::V4(Ipv4Addr::from(dst));
    p.tos = c.u8(1).ok_or(Malformed::TruncatedIpHeader)?;
    p.proto = c.u8(9).ok_or(Malformed::TruncatedIpHeader)?;
    p.length = u32::from(total_len);
    let flags_offset = c.u16(6).ok_or(Malformed::TruncatedIpHeader)?;
    let more = flags_offset & 0x2000 != 0;
    let offset = u32::from(flags_offset & 0x1fff) * 8;
    if more || offset != 0 {
        let id = c.u16(4).ok_or(Malformed::TruncatedIpHeader)?;
        p.fragment = Some(Fragment {
            id: u32::from(id),
            offset,
            more,
        });
    }
    // The transport header ends where the IP packet ends, even if the capture holds padding.
    let end = usize::from(total_len).min(c.len());
    transport(p, c, header_len, end);
    Ok(())
}

fn ipv6(p: &mut IpPacket, l2: L2Info, c: Cursor<'_>, wire_len: u32) -> Result<(), Malformed> {
    let src: [u8; 16] = c.array(8).ok_or(Malformed::TruncatedIpHeader)?;
    let dst: [u8; 16] = c.array(24).ok_or(Malformed::TruncatedIpHeader)?;
    let first = c.u32(0).ok_or(Malformed::TruncatedIpHeader)?;
    let payload_len = c.u16(4).ok_or(Malformed::TruncatedIpHeader)?;
    let total = 40 + u32::from(payload_len);
    if total > wire_len {
        return Err(Malformed::IpLengthBeyondFrame);
    }
    *p = IpPacket::new(l2);
    p.src = IpAddr::V6(Ipv6Addr::from(src));
    p.dst = IpAddr::V6(Ipv6Addr::from(dst));
    p.tos = ((first >> 20) & 0xff) as u8;
    p.length = total;
    let end = (total as usize).min(c.len());

    let mut next = c.u8(6).ok_or(Malformed::TruncatedIpHeader)?;
    let mut offset = 40usize;
    for _ in 0..MAX_IPV6_EXTENSION_HEADERS {
        match next {
            // Hop-by-hop, routing, destination options, mobility: length in 8-byte units.
            0 | 43 | 60 | 135 => {
                let (Some(n), Some(len)) = (c.u8(offset), c.u8(offset + 1)) else {
                    p.proto = next;
                    p.ports = Ports::Truncated;
                    return Ok(());
                };
                next = n;
                offset += (usize::from(len) + 1) * 8;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let (Some(n), Some(len)) = (c.u8(offset), c.u8(offset + 1)) else {
                    p.proto = next;
                    p.ports = Ports::Truncated;
                    return Ok(());
                };
                next = n;
                offset += (usize::from(len) + 2) * 4;
            }
            44 => {
                let (Some(n), Some(off), Some(id)) =
                    (c.u8(offset), c.u16(offset + 2), c.u32(offset + 4))
                else {
                    p.proto = next;
                    p.ports = Ports::Truncated;
                    return Ok(());
                };
                next = n;
                p.fragment = Some(Fragment {
                    id,
                    offset: u32::from(off & 0xfff8),
                    more: off & 1 != 0,
                });
                offset += 8;
            }
            _ => break,
        }
    }
    p.proto = next;
    transport(p, c, offset, end);
    Ok(())
}

/// Reads ports, TCP flags or ICMP type/code from the transport header at `at`.
fn transport(p: &mut IpPacket, c: Cursor<'_>, at: usize, end: usize) {
    p.payload = (0, 0);
    if p.fragment.is_some_and(|f| !f.is_first()) {
        p.ports = match p.proto {
            ipproto::TCP | ipproto::UDP | ipproto::SCTP => Ports::InFirstFragment,
            _ => Ports::None,
        };
        return;
    }
    let within = |n: usize| at.checked_add(n).is_some_and(|e| e <= end);
    match p.proto {
        ipproto::TCP | ipproto::UDP | ipproto::SCTP => {
            p.ports = match (within(4), c.u16(at), c.u16(at + 2)) {
                (true, Some(src), Some(dst)) => Ports::Found { src, dst },
                _ => Ports::Truncated,
            };
            if p.proto == ipproto::TCP && within(14) {
                p.tcp_flags = c.u8(at + 13).unwrap_or(0);
            }
            let header = match p.proto {
                ipproto::TCP => c.u8(at + 12).map(|o| usize::from(o >> 4) * 4),
                ipproto::UDP => Some(8),
                _ => None,
            };
            if let Some(start) = header.and_then(|h| at.checked_add(h)) {
                // What was captured of the payload, within the IP length.
                let stop = end.min(c.len());
                if start < stop {
                    p.payload = (start as u32, (stop - start) as u32);
                }
            }
        }
        ipproto::ICMP | ipproto::ICMPV6 if within(2) => {
            if let (Some(t), Some(code)) = (c.u8(at), c.u8(at + 1)) {
                p.icmp = Some((t, code));
            }
        }
        _ => {}
    }
}
