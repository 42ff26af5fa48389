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

/// One letter of `*_history_roundoff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundoffField {
    /// `m`: minutes to 0 (top of the hour).
    Minute,
    /// `h`: minutes and hours to 0 (midnight).
    Hour,
    /// `d`: midnight on the 1st of the month.
    Day,
    /// `w`: midnight on the Monday of the week.
    Week,
    /// `M`: midnight on January 1st.
    Month,
}

/// Which calendar fields to zero when building the bins' anchor, in the order written: pmacct
/// 1.7.7 applies the letters one after the other (`wd` ends on the 1st, `dw` on the Monday
/// before the 1st). Seconds are always zeroed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roundoff {
    pub fields: Vec<RoundoffField>,
}

impl Roundoff {
    pub fn parse(raw: &str) -> Result<Roundoff, String> {
        let mut fields = Vec::new();
        for c in raw.chars() {
            fields.push(match c {
                'm' => RoundoffField::Minute,
                'h' => RoundoffField::Hour,
                'd' => RoundoffField::Day,
                'w' => RoundoffField::Week,
                'M' => RoundoffField::Month,
                _ => {
                    return Err(format!(
                        "unknown roundoff letter '{c}' in '{raw}' (use m, h, d, w, M)"
                    ))
                }
            });
        }
        Ok(Roundoff { fields })
    }

    fn with_first(&self, field: RoundoffField) -> Roundoff {
        let mut fields = vec![field];
        fields.extend_from_slice(&self.fields);
        Roundoff { fields }
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

/// Bins anchored at a fixed instant: `anchor + k × length`, where seconds, minutes and hours
/// are exact durations and days, weeks and months are calendar steps in the time zone (a day
/// runs from local midnight to local midnight, 23 or 25 hours long on a DST change).
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    spec: BinSpec,
    /// First bin start, offset included.
    anchor: i64,
    /// The anchor before the offset, in local civil time (for calendar steps).
    anchor_civil: DateTime,
}

impl BinSpec {
    /// Fixes the anchor from the first instant the plugin sees (the daemon's start, or the first
    /// packet of a file), zeroing seconds and the roundoff fields in the configured time zone.
    /// Monthly bins always start on the 1st (pmacct resets the day of the month for them).
    pub fn anchored_at(&self, start: i64) -> Bins {
        let roundoff = match self.history.unit {
            HistoryUnit::Months => self.roundoff.with_first(RoundoffField::Day),
            _ => self.roundoff.clone(),
        };
        let rounded = round_down(start, &roundoff, &self.tz);
        Bins {
            spec: self.clone(),
            anchor: rounded + self.offset,
            anchor_civil: civil(rounded, &self.tz),
        }
    }
}

/// A calendar step of bins or refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Seconds(i64),
    Days(i64),
    Months(i64),
}

impl Bins {
    fn step(&self) -> Step {
        let n = i64::from(self.spec.history.amount);
        match self.spec.history.unit {
            HistoryUnit::Days => Step::Days(n),
            HistoryUnit::Weeks => Step::Days(7 * n),
            HistoryUnit::Months => Step::Months(n),
            _ => Step::Seconds(self.spec.history.seconds().unwrap_or(60)),
        }
    }

    /// The start of the bin containing `t` (seconds since the epoch).
    pub fn start_of(&self, t: i64) -> i64 {
        let offset = self.spec.offset;
        match self.step() {
            Step::Seconds(len) => t - (t - self.anchor).rem_euclid(len),
            step => calendar_floor(&self.anchor_civil, step, t - offset, &self.spec.tz)
                .map_or(t, |s| s + offset),
        }
    }

    /// The start of the bin after the one starting at `start`.
    pub fn next_start(&self, start: i64) -> i64 {
        let offset = self.spec.offset;
        match self.step() {
            Step::Seconds(len) => start + len,
            step => calendar_next(&self.anchor_civil, step, start - offset, &self.spec.tz)
                .map_or(start + 86400, |s| s + offset),
        }
    }

    pub fn anchor(&self) -> i64 {
        self.anchor
    }

    /// The shortest length a bin can have (months count 28 days).
    pub fn min_length(&self) -> i64 {
        match self.step() {
            Step::Seconds(len) => len,
            Step::Days(n) => n * 86400 - 3600,
            Step::Months(n) => n * 28 * 86400 - 3600,
        }
    }
}

/// [`Bins`] with the current bin remembered: records arrive in time order, so nearly every
/// lookup is a range check instead of a calendar computation.
#[derive(Clone, Debug)]
pub struct BinLookup {
    bins: Bins,
    current: (i64, i64),
}

