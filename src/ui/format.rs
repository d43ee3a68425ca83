//! Human text for times: countdowns, window starts, local timestamps. Pure functions.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::domain::when::Zone;
use unicode_width::UnicodeWidthStr;

/// `1h 12m left`, `3d 04h left`, `BREACHED 0h 05m`, `BREACHED 2d 01h`.
pub fn countdown(remaining: Duration) -> String {
    if remaining > Duration::zero() {
        format!("{} left", span(remaining))
    } else {
        format!("BREACHED {}", span(-remaining))
    }
}

/// Hours and minutes below two days, days and hours above; minutes are floored.
pub fn span(d: Duration) -> String {
    let mins = d.num_minutes().max(0);
    if mins >= 48 * 60 {
        format!("{}d {:02}h", mins / (24 * 60), (mins / 60) % 24)
    } else {
        format!("{}h {:02}m", mins / 60, mins % 60)
    }
}

/// `just now`, `12m ago`, `3h 5m ago`.
pub fn ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let mins = (now - then).num_minutes();
    match mins {
        ..1 => "just now".into(),
        1..60 => format!("{mins}m ago"),
        _ => format!("{} ago", span(now - then)),
    }
}

/// `45s`, `1m 12s`, `12m`, `2h 05m`: how long until a retry.
pub fn span_short(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..600 => format!("{}m {:02}s", secs / 60, secs % 60),
        600..3600 => format!("{}m", secs / 60),
        _ => span(d),
    }
}

/// `starts in 3h`, `starts in 45m`, `starts in 2d 4h`, `started 2h ago`, `no window`.
pub fn window(start: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(start) = start else {
        return "no window".into();
    };
    let d = start - now;
    if d > Duration::zero() {
        format!("starts in {}", rough(d))
    } else {
        format!("started {} ago", rough(-d))
    }
}

fn rough(d: Duration) -> String {
    let mins = d.num_minutes();
    if mins < 60 {
        format!("{}m", mins.max(0))
    } else if mins < 48 * 60 {
        format!("{}h", mins / 60)
    } else {
        format!("{}d {}h", mins / (24 * 60), (mins / 60) % 24)
    }
}

/// `Wed 25 Nov 14:05` in the viewer's time zone.
pub fn local(t: DateTime<Utc>, tz: Zone) -> String {
    t.with_timezone(&tz).format("%a %d %b %H:%M").to_string()
}

/// `Sat 20 Dec` in the viewer's time zone.
pub fn day(t: DateTime<Utc>, tz: Zone) -> String {
    t.with_timezone(&tz).format("%a %d %b").to_string()
}

/// A delegation window, `Sat 20 Dec – Sat 03 Jan`; a missing end is `open`.
pub fn days(starts: Option<DateTime<Utc>>, ends: Option<DateTime<Utc>>, tz: Zone) -> String {
    let one = |t: Option<DateTime<Utc>>| t.map_or("open".to_string(), |t| day(t, tz));
    format!("{} – {}", one(starts), one(ends))
}

/// `2026-11-26 08:00` in the viewer's time zone: the form in which dates are typed.
pub fn input_local(t: DateTime<Utc>, tz: Zone) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `hh:mm` on the local day `days` after `now`'s, as an instant.
pub fn local_day_at(
    now: DateTime<Utc>,
    tz: Zone,
    days: u64,
    hour: u32,
    minute: u32,
) -> Option<DateTime<Utc>> {
    let date = now.with_timezone(&tz).date_naive() + chrono::Days::new(days);
    tz.from_local_datetime(&date.and_hms_opt(hour, minute, 0)?)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Greedy word wrap to `width` display columns; words wider than a line are split.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let sep = usize::from(!line.is_empty());
        if line.width() + sep + word.width() <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        for ch in word.chars() {
            if line.width() + ch.width().unwrap_or(0) > width {
                out.push(std::mem::take(&mut line));
            }
            line.push(ch);
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// Pads or truncates to exactly `width` display columns, keeping one space of gutter.
pub fn fit(s: &str, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let room = width - 1;
    let mut out = String::with_capacity(width + 4);
    let mut used = 0;
    if UnicodeWidthStr::width(s) <= room {
        out.push_str(s);
        used = UnicodeWidthStr::width(s);
    } else {
        for ch in s.chars() {
            let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            if used + w > room.saturating_sub(1) {
                break;
            }
            out.push(ch);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn countdowns() {
        assert_eq!(
            countdown(Duration::minutes(72) + Duration::seconds(30)),
            "1h 12m left"
        );
        assert_eq!(countdown(Duration::seconds(59)), "0h 00m left");
        assert_eq!(countdown(Duration::zero()), "BREACHED 0h 00m");
        assert_eq!(countdown(Duration::minutes(-5)), "BREACHED 0h 05m");
        assert_eq!(countdown(Duration::hours(50)), "2d 02h left");
        assert_eq!(countdown(Duration::hours(-47)), "BREACHED 47h 00m");
    }

    #[test]
    fn windows() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        assert_eq!(window(None, now), "no window");
        assert_eq!(
            window(Some(now + Duration::minutes(200)), now),
            "starts in 3h"
        );
        assert_eq!(
            window(Some(now + Duration::minutes(45)), now),
            "starts in 45m"
        );
        assert_eq!(
            window(Some(now + Duration::hours(52)), now),
            "starts in 2d 4h"
        );
        assert_eq!(
            window(Some(now - Duration::hours(2)), now),
            "started 2h ago"
        );
    }

    #[test]
    fn local_dates_typed_and_shown() {
        let tz = Zone::Fixed(chrono::FixedOffset::east_opt(3600).unwrap());
        let t = Utc.with_ymd_and_hms(2026, 12, 20, 7, 0, 0).unwrap();
        assert_eq!(input_local(t, tz), "2026-12-20 08:00");
        assert_eq!(
            days(Some(t), Some(t + Duration::days(14)), tz),
            "Sun 20 Dec – Sun 03 Jan"
        );
        assert_eq!(days(Some(t), None, tz), "Sun 20 Dec – open");
        // 23:30 UTC is already the next local day at UTC+1.
        let late = Utc.with_ymd_and_hms(2026, 12, 19, 23, 30, 0).unwrap();
        assert_eq!(local_day_at(late, tz, 1, 8, 0), Some(t + Duration::days(1)));
    }

    #[test]
    fn wraps_on_words() {
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("fits exactly", 12), vec!["fits exactly"]);
    }
}
