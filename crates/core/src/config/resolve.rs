//! Directives to per-scope settings, following pmacct's evaluation order.

use std::collections::BTreeMap;
use std::fmt;

use super::keys::{self, KeyDef, Scope, Support};
use super::lexer::Directive;
use super::value::parse_plugins;
use super::{ConfigError, Origin};

/// Plugin types pmacct knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PluginKind {
    Memory,
    Print,
    Sqlite3,
    Mysql,
    Pgsql,
    Nfprobe,
    Sfprobe,
    Tee,
    Amqp,
    Kafka,
    /// pmacct-rs: data caps per device (`quota[name]`).
    Quota,
    /// pmacct-rs: a Prometheus endpoint (`prometheus[name]`).
    Prometheus,
    /// pmacct-rs: writes to InfluxDB (`influxdb[name]`).
    Influxdb,
}

impl PluginKind {
    pub fn parse(s: &str) -> Option<PluginKind> {
        Some(match s {
            "memory" => PluginKind::Memory,
            "print" => PluginKind::Print,
            "sqlite3" => PluginKind::Sqlite3,
            "mysql" => PluginKind::Mysql,
            "pgsql" => PluginKind::Pgsql,
            "nfprobe" => PluginKind::Nfprobe,
            "sfprobe" => PluginKind::Sfprobe,
            "tee" => PluginKind::Tee,
            "amqp" => PluginKind::Amqp,
            "kafka" => PluginKind::Kafka,
            "quota" => PluginKind::Quota,
            "prometheus" => PluginKind::Prometheus,
            "influxdb" => PluginKind::Influxdb,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Memory => "memory",
            PluginKind::Print => "print",
            PluginKind::Sqlite3 => "sqlite3",
            PluginKind::Mysql => "mysql",
            PluginKind::Pgsql => "pgsql",
            PluginKind::Nfprobe => "nfprobe",
            PluginKind::Sfprobe => "sfprobe",
            PluginKind::Tee => "tee",
            PluginKind::Amqp => "amqp",
            PluginKind::Kafka => "kafka",
            PluginKind::Quota => "quota",
            PluginKind::Prometheus => "prometheus",
            PluginKind::Influxdb => "influxdb",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value as the user wrote it, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub raw: String,
    /// The key name as written (an alias, possibly).
    pub written_as: String,
    pub origin: Origin,
}

/// The settings of one scope (the core or a plugin), keyed by canonical key name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    map: BTreeMap<&'static str, Setting>,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.map.get(key)
    }
    fn set(&mut self, def: &'static KeyDef, setting: Setting) {
        self.map.insert(def.name, setting);
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Setting)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }
}

/// A declared plugin with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSettings {
    pub name: String,
    pub kind: PluginKind,
    pub declared_at: Origin,
    pub settings: Settings,
}

/// The configuration after scoping, before typing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedConfig {
    pub core: Settings,
    pub plugins: Vec<PluginSettings>,
}

/// Unknown keys that get a "did you mean" hint, per configuration.
const MAX_HINTS: usize = 16;

pub fn resolve(
    directives: &[Directive],
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) -> ResolvedConfig {
    let mut out = ResolvedConfig {
        core: Settings::default(),
        plugins: declare_plugins(directives, errors, warnings),
    };
    let mut warned_not_yet = std::collections::HashSet::new();
    let mut unknown = 0usize;

    for d in directives.iter().filter(|d| d.key != "plugins") {
        let Some(def) = keys::lookup(&d.key) else {
            // Hints for the first few: a file of hundreds of unknown keys is not a typo.
            unknown += 1;
            let hint = (unknown <= MAX_HINTS)
                .then(|| keys::suggest(&d.key))
                .flatten()
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            warnings.push(
                ConfigError::new(d.origin.clone(), format!("unknown key, ignored{hint}"))
                    .key(&d.key)
                    .plugin(d.plugin.as_deref()),
            );
            continue;
        };
        if let Err(message) = def.kind.check(&d.value) {
            errors.push(
                ConfigError::new(d.origin.clone(), format!("invalid value: {message}"))
                    .key(&d.key)
                    .plugin(d.plugin.as_deref()),
            );
            continue;
        }
        if def.support == Support::NotYet && warned_not_yet.insert(def.name) {
            warnings.push(
                ConfigError::new(
                    d.origin.clone(),
                    "not implemented yet by pmacct-rs; ignored",
                )
                .key(&d.key),
            );
        }
        let setting = Setting {
            raw: d.value.clone(),
            written_as: d.key.clone(),
            origin: d.origin.clone(),
        };
        match (def.scope, &d.plugin) {
            (Scope::Core, None) => out.core.set(def, setting),
            (Scope::Core, Some(name)) => {
                warnings.push(
                    ConfigError::new(
                        d.origin.clone(),
                        "is a global key; applied to the whole daemon",
                    )
                    .key(&d.key)
                    .plugin(Some(name)),
                );
                out.core.set(def, setting);
            }
            (Scope::Plugin, None) => {
                for p in &mut out.plugins {
                    p.settings.set(def, setting.clone());
                }
            }
            (Scope::CoreAndPlugins, None) => {
                for p in &mut out.plugins {
                    p.settings.set(def, setting.clone());
                }
                out.core.set(def, setting);
            }
            (Scope::NamedPlugin, None) => errors.push(
                ConfigError::new(
                    d.origin.clone(),
                    format!("must be bound to a plugin, e.g. '{}[name]: ...'", d.key),
                )
                .key(&d.key),
            ),
            (Scope::Plugin | Scope::NamedPlugin | Scope::CoreAndPlugins, Some(name)) => {
                match out.plugins.iter_mut().find(|p| &p.name == name) {
                    Some(p) => p.settings.set(def, setting),
                    None => {
                        let known: Vec<&str> =
                            out.plugins.iter().map(|p| p.name.as_str()).collect();
                        warnings.push(
                            ConfigError::new(
                                d.origin.clone(),
                                format!(
                                    "no plugin is named '{name}' (declared: {}); line ignored",
                                    known.join(", ")
                                ),
                            )
                            .key(&d.key),
                        )
                    }
                }
            }
        }
    }
    out
}

