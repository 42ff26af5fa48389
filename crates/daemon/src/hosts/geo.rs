//! MaxMind-format databases (`geoipv2_file`, `geoipv2_asn_file`): read whole at start, read
//! again on SIGUSR2 or when the file changes on disk; a new file that does not read keeps the
//! one in use. Lookups go through [`GeoCache`], one per input thread.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use maxminddb::Reader;
use pmacct_core::key::HostInfo;
use serde::Deserialize;

/// A database read whole into memory.
type Db = Reader<Arc<[u8]>>;

/// A file's modification time and size, to tell when it changed.
type Stamp = (SystemTime, u64);

/// The database in use and the stamp of the file last read.
type Loaded = (Arc<Db>, Option<Stamp>);

/// Addresses a cache remembers before it starts again (a few MiB).
const CACHE_ENTRIES: usize = 65_536;

/// Addresses looked up when a file is read: a file whose tree or data is broken fails here,
/// at start or reload, rather than on traffic.
const PROBES: [&str; 8] = [
    "1.1.1.1",
    "8.8.8.8",
    "81.2.69.142",
    "216.160.83.56",
    "89.160.20.112",
    "2001:218::1",
    "2a02:d3c0::5",
    "2001:4860:4860::8888",
];

/// One database file.
pub struct GeoFile {
    key: &'static str,
    path: PathBuf,
    current: Mutex<Loaded>,
}

