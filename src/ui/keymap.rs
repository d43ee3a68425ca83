//! Keys as the user writes them (`a`, `G`, `Enter`, `Ctrl-S`, `Shift-Tab`, `PgDn`), and the
//! keymap: the registry's default keys with the user's `[keys]` overrides merged over them.
//! A conflict or an unknown command is reported with its line and the defaults stay usable.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::{COMMANDS, Cmd, Context, command};

/// A key press, normalised: letters carry their case instead of Shift; Shift-Tab is Tab with
/// Shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Key {
        let mut mods =
            e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match e.code {
            KeyCode::BackTab => {
                mods |= KeyModifiers::SHIFT;
                KeyCode::Tab
            }
            KeyCode::Char(c) => {
                mods -= KeyModifiers::SHIFT;
                // Ctrl-S arrives as Ctrl + 's' (or 'S' with Shift): one key either way.
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            other => other,
        };
        Key { code, mods }
    }

    /// The event this key stands for (for tests, and the headless run loop).
    pub fn event(&self) -> KeyEvent {
        KeyEvent::new(self.code, self.mods)
    }

    /// Reads a key as written in the config file or shown on screen.
    pub fn parse(spec: &str) -> Result<Key, String> {
        let bad = || {
            format!(
                "“{spec}” is not a key (examples: a, G, ?, Enter, Esc, Space, Tab, Shift-Tab, Ctrl-S, Alt-x, PgDn, Home, F5)"
            )
        };
        let mut mods = KeyModifiers::NONE;
        let mut rest = spec.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") || lower.starts_with("ctrl+") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") || lower.starts_with("alt+") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") || lower.starts_with("shift+") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == len {
                break;
            }
            mods |= m;
            rest = &rest[len..];
        }
        let named = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => Some(KeyCode::Enter),
            "esc" | "escape" => Some(KeyCode::Esc),
            "tab" => Some(KeyCode::Tab),
            "backtab" => {
                mods |= KeyModifiers::SHIFT;
                Some(KeyCode::Tab)
            }
            "space" => Some(KeyCode::Char(' ')),
            "backspace" => Some(KeyCode::Backspace),
            "delete" | "del" => Some(KeyCode::Delete),
            "insert" | "ins" => Some(KeyCode::Insert),
            "up" | "↑" => Some(KeyCode::Up),
            "down" | "↓" => Some(KeyCode::Down),
            "left" | "←" => Some(KeyCode::Left),
            "right" | "→" => Some(KeyCode::Right),
            "pgup" | "pageup" => Some(KeyCode::PageUp),
            "pgdn" | "pagedown" => Some(KeyCode::PageDown),
            "home" => Some(KeyCode::Home),
            "end" => Some(KeyCode::End),
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                let n: u8 = f[1..].parse().map_err(|_| bad())?;
                if !(1..=24).contains(&n) {
                    return Err(bad());
                }
                Some(KeyCode::F(n))
            }
            _ => None,
        };
        let code = match named {
            Some(c) => c,
            None => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    // Shift-a is the key that types A.
                    (Some(c), None) if mods.contains(KeyModifiers::SHIFT) && c.is_alphabetic() => {
                        KeyCode::Char(c.to_uppercase().next().unwrap_or(c))
                    }
                    (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Key::from_event(&KeyEvent::new(code, mods)))
    }

    /// A key that types a character (no Ctrl or Alt): in a text field it is text.
    pub fn types(&self) -> bool {
        matches!(self.code, KeyCode::Char(_))
            && !self
                .mods
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }

    /// The key as shown on screen: `j`, `↓`, `Ctrl-S`, `Shift-Tab`, `Space`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            out.push_str("Shift-");
        }
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => {
                c.to_ascii_uppercase().to_string()
            }
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Delete => "Delete".into(),
            KeyCode::Insert => "Insert".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        out.push_str(&name);
        out
    }
}

/// A `[keys]` entry from the config file: a command name, its keys, and the line it is on.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOverride {
    pub command: String,
    pub keys: Vec<String>,
    pub line: usize,
}

/// Which command a key means in each context, and the keys of each command.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: HashMap<(Context, Key), Cmd>,
    keys: HashMap<Cmd, Vec<Key>>,
    /// What was wrong with the user's overrides, one sentence each (with the line).
    pub problems: Vec<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::with_overrides(&[])
    }
}

/// Commands that must keep a key: without them a dialog, form or screen could not be left,
/// answered or sent.
const ESSENTIAL: &[Cmd] = &[
    Cmd::Cancel,
    Cmd::Interrupt,
    Cmd::Quit,
    Cmd::Back,
    Cmd::Send,
    Cmd::Yes,
    Cmd::No,
    Cmd::Run,
];

