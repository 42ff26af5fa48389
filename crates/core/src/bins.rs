//! Time bins (`*_history`, `*_history_roundoff`, `*_history_offset`) and time formatting.
//!
//! Promises: a packet stamped `t` belongs to the bin `[start, start + length)` that contains `t`
//! (pmacct 1.7.7 puts packets of a bin's first second into the previous bin; we do not). Time is
//! always passed in; nothing here reads the clock.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Unit of a history length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
}

/// A bin length such as `1m` or `1M`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    pub amount: u32,
    pub unit: HistoryUnit,
}

impl History {
    /// Parses `<n>[s|m|h|d|w|M]` (a bare number is seconds, pmacct turns whole minutes into
    /// minutes).
    pub fn parse(raw: &str) -> Result<History, String> {
        let (digits, unit) = match raw.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], Some(c)),
            _ => (raw, None),
        };
        let amount: u32 = digits
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("expected <number>[s|m|h|d|w|M], got '{raw}'"))?;
        let unit = match unit {
            None | Some('s') => HistoryUnit::Seconds,
            Some('m') => HistoryUnit::Minutes,
            Some('h') => HistoryUnit::Hours,
            Some('d') => HistoryUnit::Days,
            Some('w') => HistoryUnit::Weeks,
            Some('M') => HistoryUnit::Months,
            Some(c) => {
                return Err(format!(
                    "unknown history unit '{c}' in '{raw}' (use s, m, h, d, w or M)"
                ))
            }
        };
        if unit == HistoryUnit::Seconds && amount >= 60 {
            if !amount.is_multiple_of(60) {
                return Err(format!(
                    "a history of 60 seconds or more must be a multiple of 60, got {amount}"
                ));
            }
            return Ok(History {
                amount: amount / 60,
                unit: HistoryUnit::Minutes,
            });
        }
        Ok(History { amount, unit })
    }

    /// Length in seconds, for fixed-length units (`None` for months).
    pub fn seconds(self) -> Option<i64> {
        let n = i64::from(self.amount);
        Some(match self.unit {
            HistoryUnit::Seconds => n,
            HistoryUnit::Minutes => n * 60,
            HistoryUnit::Hours => n * 3600,
            HistoryUnit::Days => n * 86400,
            HistoryUnit::Weeks => n * 7 * 86400,
            HistoryUnit::Months => return None,
        })
    }
}

/// Which calendar fields to zero when building the bins' anchor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roundoff {
    pub minute: bool,
    pub hour: bool,
    pub day: bool,
    pub week: bool,
    pub month: bool,
}

impl Roundoff {
    pub fn parse(raw: &str) -> Result<Roundoff, String> {
        let mut r = Roundoff::default();
        for c in raw.chars() {
            match c {
                'm' => r.minute = true,
                'h' => r.hour = true,
                'd' => r.day = true,
                'w' => r.week = true,
                'M' => r.month = true,
                _ => {
                    return Err(format!(
                        "unknown roundoff letter '{c}' in '{raw}' (use m, h, d, w, M)"
                    ))
                }
            }
        }
        Ok(r)
    }
}

/// How a plugin cuts time into bins.
#[derive(Clone, Debug, PartialEq)]
pub struct BinSpec {
    pub history: History,
    pub roundoff: Roundoff,
    pub offset: i64,
    pub tz: TimeZone,
}

/// Bins anchored at a fixed instant: `anchor + k × length`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    spec: BinSpec,
    anchor: i64,
}

impl BinSpec {
    /// Fixes the anchor from the first instant the plugin sees (the daemon's start, or the first
    /// packet of a file), zeroing seconds and the roundoff fields in the configured time zone.
    pub fn anchored_at(&self, start: i64) -> Bins {
        let anchor = round_down(start, self.roundoff, &self.tz);
        Bins {
            spec: self.clone(),
            anchor: anchor + self.offset,
        }
    }
}

