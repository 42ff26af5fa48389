//! Capture files read straight from their bytes: pcap (both byte orders, microsecond and
//! nanosecond stamps, and the "modified" pcap of Kuznetsov's patches) and pcapng (section
//! headers in either byte order, interface descriptions with their link types, `if_tsresol` and
//! `if_tsoffset`, enhanced, simple and obsolete packet blocks).
//!
//! Promises: nothing here copies a packet or allocates per packet; [`Savefile::next`] returns
//! the packet's bytes borrowed from the file's bytes. It never panics: a record that runs past
//! the end of the file or a block whose lengths lie ends the reading with a [`SavefileError`]
//! giving the byte offset and the reason, and every packet before it has been returned.

use std::fmt;

/// Largest packet a record may claim (libpcap's own limit is 256 KiB; pcapng allows more).
const MAX_PACKET: u32 = 16 << 20;

/// One packet of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedPacket<'a> {
    pub data: &'a [u8],
    /// The packet's length on the wire (at least the captured length).
    pub wire_len: u32,
    pub secs: i64,
    pub micros: u32,
    /// The link type (DLT/LINKTYPE number) of the packet's interface.
    pub link: u16,
    /// The packet's interface: its pcapng interface id (0 in a pcap file).
    pub interface: u32,
    /// The direction pcapng's `epb_flags` record, when they do.
    pub direction: Option<PacketDirection>,
}

/// Which way a packet crossed its interface (pcapng `epb_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketDirection {
    Inbound,
    Outbound,
}

/// Why reading stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavefileError {
    /// Byte offset of the record or block that could not be read.
    pub offset: u64,
    pub reason: String,
}

impl fmt::Display for SavefileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for SavefileError {}

fn error(offset: usize, reason: impl Into<String>) -> SavefileError {
    SavefileError {
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Little- or big-endian reads at an offset, `None` past the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, d: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = d.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
    fn u32(self, d: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    fn u64(self, d: &[u8], at: usize) -> Option<u64> {
        let b: [u8; 8] = d.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }
}

/// Sub-second units of a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolution {
    /// Units per second.
    per_second: u64,
}

impl Resolution {
    const MICROS: Resolution = Resolution {
        per_second: 1_000_000,
    };
    const NANOS: Resolution = Resolution {
        per_second: 1_000_000_000,
    };

    /// pcapng's `if_tsresol`: 10^-n, or 2^-n with the high bit set.
    fn from_tsresol(v: u8) -> Option<Resolution> {
        let n = u32::from(v & 0x7f);
        let per_second = if v & 0x80 == 0 {
            10u64.checked_pow(n)?
        } else {
            1u64.checked_shl(n).filter(|_| n < 64)?
        };
        Some(Resolution { per_second })
    }

    fn split(self, ticks: u64) -> (i64, u32) {
        let secs = ticks / self.per_second;
        let frac = ticks % self.per_second;
        let micros = (u128::from(frac) * 1_000_000 / u128::from(self.per_second)) as u32;
        (secs as i64, micros)
    }
}

/// One interface of a pcapng section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interface {
    link: u16,
    resolution: Resolution,
    offset_secs: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Format {
    Pcap {
        order: Order,
        resolution: Resolution,
        /// Bytes of each record header (16, or 24 in the modified format).
        header: usize,
        link: u16,
    },
    PcapNg {
        order: Order,
        interfaces: Vec<Interface>,
        /// Each interface's `if_name`, by id.
        names: Vec<Option<String>>,
    },
}

/// A reading position in a capture file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Savefile {
    format: Format,
    pos: usize,
    /// Simple packet blocks carry no time: they take the last time seen.
    last: (i64, u32),
}

const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_OPB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;

