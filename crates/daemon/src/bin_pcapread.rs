//! pcapread: the floor for benchmarks. Reads a capture with libpcap and sums the captured
//! lengths, doing nothing else: the fastest a libpcap-based reader can go on this machine.
//!
//! Usage: `pcapread <file.pcap>`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: pcapread <file.pcap>")?;
    let mut capture = pcap::Capture::from_file(&path)?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        match capture.next_packet() {
            Ok(p) => {
                packets += 1;
                bytes += u64::from(p.header.len);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("{packets} packets, {bytes} bytes");
    Ok(())
}
