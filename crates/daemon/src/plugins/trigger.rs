//! `*_trigger_exec`: a command run after each purge, whose failures are logged.
//!
//! Unlike pmacct 1.7.7 (bare path, no arguments, no environment, never reaped, silent), the
//! value is split on whitespace into a program and its arguments, the child gets a documented
//! environment, is waited for on its own thread, and its exit status and output are logged.

use std::path::PathBuf;
use std::process::Command;

#[derive(Clone, Debug)]
pub struct Trigger {
    program: String,
    args: Vec<String>,
    label: String,
    /// The threads of runs not yet waited for.
    running: std::sync::Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// How long a stopping plugin waits for its running triggers.
const WAIT_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Trigger {
    pub fn new(command: &str, label: &str) -> Trigger {
        let mut words = command.split_whitespace().map(str::to_string);
        Trigger {
            program: words.next().unwrap_or_default(),
            args: words.collect(),
            label: label.to_string(),
            running: Default::default(),
        }
    }

    /// Starts the command without waiting for it; the outcome is logged when it ends.
    pub fn fire(&self, files: &[PathBuf], entries: usize) {
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.fire_env(Self::print_env(&files, entries));
    }

    /// The environment of a print plugin's trigger.
    fn print_env(files: &[String], entries: usize) -> Vec<(String, String)> {
        vec![
            (
                "PMACCT_OUTPUT_FILE".into(),
                files.last().cloned().unwrap_or_default(),
            ),
            ("PMACCT_OUTPUT_FILES".into(), files.join(" ")),
            ("PMACCT_PURGED_ENTRIES".into(), entries.to_string()),
        ]
    }

    /// Starts the command with these variables added to its environment, without waiting.
    pub fn fire_env(&self, env: Vec<(String, String)>) {
        let t = self.clone();
        let spawn = std::thread::Builder::new()
            .name("trigger".into())
            .spawn(move || {
                t.run_env(&env);
            });
        match spawn {
            Ok(handle) => {
                if let Ok(mut running) = self.running.lock() {
                    running.retain(|h| !h.is_finished());
                    running.push(handle);
                }
            }
            Err(e) => tracing::error!("( {} ): cannot start trigger thread: {e}", self.label),
        }
    }

    /// Waits for the runs still going (at most a minute in all), so that when the daemon
    /// exits its triggers have finished.
    pub fn wait(&self) {
        let handles = match self.running.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return,
        };
        let deadline = std::time::Instant::now() + WAIT_AT_EXIT;
        for h in handles {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!(
                    "( {} ): trigger '{}' still running after {} s; not waiting for it",
                    self.label,
                    self.program,
                    WAIT_AT_EXIT.as_secs()
                );
            }
        }
    }

    /// Runs the command to completion (blocking) and logs what happened.
    pub fn run(&self, files: &[String], entries: usize) -> Option<i32> {
        self.run_env(&Self::print_env(files, entries))
    }

    /// Runs the command to completion with these variables added (and `PMACCT_PLUGIN`).
    pub fn run_env(&self, env: &[(String, String)]) -> Option<i32> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env("PMACCT_PLUGIN", &self.label);
        for (k, v) in env {
            cmd.env(k, v);
        }
        match cmd.output() {
            Err(e) => {
                tracing::error!(
                    "( {} ): trigger '{}' could not be run: {e}",
                    self.label,
                    self.program
                );
                None
            }
            Ok(out) => {
                let code = out.status.code();
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stdout = String::from_utf8_lossy(&out.stdout);
                if out.status.success() {
                    tracing::info!(
                        "( {} ): trigger '{}' exited with status 0",
                        self.label,
                        self.program
                    );
                } else {
                    tracing::error!(
                        "( {} ): trigger '{}' failed with {}",
                        self.label,
                        self.program,
                        code.map_or_else(|| "a signal".to_string(), |c| format!("exit status {c}"))
                    );
                }
                for line in stderr.lines().chain(stdout.lines()).take(20) {
                    tracing::info!("( {} ): trigger output: {line}", self.label);
                }
                code
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_environment_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env.txt");
        let t = Trigger::new("/bin/sh -c 'true' ignored", "p/print");
        assert_eq!(t.program, "/bin/sh");
        let script = dir.path().join("t.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho \"$1 $2 $PMACCT_PLUGIN $PMACCT_OUTPUT_FILE $PMACCT_PURGED_ENTRIES\" > {}\nexit 3\n", out.display())).unwrap();
        let t = Trigger::new(&format!("/bin/sh {} a b", script.display()), "p/print");
        assert_eq!(t.run(&["/x/f.csv".into()], 7), Some(3));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "a b p/print /x/f.csv 7\n"
        );
        assert_eq!(
            Trigger::new("/nonexistent/prog", "p/print").run(&[], 0),
            None
        );
    }
}
