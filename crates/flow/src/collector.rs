//! The collector: per-exporter state (templates, sampling rates, sequence numbers, data held
//! for a template still to come) and the walk over the sets of NetFlow v9 and IPFIX messages.
//!
//! Promises: state is keyed by exporter address (never port), version and observation domain;
//! every map and queue is bounded by [`Limits`]; whatever is refused, dropped or malformed is
//! counted in [`CollectorStats`]; time only comes in through `now`.

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::IpAddr;

use foldhash::{HashMap, HashSet};

use crate::read::{all_zero, u16_at, u32_at};
use crate::template::{FieldSpec, Kind, Next, Scratch, Template, TimeBase, MAX_FIELDS};
use crate::{v5, CustomKey, DatagramInfo, FlowRecord, Limits, Malformed};

/// What a held set costs beyond its bytes (its bookkeeping), so many tiny sets are bounded too.
const HELD_OVERHEAD: usize = 64;
/// Sampler ids whose rate is remembered per observation domain.
const MAX_SAMPLERS: usize = 256;
const V9_HEADER_LEN: usize = 20;
const IPFIX_HEADER_LEN: usize = 16;

/// Counters of a collector. `templates`, `pending_sets` and `pending_bytes` are current values;
/// the others only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectorStats {
    /// Datagrams whose header was usable, per version.
    pub datagrams_v5: u64,
    pub datagrams_v9: u64,
    pub datagrams_ipfix: u64,
    /// sFlow v5 datagrams ([`Collector::decode_sflow`]), and their discarded-packet and counter
    /// samples (not flow records).
    pub datagrams_sflow: u64,
    pub sflow_discard_samples: u64,
    pub sflow_counter_samples: u64,
    /// sFlow flow samples and counter samples their data source's sequence numbers say were
    /// lost (datagram gaps are in `sequence_gaps` and `lost`, in datagrams).
    pub sflow_lost_samples: u64,
    pub sflow_lost_counter_samples: u64,
    /// Samples the agents said they dropped themselves (the flow samples' `drops`).
    pub sflow_agent_drops: u64,
    /// Flow records produced.
    pub records: u64,
    /// Options data records read (sampling and system-init facts are taken from them).
    pub options_records: u64,
    /// Templates held now, all exporters.
    pub templates: u64,
    /// Templates refused because their exporter already has `max_templates_per_exporter`.
    pub templates_refused: u64,
    /// Templates removed by an IPFIX template withdrawal.
    pub templates_withdrawn: u64,
    /// Data sets held now, waiting for their template, and their bytes.
    pub pending_sets: u64,
    pub pending_bytes: u64,
    /// Flow records decoded from held data once their template came.
    pub pending_records: u64,
    /// Held data sets dropped: their template did not come within `pending_secs`, or the
    /// exporter's held bytes were full. Counted in sets: without its template a set's record
    /// count is unknowable.
    pub pending_dropped: u64,
    /// Datagrams (and loaded templates) of new exporters ignored because `max_exporters`
    /// exporters are already tracked (v5 datagrams are still decoded, without sequence checks).
    pub exporters_refused: u64,
    /// Datagrams ignored because their exporter already has as many observation domains as
    /// `max_templates_per_exporter` (v5 datagrams are still decoded, without sequence checks).
    pub domains_refused: u64,
    /// Sequence gaps seen and the units they lost (v5 flows, v9 datagrams, IPFIX records).
    pub sequence_gaps: u64,
    pub lost: u64,
    /// Flow records whose sampling rate is unknown (`sampling_rate == 0`).
    pub records_without_sampling_rate: u64,
    /// Malformed datagrams, sets, templates and records, indexed by [`Malformed::index`].
    pub malformed: [u64; Malformed::ALL.len()],
}

impl CollectorStats {
    /// How many times `reason` was seen.
    pub fn malformed(&self, reason: Malformed) -> u64 {
        self.malformed.get(reason.index()).copied().unwrap_or(0)
    }

    pub(crate) fn count(&mut self, reason: Malformed) {
        if let Some(n) = self.malformed.get_mut(reason.index()) {
            *n += 1;
        }
    }
}

/// A counter sample and the header of the datagram that carried it (its agent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SflowCounters {
    pub header: crate::SflowHeader,
    pub sample: crate::CounterSample,
}

