//! The web page's settings (`web_*` keys, docs/web.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{parse_uint, PluginConfig, PluginOptions, Reader, SqlBackend};
use crate::cidr::Cidr;

/// How the page's password is given: never the password itself in the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum WebPassword {
    /// `web_password_hash`: an Argon2 hash in PHC form (`$argon2id$v=19$...`).
    Hash(String),
    /// `web_password_file`: a file holding the password (readable by its owner only).
    File(PathBuf),
}

impl std::fmt::Debug for WebPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebPassword::Hash(_) => write!(f, "Hash(..)"),
            WebPassword::File(p) => write!(f, "File({p:?})"),
        }
    }
}

/// Where the page reads per-device usage from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebSource {
    /// An SQLite database written by a sqlite3 plugin (its `sql_db`, `sql_table`).
    Sqlite {
        plugin: String,
        db: String,
        table: String,
        stamps_utc: bool,
    },
    /// A memory plugin of this daemon (with or without `imt_history`).
    Memory { plugin: String, bins: bool },
}

/// `web_listen` and its companions.
#[derive(Clone, Debug, PartialEq)]
pub struct WebConfig {
    pub listen: SocketAddr,
    pub user: Option<String>,
    pub password: Option<WebPassword>,
    /// `web_read_only: false` lets the page name devices (written to `web_names_file`).
    pub read_only: bool,
    /// `None`: no plugin keeps usage; the page shows live traffic and caps only.
    pub source: Option<WebSource>,
    pub local: Vec<Cidr>,
    pub names_file: Option<PathBuf>,
    /// `dhcp_leases_file` and `names_learned_file`: device names from DHCP leases and from
    /// what the daemon learned on the wire.
    pub leases_files: Vec<PathBuf>,
    /// The day of the month a billing cycle starts on (1-28).
    pub billing_day: u8,
}

/// `web_listen`: `ADDRESS:PORT`, or a bare `PORT` on the loopback address.
pub fn parse_web_listen(v: &str) -> Result<SocketAddr, String> {
    let v = v.trim();
    if let Ok(port) = v.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    v.parse().map_err(|_| {
        format!("'{v}' is not PORT or ADDRESS:PORT (such as 8080, 127.0.0.1:8080 or [::1]:8080)")
    })
}

fn parse_nets(v: &str) -> Result<Vec<Cidr>, String> {
    v.split(',').map(|n| Cidr::parse(n.trim())).collect()
}

/// The plugin the page reads: the one `web_source` names, else the first sqlite3 plugin, else
/// the first memory plugin.
fn pick_source(
    r: &mut Reader,
    plugins: &[PluginConfig],
    named: Option<String>,
) -> Option<WebSource> {
    let source_of = |p: &PluginConfig| match &p.options {
        PluginOptions::Sql(s) if s.backend == SqlBackend::Sqlite3 => Some(WebSource::Sqlite {
            plugin: p.name.clone(),
            db: s.db.clone(),
            table: s.table.clone(),
            stamps_utc: p.timestamps_utc,
        }),
        PluginOptions::Memory(_) => Some(WebSource::Memory {
            plugin: p.name.clone(),
            bins: p.bins.is_some(),
        }),
        _ => None,
    };
    if let Some(name) = named {
        let found = plugins.iter().find(|p| p.name == name);
        return match found.map(|p| (p, source_of(p))) {
            Some((_, Some(s))) => Some(s),
            Some((p, None)) => {
                r.error(
                    "web_source",
                    format!(
                        "plugin '{name}' is a {} plugin: the page reads a sqlite3 or memory plugin",
                        p.kind
                    ),
                );
                None
            }
            None => {
                r.error("web_source", format!("no plugin is named '{name}'"));
                None
            }
        };
    }
    let sqlite = plugins
        .iter()
        .filter_map(source_of)
        .find(|s| matches!(s, WebSource::Sqlite { .. }));
    sqlite.or_else(|| plugins.iter().find_map(source_of))
}

pub(super) fn build(r: &mut Reader, plugins: &[PluginConfig]) -> Option<WebConfig> {
    let listen = r.typed("web_listen", parse_web_listen);
    let user = r.text("web_user");
    let hash = r.typed("web_password_hash", |v| {
        let v = v.trim();
        match v.starts_with("$argon2") {
            true => Ok(v.to_string()),
            false => Err("expected an Argon2 hash ($argon2id$v=19$...): see docs/web.md for how to make one (the password itself is never written in the configuration)".to_string()),
        }
    });
    let file = r.path("web_password_file");
    let read_only = r.bool("web_read_only", true);
    let named = r.text("web_source");
    let local = r.typed("web_local_net", parse_nets);
    let names_file = r.path("web_names_file");
    let leases_file = r.path("dhcp_leases_file");
    let learned_file = r.path("names_learned_file");
    let billing_day = r.typed("web_billing_day", |v| parse_uint(v, 1, 28));
    let Some(listen) = listen else {
        let set: Vec<&str> = [
            "web_user",
            "web_password_hash",
            "web_password_file",
            "web_read_only",
            "web_source",
            "web_local_net",
            "web_names_file",
            "dhcp_leases_file",
            "web_billing_day",
        ]
        .into_iter()
        .filter(|k| r.at(k).is_some())
        .collect();
        if let Some(first) = set.first() {
            if r.at("web_listen").is_none() {
                r.error(
                    first,
                    "has no effect without web_listen (the page's address)".into(),
                );
            }
        }
        return None;
    };
    let password = match (hash, file) {
        (Some(_), Some(_)) => {
            r.error(
                "web_password_file",
                "give web_password_hash or web_password_file, not both".into(),
            );
            None
        }
        (Some(h), None) => Some(WebPassword::Hash(h)),
        (None, Some(f)) => Some(WebPassword::File(f)),
        (None, None) => None,
    };
    match (&user, &password) {
        (Some(_), None) => r.error(
            "web_user",
            "needs a password: web_password_hash or web_password_file".into(),
        ),
        (None, Some(_)) => r.error(
            if r.at("web_password_hash").is_some() {
                "web_password_hash"
            } else {
                "web_password_file"
            },
            "needs web_user (the name to log in with)".into(),
        ),
        _ => {}
    }
    if !read_only && names_file.is_none() {
        r.error(
            "web_read_only",
            "'false' lets the page name devices: it needs web_names_file (where names are written)"
                .into(),
        );
    }
    let quota_local = plugins.iter().find_map(|p| match &p.options {
        PluginOptions::Quota(q) => Some(q.local.clone()),
        _ => None,
    });
    let local = local.or(quota_local).unwrap_or_else(|| {
        crate::cidr::PRIVATE
            .iter()
            .filter_map(|n| Cidr::parse(n).ok())
            .collect()
    });
    Some(WebConfig {
        listen,
        user,
        password,
        read_only,
        source: pick_source(r, plugins, named),
        local,
        names_file,
        leases_files: leases_file.into_iter().chain(learned_file).collect(),
        billing_day: billing_day.map_or(1, |d| d as u8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(
            parse_web_listen("8080"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            parse_web_listen("[::]:80").map(|a| a.to_string()),
            Ok("[::]:80".to_string())
        );
        assert!(parse_web_listen("localhost:80").is_err());
        let h = WebPassword::Hash("$argon2id$v=19$secret".into());
        assert_eq!(format!("{h:?}"), "Hash(..)");
    }
}
