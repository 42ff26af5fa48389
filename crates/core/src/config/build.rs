//! Settings to the typed configuration the daemon runs with.

use std::path::PathBuf;

use super::accounts;
use super::resolve::{PluginKind, PluginSettings, ResolvedConfig, Settings};
use super::value::{
    parse_bool, parse_choice, parse_nice, parse_separator, parse_uint, parse_umask,
};
use super::ConfigError;
use crate::bins::{BinSpec, History, Roundoff};
use crate::pretag::{LabelFilter, TagFilter};
use crate::primitive::{Aggregate, Primitive};

mod broker;
mod probe;
mod web;
pub use broker::{AmqpConfig, BrokerOutput, KafkaConfig, MessagesConfig};
pub use probe::{NfprobeConfig, ProbeSource, SfprobeConfig, TeeConfig, NFPROBE_DEFAULT_AGGREGATE};
pub use web::{parse_web_listen, WebConfig, WebPassword, WebSource};

/// Where in_iface/out_iface ids come from (`pcap_ifindex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfindexMode {
    Sys,
    Hash,
    Map,
    None,
}

/// The core's configuration: capture and daemon behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreConfig {
    pub proc_name: String,
    pub daemonize: bool,
    pub debug: bool,
    pub pidfile: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    pub syslog: Option<String>,
    pub files_umask: u32,
    pub dry_run: Option<String>,
    pub interface: Option<String>,
    pub interfaces_map: Option<PathBuf>,
    pub ifindex: IfindexMode,
    pub direction: Option<String>,
    pub pcap_filter: Option<String>,
    pub interface_wait: bool,
    pub savefile: Option<PathBuf>,
    pub savefile_wait: bool,
    pub savefile_delay: u64,
    pub savefile_replay: u64,
    pub promisc: bool,
    pub snaplen: u32,
    pub aggregate_unknown_etype: bool,
    pub pre_tag_map: Option<PathBuf>,
    pub maps_refresh: bool,
    /// `pmacctd_ext_sampling_rate`.
    pub ext_sampling_rate: Option<u32>,
    /// `proc_priority` (global): the daemon's nice value.
    pub proc_priority: i32,
    /// `files_uid` / `files_gid`: the owner given to created files.
    pub files_owner: FilesOwner,
    /// `drop_privileges_user` / `_group`: whom to run as once inputs and outputs are open.
    pub run_as: Option<RunAs>,
    /// `metrics_listen`: an endpoint for the daemon's own metrics.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `geoipv2_file`, `geoipv2_asn_file`.
    pub geoip: GeoFiles,
    /// `names_cache_entries`, `names_grace` (src_host_name, dst_host_name).
    pub names: NamesConfig,
    /// `names_learned_file`: device names learned from DHCP and mDNS are kept there.
    pub names_learned_file: Option<PathBuf>,
    /// `web_listen` and the other `web_*` keys: the web page (docs/web.md).
    pub web: Option<WebConfig>,
    /// Which daemon runs the configuration (set by the binary, not by a key).
    pub program: Program,
    /// nfacctd's `nfacctd_*` keys.
    pub collector: CollectorConfig,
}

/// Names learned from the traffic (docs/names.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamesConfig {
    pub cache_entries: usize,
    pub grace_secs: i64,
}

/// The MaxMind-format databases (docs/names.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoFiles {
    /// Country, postal code, coordinates (`geoipv2_file`).
    pub city: Option<PathBuf>,
    /// AS number and organisation (`geoipv2_asn_file`).
    pub asn: Option<PathBuf>,
}

/// The daemon a configuration is run by: it decides what the inputs are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Program {
    /// Packets: live interfaces or capture files.
    #[default]
    Pmacctd,
    /// NetFlow v5/v9 and IPFIX: a UDP socket, or a capture file of export datagrams.
    Nfacctd,
    /// sFlow v5: a UDP socket, or a capture file of sFlow datagrams.
    Sfacctd,
}

impl Program {
    /// A collector of exports (nfacctd, sfacctd), not a packet capture.
    pub fn is_collector(self) -> bool {
        matches!(self, Program::Nfacctd | Program::Sfacctd)
    }
}

/// nfacctd's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectorConfig {
    pub ip: Option<std::net::IpAddr>,
    pub port: u16,
    /// `nfacctd_port` was given (a capture file then reads only datagrams to it).
    pub port_set: bool,
    pub pipe_size: Option<u64>,
    pub time_new: bool,
    pub templates_file: Option<PathBuf>,
    pub disable_checks: bool,
    /// `nfacctd_allow_file`.
    pub allow_file: Option<PathBuf>,
    /// `nfacctd_net`, `nfacctd_as`.
    pub net: crate::key::RouteSource,
    pub asn: crate::key::RouteSource,
    pub sampling_map: Option<PathBuf>,
    /// sfacctd: `sfacctd_counter_file` (`$peer_src_ip` in it names the agent).
    pub counter_file: Option<PathBuf>,
    /// `decode_vxlan`: sampled frames that are VXLAN are accounted by their inner frame.
    pub decode_vxlan: bool,
}

/// Owner and group for the files the daemon creates (`None`: left as created).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesOwner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// The unprivileged account the daemon switches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

/// How a plugin's trigger command runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerSettings {
    /// After this long the command is killed (and that is logged).
    pub timeout_secs: u64,
    /// Its working directory; `None`: the output file's folder (print), else the daemon's.
    pub cwd: Option<std::path::PathBuf>,
}