impl Savefile {
    /// Reads the file header (pcap) or the first section header (pcapng).
    pub fn open(data: &[u8]) -> Result<Savefile, SavefileError> {
        let le = Order { big: false };
        let be = Order { big: true };
        let magic = le
            .u32(data, 0)
            .ok_or_else(|| error(0, "file shorter than a capture file header"))?;
        let pcap = |order: Order, resolution, header| -> Result<Savefile, SavefileError> {
            let network = order
                .u32(data, 20)
                .ok_or_else(|| error(0, "pcap file header cut short (24 bytes expected)"))?;
            Ok(Savefile {
                format: Format::Pcap {
                    order,
                    resolution,
                    header,
                    link: (network & 0xffff) as u16,
                },
                pos: 24,
                last: (0, 0),
            })
        };
        match magic {
            0xa1b2_c3d4 => pcap(le, Resolution::MICROS, 16),
            0xd4c3_b2a1 => pcap(be, Resolution::MICROS, 16),
            0xa1b2_3c4d => pcap(le, Resolution::NANOS, 16),
            0x4d3c_b2a1 => pcap(be, Resolution::NANOS, 16),
            0xa1b2_cd34 => pcap(le, Resolution::MICROS, 24),
            0x34cd_b2a1 => pcap(be, Resolution::MICROS, 24),
            PCAPNG_SHB => {
                let mut s = Savefile {
                    format: Format::PcapNg {
                        order: le,
                        interfaces: Vec::new(),
                        names: Vec::new(),
                    },
                    pos: 0,
                    last: (0, 0),
                };
                s.section(data, 0)?;
                Ok(s)
            }
            other => Err(error(
                0,
                format!(
                    "unknown file format (magic number 0x{other:08x}; expected pcap or pcapng)"
                ),
            )),
        }
    }

    /// The link type of the first interface (pcap: the file's), for filters compiled at start.
    pub fn first_link(&self, data: &[u8]) -> Option<u16> {
        match &self.format {
            Format::Pcap { link, .. } => Some(*link),
            Format::PcapNg { .. } => {
                let mut probe = self.clone();
                loop {
                    if let Format::PcapNg { interfaces, .. } = &probe.format {
                        if let Some(i) = interfaces.first() {
                            return Some(i.link);
                        }
                    }
                    match probe.block(data) {
                        Ok(Some(_)) | Err(_) => return None,
                        Ok(None) if probe.pos >= data.len() => return None,
                        Ok(None) => {}
                    }
                }
            }
        }
    }

