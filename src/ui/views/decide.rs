//! The decision dialog (justification editor) and its second confirmation, drawn over the
//! queue. Keys shown here come from the command registry.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Padding, Paragraph};

use crate::ui::commands::Cmd;
use crate::ui::format;
use crate::ui::state::{AppState, DecideModal};
use crate::ui::theme::Theme;

/// The dialog is never wider than this.
const MAX_WIDTH: u16 = 90;
/// Editor rows wanted when there is room.
const EDITOR_ROWS: usize = 8;
/// Editor rows kept even on the smallest terminal.
const EDITOR_MIN: usize = 2;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(modal) = &state.decide else {
        return;
    };
    let width = MAX_WIDTH.min(area.width.saturating_sub(2)).max(20);
    // Borders and one column of padding each side.
    let inner_w = width.saturating_sub(4) as usize;

    let top = top_lines(modal, state, inner_w, theme);
    let risk = modal
        .risk
        .as_ref()
        .map(|r| risk_lines(r, modal.on_risk, inner_w, state, theme));
    let max_h = area.height.saturating_sub(2).max(6) as usize;
    // Borders, the verdict and the key hints take 4 rows; the editor and the texts share the
    // rest, the editor keeping at least EDITOR_MIN. A risk acceptance takes its lines and
    // an editor of its own.
    let risk_wanted = risk.as_ref().map_or(0, |l| l.len() + RISK_ROWS);
    let wanted = top.len() + EDITOR_ROWS + 4 + risk_wanted;
    let height = wanted.min(max_h);
    let inner_h = height - 2;
    let risk_rows = risk_wanted.min(inner_h.saturating_sub(2 + 2 * EDITOR_MIN));
    let top_rows = top
        .len()
        .min(inner_h.saturating_sub(2 + EDITOR_MIN + risk_rows));
    let editor_rows = inner_h
        .saturating_sub(2 + top_rows + risk_rows)
        .min(EDITOR_ROWS);

    let popup = centred(area, width, height as u16);
    frame.render_widget(Clear, popup);
    let title = match modal.targets.as_slice() {
        [(a, _)] => format!(" {} {} ", modal.kind.title(), a.change.number),
        many => format!(" {} {} changes ", modal.kind.title(), many.len()),
    };
    let block = Block::bordered()
        .title(Span::styled(title, theme.style("heading")))
        .border_style(theme.style("border_focus"))
        .padding(Padding::horizontal(1));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);

    let mut y = inner.y;
    let row = |y: u16, h: usize| Rect {
        x: inner.x,
        y,
        width: inner.width,
        height: h as u16,
    };
    let top_len = top_rows;
    frame.render_widget(
        Paragraph::new(top.into_iter().take(top_len).collect::<Vec<_>>()),
        row(y, top_len),
    );
    y += top_len as u16;

    // The editor, with a bar at its left so it reads as a field without colour.
    let field = row(y, editor_rows);
    let gutter = Block::default()
        .borders(Borders::LEFT)
        .border_style(theme.style("border_focus"));
    let text_rect = gutter.inner(field);
    frame.render_widget(gutter, field);
    frame.render_widget(&modal.editor, text_rect);
    y += editor_rows as u16;

    // The risk acceptance: why the approval deviates, and the statement's own field.
    if let (Some(r), Some(lines)) = (&modal.risk, risk) {
        let editor_h = RISK_ROWS.min(risk_rows.saturating_sub(1)).max(1);
        let text_h = risk_rows.saturating_sub(editor_h);
        let shown = lines.len().min(text_h);
        // The label (the last line) stays; the reasons give way first.
        let mut kept: Vec<Line> = lines[..shown.saturating_sub(1)].to_vec();
        if shown > 0 {
            kept.push(lines[lines.len() - 1].clone());
        }
        frame.render_widget(Paragraph::new(kept), row(y, shown));
        y += shown as u16;
        let field = row(y, editor_h);
        let gutter = Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.style(if modal.on_risk {
                "border_focus"
            } else {
                "border"
            }));
        let text_rect = gutter.inner(field);
        frame.render_widget(gutter, field);
        frame.render_widget(&r.editor, text_rect);
        y += editor_h as u16;
    }

    let send = state.keymap.key(Cmd::Send);
    let rules = &state.policy.justification;
    // A live count against the policy's bounds.
    let counter = format!(
        "{} / {}–{} characters",
        modal.length(),
        rules.min_for(modal.kind),
        rules.max
    );
    let risk_error = modal
        .risk
        .as_ref()
        .and_then(|r| r.verdict.as_ref().err())
        .map(|_| {
            format!(
                "✖ Write the risk acceptance (at least {} characters; {} switches field)",
                state.policy.deviations.min_statement,
                state.keymap.key(Cmd::NextField)
            )
        });
    let mut verdict = match &modal.verdict {
        Err(e) => Line::styled(format!("✖ {e}"), theme.style("error")),
        Ok(_) if risk_error.is_some() => {
            Line::styled(risk_error.unwrap_or_default(), theme.style("error"))
        }
        Ok(_) if !modal.risky().is_empty() => Line::styled(
            format!("Ready — {send} to send (you will be asked to confirm)"),
            theme.style("status.online"),
        ),
        Ok(_) => Line::styled(
            format!("Ready — {send} to send"),
            theme.style("status.online"),
        ),
    };
    let used: usize = verdict.spans.iter().map(|s| s.width()).sum();
    let pad = (inner.width as usize).saturating_sub(used + counter.chars().count());
    if pad > 1 {
        verdict.spans.push(Span::raw(" ".repeat(pad)));
        verdict
            .spans
            .push(Span::styled(counter, theme.style("muted")));
    }
    frame.render_widget(Paragraph::new(verdict), row(y, 1));
    y += 1;
    let hints = [
        (send, "send"),
        (state.keymap.key(Cmd::Cancel), "cancel (the text is kept)"),
    ];
    frame.render_widget(
        Paragraph::new(hint_line(&hints, "Enter new line", theme)),
        row(y, 1),
    );

    if modal.confirming {
        confirm_question(frame, area, &modal.question(), state, theme);
    }
}

