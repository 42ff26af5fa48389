//! The print plugin: a cache purged every `print_refresh_time` to stdout or files, in
//! formatted, csv or json.
//!
//! The shared purging cache ([`super::cache`]) counts and schedules; this plugin's writer
//! ([`writer`]) sorts each purge and writes it. Promises: a file is written to a temporary name
//! and renamed, so a reader never sees half of it (append mode writes in place); each time bin
//! goes to the file its name expands to.

mod writer;

use pmacct_core::config::{PluginConfig, PrintConfig};

use super::cache::PurgingCache;
use super::{Clock, PluginError};

/// Starts a print plugin.
pub fn start(
    config: &PluginConfig,
    options: &PrintConfig,
    clock: Clock,
    stats: std::sync::Arc<crate::stats::PluginStats>,
) -> Result<PurgingCache, PluginError> {
    let label = format!("{}/{}", config.name, config.kind);
    let tz = pmacct_core::bins::time_zone(config.timestamps_utc);
    let writer = writer::Writer::new(config, options, &label, tz, clock);
    PurgingCache::new(config, clock, writer, options.write_empty_file, stats)
}
