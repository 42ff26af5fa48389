//! Byte-literal tests of the decoder.

use super::*;
use std::net::Ipv6Addr;

const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

fn eth(etype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&etype.to_be_bytes());
    f
}

/// An IPv4 header with the given protocol and total length, no options.
fn ipv4(proto: u8, total_len: u16, frag: u16) -> Vec<u8> {
    let mut h = vec![0x45, 0x10];
    h.extend_from_slice(&total_len.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&[10, 0, 0, 1]);
    h.extend_from_slice(&[10, 0, 0, 2]);
    h
}

fn tcp(src: u16, dst: u16, flags: u8) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&src.to_be_bytes());
    t.extend_from_slice(&dst.to_be_bytes());
    t.extend_from_slice(&[0; 8]);
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t
}

fn frame(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn ip(d: Decoded) -> IpPacket {
    match d {
        Decoded::Ip(p) => p,
        other => panic!("expected IP, got {other:?}"),
    }
}

#[test]
fn ethernet_ipv4_tcp_counts_ip_length_not_frame_length() {
    let mut f = frame(&[&eth(0x0800), &ipv4(6, 40, 0), &tcp(12345, 80, 0x12)]);
    f.extend_from_slice(&[0; 6]); // Ethernet padding to 60 bytes
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.length, 40);
    assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(p.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(p.proto, 6);
    assert_eq!(p.tos, 0x10);
    assert_eq!(
        p.ports,
        Ports::Found {
            src: 12345,
            dst: 80
        }
    );
    assert_eq!(p.tcp_flags, 0x12);
    assert_eq!(p.l2.src_mac, MAC_A);
    assert_eq!(p.l2.dst_mac, MAC_B);
    assert_eq!(p.l2.etype, 0x0800);
    assert_eq!(p.fragment, None);
}

#[test]
fn padding_after_ip_is_not_read_as_ports() {
    // UDP with only 2 bytes of transport header inside the IP length, then Ethernet padding.
    let mut f = frame(&[&eth(0x0800), &ipv4(17, 22, 0), &[0x00, 0x35]]);
    f.extend_from_slice(&[0xaa; 20]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.ports, Ports::Truncated);
    assert_eq!(p.length, 22);
}

#[test]
fn snaplen_cut_after_ip_header_is_accounted_at_ip_length() {
    let f = frame(&[&eth(0x0800), &ipv4(6, 1500, 0)]);
    let p = ip(decode(LinkType::Ethernet, &f, 1514));
    assert_eq!(p.length, 1500);
    assert_eq!(p.ports, Ports::Truncated);
}

#[test]
fn forged_total_length_is_malformed() {
    let f = frame(&[&eth(0x0800), &ipv4(6, 65535, 0), &tcp(1, 2, 0)]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::IpLengthBeyondFrame)
    );
}

#[test]
fn bad_ihl_and_short_total_length_are_malformed() {
    let mut h = ipv4(6, 40, 0);
    h[0] = 0x44;
    let f = frame(&[&eth(0x0800), &h, &tcp(1, 2, 0)]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::Ipv4HeaderLengthBelowMinimum)
    );
    let f = frame(&[&eth(0x0800), &ipv4(6, 19, 0), &tcp(1, 2, 0)]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::Ipv4TotalLengthBelowHeader)
    );
}

#[test]
fn qinq_outer_vid_is_vlan_inner_is_cvlan() {
    let mut f = eth(0x88a8);
    f.extend_from_slice(&[0xa0, 0x64, 0x81, 0x00]); // PCP 5, VID 100, then 802.1Q
    f.extend_from_slice(&[0x00, 0xc8, 0x08, 0x00]); // VID 200, then IPv4
    f.extend_from_slice(&ipv4(17, 28, 0));
    f.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!((p.l2.vlan, p.l2.cvlan, p.l2.cos), (100, 200, 5));
    assert_eq!(p.l2.header_len, 22);
    assert_eq!(p.ports, Ports::Found { src: 5000, dst: 53 });
}

#[test]
fn mpls_stack_then_ipv4() {
    let mut f = eth(0x8847);
    f.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]); // label 16, not bottom
    f.extend_from_slice(&[0x00, 0x02, 0x01, 0x40]); // label 32, bottom
    f.extend_from_slice(&ipv4(6, 40, 0));
    f.extend_from_slice(&tcp(1, 2, 2));
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.length, 40);
    assert_eq!(p.l2.header_len, 22);
}

