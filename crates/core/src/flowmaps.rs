//! nfacctd's per-exporter maps: `sampling_map` (the sampling rate an exporter, or one of its
//! interfaces, really uses) and `nfacctd_allow_file` (the exporters whose datagrams are taken).
//!
//! Both are pmacct's formats: `sampling_map` lines of `id=RATE ip=ADDR[/LEN] [in=ID] [out=ID]`
//! (first match wins; `in` and `out` take a leading `-` to negate), the allow file one address
//! or prefix per line. `!` and `#` start comments.

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::pretag::{logical_lines, split_words};

/// One `sampling_map` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingRule {
    pub line: usize,
    pub rate: u32,
    pub exporter: Cidr,
    /// `in=` / `out=`, each with whether it is negated.
    pub in_iface: Option<(u32, bool)>,
    pub out_iface: Option<(u32, bool)>,
}

/// `sampling_map`: the rate to use instead of the one the exporter advertises.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamplingMap {
    pub rules: Vec<SamplingRule>,
}

impl SamplingMap {
    /// Parses a map; errors name the file, the line and the key.
    pub fn parse(file: &str, text: &str) -> Result<SamplingMap, String> {
        let mut rules = Vec::new();
        for (line, words) in logical_lines(text) {
            let err = |m: String| format!("{file}:{line}: {m}");
            rules.push(sampling_rule(line, &words).map_err(err)?);
        }
        Ok(SamplingMap { rules })
    }

    /// The rate of the first line that matches the record, if any.
    pub fn rate(&self, exporter: IpAddr, in_iface: u32, out_iface: u32) -> Option<u32> {
        let iface = |want: Option<(u32, bool)>, have: u32| {
            want.is_none_or(|(id, negated)| (id == have) != negated)
        };
        self.rules
            .iter()
            .find(|r| {
                r.exporter.contains(exporter)
                    && iface(r.in_iface, in_iface)
                    && iface(r.out_iface, out_iface)
            })
            .map(|r| r.rate)
    }
}

fn sampling_rule(line: usize, words: &str) -> Result<SamplingRule, String> {
    let (mut rate, mut exporter, mut in_iface, mut out_iface) = (None, None, None, None);
    for word in split_words(words)? {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got '{word}'"))?;
        let key = key.to_ascii_lowercase();
        let iface = |v: &str| {
            let (negated, bare) = v.strip_prefix('-').map_or((false, v), |b| (true, b));
            bare.parse::<u32>()
                .map(|id| (id, negated))
                .map_err(|_| format!("{key}: invalid interface id '{v}'"))
        };
        let slot_taken = match key.as_str() {
            "id" => rate
                .replace(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|r| *r > 0)
                        .ok_or_else(|| {
                            format!("id: '{value}' is not a sampling rate (1 or more)")
                        })?,
                )
                .is_some(),
            "ip" => exporter
                .replace(Cidr::parse(value).map_err(|e| format!("ip: {e}"))?)
                .is_some(),
            "in" => in_iface.replace(iface(value)?).is_some(),
            "out" => out_iface.replace(iface(value)?).is_some(),
            _ => return Err(format!("unknown key '{key}' (id, ip, in, out)")),
        };
        if slot_taken {
            return Err(format!("key '{key}' given twice"));
        }
    }
    Ok(SamplingRule {
        line,
        rate: rate.ok_or("no id= (the sampling rate)")?,
        exporter: exporter.ok_or("no ip= (the exporter)")?,
        in_iface,
        out_iface,
    })
}

/// `nfacctd_allow_file`: the exporters allowed; an empty file allows none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    pub nets: Vec<Cidr>,
}