    /// The next packet, `Ok(None)` at the end of the file.
    pub fn next<'a>(&mut self, data: &'a [u8]) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        match self.format {
            Format::Pcap {
                order,
                resolution,
                header,
                link,
            } => self.pcap_record(data, order, resolution, header, link),
            Format::PcapNg { .. } => loop {
                if self.pos >= data.len() {
                    return Ok(None);
                }
                if let Some(p) = self.block(data)? {
                    return Ok(Some(p));
                }
            },
        }
    }

    /// Where the next record or block starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn pcap_record<'a>(
        &mut self,
        data: &'a [u8],
        order: Order,
        resolution: Resolution,
        header: usize,
        link: u16,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        let at = self.pos;
        if at == data.len() {
            return Ok(None);
        }
        let field = |i: usize| order.u32(data, at + 4 * i);
        let (Some(secs), Some(frac), Some(caplen), Some(len)) =
            (field(0), field(1), field(2), field(3))
        else {
            return Err(error(
                at,
                format!(
                    "truncated record header ({} of {header} bytes)",
                    data.len() - at
                ),
            ));
        };
        if caplen > MAX_PACKET {
            return Err(error(
                at,
                format!("record claims {caplen} captured bytes (corrupt file)"),
            ));
        }
        let start = at + header;
        let end = start + caplen as usize;
        let Some(bytes) = data.get(start..end) else {
            return Err(error(
                at,
                format!(
                    "truncated record: {caplen} captured bytes announced, {} in the file",
                    data.len().saturating_sub(start)
                ),
            ));
        };
        self.pos = end;
        let micros = match resolution.per_second {
            1_000_000 => frac.min(999_999),
            _ => resolution.split(u64::from(frac)).1,
        };
        Ok(Some(SavedPacket {
            data: bytes,
            wire_len: len.max(caplen),
            secs: i64::from(secs),
            micros,
            link,
            interface: 0,
            direction: None,
        }))
    }

    /// Reads one pcapng block; returns the packet it holds, if any.
    fn block<'a>(&mut self, data: &'a [u8]) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        let at = self.pos;
        let le = Order { big: false };
        let block_type = le
            .u32(data, at)
            .ok_or_else(|| error(at, "truncated block header"))?;
        if block_type == PCAPNG_SHB {
            self.section(data, at)?;
            return Ok(None);
        }
        let Format::PcapNg { order, .. } = self.format else {
            return Ok(None);
        };
        let block_type = order
            .u32(data, at)
            .ok_or_else(|| error(at, "truncated block header"))?;
        let body = self.block_body(data, at, order)?;
        let packet = match block_type {
            PCAPNG_IDB => {
                self.interface(body, order, at)?;
                None
            }
            PCAPNG_EPB => self.enhanced(body, order, at)?,
            PCAPNG_OPB => self.obsolete(body, order, at)?,
            PCAPNG_SPB => self.simple(body, order, at)?,
            _ => None,
        };
        Ok(packet)
    }

    /// Checks a block's two lengths and moves past it; returns its body.
    fn block_body<'a>(
        &mut self,
        data: &'a [u8],
        at: usize,
        order: Order,
    ) -> Result<&'a [u8], SavefileError> {
        let total = order
            .u32(data, at + 4)
            .ok_or_else(|| error(at, "truncated block header"))? as usize;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(error(
                at,
                format!(
                    "block length {total} is not a multiple of 4 of at least 12 (corrupt file)"
                ),
            ));
        }
        let end = at
            .checked_add(total)
            .filter(|e| *e <= data.len())
            .ok_or_else(|| {
                error(
                    at,
                    format!(
                        "truncated block: {total} bytes announced, {} in the file",
                        data.len() - at
                    ),
                )
            })?;
        if order.u32(data, end - 4) != Some(total as u32) {
            return Err(error(
                at,
                "block's trailing length differs from its leading length (corrupt file)",
            ));
        }
        self.pos = end;
        Ok(&data[at + 8..end - 4])
    }

    /// A section header: its byte order, and a new (empty) interface list.
    fn section(&mut self, data: &[u8], at: usize) -> Result<(), SavefileError> {
        let order = match (Order { big: false }).u32(data, at + 8) {
            Some(PCAPNG_BYTE_ORDER) => Order { big: false },
            Some(0x4d3c_2b1a) => Order { big: true },
            Some(other) => {
                return Err(error(
                    at,
                    format!("section header with an unknown byte-order magic 0x{other:08x}"),
                ))
            }
            None => return Err(error(at, "truncated section header")),
        };
        self.block_body(data, at, order)?;
        self.format = Format::PcapNg {
            order,
            interfaces: Vec::new(),
            names: Vec::new(),
        };
        Ok(())
    }

    fn interface(&mut self, body: &[u8], order: Order, at: usize) -> Result<(), SavefileError> {
        let link = order
            .u16(body, 0)
            .ok_or_else(|| error(at, "interface description block too short"))?;
        let mut iface = Interface {
            link,
            resolution: Resolution::MICROS,
            offset_secs: 0,
        };
        let mut name = None;
        for (code, value) in options(body.get(8..).unwrap_or(&[]), order) {
            match (code, value) {
                (2, v) => {
                    let text = String::from_utf8_lossy(v);
                    name = Some(text.trim_end_matches('\0').to_string());
                }
                (9, [v, ..]) => {
                    iface.resolution = Resolution::from_tsresol(*v).ok_or_else(|| {
                        error(at, format!("interface with an impossible if_tsresol {v}"))
                    })?
                }
                (14, v) if v.len() >= 8 => {
                    iface.offset_secs = order.u64(v, 0).map_or(0, |o| o as i64)
                }
                _ => {}
            }
        }
        if let Format::PcapNg {
            interfaces, names, ..
        } = &mut self.format
        {
            interfaces.push(iface);
            names.push(name);
        }
        Ok(())
    }

    /// The name (`if_name`) a pcapng file gives interface `id`.
    pub fn interface_name(&self, id: u32) -> Option<&str> {
        match &self.format {
            Format::PcapNg { names, .. } => names.get(id as usize)?.as_deref(),
            Format::Pcap { .. } => None,
        }
    }

    fn interface_at(&self, id: u32, at: usize) -> Result<Interface, SavefileError> {
        match &self.format {
            Format::PcapNg { interfaces, .. } => {
                interfaces.get(id as usize).copied().ok_or_else(|| {
                    error(
                        at,
                        format!("packet of interface {id}, which is not described"),
                    )
                })
            }
            Format::Pcap { .. } => Err(error(at, "pcapng block in a pcap file")),
        }
    }

    /// A packet of `iface` whose bytes start `payload`; `lens` = (captured, on the wire).
    fn packet<'a>(
        &mut self,
        iface: Interface,
        ticks: u64,
        payload: &'a [u8],
        (caplen, len): (u32, u32),
        at: usize,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        if caplen > MAX_PACKET {
            return Err(error(
                at,
                format!("block claims {caplen} captured bytes (corrupt file)"),
            ));
        }
        let bytes = payload.get(..caplen as usize).ok_or_else(|| {
            error(
                at,
                format!("packet of {caplen} bytes does not fit in its block"),
            )
        })?;
        let (secs, micros) = iface.resolution.split(ticks);
        let secs = secs.saturating_add(iface.offset_secs);
        self.last = (secs, micros);
        Ok(Some(SavedPacket {
            data: bytes,
            wire_len: len.max(caplen),
            secs,
            micros,
            link: iface.link,
            interface: 0,
            direction: None,
        }))
    }

    fn enhanced<'a>(
        &mut self,
        body: &'a [u8],
        order: Order,
        at: usize,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        const TOO_SHORT: &str = "enhanced packet block too short";
        let id = order.u32(body, 0).ok_or_else(|| error(at, TOO_SHORT))?;
        self.stamped(body, order, at, id, TOO_SHORT)
    }

    fn obsolete<'a>(
        &mut self,
        body: &'a [u8],
        order: Order,
        at: usize,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        const TOO_SHORT: &str = "packet block too short";
        let id = order.u16(body, 0).ok_or_else(|| error(at, TOO_SHORT))?;
        self.stamped(body, order, at, u32::from(id), TOO_SHORT)
    }

    /// The part enhanced and obsolete packet blocks share after the interface id: timestamp
    /// (high, low), captured and original lengths, then the packet at byte 20.
    fn stamped<'a>(
        &mut self,
        body: &'a [u8],
        order: Order,
        at: usize,
        id: u32,
        too_short: &str,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        let f = |i: usize| order.u32(body, 4 * i);
        let (Some(high), Some(low), Some(caplen), Some(len)) = (f(1), f(2), f(3), f(4)) else {
            return Err(error(at, too_short));
        };
        let iface = self.interface_at(id, at)?;
        let ticks = u64::from(high) << 32 | u64::from(low);
        let packet = self.packet(
            iface,
            ticks,
            body.get(20..).unwrap_or(&[]),
            (caplen, len),
            at,
        )?;
        // Options follow the packet, padded to 32 bits: `epb_flags` (2) holds the direction.
        let after = 20 + (caplen as usize).div_ceil(4) * 4;
        let flags = options(body.get(after..).unwrap_or(&[]), order)
            .find(|(code, v)| *code == 2 && v.len() >= 4)
            .and_then(|(_, v)| order.u32(v, 0));
        Ok(packet.map(|p| SavedPacket {
            interface: id,
            direction: match flags.map(|f| f & 3) {
                Some(1) => Some(PacketDirection::Inbound),
                Some(2) => Some(PacketDirection::Outbound),
                _ => None,
            },
            ..p
        }))
    }

    fn simple<'a>(
        &mut self,
        body: &'a [u8],
        order: Order,
        at: usize,
    ) -> Result<Option<SavedPacket<'a>>, SavefileError> {
        let len = order
            .u32(body, 0)
            .ok_or_else(|| error(at, "simple packet block too short"))?;
        let iface = self.interface_at(0, at)?;
        let caplen = len.min(body.len().saturating_sub(4) as u32);
        let bytes = body.get(4..4 + caplen as usize).unwrap_or(&[]);
        Ok(Some(SavedPacket {
            data: bytes,
            wire_len: len.max(caplen),
            secs: self.last.0,
            micros: self.last.1,
            link: iface.link,
            interface: 0,
            direction: None,
        }))
    }
}

