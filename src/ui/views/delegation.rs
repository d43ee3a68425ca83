//! The delegation screen (given and received, full screen), the new / edit form and the
//! pick list of people, drawn over it. Keys shown here come from the command registry.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Padding, Paragraph};

use super::decide::{centred, hint_line};
use crate::domain::{Delegation, DelegationStatus, UserRef};
use crate::ui::commands::Cmd;
use crate::ui::format;
use crate::ui::format::fit;
use crate::ui::state::{AppState, DelegationForm, FormField};
use crate::ui::theme::Theme;

/// Pick-list rows shown at most.
const MATCHES_SHOWN: usize = 5;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let block = Block::bordered()
        .title(Span::styled(" Delegations ", theme.style("heading")))
        .border_style(theme.style("border_focus"))
        .padding(Padding::horizontal(1));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;

    let me = state.user.as_ref().map(|u| u.sys_id.as_str());
    let (given, received) = state.delegations.lists(me);
    let mut lines = Vec::new();
    lines.push(Line::styled(
        format!("Given — who acts for you ({})", given.len()),
        theme.style("heading"),
    ));
    if given.is_empty() {
        lines.push(Line::styled(
            format!(
                "   none — {} gives one before you go away",
                state.keymap.key(Cmd::NewDelegation)
            ),
            theme.style("muted"),
        ));
    }
    for (i, d) in given.iter().enumerate() {
        let cursor = state.delegations.cursor == i;
        lines.push(row(d, &d.delegate, cursor, state, now, width, theme));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!("Received — whom you act for ({})", received.len()),
        theme.style("heading"),
    ));
    if received.is_empty() {
        lines.push(Line::styled("   none", theme.style("muted")));
    }
    for (i, d) in received.iter().enumerate() {
        let cursor = state.delegations.cursor == given.len() + i;
        lines.push(row(d, &d.user, cursor, state, now, width, theme));
    }
    lines.push(Line::from(""));
    let note = format!(
        "Times in your zone ({}); whether a delegation is active follows the instance's clock. Active delegations to you bring their approvals into your queue, marked “for …”; {} filters by person.",
        state.tz_label,
        state.keymap.key(Cmd::Filter)
    );
    lines.extend(
        format::wrap(&note, width)
            .into_iter()
            .map(|l| Line::styled(l, theme.style("muted"))),
    );
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `▶ Bob Lee   Sat 20 Dec – Sat 03 Jan   active   approvals yes`.
fn row<'a>(
    d: &Delegation,
    person: &UserRef,
    cursor: bool,
    state: &AppState,
    now: DateTime<Utc>,
    width: usize,
    theme: &Theme,
) -> Line<'a> {
    let status = d.status(now);
    let base = if cursor {
        theme.style("selection")
    } else {
        Style::default()
    };
    let name = person.label();
    let status_style = theme.style(match status {
        DelegationStatus::Active => "status.online",
        DelegationStatus::Upcoming => "status.busy",
        DelegationStatus::Expired => "muted",
    });
    let spans = vec![
        Span::styled(
            if cursor { " ▶ " } else { "   " },
            base.patch(theme.style("key")),
        ),
        Span::styled(fit(name, 24), base.patch(theme.style("text"))),
        Span::styled(fit(&format::days(d.starts, d.ends, state.tz), 26), base),
        Span::styled(fit(status.label(), 10), base.patch(status_style)),
        Span::styled(
            if d.approvals {
                "approvals yes"
            } else {
                "approvals no"
            },
            base,
        ),
    ];
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let mut spans = spans;
    if cursor && used < width {
        spans.push(Span::styled(" ".repeat(width - used), base));
    }
    Line::from(spans)
}

