//! Bounds-checked big-endian reads: every function returns `None` (or a neutral value) past the
//! end of its slice instead of panicking.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) fn u8_at(data: &[u8], at: usize) -> Option<u8> {
    data.get(at).copied()
}

pub(crate) fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

pub(crate) fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// An unsigned integer in reduced-size encoding (RFC 7011 section 6.2): 1 to 8 bytes, big
/// endian. Longer fields keep their last 8 bytes; an empty field is 0.
#[inline]
pub(crate) fn uint(b: &[u8]) -> u64 {
    match b.len() {
        1 => u64::from(b[0]),
        2 => u64::from(u16::from_be_bytes([b[0], b[1]])),
        4 => u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        8 => u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
    }
}

/// An address from a 4-byte or 16-byte field; other lengths give `None`.
#[inline]
pub(crate) fn addr(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// True when every byte is zero (set padding).
pub(crate) fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_size_integers() {
        assert_eq!(uint(&[]), 0);
        assert_eq!(uint(&[0x12]), 0x12);
        assert_eq!(uint(&[0x12, 0x34]), 0x1234);
        assert_eq!(uint(&[0x12, 0x34, 0x56]), 0x12_3456);
        assert_eq!(uint(&[1, 2, 3, 4]), 0x0102_0304);
        assert_eq!(uint(&[1, 2, 3, 4, 5, 6]), 0x0102_0304_0506);
        assert_eq!(uint(&[1, 2, 3, 4, 5, 6, 7, 8]), 0x0102_0304_0506_0708);
        assert_eq!(uint(&[9, 1, 2, 3, 4, 5, 6, 7, 8]), 0x0102_0304_0506_0708);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        assert_eq!(u16_at(&[1], 0), None);
        assert_eq!(u16_at(&[1, 2], usize::MAX), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], 1), None);
        assert_eq!(u32_at(&[1, 2, 3, 4], 0), Some(0x0102_0304));
        assert_eq!(addr(&[10, 0, 0, 1]), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(addr(&[10, 0, 0]), None);
    }
}