/// pcapng options: (code, value) until `opt_endofopt` or the end of the bytes.
fn options(mut bytes: &[u8], order: Order) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let code = order.u16(bytes, 0)?;
        let len = usize::from(order.u16(bytes, 2)?);
        if code == 0 {
            return None;
        }
        let value = bytes.get(4..4 + len)?;
        let padded = 4 + len.div_ceil(4) * 4;
        bytes = bytes.get(padded..).unwrap_or(&[]);
        Some((code, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w32(big: bool, v: u32) -> [u8; 4] {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn w16(big: bool, v: u16) -> [u8; 2] {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn pcap_file(magic: u32, big: bool, link: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut f = w32(big, magic).to_vec();
        f.extend_from_slice(&w16(big, 2));
        f.extend_from_slice(&w16(big, 4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&w32(big, 65535));
        f.extend_from_slice(&w32(big, link));
        for (secs, frac, data, len) in records {
            for v in [*secs, *frac, data.len() as u32, *len] {
                f.extend_from_slice(&w32(big, v));
            }
            if magic == 0xa1b2_cd34 {
                f.extend_from_slice(&[0; 8]);
            }
            f.extend_from_slice(data);
        }
        f
    }

    fn all(data: &[u8]) -> (Vec<SavedPacket<'_>>, Option<SavefileError>) {
        let mut s = match Savefile::open(data) {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut out = Vec::new();
        loop {
            match s.next(data) {
                Ok(Some(p)) => out.push(p),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn pcap_in_both_byte_orders_micro_and_nano() {
        for (magic, big, frac, micros) in [
            (0xa1b2_c3d4, false, 123_456, 123_456),
            (0xa1b2_c3d4, true, 123_456, 123_456),
            (0xa1b2_3c4d, false, 123_456_789, 123_456),
            (0xa1b2_3c4d, true, 999_999_999, 999_999),
            (0xa1b2_cd34, false, 5, 5),
        ] {
            let f = pcap_file(
                magic,
                big,
                1,
                &[(1_700_000_000, frac, b"abcd", 60), (7, 0, b"", 0)],
            );
            let (p, err) = all(&f);
            assert_eq!(err, None, "magic {magic:x} big {big}");
            assert_eq!(p.len(), 2);
            assert_eq!(
                (p[0].data, p[0].wire_len, p[0].secs, p[0].micros, p[0].link),
                (&b"abcd"[..], 60, 1_700_000_000, micros, 1)
            );
            assert_eq!((p[1].wire_len, p[1].secs), (0, 7));
        }
    }

    #[test]
    fn truncated_and_corrupt_pcap_keep_what_came_before() {
        let f = pcap_file(
            0xa1b2_c3d4,
            false,
            1,
            &[(1, 0, b"abcd", 4), (2, 0, b"efgh", 4)],
        );
        let cut = &f[..f.len() - 2];
        let (p, err) = all(cut);
        assert_eq!(p.len(), 1);
        assert_eq!(
            err,
            Some(SavefileError {
                offset: 44,
                reason: "truncated record: 4 captured bytes announced, 2 in the file".into()
            })
        );
        let (p, err) = all(&f[..50]);
        assert_eq!(p.len(), 1);
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("at byte 44: truncated record header (6 of 16 bytes)".into())
        );
        let mut huge = pcap_file(0xa1b2_c3d4, false, 1, &[(1, 0, b"abcd", 4)]);
        huge[32..36].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        assert!(all(&huge).1.is_some_and(|e| e.reason.contains("corrupt")));
        assert_eq!(
            Savefile::open(b"\x01\x02\x03\x04rest")
                .err()
                .map(|e| e.reason),
            Some("unknown file format (magic number 0x04030201; expected pcap or pcapng)".into())
        );
        assert!(Savefile::open(b"ab").is_err());
        assert!(Savefile::open(&f[..10]).is_err());
    }

    /// A pcapng block: type, length, body (padded), length.
    fn block(big: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut b = w32(big, kind).to_vec();
        b.extend_from_slice(&w32(big, total));
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        b.extend_from_slice(&w32(big, total));
        b
    }

    fn pcapng(big: bool) -> Vec<u8> {
        let mut shb = w32(big, PCAPNG_BYTE_ORDER).to_vec();
        shb.extend_from_slice(&w16(big, 1));
        shb.extend_from_slice(&w16(big, 0));
        shb.extend_from_slice(&[0xff; 8]);
        let mut f = block(big, PCAPNG_SHB, &shb);
        // Interface 0: Ethernet, microseconds. Interface 1: raw IP, nanoseconds, offset 100 s.
        let mut idb0 = w16(big, 1).to_vec();
        idb0.extend_from_slice(&[0, 0]);
        idb0.extend_from_slice(&w32(big, 65535));
        idb0.extend_from_slice(&w16(big, 2));
        idb0.extend_from_slice(&w16(big, 6));
        idb0.extend_from_slice(b"green0\0\0");
        idb0.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(block(big, PCAPNG_IDB, &idb0));
        let mut idb1 = w16(big, 101).to_vec();
        idb1.extend_from_slice(&[0, 0]);
        idb1.extend_from_slice(&w32(big, 65535));
        idb1.extend_from_slice(&w16(big, 9));
        idb1.extend_from_slice(&w16(big, 1));
        idb1.extend_from_slice(&[9, 0, 0, 0]);
        idb1.extend_from_slice(&w16(big, 14));
        idb1.extend_from_slice(&w16(big, 8));
        idb1.extend_from_slice(
            &(if big {
                100u64.to_be_bytes()
            } else {
                100u64.to_le_bytes()
            }),
        );
        idb1.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(block(big, PCAPNG_IDB, &idb1));
        let epb = |iface: u32, ticks: u64, data: &[u8], len: u32| {
            let mut b = w32(big, iface).to_vec();
            b.extend_from_slice(&w32(big, (ticks >> 32) as u32));
            b.extend_from_slice(&w32(big, ticks as u32));
            b.extend_from_slice(&w32(big, data.len() as u32));
            b.extend_from_slice(&w32(big, len));
            b.extend_from_slice(data);
            b
        };
        f.extend(block(
            big,
            PCAPNG_EPB,
            &epb(0, 1_700_000_000_250_000, b"hello", 5),
        ));
        f.extend(block(big, 0x0000_0bad, b"custom block"));
        let mut flagged = epb(1, 1_700_000_001_500_000_000, b"ip", 1500);
        flagged.extend_from_slice(&[0, 0]);
        flagged.extend_from_slice(&w16(big, 2));
        flagged.extend_from_slice(&w16(big, 4));
        flagged.extend_from_slice(&w32(big, 2));
        flagged.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(block(big, PCAPNG_EPB, &flagged));
        let mut spb = w32(big, 3).to_vec();
        spb.extend_from_slice(b"xyz");
        f.extend(block(big, PCAPNG_SPB, &spb));
        f
    }

    #[test]
    fn pcapng_interfaces_resolutions_and_block_kinds() {
        for big in [false, true] {
            let f = pcapng(big);
            let s = Savefile::open(&f).expect("open");
            assert_eq!(s.first_link(&f), Some(1));
            let (p, err) = all(&f);
            assert_eq!(err, None, "big {big}");
            let got: Vec<(&[u8], u32, i64, u32, u16)> = p
                .iter()
                .map(|p| (p.data, p.wire_len, p.secs, p.micros, p.link))
                .collect();
            assert_eq!(
                got,
                vec![
                    (&b"hello"[..], 5, 1_700_000_000, 250_000, 1),
                    (&b"ip"[..], 1500, 1_700_000_101, 500_000, 101),
                    // Simple packet blocks belong to interface 0 and take the last time seen.
                    (&b"xyz"[..], 3, 1_700_000_101, 500_000, 1),
                ]
            );
            let ifaces: Vec<(u32, Option<PacketDirection>)> =
                p.iter().map(|p| (p.interface, p.direction)).collect();
            assert_eq!(
                ifaces,
                vec![(0, None), (1, Some(PacketDirection::Outbound)), (0, None)]
            );
            let mut reader = Savefile::open(&f).expect("open");
            while let Ok(Some(_)) = reader.next(&f) {}
            assert_eq!(reader.interface_name(0), Some("green0"));
            assert_eq!(reader.interface_name(1), None);
        }
    }

    #[test]
    fn corrupt_pcapng_blocks_stop_with_their_offset() {
        let f = pcapng(false);
        // Cut inside the last block.
        let (p, err) = all(&f[..f.len() - 3]);
        assert_eq!(p.len(), 2);
        assert!(err.is_some_and(|e| e.reason.starts_with("truncated block")));
        // A block length that is not a multiple of 4.
        let mut bad = f.clone();
        let second = 28;
        bad[second + 4] = 13;
        let (p, err) = all(&bad);
        assert!(p.is_empty());
        assert_eq!(err.map(|e| e.offset), Some(second as u64));
        // A packet of an interface that was never described.
        // (section header 28 bytes, interface blocks 36 and 44: the first packet block is at 108)
        let mut undescribed = f.clone();
        undescribed[108 + 8] = 7;
        let (p, err) = all(&undescribed);
        assert!(p.is_empty());
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("at byte 108: packet of interface 7, which is not described".into())
        );
        // Every prefix reads without panicking.
        for n in 0..f.len() {
            let _ = all(&f[..n]);
        }
    }
}