/// A plugin's `pre_tag_filter`, `pre_tag2_filter` and `pre_tag_label_filter`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagFilters {
    pub tag: Option<TagFilter>,
    pub tag2: Option<TagFilter>,
    pub label: Option<LabelFilter>,
}

impl TagFilters {
    pub fn is_empty(&self) -> bool {
        self.tag.is_none() && self.tag2.is_none() && self.label.is_none()
    }
    /// Whether a packet with these tags is this plugin's.
    pub fn pass(&self, tags: &crate::key::Tags) -> bool {
        self.tag.as_ref().is_none_or(|f| f.passes(tags.tag))
            && self.tag2.as_ref().is_none_or(|f| f.passes(tags.tag2))
            && self.label.as_ref().is_none_or(|f| f.passes(tags.label))
    }
}

/// `print_output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintFormat {
    Formatted,
    Csv,
    Json,
    /// pmacct-rs: InfluxDB line protocol files (for Telegraf).
    Influx,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PrintConfig {
    pub format: PrintFormat,
    pub output_file: Option<String>,
    pub append: bool,
    pub separator: String,
    pub latest_file: Option<PathBuf>,
    pub write_empty_file: bool,
    /// `print_trigger_on_empty`: the trigger also runs after a purge with no rows.
    pub trigger_on_empty: bool,
    pub markers: bool,
    pub trigger_exec: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryConfig {
    pub socket: PathBuf,
    /// Maximum bytes of table entries; `None` = unbounded.
    pub memory_bound: Option<u64>,
    /// The bound is [`DEFAULT_MEMORY_BOUND`] because neither pool key was set.
    pub memory_bound_is_default: bool,
}

/// The memory table's bound when neither `imt_mem_pools_number` nor `imt_mem_pools_size` is set.
/// pmacct's defaults (16 x 8 KiB) hold a few hundred entries, which a home network fills in
/// minutes; 64 MiB holds a few hundred thousand.
pub const DEFAULT_MEMORY_BOUND: u64 = 64 << 20;

/// Which database an SQL plugin writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlBackend {
    Sqlite3,
    Pgsql,
    Mysql,
}

/// Where a setting was written, to name it in errors found at start (a database file in a
/// missing directory, a schema file that cannot be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingAt {
    pub origin: super::Origin,
    pub written_as: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SqlConfig {
    pub backend: SqlBackend,
    /// sqlite3: the database file; otherwise the database name.
    pub db: String,
    pub db_at: Option<SettingAt>,
    /// The table name, possibly with time variables.
    pub table: String,
    pub table_version: u8,
    pub table_schema: Option<PathBuf>,
    pub table_schema_at: Option<SettingAt>,
    pub optimize_clauses: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dont_try_update: bool,
    pub backup_host: Option<String>,
    pub spool_file: PathBuf,
    pub trigger_exec: Option<String>,
    /// Seconds between trigger runs; `None`: after every purge.
    pub trigger_every: Option<i64>,
}

/// Kind-specific options.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginOptions {
    Print(PrintConfig),
    Memory(MemoryConfig),
    Sql(Box<SqlConfig>),
    Quota(QuotaConfig),
    Prometheus(PrometheusConfig),
    Influxdb(InfluxConfig),
    Nfprobe(Box<NfprobeConfig>),
    Tee(Box<TeeConfig>),
    Sfprobe(Box<SfprobeConfig>),
    Amqp(Box<AmqpConfig>),
    Kafka(Box<KafkaConfig>),
}

/// An `influxdb` plugin: each purge written as line protocol (docs/influxdb.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfluxConfig {
    /// The write endpoint, query included (`/write?db=...` or `/api/v2/write?org=...`).
    pub write_url: String,
    /// `Authorization` header (Basic for 1.x with a user, Token for 2.x).
    pub authorization: Option<String>,
    pub measurement: String,
    /// Where batches wait while the server is unavailable at exit (sent at the next start).
    pub spool: PathBuf,
}

/// A `prometheus` plugin: counters per key served over HTTP (docs/prometheus.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    pub listen: std::net::SocketAddr,
    /// Series per metric: the top ones by bytes, plus one `other` series for the rest.
    pub max_series: usize,
    /// Seconds a series may stay unchanged before it is dropped (0: never).
    pub expire_secs: u64,
}

fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `influxdb_*`: 1.x (`influxdb_db`, `influxdb_rp`, `influxdb_user`, `influxdb_password`) or
/// 2.x (`influxdb_org`, `influxdb_bucket`, `influxdb_token`).
fn build_influx(r: &mut Reader, name: &str, declared_at: &super::Origin) -> InfluxConfig {
    let url = r
        .typed("influxdb_url", |v| {
            let trimmed = v.trim_end_matches('/');
            match trimmed
                .strip_prefix("http://")
                .map(|rest| rest.split('/').next().unwrap_or(""))
            {
                Some(host) if !host.is_empty() && !host.contains(' ') => Ok(trimmed.to_string()),
                _ => Err(format!(
                    "'{v}' is not an http:// URL (such as http://127.0.0.1:8086)"
                )),
            }
        })
        .unwrap_or_else(|| "http://127.0.0.1:8086".into());
    let (org, bucket, token) = (
        r.text("influxdb_org"),
        r.text("influxdb_bucket"),
        r.text("influxdb_token"),
    );
    let v2 = org.is_some() || bucket.is_some() || token.is_some();
    let (write_url, authorization) = if v2 {
        if bucket.is_none() {
            r.errors.push(
                ConfigError::new(
                    declared_at.clone(),
                    "InfluxDB 2.x needs influxdb_bucket (and influxdb_org, influxdb_token)"
                        .to_string(),
                )
                .key("influxdb_bucket")
                .plugin(Some(name)),
            );
        }
        (
            format!(
                "{url}/api/v2/write?org={}&bucket={}&precision=s",
                percent_encode(org.as_deref().unwrap_or("")),
                percent_encode(bucket.as_deref().unwrap_or(""))
            ),
            token.map(|t| format!("Token {t}")),
        )
    } else {
        let db = r.text("influxdb_db").unwrap_or_else(|| "pmacct".into());
        let mut u = format!("{url}/write?db={}&precision=s", percent_encode(&db));
        if let Some(rp) = r.text("influxdb_rp") {
            u.push_str(&format!("&rp={}", percent_encode(&rp)));
        }
        let auth = r.text("influxdb_user").map(|user| {
            let password = r.text("influxdb_password").unwrap_or_default();
            format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
        });
        (u, auth)
    };
    InfluxConfig {
        write_url,
        authorization,
        measurement: r
            .text("influxdb_measurement")
            .unwrap_or_else(|| "pmacct".into()),
        spool: r
            .path("influxdb_spool_file")
            .unwrap_or_else(|| PathBuf::from(format!("/var/lib/pmacct-rs/influxdb-{name}.spool"))),
    }
}

/// `ADDR:PORT` for an endpoint.
pub fn parse_listen(v: &str) -> Result<std::net::SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("'{v}' is not ADDRESS:PORT (such as 127.0.0.1:9435 or [::1]:9435)"))
}

/// A `quota` plugin: data caps per device (docs/caps.md).
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaConfig {
    /// `quota_map`: the caps file (read when the plugin starts).
    pub caps_file: PathBuf,
    /// `quota_state`: usage per cap and period, and the alerts fired (SQLite).
    pub state: PathBuf,
    /// `quota_local_net`: which addresses are devices.
    pub local: Vec<crate::cidr::Cidr>,
    /// `quota_webhook`: an http:// URL that receives each alert as a JSON POST.
    pub webhook: Option<String>,
    pub trigger_exec: Option<String>,
}

/// What a live capture does when a plugin's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    Block,
    Drop,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PluginConfig {
    pub name: String,
    pub kind: PluginKind,
    pub aggregate: Aggregate,
    pub aggregate_filter: Option<String>,
    pub tag_filters: TagFilters,
    /// How the plugin's trigger runs (`*_trigger_timeout`, `*_trigger_cwd`).
    pub trigger: TriggerSettings,
    pub post_tag: Option<u64>,
    pub post_tag2: Option<u64>,
    /// `sampling_rate`: account 1 packet in N, at random.
    pub sampling_rate: Option<u32>,
    pub renormalize: bool,
    /// `nfacctd_pro_rating`: flows shared among the bins they span.
    pub pro_rating: bool,
    pub bins: Option<BinSpec>,
    pub refresh_time: u64,
    /// Seconds the first purge is delayed by (`sql_startup_delay`).
    pub startup_delay: u64,
    /// `print_cache_entries` / `sql_cache_entries`: aggregates held before an early purge.
    pub cache_entries: Option<u64>,
    pub networks_file: Option<PathBuf>,
    pub networks_mask: Option<u8>,
    pub networks_file_filter: bool,
    pub ports_file: Option<PathBuf>,
    pub timestamps_utc: bool,
    pub timestamps_secs: bool,
    pub timestamps_since_epoch: bool,
    pub num_protos: bool,
    /// Records per batch handed to the plugin.
    pub batch_records: usize,
    /// `proc_priority` for this plugin's threads (the global value unless set apart).
    pub proc_priority: i32,
    /// Batches queued towards the plugin.
    pub queue_batches: usize,
    pub when_full: QueuePolicy,
    pub options: PluginOptions,
}

impl PluginConfig {
    /// The packed key layout of this plugin's records: its primitives, and a time-bin word when
    /// it cuts time into bins (print with `print_history`).
    pub fn key_layout(&self) -> crate::layout::KeyLayout {
        let bins = self.bins.is_some();
        crate::layout::KeyLayout::new(&self.aggregate, bins)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DaemonConfig {
    pub core: CoreConfig,
    pub plugins: Vec<PluginConfig>,
}

/// Largest batch handed to a plugin, in records.
pub const MAX_BATCH_RECORDS: u64 = 4096;
/// Records per batch when `plugin_buffer_size` is not set.
pub const DEFAULT_BATCH_RECORDS: usize = MAX_BATCH_RECORDS as usize;
/// Largest queue towards one plugin, in bytes of records.
pub const MAX_QUEUE_BYTES: u64 = 64 << 20;

/// Typed reads of one scope's settings; invalid values become errors with their origin.
struct Reader<'a> {
    settings: &'a Settings,
    plugin: Option<&'a str>,
    errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    fn typed<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let s = self.settings.get(key)?;
        match parse(&s.raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.errors.push(
                    ConfigError::new(s.origin.clone(), format!("invalid value: {message}"))
                        .key(&s.written_as)
                        .plugin(self.plugin),
                );
                None
            }
        }
    }
    fn bool(&mut self, key: &str, default: bool) -> bool {
        self.typed(key, parse_bool).unwrap_or(default)
    }
    fn uint(&mut self, key: &str, default: u64) -> u64 {
        self.typed(key, |v| parse_uint(v, 0, u64::MAX))
            .unwrap_or(default)
    }
    fn text(&mut self, key: &str) -> Option<String> {
        self.settings.get(key).map(|s| s.raw.clone())
    }
    fn path(&mut self, key: &str) -> Option<PathBuf> {
        self.text(key).map(PathBuf::from)
    }
    fn at(&self, key: &str) -> Option<SettingAt> {
        self.settings.get(key).map(|s| SettingAt {
            origin: s.origin.clone(),
            written_as: s.written_as.clone(),
        })
    }
    fn error(&mut self, key: &str, message: String) {
        let (origin, written) = match self.settings.get(key) {
            Some(s) => (s.origin.clone(), s.written_as.clone()),
            None => (super::Origin::command_line(), key.to_string()),
        };
        self.errors.push(
            ConfigError::new(origin, message)
                .key(&written)
                .plugin(self.plugin),
        );
    }
}

