//! `daemonize` (`-D`): the process forks, and the parent exits only once the child has its
//! inputs open, with the child's verdict as its exit status (0, or 1 and the child's error on
//! stderr), so an init script sees a daemon that cannot capture fail.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex, OnceLock};

/// The child's end of the pipe to the waiting parent.
pub struct Readiness(Mutex<Option<File>>);

static READINESS: OnceLock<Arc<Readiness>> = OnceLock::new();

impl Readiness {
    /// Tells the parent all is well (once; later calls do nothing).
    pub fn ready(&self) {
        if let Some(mut f) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = f.write_all(b"\n");
        }
    }

    /// Tells the parent why the daemon stops before being ready.
    pub fn failed(&self, message: &str) {
        if let Some(mut f) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = f.write_all(format!("E{message}").as_bytes());
        }
    }
}

/// The current process's readiness pipe, when it was daemonized.
pub fn readiness() -> Option<Arc<Readiness>> {
    READINESS.get().cloned()
}

/// Forks. The parent waits for the child's verdict and exits with it; the child returns, in
/// a new session, its standard streams on /dev/null. Call before any thread is started.
pub fn daemonize() -> std::io::Result<Arc<Readiness>> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2() to fill. Close-on-exec, so no
    // command the daemon starts later holds the parent's pipe open.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: no thread has been started (the caller's promise), so the child is a full copy.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: fds[1] is our open write end, closed once; fds[0] is the read end, owned
        // by the File from here on.
        unsafe { libc::close(fds[1]) };
        let mut verdict = String::new();
        let _ = unsafe { File::from_raw_fd(fds[0]) }.read_to_string(&mut verdict);
        let code = match verdict.strip_prefix('E') {
            None if verdict.starts_with('\n') => 0,
            Some(message) => {
                crate::logging::eprint_line(&format!("ERROR ( default/core ): {message}"));
                1
            }
            None => {
                crate::logging::eprint_line(
                    "ERROR ( default/core ): the daemon exited before its inputs were open",
                );
                1
            }
        };
        std::process::exit(code);
    }
    // SAFETY: in the child: fds[0] is the parent's end, closed once; setsid detaches from
    // the terminal; the standard streams are pointed at /dev/null (opened read-write).
    unsafe {
        libc::close(fds[0]);
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    // SAFETY: fds[1] is the child's open write end, owned by the File from here on.
    let pipe = unsafe { File::from_raw_fd(fds[1]) };
    let r = Arc::new(Readiness(Mutex::new(Some(pipe))));
    let _ = READINESS.set(r.clone());
    Ok(r)
}
