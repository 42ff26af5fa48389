//! The aggregation table: packed keys (see [`crate::layout`]) to counters, with an optional hard
//! bound on memory.
//!
//! Promises: an existing key always keeps counting; when the bound is reached, records of new
//! keys are not stored but counted as overflow, so the loss is visible. Entries (key words, then
//! counter words) live side by side in one flat array of words, indexed by an open-addressing
//! table of 64-bit slots ([`index`]): an entry costs its key's words, its counters and 11 to 22
//! bytes of index, nothing else, and an update touches one place. Batches are added with the
//! memory of the next records' slots and entries requested ahead.

mod index;
mod sort;

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::key::{Counters, FlowKey, Record, RecordBatch};
use crate::layout::{KeyLayout, PackedKey};
use index::Index;
use sort::SortScratch;

type Hashing = foldhash::fast::FixedState;

/// One seed per process, random: every table hashes alike (a purged table's spare can be
/// filled with hashes computed for another), and keys chosen by whoever sends the packets
/// cannot be made to collide.
fn hashing() -> Hashing {
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::BuildHasher as _;
        foldhash::fast::RandomState::default().hash_one(0x706d_6163_6374u64)
    });
    foldhash::fast::FixedState::with_seed(seed)
}

/// Asks the CPU to start loading the cache line at `p` (a hint: it never faults).
#[inline]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and never faults; `p` is a valid
    // reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How many records ahead a batch upsert prefetches index slots, and then entries.
const SLOT_AHEAD: usize = 16;
const ENTRY_AHEAD: usize = 8;
/// How many rows ahead a purge's copy in key order prefetches entries.
const COPY_AHEAD: usize = 16;

/// A table's entries in output order (see [`AggregateTable::sorted_rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortedRows {
    layout: Option<Arc<KeyLayout>>,
    width: usize,
    keys: Vec<u64>,
    counters: Vec<Counters>,
    scratch: SortScratch,
}

impl SortedRows {
    pub fn len(&self) -> usize {
        self.counters.len()
    }
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }
    fn key(&self, i: usize) -> &[u64] {
        &self.keys[i * self.width..(i + 1) * self.width]
    }
    /// Words per key.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Row `i` as packed key words and counters.
    pub fn packed(&self, i: usize) -> (&[u64], Counters) {
        (self.key(i), self.counters[i])
    }
    /// The time bin of row `i`.
    pub fn bin(&self, i: usize) -> i64 {
        self.layout.as_ref().map_or(0, |l| l.bin(self.key(i)))
    }
    /// Row `i` read in place (`None` past the end).
    pub fn view(&self, i: usize) -> Option<(PackedKey<'_>, Counters)> {
        let layout = self.layout.as_deref()?;
        let key = self.keys.get(i * self.width..(i + 1) * self.width)?;
        Some((layout.view(key), *self.counters.get(i)?))
    }
    /// Row `i`, decoded.
    pub fn row(&self, i: usize) -> (FlowKey, Counters) {
        let key = self
            .layout
            .as_ref()
            .map_or_else(FlowKey::default, |l| l.decode(self.key(i)));
        (key, self.counters[i])
    }
}

#[derive(Debug)]
pub struct AggregateTable {
    layout: Arc<KeyLayout>,
    /// Key words per entry.
    width: usize,
    /// Words per entry: the key, then packets, bytes, flows and TCP flags.
    stride: usize,
    index: Index,
    entries: Vec<u64>,
    hashing: Hashing,
    /// Hashes of the batch being added, kept for their memory.
    hashes: Vec<u64>,
    max_entries: Option<usize>,
    overflow_records: u64,
    overflow_bytes: u64,
}

/// Counter words after each key.
const COUNTER_WORDS: usize = 4;

/// Bytes one entry of a `words`-word key may occupy: key, counters and the index's slots at
/// their lowest load (an index is 3/8 to 3/4 full).
pub fn entry_bytes(words: usize) -> usize {
    8 * (words + COUNTER_WORDS) + Index::SLOT_BYTES_PER_ENTRY
}

