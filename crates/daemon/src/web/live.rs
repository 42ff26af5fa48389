//! The last minute of traffic for the page's Live view: bytes per local device and per
//! interface, in one-second buckets, fed by a hidden plugin (aggregate `src_host, dst_host,
//! in_iface, out_iface`) that never blocks capture (its queue drops when full).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use pmacct_core::cidr::{Cidr, LocalNets, Side};
use pmacct_core::key::RecordBatch;
use pmacct_core::layout::KeyLayout;
use serde_json::{json, Value};

use crate::plugins::{Now, Plugin, PluginError};

/// Seconds kept.
pub const SECONDS: usize = 60;
/// Devices kept per second (more are counted in the second's totals only).
pub const MAX_HOSTS: usize = 4096;
/// Interfaces kept per second.
pub const MAX_IFACES: usize = 256;
/// Devices listed in a snapshot.
pub const TOP: usize = 20;

#[derive(Default, Clone)]
struct Second {
    at: i64,
    /// Per local device: bytes down, bytes up.
    hosts: HashMap<IpAddr, (u64, u64)>,
    /// Per interface index: bytes in, bytes out.
    ifaces: HashMap<u32, (u64, u64)>,
    down: u64,
    up: u64,
    overflow: u64,
}

/// The ring of seconds, shared by the plugin (writer) and the page (reader).
pub struct Live {
    nets: LocalNets,
    ring: Mutex<Vec<Second>>,
    /// Interface indexes are this host's (pmacctd), so they have names here.
    local_ifindex: bool,
}

impl Live {
    pub fn new(local: &[Cidr], local_ifindex: bool) -> Arc<Live> {
        Arc::new(Live {
            nets: LocalNets::new(local.to_vec()),
            ring: Mutex::new(vec![Second::default(); SECONDS]),
            local_ifindex,
        })
    }

    /// Counts one aggregate of second `t`.
    pub fn add(&self, t: i64, src: IpAddr, dst: IpAddr, ifaces: (u32, u32), bytes: u64) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut ring[t.rem_euclid(SECONDS as i64) as usize];
        if s.at > t {
            // Older than the ring: gone.
            return;
        }
        if s.at != t {
            *s = Second {
                at: t,
                ..Second::default()
            };
        }
        let (up_dev, down_dev) = match self.nets.side(src, dst) {
            Side::Upload => (Some(src), None),
            Side::Download => (None, Some(dst)),
            Side::Lan => (Some(src), Some(dst)),
            _ => (None, None),
        };
        let host = |ip: IpAddr, s: &mut Second, down: u64, up: u64| {
            let room = s.hosts.len() < MAX_HOSTS || s.hosts.contains_key(&ip);
            match room {
                true => {
                    let e = s.hosts.entry(ip).or_default();
                    e.0 = e.0.saturating_add(down);
                    e.1 = e.1.saturating_add(up);
                }
                false => s.overflow += 1,
            }
        };
        if let Some(ip) = up_dev {
            host(ip, s, 0, bytes);
            s.up = s.up.saturating_add(bytes);
        }
        if let Some(ip) = down_dev {
            host(ip, s, bytes, 0);
            s.down = s.down.saturating_add(bytes);
        }
        for (index, is_in) in [(ifaces.0, true), (ifaces.1, false)] {
            if index == 0 || (s.ifaces.len() >= MAX_IFACES && !s.ifaces.contains_key(&index)) {
                continue;
            }
            let e = s.ifaces.entry(index).or_default();
            match is_in {
                true => e.0 = e.0.saturating_add(bytes),
                false => e.1 = e.1.saturating_add(bytes),
            }
        }
    }

    /// The last `window` seconds up to `now` (not included: it is still being counted).
    pub fn snapshot_at(&self, window: i64, now: i64, names: &dyn Fn(&str) -> String) -> Value {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let from = now - window;
        let mut hosts: HashMap<IpAddr, (u64, u64)> = HashMap::new();
        let mut ifaces: HashMap<u32, (u64, u64)> = HashMap::new();
        let mut series = Vec::new();
        for t in from..now {
            let s = &ring[t.rem_euclid(SECONDS as i64) as usize];
            let fresh = s.at == t;
            let (down, up) = if fresh { (s.down, s.up) } else { (0, 0) };
            series.push(json!({"t": t, "download_bytes": down, "upload_bytes": up}));
            if !fresh {
                continue;
            }
            for (ip, (d, u)) in &s.hosts {
                let e = hosts.entry(*ip).or_default();
                e.0 = e.0.saturating_add(*d);
                e.1 = e.1.saturating_add(*u);
            }
            for (i, (a, b)) in &s.ifaces {
                let e = ifaces.entry(*i).or_default();
                e.0 = e.0.saturating_add(*a);
                e.1 = e.1.saturating_add(*b);
            }
        }
        drop(ring);
        let bps = |b: u64| b.saturating_mul(8) / window.max(1) as u64;
        let mut top: Vec<(IpAddr, (u64, u64))> = hosts.into_iter().collect();
        top.sort_by(|a, b| {
            (b.1 .0 + b.1 .1)
                .cmp(&(a.1 .0 + a.1 .1))
                .then(a.0.cmp(&b.0))
        });
        top.truncate(TOP);
        let talkers: Vec<Value> = top
            .iter()
            .map(|(ip, (d, u))| {
                json!({"host": ip.to_string(), "name": names(&ip.to_string()),
                       "download_bytes": d, "upload_bytes": u,
                       "download_bps": bps(*d), "upload_bps": bps(*u)})
            })
            .collect();
        let mut ifs: Vec<(u32, (u64, u64))> = ifaces.into_iter().collect();
        ifs.sort_unstable_by_key(|x| x.0);
        let interfaces: Vec<Value> = ifs
            .iter()
            .map(|(i, (a, b))| {
                let name = match self.local_ifindex {
                    true => interface_name(*i),
                    false => String::new(),
                };
                json!({"ifindex": i, "name": name,
                       "in_bytes": a, "out_bytes": b, "in_bps": bps(*a), "out_bps": bps(*b)})
            })
            .collect();
        json!({"available": true, "window_seconds": window, "now": now,
               "talkers": talkers, "interfaces": interfaces, "series": series})
    }

    /// [`Live::snapshot_at`] the wall clock.
    pub fn snapshot(&self, window: i64, names: &dyn Fn(&str) -> String) -> Value {
        self.snapshot_at(window, crate::plugins::wall_now(), names)
    }
}

