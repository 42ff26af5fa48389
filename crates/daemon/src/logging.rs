//! Log output: pmacct's `LEVEL ( name/type ): message` lines on stderr, or in a log file with an
//! ISO-8601 UTC time prefix (as pmacct's `logfile`).

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `[time ]LEVEL message`: the message carries its `( name/type ):` prefix.
struct PmacctFormat {
    with_time: bool,
}

impl<S, N> FormatEvent<S, N> for PmacctFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.with_time {
            write!(
                writer,
                "{} ",
                jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
            )?;
        }
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        write!(writer, "{level} ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the global logger.
pub fn init(debug: bool, logfile: Option<&Path>) -> std::io::Result<()> {
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false);
    // A second init (tests) keeps the first logger, hence the ignored results.
    match logfile {
        Some(path) => {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let _ = builder
                .event_format(PmacctFormat { with_time: true })
                .with_writer(Mutex::new(file))
                .try_init();
        }
        None => {
            let _ = builder
                .event_format(PmacctFormat { with_time: false })
                .with_writer(std::io::stderr)
                .try_init();
        }
    }
    Ok(())
}

/// Writes straight to stderr (before the logger exists, or for fatal errors).
pub fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
