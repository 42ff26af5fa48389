//! The page's files, embedded in the binary: served gzip-compressed to clients that take it,
//! with an ETag so a reload costs a 304.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
    gzip: Vec<u8>,
    etag: String,
}

/// (URL path, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "/assets/style.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/uPlot.min.css"),
    ),
];

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(path, content_type, raw)| {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let gzip = gz
                    .write_all(raw)
                    .and_then(|()| gz.finish())
                    .unwrap_or_default();
                let hash = Sha256::digest(raw);
                let etag = format!(
                    "\"{}\"",
                    hash.iter()
                        .take(12)
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                );
                Asset {
                    path,
                    content_type,
                    raw,
                    gzip,
                    etag,
                }
            })
            .collect()
    })
}

/// One embedded file, or `None` when there is none at `path`.
pub fn serve(path: &str, headers: &HeaderMap) -> Option<Response> {
    let asset = assets().iter().find(|a| a.path == path)?;
    let cache = (header::CACHE_CONTROL, "no-cache");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    if matches {
        return Some(
            (
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, asset.etag.clone()),
                    (cache.0, cache.1.into()),
                ],
            )
                .into_response(),
        );
    }
    let gzip_ok = !asset.gzip.is_empty()
        && headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let common = [
        (header::CONTENT_TYPE, asset.content_type.to_string()),
        (header::ETAG, asset.etag.clone()),
        (cache.0, cache.1.to_string()),
        (header::VARY, "Accept-Encoding".to_string()),
    ];
    Some(match gzip_ok {
        true => (
            common,
            [(header::CONTENT_ENCODING, "gzip")],
            asset.gzip.clone(),
        )
            .into_response(),
        false => (common, asset.raw).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_with_etags_and_304() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, "gzip, br".parse().expect("value"));
        let r = serve("/assets/app.js", &h).expect("asset");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let etag = r.headers()[header::ETAG].clone();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            serve("/assets/app.js", &h).expect("asset").status(),
            StatusCode::NOT_MODIFIED
        );
        let r = serve("/", &HeaderMap::new()).expect("index");
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(serve("/assets/nope.js", &h).is_none());
        // Every embedded file is smaller compressed.
        assert!(assets().iter().all(|a| a.gzip.len() < a.raw.len()));
    }
}
