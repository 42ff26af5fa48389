//! The table of configuration keys: one row per key, the single source for parsing, validation,
//! `pmacctd --list-keys` and docs/config-keys.md.
//!
//! Adding a key is adding a row here and reading it in [`super::build`].

use super::value::ValueKind;

/// Where a key may be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The core process (capture, decode). A `key[name]` line is applied globally, with a warning.
    Core,
    /// Every plugin; an unnamed line applies to all plugins.
    Plugin,
    /// Plugins only, and must be bound to one by name (`aggregate_filter[name]`).
    NamedPlugin,
    /// The core and every plugin; `key[name]` sets one plugin apart (`proc_priority`).
    CoreAndPlugins,
}

/// How far pmacct-rs implements a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Recognised and validated, but it has no effect yet: a warning says so at start-up.
    NotYet,
    /// Accepted for compatibility, deliberately without effect (the reason is in `doc`).
    NoEffect,
}

/// One configuration key.
#[derive(Debug)]
pub struct KeyDef {
    pub name: &'static str,
    /// Other names pmacct accepts for the same setting (grouped keys such as
    /// `print_refresh_time` for `sql_refresh_time`).
    pub aliases: &'static [&'static str],
    pub scope: Scope,
    pub kind: ValueKind,
    /// The default as documented (empty when there is none).
    pub default: &'static str,
    pub support: Support,
    pub doc: &'static str,
}

use Scope::{Core, CoreAndPlugins, NamedPlugin, Plugin};
use Support::{NoEffect, NotYet, Yes};
use ValueKind as V;

