//! Which side of a flow is a local device, what is noise, and device names.

use std::collections::HashMap;
use std::net::IpAddr;

pub use pmacct_core::cidr::{Cidr, LocalNets, Side};

/// The private ranges a home network uses, when no `--local-net` is given.
pub use pmacct_core::cidr::PRIVATE as DEFAULT_LOCAL;

/// Names of devices, by IP or MAC address (`--names FILE`).
#[derive(Default)]
pub struct Names {
    names: HashMap<String, String>,
}

impl Names {
    /// Lines of `ADDRESS NAME` (an IP or a MAC address); `#` and `!` start comments.
    pub fn parse(file: &str, text: &str) -> Result<Names, String> {
        let mut names = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let at = format!("{file}:{}", i + 1);
            let mut words = line.split_whitespace();
            let (Some(addr), Some(name), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("{at}: expected 'ADDRESS NAME', got '{line}'"));
            };
            let key = normal(addr)
                .ok_or_else(|| format!("{at}: '{addr}' is not an IP or MAC address"))?;
            if names.insert(key, name.to_string()).is_some() {
                return Err(format!("{at}: '{addr}' is named twice"));
            }
        }
        Ok(Names { names })
    }

    pub fn get(&self, device: &str) -> &str {
        normal(device)
            .and_then(|k| self.names.get(&k))
            .map_or("", String::as_str)
    }
}

/// An address in one spelling: IPs as Rust prints them, MACs lower-case with two digits.
fn normal(addr: &str) -> Option<String> {
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let parts: Vec<&str> = addr.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let bytes: Option<Vec<u8>> = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() <= 2))
        .collect();
    Some(
        bytes?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_ip_or_mac_with_errors_at_their_line() {
        let n = Names::parse(
            "n.txt",
            "# devices\n192.168.1.5 jon-laptop\n02-00-00-00-00-0A tv\n",
        )
        .expect("names");
        assert_eq!(n.get("192.168.1.5"), "jon-laptop");
        assert_eq!(n.get("02:00:00:00:00:0a"), "tv");
        assert_eq!(n.get("192.168.1.6"), "");
        assert_eq!(
            Names::parse("n.txt", "\nnot-an-address x\n").err(),
            Some("n.txt:2: 'not-an-address' is not an IP or MAC address".into())
        );
        assert_eq!(
            Names::parse("n.txt", "1.2.3.4\n").err(),
            Some("n.txt:1: expected 'ADDRESS NAME', got '1.2.3.4'".into())
        );
    }
}
