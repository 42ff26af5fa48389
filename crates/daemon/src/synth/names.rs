//! A generated capture in which clients learn names: DNS answers over UDP and TCP (CNAME
//! chains, IPv4 and IPv6, a short TTL that runs out, two clients getting different answers
//! for one name and one address), then TLS, HTTP and QUIC connections naming their servers.
//! Each packet carries the names a reader of the capture should give its two addresses, for
//! tests to compare with.

use std::net::IpAddr;

/// One packet of the capture and the names its addresses should get.
pub struct NamedPacket {
    pub secs: u32,
    pub frame: Vec<u8>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The name the destination used for the source ("" when none).
    pub src_name: &'static str,
    /// The name the source used for the destination.
    pub dst_name: &'static str,
}

/// Seconds a name outlives its TTL in the scenario (the capture is read with `names_grace`
/// set to this).
pub const GRACE: u32 = 60;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// A DNS name in wire form.
fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in n.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A record of a DNS answer: owner, and CNAME target or address.
pub enum Rr<'a> {
    Cname(&'a str, &'a str, u32),
    Addr(&'a str, IpAddr, u32),
}

/// A DNS response to `question` (type A or AAAA) with `answers`, no compression.
pub fn dns_response(id: u16, question: &str, aaaa: bool, answers: &[Rr]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&name(question));
    m.extend_from_slice(&[0, if aaaa { 28 } else { 1 }, 0, 1]);
    for rr in answers {
        let (owner, kind, ttl, rdata) = match rr {
            Rr::Cname(o, target, ttl) => (o, 5u16, ttl, name(target)),
            Rr::Addr(o, IpAddr::V4(a), ttl) => (o, 1, ttl, a.octets().to_vec()),
            Rr::Addr(o, IpAddr::V6(a), ttl) => (o, 28, ttl, a.octets().to_vec()),
        };
        m.extend_from_slice(&name(owner));
        m.extend_from_slice(&kind.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
    }
    m
}

/// An Ethernet frame of an IPv4 or IPv6 packet carrying `l4` (protocol `proto`).
fn frame(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            f.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => {}
    }
    f.extend_from_slice(l4);
    f
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = sport.to_be_bytes().to_vec();
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// The scenario's packets, in time order.
pub fn capture(start: u32) -> Vec<NamedPacket> {
    let (a, b, c) = (ip("192.168.1.10"), ip("192.168.1.11"), ip("2001:db8::10"));
    let (resolver, resolver6) = (ip("192.168.1.1"), ip("2001:db8::1"));
    let (cdn, cdn2, v6) = (
        ip("203.0.113.10"),
        ip("203.0.113.20"),
        ip("2001:db8:cafe::1"),
    );
    let (tls_s, http_s, quic_s) = (ip("198.51.100.5"), ip("198.51.100.6"), ip("198.51.100.7"));
    let mut out = Vec::new();
    let mut push = |t: u32, src, dst, proto, l4: Vec<u8>, src_name, dst_name| {
        out.push(NamedPacket {
            secs: start + t,
            frame: frame(src, dst, proto, &l4),
            src,
            dst,
            src_name,
            dst_name,
        })
    };
    // A resolves www.example.com: a CNAME chain (listed out of order) to the CDN, TTL 30.
    let answer = dns_response(
        1,
        "www.example.com",
        false,
        &[
            Rr::Addr("edge.cdn.example.net", cdn, 30),
            Rr::Cname("www.example.com", "edge.cdn.example.net", 300),
        ],
    );
    push(0, resolver, a, 17, udp(53, 40000, &answer), "", "");
    // B gets another address for the same name, and the same CDN address for another name
    // over TCP (two messages in one segment).
    let other = dns_response(
        2,
        "www.example.com",
        false,
        &[Rr::Addr("www.example.com", cdn2, 300)],
    );
    push(1, resolver, b, 17, udp(53, 40001, &other), "", "");
    let mut stream = Vec::new();
    for m in [
        dns_response(
            3,
            "video.example.org",
            false,
            &[Rr::Addr("video.example.org", cdn, 300)],
        ),
        dns_response(
            4,
            "img.example.org",
            false,
            &[Rr::Addr("img.example.org", ip("203.0.113.30"), 300)],
        ),
    ] {
        stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
        stream.extend_from_slice(&m);
    }
    push(1, resolver, b, 6, tcp(53, 40002, &stream), "", "");
    // C resolves an IPv6 name.
    let six = dns_response(
        5,
        "ipv6.example.com",
        true,
        &[Rr::Addr("ipv6.example.com", v6, 300)],
    );
    push(2, resolver6, c, 17, udp(53, 40003, &six), "", "");
    // Traffic to the names: one address, two names, by client.
    push(
        3,
        a,
        cdn,
        6,
        tcp(50000, 443, b"data"),
        "",
        "www.example.com",
    );
    push(
        3,
        cdn,
        a,
        6,
        tcp(443, 50000, &[0; 400]),
        "www.example.com",
        "",
    );
    push(
        3,
        b,
        cdn,
        6,
        tcp(50001, 443, b"data"),
        "",
        "video.example.org",
    );
    push(
        3,
        b,
        cdn2,
        6,
        tcp(50002, 443, b"data"),
        "",
        "www.example.com",
    );
    push(
        4,
        c,
        v6,
        17,
        udp(50003, 443, &[0x40; 100]),
        "",
        "ipv6.example.com",
    );
    // Connections that name their server.
    let hello = pmacct_sniff::quic::build::tls_client_hello("secure.example.org");
    push(
        5,
        a,
        tls_s,
        6,
        tcp(50004, 443, &hello),
        "",
        "secure.example.org",
    );
    push(
        5,
        tls_s,
        a,
        6,
        tcp(443, 50004, &[0; 300]),
        "secure.example.org",
        "",
    );
    let get = b"GET /index.html HTTP/1.1\r\nHost: plain.example.org:8080\r\nAccept: */*\r\n\r\n";
    push(
        6,
        a,
        http_s,
        6,
        tcp(50005, 80, get),
        "",
        "plain.example.org",
    );
    if let Some(initial) =
        pmacct_sniff::quic::build::quic_client_initial(&[7; 8], "quic.example.net")
    {
        push(
            7,
            a,
            quic_s,
            17,
            udp(50006, 443, &initial),
            "",
            "quic.example.net",
        );
    }
    // A post-quantum ClientHello over two Initials: the name comes with the second.
    let pq = ip("198.51.100.8");
    let split =
        pmacct_sniff::quic::build::quic_client_initials_split(&[8; 8], "pq.example.net", 1600);
    for (i, d) in split.iter().enumerate() {
        let named = if i == 0 { "" } else { "pq.example.net" };
        push(8, a, pq, 17, udp(50007, 443, d), "", named);
    }
    // A's CDN answer (TTL 30) is forgotten GRACE seconds after it ran out; B's lives on.
    let late = 30 + GRACE + 1;
    push(late, a, cdn, 6, tcp(50000, 443, b"late"), "", "");
    push(
        late,
        b,
        cdn,
        6,
        tcp(50001, 443, b"late"),
        "",
        "video.example.org",
    );
    out
}

