//! Several interfaces at once, live: a router namespace whose interfaces are named green0,
//! red0 and blue0 (as in the IPFire thread), a LAN host behind green0 and blue0 each and an
//! "internet" host behind red0. The daemon runs in the router namespace; traffic only flows
//! between the test's namespaces. Needs root (ip netns); elsewhere it says it was skipped.

mod common;
use common::netns::Daemon;
use common::sh;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The router (`r`), green LAN (`g`), blue LAN (`b`) and red side (`d`) namespaces.
struct Net {
    r: String,
    g: String,
    b: String,
    d: String,
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.r, &self.g, &self.b, &self.d] {
            sh(&["ip", "netns", "del", ns]);
        }
    }
}

impl Net {
    /// [`Net::new`], or None after saying the test is skipped.
    fn or_skip(tag: &str) -> Option<Net> {
        let net = Net::new(tag);
        if net.is_none() {
            println!("SKIPPED: live interface test needs root and iproute2 (ip netns add failed)");
        }
        net
    }

    /// None when namespaces cannot be made (not root).
    fn new(tag: &str) -> Option<Net> {
        let id = std::process::id() % 100000;
        let name = |x: &str| format!("pm{tag}{x}{id}");
        let net = Net {
            r: name("r"),
            g: name("g"),
            b: name("b"),
            d: name("d"),
        };
        for ns in [&net.r, &net.g, &net.b, &net.d] {
            if !sh(&["ip", "netns", "add", ns]) {
                return None;
            }
            net.exec(ns, &["ip", "link", "set", "lo", "up"]);
        }
        net.exec(&net.r, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        net.link("green0", &net.g, "192.168.60");
        net.link("blue0", &net.b, "192.168.70");
        net.link("red0", &net.d, "10.99.12");
        Some(net)
    }

    fn exec(&self, ns: &str, args: &[&str]) -> bool {
        sh(&[&["ip", "netns", "exec", ns], args].concat())
    }

    /// `ifname` in the router (`.1`), its peer in `host` (`.2`, routed through the router).
    fn link(&self, ifname: &str, host: &str, net: &str) {
        let peer = format!("{ifname}p");
        assert!(sh(&[
            "ip", "link", "add", ifname, "netns", &self.r, "type", "veth", "peer", "name", &peer,
            "netns", host
        ]));
        for (ns, dev) in [(self.r.as_str(), ifname), (host, peer.as_str())] {
            self.exec(
                ns,
                &[
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
                ],
            );
        }
        assert!(self.exec(
            &self.r,
            &["ip", "addr", "add", &format!("{net}.1/24"), "dev", ifname]
        ));
        assert!(self.exec(&self.r, &["ip", "link", "set", ifname, "up"]));
        assert!(self.exec(
            host,
            &["ip", "addr", "add", &format!("{net}.2/24"), "dev", &peer]
        ));
        assert!(self.exec(host, &["ip", "link", "set", &peer, "up"]));
        assert!(self.exec(
            host,
            &["ip", "route", "add", "default", "via", &format!("{net}.1")]
        ));
    }

    fn ping(&self, from: &str, to: &str, count: u32) {
        let n = count.to_string();
        assert!(
            self.exec(from, &["ping", "-c", &n, "-i", "0.2", "-W", "1", to]),
            "ping {to} from {from}"
        );
    }

    /// Starts our pmacctd in the router namespace.
    fn daemon(&self, config: &Path) -> Daemon {
        self.daemon_with(&[], config)
    }

    /// Starts our pmacctd in the router namespace through `wrapper` (e.g. setpriv).
    fn daemon_with(&self, wrapper: &[&str], config: &Path) -> Daemon {
        common::netns::spawn_in(&self.r, wrapper, env!("CARGO_BIN_EXE_pmacctd"), config)
    }
}

/// Writes `dir/interfaces.map` and a config `dir/p.conf` capturing through it (ids from the
/// map) with `rest` after; the config's path.
fn map_config(dir: &Path, map: &str, rest: &str) -> PathBuf {
    std::fs::write(dir.join("interfaces.map"), map).expect("map");
    let cfg = dir.join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interfaces_map: {}\npcap_ifindex: map\n{rest}",
            dir.join("interfaces.map").display()
        ),
    )
    .expect("config");
    cfg
}

