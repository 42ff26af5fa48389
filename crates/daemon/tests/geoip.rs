//! GeoIP and ASN primitives from MaxMind-format files (`geoipv2_file`, `geoipv2_asn_file`):
//! rows equal Debian's pmacctd 1.7.7 (built with --enable-geoipv2) on the same capture, and
//! equal the lookups `mmdblookup` (Debian's mmdb-bin) makes of the same addresses; broken
//! files are errors at start, and a file changed on disk is read again (a broken one is not).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::collector::{free_udp_port, Daemon};
use common::Udp;

fn mmdb(name: &str) -> Option<PathBuf> {
    let p = common::testdata()?.join("mmdb").join(name);
    p.exists().then_some(p)
}

/// Addresses in MaxMind's test databases (IPv4 and IPv6, with and without postal codes,
/// without a country, and not in the file at all).
const REMOTES: [&str; 12] = [
    "81.2.69.142",
    "216.160.83.56",
    "2.125.160.216",
    "89.160.20.112",
    "175.16.199.1",
    "1.0.0.1",
    "1.128.0.1",
    "12.81.92.1",
    "214.1.1.1",
    "2001:218::1",
    "2a02:d3c0::5",
    "2a02:d500::1",
];

fn capture(dir: &Path) -> PathBuf {
    let packets: Vec<Udp> = REMOTES
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let remote: IpAddr = r.parse().expect("geoip test");
            let local: IpAddr = match remote {
                IpAddr::V4(_) => "192.168.1.10".parse().expect("geoip test"),
                IpAddr::V6(_) => "2001:db8::10".parse().expect("geoip test"),
            };
            let ts = 1_700_000_000 + i as i64;
            let up = Udp {
                ts,
                src: local,
                dst: remote,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                payload: 100 + i,
            };
            let down = Udp {
                src: remote,
                dst: local,
                payload: 1000 + i,
                ..up
            };
            [up, down]
        })
        .collect();
    let path = dir.join("geo.pcap");
    common::write_udp_pcap(&path, &packets.iter().collect::<Vec<_>>());
    path
}

fn config(pcap: &Path, out: &Path, files: &str, aggregate: &str, format: &str) -> String {
    format!(
        "pcap_savefile: {}\n{files}plugins: print\naggregate: {aggregate}\nprint_output: {format}\n\
         print_output_file: {}\nprint_refresh_time: 60\n",
        pcap.display(),
        out.display()
    )
}

