//! What the broker plugins (amqp, kafka) share: each purge as pmacct's JSON messages, or
//! Avro ones (a record per message, or `*_multi_values` bytes of them, with `writer_id`), optionally
//! between `purge_init` and `purge_close` markers, routed by a key with pmacct's variables;
//! and the queue that keeps them while the broker is away. A plugin brings its
//! [`Transport`].
//!
//! Promises: a message leaves the queue only once the transport says the broker has it;
//! while the broker is down messages are kept in order, in memory up to
//! [`MAX_PENDING_BYTES`] and beyond that in the spool file, retried every
//! [`RETRY_EVERY`]; at exit what is left goes to the spool file, sent first at the next
//! start. A failure is logged once per change of state.

mod spool;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use pmacct_core::config::{BrokerOutput, MessagesConfig, PluginConfig};
use pmacct_core::format::avro::{self, AvroValue};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::{Counters, KeyFields};
use pmacct_core::primitive::Primitive;

use super::cache::{Purge, PurgeSink};
use crate::stats::PluginStats;

/// Messages kept in memory beyond this go to the spool file.
const MAX_PENDING_BYTES: usize = 64 << 20;
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Messages published before waiting for their confirms.
const CONFIRM_BATCH: usize = 1024;

/// One message: where it goes (routing key, topic), its key (Kafka's partition key; empty
/// for none) and its body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub route: String,
    pub key: String,
    pub body: Vec<u8>,
}

/// How a broker plugin reaches its broker.
pub trait Transport: Send + 'static {
    /// Where messages go, for the logs.
    fn name(&self) -> String;
    /// Sends the messages in order. `Ok` once the broker has them all but those it refuses
    /// for good (too large, invalid: their indices, dropped and counted by the caller, never
    /// retried); `Err` to retry the whole batch later (a failure may leave some delivered:
    /// they are sent again, at least once).
    fn publish(&mut self, batch: &[Message]) -> Result<Vec<usize>, String>;
    /// Whether the broker can be reached now (checked before a large spool file is read).
    fn ready(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// At exit.
    fn close(&mut self) {}
}

/// How purges become messages.
#[derive(Clone, Debug)]
pub struct MessageSettings {
    /// The routing key or topic, with pmacct's variables.
    pub route: String,
    /// Spread messages over `<route>_0` ... `<route>_N-1` (0: no).
    pub route_rr: u32,
    /// Each message's key, with pmacct's variables (empty: none).
    pub key: String,
    /// Format, packing, markers and spool file.
    pub messages: MessagesConfig,
}

/// A routing key's variables, each read from a record.
const KEY_VARIABLES: [(&str, Primitive); 11] = [
    ("$peer_src_ip", Primitive::PeerSrcIp),
    ("$peer_dst_ip", Primitive::PeerDstIp),
    ("$post_tag2", Primitive::Tag2),
    ("$post_tag", Primitive::Tag),
    ("$tag2", Primitive::Tag2),
    ("$tag", Primitive::Tag),
    ("$in_iface", Primitive::InIface),
    ("$out_iface", Primitive::OutIface),
    ("$src_host", Primitive::SrcHost),
    ("$dst_host", Primitive::DstHost),
    ("$proto", Primitive::Proto),
];

/// A routing key with each variable replaced by the record's value (addresses with `.` and
/// `:` as `_`, as pmacct writes them).
fn expand_key(template: &str, key: &impl KeyFields) -> String {
    let mut out = template.to_string();
    for (name, p) in KEY_VARIABLES {
        if !out.contains(name) {
            continue;
        }
        let value = match p {
            Primitive::PeerSrcIp
            | Primitive::PeerDstIp
            | Primitive::SrcHost
            | Primitive::DstHost => key.addr(p).to_string().replace(['.', ':'], "_"),
            _ => key.number(p).to_string(),
        };
        out = out.replace(name, &value);
    }
    out
}

