//! From packed table rows to SQL values and statements.

use jiff::tz::TimeZone;
use pmacct_core::config::SqlBackend;
use pmacct_core::key::{Counters, KeyFields};
use pmacct_core::labels::LabelId;
use pmacct_core::layout::PackedKey;
use pmacct_core::primitive::Primitive;
use pmacct_core::protocols::protocol_label;

use super::schema::{Column, Source};

/// One value bound to a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// A row's values, one per planned column, reused from row to row.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub values: Vec<Value>,
}

impl Row {
    fn int(&mut self, i: usize, v: i64) {
        self.values[i] = Value::Int(v);
    }
    /// The text slot of column `i`, emptied (its memory kept).
    fn text(&mut self, i: usize) -> &mut String {
        if !matches!(self.values[i], Value::Text(_)) {
            self.values[i] = Value::Text(String::new());
        }
        match &mut self.values[i] {
            Value::Text(s) => {
                s.clear();
                s
            }
            Value::Int(_) => unreachable!("set to text just above"),
        }
    }
}

/// How a plugin's rows become values.
#[derive(Clone, Debug)]
pub struct RowMaker {
    columns: Vec<Column>,
    /// Per column: whether its primitive is aggregated (or it is a placeholder).
    aggregated: Vec<bool>,
    pub backend: SqlBackend,
    pub num_protos: bool,
    pub tz: TimeZone,
    pub epoch_stamps: bool,
}

impl RowMaker {
    pub fn new(columns: Vec<Column>, aggregate: &[Primitive], backend: SqlBackend) -> RowMaker {
        let aggregated = columns
            .iter()
            .map(|c| match c.source {
                Source::Key(p) => aggregate.contains(&p),
                Source::TcpFlags => aggregate.contains(&Primitive::TcpFlags),
                Source::ArrivalResidual => aggregate.contains(&Primitive::TimestampArrival),
                _ => true,
            })
            .collect();
        RowMaker {
            columns,
            aggregated,
            backend,
            num_protos: false,
            tz: TimeZone::UTC,
            epoch_stamps: false,
        }
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn empty_row(&self) -> Row {
        Row {
            values: vec![Value::Int(0); self.columns.len()],
        }
    }

    fn stamp(&self, row: &mut Row, i: usize, t: i64) {
        if self.epoch_stamps {
            row.int(i, t);
        } else {
            let text = pmacct_core::bins::format_stamp(t, &self.tz);
            row.text(i).push_str(&text);
        }
    }

    /// Fills `row` with the values of one table row (`updated`: the write's wall clock).
    pub fn fill(&self, row: &mut Row, key: &PackedKey, c: &Counters, updated: i64) {
        use std::fmt::Write as _;
        let pg = self.backend == SqlBackend::Pgsql;
        for (i, col) in self.columns.iter().enumerate() {
            let on = self.aggregated[i];
            match col.source {
                Source::Key(p @ (Primitive::SrcMac | Primitive::DstMac)) => {
                    let s = row.text(i);
                    match on {
                        true => {
                            let _ = write!(s, "{}", key.mac(p));
                        }
                        false => s.push_str("0:0:0:0:0:0"),
                    }
                }
                Source::Key(p) if p.is_address() => {
                    let s = row.text(i);
                    match on {
                        true => {
                            let _ = write!(s, "{}", key.addr(p));
                        }
                        false => s.push_str("0.0.0.0"),
                    }
                }
                Source::Key(Primitive::Proto) => {
                    let proto = if on { key.number(Primitive::Proto) } else { 0 };
                    let label = u8::try_from(proto).ok().and_then(protocol_label);
                    match (pg, on && !self.num_protos, label) {
                        (true, _, _) => row.int(i, proto as i64),
                        (false, true, Some(name)) => row.text(i).push_str(name),
                        _ => {
                            let _ = write!(row.text(i), "{proto}");
                        }
                    }
                }
                Source::Key(Primitive::Etype) => {
                    let v = if on { key.number(Primitive::Etype) } else { 0 };
                    let _ = write!(row.text(i), "{v:x}");
                }
                Source::Key(p) if p.is_timestamp() => {
                    let t = if on { key.timestamp(p).secs } else { 0 };
                    self.stamp(row, i, t);
                }
                Source::ArrivalResidual => {
                    let at = Primitive::TimestampArrival;
                    let micros = if on { key.timestamp(at).micros } else { 0 };
                    row.int(i, i64::from(micros));
                }
                Source::Key(Primitive::MplsVpnRd) => {
                    let rd = if on {
                        key.number(Primitive::MplsVpnRd)
                    } else {
                        0
                    };
                    pmacct_core::format::push_rd(row.text(i), rd);
                }
                Source::Key(p) if p.custom_slot().is_some() => {
                    let mut text = String::new();
                    if on {
                        pmacct_core::format::push_custom(&mut text, p, key);
                    }
                    match custom_is_number(p) {
                        true => row.int(i, text.parse::<u64>().unwrap_or(0) as i64),
                        false => row.text(i).push_str(&text),
                    }
                }
                Source::Key(p) if p.is_interned_text() => {
                    if on {
                        let id = LabelId(key.number(p) as u32);
                        row.text(i).push_str(&pmacct_core::labels::text(id));
                    }
                }
                Source::Key(p) if p.is_country() => {
                    if on {
                        pmacct_core::format::push_country(row.text(i), key.number(p));
                    }
                }
                Source::Key(p) if p.is_coordinate() => {
                    let degrees = pmacct_core::format::coordinate(key.number(p));
                    let _ = write!(row.text(i), "{:.6}", if on { degrees } else { 0.0 });
                }
                Source::Key(p) => row.int(i, if on { key.number(p) as i64 } else { 0 }),
                Source::ClassId => row.text(i).push_str("unknown"),
                Source::Packets => row.int(i, c.packets as i64),
                Source::Bytes => row.int(i, c.bytes as i64),
                Source::Flows => row.int(i, c.flows as i64),
                Source::TcpFlags => row.int(i, if on { i64::from(c.tcp_flags) } else { 0 }),
                Source::StampInserted => self.stamp(row, i, key.bin()),
                Source::StampUpdated => self.stamp(row, i, updated),
            }
        }
    }
}

/// Whether a custom primitive's column holds a number (else text).
fn custom_is_number(p: Primitive) -> bool {
    p.custom_slot()
        .and_then(|slot| pmacct_core::custom::defs().get(slot).map(|d| d.is_number()))
        .unwrap_or(false)
}

/// A statement and, per placeholder, the column whose value it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<usize>,
}

