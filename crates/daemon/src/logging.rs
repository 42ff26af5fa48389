//! Log output: pmacct's `LEVEL ( name/type ): message` lines on stderr, or in a log file with an
//! ISO-8601 UTC time prefix (as pmacct's `logfile`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

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

/// The log file, which SIGHUP reopens (after logrotate moved it away).
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

static LOG_FILE: OnceLock<Arc<LogFile>> = OnceLock::new();

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Writes each event to the current log file (taken again for each event, so a reopen takes
/// effect at once and lines are never split across files).
struct CurrentFile(Arc<LogFile>);

impl Write for CurrentFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }
}

/// Opens the log file again at its path (SIGHUP): logrotate's move-and-create, or a file
/// deleted by hand, and the next line goes to the file at the path.
pub fn reopen() -> std::io::Result<()> {
    let Some(log) = LOG_FILE.get() else {
        return Ok(());
    };
    let file = open_log(&log.path)?;
    *log.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
    Ok(())
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
            let log = Arc::new(LogFile {
                path: path.to_path_buf(),
                file: Mutex::new(open_log(path)?),
            });
            let _ = LOG_FILE.set(log.clone());
            let _ = builder
                .event_format(PmacctFormat { with_time: true })
                .with_writer(move || CurrentFile(log.clone()))
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
