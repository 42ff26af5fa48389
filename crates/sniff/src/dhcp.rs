//! The host name and MAC address a DHCPv4 client announces (RFC 2131, RFC 2132, RFC 4702).

use std::net::Ipv4Addr;

/// DHCP message types (option 53) that [`host_name`] reads.
pub mod kind {
    pub const DISCOVER: u8 = 1;
    pub const REQUEST: u8 = 3;
    pub const ACK: u8 = 5;
    pub const INFORM: u8 = 8;
}

const MAGIC_COOKIE: [u8; 4] = [0x63, 0x82, 0x53, 0x63];
const FIXED_LEN: usize = 240;
const OPT_PAD: u8 = 0;
const OPT_HOST_NAME: u8 = 12;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_CLIENT_FQDN: u8 = 81;
const OPT_END: u8 = 255;
const FQDN_FLAG_E: u8 = 0x04;
const MAX_NAME: usize = 253;

/// A host name seen in a DHCP message, with the client it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpName {
    /// The client's hardware address (`chaddr`).
    pub mac: [u8; 6],
    /// The host part of the name (before the first '.'), lower-cased.
    pub name: String,
    /// `yiaddr` when non-zero (an ACK), else the requested IP address (option 50), else
    /// `ciaddr` when non-zero.
    pub addr: Option<Ipv4Addr>,
    /// The DHCP message type (option 53), one of [`kind`].
    pub kind: u8,
}