/// The two statements of a table: UPDATE of an existing row, INSERT of a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statements {
    pub update: Statement,
    pub insert: Statement,
}

/// A placeholder for parameter `n` (1-based) bound to column `c`, in the backend's syntax; on
/// PostgreSQL typed so that text and integers convert to the column's type.
fn placeholder(backend: SqlBackend, n: usize, c: &Column, maker: &RowMaker) -> String {
    match backend {
        SqlBackend::Pgsql => {
            let cast = match c.source {
                Source::Key(Primitive::SrcMac | Primitive::DstMac) => "::text::macaddr",
                Source::Key(p) if p.is_address() => "::text::inet",
                Source::StampInserted | Source::StampUpdated if !maker.epoch_stamps => {
                    "::text::timestamp"
                }
                Source::Key(p) if p.is_timestamp() && !maker.epoch_stamps => "::text::timestamp",
                Source::ClassId | Source::Key(Primitive::Etype | Primitive::MplsVpnRd) => "::text",
                Source::Key(p) if p.is_interned_text() || p.is_country() => "::text",
                Source::Key(p) if p.is_coordinate() => "::text::float8",
                Source::Key(p) if p.custom_slot().is_some() && !custom_is_number(p) => "::text",
                _ => "::bigint",
            };
            format!("${n}{cast}")
        }
        _ => "?".into(),
    }
}

impl Statements {
    pub fn new(table: &str, maker: &RowMaker) -> Statements {
        let backend = maker.backend;
        let columns = maker.columns();
        let mut update = Statement {
            sql: format!("UPDATE {table} SET "),
            params: Vec::new(),
        };
        let mut sets = Vec::new();
        let mut wheres = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            let op = match c.source {
                Source::Packets | Source::Bytes | Source::Flows => "+",
                Source::TcpFlags => "|",
                Source::StampUpdated => "",
                _ => continue,
            };
            update.params.push(i);
            let p = placeholder(backend, update.params.len(), c, maker);
            sets.push(match op {
                "" => format!("{}={p}", c.name),
                op => format!("{0}={0}{op}{p}", c.name),
            });
        }
        for (i, c) in columns.iter().enumerate() {
            if c.source.is_counter() {
                continue;
            }
            update.params.push(i);
            let p = placeholder(backend, update.params.len(), c, maker);
            wheres.push(format!("{}={p}", c.name));
        }
        update.sql.push_str(&sets.join(", "));
        if !wheres.is_empty() {
            update.sql.push_str(" WHERE ");
            update.sql.push_str(&wheres.join(" AND "));
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        let values: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| placeholder(backend, i + 1, c, maker))
            .collect();
        let insert = Statement {
            sql: format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            ),
            params: (0..columns.len()).collect(),
        };
        Statements { update, insert }
    }
}

