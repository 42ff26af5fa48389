//! The server name of a QUIC client Initial packet (versions 1 and 2).
//!
//! Initial packets are encrypted with keys that anyone can derive from the packet's Destination
//! Connection ID (RFC 9001 §5.2; RFC 9369 §3.3 for version 2): [`initial_server_name`] derives
//! them, removes header protection, decrypts and authenticates the payload, gathers the CRYPTO
//! frames and reads the server name of the ClientHello they carry. A ClientHello that spans
//! several datagrams (post-quantum key shares make it larger than one Initial) is read by
//! [`InitialReassembler`], which holds the CRYPTO data of a bounded number of connections until
//! the name is complete.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::{AeadInOut, Aes128Gcm};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::rd::Reader;

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;
/// CRYPTO data past this offset is ignored: the ClientHello is looked for in the first 16 KiB.
pub const MAX_CRYPTO: usize = 16 * 1024;

const MAX_CID: usize = 20;
const SAMPLE_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// What differs between the QUIC versions for Initial packets.
struct Version {
    salt: [u8; 20],
    key_label: &'static [u8],
    iv_label: &'static [u8],
    hp_label: &'static [u8],
    /// The long-header packet type of Initial packets (bits 0x30 of the first byte).
    initial_type: u8,
}

const V1: Version = Version {
    salt: [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ],
    key_label: b"quic key",
    iv_label: b"quic iv",
    hp_label: b"quic hp",
    initial_type: 0b00,
};

const V2: Version = Version {
    salt: [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ],
    key_label: b"quicv2 key",
    iv_label: b"quicv2 iv",
    hp_label: b"quicv2 hp",
    initial_type: 0b01,
};

fn version(v: u32) -> Option<&'static Version> {
    match v {
        VERSION_1 => Some(&V1),
        VERSION_2 => Some(&V2),
        _ => None,
    }
}

/// Reads a UDP datagram whose first packet is a QUIC v1 or v2 long-header Initial sent by a
/// client, and when its CRYPTO frames hold the ClientHello from offset 0 far enough to contain
/// the whole server_name extension, replaces the contents of `out` with the server name and
/// returns true.
///
/// Returns false (leaving `out` unchanged) for anything else: another packet type or version,
/// a packet cut short, a payload that fails authentication (including a server's Initial, which
/// uses other keys), frames other than PADDING, PING, ACK and CRYPTO before the name is
/// complete, or a ClientHello whose start or server_name extension is not in this datagram
/// (see [`InitialReassembler`] for ClientHellos that span several datagrams). Where CRYPTO
/// frames overlap, the first copy of each byte is kept. Only the first packet of a datagram is
/// read. Allocates only once the datagram has passed the header checks of an Initial packet (a
/// copy of the packet and at most [`MAX_CRYPTO`] bytes of CRYPTO data).
pub fn initial_server_name(datagram: &[u8], out: &mut String) -> bool {
    let Some(initial) = ClientInitial::open(datagram) else {
        return false;
    };
    let mut crypto = CryptoStream::default();
    crypto.add_frames(initial.payload());
    match crypto.hello() {
        Hello::Name(name) => {
            out.clear();
            out.push_str(name);
            true
        }
        Hello::Incomplete | Hello::Never => false,
    }
}

/// A client Initial packet whose protection has been removed.
struct ClientInitial<'a> {
    /// The Destination Connection ID, which the keys were derived from.
    dcid: &'a [u8],
    /// The decrypted packet (header, payload, then the tag).
    pkt: Vec<u8>,
    /// The length of the header, packet number included.
    hdr_len: usize,
}

impl<'a> ClientInitial<'a> {
    /// Parses, unprotects and decrypts the first packet of `datagram` when it is a client
    /// Initial of a known version; `None` for anything else or when authentication fails.
    fn open(datagram: &'a [u8]) -> Option<Self> {
        let h = parse_initial(datagram)?;
        let keys = Keys::client_initial(h.version, h.dcid)?;
        let (pkt, hdr_len) = unprotect(datagram, &h, &keys)?;
        Some(ClientInitial {
            dcid: h.dcid,
            pkt,
            hdr_len,
        })
    }

