//! The command line, parsed as getopt parses pmacct 1.7.7's `hSsc:Cetm:p:P:M:arN:n:lT:O:E:uVUiI0`:
//! options may be grouped (`-su`), a value may be attached (`-pPATH`) or follow (`-p PATH`), and
//! `-h`/`-V` act as soon as they are seen.

use std::io::{self, Write};

use pmacct_core::config::value::parse_separator;
use pmacct_core::format::Format;
use pmacct_core::primitive::{Aggregate, Primitive};

use crate::Failure;

pub const DEFAULT_SOCKET: &str = "/tmp/collect.pipe";

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `-s`
    Dump,
    /// `-M`
    Match,
    /// `-N` (and 1.7.7's `-m`)
    Count,
    /// `-e`
    Erase,
    /// `-i`
    SinceErase,
    /// `-t`
    Status,
}

/// A counter of an entry (`-T`, `-n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Bytes,
    Packets,
    Flows,
}

/// What `-N` prints (`-n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    One(Counter),
    /// `packets bytes flows N`
    All,
}

/// `-T counter[,N]`: sort descending by `counter`, keep the first `limit` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Top {
    pub counter: Counter,
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub action: Action,
    pub socket: String,
    pub format: Format,
    /// `-c`: primitive names (lower case) the `-M`/`-N` values refer to.
    pub columns: Vec<String>,
    /// The `-M`/`-N` argument.
    pub match_input: String,
    /// `-n` (bytes unless given).
    pub which: Which,
    /// `-S`
    pub sum: bool,
    /// `-r`
    pub reset: bool,
    /// `-T`
    pub top: Option<Top>,
    /// `-u`
    pub num_protos: bool,
    /// `-0`
    pub utc: bool,
    /// `-I`
    pub since_epoch: bool,
    /// `-E` (`,` unless given)
    pub separator: String,
    /// `-a` (accepted; the columns are the daemon's aggregation).
    pub all_fields: bool,
    /// `-l` (accepted, no effect).
    pub lock: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Run(Options),
}

/// Options that take a value.
const WITH_VALUE: &str = "cmpPMNnTOE";

/// Everything collected before validation.
#[derive(Default)]
struct Raw {
    action: Option<Action>,
    socket: Option<String>,
    format: Option<Format>,
    columns: Option<String>,
    match_input: Option<String>,
    which: Option<Which>,
    sum: bool,
    reset: bool,
    top: Option<Top>,
    num_protos: bool,
    utc: bool,
    since_epoch: bool,
    separator: Option<String>,
    all_fields: bool,
    lock: bool,
}

/// Parses the arguments (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, Failure> {
    let mut raw = Raw::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--" => {
                if let Some(extra) = args.next() {
                    return Err(Failure::with_usage(format!(
                        "unexpected argument '{extra}'"
                    )));
                }
                break;
            }
            _ => {}
        }
        let body = match arg.strip_prefix('-') {
            Some(body) if !body.is_empty() && !body.starts_with('-') => body,
            _ => return Err(Failure::with_usage(format!("unexpected argument '{arg}'"))),
        };
        for (i, flag) in body.char_indices() {
            if WITH_VALUE.contains(flag) {
                let attached = &body[i + flag.len_utf8()..];
                let value = if attached.is_empty() {
                    args.next().ok_or_else(|| {
                        Failure::with_usage(format!("option -{flag} requires an argument"))
                    })?
                } else {
                    attached.to_string()
                };
                raw.value(flag, value)?;
                break;
            }
            match flag {
                'h' => return Ok(Command::Help),
                'V' => return Ok(Command::Version),
                _ => raw.flag(flag)?,
            }
        }
    }
    raw.validate().map(Command::Run)
}

impl Raw {
    fn set_action(&mut self, action: Action) -> Result<(), Failure> {
        match self.action {
            Some(a) if a != action => Err(Failure::new(
                "-s, -e, -t, -i, -M and -N options are each mutually exclusive.",
            )),
            _ => {
                self.action = Some(action);
                Ok(())
            }
        }
    }

