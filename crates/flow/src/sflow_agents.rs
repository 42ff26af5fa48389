//! What sFlow's sequence numbers and sample pools say, per agent (address and sub-agent id)
//! and per data source: datagrams and samples lost on the way, samples the agent itself
//! dropped, and the effective sampling rate (packets the sampler saw per sample taken).
//!
//! Promises: bounded (agents by [`crate::Limits::max_exporters`], data sources per agent by
//! [`MAX_SOURCES_PER_AGENT`]; what is past the bounds is decoded without these checks and
//! counted); a counter that goes backwards (an agent that restarted) starts over and loses
//! nothing.

use std::net::IpAddr;

use foldhash::HashMap;

use crate::{CounterSample, FlowSample, SflowHeader};

/// Data sources (flow and counter samplers) tracked per agent.
pub const MAX_SOURCES_PER_AGENT: usize = 4096;

/// How far a sequence number may jump forward and still be a gap (further is a restart).
const MAX_GAP: u32 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SourceKey {
    kind: u32,
    index: u32,
    counters: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Source {
    seqno: u32,
    pool: u32,
    drops: u32,
}

#[derive(Debug, Default)]
struct Agent {
    seqno: u32,
    sources: HashMap<SourceKey, Source>,
}

/// What one flow sample's sequence number and pool say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleFacts {
    /// Samples of this data source missing before this one.
    pub lost: u64,
    /// Samples the agent counted as dropped (no resources) since the previous sample.
    pub agent_drops: u64,
    /// Packets the sampler saw per sample since the previous sample (sample pool delta over
    /// sequence delta); the sample's own rate for the first sample of a source, after a
    /// restart, or when the pool did not move.
    pub effective_rate: u32,
}

/// The state of every agent seen (bounded).
#[derive(Debug, Default)]
pub struct SflowAgents {
    agents: HashMap<(IpAddr, u32), Agent>,
    max_agents: usize,
    /// Datagrams of agents past `max_agents`, and samples of sources past
    /// [`MAX_SOURCES_PER_AGENT`]: decoded, not checked.
    pub untracked: u64,
}

/// How many units a sequence number says were skipped since `last` (0 for the next one, a
/// repeat or a restart).
fn gap(last: u32, now: u32) -> u64 {
    let d = now.wrapping_sub(last);
    if d == 0 || d > MAX_GAP {
        0
    } else {
        u64::from(d - 1)
    }
}

impl SflowAgents {
    pub fn new(max_agents: usize) -> Self {
        SflowAgents {
            max_agents,
            ..SflowAgents::default()
        }
    }

    /// The agent of a datagram, created when there is room.
    fn agent(&mut self, h: &SflowHeader) -> Option<(&mut Agent, bool)> {
        let full = self.agents.len() >= self.max_agents;
        let key = (h.agent, h.sub_agent);
        if full && !self.agents.contains_key(&key) {
            self.untracked += 1;
            return None;
        }
        let mut new = false;
        let agent = self.agents.entry(key).or_insert_with(|| {
            new = true;
            Agent::default()
        });
        Some((agent, new))
    }

    /// A datagram's header: the datagrams of this agent missing before it.
    pub fn datagram(&mut self, h: &SflowHeader) -> u64 {
        let Some((agent, new)) = self.agent(h) else {
            return 0;
        };
        let lost = if new { 0 } else { gap(agent.seqno, h.seqno) };
        agent.seqno = h.seqno;
        lost
    }

    /// A source's previous state, and whether it is new; `None` past the bounds.
    fn source(&mut self, h: &SflowHeader, key: SourceKey) -> Option<(&mut Source, bool)> {
        let agent = self.agents.get_mut(&(h.agent, h.sub_agent))?;
        let full = agent.sources.len() >= MAX_SOURCES_PER_AGENT;
        if full && !agent.sources.contains_key(&key) {
            self.untracked += 1;
            return None;
        }
        let mut new = false;
        let source = agent.sources.entry(key).or_insert_with(|| {
            new = true;
            Source::default()
        });
        Some((source, new))
    }

    /// A flow sample of a datagram [`SflowAgents::datagram`] has seen.
    pub fn flow_sample(&mut self, h: &SflowHeader, s: &FlowSample<'_>) -> SampleFacts {
        let key = SourceKey {
            kind: s.source.kind,
            index: s.source.index,
            counters: false,
        };
        let mut facts = SampleFacts {
            effective_rate: s.sampling_rate,
            ..SampleFacts::default()
        };
        let Some((source, new)) = self.source(h, key) else {
            return facts;
        };
        let seq_delta = s.seqno.wrapping_sub(source.seqno);
        if !new && seq_delta != 0 && seq_delta <= MAX_GAP {
            facts.lost = u64::from(seq_delta - 1);
            let pool_delta = s.sample_pool.wrapping_sub(source.pool);
            if pool_delta != 0 && pool_delta <= MAX_GAP {
                facts.effective_rate = (pool_delta / seq_delta).max(1);
            }
            let drops = s.drops.wrapping_sub(source.drops);
            if drops <= MAX_GAP {
                facts.agent_drops = u64::from(drops);
            }
        }
        *source = Source {
            seqno: s.seqno,
            pool: s.sample_pool,
            drops: s.drops,
        };
        facts
    }

