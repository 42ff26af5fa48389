//! The pmacct configuration language: what the user wrote, and what we build from it.
//!
//! Three stages, each its own module, data flowing one way:
//! 1. [`lexer`]: text lines to [`Directive`]s (`key[plugin]: value`, comments, syntax errors).
//! 2. [`resolve`]: directives to per-scope [`Settings`] following pmacct's evaluation order
//!    (`plugins` first, then top to bottom, unnamed lines fanning out to every plugin, last line
//!    wins), checked against the key table in [`keys`] (unknown keys warn with a suggestion,
//!    invalid values are errors).
//! 3. [`build`]: settings to typed [`DaemonConfig`] (what the daemon runs with).
//!
//! Every problem carries its file, line, key and plugin, and all of them are reported at once.

pub mod accounts;
pub mod build;
pub mod cli;
pub mod keys;
pub mod lexer;
pub mod migrating;
pub mod resolve;
pub mod value;

use std::fmt;
use std::sync::Arc;

pub use build::{
    default_sql_table, safe_table_name, AmqpConfig, BrokerOutput, CollectorConfig, CoreConfig,
    DaemonConfig, FilesOwner, GeoFiles, IfindexMode, InfluxConfig, KafkaConfig, MemoryConfig,
    MessagesConfig, NamesConfig, NfprobeConfig, PluginConfig, PluginOptions, PrintConfig,
    PrintFormat, ProbeSource, Program, PrometheusConfig, QueuePolicy, QuotaConfig, RunAs,
    SettingAt, SfprobeConfig, SqlBackend, SqlConfig, TagFilters, TeeConfig, TriggerSettings,
    WebConfig, WebPassword, WebSource, DEFAULT_MEMORY_BOUND, NFPROBE_DEFAULT_AGGREGATE,
};
pub use lexer::Directive;
pub use resolve::{PluginKind, ResolvedConfig, Settings};

/// Where a directive came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The configuration file, or `command line`.
    pub file: Arc<str>,
    /// 1-based line number; 0 for the command line.
    pub line: usize,
}

impl Origin {
    pub fn command_line() -> Origin {
        Origin {
            file: Arc::from("command line"),
            line: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {}{message}", context(.key, .plugin))]
pub struct ConfigError {
    pub origin: Origin,
    pub key: Option<String>,
    pub plugin: Option<String>,
    pub message: String,
}

fn context(key: &Option<String>, plugin: &Option<String>) -> String {
    match (key, plugin) {
        (Some(k), Some(p)) => format!("key '{k}' of plugin '{p}': "),
        (Some(k), None) => format!("key '{k}': "),
        (None, Some(p)) => format!("plugin '{p}': "),
        (None, None) => String::new(),
    }
}

impl ConfigError {
    pub fn new(origin: Origin, message: impl Into<String>) -> Self {
        ConfigError {
            origin,
            key: None,
            plugin: None,
            message: message.into(),
        }
    }
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }
    pub fn plugin(mut self, plugin: Option<&str>) -> Self {
        self.plugin = plugin.map(str::to_string);
        self
    }
}

/// Every problem of a configuration, in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Parses configuration text plus command-line directives into the typed configuration.
///
/// `warnings` receives the non-fatal findings (unknown keys, ignored keys).
pub fn load(
    file_name: &str,
    text: &str,
    cli_lines: Vec<Directive>,
    warnings: &mut Vec<ConfigError>,
) -> Result<DaemonConfig, ConfigErrors> {
    load_as(Program::Pmacctd, file_name, text, cli_lines, warnings)
}

/// [`load`] for `program` (nfacctd's flows carry what pmacctd needs maps for).
pub fn load_as(
    program: Program,
    file_name: &str,
    text: &str,
    cli_lines: Vec<Directive>,
    warnings: &mut Vec<ConfigError>,
) -> Result<DaemonConfig, ConfigErrors> {
    let (mut directives, mut errors) = lexer::parse(file_name, text);
    directives.extend(cli_lines);
    install_custom_primitives(&directives, &mut errors);
    let resolved = resolve::resolve(&directives, &mut errors, warnings);
    let built = build::build(program, &resolved, &mut errors);
    if errors.is_empty() {
        Ok(built)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads the `aggregate_primitives` file, when set, and makes its primitives known before the
/// `aggregate` lists are read. Its problems are reported as the file's own lines.
fn install_custom_primitives(directives: &[Directive], errors: &mut Vec<ConfigError>) {
    let Some(d) = directives
        .iter()
        .rev()
        .find(|d| d.key == "aggregate_primitives" && d.plugin.is_none())
    else {
        return;
    };
    let text = match std::fs::read_to_string(&d.value) {
        Ok(t) => t,
        Err(e) => {
            errors.push(
                ConfigError::new(d.origin.clone(), format!("cannot read '{}': {e}", d.value))
                    .key("aggregate_primitives"),
            );
            return;
        }
    };
    match crate::custom::parse_file(&text, crate::primitive::is_builtin_name) {
        Ok(defs) => {
            let aggregates = directives
                .iter()
                .filter(|d| d.key == "aggregate")
                .map(|d| d.value.as_str());
            crate::custom::install(crate::custom::ordered_by_use(defs, aggregates));
        }
        Err(problems) => {
            let file: std::sync::Arc<str> = std::sync::Arc::from(d.value.as_str());
            for p in problems {
                let origin = Origin {
                    file: file.clone(),
                    line: p.line,
                };
                let e = ConfigError::new(origin, p.message);
                errors.push(match &p.key {
                    Some(k) => e.key(k),
                    None => e,
                });
            }
        }
    }
}
