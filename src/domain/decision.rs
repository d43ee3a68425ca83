//! Decisions and their justifications.
//!
//! Every decision carries a written justification; the rules for it come from the policy, so
//! an organisation can ask for more words on a rejection than on an approval.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::{Approval, UserRef};
use super::policy::RiskTier;

/// What an approver decides about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Approve,
    Reject,
    /// Put the change on hold (its pending approvals pause; timers stop).
    Hold,
    /// Release the hold.
    Resume,
}

impl DecisionKind {
    pub const ALL: [DecisionKind; 4] = [
        DecisionKind::Approve,
        DecisionKind::Reject,
        DecisionKind::Hold,
        DecisionKind::Resume,
    ];

    /// `approve`, `reject`, `hold`, `resume`.
    pub fn verb(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Reject => "reject",
            DecisionKind::Hold => "hold",
            DecisionKind::Resume => "resume",
        }
    }

    /// `Approve`, `Reject`, `Put on hold`, `Release hold`.
    pub fn title(self) -> &'static str {
        match self {
            DecisionKind::Approve => "Approve",
            DecisionKind::Reject => "Reject",
            DecisionKind::Hold => "Put on hold",
            DecisionKind::Resume => "Release hold",
        }
    }

    /// `approved`, `rejected`, `put on hold`, `released`.
    pub fn past(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approved",
            DecisionKind::Reject => "rejected",
            DecisionKind::Hold => "put on hold",
            DecisionKind::Resume => "released",
        }
    }

    pub fn parse(s: &str) -> Option<DecisionKind> {
        DecisionKind::ALL.into_iter().find(|k| k.verb() == s)
    }

    /// Decisions that stop or delay a change ask for a second confirmation on the riskiest
    /// tiers, where a slip of the finger costs most.
    pub fn needs_confirmation(self, tier: RiskTier) -> bool {
        matches!(self, DecisionKind::Reject | DecisionKind::Hold)
            && matches!(tier, RiskTier::Emergency | RiskTier::Critical)
    }

    /// Whether this decision applies to an approval in this state.
    pub fn applies_to(self, approval: &Approval) -> Result<(), String> {
        use super::change::ApprovalState::*;
        let held = approval.change.on_hold;
        match (self, &approval.state, held) {
            (DecisionKind::Resume, _, true) => Ok(()),
            (DecisionKind::Resume, _, false) => {
                Err(format!("{} is not on hold.", approval.change.number))
            }
            (_, _, true) => Err(format!(
                "{} is on hold; release the hold before deciding.",
                approval.change.number
            )),
            (_, Requested, false) => Ok(()),
            (_, state, false) => Err(format!(
                "This approval is {}; only requested approvals can be decided.",
                state.value()
            )),
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// The policy's rules for justifications (the `[policy.justification]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JustificationRules {
    pub min_approve: usize,
    pub min_reject: usize,
    pub min_hold: usize,
    pub min_resume: usize,
    pub max: usize,
}

impl Default for JustificationRules {
    fn default() -> Self {
        JustificationRules {
            min_approve: 10,
            min_reject: 20,
            min_hold: 20,
            min_resume: 10,
            max: 4000,
        }
    }
}

impl JustificationRules {
    pub fn min_for(&self, kind: DecisionKind) -> usize {
        match kind {
            DecisionKind::Approve => self.min_approve,
            DecisionKind::Reject => self.min_reject,
            DecisionKind::Hold => self.min_hold,
            DecisionKind::Resume => self.min_resume,
        }
    }

    /// The rule in words, for the decision dialog.
    pub fn describe(&self, kind: DecisionKind) -> String {
        format!(
            "At least {} characters, at most {}; say why, in words (no control characters, not one character repeated).",
            self.min_for(kind),
            self.max
        )
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("min_approve", self.min_approve),
            ("min_reject", self.min_reject),
            ("min_hold", self.min_hold),
            ("min_resume", self.min_resume),
        ] {
            if v == 0 || v > self.max {
                return Err(format!(
                    "policy.justification.{name} is {v}; it must be at least 1 and at most max ({})",
                    self.max
                ));
            }
        }
        if self.max > 4000 {
            return Err(format!(
                "policy.justification.max is {}; ServiceNow keeps at most 4000 characters",
                self.max
            ));
        }
        Ok(())
    }
}

/// Why a justification cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JustificationError {
    #[error("Write a justification: say why you {0} this change.")]
    Empty(DecisionKind),
    #[error("Too short: {got} of at least {min} characters.")]
    TooShort { min: usize, got: usize },
    #[error("Too long: {got} characters; at most {max}.")]
    TooLong { max: usize, got: usize },
    #[error("Remove the control or escape characters (only line breaks and tabs are allowed).")]
    ControlCharacters,
    #[error("Write words, not one character or a short pattern repeated.")]
    Repetitive,
}

