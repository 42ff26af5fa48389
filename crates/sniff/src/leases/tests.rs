use super::*;

fn lease(addr: &str, mac: Option<[u8; 6]>, name: &str, expires: Option<i64>) -> Lease {
    Lease {
        addr: addr.parse().unwrap(),
        mac,
        name: name.to_owned(),
        expires,
    }
}

const MAC1: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC2: [u8; 6] = [0xa4, 0x83, 0xe7, 0x01, 0x02, 0x0f];

#[test]
fn dnsmasq_v4_and_v6() {
    let text = "\
1714600800 00:11:22:33:44:55 192.168.1.23 Jon-Laptop 01:00:11:22:33:44:55
0 a4:83:e7:01:02:0f 192.168.1.24 * *
# a comment

1714600900 20-aa:bb 192.168.1.25 odd-hw *
duid 00:01:00:01:2d:5e:1a:2b:00:11:22:33:44:55
1714601000 1234567 2001:db8::23 jon-laptop 00:01:00:01:2d:5e:1a:2b:00:11:22:33:44:55
1714601000 T99 fd00::5 * 00:02
garbage line
1714600800 00:11:22:33:44:55 not-an-ip x *
1714600800 00:11:22:33:44:55
";
    let parsed = parse_dnsmasq(text);
    assert_eq!(
        parsed.leases,
        vec![
            lease(
                "192.168.1.23",
                Some(MAC1),
                "jon-laptop",
                Some(1_714_600_800)
            ),
            lease("192.168.1.24", Some(MAC2), "", None),
            lease("192.168.1.25", None, "odd-hw", Some(1_714_600_900)),
            lease("2001:db8::23", None, "jon-laptop", Some(1_714_601_000)),
            lease("fd00::5", None, "", Some(1_714_601_000)),
        ]
    );
    assert_eq!(parsed.skipped, 3);
    assert_eq!(parse_auto(text), parsed);
}

const ISC: &str = r#"# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3

# authoring-byte-order entry is generated, DO NOT DELETE
authoring-byte-order little-endian;

server-duid "\000\001\000\001-^\032+\000\021\"3DU";

lease 192.168.1.23 {
  starts 3 2024/05/01 10:00:00;
  ends 3 2024/05/01 22:00:00;
  cltt 3 2024/05/01 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 00:11:22:33:44:55;
  uid "\001\000\021\"3DU";
  set vendor-class-identifier = "MSFT 5.0";
  client-hostname "Jon-Laptop";
}
lease 192.168.1.24 {
  starts 3 2024/05/01 10:05:00;
  ends never;
  binding state active;
  hardware ethernet a4:83:e7:1:2:f;
  client-hostname "quote\"d";
  on expiry { set foo = "}"; }
}
lease 192.168.1.25 {
  starts 3 2024/05/01 10:00:00;
  ends 3 2024/05/01 11:00:00;
  binding state active;
  hardware ethernet 00:11:22:33:44:66;
  client-hostname "old-name";
}
lease 192.168.1.26 {
  ends epoch 1714600800; # Wed May 01 22:00:00 2024
  binding state backup;
}
lease 192.168.1.25 {
  starts 3 2024/05/01 11:00:00;
  ends 3 2024/05/01 23:00:00;
  binding state active;
  hardware ethernet 00:11:22:33:44:66;
  client-hostname "new-name";
}
lease 192.168.1.23 {
  starts 3 2024/05/01 10:00:00;
  ends 3 2024/05/01 22:00:00;
  binding state active;
  hardware ethernet 00:11:22:33:44:55;
  client-hostname "jon-laptop";
}
lease 192.168.1.300 {
  binding state active;
}
failover peer "dhcp-failover" state {
  my state normal at 3 2024/05/01 09:00:00;
  partner state normal at 3 2024/05/01 09:00:00;
}
lease 192.168.1.27 {
  ends epoch 1714600800; # Wed May 01 22:00:00 2024
  binding state active;
  client-hostname "phone";
}
"#;