/// Rows of the risk acceptance's editor.
const RISK_ROWS: usize = 3;

/// Why approving leaves the standard path, who else must approve, and the field's label.
fn risk_lines<'a>(
    r: &crate::ui::state::decide::RiskField,
    focused: bool,
    width: usize,
    state: &AppState,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    let many = r.deviating.len() > 1;
    let local = |t| format!("on {}", format::local(t, state.tz));
    for (_, number, devs) in &r.deviating {
        let why: Vec<String> = devs.iter().map(|d| d.local(&local)).collect();
        let text = if many {
            format!("⚠ {number}: {}", why.join("; "))
        } else {
            format!("⚠ Outside the standard path: {}.", why.join("; "))
        };
        lines.extend(
            format::wrap(&text, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.style("sla.warning"))),
        );
    }
    if let Some(role) = &r.senior_role {
        lines.push(Line::styled(
            format::fit(&format!("{role} must also approve this deviation."), width),
            theme.style("heading"),
        ));
    }
    lines.push(Line::styled(
        "Risk acceptance (recorded with the decision):",
        theme.style(if focused { "heading" } else { "muted" }),
    ));
    lines
}

/// What the decision is about: the change(s), what was left out, and the policy's rule.
fn top_lines<'a>(
    modal: &DecideModal,
    state: &AppState,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    match modal.targets.as_slice() {
        [(a, tier)] => {
            let head = format!("{} · {} · ", a.change.number, tier.label());
            let room = width.saturating_sub(head.chars().count());
            let title = format::wrap(&a.change.short_description, room.max(1));
            let mut first = title.first().cloned().unwrap_or_default();
            if title.len() > 1 {
                first.push('…');
            }
            lines.push(Line::from(vec![
                Span::styled(a.change.number.clone(), theme.style("title")),
                Span::styled(" · ", theme.style("muted")),
                Span::styled(tier.label(), theme.tier(*tier)),
                Span::styled(" · ", theme.style("muted")),
                Span::raw(first),
            ]));
        }
        many => {
            // Each change, and whose approval it is when it is a colleague's.
            let numbers: Vec<String> = many
                .iter()
                .map(|(a, _)| match state.on_behalf_of(a) {
                    Some(p) => format!("{} (for {})", a.change.number, p.label()),
                    None => a.change.number.clone(),
                })
                .collect();
            let text = format!("{} changes: {}", many.len(), numbers.join(", "));
            let mut wrapped = format::wrap(&text, width);
            if wrapped.len() > 3 {
                wrapped.truncate(3);
                wrapped[2] = format!("{}…", wrapped[2].trim_end_matches(','));
            }
            lines.extend(
                wrapped
                    .into_iter()
                    .map(|l| Line::styled(l, theme.style("title"))),
            );
        }
    }
    // Deciding for a colleague: say whose approval this is (the comment will say it too).
    if let [(a, _)] = modal.targets.as_slice()
        && let Some(person) = state.on_behalf_of(a)
    {
        lines.extend(
            format::wrap(
                &format!("On behalf of {} (as their delegate).", person.label()),
                width,
            )
            .into_iter()
            .map(|l| Line::styled(l, theme.style("heading"))),
        );
    } else if modal.targets.len() > 1 {
        let theirs = modal
            .targets
            .iter()
            .filter(|(a, _)| state.on_behalf_of(a).is_some())
            .count();
        if theirs > 0 {
            let mine = modal.targets.len() - theirs;
            let text = format!(
                "{mine} of yours, {theirs} decided on a colleague's behalf (as marked); each comment says whose."
            );
            lines.extend(
                format::wrap(&text, width)
                    .into_iter()
                    .map(|l| Line::styled(l, theme.style("heading"))),
            );
        }
    }
    if let Some(note) = &modal.note {
        lines.extend(
            format::wrap(note, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.style("sla.warning"))),
        );
    }
    if modal.left_out > 0 {
        let n = modal.left_out;
        let text = format!(
            "{n} selected {} left out: {} does not apply to {}.",
            if n == 1 { "change" } else { "changes" },
            modal.kind.verb(),
            if n == 1 { "it" } else { "them" },
        );
        lines.extend(
            format::wrap(&text, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.style("sla.warning"))),
        );
    }
    let rule = state.policy.justification.describe(modal.kind);
    lines.extend(
        format::wrap(&format!("Justification: {rule}"), width)
            .into_iter()
            .map(|l| Line::styled(l, theme.style("muted"))),
    );
    lines
}

