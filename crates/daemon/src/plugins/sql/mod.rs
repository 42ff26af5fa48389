//! The SQL plugins (sqlite3, pgsql, mysql): one writer core behind the [`Database`] trait, one
//! backend per database.
//!
//! Each purge is written in one transaction: per row an UPDATE adding the counters to the row
//! of the same key and time bin, and an INSERT when there is none (pmacct's semantics;
//! `sql_dont_try_update` skips the UPDATE). Values are bound as parameters; table names, which
//! cannot be, pass [`safe_table_name`] first. A missing table is created from the schema
//! version (or `sql_table_schema`) and that is logged.
//!
//! Promises: nothing counted is lost when the database is down or locked. Rows not written are
//! kept (merged per key and bin) and written, with backoff, as soon as the database takes them;
//! beyond [`KEEP_BYTES`] they go to the spool file, which also keeps them across a restart. The
//! state changes (down, back) are logged once each, and the retries and kept rows are in the
//! plugin's stats.

mod mysql;
mod pgsql;
mod rows;
mod schema;
mod spool;
mod sqlite;

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use pmacct_core::bins::expand_time_variables;
use pmacct_core::config::{safe_table_name, ConfigError, PluginConfig, SqlBackend, SqlConfig};
use pmacct_core::layout::KeyLayout;
use pmacct_core::table::{entry_bytes, AggregateTable, SortedRows};

use super::cache::{Purge, PurgeSink, PurgingCache};
use super::trigger::Trigger;
use super::{wall_now, Clock, PluginError};
use crate::stats::PluginStats;
use rows::{Row, RowMaker, Statements};
use spool::Spool;

/// Memory the kept rows may take before they go to the spool file.
pub const KEEP_BYTES: usize = 64 << 20;
/// Longest wait between two tries while the database is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The database cannot be reached or refused the write: keep the rows and retry.
    #[error("{0}")]
    Down(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: u64,
    pub updated: u64,
}

/// What one write puts in the database: rows grouped by table.
pub trait WriteJob {
    /// The columns of every row, in order.
    fn columns(&self) -> &[schema::Column];
    fn tables(&self) -> usize;
    /// The name of table `t`.
    fn table_name(&self, t: usize) -> &str;
    /// The statements and the rows of table `t`.
    fn table(&self, t: usize) -> (&Statements, Range<usize>);
    fn empty_row(&self) -> Row;
    fn fill(&self, i: usize, row: &mut Row);
    fn dont_try_update(&self) -> bool;
}

/// A database backend.
pub trait Database: Send {
    /// For logs: the backend and where it writes.
    fn describe(&self) -> String;
    fn table_exists(&mut self, table: &str) -> Result<bool, SqlError>;
    /// Runs statements without results (CREATE TABLE).
    fn execute(&mut self, sql: &str) -> Result<(), SqlError>;
    /// Writes the job in one transaction: all of it, or nothing.
    fn write(&mut self, job: &mut dyn WriteJob) -> Result<WriteCounts, SqlError>;
}

/// Checks what can be checked before the first purge: the database file's directory, the
/// schema file. Errors name the setting's file, line and key.
pub fn check(config: &PluginConfig, sql: &SqlConfig) -> Result<(), String> {
    let at = |at: &Option<pmacct_core::config::SettingAt>, key: &str, message: String| {
        let origin = at
            .as_ref()
            .map_or_else(pmacct_core::config::Origin::command_line, |a| {
                a.origin.clone()
            });
        let written = at
            .as_ref()
            .map_or(key.to_string(), |a| a.written_as.clone());
        ConfigError::new(origin, message)
            .key(&written)
            .plugin(Some(&config.name))
            .to_string()
    };
    if sql.backend == SqlBackend::Sqlite3 {
        let dir = Path::new(&sql.db)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(at(
                &sql.db_at,
                "sql_db",
                format!(
                    "directory {} does not exist (create it, or point sql_db elsewhere)",
                    dir.display()
                ),
            ));
        }
    }
    if let Some(schema) = &sql.table_schema {
        if let Err(e) = std::fs::read_to_string(schema) {
            return Err(at(
                &sql.table_schema_at,
                "sql_table_schema",
                format!("cannot read {}: {e}", schema.display()),
            ));
        }
    }
    Ok(())
}

