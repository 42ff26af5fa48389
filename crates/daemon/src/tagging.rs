//! The pre_tag_map at work: one shared, reloadable copy of the map, and per input thread its
//! rules' filters compiled for the input's link type, with the input's own interface and
//! direction to match against.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pmacct_core::config::Program;
use pmacct_core::key::Tags;
use pmacct_core::pretag::{Direction, FlowFacts, PacketContext, PreTagMap};
use pmacct_wire::LinkType;

use crate::input::{Captured, LinkFilter};
use crate::DaemonError;

/// The map as last loaded; SIGUSR2 (with `maps_refresh`) loads it again.
pub struct MapStore {
    path: PathBuf,
    program: Program,
    current: Mutex<Arc<PreTagMap>>,
    generation: AtomicU64,
}

impl MapStore {
    pub fn load(path: &Path, program: Program) -> Result<MapStore, DaemonError> {
        let map = read(path, program).map_err(DaemonError::Map)?;
        Ok(MapStore {
            path: path.to_path_buf(),
            program,
            current: Mutex::new(Arc::new(map)),
            generation: AtomicU64::new(0),
        })
    }

    /// Reads the file again; the running map stays when the new one does not parse. The
    /// input threads pick the new map up within a few hundred packets (or an idle tick).
    pub fn reload(&self) -> Result<usize, String> {
        let map = read(&self.path, self.program)?;
        let rules = map.rules.len();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(rules)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn snapshot(&self) -> (u64, Arc<PreTagMap>) {
        let generation = self.generation.load(Ordering::Acquire);
        let map = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (generation, map)
    }
}

/// Reads and parses the map; pmacctd refuses nfacctd's flow keys (they would never match).
fn read(path: &Path, program: Program) -> Result<PreTagMap, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read pre_tag_map '{}': {e}", path.display()))?;
    let map = PreTagMap::parse(&path.display().to_string(), &text)?;
    if let (Program::Pmacctd, Some((line, key))) = (program, map.first_flow_key()) {
        return Err(format!(
            "{}:{line}: {key}: a key of nfacctd's flow records; pmacctd matches packets \
             (filter, direction=in|out, ifname, in, out)",
            path.display()
        ));
    }
    Ok(map)
}

/// One input's view of the map.
pub struct Tagger {
    store: Arc<MapStore>,
    generation: u64,
    map: Arc<PreTagMap>,
    /// Each rule's filter compiled for the input's link type.
    filters: Vec<Option<LinkFilter>>,
    ifname: String,
    netmask: Option<u32>,
    direction: Option<Direction>,
}

impl Tagger {
    /// Compiles the map's filters for `link`; an expression that does not compile is an error
    /// naming the map's file and line.
    pub fn new(
        store: Arc<MapStore>,
        link: LinkType,
        ifname: &str,
        direction: Option<Direction>,
    ) -> Result<Tagger, DaemonError> {
        let (generation, map) = store.snapshot();
        let netmask = (!ifname.is_empty())
            .then(|| crate::bpf::netmask_of(ifname))
            .flatten();
        let filters = compile(&store, &map, link, netmask).map_err(DaemonError::Map)?;
        Ok(Tagger {
            store,
            generation,
            map,
            filters,
            ifname: ifname.to_string(),
            netmask,
            direction,
        })
    }

    /// Takes a reloaded map (when there is one) into use.
    #[inline]
    pub fn refresh(&mut self, link: LinkType) {
        if self.store.generation.load(Ordering::Acquire) == self.generation {
            return;
        }
        let (generation, map) = self.store.snapshot();
        self.generation = generation;
        match compile(&self.store, &map, link, self.netmask) {
            Ok(filters) => {
                self.map = map;
                self.filters = filters;
            }
            Err(e) => tracing::error!("( default/core ): {e}; keeping the previous pre_tag_map"),
        }
    }

    /// The tags of one packet (by the map as last reloaded: a reload applies from the next
    /// packet on). `captured` is where a pcapng file says the packet was captured; otherwise
    /// the input's interface and direction count.
    #[inline]
    pub fn tags(
        &mut self,
        link: LinkType,
        frame: &[u8],
        (in_iface, out_iface): (u32, u32),
        captured: Option<Captured>,
    ) -> Tags {
        self.refresh(link);
        let ctx = PacketContext {
            ifname: captured.map_or(self.ifname.as_str(), |c| c.ifname),
            direction: captured.map_or(self.direction, |c| c.direction),
            in_iface,
            out_iface,
            flow: None,
        };
        evaluate(&self.map, &mut self.filters, link, frame, &ctx)
    }

    /// The tags of one flow record: its own facts, and for `filter` rules the packet header
    /// made up from it (`header`, raw IP; empty when the map has no filter).
    /// The tags of a flow record: `frame` is its sampled frame (`link` Ethernet) or the header
    /// made up from its fields (`link` Raw), for the map's `filter` rules.
    pub fn flow_tags(
        &mut self,
        link: LinkType,
        frame: &[u8],
        ids: (u32, u32),
        facts: &FlowFacts,
    ) -> Tags {
        self.refresh(link);
        let ctx = PacketContext {
            ifname: "",
            direction: None,
            in_iface: ids.0,
            out_iface: ids.1,
            flow: Some(facts),
        };
        evaluate(&self.map, &mut self.filters, link, frame, &ctx)
    }

    /// Whether the map has `filter` rules (they need a frame to match).
    pub fn has_filters(&self) -> bool {
        self.map.has_filters()
    }
}

fn evaluate(
    map: &PreTagMap,
    filters: &mut [Option<LinkFilter>],
    link: LinkType,
    frame: &[u8],
    ctx: &PacketContext,
) -> Tags {
    map.evaluate(ctx, |i| {
        filters
            .get_mut(i)
            .and_then(Option::as_mut)
            .is_some_and(|f| f.matches(link, frame))
    })
}

fn compile(
    store: &MapStore,
    map: &PreTagMap,
    link: LinkType,
    netmask: Option<u32>,
) -> Result<Vec<Option<LinkFilter>>, String> {
    map.rules
        .iter()
        .map(|r| match &r.filter {
            Some(expr) => LinkFilter::with_netmask(expr, link, netmask)
                .map(Some)
                .map_err(|e| {
                    format!(
                        "{}:{}: filter '{expr}' does not compile for link type {}: {e}",
                        store.path.display(),
                        r.line,
                        link.name()
                    )
                }),
            None => Ok(None),
        })
        .collect()
}
