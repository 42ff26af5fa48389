//! Templates compiled into decoding steps, and the walk that turns one data record into a
//! [`FlowRecord`].
//!
//! Each field of a template is matched once, when the template arrives, to a [`Target`]: the
//! record field it fills, with the fallbacks (octetTotalCount when octetDeltaCount is absent,
//! the best time encoding present, ...) already chosen. A template of fixed-length fields keeps
//! only the steps that fill something, each with its precomputed offset; a template with a
//! variable-length field is walked field by field. Promises: compiling refuses templates that
//! could not be walked safely (no bytes per record, a record longer than a set, too many
//! fields), and walking never reads outside the set it is given.

use foldhash::HashSet;

use crate::read::{addr, u16_at, uint};
use crate::{CustomKey, FlowRecord, FlowTime, Malformed};

/// The field length that announces a variable-length field (RFC 7011 section 7).
pub(crate) const VARIABLE: u16 = 65535;
/// Fields one template may declare; more is refused (bounds the memory of a template).
pub(crate) const MAX_FIELDS: usize = 512;
/// The longest record a set can carry (a set is at most 65535 bytes with its 4-byte header).
const MAX_RECORD: usize = 65535 - 4;
/// Seconds between the NTP epoch (1900) and the unix epoch.
const NTP_TO_UNIX: i64 = 2_208_988_800;

/// One field as the template declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FieldSpec {
    pub(crate) pen: u32,
    pub(crate) id: u16,
    pub(crate) len: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Options,
}

/// How a time element encodes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeKind {
    /// dateTimeSeconds.
    Seconds,
    /// dateTimeMilliseconds.
    Millis,
    /// dateTimeMicroseconds / dateTimeNanoseconds: NTP timestamp, 32-bit seconds since 1900
    /// and a 32-bit fraction.
    Ntp,
    /// Microseconds before the export time.
    DeltaMicros,
    /// Milliseconds of the exporter's uptime (v5/v9 header sysUptime, IPFIX
    /// systemInitTimeMilliseconds).
    Switched,
}

/// The record field one template field fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Skip,
    Custom,
    Bytes,
    BytesAdd,
    Packets,
    PacketsAdd,
    Flows,
    Proto,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcAddr,
    DstAddr,
    SrcMask,
    DstMask,
    InIface,
    OutIface,
    NextHop,
    BgpNextHop,
    SrcAs,
    DstAs,
    Vlan,
    SrcMac,
    DstMac,
    MplsLabel { top: bool },
    MplsVpnRd,
    FwdStatus,
    Direction,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    SamplerId,
    SamplingInterval,
    SamplerRandomInterval,
    PacketInterval,
    PacketSpace,
    SamplingSize,
    SamplingPopulation,
    EngineType,
    EngineId,
    PostNatSrc,
    PostNatDst,
    PostNatSrcPort,
    PostNatDstPort,
    NatEvent,
    Start(TimeKind),
    End(TimeKind),
    SystemInit,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    target: Target,
    /// Offset in the record (fixed-length templates only).
    offset: u32,
    len: u16,
    key: CustomKey,
    /// Also copied into `custom` (a mapped element a custom primitive asks for too).
    keep: bool,
}

/// A template ready to decode records.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub(crate) kind: Kind,
    pub(crate) scope_count: u16,
    /// The fields as received (kept to save templates and to see a re-sent template unchanged).
    pub(crate) fields: Vec<FieldSpec>,
    steps: Vec<Step>,
    /// The record length when no field is variable-length.
    fixed_len: Option<usize>,
    /// The shortest record: fixed lengths plus one length byte per variable-length field.
    min_len: usize,
}

/// The header facts record times are relative to.
/// IPFIX dataLinkFrameSection: always kept in [`FlowRecord::custom`].
pub const DATALINK_FRAME: CustomKey = CustomKey { pen: 0, id: 315 };
/// dataLinkFrameSize (IE 312): the sampled frame's length on the wire (the section may hold
/// only its first bytes).
pub const DATALINK_FRAME_SIZE: CustomKey = CustomKey { pen: 0, id: 312 };

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimeBase {
    pub(crate) export_secs: i64,
    /// v5/v9 header sysUptime.
    pub(crate) uptime_ms: Option<u32>,
}

