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

/// Classifies and orders approvals for the queue. Entries are shared (`Arc`): the queue is
/// rebuilt on every sync and at start-up, and filtered views hold the same entries.
pub fn build_queue(policy: &Policy, approvals: Vec<Approval>) -> Vec<Arc<QueueEntry>> {
    let mut entries: Vec<Arc<QueueEntry>> = approvals
        .into_iter()
        .map(|approval| {
            let tier = policy.classify(&approval.change);
            let sla = SlaClock::for_approval(policy, tier.tier, &approval);
            Arc::new(QueueEntry {
                approval,
                tier,
                sla,
            })
        })
        .collect();
    // Sorting pointers, not the large entries. Changes on hold go last (their timers stop).
    entries.sort_by(|a, b| key(a).cmp(&key(b)));
    entries
}

fn key(e: &QueueEntry) -> (bool, super::RiskTier, chrono::DateTime<chrono::Utc>, &str) {
    (
        e.approval.change.on_hold,
        e.tier.tier,
        e.sla.deadline,
        e.approval.change.number.as_str(),
    )
}