fn route_source(v: Option<String>) -> crate::key::RouteSource {
    use crate::key::RouteSource;
    match v.as_deref() {
        Some("file") => RouteSource::File,
        Some("mask") => RouteSource::Mask,
        Some("longest") => RouteSource::Longest,
        _ => RouteSource::Flow,
    }
}

/// The capture length when a plugin aggregates host names and `snaplen` is not set.
pub const NAMES_SNAPLEN: u32 = 2048;

pub fn build(
    program: Program,
    resolved: &ResolvedConfig,
    errors: &mut Vec<ConfigError>,
) -> DaemonConfig {
    let mut core = build_core(&resolved.core, errors);
    core.program = program;
    if program == Program::Sfacctd && resolved.core.get("nfacctd_port").is_none() {
        core.collector.port = 6343;
    }
    let plugins: Vec<PluginConfig> = resolved
        .plugins
        .iter()
        .filter_map(|p| build_plugin(program, p, &resolved.core, errors))
        .collect();
    if program.is_collector() {
        check_route_sources(&resolved.core, &core, &plugins, errors);
    }
    // Names are in DNS answers and handshakes: pmacct's 128 bytes would cut them off.
    let names = [Primitive::SrcHostName, Primitive::DstHostName];
    let wants_names = plugins
        .iter()
        .any(|p| names.iter().any(|n| p.aggregate.contains(*n)));
    if wants_names && resolved.core.get("snaplen").is_none() {
        core.snaplen = NAMES_SNAPLEN;
    }
    let mut r = Reader {
        settings: &resolved.core,
        plugin: None,
        errors,
    };
    core.web = web::build(&mut r, &plugins);
    DaemonConfig { core, plugins }
}

/// nfacctd: a networks source needs its map in every plugin (the error names the source's line).
fn check_route_sources(
    settings: &Settings,
    core: &CoreConfig,
    plugins: &[PluginConfig],
    errors: &mut Vec<ConfigError>,
) {
    use crate::key::RouteSource;
    let mut r = Reader {
        settings,
        plugin: None,
        errors,
    };
    let c = &core.collector;
    let needs_file = |s: RouteSource| matches!(s, RouteSource::File | RouteSource::Longest);
    for p in plugins {
        let (key, message) = if needs_file(c.net) && p.networks_file.is_none() {
            (
                "nfacctd_net",
                "nfacctd_net/nfacctd_as 'file' and 'longest' need a networks_file",
            )
        } else if needs_file(c.asn) && p.networks_file.is_none() {
            (
                "nfacctd_as",
                "nfacctd_net/nfacctd_as 'file' and 'longest' need a networks_file",
            )
        } else if c.net == RouteSource::Mask && p.networks_mask.is_none() {
            ("nfacctd_net", "nfacctd_net 'mask' needs a networks_mask")
        } else {
            continue;
        };
        r.error(key, format!("plugin '{}': {message}", p.name));
    }
}

/// Country, postal code and coordinates need `geoipv2_file`; AS names need `geoipv2_asn_file`.
fn geo_files_present(r: &mut Reader, core: &Settings, aggregate: &Aggregate) {
    let needs = |file: &str, wants: &dyn Fn(Primitive) -> bool, r: &mut Reader| {
        let missing = core.get(file).is_none();
        let wanted: Vec<&str> = aggregate
            .columns
            .iter()
            .filter(|p| wants(**p) && !p.is_companion())
            .map(|p| p.name())
            .collect();
        if missing && !wanted.is_empty() {
            r.error(
                "aggregate",
                format!(
                    "{} need {file} (a MaxMind-format .mmdb file)",
                    wanted.join(", ")
                ),
            );
        }
    };
    needs("geoipv2_file", &|p| p.is_geo(), r);
    needs(
        "geoipv2_asn_file",
        &|p| matches!(p, Primitive::SrcAsName | Primitive::DstAsName),
        r,
    );
}

