//! Governance (issue 17): the policy under change control (its hash, a diff of a changed
//! policy, the confirmation that puts it in force) and deviations from the standard approval
//! path, which need a risk acceptance of their own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::{ChangeType, Risk};
use super::policy::{Policy, RiskTier};
use super::queue::QueueEntry;
use super::text::clean_line;

/// The policy as text: TOML, in the policy's own field order; what its hash and diffs are
/// taken over.
pub fn policy_text(policy: &Policy) -> String {
    toml::to_string(policy).unwrap_or_else(|e| format!("# the policy could not be written: {e}\n"))
}

/// The policy's hash: SHA-256 over [`policy_text`], hex.
pub fn policy_hash(policy: &Policy) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(policy_text(policy).as_bytes()))
}

/// The first 12 hex digits, for people.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The policy that was confirmed last, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmedPolicy {
    pub hash: String,
    pub policy: Policy,
    pub confirmed_by: String,
    pub confirmed_at: DateTime<Utc>,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "line", rename_all = "lowercase")]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

impl DiffLine {
    /// `  line`, `+ line`, `- line`.
    pub fn render(&self) -> String {
        match self {
            DiffLine::Same(l) => format!("  {l}"),
            DiffLine::Added(l) => format!("+ {l}"),
            DiffLine::Removed(l) => format!("- {l}"),
        }
    }
}

/// The lines of `new` against `old` (longest common subsequence; policies are short).
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the common length of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // A changed line reads old first, then new.
            out.push(DiffLine::Removed(a[i].to_string()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_string()));
            j += 1;
        }
    }
    out
}

/// Only the changed lines of a diff, with up to `context` unchanged lines around each.
pub fn changed_lines(d: &[DiffLine], context: usize) -> Vec<DiffLine> {
    let changed: Vec<usize> = (0..d.len())
        .filter(|&i| !matches!(d[i], DiffLine::Same(_)))
        .collect();
    (0..d.len())
        .filter(|&i| {
            changed
                .iter()
                .any(|&c| i + context >= c && i <= c + context)
        })
        .map(|i| d[i].clone())
        .collect()
}

/// The policy file says something other than the confirmed policy: what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReview {
    pub confirmed: ConfirmedPolicy,
    pub proposed: Policy,
    pub proposed_hash: String,
    pub diff: Vec<DiffLine>,
}

impl PolicyReview {
    /// A review of `proposed` against `confirmed`, `None` when they are the same policy.
    pub fn of(confirmed: &ConfirmedPolicy, proposed: &Policy) -> Option<PolicyReview> {
        let proposed_hash = policy_hash(proposed);
        (proposed_hash != confirmed.hash).then(|| PolicyReview {
            diff: diff(&policy_text(&confirmed.policy), &policy_text(proposed)),
            confirmed: confirmed.clone(),
            proposed: proposed.clone(),
            proposed_hash,
        })
    }

    /// The sentence that says so, with what to do.
    pub fn sentence(&self) -> String {
        format!(
            "The policy in the config file ({}) differs from the confirmed one ({}, by {} on {}); signoff uses the confirmed policy until the change is confirmed: `signoff policy diff` shows it, `signoff policy confirm` puts it in force.",
            short_hash(&self.proposed_hash),
            short_hash(&self.confirmed.hash),
            clean_line(&self.confirmed.confirmed_by, 80),
            self.confirmed.confirmed_at.format("%Y-%m-%d %H:%M UTC"),
        )
    }

    /// The question that puts it in force.
    pub fn question(&self) -> String {
        format!(
            "Put policy {} in force in place of {} (confirmed by {} on {})? The journal records who confirmed it.",
            short_hash(&self.proposed_hash),
            short_hash(&self.confirmed.hash),
            clean_line(&self.confirmed.confirmed_by, 80),
            self.confirmed.confirmed_at.format("%Y-%m-%d %H:%M UTC"),
        )
    }

    /// What confirming it did, once it is confirmed (`now`, by `by`).
    pub fn confirmed_sentence(&self, now: &ConfirmedPolicy) -> String {
        format!(
            "Policy {} confirmed by {} and in force, in place of {}; the journal records it.",
            short_hash(&now.hash),
            clean_line(&now.confirmed_by, 80),
            short_hash(&self.confirmed.hash)
        )
    }
}

/// `[policy.automation]`: which approval sources approve by themselves at the due date
/// (a review window that ends in approval unless the change is paused). The instance's values
/// are not documented, so the policy names them: a source containing any of these texts,
/// ignoring case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Automation {
    pub auto_approve: Vec<String>,
}

impl Default for Automation {
    fn default() -> Self {
        Automation {
            auto_approve: vec!["auto-approve".into()],
        }
    }
}

