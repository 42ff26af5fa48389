//! The input threads of a run: one per input, each with its own stop flag, so that a reloaded
//! pcap_interfaces_map can stop the captures it no longer lists (their records are flushed to
//! the plugins first: nothing counted is lost) and start the new ones, while the others go on.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::input::{LiveCapture, LiveSpec, PacketSource};
use crate::pipeline::{Dispatcher, InputFacts, StopFlag};
use crate::stats::CoreStats;
use crate::tagging::MapStore;
use crate::{direction_of, lanes_for, tagger_for, DaemonError, InputPlan, LaneTemplate, Opened};

/// What every input thread is built from.
pub(crate) struct Shared {
    pub templates: Vec<LaneTemplate>,
    /// The plugins fed datagrams (tee), for the collector inputs.
    pub taps: Vec<crate::collector::Tap>,
    pub store: Option<Arc<MapStore>>,
    /// mmdb lookups, when a plugin needs them.
    pub hosts: Option<Arc<crate::hosts::HostStore>>,
    pub stats: Arc<CoreStats>,
    pub aggregate_unknown_etype: bool,
    pub proc_name: String,
}

/// A capture as a map lists it: a reloaded map keeps the captures it lists unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    device: String,
    direction: Option<String>,
    in_iface: u32,
    out_iface: u32,
}

impl Listed {
    fn of(spec: &LiveSpec, in_iface: u32, out_iface: u32) -> Listed {
        Listed {
            device: spec.device.clone(),
            direction: spec.direction.map(|d| format!("{d:?}")),
            in_iface,
            out_iface,
        }
    }
}

struct Running {
    listed: Option<Listed>,
    stop: Arc<StopFlag>,
    thread: JoinHandle<Result<(), DaemonError>>,
}

pub(crate) struct InputThreads {
    shared: Arc<Shared>,
    running: Vec<Running>,
    first_error: Option<DaemonError>,
}

impl InputThreads {
    pub fn new(shared: Shared) -> InputThreads {
        InputThreads {
            shared: Arc::new(shared),
            running: Vec::new(),
            first_error: None,
        }
    }

    fn facts(&self, in_iface: u32, out_iface: u32) -> InputFacts {
        InputFacts {
            in_iface,
            out_iface,
            aggregate_unknown_etype: self.shared.aggregate_unknown_etype,
        }
    }

    /// Starts reading an opened input; `spec` says which map entry it is (live inputs).
    pub fn start(&mut self, opened: Opened, spec: Option<&LiveSpec>) {
        let Opened {
            mut source,
            in_iface,
            out_iface,
            ifname,
            direction,
        } = opened;
        let shared = &self.shared;
        let link = source.link();
        let built = lanes_for(&shared.templates, link, &ifname)
            .and_then(|lanes| Ok((lanes, tagger_for(&shared.store, link, &ifname, direction)?)));
        let (lanes, tagger) = match built {
            Ok(l) => l,
            Err(e) => {
                self.first_error.get_or_insert(e);
                return;
            }
        };
        tracing::info!(
            "( {}/core ): reading from '{}' (link type {})",
            shared.proc_name,
            source.name(),
            link.name()
        );
        let (stats, facts) = (shared.stats.clone(), self.facts(in_iface, out_iface));
        let stop = Arc::new(StopFlag::default());
        let flag = stop.clone();
        let hosts = shared.hosts.as_ref().map(|h| h.lookup());
        let thread = std::thread::spawn(move || {
            Dispatcher::new(lanes, stats, facts)
                .with_tagger(tagger)
                .with_hosts(hosts)
                .run(source.as_mut(), &flag)
                .map_err(DaemonError::from)
        });
        self.running.push(Running {
            listed: spec.map(|s| Listed::of(s, in_iface, out_iface)),
            stop,
            thread,
        });
    }