#[test]
fn mpls_stack_without_bottom_is_malformed() {
    let mut f = eth(0x8847);
    f.extend_from_slice(&[0x00, 0x01, 0x00, 0x40, 0x00, 0x01]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::TruncatedMplsStack)
    );
}

#[test]
fn pppoe_session_ipv4() {
    let mut f = eth(0x8864);
    f.extend_from_slice(&[0x11, 0x00, 0x00, 0x01, 0x00, 0x2a, 0x00, 0x21]);
    f.extend_from_slice(&ipv4(6, 40, 0));
    f.extend_from_slice(&tcp(1, 2, 2));
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.l2.header_len, 22);
    assert_eq!(p.ports, Ports::Found { src: 1, dst: 2 });
}

#[test]
fn ipv4_fragments() {
    let first = frame(&[&eth(0x0800), &ipv4(17, 1500, 0x2000), &[0, 1, 0, 2]]);
    let p = ip(decode(LinkType::Ethernet, &first, 1514));
    assert_eq!(
        p.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 0,
            more: true
        })
    );
    assert_eq!(p.ports, Ports::Found { src: 1, dst: 2 });
    let rest = frame(&[&eth(0x0800), &ipv4(17, 100, 185), &[0xde, 0xad, 0xbe, 0xef]]);
    let p = ip(decode(LinkType::Ethernet, &rest, 114));
    assert_eq!(
        p.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 1480,
            more: false
        })
    );
    assert_eq!(p.ports, Ports::InFirstFragment);
}

fn ipv6(next: u8, payload_len: u16) -> Vec<u8> {
    let mut h = vec![0x6a, 0xb0, 0, 0];
    h.extend_from_slice(&payload_len.to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
    h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    h
}

#[test]
fn ipv6_extension_headers_and_fragment_header() {
    // hop-by-hop (8 bytes) -> fragment header (first fragment, more) -> UDP
    let mut f = eth(0x86dd);
    f.extend_from_slice(&ipv6(0, 24));
    f.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[17, 0, 0x00, 0x01, 0xca, 0xfe, 0xba, 0xbe]);
    f.extend_from_slice(&[0x04, 0xd2, 0x16, 0x2e, 0, 8, 0, 0]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.proto, 17);
    assert_eq!(p.length, 64);
    assert_eq!(p.tos, 0xab);
    assert_eq!(
        p.ports,
        Ports::Found {
            src: 1234,
            dst: 5678
        }
    );
    assert_eq!(
        p.fragment,
        Some(Fragment {
            id: 0xcafebabe,
            offset: 0,
            more: true
        })
    );
}

#[test]
fn icmp_type_and_code() {
    let f = frame(&[&eth(0x0800), &ipv4(1, 28, 0), &[8, 0, 0, 0, 0, 1, 0, 1]]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.icmp, Some((8, 0)));
    assert_eq!(p.ports, Ports::None);
}

#[test]
fn cooked_and_raw_and_null_links() {
    let mut sll = vec![0, 0, 0, 1, 0, 6];
    sll.extend_from_slice(&MAC_A);
    sll.extend_from_slice(&[0, 0, 0x08, 0x00]);
    sll.extend_from_slice(&ipv4(6, 40, 0));
    sll.extend_from_slice(&tcp(1, 2, 0));
    let p = ip(decode(LinkType::LinuxSll, &sll, sll.len() as u32));
    assert_eq!(p.l2.src_mac, MAC_A);
    assert_eq!(p.length, 40);

    let raw = frame(&[&ipv4(6, 40, 0), &tcp(1, 2, 0)]);
    assert_eq!(ip(decode(LinkType::Raw, &raw, 40)).length, 40);

    let null = frame(&[&[2, 0, 0, 0], &ipv4(6, 40, 0), &tcp(1, 2, 0)]);
    assert_eq!(ip(decode(LinkType::Null, &null, 44)).length, 40);
    let lo = frame(&[&[0, 0, 0, 2], &ipv4(6, 40, 0), &tcp(1, 2, 0)]);
    assert_eq!(ip(decode(LinkType::Loop, &lo, 44)).length, 40);
}