fn client() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pmacctd")).with_file_name("pmacct")
}

/// Polls `pmacct -s` until the table shows `want` (at most 5 s after the traffic).
fn table_until(sock: &Path, want: &str) -> String {
    let start = Instant::now();
    loop {
        let out = Command::new(client())
            .arg("-p")
            .arg(sock)
            .arg("-s")
            .output()
            .expect("pmacct");
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        if table == want || start.elapsed() > Duration::from_secs(5) {
            return table;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the daemon's socket or file to appear.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn seed(name: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/configs")
        .join(name);
    std::fs::read_to_string(p).ok()
}

/// Pings 4 times from the green LAN and 3 times from the blue LAN to the red side, with the
/// seed's memory-interfaces.conf (paths replaced) and `map` as its pcap_interfaces_map;
/// returns `pmacct -s` once it equals `want`.
fn seed_run(net: &Net, map: &str, want: &str) -> String {
    let text = seed("memory-interfaces.conf").expect("seed config");
    let dir = tempfile::tempdir().expect("tempdir");
    let map_path = dir.path().join("pcap_interfaces.map");
    std::fs::write(&map_path, map).expect("write map");
    let cfg = dir.path().join("memory-interfaces.conf");
    let spool = dir.path().display().to_string();
    let text = text
        .replace(
            "/etc/pmacct/pcap_interfaces.map",
            &map_path.display().to_string(),
        )
        .replace("/var/spool/pmacct", &spool);
    std::fs::write(&cfg, text).expect("write config");
    let sock = dir.path().join("plugin1.pipe");
    let daemon = net.daemon(&cfg);
    wait_for(&sock);
    net.ping(&net.g, "10.99.12.2", 4);
    net.ping(&net.b, "10.99.12.2", 3);
    let table = table_until(&sock, want);
    daemon.stop();
    table
}

/// The seed's three interfaces with the seed's map, then with green0 listed for both
/// directions: every in_iface/out_iface row exactly. An `out` entry captures what the router
/// sends on that interface (out_iface = its id), an `in` entry what it receives (in_iface).
#[test]
fn seed_interfaces_map_fills_in_and_out_iface() {
    let Some(map) = seed("pcap_interfaces.map") else {
        println!("SKIPPED: ../shared/configs is not present on this machine");
        return;
    };
    let Some(net) = Net::or_skip("i") else {
        return;
    };
    // Echo requests and replies are 84 bytes: 4 from green, 3 from blue.
    let header = "IN_IFACE    OUT_IFACE   SRC_IP                                         DST_IP                                         PACKETS               BYTES\n";
    let row = |i: u32, o: u32, src: &str, dst: &str, n: u32| {
        format!(
            "{:<12}{:<12}{:<47}{:<47}{:<22}{}\n",
            i,
            o,
            src,
            dst,
            n,
            n * 84
        )
    };
    let seed_rows = [
        row(0, 100, "10.99.12.2", "192.168.60.2", 4),
        row(0, 300, "10.99.12.2", "192.168.70.2", 3),
        row(200, 0, "10.99.12.2", "192.168.60.2", 4),
        row(200, 0, "10.99.12.2", "192.168.70.2", 3),
    ];
    let want = format!(
        "{header}{}\nFor a total of: 4 entries\n",
        seed_rows.concat()
    );
    assert_eq!(seed_run(&net, &map, &want), want);

    let twice = format!("ifindex=100 ifname=green0 direction=in\n{map}");
    let rows = [
        row(0, 100, "10.99.12.2", "192.168.60.2", 4),
        row(0, 300, "10.99.12.2", "192.168.70.2", 3),
        row(100, 0, "192.168.60.2", "10.99.12.2", 4),
        row(200, 0, "10.99.12.2", "192.168.60.2", 4),
        row(200, 0, "10.99.12.2", "192.168.70.2", 3),
    ];
    let want = format!("{header}{}\nFor a total of: 5 entries\n", rows.concat());
    assert_eq!(seed_run(&net, &twice, &want), want);
}

/// The seed's question: one plugin per share of the traffic. `lan_out` keeps what leaves the
/// green LAN (an aggregate_filter); `red_in` what red0 receives (a pre_tag_map line and a
/// pre_tag_filter). Both interfaces capture both directions, so a routed packet is seen on
/// each: the filter counts the LAN's requests twice (in on green0, out on red0), the tag once.
/// `bcast` keeps `ip broadcast`, compiled with the interface's netmask. Then the map changes
/// and SIGUSR2 (maps_refresh) reloads it without a restart.
#[test]
fn per_plugin_filters_and_tags_by_interface() {
    let Some(net) = Net::or_skip("f") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("interfaces.map"),
        "ifindex=100 ifname=green0 direction=in\nifindex=100 ifname=green0 direction=out\n\
         ifindex=200 ifname=red0 direction=in\nifindex=200 ifname=red0 direction=out\n",
    )
    .expect("map");
    let tags = dir.path().join("pretag.map");
    std::fs::write(&tags, "set_tag=1 ifname=red0 direction=in\n").expect("map");
    let cfg = dir.path().join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interfaces_map: {d}/interfaces.map\npcap_ifindex: map\n\
             pre_tag_map: {d}/pretag.map\nmaps_refresh: true\n\
             plugins: memory[lan_out], memory[red_in], memory[bcast], print[lan_csv], print[red_csv]\n\
             print_output: csv\nprint_output_file[lan_csv]: {d}/lan.csv\nprint_output_file[red_csv]: {d}/red.csv\n\
             print_refresh_time: 3600\n\
             aggregate[lan_csv]: src_host, dst_host\naggregate[red_csv]: in_iface, src_host, dst_host\n\
             aggregate_filter[lan_csv]: src net 192.168.60.0/24 and not dst net 192.168.60.0/24 and not ether multicast and ip\n\
             pre_tag_filter[red_csv]: 1\n\
             imt_path[lan_out]: {d}/lan_out.pipe\nimt_path[red_in]: {d}/red_in.pipe\n\
             imt_path[bcast]: {d}/bcast.pipe\naggregate[bcast]: src_host, dst_host\n\
             aggregate_filter[bcast]: ip broadcast\n\
             aggregate[lan_out]: src_host, dst_host\naggregate[red_in]: tag, in_iface, src_host\n\
             aggregate_filter[lan_out]: src net 192.168.60.0/24 and not dst net 192.168.60.0/24 and not ether multicast and ip\n\
             pre_tag_filter[red_in]: 1-2\n"
        ),
    )
    .expect("config");
    let daemon = net.daemon(&cfg);
    let (lan_out, red_in) = (
        dir.path().join("lan_out.pipe"),
        dir.path().join("red_in.pipe"),
    );
    let bcast = dir.path().join("bcast.pipe");
    wait_for(&lan_out);
    wait_for(&red_in);
    wait_for(&bcast);
    net.ping(&net.g, "10.99.12.2", 4);
    // Broadcast pings get no answer (Linux ignores them), so ping itself fails.
    net.exec(
        &net.g,
        &[
            "ping",
            "-b",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "192.168.60.255",
        ],
    );
    // `ip broadcast` uses green0's netmask, as tcpdump: the subnet's broadcast address.
    let want_bcast = "SRC_IP                                         DST_IP                                         PACKETS               BYTES\n\
                      192.168.60.2                                   192.168.60.255                                 2                     168\n\
                      \nFor a total of: 1 entries\n";
    assert_eq!(table_until(&bcast, want_bcast), want_bcast);
    let want_lan = "SRC_IP                                         DST_IP                                         PACKETS               BYTES\n\
                    192.168.60.2                                   10.99.12.2                                     8                     672\n\
                    \nFor a total of: 1 entries\n";
    assert_eq!(table_until(&lan_out, want_lan), want_lan);
    let red_row = |tag: u32, n: u32| {
        format!(
            "{tag:<12}200         10.99.12.2                                     {n:<22}{}\n",
            n * 84
        )
    };
    let header = "TAG         IN_IFACE    SRC_IP                                         PACKETS               BYTES\n";
    let want_red = format!("{header}{}\nFor a total of: 1 entries\n", red_row(1, 4));
    assert_eq!(table_until(&red_in, &want_red), want_red);

    // A new map, reloaded live; the counts so far stay.
    std::fs::write(&tags, "set_tag=2 ifname=red0 direction=in filter='icmp'\n").expect("map");
    daemon.signal("-USR2");
    // Once reloaded, the next packet is tagged by the new map.
    daemon.wait_log("map reloaded: 1 rules", 10);
    net.ping(&net.g, "10.99.12.2", 2);
    let want_red = format!(
        "{header}{}{}\nFor a total of: 2 entries\n",
        red_row(1, 4),
        red_row(2, 2)
    );
    assert_eq!(table_until(&red_in, &want_red), want_red);
    let log = daemon.stop();
    assert!(log.contains("map reloaded: 1 rules"), "{log}");
    // The print plugins saw the same shares: 4 + 2 requests leaving the LAN, each seen on
    // green0 and on red0; red0's inbound replies tagged 1: the 4 before the reload (after it
    // the map tags them 2, which red_csv does not take).
    let lan = std::fs::read_to_string(dir.path().join("lan.csv")).expect("lan.csv");
    assert_eq!(
        lan,
        "SRC_IP,DST_IP,PACKETS,BYTES\n192.168.60.2,10.99.12.2,12,1008\n"
    );
    let red = std::fs::read_to_string(dir.path().join("red.csv")).expect("red.csv");
    assert_eq!(
        red,
        "IN_IFACE,SRC_IP,DST_IP,PACKETS,BYTES\n200,10.99.12.2,192.168.60.2,4,336\n"
    );
}

