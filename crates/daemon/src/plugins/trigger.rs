//! `*_trigger_exec`: a command run after each purge, that cannot fail silently.
//!
//! Unlike pmacct 1.7.7 (bare path, no arguments, no environment, never reaped, silent):
//! - the value is split into words as a shell would (quotes, backslashes; see
//!   `pmacct_core::command`) and run without a shell, the program looked up in PATH;
//! - the child gets a documented environment (`PMACCT_*`) and a working directory (the folder
//!   of the file just written, or `*_trigger_cwd`);
//! - one run at a time per plugin: runs queue up in order on the plugin's trigger thread (a
//!   replayed capture with a purge a minute does not start a hundred processes at once, and
//!   every bin's run happens); only past [`MAX_QUEUED`] waiting runs (a trigger slower than
//!   the purges for hours) are new ones skipped, counted and logged;
//! - a run longer than `*_trigger_timeout` is killed with everything it started (its own
//!   process group), and that is logged;
//! - every run is waited for (no zombies); its exit status and its output lines are logged
//!   with the plugin's name; a program that cannot be started says "cannot execute" and why;
//! - a stopping plugin waits for the queued runs, each bounded by the timeout.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pmacct_core::config::TriggerSettings;

/// Runs waiting behind the running one, at most.
pub const MAX_QUEUED: usize = 10_000;
/// Output lines logged per stream and run.
const MAX_LINES: usize = 100;

/// One run: its environment and working directory.
struct Job {
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

#[derive(Clone)]
pub struct Trigger {
    inner: Arc<Inner>,
}

struct Inner {
    program: String,
    args: Vec<String>,
    label: String,
    timeout: Duration,
    cwd: Option<PathBuf>,
    queue: Mutex<Option<crossbeam_channel::Sender<Job>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    queued: AtomicUsize,
    skipped: AtomicU64,
}

impl Trigger {
    /// A trigger for `command` (checked when the configuration was read; an unsplittable one
    /// runs nothing and says so).
    pub fn new(command: &str, label: &str, settings: &TriggerSettings) -> Trigger {
        let mut words = pmacct_core::command::split_command(command)
            .unwrap_or_default()
            .into_iter();
        let inner = Inner {
            program: words.next().unwrap_or_default(),
            args: words.collect(),
            label: label.to_string(),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            cwd: settings.cwd.clone(),
            queue: Mutex::new(None),
            worker: Mutex::new(None),
            queued: AtomicUsize::new(0),
            skipped: AtomicU64::new(0),
        };
        Trigger {
            inner: Arc::new(inner),
        }
    }

    /// Queues a run of a print plugin's trigger for the files just written; `bin` is the
    /// start of the newest time bin written (plugins with bins).
    pub fn fire(&self, files: &[PathBuf], entries: usize, bin: Option<i64>) {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let cwd = files.last().and_then(|f| f.parent()).map(Path::to_path_buf);
        self.queue(Job {
            env: print_env(&names, entries, bin),
            cwd,
        });
    }

    /// Queues a run with these variables added to its environment.
    pub fn fire_env(&self, env: Vec<(String, String)>) {
        self.queue(Job { env, cwd: None });
    }

    fn queue(&self, job: Job) {
        let inner = &self.inner;
        if inner.queued.load(Relaxed) > MAX_QUEUED {
            let skipped = inner.skipped.fetch_add(1, Relaxed) + 1;
            if skipped == 1 || skipped.is_multiple_of(100) {
                tracing::warn!(
                    "( {} ): trigger '{}' still busy with {MAX_QUEUED} runs waiting: {skipped} runs skipped so far",
                    inner.label,
                    inner.program
                );
            }
            return;
        }
        let mut queue = inner.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded::<Job>();
            let worker = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("trigger".into())
                .spawn(move || {
                    for job in rx {
                        worker.run(&job);
                        worker.queued.fetch_sub(1, Relaxed);
                    }
                });
            match spawned {
                Ok(handle) => {
                    *inner.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                    *queue = Some(tx);
                }
                Err(e) => {
                    tracing::error!("( {} ): cannot start the trigger thread: {e}", inner.label);
                    return;
                }
            }
        }
        if let Some(tx) = queue.as_ref() {
            inner.queued.fetch_add(1, Relaxed);
            if tx.send(job).is_err() {
                inner.queued.fetch_sub(1, Relaxed);
            }
        }
    }

    /// Waits for the queued runs to end (each bounded by the timeout), so that when the
    /// daemon exits its triggers have finished. No run is queued after this.
    pub fn wait(&self) {
        let inner = &self.inner;
        drop(inner.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let worker = inner
            .worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = worker {
            let _ = w.join();
        }
    }

    /// Runs now, on this thread (tests and tools); the exit status, `None` if it did not exit.
    pub fn run(&self, files: &[String], entries: usize, bin: Option<i64>) -> Option<i32> {
        self.inner.run(&Job {
            env: print_env(files, entries, bin),
            cwd: None,
        })
    }

    /// How many runs were skipped because too many were waiting.
    pub fn skipped(&self) -> u64 {
        self.inner.skipped.load(Relaxed)
    }
}

/// The environment of a print plugin's trigger.
fn print_env(files: &[String], entries: usize, bin: Option<i64>) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PMACCT_OUTPUT_FILE".into(),
            files.last().cloned().unwrap_or_default(),
        ),
        ("PMACCT_OUTPUT_FILES".into(), files.join(" ")),
        ("PMACCT_PURGED_ENTRIES".into(), entries.to_string()),
    ];
    if let Some(bin) = bin {
        env.push(("PMACCT_BIN_START".into(), bin.to_string()));
    }
    env
}

