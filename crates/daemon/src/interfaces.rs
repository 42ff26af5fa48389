//! Interface ids for in_iface/out_iface and the `pcap_interfaces_map` file.

/// One `pcap_interfaces_map` line: `ifindex=N ifname=IF [direction=in|out]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub ifindex: u32,
    pub ifname: String,
    pub direction: Option<String>,
    /// Line number in the map file.
    pub line: usize,
}

/// Parses the map; errors name the file and line.
pub fn parse_map(file: &str, text: &str) -> Result<Vec<MapEntry>, String> {
    let mut out: Vec<MapEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
            continue;
        }
        let err = |m: String| format!("{file}:{}: {m}", i + 1);
        let (mut ifindex, mut ifname, mut direction) = (None, None, None);
        for token in line.split_whitespace() {
            let (k, v) = token
                .split_once('=')
                .ok_or_else(|| err(format!("expected key=value, got '{token}'")))?;
            match k.to_ascii_lowercase().as_str() {
                "ifindex" => {
                    ifindex = Some(
                        v.parse::<u32>()
                            .map_err(|_| err(format!("invalid ifindex '{v}'")))?,
                    )
                }
                "ifname" => ifname = Some(v.to_string()),
                "direction" => match v.to_ascii_lowercase().as_str() {
                    "in" | "out" => direction = Some(v.to_ascii_lowercase()),
                    _ => return Err(err(format!("invalid direction '{v}' (in or out)"))),
                },
                _ => {
                    return Err(err(format!(
                        "unknown key '{k}' (ifindex, ifname, direction)"
                    )))
                }
            }
        }
        let ifname = ifname.ok_or_else(|| err("missing ifname".into()))?;
        let entry = MapEntry {
            ifindex: ifindex.unwrap_or(0),
            ifname,
            direction,
            line: i + 1,
        };
        if let Some(other) = out
            .iter()
            .find(|e| e.ifindex != 0 && e.ifindex == entry.ifindex && e.ifname != entry.ifname)
        {
            return Err(err(format!(
                "ifindex {} is already given to '{}' (line {}); an id names one interface",
                entry.ifindex, other.ifname, other.line
            )));
        }
        if out
            .iter()
            .any(|e| e.ifname == entry.ifname && e.direction == entry.direction)
        {
            return Err(err(format!(
                "interface '{}' listed twice with the same direction",
                entry.ifname
            )));
        }
        out.push(entry);
    }
    if out.is_empty() {
        return Err(format!("{file}: no interface listed"));
    }
    Ok(out)
}

/// The system's ifindex of an interface (0 if unknown).
pub fn system_ifindex(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else {
        return 0;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; if_nametoindex only
    // reads it.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// A stable 32-bit id from the interface name (FNV-1a), for `pcap_ifindex: hash`.
pub fn hash_ifindex(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_map_parses() {
        let m = parse_map(
            "pcap_interfaces.map",
            "ifindex=100 ifname=green0 direction=out\nifindex=200 ifname=red0 direction=in\nifindex=300 ifname=blue0 direction=out\n",
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1],
            MapEntry {
                ifindex: 200,
                ifname: "red0".into(),
                direction: Some("in".into()),
                line: 2,
            }
        );
        assert_eq!(
            parse_map(
                "m",
                "ifindex=1 ifname=a direction=in\nifindex=1 ifname=a direction=out\n"
            )
            .map(|m| m.len()),
            Ok(2)
        );
        assert_eq!(
            parse_map("m", "ifindex=1 ifname=a\n\nifindex=1 ifname=b\n"),
            Err(
                "m:3: ifindex 1 is already given to 'a' (line 1); an id names one interface".into()
            )
        );
        assert_eq!(
            parse_map("m", "ifindex=1\n"),
            Err("m:1: missing ifname".into())
        );
    }

    #[test]
    fn ids() {
        assert_eq!(system_ifindex("lo"), 1);
        assert_eq!(system_ifindex("no-such-if0"), 0);
        assert_eq!(hash_ifindex("green0"), hash_ifindex("green0"));
        assert_ne!(hash_ifindex("green0"), hash_ifindex("red0"));
    }
}
