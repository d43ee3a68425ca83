//! The SLA clock of one approval: when a response is due and how late it is.
//!
//! ServiceNow has no native approval SLA (see the domain reference, §2.3), so the clock is
//! computed client-side: the tier's response time from the request, or the approval's own due
//! date where the backend sets one, and never later than the change window start (approving
//! after the work started is pointless).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::change::Approval;
use super::policy::{Policy, RiskTier};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaStatus {
    OnTrack,
    Warning,
    Breached,
}

impl SlaStatus {
    pub fn label(self) -> &'static str {
        match self {
            SlaStatus::OnTrack => "on track",
            SlaStatus::Warning => "warning",
            SlaStatus::Breached => "breached",
        }
    }
}

/// What set the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineSource {
    TierPolicy,
    DueDate,
    WindowStart,
    /// The instance's own SLA on the change (`task_sla`): its breach time counts.
    InstanceSla,
}

impl DeadlineSource {
    pub fn label(self) -> &'static str {
        match self {
            DeadlineSource::TierPolicy => "tier response time",
            DeadlineSource::DueDate => "approval due date",
            DeadlineSource::WindowStart => "change window start",
            DeadlineSource::InstanceSla => "instance's SLA",
        }
    }
}

/// A business-hours clock at one instant (see [`SlaClock::business_clock`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessClock {
    /// Working time left before the deadline.
    pub left: Duration,
    /// Outside hours: when the clock runs again, in the schedule's zone (`Mon 09:00 CET`).
    pub paused_until: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    pub requested_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub source: DeadlineSource,
    /// When the approval goes into warning.
    pub warning_at: DateTime<Utc>,
    escalation_step: Duration,
    max_escalation_level: u8,
    /// The response time counts in business hours (the tier's schedule).
    pub business: bool,
    /// The instance's SLA clock is paused (`task_sla` stage `paused`).
    pub paused: bool,
}

impl SlaClock {
    /// The clock for an approval in a tier under a policy: the instance's own SLA on the
    /// change where the sync kept one, else signoff's estimate.
    pub fn for_approval(policy: &Policy, tier: RiskTier, approval: &Approval) -> SlaClock {
        Self::of_instance(policy, approval)
            .unwrap_or_else(|| Self::estimate(policy, tier, approval))
    }

    /// Signoff's own clock: the tier's response time (on its schedule) from the request, or
    /// the approval's due date, capped by the window start.
    pub fn estimate(policy: &Policy, tier: RiskTier, approval: &Approval) -> SlaClock {
        let requested_at = approval.requested_at;
        let schedule = match approval.due_date {
            None => policy.schedule_for(tier, approval),
            Some(_) => None,
        };
        let response = policy.response_time(tier);
        let (mut deadline, mut source) = match (approval.due_date, &schedule) {
            (Some(due), _) => (due, DeadlineSource::DueDate),
            (None, Some(s)) => (s.add(requested_at, response), DeadlineSource::TierPolicy),
            // Times come from the server: an absurd one must not overflow.
            (None, None) => (
                requested_at
                    .checked_add_signed(response)
                    .unwrap_or(requested_at),
                DeadlineSource::TierPolicy,
            ),
        };
        if let Some(start) = approval.change.start_date
            && start < deadline
        {
            deadline = start;
            source = DeadlineSource::WindowStart;
        }
        let warning_at = match &schedule {
            // The warning point in business time too, never after the deadline.
            Some(s) => s
                .add(
                    requested_at,
                    warning_share(policy, s.between(requested_at, deadline)),
                )
                .min(deadline),
            None => warning_point(policy, requested_at, deadline),
        };
        SlaClock {
            requested_at,
            deadline,
            source,
            warning_at,
            escalation_step: policy.escalation_step(),
            max_escalation_level: policy.max_escalation_level,
            business: schedule.is_some(),
            paused: false,
        }
    }

    /// The clock of the instance's own SLA on the change, where it runs one: its breach time
    /// is the deadline (the instance counts it on its own schedule), the warning point the
    /// policy's fraction of the time from its start.
    fn of_instance(policy: &Policy, approval: &Approval) -> Option<SlaClock> {
        let sla = approval.change.instance_sla.as_ref()?;
        let deadline = sla.breach_at.filter(|_| sla.running())?;
        let requested_at = sla.start_at.unwrap_or(approval.requested_at).min(deadline);
        Some(SlaClock {
            requested_at,
            deadline,
            source: DeadlineSource::InstanceSla,
            warning_at: warning_point(policy, requested_at, deadline),
            escalation_step: policy.escalation_step(),
            max_escalation_level: policy.max_escalation_level,
            business: false,
            paused: sla.paused(),
        })
    }

