//! nfprobe: the plugin's records (one per captured packet, keyed by its aggregate) metered
//! into flows and exported as NetFlow v5, v9 or IPFIX to its receivers (docs/nfprobe.md).
//!
//! Promises: every record handed to the plugin is in exactly one exported flow, whatever
//! ends it (its timeout, a full table, the end of the input or of the daemon); a receiver that
//! does not take a datagram is counted and logged at most once a minute, and never holds the
//! others back.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pmacct_core::config::{NfprobeConfig, PluginConfig, ProbeSource};
use pmacct_core::key::{FlowKey, KeyFields, RecordBatch};
use pmacct_core::layout::KeyLayout;
use pmacct_core::primitive::Primitive;
use pmacct_flow::export::{ExportConfig, ExportField, Exporter, Meter, Metered};
use pmacct_flow::{FlowRecord, FlowTime};

use super::{Now, Plugin, PluginError};
use crate::stats::PluginStats;

/// Datagrams never exceed an Ethernet MTU's payload, whatever the path allows (collectors
/// such as pmacct 1.7.7 read at most 10,000 bytes; many expect 1,500).
const MAX_MTU: usize = 1500;
/// Templates again after this many datagrams, or this many milliseconds.
const TEMPLATE_DATAGRAMS: u32 = 20;
const TEMPLATE_MILLIS: i64 = 60_000;
/// Seconds between two log lines about the same trouble.
const LOG_EVERY: i64 = 60;

/// The fields of exported records, from the aggregate (plus TCP flags, and direction and
/// sampling when configured), in a fixed order.
fn export_fields(config: &PluginConfig, nf: &NfprobeConfig) -> Vec<ExportField> {
    use ExportField as F;
    use Primitive as P;
    let has = |p: P| config.aggregate.columns.contains(&p);
    let mut fields: Vec<ExportField> = [
        (P::SrcHost, F::SrcAddr),
        (P::DstHost, F::DstAddr),
        (P::SrcMask, F::SrcMask),
        (P::DstMask, F::DstMask),
        (P::SrcPort, F::SrcPort),
        (P::DstPort, F::DstPort),
        (P::Proto, F::Proto),
        (P::Tos, F::Tos),
    ]
    .into_iter()
    .filter(|(p, _)| has(*p))
    .map(|(_, f)| f)
    .collect();
    fields.push(F::TcpFlags);
    let ifindex_set = nf.ifindex.is_some();
    if has(P::InIface) || (ifindex_set && !nf.egress()) {
        fields.push(F::InIface);
    }
    if has(P::OutIface) || (ifindex_set && nf.egress()) {
        fields.push(F::OutIface);
    }
    for (p, f) in [
        (P::SrcMac, F::SrcMac),
        (P::DstMac, F::DstMac),
        (P::Vlan, F::Vlan),
        (P::SrcAs, F::SrcAs),
        (P::DstAs, F::DstAs),
        (P::MplsLabelTop, F::MplsLabelTop),
    ] {
        if has(p) {
            fields.push(f);
        }
    }
    if nf.direction.is_some() {
        fields.push(F::Direction);
    }
    if config.sampling_rate.is_some_and(|r| r > 1) && !config.renormalize {
        fields.push(F::Sampling);
    }
    fields
}

/// How a probe's datagrams are sent: `*_source_ip`, `nfprobe_hoplimit`, `*_ipprec`, and the
/// name of the receiver key (for errors).
#[derive(Clone, Copy, Debug)]
pub(super) struct SendOptions {
    pub source_ip: Option<std::net::IpAddr>,
    pub hoplimit: Option<u8>,
    pub ipprec: u8,
    pub key: &'static str,
}

impl SendOptions {
    fn of(nf: &NfprobeConfig) -> SendOptions {
        SendOptions {
            source_ip: nf.source_ip,
            hoplimit: nf.hoplimit,
            ipprec: nf.ipprec,
            key: "nfprobe_receiver",
        }
    }
}

/// One receiver: its own connected socket (so the kernel tells its path MTU).
pub(super) struct Receiver {
    pub addr: SocketAddr,
    pub socket: UdpSocket,
    errors: u64,
    logged_at: i64,
}

