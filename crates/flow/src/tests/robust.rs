//! Whatever the bytes, decoding returns: every prefix and many mutations of valid datagrams
//! (hand-built and, when the shared corpus is present, real ones) go through collectors that
//! already hold the datagrams' templates, so mutated data meets compiled templates.

use std::net::IpAddr;

use super::build::{
    be, ip, ipfix, ipfix_options_template, ipfix_template, set, template, v5, v9,
    v9_options_template, V5Record,
};
use super::real::{telegraf_case, testdata, udp_payloads};
use crate::{Collector, CustomKey, Limits};

/// Deterministic xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn hand_built() -> Vec<Vec<u8>> {
    let rec = V5Record {
        src: [10, 0, 0, 1],
        packets: 1,
        bytes: 100,
        ..V5Record::default()
    };
    let v9_tpl = template(
        256,
        &[(8, 4), (1, 4), (22, 4), (21, 4), (48, 1), (32, 2), (4, 1)],
    );
    let v9_opt = v9_options_template(257, &[(1, 4)], &[(48, 1), (50, 4)]);
    let v9_data = be(&[
        (0x0a00_0001, 4),
        (100, 4),
        (5, 4),
        (9, 4),
        (1, 1),
        (0x0800, 2),
        (1, 1),
    ]);
    let ipfix_tpl = ipfix_template(
        300,
        &[
            (None, 27, 16),
            (None, 82, 65535),
            (Some(9), 1, 4),
            (None, 154, 8),
            (None, 70, 3),
            (None, 1, 2),
        ],
    );
    let mut ipfix_data = be(&[(0x2001_0db8_0000_0000, 8), (1, 8)]);
    ipfix_data.extend_from_slice(&[255, 0, 3, b'a', b'b', b'c', 1, 2, 3, 4]);
    ipfix_data.extend(be(&[(1 << 40, 8), (0x01_0001, 3), (500, 2)]));
    let ipfix_opt = ipfix_options_template(301, 1, &[(302, 4), (305, 4), (306, 4), (160, 8)]);
    let ipfix_opt_data = be(&[(1, 4), (1, 4), (9, 4), (1_600_000_000_000, 8)]);
    vec![
        v5(1000, 1_700_000_000, 0, 1, (1, 2), 10, &[rec, rec]),
        v9(
            1000,
            1_700_000_000,
            1,
            0,
            &[
                set(0, &v9_tpl),
                set(1, &v9_opt),
                set(257, &be(&[(0, 4), (1, 1), (10, 4)])),
                set(256, &v9_data),
            ],
        ),
        v9(
            1000,
            1_700_000_000,
            2,
            0,
            &[set(256, &[v9_data.clone(), v9_data].concat())],
        ),
        ipfix(
            1_700_000_000,
            0,
            1,
            &[
                set(2, &ipfix_tpl),
                set(3, &ipfix_opt),
                set(301, &ipfix_opt_data),
                set(300, &ipfix_data),
            ],
        ),
        ipfix(
            1_700_000_000,
            3,
            1,
            &[set(300, &[ipfix_data.clone(), ipfix_data].concat())],
        ),
        ipfix(
            1_700_000_000,
            5,
            1,
            &[
                set(2, &be(&[(300, 2), (0, 2)])),
                set(3, &be(&[(3, 2), (0, 2)])),
            ],
        ),
    ]
}

/// Datagrams of the shared corpus (a few per capture), with their exporter.
fn corpus() -> Vec<(IpAddr, Vec<u8>)> {
    let mut all: Vec<(IpAddr, Vec<u8>)> = hand_built()
        .into_iter()
        .map(|d| (ip("192.0.2.1"), d))
        .collect();
    let Some(root) = testdata() else { return all };
    for case in [
        "netflow_v5_example",
        "netflow_v9_example",
        "ipfix_example",
        "ipfix_pen_35632",
        "issue_14370",
        "netflow_v9_options",
        "ipfix_options",
    ] {
        let (datagrams, _) = telegraf_case(&root, case);
        all.extend(datagrams.into_iter().take(4).map(|d| (ip("127.0.0.1"), d)));
    }
    for dir in ["flow/netflow-v5", "flow/netflow-v9", "flow/ipfix"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            all.extend(udp_payloads(&f).into_iter().take(6));
        }
    }
    all
}

#[test]
fn prefixes_and_mutations_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut primed = Collector::new(Limits::default());
    primed.keep_fields([CustomKey { pen: 9, id: 1 }, CustomKey { pen: 0, id: 82 }]);
    let mut tight = Collector::new(Limits {
        max_templates_per_exporter: 3,
        max_pending_bytes_per_exporter: 512,
        pending_secs: 2,
        max_exporters: 4,
    });
    let mut out = Vec::new();
    let mut now = 1_700_000_000;
    for (from, d) in &corpus {
        let _ = primed.decode(*from, d, now, &mut out);
    }
    for (n, (from, d)) in corpus.iter().enumerate() {
        for end in 0..=d.len() {
            let _ = primed.decode(*from, &d[..end], now, &mut out);
            out.clear();
        }
        for _ in 0..300 {
            let mut m = d.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                if let Some(b) = m.get_mut(at) {
                    *b = match rng.below(4) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    };
                }
            }
            if rng.below(8) == 0 {
                m.truncate(rng.below(m.len() + 1));
            }
            let from = if rng.below(2) == 0 {
                *from
            } else {
                IpAddr::from([10, 0, 0, rng.below(8) as u8])
            };
            let _ = primed.decode(from, &m, now, &mut out);
            let _ = tight.decode(from, &m, now, &mut out);
            out.clear();
        }
        if n % 16 == 0 {
            now += 1;
            primed.expire(now);
            tight.expire(now);
        }
    }
    // The bounds held.
    assert!(tight.stats().templates <= 3 * 4);
    assert!(tight.stats().pending_bytes <= 512 * 4);
    // Saved templates load back; mutated template files are refused or loaded, never a panic.
    let saved = primed.save_templates();
    let mut restored = Collector::new(Limits::default());
    assert!(restored.load_templates(&saved).is_ok());
    assert_eq!(restored.save_templates(), saved);
    let mut small = Collector::new(Limits::default());
    for d in hand_built() {
        let _ = small.decode(ip("192.0.2.1"), &d, now, &mut out);
    }
    let saved = small.save_templates();
    for _ in 0..2000 {
        let mut m = saved.clone();
        let at = rng.below(m.len());
        if let Some(b) = m.get_mut(at) {
            *b = rng.next() as u8;
        }
        let _ = Collector::new(Limits::default()).load_templates(&m);
    }
}
