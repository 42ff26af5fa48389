//! The print plugin: a cache purged every `print_refresh_time` to stdout or files, in
//! formatted, csv or json.
//!
//! Promises: a file is written to a temporary name and renamed, so a reader never sees half of
//! it (append mode writes in place); each time bin goes to the file its name expands to; purges
//! follow the data's clock (packet time for files), so an offline run writes the same files
//! whatever the machine's speed.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use pmacct_core::bins::{expand_time_variables, BinLookup, BinSpec, RefreshSchedule};
use pmacct_core::config::{PluginConfig, PrintConfig, PrintFormat};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::RecordBatch;
use pmacct_core::layout::KeyLayout;
use pmacct_core::table::{AggregateTable, SortedRows};

use super::trigger::Trigger;
use super::{Clock, Now, Plugin, PluginError};

pub struct PrintPlugin {
    label: String,
    options: PrintConfig,
    rows: RowFormat,
    table: AggregateTable,
    /// The last purge's rows, kept for their memory.
    purged: SortedRows,
    layout: std::sync::Arc<KeyLayout>,
    spec: Option<BinSpec>,
    bins: Option<BinLookup>,
    tz: TimeZone,
    refresh: i64,
    /// Purge on refresh deadlines; off for file input without bins, which is one period.
    scheduled: bool,
    schedule: Option<RefreshSchedule>,
    next_purge: Option<i64>,
    trigger: Option<Trigger>,
    /// The dynamic file the last purge wrote last, and the newest bin in it: a later bin whose
    /// name expands to the same file (a local hour repeated when DST ends, or a template coarser
    /// than the bins) is appended to it, not written over it.
    last_file: Option<(String, i64)>,
}

impl PrintPlugin {
    pub fn new(config: &PluginConfig, options: &PrintConfig, clock: Clock) -> Self {
        let tz = pmacct_core::bins::time_zone(config.timestamps_utc);
        let format = match options.format {
            PrintFormat::Formatted => Format::Formatted,
            PrintFormat::Csv => Format::Csv,
            PrintFormat::Json => Format::Json,
        };
        let mut rows = RowFormat::new(format, config.aggregate.columns.iter().copied());
        rows.separator = options.separator.clone();
        rows.num_protos = config.num_protos;
        rows.tz = tz.clone();
        rows.timestamps_secs = config.timestamps_secs;
        rows.timestamps_since_epoch = config.timestamps_since_epoch;
        rows.stamps = config.bins.is_some();
        let label = format!("{}/{}", config.name, config.kind);
        let layout = std::sync::Arc::new(config.key_layout());
        PrintPlugin {
            trigger: options
                .trigger_exec
                .as_deref()
                .map(|c| Trigger::new(c, &label)),
            label,
            options: options.clone(),
            rows,
            table: AggregateTable::unbounded(layout.clone()),
            purged: SortedRows::default(),
            layout,
            scheduled: clock == Clock::Live || config.bins.is_some(),
            spec: config.bins.clone(),
            bins: None,
            tz,
            refresh: config.refresh_time as i64,
            schedule: None,
            next_purge: None,
            last_file: None,
        }
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
        self.next_purge = Some(schedule.next_after(t));
        self.schedule = Some(schedule);
    }

    /// Purges when `t` has reached the deadline; the next deadline is the first after `t`.
    fn maybe_purge(&mut self, t: i64, now: Now) -> Result<(), PluginError> {
        match (self.next_purge, &self.schedule) {
            (Some(deadline), Some(schedule)) if t >= deadline => {
                self.next_purge = Some(schedule.next_after(t));
                self.purge(now)
            }
            _ => Ok(()),
        }
    }

    fn purge(&mut self, now: Now) -> Result<(), PluginError> {
        tracing::info!("( {} ): *** Purging cache - START ***", self.label);
        let started = std::time::Instant::now();
        let mut entries = std::mem::take(&mut self.purged);
        self.table.sort_into(&mut entries);
        self.table.clear();
        let total = entries.len();
        let mut written_files = Vec::new();
        let result = self.write(&entries, now, &mut written_files);
        self.purged = entries;
        tracing::info!(
            "( {} ): *** Purging cache - END (QN: {}/{}, ET: {}) ***",
            self.label,
            if result.is_ok() { total } else { 0 },
            total,
            started.elapsed().as_secs()
        );
        if let Some(trigger) = &self.trigger {
            if total > 0 || self.options.write_empty_file {
                trigger.fire(&written_files, total);
            }
        }
        result.map_err(|e| PluginError::Io(e.to_string()))
    }

