//! IP protocol names as pmacct prints them (`print_num_protos: false`).
//!
//! The table is pmacct 1.7.7's, read off its output for every protocol number 0..255.

/// pmacct's name for an IP protocol number; numbers without a name print as digits.
/// pmacct's name of a protocol number, if it has one.
pub fn protocol_label(proto: u8) -> Option<&'static str> {
    PROTOCOL_NAMES.get(usize::from(proto)).copied().flatten()
}

pub fn protocol_name(proto: u8) -> String {
    match PROTOCOL_NAMES.get(usize::from(proto)).copied().flatten() {
        Some(name) => name.to_string(),
        None => proto.to_string(),
    }
}

/// The number for a protocol name or number (client queries, filters).
pub fn protocol_number(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return Some(n);
    }
    PROTOCOL_NAMES
        .iter()
        .position(|n| *n == Some(name))
        .and_then(|i| u8::try_from(i).ok())
}

const fn table() -> [Option<&'static str>; 256] {
    let mut t: [Option<&'static str>; 256] = [None; 256];
    t[1] = Some("icmp");
    t[2] = Some("igmp");
    t[3] = Some("ggp");
    t[4] = Some("ipencap");
    t[6] = Some("tcp");
    t[8] = Some("egp");
    t[9] = Some("igp");
    t[17] = Some("udp");
    t[18] = Some("mux");
    t[41] = Some("ipv6");
    t[43] = Some("ipv6-route");
    t[44] = Some("ipv6-frag");
    t[46] = Some("rsvp");
    t[47] = Some("gre");
    t[50] = Some("esp");
    t[51] = Some("ah");
    t[55] = Some("mobile");
    t[56] = Some("tlsp");
    t[58] = Some("ipv6-icmp");
    t[59] = Some("ipv6-nonxt");
    t[60] = Some("ipv6-opts");
    t[80] = Some("iso-ip");
    t[83] = Some("vines");
    t[88] = Some("eigrp");
    t[89] = Some("ospf");
    t[91] = Some("larp");
    t[93] = Some("ax.25");
    t[94] = Some("ipip");
    t[98] = Some("encap");
    t[102] = Some("pnni");
    t[103] = Some("pim");
    t[108] = Some("IPcomp");
    t[111] = Some("ipx-in-ip");
    t[112] = Some("vrrp");
    t[115] = Some("l2tp");
    t[124] = Some("isis");
    t[132] = Some("sctp");
    t[133] = Some("fc");
    t
}

static PROTOCOL_NAMES: [Option<&str>; 256] = table();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(protocol_name(6), "tcp");
        assert_eq!(protocol_name(58), "ipv6-icmp");
        assert_eq!(protocol_number("udp"), Some(17));
        assert_eq!(protocol_number("17"), Some(17));
        assert_eq!(protocol_number("nope"), None);
    }
}
