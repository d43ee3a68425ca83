//! The decision dialog: one decision and one justification for one or more approvals, with
//! live validation, the drafts kept when it is closed, and the second confirmation asked
//! before stopping a risky change.

use std::collections::HashMap;

use ratatui::style::{Modifier, Style};
use ratatui_textarea::{TextArea, WrapMode};

use crate::domain::{Approval, DecisionKind, Justification, JustificationError, Policy, RiskTier};

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
}

impl DecideModal {
    pub fn new(
        kind: DecisionKind,
        targets: Vec<(Approval, RiskTier)>,
        left_out: usize,
        text: &str,
        policy: &Policy,
    ) -> DecideModal {
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
        editor.set_placeholder_text(format!("Why do you {} this change?", kind.verb()));
        editor.move_cursor(ratatui_textarea::CursorMove::Bottom);
        editor.move_cursor(ratatui_textarea::CursorMove::End);
        let mut m = DecideModal {
            kind,
            targets,
            left_out,
            editor,
            verdict: Err(JustificationError::Empty(kind)),
            confirming: false,
            note: None,
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
    }

    /// Pasted text, its line breaks kept whatever their style (CRLF, CR or LF).
    pub fn paste(&mut self, text: &str, policy: &Policy) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.editor.insert_str(text);
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
