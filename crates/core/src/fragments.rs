//! IP fragment tracking: non-first fragments take the ports of their first fragment.
//!
//! Promises: every packet given to [`FragmentTracker::process`] comes out exactly once, through
//! `process`, [`FragmentTracker::expire`] or [`FragmentTracker::drain`]. A fragment that arrives
//! before its first fragment is held until the first one arrives; one whose first fragment never
//! arrives comes out with ports 0 once the timeout has passed in packet time (or at the end of
//! input). Memory is bounded: past `max_held`, a fragment is released at once with ports 0.

use std::collections::HashMap;
use std::net::IpAddr;

use pmacct_wire::Ports;

use crate::key::PacketFacts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FragmentKey {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

/// A packet with the plugins it is meant for (bit i = plugin i passed its filter).
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub facts: PacketFacts,
    pub plugins: u64,
}

/// Counters of the tracker, for the stats line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    pub held: u64,
    pub matched: u64,
    pub orphaned: u64,
}

pub struct FragmentTracker {
    timeout: i64,
    max_held: usize,
    first: HashMap<FragmentKey, (Ports, i64)>,
    held: HashMap<FragmentKey, Vec<Pending>>,
    held_count: usize,
    pub stats: FragmentStats,
}

impl FragmentTracker {
    pub fn new(timeout_secs: i64, max_held: usize) -> Self {
        FragmentTracker {
            timeout: timeout_secs,
            max_held,
            first: HashMap::new(),
            held: HashMap::new(),
            held_count: 0,
            stats: FragmentStats::default(),
        }
    }

    /// Passes a packet through; `emit` receives it (now or later) and any fragments it releases.
    pub fn process(&mut self, mut p: Pending, mut emit: impl FnMut(Pending)) {
        let Some(ip) = p.facts.ip.as_mut() else {
            return emit(p);
        };
        let Some(frag) = ip.fragment else {
            return emit(p);
        };
        let key = FragmentKey {
            src: ip.src,
            dst: ip.dst,
            proto: ip.proto,
            id: frag.id,
        };
        let now = p.facts.ts.secs;
        if frag.is_first() {
            self.first.insert(key, (ip.ports, now));
            let ports = ip.ports;
            emit(p);
            if let Some(waiting) = self.held.remove(&key) {
                self.held_count -= waiting.len();
                for mut w in waiting {
                    if let Some(wip) = w.facts.ip.as_mut() {
                        wip.ports = ports;
                    }
                    self.stats.matched += 1;
                    emit(w);
                }
            }
            return;
        }
        if ip.ports != Ports::InFirstFragment {
            return emit(p);
        }
        if let Some((ports, seen)) = self.first.get_mut(&key) {
            ip.ports = *ports;
            *seen = now;
            self.stats.matched += 1;
            return emit(p);
        }
        if self.held_count >= self.max_held {
            ip.ports = Ports::None;
            self.stats.orphaned += 1;
            return emit(p);
        }
        self.stats.held += 1;
        self.held_count += 1;
        self.held.entry(key).or_default().push(p);
    }

