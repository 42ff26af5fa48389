//! Networks written as `address/length` (`192.168.1.0/24`, `2001:db8::/32`).

use std::net::IpAddr;

/// The private ranges a home network uses (the default "local" networks).
pub const PRIVATE: [&str; 4] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

/// A network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// `192.168.1.0/24`, `2001:db8::/32`, or a bare address (a host).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (a, l) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a network (such as 192.168.1.0/24)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            "" => max,
            l => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, len })
    }

    fn bits(addr: IpAddr) -> (u128, u8) {
        match addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    /// The unspecified address of the network's family (`0.0.0.0` or `::`).
    pub fn unspecified(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        if addr.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len))
        };
        (Cidr::bits(addr).0 ^ Cidr::bits(self.addr).0) & mask == 0
    }

    /// The IPv4 network's broadcast address (none for hosts, /31, /32 and IPv6).
    pub fn broadcast(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) if self.len < 31 => {
                let host = u32::MAX >> self.len;
                Some(IpAddr::V4((u32::from(a) | host).into()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What a flow is, seen from the local networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A local device sent it out (upload).
    Upload,
    /// A local device received it (download).
    Download,
    /// Both ends local.
    Lan,
    /// Broadcast, multicast, link-local or unspecified addresses.
    Noise,
    /// Neither end local (transit).
    Foreign,
}

pub struct LocalNets {
    nets: Vec<Cidr>,
}

impl LocalNets {
    pub fn new(nets: Vec<Cidr>) -> LocalNets {
        LocalNets { nets }
    }

    pub fn is_local(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(addr))
    }

    /// Broadcast (global or a local network's), multicast, link-local, unspecified.
    pub fn is_noise(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => {
                a.is_broadcast()
                    || a.is_multicast()
                    || a.is_link_local()
                    || a.is_unspecified()
                    || self.nets.iter().any(|n| n.broadcast() == Some(addr))
            }
            IpAddr::V6(a) => {
                a.is_multicast() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
            }
        }
    }

    pub fn side(&self, src: IpAddr, dst: IpAddr) -> Side {
        if self.is_noise(src) || self.is_noise(dst) {
            return Side::Noise;
        }
        match (self.is_local(src), self.is_local(dst)) {
            (true, true) => Side::Lan,
            (true, false) => Side::Upload,
            (false, true) => Side::Download,
            (false, false) => Side::Foreign,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn sides_of_flows() {
        let nets = LocalNets::new(vec![
            Cidr::parse("192.168.1.0/24").expect("v4"),
            Cidr::parse("2001:db8:1::/48").expect("v6"),
        ]);
        assert_eq!(nets.side(ip("192.168.1.5"), ip("8.8.8.8")), Side::Upload);
        assert_eq!(nets.side(ip("8.8.8.8"), ip("192.168.1.5")), Side::Download);
        assert_eq!(nets.side(ip("192.168.1.5"), ip("192.168.1.6")), Side::Lan);
        assert_eq!(
            nets.side(ip("192.168.1.5"), ip("192.168.1.255")),
            Side::Noise
        );
        assert_eq!(nets.side(ip("192.168.1.5"), ip("224.0.0.251")), Side::Noise);
        assert_eq!(nets.side(ip("fe80::1"), ip("2001:db8:1::5")), Side::Noise);
        assert_eq!(nets.side(ip("2001:db8:1::5"), ip("2a00::1")), Side::Upload);
        assert_eq!(nets.side(ip("1.1.1.1"), ip("8.8.8.8")), Side::Foreign);
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("bogus").is_err());
    }

    #[test]
    fn networks_contain_their_addresses() {
        let n = Cidr::parse("192.168.1.0/24").expect("v4");
        assert!(n.contains("192.168.1.77".parse().expect("ip")));
        assert!(!n.contains("192.168.2.1".parse().expect("ip")));
        assert!(!n.contains("::1".parse().expect("ip")));
        assert_eq!(n.broadcast(), Some("192.168.1.255".parse().expect("ip")));
        assert_eq!(n.to_string(), "192.168.1.0/24");
        let host = Cidr::parse("2001:db8::5").expect("host");
        assert!(host.contains("2001:db8::5".parse().expect("ip")));
        assert!(!host.contains("2001:db8::6".parse().expect("ip")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("all")
            .contains("8.8.8.8".parse().expect("ip")));
    }
}
