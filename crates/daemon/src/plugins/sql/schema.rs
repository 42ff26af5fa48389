//! pmacct's SQL schemas: the columns of each `sql_table_version`, which primitive fills each,
//! and the CREATE TABLE of each backend (as the schema files pmacct ships, under `sql/` in this
//! repository).

use pmacct_core::config::SqlBackend;
use pmacct_core::primitive::{Aggregate, Primitive};

/// What fills a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A primitive of the key (a placeholder when the plugin does not aggregate it).
    Key(Primitive),
    /// Primitives pmacct-rs does not have yet: always their placeholder.
    ClassId,
    /// `timestamp_arrival`'s microseconds.
    ArrivalResidual,
    Packets,
    Bytes,
    Flows,
    TcpFlags,
    StampInserted,
    StampUpdated,
}

impl Source {
    /// Counters are added to (and TCP flags ORed into) an existing row; everything else
    /// identifies the row.
    pub fn is_counter(self) -> bool {
        matches!(
            self,
            Source::Packets
                | Source::Bytes
                | Source::Flows
                | Source::TcpFlags
                | Source::StampUpdated
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub source: Source,
}

const fn col(name: &'static str, source: Source) -> Column {
    Column { name, source }
}

/// The default columns of a schema version, in pmacct's order (counters and stamps last).
fn version_columns(v: u8, backend: SqlBackend) -> Vec<Column> {
    use Primitive as P;
    use Source::*;
    let mut c = Vec::new();
    if v >= 2 {
        c.push(col(tag_name(v), Key(P::Tag)));
    }
    if v >= 5 {
        c.push(col("class_id", ClassId));
    }
    c.push(col("mac_src", Key(P::SrcMac)));
    c.push(col("mac_dst", Key(P::DstMac)));
    if v >= 2 {
        c.push(col("vlan", Key(P::Vlan)));
    }
    if v >= 6 {
        c.push(col("as_src", Key(P::SrcAs)));
        c.push(col("as_dst", Key(P::DstAs)));
    }
    c.push(col("ip_src", Key(P::SrcHost)));
    c.push(col("ip_dst", Key(P::DstHost)));
    let ports = port_names(v, backend);
    c.push(col(ports[0], Key(P::SrcPort)));
    c.push(col(ports[1], Key(P::DstPort)));
    if v >= 7 {
        c.push(col("tcp_flags", TcpFlags));
    }
    c.push(col("ip_proto", Key(P::Proto)));
    if v >= 3 {
        c.push(col("tos", Key(P::Tos)));
    }
    c.push(col("packets", Packets));
    c.push(col("bytes", Bytes));
    if v >= 4 {
        c.push(col("flows", Flows));
    }
    c
}

/// The tag's column: `agent_id` before version 9.
fn tag_name(v: u8) -> &'static str {
    if v >= 9 {
        "tag"
    } else {
        "agent_id"
    }
}

/// pgsql tables always name ports port_src/port_dst; the others from version 8.
fn port_names(v: u8, backend: SqlBackend) -> [&'static str; 2] {
    if v >= 8 || backend == SqlBackend::Pgsql {
        ["port_src", "port_dst"]
    } else {
        ["src_port", "dst_port"]
    }
}

/// The column of a primitive outside the default schemas (pmacct's README.* names).
fn extra_column(p: Primitive, v: u8, backend: SqlBackend) -> Option<Column> {
    use Primitive as P;
    let name = match p {
        P::Tag => tag_name(v),
        P::Tag2 => "tag2",
        P::Label => "label",
        P::SamplingRate => "sampling_rate",
        P::InIface => "iface_in",
        P::OutIface => "iface_out",
        P::SrcMask => "mask_src",
        P::DstMask => "mask_dst",
        P::Cos => "cos",
        P::Etype => "etype",
        P::InCvlan => "cvlan",
        P::SrcNet => "net_src",
        P::DstNet => "net_dst",
        P::TimestampArrival => "timestamp_arrival",
        P::SrcMac => "mac_src",
        P::DstMac => "mac_dst",
        P::SrcHost => "ip_src",
        P::DstHost => "ip_dst",
        P::SrcPort => port_names(v, backend)[0],
        P::DstPort => port_names(v, backend)[1],
        P::Proto => "ip_proto",
        P::Tos => "tos",
        P::Vlan => "vlan",
        P::SrcAs => "as_src",
        P::DstAs => "as_dst",
        P::PeerSrcIp => "peer_ip_src",
        P::PeerDstIp => "peer_ip_dst",
        P::MplsVpnRd => "mpls_vpn_rd",
        P::FwdStatus => "fwd_status",
        P::PostNatSrcHost => "post_nat_ip_src",
        P::PostNatDstHost => "post_nat_ip_dst",
        P::PostNatSrcPort => "post_nat_port_src",
        P::PostNatDstPort => "post_nat_port_dst",
        P::NatEvent => "nat_event",
        P::MplsLabelTop => "mpls_label_top",
        P::MplsLabelBottom => "mpls_label_bottom",
        P::Vxlan => "vxlan",
        P::TimestampStart => "timestamp_start",
        P::TimestampEnd => "timestamp_end",
        P::ExportProtoSeqno => "export_proto_seqno",
        P::ExportProtoVersion => "export_proto_version",
        P::ExportProtoSysid => "export_proto_sysid",
        P::TcpFlags => return Some(col("tcp_flags", Source::TcpFlags)),
        // pmacct's README.GeoIP names (country_ip_src, pocode_ip_src, lat_ip_src, lon_ip_src),
        // and ours for names (as_name_src, host_name_src): the JSON output's.
        p if p.is_geo() || p.is_interned_text() && p != P::Label => p.column().json,
        // A custom primitive's column is its name (pmacct's README.custom_primitives).
        p => p.name(),
    };
    Some(col(name, Source::Key(p)))
}

/// Whether a primitive has a column in some default schema (and so must be in the chosen one).
fn in_default_schemas(p: Primitive) -> bool {
    use Primitive as P;
    matches!(
        p,
        P::Tag
            | P::SrcMac
            | P::DstMac
            | P::Vlan
            | P::SrcHost
            | P::DstHost
            | P::SrcPort
            | P::DstPort
            | P::Proto
            | P::Tos
            | P::TcpFlags
            | P::SrcAs
            | P::DstAs
    )
}

/// The columns a plugin writes: the version's (all of them, unaggregated ones with their
/// placeholder) plus a column for each aggregated primitive outside the default schemas; with
/// `optimize`, only the aggregated primitives' and the counters. Stamps come with time bins.
pub fn plan(
    aggregate: &Aggregate,
    version: u8,
    optimize: bool,
    bins: bool,
    backend: SqlBackend,
) -> Result<Vec<Column>, String> {
    let chosen = &aggregate.columns;
    let mut columns: Vec<Column> = if optimize {
        let mut c: Vec<Column> = chosen
            .iter()
            .filter_map(|p| extra_column(*p, version, backend))
            .collect();
        c.push(col("packets", Source::Packets));
        c.push(col("bytes", Source::Bytes));
        if version >= 4 {
            c.push(col("flows", Source::Flows));
        }
        c
    } else {
        let mut c = version_columns(version, backend);
        for p in chosen {
            if c.iter().any(|x| x.source == Source::Key(*p))
                || (*p == Primitive::TcpFlags && version >= 7)
            {
                continue;
            }
            if in_default_schemas(*p) {
                return Err(format!(
                    "primitive '{}' has no column in sql_table_version {version} (see docs/sql.md for the versions that have it, or set sql_optimize_clauses: true with your own table)",
                    p.name()
                ));
            }
            if let Some(extra) = extra_column(*p, version, backend) {
                let at = c
                    .iter()
                    .position(|x| x.source == Source::Packets)
                    .unwrap_or(c.len());
                c.insert(at, extra);
            }
        }
        c
    };
    if let Some(at) = columns
        .iter()
        .position(|c| c.source == Source::Key(Primitive::TimestampArrival))
    {
        columns.insert(
            at + 1,
            col("timestamp_arrival_residual", Source::ArrivalResidual),
        );
    }
    if bins {
        columns.push(col("stamp_inserted", Source::StampInserted));
        columns.push(col("stamp_updated", Source::StampUpdated));
    }
    Ok(columns)
}

/// A custom primitive's column type: unsigned numbers as big integers, the rest as text.
fn custom_type(p: Primitive, backend: SqlBackend) -> &'static str {
    let number = p
        .custom_slot()
        .and_then(|slot| pmacct_core::custom::defs().get(slot).map(|d| d.is_number()))
        .unwrap_or(false);
    match (number, backend) {
        (true, SqlBackend::Mysql) => "BIGINT UNSIGNED NOT NULL DEFAULT 0",
        (true, _) => "BIGINT NOT NULL DEFAULT 0",
        (false, SqlBackend::Pgsql) => "varchar(255) NOT NULL DEFAULT ''",
        (false, _) => "VARCHAR(255) NOT NULL DEFAULT ''",
    }
}