    /// The decrypted frames.
    fn payload(&self) -> &[u8] {
        self.pkt
            .get(self.hdr_len..self.pkt.len().saturating_sub(TAG_LEN))
            .unwrap_or_default()
    }
}

/// The fields of an Initial packet's long header.
struct InitialHeader<'a> {
    version: &'static Version,
    dcid: &'a [u8],
    /// Offset of the (protected) packet number.
    pn_offset: usize,
    /// Offset just past the packet (the Length field counts from the packet number).
    end: usize,
}

/// Parses the long header of the first packet of `d` when it is an Initial of a known version
/// whose whole packet, with room for the header protection sample, is in `d`.
fn parse_initial(d: &[u8]) -> Option<InitialHeader<'_>> {
    let mut r = Reader::new(d);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = version(r.u32()?)?;
    if (first >> 4) & 0b11 != version.initial_type {
        return None;
    }
    let dcid_len = usize::from(r.u8()?);
    if dcid_len > MAX_CID {
        return None;
    }
    let dcid = r.take(dcid_len)?;
    let scid_len = usize::from(r.u8()?);
    if scid_len > MAX_CID {
        return None;
    }
    r.skip(scid_len)?;
    let token_len = usize::try_from(r.varint()?).ok()?;
    r.skip(token_len)?;
    let length = usize::try_from(r.varint()?).ok()?;
    let pn_offset = r.pos();
    let end = pn_offset.checked_add(length)?;
    if end > d.len() || length < 4 + SAMPLE_LEN {
        return None;
    }
    Some(InitialHeader {
        version,
        dcid,
        pn_offset,
        end,
    })
}

/// The client's Initial packet protection keys.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) key: [u8; 16],
    pub(crate) iv: [u8; 12],
    pub(crate) hp: [u8; 16],
}

impl Keys {
    /// Derives the client Initial keys of `version` from the Destination Connection ID.
    fn client_initial(version: &Version, dcid: &[u8]) -> Option<Keys> {
        let initial = Hkdf::<Sha256>::new(Some(&version.salt), dcid);
        let mut client_secret = [0u8; 32];
        expand_label(&initial, b"client in", &mut client_secret)?;
        let client = Hkdf::<Sha256>::from_prk(&client_secret).ok()?;
        let mut keys = Keys {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, version.key_label, &mut keys.key)?;
        expand_label(&client, version.iv_label, &mut keys.iv)?;
        expand_label(&client, version.hp_label, &mut keys.hp)?;
        Some(keys)
    }

    /// The 5-byte header protection mask for `sample` (AES-128-ECB of the sample).
    fn mask(&self, sample: &[u8]) -> Option<[u8; 5]> {
        let mut block: [u8; 16] = sample.try_into().ok()?;
        let cipher = Aes128::new(&self.hp.into());
        cipher.encrypt_block((&mut block).into());
        let mut mask = [0u8; 5];
        mask.copy_from_slice(block.get(..5)?);
        Some(mask)
    }

    /// The AEAD nonce: the IV with the packet number XORed into its last bytes.
    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, p) in nonce.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        nonce
    }
}

/// HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context, into `out`.
fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    const PREFIX: &[u8] = b"tls13 ";
    let mut info = [0u8; 2 + 1 + 6 + 16 + 1];
    let label_len = PREFIX.len() + label.len();
    let out_len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let parts: [&[u8]; 5] = [
        &out_len,
        &[u8::try_from(label_len).ok()?],
        PREFIX,
        label,
        &[0],
    ];
    let mut n = 0;
    for part in parts {
        info.get_mut(n..n + part.len())?.copy_from_slice(part);
        n += part.len();
    }
    prk.expand(info.get(..n)?, out).ok()
}

