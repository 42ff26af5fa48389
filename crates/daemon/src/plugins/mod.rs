//! Plugins: each owns its state on its own thread, fed by a bounded queue of record batches.
//!
//! A plugin sees time only through its messages ([`Now`]): the packets' time when reading a
//! file, the wall clock when capturing live. One plugin failing is logged and never stops
//! capture or the other plugins.

pub mod amqp;
pub mod broker;
pub mod cache;
pub mod influxdb;
pub mod kafka;
pub mod memory;
pub mod nfprobe;
pub mod open_bins;
pub mod print;
pub mod prometheus;
pub mod quota;
pub mod sfprobe;
pub mod sql;
pub mod tee;
pub mod trigger;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use pmacct_core::config::{PluginConfig, PluginOptions, QueuePolicy};
use pmacct_core::key::RecordBatch;
use pmacct_core::query::{Request, Response};

use crate::stats::PluginStats;

/// The two clocks a plugin may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The time that drives purges and bins: packet time for files, wall clock for live capture.
    pub data: i64,
    /// The wall clock (for `stamp_updated` and logs).
    pub wall: i64,
}

/// Which clock drives a run: the packets' (files) or the wall clock (live capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Reading capture files: time is the packets' time, and the input is one period.
    Packets,
    /// Capturing live.
    Live,
}

/// Messages from the pipeline to a plugin.
#[derive(Debug)]
pub enum PluginMsg {
    Batch {
        records: RecordBatch,
        now: i64,
    },
    /// Time passes with no packets (live capture), so quiet plugins still purge.
    Tick {
        now: i64,
    },
    /// A file input has been read to its end; every record of it came before this message.
    InputEnded {
        source: String,
    },
    /// Every input has ended and the daemon stays up (`pcap_savefile_wait`): write out what
    /// is held, so readers (the web page, `pmacct report`) see everything read.
    Flush,
    /// Sampled frames, for the plugins that take frames (sfprobe).
    Frames {
        frames: Vec<crate::frames::SampledFrame>,
        now: i64,
    },
    /// An export datagram as received, for the plugins that take datagrams (tee).
    Datagram {
        from: std::net::SocketAddr,
        data: Vec<u8>,
        now: i64,
    },
}

/// Requests that bypass the data queue (queries of the memory plugin).
pub enum Control {
    Query(Request, Sender<Response>),
    /// SIGUSR2: the plugin's own maps read again.
    Reload,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Io(String),
}

/// The behaviour of a plugin kind.
pub trait Plugin: Send {
    /// A batch of records; the plugin may rewrite their keys (e.g. to set the time bin).
    fn on_records(&mut self, records: &mut RecordBatch, now: Now) -> Result<(), PluginError>;
    fn on_tick(&mut self, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }
    fn on_query(&mut self, _request: &Request, _now: Now) -> Option<Response> {
        None
    }
    fn on_input_end(&mut self, _source: &str) {}
    /// An export datagram, byte for byte (the plugins fed datagrams: tee).
    fn on_datagram(&mut self, _from: std::net::SocketAddr, _data: &[u8], _now: Now) {}
    /// SIGUSR2.
    fn on_reload(&mut self) {}
    /// The inputs ended and the daemon stays up: write out what is held (not a final purge).
    fn on_flush(&mut self, _now: Now) -> Result<(), PluginError> {
        Ok(())
    }
    /// Sampled frames (the plugins fed frames: sfprobe).
    fn on_frames(&mut self, _frames: &[crate::frames::SampledFrame], _now: Now) {}
    /// Aggregates counted and not yet written out (what an exit now would lose); 0 for a
    /// plugin that writes nothing (the memory table).
    fn held(&self) -> u64 {
        0
    }
    /// Last call: flush everything.
    fn shutdown(&mut self, now: Now) -> Result<(), PluginError>;
}

/// The pipeline's end of a running plugin.
pub struct PluginHandle {
    pub config: PluginConfig,
    pub tx: Sender<PluginMsg>,
    pub stats: Arc<PluginStats>,
    pub thread: Option<JoinHandle<()>>,
    pub control: Sender<Control>,
    /// Emptied batches coming back from the plugin, for the input threads to fill again.
    pub recycled: Receiver<RecordBatch>,
}

impl PluginHandle {
    pub fn label(&self) -> String {
        format!("{}/{}", self.config.name, self.config.kind)
    }
    pub fn policy(&self, live: bool) -> QueuePolicy {
        if live {
            self.config.when_full
        } else {
            QueuePolicy::Block
        }
    }
}

pub fn wall_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Datagrams waiting for a tee plugin at most (live: more are dropped and counted).
const TEE_QUEUE_DATAGRAMS: usize = 65_536;

