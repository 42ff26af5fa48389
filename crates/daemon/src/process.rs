//! The process's identity and the files it creates: nice values (`proc_priority`), the owner
//! of created files (`files_uid`, `files_gid`) and the privilege drop
//! (`drop_privileges_user`, `drop_privileges_group`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::OnceLock;

use pmacct_core::config::{DaemonConfig, FilesOwner, PluginOptions, RunAs, SqlBackend};

/// Set once at start, before any file is created.
static OWNER: OnceLock<FilesOwner> = OnceLock::new();

/// Who created files are given to from now on (`files_uid`, `files_gid`).
pub fn set_files_owner(owner: FilesOwner) {
    let _ = OWNER.set(owner);
}

fn owner() -> FilesOwner {
    OWNER.get().copied().unwrap_or_default()
}

/// Gives a file the daemon created to `files_uid`/`files_gid` (a refusal is logged).
pub fn own(path: &Path) {
    let o = owner();
    if o.uid.is_none() && o.gid.is_none() {
        return;
    }
    if let Err(e) = std::os::unix::fs::lchown(path, o.uid, o.gid) {
        tracing::warn!(
            "( core ): cannot give '{}' to files_uid/files_gid: {e}",
            path.display()
        );
    }
}

/// `create_dir_all`, each directory it creates given to `files_uid`/`files_gid`.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {
            own(dir);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets the calling thread's nice value (Linux applies it per thread; threads started
/// afterwards inherit it).
pub fn set_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: setpriority only changes the scheduling priority of the given thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The daemon's own `proc_priority`, which every thread inherits.
static PROCESS_NICE: AtomicI32 = AtomicI32::new(0);

/// The global `proc_priority`, set on the main thread before other threads start (they
/// inherit it); a refusal is logged.
pub fn set_process_nice(nice: i32) {
    if nice == 0 {
        return;
    }
    match set_thread_nice(nice) {
        Ok(()) => PROCESS_NICE.store(nice, Relaxed),
        Err(e) => tracing::warn!("( core ): cannot set proc_priority {nice}: {e}"),
    }
}

/// A plugin's `proc_priority`, applied by each of its threads when it differs from the
/// daemon's; a refusal is logged.
pub fn set_plugin_nice(nice: i32, who: &str) {
    if nice == PROCESS_NICE.load(Relaxed) {
        return;
    }
    if let Err(e) = set_thread_nice(nice) {
        tracing::warn!("( {who} ): cannot set proc_priority {nice}: {e}");
    }
}

/// The capabilities kept after the privilege drop: CAP_NET_RAW and CAP_NET_ADMIN, to open
/// captures again on a map reload or when an interface comes back.
pub const KEPT_CAPABILITIES: u32 = (1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN);
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Switches the whole process to `run_as`: supplementary groups, gid and uid of every thread
/// (the C library applies them to all threads), keeping [`KEPT_CAPABILITIES`] in the calling
/// thread, which must be the one that starts captures later. Other threads keep no capability.
pub fn drop_privileges(run_as: &RunAs) -> Result<(), String> {
    let fail = |what: &str| format!("{what}: {}", io::Error::last_os_error());
    // SAFETY: prctl(PR_SET_KEEPCAPS) only changes a flag of the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(fail("prctl(PR_SET_KEEPCAPS)"));
    }
    let groups = [run_as.gid as libc::gid_t];
    // SAFETY: `groups` is a live array of the length given.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        return Err(fail("setgroups"));
    }
    // SAFETY: setgid/setuid change credentials only; glibc applies them to every thread.
    if unsafe { libc::setgid(run_as.gid) } != 0 {
        return Err(fail("setgid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(run_as.uid) } != 0 {
        return Err(fail("setuid"));
    }
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    data[0].effective = KEPT_CAPABILITIES;
    data[0].permitted = KEPT_CAPABILITIES;
    // SAFETY: capset reads a version-3 header and two data words, both live and repr(C).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(fail("capset"));
    }
    // SAFETY: as the first prctl.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if (uid, gid) != (run_as.uid, run_as.gid) {
        return Err(format!("still running as uid {uid} gid {gid}"));
    }
    Ok(())
}

/// One place the daemon writes to after the privilege drop: the key that names it and the
/// directory it is created in.
struct WritePlace {
    key: String,
    dir: PathBuf,
}

