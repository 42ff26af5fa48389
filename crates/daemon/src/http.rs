//! HTTP: serving `GET` endpoints (the Prometheus expositions) on the daemon's server, and a
//! client for `POST`s (webhooks, InfluxDB writes).

use std::io::Write;
#[cfg(not(feature = "web"))]
use std::io::{BufRead, BufReader};
#[cfg(not(feature = "web"))]
use std::net::TcpListener;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// What a path answers: `Some((content type, body))`, or `None` for 404.
pub type Handler = Arc<dyn Fn(&str) -> Option<(&'static str, String)> + Send + Sync>;

/// Binds `addr` and serves `handler` on it; the error says what failed.
///
/// With the `web` feature (the default) this is the daemon's one HTTP server and its limits
/// ([`crate::web::server`]); GET and HEAD are answered.
#[cfg(feature = "web")]
pub fn serve(addr: SocketAddr, name: &str, handler: Handler) -> Result<SocketAddr, String> {
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let handler = handler.clone();
        async move { answer_with(&handler, request).await }
    });
    crate::web::server::serve(addr, name, router)
}

#[cfg(feature = "web")]
async fn answer_with(
    handler: &Handler,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{header, Method, StatusCode};
    use axum::response::IntoResponse;
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "GET only\n",
        )
            .into_response();
    }
    let path = request.uri().path().to_string();
    let handler = handler.clone();
    match crate::web::server::blocking(move || handler(&path)).await {
        Ok(Some((content_type, body))) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Client threads at once of the small server (built without the `web` feature).
#[cfg(not(feature = "web"))]
const MAX_CLIENT_THREADS: usize = 32;

/// Binds `addr` and serves it on a thread of its own, one thread per client up to
/// [`MAX_CLIENT_THREADS`] (more are closed at once); the error says what failed.
#[cfg(not(feature = "web"))]
pub fn serve(addr: SocketAddr, name: &str, handler: Handler) -> Result<SocketAddr, String> {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let name = name.to_string();
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                if busy.fetch_add(1, SeqCst) >= MAX_CLIENT_THREADS {
                    busy.fetch_sub(1, SeqCst);
                    continue;
                }
                let (handler, name, done) = (handler.clone(), name.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("http-client".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream, &handler) {
                            tracing::debug!("( {name} ): http client: {e}");
                        }
                        done.fetch_sub(1, SeqCst);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, SeqCst);
                }
            }
        })
        .map_err(|e| format!("cannot start the http thread: {e}"))?;
    Ok(local)
}

/// Reads a request until a deadline: each read may wait only for what is left of it.
#[cfg(not(feature = "web"))]
struct Deadline {
    stream: TcpStream,
    at: std::time::Instant,
}

#[cfg(not(feature = "web"))]
impl std::io::Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.at.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "slow request",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

#[cfg(not(feature = "web"))]
fn answer(stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    use std::io::Read;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let within = Deadline {
        stream: stream.try_clone()?,
        at: std::time::Instant::now() + Duration::from_secs(10),
    };
    let mut reader = BufReader::new(within.take(16 * 1024));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The headers are read and ignored (a client may wait until they are consumed).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut words = request.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, handler(path)) {
        ("GET", Some((t, b))) => ("200 OK", t, b),
        ("GET", None) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body.as_bytes())?;
    out.flush()
}

/// `http://host[:port][/path]`: the address to connect to, the Host header, the path and query.
pub fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']');
    let addr = match has_port {
        true => authority.to_string(),
        false => format!("{authority}:80"),
    };
    Some((addr, authority.to_string(), path.to_string()))
}

/// One POST with `headers` (name, value); the status code and the start of the answer's body.
pub fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<(u16, String), String> {
    use std::io::Read;
    let (addr, host, path) = split_url(url).ok_or_else(|| format!("bad URL '{url}'"))?;
    let mut s = TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let mut head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\nUser-Agent: pmacct-rs\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("no HTTP answer from {addr}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((code, body.chars().take(300).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/hook?x=1"),
            Some((
                "127.0.0.1:8080".into(),
                "127.0.0.1:8080".into(),
                "/hook?x=1".into()
            ))
        );
        assert_eq!(
            split_url("http://alerts.lan"),
            Some(("alerts.lan:80".into(), "alerts.lan".into(), "/".into()))
        );
        assert_eq!(split_url("https://x"), None);
    }
}
