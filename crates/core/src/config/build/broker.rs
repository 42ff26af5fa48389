//! The amqp and kafka plugins' options (docs/amqp.md, docs/kafka.md).

use std::path::PathBuf;

use super::{parse_uint, Reader};

/// The broker plugins' message format (`amqp_output`, `kafka_output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerOutput {
    /// pmacct's JSON objects.
    Json,
    /// Apache Avro, binary: records back to back, no container.
    Avro,
    /// Apache Avro's JSON encoding.
    AvroJson,
}

/// How the broker plugins turn purges into messages, and where they keep them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagesConfig {
    /// Bytes of records per message (0: one record a message).
    pub multi_values: usize,
    pub markers: bool,
    pub output: BrokerOutput,
    /// Where the Avro schema is written for consumers (`avro_schema_file`).
    pub avro_schema_file: Option<PathBuf>,
    /// Where messages the broker could not take are kept across restarts.
    pub spool: PathBuf,
}

fn build_messages(r: &mut Reader, name: &str, kind: &str) -> MessagesConfig {
    let output = match r
        .text("amqp_output")
        .map(|o| o.to_ascii_lowercase())
        .as_deref()
    {
        Some("avro") => BrokerOutput::Avro,
        Some("avro_json") => BrokerOutput::AvroJson,
        _ => BrokerOutput::Json,
    };
    let avro_schema_file = r.path("avro_schema_file");
    if avro_schema_file.is_some() && output == BrokerOutput::Json {
        r.error(
            "avro_schema_file",
            format!("{kind}_output is json: set {kind}_output to avro or avro_json"),
        );
    }
    if r.text("kafka_avro_schema_registry").is_some() {
        r.error(
            "kafka_avro_schema_registry",
            "Confluent's schema registry is not supported by pmacct-rs: consumers read the schema from avro_schema_file".into(),
        );
    }
    // Read, so it is not reported unused: messages are never cut inside a record.
    let _ = r.uint("avro_buffer_size", 8192);
    MessagesConfig {
        multi_values: r.uint("amqp_multi_values", 0) as usize,
        markers: r.bool("amqp_markers", false),
        output,
        avro_schema_file,
        spool: r
            .path(&format!("{kind}_spool_file"))
            .unwrap_or_else(|| PathBuf::from(format!("/var/lib/pmacct-rs/{name}.{kind}-spool"))),
    }
}

/// An `amqp` plugin: each purge published to a RabbitMQ exchange as pmacct's JSON messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmqpConfig {
    pub host: String,
    /// pmacct always uses 5672; pmacct-rs takes `amqp_host: host:port`.
    pub port: u16,
    pub vhost: String,
    pub user: String,
    pub password: String,
    pub exchange: String,
    pub exchange_type: String,
    /// With pmacct's variables (`$peer_src_ip`, `$tag`, `$tag2`, `$in_iface`, `$out_iface`,
    /// `$proto`...).
    pub routing_key: String,
    /// `amqp_routing_key_rr`: this many routing keys, `<key>_0` ... in turn, one per message.
    pub routing_key_rr: u32,
    pub persistent: bool,
    pub frame_max: u32,
    pub heartbeat: u16,
    pub messages: MessagesConfig,
}

