//! The flow collector's fuzz targets: export datagrams into one collector, whose template,
//! held-data and sequence state carries from one datagram to the next.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use pmacct_flow::{Collector, FlowRecord, Limits};

/// Bounds small enough that the fuzzer reaches them.
fn limits() -> Limits {
    Limits {
        max_templates_per_exporter: 16,
        max_pending_bytes_per_exporter: 4096,
        pending_secs: 3,
        max_exporters: 3,
    }
}

fn exporter(n: u8) -> IpAddr {
    match n % 4 {
        0 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        1 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        2 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
    }
}

/// Decodes `datagrams` in order into one collector (a second of time between them), then
/// saves its templates and loads them into another, which must take them.
fn collect<'a>(datagrams: impl Iterator<Item = (u8, &'a [u8])>) {
    let mut c = Collector::new(limits());
    let mut out: Vec<FlowRecord> = Vec::new();
    let mut now = 1_700_000_000;
    for (who, d) in datagrams {
        let _ = c.decode(exporter(who), d, now, &mut out);
        out.clear();
        now += 1;
        c.expire(now);
    }
    let saved = c.save_templates();
    let mut again = Collector::new(limits());
    let loaded = again.load_templates(&saved);
    assert!(loaded.is_ok(), "saved templates do not load: {loaded:?}");
}

/// Plain bytes: cut into datagrams, each a 2-byte header (the top two bits pick one of four
/// exporters, the rest is the length) and its bytes.
pub fn datagrams(data: &[u8]) {
    let mut list = Vec::new();
    let mut rest = data;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b]) & 0x3fff).min(tail.len());
        let (d, r) = tail.split_at(len);
        list.push((a >> 6, d));
        rest = r;
    }
    collect(list.into_iter());
}

/// Datagrams built from structure: NetFlow v5, v9 and IPFIX headers, template, options
/// template, withdrawal and data sets over a few template ids and the elements the decoder maps,
/// lengths right or chosen. Plain bytes rarely make a template and matching data.
pub fn structured(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(messages) = Vec::<Message>::arbitrary(&mut u) else {
        return;
    };
    let bytes: Vec<(u8, Vec<u8>)> = messages.iter().map(|m| (m.exporter, m.bytes())).collect();
    collect(bytes.iter().map(|(w, b)| (*w, b.as_slice())));
}

/// The collector's path past the decoder, as the socket input takes it: the structured
/// datagrams of [`structured`], each record through the allow list, the sampling map, the
/// pre_tag_map's flow keys and filter header, the base key and counters, and a key extractor
/// that aggregates every primitive (networks from the flow's masks).
pub fn collector(data: &[u8]) {
    use pmacct_core::flowmaps::{AllowList, SamplingMap};
    use pmacct_core::key::{KeyExtractor, RecordBatch, Timestamp};
    use pmacct_core::layout::KeyLayout;
    use pmacct_core::pretag::{PacketContext, PreTagMap};
    use pmacct_core::primitive::{Aggregate, Primitive};
    use std::sync::Arc;

    static SETUP: std::sync::OnceLock<(AllowList, SamplingMap, PreTagMap, KeyExtractor)> =
        std::sync::OnceLock::new();
    let (allow, sampling, map, extractor) = SETUP.get_or_init(|| {
        let names: Vec<&str> = Primitive::ALL.iter().map(|p| p.name()).collect();
        let aggregate = Aggregate::parse(&names.join(",")).expect("every primitive");
        let layout = Arc::new(KeyLayout::new(&aggregate, true));
        (
            AllowList::parse("a", "192.0.2.0/24\n::1\n").expect("allow"),
            SamplingMap::parse("s", "id=10 ip=192.0.2.2 in=-3\n").expect("sampling"),
            PreTagMap::parse(
                "m",
                "set_tag=1 ip=192.0.2.1 engine_id=0 jeq=more\nset_tag=2 src_net=10.0.0.0/8 \
                 nexthop=0.0.0.0 direction=1\nset_label=x label=more stack=sum\n",
            )
            .expect("map"),
            KeyExtractor::new(&aggregate, layout, None, None, false, None),
        )
    });
    let mut u = Unstructured::new(data);
    let Ok(messages) = Vec::<Message>::arbitrary(&mut u) else {
        return;
    };
    let mut c = Collector::new(limits());
    let mut out: Vec<FlowRecord> = Vec::new();
    let mut header = Vec::new();
    let mut batch = RecordBatch::with_capacity(extractor.layout().words(), 64);
    let now = 1_700_000_000;
    for m in &messages {
        let who = exporter(m.exporter);
        if !allow.allows(who) {
            continue;
        }
        let _ = c.decode(who, &m.bytes(), now, &mut out);
        for mut r in out.drain(..) {
            if let Some(rate) = sampling.rate(r.exporter, r.in_iface, r.out_iface) {
                r.sampling_rate = rate;
            }
            crate::collector::records::filter_header(&r, &mut header);
            let facts = crate::collector::records::facts(&r);
            let ctx = PacketContext {
                ifname: "",
                direction: None,
                in_iface: r.in_iface,
                out_iface: r.out_iface,
                flow: Some(&facts),
            };
            let tags = map.evaluate(&ctx, |_| header.len() % 2 == 0);
            let arrival = Timestamp {
                secs: now,
                micros: 0,
            };
            let (mut key, frame) = crate::collector::records::base_key(&r, arrival);
            (key.tag, key.label) = (tags.tag, tags.label);
            let clock = match m.seq % 2 {
                0 => crate::collector::FlowClock::Start,
                _ => crate::collector::FlowClock::Arrival,
            };
            let scale = u64::from(r.sampling_rate.max(1));
            let meta = crate::collector::records::meta(&r, clock, arrival, frame);
            let meta = crate::collector::records::scaled(meta, scale);
            extractor.extract_key(&mut key, meta, &mut batch);
        }
        batch.clear();
    }
}

