//! Aggregation primitives: their names, their columns, and the `aggregate` list.
//!
//! The enum's order is pmacct's canonical column order: outputs always print columns in this
//! order, whatever order the user listed them in.

use std::collections::BTreeSet;
use std::fmt;

/// A key field a plugin can aggregate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Primitive {
    Tag,
    Tag2,
    Label,
    SrcMac,
    DstMac,
    Vlan,
    InCvlan,
    Cos,
    Etype,
    SrcAs,
    DstAs,
    SrcAsName,
    DstAsName,
    PeerSrcIp,
    PeerDstIp,
    InIface,
    OutIface,
    MplsVpnRd,
    SrcHost,
    SrcNet,
    DstHost,
    DstNet,
    SrcHostName,
    DstHostName,
    SrcMask,
    DstMask,
    SrcPort,
    DstPort,
    TcpFlags,
    FwdStatus,
    Proto,
    Tos,
    SrcHostCountry,
    DstHostCountry,
    SrcHostPocode,
    DstHostPocode,
    SrcHostLat,
    SrcHostLon,
    DstHostLat,
    DstHostLon,
    SamplingRate,
    PostNatSrcHost,
    PostNatDstHost,
    PostNatSrcPort,
    PostNatDstPort,
    NatEvent,
    MplsLabelTop,
    MplsLabelBottom,
    Vxlan,
    TimestampStart,
    TimestampEnd,
    TimestampArrival,
    ExportProtoSeqno,
    ExportProtoVersion,
    ExportProtoSysid,
    // Custom primitives (`aggregate_primitives`), by slot; see `crate::custom`.
    Custom0,
    Custom1,
    Custom2,
    Custom3,
    Custom4,
    Custom5,
    Custom6,
    Custom7,
    Custom8,
    Custom9,
    Custom10,
    Custom11,
    Custom12,
    Custom13,
    Custom14,
    Custom15,
}

/// How a primitive is printed.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header of formatted/csv output.
    pub header: &'static str,
    /// Key in JSON output.
    pub json: &'static str,
    /// Width of the formatted column, separator spaces included.
    pub width: usize,
    /// Whether JSON prints the value as a string.
    pub json_string: bool,
}

impl Primitive {
    pub const ALL: [Primitive; 71] = [
        Primitive::Tag,
        Primitive::Tag2,
        Primitive::Label,
        Primitive::SrcMac,
        Primitive::DstMac,
        Primitive::Vlan,
        Primitive::InCvlan,
        Primitive::Cos,
        Primitive::Etype,
        Primitive::SrcAs,
        Primitive::DstAs,
        Primitive::SrcAsName,
        Primitive::DstAsName,
        Primitive::PeerSrcIp,
        Primitive::PeerDstIp,
        Primitive::InIface,
        Primitive::OutIface,
        Primitive::MplsVpnRd,
        Primitive::SrcHost,
        Primitive::SrcNet,
        Primitive::DstHost,
        Primitive::DstNet,
        Primitive::SrcHostName,
        Primitive::DstHostName,
        Primitive::SrcMask,
        Primitive::DstMask,
        Primitive::SrcPort,
        Primitive::DstPort,
        Primitive::TcpFlags,
        Primitive::FwdStatus,
        Primitive::Proto,
        Primitive::Tos,
        Primitive::SrcHostCountry,
        Primitive::DstHostCountry,
        Primitive::SrcHostPocode,
        Primitive::DstHostPocode,
        Primitive::SrcHostLat,
        Primitive::SrcHostLon,
        Primitive::DstHostLat,
        Primitive::DstHostLon,
        Primitive::SamplingRate,
        Primitive::PostNatSrcHost,
        Primitive::PostNatDstHost,
        Primitive::PostNatSrcPort,
        Primitive::PostNatDstPort,
        Primitive::NatEvent,
        Primitive::MplsLabelTop,
        Primitive::MplsLabelBottom,
        Primitive::Vxlan,
        Primitive::TimestampStart,
        Primitive::TimestampEnd,
        Primitive::TimestampArrival,
        Primitive::ExportProtoSeqno,
        Primitive::ExportProtoVersion,
        Primitive::ExportProtoSysid,
        Primitive::Custom0,
        Primitive::Custom1,
        Primitive::Custom2,
        Primitive::Custom3,
        Primitive::Custom4,
        Primitive::Custom5,
        Primitive::Custom6,
        Primitive::Custom7,
        Primitive::Custom8,
        Primitive::Custom9,
        Primitive::Custom10,
        Primitive::Custom11,
        Primitive::Custom12,
        Primitive::Custom13,
        Primitive::Custom14,
        Primitive::Custom15,
    ];

