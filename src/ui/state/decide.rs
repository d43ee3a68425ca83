//! The decision dialog: one decision and one justification for one or more approvals, with
//! live validation, the drafts kept when it is closed, and the second confirmation asked
//! before stopping a risky change.

use std::collections::HashMap;

use ratatui::style::{Modifier, Style};
use ratatui_textarea::{TextArea, WrapMode};

use crate::domain::governance::{Deviation, RiskAcceptance, deviations_of};
use crate::domain::{Approval, DecisionKind, Justification, JustificationError, Policy, RiskTier};

/// The risk acceptance an approval outside the standard path asks for, in the same dialog.
pub struct RiskField {
    /// The deviations, by approval sys_id, with the change number.
    pub deviating: Vec<(String, String, Vec<Deviation>)>,
    pub editor: TextArea<'static>,
    /// The senior role the policy says must also approve these deviations.
    pub senior_role: Option<String>,
    /// The acceptance of each deviating approval as typed now, or why it cannot be given.
    pub verdict: Result<Vec<(String, RiskAcceptance)>, String>,
}

fn editor(text: &str, placeholder: String) -> TextArea<'static> {
    let lines: Vec<String> = if text.is_empty() {
        vec![String::new()]
    } else {
        text.lines().map(str::to_string).collect()
    };
    let mut editor = TextArea::new(lines);
    editor.set_wrap_mode(WrapMode::WordOrGlyph);
    // No colours here (the theme is the views' business): modifiers only, NO_COLOR-safe.
    editor.set_cursor_line_style(Style::default());
    editor.set_selection_style(Style::default().add_modifier(Modifier::REVERSED));
    editor.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    editor.set_placeholder_text(placeholder);
    editor.move_cursor(ratatui_textarea::CursorMove::Bottom);
    editor.move_cursor(ratatui_textarea::CursorMove::End);
    editor
}

pub struct DecideModal {
    pub kind: DecisionKind,
    /// The approvals it is for, in queue order, with their tiers (all of them accept `kind`).
    pub targets: Vec<(Approval, RiskTier)>,
    /// Chosen approvals the decision does not apply to, left out.
    pub left_out: usize,
    pub editor: TextArea<'static>,
    /// The text as validated now.
    pub verdict: Result<Justification, JustificationError>,
    /// The second confirmation is showing (reject or hold on a Critical or Emergency change).
    pub confirming: bool,
    /// What changed on the server since the user looked (deciding again on a conflict).
    pub note: Option<String>,
    /// Approving outside the standard path: the risk acceptance asked for.
    pub risk: Option<RiskField>,
    /// The risk acceptance field has the keys (Tab switches).
    pub on_risk: bool,
}

