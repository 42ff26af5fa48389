//! Putting a table's entries in key order for a purge.
//!
//! Keys are compared as their packed words, but a purge rarely has many bits that differ
//! between its keys: one time bin, hosts of a few networks, IPv4 addresses in IPv6-sized
//! slots. The bits that vary are found first (one pass over the keys) and gathered, most
//! significant first, above the entry number: into one u64 when they fit, else into a u128.
//! The order of those numbers is the keys' order: LSD radix passes over the gathered bits sort
//! the u64s, a comparison sort the u128s. When more than 96 bits vary, the u128 holds the first 96
//! (an order-preserving prefix of the key), and each run of entries with equal prefixes is
//! then ordered by comparing whole keys.

/// Arrays a sort reuses from one purge to the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct SortScratch {
    pub(super) order: Vec<u32>,
    narrow: Vec<u64>,
    narrow_spare: Vec<u64>,
    wide: Vec<u128>,
}

/// Radix digit width: 2^11 counters stay in L1 while a pass scatters.
const DIGIT_BITS: u32 = 11;
/// Below this many entries a comparison sort wins over radix passes.
const RADIX_MIN: usize = 256;
/// Bits of key a u128 holds beside a 32-bit entry number.
const WIDE_BITS: u32 = 96;

/// Sorts the entry numbers in `order` by their keys, `key(i)` being entry `i`'s key words.
pub(super) fn sort_by_key<'a>(
    order: &mut [u32],
    scratch: &mut SortScratch,
    key: &impl Fn(u32) -> &'a [u64],
) {
    if order.len() < 2 {
        return;
    }
    let largest = order.iter().copied().max().unwrap_or(0);
    let index_bits = u32::BITS - largest.leading_zeros();
    let mut varying = Varying::find(order, key);
    if varying.bits + index_bits <= 64 {
        sort_narrow(order, scratch, key, &varying, index_bits);
        return;
    }
    let whole = varying.truncate(WIDE_BITS);
    sort_wide(order, scratch, key, &varying);
    if !whole {
        order_ties(order, &scratch.wide, key);
    }
}

fn sort_narrow<'a>(
    order: &mut [u32],
    scratch: &mut SortScratch,
    key: &impl Fn(u32) -> &'a [u64],
    varying: &Varying,
    index_bits: u32,
) {
    let items = &mut scratch.narrow;
    items.clear();
    items.extend(
        order
            .iter()
            .map(|&i| ((varying.gather(key(i)) as u64) << index_bits) | u64::from(i)),
    );
    if items.len() < RADIX_MIN || varying.bits == 0 {
        items.sort_unstable();
    } else {
        let (from, to) = (index_bits, index_bits + varying.bits);
        radix_sort(items, &mut scratch.narrow_spare, from, to);
    }
    let mask = (1u64 << index_bits) - 1;
    for (o, &v) in order.iter_mut().zip(items.iter()) {
        *o = (v & mask) as u32;
    }
}

fn sort_wide<'a>(
    order: &mut [u32],
    scratch: &mut SortScratch,
    key: &impl Fn(u32) -> &'a [u64],
    varying: &Varying,
) {
    let items = &mut scratch.wide;
    items.clear();
    items.extend(
        order
            .iter()
            .map(|&i| (varying.gather(key(i)) << 32) | u128::from(i)),
    );
    // Radix passes over 16-byte items cost more here than a comparison sort.
    items.sort_unstable();
    for (o, &v) in order.iter_mut().zip(items.iter()) {
        *o = v as u32;
    }
}

/// Entries whose gathered prefixes are equal are next to each other: orders each such run by
/// whole keys (stable, so equal keys keep their entry order).
fn order_ties<'a>(order: &mut [u32], sorted: &[u128], key: &impl Fn(u32) -> &'a [u64]) {
    let mut start = 0;
    while start < sorted.len() {
        let prefix = sorted[start] >> 32;
        let run = sorted[start..]
            .iter()
            .take_while(|&&v| v >> 32 == prefix)
            .count();
        if run > 1 {
            order[start..start + run].sort_by(|&a, &b| key(a).cmp(key(b)));
        }
        start += run;
    }
}

