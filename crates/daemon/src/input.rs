//! Packet sources behind one trait: libpcap live capture, pcap/pcapng files (memory-mapped and
//! decoded in place; libpcap for pipes and devices), and in-memory packets for tests.

use crate::bpf::Program;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pmacct_core::key::Timestamp;
use pmacct_wire::savefile::{PacketDirection, Savefile};
use pmacct_wire::LinkType;

/// One captured packet, borrowed from the source until the next call.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    pub data: &'a [u8],
    pub wire_len: u32,
    pub ts: Timestamp,
    /// The packet's link type (a pcapng file may hold interfaces of several).
    pub link: LinkType,
    /// Where a pcapng file says the packet was captured (`None`: the input's own interface,
    /// if it has one).
    pub interface: Option<Captured<'a>>,
}

/// A pcapng packet's interface name and direction.
#[derive(Clone, Copy, Debug)]
pub struct Captured<'a> {
    pub ifname: &'a str,
    pub direction: Option<pmacct_core::pretag::Direction>,
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
    #[error("{what} '{source_name}' has link type {dlt} ({dlt_name}), which pmacct-rs does not decode (supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, PPP, IEEE802_11)")]
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
    #[error("cannot listen for flows on {addr} (nfacctd_ip, nfacctd_port): {reason}")]
    Listen { addr: String, reason: String },
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
                link: self.link,
                interface: None,
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

/// A BPF filter compiled for each link type it meets (the first one when the input opens, so a
/// bad expression is reported at start), with the capturing interface's netmask (for
/// `ip broadcast`, as tcpdump).
pub struct LinkFilter {
    expr: String,
    netmask: Option<u32>,
    compiled: Vec<(LinkType, Option<Program>)>,
}

impl LinkFilter {
    /// Compiles `expr` for `link` without a netmask; the error is libpcap's.
    pub fn new(expr: &str, link: LinkType) -> Result<LinkFilter, String> {
        LinkFilter::with_netmask(expr, link, None)
    }

    /// Compiles `expr` for `link` with an interface's IPv4 netmask (host order).
    pub fn with_netmask(
        expr: &str,
        link: LinkType,
        netmask: Option<u32>,
    ) -> Result<LinkFilter, String> {
        let program = Program::compile(expr, i32::from(link.dlt()), netmask).map_err(|e| {
            match (e.contains("netmask not known"), netmask) {
                (true, None) => format!(
                    "{e} (no interface netmask here, as when reading a file: name the broadcast address instead, e.g. 'dst host 192.168.1.255')"
                ),
                _ => e,
            }
        })?;
        Ok(LinkFilter {
            expr: expr.to_string(),
            netmask,
            compiled: vec![(link, Some(program))],
        })
    }

    /// Whether the packet passes. A link type the expression does not compile for passes
    /// nothing (logged once).
    pub fn matches(&mut self, link: LinkType, data: &[u8]) -> bool {
        if let Some((_, program)) = self.compiled.iter().find(|(l, _)| *l == link) {
            return program.as_ref().is_some_and(|p| p.matches(data));
        }
        let program = match Program::compile(&self.expr, i32::from(link.dlt()), self.netmask) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(
                    "( default/core ): filter '{}' does not compile for link type {}: {e}; its packets do not pass",
                    self.expr,
                    link.name()
                );
                None
            }
        };
        let pass = program.as_ref().is_some_and(|p| p.matches(data));
        self.compiled.push((link, program));
        pass
    }
}

/// A regular pcap or pcapng file, memory-mapped and decoded in place, read `replay` times.
pub struct CaptureFile {
    name: String,
    map: Arc<memmap2::Mmap>,
    prefetch: Prefetcher,
    start: Savefile,
    reader: Savefile,
    link: LinkType,
    filter: Option<LinkFilter>,
    replays_left: u64,
    delay: Duration,
    unsupported_logged: bool,
    /// The reader's position as last published to the prefetcher.
    published: usize,
    /// The cache lines up to here have been asked for ([`prefetch_ahead`]).
    prefetched: usize,
}