#[test]
fn link_type_that_disagrees_with_the_version_is_malformed() {
    let v6 = ipv6(59, 0);
    assert_eq!(
        decode(LinkType::Ipv4, &v6, 40),
        Decoded::Malformed(Malformed::BadIpVersion)
    );
    // differences.md, decoding: the IPv4 ethertype with a version-6 header and the reverse
    // are malformed, not accounted.
    let f = frame(&[&eth(0x0800), &ipv6(59, 0)]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::BadIpVersion)
    );
    let f = frame(&[&eth(0x86dd), &ipv4(6, 40, 0), &tcp(1, 2, 0)]);
    assert_eq!(
        decode(LinkType::Ethernet, &f, f.len() as u32),
        Decoded::Malformed(Malformed::BadIpVersion)
    );
}

/// differences.md, decoding: SCTP ports are reported (pmacct prints 0 and 0).
#[test]
fn sctp_ports_are_reported() {
    let f = frame(&[
        &eth(0x0800),
        &ipv4(132, 40, 0),
        &[0x0b, 0x59, 0x0b, 0x5a],
        &[0; 16],
    ]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(
        (p.proto, p.ports),
        (
            132,
            Ports::Found {
                src: 2905,
                dst: 2906
            }
        )
    );
}

/// differences.md, decoding: an IPv6 chain cut by the snaplen reports the last next-header
/// read, and no ports.
#[test]
fn ipv6_chain_cut_by_the_capture_reports_the_last_next_header() {
    // Hop-by-hop, then routing (43) whose first two bytes say TCP follows; cut there.
    let mut f = eth(0x86dd);
    f.extend_from_slice(&ipv6(0, 40));
    f.extend_from_slice(&[43, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[6, 0]);
    let p = ip(decode(LinkType::Ethernet, &f, 14 + 80));
    assert_eq!((p.proto, p.ports, p.length), (6, Ports::Truncated, 80));
    // Cut after the hop-by-hop header: routing is the last next header read.
    let p = ip(decode(LinkType::Ethernet, &f[..f.len() - 2], 14 + 80));
    assert_eq!((p.proto, p.ports), (43, Ports::Truncated));
}

/// differences.md, decoding: BSD loopback's three AF_INET6 values (24 NetBSD/OpenBSD, 28
/// FreeBSD, 30 macOS) are IPv6 on any capturing host (pmacct on Linux drops them).
#[test]
fn bsd_loopback_inet6_values_are_ipv6() {
    for family in [24u32, 28, 30] {
        let le = frame(&[&family.to_le_bytes(), &ipv6(59, 0)]);
        assert_eq!(
            ip(decode(LinkType::Null, &le, 44)).length,
            40,
            "AF {family}"
        );
        let be = frame(&[&family.to_be_bytes(), &ipv6(59, 0)]);
        assert_eq!(
            ip(decode(LinkType::Loop, &be, 44)).length,
            40,
            "AF {family}"
        );
    }
}

#[test]
fn arp_is_not_ip() {
    let mut f = eth(0x0806);
    f.extend_from_slice(&[0; 28]);
    assert!(matches!(decode(LinkType::Ethernet, &f, 42), Decoded::NonIp(l2) if l2.etype == 0x0806));
}

fn udp(src: u16, dst: u16) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&src.to_be_bytes());
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&[0, 8, 0, 0]);
    u
}

#[test]
fn fabricpath_header_is_skipped_and_outer_macs_kept() {
    // Outer MACs, 0x8903, FTag/TTL, inner MACs, inner ethertype.
    let mut fp = vec![0x00, 0x40];
    fp.extend_from_slice(&[0xaa; 6]);
    fp.extend_from_slice(&[0xbb; 6]);
    fp.extend_from_slice(&0x0800u16.to_be_bytes());
    let f = frame(&[&eth(0x8903), &fp, &ipv4(17, 28, 0), &udp(53, 5353)]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.l2.src_mac, MAC_A);
    assert_eq!(p.l2.dst_mac, MAC_B);
    assert_eq!(p.l2.header_len, 30);
    assert_eq!(p.length, 28);
    assert_eq!(p.ports, Ports::Found { src: 53, dst: 5353 });
    // Cut inside the FabricPath header: malformed, not non-IP.
    assert_eq!(
        decode(LinkType::Ethernet, &f[..20], 60),
        Decoded::Malformed(Malformed::TruncatedLinkHeader)
    );
}

