//! Writing purged tables: sorting, formatting, files, the latest-file link and the trigger.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::tz::TimeZone;
use pmacct_core::bins::expand_time_variables;
use pmacct_core::config::{PluginConfig, PrintConfig, PrintFormat};
use pmacct_core::format::{Format, RowBuffer, RowFormat};
use pmacct_core::table::SortedRows;

use crate::plugins::cache::{Purge, PurgeSink};
use crate::plugins::open_bins::{Merged, OpenBins, DEFAULT_MAX_OPEN_ROWS};
use crate::plugins::trigger::Trigger;
use crate::plugins::{Clock, Now};
use crate::process;

/// The print plugin's output side: sorts each purged table and writes it to stdout or files,
/// then fires the trigger.
pub struct Writer {
    label: String,
    options: PrintConfig,
    rows: RowFormat,
    /// The last purge's rows, kept for their memory.
    purged: SortedRows,
    tz: TimeZone,
    trigger: Option<Trigger>,
    /// The plugin has time bins (`print_history`).
    bins: bool,
    /// The files still open, with every row counted for them so far: a purge adds to them and
    /// rewrites the file whole (a later refresh of a bin, a late record, a local hour repeated
    /// when DST ends, a template coarser than the bins, an early purge).
    open: OpenBins<String>,
    /// Capturing live (a file left by an earlier run is added to, not written over).
    live: bool,
    /// Rows appended to files already closed.
    late_rows: u64,
}

impl Writer {
    pub fn new(
        config: &PluginConfig,
        options: &PrintConfig,
        label: &str,
        tz: TimeZone,
        clock: Clock,
    ) -> Self {
        let format = match options.format {
            PrintFormat::Formatted => Format::Formatted,
            PrintFormat::Csv => Format::Csv,
            PrintFormat::Json => Format::Json,
            PrintFormat::Influx => Format::Influx,
        };
        let mut rows = RowFormat::new(format, config.aggregate.columns.iter().copied());
        rows.separator = options.separator.clone();
        rows.num_protos = config.num_protos;
        rows.tz = tz.clone();
        rows.timestamps_secs = config.timestamps_secs;
        rows.timestamps_since_epoch = config.timestamps_since_epoch;
        rows.stamps = config.bins.is_some();
        Writer {
            trigger: options
                .trigger_exec
                .as_deref()
                .map(|c| Trigger::new(c, label, &config.trigger)),
            label: label.to_string(),
            bins: config.bins.is_some(),
            options: options.clone(),
            rows,
            purged: SortedRows::default(),
            tz,
            open: OpenBins::new(Arc::new(config.key_layout()), max_open_rows(config)),
            live: clock == Clock::Live,
            late_rows: 0,
        }
    }

    fn purge(&mut self, purge: &mut Purge) -> io::Result<()> {
        tracing::info!("( {} ): *** Purging cache - START ***", self.label);
        let started = std::time::Instant::now();
        let mut entries = std::mem::take(&mut self.purged);
        purge.table.sort_into(&mut entries);
        let total = entries.len();
        let mut written_files = Vec::new();
        let result = self.write(&entries, purge, &mut written_files);
        self.purged = entries;
        tracing::info!(
            "( {} ): *** Purging cache - END (QN: {}/{}, ET: {}) ***",
            self.label,
            if result.is_ok() { total } else { 0 },
            total,
            started.elapsed().as_secs()
        );
        if let Some(trigger) = &self.trigger {
            if total > 0 || self.options.write_empty_file || self.options.trigger_on_empty {
                // Rows are sorted by bin first: the last row's is the newest.
                let bin = match (self.bins, total) {
                    (false, _) => None,
                    (true, 0) => Some(purge.empty_bin),
                    (true, n) => Some(self.purged.bin(n - 1)),
                };
                trigger.fire(&written_files, total, bin);
            }
        }
        result
    }

    /// Writes the purged rows to stdout or their files.
    fn write(
        &mut self,
        entries: &SortedRows,
        purge: &Purge,
        files: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let now = purge.now;
        let Some(template) = self.options.output_file.clone() else {
            if entries.is_empty() && !self.options.write_empty_file {
                return Ok(());
            }
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            self.write_block(&mut out, entries, 0..entries.len(), now, true)?;
            return out.flush();
        };
        let mut result = Ok(());
        // Without bins, or to a file whose name names no bin (no time variables: it holds the
        // last purge, as pmacct's, and trigger scripts read it so), a regular purge ends the
        // period: its files are complete.
        let per_purge = !self.bins || !template.contains('%');
        let period_ends = per_purge && !purge.early;
        for run in self.file_runs(&template, entries, purge) {
            let path = PathBuf::from(&run.name);
            if let Err(e) = self.write_run(&path, &run, entries, now, (per_purge, period_ends)) {
                result = Err(e);
                continue;
            }
            files.push(path);
        }
        if !per_purge {
            self.open.close(purge.closed_before);
        } else if period_ends {
            self.open.end_period();
        }
        result?;
        if let (Some(latest), Some(newest)) = (&self.options.latest_file, files.iter().max()) {
            point_symlink(latest, newest)?;
        }
        Ok(())
    }