    fn flag(&mut self, flag: char) -> Result<(), Failure> {
        match flag {
            's' => self.set_action(Action::Dump)?,
            'e' => self.set_action(Action::Erase)?,
            't' => self.set_action(Action::Status)?,
            'i' => self.set_action(Action::SinceErase)?,
            'S' => self.sum = true,
            'a' => self.all_fields = true,
            'r' => self.reset = true,
            'l' => self.lock = true,
            'u' => self.num_protos = true,
            'I' => self.since_epoch = true,
            '0' => self.utc = true,
            'C' | 'U' => return Err(Failure::new("not supported by pmacct-rs")),
            _ => return Err(Failure::with_usage(format!("unknown option '-{flag}'"))),
        }
        Ok(())
    }

    fn value(&mut self, flag: char, value: String) -> Result<(), Failure> {
        match flag {
            'c' => self.columns = Some(value),
            'p' => self.socket = Some(value),
            'P' => {} // 1.7.7's password, ignored there too
            'M' | 'N' | 'm' => {
                self.set_action(if flag == 'M' {
                    Action::Match
                } else {
                    Action::Count
                })?;
                self.match_input = Some(value);
            }
            'n' => self.which = Some(parse_which(&value)?),
            'T' => self.top = Some(parse_top(&value)?),
            'O' => self.format = Some(parse_format(&value)?),
            'E' => {
                self.separator =
                    Some(parse_separator(&value).map_err(|e| Failure::new(format!("-E: {e}")))?)
            }
            _ => return Err(Failure::with_usage(format!("unknown option '-{flag}'"))),
        }
        Ok(())
    }

    fn validate(self) -> Result<Options, Failure> {
        let Some(action) = self.action else {
            return Err(Failure::with_usage(
                "one of -s -e -t -i -M -N must be given",
            ));
        };
        let matching = matches!(action, Action::Match | Action::Count);
        let columns = match &self.columns {
            Some(raw) => parse_columns(raw)?,
            None => Vec::new(),
        };
        if matching && columns.is_empty() {
            return Err(Failure::new(
                "-N or -M selected but -c has not been specified or is invalid.",
            ));
        }
        if self.reset && !matching {
            return Err(Failure::new("-r requires -M or -N"));
        }
        if (self.which.is_some() || self.sum) && action != Action::Count {
            return Err(Failure::new("-n and -S apply only to -N"));
        }
        if self.top.is_some() && !matches!(action, Action::Dump | Action::Match) {
            return Err(Failure::new("-T applies only to -s or -M"));
        }
        Ok(Options {
            action,
            socket: self.socket.unwrap_or_else(|| DEFAULT_SOCKET.into()),
            format: self.format.unwrap_or(Format::Formatted),
            columns,
            match_input: self.match_input.unwrap_or_default(),
            which: self.which.unwrap_or(Which::One(Counter::Bytes)),
            sum: self.sum,
            reset: self.reset,
            top: self.top,
            num_protos: self.num_protos,
            utc: self.utc,
            since_epoch: self.since_epoch,
            separator: self.separator.unwrap_or_else(|| ",".into()),
            all_fields: self.all_fields,
            lock: self.lock,
        })
    }
}

/// `-c`: comma-separated names, spaces ignored, case-insensitive. Accepts what a query can match
/// on: the primitives and `sum`, `sum_host`, `sum_net`, `sum_port`, `sum_mac`.
fn parse_columns(raw: &str) -> Result<Vec<String>, Failure> {
    let mut names = Vec::new();
    for name in pmacct_core::primitive::list_items(raw) {
        let known = matches!(
            name.as_str(),
            "sum" | "sum_host" | "sum_net" | "sum_port" | "sum_mac"
        ) || Primitive::parse(&name).is_some();
        if !known {
            // Reuse the aggregate parser's messages ("did you mean", "not supported yet"); a
            // name they know nothing of may be one of the daemon's custom primitives, which
            // the client learns from the daemon before it builds the queries.
            match Aggregate::parse(&name) {
                Err(e) if e.starts_with("unknown primitive") && !e.contains("did you mean") => {}
                Err(e) => return Err(Failure::new(e)),
                Ok(_) => return Err(Failure::new(format!("unknown primitive '{name}'"))),
            }
        }
        names.push(name);
    }
    Ok(names)
}

fn parse_counter(raw: &str) -> Option<Counter> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "bytes" => Some(Counter::Bytes),
        "packets" => Some(Counter::Packets),
        "flows" => Some(Counter::Flows),
        _ => None,
    }
}

