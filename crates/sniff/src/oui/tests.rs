use super::*;

/// Rows in the shape of the ieee-data files: CRLF line ends, quoted names with commas and
/// doubled quotes, an address with a line break inside quotes, a prefix assigned twice.
const OUI: &str = "Registry,Assignment,Organization Name,Organization Address\r\n\
MA-L,000C29,\"VMware, Inc.\",3401 Hillview Avenue Palo Alto CA US 94304 \r\n\
MA-L,001EFC,\"JSC \"\"MASSA-K\"\"\",\"15, A, Pirogovskaya nab.\nSaint-Petersburg RU 194044 \"\r\n\
MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane Piscataway NJ US 08554 \r\n\
MA-L,080030,NETWORK RESEARCH CORPORATION,2380 N. ROSE AVENUE OXNARD CA US 93010 \r\n\
MA-L,080030,CERN,CH-1211  GENEVE SUISSE/SWITZ CH 023 \r\n\
MA-L,XYZ123,Not Hex,\r\n\
MA-L,12345,Five Digits,\r\n\
MA-L,A047D7,Best IT World (India) Pvt Ltd,\"87, Mistry Complex,, Midc Cross Road \"\"A\"\", Andheri-East\"\r\n";

const MAM: &str = "Registry,Assignment,Organization Name,Organization Address\n\
MA-M,70B3D5A,Block Vendor,\n\
MA-M,208593B,IOG Products LLC,9737 LURLINE AVENUE CHATSWORTH CA US 91311 \n";

const OUI36: &str = "Registry,Assignment,Organization Name,Organization Address\n\
MA-S,70B3D5F2F,TELEPLATFORMS,\"Polbina st., 3/1 Moscow  RU 109388 \"\n\
MA-S,70B3D5A12,\"Small, Vendor\",";

#[test]
fn inline_csv_with_quoted_names() {
    let v = parse_ieee_csv(OUI);
    assert_eq!(v.len(), 5);
    assert_eq!(
        v.vendor([0x00, 0x0c, 0x29, 0xab, 0xcd, 0xef]),
        Some("VMware, Inc.")
    );
    assert_eq!(
        v.vendor([0x00, 0x1e, 0xfc, 0, 0, 1]),
        Some("JSC \"MASSA-K\"")
    );
    assert_eq!(
        v.vendor([0xa0, 0x47, 0xd7, 1, 2, 3]),
        Some("Best IT World (India) Pvt Ltd")
    );
    assert_eq!(
        v.vendor([0x08, 0x00, 0x30, 1, 2, 3]),
        Some("NETWORK RESEARCH CORPORATION")
    );
    assert_eq!(v.vendor([0x00, 0x0c, 0x2a, 0, 0, 0]), None);
}

#[test]
fn longest_prefix_wins() {
    let mut v = parse_ieee_csv(OUI);
    assert_eq!(v.add_ieee_csv(MAM), 2);
    assert_eq!(v.add_ieee_csv(OUI36), 2);
    assert_eq!(v.len(), 9);
    let ra = Some("IEEE Registration Authority");
    assert_eq!(
        v.vendor([0x70, 0xb3, 0xd5, 0xf2, 0xf0, 0x01]),
        Some("TELEPLATFORMS")
    );
    assert_eq!(v.vendor([0x70, 0xb3, 0xd5, 0xf2, 0xe0, 0x01]), ra);
    assert_eq!(
        v.vendor([0x70, 0xb3, 0xd5, 0xa1, 0x2f, 0xff]),
        Some("Small, Vendor")
    );
    assert_eq!(
        v.vendor([0x70, 0xb3, 0xd5, 0xa1, 0x30, 0x00]),
        Some("Block Vendor")
    );
    assert_eq!(
        v.vendor([0x70, 0xb3, 0xd5, 0xaf, 0xff, 0xff]),
        Some("Block Vendor")
    );
    assert_eq!(v.vendor([0x70, 0xb3, 0xd5, 0xb0, 0x00, 0x00]), ra);
    assert_eq!(
        v.vendor([0x20, 0x85, 0x93, 0xb0, 0, 0]),
        Some("IOG Products LLC")
    );
    assert_eq!(v.vendor([0x20, 0x85, 0x93, 0xc0, 0, 0]), None);
}

#[test]
fn local_and_multicast_macs_have_no_vendor() {
    let v = parse_ieee_csv("MA-L,020C29,Local,\nMA-L,010C29,Multicast,\nMA-L,000C29,Real,\n");
    assert_eq!(v.len(), 3);
    assert_eq!(v.vendor([0x00, 0x0c, 0x29, 0, 0, 0]), Some("Real"));
    assert_eq!(v.vendor([0x02, 0x0c, 0x29, 0, 0, 0]), None);
    assert_eq!(v.vendor([0x01, 0x0c, 0x29, 0, 0, 0]), None);
    assert_eq!(v.vendor([0xda, 0xa1, 0x19, 0, 0, 0]), None);
}

#[test]
fn odd_csv_never_panics() {
    for text in [
        "",
        "\"",
        "\"\"\"",
        ",,,",
        "a,000C29",
        "a,000C29,\"x",
        "\r\n\r\n",
        "é,é,é,é",
    ] {
        let v = parse_ieee_csv(text);
        let _ = v.vendor([0, 0x0c, 0x29, 0, 0, 0]);
    }
    let v = parse_ieee_csv("a,000C29,\"Unterminated, Name");
    assert_eq!(
        v.vendor([0, 0x0c, 0x29, 0, 0, 0]),
        Some("Unterminated, Name")
    );
}

/// Loads Debian's ieee-data files when they are installed.
#[test]
fn real_ieee_data() {
    let dir = std::path::Path::new("/usr/share/ieee-data");
    let Ok(oui) = std::fs::read_to_string(dir.join("oui.csv")) else {
        eprintln!("note: /usr/share/ieee-data/oui.csv is absent (package ieee-data); skipped");
        return;
    };
    let mut v = parse_ieee_csv(&oui);
    // `grep '^MA-L,000C29' oui.csv` gives `MA-L,000C29,"VMware, Inc.",3401 Hillview ...`.
    assert_eq!(
        v.vendor([0x00, 0x0c, 0x29, 0x12, 0x34, 0x56]),
        Some("VMware, Inc.")
    );
    // `MA-L,00000C,"Cisco Systems, Inc",...`
    assert_eq!(
        v.vendor([0x00, 0x00, 0x0c, 0x07, 0xac, 0x01]),
        Some("Cisco Systems, Inc")
    );
    assert!(v.len() > 30_000, "{} assignments", v.len());
    for (file, mac, want) in [
        (
            "oui36.csv",
            [0x70, 0xb3, 0xd5, 0xf2, 0xf0, 0x00],
            "TELEPLATFORMS",
        ),
        (
            "mam.csv",
            [0x20, 0x85, 0x93, 0xb0, 0x00, 0x00],
            "IOG Products LLC",
        ),
    ] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            assert!(v.add_ieee_csv(&text) > 1000);
            assert_eq!(v.vendor(mac), Some(want), "{file}");
        }
    }
}
