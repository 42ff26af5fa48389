//! The JSON API under `/api/v1/` (docs/web.md). Usage comes from the report's code
//! (`pmacct_client::report`): the same records `pmacct report --format json` prints.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pmacct_client::report::{self, DeviceKey, ReportOptions};
use serde_json::{json, Value};

use super::Web;

/// Records an answer may hold at most.
pub const MAX_ROWS: usize = 100_000;
/// Largest `top`.
pub const MAX_TOP: usize = 100;
/// Query parameters read at most.
const MAX_PARAMS: usize = 64;
/// How long a request waits for one of the report workers.
const WAIT_FOR_WORKER: Duration = Duration::from_secs(20);

/// An error answer: `{"error": ...}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn pairs(query: Option<String>) -> Result<Vec<(String, String)>, Response> {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .take(MAX_PARAMS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match pairs.len() > MAX_PARAMS {
        true => Err(error(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_PARAMS} parameters"),
        )),
        false => Ok(pairs),
    }
}

/// The report's options for a request: its parameters over the page's source.
fn options(
    web: &Web,
    pairs: &[(String, String)],
    skip: &[&str],
) -> Result<ReportOptions, Response> {
    let Some(source) = &web.source else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no usage source for the page: add a sqlite3 plugin writing to one table (or a memory plugin with imt_history), or set web_source",
        ));
    };
    let mut pairs = pairs.to_vec();
    let has_nets = pairs.iter().any(|(key, _)| key == "local_net");
    let has_zone = pairs.iter().any(|(key, _)| key == "stamps_utc");
    if !has_nets {
        pairs.extend(
            web.config
                .local
                .iter()
                .map(|c| ("local_net".to_string(), c.to_string())),
        );
    }
    if source.stamps_utc && !has_zone {
        pairs.push(("stamps_utc".into(), "1".into()));
    }
    let mut o = report::parse_query(&pairs, source.report.clone(), &source.table, skip)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    if o.top > MAX_TOP {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("top is at most {MAX_TOP}"),
        ));
    }
    o.names = web
        .config
        .names_file
        .as_ref()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string());
    o.leases = web.lease_files();
    o.identities = true;
    Ok(o)
}

/// Runs report work on a worker, at most [`super::WORKERS`] at once.
async fn work<T: Send + 'static>(
    web: &Arc<Web>,
    job: impl FnOnce(&Web) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let permit = tokio::time::timeout(WAIT_FOR_WORKER, web.workers.clone().acquire_owned())
        .await
        .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "busy: try again"))?
        .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let web = web.clone();
    let done = super::server::blocking(move || {
        let r = job(&web);
        drop(permit);
        r
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    done.map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

fn failure_text(f: pmacct_client::Failure) -> String {
    match f {
        pmacct_client::Failure::Error { message, .. } => message,
        pmacct_client::Failure::Output(e) => e.to_string(),
    }
}

pub async fn usage(State(web): State<Arc<Web>>, RawQuery(q): RawQuery) -> Response {
    let result = async {
        let o = options(&web, &pairs(q)?, &[])?;
        let top = o.top;
        let report = work(&web, move |w| w.report(&o)).await?;
        if report.rows.len() > MAX_ROWS {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} records: more than {MAX_ROWS}; narrow the period (from, to) or use a longer by",
                    report.rows.len()
                ),
            ));
        }
        Ok(Json(report::json_value(&report.rows, top)).into_response())
    };
    result.await.unwrap_or_else(|e| e)
}

pub async fn devices(State(web): State<Arc<Web>>, RawQuery(q): RawQuery) -> Response {
    let result = async {
        let mut o = options(&web, &pairs(q)?, &["by"])?;
        o.by = report::period::By::All;
        let report = work(&web, move |w| w.report(&o)).await?;
        let list: Vec<Value> = report
            .devices
            .iter()
            .map(|(device, name, ids)| {
                json!({
                    "device": device,
                    "name": name,
                    "macs": ids.macs.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "addresses": ids.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(Json(Value::Array(list)).into_response())
    };
    result.await.unwrap_or_else(|e| e)
}

/// The `n` largest of `(key, down, up)`, most bytes first.
fn largest<K: Ord + Copy>(
    map: impl Iterator<Item = (K, (u64, u64))>,
    n: usize,
) -> Vec<(K, u64, u64)> {
    let mut v: Vec<(K, u64, u64)> = map.map(|(k, (d, u))| (k, d, u)).collect();
    v.sort_by(|a, b| {
        b.1.saturating_add(b.2)
            .cmp(&a.1.saturating_add(a.2))
            .then(a.0.cmp(&b.0))
    });
    v.truncate(n);
    v
}

pub async fn device(
    State(web): State<Arc<Web>>,
    Path(device): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let result = async {
        let pairs = pairs(q)?;
        let key = DeviceKey::parse(&device).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("'{device}' is not an IP or MAC address"),
            )
        })?;
        let day = pairs
            .iter()
            .find(|(k, _)| k == "day")
            .map(|(_, v)| v.clone());
        if let Some(d) = &day {
            d.parse::<jiff::civil::Date>().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("day={d}: expected YYYY-MM-DD"),
                )
            })?;
        }
        let mut o = options(&web, &pairs, &["day", "by"])?;
        let top = match o.top {
            0 => 10,
            n => n,
        };
        o.top = 0;
        let detail = work(&web, move |_| {
            report::device_detail(&o, key).map_err(failure_text)
        })
        .await?;
        if detail.days.is_empty() && detail.hours.is_empty() {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no traffic of '{device}' in this period"),
            ));
        }
        Ok(Json(detail_json(detail, day, top)).into_response())
    };
    result.await.unwrap_or_else(|e| e)
}

