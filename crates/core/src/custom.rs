//! Custom primitives (`aggregate_primitives`): primitives the user defines by a NetFlow v9 /
//! IPFIX field type (with an optional PEN), a length and a semantics, then names in
//! `aggregate` like any other.
//!
//! Promises:
//! - The file is read once at startup (pmacct does not reload it either); each problem names
//!   the file, the line and the key.
//! - Keys stay fixed-width: a key holds a 32-bit id per custom primitive and a process-wide
//!   table holds the values' bytes, as [`crate::labels`] does for labels. The table is bounded
//!   ([`MAX_VALUES`] distinct values); a value past the bound is counted
//!   ([`refused_values`]) and aggregated as the empty value, never grows memory.
//! - Values print as pmacct 1.7.7 prints them: `u_int` in decimal, `hex` in lower-case hex,
//!   `ip` as an address, `mac` as six colon-separated bytes, `str` up to its first NUL, `raw`
//!   as upper-case bytes joined by `-`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Custom primitives a configuration may define (each has a slot in every key).
pub const MAX_CUSTOM: usize = 16;

/// Distinct custom values kept in one process.
pub const MAX_VALUES: usize = 1 << 20;

/// How a value is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    #[serde(rename = "u_int")]
    UInt,
    Hex,
    Ip,
    Mac,
    Str,
    Raw,
}

impl Semantics {
    fn parse(s: &str) -> Result<Semantics, String> {
        Ok(match s {
            "u_int" => Semantics::UInt,
            "hex" => Semantics::Hex,
            "ip" => Semantics::Ip,
            "mac" => Semantics::Mac,
            "str" => Semantics::Str,
            "raw" => Semantics::Raw,
            other => {
                return Err(format!(
                    "unknown semantics '{other}' (u_int, hex, ip, mac, str or raw)"
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Semantics::UInt => "u_int",
            Semantics::Hex => "hex",
            Semantics::Ip => "ip",
            Semantics::Mac => "mac",
            Semantics::Str => "str",
            Semantics::Raw => "raw",
        }
    }
}

/// One custom primitive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomDef {
    pub name: String,
    /// Private enterprise number (0: an IANA element).
    pub pen: u32,
    /// The information element id.
    pub field_type: u16,
    /// Bytes (`None`: `vlen`, variable length).
    pub len: Option<u16>,
    pub semantics: Semantics,
}

impl CustomDef {
    /// The value of this primitive in a field of the record: the field's bytes when their
    /// length is the defined one (pmacct 1.7.7 leaves the value empty otherwise); `raw` takes
    /// the field's first `len` bytes; `vlen` takes the field whatever its length.
    /// Values that print the same are the same bytes: a string ends at its first NUL, and an
    /// all-zero number, address or MAC is the empty value.
    pub fn value_of<'a>(&self, field: &'a [u8]) -> &'a [u8] {
        let v = match (self.len, self.semantics) {
            (None, _) => field,
            (Some(len), Semantics::Raw) => return &field[..field.len().min(usize::from(len))],
            (Some(len), _) if field.len() == usize::from(len) => field,
            _ => return &[],
        };
        match self.semantics {
            Semantics::Raw => v,
            Semantics::Str => &v[..v.iter().position(|b| *b == 0).unwrap_or(v.len())],
            _ if v.iter().all(|b| *b == 0) => &[],
            _ => v,
        }
    }

    /// The width of its formatted column (separator spaces included), as pmacct 1.7.7 pads it.
    pub fn width(&self) -> usize {
        let len = usize::from(self.len.unwrap_or(0));
        let value = match self.semantics {
            // The decimal digits of the largest number (hex too, as 1.7.7 pads it).
            Semantics::UInt | Semantics::Hex => match len {
                1 => 3,
                2 => 5,
                4 => 10,
                _ => 20,
            },
            Semantics::Ip => 46,
            Semantics::Mac => 18,
            // `len` (a value longer than its column pushes the next one, as in 1.7.7).
            Semantics::Raw | Semantics::Str => len,
        };
        self.name.len().max(value) + 2
    }

    /// Appends the text of `value` (empty bytes: the primitive's empty value).
    pub fn push_text(&self, out: &mut String, value: &[u8]) {
        match self.semantics {
            Semantics::UInt => {
                let _ = write!(out, "{}", be_number(value));
            }
            Semantics::Hex => {
                let _ = write!(out, "{:x}", be_number(value));
            }
            Semantics::Ip => match (self.len, value.len()) {
                (_, 16) => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(value);
                    let _ = write!(out, "{}", Ipv6Addr::from(a));
                }
                (_, 4) => {
                    let _ = write!(
                        out,
                        "{}",
                        Ipv4Addr::new(value[0], value[1], value[2], value[3])
                    );
                }
                (Some(16), _) => out.push_str("::"),
                _ => out.push_str("0.0.0.0"),
            },
            Semantics::Mac => {
                let mut m = [0u8; 6];
                for (d, s) in m.iter_mut().zip(value) {
                    *d = *s;
                }
                let _ = write!(
                    out,
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                );
            }
            Semantics::Str => {
                let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
                out.push_str(&String::from_utf8_lossy(&value[..end]));
            }
            Semantics::Raw => {
                for (i, b) in value.iter().enumerate() {
                    if i > 0 {
                        out.push('-');
                    }
                    let _ = write!(out, "{b:02X}");
                }
            }
        }
    }

