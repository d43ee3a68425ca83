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
        action: Action::Back,
        keys: "Esc",
        description: "back to the queue / close",
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

/// The footer hint text, e.g. `↓/j move · Tab tier · …`.
pub fn footer_hints() -> Vec<(&'static str, &'static str)> {
    COMMANDS
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
        KeyCode::Esc => Action::Back,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('q') => Action::Quit,
        _ => return None,
    })
}
