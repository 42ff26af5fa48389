//! pmacct's output formats (formatted, csv, json) over any `io::Write`, shared by the print
//! plugin and the `pmacct` client.

use std::fmt::Write as _;
use std::io::{self, Write};

use jiff::tz::TimeZone;

use crate::bins::format_stamp;
use crate::key::{Counters, KeyFields, Timestamp};
use crate::primitive::Primitive;
use crate::protocols::protocol_label;

pub mod avro;
mod fast;
pub use fast::RowBuffer;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Formatted,
    Csv,
    Json,
    /// InfluxDB line protocol (`pmacct,src_host=... bytes=1i,packets=2i,flows=0i TIME`).
    Influx,
}

/// How rows are rendered.
#[derive(Clone, Debug)]
pub struct RowFormat {
    pub format: Format,
    /// Columns in canonical order.
    pub columns: Vec<Primitive>,
    pub separator: String,
    pub num_protos: bool,
    pub tz: TimeZone,
    pub timestamps_secs: bool,
    pub timestamps_since_epoch: bool,
    /// Print `stamp_inserted`/`stamp_updated` (JSON, with history).
    pub stamps: bool,
    /// The `event_type` JSON objects start with (`"purge"` for the print plugin); `None` leaves
    /// the key out, as the `pmacct` client's JSON does.
    pub event_type: Option<&'static str>,
    /// The line-protocol measurement (`Format::Influx`).
    pub measurement: String,
}

const PACKETS_WIDTH: usize = 22;

impl RowFormat {
    pub fn new(format: Format, columns: impl IntoIterator<Item = Primitive>) -> RowFormat {
        RowFormat {
            format,
            columns: columns.into_iter().collect(),
            separator: ",".into(),
            num_protos: false,
            tz: TimeZone::UTC,
            timestamps_secs: false,
            timestamps_since_epoch: false,
            stamps: false,
            event_type: Some("purge"),
            measurement: "pmacct".into(),
        }
    }