/// Pages are released behind the reader in steps of this size.
const MAP_WINDOW: usize = 8 << 20;
/// How far ahead of the reader the prefetcher maps the file.
const PREFETCH_AHEAD: usize = 12 << 20;
const PUBLISH_STEP: usize = 256 << 10;

/// A thread that walks the file a little ahead of the decoder, mapping its pages
/// (`MADV_POPULATE_READ`, or touching each page): it takes the page faults on the other core, so the decoder finds the file's bytes mapped (the decoder
/// prefetches the cache lines it needs itself). Behind the decoder it releases the pages read,
/// so the process's resident memory stays at a few windows whatever the file's size.
struct Prefetcher {
    position: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Prefetcher {
    fn start(map: Arc<memmap2::Mmap>) -> Prefetcher {
        let position = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (pos, halt) = (position.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || prefetch(&map, &pos, &halt))
            .ok();
        Prefetcher {
            position,
            stop,
            thread,
        }
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const PAGE: usize = 4096;

fn prefetch(map: &memmap2::Mmap, reader: &AtomicUsize, stop: &AtomicBool) {
    let (mut touched, mut released) = (0usize, 0usize);
    let mut sum = 0u8;
    let mut populate = true;
    while !stop.load(Ordering::Relaxed) {
        let at = reader.load(Ordering::Relaxed);
        if at < released {
            (touched, released) = (at, at & !(MAP_WINDOW - 1)); // a replay went back
        }
        release_behind(map, at, &mut released);
        let target = (at + PREFETCH_AHEAD).min(map.len());
        if touched >= target {
            std::thread::sleep(Duration::from_micros(500));
            continue;
        }
        let end = (touched + PUBLISH_STEP).min(target);
        // One call maps the whole step (Linux 5.14+); older kernels refuse it, and then each
        // page is touched.
        let populated = populate
            && map
                .advise_range(
                    memmap2::Advice::PopulateRead,
                    touched & !(PAGE - 1),
                    end - (touched & !(PAGE - 1)),
                )
                .is_ok();
        if !populated {
            populate = false;
            for b in map[touched..end].iter().step_by(PAGE) {
                sum = sum.wrapping_add(*b);
            }
        }
        touched = end;
    }
    std::hint::black_box(sum);
}

/// Releases the pages more than a window behind the reader.
fn release_behind(map: &memmap2::Mmap, reader: usize, released: &mut usize) {
    let keep_from = reader.saturating_sub(MAP_WINDOW) & !(MAP_WINDOW - 1);
    if keep_from > *released {
        // SAFETY: MADV_DONTNEED on a read-only private file mapping drops our page table
        // entries for bytes the reader has passed (it is at least a window further): the
        // memory stays valid, and touching it again (a replay) maps the file's unchanged
        // contents back.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                *released,
                keep_from - *released,
            )
        };
        *released = keep_from;
    }
}

impl CaptureFile {
    /// Opens `path`, which must be a regular file (others go through [`PcapFile`]).
    pub fn open(
        path: &Path,
        filter: Option<&str>,
        replay: u64,
        delay: Duration,
    ) -> Result<CaptureFile, InputError> {
        let name = path.display().to_string();
        let open_error = |reason: String| InputError::OpenFile {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| open_error(e.to_string()))?;
        // SAFETY: the map is read-only and private, and nothing in this process writes to the
        // file. Another process may append to it (tcpdump -w): pages beyond the mapped length
        // are never touched, so that is safe. Truncating the file while it is mapped would make
        // reads of the lost pages fault (SIGBUS); that is the documented limit of reading a
        // file in place (docs/operations.md), and pipes and devices are read through libpcap.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| open_error(e.to_string()))?;
        let map = Arc::new(map);
        let _ = map.advise(memmap2::Advice::Sequential);
        let reader = Savefile::open(&map).map_err(|e| open_error(e.to_string()))?;
        let dlt = reader.first_link(&map).unwrap_or(1);
        let link = link_of(i32::from(dlt), "capture file", &name)?;
        let filter = match filter {
            Some(f) => Some(
                LinkFilter::new(f, link).map_err(|reason| InputError::Filter {
                    filter: f.to_string(),
                    source_name: name.clone(),
                    reason,
                })?,
            ),
            None => None,
        };
        Ok(CaptureFile {
            name,
            start: reader.clone(),
            reader,
            prefetch: Prefetcher::start(map.clone()),
            map,
            link,
            filter,
            replays_left: replay.saturating_sub(1),
            delay,
            unsupported_logged: false,
            published: 0,
            prefetched: 0,
        })
    }
}

/// How far ahead of the decoder the CPU is asked to load the file's cache lines: enough
/// records ahead that memory latency is hidden behind their decoding.
const LINES_AHEAD: usize = 4096;

/// Asks the CPU to load every cache line from `*done` up to [`LINES_AHEAD`] bytes past `next`
/// (a sliding window: each line once), so the decoder does not wait for memory when it gets
/// to the next records. Where the records start is not known ahead, so the window is whole.
#[inline]
fn prefetch_ahead(map: &[u8], next: usize, done: &mut usize) {
    let end = (next + LINES_AHEAD).min(map.len());
    let mut at = (*done).max(next) & !63;
    #[cfg(target_arch = "x86_64")]
    while at < end {
        // SAFETY: a prefetch is a hint that never faults and reads nothing into the program;
        // `at` is inside the mapping (below `end`).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                map.as_ptr().add(at).cast(),
            )
        };
        at += 64;
    }
    *done = at.max(end);
}

