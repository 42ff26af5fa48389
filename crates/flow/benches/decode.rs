//! Decoding throughput per version: one datagram of typical records decoded over and over
//! through a collector that holds its template. `cargo bench -p pmacct-flow`; the target is
//! at least 3 million records a second on one core.

use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pmacct_flow::{Collector, FlowRecord, Limits};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn push(d: &mut Vec<u8>, v: u64, width: usize) {
    d.extend_from_slice(&v.to_be_bytes()[8 - width..]);
}

/// The usual fields of a router's template: (element id, length).
const FIELDS: &[(u16, u16)] = &[
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (6, 1),
    (5, 1),
    (1, 8),
    (2, 8),
    (10, 4),
    (14, 4),
    (152, 8),
    (153, 8),
    (15, 4),
    (16, 4),
    (17, 4),
    (9, 1),
    (13, 1),
    (61, 1),
    (89, 1),
    (58, 2),
    (302, 4),
];

fn records(n: usize) -> Vec<u8> {
    let mut d = Vec::new();
    for i in 0..n as u64 {
        for &(_, len) in FIELDS {
            push(&mut d, i * 7919 + 1, usize::from(len));
        }
    }
    d
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    push(&mut s, u64::from(id), 2);
    push(&mut s, body.len() as u64 + 4, 2);
    s.extend_from_slice(body);
    s
}

fn template_set(id: u16) -> Vec<u8> {
    let mut t = Vec::new();
    push(&mut t, 256, 2);
    push(&mut t, FIELDS.len() as u64, 2);
    for &(f, len) in FIELDS {
        push(&mut t, u64::from(f), 2);
        push(&mut t, u64::from(len), 2);
    }
    set(id, &t)
}

fn ipfix(seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let len = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut d = Vec::new();
    for (v, w) in [
        (10, 2),
        (len as u64, 2),
        (1_700_000_000, 4),
        (u64::from(seq), 4),
        (1, 4),
    ] {
        push(&mut d, v, w);
    }
    sets.iter().for_each(|s| d.extend_from_slice(s));
    d
}

fn v9(seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    for (v, w) in [
        (9, 2),
        (1, 2),
        (100_000, 4),
        (1_700_000_000, 4),
        (u64::from(seq), 4),
        (1, 4),
    ] {
        push(&mut d, v, w);
    }
    sets.iter().for_each(|s| d.extend_from_slice(s));
    d
}

fn v5(n: usize) -> Vec<u8> {
    let mut d = Vec::new();
    for (v, w) in [
        (5, 2),
        (n as u64, 2),
        (100_000, 4),
        (1_700_000_000, 4),
        (0, 4),
        (0, 4),
        (0, 4),
    ] {
        push(&mut d, v, w);
    }
    for i in 0..n as u64 {
        for (v, w) in [
            (0x0a00_0000 + i, 4),
            (0xc000_0201, 4),
            (0, 4),
            (1, 2),
            (2, 2),
            (3, 4),
        ] {
            push(&mut d, v, w);
        }
        for (v, w) in [
            (1500, 4),
            (90_000, 4),
            (99_000, 4),
            (443, 2),
            (40000, 2),
            (6, 4),
            (0, 8),
        ] {
            push(&mut d, v, w);
        }
    }
    d
}

fn bench(c: &mut Criterion, name: &str, setup: Vec<u8>, datagram: Vec<u8>, records: usize) {
    let mut collector = Collector::new(Limits::default());
    let mut out: Vec<FlowRecord> = Vec::with_capacity(records);
    collector
        .decode(EXPORTER, &setup, 0, &mut out)
        .expect("the template datagram decodes");
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            collector
                .decode(EXPORTER, &datagram, 0, &mut out)
                .expect("the data datagram decodes");
            assert_eq!(out.len(), records);
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let n = 1400 / FIELDS.iter().map(|f| usize::from(f.1)).sum::<usize>();
    bench(
        c,
        "ipfix",
        ipfix(0, &[template_set(2)]),
        ipfix(0, &[set(256, &records(n))]),
        n,
    );
    bench(
        c,
        "v9",
        v9(0, &[template_set(0)]),
        v9(0, &[set(256, &records(n))]),
        n,
    );
    bench(c, "v5", v5(0), v5(30), 30);
}

criterion_group!(benches, decode);
criterion_main!(benches);
