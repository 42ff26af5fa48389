//! The `amqp` plugin: each purge published to a RabbitMQ exchange as pmacct's JSON messages
//! (docs/amqp.md), through the broker plugins' queue ([`super::broker`]) and a small AMQP
//! 0-9-1 client whose channel is in confirm mode: a message counts as sent once RabbitMQ has
//! confirmed it.

mod client;

use std::sync::Arc;

use pmacct_core::config::{AmqpConfig, BrokerOutput, PluginConfig};

use super::broker::{BrokerSink, Message, MessageSettings, Transport};
use super::cache::PurgingCache;
use super::{Clock, PluginError};
use crate::stats::PluginStats;
use client::{Connect, Publisher};

/// A connection to the broker, made when needed and dropped after a failure.
struct Amqp {
    cfg: AmqpConfig,
    publisher: Option<Publisher>,
    /// When the connection was last used: with heartbeats asked for, a connection idle past
    /// their interval (the broker has closed it) is made again rather than tried.
    last_used: std::time::Instant,
}

impl Amqp {
    fn connected(&mut self) -> Result<&mut Publisher, String> {
        let heartbeat = std::time::Duration::from_secs(u64::from(self.cfg.heartbeat));
        if self.cfg.heartbeat > 0 && self.last_used.elapsed() >= heartbeat {
            self.publisher = None;
        }
        self.last_used = std::time::Instant::now();
        if self.publisher.is_none() {
            let mut p = Publisher::connect(&Connect {
                host: self.cfg.host.clone(),
                port: self.cfg.port,
                vhost: self.cfg.vhost.clone(),
                user: self.cfg.user.clone(),
                password: self.cfg.password.clone(),
                frame_max: self.cfg.frame_max,
                heartbeat: self.cfg.heartbeat,
                content_type: match self.cfg.messages.output {
                    BrokerOutput::Avro => "application/avro",
                    BrokerOutput::Json | BrokerOutput::AvroJson => "application/json",
                },
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
        self.publisher
            .as_mut()
            .ok_or_else(|| "not connected".to_string())
    }
}

impl Transport for Amqp {
    fn name(&self) -> String {
        format!("broker {}:{}", self.cfg.host, self.cfg.port)
    }

    fn publish(&mut self, batch: &[Message]) -> Result<Vec<usize>, String> {
        let (exchange, persistent) = (self.cfg.exchange.clone(), self.cfg.persistent);
        let result = self
            .connected()?
            .publish(&exchange, batch, persistent)
            .map(|()| Vec::new())
            .map_err(|e| e.to_string());
        if result.is_err() {
            // A connection that failed mid-way is not reused: the next attempt reconnects.
            self.publisher = None;
        }
        result
    }

    fn ready(&mut self) -> Result<(), String> {
        self.connected().map(|_| ())
    }

    fn close(&mut self) {
        if let Some(p) = self.publisher.take() {
            p.close();
        }
    }
}

pub fn start(
    config: &PluginConfig,
    cfg: &AmqpConfig,
    clock: Clock,
    stats: Arc<PluginStats>,
) -> Result<PurgingCache, PluginError> {
    let settings = MessageSettings {
        route: cfg.routing_key.clone(),
        route_rr: cfg.routing_key_rr,
        key: String::new(),
        messages: cfg.messages.clone(),
    };
    let transport = Amqp {
        cfg: cfg.clone(),
        publisher: None,
        last_used: std::time::Instant::now(),
    };
    let sink =
        BrokerSink::new(config, settings, transport, stats.clone()).map_err(PluginError::Io)?;
    PurgingCache::new(config, clock, sink, false, stats)
}
