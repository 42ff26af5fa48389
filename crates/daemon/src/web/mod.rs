//! The web page served by the daemon (`web_listen`): per-device usage, live top talkers and
//! caps, with a JSON API under `/api/v1/` (docs/web.md). Built with the `web` feature.
//!
//! - [`server`]: the HTTP server and its limits (also under `metrics_listen` and
//!   `prometheus_listen`).
//! - [`api`]: the JSON API; usage is computed by `pmacct report`'s code.
//! - [`live`]: the last minute of traffic, fed by a hidden plugin.
//! - `auth`, `assets`: Basic authentication, the embedded files.

mod api;
mod assets;
pub mod auth;
pub mod live;
pub mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use crossbeam_channel::Sender;
use pmacct_client::report::{self, ReportOptions, Source};
use pmacct_core::config::{PluginOptions, Program, WebConfig, WebSource};
use pmacct_core::query::{
    Entry, Op, Request as Query, Response as QueryResponse, PROTOCOL_VERSION,
};

use crate::plugins::{Control, PluginHandle};

/// Report computations at once (each holds one blocking thread).
const WORKERS: usize = 2;
/// How long a computed report answers the same question (a memory table changes anytime).
const MEMORY_CACHE: Duration = Duration::from_secs(2);

/// Where the page's usage comes from, as the report reads it.
pub struct PageSource {
    report: Source,
    table: String,
    stamps_utc: bool,
    bins: bool,
    /// `sqlite3` or `memory`.
    kind: &'static str,
    /// The database file (its changes invalidate the cache).
    db: Option<String>,
}

/// A file's modification time and size.
type Stamp = Option<(SystemTime, u64)>;

struct Cached {
    key: String,
    /// The database's, its WAL's and the names file's modification times and sizes.
    version: (Stamp, Stamp, Stamp),
    at: Instant,
    report: Arc<report::Report>,
}

/// Everything the page's handlers share.
pub struct Web {
    config: WebConfig,
    program: Program,
    started: Instant,
    source: Option<PageSource>,
    caps_state: Option<String>,
    live: Option<Arc<live::Live>>,
    workers: Arc<tokio::sync::Semaphore>,
    cache: Mutex<Option<Cached>>,
    /// Held while a report is computed: the page asks for usage and devices at once, and the
    /// second then finds the first's result in the cache instead of computing it again.
    computing: Mutex<()>,
}

fn mtime(path: &str) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Changed in the last second: a write may be under way in the same clock tick.
fn recent(s: Stamp) -> bool {
    match s.and_then(|(t, _)| t.elapsed().ok()) {
        Some(age) => age < Duration::from_secs(1),
        None => true,
    }
}

impl Web {
    fn program_name(&self) -> &'static str {
        match self.program {
            Program::Pmacctd => "pmacctd",
            Program::Nfacctd => "nfacctd",
            Program::Sfacctd => "sfacctd",
        }
    }

    /// `dhcp_leases_file` and `names_learned_file`, those that exist now.
    pub(crate) fn lease_files(&self) -> Vec<String> {
        self.config
            .leases_files
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect()
    }

    /// The device names of `web_names_file` (none when it is missing or wrong: logged).
    fn names(&self) -> report::devices::Names {
        let file = self
            .config
            .names_file
            .as_ref()
            .map(|p| p.display().to_string());
        let leases = self.lease_files();
        let file = file.filter(|f| std::path::Path::new(f).exists());
        match report::devices::Names::read(file.as_deref(), &leases) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("( web ): web_names_file or dhcp_leases_file: {e}");
                report::devices::Names::default()
            }
        }
    }

    /// Drops the cached report (names changed).
    fn forget(&self) {
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The report for `o`, from the cache while the database has not changed.
    fn report(&self, o: &ReportOptions) -> Result<Arc<report::Report>, String> {
        let _one_at_a_time = self.computing.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{o:?}");
        // A changed names or lease file is a new report.
        let names = o
            .names
            .iter()
            .chain(&o.leases)
            .filter_map(|f| mtime(f))
            .max();
        let version = match self.source.as_ref().and_then(|s| s.db.as_deref()) {
            Some(db) => (mtime(db), mtime(&format!("{db}-wal")), names),
            None => (None, None, names),
        };
        let memory = self.source.as_ref().is_some_and(|s| s.db.is_none());
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cache.as_ref() {
                let fresh = !memory || c.at.elapsed() < MEMORY_CACHE;
                if c.key == key && c.version == version && fresh {
                    return Ok(c.report.clone());
                }
            }
        }
        let computed = Arc::new(report::compute_report(o).map_err(|f| match f {
            pmacct_client::Failure::Error { message, .. } => message,
            pmacct_client::Failure::Output(e) => e.to_string(),
        })?);
        let settled = !memory && !recent(version.0) && (version.1.is_none() || !recent(version.1));
        if memory || settled {
            *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
                key,
                version,
                at: Instant::now(),
                report: computed.clone(),
            });
        }
        Ok(computed)
    }

    /// The day the page calls today: the clock's, unless the newest data is older than two
    /// days (a capture file was read), then the newest data's day.
    fn today(&self) -> String {
        let tz = pmacct_core::bins::time_zone(false);
        let now = jiff::Timestamp::now();
        let newest = self.source.as_ref().and_then(newest_stamp);
        let t = match newest {
            Some(t) if t < now.as_second() - 2 * 86_400 => {
                jiff::Timestamp::from_second(t).unwrap_or(now)
            }
            _ => now,
        };
        t.to_zoned(tz).date().to_string()
    }
}