    /// Releases fragments whose first fragment did not come within the timeout, and forgets
    /// first fragments not seen for that long.
    pub fn expire(&mut self, now: i64, mut emit: impl FnMut(Pending)) {
        let timeout = self.timeout;
        self.first.retain(|_, (_, seen)| now - *seen <= timeout);
        if self.held.is_empty() {
            return;
        }
        let expired: Vec<FragmentKey> = self
            .held
            .iter()
            .filter(|(_, v)| v.first().is_some_and(|p| now - p.facts.ts.secs > timeout))
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(v) = self.held.remove(&k) {
                self.held_count -= v.len();
                for p in v {
                    self.release_orphan(p, &mut emit);
                }
            }
        }
    }

    /// Releases everything still held (end of input).
    pub fn drain(&mut self, mut emit: impl FnMut(Pending)) {
        let held = std::mem::take(&mut self.held);
        self.held_count = 0;
        let mut all: Vec<Pending> = held.into_values().flatten().collect();
        all.sort_by_key(|p| p.facts.ts);
        for p in all {
            self.release_orphan(p, &mut emit);
        }
    }

    fn release_orphan(&mut self, mut p: Pending, emit: &mut impl FnMut(Pending)) {
        if let Some(ip) = p.facts.ip.as_mut() {
            ip.ports = Ports::None;
        }
        self.stats.orphaned += 1;
        emit(p);
    }

    pub fn held(&self) -> usize {
        self.held_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Timestamp;
    use pmacct_wire::{Fragment, IpPacket, L2Info};

    fn frag(offset: u32, more: bool, ports: Ports, secs: i64) -> Pending {
        let mut ip = IpPacket::new(L2Info::default());
        ip.src = "10.0.0.1".parse().unwrap();
        ip.dst = "10.0.0.2".parse().unwrap();
        ip.proto = 17;
        ip.ports = ports;
        ip.fragment = Some(Fragment {
            id: 7,
            offset,
            more,
        });
        Pending {
            facts: PacketFacts {
                ts: Timestamp { secs, micros: 0 },
                l2: L2Info::default(),
                ip: Some(ip),
                bytes: 100,
                in_iface: 0,
                out_iface: 0,
                tags: Default::default(),
                hosts: Default::default(),
            },
            plugins: 1,
        }
    }

    fn ports_of(v: &[Pending]) -> Vec<Ports> {
        v.iter().map(|p| p.facts.ip.unwrap().ports).collect()
    }

    #[test]
    fn in_order_and_out_of_order_fragments_get_the_first_fragments_ports() {
        let mut t = FragmentTracker::new(60, 1000);
        let mut out = Vec::new();
        t.process(frag(1480, false, Ports::InFirstFragment, 10), |p| {
            out.push(p)
        });
        assert!(out.is_empty());
        t.process(frag(0, true, Ports::Found { src: 1, dst: 2 }, 11), |p| {
            out.push(p)
        });
        t.process(frag(2960, false, Ports::InFirstFragment, 12), |p| {
            out.push(p)
        });
        assert_eq!(ports_of(&out), vec![Ports::Found { src: 1, dst: 2 }; 3]);
        assert_eq!(
            t.stats,
            FragmentStats {
                held: 1,
                matched: 2,
                orphaned: 0
            }
        );
    }

    #[test]
    fn orphans_come_out_with_no_ports_after_the_timeout_or_at_the_end() {
        let mut t = FragmentTracker::new(60, 1000);
        let mut out = Vec::new();
        t.process(frag(1480, false, Ports::InFirstFragment, 10), |p| {
            out.push(p)
        });
        t.expire(70, |p| out.push(p));
        assert!(out.is_empty());
        t.expire(71, |p| out.push(p));
        assert_eq!(ports_of(&out), vec![Ports::None]);
        t.process(frag(1480, false, Ports::InFirstFragment, 80), |p| {
            out.push(p)
        });
        t.drain(|p| out.push(p));
        assert_eq!(out.len(), 2);
        assert_eq!(t.stats.orphaned, 2);
        assert_eq!(t.held(), 0);
    }

    /// differences.md, decoding: a held fragment keeps its own timestamp (and so its own time
    /// bin) when its first fragment releases it.
    #[test]
    fn a_held_fragment_keeps_its_own_timestamp() {
        let mut t = FragmentTracker::new(60, 1000);
        let mut out = Vec::new();
        t.process(frag(1480, false, Ports::InFirstFragment, 59), |p| {
            out.push(p)
        });
        t.process(frag(0, true, Ports::Found { src: 1, dst: 2 }, 61), |p| {
            out.push(p)
        });
        let stamps: Vec<i64> = out.iter().map(|p| p.facts.ts.secs).collect();
        assert_eq!(stamps, vec![61, 59]);
        assert_eq!(ports_of(&out), vec![Ports::Found { src: 1, dst: 2 }; 2]);
    }

    /// differences.md, decoding: a new first fragment with a reused ID starts a new datagram
    /// (pmacct 1.7.7 keeps the first train's ports).
    #[test]
    fn a_reused_fragment_id_takes_the_new_first_fragments_ports() {
        let mut t = FragmentTracker::new(60, 1000);
        let mut out = Vec::new();
        let mut feed = |p| t.process(p, |p| out.push(p));
        feed(frag(0, true, Ports::Found { src: 1, dst: 2 }, 10));
        feed(frag(1480, false, Ports::InFirstFragment, 10));
        feed(frag(0, true, Ports::Found { src: 3, dst: 4 }, 20));
        feed(frag(1480, false, Ports::InFirstFragment, 20));
        assert_eq!(
            ports_of(&out),
            vec![
                Ports::Found { src: 1, dst: 2 },
                Ports::Found { src: 1, dst: 2 },
                Ports::Found { src: 3, dst: 4 },
                Ports::Found { src: 3, dst: 4 },
            ]
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = FragmentTracker::new(60, 1);
        let mut out = Vec::new();
        t.process(frag(8, true, Ports::InFirstFragment, 1), |p| out.push(p));
        t.process(frag(16, false, Ports::InFirstFragment, 1), |p| out.push(p));
        assert_eq!(out.len(), 1);
        assert_eq!(t.held(), 1);
    }
}