impl AggregateTable {
    /// A table that grows without bound.
    pub fn unbounded(layout: Arc<KeyLayout>) -> Self {
        Self::with_max(layout, None)
    }

    /// A table whose entries never take more than `bytes` (see [`entry_bytes`]); its index is
    /// allocated once, at the size that holds the largest number of entries that fit.
    pub fn bounded(layout: Arc<KeyLayout>, bytes: u64) -> Self {
        let max = (bytes / entry_bytes(layout.words()) as u64).max(1) as usize;
        Self::with_max(layout, Some(max))
    }

    fn with_max(layout: Arc<KeyLayout>, max_entries: Option<usize>) -> Self {
        AggregateTable {
            width: layout.words(),
            stride: layout.words() + COUNTER_WORDS,
            layout,
            index: Index::with_capacity(max_entries.unwrap_or(0)),
            entries: Vec::new(),
            hashing: hashing(),
            hashes: Vec::new(),
            max_entries,
            overflow_records: 0,
            overflow_bytes: 0,
        }
    }

    pub fn layout(&self) -> &Arc<KeyLayout> {
        &self.layout
    }

    #[inline]
    fn hash_of(hashing: &Hashing, key: &[u64]) -> u64 {
        let mut h = hashing.build_hasher();
        for w in key {
            h.write_u64(*w);
        }
        h.finish()
    }

