//! What a report tells of a device's remote peers besides their bytes: the name the device
//! used for each, its country and its AS, when the source has the columns (docs/report.md).

use super::source::{About, Text};

/// What the source said of one remote peer over a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Each name used for the peer, with the bytes of the flows that carried it (a peer has
    /// one or a few: a short list).
    names: Vec<(Text, u64)>,
    /// The first country, AS number and AS name seen (an address has one of each).
    country: Option<[u8; 2]>,
    asn: u32,
    as_name: Option<Text>,
}

impl PeerInfo {
    /// Adds what one flow of `bytes` said of the peer.
    pub fn note(&mut self, about: &About, bytes: u64) {
        if let Some(name) = &about.name {
            self.add_name(name, bytes);
        }
        self.country = self.country.or(about.country);
        if self.asn == 0 {
            self.asn = about.asn;
        }
        if self.as_name.is_none() {
            self.as_name.clone_from(&about.as_name);
        }
    }

    fn add_name(&mut self, name: &Text, bytes: u64) {
        match self.names.iter_mut().find(|(n, _)| n == name) {
            Some((_, b)) => *b = b.saturating_add(bytes),
            None => self.names.push((name.clone(), bytes)),
        }
    }

    /// Adds what another part of the same scan (or another period) said of the peer.
    pub fn merge(&mut self, other: &PeerInfo) {
        for (name, bytes) in &other.names {
            self.add_name(name, *bytes);
        }
        self.country = self.country.or(other.country);
        if self.asn == 0 {
            self.asn = other.asn;
        }
        if self.as_name.is_none() {
            self.as_name.clone_from(&other.as_name);
        }
    }

    /// The name used for the peer with the most bytes (of equal ones, the first
    /// alphabetically); empty when none is known.
    pub fn name(&self) -> &str {
        self.names
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or("", |(name, _)| name)
    }

    /// The peer's country code (`US`); empty when unknown.
    pub fn country(&self) -> &str {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
            .unwrap_or("")
    }

    /// The peer's AS: its name, else `AS<number>`; empty when unknown.
    pub fn as_label(&self) -> String {
        match (&self.as_name, self.asn) {
            (Some(name), _) => name.to_string(),
            (None, 0) => String::new(),
            (None, n) => format!("AS{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(name: &str, country: &str, asn: u32, as_name: &str) -> About {
        let text = |t: &str| (!t.is_empty()).then(|| Text::from(t));
        About {
            name: text(name),
            country: <[u8; 2]>::try_from(country.as_bytes()).ok(),
            asn,
            as_name: text(as_name),
        }
    }

    #[test]
    fn the_name_with_most_bytes_wins_ties_alphabetically() {
        let mut p = PeerInfo::default();
        assert_eq!(
            (p.name(), p.country(), p.as_label()),
            ("", "", String::new())
        );
        p.note(&about("b.example", "", 0, ""), 100);
        p.note(&about("a.example", "DE", 64500, ""), 60);
        assert_eq!(p.name(), "b.example");
        p.note(&about("a.example", "FR", 64501, ""), 40);
        assert_eq!(p.name(), "a.example");
        assert_eq!((p.country(), p.as_label()), ("DE", "AS64500".to_string()));
        let mut other = PeerInfo::default();
        other.note(&about("c.example", "", 0, "Example Net"), 300);
        p.merge(&other);
        assert_eq!(
            (p.name(), p.as_label()),
            ("c.example", "Example Net".into())
        );
        // A flow without a name counts for no name.
        p.note(&about("", "", 0, ""), 1000);
        assert_eq!(p.name(), "c.example");
    }
}