/// Removes header protection from a copy of the packet and decrypts its payload in place;
/// returns the copy and the length of its header. `None` when authentication fails.
fn unprotect(d: &[u8], h: &InitialHeader<'_>, keys: &Keys) -> Option<(Vec<u8>, usize)> {
    let sample_at = h.pn_offset + 4;
    let mask = keys.mask(d.get(sample_at..sample_at + SAMPLE_LEN)?)?;
    let mut pkt = d.get(..h.end)?.to_vec();
    let first = pkt.first_mut()?;
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut pn = 0u64;
    let pn_bytes = pkt.get_mut(h.pn_offset..h.pn_offset + pn_len)?;
    for (b, m) in pn_bytes.iter_mut().zip(&mask[1..]) {
        *b ^= m;
        pn = (pn << 8) | u64::from(*b);
    }
    let hdr_len = h.pn_offset + pn_len;
    if pkt.len() < hdr_len + TAG_LEN {
        return None;
    }
    let (header, body) = pkt.split_at_mut(hdr_len);
    let (ciphertext, tag) = body.split_at_mut(body.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().ok()?;
    let aead = Aes128Gcm::new(&keys.key.into());
    aead.decrypt_inout_detached(
        &keys.nonce(pn).into(),
        header,
        ciphertext.into(),
        &tag.into(),
    )
    .ok()?;
    Some((pkt, hdr_len))
}

/// What the CRYPTO data gathered so far says of the ClientHello.
enum Hello<'a> {
    /// The server name.
    Name(&'a str),
    /// Not enough contiguous data from offset 0 yet.
    Incomplete,
    /// No name will come: the data from offset 0 is not a ClientHello, or the whole message
    /// (or all of the first [`MAX_CRYPTO`] bytes) is there without a readable server name.
    Never,
}

/// The CRYPTO stream of client Initials below [`MAX_CRYPTO`], gathered from frames in any
/// order. The first copy of each byte is kept: a later frame covering bytes already held only
/// fills the gaps (RFC 9000 §19.6 requires retransmitted data to be identical; a copy that
/// differs is ignored, not checked). Holds at most [`MAX_CRYPTO`] bytes and as many flags.
#[derive(Debug, Default)]
struct CryptoStream {
    buf: Vec<u8>,
    /// Which bytes of `buf` have been received.
    covered: Vec<bool>,
    /// How many bytes are contiguous from offset 0.
    prefix: usize,
}

impl CryptoStream {
    /// Walks the frames of a decrypted Initial payload and adds the data of its CRYPTO frames;
    /// returns how many bytes were new. Stops at the first frame that is not PADDING, PING,
    /// ACK or CRYPTO, or at a frame cut short, keeping what came before.
    fn add_frames(&mut self, payload: &[u8]) -> usize {
        let mut added = 0;
        let mut r = Reader::new(payload);
        while let Some(frame_type) = r.varint() {
            let ok = match frame_type {
                0x00 | 0x01 => Some(()),
                0x02 | 0x03 => skip_ack(&mut r, frame_type == 0x03),
                0x06 => self.crypto_frame(&mut r).map(|n| added += n),
                _ => None,
            };
            if ok.is_none() {
                break;
            }
        }
        added
    }

    /// Reads one CRYPTO frame's offset, length and data, and adds the part of the data below
    /// [`MAX_CRYPTO`]; returns how many bytes were new. `None` for a frame cut short.
    fn crypto_frame(&mut self, r: &mut Reader<'_>) -> Option<usize> {
        let offset = r.varint()?;
        let len = usize::try_from(r.varint()?).ok()?;
        let data = r.take(len)?;
        Some(self.add(offset, data))
    }

    /// Adds `data` at stream offset `offset`, keeping bytes already held and ignoring what
    /// lies at or past [`MAX_CRYPTO`]; returns how many bytes were new.
    fn add(&mut self, offset: u64, data: &[u8]) -> usize {
        let Ok(start) = usize::try_from(offset) else {
            return 0;
        };
        if start >= MAX_CRYPTO {
            return 0;
        }
        let end = start.saturating_add(data.len()).min(MAX_CRYPTO);
        if self.buf.len() < end {
            self.buf.resize(end, 0);
            self.covered.resize(end, false);
        }
        let (Some(buf), Some(covered)) = (
            self.buf.get_mut(start..end),
            self.covered.get_mut(start..end),
        ) else {
            return 0;
        };
        let mut added = 0;
        for ((b, c), &d) in buf.iter_mut().zip(covered.iter_mut()).zip(data) {
            if !*c {
                *b = d;
                *c = true;
                added += 1;
            }
        }
        // Bounded by MAX_CRYPTO over the life of the stream: the prefix only grows.
        while self.covered.get(self.prefix) == Some(&true) {
            self.prefix += 1;
        }
        added
    }

    /// What the bytes contiguous from offset 0 say of the ClientHello.
    fn hello(&self) -> Hello<'_> {
        let hs = self.buf.get(..self.prefix).unwrap_or_default();
        if let Some(name) = crate::tls::client_hello_sni_from_handshake(hs) {
            return Hello::Name(name);
        }
        let Some(&msg_type) = hs.first() else {
            return Hello::Incomplete;
        };
        let whole = hs
            .get(1..4)
            .map(|l| 4 + l.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)));
        if msg_type != 1 || whole.is_some_and(|n| hs.len() >= n) || hs.len() >= MAX_CRYPTO {
            Hello::Never
        } else {
            Hello::Incomplete
        }
    }
}