impl Bins {
    /// The start of the bin containing `t` (seconds since the epoch).
    pub fn start_of(&self, t: i64) -> i64 {
        match self.spec.history.seconds() {
            Some(len) => t - (t - self.anchor).rem_euclid(len),
            None => {
                // Calendar months, counted from the anchor's month.
                let months = i64::from(self.spec.history.amount);
                let local = |s: i64| civil(s, &self.spec.tz);
                let a = local(self.anchor);
                let x = local(t - self.spec.offset);
                let diff = (i64::from(x.year()) * 12 + i64::from(x.month()))
                    - (i64::from(a.year()) * 12 + i64::from(a.month()));
                let k = diff.div_euclid(months) * months;
                let month_start = DateTime::new(a.year(), a.month(), 1, 0, 0, 0, 0)
                    .ok()
                    .and_then(|d| d.checked_add((k as i32).months()).ok());
                match month_start.and_then(|d| self.spec.tz.to_timestamp(d).ok()) {
                    Some(ts) => ts.as_second() + self.spec.offset,
                    None => t,
                }
            }
        }
    }

    /// The start of the bin after the one starting at `start`.
    pub fn next_start(&self, start: i64) -> i64 {
        match self.spec.history.seconds() {
            Some(len) => start + len,
            None => {
                // Probe a point safely inside the next month.
                let months = i64::from(self.spec.history.amount);
                self.start_of(start + months * 31 * 86400 + 86400)
            }
        }
    }

    pub fn anchor(&self) -> i64 {
        self.anchor
    }
}

