//! The memory plugin: an in-memory table queried live by the `pmacct` client.
//!
//! Promises: queries are answered by the plugin's own thread between batches, so an answer is
//! a consistent snapshot and erase/reset are atomic with respect to counting; clients are served
//! on their own threads, so a slow or vanished client never holds up ingestion; with a memory
//! bound, existing keys keep counting and new keys that do not fit are counted as overflow,
//! shown by the client and logged.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::Sender;
use pmacct_core::config::{MemoryConfig, PluginConfig};
use pmacct_core::key::RecordBatch;
use pmacct_core::query::{Entry, Matcher, Op, Request, Response, TableStatus, PROTOCOL_VERSION};
use pmacct_core::table::AggregateTable;

use super::{Control, Now, Plugin, PluginError};

pub struct MemoryPlugin {
    label: String,
    layout: std::sync::Arc<pmacct_core::layout::KeyLayout>,
    /// `imt_history`: each key is kept per bin.
    bins: Option<pmacct_core::bins::BinSpec>,
    lookup: Option<pmacct_core::bins::BinLookup>,
    /// `nfacctd_pro_rating`.
    pro_rating: bool,
    columns: Vec<String>,
    socket: PathBuf,
    table: AggregateTable,
    started: Option<i64>,
    erased_at: Option<i64>,
    reported_overflow: u64,
    last_overflow_log: Option<i64>,
}

impl MemoryPlugin {
    pub fn new(config: &PluginConfig, options: &MemoryConfig) -> Result<Self, String> {
        let layout = std::sync::Arc::new(config.key_layout());
        let table = match options.memory_bound {
            Some(bytes) => AggregateTable::bounded(layout.clone(), bytes),
            None => AggregateTable::unbounded(layout.clone()),
        };
        let label = format!("{}/{}", config.name, config.kind);
        match (table.max_entries(), options.memory_bound_is_default) {
            (Some(max), true) => tracing::info!(
                "( {label} ): table bounded to {max} entries ({} MiB, the default; set imt_mem_pools_number: 0 for no bound)",
                options.memory_bound.unwrap_or(0) >> 20
            ),
            (Some(max), false) => tracing::info!(
                "( {label} ): table bounded to {max} entries ({} bytes from imt_mem_pools_number x imt_mem_pools_size)",
                options.memory_bound.unwrap_or(0)
            ),
            (None, _) => tracing::info!("( {label} ): table unbounded (imt_mem_pools_number: 0)"),
        }
        Ok(MemoryPlugin {
            label,
            layout,
            bins: config.bins.clone(),
            lookup: None,
            pro_rating: config.pro_rating,
            columns: config
                .aggregate
                .columns
                .iter()
                .filter(|p| !p.is_companion())
                .map(|p| p.name().to_string())
                .collect(),
            socket: options.socket.clone(),
            table,
            started: None,
            erased_at: None,
            reported_overflow: 0,
            last_overflow_log: None,
        })
    }