/// When `a` approves by itself (its source auto-approves at the due date), while it waits
/// and its change is not paused.
pub fn auto_approves_at(policy: &Policy, a: &super::change::Approval) -> Option<DateTime<Utc>> {
    if a.source.is_empty() {
        return None;
    }
    let source = a.source.to_lowercase();
    let auto = policy
        .automation
        .auto_approve
        .iter()
        .any(|m| !m.trim().is_empty() && source.contains(&m.trim().to_lowercase()));
    (auto && a.state == super::change::ApprovalState::Requested && !a.change.on_hold)
        .then_some(a.due_date)
        .flatten()
}

/// What an approval made or decided by the instance says about itself: its rule (source),
/// or that the system account (or no approver at all) decided it. `None`: a person's.
pub fn automation_of(source: &str, approver_sys_id: &str, decided_by: &str) -> Option<String> {
    if !source.trim().is_empty() {
        Some(format!("by rule: {}", clean_line(source, 120)))
    } else if approver_sys_id.trim().is_empty() || decided_by.eq_ignore_ascii_case("system") {
        Some("by the system".into())
    } else {
        None
    }
}

/// A way of approving outside the standard path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationKind {
    /// Approving after the approval's SLA breached.
    AfterBreach,
    /// Approving a change whose window has already started.
    WindowStarted,
    /// Approving an emergency change no CAB has reviewed.
    EmergencyWithoutCab,
    /// Approving a change riskier than the tier's approvers may accept alone.
    RiskAboveTier,
}

impl DeviationKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviationKind::AfterBreach => "after_breach",
            DeviationKind::WindowStarted => "window_started",
            DeviationKind::EmergencyWithoutCab => "emergency_without_cab",
            DeviationKind::RiskAboveTier => "risk_above_tier",
        }
    }
}

/// `[policy.deviations]`: what counts as a deviation, and who else must approve one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deviations {
    pub after_breach: bool,
    pub window_started: bool,
    pub emergency_without_cab: bool,
    /// Per tier, the highest change risk its approvers accept alone (`high = "moderate"`:
    /// a High-tier approver approving a High or Very High risk change deviates).
    pub max_risk: BTreeMap<RiskTier, Risk>,
    /// The role that must also approve a deviation of the kinds in `senior_for`, e.g.
    /// `Change Manager`; empty: none is named.
    pub senior_role: String,
    pub senior_for: Vec<DeviationKind>,
    /// The shortest risk-acceptance statement, in characters.
    pub min_statement: usize,
}

impl Default for Deviations {
    fn default() -> Self {
        // None until the policy names them: what counts as a deviation is the organisation's.
        Deviations {
            after_breach: false,
            window_started: false,
            emergency_without_cab: false,
            max_risk: BTreeMap::new(),
            senior_role: String::new(),
            senior_for: vec![DeviationKind::RiskAboveTier],
            min_statement: 20,
        }
    }
}

impl Deviations {
    /// The senior role that must also approve `deviations`, where the policy names one.
    pub fn senior_needed(&self, deviations: &[Deviation]) -> Option<String> {
        (!self.senior_role.trim().is_empty()
            && deviations.iter().any(|d| self.senior_for.contains(&d.kind)))
        .then(|| self.senior_role.trim().to_string())
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.min_statement) {
            return Err(format!(
                "policy.deviations.min_statement is {}; it must be between 1 and 1000 characters",
                self.min_statement
            ));
        }
        if self.senior_role.chars().count() > 80 || !super::text::is_clean(&self.senior_role) {
            return Err(
                "policy.deviations.senior_role must be one line of at most 80 characters".into(),
            );
        }
        Ok(())
    }
}

/// One deviation of one approval: its kind and the sentence that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    pub kind: DeviationKind,
    /// The sentence, times in UTC (as the server's comment and the journal keep it).
    pub why: String,
    /// The time it turns on (the breach, the window's start), for showing in a viewer's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl Deviation {
    /// The sentence with its time written by `local` (the console's zone).
    pub fn local(&self, local: &dyn Fn(DateTime<Utc>) -> String) -> String {
        match (self.kind, self.at) {
            (DeviationKind::AfterBreach, Some(t)) => format!("its SLA breached {}", local(t)),
            (DeviationKind::WindowStarted, Some(t)) => {
                format!("its window started {}", local(t))
            }
            _ => self.why.clone(),
        }
    }
}