pub struct BrokerSink<T: Transport> {
    label: String,
    cfg: MessageSettings,
    transport: T,
    format: RowFormat,
    writer_id: String,
    pending: VecDeque<Message>,
    pending_bytes: usize,
    /// Messages in the spool file, older than those in memory.
    spooled: usize,
    /// The last failure logged.
    failing: Option<String>,
    /// The spool file could not be written: not tried again until the broker takes messages.
    spool_broken: bool,
    rr_next: u64,
    stats: Arc<PluginStats>,
}

impl<T: Transport> BrokerSink<T> {
    /// A sink; with Avro output the schemas are written for consumers first.
    pub fn new(
        config: &PluginConfig,
        cfg: MessageSettings,
        transport: T,
        stats: Arc<PluginStats>,
    ) -> Result<BrokerSink<T>, String> {
        let mut format = RowFormat::new(Format::Json, config.aggregate.columns.iter().copied());
        format.num_protos = config.num_protos;
        format.tz = pmacct_core::bins::time_zone(config.timestamps_utc);
        format.timestamps_secs = config.timestamps_secs;
        format.timestamps_since_epoch = config.timestamps_since_epoch;
        format.stamps = config.bins.is_some();
        if cfg.messages.output != BrokerOutput::Json {
            check_avro_names(&format)?;
        }
        if let Some(path) = &cfg.messages.avro_schema_file {
            write_schemas(path, &format, cfg.messages.markers)?;
        }
        let label = format!("{}/{}", config.name, config.kind);
        let spooled = spooled_messages(&cfg.messages, &label);
        let spool_file = &cfg.messages.spool;
        if spooled > 0 {
            tracing::info!(
                "( {label} ): spool file '{}' holds {spooled} messages from an earlier run: sending them first",
                spool_file.display()
            );
        }
        stats.spooled_rows.store(spooled as u64, Relaxed);
        Ok(BrokerSink {
            writer_id: format!("{}/{}", config.name, std::process::id()),
            label,
            cfg,
            transport,
            format,
            pending: VecDeque::new(),
            pending_bytes: 0,
            spooled,
            failing: None,
            spool_broken: false,
            rr_next: 0,
            stats,
        })
    }

    fn routing_key(&mut self, base: String) -> String {
        match self.cfg.route_rr {
            0 => base,
            n => {
                let k = format!("{base}_{}", self.rr_next % u64::from(n));
                self.rr_next += 1;
                k
            }
        }
    }

    /// A `purge_init` (no counts) or `purge_close` marker in the plugin's output format.
    fn marker(&mut self, event: &str, counts: Option<(usize, u64)>) {
        let writer_id = self.writer_id.clone();
        let fields = marker_fields(event, &writer_id, counts);
        let body = match self.cfg.messages.output {
            BrokerOutput::Json | BrokerOutput::AvroJson => {
                let mut s = String::new();
                avro::push_json(&mut s, &fields);
                s.into_bytes()
            }
            BrokerOutput::Avro => {
                let mut out = Vec::new();
                avro::push_binary(&mut out, &fields);
                out
            }
        };
        let route = self.routing_key(self.cfg.route.clone());
        let key = self.cfg.key.clone();
        self.queue(Message { route, key, body });
    }

    /// Queues a message. Past [`MAX_PENDING_BYTES`] the queue is sent now if the broker is
    /// not known to be away, and what is left goes to the spool file.
    fn queue(&mut self, m: Message) {
        self.pending_bytes += m.body.len();
        self.pending.push_back(m);
        if self.pending_bytes > MAX_PENDING_BYTES {
            if self.failing.is_none() {
                self.flush();
            }
            if self.pending_bytes > MAX_PENDING_BYTES && !self.spool_broken {
                self.spill();
            }
        }
    }

    /// A record's route and key, variables expanded.
    fn route_of(&self, key: &impl KeyFields) -> (String, String) {
        let expand = |t: &String| match t.contains('$') {
            true => expand_key(t, key),
            false => t.clone(),
        };
        (expand(&self.cfg.route), expand(&self.cfg.key))
    }