impl Keymap {
    /// The defaults with `overrides` merged over them. An override naming no command, with a
    /// key that is not a key, or taking a key another command uses in the same context, is
    /// reported, and that command keeps its default keys.
    pub fn with_overrides(overrides: &[KeyOverride]) -> Keymap {
        let defaults: HashMap<Cmd, Vec<Key>> = COMMANDS
            .iter()
            .map(|c| {
                let keys = c
                    .keys
                    .iter()
                    .map(|k| Key::parse(k).expect("the registry's keys parse"))
                    .collect();
                (c.cmd, keys)
            })
            .collect();
        let mut problems = Vec::new();
        let mut chosen = defaults.clone();
        let mut from_user: HashMap<Cmd, &KeyOverride> = HashMap::new();
        for o in overrides {
            let Some(c) = COMMANDS.iter().find(|c| c.name == o.command) else {
                let hint = closest(&o.command)
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                problems.push(format!(
                    "line {}: [keys] {}: there is no command of that name{hint}; the line is ignored.",
                    o.line, o.command
                ));
                continue;
            };
            match o
                .keys
                .iter()
                .map(|k| Key::parse(k))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(keys) if keys.is_empty() && ESSENTIAL.contains(&c.cmd) => {
                    problems.push(format!(
                        "line {}: [keys] {}: this command needs a key (without one, some screens could not be left or finished); {} keeps {}.",
                        o.line,
                        o.command,
                        c.name,
                        labels(&defaults[&c.cmd])
                    ));
                }
                Ok(keys) => {
                    let typed = keys.iter().find_map(|k| {
                        c.contexts
                            .iter()
                            .find(|ctx| ctx.takes_text() && k.types())
                            .map(|ctx| (*k, *ctx))
                    });
                    if let Some((key, ctx)) = typed {
                        problems.push(format!(
                            "line {}: [keys] {}: {} would be typed as text {}; use a key with Ctrl or Alt, or a named key such as F2; {} keeps {}.",
                            o.line,
                            o.command,
                            key.label(),
                            ctx.place(),
                            c.name,
                            labels(&defaults[&c.cmd])
                        ));
                        continue;
                    }
                    chosen.insert(c.cmd, keys);
                    from_user.insert(c.cmd, o);
                }
                Err(e) => problems.push(format!(
                    "line {}: [keys] {}: {e}; {} keeps {}.",
                    o.line,
                    o.command,
                    c.name,
                    labels(&defaults[&c.cmd])
                )),
            }
        }
        // Overrides that clash with another command in a shared context go back to their
        // defaults, until nothing clashes.
        loop {
            let mut seen: HashMap<(Context, Key), Cmd> = HashMap::new();
            let mut revert: Option<(Cmd, Cmd, Key, Context)> = None;
            'all: for c in COMMANDS {
                for key in &chosen[&c.cmd] {
                    for ctx in c.contexts {
                        match seen.get(&(*ctx, *key)) {
                            Some(other) if *other != c.cmd => {
                                let culprit = if from_user.contains_key(&c.cmd) {
                                    (c.cmd, *other)
                                } else {
                                    (*other, c.cmd)
                                };
                                revert = Some((culprit.0, culprit.1, *key, *ctx));
                                break 'all;
                            }
                            _ => {
                                seen.insert((*ctx, *key), c.cmd);
                            }
                        }
                    }
                }
            }
            let Some((cmd, other, key, ctx)) = revert else {
                break;
            };
            let Some(o) = from_user.remove(&cmd) else {
                // Two defaults clash: a registry mistake the tests catch; keep going.
                break;
            };
            problems.push(format!(
                "line {}: [keys] {}: {} is already {} {}; {} keeps {}.",
                o.line,
                o.command,
                key.label(),
                command(other).name,
                ctx.place(),
                o.command,
                labels(&defaults[&cmd])
            ));
            chosen.insert(cmd, defaults[&cmd].clone());
        }
        let mut bindings = HashMap::new();
        for c in COMMANDS {
            for key in &chosen[&c.cmd] {
                for ctx in c.contexts {
                    bindings.entry((*ctx, *key)).or_insert(c.cmd);
                }
            }
        }
        Keymap {
            bindings,
            keys: chosen,
            problems,
        }
    }

    /// The command `key` means in `ctx`, if any.
    pub fn lookup(&self, ctx: Context, key: &KeyEvent) -> Option<Cmd> {
        self.bindings.get(&(ctx, Key::from_event(key))).copied()
    }

    /// The keys of a command.
    pub fn keys(&self, cmd: Cmd) -> &[Key] {
        self.keys.get(&cmd).map_or(&[], Vec::as_slice)
    }

    /// The first key of a command, as shown: what prose and hints name (`e`, `Ctrl-S`).
    pub fn key(&self, cmd: Cmd) -> String {
        self.keys(cmd).first().map_or(String::new(), Key::label)
    }

    /// Every key of a command, `↓ / j`.
    pub fn all_keys(&self, cmd: Cmd) -> String {
        labels(self.keys(cmd))
    }
}

fn labels(keys: &[Key]) -> String {
    keys.iter().map(Key::label).collect::<Vec<_>>().join(" / ")
}

/// The command name closest to a misspelt one (one edit away, or a prefix).
fn closest(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|c| c.name)
        .find(|n| n.starts_with(name) || edit_distance(n, name) <= 2)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_and_show_the_same() {
        for (spec, label) in [
            ("a", "a"),
            ("G", "G"),
            ("?", "?"),
            ("Enter", "Enter"),
            ("esc", "Esc"),
            ("Space", "Space"),
            ("Shift-Tab", "Shift-Tab"),
            ("BackTab", "Shift-Tab"),
            ("Ctrl-S", "Ctrl-S"),
            ("ctrl+s", "Ctrl-S"),
            ("Alt-x", "Alt-x"),
            ("PgDn", "PgDn"),
            ("Down", "↓"),
            ("↑", "↑"),
            ("F5", "F5"),
            ("Shift-a", "A"),
        ] {
            let k = Key::parse(spec).unwrap();
            assert_eq!(k.label(), label, "{spec}");
            assert_eq!(Key::parse(&k.label()).unwrap(), k, "{spec} round-trips");
        }
        assert!(Key::parse("Ctl-S").is_err());
        assert!(Key::parse("ab").is_err());
        assert!(Key::parse("F99").is_err());
        assert!(Key::parse("").is_err());
        // What the terminal sends maps to the same keys.
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&shifted), Key::parse("G").unwrap());
        let backtab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&backtab), Key::parse("Shift-Tab").unwrap());
    }
}
