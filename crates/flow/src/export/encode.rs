//! Encoders: flows into NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams.

use std::net::IpAddr;

use crate::{FlowRecord, FlowTime};

/// Template ids: IPv4 flows (and flows of a field set without addresses), IPv6 flows.
const TEMPLATE_V4: u16 = 256;
const TEMPLATE_V6: u16 = 257;
const V5_HEADER: usize = 24;
const V5_RECORD: usize = 48;
const V5_MAX_RECORDS: usize = 30;
/// AS_TRANS (RFC 6793): what a 2-byte field says of a 4-byte AS number.
const AS_TRANS: u16 = 23456;

/// The export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportVersion {
    V5,
    V9,
    Ipfix,
}

impl ExportVersion {
    /// 5, 9 or 10, as the header says.
    pub fn number(self) -> u16 {
        match self {
            ExportVersion::V5 => 5,
            ExportVersion::V9 => 9,
            ExportVersion::Ipfix => 10,
        }
    }

    fn header_len(self) -> usize {
        match self {
            ExportVersion::V5 => V5_HEADER,
            ExportVersion::V9 => 20,
            ExportVersion::Ipfix => 16,
        }
    }
}

/// A field of v9/IPFIX records, besides bytes, packets, start and end that every record has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportField {
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Proto,
    Tos,
    TcpFlags,
    InIface,
    OutIface,
    SrcMac,
    DstMac,
    Vlan,
    SrcAs,
    DstAs,
    SrcMask,
    DstMask,
    NextHop,
    MplsLabelTop,
    /// 0 ingress, 1 egress (IE 61).
    Direction,
    /// The sampling interval (IE 34) and algorithm (IE 35, random).
    Sampling,
}

impl ExportField {
    /// The information elements (id, length) the field is written as, for IPv4 or IPv6 flows.
    fn elements(self, v6: bool) -> &'static [(u16, u16)] {
        use ExportField as F;
        match (self, v6) {
            (F::SrcAddr, false) => &[(8, 4)],
            (F::SrcAddr, true) => &[(27, 16)],
            (F::DstAddr, false) => &[(12, 4)],
            (F::DstAddr, true) => &[(28, 16)],
            (F::SrcMask, false) => &[(9, 1)],
            (F::SrcMask, true) => &[(29, 1)],
            (F::DstMask, false) => &[(13, 1)],
            (F::DstMask, true) => &[(30, 1)],
            (F::NextHop, false) => &[(15, 4)],
            (F::NextHop, true) => &[(62, 16)],
            (F::SrcPort, _) => &[(7, 2)],
            (F::DstPort, _) => &[(11, 2)],
            (F::Proto, _) => &[(4, 1)],
            (F::Tos, _) => &[(5, 1)],
            (F::TcpFlags, _) => &[(6, 1)],
            (F::InIface, _) => &[(10, 4)],
            (F::OutIface, _) => &[(14, 4)],
            (F::SrcMac, _) => &[(56, 6)],
            (F::DstMac, _) => &[(80, 6)],
            (F::Vlan, _) => &[(58, 2)],
            (F::SrcAs, _) => &[(16, 4)],
            (F::DstAs, _) => &[(17, 4)],
            (F::MplsLabelTop, _) => &[(70, 3)],
            (F::Direction, _) => &[(61, 1)],
            (F::Sampling, _) => &[(34, 4), (35, 1)],
        }
    }

    /// Whether the field's elements differ between IPv4 and IPv6 flows.
    fn by_family(self) -> bool {
        use ExportField as F;
        matches!(
            self,
            F::SrcAddr | F::DstAddr | F::SrcMask | F::DstMask | F::NextHop
        )
    }

    fn write(self, r: &FlowRecord, v6: bool, out: &mut Vec<u8>) {
        use ExportField as F;
        match self {
            F::SrcAddr => addr(r.src_addr, v6, out),
            F::DstAddr => addr(r.dst_addr, v6, out),
            F::NextHop => addr(r.next_hop, v6, out),
            F::SrcMask => out.push(r.src_mask),
            F::DstMask => out.push(r.dst_mask),
            F::SrcPort => out.extend_from_slice(&r.src_port.to_be_bytes()),
            F::DstPort => out.extend_from_slice(&r.dst_port.to_be_bytes()),
            F::Proto => out.push(r.proto),
            F::Tos => out.push(r.tos),
            F::TcpFlags => out.push(r.tcp_flags),
            F::InIface => out.extend_from_slice(&r.in_iface.to_be_bytes()),
            F::OutIface => out.extend_from_slice(&r.out_iface.to_be_bytes()),
            F::SrcMac => out.extend_from_slice(&r.src_mac),
            F::DstMac => out.extend_from_slice(&r.dst_mac),
            F::Vlan => out.extend_from_slice(&r.vlan.to_be_bytes()),
            F::SrcAs => out.extend_from_slice(&r.src_as.to_be_bytes()),
            F::DstAs => out.extend_from_slice(&r.dst_as.to_be_bytes()),
            F::MplsLabelTop => {
                // One label stack entry: label, experimental bits 0, bottom of stack.
                let entry = (r.mpls_label_top & 0xf_ffff) << 4 | 1;
                out.extend_from_slice(&entry.to_be_bytes()[1..]);
            }
            F::Direction => out.push(r.direction.unwrap_or(0)),
            F::Sampling => {
                out.extend_from_slice(&r.sampling_rate.to_be_bytes());
                out.push(2);
            }
        }
    }
}

