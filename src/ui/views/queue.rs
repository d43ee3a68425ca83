//! The queue list: one section per risk tier, a row per approval. Only the visible rows are
//! built, so a queue of 10,000 costs the same to draw as one of 40.

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::domain::{Delivery, RiskTier, SlaStatus};
use crate::ui::commands::Cmd;
use crate::ui::format;
use crate::ui::format::fit;
use crate::ui::state::detail::delivery_role;
use crate::ui::state::{AppState, Mode, Tracked};
use crate::ui::theme::Theme;

/// Column widths: fixed for a terminal width, whatever the rows hold, so nothing shifts when
/// a decision's state appears (it is shown at the start of the description).
struct Columns {
    number: usize,
    sla: usize,
    window: usize,
    kind: usize,
    requester: usize,
}

impl Columns {
    fn for_width(w: usize) -> Columns {
        Columns {
            number: 11,
            sla: 18,
            window: if w >= 70 { 18 } else { 0 },
            kind: if w >= 100 { 10 } else { 0 },
            requester: if w >= 88 { 17 } else { 0 },
        }
    }
    fn fixed(&self) -> usize {
        PREFIX + self.number + self.sla + self.window + self.kind + self.requester
    }
}

/// The widths of the NUMBER, SLA and WINDOW columns at a list width (inside the border),
/// for the mouse.
pub fn queue_columns(width: usize) -> (usize, usize, usize) {
    let c = Columns::for_width(width.saturating_sub(2));
    (c.number, c.sla, c.window)
}

