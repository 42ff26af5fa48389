//! `pmacct report`: bytes and packets per local device and per hour, day, week or month, from
//! what the daemon stored (an SQL table) or holds (a memory table). See docs/report.md.

pub mod devices;
pub mod peers;
pub mod period;
mod render;
pub mod source;

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::io::Write;
use std::net::IpAddr;

use devices::{Cidr, LocalNets, Names, Side};
use period::By;
use pmacct_core::key::Mac;
use source::{Flow, StampZone};

pub use source::{DumpFn, Source};

use crate::Failure;

pub use peers::PeerInfo;
pub use render::{json_value, peer_json, Format};

/// The command line of `pmacct report`.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub source: Source,
    pub table: String,
    pub local: Vec<Cidr>,
    pub by: By,
    pub from: Option<String>,
    pub to: Option<String>,
    pub top: usize,
    pub names: Option<String>,
    /// DHCP lease files naming devices (`--leases`, repeatable): dnsmasq or ISC dhcpd.
    pub leases: Vec<String>,
    pub utc: bool,
    pub stamps_utc: bool,
    pub exact: bool,
    pub format: Format,
    pub by_mac: bool,
    pub include_lan: bool,
    pub include_noise: bool,
    /// Collect the MAC addresses each device was seen with ([`Report::devices`]).
    pub identities: bool,
}

pub const USAGE: &str = "\
Usage: pmacct report (--db FILE.db | --pipe SOCKET | --pgsql URL | --mysql URL) [options]

Bytes and packets downloaded and uploaded per local device, per period.
  --db FILE          an SQLite database written by the sqlite3 plugin
  --pgsql URL        postgresql://user:password@host:port/db
  --mysql URL        mysql://user:password@host:port/db
  --pipe SOCKET      a running memory table (default --by all; other periods need imt_history)
  --table T          the SQL table (default acct)
  --local-net CIDR   a local network, repeatable (default: 10/8, 172.16/12, 192.168/16, fc00::/7)
  --by P             hour, day, week, month or all (default day; all with --pipe)
  --from DATE        first day reported (YYYY-MM-DD)
  --to DATE          last day reported (YYYY-MM-DD, included)
  --top N            the N remote peers with most bytes per device and period (table, json)
  --names FILE       'ADDRESS NAME' lines naming devices by IP or MAC address
  --leases FILE      a DHCP lease file (dnsmasq or ISC dhcpd) naming devices, repeatable
  --by-mac           devices are MAC addresses (needs mac_src/mac_dst, or src_mac/dst_mac)
  --include-lan      count LAN-to-LAN traffic (upload of the sender, download of the receiver)
  --include-noise    count broadcast, multicast and link-local traffic
  --utc              cut periods in UTC (default: the local time zone)
  --stamps-utc       the daemon wrote its stamps in UTC (timestamps_utc: true)
  --exact            exact numbers in the table (csv and json always are)
  --format F         table (default), csv or json
";

/// Parses the words after `report`.
pub fn parse(args: &[String]) -> Result<ReportOptions, Failure> {
    parse_with(args, None)
}

/// The query parameters of the web API's usage endpoints (`from=...&by_mac=1`), read as the
/// report's options (`--from ... --by-mac`) over `source`: one parser for both. Unknown
/// parameters are errors; `skip` names parameters the caller reads itself.
pub fn parse_query(
    pairs: &[(String, String)],
    source: Source,
    table: &str,
    skip: &[&str],
) -> Result<ReportOptions, String> {
    const VALUED: [&str; 5] = ["from", "to", "by", "local_net", "top"];
    const FLAGS: [&str; 5] = [
        "utc",
        "stamps_utc",
        "include_lan",
        "include_noise",
        "by_mac",
    ];
    let mut words = vec!["--table".to_string(), table.to_string()];
    for (k, v) in pairs {
        let option = format!("--{}", k.replace('_', "-"));
        if skip.contains(&k.as_str()) {
            continue;
        } else if VALUED.contains(&k.as_str()) {
            words.extend([option, v.clone()]);
        } else if FLAGS.contains(&k.as_str()) {
            match v.as_str() {
                "" | "1" | "true" | "yes" | "on" => words.push(option),
                "0" | "false" | "no" | "off" => {}
                _ => return Err(format!("{k}={v}: expected 1 or 0")),
            }
        } else {
            return Err(format!(
                "unknown parameter '{k}' (known: {}, {})",
                VALUED.join(", "),
                FLAGS.join(", ")
            ));
        }
    }
    parse_with(&words, Some(source)).map_err(|f| match f {
        Failure::Error { message, .. } => message
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .replace("--local-net", "local_net")
            .replace("--", ""),
        Failure::Output(e) => e.to_string(),
    })
}

