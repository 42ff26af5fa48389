//! DHCP lease files: dnsmasq's `dnsmasq.leases` and ISC dhcpd's `dhcpd.leases`.
//!
//! The parsers take the file's text and never fail: a line or block they cannot read is skipped
//! and counted in [`Parsed::skipped`].

use std::collections::HashMap;
use std::net::IpAddr;

const MAX_NAME: usize = 253;
/// Tokens kept for one ISC statement; a longer statement is read to its end but not used.
const MAX_STATEMENT: usize = 16;

/// One lease: an address given to a host, with its name when the file has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub addr: IpAddr,
    /// The client's MAC address; `None` for DHCPv6 leases and hardware addresses that are not
    /// Ethernet.
    pub mac: Option<[u8; 6]>,
    /// The client's host name, lower-cased; empty when the lease has none (or one that is not
    /// 1 to 253 bytes of printable ASCII without spaces).
    pub name: String,
    /// When the lease ends, in Unix seconds; `None` for leases that never end.
    pub expires: Option<i64>,
}

/// The leases of a file, and how many lines (dnsmasq) or blocks (ISC) could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub leases: Vec<Lease>,
    pub skipped: usize,
}

/// Parses a dnsmasq lease file.
///
/// Each line is `EXPIRY HWADDR IP HOSTNAME [CLIENT-ID]`, EXPIRY in Unix seconds (0 for leases
/// that never end) and HOSTNAME `*` when there is none. The `duid` line that opens the DHCPv6
/// section is skipped, and the DHCPv6 lines after it (IAID in place of the hardware address) are
/// read with `mac` `None`. Blank lines and `#` comments are ignored; other lines that do not
/// have that shape are skipped and counted.
pub fn parse_dnsmasq(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("duid ") {
            continue;
        }
        match dnsmasq_line(line) {
            Some(lease) => parsed.leases.push(lease),
            None => parsed.skipped += 1,
        }
    }
    parsed
}

fn dnsmasq_line(line: &str) -> Option<Lease> {
    let mut f = line.split_ascii_whitespace();
    let expiry: i64 = f.next()?.parse().ok()?;
    let hw = f.next()?;
    let addr: IpAddr = f.next()?.parse().ok()?;
    let name = f.next()?;
    Some(Lease {
        addr,
        mac: if addr.is_ipv4() { parse_mac(hw) } else { None },
        name: if name == "*" {
            String::new()
        } else {
            clean_name(name)
        },
        expires: (expiry != 0).then_some(expiry),
    })
}

/// Parses an ISC dhcpd lease file (`dhcpd.leases`).
///
/// Reads the `lease ADDRESS { ... }` blocks: `ends` (`W YYYY/MM/DD HH:MM:SS` in UTC, `epoch N`,
/// or `never`), `binding state`, `hardware ethernet` and `client-hostname`; other statements,
/// other blocks (`failover`, `ia-na`, ...), `#` comments and quoted strings with escapes are
/// passed over. The file is a log, so the last block for an address wins; an address whose
/// last block is in binding state `free`, `abandoned` or `backup` has no lease. A block whose
/// address does not parse, or that is not closed, is skipped and counted. Leases come in the
/// order their addresses first appear.
pub fn parse_isc_dhcpd(text: &str) -> Parsed {
    let mut lx = Lexer::new(text);
    let mut slots: Vec<Option<Lease>> = Vec::new();
    let mut index: HashMap<IpAddr, usize> = HashMap::new();
    let mut skipped = 0;
    let mut stmt: Vec<Tok<'_>> = Vec::new();
    while let Some(tok) = lx.next_tok() {
        match tok {
            Tok::Semi | Tok::Close => stmt.clear(),
            Tok::Open => {
                let lease_addr = match stmt.as_slice() {
                    [Tok::Word("lease"), Tok::Word(a)] => Some(a.parse::<IpAddr>().ok()),
                    _ => None,
                };
                stmt.clear();
                match lease_addr {
                    Some(Some(addr)) => match lease_block(&mut lx, addr) {
                        Some(lease) => {
                            let i = *index.entry(addr).or_insert_with(|| {
                                slots.push(None);
                                slots.len() - 1
                            });
                            if let Some(slot) = slots.get_mut(i) {
                                *slot = lease;
                            }
                        }
                        None => skipped += 1,
                    },
                    Some(None) => {
                        skipped += 1;
                        skip_block(&mut lx);
                    }
                    None => skip_block(&mut lx),
                }
            }
            tok if stmt.len() < MAX_STATEMENT => stmt.push(tok),
            _ => {}
        }
    }
    Parsed {
        leases: slots.into_iter().flatten().collect(),
        skipped,
    }
}

/// Parses ISC dhcpd text when the text has a `lease ADDRESS {` block, else dnsmasq text.
pub fn parse_auto(text: &str) -> Parsed {
    let isc = text.lines().any(|l| {
        let mut w = l.split_ascii_whitespace();
        w.next() == Some("lease") && l.contains('{')
    });
    if isc {
        parse_isc_dhcpd(text)
    } else {
        parse_dnsmasq(text)
    }
}