    /// The custom primitive slot (`aggregate_primitives`), for `Custom0` to `Custom15`.
    #[inline]
    pub fn custom_slot(self) -> Option<usize> {
        (self as usize).checked_sub(Primitive::Custom0 as usize)
    }

    /// The custom primitive in `slot`.
    pub fn custom(slot: usize) -> Option<Primitive> {
        Primitive::ALL
            .get(Primitive::Custom0 as usize + slot)
            .copied()
    }

    /// The name used in `aggregate` and by the client's `-c`.
    pub fn name(self) -> &'static str {
        if let Some(slot) = self.custom_slot() {
            return crate::custom::name(slot);
        }
        match self {
            Primitive::Tag => "tag",
            Primitive::Tag2 => "tag2",
            Primitive::Label => "label",
            Primitive::SrcMac => "src_mac",
            Primitive::DstMac => "dst_mac",
            Primitive::Vlan => "vlan",
            Primitive::InCvlan => "in_cvlan",
            Primitive::Cos => "cos",
            Primitive::Etype => "etype",
            Primitive::InIface => "in_iface",
            Primitive::OutIface => "out_iface",
            Primitive::SrcHost => "src_host",
            Primitive::SrcNet => "src_net",
            Primitive::DstHost => "dst_host",
            Primitive::DstNet => "dst_net",
            Primitive::SrcMask => "src_mask",
            Primitive::DstMask => "dst_mask",
            Primitive::SrcPort => "src_port",
            Primitive::DstPort => "dst_port",
            Primitive::TcpFlags => "tcpflags",
            Primitive::Proto => "proto",
            Primitive::Tos => "tos",
            Primitive::SamplingRate => "sampling_rate",
            Primitive::TimestampArrival => "timestamp_arrival",
            Primitive::SrcAs => "src_as",
            Primitive::DstAs => "dst_as",
            Primitive::SrcAsName => "src_as_name",
            Primitive::DstAsName => "dst_as_name",
            Primitive::SrcHostName => "src_host_name",
            Primitive::DstHostName => "dst_host_name",
            Primitive::SrcHostCountry => "src_host_country",
            Primitive::DstHostCountry => "dst_host_country",
            Primitive::SrcHostPocode => "src_host_pocode",
            Primitive::DstHostPocode => "dst_host_pocode",
            // The coordinates are one primitive printed in two columns.
            Primitive::SrcHostLat | Primitive::SrcHostLon => "src_host_coords",
            Primitive::DstHostLat | Primitive::DstHostLon => "dst_host_coords",
            Primitive::PeerSrcIp => "peer_src_ip",
            Primitive::PeerDstIp => "peer_dst_ip",
            Primitive::MplsVpnRd => "mpls_vpn_rd",
            Primitive::FwdStatus => "fwd_status",
            Primitive::PostNatSrcHost => "post_nat_src_host",
            Primitive::PostNatDstHost => "post_nat_dst_host",
            Primitive::PostNatSrcPort => "post_nat_src_port",
            Primitive::PostNatDstPort => "post_nat_dst_port",
            Primitive::NatEvent => "nat_event",
            Primitive::MplsLabelTop => "mpls_label_top",
            Primitive::MplsLabelBottom => "mpls_label_bottom",
            Primitive::Vxlan => "vxlan",
            Primitive::TimestampStart => "timestamp_start",
            Primitive::TimestampEnd => "timestamp_end",
            Primitive::ExportProtoSeqno => "export_proto_seqno",
            Primitive::ExportProtoVersion => "export_proto_version",
            Primitive::ExportProtoSysid => "export_proto_sysid",
            _ => "",
        }
    }

    pub fn column(self) -> Column {
        let c = |header, json, width, json_string| Column {
            header,
            json,
            width,
            json_string,
        };
        if let Some(slot) = self.custom_slot() {
            let name = crate::custom::name(slot);
            let width = crate::custom::defs().get(slot).map_or(0, |d| d.width());
            return c(name, name, width, true);
        }
        match self {
            Primitive::Tag => c("TAG", "tag", 12, false),
            Primitive::Tag2 => c("TAG2", "tag2", 12, false),
            Primitive::Label => c("LABEL", "label", 33, true),
            Primitive::SrcMac => c("SRC_MAC", "mac_src", 19, true),
            Primitive::DstMac => c("DST_MAC", "mac_dst", 19, true),
            Primitive::Vlan => c("VLAN", "vlan", 7, false),
            Primitive::InCvlan => c("IN_CVLAN", "cvlan_in", 10, false),
            Primitive::Cos => c("COS", "cos", 4, false),
            Primitive::Etype => c("ETYPE", "etype", 7, true),
            Primitive::InIface => c("IN_IFACE", "iface_in", 12, false),
            Primitive::OutIface => c("OUT_IFACE", "iface_out", 12, false),
            Primitive::SrcHost => c("SRC_IP", "ip_src", 47, true),
            Primitive::SrcNet => c("SRC_NET", "net_src", 47, true),
            Primitive::DstHost => c("DST_IP", "ip_dst", 47, true),
            Primitive::DstNet => c("DST_NET", "net_dst", 47, true),
            Primitive::SrcMask => c("SRC_MASK", "mask_src", 10, false),
            Primitive::DstMask => c("DST_MASK", "mask_dst", 10, false),
            Primitive::SrcPort => c("SRC_PORT", "port_src", 10, false),
            Primitive::DstPort => c("DST_PORT", "port_dst", 10, false),
            Primitive::TcpFlags => c("TCP_FLAGS", "tcp_flags", 11, true),
            Primitive::Proto => c("PROTOCOL", "ip_proto", 12, true),
            Primitive::Tos => c("TOS", "tos", 7, false),
            Primitive::SamplingRate => c("SAMPLING_RATE", "sampling_rate", 14, false),
            Primitive::TimestampArrival => c("TIMESTAMP_ARRIVAL", "timestamp_arrival", 31, true),
            Primitive::SrcAs => c("SRC_AS", "as_src", 12, false),
            Primitive::DstAs => c("DST_AS", "as_dst", 12, false),
            Primitive::SrcAsName => c("SRC_AS_NAME", "as_name_src", 33, true),
            Primitive::DstAsName => c("DST_AS_NAME", "as_name_dst", 33, true),
            Primitive::SrcHostName => c("SRC_HOST_NAME", "host_name_src", 33, true),
            Primitive::DstHostName => c("DST_HOST_NAME", "host_name_dst", 33, true),
            Primitive::SrcHostCountry => c("SH_COUNTRY", "country_ip_src", 12, true),
            Primitive::DstHostCountry => c("DH_COUNTRY", "country_ip_dst", 12, true),
            Primitive::SrcHostPocode => c("SH_POCODE", "pocode_ip_src", 14, true),
            Primitive::DstHostPocode => c("DH_POCODE", "pocode_ip_dst", 14, true),
            Primitive::SrcHostLat => c("SH_LAT", "lat_ip_src", 14, false),
            Primitive::SrcHostLon => c("SH_LON", "lon_ip_src", 14, false),
            Primitive::DstHostLat => c("DH_LAT", "lat_ip_dst", 14, false),
            Primitive::DstHostLon => c("DH_LON", "lon_ip_dst", 14, false),
            Primitive::PeerSrcIp => c("PEER_SRC_IP", "peer_ip_src", 47, true),
            Primitive::PeerDstIp => c("PEER_DST_IP", "peer_ip_dst", 47, true),
            Primitive::MplsVpnRd => c("MPLS_VPN_RD", "mpls_vpn_rd", 19, true),
            Primitive::FwdStatus => c("FWD_STATUS", "fwd_status", 12, false),
            Primitive::PostNatSrcHost => c("POST_NAT_SRC_IP", "post_nat_ip_src", 47, true),
            Primitive::PostNatDstHost => c("POST_NAT_DST_IP", "post_nat_ip_dst", 47, true),
            Primitive::PostNatSrcPort => c("POST_NAT_SRC_PORT", "post_nat_port_src", 19, false),
            Primitive::PostNatDstPort => c("POST_NAT_DST_PORT", "post_nat_port_dst", 19, false),
            Primitive::NatEvent => c("NAT_EVENT", "nat_event", 11, false),
            Primitive::MplsLabelTop => c("MPLS_LABEL_TOP", "mpls_label_top", 16, false),
            Primitive::MplsLabelBottom => c("MPLS_LABEL_BOTTOM", "mpls_label_bottom", 19, false),
            Primitive::Vxlan => c("VXLAN", "vxlan", 10, false),
            Primitive::TimestampStart => c("TIMESTAMP_START", "timestamp_start", 31, true),
            Primitive::TimestampEnd => c("TIMESTAMP_END", "timestamp_end", 31, true),
            Primitive::ExportProtoSeqno => c("EXPORT_PROTO_SEQNO", "export_proto_seqno", 20, false),
            Primitive::ExportProtoVersion => {
                c("EXPORT_PROTO_VERSION", "export_proto_version", 22, false)
            }
            Primitive::ExportProtoSysid => c("EXPORT_PROTO_SYSID", "export_proto_sysid", 20, false),
            _ => c("", "", 0, true),
        }
    }

    pub fn parse(name: &str) -> Option<Primitive> {
        if name.is_empty() {
            return None;
        }
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The group `pmacctd -a` lists it under, and what it holds.
    pub fn about(self) -> (&'static str, &'static str) {
        match self {
            Primitive::Tag => ("MISC", "Numeric tag set by the pre_tag_map (or post_tag)"),
            Primitive::Tag2 => (
                "MISC",
                "Second numeric tag set by the pre_tag_map (or post_tag2)",
            ),
            Primitive::Label => ("MISC", "Text label set by the pre_tag_map"),
            Primitive::SrcMac => ("L2", "Source MAC address"),
            Primitive::DstMac => ("L2", "Destination MAC address"),
            Primitive::Vlan => ("L2", "802.1Q VLAN id (the outer one)"),
            Primitive::InCvlan => ("L2", "Inner (customer) VLAN id of a QinQ frame"),
            Primitive::Cos => ("L2", "802.1p class of service"),
            Primitive::Etype => ("L2", "Ethertype"),
            Primitive::InIface => (
                "L3",
                "Input interface id (pcap_interfaces_map, pcap_ifindex)",
            ),
            Primitive::OutIface => (
                "L3",
                "Output interface id (pcap_interfaces_map, pcap_ifindex)",
            ),
            Primitive::SrcHost => ("L3", "Source IPv4/IPv6 address"),
            Primitive::SrcNet => ("L3", "Source network (networks_file or networks_mask)"),
            Primitive::DstHost => ("L3", "Destination IPv4/IPv6 address"),
            Primitive::DstNet => ("L3", "Destination network (networks_file or networks_mask)"),
            Primitive::SrcMask => ("L3", "Source network mask length"),
            Primitive::DstMask => ("L3", "Destination network mask length"),
            Primitive::SrcPort => ("L4", "Source TCP/UDP port"),
            Primitive::DstPort => ("L4", "Destination TCP/UDP port"),
            Primitive::TcpFlags => ("L4", "TCP flags seen (ORed)"),
            Primitive::Proto => ("L3", "IP protocol"),
            Primitive::Tos => ("L3", "IP ToS / DSCP byte"),
            Primitive::SamplingRate => ("MISC", "Sampling rate the counters were taken at"),
            Primitive::TimestampArrival => ("TIME", "Time the packet was captured"),
            Primitive::SrcAs => (
                "L3",
                "Source AS number (from the flow, networks_file with nfacctd_as, or geoipv2_asn_file)",
            ),
            Primitive::DstAs => (
                "L3",
                "Destination AS number (from the flow, networks_file with nfacctd_as, or geoipv2_asn_file)",
            ),
            Primitive::SrcAsName => ("L3", "Name of the source AS (geoipv2_asn_file)"),
            Primitive::DstAsName => ("L3", "Name of the destination AS (geoipv2_asn_file)"),
            Primitive::SrcHostName => (
                "NAMES",
                "Name the client used for the source address (DNS, TLS, HTTP, QUIC seen on the wire; docs/names.md)",
            ),
            Primitive::DstHostName => (
                "NAMES",
                "Name the client used for the destination address (DNS, TLS, HTTP, QUIC seen on the wire; docs/names.md)",
            ),
            Primitive::SrcHostCountry => ("GEO", "Country of the source address (geoipv2_file)"),
            Primitive::DstHostCountry => {
                ("GEO", "Country of the destination address (geoipv2_file)")
            }
            Primitive::SrcHostPocode => ("GEO", "Postal code of the source address (geoipv2_file)"),
            Primitive::DstHostPocode => {
                ("GEO", "Postal code of the destination address (geoipv2_file)")
            }
            Primitive::SrcHostLat | Primitive::SrcHostLon => (
                "GEO",
                "Latitude and longitude of the source address (geoipv2_file)",
            ),
            Primitive::DstHostLat | Primitive::DstHostLon => (
                "GEO",
                "Latitude and longitude of the destination address (geoipv2_file)",
            ),
            Primitive::PeerSrcIp => (
                "MISC",
                "Address of the exporter that sent the flow (NetFlow/IPFIX)",
            ),
            Primitive::PeerDstIp => ("MISC", "BGP next hop of the flow"),
            Primitive::MplsVpnRd => ("L3", "MPLS VPN route distinguisher"),
            Primitive::FwdStatus => (
                "MISC",
                "Forwarding status of the flow (NetFlow/IPFIX IE 89)",
            ),
            Primitive::PostNatSrcHost => ("NAT", "Source address after NAT (NSEL/NEL)"),
            Primitive::PostNatDstHost => ("NAT", "Destination address after NAT (NSEL/NEL)"),
            Primitive::PostNatSrcPort => ("NAT", "Source port after NAT (NSEL/NEL)"),
            Primitive::PostNatDstPort => ("NAT", "Destination port after NAT (NSEL/NEL)"),
            Primitive::NatEvent => ("NAT", "NAT event (NSEL/NEL)"),
            Primitive::MplsLabelTop => ("L3", "Top MPLS label"),
            Primitive::MplsLabelBottom => ("L3", "Bottom MPLS label"),
            Primitive::Vxlan => (
                "L3",
                "VXLAN network identifier (VNI) of a VXLAN packet (sampled frames of sfacctd and nfacctd)",
            ),
            Primitive::TimestampStart => ("TIME", "Start time of the flow"),
            Primitive::TimestampEnd => ("TIME", "End time of the flow"),
            Primitive::ExportProtoSeqno => ("MISC", "Sequence number of the export datagram"),
            Primitive::ExportProtoVersion => ("MISC", "Version of the export protocol (5, 9, 10)"),
            Primitive::ExportProtoSysid => (
                "MISC",
                "Source id (v9), observation domain (IPFIX) or engine (v5) of the export",
            ),
            _ => ("CUSTOM", "Defined in the aggregate_primitives file"),
        }
    }

    /// Holds an IP address.
    pub fn is_address(self) -> bool {
        matches!(
            self,
            Primitive::SrcHost
                | Primitive::SrcNet
                | Primitive::DstHost
                | Primitive::DstNet
                | Primitive::PeerSrcIp
                | Primitive::PeerDstIp
                | Primitive::PostNatSrcHost
                | Primitive::PostNatDstHost
        )
    }

    /// Holds a time with microseconds.
    pub fn is_timestamp(self) -> bool {
        matches!(
            self,
            Primitive::TimestampArrival | Primitive::TimestampStart | Primitive::TimestampEnd
        )
    }

    /// The second column of a two-column primitive (the longitude of `*_host_coords`).
    pub fn companion(self) -> Option<Primitive> {
        match self {
            Primitive::SrcHostLat => Some(Primitive::SrcHostLon),
            Primitive::DstHostLat => Some(Primitive::DstHostLon),
            _ => None,
        }
    }

    /// The second column of a two-column primitive, listed under its first column's name.
    pub fn is_companion(self) -> bool {
        matches!(self, Primitive::SrcHostLon | Primitive::DstHostLon)
    }

    /// Filled from `geoipv2_file` (country, postal code, coordinates).
    pub fn is_geo(self) -> bool {
        matches!(
            self,
            Primitive::SrcHostCountry
                | Primitive::DstHostCountry
                | Primitive::SrcHostPocode
                | Primitive::DstHostPocode
                | Primitive::SrcHostLat
                | Primitive::SrcHostLon
                | Primitive::DstHostLat
                | Primitive::DstHostLon
        )
    }

    /// A coordinate (degrees, kept in millionths).
    pub fn is_coordinate(self) -> bool {
        matches!(
            self,
            Primitive::SrcHostLat
                | Primitive::SrcHostLon
                | Primitive::DstHostLat
                | Primitive::DstHostLon
        )
    }

    /// Text kept as an id of the process-wide text table ([`crate::labels`]): the label,
    /// postal codes, AS names and host names.
    pub fn is_interned_text(self) -> bool {
        matches!(
            self,
            Primitive::Label
                | Primitive::SrcHostPocode
                | Primitive::DstHostPocode
                | Primitive::SrcAsName
                | Primitive::DstAsName
                | Primitive::SrcHostName
                | Primitive::DstHostName
        )
    }

    /// A country code (two letters, kept as two bytes).
    pub fn is_country(self) -> bool {
        matches!(self, Primitive::SrcHostCountry | Primitive::DstHostCountry)
    }

    /// Needs a networks source (networks_file or networks_mask).
    pub fn is_network(self) -> bool {
        matches!(
            self,
            Primitive::SrcNet | Primitive::DstNet | Primitive::SrcMask | Primitive::DstMask
        )
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `sum_*` aggregations: each packet counts once for its source and once for its destination,
/// in a single column named after the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sum {
    Host,
    Net,
    Port,
    Mac,
}

impl Sum {
    pub fn name(self) -> &'static str {
        match self {
            Sum::Host => "sum_host",
            Sum::Net => "sum_net",
            Sum::Port => "sum_port",
            Sum::Mac => "sum_mac",
        }
    }
    /// The column the sum is printed in.
    pub fn column(self) -> Primitive {
        match self {
            Sum::Host => Primitive::SrcHost,
            Sum::Net => Primitive::SrcNet,
            Sum::Port => Primitive::SrcPort,
            Sum::Mac => Primitive::SrcMac,
        }
    }
}