/// The newest stamp of an SQLite source.
fn newest_stamp(s: &PageSource) -> Option<i64> {
    let db = s.db.as_deref()?;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(db, flags).ok()?;
    let _ = conn.busy_timeout(Duration::from_secs(5));
    let text: String = conn
        .query_row(
            // The newest row (the plugin appends): no scan of the table.
            &format!(
                "SELECT CAST(stamp_inserted AS TEXT) FROM {} ORDER BY rowid DESC LIMIT 1",
                s.table
            ),
            [],
            |r| r.get::<_, Option<String>>(0),
        )
        .ok()??;
    let zone = report::source::StampZone(pmacct_core::bins::time_zone(s.stamps_utc));
    report::source::parse_stamp(&text, &zone)
}

/// A dump of a memory plugin of this daemon, asked over its control queue.
fn dump_of(control: Sender<Control>) -> report::DumpFn {
    Arc::new(move || {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let request = Query {
            protocol: PROTOCOL_VERSION,
            op: Op::Dump,
        };
        control
            .send(Control::Query(request, tx))
            .map_err(|_| "the memory plugin has stopped".to_string())?;
        let mut response: QueryResponse = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| "the memory plugin did not answer".to_string())?;
        if let Some(rows) = response.dump.take() {
            let entries: Vec<Entry> = (0..rows.len())
                .map(|i| {
                    let (key, counters) = rows.row(i);
                    Entry { key, counters }
                })
                .collect();
            response.results = vec![entries];
        }
        Ok(response)
    })
}

fn page_source(config: &WebConfig, handles: &[PluginHandle]) -> Option<PageSource> {
    match config.source.as_ref()? {
        WebSource::Sqlite {
            plugin,
            db,
            table,
            stamps_utc,
        } => {
            if table.contains('%') || table.contains('$') {
                tracing::warn!("( web ): plugin '{plugin}' writes to tables named by time ('{table}'): the page reads one table, so it shows no usage; set web_source to another plugin");
                return None;
            }
            Some(PageSource {
                report: Source::Sqlite(db.clone()),
                table: table.clone(),
                stamps_utc: *stamps_utc,
                bins: true,
                kind: "sqlite3",
                db: Some(db.clone()),
            })
        }
        WebSource::Memory { plugin, bins } => {
            let h = handles.iter().find(|h| &h.config.name == plugin)?;
            let stamps_utc = h.config.timestamps_utc;
            Some(PageSource {
                report: Source::Dump(dump_of(h.control.clone())),
                table: "acct".into(),
                stamps_utc,
                bins: *bins,
                kind: "memory",
                db: None,
            })
        }
    }
}

/// Starts the page on `config.listen`; returns the address bound.
pub fn start(
    config: &WebConfig,
    program: Program,
    handles: &[PluginHandle],
    live: Option<Arc<live::Live>>,
) -> Result<SocketAddr, String> {
    let auth = match (&config.user, &config.password) {
        (Some(user), Some(password)) => Some(Arc::new(auth::Auth::new(user, password)?)),
        _ => None,
    };
    let caps_state = handles.iter().find_map(|h| match &h.config.options {
        PluginOptions::Quota(q) => Some(q.state.display().to_string()),
        _ => None,
    });
    let web = Arc::new(Web {
        config: config.clone(),
        program,
        started: Instant::now(),
        source: page_source(config, handles),
        caps_state,
        live,
        workers: Arc::new(tokio::sync::Semaphore::new(WORKERS)),
        cache: Mutex::new(None),
        computing: Mutex::new(()),
    });
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v1/config", get(api::config))
        .route("/api/v1/usage", get(api::usage))
        .route("/api/v1/devices", get(api::devices))
        .route("/api/v1/device/{device}", get(api::device))
        .route("/api/v1/caps", get(api::caps))
        .route("/api/v1/live", get(api::live))
        .route("/api/v1/status", get(api::status))
        .route(
            "/api/v1/names/{device}",
            axum::routing::put(api::rename).layer(axum::extract::DefaultBodyLimit::max(1024)),
        )
        .fallback(files)
        .with_state(web);
    let open = auth.is_none();
    if let Some(auth) = auth {
        router = router.layer(axum::middleware::from_fn_with_state(auth, auth::require));
    }
    if open {
        router = router.layer(axum::middleware::from_fn(addressed_by_ip));
    }
    server::serve(config.listen, "web", router)
}

/// A page without a password answers only requests naming it by an address (or `localhost`):
/// another site that points a name of its own at 127.0.0.1 (DNS rebinding) gets nothing.
async fn addressed_by_ip(request: Request, next: axum::middleware::Next) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match host {
        Some(h) if !host_is_an_address(&h) && request.uri().path() != "/healthz" => (
            StatusCode::MISDIRECTED_REQUEST,
            "this page answers to its address, not to a name (set web_user to reach it by name)\n",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// `127.0.0.1:8080`, `[::1]:8080`, `192.168.1.1`, `localhost:8080`: an address, not a name.
fn host_is_an_address(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host
            .rsplit_once(':')
            .map_or(host, |(n, port)| match port.parse::<u16>() {
                Ok(_) => n,
                Err(_) => host,
            }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

async fn metrics() -> Response {
    let body = server::blocking(crate::metrics::render)
        .await
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

async fn files(request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(axum::http::header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = request.uri().path();
    match assets::serve(path, request.headers()) {
        Some(r) => r,
        None if path.starts_with("/api/") => {
            api::error(StatusCode::NOT_FOUND, format!("no endpoint {path}"))
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_are_addresses() {
        for h in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "[::1]",
            "localhost:8080",
            "LOCALHOST",
            "192.168.1.1:80",
        ] {
            assert!(host_is_an_address(h), "{h}");
        }
        for h in [
            "evil.example:8080",
            "evil.example",
            "router.lan:8080",
            "[evil]:80",
            "127.0.0.1.nip.io:80",
        ] {
            assert!(!host_is_an_address(h), "{h}");
        }
    }
}
