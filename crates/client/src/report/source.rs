//! Where a report's traffic comes from: an SQL table the daemon wrote (SQLite, PostgreSQL,
//! MySQL; any of pmacct's schema versions, or a custom one with the columns below), or a
//! running memory table.

use std::net::IpAddr;

use pmacct_core::key::{FlowKey, Mac};
use pmacct_core::labels::{self, LabelId};
use pmacct_core::protocols::protocol_number;
use pmacct_core::query::{Op, Request, Response, PROTOCOL_VERSION};

/// One aggregate: who talked to whom, how much, and (from SQL) its time bin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The bin's start (seconds since the epoch); `None` from a memory table without bins.
    pub stamp: Option<i64>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `None` when the table has no MAC columns (or the text is not a MAC address).
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    /// Ports and protocol, when asked for and the table has them.
    pub ports: Option<Ports>,
    pub bytes: u64,
    pub packets: u64,
    /// What the source says of the source and the destination address (names, countries, AS),
    /// when asked for and it has the columns ([`Has::about`]).
    pub about: Option<[About; 2]>,
}

/// Text that many rows repeat (a name, an AS name): shared, not copied.
pub type Text = std::sync::Arc<str>;

/// What the source says of one address of a flow besides the address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    /// The name a client used for the address (learned from DNS, TLS, HTTP or QUIC).
    pub name: Option<Text>,
    /// Its ISO 3166 country code: two ASCII letters.
    pub country: Option<[u8; 2]>,
    /// Its AS number (0: unknown).
    pub asn: u32,
    pub as_name: Option<Text>,
}

/// A flow's transport ports and IP protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ports {
    pub src: u16,
    pub dst: u16,
    pub proto: u8,
}

/// Asks a running memory table in this process for a dump (the web page's source).
pub type DumpFn = std::sync::Arc<dyn Fn() -> Result<Response, String> + Send + Sync>;

/// The report's input.
#[derive(Clone)]
pub enum Source {
    Sqlite(String),
    Pgsql(String),
    Mysql(String),
    Pipe(String),
    /// A memory table of the daemon the report runs in.
    Dump(DumpFn),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Sqlite(p) => write!(f, "Sqlite({p:?})"),
            Source::Pgsql(u) => write!(f, "Pgsql({u:?})"),
            Source::Mysql(u) => write!(f, "Mysql({u:?})"),
            Source::Pipe(p) => write!(f, "Pipe({p:?})"),
            Source::Dump(_) => write!(f, "Dump"),
        }
    }
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
#[derive(Clone, Copy, Debug, Default)]
pub struct Need {
    /// MAC addresses (`--by-mac`).
    pub mac: bool,
    /// Time bins (`--by` other than `all`, or a date window).
    pub time: bool,
    /// Ports and protocol, when the table has them (a device's top ports).
    pub ports: bool,
    /// MAC addresses, when the table has them (the addresses a device was seen with).
    pub ids: bool,
    /// SQLite: only rows with a rowid in this half-open range (a share of a parallel scan).
    pub rows: Option<(i64, i64)>,
    /// Names, countries and AS of the addresses, when the source has them ([`Flow::about`]).
    pub about: bool,
}

/// What a source has beyond the addresses and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Has {
    pub mac: bool,
    pub ports: bool,
    /// Flows carry what the source says of their addresses ([`Flow::about`]).
    pub about: bool,
}

/// How stamps stored as text are read: in this zone (the daemon's, unless it wrote UTC).
pub struct StampZone(pub jiff::tz::TimeZone);

/// The columns read: addresses, counters and stamp, then MACs, then ports (when present).
struct Columns {
    mac: bool,
    /// MAC addresses are parsed (the table has them, and they are asked for).
    want_mac: bool,
    ports: bool,
    /// The columns about each address, read last.
    about: AboutCols,
}

