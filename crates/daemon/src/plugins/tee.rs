//! tee: the datagrams a collector receives, replicated byte for byte to pools of receivers
//! (docs/tee.md). It is fed datagrams, not records: the collector hands each one over before
//! decoding it, and does not decode at all when no other plugin needs records.
//!
//! Promises: a datagram goes to every pool, to all of a pool's receivers or (balance-alg) to
//! one; v9/IPFIX datagrams that carry templates go to every receiver of a balanced pool, so
//! every member of a collector farm can read the data it gets; a receiver that does not take
//! a datagram is counted and logged at most once a minute, never holding the others back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pmacct_core::config::{PluginConfig, TeeConfig};
use pmacct_core::flowmaps::{Balance, TeePool, TeeReceivers};
use pmacct_core::key::RecordBatch;

use super::{Now, Plugin, PluginError};
use crate::stats::PluginStats;

const LOG_EVERY: i64 = 60;

/// Whether a NetFlow v9 or IPFIX datagram carries a template or options template set (set ids
/// 0 and 1 in v9, 2 and 3 in IPFIX). Only set headers are read.
pub fn carries_templates(d: &[u8]) -> bool {
    let (header, template_ids): (usize, [u16; 2]) = match d.get(..2) {
        Some([0, 9]) => (20, [0, 1]),
        Some([0, 10]) => (16, [2, 3]),
        _ => return false,
    };
    let mut at = header;
    while let (Some(id), Some(len)) = (be16(d, at), be16(d, at + 2)) {
        // A set shorter than its header (trailing padding) ends the walk.
        if len < 4 {
            return false;
        }
        if template_ids.contains(&id) {
            return true;
        }
        at += usize::from(len);
    }
    false
}

/// The datagram with its template and options template sets only (header length and v9
/// record count set to match), for the members of a balanced pool that do not get its data.
pub fn templates_only(d: &[u8]) -> Option<Vec<u8>> {
    let (header, template_ids, v9): (usize, [u16; 2], bool) = match d.get(..2) {
        Some([0, 9]) => (20, [0, 1], true),
        Some([0, 10]) => (16, [2, 3], false),
        _ => return None,
    };
    let mut out = d.get(..header)?.to_vec();
    let mut records = 0u16;
    let mut at = header;
    while let (Some(id), Some(len)) = (be16(d, at), be16(d, at + 2)) {
        if len < 4 {
            break;
        }
        let set = d.get(at..at + usize::from(len))?;
        if template_ids.contains(&id) {
            out.extend_from_slice(set);
            records = records.saturating_add(v9_template_records(id, set));
        }
        at += usize::from(len);
    }
    if v9 {
        out[2..4].copy_from_slice(&records.to_be_bytes());
    } else {
        let len = u16::try_from(out.len()).ok()?;
        out[2..4].copy_from_slice(&len.to_be_bytes());
    }
    Some(out)
}

