//! Insights for continuous improvement of approvals (issue 16): from the user's own decisions
//! (the outbox keeps each with the approval as it was seen) and the queue as it stands, over
//! the last 7, 30 or 90 days. Pure: the same decisions, queue and time give the same figures.
//!
//! - cycle time (requested → decided) by tier: median and p90;
//! - decisions per day;
//! - rejection rate overall, by assignment group and by change type, with the most frequent
//!   reasons; a requester or CI rejected more than once is flagged (upstream planning);
//! - last-minute approvals (decided less than an hour before the window starts, or after it
//!   started) and decisions made after the SLA breached, by tier;
//! - SLA escalations: decisions made once the approval had escalated, and pending approvals
//!   escalated now.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::decision::{Decision, DecisionKind, Delivery};
use super::policy::{Policy, RiskTier};
use super::queue::QueueEntry;
use super::sla::{SlaClock, SlaStatus};

/// The periods the screen steps through.
pub const PERIODS: [i64; 3] = [7, 30, 90];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CycleTime {
    pub tier: String,
    pub decisions: usize,
    /// Minutes from the approval's request to the decision.
    pub median_minutes: i64,
    pub p90_minutes: i64,
}

/// Approvals the instance made by itself, per rule, in the period (from its record of the
/// user's approvals): how many, and the changes a person rejected or held afterwards.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutomatedRule {
    /// `by rule: …` or `by the system`.
    pub rule: String,
    pub approvals: usize,
    /// Changes rejected or put on hold after the rule approved them: an automated approval
    /// never overrides that, and the rule may deserve a look.
    pub later_stopped: Vec<String>,
}

