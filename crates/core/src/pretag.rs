//! `pre_tag_map`: rules that set a packet's tag, tag2 and label before the plugins see it, and
//! the plugins' `pre_tag_filter`, `pre_tag2_filter` and `pre_tag_label_filter`.
//!
//! A rule is one line of `key=value` words. Match keys: `filter='<libpcap expression>'` (on the
//! raw frame, as pmacct), `direction=in|out` (the capture's direction, from the
//! pcap_interfaces_map or `pcap_direction`), and, as pmacct-rs extensions, `ifname=<interface>`
//! (the capturing interface) and `in=<id>` / `out=<id>` (the packet's in_iface / out_iface).
//! nfacctd's flow keys match a flow record (they never match a packet, and pmacctd refuses a map
//! that uses them): `ip` (the exporter, an address or prefix), `engine_type`, `engine_id` (v5's
//! engine id; v9's source id and IPFIX's observation domain) and its alias `source_id`,
//! `nexthop`, `bgp_nexthop`, `src_net`, `dst_net` (prefixes), `src_as`, `dst_as`, `src_mac`,
//! `dst_mac`, `vlan`, `nat_event`, `fwdstatus`, `is_multicast` (the destination MAC's group bit)
//! and `direction=0|1` (the record's flowDirection, IE 61).
//! Every match key but `filter` takes a leading `-` to negate its value. Set keys: `set_tag`,
//! `set_tag2`, `set_label` (any of them on one line; pmacct 1.7.7 takes only one). Flow keys:
//! `label=<name>` names a rule, `jeq=<name>` continues evaluation at that later rule after a
//! match (`jeq=next`: at the following rule) and goes on down the map until a rule without
//! `jeq` matches; `stack=sum|or` on a rule reached that way makes its tags add to or OR into
//! the ones set before instead of replacing them; labels along a chain are joined with
//! commas. Otherwise the first rule that matches wins.
//!
//! The libpcap part is the caller's: evaluation asks it whether rule `i`'s filter matches.

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::key::Tags;
use crate::labels::{self, LabelId};

/// A capture direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// What a rule can match besides its filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Direction(Direction),
    Ifname(String),
    InIface(u32),
    OutIface(u32),
    Flow(FlowMatch),
}

/// nfacctd's keys: what a flow record says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowMatch {
    Exporter(Cidr),
    EngineType(u8),
    EngineId(u32),
    Nexthop(Cidr),
    BgpNexthop(Cidr),
    SrcNet(Cidr),
    DstNet(Cidr),
    SrcAs(u32),
    DstAs(u32),
    SrcMac([u8; 6]),
    DstMac([u8; 6]),
    Vlan(u16),
    NatEvent(u8),
    FwdStatus(u8),
    IsMulticast(bool),
    Direction(u8),
}

/// What a flow record offers to the flow keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowFacts {
    pub exporter: IpAddr,
    pub engine_type: u8,
    /// v5's engine id; v9's source id, IPFIX's observation domain.
    pub engine_id: u32,
    pub nexthop: Option<IpAddr>,
    pub bgp_nexthop: Option<IpAddr>,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_as: u32,
    pub dst_as: u32,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub vlan: u16,
    pub nat_event: u8,
    pub fwd_status: u8,
    /// flowDirection (IE 61): 0 ingress, 1 egress, when the exporter says.
    pub direction: Option<u8>,
}

/// How tags set along a `jeq` chain combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stack {
    #[default]
    Replace,
    Sum,
    Or,
}

/// Where evaluation goes on after a rule matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jump {
    /// The rule at this index.
    To(usize),
    Next,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Line number in the map file.
    pub line: usize,
    pub filter: Option<String>,
    /// Matches, each with whether it is negated.
    pub matches: Vec<(Match, bool)>,
    pub set_tag: Option<u64>,
    pub set_tag2: Option<u64>,
    pub set_label: Option<LabelId>,
    pub name: Option<String>,
    pub jeq: Option<Jump>,
    pub stack: Stack,
}

