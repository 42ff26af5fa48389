//! Apache Avro encodings of rows and markers: the kafka and amqp plugins' `avro` (binary, one
//! record per message body or several back to back) and `avro_json` (Avro's JSON encoding)
//! outputs, and the schema written for consumers (`avro_schema_file`).
//!
//! A record's fields are the JSON output's, in the same order and with the same names:
//! `event_type`, the aggregate's primitives, `stamp_inserted`/`stamp_updated` with bins,
//! `packets`, `bytes`, and whatever the caller appends (the brokers' `writer_id`). Numbers
//! are `long`, coordinates `double`, everything else `string`. Every schema starts with `event_type`, so a consumer
//! tells a `purge` record from a `purge_init` or `purge_close` marker by its first string.

use std::fmt::Write as _;

use super::{json_string, RowFormat};
use crate::key::{Counters, KeyFields};

/// An Avro field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvroType {
    Long,
    Double,
    String,
}

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AvroValue<'a> {
    Long(i64),
    Double(f64),
    Str(&'a str),
}

impl AvroValue<'_> {
    fn kind(&self) -> AvroType {
        match self {
            AvroValue::Long(_) => AvroType::Long,
            AvroValue::Double(_) => AvroType::Double,
            AvroValue::Str(_) => AvroType::String,
        }
    }
}

/// One record's fields, in order.
pub type AvroFields<'a> = [(&'a str, AvroValue<'a>)];

/// A field name Avro accepts (`[A-Za-z_][A-Za-z0-9_]*`): anything else becomes `_`.
pub fn avro_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || c == '_' {
            true => c,
            false => '_',
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The schema (JSON text) of a record named `name` with these fields.
pub fn schema_text(name: &str, fields: &[(String, AvroType)]) -> String {
    let mut s = format!("{{\n  \"type\": \"record\",\n  \"name\": \"{name}\",\n  \"fields\": [");
    for (i, (field, kind)) in fields.iter().enumerate() {
        let t = match kind {
            AvroType::Long => "long",
            AvroType::Double => "double",
            AvroType::String => "string",
        };
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            s,
            "{sep}\n    {{\"name\": \"{}\", \"type\": \"{t}\"}}",
            avro_name(field)
        );
    }
    s.push_str("\n  ]\n}\n");
    s
}

/// The schema of a marker (or any record given by value).
pub fn schema_of(name: &str, fields: &AvroFields) -> String {
    let typed: Vec<(String, AvroType)> = fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.kind()))
        .collect();
    schema_text(name, &typed)
}