fn parse_with(args: &[String], preset: Option<Source>) -> Result<ReportOptions, Failure> {
    let mut source = None;
    let mut o = ReportOptions {
        source: Source::Sqlite(String::new()),
        table: "acct".into(),
        local: Vec::new(),
        by: By::Day,
        from: None,
        to: None,
        top: 0,
        names: None,
        leases: Vec::new(),
        utc: false,
        stamps_utc: false,
        exact: false,
        format: Format::Table,
        by_mac: false,
        include_lan: false,
        include_noise: false,
        identities: false,
    };
    let mut by = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Failure::with_report_usage(format!("{arg} needs a value")))
        };
        let mut set_source = |s: Source| match source.replace(s) {
            None => Ok(()),
            Some(_) => Err(Failure::with_report_usage(
                "give one of --db, --pipe, --pgsql, --mysql",
            )),
        };
        match arg.as_str() {
            "--db" => set_source(Source::Sqlite(value()?))?,
            "--pipe" => set_source(Source::Pipe(value()?))?,
            "--pgsql" => set_source(Source::Pgsql(value()?))?,
            "--mysql" => set_source(Source::Mysql(value()?))?,
            "--table" => o.table = value()?,
            "--local-net" => o.local.push(Cidr::parse(&value()?).map_err(Failure::new)?),
            "--by" => by = Some(By::parse(&value()?).map_err(Failure::new)?),
            "--from" => o.from = Some(value()?),
            "--to" => o.to = Some(value()?),
            "--top" => {
                let v = value()?;
                o.top = v
                    .parse()
                    .map_err(|_| Failure::new(format!("--top {v}: expected a number")))?;
            }
            "--names" => o.names = Some(value()?),
            "--leases" => o.leases.push(value()?),
            "--utc" => o.utc = true,
            "--stamps-utc" => o.stamps_utc = true,
            "--exact" => o.exact = true,
            "--by-mac" => o.by_mac = true,
            "--include-lan" => o.include_lan = true,
            "--include-noise" => o.include_noise = true,
            "--format" => o.format = Format::parse(&value()?).map_err(Failure::new)?,
            other => {
                return Err(Failure::with_report_usage(format!(
                    "unknown report option '{other}'"
                )))
            }
        }
    }
    if let Some(s) = preset {
        set_preset(&mut source, s)?;
    }
    o.source = source.ok_or_else(|| {
        Failure::with_report_usage("say where the data is: --db, --pipe, --pgsql or --mysql")
    })?;
    let timeless = matches!(o.source, Source::Pipe(_) | Source::Dump(_));
    o.by = match (by, timeless) {
        (None, true) => By::All,
        (Some(b), _) => b,
        (None, false) => By::Day,
    };
    if o.local.is_empty() {
        o.local = devices::DEFAULT_LOCAL
            .iter()
            .filter_map(|n| Cidr::parse(n).ok())
            .collect();
    }
    Ok(o)
}

fn set_preset(source: &mut Option<Source>, preset: Source) -> Result<(), Failure> {
    match source.replace(preset) {
        None => Ok(()),
        Some(_) => Err(Failure::new("the source is the daemon's own")),
    }
}

/// Traffic of one device in one period.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub download_bytes: u64,
    pub upload_bytes: u64,
    pub download_packets: u64,
    pub upload_packets: u64,
    /// Per remote peer: bytes down, bytes up (kept only with `--top`).
    pub peers: HashMap<IpAddr, (u64, u64)>,
    /// Per remote peer: its name, country and AS (kept only with `--top`, when the source has
    /// them: [`source::Has::about`]).
    pub peer_info: HashMap<IpAddr, PeerInfo>,
    /// Per remote port (protocol, port): bytes down, bytes up (kept only for a device's detail).
    pub ports: HashMap<(u8, u16), (u64, u64)>,
}

/// A local device: by IP address, or by MAC address (`--by-mac`). IP addresses sort first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    Ip(IpAddr),
    Mac(Mac),
}

impl std::fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKey::Ip(ip) => ip.fmt(f),
            DeviceKey::Mac(m) => m.fmt(f),
        }
    }
}

impl DeviceKey {
    /// A device as written in a URL or a report (an IP or a MAC address).
    pub fn parse(text: &str) -> Option<DeviceKey> {
        match text.parse::<IpAddr>() {
            Ok(ip) => Some(DeviceKey::Ip(ip)),
            Err(_) => source::parse_mac(text).map(DeviceKey::Mac),
        }
    }
}

/// The addresses a device was seen with (at most [`IDS_KEPT`] of each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities {
    pub macs: Vec<Mac>,
    pub addresses: Vec<IpAddr>,
}

/// Addresses of each kind kept per device.
pub const IDS_KEPT: usize = 8;

impl Identities {
    fn note(&mut self, mac: Option<Mac>, ip: IpAddr) {
        if let Some(m) = mac {
            if !self.macs.contains(&m) && self.macs.len() < IDS_KEPT {
                self.macs.push(m);
            }
        }
        if !self.addresses.contains(&ip) && self.addresses.len() < IDS_KEPT {
            self.addresses.push(ip);
        }
    }
}

/// One row of the report.
pub struct Row {
    pub period: String,
    pub period_ts: i64,
    pub device: String,
    pub name: String,
    /// The vendor of the device's MAC address (its own, or its lease's); empty when unknown.
    pub vendor: String,
    pub usage: Usage,
}

/// A computed report: its rows, and the addresses each device was seen with.
pub struct Report {
    pub rows: Vec<Row>,
    /// Per device (as in `rows`), sorted.
    pub devices: Vec<(String, String, Identities)>,
    /// What the source had: MAC addresses, ports.
    pub has: source::Has,
}