/// A parsed map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreTagMap {
    pub rules: Vec<Rule>,
}

/// What a packet is matched against, besides its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketContext<'a> {
    pub ifname: &'a str,
    pub direction: Option<Direction>,
    pub in_iface: u32,
    pub out_iface: u32,
    /// A flow record's own facts (nfacctd); `None` for a packet.
    pub flow: Option<&'a FlowFacts>,
}

const KEYS: &str = "set_tag, set_tag2, set_label, filter, direction, ifname, in, out, label, \
jeq, stack; nfacctd: ip, engine_type, engine_id, source_id, nexthop, bgp_nexthop, src_net, \
dst_net, src_as, dst_as, src_mac, dst_mac, vlan, nat_event, fwdstatus, is_multicast";

impl PreTagMap {
    /// Parses a map; errors name the file, the line and the key.
    pub fn parse(file: &str, text: &str) -> Result<PreTagMap, String> {
        let mut rules = Vec::new();
        for (line, words) in logical_lines(text) {
            let err = |m: String| format!("{file}:{line}: {m}");
            let mut rule = Rule {
                line,
                ..Rule::default()
            };
            let mut jeq = None;
            let mut seen: Vec<String> = Vec::new();
            for word in split_words(&words).map_err(err)? {
                let (key, value) = word
                    .split_once('=')
                    .ok_or_else(|| err(format!("expected key=value, got '{word}'")))?;
                let key = key.to_ascii_lowercase();
                if seen.contains(&key) {
                    return Err(err(format!("key '{key}' given twice")));
                }
                seen.push(key.clone());
                rule_key(&mut rule, &mut jeq, &key, value).map_err(err)?;
            }
            rules.push((rule, jeq));
        }
        resolve_jumps(file, rules)
    }

    /// The first flow key (nfacctd's) of the map, with its line: such a map is for flows.
    pub fn first_flow_key(&self) -> Option<(usize, &'static str)> {
        self.rules.iter().find_map(|r| {
            r.matches.iter().find_map(|(m, _)| match m {
                Match::Flow(f) => Some((r.line, f.key())),
                _ => None,
            })
        })
    }

    /// Whether any rule has a `filter` (the caller then has a frame to match).
    pub fn has_filters(&self) -> bool {
        self.rules.iter().any(|r| r.filter.is_some())
    }

    /// The tags of a packet: `filter(i)` says whether rule `i`'s filter matches its frame.
    pub fn evaluate(&self, ctx: &PacketContext, mut filter: impl FnMut(usize) -> bool) -> Tags {
        let mut tags = Tags::default();
        // Labels set along a chain; joined (and interned) only when there are several.
        let mut chain_labels: Vec<LabelId> = Vec::new();
        let (mut i, mut chained) = (0, false);
        while let Some(rule) = self.rules.get(i) {
            let hit = rule
                .matches
                .iter()
                .all(|(m, negated)| m.holds(ctx) != *negated)
                && (rule.filter.is_none() || filter(i));
            if !hit {
                i += 1;
                continue;
            }
            // As pmacct: a rule reached through `jeq` says itself how its tags combine.
            let combine = |old: u64, new: u64| match (chained, rule.stack) {
                (true, Stack::Sum) => old.wrapping_add(new),
                (true, Stack::Or) => old | new,
                _ => new,
            };
            if let Some(t) = rule.set_tag {
                tags.tag = combine(tags.tag, t);
            }
            if let Some(t) = rule.set_tag2 {
                tags.tag2 = combine(tags.tag2, t);
            }
            if let Some(l) = rule.set_label {
                if tags.label == LabelId(0) {
                    tags.label = l;
                } else {
                    chain_labels.push(l);
                }
            }
            match rule.jeq {
                Some(Jump::To(to)) => i = to,
                Some(Jump::Next) => i += 1,
                None => break,
            }
            chained = true;
        }
        if !chain_labels.is_empty() {
            let mut text = labels::text(tags.label).to_string();
            for l in chain_labels {
                text.push(',');
                text.push_str(&labels::text(l));
            }
            tags.label = labels::intern(&text);
        }
        tags
    }
}