#[test]
fn vntag_is_skipped_and_a_vlan_inside_it_is_reported() {
    let f = frame(&[
        &eth(0x8926),
        &[0x80, 0x01, 0x00, 0x02, 0x08, 0x00],
        &ipv4(6, 40, 0),
        &tcp(1000, 443, 0x10),
    ]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!(p.l2.header_len, 20);
    assert_eq!(p.l2.vlan, 0);
    assert_eq!(
        p.ports,
        Ports::Found {
            src: 1000,
            dst: 443
        }
    );
    // pmacct 1.7.7 drops the VLAN id of a tag behind a VN-Tag; we report it.
    let f = frame(&[
        &eth(0x8926),
        &[0x80, 0x01, 0x00, 0x02, 0x81, 0x00],
        &[0x20, 0x07, 0x08, 0x00],
        &ipv4(6, 40, 0),
        &tcp(1000, 443, 0x10),
    ]);
    let p = ip(decode(LinkType::Ethernet, &f, f.len() as u32));
    assert_eq!((p.l2.vlan, p.l2.cos), (7, 1));
}

/// An 802.11 data frame header with the given frame control, addresses 1-3 (and 4).
fn wlan(fc: u16, addrs: &[[u8; 6]]) -> Vec<u8> {
    let mut h = fc.to_le_bytes().to_vec();
    h.extend_from_slice(&[0, 0]); // duration
    for a in &addrs[..3] {
        h.extend_from_slice(a);
    }
    h.extend_from_slice(&[0, 0]); // sequence control
    if let Some(a4) = addrs.get(3) {
        h.extend_from_slice(a4);
    }
    h
}

const SNAP_IPV4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
const BSSID: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

#[test]
fn ieee80211_data_frames_to_ip() {
    // To the AP: addr1 = BSSID, addr2 = SA, addr3 = DA.
    let f = frame(&[
        &wlan(0x0108, &[BSSID, MAC_A, MAC_B]),
        &SNAP_IPV4,
        &ipv4(17, 28, 0),
        &udp(5000, 53),
    ]);
    let p = ip(decode(LinkType::Ieee80211, &f, f.len() as u32));
    assert_eq!((p.l2.src_mac, p.l2.dst_mac), (MAC_A, MAC_B));
    assert_eq!(p.l2.header_len, 32);
    assert_eq!(p.length, 28);
    assert_eq!(p.ports, Ports::Found { src: 5000, dst: 53 });
    // From the AP: addr1 = DA, addr2 = BSSID, addr3 = SA.
    let f = frame(&[
        &wlan(0x0208, &[MAC_B, BSSID, MAC_A]),
        &SNAP_IPV4,
        &ipv4(17, 28, 0),
        &udp(5000, 53),
    ]);
    let p = ip(decode(LinkType::Ieee80211, &f, f.len() as u32));
    assert_eq!((p.l2.src_mac, p.l2.dst_mac), (MAC_A, MAC_B));
    // Four addresses (WDS): addr3 = DA, addr4 = SA, 30-byte header.
    let f = frame(&[
        &wlan(0x0308, &[BSSID, BSSID, MAC_B, MAC_A]),
        &SNAP_IPV4,
        &ipv4(17, 28, 0),
        &udp(5000, 53),
    ]);
    let p = ip(decode(LinkType::Ieee80211, &f, f.len() as u32));
    assert_eq!(
        (p.l2.src_mac, p.l2.dst_mac, p.l2.header_len),
        (MAC_A, MAC_B, 38)
    );
    // QoS data: two more header bytes (pmacct 1.7.7 misses these frames).
    let f = frame(&[
        &wlan(0x0188, &[BSSID, MAC_A, MAC_B]),
        &[0, 0],
        &SNAP_IPV4,
        &ipv4(17, 28, 0),
        &udp(5000, 53),
    ]);
    let p = ip(decode(LinkType::Ieee80211, &f, f.len() as u32));
    assert_eq!((p.l2.header_len, p.length), (34, 28));
}

#[test]
fn ieee80211_frames_without_ip_are_non_ip() {
    // A beacon (management), a protected data frame, a null-data frame, an ARP over SNAP.
    let beacon = frame(&[&wlan(0x0080, &[[0xff; 6], BSSID, BSSID]), &[0; 12]]);
    let protected = frame(&[&wlan(0x4108, &[BSSID, MAC_A, MAC_B]), &[0; 40]]);
    let null = wlan(0x0148, &[BSSID, MAC_A, MAC_B]);
    let arp = frame(&[
        &wlan(0x0108, &[BSSID, MAC_A, MAC_B]),
        &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06],
        &[0; 28],
    ]);
    for f in [beacon, protected, null, arp] {
        assert!(
            matches!(
                decode(LinkType::Ieee80211, &f, f.len() as u32),
                Decoded::NonIp(_)
            ),
            "{f:02x?}"
        );
    }
    // A data frame cut inside its MAC header is malformed.
    let f = wlan(0x0108, &[BSSID, MAC_A, MAC_B]);
    assert_eq!(
        decode(LinkType::Ieee80211, &f[..20], 100),
        Decoded::Malformed(Malformed::TruncatedLinkHeader)
    );
}

