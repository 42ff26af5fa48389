//! Names of remote hosts learned passively, per client: the DNS answers a client receives (the
//! name it asked, through CNAME chains, for the answer's TTL plus a grace period), and the
//! names it puts in its own connections (TLS ClientHello server name, HTTP Host, QUIC Initial
//! server name). Nothing is looked up on the network.
//!
//! Promises: the cache never holds more than its bound (when full, expired names go first, then
//! the names learned longest ago, counted); each packet costs at most one bounded parse of its
//! payload and two lookups;
//! the latest name seen for a (client, server) pair wins, so the same server may have
//! different names for different clients (CDNs).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use pmacct_core::labels::LabelId;
use pmacct_sniff::{dns, http, quic, tls};
use pmacct_wire::IpPacket;

/// Texts the process keeps for names (each key holds an id of one): beyond it, new names are
/// not kept (counted).
pub const MAX_NAME_TEXTS: usize = 262_144;

/// What a pair remembers.
#[derive(Clone, Copy, Debug)]
struct Entry {
    name: LabelId,
    /// Seconds (packet time) after which the name is forgotten.
    until: i64,
}

/// What the cache counted (published into the core's stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameCounts {
    /// Names learned (or refreshed) from DNS, TLS, HTTP or QUIC.
    pub learned: u64,
    /// Names forgotten before their time to keep the cache at its bound.
    pub evicted: u64,
    /// Names not kept because the process's table of name texts is full.
    pub refused: u64,
    /// DNS messages that did not parse.
    pub malformed: u64,
}

/// One input thread's names.
pub struct NameCache {
    pairs: HashMap<(IpAddr, IpAddr), Entry, foldhash::fast::RandomState>,
    /// Pairs in the order they were learned (a pair learned again is queued again; stale
    /// places are skipped), for evicting the oldest.
    order: VecDeque<((IpAddr, IpAddr), i64)>,
    /// Packet time of the last sweep of expired names (at most one a second).
    swept: i64,
    bound: usize,
    grace: i64,
    answers: Vec<dns::Answer>,
    scratch: String,
    /// QUIC ClientHellos that span two Initial datagrams (post-quantum key shares).
    quic: quic::InitialReassembler,
    pub counts: NameCounts,
}

/// QUIC connections whose ClientHello is being put together (at most 16 KiB each).
const QUIC_PENDING: usize = 256;

impl NameCache {
    pub fn new(bound: usize, grace: i64) -> NameCache {
        NameCache {
            pairs: HashMap::default(),
            order: VecDeque::new(),
            swept: i64::MIN,
            bound: bound.max(1),
            grace,
            answers: Vec::new(),
            scratch: String::new(),
            quic: quic::InitialReassembler::new(QUIC_PENDING),
            counts: NameCounts::default(),
        }
    }

    /// The name `client` used for `server` at `now`.
    #[inline]
    pub fn get(&self, client: IpAddr, server: IpAddr, now: i64) -> LabelId {
        match self.pairs.get(&(client, server)) {
            Some(e) if e.until >= now => e.name,
            _ => LabelId::default(),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Reads what a packet says of names: `frame` is the frame `ip` was decoded from.
    pub fn observe(&mut self, ip: &IpPacket, frame: &[u8], now: i64) {
        let pmacct_wire::Ports::Found { src, dst } = ip.ports else {
            return;
        };
        let (at, len) = (ip.payload.0 as usize, ip.payload.1 as usize);
        let Some(payload) = frame.get(at..at.saturating_add(len)) else {
            return;
        };
        if payload.is_empty() {
            return;
        }
        match ip.proto {
            17 if src == 53 => self.dns(ip.dst, payload, now),
            6 if src == 53 => {
                for message in dns::tcp_messages(payload) {
                    self.dns(ip.dst, message, now);
                }
            }
            17 if dst == 443 && payload[0] & 0xc0 == 0xc0 => {
                let mut name = std::mem::take(&mut self.scratch);
                name.clear();
                let key = connection_key(ip.src, ip.dst, src, dst);
                if self.quic.push(key, payload, &mut name) {
                    self.learn(ip.src, ip.dst, &name, now + self.grace);
                }
                self.scratch = name;
            }
            6 if payload[0] == 0x16 => {
                if let Some(name) = tls::client_hello_server_name(payload) {
                    self.learn(ip.src, ip.dst, name, now + self.grace);
                }
            }
            6 if payload[0].is_ascii_uppercase() => {
                if let Some(host) = http::host(payload) {
                    self.learn(ip.src, ip.dst, host, now + self.grace);
                }
            }
            _ => {}
        }
    }
}

/// A connection's 4-tuple as a number (the reassembler's key).
fn connection_key(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (src, dst, sport, dport).hash(&mut h);
    h.finish()
}

impl NameCache {
    fn dns(&mut self, client: IpAddr, message: &[u8], now: i64) {
        let mut answers = std::mem::take(&mut self.answers);
        answers.clear();
        match dns::answers(message, &mut answers) {
            Ok(()) => {
                for a in &answers {
                    let until = now + i64::from(a.ttl) + self.grace;
                    self.learn(client, a.addr, &a.name, until);
                }
            }
            Err(e) if e.is_malformed() => self.counts.malformed += 1,
            Err(_) => {}
        }
        self.answers = answers;
    }

    fn learn(&mut self, client: IpAddr, server: IpAddr, name: &str, until: i64) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // Host names only: outputs print names as they are (no quoting in CSV).
        let host_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if name.is_empty() || !name.chars().all(host_chars) {
            return;
        }
        let Some(id) = pmacct_core::labels::intern_bounded(&name, MAX_NAME_TEXTS) else {
            self.counts.refused += 1;
            return;
        };
        let pair = (client, server);
        if !self.pairs.contains_key(&pair) && self.pairs.len() >= self.bound {
            self.make_room(until.saturating_sub(self.grace));
        }
        self.counts.learned += 1;
        self.pairs.insert(pair, Entry { name: id, until });
        self.order.push_back((pair, until));
        if self.order.len() > 2 * self.bound + 16 {
            // Stale places (pairs learned again, or gone) are dropped from the queue.
            let pairs = &self.pairs;
            self.order
                .retain(|(p, u)| pairs.get(p).is_some_and(|e| e.until == *u));
        }
    }

    /// Frees one place: expired names (a sweep at most once a second of packet time), else
    /// the name learned longest ago.
    fn make_room(&mut self, now: i64) {
        if now > self.swept {
            self.swept = now;
            let before = self.pairs.len();
            self.pairs.retain(|_, e| e.until >= now);
            if self.pairs.len() < before {
                return;
            }
        }
        while let Some((pair, until)) = self.order.pop_front() {
            if self.pairs.get(&pair).is_some_and(|e| e.until == until) {
                self.pairs.remove(&pair);
                self.counts.evicted += 1;
                return;
            }
        }
    }
}
