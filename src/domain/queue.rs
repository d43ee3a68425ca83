//! The queue: approvals with their tier and SLA clock worked out once, in queue order
//! (tier, then deadline, then change number).

use super::change::Approval;
use super::policy::{Policy, TierAssessment};
use super::sla::SlaClock;

#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub approval: Approval,
    pub tier: TierAssessment,
    pub sla: SlaClock,
}

/// Classifies and orders approvals for the queue.
pub fn build_queue(policy: &Policy, approvals: Vec<Approval>) -> Vec<QueueEntry> {
    let mut entries: Vec<QueueEntry> = approvals
        .into_iter()
        .map(|approval| {
            let tier = policy.classify(&approval.change);
            let sla = SlaClock::for_approval(policy, tier.tier, &approval);
            QueueEntry {
                approval,
                tier,
                sla,
            }
        })
        .collect();
    entries.sort_by(|a, b| {
        (a.tier.tier, a.sla.deadline, &a.approval.change.number).cmp(&(
            b.tier.tier,
            b.sla.deadline,
            &b.approval.change.number,
        ))
    });
    entries
}