    /// Starts reading export datagrams (nfacctd).
    pub fn start_flows(
        &mut self,
        mut source: Box<dyn crate::collector::DatagramSource>,
        settings: crate::collector::FlowSettings,
    ) {
        let shared = &self.shared;
        // sFlow records are filtered on their sampled frames; NetFlow's on a header made up
        // from their fields (sampled frames among them compile their filters on first use).
        let (link, what) = match settings.sflow {
            true => (pmacct_wire::LinkType::Ethernet, "sFlow"),
            false => (pmacct_wire::LinkType::Raw, "NetFlow/IPFIX"),
        };
        let lanes = match lanes_for(&shared.templates, link, "") {
            Ok(l) => l,
            Err(e) => {
                self.first_error.get_or_insert(e);
                return;
            }
        };
        tracing::info!(
            "( {}/core ): collecting {what} from '{}'",
            shared.proc_name,
            source.name()
        );
        let tagger = match &shared.store {
            Some(store) => match crate::tagging::Tagger::new(store.clone(), link, "", None) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.first_error.get_or_insert(e);
                    return;
                }
            },
            None => None,
        };
        let stats = shared.stats.clone();
        let taps = shared.taps.clone();
        stats
            .flows
            .collecting
            .store(true, std::sync::atomic::Ordering::Relaxed);
        stats
            .flows
            .sflow
            .enabled
            .store(settings.sflow, std::sync::atomic::Ordering::Relaxed);
        let stop = Arc::new(StopFlag::default());
        let flag = stop.clone();
        let hosts = shared.hosts.as_ref().map(|h| h.lookup());
        let thread = std::thread::spawn(move || {
            crate::collector::FlowDispatcher::new(lanes, stats, settings, tagger)
                .with_taps(taps)
                .with_hosts(hosts)
                .run(source.as_mut(), &flag)
                .map_err(DaemonError::from)
        });
        self.running.push(Running {
            listed: None,
            stop,
            thread,
        });
    }

    /// Starts a live input that may not exist yet (`pcap_interface_wait`): its thread waits
    /// for the interface, then reads it; when the interface goes away (a PPP or VPN link
    /// going down), what was read is flushed and the thread waits for it to come back.
    pub fn start_waiting(&mut self, spec: LiveSpec, in_iface: u32, out_iface: u32) {
        let (shared, facts) = (self.shared.clone(), self.facts(in_iface, out_iface));
        let stop = Arc::new(StopFlag::default());
        let flag = stop.clone();
        let listed = Listed::of(&spec, in_iface, out_iface);
        let thread = std::thread::spawn(move || loop {
            let mut source = match LiveCapture::open(&spec, flag.as_bool()) {
                Ok(s) => s,
                // Stopped while waiting: nothing to report.
                Err(_) if flag.is_requested() => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let link = source.link();
            let lanes = lanes_for(&shared.templates, link, &spec.device)?;
            let tagger = tagger_for(&shared.store, link, &spec.device, direction_of(&spec))?;
            tracing::info!(
                "( {}/core ): reading from '{}' (link type {})",
                shared.proc_name,
                spec.device,
                link.name()
            );
            match Dispatcher::new(lanes, shared.stats.clone(), facts)
                .with_tagger(tagger)
                .with_hosts(shared.hosts.as_ref().map(|h| h.lookup()))
                .run(&mut source, &flag)
            {
                Err(e) if !flag.is_requested() => tracing::warn!(
                    "( {}/core ): {e}; waiting for '{}' to come back",
                    shared.proc_name,
                    spec.device
                ),
                result => return result.map_err(DaemonError::from),
            }
        });
        self.running.push(Running {
            listed: Some(listed),
            stop,
            thread,
        });
    }

    /// Makes the running captures those of `plans` (a reloaded pcap_interfaces_map): stops
    /// the ones no longer listed, starts the new ones; the others are not touched.
    pub fn reload(&mut self, plans: Vec<InputPlan>) {
        let wanted: Vec<(Listed, InputPlan)> = plans
            .into_iter()
            .filter_map(|p| match &p {
                InputPlan::Live {
                    spec,
                    in_iface,
                    out_iface,
                    ..
                } => Some((Listed::of(spec, *in_iface, *out_iface), p)),
                _ => None,
            })
            .collect();
        let name = self.shared.proc_name.clone();
        for r in &self.running {
            if let Some(l) = &r.listed {
                if !wanted.iter().any(|(w, _)| w == l) {
                    tracing::info!(
                        "( {name}/core ): no longer capturing on {} ({:?})",
                        l.device,
                        l.direction
                    );
                    r.stop.request();
                }
            }
        }
        for (listed, plan) in wanted {
            let known = self
                .running
                .iter()
                .any(|r| r.listed.as_ref() == Some(&listed) && !r.stop.is_requested());
            if known {
                continue;
            }
            let InputPlan::Live {
                spec,
                in_iface,
                out_iface,
                ..
            } = plan
            else {
                continue;
            };
            tracing::info!("( {name}/core ): capturing on {} too", spec.device);
            if spec.wait_for_interface {
                self.start_waiting(spec, in_iface, out_iface);
                continue;
            }
            let stop = AtomicBool::new(false);
            match crate::open(
                InputPlan::Live {
                    spec: spec.clone(),
                    in_iface,
                    out_iface,
                    origin: None,
                },
                &stop,
            ) {
                Ok(opened) => self.start(opened, Some(&spec)),
                Err(e) => tracing::error!("( {name}/core ): {e}; the other captures go on"),
            }
        }
    }

    pub fn all_finished(&self) -> bool {
        self.running.iter().all(|r| r.thread.is_finished())
    }

    /// Stops every input, waits for them, and returns the first error one ended with.
    pub fn finish(self) -> Option<DaemonError> {
        for r in &self.running {
            r.stop.request();
        }
        let mut first = self.first_error;
        for r in self.running {
            let result = r
                .thread
                .join()
                .unwrap_or_else(|_| Err(DaemonError::Plugin("an input thread panicked".into())));
            if let Err(e) = result {
                match first {
                    None => first = Some(e),
                    Some(_) => tracing::error!("( {}/core ): {e}", self.shared.proc_name),
                }
            }
        }
        first
    }

    /// An input that failed to start (its lanes or tagger): the run stops.
    pub fn failed(&self) -> bool {
        self.first_error.is_some()
    }
}
