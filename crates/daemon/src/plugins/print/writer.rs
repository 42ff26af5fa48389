//! Writing purged tables: sorting, formatting, files, the latest-file link and the trigger.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use pmacct_core::bins::expand_time_variables;
use pmacct_core::config::{PluginConfig, PrintConfig, PrintFormat};
use pmacct_core::format::{Format, RowBuffer, RowFormat};
use pmacct_core::table::SortedRows;

use crate::plugins::cache::{Purge, PurgeSink};
use crate::plugins::trigger::Trigger;
use crate::plugins::Now;
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
    /// The dynamic file the last purge wrote last, and the newest bin in it: a later bin whose
    /// name expands to the same file (a local hour repeated when DST ends, or a template coarser
    /// than the bins) is appended to it, not written over it.
    last_file: Option<(String, i64)>,
    /// Files written by early purges (the cache full) since the last regular one: the next
    /// purge appends to them, so a file still holds its whole bin.
    early_files: Vec<String>,
}

impl Writer {
    pub fn new(config: &PluginConfig, options: &PrintConfig, label: &str, tz: TimeZone) -> Self {
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
            last_file: None,
            early_files: Vec::new(),
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
        // Without bins, time variables are the purge's wall-clock time, as pmacct's.
        let name_of = |bin: i64| {
            if dynamic {
                let t = if self.bins { bin } else { now.wall };
                expand_time_variables(template, t, &self.tz)
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
            let t = purge.empty_bin;
            runs.push(FileRun {
                name: name_of(t),
                from: 0,
                to: 0,
                first_bin: t,
                last_bin: t,
            });
        }
        let mut written = Vec::new();
        for run in runs {
            let continues = (dynamic
                && self
                    .last_file
                    .as_ref()
                    .is_some_and(|(name, bin)| *name == run.name && *bin != run.first_bin))
                || self.early_files.contains(&run.name);
            let path = PathBuf::from(&run.name);
            self.write_file(&path, entries, run.from..run.to, now, continues)?;
            files.push(path);
            written.push(run.name.clone());
            self.last_file = Some((run.name, run.last_bin));
        }
        if purge.early {
            self.early_files.extend(written);
        } else {
            self.early_files.clear();
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
        if let Some(dir) = path.parent() {
            process::create_dirs(dir)?;
        }
        if self.options.append || continues {
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
}