/// A validated justification: trimmed, long enough, short enough, printable, and not filler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Justification(String);

impl Justification {
    pub fn parse(
        text: &str,
        kind: DecisionKind,
        rules: &JustificationRules,
    ) -> Result<Justification, JustificationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(JustificationError::Empty(kind));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(JustificationError::ControlCharacters);
        }
        let got = trimmed.chars().count();
        let min = rules.min_for(kind);
        if got < min {
            return Err(JustificationError::TooShort { min, got });
        }
        if got > rules.max {
            return Err(JustificationError::TooLong {
                max: rules.max,
                got,
            });
        }
        if is_repetitive(trimmed) {
            return Err(JustificationError::Repetitive);
        }
        Ok(Justification(
            trimmed.replace("\r\n", "\n").replace('\r', "\n"),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when the text (ignoring whitespace and case) is one unit of up to three characters
/// repeated: "aaaaaaaaaa", "..........", "ok ok ok ok ok", "lolololol".
fn is_repetitive(text: &str) -> bool {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    (1..=3).any(|unit| {
        chars.len() >= unit * 2 && chars.iter().enumerate().all(|(i, c)| *c == chars[i % unit])
    })
}

/// One decision as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Unique per decision; sent with it so a retry can recognise it on the server.
    pub client_id: String,
    pub kind: DecisionKind,
    pub approval_sys_id: String,
    pub change_sys_id: String,
    pub change_number: String,
    pub justification: Justification,
    /// Who decided (login and name).
    pub acting_user: UserRef,
    /// The approver, when the acting user decided as their delegate.
    pub on_behalf_of: Option<UserRef>,
    pub created_at: DateTime<Utc>,
    /// The approval and change as the user saw them when deciding: if the server's copy moved
    /// since, the decision becomes a conflict instead of being sent.
    pub seen: Approval,
    /// The compliance controls the policy maps the change to (e.g. `SOX-ITGC-CM-02`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// The start of the hash of the decision's journal entry, written into the server's
    /// comment so the instance anchors the local journal (`None` until it is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// The hash of the policy in force when it was made ([`super::governance::policy_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// The risk acceptance of an approval outside the standard path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_acceptance: Option<super::governance::RiskAcceptance>,
}

impl Decision {
    /// The decisions a user made on a set of approvals with one justification: one each,
    /// acting as `user`, on behalf of the approver when that is someone else (a delegation).
    /// The ids and the time are given (`id` is asked once per decision), so this stays pure.
    pub fn for_approvals(
        kind: DecisionKind,
        justification: &Justification,
        approvals: &[Approval],
        user: &super::change::User,
        now: DateTime<Utc>,
        mut id: impl FnMut() -> String,
    ) -> Vec<Decision> {
        let acting = user.reference();
        approvals
            .iter()
            .map(|a| Decision {
                client_id: id(),
                kind,
                approval_sys_id: a.sys_id.clone(),
                change_sys_id: a.change.sys_id.clone(),
                change_number: a.change.number.clone(),
                justification: justification.clone(),
                acting_user: acting.clone(),
                on_behalf_of: (!a.approver.sys_id.is_empty() && a.approver.sys_id != user.sys_id)
                    .then(|| a.approver.clone()),
                created_at: now,
                seen: a.clone(),
                controls: Vec::new(),
                anchor: None,
                policy_hash: None,
                risk_acceptance: None,
            })
            .collect()
    }

    /// Names the compliance controls the policy maps each decision's change to, and the
    /// policy in force.
    pub fn tag_policy(decisions: &mut [Decision], policy: &super::policy::Policy) {
        let hash = super::governance::policy_hash(policy);
        for d in decisions {
            d.controls = policy.controls_for(&d.seen.change);
            d.policy_hash = Some(hash.clone());
        }
    }

    /// The text written to the server's journal: the justification, then a reference that
    /// lets a retry (and an auditor) find this decision.
    pub fn comment(&self) -> String {
        let mut text = self.justification.as_str().to_string();
        if let Some(principal) = &self.on_behalf_of {
            text.push_str(&format!(
                "\n\n(decided by {} on behalf of {})",
                self.acting_user.label(),
                principal.label()
            ));
        }
        if let Some(r) = &self.risk_acceptance {
            text.push_str("\n\n");
            text.push_str(&r.comment());
        }
        match &self.anchor {
            Some(j) => text.push_str(&format!("\n[signoff {} j {j}]", self.reference())),
            None => text.push_str(&format!("\n[signoff {}]", self.reference())),
        }
        text
    }

    /// The SHA-256 of the approval and change as the user saw them (hex).
    pub fn seen_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(&self.seen).unwrap_or_default();
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// The short reference written with the comment: `ref 3f9a1c2e`.
    pub fn reference(&self) -> String {
        let id: String = self.client_id.chars().take(12).collect();
        format!("ref {id}")
    }
}

/// Where a decision stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Delivery {
    /// Stored, not sent yet (offline or waiting its turn).
    Queued,
    /// Being sent; after a crash it is checked on the server before any resend.
    Sending,
    /// The server applied it.
    Applied { at: DateTime<Utc> },
    /// It can no longer apply as decided; the user re-decides or discards.
    Conflict { reason: String },
    /// The server refused it for a reason re-sending cannot fix.
    Failed { error: String },
    /// A newer decision on the same approval replaced it before it was delivered; it will
    /// never be sent.
    Superseded { by: String },
}