/// A parsed `aggregate` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// Printed columns, in canonical order.
    pub columns: BTreeSet<Primitive>,
    pub sum: Option<Sum>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            columns: BTreeSet::from([Primitive::SrcHost]),
            sum: None,
        }
    }
}

/// Primitives pmacct knows that pmacctd (or pmacct-rs) cannot produce yet.
const NOT_YET: &[&str] = &[
    "flows",
    "class",
    "sum_as",
    "peer_src_as",
    "peer_dst_as",
    "sampling_direction",
    "mpls_stack_depth",
    "mpls_label_stack",
    "timestamp_export",
    "tunnel_src_mac",
    "tunnel_dst_mac",
    "tunnel_src_host",
    "tunnel_dst_host",
    "tunnel_proto",
    "tunnel_tos",
    "tunnel_src_port",
    "tunnel_dst_port",
    "tunnel_tcpflags",
    "std_comm",
    "ext_comm",
    "lrg_comm",
    "as_path",
    "local_pref",
    "med",
    "in_vlan",
    "out_vlan",
    "out_cvlan",
];

/// Every name `aggregate` knows, supported or not, for "did you mean" hints.
fn known_names() -> impl Iterator<Item = &'static str> {
    Primitive::ALL
        .into_iter()
        .map(Primitive::name)
        .chain(["sum_host", "sum_net", "sum_port", "sum_mac", "none"])
        .chain(NOT_YET.iter().copied())
}