/// The cursor (`▶`), the multi-selection mark (`●`) and a space.
const PREFIX: usize = 3;

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let focused = state.mode == Mode::Queue;
    let q = &state.queue;
    let mut title = vec![
        Span::styled(" Queue ", theme.style("heading")),
        Span::styled(format!("({}) ", q.total()), theme.style("muted")),
    ];
    // The filter and sort in force, always in view.
    let shown = q.describe();
    if !shown.is_empty() {
        let next = if q.filter.label().is_some() {
            format!("· {} next filter ", state.keymap.key(Cmd::Filter))
        } else {
            String::new()
        };
        title.push(Span::styled(
            format!("· {} {next}", shown.join(" · ")),
            theme.style("heading"),
        ));
    }
    if let Some(s) = &q.search {
        let n = s.shown;
        title.push(Span::styled(
            format!("· /{} ({n}) ", fit(&s.text, 24).trim_end()),
            theme.style("match"),
        ));
    }
    if !q.selection.is_empty() {
        title.push(Span::styled(
            format!(
                "· {} selected · {} clears ",
                q.selection.len(),
                state.keymap.key(Cmd::Back)
            ),
            theme.style("key"),
        ));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .border_style(theme.style(if focused { "border_focus" } else { "border" }));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let width = inner.width as usize;
    let cols = Columns::for_width(width);
    let desc_w = width.saturating_sub(cols.fixed());
    let rows = inner.height as usize;
    let mut lines = Vec::with_capacity(rows);
    lines.push(headings(&cols, theme));
    if lines.len() == rows {
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }

    // Walk sections to find the first visible line without touching the others.
    let mut line_no = 0usize;
    'sections: for section in &q.sections {
        let section_lines = section.len + 1;
        if line_no + section_lines <= q.scroll {
            line_no += section_lines;
            continue;
        }
        if line_no >= q.scroll {
            lines.push(tier_header(
                section.tier,
                q.section_len(section),
                section.folded > 0,
                width,
                theme,
            ));
            if lines.len() == rows {
                break;
            }
        }
        line_no += 1;
        let first = q.scroll.saturating_sub(line_no);
        line_no += first;
        for i in section.start + first..section.start + section.len {
            if let Some(line) = row(state, i, now, &cols, desc_w, theme) {
                lines.push(line);
            }
            line_no += 1;
            if lines.len() == rows {
                break 'sections;
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The column headings above the rows.
fn headings<'a>(cols: &Columns, theme: &Theme) -> Line<'a> {
    let mut text = " ".repeat(PREFIX);
    text.push_str(&fit("NUMBER", cols.number));
    text.push_str(&fit("SLA", cols.sla));
    if cols.window > 0 {
        text.push_str(&fit("WINDOW", cols.window));
    }
    if cols.kind > 0 {
        text.push_str(&fit("TYPE", cols.kind));
    }
    if cols.requester > 0 {
        text.push_str(&fit("REQUESTED BY", cols.requester));
    }
    text.push_str("DESCRIPTION");
    Line::styled(text, theme.style("muted"))
}

fn tier_header<'a>(
    tier: Option<RiskTier>,
    count: usize,
    folded: bool,
    width: usize,
    theme: &Theme,
) -> Line<'a> {
    let (name, style) = match tier {
        Some(t) => (t.label().to_uppercase(), theme.tier(t)),
        None => ("ON HOLD".to_string(), theme.style("heading")),
    };
    let (mark, more) = if folded {
        ("▸", " folded")
    } else {
        ("─", "")
    };
    let label = format!("─{mark} {name} · {count}{more} ");
    let fill = width.saturating_sub(label.width());
    Line::from(vec![
        Span::styled(label, style),
        Span::styled("─".repeat(fill), theme.style("border")),
    ])
}

fn row<'a>(
    state: &AppState,
    i: usize,
    now: DateTime<Utc>,
    cols: &Columns,
    desc_w: usize,
    theme: &Theme,
) -> Option<Line<'a>> {
    let item = state.queue.item(i)?;
    let a = &item.approval;
    let c = &a.change;
    let selected = i == state.queue.selected;
    let marked = state.queue.selection.contains(&a.sys_id);
    let (sla_text, sla_style) = if c.on_hold {
        // Timers stop while the change is held.
        ("on hold".to_string(), theme.style("muted"))
    } else {
        let status = item.sla.status(now);
        // On business hours: the working time left, paused (⏸) outside hours.
        let business = item
            .sla
            .business_clock(&state.policy, a, item.tier.tier, now);
        let countdown = match &business {
            Some(b) => format::countdown(b.left),
            None => format::countdown(item.sla.remaining(now)),
        };
        // Paused outside hours, or by the instance (its SLA's stage).
        let text = match (status, business.and_then(|b| b.paused_until)) {
            (_, Some(_)) => format!("⏸ {countdown}"),
            _ if item.sla.paused => format!("⏸ {countdown}"),
            (SlaStatus::Warning, None) => format!("! {countdown}"),
            _ => countdown,
        };
        (text, theme.sla(status))
    };
    let base = if selected {
        theme.style("selection")
    } else {
        Style::default()
    };
    let prefix = format!(
        "{}{} ",
        if selected { "▶" } else { " " },
        if marked { "●" } else { " " }
    );
    // The search's matches, highlighted where they show (number, requester, title).
    let needle = state
        .queue
        .search
        .as_ref()
        .filter(|_| state.queue.is_hit(i))
        .map(|s| s.needle.as_str());
    let hit = base.patch(theme.style("match"));
    let mut spans = vec![Span::styled(prefix, base.patch(theme.style("key")))];
    push_marked(
        &mut spans,
        fit(&c.number, cols.number),
        needle,
        base.patch(theme.style("text")),
        hit,
    );
    let tracked = state.deliveries.get(&a.sys_id);
    spans.push(Span::styled(
        fit(&sla_text, cols.sla),
        base.patch(sla_style),
    ));
    if cols.window > 0 {
        spans.push(Span::styled(
            fit(&format::window(c.start_date, now), cols.window),
            base.patch(theme.style("muted")),
        ));
    }
    if cols.kind > 0 {
        let kind = c.change_type.as_ref().map_or("—", |t| t.label());
        spans.push(Span::styled(fit(kind, cols.kind), base));
    }
    if cols.requester > 0 {
        push_marked(
            &mut spans,
            fit(c.requested_by.label(), cols.requester),
            needle,
            base.patch(theme.style("muted")),
            hit,
        );
    }
    if desc_w > 0 {
        let mut desc_w = desc_w;
        // Where a decision stands, first in the description: the columns never move.
        if let Some(t) = tracked
            && desc_w > 12
        {
            let mark = format!("{} · ", t.label());
            desc_w -= mark.width();
            spans.push(Span::styled(mark, base.patch(delivery_style(t, theme))));
        }
        // Nobody present to decide it: flagged, the detail pane names who to chase.
        if state.attention(&item, now).is_some() && desc_w > 6 {
            desc_w -= 2;
            spans.push(Span::styled(
                "⚑ ",
                base.patch(theme.sla(SlaStatus::Breached)),
            ));
        }
        // The approver is outside their working hours now (where the policy knows them).
        if matches!(
            crate::domain::delegation::in_hours(&state.policy, &a.approver, now),
            Some(Err(_))
        ) && desc_w > 6
        {
            desc_w -= 2;
            spans.push(Span::styled("☾ ", base.patch(theme.style("muted"))));
        }
        // Approves by itself at its due date unless paused: when.
        if let Some(at) = crate::domain::governance::auto_approves_at(&state.policy, a) {
            let mark = format!(
                "⚙ auto {} · ",
                format::span((at - now).max(Duration::zero()))
            );
            if mark.width() + 4 < desc_w {
                desc_w -= mark.width();
                spans.push(Span::styled(mark, base.patch(theme.style("sla.warning"))));
            }
        }
        // Someone else's approval, decided as their delegate: whose, before the title.
        if let Some(person) = state.on_behalf_of(a) {
            let who = format!("for {} · ", person.label());
            if who.width() + 4 < desc_w {
                desc_w -= who.width();
                spans.push(Span::styled(who, base.patch(theme.style("heading"))));
            }
        }
        // A conflict or failure says why first, where the eye is.
        match tracked.and_then(problem) {
            Some(why) if why.width() + 4 < desc_w => {
                let why = format!("{why} · ");
                let rest = desc_w - why.width();
                let style = tracked.map_or(Style::default(), |t| delivery_style(t, theme));
                spans.push(Span::styled(why, base.patch(style)));
                push_marked(
                    &mut spans,
                    fit(&c.short_description, rest),
                    needle,
                    base,
                    hit,
                );
            }
            Some(why) => {
                let style = tracked.map_or(Style::default(), |t| delivery_style(t, theme));
                spans.push(Span::styled(fit(why, desc_w), base.patch(style)));
            }
            None => push_marked(
                &mut spans,
                fit(&c.short_description, desc_w),
                needle,
                base,
                hit,
            ),
        }
    }
    Some(Line::from(spans))
}

/// `text` as spans, the parts holding `needle` in `hit`'s style.
fn push_marked<'a>(
    spans: &mut Vec<Span<'a>>,
    text: String,
    needle: Option<&str>,
    style: Style,
    hit: Style,
) {
    let ranges = needle.map_or_else(Vec::new, |n| crate::domain::find::match_ranges(&text, n));
    if ranges.is_empty() {
        spans.push(Span::styled(text, style));
        return;
    }
    let mut at = 0;
    for r in ranges {
        if r.start > at {
            spans.push(Span::styled(text[at..r.start].to_string(), style));
        }
        spans.push(Span::styled(text[r.clone()].to_string(), hit));
        at = r.end;
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), style));
    }
}

/// The reason of a conflict or failure.
pub fn problem(t: &Tracked) -> Option<&str> {
    match &t.delivery {
        Delivery::Conflict { reason } => Some(reason),
        Delivery::Failed { error } => Some(error),
        _ => None,
    }
}

/// The theme style for where a decision stands.
pub fn delivery_style(t: &Tracked, theme: &Theme) -> Style {
    theme.style(delivery_role(&t.delivery))
}