/// An interface of the map that does not exist: an error naming the map's line, and capture
/// goes on on the others.
#[test]
fn a_missing_interface_is_named_and_the_others_capture() {
    let Some(net) = Net::or_skip("m") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let map = dir.path().join("interfaces.map");
    let cfg = map_config(
        dir.path(),
        "ifindex=100 ifname=green0 direction=out\nifindex=5 ifname=nosuch0 direction=in\n",
        &format!(
            "plugins: memory[m]\nimt_path[m]: {d}/m.pipe\naggregate[m]: out_iface, dst_host\n"
        ),
    );
    let daemon = net.daemon(&cfg);
    let sock = dir.path().join("m.pipe");
    wait_for(&sock);
    net.ping(&net.g, "10.99.12.2", 2);
    let want = "OUT_IFACE   DST_IP                                         PACKETS               BYTES\n\
                100         192.168.60.2                                   2                     168\n\
                \nFor a total of: 1 entries\n";
    assert_eq!(table_until(&sock, want), want);
    let log = daemon.stop();
    assert!(
        log.contains(&format!("{}:2: ", map.display())) && log.contains("nosuch0"),
        "{log}"
    );
}

/// SIGUSR2 reloads the pcap_interfaces_map: a capture it no longer lists stops (what it
/// counted stays), a new one starts, without a restart.
#[test]
fn reloading_the_interfaces_map_adds_and_removes_captures() {
    let Some(net) = Net::or_skip("r") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let map = dir.path().join("interfaces.map");
    let cfg = map_config(
        dir.path(),
        "ifindex=100 ifname=green0 direction=out\n",
        &format!(
            "plugins: memory[m]\nimt_path[m]: {d}/m.pipe\naggregate[m]: in_iface, out_iface, dst_host\n"
        ),
    );
    let daemon = net.daemon(&cfg);
    let sock = dir.path().join("m.pipe");
    wait_for(&sock);
    net.ping(&net.g, "10.99.12.2", 2);
    let header = "IN_IFACE    OUT_IFACE   DST_IP                                         PACKETS               BYTES\n";
    let green = "0           100         192.168.60.2                                   2                     168\n";
    let want = format!("{header}{green}\nFor a total of: 1 entries\n");
    assert_eq!(table_until(&sock, &want), want);

    std::fs::write(&map, "ifindex=200 ifname=red0 direction=in\n").expect("map");
    daemon.signal("-USR2");
    // The new capture is open once it says it reads.
    daemon.wait_log("reading from 'red0'", 10);
    net.ping(&net.g, "10.99.12.2", 3);
    let red = "200         0           192.168.60.2                                   3                     252\n";
    let want = format!("{header}{green}{red}\nFor a total of: 2 entries\n");
    assert_eq!(table_until(&sock, &want), want);
    let log = daemon.stop();
    assert!(log.contains("no longer capturing on green0"), "{log}");
    assert!(log.contains("capturing on red0 too"), "{log}");
}

