//! The cache every purging plugin (print, SQL) shares: records are added to a table cut into
//! time bins, and on each refresh deadline the full table goes to the plugin's writer thread
//! (its [`PurgeSink`]), which writes it and gives it back emptied.
//!
//! Promises: a purge never stops counting (new records go into the spare table); at most two
//! tables exist, the one being filled and the one being written (a purge waits while the
//! previous one is written); purges are written in order, and all of them before the plugin
//! stops; deadlines follow the data's clock (packet time for files), so an offline run writes
//! the same purges whatever the machine's speed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use jiff::tz::TimeZone;
use pmacct_core::bins::{BinLookup, BinSpec, RefreshSchedule};
use pmacct_core::config::PluginConfig;
use pmacct_core::key::RecordBatch;
use pmacct_core::layout::KeyLayout;
use pmacct_core::table::AggregateTable;

use super::open_bins::LATE_GRACE_SECS;
use super::{Clock, Now, Plugin, PluginError};

/// A purged table on its way to the writer.
pub struct Purge {
    pub table: AggregateTable,
    pub now: Now,
    /// The bin an empty purge is named after (its file or table name).
    pub empty_bin: i64,
    /// Written early, the cache being full (`*_cache_entries`): the next purge may hold
    /// more rows of the same bins.
    pub early: bool,
    /// With bins: bins starting before this are closed, the data clock being
    /// [`LATE_GRACE_SECS`] past their end (records for them now are late).
    pub closed_before: Option<i64>,
}

/// The output side of a purging plugin, run on its own thread.
pub trait PurgeSink: Send + 'static {
    /// Writes one purge; failures are the sink's to log and keep.
    fn write(&mut self, purge: &mut Purge);
    /// After the last purge, before the plugin stops.
    fn finish(&mut self) {}
    /// When the sink wants [`Self::tick`] called even if no purge comes (a retry).
    fn wake_in(&self) -> Option<std::time::Duration> {
        None
    }
    fn tick(&mut self) {}
    /// Whether a bin written by two purges still ends up right (SQL adds to existing rows;
    /// print and InfluxDB rewrite an open bin whole). Only then may a live capture purge later
    /// than its deadline instead of waiting for a busy writer.
    fn merges_split_bins(&self) -> bool {
        false
    }
    /// Whether a bin may be written in parts by early purges (print appends to the files an
    /// early purge wrote, SQL adds to its rows); InfluxDB would keep only the last part.
    fn takes_early_purges(&self) -> bool {
        true
    }
}

/// The writer thread: purges in the order they come, each table given back emptied.
fn run_writer(
    mut sink: impl PurgeSink,
    purges: Receiver<Purge>,
    give_back: Sender<AggregateTable>,
    unwritten: Arc<AtomicU64>,
    stats: Arc<crate::stats::PluginStats>,
) {
    loop {
        let next = match sink.wake_in() {
            Some(wait) => purges.recv_timeout(wait).map_err(|e| e.is_disconnected()),
            None => purges.recv().map_err(|_| true),
        };
        match next {
            Ok(mut purge) => {
                let started = std::time::Instant::now();
                sink.write(&mut purge);
                stats.record_purge(started.elapsed());
                unwritten.fetch_sub(purge.table.len() as u64, Relaxed);
                purge.table.clear();
                // The plugin keeps one spare; a second is freed.
                let _ = give_back.try_send(purge.table);
            }
            Err(false) => sink.tick(),
            Err(true) => break,
        }
    }
    sink.finish();
}

pub struct PurgingCache {
    table: AggregateTable,
    layout: Arc<KeyLayout>,
    spec: Option<BinSpec>,
    bins: Option<BinLookup>,
    tz: TimeZone,
    refresh: i64,
    startup_delay: i64,
    /// Purge on refresh deadlines; off for file input without bins, which is one period.
    scheduled: bool,
    schedule: Option<RefreshSchedule>,
    next_purge: Option<i64>,
    /// Whether an empty purge still writes (an empty file, a trigger run).
    write_empty: bool,
    /// A purge waits for a busy writer (else it is put off until the writer is idle).
    wait_for_writer: bool,
    /// Purged tables to the writer; `None` once the writer has stopped.
    to_writer: Option<Sender<Purge>>,
    /// Written tables coming back, emptied, to be filled again.
    spare: Receiver<AggregateTable>,
    writer: Option<JoinHandle<()>>,
    /// Aggregates handed to the writer and not yet written.
    unwritten: Arc<AtomicU64>,
    /// `*_cache_entries`: the table is written early once it holds this many.
    max_entries: Option<usize>,
    early_purges: u64,
    label: String,
    /// `nfacctd_pro_rating`: flows cut into their bins.
    pro_rating: bool,
}

