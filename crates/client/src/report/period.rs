//! Cutting time into the report's periods, in a time zone (DST-correct: a local day is
//! midnight to midnight, 23 or 25 hours when the clocks change).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Hour,
    Day,
    Week,
    Month,
    /// Everything in one period (the only choice for a memory table, which has no time).
    All,
}

impl By {
    pub fn parse(text: &str) -> Result<By, String> {
        match text {
            "hour" => Ok(By::Hour),
            "day" => Ok(By::Day),
            "week" => Ok(By::Week),
            "month" => Ok(By::Month),
            "all" => Ok(By::All),
            _ => Err(format!(
                "--by {text}: expected hour, day, week, month or all"
            )),
        }
    }
}

/// The start of the period holding `t` (seconds), as an instant.
pub fn start_of(t: i64, by: By, tz: &TimeZone) -> Option<Zoned> {
    let z = Timestamp::from_second(t).ok()?.to_zoned(tz.clone());
    let date = z.date();
    let first: Date = match by {
        By::Hour => {
            let hour = z
                .datetime()
                .with()
                .minute(0)
                .second(0)
                .subsec_nanosecond(0)
                .build()
                .ok()?;
            return hour.to_zoned(tz.clone()).ok();
        }
        By::Day => date,
        By::Week => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            date.checked_sub(jiff::Span::new().days(back)).ok()?
        }
        By::Month => date.first_of_month(),
        By::All => return None,
    };
    first.to_zoned(tz.clone()).ok()
}

/// How a period's start is printed: `YYYY-MM-DD` for days, weeks and months, ISO-8601 with
/// the zone's offset for hours.
pub fn label(start: &Zoned, by: By) -> String {
    match by {
        By::Hour => start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        _ => start.strftime("%Y-%m-%d").to_string(),
    }
}

/// A day as `YYYY-MM-DD` (`--from`, `--to`), midnight in `tz`.
pub fn parse_day(text: &str, tz: &TimeZone) -> Result<i64, String> {
    let d: Date = text
        .parse()
        .map_err(|_| format!("'{text}' is not a date (YYYY-MM-DD)"))?;
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_second())
        .map_err(|e| format!("'{text}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("tzdata")
    }

    #[test]
    fn local_days_weeks_and_months_across_dst() {
        let tz = berlin();
        // 2024-03-31 01:30 UTC is 03:30 CEST, the day the clocks went forward.
        let t = 1_711_848_600;
        let day = start_of(t, By::Day, &tz).expect("day");
        assert_eq!(label(&day, By::Day), "2024-03-31");
        assert_eq!(day.timestamp().as_second(), 1_711_839_600); // 23:00 UTC the day before
        assert_eq!(
            label(&start_of(t, By::Week, &tz).expect("week"), By::Week),
            "2024-03-25"
        );
        assert_eq!(
            label(&start_of(t, By::Month, &tz).expect("m"), By::Month),
            "2024-03-01"
        );
        assert_eq!(
            label(&start_of(t, By::Hour, &tz).expect("h"), By::Hour),
            "2024-03-31T03:00:00+02:00"
        );
        assert_eq!(start_of(t, By::All, &tz), None);
        assert_eq!(parse_day("2024-03-31", &tz), Ok(1_711_839_600));
        assert!(parse_day("31.03.2024", &tz).is_err());
    }
}
