//! DNS and mDNS responses: which addresses a name resolves to, as the client was told.
//!
//! [`answers`] reads one DNS response and reports, for the name the client asked, every IPv4 or
//! IPv6 address of the answer section, following CNAME chains. [`mdns_names`] reads the
//! `.local` host names that mDNS responders announce. [`tcp_messages`] splits a DNS-over-TCP
//! segment into messages.
//!
//! Names are decoded with bounded work: at most [`MAX_NAME_STEPS`] labels and compression
//! pointers per name and at most 255 bytes of name on the wire, so a pointer loop or a long
//! chain of pointers costs a fixed amount and yields [`DnsError::BadName`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rd::Reader;

/// At most this many labels plus compression pointers are followed when decoding one name.
pub const MAX_NAME_STEPS: usize = 128;
/// At most this many CNAME records are followed from the question name to an address record.
pub const MAX_CNAME_HOPS: usize = 16;
/// Answer records past this many in one message are parsed but not used.
pub const MAX_ANSWER_RECORDS: usize = 64;
/// The longest name, in its dotted text form, that is reported.
pub const MAX_NAME_TEXT: usize = 253;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;

/// An address that a DNS response gave for the name a client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The question's name (QNAME): lower-cased, without the trailing dot.
    pub name: String,
    /// The address of an A or AAAA record reached from the question name.
    pub addr: IpAddr,
    /// Seconds the answer may be cached: the minimum TTL along the CNAME chain and the address
    /// record.
    pub ttl: u32,
}

/// Why a DNS message gave no answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside a header, name or record.
    Truncated,
    /// A query (QR = 0), not a response.
    NotResponse,
    /// The response carries this non-zero RCODE (an error or NXDOMAIN).
    Rcode(u8),
    /// [`answers`] only reads responses with exactly one question; this many there were.
    QuestionCount(u16),
    /// A name with a reserved label type, a compression loop, more than [`MAX_NAME_STEPS`]
    /// steps or more than 255 bytes; or a question name that is empty or not printable ASCII.
    BadName,
}

impl DnsError {
    /// True when the bytes are not a well-formed DNS message, false when the message is merely
    /// of a kind that names nothing (a query, an error response, several questions).
    pub fn is_malformed(self) -> bool {
        matches!(self, DnsError::Truncated | DnsError::BadName)
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Truncated => f.write_str("DNS message truncated"),
            DnsError::NotResponse => f.write_str("DNS message is a query"),
            DnsError::Rcode(r) => write!(f, "DNS response with RCODE {r}"),
            DnsError::QuestionCount(n) => write!(f, "DNS response with {n} questions"),
            DnsError::BadName => f.write_str("bad DNS name"),
        }
    }
}

impl std::error::Error for DnsError {}

/// Reads one DNS message (a UDP payload, or one message from [`tcp_messages`]) and pushes onto
/// `out` one [`Answer`] per A/AAAA record of the answer section whose owner is the question name
/// or is reached from it through CNAME records of the answer section (in any order, at most
/// [`MAX_CNAME_HOPS`] hops, never twice through the same name).
///
/// Only responses (QR = 1) with RCODE 0 and exactly one question are read; anything else is an
/// error and pushes nothing. Records of classes other than IN are ignored, and so are answer
/// records past the first [`MAX_ANSWER_RECORDS`]. On a malformed message nothing is pushed.
/// Allocates only for the answers it pushes.
pub fn answers(msg: &[u8], out: &mut Vec<Answer>) -> Result<(), DnsError> {
    let h = Header::parse(msg)?;
    if !h.response {
        return Err(DnsError::NotResponse);
    }
    if h.rcode != 0 {
        return Err(DnsError::Rcode(h.rcode));
    }
    if h.qdcount != 1 {
        return Err(DnsError::QuestionCount(h.qdcount));
    }
    let mut qname = Name::new();
    let after_qname = read_name(msg, HEADER_LEN, &mut qname)?;
    if !qname.printable || qname.len == 0 {
        return Err(DnsError::BadName);
    }
    let mut pos = after_qname.checked_add(4).ok_or(DnsError::Truncated)?;
    if pos > msg.len() {
        return Err(DnsError::Truncated);
    }
    let mut rrs = [Rr::default(); MAX_ANSWER_RECORDS];
    let mut n = 0;
    let mut scratch = Name::new();
    for _ in 0..h.ancount {
        let (rr, next) = read_rr(msg, pos, &mut scratch)?;
        pos = next;
        if rr.class & 0x7fff == CLASS_IN && matches!(rr.rtype, TYPE_A | TYPE_AAAA | TYPE_CNAME) {
            if let Some(slot) = rrs.get_mut(n) {
                *slot = rr;
                n += 1;
            }
        }
    }
    let rrs = rrs.get(..n).unwrap_or(&[]);
    let mut chain = Chain::new(HEADER_LEN, qname.hash());
    chain.follow(msg, rrs)?;
    for rr in rrs {
        let Some(addr) = rr.addr(msg) else { continue };
        if let Some(link) = chain.find(msg, rr.owner, rr.owner_hash)? {
            out.push(Answer {
                name: qname.to_string_lossless(),
                addr,
                ttl: link.ttl.min(rr.ttl),
            });
        }
    }
    Ok(())
}