/// What a lease block says.
#[derive(Default)]
struct Block {
    ends: Option<i64>,
    state: Option<String>,
    mac: Option<[u8; 6]>,
    name: Option<String>,
}

/// Reads a lease block's statements up to its closing brace. Returns `None` when the text ends
/// first, `Some(None)` when the block's binding state says the address is not leased.
fn lease_block(lx: &mut Lexer<'_>, addr: IpAddr) -> Option<Option<Lease>> {
    let mut b = Block::default();
    let mut stmt: Vec<Tok<'_>> = Vec::new();
    loop {
        match lx.next_tok()? {
            Tok::Semi => {
                b.apply(&stmt);
                stmt.clear();
            }
            Tok::Open => {
                stmt.clear();
                skip_block(lx);
            }
            Tok::Close => break,
            tok if stmt.len() < MAX_STATEMENT => stmt.push(tok),
            _ => {}
        }
    }
    if matches!(b.state.as_deref(), Some("free" | "abandoned" | "backup")) {
        return Some(None);
    }
    Some(Some(Lease {
        addr,
        mac: b.mac,
        name: b.name.unwrap_or_default(),
        expires: b.ends,
    }))
}

impl Block {
    fn apply(&mut self, stmt: &[Tok<'_>]) {
        match stmt {
            [Tok::Word("ends"), Tok::Word("never")] => self.ends = None,
            [Tok::Word("ends"), Tok::Word("epoch"), Tok::Word(secs), ..] => {
                self.ends = secs.parse().ok();
            }
            [Tok::Word("ends"), Tok::Word(_weekday), Tok::Word(date), Tok::Word(time)] => {
                self.ends = parse_utc(date, time);
            }
            [Tok::Word("binding"), Tok::Word("state"), Tok::Word(state)] => {
                self.state = Some(state.to_ascii_lowercase());
            }
            [Tok::Word("abandoned")] => self.state = Some("abandoned".to_owned()),
            [Tok::Word("hardware"), Tok::Word("ethernet"), Tok::Word(mac)] => {
                self.mac = parse_mac(mac);
            }
            [Tok::Word("client-hostname"), Tok::Str(name)] => self.name = Some(clean_name(name)),
            _ => {}
        }
    }
}

/// Skips tokens up to the brace that closes the block just opened (or the end of the text).
fn skip_block(lx: &mut Lexer<'_>) {
    let mut depth = 1usize;
    while let Some(tok) = lx.next_tok() {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// A token of the dhcpd.leases syntax.
#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Str(String),
    Open,
    Close,
    Semi,
}

/// Splits dhcpd.leases text into tokens, dropping whitespace and `#` comments.
struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next_tok(&mut self) -> Option<Tok<'a>> {
        loop {
            let b = self.peek()?;
            self.pos += 1;
            return Some(match b {
                b if b.is_ascii_whitespace() => continue,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                    continue;
                }
                b'{' => Tok::Open,
                b'}' => Tok::Close,
                b';' => Tok::Semi,
                b'"' => Tok::Str(self.string()),
                _ => Tok::Word(self.word(self.pos - 1)),
            });
        }
    }

    /// The rest of a word that starts at `start`: up to whitespace or a special byte.
    fn word(&mut self, start: usize) -> &'a str {
        while self
            .peek()
            .is_some_and(|c| !c.is_ascii_whitespace() && !b"{};\"#".contains(&c))
        {
            self.pos += 1;
        }
        // The bounds are at ASCII bytes, so at character boundaries.
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// The rest of a quoted string, unescaped (`\"`, `\\`, `\t`, `\n`, octal `\ooo`); an
    /// unterminated string runs to the end of the text.
    fn string(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => self.escape(&mut out),
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(c) = self.peek() else { return };
        self.pos += 1;
        match c {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v).unwrap_or(b'?'));
            }
            _ => out.push(c),
        }
    }
}

/// A MAC address of six colon-separated groups of one or two hex digits.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in mac.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `name` lower-cased when it is 1 to 253 bytes of printable ASCII without spaces, else empty.
fn clean_name(name: &str) -> String {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        name.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// `YYYY/MM/DD` and `HH:MM:SS` in UTC as Unix seconds.
fn parse_utc(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('/').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let valid = (1..=12).contains(&m)
        && (1..=days_in_month(y, m)).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0..=60).contains(&s)
        && (0..=9999).contains(&y);
    valid.then(|| days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
///
/// Counts in 400-year cycles of 146097 days from 0000-03-01, with years starting in March so
/// that the leap day is the last day of the year.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let cycle = y.div_euclid(400);
    let year_of_cycle = y.rem_euclid(400);
    let month_from_march = (m + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
    let day_of_cycle = year_of_cycle * 365 + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    // 719468 days from 0000-03-01 to 1970-01-01.
    cycle * 146_097 + day_of_cycle - 719_468
}

#[cfg(test)]
mod tests;
