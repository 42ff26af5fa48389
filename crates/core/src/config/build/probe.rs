//! The nfprobe plugin's options (docs/nfprobe.md).

use std::net::IpAddr;
use std::path::PathBuf;

use pmacct_flow::export::{ExportVersion, Timeouts};

use super::{parse_uint, Reader};
use crate::primitive::{Aggregate, Primitive};

/// nfprobe's flow key when `aggregate` is not set: pmacct's (src_host, dst_host, src_port,
/// dst_port, proto, tos) plus the interfaces, so that exported flows carry the ifIndex the
/// interfaces map gives (pmacct exports 0 unless they are aggregated).
pub const NFPROBE_DEFAULT_AGGREGATE: &str =
    "src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface";

/// Primitives nfprobe can put in a flow record (tag and tag2 only say direction and ifIndex).
pub const NFPROBE_PRIMITIVES: [Primitive; 19] = [
    Primitive::SrcHost,
    Primitive::DstHost,
    Primitive::SrcPort,
    Primitive::DstPort,
    Primitive::Proto,
    Primitive::Tos,
    Primitive::InIface,
    Primitive::OutIface,
    Primitive::SrcMac,
    Primitive::DstMac,
    Primitive::Vlan,
    Primitive::SrcAs,
    Primitive::DstAs,
    Primitive::SrcMask,
    Primitive::DstMask,
    Primitive::MplsLabelTop,
    Primitive::SamplingRate,
    Primitive::Tag,
    Primitive::Tag2,
];

/// An `sfprobe` plugin: the captured packets sampled (`sampling_rate`) and exported as sFlow
/// v5 flow samples, with counter samples of what it saw (docs/nfprobe.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SfprobeConfig {
    pub receivers: Vec<String>,
    pub agent_ip: Option<IpAddr>,
    pub sub_agent: u32,
    pub if_speed: u64,
    pub source_ip: Option<IpAddr>,
    pub ipprec: u8,
    pub direction: Option<ProbeSource>,
    pub ifindex: Option<ProbeSource>,
    pub ifindex_override: bool,
}

pub(super) fn build_sfprobe(r: &mut Reader, aggregate: &mut Aggregate) -> SfprobeConfig {
    let address = |key: &str, r: &mut Reader| {
        r.typed(key, |v| {
            v.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("'{v}' is not an IPv4 or IPv6 address"))
        })
    };
    let (direction, ifindex) = direction_and_ifindex(r, aggregate, "sfprobe");
    SfprobeConfig {
        receivers: r
            .typed("sfprobe_receiver", parse_receivers)
            .unwrap_or_else(|| vec!["127.0.0.1:6343".into()]),
        agent_ip: address("sfprobe_agentip", r),
        sub_agent: r.uint("sfprobe_agentsubid", 1402).min(u64::from(u32::MAX)) as u32,
        if_speed: r.uint("sfprobe_ifspeed", 100_000_000),
        source_ip: address("sfprobe_source_ip", r),
        ipprec: r.uint("nfprobe_ipprec", 0).min(7) as u8,
        direction,
        ifindex,
        ifindex_override: r.bool("nfprobe_ifindex_override", false),
    }
}

/// `*_direction` and `*_ifindex` (read under nfprobe's names, which sfprobe's alias); the tags
/// they read join the aggregate.
fn direction_and_ifindex(
    r: &mut Reader,
    aggregate: &mut Aggregate,
    _probe: &str,
) -> (Option<ProbeSource>, Option<ProbeSource>) {
    let direction = r.typed("nfprobe_direction", |v| {
        Ok(match v.trim().to_ascii_lowercase().as_str() {
            "in" => ProbeSource::Fixed(0),
            "out" => ProbeSource::Out,
            "tag" => ProbeSource::Tag,
            _ => ProbeSource::Tag2,
        })
    });
    let ifindex = r.typed("nfprobe_ifindex", |v| match v.trim() {
        "tag" => Ok(ProbeSource::Tag),
        "tag2" => Ok(ProbeSource::Tag2),
        n => parse_uint(n, 1, u64::from(u32::MAX))
            .map(|n| ProbeSource::Fixed(n as u32))
            .map_err(|e| format!("{e} (or tag, tag2)")),
    });
    for source in [direction, ifindex].into_iter().flatten() {
        match source {
            ProbeSource::Tag => aggregate.columns.insert(Primitive::Tag),
            ProbeSource::Tag2 => aggregate.columns.insert(Primitive::Tag2),
            _ => false,
        };
    }
    (direction, ifindex)
}

