//! Where a report's traffic comes from: an SQL table the daemon wrote (SQLite, PostgreSQL,
//! MySQL; any of pmacct's schema versions, or a custom one with the columns below), or a
//! running memory table.

use std::net::IpAddr;

use pmacct_core::query::{Op, Request, PROTOCOL_VERSION};

/// One aggregate: who talked to whom, how much, and (from SQL) its time bin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The bin's start (seconds since the epoch); `None` from a memory table.
    pub stamp: Option<i64>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `None` when the table has no MAC columns.
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub bytes: u64,
    pub packets: u64,
}

/// The report's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Sqlite(String),
    Pgsql(String),
    Mysql(String),
    Pipe(String),
}

/// Why flows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Open(String),
    #[error("table '{table}' lacks the column(s) {missing} a report needs (it has: {has})")]
    Layout {
        table: String,
        missing: String,
        has: String,
    },
    #[error("reading '{table}': {reason}")]
    Read { table: String, reason: String },
}

/// What the report needs of its source.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    /// MAC addresses (`--by-mac`).
    pub mac: bool,
    /// Time bins (`--by` other than `all`).
    pub time: bool,
}

/// How stamps stored as text are read: in this zone (the daemon's, unless it wrote UTC).
pub struct StampZone(pub jiff::tz::TimeZone);

/// The columns read, in this order.
struct Columns {
    mac: bool,
}

impl Columns {
    fn select(&self, stamp: &str) -> String {
        let mac = if self.mac { ", mac_src, mac_dst" } else { "" };
        format!("ip_src, ip_dst, bytes, packets, {stamp}{mac}")
    }
}

/// Checks a table's columns: what is missing, or whether it has MAC addresses.
fn check_columns(table: &str, has: &[String], need_mac: bool) -> Result<Columns, SourceError> {
    let mut need = vec!["ip_src", "ip_dst", "bytes", "packets", "stamp_inserted"];
    if need_mac {
        need.extend(["mac_src", "mac_dst"]);
    }
    let missing: Vec<&str> = need
        .into_iter()
        .filter(|c| !has.iter().any(|h| h.eq_ignore_ascii_case(c)))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Layout {
            table: table.to_string(),
            missing: missing.join(", "),
            has: has.join(", "),
        });
    }
    let mac = has.iter().any(|h| h.eq_ignore_ascii_case("mac_src"))
        && has.iter().any(|h| h.eq_ignore_ascii_case("mac_dst"));
    Ok(Columns { mac })
}

fn safe_table(table: &str) -> Result<&str, SourceError> {
    match !table.is_empty()
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        true => Ok(table),
        false => Err(SourceError::Open(format!(
            "'{table}' is not a table name (letters, digits, '_' and '.')"
        ))),
    }
}

