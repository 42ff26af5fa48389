//! Alerts POSTed as JSON to an http:// URL, from a thread of their own, retried.

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

/// One POST; Ok when the server answered 2xx.
fn post(url: &str, body: &str) -> Result<(), String> {
    let headers = [("Content-Type", "application/json".to_string())];
    match crate::http::post(url, &headers, body.as_bytes())? {
        (code, _) if (200..300).contains(&code) => Ok(()),
        (code, text) => Err(format!("answered {code} {}", text.trim())),
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