impl TimeBase {
    /// The absolute time of an uptime-relative value, given the system init time when the
    /// header carries no uptime (IPFIX).
    pub(crate) fn switched(&self, value: u32, system_init_ms: Option<u64>) -> Option<FlowTime> {
        if let Some(up) = self.uptime_ms {
            // The distance is signed and modulo 2^32, so a wrapped uptime still works. Whole
            // seconds before the header's export second, as pmacct computes them: the header
            // gives the export time to the second (v9), so finer figures would be made up, and
            // time bins then match pmacct's.
            let ago = i64::from(up.wrapping_sub(value) as i32);
            return Some(FlowTime {
                secs: self.export_secs.saturating_sub(ago / 1000),
                micros: 0,
            });
        }
        let init = i64::try_from(system_init_ms?).ok()?;
        Some(FlowTime::from_millis(init.saturating_add(i64::from(value))))
    }
}

/// Per-record values that are resolved after the walk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scratch {
    first_switched: Option<u32>,
    last_switched: Option<u32>,
    pub(crate) system_init_ms: Option<u64>,
    icmp: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    mpls_bottom_seen: bool,
    sampling_interval: Option<u64>,
    random_interval: Option<u64>,
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    sampling_size: Option<u64>,
    sampling_population: Option<u64>,
}

impl Scratch {
    /// The sampling rate the record's own fields give, if any.
    pub(crate) fn rate(&self) -> Option<u32> {
        let rate = match (
            self.packet_interval,
            self.packet_space,
            self.sampling_size,
            self.sampling_population,
        ) {
            (Some(interval), Some(space), _, _) if interval > 0 => {
                interval.saturating_add(space) / interval
            }
            (_, _, Some(size), Some(population)) if size > 0 => population / size,
            // A packet interval without its space: read as "one in N", the way exporters
            // that send it alone mean it.
            (Some(interval), None, _, _) if interval > 0 => interval,
            _ => match (self.random_interval, self.sampling_interval) {
                (Some(r), _) if r > 0 => r,
                (_, Some(i)) if i > 0 => i,
                _ => return None,
            },
        };
        Some(u32::try_from(rate).unwrap_or(u32::MAX)).filter(|&r| r > 0)
    }

    /// Resolves what needed the whole record: uptime-relative times and ICMP type/code.
    pub(crate) fn finish(&self, r: &mut FlowRecord, t: &TimeBase, system_init_ms: Option<u64>) {
        let init = self.system_init_ms.or(system_init_ms);
        if let Some(v) = self.first_switched {
            r.start = t.switched(v, init);
        }
        if let Some(v) = self.last_switched {
            r.end = t.switched(v, init);
        }
        // A record without a start time started, as far as anyone knows, when it was exported
        // (pmacct's timestamp_start for it, and so its time bin).
        if r.start.is_none() {
            r.start = Some(FlowTime {
                secs: t.export_secs,
                micros: 0,
            });
        }
        let icmp = self.icmp.or(match (self.icmp_type, self.icmp_code) {
            (None, None) => None,
            (ty, code) => Some(u16::from(ty.unwrap_or(0)) << 8 | u16::from(code.unwrap_or(0))),
        });
        if let Some(icmp) = icmp {
            if r.proto == 1 || r.proto == 58 {
                r.dst_port = icmp;
            }
        }
    }
}

/// What the walk found at a position of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A record was decoded; the next one starts here.
    Record(usize),
    /// Fewer bytes than a record remain: the end of the set (or its padding).
    End,
    /// A variable-length field runs past the end of the set.
    Overrun,
}

