//! "Did you mean" hints: the known name closest to a misspelt one.

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo
/// (at most 2 edits, or a quarter of the candidate's length for long names, and fewer edits than
/// half of `name`, so a short unrelated word suggests nothing).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = |c: &str| 2.max(c.len() / 4);
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip what cannot be close (a
        // long stranger costs nothing then).
        .filter(|c| len.abs_diff(c.chars().count()) <= limit(c))
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(d, c)| *d <= limit(c) && d * 2 < len)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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
