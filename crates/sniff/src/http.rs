//! The `Host` header of an HTTP/1.x request.

/// Only the first this many bytes of a payload are looked at.
pub const SCAN_LIMIT: usize = 2048;
const MAX_METHOD: usize = 20;

/// Reads a TCP payload that starts with an HTTP/1.x request line (a method of uppercase letters,
/// a space, a target, a space, `HTTP/1.` and a digit) and returns the value of its `Host` header.
///
/// The header name is matched ignoring case, with optional spaces or tabs around the value; only
/// whole lines (ended by LF, with or without CR) within the first [`SCAN_LIMIT`] bytes and before
/// the blank line that ends the headers are read. A `:port` suffix is removed, and so are the
/// brackets of an IPv6 literal (`[2001:db8::1]:8080` gives `2001:db8::1`). The host is returned
/// as sent, not lower-cased, and only when it is non-empty printable ASCII without spaces.
/// Never allocates.
pub fn host(payload: &[u8]) -> Option<&str> {
    let window = payload.get(..payload.len().min(SCAN_LIMIT))?;
    let mut lines = Lines { rest: window };
    if !is_request_line(lines.next()?) {
        return None;
    }
    for line in lines {
        if line.is_empty() {
            return None;
        }
        if let Some(value) = header_value(line, b"host") {
            return strip_port(value);
        }
    }
    None
}

/// The LF-terminated lines of a buffer, without their CR LF or LF; a last line without LF is
/// not yielded (it may be cut).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let nl = self.rest.iter().position(|&b| b == b'\n')?;
        let line = self.rest.get(..nl)?;
        self.rest = self.rest.get(nl + 1..).unwrap_or(&[]);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// `METHOD SP target SP HTTP/1.d`, method of 1..=20 uppercase letters, target of visible bytes.
fn is_request_line(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let method_ok = !method.is_empty()
        && method.len() <= MAX_METHOD
        && method.iter().all(u8::is_ascii_uppercase);
    let target_ok = !target.is_empty() && target.iter().all(|&b| b > 0x20 && b != 0x7f);
    let version_ok = version.len() == 8
        && version.starts_with(b"HTTP/1.")
        && version.last().is_some_and(u8::is_ascii_digit);
    method_ok && target_ok && version_ok
}

/// The value of the header line `line` when its name is `name` (lower-case), trimmed of spaces
/// and tabs.
fn header_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let field = line.get(..name.len())?;
    if !field.eq_ignore_ascii_case(name) || line.get(name.len()) != Some(&b':') {
        return None;
    }
    let value = line.get(name.len() + 1..)?;
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b))?;
    let end = value.iter().rposition(|b| !is_ows(b))?;
    value.get(start..=end)
}

/// The host part of a `Host` value: without `:port`, and without the brackets of an IPv6
/// literal; `None` unless it is non-empty visible ASCII.
fn strip_port(value: &[u8]) -> Option<&str> {
    let host = if let Some(inner) = value.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']')?;
        let after = inner.get(close + 1..)?;
        if !(after.is_empty() || after.starts_with(b":")) {
            return None;
        }
        inner.get(..close)?
    } else {
        let colon = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        value.get(..colon)?
    };
    let visible = !host.is_empty() && host.iter().all(|&b| (0x21..=0x7e).contains(&b));
    if visible {
        std::str::from_utf8(host).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_get() {
        let req = b"GET /index.html HTTP/1.1\r\nUser-Agent: curl/8.5\r\nHost: www.Example.com\r\nAccept: */*\r\n\r\n";
        assert_eq!(host(req), Some("www.Example.com"));
    }

    #[test]
    fn case_whitespace_ports_and_brackets() {
        let cases: [(&[u8], Option<&str>); 8] = [
            (
                b"POST /x HTTP/1.0\nhOsT:example.org:8080\n\n",
                Some("example.org"),
            ),
            (
                b"GET / HTTP/1.1\r\nHOST: \t 10.0.0.1 \t\r\n",
                Some("10.0.0.1"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n",
                Some("2001:db8::1"),
            ),
            (b"GET / HTTP/1.1\r\nHost: [fe80::1]\r\n", Some("fe80::1")),
            (b"GET / HTTP/1.1\r\nHost: [fe80::1\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: \r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n", None),
            (
                b"CONNECT example.net:443 HTTP/1.1\r\nHost: example.net:443\r\n",
                Some("example.net"),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(host(req), want, "{:?}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn headers_end_lines_must_be_whole_and_names_exact() {
        let cases: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: body.example\r\n",
            b"GET / HTTP/1.1\r\nHost: cut.examp",
            b"GET / HTTP/1.1\r\nX-Forwarded-Host: other.example\r\n",
            b"GET / HTTP/1.1\r\nHostname: other.example\r\n",
            b"GET / HTTP/1.1\r\nHost : spaced.example\r\n",
            b"GET / HTTP/1.1",
            b"",
        ];
        for req in cases {
            assert_eq!(host(req), None, "{:?}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn request_line_shape() {
        let bad: [&[u8]; 7] = [
            b"get / HTTP/1.1\r\nHost: a\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n",
            b"GET / HTTP/2.0\r\nHost: a\r\n",
            b"GET / HTTP/1.1 x\r\nHost: a\r\n",
            b"GET / HTTP/1.x\r\nHost: a\r\n",
            b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\nHost: a\r\n",
            b"\x16\x03\x01\x00\x10GET / HTTP/1.1\r\nHost: a\r\n",
        ];
        for req in bad {
            assert_eq!(host(req), None, "{:?}", String::from_utf8_lossy(req));
        }
        assert_eq!(host(b"PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\n"), Some("a"));
    }

    #[test]
    fn scan_stops_at_2048_bytes() {
        let mut req = b"GET / HTTP/1.1\r\nCookie: ".to_vec();
        let pad = SCAN_LIMIT - req.len() - 2 - "Host: far.example".len() - 2;
        req.extend(std::iter::repeat_n(b'c', pad));
        req.extend_from_slice(b"\r\nHost: far.example\r\n");
        assert_eq!(req.len(), SCAN_LIMIT);
        assert_eq!(host(&req), Some("far.example"));
        req.insert(20, b'c');
        assert_eq!(host(&req), None);
    }
}