    /// One record in the plugin's output format, appended to `out`.
    fn encode(&self, out: &mut Vec<u8>, key: &impl KeyFields, c: &Counters, stamps: (i64, i64)) {
        let writer_id = [("writer_id", self.writer_id.as_str())];
        match self.cfg.messages.output {
            BrokerOutput::Json => {
                let mut line = String::with_capacity(256);
                self.format.push_row(&mut line, key, c, Some(stamps));
                if line.ends_with('}') {
                    line.pop();
                    line.push_str(", \"writer_id\": ");
                    avro::push_json_string(&mut line, &self.writer_id);
                    line.push('}');
                }
                out.extend_from_slice(line.as_bytes());
            }
            BrokerOutput::AvroJson => {
                let mut line = String::with_capacity(256);
                self.format
                    .with_avro_row(key, c, Some(stamps), &writer_id, |fields| {
                        avro::push_json(&mut line, fields)
                    });
                out.extend_from_slice(line.as_bytes());
            }
            BrokerOutput::Avro => {
                self.format
                    .with_avro_row(key, c, Some(stamps), &writer_id, |fields| {
                        avro::push_binary(out, fields)
                    })
            }
        }
    }

    /// The purge's records as messages: one record each, or packed by route and key up to
    /// `*_multi_values` bytes (JSON lines end in a newline; Avro records follow each other).
    fn messages(&mut self, purge: &Purge) -> usize {
        let rows = purge.table.sorted_rows();
        let separator: &[u8] = match self.cfg.messages.output {
            BrokerOutput::Avro => b"",
            _ => b"\n",
        };
        let mut packing: Vec<Message> = Vec::new();
        let mut slots: std::collections::HashMap<(String, String), usize> = Default::default();
        let mut record = Vec::with_capacity(256);
        for i in 0..rows.len() {
            let (key, c) = rows.row(i);
            record.clear();
            self.encode(&mut record, &key, &c, (rows.bin(i), purge.now.wall));
            let (route, msg_key) = self.route_of(&key);
            if self.cfg.messages.multi_values == 0 {
                let route = self.routing_key(route);
                self.queue(Message {
                    route,
                    key: msg_key,
                    body: record.clone(),
                });
                continue;
            }
            let slot = *slots
                .entry((route.clone(), msg_key.clone()))
                .or_insert_with(|| {
                    packing.push(Message {
                        route: route.clone(),
                        key: msg_key.clone(),
                        body: Vec::new(),
                    });
                    packing.len() - 1
                });
            let size = packing[slot].body.len() + record.len() + separator.len();
            if !packing[slot].body.is_empty() && size >= self.cfg.messages.multi_values {
                let body = std::mem::take(&mut packing[slot].body);
                let route = self.routing_key(route);
                self.queue(Message {
                    route,
                    key: msg_key,
                    body,
                });
            }
            packing[slot].body.extend_from_slice(&record);
            packing[slot].body.extend_from_slice(separator);
        }
        for m in packing {
            if !m.body.is_empty() {
                let route = self.routing_key(m.route);
                self.queue(Message { route, ..m });
            }
        }
        rows.len()
    }

    /// Moves what memory holds to the end of the spool file.
    fn spill(&mut self) {
        let messages: Vec<Message> = self.pending.drain(..).collect();
        self.pending_bytes = 0;
        match spool::append(&self.cfg.messages.spool, &messages) {
            Ok(()) => self.spooled += messages.len(),
            Err(e) => {
                // Not tried again until the broker takes messages: no retry per message.
                self.spool_broken = true;
                tracing::error!(
                    "( {} ): cannot write the spool file '{}': {e}; keeping {} messages in memory",
                    self.label,
                    self.cfg.messages.spool.display(),
                    messages.len()
                );
                self.pending_bytes = messages.iter().map(|m| m.body.len()).sum();
                self.pending.extend(messages);
            }
        }
        self.stats.spooled_rows.store(self.spooled as u64, Relaxed);
    }

