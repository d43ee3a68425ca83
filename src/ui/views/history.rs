//! My decisions, newest first: when, the change, the decision and where it ended, on whose
//! behalf, why; a change that moved since is flagged (`⟳ asked again since`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::ui::commands::Cmd;
use crate::ui::format::{self, fit};
use crate::ui::state::AppState;
use crate::ui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(h) = &state.decided else {
        return;
    };
    let key = |c: Cmd| state.keymap.key(c);
    let count = match &h.rows {
        Some(Ok(rows)) => format!("({}) ", rows.len()),
        _ => String::new(),
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Your decisions ", theme.style("heading")),
            Span::styled(count, theme.style("muted")),
            Span::styled(
                format!("· {} go to it · {} close ", key(Cmd::Open), key(Cmd::Back)),
                theme.style("muted"),
            ),
        ]))
        .border_style(theme.style("border_focus"));
    frame.render_widget(Clear, area);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // First line: where the rows come from, and how fresh the server's part is.
    let source = match (&h.server_asked, h.server.read_at) {
        (Some(Err(e)), at) => (
            format!(
                "Decisions made here; the server could not be asked ({e}){}.",
                at.map_or(String::new(), |t| format!(
                    ", its record as read {}",
                    format::local(t, state.tz)
                ))
            ),
            "sla.warning",
        ),
        (Some(Ok(())), None) => (
            "Decisions made here; asking the server for the ones made elsewhere…".into(),
            "muted",
        ),
        (Some(Ok(())), Some(t)) => (
            format!(
                "Decisions made here and elsewhere (server as read {}; asking again…).",
                format::local(t, state.tz)
            ),
            "muted",
        ),
        (None, Some(t)) => (
            format!(
                "Decisions made here and elsewhere (“elsewhere”: the server's record, read {}).",
                format::local(t, state.tz)
            ),
            "muted",
        ),
        (None, None) => (
            "Decisions made here; those made elsewhere show once the server is read, online."
                .into(),
            "muted",
        ),
    };
    let [head, inner] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length(1),
        ratatui::layout::Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(fit(&source.0, head.width as usize)).style(theme.style(source.1)),
        head,
    );
    let rows = match &h.rows {
        None => {
            frame.render_widget(
                Paragraph::new("Reading…").style(theme.style("muted")),
                inner,
            );
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(format!("Could not read your decisions: {e}"))
                    .style(theme.style("error")),
                inner,
            );
            return;
        }
        Some(Ok(rows)) if rows.is_empty() => {
            frame.render_widget(
                Paragraph::new(
                    "No decisions yet: the ones you make here or elsewhere are listed, with where they ended.",
                )
                .style(theme.style("muted")),
                inner,
            );
            return;
        }
        Some(Ok(rows)) => rows,
    };
    let height = inner.height as usize;
    // Two lines a decision: what and why.
    let per_page = (height / 2).max(1);
    let first = h.selected.saturating_sub(per_page - 1);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(first).take(per_page) {
        let selected = i == h.selected;
        let base = if selected {
            theme.style("selection")
        } else {
            Style::default()
        };
        let outcome_role = match r.outcome.as_str() {
            "applied" | "elsewhere" => "status.online",
            "conflict" => "sla.warning",
            "failed" => "error",
            _ => "muted",
        };
        let when = format::local(r.decided_at, state.tz);
        let mut spans = vec![
            Span::styled(
                if selected { "▶ " } else { "  " },
                base.patch(theme.style("key")),
            ),
            Span::styled(fit(&when, 22), base.patch(theme.style("muted"))),
            Span::styled(fit(&r.number, 11), base.patch(theme.style("text"))),
            Span::styled(fit(&r.decision, 8), base.patch(theme.style("heading"))),
            Span::styled(fit(&r.outcome, 11), base.patch(theme.style(outcome_role))),
        ];
        // What else is true of the decision, before its title: (text, theme role).
        let marks = [
            r.moved
                .as_ref()
                .map(|m| (format!("⟳ {m} · "), "sla.warning")),
            r.risk_accepted
                .as_ref()
                .map(|_| ("⚠ risk accepted · ".to_string(), "sla.warning")),
            r.automated
                .as_ref()
                .map(|how| (format!("⚙ automated, {how} · "), "sla.warning")),
            r.by.as_ref().map(|b| (format!("by {b} · "), "heading")),
            r.on_behalf_of
                .as_ref()
                .map(|p| (format!("for {p} · "), "heading")),
        ];
        let mut used = 2 + 22 + 11 + 8 + 11;
        for (text, role) in marks.into_iter().flatten() {
            used += text.chars().count();
            spans.push(Span::styled(text, base.patch(theme.style(role))));
        }
        spans.push(Span::styled(
            fit(&r.title, width.saturating_sub(used)),
            base,
        ));
        lines.push(Line::from(spans));
        let said = match &r.risk_accepted {
            Some(a) => format!("    “{}” · risk accepted: “{a}”", r.justification),
            None => format!("    “{}”", r.justification),
        };
        lines.push(Line::styled(fit(&said, width), theme.style("muted")));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
