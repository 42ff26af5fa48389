use super::*;
use crate::tls::tests::RFC9001_CLIENT_HELLO;

/// RFC 9001 Appendix A.2: the protected client Initial packet (1200 bytes), DCID 8394c8f03e515708,
/// packet number 2, one CRYPTO frame with the ClientHello for `example.com`, then PADDING.
const RFC9001_A2_PACKET: &str = concat!(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c",
    "0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c",
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89",
    "eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208",
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8500a6ef69ec4e3feb6b1d98e",
    "610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db",
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed7b4ea9ec5d82e7",
    "961b7f25a9323851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556",
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b95811a198f3491de3e7",
    "fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00",
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632291d6a418211cc2962e20fe47feb3edf",
    "330f2c603a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd",
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132eef2fa09346aee33c28eb130ff2",
    "8f5b766953334113211996d20011a198e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd",
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accd",
    "d5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e",
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03adea2e1fbc5aa463d08ca19896d2bf59a07",
    "1b851e6c239052172f296bfb5e72404790a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2",
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f440591f355e12d439ff150aab7613499d",
    "bd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e",
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723",
    "c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab",
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905dd",
    "f3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064",
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241e221af44860018ab0856972e194cd934",);

/// RFC 9369 Appendix A.2: the first 32 bytes of the protected QUIC v2 client Initial built from
/// the same ClientHello, DCID and packet number.
const RFC9369_A2_PREFIX: &str = "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485";

const RFC_DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A CRYPTO frame: type 6, offset and length as 4-byte varints, then `data`.
fn crypto(offset: u32, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x8000_0000 | offset).to_be_bytes());
    f.extend_from_slice(&(0x8000_0000 | data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// The unprotected long header of a client Initial: no SCID, no token, a 4-byte packet number.
fn header(version: u32, initial_type: u8, dcid: &[u8], payload_len: usize, pn: u32) -> Vec<u8> {
    let mut h = vec![0xc3 | (initial_type << 4)];
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.extend_from_slice(&[0, 0]);
    let length = 4 + payload_len + TAG_LEN;
    h.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    h.extend_from_slice(&pn.to_be_bytes());
    h
}

/// Protects a packet as a client would: encrypts `payload` with `header` as associated data,
/// then applies header protection. `header` ends with a 4-byte packet number.
fn protect(version: u32, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let v = super::version(version).unwrap();
    let dcid_len = usize::from(header[5]);
    let keys = Keys::client_initial(v, &header[6..6 + dcid_len]).unwrap();
    let pn_offset = header.len() - 4;
    let pn = u64::from(u32::from_be_bytes(header[pn_offset..].try_into().unwrap()));
    let mut body = payload.to_vec();
    let aead = Aes128Gcm::new(&keys.key.into());
    let tag = aead
        .encrypt_inout_detached(&keys.nonce(pn).into(), header, body.as_mut_slice().into())
        .unwrap();
    let mut pkt = header.to_vec();
    pkt.extend_from_slice(&body);
    pkt.extend_from_slice(&tag);
    let mask = keys
        .mask(&pkt[pn_offset + 4..pn_offset + 4 + SAMPLE_LEN])
        .unwrap();
    pkt[0] ^= mask[0] & 0x0f;
    for i in 0..4 {
        pkt[pn_offset + i] ^= mask[1 + i];
    }
    pkt
}

/// The RFC 9001 A.2 payload: the CRYPTO frame with the ClientHello, PADDING to 1162 bytes.
fn rfc_payload() -> Vec<u8> {
    let mut p = vec![0x06, 0x00, 0x40, 0xf1];
    p.extend_from_slice(&RFC9001_CLIENT_HELLO);
    p.resize(1162, 0);
    p
}

/// A v1 client Initial for DCID 0x0102030405060708 carrying `frames`, padded to 1162 bytes.
fn v1_packet(frames: &[u8]) -> Vec<u8> {
    let mut payload = frames.to_vec();
    payload.resize(payload.len().max(1162), 0);
    let dcid = [1, 2, 3, 4, 5, 6, 7, 8];
    protect(
        VERSION_1,
        &header(VERSION_1, 0, &dcid, payload.len(), 0),
        &payload,
    )
}

#[test]
fn rfc9001_keys() {
    let keys = Keys::client_initial(&V1, &RFC_DCID).unwrap();
    assert_eq!(keys.key.to_vec(), unhex("1f369613dd76d5467730efcbe3b1a22d"));
    assert_eq!(keys.iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
    assert_eq!(keys.hp.to_vec(), unhex("9f50449e04a0e810283a1e9933adedd2"));
}

#[test]
fn rfc9001_client_initial() {
    let pkt = unhex(RFC9001_A2_PACKET);
    assert_eq!(pkt.len(), 1200);
    let mut out = String::from("stale");
    assert!(initial_server_name(&pkt, &mut out));
    assert_eq!(out, "example.com");
    // Our own protection of the same header and payload gives the RFC's bytes.
    let hdr = unhex("c300000001088394c8f03e5157080000449e00000002");
    assert_eq!(protect(VERSION_1, &hdr, &rfc_payload()), pkt);
}

#[test]
fn rfc9369_v2_keys_and_packet() {
    let keys = Keys::client_initial(&V2, &RFC_DCID).unwrap();
    assert_eq!(keys.key.to_vec(), unhex("8b1a0bc121284290a29e0971b5cd045d"));
    assert_eq!(keys.iv.to_vec(), unhex("91f73e2351d8fa91660e909f"));
    assert_eq!(keys.hp.to_vec(), unhex("45b95e15235d6f45a6b19cbcb0294ba9"));
    let hdr = unhex("d36b3343cf088394c8f03e5157080000449e00000002");
    assert_eq!(hdr, header(VERSION_2, 0b01, &RFC_DCID, 1162, 2));
    let pkt = protect(VERSION_2, &hdr, &rfc_payload());
    assert_eq!(pkt.len(), 1200);
    assert_eq!(pkt[..32].to_vec(), unhex(RFC9369_A2_PREFIX));
    let mut out = String::new();
    assert!(initial_server_name(&pkt, &mut out));
    assert_eq!(out, "example.com");
}

#[test]
fn damaged_or_foreign_packets_are_refused() {
    let good = unhex(RFC9001_A2_PACKET);
    let mut out = String::from("unchanged");
    let mut tampered = good.clone();
    tampered[600] ^= 1;
    assert!(!initial_server_name(&tampered, &mut out));
    let mut bad_tag = good.clone();
    bad_tag[1199] ^= 0x80;
    assert!(!initial_server_name(&bad_tag, &mut out));
    assert!(!initial_server_name(&good[..1199], &mut out));
    let mut v2_label = good.clone();
    v2_label[1..5].copy_from_slice(&VERSION_2.to_be_bytes());
    assert!(!initial_server_name(&v2_label, &mut out));
    let mut draft = good.clone();
    draft[1..5].copy_from_slice(&0xff00_001du32.to_be_bytes());
    assert!(!initial_server_name(&draft, &mut out));
    let mut handshake = good.clone();
    handshake[0] = 0xe0;
    assert!(!initial_server_name(&handshake, &mut out));
    let mut short = good.clone();
    short[0] = 0x40;
    assert!(!initial_server_name(&short, &mut out));
    let mut long_cid = good.clone();
    long_cid[5] = 21;
    assert!(!initial_server_name(&long_cid, &mut out));
    for len in 0..64 {
        assert!(!initial_server_name(&good[..len], &mut out));
    }
    assert_eq!(out, "unchanged");
}

#[test]
fn crypto_frames_out_of_order_with_ping_ack_and_padding() {
    let hello = &RFC9001_CLIENT_HELLO;
    let mut frames = vec![0x01];
    frames.extend(crypto(100, &hello[100..]));
    frames.extend([0x00, 0x00]);
    // ACK: largest 5, delay 0, 1 more range, first range 0, gap 1, length 1; then ACK_ECN.
    frames.extend([0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x01]);
    frames.extend([0x03, 0x05, 0x00, 0x00, 0x00, 0x07, 0x08, 0x09]);
    frames.extend(crypto(0, &hello[..60]));
    frames.extend(crypto(50, &hello[50..100]));
    let mut out = String::new();
    assert!(initial_server_name(&v1_packet(&frames), &mut out));
    assert_eq!(out, "example.com");
}

#[test]
fn client_hello_must_reach_the_server_name_from_offset_zero() {
    let hello = &RFC9001_CLIENT_HELLO;
    let mut out = String::new();
    // The server_name extension ends at byte 69 of the ClientHello.
    assert!(initial_server_name(
        &v1_packet(&crypto(0, &hello[..69])),
        &mut out
    ));
    assert_eq!(out, "example.com");
    out.clear();
    assert!(!initial_server_name(
        &v1_packet(&crypto(0, &hello[..68])),
        &mut out
    ));
    assert!(!initial_server_name(
        &v1_packet(&crypto(1, &hello[1..])),
        &mut out
    ));
    let mut gap = crypto(0, &hello[..40]);
    gap.extend(crypto(41, &hello[41..]));
    assert!(!initial_server_name(&v1_packet(&gap), &mut out));
    // A STREAM frame stops the walk before the CRYPTO frame.
    let mut stream = vec![0x08, 0x00, 0x01, 0xaa];
    stream.extend(crypto(0, hello));
    assert!(!initial_server_name(&v1_packet(&stream), &mut out));
    // CRYPTO data beyond 16 KiB is ignored, not a failure.
    let mut far = crypto(0, hello);
    far.extend(crypto(MAX_CRYPTO as u32 - 2, &[1, 2, 3, 4]));
    assert!(initial_server_name(&v1_packet(&far), &mut out));
    assert_eq!(out, "example.com");
}

#[test]
fn random_bytes_never_panic() {
    let base = unhex(RFC9001_A2_PACKET);
    let mut buf = base.clone();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut out = String::new();
    for i in 0..3_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly damage the header, where the parsing is.
        let at = (x % if i % 2 == 0 { 64 } else { 1200 }) as usize;
        buf[at] = (x >> 40) as u8;
        let len = ((x >> 20) % 1201) as usize;
        let _ = initial_server_name(&buf[..len], &mut out);
        let _ = initial_server_name(&buf, &mut out);
        if x.is_multiple_of(16) {
            buf.clone_from(&base);
        }
    }
}

/// The (offset, length) of the CRYPTO frames of a client Initial, in the order sent.
fn crypto_frames_of(datagram: &[u8]) -> Vec<(u64, u64)> {
    let initial = ClientInitial::open(datagram).unwrap();
    let mut r = Reader::new(initial.payload());
    let mut frames = Vec::new();
    while let Some(t) = r.varint() {
        match t {
            0x00 | 0x01 => {}
            0x06 => {
                let offset = r.varint().unwrap();
                let len = r.varint().unwrap();
                r.skip(len as usize).unwrap();
                frames.push((offset, len));
            }
            _ => panic!("frame type {t}"),
        }
    }
    frames
}

const SPLIT_DCID: [u8; 8] = [0x5a, 0x11, 0xec, 0, 1, 2, 3, 4];

/// The two Initials of a ClientHello padded to 1,800 bytes, as with X25519MLKEM768.
fn split_pair(dcid: &[u8], name: &str) -> (Vec<u8>, Vec<u8>) {
    let mut d = build::quic_client_initials_split(dcid, name, 1800);
    assert_eq!(d.len(), 2);
    let second = d.pop().unwrap();
    (d.pop().unwrap(), second)
}

#[test]
fn split_initials_are_built_as_chrome_sends_them() {
    let hello = build::client_hello_padded("pq.example.com", 1800);
    assert_eq!(hello.len(), 1800);
    assert_eq!(
        crate::tls::client_hello_sni_from_handshake(&hello),
        Some("pq.example.com")
    );
    let (d1, d2) = split_pair(&SPLIT_DCID, "pq.example.com");
    assert_eq!((d1.len(), d2.len()), (1200, 1200));
    let f1 = crypto_frames_of(&d1);
    let f2 = crypto_frames_of(&d2);
    assert_eq!(f1.len(), 2);
    assert_eq!(f1[0].0, 0);
    assert_eq!(f1[1].0, f1[0].1);
    assert_eq!(f2.len(), 3);
    assert!(f2.windows(2).all(|w| w[0].0 > w[1].0), "{f2:?}");
    assert_eq!(f2[2].0, f1[1].0 + f1[1].1);
    assert_eq!(f2[0].0 + f2[0].1, 1800);
    // Neither datagram names the server alone.
    let mut out = String::new();
    assert!(!initial_server_name(&d1, &mut out));
    assert!(!initial_server_name(&d2, &mut out));
    // Small ClientHellos are split before their server_name; too large ones are not built.
    for pad in [0, 100, 600, 1100, 1200, 2000] {
        let d = build::quic_client_initials_split(&SPLIT_DCID, "a.example", pad);
        assert_eq!(d.len(), 2, "pad {pad}");
        assert!(!initial_server_name(&d[0], &mut out));
        let mut r = InitialReassembler::new(1);
        assert!(!r.push(0, &d[0], &mut out));
        assert!(r.push(0, &d[1], &mut out), "pad {pad}");
        assert_eq!(out, "a.example");
    }
    assert!(build::quic_client_initials_split(&SPLIT_DCID, "a.example", 2400).is_empty());
    assert!(build::quic_client_initials_split(&[1; 21], "a.example", 1800).is_empty());
    assert_eq!(build::quic_client_initial(&[1; 21], "a.example"), None);
}

#[test]
fn reassembler_reads_a_name_split_over_two_datagrams() {
    let (d1, d2) = split_pair(&SPLIT_DCID, "pq.example.com");
    let mut r = InitialReassembler::new(8);
    let mut out = String::from("unchanged");
    assert!(!r.push(7, &d1, &mut out));
    assert_eq!(r.pending(), 1);
    assert_eq!(out, "unchanged");
    assert!(r.push(7, &d2, &mut out));
    assert_eq!(out, "pq.example.com");
    assert_eq!(r.pending(), 0);
    // In reverse order too.
    let mut out = String::new();
    assert!(!r.push(7, &d2, &mut out));
    assert_eq!(r.pending(), 1);
    assert!(r.push(7, &d1, &mut out));
    assert_eq!(out, "pq.example.com");
    assert_eq!(r.pending(), 0);
    // A retransmitted first datagram is a duplicate: it changes nothing.
    assert!(!r.push(7, &d1, &mut out));
    assert!(!r.push(7, &d1, &mut out));
    assert_eq!(r.pending(), 1);
    out.clear();
    assert!(r.push(7, &d2, &mut out));
    assert_eq!(out, "pq.example.com");
    assert_eq!(r.pending(), 0);
}

#[test]
fn reassembler_single_datagram_names_at_once_without_state() {
    let mut r = InitialReassembler::new(8);
    let mut out = String::new();
    assert!(r.push(1, &unhex(RFC9001_A2_PACKET), &mut out));
    assert_eq!(out, "example.com");
    assert_eq!(r.pending(), 0);
    let d = build::quic_client_initial(&[9, 8, 7, 6, 5, 4, 3, 2], "one.example.net").unwrap();
    assert!(r.push(1, &d, &mut out));
    assert_eq!(out, "one.example.net");
    assert_eq!(r.pending(), 0);
    // The RFC 9369 v2 packet too.
    let hdr = unhex("d36b3343cf088394c8f03e5157080000449e00000002");
    assert!(r.push(2, &protect(VERSION_2, &hdr, &rfc_payload()), &mut out));
    assert_eq!(out, "example.com");
    assert_eq!(r.pending(), 0);
    // With room for nothing, whole datagrams still name.
    let mut none = InitialReassembler::new(0);
    assert!(none.push(1, &d, &mut out));
    let (d1, d2) = split_pair(&SPLIT_DCID, "pq.example.com");
    assert!(!none.push(1, &d1, &mut out));
    assert_eq!(none.pending(), 0);
    assert!(!none.push(1, &d2, &mut out));
    assert_eq!(out, "one.example.net");
}

#[test]
fn reassembler_evicts_the_oldest_entry() {
    let (d1, d2) = split_pair(&SPLIT_DCID, "pq.example.com");
    let mut r = InitialReassembler::new(2);
    let mut out = String::new();
    assert!(!r.push(1, &d1, &mut out));
    assert!(!r.push(2, &d1, &mut out));
    assert!(!r.push(3, &d1, &mut out));
    assert_eq!(r.pending(), 2);
    // Key 1 was forgotten: its second datagram starts a new entry and evicts key 2.
    assert!(!r.push(1, &d2, &mut out));
    assert_eq!(r.pending(), 2);
    assert!(r.push(3, &d2, &mut out));
    assert_eq!(out, "pq.example.com");
    assert_eq!(r.pending(), 1);
    out.clear();
    assert!(!r.push(2, &d2, &mut out));
    assert_eq!(r.pending(), 2);
    // Key 1 still holds its second datagram.
    assert!(r.push(1, &d1, &mut out));
    assert_eq!(out, "pq.example.com");
    assert_eq!(r.pending(), 1);
    // Progress on an entry does not make it younger: the oldest made goes first.
    let mut r = InitialReassembler::new(2);
    let (e1, e2) = split_pair(&[1; 8], "e.example");
    let (f1, f2) = split_pair(&[2; 8], "f.example");
    assert!(!r.push(1, &e1, &mut out));
    assert!(!r.push(2, &f1, &mut out));
    assert!(!r.push(1, &e1, &mut out));
    assert!(!r.push(3, &f1, &mut out)); // evicts key 1
    assert!(!r.push(1, &e2, &mut out)); // a new entry for key 1, evicts key 2
    assert!(!r.push(2, &f2, &mut out)); // a new entry for key 2, evicts key 3
    assert_eq!(r.pending(), 2);
    assert!(r.push(1, &e1, &mut out));
    assert_eq!(out, "e.example");
    assert!(r.push(2, &f1, &mut out));
    assert_eq!(out, "f.example");
    assert_eq!(r.pending(), 0);
}

#[test]
fn reassembler_keeps_keys_and_connection_ids_apart() {
    let (a1, a2) = split_pair(&SPLIT_DCID, "a.example.org");
    let (b1, b2) = split_pair(&SPLIT_DCID, "b.example.org");
    let (c1, c2) = split_pair(&[0xcc; 8], "c.example.org");
    let mut r = InitialReassembler::new(8);
    let mut out = String::new();
    // Same DCID, different keys.
    assert!(!r.push(1, &a1, &mut out));
    assert!(!r.push(2, &b2, &mut out));
    assert_eq!(r.pending(), 2);
    assert!(r.push(2, &b1, &mut out));
    assert_eq!(out, "b.example.org");
    assert!(r.push(1, &a2, &mut out));
    assert_eq!(out, "a.example.org");
    assert_eq!(r.pending(), 0);
    // Same key, different DCIDs (a new attempt of the connection).
    assert!(!r.push(1, &a1, &mut out));
    assert!(!r.push(1, &c2, &mut out));
    assert_eq!(r.pending(), 2);
    assert!(r.push(1, &c1, &mut out));
    assert_eq!(out, "c.example.org");
    assert!(r.push(1, &a2, &mut out));
    assert_eq!(out, "a.example.org");
    assert_eq!(r.pending(), 0);
}

#[test]
fn reassembler_keeps_the_first_copy_of_overlapping_data() {
    let hello = &RFC9001_CLIENT_HELLO;
    let mut r = InitialReassembler::new(4);
    let mut out = String::new();
    // The name (bytes 58..69) comes first; a differing copy later is ignored.
    assert!(!r.push(5, &v1_packet(&crypto(40, &hello[40..100])), &mut out));
    let mut forged = hello[..80].to_vec();
    forged[60] = b'X';
    assert!(r.push(5, &v1_packet(&crypto(0, &forged)), &mut out));
    assert_eq!(out, "example.com");
    // Within one datagram as well.
    let mut frames = crypto(0, &hello[..70]);
    frames.extend(crypto(50, &forged[50..]));
    frames.extend(crypto(0, &forged));
    assert!(initial_server_name(&v1_packet(&frames), &mut out));
    assert_eq!(out, "example.com");
}

#[test]
fn reassembler_forgets_what_will_never_name() {
    let hello = &RFC9001_CLIENT_HELLO;
    let mut r = InitialReassembler::new(4);
    let mut out = String::new();
    // Not a ClientHello.
    let mut server_hello = hello[..40].to_vec();
    server_hello[0] = 2;
    assert!(!r.push(1, &v1_packet(&crypto(0, &server_hello)), &mut out));
    assert_eq!(r.pending(), 0);
    // A whole ClientHello without server_name.
    let mut nameless = *hello;
    nameless[49] = 0x77;
    assert!(!r.push(1, &v1_packet(&crypto(0, &nameless)), &mut out));
    assert_eq!(r.pending(), 0);
    // ... also when its end came first.
    assert!(!r.push(1, &v1_packet(&crypto(100, &nameless[100..])), &mut out));
    assert_eq!(r.pending(), 1);
    assert!(!r.push(1, &v1_packet(&crypto(0, &nameless[..100])), &mut out));
    assert_eq!(r.pending(), 0);
    // No CRYPTO data, or only past MAX_CRYPTO: no entry.
    assert!(!r.push(1, &v1_packet(&[0x01]), &mut out));
    assert!(!r.push(1, &v1_packet(&crypto(MAX_CRYPTO as u32, hello)), &mut out));
    assert_eq!(r.pending(), 0);
    // A ClientHello that claims 16 MiB and whose first extension never ends: the entry holds
    // MAX_CRYPTO bytes at most and is dropped once they are all there.
    let mut huge = vec![1, 0xff, 0xff, 0xff, 3, 3];
    huge.extend_from_slice(&[0; 32]);
    huge.extend_from_slice(&[
        0, 0, 2, 0x13, 0x01, 1, 0, 0xff, 0xff, 0x77, 0x77, 0xff, 0xff,
    ]);
    huge.resize(MAX_CRYPTO + 3000, 0xab);
    let chunk = 1100;
    let mut at = 0;
    while at < MAX_CRYPTO {
        let end = (at + chunk).min(huge.len());
        assert_eq!(r.pending(), usize::from(at > 0));
        assert!(!r.push(9, &v1_packet(&crypto(at as u32, &huge[at..end])), &mut out));
        at = end;
    }
    assert_eq!(r.pending(), 0);
    assert_eq!(out, "");
}

#[test]
fn reassembler_random_input_never_panics() {
    let (d1, d2) = split_pair(&SPLIT_DCID, "pq.example.com");
    let hello = build::client_hello_padded("pq.example.com", 1800);
    let mut r = InitialReassembler::new(4);
    let mut out = String::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Damaged datagrams, under a few keys.
    for i in 0..2_000 {
        let mut d = if i % 2 == 0 { d1.clone() } else { d2.clone() };
        let v = next();
        let at = (v % if i % 3 == 0 { 64 } else { 1200 }) as usize;
        d[at] = (v >> 40) as u8;
        let len = ((v >> 20) % 1201) as usize;
        let _ = r.push(v % 5, &d[..len], &mut out);
        let _ = r.push(v % 3, &d, &mut out);
        assert!(r.pending() <= 4);
    }
    // Well-protected Initials with CRYPTO frames at random offsets, lengths and contents.
    for _ in 0..300 {
        let mut frames = Vec::new();
        for _ in 0..(next() % 6) {
            let v = next();
            let offset = if v % 4 == 0 {
                (v >> 8) as u32 % (MAX_CRYPTO as u32 + 100)
            } else {
                (v >> 8) as u32 % 1800
            };
            let len = ((v >> 32) % 300) as usize;
            let data: Vec<u8> = if v % 3 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                let from = (offset as usize).min(hello.len());
                hello[from..(from + len).min(hello.len())].to_vec()
            };
            frames.extend(crypto(offset, &data));
            if v % 7 == 0 {
                frames.extend([0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x01]);
            }
        }
        frames.truncate(1162);
        let _ = r.push(next() % 3, &v1_packet(&frames), &mut out);
        assert!(r.pending() <= 4);
    }
}