/// The running sums of a report.
struct Tally<'a> {
    o: &'a ReportOptions,
    nets: LocalNets,
    tz: jiff::tz::TimeZone,
    window: (i64, i64),
    /// Only this device (a device's detail).
    only: Option<DeviceKey>,
    /// Keep per-port sums.
    ports: bool,
    periods: HashMap<i64, Option<(i64, String)>>,
    usage: HashMap<(i64, DeviceKey), (String, Usage)>,
    ids: HashMap<DeviceKey, Identities>,
}

impl<'a> Tally<'a> {
    fn new(o: &'a ReportOptions, window: (i64, i64)) -> Tally<'a> {
        Tally {
            o,
            nets: LocalNets::new(o.local.clone()),
            tz: pmacct_core::bins::time_zone(o.utc),
            window,
            only: None,
            ports: false,
            periods: HashMap::default(),
            usage: HashMap::default(),
            ids: HashMap::default(),
        }
    }

    fn period(&mut self, stamp: Option<i64>) -> Option<(i64, String)> {
        let Some(t) = stamp else {
            // No time (a memory table without bins, or an unreadable stamp): in no window.
            let windowed = self.window != (i64::MIN, i64::MAX);
            return (!windowed).then(|| (0, "all".into()));
        };
        if t < self.window.0 || t >= self.window.1 {
            return None;
        }
        if self.o.by == By::All {
            return Some((0, "all".into()));
        }
        let (by, tz) = (self.o.by, &self.tz);
        self.periods
            .entry(t)
            .or_insert_with(|| {
                period::start_of(t, by, tz)
                    .map(|z| (z.timestamp().as_second(), period::label(&z, by)))
            })
            .clone()
    }

    fn add(&mut self, period: &(i64, String), device: DeviceKey, f: &Flow, up: bool, peer: IpAddr) {
        let (top, keep_ports) = (self.o.top > 0, self.ports);
        let (_, u) = self
            .usage
            .entry((period.0, device))
            .or_insert_with(|| (period.1.clone(), Usage::default()));
        let (b, p) = (f.bytes, f.packets);
        let (down, up_b) = if up { (0, b) } else { (b, 0) };
        if up {
            u.upload_bytes += b;
            u.upload_packets += p;
        } else {
            u.download_bytes += b;
            u.download_packets += p;
        }
        if top {
            let e = u.peers.entry(peer).or_default();
            e.0 += down;
            e.1 += up_b;
            // The remote's side of the flow: the destination of an upload, else the source.
            if let Some(about) = &f.about {
                let remote = &about[usize::from(up)];
                u.peer_info.entry(peer).or_default().note(remote, b);
            }
        }
        if let (true, Some(ports)) = (keep_ports, f.ports) {
            // The remote side's port: the service a device used (or offered).
            let port = if up { ports.dst } else { ports.src };
            let e = u.ports.entry((ports.proto, port)).or_default();
            e.0 += down;
            e.1 += up_b;
        }
    }

    fn device(&self, ip: IpAddr, mac: Option<Mac>) -> Option<DeviceKey> {
        let d = match (self.o.by_mac, mac) {
            (true, Some(m)) => DeviceKey::Mac(m),
            (true, None) => return None,
            (false, _) => DeviceKey::Ip(ip),
        };
        match self.only {
            Some(only) if only != d => None,
            _ => Some(d),
        }
    }

    fn flow(&mut self, f: &Flow) {
        let side = self.nets.side(f.src, f.dst);
        let (src_local, dst_local) = match side {
            Side::Upload => (true, false),
            Side::Download => (false, true),
            Side::Lan if self.o.include_lan => (true, true),
            Side::Noise if self.o.include_noise => {
                (self.nets.is_local(f.src), self.nets.is_local(f.dst))
            }
            _ => return,
        };
        let src_dev = src_local.then(|| self.device(f.src, f.src_mac)).flatten();
        let dst_dev = dst_local.then(|| self.device(f.dst, f.dst_mac)).flatten();
        if src_dev.is_none() && dst_dev.is_none() {
            return;
        }
        let Some(period) = self.period(f.stamp) else {
            return;
        };
        if let Some(d) = src_dev {
            self.add(&period, d, f, true, f.dst);
            self.ids.entry(d).or_default().note(f.src_mac, f.src);
        }
        if let Some(d) = dst_dev {
            self.add(&period, d, f, false, f.src);
            self.ids.entry(d).or_default().note(f.dst_mac, f.dst);
        }
    }

    /// Adds the sums of another part of the same scan.
    fn merge(&mut self, other: Tally) {
        for (key, (label, u)) in other.usage {
            let (_, mine) = self
                .usage
                .entry(key)
                .or_insert_with(|| (label, Usage::default()));
            mine.download_bytes += u.download_bytes;
            mine.upload_bytes += u.upload_bytes;
            mine.download_packets += u.download_packets;
            mine.upload_packets += u.upload_packets;
            for (p, (d, up)) in u.peers {
                let e = mine.peers.entry(p).or_default();
                e.0 += d;
                e.1 += up;
            }
            for (p, info) in u.peer_info {
                mine.peer_info.entry(p).or_default().merge(&info);
            }
            for (p, (d, up)) in u.ports {
                let e = mine.ports.entry(p).or_default();
                e.0 += d;
                e.1 += up;
            }
        }
        for (device, ids) in other.ids {
            let mine = self.ids.entry(device).or_default();
            for m in ids.macs {
                if !mine.macs.contains(&m) && mine.macs.len() < IDS_KEPT {
                    mine.macs.push(m);
                }
            }
            for a in ids.addresses {
                mine.note(None, a);
            }
        }
    }

    /// The rows, sorted by period then device, named.
    fn rows(self, names: &Names) -> (Vec<Row>, HashMap<DeviceKey, Identities>) {
        let mut keyed: Vec<_> = self.usage.into_iter().collect();
        keyed.sort_unstable_by_key(|a| a.0);
        let rows = keyed
            .into_iter()
            .map(|((period_ts, device), (period, usage))| {
                let device = device.to_string();
                Row {
                    name: names.get(&device).to_string(),
                    vendor: names.vendor(&device).to_string(),
                    period,
                    period_ts,
                    device,
                    usage,
                }
            })
            .collect();
        (rows, self.ids)
    }
}

/// The names of `--names` and `--leases`, read now (a changed file counts at once).
fn read_names(o: &ReportOptions) -> Result<Names, Failure> {
    Names::read(o.names.as_deref(), &o.leases).map_err(Failure::new)
}

/// The `--from`/`--to` window: its first second and the first second after it.
fn window(o: &ReportOptions) -> Result<(i64, i64), Failure> {
    let tz = pmacct_core::bins::time_zone(o.utc);
    let from = match &o.from {
        Some(d) => period::parse_day(d, &tz).map_err(Failure::new)?,
        None => i64::MIN,
    };
    let to = match &o.to {
        Some(d) => {
            let day: jiff::civil::Date = d
                .parse()
                .map_err(|_| Failure::new(format!("'{d}' is not a date (YYYY-MM-DD)")))?;
            let next = day
                .tomorrow()
                .map_err(|e| Failure::new(format!("'{d}': {e}")))?
                .to_string();
            period::parse_day(&next, &tz).map_err(Failure::new)?
        }
        None => i64::MAX,
    };
    Ok((from, to))
}

fn need_of(o: &ReportOptions, ports: bool) -> source::Need {
    source::Need {
        ids: o.identities,
        rows: None,
        mac: o.by_mac,
        time: o.by != By::All || o.from.is_some() || o.to.is_some(),
        ports,
        about: o.top > 0,
    }
}

/// Reads the source into the tallies `make` gives: a large SQLite table in two halves at
/// once (by rowid), each into its own tallies, merged after.
fn scan<'a>(
    o: &'a ReportOptions,
    need: source::Need,
    make: &(dyn Fn() -> Vec<Tally<'a>> + Sync),
) -> Result<(Vec<Tally<'a>>, source::Has), Failure> {
    let stamps = StampZone(pmacct_core::bins::time_zone(o.stamps_utc));
    let read = |need: source::Need| -> Result<(Vec<Tally<'a>>, source::Has), Failure> {
        let mut tallies = make();
        let has = source::read(&o.source, &o.table, need, &stamps, &mut |f| {
            for t in tallies.iter_mut() {
                t.flow(&f);
            }
        })
        .map_err(|e| Failure::new(e.to_string()))?;
        Ok((tallies, has))
    };
    let Some((lo, hi)) = source::rowid_range(&o.source, &o.table) else {
        return read(need);
    };
    let mid = lo + (hi - lo) / 2;
    let (first, second) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            read(source::Need {
                rows: Some((mid, hi)),
                ..need
            })
        });
        let first = read(source::Need {
            rows: Some((lo, mid)),
            ..need
        });
        let second = other
            .join()
            .unwrap_or_else(|_| Err(Failure::new("a scan thread failed")));
        (first, second)
    });
    let ((mut tallies, has), (others, _)) = (first?, second?);
    for (t, other) in tallies.iter_mut().zip(others) {
        t.merge(other);
    }
    Ok((tallies, has))
}