/// `pcap_interface_wait`: an interface that goes away (a PPP or VPN link going down) and comes
/// back is captured again, and what was counted before stays.
#[test]
fn an_interface_that_comes_and_goes_is_captured_again() {
    let Some(net) = Net::or_skip("w") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let cfg = map_config(
        dir.path(),
        "ifindex=100 ifname=green0 direction=out\n",
        &format!(
            "pcap_interface_wait: true\nplugins: memory[m]\nimt_path[m]: {d}/m.pipe\n\
             aggregate[m]: out_iface, dst_host\n"
        ),
    );
    let daemon = net.daemon(&cfg);
    let sock = dir.path().join("m.pipe");
    wait_for(&sock);
    daemon.wait_log("reading from 'green0'", 10);
    net.ping(&net.g, "10.99.12.2", 2);
    let row = |n: u32| {
        format!(
            "OUT_IFACE   DST_IP                                         PACKETS               BYTES\n\
             100         192.168.60.2                                   {n:<22}{}\n\
             \nFor a total of: 1 entries\n",
            n * 84
        )
    };
    assert_eq!(table_until(&sock, &row(2)), row(2));
    // The link goes down (the veth pair is deleted), then comes back.
    assert!(net.exec(&net.r, &["ip", "link", "del", "green0"]));
    daemon.wait_log("waiting for 'green0' to come back", 10);
    net.link("green0", &net.g, "192.168.60");
    let start = Instant::now();
    while daemon.count_log("reading from 'green0'") < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "green0 was not reopened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    net.ping(&net.g, "10.99.12.2", 3);
    assert_eq!(table_until(&sock, &row(5)), row(5));
    daemon.stop();
}