impl Match {
    fn holds(&self, ctx: &PacketContext) -> bool {
        match self {
            Match::Direction(d) => ctx.direction == Some(*d),
            Match::Ifname(n) => ctx.ifname == n,
            Match::InIface(id) => ctx.in_iface == *id,
            Match::OutIface(id) => ctx.out_iface == *id,
            Match::Flow(f) => ctx.flow.is_some_and(|facts| f.holds(facts)),
        }
    }
}

impl FlowMatch {
    fn holds(&self, f: &FlowFacts) -> bool {
        // As pmacct: an address the record does not carry is the unspecified one.
        let within = |net: &Cidr, a: Option<IpAddr>| net.contains(a.unwrap_or(net.unspecified()));
        match self {
            FlowMatch::Exporter(net) => net.contains(f.exporter),
            FlowMatch::EngineType(v) => f.engine_type == *v,
            FlowMatch::EngineId(v) => f.engine_id == *v,
            FlowMatch::Nexthop(net) => within(net, f.nexthop),
            FlowMatch::BgpNexthop(net) => within(net, f.bgp_nexthop),
            FlowMatch::SrcNet(net) => within(net, f.src_addr),
            FlowMatch::DstNet(net) => within(net, f.dst_addr),
            FlowMatch::SrcAs(v) => f.src_as == *v,
            FlowMatch::DstAs(v) => f.dst_as == *v,
            FlowMatch::SrcMac(v) => f.src_mac == *v,
            FlowMatch::DstMac(v) => f.dst_mac == *v,
            FlowMatch::Vlan(v) => f.vlan == *v,
            FlowMatch::NatEvent(v) => f.nat_event == *v,
            FlowMatch::FwdStatus(v) => f.fwd_status == *v,
            FlowMatch::IsMulticast(v) => (f.dst_mac[0] & 1 == 1) == *v,
            FlowMatch::Direction(v) => f.direction == Some(*v),
        }
    }

    /// The map key that writes this match.
    pub fn key(&self) -> &'static str {
        match self {
            FlowMatch::Exporter(_) => "ip",
            FlowMatch::EngineType(_) => "engine_type",
            FlowMatch::EngineId(_) => "engine_id",
            FlowMatch::Nexthop(_) => "nexthop",
            FlowMatch::BgpNexthop(_) => "bgp_nexthop",
            FlowMatch::SrcNet(_) => "src_net",
            FlowMatch::DstNet(_) => "dst_net",
            FlowMatch::SrcAs(_) => "src_as",
            FlowMatch::DstAs(_) => "dst_as",
            FlowMatch::SrcMac(_) => "src_mac",
            FlowMatch::DstMac(_) => "dst_mac",
            FlowMatch::Vlan(_) => "vlan",
            FlowMatch::NatEvent(_) => "nat_event",
            FlowMatch::FwdStatus(_) => "fwdstatus",
            FlowMatch::IsMulticast(_) => "is_multicast",
            FlowMatch::Direction(_) => "direction",
        }
    }

    /// Parses one of nfacctd's keys (`None`: not one of them).
    fn parse(key: &str, value: &str) -> Option<Result<FlowMatch, String>> {
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
            v.parse::<T>()
                .map_err(|_| format!("{key}: invalid number '{v}'"))
        }
        let net = |v: &str| Cidr::parse(v).map_err(|e| format!("{key}: {e}"));
        let mac = |v: &str| parse_mac(v).ok_or_else(|| format!("{key}: invalid MAC address '{v}'"));
        Some(match key {
            "ip" => net(value).map(FlowMatch::Exporter),
            "engine_type" => num(key, value).map(FlowMatch::EngineType),
            "engine_id" | "source_id" => num(key, value).map(FlowMatch::EngineId),
            "nexthop" => net(value).map(FlowMatch::Nexthop),
            "bgp_nexthop" => net(value).map(FlowMatch::BgpNexthop),
            "src_net" => net(value).map(FlowMatch::SrcNet),
            "dst_net" => net(value).map(FlowMatch::DstNet),
            "src_as" => num(key, value).map(FlowMatch::SrcAs),
            "dst_as" => num(key, value).map(FlowMatch::DstAs),
            "src_mac" => mac(value).map(FlowMatch::SrcMac),
            "dst_mac" => mac(value).map(FlowMatch::DstMac),
            "vlan" => num(key, value).map(FlowMatch::Vlan),
            "nat_event" => num(key, value).map(FlowMatch::NatEvent),
            "fwdstatus" => num(key, value).map(FlowMatch::FwdStatus),
            "is_multicast" => match value.to_ascii_lowercase().as_str() {
                "true" => Ok(FlowMatch::IsMulticast(true)),
                "false" => Ok(FlowMatch::IsMulticast(false)),
                _ => Err(format!("is_multicast: '{value}' is not true or false")),
            },
            _ => return None,
        })
    }
}

