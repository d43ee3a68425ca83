//! Business hours (issue 17): a schedule of working days and hours, with holidays, in a time
//! zone, the way ServiceNow's SLA schedules count; an SLA clock on a schedule runs only
//! inside it (summer and winter time as the zone has them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The most days a clock is walked ahead (a schedule open once a year still ends).
const MAX_DAYS: i64 = 800;

/// `[policy.schedules.NAME]` as written in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// An IANA zone, e.g. `Europe/Berlin`.
    pub zone: String,
    /// Working days: `mon` … `sun`.
    #[serde(default = "weekdays")]
    pub days: Vec<String>,
    /// Working hours, `09:00-17:00` (local time).
    #[serde(default = "office_hours")]
    pub hours: String,
    /// Days off, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Assignment groups whose changes count in another zone (`"Network Ops APAC" =
    /// "Asia/Singapore"`): the group's working hours, follow the sun.
    #[serde(default)]
    pub group_zones: BTreeMap<String, String>,
    /// Count each approval in its approver's own zone, where the instance keeps one
    /// (`sys_user.time_zone`); a group's zone above still wins. Left out of the policy's text
    /// (and so its hash) when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approver_zone: bool,
}

fn weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn office_hours() -> String {
    "09:00-17:00".into()
}

/// A schedule ready to count with.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub zone: Tz,
    /// Monday first.
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    /// Shared by the copies a policy hands out (one per row shown).
    holidays: std::sync::Arc<BTreeSet<NaiveDate>>,
}

pub(crate) fn parse_zone(z: &str) -> Result<Tz, String> {
    z.trim().parse::<Tz>().map_err(|_| {
        format!(
            "{:?} is not a time zone; use an IANA name such as Europe/Berlin or America/New_York",
            super::text::clean_line(z, 60)
        )
    })
}

impl ScheduleSpec {
    /// The schedule, or a sentence naming the bad setting.
    pub fn build(&self) -> Result<Schedule, String> {
        let zone = parse_zone(&self.zone)?;
        let mut days = [false; 7];
        for d in &self.days {
            let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|n| d.trim().to_lowercase().starts_with(n))
                .ok_or_else(|| format!("{d:?} is not a day; write mon, tue, … sun"))?;
            days[i] = true;
        }
        if !days.contains(&true) {
            return Err("a schedule needs at least one working day".into());
        }
        let (start, end) = self
            .hours
            .split_once('-')
            .and_then(|(a, b)| {
                let t = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
                Some((t(a)?, t(b)?))
            })
            .ok_or_else(|| format!("hours {:?} should read like 09:00-17:00", self.hours))?;
        if start >= end {
            return Err(format!(
                "hours {:?} end before they start; a day's hours run from morning to evening",
                self.hours
            ));
        }
        let holidays = self
            .holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d")
                    .map_err(|_| format!("holiday {h:?} should read like 2026-12-25"))
            })
            .collect::<Result<_, _>>()
            .map(std::sync::Arc::new)?;
        for z in self.group_zones.values() {
            parse_zone(z)?;
        }
        Ok(Schedule {
            zone,
            days,
            start,
            end,
            holidays,
        })
    }

    /// The zone the schedule counts in for a change of `group`, where one is named for it.
    pub fn group_zone(&self, group: &str) -> Option<Tz> {
        self.group_zones
            .iter()
            .find(|(g, _)| g.eq_ignore_ascii_case(group.trim()))
            .and_then(|(_, z)| parse_zone(z).ok())
    }

    /// The schedule for a change of `group`: in the group's zone where one is named.
    pub fn for_group(&self, group: &str) -> Result<Schedule, String> {
        let mut s = self.build()?;
        if let Some(z) = self.group_zone(group) {
            s.zone = z;
        }
        Ok(s)
    }
}

/// A policy's schedules, built once: every row shown, and every row placed in the store,
/// asks for its tier's schedule, and parsing a zone and its holidays each time is waste.
/// Copies of a policy share them; a policy whose `schedules` were changed after they were
/// built builds what it asks for afresh, so the cache is never stale.
#[derive(Debug, Clone, Default)]
pub struct Built(std::sync::Arc<std::sync::OnceLock<BuiltFrom>>);

/// The specs the schedules were built from, and the schedules by name.
type BuiltFrom = (BTreeMap<String, ScheduleSpec>, BTreeMap<String, Schedule>);

/// A cache is not part of what a policy says.
impl PartialEq for Built {
    fn eq(&self, _: &Built) -> bool {
        true
    }
}

impl Built {
    /// The schedule named `name` of `specs` (as the policy holds them now).
    pub fn get(&self, specs: &BTreeMap<String, ScheduleSpec>, name: &str) -> Option<Schedule> {
        let (built_from, built) = self.0.get_or_init(|| {
            let built = specs
                .iter()
                .filter_map(|(n, s)| Some((n.clone(), s.build().ok()?)))
                .collect();
            (specs.clone(), built)
        });
        if built_from == specs {
            built.get(name).cloned()
        } else {
            specs.get(name)?.build().ok()
        }
    }
}

