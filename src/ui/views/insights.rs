//! The insights screen (issue 16): median cycle time by tier as a bar chart, decisions per day
//! as a sparkline, and the rejection, last-minute and breach figures as text. Every chart
//! carries its numbers as text too, so it reads without colour.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Clear, Paragraph, Sparkline, Wrap};

use crate::domain::insights::{ByTier, Insights};
use crate::ui::commands::Cmd;
use crate::ui::state::AppState;
use crate::ui::theme::Theme;

fn hours(minutes: i64) -> String {
    if minutes < 60 {
        format!("{minutes}m")
    } else {
        format!("{}h{:02}", minutes / 60, minutes % 60)
    }
}

fn tiers(l: &[ByTier]) -> String {
    ByTier::list(l, " · ")
}

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(v) = &state.insights else {
        return;
    };
    let key = |c: Cmd| state.keymap.key(c);
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(
                format!(" Insights · last {} days ", v.days),
                theme.style("heading"),
            ),
            Span::styled(
                format!("· {} period · {} close ", key(Cmd::Period), key(Cmd::Back)),
                theme.style("muted"),
            ),
        ]))
        .border_style(theme.style("border_focus"));
    frame.render_widget(Clear, area);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let f = match &v.figures {
        None => {
            frame.render_widget(
                Paragraph::new("Computing…").style(theme.style("muted")),
                inner,
            );
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(format!("Could not compute the insights: {e}"))
                    .style(theme.style("error"))
                    .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Some(Ok(f)) => f,
    };
    let [top, charts, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(if inner.height >= 24 { 10 } else { 7 }),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(
                    "{} decision{}",
                    f.decisions,
                    if f.decisions == 1 { "" } else { "s" }
                ),
                theme.style("text"),
            ),
            Span::styled(
                format!(
                    " · {} approved · {} rejected ({:.0}%)",
                    f.approved,
                    f.rejected,
                    f.rejection_rate * 100.0
                ),
                theme.style("muted"),
            ),
        ])),
        top,
    );
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(charts);
    cycle_chart(frame, left, f, theme);
    per_day(frame, right, f, theme);
    frame.render_widget(
        Paragraph::new(text(f, theme)).wrap(Wrap { trim: false }),
        rest,
    );
}

fn cycle_chart(frame: &mut Frame, area: Rect, f: &Insights, theme: &Theme) {
    let block = Block::bordered()
        .title(" Cycle time by tier (median, p90) ")
        .border_style(theme.style("border"));
    if f.cycle_time.is_empty() {
        frame.render_widget(
            Paragraph::new("no decisions in the period")
                .style(theme.style("muted"))
                .block(block),
            area,
        );
        return;
    }
    let bars: Vec<Bar> = f
        .cycle_time
        .iter()
        .map(|c| {
            Bar::default()
                .value(c.median_minutes.max(0) as u64)
                .label(Line::from(c.tier.chars().take(4).collect::<String>()))
                .text_value(format!(
                    "{}/{}",
                    hours(c.median_minutes),
                    hours(c.p90_minutes)
                ))
                .style(theme.style("heading"))
                .value_style(theme.style("key"))
        })
        .collect();
    let width = (area.width.saturating_sub(2) / f.cycle_time.len().max(1) as u16)
        .saturating_sub(1)
        .clamp(5, 14);
    frame.render_widget(
        BarChart::default()
            .block(block)
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1),
        area,
    );
}

fn per_day(frame: &mut Frame, area: Rect, f: &Insights, theme: &Theme) {
    let max = f.per_day.iter().copied().max().unwrap_or(0);
    let total: u64 = f.per_day.iter().sum();
    let block = Block::bordered()
        .title(format!(" Decisions per day (max {max}, {total} in all) "))
        .border_style(theme.style("border"));
    // The newest days that fit, one column a day.
    let fit = area.width.saturating_sub(2) as usize;
    let data: Vec<u64> = f
        .per_day
        .iter()
        .skip(f.per_day.len().saturating_sub(fit))
        .copied()
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(block)
            .data(&data)
            .style(theme.style("sla.on_track")),
        area,
    );
}

fn text<'a>(f: &Insights, theme: &Theme) -> Vec<Line<'a>> {
    let h = |s: &str| Line::styled(s.to_string(), theme.style("heading"));
    let t = |s: String| Line::styled(s, theme.style("text"));
    let m = |s: String| Line::styled(s, theme.style("muted"));
    let mut out = Vec::new();
    out.push(h("Rejections"));
    for (what, list) in [
        ("by group", &f.rejections_by_group),
        ("by type", &f.rejections_by_type),
    ] {
        let parts: Vec<String> = list
            .iter()
            .filter(|r| r.rejected > 0)
            .take(4)
            .map(|r| {
                format!(
                    "{} {}/{} ({:.0}%)",
                    if r.name.is_empty() { "—" } else { &r.name },
                    r.rejected,
                    r.decided,
                    r.rate * 100.0
                )
            })
            .collect();
        out.push(t(format!(
            "  {what}: {}",
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(" · ")
            }
        )));
    }
    for r in f.top_reasons.iter().take(3) {
        out.push(m(format!("  {}× “{}”", r.count, r.reason)));
    }
    for r in &f.repeated {
        out.push(Line::styled(
            format!(
                "  ⚑ {} {} rejected {} times ({}): an upstream planning problem?",
                r.kind,
                r.name,
                r.rejections,
                r.changes.join(", ")
            ),
            theme.style("sla.warning"),
        ));
    }
    out.push(h("Timing"));
    out.push(t(format!(
        "  last-minute approvals (< 1 h before the window): {}",
        tiers(&f.last_minute)
    )));
    out.push(t(format!(
        "  decided after the SLA breached: {} · after escalating: {}",
        tiers(&f.decided_after_breach),
        f.decided_escalated
    )));
    out.push(t(format!(
        "  pending and breached now: {} ({} escalated)",
        tiers(&f.pending_breached),
        f.pending_escalated
    )));
    out.push(h("CAB and automation"));
    out.push(t(format!("  {}", f.cab.describe())));
    out.push(t(format!(
        "  automated approvals: {}",
        crate::domain::insights::describe_automated(&f.automated)
    )));
    if f.not_applied > 0 {
        out.push(m(format!(
            "  {} decisions the instance did not take (conflict, failed) are left out",
            f.not_applied
        )));
    }
    out.push(m(
        "  `signoff insights --days N --output json` prints these figures for service reviews"
            .into(),
    ));
    out
}