/// Computes the report's rows, sorted by period then device.
pub fn compute(o: &ReportOptions) -> Result<Vec<Row>, Failure> {
    compute_report(o).map(|r| r.rows)
}

/// Computes the report: its rows and the addresses each device was seen with.
pub fn compute_report(o: &ReportOptions) -> Result<Report, Failure> {
    compute_named(o, &read_names(o)?)
}

/// [`compute_report`] with these names.
fn compute_named(o: &ReportOptions, names: &Names) -> Result<Report, Failure> {
    let win = window(o)?;
    let (tallies, has) = scan(o, need_of(o, false), &|| vec![Tally::new(o, win)])?;
    let tally = tallies
        .into_iter()
        .next()
        .ok_or_else(|| Failure::new("no tally"))?;
    let (rows, ids) = tally.rows(names);
    let mut devices: Vec<_> = ids.into_iter().collect();
    devices.sort_unstable_by_key(|a| a.0);
    for (_, ids) in &mut devices {
        ids.macs.sort_unstable();
        ids.addresses.sort_unstable();
    }
    let devices = devices
        .into_iter()
        .map(|(d, i)| {
            let d = d.to_string();
            (names.get(&d).to_string(), d, i)
        })
        .map(|(n, d, i)| (d, n, i))
        .collect();
    Ok(Report { rows, devices, has })
}

