//! pmacct-rs core: everything that does no I/O.
//!
//! Owns the configuration language and key table ([`config`]), primitives and the `aggregate`
//! list ([`primitive`]), keys and their per-plugin extraction ([`key`]), networks and ports maps
//! ([`networks`]), fragment tracking ([`fragments`]), the aggregation table ([`table`]), time
//! bins ([`bins`]), output formats ([`format`]) and the client/daemon query protocol
//! ([`query`]). Time is always passed in; nothing here reads the clock, a file or a socket.

pub mod bins;
pub mod caps;
pub mod cidr;
pub mod command;
pub mod config;
pub mod custom;
pub mod flowmaps;
pub mod format;
pub mod fragments;
pub mod key;
pub mod labels;
pub mod layout;
pub mod networks;
pub mod pretag;
pub mod primitive;
pub mod protocols;
pub mod query;
pub mod suggest;
pub mod table;

/// The version printed by `-V` and sent in the query protocol.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
