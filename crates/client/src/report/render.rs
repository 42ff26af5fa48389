//! The report as a table (human units), CSV or JSON.

use std::io::{self, Write};

use super::{ReportOptions, Row};

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
                    .map(|(p, d, up)| {
                        serde_json::json!({"peer": p.to_string(), "download_bytes": d, "upload_bytes": up})
                    })
                    .collect();
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
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

fn table(rows: &[Row], o: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let w = Widths::of(rows);
    let per_w = w.period;
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
            for (p, d, pu) in top_peers(r, o.top) {
                writeln!(
                    out,
                    "{:<per_w$}    peer {p}: down {}, up {}",
                    "",
                    bytes(d, o.exact),
                    bytes(pu, o.exact)
                )?;
            }
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
