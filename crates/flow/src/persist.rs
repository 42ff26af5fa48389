//! Template persistence (pmacct's `nfacctd_templates_file`): the templates a collector holds,
//! saved as text and loaded back, so a restarted collector decodes data at once instead of
//! holding it until every exporter re-sends its templates.
//!
//! The format, one template a line after a header line:
//!
//! ```text
//! pmacct-flow templates 1
//! <exporter> <version> <domain> <template id> <d|o> <scope count> <pen>:<id>:<len>,...
//! ```
//!
//! Promise: a file is loaded whole or not at all; a line that does not parse, or a template
//! that would not compile, rejects the file with [`Malformed::BadTemplatesFile`].

use std::fmt::Write;
use std::net::IpAddr;

use crate::collector::{domain_entry, exporter_entry, install, Collector, DomainKey, Installed};
use crate::template::{FieldSpec, Kind, Template};
use crate::Malformed;

const MAGIC: &str = "pmacct-flow templates 1";

/// One template of a templates file.
struct Line {
    exporter: IpAddr,
    domain: DomainKey,
    id: u16,
    kind: Kind,
    scope_count: u16,
    fields: Vec<FieldSpec>,
}

impl Collector {
    /// The templates held now, in a text format [`Collector::load_templates`] reads back
    /// (sorted, so equal state gives equal bytes).
    pub fn save_templates(&self) -> Vec<u8> {
        let mut lines = Vec::new();
        for (exporter, e) in &self.exporters {
            for (domain, d) in &e.domains {
                for (id, t) in &d.templates {
                    let mut line = String::new();
                    let kind = match t.kind {
                        Kind::Data => 'd',
                        Kind::Options => 'o',
                    };
                    let _ = write!(
                        line,
                        "{exporter} {} {} {id} {kind} {}",
                        domain.version, domain.id, t.scope_count
                    );
                    for (i, f) in t.fields.iter().enumerate() {
                        let sep = if i == 0 { ' ' } else { ',' };
                        let _ = write!(line, "{sep}{}:{}:{}", f.pen, f.id, f.len);
                    }
                    lines.push(((*exporter, *domain, *id), line));
                }
            }
        }
        lines.sort_by_key(|(key, _)| *key);
        let mut text = String::from(MAGIC);
        text.push('\n');
        for (_, line) in lines {
            text.push_str(&line);
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Loads templates saved by [`Collector::save_templates`], within this collector's limits
    /// (templates over them are counted as refused). Returns how many templates of the file
    /// are held afterwards.
    pub fn load_templates(&mut self, bytes: &[u8]) -> Result<usize, Malformed> {
        let lines = match parse(bytes, &self.keep) {
            Ok(lines) => lines,
            Err(reason) => {
                self.stats.count(reason);
                return Err(reason);
            }
        };
        let Collector {
            limits,
            exporters,
            keep,
            stats,
            ..
        } = self;
        let mut loaded = 0;
        for line in lines {
            let Some(e) = exporter_entry(exporters, limits, stats, line.exporter) else {
                continue;
            };
            let Some(d) = domain_entry(&mut e.domains, limits, stats, line.domain) else {
                continue;
            };
            let result = install(
                d,
                &mut e.templates,
                limits,
                stats,
                keep,
                line.domain.version,
                line.id,
                line.kind,
                line.scope_count,
                line.fields,
            );
            if result != Installed::Refused {
                loaded += 1;
            }
        }
        Ok(loaded)
    }
}

fn parse(bytes: &[u8], keep: &foldhash::HashSet<crate::CustomKey>) -> Result<Vec<Line>, Malformed> {
    let bad = Malformed::BadTemplatesFile;
    let text = std::str::from_utf8(bytes).map_err(|_| bad)?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(MAGIC) {
        return Err(bad);
    }
    let mut parsed = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let [exporter, version, domain, id, kind, scope_count, fields] = words.as_slice() else {
            return Err(bad);
        };
        let version: u16 = version.parse().map_err(|_| bad)?;
        if version != 9 && version != 10 {
            return Err(bad);
        }
        let kind = match *kind {
            "d" => Kind::Data,
            "o" => Kind::Options,
            _ => return Err(bad),
        };
        let mut specs = Vec::new();
        for field in fields.split(',') {
            let mut parts = field.split(':');
            let (Some(pen), Some(fid), Some(len), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad);
            };
            specs.push(FieldSpec {
                pen: pen.parse().map_err(|_| bad)?,
                id: fid.parse().map_err(|_| bad)?,
                len: len.parse().map_err(|_| bad)?,
            });
        }
        let line = Line {
            exporter: exporter.parse().map_err(|_| bad)?,
            domain: DomainKey {
                version,
                id: domain.parse().map_err(|_| bad)?,
            },
            id: id.parse().map_err(|_| bad)?,
            kind,
            scope_count: scope_count.parse().map_err(|_| bad)?,
            fields: specs,
        };
        if line.id < 256 {
            return Err(bad);
        }
        Template::compile(version, kind, line.scope_count, line.fields.clone(), keep)
            .map_err(|_| bad)?;
        parsed.push(line);
    }
    Ok(parsed)
}
