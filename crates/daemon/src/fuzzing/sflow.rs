//! sfacctd's fuzz target: sFlow v5 datagrams, as bytes and built from structure (samples and
//! records of every kind the decoder knows, nested, with lengths right or chosen), into one
//! collector whose agent and data-source state carries from one datagram to the next, and
//! each record and counter sample down the collector's path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use pmacct_core::key::Timestamp;
use pmacct_flow::{Collector, FlowRecord, Limits, SflowCounters};

/// The sFlow v5 decoder and the collector path: the bytes as one datagram, then datagrams
/// built from the same bytes as structure.
pub fn sflow(data: &[u8]) {
    let mut path = Path::new();
    path.datagram(data);
    let mut u = Unstructured::new(data);
    if let Ok(datagrams) = Vec::<Datagram>::arbitrary(&mut u) {
        for d in &datagrams {
            path.datagram(&d.bytes());
        }
    }
}

/// One collector and what the daemon does with its output.
struct Path {
    collector: Collector,
    records: Vec<FlowRecord>,
    counters: Vec<SflowCounters>,
    header: Vec<u8>,
    log: crate::collector::counters::CounterLog,
}

impl Path {
    fn new() -> Self {
        Path {
            collector: Collector::new(Limits {
                max_exporters: 3,
                ..Limits::default()
            }),
            records: Vec::new(),
            counters: Vec::new(),
            header: Vec::new(),
            log: crate::collector::counters::CounterLog::new(
                std::path::Path::new("/dev/null"),
                "fuzz",
            ),
        }
    }

    fn datagram(&mut self, d: &[u8]) {
        let _ = self
            .collector
            .decode_sflow(d, &mut self.records, &mut self.counters);
        let arrival = Timestamp {
            secs: 1_700_000_000,
            micros: 0,
        };
        for c in self.counters.drain(..) {
            self.log.write(&c, arrival);
        }
        for mut r in self.records.drain(..) {
            if r.seqno % 2 == 1 {
                crate::collector::records::decapsulate_vxlan(&mut r);
            }
            crate::collector::records::filter_header(&r, &mut self.header);
            let (_key, frame) = crate::collector::records::base_key(&r, arrival);
            let clock = crate::collector::FlowClock::Arrival;
            let meta = crate::collector::records::meta(&r, clock, arrival, frame);
            let _ = crate::collector::records::scaled(meta, u64::from(r.effective_rate.max(1)));
        }
    }
}