/// The directories plugins create files in later (new time bins, spool files, databases).
fn write_places(config: &DaemonConfig) -> Vec<WritePlace> {
    let mut places = Vec::new();
    for p in &config.plugins {
        let mut add = |key: &str, path: &Path| {
            if let Some(dir) = path.parent() {
                places.push(WritePlace {
                    key: format!("{key}[{}]", p.name),
                    dir: if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir.to_path_buf()
                    },
                });
            }
        };
        match &p.options {
            PluginOptions::Print(print) => {
                if let Some(template) = &print.output_file {
                    add("print_output_file", &static_prefix(template));
                }
                if let Some(latest) = &print.latest_file {
                    add("print_latest_file", latest);
                }
            }
            PluginOptions::Sql(sql) => {
                if sql.backend == SqlBackend::Sqlite3 {
                    add("sql_db", Path::new(&sql.db));
                }
                add("sql_spool_file", &sql.spool_file);
            }
            PluginOptions::Quota(q) => add("quota_state", &q.state),
            PluginOptions::Influxdb(i) => add("influxdb_spool_file", &i.spool),
            PluginOptions::Amqp(a) => add("amqp_spool_file", &a.messages.spool),
            PluginOptions::Kafka(k) => add("kafka_spool_file", &k.messages.spool),
            PluginOptions::Memory(_)
            | PluginOptions::Prometheus(_)
            | PluginOptions::Nfprobe(_)
            | PluginOptions::Sfprobe(_)
            | PluginOptions::Tee(_) => {}
        }
    }
    // The page writes device names next to the names file (then renames it in place).
    if let Some(web) = config.core.web.as_ref().filter(|w| !w.read_only) {
        if let Some(dir) = web.names_file.as_ref().and_then(|f| f.parent()) {
            places.push(WritePlace {
                key: "web_names_file".into(),
                dir: if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir.to_path_buf()
                },
            });
        }
    }
    // Learned device names are written beside the file, then renamed over it.
    if let Some(dir) = config
        .core
        .names_learned_file
        .as_ref()
        .and_then(|f| f.parent())
    {
        places.push(WritePlace {
            key: "names_learned_file".into(),
            dir: if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            },
        });
    }
    places
}

/// The part of a file name template before its first variable (`%Y`, `$tag`), as a path
/// whose parent is the deepest directory that does not vary.
fn static_prefix(template: &str) -> PathBuf {
    let cut = template.find(['%', '$']).unwrap_or(template.len());
    let fixed = &template[..cut];
    match fixed.rfind('/') {
        Some(slash) => PathBuf::from(format!("{}x", &fixed[..=slash])),
        None => PathBuf::from("x"),
    }
}

/// The nearest directory of `dir` that exists (files are created below it).
fn existing_ancestor(dir: &Path) -> &Path {
    let mut d = dir;
    while !d.exists() {
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p,
            _ => return Path::new("."),
        }
    }
    d
}

/// After the drop: every directory plugins write to later is writable by the new user, or
/// an error names the key, the directory and what to do.
pub fn check_writable(config: &DaemonConfig, run_as: &RunAs) -> Result<(), String> {
    for place in write_places(config) {
        let dir = existing_ancestor(&place.dir);
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: '{}' is not a valid path", place.key, dir.display()))?;
        // SAFETY: `c` is a NUL-terminated path; access only checks permissions, with the real
        // uid and gid, which are now the new user's.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(format!(
                "{}: '{}' is not writable by user '{}' (drop_privileges_user): give it to them (chown {} '{}') or write elsewhere",
                place.key,
                dir.display(),
                run_as.user,
                run_as.user,
                dir.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_cut_at_its_first_variable() {
        assert_eq!(
            static_prefix("/var/lib/pmacct/%Y/%m/out-%H.csv"),
            PathBuf::from("/var/lib/pmacct/x")
        );
        assert_eq!(
            static_prefix("/data/out-$tag.csv"),
            PathBuf::from("/data/x")
        );
        assert_eq!(static_prefix("plain.csv"), PathBuf::from("x"));
    }

    #[test]
    fn nested_directories_are_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        create_dirs(&deep).expect("create");
        assert!(deep.is_dir());
        create_dirs(&deep).expect("again");
        assert_eq!(existing_ancestor(&deep.join("d/e")), deep.as_path());
    }

    #[test]
    fn a_thread_lowers_its_own_priority() {
        let nice = std::thread::spawn(|| {
            set_thread_nice(7).expect("setpriority");
            let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
            // Field 19 (nice), counted after the parenthesised command name.
            let after = stat.rsplit(')').next().expect("fields");
            after.split_whitespace().nth(16).map(str::to_string)
        })
        .join()
        .expect("thread");
        assert_eq!(nice.as_deref(), Some("7"));
    }
}

/// Raises the soft limit of open files to the hard limit (at most 65,536): the web page's
/// server holds up to its connection limit of sockets at once.
pub fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let want = lim.rlim_max.min(65_536);
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        // SAFETY: setrlimit reads the rlimit struct we own; the soft limit is at most the hard.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}

#[cfg(test)]
mod open_files_tests {
    #[test]
    fn the_soft_limit_of_open_files_reaches_the_hard_one() {
        super::raise_open_files();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert!(lim.rlim_cur >= lim.rlim_max.min(65_536));
    }
}
