//! My decisions, newest first (issue 16): what I decided, on whose behalf, why, where it
//! ended, and whether the change moved afterwards (asked again, or edited since), as gh-dash
//! marks items that changed after they were done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::{Approval, ApprovalState, UserRef};
use super::decision::{Decision, DecisionKind, Delivery};
use super::text::clean_line;

/// A decision the server records on an approval of mine, or one I made on someone's (in the
/// web UI, another tool, or signoff on another machine): read from the approval rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerDecision {
    pub approval_sys_id: String,
    pub number: String,
    pub title: String,
    /// `approved` or `rejected`.
    pub state: String,
    /// When the approval row last changed (its decision, as far as the row tells).
    pub decided_at: Option<DateTime<Utc>>,
    /// Whose approval it is.
    pub approver: UserRef,
    /// The login that last updated it (`sys_updated_by`).
    pub decided_by: String,
    /// The newest comment on the approval, if the instance shows it.
    pub comment: String,
    /// `approval_source`: the rule or policy that made or decided it, if any.
    #[serde(default)]
    pub source: String,
}

impl ServerDecision {
    /// Made or decided by the instance itself: what it says about itself.
    pub fn automated(&self) -> Option<String> {
        super::governance::automation_of(&self.source, &self.approver.sys_id, &self.decided_by)
    }

    /// Cleans every server string (ids are checked by the adapter).
    pub fn sanitize(&mut self) {
        for s in [
            &mut self.number,
            &mut self.state,
            &mut self.decided_by,
            &mut self.approver.name,
            &mut self.source,
        ] {
            *s = clean_line(s, 80);
        }
        self.title = clean_line(&self.title, 200);
        self.comment = clean_line(&self.comment, 400);
    }
}

/// The server's decisions as they were last read, and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerHistory {
    pub read_at: Option<DateTime<Utc>>,
    pub decisions: Vec<ServerDecision>,
}

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
    /// Someone else decided this approval of mine (their login), as the server says.
    pub by: Option<String>,
    /// The instance decided it itself (a rule, a policy, the system account): how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<String>,
    /// The risk acceptance given with it (an approval outside the standard path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_accepted: Option<String>,
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

/// The rows of `decisions` (signoff's outbox) and of `server` (decisions the server records
/// that the outbox does not hold: made in the web UI or elsewhere), newest first;
/// `current(approval_sys_id)` is the approval as the queue holds it now; `me` is my sys_id
/// and login.
pub fn rows(
    decisions: &[(Decision, Delivery)],
    server: &[ServerDecision],
    me: Option<(&str, &str)>,
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
            justification: clean_line(d.justification.as_str(), 400),
            moved: moved_since(d, delivery, current(&d.approval_sys_id).as_ref()),
            by: None,
            automated: None,
            risk_accepted: d
                .risk_acceptance
                .as_ref()
                .map(|r| clean_line(&r.statement, 400)),
        })
        .collect();
    let ours: std::collections::HashSet<&str> = decisions
        .iter()
        .filter(|(d, _)| matches!(d.kind, DecisionKind::Approve | DecisionKind::Reject))
        .map(|(d, _)| d.approval_sys_id.as_str())
        .collect();
    let (my_id, my_login) = me.unwrap_or_default();
    for s in server
        .iter()
        .filter(|s| !ours.contains(s.approval_sys_id.as_str()))
    {
        let Some(at) = s.decided_at else { continue };
        let mine = !my_id.is_empty() && s.approver.sys_id == my_id;
        let asked_again =
            current(&s.approval_sys_id).is_some_and(|a| a.state == ApprovalState::Requested);
        out.push(HistoryRow {
            decided_at: at,
            number: s.number.clone(),
            title: s.title.clone(),
            approval_sys_id: s.approval_sys_id.clone(),
            decision: match s.state.as_str() {
                "approved" => "approve".into(),
                "rejected" => "reject".into(),
                other => other.to_string(),
            },
            outcome: "elsewhere".into(),
            on_behalf_of: (!mine).then(|| s.approver.label().to_string()),
            justification: s.comment.clone(),
            moved: asked_again.then(|| "asked again since".into()),
            by: (mine
                && s.automated().is_none()
                && !s.decided_by.is_empty()
                && !s.decided_by.eq_ignore_ascii_case(my_login))
            .then(|| s.decided_by.clone()),
            automated: s.automated(),
            risk_accepted: None,
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.decided_at));
    out
}