/// One device's traffic in detail: per day, per hour, per remote peer and port.
pub struct Detail {
    pub device: String,
    pub name: String,
    /// The vendor of the device's MAC address, as in [`Row::vendor`].
    pub vendor: String,
    pub days: Vec<Row>,
    pub hours: Vec<Row>,
    /// Every peer over the window: bytes down, bytes up.
    pub peers: HashMap<IpAddr, (u64, u64)>,
    /// Every peer's name, country and AS over the window, when the source has them.
    pub peer_info: HashMap<IpAddr, PeerInfo>,
    /// Every (protocol, remote port) over the window, when the source has ports.
    pub ports: Option<HashMap<(u8, u16), (u64, u64)>>,
}

/// One device's detail over `o`'s window, in one pass over the source (`o.by` is ignored).
pub fn device_detail(o: &ReportOptions, device: DeviceKey) -> Result<Detail, Failure> {
    let names = read_names(o)?;
    let win = window(o)?;
    let daily = ReportOptions {
        by: By::Day,
        top: 1,
        ..o.clone()
    };
    let hourly = ReportOptions {
        by: By::Hour,
        top: 0,
        ..o.clone()
    };
    let make = || {
        let (mut days, mut hours) = (Tally::new(&daily, win), Tally::new(&hourly, win));
        days.only = Some(device);
        days.ports = true;
        hours.only = Some(device);
        vec![days, hours]
    };
    let need = source::Need {
        time: true,
        ..need_of(&daily, true)
    };
    let (tallies, has) = scan(&daily, need, &make)?;
    let mut tallies = tallies.into_iter();
    let (Some(days), Some(hours)) = (tallies.next(), tallies.next()) else {
        return Err(Failure::new("no tally"));
    };
    let (days, _) = days.rows(&names);
    let (hours, _) = hours.rows(&names);
    let sum = window_sums(&days);
    let device = device.to_string();
    Ok(Detail {
        name: names.get(&device).to_string(),
        vendor: names.vendor(&device).to_string(),
        device,
        days,
        hours,
        peers: sum.peers,
        peer_info: sum.peer_info,
        ports: has.ports.then_some(sum.ports),
    })
}

/// The peers and ports of days' rows, summed over the days.
fn window_sums(days: &[Row]) -> Usage {
    let mut sum = Usage::default();
    for r in days {
        for (p, (d, u)) in &r.usage.peers {
            let e = sum.peers.entry(*p).or_default();
            e.0 += d;
            e.1 += u;
        }
        for (p, info) in &r.usage.peer_info {
            sum.peer_info.entry(*p).or_default().merge(info);
        }
        for (p, (d, u)) in &r.usage.ports {
            let e = sum.ports.entry(*p).or_default();
            e.0 += d;
            e.1 += u;
        }
    }
    sum
}

