//! The flow meter: packets into flows, ended by pmacct's nfprobe timeouts.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMP6: u8 = 58;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// `nfprobe_timeouts`, seconds: how long a flow may stay idle by protocol and TCP state, how
/// long it may live, and how often the table is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    /// After a RST.
    pub tcp_rst: u32,
    /// After a FIN.
    pub tcp_fin: u32,
    pub udp: u32,
    pub icmp: u32,
    /// Other protocols.
    pub general: u32,
    /// Longest life of a flow, however busy.
    pub maxlife: u32,
    /// Seconds between two checks of the table.
    pub expint: u32,
}

impl Default for Timeouts {
    /// pmacct's defaults.
    fn default() -> Self {
        Timeouts {
            tcp: 3600,
            tcp_rst: 120,
            tcp_fin: 300,
            udp: 300,
            icmp: 300,
            general: 3600,
            maxlife: 604_800,
            expint: 60,
        }
    }
}

impl Timeouts {
    /// When a flow ends if nothing more comes: idle past its protocol's timeout, or at its
    /// maximum life.
    fn expiry(&self, m: &Metered) -> i64 {
        let idle = match m.proto {
            TCP if m.tcp_flags & RST != 0 => self.tcp_rst,
            TCP if m.tcp_flags & FIN != 0 => self.tcp_fin,
            TCP => self.tcp,
            UDP => self.udp,
            ICMP | ICMP6 => self.icmp,
            _ => self.general,
        };
        let secs = |s: u32| i64::from(s) * 1_000_000;
        (m.last_us + secs(idle)).min(m.first_us + secs(self.maxlife))
    }
}

/// One flow's counters and times (unix microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metered {
    pub first_us: i64,
    pub last_us: i64,
    pub packets: u64,
    pub bytes: u64,
    /// TCP flags seen, OR-ed.
    pub tcp_flags: u8,
    pub proto: u8,
    expires_us: i64,
}

impl Metered {
    fn new(proto: u8, at_us: i64, packets: u64, bytes: u64, tcp_flags: u8) -> Metered {
        Metered {
            first_us: at_us,
            last_us: at_us,
            packets,
            bytes,
            tcp_flags,
            proto,
            expires_us: i64::MAX,
        }
    }

    fn add(&mut self, at_us: i64, packets: u64, bytes: u64, tcp_flags: u8) {
        self.first_us = self.first_us.min(at_us);
        self.last_us = self.last_us.max(at_us);
        self.packets = self.packets.saturating_add(packets);
        self.bytes = self.bytes.saturating_add(bytes);
        self.tcp_flags |= tcp_flags;
    }
}

/// What a meter has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeterStats {
    /// Flows started.
    pub flows: u64,
    /// Flows ended (by timeout, by a full table, or at the end).
    pub expired: u64,
    /// Flows ended early because the table was full (`nfprobe_maxflows`).
    pub forced: u64,
}

/// Flows by key, each ended by [`Timeouts`] or when the table is full.
pub struct Meter<K> {
    flows: HashMap<K, Metered, foldhash::fast::RandomState>,
    timeouts: Timeouts,
    max_flows: usize,
    /// `nfprobe_dont_cache`: every packet is a flow of its own, ended at once.
    dont_cache: bool,
    next_check_us: Option<i64>,
    stats: MeterStats,
}

