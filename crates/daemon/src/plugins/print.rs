//! The print plugin: a cache purged every `print_refresh_time` to stdout or files, in
//! formatted, csv or json.
//!
//! Promises: a file is written to a temporary name and renamed, so a reader never sees half of
//! it (append mode writes in place); each time bin goes to the file its name expands to; purges
//! follow the data's clock (packet time for files), so an offline run writes the same files
//! whatever the machine's speed.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use pmacct_core::bins::{expand_time_variables, round_down, BinSpec, Bins, Roundoff};
use pmacct_core::config::{PluginConfig, PrintConfig, PrintFormat};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::{Counters, FlowKey, Record};
use pmacct_core::table::AggregateTable;

use super::trigger::Trigger;
use super::{Now, Plugin, PluginError};

pub struct PrintPlugin {
    label: String,
    options: PrintConfig,
    rows: RowFormat,
    table: AggregateTable,
    spec: Option<BinSpec>,
    bins: Option<Bins>,
    tz: TimeZone,
    roundoff: Roundoff,
    refresh: i64,
    next_purge: Option<i64>,
    trigger: Option<Trigger>,
}

impl PrintPlugin {
    pub fn new(config: &PluginConfig, options: &PrintConfig) -> Self {
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
        PrintPlugin {
            trigger: options
                .trigger_exec
                .as_deref()
                .map(|c| Trigger::new(c, &label)),
            label,
            options: options.clone(),
            rows,
            table: AggregateTable::unbounded(),
            roundoff: config.bins.as_ref().map(|b| b.roundoff).unwrap_or_default(),
            spec: config.bins.clone(),
            bins: None,
            tz,
            refresh: config.refresh_time as i64,
            next_purge: None,
        }
    }

    /// The first purge deadline: the anchor (start with seconds and roundoff fields zeroed)
    /// plus whole refresh periods, strictly after `t`.
    fn schedule_from(&mut self, t: i64) {
        let anchor = match &self.bins {
            Some(b) => b.anchor(),
            None => round_down(t, self.roundoff, &self.tz),
        };
        let k = (t - anchor).div_euclid(self.refresh) + 1;
        self.next_purge = Some(anchor + k * self.refresh);
    }

    fn start_clock(&mut self, t: i64) {
        if let Some(spec) = &self.spec {
            self.bins = Some(spec.anchored_at(t));
        }
        self.schedule_from(t);
    }

    fn maybe_purge(&mut self, t: i64, now: Now) -> Result<(), PluginError> {
        match self.next_purge {
            None => {
                self.start_clock(t);
                Ok(())
            }
            Some(deadline) if t >= deadline => {
                let result = self.purge(now);
                self.schedule_from(t);
                result
            }
            Some(_) => Ok(()),
        }
    }

    fn purge(&mut self, now: Now) -> Result<(), PluginError> {
        let entries = self.table.drain_sorted();
        tracing::info!("( {} ): *** Purging cache - START ***", self.label);
        let started = std::time::Instant::now();
        let total = entries.len();
        let mut written_files = Vec::new();
        let result = self.write(&entries, now, &mut written_files);
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

    fn write(
        &self,
        entries: &[(FlowKey, Counters)],
        now: Now,
        files: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let Some(template) = &self.options.output_file else {
            if entries.is_empty() && !self.options.write_empty_file {
                return Ok(());
            }
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            self.write_block(&mut out, entries, now, true)?;
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
        let mut runs: Vec<(String, usize, usize)> = Vec::new();
        let mut last_bin = None;
        for (i, (k, _)) in entries.iter().enumerate() {
            if last_bin != Some(k.bin) {
                last_bin = Some(k.bin);
                let name = name_of(k.bin);
                if runs.last().is_some_and(|r| r.0 == name) {
                    continue;
                }
                if let Some(r) = runs.last_mut() {
                    r.2 = i;
                }
                runs.push((name, i, entries.len()));
            }
        }
        if runs.is_empty() && self.options.write_empty_file {
            let t = self
                .bins
                .as_ref()
                .map_or(now.data, |b| b.start_of(now.data));
            runs.push((name_of(t), 0, 0));
        }
        for (name, from, to) in runs {
            let path = PathBuf::from(name);
            self.write_file(&path, &entries[from..to], now)?;
            files.push(path);
        }
        if let (Some(latest), Some(newest)) = (&self.options.latest_file, files.iter().max()) {
            point_symlink(latest, newest)?;
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, rows: &[(FlowKey, Counters)], now: Now) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        if self.options.append {
            let new = !path.exists();
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let mut out = BufWriter::new(file);
            self.write_block(&mut out, rows, now, new)?;
            return out.flush();
        }
        let tmp = temp_name(path);
        let file = fs::File::create(&tmp)?;
        let mut out = BufWriter::new(file);
        self.write_block(&mut out, rows, now, true)?;
        out.flush()?;
        drop(out);
        fs::rename(&tmp, path)
    }

    fn write_block(
        &self,
        out: &mut dyn Write,
        rows: &[(FlowKey, Counters)],
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
        for (k, c) in rows {
            self.rows.write_row(out, k, c, Some((k.bin, now.wall)))?;
        }
        if self.options.markers {
            match self.rows.format {
                Format::Json => writeln!(
                    out,
                    "{{\"event_type\": \"purge_close\", \"writer_id\": \"default_print/{pid}\", \"purged_entries\": {}, \"total_entries\": {}, \"duration\": 0}}",
                    rows.len(),
                    rows.len()
                )?,
                _ => writeln!(out, "--END ({pid})--")?,
            }
        }
        Ok(())
    }
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
    fn on_records(&mut self, records: &[Record], now: Now) -> Result<(), PluginError> {
        let mut result = Ok(());
        for r in records {
            if self.next_purge.is_none_or(|d| r.ts >= d) {
                if let Err(e) = self.maybe_purge(
                    r.ts,
                    Now {
                        data: r.ts,
                        wall: now.wall,
                    },
                ) {
                    result = Err(e);
                }
            }
            let mut rec = *r;
            if let Some(b) = &self.bins {
                rec.key.bin = b.start_of(r.ts);
            }
            self.table.add(&rec);
        }
        result
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        if self.next_purge.is_some() {
            return self.maybe_purge(now.data, now);
        }
        Ok(())
    }

    fn shutdown(&mut self, now: Now) -> Result<(), PluginError> {
        if self.table.is_empty() && self.next_purge.is_none() && !self.options.write_empty_file {
            return Ok(());
        }
        self.purge(now)
    }
}