/// The SQL type (with its constraint and default) of a column in a backend.
fn column_type(c: &Column, backend: SqlBackend, epoch_stamps: bool, version: u8) -> &'static str {
    use Source::*;
    use SqlBackend::*;
    match (c.source, backend) {
        (StampInserted, _) if epoch_stamps => "BIGINT NOT NULL DEFAULT 0",
        (StampUpdated, _) if epoch_stamps => "BIGINT",
        (StampInserted, Pgsql) if version == 1 => {
            "timestamp without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP(0)"
        }
        (StampInserted, Pgsql) => {
            "timestamp without time zone NOT NULL DEFAULT '0001-01-01 00:00:00'"
        }
        (StampUpdated, Pgsql) => "timestamp without time zone",
        (StampInserted, Sqlite3) => "DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00'",
        // pmacct's mysql files have no default, so rows without time bins fail in strict mode.
        (StampInserted, Mysql) => "DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00'",
        (StampUpdated, _) => "DATETIME",
        (Packets, Mysql) => "INT UNSIGNED NOT NULL",
        (Packets, _) => "INT NOT NULL",
        (Bytes, Mysql) => "BIGINT UNSIGNED NOT NULL",
        (Bytes, _) => "BIGINT NOT NULL",
        (Flows, Mysql) => "INT UNSIGNED NOT NULL DEFAULT 0",
        (Flows, _) => "INT NOT NULL DEFAULT 0",
        (ClassId, _) => "CHAR(16) NOT NULL DEFAULT ' '",
        (Key(Primitive::Tag | Primitive::Tag2 | Primitive::SrcAs | Primitive::DstAs), Pgsql) => {
            "BIGINT NOT NULL DEFAULT 0"
        }
        (Key(Primitive::Tag | Primitive::Tag2 | Primitive::SrcAs | Primitive::DstAs), Sqlite3) => {
            "INT(8) NOT NULL DEFAULT 0"
        }
        (Key(Primitive::Tag | Primitive::Tag2 | Primitive::SrcAs | Primitive::DstAs), Mysql) => {
            "INT(4) UNSIGNED NOT NULL DEFAULT 0"
        }
        (Key(p), _) if p.custom_slot().is_some() => custom_type(p, backend),
        (Key(p), _) if p.is_country() => "CHAR(2) NOT NULL DEFAULT ''",
        (Key(Primitive::SrcHostPocode | Primitive::DstHostPocode), _) => {
            "CHAR(12) NOT NULL DEFAULT ''"
        }
        (Key(p), Pgsql) if p.is_coordinate() => "double precision NOT NULL DEFAULT 0",
        (Key(p), _) if p.is_coordinate() => "FLOAT NOT NULL DEFAULT 0",
        (Key(p), Pgsql) if p.is_interned_text() => "varchar(255) NOT NULL DEFAULT ''",
        (Key(p), _) if p.is_interned_text() => "VARCHAR(255) NOT NULL DEFAULT ''",
        (TcpFlags, Pgsql) => "SMALLINT NOT NULL DEFAULT 0",
        (Key(Primitive::SrcMac | Primitive::DstMac), Pgsql) => {
            "macaddr NOT NULL DEFAULT '0:0:0:0:0:0'"
        }
        (Key(Primitive::SrcMac | Primitive::DstMac), _) => {
            "CHAR(17) NOT NULL DEFAULT '0:0:0:0:0:0'"
        }
        (Key(p), Pgsql) if p.is_address() => "inet NOT NULL DEFAULT '0.0.0.0'",
        (Key(p), _) if p.is_address() => "CHAR(45) NOT NULL DEFAULT '0.0.0.0'",
        (Key(Primitive::MplsVpnRd), _) => "CHAR(18) NOT NULL DEFAULT '0:0:0'",
        (Key(Primitive::Proto), Pgsql) => "SMALLINT NOT NULL DEFAULT 0",
        (Key(Primitive::Proto), Mysql) => "CHAR(6) NOT NULL",
        (Key(Primitive::Proto), Sqlite3) => "CHAR(6) NOT NULL DEFAULT 0",
        (Key(Primitive::Etype), _) => "CHAR(5) NOT NULL DEFAULT '0'",
        (Key(p), Pgsql) if p.is_timestamp() => {
            "timestamp without time zone NOT NULL DEFAULT '0001-01-01 00:00:00'"
        }
        (Key(p), _) if p.is_timestamp() => "DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00'",
        (_, Mysql) => "INT UNSIGNED NOT NULL DEFAULT 0",
        (_, Pgsql) => "INT NOT NULL DEFAULT 0",
        (_, Sqlite3) => "INT(4) NOT NULL DEFAULT 0",
    }
}

