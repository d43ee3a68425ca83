//! Delegation: who may act for whom, from when until when (ServiceNow's `sys_user_delegate`).
//!
//! The approval row keeps the original approver; an active delegate acts on it, recorded as
//! "decided by me on behalf of Alice".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::UserRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub sys_id: String,
    /// Who delegates (the one going away).
    pub user: UserRef,
    /// Who acts for them.
    pub delegate: UserRef,
    pub starts: Option<DateTime<Utc>>,
    pub ends: Option<DateTime<Utc>>,
    /// Whether the delegate may approve for the user.
    pub approvals: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DelegationStatus {
    Upcoming,
    Active,
    Expired,
}

impl DelegationStatus {
    pub fn label(self) -> &'static str {
        match self {
            DelegationStatus::Upcoming => "upcoming",
            DelegationStatus::Active => "active",
            DelegationStatus::Expired => "expired",
        }
    }
}

impl Delegation {
    /// Cleans the names and checks the ids: how a delegation from the server is kept.
    pub fn sanitize(&mut self) -> Result<(), String> {
        if !super::text::is_record_id(&self.sys_id) {
            return Err("its sys_id is missing or not an identifier".into());
        }
        self.user.sanitize()?;
        self.delegate.sanitize()
    }

    /// Upcoming before its start, active from start to end (both included, as the platform's
    /// `starts<=now^ends>=now`), expired after.
    pub fn status(&self, now: DateTime<Utc>) -> DelegationStatus {
        if self.starts.is_some_and(|s| now < s) {
            DelegationStatus::Upcoming
        } else if self.ends.is_some_and(|e| now > e) {
            DelegationStatus::Expired
        } else {
            DelegationStatus::Active
        }
    }

    /// Whether the delegate may decide the user's approvals right now.
    pub fn covers_approvals(&self, now: DateTime<Utc>) -> bool {
        self.approvals && self.status(now) == DelegationStatus::Active
    }

    fn overlaps(&self, starts: DateTime<Utc>, ends: DateTime<Utc>) -> bool {
        let a0 = self.starts.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let a1 = self.ends.unwrap_or(DateTime::<Utc>::MAX_UTC);
        a0 <= ends && starts <= a1
    }
}

/// The people whose approvals `me` may decide now: `me` first, then everyone with an active
/// approvals delegation to `me` (delegation does not cascade).
pub fn acting_for(me: &UserRef, delegations: &[Delegation], now: DateTime<Utc>) -> Vec<UserRef> {
    let mut out = vec![me.clone()];
    for d in delegations {
        if d.delegate.sys_id == me.sys_id
            && d.user.sys_id != me.sys_id
            && d.covers_approvals(now)
            && !out.iter().any(|u| u.sys_id == d.user.sys_id)
        {
            out.push(d.user.clone());
        }
    }
    out
}

/// Whether `person` is inside their working hours at `now` (`None`: the policy does not
/// say), and if not, when they are back (in their schedule's zone, `Mon 09:00 JST`).
pub fn in_hours(
    policy: &super::policy::Policy,
    person: &UserRef,
    now: DateTime<Utc>,
) -> Option<Result<(), (DateTime<Utc>, String)>> {
    let s = policy.hours_of(person)?;
    if s.is_open(now) {
        Some(Ok(()))
    } else {
        let back = s.next_open(now);
        Some(Err((back, s.local_label(back))))
    }
}

/// A delegate covering `approver`'s approvals now who is inside their working hours (follow
/// the sun), if there is one.
fn present_delegate<'a>(
    approver: &UserRef,
    delegations: &'a [Delegation],
    policy: &super::policy::Policy,
    now: DateTime<Utc>,
) -> Option<&'a UserRef> {
    delegations
        .iter()
        .filter(|d| d.user.sys_id == approver.sys_id && d.covers_approvals(now))
        .map(|d| &d.delegate)
        .find(|d| matches!(in_hours(policy, d, now), Some(Ok(()))))
}