fn declare_plugins(
    directives: &[Directive],
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) -> Vec<PluginSettings> {
    let mut lines = directives.iter().filter(|d| d.key == "plugins");
    let Some(first) = lines.next() else {
        return vec![PluginSettings {
            name: "default_memory".into(),
            kind: PluginKind::Memory,
            declared_at: Origin::command_line(),
            settings: Settings::default(),
        }];
    };
    for later in lines {
        warnings.push(
            ConfigError::new(
                later.origin.clone(),
                format!(
                    "only the first 'plugins' line counts (it is at {}); ignored",
                    first.origin
                ),
            )
            .key("plugins"),
        );
    }
    if first.plugin.is_some() {
        errors.push(
            ConfigError::new(
                first.origin.clone(),
                "'plugins' cannot be bound to a plugin",
            )
            .key("plugins"),
        );
    }
    let decls = match parse_plugins(&first.value) {
        Ok(d) => d,
        Err(message) => {
            errors.push(
                ConfigError::new(first.origin.clone(), format!("invalid value: {message}"))
                    .key("plugins"),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<PluginSettings> = Vec::new();
    for decl in decls {
        let Some(kind) = PluginKind::parse(&decl.kind) else {
            errors.push(
                ConfigError::new(
                    first.origin.clone(),
                    format!(
                        "unknown plugin type '{}' (known: memory, print, sqlite3, mysql, pgsql, quota, prometheus, influxdb, nfprobe, sfprobe, tee, amqp, kafka)",
                        decl.kind
                    ),
                )
                .key("plugins"),
            );
            continue;
        };
        let name = decl
            .name
            .unwrap_or_else(|| format!("default_{}", kind.name()));
        if out.iter().any(|p| p.name == name) {
            warnings.push(
                ConfigError::new(
                    first.origin.clone(),
                    format!("plugin name '{name}' declared twice; the first is kept"),
                )
                .key("plugins"),
            );
            continue;
        }
        out.push(PluginSettings {
            name,
            kind,
            declared_at: first.origin.clone(),
            settings: Settings::default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer;

    fn run(text: &str) -> (ResolvedConfig, Vec<String>, Vec<String>) {
        let (d, mut errors) = lexer::parse("t.conf", text);
        let mut warnings = Vec::new();
        let r = resolve(&d, &mut errors, &mut warnings);
        (
            r,
            errors.iter().map(|e| e.to_string()).collect(),
            warnings.iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn last_line_wins_and_globals_fan_out() {
        let (r, e, _) =
            run("plugins: print[p], memory\naggregate[p]: dst_host\naggregate: src_host\n");
        assert!(e.is_empty());
        assert_eq!(
            r.plugins[0]
                .settings
                .get("aggregate")
                .map(|s| s.raw.as_str()),
            Some("src_host")
        );
        assert_eq!(r.plugins[1].name, "default_memory");
        assert_eq!(
            r.plugins[1]
                .settings
                .get("aggregate")
                .map(|s| s.raw.as_str()),
            Some("src_host")
        );
        let (r, _, _) = run("plugins: print[p]\naggregate: src_host\naggregate[p]: dst_host\n");
        assert_eq!(
            r.plugins[0]
                .settings
                .get("aggregate")
                .map(|s| s.raw.as_str()),
            Some("dst_host")
        );
    }

    #[test]
    fn aliases_share_one_setting() {
        let (r, _, _) = run("plugins: print[p]\nprint_refresh_time: 10\nsql_refresh_time[p]: 20\n");
        let s = r.plugins[0].settings.get("sql_refresh_time").unwrap();
        assert_eq!(
            (s.raw.as_str(), s.written_as.as_str()),
            ("20", "sql_refresh_time")
        );
        let (r, _, _) = run("interface: green0\n");
        assert_eq!(
            r.core.get("pcap_interface").map(|s| s.raw.as_str()),
            Some("green0")
        );
    }

    #[test]
    fn problems_are_all_reported_with_their_lines() {
        let (_, e, w) = run(
            "plugins: print[p]\nagregate: src_host\npromisc: maybe\naggregate_filter: tcp\nprint_output[q]: csv\nsnaplen: 10\n",
        );
        assert_eq!(
            e,
            vec![
                "t.conf:3: key 'promisc': invalid value: expected true or false, got 'maybe'",
                "t.conf:4: key 'aggregate_filter': must be bound to a plugin, e.g. 'aggregate_filter[name]: ...'",
                "t.conf:6: key 'snaplen': invalid value: expected an integer between 64 and 262144, got 10",
            ]
        );
        assert_eq!(
            w,
            vec![
                "t.conf:2: key 'agregate': unknown key, ignored; did you mean 'aggregate'?",
                "t.conf:5: key 'print_output': no plugin is named 'q' (declared: p); line ignored",
            ]
        );
    }

    #[test]
    fn no_plugins_line_means_default_memory() {
        let (r, _, _) = run("aggregate: sum_host\n");
        assert_eq!(r.plugins.len(), 1);
        assert_eq!(r.plugins[0].name, "default_memory");
        assert_eq!(r.plugins[0].kind, PluginKind::Memory);
    }
}
