//! The report as a table (human units), CSV or JSON.

use std::io::{self, Write};
use std::net::IpAddr;

use super::{PeerInfo, ReportOptions, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!("--format {text}: expected table, csv or json")),
        }
    }
}

/// The CSV header (an interface: scripts rely on it; new columns come last).
pub const CSV_HEADER: &str =
    "period_start,device,name,download_bytes,upload_bytes,download_packets,upload_packets,vendor";

pub fn write(rows: &[Row], o: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    match o.format {
        Format::Csv => csv(rows, out),
        Format::Json => json(rows, o.top, out),
        Format::Table => table(rows, o, out),
    }
}

/// A CSV field: quoted when it holds a comma or a quote.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

fn csv(rows: &[Row], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for r in rows {
        let u = &r.usage;
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            r.period,
            r.device,
            csv_field(&r.name),
            u.download_bytes,
            u.upload_bytes,
            u.download_packets,
            u.upload_packets,
            csv_field(&r.vendor)
        )?;
    }
    Ok(())
}

/// The `top` peers of a row, most bytes first (ties by address).
pub fn top_peers(r: &Row, top: usize) -> Vec<(std::net::IpAddr, u64, u64)> {
    let mut peers: Vec<_> = r
        .usage
        .peers
        .iter()
        .map(|(p, (d, u))| (*p, *d, *u))
        .collect();
    peers.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    peers.truncate(top);
    peers
}