/// Starts an SQL plugin.
pub fn start(
    config: &PluginConfig,
    sql: &SqlConfig,
    clock: Clock,
    stats: Arc<PluginStats>,
) -> Result<PurgingCache, PluginError> {
    check(config, sql).map_err(PluginError::Io)?;
    let writer = SqlWriter::new(config, sql, stats.clone()).map_err(PluginError::Io)?;
    PurgingCache::new(config, clock, writer, false, stats)
}

/// The backend of `sql`, at `host` (the backup host) or where `sql` says; nothing connects
/// until the first write.
fn open(sql: &SqlConfig, host: Option<&str>) -> Box<dyn Database> {
    match sql.backend {
        SqlBackend::Sqlite3 => Box::new(sqlite::Sqlite::new(host.unwrap_or(&sql.db))),
        SqlBackend::Pgsql => Box::new(pgsql::Pgsql::new(sql, host)),
        SqlBackend::Mysql => Box::new(mysql::Mysql::new(sql, host)),
    }
}

/// The writer thread's side of an SQL plugin.
pub struct SqlWriter {
    label: String,
    sql: SqlConfig,
    layout: Arc<KeyLayout>,
    maker: RowMaker,
    tz: TimeZone,
    refresh: i64,
    bin_len: Option<i64>,
    /// Primary, then the backup host.
    databases: Vec<Box<dyn Database>>,
    /// Tables known to exist, per database.
    known: Vec<HashSet<String>>,
    /// Rows not written yet (merged per key and bin); the spool file holds the rest.
    kept: AggregateTable,
    spool: Spool,
    down: bool,
    retries_in_outage: u64,
    backoff: Duration,
    next_try: Option<Instant>,
    stats: Arc<PluginStats>,
    trigger: Option<Trigger>,
    last_trigger: Option<i64>,
    rows: SortedRows,
    /// Names the key layout in the spool file's header.
    spool_layout: String,
    /// The columns of a table this plugin creates: the planned ones, with the time stamps
    /// even without time bins (so history can be switched on later, as in pmacct's schemas).
    create_columns: Vec<schema::Column>,
    /// The static table has been checked (created if missing).
    prepared: bool,
}

impl SqlWriter {
    fn new(
        config: &PluginConfig,
        sql: &SqlConfig,
        stats: Arc<PluginStats>,
    ) -> Result<Self, String> {
        let label = format!("{}/{}", config.name, config.kind);
        let bins = config.bins.is_some();
        let columns = schema::plan(
            &config.aggregate,
            sql.table_version,
            sql.optimize_clauses,
            bins,
            sql.backend,
        )
        .map_err(|e| format!("( {label} ): {e}"))?;
        let create_columns = schema::plan(
            &config.aggregate,
            sql.table_version,
            sql.optimize_clauses,
            true,
            sql.backend,
        )
        .map_err(|e| format!("( {label} ): {e}"))?;
        let chosen: Vec<_> = config.aggregate.columns.iter().copied().collect();
        let mut maker = RowMaker::new(columns, &chosen, sql.backend);
        let tz = pmacct_core::bins::time_zone(config.timestamps_utc);
        maker.num_protos = config.num_protos;
        maker.tz = tz.clone();
        maker.epoch_stamps = config.timestamps_since_epoch;
        let layout = Arc::new(config.key_layout());
        let mut databases = vec![open(sql, None)];
        if let Some(backup) = &sql.backup_host {
            databases.push(open(sql, Some(backup)));
        }
        let names: Vec<&str> = config.aggregate.columns.iter().map(|p| p.name()).collect();
        let spool_layout = format!("{}{}", names.join(","), if bins { "+bin" } else { "" });
        let spool = Spool::new(sql.spool_file.clone(), spool_layout.clone(), layout.words());
        let mut writer = SqlWriter {
            known: vec![HashSet::new(); databases.len()],
            databases,
            kept: AggregateTable::unbounded(layout.clone()),
            layout,
            maker,
            tz,
            refresh: config.refresh_time as i64,
            bin_len: config.bins.as_ref().and_then(|b| b.history.seconds()),
            spool,
            down: false,
            retries_in_outage: 0,
            backoff: Duration::from_secs(1),
            next_try: None,
            stats,
            trigger: sql
                .trigger_exec
                .as_deref()
                .map(|c| Trigger::new(c, &label, &config.trigger)),
            last_trigger: None,
            rows: SortedRows::default(),
            spool_layout,
            create_columns,
            prepared: false,
            label,
            sql: sql.clone(),
        };
        // A table whose name has no time variables is created at once, so queries work before
        // the first purge (on the writer thread, which never holds up capture).
        writer.next_try = (!sql.table.contains('%')).then(Instant::now);
        if writer.spool.exists() {
            tracing::info!(
                "( {} ): {} holds rows kept from an earlier run; writing them first",
                writer.label,
                writer.spool.path().display()
            );
            writer.next_try = Some(Instant::now());
        }
        Ok(writer)
    }