/// A DHCPv4 message (BOOTP, magic cookie, options) from `chaddr`: message type `kind`
/// (1 DISCOVER, 3 REQUEST, 5 ACK), `yiaddr`, and the options given (code, value).
pub fn dhcp(kind: u8, chaddr: [u8; 6], yiaddr: [u8; 4], options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let op = if kind == 5 { 2 } else { 1 };
    let mut m = vec![op, 1, 6, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0];
    m.extend_from_slice(&[0; 4]); // ciaddr
    m.extend_from_slice(&yiaddr);
    m.extend_from_slice(&[0; 8]); // siaddr, giaddr
    m.extend_from_slice(&chaddr);
    m.extend_from_slice(&[0; 10 + 64 + 128]);
    m.extend_from_slice(&[0x63, 0x82, 0x53, 0x63, 53, 1, kind]);
    for (code, value) in options {
        m.push(*code);
        m.push(value.len() as u8);
        m.extend_from_slice(value);
    }
    m.push(255);
    m
}

/// An mDNS response announcing `host.local` at `addr`.
pub fn mdns_announce(host: &str, addr: IpAddr) -> Vec<u8> {
    let owner = format!("{host}.local");
    let mut m = dns_response(0, &owner, addr.is_ipv6(), &[Rr::Addr(&owner, addr, 120)]);
    // An announcement has no question: drop it (name, type, class) and say so.
    let question = name(&owner).len() + 4;
    m.drain(12..12 + question);
    m[4..6].copy_from_slice(&[0, 0]);
    m[2] = 0x84;
    m
}

