//! pmacctd: libpcap capture feeding pmacct-rs plugins.
//!
//! [`run`] builds everything from a [`DaemonConfig`] and runs until the inputs end (files) or a
//! stop is requested (signals, or the caller's flag in tests). Data flows one way:
//! input thread ([`input`]) → [`pipeline::Dispatcher`] (decode, filter, fragments, keys,
//! batches) → bounded queue → plugin thread ([`plugins`]).

pub mod bpf;
pub mod collector;
pub mod daemonize;
pub mod frames;
pub mod fuzzing;
pub mod hosts;
pub mod http;
pub mod input;
pub mod interfaces;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod plugins;
pub mod process;
mod running;
pub mod stats;
pub mod synth;
pub mod tagging;
#[cfg(feature = "web")]
pub mod web;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use pmacct_core::config::{CoreConfig, DaemonConfig, IfindexMode, PluginConfig};
use pmacct_core::key::KeyExtractor;
use pmacct_core::networks::{Networks, PortSet};

use crate::input::{CaptureFile, LiveCapture, LiveSpec, PacketSource, PcapFile};
use crate::pipeline::{Batcher, Lane};
use crate::stats::CoreStats;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Map(String),
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error("plugin {plugin}: invalid aggregate_filter '{filter}': {reason}")]
    Filter {
        plugin: String,
        filter: String,
        reason: String,
    },
    #[error("{0}")]
    Plugin(String),
    #[error("{0}")]
    Interfaces(String),
    #[error("cannot drop privileges: {0}")]
    Privileges(String),
    #[error("stopped during the final flush; not written: {0}")]
    Interrupted(String),
}

/// Flags the outside world uses to steer a running daemon.
#[derive(Clone, Default)]
pub struct Control {
    /// Stop: flush every plugin and return.
    pub stop: Arc<AtomicBool>,
    /// SIGINT/SIGTERM received so far: the second one during the final flush exits at once.
    pub stop_signals: Arc<AtomicUsize>,
    /// Log the stats line.
    pub dump_stats: Arc<AtomicBool>,
    /// Reload the maps (SIGUSR2, with `maps_refresh`).
    pub reload_maps: Arc<AtomicBool>,
    /// Reopen the log file (SIGHUP, after logrotate).
    pub reopen_log: Arc<AtomicBool>,
    /// A daemonized process tells its waiting parent once its inputs are open.
    pub readiness: Option<Arc<daemonize::Readiness>>,
}

/// One input to open: where, and which interface ids its packets carry.
pub enum InputPlan {
    File {
        path: std::path::PathBuf,
        filter: Option<String>,
        replay: u64,
        delay: Duration,
    },
    Live {
        spec: LiveSpec,
        in_iface: u32,
        out_iface: u32,
        /// The pcap_interfaces_map line it comes from (`file:line`).
        origin: Option<String>,
    },
    Memory(Box<input::MemorySource>),
    /// nfacctd: export datagrams.
    Flows(FlowPlan),
}

/// Where nfacctd's export datagrams come from.
pub enum FlowPlan {
    Socket {
        ip: Option<std::net::IpAddr>,
        port: u16,
        pipe_size: Option<u64>,
    },
    File {
        path: std::path::PathBuf,
        /// Only datagrams to this port (`nfacctd_port` given).
        port: Option<u16>,
        /// `pcap_savefile_replay`, `pcap_savefile_delay`.
        replay: u64,
        delay: Duration,
    },
}

/// An input opened: its packets, and what its packets are matched and keyed on.
struct Opened {
    source: Box<dyn PacketSource>,
    in_iface: u32,
    out_iface: u32,
    ifname: String,
    direction: Option<pmacct_core::pretag::Direction>,
}

fn direction_of(spec: &LiveSpec) -> Option<pmacct_core::pretag::Direction> {
    use pmacct_core::pretag::Direction;
    match spec.direction {
        Some(pcap::Direction::In) => Some(Direction::In),
        Some(pcap::Direction::Out) => Some(Direction::Out),
        _ => None,
    }
}