impl<K: Hash + Eq + Clone> Meter<K> {
    pub fn new(timeouts: Timeouts, max_flows: usize, dont_cache: bool) -> Meter<K> {
        Meter {
            flows: HashMap::default(),
            timeouts,
            max_flows: max_flows.max(1),
            dont_cache,
            next_check_us: None,
            stats: MeterStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn stats(&self) -> MeterStats {
        self.stats
    }

    /// Counts `packets` and `bytes` of `key` seen at `at_us`. Flows that end because of it (a
    /// flow of this key idle past its timeout, the oldest flows of a full table) are appended
    /// to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn observe<Q>(
        &mut self,
        key: &Q,
        proto: u8,
        at_us: i64,
        packets: u64,
        bytes: u64,
        tcp_flags: u8,
        out: &mut Vec<(K, Metered)>,
    ) where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let fresh = Metered::new(proto, at_us, packets, bytes, tcp_flags);
        if self.dont_cache {
            self.stats.flows += 1;
            self.stats.expired += 1;
            out.push((key.to_owned(), fresh));
            return;
        }
        if let Some(m) = self.flows.get_mut(key) {
            if m.expires_us <= at_us {
                // Ended before this packet (not checked yet): it goes, this one starts anew.
                out.push((key.to_owned(), *m));
                *m = fresh;
                self.stats.flows += 1;
                self.stats.expired += 1;
            } else {
                m.add(at_us, packets, bytes, tcp_flags);
            }
            m.expires_us = self.timeouts.expiry(m);
            return;
        }
        if self.flows.len() >= self.max_flows {
            self.force_expire(out);
        }
        let mut m = fresh;
        m.expires_us = self.timeouts.expiry(&m);
        self.flows.insert(key.to_owned(), m);
        self.stats.flows += 1;
    }