impl Receiver {
    fn open(addr: SocketAddr, nf: &SendOptions) -> Result<Receiver, String> {
        let local: SocketAddr = match (nf.source_ip, addr) {
            (Some(ip), _) => SocketAddr::new(ip, 0),
            (None, SocketAddr::V4(_)) => "0.0.0.0:0".parse().map_err(|_| "address")?,
            (None, SocketAddr::V6(_)) => "[::]:0".parse().map_err(|_| "address")?,
        };
        let socket =
            UdpSocket::bind(local).map_err(|e| format!("source address {}: {e}", local.ip()))?;
        // Options first: setting the TOS drops the route the kernel keeps for a connected
        // socket, and with it the path MTU.
        if let Some(ttl) = nf.hoplimit {
            set_int_option(&socket, addr.is_ipv6(), Hop::Limit, i32::from(ttl))
                .map_err(|e| format!("nfprobe_hoplimit: {e}"))?;
        }
        if nf.ipprec > 0 {
            set_int_option(&socket, addr.is_ipv6(), Hop::Tos, i32::from(nf.ipprec) << 5)
                .map_err(|e| format!("nfprobe_ipprec: {e}"))?;
        }
        socket
            .connect(addr)
            .map_err(|e| format!("{} {addr}: {e}", nf.key))?;
        Ok(Receiver {
            addr,
            socket,
            errors: 0,
            logged_at: i64::MIN,
        })
    }

    /// The largest datagram payload towards this receiver.
    pub fn max_datagram(&self) -> usize {
        let mtu = path_mtu(&self.socket, self.addr.is_ipv6()).unwrap_or(MAX_MTU);
        let headers = if self.addr.is_ipv6() { 48 } else { 28 };
        mtu.min(MAX_MTU) - headers
    }
}

enum Hop {
    Limit,
    Tos,
}

fn set_int_option(socket: &UdpSocket, v6: bool, what: Hop, value: i32) -> std::io::Result<()> {
    let (level, name) = match (what, v6) {
        (Hop::Limit, false) => (libc::IPPROTO_IP, libc::IP_TTL),
        (Hop::Limit, true) => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
        (Hop::Tos, false) => (libc::IPPROTO_IP, libc::IP_TOS),
        (Hop::Tos, true) => (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    };
    let value: libc::c_int = value;
    // SAFETY: the descriptor is the live socket's; setsockopt reads `value`, a c_int that
    // outlives the call, of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The path MTU the kernel knows for a connected socket (IP_MTU / IPV6_MTU).
fn path_mtu(socket: &UdpSocket, v6: bool) -> Option<usize> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU)
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is the live socket's; getsockopt writes at most `len` bytes into
    // `mtu` and the new length into `len`, both living past the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && mtu >= 576).then_some(mtu as usize)
}

/// The receivers of `nfprobe_receiver` / `sfprobe_receiver`, resolved.
pub(super) fn open_receivers(list: &[String], nf: &SendOptions) -> Result<Vec<Receiver>, String> {
    let key = nf.key;
    let mut out = Vec::new();
    for text in list {
        let addr = text
            .to_socket_addrs()
            .map_err(|e| format!("{key} '{text}': {e}"))?
            .find(|a| nf.source_ip.is_none_or(|ip| ip.is_ipv6() == a.is_ipv6()))
            .ok_or_else(|| format!("{key} '{text}': no address of the source's family"))?;
        out.push(Receiver::open(addr, nf)?);
    }
    Ok(out)
}

/// Sends a datagram to every receiver; failures are counted, and logged at most once a
/// minute per receiver.
pub(super) fn send_all(
    receivers: &mut [Receiver],
    datagram: &[u8],
    now_s: i64,
    label: &str,
    stats: &PluginStats,
) {
    for r in receivers.iter_mut() {
        if let Err(e) = r.socket.send(datagram) {
            r.errors += 1;
            stats.export.send_errors.fetch_add(1, Relaxed);
            if now_s >= r.logged_at.saturating_add(LOG_EVERY) {
                r.logged_at = now_s;
                tracing::warn!(
                    "( {label} ): receiver {} did not take a datagram: {e} ({} so far)",
                    r.addr,
                    r.errors
                );
            }
        }
    }
}

