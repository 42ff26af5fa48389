use super::*;

/// A response for `WWW.Example.com` whose answer section, in this order, holds:
/// `edge.cdn.net A 1.2.3.4 ttl 60`, `www.example.com CNAME x.cdn.net ttl 300` (owner and target
/// compressed), `x.cdn.net CNAME edge.cdn.net ttl 120` (pointers into the previous rdata),
/// `edge.cdn.net AAAA 2001:db8::1 ttl 600` and `unrelated.org A 9.9.9.9 ttl 5`.
const CNAME_CHAIN: [u8; 148] = [
    0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x03, 0x57, 0x57, 0x57,
    0x07, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00,
    0x01, 0x04, 0x65, 0x64, 0x67, 0x65, 0x03, 0x63, 0x64, 0x6e, 0x03, 0x6e, 0x65, 0x74, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, 0xc0, 0x0c, 0x00,
    0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 0x01, 0x78, 0xc0, 0x26, 0xc0, 0x49, 0x00,
    0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x02, 0xc0, 0x21, 0xc0, 0x21, 0x00, 0x1c, 0x00,
    0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x75, 0x6e, 0x72, 0x65, 0x6c, 0x61, 0x74, 0x65,
    0x64, 0x03, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x04,
    0x09, 0x09, 0x09, 0x09,
];

