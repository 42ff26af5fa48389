//! The aggregation table: packed keys (see [`crate::layout`]) to counters, with an optional hard
//! bound on memory.
//!
//! Promises: an existing key always keeps counting; when the bound is reached, records of new
//! keys are not stored but counted as overflow, so the loss is visible. Entries (key words, then
//! counter words) live side by side in one flat array of words, indexed by a hash table of
//! 32-bit entry numbers: an entry costs its key's words, its counters and about five bytes of
//! index, nothing else, and an update touches one place.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::key::{Counters, FlowKey, Record, RecordBatch};
use crate::layout::KeyLayout;

type Hashing = foldhash::fast::RandomState;

/// Key words copied into the sort array (a 5-tuple with its time bin takes 6).
const PREFIX_WORDS: usize = 6;

/// A table's entries in output order (see [`AggregateTable::sorted_rows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortedRows {
    layout: Option<Arc<KeyLayout>>,
    width: usize,
    keys: Vec<u64>,
    counters: Vec<Counters>,
    scratch: Vec<([u64; PREFIX_WORDS], u32)>,
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
    index: HashTable<u32>,
    entries: Vec<u64>,
    hashing: Hashing,
    max_entries: Option<usize>,
    overflow_records: u64,
    overflow_bytes: u64,
}

/// Counter words after each key.
const COUNTER_WORDS: usize = 4;

/// Bytes one entry of a `words`-word key may occupy: key, counters and the index's slot and
/// control byte at its lowest load (hashbrown tables are 7/16 to 7/8 full).
pub fn entry_bytes(words: usize) -> usize {
    8 * (words + COUNTER_WORDS) + (4 + 1) * 16 / 7 + 1
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
            index: HashTable::with_capacity(max_entries.unwrap_or(0)),
            entries: Vec::new(),
            hashing: Hashing::default(),
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
        self.index
            .find(hash, |&i| {
                Self::same(Self::key_at(entries, stride, width, i), key)
            })
            .copied()
    }

    /// Adds counters to a packed key; returns false when it was not stored because the table
    /// is full.
    #[inline]
    pub fn add_packed(&mut self, key: &[u64], counters: &Counters) -> bool {
        debug_assert_eq!(key.len(), self.width);
        let hash = Self::hash_of(&self.hashing, key);
        let (entries, stride, width) = (&self.entries, self.stride, self.width);
        if let Some(&i) = self.index.find(hash, |&i| {
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
        self.entries.extend_from_slice(key);
        self.entries.extend_from_slice(&[
            counters.packets,
            counters.bytes,
            counters.flows,
            u64::from(counters.tcp_flags),
        ]);
        let (entries, hashing) = (&self.entries, &self.hashing);
        self.index.insert_unique(hash, i, |&j| {
            Self::hash_of(hashing, Self::key_at(entries, stride, width, j))
        });
        true
    }

    /// Adds every record of a batch (as [`Self::add_packed`]).
    pub fn add_batch(&mut self, batch: &RecordBatch) {
        for (key, counters) in batch.iter() {
            self.add_packed(key, &counters);
        }
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
        let (entries, stride, width) = (&self.entries, self.stride, self.width);
        let slot = self
            .index
            .find_entry(hash, |&i| {
                Self::same(Self::key_at(entries, stride, width, i), &packed)
            })
            .ok()?;
        let (i, _) = slot.remove();
        let removed = self.counters_at(i);
        let last = (self.len() - 1) as u32;
        if i != last {
            let moved = Self::key_at(&self.entries, stride, width, last);
            let moved_hash = Self::hash_of(&self.hashing, moved);
            if let Some(j) = self.index.find_mut(moved_hash, |&j| j == last) {
                *j = i;
            }
            let (to, from) = (i as usize * stride, last as usize * stride);
            self.entries.copy_within(from..from + stride, to);
        }
        self.entries.truncate(last as usize * stride);
        Some(removed)
    }

    /// Sorts on a copy of the keys' first words (the whole key of most layouts, so the sort
    /// reads one contiguous array), comparing whole keys on ties.
    fn sort_items(&self, items: &mut Vec<([u64; PREFIX_WORDS], u32)>) {
        let (entries, stride, width) = (&self.entries, self.stride, self.width);
        items.clear();
        items.extend(entries.chunks_exact(stride).enumerate().map(|(i, e)| {
            let mut prefix = [0u64; PREFIX_WORDS];
            for (p, w) in prefix.iter_mut().zip(&e[..width]) {
                *p = *w;
            }
            (prefix, i as u32)
        }));
        let whole = width > PREFIX_WORDS;
        items.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| match whole {
                true => Self::key_at(entries, stride, width, a.1)
                    .cmp(Self::key_at(entries, stride, width, b.1)),
                false => std::cmp::Ordering::Equal,
            })
        });
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
        self.sort_items(&mut rows.scratch);
        let width = self.width;
        rows.layout = Some(self.layout.clone());
        rows.width = width;
        rows.keys.clear();
        rows.counters.clear();
        for (prefix, i) in &rows.scratch {
            if width <= PREFIX_WORDS {
                rows.keys.extend_from_slice(&prefix[..width]);
            } else {
                rows.keys
                    .extend_from_slice(Self::key_at(&self.entries, self.stride, width, *i));
            }
            rows.counters.push(self.counters_at(*i));
        }
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
}