    /// The header line (nothing for JSON).
    pub fn write_header(&self, w: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Formatted => {
                let mut line = String::new();
                for p in &self.columns {
                    let c = p.column();
                    pad(&mut line, c.header, c.width);
                }
                pad(&mut line, "PACKETS", PACKETS_WIDTH);
                line.push_str("BYTES");
                writeln!(w, "{line}")
            }
            Format::Csv => {
                let mut fields: Vec<&str> =
                    self.columns.iter().map(|p| p.column().header).collect();
                fields.push("PACKETS");
                fields.push("BYTES");
                writeln!(w, "{}", fields.join(&self.separator))
            }
            Format::Json | Format::Influx => Ok(()),
        }
    }

    /// One row. `stamps` is (bin start, purge time) for JSON with history.
    pub fn write_row(
        &self,
        w: &mut dyn Write,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        self.push_row(&mut line, key, counters, stamps);
        line.push('\n');
        w.write_all(line.as_bytes())
    }

    /// Appends one row (without its newline) to `line`.
    pub fn push_row(
        &self,
        line: &mut String,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) {
        if self.format == Format::Json {
            return self.push_json(line, key, counters, stamps);
        }
        if self.format == Format::Influx {
            return self.push_influx(line, key, counters, stamps);
        }
        let formatted = self.format == Format::Formatted;
        for p in &self.columns {
            let start = line.len();
            self.push_value(line, *p, key, counters);
            match formatted {
                true => pad_from(line, start, column_width(*p, line.len() - start)),
                false => line.push_str(&self.separator),
            }
        }
        let start = line.len();
        push_u64(line, counters.packets);
        match formatted {
            true => pad_from(line, start, PACKETS_WIDTH),
            false => line.push_str(&self.separator),
        }
        push_u64(line, counters.bytes);
    }

    /// Appends one row and its newline to `out` (the fast path of a purge: see
    /// [`RowBuffer`]). A row longer than the room `out` has left is not appended but comes
    /// back as text, to be written after what `out` holds.
    pub fn append_row(
        &self,
        out: &mut RowBuffer,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) -> Option<String> {
        let start = out.len();
        match self.format {
            Format::Json | Format::Influx => {
                let mut line = String::with_capacity(256);
                self.push_row(&mut line, key, counters, stamps);
                out.text(&line);
            }
            _ => self.build_row(out, key, counters),
        }
        out.byte(b'\n');
        if !out.cut(start) {
            return None;
        }
        let mut line = String::new();
        self.push_row(&mut line, key, counters, stamps);
        line.push('\n');
        Some(line)
    }

    /// A csv or formatted row into `row` (which says if it did not fit).
    fn build_row(&self, row: &mut RowBuffer, key: &impl KeyFields, counters: &Counters) {
        let formatted = self.format == Format::Formatted;
        for p in &self.columns {
            let start = row.len();
            self.build_value(row, *p, key, counters);
            match formatted {
                true => {
                    let n = row.len().saturating_sub(start);
                    row.pad_from(start, column_width(*p, n))
                }
                false => row.text(&self.separator),
            }
        }
        let start = row.len();
        row.decimal(counters.packets);
        match formatted {
            true => row.pad_from(start, PACKETS_WIDTH),
            false => row.text(&self.separator),
        }
        row.decimal(counters.bytes);
    }

    /// [`Self::push_value`] into a [`RowBuffer`]: numbers and IPv4 addresses directly, the
    /// rest through their text.
    #[inline]
    fn build_value(&self, row: &mut RowBuffer, p: Primitive, k: &impl KeyFields, c: &Counters) {
        match p {
            p if p.is_address() => match k.addr(p).0 {
                std::net::IpAddr::V4(v4) => row.ipv4(v4.octets()),
                std::net::IpAddr::V6(v6) => {
                    let mut text = String::with_capacity(40);
                    push_ipv6(&mut text, v6);
                    row.text(&text);
                }
            },
            Primitive::Proto => {
                let proto = k.number(p);
                match (
                    self.num_protos,
                    u8::try_from(proto).ok().and_then(protocol_label),
                ) {
                    (false, Some(name)) => row.text(name),
                    _ => row.decimal(proto),
                }
            }
            Primitive::TcpFlags => row.decimal(u64::from(c.tcp_flags)),
            Primitive::SrcMac | Primitive::DstMac | Primitive::Etype | Primitive::MplsVpnRd => {
                row.text(&self.value(p, k, c))
            }
            p if p.is_timestamp() => row.text(&self.value(p, k, c)),
            p if p.is_interned_text() => row.text(&interned_text(p, k)),
            p if p.is_country() => row.text(&self.value(p, k, c)),
            p if p.is_coordinate() => row.text(&format!("{:.6}", coordinate(k.number(p)))),
            p if p.custom_slot().is_some() => row.text(&self.value(p, k, c)),
            _ => row.decimal(k.number(p)),
        }
    }

    /// A line-protocol point: the measurement, the primitives as tags (empty values left
    /// out; commas, spaces and equals signs escaped), bytes, packets and flows as integer
    /// fields, and the time bin's start (else the purge's time) in seconds.
    fn push_influx(
        &self,
        line: &mut String,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) {
        for c in self.measurement.chars() {
            if matches!(c, ',' | ' ') {
                line.push('\\');
            }
            line.push(c);
        }
        let mut value = String::new();
        for p in &self.columns {
            value.clear();
            self.push_value(&mut value, *p, key, counters);
            if value.is_empty() {
                continue;
            }
            line.push(',');
            line.push_str(tag_name(*p));
            line.push('=');
            for c in value.chars() {
                if matches!(c, ',' | ' ' | '=') {
                    line.push('\\');
                }
                line.push(c);
            }
        }
        line.push_str(" bytes=");
        push_u64(line, counters.bytes);
        line.push_str("i,packets=");
        push_u64(line, counters.packets);
        line.push_str("i,flows=");
        push_u64(line, counters.flows);
        line.push_str("i ");
        let t = match (self.stamps, stamps) {
            (true, Some((bin, _))) => bin,
            (_, Some((_, purged))) => purged,
            _ => 0,
        };
        line.push_str(&t.to_string());
    }

    fn push_json(
        &self,
        line: &mut String,
        key: &impl KeyFields,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) {
        line.push('{');
        let mut sep = "";
        if let Some(event) = self.event_type {
            line.push_str("\"event_type\": ");
            json_string(line, event);
            sep = ", ";
        }
        let mut value = String::new();
        for p in &self.columns {
            let c = p.column();
            line.push_str(sep);
            sep = ", ";
            line.push('"');
            line.push_str(c.json);
            line.push_str("\": ");
            if c.json_string {
                value.clear();
                self.push_value(&mut value, *p, key, counters);
                json_string(line, &value);
            } else if p.is_coordinate() {
                push_coordinate(line, key.number(*p));
            } else {
                self.push_value(line, *p, key, counters);
            }
        }
        if let (true, Some((inserted, updated))) = (self.stamps, stamps) {
            line.push_str(sep);
            sep = ", ";
            line.push_str("\"stamp_inserted\": ");
            json_string(line, &self.stamp(inserted));
            line.push_str(", \"stamp_updated\": ");
            json_string(line, &self.stamp(updated));
        }
        line.push_str(sep);
        line.push_str("\"packets\": ");
        push_u64(line, counters.packets);
        line.push_str(", \"bytes\": ");
        push_u64(line, counters.bytes);
        line.push('}');
    }

    fn stamp(&self, t: i64) -> String {
        if self.timestamps_since_epoch {
            t.to_string()
        } else {
            format_stamp(t, &self.tz)
        }
    }

    fn timestamp(&self, t: Timestamp) -> String {
        match (self.timestamps_since_epoch, self.timestamps_secs) {
            (true, true) => t.secs.to_string(),
            (true, false) => format!("{}.{:06}", t.secs, t.micros),
            (false, true) => format_stamp(t.secs, &self.tz),
            (false, false) => format!("{}.{:06}", format_stamp(t.secs, &self.tz), t.micros),
        }
    }

    /// The text of one primitive's value.
    pub fn value(&self, p: Primitive, k: &impl KeyFields, counters: &Counters) -> String {
        let mut s = String::new();
        self.push_value(&mut s, p, k, counters);
        s
    }

    /// Appends the text of one primitive's value.
    #[inline]
    pub fn push_value(
        &self,
        out: &mut String,
        p: Primitive,
        k: &impl KeyFields,
        counters: &Counters,
    ) {
        match p {
            Primitive::SrcMac | Primitive::DstMac => push_display(out, k.mac(p)),
            p if p.is_address() => push_addr(out, k.addr(p)),
            Primitive::MplsVpnRd => push_rd(out, k.number(p)),
            Primitive::Etype => {
                let _ = write!(out, "{:x}", k.number(p));
            }
            Primitive::TcpFlags => push_u64(out, u64::from(counters.tcp_flags)),
            Primitive::Proto => {
                let proto = k.number(p);
                match (
                    self.num_protos,
                    u8::try_from(proto).ok().and_then(protocol_label),
                ) {
                    (false, Some(name)) => out.push_str(name),
                    _ => push_u64(out, proto),
                }
            }
            p if p.is_timestamp() => out.push_str(&self.timestamp(k.timestamp(p))),
            p if p.is_interned_text() => out.push_str(&interned_text(p, k)),
            p if p.is_country() => push_country(out, k.number(p)),
            p if p.is_coordinate() => {
                let _ = write!(out, "{:.6}", coordinate(k.number(p)));
            }
            p if p.custom_slot().is_some() => push_custom(out, p, k),
            _ => push_u64(out, k.number(p)),
        }
    }
}

