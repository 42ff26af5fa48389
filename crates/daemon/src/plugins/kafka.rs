//! The `kafka` plugin: each purge produced to a Kafka topic as pmacct's JSON messages
//! (docs/kafka.md), through the broker plugins' queue ([`super::broker`]) and librdkafka. A
//! batch counts as sent once librdkafka reports every message of it delivered; a message it
//! gives up on (the broker away past `message.timeout.ms`) fails the batch, which is kept and
//! sent again.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pmacct_core::config::{KafkaConfig, PluginConfig};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::broker::{BrokerSink, Message, MessageSettings, Transport};
use super::cache::PurgingCache;
use super::{Clock, PluginError};
use crate::stats::PluginStats;

/// How long librdkafka tries a message before giving it back (unless kafka_config_file says
/// otherwise): the plugin keeps it and tries again later.
const MESSAGE_TIMEOUT_MS: &str = "10000";

/// Delivery reports of the batch being sent: failures to retry (and the last one), and the
/// messages (indices in the batch) the broker refused for good.
#[derive(Default)]
struct Reports {
    failed: AtomicU64,
    last: Mutex<Option<String>>,
    refused: Mutex<Vec<usize>>,
    /// The kinds of global error logged, cleared by a delivery.
    globals_logged: Mutex<Vec<String>>,
    /// The batch being sent: a report of an earlier one (left in flight by a failed
    /// attempt) is not this batch's.
    batch: AtomicU64,
}

/// A message's delivery opaque: its batch (low 32 bits) and its index in the batch.
fn opaque(batch: u64, index: usize) -> usize {
    (((batch & 0xffff_ffff) as usize) << 32) | (index & 0xffff_ffff)
}

impl ClientContext for Reports {
    /// librdkafka's own log lines (a failed connect at every retry, ...): debug only; the
    /// plugin logs each change of the brokers' state once.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!("librdkafka ({level:?}) {fac}: {message}");
    }

    /// Global errors (all brokers down, authentication...): each kind once until messages
    /// are delivered again.
    fn error(&self, error: KafkaError, reason: &str) {
        let code = format!("{:?}", error.rdkafka_error_code());
        if let Ok(mut logged) = self.globals_logged.lock() {
            if !logged.contains(&code) {
                tracing::warn!("librdkafka: {error}: {reason}");
                logged.push(code);
            }
        }
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        if tag >> 32 != (self.batch.load(Relaxed) & 0xffff_ffff) as usize {
            return;
        }
        let index = tag & 0xffff_ffff;
        let Err((e, _)) = result else {
            if let Ok(mut logged) = self.globals_logged.lock() {
                logged.clear();
            }
            return;
        };
        if refused_for_good(e) {
            if let Ok(mut r) = self.refused.lock() {
                r.push(index);
            }
            return;
        }
        self.failed.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last.lock() {
            *last = Some(e.to_string());
        }
    }
}

/// Errors no retry will mend: the message itself is too large or invalid, or its topic's
/// name is. (A batch too large, or a CRC error, is retried.)
fn refused_for_good(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::MessageSizeTooLarge | C::InvalidMessageSize | C::InvalidRecord | C::InvalidTopic)
    )
}

/// librdkafka's largest message (`message.max.bytes`) unless the config file sets it.
const MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Room left in a message for its key, headers and framing.
const MESSAGE_OVERHEAD: usize = 4096;

/// Reads a `kafka_config_file`: `global, key, value` or `topic, key, value` lines (`#` and
/// `!` start comments); errors name the file and the line.
fn read_config_file(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("kafka_config_file: cannot read '{name}': {e}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, ',').map(str::trim).collect();
        match parts[..] {
            ["global" | "topic", "message.timeout.ms" | "delivery.timeout.ms", "0"] => {
                return Err(format!(
                    "{name}:{}: {} 0 (no timeout) would hold the plugin while the brokers are away; give a finite value (what librdkafka gives back is kept and sent again)",
                    i + 1,
                    parts[1]
                ))
            }
            [scope, key, value] if scope == "global" || scope == "topic" => {
                out.push((key.to_string(), value.to_string()))
            }
            _ => {
                return Err(format!(
                    "{name}:{}: expected 'global, key, value' or 'topic, key, value'",
                    i + 1
                ))
            }
        }
    }
    Ok(out)
}

struct Kafka {
    brokers: String,
    partition: Option<i32>,
    /// librdkafka's `message.max.bytes`.
    max_message: usize,
    /// librdkafka's `message.timeout.ms`: every message is reported by then.
    timeout: Duration,
    producer: BaseProducer<Reports>,
}

impl Kafka {
    fn new(cfg: &KafkaConfig) -> Result<Kafka, String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &cfg.brokers)
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
            // Each purge waits for its delivery reports: without this, Nagle's algorithm
            // and delayed ACKs add tens of milliseconds to every purge.
            .set("socket.nagle.disable", "true")
            .set("client.id", "pmacct-rs");
        let mut max_message = MESSAGE_MAX_BYTES;
        let mut timeout_ms: u64 = MESSAGE_TIMEOUT_MS.parse().unwrap_or(10_000);
        if let Some(path) = &cfg.config_file {
            for (k, v) in read_config_file(path)? {
                match k.as_str() {
                    "message.max.bytes" => max_message = v.parse().unwrap_or(max_message),
                    "message.timeout.ms" | "delivery.timeout.ms" => {
                        timeout_ms = v.parse().unwrap_or(timeout_ms)
                    }
                    _ => {}
                }
                c.set(k, v);
            }
        }
        if cfg.partition_dynamic {
            c.set("partitioner", "consistent_random");
        }
        let producer = c
            .create_with_context(Reports::default())
            .map_err(|e| format!("kafka: {e}"))?;
        Ok(Kafka {
            brokers: cfg.brokers.clone(),
            partition: cfg.partition,
            max_message,
            timeout: Duration::from_millis(timeout_ms),
            producer,
        })
    }

    /// Queues one message with librdkafka, waiting while its queue is full; `Ok(false)` when
    /// librdkafka refuses it for good (too large).
    fn produce(&self, m: &Message, tag: usize) -> Result<bool, String> {
        loop {
            let mut record =
                BaseRecord::<str, [u8], usize>::with_opaque_to(&m.route, tag).payload(&m.body);
            if !m.key.is_empty() {
                record = record.key(&m.key);
            }
            if let Some(p) = self.partition {
                record = record.partition(p);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(true),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(100));
                }
                Err((e, _)) if refused_for_good(&e) => return Ok(false),
                Err((e, _)) => return Err(e.to_string()),
            }
        }
    }
}