/// The deviations approving `entry` at `now` would make. A CAB has reviewed a change when
/// the instance records its recommendation. Only approvals deviate: rejecting or holding is
/// never outside the standard path.
pub fn deviations(rules: &Deviations, entry: &QueueEntry, now: DateTime<Utc>) -> Vec<Deviation> {
    let mut out = Vec::new();
    let c = &entry.approval.change;
    let cab_reviewed = !c.cab_recommendation.trim().is_empty();
    if rules.after_breach && !c.on_hold && now >= entry.sla.deadline {
        out.push(Deviation {
            kind: DeviationKind::AfterBreach,
            why: format!(
                "its SLA breached at {}",
                entry.sla.deadline.format("%Y-%m-%d %H:%M UTC")
            ),
            at: Some(entry.sla.deadline),
        });
    }
    if rules.window_started
        && let Some(start) = c.start_date
        && now >= start
    {
        out.push(Deviation {
            kind: DeviationKind::WindowStarted,
            why: format!(
                "its window started at {}",
                start.format("%Y-%m-%d %H:%M UTC")
            ),
            at: Some(start),
        });
    }
    if rules.emergency_without_cab && c.change_type == Some(ChangeType::Emergency) && !cab_reviewed
    {
        out.push(Deviation {
            kind: DeviationKind::EmergencyWithoutCab,
            why: "it is an emergency change no CAB has reviewed".into(),
            at: None,
        });
    }
    if let (Some(max), Some(risk)) = (rules.max_risk.get(&entry.tier.tier), c.risk)
        && risk < *max
    {
        out.push(Deviation {
            kind: DeviationKind::RiskAboveTier,
            why: format!(
                "its risk {} is above what {} approvers accept alone ({})",
                risk.label(),
                entry.tier.tier.label(),
                max.label()
            ),
            at: None,
        });
    }
    out
}

/// The deviations of approving each of `approvals` now, by approval sys_id (only those
/// that deviate).
pub fn deviations_of(
    policy: &Policy,
    approvals: &[super::change::Approval],
    now: DateTime<Utc>,
) -> Vec<(String, Vec<Deviation>)> {
    approvals
        .iter()
        .map(|a| {
            let entry = QueueEntry::new(policy, a.clone());
            (
                a.sys_id.clone(),
                deviations(&policy.deviations, &entry, now),
            )
        })
        .filter(|(_, d)| !d.is_empty())
        .collect()
}

/// The statement an approver makes when approving outside the standard path, kept with the
/// decision (server comment, journal, exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAcceptance {
    pub statement: String,
    pub deviations: Vec<Deviation>,
    /// The senior role that must also approve, where the policy names one for these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub senior_role: Option<String>,
}

impl RiskAcceptance {
    /// The acceptance of `deviations` with `statement`, or the sentence saying what is missing.
    pub fn new(
        rules: &Deviations,
        deviations: Vec<Deviation>,
        statement: &str,
    ) -> Result<RiskAcceptance, String> {
        let statement = super::text::sanitize_multiline(statement.trim());
        let n = statement.chars().count();
        if n < rules.min_statement {
            return Err(format!(
                "Approving this deviates from the standard path ({}): write a risk acceptance of at least {} characters ({n} so far).",
                deviations
                    .iter()
                    .map(|d| d.why.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                rules.min_statement
            ));
        }
        let senior_role = rules.senior_needed(&deviations);
        Ok(RiskAcceptance {
            statement: super::text::cap_chars(&statement, 2000),
            deviations,
            senior_role,
        })
    }

    /// The kinds, comma separated (`after_breach,window_started`).
    pub fn kinds(&self) -> String {
        self.deviations
            .iter()
            .map(|d| d.kind.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What is written to the server's journal after the justification.
    pub fn comment(&self) -> String {
        let why: Vec<&str> = self.deviations.iter().map(|d| d.why.as_str()).collect();
        let mut out = format!("Risk accepted ({}): {}", why.join("; "), self.statement);
        if let Some(role) = &self.senior_role {
            out.push_str(&format!("\nAlso to be approved by: {role}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_keep_order_and_mark_changes() {
        let d = diff("a\nb\nc\nd", "a\nc\nx\nd");
        let r: Vec<String> = d.iter().map(DiffLine::render).collect();
        assert_eq!(r, ["  a", "- b", "  c", "+ x", "  d"]);
        assert_eq!(changed_lines(&d, 0).len(), 2);
        assert_eq!(changed_lines(&d, 1).len(), 5);
        assert!(
            diff("same", "same")
                .iter()
                .all(|l| matches!(l, DiffLine::Same(_)))
        );
    }

    #[test]
    fn the_hash_follows_every_setting() {
        let p = Policy::default();
        let h = policy_hash(&p);
        assert_eq!(h, policy_hash(&p.clone()));
        assert_eq!(h.len(), 64);
        let mut q = p.clone();
        q.sla_hours.critical = 5.0;
        assert_ne!(policy_hash(&q), h);
        let mut r = p.clone();
        r.deviations.senior_role = "Change Manager".into();
        assert_ne!(policy_hash(&r), h);
    }
}
