//! What the daemon learns of the addresses it accounts: countries, postal codes, coordinates
//! and AS numbers from MaxMind-format files ([`geo`]), and the names clients use for remote
//! hosts, read from the traffic ([`names`]). Looked up once per packet or flow record, before
//! the plugins' keys are made, and only for what some plugin aggregates: nothing is learned
//! otherwise (docs/names.md).

pub mod devices;
pub mod geo;
pub mod names;

use std::net::IpAddr;
use std::sync::Arc;

use pmacct_core::config::{GeoFiles, NamesConfig};
use pmacct_core::key::HostInfos;
use pmacct_core::primitive::{Aggregate, Primitive};

use crate::DaemonError;

/// What the plugins aggregate that needs a lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// Country, postal code, coordinates.
    pub geo: bool,
    /// AS numbers and names.
    pub asn: bool,
    /// Host names (src_host_name, dst_host_name).
    pub names: bool,
    /// Which addresses the mmdb files are looked up for (a plugin aggregating only
    /// `dst_host_country` costs one lookup a packet).
    pub src: bool,
    pub dst: bool,
}

impl Wants {
    pub fn of<'a>(aggregates: impl IntoIterator<Item = &'a Aggregate>) -> Wants {
        let mut w = Wants::default();
        for a in aggregates {
            for p in &a.columns {
                w.geo |= p.is_geo();
                w.names |= matches!(p, Primitive::SrcHostName | Primitive::DstHostName);
                let (src, dst) = match p {
                    Primitive::SrcAs | Primitive::SrcAsName => (true, false),
                    Primitive::DstAs | Primitive::DstAsName => (false, true),
                    Primitive::SrcHostCountry
                    | Primitive::SrcHostPocode
                    | Primitive::SrcHostLat
                    | Primitive::SrcHostLon => (true, false),
                    p if p.is_geo() => (false, true),
                    _ => (false, false),
                };
                w.asn |= matches!(
                    p,
                    Primitive::SrcAs
                        | Primitive::DstAs
                        | Primitive::SrcAsName
                        | Primitive::DstAsName
                );
                w.src |= src;
                w.dst |= dst;
            }
        }
        w
    }

    fn any(self) -> bool {
        self.geo || self.asn || self.names
    }
}

/// The run's shared sources: read at start, reloaded by the supervisor.
pub struct HostStore {
    pub geo: Arc<geo::GeoStore>,
    wants: Wants,
    names: NamesConfig,
    /// Device names learned from DHCP and mDNS (`names_learned_file`).
    pub devices: Option<Arc<devices::DeviceNames>>,
}

impl HostStore {
    /// The store when some plugin needs one (`None`: nothing to look up, no cost per packet).
    pub fn open(
        files: &GeoFiles,
        names: NamesConfig,
        learned: Option<&std::path::Path>,
        wants: Wants,
    ) -> Result<Option<Arc<HostStore>>, DaemonError> {
        let open = |key, path: &Option<std::path::PathBuf>| {
            path.as_deref()
                .map(|p| geo::GeoFile::open(key, p).map_err(DaemonError::Map))
                .transpose()
        };
        // Files are read even when unused, so a wrong path is an error at start.
        let city = open("geoipv2_file", &files.city)?;
        let asn = open("geoipv2_asn_file", &files.asn)?;
        let wants = Wants {
            geo: wants.geo && city.is_some(),
            asn: wants.asn && asn.is_some(),
            names: wants.names,
            ..wants
        };
        let devices = learned
            .map(|p| {
                devices::DeviceNames::open(p)
                    .map(Arc::new)
                    .map_err(DaemonError::Map)
            })
            .transpose()?;
        if !wants.any() && devices.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(HostStore {
            geo: Arc::new(geo::GeoStore::new(city, asn)),
            wants,
            names,
            devices,
        })))
    }

    /// SIGUSR2 (`force`) or a periodic look at the files; learned device names are written.
    pub fn refresh(&self, force: bool, proc_name: &str) {
        self.geo.refresh(force, proc_name);
        self.save_devices(proc_name);
    }

    /// Writes the learned device names when they changed.
    pub fn save_devices(&self, proc_name: &str) {
        if let Some(d) = &self.devices {
            if let Err(e) = d.save_if_changed() {
                tracing::warn!("( {proc_name}/core ): {e}");
            }
        }
    }

    /// An input thread's own lookups.
    pub fn lookup(self: &Arc<Self>) -> HostLookup {
        HostLookup {
            wants: self.wants,
            geo: geo::GeoCache::new(self.geo.clone()),
            names: self
                .wants
                .names
                .then(|| names::NameCache::new(self.names.cache_entries, self.names.grace_secs)),
            devices: self.devices.clone(),
        }
    }
}

/// One input thread's lookups.
pub struct HostLookup {
    wants: Wants,
    geo: geo::GeoCache,
    names: Option<names::NameCache>,
    devices: Option<Arc<devices::DeviceNames>>,
}

impl HostLookup {
    /// Fills what the plugins need of a packet's or record's two addresses.
    #[inline]
    pub fn fill(&mut self, src: IpAddr, dst: IpAddr, now: i64, out: &mut HostInfos) {
        if self.wants.geo || self.wants.asn {
            if self.wants.src {
                out.src = self.geo.lookup(src);
            }
            if self.wants.dst {
                out.dst = self.geo.lookup(dst);
            }
        }
        if let Some(names) = &self.names {
            // The name the other side used: a reply's source was named by its destination.
            out.src.name = names.get(dst, src, now);
            out.dst.name = names.get(src, dst, now);
        }
    }

    /// Learns names from a packet (DNS answers, handshakes), when a plugin aggregates them.
    #[inline]
    pub fn observe(&mut self, ip: &pmacct_wire::IpPacket, frame: &[u8], now: i64) {
        if let Some(names) = &mut self.names {
            names.observe(ip, frame, now);
        }
        if let (Some(d), 17, pmacct_wire::Ports::Found { src, dst }) =
            (&self.devices, ip.proto, ip.ports)
        {
            if matches!(src, 67 | 68 | 5353) {
                let (at, len) = (ip.payload.0 as usize, ip.payload.1 as usize);
                if let Some(payload) = frame.get(at..at.saturating_add(len)) {
                    d.observe(src, dst, payload, ip.l2.src_mac, now);
                }
            }
        }
    }

    /// What the name cache counted since the last call, and how many entries it holds.
    pub fn take_name_counts(&mut self) -> (names::NameCounts, usize) {
        match &mut self.names {
            Some(n) => (std::mem::take(&mut n.counts), n.len()),
            None => Default::default(),
        }
    }

    /// Takes reloaded files (called every few hundred packets and when idle).
    pub fn catch_up(&mut self) {
        self.geo.catch_up();
    }

    /// Lookups that hit a broken part of a file since the last call.
    pub fn take_errors(&mut self) -> u64 {
        std::mem::take(&mut self.geo.errors)
    }
}
