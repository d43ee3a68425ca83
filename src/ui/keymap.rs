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
    /// Queue: cycle the person filter (all, mine, for each delegator).
    Filter,
    /// Open (or close) the delegation screen.
    Delegations,
    /// Delegation screen: give a new delegation.
    NewDelegation,
    /// Delegation screen: change the window of the selected given delegation.
    EditDelegation,
    /// Delegation screen: end the selected given delegation now.
    EndDelegation,
    /// Delegation form: next / previous field.
    NextField,
    PrevField,
    /// Delegation form: choose the highlighted person from the pick list.
    Choose,
    /// Delegation form: toggle the approvals field.
    Toggle,
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
        action: Action::Filter,
        keys: "f",
        description: "filter the queue: all → mine → for each person who delegated to you",
        footer: None,
    },
    Command {
        action: Action::Delegations,
        keys: "D",
        description: "delegations given and received (new, edit, end)",
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

/// The keys of the delegation screen.
pub const DELEGATION_COMMANDS: &[Command] = &[
    Command {
        action: Action::Down,
        keys: "↓ / j",
        description: "next delegation",
        footer: Some("move"),
    },
    Command {
        action: Action::Up,
        keys: "↑ / k",
        description: "previous delegation",
        footer: None,
    },
    Command {
        action: Action::NewDelegation,
        keys: "n",
        description: "give a new delegation",
        footer: Some("new"),
    },
    Command {
        action: Action::EditDelegation,
        keys: "e",
        description: "change the window of the selected given delegation",
        footer: Some("edit"),
    },
    Command {
        action: Action::EndDelegation,
        keys: "x",
        description: "end the selected given delegation now (asks first)",
        footer: Some("end"),
    },
    Command {
        action: Action::Back,
        keys: "Esc / D",
        description: "back to the queue",
        footer: Some("back"),
    },
    Command {
        action: Action::Refresh,
        keys: "r",
        description: "refresh now",
        footer: None,
    },
    Command {
        action: Action::Help,
        keys: "?",
        description: "help",
        footer: Some("help"),
    },
    Command {
        action: Action::Quit,
        keys: "q / Ctrl-C",
        description: "quit",
        footer: None,
    },
];

/// The keys of the delegation form (every other key types into the field).
pub const FORM_COMMANDS: &[Command] = &[
    Command {
        action: Action::NextField,
        keys: "Tab",
        description: "next field",
        footer: Some("next field"),
    },
    Command {
        action: Action::PrevField,
        keys: "Shift-Tab",
        description: "previous field",
        footer: None,
    },
    Command {
        action: Action::Down,
        keys: "↓",
        description: "next match",
        footer: None,
    },
    Command {
        action: Action::Up,
        keys: "↑",
        description: "previous match",
        footer: None,
    },
    Command {
        action: Action::Choose,
        keys: "Enter",
        description: "pick the delegate from the matches",
        footer: Some("pick"),
    },
    Command {
        action: Action::Toggle,
        keys: "Space",
        description: "turn approvals on or off (on that field)",
        footer: None,
    },
    Command {
        action: Action::Send,
        keys: "Ctrl-S",
        description: "save (when the form is valid)",
        footer: Some("save"),
    },
    Command {
        action: Action::Back,
        keys: "Esc",
        description: "cancel",
        footer: Some("cancel"),
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
        KeyCode::Char('f') => Action::Filter,
        KeyCode::Char('D') => Action::Delegations,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

/// The action a key means on the delegation screen.
pub fn delegation_action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        _ if ctrl => return None,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Char('n') => Action::NewDelegation,
        KeyCode::Char('e') => Action::EditDelegation,
        KeyCode::Char('x') => Action::EndDelegation,
        KeyCode::Esc | KeyCode::Char('D') => Action::Back,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}

/// The action a key means in the delegation form; `None`: the key types into the field.
/// (Space toggles only on the approvals field; the form decides.)
pub fn form_action_for(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Action::Quit),
        KeyCode::Char('s') if ctrl => Some(Action::Send),
        KeyCode::Esc => Some(Action::Back),
        KeyCode::BackTab => Some(Action::PrevField),
        KeyCode::Tab if key.modifiers.contains(KeyModifiers::SHIFT) => Some(Action::PrevField),
        KeyCode::Tab => Some(Action::NextField),
        KeyCode::Down => Some(Action::Down),
        KeyCode::Up => Some(Action::Up),
        KeyCode::Enter => Some(Action::Choose),
        _ => None,
    }
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
        for c in "jkgGarqxpuedfD? ".chars() {
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
        for c in "jknexDrq?".chars() {
            let a =
                delegation_action_for(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)).unwrap();
            assert!(listed(DELEGATION_COMMANDS, a), "{c:?} -> {a:?} not listed");
        }
        for code in [
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Up,
            KeyCode::Down,
        ] {
            let a = form_action_for(KeyEvent::new(code, KeyModifiers::NONE)).unwrap();
            assert!(listed(FORM_COMMANDS, a), "{code:?} -> {a:?} not listed");
        }
        assert_eq!(
            form_action_for(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            None,
            "letters type into the form"
        );
        for c in ['y', 'n'] {
            let a = confirm_action_for(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            assert!(listed(CONFIRM_COMMANDS, a.unwrap()));
        }
    }
}
