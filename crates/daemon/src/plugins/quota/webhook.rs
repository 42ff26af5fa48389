//! Alerts POSTed as JSON to an http:// URL, from a thread of their own, retried.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

/// Attempts per alert, and the wait before each retry (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_secs(1);

pub struct Webhook {
    tx: Option<Sender<String>>,
    thread: Option<JoinHandle<()>>,
}

/// `http://host[:port][/path]`: the address to connect to, the Host header, the path.
fn split_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((addr, authority.to_string(), path.to_string()))
}

/// One POST; Ok when the server answered 2xx.
fn post(url: &str, body: &str) -> Result<(), String> {
    let (addr, host, path) = split_url(url).ok_or_else(|| format!("bad URL '{url}'"))?;
    let mut s = TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: pmacct-rs\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).map_err(|e| e.to_string())?;
    let status = String::from_utf8_lossy(&head[..n]);
    let code = status.split_whitespace().nth(1).unwrap_or("");
    match code.starts_with('2') {
        true => Ok(()),
        false => Err(format!(
            "answered '{}'",
            status.lines().next().unwrap_or("")
        )),
    }
}

impl Webhook {
    pub fn start(url: &str, label: &str) -> Webhook {
        let (tx, rx) = crossbeam_channel::unbounded::<String>();
        let (url, label) = (url.to_string(), label.to_string());
        let thread = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || {
                for body in rx {
                    let mut wait = FIRST_WAIT;
                    for attempt in 1..=ATTEMPTS {
                        match post(&url, &body) {
                            Ok(()) => {
                                tracing::info!("( {label} ): webhook {url}: alert delivered");
                                break;
                            }
                            Err(e) if attempt < ATTEMPTS => {
                                tracing::warn!("( {label} ): webhook {url}: {e}; retrying in {} s", wait.as_secs());
                                std::thread::sleep(wait);
                                wait *= 2;
                            }
                            Err(e) => tracing::error!(
                                "( {label} ): webhook {url}: {e}; alert not delivered after {ATTEMPTS} attempts"
                            ),
                        }
                    }
                }
            })
            .ok();
        Webhook {
            tx: Some(tx),
            thread,
        }
    }

    pub fn send(&self, body: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(body);
        }
    }

    /// Delivers (or gives up on) what is queued, then stops.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/hook"),
            Some((
                "127.0.0.1:8080".into(),
                "127.0.0.1:8080".into(),
                "/hook".into()
            ))
        );
        assert_eq!(
            split_url("http://alerts.lan"),
            Some(("alerts.lan:80".into(), "alerts.lan".into(), "/".into()))
        );
        assert_eq!(split_url("https://x"), None);
    }
}
