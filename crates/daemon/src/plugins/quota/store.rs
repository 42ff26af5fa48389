//! The quota plugin's state file (SQLite): usage per cap and period, and the alerts fired, so
//! a restart or a configuration reload neither forgets usage nor repeats an alert.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    cap TEXT NOT NULL, name TEXT NOT NULL, device TEXT NOT NULL, direction TEXT NOT NULL,
    limit_bytes INTEGER NOT NULL, period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
    used_bytes INTEGER NOT NULL, updated INTEGER NOT NULL,
    PRIMARY KEY (cap, period_start));
CREATE TABLE IF NOT EXISTS alerts (
    cap TEXT NOT NULL, period_start INTEGER NOT NULL, threshold INTEGER NOT NULL,
    fired_at INTEGER NOT NULL, used_bytes INTEGER NOT NULL,
    PRIMARY KEY (cap, period_start, threshold));
";

pub struct Store {
    conn: Connection,
}

/// What one cap has used in one period.
pub struct Usage<'a> {
    pub cap: &'a str,
    pub name: &'a str,
    pub device: String,
    pub direction: &'a str,
    pub limit: u64,
    pub period: (i64, i64),
    pub used: u64,
}

fn err(e: rusqlite::Error) -> String {
    e.to_string()
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, String> {
        if let Some(dir) = path.parent() {
            crate::process::create_dirs(dir)
                .map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
        }
        let new = !path.exists();
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open quota_state '{}': {e}", path.display()))?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
        conn.execute_batch(SCHEMA)
            .map_err(|e| format!("quota_state '{}': {e}", path.display()))?;
        if new {
            crate::process::own(path);
        }
        Ok(Store { conn })
    }

    /// Bytes used and thresholds fired in a cap's period, as saved.
    pub fn load(&self, cap: &str, period_start: i64) -> Result<(u64, Vec<u32>), String> {
        let used: Option<i64> = self
            .conn
            .query_row(
                "SELECT used_bytes FROM usage WHERE cap = ?1 AND period_start = ?2",
                params![cap, period_start],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let mut stmt = self
            .conn
            .prepare("SELECT threshold FROM alerts WHERE cap = ?1 AND period_start = ?2")
            .map_err(err)?;
        let fired = stmt
            .query_map(params![cap, period_start], |r| r.get::<_, i64>(0))
            .map_err(err)?
            .filter_map(Result::ok)
            .map(|t| t as u32)
            .collect();
        Ok((used.unwrap_or(0).max(0) as u64, fired))
    }

    pub fn save(&self, u: &Usage, now: i64) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT INTO usage (cap, name, device, direction, limit_bytes, period_start, period_end, used_bytes, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (cap, period_start) DO UPDATE SET used_bytes = ?8, updated = ?9,
                   name = ?2, limit_bytes = ?5",
                params![u.cap, u.name, u.device, u.direction, u.limit as i64, u.period.0, u.period.1, u.used as i64, now],
            )
            .map(drop)
            .map_err(err)
    }

    /// Records an alert (with the usage that crossed it) in one transaction with that usage.
    pub fn fired(&mut self, u: &Usage, threshold: u32, at: i64) -> Result<(), String> {
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT OR IGNORE INTO alerts (cap, period_start, threshold, fired_at, used_bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.cap, u.period.0, threshold, at, u.used as i64],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO usage (cap, name, device, direction, limit_bytes, period_start, period_end, used_bytes, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (cap, period_start) DO UPDATE SET used_bytes = ?8, updated = ?9",
            params![u.cap, u.name, u.device, u.direction, u.limit as i64, u.period.0, u.period.1, u.used as i64, at],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}
