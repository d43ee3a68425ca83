//! The detail pane: the selected change in full (content from `state::detail`), with where the
//! view is in it.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::ui::commands::Cmd;
use crate::ui::state::AppState;
use crate::ui::state::detail::{content, height};
use crate::ui::theme::Theme;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    now: DateTime<Utc>,
    theme: &Theme,
    focused: bool,
) {
    let Some(item) = state.selected_item() else {
        return;
    };
    let keys = &state.keymap;
    let content = content(state, now);
    let inner_w = area.width.saturating_sub(2);
    let rows = area.height.saturating_sub(2) as usize;
    let total = height(&content, inner_w);
    let scroll = state.detail_scroll.min(total.saturating_sub(rows));
    let hint = if focused {
        format!(
            "· {}/{} scroll · {} back ",
            keys.key(Cmd::Down),
            keys.key(Cmd::Up),
            keys.key(Cmd::Back)
        )
    } else {
        format!("· {} to focus ", keys.key(Cmd::Open))
    };
    // Where the view is: `lines 1–20 of 48 · more below`.
    let position = if total > rows {
        let last = (scroll + rows).min(total);
        let more = if last < total { " · more below" } else { "" };
        format!(" lines {}–{last} of {total}{more} ", scroll + 1)
    } else {
        String::new()
    };
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(
                format!(" {} ", item.approval.change.number),
                theme.style("heading"),
            ),
            Span::styled(hint, theme.style("muted")),
        ]))
        .title_bottom(Line::styled(position, theme.style("muted")).right_aligned())
        .border_style(theme.style(if focused { "border_focus" } else { "border" }));
    let lines: Vec<Line> = content
        .into_iter()
        .map(|segs| {
            Line::from(
                segs.into_iter()
                    .map(|(role, text)| Span::styled(text, theme.style(role)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll.min(u16::MAX as usize) as u16, 0)),
        area,
    );
}