/// The report's JSON records (the CLI prints them; the web API serves them).
pub fn json_value(rows: &[Row], top: usize) -> serde_json::Value {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let u = &r.usage;
            let mut v = serde_json::json!({
                "period_start": r.period,
                "device": r.device,
                "name": r.name,
                "vendor": r.vendor,
                "download_bytes": u.download_bytes,
                "upload_bytes": u.upload_bytes,
                "download_packets": u.download_packets,
                "upload_packets": u.upload_packets,
            });
            if top > 0 {
                v["peers"] = top_peers(r, top)
                    .into_iter()
                    .map(|(p, d, up)| peer_json(p, d, up, r.usage.peer_info.get(&p)))
                    .collect();
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

/// A peer's JSON record: its address and bytes; with `info` (the source has names, countries
/// or AS), also `name`, `country` and `as` (empty strings when unknown).
pub fn peer_json(peer: IpAddr, down: u64, up: u64, info: Option<&PeerInfo>) -> serde_json::Value {
    let mut v =
        serde_json::json!({"peer": peer.to_string(), "download_bytes": down, "upload_bytes": up});
    if let Some(i) = info {
        v["name"] = i.name().into();
        v["country"] = i.country().into();
        v["as"] = i.as_label().into();
    }
    v
}

fn json(rows: &[Row], top: usize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &json_value(rows, top))?;
    writeln!(out)
}

/// Bytes in decimal units (`1.23 GB`), or exact.
fn bytes(n: u64, exact: bool) -> String {
    if exact || n < 1000 {
        return format!("{n} B");
    }
    let units = ["kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64 / 1000.0;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

/// The widths of the table's text columns; `vendor` is 0 when no row has a vendor: the
/// VENDOR column is shown only when there is one.
#[derive(Clone, Copy)]
struct Widths {
    period: usize,
    device: usize,
    name: usize,
    vendor: usize,
}

impl Widths {
    fn of(rows: &[Row]) -> Widths {
        let widest = |f: fn(&Row) -> usize, least: usize| {
            rows.iter().map(f).max().unwrap_or(least).max(least)
        };
        let vendor = widest(|r| r.vendor.chars().count(), 0);
        Widths {
            period: widest(|r| r.period.len(), 6),
            device: widest(|r| r.device.len(), 6),
            name: widest(|r| r.name.len(), 4),
            vendor: if vendor > 0 { vendor.max(6) } else { 0 },
        }
    }

    /// One line: period, device, name (and vendor), then four numbers.
    fn line(self, out: &mut dyn Write, text: [&str; 4], numbers: [&str; 4]) -> io::Result<()> {
        let Widths {
            period: per_w,
            device: dev_w,
            name: name_w,
            vendor: vendor_w,
        } = self;
        let [period, device, name, vendor] = text;
        write!(out, "{period:<per_w$}  {device:<dev_w$}  {name:<name_w$}")?;
        if vendor_w > 0 {
            write!(out, "  {vendor:<vendor_w$}")?;
        }
        let [down, up, down_packets, up_packets] = numbers;
        writeln!(
            out,
            "  {down:>14}  {up:>14}  {down_packets:>12}  {up_packets:>12}"
        )
    }
}

/// A peer's cells in the table: address, name, country and AS (control characters shown
/// as `?`).
fn peer_cells(peer: IpAddr, info: Option<&PeerInfo>) -> [String; 4] {
    let printable = |t: &str| -> String {
        t.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    match info {
        Some(i) => [
            peer.to_string(),
            printable(i.name()),
            i.country().to_string(),
            printable(&i.as_label()),
        ],
        None => [
            peer.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ],
    }
}

/// The widths of the peers' columns when the source told what the peers are: PEER, NAME, and
/// COUNTRY and AS when some peer shown has one (0: the column is not shown).
#[derive(Clone, Copy)]
struct PeerWidths {
    peer: usize,
    name: usize,
    country: usize,
    asn: usize,
}

impl PeerWidths {
    /// `None` when no peer shown has [`PeerInfo`] (the source has no names): the peers are
    /// lines of their own, `peer ADDRESS: down ..., up ...`.
    fn of(rows: &[Row], top: usize) -> Option<PeerWidths> {
        let mut widths: Option<PeerWidths> = None;
        for r in rows {
            for (p, _, _) in top_peers(r, top) {
                let Some(info) = r.usage.peer_info.get(&p) else {
                    continue;
                };
                let [peer, name, country, asn] =
                    peer_cells(p, Some(info)).map(|c| c.chars().count());
                let w = widths.get_or_insert(PeerWidths {
                    peer: 4,
                    name: 4,
                    country: 0,
                    asn: 0,
                });
                w.peer = w.peer.max(peer);
                w.name = w.name.max(name);
                if country > 0 {
                    w.country = "COUNTRY".len();
                }
                if asn > 0 {
                    w.asn = w.asn.max(asn).max(2);
                }
            }
        }
        widths
    }

    /// One line under a device, indented by `indent`: the peer's text, then bytes down and up.
    fn line(
        self,
        out: &mut dyn Write,
        indent: usize,
        text: [&str; 4],
        numbers: [&str; 2],
    ) -> io::Result<()> {
        let PeerWidths {
            peer: peer_w,
            name: name_w,
            country: country_w,
            asn: as_w,
        } = self;
        let [peer, name, country, asn] = text;
        write!(out, "{:<indent$}    {peer:<peer_w$}  {name:<name_w$}", "")?;
        if country_w > 0 {
            write!(out, "  {country:<country_w$}")?;
        }
        if as_w > 0 {
            write!(out, "  {asn:<as_w$}")?;
        }
        let [down, up] = numbers;
        writeln!(out, "  {down:>14}  {up:>14}")
    }
}

/// A row's top peers, under it: with `widths`, a table of their names (and countries, AS);
/// else a line each.
fn peers(
    out: &mut dyn Write,
    r: &Row,
    o: &ReportOptions,
    widths: Option<PeerWidths>,
    indent: usize,
) -> io::Result<()> {
    let top = top_peers(r, o.top);
    let Some(w) = widths else {
        for (p, d, pu) in top {
            writeln!(
                out,
                "{:<indent$}    peer {p}: down {}, up {}",
                "",
                bytes(d, o.exact),
                bytes(pu, o.exact)
            )?;
        }
        return Ok(());
    };
    if !top.is_empty() {
        w.line(
            out,
            indent,
            ["PEER", "NAME", "COUNTRY", "AS"],
            ["DOWNLOAD", "UPLOAD"],
        )?;
    }
    for (p, d, pu) in top {
        let [peer, name, country, asn] = peer_cells(p, r.usage.peer_info.get(&p));
        w.line(
            out,
            indent,
            [&peer, &name, &country, &asn],
            [&bytes(d, o.exact), &bytes(pu, o.exact)],
        )?;
    }
    Ok(())
}

fn table(rows: &[Row], o: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let w = Widths::of(rows);
    let per_w = w.period;
    let peer_w = PeerWidths::of(rows, o.top);
    w.line(
        out,
        ["PERIOD", "DEVICE", "NAME", "VENDOR"],
        ["DOWNLOAD", "UPLOAD", "DOWN_PACKETS", "UP_PACKETS"],
    )?;
    let mut i = 0;
    while i < rows.len() {
        let period = &rows[i].period;
        let (mut down, mut up, mut dp, mut upk) = (0u64, 0u64, 0u64, 0u64);
        while i < rows.len() && rows[i].period == *period {
            let r = &rows[i];
            let u = &r.usage;
            w.line(
                out,
                [&r.period, &r.device, &r.name, &r.vendor],
                [
                    &bytes(u.download_bytes, o.exact),
                    &bytes(u.upload_bytes, o.exact),
                    &u.download_packets.to_string(),
                    &u.upload_packets.to_string(),
                ],
            )?;
            peers(out, r, o, peer_w, per_w)?;
            down += u.download_bytes;
            up += u.upload_bytes;
            dp += u.download_packets;
            upk += u.upload_packets;
            i += 1;
        }
        w.line(
            out,
            [period, "total", "", ""],
            [
                &bytes(down, o.exact),
                &bytes(up, o.exact),
                &dp.to_string(),
                &upk.to_string(),
            ],
        )?;
    }
    if rows.is_empty() {
        writeln!(
            out,
            "(no traffic of local devices in this table and period)"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_are_decimal() {
        assert_eq!(bytes(999, false), "999 B");
        assert_eq!(bytes(1_234_567, false), "1.23 MB");
        assert_eq!(bytes(5_000_000_000, false), "5.00 GB");
        assert_eq!(bytes(1_234_567, true), "1234567 B");
    }
}
