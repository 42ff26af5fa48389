//! The aggregates of outputs still open: a bin's file (print) or a bin's points (InfluxDB)
//! rewritten whole at each purge, from every row counted for it so far.
//!
//! Promises: an open unit's rows are the sum of every purge merged into it, one row per key,
//! so rewriting the unit from them never loses what an earlier purge wrote. A unit closes when
//! the data clock is [`LATE_GRACE_SECS`] past the end of its newest bin (or, without bins, at
//! the end of its period), or, oldest first, when the open units hold more than their bound of
//! rows; rows that arrive for a closed unit are reported as late, to be added to the output
//! as they are (appended rows of one key then add up). Memory: the open units' rows, at most
//! the bound, plus the names of the last [`CLOSED_REMEMBERED`] closed units.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use pmacct_core::layout::KeyLayout;
use pmacct_core::table::{AggregateTable, SortedRows};

/// How long past the end of its newest bin a unit stays open for late records: held IP
/// fragments (released at most a minute after their own time), records a busy writer put off,
/// a reordered capture.
pub const LATE_GRACE_SECS: i64 = 300;

/// Rows the open units of one plugin hold at most unless `*_cache_entries` says otherwise.
pub const DEFAULT_MAX_OPEN_ROWS: usize = 2_000_000;

/// Closed units remembered, so that late rows for them are added, not written over them.
pub const CLOSED_REMEMBERED: usize = 65_536;

/// Where a purge's rows for a unit went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merged {
    /// Into the unit's aggregates: write the whole unit ([`OpenBins::take_sorted`]).
    Open,
    /// The unit was closed: these rows are late and must be added to what was written.
    Late,
}

struct OpenUnit {
    rows: AggregateTable,
    newest_bin: i64,
}

/// The open units of one plugin, by name (a file name, a bin).
pub struct OpenBins<U: Ord + Clone + std::hash::Hash> {
    layout: Arc<KeyLayout>,
    open: BTreeMap<U, OpenUnit>,
    closed: HashSet<U>,
    closed_order: VecDeque<U>,
    max_rows: usize,
    scratch: SortedRows,
}

impl<U: Ord + Clone + std::hash::Hash> OpenBins<U> {
    pub fn new(layout: Arc<KeyLayout>, max_rows: usize) -> Self {
        OpenBins {
            layout,
            open: BTreeMap::new(),
            closed: HashSet::new(),
            closed_order: VecDeque::new(),
            max_rows: max_rows.max(1),
            scratch: SortedRows::default(),
        }
    }

    /// Adds rows `range` of a purge to `unit` (opened if new), unless the unit was closed.
    pub fn merge(&mut self, unit: &U, rows: &SortedRows, range: Range<usize>) -> Merged {
        if self.closed.contains(unit) {
            return Merged::Late;
        }
        let open = self.open.entry(unit.clone()).or_insert_with(|| OpenUnit {
            rows: AggregateTable::unbounded(self.layout.clone()),
            newest_bin: i64::MIN,
        });
        for i in range {
            let (key, counters) = rows.packed(i);
            open.rows.add_packed(key, &counters);
            open.newest_bin = open.newest_bin.max(rows.bin(i));
        }
        Merged::Open
    }

    /// Marks `unit` closed without opening it: its rows are late from now on (a file an
    /// earlier run wrote).
    pub fn mark_closed(&mut self, unit: &U) {
        self.open.remove(unit);
        self.remember_closed(unit.clone());
    }

    pub fn is_known(&self, unit: &U) -> bool {
        self.open.contains_key(unit) || self.closed.contains(unit)
    }

    /// The unit's rows in output order (empty if it is not open); hand them back with
    /// [`Self::give_back`] to keep their memory.
    pub fn take_sorted(&mut self, unit: &U) -> SortedRows {
        let mut rows = std::mem::take(&mut self.scratch);
        match self.open.get(unit) {
            Some(open) => open.rows.sort_into(&mut rows),
            None => AggregateTable::unbounded(self.layout.clone()).sort_into(&mut rows),
        }
        rows
    }

    pub fn give_back(&mut self, rows: SortedRows) {
        self.scratch = rows;
    }

    /// Without bins, the end of a period: every unit is complete and forgotten (the next
    /// period starts its files anew).
    pub fn end_period(&mut self) {
        self.open.clear();
    }