/// The shared pre_tag_map, when one is configured.
fn load_pre_tag_map(
    core: &pmacct_core::config::CoreConfig,
) -> Result<Option<Arc<tagging::MapStore>>, DaemonError> {
    match &core.pre_tag_map {
        Some(path) => Ok(Some(Arc::new(tagging::MapStore::load(path, core.program)?))),
        None => Ok(None),
    }
}

/// Per-plugin maps and extractor, built once.
struct PluginPlan {
    extractor: KeyExtractor,
    filter: Option<String>,
    tags: Option<pmacct_core::config::TagFilters>,
    sampling_rate: Option<u32>,
    /// Renormalization's factor (1 without).
    scale: u32,
}

/// nfacctd_net / nfacctd_as name a source the plugin must have.
fn read_map(path: &Path, what: &str) -> Result<String, DaemonError> {
    std::fs::read_to_string(path)
        .map_err(|e| DaemonError::Map(format!("cannot read {what} '{}': {e}", path.display())))
}

fn plan_plugin(p: &PluginConfig, core: &CoreConfig) -> Result<PluginPlan, DaemonError> {
    let layout = Arc::new(p.key_layout());
    let networks = match &p.networks_file {
        Some(path) => Some(Arc::new(
            Networks::parse(
                &path.display().to_string(),
                &read_map(path, "networks_file")?,
            )
            .map_err(|e| DaemonError::Map(e.to_string()))?,
        )),
        None => None,
    };
    let ports = match &p.ports_file {
        Some(path) => Some(Arc::new(
            PortSet::parse(&path.display().to_string(), &read_map(path, "ports_file")?)
                .map_err(|e| DaemonError::Map(e.to_string()))?,
        )),
        None => None,
    };
    // The rate the traffic stands for: this plugin's sampling on top of any before capture
    // (a collector's records carry their own rate: ext_sampling_rate replaces it there).
    let before_capture = match core.program.is_collector() {
        true => 1,
        false => core.ext_sampling_rate.unwrap_or(1),
    };
    let rate = p.sampling_rate.unwrap_or(1).saturating_mul(before_capture);
    let (reported, scale) = match p.renormalize {
        true => (1, rate),
        false => (rate, 1),
    };
    Ok(PluginPlan {
        extractor: KeyExtractor::new(
            &p.aggregate,
            layout,
            networks,
            p.networks_mask,
            p.networks_file_filter,
            ports,
        )
        .with_post_tags(p.post_tag, p.post_tag2)
        .with_sampling_rate(reported)
        .with_flow_routes(
            core.program
                .is_collector()
                .then_some((core.collector.net, core.collector.asn)),
        ),
        filter: p.aggregate_filter.clone(),
        tags: (!p.tag_filters.is_empty()).then(|| p.tag_filters.clone()),
        sampling_rate: p.sampling_rate.filter(|r| *r > 1),
        scale,
    })
}