/// A y/n question in a popup, with the confirmation keys from the keymap.
pub fn confirm_question(
    frame: &mut Frame,
    area: Rect,
    question: &str,
    state: &AppState,
    theme: &Theme,
) {
    question_box(
        frame,
        area,
        question,
        Vec::new(),
        64,
        ["confirm", "back"],
        state,
        theme,
    );
}

/// The policy dialog's widest (room for a policy line and its `+ `).
const POLICY_WIDTH: u16 = 96;

/// The console's question about a changed policy file: what changed (the changed lines with
/// one of context, as many as fit), and whether to put it in force.
pub fn policy_question(
    frame: &mut Frame,
    area: Rect,
    question: &str,
    state: &AppState,
    theme: &Theme,
) {
    use crate::domain::governance::DiffLine;
    let Some(p) = &state.policy_review else {
        return;
    };
    let inner_w = POLICY_WIDTH
        .min(area.width.saturating_sub(4))
        .saturating_sub(4) as usize;
    let lines = &p.lines;
    // Room for the diff: the box less its border, the question, two blank lines and the hints.
    let asked = format::wrap(question, inner_w).len();
    let room = (area.height as usize).saturating_sub(asked + 6).max(1);
    let shown = if lines.len() > room {
        room.saturating_sub(1)
    } else {
        lines.len()
    };
    let mut body: Vec<Line> = lines[..shown]
        .iter()
        .map(|l| {
            let role = match l {
                DiffLine::Same(_) => "muted",
                DiffLine::Added(_) => "sla.on_track",
                DiffLine::Removed(_) => "error",
            };
            Line::styled(
                format!(" {}", format::fit(&l.render(), inner_w)),
                theme.style(role),
            )
        })
        .collect();
    if shown < lines.len() {
        body.push(Line::styled(
            format!(
                " … {} more lines: `signoff policy diff` shows them all",
                lines.len() - shown
            ),
            theme.style("muted"),
        ));
    }
    question_box(
        frame,
        area,
        question,
        body,
        POLICY_WIDTH,
        ["put it in force", "keep the confirmed one"],
        state,
        theme,
    );
}

/// A yes/no question over everything, with `body` below it (at most `max_width` wide).
#[allow(clippy::too_many_arguments)]
fn question_box(
    frame: &mut Frame,
    area: Rect,
    question: &str,
    body: Vec<Line<'_>>,
    max_width: u16,
    [yes, no]: [&'static str; 2],
    state: &AppState,
    theme: &Theme,
) {
    let width = max_width.min(area.width.saturating_sub(4));
    let inner_w = width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = format::wrap(question, inner_w)
        .into_iter()
        .map(|l| Line::styled(format!(" {l}"), theme.style("error")))
        .collect();
    if !body.is_empty() {
        lines.push(Line::from(""));
        lines.extend(body);
    }
    lines.push(Line::from(""));
    let hints = [
        (state.keymap.key(Cmd::Yes), yes),
        (state.keymap.key(Cmd::No), no),
    ];
    let mut hints = hint_line(&hints, "", theme);
    hints.spans.insert(0, Span::raw(" "));
    lines.push(hints);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = centred(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Confirm ", theme.style("error")))
                .border_style(theme.style("error")),
        ),
        popup,
    );
}

/// `Ctrl-S send · Esc cancel`, from a registry, with an optional note at the end.
pub fn hint_line<'a>(hints: &[(String, &'static str)], note: &'a str, theme: &Theme) -> Line<'a> {
    let mut spans = Vec::new();
    for (i, (key, label)) in hints.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.style("muted")));
        }
        spans.push(Span::styled(key.clone(), theme.style("key")));
        spans.push(Span::raw(format!(" {label}")));
    }
    if !note.is_empty() {
        spans.push(Span::styled(format!(" · {note}"), theme.style("muted")));
    }
    Line::from(spans).style(Style::default())
}

pub fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
