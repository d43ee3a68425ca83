//! The `?` help popup, generated from the command registry.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::ui::keymap::COMMANDS;
use crate::ui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut lines = vec![Line::from("")];
    for c in COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<12}", c.keys), theme.style("key")),
            Span::raw(c.description),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "  SLA: ! = warning (75% of the response time used), BREACHED = past the deadline.",
        theme.style("muted"),
    ));
    lines.push(Line::styled(
        "  Press ? or Esc to close.",
        theme.style("muted"),
    ));
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
                .border_style(theme.style("border_focus")),
        ),
        popup,
    );
}
