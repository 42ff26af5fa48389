//! Value kinds of configuration keys and their parsers (shared by validation and building).

use crate::bins::{History, Roundoff};
use crate::primitive::Aggregate;

/// The kind of value a key takes; drives validation, `--help` and the docs table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    /// An unsigned integer within an inclusive range.
    Uint(u64, u64),
    Text,
    Path,
    /// One of a fixed set of words (case-insensitive).
    Choice(&'static [&'static str]),
    /// `<n>[s|m|h|d|w|M]`.
    History,
    /// Letters among `m h d w M`.
    Roundoff,
    /// A comma-separated list of primitives.
    Aggregate,
    /// A comma-separated list of `type[name]`.
    Plugins,
    /// A libpcap filter expression (compiled by the daemon).
    Filter,
    /// One character, or `\t` / `\s`.
    Separator,
    /// Octal file mode mask.
    Umask,
    /// A nice value, -20..19.
    Nice,
    /// A user name or uid.
    User,
    /// A group name or gid.
    Group,
}

impl ValueKind {
    /// A short description for docs and `--help`.
    pub fn describe(self) -> String {
        match self {
            ValueKind::Bool => "true|false".into(),
            ValueKind::Uint(min, max) if max == u64::MAX => format!("integer >= {min}"),
            ValueKind::Uint(min, max) => format!("integer {min}..{max}"),
            ValueKind::Text => "string".into(),
            ValueKind::Path => "path".into(),
            ValueKind::Choice(words) => words.join("|"),
            ValueKind::History => "<n>[s|m|h|d|w|M]".into(),
            ValueKind::Roundoff => "letters of m,h,d,w,M".into(),
            ValueKind::Aggregate => "primitive list".into(),
            ValueKind::Plugins => "type[name] list".into(),
            ValueKind::Filter => "libpcap filter".into(),
            ValueKind::Separator => "character, \\t or \\s".into(),
            ValueKind::Umask => "octal mask".into(),
            ValueKind::Nice => "integer -20..19".into(),
            ValueKind::User => "user name or uid".into(),
            ValueKind::Group => "group name or gid".into(),
        }
    }

    /// Checks a raw value; the error says what was expected.
    pub fn check(self, raw: &str) -> Result<(), String> {
        match self {
            ValueKind::Bool => parse_bool(raw).map(drop),
            ValueKind::Uint(min, max) => parse_uint(raw, min, max).map(drop),
            ValueKind::Text | ValueKind::Path | ValueKind::Filter => {
                if raw.is_empty() {
                    Err("empty value".into())
                } else {
                    Ok(())
                }
            }
            ValueKind::Choice(words) => parse_choice(raw, words).map(drop),
            ValueKind::History => History::parse(raw).map(drop),
            ValueKind::Roundoff => Roundoff::parse(raw).map(drop),
            ValueKind::Aggregate => Aggregate::parse(raw).map(drop),
            ValueKind::Plugins => parse_plugins(raw).map(drop),
            ValueKind::Separator => parse_separator(raw).map(drop),
            ValueKind::Umask => parse_umask(raw).map(drop),
            ValueKind::Nice => parse_nice(raw).map(drop),
            ValueKind::User => super::accounts::user(raw).map(drop),
            ValueKind::Group => super::accounts::group(raw).map(drop),
        }
    }
}

pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("expected true or false, got '{raw}'")),
    }
}

pub fn parse_uint(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = raw
        .parse()
        .map_err(|_| format!("expected a non-negative integer, got '{raw}'"))?;
    if n < min || n > max {
        if max == u64::MAX {
            return Err(format!("expected an integer >= {min}, got {n}"));
        }
        return Err(format!(
            "expected an integer between {min} and {max}, got {n}"
        ));
    }
    Ok(n)
}

pub fn parse_choice(raw: &str, words: &[&'static str]) -> Result<&'static str, String> {
    let lower = raw.to_ascii_lowercase();
    words
        .iter()
        .find(|w| **w == lower)
        .copied()
        .ok_or_else(|| format!("expected one of {}, got '{raw}'", words.join(", ")))
}

pub fn parse_separator(raw: &str) -> Result<String, String> {
    match raw {
        "\\t" => Ok("\t".into()),
        "\\s" => Ok(" ".into()),
        _ if raw.chars().count() == 1 => Ok(raw.into()),
        _ => Err(format!("expected one character, \\t or \\s, got '{raw}'")),
    }
}

pub fn parse_nice(raw: &str) -> Result<i32, String> {
    raw.parse::<i32>()
        .ok()
        .filter(|n| (-20..=19).contains(n))
        .ok_or_else(|| format!("expected a nice value between -20 and 19, got '{raw}'"))
}

pub fn parse_umask(raw: &str) -> Result<u32, String> {
    u32::from_str_radix(raw, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("expected an octal mask such as 077, got '{raw}'"))
}

/// One entry of `plugins:`: a type and an optional name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDecl {
    pub kind: String,
    pub name: Option<String>,
}

pub fn parse_plugins(raw: &str) -> Result<Vec<PluginDecl>, String> {
    let mut out = Vec::new();
    for item in raw.split(',') {
        let item: String = item.chars().filter(|c| !c.is_whitespace()).collect();
        if item.is_empty() {
            continue;
        }
        let decl = match item.split_once('[') {
            None => PluginDecl {
                kind: item.to_ascii_lowercase(),
                name: None,
            },
            Some((kind, rest)) => {
                let name = rest
                    .strip_suffix(']')
                    .filter(|n| !n.is_empty() && !n.contains(['[', ']']))
                    .ok_or_else(|| format!("malformed plugin declaration '{item}'"))?;
                PluginDecl {
                    kind: kind.to_ascii_lowercase(),
                    name: Some(name.to_string()),
                }
            }
        };
        out.push(decl);
    }
    if out.is_empty() {
        return Err("no plugin declared".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_list() {
        assert_eq!(
            parse_plugins("memory[in], print , sqlite3[Foo]").unwrap(),
            vec![
                PluginDecl {
                    kind: "memory".into(),
                    name: Some("in".into())
                },
                PluginDecl {
                    kind: "print".into(),
                    name: None
                },
                PluginDecl {
                    kind: "sqlite3".into(),
                    name: Some("Foo".into())
                },
            ]
        );
        assert!(parse_plugins("print[a").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert!(parse_bool("yes").is_err());
        assert_eq!(parse_uint("60", 1, u64::MAX), Ok(60));
        assert_eq!(
            parse_uint("0", 1, u64::MAX),
            Err("expected an integer >= 1, got 0".into())
        );
        assert_eq!(parse_separator("\\t"), Ok("\t".into()));
        assert_eq!(parse_umask("077"), Ok(0o77));
    }
}