/// Skips the body of an ACK frame (RFC 9000 §19.3), with the ECN counts when `ecn`.
fn skip_ack(r: &mut Reader<'_>, ecn: bool) -> Option<()> {
    let _largest = r.varint()?;
    let _delay = r.varint()?;
    let ranges = r.varint()?;
    let _first_range = r.varint()?;
    // Each range takes at least two bytes, so this loop is bounded by the payload length.
    let mut left = ranges;
    while left > 0 {
        r.varint()?;
        r.varint()?;
        left -= 1;
    }
    if ecn {
        r.varint()?;
        r.varint()?;
        r.varint()?;
    }
    Some(())
}

mod reassembly;
pub use reassembly::InitialReassembler;

#[cfg(test)]
mod tests;

/// Builders of what clients send, for generated captures and tests: a TLS ClientHello naming a
/// server, and a QUIC client Initial carrying it (protected as RFC 9001 §5 says).
pub mod build {
    use super::*;

    /// A ClientHello handshake message (type 1) with one cipher suite, `server_name` and
    /// `supported_versions` (TLS 1.3).
    pub fn client_hello(server_name: &str) -> Vec<u8> {
        let mut ext = server_name_ext(server_name);
        // supported_versions: TLS 1.3.
        ext.extend_from_slice(&SUPPORTED_VERSIONS);
        hello_with_extensions(&ext)
    }

    /// A ClientHello like [`client_hello`] of `pad_to` bytes (or as few as it takes), with the
    /// extensions `supported_versions`, a `key_share` of group X25519MLKEM768 (0x11ec) whose
    /// dummy key is as long as the padding takes, and `server_name` last, as a client with a
    /// post-quantum key share may order them.
    pub fn client_hello_padded(server_name: &str, pad_to: usize) -> Vec<u8> {
        padded_hello(server_name, pad_to).0
    }

    /// [`client_hello_padded`] and the offset of its server_name extension.
    fn padded_hello(server_name: &str, pad_to: usize) -> (Vec<u8>, usize) {
        let sni = server_name_ext(server_name);
        let bare = hello_with_extensions(&[]).len();
        let others = SUPPORTED_VERSIONS.len() + 10 + sni.len();
        let key_len = pad_to
            .saturating_sub(bare + others)
            .min(usize::from(u16::MAX).saturating_sub(others));
        let mut ext = SUPPORTED_VERSIONS.to_vec();
        ext.extend_from_slice(&[0, 51]);
        ext.extend_from_slice(&((key_len + 6) as u16).to_be_bytes());
        ext.extend_from_slice(&((key_len + 4) as u16).to_be_bytes());
        ext.extend_from_slice(&[0x11, 0xec]);
        ext.extend_from_slice(&(key_len as u16).to_be_bytes());
        ext.extend((0..key_len).map(|i| (i % 251) as u8));
        ext.extend_from_slice(&sni);
        let hello = hello_with_extensions(&ext);
        let sni_at = hello.len().saturating_sub(sni.len());
        (hello, sni_at)
    }

