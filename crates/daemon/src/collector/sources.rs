//! Where export datagrams come from: a UDP socket (`nfacctd_ip`, `nfacctd_port`, in
//! [`super::udp`]) or a capture file of them (`pcap_savefile`).

use std::net::IpAddr;

use pmacct_core::key::Timestamp;
use pmacct_wire::{decode_into, IpPacket, L2Info, Outcome};

use crate::input::{InputError, Next, PacketSource};

/// One export datagram and where it came from.
pub struct Datagram<'a> {
    pub exporter: IpAddr,
    /// The exporter's UDP source port.
    pub port: u16,
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
    /// Datagrams the kernel dropped because the socket's buffer was full (since it opened).
    fn kernel_drops(&self) -> Option<u64> {
        None
    }
}

/// The wall clock with microseconds.
pub(super) fn wall_now_precise() -> Timestamp {
    let now = jiff::Timestamp::now();
    Timestamp {
        secs: now.as_second(),
        micros: now.subsec_microsecond().clamp(0, 999_999) as u32,
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
        let pmacct_wire::Ports::Found { src, dst } = ip.ports else {
            return Ok(NextDatagram::Skipped);
        };
        if self.port.is_some_and(|p| p != dst) {
            return Ok(NextDatagram::Skipped);
        }
        match udp_payload(packet.data, ip) {
            Some(data) => Ok(NextDatagram::Datagram(Datagram {
                exporter: ip.src,
                port: src,
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