/// `pmacct report ...`: computes and prints.
pub fn run(args: &[String], out: &mut dyn Write) -> Result<(), Failure> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        out.write_all(USAGE.as_bytes())?;
        return Ok(());
    }
    let o = parse(args)?;
    let rows = compute(&o)?;
    render::write(&rows, &o, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_parameters_are_the_report_options() {
        let src = Source::Sqlite("x.db".into());
        let o = parse_query(
            &pairs(&[
                ("from", "2024-03-01"),
                ("to", "2024-03-02"),
                ("by", "hour"),
                ("local_net", "10.1.0.0/16"),
                ("local_net", "fd00::/8"),
                ("top", "3"),
                ("utc", "1"),
                ("by_mac", "true"),
                ("include_lan", "0"),
            ]),
            src.clone(),
            "acct_v9",
            &[],
        )
        .expect("options");
        assert_eq!(o.from.as_deref(), Some("2024-03-01"));
        assert_eq!(o.to.as_deref(), Some("2024-03-02"));
        assert_eq!((o.by, o.top, o.utc, o.by_mac), (By::Hour, 3, true, true));
        assert!(!o.include_lan);
        assert_eq!(o.local.len(), 2);
        assert_eq!(o.table, "acct_v9");
        assert_eq!(
            parse_query(&pairs(&[("db", "/etc/shadow")]), src.clone(), "acct", &[]).err(),
            Some("unknown parameter 'db' (known: from, to, by, local_net, top, utc, stamps_utc, include_lan, include_noise, by_mac)".into())
        );
        assert_eq!(
            parse_query(&pairs(&[("by", "year")]), src.clone(), "acct", &[]).err(),
            Some("by year: expected hour, day, week, month or all".into())
        );
        assert_eq!(
            parse_query(&pairs(&[("utc", "maybe")]), src.clone(), "acct", &[]).err(),
            Some("utc=maybe: expected 1 or 0".into())
        );
        assert!(parse_query(&pairs(&[("day", "x")]), src, "acct", &["day"]).is_ok());
    }

    #[test]
    fn devices_sort_ips_first_then_macs() {
        let mut d = [
            DeviceKey::parse("02:00:00:00:00:01").expect("mac"),
            DeviceKey::parse("192.168.1.10").expect("ip"),
            DeviceKey::parse("192.168.1.9").expect("ip"),
            DeviceKey::parse("fd00::1").expect("ip"),
        ];
        d.sort();
        let text: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "192.168.1.9",
                "192.168.1.10",
                "fd00::1",
                "02:00:00:00:00:01"
            ]
        );
    }

    /// An SQLite table as the sqlite3 plugin writes it, with MAC addresses: a day of four
    /// local devices' traffic.
    fn home_db(dir: &std::path::Path) -> String {
        let path = dir.join("home.db");
        let db = rusqlite::Connection::open(&path).expect("db");
        db.execute_batch(
            "CREATE TABLE acct (mac_src TEXT, mac_dst TEXT, ip_src TEXT, ip_dst TEXT, \
             packets INT, bytes INT, stamp_inserted TEXT);
             INSERT INTO acct VALUES
              ('00:11:22:33:44:55', '02:00:00:00:00:fe', '192.168.1.23', '8.8.8.8', 2, 1000, '2024-05-01 10:00:00'),
              ('02:00:00:00:00:fe', '00:11:22:33:44:55', '8.8.8.8', '192.168.1.23', 4, 5000, '2024-05-01 10:00:00'),
              ('a4:83:e7:01:02:0f', '02:00:00:00:00:fe', '192.168.1.24', '1.1.1.1', 1, 300, '2024-05-01 11:00:00'),
              ('02:00:00:00:00:09', '02:00:00:00:00:fe', '192.168.1.25', '1.1.1.1', 1, 70, '2024-05-01 12:00:00');",
        )
        .expect("table");
        path.display().to_string()
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(ToString::to_string).collect()
    }

    fn rendered(rows: &[Row], o: &ReportOptions) -> String {
        let mut out = Vec::new();
        render::write(rows, o, &mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    /// Names from a names file and a lease file, vendors from the leases' and the devices'
    /// MAC addresses, in CSV, JSON and the table.
    #[test]
    fn a_report_names_devices_by_leases_with_their_vendors() {
        let dir = tempfile::tempdir().expect("dir");
        let db = home_db(dir.path());
        let names = dir.path().join("names.txt").display().to_string();
        std::fs::write(&names, "192.168.1.24 tablet\n").expect("names");
        let leases = dir.path().join("dnsmasq.leases").display().to_string();
        std::fs::write(
            &leases,
            "1714600800 00:11:22:33:44:55 192.168.1.23 Jon-Laptop *\n\
             1714600800 a4:83:e7:01:02:0f 192.168.1.24 phone *\n",
        )
        .expect("leases");
        let oui = "Registry,Assignment,Organization Name,Organization Address\n\
                   MA-L,001122,\"Cimsys, Inc\",x\nMA-L,A483E7,Apple Inc.,y\n";
        let args = [
            "--db", &db, "--by", "all", "--names", &names, "--leases", &leases,
        ];
        let mut o = parse(&words(&args)).expect("options");
        o.format = Format::Csv;
        let named = |o: &ReportOptions| {
            let n = read_names(o).expect("names");
            let n = n.with_vendors(pmacct_sniff::oui::parse_ieee_csv(oui));
            compute_named(o, &n).expect("report").rows
        };
        let rows = named(&o);
        assert_eq!(
            rendered(&rows, &o),
            "period_start,device,name,download_bytes,upload_bytes,download_packets,upload_packets,vendor\n\
             all,192.168.1.23,jon-laptop,5000,1000,4,2,\"Cimsys, Inc\"\n\
             all,192.168.1.24,tablet,0,300,0,1,Apple Inc.\n\
             all,192.168.1.25,,0,70,0,1,\n"
        );
        let json = json_value(&rows, 0);
        assert_eq!(json[0]["vendor"], "Cimsys, Inc");
        assert_eq!(json[2]["vendor"], "");
        o.format = Format::Table;
        assert_eq!(
            rendered(&rows, &o),
            "\
PERIOD  DEVICE        NAME        VENDOR             DOWNLOAD          UPLOAD  DOWN_PACKETS    UP_PACKETS
all     192.168.1.23  jon-laptop  Cimsys, Inc         5.00 kB         1.00 kB             4             2
all     192.168.1.24  tablet      Apple Inc.              0 B           300 B             0             1
all     192.168.1.25                                      0 B            70 B             0             1
all     total                                         5.00 kB         1.37 kB             4             4
"
        );
        // By MAC address: a lease names its MAC, the names file's IP name does not.
        o.by_mac = true;
        o.format = Format::Csv;
        assert_eq!(
            rendered(&named(&o), &o),
            "period_start,device,name,download_bytes,upload_bytes,download_packets,upload_packets,vendor\n\
             all,00:11:22:33:44:55,jon-laptop,5000,1000,4,2,\"Cimsys, Inc\"\n\
             all,02:00:00:00:00:09,,0,70,0,1,\n\
             all,a4:83:e7:01:02:0f,phone,0,300,0,1,Apple Inc.\n"
        );
    }

    /// An SQLite table aggregated by src_host, dst_host, src_host_name, dst_host_name,
    /// src_host_country, dst_host_country, src_as, dst_as, src_as_name, dst_as_name: a
    /// download's remote is its source, an upload's its destination.
    fn names_db(dir: &std::path::Path) -> String {
        let path = dir.join("names.db");
        let db = rusqlite::Connection::open(&path).expect("db");
        db.execute_batch(
            "CREATE TABLE acct (ip_src TEXT, ip_dst TEXT, host_name_src VARCHAR(255), \
             host_name_dst VARCHAR(255), country_ip_src CHAR(2), country_ip_dst CHAR(2), \
             as_src INT, as_dst INT, as_name_src TEXT, as_name_dst TEXT, \
             packets INT, bytes INT, stamp_inserted TEXT);
             INSERT INTO acct VALUES
              ('142.250.185.78', '192.168.1.23', 'youtube.com', 'laptop.lan', 'US', '', 15169, 0, 'GOOGLE', '', 4, 5000, '2024-05-01 10:00:00'),
              ('192.168.1.23', '142.250.185.78', '', 'youtube.com', '', 'US', 0, 15169, '', 'GOOGLE', 2, 1000, '2024-05-01 10:00:00'),
              ('142.250.185.78', '192.168.1.23', 'www.youtube.com', '', 'US', '', 15169, 0, 'GOOGLE', '', 3, 4000, '2024-05-01 11:00:00'),
              ('1.1.1.1', '192.168.1.23', '', '', 'AU', '', 13335, 0, '', '', 1, 300, '2024-05-01 11:00:00'),
              ('192.168.1.24', '9.9.9.9', '', 'dns.quad9.net', '', '', 0, 0, '', '', 1, 70, '2024-05-01 12:00:00');",
        )
        .expect("table");
        path.display().to_string()
    }

    fn report_of(args: &[&str]) -> String {
        let mut out = Vec::new();
        run(&words(args), &mut out).expect("report");
        String::from_utf8(out).expect("utf-8")
    }

    /// `--top` with a table that has the peers' names, countries and AS: a NAME (COUNTRY, AS)
    /// column in the table, `name`, `country` and `as` in JSON; the name with most bytes.
    #[test]
    fn top_peers_show_their_names_countries_and_as() {
        let dir = tempfile::tempdir().expect("dir");
        let db = names_db(dir.path());
        let table = report_of(&["--db", &db, "--by", "all", "--top", "3"]);
        assert_eq!(
            table,
            "\
PERIOD  DEVICE        NAME        DOWNLOAD          UPLOAD  DOWN_PACKETS    UP_PACKETS
all     192.168.1.23               9.30 kB         1.00 kB             8             2
          PEER            NAME           COUNTRY  AS             DOWNLOAD          UPLOAD
          142.250.185.78  youtube.com    US       GOOGLE          9.00 kB         1.00 kB
          1.1.1.1                        AU       AS13335           300 B             0 B
all     192.168.1.24                   0 B            70 B             0             1
          PEER            NAME           COUNTRY  AS             DOWNLOAD          UPLOAD
          9.9.9.9         dns.quad9.net                               0 B            70 B
all     total                      9.30 kB         1.07 kB             8             3
"
        );
        let mut o = parse(&words(&["--db", &db, "--by", "all", "--top", "3"])).expect("o");
        o.format = Format::Json;
        let json = json_value(&compute(&o).expect("rows"), 3);
        assert_eq!(
            json[0]["peers"],
            serde_json::json!([
                {"peer": "142.250.185.78", "download_bytes": 9000, "upload_bytes": 1000,
                 "name": "youtube.com", "country": "US", "as": "GOOGLE"},
                {"peer": "1.1.1.1", "download_bytes": 300, "upload_bytes": 0,
                 "name": "", "country": "AU", "as": "AS13335"},
            ])
        );
        assert_eq!(
            json[1]["peers"],
            serde_json::json!([{"peer": "9.9.9.9", "download_bytes": 0, "upload_bytes": 70,
                                "name": "dns.quad9.net", "country": "", "as": ""}])
        );
        // CSV has no peers: unchanged.
        let csv = report_of(&["--db", &db, "--by", "all", "--top", "3", "--format", "csv"]);
        assert!(csv.starts_with(render::CSV_HEADER), "{csv}");
        // A device's detail: over its days, the same names.
        let detail =
            device_detail(&o, DeviceKey::parse("192.168.1.23").expect("ip")).expect("detail");
        let google = "142.250.185.78".parse().expect("ip");
        let info = detail.peer_info.get(&google).expect("info");
        assert_eq!((info.name(), info.country()), ("youtube.com", "US"));
    }

    /// Names alone (no country nor AS columns): NAME only; a table without any of the columns
    /// prints its peers as before.
    #[test]
    fn top_peers_without_the_columns_are_as_before() {
        let dir = tempfile::tempdir().expect("dir");
        let names = dir.path().join("names.db");
        let db = rusqlite::Connection::open(&names).expect("db");
        db.execute_batch(
            "CREATE TABLE acct (ip_src TEXT, ip_dst TEXT, host_name_src TEXT, host_name_dst TEXT, \
             as_src INT, as_dst INT, packets INT, bytes INT, stamp_inserted TEXT);
             INSERT INTO acct VALUES
              ('8.8.8.8', '192.168.1.23', 'dns.google', '', 15169, 0, 1, 100, '2024-05-01 10:00:00');",
        )
        .expect("table");
        let names = names.display().to_string();
        assert_eq!(
            report_of(&["--db", &names, "--by", "all", "--top", "1"]),
            "\
PERIOD  DEVICE        NAME        DOWNLOAD          UPLOAD  DOWN_PACKETS    UP_PACKETS
all     192.168.1.23                 100 B             0 B             1             0
          PEER     NAME        AS             DOWNLOAD          UPLOAD
          8.8.8.8  dns.google  AS15169           100 B             0 B
all     total                        100 B             0 B             1             0
"
        );
        let db = home_db(dir.path());
        let args = ["--db", &db, "--by", "all", "--top", "2"];
        assert_eq!(
            report_of(&args),
            "\
PERIOD  DEVICE        NAME        DOWNLOAD          UPLOAD  DOWN_PACKETS    UP_PACKETS
all     192.168.1.23               5.00 kB         1.00 kB             4             2
          peer 8.8.8.8: down 5.00 kB, up 1.00 kB
all     192.168.1.24                   0 B           300 B             0             1
          peer 1.1.1.1: down 0 B, up 300 B
all     192.168.1.25                   0 B            70 B             0             1
          peer 1.1.1.1: down 0 B, up 70 B
all     total                      5.00 kB         1.37 kB             4             4
"
        );
        let mut o = parse(&words(&args)).expect("options");
        o.format = Format::Json;
        let json = json_value(&compute(&o).expect("rows"), 2);
        assert_eq!(
            json[0]["peers"],
            serde_json::json!([{"peer": "8.8.8.8", "download_bytes": 5000, "upload_bytes": 1000}])
        );
    }

    /// A memory table's keys carry the same names, countries and AS.
    #[test]
    fn top_peers_of_a_memory_table_have_their_names() {
        use pmacct_core::key::{Addr, Counters, FlowKey};
        use pmacct_core::labels::intern;
        use pmacct_core::query::{Entry, Response, TableStatus, PROTOCOL_VERSION};
        let key = FlowKey {
            src_host: Addr("142.250.185.78".parse().expect("ip")),
            dst_host: Addr("192.168.1.23".parse().expect("ip")),
            src_host_name: intern("youtube.com"),
            dst_host_name: intern("laptop.lan"),
            src_country: u16::from_be_bytes(*b"US"),
            src_as: 15169,
            ..FlowKey::default()
        };
        let columns = [
            "src_host",
            "dst_host",
            "src_host_name",
            "dst_host_name",
            "src_host_country",
            "dst_host_country",
            "src_as",
            "dst_as",
        ];
        let response = Response {
            protocol: PROTOCOL_VERSION,
            columns: columns.iter().map(ToString::to_string).collect(),
            results: vec![vec![Entry {
                key,
                counters: Counters {
                    packets: 1,
                    bytes: 500,
                    ..Counters::default()
                },
            }]],
            status: TableStatus::default(),
            error: None,
            bins: false,
            custom: Vec::new(),
            packed: None,
            dump: None,
        };
        let dump: DumpFn = std::sync::Arc::new(move || Ok(response.clone()));
        let mut o = parse_query(&[], Source::Dump(dump), "", &[]).expect("options");
        o.top = 1;
        let json = json_value(&compute(&o).expect("rows"), 1);
        assert_eq!(
            json[0]["peers"],
            serde_json::json!([{"peer": "142.250.185.78", "download_bytes": 500, "upload_bytes": 0,
                                "name": "youtube.com", "country": "US", "as": "AS15169"}])
        );
    }

    /// `pmacct report --leases A --leases B`: both files name devices; a missing one is an
    /// error naming it. (Locally administered MAC addresses: no vendor, no file read.)
    #[test]
    fn report_leases_options_are_repeatable_and_read_each_run() {
        let dir = tempfile::tempdir().expect("dir");
        let db = home_db(dir.path());
        let dnsmasq = dir.path().join("dnsmasq.leases").display().to_string();
        std::fs::write(&dnsmasq, "0 06:00:00:00:00:01 192.168.1.23 jon-laptop *\n").expect("w");
        let isc = dir.path().join("dhcpd.leases").display().to_string();
        std::fs::write(
            &isc,
            "lease 192.168.1.25 {\n  ends never;\n  hardware ethernet 02:00:00:00:00:09;\n  \
             client-hostname \"Kettle\";\n}\n",
        )
        .expect("w");
        let args = [
            "--db", &db, "--by", "all", "--format", "csv", "--leases", &dnsmasq, "--leases", &isc,
        ];
        let run_csv = |args: &[&str]| {
            let mut out = Vec::new();
            run(&words(args), &mut out).map(|()| String::from_utf8(out).expect("utf-8"))
        };
        let want = |laptop: &str| {
            format!(
                "{}\nall,192.168.1.23,{laptop},5000,1000,4,2,\n\
                 all,192.168.1.24,,0,300,0,1,\n\
                 all,192.168.1.25,kettle,0,70,0,1,\n",
                render::CSV_HEADER
            )
        };
        assert_eq!(run_csv(&args).ok(), Some(want("jon-laptop")));
        // The file changed: the next run sees it.
        std::fs::write(&dnsmasq, "0 06:00:00:00:00:01 192.168.1.23 jons-pc *\n").expect("w");
        assert_eq!(run_csv(&args).ok(), Some(want("jons-pc")));
        let missing = dir.path().join("missing.leases").display().to_string();
        match run_csv(&["--db", &db, "--leases", &missing]) {
            Err(Failure::Error { message, .. }) => assert_eq!(
                message,
                format!(
                    "cannot read leases file '{missing}': No such file or directory (os error 2)"
                )
            ),
            other => panic!("{other:?}"),
        }
    }
}