/// When nobody is there to decide an approval, says so and names who to chase: the
/// approver has an active delegation out that does not cover approvals (nobody is covering),
/// the SLA is breached past the policy's escalation level, or the approver is outside their
/// working hours and will be until after the deadline. A covering delegate inside their own
/// hours is named before the policy's fallback: nobody is paged at night when someone in
/// another zone can decide. `None` when all is well.
pub fn needs_fallback(
    entry: &super::queue::QueueEntry,
    delegations: &[Delegation],
    policy: &super::policy::Policy,
    now: DateTime<Utc>,
) -> Option<String> {
    let approver = &entry.approval.approver;
    let mine_out = |d: &&Delegation| d.user.sys_id == approver.sys_id;
    let away = delegations
        .iter()
        .filter(mine_out)
        .any(|d| d.status(now) == DelegationStatus::Active);
    let covered = delegations
        .iter()
        .filter(mine_out)
        .any(|d| d.covers_approvals(now));
    let level = entry.sla.escalation_level(now);
    let waiting = entry.approval.in_queue() && !entry.approval.change.on_hold;
    // Outside their hours until after the deadline: the clock runs out while they sleep.
    let asleep = match in_hours(policy, approver, now) {
        Some(Err((back, label))) if waiting && back >= entry.sla.deadline => Some(label),
        _ => None,
    };
    let reason = if away && !covered {
        format!(
            "{} is away and no delegate covers approvals",
            approver.label()
        )
    } else if waiting && level >= policy.fallback_at_level {
        format!("the response is overdue (escalation level {level})")
    } else if let Some(back) = &asleep {
        format!(
            "{} is outside working hours until {back}, after the deadline",
            approver.label()
        )
    } else {
        return None;
    };
    if let Some(d) = present_delegate(approver, delegations, policy, now) {
        return Some(format!(
            "No one present to decide: {reason}; {} covers their approvals and is in working hours now: ask them.",
            d.label()
        ));
    }
    let tier = entry.tier.tier;
    Some(match policy.fallback.get(&tier) {
        Some(who) => format!("No one present to decide: {reason}; chase {who}."),
        None => format!(
            "No one present to decide: {reason}; no fallback approver is set for {} changes in the policy.",
            tier.label()
        ),
    })
}

/// A delegation to create, or the new window of one being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegationDraft {
    pub delegate: UserRef,
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub approvals: bool,
}

