//! A bounds-checked big-endian reader over a byte slice, shared by the wire parsers.

/// Reads big-endian integers and slices from a byte slice; every read returns `None` instead of
/// going past the end, and a failed read leaves the position unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The next `n` bytes, or `None` when fewer are left.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// The next `n` bytes, or all that are left when fewer are (for messages cut by a capture).
    pub(crate) fn take_up_to(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.buf.len().saturating_sub(self.pos));
        self.take(n).unwrap_or(&[])
    }

    /// Skips `n` bytes; `None` (and no move) when fewer are left.
    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b: [u8; 2] = self.take(2)?.try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// A QUIC variable-length integer (RFC 9000 §16): 1, 2, 4 or 8 bytes, length in the two
    /// top bits of the first byte.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let first = *self.buf.get(self.pos)?;
        let len = 1usize << (first >> 6);
        let b = self.take(len)?;
        let v = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        // Clear the two length bits, which sit at the top of the first byte.
        let bits = u32::try_from(len * 8 - 2).ok()?;
        Some(v & ((1u64 << bits) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_stops_at_end() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(0x0203));
        assert_eq!(r.take(5), None);
        assert_eq!(r.skip(5), None);
        assert_eq!(r.pos(), 3);
        assert_eq!(r.u24(), Some(0x040506));
        assert_eq!(r.take_up_to(9), &[7]);
        assert_eq!(r.u8(), None);
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn quic_varints_of_rfc9000_appendix_a1() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, want) in cases {
            assert_eq!(Reader::new(bytes).varint(), Some(want));
        }
        assert_eq!(Reader::new(&[0x40]).varint(), None);
    }
}
