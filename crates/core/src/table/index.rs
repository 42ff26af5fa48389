//! The table's index: open addressing with linear probing over one array of 64-bit slots, each
//! the entry number (plus one; 0 is empty) and the high 32 bits of the key's hash.
//!
//! Why not a general hash map: a slot's address follows from the hash alone, so the table can
//! ask the CPU to load the slots of records it will add a little later ([`Index::prefetch`])
//! and then the entry they point to, and an upsert waits for memory once instead of twice. The
//! stored hash bits give a slot's home position when growing (no key is hashed again) and
//! reject almost every other key without reading its entry.

/// Grow when more than 3/4 of the slots are used.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    slots: Vec<u64>,
    len: usize,
}

/// The part of a hash kept in a slot (and from which its home position is taken).
#[inline]
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[inline]
fn slot(tag: u32, entry: u32) -> u64 {
    u64::from(tag) << 32 | (u64::from(entry) + 1)
}

#[inline]
fn entry_of(slot: u64) -> Option<u32> {
    (slot as u32).checked_sub(1)
}

impl Index {
    /// An index that holds `entries` without growing.
    pub(crate) fn with_capacity(entries: usize) -> Index {
        let mut index = Index::default();
        if entries > 0 {
            index.slots = vec![0; Self::slots_for(entries)];
        }
        index
    }

    fn slots_for(entries: usize) -> usize {
        (entries * LOAD_DEN)
            .div_ceil(LOAD_NUM)
            .next_power_of_two()
            .max(16)
    }

    /// Slots per entry at the lowest load a full index can have (just grown, or sized for a
    /// bound): for the memory estimate of a table.
    pub(crate) const SLOT_BYTES_PER_ENTRY: usize = 8 * 2 * LOAD_DEN / LOAD_NUM + 1;

    pub(crate) fn clear(&mut self) {
        self.slots.fill(0);
        self.len = 0;
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// Starts loading the slot where a key of this hash is looked up.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(self.home(tag(hash))) {
            super::prefetch(s);
        }
    }

    /// The first entry whose slot holds this hash's tag, if its slot is loaded: what to
    /// prefetch next.
    #[inline]
    pub(crate) fn candidate(&self, hash: u64) -> Option<u32> {
        let t = tag(hash);
        let mut at = self.home(t);
        loop {
            let s = *self.slots.get(at)?;
            let e = entry_of(s)?;
            if (s >> 32) as u32 == t {
                return Some(e);
            }
            at = (at + 1) & self.mask();
        }
    }

    /// The entry for which `same` holds among those stored with this hash.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut at = self.home(t);
        loop {
            let s = *self.slots.get(at)?;
            let e = entry_of(s)?;
            if (s >> 32) as u32 == t && same(e) {
                return Some(e);
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Adds an entry known not to be there yet.
    pub(crate) fn insert(&mut self, hash: u64, entry: u32) {
        if (self.len + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            self.grow();
        }
        let t = tag(hash);
        let mut at = self.home(t);
        while self.slots[at] != 0 {
            at = (at + 1) & self.mask();
        }
        self.slots[at] = slot(t, entry);
        self.len += 1;
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![0; Self::slots_for(self.len + 1).max(old.len() * 2)];
        for s in old.into_iter().filter(|&s| s != 0) {
            let mut at = self.home((s >> 32) as u32);
            while self.slots[at] != 0 {
                at = (at + 1) & self.mask();
            }
            self.slots[at] = s;
        }
    }

    /// The position of `entry`'s slot.
    fn position(&self, hash: u64, entry: u32) -> Option<usize> {
        let t = tag(hash);
        let mut at = self.home(t);
        loop {
            let s = *self.slots.get(at)?;
            if entry_of(s)? == entry {
                return Some(at);
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Points the slot of `from` (stored with `hash`) at `to`.
    pub(crate) fn renumber(&mut self, hash: u64, from: u32, to: u32) {
        if let Some(at) = self.position(hash, from) {
            self.slots[at] = slot(tag(hash), to);
        }
    }

    /// Removes `entry`'s slot, moving the slots after it back so no lookup stops early.
    pub(crate) fn remove(&mut self, hash: u64, entry: u32) -> bool {
        let Some(mut hole) = self.position(hash, entry) else {
            return false;
        };
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let s = self.slots[at];
            if s == 0 {
                break;
            }
            // A slot may fill the hole when its home is not between the hole and it.
            let home = self.home((s >> 32) as u32);
            if (at.wrapping_sub(home) & mask) >= (at.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = at;
            }
        }
        self.slots[hole] = 0;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes whose tags collide in the low bits, so runs form and wrap around.
    fn hash(i: u32) -> u64 {
        (u64::from((i % 7) | (i << 20)) << 32) | u64::from(i)
    }

    #[test]
    fn finds_grows_renumbers_and_removes() {
        let mut index = Index::default();
        for i in 0..1000 {
            index.insert(hash(i), i);
        }
        for i in 0..1000 {
            assert_eq!(index.find(hash(i), |e| e == i), Some(i));
        }
        for i in (0..1000).step_by(3) {
            assert!(index.remove(hash(i), i));
            assert!(!index.remove(hash(i), i));
        }
        index.renumber(hash(1), 1, 5000);
        for i in 0..1000 {
            let want = match i {
                1 => Some(5000),
                _ if i % 3 == 0 => None,
                _ => Some(i),
            };
            assert_eq!(
                index.find(hash(i), |e| e == want.unwrap_or(u32::MAX)),
                want,
                "{i}"
            );
        }
        assert_eq!(index.len, 666);
        index.clear();
        assert_eq!(index.find(hash(2), |_| true), None);
    }

    #[test]
    fn a_sized_index_does_not_grow() {
        let mut index = Index::with_capacity(100);
        let slots = index.slots.len();
        for i in 0..100 {
            index.insert(hash(i), i);
        }
        assert_eq!(index.slots.len(), slots);
        assert_eq!(index.candidate(hash(42)), Some(42));
    }
}