/// A route distinguisher as pmacct prints it: `type:administrator:assigned` (type 0: 2-byte AS
/// and 4-byte number; 1: IPv4 address and 2-byte number; 2: 4-byte AS and 2-byte number).
pub fn push_rd(out: &mut String, rd: u64) {
    let kind = rd >> 48;
    let _ = match kind {
        0 => write!(out, "0:{}:{}", (rd >> 32) & 0xffff, rd & 0xffff_ffff),
        1 => write!(
            out,
            "1:{}:{}",
            std::net::Ipv4Addr::from(((rd >> 16) & 0xffff_ffff) as u32),
            rd & 0xffff
        ),
        _ => write!(out, "{kind}:{}:{}", (rd >> 16) & 0xffff_ffff, rd & 0xffff),
    };
}

/// A custom primitive's value, as text.
pub fn push_custom(out: &mut String, p: Primitive, k: &impl KeyFields) {
    let defs = crate::custom::defs();
    let Some(def) = p.custom_slot().and_then(|slot| defs.get(slot)) else {
        return;
    };
    let id = crate::custom::ValueId(k.number(p) as u32);
    def.push_text(out, &crate::custom::bytes(id));
}

/// A coordinate as a JSON number (`0.0` for none, as pmacct prints it).
fn push_coordinate(out: &mut String, n: u64) {
    let v = coordinate(n);
    let _ = write!(out, "{v}");
    if v.fract() == 0.0 {
        out.push_str(".0");
    }
}