/// The automated approvals among `server` decided in `from..=now`, per rule, with the
/// changes a person rejected (on the server or here) or held (here) after them.
pub fn automated(
    server: &[super::history::ServerDecision],
    decisions: &[(Decision, Delivery)],
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<AutomatedRule> {
    let mut rules: BTreeMap<String, AutomatedRule> = BTreeMap::new();
    for s in server {
        let (Some(how), Some(at)) = (s.automated(), s.decided_at) else {
            continue;
        };
        if at < from || at > now || s.state != "approved" {
            continue;
        }
        let stopped_later = server.iter().any(|o| {
            o.number == s.number
                && o.state == "rejected"
                && o.automated().is_none()
                && o.decided_at.is_some_and(|t| t > at)
        }) || decisions.iter().any(|(d, _)| {
            d.change_number == s.number
                && matches!(d.kind, DecisionKind::Reject | DecisionKind::Hold)
                && d.created_at > at
        });
        let r = rules.entry(how.clone()).or_insert_with(|| AutomatedRule {
            rule: how,
            ..AutomatedRule::default()
        });
        r.approvals += 1;
        if stopped_later && !r.later_stopped.contains(&s.number) {
            r.later_stopped.push(s.number.clone());
        }
    }
    rules.into_values().collect()
}

/// The automated approvals per rule in a sentence (the console and the CLI say the same).
pub fn describe_automated(rules: &[AutomatedRule]) -> String {
    if rules.is_empty() {
        return "none in the instance's record of your approvals (the history reads it)".into();
    }
    rules
        .iter()
        .map(|r| {
            let mut s = format!("{} {}", r.rule, r.approvals);
            if !r.later_stopped.is_empty() {
                s.push_str(&format!(
                    " (⚑ later rejected or held: {})",
                    r.later_stopped.join(", ")
                ));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Time spent on agenda items in the CAB meetings of the period (from the cached meetings).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CabTime {
    pub meetings: usize,
    /// Items discussed (their timer ran).
    pub items: usize,
    /// Seconds per item discussed.
    pub median_seconds: i64,
    pub p90_seconds: i64,
    /// Items discussed longer than their allotted time.
    pub over_time: usize,
    /// The item discussed longest: its change number and seconds.
    pub longest: Option<(String, i64)>,
}

impl CabTime {
    /// The time per item in a sentence (the console and the CLI say the same).
    pub fn describe(&self) -> String {
        let c = self;
        if c.items == 0 {
            return format!(
                "{} meeting{} cached in the period, no agenda item timed",
                c.meetings,
                if c.meetings == 1 { "" } else { "s" }
            );
        }
        let min = |s: i64| format!("{}m{:02}s", s / 60, s % 60);
        let mut out = format!(
            "{} item{} over {} meeting{}: median {} per item, p90 {}; {} over the allotted time",
            c.items,
            if c.items == 1 { "" } else { "s" },
            c.meetings,
            if c.meetings == 1 { "" } else { "s" },
            min(c.median_seconds),
            min(c.p90_seconds),
            c.over_time
        );
        if let Some((number, s)) = &c.longest {
            out.push_str(&format!("; longest {number} ({})", min(*s)));
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rejections {
    /// A group or change type (`""` when the change had none).
    pub name: String,
    pub decided: usize,
    pub rejected: usize,
    /// Rejected of decided, 0–1.
    pub rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reason {
    pub reason: String,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Repeated {
    /// `requester` or `ci`.
    pub kind: String,
    pub name: String,
    pub rejections: usize,
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ByTier {
    pub tier: String,
    pub count: usize,
}

impl ByTier {
    /// `Emergency 1, Critical 4` (joined by `sep`), or `none`.
    pub fn list(l: &[ByTier], sep: &str) -> String {
        if l.is_empty() {
            return "none".into();
        }
        l.iter()
            .map(|t| format!("{} {}", t.tier, t.count))
            .collect::<Vec<_>>()
            .join(sep)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Insights {
    pub days: i64,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Approvals and rejections in the period (holds and releases are not decisions on the
    /// approval's outcome).
    pub decisions: usize,
    pub approved: usize,
    pub rejected: usize,
    pub rejection_rate: f64,
    pub cycle_time: Vec<CycleTime>,
    /// Decisions per day, oldest first, `days` entries.
    pub per_day: Vec<u64>,
    pub rejections_by_group: Vec<Rejections>,
    pub rejections_by_type: Vec<Rejections>,
    pub top_reasons: Vec<Reason>,
    pub repeated: Vec<Repeated>,
    pub last_minute: Vec<ByTier>,
    pub decided_after_breach: Vec<ByTier>,
    pub decided_escalated: usize,
    pub pending_breached: Vec<ByTier>,
    pub pending_escalated: usize,
    /// Decisions the instance did not take as made (conflict, failed): not counted above.
    pub not_applied: usize,
    pub cab: CabTime,
    pub automated: Vec<AutomatedRule>,
}

/// The value at quantile `q` (0–1) of sorted `v`, nearest rank.
fn quantile(v: &[i64], q: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// A rejection reason as counted: lower case, words only, the first eight.
fn reason_key(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join(" ")
}

fn rates(map: BTreeMap<String, (usize, usize)>) -> Vec<Rejections> {
    let mut v: Vec<Rejections> = map
        .into_iter()
        .map(|(name, (decided, rejected))| Rejections {
            name,
            decided,
            rejected,
            rate: if decided == 0 {
                0.0
            } else {
                rejected as f64 / decided as f64
            },
        })
        .collect();
    v.sort_by(|a, b| b.rejected.cmp(&a.rejected).then(a.name.cmp(&b.name)));
    v
}

fn by_tier(map: BTreeMap<RiskTier, usize>) -> Vec<ByTier> {
    map.into_iter()
        .map(|(t, count)| ByTier {
            tier: t.label().to_string(),
            count,
        })
        .collect()
}

/// The time spent per agenda item in `meetings` that started in `from..=now`.
pub fn cab_time(
    meetings: &[super::cab::MeetingDetail],
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CabTime {
    let mut out = CabTime::default();
    let mut spent: Vec<i64> = Vec::new();
    for m in meetings {
        if !m.meeting.start.is_some_and(|s| s >= from && s <= now) {
            continue;
        }
        out.meetings += 1;
        for item in &m.items {
            let t = m.timer(item, now);
            if t.spent <= 0 {
                continue;
            }
            spent.push(t.spent);
            if item.allotted > 0 && t.spent > item.allotted {
                out.over_time += 1;
            }
            if out.longest.as_ref().is_none_or(|(_, s)| t.spent > *s) {
                out.longest = Some((item.number.clone(), t.spent));
            }
        }
    }
    spent.sort_unstable();
    out.items = spent.len();
    out.median_seconds = quantile(&spent, 0.5);
    out.p90_seconds = quantile(&spent, 0.9);
    out
}

/// The figures for the `days` before `now`, from `decisions` (with where each ended), the
/// queue as it stands (`pending`) and the cached CAB meetings.
pub fn compute(
    policy: &Policy,
    decisions: &[(Decision, Delivery)],
    pending: &[std::sync::Arc<QueueEntry>],
    meetings: &[super::cab::MeetingDetail],
    server: &[super::history::ServerDecision],
    now: DateTime<Utc>,
    days: i64,
) -> Insights {
    let from = now - Duration::days(days);
    let mut out = Insights {
        days,
        from: Some(from),
        to: Some(now),
        per_day: vec![0; days.max(0) as usize],
        ..Insights::default()
    };
    let mut cycle: BTreeMap<RiskTier, Vec<i64>> = BTreeMap::new();
    let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut types: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut reasons: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut requesters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cis: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last_minute: BTreeMap<RiskTier, usize> = BTreeMap::new();
    let mut after_breach: BTreeMap<RiskTier, usize> = BTreeMap::new();
    for (d, delivery) in decisions {
        // A decision stamped a little after `now` (another process's clock) counts as today's.
        if d.created_at < from {
            continue;
        }
        let rejected = match d.kind {
            DecisionKind::Approve => false,
            DecisionKind::Reject => true,
            DecisionKind::Hold | DecisionKind::Resume => continue,
        };
        match delivery {
            Delivery::Conflict { .. } | Delivery::Failed { .. } | Delivery::Superseded { .. } => {
                out.not_applied += 1;
                continue;
            }
            _ => {}
        }
        let a = &d.seen;
        let c = &a.change;
        let tier = policy.classify(c).tier;
        out.decisions += 1;
        if rejected {
            out.rejected += 1;
        } else {
            out.approved += 1;
        }
        cycle
            .entry(tier)
            .or_default()
            .push((d.created_at - a.requested_at).num_minutes().max(0));
        let day = usize::try_from((d.created_at - from).num_days()).unwrap_or(0);
        let last = out.per_day.len().saturating_sub(1);
        if let Some(n) = out.per_day.get_mut(day.min(last)) {
            *n += 1;
        }
        let g = groups.entry(c.assignment_group.clone()).or_default();
        g.0 += 1;
        let ty = c
            .change_type
            .as_ref()
            .map_or(String::new(), |t| t.label().to_string());
        let t = types.entry(ty).or_default();
        t.0 += 1;
        if rejected {
            g.1 += 1;
            t.1 += 1;
            let key = reason_key(d.justification.as_str());
            let r = reasons
                .entry(key)
                .or_insert_with(|| (0, d.justification.as_str().to_string()));
            r.0 += 1;
            if !c.requested_by.label().is_empty() {
                requesters
                    .entry(c.requested_by.label().to_string())
                    .or_default()
                    .push(c.number.clone());
            }
            if !c.configuration_item.is_empty() {
                cis.entry(c.configuration_item.clone())
                    .or_default()
                    .push(c.number.clone());
            }
        } else if let Some(start) = c.start_date
            && start - d.created_at < Duration::hours(1)
        {
            *last_minute.entry(tier).or_default() += 1;
        }
        let sla = SlaClock::for_approval(policy, tier, a);
        if !c.on_hold && d.created_at >= sla.deadline {
            *after_breach.entry(tier).or_default() += 1;
        }
        if sla.escalation_level(d.created_at) > 0 {
            out.decided_escalated += 1;
        }
    }
    out.rejection_rate = if out.decisions == 0 {
        0.0
    } else {
        out.rejected as f64 / out.decisions as f64
    };
    out.cycle_time = cycle
        .into_iter()
        .map(|(tier, mut v)| {
            v.sort_unstable();
            CycleTime {
                tier: tier.label().to_string(),
                decisions: v.len(),
                median_minutes: quantile(&v, 0.5),
                p90_minutes: quantile(&v, 0.9),
            }
        })
        .collect();
    out.rejections_by_group = rates(groups);
    out.rejections_by_type = rates(types);
    let mut top: Vec<Reason> = reasons
        .into_values()
        .map(|(count, reason)| Reason {
            reason: super::text::clean_line(&reason, 120),
            count,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    top.truncate(5);
    out.top_reasons = top;
    for (kind, map) in [("requester", requesters), ("ci", cis)] {
        for (name, mut changes) in map {
            if changes.len() >= 2 {
                changes.sort();
                out.repeated.push(Repeated {
                    kind: kind.to_string(),
                    name,
                    rejections: changes.len(),
                    changes,
                });
            }
        }
    }
    out.last_minute = by_tier(last_minute);
    out.decided_after_breach = by_tier(after_breach);
    let mut breached: BTreeMap<RiskTier, usize> = BTreeMap::new();
    for e in pending.iter().filter(|e| !e.approval.change.on_hold) {
        if e.sla.status(now) == SlaStatus::Breached {
            *breached.entry(e.tier.tier).or_default() += 1;
        }
        if e.sla.escalation_level(now) > 0 {
            out.pending_escalated += 1;
        }
    }
    out.pending_breached = by_tier(breached);
    out.cab = cab_time(meetings, from, now);
    out.automated = automated(server, decisions, from, now);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(
        start: DateTime<Utc>,
        items: &[(&str, i64, i64, bool)],
    ) -> super::super::cab::MeetingDetail {
        use super::super::cab::*;
        use super::super::change::UserRef;
        MeetingDetail {
            meeting: Meeting {
                sys_id: "m".into(),
                name: "Weekly CAB".into(),
                state: MeetingState::InProgress,
                start: Some(start),
                end: None,
                actual_end: None,
                manager: UserRef::default(),
                delegates: vec![],
                board_members: vec![],
                notes: String::new(),
                time_per_item: 300,
                complete_preapproved: false,
                auto_add_decisions: false,
                agenda_locked: false,
                conference: String::new(),
                sys_updated_on: None,
            },
            // (number, allotted, banked, running since 2 minutes before now)
            items: items
                .iter()
                .map(|&(n, allotted, elapsed, running)| AgendaItem {
                    sys_id: n.to_lowercase(),
                    change_sys_id: String::new(),
                    number: n.into(),
                    short_description: String::new(),
                    order: 0,
                    state: if running {
                        ItemState::InProgress
                    } else {
                        ItemState::Complete
                    },
                    decision: ItemDecision::Undecided,
                    allotted,
                    elapsed,
                    added_at: None,
                    sys_updated_on: None,
                })
                .collect(),
            attendees: vec![],
            runtime: items.iter().find(|i| i.3).map(|i| Runtime {
                sys_id: "r".into(),
                current_item: Some(i.0.to_lowercase()),
                current_start: Some(start + Duration::hours(1) - Duration::minutes(2)),
                timer_state: "running".into(),
                host: UserRef::default(),
                agenda_update_at: None,
            }),
            changes: vec![],
            approvals: vec![],
            all_approvals: true,
        }
    }

    #[test]
    fn automated_approvals_count_per_rule_and_flag_those_a_person_stopped_later() {
        use super::super::history::ServerDecision;
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .to_utc();
        let d = |n: &str, state: &str, source: &str, by: &str, hours_ago: i64| ServerDecision {
            approval_sys_id: format!("{n}-{by}"),
            number: n.into(),
            state: state.into(),
            decided_at: Some(now - Duration::hours(hours_ago)),
            approver: super::super::change::UserRef {
                sys_id: "u1".into(),
                name: "Alice".into(),
                ..Default::default()
            },
            decided_by: by.into(),
            source: source.into(),
            ..ServerDecision::default()
        };
        let server = [
            d("CHG1", "approved", "Policy P", "system", 10),
            d("CHG1", "rejected", "", "ben", 5), // a person, afterwards
            d("CHG2", "approved", "Policy P", "system", 8),
            d("CHG2", "rejected", "", "ben", 9), // before the rule: not flagged
            d("CHG3", "approved", "", "system", 3),
            d("CHG4", "approved", "", "alice", 3), // a person's approval
            d("CHG5", "approved", "Policy P", "system", 24 * 40), // outside the period
        ];
        let got = automated(&server, &[], now - Duration::days(30), now);
        assert_eq!(
            got,
            vec![
                AutomatedRule {
                    rule: "by rule: Policy P".into(),
                    approvals: 2,
                    later_stopped: vec!["CHG1".into()],
                },
                AutomatedRule {
                    rule: "by the system".into(),
                    approvals: 1,
                    later_stopped: vec![],
                },
            ]
        );
        assert_eq!(
            describe_automated(&got),
            "by rule: Policy P 2 (⚑ later rejected or held: CHG1) · by the system 1"
        );
    }

    #[test]
    fn cab_time_per_item_counts_timed_items_of_the_periods_meetings() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .to_utc();
        let start = now - Duration::hours(1);
        // Spent: 240, 600 (over its 300), 0 (not discussed), 60 banked + 120 running = 180.
        let this = meeting(
            start,
            &[
                ("CHG1", 300, 240, false),
                ("CHG2", 300, 600, false),
                ("CHG3", 300, 0, false),
                ("CHG4", 120, 60, true),
            ],
        );
        // A meeting before the period does not count.
        let old = meeting(now - Duration::days(40), &[("CHG9", 300, 9_000, false)]);
        let c = cab_time(&[this, old], now - Duration::days(30), now);
        assert_eq!((c.meetings, c.items, c.over_time), (1, 3, 2));
        // Sorted 180, 240, 600: median rank 2, p90 rank 3.
        assert_eq!((c.median_seconds, c.p90_seconds), (240, 600));
        assert_eq!(c.longest, Some(("CHG2".into(), 600)));
        assert_eq!(
            c.describe(),
            "3 items over 1 meeting: median 4m00s per item, p90 10m00s; 2 over the allotted time; longest CHG2 (10m00s)"
        );
        assert_eq!(
            cab_time(&[], now, now).describe(),
            "0 meetings cached in the period, no agenda item timed"
        );
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile(&v, 0.5), 5);
        assert_eq!(quantile(&v, 0.9), 9);
        assert_eq!(quantile(&[7], 0.9), 7);
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(
            reason_key("No rollback plan!! for the DB"),
            "no rollback plan for the db"
        );
    }
}
