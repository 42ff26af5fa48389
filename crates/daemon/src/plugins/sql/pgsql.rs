//! The pgsql backend: a pure-Rust client (no libpq). A purge is one transaction: its rows are
//! copied (COPY, one round trip for all of them) into a temporary staging table, then one
//! UPDATE adds them to the rows of the same key and bin and one INSERT adds the others. The
//! result is exactly pmacct's row-by-row UPDATE-then-INSERT (a purge holds each key and bin
//! once), at a fraction of the round trips.

use std::io::Write;
use std::time::Duration;

use pmacct_core::config::SqlConfig;
use postgres::{Client, NoTls};

use super::rows::{Merge, Row, UpdateSyntax, Value};
use super::{Database, SqlError, WriteCounts, WriteJob};

const STAGE: &str = "pmacct_rs_stage";

pub struct Pgsql {
    config: postgres::Config,
    describe: String,
    client: Option<Client>,
}

impl Pgsql {
    /// Connects to `host` (default `sql_host`; a path is a Unix socket directory).
    pub fn new(sql: &SqlConfig, host: Option<&str>) -> Pgsql {
        let host = host.unwrap_or(&sql.host);
        let mut config = postgres::Config::new();
        config
            .host(host)
            .port(sql.port)
            .user(&sql.user)
            .password(&sql.password)
            .dbname(&sql.db)
            .application_name("pmacct-rs")
            .connect_timeout(Duration::from_secs(5));
        Pgsql {
            config,
            describe: format!("pgsql {}@{host}:{}/{}", sql.user, sql.port, sql.db),
            client: None,
        }
    }

    fn client(&mut self) -> Result<&mut Client, SqlError> {
        if self.client.is_none() {
            self.client = Some(self.config.connect(NoTls).map_err(err)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SqlError::Down("no connection".into()))
    }

    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let result = f(self.client()?);
        if result.is_err() {
            // Reconnect on the next try: the server may have restarted.
            self.client = None;
        }
        result
    }
}

fn err(e: postgres::Error) -> SqlError {
    SqlError::Down(match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    })
}

/// Appends a value in COPY's text format.
fn copy_value(line: &mut String, v: &Value) {
    match v {
        Value::Int(n) => line.push_str(itoa::Buffer::new().format(*n)),
        Value::Text(s) => {
            for c in s.chars() {
                match c {
                    '\\' => line.push_str("\\\\"),
                    '\t' => line.push_str("\\t"),
                    '\n' => line.push_str("\\n"),
                    '\r' => line.push_str("\\r"),
                    c => line.push(c),
                }
            }
        }
    }
}

impl Database for Pgsql {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, SqlError> {
        self.run(|c| {
            let row = c
                .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&table])
                .map_err(err)?;
            row.try_get::<_, bool>(0).map_err(err)
        })
    }

    fn execute(&mut self, sql: &str) -> Result<(), SqlError> {
        self.run(|c| c.batch_execute(sql).map_err(err))
    }

    fn write(&mut self, job: &mut dyn WriteJob) -> Result<WriteCounts, SqlError> {
        let dont_try_update = job.dont_try_update();
        let names: Vec<&str> = job.columns().iter().map(|c| c.name).collect();
        let columns = names.join(", ");
        let mut row: Row = job.empty_row();
        self.run(|client| {
            let mut tx = client.transaction().map_err(err)?;
            let mut counts = WriteCounts::default();
            for t in 0..job.tables() {
                let table = job.table_name(t);
                let (_, rows) = job.table(t);
                tx.batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {STAGE} (LIKE {table} INCLUDING DEFAULTS); TRUNCATE {STAGE}"
                ))
                .map_err(err)?;
                let mut copy = tx
                    .copy_in(&format!("COPY {STAGE} ({columns}) FROM STDIN"))
                    .map_err(err)?;
                let mut buf = String::with_capacity(1 << 16);
                let io = |e: std::io::Error| SqlError::Down(format!("COPY: {e}"));
                for i in rows {
                    job.fill(i, &mut row);
                    for (n, v) in row.values.iter().enumerate() {
                        if n > 0 {
                            buf.push('\t');
                        }
                        copy_value(&mut buf, v);
                    }
                    buf.push('\n');
                    if buf.len() > 60_000 {
                        copy.write_all(buf.as_bytes()).map_err(io)?;
                        buf.clear();
                    }
                }
                copy.write_all(buf.as_bytes()).map_err(io)?;
                copy.finish().map_err(err)?;
                let Merge {
                    update,
                    insert,
                    insert_all,
                } = Merge::new(table, STAGE, job.columns(), UpdateSyntax::From);
                if dont_try_update {
                    counts.inserted += tx.execute(&insert_all, &[]).map_err(err)?;
                } else {
                    counts.updated += tx.execute(&update, &[]).map_err(err)?;
                    counts.inserted += tx.execute(&insert, &[]).map_err(err)?;
                }
            }
            tx.commit().map_err(err)?;
            Ok(counts)
        })
    }
}