    /// Word-by-word equality without an early exit (keys are a few words; a library memcmp
    /// call costs more than comparing them all).
    #[inline]
    fn same(a: &[u64], b: &[u64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    #[inline]
    fn key_at(entries: &[u64], stride: usize, width: usize, i: u32) -> &[u64] {
        let at = i as usize * stride;
        &entries[at..at + width]
    }

    fn counters_at(&self, i: u32) -> Counters {
        let at = i as usize * self.stride + self.width;
        let c = &self.entries[at..at + COUNTER_WORDS];
        Counters {
            packets: c[0],
            bytes: c[1],
            flows: c[2],
            tcp_flags: c[3] as u8,
        }
    }

    fn find(&self, key: &[u64]) -> Option<u32> {
        let hash = Self::hash_of(&self.hashing, key);
        let (entries, stride, width) = (&self.entries, self.stride, self.width);
        self.index.find(hash, |i| {
            Self::same(Self::key_at(entries, stride, width, i), key)
        })
    }

    /// Adds counters to a packed key; returns false when it was not stored because the table
    /// is full.
    #[inline]
    pub fn add_packed(&mut self, key: &[u64], counters: &Counters) -> bool {
        let hash = Self::hash_of(&self.hashing, key);
        self.add_hashed(key, hash, counters)
    }

    #[inline]
    fn add_hashed(&mut self, key: &[u64], hash: u64, counters: &Counters) -> bool {
        debug_assert_eq!(key.len(), self.width);
        let (entries, stride, width) = (&self.entries, self.stride, self.width);
        if let Some(i) = self.index.find(hash, |i| {
            Self::same(Self::key_at(entries, stride, width, i), key)
        }) {
            let at = i as usize * stride + width;
            let c = &mut self.entries[at..at + COUNTER_WORDS];
            c[0] += counters.packets;
            c[1] += counters.bytes;
            c[2] += counters.flows;
            c[3] |= u64::from(counters.tcp_flags);
            return true;
        }
        if self.max_entries.is_some_and(|max| self.len() >= max) {
            self.overflow_records += counters.packets;
            self.overflow_bytes += counters.bytes;
            return false;
        }
        let i = self.len() as u32;
        let start = self.entries.len();
        self.entries.resize(start + self.stride, 0);
        let entry = &mut self.entries[start..];
        copy_words(&mut entry[..width], key);
        entry[width..].copy_from_slice(&[
            counters.packets,
            counters.bytes,
            counters.flows,
            u64::from(counters.tcp_flags),
        ]);
        self.index.insert(hash, i);
        true
    }

    /// Adds every record of a batch (as [`Self::add_packed`]).
    pub fn add_batch(&mut self, batch: &RecordBatch) {
        self.add_records(batch, 0..batch.len());
    }

    /// Adds records `range` of a batch, loading the index slots and then the entries of the
    /// records a little ahead, so the memory they live in arrives while earlier ones are
    /// added (a table of many keys is mostly cache misses otherwise).
    pub fn add_records(&mut self, batch: &RecordBatch, range: Range<usize>) {
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        hashes.extend(
            range
                .clone()
                .map(|i| Self::hash_of(&self.hashing, batch.key(i))),
        );
        let meta = batch.meta();
        for (n, i) in range.enumerate() {
            if let Some(&h) = hashes.get(n + SLOT_AHEAD) {
                self.index.prefetch(h);
            }
            if let Some(e) = hashes
                .get(n + ENTRY_AHEAD)
                .and_then(|&h| self.index.candidate(h))
            {
                if let Some(w) = self.entries.get(e as usize * self.stride) {
                    prefetch(w);
                }
            }
            if let (Some(&h), Some(m)) = (hashes.get(n), meta.get(i)) {
                self.add_hashed(batch.key(i), h, &batch.counters(m));
            }
        }
        self.hashes = hashes;
    }

    /// Adds a decoded record (tests and tools; the data path uses packed keys).
    pub fn add(&mut self, record: &Record) -> bool {
        let key = self.layout.encoded(&record.key);
        self.add_packed(&key, &record.counters)
    }

    pub fn len(&self) -> usize {
        self.entries.len() / self.stride
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }
    /// Packets whose new key did not fit.
    pub fn overflow_packets(&self) -> u64 {
        self.overflow_records
    }
    pub fn overflow_bytes(&self) -> u64 {
        self.overflow_bytes
    }

    pub fn get(&self, key: &FlowKey) -> Option<Counters> {
        let i = self.find(&self.layout.encoded(key))?;
        Some(self.counters_at(i))
    }

    /// Removes an entry; the last entry moves into its place.
    pub fn remove(&mut self, key: &FlowKey) -> Option<Counters> {
        let packed = self.layout.encoded(key);
        let hash = Self::hash_of(&self.hashing, &packed);
        let i = self.find(&packed)?;
        self.index.remove(hash, i);
        let removed = self.counters_at(i);
        let (stride, width) = (self.stride, self.width);
        let last = (self.len() - 1) as u32;
        if i != last {
            let moved = Self::key_at(&self.entries, stride, width, last);
            let moved_hash = Self::hash_of(&self.hashing, moved);
            self.index.renumber(moved_hash, last, i);
            let (to, from) = (i as usize * stride, last as usize * stride);
            self.entries.copy_within(from..from + stride, to);
        }
        self.entries.truncate(last as usize * stride);
        Some(removed)
    }

    /// The entries in output order, copied side by side so that reading them (decoding and
    /// printing a purge) walks memory in order instead of jumping around the table.
    pub fn sorted_rows(&self) -> SortedRows {
        let mut rows = SortedRows::default();
        self.sort_into(&mut rows);
        rows
    }

    /// [`Self::sorted_rows`] into `rows`, reusing its memory (a plugin that purges every minute
    /// keeps one).
    pub fn sort_into(&self, rows: &mut SortedRows) {
        let width = self.width;
        rows.layout = Some(self.layout.clone());
        rows.width = width;
        rows.keys.clear();
        rows.counters.clear();
        let mut order = std::mem::take(&mut rows.scratch.order);
        order.clear();
        order.extend(0..self.len() as u32);
        let (entries, stride) = (&self.entries, self.stride);
        sort::sort_by_key(&mut order, &mut rows.scratch, &|i| {
            Self::key_at(entries, stride, width, i)
        });
        rows.keys.resize(order.len() * width, 0);
        rows.counters.resize(order.len(), Counters::default());
        copy_rows(
            &mut rows.keys,
            &mut rows.counters,
            &order,
            |i| (Self::key_at(entries, stride, width, i), self.counters_at(i)),
            |i| {
                let at = i as usize * stride;
                if let Some(w) = entries.get(at) {
                    prefetch(w);
                }
                if let Some(w) = entries.get(at + stride - 1) {
                    prefetch(w);
                }
            },
        );
        rows.scratch.order = order;
    }

    /// Entries sorted in output order, decoded.
    pub fn sorted(&self) -> Vec<(FlowKey, Counters)> {
        let rows = self.sorted_rows();
        (0..rows.len()).map(|i| rows.row(i)).collect()
    }

    /// Removes and returns every entry (sorted, decoded), keeping the allocations.
    pub fn drain_sorted(&mut self) -> Vec<(FlowKey, Counters)> {
        let rows = self.sorted();
        self.index.clear();
        self.entries.clear();
        rows
    }

    /// Empties the table and its overflow counters.
    pub fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.overflow_records = 0;
        self.overflow_bytes = 0;
    }
}

/// Copies the rows of `order` side by side into `keys` and `counters` (as long as they are),
/// reading each entry once and asking for it `COPY_AHEAD` rows before (the entries are spread
/// over the table, so each read would otherwise wait on memory).
fn copy_rows<'a>(
    keys: &mut [u64],
    counters: &mut [Counters],
    order: &[u32],
    row: impl Fn(u32) -> (&'a [u64], Counters),
    fetch: impl Fn(u32),
) {
    let Some(width) = order.first().map(|&i| row(i).0.len()) else {
        return;
    };
    let ahead = order
        .iter()
        .skip(COPY_AHEAD)
        .map(Some)
        .chain(std::iter::repeat(None));
    for (((key, c), &i), next) in keys
        .chunks_exact_mut(width)
        .zip(counters)
        .zip(order)
        .zip(ahead)
    {
        if let Some(&n) = next {
            fetch(n);
        }
        let (from, counters) = row(i);
        copy_words(key, from);
        *c = counters;
    }
}

/// `to.copy_from_slice(from)` for keys: a few words, so a copy of a width known when compiled
/// (a few moves) instead of a call to `memcpy`.
#[inline(always)]
fn copy_words(to: &mut [u64], from: &[u64]) {
    fn fixed<const W: usize>(to: &mut [u64], from: &[u64]) {
        if let (Some(to), Some(from)) = (to.first_chunk_mut::<W>(), from.first_chunk::<W>()) {
            *to = *from;
        }
    }
    match to.len() {
        1 => fixed::<1>(to, from),
        2 => fixed::<2>(to, from),
        3 => fixed::<3>(to, from),
        4 => fixed::<4>(to, from),
        5 => fixed::<5>(to, from),
        6 => fixed::<6>(to, from),
        7 => fixed::<7>(to, from),
        8 => fixed::<8>(to, from),
        _ => to.copy_from_slice(from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitive::Aggregate;

    fn layout() -> Arc<KeyLayout> {
        Arc::new(KeyLayout::new(
            &Aggregate::parse("src_port").unwrap(),
            false,
        ))
    }

    fn rec(port: u16, bytes: u64) -> Record {
        Record {
            key: FlowKey {
                src_port: port,
                ..FlowKey::default()
            },
            counters: Counters {
                packets: 1,
                bytes,
                flows: 0,
                tcp_flags: 0,
            },
            ts: 0,
        }
    }

    #[test]
    fn sums_per_key() {
        let mut t = AggregateTable::unbounded(layout());
        t.add(&rec(1, 10));
        t.add(&rec(1, 5));
        t.add(&rec(2, 7));
        assert_eq!(
            t.sorted()
                .iter()
                .map(|(k, c)| (k.src_port, c.packets, c.bytes))
                .collect::<Vec<_>>(),
            vec![(1, 2, 15), (2, 1, 7)]
        );
    }

    #[test]
    fn bound_keeps_old_keys_counting_and_counts_the_rest() {
        let mut t = AggregateTable::bounded(layout(), 56 * entry_bytes(1) as u64);
        assert_eq!(t.max_entries(), Some(56));
        for p in 0..100u16 {
            t.add(&rec(p, 10));
        }
        assert_eq!(t.len(), 56);
        assert_eq!((t.overflow_packets(), t.overflow_bytes()), (44, 440));
        assert!(t.add(&rec(0, 1)));
        assert_eq!(t.get(&rec(0, 0).key).map(|c| c.bytes), Some(11));
    }

    #[test]
    fn remove_moves_the_last_entry_and_keeps_every_other_findable() {
        let mut t = AggregateTable::unbounded(layout());
        for p in 0..50u16 {
            t.add(&rec(p, u64::from(p)));
        }
        for p in (0..50u16).step_by(3) {
            assert_eq!(
                t.remove(&rec(p, 0).key).map(|c| c.bytes),
                Some(u64::from(p))
            );
        }
        assert_eq!(t.remove(&rec(0, 0).key), None);
        for p in 0..50u16 {
            let want = (p % 3 != 0).then_some(u64::from(p));
            assert_eq!(t.get(&rec(p, 0).key).map(|c| c.bytes), want, "port {p}");
        }
        assert_eq!(t.len(), 33);
        let drained = t.drain_sorted();
        assert_eq!(drained.len(), 33);
        assert!(drained.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(t.is_empty());
    }

    /// The sort gives the packed keys' order whether the bits that vary fit one u64 with the
    /// entry number or only their first ones do.
    #[test]
    fn sorted_rows_follow_the_packed_keys_order() {
        use crate::key::Addr;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // (MACs in the key, IPv6 hosts too) -> how many key bits vary: up to 51 pack whole with
        // the entry number into a u64; of more only a prefix does, and ties compare whole keys.
        let cases = [
            ((false, false), 0..=51u32),
            ((true, false), 52..=96),
            ((false, true), 97..=u32::MAX),
            ((true, true), 97..=u32::MAX),
        ];
        for ((macs, v6), varying) in cases {
            let primitives = match macs {
                true => "src_mac, dst_mac, src_host, dst_host, src_port, dst_port, proto",
                false => "src_host, dst_host, src_port, dst_port, proto",
            };
            let layout = Arc::new(KeyLayout::new(
                &Aggregate::parse(primitives).unwrap(),
                false,
            ));
            let mut t = AggregateTable::unbounded(layout);
            for _ in 0..5000 {
                let r = next();
                let src: std::net::IpAddr = if v6 && r % 3 == 0 {
                    std::net::Ipv6Addr::from(u128::from(r) << 64 | u128::from(next())).into()
                } else {
                    std::net::Ipv4Addr::from((r >> 32) as u32 & 0x0a00_00ff).into()
                };
                let m = next().to_be_bytes();
                let key = FlowKey {
                    src_mac: crate::key::Mac([m[0], m[1], m[2], m[3], m[4], m[5]]),
                    dst_mac: crate::key::Mac([0, 0, 0, 0, m[3] & 0x0f, 0]),
                    src_host: Addr(src),
                    dst_host: Addr(match v6 && r % 5 == 0 {
                        true => std::net::Ipv6Addr::from(u128::from(next()) << 64 | u128::from(r))
                            .into(),
                        false => std::net::Ipv4Addr::from(r as u32 & 0xff00_00ff).into(),
                    }),
                    src_port: (r >> 8) as u16 & 0x0f0f,
                    dst_port: 80,
                    proto: if r & 1 == 0 { 6 } else { 17 },
                    ..FlowKey::default()
                };
                let counters = Counters {
                    packets: 1,
                    ..Counters::default()
                };
                t.add(&Record {
                    key,
                    counters,
                    ts: 0,
                });
            }
            let all: Vec<u32> = (0..t.len() as u32).collect();
            let (entries, stride, width) = (&t.entries, t.stride, t.width);
            let n =
                sort::varying_bits(&all, &|i| AggregateTable::key_at(entries, stride, width, i));
            assert!(varying.contains(&n), "macs {macs} v6 {v6}: {n} bits vary");
            let rows = t.sorted_rows();
            let mut want: Vec<Vec<u64>> = t
                .entries
                .chunks_exact(t.stride)
                .map(|e| e[..t.width].to_vec())
                .collect();
            want.sort();
            let got: Vec<Vec<u64>> = (0..rows.len()).map(|i| rows.packed(i).0.to_vec()).collect();
            assert_eq!(rows.len(), t.len());
            assert_eq!(got, want, "macs {macs} v6 {v6}");
        }
    }
}