    /// Writes the purged rows to stdout or their files.
    fn write(
        &mut self,
        entries: &SortedRows,
        now: Now,
        files: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let Some(template) = &self.options.output_file else {
            if entries.is_empty() && !self.options.write_empty_file {
                return Ok(());
            }
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            self.write_block(&mut out, entries, 0..entries.len(), now, true)?;
            return out.flush();
        };
        // Rows are sorted by bin first and names only move forward in time, so each file's rows
        // are one contiguous run: write slices, no copy.
        let dynamic = template.contains('%');
        let name_of = |bin: i64| {
            if dynamic {
                expand_time_variables(template, bin, &self.tz)
            } else {
                template.clone()
            }
        };
        let mut runs: Vec<FileRun> = Vec::new();
        let mut last_bin = None;
        for i in 0..entries.len() {
            let bin = entries.bin(i);
            if last_bin != Some(bin) {
                last_bin = Some(bin);
                let name = name_of(bin);
                if let Some(r) = runs.last_mut() {
                    if r.name == name {
                        r.last_bin = bin;
                        continue;
                    }
                    r.to = i;
                }
                runs.push(FileRun {
                    name,
                    from: i,
                    to: entries.len(),
                    first_bin: bin,
                    last_bin: bin,
                });
            }
        }
        if runs.is_empty() && self.options.write_empty_file {
            let t = self
                .bins
                .as_ref()
                .map_or(now.data, |b| b.bins().start_of(now.data));
            runs.push(FileRun {
                name: name_of(t),
                from: 0,
                to: 0,
                first_bin: t,
                last_bin: t,
            });
        }
        for run in runs {
            let continues = dynamic
                && self
                    .last_file
                    .as_ref()
                    .is_some_and(|(name, bin)| *name == run.name && *bin != run.first_bin);
            let path = PathBuf::from(&run.name);
            self.write_file(&path, entries, run.from..run.to, now, continues)?;
            files.push(path);
            self.last_file = Some((run.name, run.last_bin));
        }
        if let (Some(latest), Some(newest)) = (&self.options.latest_file, files.iter().max()) {
            point_symlink(latest, newest)?;
        }
        Ok(())
    }

    fn write_file(
        &self,
        path: &Path,
        entries: &SortedRows,
        rows: Range<usize>,
        now: Now,
        continues: bool,
    ) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        if self.options.append || continues {
            let new = !path.exists();
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let mut out = BufWriter::new(file);
            self.write_block(&mut out, entries, rows, now, new)?;
            return out.flush();
        }
        let tmp = temp_name(path);
        let file = fs::File::create(&tmp)?;
        let mut out = BufWriter::new(file);
        self.write_block(&mut out, entries, rows, now, true)?;
        out.flush()?;
        drop(out);
        fs::rename(&tmp, path)
    }

    fn write_block(
        &self,
        out: &mut dyn Write,
        entries: &SortedRows,
        rows: Range<usize>,
        now: Now,
        header: bool,
    ) -> io::Result<()> {
        let pid = std::process::id();
        if self.options.markers {
            match self.rows.format {
                Format::Json => writeln!(
                    out,
                    "{{\"event_type\": \"purge_init\", \"writer_id\": \"default_print/{pid}\"}}"
                )?,
                _ => writeln!(out, "--START ({pid})--")?,
            }
        }
        if header {
            self.rows.write_header(out)?;
        }
        // Rows are formatted into one buffer, handed to the writer 64 KiB at a time.
        let mut buf = String::with_capacity(ROWS_BUFFER + 1024);
        let count = rows.len();
        for i in rows {
            let (k, c) = entries.row(i);
            self.rows
                .push_row(&mut buf, &k, &c, Some((k.bin, now.wall)));
            buf.push('\n');
            if buf.len() >= ROWS_BUFFER {
                out.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        out.write_all(buf.as_bytes())?;
        if self.options.markers {
            match self.rows.format {
                Format::Json => writeln!(
                    out,
                    "{{\"event_type\": \"purge_close\", \"writer_id\": \"default_print/{pid}\", \"purged_entries\": {}, \"total_entries\": {}, \"duration\": 0}}",
                    count,
                    count
                )?,
                _ => writeln!(out, "--END ({pid})--")?,
            }
        }
        Ok(())
    }
}

const ROWS_BUFFER: usize = 64 << 10;

/// The rows of one purge that go to one file.
struct FileRun {
    name: String,
    from: usize,
    to: usize,
    first_bin: i64,
    last_bin: i64,
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Points `link` at `target`, atomically (a new link renamed over the old one).
fn point_symlink(link: &Path, target: &Path) -> io::Result<()> {
    let tmp = temp_name(link);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    fs::rename(&tmp, link)
}

impl Plugin for PrintPlugin {
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError> {
        let mut result = Ok(());
        for (key, meta) in records.iter_mut() {
            if self.schedule.is_none() {
                self.start_clock(meta.ts);
            }
            if self.scheduled && self.next_purge.is_some_and(|d| meta.ts >= d) {
                let at = Now {
                    data: meta.ts,
                    wall: now.wall,
                };
                if let Err(e) = self.maybe_purge(meta.ts, at) {
                    result = Err(e);
                }
            }
            if let Some(b) = &mut self.bins {
                self.layout.set_bin(key, b.start_of(meta.ts));
            }
            self.table.add_packed(key, &meta.counters());
        }
        result
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        if self.scheduled {
            return self.maybe_purge(now.data, now);
        }
        Ok(())
    }

    fn shutdown(&mut self, now: Now) -> Result<(), PluginError> {
        if self.table.is_empty() && self.schedule.is_none() && !self.options.write_empty_file {
            return Ok(());
        }
        self.purge(now)
    }
}