/// The same shares from a file: dumpcap records green0 and red0 into one pcapng (its interface
/// blocks name them), and the map's `ifname=` matches each packet's recorded interface.
/// dumpcap records no direction, so the rule says it with a filter.
#[test]
fn per_interface_shares_from_a_pcapng_file() {
    let Some(net) = Net::or_skip("p") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let pcapng = dir.path().join("both.pcapng");
    let mut dumpcap = Command::new("ip")
        .args([
            "netns", "exec", &net.r, "dumpcap", "-q", "-i", "green0", "-i", "red0", "-w",
        ])
        .arg(&pcapng)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dumpcap (apt-get install tshark)");
    // dumpcap writes the section and interface blocks once both captures are open.
    let start = Instant::now();
    while std::fs::metadata(&pcapng).map_or(0, |m| m.len()) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "dumpcap did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    net.ping(&net.g, "10.99.12.2", 4);
    // 4 requests and 4 replies on each interface: wait until dumpcap has written all 16.
    let ip_packets = || -> usize {
        Command::new("tshark")
            .arg("-r")
            .arg(&pcapng)
            .args(["-Y", "ip", "-T", "fields", "-e", "ip.src"])
            .output()
            .map_or(0, |o| String::from_utf8_lossy(&o.stdout).lines().count())
    };
    let start = Instant::now();
    while ip_packets() < 16 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "dumpcap wrote {}",
            ip_packets()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sh(&["kill", "-INT", &dumpcap.id().to_string()]));
    assert!(dumpcap.wait().expect("dumpcap").success());

    std::fs::write(
        dir.path().join("pretag.map"),
        "set_tag=1 ifname=red0 filter='dst host 192.168.60.2'\n",
    )
    .expect("map");
    let cfg = dir.path().join("f.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npre_tag_map: {d}/pretag.map\nplugins: print[lan], print[red]\n\
             print_output: csv\nprint_output_file[lan]: {d}/lan.csv\nprint_output_file[red]: {d}/red.csv\n\
             aggregate: src_host, dst_host\n\
             aggregate_filter[lan]: src net 192.168.60.0/24 and not dst net 192.168.60.0/24 and not ether multicast and ip\n\
             pre_tag_filter[red]: 1\n",
            pcapng.display()
        ),
    )
    .expect("config");
    let out = common::run_file(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lan = std::fs::read_to_string(dir.path().join("lan.csv")).expect("lan.csv");
    assert_eq!(
        lan,
        "SRC_IP,DST_IP,PACKETS,BYTES\n192.168.60.2,10.99.12.2,8,672\n"
    );
    let red = std::fs::read_to_string(dir.path().join("red.csv")).expect("red.csv");
    assert_eq!(
        red,
        "SRC_IP,DST_IP,PACKETS,BYTES\n10.99.12.2,192.168.60.2,4,336\n"
    );
}

