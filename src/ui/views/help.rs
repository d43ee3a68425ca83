//! The `?` help popup (lines from `state::help`, generated from the registry) and the message
//! log (`:messages`). Both scroll; neither cuts anything off.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::decide::centred;
use crate::ui::commands::Cmd;
use crate::ui::format;
use crate::ui::state::AppState;
use crate::ui::state::help::{self, HelpLine, KEYS_WIDTH};
use crate::ui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(h) = &state.help else {
        return;
    };
    let keys = &state.keymap;
    let (inner_w, rows) = help::size(area.width, area.height);
    let wrapped = help::rows(&help::lines(h, keys), inner_w);
    let all: Vec<Line> = wrapped
        .into_iter()
        .flatten()
        .map(|row| match row {
            HelpLine::Heading(t) => Line::styled(t, theme.style("heading")),
            HelpLine::Entry { keys, text } => Line::from(vec![
                Span::styled(format!("{keys:<w$}", w = KEYS_WIDTH), theme.style("key")),
                Span::styled(text, theme.style("text")),
            ]),
            HelpLine::Note(t) => Line::styled(t, theme.style("muted")),
        })
        .collect();
    let total = all.len();
    let scroll = h.scroll.min(total.saturating_sub(rows));
    let shown: Vec<Line> = all.into_iter().skip(scroll).take(rows).collect();
    let mut lines = shown;
    // The filter, and where the view is.
    let filter = if h.filtering {
        format!("/{}█", h.filter)
    } else if !h.filter.is_empty() {
        format!("filter: {}", h.filter)
    } else {
        format!("{} filters", keys.key(Cmd::HelpFilter))
    };
    let position = if total > rows {
        format!(
            " · lines {}–{} of {total} · {}/{} scroll",
            scroll + 1,
            (scroll + rows).min(total),
            keys.key(Cmd::Down),
            keys.key(Cmd::Up)
        )
    } else {
        String::new()
    };
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!("{filter}{position}"),
        theme.style("muted"),
    ));
    let width = (inner_w + 2) as u16;
    let height = (lines.len() as u16 + 2).min(area.height.saturating_sub(1));
    let popup = centred(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Keys ", theme.style("heading")))
                .title_bottom(Span::styled(
                    format!(
                        " {} or {} closes ",
                        keys.key(Cmd::Help),
                        keys.key(Cmd::Back)
                    ),
                    theme.style("muted"),
                ))
                .border_style(theme.style("border_focus")),
        ),
        popup,
    );
}

/// The message log, newest last, the one at the cursor highlighted.
pub fn messages(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(at) = state.messages.open else {
        return;
    };
    let width = 96.min(area.width.saturating_sub(2));
    let inner_w = width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut cursor_line = 0;
    for (i, m) in state.messages.log.iter().enumerate() {
        if i == at {
            cursor_line = lines.len();
        }
        let when = m.at.map_or("--:--".to_string(), |t| {
            t.with_timezone(&state.tz).format("%H:%M").to_string()
        });
        let style = theme.style(if m.error { "error" } else { "text" });
        for (j, l) in format::wrap(&m.text, inner_w.saturating_sub(8).max(10))
            .into_iter()
            .enumerate()
        {
            let lead = if j == 0 {
                format!("{when}  ")
            } else {
                "       ".to_string()
            };
            let base = if i == at {
                theme.style("selection")
            } else {
                ratatui::style::Style::default()
            };
            lines.push(Line::from(vec![
                Span::styled(lead, base.patch(theme.style("muted"))),
                Span::styled(l, base.patch(style)),
            ]));
        }
    }
    let skip = (cursor_line + 1).saturating_sub(rows);
    let height = (lines.len().min(rows) as u16 + 2).min(area.height);
    let popup = centred(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(Span::styled(" Messages ", theme.style("heading")))
                    .title_bottom(Span::styled(
                        format!(" {} closes ", state.keymap.key(Cmd::Back)),
                        theme.style("muted"),
                    ))
                    .border_style(theme.style("border_focus")),
            ),
        popup,
    );
}