fn build_core(settings: &Settings, errors: &mut Vec<ConfigError>) -> CoreConfig {
    let mut r = Reader {
        settings,
        plugin: None,
        errors,
    };
    let mut core = CoreConfig {
        proc_name: r.text("core_proc_name").unwrap_or_else(|| "default".into()),
        daemonize: r.bool("daemonize", false),
        debug: r.bool("debug", false),
        pidfile: r.path("pidfile"),
        logfile: r.path("logfile"),
        syslog: r.text("syslog"),
        files_umask: r.typed("files_umask", parse_umask).unwrap_or(0o077),
        dry_run: r.text("dry_run"),
        interface: r.text("pcap_interface"),
        interfaces_map: r.path("pcap_interfaces_map"),
        ifindex: match r.typed("pcap_ifindex", |v| {
            parse_choice(v, &["sys", "hash", "map", "none"])
        }) {
            Some("sys") => IfindexMode::Sys,
            Some("hash") => IfindexMode::Hash,
            Some("map") => IfindexMode::Map,
            _ => IfindexMode::None,
        },
        direction: r.text("pcap_direction").map(|d| d.to_ascii_lowercase()),
        pcap_filter: r.text("pcap_filter"),
        interface_wait: r.bool("pcap_interface_wait", false),
        savefile: r.path("pcap_savefile"),
        savefile_wait: r.bool("pcap_savefile_wait", false),
        savefile_delay: r.uint("pcap_savefile_delay", 0),
        savefile_replay: r.uint("pcap_savefile_replay", 1),
        promisc: r.bool("promisc", true),
        snaplen: r.uint("snaplen", 128) as u32,
        aggregate_unknown_etype: r.bool("aggregate_unknown_etype", false),
        pre_tag_map: r.path("pre_tag_map"),
        maps_refresh: r.bool("maps_refresh", true),
        ext_sampling_rate: r
            .typed("pmacctd_ext_sampling_rate", |v| {
                parse_uint(v, 1, u64::from(u32::MAX))
            })
            .map(|n| n as u32),
        proc_priority: r.typed("proc_priority", parse_nice).unwrap_or(0),
        files_owner: FilesOwner {
            uid: r.typed("files_uid", accounts::user).map(|u| u.uid),
            gid: r.typed("files_gid", accounts::group),
        },
        run_as: None,
        metrics_listen: r.typed("metrics_listen", parse_listen),
        geoip: GeoFiles {
            city: r.path("geoipv2_file"),
            asn: r.path("geoipv2_asn_file"),
        },
        names: NamesConfig {
            cache_entries: r.uint("names_cache_entries", 65_536) as usize,
            grace_secs: r.uint("names_grace", 300) as i64,
        },
        names_learned_file: r.path("names_learned_file"),
        web: None,
        program: Program::Pmacctd,
        collector: CollectorConfig {
            ip: r.typed("nfacctd_ip", |v| {
                v.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| format!("expected an IPv4 or IPv6 address, got '{v}'"))
            }),
            port: r.uint("nfacctd_port", 2100) as u16,
            port_set: settings.get("nfacctd_port").is_some(),
            pipe_size: r.typed("nfacctd_pipe_size", |v| parse_uint(v, 0, 2_147_483_647)),
            time_new: r.bool("nfacctd_time_new", false),
            templates_file: r.path("nfacctd_templates_file"),
            disable_checks: r.bool("nfacctd_disable_checks", false),
            allow_file: r.path("nfacctd_allow_file"),
            net: route_source(r.text("nfacctd_net")),
            asn: route_source(r.text("nfacctd_as")),
            sampling_map: r.path("sampling_map"),
            counter_file: r.path("sfacctd_counter_file"),
            decode_vxlan: r.bool("decode_vxlan", false),
        },
    };
    let drop_user = r.typed("drop_privileges_user", accounts::user);
    let drop_group = r.typed("drop_privileges_group", accounts::group);
    core.run_as = match (drop_user, drop_group) {
        (Some(u), group) => Some(RunAs {
            gid: group.unwrap_or(u.gid),
            uid: u.uid,
            user: u.name,
        }),
        (None, Some(_)) => {
            r.error(
                "drop_privileges_group",
                "needs drop_privileges_user (the user to run as)".into(),
            );
            None
        }
        (None, None) => None,
    };
    let sources = [
        ("pcap_interface", core.interface.is_some()),
        ("pcap_interfaces_map", core.interfaces_map.is_some()),
        ("pcap_savefile", core.savefile.is_some()),
    ];
    let set: Vec<&str> = sources
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
    if set.len() > 1 {
        r.error(
            set[1],
            format!(
                "{} are mutually exclusive: choose one input",
                set.join(", ")
            ),
        );
    }
    if core.ifindex == IfindexMode::Map && core.interfaces_map.is_none() {
        r.error("pcap_ifindex", "'map' needs pcap_interfaces_map".into());
    }
    core
}

