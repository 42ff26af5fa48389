//! Log output: pmacct's `LEVEL ( name/type ): message` lines on stderr, a log file (with an
//! ISO-8601 UTC time prefix) or syslog-style stderr when daemonized.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

struct UtcTime;

impl FormatTime for UtcTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = jiff::Timestamp::now();
        write!(w, "{}", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Installs the global logger. Log lines carry their `( name/type )` prefix in the message.
pub fn init(debug: bool, logfile: Option<&Path>) -> std::io::Result<()> {
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_level(true)
        .with_ansi(false);
    let result = match logfile {
        Some(path) => {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            builder
                .with_timer(UtcTime)
                .with_writer(Mutex::new(file))
                .try_init()
        }
        None => builder
            .without_time()
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // A second init (tests) keeps the first logger.
    let _ = result;
    Ok(())
}

/// Writes straight to stderr (before the logger exists, or for fatal errors).
pub fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