impl BinLookup {
    pub fn new(bins: Bins) -> Self {
        BinLookup {
            bins,
            current: (0, 0),
        }
    }

    /// The start of the bin containing `t`.
    #[inline]
    pub fn start_of(&mut self, t: i64) -> i64 {
        let (start, end) = self.current;
        if t >= start && t < end {
            return start;
        }
        let start = self.bins.start_of(t);
        self.current = (start, self.bins.next_start(start));
        start
    }

    pub fn bins(&self) -> &Bins {
        &self.bins
    }
}

/// `anchor + k × step` in civil time, as an instant.
fn calendar_point(anchor: &DateTime, step: Step, k: i64, tz: &TimeZone) -> Option<i64> {
    let span = match step {
        Step::Days(n) => jiff::Span::new().try_days(k.checked_mul(n)?).ok()?,
        Step::Months(n) => jiff::Span::new().try_months(k.checked_mul(n)?).ok()?,
        Step::Seconds(n) => return anchor_instant(anchor, tz).map(|a| a + k * n),
    };
    let d = anchor.checked_add(span).ok()?;
    tz.to_timestamp(d).ok().map(|ts| ts.as_second())
}

fn anchor_instant(anchor: &DateTime, tz: &TimeZone) -> Option<i64> {
    tz.to_timestamp(*anchor).ok().map(|ts| ts.as_second())
}

/// A first guess of how many steps separate the anchor from `t` (may be off by one).
fn calendar_guess(anchor: &DateTime, step: Step, t: i64, tz: &TimeZone) -> i64 {
    let x = civil(t, tz);
    match step {
        Step::Days(n) => {
            let days = x
                .date()
                .since(anchor.date())
                .map_or(0, |s| i64::from(s.get_days()));
            days.div_euclid(n)
        }
        Step::Months(n) => {
            let months = (i64::from(x.year()) * 12 + i64::from(x.month()))
                - (i64::from(anchor.year()) * 12 + i64::from(anchor.month()));
            months.div_euclid(n)
        }
        Step::Seconds(n) => anchor_instant(anchor, tz).map_or(0, |a| (t - a).div_euclid(n)),
    }
}

/// The last point `anchor + k × step` at or before `t`.
fn calendar_floor(anchor: &DateTime, step: Step, t: i64, tz: &TimeZone) -> Option<i64> {
    let mut k = calendar_guess(anchor, step, t, tz) + 1;
    loop {
        let p = calendar_point(anchor, step, k, tz)?;
        if p <= t {
            return Some(p);
        }
        k -= 1;
    }
}

/// The first point `anchor + k × step` strictly after `t`.
fn calendar_next(anchor: &DateTime, step: Step, t: i64, tz: &TimeZone) -> Option<i64> {
    let mut k = calendar_guess(anchor, step, t, tz) - 1;
    loop {
        let p = calendar_point(anchor, step, k, tz)?;
        if p > t {
            return Some(p);
        }
        k += 1;
    }
}

/// When a plugin purges: refresh deadlines share the bins' anchor (the start rounded off when
/// there are no bins), every `refresh` seconds, stepping in calendar days when `refresh` is a
/// whole number of days (so a midnight deadline stays at midnight across DST). When `refresh`
/// is at least as long as a bin, the deadlines are the bin boundaries themselves, so a bin is
/// never split across two purges.
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshSchedule {
    step: Step,
    anchor_civil: DateTime,
    tz: TimeZone,
    offset: i64,
    bins: Option<Bins>,
}

impl RefreshSchedule {
    /// `bins` when the plugin has them; otherwise deadlines are anchored at `start` with the
    /// seconds zeroed.
    pub fn new(refresh: i64, start: i64, bins: Option<&Bins>, tz: &TimeZone) -> Self {
        let refresh = refresh.max(1);
        let step = if refresh % 86400 == 0 {
            Step::Days(refresh / 86400)
        } else {
            Step::Seconds(refresh)
        };
        let (anchor, offset) = match bins {
            Some(b) => (b.anchor - b.spec.offset, b.spec.offset),
            None => (start - start.rem_euclid(60), 0),
        };
        let bins = bins.filter(|b| refresh >= b.min_length()).cloned();
        RefreshSchedule {
            step,
            anchor_civil: civil(anchor, tz),
            tz: tz.clone(),
            offset,
            bins,
        }
    }