/// The inputs a configuration asks for.
pub fn plan_inputs(config: &DaemonConfig) -> Result<Vec<InputPlan>, DaemonError> {
    let core = &config.core;
    if core.program.is_collector() {
        let c = &core.collector;
        return Ok(vec![InputPlan::Flows(match &core.savefile {
            Some(path) => FlowPlan::File {
                path: path.clone(),
                port: c.port_set.then_some(c.port),
                replay: core.savefile_replay,
                delay: Duration::from_secs(core.savefile_delay),
            },
            None => FlowPlan::Socket {
                ip: c.ip,
                port: c.port,
                pipe_size: c.pipe_size,
            },
        })]);
    }
    if let Some(path) = &core.savefile {
        return Ok(vec![InputPlan::File {
            path: path.clone(),
            filter: core.pcap_filter.clone(),
            replay: core.savefile_replay,
            delay: Duration::from_secs(core.savefile_delay),
        }]);
    }
    let base = |device: String, direction: Option<&str>| LiveSpec {
        device,
        promisc: core.promisc,
        snaplen: core.snaplen,
        filter: core.pcap_filter.clone(),
        direction: match direction {
            Some("in") => Some(pcap::Direction::In),
            Some("out") => Some(pcap::Direction::Out),
            _ => None,
        },
        wait_for_interface: core.interface_wait,
    };
    let ids = |name: &str, map_id: Option<u32>, direction: Option<&str>| -> (u32, u32) {
        let id = match core.ifindex {
            IfindexMode::None => 0,
            IfindexMode::Sys => interfaces::system_ifindex(name),
            IfindexMode::Hash => interfaces::hash_ifindex(name),
            IfindexMode::Map => map_id.unwrap_or(0),
        };
        match direction {
            Some("in") => (id, 0),
            Some("out") => (0, id),
            _ => (0, 0),
        }
    };
    if let Some(map) = &core.interfaces_map {
        let text = read_map(map, "pcap_interfaces_map")?;
        let entries = interfaces::parse_map(&map.display().to_string(), &text)
            .map_err(DaemonError::Interfaces)?;
        return Ok(entries
            .into_iter()
            .map(|e| {
                if e.direction.is_none() {
                    tracing::info!(
                        "( {}/core ): {}:{}: '{}' has no direction: both are captured and in_iface/out_iface stay 0 (list it twice, direction=in and direction=out, to tell them apart)",
                        core.proc_name,
                        map.display(),
                        e.line,
                        e.ifname
                    );
                }
                let (in_iface, out_iface) = ids(&e.ifname, Some(e.ifindex), e.direction.as_deref());
                InputPlan::Live {
                    spec: base(e.ifname.clone(), e.direction.as_deref()),
                    in_iface,
                    out_iface,
                    origin: Some(format!("{}:{}", map.display(), e.line)),
                }
            })
            .collect());
    }
    let device = match &core.interface {
        Some(d) => d.clone(),
        None => pcap::Device::lookup()
            .ok()
            .flatten()
            .map(|d| d.name)
            .ok_or_else(|| {
                DaemonError::Interfaces(
                    "no pcap_interface given and no default capture device found".into(),
                )
            })?,
    };
    let (in_iface, out_iface) = ids(&device, None, core.direction.as_deref());
    Ok(vec![InputPlan::Live {
        spec: base(device, core.direction.as_deref()),
        in_iface,
        out_iface,
        origin: None,
    }])
}

fn open(plan: InputPlan, stop: &AtomicBool) -> Result<Opened, DaemonError> {
    let unnamed = |source| Opened {
        source,
        in_iface: 0,
        out_iface: 0,
        ifname: String::new(),
        direction: None,
    };
    Ok(match plan {
        InputPlan::File {
            path,
            filter,
            replay,
            delay,
        } => {
            // Regular files are mapped and decoded in place; pipes and devices go through
            // libpcap.
            let regular = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
            let source: Box<dyn PacketSource> = if regular {
                Box::new(CaptureFile::open(&path, filter.as_deref(), replay, delay)?)
            } else {
                Box::new(PcapFile::open(&path, filter.as_deref(), replay, delay)?)
            };
            unnamed(source)
        }
        InputPlan::Live {
            spec,
            in_iface,
            out_iface,
            origin,
        } => {
            let source = LiveCapture::open(&spec, stop).map_err(|e| match origin {
                Some(at) => DaemonError::Interfaces(format!("{at}: {e}")),
                None => DaemonError::from(e),
            })?;
            Opened {
                source: Box::new(source),
                in_iface,
                out_iface,
                direction: direction_of(&spec),
                ifname: spec.device,
            }
        }
        InputPlan::Memory(m) => unnamed(m),
        InputPlan::Flows(_) => {
            return Err(DaemonError::Plugin(
                "internal: flow inputs are opened by open_flows".into(),
            ))
        }
    })
}

/// Opens nfacctd's datagram source: its socket bound, or its capture file open.
fn open_flows(plan: FlowPlan) -> Result<Box<dyn collector::DatagramSource>, DaemonError> {
    Ok(match plan {
        FlowPlan::Socket {
            ip,
            port,
            pipe_size,
        } => Box::new(collector::UdpSource::bind(ip, port, pipe_size)?),
        FlowPlan::File {
            path,
            port,
            replay,
            delay,
        } => {
            let packets = CaptureFile::open(&path, None, replay, delay)?;
            Box::new(collector::DatagramFile::new(Box::new(packets), port))
        }
    })
}

fn compile_filter(
    link: pmacct_wire::LinkType,
    netmask: Option<u32>,
    plugin: &str,
    expr: &str,
) -> Result<input::LinkFilter, DaemonError> {
    input::LinkFilter::with_netmask(expr, link, netmask).map_err(|reason| DaemonError::Filter {
        plugin: plugin.to_string(),
        filter: expr.to_string(),
        reason,
    })
}

