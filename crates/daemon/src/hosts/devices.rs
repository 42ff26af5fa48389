//! Names of local devices learned from the wire: the host names DHCP clients send (options 12
//! and 81, in DISCOVER, REQUEST, ACK and INFORM) and the `.local` names mDNS responders
//! announce. Kept in `names_learned_file`, in dnsmasq's lease format (`EXPIRY MAC IP NAME *`),
//! which `pmacct report --leases` and the web page read; the file is read back at start, so
//! names outlive restarts.
//!
//! Promises: learning is opt-in (only with `names_learned_file`); at most [`MAX_DEVICES`]
//! addresses are kept (the ones seen longest ago go first); the file is replaced whole and
//! atomically, at most every few seconds and only when something changed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pmacct_sniff::{dhcp, dns, leases};

/// Addresses whose names are kept (a home or office network has far fewer).
pub const MAX_DEVICES: usize = 16_384;

/// How long a learned name is said to last in the file (renewed each time it is seen).
const LIFETIME_SECS: i64 = 86_400;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Learned {
    mac: Option<[u8; 6]>,
    name: String,
    expires: i64,
}

/// The learned names of a run, shared by the input threads.
pub struct DeviceNames {
    path: PathBuf,
    known: Mutex<HashMap<IpAddr, Learned>>,
    changed: AtomicBool,
}

impl DeviceNames {
    /// Starts from what `path` holds (a missing file is an empty start).
    pub fn open(path: &Path) -> Result<DeviceNames, String> {
        let mut known = HashMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for l in leases::parse_dnsmasq(&text).leases {
                    let expires = l.expires.unwrap_or(0);
                    known.insert(
                        l.addr,
                        Learned {
                            mac: l.mac,
                            name: l.name,
                            expires,
                        },
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("names_learned_file: '{}': {e}", path.display())),
        }
        Ok(DeviceNames {
            path: path.to_path_buf(),
            known: Mutex::new(known),
            changed: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads a UDP payload on the DHCP or mDNS ports; `src_mac` is the frame's sender.
    pub fn observe(&self, sport: u16, dport: u16, payload: &[u8], src_mac: [u8; 6], now: i64) {
        if matches!((sport, dport), (67 | 68, 67 | 68)) {
            if let Some(d) = dhcp::host_name(payload) {
                if let Some(addr) = d.addr {
                    self.learn(IpAddr::V4(addr), Some(d.mac), &d.name, now);
                }
            }
        } else if sport == 5353 {
            let mut names = Vec::new();
            if dns::mdns_names(payload, &mut names).is_ok() {
                for (name, addr) in names {
                    self.learn(addr, Some(src_mac), &name, now);
                }
            }
        }
    }

    fn learn(&self, addr: IpAddr, mac: Option<[u8; 6]>, name: &str, now: i64) {
        let name: String = name
            .split('.')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        if name.is_empty() || addr.is_unspecified() {
            return;
        }
        let entry = Learned {
            mac,
            name,
            expires: now + LIFETIME_SECS,
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let same = known
            .get(&addr)
            .is_some_and(|old| old.name == entry.name && old.mac == entry.mac);
        if !same && known.len() >= MAX_DEVICES && !known.contains_key(&addr) {
            // Full: the name seen longest ago goes.
            if let Some(oldest) = known.iter().min_by_key(|(_, l)| l.expires).map(|(a, _)| *a) {
                known.remove(&oldest);
            }
        }
        // Renewals are kept in memory; the file is rewritten for new or changed names.
        known.insert(addr, entry);
        if !same {
            self.changed.store(true, Ordering::Release);
        }
    }

    /// Writes the file when a name was learned or changed since the last write.
    pub fn save_if_changed(&self) -> Result<bool, String> {
        if !self.changed.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let text = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            let mut lines: Vec<(&IpAddr, &Learned)> = known.iter().collect();
            lines.sort_by_key(|(a, _)| **a);
            let mut text = String::new();
            for (addr, l) in lines {
                let mac = l.mac.map_or("*".to_string(), |m| {
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                });
                text.push_str(&format!("{} {mac} {addr} {} *\n", l.expires, l.name));
            }
            text
        };
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                self.changed.store(true, Ordering::Release);
                format!("names_learned_file: '{}': {e}", self.path.display())
            })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_renewed_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("devices-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("learned");
        let d = DeviceNames::open(&path).expect("open");
        let mac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        d.learn(
            "192.168.1.23".parse().expect("ip"),
            Some(mac),
            "Jon-Laptop.lan",
            100,
        );
        d.learn("fd00::23".parse().expect("ip"), None, "printer", 100);
        assert_eq!(d.save_if_changed(), Ok(true));
        // Seen again, unchanged: nothing to write.
        d.learn(
            "192.168.1.23".parse().expect("ip"),
            Some(mac),
            "Jon-Laptop",
            200,
        );
        assert_eq!(d.save_if_changed(), Ok(false));
        let text = std::fs::read_to_string(&path).expect("file");
        assert_eq!(
            text,
            "86500 00:11:22:33:44:55 192.168.1.23 Jon-Laptop *\n86500 * fd00::23 printer *\n"
        );
        let again = DeviceNames::open(&path).expect("reopen");
        assert_eq!(again.known.lock().expect("lock").len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
