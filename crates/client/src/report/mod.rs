//! `pmacct report`: bytes and packets per local device and per hour, day, week or month, from
//! what the daemon stored (an SQL table) or holds (a memory table). See docs/report.md.

mod devices;
mod period;
mod render;
mod source;

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;

use devices::{Cidr, LocalNets, Names, Side};
use period::By;
use source::{Flow, Source, StampZone};

use crate::Failure;

pub use render::Format;

/// The command line of `pmacct report`.
#[derive(Debug)]
pub struct ReportOptions {
    pub source: Source,
    pub table: String,
    pub local: Vec<Cidr>,
    pub by: By,
    pub from: Option<String>,
    pub to: Option<String>,
    pub top: usize,
    pub names: Option<String>,
    pub utc: bool,
    pub stamps_utc: bool,
    pub exact: bool,
    pub format: Format,
    pub by_mac: bool,
    pub include_lan: bool,
    pub include_noise: bool,
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
        utc: false,
        stamps_utc: false,
        exact: false,
        format: Format::Table,
        by_mac: false,
        include_lan: false,
        include_noise: false,
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
    o.source = source.ok_or_else(|| {
        Failure::with_report_usage("say where the data is: --db, --pipe, --pgsql or --mysql")
    })?;
    let pipe = matches!(o.source, Source::Pipe(_));
    o.by = match (by, pipe) {
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

/// Traffic of one device in one period.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub download_bytes: u64,
    pub upload_bytes: u64,
    pub download_packets: u64,
    pub upload_packets: u64,
    /// Per remote peer: bytes down, bytes up (kept only with `--top`).
    pub peers: HashMap<IpAddr, (u64, u64)>,
}

/// One row of the report.
pub struct Row {
    pub period: String,
    pub period_ts: i64,
    pub device: String,
    pub name: String,
    pub usage: Usage,
}

/// The running sums of a report.
struct Tally<'a> {
    o: &'a ReportOptions,
    nets: LocalNets,
    tz: jiff::tz::TimeZone,
    window: (i64, i64),
    periods: HashMap<i64, Option<(i64, String)>>,
    usage: HashMap<(i64, String), (String, Usage)>,
}

impl Tally<'_> {
    fn period(&mut self, stamp: Option<i64>) -> Option<(i64, String)> {
        let (Some(t), false) = (stamp, self.o.by == By::All) else {
            return Some((0, "all".into()));
        };
        if t < self.window.0 || t >= self.window.1 {
            return None;
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

    fn add(&mut self, period: &(i64, String), device: String, f: &Flow, up: bool, peer: IpAddr) {
        let top = self.o.top > 0;
        let (_, u) = self
            .usage
            .entry((period.0, device))
            .or_insert_with(|| (period.1.clone(), Usage::default()));
        let p = top.then(|| u.peers.entry(peer).or_default());
        if up {
            u.upload_bytes += f.bytes;
            u.upload_packets += f.packets;
            if let Some(p) = p {
                p.1 += f.bytes;
            }
        } else {
            u.download_bytes += f.bytes;
            u.download_packets += f.packets;
            if let Some(p) = p {
                p.0 += f.bytes;
            }
        }
    }

    fn device(&self, ip: IpAddr, mac: &Option<String>) -> String {
        match (self.o.by_mac, mac) {
            (true, Some(m)) => m.clone(),
            _ => ip.to_string(),
        }
    }

    fn flow(&mut self, f: Flow) {
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
        let Some(period) = self.period(f.stamp) else {
            return;
        };
        if src_local {
            let d = self.device(f.src, &f.src_mac);
            self.add(&period, d, &f, true, f.dst);
        }
        if dst_local {
            let d = self.device(f.dst, &f.dst_mac);
            self.add(&period, d, &f, false, f.src);
        }
    }
}

/// Sort order of devices: IP addresses by value, then MAC addresses and the rest as text.
fn device_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        _ => a.cmp(b),
    }
}

/// Computes the report's rows, sorted by period then device.
pub fn compute(o: &ReportOptions) -> Result<Vec<Row>, Failure> {
    let names = match &o.names {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::new(format!("cannot read names file '{path}': {e}")))?;
            Names::parse(path, &text).map_err(Failure::new)?
        }
        None => Names::default(),
    };
    let tz = pmacct_core::bins::time_zone(o.utc);
    let stamps = StampZone(pmacct_core::bins::time_zone(o.stamps_utc));
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
    let mut tally = Tally {
        o,
        nets: LocalNets::new(o.local.clone()),
        tz,
        window: (from, to),
        periods: HashMap::new(),
        usage: HashMap::new(),
    };
    let need = source::Need {
        mac: o.by_mac,
        time: o.by != By::All,
    };
    source::read(&o.source, &o.table, need, &stamps, &mut |f| tally.flow(f))
        .map_err(|e| Failure::new(e.to_string()))?;
    let mut rows: Vec<Row> = tally
        .usage
        .into_iter()
        .map(|((period_ts, device), (period, usage))| Row {
            name: names.get(&device).to_string(),
            period,
            period_ts,
            device,
            usage,
        })
        .collect();
    rows.sort_by(|a, b| {
        a.period_ts
            .cmp(&b.period_ts)
            .then_with(|| device_order(&a.device, &b.device))
    });
    Ok(rows)
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