/// Template records in a v9 template (0) or options template (1) flowset.
fn v9_template_records(id: u16, set: &[u8]) -> u16 {
    let mut n = 0;
    let mut at = 4;
    while at + 4 <= set.len() {
        let size = match id {
            0 => be16(set, at + 2).map(|fields| 4 + 4 * usize::from(fields)),
            _ => match (be16(set, at + 2), be16(set, at + 4)) {
                (Some(scope), Some(option)) => Some(6 + usize::from(scope) + usize::from(option)),
                _ => None,
            },
        };
        match size {
            Some(size) if size > 4 && at + size <= set.len() => {
                n += 1;
                at += size;
            }
            _ => break,
        }
    }
    n
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// A reflected CRC-32 (IEEE), for `hash-crc32`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn address_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A pool and its round-robin position.
struct Pool {
    pool: TeePool,
    next: usize,
}

impl Pool {
    /// The receivers of one datagram from `exporter` (all of them, or one when balanced).
    fn pick(&mut self, exporter: IpAddr) -> &[SocketAddr] {
        let all = &self.pool.receivers;
        let n = all.len().max(1);
        let one = match self.pool.balance {
            Balance::All => return all,
            Balance::RoundRobin => {
                let i = self.next % n;
                self.next = self.next.wrapping_add(1);
                i
            }
            Balance::HashAgent => {
                let value = match exporter {
                    IpAddr::V4(a) => u64::from(u32::from(a)),
                    IpAddr::V6(a) => (u128::from(a) % u128::from(u64::MAX)) as u64,
                };
                (value % n as u64) as usize
            }
            Balance::HashCrc32 => crc32(&address_bytes(exporter)) as usize % n,
        };
        &all[one..one + 1]
    }
}

/// A raw IPv4 socket that writes its own IP header (`tee_transparent`).
struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    fn open() -> std::io::Result<RawSender> {
        // SAFETY: socket(2) with constant arguments; a non-negative result is a new descriptor
        // this value then owns.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
        Ok(RawSender {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends `payload` as a UDP datagram from `from` to `to` (both IPv4).
    fn send(
        &self,
        from: (Ipv4Addr, u16),
        to: (Ipv4Addr, u16),
        payload: &[u8],
        tos: u8,
    ) -> std::io::Result<()> {
        let packet = ipv4_udp(from, to, payload, tos)?;
        // SAFETY: sockaddr_in is plain data; every field used is set below.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from(to.0).to_be();
        // SAFETY: the descriptor is this socket's; `packet` and `sa` outlive the call and the
        // lengths passed are theirs.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// An IPv4 header (checksum computed) and a UDP header (checksum 0: optional over IPv4)
/// before `payload`.
fn ipv4_udp(
    from: (Ipv4Addr, u16),
    to: (Ipv4Addr, u16),
    payload: &[u8],
    tos: u8,
) -> std::io::Result<Vec<u8>> {
    let total = u16::try_from(28 + payload.len())
        .map_err(|_| std::io::Error::other("datagram too long for IPv4"))?;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, tos]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&from.0.octets());
    p.extend_from_slice(&to.0.octets());
    let sum = p
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !(((folded & 0xffff) + (folded >> 16)) as u16);
    p[10..12].copy_from_slice(&checksum.to_be_bytes());
    p.extend_from_slice(&from.1.to_be_bytes());
    p.extend_from_slice(&to.1.to_be_bytes());
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    Ok(p)
}

/// The plugin: its pools, its sockets (one per address family, or the raw one).
pub struct TeePlugin {
    label: String,
    map: PathBuf,
    config: TeeConfig,
    pools: Vec<Pool>,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    raw: Option<RawSender>,
    stats: Arc<PluginStats>,
    errors_logged_at: i64,
}

impl TeePlugin {
    pub fn new(
        config: &PluginConfig,
        tee: &TeeConfig,
        stats: Arc<PluginStats>,
    ) -> Result<TeePlugin, String> {
        let pools = read_map(tee)?;
        let raw = match tee.transparent {
            true => Some(RawSender::open().map_err(|e| {
                format!("tee_transparent needs a raw socket (root, or CAP_NET_RAW): {e}")
            })?),
            false => None,
        };
        let label = format!("{}/{}", config.name, config.kind);
        log_pools(&label, &pools, tee.transparent);
        let mut plugin = TeePlugin {
            label,
            map: tee.receivers.clone(),
            config: tee.clone(),
            pools: Vec::new(),
            v4: None,
            v6: None,
            raw,
            stats,
            errors_logged_at: i64::MIN,
        };
        plugin.open_sockets(&pools)?;
        plugin.pools = pools;
        Ok(plugin)
    }

    /// Opens the socket of each address family the pools' receivers need (once).
    fn open_sockets(&mut self, pools: &[Pool]) -> Result<(), String> {
        let tee = &self.config;
        let open = |unspecified: IpAddr| -> Result<UdpSocket, String> {
            let ip = tee.source_ip.unwrap_or(unspecified);
            let s = UdpSocket::bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("tee_source_ip {ip}: {e}"))?;
            tune(&s, tee).map_err(|e| format!("tee_pipe_size / tee_ipprec: {e}"))?;
            Ok(s)
        };
        let wants = |v6: bool| {
            pools
                .iter()
                .flat_map(|p| &p.pool.receivers)
                .any(|r| r.is_ipv6() == v6)
        };
        let same_family = |v6: bool| tee.source_ip.is_none_or(|ip| ip.is_ipv6() == v6);
        if self.v4.is_none() && wants(false) && same_family(false) {
            self.v4 = Some(open(IpAddr::V4(Ipv4Addr::UNSPECIFIED))?);
        }
        if self.v6.is_none() && wants(true) && same_family(true) {
            self.v6 = Some(open(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))?);
        }
        Ok(())
    }

    fn send_one(&self, to: SocketAddr, from: SocketAddr, data: &[u8]) -> std::io::Result<()> {
        if let (Some(raw), SocketAddr::V4(f), SocketAddr::V4(t)) = (&self.raw, from, to) {
            let tos = self.config.ipprec << 5;
            return raw.send((*f.ip(), f.port()), (*t.ip(), t.port()), data, tos);
        }
        let socket = match to {
            SocketAddr::V4(_) => self.v4.as_ref(),
            SocketAddr::V6(_) => self.v6.as_ref(),
        };
        let socket = socket.ok_or_else(|| {
            std::io::Error::other("no socket of the receiver's family (tee_source_ip)")
        })?;
        socket.send_to(data, to).map(|_| ())
    }
}

fn read_map(tee: &TeeConfig) -> Result<Vec<Pool>, String> {
    let name = tee.receivers.display().to_string();
    let text = std::fs::read_to_string(&tee.receivers)
        .map_err(|e| format!("tee_receivers: cannot read '{name}': {e}"))?;
    let map = TeeReceivers::parse(&name, &text, tee.max_pools, tee.max_receivers)?;
    Ok(map
        .pools
        .into_iter()
        .map(|pool| Pool { pool, next: 0 })
        .collect())
}

fn log_pools(label: &str, pools: &[Pool], transparent: bool) {
    for p in pools {
        let list: Vec<String> = p.pool.receivers.iter().map(|r| r.to_string()).collect();
        tracing::info!(
            "( {label} ): pool {} ({:?}{}): {}",
            p.pool.id,
            p.pool.balance,
            if transparent { ", transparent" } else { "" },
            list.join(", ")
        );
    }
}

fn tune(socket: &UdpSocket, tee: &TeeConfig) -> std::io::Result<()> {
    let set = |level: i32, name: i32, value: libc::c_int| {
        // SAFETY: the descriptor is the live socket's; setsockopt reads `value`, a c_int
        // that outlives the call, of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        match rc {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    if let Some(bytes) = tee.send_buffer {
        set(
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX),
        )?;
    }
    if tee.ipprec > 0 {
        let tos = libc::c_int::from(tee.ipprec) << 5;
        match socket.local_addr()? {
            SocketAddr::V4(_) => set(libc::IPPROTO_IP, libc::IP_TOS, tos)?,
            SocketAddr::V6(_) => set(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos)?,
        }
    }
    Ok(())
}

