//! Packet sources behind one trait: libpcap live capture, pcap/pcapng files, and in-memory
//! packets for tests.

use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pmacct_core::key::Timestamp;
use pmacct_wire::LinkType;

/// One captured packet, borrowed from the source until the next call.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    pub data: &'a [u8],
    pub wire_len: u32,
    pub ts: Timestamp,
}

/// What a source returns.
pub enum Next<'a> {
    Packet(RawPacket<'a>),
    /// No packet within the read timeout (live capture only).
    Idle,
    /// The source is exhausted (end of file).
    End,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open capture file '{path}': {reason}")]
    OpenFile { path: PathBuf, reason: String },
    #[error("cannot open interface '{device}': {reason}")]
    OpenDevice { device: String, reason: String },
    #[error("{what} '{source_name}' has link type {dlt} ({dlt_name}), which pmacct-rs does not decode (supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, PPP)")]
    UnsupportedLink {
        what: &'static str,
        source_name: String,
        dlt: i32,
        dlt_name: String,
    },
    #[error("invalid pcap_filter '{filter}' for '{source_name}': {reason}")]
    Filter {
        filter: String,
        source_name: String,
        reason: String,
    },
    #[error("reading '{source_name}': {reason}")]
    Read { source_name: String, reason: String },
}

/// A source of packets.
pub trait PacketSource: Send {
    fn next_packet(&mut self) -> Result<Next<'_>, InputError>;
    fn link(&self) -> LinkType;
    /// A name for logs and errors (interface or file).
    fn name(&self) -> &str;
    /// Live capture: packets dropped by the kernel so far.
    fn kernel_drops(&mut self) -> Option<u64> {
        None
    }
    /// Live sources are paced by the wall clock; files by their packets' time.
    fn is_live(&self) -> bool;
}

fn link_of(dlt: i32, what: &'static str, name: &str) -> Result<LinkType, InputError> {
    LinkType::from_dlt(dlt).ok_or_else(|| InputError::UnsupportedLink {
        what,
        source_name: name.to_string(),
        dlt,
        dlt_name: pcap::Linktype(dlt)
            .get_name()
            .unwrap_or_else(|_| "unknown".into()),
    })
}

fn ts_of(h: &pcap::PacketHeader) -> Timestamp {
    Timestamp {
        secs: h.ts.tv_sec,
        micros: h.ts.tv_usec.clamp(0, 999_999) as u32,
    }
}

/// A pcap or pcapng file, read `replay` times.
pub struct PcapFile {
    path: PathBuf,
    name: String,
    capture: pcap::Capture<pcap::Offline>,
    link: LinkType,
    filter: Option<String>,
    replays_left: u64,
    delay: Duration,
    reopen: bool,
}

impl PcapFile {
    pub fn open(
        path: &Path,
        filter: Option<&str>,
        replay: u64,
        delay: Duration,
    ) -> Result<PcapFile, InputError> {
        let name = path.display().to_string();
        let capture = open_file(path, filter)?;
        let link = link_of(capture.get_datalink().0, "capture file", &name)?;
        Ok(PcapFile {
            path: path.to_path_buf(),
            name,
            capture,
            link,
            filter: filter.map(str::to_string),
            replays_left: replay.saturating_sub(1),
            delay,
            reopen: false,
        })
    }
}