/// Reads one mDNS response (UDP port 5353: QR = 1, RCODE 0, any number of questions) and pushes
/// onto `out`, for every A/AAAA record of the answer and additional sections whose owner name
/// ends in `.local`, that name without `.local` (lower-cased, e.g. `jon-laptop`) and the address.
/// Owner names that are not printable ASCII, or that are just `local`, are skipped. The class's
/// cache-flush bit is ignored. On a malformed message nothing is pushed.
pub fn mdns_names(msg: &[u8], out: &mut Vec<(String, IpAddr)>) -> Result<(), DnsError> {
    let h = Header::parse(msg)?;
    if !h.response {
        return Err(DnsError::NotResponse);
    }
    if h.rcode != 0 {
        return Err(DnsError::Rcode(h.rcode));
    }
    let mut name = Name::new();
    let mut pos = HEADER_LEN;
    for _ in 0..h.qdcount {
        pos = read_name(msg, pos, &mut name)?
            .checked_add(4)
            .ok_or(DnsError::Truncated)?;
    }
    if pos > msg.len() {
        return Err(DnsError::Truncated);
    }
    let total = u32::from(h.ancount) + u32::from(h.nscount) + u32::from(h.arcount);
    let authority = u32::from(h.ancount)..u32::from(h.ancount) + u32::from(h.nscount);
    let start = out.len();
    for i in 0..total {
        let (rr, next) = match read_rr(msg, pos, &mut name) {
            Ok(v) => v,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        pos = next;
        if authority.contains(&i) || rr.class & 0x7fff != CLASS_IN || !name.printable {
            continue;
        }
        let Some(addr) = rr.addr(msg) else { continue };
        if let Some(host) = name.as_bytes().strip_suffix(b".local") {
            if let Ok(host) = std::str::from_utf8(host) {
                if !host.is_empty() {
                    out.push((host.to_owned(), addr));
                }
            }
        }
    }
    Ok(())
}

/// Splits the payload of one DNS-over-TCP segment into the DNS messages it holds whole.
///
/// Each message is preceded by its 2-byte big-endian length (RFC 1035 §4.2.2); the iterator
/// yields the messages without that prefix, ready for [`answers`]. It stops at a message cut by
/// the end of the payload (and at a lone trailing byte), and skips zero-length messages.
pub fn tcp_messages(stream_payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    TcpMessages {
        rest: stream_payload,
    }
}

struct TcpMessages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpMessages<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let mut r = Reader::new(self.rest);
            let Some(len) = r.u16() else {
                self.rest = &[];
                return None;
            };
            let Some(msg) = r.take(usize::from(len)) else {
                self.rest = &[];
                return None;
            };
            self.rest = r.rest();
            if !msg.is_empty() {
                return Some(msg);
            }
        }
    }
}

/// The fields of the 12-byte DNS header that the parsers use.
struct Header {
    response: bool,
    rcode: u8,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn parse(msg: &[u8]) -> Result<Header, DnsError> {
        let mut r = Reader::new(msg);
        let _id = r.u16().ok_or(DnsError::Truncated)?;
        let flags = r.u16().ok_or(DnsError::Truncated)?;
        let mut count = || r.u16().ok_or(DnsError::Truncated);
        Ok(Header {
            response: flags & 0x8000 != 0,
            rcode: (flags & 0x000f) as u8,
            qdcount: count()?,
            ancount: count()?,
            nscount: count()?,
            arcount: count()?,
        })
    }
}

/// A decoded name: labels joined with '.', ASCII lower-cased, no trailing dot (the root is
/// empty). At most 253 bytes, since names are at most 255 bytes on the wire.
struct Name {
    buf: [u8; 256],
    len: usize,
    /// Every byte is in 0x21..=0x7e and no label holds a '.'.
    printable: bool,
}