const SYSLOG_FACILITIES: &[&str] = &[
    "auth", "mail", "daemon", "kern", "user", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

macro_rules! keys {
    ($( $name:literal $([$($alias:literal),*])? : $scope:ident, $kind:expr, $default:literal, $support:ident, $doc:literal; )*) => {
        /// Every key pmacct-rs knows, in documentation order.
        pub static KEYS: &[KeyDef] = &[
            $(KeyDef {
                name: $name,
                aliases: &[$($($alias),*)?],
                scope: $scope,
                kind: $kind,
                default: $default,
                support: $support,
                doc: $doc,
            },)*
        ];
    };
}

keys! {
    // --- daemon ---
    "daemonize": Core, V::Bool, "false", Yes, "Run in the background (fork and detach). `-D`.";
    "debug": Core, V::Bool, "false", Yes, "Debug logging. `-d`.";
    "pidfile": Core, V::Path, "", Yes, "Write the daemon's PID to this file; removed on clean exit. `-F`.";
    "logfile": Core, V::Path, "", Yes, "Log to this file (mode 0600) instead of stderr, lines prefixed by an ISO-8601 UTC time.";
    "syslog": Core, V::Choice(SYSLOG_FACILITIES), "", Yes, "Log to syslog with this facility, through /dev/log (ident `pmacctd`); where there is no syslog socket, to the logfile or stderr, with a warning. `-S`.";
    "files_umask": Core, V::Umask, "077", Yes, "umask for files and sockets the daemon creates.";
    "core_proc_name": Core, V::Text, "default", Yes, "Name of the core in log lines, `( name/core )`.";
    "dry_run": Core, V::Choice(&["config", "setup"]), "", Yes, "Check the configuration and exit: `config` parses and validates it, `setup` also opens inputs and files. `-T`.";
    "propagate_signals": Core, V::Bool, "false", NoEffect, "pmacct-rs is one process: signals always reach every plugin.";
    "plugin_exit_any": Core, V::Bool, "false", NoEffect, "pmacct-rs plugins are threads of one process; a failing plugin logs and keeps the others running.";
    "proc_priority": CoreAndPlugins, V::Nice, "0", Yes, "Scheduling priority (nice value) of the daemon; `proc_priority[name]` sets one plugin's threads apart. Raising priority (negative values) needs CAP_SYS_NICE; a refusal is logged.";
    "files_uid": Core, V::User, "", Yes, "Owner (user name or uid) of the files and directories the daemon creates: pidfile, logfile, print output files, memory socket, SQLite databases, spool files. Needs root (or CAP_CHOWN); a refusal is logged.";
    "files_gid": Core, V::Group, "", Yes, "Group (name or gid) of the files and directories the daemon creates (as files_uid).";
    "metrics_listen": Core, V::Text, "", Yes, "pmacct-rs: ADDRESS:PORT of an HTTP endpoint (`/metrics`) serving the daemon's own metrics (pmacct_daemon_*: packets received, kernel drops, malformed by reason, per-plugin records, drops, held aggregates, SQL retries and spool), with or without a prometheus plugin.";
    "web_listen": Core, V::Text, "", Yes, "pmacct-rs: PORT or ADDRESS:PORT of the web page and its JSON API (docs/web.md); a bare PORT listens on 127.0.0.1 only.";
    "web_user": Core, V::Text, "", Yes, "pmacct-rs: the user name of the page's HTTP Basic authentication (with web_password_hash or web_password_file); every path but /healthz then needs it.";
    "web_password_hash": Core, V::Text, "", Yes, "pmacct-rs: the page's password as an Argon2 hash (`$argon2id$...`, made with `pmacctd --hash-password`); never logged.";
    "web_password_file": Core, V::Path, "", Yes, "pmacct-rs: a file holding the page's password (first line), readable by its owner only; never logged.";
    "web_read_only": Core, V::Bool, "true", Yes, "pmacct-rs: 'false' lets the page name devices, written to web_names_file; nothing else is ever changed from the page.";
    "web_source": Core, V::Text, "", Yes, "pmacct-rs: the plugin whose data the page's usage views read: a sqlite3 or a memory plugin (default: the first sqlite3 plugin, else the first memory plugin).";
    "web_local_net": Core, V::Text, "", Yes, "pmacct-rs: the local networks of the page's devices, comma-separated (default: a quota plugin's quota_local_net, else 10/8, 172.16/12, 192.168/16, fc00::/7).";
    "dhcp_leases_file": Core, V::Path, "", Yes, "pmacct-rs: a DHCP lease file (ISC dhcpd's dhcpd.leases as on IPFire, or dnsmasq's as on OpenWrt) naming devices on the web page, like `pmacct report --leases`; read at each report, so changes show at once (docs/names.md).";
    "web_names_file": Core, V::Path, "", Yes, "pmacct-rs: 'ADDRESS NAME' lines naming devices by IP or MAC address on the page (the format of `pmacct report --names`).";
    "web_billing_day": Core, V::Uint(1, 28), "1", Yes, "pmacct-rs: the day of the month (1-28) a billing cycle starts on, for the page's 'this cycle' and 'last cycle' periods.";
    "drop_privileges_user": Core, V::User, "", Yes, "pmacct-rs: once captures, sockets and files are open, run as this user (its primary group unless drop_privileges_group), keeping only CAP_NET_RAW and CAP_NET_ADMIN to reopen captures (docs/operations.md).";
    "drop_privileges_group": Core, V::Group, "", Yes, "pmacct-rs: the group to run as after the privilege drop (default: the user's primary group).";
    // --- capture ---
    "pcap_interface" ["interface"]: Core, V::Text, "", Yes, "Interface to capture on. `-i`. `interface` is accepted as an alias (pmacct 1.7.7 ignores it).";
    "pcap_interfaces_map": Core, V::Path, "", Yes, "File of `ifindex=N ifname=IF [direction=in|out]` lines: capture on several interfaces at once.";
    "pcap_ifindex": Core, V::Choice(&["sys", "hash", "map", "none"]), "none", Yes, "Source of the in_iface/out_iface id: the system ifindex, a hash of the name, the map's ifindex, or 0.";
    "pcap_direction": Core, V::Choice(&["in", "out"]), "", Yes, "Capture only this direction; fills in_iface (in) or out_iface (out).";
    "pcap_filter": Core, V::Filter, "", Yes, "libpcap filter compiled into the capture (trailing command-line words set it too).";
    "pcap_protocol": Core, V::Text, "", NotYet, "pcap_set_protocol() value.";
    "pcap_interface_wait": Core, V::Bool, "false", Yes, "Wait for the interface to appear instead of failing. `-w`.";
    "pcap_savefile": Core, V::Path, "", Yes, "Read packets from this pcap or pcapng file instead of an interface. `-I`.";
    "pcap_savefile_wait": Core, V::Bool, "false", Yes, "After the file, keep running (plugins keep serving) until signalled. `-W`.";
    "pcap_savefile_delay": Core, V::Uint(0, 86400), "0", Yes, "Seconds to wait before reading the file. `-Z`.";
    "pcap_savefile_replay": Core, V::Uint(1, u64::MAX), "1", Yes, "Read the file this many times. `-Y`.";
    // --- nfacctd ---
    "nfacctd_ip" ["sfacctd_ip"]: Core, V::Text, "", Yes, "nfacctd, sfacctd: the address to listen on for NetFlow/IPFIX (all IPv4 and IPv6 addresses when unset). `-L`.";
    "nfacctd_port" ["sfacctd_port"]: Core, V::Uint(0, 65535), "2100", Yes, "nfacctd, sfacctd: the UDP port to listen on (sfacctd: 6343 unless set). `-l`. With pcap_savefile, only datagrams to this port are read when it is set (pmacct refuses the two together).";
    "nfacctd_pipe_size" ["sfacctd_pipe_size"]: Core, V::Uint(0, 2147483647), "", Yes, "nfacctd, sfacctd: the socket's receive buffer in bytes (SO_RCVBUF); a warning says when net.core.rmem_max caps it.";
    "nfacctd_time_new" ["sfacctd_time_new"]: Core, V::Bool, "false", Yes, "nfacctd, sfacctd: bin flows by their arrival instead of their start time.";
    "nfacctd_templates_file": Core, V::Path, "", Yes, "nfacctd: templates are read from this file at start and written to it at exit, so data after a restart decodes before the exporters resend their templates.";
    "nfacctd_allow_file" ["sfacctd_allow_file"]: Core, V::Path, "", Yes, "nfacctd, sfacctd: the exporters allowed to send (one address or prefix per line; an empty file allows none). Datagrams from others are counted (denied_datagrams) and dropped. Reloaded on SIGUSR2.";
    "nfacctd_net" ["sfacctd_net"]: Core, V::Choice(&["netflow", "sflow", "file", "mask", "longest"]), "netflow", Yes, "nfacctd, sfacctd: where src_net, dst_net, src_mask and dst_mask come from: the flow's masks (netflow; sflow: the extended router record's), networks_file (file), networks_mask (mask), or the longer prefix of networks_file's and the flow's (longest; the flow's on a tie). pmacct's igp, bgp and bmp need daemons pmacct-rs does not have.";
    "nfacctd_as" ["sfacctd_as"]: Core, V::Choice(&["netflow", "sflow", "file", "longest"]), "netflow", Yes, "nfacctd, sfacctd: where src_as and dst_as come from: the flow (netflow; sflow: the extended gateway record), networks_file's AS column (file; 0 where no line matches), or the file where its prefix is longer than the flow's mask (longest). pmacct's bgp and bmp need daemons pmacct-rs does not have.";
    "sfacctd_counter_file": Core, V::Path, "", Yes, "sfacctd: counter samples are appended to this file as pmacct's JSON lines, one file per agent when the name holds `$peer_src_ip` (IPv4 dots and IPv6 colons become `_`); SIGHUP reopens it. The latest interface counters are also on the metrics endpoint (`pmacct_sflow_interface_*`).";
    "decode_vxlan": Core, V::Bool, "false", Yes, "pmacct-rs, sfacctd and nfacctd: a sampled frame (an sFlow sampled header, IPFIX dataLinkFrameSection) that is VXLAN (UDP port 4789) is accounted by its inner frame: MAC addresses, VLAN, IP addresses, ports, protocol and the filters see the inner packet; packets and bytes stay what the sample says (the outer frame on the wire).";
    "sfacctd_counter_output": Core, V::Choice(&["json"]), "json", Yes, "sfacctd: the counter file's format (JSON lines, as pmacct).";
    "sampling_map": Core, V::Path, "", Yes, "nfacctd: the sampling rate per exporter (and interface) to use instead of the advertised one: lines of id=RATE ip=ADDR[/LEN] [in=ID] [out=ID]. Reloaded on SIGUSR2 with maps_refresh.";
    "nfacctd_disable_checks" ["nfacctd_disable_sanity_checks", "sfacctd_disable_checks"]: Core, V::Bool, "false", Yes, "nfacctd: no log lines about sequence gaps (they are still counted in the stats line and metrics). `nfacctd_disable_sanity_checks` is the newer pmacct spelling.";
    "promisc": Core, V::Bool, "true", Yes, "Put the interface in promiscuous mode. `-N` sets false.";
    "snaplen": Core, V::Uint(64, 262144), "128", Yes, "Bytes captured per packet. `-L`.";
    "aggregate_unknown_etype": Core, V::Bool, "false", Yes, "Account non-IP frames too (L2 primitives only).";
    "pmacctd_nonroot": Core, V::Bool, "false", NoEffect, "pmacct-rs does not check for root: it needs only the capture capabilities (cap_net_raw, cap_net_admin). `-z`.";
    "pmacctd_force_frag_handling": Core, V::Bool, "false", NoEffect, "Fragments are always tracked when a plugin aggregates ports.";
    "pmacctd_frag_buffer_size": Core, V::Uint(0, u64::MAX), "4194304", NoEffect, "Fragment tracking is bounded by a fixed entry count instead.";
    "pmacctd_flow_buffer_size": Core, V::Uint(0, u64::MAX), "16777216", NotYet, "Flow buffer (flows primitive).";
    "pmacctd_flow_buffer_buckets": Core, V::Uint(0, u64::MAX), "256", NotYet, "Flow buffer buckets.";
    "pmacctd_flow_lifetime": Core, V::Uint(0, u64::MAX), "60", NotYet, "Flow lifetime.";
    "pmacctd_time_new": Core, V::Bool, "false", NotYet, "Use arrival time instead of the packet's timestamp.";
    // --- aggregation (per plugin) ---
    "aggregate": Plugin, V::Aggregate, "src_host", Yes, "Primitives that make the key of each aggregate. `-c`.";
    "aggregate_filter": NamedPlugin, V::Filter, "", Yes, "libpcap filter selecting the packets this plugin accounts (applies to pcap files too, unlike pmacct).";
    "networks_file": Plugin, V::Path, "", Yes, "Networks for src_net/dst_net/src_mask/dst_mask (longest prefix match). `-n`.";
    "networks_mask": Plugin, V::Uint(0, 128), "", Yes, "Static mask applied to src_net/dst_net when no networks_file entry matches.";
    "networks_file_filter": Plugin, V::Bool, "false", Yes, "Zero the host and net of addresses outside every listed network.";
    "networks_file_no_lpm": Plugin, V::Bool, "false", NotYet, "Make networks_file always win over other net sources.";
    "networks_no_mask_if_zero": Plugin, V::Bool, "false", NotYet, "Keep the address when the matched mask is zero.";
    "ports_file": Plugin, V::Path, "", Yes, "Ports to keep; other ports are aggregated as 0. `-t`.";
    "sampling_rate": Plugin, V::Uint(1, 4294967295), "", Yes, "Random 1-in-N packet sampling per plugin; the `sampling_rate` primitive reports N.";
    "pmacctd_ext_sampling_rate" ["nfacctd_ext_sampling_rate", "sfacctd_ext_sampling_rate"]: Core, V::Uint(1, 4294967295), "", Yes, "pmacctd: the traffic was already sampled 1-in-N before capture (a sampling port): reported by `sampling_rate` and used by renormalization; no further sampling. nfacctd, sfacctd (as pmacct 1.7.7): the rate renormalization uses instead of the one the exporter reports or an sFlow sample pool says (for exporters that report none or a wrong one); `sampling_rate` still reports the exporter's.";
    "nfacctd_pro_rating": Plugin, V::Bool, "false", Yes, "nfacctd, plugins with time bins: a flow's packets and bytes are shared among the bins it spans, by the seconds it spends in each (its flows count in its first bin). No effect with nfacctd_time_new.";
    "pmacctd_renormalize" ["sfacctd_renormalize", "nfacctd_renormalize"]: Plugin, V::Bool, "false", Yes, "Multiply sampled packets and bytes by the rate (sampling_rate times pmacctd_ext_sampling_rate); `sampling_rate` then reports 1. `-R`.";
    // --- tags ---
    "aggregate_primitives": Core, V::Path, "", Yes, "nfacctd: a file of custom primitives (`name=... field_type=[PEN:]id len=N|vlen semantics=u_int|hex|ip|mac|str|raw`), then named in `aggregate` like any other; read once at start-up (see docs/nfacctd.md). pmacct's packet_ptr (pmacctd) is not supported yet.";
    "geoipv2_file": Core, V::Path, "", Yes, "A MaxMind-format database (GeoLite2/GeoIP2 City or Country, .mmdb) for src_host_country, dst_host_country, src_host_pocode, dst_host_pocode, src_host_coords and dst_host_coords. Read at start (a missing or unreadable file is an error), looked up only when a plugin aggregates one of them, and loaded again on SIGUSR2 and when the file changes; a new file that does not read keeps the previous one (docs/names.md).";
    "geoipv2_asn_file": Core, V::Path, "", Yes, "pmacct-rs: a MaxMind-format ASN database (GeoLite2-ASN) for src_as and dst_as where the input gives none (pmacctd always; nfacctd/sfacctd where the flow's AS is 0), and for src_as_name and dst_as_name. Reloaded like geoipv2_file (docs/names.md).";
    "names_cache_entries": Core, V::Uint(1, 16_777_216), "65536", Yes, "pmacct-rs: how many (client, server) names each input keeps for src_host_name/dst_host_name (docs/names.md); at the bound expired names go first, then the names learned longest ago (counted).";
    "names_learned_file": Core, V::Path, "", Yes, "pmacct-rs: learn local device names from the wire (DHCP host names, options 12 and 81; mDNS `.local` announcements) and keep them in this file, in dnsmasq's lease format, for `pmacct report --leases` and the web page; read back at start. Nothing is learned without it (docs/names.md).";
    "names_grace": Core, V::Uint(0, 86_400), "300", Yes, "pmacct-rs: seconds a name stays after its DNS answer's TTL ran out (connections outlive TTLs), and after a TLS, HTTP or QUIC connection last named it (docs/names.md).";
    "pre_tag_map": Core, V::Path, "", Yes, "Rules setting each packet's tag, tag2 and label (see docs/tags.md); pmacct-rs adds matches on the capturing interface (`ifname=`) and on in_iface/out_iface (`in=`, `out=`).";
    "maps_refresh": Core, V::Bool, "true", Yes, "Reload the pre_tag_map (nfacctd: also nfacctd_allow_file and sampling_map) on SIGUSR2; a map that does not parse is logged and the old one kept. false: SIGUSR2 leaves them as they are.";
    "maps_entries": Core, V::Uint(1, u64::MAX), "384", NoEffect, "Maps grow as needed.";
    "maps_index": Core, V::Bool, "false", NoEffect, "Rules are evaluated in order; maps are small.";
    "pre_tag_filter": NamedPlugin, V::Text, "", Yes, "Tags this plugin accounts: a comma list of tags and A-B ranges, 0 for untagged, -N to exclude.";
    "pre_tag2_filter": NamedPlugin, V::Text, "", Yes, "As pre_tag_filter, for tag2.";
    "pre_tag_label_filter": NamedPlugin, V::Text, "", Yes, "Labels this plugin accounts: a comma list, `null` for unlabelled, -LABEL to exclude.";
    "post_tag": Plugin, V::Uint(1, u64::MAX), "", Yes, "A constant tag for everything this plugin accounts (replaces the pre_tag_map's).";
    "post_tag2": Plugin, V::Uint(1, u64::MAX), "", Yes, "As post_tag, for tag2.";
    "timestamps_utc": Plugin, V::Bool, "false", Yes, "Print times (stamps, file names) in UTC instead of local time.";
    "timestamps_secs": Plugin, V::Bool, "false", Yes, "Print timestamp_* primitives without microseconds.";
    "timestamps_since_epoch": Plugin, V::Bool, "false", Yes, "Print times as seconds since the epoch.";
    "plugin_buffer_size": Plugin, V::Uint(0, u64::MAX), "", Yes, "Bytes of records batched before they are handed to the plugin (pmacct-rs turns it into a record count, at most 4096; default 4096).";
    "plugin_pipe_size": Plugin, V::Uint(0, u64::MAX), "", Yes, "Bytes of batches queued towards the plugin (pmacct-rs turns it into a batch count, at most 64 MiB of records; default 64 batches).";
    "plugin_queue_when_full": Plugin, V::Choice(&["block", "drop"]), "", Yes, "pmacct-rs: what live capture does when this plugin's queue is full: `drop` (default; counted and logged) or `block` (capture waits; the kernel may drop instead). Reading a file always blocks.";
    // --- cache / purge (print; shared with sql/amqp/kafka) ---
    "sql_refresh_time" ["print_refresh_time", "amqp_refresh_time", "kafka_refresh_time"]: Plugin, V::Uint(1, u64::MAX), "60", Yes, "Seconds between purges of the plugin's cache. `-r`.";
    "sql_history" ["print_history", "amqp_history", "kafka_history"]: Plugin, V::History, "", Yes, "Length of a time bin: `<n>[s|m|h|d|w|M]`.";
    "sql_history_roundoff" ["print_history_roundoff", "amqp_history_roundoff", "kafka_history_roundoff"]: Plugin, V::Roundoff, "", Yes, "Align bins: m (top of the hour), h (midnight), d (1st of the month), w (Monday), M (January 1st), applied in the order written.";
    "sql_history_offset" ["print_history_offset", "amqp_history_offset", "kafka_history_offset"]: Plugin, V::Uint(0, u64::MAX), "0", Yes, "Seconds to shift bin starts by (less than a bin).";
    "sql_startup_delay" ["print_startup_delay", "amqp_startup_delay", "kafka_startup_delay"]: Plugin, V::Uint(0, u64::MAX), "0", Yes, "Seconds the first purge is delayed by (the following ones keep their schedule), to spread the purges of several plugins.";
    "sql_cache_entries" ["print_cache_entries", "amqp_cache_entries", "kafka_cache_entries"]: Plugin, V::Uint(1, u64::MAX), "", Yes, "Print and SQL plugins: the most aggregates held between purges; reaching it writes them early (pmacct: a hash size, reaching its entries forces an early write). A print file written early is appended to by the next purge of its bin. Unset: the cache grows as needed.";
    "sql_max_writers" ["print_max_writers", "amqp_max_writers", "kafka_max_writers"]: Plugin, V::Uint(1, u64::MAX), "10", NoEffect, "Purges are written by the plugin's own thread, one at a time.";
    "sql_num_protos" ["print_num_protos", "amqp_num_protos", "kafka_num_protos"]: Plugin, V::Bool, "false", Yes, "Print protocol numbers instead of names. `-u`.";
    "sql_trigger_exec" ["print_trigger_exec", "amqp_trigger_exec", "kafka_trigger_exec", "quota_trigger_exec"]: Plugin, V::Text, "", Yes, "Command run after each purge, without a shell: words split as a shell does (quotes, backslashes), the program looked up in PATH; shell syntax (`&&`, `>`, `$`, ...) is an error. One run at a time per plugin; its exit status and output are logged (see docs/operations.md).";
    "sql_trigger_timeout" ["print_trigger_timeout", "amqp_trigger_timeout", "kafka_trigger_timeout", "quota_trigger_timeout"]: Plugin, V::Uint(1, 86400), "60", Yes, "pmacct-rs: seconds a trigger may run before it is killed (logged).";
    "sql_trigger_cwd" ["print_trigger_cwd", "amqp_trigger_cwd", "kafka_trigger_cwd", "quota_trigger_cwd"]: Plugin, V::Path, "", Yes, "pmacct-rs: the trigger's working directory (default: the folder of the file just written, else the daemon's).";
    "sql_trigger_time": Plugin, V::History, "", Yes, "Run the SQL trigger at most once per this interval (default: after every purge).";
    "sql_preprocess" ["print_preprocess", "amqp_preprocess", "kafka_preprocess"]: Plugin, V::Text, "", NotYet, "Checks applied before writing.";
    "sql_preprocess_type" ["print_preprocess_type", "amqp_preprocess_type", "kafka_preprocess_type"]: Plugin, V::Choice(&["any", "all"]), "any", NotYet, "How preprocess checks combine.";
    "sql_table" ["print_output_file"]: Plugin, V::Path, "", Yes, "print: output file, default stdout; SQL: table name, default from sql_table_version (letters, digits, `_`, `.` and time variables only). Time variables `%Y %m %d %H %M %S %s %w %W %j %z` expand from the bin start. `-o`.";
    "print_output": Plugin, V::Choice(&["formatted", "csv", "json", "influx", "event_formatted", "event_csv", "avro", "avro_json", "custom"]), "formatted", Yes, "Output format of print: formatted, csv, json, or (pmacct-rs) influx, InfluxDB line protocol for Telegraf's file inputs. `-O`.";
    "print_output_file_append": Plugin, V::Bool, "false", Yes, "Append to the output file instead of replacing it. `-A`.";
    "print_output_separator": Plugin, V::Separator, ",", Yes, "CSV separator. `-E`.";
    "print_output_lock_file": Plugin, V::Path, "", NoEffect, "Purges are serialised inside the process.";
    "print_latest_file": Plugin, V::Path, "", Yes, "Symlink pointed at the newest output file.";
    "imt_history": Plugin, V::History, "", Yes, "pmacct-rs, memory plugin: keep each key per time bin of this length (`sql_history_roundoff`, `sql_history_offset` apply), so `pmacct report --pipe` can cut days; the client shows each entry's bin start (STAMP_INSERTED). pmacct's memory plugin has no bins, and ignores sql_history/print_history, as this one does.";
    "prometheus_listen": Plugin, V::Text, "", Yes, "pmacct-rs, prometheus plugin: ADDRESS:PORT of its HTTP endpoint (`/metrics`): pmacct_bytes_total, pmacct_packets_total, pmacct_flows_total labelled with the aggregate's primitives and `plugin`, plus the daemon's pmacct_daemon_* metrics (docs/prometheus.md).";
    "prometheus_max_series": Plugin, V::Uint(1, 10_000_000), "10000", Yes, "pmacct-rs, prometheus plugin: series per metric: the top ones by bytes, plus one series whose labels are all `other` carrying the rest exactly.";
    "prometheus_expire": Plugin, V::Uint(0, 31_536_000), "3600", Yes, "pmacct-rs, prometheus plugin: seconds a series may stay unchanged before it is dropped (0: never).";
    "influxdb_url": Plugin, V::Text, "http://127.0.0.1:8086", Yes, "pmacct-rs, influxdb plugin: the server (http://HOST:PORT); each purge is written as line protocol, gzip'd, timestamps = the time bin (docs/influxdb.md).";
    "influxdb_db": Plugin, V::Text, "pmacct", Yes, "pmacct-rs, influxdb plugin, InfluxDB 1.x: the database.";
    "influxdb_rp": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, 1.x: the retention policy (default: the database's).";
    "influxdb_user": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, 1.x: the user (HTTP basic authentication).";
    "influxdb_password": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, 1.x: the password.";
    "influxdb_org": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, InfluxDB 2.x: the organisation (setting any 2.x key selects /api/v2/write).";
    "influxdb_bucket": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, 2.x: the bucket.";
    "influxdb_token": Plugin, V::Text, "", Yes, "pmacct-rs, influxdb plugin, 2.x: the API token.";
    "influxdb_measurement": Plugin, V::Text, "pmacct", Yes, "pmacct-rs, influxdb plugin: the measurement; tags are the aggregate's primitives, fields bytes, packets, flows.";
    "influxdb_spool_file": Plugin, V::Path, "", Yes, "pmacct-rs, influxdb plugin: where unsent batches wait across a restart when the server is down at exit (default /var/lib/pmacct-rs/influxdb-NAME.spool).";
    "quota_map": Plugin, V::Path, "", Yes, "pmacct-rs, quota plugin: the caps file (one cap per line: name=, device= or net=, limit=, period=day|week|month, reset=, direction=down|up|both, alerts=80,100; docs/caps.md).";
    "quota_state": Plugin, V::Path, "", Yes, "pmacct-rs, quota plugin: SQLite file holding usage per cap and period and the alerts fired, so a restart neither forgets nor repeats (default /var/lib/pmacct-rs/quota-NAME.db). `pmacct caps --state FILE` shows it.";
    "quota_local_net": Plugin, V::Text, "", Yes, "pmacct-rs, quota plugin: the local networks, comma-separated (default 10/8, 172.16/12, 192.168/16, fc00::/7): traffic from them is upload, to them download.";
    "quota_webhook": Plugin, V::Text, "", Yes, "pmacct-rs, quota plugin: an http:// URL that receives each alert as a JSON POST (retried 5 times, 1 to 16 s apart).";
    "print_write_empty_file": Plugin, V::Bool, "false", Yes, "Write the file (header only) even when the purge has no entries.";
    "print_trigger_on_empty": Plugin, V::Bool, "false", Yes, "pmacct-rs: run print_trigger_exec after a purge with no rows too (PMACCT_PURGED_ENTRIES=0), e.g. so a script sees quiet minutes; print_write_empty_file implies it. SQL triggers always run, as pmacct's.";
    "print_markers": Plugin, V::Bool, "false", Yes, "Start/end markers around each purge. `-M`.";
    // --- memory ---
    "imt_path": Plugin, V::Path, "/tmp/collect.pipe", Yes, "Unix socket the `pmacct` client queries. `-p`.";
    "imt_buckets": Plugin, V::Uint(1, u64::MAX), "32771", NoEffect, "Initial table size hint; the table grows as needed.";
    "imt_mem_pools_number": Plugin, V::Uint(0, u64::MAX), "16", Yes, "With imt_mem_pools_size, the memory bound of the table; 0 = unbounded. Neither key set: 64 MiB. `-m`.";
    "imt_mem_pools_size": Plugin, V::Uint(1, u64::MAX), "8192", Yes, "Bytes per memory pool. `-s`.";
    // --- SQL (sqlite3, pgsql, mysql) ---
    "sql_db": Plugin, V::Text, "pmacct", Yes, "Database name; sqlite3: the database file (default /tmp/pmacct.db), whose directory must exist.";
    "sql_table_version": Plugin, V::Uint(1, 9), "1", Yes, "Default schema version (1 to 9): its columns and default table name (acct, acct_v2 ... acct_v9).";
    "sql_table_type": Plugin, V::Choice(&["original", "bgp"]), "original", Yes, "Schema family; only `original` (pmacct-rs has no BGP primitives yet).";
    "sql_table_schema": Plugin, V::Path, "", Yes, "File with the CREATE TABLE used when the table does not exist (time variables expanded); default: created from sql_table_version.";
    "sql_host": Plugin, V::Text, "localhost", Yes, "Database host (pgsql, mysql); mysql also `unix:/path/to/socket`.";
    "sql_port": Plugin, V::Uint(1, 65535), "", Yes, "Database port (default 5432 pgsql, 3306 mysql).";
    "sql_user": Plugin, V::Text, "pmacct", Yes, "Database user.";
    "sql_passwd": Plugin, V::Text, "arealsmartpwd", Yes, "Database password (pmacct's default is `arealsmartpwd`).";
    "sql_optimize_clauses": Plugin, V::Bool, "false", Yes, "Write only the aggregated columns (plus counters and stamps), for custom or stripped-down tables.";
    "sql_dont_try_update": Plugin, V::Bool, "false", Yes, "INSERT without trying UPDATE first (safe only when each purge writes each bin once: history equal to the refresh time).";
    "sql_multi_values": Plugin, V::Uint(0, u64::MAX), "0", NoEffect, "pmacct-rs always writes a purge in one transaction with prepared statements, which is faster than multi-row INSERTs.";
    "sql_locking_style": Plugin, V::Choice(&["table", "row", "none"]), "table", NoEffect, "One writer per plugin, one transaction per purge.";
    "sql_backup_host" ["sql_recovery_backup_host"]: Plugin, V::Text, "", Yes, "Secondary database tried when the primary fails (sqlite3: another database file); what neither takes is kept and retried.";
    "sql_spool_file": Plugin, V::Path, "", Yes, "pmacct-rs: where rows the database could not take are kept across restarts (default: the database file plus `.spool` for sqlite3, /var/lib/pmacct-rs/NAME.spool otherwise).";
    "sql_num_hosts": Plugin, V::Bool, "false", NotYet, "Hosts as integers (INET_ATON).";
    "sql_recovery_logfile": Plugin, V::Path, "", NoEffect, "Removed from pmacct long ago; accepted so old configs (Debian's sample) still start.";
    // --- nfprobe (pmacctd) ---
    "nfprobe_receiver": Plugin, V::Text, "127.0.0.1:2100", Yes, "nfprobe: where flows are exported, `address:port`, `[IPv6]:port` or `host:port` (resolved at start). pmacct-rs: several receivers, comma-separated, each get every datagram.";
    "nfprobe_version": Plugin, V::Choice(&["5", "9", "10"]), "10", Yes, "nfprobe: NetFlow v5, NetFlow v9 or IPFIX (10). v5 carries IPv4 flows only: IPv6 flows are counted (`unexportable`) and not sent.";
    "nfprobe_timeouts": Plugin, V::Text, "tcp=3600:tcp.rst=120:tcp.fin=300:udp=300:icmp=300:general=3600:maxlife=604800:expint=60", Yes, "nfprobe: `name=seconds` pairs joined by `:`; idle timeouts by protocol (tcp, tcp.rst after a RST, tcp.fin after a FIN, udp, icmp, general), the longest life of a flow (maxlife) and the interval between checks (expint). Unnamed timeouts keep their default.";
    "nfprobe_maxflows": Plugin, V::Uint(1, 100_000_000), "8192", Yes, "nfprobe: flows tracked at once. A new flow in a full table first exports the least recently seen sixteenth of it (logged, counted as `forced` in the stats line): nothing is lost, flows are only cut short.";
    "nfprobe_engine": Plugin, V::Text, "0:0", Yes, "nfprobe: v5 `engine_type:engine_id` (each 0-255); v9 source id / IPFIX observation domain id (one number, 32 bits).";
    "nfprobe_source_ip": Plugin, V::Text, "", Yes, "nfprobe: local address the datagrams are sent from (must be configured on an interface).";
    "nfprobe_hoplimit": Plugin, V::Uint(1, 255), "", Yes, "nfprobe: TTL / hop limit of the datagrams (default: the system's).";
    "nfprobe_ipprec" ["sfprobe_ipprec", "tee_ipprec"]: Plugin, V::Uint(0, 7), "0", Yes, "nfprobe, tee: IP precedence of the datagrams sent.";
    "nfprobe_direction" ["sfprobe_direction"]: Plugin, V::Choice(&["in", "out", "tag", "tag2"]), "", Yes, "nfprobe: the flows' direction (IE 61): in, out, or per flow from tag/tag2 (1 in, 2 out, other values: none). It also says which ifIndex nfprobe_ifindex sets.";
    "nfprobe_ifindex" ["sfprobe_ifindex"]: Plugin, V::Text, "", Yes, "nfprobe: ifIndex of the flows (input, or output with nfprobe_direction: out): a number, or per flow tag / tag2. Used where the interfaces map gave none.";
    "nfprobe_ifindex_override" ["sfprobe_ifindex_override"]: Plugin, V::Bool, "false", Yes, "nfprobe: a non-zero nfprobe_ifindex replaces the ifIndex the interfaces map gave.";
    "nfprobe_dont_cache": Plugin, V::Bool, "false", Yes, "nfprobe: no flow cache: every packet is exported as a flow of its own at once.";
    "nfprobe_tstamp_usec": Plugin, V::Bool, "false", Yes, "nfprobe: flow start and end to the microsecond (v9 and IPFIX IEs 154/155, NTP format) instead of milliseconds (IPFIX 152/153, v9 sysUptime 22/21).";
    "nfprobe_peer_as" ["sfprobe_peer_as"]: Plugin, V::Bool, "false", NotYet, "Peer AS instead of origin AS (needs a BGP daemon).";
    "nfprobe_dtls": Plugin, V::Bool, "false", NotYet, "Export over DTLS.";
    "nfprobe_dtls_verify_cert": Plugin, V::Text, "", NotYet, "DTLS: the receiver's expected certificate name.";
    // --- amqp ---
    "amqp_host": Plugin, V::Text, "localhost", Yes, "amqp: the RabbitMQ broker. pmacct always connects to port 5672; pmacct-rs also takes `host:port` (`[IPv6]:port`).";
    "amqp_vhost": Plugin, V::Text, "/", Yes, "amqp: the virtual host.";
    "amqp_user": Plugin, V::Text, "guest", Yes, "amqp: the user (PLAIN login).";
    "amqp_passwd": Plugin, V::Text, "guest", Yes, "amqp: the password.";
    "amqp_exchange": Plugin, V::Text, "pmacct", Yes, "amqp: the exchange messages are published to (declared at connection; durable with amqp_persistent_msg).";
    "amqp_exchange_type": Plugin, V::Choice(&["direct", "fanout", "topic", "headers"]), "direct", Yes, "amqp: the exchange's type.";
    "amqp_routing_key": Plugin, V::Text, "acct", Yes, "amqp: the routing key; variables `$peer_src_ip`, `$peer_dst_ip`, `$tag`, `$tag2`, `$post_tag`, `$post_tag2`, `$in_iface`, `$out_iface`, `$src_host`, `$dst_host`, `$proto` take each record's value (addresses with `.` and `:` as `_`), so records go in messages by key.";
    "amqp_routing_key_rr": Plugin, V::Uint(0, 4294967295), "0", Yes, "amqp: spread messages over this many routing keys, `<key>_0`, `<key>_1`, ... in turn.";
    "amqp_persistent_msg": Plugin, V::Bool, "false", Yes, "amqp: persistent messages (delivery mode 2) and a durable exchange.";
    "amqp_frame_max": Plugin, V::Uint(4096, 4294967295), "131072", Yes, "amqp: the largest frame asked for (the broker's limit wins).";
    "amqp_heartbeat_interval": Plugin, V::Uint(0, 65535), "0", Yes, "amqp: heartbeat seconds asked for (0: none).";
    "amqp_multi_values" ["kafka_multi_values"]: Plugin, V::Uint(0, u64::MAX), "0", Yes, "amqp: up to this many bytes of records per message, each record followed by a newline (0: one record per message).";
    "amqp_markers" ["kafka_markers"]: Plugin, V::Bool, "false", Yes, "amqp: a `purge_init` message before each purge and a `purge_close` message after it (`purged_entries`, `total_entries`, `duration`), with the plugin's writer_id.";
    "amqp_output" ["kafka_output"]: Plugin, V::Choice(&["json", "avro", "avro_json"]), "json", Yes, "amqp, kafka: message format: json (pmacct's objects), avro (Apache Avro binary records, no container: the schema is in avro_schema_file) or avro_json (Avro's JSON encoding).";
    "avro_schema_file" ["avro_schema_output_file"]: Plugin, V::Path, "", Yes, "amqp, kafka: with avro or avro_json output, the record schema is written here at start (and the markers' schemas to FILE.purge_init and FILE.purge_close with markers on).";
    "kafka_avro_schema_registry": Plugin, V::Text, "", Yes, "kafka: Confluent's schema registry is not supported by pmacct-rs (an error at start): consumers read the schema from avro_schema_file.";
    "avro_buffer_size": Plugin, V::Uint(1, u64::MAX), "8192", NoEffect, "amqp, kafka: accepted for pmacct's configurations; pmacct-rs never cuts a message inside a record, so *_multi_values alone sizes messages.";
    "amqp_spool_file": Plugin, V::Path, "", Yes, "pmacct-rs, amqp: where messages the broker has not taken are kept at exit and sent first at the next start (default /var/lib/pmacct-rs/NAME.amqp-spool).";
    // --- kafka ---
    "kafka_broker_host": Plugin, V::Text, "127.0.0.1", Yes, "kafka: the broker (bootstrap) host; a comma-separated list, or `host:port`, is passed to librdkafka as written.";
    "kafka_broker_port": Plugin, V::Uint(1, 65535), "9092", Yes, "kafka: the broker's port (with a single kafka_broker_host without one).";
    "kafka_topic": Plugin, V::Text, "pmacct.acct", Yes, "kafka: the topic; the routing key's variables (`$peer_src_ip`, `$tag`, ...) take each record's value.";
    "kafka_topic_rr": Plugin, V::Uint(0, 4294967295), "0", Yes, "kafka: spread messages over this many topics, `<topic>_0` ... in turn.";
    "kafka_partition": Plugin, V::Uint(0, 2147483647), "", Yes, "kafka: every message to this partition (1.7.7 ignores it unless kafka_partition_dynamic is set; pmacct-rs honours it).";
    "kafka_partition_dynamic": Plugin, V::Bool, "false", Yes, "kafka: partition by key with librdkafka's consistent_random (CRC-32 of the key modulo the partitions).";
    "kafka_partition_key": Plugin, V::Text, "", Yes, "kafka: each message's key, with the routing key's variables (e.g. `$peer_src_ip`: one exporter, one partition).";
    "kafka_config_file": Plugin, V::Path, "", Yes, "kafka: librdkafka settings, one `global, key, value` or `topic, key, value` line each (compression, TLS, SASL, timeouts).";
    "kafka_spool_file": Plugin, V::Path, "", Yes, "pmacct-rs, kafka: where messages the broker has not taken are kept at exit and sent first at the next start (default /var/lib/pmacct-rs/NAME.kafka-spool).";
    // --- sfprobe (pmacctd) ---
    "sfprobe_receiver": Plugin, V::Text, "127.0.0.1:6343", Yes, "sfprobe: where sFlow v5 is sent, `address:port`, `[IPv6]:port` or `host:port` (resolved at start); pmacct-rs: several, comma-separated, each get every datagram.";
    "sfprobe_agentip": Plugin, V::Text, "", Yes, "sfprobe: the agent address in the datagrams (default: the address they are sent from, else 127.0.0.1).";
    "sfprobe_agentsubid": Plugin, V::Uint(0, 4294967295), "1402", Yes, "sfprobe: the sub-agent id in the datagrams.";
    "sfprobe_ifspeed": Plugin, V::Uint(0, u64::MAX), "100000000", Yes, "sfprobe: the interface speed (bits per second) its counter samples report.";
    "sfprobe_source_ip": Plugin, V::Text, "", Yes, "sfprobe: local address the datagrams are sent from.";
    // --- tee (nfacctd, sfacctd) ---
    "tee_receivers": Plugin, V::Path, "", Yes, "tee: the receivers map, lines of `id=N ip=ADDR:PORT[,ADDR:PORT...] [balance-alg=rr|hash-agent|hash-crc32]`; reloaded on SIGUSR2 (a map that does not parse is logged and the previous one kept). Every received datagram goes byte for byte to every pool: to all its receivers, or with balance-alg to one (rr in turn, except that datagrams carrying v9/IPFIX templates go to all; hash-agent and hash-crc32 by exporter).";
    "tee_transparent": Plugin, V::Bool, "false", Yes, "tee: send with the exporter's source address and port (IPv4; a raw socket: needs root or CAP_NET_RAW). Otherwise the collector's own address.";
    "tee_source_ip": Plugin, V::Text, "", Yes, "tee: local address datagrams are sent from (not transparent).";
    "tee_max_receivers": Plugin, V::Uint(1, 65535), "32", Yes, "tee: receivers per pool at most.";
    "tee_max_receiver_pools": Plugin, V::Uint(1, 65535), "128", Yes, "tee: pools at most.";
    "tee_pipe_size": Plugin, V::Uint(0, u64::MAX), "", Yes, "tee: send buffer of its sockets (SO_SNDBUF), bytes.";
    "tee_kafka_config_file": Plugin, V::Path, "", NotYet, "tee: pools emitting to Kafka.";
}

/// Finds a key by name or alias.
pub fn lookup(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter()
        .find(|k| k.name == name || k.aliases.contains(&name))
}

/// The known key closest to `name`, for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    // Remembered per thread: a reloaded configuration asks again for the same names (and so
    // does a fuzzer, thousands of times a second).
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, Option<&'static str>>> =
            Default::default();
    }
    if let Some(hit) = SEEN.with(|s| s.borrow().get(name).copied()) {
        return hit;
    }
    let found = crate::suggest::closest(
        name,
        KEYS.iter()
            .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied())),
    );
    SEEN.with(|s| {
        let mut seen = s.borrow_mut();
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(name.to_string(), found);
    });
    found
}

