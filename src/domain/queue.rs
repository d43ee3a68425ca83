//! The queue: approvals with their tier and SLA clock worked out once, in queue order
//! (tier, then deadline, then change number; changes on hold last).

use std::sync::Arc;

use super::change::Approval;
use super::policy::{Policy, TierAssessment};
use super::sla::SlaClock;

#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub approval: Approval,
    pub tier: TierAssessment,
    pub sla: SlaClock,
}

impl QueueEntry {
    /// The approval with its tier and SLA clock under `policy`.
    pub fn new(policy: &Policy, approval: Approval) -> QueueEntry {
        let tier = policy.classify(&approval.change);
        let sla = SlaClock::for_approval(policy, tier.tier, &approval);
        QueueEntry {
            approval,
            tier,
            sla,
        }
    }
}

/// Classifies and orders approvals for the queue. Entries are shared (`Arc`): the queue is
/// rebuilt on every sync and at start-up, and filtered views hold the same entries.
pub fn build_queue(policy: &Policy, approvals: Vec<Approval>) -> Vec<Arc<QueueEntry>> {
    let mut entries: Vec<Arc<QueueEntry>> = approvals
        .into_iter()
        .map(|approval| Arc::new(QueueEntry::new(policy, approval)))
        .collect();
    // Sorting pointers, not the large entries. Changes on hold go last (their timers stop).
    entries.sort_by(|a, b| key(a).cmp(&key(b)));
    entries
}

/// The queue order: held last, then tier, deadline (to the millisecond, as the store keeps
/// it), change number and sys_id, so the store's indexed order is the same.
fn key(e: &QueueEntry) -> (bool, super::RiskTier, i64, &str, &str) {
    (
        e.approval.change.on_hold,
        e.tier.tier,
        e.sla.deadline.timestamp_millis(),
        e.approval.change.number.as_str(),
        e.approval.sys_id.as_str(),
    )
}

/// Where one approval stands in the queue, and no more: what the order, the tier sections,
/// the person filter and the SLA counts need. A queue too large to hold whole (100,000 rows)
/// is held as these, about a hundred bytes each; the rows on screen are read when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKey {
    pub sys_id: Box<str>,
    /// Index into [`QueueIndex::people`]: whose approval this is.
    pub approver: u32,
    pub on_hold: bool,
    pub tier: super::RiskTier,
    /// The SLA deadline and the warning time, in milliseconds since the epoch.
    pub deadline: i64,
    pub warning_at: i64,
    /// What filters and sorts other than the queue order read ([`super::find`]): the change
    /// type and risk as codes, CAB required, the window start and the request time (ms since
    /// the epoch; [`super::find::NO_WINDOW`] without a start) and the change number's digits.
    pub kind: u8,
    pub risk: u8,
    pub cab: bool,
    pub window: i64,
    pub requested: i64,
    pub number: u64,
}

impl QueueKey {
    /// The place `entry` takes in `build_queue`'s order (the change number, the last tie
    /// breaker, is left out: keys are compared only to find where a row goes).
    pub fn order(&self) -> (bool, super::RiskTier, i64) {
        (self.on_hold, self.tier, self.deadline)
    }

    /// The SLA status at `now`, as [`SlaClock::status`] answers it.
    pub fn status(&self, now_ms: i64) -> super::SlaStatus {
        if now_ms >= self.deadline {
            super::SlaStatus::Breached
        } else if now_ms >= self.warning_at {
            super::SlaStatus::Warning
        } else {
            super::SlaStatus::OnTrack
        }
    }
}

/// The whole queue as keys, in `build_queue`'s order, with the approvers the keys name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueIndex {
    pub keys: Vec<QueueKey>,
    pub people: Vec<super::UserRef>,
}

impl QueueIndex {
    /// The index of `person` in `people`, added if new.
    pub fn person(&mut self, person: &super::UserRef) -> u32 {
        match self.people.iter().position(|p| p.sys_id == person.sys_id) {
            Some(i) => i as u32,
            None => {
                self.people.push(person.clone());
                (self.people.len() - 1) as u32
            }
        }
    }

    /// The keys of entries already in queue order.
    pub fn of_entries(entries: &[Arc<QueueEntry>]) -> QueueIndex {
        let mut index = QueueIndex::default();
        for e in entries {
            let approver = index.person(&e.approval.approver);
            index.keys.push(QueueKey::of(e, approver));
        }
        index
    }
}

impl QueueKey {
    /// A key with `approval`'s facts for filters and sorts ([`super::find`]); its place in
    /// the queue (tier, hold, SLA times) is left at defaults.
    pub fn facts_of(approval: &Approval) -> QueueKey {
        let c = &approval.change;
        QueueKey {
            sys_id: approval.sys_id.as_str().into(),
            approver: 0,
            on_hold: c.on_hold,
            tier: super::RiskTier::Low,
            deadline: 0,
            warning_at: 0,
            kind: super::find::kind_code(c.change_type.as_ref()),
            risk: super::find::risk_code(c.risk),
            cab: c.cab_required,
            window: c
                .start_date
                .map_or(super::find::NO_WINDOW, |t| t.timestamp_millis()),
            requested: approval.requested_at.timestamp_millis(),
            number: super::find::number_value(&c.number),
        }
    }

    pub fn of(e: &QueueEntry, approver: u32) -> QueueKey {
        QueueKey {
            approver,
            tier: e.tier.tier,
            deadline: e.sla.deadline.timestamp_millis(),
            warning_at: e.sla.warning_at.timestamp_millis(),
            ..QueueKey::facts_of(&e.approval)
        }
    }
}