/// What an input thread needs to build its end of one plugin.
#[derive(Clone)]
struct LaneTemplate {
    label: String,
    name: String,
    filter: Option<String>,
    tags: Option<pmacct_core::config::TagFilters>,
    sampling_rate: Option<u32>,
    scale: u32,
    extractor: KeyExtractor,
    tx: crossbeam_channel::Sender<plugins::PluginMsg>,
    recycled: crossbeam_channel::Receiver<pmacct_core::key::RecordBatch>,
    policy: pmacct_core::config::QueuePolicy,
    stats: Arc<stats::PluginStats>,
    batch_records: usize,
    renormalize: bool,
    /// The plugin takes sampled frames, not records (sfprobe).
    frames: bool,
}

/// One lane per plugin, with each plugin's filter compiled for the input's link type and its
/// interface's netmask (`ifname` empty for a file).
fn lanes_for(
    templates: &[LaneTemplate],
    link: pmacct_wire::LinkType,
    ifname: &str,
) -> Result<Vec<Lane>, DaemonError> {
    let netmask = (!ifname.is_empty())
        .then(|| bpf::netmask_of(ifname))
        .flatten();
    templates
        .iter()
        .map(|t| {
            Ok(Lane {
                filter: match &t.filter {
                    Some(f) => Some(compile_filter(link, netmask, &t.name, f)?),
                    None => None,
                },
                tags: t.tags.clone(),
                sampler: t
                    .sampling_rate
                    .map(|rate| pipeline::Sampler::new(rate, sampler_seed())),
                extractor: t.extractor.clone(),
                renormalize: t.renormalize,
                frames: t.frames.then(frames::FrameSink::default),
                out: Batcher {
                    label: t.label.clone(),
                    batch: pmacct_core::key::RecordBatch::with_capacity(
                        t.extractor.layout().words(),
                        t.batch_records + 1,
                    ),
                    batch_records: t.batch_records,
                    tx: t.tx.clone(),
                    recycled: t.recycled.clone(),
                    policy: t.policy,
                    stats: t.stats.clone(),
                    scale: t.scale,
                },
            })
        })
        .collect()
}

/// The capture a plan opens, if it is live.
fn live_spec(plan: &InputPlan) -> Option<LiveSpec> {
    match plan {
        InputPlan::Live { spec, .. } => Some(spec.clone()),
        _ => None,
    }
}

/// An input's tagger, when there is a pre_tag_map.
fn tagger_for(
    store: &Option<Arc<tagging::MapStore>>,
    link: pmacct_wire::LinkType,
    ifname: &str,
    direction: Option<pmacct_core::pretag::Direction>,
) -> Result<Option<tagging::Tagger>, DaemonError> {
    match store {
        Some(s) => Ok(Some(tagging::Tagger::new(
            s.clone(),
            link,
            ifname,
            direction,
        )?)),
        None => Ok(None),
    }
}

/// A random seed for a lane's sampling.
fn sampler_seed() -> u64 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Checks what `-T setup` checks: maps, inputs and filters open and compile.
pub fn check_setup(config: &DaemonConfig) -> Result<(), DaemonError> {
    let plans: Vec<PluginPlan> = config
        .plugins
        .iter()
        .map(|p| plan_plugin(p, &config.core))
        .collect::<Result<_, _>>()?;
    let store = load_pre_tag_map(&config.core)?;
    collector::FlowMaps::load(&config.core.collector)?;
    let stop = AtomicBool::new(true);
    for input in plan_inputs(config)? {
        let input = match input {
            InputPlan::Flows(f) => {
                // The socket binds (or the file opens), and is closed again.
                open_flows(f)?;
                continue;
            }
            other => other,
        };
        let Opened { source, ifname, .. } = open(input, &stop)?;
        if let Some(store) = &store {
            tagging::Tagger::new(store.clone(), source.link(), &ifname, None)?;
        }
        let netmask = (!ifname.is_empty())
            .then(|| bpf::netmask_of(&ifname))
            .flatten();
        for (p, plan) in config.plugins.iter().zip(&plans) {
            if let Some(f) = &plan.filter {
                compile_filter(source.link(), netmask, &p.name, f)?;
            }
        }
    }
    Ok(())
}

