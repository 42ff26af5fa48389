//! "Did you mean" hints: the known name closest to a misspelt one.

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo
/// (at most 2 edits, or a quarter of the candidate's length for long names, and fewer edits than
/// half of `name`, so a short unrelated word suggests nothing).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Names are compared byte by byte when both are ASCII (every known name is), by
    // characters otherwise.
    let name_chars: Vec<char> = name.chars().collect();
    let len = name_chars.len();
    let mut rows = Rows::default();
    let mut chars = Vec::new();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let clen = if candidate.is_ascii() {
            candidate.len()
        } else {
            candidate.chars().count()
        };
        // At most 2 edits or a quarter of the candidate, and fewer than half of the name.
        // The distance is at least the difference in length: what cannot be close is
        // skipped, and a distance stops once it is past the bound.
        let bound = 2.max(clen / 4).min(len.saturating_sub(1) / 2);
        if len.abs_diff(clen) > bound || best.is_some_and(|(d, _)| d == 0) {
            continue;
        }
        let d = if name.is_ascii() && candidate.is_ascii() {
            rows.distance_within(name.as_bytes(), candidate.as_bytes(), bound)
        } else {
            chars.clear();
            chars.extend(candidate.chars());
            rows.distance_within(&name_chars, &chars, bound)
        };
        if let Some(d) = d {
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, candidate));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// Two rows of the Levenshtein table, reused from one candidate to the next.
#[derive(Default)]
struct Rows {
    prev: Vec<usize>,
    cur: Vec<usize>,
}

impl Rows {
    /// The Levenshtein distance of `a` and `b` if it is at most `bound`: a row whose every
    /// cell is past the bound ends the computation (cells never decrease down the table).
    fn distance_within<T: PartialEq>(&mut self, a: &[T], b: &[T], bound: usize) -> Option<usize> {
        self.prev.clear();
        self.prev.extend(0..=b.len());
        for (i, ca) in a.iter().enumerate() {
            self.cur.clear();
            self.cur.push(i + 1);
            let mut row_min = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != cb);
                let v = (self.prev[j] + cost)
                    .min(self.prev[j + 1] + 1)
                    .min(self.cur[j] + 1);
                row_min = row_min.min(v);
                self.cur.push(v);
            }
            if row_min > bound {
                return None;
            }
            std::mem::swap(&mut self.prev, &mut self.cur);
        }
        self.prev.last().copied().filter(|&d| d <= bound)
    }
}

/// Levenshtein distance over characters.
#[cfg(test)]
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    Rows::default()
        .distance_within(&a, &b, usize::MAX)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        let names = ["src_host", "dst_host", "proto"];
        assert_eq!(closest("src_hots", names), Some("src_host"));
        assert_eq!(closest("prot", names), Some("proto"));
        assert_eq!(closest("bananas", names), None);
        assert_eq!(closest("foo", ["cos"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