pub(super) fn build_amqp(r: &mut Reader, name: &str) -> AmqpConfig {
    let host_port = r.text("amqp_host").unwrap_or_else(|| "localhost".into());
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(5672),
        ),
        _ => (host_port.clone(), 5672),
    };
    let text = |r: &mut Reader, key: &str, default: &str| {
        r.text(key).unwrap_or_else(|| default.to_string())
    };
    AmqpConfig {
        host,
        port,
        vhost: text(r, "amqp_vhost", "/"),
        user: text(r, "amqp_user", "guest"),
        password: text(r, "amqp_passwd", "guest"),
        exchange: text(r, "amqp_exchange", "pmacct"),
        exchange_type: text(r, "amqp_exchange_type", "direct").to_ascii_lowercase(),
        routing_key: text(r, "amqp_routing_key", "acct"),
        routing_key_rr: r.uint("amqp_routing_key_rr", 0).min(u64::from(u32::MAX)) as u32,
        persistent: r.bool("amqp_persistent_msg", false),
        frame_max: r
            .typed("amqp_frame_max", |v| {
                parse_uint(v, 4096, u64::from(u32::MAX))
            })
            .unwrap_or(131_072) as u32,
        heartbeat: r
            .uint("amqp_heartbeat_interval", 0)
            .min(u64::from(u16::MAX)) as u16,
        messages: build_messages(r, name, "amqp"),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load, PluginOptions};

    fn amqp(text: &str) -> super::AmqpConfig {
        let mut w = Vec::new();
        let c = load("b.conf", text, Vec::new(), &mut w).expect("loads");
        match &c.plugins[0].options {
            PluginOptions::Amqp(a) => (**a).clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_host_takes_a_port_and_the_defaults_are_pmacct_s() {
        let a = amqp("plugins: amqp[m]\n");
        assert_eq!(
            (a.host.as_str(), a.port, a.vhost.as_str()),
            ("localhost", 5672, "/")
        );
        assert_eq!(
            (a.exchange.as_str(), a.exchange_type.as_str()),
            ("pmacct", "direct")
        );
        assert_eq!(
            (a.routing_key.as_str(), a.frame_max, a.heartbeat),
            ("acct", 131_072, 0)
        );
        assert_eq!(
            a.messages.spool,
            std::path::PathBuf::from("/var/lib/pmacct-rs/m.amqp-spool")
        );
        assert_eq!(a.messages.output, super::BrokerOutput::Json);
        let a = amqp("plugins: amqp[m]\namqp_host[m]: 127.0.0.1:5673\n");
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 5673));
        let a = amqp("plugins: amqp[m]\namqp_host[m]: [::1]:5674\n");
        assert_eq!((a.host.as_str(), a.port), ("::1", 5674));
        let a = amqp("plugins: amqp[m]\namqp_host[m]: ::1\n");
        assert_eq!((a.host.as_str(), a.port), ("::1", 5672));
        let a = amqp(
            "plugins: amqp[m]\namqp_output[m]: avro\navro_schema_output_file[m]: /tmp/s.avsc\n",
        );
        assert_eq!(a.messages.output, super::BrokerOutput::Avro);
        assert_eq!(
            a.messages.avro_schema_file,
            Some(std::path::PathBuf::from("/tmp/s.avsc"))
        );
        let mut w = Vec::new();
        let e = load(
            "b.conf",
            "plugins: amqp[m]\navro_schema_file[m]: /tmp/s.avsc\n",
            Vec::new(),
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            e.0[0].to_string(),
            "b.conf:2: key 'avro_schema_file' of plugin 'm': amqp_output is json: set amqp_output to avro or avro_json"
        );
        let e = load(
            "b.conf",
            "plugins: kafka[k]\nkafka_topic[k]: acct.$peer_src_ip\nkafka_markers[k]: true\n",
            Vec::new(),
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            e.0[0].to_string(),
            "b.conf:3: key 'kafka_markers' of plugin 'k': markers need a topic without variables ('acct.$peer_src_ip'): a marker has no record to take the values from"
        );
    }
}

/// A `kafka` plugin: each purge produced to a Kafka topic as pmacct's JSON messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    /// librdkafka's `bootstrap.servers`.
    pub brokers: String,
    /// With pmacct's variables.
    pub topic: String,
    pub topic_rr: u32,
    /// `kafka_partition`: every message to this partition.
    pub partition: Option<i32>,
    /// `kafka_partition_dynamic`: partitioned by key (librdkafka's consistent_random).
    pub partition_dynamic: bool,
    /// `kafka_partition_key`, with pmacct's variables (empty: none).
    pub partition_key: String,
    /// `kafka_config_file`: librdkafka settings, lines of `global|topic, key, value`.
    pub config_file: Option<PathBuf>,
    pub messages: MessagesConfig,
}

pub(super) fn build_kafka(r: &mut Reader, name: &str) -> KafkaConfig {
    let host = r
        .text("kafka_broker_host")
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = r
        .typed("kafka_broker_port", |v| parse_uint(v, 1, 65535))
        .unwrap_or(9092);
    // A list, or a host with its own port, is taken as written (librdkafka's syntax).
    let brokers = if host.contains(',')
        || host.rsplit_once(':').is_some_and(|(h, p)| {
            !h.ends_with(':')
                && p.parse::<u16>().is_ok()
                && (h.starts_with('[') || !h.contains(':'))
        }) {
        host
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let topic = r
        .text("kafka_topic")
        .unwrap_or_else(|| "pmacct.acct".into());
    let messages = build_messages(r, name, "kafka");
    if messages.markers && topic.contains('$') {
        r.error(
            "amqp_markers",
            format!("markers need a topic without variables ('{topic}'): a marker has no record to take the values from"),
        );
    }
    KafkaConfig {
        brokers,
        topic,
        topic_rr: r.uint("kafka_topic_rr", 0).min(u64::from(u32::MAX)) as u32,
        partition: r
            .typed("kafka_partition", |v| parse_uint(v, 0, i32::MAX as u64))
            .map(|p| p as i32),
        partition_dynamic: r.bool("kafka_partition_dynamic", false),
        partition_key: r.text("kafka_partition_key").unwrap_or_default(),
        config_file: r.path("kafka_config_file"),
        messages,
    }
}
