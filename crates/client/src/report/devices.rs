//! Which side of a flow is a local device, what is noise, and device names.

use std::collections::HashMap;
use std::net::IpAddr;

use pmacct_sniff::leases::{self, Lease};
use pmacct_sniff::oui::Vendors;

pub use pmacct_core::cidr::{Cidr, LocalNets, Side};

/// The private ranges a home network uses, when no `--local-net` is given.
pub use pmacct_core::cidr::PRIVATE as DEFAULT_LOCAL;

/// Debian's `ieee-data` files the MAC vendors are read from (when they exist).
pub const IEEE_FILES: [&str; 3] = [
    "/usr/share/ieee-data/oui.csv",
    "/usr/share/ieee-data/mam.csv",
    "/usr/share/ieee-data/oui36.csv",
];

/// When a lease ends, as a rank: a lease that never ends is the latest.
type Expires = Option<i64>;

/// Names and MAC vendors of devices, by IP or MAC address: from a names file (`--names FILE`),
/// then from DHCP leases (`--leases FILE`). The one place that answers "name of device X".
#[derive(Default)]
pub struct Names {
    /// From the names file (normal spelling): always wins.
    names: HashMap<String, String>,
    /// From leases, by IP and by MAC (normal spelling): the latest lease with a name.
    leased: HashMap<String, (Expires, String)>,
    /// The MAC address of the latest lease of each IP address that has one.
    lease_macs: HashMap<IpAddr, (Expires, [u8; 6])>,
    /// MAC vendors; `None`: Debian's ieee-data ([`system_vendors`]), read when first asked.
    vendors: Option<Vendors>,
}

impl Names {
    /// Lines of `ADDRESS NAME` (an IP or a MAC address); `#` and `!` start comments.
    pub fn parse(file: &str, text: &str) -> Result<Names, String> {
        let mut names = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let at = format!("{file}:{}", i + 1);
            let mut words = line.split_whitespace();
            let (Some(addr), Some(name), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("{at}: expected 'ADDRESS NAME', got '{line}'"));
            };
            let key = normal(addr)
                .ok_or_else(|| format!("{at}: '{addr}' is not an IP or MAC address"))?;
            if names.insert(key, name.to_string()).is_some() {
                return Err(format!("{at}: '{addr}' is named twice"));
            }
        }
        Ok(Names {
            names,
            ..Names::default()
        })
    }

    /// Reads the names file (when given), then the lease files, in order: a file that cannot
    /// be read is an error naming it; lease lines that cannot be read are passed over.
    pub fn read(names_file: Option<&str>, lease_files: &[String]) -> Result<Names, String> {
        let mut names = match names_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read names file '{path}': {e}"))?;
                Names::parse(path, &text)?
            }
            None => Names::default(),
        };
        for path in lease_files {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read leases file '{path}': {e}"))?;
            let parsed = leases::parse_auto(&String::from_utf8_lossy(&bytes));
            names.add_leases(&parsed.leases);
        }
        Ok(names)
    }

    /// These names, and the names of DHCP leases ([`Names::add_leases`]).
    pub fn with_leases(mut self, leases: &[Lease]) -> Names {
        self.add_leases(leases);
        self
    }

    /// Names devices by their leases: a lease names its IP address and its MAC address. A
    /// name of the names file always wins; among leases, the one ending last (a lease that
    /// never ends is the latest; of equal ones, the one added last). Leases without a name
    /// name nothing, but still tell their IP address's MAC address (for its vendor).
    pub fn add_leases(&mut self, leases: &[Lease]) {
        for l in leases {
            if !l.name.is_empty() {
                keep_latest(
                    &mut self.leased,
                    l.addr.to_string(),
                    l.expires,
                    l.name.clone(),
                );
                if let Some(mac) = l.mac {
                    keep_latest(&mut self.leased, mac_text(mac), l.expires, l.name.clone());
                }
            }
            if let Some(mac) = l.mac {
                keep_latest(&mut self.lease_macs, l.addr, l.expires, mac);
            }
        }
    }

    /// These names, with MAC vendors from `vendors` rather than Debian's ieee-data.
    pub fn with_vendors(mut self, vendors: Vendors) -> Names {
        self.vendors = Some(vendors);
        self
    }

    /// The name of `device` (an IP or MAC address), empty when it has none.
    pub fn get(&self, device: &str) -> &str {
        let Some(key) = normal(device) else {
            return "";
        };
        self.names
            .get(&key)
            .or_else(|| self.leased.get(&key).map(|(_, name)| name))
            .map_or("", String::as_str)
    }

    /// The vendor of `device`'s MAC address: the device's own (a MAC address), or the one of
    /// its latest lease (an IP address). Empty when no MAC address or vendor is known.
    pub fn vendor(&self, device: &str) -> &str {
        let mac = match device.parse::<IpAddr>() {
            Ok(ip) => self.lease_macs.get(&ip).map(|(_, mac)| *mac),
            Err(_) => mac_bytes(device),
        };
        match (mac, &self.vendors) {
            (Some(mac), Some(vendors)) => vendors.vendor(mac).unwrap_or(""),
            (Some(mac), None) => mac_vendor(mac),
            (None, _) => "",
        }
    }
}

