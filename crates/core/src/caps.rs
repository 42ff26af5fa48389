//! Data caps (`quota_map`): per device or network, a limit per day, week or month, in one or
//! both directions, with alert thresholds.
//!
//! One cap per line, `key=value` words as in pmacct's maps; `!` and `#` start comments:
//!
//! ```text
//! name=laptop device=192.168.1.10 limit=10GB period=month reset=1 direction=both alerts=80,100
//! name=tv device=02:00:00:00:00:0a limit=2GiB period=day direction=down alerts=100
//! name=lan net=192.168.1.0/24 limit=1TB period=week reset=mon alerts=50,90,100
//! ```

use std::net::IpAddr;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use crate::cidr::Cidr;
use crate::key::Mac;

/// What a cap counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Ip(IpAddr),
    Mac(Mac),
    Net(Cidr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Weeks starting on this weekday.
    Week(Weekday),
    /// Months starting on this day of the month (1 to 28).
    Month(i8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Down,
    Up,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The name alerts and the client show (default: the device or network).
    pub name: String,
    pub selector: Selector,
    pub limit: u64,
    pub period: Period,
    pub direction: Direction,
    /// Percentages, ascending.
    pub alerts: Vec<u32>,
    /// Where it was written (`file:line`).
    pub origin: String,
}

impl Cap {
    /// What identifies the cap's usage across restarts and edits of other lines.
    pub fn id(&self) -> String {
        format!(
            "{}|{}|{:?}|{:?}",
            self.name,
            self.device(),
            self.period,
            self.direction
        )
    }

    /// The device or network, as written in alerts.
    pub fn device(&self) -> String {
        match &self.selector {
            Selector::Ip(a) => a.to_string(),
            Selector::Mac(m) => m.to_string(),
            Selector::Net(n) => n.to_string(),
        }
    }

    /// Whether traffic of a local device (its address and MAC) counts for this cap.
    pub fn covers(&self, ip: IpAddr, mac: Mac) -> bool {
        match &self.selector {
            Selector::Ip(a) => *a == ip,
            Selector::Mac(m) => *m == mac,
            Selector::Net(n) => n.contains(ip),
        }
    }

    pub fn counts(&self, upload: bool) -> bool {
        match self.direction {
            Direction::Both => true,
            Direction::Up => upload,
            Direction::Down => !upload,
        }
    }

    /// The period holding `t`: its start and end (seconds), in `tz`.
    pub fn period_of(&self, t: i64, tz: &TimeZone) -> Option<(i64, i64)> {
        let z = Timestamp::from_second(t).ok()?.to_zoned(tz.clone());
        let date = z.date();
        let (start, next): (Date, Date) = match self.period {
            Period::Day => (date, date.tomorrow().ok()?),
            Period::Week(first) => {
                let back = (7 + date.weekday().to_monday_zero_offset()
                    - first.to_monday_zero_offset())
                    % 7;
                let s = date.checked_sub(Span::new().days(i64::from(back))).ok()?;
                (s, s.checked_add(Span::new().days(7)).ok()?)
            }
            Period::Month(day) => {
                let this = date
                    .first_of_month()
                    .checked_add(Span::new().days(i64::from(day) - 1))
                    .ok()?;
                let s = if date >= this {
                    this
                } else {
                    this.checked_sub(Span::new().months(1)).ok()?
                };
                (s, s.checked_add(Span::new().months(1)).ok()?)
            }
        };
        let at = |d: Date| {
            d.to_zoned(tz.clone())
                .ok()
                .map(|z| z.timestamp().as_second())
        };
        Some((at(start)?, at(next)?))
    }
}

/// `10GB`, `2GiB`, `500MB`, `1.5TB`, `800000` (bytes): decimal (kB, MB, GB, TB) and binary
/// (KiB, MiB, GiB, TiB) units.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size (such as 10GB or 2GiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    let v = (n * mult).round();
    if !(1.0..1.8e19).contains(&v) {
        return Err(format!("'{text}': a limit must be at least 1 byte"));
    }
    Ok(v as u64)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.get(..3)?.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_mac(text: &str) -> Option<Mac> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(Mac(m))
}

