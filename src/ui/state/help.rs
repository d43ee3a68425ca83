//! The `?` help: generated from the command registry (through the keymap, so the keys shown
//! are the keys that work), with the legends of the queue's marks. It scrolls and filters, so
//! nothing is cut off on a small terminal.

use super::super::commands::{COMMANDS, Context};
use super::super::format;
use super::super::keymap::Keymap;

#[derive(Debug, Clone, PartialEq)]
pub struct HelpState {
    /// The screen help was opened from.
    pub from: Context,
    pub scroll: usize,
    /// Words the lines must contain.
    pub filter: String,
    /// The filter is being typed.
    pub filtering: bool,
}

impl HelpState {
    pub fn new(from: Context) -> HelpState {
        HelpState {
            from,
            scroll: 0,
            filter: String::new(),
            filtering: false,
        }
    }
}

/// One line of the help before wrapping.
#[derive(Debug, Clone, PartialEq)]
pub enum HelpLine {
    Heading(String),
    Entry { keys: String, text: String },
    Note(String),
}

/// Width of the keys column.
pub const KEYS_WIDTH: usize = 16;

/// The help's lines for the screen it was opened from, filtered.
pub fn lines(help: &HelpState, keymap: &Keymap) -> Vec<HelpLine> {
    let contexts: &[Context] = match help.from {
        Context::Delegations => &[Context::Delegations, Context::Form, Context::Confirm],
        Context::Meetings | Context::Agenda | Context::Session => &[
            Context::Meetings,
            Context::Agenda,
            Context::Session,
            Context::Note,
            Context::Editor,
            Context::Confirm,
        ],
        _ => &[
            Context::Queue,
            Context::Detail,
            Context::Editor,
            Context::Confirm,
            Context::CommandLine,
        ],
    };
    let words: Vec<String> = help
        .filter
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let matches = |s: &str| {
        let s = s.to_lowercase();
        words.iter().all(|w| s.contains(w))
    };
    let mut out = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    for ctx in contexts {
        let mut section = Vec::new();
        for c in COMMANDS.iter().filter(|c| c.contexts.contains(ctx)) {
            // The detail shares most of the queue's keys: list those once.
            if *ctx == Context::Detail && shown.contains(&c.name) {
                continue;
            }
            let keys = keymap.all_keys(c.cmd);
            let description = c.description_in(*ctx);
            let text = if c.colon && !description.contains(&format!(":{}", c.name)) {
                format!("{description} (:{})", c.name)
            } else {
                description.to_string()
            };
            if keys.is_empty() && !c.colon {
                continue;
            }
            let keys = if keys.is_empty() {
                format!(":{}", c.name)
            } else {
                keys
            };
            if matches(&format!("{keys} {text} {}", c.name)) {
                section.push(HelpLine::Entry { keys, text });
            }
            shown.push(c.name);
        }
        if !section.is_empty() {
            out.push(HelpLine::Heading(ctx.title().to_string()));
            out.extend(section);
        }
    }
    let notes: &[&str] = if help.from == Context::Delegations {
        &[
            "States: upcoming (not started) · active (in force now) · expired. Times are in your zone; whether a delegation is active follows the instance's clock.",
        ]
    } else {
        &[
            "Rows: ▶ cursor · ● selected for a decision on several · ⚑ nobody present to decide it (the detail names whom to chase) · “for Carla Diaz ·” her approval, which you decide as her delegate.",
            "Decisions: queued (stored, waiting to be sent) · sending… · ✓ approved / ✓ on hold (applied on the server) · ! conflict (not applied; decide again or discard) · ✗ failed (refused; not applied).",
            "SLA: ! = warning (75% of the response time used) · BREACHED = past the deadline · on hold = timers stopped.",
            "Status bar: ● online · ⟳ syncing · ✖ OFFLINE (when the next retry is) · ◌ OFFLINE (--offline) · outbox = decisions not yet delivered.",
        ]
    };
    let notes: Vec<HelpLine> = notes
        .iter()
        .filter(|n| matches(n))
        .map(|n| HelpLine::Note(n.to_string()))
        .collect();
    if !notes.is_empty() {
        out.push(HelpLine::Heading("Legend".into()));
        out.extend(notes);
    }
    if out.is_empty() {
        out.push(HelpLine::Note(format!(
            "Nothing matches “{}”. Esc clears the filter.",
            help.filter
        )));
    }
    out
}

/// The screen rows each line takes at `width`: one `HelpLine` per row (an entry's wrapped
/// text continues with empty keys).
pub fn rows(lines: &[HelpLine], width: usize) -> Vec<Vec<HelpLine>> {
    let text_w = width.saturating_sub(KEYS_WIDTH + 2).max(10);
    lines
        .iter()
        .map(|l| match l {
            HelpLine::Heading(t) => vec![HelpLine::Heading(t.clone())],
            HelpLine::Entry { keys, text } => format::wrap(text, text_w)
                .into_iter()
                .enumerate()
                .map(|(i, t)| HelpLine::Entry {
                    keys: if i == 0 { keys.clone() } else { String::new() },
                    text: t,
                })
                .collect(),
            HelpLine::Note(t) => format::wrap(t, width.saturating_sub(2).max(10))
                .into_iter()
                .map(HelpLine::Note)
                .collect(),
        })
        .collect()
}

/// The popup's inner size for a terminal of `w`×`h`: (width, visible rows).
pub fn size(w: u16, h: u16) -> (usize, usize) {
    let width = 96.min(w.saturating_sub(2)) as usize;
    // Borders and the filter / position line.
    let rows = h.saturating_sub(2 + 2 + 1) as usize;
    (width.saturating_sub(2), rows.max(1))
}