/// Puts `value` at `key` unless the map has a lease for it that ends later.
fn keep_latest<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, (Expires, V)>,
    key: K,
    expires: Expires,
    value: V,
) {
    let rank = |e: Expires| e.unwrap_or(i64::MAX);
    match map.get(&key) {
        Some((kept, _)) if rank(*kept) > rank(expires) => {}
        _ => {
            map.insert(key, (expires, value));
        }
    }
}

/// The vendors of Debian's ieee-data files ([`IEEE_FILES`]), read once, the first time they
/// are asked for; none when the files are missing.
pub fn system_vendors() -> &'static Vendors {
    static VENDORS: std::sync::OnceLock<Vendors> = std::sync::OnceLock::new();
    VENDORS.get_or_init(|| read_vendors(&IEEE_FILES))
}

/// The vendors of the IEEE registry CSV files at `paths` that can be read.
pub fn read_vendors(paths: &[&str]) -> Vendors {
    let mut vendors = Vendors::new();
    for path in paths {
        if let Ok(text) = std::fs::read_to_string(path) {
            vendors.add_ieee_csv(&text);
        }
    }
    vendors
}

/// The vendor of `mac` from Debian's ieee-data ([`system_vendors`]); empty when unknown. A
/// locally administered or multicast address has none, and reads no file.
pub fn mac_vendor(mac: [u8; 6]) -> &'static str {
    if mac[0] & 0x03 != 0 {
        return "";
    }
    system_vendors().vendor(mac).unwrap_or("")
}