    /// Sends the spool, then what memory holds, in order, until done or the broker fails.
    fn flush(&mut self) {
        if self.spooled > 0 {
            match self.send_spool() {
                Ok(()) => {}
                Err(e) => return self.failed(e),
            }
        }
        while !self.pending.is_empty() {
            let n = self.pending.len().min(CONFIRM_BATCH);
            let batch: Vec<Message> = self.pending.iter().take(n).cloned().collect();
            if let Err(e) = self.publish(&batch) {
                return self.failed(e);
            }
            for m in self.pending.drain(..n) {
                self.pending_bytes -= m.body.len();
            }
        }
        self.stats.kept_rows.store(0, Relaxed);
        self.spool_broken = false;
        if let Some(was) = self.failing.take() {
            tracing::info!(
                "( {} ): {} back (was: {was}); every kept message sent",
                self.label,
                self.transport.name()
            );
        }
    }

    /// Sends the spool file's messages; what a failure leaves is written back to it, so
    /// nothing sent is sent again. A damaged file is kept aside, its readable part sent.
    fn send_spool(&mut self) -> Result<(), String> {
        self.transport.ready()?;
        let path = self.cfg.messages.spool.clone();
        let (messages, complete) = spool::read(&path).map_err(|e| format!("spool file: {e}"))?;
        if !complete {
            let aside = path.with_extension("damaged");
            let _ = std::fs::rename(&path, &aside);
            tracing::error!(
                "( {} ): the spool file '{}' is damaged after {} messages: kept as '{}', the messages before the damage sent",
                self.label,
                path.display(),
                messages.len(),
                aside.display()
            );
        }
        for (i, batch) in messages.chunks(CONFIRM_BATCH).enumerate() {
            if let Err(e) = self.publish(batch) {
                let rest = &messages[i * CONFIRM_BATCH..];
                match spool::rewrite(&path, rest) {
                    Ok(()) => self.spooled = rest.len(),
                    Err(w) => tracing::error!(
                        "( {} ): cannot rewrite the spool file '{}': {w}",
                        self.label,
                        path.display()
                    ),
                }
                self.stats.spooled_rows.store(self.spooled as u64, Relaxed);
                return Err(e);
            }
        }
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                // Emptied instead, or every message would be sent again on the next retry.
                let _ = std::fs::File::create(&path);
            }
        }
        self.spooled = 0;
        self.stats.spooled_rows.store(0, Relaxed);
        Ok(())
    }

    /// Sends a batch; what the broker refuses for good is dropped, counted and logged.
    fn publish(&mut self, batch: &[Message]) -> Result<(), String> {
        let refused = self.transport.publish(batch)?;
        if refused.is_empty() {
            return Ok(());
        }
        self.stats
            .refused_messages
            .fetch_add(refused.len() as u64, Relaxed);
        let first = refused.first().and_then(|i| batch.get(*i));
        tracing::error!(
            "( {} ): {} refused {} message(s) for good (too large or invalid; the first: {} bytes to '{}'): dropped, not retried",
            self.label,
            self.transport.name(),
            refused.len(),
            first.map_or(0, |m| m.body.len()),
            first.map_or("", |m| m.route.as_str())
        );
        Ok(())
    }

    fn failed(&mut self, e: String) {
        self.stats.write_retries.fetch_add(1, Relaxed);
        self.stats
            .kept_rows
            .store(self.pending.len() as u64, Relaxed);
        if self.failing.as_deref() != Some(e.as_str()) {
            tracing::warn!(
                "( {} ): {}: {e}; {} messages kept, retried every {} s",
                self.label,
                self.transport.name(),
                self.pending.len() + self.spooled,
                RETRY_EVERY.as_secs()
            );
            self.failing = Some(e);
        }
    }
}

