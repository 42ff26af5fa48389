//! Which side of a flow is a local device, what is noise, and device names.

use std::collections::HashMap;
use std::net::IpAddr;

pub use pmacct_core::cidr::{Cidr, LocalNets, Side};

/// The private ranges a home network uses, when no `--local-net` is given.
pub use pmacct_core::cidr::PRIVATE as DEFAULT_LOCAL;

/// Names of devices, by IP or MAC address (`--names FILE`).
#[derive(Default)]
pub struct Names {
    names: HashMap<String, String>,
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
        Ok(Names { names })
    }

    pub fn get(&self, device: &str) -> &str {
        normal(device)
            .and_then(|k| self.names.get(&k))
            .map_or("", String::as_str)
    }
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
    let parts: Vec<&str> = addr.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let bytes: Option<Vec<u8>> = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() <= 2))
        .collect();
    Some(
        bytes?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
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
}
