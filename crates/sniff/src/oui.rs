//! MAC address vendors from the IEEE registry (the CSV files of Debian's `ieee-data` package:
//! `/usr/share/ieee-data/oui.csv`, `mam.csv`, `oui36.csv`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Vendors by MAC address prefix: MA-L (24 bits), MA-M (28 bits) and MA-S / IAB (36 bits).
///
/// Each prefix table is a sorted `Vec` of (prefix, index into a table of distinct names); each
/// distinct name is stored once.
#[derive(Debug, Clone, Default)]
pub struct Vendors {
    /// Indexed by `bits / 4 - 6`: 24, 28, (32, unused), 36 bits.
    tables: [Vec<(u64, u32)>; 4],
    names: Vec<Arc<str>>,
    name_index: HashMap<Arc<str>, u32>,
}

/// Builds [`Vendors`] from the text of one IEEE registry CSV file; see [`Vendors::add_ieee_csv`].
pub fn parse_ieee_csv(text: &str) -> Vendors {
    let mut v = Vendors::new();
    v.add_ieee_csv(text);
    v
}

impl Vendors {
    /// An empty registry.
    pub fn new() -> Vendors {
        Vendors::default()
    }

    /// Adds the assignments of one IEEE registry CSV file (`Registry,Assignment,Organization
    /// Name,Organization Address`, RFC 4180 quoting: quoted fields may hold commas, doubled
    /// quotes and line breaks). The prefix length is taken from the Assignment: 6 hex digits
    /// for 24 bits (oui.csv), 7 for 28 bits (mam.csv), 9 for 36 bits (oui36.csv, iab.csv).
    /// Rows without such an Assignment or with an empty name (like the header) are skipped.
    /// When a prefix is assigned more than once, the first name read is kept.
    /// Returns the number of rows added.
    pub fn add_ieee_csv(&mut self, text: &str) -> usize {
        let mut added = 0;
        for record in CsvRecords::new(text) {
            let (Some(assignment), Some(name)) = (record.get(1), record.get(2)) else {
                continue;
            };
            let name = name.trim();
            let digits = assignment.trim();
            let Ok(prefix) = u64::from_str_radix(digits, 16) else {
                continue;
            };
            let slot = match digits.len() {
                6 => 0,
                7 => 1,
                9 => 3,
                _ => continue,
            };
            if name.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let idx = self.intern(name);
            if let Some(table) = self.tables.get_mut(slot) {
                table.push((prefix, idx));
                added += 1;
            }
        }
        for table in &mut self.tables {
            // Stable sort, then dedup keeps the first entry read for each prefix.
            table.sort_by_key(|&(prefix, _)| prefix);
            table.dedup_by_key(|&mut (prefix, _)| prefix);
        }
        added
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.name_index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = name.into();
        self.names.push(Arc::clone(&name));
        self.name_index.insert(name, i);
        i
    }

    /// The number of prefixes known.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    /// Whether no prefix is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The organization the IEEE assigned `mac`'s prefix to, trying the 36-bit, then the 28-bit,
    /// then the 24-bit assignments. `None` when no prefix matches, and for locally administered
    /// (bit 0x02 of the first byte: randomized MACs of phones, virtual interfaces) and multicast
    /// (bit 0x01) addresses.
    pub fn vendor(&self, mac: [u8; 6]) -> Option<&str> {
        if mac[0] & 0x03 != 0 {
            return None;
        }
        let bits48 = mac.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        for (slot, bits) in [(3usize, 36u32), (1, 28), (0, 24)] {
            let table = self.tables.get(slot)?;
            let key = bits48 >> (48 - bits);
            if let Ok(i) = table.binary_search_by_key(&key, |&(p, _)| p) {
                let (_, idx) = table.get(i)?;
                return self.names.get(usize::try_from(*idx).ok()?).map(|s| &**s);
            }
        }
        None
    }
}

/// The records of RFC 4180 CSV text (LF or CRLF line ends).
struct CsvRecords<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        CsvRecords { text, pos: 0 }
    }

    /// One field starting at `self.pos`; returns it and whether it ended its record.
    fn field(&mut self) -> (Cow<'a, str>, bool) {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) == Some(&b'"') {
            return self.quoted_field();
        }
        let start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            if b == b',' || b == b'\n' {
                break;
            }
            self.pos += 1;
        }
        let raw = self.text.get(start..self.pos).unwrap_or("");
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let end_of_record = bytes.get(self.pos) != Some(&b',');
        self.pos += 1;
        (Cow::Borrowed(raw), end_of_record)
    }

    /// A quoted field: `""` stands for one quote; what follows the closing quote up to the
    /// next comma or line end is dropped.
    fn quoted_field(&mut self) -> (Cow<'a, str>, bool) {
        let bytes = self.text.as_bytes();
        self.pos += 1;
        let mut out = String::new();
        let mut start = self.pos;
        loop {
            match bytes.get(self.pos) {
                None => {
                    out.push_str(self.text.get(start..).unwrap_or(""));
                    break;
                }
                Some(b'"') => {
                    out.push_str(self.text.get(start..self.pos).unwrap_or(""));
                    self.pos += 1;
                    if bytes.get(self.pos) != Some(&b'"') {
                        break;
                    }
                    // A doubled quote: the second one starts the next run of text.
                    start = self.pos;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
        while let Some(&b) = bytes.get(self.pos) {
            if b == b',' || b == b'\n' {
                break;
            }
            self.pos += 1;
        }
        let end_of_record = bytes.get(self.pos) != Some(&b',');
        self.pos += 1;
        (Cow::Owned(out), end_of_record)
    }
}

impl<'a> Iterator for CsvRecords<'a> {
    type Item = Vec<Cow<'a, str>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let mut record = Vec::new();
        loop {
            let (field, end) = self.field();
            record.push(field);
            if end {
                return Some(record);
            }
        }
    }
}

#[cfg(test)]
mod tests;
