//! The `amqp` plugin: each purge published to a RabbitMQ exchange as pmacct's JSON messages
//! (a record per message, or `amqp_multi_values` bytes of them, with `writer_id`), optionally
//! between `purge_init` and `purge_close` markers (docs/amqp.md).
//!
//! Promises: a message leaves the queue only once the broker has confirmed it (publisher
//! confirms); while the broker is down messages are kept in order, in memory up to
//! [`MAX_PENDING_BYTES`] and beyond that in the spool file, retried every
//! [`RETRY_EVERY`]; at exit what is left goes to the spool file, sent first at the next
//! start. A failure is logged once per change of state.

mod client;

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use pmacct_core::config::{AmqpConfig, PluginConfig};
use pmacct_core::format::{Format, RowFormat};
use pmacct_core::key::KeyFields;
use pmacct_core::primitive::Primitive;

use super::cache::{Purge, PurgeSink, PurgingCache};
use super::{Clock, PluginError};
use crate::stats::PluginStats;
use client::{Connect, Publisher};

/// Messages kept in memory beyond this go to the spool file.
const MAX_PENDING_BYTES: usize = 64 << 20;
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Messages published before waiting for their confirms.
const CONFIRM_BATCH: usize = 1024;

/// One message: its routing key and body.
type Message = (String, Vec<u8>);

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

pub struct AmqpSink {
    label: String,
    cfg: AmqpConfig,
    format: RowFormat,
    writer_id: String,
    pending: VecDeque<Message>,
    pending_bytes: usize,
    /// Messages in the spool file, older than those in memory.
    spooled: usize,
    publisher: Option<Publisher>,
    /// The last failure logged.
    failing: Option<String>,
    rr_next: u64,
    stats: Arc<PluginStats>,
}

impl AmqpSink {
    fn new(config: &PluginConfig, cfg: &AmqpConfig, stats: Arc<PluginStats>) -> AmqpSink {
        let mut format = RowFormat::new(Format::Json, config.aggregate.columns.iter().copied());
        format.num_protos = config.num_protos;
        format.tz = pmacct_core::bins::time_zone(config.timestamps_utc);
        format.timestamps_secs = config.timestamps_secs;
        format.timestamps_since_epoch = config.timestamps_since_epoch;
        format.stamps = config.bins.is_some();
        let label = format!("{}/{}", config.name, config.kind);
        let spooled = spool::count(&cfg.spool);
        if spooled > 0 {
            tracing::info!(
                "( {label} ): spool file '{}' holds {spooled} messages from an earlier run: sending them first",
                cfg.spool.display()
            );
        }
        stats.spooled_rows.store(spooled as u64, Relaxed);
        AmqpSink {
            writer_id: format!("{}/{}", config.name, std::process::id()),
            label,
            cfg: cfg.clone(),
            format,
            pending: VecDeque::new(),
            pending_bytes: 0,
            spooled,
            publisher: None,
            failing: None,
            rr_next: 0,
            stats,
        }
    }

    fn routing_key(&mut self, base: String) -> String {
        match self.cfg.routing_key_rr {
            0 => base,
            n => {
                let k = format!("{base}_{}", self.rr_next % u64::from(n));
                self.rr_next += 1;
                k
            }
        }
    }

    fn marker(&mut self, body: String) {
        let key = self.routing_key(self.cfg.routing_key.clone());
        self.queue((key, body.into_bytes()));
    }

    fn queue(&mut self, m: Message) {
        self.pending_bytes += m.1.len();
        self.pending.push_back(m);
        if self.pending_bytes > MAX_PENDING_BYTES {
            self.spill();
        }
    }

    /// The purge's records as messages: one record each, or packed by routing key up to
    /// `amqp_multi_values` bytes.
    fn messages(&mut self, purge: &Purge) -> usize {
        let rows = purge.table.sorted_rows();
        let dynamic = self.cfg.routing_key.contains('$');
        let mut packing: Vec<(String, Vec<u8>)> = Vec::new();
        let mut line = String::new();
        for i in 0..rows.len() {
            let (key, c) = rows.row(i);
            line.clear();
            self.format
                .push_row(&mut line, &key, &c, Some((rows.bin(i), purge.now.wall)));
            if line.ends_with('}') {
                line.pop();
                line.push_str(&format!(", \"writer_id\": \"{}\"}}", self.writer_id));
            }
            let base = match dynamic {
                true => expand_key(&self.cfg.routing_key, &key),
                false => self.cfg.routing_key.clone(),
            };
            if self.cfg.multi_values == 0 {
                let k = self.routing_key(base);
                self.queue((k, line.clone().into_bytes()));
                continue;
            }
            let slot = match packing.iter().position(|(k, _)| *k == base) {
                Some(s) => s,
                None => {
                    packing.push((base.clone(), Vec::new()));
                    packing.len() - 1
                }
            };
            let budget = self.cfg.multi_values;
            if !packing[slot].1.is_empty() && packing[slot].1.len() + line.len() + 1 >= budget {
                let body = std::mem::take(&mut packing[slot].1);
                let k = self.routing_key(base.clone());
                self.queue((k, body));
            }
            packing[slot].1.extend_from_slice(line.as_bytes());
            packing[slot].1.push(b'\n');
        }
        for (base, body) in packing {
            if !body.is_empty() {
                let k = self.routing_key(base);
                self.queue((k, body));
            }
        }
        rows.len()
    }

