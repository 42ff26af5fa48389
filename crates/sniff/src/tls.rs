//! The server name (SNI, RFC 6066 §3) of a TLS ClientHello.

use crate::rd::Reader;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const NAME_TYPE_HOST_NAME: u8 = 0;
/// The longest host name accepted (a DNS name in text form with a trailing dot).
const MAX_HOST_NAME: usize = 254;

/// Reads a TCP payload that starts with a TLS handshake record (content type 22, version
/// 0x03xx) holding a ClientHello and returns the `host_name` of its server_name extension.
///
/// Only the first record is read. A record or ClientHello cut by the end of the payload still
/// yields the name when the whole server_name extension is within the bytes present. Returns
/// `None` for anything else, and for a name that is not hostname text (see
/// [`client_hello_sni_from_handshake`]). Never allocates.
pub fn client_hello_server_name(payload: &[u8]) -> Option<&str> {
    let mut r = Reader::new(payload);
    if r.u8()? != CONTENT_HANDSHAKE || r.u8()? != 3 {
        return None;
    }
    let _minor = r.u8()?;
    let len = usize::from(r.u16()?);
    client_hello_sni_from_handshake(r.take_up_to(len))
}

/// Reads handshake message bytes, starting at the handshake type byte, holding a ClientHello
/// (type 1), and returns the first `host_name` entry of its server_name extension.
///
/// Walks legacy_version, random, session id, cipher suites, compression methods and the
/// extensions. A message cut short still yields the name when the server_name extension is
/// whole within `hs`. The name is returned only when it is 1 to 254 bytes of letters, digits,
/// `-`, `_` and `.`; it is returned as sent (not lower-cased). Never allocates.
pub fn client_hello_sni_from_handshake(hs: &[u8]) -> Option<&str> {
    let mut r = Reader::new(hs);
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = usize::try_from(r.u24()?).ok()?;
    let mut body = Reader::new(r.take_up_to(len));
    body.skip(2 + 32)?; // legacy_version, random
    let session_id = usize::from(body.u8()?);
    body.skip(session_id)?;
    let cipher_suites = usize::from(body.u16()?);
    body.skip(cipher_suites)?;
    let compression = usize::from(body.u8()?);
    body.skip(compression)?;
    let ext_len = usize::from(body.u16()?);
    let mut exts = Reader::new(body.take_up_to(ext_len));
    loop {
        let ext_type = exts.u16()?;
        let data_len = usize::from(exts.u16()?);
        let data = exts.take(data_len)?;
        if ext_type == EXT_SERVER_NAME {
            return server_name(data);
        }
    }
}

/// The first `host_name` of a ServerNameList, when it is hostname text.
fn server_name(ext: &[u8]) -> Option<&str> {
    let mut r = Reader::new(ext);
    let list_len = usize::from(r.u16()?);
    let mut list = Reader::new(r.take(list_len)?);
    loop {
        let name_type = list.u8()?;
        let len = usize::from(list.u16()?);
        let name = list.take(len)?;
        if name_type == NAME_TYPE_HOST_NAME {
            return host_name_text(name);
        }
    }
}