impl Template {
    /// Compiles a template. `version` 9 treats options scope fields as NetFlow v9 scope types
    /// (not information elements); `keep` lists unmapped fields to copy into `custom`.
    pub(crate) fn compile(
        version: u16,
        kind: Kind,
        scope_count: u16,
        fields: Vec<FieldSpec>,
        keep: &HashSet<CustomKey>,
    ) -> Result<Template, Malformed> {
        if fields.is_empty() || fields.len() > MAX_FIELDS || usize::from(scope_count) > fields.len()
        {
            return Err(Malformed::BadTemplate);
        }
        // NetFlow v9 scope fields number scope types, not elements: they choose nothing.
        let skip = if version == 9 {
            usize::from(scope_count)
        } else {
            0
        };
        let mut present: Vec<u16> = fields
            .iter()
            .skip(skip)
            // A zero-length field carries nothing: it must not win a choice.
            .filter(|f| f.pen == 0 && f.len != 0)
            .map(|f| f.id)
            .collect();
        present.sort_unstable();
        let has = |id: u16| present.binary_search(&id).is_ok();
        let first_of = |ids: &[u16]| ids.iter().copied().find(|&id| has(id));
        let choice = Choice {
            version,
            // NSEL/NEL events carry only an observation time (323, 322): it starts them.
            start: first_of(&[156, 154, 152, 150, 158, 22, 323, 322]),
            end: first_of(&[157, 155, 153, 151, 159, 21]),
            bytes: first_of(&[1, 85, 231, 232, 23]),
            packets: first_of(&[2, 86, 298, 299, 24]),
            in_iface: first_of(&[10, 252]),
            out_iface: first_of(&[14, 253]),
            vlan: first_of(&[58, 243]),
        };

        let mut steps = Vec::with_capacity(fields.len());
        let mut offset = 0usize;
        let mut min_len = 0usize;
        let mut variable = false;
        for (i, f) in fields.iter().enumerate() {
            let key = CustomKey {
                pen: f.pen,
                id: f.id,
            };
            let scope = i < usize::from(scope_count);
            let mut target = if (scope && version == 9) || f.len == 0 {
                Target::Skip
            } else {
                choice.target(f.pen, f.id)
            };
            // dataLinkFrameSection: the sampled frame itself, decoded by the collector's user
            // when the record has no addresses of its own (as pmacct does).
            if target == Target::Skip
                && (keep.contains(&key) || key == DATALINK_FRAME || key == DATALINK_FRAME_SIZE)
            {
                target = Target::Custom;
            }
            if f.len == VARIABLE {
                variable = true;
                min_len += 1;
            } else {
                min_len += usize::from(f.len);
            }
            steps.push(Step {
                target,
                offset: offset as u32,
                len: f.len,
                key,
                keep: target != Target::Custom && target != Target::Skip && keep.contains(&key),
            });
            offset += usize::from(f.len);
        }
        if min_len == 0 || min_len > MAX_RECORD {
            return Err(Malformed::BadTemplate);
        }
        let fixed_len = if variable {
            None
        } else {
            // Fixed offsets: fields that fill nothing need no step at all.
            steps.retain(|s| s.target != Target::Skip);
            Some(min_len)
        };
        steps.shrink_to_fit();
        Ok(Template {
            kind,
            scope_count,
            fields,
            steps,
            fixed_len,
            min_len,
        })
    }

    /// True when `other` declares the same layout.
    pub(crate) fn same_layout(&self, kind: Kind, scope_count: u16, fields: &[FieldSpec]) -> bool {
        self.kind == kind && self.scope_count == scope_count && self.fields == fields
    }

    /// Decodes the record at `pos` of a data set body into `r` and `s`.
    #[inline]
    pub(crate) fn walk(
        &self,
        body: &[u8],
        pos: usize,
        r: &mut FlowRecord,
        s: &mut Scratch,
        t: &TimeBase,
    ) -> Next {
        let Some(rest) = body.get(pos..) else {
            return Next::End;
        };
        if rest.len() < self.min_len {
            return Next::End;
        }
        if let Some(len) = self.fixed_len {
            let Some(record) = rest.get(..len) else {
                return Next::End;
            };
            for step in &self.steps {
                let at = step.offset as usize;
                if let Some(v) = record.get(at..at + usize::from(step.len)) {
                    apply(step, v, r, s, t);
                }
            }
            return Next::Record(pos + len);
        }
        let mut at = 0usize;
        for step in &self.steps {
            let len = if step.len == VARIABLE {
                match rest.get(at) {
                    Some(&255) => {
                        let Some(long) = u16_at(rest, at + 1) else {
                            return Next::Overrun;
                        };
                        at += 3;
                        usize::from(long)
                    }
                    Some(&short) => {
                        at += 1;
                        usize::from(short)
                    }
                    None => return Next::Overrun,
                }
            } else {
                usize::from(step.len)
            };
            let Some(v) = rest.get(at..at + len) else {
                return Next::Overrun;
            };
            apply(step, v, r, s, t);
            at += len;
        }
        Next::Record(pos + at)
    }
}

/// Which of several elements meaning the same thing a template uses.
struct Choice {
    version: u16,
    start: Option<u16>,
    end: Option<u16>,
    bytes: Option<u16>,
    packets: Option<u16>,
    in_iface: Option<u16>,
    out_iface: Option<u16>,
    vlan: Option<u16>,
}