/// A `tee` plugin: received datagrams replicated to receiver pools (docs/tee.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeConfig {
    pub receivers: PathBuf,
    pub transparent: bool,
    pub source_ip: Option<IpAddr>,
    pub max_receivers: usize,
    pub max_pools: usize,
    /// SO_SNDBUF, bytes.
    pub send_buffer: Option<u64>,
    pub ipprec: u8,
}

pub(super) fn build_tee(r: &mut Reader) -> Option<TeeConfig> {
    let Some(receivers) = r.path("tee_receivers") else {
        r.error(
            "plugins",
            "a tee plugin needs tee_receivers (its receivers map)".into(),
        );
        return None;
    };
    Some(TeeConfig {
        receivers,
        transparent: r.bool("tee_transparent", false),
        source_ip: r.typed("tee_source_ip", |v| {
            v.trim()
                .parse()
                .map_err(|_| format!("'{v}' is not an IPv4 or IPv6 address"))
        }),
        max_receivers: r.uint("tee_max_receivers", 32) as usize,
        max_pools: r.uint("tee_max_receiver_pools", 128) as usize,
        send_buffer: r
            .typed("tee_pipe_size", |v| parse_uint(v, 0, u64::MAX))
            .filter(|b| *b > 0),
        ipprec: r.uint("nfprobe_ipprec", 0).min(7) as u8,
    })
}

/// Where a flow's direction or ifIndex comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeSource {
    /// In (direction), or this ifIndex.
    Fixed(u32),
    /// Out (direction only).
    Out,
    Tag,
    Tag2,
}

/// An `nfprobe` plugin: flows metered from the captured packets, exported as NetFlow/IPFIX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfprobeConfig {
    /// `host:port` as written (resolved when the plugin starts).
    pub receivers: Vec<String>,
    pub version: ExportVersion,
    pub timeouts: Timeouts,
    pub max_flows: usize,
    /// v5 engine type and id.
    pub engine: (u8, u8),
    /// v9 source id, IPFIX observation domain.
    pub domain_id: u32,
    pub source_ip: Option<IpAddr>,
    pub hoplimit: Option<u8>,
    pub ipprec: u8,
    /// `nfprobe_direction`: `Fixed(0)` in, `Out`, or from a tag.
    pub direction: Option<ProbeSource>,
    pub ifindex: Option<ProbeSource>,
    pub ifindex_override: bool,
    pub dont_cache: bool,
    /// `nfprobe_tstamp_usec`: flow times to the microsecond (IEs 154/155).
    pub tstamp_usec: bool,
}

impl NfprobeConfig {
    /// Whether flows go out as egress (nfprobe_ifindex then sets the output interface).
    pub fn egress(&self) -> bool {
        self.direction == Some(ProbeSource::Out)
    }
}

/// Reads the nfprobe keys; `aggregate` gets nfprobe's default when unset, and the tags that
/// direction and ifIndex are read from.
pub(super) fn build_nfprobe(r: &mut Reader, aggregate: &mut Aggregate) -> NfprobeConfig {
    if r.settings.get("aggregate").is_none() {
        if let Ok(default) = Aggregate::parse(NFPROBE_DEFAULT_AGGREGATE) {
            *aggregate = default;
        }
    }
    check_aggregate(r, aggregate);
    let version = match r.text("nfprobe_version").as_deref().map(str::trim) {
        Some("5") => ExportVersion::V5,
        Some("9") => ExportVersion::V9,
        _ => ExportVersion::Ipfix,
    };
    let engine_text = r.text("nfprobe_engine");
    let (engine, domain_id) = match engine_text.as_deref() {
        None => ((0, 0), 0),
        Some(text) => r
            .typed("nfprobe_engine", |_| parse_engine(text, version))
            .unwrap_or(((0, 0), 0)),
    };
    let (direction, ifindex) = direction_and_ifindex(r, aggregate, "nfprobe");
    NfprobeConfig {
        receivers: r
            .typed("nfprobe_receiver", parse_receivers)
            .unwrap_or_else(|| vec!["127.0.0.1:2100".into()]),
        version,
        timeouts: r
            .typed("nfprobe_timeouts", parse_timeouts)
            .unwrap_or_default(),
        max_flows: r.uint("nfprobe_maxflows", 8192) as usize,
        engine,
        domain_id,
        source_ip: r.typed("nfprobe_source_ip", |v| {
            v.trim()
                .parse()
                .map_err(|_| format!("'{v}' is not an IPv4 or IPv6 address"))
        }),
        hoplimit: r
            .typed("nfprobe_hoplimit", |v| parse_uint(v, 1, 255))
            .map(|v| v as u8),
        ipprec: r.uint("nfprobe_ipprec", 0).min(7) as u8,
        direction,
        ifindex,
        ifindex_override: r.bool("nfprobe_ifindex_override", false),
        dont_cache: r.bool("nfprobe_dont_cache", false),
        tstamp_usec: r.bool("nfprobe_tstamp_usec", false),
    }
}