/// The fields pmacct-rs reads, from City, Country and ASN databases alike.
#[derive(Deserialize, Default)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    #[serde(borrow)]
    postal: Option<Postal<'a>>,
    location: Option<Location>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Postal<'a> {
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl GeoFile {
    /// Reads `path` (set by `key`); the error names both.
    pub fn open(key: &'static str, path: &Path) -> Result<GeoFile, String> {
        let (reader, stamp) = read(key, path)?;
        Ok(GeoFile {
            key,
            path: path.to_path_buf(),
            current: Mutex::new((Arc::new(reader), stamp)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> &'static str {
        self.key
    }

    fn reader(&self) -> Arc<Db> {
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the file again: always (`force`, SIGUSR2), or when its time or size changed.
    /// `Ok(true)`: a new file is in use; `Err`: it did not read, the previous one stays.
    pub fn refresh(&self, force: bool) -> Result<bool, String> {
        let now = stamp_of(&self.path);
        if !force && (now.is_none() || now == self.lock().1) {
            return Ok(false);
        }
        let (reader, stamp) = match read(self.key, &self.path) {
            Ok(r) => r,
            Err(e) => {
                // Not tried again until the file changes once more.
                self.lock().1 = now;
                return Err(e);
            }
        };
        *self.lock() = (Arc::new(reader), stamp);
        Ok(true)
    }
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read(key: &str, path: &Path) -> Result<(Db, Option<Stamp>), String> {
    let fail = |what: String| format!("{key}: '{}': {what}", path.display());
    let stamp = stamp_of(path);
    let bytes: Arc<[u8]> = std::fs::read(path)
        .map_err(|e| fail(format!("cannot read it: {e}")))?
        .into();
    let reader = Reader::from_source(bytes.clone())
        .map_err(|e| fail(format!("not a MaxMind-format database: {e}")))?;
    check_tree(&bytes, &reader.metadata)
        .map_err(|e| fail(format!("the database is corrupt ({e})")))?;
    for probe in PROBES {
        let Ok(addr) = probe.parse::<IpAddr>() else {
            continue;
        };
        if addr.is_ipv6() && reader.metadata.ip_version == 4 {
            continue;
        }
        if let Err(e) = reader.lookup::<Record>(addr) {
            return Err(fail(format!(
                "the database is corrupt (looking up {addr}: {e})"
            )));
        }
    }
    Ok((reader, stamp))
}

/// Where the metadata starts (after the data section).
const METADATA_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";

/// Checks every record of the search tree: it points at another node, at "not found", or into
/// the data section. A broken tree would otherwise fail (or find nonsense) only on some traffic.
/// One pass over the tree: a few milliseconds for a country database, well under a second for
/// a city database.
fn check_tree(bytes: &[u8], meta: &maxminddb::Metadata) -> Result<(), String> {
    let nodes = meta.node_count as usize;
    let size = usize::from(meta.record_size);
    if !matches!(size, 24 | 28 | 32) {
        return Err(format!("record size {size}"));
    }
    let node_bytes = size / 4;
    let tree = nodes * node_bytes;
    let marker = bytes
        .windows(METADATA_MARKER.len())
        .rposition(|w| w == METADATA_MARKER)
        .ok_or("no metadata")?;
    let data = marker
        .checked_sub(tree + 16)
        .ok_or("the search tree runs past the data")?;
    let tree_bytes = bytes
        .get(..tree)
        .ok_or("the search tree runs past the file")?;
    for (i, node) in tree_bytes.chunks_exact(node_bytes).enumerate() {
        let be = |b: &[u8]| b.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x));
        let (left, right) = match size {
            24 => (be(&node[..3]), be(&node[3..6])),
            28 => (
                usize::from(node[3] >> 4) << 24 | be(&node[..3]),
                usize::from(node[3] & 0x0f) << 24 | be(&node[4..7]),
            ),
            _ => (be(&node[..4]), be(&node[4..8])),
        };
        for record in [left, right] {
            if record > nodes && record - nodes - 16 >= data {
                return Err(format!("node {i} points past the data section"));
            }
            if record == i {
                return Err(format!("node {i} points at itself"));
            }
        }
    }
    Ok(())
}

/// The databases of a run.
pub struct GeoStore {
    pub city: Option<GeoFile>,
    pub asn: Option<GeoFile>,
    generation: AtomicU64,
}

impl GeoStore {
    pub fn new(city: Option<GeoFile>, asn: Option<GeoFile>) -> GeoStore {
        GeoStore {
            city,
            asn,
            generation: AtomicU64::new(0),
        }
    }

    /// Reads changed files again (every file with `force`), logging what happened.
    pub fn refresh(&self, force: bool, proc_name: &str) {
        for file in [&self.city, &self.asn].into_iter().flatten() {
            match file.refresh(force) {
                Ok(false) => {}
                Ok(true) => {
                    self.generation.fetch_add(1, Ordering::Release);
                    tracing::info!(
                        "( {proc_name}/core ): {} '{}' reloaded",
                        file.key(),
                        file.path().display()
                    );
                }
                Err(e) => tracing::error!("( {proc_name}/core ): {e}; keeping the previous one"),
            }
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// One input thread's lookups, remembered per address until the databases change.
pub struct GeoCache {
    store: Arc<GeoStore>,
    generation: u64,
    city: Option<Arc<Db>>,
    asn: Option<Arc<Db>>,
    seen: HashMap<IpAddr, HostInfo, foldhash::fast::RandomState>,
    /// Lookups that failed on a broken part of a database (counted as unknown).
    pub errors: u64,
}

impl GeoCache {
    pub fn new(store: Arc<GeoStore>) -> GeoCache {
        let mut cache = GeoCache {
            generation: u64::MAX,
            store,
            city: None,
            asn: None,
            seen: HashMap::default(),
            errors: 0,
        };
        cache.catch_up();
        cache
    }

    /// Takes the databases reloaded since the last call.
    pub fn catch_up(&mut self) {
        let generation = self.store.generation();
        if generation != self.generation {
            self.generation = generation;
            self.city = self.store.city.as_ref().map(GeoFile::reader);
            self.asn = self.store.asn.as_ref().map(GeoFile::reader);
            self.seen.clear();
        }
    }

    /// What the databases say of `addr` (the name field is left 0).
    #[inline]
    pub fn lookup(&mut self, addr: IpAddr) -> HostInfo {
        if let Some(info) = self.seen.get(&addr) {
            return *info;
        }
        let info = self.look_up(addr);
        if self.seen.len() >= CACHE_ENTRIES {
            self.seen.clear();
        }
        self.seen.insert(addr, info);
        info
    }

    fn look_up(&mut self, addr: IpAddr) -> HostInfo {
        let mut info = HostInfo::default();
        for reader in [&self.city, &self.asn].into_iter().flatten() {
            match reader.lookup::<Record>(addr) {
                Ok(Some(r)) => apply(&r, &mut info),
                Ok(None) => {}
                Err(_) => self.errors += 1,
            }
        }
        info
    }
}

/// Copies what a record holds into `info`.
fn apply(r: &Record, info: &mut HostInfo) {
    if let Some(code) = r.country.as_ref().and_then(|c| c.iso_code) {
        if let [a, b] = code.as_bytes() {
            info.country = u16::from(*a) << 8 | u16::from(*b);
        }
    }
    if let Some(code) = r.postal.as_ref().and_then(|p| p.code) {
        info.pocode = pmacct_core::labels::intern(code);
    }
    if let Some(loc) = &r.location {
        info.lat = micro_degrees(loc.latitude);
        info.lon = micro_degrees(loc.longitude);
    }
    if let Some(asn) = r.autonomous_system_number {
        info.asn = asn;
    }
    if let Some(org) = r.autonomous_system_organization {
        info.as_name = pmacct_core::labels::intern(org);
    }
}

fn micro_degrees(v: Option<f64>) -> i32 {
    match v {
        Some(d) if d.is_finite() && d.abs() <= 360.0 => (d * 1e6).round() as i32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/mmdb")
            .join(name);
        p.exists().then_some(p)
    }

    #[test]
    fn city_and_asn_lookups() {
        let (Some(city), Some(asn)) = (
            testdata("GeoIP2-City-Test.mmdb"),
            testdata("GeoLite2-ASN-Test.mmdb"),
        ) else {
            eprintln!("../shared/testdata/mmdb is absent: nothing to check");
            return;
        };
        let store = GeoStore::new(
            Some(GeoFile::open("geoipv2_file", &city).unwrap()),
            Some(GeoFile::open("geoipv2_asn_file", &asn).unwrap()),
        );
        let mut cache = GeoCache::new(Arc::new(store));
        let gb = cache.lookup("2.125.160.216".parse().unwrap());
        assert_eq!(gb.country, u16::from(b'G') << 8 | u16::from(b'B'));
        assert_eq!(&*pmacct_core::labels::text(gb.pocode), "OX1");
        assert_eq!((gb.lat, gb.lon), (51_750_000, -1_250_000));
        let google = cache.lookup("1.0.0.1".parse().unwrap());
        assert_eq!(google.asn, 15169);
        assert_eq!(&*pmacct_core::labels::text(google.as_name), "Google Inc.");
        assert_eq!(
            cache.lookup("10.0.0.1".parse().unwrap()),
            HostInfo::default()
        );
    }

    #[test]
    fn broken_files_are_refused_with_key_and_path() {
        let dir = std::env::temp_dir().join(format!("geo-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.mmdb");
        std::fs::write(&garbage, b"not a database").unwrap();
        let e = GeoFile::open("geoipv2_file", &garbage).err().unwrap();
        assert!(
            e.starts_with(&format!(
                "geoipv2_file: '{}': not a MaxMind",
                garbage.display()
            )),
            "{e}"
        );
        let e = GeoFile::open("geoipv2_file", &dir.join("absent.mmdb"))
            .err()
            .unwrap();
        assert!(e.contains("cannot read it"), "{e}");
        if let Some(broken) = testdata("MaxMind-DB-test-broken-search-tree-24.mmdb") {
            let e = GeoFile::open("geoipv2_file", &broken).err().unwrap();
            assert!(e.contains("corrupt"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
