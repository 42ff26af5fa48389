//! The fuzz targets' bodies, one function per target: `fuzz/` runs them under libFuzzer
//! (nightly), and `tests/fuzz_corpus.rs` replays the committed inputs and a fixed number of
//! mutations of them through the same functions on stable. Each must return, without a panic,
//! whatever the bytes; none may loop without bound.
#![doc(hidden)]

use std::sync::{Mutex, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use pmacct_core::query::{read_response, Matcher, Op, Request};
use pmacct_wire::savefile::Savefile;
use pmacct_wire::LinkType;

use crate::plugins::memory::MemoryPlugin;
use crate::plugins::{Now, Plugin};

mod flows;
mod sflow;

pub use flows::{collector, datagrams, structured as flows};
pub use sflow::sflow;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/` and `scripts/fuzz.sh` name them.
pub const TARGETS: [(&str, Target); 13] = [
    ("datagrams", datagrams),
    ("sflow", sflow),
    ("collector", collector),
    ("flows", flows),
    ("decode", decode),
    ("frames", frames),
    ("savefile", savefile),
    ("config", config),
    ("maps", maps),
    ("query", query),
    ("socket", socket),
    ("interfaces", interfaces),
    ("names", names),
];

/// Every link type the decoder knows, by DLT.
const DLTS: [i32; 12] = [1, 0, 108, 12, 14, 101, 228, 229, 113, 276, 9, 105];

/// The frame decoder for every link type: the first byte picks the DLT, the rest is the frame.
pub fn decode(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let Some(link) = LinkType::from_dlt(DLTS[usize::from(pick) % DLTS.len()]) else {
        return;
    };
    // The wire length is at least the captured length, sometimes more (snaplen cuts).
    let wire = frame.len() as u32 + u32::from(pick >> 6) * 100;
    let _ = pmacct_wire::decode(link, frame, wire);
}

/// What names hosts: an Ethernet frame through the name cache (DNS, TLS, HTTP, QUIC) and the
/// device names (DHCP, mDNS), and the same bytes through every payload parser and, as text,
/// the lease-file and IEEE registry parsers.
pub fn names(data: &[u8]) {
    static CACHE: OnceLock<Mutex<crate::hosts::names::NameCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(crate::hosts::names::NameCache::new(64, 60)));
    let mut ip = pmacct_wire::IpPacket::new(Default::default());
    if let pmacct_wire::Outcome::Ip =
        pmacct_wire::decode_into(LinkType::Ethernet, data, data.len() as u32, &mut ip)
    {
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        c.observe(&ip, data, 1_700_000_000);
        let _ = c.get(ip.dst, ip.src, 1_700_000_000);
    }
    let mut answers = Vec::new();
    let _ = pmacct_sniff::dns::answers(data, &mut answers);
    let mut mdns = Vec::new();
    let _ = pmacct_sniff::dns::mdns_names(data, &mut mdns);
    for m in pmacct_sniff::dns::tcp_messages(data) {
        let _ = pmacct_sniff::dns::answers(m, &mut answers);
    }
    let _ = pmacct_sniff::tls::client_hello_server_name(data);
    let _ = pmacct_sniff::http::host(data);
    let _ = pmacct_sniff::dhcp::host_name(data);
    let mut sni = String::new();
    let _ = pmacct_sniff::quic::initial_server_name(data, &mut sni);
    let text = String::from_utf8_lossy(data);
    let _ = pmacct_sniff::leases::parse_auto(&text);
    let _ = pmacct_sniff::oui::parse_ieee_csv(&text).vendor([0, 0x0c, 0x29, 1, 2, 3]);
}

/// The capture-file reader: every record it returns, and its errors.
pub fn savefile(data: &[u8]) {
    let Ok(mut reader) = Savefile::open(data) else {
        return;
    };
    let _ = reader.first_link(data);
    // Each record moves the reader forward, so this ends; the bound is a guard.
    for _ in 0..100_000 {
        match reader.next(data) {
            Ok(Some(p)) => {
                let _ = reader.interface_name(p.interface);
            }
            _ => break,
        }
    }
}

/// The configuration language: lexer, resolution and typed build, as from a file.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut warnings = Vec::new();
    let _ = pmacct_core::config::load("fuzz.conf", &text, Vec::new(), &mut warnings);
}

/// The map and list parsers (the first byte picks one): pre_tag_map, networks_file,
/// ports_file, quota caps, the tag and label filters, pcap_interfaces_map.
pub fn maps(data: &[u8]) {
    use pmacct_core::networks::{Networks, PortSet};
    use pmacct_core::pretag::{LabelFilter, PreTagMap, TagFilter};
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match pick % 7 {
        0 => drop(PreTagMap::parse("fuzz.map", &text)),
        1 => drop(Networks::parse("fuzz.lst", &text)),
        2 => drop(PortSet::parse("fuzz.ports", &text)),
        3 => drop(pmacct_core::caps::parse("fuzz.caps", &text)),
        4 => drop(TagFilter::parse(&text)),
        5 => drop(LabelFilter::parse(&text)),
        _ => drop(crate::interfaces::parse_map("fuzz.map", &text)),
    }
}

/// pcap_interfaces_map alone (the parser the daemon reloads on SIGUSR2).
pub fn interfaces(data: &[u8]) {
    let _ = crate::interfaces::parse_map("fuzz.map", &String::from_utf8_lossy(data));
}

/// The query protocol as text: a request line parsed (and its match queries compiled), and a
/// response as the client reads it.
pub fn query(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        if let Op::Match { queries, .. } = &request.op {
            for q in queries {
                let _ = Matcher::compile(q);
            }
        }
    }
    let _ = read_response(data);
}

/// The daemon side of the memory socket: a request as a client sends it, answered by a memory
/// plugin holding a few entries, the answer written out and read back by the client's reader.
/// Erase and reset requests change the table; it is refilled when empty.
pub fn socket(data: &[u8]) {
    static PLUGIN: OnceLock<Mutex<MemoryPlugin>> = OnceLock::new();
    let plugin = PLUGIN.get_or_init(|| Mutex::new(fuzz_plugin()));
    let mut plugin = plugin.lock().unwrap_or_else(|e| e.into_inner());
    let now = Now {
        data: 1_700_000_000,
        wall: 1_700_000_000,
    };
    if plugin.entries() == 0 {
        fill(&mut plugin, now);
    }
    let answer = crate::plugins::memory::respond(&mut plugin, data, now);
    let _ = read_response(&answer);
}

fn fuzz_plugin() -> MemoryPlugin {
    let text = "plugins: memory[m]\n\
                aggregate[m]: src_host, dst_host, src_port, dst_port, proto, tag, label, src_mac\n\
                imt_path[m]: /nonexistent/fuzz.pipe\nimt_mem_pools_number[m]: 4\n\
                imt_mem_pools_size[m]: 4096\n";
    let mut warnings = Vec::new();
    let config = pmacct_core::config::load("fuzz.conf", text, Vec::new(), &mut warnings)
        .unwrap_or_else(|e| panic!("the fuzz target's own config: {e:?}"));
    let plugin = &config.plugins[0];
    let pmacct_core::config::PluginOptions::Memory(options) = &plugin.options else {
        panic!("the fuzz target's plugin is a memory plugin");
    };
    MemoryPlugin::new(plugin, options).unwrap_or_else(|e| panic!("memory plugin: {e}"))
}

/// A few hundred entries (the bound holds fewer: the rest overflow).
fn fill(plugin: &mut MemoryPlugin, now: Now) {
    use pmacct_core::key::{Addr, FlowKey, RecordBatch, RecordMeta};
    use std::net::Ipv4Addr;
    let layout = plugin.layout().clone();
    let mut batch = RecordBatch::with_capacity(layout.words(), 300);
    for i in 0u32..300 {
        let key = FlowKey {
            src_host: Addr(Ipv4Addr::from(0x0a00_0000 | (i % 37)).into()),
            dst_host: Addr(Ipv4Addr::from(0xc0a8_0000 | (i % 11)).into()),
            src_port: (i % 7) as u16,
            dst_port: 80,
            proto: 6 + (i % 2) as u8 * 11,
            tag: u64::from(i % 3),
            ..FlowKey::default()
        };
        let meta = RecordMeta {
            ts: now.data,
            bytes: u64::from(100 + i),
            packets: 1,
            ..RecordMeta::default()
        };
        layout.encode(&key, batch.push(meta));
    }
    let _ = plugin.on_records(&mut batch, now);
}

/// An Ethernet frame built from structure: VLAN, MPLS and PPPoE layers, then IPv4 or IPv6 with
/// options, extension headers and fragments, then TCP, UDP, ICMP, SCTP or anything, with
/// lengths right or chosen by the fuzzer, cut anywhere. Plain bytes rarely get that deep.
pub fn frames(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(stack) = Stack::arbitrary(&mut u) else {
        return;
    };
    let frame = stack.bytes();
    let captured = match usize::from(stack.cut) {
        0 => frame.len(),
        cut => cut.min(frame.len()),
    };
    let _ = pmacct_wire::decode(LinkType::Ethernet, &frame[..captured], frame.len() as u32);
}

#[derive(Arbitrary, Debug)]
struct Stack {
    macs: [u8; 12],
    layers: Vec<Layer>,
    ip: Ip,
    l4: L4,
    payload: Vec<u8>,
    /// 0: the whole frame; otherwise the captured length (snaplen).
    cut: u16,
}

#[derive(Arbitrary, Debug)]
enum Layer {
    Vlan { tpid: u8, tci: u16 },
    Mpls { labels: Vec<u32> },
    Pppoe { session: u16, length: Option<u16> },
    FabricPath { tag: [u8; 10] },
    VnTag { tag: [u8; 4] },
    Raw { ethertype: u16, bytes: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
enum Ip {
    V4 {
        options: Vec<u8>,
        /// Offset (13 bits) and flags.
        fragment: u16,
        ttl: u8,
        proto: Option<u8>,
        total_length: Option<u16>,
        src: [u8; 4],
        dst: [u8; 4],
    },
    V6 {
        extensions: Vec<Extension>,
        payload_length: Option<u16>,
        src: [u8; 16],
        dst: [u8; 16],
    },
    Other {
        version: u8,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Extension {
    /// 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 destination options, else as it is.
    kind: u8,
    length: u8,
    body: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum L4 {
    Tcp {
        src: u16,
        dst: u16,
        flags: u8,
        data_offset: u8,
    },
    Udp {
        src: u16,
        dst: u16,
        length: Option<u16>,
    },
    Icmp {
        kind: u8,
        code: u8,
    },
    Sctp {
        src: u16,
        dst: u16,
    },
    Other {
        proto: u8,
        bytes: Vec<u8>,
    },
}

impl L4 {
    fn proto(&self, v6: bool) -> u8 {
        match self {
            L4::Tcp { .. } => 6,
            L4::Udp { .. } => 17,
            L4::Icmp { .. } if v6 => 58,
            L4::Icmp { .. } => 1,
            L4::Sctp { .. } => 132,
            L4::Other { proto, .. } => *proto,
        }
    }

    fn bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        match self {
            L4::Tcp {
                src,
                dst,
                flags,
                data_offset,
            } => {
                b.extend_from_slice(&src.to_be_bytes());
                b.extend_from_slice(&dst.to_be_bytes());
                b.extend_from_slice(&[0; 8]);
                b.extend_from_slice(&[data_offset << 4, *flags, 0, 0, 0, 0, 0, 0]);
            }
            L4::Udp { src, dst, length } => {
                b.extend_from_slice(&src.to_be_bytes());
                b.extend_from_slice(&dst.to_be_bytes());
                let len = length.unwrap_or((8 + payload.len()) as u16);
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
            }
            L4::Icmp { kind, code } => b.extend_from_slice(&[*kind, *code, 0, 0, 0, 0, 0, 0]),
            L4::Sctp { src, dst } => {
                b.extend_from_slice(&src.to_be_bytes());
                b.extend_from_slice(&dst.to_be_bytes());
                b.extend_from_slice(&[0; 8]);
            }
            L4::Other { bytes, .. } => b.extend_from_slice(bytes),
        }
        b.extend_from_slice(payload);
        b
    }
}

impl Stack {
    fn bytes(&self) -> Vec<u8> {
        let mut f = self.macs.to_vec();
        for layer in self.layers.iter().take(8) {
            layer.push(&mut f);
        }
        let (ethertype, ip) = self.ip.bytes(&self.l4, &self.payload);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&ip);
        f
    }
}

impl Layer {
    /// Appends the ethertype announcing this layer, then its header.
    fn push(&self, f: &mut Vec<u8>) {
        use pmacct_wire::ethertype as et;
        match self {
            Layer::Vlan { tpid, tci } => {
                let t = [et::VLAN, et::QINQ, et::QINQ_OLD][usize::from(*tpid) % 3];
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(&tci.to_be_bytes());
            }
            Layer::Mpls { labels } => {
                f.extend_from_slice(&et::MPLS_UNICAST.to_be_bytes());
                let n = labels.len().clamp(1, 8);
                for (i, l) in labels.iter().chain(std::iter::once(&0)).take(n).enumerate() {
                    let bos = u32::from(i + 1 == n) << 8;
                    f.extend_from_slice(&((l << 12) | bos | 64).to_be_bytes());
                }
            }
            Layer::Pppoe { session, length } => {
                f.extend_from_slice(&et::PPPOE_SESSION.to_be_bytes());
                f.extend_from_slice(&[0x11, 0]);
                f.extend_from_slice(&session.to_be_bytes());
                f.extend_from_slice(&length.unwrap_or(0).to_be_bytes());
                // The PPP protocol follows in place of an ethertype: IPv4 0x0021.
                f.extend_from_slice(&[0x00, 0x21]);
            }
            Layer::FabricPath { tag } => {
                f.extend_from_slice(&et::FABRICPATH.to_be_bytes());
                f.extend_from_slice(tag);
            }
            Layer::VnTag { tag } => {
                f.extend_from_slice(&et::VNTAG.to_be_bytes());
                f.extend_from_slice(tag);
            }
            Layer::Raw { ethertype, bytes } => {
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(&bytes[..bytes.len().min(64)]);
            }
        }
    }
}

impl Ip {
    /// The ethertype and the IP packet.
    fn bytes(&self, l4: &L4, payload: &[u8]) -> (u16, Vec<u8>) {
        match self {
            Ip::V4 {
                options,
                fragment,
                ttl,
                proto,
                total_length,
                src,
                dst,
            } => {
                let options = &options[..options.len().min(40) / 4 * 4];
                let body = l4.bytes(payload);
                let ihl = 5 + options.len() / 4;
                let total = total_length.unwrap_or((ihl * 4 + body.len()) as u16);
                let mut p = vec![0x40 | ihl as u8, 0];
                p.extend_from_slice(&total.to_be_bytes());
                p.extend_from_slice(&[0, 1]);
                p.extend_from_slice(&fragment.to_be_bytes());
                p.extend_from_slice(&[*ttl, proto.unwrap_or(l4.proto(false)), 0, 0]);
                p.extend_from_slice(src);
                p.extend_from_slice(dst);
                p.extend_from_slice(options);
                p.extend_from_slice(&body);
                (pmacct_wire::ethertype::IPV4, p)
            }
            Ip::V6 {
                extensions,
                payload_length,
                src,
                dst,
            } => {
                let exts: Vec<&Extension> = extensions.iter().take(10).collect();
                let mut chain = Vec::new();
                for (i, e) in exts.iter().enumerate() {
                    let next = exts.get(i + 1).map_or(l4.proto(true), |n| n.kind);
                    chain.push(next);
                    chain.push(e.length);
                    let want = usize::from(e.length) * 8 + 6;
                    let body: Vec<u8> = e.body.iter().copied().cycle().take(want).collect();
                    chain.extend_from_slice(&body);
                    chain.resize(chain.len() + want - body.len(), 0);
                }
                let body = l4.bytes(payload);
                let first = exts.first().map_or(l4.proto(true), |e| e.kind);
                let len = payload_length.unwrap_or((chain.len() + body.len()) as u16);
                let mut p = vec![0x60, 0, 0, 0];
                p.extend_from_slice(&len.to_be_bytes());
                p.extend_from_slice(&[first, 64]);
                p.extend_from_slice(src);
                p.extend_from_slice(dst);
                p.extend_from_slice(&chain);
                p.extend_from_slice(&body);
                (pmacct_wire::ethertype::IPV6, p)
            }
            Ip::Other { version, bytes } => {
                let mut p = vec![version << 4];
                p.extend_from_slice(bytes);
                (pmacct_wire::ethertype::IPV4, p)
            }
        }
    }
}