fn addr(a: Option<IpAddr>, v6: bool, out: &mut Vec<u8>) {
    match (a, v6) {
        (Some(IpAddr::V4(a)), false) => out.extend_from_slice(&a.octets()),
        (Some(IpAddr::V6(a)), true) => out.extend_from_slice(&a.octets()),
        (Some(IpAddr::V4(a)), true) => out.extend_from_slice(&a.to_ipv6_mapped().octets()),
        (_, false) => out.extend_from_slice(&[0; 4]),
        (_, true) => out.extend_from_slice(&[0; 16]),
    }
}

/// How an [`Exporter`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportConfig {
    pub version: ExportVersion,
    /// v9 and IPFIX: the fields of every record, in this order (v5's are fixed).
    pub fields: Vec<ExportField>,
    /// v9 source id, IPFIX observation domain id.
    pub domain_id: u32,
    /// v5 engine type and id.
    pub engine: (u8, u8),
    /// v5: the header's sampling interval (packet interval mode), 0 for none.
    pub sampling_interval: u16,
    /// Largest datagram payload, bytes (the path MTU less the IP and UDP headers).
    pub max_datagram: usize,
    /// Templates are sent again after this many datagrams...
    pub template_datagrams: u32,
    /// ... or this many milliseconds, whichever comes first.
    pub template_millis: i64,
    /// v9/IPFIX: start and end to the microsecond (IEs 154/155, NTP format) instead of
    /// milliseconds (IPFIX 152/153, v9 sysUptime 22/21).
    pub micros: bool,
}

/// What an exporter has written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    pub datagrams: u64,
    /// Flow records written (a v5 flow split over several records counts each).
    pub records: u64,
    /// Flows the version cannot carry (IPv6 in v5), not sent.
    pub unexportable: u64,
    /// Datagrams that carried templates.
    pub template_datagrams: u64,
}

/// One datagram being written (v9/IPFIX).
struct Datagram {
    /// Records in it (v9 header count: template and data records).
    records: u16,
    data_records: u32,
    /// The open data set: its template id and where its header starts.
    open_set: Option<(u16, usize)>,
}

/// Packs flows into datagrams of one version, keeping its sequence numbers and templates.
pub struct Exporter {
    config: ExportConfig,
    /// The exporter's "boot": the time sysUptime counts from (v5, v9).
    boot_ms: Option<i64>,
    /// v5: flows sent; v9: datagrams sent; IPFIX: data records sent (modulo 2^32).
    sequence: u32,
    since_templates: u32,
    last_templates_ms: Option<i64>,
    stats: ExporterStats,
    buf: Vec<u8>,
}

impl Exporter {
    pub fn new(config: ExportConfig) -> Exporter {
        Exporter {
            config,
            boot_ms: None,
            sequence: 0,
            since_templates: 0,
            last_templates_ms: None,
            stats: ExporterStats::default(),
            buf: Vec::with_capacity(2048),
        }
    }

    pub fn config(&self) -> &ExportConfig {
        &self.config
    }

    pub fn stats(&self) -> ExporterStats {
        self.stats
    }

    /// Sets the exporter's "boot", the time v5/v9 sysUptime counts from, if not set yet: the
    /// first packet the flows are made of (a flow older than the boot is exported as starting
    /// at it). Without it, the earliest start of the first flows exported.
    pub fn set_boot(&mut self, ms: i64) {
        self.boot_ms.get_or_insert(ms);
    }