#[test]
fn isc_last_block_wins_and_inactive_states_are_dropped() {
    let parsed = parse_isc_dhcpd(ISC);
    assert_eq!(
        parsed.leases,
        vec![
            lease(
                "192.168.1.23",
                Some(MAC1),
                "jon-laptop",
                Some(1_714_600_800)
            ),
            lease("192.168.1.24", Some(MAC2), "quote\"d", None),
            lease(
                "192.168.1.25",
                Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x66]),
                "new-name",
                Some(1_714_604_400)
            ),
            lease("192.168.1.27", None, "phone", Some(1_714_600_800)),
        ]
    );
    assert_eq!(parsed.skipped, 1);
    assert_eq!(parse_auto(ISC), parsed);
}

#[test]
fn isc_free_block_ends_an_earlier_lease() {
    let text = "lease 10.0.0.5 { binding state active; client-hostname \"tv\"; }\n\
                lease 10.0.0.5 { binding state free; }\n\
                lease 10.0.0.6 { binding state abandoned; }\n\
                lease 10.0.0.7 { abandoned; }\n";
    assert_eq!(parse_isc_dhcpd(text), Parsed::default());
}

#[test]
fn isc_unterminated_block_is_skipped() {
    let text = "lease 10.0.0.8 { client-hostname \"a\"; }\nlease 10.0.0.9 { client-hostname \"b;";
    let parsed = parse_isc_dhcpd(text);
    assert_eq!(parsed.leases, vec![lease("10.0.0.8", None, "a", None)]);
    assert_eq!(parsed.skipped, 1);
}

#[test]
fn isc_ipv6_addresses_and_octal_escapes() {
    let text = "lease 2001:db8::9 { client-hostname \"h\\157st\"; ends 0 1970/01/01 00:00:00; }";
    assert_eq!(
        parse_isc_dhcpd(text).leases,
        vec![lease("2001:db8::9", None, "host", Some(0))]
    );
}

#[test]
fn dates() {
    let cases = [
        ("2024/05/01", "22:00:00", Some(1_714_600_800)),
        ("2000/02/29", "12:34:56", Some(951_827_696)),
        ("1969/12/31", "23:59:59", Some(-1)),
        ("2100/03/01", "00:00:00", Some(4_107_542_400)),
        ("2038/01/19", "03:14:08", Some(2_147_483_648)),
        ("2100/02/29", "00:00:00", None),
        ("2024/13/01", "00:00:00", None),
        ("2024/05/01", "24:00:00", None),
        ("2024/05", "00:00:00", None),
        ("2024/05/01/02", "00:00:00", None),
        ("2024/05/01", "00:00", None),
        ("x/05/01", "00:00:00", None),
    ];
    for (date, time, want) in cases {
        assert_eq!(parse_utc(date, time), want, "{date} {time}");
    }
}

#[test]
fn macs() {
    assert_eq!(parse_mac("00:11:22:33:44:55"), Some(MAC1));
    assert_eq!(parse_mac("a4:83:E7:1:2:f"), Some(MAC2));
    assert_eq!(parse_mac("00:11:22:33:44"), None);
    assert_eq!(parse_mac("00:11:22:33:44:55:66"), None);
    assert_eq!(parse_mac("00:11:22:33:44:555"), None);
    assert_eq!(parse_mac("00:11:22:33::55"), None);
}

#[test]
fn odd_text_never_panics() {
    let inputs = [
        "lease",
        "lease {",
        "}",
        "lease 1.2.3.4 {{{",
        "\"\\",
        "\"\\1",
        "#",
        "lease 1.2.3.4 { ends",
        "lease é { }",
        "lease 1.2.3.4 { client-hostname \"é\\377\"; }",
    ];
    for text in inputs {
        let _ = parse_isc_dhcpd(text);
        let _ = parse_dnsmasq(text);
        let _ = parse_auto(text);
    }
    let parsed = parse_isc_dhcpd("lease 1.2.3.4 { client-hostname \"é\\377\"; }");
    assert_eq!(parsed.leases, vec![lease("1.2.3.4", None, "", None)]);
}