fn check_aggregate(r: &mut Reader, aggregate: &Aggregate) {
    let refused: Vec<&str> = aggregate
        .columns
        .iter()
        .filter(|p| !NFPROBE_PRIMITIVES.contains(p))
        .map(|p| p.name())
        .collect();
    if !refused.is_empty() || aggregate.sum.is_some() {
        let what = if refused.is_empty() {
            "sum_* aggregates".to_string()
        } else {
            refused.join(", ")
        };
        let can: Vec<&str> = NFPROBE_PRIMITIVES.iter().map(|p| p.name()).collect();
        r.error(
            "aggregate",
            format!(
                "nfprobe cannot export {what} (it exports {})",
                can.join(", ")
            ),
        );
    }
}

/// `host:port[,host:port...]`; IPv6 as `[addr]:port`.
fn parse_receivers(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let port = item
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()))
            .filter(|(host, port)| !host.is_empty() && port.as_ref().is_ok_and(|p| *p > 0));
        if port.is_none() || (item.matches(':').count() > 1 && !item.starts_with('[')) {
            return Err(format!(
                "'{item}' is not address:port (IPv6 as [address]:port)"
            ));
        }
        out.push(item.to_string());
    }
    if out.is_empty() {
        return Err("no receiver".into());
    }
    Ok(out)
}

/// `name=seconds:name=seconds...`, unnamed timeouts at their defaults.
pub fn parse_timeouts(v: &str) -> Result<Timeouts, String> {
    let mut t = Timeouts::default();
    for pair in v.split(':').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("'{pair}' is not name=seconds"));
        };
        let secs = parse_uint(value.trim(), 1, u64::from(u32::MAX))? as u32;
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "tcp" => &mut t.tcp,
            "tcp.rst" => &mut t.tcp_rst,
            "tcp.fin" => &mut t.tcp_fin,
            "udp" => &mut t.udp,
            "icmp" => &mut t.icmp,
            "general" => &mut t.general,
            "maxlife" => &mut t.maxlife,
            "expint" => &mut t.expint,
            other => {
                return Err(format!(
                    "unknown timeout '{other}' (tcp, tcp.rst, tcp.fin, udp, icmp, general, maxlife, expint)"
                ))
            }
        };
        *slot = secs;
    }
    Ok(t)
}

