//! Where export datagrams come from: a UDP socket (`nfacctd_ip`, `nfacctd_port`) or a capture
//! file of them (`pcap_savefile`).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use pmacct_core::key::Timestamp;
use pmacct_wire::{decode_into, IpPacket, L2Info, Outcome};

use crate::input::{InputError, Next, PacketSource};

/// One export datagram and where it came from.
pub struct Datagram<'a> {
    pub exporter: IpAddr,
    pub data: &'a [u8],
    pub arrival: Timestamp,
}

pub enum NextDatagram<'a> {
    Datagram(Datagram<'a>),
    /// A frame of a capture that is not an export datagram (counted).
    Skipped,
    /// Nothing arrived within the read timeout (live).
    Idle,
    End,
}

pub trait DatagramSource: Send {
    fn next_datagram(&mut self) -> Result<NextDatagram<'_>, InputError>;
    fn name(&self) -> &str;
    fn is_live(&self) -> bool;
}

/// How long a socket read waits before the loop checks its stop flag and ticks the plugins.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// The wall clock with microseconds.
fn wall_now_precise() -> Timestamp {
    let now = jiff::Timestamp::now();
    Timestamp {
        secs: now.as_second(),
        micros: now.subsec_microsecond().clamp(0, 999_999) as u32,
    }
}

/// Datagrams from a UDP socket.
pub struct UdpSource {
    socket: UdpSocket,
    buf: Vec<u8>,
    name: String,
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
        let name = match socket.local_addr() {
            Ok(a) => format!("udp {a}"),
            Err(_) => format!("udp {addr}"),
        };
        Ok(UdpSource {
            socket,
            buf: vec![0; 65_535],
            name,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> InputError {
    InputError::Listen {
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

/// Sets SO_RCVBUF, and warns when the kernel gives less (net.core.rmem_max).
fn set_receive_buffer(socket: &UdpSocket, size: u64) {
    use std::os::fd::AsRawFd;
    let want = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt/getsockopt on a socket this process owns, with a c_int buffer of the
    // size passed.
    let got = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&want as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let mut got: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut got as *mut libc::c_int).cast(),
            &mut len,
        );
        got
    };
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
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, from)) => {
                let arrival = wall_now_precise();
                Ok(NextDatagram::Datagram(Datagram {
                    exporter: from.ip().to_canonical(),
                    data: &self.buf[..n],
                    arrival,
                }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(NextDatagram::Idle)
            }
            Err(e) => Err(InputError::Read {
                source_name: self.name.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// Export datagrams read from a capture file: the UDP payload of each frame (to `port` only,
/// when one is given), the frame's source address as the exporter.
pub struct DatagramFile {
    packets: Box<dyn PacketSource>,
    port: Option<u16>,
    ip: IpPacket,
}

impl DatagramFile {
    pub fn new(packets: Box<dyn PacketSource>, port: Option<u16>) -> DatagramFile {
        DatagramFile {
            packets,
            port,
            ip: IpPacket::new(L2Info::default()),
        }
    }
}

/// The UDP payload of a decoded frame, if it is an unfragmented UDP datagram.
fn udp_payload<'a>(frame: &'a [u8], ip: &IpPacket) -> Option<&'a [u8]> {
    if ip.proto != 17 || ip.fragment.is_some() {
        return None;
    }
    let at = usize::try_from(ip.l2.header_len).ok()?;
    let first = *frame.get(at)?;
    let ip_len = match first >> 4 {
        4 => usize::from(first & 0x0f) * 4,
        6 if frame.get(at + 6) == Some(&17) => 40,
        _ => return None,
    };
    let udp = frame.get(at + ip_len..)?;
    let udp_len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    let end = udp_len.clamp(8, udp.len());
    udp.get(8..end)
}

impl DatagramSource for DatagramFile {
    fn next_datagram(&mut self) -> Result<NextDatagram<'_>, InputError> {
        let packet = match self.packets.next_packet()? {
            Next::Packet(p) => p,
            Next::Idle => return Ok(NextDatagram::Idle),
            Next::End => return Ok(NextDatagram::End),
        };
        let ip = &mut self.ip;
        if decode_into(packet.link, packet.data, packet.wire_len, ip) != Outcome::Ip {
            return Ok(NextDatagram::Skipped);
        }
        let pmacct_wire::Ports::Found { dst, .. } = ip.ports else {
            return Ok(NextDatagram::Skipped);
        };
        if self.port.is_some_and(|p| p != dst) {
            return Ok(NextDatagram::Skipped);
        }
        match udp_payload(packet.data, ip) {
            Some(data) => Ok(NextDatagram::Datagram(Datagram {
                exporter: ip.src,
                data,
                arrival: packet.ts,
            })),
            None => Ok(NextDatagram::Skipped),
        }
    }

    fn name(&self) -> &str {
        self.packets.name()
    }

    fn is_live(&self) -> bool {
        false
    }
}
