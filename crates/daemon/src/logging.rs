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

/// A facility's number (RFC 5424), for `syslog: NAME`.
fn facility(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        n => {
            16 + n
                .strip_prefix("local")?
                .parse::<u8>()
                .ok()
                .filter(|d| *d < 8)?
        }
    })
}

/// Where syslog lines go: the local socket, one datagram per line.
struct Syslog {
    socket: std::os::unix::net::UnixDatagram,
    facility: u8,
    ident: String,
}

impl Syslog {
    fn connect(path: &Path, facility: u8, ident: &str) -> std::io::Result<Syslog> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Syslog {
            socket,
            facility,
            ident: ident.to_string(),
        })
    }

    /// `<PRI>ident[pid]: message`, the severity read off the line's level word.
    fn send(&self, line: &str) {
        let (severity, message) = match line.split_once(' ') {
            Some(("ERROR", m)) => (3, m),
            Some(("WARN", m)) => (4, m),
            Some(("INFO", m)) => (6, m),
            Some(("DEBUG" | "TRACE", m)) => (7, m),
            _ => (6, line),
        };
        let datagram = format!(
            "<{}>{}[{}]: {}",
            u32::from(self.facility) * 8 + severity,
            self.ident,
            std::process::id(),
            message.trim_end()
        );
        let _ = self.socket.send(datagram.as_bytes());
    }
}

/// Collects one event's line and sends it when dropped (the formatter writes in pieces).
struct SyslogLine(Arc<Syslog>, Vec<u8>);

impl Write for SyslogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        if !self.1.is_empty() {
            self.0.send(&String::from_utf8_lossy(&self.1));
        }
    }
}

/// Installs the global logger: syslog (`syslog: FACILITY`, through /dev/log) when asked and
/// the socket is there, else the log file, else stderr.
pub fn init_with_syslog(
    debug: bool,
    logfile: Option<&Path>,
    syslog: Option<&str>,
) -> std::io::Result<()> {
    let Some(name) = syslog else {
        return init(debug, logfile);
    };
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let connected = facility(name)
        .ok_or_else(|| std::io::Error::other(format!("unknown syslog facility '{name}'")))
        .and_then(|f| Syslog::connect(Path::new("/dev/log"), f, "pmacctd"));
    match connected {
        Ok(syslog) => {
            let syslog = Arc::new(syslog);
            let _ = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(false)
                .event_format(PmacctFormat { with_time: false })
                .with_writer(move || SyslogLine(syslog.clone(), Vec::new()))
                .try_init();
            Ok(())
        }
        Err(e) => {
            init(debug, logfile)?;
            tracing::warn!(
                "( default/core ): cannot log to syslog ({e}); logging to {} instead",
                if logfile.is_some() {
                    "the logfile"
                } else {
                    "stderr"
                }
            );
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_datagrams_carry_priority_ident_and_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let client = Syslog::connect(&path, facility("daemon").unwrap(), "pmacctd").unwrap();
        client.send("ERROR ( p/print ): trigger failed\n");
        client.send("INFO ( default/core ): exiting\n");
        let mut buf = [0u8; 256];
        let pid = std::process::id();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<27>pmacctd[{pid}]: ( p/print ): trigger failed")
        );
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<30>pmacctd[{pid}]: ( default/core ): exiting")
        );
        assert_eq!(facility("local7"), Some(23));
        assert_eq!(facility("local8"), None);
        assert_eq!(facility("kern"), Some(0));
    }
}