/// The kernel's name of an interface index (empty when it has none: a hashed index).
fn interface_name(index: u32) -> String {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires; it writes a
    // NUL-terminated name into it or returns NULL.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The hidden plugin that feeds a [`Live`].
pub struct LivePlugin {
    pub live: Arc<Live>,
    pub layout: Arc<KeyLayout>,
}

impl Plugin for LivePlugin {
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError> {
        // Counted at arrival (the wall clock), not at the packet's or flow's own time: a
        // flow record may have started minutes ago (or carry an exporter's wrong clock).
        for (key, c) in records.iter() {
            let k = self.layout.decode(key);
            self.live.add(
                now.wall,
                k.src_host.0,
                k.dst_host.0,
                (k.in_iface, k.out_iface),
                c.bytes,
            );
        }
        Ok(())
    }

    fn shutdown(&mut self, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }
}

/// What starts the Live view: the hidden plugin's configuration, the plugin, its ring.
pub type LiveParts = (
    pmacct_core::config::PluginConfig,
    Box<dyn Plugin>,
    Arc<Live>,
);

/// The hidden plugin of the Live view: its configuration, the plugin, and the ring it fills.
pub fn plugin(program: pmacct_core::config::Program, local: &[Cidr]) -> Result<LiveParts, String> {
    let text =
        "plugins: print[web_live]\naggregate[web_live]: src_host, dst_host, in_iface, out_iface\n";
    let mut warnings = Vec::new();
    let config =
        pmacct_core::config::load_as(program, "(web live view)", text, Vec::new(), &mut warnings)
            .map_err(|e| e.to_string())?;
    let mut cfg = config
        .plugins
        .into_iter()
        .next()
        .ok_or("no live plugin configuration")?;
    // Live: drop rather than slow capture down.
    cfg.when_full = pmacct_core::config::QueuePolicy::Drop;
    let live = Live::new(local, program == pmacct_core::config::Program::Pmacctd);
    let plugin = LivePlugin {
        live: live.clone(),
        layout: Arc::new(cfg.key_layout()),
    };
    Ok((cfg, Box::new(plugin), live))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn seconds_sum_per_device_and_interface() {
        let live = Live::new(&[Cidr::parse("192.168.1.0/24").expect("net")], true);
        live.add(100, ip("192.168.1.5"), ip("8.8.8.8"), (2, 3), 1000);
        live.add(101, ip("8.8.8.8"), ip("192.168.1.5"), (3, 2), 5000);
        live.add(101, ip("8.8.8.8"), ip("192.168.1.6"), (3, 2), 10);
        let none = |_: &str| String::new();
        let v = live.snapshot_at(10, 102, &none);
        assert_eq!(v["talkers"][0]["host"], "192.168.1.5");
        assert_eq!(v["talkers"][0]["download_bytes"], 5000);
        assert_eq!(v["talkers"][0]["upload_bytes"], 1000);
        assert_eq!(v["talkers"][0]["download_bps"], 4000);
        assert_eq!(v["talkers"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["series"].as_array().map(Vec::len), Some(10));
        assert_eq!(v["series"][9]["download_bytes"], 5010);
        assert_eq!(v["interfaces"][0]["ifindex"], 2);
        assert_eq!(v["interfaces"][0]["in_bytes"], 1000);
        assert_eq!(v["interfaces"][0]["out_bytes"], 5010);
        // 60 seconds later the bucket of second 101 is reused, not summed.
        live.add(161, ip("8.8.8.8"), ip("192.168.1.7"), (3, 2), 7);
        // A second older than the ring is not counted.
        live.add(100, ip("8.8.8.8"), ip("192.168.1.8"), (3, 2), 9);
        let later = live.snapshot_at(10, 162, &none);
        assert_eq!(later["talkers"][0]["host"], "192.168.1.7");
        assert_eq!(later["talkers"].as_array().map(Vec::len), Some(1));
    }
}