fn parse_which(raw: &str) -> Result<Which, Failure> {
    if raw.trim().eq_ignore_ascii_case("all") {
        return Ok(Which::All);
    }
    parse_counter(raw).map(Which::One).ok_or_else(|| {
        Failure::new(format!(
            "-n: expected bytes, packets, flows or all, got '{raw}'"
        ))
    })
}

fn parse_top(raw: &str) -> Result<Top, Failure> {
    let bad = || {
        Failure::new(format!(
            "-T: expected bytes, packets or flows, optionally followed by ',N', got '{raw}'"
        ))
    };
    let (name, limit) = match raw.split_once(',') {
        Some((name, n)) => (name, Some(n.trim().parse::<usize>().map_err(|_| bad())?)),
        None => (raw, None),
    };
    Ok(Top {
        counter: parse_counter(name).ok_or_else(bad)?,
        // pmacct: 0 means no limit
        limit: limit.filter(|n| *n > 0),
    })
}

fn parse_format(raw: &str) -> Result<Format, Failure> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "formatted" => Ok(Format::Formatted),
        "csv" => Ok(Format::Csv),
        "json" => Ok(Format::Json),
        "event_formatted" | "event_csv" => Err(Failure::new(format!(
            "-O {raw}: not supported by pmacct-rs"
        ))),
        _ => Err(Failure::new(format!(
            "-O: expected formatted, csv or json, got '{raw}'"
        ))),
    }
}

pub fn version_line() -> String {
    format!(
        "pmacct-rs client {} (pmacct 1.7.7 compatible)",
        pmacct_core::VERSION
    )
}

pub fn write_usage(w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "{}", version_line())?;
    w.write_all(USAGE.as_bytes())
}

const USAGE: &str = "\
Usage: pmacct [query]

Queries:
  -s\tShow statistics
  -N\t<matching data>[';'<matching data>] | 'file:'<filename>
\tMatch primitives; print counters only (requires -c)
  -M\t<matching data>[';'<matching data>] | 'file:'<filename>
\tMatch primitives; print formatted table (requires -c)
  -n\t<bytes | packets | flows | all>
\tSelect the counters to print (applies to -N)
  -S\tSum counters instead of returning a single counter for each request (applies to -N)
  -a\tAccepted for compatibility: columns are always the daemon's aggregation
  -c\t<primitive>[,<primitive>...] (names as in 'aggregate', plus sum_host, sum_net, sum_port, sum_mac)