    /// Writes `flows` into datagrams at `now_ms` (unix milliseconds) and hands each to `send`.
    pub fn encode(&mut self, flows: &[FlowRecord], now_ms: i64, send: &mut dyn FnMut(&[u8])) {
        if flows.is_empty() {
            return;
        }
        if self.boot_ms.is_none() {
            let first = flows
                .iter()
                .filter_map(|f| f.start.map(|t| t.as_millis()))
                .min()
                .unwrap_or(now_ms);
            self.boot_ms = Some(first.min(now_ms));
        }
        match self.config.version {
            ExportVersion::V5 => self.encode_v5(flows, now_ms, send),
            _ => self.encode_templated(flows, now_ms, send),
        }
    }

    /// Milliseconds since boot, modulo 2^32 (sysUptime and the switched times).
    fn uptime(&self, at_ms: i64) -> u32 {
        let since = at_ms.saturating_sub(self.boot_ms.unwrap_or(at_ms)).max(0);
        (since as u64 & 0xffff_ffff) as u32
    }

    fn max_datagram(&self) -> usize {
        self.config
            .max_datagram
            .max(self.config.version.header_len() + 512)
    }

    fn encode_v5(&mut self, flows: &[FlowRecord], now_ms: i64, send: &mut dyn FnMut(&[u8])) {
        let per_datagram = ((self.max_datagram() - V5_HEADER) / V5_RECORD).min(V5_MAX_RECORDS);
        let mut records: Vec<[u8; V5_RECORD]> = Vec::new();
        for f in flows {
            if !v5_exportable(f) {
                self.stats.unexportable += 1;
                continue;
            }
            for (packets, bytes) in v5_pieces(f.packets, f.bytes) {
                records.push(self.v5_record(f, packets, bytes, now_ms));
            }
        }
        for chunk in records.chunks(per_datagram.max(1)) {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.v5_header(chunk.len() as u16, now_ms, &mut buf);
            for r in chunk {
                buf.extend_from_slice(r);
            }
            send(&buf);
            self.buf = buf;
            self.sequence = self.sequence.wrapping_add(chunk.len() as u32);
            self.stats.datagrams += 1;
            self.stats.records += chunk.len() as u64;
        }
    }

    fn v5_header(&self, count: u16, now_ms: i64, out: &mut Vec<u8>) {
        let now = FlowTime::from_millis(now_ms);
        out.extend_from_slice(&5u16.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&self.uptime(now_ms).to_be_bytes());
        out.extend_from_slice(&(now.secs as u32).to_be_bytes());
        out.extend_from_slice(&(now.micros * 1000).to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.push(self.config.engine.0);
        out.push(self.config.engine.1);
        let sampling = match self.config.sampling_interval {
            0 => 0,
            n => 0x4000 | n.min(0x3fff),
        };
        out.extend_from_slice(&sampling.to_be_bytes());
    }

    fn v5_record(&self, f: &FlowRecord, packets: u32, bytes: u32, now_ms: i64) -> [u8; 48] {
        let mut r = [0u8; V5_RECORD];
        let v4 = |a: Option<IpAddr>| match a {
            Some(IpAddr::V4(a)) => a.octets(),
            _ => [0; 4],
        };
        let short = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let asn = |v: u32| u16::try_from(v).unwrap_or(AS_TRANS);
        let (start, end) = times(f, now_ms);
        r[0..4].copy_from_slice(&v4(f.src_addr));
        r[4..8].copy_from_slice(&v4(f.dst_addr));
        r[8..12].copy_from_slice(&v4(f.next_hop));
        r[12..14].copy_from_slice(&short(f.in_iface).to_be_bytes());
        r[14..16].copy_from_slice(&short(f.out_iface).to_be_bytes());
        r[16..20].copy_from_slice(&packets.to_be_bytes());
        r[20..24].copy_from_slice(&bytes.to_be_bytes());
        r[24..28].copy_from_slice(&self.uptime(start).to_be_bytes());
        r[28..32].copy_from_slice(&self.uptime(end).to_be_bytes());
        r[32..34].copy_from_slice(&f.src_port.to_be_bytes());
        r[34..36].copy_from_slice(&f.dst_port.to_be_bytes());
        r[37] = f.tcp_flags;
        r[38] = f.proto;
        r[39] = f.tos;
        r[40..42].copy_from_slice(&asn(f.src_as).to_be_bytes());
        r[42..44].copy_from_slice(&asn(f.dst_as).to_be_bytes());
        r[44] = f.src_mask;
        r[45] = f.dst_mask;
        r
    }

    fn encode_templated(&mut self, flows: &[FlowRecord], now_ms: i64, send: &mut dyn FnMut(&[u8])) {
        let limit = self.max_datagram();
        let mut buf = std::mem::take(&mut self.buf);
        let mut d = self.start_datagram(now_ms, &mut buf);
        for f in flows {
            let v6 = self.is_v6(f);
            let id = if v6 { TEMPLATE_V6 } else { TEMPLATE_V4 };
            let len = self.record_len(v6);
            let opening = d.open_set.is_none_or(|(open, _)| open != id);
            // v9 pads a set to 4 bytes when it closes: this one, and the one a new set closes;
            // a new set has a header.
            let needed = len + 3 + if opening { 4 + 3 } else { 0 };
            if buf.len() + needed > limit && d.data_records > 0 {
                self.finish_datagram(&mut d, now_ms, &mut buf, send);
                d = self.start_datagram(now_ms, &mut buf);
            }
            if d.open_set.is_none_or(|(open, _)| open != id) {
                self.close_set(&mut d, &mut buf);
                d.open_set = Some((id, buf.len()));
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&[0, 0]);
            }
            self.write_record(f, v6, now_ms, &mut buf);
            d.records = d.records.saturating_add(1);
            d.data_records += 1;
        }
        if d.data_records > 0 {
            self.finish_datagram(&mut d, now_ms, &mut buf, send);
        }
        self.buf = buf;
    }