/// The new / edit form, over the screen.
pub fn form(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(form) = &state.delegations.form else {
        return;
    };
    let width = 76.min(area.width.saturating_sub(2));
    let inner_w = width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let label = |field: FormField, text: &'static str| {
        let focused = form.field == field;
        Span::styled(
            format!("{}{text:<11}", if focused { "› " } else { "  " }),
            theme.style(if focused { "key" } else { "muted" }),
        )
    };
    let value = |field: FormField, text: &str| {
        let focused = form.field == field;
        let mut t = text.to_string();
        if focused {
            t.push('▏');
        }
        Span::styled(
            t,
            if focused {
                theme.style("text")
            } else {
                Style::default()
            },
        )
    };
    if form.editing.is_none() {
        let mut spans = vec![
            label(FormField::Delegate, "Delegate"),
            value(FormField::Delegate, &form.query),
        ];
        if form.delegate.is_some() {
            spans.push(Span::styled("  ✓ chosen", theme.style("status.online")));
        } else if form.searching {
            spans.push(Span::styled("  searching…", theme.style("status.busy")));
        }
        lines.push(Line::from(spans));
        lines.extend(pick_list(form, theme));
    } else if let Some(d) = &form.delegate {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<11}", "Delegate"), theme.style("muted")),
            Span::raw(d.label().to_string()),
        ]));
    }
    lines.push(Line::from(vec![
        label(FormField::Starts, "Start"),
        value(FormField::Starts, &form.starts),
    ]));
    lines.push(Line::from(vec![
        label(FormField::Ends, "End"),
        value(FormField::Ends, &form.ends),
    ]));
    if form.editing.is_none() {
        let who = form
            .delegate
            .as_ref()
            .map_or("your delegate".to_string(), |d| d.label().to_string());
        let text = if form.approvals {
            format!("[x] yes — {who} may approve and reject for you")
        } else {
            format!("[ ] no — {who} may not decide your approvals")
        };
        lines.push(Line::from(vec![
            label(FormField::Approvals, "Approvals"),
            Span::raw(text),
        ]));
    }
    let note = format!(
        "Local time ({}): YYYY-MM-DD HH:MM, or YYYY-MM-DD for the start / end of that day.",
        state.tz_label
    );
    lines.extend(
        format::wrap(&note, inner_w.saturating_sub(2))
            .into_iter()
            .map(|l| Line::styled(format!("  {l}"), theme.style("muted"))),
    );
    lines.push(Line::from(""));
    let (sentence, style) = match (&form.refused, &form.verdict) {
        (Some(why), _) => (format!("✖ Not saved: {why}"), theme.style("error")),
        (None, Err(why)) => (format!("✖ {why}"), theme.style("error")),
        (None, Ok(_)) if form.saving => ("… saving".to_string(), theme.style("status.busy")),
        (None, Ok(_)) => (
            format!("Ready — {} to save", state.keymap.key(Cmd::Send)),
            theme.style("status.online"),
        ),
    };
    lines.extend(
        format::wrap(&sentence, inner_w)
            .into_iter()
            .map(|l| Line::styled(l, style)),
    );
    let k = |c| state.keymap.key(c);
    let hints = [
        (k(Cmd::NextField), "next field"),
        (k(Cmd::Choose), "pick"),
        (k(Cmd::Send), "save"),
        (k(Cmd::Cancel), "cancel"),
    ];
    lines.push(hint_line(&hints, "", theme));

    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = centred(area, width, height);
    frame.render_widget(Clear, popup);
    let title = match &form.editing {
        Some(_) => " Change the delegation's window ",
        None => " New delegation ",
    };
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(title, theme.style("heading")))
                .border_style(theme.style("border_focus"))
                .padding(Padding::horizontal(1)),
        ),
        popup,
    );
}

/// The people matching the typed name, the highlighted one marked `▶`.
fn pick_list<'a>(form: &DelegationForm, theme: &Theme) -> Vec<Line<'a>> {
    let indent = " ".repeat(13);
    if let Some(e) = &form.search_error {
        return vec![Line::styled(
            format!("{indent}✖ search failed: {e}"),
            theme.style("error"),
        )];
    }
    if form.delegate.is_some() {
        return vec![];
    }
    if form.matches.is_empty() {
        let text = if form.query.trim().chars().count() < 2 {
            "type two letters or more of a name"
        } else if form.searching {
            ""
        } else {
            "nobody matches"
        };
        if text.is_empty() {
            return vec![];
        }
        return vec![Line::styled(
            format!("{indent}{text}"),
            theme.style("muted"),
        )];
    }
    // A window of the matches around the highlighted one.
    let first = form
        .match_selected
        .saturating_sub(MATCHES_SHOWN - 1)
        .min(form.matches.len().saturating_sub(MATCHES_SHOWN));
    let mut out: Vec<Line> = form
        .matches
        .iter()
        .enumerate()
        .skip(first)
        .take(MATCHES_SHOWN)
        .map(|(i, u)| {
            let on = i == form.match_selected;
            let text = format!(
                "{indent}{} {} ({})",
                if on { "▶" } else { " " },
                u.name,
                u.user_name
            );
            Line::styled(
                text,
                if on {
                    theme.style("selection")
                } else {
                    Style::default()
                },
            )
        })
        .collect();
    if form.matches.len() > MATCHES_SHOWN {
        out.push(Line::styled(
            format!(
                "{indent}  {} matches; type more to narrow",
                form.matches.len()
            ),
            theme.style("muted"),
        ));
    }
    out
}
