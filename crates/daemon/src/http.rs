//! A minimal HTTP/1.1 server for `GET` endpoints (the Prometheus exposition), one thread per
//! connection, no keep-alive.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// What a path answers: `Some((content type, body))`, or `None` for 404.
pub type Handler = Arc<dyn Fn(&str) -> Option<(&'static str, String)> + Send + Sync>;

/// Binds `addr` and serves it on a thread of its own; the error says what failed.
pub fn serve(addr: SocketAddr, name: &str, handler: Handler) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let name = name.to_string();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let handler = handler.clone();
                let name = name.clone();
                let _ = std::thread::Builder::new()
                    .name("http-client".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream, &handler) {
                            tracing::debug!("( {name} ): http client: {e}");
                        }
                    });
            }
        })
        .map_err(|e| format!("cannot start the http thread: {e}"))?;
    Ok(local)
}

fn answer(stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
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