fn open_file(
    path: &Path,
    filter: Option<&str>,
) -> Result<pcap::Capture<pcap::Offline>, InputError> {
    let mut capture = pcap::Capture::from_file(path).map_err(|e| InputError::OpenFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if let Some(f) = filter {
        capture.filter(f, true).map_err(|e| InputError::Filter {
            filter: f.to_string(),
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(capture)
}

impl PacketSource for PcapFile {
    fn next_packet(&mut self) -> Result<Next<'_>, InputError> {
        if self.reopen {
            self.reopen = false;
            std::thread::sleep(self.delay);
            self.capture = open_file(&self.path, self.filter.as_deref())?;
        }
        match self.capture.next_packet() {
            Ok(p) => Ok(Next::Packet(RawPacket {
                data: p.data,
                wire_len: p.header.len,
                ts: ts_of(p.header),
            })),
            Err(pcap::Error::NoMorePackets) if self.replays_left > 0 => {
                self.replays_left -= 1;
                self.reopen = true;
                Ok(Next::Idle)
            }
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            // A truncated or corrupt file: what was read is kept, the error reported.
            Err(e) => Err(InputError::Read {
                source_name: self.name.clone(),
                reason: e.to_string(),
            }),
        }
    }
    fn link(&self) -> LinkType {
        self.link
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn is_live(&self) -> bool {
        false
    }
}

/// Settings of one live capture.
#[derive(Clone, Debug)]
pub struct LiveSpec {
    pub device: String,
    pub promisc: bool,
    pub snaplen: u32,
    pub filter: Option<String>,
    pub direction: Option<pcap::Direction>,
    pub wait_for_interface: bool,
}

/// A live libpcap capture with a short read timeout, so quiet links still flush and signals are
/// noticed promptly.
pub struct LiveCapture {
    name: String,
    capture: pcap::Capture<pcap::Active>,
    fd: std::os::unix::io::RawFd,
    link: LinkType,
}

pub const READ_TIMEOUT_MS: i32 = 100;

impl LiveCapture {
    pub fn open(
        spec: &LiveSpec,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<LiveCapture, InputError> {
        let err = |reason: String| InputError::OpenDevice {
            device: spec.device.clone(),
            reason,
        };
        let capture = loop {
            let attempt = pcap::Capture::from_device(spec.device.as_str()).and_then(|c| {
                c.promisc(spec.promisc)
                    .snaplen(spec.snaplen as i32)
                    .timeout(READ_TIMEOUT_MS)
                    .buffer_size(8 << 20)
                    .open()
            });
            match attempt {
                Ok(c) => break c,
                Err(e)
                    if spec.wait_for_interface
                        && !stop.load(std::sync::atomic::Ordering::Relaxed) =>
                {
                    tracing::debug!(
                        "( default/core ): waiting for interface '{}': {e}",
                        spec.device
                    );
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => return Err(err(e.to_string())),
            }
        };
        let mut capture = capture;
        if let Some(d) = spec.direction {
            capture
                .direction(d)
                .map_err(|e| err(format!("cannot set capture direction: {e}")))?;
        }
        if let Some(f) = &spec.filter {
            capture.filter(f, true).map_err(|e| InputError::Filter {
                filter: f.clone(),
                source_name: spec.device.clone(),
                reason: e.to_string(),
            })?;
        }
        let link = link_of(capture.get_datalink().0, "interface", &spec.device)?;
        // Non-blocking reads plus our own poll(): libpcap keeps polling an idle Linux socket
        // past its read timeout, and a quiet link must still flush records and notice a stop.
        let capture = capture
            .setnonblock()
            .map_err(|e| err(format!("cannot set non-blocking mode: {e}")))?;
        let fd = capture.as_raw_fd();
        Ok(LiveCapture {
            name: spec.device.clone(),
            capture,
            fd,
            link,
        })
    }
}

impl PacketSource for LiveCapture {
    fn next_packet(&mut self) -> Result<Next<'_>, InputError> {
        match self.capture.next_packet() {
            Ok(p) => Ok(Next::Packet(RawPacket {
                data: p.data,
                wire_len: p.header.len,
                ts: ts_of(p.header),
            })),
            Err(pcap::Error::TimeoutExpired) => {
                wait_readable(self.fd, READ_TIMEOUT_MS);
                Ok(Next::Idle)
            }
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            Err(e) => Err(InputError::Read {
                source_name: self.name.clone(),
                reason: e.to_string(),
            }),
        }
    }
    fn link(&self) -> LinkType {
        self.link
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn kernel_drops(&mut self) -> Option<u64> {
        self.capture
            .stats()
            .ok()
            .map(|s| u64::from(s.dropped) + u64::from(s.if_dropped))
    }
    fn is_live(&self) -> bool {
        true
    }
}

/// Waits until `fd` is readable or `timeout_ms` passed.
fn wait_readable(fd: std::os::unix::io::RawFd, timeout_ms: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1; poll() only
    // writes `revents`. The fd belongs to the open capture, which outlives the call.
    unsafe {
        libc::poll(&mut pfd, 1, timeout_ms);
    }
}

/// Packets held in memory: the fake input of tests and benchmarks.
pub struct MemorySource {
    link: LinkType,
    packets: Vec<(Timestamp, u32, Vec<u8>)>,
    next: usize,
}

impl MemorySource {
    pub fn new(link: LinkType, packets: Vec<(Timestamp, u32, Vec<u8>)>) -> Self {
        MemorySource {
            link,
            packets,
            next: 0,
        }
    }
}

impl PacketSource for MemorySource {
    fn next_packet(&mut self) -> Result<Next<'_>, InputError> {
        let Some((ts, wire_len, data)) = self.packets.get(self.next) else {
            return Ok(Next::End);
        };
        self.next += 1;
        Ok(Next::Packet(RawPacket {
            data,
            wire_len: *wire_len,
            ts: *ts,
        }))
    }
    fn link(&self) -> LinkType {
        self.link
    }
    fn name(&self) -> &str {
        "memory"
    }
    fn is_live(&self) -> bool {
        false
    }
}