impl Columns {
    fn select(&self, stamp: &str) -> String {
        let mac = if self.mac { ", mac_src, mac_dst" } else { "" };
        let ports = if self.ports {
            ", src_port, dst_port, ip_proto"
        } else {
            ""
        };
        let about = self.about.select([""; 4]);
        format!("ip_src, ip_dst, bytes, packets, {stamp}{mac}{ports}{about}")
    }

    fn ports_at(&self) -> usize {
        if self.mac {
            7
        } else {
            5
        }
    }

    fn about_at(&self) -> usize {
        self.ports_at() + if self.ports { 3 } else { 0 }
    }
}

/// Which pairs of columns about the addresses a source has (SQL: `host_name_src` and
/// `host_name_dst`, ...; a memory table: `src_host_name` and `dst_host_name`, ...), in the
/// order they are read. AS numbers alone (in every default SQL schema) do not count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AboutCols {
    name: bool,
    country: bool,
    asn: bool,
    as_name: bool,
}

impl AboutCols {
    /// The SQL columns' names without their `_src`/`_dst`, in [`AboutCols::flags`] order.
    const SQL: [&'static str; 4] = ["host_name", "country_ip", "as", "as_name"];
    /// The memory table's primitives without their `src_`/`dst_`.
    const MEMORY: [&'static str; 4] = ["host_name", "host_country", "as", "as_name"];
    /// PostgreSQL's casts of the columns.
    const PG_CASTS: [&'static str; 4] = ["::text", "::text", "::bigint", "::text"];

    /// The pairs a source has (`pairs` in [`AboutCols::flags`] order), when `want`ed.
    fn from_pairs(want: bool, pairs: [bool; 4]) -> AboutCols {
        let [name, country, asn, as_name] = pairs;
        match want && (name || country || as_name) {
            true => AboutCols {
                name,
                country,
                asn,
                as_name,
            },
            false => AboutCols::default(),
        }
    }

    /// The pairs of an SQL table with the columns `has`.
    fn sql(want: bool, has: &[String]) -> AboutCols {
        let present = |c: String| has.iter().any(|h| h.eq_ignore_ascii_case(&c));
        let pairs =
            AboutCols::SQL.map(|b| present(format!("{b}_src")) && present(format!("{b}_dst")));
        AboutCols::from_pairs(want, pairs)
    }

    fn flags(self) -> [bool; 4] {
        [self.name, self.country, self.asn, self.as_name]
    }

    fn any(self) -> bool {
        self.flags().contains(&true)
    }

    /// `, host_name_src, host_name_dst, ...` (each column with its `casts`), or nothing.
    fn select(self, casts: [&str; 4]) -> String {
        let mut out = String::new();
        for ((base, on), cast) in AboutCols::SQL.iter().zip(self.flags()).zip(casts) {
            if on {
                out.push_str(&format!(", {base}_src{cast}, {base}_dst{cast}"));
            }
        }
        out
    }
}

/// Interns the texts of a scan (names repeat over many rows): one copy of each, bounded.
#[derive(Default)]
struct Texts(std::collections::HashMap<Box<[u8]>, Text>);

impl Texts {
    /// Texts kept at most (beyond, the cache starts again).
    const MAX: usize = 1 << 16;

    /// `raw` as shared text; `None` when empty.
    fn get(&mut self, raw: &[u8]) -> Option<Text> {
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            return None;
        }
        if let Some(t) = self.0.get(raw) {
            return Some(t.clone());
        }
        if self.0.len() >= Texts::MAX {
            self.0.clear();
        }
        let text: Text = String::from_utf8_lossy(raw).into();
        self.0.insert(raw.into(), text.clone());
        Some(text)
    }
}

/// A country code as stored: two ASCII letters (anything else, such as '' or '--', is none).
fn country_code(raw: &[u8]) -> Option<[u8; 2]> {
    match *raw.trim_ascii() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// What a row says of its source and destination addresses, from column `at` on.
fn read_about(c: AboutCols, row: &impl RowRef, at: usize, texts: &mut Texts) -> [About; 2] {
    let mut ends = [About::default(), About::default()];
    for (i, end) in ends.iter_mut().enumerate() {
        let mut col = at + i;
        if c.name {
            end.name = row.raw(col, |t| texts.get(t));
            col += 2;
        }
        if c.country {
            end.country = row.raw(col, country_code);
            col += 2;
        }
        if c.asn {
            end.asn = u32::try_from(row.num(col)).unwrap_or(0);
            col += 2;
        }
        if c.as_name {
            end.as_name = row.raw(col, |t| texts.get(t));
        }
    }
    ends
}

/// Checks a table's columns: what is missing, and which optional ones it has.
fn check_columns(
    table: &str,
    has: &[String],
    need_mac: bool,
    want_mac: bool,
    want_ports: bool,
) -> Result<Columns, SourceError> {
    let mut need = vec!["ip_src", "ip_dst", "bytes", "packets", "stamp_inserted"];
    if need_mac {
        need.extend(["mac_src", "mac_dst"]);
    }
    let present = |c: &str| has.iter().any(|h| h.eq_ignore_ascii_case(c));
    let missing: Vec<&str> = need.into_iter().filter(|c| !present(c)).collect();
    if !missing.is_empty() {
        return Err(SourceError::Layout {
            table: table.to_string(),
            missing: missing.join(", "),
            has: has.join(", "),
        });
    }
    Ok(Columns {
        mac: present("mac_src") && present("mac_dst"),
        want_mac,
        ports: want_ports && present("src_port") && present("dst_port") && present("ip_proto"),
        about: AboutCols::default(),
    })
}

/// [`check_columns`] for `need`, with the columns about the addresses it wants.
fn columns(table: &str, has: &[String], need: Need) -> Result<Columns, SourceError> {
    let mut cols = check_columns(table, has, need.mac, need.mac || need.ids, need.ports)?;
    cols.about = AboutCols::sql(need.about, has);
    Ok(cols)
}

/// What a source read with `cols` had.
fn has_of(cols: &Columns) -> Has {
    Has {
        mac: cols.mac && cols.want_mac,
        ports: cols.ports,
        about: cols.about.any(),
    }
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

/// Parses stamps, remembering the last one (rows come in runs of one bin).
struct Stamps<'a> {
    zone: &'a StampZone,
    last_text: Vec<u8>,
    last: Option<i64>,
}

impl Stamps<'_> {
    fn parse(&mut self, text: &[u8]) -> Option<i64> {
        if text != self.last_text.as_slice() {
            self.last = std::str::from_utf8(text)
                .ok()
                .and_then(|t| parse_stamp(t, self.zone));
            self.last_text.clear();
            self.last_text.extend_from_slice(text);
        }
        self.last
    }
}

/// A MAC address as text (`0:1:a:b:c:d` or `00-01-...`: one or two hex digits a byte).
pub fn parse_mac(text: &str) -> Option<Mac> {
    parse_mac_bytes(text.trim().as_bytes())
}

fn parse_mac_bytes(text: &[u8]) -> Option<Mac> {
    let mut out = [0u8; 6];
    let (mut i, mut digits) = (0usize, 0u8);
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b':' | b'-' if digits > 0 && i < 5 => {
                (i, digits) = (i + 1, 0);
                continue;
            }
            _ => return None,
        };
        if digits == 2 {
            return None;
        }
        out[i] = out[i] << 4 | v;
        digits += 1;
    }
    (i == 5 && digits > 0).then_some(Mac(out))
}

