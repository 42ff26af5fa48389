//! The collector's UDP socket: datagrams read in batches (`recvmmsg`), each with the kernel's
//! count of datagrams it dropped for this socket (`SO_RXQ_OVFL`).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::sources::{wall_now_precise, Datagram, DatagramSource, NextDatagram};
use crate::input::InputError;

/// How long a socket read waits before the loop checks its stop flag and ticks the plugins.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Datagrams read per system call.
const BATCH: usize = 32;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Room for one SO_RXQ_OVFL control message (a u32), generously aligned.
const CONTROL_LEN: usize = 64;

/// Datagrams from a UDP socket.
pub struct UdpSource {
    socket: UdpSocket,
    name: String,
    batch: Batch,
    /// The kernel's drop count, as last reported.
    drops: Option<u64>,
}

/// The buffers of one `recvmmsg` call and how far they have been handed out.
struct Batch {
    data: Vec<u8>,
    control: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    lens: Vec<usize>,
    /// Datagrams in the batch, and the next to hand out.
    filled: usize,
    next: usize,
    arrival: pmacct_core::key::Timestamp,
}

impl UdpSource {
    /// Binds `ip` (all addresses, IPv4 and IPv6, when `None`) and `port`; `pipe_size` is the
    /// socket's receive buffer (`nfacctd_pipe_size`).
    pub fn bind(
        ip: Option<IpAddr>,
        port: u16,
        pipe_size: Option<u64>,
    ) -> Result<UdpSource, InputError> {
        let addr = SocketAddr::new(ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), port);
        let socket = match UdpSocket::bind(addr) {
            Ok(s) => s,
            // No IPv6 on this host: all IPv4 addresses.
            Err(_) if ip.is_none() => UdpSocket::bind(SocketAddr::new(
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                port,
            ))
            .map_err(|e| bind_error(addr, e))?,
            Err(e) => return Err(bind_error(addr, e)),
        };
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|e| bind_error(addr, e))?;
        if let Some(size) = pipe_size {
            set_receive_buffer(&socket, size);
        }
        let drops = set_int_option(&socket, libc::SO_RXQ_OVFL, 1)
            .map(|()| 0)
            .map_err(|e| tracing::warn!("SO_RXQ_OVFL: {e}; the kernel's drops are not counted"))
            .ok();
        let name = match socket.local_addr() {
            Ok(a) => format!("udp {a}"),
            Err(_) => format!("udp {addr}"),
        };
        Ok(UdpSource {
            socket,
            name,
            batch: Batch::new(),
            drops,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// Reads up to [`BATCH`] datagrams, waiting (at most the read timeout) for the first.
    fn fill(&mut self) -> std::io::Result<()> {
        let b = &mut self.batch;
        let mut iovecs: Vec<libc::iovec> = b
            .data
            .chunks_exact_mut(MAX_DATAGRAM)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .zip(b.addrs.iter_mut())
            .zip(b.control.chunks_exact_mut(CONTROL_LEN))
            .map(|((iov, addr), control)| {
                // SAFETY: msghdr is plain data; all-zero is a valid empty value.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_name = (addr as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = iov;
                h.msg_iovlen = 1;
                h.msg_control = control.as_mut_ptr().cast();
                h.msg_controllen = control.len() as _;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every header points into buffers (`data`, `addrs`, `control`, `iovecs`) that
        // outlive the call, with their true lengths; the kernel writes at most that much.
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        b.arrival = wall_now_precise();
        for (i, h) in headers.iter().take(n).enumerate() {
            b.lens[i] = (h.msg_len as usize).min(MAX_DATAGRAM);
            if let Some(d) = overflow_count(&h.msg_hdr) {
                self.drops = Some(self.drops.unwrap_or(0).max(u64::from(d)));
            }
        }
        (b.filled, b.next) = (n, 0);
        Ok(())
    }
}

impl Batch {
    fn new() -> Batch {
        Batch {
            data: vec![0; BATCH * MAX_DATAGRAM],
            control: vec![0; BATCH * CONTROL_LEN],
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid (AF_UNSPEC) value.
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            lens: vec![0; BATCH],
            filled: 0,
            next: 0,
            arrival: pmacct_core::key::Timestamp::default(),
        }
    }

    /// The next datagram of the batch and its sender.
    fn take(&mut self) -> Option<(SocketAddr, &[u8])> {
        while self.next < self.filled {
            let i = self.next;
            self.next += 1;
            let Some(from) = sender(&self.addrs[i]) else {
                continue;
            };
            let start = i * MAX_DATAGRAM;
            return Some((from, &self.data[start..start + self.lens[i]]));
        }
        None
    }
}

/// The SO_RXQ_OVFL count a received message carries, if any.
fn overflow_count(h: &libc::msghdr) -> Option<u32> {
    // SAFETY: `h` was filled by recvmmsg; CMSG_FIRSTHDR/CMSG_NXTHDR stay within
    // msg_control[..msg_controllen], and the data of an SO_RXQ_OVFL message is a u32.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// The sender's address and port (IPv4-mapped IPv6 as IPv4).
fn sender(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes());
            Some(SocketAddr::new(ip, u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = IpAddr::from(a.sin6_addr.s6_addr).to_canonical();
            Some(SocketAddr::new(ip, u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> InputError {
    InputError::Listen {
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

fn set_int_option(
    socket: &UdpSocket,
    option: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: setsockopt on a socket this process owns, with a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Sets SO_RCVBUF, and warns when the kernel gives less (net.core.rmem_max).
fn set_receive_buffer(socket: &UdpSocket, size: u64) {
    let want = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    if let Err(e) = set_int_option(socket, libc::SO_RCVBUF, want) {
        tracing::warn!("nfacctd_pipe_size: {e}");
        return;
    }
    let mut got: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on a socket this process owns, into a c_int of the size passed.
    unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        );
    }
    // Linux reports twice the size it was asked for (its bookkeeping share).
    if i64::from(got) < 2 * i64::from(want) {
        tracing::warn!(
            "nfacctd_pipe_size: asked for {want} bytes of socket buffer, got {} (raise net.core.rmem_max)",
            got / 2
        );
    }
}

impl DatagramSource for UdpSource {
    fn next_datagram(&mut self) -> Result<NextDatagram<'_>, InputError> {
        if self.batch.next >= self.batch.filled {
            match self.fill() {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return Ok(NextDatagram::Idle)
                }
                Err(e) => {
                    return Err(InputError::Read {
                        source_name: self.name.clone(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        let arrival = self.batch.arrival;
        match self.batch.take() {
            Some((from, data)) => Ok(NextDatagram::Datagram(Datagram {
                exporter: from.ip(),
                port: from.port(),
                data,
                arrival,
            })),
            None => Ok(NextDatagram::Idle),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn is_live(&self) -> bool {
        true
    }

    fn kernel_drops(&self) -> Option<u64> {
        self.drops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next datagram; loopback may deliver a moment after the send returns, so an idle
    /// read is asked again, for at most 10 s.
    fn next(source: &mut UdpSource) -> (IpAddr, Vec<u8>) {
        let start = std::time::Instant::now();
        loop {
            match source.next_datagram().expect("read") {
                NextDatagram::Datagram(d) => return (d.exporter, d.data.to_vec()),
                NextDatagram::Idle => {
                    assert!(start.elapsed() < Duration::from_secs(10), "no datagram")
                }
                _ => panic!("a socket does not end"),
            }
        }
    }

    #[test]
    fn batches_keep_order_sender_and_length_up_to_65507_bytes() {
        let mut source =
            UdpSource::bind(Some("127.0.0.1".parse().expect("ip")), 0, None).expect("bind");
        let to = source.local_addr().expect("addr");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
        let sizes: Vec<usize> = (0..70).map(|i| 1 + i * 7).chain([65_507]).collect();
        for (i, n) in sizes.iter().enumerate() {
            sender.send_to(&vec![i as u8; *n], to).expect("send");
        }
        for (i, n) in sizes.iter().enumerate() {
            let (from, data) = next(&mut source);
            assert_eq!(from, "127.0.0.1".parse::<IpAddr>().expect("ip"));
            assert_eq!(data, vec![i as u8; *n], "datagram {i}");
        }
        assert_eq!(source.kernel_drops(), Some(0));
    }

    #[test]
    fn the_kernels_drops_are_counted_exactly() {
        // A small buffer that 400 datagrams of 1,000 bytes overflow before any is read.
        let mut source =
            UdpSource::bind(Some("127.0.0.1".parse().expect("ip")), 0, Some(4096)).expect("bind");
        let to = source.local_addr().expect("addr");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
        for i in 0..400u32 {
            let mut d = vec![0; 1000];
            d[..4].copy_from_slice(&i.to_be_bytes());
            sender.send_to(&d, to).expect("send");
        }
        // Each datagram carries the drops counted before it was queued: one more, sent after
        // the buffer has been read empty, carries them all.
        let mut received = 0u64;
        loop {
            let (_, d) = next(&mut source);
            if d.len() == 1 {
                break;
            }
            received += 1;
            if source.batch.next == source.batch.filled
                && source.socket.peek_from(&mut [0; 1]).is_err()
            {
                sender.send_to(&[1], to).expect("send");
            }
        }
        let dropped = source.kernel_drops().expect("SO_RXQ_OVFL");
        assert!(
            received > 0 && dropped > 0,
            "{received} received, {dropped} dropped"
        );
        assert_eq!(received + dropped, 400);
    }
}
