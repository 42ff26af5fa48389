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

pub mod args;
pub mod caps;
pub mod client;
pub mod output;
pub mod queries;
pub mod report;

use std::io;

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
