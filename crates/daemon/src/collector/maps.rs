//! nfacctd's maps at work: `nfacctd_allow_file` and `sampling_map`, each loaded once, shared by
//! the collector inputs, and loaded again on SIGUSR2 (with `maps_refresh`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pmacct_core::config::CollectorConfig;
use pmacct_core::flowmaps::{AllowList, SamplingMap};

use crate::DaemonError;

type Parse<T> = fn(&str, &str) -> Result<T, String>;

/// A map file as last loaded.
pub struct Reloadable<T> {
    path: PathBuf,
    what: &'static str,
    parse: Parse<T>,
    current: Mutex<Arc<T>>,
    generation: AtomicU64,
}

impl<T> std::fmt::Debug for Reloadable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}'", self.what, self.path.display())
    }
}

impl<T> Reloadable<T> {
    fn load(path: &Path, what: &'static str, parse: Parse<T>) -> Result<Arc<Self>, DaemonError> {
        let map = read(path, what, parse).map_err(DaemonError::Map)?;
        Ok(Arc::new(Reloadable {
            path: path.to_path_buf(),
            what,
            parse,
            current: Mutex::new(Arc::new(map)),
            generation: AtomicU64::new(0),
        }))
    }

    /// Reads the file again; the running map stays when the new one does not parse.
    pub fn reload(&self) -> Result<(), String> {
        let map = read(&self.path, self.what, self.parse)?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An input thread's copy, which follows reloads.
    pub fn view(self: &Arc<Self>) -> View<T> {
        let generation = self.generation.load(Ordering::Acquire);
        View {
            store: self.clone(),
            generation,
            current: self.snapshot(),
        }
    }

    fn snapshot(&self) -> Arc<T> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn read<T>(path: &Path, what: &str, parse: Parse<T>) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {what} '{}': {e}", path.display()))?;
    parse(&path.display().to_string(), &text)
}

/// One input thread's view of a map: the map as last reloaded, checked with one atomic load.
pub struct View<T> {
    store: Arc<Reloadable<T>>,
    generation: u64,
    current: Arc<T>,
}

impl<T> View<T> {
    #[inline]
    pub fn get(&mut self) -> &T {
        let now = self.store.generation.load(Ordering::Acquire);
        if now != self.generation {
            self.generation = now;
            self.current = self.store.snapshot();
        }
        &self.current
    }
}

/// The collector's maps, as configured.
#[derive(Clone, Debug, Default)]
pub struct FlowMaps {
    pub allow: Option<Arc<Reloadable<AllowList>>>,
    pub sampling: Option<Arc<Reloadable<SamplingMap>>>,
}

impl FlowMaps {
    /// Loads the configured maps; an error names the file, the line and the key.
    pub fn load(c: &CollectorConfig) -> Result<FlowMaps, DaemonError> {
        Ok(FlowMaps {
            allow: c
                .allow_file
                .as_deref()
                .map(|p| Reloadable::load(p, "nfacctd_allow_file", AllowList::parse))
                .transpose()?,
            sampling: c
                .sampling_map
                .as_deref()
                .map(|p| Reloadable::load(p, "sampling_map", SamplingMap::parse))
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_none() && self.sampling.is_none()
    }

    /// SIGUSR2: each map read again (a map that does not parse is logged and kept).
    pub fn reload(&self, name: &str) {
        let report = |what: &str, path: &Path, result: Result<(), String>| match result {
            Ok(()) => tracing::info!("( {name}/core ): [{}] {what} reloaded", path.display()),
            Err(e) => tracing::error!("( {name}/core ): {e}; keeping the previous {what}"),
        };
        if let Some(a) = &self.allow {
            report("nfacctd_allow_file", a.path(), a.reload());
        }
        if let Some(s) = &self.sampling {
            report("sampling_map", s.path(), s.reload());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_follows_reloads_and_a_bad_reload_keeps_the_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("allow.lst");
        std::fs::write(&path, "192.0.2.1\n").expect("write");
        let store = Reloadable::load(&path, "nfacctd_allow_file", AllowList::parse).expect("load");
        let mut view = store.view();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(view.get().allows(ip("192.0.2.1")));
        std::fs::write(&path, "192.0.2.2\n").expect("write");
        store.reload().expect("reload");
        assert!(!view.get().allows(ip("192.0.2.1")));
        assert!(view.get().allows(ip("192.0.2.2")));
        std::fs::write(&path, "not-an-address\n").expect("write");
        let err = store.reload().expect_err("bad file");
        assert!(
            err.ends_with(
                "allow.lst:1: 'not-an-address' is not a network (such as 192.168.1.0/24)"
            ),
            "{err}"
        );
        assert!(view.get().allows(ip("192.0.2.2")));
    }
}
