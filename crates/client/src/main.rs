//! `pmacct`: the query client of pmacct-rs's memory plugin (pmacct 1.7.7's command line).
//!
//! It sends one JSON [`Request`](pmacct_core::query::Request) over the plugin's Unix socket
//! (`-p`, default `/tmp/collect.pipe`), reads the one-line JSON response and prints it as pmacct
//! does. Errors go to stdout as `ERROR: ...` (as pmacct prints them) with exit status 1.
//!
//! Deliberate differences from pmacct 1.7.7:
//! - `-t` prints a short status (`entries`, `max_entries`, `overflow_packets`,
//!   `overflow_bytes`, one `name: value` per line) instead of one line per hash bucket.
//! - `-s` (formatted) ends with a `WARN: the table is full: ...` line when the daemon's bounded
//!   table has dropped new keys.
//! - `-a` is accepted but changes nothing: the columns are always the daemon's aggregation.
//! - `-l` is accepted and does nothing (the table is always queried consistently).
//! - `-C`, `-U` and `-O event_formatted|event_csv` are not supported.
//! - `-m` (1.7.7's obsolete alias) works as `-N`; `-P` (ignored password) is accepted.
//! - A `-M`/`-N` query must give exactly one value per `-c` primitive; values are checked before
//!   connecting. More than 4096 queries is an error (pmacct silently drops the rest).
//! - `-s`, `-e`, `-t`, `-i`, `-M` and `-N` are mutually exclusive (pmacct lets `-e` combine).
//! - JSON output has no `event_type` key (as pmacct's client, unlike the print plugin).

mod args;
mod caps;
mod client;
mod output;
mod queries;
mod report;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use args::Command;

/// Why a run failed.
#[derive(Debug)]
pub enum Failure {
    /// Printed as `ERROR: {message}`, followed by the usage text when `usage` is set.
    Error { message: String, usage: bool },
    /// Writing the output failed.
    Output(io::Error),
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure::Error {
            message: message.into(),
            usage: false,
        }
    }

    /// An error in `pmacct report`'s options: the message and the report's usage.
    pub fn with_report_usage(message: impl Into<String>) -> Failure {
        Failure::Error {
            message: format!("{}\n\n{}", message.into(), report::USAGE.trim_end()),
            usage: false,
        }
    }

    pub fn with_usage(message: impl Into<String>) -> Failure {
        Failure::Error {
            message: message.into(),
            usage: true,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

fn main() -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let words: Vec<String> = std::env::args().skip(1).collect();
    if words.first().map(String::as_str) == Some("caps") {
        let result =
            caps::run(&words[1..], &mut out).and_then(|()| out.flush().map_err(Failure::from));
        return finish(result, &mut out);
    }
    if words.first().map(String::as_str) == Some("report") {
        let result =
            report::run(&words[1..], &mut out).and_then(|()| out.flush().map_err(Failure::from));
        return finish(result, &mut out);
    }
    let result = args::parse(words).and_then(|command| match command {
        Command::Help => args::write_usage(&mut out).map_err(Failure::from),
        Command::Version => writeln!(out, "{}", args::version_line()).map_err(Failure::from),
        Command::Run(options) => client::run(&options, &mut out),
    });
    let result = result.and_then(|()| out.flush().map_err(Failure::from));
    finish(result, &mut out)
}

/// The exit status of a run, its error printed as pmacct prints them.
fn finish(result: Result<(), Failure>, out: &mut dyn Write) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error { message, usage }) => {
            let written = writeln!(out, "ERROR: {message}")
                .and_then(|()| {
                    if usage {
                        writeln!(out)?;
                        args::write_usage(out)
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| out.flush());
            if let Err(e) = written {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    eprintln!("pmacct: cannot write to stdout: {e}");
                }
            }
            ExitCode::FAILURE
        }
        // The reader went away (`pmacct -s | head`): nothing left to tell anyone.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("pmacct: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