/// `00:11:22:33:44:55` (or with dashes).
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// One key of a rule.
fn rule_key(
    rule: &mut Rule,
    jeq: &mut Option<String>,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let (negated, bare) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{key}: invalid number '{v}'"))
    };
    let iface = |v: &str| {
        v.parse::<u32>()
            .map_err(|_| format!("{key}: invalid interface id '{v}'"))
    };
    match key {
        "set_tag" | "set_tag2" => {
            if value.ends_with("++") {
                return Err(format!("{key}: auto-increment (N++) is not supported"));
            }
            let n = number(value)?;
            if n == 0 {
                return Err(format!("{key}: 0 means untagged; use 1 or more"));
            }
            match key {
                "set_tag" => rule.set_tag = Some(n),
                _ => rule.set_tag2 = Some(n),
            }
        }
        "set_label" => {
            if value.is_empty() || value.contains(',') {
                return Err(format!(
                    "{key}: a label is one non-empty word without commas"
                ));
            }
            rule.set_label = Some(labels::intern(value));
        }
        "filter" => rule.filter = Some(value.to_string()),
        "direction" => {
            let m = match (Direction::parse(bare), bare) {
                (Some(d), _) => Match::Direction(d),
                (None, "0" | "1") => Match::Flow(FlowMatch::Direction(u8::from(bare == "1"))),
                _ => {
                    return Err(format!(
                        "direction: '{value}' is not in or out (pmacctd) or 0 or 1 (nfacctd)"
                    ))
                }
            };
            rule.matches.push((m, negated));
        }
        "ifname" => rule
            .matches
            .push((Match::Ifname(bare.to_string()), negated)),
        "in" => rule.matches.push((Match::InIface(iface(bare)?), negated)),
        "out" => rule.matches.push((Match::OutIface(iface(bare)?), negated)),
        "label" => rule.name = Some(value.to_string()),
        "jeq" => *jeq = Some(value.to_string()),
        "stack" => {
            rule.stack = match value.to_ascii_lowercase().as_str() {
                "sum" => Stack::Sum,
                "or" => Stack::Or,
                _ => return Err(format!("stack: '{value}' is not sum or or")),
            }
        }
        "set_tos" => return Err("set_tos is not supported".into()),
        _ => match FlowMatch::parse(key, bare) {
            Some(m) => rule.matches.push((Match::Flow(m?), negated)),
            None => return Err(format!("unknown key '{key}' ({KEYS})")),
        },
    }
    Ok(())
}