    /// A counter sample: the counter samples of its source missing before it.
    pub fn counter_sample(&mut self, h: &SflowHeader, s: &CounterSample) -> u64 {
        let key = SourceKey {
            kind: s.source.kind,
            index: s.source.index,
            counters: true,
        };
        let Some((source, new)) = self.source(h, key) else {
            return 0;
        };
        let lost = if new { 0 } else { gap(source.seqno, s.seqno) };
        source.seqno = s.seqno;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataSource;

    fn header(seqno: u32) -> SflowHeader {
        SflowHeader {
            agent: "192.0.2.1".parse().expect("ip"),
            sub_agent: 0,
            seqno,
            uptime_ms: 0,
            samples: 1,
        }
    }

    fn sample(seqno: u32, pool: u32, drops: u32) -> FlowSample<'static> {
        FlowSample {
            seqno,
            source: DataSource { kind: 0, index: 3 },
            sampling_rate: 10,
            sample_pool: pool,
            drops,
            ..FlowSample::default()
        }
    }

    #[test]
    fn datagram_gaps_per_agent_and_restarts() {
        let mut a = SflowAgents::new(2);
        assert_eq!(a.datagram(&header(7)), 0, "first datagram");
        assert_eq!(a.datagram(&header(8)), 0);
        assert_eq!(a.datagram(&header(12)), 3);
        assert_eq!(a.datagram(&header(1)), 0, "restart");
        assert_eq!(a.datagram(&header(2)), 0);
        let mut other = header(100);
        other.sub_agent = 1;
        assert_eq!(a.datagram(&other), 0, "another sub-agent is another agent");
        let mut third = header(5);
        third.agent = "192.0.2.3".parse().expect("ip");
        assert_eq!(a.datagram(&third), 0);
        assert_eq!(a.untracked, 1, "past max_agents");
        let mut wrap = header(u32::MAX);
        wrap.sub_agent = 1;
        a.datagram(&wrap);
        wrap.seqno = 1;
        assert_eq!(a.datagram(&wrap), 1, "0 is missing across the wrap");
    }

    #[test]
    fn effective_rate_is_pool_delta_over_sequence_delta() {
        let mut a = SflowAgents::new(8);
        let h = header(1);
        a.datagram(&h);
        let first = a.flow_sample(&h, &sample(1, 3, 0));
        assert_eq!(
            first,
            SampleFacts {
                lost: 0,
                agent_drops: 0,
                effective_rate: 10
            }
        );
        let next = a.flow_sample(&h, &sample(2, 19, 0));
        assert_eq!(next.effective_rate, 16);
        // Two samples lost: 3 samples over 40 packets.
        let gap = a.flow_sample(&h, &sample(5, 59, 4));
        assert_eq!(
            gap,
            SampleFacts {
                lost: 2,
                agent_drops: 4,
                effective_rate: 13
            }
        );
        // The pool did not move: the configured rate.
        assert_eq!(a.flow_sample(&h, &sample(6, 59, 4)).effective_rate, 10);
        // The agent restarted: counters start over.
        let restart = a.flow_sample(&h, &sample(1, 5, 0));
        assert_eq!(
            restart,
            SampleFacts {
                lost: 0,
                agent_drops: 0,
                effective_rate: 10
            }
        );
        // Counter samples have their own sequence.
        let c = CounterSample {
            seqno: 40,
            source: DataSource { kind: 0, index: 3 },
            records: Vec::new(),
            malformed_records: 0,
        };
        assert_eq!(a.counter_sample(&h, &c), 0);
        let c = CounterSample { seqno: 43, ..c };
        assert_eq!(a.counter_sample(&h, &c), 2);
    }

    #[test]
    fn sources_per_agent_are_bounded() {
        let mut a = SflowAgents::new(1);
        let h = header(1);
        a.datagram(&h);
        for i in 0..MAX_SOURCES_PER_AGENT as u32 + 10 {
            let mut s = sample(1, 1, 0);
            s.source.index = i;
            a.flow_sample(&h, &s);
        }
        assert_eq!(a.untracked, 10);
        let unknown_agent = SflowHeader {
            agent: "192.0.2.9".parse().expect("ip"),
            ..h
        };
        assert_eq!(
            a.flow_sample(&unknown_agent, &sample(9, 90, 0))
                .effective_rate,
            10
        );
    }
}