impl Inner {
    /// One run to its end (or its timeout), logged; the exit status. A run that does not
    /// exit with 0 counts in `pmacct_daemon_trigger_failures_total`.
    fn run(&self, job: &Job) -> Option<i32> {
        let status = self.execute(job);
        if status != Some(0) {
            crate::metrics::trigger_failed(&self.label);
        }
        status
    }

    fn execute(&self, job: &Job) -> Option<i32> {
        if self.program.is_empty() {
            tracing::error!("( {} ): the trigger command is empty", self.label);
            return None;
        }
        let mut cmd = Command::new(&self.program);
        // Its own process group, so a timeout kills what it started too (a shell's children
        // would otherwise keep its output open).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(&self.args)
            .env("PMACCT_PLUGIN", &self.label)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &job.env {
            cmd.env(k, v);
        }
        if let Some(dir) = self.cwd.as_ref().or(job.cwd.as_ref()) {
            cmd.current_dir(dir);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "( {} ): trigger '{}' cannot execute: {e}",
                    self.label,
                    self.program
                );
                return None;
            }
        };
        let readers = [
            child.stdout.take().map(|s| self.log_lines(s, "stdout")),
            child.stderr.take().map(|s| self.log_lines(s, "stderr")),
        ];
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= self.timeout => {
                    // SAFETY: kill has no memory effects; the group is the child's own (made
                    // at spawn, the child not yet waited for, so its id is not reused).
                    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                    let _ = child.wait();
                    tracing::error!(
                        "( {} ): trigger '{}' still running after {} s: killed",
                        self.label,
                        self.program,
                        self.timeout.as_secs()
                    );
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    tracing::error!(
                        "( {} ): cannot wait for trigger '{}': {e}",
                        self.label,
                        self.program
                    );
                    break None;
                }
            }
        };
        for r in readers.into_iter().flatten() {
            let _ = r.join();
        }
        let status = status?;
        match status.code() {
            Some(0) => tracing::info!(
                "( {} ): trigger '{}' exited with status 0",
                self.label,
                self.program
            ),
            Some(c) => tracing::error!(
                "( {} ): trigger '{}' failed with exit status {c}",
                self.label,
                self.program
            ),
            None => tracing::error!(
                "( {} ): trigger '{}' was ended by a signal",
                self.label,
                self.program
            ),
        }
        status.code()
    }

    /// Logs a child's output lines as they come (a thread per stream, so neither pipe fills).
    fn log_lines(
        &self,
        stream: impl Read + Send + 'static,
        name: &'static str,
    ) -> std::thread::JoinHandle<()> {
        let label = self.label.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stream).lines().map_while(Result::ok);
            for line in lines.by_ref().take(MAX_LINES) {
                tracing::info!("( {label} ): trigger {name}: {line}");
            }
            let more = lines.count();
            if more > 0 {
                tracing::info!("( {label} ): trigger {name}: ... {more} more lines");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(timeout_secs: u64) -> TriggerSettings {
        TriggerSettings {
            timeout_secs,
            cwd: None,
        }
    }

    #[test]
    fn arguments_environment_and_status() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env.txt");
        let t = Trigger::new("/bin/sh -c 'true' ignored", "p/print", &settings(60));
        assert_eq!(t.inner.program, "/bin/sh");
        assert_eq!(t.inner.args, ["-c", "true", "ignored"]);
        let script = dir.path().join("t.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho \"$1 $2 $PMACCT_PLUGIN $PMACCT_OUTPUT_FILE $PMACCT_PURGED_ENTRIES $PMACCT_BIN_START\" > {}\nexit 3\n", out.display())).unwrap();
        let t = Trigger::new(
            &format!("/bin/sh {} 'a b' c", script.display()),
            "p/print",
            &settings(60),
        );
        assert_eq!(t.run(&["/x/f.csv".into()], 7, Some(1_700_000_040)), Some(3));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "a b c p/print /x/f.csv 7 1700000040\n"
        );
        let missing = Trigger::new("/nonexistent/prog", "p/print", &settings(60));
        assert_eq!(missing.run(&[], 0, None), None);
    }

    /// A hanging run is killed at the timeout, with the processes it started (a shell's
    /// `sleep` would otherwise hold its output open for 30 s).
    #[test]
    fn a_hanging_run_is_killed_at_the_timeout() {
        let t = Trigger::new("/bin/sh -c 'sleep 30; echo never'", "p/print", &settings(1));
        let start = Instant::now();
        assert_eq!(t.run(&[], 0, None), None);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    /// Runs queue up one at a time, in order, and all finish before `wait` returns.
    #[test]
    fn one_run_at_a_time_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs.txt");
        let script = dir.path().join("t.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"start $PMACCT_PURGED_ENTRIES\" >> {l}\nsleep 0.05\necho \"end $PMACCT_PURGED_ENTRIES\" >> {l}\n",
                l = log.display()
            ),
        )
        .unwrap();
        let t = Trigger::new(
            &format!("/bin/sh {}", script.display()),
            "p/print",
            &settings(60),
        );
        for n in 0..5 {
            t.fire(&[dir.path().join("f.csv")], n, None);
        }
        t.wait();
        let want: String = (0..5).map(|n| format!("start {n}\nend {n}\n")).collect();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), want);
        assert_eq!(t.skipped(), 0);
    }
}