    /// Entries held now.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    pub fn layout(&self) -> &std::sync::Arc<pmacct_core::layout::KeyLayout> {
        &self.layout
    }

    fn status(&self, now: Now) -> TableStatus {
        let since = self
            .erased_at
            .or(self.started)
            .map(|t| (now.wall - t).max(0) as u64);
        TableStatus {
            entries: self.table.len(),
            max_entries: self.table.max_entries(),
            overflow_packets: self.table.overflow_packets(),
            overflow_bytes: self.table.overflow_bytes(),
            seconds_since_erase: since,
            erased_ever: self.erased_at.is_some(),
        }
    }

    fn answer(&mut self, request: &Request, now: Now) -> Response {
        let mut response = Response {
            protocol: PROTOCOL_VERSION,
            columns: self.columns.clone(),
            results: Vec::new(),
            status: TableStatus::default(),
            error: None,
            packed: None,
            dump: None,
            bins: self.layout.has_bin(),
            custom: pmacct_core::custom::defs().to_vec(),
        };
        if request.protocol != PROTOCOL_VERSION {
            response.error = Some(format!(
                "protocol version mismatch: client speaks {}, daemon speaks {PROTOCOL_VERSION}",
                request.protocol
            ));
            return response;
        }
        match &request.op {
            Op::Dump => response.dump = Some(self.table.sorted_rows()),
            Op::Match { queries, reset } => {
                let mut matchers = Vec::with_capacity(queries.len());
                for q in queries {
                    match Matcher::compile(q) {
                        Ok(m) => matchers.push(m),
                        Err(e) => {
                            response.error = Some(e);
                            return response;
                        }
                    }
                }
                let sorted = self.table.sorted();
                for m in &matchers {
                    let hits: Vec<Entry> = sorted
                        .iter()
                        .filter(|(k, _)| m.matches(k))
                        .map(|(key, counters)| Entry {
                            key: *key,
                            counters: *counters,
                        })
                        .collect();
                    response.results.push(hits);
                }
                if *reset {
                    for hits in &response.results {
                        for e in hits {
                            self.table.remove(&e.key);
                        }
                    }
                }
            }
            Op::Erase => {
                self.table.clear();
                self.reported_overflow = 0;
                self.erased_at = Some(now.wall);
            }
            Op::Status => {}
        }
        response.status = self.status(now);
        response
    }

    fn log_overflow(&mut self, now: Now) {
        let overflow = self.table.overflow_packets();
        if overflow > self.reported_overflow
            && self.last_overflow_log.is_none_or(|t| now.wall - t >= 60)
        {
            tracing::warn!(
                "( {} ): table full ({} entries): {} packets ({} bytes) of new keys not stored so far; erase the table (pmacct -e) or raise imt_mem_pools_number",
                self.label,
                self.table.len(),
                overflow,
                self.table.overflow_bytes()
            );
            self.reported_overflow = overflow;
            self.last_overflow_log = Some(now.wall);
        }
    }
}

impl Plugin for MemoryPlugin {
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError> {
        self.started.get_or_insert(now.wall);
        if let (Some(spec), Some(first)) = (&self.bins, records.meta().first()) {
            let lookup = self.lookup.get_or_insert_with(|| {
                pmacct_core::bins::BinLookup::new(spec.anchored_at(first.ts))
            });
            records.set_bins(&self.layout, lookup, self.pro_rating);
        }
        self.table.add_batch(records);
        self.log_overflow(now);
        Ok(())
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        self.started.get_or_insert(now.wall);
        self.log_overflow(now);
        Ok(())
    }

    fn on_query(&mut self, request: &Request, now: Now) -> Option<Response> {
        self.started.get_or_insert(now.wall);
        Some(self.answer(request, now))
    }

    fn on_input_end(&mut self, source: &str) {
        tracing::info!(
            "( {} ): finished reading '{source}': {} entries, {} packets not stored (table full)",
            self.label,
            self.table.len(),
            self.table.overflow_packets()
        );
    }

    fn shutdown(&mut self, _now: Now) -> Result<(), PluginError> {
        if self.table.overflow_packets() > 0 {
            tracing::warn!(
                "( {} ): at exit: {} packets ({} bytes) were not stored because the table was full",
                self.label,
                self.table.overflow_packets(),
                self.table.overflow_bytes()
            );
        }
        match std::fs::remove_file(&self.socket) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PluginError::Io(format!(
                "cannot remove socket {}: {e}",
                self.socket.display()
            ))),
        }
    }
}

/// Binds the query socket (replacing a stale one, refusing a live one or a non-socket) and
/// serves clients on their own threads.
pub fn serve(path: &Path, control: Sender<Control>, label: &str) -> Result<(), String> {
    serve_with_mode(path, control, label, 0o600)
}

/// Binds `path` so that it appears with its final mode and owner: the socket is bound under a
/// temporary name in the same folder, given its mode and owner, then renamed into place. A client
/// (or a test) that sees the path can connect, and never sees the umask's mode.
fn bind_in_place(path: &Path, mode: u32) -> Result<UnixListener, String> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let temporary = dir.join(format!(".imt-{}", std::process::id()));
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", temporary.display())),
    }
    let listener = UnixListener::bind(&temporary)
        .map_err(|e| format!("cannot listen on {}: {e}", temporary.display()))?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set mode of {}: {e}", temporary.display()))
        .and_then(|()| {
            crate::process::own(&temporary);
            std::fs::rename(&temporary, path).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    temporary.display(),
                    path.display()
                )
            })
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(listener)
}

