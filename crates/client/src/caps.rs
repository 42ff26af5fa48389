//! `pmacct caps --state FILE`: each cap's usage in its latest period, from the quota plugin's
//! state file (saved every 10 seconds and at each alert).

use std::io::Write;

use crate::Failure;

pub const USAGE: &str = "\
Usage: pmacct caps --state FILE [--format table|csv|json]

Usage of each data cap in its current period, from a quota plugin's quota_state file.
";

/// One cap's usage in its latest period.
pub struct Row {
    pub name: String,
    pub device: String,
    pub direction: String,
    pub limit: i64,
    pub start: i64,
    pub end: i64,
    pub used: i64,
    /// The thresholds fired in the period, comma-separated.
    pub alerts: String,
}

/// One alert fired.
pub struct Alert {
    pub name: String,
    pub device: String,
    pub threshold: i64,
    pub fired_at: i64,
    pub used: i64,
}

/// A time as the caps print it: local, to the minute.
pub fn iso(t: i64) -> String {
    let tz = pmacct_core::bins::time_zone(false);
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn open(path: &str) -> Result<rusqlite::Connection, Failure> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| Failure::new(format!("cannot open '{path}': {e}")))?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    Ok(conn)
}

/// The newest `limit` alerts, newest first.
pub fn alerts(path: &str, limit: u32) -> Result<Vec<Alert>, Failure> {
    let conn = open(path)?;
    let sql = "SELECT u.name, u.device, a.threshold, a.fired_at, a.used_bytes FROM alerts a
               JOIN usage u ON u.cap = a.cap AND u.period_start = a.period_start
               ORDER BY a.fired_at DESC, u.name LIMIT ?1";
    let err = |e: rusqlite::Error| Failure::new(format!("'{path}' is not a quota_state file: {e}"));
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok(Alert {
                name: r.get(0)?,
                device: r.get(1)?,
                threshold: r.get(2)?,
                fired_at: r.get(3)?,
                used: r.get(4)?,
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(rows)
}

/// Each cap's usage in its latest period.
pub fn read(path: &str) -> Result<Vec<Row>, Failure> {
    let conn = open(path)?;
    let sql = "SELECT u.name, u.device, u.direction, u.limit_bytes, u.period_start, u.period_end, u.used_bytes,
                 (SELECT group_concat(threshold, ',') FROM (SELECT threshold FROM alerts a
                    WHERE a.cap = u.cap AND a.period_start = u.period_start ORDER BY threshold))
               FROM usage u
               WHERE u.period_start = (SELECT MAX(period_start) FROM usage v WHERE v.cap = u.cap)
               ORDER BY u.name, u.device";
    let err = |e: rusqlite::Error| Failure::new(format!("'{path}' is not a quota_state file: {e}"));
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Row {
                name: r.get(0)?,
                device: r.get(1)?,
                direction: r.get(2)?,
                limit: r.get(3)?,
                start: r.get(4)?,
                end: r.get(5)?,
                used: r.get(6)?,
                alerts: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(rows)
}

pub fn run(args: &[String], out: &mut dyn Write) -> Result<(), Failure> {
    let (mut state, mut format) = (None, "table".to_string());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state" => state = it.next().cloned(),
            "--format" => format = it.next().cloned().unwrap_or_default(),
            "-h" | "--help" => {
                out.write_all(USAGE.as_bytes())?;
                return Ok(());
            }
            other => {
                return Err(Failure::new(format!(
                    "unknown caps option '{other}'\n\n{}",
                    USAGE.trim_end()
                )))
            }
        }
    }
    let state = state
        .ok_or_else(|| Failure::new(format!("--state FILE is needed\n\n{}", USAGE.trim_end())))?;
    let rows = read(&state)?;
    let percent = |r: &Row| r.used as f64 * 100.0 / r.limit.max(1) as f64;
    match format.as_str() {
        "csv" => {
            writeln!(out, "name,device,direction,period_start,period_end,used_bytes,limit_bytes,percent,alerts_fired")?;
            for r in &rows {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{:.1},\"{}\"",
                    r.name,
                    r.device,
                    r.direction,
                    iso(r.start),
                    iso(r.end),
                    r.used,
                    r.limit,
                    percent(r),
                    r.alerts
                )?;
            }
        }
        "json" => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.name, "device": r.device, "direction": r.direction,
                        "period_start": iso(r.start), "period_end": iso(r.end),
                        "used_bytes": r.used, "limit_bytes": r.limit,
                        "percent": (percent(r) * 10.0).round() / 10.0,
                        "alerts_fired": r.alerts.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v).map_err(|e| Failure::new(e.to_string()))?;
            writeln!(out)?;
        }
        "table" => {
            writeln!(
                out,
                "{:<16} {:<24} {:<5} {:<16} {:<16} {:>16} {:>16} {:>7}  ALERTS",
                "CAP", "DEVICE", "DIR", "PERIOD_START", "PERIOD_END", "USED", "LIMIT", "PERCENT"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<16} {:<24} {:<5} {:<16} {:<16} {:>16} {:>16} {:>6.1}%  {}",
                    r.name,
                    r.device,
                    r.direction,
                    iso(r.start),
                    iso(r.end),
                    r.used,
                    r.limit,
                    percent(r),
                    r.alerts
                )?;
            }
        }
        other => {
            return Err(Failure::new(format!(
                "--format {other}: expected table, csv or json"
            )))
        }
    }
    Ok(())
}