fn civil(t: i64, tz: &TimeZone) -> DateTime {
    Timestamp::from_second(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .datetime()
}

/// Zeroes seconds and the roundoff fields of `t` in `tz`.
pub fn round_down(t: i64, r: Roundoff, tz: &TimeZone) -> i64 {
    let d = civil(t, tz);
    let mut date = d.date();
    let (mut hour, mut minute) = (d.hour(), d.minute());
    if r.minute {
        minute = 0;
    }
    if r.hour {
        hour = 0;
        minute = 0;
    }
    if r.day {
        date = date.first_of_month();
    }
    if r.week {
        let back = i64::from(date.weekday().to_sunday_zero_offset());
        date = date.checked_sub(back.days()).unwrap_or(date);
    }
    if r.month {
        date = jiff::civil::Date::new(date.year(), 1, date.day()).unwrap_or(date);
    }
    let rounded = date.at(hour, minute, 0, 0);
    tz.to_timestamp(rounded)
        .map(|ts| ts.as_second())
        .unwrap_or(t - t.rem_euclid(60))
}

/// The time zone times are printed in: UTC with `timestamps_utc`, the system's otherwise.
pub fn time_zone(utc: bool) -> TimeZone {
    if utc {
        TimeZone::UTC
    } else {
        TimeZone::try_system().unwrap_or(TimeZone::UTC)
    }
}

/// `YYYY-MM-DD HH:MM:SS` in `tz`, as pmacct prints stamps.
pub fn format_stamp(t: i64, tz: &TimeZone) -> String {
    let d = civil(t, tz);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// Expands strftime-style time variables of an output file name from a bin start.
/// Supported: `%Y %y %m %d %H %M %S %s %j %w %W %U %z %%`; anything else is kept as written.
pub fn expand_time_variables(template: &str, t: i64, tz: &TimeZone) -> String {
    let zoned = Timestamp::from_second(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone());
    let d = zoned.datetime();
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let yday = i64::from(d.day_of_year());
        let wday = i64::from(d.weekday().to_sunday_zero_offset());
        match spec {
            'Y' => out.push_str(&format!("{:04}", d.year())),
            'y' => out.push_str(&format!("{:02}", d.year().rem_euclid(100))),
            'm' => out.push_str(&format!("{:02}", d.month())),
            'd' => out.push_str(&format!("{:02}", d.day())),
            'H' => out.push_str(&format!("{:02}", d.hour())),
            'M' => out.push_str(&format!("{:02}", d.minute())),
            'S' => out.push_str(&format!("{:02}", d.second())),
            's' => out.push_str(&t.to_string()),
            'j' => out.push_str(&format!("{yday:03}")),
            'w' => out.push_str(&wday.to_string()),
            // Week of the year, Monday (W) or Sunday (U) first, as strftime.
            'W' => out.push_str(&format!("{:02}", (yday + 6 - (wday + 6) % 7) / 7)),
            'U' => out.push_str(&format!("{:02}", (yday + 6 - wday) / 7)),
            'z' => {
                let secs = zoned.offset().seconds();
                let sign = if secs < 0 { '-' } else { '+' };
                let secs = secs.abs();
                out.push_str(&format!(
                    "{sign}{:02}{:02}",
                    secs / 3600,
                    (secs % 3600) / 60
                ));
            }
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    fn bins(history: &str, roundoff: &str, start: &str) -> Bins {
        BinSpec {
            history: History::parse(history).unwrap(),
            roundoff: Roundoff::parse(roundoff).unwrap(),
            offset: 0,
            tz: TimeZone::UTC,
        }
        .anchored_at(utc(start))
    }

    #[test]
    fn history_parsing() {
        assert_eq!(
            History::parse("1m"),
            Ok(History {
                amount: 1,
                unit: HistoryUnit::Minutes
            })
        );
        assert_eq!(
            History::parse("300"),
            Ok(History {
                amount: 5,
                unit: HistoryUnit::Minutes
            })
        );
        assert_eq!(
            History::parse("10"),
            Ok(History {
                amount: 10,
                unit: HistoryUnit::Seconds
            })
        );
        assert!(History::parse("90").is_err());
        assert!(History::parse("1x").is_err());
        assert!(History::parse("0m").is_err());
    }

    #[test]
    fn first_second_of_a_bin_belongs_to_that_bin() {
        let b = bins("1m", "m", "2026-11-26T18:37:12Z");
        assert_eq!(
            b.start_of(utc("2026-11-26T18:40:00Z")),
            utc("2026-11-26T18:40:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-11-26T18:40:00Z")),
            utc("2026-11-26T18:40:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-11-26T18:39:59Z")),
            utc("2026-11-26T18:39:00Z")
        );
    }

    #[test]
    fn roundoff_examples_from_the_docs() {
        // 5m + m at 18:37 -> bins 18:35, 18:40
        let b = bins("5m", "m", "2026-11-26T18:37:00Z");
        assert_eq!(
            b.start_of(utc("2026-11-26T18:37:30Z")),
            utc("2026-11-26T18:35:00Z")
        );
        assert_eq!(
            b.next_start(utc("2026-11-26T18:35:00Z")),
            utc("2026-11-26T18:40:00Z")
        );
        // 1h + m at 18:34 -> 18:00
        let b = bins("1h", "m", "2026-11-26T18:34:00Z");
        assert_eq!(
            b.start_of(utc("2026-11-26T19:59:59Z")),
            utc("2026-11-26T19:00:00Z")
        );
        // without roundoff bins align on the start minute
        let b = bins("5m", "", "2026-11-26T18:37:45Z");
        assert_eq!(
            b.start_of(utc("2026-11-26T18:41:00Z")),
            utc("2026-11-26T18:37:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-11-26T18:36:59Z")),
            utc("2026-11-26T18:32:00Z")
        );
    }

    #[test]
    fn days_weeks_and_months() {
        let b = bins("1d", "h", "2026-11-26T18:34:00Z");
        assert_eq!(
            b.start_of(utc("2026-11-27T00:00:00Z")),
            utc("2026-11-27T00:00:00Z")
        );
        // 2026-11-26 is a Thursday: the week starts on Sunday the 22nd.
        let b = bins("1w", "hw", "2026-11-26T18:34:00Z");
        assert_eq!(b.anchor(), utc("2026-11-22T00:00:00Z"));
        let b = bins("1M", "hd", "2026-11-26T18:34:00Z");
        assert_eq!(
            b.start_of(utc("2027-02-14T10:00:00Z")),
            utc("2027-02-01T00:00:00Z")
        );
        assert_eq!(
            b.next_start(utc("2027-01-01T00:00:00Z")),
            utc("2027-02-01T00:00:00Z")
        );
    }

    #[test]
    fn file_name_variables() {
        let t = utc("2026-11-26T18:05:00Z");
        assert_eq!(
            expand_time_variables("/x/traffic-%Y%m%d-%H%M.csv", t, &TimeZone::UTC),
            "/x/traffic-20261126-1805.csv"
        );
        assert_eq!(
            expand_time_variables("%s %z %j %%", t, &TimeZone::UTC),
            format!("{t} +0000 330 %")
        );
        assert_eq!(format_stamp(t, &TimeZone::UTC), "2026-11-26 18:05:00");
    }
}
