//! The sqlite3 backend: bundled SQLite, WAL journal (readers never block the writer, nor the
//! writer them), a busy timeout, one IMMEDIATE transaction per write.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::rows::{Row, Statement, Value};
use super::{Database, SqlError, WriteCounts, WriteJob};

/// How long a write waits for another process's lock before the database counts as down.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Sqlite {
    path: PathBuf,
    conn: Option<Connection>,
}

impl Sqlite {
    pub fn new(path: impl Into<PathBuf>) -> Sqlite {
        Sqlite {
            path: path.into(),
            conn: None,
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, SqlError> {
        if self.conn.is_none() {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let new = !self.path.exists();
            let conn = Connection::open_with_flags(&self.path, flags).map_err(err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
            // WAL: the shell and the usage report read while the daemon writes.
            let _: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(err)?;
            conn.execute_batch("PRAGMA synchronous=NORMAL")
                .map_err(err)?;
            if new {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = self.path.clone().into_os_string();
                    p.push(suffix);
                    if std::path::Path::new(&p).exists() {
                        crate::process::own(std::path::Path::new(&p));
                    }
                }
            }
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| SqlError::Down("no connection".into()))
    }
}

fn err(e: rusqlite::Error) -> SqlError {
    SqlError::Down(e.to_string())
}

fn bind(stmt: &mut rusqlite::Statement<'_>, s: &Statement, row: &Row) -> rusqlite::Result<()> {
    for (n, &col) in s.params.iter().enumerate() {
        match &row.values[col] {
            Value::Int(v) => stmt.raw_bind_parameter(n + 1, v)?,
            Value::Text(t) => stmt.raw_bind_parameter(n + 1, t.as_str())?,
        }
    }
    Ok(())
}

impl Database for Sqlite {
    fn describe(&self) -> String {
        format!("sqlite3 {}", self.path.display())
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, SqlError> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
                [table],
                |r| r.get(0),
            )
            .map_err(err)?;
        Ok(n > 0)
    }

    fn execute(&mut self, sql: &str) -> Result<(), SqlError> {
        self.conn()?.execute_batch(sql).map_err(err)
    }

    fn write(&mut self, job: &mut dyn WriteJob) -> Result<WriteCounts, SqlError> {
        let result = (|| {
            let conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let mut counts = WriteCounts::default();
            let mut row = job.empty_row();
            for t in 0..job.tables() {
                let (statements, rows) = job.table(t);
                let mut update = tx.prepare_cached(&statements.update.sql).map_err(err)?;
                let mut insert = tx.prepare_cached(&statements.insert.sql).map_err(err)?;
                for i in rows {
                    job.fill(i, &mut row);
                    if !job.dont_try_update() {
                        bind(&mut update, &statements.update, &row).map_err(err)?;
                        if update.raw_execute().map_err(err)? > 0 {
                            counts.updated += 1;
                            continue;
                        }
                    }
                    bind(&mut insert, &statements.insert, &row).map_err(err)?;
                    insert.raw_execute().map_err(err)?;
                    counts.inserted += 1;
                }
            }
            tx.commit().map_err(err)?;
            Ok(counts)
        })();
        if result.is_err() {
            // A fresh connection on the next try (the file may have been replaced).
            self.conn = None;
        }
        result
    }
}
