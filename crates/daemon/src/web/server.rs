//! The HTTP server every endpoint of the daemon runs on (the web page, `metrics_listen`,
//! `prometheus_listen`): hyper on a tokio runtime of one thread, with fixed limits.
//!
//! - At most [`MAX_CONNECTIONS`] connections at once over every listener; more are closed as
//!   they come (counted), so a flood never grows threads or memory.
//! - A request's head must arrive within [`HEADER_TIMEOUT`] and fit in [`MAX_HEAD_BYTES`]
//!   (431 otherwise); a connection lives at most [`CONNECTION_DEADLINE`].
//! - Work that blocks (a report over an SQLite table, a plugin's exposition) runs on at most
//!   [`BLOCKING_THREADS`] threads; the async thread only moves bytes.
//! - Every answer carries `Content-Security-Policy: default-src 'self'` and friends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

/// Connections open at once, over every listener.
pub const MAX_CONNECTIONS: usize = 4096;
/// Time for a request's line and headers to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a connection may stay open, keep-alive included.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Time a request under way at the deadline still gets.
pub const GRACE: Duration = Duration::from_secs(5);
/// Largest request head (line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Threads for blocking work.
pub const BLOCKING_THREADS: usize = 4;

/// Connections closed at once because [`MAX_CONNECTIONS`] were open.
pub static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

struct Shared {
    runtime: tokio::runtime::Runtime,
    connections: Arc<Semaphore>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

fn shared() -> Result<&'static Shared, String> {
    SHARED
        .get_or_init(|| {
            // Up to MAX_CONNECTIONS sockets may be open at once.
            crate::process::raise_open_files();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("http")
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| format!("cannot start the http runtime: {e}"))?;
            Ok(Shared {
                runtime,
                connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs blocking work (SQLite, a plugin's lock) off the async thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the request's work failed: {e}"))
}

/// Binds `addr` now (so errors show at start, before privileges are dropped) and serves
/// `router` on it with the limits above; returns the address bound.
pub fn serve(addr: SocketAddr, name: &str, router: Router) -> Result<SocketAddr, String> {
    let shared = shared()?;
    let std_listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = std_listener.local_addr().map_err(|e| e.to_string())?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let _guard = shared.runtime.enter();
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let router = router.layer(axum::middleware::from_fn(security_headers));
    let name = name.to_string();
    let connections = shared.connections.clone();
    shared
        .runtime
        .spawn(accept_loop(listener, router, connections, name));
    Ok(local)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    connections: Arc<Semaphore>,
    name: String,
) {
    let mut said_emfile = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (a flood): wait for connections to close.
                if !said_emfile {
                    tracing::warn!("( {name} ): http: cannot accept: {e}");
                    said_emfile = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            REFUSED_CONNECTIONS.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            if tokio::time::timeout(CONNECTION_DEADLINE, conn.as_mut())
                .await
                .is_err()
            {
                // At the deadline a request under way is finished, then the connection closed.
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(GRACE, conn).await;
            }
            drop(permit);
        });
    }
}

/// The headers every answer carries: no outside resource, no framing, no sniffing.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}