    /// The bytes a text stands for (the client's `-M` / `-N` values); `None` if it cannot be
    /// this primitive's text.
    pub fn parse_text(&self, text: &str) -> Option<Vec<u8>> {
        let len = usize::from(self.len.unwrap_or(0));
        let number = |n: u64| (n.to_be_bytes()[8 - len.min(8)..]).to_vec();
        let value = match self.semantics {
            Semantics::UInt => number(text.parse().ok()?),
            Semantics::Hex => number(u64::from_str_radix(text, 16).ok()?),
            Semantics::Ip => match text.parse::<std::net::IpAddr>().ok()? {
                std::net::IpAddr::V4(a) => a.octets().to_vec(),
                std::net::IpAddr::V6(a) => a.octets().to_vec(),
            },
            Semantics::Mac => {
                let bytes: Option<Vec<u8>> = text
                    .split(':')
                    .map(|p| u8::from_str_radix(p, 16).ok())
                    .collect();
                let mut bytes = bytes?;
                bytes.truncate(len);
                bytes
            }
            Semantics::Str => text.as_bytes().to_vec(),
            Semantics::Raw if text.is_empty() => Vec::new(),
            Semantics::Raw => text
                .split('-')
                .map(|p| u8::from_str_radix(p, 16).ok())
                .collect::<Option<Vec<u8>>>()?,
        };
        // An all-zero number is the empty value (a field the record did not carry).
        match value.iter().all(|b| *b == 0) && self.semantics != Semantics::Raw {
            true => Some(Vec::new()),
            false => Some(value),
        }
    }

    /// Whether values print as numbers in SQL (else text).
    pub fn is_number(&self) -> bool {
        self.semantics == Semantics::UInt
    }
}

fn be_number(value: &[u8]) -> u64 {
    value
        .iter()
        .take(8)
        .fold(0u64, |n, b| (n << 8) | u64::from(*b))
}

/// A problem in the file: its line (1-based), the key, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefError {
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

/// Parses an `aggregate_primitives` file; `taken` says whether a name is already a primitive.
pub fn parse_file(
    text: &str,
    taken: impl Fn(&str) -> bool,
) -> Result<Vec<CustomDef>, Vec<DefError>> {
    let mut defs: Vec<CustomDef> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(def) if taken(&def.name) => errors.push(DefError {
                line: i + 1,
                key: Some("name".into()),
                message: format!("'{}' is already a primitive", def.name),
            }),
            Ok(def) if defs.iter().any(|d| d.name == def.name) => errors.push(DefError {
                line: i + 1,
                key: Some("name".into()),
                message: format!("'{}' is defined twice", def.name),
            }),
            Ok(def) => defs.push(def),
            Err((key, message)) => errors.push(DefError {
                line: i + 1,
                key,
                message,
            }),
        }
    }
    if defs.len() > MAX_CUSTOM {
        errors.push(DefError {
            line: 0,
            key: None,
            message: format!(
                "{} custom primitives defined; at most {MAX_CUSTOM}",
                defs.len()
            ),
        });
    }
    match errors.is_empty() {
        true => Ok(defs),
        false => Err(errors),
    }
}

type LineError = (Option<String>, String);

