//! The mysql backend (MySQL, MariaDB): a pure-Rust client (no libmysqlclient). A purge is one
//! transaction: its rows go into a temporary staging table with multi-row INSERTs (bound
//! parameters, a few hundred rows per round trip), then one UPDATE adds them to the rows of the
//! same key and bin and one INSERT adds the others: pmacct's UPDATE-then-INSERT result.

use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, TxOpts};
use pmacct_core::config::SqlConfig;

use super::rows::{Merge, Row, UpdateSyntax, Value};
use super::{Database, SqlError, WriteCounts, WriteJob};

const STAGE: &str = "pmacct_rs_stage";
/// Rows per INSERT into the staging table (well under the 65,535 placeholders of a statement).
const ROWS_PER_INSERT: usize = 500;

pub struct Mysql {
    opts: OptsBuilder,
    describe: String,
    conn: Option<Conn>,
}

impl Mysql {
    /// Connects to `host` (default `sql_host`; `unix:/path` is a Unix socket).
    pub fn new(sql: &SqlConfig, host: Option<&str>) -> Mysql {
        let host = host.unwrap_or(&sql.host);
        let mut opts = OptsBuilder::new()
            .user(Some(sql.user.clone()))
            .pass(Some(sql.password.clone()))
            .db_name(Some(sql.db.clone()))
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .prefer_socket(false);
        opts = match host.strip_prefix("unix:") {
            Some(path) => opts.socket(Some(path.to_string())),
            None => opts
                .ip_or_hostname(Some(host.to_string()))
                .tcp_port(sql.port),
        };
        Mysql {
            opts,
            describe: format!("mysql {}@{host}:{}/{}", sql.user, sql.port, sql.db),
            conn: None,
        }
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, SqlError>) -> Result<T, SqlError> {
        if self.conn.is_none() {
            self.conn = Some(Conn::new(self.opts.clone()).map_err(err)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(SqlError::Down("no connection".into()));
        };
        let result = f(conn);
        if result.is_err() {
            // Reconnect on the next try: the server may have restarted.
            self.conn = None;
        }
        result
    }
}

fn err(e: mysql::Error) -> SqlError {
    SqlError::Down(e.to_string())
}

fn value(v: &Value) -> mysql::Value {
    match v {
        Value::Int(n) => mysql::Value::Int(*n),
        Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
    }
}

impl Database for Mysql {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, SqlError> {
        let (schema, name) = match table.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, table.to_string()),
        };
        self.run(|c| {
            let n: Option<i64> = c
                .exec_first(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = coalesce(?, DATABASE()) AND table_name = ?",
                    (schema, name),
                )
                .map_err(err)?;
            Ok(n.unwrap_or(0) > 0)
        })
    }

    fn execute(&mut self, sql: &str) -> Result<(), SqlError> {
        self.run(|c| c.query_drop(sql).map_err(err))
    }

    fn write(&mut self, job: &mut dyn WriteJob) -> Result<WriteCounts, SqlError> {
        let dont_try_update = job.dont_try_update();
        let names: Vec<&str> = job.columns().iter().map(|c| c.name).collect();
        let one = format!("({})", vec!["?"; names.len()].join(","));
        let mut row: Row = job.empty_row();
        self.run(|conn| {
            let mut tx = conn.start_transaction(TxOpts::default()).map_err(err)?;
            let mut counts = WriteCounts::default();
            for t in 0..job.tables() {
                let table = job.table_name(t);
                let (_, rows) = job.table(t);
                tx.query_drop(format!(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} LIKE {table}"
                ))
                .map_err(err)?;
                tx.query_drop(format!("DELETE FROM {STAGE}")).map_err(err)?;
                let mut params: Vec<mysql::Value> = Vec::new();
                let mut pending = 0;
                let flush =
                    |tx: &mut mysql::Transaction, params: &mut Vec<mysql::Value>, n: usize| {
                        if n == 0 {
                            return Ok(());
                        }
                        let sql = format!(
                            "INSERT INTO {STAGE} ({}) VALUES {}",
                            names.join(", "),
                            vec![one.as_str(); n].join(",")
                        );
                        tx.exec_drop(sql, mysql::Params::Positional(std::mem::take(params)))
                            .map_err(err)
                    };
                for i in rows {
                    job.fill(i, &mut row);
                    params.extend(row.values.iter().map(value));
                    pending += 1;
                    if pending == ROWS_PER_INSERT {
                        flush(&mut tx, &mut params, pending)?;
                        pending = 0;
                    }
                }
                flush(&mut tx, &mut params, pending)?;
                let Merge {
                    update,
                    insert,
                    insert_all,
                } = Merge::new(table, STAGE, job.columns(), UpdateSyntax::Join);
                if dont_try_update {
                    tx.query_drop(insert_all).map_err(err)?;
                    counts.inserted += tx.affected_rows();
                } else {
                    tx.query_drop(update).map_err(err)?;
                    counts.updated += tx.affected_rows();
                    tx.query_drop(insert).map_err(err)?;
                    counts.inserted += tx.affected_rows();
                }
            }
            tx.commit().map_err(err)?;
            Ok(counts)
        })
    }
}