/// A device of [`home_devices`]: address, MAC, the name it gives itself.
pub type Device = (IpAddr, [u8; 6], &'static str);

/// A home network whose devices name themselves: a DHCP ACK for `jon-laptop`, a REQUEST with a
/// client FQDN (option 81) for the TV, an mDNS announcement of the printer; then each device
/// sends 1,000 bytes of IP to the internet. (addr, mac, name) of each device, and the frames.
pub fn home_devices(start: u32) -> (Vec<Device>, Vec<(u32, Vec<u8>)>) {
    let laptop = (
        ip("192.168.1.23"),
        [0x00, 0x0c, 0x29, 0x01, 0x02, 0x03],
        "jon-laptop",
    );
    let tv = (
        ip("192.168.1.24"),
        [0x00, 0x00, 0x0c, 0x04, 0x05, 0x06],
        "living-room-tv",
    );
    let printer = (
        ip("192.168.1.30"),
        [0x02, 0x11, 0x22, 0x33, 0x44, 0x55],
        "printer",
    );
    let router = ip("192.168.1.1");
    let mut frames = Vec::new();
    let with_macs = |mut f: Vec<u8>, src: [u8; 6]| {
        f[6..12].copy_from_slice(&src);
        f
    };
    let ack = dhcp(
        5,
        laptop.1,
        [192, 168, 1, 23],
        &[(12, b"jon-laptop".to_vec()), (51, vec![0, 0, 14, 16])],
    );
    frames.push((
        start,
        frame(router, ip("255.255.255.255"), 17, &udp(67, 68, &ack)),
    ));
    let mut fqdn = vec![0x01, 0, 0];
    fqdn.extend_from_slice(b"living-room-tv.lan");
    let request = dhcp(3, tv.1, [0; 4], &[(50, vec![192, 168, 1, 24]), (81, fqdn)]);
    let req = frame(
        ip("0.0.0.0"),
        ip("255.255.255.255"),
        17,
        &udp(68, 67, &request),
    );
    frames.push((start + 1, with_macs(req, tv.1)));
    let announce = mdns_announce("printer", printer.0);
    let mdns = frame(
        printer.0,
        ip("224.0.0.251"),
        17,
        &udp(5353, 5353, &announce),
    );
    frames.push((start + 2, with_macs(mdns, printer.1)));
    for (i, (addr, mac, _)) in [laptop, tv, printer].iter().enumerate() {
        let remote = ip(&format!("198.51.100.{}", 50 + i));
        let f = frame(*addr, remote, 17, &udp(40000, 443, &[0; 972]));
        frames.push((start + 10 + i as u32, with_macs(f, *mac)));
    }
    (vec![laptop, tv, printer], frames)
}

/// Writes `packets` packets of a network that names its servers, for benchmarks: in every 100,
/// one DNS answer (a CNAME chain to a new address), one TLS ClientHello, one HTTP request and
/// one QUIC Initial naming a server, and 96 packets of data between 250 clients and the named
/// servers. Deterministic.
pub fn write_mix(path: &std::path::Path, packets: u64, start: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let quic: Vec<Vec<u8>> = (0..16u8)
        .filter_map(|i| {
            pmacct_sniff::quic::build::quic_client_initial(&[i; 8], &format!("q{i}.example.net"))
        })
        .collect();
    let hello = pmacct_sniff::quic::build::tls_client_hello("www.example.org");
    let resolver = ip("192.168.0.1");
    let mut rng = super::Rng(0x5eed);
    for i in 0..packets {
        let client = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, (i % 250) as u8 + 1));
        let n = rng.below(100_000) as u32;
        let server = IpAddr::V4(std::net::Ipv4Addr::from(0xcb00_0000 | n));
        let frame = match i % 100 {
            0 => {
                let q = format!("www{n}.example.com");
                let edge = format!("edge{}.cdn.example.net", n % 97);
                let msg = dns_response(
                    n as u16,
                    &q,
                    false,
                    &[Rr::Cname(&q, &edge, 300), Rr::Addr(&edge, server, 60)],
                );
                frame(
                    resolver,
                    client,
                    17,
                    &udp(53, 40000 + (n % 1000) as u16, &msg),
                )
            }
            1 => frame(client, server, 6, &tcp(50000, 443, &hello)),
            2 => frame(
                client,
                server,
                6,
                &tcp(
                    50001,
                    80,
                    b"GET / HTTP/1.1\r\nHost: plain.example.org\r\n\r\n",
                ),
            ),
            3 => match quic.get((n % 16) as usize) {
                Some(q) => frame(client, server, 17, &udp(50002, 443, q)),
                None => frame(client, server, 17, &udp(50002, 443, &[0x40; 100])),
            },
            k if k % 2 == 0 => frame(client, server, 6, &tcp(50000, 443, &[0x17; 600])),
            _ => frame(server, client, 6, &tcp(443, 50000, &[0x17; 1200])),
        };
        let t = start + (i / 10_000) as u32;
        for v in [
            t,
            (i % 10_000) as u32 * 100,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            out.write_all(&v.to_le_bytes())?;
        }
        out.write_all(&frame)?;
    }
    out.flush()
}

/// Writes [`home_devices`] as a pcap file; the devices.
pub fn write_home_devices(path: &std::path::Path, start: u32) -> std::io::Result<Vec<Device>> {
    let (devices, frames) = home_devices(start);
    let frames: Vec<super::Frame> = frames
        .iter()
        .map(|(secs, data)| super::Frame {
            secs: *secs,
            usecs: 0,
            data,
        })
        .collect();
    super::write_frames(path, 1, &frames)?;
    Ok(devices)
}
