//! The aggregation table: keys to counters, with an optional hard bound on memory.
//!
//! Promises: an existing key always keeps counting; when the bound is reached, records of new
//! keys are not stored but counted in [`AggregateTable::overflow`], so the loss is visible.

use hashbrown::HashMap;

use crate::key::{Counters, FlowKey, Record};

type Map = HashMap<FlowKey, Counters, foldhash::fast::RandomState>;

#[derive(Debug)]
pub struct AggregateTable {
    map: Map,
    max_entries: Option<usize>,
    overflow_records: u64,
    overflow_bytes: u64,
}

/// Bytes one entry occupies in the table (key, counters and hashbrown's control byte).
pub const ENTRY_BYTES: usize = std::mem::size_of::<(FlowKey, Counters)>() + 1;

impl AggregateTable {
    /// A table that grows without bound.
    pub fn unbounded() -> Self {
        AggregateTable {
            map: Map::with_hasher(foldhash::fast::RandomState::default()),
            max_entries: None,
            overflow_records: 0,
            overflow_bytes: 0,
        }
    }

    /// A table whose entry storage never exceeds `bytes`: it is allocated once, at the largest
    /// power-of-two bucket count that fits, and holds at most 7/8 of those buckets.
    pub fn bounded(bytes: u64) -> Self {
        let fit = (bytes / ENTRY_BYTES as u64).max(8);
        let buckets = 1u64 << (63 - fit.leading_zeros());
        let max = (buckets / 8 * 7) as usize;
        AggregateTable {
            map: Map::with_capacity_and_hasher(max, foldhash::fast::RandomState::default()),
            max_entries: Some(max),
            overflow_records: 0,
            overflow_bytes: 0,
        }
    }

    /// Adds a record; returns false when it was not stored because the table is full.
    #[inline]
    pub fn add(&mut self, record: &Record) -> bool {
        if let Some(c) = self.map.get_mut(&record.key) {
            c.add(&record.counters);
            return true;
        }
        if self.max_entries.is_some_and(|max| self.map.len() >= max) {
            self.overflow_records += record.counters.packets;
            self.overflow_bytes += record.counters.bytes;
            return false;
        }
        self.map.insert(record.key, record.counters);
        true
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
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
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Counters)> {
        self.map.iter()
    }
    pub fn get(&self, key: &FlowKey) -> Option<&Counters> {
        self.map.get(key)
    }
    pub fn remove(&mut self, key: &FlowKey) -> Option<Counters> {
        self.map.remove(key)
    }

    /// Entries sorted in output order.
    pub fn sorted(&self) -> Vec<(FlowKey, Counters)> {
        let mut v: Vec<(FlowKey, Counters)> = self.map.iter().map(|(k, c)| (*k, *c)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Removes and returns every entry (sorted), keeping the allocation.
    pub fn drain_sorted(&mut self) -> Vec<(FlowKey, Counters)> {
        let mut v: Vec<(FlowKey, Counters)> = self.map.drain().collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Empties the table and its overflow counters.
    pub fn clear(&mut self) {
        self.map.clear();
        self.overflow_records = 0;
        self.overflow_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut t = AggregateTable::unbounded();
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
        let mut t = AggregateTable::bounded(64 * ENTRY_BYTES as u64);
        assert_eq!(t.max_entries(), Some(56));
        for p in 0..100u16 {
            t.add(&rec(p, 10));
        }
        assert_eq!(t.len(), 56);
        assert_eq!((t.overflow_packets(), t.overflow_bytes()), (44, 440));
        assert!(t.add(&rec(0, 1)));
        assert_eq!(t.get(&rec(0, 0).key).map(|c| c.bytes), Some(11));
    }
}