/// Turns `jeq` names into rule indexes: a jump goes forward only, so evaluation always ends.
fn resolve_jumps(file: &str, rules: Vec<(Rule, Option<String>)>) -> Result<PreTagMap, String> {
    let names: Vec<Option<String>> = rules.iter().map(|(r, _)| r.name.clone()).collect();
    let mut out = Vec::with_capacity(rules.len());
    for (i, (mut rule, jeq)) in rules.into_iter().enumerate() {
        if let Some(target) = jeq {
            rule.jeq = Some(if target.eq_ignore_ascii_case("next") {
                Jump::Next
            } else {
                let at = names
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find(|(_, n)| n.as_deref() == Some(target.as_str()))
                    .map(|(at, _)| at)
                    .ok_or_else(|| {
                        format!(
                            "{file}:{}: jeq: no later rule has label={target}",
                            rule.line
                        )
                    })?;
                Jump::To(at)
            });
        }
        out.push(rule);
    }
    Ok(PreTagMap { rules: out })
}

/// Lines without comments and blanks, a trailing `\` joining a line to the next; each with
/// the number of its first line.
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with('!') || line.starts_with('#'))
        {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                out.push((start, joined));
            }
        }
    }
    out.extend(pending);
    out
}

/// Splits on blanks outside single quotes; quotes are removed.
pub(crate) fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let (mut word, mut quoted) = (String::new(), false);
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote (') is not closed".into());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// `pre_tag_filter` / `pre_tag2_filter`: tags (`0` = untagged), ranges `A-B`, negations `-N`
/// and `-A-B`. As in pmacct, the items are ORed: a tag passes when it is in a listed tag or
/// range, or outside a negated one (so `-4` alone passes everything but 4, and `1-16,-4`
/// passes everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    allow: Vec<(u64, u64)>,
    deny: Vec<(u64, u64)>,
}

impl TagFilter {
    pub fn parse(value: &str) -> Result<TagFilter, String> {
        let (mut allow, mut deny) = (Vec::new(), Vec::new());
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (list, body) = match item.strip_prefix('-') {
                Some(rest) => (&mut deny, rest),
                None => (&mut allow, item),
            };
            let bad = || format!("invalid tag or range '{item}'");
            let range = match body.split_once('-') {
                Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                None => {
                    let n = body.parse().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            list.push(range);
        }
        if allow.is_empty() && deny.is_empty() {
            return Err("no tag listed".into());
        }
        Ok(TagFilter { allow, deny })
    }

    pub fn passes(&self, tag: u64) -> bool {
        self.allow.iter().any(|&(a, b)| (a..=b).contains(&tag))
            || self.deny.iter().any(|&(a, b)| !(a..=b).contains(&tag))
    }
}

/// `pre_tag_label_filter`: labels, `null` for no label, `-` to negate; ORed as the tag
/// filters' items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelFilter {
    allow: Vec<String>,
    deny: Vec<String>,
}