    /// Whether the flow goes out with the IPv6 template (only when the fields differ by family).
    fn is_v6(&self, f: &FlowRecord) -> bool {
        self.config.fields.iter().any(|x| x.by_family())
            && [f.src_addr, f.dst_addr]
                .iter()
                .any(|a| matches!(a, Some(IpAddr::V6(_))))
    }

    fn has_v6_template(&self) -> bool {
        self.config.fields.iter().any(|x| x.by_family())
    }

    /// The elements of a template: the configured fields, then bytes, packets, start, end.
    fn template(&self, v6: bool) -> Vec<(u16, u16)> {
        let mut e: Vec<(u16, u16)> = self
            .config
            .fields
            .iter()
            .flat_map(|f| f.elements(v6).iter().copied())
            .collect();
        e.extend_from_slice(&[(1, 8), (2, 8)]);
        match (self.config.version, self.config.micros) {
            (_, true) => e.extend_from_slice(&[(154, 8), (155, 8)]),
            (ExportVersion::Ipfix, false) => e.extend_from_slice(&[(152, 8), (153, 8)]),
            _ => e.extend_from_slice(&[(22, 4), (21, 4)]),
        }
        e
    }

    fn record_len(&self, v6: bool) -> usize {
        self.template(v6).iter().map(|(_, l)| usize::from(*l)).sum()
    }

    fn write_record(&self, f: &FlowRecord, v6: bool, now_ms: i64, out: &mut Vec<u8>) {
        for field in &self.config.fields {
            field.write(f, v6, out);
        }
        out.extend_from_slice(&f.bytes.to_be_bytes());
        out.extend_from_slice(&f.packets.to_be_bytes());
        if self.config.micros {
            let now = FlowTime::from_millis(now_ms);
            let start = f.start.unwrap_or(now);
            out.extend_from_slice(&ntp(start).to_be_bytes());
            out.extend_from_slice(&ntp(f.end.unwrap_or(start).max(start)).to_be_bytes());
            return;
        }
        let (start, end) = times(f, now_ms);
        match self.config.version {
            ExportVersion::Ipfix => {
                out.extend_from_slice(&(start as u64).to_be_bytes());
                out.extend_from_slice(&(end as u64).to_be_bytes());
            }
            _ => {
                out.extend_from_slice(&self.uptime(start).to_be_bytes());
                out.extend_from_slice(&self.uptime(end).to_be_bytes());
            }
        }
    }

    /// A header with its length, count and sequence to be filled in, and templates when due.
    fn start_datagram(&mut self, now_ms: i64, buf: &mut Vec<u8>) -> Datagram {
        buf.clear();
        buf.resize(self.config.version.header_len(), 0);
        let mut d = Datagram {
            records: 0,
            data_records: 0,
            open_set: None,
        };
        let due = self.last_templates_ms.is_none_or(|t| {
            self.since_templates >= self.config.template_datagrams
                || now_ms.saturating_sub(t) >= self.config.template_millis
        });
        if due {
            self.write_templates(&mut d, buf);
            self.since_templates = 0;
            self.last_templates_ms = Some(now_ms);
            self.stats.template_datagrams += 1;
        }
        d
    }