impl Choice {
    fn target(&self, pen: u32, id: u16) -> Target {
        if pen != 0 {
            return Target::Skip;
        }
        let chosen = |choice: Option<u16>, t: Target| {
            if choice == Some(id) {
                t
            } else {
                Target::Skip
            }
        };
        match id {
            1 | 85 | 23 => chosen(self.bytes, Target::Bytes),
            // NSEL initiator and responder counters add up when no plain counter is present.
            231 | 232 => match self.bytes {
                Some(231 | 232) => Target::BytesAdd,
                _ => Target::Skip,
            },
            2 | 86 | 24 => chosen(self.packets, Target::Packets),
            298 | 299 => match self.packets {
                Some(298 | 299) => Target::PacketsAdd,
                _ => Target::Skip,
            },
            3 => Target::Flows,
            4 => Target::Proto,
            5 => Target::Tos,
            6 => Target::TcpFlags,
            7 => Target::SrcPort,
            8 | 27 => Target::SrcAddr,
            9 | 29 => Target::SrcMask,
            10 | 252 => chosen(self.in_iface, Target::InIface),
            11 => Target::DstPort,
            12 | 28 => Target::DstAddr,
            13 | 30 => Target::DstMask,
            14 | 253 => chosen(self.out_iface, Target::OutIface),
            15 | 62 => Target::NextHop,
            16 => Target::SrcAs,
            17 => Target::DstAs,
            18 | 63 => Target::BgpNextHop,
            32 | 139 => Target::IcmpTypeCode,
            176 | 178 => Target::IcmpType,
            177 | 179 => Target::IcmpCode,
            34 => Target::SamplingInterval,
            38 => Target::EngineType,
            39 => Target::EngineId,
            48 | 302 => Target::SamplerId,
            50 => Target::SamplerRandomInterval,
            305 => Target::PacketInterval,
            306 => Target::PacketSpace,
            309 => Target::SamplingSize,
            310 => Target::SamplingPopulation,
            56 => Target::SrcMac,
            80 => Target::DstMac,
            58 | 243 => chosen(self.vlan, Target::Vlan),
            61 => Target::Direction,
            70 => Target::MplsLabel { top: true },
            71..=79 => Target::MplsLabel { top: false },
            89 => Target::FwdStatus,
            90 => Target::MplsVpnRd,
            160 => Target::SystemInit,
            225 | 281 => Target::PostNatSrc,
            226 | 282 => Target::PostNatDst,
            227 => Target::PostNatSrcPort,
            228 => Target::PostNatDstPort,
            230 => Target::NatEvent,
            // Cisco ASA NSEL in NetFlow v9: xlate addresses and ports.
            40001 if self.version == 9 => Target::PostNatSrc,
            40002 if self.version == 9 => Target::PostNatDst,
            40003 if self.version == 9 => Target::PostNatSrcPort,
            40004 if self.version == 9 => Target::PostNatDstPort,
            150 | 152 | 154 | 156 | 158 | 22 | 322 | 323 => {
                chosen(self.start, Target::Start(time_kind(id)))
            }
            151 | 153 | 155 | 157 | 159 | 21 => chosen(self.end, Target::End(time_kind(id))),
            _ => Target::Skip,
        }
    }
}

fn time_kind(id: u16) -> TimeKind {
    match id {
        150 | 151 | 322 => TimeKind::Seconds,
        152 | 153 | 323 => TimeKind::Millis,
        154..=157 => TimeKind::Ntp,
        158 | 159 => TimeKind::DeltaMicros,
        _ => TimeKind::Switched,
    }
}

fn time(kind: TimeKind, v: &[u8], t: &TimeBase) -> Option<FlowTime> {
    match kind {
        TimeKind::Seconds => Some(FlowTime {
            secs: uint(v) as i64,
            micros: 0,
        }),
        TimeKind::Millis => Some(FlowTime::from_millis(
            i64::try_from(uint(v)).unwrap_or(i64::MAX),
        )),
        TimeKind::Ntp => {
            let ntp = <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes)?;
            let secs = (ntp >> 32) as i64 - NTP_TO_UNIX;
            let micros = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
            Some(FlowTime {
                secs,
                micros: micros as u32,
            })
        }
        TimeKind::DeltaMicros => {
            let delta = i64::try_from(uint(v)).unwrap_or(i64::MAX);
            Some(FlowTime::from_micros(
                t.export_secs
                    .saturating_mul(1_000_000)
                    .saturating_sub(delta),
            ))
        }
        // Resolved in Scratch::finish.
        TimeKind::Switched => None,
    }
}