/// `name` as text when it is 1..=254 bytes of letters, digits, `-`, `_` and `.`.
pub(crate) fn host_name_text(name: &[u8]) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        std::str::from_utf8(name).ok()
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The ClientHello of RFC 9001 Appendix A.2 (the handshake message the CRYPTO frame carries),
    /// whose server_name is `example.com`.
    pub(crate) const RFC9001_CLIENT_HELLO: [u8; 241] = [
        0x01, 0x00, 0x00, 0xed, 0x03, 0x03, 0xeb, 0xf8, 0xfa, 0x56, 0xf1, 0x29, 0x39, 0xb9, 0x58,
        0x4a, 0x38, 0x96, 0x47, 0x2e, 0xc4, 0x0b, 0xb8, 0x63, 0xcf, 0xd3, 0xe8, 0x68, 0x04, 0xfe,
        0x3a, 0x47, 0xf0, 0x6a, 0x2b, 0x69, 0x48, 0x4c, 0x00, 0x00, 0x04, 0x13, 0x01, 0x13, 0x02,
        0x01, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 0x65, 0x78,
        0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0xff, 0x01, 0x00, 0x01, 0x00, 0x00,
        0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x10, 0x00, 0x07,
        0x00, 0x05, 0x04, 0x61, 0x6c, 0x70, 0x6e, 0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x93, 0x70, 0xb2, 0xc9,
        0xca, 0xa4, 0x7f, 0xba, 0xba, 0xf4, 0x55, 0x9f, 0xed, 0xba, 0x75, 0x3d, 0xe1, 0x71, 0xfa,
        0x71, 0xf5, 0x0f, 0x1c, 0xe1, 0x5d, 0x43, 0xe9, 0x94, 0xec, 0x74, 0xd7, 0x48, 0x00, 0x2b,
        0x00, 0x03, 0x02, 0x03, 0x04, 0x00, 0x0d, 0x00, 0x10, 0x00, 0x0e, 0x04, 0x03, 0x05, 0x03,
        0x06, 0x03, 0x02, 0x03, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x00, 0x2d, 0x00, 0x02, 0x01,
        0x01, 0x00, 0x1c, 0x00, 0x02, 0x40, 0x01, 0x00, 0x39, 0x00, 0x32, 0x04, 0x08, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 0x04, 0x80, 0x00, 0xff, 0xff, 0x07, 0x04, 0x80,
        0x00, 0xff, 0xff, 0x08, 0x01, 0x10, 0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x09, 0x01, 0x10,
        0x0f, 0x08, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0x06, 0x04, 0x80, 0x00, 0xff,
        0xff,
    ];

    /// A TLS 1.2-style record with a ClientHello: a 32-byte session id, three cipher suites,
    /// one compression method, then the extensions `ec_point_formats`, `server_name` holding a
    /// first entry of unknown type 7 and then host_name `Mail.Example.NET`, and `session_ticket`.
    fn record() -> Vec<u8> {
        let mut sni = vec![0x00, 0x18, 7, 0x00, 0x02, b'x', b'y', 0, 0x00, 0x10];
        sni.extend_from_slice(b"Mail.Example.NET");
        let mut exts = vec![0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x1a];
        exts.extend_from_slice(&sni);
        exts.extend_from_slice(&[0x00, 0x23, 0x00, 0x00]);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x5a; 32]);
        body.push(32);
        body.extend_from_slice(&[0xa5; 32]);
        body.extend_from_slice(&[0x00, 0x06, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c, 0x01, 0x00]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn rfc9001_client_hello() {
        assert_eq!(
            client_hello_sni_from_handshake(&RFC9001_CLIENT_HELLO),
            Some("example.com")
        );
        let mut rec = vec![22, 3, 1, 0, 241];
        rec.extend_from_slice(&RFC9001_CLIENT_HELLO);
        assert_eq!(client_hello_server_name(&rec), Some("example.com"));
    }

    #[test]
    fn hand_built_record() {
        let rec = record();
        assert_eq!(rec.len(), 5 + 4 + 2 + 32 + 33 + 8 + 2 + 2 + 40);
        assert_eq!(client_hello_server_name(&rec), Some("Mail.Example.NET"));
    }

    #[test]
    fn cut_hello_yields_the_name_only_when_the_extension_is_whole() {
        let rec = record();
        // The server_name extension ends 4 bytes before the end (session_ticket follows).
        let sni_end = rec.len() - 4;
        for len in 0..=rec.len() {
            let want = (len >= sni_end).then_some("Mail.Example.NET");
            assert_eq!(client_hello_server_name(&rec[..len]), want, "cut at {len}");
        }
    }

    #[test]
    fn other_records_and_bad_names_are_rejected() {
        let mut rec = record();
        rec[0] = 23;
        assert_eq!(client_hello_server_name(&rec), None);
        let mut rec = record();
        rec[1] = 2;
        assert_eq!(client_hello_server_name(&rec), None);
        let mut rec = record();
        rec[5] = 2; // ServerHello
        assert_eq!(client_hello_server_name(&rec), None);
        let mut rec = record();
        let at = rec.len() - 4 - 3;
        rec[at] = b' ';
        assert_eq!(client_hello_server_name(&rec), None);
        assert_eq!(host_name_text(b""), None);
        assert_eq!(host_name_text(b"a\xc3\xa9"), None);
        assert_eq!(host_name_text(&[b'a'; 255]), None);
        assert_eq!(
            host_name_text(b"_dmarc.x-y.example"),
            Some("_dmarc.x-y.example")
        );
    }

    #[test]
    fn no_server_name_extension() {
        let mut hs = RFC9001_CLIENT_HELLO;
        // Rename the server_name extension (at offset 49) to type 0x7777.
        assert_eq!(&hs[49..51], &[0, 0]);
        hs[49] = 0x77;
        hs[50] = 0x77;
        assert_eq!(client_hello_sni_from_handshake(&hs), None);
    }
}