    /// Ends the least recently seen sixteenth of a full table.
    fn force_expire(&mut self, out: &mut Vec<(K, Metered)>) {
        let n = (self.max_flows / 16).max(1).min(self.flows.len());
        let mut by_age: Vec<(i64, &K)> = self.flows.iter().map(|(k, m)| (m.last_us, k)).collect();
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n, |(last, _)| *last);
        }
        let oldest: Vec<K> = by_age[..n].iter().map(|(_, k)| (*k).clone()).collect();
        for k in oldest {
            if let Some(m) = self.flows.remove(&k) {
                out.push((k, m));
            }
        }
        self.stats.forced += n as u64;
        self.stats.expired += n as u64;
    }

    /// Every `expint` seconds of `now_us`, appends the flows that have ended to `out` (oldest
    /// first). Returns whether the table was checked.
    pub fn expire(&mut self, now_us: i64, out: &mut Vec<(K, Metered)>) -> bool {
        let every = i64::from(self.timeouts.expint.max(1)) * 1_000_000;
        let Some(next) = self.next_check_us else {
            self.next_check_us = Some(now_us + every);
            return false;
        };
        if now_us < next {
            return false;
        }
        self.next_check_us = Some(now_us + every);
        let start = out.len();
        self.flows.retain(|k, m| {
            if m.expires_us <= now_us {
                out.push((k.clone(), *m));
                false
            } else {
                true
            }
        });
        self.stats.expired += (out.len() - start) as u64;
        out[start..].sort_by_key(|(_, m)| m.first_us);
        true
    }

    /// Ends every flow (at exit), oldest first.
    pub fn drain(&mut self, out: &mut Vec<(K, Metered)>) {
        let start = out.len();
        out.extend(self.flows.drain());
        self.stats.expired += (out.len() - start) as u64;
        out[start..].sort_by_key(|(_, m)| m.first_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds as the meter's microseconds.
    fn ms(v: i64) -> i64 {
        v * 1000
    }

    fn meter(t: Timeouts, max: usize) -> Meter<Vec<u64>> {
        Meter::new(t, max, false)
    }

    #[test]
    fn packets_of_one_key_make_one_flow_until_it_is_idle_past_its_timeout() {
        let t = Timeouts {
            udp: 10,
            expint: 1,
            ..Timeouts::default()
        };
        let mut m = meter(t, 100);
        let mut out = Vec::new();
        m.observe(&[1u64][..], UDP, ms(1_000), 1, 100, 0, &mut out);
        m.observe(&[1u64][..], UDP, ms(5_500), 2, 300, 0, &mut out);
        assert!(!m.expire(ms(5_500), &mut out));
        assert!(m.expire(ms(15_000), &mut out));
        assert!(out.is_empty(), "idle 9.5 s of 10");
        assert!(m.expire(ms(16_000), &mut out));
        assert_eq!(out.len(), 1);
        let (k, f) = &out[0];
        assert_eq!(k, &vec![1u64]);
        assert_eq!(
            (f.first_us, f.last_us, f.packets, f.bytes),
            (ms(1_000), ms(5_500), 3, 400)
        );
        assert_eq!(
            m.stats(),
            MeterStats {
                flows: 1,
                expired: 1,
                forced: 0
            }
        );
        assert!(m.is_empty());
    }

    #[test]
    fn a_packet_after_the_timeout_ends_the_old_flow_before_the_check_runs() {
        let t = Timeouts {
            udp: 10,
            expint: 60,
            ..Timeouts::default()
        };
        let mut m = meter(t, 100);
        let mut out = Vec::new();
        m.observe(&[7u64][..], UDP, ms(0), 1, 10, 0, &mut out);
        m.observe(&[7u64][..], UDP, ms(10_000), 1, 20, 0, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].1.packets, out[0].1.bytes), (1, 10));
        m.drain(&mut out);
        assert_eq!((out[1].1.first_us, out[1].1.bytes), (ms(10_000), 20));
        assert_eq!(m.stats().flows, 2);
    }

    #[test]
    fn tcp_timeouts_follow_the_flags_and_maxlife_ends_a_busy_flow() {
        let t = Timeouts {
            tcp: 100,
            tcp_fin: 20,
            tcp_rst: 5,
            maxlife: 50,
            expint: 1,
            ..Timeouts::default()
        };
        let mut m = meter(t, 100);
        let mut out = Vec::new();
        m.observe(&[1u64][..], TCP, ms(0), 1, 60, 0x02, &mut out);
        m.observe(&[2u64][..], TCP, ms(0), 1, 60, 0x11, &mut out);
        m.observe(&[3u64][..], TCP, ms(0), 1, 60, 0x04, &mut out);
        m.expire(ms(0), &mut out);
        m.expire(ms(5_000), &mut out);
        assert_eq!(out.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(), [3]);
        m.expire(ms(20_000), &mut out);
        assert_eq!(out.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(), [3, 2]);
        for s in 1..=49 {
            m.observe(&[1u64][..], TCP, ms(s * 1000), 1, 60, 0x10, &mut out);
        }
        assert_eq!(out.len(), 2, "busy, below maxlife");
        m.observe(&[1u64][..], TCP, ms(50_000), 1, 60, 0x10, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!((out[2].1.packets, out[2].1.tcp_flags), (50, 0x12));
    }

    #[test]
    fn a_full_table_ends_its_least_recently_seen_flows_and_counts_them() {
        let mut m = meter(Timeouts::default(), 32);
        let mut out = Vec::new();
        for k in 0..32u64 {
            m.observe(&[k][..], UDP, ms(1_000 + k as i64), 1, 10, 0, &mut out);
        }
        assert!(out.is_empty());
        m.observe(&[0u64][..], UDP, ms(5_000), 1, 10, 0, &mut out);
        m.observe(&[99u64][..], UDP, ms(5_001), 1, 10, 0, &mut out);
        // 32 / 16 = 2 least recently seen: keys 1 and 2 (key 0 was just seen again).
        let mut ended: Vec<u64> = out.iter().map(|(k, _)| k[0]).collect();
        ended.sort_unstable();
        assert_eq!(ended, [1, 2]);
        assert_eq!(m.len(), 31);
        assert_eq!(m.stats().forced, 2);
        let mut rest = Vec::new();
        m.drain(&mut rest);
        let packets: u64 = out.iter().chain(&rest).map(|(_, f)| f.packets).sum();
        assert_eq!(packets, 34, "nothing observed is lost");
    }

    #[test]
    fn dont_cache_makes_every_packet_a_flow() {
        let mut m: Meter<Vec<u64>> = Meter::new(Timeouts::default(), 10, true);
        let mut out = Vec::new();
        m.observe(&[1u64][..], UDP, ms(0), 1, 10, 0, &mut out);
        m.observe(&[1u64][..], UDP, ms(1), 1, 10, 0, &mut out);
        assert_eq!(out.len(), 2);
        assert!(m.is_empty());
    }
}