fn parse_line(line: &str) -> Result<CustomDef, LineError> {
    let (mut name, mut field, mut len, mut semantics) = (None, None, None, None);
    for word in line.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            return Err((None, format!("'{word}' is not key=value")));
        };
        let bad = |m: String| (Some(key.to_string()), m);
        match key {
            "name" => {
                let ok = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(bad(format!(
                        "'{value}' is not a primitive name (letters, digits, '_', '-')"
                    )));
                }
                name = Some(value.to_ascii_lowercase());
            }
            "field_type" => field = Some(parse_field(value).map_err(bad)?),
            "len" => {
                len = Some(match value {
                    "vlen" => None,
                    n => Some(
                        n.parse::<u16>()
                            .ok()
                            .filter(|n| (1..=1024).contains(n))
                            .ok_or_else(|| bad(format!("'{n}' is not 1 to 1024 or vlen")))?,
                    ),
                })
            }
            "semantics" => semantics = Some(Semantics::parse(value).map_err(bad)?),
            "packet_ptr" => {
                return Err(bad(
                    "packet_ptr (reading a captured packet) is not supported by pmacct-rs yet; \
                     field_type (NetFlow v9/IPFIX) is"
                        .into(),
                ))
            }
            other => {
                return Err((
                    Some(other.to_string()),
                    "unknown key (name, field_type, len, semantics)".into(),
                ))
            }
        }
    }
    let missing = |k: &str| (Some(k.to_string()), "missing".to_string());
    let name = name.ok_or_else(|| missing("name"))?;
    let (pen, field_type) = field.ok_or_else(|| missing("field_type"))?;
    let len = len.ok_or_else(|| missing("len"))?;
    let semantics = semantics.ok_or_else(|| missing("semantics"))?;
    check_len(semantics, len).map_err(|m| (Some("len".to_string()), m))?;
    Ok(CustomDef {
        name,
        pen,
        field_type,
        len,
        semantics,
    })
}

/// `N` or `PEN:N`.
fn parse_field(value: &str) -> Result<(u32, u16), String> {
    let (pen, id) = match value.split_once(':') {
        Some((pen, id)) => (pen.parse::<u32>().ok(), id),
        None => (Some(0), value),
    };
    match (pen, id.parse::<u16>()) {
        (Some(pen), Ok(id)) if id < 0x8000 => Ok((pen, id)),
        _ => Err(format!(
            "'{value}' is not a field type (an element id below 32768, or PEN:id)"
        )),
    }
}

fn check_len(semantics: Semantics, len: Option<u16>) -> Result<(), String> {
    let ok = match (semantics, len) {
        (Semantics::Str | Semantics::Raw, _) => true,
        (_, None) => return Err(format!("vlen is for str and raw, not {}", semantics.name())),
        (Semantics::UInt | Semantics::Hex, Some(n)) => [1, 2, 4, 8].contains(&n),
        (Semantics::Ip, Some(n)) => n == 4 || n == 16,
        (Semantics::Mac, Some(n)) => n <= 6,
    };
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{} takes len {}",
            semantics.name(),
            match semantics {
                Semantics::Ip => "4 or 16",
                Semantics::Mac => "1 to 6",
                _ => "1, 2, 4 or 8",
            }
        )),
    }
}

/// The defined primitives (slot = index) and their names as `&'static str`.
#[derive(Default)]
struct Registry {
    defs: Arc<Vec<CustomDef>>,
    names: Vec<&'static str>,
}

fn registry() -> &'static RwLock<Registry> {
    static R: OnceLock<RwLock<Registry>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(Registry::default()))
}

/// Makes `defs` the process's custom primitives (slot = position). Called once, when the
/// configuration (or the client, from a daemon's answer) is read; the names live as long as
/// the process (primitive names are `&'static str` everywhere).
pub fn install(defs: Vec<CustomDef>) {
    let mut defs = defs;
    defs.truncate(MAX_CUSTOM);
    let mut r = registry().write().unwrap_or_else(|e| e.into_inner());
    if *r.defs == defs {
        return;
    }
    r.names = defs
        .iter()
        .map(|d| &*Box::leak(d.name.clone().into_boxed_str()))
        .collect();
    r.defs = Arc::new(defs);
}

/// Every defined primitive, by slot.
pub fn defs() -> Arc<Vec<CustomDef>> {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .defs
        .clone()
}

/// The name in `slot` ("" when the slot is free).
pub fn name(slot: usize) -> &'static str {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    r.names.get(slot).copied().unwrap_or("")
}