/// Reads a BOOTP/DHCPv4 message (the payload of a UDP datagram to or from port 67 or 68) with
/// the DHCP magic cookie and an Ethernet hardware address (htype 1, hlen 6), of type DISCOVER,
/// REQUEST, ACK or INFORM, and returns the host name it carries with the client's MAC address.
///
/// The name comes from the Client FQDN option (81), wire-encoded or ASCII, else from the Host
/// Name option (12); only its host part (before the first '.') is kept, trailing NUL bytes are
/// dropped, and it must be 1 to 253 bytes of printable ASCII without spaces (else that option
/// is ignored). Options are read up to the End option or the end of the payload (an option cut
/// short ends the walk, keeping what came before). Option overload (52) is not followed: names
/// in the `sname` and `file` fields are ignored. Returns `None` for other messages and when
/// there is no name. Allocates only for the name it returns.
pub fn host_name(payload: &[u8]) -> Option<DhcpName> {
    let fixed = payload.get(..FIXED_LEN)?;
    let (htype, hlen) = (*fixed.get(1)?, *fixed.get(2)?);
    if htype != 1 || hlen != 6 || fixed.get(236..240)? != MAGIC_COOKIE {
        return None;
    }
    let opts = Options::walk(payload.get(FIXED_LEN..)?);
    let kind = opts.kind?;
    if !matches!(
        kind,
        kind::DISCOVER | kind::REQUEST | kind::ACK | kind::INFORM
    ) {
        return None;
    }
    let name = opts
        .fqdn
        .and_then(fqdn_host)
        .or_else(|| opts.host.and_then(host_part))?;
    let ciaddr = ipv4(fixed.get(12..16)?).filter(|a| !a.is_unspecified());
    let yiaddr = ipv4(fixed.get(16..20)?).filter(|a| !a.is_unspecified());
    Some(DhcpName {
        mac: fixed.get(28..34)?.try_into().ok()?,
        name: name.to_ascii_lowercase(),
        addr: yiaddr.or(opts.requested).or(ciaddr),
        kind,
    })
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = b.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// The options [`host_name`] uses; the first instance of each wins.
#[derive(Default)]
struct Options<'a> {
    kind: Option<u8>,
    requested: Option<Ipv4Addr>,
    fqdn: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

impl<'a> Options<'a> {
    fn walk(mut rest: &'a [u8]) -> Options<'a> {
        let mut o = Options::default();
        while let Some((&code, after)) = rest.split_first() {
            if code == OPT_PAD {
                rest = after;
                continue;
            }
            if code == OPT_END {
                break;
            }
            let Some((&len, after)) = after.split_first() else {
                break;
            };
            let Some(data) = after.get(..usize::from(len)) else {
                break;
            };
            rest = after.get(usize::from(len)..).unwrap_or(&[]);
            match code {
                OPT_MESSAGE_TYPE => o.kind = o.kind.or(data.first().copied()),
                OPT_REQUESTED_IP => o.requested = o.requested.or(ipv4(data)),
                OPT_CLIENT_FQDN => o.fqdn = o.fqdn.or(Some(data)),
                OPT_HOST_NAME => o.host = o.host.or(Some(data)),
                _ => {}
            }
        }
        o
    }
}

/// The host part of a Client FQDN option (flags, RCODE1, RCODE2, then the domain name, in DNS
/// wire format when flag E is set, else ASCII).
fn fqdn_host(data: &[u8]) -> Option<&str> {
    let (&flags, rest) = data.split_first()?;
    let name = rest.get(2..)?;
    if flags & FQDN_FLAG_E != 0 {
        let (&len, labels) = name.split_first()?;
        if len > 63 {
            return None;
        }
        host_part(labels.get(..usize::from(len))?)
    } else {
        host_part(name)
    }
}

/// The bytes before the first '.', without trailing NULs, as text when they are 1 to 253
/// printable ASCII bytes without spaces.
fn host_part(name: &[u8]) -> Option<&str> {
    let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let name = name.get(..end)?;
    let dot = name.iter().position(|&b| b == b'.').unwrap_or(name.len());
    let host = name.get(..dot)?;
    let ok = !host.is_empty()
        && host.len() <= MAX_NAME
        && host.iter().all(|&b| (0x21..=0x7e).contains(&b));
    if ok {
        std::str::from_utf8(host).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

    /// A BOOTP message with the given op, ciaddr and yiaddr, the magic cookie and `options`.
    fn message(op: u8, ciaddr: [u8; 4], yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut m = vec![op, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0x80, 0];
        m.extend_from_slice(&ciaddr);
        m.extend_from_slice(&yiaddr);
        m.extend_from_slice(&[192, 168, 1, 1, 0, 0, 0, 0]);
        m.extend_from_slice(&MAC);
        m.resize(236, 0);
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(options);
        m
    }

    fn opt(code: u8, data: &[u8]) -> Vec<u8> {
        [&[code, data.len() as u8][..], data].concat()
    }

    fn want(name: &str, addr: Option<[u8; 4]>, kind: u8) -> Option<DhcpName> {
        Some(DhcpName {
            mac: MAC,
            name: name.to_owned(),
            addr: addr.map(Ipv4Addr::from),
            kind,
        })
    }

    #[test]
    fn request_prefers_fqdn_and_requested_ip() {
        let options = [
            opt(53, &[3]),
            opt(50, &[192, 168, 1, 23]),
            opt(12, b"Jons-iPhone"),
            opt(81, b"\x01\x00\x00Jon-Laptop.example.com"),
            vec![255],
        ]
        .concat();
        let got = host_name(&message(1, [0; 4], [0; 4], &options));
        assert_eq!(
            got,
            want("jon-laptop", Some([192, 168, 1, 23]), kind::REQUEST)
        );
    }

    #[test]
    fn ack_with_wire_encoded_fqdn_and_yiaddr() {
        let fqdn = b"\x05\xff\xff\x0ajon-laptop\x07example\x03com\x00";
        let options = [
            opt(53, &[5]),
            opt(50, &[10, 0, 0, 9]),
            opt(81, fqdn),
            vec![255],
        ]
        .concat();
        let got = host_name(&message(2, [0; 4], [192, 168, 1, 24], &options));
        assert_eq!(got, want("jon-laptop", Some([192, 168, 1, 24]), kind::ACK));
    }

    #[test]
    fn inform_discover_and_padding() {
        let options = [vec![0, 0], opt(53, &[8]), opt(12, b"nas\0\0"), vec![255]].concat();
        let got = host_name(&message(1, [192, 168, 1, 5], [0; 4], &options));
        assert_eq!(got, want("nas", Some([192, 168, 1, 5]), kind::INFORM));
        let options = [opt(53, &[1]), opt(12, b"printer.lan")].concat();
        let got = host_name(&message(1, [0; 4], [0; 4], &options));
        assert_eq!(got, want("printer", None, kind::DISCOVER));
    }

    #[test]
    fn bad_fqdn_falls_back_to_host_name() {
        for fqdn in [
            &b"\x04\x00\x00\x00"[..],
            b"\x00\x00\x00",
            b"\x00\x00",
            b"\x04\x00\x00\x40ab",
        ] {
            let options = [opt(53, &[3]), opt(81, fqdn), opt(12, b"tv")].concat();
            let got = host_name(&message(1, [0; 4], [0; 4], &options));
            assert_eq!(got, want("tv", None, kind::REQUEST), "{fqdn:?}");
        }
        let options = [opt(53, &[3]), opt(12, b"a b")].concat();
        assert_eq!(host_name(&message(1, [0; 4], [0; 4], &options)), None);
    }

    #[test]
    fn other_messages_are_ignored() {
        let named = |t: u8| [opt(53, &[t]), opt(12, b"x")].concat();
        for t in [2, 4, 6, 7] {
            assert_eq!(host_name(&message(2, [0; 4], [0; 4], &named(t))), None);
        }
        assert_eq!(host_name(&message(1, [0; 4], [0; 4], &opt(12, b"x"))), None);
        let good = message(1, [0; 4], [0; 4], &named(3));
        assert!(host_name(&good).is_some());
        for (at, value) in [(1, 6), (2, 8), (236, 0)] {
            let mut bad = good.clone();
            bad[at] = value;
            assert_eq!(host_name(&bad), None);
        }
        assert_eq!(host_name(&good[..239]), None);
    }

    #[test]
    fn options_cut_short_keep_what_came_before() {
        let options = [opt(53, &[3]), opt(12, b"cam"), vec![50, 4, 192, 168]].concat();
        let got = host_name(&message(1, [0; 4], [0; 4], &options));
        assert_eq!(got, want("cam", None, kind::REQUEST));
    }

    #[test]
    fn overloaded_sname_is_not_read() {
        let mut m = message(1, [0; 4], [0; 4], &[opt(53, &[3]), opt(52, &[2])].concat());
        m[44..52].copy_from_slice(&[12, 5, b'h', b'i', b'd', b'e', b'n', 255]);
        assert_eq!(host_name(&m), None);
    }

    #[test]
    fn random_bytes_never_panic() {
        let options = [
            opt(53, &[3]),
            opt(81, b"\x04\x00\x00\x03abc\x00"),
            vec![255],
        ]
        .concat();
        let base = message(1, [0; 4], [0; 4], &options);
        let mut buf = base.clone();
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = 236 + (x % (buf.len() as u64 - 236)) as usize;
            buf[at] = (x >> 32) as u8;
            let _ = host_name(&buf[..(x >> 48) as usize % (buf.len() + 1)]);
            let _ = host_name(&buf);
            if x.is_multiple_of(32) {
                buf.clone_from(&base);
            }
        }
    }
}
