//! Rows of the csv and formatted outputs written straight into a fixed output buffer.
//! Numbers and IPv4 addresses, most of what a row holds, go in as whole small copies:
//! appending them to a `String` a few bytes at a time costs a capacity check per byte or a
//! call per piece, which was most of a purge's formatting time.

/// An output buffer of rows: the writer appends rows while [`RowBuffer::full`] is false and
/// then writes [`RowBuffer::bytes`] out. A row never ends up cut: one that does not fit in
/// what is left is not appended (see `RowFormat::append_row`).
pub struct RowBuffer {
    buf: Box<[u8]>,
    len: usize,
    /// Where the buffer counts as full; the rest is room for the row being built.
    flush_at: usize,
    /// Something did not fit.
    overflow: bool,
}

/// Room after [`RowBuffer::full`] for one more row: any row of a few dozen columns.
const ROW_ROOM: usize = 8 << 10;

/// "00" to "99".
static PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut v = 0;
    while v < 100 {
        pairs[2 * v] = b'0' + (v / 10) as u8;
        pairs[2 * v + 1] = b'0' + (v % 10) as u8;
        v += 1;
    }
    pairs
};

/// The digits of each byte value followed by a dot, and how many digits there are.
static OCTETS: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut v = 0;
    while v < 256 {
        let b = v as u8;
        table[v] = match b {
            0..=9 => ([b'0' + b, b'.', 0, 0], 1),
            10..=99 => ([b'0' + b / 10, b'0' + b % 10, b'.', 0], 2),
            _ => ([b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10, b'.'], 3),
        };
        v += 1;
    }
    table
};

impl RowBuffer {
    /// A buffer that counts as full past `size` bytes.
    pub fn new(size: usize) -> RowBuffer {
        RowBuffer {
            buf: vec![0; size + ROW_ROOM].into_boxed_slice(),
            len: 0,
            flush_at: size,
            overflow: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn full(&self) -> bool {
        self.len >= self.flush_at
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Drops what was written since `start` (a row that did not fit) and clears the overflow.
    pub(super) fn cut(&mut self, start: usize) -> bool {
        let overflow = std::mem::take(&mut self.overflow);
        if overflow {
            self.len = start.min(self.len);
        }
        overflow
    }

    /// The `n` bytes after the row's end, if the buffer has them.
    #[inline]
    fn room(&mut self, n: usize) -> Option<&mut [u8]> {
        let room = self.buf.get_mut(self.len..self.len + n);
        if room.is_none() {
            self.overflow = true;
        }
        room
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        if let Some(out) = self.room(1) {
            out[0] = b;
            self.len += 1;
        }
    }

    /// Text; short pieces (separators, protocol names) byte by byte, cheaper than a call.
    #[inline]
    pub(super) fn text(&mut self, s: &str) {
        let n = s.len();
        if let Some(out) = self.room(n) {
            if n <= 8 {
                for (o, b) in out.iter_mut().zip(s.bytes()) {
                    *o = b;
                }
            } else {
                out.copy_from_slice(s.as_bytes());
            }
            self.len += n;
        }
    }

    /// A number in decimal, two digits at a time from the end.
    #[inline]
    pub(super) fn decimal(&mut self, v: u64) {
        let n = v.checked_ilog10().unwrap_or(0) as usize + 1;
        if let Some(out) = self.room(n) {
            let (mut v, mut end) = (v, n);
            while v >= 100 {
                let pair = (v % 100) as usize * 2;
                v /= 100;
                out[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
                end -= 2;
            }
            if v >= 10 {
                let pair = v as usize * 2;
                out[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
            } else {
                out[end - 1] = b'0' + v as u8;
            }
            self.len += n;
        }
    }

    /// A dotted quad.
    #[inline]
    pub(super) fn ipv4(&mut self, octets: [u8; 4]) {
        // Each octet's four bytes go in whole; the end moves past its digits (and dot).
        let Some(out) = self.room(16) else {
            return;
        };
        let mut at = 0;
        for (n, o) in octets.into_iter().enumerate() {
            let (bytes, digits) = &OCTETS[usize::from(o)];
            out[at..at + 4].copy_from_slice(bytes);
            at += usize::from(*digits) + usize::from(n < 3);
        }
        self.len += at;
    }

    /// Pads what was written since `start` to `width` columns, as `super::pad_from`.
    #[inline]
    pub(super) fn pad_from(&mut self, start: usize, width: usize) {
        let n = (self.len - start.min(self.len)).min(width);
        let spaces = if n < width { width - n } else { 1 };
        if let Some(out) = self.room(spaces) {
            out.fill(b' ');
            self.len += spaces;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &RowBuffer) -> &str {
        std::str::from_utf8(b.bytes()).unwrap()
    }

    #[test]
    fn numbers_and_addresses_as_display() {
        let mut values = vec![0, 9, 10, 99, 100, 101, 65_535, 1_234_567, u64::MAX];
        values.extend((0..3000).map(|v| v * 7919));
        for v in values {
            let mut b = RowBuffer::new(64);
            b.decimal(v);
            assert_eq!(text(&b), v.to_string());
        }
        for a in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.1.99",
            "192.168.100.7",
            "1.22.133.4",
        ] {
            let ip: std::net::Ipv4Addr = a.parse().unwrap();
            let mut b = RowBuffer::new(64);
            b.text("x,");
            b.ipv4(ip.octets());
            b.byte(b',');
            assert_eq!(text(&b), format!("x,{a},"));
        }
    }

    #[test]
    fn padding_fullness_and_overflow() {
        let mut b = RowBuffer::new(8);
        b.text("ab");
        b.pad_from(0, 5);
        b.text("longer");
        b.pad_from(5, 3);
        assert_eq!(text(&b), "ab   longer ");
        assert!(b.full());
        let start = b.len();
        b.text(&"x".repeat(ROW_ROOM));
        assert!(b.cut(start));
        assert_eq!(text(&b), "ab   longer ");
        assert!(!b.cut(start));
        b.clear();
        assert!(b.is_empty() && !b.full());
    }
}