    /// The first deadline strictly after `t`.
    pub fn next_after(&self, t: i64) -> i64 {
        if let Some(b) = &self.bins {
            return b.next_start(b.start_of(t));
        }
        calendar_next(&self.anchor_civil, self.step, t - self.offset, &self.tz)
            .map_or(t + 60, |d| d + self.offset)
    }
}

fn civil(t: i64, tz: &TimeZone) -> DateTime {
    Timestamp::from_second(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .datetime()
}

/// Zeroes seconds and then, letter by letter, the roundoff fields of `t` in `tz`, as pmacct
/// 1.7.7's `roundoff_time()`: every letter but `m` also zeroes minute and hour. One difference:
/// `w` always goes back to the Monday (pmacct stays on a Sunday, issue #647).
pub fn round_down(t: i64, r: &Roundoff, tz: &TimeZone) -> i64 {
    let d = civil(t, tz);
    let mut date = d.date();
    let (mut hour, mut minute) = (d.hour(), d.minute());
    for field in &r.fields {
        minute = 0;
        if *field == RoundoffField::Minute {
            continue;
        }
        hour = 0;
        date = match field {
            RoundoffField::Day => date.first_of_month(),
            RoundoffField::Week => {
                let back = i64::from(date.weekday().to_monday_zero_offset());
                date.checked_sub(back.days()).unwrap_or(date)
            }
            RoundoffField::Month => jiff::civil::Date::new(date.year(), 1, 1).unwrap_or(date),
            _ => date,
        };
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

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn round(t: &str, letters: &str, tz: &TimeZone) -> i64 {
        round_down(utc(t), &Roundoff::parse(letters).unwrap(), tz)
    }

    #[test]
    fn every_roundoff_letter_and_combination_in_utc() {
        // 2026-11-26 is a Thursday; 2026-11-01 a Sunday; 2026-01-01 a Thursday.
        let t = "2026-11-26T18:34:27Z";
        let z = TimeZone::UTC;
        let cases = [
            ("", "2026-11-26T18:34:00Z"),
            ("m", "2026-11-26T18:00:00Z"),
            ("h", "2026-11-26T00:00:00Z"),
            ("d", "2026-11-01T00:00:00Z"),
            ("w", "2026-11-23T00:00:00Z"),
            ("M", "2026-01-01T00:00:00Z"),
            ("mh", "2026-11-26T00:00:00Z"),
            ("hd", "2026-11-01T00:00:00Z"),
            ("wd", "2026-11-01T00:00:00Z"),
            ("dw", "2026-10-26T00:00:00Z"),
            ("dM", "2026-01-01T00:00:00Z"),
            ("Mw", "2025-12-29T00:00:00Z"),
            ("wM", "2026-01-01T00:00:00Z"),
            ("mhdwM", "2026-01-01T00:00:00Z"),
        ];
        for (letters, want) in cases {
            assert_eq!(round(t, letters, &z), utc(want), "roundoff '{letters}'");
        }
        // On a Sunday, `w` goes back to Monday (pmacct 1.7.7 stays on the Sunday).
        assert_eq!(
            round("2026-11-29T10:00:00Z", "w", &z),
            utc("2026-11-23T00:00:00Z")
        );
        // On a Monday it stays.
        assert_eq!(
            round("2026-11-23T23:59:59Z", "w", &z),
            utc("2026-11-23T00:00:00Z")
        );
    }

    #[test]
    fn roundoff_in_a_dst_zone_uses_local_midnight() {
        let z = berlin();
        // 10:00 CEST (UTC+2) on 2026-10-20.
        let t = "2026-10-20T08:00:00Z";
        assert_eq!(round(t, "h", &z), utc("2026-10-19T22:00:00Z"));
        assert_eq!(round(t, "d", &z), utc("2026-09-30T22:00:00Z"));
        assert_eq!(round(t, "w", &z), utc("2026-10-18T22:00:00Z"));
        // January 1st is in winter time (UTC+1).
        assert_eq!(round(t, "M", &z), utc("2025-12-31T23:00:00Z"));
        assert_eq!(round(t, "m", &z), utc("2026-10-20T08:00:00Z"));
        // Combinations: 2026-10-01 is a Thursday, so `dw` is Monday 2026-09-28 (summer time).
        assert_eq!(round(t, "hd", &z), utc("2026-09-30T22:00:00Z"));
        assert_eq!(round(t, "dw", &z), utc("2026-09-27T22:00:00Z"));
        assert_eq!(round(t, "wd", &z), utc("2026-09-30T22:00:00Z"));
        assert_eq!(round(t, "mh", &z), utc("2026-10-19T22:00:00Z"));
        // 2026-10-26 (Monday) is in winter time: its midnight is 23:00 UTC the day before.
        assert_eq!(
            round("2026-10-27T12:00:00Z", "w", &z),
            utc("2026-10-25T23:00:00Z")
        );
    }

    fn bins_in(history: &str, roundoff: &str, start: &str, tz: TimeZone) -> Bins {
        BinSpec {
            history: History::parse(history).unwrap(),
            roundoff: Roundoff::parse(roundoff).unwrap(),
            offset: 0,
            tz,
        }
        .anchored_at(utc(start))
    }

    #[test]
    fn days_run_from_local_midnight_to_local_midnight_across_dst() {
        // Winter time starts in Berlin on 2026-10-25 at 03:00 CEST: that day has 25 hours.
        let b = bins_in("1d", "d", "2026-10-20T08:00:00Z", berlin());
        assert_eq!(b.anchor(), utc("2026-09-30T22:00:00Z"));
        let noon = utc("2026-10-25T11:00:00Z");
        assert_eq!(b.start_of(noon), utc("2026-10-24T22:00:00Z"));
        assert_eq!(
            b.next_start(utc("2026-10-24T22:00:00Z")),
            utc("2026-10-25T23:00:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-10-25T23:30:00Z")),
            utc("2026-10-25T23:00:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-10-25T22:59:59Z")),
            utc("2026-10-24T22:00:00Z")
        );
        // Summer time started on 2026-03-29 (23 hours); the same bins, back in time.
        assert_eq!(
            b.start_of(utc("2026-03-29T12:00:00Z")),
            utc("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            b.next_start(utc("2026-03-28T23:00:00Z")),
            utc("2026-03-29T22:00:00Z")
        );
        // Two-day bins count from the anchor.
        let b = bins_in("2d", "d", "2026-10-20T08:00:00Z", berlin());
        assert_eq!(b.start_of(noon), utc("2026-10-24T22:00:00Z"));
        assert_eq!(
            b.start_of(utc("2026-10-24T21:59:59Z")),
            utc("2026-10-22T22:00:00Z")
        );
    }

    #[test]
    fn weeks_run_monday_to_monday() {
        // Anchored on a Sunday: the week starts on the Monday before.
        let b = bins_in("1w", "w", "2026-10-25T10:00:00Z", berlin());
        assert_eq!(b.anchor(), utc("2026-10-18T22:00:00Z"));
        assert_eq!(b.next_start(b.anchor()), utc("2026-10-25T23:00:00Z"));
        assert_eq!(
            b.start_of(utc("2026-11-04T12:00:00Z")),
            utc("2026-11-01T23:00:00Z")
        );
        let b = bins_in("1w", "w", "2026-11-29T10:00:00Z", TimeZone::UTC);
        assert_eq!(b.anchor(), utc("2026-11-23T00:00:00Z"));
        assert_eq!(
            b.start_of(utc("2026-11-30T00:00:00Z")),
            utc("2026-11-30T00:00:00Z")
        );
    }

    #[test]
    fn months_are_calendar_months() {
        let b = bins_in("1M", "M", "2026-11-26T18:34:00Z", berlin());
        assert_eq!(b.anchor(), utc("2025-12-31T23:00:00Z"));
        assert_eq!(
            b.start_of(utc("2026-04-15T10:00:00Z")),
            utc("2026-03-31T22:00:00Z")
        );
        assert_eq!(
            b.next_start(utc("2026-03-31T22:00:00Z")),
            utc("2026-04-30T22:00:00Z")
        );
        // Monthly bins start on the 1st whatever the roundoff (pmacct resets the day for them).
        let b = bins_in("1M", "h", "2026-11-26T18:34:00Z", TimeZone::UTC);
        assert_eq!(b.anchor(), utc("2026-11-01T00:00:00Z"));
        assert_eq!(
            b.start_of(utc("2027-02-14T10:00:00Z")),
            utc("2027-02-01T00:00:00Z")
        );
        assert_eq!(
            b.next_start(utc("2027-01-01T00:00:00Z")),
            utc("2027-02-01T00:00:00Z")
        );
        // Two-month bins counted from January.
        let b = bins_in("2M", "M", "2026-11-26T18:34:00Z", TimeZone::UTC);
        assert_eq!(
            b.start_of(utc("2026-04-15T10:00:00Z")),
            utc("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            b.start_of(utc("2025-12-15T10:00:00Z")),
            utc("2025-11-01T00:00:00Z")
        );
    }

    #[test]
    fn hours_are_exact_durations_across_dst() {
        let b = bins_in("1h", "h", "2026-10-24T08:00:00Z", berlin());
        assert_eq!(b.anchor(), utc("2026-10-23T22:00:00Z"));
        // 02:30 CEST and 02:30 CET are different hours.
        assert_eq!(
            b.start_of(utc("2026-10-25T00:30:00Z")),
            utc("2026-10-25T00:00:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-10-25T01:30:00Z")),
            utc("2026-10-25T01:00:00Z")
        );
    }

    #[test]
    fn offset_shifts_bin_starts() {
        let b = BinSpec {
            history: History::parse("1d").unwrap(),
            roundoff: Roundoff::parse("h").unwrap(),
            offset: 3600,
            tz: TimeZone::UTC,
        }
        .anchored_at(utc("2026-11-26T18:34:00Z"));
        assert_eq!(b.anchor(), utc("2026-11-26T01:00:00Z"));
        assert_eq!(
            b.start_of(utc("2026-11-27T00:59:59Z")),
            utc("2026-11-26T01:00:00Z")
        );
        assert_eq!(
            b.start_of(utc("2026-11-27T01:00:00Z")),
            utc("2026-11-27T01:00:00Z")
        );
    }

    #[test]
    fn lookup_caches_the_current_bin() {
        let b = bins_in("1d", "d", "2026-10-20T08:00:00Z", berlin());
        let mut l = BinLookup::new(b.clone());
        for t in (utc("2026-10-20T00:00:00Z")..utc("2026-11-02T00:00:00Z")).step_by(1799) {
            assert_eq!(l.start_of(t), b.start_of(t), "at {t}");
        }
        assert_eq!(
            l.start_of(utc("2026-01-05T00:00:00Z")),
            b.start_of(utc("2026-01-05T00:00:00Z"))
        );
    }

    #[test]
    fn refresh_equal_to_the_bin_purges_on_bin_boundaries() {
        let z = berlin();
        let b = bins_in("1d", "d", "2026-10-20T08:00:00Z", z.clone());
        let s = RefreshSchedule::new(86400, utc("2026-10-20T08:00:00Z"), Some(&b), &z);
        assert_eq!(
            s.next_after(utc("2026-10-20T08:00:00Z")),
            utc("2026-10-20T22:00:00Z")
        );
        // The 25-hour day: the deadline is local midnight, not 24 hours later.
        assert_eq!(
            s.next_after(utc("2026-10-24T22:00:00Z")),
            utc("2026-10-25T23:00:00Z")
        );
        let w = bins_in("1w", "w", "2026-10-25T10:00:00Z", z.clone());
        let s = RefreshSchedule::new(604800, utc("2026-10-25T10:00:00Z"), Some(&w), &z);
        assert_eq!(
            s.next_after(utc("2026-10-25T10:00:00Z")),
            utc("2026-10-25T23:00:00Z")
        );
        let m = bins_in("1M", "M", "2026-10-25T10:00:00Z", z.clone());
        let s = RefreshSchedule::new(2592000, utc("2026-10-25T10:00:00Z"), Some(&m), &z);
        assert_eq!(
            s.next_after(utc("2026-10-25T10:00:00Z")),
            utc("2026-10-31T23:00:00Z")
        );
    }

    #[test]
    fn shorter_refreshes_step_from_the_anchor() {
        let z = berlin();
        let b = bins_in("1d", "d", "2026-10-20T08:00:00Z", z.clone());
        let s = RefreshSchedule::new(3600, utc("2026-10-20T08:00:00Z"), Some(&b), &z);
        assert_eq!(
            s.next_after(utc("2026-10-25T01:30:00Z")),
            utc("2026-10-25T02:00:00Z")
        );
        let m = bins_in("5m", "m", "2026-11-26T18:37:00Z", TimeZone::UTC);
        let s = RefreshSchedule::new(60, utc("2026-11-26T18:37:10Z"), Some(&m), &TimeZone::UTC);
        assert_eq!(
            s.next_after(utc("2026-11-26T18:37:10Z")),
            utc("2026-11-26T18:38:00Z")
        );
        // Without bins: from the start minute; whole days step in local days.
        let s = RefreshSchedule::new(300, utc("2026-11-26T18:37:10Z"), None, &TimeZone::UTC);
        assert_eq!(
            s.next_after(utc("2026-11-26T18:41:59Z")),
            utc("2026-11-26T18:42:00Z")
        );
        let s = RefreshSchedule::new(86400, utc("2026-10-24T10:00:00Z"), None, &z);
        assert_eq!(
            s.next_after(utc("2026-10-25T09:00:00Z")),
            utc("2026-10-25T11:00:00Z")
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
