//! Lines of a pmacct configuration file to directives.
//!
//! Rules (pmacct's): one `key: value` per line, split at the first `:`; whole-line comments
//! start with `!` or `#`; whitespace inside the key is removed and the key lower-cased; the value
//! is trimmed; `key[name]` binds the line to the plugin `name` (case kept).

use std::sync::Arc;

use super::{ConfigError, Origin};

/// One `key[plugin]: value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub origin: Origin,
    pub key: String,
    pub plugin: Option<String>,
    pub value: String,
}

impl Directive {
    /// A directive that comes from a command-line switch.
    pub fn command_line(key: &str, value: &str) -> Directive {
        Directive {
            origin: Origin::command_line(),
            key: key.to_string(),
            plugin: None,
            value: value.to_string(),
        }
    }
}

/// Parses a whole file; syntax errors are collected, the good lines kept.
pub fn parse(file_name: &str, text: &str) -> (Vec<Directive>, Vec<ConfigError>) {
    let file: Arc<str> = Arc::from(file_name);
    let mut directives = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let origin = Origin {
            file: file.clone(),
            line: index + 1,
        };
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some((key, plugin, value))) => directives.push(Directive {
                origin,
                key,
                plugin,
                value,
            }),
            Err(message) => errors.push(ConfigError::new(origin, message)),
        }
    }
    (directives, errors)
}

type Parsed = (String, Option<String>, String);

fn parse_line(raw: &str) -> Result<Option<Parsed>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
        return Ok(None);
    }
    let Some((left, value)) = line.split_once(':') else {
        return Err(format!("syntax error: missing ':' in '{line}'"));
    };
    let left: String = left.chars().filter(|c| !c.is_whitespace()).collect();
    let (key, plugin) = match left.find('[') {
        None => {
            if left.contains(']') {
                return Err(format!("syntax error: unbalanced ']' in '{left}'"));
            }
            (left.to_lowercase(), None)
        }
        Some(0) => return Err(format!("syntax error: '[' before the key name in '{left}'")),
        Some(open) => {
            let rest = &left[open + 1..];
            let Some(name) = rest.strip_suffix(']') else {
                return Err(format!("syntax error: unbalanced '[' in '{left}'"));
            };
            if name.contains('[') || name.contains(']') {
                return Err(format!("syntax error: nested brackets in '{left}'"));
            }
            if name.is_empty() {
                return Err(format!("syntax error: empty plugin name in '{left}'"));
            }
            (left[..open].to_lowercase(), Some(name.to_string()))
        }
    };
    if key.is_empty() {
        return Err("syntax error: empty key".to_string());
    }
    Ok(Some((key, plugin, value.trim().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Option<Parsed>, String> {
        parse_line(line)
    }

    #[test]
    fn splits_at_the_first_colon_and_normalises_the_key() {
        assert_eq!(
            one(" Aggre gate [Foo] : nfprobe_receiver: 1.2.3.4:2100 "),
            Ok(Some((
                "aggregate".into(),
                Some("Foo".into()),
                "nfprobe_receiver: 1.2.3.4:2100".into()
            )))
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        assert_eq!(one("! sql_table_version[foo]: 2"), Ok(None));
        assert_eq!(one("   # Execute trigger"), Ok(None));
        assert_eq!(one(""), Ok(None));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            one("interface green0"),
            Err("syntax error: missing ':' in 'interface green0'".into())
        );
        assert!(one("[x]aggregate: a").is_err());
        assert!(one("aggregate[x: a").is_err());
        assert!(one("aggregate[x[y]]: a").is_err());
        assert!(one(": a").is_err());
    }

    #[test]
    fn file_lines_are_numbered_from_one() {
        let (d, e) = parse("c.conf", "! comment\npromisc: true\nbad line\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].origin.line, 2);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].to_string(),
            "c.conf:3: syntax error: missing ':' in 'bad line'"
        );
    }
}