impl Transport for Kafka {
    fn name(&self) -> String {
        format!("Kafka {}", self.brokers)
    }

    fn publish(&mut self, batch: &[Message]) -> Result<Vec<usize>, String> {
        let reports = self.producer.context();
        let this = reports.batch.fetch_add(1, Relaxed) + 1;
        reports.failed.store(0, Relaxed);
        if let Ok(mut r) = reports.refused.lock() {
            r.clear();
        }
        let mut refused = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            if !self.produce(m, opaque(this, i))? {
                refused.push(i);
            }
        }
        // Polled in short steps rather than flush(), whose wait between polls adds up to
        // 100 ms to every purge.
        let started = Instant::now();
        let mut purged = false;
        while self.producer.in_flight_count() > 0 {
            self.producer.poll(Duration::from_millis(5));
            // A request on the wire to a black-holed broker waits for request.timeout.ms
            // (30 s), past message.timeout.ms: purged then, so the batch fails on time.
            if !purged && started.elapsed() > self.timeout + Duration::from_secs(1) {
                use rdkafka::producer::PurgeConfig;
                self.producer
                    .purge(PurgeConfig::default().queue().inflight());
                purged = true;
            }
            if started.elapsed() > self.timeout + Duration::from_secs(60) {
                return Err("messages still in flight a minute past message.timeout.ms".into());
            }
        }
        if let Ok(mut r) = reports.refused.lock() {
            refused.append(&mut r);
        }
        match reports.failed.load(Relaxed) {
            0 => {
                refused.sort_unstable();
                Ok(refused)
            }
            n => {
                let last = reports
                    .last
                    .lock()
                    .ok()
                    .and_then(|l| l.clone())
                    .unwrap_or_default();
                Err(format!(
                    "{n} of {} messages not delivered: {last}",
                    batch.len()
                ))
            }
        }
    }

    /// Whatever librdkafka still holds was part of a batch that failed, which the plugin has
    /// kept (spooled): purged, so neither sent twice nor waited for.
    fn close(&mut self) {
        use rdkafka::producer::PurgeConfig;
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(Duration::from_secs(1));
    }
}

pub fn start(
    config: &PluginConfig,
    cfg: &KafkaConfig,
    clock: Clock,
    stats: Arc<PluginStats>,
) -> Result<PurgingCache, PluginError> {
    let transport = Kafka::new(cfg).map_err(PluginError::Io)?;
    // Packed messages stay under librdkafka's limit, which would refuse them all.
    let mut messages = cfg.messages.clone();
    let room = transport
        .max_message
        .saturating_sub(MESSAGE_OVERHEAD)
        .max(1);
    if messages.multi_values > room {
        tracing::info!(
            "( {}/kafka ): kafka_multi_values {} is above librdkafka's message.max.bytes ({}): messages are packed up to {room} bytes",
            config.name,
            messages.multi_values,
            transport.max_message
        );
        messages.multi_values = room;
    }
    let settings = MessageSettings {
        route: cfg.topic.clone(),
        route_rr: cfg.topic_rr,
        key: cfg.partition_key.clone(),
        messages,
    };
    let sink =
        BrokerSink::new(config, settings, transport, stats.clone()).map_err(PluginError::Io)?;
    PurgingCache::new(config, clock, sink, false, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_tag_holds_the_batch_and_the_index() {
        assert_eq!(opaque(7, 3) >> 32, 7);
        assert_eq!(opaque(7, 3) & 0xffff_ffff, 3);
        assert_eq!(opaque(0x1_0000_0007, 3), opaque(7, 3));
    }

    #[test]
    fn the_config_file_takes_global_and_topic_lines_and_names_a_bad_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("k.conf");
        std::fs::write(
            &f,
            "# comment\nglobal, compression.codec, lz4\ntopic, acks, all\n",
        )
        .expect("file");
        assert_eq!(
            read_config_file(&f).expect("reads"),
            [
                ("compression.codec".to_string(), "lz4".to_string()),
                ("acks".to_string(), "all".to_string())
            ]
        );
        std::fs::write(&f, "topic, message.timeout.ms, 0\n").expect("file");
        assert_eq!(
            read_config_file(&f).unwrap_err(),
            format!(
                "{}:1: message.timeout.ms 0 (no timeout) would hold the plugin while the brokers are away; give a finite value (what librdkafka gives back is kept and sent again)",
                f.display()
            )
        );
        std::fs::write(&f, "global, a, b\nbroker=1\n").expect("file");
        assert_eq!(
            read_config_file(&f).unwrap_err(),
            format!(
                "{}:2: expected 'global, key, value' or 'topic, key, value'",
                f.display()
            )
        );
    }
}
