//! The query protocol between the `pmacct` client and the memory plugin.
//!
//! One request and one response per connection, each a single line of JSON terminated by `\n`.
//! Both carry `"protocol": 1`; a daemon answers a request of another version with an error
//! naming both versions, and the client checks the response's version the same way.
//! See docs/client.md for the full description.

use std::io::{self, Write};

use crate::labels::LabelId;
use serde::{Deserialize, Serialize};

use crate::key::{Addr, Counters, FlowKey, KeyFields, Mac};
use crate::layout::KeyLayout;
use crate::primitive::{Aggregate, Primitive};
use crate::protocols::protocol_number;
use crate::table::SortedRows;

/// 2: responses carry their entries packed after the JSON line (see [`write_response`]).
pub const PROTOCOL_VERSION: u32 = 2;

/// What the client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The whole table (`-s`).
    Dump,
    /// Entries matching each query (`-M`, `-N`); `reset` zeroes what matched (`-r`).
    Match { queries: Vec<Query>, reset: bool },
    /// Empty the table (`-e`).
    Erase,
    /// Table status (`-t`, `-i`).
    Status,
}

/// One query: a value (or `*`) per primitive of `-c`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub fields: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub protocol: u32,
    #[serde(flatten)]
    pub op: Op,
}

/// One table entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: FlowKey,
    pub counters: Counters,
}

/// The table's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStatus {
    pub entries: usize,
    pub max_entries: Option<usize>,
    /// Packets (and their bytes) whose new key did not fit in the bounded table.
    pub overflow_packets: u64,
    pub overflow_bytes: u64,
    /// Seconds since the last erase (or start), as the daemon saw it.
    pub seconds_since_erase: Option<u64>,
    pub erased_ever: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub protocol: u32,
    /// Primitive names of the plugin's aggregate, canonical order.
    pub columns: Vec<String>,
    /// Entries of a dump, or one list per query of a match.
    pub results: Vec<Vec<Entry>>,
    pub status: TableStatus,
    pub error: Option<String>,
    /// The keys carry a time bin (a memory plugin with `imt_history`): `key.bin` is its start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bins: bool,
    /// The daemon's custom primitives (`aggregate_primitives`), by slot, when it has any: a
    /// client learns their names and how to print them from here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<crate::custom::CustomDef>,
    /// On the wire: the entries follow the JSON line packed, this many per result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<Packed>,
    /// A dump's entries still packed, straight from the table (sent as they are, instead of
    /// `results`); never part of the JSON.
    #[serde(skip)]
    pub dump: Option<SortedRows>,
}

/// How the packed entries after a response's JSON line are laid out: per entry, the key's
/// words (the [`KeyLayout`] of the columns) then packets, bytes, flows and TCP flags, every word
/// a little-endian u64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packed {
    pub key_words: usize,
    pub counts: Vec<usize>,
    /// The daemon's label table (index = the id in the keys), when the columns have `label`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The daemon's custom value table in hex (index = the id in the keys), when the columns
    /// have custom primitives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_values: Vec<String>,
}

fn layout_of(columns: &[String], bins: bool) -> Result<KeyLayout, String> {
    let mut aggregate = Aggregate {
        columns: Default::default(),
        sum: None,
    };
    for c in columns {
        let p = Primitive::parse(c)
            .ok_or_else(|| format!("the daemon reported an unknown primitive '{c}'"))?;
        aggregate.columns.insert(p);
        // `*_host_coords` is one name for two columns.
        aggregate.columns.extend(p.companion());
    }
    Ok(KeyLayout::new(&aggregate, bins))
}