impl Name {
    fn new() -> Name {
        Name {
            buf: [0; 256],
            len: 0,
            printable: true,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.printable = true;
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn push_byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_label(&mut self, label: &[u8]) {
        if self.len > 0 {
            self.push_byte(b'.');
        }
        for &b in label {
            if !(0x21..=0x7e).contains(&b) || b == b'.' {
                self.printable = false;
            }
            self.push_byte(b.to_ascii_lowercase());
        }
    }

    /// FNV-1a of the text form, to compare names cheaply before comparing them in full.
    fn hash(&self) -> u64 {
        self.as_bytes().iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// The text form; only called on printable names, which are ASCII.
    fn to_string_lossless(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

/// Decodes the name starting at `off` into `name` and returns the offset just past the name's
/// bytes in place (past its first compression pointer, if any).
fn read_name(msg: &[u8], off: usize, name: &mut Name) -> Result<usize, DnsError> {
    name.clear();
    let mut pos = off;
    let mut end = None;
    let mut wire_len = 1usize;
    for _ in 0..MAX_NAME_STEPS {
        let b = *msg.get(pos).ok_or(DnsError::Truncated)?;
        match b & 0xc0 {
            0x00 if b == 0 => return Ok(end.unwrap_or(pos + 1)),
            0x00 => {
                let n = usize::from(b);
                let label = msg.get(pos + 1..pos + 1 + n).ok_or(DnsError::Truncated)?;
                wire_len += n + 1;
                if wire_len > 255 {
                    return Err(DnsError::BadName);
                }
                name.push_label(label);
                pos += 1 + n;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::Truncated)?;
                end.get_or_insert(pos + 2);
                pos = (usize::from(b & 0x3f) << 8) | usize::from(lo);
            }
            _ => return Err(DnsError::BadName),
        }
    }
    Err(DnsError::BadName)
}

/// Whether the names at offsets `a` and `b` are equal, ignoring ASCII case.
fn names_equal(msg: &[u8], a: usize, b: usize) -> Result<bool, DnsError> {
    if a == b {
        return Ok(true);
    }
    let (mut na, mut nb) = (Name::new(), Name::new());
    read_name(msg, a, &mut na)?;
    read_name(msg, b, &mut nb)?;
    Ok(na.as_bytes() == nb.as_bytes())
}

/// A resource record, by offsets into the message.
#[derive(Debug, Clone, Copy, Default)]
struct Rr {
    owner: usize,
    owner_hash: u64,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: usize,
    rdlen: usize,
}

impl Rr {
    /// The address of an A or AAAA record with rdata of the right length.
    fn addr(&self, msg: &[u8]) -> Option<IpAddr> {
        let data = msg.get(self.rdata..self.rdata.checked_add(self.rdlen)?)?;
        match self.rtype {
            TYPE_A => {
                let b: [u8; 4] = data.try_into().ok()?;
                Some(IpAddr::V4(Ipv4Addr::from(b)))
            }
            TYPE_AAAA => {
                let b: [u8; 16] = data.try_into().ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(b)))
            }
            _ => None,
        }
    }
}

/// Reads the resource record at `pos`, leaving its decoded owner name in `name`; returns it and
/// the offset of the next record.
fn read_rr(msg: &[u8], pos: usize, name: &mut Name) -> Result<(Rr, usize), DnsError> {
    let after_name = read_name(msg, pos, name)?;
    let mut r = Reader::new(msg.get(after_name..).ok_or(DnsError::Truncated)?);
    let rtype = r.u16().ok_or(DnsError::Truncated)?;
    let class = r.u16().ok_or(DnsError::Truncated)?;
    let ttl = r.u32().ok_or(DnsError::Truncated)?;
    let rdlen = usize::from(r.u16().ok_or(DnsError::Truncated)?);
    let rdata = after_name + r.pos();
    r.skip(rdlen).ok_or(DnsError::Truncated)?;
    let rr = Rr {
        owner: pos,
        owner_hash: name.hash(),
        rtype,
        class,
        ttl,
        rdata,
        rdlen,
    };
    Ok((rr, after_name + r.pos()))
}

/// One name of the CNAME chain: where it is in the message, and the minimum TTL of the CNAME
/// records that led to it.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    off: usize,
    hash: u64,
    ttl: u32,
}

/// The question name and the names reached from it through CNAME records.
struct Chain {
    links: [Link; MAX_CNAME_HOPS + 1],
    len: usize,
}

impl Chain {
    fn new(qname_off: usize, qname_hash: u64) -> Chain {
        let mut links = [Link::default(); MAX_CNAME_HOPS + 1];
        links[0] = Link {
            off: qname_off,
            hash: qname_hash,
            ttl: u32::MAX,
        };
        Chain { links, len: 1 }
    }

    fn links(&self) -> &[Link] {
        self.links.get(..self.len).unwrap_or(&[])
    }

    /// The link whose name is the name at `off`.
    fn find(&self, msg: &[u8], off: usize, hash: u64) -> Result<Option<Link>, DnsError> {
        for link in self.links() {
            if link.hash == hash && names_equal(msg, link.off, off)? {
                return Ok(Some(*link));
            }
        }
        Ok(None)
    }

    /// Extends the chain from its last name through the CNAME records of `rrs`, whatever their
    /// order, until no CNAME leads on, a CNAME leads back into the chain, or the chain is full.
    fn follow(&mut self, msg: &[u8], rrs: &[Rr]) -> Result<(), DnsError> {
        let mut target = Name::new();
        while self.len < self.links.len() {
            let Some(cur) = self.links().last().copied() else {
                break;
            };
            let mut next = None;
            for rr in rrs.iter().filter(|rr| rr.rtype == TYPE_CNAME) {
                if rr.owner_hash == cur.hash && names_equal(msg, rr.owner, cur.off)? {
                    next = Some(*rr);
                    break;
                }
            }
            let Some(rr) = next else { break };
            read_name(msg, rr.rdata, &mut target)?;
            if self.find(msg, rr.rdata, target.hash())?.is_some() {
                break;
            }
            if let Some(slot) = self.links.get_mut(self.len) {
                *slot = Link {
                    off: rr.rdata,
                    hash: target.hash(),
                    ttl: cur.ttl.min(rr.ttl),
                };
                self.len += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