/// Writes `name` for `device` (an IP or MAC address) into the names file at `path`: its line
/// is replaced (or removed, for an empty name) and the other lines kept as they are; the file
/// is replaced at once (written aside, then renamed).
pub fn set_name(path: &std::path::Path, device: &str, name: &str) -> Result<(), String> {
    let shown = path.display();
    let key = normal(device).ok_or_else(|| format!("'{device}' is not an IP or MAC address"))?;
    if name.chars().count() > 64
        || name.chars().any(char::is_whitespace)
        || name.starts_with(['#', '!'])
    {
        return Err(format!(
            "'{name}': a name is at most 64 characters, without spaces, not starting with # or !"
        ));
    }
    // One writer at a time in this process; a symbolic link is followed, not replaced.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (text, permissions) = match std::fs::read_to_string(&target) {
        Ok(t) => (t, std::fs::metadata(&target).ok().map(|m| m.permissions())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(e) => return Err(format!("cannot read '{shown}': {e}")),
    };
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        let addr = line.split_whitespace().next().unwrap_or("");
        let comment = addr.starts_with('#') || addr.starts_with('!');
        if !comment && normal(addr).as_deref() == Some(key.as_str()) {
            if !name.is_empty() && !done {
                out.push_str(&format!("{addr} {name}\n"));
            }
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done && !name.is_empty() {
        out.push_str(&format!("{device} {name}\n"));
    }
    // What is written must read back: a file with a wrong line elsewhere is not made worse.
    Names::parse(&shown.to_string(), &out).map_err(|e| format!("fix the names file first: {e}"))?;
    replace_file(&target, out.as_bytes(), permissions)
        .map_err(|e| format!("cannot write '{shown}': {e}"))
}

/// Writes `bytes` beside `target` (synced, with `permissions`), then renames it over `target`.
fn replace_file(
    target: &std::path::Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    use std::io::Write;
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = target.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&aside)?;
        f.write_all(bytes)?;
        if let Some(p) = permissions {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&aside, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    written
}

/// An address in one spelling: IPs as Rust prints them, MACs lower-case with two digits.
fn normal(addr: &str) -> Option<String> {
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    mac_bytes(addr).map(mac_text)
}

/// A MAC address written with `:` or `-`, one or two hex digits a byte.
fn mac_bytes(addr: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = addr.split([':', '-']);
    for byte in &mut mac {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_set_replaced_and_removed_keeping_other_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("names.txt");
        std::fs::write(&path, "# home\n192.168.1.5 old\n02:00:00:00:00:0a tv\n").expect("write");
        set_name(&path, "192.168.1.5", "jon-laptop").expect("set");
        set_name(&path, "02-00-00-00-00-0A", "").expect("remove");
        set_name(&path, "fd00::7", "printer").expect("add");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "# home\n192.168.1.5 jon-laptop\nfd00::7 printer\n");
        let names = Names::parse("names.txt", &text).expect("parses");
        assert_eq!(names.get("fd00::7"), "printer");
        assert!(set_name(&path, "192.168.1.5", "two words").is_err());
        assert!(set_name(&path, "192.168.1.5", "#x").is_err());
        assert!(set_name(&path, "host", "x").is_err());
        assert!(set_name(&path, "192.168.1.5", &"n".repeat(65)).is_err());
        // A symbolic link is followed; a broken file is not written over.
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        set_name(&link, "fd00::7", "printer2").expect("through the link");
        assert!(std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
        assert!(std::fs::read_to_string(&path)
            .expect("read")
            .contains("fd00::7 printer2"));
        std::fs::write(&path, "not-an-address x\n").expect("write");
        let e = set_name(&path, "fd00::7", "p").expect_err("refused");
        assert!(e.starts_with("fix the names file first:"), "{e}");
    }

    #[test]
    fn names_by_ip_or_mac_with_errors_at_their_line() {
        let n = Names::parse(
            "n.txt",
            "# devices\n192.168.1.5 jon-laptop\n02-00-00-00-00-0A tv\n",
        )
        .expect("names");
        assert_eq!(n.get("192.168.1.5"), "jon-laptop");
        assert_eq!(n.get("02:00:00:00:00:0a"), "tv");
        assert_eq!(n.get("192.168.1.6"), "");
        assert_eq!(
            Names::parse("n.txt", "\nnot-an-address x\n").err(),
            Some("n.txt:2: 'not-an-address' is not an IP or MAC address".into())
        );
        assert_eq!(
            Names::parse("n.txt", "1.2.3.4\n").err(),
            Some("n.txt:1: expected 'ADDRESS NAME', got '1.2.3.4'".into())
        );
    }

    /// Two IEEE registry rows in the shape of oui.csv (a quoted name with a comma).
    const OUI: &str = "Registry,Assignment,Organization Name,Organization Address\r\n\
        MA-L,001122,\"Cimsys, Inc\",Somewhere\r\n\
        MA-L,A483E7,Apple Inc.,Cupertino\r\n";

    const DNSMASQ: &str = "\
1714600800 00:11:22:33:44:55 192.168.1.23 Jon-Laptop 01:00:11:22:33:44:55
0 a4:83:e7:01:02:0f 192.168.1.24 * *
not a lease
duid 00:01:00:01:2d:5e:1a:2b:00:11:22:33:44:55
1714601000 1234567 2001:db8::23 tv *
";

    const ISC: &str = r#"# dhcpd.leases
lease 192.168.1.30 {
  starts 3 2024/05/01 10:00:00;
  ends 3 2024/05/01 22:00:00;
  binding state active;
  hardware ethernet 00:11:22:33:44:66;
  client-hostname "Printer";
}
lease 192.168.1.31 {
  ends never;
  binding state active;
  hardware ethernet a4:83:e7:00:00:01;
  client-hostname "ipad";
}
lease 192.168.1.32 {
  ends epoch 1714600000;
  binding state free;
  hardware ethernet a4:83:e7:00:00:02;
  client-hostname "gone";
}
"#;

    fn lease(addr: &str, mac: Option<[u8; 6]>, name: &str, expires: Option<i64>) -> Lease {
        Lease {
            addr: addr.parse().expect("address"),
            mac,
            name: name.into(),
            expires,
        }
    }

    #[test]
    fn dnsmasq_leases_name_addresses_and_macs_and_tell_vendors() {
        let parsed = leases::parse_auto(DNSMASQ);
        assert_eq!(parsed.skipped, 1);
        let n = Names::default()
            .with_leases(&parsed.leases)
            .with_vendors(pmacct_sniff::oui::parse_ieee_csv(OUI));
        assert_eq!(n.get("192.168.1.23"), "jon-laptop");
        assert_eq!(n.get("00-11-22-33-44-55"), "jon-laptop");
        assert_eq!(n.get("2001:db8::23"), "tv");
        // A lease without a name names nothing, but tells its address's MAC (and vendor).
        assert_eq!(n.get("192.168.1.24"), "");
        assert_eq!(n.get("a4:83:e7:01:02:0f"), "");
        assert_eq!(n.vendor("192.168.1.24"), "Apple Inc.");
        assert_eq!(n.vendor("192.168.1.23"), "Cimsys, Inc");
        assert_eq!(n.vendor("0:11:22:33:44:55"), "Cimsys, Inc");
        assert_eq!(n.vendor("a4:83:e7:ff:ff:ff"), "Apple Inc.");
        // No MAC (IPv6 lease, unknown address), unknown prefix, locally administered: none.
        assert_eq!(n.vendor("2001:db8::23"), "");
        assert_eq!(n.vendor("192.168.1.99"), "");
        assert_eq!(n.vendor("00:00:01:00:00:00"), "");
        assert_eq!(n.vendor("02:11:22:33:44:55"), "");
        assert_eq!(n.vendor("not-an-address"), "");
    }

    #[test]
    fn isc_leases_name_addresses_and_macs() {
        let n = Names::default().with_leases(&leases::parse_auto(ISC).leases);
        assert_eq!(n.get("192.168.1.30"), "printer");
        assert_eq!(n.get("00:11:22:33:44:66"), "printer");
        assert_eq!(n.get("192.168.1.31"), "ipad");
        assert_eq!(n.get("A4:83:E7:00:00:01"), "ipad");
        // A free address has no lease.
        assert_eq!(n.get("192.168.1.32"), "");
        assert_eq!(n.get("a4:83:e7:00:00:02"), "");
    }

    #[test]
    fn the_names_file_wins_over_leases() {
        let n = Names::parse("n.txt", "192.168.1.23 desk\na4:83:e7:01:02:0f tablet\n")
            .expect("names")
            .with_leases(&leases::parse_auto(DNSMASQ).leases);
        assert_eq!(n.get("192.168.1.23"), "desk");
        assert_eq!(n.get("00:11:22:33:44:55"), "jon-laptop");
        assert_eq!(n.get("a4:83:e7:01:02:0f"), "tablet");
        assert_eq!(n.get("2001:db8::23"), "tv");
    }

    #[test]
    fn the_latest_lease_wins() {
        const M1: [u8; 6] = [0x00, 0x11, 0x22, 0, 0, 1];
        const M2: [u8; 6] = [0xa4, 0x83, 0xe7, 0, 0, 2];
        let n = Names::default()
            .with_leases(&[
                lease("192.168.1.40", Some(M1), "old", Some(100)),
                lease("192.168.1.40", Some(M2), "new", Some(200)),
                lease("192.168.1.40", Some(M1), "older", Some(50)),
                lease("192.168.1.41", None, "forever", None),
                lease("192.168.1.41", None, "not-forever", Some(i64::MAX - 1)),
                lease("192.168.1.42", None, "named", Some(100)),
                lease("192.168.1.42", None, "", Some(300)),
            ])
            .with_vendors(pmacct_sniff::oui::parse_ieee_csv(OUI));
        assert_eq!(n.get("192.168.1.40"), "new");
        assert_eq!(n.vendor("192.168.1.40"), "Apple Inc.");
        assert_eq!(n.get("00:11:22:00:00:01"), "old");
        assert_eq!(n.get("a4:83:e7:00:00:02"), "new");
        assert_eq!(n.get("192.168.1.41"), "forever");
        assert_eq!(n.get("192.168.1.42"), "named");
        // Of leases ending at the same time, the one read last.
        let n = Names::default().with_leases(&[
            lease("192.168.1.43", None, "first", Some(7)),
            lease("192.168.1.43", None, "second", Some(7)),
        ]);
        assert_eq!(n.get("192.168.1.43"), "second");
    }

    #[test]
    fn names_and_lease_files_are_read_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let path = |f: &str| dir.path().join(f).display().to_string();
        std::fs::write(path("names.txt"), "192.168.1.31 kitchen-ipad\n").expect("write");
        std::fs::write(path("dnsmasq.leases"), DNSMASQ).expect("write");
        std::fs::write(path("dhcpd.leases"), ISC).expect("write");
        let n = Names::read(
            Some(&path("names.txt")),
            &[path("dnsmasq.leases"), path("dhcpd.leases")],
        )
        .expect("read");
        assert_eq!(n.get("192.168.1.31"), "kitchen-ipad");
        assert_eq!(n.get("a4:83:e7:00:00:01"), "ipad");
        assert_eq!(n.get("192.168.1.23"), "jon-laptop");
        assert_eq!(n.get("192.168.1.30"), "printer");
        assert_eq!(n.get("00:11:22:33:44:66"), "printer");
        let missing = path("missing.leases");
        assert_eq!(
            Names::read(None, &[path("dnsmasq.leases"), missing.clone()]).err(),
            Some(format!(
                "cannot read leases file '{missing}': No such file or directory (os error 2)"
            ))
        );
        let e = Names::read(Some(&path("nope.txt")), &[]).err();
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("cannot read names file '")),
            "{e:?}"
        );
    }

    #[test]
    fn vendors_are_read_from_the_files_that_exist() {
        let dir = tempfile::tempdir().expect("dir");
        let oui = dir.path().join("oui.csv").display().to_string();
        std::fs::write(&oui, OUI).expect("write");
        let missing = dir.path().join("mam.csv").display().to_string();
        let v = read_vendors(&[&oui, &missing]);
        assert_eq!(v.len(), 2);
        assert_eq!(v.vendor([0x00, 0x11, 0x22, 1, 2, 3]), Some("Cimsys, Inc"));
        assert!(read_vendors(&[&missing]).is_empty());
        // Locally administered and multicast addresses have no vendor (and read no file).
        assert_eq!(mac_vendor([0x02, 0, 0, 0, 0, 1]), "");
        assert_eq!(mac_vendor([0x01, 0, 0x5e, 0, 0, 1]), "");
    }
}