/// Writes a response: one JSON line (its entries left out and described by [`Packed`]), then
/// the entries packed. A million 5-tuple entries take 72 MB instead of 210 MB of JSON, and
/// cost a copy instead of a parse.
pub fn write_response(out: &mut dyn Write, response: &Response) -> io::Result<()> {
    if let Some(rows) = &response.dump {
        return write_dump(out, response, rows);
    }
    let layout = match layout_of(&response.columns, response.bins) {
        Ok(l) if !response.results.is_empty() => l,
        _ => {
            serde_json::to_writer(&mut *out, response).map_err(io::Error::other)?;
            return out.write_all(b"\n");
        }
    };
    let counts = response.results.iter().map(Vec::len).collect();
    let mut packer = Packer::start(out, response, layout.words(), counts)?;
    let mut words = vec![0u64; layout.words()];
    for entry in response.results.iter().flatten() {
        words.iter_mut().for_each(|w| *w = 0);
        layout.encode(&entry.key, &mut words);
        packer.push(&words, &entry.counters)?;
    }
    packer.finish()
}

/// A dump straight from the table's sorted rows: no decoding, no encoding.
fn write_dump(out: &mut dyn Write, response: &Response, rows: &SortedRows) -> io::Result<()> {
    let mut packer = Packer::start(out, response, rows.width(), vec![rows.len()])?;
    for i in 0..rows.len() {
        let (key, counters) = rows.packed(i);
        packer.push(key, &counters)?;
    }
    packer.finish()
}

/// Writes the header line, then packed entries through a 64 KiB buffer.
struct Packer<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
}

impl<'a> Packer<'a> {
    fn start(
        out: &'a mut dyn Write,
        response: &Response,
        key_words: usize,
        counts: Vec<usize>,
    ) -> io::Result<Packer<'a>> {
        let texts = |c: &String| {
            crate::primitive::Primitive::parse(c).is_some_and(|p| p.is_interned_text())
        };
        let labels = match response.columns.iter().any(texts) {
            true => crate::labels::all(),
            false => Vec::new(),
        };
        let custom_values = match response.custom.is_empty() {
            false => crate::custom::all_values()
                .iter()
                .map(|v| crate::custom::to_hex(v))
                .collect(),
            true => Vec::new(),
        };
        let header = Response {
            packed: Some(Packed {
                key_words,
                counts,
                labels,
                custom_values,
            }),
            ..response.clone_without_results()
        };
        serde_json::to_writer(&mut *out, &header).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        Ok(Packer {
            out,
            buf: Vec::with_capacity(64 << 10),
        })
    }

    fn push(&mut self, key: &[u64], c: &Counters) -> io::Result<()> {
        let counters = [c.packets, c.bytes, c.flows, u64::from(c.tcp_flags)];
        for w in key.iter().chain(&counters) {
            self.buf.extend_from_slice(&w.to_le_bytes());
        }
        if self.buf.len() >= 64 << 10 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        self.out.write_all(&self.buf)
    }
}

/// Reads a response written by [`write_response`] (or a plain JSON one).
pub fn read_response(bytes: &[u8]) -> Result<Response, String> {
    let (head, rest) = match bytes.iter().position(|b| *b == b'\n') {
        Some(n) => (&bytes[..n], &bytes[n + 1..]),
        None => (bytes, &[][..]),
    };
    let mut response: Response =
        serde_json::from_slice(head).map_err(|e| format!("invalid answer from the daemon: {e}"))?;
    if !response.custom.is_empty() {
        crate::custom::install(response.custom.clone());
    }
    let Some(packed) = response.packed.take() else {
        return Ok(response);
    };
    let layout = layout_of(&response.columns, response.bins)?;
    if packed.key_words != layout.words() {
        return Err(format!(
            "invalid answer from the daemon: {} key words for columns of {}",
            packed.key_words,
            layout.words()
        ));
    }
    let stride = (packed.key_words + 4) * 8;
    let total: usize = packed.counts.iter().sum();
    if rest.len() != total.saturating_mul(stride) {
        return Err(format!(
            "invalid answer from the daemon: {} bytes of entries for {total} entries of {stride}",
            rest.len()
        ));
    }
    let labels = crate::labels::adopt(&packed.labels);
    let values: Vec<Vec<u8>> = packed
        .custom_values
        .iter()
        .map(|h| crate::custom::from_hex(h))
        .collect::<Option<_>>()
        .ok_or("invalid answer from the daemon: a custom value is not hex")?;
    let values = crate::custom::adopt(&values);
    let mut chunks = rest.chunks_exact(stride);
    let mut words = vec![0u64; packed.key_words + 4];
    for count in packed.counts {
        let mut entries = Vec::with_capacity(count);
        for chunk in chunks.by_ref().take(count) {
            for (w, b) in words.iter_mut().zip(chunk.chunks_exact(8)) {
                let mut le = [0u8; 8];
                le.copy_from_slice(b);
                *w = u64::from_le_bytes(le);
            }
            let c = &words[packed.key_words..];
            let mut key = layout.decode(&words[..packed.key_words]);
            key.map_texts(|id| labels.get(id.0 as usize).copied().unwrap_or(id));
            for id in key.custom.iter_mut().filter(|id| id.0 != 0) {
                *id = values.get(id.0 as usize).copied().unwrap_or_default();
            }
            entries.push(Entry {
                key,
                counters: Counters {
                    packets: c[0],
                    bytes: c[1],
                    flows: c[2],
                    tcp_flags: c[3] as u8,
                },
            });
        }
        response.results.push(entries);
    }
    Ok(response)
}

