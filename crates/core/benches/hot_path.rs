//! The per-packet path, stage by stage: frame decoding, key extraction into a packed record,
//! and the table upsert. `cargo bench -p pmacct-core`; compare runs with criterion's own
//! baselines (`--save-baseline`, `--baseline`) to see a regression.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pmacct_core::format::{Format, RowBuffer, RowFormat};
use pmacct_core::key::{
    Addr, Counters, FlowKey, KeyExtractor, PacketFacts, Record, RecordBatch, Timestamp,
};
use pmacct_core::layout::KeyLayout;
use pmacct_core::primitive::Aggregate;
use pmacct_core::table::AggregateTable;
use pmacct_wire::{decode, Decoded, LinkType};

const FRAMES: usize = 4096;
const FIVE_TUPLE: &str = "src_host, dst_host, src_port, dst_port, proto";

/// Ethernet + IPv4 + TCP frames between `hosts` hosts (one in eight IPv6).
fn frames(hosts: u32) -> Vec<Vec<u8>> {
    (0..FRAMES as u32)
        .map(|i| {
            let (a, b) = ((i * 7919) % hosts, (i * 104_729 + 1) % hosts);
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
            if i % 8 == 0 {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 20, 6, 64]);
                for h in [a, b] {
                    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
                    f.extend_from_slice(&h.to_be_bytes());
                }
            } else {
                f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
                for h in [a, b] {
                    f.extend_from_slice(&[10, 16, (h >> 8) as u8, h as u8]);
                }
            }
            let (sport, dport) = (
                1024 + (a % 30000) as u16,
                [80u16, 443, 53][(b % 3) as usize],
            );
            f.extend_from_slice(&sport.to_be_bytes());
            f.extend_from_slice(&dport.to_be_bytes());
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
            f
        })
        .collect()
}

fn facts(frames: &[Vec<u8>]) -> Vec<PacketFacts> {
    frames
        .iter()
        .enumerate()
        .filter_map(
            |(i, f)| match decode(LinkType::Ethernet, f, f.len() as u32) {
                Decoded::Ip(ip) => Some(PacketFacts {
                    ts: Timestamp {
                        secs: 1_700_000_000 + i as i64,
                        micros: 0,
                    },
                    l2: ip.l2,
                    bytes: ip.length,
                    ip: Some(ip),
                    in_iface: 0,
                    out_iface: 0,
                    tags: Default::default(),
                    hosts: Default::default(),
                }),
                _ => None,
            },
        )
        .collect()
}

fn extractor(aggregate: &str) -> KeyExtractor {
    let aggregate = Aggregate::parse(aggregate).expect("aggregate");
    let layout = Arc::new(KeyLayout::new(&aggregate, false));
    KeyExtractor::new(&aggregate, layout, None, None, false, None)
}

fn bench_decode(c: &mut Criterion) {
    let frames = frames(500);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("ethernet_ipv4_ipv6_tcp", |b| {
        b.iter(|| {
            frames
                .iter()
                .filter(|f| {
                    matches!(
                        decode(LinkType::Ethernet, f, f.len() as u32),
                        Decoded::Ip(_)
                    )
                })
                .count()
        })
    });
    g.finish();
}

fn bench_extract(c: &mut Criterion) {
    let facts = facts(&frames(500));
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(facts.len() as u64));
    for aggregate in [
        FIVE_TUPLE,
        "sum_host",
        "src_mac, dst_mac, vlan, src_host, dst_host",
    ] {
        let e = extractor(aggregate);
        let mut batch = RecordBatch::with_capacity(e.layout().words(), 2 * FRAMES);
        g.bench_function(aggregate, |b| {
            b.iter(|| {
                batch.clear();
                for f in &facts {
                    e.extract(f, &mut batch);
                }
                batch.len()
            })
        });
    }
    g.finish();
}

fn bench_upsert(c: &mut Criterion) {
    let e = extractor(FIVE_TUPLE);
    let mut g = c.benchmark_group("upsert");
    for hosts in [50u32, 5000] {
        let facts = facts(&frames(hosts));
        let mut batch = RecordBatch::with_capacity(e.layout().words(), FRAMES);
        for f in &facts {
            e.extract(f, &mut batch);
        }
        g.throughput(Throughput::Elements(batch.len() as u64));
        g.bench_function(format!("five_tuple_{hosts}_hosts"), |b| {
            b.iter_batched_ref(
                || AggregateTable::unbounded(e.layout().clone()),
                |table| {
                    table.add_batch(&batch);
                    table.len()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A 1-minute bin of the 500-host stress case: 360k 5-tuple keys, one in eight IPv6.
fn purge_table() -> AggregateTable {
    let aggregate = Aggregate::parse(FIVE_TUPLE).expect("aggregate");
    let layout = Arc::new(KeyLayout::new(&aggregate, true));
    let mut table = AggregateTable::unbounded(layout);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    while table.len() < 360_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (a, b) = ((seed % 500) as u32, ((seed >> 16) % 500) as u32);
        let host = |h: u32| -> IpAddr {
            match seed % 8 {
                0 => Ipv6Addr::from(0x2001_0db8u128 << 96 | u128::from(h)).into(),
                _ => Ipv4Addr::from(0x0a10_0000 | h).into(),
            }
        };
        let key = FlowKey {
            src_host: Addr(host(a)),
            dst_host: Addr(host(b)),
            src_port: (seed >> 32) as u16,
            dst_port: [80u16, 443, 53][(seed >> 48) as usize % 3],
            proto: 6,
            ..FlowKey::default()
        };
        let counters = Counters {
            packets: 1,
            bytes: 60 + seed % 1400,
            ..Counters::default()
        };
        table.add(&Record {
            key,
            counters,
            ts: 1_700_000_000,
        });
    }
    table
}

/// A purge: putting the table in key order, then writing its rows as CSV.
fn bench_purge(c: &mut Criterion) {
    let table = purge_table();
    let mut g = c.benchmark_group("purge");
    g.throughput(Throughput::Elements(table.len() as u64));
    g.sample_size(20);
    let mut rows = table.sorted_rows();
    g.bench_function("sort_360k_five_tuple", |b| {
        b.iter(|| {
            table.sort_into(&mut rows);
            rows.len()
        })
    });
    let columns = Aggregate::parse(FIVE_TUPLE).expect("aggregate").columns;
    let format = RowFormat::new(Format::Csv, columns);
    let mut out = RowBuffer::new(64 << 10);
    g.bench_function("csv_360k_five_tuple", |b| {
        b.iter(|| {
            let mut written = 0;
            for i in 0..rows.len() {
                if let Some((k, c)) = rows.view(i) {
                    written += format
                        .append_row(&mut out, &k, &c, None)
                        .map_or(0, |l| l.len());
                }
                if out.full() {
                    written += out.len();
                    out.clear();
                }
            }
            written
        })
    });
    g.finish();
}

criterion_group!(
    hot_path,
    bench_decode,
    bench_extract,
    bench_upsert,
    bench_purge
);
criterion_main!(hot_path);