fn build_plugin(
    program: Program,
    p: &PluginSettings,
    core: &Settings,
    errors: &mut Vec<ConfigError>,
) -> Option<PluginConfig> {
    let mut r = Reader {
        settings: &p.settings,
        plugin: Some(&p.name),
        errors,
    };
    let mut aggregate = r.typed("aggregate", Aggregate::parse).unwrap_or_default();
    // The memory plugin ignores pmacct's history keys (as pmacct's does); `imt_history` gives
    // it bins of its own.
    let history = match p.kind {
        PluginKind::Memory => r.typed("imt_history", History::parse),
        _ => r.typed("sql_history", History::parse),
    };
    let roundoff = r
        .typed("sql_history_roundoff", Roundoff::parse)
        .unwrap_or_default();
    let timestamps_utc = r.bool("timestamps_utc", false);
    let offset = r.uint("sql_history_offset", 0);
    let bins = history.map(|history| BinSpec {
        history,
        roundoff,
        offset: offset as i64,
        tz: crate::bins::time_zone(timestamps_utc),
    });
    if let (Some(b), true) = (&bins, offset > 0) {
        if b.history.seconds().is_some_and(|len| offset as i64 >= len) {
            r.error(
                "sql_history_offset",
                "must be shorter than the history bin".into(),
            );
        }
    }
    if program == Program::Pmacctd && aggregate.columns.iter().any(|c| c.custom_slot().is_some()) {
        r.error(
            "aggregate",
            "custom primitives (aggregate_primitives) are read from NetFlow v9/IPFIX fields by nfacctd; pmacctd would need packet_ptr, which pmacct-rs does not support yet".into(),
        );
    }
    geo_files_present(&mut r, core, &aggregate);
    let networks_file = r.path("networks_file");
    let networks_mask = r
        .typed("networks_mask", |v| parse_uint(v, 0, 128))
        .map(|m| m as u8);
    // nfacctd: a flow carries its own masks (pmacct's default nfacctd_net: netflow).
    if aggregate.needs_networks()
        && networks_file.is_none()
        && networks_mask.is_none()
        && !program.is_collector()
    {
        r.error(
            "aggregate",
            "network primitives (src_net, dst_net, src_mask, dst_mask, sum_net) need networks_file or networks_mask".into(),
        );
    }
    // pmacct's buffer sizes are honoured up to a point: batches beyond 4096 records and queues
    // beyond 64 MiB only delay data and cost memory (a full queue blocks file reading, and live
    // capture counts what it drops), so larger values are capped.
    // Records are packed keys plus 16 bytes of counters; 64 bytes is a typical 5-tuple record.
    // A batch is handed over when full or after a short time (live capture), so the default
    // batch is the largest: fewer hand-overs, and a busy plugin thread sorts more per wake-up.
    let record_size = 64u64;
    let batch_records = r
        .typed("plugin_buffer_size", |v| parse_uint(v, 0, u64::MAX))
        .filter(|b| *b > 0)
        .map(|b| (b / record_size).clamp(1, MAX_BATCH_RECORDS) as usize)
        .unwrap_or(DEFAULT_BATCH_RECORDS);
    let max_batches = (MAX_QUEUE_BYTES / (record_size * batch_records as u64)).max(2);
    let queue_batches = r
        .typed("plugin_pipe_size", |v| parse_uint(v, 0, u64::MAX))
        .filter(|b| *b > 0)
        .map(|b| (b / (record_size * batch_records as u64)).clamp(2, max_batches) as usize)
        .unwrap_or(64.min(max_batches as usize));
    let when_full = match r
        .text("plugin_queue_when_full")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("block") => QueuePolicy::Block,
        _ => QueuePolicy::Drop,
    };
    let options = match p.kind {
        PluginKind::Print => {
            let format = match r
                .text("print_output")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("formatted") => PrintFormat::Formatted,
                Some("csv") => PrintFormat::Csv,
                Some("json") => PrintFormat::Json,
                Some("influx") => PrintFormat::Influx,
                Some(other) => {
                    r.error("print_output", format!("'{other}' output is not supported by pmacct-rs yet (use formatted, csv, json or influx)"));
                    PrintFormat::Formatted
                }
            };
            PluginOptions::Print(PrintConfig {
                format,
                output_file: r.text("sql_table"),
                append: r.bool("print_output_file_append", false),
                separator: r
                    .typed("print_output_separator", parse_separator)
                    .unwrap_or_else(|| ",".into()),
                latest_file: r.path("print_latest_file"),
                write_empty_file: r.bool("print_write_empty_file", false),
                trigger_on_empty: r.bool("print_trigger_on_empty", false),
                markers: r.bool("print_markers", false),
                trigger_exec: trigger_command(&mut r),
            })
        }
        PluginKind::Memory => {
            let explicit = r.settings.get("imt_mem_pools_number").is_some()
                || r.settings.get("imt_mem_pools_size").is_some();
            let pools = r.uint("imt_mem_pools_number", 16);
            let pool_size = r.uint("imt_mem_pools_size", 8192);
            PluginOptions::Memory(MemoryConfig {
                socket: r
                    .path("imt_path")
                    .unwrap_or_else(|| PathBuf::from("/tmp/collect.pipe")),
                memory_bound: match explicit {
                    false => Some(DEFAULT_MEMORY_BOUND),
                    true => (pools > 0).then(|| pools.saturating_mul(pool_size)),
                },
                memory_bound_is_default: !explicit,
            })
        }
        PluginKind::Influxdb => {
            PluginOptions::Influxdb(build_influx(&mut r, &p.name, &p.declared_at))
        }
        PluginKind::Prometheus => {
            let listen = r.typed("prometheus_listen", parse_listen);
            if listen.is_none() && r.settings.get("prometheus_listen").is_none() {
                r.errors.push(
                    ConfigError::new(
                        p.declared_at.clone(),
                        "a prometheus plugin needs prometheus_listen (such as 127.0.0.1:9435)"
                            .to_string(),
                    )
                    .key("prometheus_listen")
                    .plugin(Some(&p.name)),
                );
            }
            PluginOptions::Prometheus(PrometheusConfig {
                listen: listen
                    .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 9435))),
                max_series: r.uint("prometheus_max_series", 10_000).max(1) as usize,
                expire_secs: r.uint("prometheus_expire", 3600),
            })
        }
        PluginKind::Quota => {
            let caps_file = r.path("quota_map");
            if caps_file.is_none() {
                r.errors.push(
                    ConfigError::new(
                        p.declared_at.clone(),
                        "a quota plugin needs quota_map (its caps file)".to_string(),
                    )
                    .key("quota_map")
                    .plugin(Some(&p.name)),
                );
            }
            let local = r
                .typed("quota_local_net", |v| {
                    v.split(',')
                        .map(|n| crate::cidr::Cidr::parse(n.trim()))
                        .collect()
                })
                .unwrap_or_else(|| {
                    crate::cidr::PRIVATE
                        .iter()
                        .filter_map(|n| crate::cidr::Cidr::parse(n).ok())
                        .collect()
                });
            let webhook = r.typed("quota_webhook", |v| {
                v.starts_with("http://")
                    .then(|| v.to_string())
                    .ok_or_else(|| {
                        format!("'{v}': an http:// URL (for https, post to a local relay)")
                    })
            });
            PluginOptions::Quota(QuotaConfig {
                caps_file: caps_file.unwrap_or_default(),
                state: r.path("quota_state").unwrap_or_else(|| {
                    PathBuf::from(format!("/var/lib/pmacct-rs/quota-{}.db", p.name))
                }),
                local,
                webhook,
                trigger_exec: trigger_command(&mut r),
            })
        }
        PluginKind::Sqlite3 | PluginKind::Pgsql | PluginKind::Mysql => {
            PluginOptions::Sql(Box::new(build_sql(&mut r, p.kind, &p.name, history)))
        }
        PluginKind::Nfprobe if program.is_collector() => {
            r.error("plugins", "nfprobe exports flows metered from captured packets (pmacctd); a collector forwards what it receives with tee".into());
            return None;
        }
        PluginKind::Nfprobe => {
            PluginOptions::Nfprobe(Box::new(probe::build_nfprobe(&mut r, &mut aggregate)))
        }
        PluginKind::Sfprobe if program.is_collector() => {
            r.error("plugins", "sfprobe samples captured packets (pmacctd); a collector forwards what it receives with tee".into());
            return None;
        }
        PluginKind::Sfprobe => {
            PluginOptions::Sfprobe(Box::new(probe::build_sfprobe(&mut r, &mut aggregate)))
        }
        PluginKind::Tee if !program.is_collector() => {
            r.error("plugins", "tee replicates the datagrams a collector receives (nfacctd, sfacctd); pmacctd exports its own flows with nfprobe".into());
            return None;
        }
        PluginKind::Tee => PluginOptions::Tee(Box::new(probe::build_tee(&mut r)?)),
        PluginKind::Amqp => PluginOptions::Amqp(Box::new(broker::build_amqp(&mut r, &p.name))),
        PluginKind::Kafka => PluginOptions::Kafka(Box::new(broker::build_kafka(&mut r, &p.name))),
    };
    Some(PluginConfig {
        name: p.name.clone(),
        kind: p.kind,
        aggregate_filter: r.text("aggregate_filter"),
        tag_filters: TagFilters {
            tag: r.typed("pre_tag_filter", TagFilter::parse),
            tag2: r.typed("pre_tag2_filter", TagFilter::parse),
            label: r.typed("pre_tag_label_filter", LabelFilter::parse),
        },
        trigger: TriggerSettings {
            timeout_secs: r.uint("sql_trigger_timeout", 60).max(1),
            cwd: r.path("sql_trigger_cwd"),
        },
        proc_priority: r.typed("proc_priority", parse_nice).unwrap_or(0),
        post_tag: r.typed("post_tag", |v| parse_uint(v, 1, u64::MAX)),
        post_tag2: r.typed("post_tag2", |v| parse_uint(v, 1, u64::MAX)),
        sampling_rate: r
            .typed("sampling_rate", |v| parse_uint(v, 1, u64::from(u32::MAX)))
            .map(|n| n as u32),
        renormalize: r.bool("pmacctd_renormalize", false),
        pro_rating: r.bool("nfacctd_pro_rating", false),
        bins,
        refresh_time: r.uint("sql_refresh_time", 60).max(1),
        startup_delay: r.uint("sql_startup_delay", 0),
        cache_entries: r.typed("sql_cache_entries", |v| parse_uint(v, 1, u64::MAX)),
        networks_file,
        networks_mask,
        networks_file_filter: r.bool("networks_file_filter", false),
        ports_file: r.path("ports_file"),
        timestamps_utc,
        timestamps_secs: r.bool("timestamps_secs", false),
        timestamps_since_epoch: r.bool("timestamps_since_epoch", false),
        num_protos: r.bool("sql_num_protos", false),
        batch_records,
        queue_batches,
        when_full,
        options,
        aggregate: match p.kind {
            // The quota plugin counts per device: both addresses of every packet.
            PluginKind::Quota => {
                Aggregate::parse("src_host, dst_host, src_mac, dst_mac").unwrap_or_default()
            }
            _ => aggregate,
        },
    })
}