impl Response {
    fn clone_without_results(&self) -> Response {
        Response {
            protocol: self.protocol,
            columns: self.columns.clone(),
            results: Vec::new(),
            status: self.status.clone(),
            error: self.error.clone(),
            packed: None,
            dump: None,
            bins: self.bins,
            custom: self.custom.clone(),
        }
    }
}

/// A compiled query: for each primitive, the value it must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    fields: Vec<(Primitive, FlowKey)>,
}

impl Matcher {
    /// Compiles a query against the table's columns (`sum` queries use the source column).
    pub fn compile(query: &Query) -> Result<Matcher, String> {
        let mut fields = Vec::new();
        for (name, value) in &query.fields {
            let p = match name.as_str() {
                "sum" | "sum_host" => Primitive::SrcHost,
                "sum_net" => Primitive::SrcNet,
                "sum_port" => Primitive::SrcPort,
                "sum_mac" => Primitive::SrcMac,
                n => Primitive::parse(n).ok_or_else(|| format!("unknown primitive '{n}'"))?,
            };
            if value == "*" {
                continue;
            }
            let mut k = FlowKey::default();
            let bad = || format!("invalid value '{value}' for {name}");
            match p {
                Primitive::SrcMac | Primitive::DstMac => {
                    let mut m = [0u8; 6];
                    let parts: Vec<&str> = value.split(':').collect();
                    if parts.len() != 6 {
                        return Err(bad());
                    }
                    for (i, part) in parts.iter().enumerate() {
                        m[i] = u8::from_str_radix(part, 16).map_err(|_| bad())?;
                    }
                    if p == Primitive::SrcMac {
                        k.src_mac = Mac(m)
                    } else {
                        k.dst_mac = Mac(m)
                    }
                }
                p if p.is_address() => {
                    let a = Addr(value.parse().map_err(|_| bad())?);
                    match p {
                        Primitive::SrcHost => k.src_host = a,
                        Primitive::SrcNet => k.src_net = a,
                        Primitive::DstHost => k.dst_host = a,
                        Primitive::DstNet => k.dst_net = a,
                        Primitive::PeerSrcIp => k.peer_src_ip = a,
                        Primitive::PeerDstIp => k.peer_dst_ip = a,
                        Primitive::PostNatSrcHost => k.post_nat_src_host = a,
                        _ => k.post_nat_dst_host = a,
                    }
                }
                Primitive::Proto => k.proto = protocol_number(value).ok_or_else(bad)?,
                // A label no map set matches nothing (and is not added to the label table).
                Primitive::Label => {
                    k.label = crate::labels::lookup(value).unwrap_or(LabelId(u32::MAX))
                }
                p if p.is_interned_text() => {
                    // A text no record carried matches nothing.
                    let id = crate::labels::lookup(value).unwrap_or(LabelId(u32::MAX));
                    set_geo(&mut k, p, u64::from(id.0));
                }
                p if p.is_country() => match value.as_bytes() {
                    [a, b] => set_geo(&mut k, p, u64::from(*a) << 8 | u64::from(*b)),
                    [] => set_geo(&mut k, p, 0),
                    _ => return Err(bad()),
                },
                p if p.is_coordinate() => {
                    let degrees: f64 = value.parse().map_err(|_| bad())?;
                    let micro = (degrees * 1e6).round() as i32;
                    set_geo(&mut k, p, u64::from(micro as u32));
                }
                Primitive::Tag => k.tag = value.parse().map_err(|_| bad())?,
                Primitive::Tag2 => k.tag2 = value.parse().map_err(|_| bad())?,
                Primitive::SamplingRate => k.sampling_rate = value.parse().map_err(|_| bad())?,
                Primitive::Etype => k.etype = u16::from_str_radix(value, 16).map_err(|_| bad())?,
                p if p.custom_slot().is_some() => {
                    let defs = crate::custom::defs();
                    let slot = p.custom_slot().unwrap_or(0);
                    let def = defs.get(slot).ok_or_else(bad)?;
                    let bytes = def.parse_text(value).ok_or_else(bad)?;
                    // A value no record carried matches nothing.
                    let id =
                        crate::custom::lookup(&bytes).unwrap_or(crate::custom::ValueId(u32::MAX));
                    if let Some(v) = k.custom.get_mut(slot) {
                        *v = id;
                    }
                }
                p if p.is_timestamp() || p == Primitive::TcpFlags || p == Primitive::MplsVpnRd => {
                    return Err(format!("matching on {name} is not supported"))
                }
                _ => {
                    let n: u64 = value.parse().map_err(|_| bad())?;
                    set_number(&mut k, p, n).ok_or_else(bad)?;
                }
            }
            fields.push((p, k));
        }
        Ok(Matcher { fields })
    }