    fn write_templates(&self, d: &mut Datagram, buf: &mut Vec<u8>) {
        let set_id: u16 = match self.config.version {
            ExportVersion::Ipfix => 2,
            _ => 0,
        };
        let start = buf.len();
        buf.extend_from_slice(&set_id.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        let families: &[bool] = if self.has_v6_template() {
            &[false, true]
        } else {
            &[false]
        };
        for &v6 in families {
            let elements = self.template(v6);
            let id = if v6 { TEMPLATE_V6 } else { TEMPLATE_V4 };
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&(elements.len() as u16).to_be_bytes());
            for (ie, len) in elements {
                buf.extend_from_slice(&ie.to_be_bytes());
                buf.extend_from_slice(&len.to_be_bytes());
            }
            d.records += 1;
        }
        let len = (buf.len() - start) as u16;
        buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes the open data set's length (v9: padded to 4 bytes, as RFC 3954 asks).
    fn close_set(&self, d: &mut Datagram, buf: &mut Vec<u8>) {
        let Some((_, start)) = d.open_set.take() else {
            return;
        };
        if self.config.version == ExportVersion::V9 {
            while !(buf.len() - start).is_multiple_of(4) {
                buf.push(0);
            }
        }
        let len = (buf.len() - start) as u16;
        buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn finish_datagram(
        &mut self,
        d: &mut Datagram,
        now_ms: i64,
        buf: &mut Vec<u8>,
        send: &mut dyn FnMut(&[u8]),
    ) {
        self.close_set(d, buf);
        let now = FlowTime::from_millis(now_ms);
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(&self.config.version.number().to_be_bytes());
        match self.config.version {
            ExportVersion::Ipfix => {
                h.extend_from_slice(&(buf.len() as u16).to_be_bytes());
                h.extend_from_slice(&(now.secs as u32).to_be_bytes());
                h.extend_from_slice(&self.sequence.to_be_bytes());
                self.sequence = self.sequence.wrapping_add(d.data_records);
            }
            _ => {
                h.extend_from_slice(&d.records.to_be_bytes());
                // The uptime at the header's export second, so that the two name one instant.
                h.extend_from_slice(&self.uptime(now.secs * 1000).to_be_bytes());
                h.extend_from_slice(&(now.secs as u32).to_be_bytes());
                h.extend_from_slice(&self.sequence.to_be_bytes());
                self.sequence = self.sequence.wrapping_add(1);
            }
        }
        h.extend_from_slice(&self.config.domain_id.to_be_bytes());
        buf[..h.len()].copy_from_slice(&h);
        send(buf);
        self.since_templates += 1;
        self.stats.datagrams += 1;
        self.stats.records += u64::from(d.data_records);
    }
}

/// Seconds between 1900 (NTP's epoch) and 1970.
const NTP_TO_UNIX: i64 = 2_208_988_800;

/// A time in NTP format (dateTimeMicroseconds): seconds since 1900, then the fraction of a
/// second in 2^-32 units, rounded up so that readers truncating it get the microsecond back.
fn ntp(t: FlowTime) -> u64 {
    let secs = (t.secs + NTP_TO_UNIX).clamp(0, i64::from(u32::MAX)) as u64;
    let frac = (u64::from(t.micros.min(999_999)) << 32).div_ceil(1_000_000);
    secs << 32 | frac
}

/// The flow's start and end, unix milliseconds (`now` for a missing one).
fn times(f: &FlowRecord, now_ms: i64) -> (i64, i64) {
    let start = f.start.map_or(now_ms, |t| t.as_millis());
    let end = f.end.map_or(start.max(now_ms), |t| t.as_millis());
    (start, end.max(start))
}

fn v5_exportable(f: &FlowRecord) -> bool {
    [f.src_addr, f.dst_addr]
        .iter()
        .all(|a| !matches!(a, Some(IpAddr::V6(_))))
}

/// A flow's counters as v5 records can hold them: one record, or several when packets or
/// bytes pass 32 bits (shared evenly, the first records taking what division leaves).
fn v5_pieces(packets: u64, bytes: u64) -> Vec<(u32, u32)> {
    let max = u64::from(u32::MAX);
    let n = packets.div_ceil(max).max(bytes.div_ceil(max)).max(1);
    (0..n)
        .map(|i| {
            let share = |total: u64| total / n + u64::from(i < total % n);
            (share(packets) as u32, share(bytes) as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests;