    /// On track before the warning point, warning from it, breached from the deadline on.
    pub fn status(&self, now: DateTime<Utc>) -> SlaStatus {
        if now >= self.deadline {
            SlaStatus::Breached
        } else if now >= self.warning_at {
            SlaStatus::Warning
        } else {
            SlaStatus::OnTrack
        }
    }

    /// A clock on business hours as it stands at `now`: the working time left before the
    /// deadline, and until when it is paused outside hours. `None`: around the clock, or
    /// breached (then only the lateness counts).
    pub fn business_clock(
        &self,
        policy: &Policy,
        approval: &Approval,
        tier: RiskTier,
        now: DateTime<Utc>,
    ) -> Option<BusinessClock> {
        if !self.business || now >= self.deadline {
            return None;
        }
        let s = policy.schedule_for(tier, approval)?;
        Some(BusinessClock {
            left: s.between(now, self.deadline),
            paused_until: (!s.is_open(now)).then(|| s.local_label(s.next_open(now))),
        })
    }

    /// Time left until the deadline; negative once breached.
    pub fn remaining(&self, now: DateTime<Utc>) -> Duration {
        self.deadline - now
    }

    /// 0 before the deadline; 1 at the breach, one more per escalation step past it.
    pub fn escalation_level(&self, now: DateTime<Utc>) -> u8 {
        if now < self.deadline {
            return 0;
        }
        let over = (now - self.deadline).num_seconds();
        let step = self.escalation_step.num_seconds().max(1);
        let level = 1 + over / step;
        level.min(i64::from(self.max_escalation_level)) as u8
    }
}

/// The policy's share of a response time (`warning_at`) after which an approval warns.
fn warning_share(policy: &Policy, d: Duration) -> Duration {
    Duration::milliseconds((d.num_milliseconds() as f64 * policy.warning_at).round() as i64)
}

