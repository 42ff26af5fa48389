//! ClientHellos that span several client Initial datagrams.
//!
//! A ClientHello with a post-quantum key share (X25519MLKEM768 adds 1,216 bytes) does not fit
//! in one 1200-byte Initial, and clients also split and reorder CRYPTO frames within and across
//! packets ("chaos protection"), so the server_name extension may only be readable once two or
//! more datagrams are combined. [`InitialReassembler`] keeps, for a bounded number of
//! connections, the CRYPTO data of their Initials until the name can be read.

use std::collections::{BTreeMap, HashMap};

use super::{ClientInitial, CryptoStream, Hello, MAX_CID};

/// What an entry is filed under: the caller's key and the Destination Connection ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EntryKey {
    key: u64,
    dcid_len: u8,
    dcid: [u8; MAX_CID],
}

impl EntryKey {
    fn new(key: u64, dcid: &[u8]) -> Option<Self> {
        let mut k = EntryKey {
            key,
            dcid_len: u8::try_from(dcid.len()).ok()?,
            dcid: [0; MAX_CID],
        };
        k.dcid.get_mut(..dcid.len())?.copy_from_slice(dcid);
        Some(k)
    }
}

/// The CRYPTO data of one connection's Initials and when its entry was made.
#[derive(Debug)]
struct Entry {
    seq: u64,
    crypto: CryptoStream,
}

/// Reassembles the ClientHellos of QUIC client Initials (v1 and v2) that span several datagrams,
/// and reads their server name.
///
/// Entries are keyed by a `u64` the caller derives from the connection (a hash of the client and
/// server addresses and ports, say) together with the packets' Destination Connection ID, so that
/// neither different connections nor different attempts of the same one mix.
///
/// State is bounded: at most `max_pending` entries (when full, the oldest one made is forgotten to
/// make room), each holding at most [`MAX_CRYPTO`](super::MAX_CRYPTO) bytes of CRYPTO data and as
/// many flags. CRYPTO data at or past [`MAX_CRYPTO`](super::MAX_CRYPTO) is ignored, as
/// [`super::initial_server_name`] ignores it. An entry is forgotten when it gives the name, and as
/// soon as it is clear that it never will: the data from offset 0 is not a ClientHello, or the
/// whole ClientHello (or all of the first [`MAX_CRYPTO`](super::MAX_CRYPTO) bytes) is there without
/// a readable server name. Where CRYPTO frames overlap, within a datagram or across datagrams, the
/// first copy of each byte is kept and later copies only fill gaps (RFC 9000 §19.6 requires
/// retransmitted data to be identical, so a copy that differs is ignored rather than checked).
#[derive(Debug)]
pub struct InitialReassembler {
    max_pending: usize,
    entries: HashMap<EntryKey, Entry>,
    /// The entries by the order they were made, oldest first (`Entry::seq` → key).
    order: BTreeMap<u64, EntryKey>,
    next_seq: u64,
}

impl InitialReassembler {
    /// An empty reassembler that keeps at most `max_pending` connections' Initials (none with 0:
    /// then only a datagram that names the server alone gives a name).
    pub fn new(max_pending: usize) -> Self {
        InitialReassembler {
            max_pending,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// How many connections' Initials are held, waiting for more CRYPTO data.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Reads a UDP datagram whose first packet may be a QUIC v1 or v2 client Initial of the
    /// connection `key` (the caller's hash of its addresses and ports). Its CRYPTO frames are
    /// merged with those already held for `key` and the packet's Destination Connection ID; when
    /// the bytes contiguous from offset 0 then hold the whole server_name extension of the
    /// ClientHello, replaces the contents of `out` with the name, forgets the entry and returns
    /// true.
    ///
    /// Returns false (leaving `out` unchanged) otherwise. A datagram that is not a client Initial,
    /// fails authentication, or brings no CRYPTO data below [`MAX_CRYPTO`](super::MAX_CRYPTO) makes
    /// no entry; neither does one that gives the name on its own. Frames are read as
    /// [`super::initial_server_name`] reads them. Never panics; the work is bounded by the length
    /// of the datagram and [`MAX_CRYPTO`](super::MAX_CRYPTO).
    pub fn push(&mut self, key: u64, datagram: &[u8], out: &mut String) -> bool {
        let Some(initial) = ClientInitial::open(datagram) else {
            return false;
        };
        let Some(id) = EntryKey::new(key, initial.dcid) else {
            return false;
        };
        let held = self.take(&id);
        let had_entry = held.is_some();
        let (seq, mut crypto) = match held {
            Some(e) => (Some(e.seq), e.crypto),
            None => (None, CryptoStream::default()),
        };
        let added = crypto.add_frames(initial.payload());
        match crypto.hello() {
            Hello::Name(name) => {
                out.clear();
                out.push_str(name);
                true
            }
            Hello::Never => false,
            Hello::Incomplete => {
                if had_entry || added > 0 {
                    self.keep(id, seq, crypto);
                }
                false
            }
        }
    }

    /// Removes and returns the entry of `id`.
    fn take(&mut self, id: &EntryKey) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.order.remove(&e.seq);
        Some(e)
    }

    /// Files `crypto` under `id`: back in its place when `seq` is the entry's (taken out just
    /// before), else as the newest entry, forgetting the oldest ones to make room.
    fn keep(&mut self, id: EntryKey, seq: Option<u64>, crypto: CryptoStream) {
        if self.max_pending == 0 {
            return;
        }
        let seq = match seq {
            Some(seq) => seq,
            None => {
                // At most one turn while `entries` stays within `max_pending`.
                while self.entries.len() >= self.max_pending {
                    let Some((_, oldest)) = self.order.pop_first() else {
                        break;
                    };
                    self.entries.remove(&oldest);
                }
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                seq
            }
        };
        self.order.insert(seq, id);
        self.entries.insert(id, Entry { seq, crypto });
    }
}