/// A device's detail as the API answers it: its days, the hours of `day` (default: its last
/// day), its `top` peers and ports.
fn detail_json(detail: report::Detail, day: Option<String>, top: usize) -> Value {
    let day = day.or_else(|| detail.days.last().map(|r| r.period.clone()));
    let hours: Vec<report::Row> = detail
        .hours
        .into_iter()
        .filter(|r| {
            day.as_ref()
                .is_some_and(|d| r.period.starts_with(d.as_str()))
        })
        .collect();
    // The device is the answer's own: not repeated in each row.
    let strip = |mut v: Value| {
        if let Value::Array(items) = &mut v {
            for i in items {
                if let Value::Object(m) = i {
                    m.remove("device");
                    m.remove("name");
                }
            }
        }
        v
    };
    // With names, countries and AS when the source has them (`name`, `country`, `as`).
    let peers: Vec<Value> = largest(detail.peers.into_iter(), top)
        .into_iter()
        .map(|(p, d, u): (IpAddr, u64, u64)| report::peer_json(p, d, u, detail.peer_info.get(&p)))
        .collect();
    let ports = detail.ports.map(|ports| {
        largest(ports.into_iter(), top)
            .into_iter()
            .map(|((proto, port), d, u)| {
                json!({"port": port, "proto": pmacct_core::protocols::protocol_name(proto), "download_bytes": d, "upload_bytes": u})
            })
            .collect::<Vec<_>>()
    });
    json!({
        "device": detail.device,
        "name": detail.name,
        "days": strip(report::json_value(&detail.days, 0)),
        "day": day,
        "hours": strip(report::json_value(&hours, 0)),
        "peers": peers,
        "ports": ports,
    })
}

pub async fn caps(State(web): State<Arc<Web>>) -> Response {
    let Some(state) = web.caps_state.clone() else {
        return Json(json!({"available": false, "reason": "no quota plugin is configured", "caps": [], "alerts": []})).into_response();
    };
    let answer = work(&web, move |_| {
        if !std::path::Path::new(&state).exists() {
            return Ok(json!({"available": true, "caps": [], "alerts": []}));
        }
        let rows = pmacct_client::caps::read(&state).map_err(failure_text)?;
        let alerts = pmacct_client::caps::alerts(&state, 200).map_err(failure_text)?;
        let now = jiff::Timestamp::now().as_second();
        let caps: Vec<Value> = rows.iter().map(|r| cap_json(r, now)).collect();
        let alerts: Vec<Value> = alerts
            .iter()
            .map(|a| {
                json!({"time": pmacct_client::caps::iso(a.fired_at), "name": a.name, "device": a.device,
                       "threshold": a.threshold.to_string(), "used_bytes": a.used})
            })
            .collect();
        Ok(json!({"available": true, "caps": caps, "alerts": alerts}))
    })
    .await;
    match answer {
        Ok(v) => Json(v).into_response(),
        Err(e) => e,
    }
}

/// Linear projection of a cap's use to the end of its period, from the share elapsed.
pub fn projected(used: i64, start: i64, end: i64, now: i64) -> i64 {
    if end <= start {
        return used;
    }
    let span = (end - start).max(1);
    let elapsed = (now.clamp(start, end) - start).max(1);
    if now >= end {
        return used;
    }
    ((used as i128 * span as i128) / elapsed as i128).min(i64::MAX as i128) as i64
}