/// The key table as a Markdown table (docs/config-keys.md is generated from it).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| key | aliases | scope | value | default | pmacct-rs | meaning |\n|---|---|---|---|---|---|---|\n",
    );
    for k in KEYS {
        let scope = match k.scope {
            Core => "core",
            Plugin => "plugin",
            NamedPlugin => "plugin, named only",
            CoreAndPlugins => "core and plugin",
        };
        let support = match k.support {
            Yes => "yes",
            NotYet => "not yet (warns)",
            NoEffect => "accepted, no effect",
        };
        let aliases = k
            .aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            k.name,
            aliases,
            scope,
            k.kind.describe().replace('|', "\\|"),
            if k.default.is_empty() {
                "-".to_string()
            } else {
                format!("`{}`", k.default)
            },
            support,
            k.doc.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYS {
            for n in std::iter::once(k.name).chain(k.aliases.iter().copied()) {
                assert!(seen.insert(n), "duplicate key {n}");
                assert_eq!(n, n.to_lowercase());
            }
        }
    }

    #[test]
    fn defaults_are_valid_values() {
        for k in KEYS {
            if !k.default.is_empty() {
                assert_eq!(k.kind.check(k.default), Ok(()), "default of {}", k.name);
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("agregate"), Some("aggregate"));
        assert_eq!(suggest("print_refresh_tim"), Some("print_refresh_time"));
        assert_eq!(suggest("zzzzzz"), None);
        assert_eq!(lookup("interface").map(|k| k.name), Some("pcap_interface"));
    }
}

#[cfg(test)]
mod docs_tests {
    #[test]
    fn docs_config_keys_md_is_generated_from_this_table() {
        let doc = include_str!("../../../../docs/config-keys.md");
        assert!(
            doc.ends_with(&super::markdown_table()),
            "docs/config-keys.md is stale: regenerate it with `pmacctd --list-keys` (see the file's header)"
        );
    }
}