/// Appends a value's `Display` text without an intermediate string.
#[inline]
fn push_display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// Appends a number in decimal (the formatter's machinery costs more than the digits). The
/// short numbers of most columns (ports, protocols, packets) go in byte by byte: cheaper than a
/// call to copy a few bytes.
#[inline]
fn push_u64(out: &mut String, v: u64) {
    if v >= 100_000 {
        out.push_str(itoa::Buffer::new().format(v));
        return;
    }
    let v = v as u32;
    let mut divisor = match v {
        0..=9 => 1,
        10..=99 => 10,
        100..=999 => 100,
        1000..=9999 => 1000,
        _ => 10_000,
    };
    while divisor > 0 {
        out.push(char::from(b'0' + (v / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// The decimal digits of each byte value, and how many there are.
static OCTETS: [([u8; 3], u8); 256] = {
    let mut table = [([0u8; 3], 0u8); 256];
    let mut v = 0;
    while v < 256 {
        let b = v as u8;
        table[v] = match b {
            0..=9 => ([b'0' + b, 0, 0], 1),
            10..=99 => ([b'0' + b / 10, b'0' + b % 10, 0], 2),
            _ => ([b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10], 3),
        };
        v += 1;
    }
    table
};

/// Appends an address as its `Display` text (RFC 5952 for IPv6), without the formatter.
#[inline]
pub(crate) fn push_addr(out: &mut String, a: crate::key::Addr) {
    match a.0 {
        std::net::IpAddr::V4(v4) => push_ipv4(out, v4),
        std::net::IpAddr::V6(v6) => push_ipv6(out, v6),
    }
}

fn push_ipv4(out: &mut String, v4: std::net::Ipv4Addr) {
    for (n, o) in v4.octets().into_iter().enumerate() {
        if n > 0 {
            out.push('.');
        }
        let (digits, len) = &OCTETS[usize::from(o)];
        for &d in &digits[..usize::from(*len)] {
            out.push(char::from(d));
        }
    }
}

/// RFC 5952, as `Ipv6Addr`'s `Display`: IPv4-mapped addresses end in dotted quad; otherwise
/// lowercase hex groups without leading zeros, the longest run of two or more zero groups
/// (the first of equals) written `::`.
fn push_ipv6(out: &mut String, v6: std::net::Ipv6Addr) {
    if let Some(v4) = v6.to_ipv4_mapped() {
        out.push_str("::ffff:");
        return push_ipv4(out, v4);
    }
    let g = v6.segments();
    // IPv4-compatible (::a.b.c.d), as inet_ntop prints it.
    if g[..6] == [0; 6] && g[6] != 0 {
        out.push_str("::");
        let [a, b] = g[6].to_be_bytes();
        let [c, d] = g[7].to_be_bytes();
        return push_ipv4(out, std::net::Ipv4Addr::new(a, b, c, d));
    }
    let (mut best, mut run) = ((0, 0), (0, 0));
    for (i, &x) in g.iter().enumerate() {
        if x != 0 {
            continue;
        }
        run = if run.1 > 0 && run.0 + run.1 == i {
            (run.0, run.1 + 1)
        } else {
            (i, 1)
        };
        if run.1 > best.1 {
            best = run;
        }
    }
    let hex = |out: &mut String, groups: &[u16]| {
        for (n, x) in groups.iter().enumerate() {
            if n > 0 {
                out.push(':');
            }
            push_hex(out, *x);
        }
    };
    if best.1 > 1 {
        hex(out, &g[..best.0]);
        out.push_str("::");
        hex(out, &g[best.0 + best.1..]);
    } else {
        hex(out, &g);
    }
}

fn push_hex(out: &mut String, x: u16) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12, 8, 4, 0] {
        let d = usize::from((x >> shift) & 0xf);
        if d != 0 || started || shift == 0 {
            started = true;
            out.push(char::from(DIGITS[d]));
        }
    }
}

/// Pads what was appended since `start` to `width` columns, as [`pad`] (values are ASCII, so
/// their length in bytes is their width).
/// The width a formatted column takes with a value of `n` bytes: its own, or the value and one
/// space when longer (custom primitives: two spaces, as pmacct 1.7.7 prints them).
#[inline]
fn column_width(p: Primitive, n: usize) -> usize {
    let width = p.column().width;
    match p.custom_slot() {
        Some(_) => width.max(n + 2),
        // pmacct prints coordinates with two spaces after, whatever the header's width.
        None if p.is_coordinate() => n + 2,
        None => width,
    }
}

/// A primitive's name as a tag or label (a coordinate by its column: `lat_ip_src`).
pub fn tag_name(p: Primitive) -> &'static str {
    match p.is_coordinate() {
        true => p.column().json,
        false => p.name(),
    }
}

/// A country code's two letters (nothing for 0).
pub fn push_country(out: &mut String, code: u64) {
    for b in [(code >> 8) as u8, code as u8] {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        }
    }
}

/// A coordinate kept in millionths of a degree, in degrees.
pub fn coordinate(n: u64) -> f64 {
    f64::from(n as u32 as i32) / 1e6
}

/// The text of an interned text primitive (label, postal code, AS name, host name).
fn interned_text(p: Primitive, k: &impl KeyFields) -> std::sync::Arc<str> {
    crate::labels::text(crate::labels::LabelId(k.number(p) as u32))
}

fn pad_from(line: &mut String, start: usize, width: usize) {
    let n = line.len().saturating_sub(start);
    if n < width {
        line.extend(std::iter::repeat_n(' ', width - n));
    } else {
        line.push(' ');
    }
}

/// Appends `s` left-aligned in `width` columns (pmacct's `%-Ns` plus separator spaces; a longer
/// value is followed by one space so columns never run together).
fn pad(line: &mut String, s: &str, width: usize) {
    line.push_str(s);
    let n = s.chars().count();
    if n < width {
        line.extend(std::iter::repeat_n(' ', width - n));
    } else {
        line.push(' ');
    }
}

fn json_string(line: &mut String, s: &str) {
    line.push('"');
    for c in s.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if (c as u32) < 0x20 => line.push_str(&format!("\\u{:04x}", c as u32)),
            c => line.push(c),
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Addr, FlowKey};

    fn key() -> (FlowKey, Counters) {
        let k = FlowKey {
            src_host: Addr("10.0.0.1".parse().unwrap()),
            dst_host: Addr("10.0.0.2".parse().unwrap()),
            src_port: 12345,
            dst_port: 80,
            proto: 6,
            ..FlowKey::default()
        };
        (
            k,
            Counters {
                packets: 3,
                bytes: 150,
                flows: 0,
                tcp_flags: 18,
            },
        )
    }

    fn render(format: Format, stamps: bool) -> String {
        let mut f = RowFormat::new(
            format,
            [
                Primitive::SrcHost,
                Primitive::DstHost,
                Primitive::SrcPort,
                Primitive::DstPort,
                Primitive::TcpFlags,
                Primitive::Proto,
            ],
        );
        f.stamps = stamps;
        let (k, c) = key();
        let mut out = Vec::new();
        f.write_header(&mut out).unwrap();
        f.write_row(&mut out, &k, &c, Some((1_764_181_800, 1_764_181_897)))
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_as_pmacct() {
        assert_eq!(
            render(Format::Csv, false),
            "SRC_IP,DST_IP,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,PACKETS,BYTES\n10.0.0.1,10.0.0.2,12345,80,18,tcp,3,150\n"
        );
    }

    #[test]
    fn json_as_pmacct() {
        assert_eq!(
            render(Format::Json, true),
            "{\"event_type\": \"purge\", \"ip_src\": \"10.0.0.1\", \"ip_dst\": \"10.0.0.2\", \"port_src\": 12345, \"port_dst\": 80, \"tcp_flags\": \"18\", \"ip_proto\": \"tcp\", \"stamp_inserted\": \"2025-11-26 18:30:00\", \"stamp_updated\": \"2025-11-26 18:31:37\", \"packets\": 3, \"bytes\": 150}\n"
        );
    }

    #[test]
    fn formatted_as_pmacct() {
        let out = render(Format::Formatted, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "{:<47}{:<47}{:<10}{:<10}{:<11}{:<12}{:<22}BYTES",
                "SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "TCP_FLAGS", "PROTOCOL", "PACKETS"
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "{:<47}{:<47}{:<10}{:<10}{:<11}{:<12}{:<22}150",
                "10.0.0.1", "10.0.0.2", "12345", "80", "18", "tcp", "3"
            )
        );
    }

    /// Addresses print exactly as their `Display` does.
    /// Every primitive in a row built in a row buffer reads as appended value by value,
    /// with IPv4 and IPv6 hosts, numeric and named protocols, csv and formatted.
    #[test]
    fn fast_rows_equal_general_rows() {
        let (mut k, c) = key();
        k.src_mac = crate::key::Mac([0, 1, 2, 0xab, 0xcd, 0xef]);
        k.vlan = 100;
        k.etype = 0x86dd;
        k.timestamp_arrival = Timestamp {
            secs: 1_700_000_000,
            micros: 5,
        };
        let v6 = FlowKey {
            src_host: Addr("2001:db8::1".parse().unwrap()),
            dst_net: Addr("::ffff:10.1.2.3".parse().unwrap()),
            proto: 250,
            ..k
        };
        for format in [Format::Csv, Format::Formatted] {
            for num_protos in [false, true] {
                let mut f = RowFormat::new(format, Primitive::ALL.iter().copied());
                f.num_protos = num_protos;
                for key in [&k, &v6] {
                    let (mut row, mut general) = (RowBuffer::new(0), String::new());
                    assert_eq!(f.append_row(&mut row, key, &c, None), None);
                    f.push_row(&mut general, key, &c, None);
                    general.push('\n');
                    assert_eq!(row.bytes(), general.as_bytes(), "{format:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_print_as_display() {
        let mut values = vec![0, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000];
        values.extend([65_535, 1_234_567, u64::from(u32::MAX), u64::MAX]);
        values.extend((0..2000).map(|v| v * 37));
        for v in values {
            let mut out = String::from("x");
            push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}"));
        }
    }

    #[test]
    fn addresses_print_as_display() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut addrs: Vec<std::net::IpAddr> = [
            "::",
            "::1",
            "1::",
            "1::1",
            "0:0:1::",
            "1:0:0:1:0:0:0:1",
            "1:0:1:0:1:0:1:0",
            "::ffff:10.0.0.1",
            "::1.2.3.4",
            "fe80::1:0:0:1",
            "2001:db8:0:0:1:0:0:1",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for _ in 0..5000 {
            // Random groups, many of them zero.
            let r = next();
            let groups: Vec<u16> = (0..8)
                .map(|i| match (r >> (i * 2)) & 3 {
                    0 | 1 => 0,
                    2 => (next() & 0xf) as u16,
                    _ => next() as u16,
                })
                .collect();
            let g: [u16; 8] = groups.try_into().unwrap();
            addrs.push(std::net::Ipv6Addr::from(g).into());
            addrs.push(std::net::Ipv4Addr::from(next() as u32).into());
        }
        for a in addrs {
            let mut s = String::new();
            push_addr(&mut s, Addr(a));
            // inet_ntop's IPv4-compatible form (`::a.b.c.d`), which Rust no longer prints.
            let compatible = match a {
                std::net::IpAddr::V6(v6) => {
                    let g = v6.segments();
                    (g[..6] == [0; 6] && g[6] != 0).then(|| {
                        let o = v6.octets();
                        format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15])
                    })
                }
                _ => None,
            };
            assert_eq!(s, compatible.unwrap_or_else(|| a.to_string()));
        }
    }
}