/// Avro's `long`: zig-zag, then 7 bits a byte, low first.
fn push_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends the binary encoding of a record.
pub fn push_binary(out: &mut Vec<u8>, fields: &AvroFields) {
    for (_, v) in fields {
        match v {
            AvroValue::Long(n) => push_long(out, *n),
            AvroValue::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
            AvroValue::Str(s) => {
                push_long(out, s.len() as i64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

/// Appends `s` as a JSON string, quoted and escaped.
pub fn push_json_string(out: &mut String, s: &str) {
    json_string(out, s);
}

/// Appends Avro's JSON encoding of a record (one line).
pub fn push_json(out: &mut String, fields: &AvroFields) {
    out.push('{');
    for (i, (name, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_string(out, &avro_name(name));
        out.push_str(": ");
        match v {
            AvroValue::Long(n) => {
                let _ = write!(out, "{n}");
            }
            AvroValue::Double(d) => {
                let _ = write!(out, "{d:?}");
            }
            AvroValue::Str(s) => json_string(out, s),
        }
    }
    out.push('}');
}

impl RowFormat {
    /// The record schema's fields: the JSON output's, then `extra` strings.
    pub fn avro_fields(&self, extra: &[&str]) -> Vec<(String, AvroType)> {
        let mut fields = Vec::new();
        if self.event_type.is_some() {
            fields.push(("event_type".to_string(), AvroType::String));
        }
        for p in &self.columns {
            let c = p.column();
            let kind = match (c.json_string, p.is_coordinate()) {
                (true, _) => AvroType::String,
                (false, true) => AvroType::Double,
                (false, false) => AvroType::Long,
            };
            fields.push((c.json.to_string(), kind));
        }
        if self.stamps {
            fields.push(("stamp_inserted".to_string(), AvroType::String));
            fields.push(("stamp_updated".to_string(), AvroType::String));
        }
        fields.push(("packets".to_string(), AvroType::Long));
        fields.push(("bytes".to_string(), AvroType::Long));
        for e in extra {
            fields.push((e.to_string(), AvroType::String));
        }
        fields
    }

    /// The schema of the records [`Self::with_avro_row`] gives (record name `acct_data`).
    pub fn avro_schema(&self, extra: &[&str]) -> String {
        schema_text("acct_data", &self.avro_fields(extra))
    }

    /// Calls `f` with a row's fields as [`Self::avro_fields`] lists them; `extra` gives the
    /// values of the extra string fields. `stamps` is (bin start, purge time).
    pub fn with_avro_row<R>(
        &self,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
        extra: &[(&str, &str)],
        f: impl FnOnce(&AvroFields) -> R,
    ) -> R {
        let mut texts: Vec<String> = Vec::with_capacity(self.columns.len() + 2);
        for p in &self.columns {
            let mut v = String::new();
            self.push_value(&mut v, *p, key, counters);
            texts.push(v);
        }
        let (inserted, updated) = match (self.stamps, stamps) {
            (true, Some((i, u))) => (self.stamp(i), self.stamp(u)),
            _ => (String::new(), String::new()),
        };
        let mut fields: Vec<(&str, AvroValue)> = Vec::with_capacity(texts.len() + 8);
        if let Some(event) = self.event_type {
            fields.push(("event_type", AvroValue::Str(event)));
        }
        for (p, text) in self.columns.iter().zip(&texts) {
            let c = p.column();
            let value = match (c.json_string, p.is_coordinate()) {
                (true, _) => AvroValue::Str(text),
                (false, true) => AvroValue::Double(text.parse::<f64>().unwrap_or(0.0)),
                (false, false) => AvroValue::Long(text.parse::<u64>().map_or(0, long)),
            };
            fields.push((c.json, value));
        }
        if self.stamps {
            fields.push(("stamp_inserted", AvroValue::Str(&inserted)));
            fields.push(("stamp_updated", AvroValue::Str(&updated)));
        }
        fields.push(("packets", AvroValue::Long(long(counters.packets))));
        fields.push(("bytes", AvroValue::Long(long(counters.bytes))));
        for (name, value) in extra {
            fields.push((name, AvroValue::Str(value)));
        }
        f(&fields)
    }
}

/// A counter as Avro's signed long (saturating: 2^63 bytes is not a real count).
fn long(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::key::{Addr, Counters, FlowKey};
    use crate::primitive::Primitive;

    #[test]
    fn longs_are_zigzag_varints() {
        let enc = |v| {
            let mut out = Vec::new();
            push_long(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(-1), [1]);
        assert_eq!(enc(1), [2]);
        assert_eq!(enc(-64), [0x7f]);
        assert_eq!(enc(64), [0x80, 0x01]);
        assert_eq!(enc(1500), [0xb8, 0x17]);
        assert_eq!(
            enc(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(avro_name("ip_src"), "ip_src");
        assert_eq!(avro_name("a-b.c"), "a_b_c");
        assert_eq!(avro_name("1x"), "_1x");
    }

    #[test]
    fn a_row_has_the_json_fields_typed_and_encodes_both_ways() {
        let mut f = RowFormat::new(
            Format::Json,
            [Primitive::SrcHost, Primitive::DstPort, Primitive::Proto],
        );
        f.stamps = true;
        let key = FlowKey {
            src_host: Addr("10.0.0.1".parse().expect("ip")),
            dst_port: 443,
            proto: 6,
            ..FlowKey::default()
        };
        let c = Counters {
            packets: 3,
            bytes: 1500,
            ..Counters::default()
        };
        assert_eq!(
            f.avro_schema(&["writer_id"]),
            "{\n  \"type\": \"record\",\n  \"name\": \"acct_data\",\n  \"fields\": [\n    {\"name\": \"event_type\", \"type\": \"string\"},\n    {\"name\": \"ip_src\", \"type\": \"string\"},\n    {\"name\": \"port_dst\", \"type\": \"long\"},\n    {\"name\": \"ip_proto\", \"type\": \"string\"},\n    {\"name\": \"stamp_inserted\", \"type\": \"string\"},\n    {\"name\": \"stamp_updated\", \"type\": \"string\"},\n    {\"name\": \"packets\", \"type\": \"long\"},\n    {\"name\": \"bytes\", \"type\": \"long\"},\n    {\"name\": \"writer_id\", \"type\": \"string\"}\n  ]\n}\n"
        );
        let extra = [("writer_id", "k/1")];
        let json = f.with_avro_row(&key, &c, Some((0, 60)), &extra, |fields| {
            let mut s = String::new();
            push_json(&mut s, fields);
            s
        });
        assert_eq!(
            json,
            "{\"event_type\": \"purge\", \"ip_src\": \"10.0.0.1\", \"port_dst\": 443, \"ip_proto\": \"tcp\", \"stamp_inserted\": \"1970-01-01 00:00:00\", \"stamp_updated\": \"1970-01-01 00:01:00\", \"packets\": 3, \"bytes\": 1500, \"writer_id\": \"k/1\"}"
        );
        let bin = f.with_avro_row(&key, &c, Some((0, 60)), &extra, |fields| {
            let mut out = Vec::new();
            push_binary(&mut out, fields);
            out
        });
        let mut want = vec![10];
        want.extend_from_slice(b"purge");
        want.push(16);
        want.extend_from_slice(b"10.0.0.1");
        want.extend_from_slice(&[0xf6, 0x06, 6]);
        want.extend_from_slice(b"tcp");
        want.push(38);
        want.extend_from_slice(b"1970-01-01 00:00:00");
        want.push(38);
        want.extend_from_slice(b"1970-01-01 00:01:00");
        want.extend_from_slice(&[6, 0xb8, 0x17, 6]);
        want.extend_from_slice(b"k/1");
        assert_eq!(bin, want);
    }
}
