//! `pmacct`: the command line; the work is in the library (src/lib.rs).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use pmacct_client::args::{self, Command};
use pmacct_client::{caps, client, report, Failure};

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