/// An observation domain of one exporter: version plus v9 source id / IPFIX domain id (v5:
/// engine type and id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DomainKey {
    pub(crate) version: u16,
    pub(crate) id: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Domain {
    pub(crate) templates: HashMap<u16, Template>,
    /// The sequence number the next message should carry.
    next_seq: Option<u32>,
    sampling: Sampling,
}

/// What options data told us about sampling and time.
#[derive(Debug, Default)]
struct Sampling {
    /// A rate given without a sampler id.
    default_rate: Option<u32>,
    by_sampler: Vec<(u32, u32)>,
    /// systemInitTimeMilliseconds, for uptime-relative IPFIX times.
    system_init_ms: Option<u64>,
}

impl Sampling {
    fn rate_for(&self, sampler: Option<u32>) -> Option<u32> {
        let by_id = |id: u32| {
            self.by_sampler
                .iter()
                .find(|(s, _)| *s == id)
                .map(|&(_, rate)| rate)
        };
        match sampler {
            Some(id) => by_id(id).or(self.default_rate),
            // A record naming no sampler takes the only rate there is.
            None => self.default_rate.or(match self.by_sampler.as_slice() {
                [(_, rate)] => Some(*rate),
                _ => None,
            }),
        }
    }

    fn learn(&mut self, sampler: Option<u32>, rate: u32) {
        let Some(id) = sampler else {
            self.default_rate = Some(rate);
            return;
        };
        if let Some(entry) = self.by_sampler.iter_mut().find(|(s, _)| *s == id) {
            entry.1 = rate;
        } else if self.by_sampler.len() < MAX_SAMPLERS {
            self.by_sampler.push((id, rate));
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Exporter {
    pub(crate) domains: HashMap<DomainKey, Domain>,
    /// Templates of all its domains.
    pub(crate) templates: usize,
    held: VecDeque<Held>,
    held_bytes: usize,
    /// Held sets per domain and template id, so a template with nothing held costs no scan.
    held_count: HashMap<(DomainKey, u16), u32>,
}

/// A data set waiting for its template.
#[derive(Debug)]
struct Held {
    domain: DomainKey,
    template_id: u16,
    arrived: i64,
    header: Header,
    body: Vec<u8>,
}

impl Held {
    fn cost(&self) -> usize {
        self.body.len() + HELD_OVERHEAD
    }
}

/// The facts of a v9 or IPFIX message header that its records inherit.
#[derive(Clone, Copy, Debug)]
struct Header {
    version: u16,
    seqno: u32,
    source_id: u32,
    time: TimeBase,
}

/// Decodes NetFlow v5, v9 and IPFIX datagrams, keeping the state they need between datagrams.
#[derive(Debug)]
pub struct Collector {
    pub(crate) limits: Limits,
    pub(crate) exporters: HashMap<IpAddr, Exporter>,
    pub(crate) keep: HashSet<CustomKey>,
    pub(crate) stats: CollectorStats,
    sflow: crate::SflowAgents,
}

impl Default for Collector {
    fn default() -> Self {
        Collector::new(Limits::default())
    }
}

impl Collector {
    pub fn new(limits: Limits) -> Self {
        Collector {
            limits,
            exporters: HashMap::default(),
            keep: HashSet::default(),
            stats: CollectorStats::default(),
            sflow: crate::SflowAgents::new(limits.max_exporters),
        }
    }

    /// Decodes one export datagram from `exporter` (its source address) that arrived at `now`
    /// (unix seconds), appending its flow records to `out`.
    ///
    /// Data sets whose template is unknown are held (bounded by bytes and by `pending_secs`)
    /// and appended to `out` by the call that brings their template. The datagram is rejected
    /// only when its header is unusable; a bad set, template or record is counted in
    /// [`CollectorStats::malformed`] and skipped. Rejections are counted there too.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        now: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramInfo, Malformed> {
        let result = self.decode_datagram(exporter, datagram, now, out);
        if let Err(reason) = result {
            self.stats.count(reason);
        }
        result
    }

    /// Drops held data older than `pending_secs` (counted in `pending_dropped`).
    pub fn expire(&mut self, now: i64) {
        let max_age = self.limits.pending_secs;
        let stats = &mut self.stats;
        for exporter in self.exporters.values_mut() {
            let Exporter {
                held,
                held_bytes,
                held_count,
                ..
            } = exporter;
            held.retain(|h| {
                let keep = now.saturating_sub(h.arrived) <= max_age;
                if !keep {
                    *held_bytes -= h.cost();
                    forget_held(held_count, h);
                    drop_held_stats(stats, h);
                }
                keep
            });
        }
    }

    pub fn stats(&self) -> &CollectorStats {
        &self.stats
    }

    /// Decodes an sFlow v5 datagram: each flow sample becomes a record
    /// ([`crate::FlowSample::to_record`], with its effective rate) appended to `out`, each
    /// counter sample is appended to `counters`; discarded-packet samples are counted. The
    /// agent's sequence numbers are checked ([`crate::SflowAgents`]): `lost` is in datagrams.
    /// The stats are shared with NetFlow's.
    pub fn decode_sflow(
        &mut self,
        data: &[u8],
        out: &mut Vec<FlowRecord>,
        counters: &mut Vec<SflowCounters>,
    ) -> Result<DatagramInfo, Malformed> {
        let d = match crate::decode_sflow(data) {
            Ok(d) => d,
            Err(e) => {
                self.stats.count(e);
                return Err(e);
            }
        };
        self.stats.datagrams_sflow += 1;
        if d.truncated {
            self.stats.count(Malformed::BadRecord);
        }
        let untracked = self.sflow.untracked;
        let lost = self.sflow.datagram(&d.header);
        if lost > 0 {
            self.stats.sequence_gaps += 1;
            self.stats.lost += lost;
        }
        let before = out.len();
        for s in d.samples {
            match s {
                crate::Sample::Flow(f) => {
                    let facts = self.sflow.flow_sample(&d.header, &f);
                    self.stats.sflow_lost_samples += facts.lost;
                    self.stats.sflow_agent_drops += facts.agent_drops;
                    let mut r = f.to_record(&d.header);
                    r.effective_rate = facts.effective_rate;
                    out.push(r);
                }
                crate::Sample::Discard(_) => self.stats.sflow_discard_samples += 1,
                crate::Sample::Counters(c) => {
                    self.stats.sflow_counter_samples += 1;
                    for _ in 0..c.malformed_records {
                        self.stats.count(Malformed::BadRecord);
                    }
                    self.stats.sflow_lost_counter_samples +=
                        self.sflow.counter_sample(&d.header, &c);
                    counters.push(SflowCounters {
                        header: d.header,
                        sample: c,
                    });
                }
                crate::Sample::Other(_) => {}
            }
        }
        self.stats.exporters_refused += self.sflow.untracked - untracked;
        let records = out.len() - before;
        self.stats.records += records as u64;
        Ok(DatagramInfo {
            version: 5,
            seqno: d.header.seqno,
            source_id: d.header.sub_agent,
            export_time: 0,
            records,
            lost,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Asks for the raw bytes of these elements in [`FlowRecord::custom`] (elements the record
    /// has a field for are mapped to it and copied too). Templates already held are recompiled.
    pub fn keep_fields(&mut self, fields: impl IntoIterator<Item = CustomKey>) {
        self.keep = fields.into_iter().collect();
        let keep = &self.keep;
        for exporter in self.exporters.values_mut() {
            for (key, domain) in exporter.domains.iter_mut() {
                for t in domain.templates.values_mut() {
                    if let Ok(recompiled) = Template::compile(
                        key.version,
                        t.kind,
                        t.scope_count,
                        t.fields.clone(),
                        keep,
                    ) {
                        *t = recompiled;
                    }
                }
            }
        }
    }

    fn decode_datagram(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        now: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramInfo, Malformed> {
        match u16_at(d, 0).ok_or(Malformed::TooShort)? {
            5 => Ok(self.decode_v5(exporter, d, out)?),
            9 => {
                if d.len() < V9_HEADER_LEN {
                    return Err(Malformed::TooShort);
                }
                let short = Malformed::TooShort;
                let uptime_ms = u32_at(d, 4).ok_or(short)?;
                let unix_secs = u32_at(d, 8).ok_or(short)?;
                let header = Header {
                    version: 9,
                    seqno: u32_at(d, 12).ok_or(short)?,
                    source_id: u32_at(d, 16).ok_or(short)?,
                    time: TimeBase {
                        export_secs: i64::from(unix_secs),
                        uptime_ms: Some(uptime_ms),
                    },
                };
                self.stats.datagrams_v9 += 1;
                let sets = d.get(V9_HEADER_LEN..).unwrap_or(&[]);
                Ok(self.decode_sets(exporter, header, unix_secs, sets, sets.len(), now, out))
            }
            10 => {
                if d.len() < IPFIX_HEADER_LEN {
                    return Err(Malformed::TooShort);
                }
                let short = Malformed::TooShort;
                let length = usize::from(u16_at(d, 2).ok_or(short)?);
                if length < IPFIX_HEADER_LEN || length > d.len() {
                    return Err(Malformed::BadLength);
                }
                let export_time = u32_at(d, 4).ok_or(short)?;
                let header = Header {
                    version: 10,
                    seqno: u32_at(d, 8).ok_or(short)?,
                    source_id: u32_at(d, 12).ok_or(short)?,
                    time: TimeBase {
                        export_secs: i64::from(export_time),
                        uptime_ms: None,
                    },
                };
                self.stats.datagrams_ipfix += 1;
                // Sets start within the message length; a last set that runs past it but not
                // past the datagram is still read (some exporters miscount the header).
                let sets = d.get(IPFIX_HEADER_LEN..).unwrap_or(&[]);
                let starts_before = length - IPFIX_HEADER_LEN;
                Ok(self.decode_sets(exporter, header, export_time, sets, starts_before, now, out))
            }
            _ => Err(Malformed::BadVersion),
        }
    }

    fn decode_v5(
        &mut self,
        exporter: IpAddr,
        d: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramInfo, Malformed> {
        let h = v5::Header::parse(d)?;
        self.stats.datagrams_v5 += 1;
        let key = DomainKey {
            version: 5,
            id: h.source_id(),
        };
        let mut lost = 0;
        if let Some(domain) = self.domain(exporter, key) {
            lost = sequence_gap(domain.next_seq, h.sequence);
            domain.next_seq = Some(h.sequence.wrapping_add(u32::from(h.count)));
        }
        self.count_lost(lost);
        let base = FlowRecord {
            exporter,
            version: 5,
            seqno: h.sequence,
            source_id: h.source_id(),
            engine_type: h.engine_type,
            engine_id: h.engine_id,
            flows: 1,
            sampling_rate: u32::from(h.sampling_interval),
            ..FlowRecord::default()
        };
        let before = out.len();
        v5::records(d, &h, &base, out);
        let records = out.len() - before;
        self.stats.records += records as u64;
        if base.sampling_rate == 0 {
            self.stats.records_without_sampling_rate += records as u64;
        }
        Ok(DatagramInfo {
            version: 5,
            seqno: h.sequence,
            source_id: h.source_id(),
            export_time: h.unix_secs,
            records,
            lost,
        })
    }

    /// The domain's state, created on first sight unless a bound says no (counted).
    fn domain(&mut self, exporter: IpAddr, key: DomainKey) -> Option<&mut Domain> {
        let Collector {
            limits,
            exporters,
            stats,
            ..
        } = self;
        let e = exporter_entry(exporters, limits, stats, exporter)?;
        domain_entry(&mut e.domains, limits, stats, key)
    }

    fn count_lost(&mut self, lost: u64) {
        if lost > 0 {
            self.stats.sequence_gaps += 1;
            self.stats.lost += lost;
        }
    }

    /// Walks the sets of a v9 or IPFIX message: sets that start before `starts_before`.
    #[allow(clippy::too_many_arguments)]
    fn decode_sets(
        &mut self,
        exporter: IpAddr,
        h: Header,
        export_time: u32,
        sets: &[u8],
        starts_before: usize,
        now: i64,
        out: &mut Vec<FlowRecord>,
    ) -> DatagramInfo {
        let mut info = DatagramInfo {
            version: h.version,
            seqno: h.seqno,
            source_id: h.source_id,
            export_time,
            records: 0,
            lost: 0,
        };
        let Collector {
            limits,
            exporters,
            keep,
            stats,
            ..
        } = self;
        let Some(exp) = exporter_entry(exporters, limits, stats, exporter) else {
            return info;
        };
        let dkey = DomainKey {
            version: h.version,
            id: h.source_id,
        };
        let Exporter {
            domains,
            templates: exporter_templates,
            held,
            held_bytes,
            held_count,
        } = exp;
        let mut queue = HeldQueue {
            held,
            bytes: held_bytes,
            count: held_count,
        };
        let Some(domain) = domain_entry(domains, limits, stats, dkey) else {
            return info;
        };
        info.lost = sequence_gap(domain.next_seq, h.seqno);
        if info.lost > 0 {
            stats.sequence_gaps += 1;
            stats.lost += info.lost;
        }
        let start = out.len();
        // IPFIX sequence numbers count data records: known only if every data set was read.
        let mut data_records: u32 = 0;
        let mut counted = true;
        let mut pos = 0usize;
        while let Some(rest) = sets.get(pos..) {
            if rest.len() < 4 || pos >= starts_before || all_zero(rest) {
                break; // padding, or the end of the message
            }
            let set_id = u16_at(rest, 0).unwrap_or(0);
            let set_len = usize::from(u16_at(rest, 2).unwrap_or(0));
            let Some(body) = rest.get(4..set_len).filter(|_| set_len >= 4) else {
                stats.count(Malformed::BadSet);
                counted = false;
                break;
            };
            pos += set_len;
            let kind = match (h.version, set_id) {
                (9, 0) | (10, 2) => Kind::Data,
                (9, 1) | (10, 3) => Kind::Options,
                (_, id) if id >= 256 => {
                    if let Some(t) = domain.templates.get(&id) {
                        let (n, ok) =
                            decode_data(t, body, &h, exporter, &mut domain.sampling, stats, out);
                        data_records = data_records.wrapping_add(n);
                        counted &= ok;
                    } else {
                        counted = false;
                        queue.hold(limits, stats, dkey, id, now, h, body);
                    }
                    continue;
                }
                _ => continue, // reserved set ids are skipped (RFC 7011 section 3.3.2)
            };
            for record in TemplateSet::new(h.version, set_id, kind, body) {
                let record = match record {
                    Ok(r) => r,
                    Err(reason) => {
                        stats.count(reason);
                        break;
                    }
                };
                match record {
                    TemplateRecord::Define {
                        id,
                        kind,
                        scope_count,
                        fields,
                    } => {
                        let installed = install(
                            domain,
                            exporter_templates,
                            limits,
                            stats,
                            keep,
                            h.version,
                            id,
                            kind,
                            scope_count,
                            fields,
                        );
                        if installed == Installed::Changed {
                            let released = queue.release(stats, dkey, id);
                            if let Some(t) = domain.templates.get(&id) {
                                for set in released {
                                    let before = out.len();
                                    decode_data(
                                        t,
                                        &set.body,
                                        &set.header,
                                        exporter,
                                        &mut domain.sampling,
                                        stats,
                                        out,
                                    );
                                    stats.pending_records += (out.len() - before) as u64;
                                }
                            }
                        }
                    }
                    TemplateRecord::Withdraw(id) => {
                        if domain.templates.remove(&id).is_some() {
                            *exporter_templates -= 1;
                            stats.templates -= 1;
                            stats.templates_withdrawn += 1;
                        }
                    }
                    TemplateRecord::WithdrawAll(kind) => {
                        let before = domain.templates.len();
                        domain.templates.retain(|_, t| t.kind != kind);
                        let removed = before - domain.templates.len();
                        *exporter_templates -= removed;
                        stats.templates -= removed as u64;
                        stats.templates_withdrawn += removed as u64;
                    }
                }
            }
        }
        domain.next_seq = match h.version {
            9 => Some(h.seqno.wrapping_add(1)),
            _ if counted => Some(h.seqno.wrapping_add(data_records)),
            // Records we could not count: take the next message as a new baseline.
            _ => None,
        };
        info.records = out.len() - start;
        info
    }
}

/// Units missing between the expected and the received sequence number. A backwards or far
/// jump (2^31 or more ahead) is a restart or reordering, not a loss.
fn sequence_gap(expected: Option<u32>, got: u32) -> u64 {
    match expected {
        Some(expected) => {
            let ahead = got.wrapping_sub(expected);
            if ahead < 1 << 31 {
                u64::from(ahead)
            } else {
                0
            }
        }
        None => 0,
    }
}

pub(crate) fn exporter_entry<'a>(
    exporters: &'a mut HashMap<IpAddr, Exporter>,
    limits: &Limits,
    stats: &mut CollectorStats,
    addr: IpAddr,
) -> Option<&'a mut Exporter> {
    let count = exporters.len();
    match exporters.entry(addr) {
        Entry::Occupied(e) => Some(e.into_mut()),
        Entry::Vacant(_) if count >= limits.max_exporters => {
            stats.exporters_refused += 1;
            None
        }
        Entry::Vacant(e) => Some(e.insert(Exporter::default())),
    }
}

pub(crate) fn domain_entry<'a>(
    domains: &'a mut HashMap<DomainKey, Domain>,
    limits: &Limits,
    stats: &mut CollectorStats,
    key: DomainKey,
) -> Option<&'a mut Domain> {
    let count = domains.len();
    match domains.entry(key) {
        Entry::Occupied(e) => Some(e.into_mut()),
        Entry::Vacant(_) if count >= limits.max_templates_per_exporter.max(1) => {
            stats.domains_refused += 1;
            None
        }
        Entry::Vacant(e) => Some(e.insert(Domain::default())),
    }
}

/// What [`install`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Installed {
    /// A new template, or a new layout for its id.
    Changed,
    /// The same layout was already held.
    Unchanged,
    /// Unusable (counted as malformed) or over the exporter's bound (counted as refused).
    Refused,
}

/// Installs a template unless it is unchanged, unusable or over the exporter's bound.
#[allow(clippy::too_many_arguments)]
pub(crate) fn install(
    domain: &mut Domain,
    exporter_templates: &mut usize,
    limits: &Limits,
    stats: &mut CollectorStats,
    keep: &HashSet<CustomKey>,
    version: u16,
    id: u16,
    kind: Kind,
    scope_count: u16,
    fields: Vec<FieldSpec>,
) -> Installed {
    let existing = domain.templates.get(&id);
    if existing.is_some_and(|t| t.same_layout(kind, scope_count, &fields)) {
        return Installed::Unchanged;
    }
    if existing.is_none() && *exporter_templates >= limits.max_templates_per_exporter {
        stats.templates_refused += 1;
        return Installed::Refused;
    }
    let template = match Template::compile(version, kind, scope_count, fields, keep) {
        Ok(t) => t,
        Err(reason) => {
            stats.count(reason);
            return Installed::Refused;
        }
    };
    if domain.templates.insert(id, template).is_none() {
        *exporter_templates += 1;
        stats.templates += 1;
    }
    Installed::Changed
}

/// Decodes the records of one data set. Returns the records read (flow and options) and
/// whether the set was read to its end.
fn decode_data(
    t: &Template,
    body: &[u8],
    h: &Header,
    exporter: IpAddr,
    sampling: &mut Sampling,
    stats: &mut CollectorStats,
    out: &mut Vec<FlowRecord>,
) -> (u32, bool) {
    let base = FlowRecord {
        exporter,
        version: h.version,
        seqno: h.seqno,
        source_id: h.source_id,
        flows: 1,
        ..FlowRecord::default()
    };
    let mut pos = 0usize;
    let mut n = 0u32;
    if t.kind == Kind::Options {
        loop {
            let mut r = base.clone();
            let mut s = Scratch::default();
            match t.walk(body, pos, &mut r, &mut s, &h.time) {
                Next::Record(next) => pos = next,
                Next::End => return (n, true),
                Next::Overrun => {
                    stats.count(Malformed::BadRecord);
                    return (n, false);
                }
            }
            n = n.wrapping_add(1);
            stats.options_records += 1;
            if let Some(rate) = s.rate() {
                sampling.learn(r.sampler_id, rate);
            }
            if let Some(init) = s.system_init_ms {
                sampling.system_init_ms = Some(init);
            }
        }
    }
    // Flow records are built in place at the end of `out`: no copy per record.
    loop {
        out.push(base.clone());
        let Some(r) = out.last_mut() else {
            return (n, true);
        };
        let mut s = Scratch::default();
        match t.walk(body, pos, r, &mut s, &h.time) {
            Next::Record(next) => pos = next,
            Next::End => {
                out.pop();
                return (n, true);
            }
            Next::Overrun => {
                out.pop();
                stats.count(Malformed::BadRecord);
                return (n, false);
            }
        }
        n = n.wrapping_add(1);
        s.finish(r, &h.time, sampling.system_init_ms);
        r.sampling_rate = s
            .rate()
            .or_else(|| sampling.rate_for(r.sampler_id))
            .unwrap_or(0);
        if r.sampling_rate == 0 {
            stats.records_without_sampling_rate += 1;
        }
        stats.records += 1;
    }
}

/// The held sets of one exporter, borrowed from it.
struct HeldQueue<'a> {
    held: &'a mut VecDeque<Held>,
    bytes: &'a mut usize,
    count: &'a mut HashMap<(DomainKey, u16), u32>,
}

impl HeldQueue<'_> {
    /// Holds a data set for its template, dropping the oldest held sets (and any expired
    /// ones) to stay within the exporter's byte bound.
    #[allow(clippy::too_many_arguments)]
    fn hold(
        &mut self,
        limits: &Limits,
        stats: &mut CollectorStats,
        domain: DomainKey,
        template_id: u16,
        now: i64,
        header: Header,
        body: &[u8],
    ) {
        let cost = body.len() + HELD_OVERHEAD;
        if cost > limits.max_pending_bytes_per_exporter {
            stats.pending_dropped += 1;
            return;
        }
        while let Some(oldest) = self.held.front() {
            let expired = now.saturating_sub(oldest.arrived) > limits.pending_secs;
            if !expired && *self.bytes + cost <= limits.max_pending_bytes_per_exporter {
                break;
            }
            if let Some(oldest) = self.held.pop_front() {
                *self.bytes -= oldest.cost();
                forget_held(self.count, &oldest);
                drop_held_stats(stats, &oldest);
            }
        }
        *self.bytes += cost;
        *self.count.entry((domain, template_id)).or_insert(0) += 1;
        stats.pending_sets += 1;
        stats.pending_bytes += body.len() as u64;
        self.held.push_back(Held {
            domain,
            template_id,
            arrived: now,
            header,
            body: body.to_vec(),
        });
    }

    /// Takes the held sets of one template out of the queue, oldest first.
    fn release(
        &mut self,
        stats: &mut CollectorStats,
        domain: DomainKey,
        template_id: u16,
    ) -> Vec<Held> {
        if self.count.remove(&(domain, template_id)).is_none() {
            return Vec::new();
        }
        let matches = |h: &Held| h.domain == domain && h.template_id == template_id;
        let (released, kept): (Vec<Held>, Vec<Held>) = self.held.drain(..).partition(matches);
        *self.held = VecDeque::from(kept);
        for h in &released {
            *self.bytes -= h.cost();
            stats.pending_sets -= 1;
            stats.pending_bytes -= h.body.len() as u64;
        }
        released
    }
}

fn forget_held(count: &mut HashMap<(DomainKey, u16), u32>, h: &Held) {
    if let Entry::Occupied(mut e) = count.entry((h.domain, h.template_id)) {
        *e.get_mut() -= 1;
        if *e.get() == 0 {
            e.remove();
        }
    }
}

fn drop_held_stats(stats: &mut CollectorStats, h: &Held) {
    stats.pending_dropped += 1;
    stats.pending_sets -= 1;
    stats.pending_bytes -= h.body.len() as u64;
}

/// One record of a template set.
#[derive(Debug, PartialEq, Eq)]
enum TemplateRecord {
    Define {
        id: u16,
        kind: Kind,
        scope_count: u16,
        fields: Vec<FieldSpec>,
    },
    /// IPFIX: a template record with no fields withdraws its template.
    Withdraw(u16),
    /// IPFIX: template id 2 (or 3 in an options template set) withdraws every template (or
    /// options template) of the domain.
    WithdrawAll(Kind),
}

/// The records of a template or options template set, in order; stops at padding or at the
/// first bad record.
struct TemplateSet<'a> {
    version: u16,
    set_id: u16,
    kind: Kind,
    body: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> TemplateSet<'a> {
    fn new(version: u16, set_id: u16, kind: Kind, body: &'a [u8]) -> Self {
        TemplateSet {
            version,
            set_id,
            kind,
            body,
            pos: 0,
            failed: false,
        }
    }

