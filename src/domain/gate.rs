//! The deployment gate: whether a change may be deployed to an environment now, and the
//! evidence when it may. Pure: the change as the instance has it, the environment, the policy
//! and the instance's time come in.
//!
//! A hold or a rejection always wins over an approval (an automated one included); then the
//! change must be approved, now inside its planned window, and of a tier whose approval the
//! policy lets cover that environment.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::cab::{AgendaApproval, justification_of};
use super::change::{ApprovalState, Change};
use super::policy::Policy;

/// What the gate reads of a change on the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeStatus {
    pub change: Change,
    /// `change_request.approval`: `approved`, `requested`, `rejected`, `not requested`, …
    pub approval: String,
    /// Its approvals, with the latest comment of each.
    pub approvals: Vec<AgendaApproval>,
}

/// Why the gate is closed. Each has its exit code (documented in the README).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such change, or the account may not read it.
    Unknown,
    OnHold,
    Rejected,
    NotApproved,
    /// The planned window has not opened yet.
    TooEarly,
    /// The planned window is over, or there is none.
    OutsideWindow,
    /// The change's tier does not cover the environment.
    WrongTier,
    /// The change is closed or canceled: its approval authorises nothing any more.
    Closed,
}

impl Refusal {
    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::NotApproved => 10,
            Refusal::Rejected => 11,
            Refusal::OnHold => 12,
            Refusal::TooEarly | Refusal::OutsideWindow => 13,
            Refusal::WrongTier => 14,
            Refusal::Unknown => 15,
            Refusal::Closed => 16,
        }
    }

    /// Whether waiting could open the gate (an approval still to come, a hold that may be
    /// released, a window not open yet).
    pub fn may_change(&self) -> bool {
        matches!(
            self,
            Refusal::NotApproved | Refusal::OnHold | Refusal::TooEarly
        )
    }
}

/// The record a deployment log keeps when the gate opens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub change: String,
    pub change_sys_id: String,
    pub short_description: String,
    pub environment: String,
    pub tier: String,
    pub tier_reason: String,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// The instance's time of the check.
    pub checked_at: DateTime<Utc>,
    pub approvals: Vec<EvidenceApproval>,
    pub controls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceApproval {
    pub approver: String,
    pub state: String,
    /// When the approval row last changed (its decision).
    pub decided_at: Option<DateTime<Utc>>,
    pub justification: String,
    /// Who decided, when a delegate did it for the approver.
    pub by_delegate: Option<String>,
}

/// Judges the gate for `environment` at `now` (the instance's time): the evidence, or why not
/// and a sentence saying it.
pub fn judge(
    status: &ChangeStatus,
    environment: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Evidence, (Refusal, String)> {
    let c = &status.change;
    let n = &c.number;
    let rejected: Vec<&str> = status
        .approvals
        .iter()
        .filter(|a| a.approval.state == ApprovalState::Rejected)
        .map(|a| a.approval.approver.label())
        .collect();
    let state = c.state.trim().to_lowercase();
    if matches!(
        state.as_str(),
        "closed" | "canceled" | "cancelled" | "3" | "4"
    ) {
        return Err((
            Refusal::Closed,
            format!(
                "{n} is {}: a closed or canceled change authorises no deployment.",
                c.state.trim()
            ),
        ));
    }
    if c.on_hold {
        return Err((
            Refusal::OnHold,
            format!("{n} is on hold: a hold stops deployment whatever its approvals say."),
        ));
    }
    if status.approval.eq_ignore_ascii_case("rejected") || !rejected.is_empty() {
        let who = if rejected.is_empty() {
            String::new()
        } else {
            format!(" (by {})", rejected.join(", "))
        };
        return Err((
            Refusal::Rejected,
            format!(
                "{n} was rejected{who}: a rejection stops deployment whatever other approvals say."
            ),
        ));
    }
    if !status.approval.eq_ignore_ascii_case("approved") {
        let waiting: Vec<&str> = status
            .approvals
            .iter()
            .filter(|a| a.approval.state == ApprovalState::Requested)
            .map(|a| a.approval.approver.label())
            .collect();
        let detail = if waiting.is_empty() {
            format!("its approval is {:?}", status.approval)
        } else {
            format!("waiting for {}", waiting.join(", "))
        };
        return Err((
            Refusal::NotApproved,
            format!("{n} is not approved yet ({detail})."),
        ));
    }
    let (Some(start), Some(end)) = (c.start_date, c.end_date) else {
        return Err((
            Refusal::OutsideWindow,
            format!(
                "{n} has no planned window (start and end dates): nothing says when it may be deployed."
            ),
        ));
    };
    if now < start {
        return Err((
            Refusal::TooEarly,
            format!(
                "{n}'s planned window opens at {} (instance time {}).",
                start.format("%Y-%m-%d %H:%M UTC"),
                now.format("%H:%M UTC")
            ),
        ));
    }
    if now > end {
        return Err((
            Refusal::OutsideWindow,
            format!(
                "{n}'s planned window closed at {}: an approval covers its window only.",
                end.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    let tier = policy.classify(c);
    if let Err(lowest) = policy.covers(tier.tier, environment) {
        return Err((
            Refusal::WrongTier,
            format!(
                "{n} is a {} change; the policy lets only changes of tier {} or above deploy to {environment}.",
                tier.tier.label(),
                lowest.label()
            ),
        ));
    }
    Ok(Evidence {
        change: n.clone(),
        change_sys_id: c.sys_id.clone(),
        short_description: c.short_description.clone(),
        environment: super::text::clean_line(environment, 40),
        tier: tier.tier.label().to_string(),
        tier_reason: tier.reason,
        window_start: Some(start),
        window_end: Some(end),
        checked_at: now,
        approvals: status
            .approvals
            .iter()
            .map(|a| {
                let (justification, by_delegate) = justification_of(&a.comment);
                EvidenceApproval {
                    approver: a.approval.approver.label().to_string(),
                    state: a.approval.state.value().to_string(),
                    decided_at: a.approval.sys_updated_on,
                    justification,
                    by_delegate,
                }
            })
            .collect(),
        controls: policy.controls_for(c),
    })
}