#[cfg(test)]
fn parse_ip(text: &str) -> Option<IpAddr> {
    parse_ip_bytes(text.as_bytes())
}

fn parse_ip_bytes(text: &[u8]) -> Option<IpAddr> {
    parse_ipv4(text).map(IpAddr::V4).or_else(|| {
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
}

/// Dotted-quad IPv4 text, the common case, without the general parser.
fn parse_ipv4(text: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut out = [0u8; 4];
    let (mut i, mut value, mut digits) = (0usize, 0u32, 0u8);
    for &c in text {
        match c {
            // No leading zeros (as the standard parser).
            b'0'..=b'9' if digits < 3 && !(digits == 1 && value == 0) => {
                value = value * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && i < 3 => {
                out[i] = u8::try_from(value).ok()?;
                (i, value, digits) = (i + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if i != 3 || digits == 0 {
        return None;
    }
    out[3] = u8::try_from(value).ok()?;
    Some(out.into())
}

/// The rowid range of an SQLite table, for a scan in parallel parts: `None` for other
/// sources, or when the table is small or has no rowid.
pub fn rowid_range(source: &Source, table: &str) -> Option<(i64, i64)> {
    let Source::Sqlite(path) = source else {
        return None;
    };
    let table = safe_table(table).ok()?;
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).ok()?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row(
            &format!("SELECT MIN(rowid), MAX(rowid) FROM {table}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()?;
    let (lo, hi) = (lo?, hi?);
    (hi - lo > 100_000).then_some((lo, hi.saturating_add(1)))
}

/// One row of a result set, read by column index.
trait RowRef {
    /// The column as text (numbers as digits), handed to `f`.
    fn text<R>(&self, i: usize, f: impl FnOnce(&str) -> R) -> R;
    /// The column's bytes as stored (text unchecked), handed to `f`.
    fn raw<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        self.text(i, |t| f(t.as_bytes()))
    }
    fn num(&self, i: usize) -> u64;
}

/// One row read in [`Columns::select`]'s order: its flow, unless its addresses do not parse.
fn emit(
    cols: &Columns,
    row: &impl RowRef,
    stamps: &mut Stamps,
    texts: &mut Texts,
    each: &mut dyn FnMut(Flow),
) {
    let (Some(src), Some(dst)) = (row.raw(0, parse_ip_bytes), row.raw(1, parse_ip_bytes)) else {
        return;
    };
    let stamp = row.raw(4, |t| stamps.parse(t));
    let (src_mac, dst_mac) = match cols.mac && cols.want_mac {
        // 0:0:0:0:0:0 is what the plugin writes when MACs are not aggregated.
        true => (
            row.raw(5, parse_mac_bytes).filter(|m| m.0 != [0; 6]),
            row.raw(6, parse_mac_bytes).filter(|m| m.0 != [0; 6]),
        ),
        false => (None, None),
    };
    let at = cols.ports_at();
    let ports = cols.ports.then(|| Ports {
        src: u16::try_from(row.num(at)).unwrap_or(0),
        dst: u16::try_from(row.num(at + 1)).unwrap_or(0),
        proto: row.text(at + 2, |t| protocol_number(t.trim()).unwrap_or(0)),
    });
    let about = cols
        .about
        .any()
        .then(|| read_about(cols.about, row, cols.about_at(), texts));
    each(Flow {
        stamp,
        src,
        dst,
        src_mac,
        dst_mac,
        ports,
        bytes: row.num(2),
        packets: row.num(3),
        about,
    });
}

/// Reads every flow of `table` from `source`, handing each to `each`; says what it had.
pub fn read(
    source: &Source,
    table: &str,
    need: Need,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<Has, SourceError> {
    match source {
        Source::Sqlite(path) => sqlite(path, safe_table(table)?, need, zone, each),
        Source::Pgsql(url) => pgsql(url, safe_table(table)?, need, zone, each),
        Source::Mysql(url) => mysql(url, safe_table(table)?, need, zone, each),
        Source::Pipe(socket) => {
            let request = Request {
                protocol: PROTOCOL_VERSION,
                op: Op::Dump,
            };
            let response = crate::client::exchange(socket, &request).map_err(|e| match e {
                crate::Failure::Error { message, .. } => SourceError::Open(message),
                crate::Failure::Output(e) => SourceError::Open(e.to_string()),
            })?;
            memory(
                &format!("the memory table at '{socket}'"),
                response,
                need,
                each,
            )
        }
        Source::Dump(dump) => {
            let response = dump().map_err(SourceError::Open)?;
            memory("the memory table", response, need, each)
        }
    }
}

impl RowRef for rusqlite::Row<'_> {
    fn raw<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        use rusqlite::types::ValueRef;
        match self.get_ref(i) {
            Ok(ValueRef::Text(t)) => f(t),
            Ok(ValueRef::Integer(n)) => f(itoa::Buffer::new().format(n).as_bytes()),
            _ => f(b""),
        }
    }
    fn text<R>(&self, i: usize, f: impl FnOnce(&str) -> R) -> R {
        use rusqlite::types::ValueRef;
        match self.get_ref(i) {
            Ok(ValueRef::Text(t)) => f(std::str::from_utf8(t).unwrap_or("")),
            Ok(ValueRef::Integer(n)) => f(itoa::Buffer::new().format(n)),
            _ => f(""),
        }
    }
    fn num(&self, i: usize) -> u64 {
        use rusqlite::types::ValueRef;
        match self.get_ref(i) {
            Ok(ValueRef::Integer(n)) => n.max(0) as u64,
            Ok(ValueRef::Real(x)) => x.max(0.0) as u64,
            Ok(ValueRef::Text(t)) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            _ => 0,
        }
    }
}

fn sqlite(
    path: &str,
    table: &str,
    need: Need,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<Has, SourceError> {
    use rusqlite::{Connection, OpenFlags};
    let read_err = |e: rusqlite::Error| SourceError::Read {
        table: table.to_string(),
        reason: e.to_string(),
    };
    // One thread uses the connection: no locking inside SQLite.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
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
    let cols = columns(table, &has, need)?;
    let range = match need.rows {
        Some((from, to)) => format!(" WHERE rowid >= {from} AND rowid < {to}"),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {} FROM {table}{range}",
        cols.select("stamp_inserted")
    );
    let mut stmt = conn.prepare(&sql).map_err(read_err)?;
    let mut rows = stmt.query([]).map_err(read_err)?;
    let mut stamps = Stamps {
        zone,
        last_text: Vec::new(),
        last: None,
    };
    let mut texts = Texts::default();
    while let Some(r) = rows.next().map_err(read_err)? {
        emit(&cols, r, &mut stamps, &mut texts, each);
    }
    Ok(has_of(&cols))
}

impl RowRef for postgres::Row {
    fn text<R>(&self, i: usize, f: impl FnOnce(&str) -> R) -> R {
        match self.try_get::<_, Option<&str>>(i) {
            Ok(Some(t)) => f(t),
            _ => f(""),
        }
    }
    fn num(&self, i: usize) -> u64 {
        match self.try_get::<_, Option<i64>>(i) {
            Ok(Some(n)) => n.max(0) as u64,
            _ => 0,
        }
    }
}

fn pgsql(
    url: &str,
    table: &str,
    need: Need,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<Has, SourceError> {
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
    let cols = columns(table, &has, need)?;
    let stamp = "to_char(stamp_inserted, 'YYYY-MM-DD HH24:MI:SS')";
    let mac = if cols.mac {
        ", mac_src::text, mac_dst::text"
    } else {
        ""
    };
    let ports = if cols.ports {
        ", src_port::bigint, dst_port::bigint, ip_proto::text"
    } else {
        ""
    };
    let about = cols.about.select(AboutCols::PG_CASTS);
    let sql = format!(
        "SELECT split_part(ip_src::text, '/', 1), split_part(ip_dst::text, '/', 1), bytes::bigint, packets::bigint, {stamp}{mac}{ports}{about} FROM {table}"
    );
    let params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
    let mut rows = client.query_raw(&sql, params).map_err(read_err)?;
    let mut stamps = Stamps {
        zone,
        last_text: Vec::new(),
        last: None,
    };
    let mut texts = Texts::default();
    use postgres::fallible_iterator::FallibleIterator;
    while let Some(r) = rows.next().map_err(read_err)? {
        emit(&cols, &r, &mut stamps, &mut texts, each);
    }
    Ok(has_of(&cols))
}

impl RowRef for mysql::Row {
    fn text<R>(&self, i: usize, f: impl FnOnce(&str) -> R) -> R {
        match self.as_ref(i) {
            Some(mysql::Value::Bytes(b)) => f(std::str::from_utf8(b).unwrap_or("")),
            Some(mysql::Value::Int(n)) => f(itoa::Buffer::new().format(*n)),
            Some(mysql::Value::UInt(n)) => f(itoa::Buffer::new().format(*n)),
            _ => f(""),
        }
    }
    fn num(&self, i: usize) -> u64 {
        self.text(i, |t| t.trim().parse::<u64>().unwrap_or(0))
    }
}

fn mysql(
    url: &str,
    table: &str,
    need: Need,
    zone: &StampZone,
    each: &mut dyn FnMut(Flow),
) -> Result<Has, SourceError> {
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
    let cols = columns(table, &has, need)?;
    let sql = format!(
        "SELECT {} FROM {table}",
        cols.select("DATE_FORMAT(stamp_inserted, '%Y-%m-%d %H:%i:%s')")
    );
    let result = conn.query_iter(sql).map_err(read_err)?;
    let mut stamps = Stamps {
        zone,
        last_text: Vec::new(),
        last: None,
    };
    let mut texts = Texts::default();
    for row in result {
        let row = row.map_err(read_err)?;
        emit(&cols, &row, &mut stamps, &mut texts, each);
    }
    Ok(has_of(&cols))
}

/// A memory table's dump: its entries carry their bin with `imt_history`; without, the
/// report has one period.
fn memory(
    what: &str,
    response: Response,
    need: Need,
    each: &mut dyn FnMut(Flow),
) -> Result<Has, SourceError> {
    if let Some(e) = &response.error {
        return Err(SourceError::Open(format!("{what}: {e}")));
    }
    let has = &response.columns;
    let mut columns = vec!["src_host", "dst_host"];
    if need.mac {
        columns.extend(["src_mac", "dst_mac"]);
    }
    let missing: Vec<&str> = columns
        .into_iter()
        .filter(|c| !has.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Layout {
            table: what.to_string(),
            missing: missing.join(", "),
            has: has.join(", "),
        });
    }
    if need.time && !response.bins {
        return Err(SourceError::Open(format!(
            "{what} has no time bins: use --by all, or give the plugin imt_history (such as imt_history: 1h)"
        )));
    }
    let present = |c: &str| has.iter().any(|h| h == c);
    let mac = (need.mac || need.ids) && present("src_mac") && present("dst_mac");
    let ports = need.ports && present("src_port") && present("dst_port") && present("proto");
    let pairs =
        AboutCols::MEMORY.map(|b| present(&format!("src_{b}")) && present(&format!("dst_{b}")));
    let about = AboutCols::from_pairs(need.about, pairs);
    let bins = response.bins;
    for entry in response.results.into_iter().flatten() {
        let k = &entry.key;
        each(Flow {
            stamp: bins.then_some(k.bin),
            src: k.src_host.0,
            dst: k.dst_host.0,
            src_mac: mac.then_some(k.src_mac).filter(|m| m.0 != [0; 6]),
            dst_mac: mac.then_some(k.dst_mac).filter(|m| m.0 != [0; 6]),
            ports: ports.then_some(Ports {
                src: k.src_port,
                dst: k.dst_port,
                proto: k.proto,
            }),
            bytes: entry.counters.bytes,
            packets: entry.counters.packets,
            about: about.any().then(|| memory_about(about, k)),
        });
    }
    Ok(Has {
        mac,
        ports,
        about: about.any(),
    })
}

/// What a memory table's key says of its source and destination addresses.
fn memory_about(c: AboutCols, k: &FlowKey) -> [About; 2] {
    let text = |on: bool, id: LabelId| on.then(|| labels::text(id)).filter(|t| !t.is_empty());
    let end = |name, country: u16, asn, as_name| About {
        name: text(c.name, name),
        country: c
            .country
            .then(|| country_code(&country.to_be_bytes()))
            .flatten(),
        asn: if c.asn { asn } else { 0 },
        as_name: text(c.as_name, as_name),
    };
    [
        end(k.src_host_name, k.src_country, k.src_as, k.src_as_name),
        end(k.dst_host_name, k.dst_country, k.dst_as, k.dst_as_name),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_fast_path_agrees_with_the_parser() {
        for t in ["0.0.0.0", "192.168.1.10", "255.255.255.255", "10.0.0.1"] {
            assert_eq!(parse_ipv4(t.as_bytes()), t.parse().ok(), "{t}");
        }
        for t in [
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "01234.1.1.1",
            "1.2.3.",
            "::1",
            "",
        ] {
            assert_eq!(parse_ipv4(t.as_bytes()), None, "{t}");
        }
        assert_eq!(parse_ip("fd00::1"), "fd00::1".parse().ok());
        assert_eq!(parse_ip(" 10.0.0.1 "), "10.0.0.1".parse().ok());
    }

    #[test]
    fn mac_addresses_with_one_or_two_digits() {
        let m = |t: &str| parse_mac(t).map(|m| m.to_string());
        assert_eq!(m("0:1:a:B:cd:ef").as_deref(), Some("00:01:0a:0b:cd:ef"));
        assert_eq!(m("02-00-00-00-00-0A").as_deref(), Some("02:00:00:00:00:0a"));
        for bad in [
            "",
            "0:1:2:3:4",
            "0:1:2:3:4:5:6",
            "0:1:2:3:4:",
            "0::2:3:4:5",
            "123:1:2:3:4:5",
            "g:1:2:3:4:5",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

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

    /// Names, countries or AS names turn the columns about the addresses on (with AS numbers,
    /// when there); AS numbers alone (every default schema has them) do not.
    #[test]
    fn columns_about_the_addresses() {
        let has = |cols: &[&str]| -> Vec<String> { cols.iter().map(ToString::to_string).collect() };
        let named = has(&[
            "HOST_NAME_SRC",
            "host_name_dst",
            "as_src",
            "as_dst",
            "as_name_src",
        ]);
        let c = AboutCols::sql(true, &named);
        assert_eq!(
            c.select([""; 4]),
            ", host_name_src, host_name_dst, as_src, as_dst"
        );
        assert_eq!(
            c.select(AboutCols::PG_CASTS),
            ", host_name_src::text, host_name_dst::text, as_src::bigint, as_dst::bigint"
        );
        assert!(!AboutCols::sql(false, &named).any());
        assert!(!AboutCols::sql(true, &has(&["as_src", "as_dst"])).any());
        let countries = AboutCols::sql(true, &has(&["country_ip_src", "country_ip_dst"]));
        assert_eq!(
            countries.select([""; 4]),
            ", country_ip_src, country_ip_dst"
        );
        assert_eq!(country_code(b"us"), Some(*b"US"));
        for none in [&b""[..], b"  ", b"--", b"USA", b"1A"] {
            assert_eq!(country_code(none), None, "{none:?}");
        }
        let mut texts = Texts::default();
        let a = texts.get(b" youtube.com ").expect("text");
        let b = texts.get(b"youtube.com").expect("text");
        assert!(Text::ptr_eq(&a, &b) && &*a == "youtube.com");
        assert_eq!(texts.get(b""), None);
    }

    #[test]
    fn a_table_without_the_columns_is_named() {
        let has = vec!["ip_src".to_string(), "bytes".to_string()];
        let e = check_columns("acct", &has, false, false, false)
            .err()
            .expect("error");
        assert_eq!(
            e.to_string(),
            "table 'acct' lacks the column(s) ip_dst, packets, stamp_inserted a report needs (it has: ip_src, bytes)"
        );
        assert!(safe_table("acct; drop").is_err());
    }
}