    /// Moves what memory holds to the end of the spool file.
    fn spill(&mut self) {
        let messages: Vec<Message> = self.pending.drain(..).collect();
        self.pending_bytes = 0;
        match spool::append(&self.cfg.spool, &messages) {
            Ok(()) => self.spooled += messages.len(),
            Err(e) => {
                tracing::error!(
                    "( {} ): cannot write the spool file '{}': {e}; keeping {} messages in memory",
                    self.label,
                    self.cfg.spool.display(),
                    messages.len()
                );
                self.pending_bytes = messages.iter().map(|m| m.1.len()).sum();
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
                self.pending_bytes -= m.1.len();
            }
        }
        self.stats.kept_rows.store(0, Relaxed);
        if let Some(was) = self.failing.take() {
            tracing::info!(
                "( {} ): broker {}:{} back (was: {was}); every kept message sent",
                self.label,
                self.cfg.host,
                self.cfg.port
            );
        }
    }

    fn send_spool(&mut self) -> Result<(), String> {
        let messages = spool::read(&self.cfg.spool).map_err(|e| format!("spool file: {e}"))?;
        for batch in messages.chunks(CONFIRM_BATCH) {
            self.publish(batch)?;
        }
        std::fs::remove_file(&self.cfg.spool).map_err(|e| format!("spool file: {e}"))?;
        self.spooled = 0;
        self.stats.spooled_rows.store(0, Relaxed);
        Ok(())
    }

    fn publish(&mut self, batch: &[Message]) -> Result<(), String> {
        if self.publisher.is_none() {
            let mut p = Publisher::connect(&Connect {
                host: self.cfg.host.clone(),
                port: self.cfg.port,
                vhost: self.cfg.vhost.clone(),
                user: self.cfg.user.clone(),
                password: self.cfg.password.clone(),
                frame_max: self.cfg.frame_max,
                heartbeat: self.cfg.heartbeat,
            })
            .map_err(|e| e.to_string())?;
            p.declare_exchange(
                &self.cfg.exchange,
                &self.cfg.exchange_type,
                self.cfg.persistent,
            )
            .map_err(|e| e.to_string())?;
            self.publisher = Some(p);
        }
        let Some(p) = self.publisher.as_mut() else {
            return Err("not connected".into());
        };
        let result = p.publish(&self.cfg.exchange, batch, self.cfg.persistent);
        if result.is_err() {
            // A connection that failed mid-way is not reused: the next attempt reconnects.
            self.publisher = None;
        }
        result.map_err(|e| e.to_string())
    }

    fn failed(&mut self, e: String) {
        self.stats.write_retries.fetch_add(1, Relaxed);
        self.stats
            .kept_rows
            .store(self.pending.len() as u64, Relaxed);
        if self.failing.as_deref() != Some(e.as_str()) {
            tracing::warn!(
                "( {} ): broker {}:{}: {e}; {} messages kept, retried every {} s",
                self.label,
                self.cfg.host,
                self.cfg.port,
                self.pending.len() + self.spooled,
                RETRY_EVERY.as_secs()
            );
            self.failing = Some(e);
        }
    }
}

impl PurgeSink for AmqpSink {
    fn write(&mut self, purge: &mut Purge) {
        let started = std::time::Instant::now();
        if self.cfg.markers {
            let init = format!(
                "{{\"event_type\": \"purge_init\", \"writer_id\": \"{}\"}}",
                self.writer_id
            );
            self.marker(init);
        }
        let records = self.messages(purge);
        if self.cfg.markers {
            let close = format!(
                "{{\"event_type\": \"purge_close\", \"writer_id\": \"{}\", \"purged_entries\": {records}, \"total_entries\": {records}, \"duration\": {}}}",
                self.writer_id,
                started.elapsed().as_secs()
            );
            self.marker(close);
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
                self.cfg.spool.display()
            );
        }
        if let Some(p) = self.publisher.take() {
            p.close();
        }
    }

    fn merges_split_bins(&self) -> bool {
        true
    }
}

/// The spool file: per message a line `<routing key>\t<body length>`, then the body and a
/// newline.
mod spool {
    use super::Message;
    use std::io::Write as _;
    use std::path::Path;

    pub fn append(path: &Path, messages: &[Message]) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut out = Vec::new();
        for (key, body) in messages {
            out.extend_from_slice(format!("{key}\t{}\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            out.push(b'\n');
        }
        f.write_all(&out)?;
        f.sync_data()
    }

    pub fn read(path: &Path) -> std::io::Result<Vec<Message>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let head = String::from_utf8_lossy(&bytes[at..at + nl]).into_owned();
            let Some((key, len)) = head.split_once('\t') else {
                break;
            };
            let Ok(len) = len.parse::<usize>() else {
                break;
            };
            let start = at + nl + 1;
            let Some(body) = bytes.get(start..start + len) else {
                break;
            };
            out.push((key.to_string(), body.to_vec()));
            at = start + len + 1;
        }
        Ok(out)
    }

    pub fn count(path: &Path) -> usize {
        read(path).map(|m| m.len()).unwrap_or(0)
    }
}

pub fn start(
    config: &PluginConfig,
    cfg: &AmqpConfig,
    clock: Clock,
    stats: Arc<PluginStats>,
) -> Result<PurgingCache, PluginError> {
    let sink = AmqpSink::new(config, cfg, stats.clone());
    PurgingCache::new(config, clock, sink, false, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_keeps_messages_with_newlines_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.spool");
        let a: Vec<Message> = vec![
            ("acct".into(), b"{\"a\": 1}\n{\"b\": 2}\n".to_vec()),
            ("k_1".into(), b"{}".to_vec()),
        ];
        spool::append(&path, &a).expect("append");
        spool::append(&path, &a[..1]).expect("append");
        let back = spool::read(&path).expect("read");
        assert_eq!(back.len(), 3);
        assert_eq!(back[..2], a[..]);
        assert_eq!(spool::count(&path), 3);
    }
}