// Inlined into the walk: a call per field costs more than the field.
#[inline(always)]
fn apply(step: &Step, v: &[u8], r: &mut FlowRecord, s: &mut Scratch, t: &TimeBase) {
    if step.keep {
        r.custom.push((step.key, v.to_vec()));
    }
    match step.target {
        Target::Skip => {}
        Target::Custom => r.custom.push((step.key, v.to_vec())),
        Target::Bytes => r.bytes = uint(v),
        Target::BytesAdd => r.bytes = r.bytes.saturating_add(uint(v)),
        Target::Packets => r.packets = uint(v),
        Target::PacketsAdd => r.packets = r.packets.saturating_add(uint(v)),
        Target::Flows => r.flows = uint(v),
        Target::Proto => r.proto = uint(v) as u8,
        Target::Tos => r.tos = uint(v) as u8,
        Target::TcpFlags => r.tcp_flags = uint(v) as u8,
        Target::SrcPort => r.src_port = uint(v) as u16,
        Target::DstPort => r.dst_port = uint(v) as u16,
        Target::SrcAddr => set_addr(&mut r.src_addr, v),
        Target::DstAddr => set_addr(&mut r.dst_addr, v),
        Target::SrcMask => r.src_mask = uint(v) as u8,
        Target::DstMask => r.dst_mask = uint(v) as u8,
        Target::InIface => r.in_iface = uint(v) as u32,
        Target::OutIface => r.out_iface = uint(v) as u32,
        Target::NextHop => set_addr(&mut r.next_hop, v),
        Target::BgpNextHop => set_addr(&mut r.bgp_next_hop, v),
        Target::SrcAs => r.src_as = uint(v) as u32,
        Target::DstAs => r.dst_as = uint(v) as u32,
        Target::Vlan => r.vlan = (uint(v) & 0x0fff) as u16,
        Target::SrcMac => {
            if let Ok(mac) = <[u8; 6]>::try_from(v) {
                r.src_mac = mac;
            }
        }
        Target::DstMac => {
            if let Ok(mac) = <[u8; 6]>::try_from(v) {
                r.dst_mac = mac;
            }
        }
        Target::MplsLabel { top } => {
            // A label stack entry section: 20-bit label, 3-bit traffic class, bottom-of-stack.
            let entry = uint(v.get(..3).unwrap_or(v)) as u32;
            if entry == 0 {
                return; // an unused label position
            }
            let label = entry >> 4;
            if top {
                r.mpls_label_top = label;
            }
            if !s.mpls_bottom_seen {
                r.mpls_label_bottom = label;
                s.mpls_bottom_seen = entry & 1 == 1;
            }
        }
        Target::MplsVpnRd => {
            if let Ok(rd) = <[u8; 8]>::try_from(v) {
                r.mpls_vpn_rd = Some(rd);
            }
        }
        // IANA's forwardingStatus is an unsigned32 that RFC 7270's one byte encodes reduced:
        // Cisco's 4-byte field holds the status in its last byte (pmacct's regression cases
        // and tshark read it so).
        Target::FwdStatus => r.fwd_status = uint(v) as u8,
        Target::Direction => r.direction = Some(uint(v) as u8),
        Target::IcmpTypeCode => s.icmp = Some(uint(v) as u16),
        Target::IcmpType => s.icmp_type = Some(uint(v) as u8),
        Target::IcmpCode => s.icmp_code = Some(uint(v) as u8),
        Target::SamplerId => r.sampler_id = Some(uint(v) as u32),
        Target::SamplingInterval => s.sampling_interval = Some(uint(v)),
        Target::SamplerRandomInterval => s.random_interval = Some(uint(v)),
        Target::PacketInterval => s.packet_interval = Some(uint(v)),
        Target::PacketSpace => s.packet_space = Some(uint(v)),
        Target::SamplingSize => s.sampling_size = Some(uint(v)),
        Target::SamplingPopulation => s.sampling_population = Some(uint(v)),
        Target::EngineType => r.engine_type = uint(v) as u8,
        Target::EngineId => r.engine_id = uint(v) as u8,
        Target::PostNatSrc => set_addr(&mut r.post_nat_src, v),
        Target::PostNatDst => set_addr(&mut r.post_nat_dst, v),
        Target::PostNatSrcPort => r.post_nat_src_port = uint(v) as u16,
        Target::PostNatDstPort => r.post_nat_dst_port = uint(v) as u16,
        Target::NatEvent => r.nat_event = uint(v) as u8,
        Target::Start(TimeKind::Switched) => s.first_switched = Some(uint(v) as u32),
        Target::End(TimeKind::Switched) => s.last_switched = Some(uint(v) as u32),
        Target::Start(kind) => r.start = time(kind, v, t),
        Target::End(kind) => r.end = time(kind, v, t),
        Target::SystemInit => s.system_init_ms = Some(uint(v)),
    }
}