/// The seed's print-csv-trigger.conf, its paths replaced and its python script a shell script
/// that records its arguments, working directory and environment: the final purge's trigger
/// runs with the configured arguments, in the output file's folder, and the daemon waits for
/// it. Then a failing script, a missing interpreter and a hanging script, each in the log.
#[test]
fn seed_trigger_config_runs_its_script() {
    let Some(text) = seed("print-csv-trigger.conf") else {
        println!("SKIPPED: ../shared/configs is not present on this machine");
        return;
    };
    let Some(net) = Net::or_skip("t") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = dir.path().join("metrics");
    std::fs::create_dir(&metrics).expect("metrics dir");
    let script = metrics.join("csv_to_influx.py");
    let record = dir.path().join("record.txt");
    let run = |script_text: &str, extra: &str| -> String {
        std::fs::write(&script, script_text).expect("script");
        let cfg = dir.path().join("p.conf");
        let text = text
            .replace("/usr/bin/python3", "/bin/sh")
            .replace("/root/metrics", &metrics.display().to_string());
        // Logs to stderr (the seed logs to syslog) so the test can read them.
        let text = text.replace("syslog: daemon", "");
        std::fs::write(&cfg, format!("{text}\n{extra}")).expect("config");
        let daemon = net.daemon(&cfg);
        daemon.wait_log("reading from 'green0'", 10);
        net.ping(&net.g, "10.99.12.2", 2);
        daemon.stop()
    };
    let log = run(
        &format!(
            "echo \"args=$* cwd=$(pwd) plugin=$PMACCT_PLUGIN file=$PMACCT_OUTPUT_FILE entries=$PMACCT_PURGED_ENTRIES\" > {}\n",
            record.display()
        ),
        "",
    );
    let m = metrics.display();
    assert_eq!(
        std::fs::read_to_string(&record).expect("the trigger ran"),
        format!("args=-f {m}/traffic_green_full.csv -i green0 -m full cwd={m} plugin=green_full/print file={m}/traffic_green_full.csv entries=1\n"),
        "{log}"
    );
    assert!(
        log.contains("trigger '/bin/sh' exited with status 0"),
        "{log}"
    );
    // The file holds the last purge (both pings, or the second alone when a minute began
    // between them): one row of the green LAN's outbound pings either way.
    let csv = std::fs::read_to_string(metrics.join("traffic_green_full.csv")).expect("csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert_eq!(
        rows[0],
        "SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES"
    );
    assert!(
        rows[1].starts_with("192.168.60.2,10.99.12.2,0,0,icmp,"),
        "{csv}"
    );

    let log = run("echo 'metrics.conf: no such file' >&2\nexit 4\n", "");
    assert!(
        log.contains("trigger stderr: metrics.conf: no such file"),
        "{log}"
    );
    assert!(
        log.contains("trigger '/bin/sh' failed with exit status 4"),
        "{log}"
    );

    let log = run(
        "",
        "print_trigger_exec[green_full]: /usr/bin/python9 /x.py\n",
    );
    assert!(
        log.contains("trigger '/usr/bin/python9' cannot execute: No such file or directory"),
        "{log}"
    );

    let log = run("sleep 30\n", "print_trigger_timeout[green_full]: 1\n");
    assert!(
        log.contains("trigger '/bin/sh' still running after 1 s: killed"),
        "{log}"
    );
}

/// 101 purges of a capture file, each with its trigger run: one at a time, all run, and no
/// zombie process is left while the daemon keeps running (`pcap_savefile_wait`).
#[test]
fn a_hundred_trigger_runs_leave_no_zombies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("t.pcap");
    pmacct_daemon::synth::write_pcap(&pcap, 10_000, 5, 6_000, 1_700_000_000).expect("pcap");
    let count = dir.path().join("count.txt");
    let d = dir.path().display();
    let cfg = dir.path().join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_savefile: {}\npcap_savefile_wait: true\nplugins: print[p]\nprint_output[p]: csv\n\
             print_output_file[p]: {d}/out-%H%M.csv\nprint_history[p]: 1m\nprint_history_roundoff[p]: m\n\
             print_refresh_time[p]: 60\naggregate[p]: proto\n\
             print_trigger_exec[p]: /bin/sh -c 'echo x >> {}'\n",
            pcap.display(),
            count.display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pmacctd"))
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pmacctd");
    let runs = || std::fs::read_to_string(&count).map_or(0, |t| t.lines().count());
    let start = Instant::now();
    // 6,000 s of packets from 22:13:20: 101 one-minute bins, the last purged at the stop.
    while runs() < 100 {
        assert!(start.elapsed() < Duration::from_secs(60), "{} runs", runs());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A run that just ended is a zombie until its trigger thread reaps it (within
    // milliseconds); one left unreaped would stay.
    let pid = child.id();
    let zombies = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("status")).ok())
            .filter(|s| s.contains("State:\tZ") && s.contains(&format!("PPid:\t{pid}\n")))
            .count()
    };
    let start = Instant::now();
    while zombies() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} zombies stay",
            zombies()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sh(&["kill", "-TERM", &child.id().to_string()]));
    assert!(child.wait().expect("wait").success());
    assert_eq!(runs(), 101);
}