/// Checks a delegation `me` wants to give before anything is sent: not to oneself, an end
/// after the start and in the future, and no overlap with another delegation of `me`'s that
/// is not over (`editing` is the one being changed, if any).
pub fn check_delegation(
    me: &UserRef,
    draft: &DelegationDraft,
    existing: &[Delegation],
    editing: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if draft.delegate.sys_id == me.sys_id {
        return Err("You cannot delegate to yourself; pick a colleague.".into());
    }
    if draft.ends <= draft.starts {
        return Err(format!(
            "The end ({}) must be after the start ({}).",
            draft.ends.format("%Y-%m-%d %H:%M"),
            draft.starts.format("%Y-%m-%d %H:%M")
        ));
    }
    if draft.ends <= now {
        return Err(format!(
            "The window ends {}, which is already past; choose a later end.",
            draft.ends.format("%Y-%m-%d %H:%M")
        ));
    }
    if let Some(clash) = existing.iter().find(|d| {
        d.user.sys_id == me.sys_id
            && Some(d.sys_id.as_str()) != editing
            && d.status(now) != DelegationStatus::Expired
            && d.overlaps(draft.starts, draft.ends)
    }) {
        return Err(format!(
            "It overlaps your delegation to {} ({} – {}); end or edit that one first.",
            clash.delegate.label(),
            clash
                .starts
                .map_or("open".into(), |t| t.format("%Y-%m-%d").to_string()),
            clash
                .ends
                .map_or("open".into(), |t| t.format("%Y-%m-%d").to_string()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0).unwrap()
    }

    fn who(id: &str) -> UserRef {
        UserRef {
            sys_id: id.into(),
            name: id.to_uppercase(),
            ..Default::default()
        }
    }

    /// A requested approval of `approver` on a Critical change (risk and impact High).
    fn critical(approver: &str, requested_at: DateTime<Utc>) -> crate::domain::Approval {
        use crate::domain::{Approval, ApprovalState, Change};
        Approval {
            source: Default::default(),
            sys_id: format!("a-{approver}"),
            state: ApprovalState::Requested,
            approver: who(approver),
            requested_at,
            due_date: None,
            group: None,
            sys_updated_on: None,
            change: Change {
                risk: Some(crate::domain::Risk::High),
                impact: Some(crate::domain::Level::High),
                ..Change::default()
            },
        }
    }

    fn deleg(id: &str, user: &str, to: &str, s: u32, e: u32, approvals: bool) -> Delegation {
        Delegation {
            sys_id: id.into(),
            user: who(user),
            delegate: who(to),
            starts: Some(t(s)),
            ends: Some(t(e)),
            approvals,
        }
    }

    #[test]
    fn status_by_window() {
        let d = deleg("1", "a", "b", 10, 20, true);
        assert_eq!(d.status(t(9)), DelegationStatus::Upcoming);
        assert_eq!(d.status(t(10)), DelegationStatus::Active);
        assert_eq!(d.status(t(20)), DelegationStatus::Active);
        assert_eq!(
            d.status(t(20) + Duration::seconds(1)),
            DelegationStatus::Expired
        );
        assert!(d.covers_approvals(t(15)));
        assert!(!deleg("2", "a", "b", 10, 20, false).covers_approvals(t(15)));
    }

    #[test]
    fn acting_set_is_me_and_active_delegators() {
        let me = who("me");
        let all = [
            deleg("1", "alice", "me", 1, 30, true),  // active
            deleg("2", "bob", "me", 1, 5, true),     // expired at t(10)
            deleg("3", "carol", "me", 20, 30, true), // upcoming
            deleg("4", "dave", "me", 1, 30, false),  // no approvals
            deleg("5", "me", "erin", 1, 30, true),   // given, not received
            deleg("6", "alice", "me", 2, 30, true),  // duplicate delegator
        ];
        let ids: Vec<String> = acting_for(&me, &all, t(10))
            .into_iter()
            .map(|u| u.sys_id)
            .collect();
        assert_eq!(ids, ["me", "alice"]);
    }

    #[test]
    fn fallback_when_nobody_is_there() {
        use crate::domain::{Policy, build_queue};
        let now = t(10);
        let approval =
            |approver: &str, age_h: i64| critical(approver, now - Duration::hours(age_h));
        let mut policy = Policy::default();
        policy
            .fallback
            .insert(crate::domain::RiskTier::Critical, "Carla Diaz".into());
        let delegations = [
            deleg("1", "away", "bob", 1, 20, false), // away, approvals not delegated
            deleg("2", "covered", "bob", 1, 20, true),
        ];
        let q = build_queue(
            &policy,
            vec![
                approval("away", 1),
                approval("covered", 1),
                approval("here", 1),
                approval("late", 7), // Critical: 4 h, so 3 h over → level 4 (capped 3)
            ],
        );
        let by = |id: &str| q.iter().find(|e| e.approval.approver.sys_id == id).unwrap();
        let away = needs_fallback(by("away"), &delegations, &policy, now).unwrap();
        assert_eq!(
            away,
            "No one present to decide: AWAY is away and no delegate covers approvals; chase Carla Diaz."
        );
        assert_eq!(
            needs_fallback(by("covered"), &delegations, &policy, now),
            None
        );
        assert_eq!(needs_fallback(by("here"), &delegations, &policy, now), None);
        let late = needs_fallback(by("late"), &delegations, &policy, now).unwrap();
        assert!(
            late.contains("overdue (escalation level 3)") && late.contains("Carla"),
            "{late}"
        );
        policy.fallback.clear();
        let none = needs_fallback(by("late"), &delegations, &policy, now).unwrap();
        assert!(
            none.contains("no fallback approver is set for Critical"),
            "{none}"
        );
    }

    #[test]
    fn an_approver_asleep_past_the_deadline_is_covered_by_a_delegate_at_work() {
        use crate::domain::{Approval, Policy, build_queue};
        // 2026-12-10 (a Thursday) 12:00 UTC: 21:00 in Tokyo, 13:00 in Berlin.
        let now = t(10) + Duration::hours(12);
        let mut policy: Policy = toml::from_str(
            r#"
            [schedules.apac]
            zone = "Asia/Tokyo"
            [schedules.emea]
            zone = "Europe/Berlin"
            [working_hours]
            CARLA = "apac"
            ALICE = "emea"
            "#,
        )
        .unwrap();
        policy.validate().unwrap();
        policy
            .fallback
            .insert(crate::domain::RiskTier::Critical, "Duty manager".into());
        assert_eq!(
            in_hours(&policy, &who("carla"), now).map(|r| r.map_err(|(_, l)| l)),
            Some(Err("Fri 09:00 JST".to_string()))
        );
        assert_eq!(in_hours(&policy, &who("alice"), now), Some(Ok(())));
        assert_eq!(in_hours(&policy, &who("bob"), now), None);
        // A Critical approval (4 h) requested an hour ago: due at 15:00 UTC, Carla is back
        // at 00:00 UTC.
        let approval = critical("carla", now - Duration::hours(1));
        let q = build_queue(&policy, vec![approval]);
        let alone = needs_fallback(&q[0], &[], &policy, now).unwrap();
        assert_eq!(
            alone,
            "No one present to decide: CARLA is outside working hours until Fri 09:00 JST, after the deadline; chase Duty manager."
        );
        // Alice covers Carla's approvals and is at work: ask her, not the duty manager.
        let cover = [deleg("1", "carla", "alice", 1, 20, true)];
        let sun = needs_fallback(&q[0], &cover, &policy, now).unwrap();
        assert!(
            sun.ends_with("ALICE covers their approvals and is in working hours now: ask them."),
            "{sun}"
        );
        // Inside her own hours nobody is chased.
        let morning = t(11) + Duration::hours(1); // 10:00 in Tokyo
        let q = build_queue(
            &policy,
            vec![Approval {
                requested_at: morning - Duration::minutes(10),
                ..q[0].approval.clone()
            }],
        );
        assert_eq!(needs_fallback(&q[0], &[], &policy, morning), None);
    }

    #[test]
    fn working_hours_follow_the_zone_the_instance_keeps_for_each_person() {
        use crate::domain::Policy;
        // 2026-12-10 (a Thursday) 12:00 UTC: 21:00 in Tokyo, 13:00 in Madrid, 07:00 in New York.
        let now = t(10) + Duration::hours(12);
        let mut policy: Policy = toml::from_str(
            r#"
            [schedules.office]
            zone = "Europe/London"
            hours = "09:00-17:00"
            [working_hours]
            "*" = "office"
            "#,
        )
        .unwrap();
        policy.validate().unwrap();
        let in_zone = |id: &str, zone: &str| UserRef {
            time_zone: zone.into(),
            ..who(id)
        };
        let label = |p: &UserRef| in_hours(&policy, p, now).map(|r| r.map_err(|(_, l)| l));
        assert_eq!(label(&in_zone("alice", "Europe/Madrid")), Some(Ok(())));
        assert_eq!(
            label(&in_zone("carla", "Asia/Tokyo")),
            Some(Err("Fri 09:00 JST".to_string()))
        );
        assert_eq!(
            label(&in_zone("dan", "America/New_York")),
            Some(Err("Thu 09:00 EST".to_string()))
        );
        // No zone from the instance (or one this build does not know): the schedule's own.
        assert_eq!(label(&who("erin")), Some(Ok(())));
        assert_eq!(label(&in_zone("erin", "Mars/Olympus")), Some(Ok(())));
        // A schedule named for the person wins over everyone's, still in their own zone.
        policy.schedules.insert(
            "late".into(),
            toml::from_str("zone = \"UTC\"\nhours = \"14:00-22:00\"").unwrap(),
        );
        policy.working_hours.insert("ALICE".into(), "late".into());
        policy.validate().unwrap();
        assert_eq!(
            in_hours(&policy, &in_zone("alice", "Europe/Madrid"), now)
                .map(|r| r.map_err(|(_, l)| l)),
            Some(Err("Thu 14:00 CET".to_string()))
        );
    }

    #[test]
    fn bad_delegations_are_refused_before_sending() {
        let me = who("me");
        let existing = [
            deleg("1", "me", "bob", 20, 28, true),
            deleg("old", "me", "bob", 1, 3, true),
        ];
        let draft = |to: &str, s: u32, e: u32| DelegationDraft {
            delegate: who(to),
            starts: t(s),
            ends: t(e),
            approvals: true,
        };
        let now = t(5);
        assert!(
            check_delegation(&me, &draft("me", 10, 12), &existing, None, now)
                .unwrap_err()
                .contains("yourself")
        );
        assert!(
            check_delegation(&me, &draft("carl", 12, 10), &existing, None, now)
                .unwrap_err()
                .contains("must be after")
        );
        assert!(
            check_delegation(&me, &draft("carl", 1, 4), &existing, None, now)
                .unwrap_err()
                .contains("already past")
        );
        let err = check_delegation(&me, &draft("carl", 25, 30), &existing, None, now).unwrap_err();
        assert!(err.contains("overlaps your delegation to BOB"), "{err}");
        // Expired ones do not count; editing the clashing one itself is fine.
        assert!(check_delegation(&me, &draft("carl", 2, 10), &existing, None, now).is_ok());
        assert!(check_delegation(&me, &draft("bob", 22, 30), &existing, Some("1"), now).is_ok());
    }
}