impl Delivery {
    pub fn label(&self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sending => "sending",
            Delivery::Applied { .. } => "applied",
            Delivery::Conflict { .. } => "conflict",
            Delivery::Failed { .. } => "failed",
            Delivery::Superseded { .. } => "superseded",
        }
    }

    pub fn is_pending(&self) -> bool {
        matches!(self, Delivery::Queued | Delivery::Sending)
    }

    /// Conflicts and failures wait for the user: re-decide, retry or discard.
    pub fn needs_attention(&self) -> bool {
        matches!(self, Delivery::Conflict { .. } | Delivery::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn justification_table() {
        use DecisionKind::*;
        use JustificationError as E;
        let r = JustificationRules::default();
        let cases: &[(&str, DecisionKind, Result<&str, E>)] = &[
            ("", Approve, Err(E::Empty(Approve))),
            ("   \n\t ", Reject, Err(E::Empty(Reject))),
            ("ok", Approve, Err(E::TooShort { min: 10, got: 2 })),
            ("  Looks fine.  ", Approve, Ok("Looks fine.")),
            ("Looks fine.", Reject, Err(E::TooShort { min: 20, got: 11 })),
            (
                "Backout plan is missing for the DB step.",
                Reject,
                Ok("Backout plan is missing for the DB step."),
            ),
            (
                "Vendor fix due Friday; hold it.",
                Hold,
                Ok("Vendor fix due Friday; hold it."),
            ),
            ("Vendor fix in.", Resume, Ok("Vendor fix in.")),
            ("aaaaaaaaaaaaaaaaaaaa", Reject, Err(E::Repetitive)),
            ("....................", Reject, Err(E::Repetitive)),
            ("ok ok ok ok ok ok ok", Approve, Err(E::Repetitive)),
            ("lolololololololololo", Reject, Err(E::Repetitive)),
            (
                "Fine \x1b[31mred\x1b[0m text",
                Approve,
                Err(E::ControlCharacters),
            ),
            ("Null\0byte in here", Approve, Err(E::ControlCharacters)),
            ("Line one\r\nline two", Approve, Ok("Line one\nline two")),
            ("Ünïcödé chärs ok", Approve, Ok("Ünïcödé chärs ok")),
        ];
        for (input, kind, want) in cases {
            let got = Justification::parse(input, *kind, &r);
            match want {
                Ok(text) => assert_eq!(got.unwrap().as_str(), *text, "{input:?}"),
                Err(e) => assert_eq!(got.unwrap_err(), *e, "{input:?}"),
            }
        }
        let long = "x".repeat(3999) + "y";
        assert!(Justification::parse(&long, Approve, &r).is_ok());
        let too_long = "word ".repeat(801);
        assert_eq!(
            Justification::parse(&too_long, Approve, &r).unwrap_err(),
            E::TooLong {
                max: 4000,
                got: 4004
            }
        );
    }

    #[test]
    fn errors_are_sentences() {
        let e = JustificationError::TooShort { min: 20, got: 4 };
        assert_eq!(e.to_string(), "Too short: 4 of at least 20 characters.");
        assert!(
            JustificationError::Empty(DecisionKind::Reject)
                .to_string()
                .contains("reject")
        );
    }

    #[test]
    fn confirmation_only_for_stopping_risky_changes() {
        use DecisionKind::*;
        assert!(Reject.needs_confirmation(RiskTier::Emergency));
        assert!(Hold.needs_confirmation(RiskTier::Critical));
        assert!(!Reject.needs_confirmation(RiskTier::High));
        assert!(!Approve.needs_confirmation(RiskTier::Emergency));
        assert!(!Resume.needs_confirmation(RiskTier::Critical));
    }

    #[test]
    fn rules_validate() {
        assert!(JustificationRules::default().validate().is_ok());
        let bad = JustificationRules {
            min_reject: 0,
            ..JustificationRules::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_reject"));
    }
}