\tSelect primitives to match (required by -N and -M)
  -T\t<bytes | packets | flows>[,<# how many>]
\tOutput top N statistics (applies to -M and -s)
  -e\tClear statistics
  -i\tShow time (in seconds) since statistics were last cleared (ie. pmacct -e)
  -r\tReset counters (applies to -N and -M)
  -l\tAccepted for compatibility (no effect)
  -t\tShow memory table status (entries, bound, overflow)
  -p\t<file>
\tSocket for client-server communication (DEFAULT: /tmp/collect.pipe)
  -O\tSet output < formatted | csv | json > (applies to -M and -s)
  -E\tSet separator for CSV format (one character, \\t or \\s)
  -I\tSet timestamps in 'since Epoch' format
  -0\tPrint timestamps in UTC
  -u\tLeave IP protocols in numerical format
  -V\tPrint version and exit
  -h\tPrint this help and exit
";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, Failure> {
        parse(line.split_whitespace().map(String::from))
    }

    fn options(line: &str) -> Options {
        match parse_str(line) {
            Ok(Command::Run(o)) => o,
            other => panic!("{line}: {other:?}"),
        }
    }

    /// The `ERROR:` message and whether usage follows.
    fn error(line: &str) -> (String, bool) {
        match parse_str(line) {
            Err(Failure::Error { message, usage }) => (message, usage),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = options("-s");
        assert_eq!(o.action, Action::Dump);
        assert_eq!(o.socket, "/tmp/collect.pipe");
        assert_eq!(o.format, Format::Formatted);
        assert_eq!(o.separator, ",");
        assert_eq!(o.which, Which::One(Counter::Bytes));
        assert_eq!(o.top, None);
    }

    #[test]
    fn values_attached_or_separate_and_grouped_flags() {
        let o = options("-s -p/tmp/x.pipe -O csv -E\\t -u0I");
        assert_eq!(o.socket, "/tmp/x.pipe");
        assert_eq!(o.format, Format::Csv);
        assert_eq!(o.separator, "\t");
        assert!(o.num_protos && o.utc && o.since_epoch);
        let o = options("-sT bytes,2");
        assert_eq!(
            o.top,
            Some(Top {
                counter: Counter::Bytes,
                limit: Some(2)
            })
        );
        let o = options("-N 10.0.0.1;10.0.0.2 -c src_host,DST_port -n all -S -r");
        assert_eq!(o.action, Action::Count);
        assert_eq!(o.match_input, "10.0.0.1;10.0.0.2");
        assert_eq!(o.columns, vec!["src_host", "dst_port"]);
        assert_eq!(o.which, Which::All);
        assert!(o.sum && o.reset);
        assert_eq!(options("-m x -c sum").action, Action::Count);
        assert_eq!(options("-s -P secret -a -l").action, Action::Dump);
    }

    #[test]
    fn help_and_version_act_immediately() {
        assert_eq!(parse_str("-h -x").ok(), Some(Command::Help));
        assert_eq!(parse_str("-V").ok(), Some(Command::Version));
        assert_eq!(parse_str("-sV").ok(), Some(Command::Version));
        let mut usage = Vec::new();
        write_usage(&mut usage).unwrap();
        let usage = String::from_utf8(usage).unwrap();
        assert!(usage.starts_with("pmacct-rs client "));
        assert!(usage.contains("(pmacct 1.7.7 compatible)\nUsage: pmacct [query]\n"));
    }

    #[test]
    fn argument_errors() {
        assert_eq!(
            error(""),
            ("one of -s -e -t -i -M -N must be given".into(), true)
        );
        assert_eq!(error("-u"), error(""));
        assert_eq!(
            error("-M 10.0.0.1"),
            (
                "-N or -M selected but -c has not been specified or is invalid.".into(),
                false
            )
        );
        assert_eq!(error("-N 1 -c ,"), error("-M 10.0.0.1"));
        // A name nothing resembles may be one of the daemon's custom primitives: the client
        // asks the daemon before it refuses it (tests/memory.rs).
        assert_eq!(options("-N 1 -c src_host,foo").columns, ["src_host", "foo"]);
        assert_eq!(
            error("-N 1 -c src_ip").0,
            "unknown primitive 'src_ip'; did you mean 'src_host'?"
        );
        assert_eq!(error("-s -r").0, "-r requires -M or -N");
        assert_eq!(
            error("-M 1 -c src_host -n all").0,
            "-n and -S apply only to -N"
        );
        assert_eq!(error("-s -S").0, "-n and -S apply only to -N");
        assert_eq!(
            error("-N 1 -c src_host -T bytes").0,
            "-T applies only to -s or -M"
        );
        assert_eq!(error("-e -T bytes").0, "-T applies only to -s or -M");
        assert_eq!(error("-C").0, "not supported by pmacct-rs");
        assert_eq!(error("-U").0, "not supported by pmacct-rs");
        assert_eq!(
            error("-s -e").0,
            "-s, -e, -t, -i, -M and -N options are each mutually exclusive."
        );
        assert_eq!(error("-s -x"), ("unknown option '-x'".into(), true));
        assert_eq!(
            error("-s -p"),
            ("option -p requires an argument".into(), true)
        );
        assert_eq!(error("-s foo"), ("unexpected argument 'foo'".into(), true));
        assert_eq!(
            error("-s -T bytes,x").0,
            "-T: expected bytes, packets or flows, optionally followed by ',N', got 'bytes,x'"
        );
        assert_eq!(
            error("-N 1 -c src_host -n octets").0,
            "-n: expected bytes, packets, flows or all, got 'octets'"
        );
        assert_eq!(
            error("-s -O xml").0,
            "-O: expected formatted, csv or json, got 'xml'"
        );
        assert_eq!(
            error("-s -O event_csv").0,
            "-O event_csv: not supported by pmacct-rs"
        );
        assert_eq!(
            error("-s -E ab").0,
            "-E: expected one character, \\t or \\s, got 'ab'"
        );
    }
}