/// The statements that move a staging table `stage` (rows of the same columns) into `table`:
/// an UPDATE adding the staged counters to the matching rows, an INSERT of the staged rows
/// that match none, and an INSERT of all of them (`sql_dont_try_update`). The two servers
/// differ only in how the UPDATE is written.
pub struct Merge {
    pub update: String,
    pub insert: String,
    pub insert_all: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum UpdateSyntax {
    /// PostgreSQL: `UPDATE t SET c=... FROM stage AS s WHERE ...`.
    From,
    /// MySQL: `UPDATE t JOIN stage AS s ON ... SET t.c=...`.
    Join,
}

impl Merge {
    pub fn new(table: &str, stage: &str, columns: &[Column], syntax: UpdateSyntax) -> Merge {
        let target = match syntax {
            UpdateSyntax::From => "",
            UpdateSyntax::Join => "t.",
        };
        let mut sets = Vec::new();
        let mut keys = Vec::new();
        for c in columns {
            let n = c.name;
            match c.source {
                Source::Packets | Source::Bytes | Source::Flows => {
                    sets.push(format!("{target}{n}=t.{n}+s.{n}"))
                }
                Source::TcpFlags => sets.push(format!("{target}{n}=t.{n}|s.{n}")),
                Source::StampUpdated => sets.push(format!("{target}{n}=s.{n}")),
                _ => keys.push(format!("t.{n}=s.{n}")),
            }
        }
        let matching = match keys.is_empty() {
            true => "TRUE".to_string(),
            false => keys.join(" AND "),
        };
        let cols = columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ");
        let sets = sets.join(", ");
        Merge {
            update: match syntax {
                UpdateSyntax::From => {
                    format!("UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE {matching}")
                }
                UpdateSyntax::Join => {
                    format!("UPDATE {table} AS t JOIN {stage} AS s ON {matching} SET {sets}")
                }
            },
            insert: format!(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} AS s WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {matching})"
            ),
            insert_all: format!("INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::sql::schema::plan;
    use pmacct_core::key::{Addr, FlowKey};
    use pmacct_core::layout::KeyLayout;
    use pmacct_core::primitive::Aggregate;

    fn maker(aggregate: &str, v: u8, backend: SqlBackend) -> (RowMaker, KeyLayout) {
        let a = Aggregate::parse(aggregate).unwrap();
        let columns = plan(&a, v, false, true, backend).unwrap();
        let chosen: Vec<Primitive> = a.columns.iter().copied().collect();
        (
            RowMaker::new(columns, &chosen, backend),
            KeyLayout::new(&a, true),
        )
    }

    #[test]
    fn statements_bind_counters_then_keys() {
        let (m, _) = maker("src_host, dst_host, proto", 1, SqlBackend::Sqlite3);
        let s = Statements::new("acct", &m);
        assert_eq!(
            s.update.sql,
            "UPDATE acct SET packets=packets+?, bytes=bytes+?, stamp_updated=? WHERE mac_src=? AND mac_dst=? AND ip_src=? AND ip_dst=? AND src_port=? AND dst_port=? AND ip_proto=? AND stamp_inserted=?"
        );
        assert_eq!(s.update.params, vec![7, 8, 10, 0, 1, 2, 3, 4, 5, 6, 9]);
        assert_eq!(
            s.insert.sql,
            "INSERT INTO acct (mac_src, mac_dst, ip_src, ip_dst, src_port, dst_port, ip_proto, packets, bytes, stamp_inserted, stamp_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let (m, _) = maker("src_host", 9, SqlBackend::Pgsql);
        let s = Statements::new("acct_v9", &m);
        assert!(
            s.update.sql.starts_with(
                "UPDATE acct_v9 SET tcp_flags=tcp_flags|$1::bigint, packets=packets+$2::bigint"
            ),
            "{}",
            s.update.sql
        );
        assert!(s.update.sql.contains("ip_src=$"), "{}", s.update.sql);
        assert!(
            s.insert.sql.contains("$3::text::macaddr"),
            "{}",
            s.insert.sql
        );
    }

    /// The row pmacct 1.7.7 writes for a src_host, dst_host, proto aggregate (v9, sqlite3).
    #[test]
    fn values_and_placeholders_as_pmacct() {
        let (mut m, layout) = maker("src_host, dst_host, proto", 9, SqlBackend::Sqlite3);
        m.tz = TimeZone::UTC;
        let key = FlowKey {
            bin: 1_700_000_000 - 1_700_000_000 % 60,
            src_host: Addr("10.0.0.1".parse().unwrap()),
            dst_host: Addr("10.0.0.2".parse().unwrap()),
            proto: 6,
            ..FlowKey::default()
        };
        let words = layout.encoded(&key);
        let c = Counters {
            packets: 3,
            bytes: 150,
            flows: 0,
            tcp_flags: 2,
        };
        let mut row = m.empty_row();
        m.fill(&mut row, &layout.view(&words), &c, 1_700_000_100);
        let text: Vec<String> = row
            .values
            .iter()
            .map(|v| match v {
                Value::Int(n) => n.to_string(),
                Value::Text(s) => s.clone(),
            })
            .collect();
        assert_eq!(
            text.join("|"),
            "0|unknown|0:0:0:0:0:0|0:0:0:0:0:0|0|0|0|10.0.0.1|10.0.0.2|0|0|0|tcp|0|3|150|0|2023-11-14 22:13:00|2023-11-14 22:15:00"
        );
    }
}