impl LabelFilter {
    pub fn parse(value: &str) -> Result<LabelFilter, String> {
        let (mut allow, mut deny) = (Vec::new(), Vec::new());
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (list, body) = match item.strip_prefix('-') {
                Some(rest) => (&mut deny, rest),
                None => (&mut allow, item),
            };
            list.push(if body == "null" {
                String::new()
            } else {
                body.to_string()
            });
        }
        if allow.is_empty() && deny.is_empty() {
            return Err("no label listed".into());
        }
        Ok(LabelFilter { allow, deny })
    }

    pub fn passes(&self, label: LabelId) -> bool {
        let text = labels::text(label);
        // A chain's label ("a,b") passes on any of its parts.
        let parts: Vec<&str> = if text.is_empty() {
            vec![""]
        } else {
            text.split(',').collect()
        };
        let within = |x: &String| parts.iter().any(|p| p == x);
        self.allow.iter().any(within) || self.deny.iter().any(|x| !within(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> PreTagMap {
        PreTagMap::parse("t.map", text).unwrap()
    }

    fn ctx(ifname: &str, direction: Option<Direction>) -> PacketContext<'_> {
        PacketContext {
            ifname,
            direction,
            in_iface: 200,
            out_iface: 0,
            flow: None,
        }
    }

    fn flow_facts() -> FlowFacts {
        FlowFacts {
            exporter: "192.168.100.1".parse().expect("addr"),
            engine_type: 1,
            engine_id: 256,
            nexthop: Some("10.0.0.1".parse().expect("addr")),
            bgp_nexthop: None,
            src_addr: Some("10.1.2.3".parse().expect("addr")),
            dst_addr: Some("2001:db8::1".parse().expect("addr")),
            src_as: 65000,
            dst_as: 0,
            src_mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
            dst_mac: [1, 0, 0x5e, 0, 0, 1],
            vlan: 10,
            nat_event: 0,
            fwd_status: 64,
            direction: Some(1),
        }
    }

    #[test]
    fn flow_keys_match_the_record_and_never_a_packet() {
        let m = map(
            "set_tag=1 ip=192.168.100.0/24 engine_id=256 src_as=65000 direction=1\n\
                     set_tag=2 ip=-192.168.100.1 vlan=10\n\
                     set_tag=3 src_net=10.1.0.0/16 dst_net=2001:db8::/32 nexthop=10.0.0.1\n\
                     set_tag=4 bgp_nexthop=0.0.0.0\n\
                     set_tag=5 is_multicast=true src_mac=00-11-22-33-44-55 fwdstatus=64\n",
        );
        assert_eq!(m.first_flow_key(), Some((1, "ip")));
        let tag = |facts: &FlowFacts| {
            let mut c = ctx("", None);
            c.flow = Some(facts);
            m.evaluate(&c, |_| true).tag
        };
        let mut facts = flow_facts();
        assert_eq!(tag(&facts), 1);
        facts.direction = Some(0);
        // Rule 2's exporter is negated: the same exporter does not match it.
        assert_eq!(tag(&facts), 3);
        facts.nexthop = None;
        // No bgp_nexthop in the record: it is 0.0.0.0, as pmacct compares it.
        assert_eq!(tag(&facts), 4);
        facts.bgp_nexthop = Some("2001:db8::2".parse().expect("addr"));
        assert_eq!(tag(&facts), 5);
        facts.dst_mac[0] = 0;
        assert_eq!(tag(&facts), 0);
        // A packet has no flow facts: flow keys never match it.
        assert_eq!(m.evaluate(&ctx("eth0", None), |_| true).tag, 0);
    }

    #[test]
    fn bad_flow_values_name_the_key() {
        for (line, want) in [
            ("set_tag=1 ip=300.1.1.1", "ip: '300.1.1.1' is not a network"),
            (
                "set_tag=1 engine_type=256",
                "engine_type: invalid number '256'",
            ),
            (
                "set_tag=1 src_mac=00:11",
                "src_mac: invalid MAC address '00:11'",
            ),
            (
                "set_tag=1 is_multicast=yes",
                "is_multicast: 'yes' is not true or false",
            ),
            ("set_tag=1 direction=2", "direction: '2' is not in or out"),
            ("set_tos=4 ip=10.0.0.1", "set_tos is not supported"),
        ] {
            let err = PreTagMap::parse("f.map", line).expect_err(line);
            assert!(err.starts_with("f.map:1: ") && err.contains(want), "{err}");
        }
        assert_eq!(map("set_tag=1 direction=in").first_flow_key(), None);
    }

    #[test]
    fn first_match_wins_and_filters_are_asked() {
        let m = map("! comment\nset_tag=10 filter='tcp and port 80'\nset_tag=20 set_label=rest\n");
        assert_eq!(m.rules[0].filter.as_deref(), Some("tcp and port 80"));
        let c = ctx("red0", None);
        let t = m.evaluate(&c, |i| i == 0);
        assert_eq!((t.tag, t.tag2, t.label), (10, 0, LabelId(0)));
        let t = m.evaluate(&c, |_| false);
        assert_eq!((t.tag, &*labels::text(t.label)), (20, "rest"));
    }

    #[test]
    fn interface_direction_and_negation() {
        let m =
            map("set_tag=1 ifname=red0 direction=in\nset_tag=2 ifname=-green0 in=-5\nset_tag=3\n");
        let tag = |c: PacketContext| m.evaluate(&c, |_| true).tag;
        assert_eq!(tag(ctx("red0", Some(Direction::In))), 1);
        assert_eq!(tag(ctx("red0", Some(Direction::Out))), 2);
        assert_eq!(tag(ctx("green0", Some(Direction::In))), 3);
        let mut c = ctx("blue0", None);
        c.in_iface = 5;
        assert_eq!(tag(c), 3);
    }

    #[test]
    fn jeq_chains_stack_and_join_labels() {
        let m = map(
            "set_tag=1 set_label=a jeq=two\nset_tag=100\nset_tag=4 set_label=b label=two jeq=next stack=sum\nset_tag=8 filter='udp' stack=or\nset_tag=16 filter='udp'\n",
        );
        let t = m.evaluate(&ctx("x", None), |_| true);
        assert_eq!((t.tag, &*labels::text(t.label)), ((1 + 4) | 8, "a,b"));
        let t = m.evaluate(&ctx("x", None), |_| false);
        assert_eq!(t.tag, 5);
        // Without a stack, a later match replaces the tag.
        let m = map("set_tag=1 jeq=two\nset_tag=4 filter='x' label=two\nset_tag=9\n");
        assert_eq!(m.evaluate(&ctx("x", None), |_| false).tag, 9);
    }

    #[test]
    fn bad_lines_name_file_line_and_key() {
        let e = |t: &str| PreTagMap::parse("m", t).unwrap_err();
        assert_eq!(
            e("\nset_tag=1 colour=red\n"),
            format!("m:2: unknown key 'colour' ({KEYS})")
        );
        assert_eq!(e("set_tag=x"), "m:1: set_tag: invalid number 'x'");
        assert_eq!(
            e("set_tag=1 jeq=nowhere"),
            "m:1: jeq: no later rule has label=nowhere"
        );
        assert_eq!(e("set_tag=1 filter='tcp"), "m:1: a quote (') is not closed");
        assert_eq!(e("set_tag=1 set_tag=2"), "m:1: key 'set_tag' given twice");
        assert_eq!(
            e("direction=up"),
            "m:1: direction: 'up' is not in or out (pmacctd) or 0 or 1 (nfacctd)"
        );
        assert_eq!(
            e("set_tag=5++"),
            "m:1: set_tag: auto-increment (N++) is not supported"
        );
    }

    #[test]
    fn continued_lines() {
        let m = map("set_tag=7 \\\n  filter='ip'\nset_tag=8\n");
        assert_eq!(m.rules.len(), 2);
        assert_eq!((m.rules[0].line, m.rules[1].line), (1, 3));
        assert_eq!(m.rules[0].filter.as_deref(), Some("ip"));
    }

    #[test]
    fn tag_filters() {
        let f = TagFilter::parse("10,0,20-30").unwrap();
        let pass: Vec<u64> = (0..40).filter(|t| f.passes(*t)).collect();
        let mut want = vec![0, 10];
        want.extend(20..=30);
        assert_eq!(pass, want);
        let only_not = TagFilter::parse("-0").unwrap();
        assert!(!only_not.passes(0) && only_not.passes(3));
        let not_range = TagFilter::parse("-5-9").unwrap();
        assert!(not_range.passes(4) && !not_range.passes(7) && not_range.passes(10));
        // ORed, as pmacct: a negation passes what the other items do not name.
        assert!(TagFilter::parse("1-16,-4").unwrap().passes(4));
        assert!(TagFilter::parse("3-1").is_err());
        assert!(TagFilter::parse("x").is_err());
    }

    #[test]
    fn label_filters() {
        let f = LabelFilter::parse("web,null").unwrap();
        assert!(f.passes(LabelId(0)));
        assert!(f.passes(labels::intern("web")));
        assert!(f.passes(labels::intern("mail,web")));
        assert!(!f.passes(labels::intern("mail")));
        let not = LabelFilter::parse("-mail").unwrap();
        assert!(not.passes(labels::intern("web")) && !not.passes(labels::intern("mail")));
    }
}