    pub fn matches(&self, key: &FlowKey) -> bool {
        self.fields.iter().all(|(p, want)| match p {
            Primitive::TcpFlags => true,
            Primitive::SrcMac | Primitive::DstMac => key.mac(*p) == want.mac(*p),
            p if p.is_address() => key.addr(*p) == want.addr(*p),
            p if p.is_timestamp() => true,
            p => key.number(*p) == want.number(*p),
        })
    }
}

/// Sets a name or GeoIP primitive of `k` from its number (a text id, two letters, a
/// coordinate in millionths of a degree).
fn set_geo(k: &mut FlowKey, p: Primitive, n: u64) {
    let id = LabelId(n as u32);
    match p {
        Primitive::SrcHostPocode => k.src_pocode = id,
        Primitive::DstHostPocode => k.dst_pocode = id,
        Primitive::SrcAsName => k.src_as_name = id,
        Primitive::DstAsName => k.dst_as_name = id,
        Primitive::SrcHostName => k.src_host_name = id,
        Primitive::DstHostName => k.dst_host_name = id,
        Primitive::SrcHostCountry => k.src_country = n as u16,
        Primitive::DstHostCountry => k.dst_country = n as u16,
        Primitive::SrcHostLat => k.src_lat = n as u32 as i32,
        Primitive::SrcHostLon => k.src_lon = n as u32 as i32,
        Primitive::DstHostLat => k.dst_lat = n as u32 as i32,
        Primitive::DstHostLon => k.dst_lon = n as u32 as i32,
        _ => {}
    }
}