/// pmacct's default table of each schema version.
pub fn default_sql_table(version: u8) -> String {
    match version {
        0 | 1 => "acct".into(),
        v => format!("acct_v{v}"),
    }
}

/// Whether a table name (before its time variables expand) uses only safe characters: letters,
/// digits, `_`, `.` (schema-qualified names) and `%` variables. Names are pasted into SQL (they
/// cannot be bound as parameters), so nothing else may pass.
pub fn safe_table_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the table name is empty".into());
    }
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' => {}
            '%' => match chars.next() {
                Some(v) if "YmdHMSswWjz".contains(v) => {}
                other => {
                    return Err(format!(
                        "'%{}' is not a time variable (use %Y %m %d %H %M %S %s %w %W %j %z)",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            },
            c => {
                return Err(format!(
                    "character '{c}' is not allowed in a table name (letters, digits, '_', '.' and time variables only)"
                ))
            }
        }
    }
    if name.len() > 64 {
        return Err("a table name has at most 64 characters".into());
    }
    Ok(())
}

fn build_sql(r: &mut Reader, kind: PluginKind, name: &str, bin: Option<History>) -> SqlConfig {
    let backend = match kind {
        PluginKind::Pgsql => SqlBackend::Pgsql,
        PluginKind::Mysql => SqlBackend::Mysql,
        _ => SqlBackend::Sqlite3,
    };
    let table_version = r
        .typed("sql_table_version", |v| parse_uint(v, 1, 9))
        .unwrap_or(1) as u8;
    if r.text("sql_table_type")
        .is_some_and(|t| t.eq_ignore_ascii_case("bgp"))
    {
        r.error(
            "sql_table_type",
            "'bgp' tables need BGP primitives, which pmacct-rs does not have yet; use 'original'"
                .into(),
        );
    }
    let table = r
        .text("sql_table")
        .unwrap_or_else(|| default_sql_table(table_version));
    if let Err(message) = safe_table_name(&table) {
        r.error("sql_table", message);
    }
    let dont_try_update = r.bool("sql_dont_try_update", false);
    let refresh = r.uint("sql_refresh_time", 60) as i64;
    // Without UPDATE, a bin written by two purges would be two rows.
    let bin_len = bin.map(|h| h.seconds().unwrap_or(i64::MAX));
    if dont_try_update && bin_len.is_none_or(|len| refresh < len) {
        r.error(
            "sql_dont_try_update",
            "needs sql_history no longer than sql_refresh_time (each purge must write each bin once, or rows would be duplicated)"
                .into(),
        );
    }
    if dont_try_update && r.settings.get("sql_cache_entries").is_some() {
        r.error(
            "sql_cache_entries",
            "cannot go with sql_dont_try_update: a cache written early would insert the rest of its bins a second time"
                .into(),
        );
    }
    let db = r.text("sql_db").unwrap_or_else(|| match backend {
        SqlBackend::Sqlite3 => "/tmp/pmacct.db".into(),
        _ => "pmacct".into(),
    });
    let spool_file = r.path("sql_spool_file").unwrap_or_else(|| match backend {
        SqlBackend::Sqlite3 => PathBuf::from(format!("{db}.spool")),
        _ => PathBuf::from(format!("/var/lib/pmacct-rs/{name}.spool")),
    });
    let trigger_every = r
        .typed("sql_trigger_time", History::parse)
        .and_then(|h| h.seconds());
    SqlConfig {
        backend,
        db_at: r.at("sql_db"),
        db,
        table,
        table_version,
        table_schema: r.path("sql_table_schema"),
        table_schema_at: r.at("sql_table_schema"),
        optimize_clauses: r.bool("sql_optimize_clauses", false),
        host: r.text("sql_host").unwrap_or_else(|| "localhost".into()),
        port: r.typed("sql_port", |v| parse_uint(v, 1, 65535)).map_or(
            match backend {
                SqlBackend::Pgsql => 5432,
                _ => 3306,
            },
            |p| p as u16,
        ),
        user: r.text("sql_user").unwrap_or_else(|| "pmacct".into()),
        password: r
            .text("sql_passwd")
            .unwrap_or_else(|| "arealsmartpwd".into()),
        dont_try_update,
        backup_host: r.text("sql_backup_host"),
        spool_file,
        trigger_exec: trigger_command(r),
        trigger_every,
    }
}