/// Stable LSD radix sort of `items` on their bits `from..to`.
fn radix_sort(items: &mut Vec<u64>, spare: &mut Vec<u64>, from: u32, to: u32) {
    let passes = (to - from).div_ceil(DIGIT_BITS);
    let digit = (to - from).div_ceil(passes);
    spare.clear();
    spare.resize(items.len(), 0);
    let mut counts = vec![0usize; 1 << digit];
    let mut lo = from;
    while lo < to {
        let width = digit.min(to - lo);
        let mask = (1u64 << width) - 1;
        let counts = &mut counts[..1 << width];
        counts.fill(0);
        for &v in items.iter() {
            counts[((v >> lo) & mask) as usize] += 1;
        }
        let mut start = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = start;
            start += n;
        }
        for &v in items.iter() {
            let d = ((v >> lo) & mask) as usize;
            spare[counts[d]] = v;
            counts[d] += 1;
        }
        std::mem::swap(items, spare);
        lo += width;
    }
}

/// The key bits that differ between entries, per word; the other bits are the same in all of
/// them, so they cannot change their order.
#[derive(Debug)]
struct Varying {
    /// (word, mask of its varying bits), in key order.
    words: Vec<(usize, u64)>,
    bits: u32,
    /// BMI2's PEXT gathers a word's bits in one instruction.
    pext: bool,
}

impl Varying {
    fn find<'a>(order: &[u32], key: &impl Fn(u32) -> &'a [u64]) -> Varying {
        let first = key(order[0]);
        let mut diff = vec![0u64; first.len()];
        for &i in order {
            for ((d, w), f) in diff.iter_mut().zip(key(i)).zip(first) {
                *d |= w ^ f;
            }
        }
        let words: Vec<(usize, u64)> = diff
            .into_iter()
            .enumerate()
            .filter(|&(_, m)| m != 0)
            .collect();
        Varying {
            bits: words.iter().map(|&(_, m)| m.count_ones()).sum(),
            words,
            pext: has_pext(),
        }
    }

    /// Keeps only the first `budget` varying bits; whether that was all of them.
    fn truncate(&mut self, budget: u32) -> bool {
        let mut left = budget;
        let mut kept = 0;
        for (_, mask) in self.words.iter_mut() {
            let bits = mask.count_ones();
            if bits > left {
                for _ in 0..bits - left {
                    *mask &= *mask - 1;
                }
            }
            left -= mask.count_ones();
            kept += 1;
            if left == 0 {
                break;
            }
        }
        self.words.truncate(kept);
        let whole = self.bits <= budget;
        self.bits = self.bits.min(budget);
        whole
    }

    /// The varying bits of one key, most significant first, in the low `self.bits` bits.
    #[inline]
    fn gather(&self, key: &[u64]) -> u128 {
        #[cfg(target_arch = "x86_64")]
        if self.pext {
            // SAFETY: `pext` is set only when the CPU reports BMI2 (`has_pext`).
            return unsafe { gather_pext(&self.words, key) };
        }
        gather_portable(&self.words, key)
    }
}

/// How many key bits vary between the entries (tests: which path a sort takes).
#[cfg(test)]
pub(super) fn varying_bits<'a>(order: &[u32], key: &impl Fn(u32) -> &'a [u64]) -> u32 {
    Varying::find(order, key).bits
}

