//! My decisions, newest first (issue 16): what I decided, on whose behalf, why, where it
//! ended, and whether the change moved afterwards (asked again, or edited since), as gh-dash
//! marks items that changed after they were done.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::change::{Approval, ApprovalState};
use super::decision::{Decision, DecisionKind, Delivery};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    pub decided_at: DateTime<Utc>,
    pub number: String,
    pub title: String,
    pub approval_sys_id: String,
    pub decision: String,
    /// Where it ended: applied, queued, conflict, failed, superseded.
    pub outcome: String,
    pub on_behalf_of: Option<String>,
    pub justification: String,
    /// How the change moved after the decision, when it did.
    pub moved: Option<String>,
}

/// How the approval moved after `d` was applied, judged from its copy in the queue now
/// (`None` when it left the queue, as a decided approval does).
pub fn moved_since(d: &Decision, delivery: &Delivery, now: Option<&Approval>) -> Option<String> {
    let a = now?;
    let applied = matches!(delivery, Delivery::Applied { .. });
    let decided = matches!(d.kind, DecisionKind::Approve | DecisionKind::Reject);
    if applied && decided && a.state == ApprovalState::Requested {
        return Some("asked again since".into());
    }
    let edited = |t: Option<DateTime<Utc>>, seen: Option<DateTime<Utc>>| matches!((t, seen), (Some(t), Some(s)) if t > s);
    if edited(a.change.sys_updated_on, d.seen.change.sys_updated_on) {
        return Some("the change was edited since".into());
    }
    None
}

/// The rows of `decisions`, newest first; `current(approval_sys_id)` is the approval as the
/// queue holds it now.
pub fn rows(
    decisions: &[(Decision, Delivery)],
    current: &dyn Fn(&str) -> Option<Approval>,
) -> Vec<HistoryRow> {
    let mut out: Vec<HistoryRow> = decisions
        .iter()
        .map(|(d, delivery)| HistoryRow {
            decided_at: d.created_at,
            number: d.change_number.clone(),
            title: d.seen.change.short_description.clone(),
            approval_sys_id: d.approval_sys_id.clone(),
            decision: d.kind.verb().to_string(),
            outcome: delivery.label().to_string(),
            on_behalf_of: d.on_behalf_of.as_ref().map(|u| u.label().to_string()),
            justification: super::text::clean_line(d.justification.as_str(), 400),
            moved: moved_since(d, delivery, current(&d.approval_sys_id).as_ref()),
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.decided_at));
    out
}