/// A CREATE TABLE for the planned columns, its primary key every column that identifies a
/// row (as pmacct's schema files).
pub fn create_table(
    table: &str,
    columns: &[Column],
    backend: SqlBackend,
    epoch_stamps: bool,
    version: u8,
) -> String {
    let mut sql = format!("CREATE TABLE {table} (\n");
    for c in columns {
        sql.push_str(&format!(
            "    {} {},\n",
            c.name,
            column_type(c, backend, epoch_stamps, version)
        ));
    }
    let key: Vec<&str> = columns
        .iter()
        .filter(|c| !c.source.is_counter())
        .map(|c| c.name)
        .collect();
    if key.is_empty() {
        sql.truncate(sql.len() - 2);
        sql.push('\n');
    } else {
        sql.push_str(&format!("    PRIMARY KEY ({})\n", key.join(", ")));
    }
    sql.push(')');
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(aggregate: &str, v: u8, optimize: bool, bins: bool) -> Vec<&'static str> {
        plan(
            &Aggregate::parse(aggregate).unwrap(),
            v,
            optimize,
            bins,
            SqlBackend::Sqlite3,
        )
        .unwrap()
        .iter()
        .map(|c| c.name)
        .collect()
    }

    /// The default columns of every version, as pmacct's schema files list them.
    #[test]
    fn versions_have_pmacct_columns() {
        let base = "src_host, dst_host, proto";
        assert_eq!(
            names(base, 1, false, true).join(","),
            "mac_src,mac_dst,ip_src,ip_dst,src_port,dst_port,ip_proto,packets,bytes,stamp_inserted,stamp_updated"
        );
        assert_eq!(
            names(base, 2, false, true).join(","),
            "agent_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,packets,bytes,stamp_inserted,stamp_updated"
        );
        assert_eq!(
            names(base, 4, false, false).join(","),
            "agent_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,tos,packets,bytes,flows"
        );
        assert_eq!(
            names(base, 9, false, true).join(","),
            "tag,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,port_src,port_dst,tcp_flags,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated"
        );
        assert_eq!(
            names(base, 7, false, false)[9..12].join(","),
            "src_port,dst_port,tcp_flags"
        );
    }

    #[test]
    fn extra_primitives_get_their_columns_and_missing_ones_are_errors() {
        assert_eq!(
            names("src_host, in_iface, out_iface", 1, false, false)[7..10].join(","),
            "iface_in,iface_out,packets"
        );
        assert_eq!(
            names("src_host, dst_port", 9, true, true).join(","),
            "ip_src,port_dst,packets,bytes,flows,stamp_inserted,stamp_updated"
        );
        let vlan = plan(
            &Aggregate::parse("vlan").unwrap(),
            1,
            false,
            false,
            SqlBackend::Sqlite3,
        )
        .unwrap_err();
        assert!(
            vlan.contains("'vlan' has no column in sql_table_version 1"),
            "{vlan}"
        );
        assert!(plan(
            &Aggregate::parse("tos").unwrap(),
            2,
            false,
            false,
            SqlBackend::Sqlite3
        )
        .is_err());
        assert!(plan(
            &Aggregate::parse("tos").unwrap(),
            2,
            true,
            false,
            SqlBackend::Sqlite3
        )
        .is_ok());
    }

    #[test]
    fn create_table_as_the_schema_files() {
        let c = plan(
            &Aggregate::parse("src_host").unwrap(),
            1,
            false,
            true,
            SqlBackend::Sqlite3,
        )
        .unwrap();
        assert_eq!(
            create_table("acct", &c, SqlBackend::Sqlite3, false, 1),
            "CREATE TABLE acct (\n    mac_src CHAR(17) NOT NULL DEFAULT '0:0:0:0:0:0',\n    mac_dst CHAR(17) NOT NULL DEFAULT '0:0:0:0:0:0',\n    ip_src CHAR(45) NOT NULL DEFAULT '0.0.0.0',\n    ip_dst CHAR(45) NOT NULL DEFAULT '0.0.0.0',\n    src_port INT(4) NOT NULL DEFAULT 0,\n    dst_port INT(4) NOT NULL DEFAULT 0,\n    ip_proto CHAR(6) NOT NULL DEFAULT 0,\n    packets INT NOT NULL,\n    bytes BIGINT NOT NULL,\n    stamp_inserted DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',\n    stamp_updated DATETIME,\n    PRIMARY KEY (mac_src, mac_dst, ip_src, ip_dst, src_port, dst_port, ip_proto, stamp_inserted)\n)"
        );
    }

    /// The files under sql/ are what the plugins create (regenerate them with
    /// `UPDATE_SCHEMA_FILES=1 cargo test -p pmacct-daemon schema_files`).
    #[test]
    fn schema_files_are_what_the_plugins_create() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql");
        let update = std::env::var_os("UPDATE_SCHEMA_FILES").is_some();
        let none = Aggregate::parse("none").unwrap();
        for (backend, ext) in [
            (SqlBackend::Sqlite3, "sqlite3"),
            (SqlBackend::Pgsql, "pgsql"),
            (SqlBackend::Mysql, "mysql"),
        ] {
            for v in 1..=9u8 {
                let table = pmacct_core::config::default_sql_table(v);
                let columns = plan(&none, v, false, true, backend).unwrap();
                let text = format!(
                    "-- The table pmacct-rs's {ext} plugin creates for sql_table_version {v} when it is\n-- missing (pmacct's default columns, types and primary key).\n{};\n",
                    create_table(&table, &columns, backend, false, v)
                );
                let path = dir.join(format!("create-table_v{v}.{ext}"));
                if update {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &text).unwrap();
                }
                let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
                assert_eq!(on_disk, text, "{} is stale", path.display());
            }
        }
    }
}