/// One line's words.
fn parse_line(text: &str, origin: String) -> Result<Cap, String> {
    let (mut name, mut selector, mut limit) = (None, None, None);
    let (mut period, mut reset, mut direction, mut alerts) =
        (None, None, Direction::Both, vec![100]);
    for word in text.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| format!("'{word}' is not key=value"))?;
        match k {
            "name" => name = Some(v.to_string()),
            "device" => {
                selector = Some(match (v.parse::<IpAddr>(), parse_mac(v)) {
                    (Ok(ip), _) => Selector::Ip(ip),
                    (_, Some(m)) => Selector::Mac(m),
                    _ => return Err(format!("device '{v}' is not an IP or MAC address")),
                })
            }
            "net" => selector = Some(Selector::Net(Cidr::parse(v)?)),
            "limit" => limit = Some(parse_size(v)?),
            "period" => period = Some(v.to_ascii_lowercase()),
            "reset" => reset = Some(v.to_string()),
            "direction" => {
                direction = match v {
                    "down" => Direction::Down,
                    "up" => Direction::Up,
                    "both" => Direction::Both,
                    _ => return Err(format!("direction '{v}': expected down, up or both")),
                }
            }
            "alerts" => {
                let mut list = Vec::new();
                for a in v.split(',') {
                    let p: u32 = a
                        .trim()
                        .parse()
                        .ok()
                        .filter(|p| (1..=1000).contains(p))
                        .ok_or_else(|| format!("alerts '{v}': percentages 1 to 1000, such as 80,100"))?;
                    list.push(p);
                }
                list.sort_unstable();
                list.dedup();
                alerts = list;
            }
            other => return Err(format!("unknown key '{other}' (name, device, net, limit, period, reset, direction, alerts)")),
        }
    }
    let selector = selector.ok_or("a cap needs device= or net=")?;
    let limit = limit.ok_or("a cap needs limit= (such as limit=10GB)")?;
    let period = match (period.as_deref(), reset.as_deref()) {
        (Some("day"), None) => Period::Day,
        (Some("day"), Some(_)) => return Err("period=day takes no reset=".into()),
        (Some("week"), r) => Period::Week(match r {
            None => Weekday::Monday,
            Some(r) => parse_weekday(r)
                .ok_or_else(|| format!("reset '{r}': a weekday (mon ... sun) for period=week"))?,
        }),
        (Some("month"), r) => Period::Month(match r {
            None => 1,
            Some(r) => r
                .parse::<i8>()
                .ok()
                .filter(|d| (1..=28).contains(d))
                .ok_or_else(|| {
                    format!("reset '{r}': a day of the month, 1 to 28, for period=month")
                })?,
        }),
        (Some(p), _) => return Err(format!("period '{p}': expected day, week or month")),
        (None, _) => return Err("a cap needs period=day, week or month".into()),
    };
    let mut cap = Cap {
        name: String::new(),
        selector,
        limit,
        period,
        direction,
        alerts,
        origin,
    };
    cap.name = name.unwrap_or_else(|| cap.device());
    Ok(cap)
}

/// Parses a caps file; errors name the file and line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Cap>, String> {
    let mut caps: Vec<Cap> = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
            continue;
        }
        let origin = format!("{file}:{}", i + 1);
        match parse_line(line, origin.clone()) {
            Ok(cap) => match caps.iter().find(|c| c.id() == cap.id()) {
                Some(first) => errors.push(format!(
                    "{origin}: the same cap as {} (give it another name=)",
                    first.origin
                )),
                None => caps.push(cap),
            },
            Err(e) => errors.push(format!("{origin}: {e}")),
        }
    }
    match errors.is_empty() {
        true => Ok(caps),
        false => Err(errors.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_decimal_and_binary_units() {
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5MB"), Ok(1_500_000));
        assert_eq!(parse_size("800"), Ok(800));
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn caps_and_their_errors() {
        let text = "! caps\nname=laptop device=192.168.1.10 limit=10GB period=month reset=15 alerts=100,80\n\
                    device=02:00:00:00:00:0a limit=2GiB period=day direction=down\n\
                    name=lan net=192.168.1.0/24 limit=1TB period=week reset=sun\n";
        let caps = parse("caps.map", text).expect("caps");
        assert_eq!(caps.len(), 3);
        assert_eq!(caps[0].alerts, vec![80, 100]);
        assert_eq!(caps[0].period, Period::Month(15));
        assert_eq!(caps[1].name, "02:00:00:00:00:0a");
        assert_eq!(caps[1].alerts, vec![100]);
        assert_eq!(caps[2].period, Period::Week(Weekday::Sunday));
        let bad = "device=1.2.3.4 limit=1GB period=year\nlimit=1GB period=day\ndevice=x limit=1 period=day\n";
        assert_eq!(
            parse("caps.map", bad).err().as_deref(),
            Some("caps.map:1: period 'year': expected day, week or month\ncaps.map:2: a cap needs device= or net=\ncaps.map:3: device 'x' is not an IP or MAC address")
        );
    }

    #[test]
    fn periods_with_reset_days_in_a_time_zone() {
        let tz = TimeZone::get("Europe/Berlin").expect("tzdata");
        let cap = |p| Cap {
            name: "x".into(),
            selector: Selector::Ip("10.0.0.1".parse().expect("ip")),
            limit: 1,
            period: p,
            direction: Direction::Both,
            alerts: vec![100],
            origin: String::new(),
        };
        // 2024-03-31 12:00 CEST (a Sunday; the clocks went forward that night).
        let t = 1_711_879_200;
        let day = cap(Period::Day).period_of(t, &tz).expect("day");
        assert_eq!(day, (1_711_839_600, 1_711_922_400)); // 23 hours
        let week = cap(Period::Week(Weekday::Monday))
            .period_of(t, &tz)
            .expect("week");
        assert_eq!(week.0, 1_711_321_200); // Monday 25 March, 00:00 CET
        let month = cap(Period::Month(15)).period_of(t, &tz).expect("month");
        assert_eq!(month, (1_710_457_200, 1_713_132_000)); // 15 March CET .. 15 April CEST
    }
}