    /// Closes the units whose newest bin starts before `closed_before` (with no bins, none by
    /// time), then the oldest units while more rows than the bound are held. Returns how many
    /// closed.
    pub fn close(&mut self, closed_before: Option<i64>) -> usize {
        let done: Vec<U> = self
            .open
            .iter()
            .filter(|(_, o)| closed_before.is_some_and(|b| o.newest_bin < b))
            .map(|(u, _)| u.clone())
            .collect();
        let mut closed = done.len();
        for unit in done {
            self.open.remove(&unit);
            self.remember_closed(unit);
        }
        while self.held_rows() > self.max_rows {
            let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.newest_bin)
                .map(|(u, _)| u.clone())
            else {
                break;
            };
            self.open.remove(&oldest);
            self.remember_closed(oldest);
            closed += 1;
        }
        closed
    }

    /// Rows held by the open units.
    pub fn held_rows(&self) -> usize {
        self.open.values().map(|o| o.rows.len()).sum()
    }

    pub fn open_units(&self) -> usize {
        self.open.len()
    }

    fn remember_closed(&mut self, unit: U) {
        if self.closed.insert(unit.clone()) {
            self.closed_order.push_back(unit);
        }
        while self.closed_order.len() > CLOSED_REMEMBERED {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pmacct_core::key::{Counters, FlowKey};
    use pmacct_core::primitive::Aggregate;

    fn layout() -> Arc<KeyLayout> {
        let aggregate = Aggregate::parse("src_port").expect("aggregate");
        Arc::new(KeyLayout::new(&aggregate, true))
    }

    /// A purge's sorted rows: (bin, src_port, bytes) each.
    fn purge(layout: &Arc<KeyLayout>, rows: &[(i64, u16, u64)]) -> SortedRows {
        let mut t = AggregateTable::unbounded(layout.clone());
        for &(bin, port, bytes) in rows {
            let key = FlowKey {
                src_port: port,
                bin,
                ..Default::default()
            };
            let c = Counters {
                packets: 1,
                bytes,
                flows: 0,
                tcp_flags: 0,
            };
            t.add_packed(&layout.encoded(&key), &c);
        }
        t.sorted_rows()
    }

    fn contents(bins: &mut OpenBins<String>, unit: &str) -> Vec<(u16, u64, u64)> {
        let rows = bins.take_sorted(&unit.to_string());
        let out = (0..rows.len())
            .map(|i| {
                let (k, c) = rows.row(i);
                (k.src_port, c.packets, c.bytes)
            })
            .collect();
        bins.give_back(rows);
        out
    }

    #[test]
    fn purges_of_an_open_unit_add_up_to_one_row_per_key() {
        let l = layout();
        let mut bins: OpenBins<String> = OpenBins::new(l.clone(), 100);
        let a = purge(&l, &[(60, 1, 10), (60, 2, 20)]);
        assert_eq!(bins.merge(&"f".into(), &a, 0..2), Merged::Open);
        let b = purge(&l, &[(60, 2, 5), (60, 3, 7)]);
        assert_eq!(bins.merge(&"f".into(), &b, 0..2), Merged::Open);
        assert_eq!(
            contents(&mut bins, "f"),
            vec![(1, 1, 10), (2, 2, 25), (3, 1, 7)]
        );
    }

    #[test]
    fn a_unit_closes_past_its_newest_bin_and_later_rows_are_late() {
        let l = layout();
        let mut bins: OpenBins<String> = OpenBins::new(l.clone(), 100);
        let a = purge(&l, &[(60, 1, 10), (120, 2, 20)]);
        bins.merge(&"a".into(), &a, 0..1);
        bins.merge(&"b".into(), &a, 1..2);
        assert_eq!(bins.close(Some(60)), 0, "bin 60 is still open");
        assert_eq!(bins.close(Some(61)), 1, "a closes, b stays");
        assert_eq!(bins.open_units(), 1);
        assert_eq!(bins.merge(&"a".into(), &a, 0..1), Merged::Late);
        assert_eq!(bins.merge(&"b".into(), &a, 1..2), Merged::Open);
        assert_eq!(contents(&mut bins, "b"), vec![(2, 2, 40)]);
        bins.end_period();
        assert!(contents(&mut bins, "b").is_empty());
        assert_eq!(
            bins.merge(&"b".into(), &a, 1..2),
            Merged::Open,
            "a new period"
        );
    }

    #[test]
    fn past_the_bound_the_oldest_unit_closes_first() {
        let l = layout();
        let mut bins: OpenBins<String> = OpenBins::new(l.clone(), 3);
        let a = purge(&l, &[(60, 1, 1), (60, 2, 1), (120, 1, 1), (120, 2, 1)]);
        bins.merge(&"old".into(), &a, 0..2);
        bins.merge(&"new".into(), &a, 2..4);
        assert_eq!(bins.held_rows(), 4);
        assert_eq!(bins.close(Some(0)), 1);
        assert_eq!(bins.held_rows(), 2);
        // One unit alone past the bound closes too: memory stays bounded.
        let many = purge(&l, &[(120, 3, 1), (120, 4, 1)]);
        bins.merge(&"new".into(), &many, 0..2);
        assert_eq!(bins.close(Some(0)), 1);
        assert_eq!(bins.open_units(), 0);
        assert!(bins.is_known(&"old".into()));
        assert_eq!(bins.merge(&"old".into(), &a, 0..1), Merged::Late);
    }

    #[test]
    fn closed_units_are_remembered_up_to_the_bound() {
        let l = layout();
        let mut bins: OpenBins<u32> = OpenBins::new(l, 10);
        for u in 0..(CLOSED_REMEMBERED as u32 + 10) {
            bins.mark_closed(&u);
        }
        assert!(!bins.is_known(&0));
        assert!(bins.is_known(&(CLOSED_REMEMBERED as u32 + 9)));
        assert_eq!(bins.closed.len(), CLOSED_REMEMBERED);
    }
}
