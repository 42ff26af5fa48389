//! The queries of `-M`/`-N`: `v1,v2;v1,v2` or `file:PATH` (one query per line, `!` comments),
//! each value paired with the `-c` primitive at the same position (`*` matches anything).

use std::fs;
use std::io;

use pmacct_core::query::{Matcher, Query};

use crate::Failure;

/// pmacct's `MAX_QUERIES`.
pub const MAX_QUERIES: usize = 4096;

/// The queries of a `-M`/`-N` argument against the `-c` names, checked as the daemon will
/// check them, so a typo fails before anything is sent.
pub fn build(columns: &[String], input: &str) -> Result<Vec<Query>, Failure> {
    let texts = match input.trim_start().strip_prefix("file:") {
        Some(path) => file_queries(&read(path)?),
        None => split_queries(input),
    };
    if texts.is_empty() {
        return Err(Failure::new("-M/-N: no query given"));
    }
    if texts.len() > MAX_QUERIES {
        return Err(Failure::new(format!(
            "too many queries: {} (at most {MAX_QUERIES})",
            texts.len()
        )));
    }
    texts.iter().map(|text| query(columns, text)).collect()
}

fn read(path: &str) -> Result<String, Failure> {
    fs::read_to_string(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::new(format!("file '{path}' not found"))
        } else {
            Failure::new(format!("cannot read file '{path}': {e}"))
        }
    })
}

/// `;`-separated groups, empty ones skipped.
fn split_queries(input: &str) -> Vec<String> {
    input
        .split(';')
        .filter(|group| !group.trim().is_empty())
        .map(String::from)
        .collect()
}

/// One query per line, whitespace removed; empty lines and `!` comments skipped.
fn file_queries(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            line.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
        })
        .filter(|line| !line.is_empty() && !line.starts_with('!'))
        .collect()
}

fn query(columns: &[String], text: &str) -> Result<Query, Failure> {
    let values: Vec<&str> = text.split(',').map(str::trim).collect();
    if values.len() != columns.len() {
        return Err(Failure::new(format!(
            "query '{}' has {} value(s) but -c lists {} primitive(s)",
            text.trim(),
            values.len(),
            columns.len()
        )));
    }
    let query = Query {
        fields: columns
            .iter()
            .zip(values)
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect(),
    };
    Matcher::compile(&query).map_err(Failure::new)?;
    Ok(query)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn message(r: Result<Vec<Query>, Failure>) -> String {
        match r {
            Err(Failure::Error { message, .. }) => message,
            other => panic!("{other:?}"),
        }
    }

    fn fields(q: &Query) -> Vec<(&str, &str)> {
        q.fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    #[test]
    fn groups_zip_with_columns() {
        let cols = names(&["src_host", "dst_port"]);
        let qs = match build(&cols, "10.0.0.1,80;; 10.0.0.2 , * ;") {
            Ok(qs) => qs,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(qs.len(), 2);
        assert_eq!(
            fields(&qs[0]),
            [("src_host", "10.0.0.1"), ("dst_port", "80")]
        );
        assert_eq!(
            fields(&qs[1]),
            [("src_host", "10.0.0.2"), ("dst_port", "*")]
        );
    }

    #[test]
    fn bad_queries() {
        let cols = names(&["src_host", "proto"]);
        assert_eq!(
            message(build(&cols, "10.0.0.1")),
            "query '10.0.0.1' has 1 value(s) but -c lists 2 primitive(s)"
        );
        assert_eq!(
            message(build(&cols, "10.0.0.300,tcp")),
            "invalid value '10.0.0.300' for src_host"
        );
        assert_eq!(message(build(&cols, " ; ")), "-M/-N: no query given");
        let many = vec!["*,*"; MAX_QUERIES + 1].join(";");
        assert_eq!(
            message(build(&cols, &many)),
            "too many queries: 4097 (at most 4096)"
        );
        assert_eq!(build(&cols, &many[4..]).map(|q| q.len()).ok(), Some(4096));
    }

    #[test]
    fn from_file() {
        let path =
            std::env::temp_dir().join(format!("pmacct-client-queries-{}.txt", std::process::id()));
        std::fs::write(&path, "! hosts to check\n10.0.0.1, udp\n\n  \n10.0.0.2,*\n").unwrap();
        let cols = names(&["sum_host", "proto"]);
        let qs = build(&cols, &format!(" file:{}", path.display()));
        std::fs::remove_file(&path).unwrap();
        let qs = match qs {
            Ok(qs) => qs,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(qs.len(), 2);
        assert_eq!(fields(&qs[0]), [("sum_host", "10.0.0.1"), ("proto", "udp")]);
        assert_eq!(fields(&qs[1]), [("sum_host", "10.0.0.2"), ("proto", "*")]);
        assert_eq!(
            message(build(&cols, "file:/nonexistent/q.txt")),
            "file '/nonexistent/q.txt' not found"
        );
    }
}