impl DecideModal {
    pub fn new(
        kind: DecisionKind,
        targets: Vec<(Approval, RiskTier)>,
        left_out: usize,
        text: &str,
        policy: &Policy,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DecideModal {
        let editor = editor(text, format!("Why do you {} this change?", kind.verb()));
        // Only approving can leave the standard path.
        let deviating = if kind == DecisionKind::Approve {
            let approvals: Vec<Approval> = targets.iter().map(|(a, _)| a.clone()).collect();
            deviations_of(policy, &approvals, now)
        } else {
            Vec::new()
        };
        let all: Vec<Deviation> = deviating.iter().flat_map(|(_, d)| d.clone()).collect();
        let senior_role = policy.deviations.senior_needed(&all);
        let risk = (!deviating.is_empty()).then(|| RiskField {
            senior_role,
            deviating: deviating
                .into_iter()
                .map(|(id, d)| {
                    let number = targets
                        .iter()
                        .find(|(a, _)| a.sys_id == id)
                        .map(|(a, _)| a.change.number.clone())
                        .unwrap_or_default();
                    (id, number, d)
                })
                .collect(),
            editor: self::editor(
                "",
                "Which risk do you accept, and why is it acceptable?".into(),
            ),
            verdict: Err(String::new()),
        });
        let mut m = DecideModal {
            kind,
            targets,
            left_out,
            editor,
            verdict: Err(JustificationError::Empty(kind)),
            confirming: false,
            note: None,
            risk,
            on_risk: false,
        };
        m.validate(policy);
        m
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// Characters of the justification as it will be sent (trimmed).
    pub fn length(&self) -> usize {
        self.text().trim().chars().count()
    }

    pub fn validate(&mut self, policy: &Policy) {
        self.verdict = Justification::parse(&self.text(), self.kind, &policy.justification);
        if let Some(r) = self.risk.as_mut() {
            let statement = r.editor.lines().join("\n");
            r.verdict = r
                .deviating
                .iter()
                .map(|(id, _, d)| {
                    RiskAcceptance::new(&policy.deviations, d.clone(), &statement)
                        .map(|a| (id.clone(), a))
                })
                .collect();
        }
    }

    /// Both the justification and any risk acceptance asked for are valid.
    pub fn ready(&self) -> bool {
        self.verdict.is_ok() && self.risk.as_ref().is_none_or(|r| r.verdict.is_ok())
    }

    /// The risk acceptances to record, by approval sys_id (none on the standard path).
    pub fn accepted(&self) -> Vec<(String, RiskAcceptance)> {
        self.risk
            .as_ref()
            .and_then(|r| r.verdict.clone().ok())
            .unwrap_or_default()
    }

    /// The editor the keys go to.
    pub fn focused(&mut self) -> &mut TextArea<'static> {
        match self.risk.as_mut() {
            Some(r) if self.on_risk => &mut r.editor,
            _ => &mut self.editor,
        }
    }

    /// Tab: the other field, when there are two.
    pub fn switch_field(&mut self) {
        self.on_risk = self.risk.is_some() && !self.on_risk;
    }

    /// Pasted text, its line breaks kept whatever their style (CRLF, CR or LF).
    pub fn paste(&mut self, text: &str, policy: &Policy) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.focused().insert_str(text);
        self.validate(policy);
    }

    /// The approvals whose tier makes this decision ask for a second confirmation.
    pub fn risky(&self) -> Vec<&(Approval, RiskTier)> {
        self.targets
            .iter()
            .filter(|(_, t)| self.kind.needs_confirmation(*t))
            .collect()
    }

    /// The key its draft is kept under: the approvals it is for.
    pub fn draft_key(&self) -> String {
        draft_key(self.targets.iter().map(|(a, _)| a))
    }

    /// The confirmation question, e.g. `Reject CHG0030042 (Critical)? This stops the change.`
    pub fn question(&self) -> String {
        let risky = self.risky();
        let what = match (self.targets.len(), risky.as_slice()) {
            (1, [(a, t)]) => format!("{} ({})", a.change.number, t.label()),
            (n, [(a, t)]) => format!(
                "{n} changes, {} ({}) among them",
                a.change.number,
                t.label()
            ),
            (n, r) => format!("{n} changes, {} of them Critical or Emergency", r.len()),
        };
        let one = self.targets.len() == 1;
        let effect = match (self.kind, one) {
            (DecisionKind::Reject, true) => "This stops the change.",
            (DecisionKind::Reject, false) => "This stops them.",
            (_, true) => "This pauses the change and its timers.",
            (_, false) => "This pauses them and their timers.",
        };
        let verb = match self.kind {
            DecisionKind::Hold => "Put on hold",
            k => k.title(),
        };
        format!("{verb} {what}? {effect}")
    }
}

/// The key drafts are kept under: the approvals a decision is for, in any order.
pub fn draft_key<'a>(approvals: impl Iterator<Item = &'a Approval>) -> String {
    let mut ids: Vec<&str> = approvals.map(|a| a.sys_id.as_str()).collect();
    ids.sort_unstable();
    ids.join(",")
}

/// Justifications typed and not sent, by the approvals they were for.
#[derive(Debug, Default)]
pub struct Drafts(HashMap<String, String>);

impl Drafts {
    pub fn keep(&mut self, key: String, text: String) {
        if text.trim().is_empty() {
            self.0.remove(&key);
        } else {
            self.0.insert(key, text);
        }
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}
