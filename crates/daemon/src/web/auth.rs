//! HTTP Basic authentication of the page (`web_user` with `web_password_hash` or
//! `web_password_file`). `/healthz` stays open. The password is never logged.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pmacct_core::config::WebPassword;
use sha2::{Digest, Sha256};

/// How a password is checked.
enum Secret {
    /// An Argon2 hash in PHC form.
    Argon2(String),
    /// The SHA-256 of the password read from `web_password_file`.
    Digest([u8; 32]),
}

/// The page's credentials, and the logins already verified (by digest of the header).
pub struct Auth {
    user: String,
    secret: Secret,
    verified: Mutex<Vec<[u8; 32]>>,
    /// One password check at a time (Argon2 costs tens of milliseconds): more wait briefly,
    /// then get 429, so wrong passwords in a loop take one thread, never all.
    checking: Arc<tokio::sync::Semaphore>,
}

/// How long a login waits for the password check in progress.
const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Logins remembered as verified (an Argon2 check costs tens of milliseconds).
const REMEMBERED: usize = 16;

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal in a time that does not depend on where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// The credentials of the configuration; a password file must be its owner's alone.
    pub fn new(user: &str, password: &WebPassword) -> Result<Auth, String> {
        let secret = match password {
            WebPassword::Hash(h) => {
                let parsed = argon2::PasswordHash::new(h)
                    .map_err(|e| format!("web_password_hash: not an Argon2 hash: {e}"))?;
                if parsed.hash.is_none() || parsed.salt.is_none() {
                    return Err("web_password_hash: an Argon2 hash needs its salt and hash".into());
                }
                Secret::Argon2(h.clone())
            }
            WebPassword::File(path) => Secret::Digest(digest(read_password_file(path)?.as_bytes())),
        };
        Ok(Auth {
            user: user.to_string(),
            secret,
            verified: Mutex::new(Vec::new()),
            checking: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// Whether this `Authorization` header was verified lately (cheap: one SHA-256).
    fn remembered(&self, value: &str) -> bool {
        let key = digest(value.as_bytes());
        let remembered = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        remembered.iter().any(|k| same(k, &key))
    }

    /// Whether an `Authorization` header holds the page's user and password.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.remembered(value) {
            return true;
        }
        let key = digest(value.as_bytes());
        let ok = self.verify(value);
        if ok {
            let mut remembered = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if remembered.len() >= REMEMBERED {
                remembered.remove(0);
            }
            remembered.push(key);
        }
        ok
    }

    fn verify(&self, value: &str) -> bool {
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let user_ok = same(&digest(user.as_bytes()), &digest(self.user.as_bytes()));
        let password_ok = match &self.secret {
            Secret::Digest(d) => same(&digest(password.as_bytes()), d),
            Secret::Argon2(phc) => {
                use argon2::PasswordVerifier;
                argon2::PasswordHash::new(phc).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
            }
        };
        user_ok && password_ok
    }
}

/// The first line of a password file; refused when others may read it.
fn read_password_file(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("web_password_file: cannot read '{shown}': {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "web_password_file: '{shown}' may be read by others (mode {mode:o}): chmod 600 it"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("web_password_file: cannot read '{shown}': {e}"))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(format!("web_password_file: '{shown}' is empty"));
    }
    Ok(line.to_string())
}

/// An Argon2id hash of `password` in PHC form (`pmacctd --hash-password`).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    let mut f = std::fs::File::open("/dev/urandom").map_err(|e| e.to_string())?;
    std::io::Read::read_exact(&mut f, &mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Middleware: every path but `/healthz` needs the credentials.
pub async fn require(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let value = header_text(request.headers());
    let ok = match value {
        None => false,
        Some(v) if auth.remembered(&v) => true,
        Some(v) => {
            // A header not seen before: one full check at a time, off the async thread.
            let Ok(Ok(permit)) =
                tokio::time::timeout(CHECK_WAIT, auth.checking.clone().acquire_owned()).await
            else {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "too many logins at once: try again\n",
                )
                    .into_response();
            };
            let checker = auth.clone();
            let checked = super::server::blocking(move || checker.check(Some(&v))).await;
            drop(permit);
            checked == Ok(true)
        }
    };
    if ok {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"pmacct-rs\", charset=\"UTF-8\"",
        )],
        "authentication required\n",
    )
        .into_response()
}

fn header_text(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}")
    }

    #[test]
    fn argon2_hashes_and_password_files() {
        let hash = hash_password("s3cret").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        let auth = Auth::new("admin", &WebPassword::Hash(hash)).expect("auth");
        assert!(auth.check(Some(&basic("admin", "s3cret"))));
        assert!(auth.check(Some(&basic("admin", "s3cret"))), "remembered");
        assert!(!auth.check(Some(&basic("admin", "wrong"))));
        assert!(!auth.check(Some(&basic("root", "s3cret"))));
        assert!(!auth.check(Some("Bearer x")));
        assert!(!auth.check(None));

        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "pass word\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = Auth::new("u", &WebPassword::File(file.clone()))
            .err()
            .expect("refused");
        assert!(e.contains("may be read by others (mode 644)"), "{e}");
        assert!(!e.contains("pass word"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let auth = Auth::new("u", &WebPassword::File(file)).expect("auth");
        assert!(auth.check(Some(&basic("u", "pass word"))));
        assert!(!auth.check(Some(&basic("u", "pass"))));
        assert!(Auth::new("u", &WebPassword::Hash("$argon2id".into())).is_err());
    }
}