/// The `Uid`, `Gid`, `Groups`, `CapPrm` and `CapEff` lines of a process's status.
fn credentials(pid: u32) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .filter(|l| {
            ["Uid:", "Gid:", "Groups:", "CapPrm:", "CapEff:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `drop_privileges_user`: once its captures and socket are open the daemon runs as nobody,
/// with CAP_NET_RAW and CAP_NET_ADMIN only; it counts exactly, opens a new capture on
/// SIGUSR2, and writes the files of new purges into a folder nobody owns.
#[test]
fn privileges_are_dropped_and_capture_goes_on() {
    let Some(net) = Net::or_skip("p") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // The folder is traversable, and its out/ is nobody's; the rest stays root's.
    assert!(sh(&["chmod", "755", &dir.path().display().to_string()]));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    assert!(sh(&["chown", "nobody:nogroup", &out.display().to_string()]));
    let d = dir.path().display().to_string();
    let map = dir.path().join("interfaces.map");
    let cfg = map_config(
        dir.path(),
        "ifindex=100 ifname=green0 direction=out\n",
        &format!(
            "drop_privileges_user: nobody\nplugins: memory[m], print[p]\n\
             imt_path[m]: {d}/out/m.pipe\naggregate: in_iface, out_iface, dst_host\n\
             print_output[p]: csv\nprint_refresh_time[p]: 1\n\
             print_output_file[p]: {d}/out/%s.csv\nprint_output_file_append[p]: true\n"
        ),
    );
    let daemon = net.daemon(&cfg);
    daemon.wait_log("running as user 'nobody' (uid 65534, gid 65534)", 10);
    let pid = daemon.pid();
    let want = [
        "Uid: 65534 65534 65534 65534",
        "Gid: 65534 65534 65534 65534",
        "Groups: 65534",
        "CapPrm: 0000000000003000",
        "CapEff: 0000000000003000",
    ];
    assert_eq!(credentials(pid), want);
    let sock = out.join("m.pipe");
    net.ping(&net.g, "10.99.12.2", 2);
    let header = "IN_IFACE    OUT_IFACE   DST_IP                                         PACKETS               BYTES\n";
    let green = "0           100         192.168.60.2                                   2                     168\n";
    let want_table = format!("{header}{green}\nFor a total of: 1 entries\n");
    assert_eq!(table_until(&sock, &want_table), want_table);

    std::fs::write(
        &map,
        "ifindex=100 ifname=green0 direction=out\nifindex=200 ifname=red0 direction=in\n",
    )
    .expect("map");
    daemon.signal("-USR2");
    daemon.wait_log("reading from 'red0'", 10);
    net.ping(&net.g, "10.99.12.2", 3);
    let green = "0           100         192.168.60.2                                   5                     420\n";
    let red = "200         0           192.168.60.2                                   3                     252\n";
    let want_table = format!("{header}{green}{red}\nFor a total of: 2 entries\n");
    assert_eq!(table_until(&sock, &want_table), want_table);
    let log = daemon.stop();
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
    // Purges after the drop wrote their files as nobody; together they hold every packet.
    let mut packets = 0;
    let mut files = 0;
    for f in std::fs::read_dir(&out).expect("out") {
        let f = f.expect("file").path();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&f).expect("meta").uid(), 65534);
        files += 1;
        for line in std::fs::read_to_string(&f).expect("csv").lines().skip(1) {
            packets += line
                .split(',')
                .nth(3)
                .and_then(|p| p.parse::<u64>().ok())
                .expect("packets");
        }
    }
    assert!(files >= 1, "{log}");
    assert_eq!(packets, 8);
}

/// An output folder the unprivileged user cannot write is an error at start, naming the key.
#[test]
fn an_output_folder_the_user_cannot_write_stops_the_start() {
    let Some(net) = Net::or_skip("q") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let cfg = map_config(
        dir.path(),
        "ifindex=100 ifname=green0 direction=out\n",
        &format!(
            "drop_privileges_user: nobody\nplugins: print[p]\nprint_output_file[p]: {d}/out/%Y.csv\n"
        ),
    );
    let (status, log) = net.daemon(&cfg).wait_exit();
    assert_eq!(status.code(), Some(1));
    let want = format!(
        "cannot drop privileges: print_output_file[p]: '{d}' is not writable by user 'nobody' (drop_privileges_user): give it to them (chown nobody '{d}') or write elsewhere"
    );
    assert!(log.contains(&want), "{log}");
}

/// `print_trigger_on_empty`: live, a quiet interface still purges every refresh; the trigger
/// runs after those empty purges only when asked to, with PMACCT_PURGED_ENTRIES=0.
#[test]
fn the_trigger_runs_after_empty_purges_when_asked() {
    let Some(net) = Net::or_skip("e") else {
        return;
    };
    for on_empty in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let cfg = dir.path().join("p.conf");
        std::fs::write(
            &cfg,
            format!(
                "pcap_interface: blue0\nplugins: print[p]\nprint_refresh_time[p]: 1\n\
                 print_output_file[p]: {d}/out.txt\nprint_trigger_on_empty[p]: {on_empty}\n\
                 print_trigger_exec[p]: /bin/sh -c 'echo $PMACCT_PURGED_ENTRIES >> {d}/runs'\n"
            ),
        )
        .expect("config");
        let daemon = net.daemon(&cfg);
        let start = Instant::now();
        while daemon.count_log("Purging cache - END (QN: 0/0") < 3 {
            assert!(start.elapsed() < Duration::from_secs(10), "no purges");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The daemon waits for running triggers before it exits.
        let log = daemon.stop();
        let purges = log.matches("Purging cache - END (QN: 0/0").count();
        let runs = std::fs::read_to_string(dir.path().join("runs")).unwrap_or_default();
        match on_empty {
            false => assert_eq!(runs, "", "{log}"),
            true => assert_eq!(runs, "0\n".repeat(purges), "{log}"),
        }
    }
}

/// The systemd unit's model (User=, AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN,
/// NoNewPrivileges=yes), reproduced with setpriv: started as nobody with only those two
/// capabilities, the daemon captures and counts exactly.
#[test]
fn an_unprivileged_user_with_the_units_capabilities_captures() {
    let Some(net) = Net::or_skip("s") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(sh(&["chmod", "755", &dir.path().display().to_string()]));
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("run");
    assert!(sh(&["chown", "nobody:nogroup", &run.display().to_string()]));
    let cfg = dir.path().join("p.conf");
    std::fs::write(
        &cfg,
        format!(
            "pcap_interface: green0\nplugins: memory[m]\nimt_path[m]: {}/m.pipe\n\
             aggregate[m]: dst_host\n",
            run.display()
        ),
    )
    .expect("config");
    let caps = "+net_raw,+net_admin";
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps=-all,{caps}"),
        &format!("--ambient-caps=-all,{caps}"),
        &format!("--bounding-set=-all,{caps}"),
        "--no-new-privs",
    ];
    let daemon = net.daemon_with(&wrapper, &cfg);
    let sock = run.join("m.pipe");
    wait_for(&sock);
    let pid = daemon.pid();
    let creds = credentials(pid);
    assert_eq!(creds[0], "Uid: 65534 65534 65534 65534");
    assert_eq!(creds[4], "CapEff: 0000000000003000");
    net.ping(&net.g, "10.99.12.2", 3);
    let want = "DST_IP                                         PACKETS               BYTES\n\
                10.99.12.2                                     3                     252\n\
                192.168.60.2                                   3                     252\n\
                \nFor a total of: 2 entries\n";
    assert_eq!(table_until(&sock, want), want);
    let log = daemon.stop();
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
}