    /// Parses the record at the start of `rest`: the record and its length.
    fn record(&self, rest: &[u8]) -> Result<(TemplateRecord, usize), Malformed> {
        let bad = Malformed::BadTemplate;
        let id = u16_at(rest, 0).ok_or(bad)?;
        if self.version == 9 && self.kind == Kind::Options {
            // Template id, scope length and option length in bytes, then the fields.
            let scope_len = usize::from(u16_at(rest, 2).ok_or(bad)?);
            let option_len = usize::from(u16_at(rest, 4).ok_or(bad)?);
            let used = 6 + scope_len + option_len;
            if id < 256 || scope_len % 4 != 0 || option_len % 4 != 0 || used > rest.len() {
                return Err(bad);
            }
            let count = (scope_len + option_len) / 4;
            if count > MAX_FIELDS {
                return Err(bad);
            }
            let mut fields = Vec::with_capacity(count);
            for i in 0..count {
                let at = 6 + i * 4;
                fields.push(FieldSpec {
                    pen: 0,
                    id: u16_at(rest, at).ok_or(bad)?,
                    len: u16_at(rest, at + 2).ok_or(bad)?,
                });
            }
            let scope_count = (scope_len / 4) as u16;
            return Ok((
                TemplateRecord::Define {
                    id,
                    kind: Kind::Options,
                    scope_count,
                    fields,
                },
                used,
            ));
        }
        let count = usize::from(u16_at(rest, 2).ok_or(bad)?);
        if count == 0 && self.version == 10 {
            return match id {
                _ if id == self.set_id => Ok((TemplateRecord::WithdrawAll(self.kind), 4)),
                256.. => Ok((TemplateRecord::Withdraw(id), 4)),
                _ => Err(bad),
            };
        }
        if id < 256 || count == 0 || count > MAX_FIELDS {
            return Err(bad);
        }
        let (mut at, scope_count) = if self.kind == Kind::Options {
            let scope = u16_at(rest, 4).ok_or(bad)?;
            if scope == 0 || usize::from(scope) > count {
                return Err(bad);
            }
            (6, scope)
        } else {
            (4, 0)
        };
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = u16_at(rest, at).ok_or(bad)?;
            let len = u16_at(rest, at + 2).ok_or(bad)?;
            at += 4;
            // IPFIX: the enterprise bit announces a 4-byte private enterprise number.
            let (pen, id) = if self.version == 10 && raw & 0x8000 != 0 {
                let pen = u32_at(rest, at).ok_or(bad)?;
                at += 4;
                (pen, raw & 0x7fff)
            } else {
                (0, raw)
            };
            fields.push(FieldSpec { pen, id, len });
        }
        Ok((
            TemplateRecord::Define {
                id,
                kind: self.kind,
                scope_count,
                fields,
            },
            at,
        ))
    }
}