impl PurgingCache {
    /// Starts `sink` on the plugin's writer thread. `write_empty`: an empty purge still goes to
    /// the sink at shutdown.
    pub fn new(
        config: &PluginConfig,
        clock: Clock,
        sink: impl PurgeSink,
        write_empty: bool,
        stats: Arc<crate::stats::PluginStats>,
    ) -> Result<Self, PluginError> {
        let tz = pmacct_core::bins::time_zone(config.timestamps_utc);
        let layout = Arc::new(config.key_layout());
        // Reading a file, the plugin always waits (the input waits for it in turn); live, a
        // busy writer (a database timing out) must not stall capture when the sink merges.
        let wait_for_writer = clock == Clock::Packets || !sink.merges_split_bins();
        let label = format!("{}/{}", config.name, config.kind);
        let max_entries = match config.cache_entries {
            Some(n) if sink.takes_early_purges() => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Some(_) => {
                tracing::warn!(
                    "( {label} ): print_cache_entries/sql_cache_entries ignored: this plugin cannot write a time bin in parts"
                );
                None
            }
            None => None,
        };
        let (to_writer, purges) = crossbeam_channel::bounded(0);
        let (give_back, spare) = crossbeam_channel::bounded(1);
        let unwritten = Arc::new(AtomicU64::new(0));
        let counter = unwritten.clone();
        let (nice, who) = (config.proc_priority, config.name.clone());
        let writer = std::thread::Builder::new()
            .name(format!("write-{}", config.name))
            .spawn(move || {
                crate::process::set_plugin_nice(nice, &who);
                run_writer(sink, purges, give_back, counter, stats)
            })
            .map_err(|e| PluginError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(PurgingCache {
            table: AggregateTable::unbounded(layout.clone()),
            layout,
            scheduled: clock == Clock::Live || config.bins.is_some(),
            pro_rating: config.pro_rating,
            spec: config.bins.clone(),
            bins: None,
            tz,
            refresh: config.refresh_time as i64,
            startup_delay: config.startup_delay as i64,
            schedule: None,
            next_purge: None,
            write_empty,
            wait_for_writer,
            to_writer: Some(to_writer),
            spare,
            writer: Some(writer),
            unwritten,
            max_entries,
            early_purges: 0,
            label,
        })
    }

    /// Fixes the bins' anchor and the refresh deadlines from the first instant seen.
    fn start_clock(&mut self, t: i64) {
        if let Some(spec) = &self.spec {
            self.bins = Some(BinLookup::new(spec.anchored_at(t)));
        }
        let schedule = RefreshSchedule::new(
            self.refresh,
            t,
            self.bins.as_ref().map(BinLookup::bins),
            &self.tz,
        );
        // `*_startup_delay` moves the first purge later (spreading the purges of plugins).
        self.next_purge = Some(schedule.next_after(t) + self.startup_delay);
        self.schedule = Some(schedule);
    }

    /// Purges when `t` has reached the deadline; the next deadline is the first after `t`.
    /// False when the purge is due but the writer is busy and the plugin does not wait for
    /// it (the deadline stays, and the next batch or tick tries again).
    fn maybe_purge(&mut self, t: i64, now: Now) -> Result<bool, PluginError> {
        match (self.next_purge, &self.schedule) {
            (Some(deadline), Some(schedule)) if t >= deadline => {
                let next = schedule.next_after(t);
                let handed = self.purge(now, self.wait_for_writer);
                if !matches!(handed, Ok(false)) {
                    self.next_purge = Some(next);
                }
                handed
            }
            _ => Ok(true),
        }
    }

    /// Hands the table to the writer (waiting while it writes the previous one) and goes on
    /// with the one it gave back.
    /// Hands the table over; with `wait` false, only if the writer is idle (returns false and
    /// keeps the table otherwise).
    fn purge(&mut self, now: Now, wait: bool) -> Result<bool, PluginError> {
        self.hand_over(now, wait, false)
    }

    /// Adds records to the table; with `max_entries`, never more than fit (a record adds at
    /// most one entry), writing the table early each time it is full.
    fn add_range(
        &mut self,
        records: &RecordBatch,
        range: std::ops::Range<usize>,
        wall: i64,
    ) -> Result<(), PluginError> {
        let Some(max) = self.max_entries else {
            self.table.add_records(records, range);
            return Ok(());
        };
        let mut at = range.start;
        while at < range.end {
            let room = max.saturating_sub(self.table.len()).max(1);
            let to = (at + room).min(range.end);
            self.table.add_records(records, at..to);
            at = to;
            if self.table.len() >= max {
                let data = records.meta()[to - 1].ts;
                self.purge_full(Now { data, wall })?;
            }
        }
        Ok(())
    }

    /// Writes the full table now, waiting for the writer: the bound holds even when the output
    /// is slow (a full plugin queue then drops and counts records).
    fn purge_full(&mut self, now: Now) -> Result<(), PluginError> {
        self.early_purges += 1;
        if self.early_purges == 1 || self.early_purges.is_multiple_of(100) {
            tracing::warn!(
                "( {} ): cache full ({} aggregates, print_cache_entries/sql_cache_entries): written early ({} times so far)",
                self.label,
                self.table.len(),
                self.early_purges
            );
        }
        self.hand_over(now, true, true).map(|_| ())
    }

    fn hand_over(&mut self, now: Now, wait: bool, early: bool) -> Result<bool, PluginError> {
        let Some(to_writer) = &self.to_writer else {
            return Err(PluginError::Io("the writer thread has stopped".into()));
        };
        let empty = AggregateTable::unbounded(self.layout.clone());
        let table = std::mem::replace(&mut self.table, empty);
        // Names an empty purge's file after its bin.
        let empty_bin = self
            .bins
            .as_ref()
            .map_or(now.data, |b| b.bins().start_of(now.data));
        let closed_before = self
            .bins
            .as_ref()
            .map(|b| b.bins().start_of(now.data.saturating_sub(LATE_GRACE_SECS)));
        let rows = table.len() as u64;
        self.unwritten.fetch_add(rows, Relaxed);
        let purge = Purge {
            table,
            now,
            empty_bin,
            early,
            closed_before,
        };
        let sent = if wait {
            to_writer.send(purge).map_err(|_| ())
        } else {
            match to_writer.try_send(purge) {
                Ok(()) => Ok(()),
                Err(crossbeam_channel::TrySendError::Full(purge)) => {
                    self.unwritten.fetch_sub(rows, Relaxed);
                    self.table = purge.table;
                    return Ok(false);
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(()),
            }
        };
        if sent.is_err() {
            self.to_writer = None;
            return Err(PluginError::Io("the writer thread has stopped".into()));
        }
        // The writer took this table only once idle, after giving the previous one back: fill
        // that one again, its memory already grown to a purge's size.
        if let Ok(spare) = self.spare.try_recv() {
            self.table = spare;
        }
        Ok(true)
    }

    /// Waits until every purge handed over is written.
    fn finish_writing(&mut self) -> Result<(), PluginError> {
        self.to_writer = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(PluginError::Io("the writer thread panicked".into())),
            _ => Ok(()),
        }
    }
}

impl Plugin for PurgingCache {
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError> {
        let Some(first) = records.meta().first().map(|m| m.ts) else {
            return Ok(());
        };
        if self.schedule.is_none() {
            self.start_clock(first);
        }
        if let Some(b) = &mut self.bins {
            records.set_bins(&self.layout, b, self.pro_rating);
        }
        // The records before each purge deadline go to the table being filled, the rest to
        // the next one.
        let mut result = Ok(());
        let mut from = 0;
        while self.scheduled && from < records.len() {
            let Some(deadline) = self.next_purge else {
                break;
            };
            let Some(due) = records.meta()[from..].iter().position(|m| m.ts >= deadline) else {
                break;
            };
            let at = from + due;
            self.add_range(records, from..at, now.wall)?;
            let ts = records.meta()[at].ts;
            let purge_at = Now {
                data: ts,
                wall: now.wall,
            };
            match self.maybe_purge(ts, purge_at) {
                Ok(true) => {}
                // The writer is busy: the rest of the batch goes into this table.
                Ok(false) => {
                    from = at;
                    break;
                }
                Err(e) => result = Err(e),
            }
            from = at;
        }
        self.add_range(records, from..records.len(), now.wall)?;
        result
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        // Live, the refresh deadlines run from the start, not from the first packet: a quiet
        // interface still purges (empty purges, their triggers).
        if self.schedule.is_none() {
            self.start_clock(now.data);
        }
        if self.scheduled {
            return self.maybe_purge(now.data, now).map(|_| ());
        }
        Ok(())
    }

    fn held(&self) -> u64 {
        self.table.len() as u64 + self.unwritten.load(Relaxed)
    }

    fn on_flush(&mut self, now: Now) -> Result<(), PluginError> {
        if self.table.is_empty() {
            return Ok(());
        }
        self.purge(now, true)?;
        // Wait (a while) for the write, so `held` says what readers can see.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.unwritten.load(Relaxed) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }

    fn shutdown(&mut self, now: Now) -> Result<(), PluginError> {
        let skip = self.table.is_empty() && self.schedule.is_none() && !self.write_empty;
        let purged = if skip {
            Ok(())
        } else {
            self.purge(now, true).map(|_| ())
        };
        let finished = self.finish_writing();
        purged.and(finished)
    }
}

impl Drop for PurgingCache {
    fn drop(&mut self) {
        let _ = self.finish_writing();
    }
}
