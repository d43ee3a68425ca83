//! Times as people type them, one reading for the console and the command line alike.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};

/// The viewer's time zone: this machine's (the offset in force on each date, summer or
/// winter), or one fixed offset (tests, and snapshots that must look the same anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Local,
    Fixed(FixedOffset),
}

impl From<FixedOffset> for Zone {
    fn from(o: FixedOffset) -> Zone {
        Zone::Fixed(o)
    }
}

impl TimeZone for Zone {
    type Offset = FixedOffset;

    fn from_offset(offset: &FixedOffset) -> Zone {
        Zone::Fixed(*offset)
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
        match self {
            Zone::Local => chrono::Local.offset_from_local_date(local),
            Zone::Fixed(o) => LocalResult::Single(*o),
        }
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
        match self {
            Zone::Local => chrono::Local.offset_from_local_datetime(local),
            Zone::Fixed(o) => LocalResult::Single(*o),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
        match self {
            Zone::Local => chrono::Local.offset_from_utc_date(utc),
            Zone::Fixed(o) => *o,
        }
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Local => chrono::Local.offset_from_utc_datetime(utc),
            Zone::Fixed(o) => *o,
        }
    }
}

/// `YYYY-MM-DD HH:MM` or `YYYY-MM-DD` in the time zone `tz` (the offset in force on that date,
/// summer or winter, when `tz` is a zone such as `chrono::Local`), or an RFC 3339 time. A date
/// alone is the start of that day, or its last second (23:59:59) when `end_of_day`. A time the
/// clocks pass twice (autumn) is its first; one they skip (spring) is refused.
pub fn parse_local<Tz: TimeZone>(
    text: &str,
    tz: Tz,
    end_of_day: bool,
) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = if let Ok(dt) = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M") {
        dt
    } else if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)
        } else {
            NaiveTime::MIN
        };
        d.and_time(time)
    } else {
        return Err(format!(
            "“{}” is not a date: type YYYY-MM-DD or YYYY-MM-DD HH:MM (your local time), or an RFC 3339 time.",
            super::text::clean_line(t, 40)
        ));
    };
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "“{}” does not exist in your time zone (the clocks skip it); pick a time outside the change to summer time.",
                super::text::clean_line(t, 40)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn one_reading_of_dates() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let cet = FixedOffset::east_opt(3600).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            parse_local("2026-12-20", utc, false).unwrap(),
            at("2026-12-20T00:00:00Z")
        );
        assert_eq!(
            parse_local("2026-12-20", utc, true).unwrap(),
            at("2026-12-20T23:59:59Z")
        );
        assert_eq!(
            parse_local(" 2026-12-20 08:30 ", cet, false).unwrap(),
            at("2026-12-20T07:30:00Z")
        );
        assert_eq!(
            parse_local("2026-12-20T08:30:00+02:00", utc, true).unwrap(),
            at("2026-12-20T06:30:00Z")
        );
        assert!(
            parse_local("next week", utc, false)
                .unwrap_err()
                .contains("not a date")
        );
        assert!(parse_local("20/12/2026", utc, false).is_err());
        assert!(parse_local("2026-12-20 25:00", utc, false).is_err());
    }
}
