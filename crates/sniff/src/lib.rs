//! Passive host naming: sans-IO parsers of packet payloads and lease files that tell which name
//! a host goes by.
//!
//! Nothing here looks anything up on the network, opens a socket or reads a file: every function
//! takes bytes or text that the caller already has (a captured payload, the contents of a lease
//! file or of the IEEE registry) and returns what they say.
//!
//! - [`dns`]: the addresses a DNS response gives for the name a client asked (CNAME chains
//!   followed), and the `.local` names that mDNS responders announce.
//! - [`tls`]: the server name (SNI) of a TLS ClientHello.
//! - [`http`]: the `Host` header of an HTTP/1.x request.
//! - [`quic`]: the SNI of a QUIC v1/v2 client Initial, decrypted with the keys derived from its
//!   Destination Connection ID (RFC 9001 §5.2, RFC 9369); [`quic::InitialReassembler`] reads
//!   the ClientHellos that span several Initials (post-quantum key shares) from bounded state.
//! - [`dhcp`]: the host name and MAC address a DHCPv4 client sends.
//! - [`leases`]: dnsmasq and ISC dhcpd lease files.
//! - [`oui`]: the vendor of a MAC address from the IEEE registry CSV files.
//!
//! Promises of the packet parsers (`dns`, `tls`, `http`, `quic`, `dhcp`), which the capture
//! thread calls on every packet:
//! - they never panic, whatever the bytes;
//! - they do not allocate on the path that rejects an uninteresting payload;
//! - their work is bounded by the length of their input (DNS name compression is bounded to
//!   128 labels and pointers per name and 255 bytes of name), and the state that
//!   [`quic::InitialReassembler`] keeps between datagrams by its entry count and
//!   [`quic::MAX_CRYPTO`] bytes per entry.

#![forbid(unsafe_code)]

pub mod dhcp;
pub mod dns;
pub mod http;
pub mod leases;
pub mod oui;
pub mod quic;
mod rd;
pub mod tls;
