//! The `influxdb` plugin: each purge written as InfluxDB line protocol over HTTP (1.x
//! `/write`, 2.x `/api/v2/write`), gzip'd, one point per key and time bin. While the server is
//! unavailable the batches are kept and retried, in order; at exit what could not be sent
//! goes to the spool file, sent first at the next start (docs/influxdb.md).

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use pmacct_core::config::{InfluxConfig, PluginConfig};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::table::SortedRows;

use super::cache::{Purge, PurgeSink, PurgingCache};
use super::open_bins::{Merged, OpenBins, CLOSED_REMEMBERED, DEFAULT_MAX_OPEN_ROWS};
use super::{Clock, PluginError};

/// Batches kept in memory beyond this go to the spool file.
const MAX_PENDING_BYTES: usize = 64 << 20;
const RETRY_EVERY: Duration = Duration::from_secs(2);

pub struct InfluxSink {
    label: String,
    cfg: InfluxConfig,
    /// Line protocol (the print plugin's `influx` format, with this plugin's measurement).
    format: RowFormat,
    /// Line-protocol batches not yet accepted, oldest first.
    pending: VecDeque<String>,
    pending_bytes: usize,
    /// The spool file's contents are the first pending batch: remove the file once it is sent.
    spool_loaded: bool,
    /// The last failure logged (a failure is logged once per change of state).
    failing: Option<String>,
    /// With bins: the bins still open, with every row counted for them so far.
    open: Option<OpenBins<i64>>,
    /// Late writes so far per closed bin.
    late_writes: BTreeMap<i64, i64>,
}

impl InfluxSink {
    fn new(config: &PluginConfig, cfg: &InfluxConfig) -> InfluxSink {
        let mut format = RowFormat::new(Format::Influx, config.aggregate.columns.iter().copied());
        format.num_protos = config.num_protos;
        format.measurement = cfg.measurement.clone();
        // Points carry their bin's start, else the purge's time.
        format.stamps = config.bins.is_some();
        let mut sink = InfluxSink {
            label: format!("{}/{}", config.name, config.kind),
            cfg: cfg.clone(),
            format,
            pending: VecDeque::new(),
            pending_bytes: 0,
            spool_loaded: false,
            failing: None,
            open: config
                .bins
                .is_some()
                .then(|| OpenBins::new(Arc::new(config.key_layout()), DEFAULT_MAX_OPEN_ROWS)),
            late_writes: BTreeMap::new(),
        };
        if let Ok(text) = std::fs::read_to_string(&cfg.spool) {
            if !text.is_empty() {
                tracing::info!(
                    "( {} ): spool file '{}' holds {} points from an earlier run: sending them first",
                    sink.label,
                    cfg.spool.display(),
                    text.lines().count()
                );
                sink.pending_bytes += text.len();
                sink.pending.push_back(text);
                sink.spool_loaded = true;
            }
        }
        sink
    }

    /// One purge as line protocol. With bins, a bin still open is written whole (every row
    /// counted for it so far: InfluxDB replaces a point of the same series and time, so a
    /// bin's later refresh or late records must carry the sums); rows for a bin already closed
    /// go in as points one second further into the bin each time, which `sum()` over the bin
    /// adds up.
    fn lines(&mut self, purge: &Purge) -> String {
        let rows = purge.table.sorted_rows();
        let mut out = String::with_capacity(rows.len() * 96);
        let now = purge.now.data;
        let Some(mut open) = self.open.take() else {
            push_rows(&self.format, &mut out, &rows, 0..rows.len(), now, 0);
            return out;
        };
        let mut from = 0;
        while from < rows.len() {
            let bin = rows.bin(from);
            let to = (from..rows.len())
                .find(|&i| rows.bin(i) != bin)
                .unwrap_or(rows.len());
            match open.merge(&bin, &rows, from..to) {
                Merged::Open => {
                    let whole = open.take_sorted(&bin);
                    push_rows(&self.format, &mut out, &whole, 0..whole.len(), now, 0);
                    open.give_back(whole);
                }
                Merged::Late => {
                    let shift = self.late_shift(bin);
                    tracing::info!(
                        "( {} ): {} points for the bin at {bin} came after it was closed: written {shift} s into it",
                        self.label,
                        to - from
                    );
                    push_rows(&self.format, &mut out, &rows, from..to, now, shift);
                }
            }
            from = to;
        }
        open.close(purge.closed_before);
        self.open = Some(open);
        out
    }

    /// Seconds into a closed bin its next late points go: 1, 2, ... for each late write.
    fn late_shift(&mut self, bin: i64) -> i64 {
        let n = self.late_writes.entry(bin).or_insert(0);
        *n += 1;
        let shift = *n;
        while self.late_writes.len() > CLOSED_REMEMBERED {
            self.late_writes.pop_first();
        }
        shift
    }