/// The definition in `slot`.
pub fn def(slot: usize) -> Option<CustomDef> {
    defs().get(slot).cloned()
}

/// The slot of a defined name.
pub fn slot_of(name: &str) -> Option<usize> {
    defs().iter().position(|d| d.name == name)
}

/// `defs` reordered as the `aggregate` lists first name them (pmacct prints custom columns
/// in the aggregate's order, after the standard ones; our columns print in slot order).
pub fn ordered_by_use<'a>(
    mut defs: Vec<CustomDef>,
    aggregates: impl IntoIterator<Item = &'a str>,
) -> Vec<CustomDef> {
    let mut order: Vec<String> = Vec::new();
    for list in aggregates {
        for item in crate::primitive::list_items(list) {
            if defs.iter().any(|d| d.name == item) && !order.contains(&item) {
                order.push(item);
            }
        }
    }
    defs.sort_by_key(|d| {
        order
            .iter()
            .position(|n| *n == d.name)
            .unwrap_or(usize::MAX)
    });
    defs
}

/// A custom value's id in this process (0: the empty value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

#[derive(Default)]
struct Values {
    bytes: Vec<Arc<[u8]>>,
    ids: HashMap<Arc<[u8]>, u32>,
}

fn values() -> &'static RwLock<Values> {
    static V: OnceLock<RwLock<Values>> = OnceLock::new();
    V.get_or_init(|| {
        let empty: Arc<[u8]> = Arc::from(&[][..]);
        RwLock::new(Values {
            bytes: vec![empty.clone()],
            ids: HashMap::from([(empty, 0)]),
        })
    })
}

static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Values refused because the table was full (aggregated as the empty value).
pub fn refused_values() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// The id of `bytes`, adding them if new (the empty id when the table is full).
pub fn intern(bytes: &[u8]) -> ValueId {
    if bytes.is_empty() {
        return ValueId(0);
    }
    if let Some(&id) = values()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .ids
        .get(bytes)
    {
        return ValueId(id);
    }
    let mut t = values().write().unwrap_or_else(|e| e.into_inner());
    match t.add(bytes, MAX_VALUES) {
        Some(id) => ValueId(id),
        None => {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            ValueId(0)
        }
    }
}

impl Values {
    /// The id of `bytes`, added if new and the table holds fewer than `max`.
    fn add(&mut self, bytes: &[u8], max: usize) -> Option<u32> {
        if let Some(&id) = self.ids.get(bytes) {
            return Some(id);
        }
        if self.bytes.len() >= max {
            return None;
        }
        let id = u32::try_from(self.bytes.len()).ok()?;
        let b: Arc<[u8]> = Arc::from(bytes);
        self.bytes.push(b.clone());
        self.ids.insert(b, id);
        Some(id)
    }
}

/// The id of `bytes` if some record carried them.
pub fn lookup(bytes: &[u8]) -> Option<ValueId> {
    if bytes.is_empty() {
        return Some(ValueId(0));
    }
    let t = values().read().unwrap_or_else(|e| e.into_inner());
    t.ids.get(bytes).map(|&id| ValueId(id))
}

/// The bytes of an id (empty for an id this process never gave out).
pub fn bytes(id: ValueId) -> Arc<[u8]> {
    let t = values().read().unwrap_or_else(|e| e.into_inner());
    t.bytes
        .get(id.0 as usize)
        .cloned()
        .unwrap_or_else(|| t.bytes[0].clone())
}

/// Every value in id order (index = id), for a peer that decodes our keys.
pub fn all_values() -> Vec<Vec<u8>> {
    let t = values().read().unwrap_or_else(|e| e.into_inner());
    t.bytes.iter().map(|b| b.to_vec()).collect()
}

/// Our ids of the values a peer's [`all_values`] listed (index = the peer's id).
pub fn adopt(values: &[Vec<u8>]) -> Vec<ValueId> {
    values.iter().map(|v| intern(v)).collect()
}

