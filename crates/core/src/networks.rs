//! `networks_file` (longest-prefix match) and `ports_file`, parsed from text (the caller reads
//! the file).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// A problem in a map file, with its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct MapError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// One `networks_file` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkEntry {
    pub prefix: IpAddr,
    pub len: u8,
    pub nexthop: Option<IpAddr>,
    pub peer_as: Option<u32>,
    pub origin_as: Option<u32>,
}

/// Networks for longest-prefix matching: one hash set per prefix length, probed from the
/// longest length present (a handful of probes for typical files).
#[derive(Clone, Debug, Default)]
pub struct Networks {
    pub entries: Vec<NetworkEntry>,
    /// Per prefix length (longest first): the prefixes and their origin AS (0: none given).
    v4: Vec<(u8, HashMap<u32, u32>)>,
    v6: Vec<(u8, HashMap<u128, u32>)>,
}

fn mask4(bits: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(len)))
    }
}
fn mask6(bits: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(len)))
    }
}

impl Networks {
    /// Parses `[<nexthop>,][[<peerAS>_]<originAS>,]<prefix>/<len>` lines; `!` and `#` comment.
    pub fn parse(file: &str, text: &str) -> Result<Networks, MapError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
                continue;
            }
            let err = |message: String| MapError {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let Some((prefix_field, rest)) = fields.split_last() else {
                continue;
            };
            let (addr, len) = parse_prefix(prefix_field).map_err(err)?;
            let mut entry = NetworkEntry {
                prefix: addr,
                len,
                nexthop: None,
                peer_as: None,
                origin_as: None,
            };
            for f in rest {
                if let Ok(ip) = f.parse::<IpAddr>() {
                    entry.nexthop = Some(ip);
                } else if let Some((peer, origin)) = f.split_once('_') {
                    entry.peer_as = Some(
                        peer.parse()
                            .map_err(|_| err(format!("invalid peer AS '{peer}'")))?,
                    );
                    entry.origin_as = Some(
                        origin
                            .parse()
                            .map_err(|_| err(format!("invalid origin AS '{origin}'")))?,
                    );
                } else {
                    entry.origin_as = Some(f.parse().map_err(|_| {
                        err(format!(
                            "invalid field '{f}' (expected a nexthop address or an AS number)"
                        ))
                    })?);
                }
            }
            entries.push(entry);
        }
        let mut v4: HashMap<u8, HashMap<u32, u32>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, u32>> = HashMap::new();
        for e in &entries {
            let asn = e.origin_as.unwrap_or(0);
            match e.prefix {
                IpAddr::V4(a) => {
                    v4.entry(e.len)
                        .or_default()
                        .insert(mask4(u32::from(a), e.len), asn);
                }
                IpAddr::V6(a) => {
                    v6.entry(e.len)
                        .or_default()
                        .insert(mask6(u128::from(a), e.len), asn);
                }
            }
        }
        let mut v4: Vec<_> = v4.into_iter().collect();
        let mut v6: Vec<_> = v6.into_iter().collect();
        v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(Networks { entries, v4, v6 })
    }

    /// The length of the longest listed prefix containing `addr`.
    pub fn longest_match(&self, addr: IpAddr) -> Option<u8> {
        self.lookup(addr).map(|(len, _)| len)
    }

    /// The longest listed prefix containing `addr`: its length and origin AS (0: none given).
    pub fn lookup(&self, addr: IpAddr) -> Option<(u8, u32)> {
        match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|(len, set)| set.get(&mask4(bits, *len)).map(|asn| (*len, *asn)))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|(len, set)| set.get(&mask6(bits, *len)).map(|asn| (*len, *asn)))
            }
        }
    }
}

fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid network address '{addr}'"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("invalid prefix length '{l}' (0..{max})"))?,
    };
    Ok((addr, len))
}

/// `ports_file`: the ports kept; others are aggregated as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSet {
    bits: Vec<u64>,
}

impl PortSet {
    pub fn parse(file: &str, text: &str) -> Result<PortSet, MapError> {
        let mut set = BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
                continue;
            }
            let port: u16 = line.parse().map_err(|_| MapError {
                file: file.to_string(),
                line: i + 1,
                message: format!("invalid port '{line}' (0..65535)"),
            })?;
            set.insert(port);
        }
        let mut bits = vec![0u64; 1024];
        for p in set {
            bits[usize::from(p) / 64] |= 1 << (p % 64);
        }
        Ok(PortSet { bits })
    }

    pub fn contains(&self, port: u16) -> bool {
        self.bits
            .get(usize::from(port) / 64)
            .is_some_and(|w| w & (1 << (port % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_fields_parse() {
        let n = Networks::parse(
            "nets",
            "! comment\n10.0.0.0/8\n10.1.0.0/16\n192.0.2.1,65500,10.1.2.0/24\n64512_65501,2001:db8::/32\n",
        )
        .unwrap();
        assert_eq!(n.longest_match("10.1.2.3".parse().unwrap()), Some(24));
        assert_eq!(n.longest_match("10.1.3.3".parse().unwrap()), Some(16));
        assert_eq!(n.longest_match("10.9.3.3".parse().unwrap()), Some(8));
        assert_eq!(n.longest_match("11.0.0.1".parse().unwrap()), None);
        assert_eq!(n.longest_match("2001:db8:ff::1".parse().unwrap()), Some(32));
        assert_eq!(n.entries[2].origin_as, Some(65500));
        assert_eq!(n.entries[3].peer_as, Some(64512));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = Networks::parse("nets", "10.0.0.0/8\n10.0.0.0/40\n").unwrap_err();
        assert_eq!(e.to_string(), "nets:2: invalid prefix length '40' (0..32)");
        let e = PortSet::parse("ports", "80\nhttp\n").unwrap_err();
        assert_eq!(e.to_string(), "ports:2: invalid port 'http' (0..65535)");
    }

    #[test]
    fn ports() {
        let p = PortSet::parse("p", "80\n53\n65535\n").unwrap();
        assert!(p.contains(80) && p.contains(53) && p.contains(65535));
        assert!(!p.contains(81) && !p.contains(0));
    }
}