pub fn serve_with_mode(
    path: &Path,
    control: Sender<Control>,
    label: &str,
    mode: u32,
) -> Result<(), String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "imt_path {} exists and is not a socket; refusing to replace it",
                path.display()
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "imt_path {} is in use by another running daemon",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        crate::process::create_dirs(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let listener = bind_in_place(path, mode)?;
    let label = label.to_string();
    let clients = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("imt-listener".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let Some(slot) = ClientSlot::take(&clients) else {
                    refuse_busy(stream, &label);
                    continue;
                };
                let control = control.clone();
                let label = label.clone();
                let _ = std::thread::Builder::new()
                    .name("imt-client".into())
                    .spawn(move || {
                        let _slot = slot;
                        if let Err(e) = handle_client(stream, &control) {
                            tracing::debug!("( {label} ): client: {e}");
                        }
                    });
            }
        })
        .map_err(|e| format!("cannot start listener thread: {e}"))?;
    Ok(())
}

/// Clients served at once; one more is answered "busy" and closed, so a flood of connections
/// cannot exhaust the daemon's threads (each stuck client lets go within its timeouts).
const MAX_CLIENTS: usize = 512;

/// One of the [`MAX_CLIENTS`] places, given back when dropped.
struct ClientSlot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl ClientSlot {
    fn take(count: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Option<ClientSlot> {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        let taken = count
            .fetch_update(AcqRel, Acquire, |n| (n < MAX_CLIENTS).then_some(n + 1))
            .is_ok();
        taken.then(|| ClientSlot(count.clone()))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn refuse_busy(stream: UnixStream, label: &str) {
    static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if n == 1 || n.is_multiple_of(1000) {
        tracing::warn!(
            "( {label} ): {MAX_CLIENTS} clients at once already; {n} connections refused so far"
        );
    }
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let busy = refusal(format!(
        "the daemon serves {MAX_CLIENTS} clients at once; try again"
    ));
    let _ = pmacct_core::query::write_response(&mut &stream, &busy);
}

fn handle_client(stream: UnixStream, control: &Sender<Control>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut line = Vec::new();
    BufReader::new(&stream)
        .take(MAX_REQUEST_BYTES)
        .read_until(b'\n', &mut line)?;
    let response = match parse_request(&line) {
        Ok(request) => {
            let (tx, rx) = crossbeam_channel::bounded(1);
            if control.send(Control::Query(request, tx)).is_err() {
                return Ok(());
            }
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(r) => r,
                Err(_) => return Ok(()),
            }
        }
        Err(why) => refusal(why),
    };
    let mut w = std::io::BufWriter::new(&stream);
    pmacct_core::query::write_response(&mut w, &response)?;
    w.flush()
}

/// The longest request line read; a longer one is cut there and refused as malformed.
const MAX_REQUEST_BYTES: u64 = 1 << 24;

/// A request line, or why it is refused.
fn parse_request(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice::<Request>(line).map_err(|e| format!("malformed request: {e}"))
}

/// The answer to a request that is not served.
fn refusal(error: String) -> Response {
    Response {
        protocol: PROTOCOL_VERSION,
        columns: Vec::new(),
        results: Vec::new(),
        status: TableStatus::default(),
        error: Some(error),
        packed: None,
        dump: None,
        bins: false,
        custom: Vec::new(),
    }
}

/// One request line answered as a client connection gets it, without the socket and the
/// plugin thread: the bytes written back (the fuzz target `socket`).
#[doc(hidden)]
pub fn respond(plugin: &mut MemoryPlugin, line: &[u8], now: Now) -> Vec<u8> {
    let line = &line[..line.len().min(MAX_REQUEST_BYTES as usize)];
    let line = line.split(|&b| b == b'\n').next().unwrap_or(line);
    let response = match parse_request(line) {
        Ok(request) => plugin.answer(&request, now),
        Err(why) => refusal(why),
    };
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = pmacct_core::query::write_response(&mut out, &response);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_socket_appears_with_its_final_mode_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plugin1.pipe");
        let listener = bind_in_place(&path, 0o640).expect("bind");
        let meta = std::fs::symlink_metadata(&path).expect("socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plugin1.pipe")]);
        // The renamed socket still takes connections.
        let _client = UnixStream::connect(&path).expect("connect");
        let (_server, _) = listener.accept().expect("accept");
    }

    #[test]
    fn a_folder_that_refuses_the_temporary_is_an_error_naming_it() {
        let path = Path::new("/proc/no-such-folder/plugin1.pipe");
        let err = bind_in_place(path, 0o600).expect_err("cannot bind there");
        assert!(err.contains("/proc/no-such-folder/.imt-"), "{err}");
    }
}