impl Plugin for TeePlugin {
    fn on_records(&mut self, _records: &mut RecordBatch, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }

    fn on_datagram(&mut self, from: SocketAddr, data: &[u8], now: Now) {
        // The other members of a balanced pool get the templates (not the data), once made.
        let mut templates: Option<Option<Vec<u8>>> = None;
        let mut failed = 0u64;
        let mut last_error = None;
        let mut sent = 0u64;
        let mut pools = std::mem::take(&mut self.pools);
        for pool in &mut pools {
            let chosen = pool.pick(from.ip()).to_vec();
            let mut sends: Vec<(SocketAddr, &[u8])> = chosen.iter().map(|to| (*to, data)).collect();
            if pool.pool.balance != Balance::All {
                let only = templates.get_or_insert_with(|| {
                    carries_templates(data)
                        .then(|| templates_only(data))
                        .flatten()
                });
                if let Some(t) = only.as_deref() {
                    let others = pool.pool.receivers.iter().filter(|r| !chosen.contains(r));
                    sends.extend(others.map(|to| (*to, t)));
                }
            }
            for (to, bytes) in sends {
                match self.send_one(to, from, bytes) {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        failed += 1;
                        last_error = Some((to, e));
                    }
                }
            }
        }
        self.pools = pools;
        self.stats.export.datagrams.fetch_add(sent, Relaxed);
        if failed > 0 {
            self.stats.export.send_errors.fetch_add(failed, Relaxed);
            if let Some((to, e)) = last_error {
                if now.wall >= self.errors_logged_at.saturating_add(LOG_EVERY) {
                    self.errors_logged_at = now.wall;
                    tracing::warn!(
                        "( {} ): receiver {to} did not take a datagram: {e} ({} send errors so far)",
                        self.label,
                        self.stats.export.send_errors.load(Relaxed)
                    );
                }
            }
        }
    }

    fn on_reload(&mut self) {
        match read_map(&self.config) {
            Ok(pools) => {
                if let Err(e) = self.open_sockets(&pools) {
                    tracing::error!("( {} ): {e}; keeping the previous receivers", self.label);
                    return;
                }
                log_pools(&self.label, &pools, self.config.transparent);
                tracing::info!(
                    "( {} ): [{}] tee_receivers reloaded: {} pools",
                    self.label,
                    self.map.display(),
                    pools.len()
                );
                self.pools = pools;
            }
            Err(e) => tracing::error!("( {} ): {e}; keeping the previous receivers", self.label),
        }
    }

    fn shutdown(&mut self, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_sets_are_found_by_their_headers() {
        let mut v9 = vec![0, 9];
        v9.resize(20, 0);
        v9.extend_from_slice(&[1, 0, 0, 8, 0, 0, 0, 0]);
        assert!(!carries_templates(&v9), "data set 256 only");
        v9.extend_from_slice(&[0, 0, 0, 4]);
        assert!(carries_templates(&v9));
        let mut ipfix = vec![0, 10];
        ipfix.resize(16, 0);
        ipfix.extend_from_slice(&[0, 3, 0, 4]);
        assert!(carries_templates(&ipfix), "options template set");
        assert!(!carries_templates(&[0, 5, 0, 1]));
        let mut looping = vec![0, 10];
        looping.resize(16, 0);
        looping.extend_from_slice(&[1, 0, 0, 0]);
        assert!(
            !carries_templates(&looping),
            "a zero-length set ends the walk"
        );
    }

    #[test]
    fn the_templates_of_a_datagram_are_kept_without_its_data() {
        // v9: a template flowset (1 template of 2 fields), a data flowset, an options
        // template flowset (1 record: scope 4 bytes, options 4 bytes).
        let mut v9 = vec![0, 9, 0, 4];
        v9.resize(20, 7);
        v9.extend_from_slice(&[0, 0, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 12, 0, 4]);
        v9.extend_from_slice(&[1, 0, 0, 12, 10, 0, 0, 1, 192, 0, 2, 1]);
        v9.extend_from_slice(&[0, 1, 0, 20, 1, 1, 0, 4, 0, 4, 0, 1, 0, 4, 0, 34, 0, 4, 0, 0]);
        let t = templates_only(&v9).expect("v9");
        assert_eq!(&t[..2], &[0, 9]);
        assert_eq!(u16::from_be_bytes([t[2], t[3]]), 2, "two template records");
        assert_eq!(&t[4..20], &v9[4..20], "the rest of the header kept");
        assert_eq!(t.len(), 20 + 16 + 20);
        let mut ipfix = vec![0, 10, 0, 0];
        ipfix.resize(16, 7);
        ipfix.extend_from_slice(&[1, 0, 0, 8, 1, 2, 3, 4]);
        ipfix.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1, 0, 8, 0, 4]);
        let t = templates_only(&ipfix).expect("ipfix");
        assert_eq!(u16::from_be_bytes([t[2], t[3]]) as usize, t.len());
        assert_eq!(t.len(), 16 + 12);
    }

    #[test]
    fn any_bytes_are_read_without_a_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 2 {
                d[0] = 0;
                d[1] = [9, 10][(next() % 2) as usize];
            }
            if carries_templates(&d) {
                let t = templates_only(&d).unwrap_or_default();
                assert!(t.len() <= d.len().max(20));
            }
            let _ = templates_only(&d);
        }
    }

    #[test]
    fn balancing_picks_one_receiver_by_turn_or_by_exporter() {
        let receivers: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let pool = |balance| Pool {
            pool: TeePool {
                line: 1,
                id: 1,
                receivers: receivers.clone(),
                balance,
            },
            next: 0,
        };
        let a: IpAddr = "10.0.0.4".parse().unwrap();
        let mut rr = pool(Balance::RoundRobin);
        let ports: Vec<u16> = (0..4).map(|_| rr.pick(a)[0].port()).collect();
        assert_eq!(ports, [1, 2, 3, 1]);
        assert_eq!(pool(Balance::All).pick(a).len(), 3);
        let mut hash = pool(Balance::HashAgent);
        assert_eq!(hash.pick(a)[0].port(), 3, "167772164 % 3 = 2");
        let mut crc = pool(Balance::HashCrc32);
        let first = crc.pick(a)[0];
        assert!((0..5).all(|_| crc.pick(a)[0] == first));
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_transparent_header_is_valid_ipv4_and_udp() {
        let p = ipv4_udp(
            (Ipv4Addr::new(192, 0, 2, 7), 4444),
            (Ipv4Addr::new(10, 0, 0, 1), 2055),
            b"abcd",
            0xa0,
        )
        .unwrap();
        assert_eq!(p.len(), 32);
        assert_eq!(
            (p[1], &p[12..16], &p[16..20]),
            (0xa0, &[192, 0, 2, 7][..], &[10, 0, 0, 1][..])
        );
        let sum: u32 = p[..20]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        assert_eq!(
            (sum & 0xffff) + (sum >> 16),
            0xffff,
            "the header sums to all ones"
        );
        assert_eq!(u16::from_be_bytes([p[24], p[25]]), 12);
    }
}