/// A local time in `zone` as an instant: in a spring-forward gap, the first instant after it;
/// on an autumn repeat, the earlier of the two.
fn instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    for _ in 0..4 {
        if let Some(d) = zone.from_local_datetime(&t).earliest() {
            return d.with_timezone(&Utc);
        }
        t += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

impl Schedule {
    fn working(&self, day: NaiveDate) -> bool {
        self.days[day.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&day)
    }

    /// The open spans of the working days from the local date of `from` on, as instants.
    fn spans(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = from.with_timezone(&self.zone).date_naive();
        (0..MAX_DAYS)
            .filter_map(move |i| first.checked_add_signed(Duration::days(i)))
            .filter(|d| self.working(*d))
            .map(|d| {
                (
                    instant(self.zone, d.and_time(self.start)),
                    instant(self.zone, d.and_time(self.end)),
                )
            })
            .filter(move |(_, end)| *end > from)
    }

    /// Whether the clock runs at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.spans(t).next().is_some_and(|(s, _)| s <= t)
    }

    /// When the clock next runs, at or after `t` (`t` itself inside hours).
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.spans(t).next().map_or(t, |(s, _)| s.max(t))
    }

    /// The instant `business` of working time after `from`.
    pub fn add(&self, from: DateTime<Utc>, business: Duration) -> DateTime<Utc> {
        let mut left = business;
        if left <= Duration::zero() {
            return from;
        }
        for (s, e) in self.spans(from) {
            let s = s.max(from);
            let open = e - s;
            if open >= left {
                return s + left;
            }
            left -= open;
        }
        // Beyond the walk: as much again in wall time (a schedule this sparse is a typo).
        from + business
    }

    /// Working time between `from` and `to` (zero when `to` is not later).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if to <= from {
            return total;
        }
        for (s, e) in self.spans(from) {
            if s >= to {
                break;
            }
            total += e.min(to) - s.max(from);
        }
        total
    }

    /// `Mon 09:00 CET`: a time as the schedule's zone shows it.
    pub fn local_label(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .format("%a %H:%M %Z")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Schedule {
        ScheduleSpec {
            zone: "Europe/Berlin".into(),
            days: weekdays(),
            hours: office_hours(),
            holidays: vec!["2026-12-25".into()],
            group_zones: BTreeMap::new(),
            approver_zone: false,
        }
        .build()
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn business_time_counts_inside_hours_only() {
        let s = berlin();
        // (from, hours, deadline): Berlin is UTC+1 in winter, UTC+2 in summer.
        let cases = [
            // Thursday 10:00 local + 4h: the same day, 14:00.
            ("2026-12-03T09:00:00Z", 4, "2026-12-03T13:00:00Z"),
            // Friday 15:00 local + 4h: 2h on Friday, 2h on Monday (11:00 local).
            ("2026-12-04T14:00:00Z", 4, "2026-12-07T10:00:00Z"),
            // Saturday: the clock waits for Monday 09:00.
            ("2026-12-05T12:00:00Z", 1, "2026-12-07T09:00:00Z"),
            // Thursday 24 Dec 16:00 + 2h: Friday is a holiday, the weekend: Monday 10:00.
            ("2026-12-24T15:00:00Z", 2, "2026-12-28T09:00:00Z"),
            // Across the change to summer time (29 March 2026): Friday 27th 16:00 local +
            // 2h = Monday 30th 10:00 CEST = 08:00 UTC.
            ("2026-03-27T15:00:00Z", 2, "2026-03-30T08:00:00Z"),
            // A night request: the clock starts at 09:00.
            ("2026-12-03T02:00:00Z", 8, "2026-12-03T16:00:00Z"),
        ];
        for (from, h, want) in cases {
            let got = s.add(utc(from), Duration::hours(h));
            assert_eq!(got, utc(want), "{from} + {h}h");
            assert_eq!(
                s.between(utc(from), got),
                Duration::hours(h),
                "back from {got}"
            );
        }
    }

    #[test]
    fn the_clock_pauses_outside_hours_and_says_until_when() {
        let s = berlin();
        let sat = utc("2026-12-05T12:00:00Z");
        assert!(!s.is_open(sat));
        assert_eq!(s.next_open(sat), utc("2026-12-07T08:00:00Z"));
        assert_eq!(s.local_label(s.next_open(sat)), "Mon 09:00 CET");
        let thu = utc("2026-12-03T10:00:00Z");
        assert!(s.is_open(thu));
        assert_eq!(s.next_open(thu), thu);
    }

    #[test]
    fn zones_differ_and_bad_settings_say_what_to_write() {
        let spec = ScheduleSpec {
            zone: "Europe/Berlin".into(),
            days: weekdays(),
            hours: office_hours(),
            holidays: vec![],
            group_zones: [("Network Ops APAC".to_string(), "Asia/Singapore".to_string())].into(),
            approver_zone: false,
        };
        let apac = spec.for_group("network ops apac").unwrap();
        // 09:00 in Singapore (UTC+8) is 01:00 UTC.
        assert_eq!(
            apac.next_open(utc("2026-12-03T00:00:00Z")),
            utc("2026-12-03T01:00:00Z")
        );
        let bad = |f: fn(&mut ScheduleSpec)| {
            let mut s = spec.clone();
            f(&mut s);
            s.build().unwrap_err()
        };
        assert!(bad(|s| s.zone = "Mars/Olympus".into()).contains("IANA"));
        assert!(bad(|s| s.days = vec!["funday".into()]).contains("not a day"));
        assert!(bad(|s| s.days = vec![]).contains("at least one"));
        assert!(bad(|s| s.hours = "17:00-09:00".into()).contains("end before"));
        assert!(bad(|s| s.holidays = vec!["25/12".into()]).contains("2026-12-25"));
    }
}