/// `*_trigger_exec`, checked: it must split into words without needing a shell.
fn trigger_command(r: &mut Reader) -> Option<String> {
    r.typed("sql_trigger_exec", |v| {
        crate::command::split_command(v).map(|_| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{load, PluginOptions, PrintFormat};

    fn errors(text: &str) -> Vec<String> {
        let mut w = Vec::new();
        match load("b.conf", text, Vec::new(), &mut w) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn print_plugin_settings() {
        let mut w = Vec::new();
        let c = load(
            "b.conf",
            "plugins: print[p]\nprint_output[p]: CSV\nprint_history[p]: 1m\nprint_history_roundoff[p]: m\nprint_refresh_time[p]: 60\nprint_output_file[p]: /tmp/x-%Y.csv\n",
            Vec::new(),
            &mut w,
        )
        .unwrap();
        let p = &c.plugins[0];
        assert_eq!(p.refresh_time, 60);
        assert!(p.bins.is_some());
        match &p.options {
            PluginOptions::Print(o) => {
                assert_eq!(o.format, PrintFormat::Csv);
                assert_eq!(o.output_file.as_deref(), Some("/tmp/x-%Y.csv"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cross_key_errors() {
        assert_eq!(
            errors("plugins: print[p]\naggregate[p]: src_net\n"),
            vec!["b.conf:2: key 'aggregate' of plugin 'p': network primitives (src_net, dst_net, src_mask, dst_mask, sum_net) need networks_file or networks_mask"]
        );
        assert_eq!(
            errors("interface: eth0\npcap_savefile: /x.pcap\n"),
            vec!["b.conf:2: key 'pcap_savefile': pcap_interface, pcap_savefile are mutually exclusive: choose one input"]
        );
    }
}