/// Whether `aggregate` already gives `name` a meaning (a custom primitive cannot take it).
pub fn is_builtin_name(name: &str) -> bool {
    Primitive::ALL
        .into_iter()
        .filter(|p| p.custom_slot().is_none())
        .map(Primitive::name)
        .chain(["sum", "sum_host", "sum_net", "sum_port", "sum_mac", "none"])
        .chain(NOT_YET.iter().copied())
        .any(|n| n == name)
}

/// `unknown primitive 'x'`, with the closest known name when there is one.
pub fn unknown_primitive(name: &str) -> String {
    match crate::suggest::closest(name, known_names()) {
        Some(near) => format!("unknown primitive '{name}'; did you mean '{near}'?"),
        None => format!("unknown primitive '{name}'"),
    }
}

/// The items of a comma-separated primitive list: spaces removed, lower-cased, empty ones
/// skipped (the `aggregate` key and the client's `-c` share this reading).
pub fn list_items(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split(',')
        .map(|item| {
            item.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|item| !item.is_empty())
}

impl Aggregate {
    /// Parses a comma-separated list (spaces ignored, case-insensitive; `sum` = `sum_host`).
    pub fn parse(raw: &str) -> Result<Aggregate, String> {
        let mut columns = BTreeSet::new();
        let mut sum = None;
        let mut none = false;
        for item in list_items(raw) {
            match item.as_str() {
                "none" => none = true,
                "sum" | "sum_host" => sum = Some(Sum::Host),
                "sum_net" => sum = Some(Sum::Net),
                "sum_port" => sum = Some(Sum::Port),
                "sum_mac" => sum = Some(Sum::Mac),
                "src_ip" | "dst_ip" => {
                    return Err(format!(
                        "unknown primitive '{item}'; did you mean '{}'?",
                        item.replace("_ip", "_host")
                    ))
                }
                other => match Primitive::parse(other) {
                    Some(p) => {
                        columns.insert(p);
                        columns.extend(p.companion());
                    }
                    None if NOT_YET.contains(&other) => {
                        return Err(format!(
                            "primitive '{other}' is not supported by pmacct-rs yet"
                        ))
                    }
                    None => return Err(unknown_primitive(other)),
                },
            }
        }
        if let Some(s) = sum {
            if !columns.is_empty() || none {
                return Err(format!(
                    "{} cannot be combined with other primitives",
                    s.name()
                ));
            }
            columns.insert(s.column());
        } else if none && !columns.is_empty() {
            return Err("'none' cannot be combined with other primitives".into());
        } else if !none && columns.is_empty() {
            return Err("empty primitive list".into());
        }
        Ok(Aggregate { columns, sum })
    }

    pub fn contains(&self, p: Primitive) -> bool {
        self.columns.contains(&p)
    }

    pub fn needs_networks(&self) -> bool {
        self.columns.iter().any(|p| p.is_network())
    }

    pub fn needs_ports(&self) -> bool {
        self.contains(Primitive::SrcPort) || self.contains(Primitive::DstPort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_lax_about_case_and_spaces_and_orders_canonically() {
        let a = Aggregate::parse(" Proto, dst_host ,src_host").unwrap();
        assert_eq!(
            a.columns.into_iter().collect::<Vec<_>>(),
            vec![Primitive::SrcHost, Primitive::DstHost, Primitive::Proto]
        );
    }

    #[test]
    fn sums_are_exclusive() {
        assert_eq!(
            Aggregate::parse("sum").unwrap(),
            Aggregate {
                columns: BTreeSet::from([Primitive::SrcHost]),
                sum: Some(Sum::Host)
            }
        );
        assert_eq!(
            Aggregate::parse("sum_host, proto"),
            Err("sum_host cannot be combined with other primitives".into())
        );
        assert!(Aggregate::parse("none").unwrap().columns.is_empty());
    }

    #[test]
    fn unknown_and_unsupported() {
        assert_eq!(
            Aggregate::parse("src_hots"),
            Err("unknown primitive 'src_hots'; did you mean 'src_host'?".into())
        );
        assert_eq!(
            Aggregate::parse("src_ip"),
            Err("unknown primitive 'src_ip'; did you mean 'src_host'?".into())
        );
        assert_eq!(
            Aggregate::parse("bananas"),
            Err("unknown primitive 'bananas'".into())
        );
        assert_eq!(
            Aggregate::parse("as_path"),
            Err("primitive 'as_path' is not supported by pmacct-rs yet".into())
        );
    }
}
