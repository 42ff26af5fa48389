//! The query protocol between the `pmacct` client and the memory plugin.
//!
//! One request and one response per connection, each a single line of JSON terminated by `\n`.
//! Both carry `"protocol": 1`; a daemon answers a request of another version with an error
//! naming both versions, and the client checks the response's version the same way.
//! See docs/client.md for the full description.

use serde::{Deserialize, Serialize};

use crate::key::{Addr, Counters, FlowKey, Mac};
use crate::primitive::Primitive;
use crate::protocols::protocol_number;

pub const PROTOCOL_VERSION: u32 = 1;

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
                Primitive::SrcHost | Primitive::SrcNet | Primitive::DstHost | Primitive::DstNet => {
                    let a = Addr(value.parse().map_err(|_| bad())?);
                    match p {
                        Primitive::SrcHost => k.src_host = a,
                        Primitive::SrcNet => k.src_net = a,
                        Primitive::DstHost => k.dst_host = a,
                        _ => k.dst_net = a,
                    }
                }
                Primitive::Proto => k.proto = protocol_number(value).ok_or_else(bad)?,
                Primitive::Etype => k.etype = u16::from_str_radix(value, 16).map_err(|_| bad())?,
                Primitive::TimestampArrival | Primitive::TcpFlags => {
                    return Err(format!("matching on {name} is not supported"))
                }
                _ => {
                    let n: u64 = value.parse().map_err(|_| bad())?;
                    let n16 = u16::try_from(n).map_err(|_| bad())?;
                    let n8 = u8::try_from(n).unwrap_or(u8::MAX);
                    match p {
                        Primitive::Vlan => k.vlan = n16,
                        Primitive::InCvlan => k.cvlan = n16,
                        Primitive::Cos => k.cos = n8,
                        Primitive::InIface => k.in_iface = n as u32,
                        Primitive::OutIface => k.out_iface = n as u32,
                        Primitive::SrcMask => k.src_mask = n8,
                        Primitive::DstMask => k.dst_mask = n8,
                        Primitive::SrcPort => k.src_port = n16,
                        Primitive::DstPort => k.dst_port = n16,
                        Primitive::Tos => k.tos = n8,
                        _ => return Err(bad()),
                    }
                }
            }
            fields.push((p, k));
        }
        Ok(Matcher { fields })
    }

    pub fn matches(&self, key: &FlowKey) -> bool {
        self.fields.iter().all(|(p, want)| match p {
            Primitive::SrcMac => key.src_mac == want.src_mac,
            Primitive::DstMac => key.dst_mac == want.dst_mac,
            Primitive::Vlan => key.vlan == want.vlan,
            Primitive::InCvlan => key.cvlan == want.cvlan,
            Primitive::Cos => key.cos == want.cos,
            Primitive::Etype => key.etype == want.etype,
            Primitive::InIface => key.in_iface == want.in_iface,
            Primitive::OutIface => key.out_iface == want.out_iface,
            Primitive::SrcHost => key.src_host == want.src_host,
            Primitive::SrcNet => key.src_net == want.src_net,
            Primitive::DstHost => key.dst_host == want.dst_host,
            Primitive::DstNet => key.dst_net == want.dst_net,
            Primitive::SrcMask => key.src_mask == want.src_mask,
            Primitive::DstMask => key.dst_mask == want.dst_mask,
            Primitive::SrcPort => key.src_port == want.src_port,
            Primitive::DstPort => key.dst_port == want.dst_port,
            Primitive::Proto => key.proto == want.proto,
            Primitive::Tos => key.tos == want.tos,
            Primitive::TcpFlags | Primitive::TimestampArrival => true,
        })
    }
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