/// v5 `type:id` (each 0-255); v9/IPFIX one 32-bit number (a v5-style pair is read as
/// `type << 8 | id`, so one configuration works for every version).
fn parse_engine(v: &str, version: ExportVersion) -> Result<((u8, u8), u32), String> {
    let v = v.trim();
    match v.split_once(':') {
        Some((ty, id)) => {
            let ty = parse_uint(ty.trim(), 0, 255)? as u8;
            let id = parse_uint(id.trim(), 0, 255)? as u8;
            Ok(((ty, id), u32::from(ty) << 8 | u32::from(id)))
        }
        None if version == ExportVersion::V5 => Err(format!(
            "'{v}': NetFlow v5 takes engine_type:engine_id (each 0-255)"
        )),
        None => Ok(((0, 0), parse_uint(v, 0, u64::from(u32::MAX))? as u32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, load_as, PluginOptions, Program};

    fn errors_as(program: Program, text: &str) -> Vec<String> {
        let mut w = Vec::new();
        match load_as(program, "b.conf", text, Vec::new(), &mut w) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn the_default_flow_key_has_the_interfaces_and_tags_join_it_when_asked() {
        let mut w = Vec::new();
        let c = load("b.conf", "plugins: nfprobe[n]\n", Vec::new(), &mut w).expect("loads");
        let p = &c.plugins[0];
        assert_eq!(
            p.aggregate,
            Aggregate::parse(NFPROBE_DEFAULT_AGGREGATE).unwrap()
        );
        let PluginOptions::Nfprobe(n) = &p.options else {
            panic!("{:?}", p.options)
        };
        assert_eq!(n.receivers, ["127.0.0.1:2100"]);
        assert_eq!((n.version, n.max_flows), (ExportVersion::Ipfix, 8192));
        assert_eq!(n.timeouts, Timeouts::default());
        let text = "plugins: nfprobe[n]\naggregate[n]: src_host\nnfprobe_direction[n]: tag2\n\
                    nfprobe_ifindex[n]: 7\nnfprobe_version[n]: 5\nnfprobe_engine[n]: 3:4\n";
        let c = load("b.conf", text, Vec::new(), &mut w).expect("loads");
        let p = &c.plugins[0];
        assert_eq!(p.aggregate, Aggregate::parse("src_host, tag2").unwrap());
        let PluginOptions::Nfprobe(n) = &p.options else {
            panic!("{:?}", p.options)
        };
        assert_eq!(n.direction, Some(ProbeSource::Tag2));
        assert_eq!(n.ifindex, Some(ProbeSource::Fixed(7)));
        assert_eq!((n.engine, n.domain_id), ((3, 4), 0x304));
    }

    #[test]
    fn a_tee_needs_a_collector_and_its_map() {
        let pmacctd = errors_as(
            Program::Pmacctd,
            "plugins: tee[t]\ntee_receivers[t]: /x.lst\n",
        );
        assert_eq!(pmacctd.len(), 1, "{pmacctd:?}");
        assert!(
            pmacctd[0].contains("tee replicates the datagrams a collector receives"),
            "{pmacctd:?}"
        );
        let no_map = errors_as(Program::Nfacctd, "plugins: tee[t]\n");
        assert_eq!(no_map.len(), 1, "{no_map:?}");
        assert!(
            no_map[0].ends_with("a tee plugin needs tee_receivers (its receivers map)"),
            "{no_map:?}"
        );
        let mut w = Vec::new();
        let c = load_as(
            Program::Sfacctd,
            "b.conf",
            "plugins: tee[t]\ntee_receivers[t]: /x.lst\ntee_transparent[t]: true\ntee_ipprec[t]: 5\n",
            Vec::new(),
            &mut w,
        )
        .expect("loads");
        let PluginOptions::Tee(t) = &c.plugins[0].options else {
            panic!("{:?}", c.plugins[0].options)
        };
        assert_eq!(
            (t.transparent, t.ipprec, t.max_receivers, t.max_pools),
            (true, 5, 32, 128)
        );
    }

    #[test]
    fn what_nfprobe_cannot_do_is_an_error_naming_the_key() {
        let errors = errors_as(
            Program::Pmacctd,
            "plugins: nfprobe[n]\naggregate[n]: src_host, peer_src_ip, label\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("b.conf:2: key 'aggregate' of plugin 'n': nfprobe cannot export label, peer_src_ip (it exports src_host, dst_host,")
                || errors[0].starts_with("b.conf:2: key 'aggregate' of plugin 'n': nfprobe cannot export peer_src_ip, label (it exports src_host, dst_host,"),
            "{errors:?}"
        );
        assert_eq!(
            errors_as(Program::Pmacctd, "plugins: nfprobe[n]\nnfprobe_timeouts[n]: udp=5:idle=3\n"),
            ["b.conf:2: key 'nfprobe_timeouts' of plugin 'n': invalid value: unknown timeout 'idle' (tcp, tcp.rst, tcp.fin, udp, icmp, general, maxlife, expint)"]
        );
        assert_eq!(
            errors_as(Program::Pmacctd, "plugins: nfprobe[n]\nnfprobe_version[n]: 5\nnfprobe_engine[n]: 9\n"),
            ["b.conf:3: key 'nfprobe_engine' of plugin 'n': invalid value: '9': NetFlow v5 takes engine_type:engine_id (each 0-255)"]
        );
        let nfacctd = errors_as(Program::Nfacctd, "plugins: nfprobe[n]\n");
        assert_eq!(nfacctd.len(), 1, "{nfacctd:?}");
        assert!(
            nfacctd[0].contains("nfprobe exports flows metered from captured packets (pmacctd)"),
            "{nfacctd:?}"
        );
    }

    #[test]
    fn timeouts_keep_the_defaults_they_do_not_name() {
        let t = parse_timeouts("tcp=120:udp=5:expint=1").expect("parses");
        assert_eq!(
            (t.tcp, t.udp, t.expint, t.icmp, t.maxlife),
            (120, 5, 1, 300, 604_800)
        );
        assert_eq!(
            parse_timeouts("tcp=1:bogus=2").unwrap_err(),
            "unknown timeout 'bogus' (tcp, tcp.rst, tcp.fin, udp, icmp, general, maxlife, expint)"
        );
        assert!(parse_timeouts("tcp").is_err());
    }

    #[test]
    fn receivers_and_engines() {
        assert_eq!(
            parse_receivers("127.0.0.1:2100, [::1]:9995,collector:2055").unwrap(),
            ["127.0.0.1:2100", "[::1]:9995", "collector:2055"]
        );
        assert!(parse_receivers("127.0.0.1").is_err());
        assert!(parse_receivers("::1:2100").is_err());
        assert_eq!(parse_engine("1:2", ExportVersion::V5), Ok(((1, 2), 258)));
        assert_eq!(
            parse_engine("70000", ExportVersion::Ipfix),
            Ok(((0, 0), 70000))
        );
        assert!(parse_engine("7", ExportVersion::V5).is_err());
    }
}