/// A marker's fields: `event_type`, `writer_id`, and for `purge_close` the records purged
/// (`purged_entries`, `total_entries`) and the seconds it took (`duration`).
fn marker_fields<'a>(
    event: &'a str,
    writer_id: &'a str,
    counts: Option<(usize, u64)>,
) -> Vec<(&'a str, AvroValue<'a>)> {
    let mut fields = vec![
        ("event_type", AvroValue::Str(event)),
        ("writer_id", AvroValue::Str(writer_id)),
    ];
    if let Some((records, secs)) = counts {
        let n = i64::try_from(records).unwrap_or(i64::MAX);
        fields.push(("purged_entries", AvroValue::Long(n)));
        fields.push(("total_entries", AvroValue::Long(n)));
        fields.push((
            "duration",
            AvroValue::Long(i64::try_from(secs).unwrap_or(0)),
        ));
    }
    fields
}

/// The messages the spool file holds from an earlier run. A spool of the other output format
/// (JSON messages start with `{`, an Avro record never does) would reach consumers in the
/// wrong format: it is kept aside as `.other-format` and not sent.
fn spooled_messages(cfg: &MessagesConfig, label: &str) -> usize {
    let Ok((messages, _)) = spool::read(&cfg.spool) else {
        return 0;
    };
    let Some(first) = messages.first() else {
        return 0;
    };
    let json = first.body.first() == Some(&b'{');
    if json == (cfg.output != BrokerOutput::Avro) {
        return messages.len();
    }
    let aside = cfg.spool.with_extension("other-format");
    let _ = std::fs::rename(&cfg.spool, &aside);
    tracing::warn!(
        "( {label} ): the spool file '{}' holds {} messages of another output format: kept as '{}', not sent",
        cfg.spool.display(),
        messages.len(),
        aside.display()
    );
    0
}

/// Avro field names must differ: a custom primitive named like a counter (`bytes`), a stamp or
/// another primitive once made valid (`a-b` and `a_b`) is an error naming both.
fn check_avro_names(format: &RowFormat) -> Result<(), String> {
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    for (name, _) in format.avro_fields(&["writer_id"]) {
        let valid = avro::avro_name(&name);
        if let Some(other) = seen.insert(valid.clone(), name.clone()) {
            return Err(format!(
                "Avro output: '{other}' and '{name}' would both be the field '{valid}'; rename the custom primitive"
            ));
        }
    }
    Ok(())
}