fn u32s(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A length: the body's, or a chosen one (short, long, huge).
#[derive(Arbitrary, Debug)]
enum Length {
    Right,
    Chosen(u32),
}

/// A sample or record: format, length, body.
fn part(out: &mut Vec<u8>, format: u32, length: &Length, body: &[u8]) {
    let len = match length {
        Length::Right => body.len() as u32,
        Length::Chosen(n) => *n,
    };
    u32s(out, &[format, len]);
    out.extend_from_slice(body);
}

#[derive(Arbitrary, Debug)]
struct Datagram {
    /// One of four agents (IPv4 and IPv6), and an unknown address type.
    agent: u8,
    sub_agent: u8,
    seqno: u8,
    /// The sample count the header announces, when not the true one.
    count: Option<u32>,
    samples: Vec<Sample>,
}

impl Datagram {
    fn bytes(&self) -> Vec<u8> {
        let mut d = Vec::new();
        u32s(&mut d, &[5]);
        match self.agent % 5 {
            0 => address(&mut d, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            1 => address(&mut d, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
            2 => address(&mut d, IpAddr::V6(Ipv6Addr::LOCALHOST)),
            3 => address(&mut d, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
            _ => u32s(&mut d, &[7, 1]),
        }
        let count = self.count.unwrap_or(self.samples.len() as u32);
        u32s(
            &mut d,
            &[
                u32::from(self.sub_agent % 2),
                u32::from(self.seqno),
                1000,
                count,
            ],
        );
        for s in &self.samples {
            s.write(&mut d);
        }
        d
    }
}

fn address(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            u32s(out, &[1]);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            u32s(out, &[2]);
            out.extend_from_slice(&v6.octets());
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Sample {
    Flow {
        expanded: bool,
        head: [u8; 8],
        records: Vec<FlowRecordSpec>,
        length: Length,
    },
    Counters {
        expanded: bool,
        seqno: u8,
        source: u8,
        records: Vec<CounterRecordSpec>,
        length: Length,
    },
    Discard {
        head: [u8; 6],
        records: Vec<FlowRecordSpec>,
        length: Length,
    },
    Other {
        format: u16,
        body: Vec<u8>,
    },
}

impl Sample {
    fn write(&self, out: &mut Vec<u8>) {
        let mut b = Vec::new();
        match self {
            Sample::Flow {
                expanded,
                head,
                records,
                length,
            } => {
                // seq, source, rate, pool, drops, in, out: small values, so that sequences
                // and pools meet across datagrams.
                let [seq, source, rate, pool, drops, input, output, _] = head.map(u32::from);
                u32s(&mut b, &[seq]);
                match expanded {
                    true => u32s(&mut b, &[source % 3, source]),
                    false => u32s(&mut b, &[source]),
                }
                u32s(&mut b, &[rate, pool * 16, drops]);
                match expanded {
                    true => u32s(&mut b, &[input % 4, input, output % 4, output]),
                    false => u32s(&mut b, &[input << 24, output << 24]),
                }
                flow_records(&mut b, records);
                part(out, if *expanded { 3 } else { 1 }, length, &b);
            }
            Sample::Counters {
                expanded,
                seqno,
                source,
                records,
                length,
            } => {
                u32s(&mut b, &[u32::from(*seqno)]);
                match expanded {
                    true => u32s(&mut b, &[0, u32::from(*source)]),
                    false => u32s(&mut b, &[u32::from(*source)]),
                }
                u32s(&mut b, &[records.len() as u32]);
                for r in records {
                    r.write(&mut b);
                }
                part(out, if *expanded { 4 } else { 2 }, length, &b);
            }
            Sample::Discard {
                head,
                records,
                length,
            } => {
                let [seq, source, drops, input, output, reason] = head.map(u32::from);
                u32s(&mut b, &[seq, 0, source, drops, input, output, reason]);
                flow_records(&mut b, records);
                part(out, 5, length, &b);
            }
            Sample::Other { format, body } => {
                part(out, u32::from(*format) | 4096, &Length::Right, body)
            }
        }
    }
}

fn flow_records(out: &mut Vec<u8>, records: &[FlowRecordSpec]) {
    u32s(out, &[records.len() as u32]);
    for r in records {
        r.write(out);
    }
}

#[derive(Arbitrary, Debug)]
enum FlowRecordSpec {
    /// A raw header: protocol (1 Ethernet, 11 IPv4, 12 IPv6, or another), frame length,
    /// stripped bytes, and the header's bytes (padded to 4).
    Raw {
        protocol: u8,
        frame_length: u16,
        header: Vec<u8>,
        length: Length,
    },
    Ethernet([u8; 16]),
    Ipv4([u8; 12], [u8; 5]),
    Ipv6([u8; 36], [u8; 5]),
    Switch([u8; 4]),
    Router(bool, [u8; 16], [u8; 2]),
    Gateway {
        head: [u8; 8],
        path: Vec<Vec<u16>>,
        communities: u8,
        length: Length,
    },
    Unknown {
        format: u16,
        body: Vec<u8>,
        length: Length,
    },
}

impl FlowRecordSpec {
    fn write(&self, out: &mut Vec<u8>) {
        let mut b = Vec::new();
        let (format, length) = match self {
            FlowRecordSpec::Raw {
                protocol,
                frame_length,
                header,
                length,
            } => {
                let protocol = match protocol % 4 {
                    0 => 1,
                    1 => 11,
                    2 => 12,
                    _ => u32::from(*protocol),
                };
                u32s(
                    &mut b,
                    &[protocol, u32::from(*frame_length), 4, header.len() as u32],
                );
                b.extend_from_slice(header);
                b.resize(b.len().div_ceil(4) * 4, 0);
                (1, length)
            }
            FlowRecordSpec::Ethernet(bytes) => {
                u32s(&mut b, &[1500]);
                b.extend_from_slice(&bytes[..6]);
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&bytes[6..12]);
                b.extend_from_slice(&[0, 0]);
                u32s(&mut b, &[u32::from(bytes[12]) << 8]);
                (2, &Length::Right)
            }
            FlowRecordSpec::Ipv4(addresses, rest) => {
                u32s(&mut b, &[u32::from(rest[0]) * 8, u32::from(rest[1])]);
                b.extend_from_slice(&addresses[..8]);
                u32s(
                    &mut b,
                    &[
                        u32::from(rest[2]),
                        u32::from(rest[3]),
                        2,
                        u32::from(rest[4]),
                    ],
                );
                (3, &Length::Right)
            }
            FlowRecordSpec::Ipv6(addresses, rest) => {
                u32s(&mut b, &[u32::from(rest[0]) * 8, u32::from(rest[1])]);
                b.extend_from_slice(&addresses[..32]);
                u32s(
                    &mut b,
                    &[
                        u32::from(rest[2]),
                        u32::from(rest[3]),
                        2,
                        u32::from(rest[4]),
                    ],
                );
                (4, &Length::Right)
            }
            FlowRecordSpec::Switch(v) => {
                u32s(&mut b, &v.map(|x| u32::from(x) * 20));
                (1001, &Length::Right)
            }
            FlowRecordSpec::Router(v6, next_hop, masks) => {
                match v6 {
                    true => address(&mut b, IpAddr::V6(Ipv6Addr::from(*next_hop))),
                    false => address(
                        &mut b,
                        IpAddr::V4(Ipv4Addr::new(
                            next_hop[0],
                            next_hop[1],
                            next_hop[2],
                            next_hop[3],
                        )),
                    ),
                }
                u32s(&mut b, &[u32::from(masks[0]), u32::from(masks[1])]);
                (1002, &Length::Right)
            }
            FlowRecordSpec::Gateway {
                head,
                path,
                communities,
                length,
            } => {
                address(
                    &mut b,
                    IpAddr::V4(Ipv4Addr::new(head[0], head[1], head[2], head[3])),
                );
                u32s(
                    &mut b,
                    &[u32::from(head[4]), u32::from(head[5]), u32::from(head[6])],
                );
                u32s(&mut b, &[path.len() as u32]);
                for segment in path {
                    u32s(&mut b, &[2, segment.len() as u32]);
                    for asn in segment {
                        u32s(&mut b, &[u32::from(*asn)]);
                    }
                }
                u32s(&mut b, &[u32::from(*communities)]);
                for c in 0..*communities {
                    u32s(&mut b, &[u32::from(c)]);
                }
                u32s(&mut b, &[u32::from(head[7])]);
                (1003, length)
            }
            FlowRecordSpec::Unknown {
                format,
                body,
                length,
            } => {
                b.extend_from_slice(body);
                (u32::from(*format), length)
            }
        };
        part(out, format, length, &b);
    }
}

#[derive(Arbitrary, Debug)]
enum CounterRecordSpec {
    /// Generic interface (1), Ethernet (2), token ring (3), 100BaseVG (4), VLAN (5) or
    /// processor (1001) counters: their
    /// values, right-sized or cut short by `length`.
    Known {
        kind: u8,
        values: [u32; 22],
        length: Length,
    },
    Unknown {
        format: u16,
        body: Vec<u8>,
    },
}

impl CounterRecordSpec {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            CounterRecordSpec::Known {
                kind,
                values,
                length,
            } => {
                let (format, words) = match kind % 6 {
                    0 => (1, 22),
                    1 => (2, 13),
                    2 => (3, 18),
                    3 => (4, 20),
                    4 => (5, 7),
                    _ => (1001, 7),
                };
                let mut b = Vec::new();
                u32s(&mut b, &values[..words]);
                part(out, format, length, &b);
            }
            CounterRecordSpec::Unknown { format, body } => {
                part(out, u32::from(*format) + 2000, &Length::Right, body)
            }
        }
    }
}