/// What a run counted.
pub struct RunSummary {
    pub stats: Arc<CoreStats>,
    pub plugin_stats: Vec<(String, Arc<stats::PluginStats>)>,
}

/// Runs the daemon until its inputs end or `control.stop` is set.
pub fn run(
    config: &DaemonConfig,
    inputs: Vec<InputPlan>,
    control: &Control,
) -> Result<RunSummary, DaemonError> {
    if config.plugins.len() > 64 {
        return Err(DaemonError::Plugin(
            "at most 64 plugins are supported".into(),
        ));
    }
    let plans: Vec<PluginPlan> = config
        .plugins
        .iter()
        .map(|p| plan_plugin(p, &config.core))
        .collect::<Result<_, _>>()?;
    let store = load_pre_tag_map(&config.core)?;
    let flow_maps = match config.core.program {
        pmacct_core::config::Program::Nfacctd | pmacct_core::config::Program::Sfacctd => {
            collector::FlowMaps::load(&config.core.collector)?
        }
        pmacct_core::config::Program::Pmacctd => {
            let c = &config.core.collector;
            if c.allow_file.is_some() || c.sampling_map.is_some() {
                tracing::warn!(
                    "( {}/core ): nfacctd_allow_file and sampling_map apply to nfacctd's flows; pmacctd ignores them",
                    config.core.proc_name
                );
            }
            collector::FlowMaps::default()
        }
    };
    let live = inputs.iter().any(|i| {
        matches!(
            i,
            InputPlan::Live { .. } | InputPlan::Flows(FlowPlan::Socket { .. })
        )
    });
    let stats = Arc::new(CoreStats::default());

    // Open inputs that need no waiting before anything else, so a bad file fails fast. Of
    // several interfaces (a pcap_interfaces_map), one that does not open is logged and the
    // others capture; only when none opens is it an error.
    let several = inputs.len() > 1;
    let mut opened = Vec::new();
    let mut deferred = Vec::new();
    let mut flow_sources = Vec::new();
    let mut open_error = None;
    for plan in inputs {
        match plan {
            InputPlan::Flows(f) => {
                flow_sources.push(open_flows(f)?);
                continue;
            }
            plan => match &plan {
                InputPlan::Live { spec, .. } if spec.wait_for_interface => deferred.push(plan),
                _ => match (live_spec(&plan), open(plan, &control.stop)) {
                    (spec, Ok(o)) => opened.push((o, spec)),
                    (_, Err(e)) if several => {
                        tracing::error!(
                            "( {}/core ): {e}; capturing on the others",
                            config.core.proc_name
                        );
                        open_error.get_or_insert(e);
                    }
                    (_, Err(e)) => return Err(e),
                },
            },
        }
    }
    let no_flows = flow_sources.is_empty();
    if let (true, true, true, Some(e)) =
        (opened.is_empty(), deferred.is_empty(), no_flows, open_error)
    {
        return Err(e);
    }
    let clock = if live {
        plugins::Clock::Live
    } else {
        plugins::Clock::Packets
    };
    // The mmdb files and the learned names are read before any plugin starts: a broken file
    // stops the start with nothing begun.
    let host_store = hosts::HostStore::open(
        &config.core.geoip,
        config.core.names,
        config.core.names_learned_file.as_deref(),
        hosts::Wants::of(config.plugins.iter().map(|p| &p.aggregate)),
    )?;
    let mut handles = plugins::start(&config.plugins, config.core.files_umask, clock)
        .map_err(DaemonError::Plugin)?;
    let mut plans = plans;
    start_web(config, live, &mut handles, &mut plans)?;
    metrics::register(stats.clone(), plugin_stats_of(&handles));
    let web_addr = config.core.web.as_ref().map(|w| w.listen);
    if let Some(addr) = config.core.metrics_listen.filter(|a| Some(*a) != web_addr) {
        let handler: http::Handler = Arc::new(|path: &str| {
            (path == "/metrics").then(|| ("text/plain; version=0.0.4", metrics::render()))
        });
        let bound = http::serve(addr, "core", handler)
            .map_err(|e| DaemonError::Plugin(format!("metrics_listen: {e}")))?;
        tracing::info!(
            "( {}/core ): daemon metrics on http://{bound}/metrics",
            config.core.proc_name
        );
    }
    // Captures, sockets and files are open: from here on, the unprivileged account.
    if let Some(run_as) = &config.core.run_as {
        process::drop_privileges(run_as)
            .and_then(|()| process::check_writable(config, run_as))
            .map_err(DaemonError::Privileges)?;
        tracing::info!(
            "( {}/core ): running as user '{}' (uid {}, gid {}), keeping CAP_NET_RAW and CAP_NET_ADMIN",
            config.core.proc_name,
            run_as.user,
            run_as.uid,
            run_as.gid
        );
    }
    let plugin_stats: Vec<(String, Arc<stats::PluginStats>)> = handles
        .iter()
        .map(|h| (h.label(), h.stats.clone()))
        .collect();

    // Plugins fed datagrams (tee) get no lane: the collectors hand them datagrams.
    let takes_datagrams = |h: &plugins::PluginHandle| {
        matches!(h.config.options, pmacct_core::config::PluginOptions::Tee(_))
    };
    let taps: Vec<collector::Tap> = handles
        .iter()
        .filter(|h| takes_datagrams(h))
        .map(|h| collector::Tap {
            tx: h.tx.clone(),
            policy: h.policy(live),
            stats: h.stats.clone(),
        })
        .collect();
    let templates: Vec<LaneTemplate> = handles
        .iter()
        .zip(&plans)
        .filter(|(h, _)| !takes_datagrams(h))
        .map(|(h, plan)| LaneTemplate {
            label: h.label(),
            name: h.config.name.clone(),
            filter: plan.filter.clone(),
            tags: plan.tags.clone(),
            sampling_rate: plan.sampling_rate,
            scale: plan.scale,
            extractor: plan.extractor.clone(),
            tx: h.tx.clone(),
            recycled: h.recycled.clone(),
            policy: h.policy(live),
            stats: h.stats.clone(),
            batch_records: h.config.batch_records,
            renormalize: h.config.renormalize,
            frames: matches!(
                h.config.options,
                pmacct_core::config::PluginOptions::Sfprobe(_)
            ),
        })
        .collect();

    let mut inputs = running::InputThreads::new(running::Shared {
        templates,
        taps,
        hosts: host_store.clone(),
        store: store.clone(),
        stats: stats.clone(),
        aggregate_unknown_etype: config.core.aggregate_unknown_etype,
        proc_name: config.core.proc_name.clone(),
    });
    for (opened, spec) in opened {
        inputs.start(opened, spec.as_ref());
        if inputs.failed() {
            break;
        }
    }
    let flow_settings = collector::FlowSettings {
        clock: if config.core.collector.time_new {
            collector::FlowClock::Arrival
        } else {
            collector::FlowClock::Start
        },
        templates_file: config.core.collector.templates_file.clone(),
        proc_name: config.core.proc_name.clone(),
        maps: flow_maps.clone(),
        log_gaps: !config.core.collector.disable_checks,
        sflow: config.core.program == pmacct_core::config::Program::Sfacctd,
        counter_file: config.core.collector.counter_file.clone(),
        decode_vxlan: config.core.collector.decode_vxlan,
        ext_sampling_rate: config.core.ext_sampling_rate,
    };
    for source in flow_sources {
        inputs.start_flows(source, flow_settings.clone());
    }
    if let (false, Some(r)) = (inputs.failed(), &control.readiness) {
        r.ready();
    }
    // Interfaces that may not exist yet (`pcap_interface_wait`) are opened on their own thread.
    for plan in deferred {
        if let InputPlan::Live {
            spec,
            in_iface,
            out_iface,
            ..
        } = plan
        {
            inputs.start_waiting(spec, in_iface, out_iface);
        }
    }

    // Supervise: stats on request, maps reloaded on request, stop on request or when every
    // input has ended.
    let wait_after_end = config.core.savefile_wait && config.core.savefile.is_some();
    let mut flushed = false;
    // Plugins still to be told to flush (their queue was full: tried again each turn, so a
    // stuck plugin never holds up signals).
    let mut to_flush: Vec<usize> = Vec::new();
    let mut files_checked = std::time::Instant::now();
    while !inputs.failed() {
        // The mmdb files are read again when they change on disk.
        if let Some(h) = host_store
            .as_ref()
            .filter(|_| files_checked.elapsed() >= FILES_CHECK)
        {
            files_checked = std::time::Instant::now();
            h.refresh(false, &config.core.proc_name);
        }
        if control.dump_stats.swap(false, Relaxed) {
            log_stats(&config.core.proc_name, &stats, &plugin_stats);
        }
        if control.reload_maps.swap(false, Relaxed) {
            if let Some(h) = &host_store {
                h.refresh(true, &config.core.proc_name);
            }
            reload_maps(config, store.as_deref(), &flow_maps, &mut inputs);
            for h in &handles {
                let _ = h.control.send(plugins::Control::Reload);
            }
        }
        if control.reopen_log.swap(false, Relaxed) {
            collector::counters::reopen();
            match logging::reopen() {
                Ok(()) => {
                    if let Some(log) = &config.core.logfile {
                        process::own(log);
                    }
                    tracing::info!(
                        "( {}/core ): SIGHUP: log file reopened",
                        config.core.proc_name
                    )
                }
                Err(e) => tracing::error!(
                    "( {}/core ): SIGHUP: cannot reopen the log file: {e}",
                    config.core.proc_name
                ),
            }
        }
        to_flush.retain(|&i| {
            matches!(
                handles[i].tx.try_send(plugins::PluginMsg::Flush),
                Err(crossbeam_channel::TrySendError::Full(_))
            )
        });
        let all_done = inputs.all_finished();
        if control.stop.load(Relaxed) || (all_done && !wait_after_end) {
            break;
        }
        if all_done && !flushed {
            // -W: the daemon stays up; what the plugins hold is written now, not at exit.
            flushed = true;
            if let Some(h) = &host_store {
                h.save_devices(&config.core.proc_name);
            }
            to_flush = (0..handles.len()).collect();
            tracing::info!(
                "( {}/core ): every input was read to its end; pcap_savefile_wait keeps the daemon up",
                config.core.proc_name
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    control.stop.store(true, Relaxed);
    let first_error = inputs.finish();
    if let Some(h) = &host_store {
        h.save_devices(&config.core.proc_name);
    }
    // Closing the queues makes every plugin flush and stop.
    for h in &mut handles {
        let (dead_tx, _) = crossbeam_channel::bounded(1);
        h.tx = dead_tx;
    }
    if let Some(unwritten) = join_plugins(&mut handles, control, &config.core.proc_name) {
        tracing::warn!(
            "( {}/core ): second stop signal during the final flush: exiting now; not written: {unwritten}",
            config.core.proc_name
        );
        return Err(DaemonError::Interrupted(unwritten));
    }
    log_stats(&config.core.proc_name, &stats, &plugin_stats);
    match first_error {
        Some(e) => Err(e),
        None => Ok(RunSummary {
            stats,
            plugin_stats,
        }),
    }
}

/// The web page (`web_listen`), with the hidden plugin of its Live view when capturing live.
#[cfg(feature = "web")]
fn start_web(
    config: &DaemonConfig,
    live: bool,
    handles: &mut Vec<plugins::PluginHandle>,
    plans: &mut Vec<PluginPlan>,
) -> Result<(), DaemonError> {
    let Some(web) = &config.core.web else {
        return Ok(());
    };
    let name = &config.core.proc_name;
    let mut ring = None;
    if live {
        let (cfg, plugin, ring_of) = web::live::plugin(config.core.program, &web.local)
            .map_err(|e| DaemonError::Plugin(format!("web: {e}")))?;
        plans.push(plan_plugin(&cfg, &config.core)?);
        let stats = Arc::new(stats::PluginStats::default());
        handles.push(
            plugins::launch(&cfg, plugin, stats, config.core.files_umask)
                .map_err(DaemonError::Plugin)?,
        );
        ring = Some(ring_of);
    }
    let bound = web::start(web, config.core.program, handles, ring)
        .map_err(|e| DaemonError::Plugin(format!("web_listen: {e}")))?;
    tracing::info!("( {name}/core ): web page on http://{bound}/");
    Ok(())
}

#[cfg(not(feature = "web"))]
fn start_web(
    config: &DaemonConfig,
    _live: bool,
    _handles: &mut Vec<plugins::PluginHandle>,
    _plans: &mut Vec<PluginPlan>,
) -> Result<(), DaemonError> {
    match &config.core.web {
        Some(_) => Err(DaemonError::Plugin(
            "web_listen: this build has no web page (built without the `web` feature)".into(),
        )),
        None => Ok(()),
    }
}

fn plugin_stats_of(handles: &[plugins::PluginHandle]) -> Vec<(String, Arc<stats::PluginStats>)> {
    handles
        .iter()
        .map(|h| (h.label(), h.stats.clone()))
        .collect()
}

/// Waits for every plugin's final flush. A second SIGINT/SIGTERM meanwhile (the first asked
/// for the flush) stops waiting: returns what each unfinished plugin had not written.
fn join_plugins(
    handles: &mut [plugins::PluginHandle],
    control: &Control,
    name: &str,
) -> Option<String> {
    let hurry_at = control.stop_signals.load(Relaxed).max(1) + 1;
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        for h in handles.iter_mut() {
            if h.thread.as_ref().is_some_and(|t| t.is_finished()) {
                if let Some(Err(_)) = h.thread.take().map(|t| t.join()) {
                    tracing::error!("( {} ): plugin thread panicked", h.label());
                }
            }
        }
        let unfinished: Vec<String> = handles
            .iter()
            .filter(|h| h.thread.is_some())
            .map(|h| format!("{}: {} aggregates", h.label(), h.stats.held.load(Relaxed)))
            .collect();
        if unfinished.is_empty() {
            return None;
        }
        if control.stop_signals.load(Relaxed) >= hurry_at {
            return Some(unfinished.join(", "));
        }
        if !told && started.elapsed() > Duration::from_secs(1) {
            told = true;
            tracing::info!(
                "( {name}/core ): waiting for the final flush of {}; a second SIGINT or SIGTERM exits at once without it",
                unfinished.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How often the supervisor looks whether the mmdb files changed on disk.
const FILES_CHECK: Duration = Duration::from_secs(2);

/// SIGUSR2: the pcap_interfaces_map (captures added and removed) and, with `maps_refresh`,
/// the pre_tag_map.
fn reload_maps(
    config: &DaemonConfig,
    store: Option<&tagging::MapStore>,
    flow_maps: &collector::FlowMaps,
    inputs: &mut running::InputThreads,
) {
    let core = &config.core;
    let name = &core.proc_name;
    if core.interfaces_map.is_none() && store.is_none() && flow_maps.is_empty() {
        tracing::info!("( {name}/core ): SIGUSR2: no map to reload");
        return;
    }
    match (flow_maps.is_empty(), core.maps_refresh) {
        (true, _) => {}
        (false, false) => tracing::info!(
            "( {name}/core ): SIGUSR2: maps_refresh is off; nfacctd_allow_file and sampling_map not reloaded"
        ),
        (false, true) => flow_maps.reload(name),
    }
    if core.interfaces_map.is_some() {
        match plan_inputs(config) {
            Ok(plans) => inputs.reload(plans),
            Err(e) => tracing::error!("( {name}/core ): {e}; the captures stay as they were"),
        }
    }
    match (store, core.maps_refresh) {
        (None, _) => {}
        (Some(_), false) => {
            tracing::info!(
                "( {name}/core ): SIGUSR2: maps_refresh is off; pre_tag_map not reloaded"
            )
        }
        (Some(s), true) => match s.reload() {
            Ok(rules) => tracing::info!(
                "( {name}/core ): [{}] map reloaded: {rules} rules",
                s.path().display()
            ),
            Err(e) => tracing::error!("( {name}/core ): {e}; keeping the previous pre_tag_map"),
        },
    }
}

fn log_stats(name: &str, stats: &CoreStats, plugins: &[(String, Arc<stats::PluginStats>)]) {
    tracing::info!("( {name}/core ): stats {}", stats.line());
    for (label, s) in plugins {
        tracing::info!("( {label} ): stats {}", s.line());
    }
}