/// Writes the record schema to `path` (and the markers' to `path.purge_init` and
/// `path.purge_close`), each replaced whole so a consumer never reads half a schema.
fn write_schemas(path: &Path, format: &RowFormat, markers: bool) -> Result<(), String> {
    let mut files = vec![(path.to_path_buf(), format.avro_schema(&["writer_id"]))];
    if markers {
        for (event, counts) in [("purge_init", None), ("purge_close", Some((0, 0)))] {
            let schema = avro::schema_of(event, &marker_fields(event, "", counts));
            files.push((PathBuf::from(format!("{}.{event}", path.display())), schema));
        }
    }
    for (file, text) in files {
        let tmp = PathBuf::from(format!("{}.tmp", file.display()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|e| format!("avro_schema_file: cannot write '{}': {e}", file.display()))?;
    }
    Ok(())
}

impl<T: Transport> PurgeSink for BrokerSink<T> {
    fn write(&mut self, purge: &mut Purge) {
        let started = std::time::Instant::now();
        if self.cfg.messages.markers {
            self.marker("purge_init", None);
        }
        let records = self.messages(purge);
        if self.cfg.messages.markers {
            self.marker("purge_close", Some((records, started.elapsed().as_secs())));
        }
        self.flush();
        tracing::info!(
            "( {} ): *** Purging cache - END (QN: {records}/{records}, ET: {}) ***",
            self.label,
            started.elapsed().as_secs()
        );
    }

    fn wake_in(&self) -> Option<Duration> {
        (!self.pending.is_empty() || self.spooled > 0).then_some(RETRY_EVERY)
    }

    fn tick(&mut self) {
        self.flush();
    }

    fn finish(&mut self) {
        self.flush();
        if !self.pending.is_empty() {
            self.spill();
            tracing::warn!(
                "( {} ): broker unavailable at exit: {} messages kept in '{}', sent at the next start",
                self.label,
                self.spooled,
                self.cfg.messages.spool.display()
            );
        }
        self.transport.close();
    }

    fn merges_split_bins(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that refuses bodies longer than 8 bytes for good and keeps the others.
    struct Picky {
        got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    }

    impl Transport for Picky {
        fn name(&self) -> String {
            "picky".into()
        }
        fn publish(&mut self, batch: &[Message]) -> Result<Vec<usize>, String> {
            let mut refused = Vec::new();
            for (i, m) in batch.iter().enumerate() {
                match m.body.len() > 8 {
                    true => refused.push(i),
                    false => self.got.lock().expect("lock").push(m.body.clone()),
                }
            }
            Ok(refused)
        }
    }

    #[test]
    fn a_spool_of_the_other_format_is_kept_aside_not_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.spool");
        let json = Message {
            route: "acct".into(),
            key: String::new(),
            body: b"{\"event_type\": \"purge\"}".to_vec(),
        };
        spool::append(&path, &[json.clone(), json]).expect("append");
        let mut cfg = MessagesConfig {
            multi_values: 0,
            markers: false,
            output: BrokerOutput::AvroJson,
            avro_schema_file: None,
            spool: path.clone(),
        };
        assert_eq!(spooled_messages(&cfg, "t"), 2);
        cfg.output = BrokerOutput::Avro;
        assert_eq!(spooled_messages(&cfg, "t"), 0);
        assert!(!path.exists());
        assert!(dir.path().join("x.other-format").exists());
    }

    #[test]
    fn messages_refused_for_good_are_dropped_and_counted_and_block_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "plugins: amqp[m]\namqp_spool_file[m]: {}\n",
            dir.path().join("spool").display()
        );
        let config = pmacct_core::config::load("t.conf", &text, Vec::new(), &mut Vec::new())
            .expect("config");
        let plugin = &config.plugins[0];
        let pmacct_core::config::PluginOptions::Amqp(a) = &plugin.options else {
            panic!("not amqp")
        };
        let settings = MessageSettings {
            route: "acct".into(),
            route_rr: 0,
            key: String::new(),
            messages: a.messages.clone(),
        };
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stats = Arc::new(PluginStats::default());
        let transport = Picky { got: got.clone() };
        let mut sink = BrokerSink::new(plugin, settings, transport, stats.clone()).expect("sink");
        for body in ["a", "far too long", "b", "also too long", "c"] {
            sink.queue(Message {
                route: "acct".into(),
                key: String::new(),
                body: body.as_bytes().to_vec(),
            });
        }
        sink.flush();
        assert_eq!(
            *got.lock().expect("lock"),
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(stats.refused_messages.load(Relaxed), 2);
        assert!(sink.pending.is_empty() && sink.failing.is_none());
        assert_eq!(sink.pending_bytes, 0);
    }

    #[test]
    fn the_spool_keeps_messages_with_newlines_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.spool");
        let a: Vec<Message> = vec![
            Message {
                route: "acct".into(),
                key: "10_0_0_1".into(),
                body: b"{\"a\": 1}\n{\"b\": 2}\n".to_vec(),
            },
            Message {
                route: "k_1".into(),
                key: String::new(),
                body: b"{}".to_vec(),
            },
        ];
        spool::append(&path, &a).expect("append");
        spool::append(&path, &a[..1]).expect("append");
        let (back, complete) = spool::read(&path).expect("read");
        assert!(complete);
        assert_eq!(back.len(), 3);
        assert_eq!(back[..2], a[..]);
        assert_eq!(spool::read(&path).expect("read").0.len(), 3);
        // A record cut short (a crash while appending): what comes before it is read.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, bytes).expect("write");
        let (back, complete) = spool::read(&path).expect("read");
        assert!(!complete);
        assert_eq!(back[..], a[..]);
        spool::rewrite(&path, &a[1..]).expect("rewrite");
        assert_eq!(spool::read(&path).expect("read"), (a[1..].to_vec(), true));
    }
}