/// The warning point of a clock running around the clock from `from` to `deadline`.
fn warning_point(policy: &Policy, from: DateTime<Utc>, deadline: DateTime<Utc>) -> DateTime<Utc> {
    from.checked_add_signed(warning_share(
        policy,
        (deadline - from).max(Duration::zero()),
    ))
    .unwrap_or(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{ApprovalState, Change, UserRef};
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    fn approval(requested: DateTime<Utc>, due: Option<DateTime<Utc>>) -> Approval {
        Approval {
            source: Default::default(),
            sys_id: "a".into(),
            state: ApprovalState::Requested,
            approver: UserRef::default(),
            requested_at: requested,
            due_date: due,
            group: None,
            sys_updated_on: None,
            change: Change::default(),
        }
    }

    #[test]
    fn status_at_and_around_each_threshold() {
        let p = Policy::default();
        // High tier: 8 h, warning at 6 h.
        let clock = SlaClock::for_approval(&p, RiskTier::High, &approval(t(0, 0, 0), None));
        assert_eq!(clock.deadline, t(8, 0, 0));
        assert_eq!(clock.source, DeadlineSource::TierPolicy);
        assert_eq!(clock.status(t(0, 0, 0)), SlaStatus::OnTrack);
        assert_eq!(clock.status(t(5, 59, 59)), SlaStatus::OnTrack);
        assert_eq!(clock.status(t(6, 0, 0)), SlaStatus::Warning);
        assert_eq!(clock.status(t(7, 59, 59)), SlaStatus::Warning);
        assert_eq!(clock.status(t(8, 0, 0)), SlaStatus::Breached);
        assert_eq!(clock.remaining(t(7, 0, 1)), Duration::seconds(3599));
        assert_eq!(clock.remaining(t(8, 5, 0)), Duration::minutes(-5));
    }

    #[test]
    fn every_tier_uses_its_response_time() {
        let p = Policy::default();
        for (tier, hours) in [
            (RiskTier::Emergency, 1),
            (RiskTier::Critical, 4),
            (RiskTier::High, 8),
            (RiskTier::Moderate, 24),
            (RiskTier::Low, 72),
        ] {
            let c = SlaClock::for_approval(&p, tier, &approval(t(0, 0, 0), None));
            assert_eq!(
                c.deadline - c.requested_at,
                Duration::hours(hours),
                "{tier:?}"
            );
            let warn = c.requested_at + Duration::minutes(hours * 45);
            assert_eq!(c.status(warn - Duration::seconds(1)), SlaStatus::OnTrack);
            assert_eq!(c.status(warn), SlaStatus::Warning);
        }
    }

    #[test]
    fn due_date_replaces_the_tier_time() {
        let p = Policy::default();
        let a = approval(t(0, 0, 0), Some(t(20, 0, 0)));
        let c = SlaClock::for_approval(&p, RiskTier::High, &a);
        assert_eq!(c.deadline, t(20, 0, 0));
        assert_eq!(c.source, DeadlineSource::DueDate);
        assert_eq!(c.status(t(15, 0, 0)), SlaStatus::Warning);
    }

    #[test]
    fn window_start_caps_the_deadline() {
        let p = Policy::default();
        let mut a = approval(t(0, 0, 0), None);
        a.change.start_date = Some(t(2, 0, 0));
        let c = SlaClock::for_approval(&p, RiskTier::Low, &a);
        assert_eq!(c.deadline, t(2, 0, 0));
        assert_eq!(c.source, DeadlineSource::WindowStart);
        assert_eq!(c.status(t(1, 29, 59)), SlaStatus::OnTrack);
        assert_eq!(c.status(t(1, 30, 0)), SlaStatus::Warning);
    }

    #[test]
    fn window_already_started_is_breached_at_once() {
        let p = Policy::default();
        let mut a = approval(t(3, 0, 0), None);
        a.change.start_date = Some(t(1, 0, 0));
        let c = SlaClock::for_approval(&p, RiskTier::Moderate, &a);
        assert_eq!(c.status(t(3, 0, 0)), SlaStatus::Breached);
        assert_eq!(c.escalation_level(t(3, 0, 0)), 3);
    }

    #[test]
    fn escalation_rises_per_step_and_caps() {
        let p = Policy::default();
        let c = SlaClock::for_approval(&p, RiskTier::Emergency, &approval(t(0, 0, 0), None));
        assert_eq!(c.escalation_level(t(0, 59, 59)), 0);
        assert_eq!(c.escalation_level(t(1, 0, 0)), 1);
        assert_eq!(c.escalation_level(t(1, 59, 59)), 1);
        assert_eq!(c.escalation_level(t(2, 0, 0)), 2);
        assert_eq!(c.escalation_level(t(9, 0, 0)), 3);
    }

    #[test]
    fn a_schedule_on_the_approvers_zone_counts_in_the_zone_the_instance_keeps() {
        let p: Policy = toml::from_str(
            r#"
            [sla_hours]
            moderate = 4
            [business_hours]
            moderate = "emea"
            [schedules.emea]
            zone = "Europe/Berlin"
            approver_zone = true
            group_zones = { "Network Ops AMER" = "America/New_York" }
            "#,
        )
        .unwrap();
        p.validate().unwrap();
        // Wednesday 2026-11-25 06:00 UTC: 07:00 in Berlin, 15:00 in Tokyo, 01:00 in New York.
        let mut a = approval(t(6, 0, 0), None);
        let deadline = |a: &Approval| SlaClock::for_approval(&p, RiskTier::Moderate, a).deadline;
        // No zone from the instance: Berlin's hours, 09:00-13:00 local (08:00-12:00 UTC).
        assert_eq!(deadline(&a), t(12, 0, 0));
        // In Tokyo: two hours left today (to 17:00 JST, 08:00 UTC), two more from 09:00 JST
        // Thursday (00:00 UTC): 02:00 UTC on the 26th.
        a.approver.time_zone = "Asia/Tokyo".into();
        assert_eq!(deadline(&a), t(2, 0, 0) + Duration::days(1));
        // The group's zone wins over the approver's: New York, 09:00-13:00 EST (14:00-18:00
        // UTC) today.
        a.change.assignment_group = "Network Ops AMER".into();
        assert_eq!(deadline(&a), t(18, 0, 0));
    }
}