#[derive(Arbitrary, Debug)]
struct Message {
    exporter: u8,
    kind: Kind,
    domain: u8,
    seq: u32,
    sets: Vec<Set>,
    /// Some: the header's length (IPFIX) or count (v9) as given, not as built.
    header_length: Option<u16>,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    V5 {
        uptime: u32,
        sampling: u16,
        records: Vec<[u8; 48]>,
    },
    V9 {
        uptime: u32,
    },
    Ipfix,
}

#[derive(Arbitrary, Debug)]
enum Set {
    Template {
        id: u8,
        fields: Vec<Field>,
    },
    Options {
        id: u8,
        scope: Vec<Field>,
        fields: Vec<Field>,
    },
    Withdraw {
        id: u8,
    },
    Data {
        id: u8,
        bytes: Vec<u8>,
    },
    Raw {
        id: u16,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Field {
    element: u16,
    len: u8,
    enterprise: Option<u32>,
}

/// Elements the decoder maps, so templates often mean something.
const ELEMENTS: [u16; 40] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 27, 28, 32, 34, 48, 56, 58,
    70, 72, 89, 90, 150, 152, 154, 158, 160, 225, 231, 305, 310, 315,
];
const LENGTHS: [u16; 8] = [1, 2, 4, 8, 16, 6, 0, 65535];

impl Field {
    fn put(&self, out: &mut Vec<u8>, ipfix: bool) {
        let id = match self.element % 3 {
            0 => self.element,
            _ => ELEMENTS[usize::from(self.element) % ELEMENTS.len()],
        };
        let len = LENGTHS[usize::from(self.len % 8)];
        let enterprise = self.enterprise.filter(|_| ipfix);
        let id = if enterprise.is_some() {
            id | 0x8000
        } else {
            id & 0x7fff
        };
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        if let Some(pen) = enterprise {
            out.extend_from_slice(&pen.to_be_bytes());
        }
    }
}

fn template_id(id: u8) -> u16 {
    256 + u16::from(id % 6)
}

impl Set {
    /// The set's id and body.
    fn bytes(&self, ipfix: bool) -> (u16, Vec<u8>) {
        let (template_set, options_set) = if ipfix { (2, 3) } else { (0, 1) };
        let mut b = Vec::new();
        match self {
            Set::Template { id, fields } => {
                b.extend_from_slice(&template_id(*id).to_be_bytes());
                b.extend_from_slice(&(fields.len() as u16).to_be_bytes());
                fields.iter().for_each(|f| f.put(&mut b, ipfix));
                (template_set, b)
            }
            Set::Options { id, scope, fields } => {
                b.extend_from_slice(&template_id(*id).to_be_bytes());
                if ipfix {
                    b.extend_from_slice(&((scope.len() + fields.len()) as u16).to_be_bytes());
                    b.extend_from_slice(&(scope.len() as u16).to_be_bytes());
                } else {
                    b.extend_from_slice(&((scope.len() * 4) as u16).to_be_bytes());
                    b.extend_from_slice(&((fields.len() * 4) as u16).to_be_bytes());
                }
                scope
                    .iter()
                    .chain(fields)
                    .for_each(|f| f.put(&mut b, ipfix));
                (options_set, b)
            }
            Set::Withdraw { id } => {
                let id = if *id == 255 {
                    template_set
                } else {
                    template_id(*id)
                };
                b.extend_from_slice(&id.to_be_bytes());
                b.extend_from_slice(&0u16.to_be_bytes());
                (template_set, b)
            }
            Set::Data { id, bytes } => (template_id(*id), bytes.clone()),
            Set::Raw { id, bytes } => (*id, bytes.clone()),
        }
    }
}

impl Message {
    fn bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let ipfix = matches!(self.kind, Kind::Ipfix);
        for set in &self.sets {
            let (id, b) = set.bytes(ipfix);
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&((b.len() + 4) as u16).to_be_bytes());
            body.extend_from_slice(&b);
        }
        let mut m = Vec::new();
        let export: u32 = 1_700_000_000;
        match &self.kind {
            Kind::V5 {
                uptime,
                sampling,
                records,
            } => {
                m.extend_from_slice(&5u16.to_be_bytes());
                let count = self.header_length.unwrap_or(records.len() as u16);
                m.extend_from_slice(&count.to_be_bytes());
                m.extend_from_slice(&uptime.to_be_bytes());
                m.extend_from_slice(&export.to_be_bytes());
                m.extend_from_slice(&0u32.to_be_bytes());
                m.extend_from_slice(&self.seq.to_be_bytes());
                m.extend_from_slice(&[self.domain, self.domain]);
                m.extend_from_slice(&sampling.to_be_bytes());
                records.iter().for_each(|r| m.extend_from_slice(r));
                return m;
            }
            Kind::V9 { uptime } => {
                m.extend_from_slice(&9u16.to_be_bytes());
                let count = self.header_length.unwrap_or(self.sets.len() as u16);
                m.extend_from_slice(&count.to_be_bytes());
                m.extend_from_slice(&uptime.to_be_bytes());
                m.extend_from_slice(&export.to_be_bytes());
            }
            Kind::Ipfix => {
                m.extend_from_slice(&10u16.to_be_bytes());
                let len = self.header_length.unwrap_or((16 + body.len()) as u16);
                m.extend_from_slice(&len.to_be_bytes());
                m.extend_from_slice(&export.to_be_bytes());
            }
        }
        m.extend_from_slice(&self.seq.to_be_bytes());
        m.extend_from_slice(&u32::from(self.domain % 4).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }
}