/// Builds and starts the plugins of a configuration.
pub fn start(
    configs: &[PluginConfig],
    umask: u32,
    clock: Clock,
) -> Result<Vec<PluginHandle>, String> {
    let mut handles = Vec::new();
    for config in configs {
        let label = format!("{}/{}", config.name, config.kind);
        let stats = Arc::new(PluginStats::default());
        let plugin: Box<dyn Plugin> = match &config.options {
            PluginOptions::Print(p) => Box::new(
                print::start(config, p, clock, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Memory(m) => Box::new(
                memory::MemoryPlugin::new(config, m).map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Influxdb(i) => Box::new(
                influxdb::start(config, i, clock, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Prometheus(p) => Box::new(
                prometheus::PrometheusPlugin::new(config, p)
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Quota(q) => Box::new(
                quota::QuotaPlugin::new(config, q).map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Nfprobe(n) => Box::new(
                nfprobe::NfprobePlugin::new(config, n, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Kafka(k) => Box::new(
                kafka::start(config, k, clock, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Amqp(a) => Box::new(
                amqp::start(config, a, clock, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Sfprobe(s) => Box::new(
                sfprobe::SfprobePlugin::new(config, s, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Tee(t) => Box::new(
                tee::TeePlugin::new(config, t, stats.clone())
                    .map_err(|e| format!("( {label} ): {e}"))?,
            ),
            PluginOptions::Sql(s) => {
                Box::new(sql::start(config, s, clock, stats.clone()).map_err(|e| e.to_string())?)
            }
        };
        handles.push(launch(config, plugin, stats, umask)?);
    }
    Ok(handles)
}

/// Runs a built plugin on its own thread, fed by a bounded queue.
pub fn launch(
    config: &PluginConfig,
    plugin: Box<dyn Plugin>,
    stats: Arc<PluginStats>,
    umask: u32,
) -> Result<PluginHandle, String> {
    let label = format!("{}/{}", config.name, config.kind);
    // A tee's queue holds datagrams, one per message.
    let capacity = match config.options {
        PluginOptions::Tee(_) => TEE_QUEUE_DATAGRAMS,
        _ => config.queue_batches,
    };
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let (recycle_tx, recycled) = crossbeam_channel::bounded(config.queue_batches + 4);
    if let PluginOptions::Memory(m) = &config.options {
        memory::serve_with_mode(&m.socket, control_tx.clone(), &label, 0o666 & !umask)
            .map_err(|e| format!("( {label} ): {e}"))?;
    }
    let thread_label = label.clone();
    let held = stats.clone();
    let nice = config.proc_priority;
    let thread = std::thread::Builder::new()
        .name(format!("plugin-{}", config.name))
        .spawn(move || {
            crate::process::set_plugin_nice(nice, &thread_label);
            run(plugin, rx, control_rx, recycle_tx, &held, &thread_label)
        })
        .map_err(|e| format!("( {label} ): cannot start thread: {e}"))?;
    tracing::info!("( {label} ): plugin started");
    Ok(PluginHandle {
        config: config.clone(),
        tx,
        stats,
        thread: Some(thread),
        control: control_tx,
        recycled,
    })
}

/// A plugin's thread: data and queries until the data queue closes, then a final flush.
fn run(
    mut plugin: Box<dyn Plugin>,
    data: Receiver<PluginMsg>,
    control: Receiver<Control>,
    recycle: Sender<RecordBatch>,
    stats: &PluginStats,
    label: &str,
) {
    let mut last_data = i64::MIN;
    let now = |data: i64| Now {
        data,
        wall: wall_now(),
    };
    loop {
        crossbeam_channel::select_biased! {
            recv(control) -> msg => {
                match msg {
                    Ok(Control::Query(request, reply)) => {
                        let at = if last_data == i64::MIN { wall_now() } else { last_data };
                        if let Some(response) = plugin.on_query(&request, now(at)) {
                            let _ = reply.send(response);
                        }
                    }
                    Ok(Control::Reload) => plugin.on_reload(),
                    Err(_) => {}
                }
            }
            recv(data) -> msg => {
                let result = match msg {
                    Ok(PluginMsg::Batch { mut records, now: t }) => {
                        last_data = last_data.max(t);
                        let result = plugin.on_records(&mut records, now(last_data));
                        records.clear();
                        // Full of recycled batches: this one is simply freed.
                        let _ = recycle.try_send(records);
                        result
                    }
                    Ok(PluginMsg::Tick { now: t }) => {
                        last_data = last_data.max(t);
                        plugin.on_tick(now(last_data))
                    }
                    Ok(PluginMsg::InputEnded { source }) => {
                        plugin.on_input_end(&source);
                        Ok(())
                    }
                    Ok(PluginMsg::Flush) => {
                        let at = if last_data == i64::MIN { wall_now() } else { last_data };
                        plugin.on_flush(now(at))
                    }
                    Ok(PluginMsg::Frames { frames, now: t }) => {
                        last_data = last_data.max(t);
                        plugin.on_frames(&frames, now(last_data));
                        Ok(())
                    }
                    Ok(PluginMsg::Datagram { from, data, now: t }) => {
                        last_data = last_data.max(t);
                        plugin.on_datagram(from, &data, now(last_data));
                        Ok(())
                    }
                    Err(_) => break,
                };
                stats.held.store(plugin.held(), Relaxed);
                if let Err(e) = result {
                    tracing::error!("( {label} ): {e}");
                }
            }
        }
    }
    let at = if last_data == i64::MIN {
        wall_now()
    } else {
        last_data
    };
    if let Err(e) = plugin.shutdown(now(at)) {
        tracing::error!("( {label} ): {e}");
    }
    stats.held.store(plugin.held(), Relaxed);
    tracing::info!("( {label} ): plugin stopped");
}
