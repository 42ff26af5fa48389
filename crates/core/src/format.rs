//! pmacct's output formats (formatted, csv, json) over any `io::Write`, shared by the print
//! plugin and the `pmacct` client.

use std::io::{self, Write};

use jiff::tz::TimeZone;

use crate::bins::format_stamp;
use crate::key::{Counters, FlowKey, Timestamp};
use crate::primitive::Primitive;
use crate::protocols::protocol_name;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Formatted,
    Csv,
    Json,
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
            Format::Json => Ok(()),
        }
    }

    /// One row. `stamps` is (bin start, purge time) for JSON with history.
    pub fn write_row(
        &self,
        w: &mut dyn Write,
        key: &FlowKey,
        counters: &Counters,
        stamps: Option<(i64, i64)>,
    ) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        match self.format {
            Format::Formatted => {
                for p in &self.columns {
                    pad(&mut line, &self.value(*p, key, counters), p.column().width);
                }
                pad(&mut line, &counters.packets.to_string(), PACKETS_WIDTH);
                line.push_str(&counters.bytes.to_string());
            }
            Format::Csv => {
                for p in &self.columns {
                    line.push_str(&self.value(*p, key, counters));
                    line.push_str(&self.separator);
                }
                line.push_str(&counters.packets.to_string());
                line.push_str(&self.separator);
                line.push_str(&counters.bytes.to_string());
            }
            Format::Json => {
                line.push('{');
                let mut sep = "";
                if let Some(event) = self.event_type {
                    line.push_str("\"event_type\": ");
                    json_string(&mut line, event);
                    sep = ", ";
                }
                for p in &self.columns {
                    let c = p.column();
                    let v = self.value(*p, key, counters);
                    line.push_str(sep);
                    sep = ", ";
                    line.push('"');
                    line.push_str(c.json);
                    line.push_str("\": ");
                    if c.json_string {
                        json_string(&mut line, &v);
                    } else {
                        line.push_str(&v);
                    }
                }
                if let (true, Some((inserted, updated))) = (self.stamps, stamps) {
                    line.push_str(sep);
                    sep = ", ";
                    line.push_str("\"stamp_inserted\": ");
                    json_string(&mut line, &self.stamp(inserted));
                    line.push_str(", \"stamp_updated\": ");
                    json_string(&mut line, &self.stamp(updated));
                }
                line.push_str(&format!(
                    "{sep}\"packets\": {}, \"bytes\": {}}}",
                    counters.packets, counters.bytes
                ));
            }
        }
        writeln!(w, "{line}")
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
    pub fn value(&self, p: Primitive, k: &FlowKey, counters: &Counters) -> String {
        match p {
            Primitive::SrcMac => k.src_mac.to_string(),
            Primitive::DstMac => k.dst_mac.to_string(),
            Primitive::Vlan => k.vlan.to_string(),
            Primitive::InCvlan => k.cvlan.to_string(),
            Primitive::Cos => k.cos.to_string(),
            Primitive::Etype => format!("{:x}", k.etype),
            Primitive::InIface => k.in_iface.to_string(),
            Primitive::OutIface => k.out_iface.to_string(),
            Primitive::SrcHost => k.src_host.to_string(),
            Primitive::SrcNet => k.src_net.to_string(),
            Primitive::DstHost => k.dst_host.to_string(),
            Primitive::DstNet => k.dst_net.to_string(),
            Primitive::SrcMask => k.src_mask.to_string(),
            Primitive::DstMask => k.dst_mask.to_string(),
            Primitive::SrcPort => k.src_port.to_string(),
            Primitive::DstPort => k.dst_port.to_string(),
            Primitive::TcpFlags => counters.tcp_flags.to_string(),
            Primitive::Proto => {
                if self.num_protos {
                    k.proto.to_string()
                } else {
                    protocol_name(k.proto)
                }
            }
            Primitive::Tos => k.tos.to_string(),
            Primitive::TimestampArrival => self.timestamp(k.timestamp_arrival),
        }
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
    use crate::key::Addr;

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
}