    fn table_name(&self, bin: i64) -> String {
        if self.sql.table.contains('%') {
            expand_time_variables(&self.sql.table, bin, &self.tz)
        } else {
            self.sql.table.clone()
        }
    }

    /// Creates the table when it does not exist.
    fn ensure_table(&mut self, db: usize, table: &str, bin: i64) -> Result<(), SqlError> {
        if self.known[db].contains(table) {
            return Ok(());
        }
        safe_table_name(table).map_err(|e| SqlError::Down(format!("table '{table}': {e}")))?;
        let database = &mut self.databases[db];
        if !database.table_exists(table)? {
            let create = match &self.sql.table_schema {
                Some(file) => {
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        SqlError::Down(format!("cannot read {}: {e}", file.display()))
                    })?;
                    expand_time_variables(&text, bin, &self.tz)
                }
                None => schema::create_table(
                    table,
                    &self.create_columns,
                    self.sql.backend,
                    self.maker.epoch_stamps,
                    self.sql.table_version,
                ),
            };
            database.execute(&create)?;
            tracing::info!(
                "( {} ): created table {table} in {} (schema {})",
                self.label,
                database.describe(),
                match &self.sql.table_schema {
                    Some(f) => f.display().to_string(),
                    None => format!("version {}", self.sql.table_version),
                }
            );
        }
        self.known[db].insert(table.to_string());
        Ok(())
    }

    /// Writes `rows` to the first database that takes them.
    fn write_rows(&mut self, rows: &SortedRows, now: i64) -> Result<WriteCounts, SqlError> {
        let mut runs: Vec<(String, Range<usize>, i64)> = Vec::new();
        let mut last_bin = None;
        for i in 0..rows.len() {
            let bin = rows.bin(i);
            if last_bin == Some(bin) {
                continue;
            }
            last_bin = Some(bin);
            let name = self.table_name(bin);
            match runs.last_mut() {
                Some((n, r, _)) if *n == name => r.end = rows.len(),
                last => {
                    if let Some((_, r, _)) = last {
                        r.end = i;
                    }
                    runs.push((name, i..rows.len(), bin));
                }
            }
        }
        let mut last_error = SqlError::Down("no database".into());
        for db in 0..self.databases.len() {
            let tables: Result<Vec<Statements>, SqlError> = runs
                .iter()
                .map(|(name, _, bin)| {
                    self.ensure_table(db, name, *bin)?;
                    Ok(Statements::new(name, &self.maker))
                })
                .collect();
            let statements = match tables {
                Ok(s) => s,
                Err(e) => {
                    self.known[db].clear();
                    last_error = e;
                    continue;
                }
            };
            let mut job = Job {
                rows,
                layout: &self.layout,
                maker: &self.maker,
                tables: statements
                    .into_iter()
                    .zip(runs.iter().map(|(_, r, _)| r.clone()))
                    .collect(),
                names: runs.iter().map(|(n, _, _)| n.clone()).collect(),
                now,
                dont_try_update: self.sql.dont_try_update,
            };
            match self.databases[db].write(&mut job) {
                Ok(counts) => {
                    if db > 0 {
                        tracing::warn!(
                            "( {} ): wrote {} rows to the backup database {}",
                            self.label,
                            rows.len(),
                            self.databases[db].describe()
                        );
                    }
                    return Ok(counts);
                }
                Err(e) => {
                    self.known[db].clear();
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    /// Tries to write everything kept (memory and spool file) in one write.
    fn flush_kept(&mut self) -> Option<WriteCounts> {
        if self.kept.is_empty() && !self.spool.exists() {
            return Some(WriteCounts::default());
        }
        let fresh = AggregateTable::unbounded(self.layout.clone());
        let mut all = std::mem::replace(&mut self.kept, fresh);
        let from_file = self.spool.exists();
        if from_file {
            if let Err(e) = self.spool.load_into(&mut all) {
                tracing::error!("( {} ): spool: {e}", self.label);
            }
        }
        let mut rows = std::mem::take(&mut self.rows);
        all.sort_into(&mut rows);
        let result = self.write_rows(&rows, wall_now());
        self.rows = rows;
        match result {
            Ok(counts) => {
                if let Err(e) = self.spool.remove() {
                    tracing::error!(
                        "( {} ): cannot remove {}: {e}",
                        self.label,
                        self.spool.path().display()
                    );
                }
                self.back_up(all.len());
                Some(counts)
            }
            Err(e) => {
                self.kept = all;
                if from_file {
                    // The file's rows are in memory now too: the file is rewritten with all.
                    self.spill(true);
                }
                self.failed(&e);
                None
            }
        }
    }

    /// Moves the kept rows to the spool file: appended to it, or replacing it when the kept
    /// rows include the file's (written aside, then renamed over it).
    fn spill(&mut self, replace: bool) {
        let mut rows = std::mem::take(&mut self.rows);
        self.kept.sort_into(&mut rows);
        let result = if replace {
            let target = self.spool.path().to_path_buf();
            let aside = Spool::new(
                target.with_extension("spool.new"),
                self.spool_layout.clone(),
                self.layout.words(),
            );
            aside
                .remove()
                .and_then(|_| aside.append(&rows))
                .and_then(|n| std::fs::rename(aside.path(), &target).map(|_| n))
        } else {
            self.spool.append(&rows)
        };
        match result {
            Ok(n) => {
                let before = if replace {
                    0
                } else {
                    self.stats.spooled_rows.load(Relaxed)
                };
                self.stats.spooled_rows.store(before + n as u64, Relaxed);
                self.kept.clear();
            }
            Err(e) => tracing::error!(
                "( {} ): cannot write the spool file {}: {e}; the rows stay in memory",
                self.label,
                self.spool.path().display()
            ),
        }
        self.rows = rows;
        self.stats.kept_rows.store(self.kept.len() as u64, Relaxed);
    }

    fn failed(&mut self, e: &SqlError) {
        self.stats.write_retries.fetch_add(1, Relaxed);
        self.retries_in_outage += 1;
        let kept = self.kept.len();
        if !self.down {
            self.down = true;
            tracing::error!(
                "( {} ): PRIMARY '{}' backend trouble: {e}; keeping the rows ({} in memory{}) and retrying",
                self.label,
                self.databases.first().map_or_else(String::new, |d| d.describe()),
                kept,
                if self.spool.exists() {
                    format!(", more in {}", self.spool.path().display())
                } else {
                    String::new()
                }
            );
        }
        if kept * entry_bytes(self.layout.words()) > KEEP_BYTES {
            self.spill(false);
        }
        self.stats.kept_rows.store(self.kept.len() as u64, Relaxed);
        self.next_try = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn back_up(&mut self, written: usize) {
        if self.down {
            tracing::info!(
                "( {} ): database back after {} retries: wrote {written} kept rows",
                self.label,
                self.retries_in_outage
            );
        }
        self.down = false;
        self.retries_in_outage = 0;
        self.backoff = Duration::from_secs(1);
        self.next_try = None;
        self.stats.kept_rows.store(0, Relaxed);
        self.stats.spooled_rows.store(0, Relaxed);
    }

    fn fire_trigger(&mut self, purge: &Purge, total: usize, counts: WriteCounts, started: Instant) {
        let Some(trigger) = &self.trigger else {
            return;
        };
        let now = purge.now.data;
        if let (Some(every), Some(last)) = (self.sql.trigger_every, self.last_trigger) {
            if now < last + every {
                return;
            }
        }
        self.last_trigger = Some(now);
        let basetime = self.rows_latest_bin().unwrap_or(purge.empty_bin);
        let env = [
            ("SQL_DB", self.sql.db.clone()),
            ("SQL_TABLE", self.sql.table.clone()),
            ("EFFECTIVE_SQL_TABLE", self.table_name(basetime)),
            ("SQL_HOST", self.sql.host.clone()),
            ("SQL_USER", self.sql.user.clone()),
            ("SQL_REFRESH_TIME", self.refresh.to_string()),
            ("SAMPLING_RATE", "1".into()),
            (
                "SQL_RECOVERY_BACKUP_HOST",
                self.sql.backup_host.clone().unwrap_or_default(),
            ),
            ("TOTAL_ELEM_NUMBER", total.to_string()),
            (
                "EFFECTIVE_ELEM_NUMBER",
                (counts.inserted + counts.updated).to_string(),
            ),
            ("INSERT_QUERIES_NUMBER", counts.inserted.to_string()),
            ("UPDATE_QUERIES_NUMBER", counts.updated.to_string()),
            ("ELAPSED_TIME", started.elapsed().as_secs().to_string()),
            ("SQL_HISTORY_BASETIME", basetime.to_string()),
            (
                "SQL_HISTORY_TIMESLOT",
                self.bin_len.unwrap_or(0).to_string(),
            ),
            ("SQL_MAX_WRITERS", "1".into()),
            ("SQL_ACTIVE_WRITERS", "1".into()),
        ];
        trigger.fire_env(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        );
    }

    fn keep(&mut self, rows: &SortedRows) {
        for i in 0..rows.len() {
            let (key, c) = rows.packed(i);
            self.kept.add_packed(key, &c);
        }
    }

    fn rows_latest_bin(&self) -> Option<i64> {
        (!self.rows.is_empty()).then(|| self.rows.bin(self.rows.len() - 1))
    }
}

impl PurgeSink for SqlWriter {
    fn write(&mut self, purge: &mut Purge) {
        tracing::info!("( {} ): *** Purging cache - START ***", self.label);
        let started = Instant::now();
        let total = purge.table.len();
        let mut counts = WriteCounts::default();
        let mut rows = std::mem::take(&mut self.rows);
        purge.table.sort_into(&mut rows);
        let waiting = self.next_try.is_some_and(|t| t > Instant::now());
        if waiting {
            // The database is down and the next try is not due: keep the rows.
            self.keep(&rows);
            self.rows = rows;
            self.stats.kept_rows.store(self.kept.len() as u64, Relaxed);
            if self.kept.len() * entry_bytes(self.layout.words()) > KEEP_BYTES {
                self.spill(false);
            }
        } else if self.kept.is_empty() && !self.spool.exists() {
            match self.write_rows(&rows, purge.now.wall) {
                Ok(c) => counts = c,
                Err(e) => {
                    self.keep(&rows);
                    self.failed(&e);
                }
            }
            self.rows = rows;
        } else {
            // Rows kept from earlier purges go in the same write as this one.
            self.keep(&rows);
            self.rows = rows;
            counts = self.flush_kept().unwrap_or_default();
        }
        tracing::info!(
            "( {} ): *** Purging cache - END (QN: {}/{}, ET: {}) ***",
            self.label,
            counts.inserted + counts.updated,
            total,
            started.elapsed().as_secs()
        );
        self.fire_trigger(purge, total, counts, started);
    }

    fn merges_split_bins(&self) -> bool {
        // Without UPDATE, a bin in two purges would be two rows.
        !self.sql.dont_try_update
    }

    fn wake_in(&self) -> Option<Duration> {
        self.next_try
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    fn tick(&mut self) {
        if self.next_try.is_some_and(|t| t <= Instant::now()) {
            self.next_try = None;
            if !self.prepare_table() {
                return;
            }
            self.flush_kept();
        }
    }

    fn finish(&mut self) {
        // A short input can end before the writer's first tick: the table is still made.
        self.prepare_table();
        self.flush_at_exit();
        if let Some(t) = &self.trigger {
            t.wait();
        }
    }
}

impl SqlWriter {
    /// Creates the table once, when its name has no time variables (so queries work before
    /// the first purge, and on an input that had no rows); false when the database refused.
    fn prepare_table(&mut self) -> bool {
        if self.prepared || self.sql.table.contains('%') {
            return true;
        }
        let table = self.sql.table.clone();
        match self.ensure_table(0, &table, wall_now()) {
            Ok(()) => self.prepared = true,
            Err(e) => self.failed(&e),
        }
        self.prepared
    }

    /// The last try before the plugin stops; what the database still does not take goes to
    /// the spool file.
    fn flush_at_exit(&mut self) {
        if self.kept.is_empty() && !self.spool.exists() {
            return;
        }
        if self.flush_kept().is_none() {
            if !self.kept.is_empty() {
                self.spill(false);
            }
            tracing::error!(
                "( {} ): the database still does not take the rows: {} rows are kept in {} and will be written on the next start",
                self.label,
                self.stats.spooled_rows.load(Relaxed),
                self.spool.path().display()
            );
        }
    }
}

/// One write: sorted rows cut into runs per table.
struct Job<'a> {
    rows: &'a SortedRows,
    layout: &'a KeyLayout,
    maker: &'a RowMaker,
    tables: Vec<(Statements, Range<usize>)>,
    names: Vec<String>,
    now: i64,
    dont_try_update: bool,
}

impl WriteJob for Job<'_> {
    fn columns(&self) -> &[schema::Column] {
        self.maker.columns()
    }
    fn tables(&self) -> usize {
        self.tables.len()
    }
    fn table_name(&self, t: usize) -> &str {
        &self.names[t]
    }
    fn table(&self, t: usize) -> (&Statements, Range<usize>) {
        let (s, r) = &self.tables[t];
        (s, r.clone())
    }
    fn empty_row(&self) -> Row {
        self.maker.empty_row()
    }
    fn fill(&self, i: usize, row: &mut Row) {
        let (words, c) = self.rows.packed(i);
        self.maker.fill(row, &self.layout.view(words), &c, self.now);
    }
    fn dont_try_update(&self) -> bool {
        self.dont_try_update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer stops before its first tick (a short input whose plugin finished first, soak
    /// run 19): the table is still created.
    #[test]
    fn a_writer_stopped_before_its_first_tick_still_creates_the_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let text = format!(
            "plugins: sqlite3[foo]\naggregate[foo]: src_host\nsql_db[foo]: {}\nsql_table[foo]: acct\n",
            db.display()
        );
        let config = pmacct_core::config::load("t.conf", &text, Vec::new(), &mut Vec::new())
            .expect("config");
        let plugin = &config.plugins[0];
        let pmacct_core::config::PluginOptions::Sql(sql) = &plugin.options else {
            panic!("not sql")
        };
        let mut writer =
            SqlWriter::new(plugin, sql, Arc::new(PluginStats::default())).expect("writer");
        writer.finish();
        let conn = rusqlite::Connection::open(&db).expect("db");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM acct", [], |r| r.get(0))
            .expect("the table");
        assert_eq!(rows, 0);
    }
}