/// Tells the prefetcher where the reader is, every [`PUBLISH_STEP`] bytes.
#[inline]
fn publish(pos: usize, prefetch: &Prefetcher, published: &mut usize) {
    if pos >= *published && pos < *published + PUBLISH_STEP {
        return;
    }
    *published = pos;
    prefetch.position.store(pos, Ordering::Relaxed);
}

impl PacketSource for CaptureFile {
    fn next_packet(&mut self) -> Result<Next<'_>, InputError> {
        loop {
            publish(self.reader.position(), &self.prefetch, &mut self.published);
            let packet = match self.reader.next(&self.map) {
                Ok(Some(p)) => p,
                Ok(None) if self.replays_left > 0 => {
                    self.replays_left -= 1;
                    std::thread::sleep(self.delay);
                    self.reader = self.start.clone();
                    self.published = 0;
                    self.prefetched = 0;
                    self.prefetch.position.store(0, Ordering::Relaxed);
                    return Ok(Next::Idle);
                }
                Ok(None) => return Ok(Next::End),
                // A truncated or corrupt file: what was read is kept, the error reported.
                Err(e) => {
                    return Err(InputError::Read {
                        source_name: self.name.clone(),
                        reason: e.to_string(),
                    })
                }
            };
            prefetch_ahead(&self.map, self.reader.position(), &mut self.prefetched);
            let Some(link) = LinkType::from_dlt(i32::from(packet.link)) else {
                if !self.unsupported_logged {
                    self.unsupported_logged = true;
                    tracing::warn!(
                        "( default/core ): '{}': skipping packets of link type {}, which pmacct-rs does not decode",
                        self.name,
                        packet.link
                    );
                }
                continue;
            };
            if let Some(f) = &mut self.filter {
                if !f.matches(link, packet.data) {
                    continue;
                }
            }
            let interface = self
                .reader
                .interface_name(packet.interface)
                .map(|ifname| Captured {
                    ifname,
                    direction: packet.direction.map(|d| match d {
                        PacketDirection::Inbound => pmacct_core::pretag::Direction::In,
                        PacketDirection::Outbound => pmacct_core::pretag::Direction::Out,
                    }),
                });
            return Ok(Next::Packet(RawPacket {
                data: packet.data,
                wire_len: packet.wire_len,
                ts: Timestamp {
                    secs: packet.secs,
                    micros: packet.micros,
                },
                link,
                interface,
            }));
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
                link: self.link,
                interface: None,
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
            link: self.link,
            interface: None,
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