impl AllowList {
    /// Parses the list; an error names the file and the line.
    pub fn parse(file: &str, text: &str) -> Result<AllowList, String> {
        let nets = logical_lines(text)
            .into_iter()
            .map(|(line, words)| {
                Cidr::parse(words.trim()).map_err(|e| format!("{file}:{line}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowList { nets })
    }

    pub fn allows(&self, exporter: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(exporter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn first_matching_sampling_line_gives_the_rate() {
        let m = SamplingMap::parse(
            "s.map",
            "! rates\nid=2048 ip=192.168.2.1 in=5\nid=4096 ip=192.168.2.0/24 out=-3\nid=1024 ip=0.0.0.0/0\n",
        )
        .expect("parse");
        assert_eq!(m.rate(ip("192.168.2.1"), 5, 3), Some(2048));
        assert_eq!(m.rate(ip("192.168.2.1"), 6, 4), Some(4096));
        assert_eq!(m.rate(ip("192.168.2.1"), 6, 3), Some(1024));
        assert_eq!(m.rate(ip("10.0.0.1"), 0, 0), Some(1024));
        assert_eq!(m.rate(ip("2001:db8::1"), 0, 0), None);
    }

    #[test]
    fn bad_sampling_lines_name_file_line_and_key() {
        for (text, want) in [
            (
                "id=0 ip=10.0.0.1",
                "s.map:1: id: '0' is not a sampling rate (1 or more)",
            ),
            ("\nid=10", "s.map:2: no ip= (the exporter)"),
            ("ip=10.0.0.1", "s.map:1: no id= (the sampling rate)"),
            (
                "id=10 ip=10.0.0.1 rate=3",
                "s.map:1: unknown key 'rate' (id, ip, in, out)",
            ),
            (
                "id=10 ip=10.0.0.1 in=x",
                "s.map:1: in: invalid interface id 'x'",
            ),
            ("id=10 id=20 ip=10.0.0.1", "s.map:1: key 'id' given twice"),
            (
                "id=10 ip=10.0.0.300",
                "s.map:1: ip: '10.0.0.300' is not a network",
            ),
        ] {
            let err = SamplingMap::parse("s.map", text).expect_err(text);
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn allow_list_of_addresses_and_prefixes() {
        let a =
            AllowList::parse("a.lst", "! exporters\n192.0.2.1\n2001:db8::/32\n").expect("parse");
        assert!(a.allows(ip("192.0.2.1")));
        assert!(!a.allows(ip("192.0.2.2")));
        assert!(a.allows(ip("2001:db8::7")));
        assert!(!AllowList::parse("a.lst", "")
            .expect("empty")
            .allows(ip("192.0.2.1")));
        let err = AllowList::parse("a.lst", "192.0.2.1\nrouter1\n").expect_err("bad");
        assert!(
            err.starts_with("a.lst:2: 'router1' is not a network"),
            "{err}"
        );
    }
}

/// How a tee pool picks the receivers of a datagram (`balance-alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Every receiver gets every datagram (no `balance-alg`).
    All,
    /// `rr`: one receiver per datagram, in turn (datagrams that carry templates go to all).
    RoundRobin,
    /// `hash-agent`: the exporter's address modulo the receivers: one exporter, one receiver.
    HashAgent,
    /// `hash-crc32`: the CRC-32 of the exporter's address modulo the receivers.
    HashCrc32,
}

/// One `tee_receivers` line: a pool of receivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeePool {
    pub line: usize,
    pub id: u32,
    pub receivers: Vec<std::net::SocketAddr>,
    pub balance: Balance,
}

/// `tee_receivers`: pools of `id=N ip=ADDR:PORT[,ADDR:PORT...] [balance-alg=rr|hash-agent|hash-crc32]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeeReceivers {
    pub pools: Vec<TeePool>,
}

impl TeeReceivers {
    /// Parses a map; errors name the file, the line and the key. At most `max_pools` pools of
    /// at most `max_receivers` receivers each (`tee_max_receiver_pools`, `tee_max_receivers`).
    pub fn parse(
        file: &str,
        text: &str,
        max_pools: usize,
        max_receivers: usize,
    ) -> Result<TeeReceivers, String> {
        let mut pools = Vec::new();
        for (line, words) in logical_lines(text) {
            let err = |m: String| format!("{file}:{line}: {m}");
            let pool = tee_pool(line, &words, max_receivers).map_err(err)?;
            if pools.len() == max_pools {
                return Err(err(format!(
                    "more than {max_pools} pools (raise tee_max_receiver_pools)"
                )));
            }
            pools.push(pool);
        }
        if pools.is_empty() {
            return Err(format!("{file}: no receiver pool"));
        }
        Ok(TeeReceivers { pools })
    }
}

fn tee_pool(line: usize, words: &str, max_receivers: usize) -> Result<TeePool, String> {
    let (mut id, mut receivers, mut balance) = (None, None, None);
    for word in split_words(words)? {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got '{word}'"))?;
        let key = key.to_ascii_lowercase();
        let taken = match key.as_str() {
            "id" => id
                .replace(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| format!("id: '{value}' is not a pool id (1 or more)"))?,
                )
                .is_some(),
            "ip" => receivers
                .replace(tee_addresses(value, max_receivers)?)
                .is_some(),
            "balance-alg" => balance
                .replace(match value.to_ascii_lowercase().as_str() {
                    "rr" => Balance::RoundRobin,
                    "hash-agent" => Balance::HashAgent,
                    "hash-crc32" => Balance::HashCrc32,
                    other => {
                        return Err(format!(
                            "balance-alg: '{other}' is not supported (rr, hash-agent, hash-crc32)"
                        ))
                    }
                })
                .is_some(),
            "tag" | "tag2" | "kafka_broker" | "kafka_topic" | "zmq_address" => {
                return Err(format!("key '{key}' is not supported by pmacct-rs yet"))
            }
            _ => return Err(format!("unknown key '{key}' (id, ip, balance-alg)")),
        };
        if taken {
            return Err(format!("key '{key}' given twice"));
        }
    }
    Ok(TeePool {
        line,
        id: id.ok_or("no id= (the pool's id)")?,
        receivers: receivers.ok_or("no ip= (the receivers)")?,
        balance: balance.unwrap_or(Balance::All),
    })
}

fn tee_addresses(value: &str, max: usize) -> Result<Vec<std::net::SocketAddr>, String> {
    let out = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<std::net::SocketAddr>()
                .map_err(|_| format!("ip: '{v}' is not address:port ([IPv6]:port)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match out.len() {
        0 => Err("ip: no receiver".into()),
        n if n > max => Err(format!(
            "ip: {n} receivers, more than {max} (raise tee_max_receivers)"
        )),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tee_tests {
    use super::*;

    #[test]
    fn pools_parse_and_errors_name_the_line_and_key() {
        let map = TeeReceivers::parse(
            "tee.lst",
            "! comment\nid=1 ip=192.0.2.1:2100\nid=2 ip=192.0.2.2:2100,[2001:db8::1]:2100 balance-alg=rr\n",
            128,
            32,
        )
        .expect("parses");
        assert_eq!(map.pools.len(), 2);
        assert_eq!(map.pools[0].balance, Balance::All);
        assert_eq!((map.pools[1].line, map.pools[1].receivers.len()), (3, 2));
        let err = |text: &str| TeeReceivers::parse("tee.lst", text, 1, 2).unwrap_err();
        assert_eq!(
            err("id=1 ip=1.2.3.4\n"),
            "tee.lst:1: ip: '1.2.3.4' is not address:port ([IPv6]:port)"
        );
        assert_eq!(
            err("id=1 ip=1.2.3.4:1 balance-alg=bgp\n"),
            "tee.lst:1: balance-alg: 'bgp' is not supported (rr, hash-agent, hash-crc32)"
        );
        assert_eq!(
            err("id=1 ip=1.2.3.4:1,1.2.3.5:1,1.2.3.6:1\n"),
            "tee.lst:1: ip: 3 receivers, more than 2 (raise tee_max_receivers)"
        );
        assert_eq!(
            err("id=1 ip=1.2.3.4:1\nid=2 ip=1.2.3.4:1\n"),
            "tee.lst:2: more than 1 pools (raise tee_max_receiver_pools)"
        );
        assert_eq!(
            err("id=1 ip=1.2.3.4:1 tag=5\n"),
            "tee.lst:1: key 'tag' is not supported by pmacct-rs yet"
        );
        assert_eq!(err("ip=1.2.3.4:1\n"), "tee.lst:1: no id= (the pool's id)");
        assert_eq!(err("! nothing\n"), "tee.lst: no receiver pool");
    }
}