#[test]
fn every_prefix_of_every_frame_decodes_without_panicking() {
    let frames = [
        frame(&[&eth(0x0800), &ipv4(6, 40, 0), &tcp(1, 2, 0)]),
        frame(&[
            &eth(0x86dd),
            &ipv6(44, 16),
            &[6, 0, 0, 0, 0, 0, 0, 1],
            &tcp(1, 2, 0),
        ]),
        frame(&[
            &eth(0x8100),
            &[0, 5, 0x88, 0x47],
            &[0, 1, 1, 0x40],
            &ipv4(17, 28, 0),
        ]),
        frame(&[
            &eth(0x8926),
            &[0x80, 0x01, 0x00, 0x02, 0x89, 0x03],
            &[0; 14],
            &[0x08, 0x00],
            &ipv4(17, 28, 0),
        ]),
        frame(&[
            &wlan(0x0388, &[BSSID, BSSID, MAC_B, MAC_A]),
            &[0, 0],
            &SNAP_IPV4,
            &ipv4(17, 28, 0),
            &udp(1, 2),
        ]),
    ];
    let links = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
        LinkType::Raw,
        LinkType::Ppp,
        LinkType::Ieee80211,
    ];
    for f in &frames {
        for n in 0..=f.len() {
            for link in links {
                let _ = decode(link, &f[..n], f.len() as u32);
                let _ = decode(link, &f[..n], 0);
            }
        }
    }
}

#[test]
fn vxlan_inner_frame_is_found_behind_ipv4_and_ipv6() {
    let inner = frame(&[&eth(0x0800), &ipv4(6, 40, 0), &tcp(1, 2, 0x02)]);
    let vxlan = [0x08, 0, 0, 0, 0, 0, 0x2a, 0];
    let v4 = frame(&[
        &eth(0x0800),
        &ipv4(17, 36 + inner.len() as u16, 0),
        &udp(45833, 4789),
        &vxlan,
        &inner,
    ]);
    assert_eq!(
        crate::vxlan_inner(LinkType::Ethernet, &v4),
        Some((14 + 20 + 16, 42))
    );
    let (at, _) = crate::vxlan_inner(LinkType::Ethernet, &v4).expect("inner");
    assert_eq!(&v4[at..], &inner[..]);
    let v6 = frame(&[
        &eth(0x86dd),
        &ipv6(17, 24 + inner.len() as u16),
        &udp(1, 4789),
        &vxlan,
        &inner,
    ]);
    assert_eq!(
        crate::vxlan_inner(LinkType::Ethernet, &v6),
        Some((14 + 40 + 16, 42))
    );
    // Another port, the I flag missing, a later fragment, nothing behind the header: no.
    let other = frame(&[
        &eth(0x0800),
        &ipv4(17, 36, 0),
        &udp(1, 4790),
        &vxlan,
        &inner,
    ]);
    assert_eq!(crate::vxlan_inner(LinkType::Ethernet, &other), None);
    let no_flag = frame(&[
        &eth(0x0800),
        &ipv4(17, 36, 0),
        &udp(1, 4789),
        &[0; 8],
        &inner,
    ]);
    assert_eq!(crate::vxlan_inner(LinkType::Ethernet, &no_flag), None);
    let fragment = frame(&[
        &eth(0x0800),
        &ipv4(17, 36, 0x0010),
        &udp(1, 4789),
        &vxlan,
        &inner,
    ]);
    assert_eq!(crate::vxlan_inner(LinkType::Ethernet, &fragment), None);
    let empty = frame(&[&eth(0x0800), &ipv4(17, 36, 0), &udp(1, 4789), &vxlan]);
    assert_eq!(crate::vxlan_inner(LinkType::Ethernet, &empty), None);
    for n in 0..v4.len() {
        let _ = crate::vxlan_inner(LinkType::Ethernet, &v4[..n]);
    }
}