pub struct NfprobePlugin {
    label: String,
    layout: Arc<KeyLayout>,
    nf: NfprobeConfig,
    meter: Meter<Vec<u64>>,
    exporter: Exporter,
    receivers: Vec<Receiver>,
    /// The plugin's `sampling_rate` when exported records carry it (0 otherwise).
    sampling: u32,
    ended: Vec<(Vec<u64>, Metered)>,
    flows: Vec<FlowRecord>,
    stats: Arc<PluginStats>,
    forced_logged_at: i64,
}

impl NfprobePlugin {
    pub fn new(
        config: &PluginConfig,
        nf: &NfprobeConfig,
        stats: Arc<PluginStats>,
    ) -> Result<NfprobePlugin, String> {
        let receivers = open_receivers(&nf.receivers, &SendOptions::of(nf))?;
        let max_datagram = receivers
            .iter()
            .map(Receiver::max_datagram)
            .min()
            .unwrap_or(MAX_MTU - 28);
        let fields = export_fields(config, nf);
        let sampling = if fields.contains(&ExportField::Sampling) {
            config.sampling_rate.unwrap_or(0)
        } else {
            0
        };
        let exporter = Exporter::new(ExportConfig {
            version: nf.version,
            fields,
            domain_id: nf.domain_id,
            engine: nf.engine,
            sampling_interval: sampling.min(0x3fff) as u16,
            max_datagram,
            template_datagrams: TEMPLATE_DATAGRAMS,
            template_millis: TEMPLATE_MILLIS,
            micros: nf.tstamp_usec,
        });
        let label = format!("{}/{}", config.name, config.kind);
        tracing::info!(
            "( {label} ): exporting NetFlow v{} to {} (datagrams up to {max_datagram} bytes)",
            nf.version.number(),
            receivers
                .iter()
                .map(|r| r.addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(NfprobePlugin {
            label,
            layout: Arc::new(config.key_layout()),
            nf: nf.clone(),
            meter: Meter::new(nf.timeouts, nf.max_flows, nf.dont_cache),
            exporter,
            receivers,
            sampling,
            ended: Vec::new(),
            flows: Vec::new(),
            stats,
            forced_logged_at: i64::MIN,
        })
    }

    /// A metered flow as a flow record: its key's primitives, direction and ifIndex.
    fn record(&self, key: &[u64], m: &Metered) -> FlowRecord {
        let k = self.layout.decode(key);
        let mut r = FlowRecord {
            src_addr: Some(k.src_host.0),
            dst_addr: Some(k.dst_host.0),
            src_port: k.src_port,
            dst_port: k.dst_port,
            proto: k.proto,
            tos: k.tos,
            tcp_flags: m.tcp_flags,
            src_mask: k.src_mask,
            dst_mask: k.dst_mask,
            src_as: k.src_as,
            dst_as: k.dst_as,
            in_iface: k.in_iface,
            out_iface: k.out_iface,
            vlan: k.vlan,
            src_mac: k.src_mac.0,
            dst_mac: k.dst_mac.0,
            mpls_label_top: k.mpls_label_top,
            sampling_rate: self.sampling,
            packets: m.packets,
            bytes: m.bytes,
            flows: 1,
            start: Some(FlowTime::from_micros(m.first_us)),
            end: Some(FlowTime::from_micros(m.last_us)),
            ..FlowRecord::default()
        };
        self.direction_and_ifindex(&k, &mut r);
        r
    }

    fn direction_and_ifindex(&self, k: &FlowKey, r: &mut FlowRecord) {
        let from = |s: ProbeSource| match s {
            ProbeSource::Fixed(n) => u64::from(n),
            ProbeSource::Out => 2,
            ProbeSource::Tag => k.tag,
            ProbeSource::Tag2 => k.tag2,
        };
        r.direction = self.nf.direction.and_then(|s| match (s, from(s)) {
            (ProbeSource::Fixed(_), _) => Some(0),
            (ProbeSource::Out, _) => Some(1),
            (_, 1) => Some(0),
            (_, 2) => Some(1),
            _ => None,
        });
        let Some(ifindex) = self
            .nf
            .ifindex
            .map(from)
            .and_then(|v| u32::try_from(v).ok())
        else {
            return;
        };
        let slot = if r.direction == Some(1) {
            &mut r.out_iface
        } else {
            &mut r.in_iface
        };
        if ifindex != 0 && (*slot == 0 || self.nf.ifindex_override) {
            *slot = ifindex;
        }
    }

    /// Exports the flows that have ended.
    fn export(&mut self, now_s: i64) {
        if self.ended.is_empty() {
            return;
        }
        let mut ended = std::mem::take(&mut self.ended);
        let mut flows = std::mem::take(&mut self.flows);
        flows.clear();
        flows.extend(ended.iter().map(|(k, m)| self.record(k, m)));
        ended.clear();
        self.ended = ended;
        self.flows = flows;
        let before = self.exporter.stats();
        let receivers = &mut self.receivers;
        let label = &self.label;
        let stats = &self.stats;
        let mut send = |datagram: &[u8]| send_all(receivers, datagram, now_s, label, stats);
        self.exporter
            .encode(&self.flows, now_s.saturating_mul(1000), &mut send);
        let after = self.exporter.stats();
        let e = &self.stats.export;
        e.flows.fetch_add(after.records - before.records, Relaxed);
        e.datagrams
            .fetch_add(after.datagrams - before.datagrams, Relaxed);
        e.unexportable
            .fetch_add(after.unexportable - before.unexportable, Relaxed);
        if after.unexportable > before.unexportable && before.unexportable == 0 {
            tracing::warn!(
                "( {} ): NetFlow v5 carries IPv4 flows only: IPv6 flows are not exported (counted as unexportable_flows; nfprobe_version: 9 or 10 carries them)",
                self.label
            );
        }
    }

    fn note_forced(&mut self, now_s: i64) {
        let forced = self.meter.stats().forced;
        let before = self.stats.export.forced.swap(forced, Relaxed);
        if forced > before && now_s >= self.forced_logged_at.saturating_add(LOG_EVERY) {
            self.forced_logged_at = now_s;
            tracing::warn!(
                "( {} ): the flow table is full (nfprobe_maxflows: {}): {forced} flows exported before their timeout so far",
                self.label,
                self.nf.max_flows
            );
        }
    }
}

impl Plugin for NfprobePlugin {
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError> {
        for (key, meta) in records.iter_mut() {
            let view = self.layout.view(key);
            let proto = view.number(Primitive::Proto) as u8;
            let at_us = meta.ts.saturating_mul(1_000_000) + i64::from(meta.micros);
            self.exporter.set_boot(at_us / 1000);
            let c = meta.counters();
            self.meter.observe(
                &key[..],
                proto,
                at_us,
                c.packets,
                c.bytes,
                meta.tcp_flags,
                &mut self.ended,
            );
        }
        self.on_tick(now)
    }

    fn on_tick(&mut self, now: Now) -> Result<(), PluginError> {
        self.meter
            .expire(now.data.saturating_mul(1_000_000), &mut self.ended);
        self.note_forced(now.data);
        self.export(now.data);
        Ok(())
    }

    fn held(&self) -> u64 {
        self.meter.len() as u64
    }

    fn shutdown(&mut self, now: Now) -> Result<(), PluginError> {
        self.meter.drain(&mut self.ended);
        self.note_forced(now.data);
        self.export(now.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn the_path_mtu_of_loopback_is_read_and_datagrams_stay_within_ethernet() {
        let nf = NfprobeConfig {
            receivers: vec!["127.0.0.1:9".into()],
            version: pmacct_flow::export::ExportVersion::Ipfix,
            timeouts: Default::default(),
            max_flows: 10,
            engine: (0, 0),
            domain_id: 0,
            source_ip: Some(IpAddr::from([127, 0, 0, 1])),
            hoplimit: Some(3),
            ipprec: 5,
            direction: None,
            ifindex: None,
            ifindex_override: false,
            dont_cache: false,
            tstamp_usec: false,
        };
        let r = open_receivers(&nf.receivers, &SendOptions::of(&nf)).expect("opens");
        // Loopback's MTU: 65,535 or 65,536 by kernel.
        assert!(path_mtu(&r[0].socket, false).is_some_and(|m| m >= 65_535));
        assert_eq!(r[0].max_datagram(), 1472);
        assert_eq!(r[0].socket.ttl().expect("ttl"), 3);
    }
}