/// Sets the numeric primitive `p` of `k` to `n`; `None` when `n` does not fit its field (a
/// one-byte field takes its largest value instead) or `p` is not a number.
fn set_number(k: &mut FlowKey, p: Primitive, n: u64) -> Option<()> {
    let n8 = u8::try_from(n).unwrap_or(u8::MAX);
    let n16 = || u16::try_from(n).ok();
    let n32 = || u32::try_from(n).ok();
    match p {
        Primitive::Vlan => k.vlan = n16()?,
        Primitive::InCvlan => k.cvlan = n16()?,
        Primitive::Cos => k.cos = n8,
        Primitive::InIface => k.in_iface = n32()?,
        Primitive::OutIface => k.out_iface = n32()?,
        Primitive::SrcMask => k.src_mask = n8,
        Primitive::DstMask => k.dst_mask = n8,
        Primitive::SrcPort => k.src_port = n16()?,
        Primitive::DstPort => k.dst_port = n16()?,
        Primitive::Tos => k.tos = n8,
        Primitive::SrcAs => k.src_as = n32()?,
        Primitive::DstAs => k.dst_as = n32()?,
        Primitive::FwdStatus => k.fwd_status = n8,
        Primitive::NatEvent => k.nat_event = n8,
        Primitive::PostNatSrcPort => k.post_nat_src_port = n16()?,
        Primitive::PostNatDstPort => k.post_nat_dst_port = n16()?,
        Primitive::MplsLabelTop => k.mpls_label_top = n32()?,
        Primitive::MplsLabelBottom => k.mpls_label_bottom = n32()?,
        Primitive::Vxlan => k.vxlan = n32()?,
        Primitive::ExportProtoSeqno => k.export_proto_seqno = n32()?,
        Primitive::ExportProtoVersion => k.export_proto_version = n16()?,
        Primitive::ExportProtoSysid => k.export_proto_sysid = n32()?,
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_form() {
        let r = Request {
            protocol: 1,
            op: Op::Erase,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"protocol":1,"op":"erase"}"#
        );
        let q = Request {
            protocol: 1,
            op: Op::Match {
                queries: vec![Query {
                    fields: vec![("src_host".into(), "10.0.0.1".into())],
                }],
                reset: false,
            },
        };
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), q);
    }

    #[test]
    fn packed_responses_round_trip() {
        let entry = |src: &str, port: u16, bytes: u64| Entry {
            key: FlowKey {
                src_host: Addr(src.parse().unwrap()),
                dst_port: port,
                ..FlowKey::default()
            },
            counters: Counters {
                packets: 2,
                bytes,
                flows: 0,
                tcp_flags: 0x12,
            },
        };
        let r = Response {
            protocol: PROTOCOL_VERSION,
            columns: vec!["src_host".into(), "dst_port".into()],
            results: vec![
                vec![entry("10.0.0.1", 80, 100), entry("2001:db8::1", 443, 7)],
                vec![],
                vec![entry("10.0.0.2", 53, 1)],
            ],
            status: TableStatus {
                entries: 3,
                ..TableStatus::default()
            },
            error: None,
            packed: None,
            dump: None,
            bins: false,
            custom: Vec::new(),
        };
        let mut wire = Vec::new();
        write_response(&mut wire, &r).unwrap();
        // 3 entries of 3 key words + 4 counter words after the JSON line.
        let line = wire.iter().position(|b| *b == b'\n').unwrap();
        assert_eq!(wire.len() - line - 1, 3 * 7 * 8);
        assert_eq!(read_response(&wire), Ok(r.clone()));
        // A cut answer is refused, not misread.
        assert!(
            read_response(&wire[..wire.len() - 1]).is_err_and(|e| e.contains("bytes of entries"))
        );
        // Errors and empty answers stay plain JSON.
        let mut err = r.clone();
        err.results.clear();
        err.error = Some("nope".into());
        let mut wire = Vec::new();
        write_response(&mut wire, &err).unwrap();
        assert_eq!(wire.last(), Some(&b'\n'));
        assert_eq!(read_response(&wire), Ok(err));
    }

    #[test]
    fn matching_with_wildcards() {
        let m = Matcher::compile(&Query {
            fields: vec![
                ("src_host".into(), "10.0.0.1".into()),
                ("proto".into(), "*".into()),
                ("dst_port".into(), "80".into()),
            ],
        })
        .unwrap();
        let mut k = FlowKey {
            src_host: Addr("10.0.0.1".parse().unwrap()),
            dst_port: 80,
            proto: 6,
            ..FlowKey::default()
        };
        assert!(m.matches(&k));
        k.dst_port = 81;
        assert!(!m.matches(&k));
        assert_eq!(
            Matcher::compile(&Query {
                fields: vec![("foo".into(), "1".into())]
            }),
            Err("unknown primitive 'foo'".into())
        );
    }
}