/// Sets an address field; a template carrying both the IPv4 and the IPv6 element fills only
/// one of them per record, the other being all zeros, so a zero address never replaces one
/// already read.
#[inline]
fn set_addr(field: &mut Option<std::net::IpAddr>, v: &[u8]) {
    if let Some(a) = addr(v) {
        if field.is_none() || !a.is_unspecified() {
            *field = Some(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: u16, len: u16) -> FieldSpec {
        FieldSpec { pen: 0, id, len }
    }

    fn compile(fields: &[FieldSpec]) -> Result<Template, Malformed> {
        Template::compile(10, Kind::Data, 0, fields.to_vec(), &HashSet::default())
    }

    #[test]
    fn fixed_template_keeps_only_filling_steps() {
        let t = compile(&[spec(8, 4), spec(999, 2), spec(1, 4)]).unwrap();
        assert_eq!(t.fixed_len, Some(10));
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[1].offset, 6);
        assert_eq!(t.steps[1].target, Target::Bytes);
    }

    #[test]
    fn fallbacks_are_chosen_at_compile_time() {
        let t = compile(&[spec(85, 8), spec(1, 4), spec(252, 4), spec(231, 8)]).unwrap();
        let targets: Vec<Target> = t.steps.iter().map(|s| s.target).collect();
        assert_eq!(targets, vec![Target::Bytes, Target::InIface]);
        let t = compile(&[spec(231, 8), spec(232, 8)]).unwrap();
        let targets: Vec<Target> = t.steps.iter().map(|s| s.target).collect();
        assert_eq!(targets, vec![Target::BytesAdd, Target::BytesAdd]);
    }

    #[test]
    fn refuses_templates_that_cannot_be_walked() {
        assert_eq!(compile(&[]).unwrap_err(), Malformed::BadTemplate);
        assert_eq!(compile(&[spec(1, 0)]).unwrap_err(), Malformed::BadTemplate);
        assert_eq!(
            compile(&[spec(1, 40000), spec(2, 40000)]).unwrap_err(),
            Malformed::BadTemplate
        );
        let many = vec![spec(1, 1); MAX_FIELDS + 1];
        assert_eq!(compile(&many).unwrap_err(), Malformed::BadTemplate);
    }

    #[test]
    fn sampling_rates_from_each_encoding() {
        let mut s = Scratch {
            packet_interval: Some(1),
            packet_space: Some(99),
            ..Scratch::default()
        };
        assert_eq!(s.rate(), Some(100));
        s = Scratch {
            sampling_size: Some(2),
            sampling_population: Some(2000),
            ..Scratch::default()
        };
        assert_eq!(s.rate(), Some(1000));
        s = Scratch {
            random_interval: Some(512),
            sampling_interval: Some(4),
            ..Scratch::default()
        };
        assert_eq!(s.rate(), Some(512));
        s = Scratch {
            sampling_interval: Some(0),
            ..Scratch::default()
        };
        assert_eq!(s.rate(), None);
    }

    #[test]
    fn uptime_relative_times_survive_a_wrapped_uptime() {
        let t = TimeBase {
            export_secs: 1_000_000_000,
            uptime_ms: Some(500),
        };
        // The flow started 1000 ms before the export, before the uptime counter wrapped.
        let start = t.switched(500u32.wrapping_sub(1000), None).unwrap();
        assert_eq!(start.as_millis(), 999_999_999_000);
        let ipfix = TimeBase {
            uptime_ms: None,
            ..t
        };
        assert_eq!(ipfix.switched(5, None), None);
        assert_eq!(
            ipfix
                .switched(5, Some(1_600_000_000_000))
                .unwrap()
                .as_millis(),
            1_600_000_000_005
        );
    }
}