    fn send(&self, batch: &str) -> Result<(), (bool, String)> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let body = gz
            .write_all(batch.as_bytes())
            .and_then(|()| gz.finish())
            .map_err(|e| (true, e.to_string()))?;
        let mut headers = vec![
            ("Content-Type", "text/plain; charset=utf-8".to_string()),
            ("Content-Encoding", "gzip".to_string()),
        ];
        if let Some(a) = &self.cfg.authorization {
            headers.push(("Authorization", a.clone()));
        }
        match crate::http::post(&self.cfg.write_url, &headers, &body) {
            Ok((200..=299, _)) => Ok(()),
            // The points themselves are refused: retrying cannot help.
            Ok((400, text)) => Err((false, format!("refused the points (400): {}", text.trim()))),
            Ok((code @ (401 | 403), _)) => Err((
                true,
                format!("answered {code}: check influxdb_user/influxdb_password or influxdb_token"),
            )),
            Ok((code, text)) => Err((true, format!("answered {code}: {}", text.trim()))),
            Err(e) => Err((true, e)),
        }
    }

    /// Sends what is pending, oldest first, until one fails.
    fn flush(&mut self) {
        while let Some(batch) = self.pending.front() {
            match self.send(batch) {
                Ok(()) => {
                    if self.failing.take().is_some() {
                        tracing::info!("( {} ): InfluxDB accepts writes again", self.label);
                    }
                    if let Some(b) = self.pending.pop_front() {
                        self.pending_bytes -= b.len();
                    }
                    if std::mem::take(&mut self.spool_loaded) {
                        let _ = std::fs::remove_file(&self.cfg.spool);
                    }
                }
                Err((false, e)) => {
                    tracing::error!(
                        "( {} ): {}: {e}; batch dropped",
                        self.label,
                        self.cfg.write_url
                    );
                    if let Some(b) = self.pending.pop_front() {
                        self.pending_bytes -= b.len();
                    }
                }
                Err((true, e)) => {
                    if self.failing.as_deref() != Some(e.as_str()) {
                        tracing::error!(
                            "( {} ): {}: {e}; {} points kept, retried every {} s",
                            self.label,
                            self.cfg.write_url,
                            self.pending
                                .iter()
                                .map(|b| b.lines().count())
                                .sum::<usize>(),
                            RETRY_EVERY.as_secs()
                        );
                        self.failing = Some(e);
                    }
                    break;
                }
            }
        }
        while self.pending_bytes > MAX_PENDING_BYTES && self.pending.len() > 1 {
            if let Some(b) = self.pending.pop_back() {
                self.pending_bytes -= b.len();
                self.spool(&b);
            }
        }
    }

    fn spool(&self, batch: &str) {
        if let Some(dir) = self.cfg.spool.parent() {
            let _ = crate::process::create_dirs(dir);
        }
        let new = !self.cfg.spool.exists();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.spool)
            .and_then(|mut f| f.write_all(batch.as_bytes()));
        if new {
            crate::process::own(&self.cfg.spool);
        }
        if let Err(e) = written {
            tracing::error!(
                "( {} ): cannot write the spool file '{}': {e}; {} points lost",
                self.label,
                self.cfg.spool.display(),
                batch.lines().count()
            );
        }
    }
}

impl PurgeSink for InfluxSink {
    /// InfluxDB keeps the last point of a series and time: a bin written in parts would keep
    /// only its last part.
    fn takes_early_purges(&self) -> bool {
        false
    }
    fn write(&mut self, purge: &mut Purge) {
        tracing::info!("( {} ): *** Purging cache - START ***", self.label);
        let lines = self.lines(purge);
        let points = purge.table.len();
        if !lines.is_empty() {
            self.pending_bytes += lines.len();
            self.pending.push_back(lines);
        }
        self.flush();
        tracing::info!(
            "( {} ): *** Purging cache - END (QN: {points}/{points}, ET: 0) ***",
            self.label
        );
    }

    fn wake_in(&self) -> Option<Duration> {
        (!self.pending.is_empty()).then_some(RETRY_EVERY)
    }

    fn tick(&mut self) {
        self.flush();
    }

    fn finish(&mut self) {
        self.flush();
        if self.pending.is_empty() {
            return;
        }
        // The spool file already holds the first batch when it was loaded from it.
        let skip = usize::from(self.spool_loaded);
        let batches: Vec<String> = self.pending.drain(..).skip(skip).collect();
        let points: usize = batches.iter().map(|b| b.lines().count()).sum();
        for b in &batches {
            self.spool(b);
        }
        tracing::warn!(
            "( {} ): InfluxDB unavailable at exit: {points} points kept in '{}', written at the next start",
            self.label,
            self.cfg.spool.display()
        );
    }

    fn merges_split_bins(&self) -> bool {
        // A bin written by two purges is written whole the second time (open bins), and
        // without bins each purge is a point of its own time.
        true
    }
}

/// Appends rows `range` as points, each at its bin's start plus `shift` seconds.
fn push_rows(
    format: &RowFormat,
    out: &mut String,
    rows: &SortedRows,
    range: std::ops::Range<usize>,
    now: i64,
    shift: i64,
) {
    for i in range {
        let (key, c) = rows.row(i);
        format.push_row(out, &key, &c, Some((rows.bin(i) + shift, now)));
        out.push('\n');
    }
}

pub fn start(
    config: &PluginConfig,
    cfg: &InfluxConfig,
    clock: Clock,
    stats: std::sync::Arc<crate::stats::PluginStats>,
) -> Result<PurgingCache, PluginError> {
    PurgingCache::new(config, clock, InfluxSink::new(config, cfg), false, stats)
}
