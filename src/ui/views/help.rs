//! The `?` help popup, generated from the command registry.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::ui::app::Mode;
use crate::ui::keymap::{
    COMMANDS, CONFIRM_COMMANDS, Command, DELEGATION_COMMANDS, EDITOR_COMMANDS, FORM_COMMANDS,
};

use crate::ui::theme::Theme;

/// The keys of the screen help was opened from: the queue's, or the delegation screen's.
pub fn draw(frame: &mut Frame, area: Rect, from: Mode, theme: &Theme) {
    let mut lines = Vec::new();
    let full = |lines: &mut Vec<Line>, commands: &[Command]| {
        for c in commands {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<12}", c.keys), theme.style("key")),
                Span::raw(c.description),
            ]));
        }
    };
    let dialogs: &[(&str, &[Command])] = if from == Mode::Delegations {
        full(&mut lines, DELEGATION_COMMANDS);
        lines.push(Line::styled(
            "  New / edit delegation form",
            theme.style("heading"),
        ));
        full(&mut lines, FORM_COMMANDS);
        &[("Ending a delegation", CONFIRM_COMMANDS)]
    } else {
        full(&mut lines, COMMANDS);
        &[
            ("Decision dialog", EDITOR_COMMANDS),
            ("Confirmation", CONFIRM_COMMANDS),
        ]
    };
    // The dialogs' keys, one line each.
    for (title, commands) in dialogs {
        let mut spans = vec![Span::styled(format!("  {title}: "), theme.style("heading"))];
        for (i, c) in commands.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", theme.style("muted")));
            }
            spans.push(Span::styled(c.keys, theme.style("key")));
            spans.push(Span::raw(format!(" {}", short(c))));
        }
        lines.push(Line::from(spans));
    }
    // The legends of the queue's rows (the first to go when the terminal is short).
    if from != Mode::Delegations {
        lines.push(Line::styled(
            "  SLA: ! = warning (75% of the response time used), BREACHED = past the deadline.",
            theme.style("muted"),
        ));
        lines.push(Line::styled(
            "  Rows: ● selected · queued / sending… / ✓ done / ! conflict / ✗ failed.",
            theme.style("muted"),
        ));
        lines.push(Line::styled(
            "  “for Alice Moreno ·”: her approval, which you decide as her delegate.",
            theme.style("muted"),
        ));
    }
    let width = 86.min(area.width.saturating_sub(2));
    let height = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Keys ", theme.style("heading")))
                .title_bottom(Span::styled(" ? or Esc closes ", theme.style("muted")))
                .border_style(theme.style("border_focus")),
        ),
        popup,
    );
}

/// The footer label of a dialog command, else its description.
fn short(c: &Command) -> &'static str {
    c.footer.unwrap_or(c.description)
}