fn has_pext() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("bmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
fn gather_pext(words: &[(usize, u64)], key: &[u64]) -> u128 {
    words.iter().fold(0u128, |v, &(w, mask)| {
        let bits = std::arch::x86_64::_pext_u64(key[w], mask);
        (v << mask.count_ones()) | u128::from(bits)
    })
}

/// [`gather_pext`] bit by bit: each run of adjacent mask bits is one shift and mask.
fn gather_portable(words: &[(usize, u64)], key: &[u64]) -> u128 {
    let mut v = 0u128;
    for &(w, mask) in words {
        let mut m = mask;
        while m != 0 {
            let top = 63 - m.leading_zeros();
            let len = (m << (63 - top)).leading_ones();
            let shift = top + 1 - len;
            let run = if len == 64 {
                u64::MAX
            } else {
                (1u64 << len) - 1
            };
            v = (v << len) | u128::from((key[w] >> shift) & run);
            m &= !(run << shift);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[Vec<u64>]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        sort_by_key(&mut order, &mut SortScratch::default(), &|i| {
            &keys[i as usize]
        });
        order
    }

    fn expected(keys: &[Vec<u64>]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
        order
    }

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Every varying bit fits a u64 or a u128 with the entry number, or only a prefix does.
    #[test]
    fn every_width_gives_the_keys_order() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for (n, masks) in [
            (1000, [0x0000_0000_00ff_0f00u64, 0, 0xf000]),
            (100, [0x0000_0000_00ff_0f00u64, 0, 0xf000]),
            (5000, [0x00ff_ff00_0000_0000, 0xffff_0000, 0xffff]),
            (3000, [u64::MAX, 0xffff_ffff_0000, 0xff00_0000_0000_ffff]),
            (300, [u64::MAX, u64::MAX, u64::MAX]),
        ] {
            let keys: Vec<Vec<u64>> = (0..n)
                .map(|_| {
                    masks
                        .iter()
                        .map(|m| xorshift(&mut seed) & m | 0x10)
                        .collect()
                })
                .collect();
            assert_eq!(sorted(&keys), expected(&keys), "{n} keys, masks {masks:x?}");
        }
    }

    /// More bits vary than fit, and most keys share their prefix with others.
    #[test]
    fn runs_of_equal_prefixes_are_ordered_by_whole_keys() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let firsts: Vec<[u64; 2]> = (0..5)
            .map(|_| [xorshift(&mut seed), xorshift(&mut seed)])
            .collect();
        let keys: Vec<Vec<u64>> = (0..4000)
            .map(|_| {
                let [a, b] = firsts[(xorshift(&mut seed) % 5) as usize];
                vec![
                    a,
                    b,
                    xorshift(&mut seed) & 0xffff,
                    xorshift(&mut seed) & 0xff,
                ]
            })
            .collect();
        assert_eq!(sorted(&keys), expected(&keys));
    }

    #[test]
    fn equal_keys_and_tiny_inputs() {
        assert_eq!(sorted(&[]), Vec::<u32>::new());
        assert_eq!(sorted(&[vec![7]]), vec![0]);
        let keys = vec![vec![3, 1], vec![3, 0], vec![3, 1]];
        assert_eq!(sorted(&keys), vec![1, 0, 2]);
    }

    /// PEXT (where the CPU has it) and the portable gather agree, whole and truncated.
    #[test]
    fn both_gathers_agree() {
        let mut seed = 0x0bad_5eed_dead_beefu64;
        let keys: Vec<Vec<u64>> = (0..64)
            .map(|_| {
                (0..4)
                    .map(|_| xorshift(&mut seed) & 0xf0f0_ff00_0fff_0001)
                    .collect()
            })
            .collect();
        let order: Vec<u32> = (0..64).collect();
        let mut v = Varying::find(&order, &|i| &keys[i as usize]);
        for budget in [u32::MAX, 96, 40] {
            v.truncate(budget);
            for k in &keys {
                let portable = gather_portable(&v.words, k);
                assert_eq!(v.gather(k), portable);
                assert!(portable < 1u128 << v.bits.max(1), "{} bits", v.bits);
            }
        }
        let one = Varying {
            words: vec![(0, 0b1011_0000), (1, 1 << 63)],
            bits: 4,
            pext: false,
        };
        assert_eq!(one.gather(&[0b1001_0000, 1 << 63]), 0b1011);
    }

    #[test]
    fn truncating_keeps_the_first_bits() {
        let mut v = Varying {
            words: vec![(0, 0xff00), (2, 0xf0f0), (3, 1)],
            bits: 17,
            pext: false,
        };
        assert!(!v.truncate(12));
        assert_eq!((v.words, v.bits), (vec![(0, 0xff00), (2, 0xf000)], 12));
    }
}