/// A name in wire form, uncompressed.
fn wire(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

fn rr(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut v = owner.to_vec();
    v.extend_from_slice(&rtype.to_be_bytes());
    v.extend_from_slice(&class.to_be_bytes());
    v.extend_from_slice(&ttl.to_be_bytes());
    v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    v.extend_from_slice(rdata);
    v
}

/// A message: header with `flags` and the counts, then the question (if any) and the records.
fn message(flags: u16, question: Option<&str>, counts: [u16; 3], records: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![0xab, 0xcd];
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&u16::from(question.is_some()).to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    if let Some(q) = question {
        v.extend_from_slice(&wire(q));
        v.extend_from_slice(&[0, 1, 0, 1]);
    }
    for r in records {
        v.extend_from_slice(r);
    }
    v
}

fn answer(name: &str, addr: &str, ttl: u32) -> Answer {
    Answer {
        name: name.to_owned(),
        addr: addr.parse().unwrap(),
        ttl,
    }
}

#[test]
fn plain_a_record() {
    let msg = message(
        0x8180,
        Some("example.org"),
        [1, 0, 0],
        &[rr(&[0xc0, 0x0c], 1, 1, 3600, &[192, 0, 2, 7])],
    );
    let mut out = Vec::new();
    assert_eq!(answers(&msg, &mut out), Ok(()));
    assert_eq!(out, vec![answer("example.org", "192.0.2.7", 3600)]);
}

#[test]
fn cname_chain_out_of_order_with_compression() {
    let mut out = Vec::new();
    assert_eq!(answers(&CNAME_CHAIN, &mut out), Ok(()));
    assert_eq!(
        out,
        vec![
            answer("www.example.com", "1.2.3.4", 60),
            answer("www.example.com", "2001:db8::1", 120),
        ]
    );
}

#[test]
fn every_strict_prefix_is_truncated() {
    for len in 0..CNAME_CHAIN.len() {
        let mut out = Vec::new();
        assert_eq!(
            answers(&CNAME_CHAIN[..len], &mut out),
            Err(DnsError::Truncated),
            "prefix of {len} bytes"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn queries_errors_and_question_counts_are_rejected() {
    let a = [rr(&[0xc0, 0x0c], 1, 1, 1, &[10, 0, 0, 1])];
    let mut out = Vec::new();
    let query = message(0x0100, Some("a.b"), [1, 0, 0], &a);
    assert_eq!(answers(&query, &mut out), Err(DnsError::NotResponse));
    let nxdomain = message(0x8183, Some("a.b"), [1, 0, 0], &a);
    assert_eq!(answers(&nxdomain, &mut out), Err(DnsError::Rcode(3)));
    let mut two = message(0x8180, Some("a.b"), [1, 0, 0], &a);
    two[5] = 2;
    assert_eq!(answers(&two, &mut out), Err(DnsError::QuestionCount(2)));
    let none = message(
        0x8180,
        None,
        [1, 0, 0],
        &[rr(&wire("a.b"), 1, 1, 1, &[1; 4])],
    );
    assert_eq!(answers(&none, &mut out), Err(DnsError::QuestionCount(0)));
    assert!(out.is_empty());
    assert!(!DnsError::Rcode(3).is_malformed());
    assert!(DnsError::Truncated.is_malformed());
}

#[test]
fn cname_loop_terminates_and_still_answers() {
    // a.test CNAME b.test, b.test CNAME a.test, b.test A 10.0.0.2.
    let msg = message(
        0x8180,
        Some("a.test"),
        [3, 0, 0],
        &[
            rr(&[0xc0, 0x0c], 5, 1, 50, &wire("b.test")),
            rr(&wire("b.test"), 5, 1, 40, &[0xc0, 0x0c]),
            rr(&wire("b.test"), 1, 1, 70, &[10, 0, 0, 2]),
        ],
    );
    let mut out = Vec::new();
    assert_eq!(answers(&msg, &mut out), Ok(()));
    assert_eq!(out, vec![answer("a.test", "10.0.0.2", 50)]);
}

/// A chain `n0.test -> n1.test -> ... -> n{hops}.test`, then `n{hops}.test A 10.0.0.9`.
fn chain_of(hops: usize) -> Vec<u8> {
    let mut records = Vec::new();
    for i in 0..hops {
        let owner = wire(&format!("n{i}.test"));
        records.push(rr(
            &owner,
            5,
            1,
            1000 - i as u32,
            &wire(&format!("n{}.test", i + 1)),
        ));
    }
    records.push(rr(
        &wire(&format!("n{hops}.test")),
        1,
        1,
        999,
        &[10, 0, 0, 9],
    ));
    records.reverse();
    message(0x8180, Some("n0.test"), [hops as u16 + 1, 0, 0], &records)
}

#[test]
fn cname_chains_stop_after_sixteen_hops() {
    let mut out = Vec::new();
    assert_eq!(answers(&chain_of(MAX_CNAME_HOPS), &mut out), Ok(()));
    assert_eq!(out, vec![answer("n0.test", "10.0.0.9", 1000 - 15)]);
    out.clear();
    assert_eq!(answers(&chain_of(MAX_CNAME_HOPS + 1), &mut out), Ok(()));
    assert_eq!(out, vec![]);
}

#[test]
fn compression_loops_and_bad_names_are_rejected() {
    let mut out = Vec::new();
    // The question name is a pointer to itself.
    let mut msg = message(0x8180, None, [0, 0, 0], &[]);
    msg[5] = 1;
    msg.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    assert_eq!(answers(&msg, &mut out), Err(DnsError::BadName));
    // Two pointers to each other.
    let mut msg = message(0x8180, None, [0, 0, 0], &[]);
    msg[5] = 1;
    msg.extend_from_slice(&[0x01, b'a', 0xc0, 0x10, 0xc0, 0x0c, 0, 1, 0, 1]);
    assert_eq!(answers(&msg, &mut out), Err(DnsError::BadName));
    // A reserved label type (0x40).
    let mut msg = message(0x8180, None, [0, 0, 0], &[]);
    msg[5] = 1;
    msg.extend_from_slice(&[0x41, b'a', 0, 0, 1, 0, 1]);
    assert_eq!(answers(&msg, &mut out), Err(DnsError::BadName));
    // A name of 256 bytes on the wire: 4 labels of 63 bytes.
    let long = [&"x".repeat(63); 4].map(|s| s.as_str()).join(".");
    let msg = message(0x8180, Some(&long), [0, 0, 0], &[]);
    assert_eq!(answers(&msg, &mut out), Err(DnsError::BadName));
    // Unprintable question names: a space, and a dot inside a label.
    for q in [&b"\x03a b\x00"[..], b"\x03a.b\x00"] {
        let mut msg = message(0x8180, None, [0, 0, 0], &[]);
        msg[5] = 1;
        msg.extend_from_slice(q);
        msg.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(answers(&msg, &mut out), Err(DnsError::BadName));
    }
    assert!(out.is_empty());
}

#[test]
fn names_of_253_characters_are_kept() {
    let long = [
        "x".repeat(63),
        "x".repeat(63),
        "x".repeat(63),
        "x".repeat(61),
    ]
    .join(".");
    assert_eq!(long.len(), MAX_NAME_TEXT);
    let a = [rr(&[0xc0, 0x0c], 1, 1, 7, &[10, 1, 2, 3])];
    let msg = message(0x8180, Some(&long), [1, 0, 0], &a);
    let mut out = Vec::new();
    assert_eq!(answers(&msg, &mut out), Ok(()));
    assert_eq!(out, vec![answer(&long, "10.1.2.3", 7)]);
}

#[test]
fn other_classes_and_bad_rdata_lengths_are_ignored() {
    let msg = message(
        0x8180,
        Some("x.test"),
        [3, 0, 0],
        &[
            rr(&[0xc0, 0x0c], 1, 3, 9, &[10, 0, 0, 1]),
            rr(&[0xc0, 0x0c], 1, 1, 9, &[10, 0, 0, 2, 0]),
            rr(
                &[0xc0, 0x0c],
                28,
                1,
                9,
                &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
        ],
    );
    let mut out = Vec::new();
    assert_eq!(answers(&msg, &mut out), Ok(()));
    assert_eq!(out, vec![answer("x.test", "fe80::1", 9)]);
}

#[test]
fn mdns_announcement() {
    let host = wire("Jon-Laptop.local");
    let records = [
        // Answers: A with the cache-flush bit, PTR (ignored).
        rr(&host, 1, 0x8001, 120, &[192, 168, 1, 23]),
        rr(&wire("23.1.168.192.in-addr.arpa"), 12, 0x8001, 120, &host),
        // Authority: skipped even though it is an A record.
        rr(&wire("probe.local"), 1, 1, 120, &[192, 168, 1, 99]),
        // Additional: AAAA for the same host, A outside .local, A for `local` itself.
        rr(
            &host,
            28,
            0x8001,
            120,
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        rr(&wire("host.example"), 1, 1, 120, &[192, 168, 1, 50]),
        rr(&wire("local"), 1, 1, 120, &[192, 168, 1, 51]),
    ];
    let msg = message(0x8400, None, [2, 1, 3], &records);
    let mut out = Vec::new();
    assert_eq!(mdns_names(&msg, &mut out), Ok(()));
    assert_eq!(
        out,
        vec![
            ("jon-laptop".to_owned(), "192.168.1.23".parse().unwrap()),
            ("jon-laptop".to_owned(), "fe80::1".parse().unwrap()),
        ]
    );
}

#[test]
fn mdns_with_questions_and_errors() {
    let mut msg = message(0x8400, Some("printer.local"), [1, 0, 0], &[]);
    msg.extend_from_slice(&rr(&[0xc0, 0x0c], 1, 0x8001, 10, &[10, 9, 8, 7]));
    let mut out = Vec::new();
    assert_eq!(mdns_names(&msg, &mut out), Ok(()));
    assert_eq!(
        out,
        vec![("printer".to_owned(), "10.9.8.7".parse().unwrap())]
    );
    out.clear();
    // A record cut short: nothing is pushed, even for the records before it.
    let mut cut = message(0x8400, None, [2, 0, 0], &[]);
    cut.extend_from_slice(&rr(&wire("a.local"), 1, 1, 10, &[10, 0, 0, 1]));
    cut.extend_from_slice(&rr(&wire("b.local"), 1, 1, 10, &[10, 0, 0, 2])[..12]);
    assert_eq!(mdns_names(&cut, &mut out), Err(DnsError::Truncated));
    assert!(out.is_empty());
    let query = message(0x0000, Some("printer.local"), [0, 0, 0], &[]);
    assert_eq!(mdns_names(&query, &mut out), Err(DnsError::NotResponse));
}

#[test]
fn tcp_segments_split_into_messages() {
    let mut seg = Vec::new();
    for m in [&[1u8, 2, 3][..], &[], &[4, 5]] {
        seg.extend_from_slice(&(m.len() as u16).to_be_bytes());
        seg.extend_from_slice(m);
    }
    seg.extend_from_slice(&[0, 9, 1, 2]);
    let got: Vec<&[u8]> = tcp_messages(&seg).collect();
    assert_eq!(got, vec![&[1u8, 2, 3][..], &[4, 5]]);
    assert_eq!(tcp_messages(&[0]).count(), 0);
    let whole: Vec<u8> = [&[0, CNAME_CHAIN.len() as u8][..], &CNAME_CHAIN[..]].concat();
    let mut out = Vec::new();
    for m in tcp_messages(&whole) {
        answers(m, &mut out).unwrap();
    }
    assert_eq!(out.len(), 2);
}

#[test]
fn random_bytes_never_panic() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = CNAME_CHAIN;
    let mut out = Vec::new();
    let mut names = Vec::new();
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % buf.len() as u64) as usize;
        buf[i] = (x >> 32) as u8;
        let _ = answers(&buf, &mut out);
        let _ = mdns_names(&buf, &mut names);
        if x.is_multiple_of(64) {
            buf = CNAME_CHAIN;
        }
    }
}