    /// The purge cut into the runs of rows that go to one file each. Rows are sorted by bin
    /// first and names only move forward in time, so each file's rows are one contiguous run.
    fn file_runs(&self, template: &str, entries: &SortedRows, purge: &Purge) -> Vec<FileRun> {
        let dynamic = template.contains('%');
        // Without bins, time variables are the purge's wall-clock time, as pmacct's.
        let name_of = |bin: i64| {
            if dynamic {
                let t = if self.bins { bin } else { purge.now.wall };
                expand_time_variables(template, t, &self.tz)
            } else {
                template.to_string()
            }
        };
        let mut runs: Vec<FileRun> = Vec::new();
        let mut last_bin = None;
        for i in 0..entries.len() {
            let bin = entries.bin(i);
            if last_bin == Some(bin) {
                continue;
            }
            last_bin = Some(bin);
            let name = name_of(bin);
            if let Some(r) = runs.last_mut() {
                if r.name == name {
                    continue;
                }
                r.to = i;
            }
            runs.push(FileRun {
                name,
                from: i,
                to: entries.len(),
            });
        }
        if runs.is_empty() && self.options.write_empty_file {
            runs.push(FileRun {
                name: name_of(purge.empty_bin),
                from: 0,
                to: 0,
            });
        }
        runs
    }

    /// Writes one file's rows. Append mode appends them (pmacct's way); otherwise they are
    /// added to the file's open aggregates and the whole file rewritten, so it holds every row
    /// of its bins counted so far, one per key. Rows for a file already closed are appended
    /// (their keys then add up); so are a live run's first rows for a file an earlier run left.
    /// `(per_purge, period_ends)`: the file holds one purge (no bins, or no time variables in
    /// its name), and this purge ends it (a file not open is written from the purge as it is).
    fn write_run(
        &mut self,
        path: &Path,
        run: &FileRun,
        entries: &SortedRows,
        now: Now,
        (per_purge, period_ends): (bool, bool),
    ) -> io::Result<()> {
        let rows = run.from..run.to;
        if self.options.append {
            return self.write_file(path, entries, rows, now, true);
        }
        if period_ends && !self.open.is_known(&run.name) {
            return self.write_file(path, entries, rows, now, false);
        }
        if !per_purge && self.live && !self.open.is_known(&run.name) && path.exists() {
            tracing::info!(
                "( {} ): '{}' exists (an earlier run?): this run's rows are appended to it",
                self.label,
                run.name
            );
            self.open.mark_closed(&run.name);
        }
        match self.open.merge(&run.name, entries, rows.clone()) {
            Merged::Late => {
                if !rows.is_empty() {
                    self.late_rows += rows.len() as u64;
                    tracing::info!(
                        "( {} ): {} rows for '{}' came after it was closed: appended (rows of one key add up; {} late rows so far)",
                        self.label,
                        rows.len(),
                        run.name,
                        self.late_rows
                    );
                }
                self.write_file(path, entries, rows, now, true)
            }
            Merged::Open => {
                let whole = self.open.take_sorted(&run.name);
                let written = self.write_file(path, &whole, 0..whole.len(), now, false);
                self.open.give_back(whole);
                written
            }
        }
    }

    fn write_file(
        &self,
        path: &Path,
        entries: &SortedRows,
        rows: Range<usize>,
        now: Now,
        append: bool,
    ) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            process::create_dirs(dir)?;
        }
        if append {
            let new = !path.exists();
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            if new {
                process::own(path);
            }
            let mut out = BufWriter::new(file);
            self.write_block(&mut out, entries, rows, now, new)?;
            return out.flush();
        }
        let tmp = temp_name(path);
        let file = fs::File::create(&tmp)?;
        process::own(&tmp);
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
        let mut buf = RowBuffer::new(ROWS_BUFFER);
        let count = rows.len();
        for i in rows {
            let Some((k, c)) = entries.view(i) else {
                continue;
            };
            let stamps = Some((k.bin(), now.wall));
            if let Some(long) = self.rows.append_row(&mut buf, &k, &c, stamps) {
                out.write_all(buf.bytes())?;
                buf.clear();
                out.write_all(long.as_bytes())?;
            }
            if buf.full() {
                out.write_all(buf.bytes())?;
                buf.clear();
            }
        }
        out.write_all(buf.bytes())?;
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

/// Rows the open files hold at most: `print_cache_entries` bounds them as it bounds the cache.
fn max_open_rows(config: &PluginConfig) -> usize {
    config.cache_entries.map_or(DEFAULT_MAX_OPEN_ROWS, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    })
}

/// The rows of one purge that go to one file.
struct FileRun {
    name: String,
    from: usize,
    to: usize,
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
    process::own(&tmp);
    fs::rename(&tmp, link)
}

impl PurgeSink for Writer {
    fn write(&mut self, purge: &mut Purge) {
        if let Err(e) = self.purge(purge) {
            tracing::error!("( {} ): {e}", self.label);
        }
    }

    fn finish(&mut self) {
        if let Some(t) = &self.trigger {
            t.wait();
        }
    }

    /// A bin written by two purges is rewritten whole (open files) or, appended, adds up.
    fn merges_split_bins(&self) -> bool {
        true
    }
}