fn cap_json(r: &pmacct_client::caps::Row, now: i64) -> Value {
    let percent = r.used as f64 * 100.0 / r.limit.max(1) as f64;
    json!({
        "name": r.name, "device": r.device, "direction": r.direction,
        "limit_bytes": r.limit, "used_bytes": r.used,
        "percent": (percent * 10.0).round() / 10.0,
        "period_start": pmacct_client::caps::iso(r.start),
        "period_end": pmacct_client::caps::iso(r.end),
        "projected_bytes": projected(r.used, r.start, r.end, now),
        "alerts_fired": r.alerts.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
    })
}

pub async fn status(State(web): State<Arc<Web>>) -> Response {
    let text = super::server::blocking(crate::metrics::render)
        .await
        .unwrap_or_default();
    let mut metrics = serde_json::Map::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((name, value)) = line.rsplit_once(' ') {
            if let Ok(v) = value.parse::<f64>() {
                metrics.insert(name.to_string(), json!(v));
            }
        }
    }
    Json(json!({
        "program": web.program_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": web.started.elapsed().as_secs(),
        "refused_connections": super::server::REFUSED_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed),
        "metrics": metrics,
    }))
    .into_response()
}

pub async fn config(State(web): State<Arc<Web>>) -> Response {
    let today = work(&web, |w| Ok(w.today())).await;
    let today = match today {
        Ok(t) => t,
        Err(e) => return e,
    };
    let s = web.source.as_ref();
    Json(json!({
        "program": web.program_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "read_only": web.config.read_only,
        "billing_day": web.config.billing_day,
        "utc": false,
        "stamps_utc": s.is_some_and(|s| s.stamps_utc),
        "time_zone": pmacct_core::bins::time_zone(false).iana_name().unwrap_or("local"),
        "source": s.map(|s| s.kind),
        "has_bins": s.is_some_and(|s| s.bins),
        "has_live": web.live.is_some(),
        "has_caps": web.caps_state.is_some(),
        "local_nets": web.config.local.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "today": today,
        "limits": {"rows": MAX_ROWS, "top": MAX_TOP},
    }))
    .into_response()
}

pub async fn live(State(web): State<Arc<Web>>, RawQuery(q): RawQuery) -> Response {
    let pairs = match pairs(q) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let window = match pairs
        .iter()
        .find(|(k, _)| k == "window")
        .map(|(_, v)| v.as_str())
    {
        None | Some("10") => 10,
        Some("60") => 60,
        Some(w) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("window={w}: expected 10 or 60"),
            )
        }
    };
    match &web.live {
        Some(live) => {
            let live = live.clone();
            let names = web.names();
            let v = super::server::blocking(move || live.snapshot(window, &|d| names.get(d).to_string())).await;
            match v {
                Ok(v) => Json(v).into_response(),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
            }
        }
        None => Json(json!({"available": false, "reason": "live traffic is not kept (see docs/web.md)", "window_seconds": window, "talkers": [], "interfaces": [], "series": []})).into_response(),
    }
}

/// `PUT /api/v1/names/{device}`: the body is the device's name (empty: no name), written to
/// `web_names_file`. Only with `web_read_only: false`.
pub async fn rename(
    State(web): State<Arc<Web>>,
    Path(device): Path<String>,
    body: String,
) -> Response {
    if web.config.read_only {
        return error(
            StatusCode::FORBIDDEN,
            "the page is read-only (web_read_only: true)",
        );
    }
    let Some(path) = web.config.names_file.clone() else {
        return error(StatusCode::FORBIDDEN, "no web_names_file to write names to");
    };
    let Some(key) = DeviceKey::parse(&device) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'{device}' is not an IP or MAC address"),
        );
    };
    let name = body.trim().to_string();
    let (device, written) = (key.to_string(), name.clone());
    let done = work(&web, move |w| {
        report::devices::set_name(&path, &device, &written)?;
        w.forget();
        Ok(device)
    })
    .await;
    match done {
        Ok(device) => {
            tracing::info!("( web ): device {device} named '{name}'");
            Json(json!({"device": device, "name": name})).into_response()
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_is_linear_and_stops_at_the_end() {
        assert_eq!(projected(10, 0, 100, 25), 40);
        assert_eq!(projected(10, 0, 100, 100), 10);
        assert_eq!(projected(10, 0, 100, 500), 10);
        assert_eq!(projected(0, 0, 100, 0), 0);
        assert_eq!(projected(7, 100, 50, 75), 7);
    }

    #[test]
    fn the_largest_first_ties_by_key() {
        let v = largest([(2, (5, 0)), (1, (0, 5)), (3, (9, 9))].into_iter(), 2);
        assert_eq!(v, vec![(3, 9, 9), (1, 0, 5)]);
    }
}