impl Iterator for TemplateSet<'_> {
    type Item = Result<TemplateRecord, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.body.get(self.pos..)?;
        if rest.len() < 4 || all_zero(rest) {
            return None; // padding
        }
        match self.record(rest) {
            Ok((record, used)) => {
                self.pos += used;
                Some(Ok(record))
            }
            Err(reason) => {
                self.failed = true;
                Some(Err(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_ignore_restarts_and_reordering() {
        assert_eq!(sequence_gap(None, 5), 0);
        assert_eq!(sequence_gap(Some(5), 5), 0);
        assert_eq!(sequence_gap(Some(5), 8), 3);
        assert_eq!(sequence_gap(Some(5), 4), 0);
        assert_eq!(sequence_gap(Some(u32::MAX), 1), 2);
        assert_eq!(sequence_gap(Some(0), 1 << 31), 0);
    }

    #[test]
    fn sampler_rates_by_id_then_default() {
        let mut s = Sampling::default();
        assert_eq!(s.rate_for(None), None);
        s.learn(Some(3), 100);
        assert_eq!(s.rate_for(None), Some(100));
        s.learn(Some(4), 200);
        assert_eq!(s.rate_for(None), None);
        assert_eq!(s.rate_for(Some(4)), Some(200));
        assert_eq!(s.rate_for(Some(9)), None);
        s.learn(None, 50);
        assert_eq!(s.rate_for(Some(9)), Some(50));
        assert_eq!(s.rate_for(Some(3)), Some(100));
    }
}