/// Our and Debian's print output of the same capture and configuration.
fn both(dir: &Path, files: &str, aggregate: &str, format: &str) -> (Vec<String>, Vec<String>) {
    let pcap = capture(dir);
    let mut outs = Vec::new();
    for (program, tag) in [
        (env!("CARGO_BIN_EXE_pmacctd"), "ours"),
        ("/usr/sbin/pmacctd", "ref"),
    ] {
        let out = dir.join(format!("{tag}.{format}"));
        let cfg = dir.join(format!("{tag}-{format}.conf"));
        std::fs::write(&cfg, config(&pcap, &out, files, aggregate, format)).expect("geoip test");
        let status = Command::new(program)
            .arg("-f")
            .arg(&cfg)
            .env("TZ", "UTC")
            .output()
            .expect(program);
        assert!(
            status.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let mut rows: Vec<String> = std::fs::read_to_string(&out)
            .unwrap_or_else(|e| panic!("{program} wrote no {}: {e}", out.display()))
            .lines()
            .map(str::to_string)
            .collect();
        rows.sort();
        outs.push(rows);
    }
    let ref_rows = outs.pop().expect("geoip test");
    (outs.pop().expect("geoip test"), ref_rows)
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pmacct-rs-geoip-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("geoip test");
    d
}

#[test]
fn country_pocode_and_coords_equal_debians_pmacctd() {
    let Some(city) = mmdb("GeoIP2-City-Test.mmdb") else {
        return common::skipped("../shared/testdata/mmdb");
    };
    let dir = tempdir("diff");
    let files = format!("geoipv2_file: {}\n", city.display());
    let aggregate = "src_host, dst_host, src_host_country, dst_host_country, src_host_pocode, \
                     dst_host_pocode, src_host_coords, dst_host_coords";
    for format in ["csv", "formatted"] {
        let (ours, reference) = both(&dir, &files, aggregate, format);
        assert_eq!(ours.len(), 25, "{format}: 24 rows and the header");
        assert_eq!(ours, reference, "{format}");
    }
    // JSON: the same values (pmacct prints doubles with 17 digits, we print the shortest
    // text that reads back as the same number).
    let (ours, reference) = both(&dir, &files, aggregate, "json");
    let parse = |rows: &[String]| -> Vec<serde_json::Value> {
        let mut v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::from_str(r).expect("geoip test"))
            .collect();
        for row in &mut v {
            for k in ["lat_ip_src", "lon_ip_src", "lat_ip_dst", "lon_ip_dst"] {
                let x = row[k].as_f64().expect("geoip test");
                row[k] = serde_json::json!((x * 1e6).round() as i64);
            }
        }
        v.sort_by_key(|r| r.to_string());
        v
    };
    assert_eq!(ours.len(), 24);
    assert_eq!(parse(&ours), parse(&reference));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mmdblookup --file F --ip A path...`: the value it prints, `None` when the address or the
/// path is not in the file.
fn mmdblookup(file: &Path, addr: &str, path: &[&str]) -> Option<String> {
    let out = Command::new("mmdblookup")
        .arg("--file")
        .arg(file)
        .args(["--ip", addr])
        .args(path)
        .output()
        .expect("mmdblookup (Debian's mmdb-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    // `"GB" <utf8_string>`, `15169 <uint32>`, `51.750000 <double>`
    let value = line.rsplit_once(" <")?.0;
    Some(value.trim_matches('"').to_string())
}

#[test]
fn rows_equal_mmdblookup_for_ipv4_and_ipv6() {
    let (Some(city), Some(asn)) = (
        mmdb("GeoIP2-City-Test.mmdb"),
        mmdb("GeoLite2-ASN-Test.mmdb"),
    ) else {
        return common::skipped("../shared/testdata/mmdb");
    };
    let dir = tempdir("lookup");
    let pcap = capture(&dir);
    let out = dir.join("rows.csv");
    let cfg = dir.join("ours.conf");
    let files = format!(
        "geoipv2_file: {}\ngeoipv2_asn_file: {}\n",
        city.display(),
        asn.display()
    );
    let aggregate =
        "dst_host, dst_host_country, dst_host_pocode, dst_host_coords, dst_as, dst_as_name";
    std::fs::write(&cfg, config(&pcap, &out, &files, aggregate, "csv")).expect("geoip test");
    let run = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("geoip test");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("geoip test");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("DST_AS,DST_AS_NAME,DST_IP,DH_COUNTRY,DH_POCODE,DH_LAT,DH_LON,PACKETS,BYTES")
    );
    let mut checked = 0;
    for line in lines {
        // DST_AS and DST_AS_NAME come first (pmacct's column order): moved after DH_LON.
        let c: Vec<&str> = line.split(',').collect();
        let f = [c[2], c[3], c[4], c[5], c[6], c[0], c[1]];
        let addr = f[0];
        if !REMOTES.contains(&addr) {
            continue;
        }
        let want = |file: &Path, path: &[&str], none: &str| {
            mmdblookup(file, addr, path).unwrap_or_else(|| none.to_string())
        };
        let degrees = |v: String| format!("{:.6}", v.parse::<f64>().expect("geoip test"));
        assert_eq!(
            f[1],
            want(&city, &["country", "iso_code"], ""),
            "{addr} country"
        );
        assert_eq!(
            f[2],
            want(&city, &["postal", "code"], ""),
            "{addr} postal code"
        );
        assert_eq!(
            f[3],
            degrees(want(&city, &["location", "latitude"], "0")),
            "{addr} lat"
        );
        assert_eq!(
            f[4],
            degrees(want(&city, &["location", "longitude"], "0")),
            "{addr} lon"
        );
        assert_eq!(
            f[5],
            want(&asn, &["autonomous_system_number"], "0"),
            "{addr} AS"
        );
        assert_eq!(
            f[6],
            want(&asn, &["autonomous_system_organization"], ""),
            "{addr} AS name"
        );
        checked += 1;
    }
    assert_eq!(checked, REMOTES.len());
    // The lookups found something for both families (the test would pass on empty rows too).
    assert!(
        text.contains("2001:218::1,JP,,35.685360,139.753090,"),
        "{text}"
    );
    assert!(
        text.contains("15169,Google Inc.,1.0.0.1,,,0.000000,0.000000,1,"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_and_broken_files_are_errors_at_start_naming_key_and_file() {
    let dir = tempdir("errors");
    let pcap = capture(&dir);
    let garbage = dir.join("garbage.mmdb");
    std::fs::write(&garbage, vec![0x5a; 4096]).expect("geoip test");
    let mut cases = vec![
        (dir.join("absent.mmdb"), "cannot read it"),
        (garbage, "not a MaxMind-format database"),
    ];
    for broken in [
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
    ] {
        if let Some(file) = mmdb(broken) {
            cases.push((file, "the database is corrupt"));
        }
    }
    for key in ["geoipv2_file", "geoipv2_asn_file"] {
        for (file, why) in &cases {
            let cfg = dir.join("bad.conf");
            let files = format!("{key}: {}\n", file.display());
            let text = config(&pcap, &dir.join("x.csv"), &files, "dst_host, dst_as", "csv");
            std::fs::write(&cfg, text).expect("geoip test");
            let run = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
                .arg("-f")
                .arg(&cfg)
                .output()
                .expect("geoip test");
            let err = String::from_utf8_lossy(&run.stderr);
            assert!(!run.status.success(), "{key} {}", file.display());
            assert!(
                err.contains(&format!("{key}: '{}': {why}", file.display())),
                "{err}"
            );
            assert!(!dir.join("x.csv").exists());
        }
    }
    // Country without a database: the aggregate's line says what is missing.
    let cfg = dir.join("nofile.conf");
    std::fs::write(
        &cfg,
        config(
            &pcap,
            &dir.join("x.csv"),
            "",
            "dst_host_country, src_as_name",
            "csv",
        ),
    )
    .expect("geoip test");
    let run = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .output()
        .expect("geoip test");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("nofile.conf:3: key 'aggregate'"), "{err}");
    assert!(err.contains("dst_host_country need geoipv2_file"), "{err}");
    assert!(err.contains("src_as_name need geoipv2_asn_file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A NetFlow v5 datagram of one flow from 192.0.2.1 to `dst`.
fn v5(seq: u32, dst: [u8; 4], bytes: u32) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [5u16, 1] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    for v in [1_000u32, 1_700_000_000, 0, seq] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.extend_from_slice(&[192, 0, 2, 1]);
    d.extend_from_slice(&dst);
    d.extend_from_slice(&[0; 4]); // next hop
    d.extend_from_slice(&[0, 1, 0, 2]); // interfaces
    for v in [1u32, bytes, 500, 900] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(&[
        0x30, 0x39, 0x01, 0xbb, 0, 0, 17, 0, 0, 0, 0, 0, 24, 24, 0, 0,
    ]);
    d
}

fn memory_rows(pipe: &Path) -> String {
    let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
    let out = Command::new(&client)
        .args(["-s", "-O", "csv", "-p"])
        .arg(pipe)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", client.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the memory table holds `row`.
fn wait_row(pipe: &Path, row: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let rows = memory_rows(pipe);
        if rows.lines().any(|l| l == row) {
            return rows;
        }
        assert!(start.elapsed().as_secs() < 20, "no {row} in {rows}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_previous() {
    let (Some(country), Some(city)) = (
        mmdb("GeoIP2-Country-Test.mmdb"),
        mmdb("GeoIP2-City-Test.mmdb"),
    ) else {
        return common::skipped("../shared/testdata/mmdb");
    };
    let dir = tempdir("reload");
    let db = dir.join("geo.mmdb");
    std::fs::copy(&country, &db).expect("geoip test");
    let port = free_udp_port();
    let pipe = dir.join("mem.pipe");
    let cfg = dir.join("nfacctd.conf");
    let log = dir.join("nfacctd.log");
    std::fs::write(
        &cfg,
        format!(
            "nfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nlogfile: {}\ngeoipv2_file: {}\n\
             plugins: memory\naggregate: dst_host, dst_host_country, dst_host_pocode\nimt_path: {}\n",
            log.display(),
            db.display(),
            pipe.display()
        ),
    )
    .expect("geoip test");
    let daemon = Daemon::start(env!("CARGO_BIN_EXE_nfacctd"), &cfg, log);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("geoip test");
    let send = |seq, dst, bytes| {
        socket
            .send_to(&v5(seq, dst, bytes), ("127.0.0.1", port))
            .expect("geoip test");
    };
    // The Country database has no postal codes.
    send(0, [2, 125, 160, 216], 1000);
    wait_row(&pipe, "2.125.160.216,GB,,1,1000");
    // A broken file: logged, the previous one stays.
    std::fs::write(&db, vec![0x5a; 4096]).expect("geoip test");
    daemon.wait_for("keeping the previous one");
    send(1, [81, 2, 69, 142], 2000);
    wait_row(&pipe, "81.2.69.142,GB,,1,2000");
    // A good file: read again without a signal.
    std::fs::copy(&city, &db).expect("geoip test");
    daemon.wait_for("reloaded");
    send(2, [216, 160, 83, 56], 3000);
    let rows = wait_row(&pipe, "216.160.83.56,US,98354,1,3000");
    assert_eq!(rows.lines().count(), 4, "{rows}");
    // SIGUSR2 reads it again too.
    let kill = Command::new("kill")
        .args(["-USR2", &daemon.child.id().to_string()])
        .status();
    assert!(kill.expect("geoip test").success());
    let start = std::time::Instant::now();
    while daemon.log().matches("reloaded").count() < 2 {
        assert!(start.elapsed().as_secs() < 20, "{}", daemon.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    daemon.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The memory plugin and the client: coordinates print as two columns, and `-M` matches a
/// country, an AS name and a coordinate.
#[test]
fn the_client_prints_and_matches_geoip_columns() {
    let (Some(city), Some(asn)) = (
        mmdb("GeoIP2-City-Test.mmdb"),
        mmdb("GeoLite2-ASN-Test.mmdb"),
    ) else {
        return common::skipped("../shared/testdata/mmdb");
    };
    let dir = tempdir("client");
    let pcap = capture(&dir);
    let pipe = dir.join("mem.pipe");
    let cfg = dir.join("mem.conf");
    let log = dir.join("mem.log");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nlogfile: {}\ngeoipv2_file: {}\n\
             geoipv2_asn_file: {}\nplugins: memory\n\
             aggregate: dst_host, dst_host_country, dst_host_coords, dst_as, dst_as_name\nimt_path: {}\n",
            pcap.display(),
            log.display(),
            city.display(),
            asn.display(),
            pipe.display()
        ),
    )
    .expect("config");
    /// Killed when the test ends, passed or not.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _daemon = Running(
        Command::new(env!("CARGO_BIN_EXE_pmacctd"))
            .arg("-f")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pmacctd"),
    );
    let query = |args: &[&str]| {
        let client = Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct");
        let out = Command::new(client)
            .arg("-p")
            .arg(&pipe)
            .args(args)
            .output()
            .expect("pmacct");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let header = "DST_AS,DST_AS_NAME,DST_IP,DH_COUNTRY,DH_LAT,DH_LON,PACKETS,BYTES\n";
    let gb = format!(
        "{header}0,,2.125.160.216,GB,51.750000,-1.250000,1,130\n\
         0,,81.2.69.142,GB,51.514200,-0.093100,1,128\n\
         0,,2a02:d3c0::5,GB,54.758440,-2.695310,1,158\n"
    );
    let start = std::time::Instant::now();
    while query(&["-c", "dst_host_country", "-M", "GB", "-O", "csv"]) != gb {
        assert!(
            start.elapsed().as_secs() < 20,
            "{}",
            query(&["-s", "-O", "csv"])
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        query(&["-c", "dst_as_name", "-M", "Google Inc.", "-O", "csv"]),
        format!("{header}15169,Google Inc.,1.0.0.1,,0.000000,0.000000,1,133\n")
    );
    assert_eq!(
        query(&["-c", "dst_host_coords", "-M", "35.68536", "-O", "csv"]),
        format!("{header}0,,2001:218::1,JP,35.685360,139.753090,1,157\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
