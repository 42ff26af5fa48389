//! IP protocol names as pmacct prints them (`print_num_protos: false`).

/// pmacct's name for an IP protocol number; numbers without a name print as digits.
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
    t[0] = Some("ip");
    t[1] = Some("icmp");
    t[2] = Some("igmp");
    t[6] = Some("tcp");
    t[17] = Some("udp");
    t[41] = Some("ipv6");
    t[47] = Some("gre");
    t[50] = Some("esp");
    t[51] = Some("ah");
    t[58] = Some("ipv6-icmp");
    t[89] = Some("ospf");
    t[132] = Some("sctp");
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
