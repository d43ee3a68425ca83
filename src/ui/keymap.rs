//! One registry of commands: it maps keys to actions and generates the footer and help, so the
//! hints on screen never disagree with what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextTier,
    PrevTier,
    OpenDetail,
    /// Decide on the selected change (or the multi-selection).
    Approve,
    Reject,
    Hold,
    Resume,
    /// Add the selected row to the multi-selection (or take it out) and move down.
    ToggleSelect,
    /// Decide again on a change whose decision is in conflict or failed.
    Redecide,
    /// Drop a decision in conflict or failed.
    Discard,
    /// In the decision dialog: send the decision.
    Send,
    /// In the confirmation: go ahead.
    Confirm,
    Back,
    Refresh,
    Help,
    Quit,
}

pub struct Command {
    pub action: Action,
    /// The keys as shown to the user.
    pub keys: &'static str,
    pub description: &'static str,
    /// Shown in the footer (short label), if any.
    pub footer: Option<&'static str>,
}

pub const COMMANDS: &[Command] = &[
    Command {
        action: Action::Down,
        keys: "↓ / j",
        description: "next change",
        footer: Some("move"),
    },
    Command {
        action: Action::Up,
        keys: "↑ / k",
        description: "previous change",
        footer: None,
    },
    Command {
        action: Action::PageDown,
        keys: "PgDn",
        description: "page down",
        footer: None,
    },
    Command {
        action: Action::PageUp,
        keys: "PgUp",
        description: "page up",
        footer: None,
    },
    Command {
        action: Action::Top,
        keys: "g / Home",
        description: "first change",
        footer: None,
    },
    Command {
        action: Action::Bottom,
        keys: "G / End",
        description: "last change",
        footer: None,
    },
    Command {
        action: Action::NextTier,
        keys: "Tab",
        description: "next risk tier",
        footer: Some("tier"),
    },
    Command {
        action: Action::PrevTier,
        keys: "Shift-Tab",
        description: "previous risk tier",
        footer: None,
    },
    Command {
        action: Action::OpenDetail,
        keys: "Enter",
        description: "open the change in full (j/k scroll it)",
        footer: Some("detail"),
    },
    Command {
        action: Action::Approve,
        keys: "a",
        description: "approve the change (or the selected ones)",
        footer: Some("approve"),
    },
    Command {
        action: Action::Reject,
        keys: "x",
        description: "reject the change (or the selected ones)",
        footer: Some("reject"),
    },
    Command {
        action: Action::Hold,
        keys: "p",
        description: "put the change on hold (pauses it and its timers)",
        footer: Some("hold"),
    },
    Command {
        action: Action::Resume,
        keys: "u",
        description: "release the hold on a change",
        footer: None,
    },
    Command {
        action: Action::ToggleSelect,
        keys: "Space",
        description: "select the change for a decision on several (again: unselect)",
        footer: Some("select"),
    },
    Command {
        action: Action::Redecide,
        keys: "e",
        description: "decide again on a change in conflict or failed",
        footer: None,
    },
    Command {
        action: Action::Discard,
        keys: "d",
        description: "discard a decision in conflict or failed",
        footer: None,
    },
    Command {
        action: Action::Back,
        keys: "Esc",
        description: "back to the queue / clear the selection / close",
        footer: None,
    },
    Command {
        action: Action::Refresh,
        keys: "r",
        description: "refresh the queue now",
        footer: Some("refresh"),
    },
    Command {
        action: Action::Help,
        keys: "?",
        description: "this help",
        footer: Some("help"),
    },
    Command {
        action: Action::Quit,
        keys: "q / Ctrl-C",
        description: "quit",
        footer: Some("quit"),
    },
];

/// The keys of the decision dialog (every other key types into the justification).
pub const EDITOR_COMMANDS: &[Command] = &[
    Command {
        action: Action::Send,
        keys: "Ctrl-S",
        description: "send the decision (when the justification is valid)",
        footer: Some("send"),
    },
    Command {
        action: Action::Back,
        keys: "Esc",
        description: "cancel the decision (the text is dropped)",
        footer: Some("cancel"),
    },
    Command {
        action: Action::Quit,
        keys: "Ctrl-C",
        description: "quit",
        footer: None,
    },
];

/// The keys of the second confirmation asked before stopping a risky change.
pub const CONFIRM_COMMANDS: &[Command] = &[
    Command {
        action: Action::Confirm,
        keys: "y",
        description: "confirm and send",
        footer: Some("confirm"),
    },
    Command {
        action: Action::Back,
        keys: "n / Esc",
        description: "back to the justification",
        footer: Some("back"),
    },
];

/// The footer hint text, e.g. `↓/j move · Tab tier · …`.
pub fn footer_hints() -> Vec<(&'static str, &'static str)> {
    hints(COMMANDS)
}

/// `(key, label)` pairs of the commands of a registry that have a footer label.
pub fn hints(commands: &'static [Command]) -> Vec<(&'static str, &'static str)> {
    commands
        .iter()
        .filter_map(|c| c.footer.map(|f| (short_key(c.keys), f)))
        .collect()
}

fn short_key(keys: &'static str) -> &'static str {
    keys.split(" / ").next().unwrap_or(keys)
}

/// The action a key press means.
pub fn action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        _ if ctrl => return None,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::BackTab => Action::PrevTier,
        KeyCode::Tab if key.modifiers.contains(KeyModifiers::SHIFT) => Action::PrevTier,
        KeyCode::Tab => Action::NextTier,
        KeyCode::Enter => Action::OpenDetail,
        KeyCode::Char('a') => Action::Approve,
        KeyCode::Char('x') => Action::Reject,
        KeyCode::Char('p') => Action::Hold,
        KeyCode::Char('u') => Action::Resume,
        KeyCode::Char(' ') => Action::ToggleSelect,
        KeyCode::Char('e') => Action::Redecide,
        KeyCode::Char('d') => Action::Discard,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

/// The action a key means in the decision dialog; `None`: the key goes to the text editor.
pub fn editor_action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Action::Quit),
        KeyCode::Char('s') if ctrl => Some(Action::Send),
        KeyCode::Esc => Some(Action::Back),
        _ => None,
    }
}

/// The action a key means in the confirmation; other keys do nothing.
pub fn confirm_action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Action::Quit),
        _ if ctrl => None,
        KeyCode::Char('y' | 'Y') => Some(Action::Confirm),
        KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Action::Back),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action a key produces is listed in its registry, so help and footer cover it.
    #[test]
    fn registries_cover_their_keys() {
        let listed = |cmds: &[Command], a: Action| cmds.iter().any(|c| c.action == a);
        for c in "jkgGarqxpued? ".chars() {
            let a = action_for(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)).unwrap();
            assert!(listed(COMMANDS, a), "{c:?} -> {a:?} is not in COMMANDS");
        }
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        for k in [
            ctrl('s'),
            ctrl('c'),
            KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
        ] {
            let a = editor_action_for(k).unwrap();
            assert!(listed(EDITOR_COMMANDS, a), "{a:?} not in EDITOR_COMMANDS");
        }
        assert_eq!(
            editor_action_for(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE)),
            None,
            "letters type into the justification"
        );
        for c in ['y', 'n'] {
            let a = confirm_action_for(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            assert!(listed(CONFIRM_COMMANDS, a.unwrap()));
        }
    }
}