/// Bytes as hex text (how values travel in the query protocol's JSON).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of [`to_hex`]'s text (`None` if it is not).
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(line: &str) -> CustomDef {
        parse_line(line).unwrap()
    }

    fn text(line: &str, value: &[u8]) -> String {
        let d = def(line);
        let mut s = String::new();
        d.push_text(&mut s, d.value_of(value));
        s
    }

    #[test]
    fn values_print_as_pmacct_1_7_7() {
        // Observed with Debian's nfacctd 1.7.7 on pmacct's case 101 (field 47 = 138.187.57.65).
        let mtla = [0x8a, 0xbb, 0x39, 0x41];
        assert_eq!(
            text("name=a field_type=47 len=4 semantics=ip", &mtla),
            "138.187.57.65"
        );
        assert_eq!(
            text("name=a field_type=47 len=4 semantics=u_int", &mtla),
            "2327525697"
        );
        assert_eq!(
            text("name=a field_type=47 len=4 semantics=hex", &mtla),
            "8abb3941"
        );
        assert_eq!(
            text("name=a field_type=47 len=4 semantics=raw", &mtla),
            "8A-BB-39-41"
        );
        assert_eq!(
            text("name=a field_type=47 len=8 semantics=raw", &mtla),
            "8A-BB-39-41"
        );
        assert_eq!(
            text("name=a field_type=47 len=4 semantics=mac", &mtla),
            "8a:bb:39:41:00:00"
        );
        assert_eq!(
            text("name=a field_type=47 len=6 semantics=mac", &mtla),
            "00:00:00:00:00:00"
        );
        assert_eq!(
            text("name=a field_type=47 len=16 semantics=ip", &mtla),
            "::"
        );
        assert_eq!(
            text("name=a field_type=47 len=2 semantics=u_int", &mtla),
            "0"
        );
        assert_eq!(text("name=a field_type=47 len=8 semantics=str", &mtla), "");
        assert_eq!(
            text(
                "name=a field_type=234 len=4 semantics=str",
                &[0x60, 0, 0, 0]
            ),
            "`"
        );
        assert_eq!(
            text("name=a field_type=91 len=1 semantics=u_int", &[32]),
            "32"
        );
        assert_eq!(
            text("name=a field_type=91 len=1 semantics=hex", &[32]),
            "20"
        );
        assert_eq!(
            text("name=a field_type=91 len=1 semantics=raw", &[32]),
            "20"
        );
        assert_eq!(
            text("name=a field_type=9 len=4 semantics=ip", &[]),
            "0.0.0.0"
        );
        assert_eq!(text("name=a field_type=9 len=4 semantics=raw", &[]), "");
    }

    #[test]
    fn raw_shorter_than_the_field_has_no_trailing_dash() {
        // pmacct 1.7.7 prints "8A-BB-" here (docs/differences.md).
        assert_eq!(
            text(
                "name=a field_type=47 len=2 semantics=raw",
                &[0x8a, 0xbb, 0x39, 0x41]
            ),
            "8A-BB"
        );
    }

    #[test]
    fn vlen_takes_a_fixed_length_field_too() {
        // pmacct 1.7.7 leaves a vlen primitive empty when the template's field is fixed-length
        // (docs/differences.md).
        assert_eq!(
            text(
                "name=a field_type=82 len=vlen semantics=str",
                b"eth0\0\0\0\0"
            ),
            "eth0"
        );
        assert_eq!(
            text("name=a field_type=82 len=vlen semantics=raw", &[1, 2]),
            "01-02"
        );
    }

    #[test]
    fn widths_as_pmacct_pads_them() {
        let w = |l: &str| def(l).width();
        assert_eq!(
            w("name=vrf_id_ingress field_type=234 len=4 semantics=u_int"),
            16
        );
        assert_eq!(
            w("name=mpls_tl_ipv4_address field_type=47 len=4 semantics=ip"),
            48
        );
        assert_eq!(
            w("name=mpls_tl_prefix_length field_type=91 len=1 semantics=u_int"),
            23
        );
        assert_eq!(w("name=mtla_hex field_type=47 len=4 semantics=hex"), 12);
        assert_eq!(w("name=mtla_raw field_type=47 len=4 semantics=raw"), 10);
        assert_eq!(w("name=vrf_str field_type=234 len=4 semantics=str"), 9);
        // Observed with 1.7.7 on one-letter names.
        assert_eq!(w("name=s field_type=82 len=16 semantics=str"), 18);
        assert_eq!(w("name=r field_type=47 len=8 semantics=raw"), 10);
        assert_eq!(w("name=m field_type=56 len=6 semantics=mac"), 20);
        assert_eq!(w("name=x field_type=234 len=8 semantics=hex"), 22);
        assert_eq!(w("name=u field_type=234 len=8 semantics=u_int"), 22);
        assert_eq!(w("name=i field_type=27 len=16 semantics=ip"), 48);
        assert_eq!(w("name=y field_type=91 len=1 semantics=hex"), 5);
        assert_eq!(w("name=v field_type=91 len=2 semantics=u_int"), 7);
    }

    #[test]
    fn texts_parse_back_to_their_bytes() {
        let cases = [
            ("name=a field_type=47 len=4 semantics=ip", vec![10, 0, 0, 1]),
            (
                "name=a field_type=47 len=4 semantics=u_int",
                vec![0, 0, 1, 2],
            ),
            ("name=a field_type=47 len=2 semantics=hex", vec![0xab, 0xcd]),
            (
                "name=a field_type=47 len=6 semantics=mac",
                vec![1, 2, 3, 4, 5, 6],
            ),
            (
                "name=a field_type=47 len=vlen semantics=str",
                b"ge-0/0/1".to_vec(),
            ),
            ("name=a field_type=47 len=3 semantics=raw", vec![0, 0xff, 1]),
        ];
        for (line, bytes) in cases {
            let d = def(line);
            let mut s = String::new();
            d.push_text(&mut s, &bytes);
            assert_eq!(d.parse_text(&s), Some(bytes), "{line}: {s}");
        }
        let d = def("name=a field_type=47 len=4 semantics=u_int");
        assert_eq!(d.parse_text("0"), Some(Vec::new()));
        assert_eq!(d.parse_text("x"), None);
    }

    #[test]
    fn file_errors_name_the_line_and_key() {
        let text = "! comment\n\
                    name=ok field_type=637:91 len=2 semantics=hex\n\
                    name=a field_type=47 len=3 semantics=u_int\n\
                    name=b field_type=x len=4 semantics=ip\n\
                    name=src_host field_type=8 len=4 semantics=ip\n\
                    name=ok field_type=8 len=4 semantics=ip\n\
                    name=c field_type=8 len=4\n\
                    name=d packet_ptr=l3:0x800+8 len=1 semantics=u_int\n\
                    name=e field_type=8 len=vlen semantics=ip\n";
        let errors = parse_file(text, |n| n == "src_host").unwrap_err();
        let got: Vec<(usize, Option<&str>)> =
            errors.iter().map(|e| (e.line, e.key.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (3, Some("len")),
                (4, Some("field_type")),
                (5, Some("name")),
                (6, Some("name")),
                (7, Some("semantics")),
                (8, Some("packet_ptr")),
                (9, Some("len")),
            ]
        );
        assert_eq!(errors[0].message, "u_int takes len 1, 2, 4 or 8");
        let ok = parse_file(
            "name=Alu_91\tfield_type=637:91\tlen=2\tsemantics=hex\n",
            |_| false,
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![CustomDef {
                name: "alu_91".into(),
                pen: 637,
                field_type: 91,
                len: Some(2),
                semantics: Semantics::Hex
            }]
        );
    }

    #[test]
    fn columns_follow_the_aggregate_order() {
        let defs = parse_file(
            "name=a field_type=1 len=4 semantics=u_int\n\
             name=b field_type=2 len=4 semantics=u_int\n\
             name=c field_type=3 len=4 semantics=u_int\n",
            |_| false,
        )
        .unwrap();
        let names: Vec<String> = ordered_by_use(defs, ["src_host, c, A", "b, c"])
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["c", "a", "b"]);
    }

    #[test]
    fn the_value_table_is_bounded() {
        let mut t = Values::default();
        assert_eq!(t.add(b"a", 2), Some(0));
        assert_eq!(t.add(b"b", 2), Some(1));
        assert_eq!(t.add(b"c", 2), None);
        assert_eq!(t.add(b"a", 2), Some(0));
        assert_eq!(t.bytes.len(), 2);
    }

    #[test]
    fn values_intern_and_adopt() {
        let a = intern(b"custom-test-a");
        assert_eq!(intern(b"custom-test-a"), a);
        assert_eq!(&*bytes(a), b"custom-test-a");
        assert_eq!(intern(b""), ValueId(0));
        assert_eq!(lookup(b"custom-test-a"), Some(a));
        assert_eq!(lookup(b"custom-test-never"), None);
        assert_eq!(adopt(&[b"custom-test-a".to_vec()]), vec![a]);
        assert!(bytes(ValueId(u32::MAX)).is_empty());
    }
}