/// A stamp as stored: seconds since the epoch, or `YYYY-MM-DD HH:MM:SS` in `zone`.
pub fn parse_stamp(text: &str, zone: &StampZone) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let civil: jiff::civil::DateTime = text
        .get(..19)
        .unwrap_or(text)
        .replace(' ', "T")
        .parse()
        .ok()?;
    civil
        .to_zoned(zone.0.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// Reads every flow of `table` from `source`, handing each to `each`.
pub fn read(
    source: &Source,
    table: &str,
    need: Need,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<(), SourceError> {
    let need_mac = need.mac;
    match source {
        Source::Sqlite(path) => sqlite(path, safe_table(table)?, need_mac, zone, each),
        Source::Pgsql(url) => pgsql(url, safe_table(table)?, need_mac, zone, each),
        Source::Mysql(url) => mysql(url, safe_table(table)?, need_mac, zone, each),
        Source::Pipe(socket) => pipe(socket, need, each),
    }
}

/// Builds a flow from its text fields; rows whose addresses do not parse are skipped.
#[allow(clippy::too_many_arguments)]
fn flow(
    src: &str,
    dst: &str,
    bytes: u64,
    packets: u64,
    stamp: Option<i64>,
    macs: Option<(String, String)>,
) -> Option<Flow> {
    let (src_mac, dst_mac) = match macs {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    Some(Flow {
        stamp,
        src: parse_ip(src)?,
        dst: parse_ip(dst)?,
        src_mac,
        dst_mac,
        bytes,
        packets,
    })
}

/// One row read in [`Columns::select`]'s order (`text` and `num` read a column by index):
/// its flow, unless its addresses do not parse.
fn emit(
    cols: &Columns,
    zone: &StampZone,
    text: &dyn Fn(usize) -> String,
    num: &dyn Fn(usize) -> u64,
    each: &mut dyn FnMut(Flow),
) {
    let stamp = parse_stamp(&text(4), zone);
    let macs = cols.mac.then(|| (text(5), text(6)));
    if let Some(f) = flow(&text(0), &text(1), num(2), num(3), stamp, macs) {
        each(f);
    }
}

fn sqlite(
    path: &str,
    table: &str,
    need_mac: bool,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<(), SourceError> {
    use rusqlite::{Connection, OpenFlags};
    let read_err = |e: rusqlite::Error| SourceError::Read {
        table: table.to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| SourceError::Open(format!("cannot open '{path}': {e}")))?;
    // The daemon may be writing: wait for its write to end rather than fail.
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let mut info = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .map_err(read_err)?;
    let has: Vec<String> = info
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(read_err)?
        .filter_map(Result::ok)
        .collect();
    if has.is_empty() {
        return Err(SourceError::Open(format!(
            "'{path}' has no table '{table}'"
        )));
    }
    let cols = check_columns(table, &has, need_mac)?;
    let sql = format!("SELECT {} FROM {table}", cols.select("stamp_inserted"));
    let mut stmt = conn.prepare(&sql).map_err(read_err)?;
    let mut rows = stmt.query([]).map_err(read_err)?;
    while let Some(r) = rows.next().map_err(read_err)? {
        let text = |i: usize| -> String {
            match r.get_ref(i) {
                Ok(rusqlite::types::ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                Ok(rusqlite::types::ValueRef::Integer(n)) => n.to_string(),
                _ => String::new(),
            }
        };
        let num = |i: usize| r.get::<_, i64>(i).map_or(0, |n| n.max(0) as u64);
        emit(&cols, zone, &text, &num, each);
    }
    Ok(())
}

fn pgsql(
    url: &str,
    table: &str,
    need_mac: bool,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<(), SourceError> {
    let read_err = |e: postgres::Error| SourceError::Read {
        table: table.to_string(),
        reason: e.to_string(),
    };
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| SourceError::Open(format!("cannot connect to '{url}': {e}")))?;
    let has: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1",
            &[&table],
        )
        .map_err(read_err)?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    if has.is_empty() {
        return Err(SourceError::Open(format!("no table '{table}' at '{url}'")));
    }
    let cols = check_columns(table, &has, need_mac)?;
    let stamp = "to_char(stamp_inserted, 'YYYY-MM-DD HH24:MI:SS')";
    let mac = if cols.mac {
        ", mac_src::text, mac_dst::text"
    } else {
        ""
    };
    let sql = format!(
        "SELECT split_part(ip_src::text, '/', 1), split_part(ip_dst::text, '/', 1), bytes::bigint, packets::bigint, {stamp}{mac} FROM {table}"
    );
    let params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
    let rows = client.query_raw(&sql, params).map_err(read_err)?;
    let mut rows = rows;
    use postgres::fallible_iterator::FallibleIterator;
    while let Some(r) = rows.next().map_err(read_err)? {
        let text = |i: usize| r.get::<_, Option<String>>(i).unwrap_or_default();
        let num = |i: usize| r.get::<_, Option<i64>>(i).unwrap_or(0).max(0) as u64;
        emit(&cols, zone, &text, &num, each);
    }
    Ok(())
}

fn mysql(
    url: &str,
    table: &str,
    need_mac: bool,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<(), SourceError> {
    use mysql::prelude::Queryable;
    let read_err = |e: mysql::Error| SourceError::Read {
        table: table.to_string(),
        reason: e.to_string(),
    };
    let opts = mysql::Opts::from_url(url)
        .map_err(|e| SourceError::Open(format!("bad MySQL URL '{url}': {e}")))?;
    let mut conn = mysql::Conn::new(opts)
        .map_err(|e| SourceError::Open(format!("cannot connect to '{url}': {e}")))?;
    let has: Vec<String> = conn
        .exec(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
            (table,),
        )
        .map_err(read_err)?;
    if has.is_empty() {
        return Err(SourceError::Open(format!("no table '{table}' at '{url}'")));
    }
    let cols = check_columns(table, &has, need_mac)?;
    let sql = format!(
        "SELECT {} FROM {table}",
        cols.select("DATE_FORMAT(stamp_inserted, '%Y-%m-%d %H:%i:%s')")
    );
    let result = conn.query_iter(sql).map_err(read_err)?;
    for row in result {
        let row = row.map_err(read_err)?;
        let text = |i: usize| -> String {
            match row.as_ref(i) {
                Some(mysql::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(mysql::Value::Int(n)) => n.to_string(),
                Some(mysql::Value::UInt(n)) => n.to_string(),
                _ => String::new(),
            }
        };
        let num = |i: usize| text(i).parse::<u64>().unwrap_or(0);
        emit(&cols, zone, &text, &num, each);
    }
    Ok(())
}

/// A running memory table: its entries carry their bin with `imt_history`; without, the
/// report has one period.
fn pipe(socket: &str, need: Need, each: &mut dyn FnMut(Flow)) -> Result<(), SourceError> {
    let need_mac = need.mac;
    let request = Request {
        protocol: PROTOCOL_VERSION,
        op: Op::Dump,
    };
    let response = crate::client::exchange(socket, &request).map_err(|e| match e {
        crate::Failure::Error { message, .. } => SourceError::Open(message),
        crate::Failure::Output(e) => SourceError::Open(e.to_string()),
    })?;
    let has = &response.columns;
    let mut columns = vec!["src_host", "dst_host"];
    if need_mac {
        columns.extend(["src_mac", "dst_mac"]);
    }
    let missing: Vec<&str> = columns
        .into_iter()
        .filter(|c| !has.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Layout {
            table: format!("the memory table at '{socket}'"),
            missing: missing.join(", "),
            has: has.join(", "),
        });
    }
    if need.time && !response.bins {
        return Err(SourceError::Open(format!(
            "the memory table at '{socket}' has no time bins: use --by all, or give the plugin imt_history (such as imt_history: 1h)"
        )));
    }
    let mac = has.iter().any(|h| h == "src_mac") && has.iter().any(|h| h == "dst_mac");
    let bins = response.bins;
    for entry in response.results.into_iter().flatten() {
        let k = &entry.key;
        each(Flow {
            stamp: bins.then_some(k.bin),
            src: k.src_host.0,
            dst: k.dst_host.0,
            src_mac: mac.then(|| k.src_mac.to_string()),
            dst_mac: mac.then(|| k.dst_mac.to_string()),
            bytes: entry.counters.bytes,
            packets: entry.counters.packets,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_as_text_or_epoch() {
        let utc = StampZone(jiff::tz::TimeZone::UTC);
        assert_eq!(
            parse_stamp("2023-11-14 22:13:00", &utc),
            Some(1_700_000_000 - 20)
        );
        assert_eq!(parse_stamp("1700000000", &utc), Some(1_700_000_000));
        assert_eq!(parse_stamp("garbage", &utc), None);
    }

    #[test]
    fn a_table_without_the_columns_is_named() {
        let has = vec!["ip_src".to_string(), "bytes".to_string()];
        let e = check_columns("acct", &has, false).err().expect("error");
        assert_eq!(
            e.to_string(),
            "table 'acct' lacks the column(s) ip_dst, packets, stamp_inserted a report needs (it has: ip_src, bytes)"
        );
        assert!(safe_table("acct; drop").is_err());
    }
}