    /// The supported_versions extension of a client offering TLS 1.3 only.
    const SUPPORTED_VERSIONS: [u8; 7] = [0, 43, 0, 3, 2, 3, 4];

    /// A server_name extension with one host_name.
    fn server_name_ext(server_name: &str) -> Vec<u8> {
        let name = server_name.as_bytes();
        let mut ext = Vec::new();
        // server_name: list length, type 0 (host_name), name length, name.
        let sni_len = name.len() + 5;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(sni_len as u16).to_be_bytes());
        ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        ext
    }

    /// A ClientHello handshake message with one cipher suite and the extensions `ext`.
    fn hello_with_extensions(ext: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0x42; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // cipher suites
        body.extend_from_slice(&[1, 0]); // compression methods
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        hs
    }

    /// A TLS record (handshake, TLS 1.0 record version) holding [`client_hello`].
    pub fn tls_client_hello(server_name: &str) -> Vec<u8> {
        let hs = client_hello(server_name);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    /// A 1200-byte QUIC v1 client Initial datagram (packet number 0, no token) whose CRYPTO
    /// frame holds [`client_hello`]. `None` for a name too long to fit or a DCID longer than
    /// 20 bytes.
    pub fn quic_client_initial(dcid: &[u8], server_name: &str) -> Option<Vec<u8>> {
        let hello = client_hello(server_name);
        let mut payload = vec![0x06, 0x00];
        payload.extend_from_slice(&(0x4000 | u16::try_from(hello.len()).ok()?).to_be_bytes());
        payload.extend_from_slice(&hello);
        initial_datagram(dcid, 0, payload)
    }

    /// Two 1200-byte QUIC v1 client Initial datagrams (packet numbers 0 and 1, no token) whose
    /// CRYPTO frames together hold [`client_hello_padded`]`(server_name, pad_hello_to)`, as a
    /// client with a post-quantum key share sends them (`pad_hello_to` about 1,800 for
    /// X25519MLKEM768).
    ///
    /// The first datagram holds the ClientHello from offset 0 up to the server_name extension,
    /// or as much of that as fits, in two CRYPTO frames with a PING between; the second holds
    /// the rest in three CRYPTO frames in reverse offset order, with PINGs between. So neither
    /// datagram gives the name on its own. Empty when the ClientHello does not fit in the two
    /// (about 2,300 bytes with an 8-byte DCID) or the DCID is longer than 20 bytes.
    pub fn quic_client_initials_split(
        dcid: &[u8],
        server_name: &str,
        pad_hello_to: usize,
    ) -> Vec<Vec<u8>> {
        initials_split(dcid, server_name, pad_hello_to).unwrap_or_default()
    }

    fn initials_split(dcid: &[u8], server_name: &str, pad_hello_to: usize) -> Option<Vec<Vec<u8>>> {
        let (hello, sni_at) = padded_hello(server_name, pad_hello_to);
        let room = payload_room(dcid)?;
        // The first datagram: what comes before the server_name extension, as much as fits
        // beside two frame headers and a PING.
        let split = sni_at.min(room.checked_sub(2 * CRYPTO_OVERHEAD + 1)?);
        let half = split / 2;
        let mut first = Vec::new();
        crypto_frame(&mut first, 0, hello.get(..half)?)?;
        first.push(0x01);
        crypto_frame(&mut first, half, hello.get(half..split)?)?;
        let rest = hello.len().checked_sub(split)?;
        let cuts = [split, split + rest / 3, split + 2 * rest / 3, hello.len()];
        let mut second = Vec::new();
        for w in cuts.windows(2).rev() {
            let (Some(&from), Some(&to)) = (w.first(), w.get(1)) else {
                continue;
            };
            if from >= to {
                continue;
            }
            if !second.is_empty() {
                second.push(0x01);
            }
            crypto_frame(&mut second, from, hello.get(from..to)?)?;
        }
        Some(vec![
            initial_datagram(dcid, 0, first)?,
            initial_datagram(dcid, 1, second)?,
        ])
    }

    /// The bytes a CRYPTO frame takes besides its data (type, 2-byte offset and length).
    const CRYPTO_OVERHEAD: usize = 5;

    /// Appends a CRYPTO frame with 2-byte offset and length; `None` past 2-byte varints.
    fn crypto_frame(out: &mut Vec<u8>, offset: usize, data: &[u8]) -> Option<()> {
        if offset >= 0x4000 || data.len() >= 0x4000 {
            return None;
        }
        out.push(0x06);
        out.extend_from_slice(&(0x4000 | offset as u16).to_be_bytes());
        out.extend_from_slice(&(0x4000 | data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        Some(())
    }

    /// The payload length that makes a 1200-byte Initial: 1200 less the header (first byte,
    /// version, DCID with its length, empty SCID and token, 2-byte Length, 4-byte packet
    /// number) and the tag. `None` for a DCID longer than 20 bytes.
    fn payload_room(dcid: &[u8]) -> Option<usize> {
        if dcid.len() > MAX_CID {
            return None;
        }
        1200usize.checked_sub(6 + dcid.len() + 2 + 2 + 4 + TAG_LEN)
    }

    /// A 1200-byte QUIC v1 client Initial datagram with packet number `pn` whose payload is
    /// `payload` and PADDING. `None` when the payload does not fit.
    fn initial_datagram(dcid: &[u8], pn: u32, mut payload: Vec<u8>) -> Option<Vec<u8>> {
        let target = payload_room(dcid)?;
        if payload.len() > target {
            return None;
        }
        payload.resize(target, 0);
        let mut header = vec![0xc3];
        header.extend_from_slice(&VERSION_1.to_be_bytes());
        header.push(u8::try_from(dcid.len()).ok()?);
        header.extend_from_slice(dcid);
        header.extend_from_slice(&[0, 0]);
        let length = 4 + payload.len() + TAG_LEN;
        header.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
        header.extend_from_slice(&pn.to_be_bytes());
        protect(&V1, dcid, &header, &payload)
    }

    /// Encrypts `payload` with `header` as associated data, then protects the header (whose
    /// last 4 bytes are the packet number).
    fn protect(v: &Version, dcid: &[u8], header: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
        let keys = Keys::client_initial(v, dcid)?;
        let pn_offset = header.len().checked_sub(4)?;
        let pn = u64::from(u32::from_be_bytes(
            header.get(pn_offset..)?.try_into().ok()?,
        ));
        let mut body = payload.to_vec();
        let aead = Aes128Gcm::new(&keys.key.into());
        let tag = aead
            .encrypt_inout_detached(&keys.nonce(pn).into(), header, body.as_mut_slice().into())
            .ok()?;
        let mut pkt = header.to_vec();
        pkt.extend_from_slice(&body);
        pkt.extend_from_slice(&tag);
        let mask = keys.mask(pkt.get(pn_offset + 4..pn_offset + 4 + SAMPLE_LEN)?)?;
        pkt[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            pkt[pn_offset + i] ^= mask[1 + i];
        }
        Some(pkt)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn built_packets_read_back() {
            let d = super::quic_client_initial(&[9, 8, 7, 6, 5, 4, 3, 2], "video.example.net")
                .expect("fits");
            assert_eq!(d.len(), 1200);
            let mut out = String::new();
            assert!(crate::quic::initial_server_name(&d, &mut out));
            assert_eq!(out, "video.example.net");
            let rec = super::tls_client_hello("www.example.org");
            assert_eq!(
                crate::tls::client_hello_server_name(&rec),
                Some("www.example.org")
            );
        }
    }
}
