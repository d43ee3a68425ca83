//! Drawing: pure functions of the state, the current time and the theme.

mod decide;
mod delegation;
mod detail;
mod help;
mod queue;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{AppState, Mode, Net};
use super::format;
use super::keymap;
use super::layout;
use super::theme::Theme;
use crate::domain::RiskTier;

pub fn draw(frame: &mut Frame, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let area = frame.area();
    if layout::too_small(area) {
        too_small(frame, area, theme);
        return;
    }
    let areas = layout::areas(area);
    header(frame, areas.header, state, theme);
    status_bar(frame, areas.status, state, now, theme);

    let body = Rect {
        y: areas.header.y + 1,
        height: area.height.saturating_sub(2),
        ..area
    };
    let key_line = |keys: &[(&'static str, &'static str)]| {
        let mut spans = Vec::new();
        for (k, label) in keys {
            spans.push(Span::styled(*k, theme.style("key")));
            spans.push(Span::raw(format!(" {label}   ")));
        }
        Line::from(spans)
    };
    match (&state.net, state.items.is_empty()) {
        _ if state.mode == Mode::Delegations
            || (state.mode == Mode::Help && state.help_from == Mode::Delegations) =>
        {
            delegation::draw(frame, body, state, now, theme);
        }
        (_, true) if !state.all_items.is_empty() => message(
            frame,
            body,
            theme,
            "Queue",
            vec![Line::from(format!(
                "Nothing here with the filter “{}”. Press f for the next filter.",
                state.filter.label().unwrap_or_default()
            ))],
        ),
        (
            Net::Offline { error, .. } | Net::AuthFailed { error } | Net::StoreFailed { error },
            true,
        ) => message(
            frame,
            body,
            theme,
            "Could not load the queue",
            vec![
                Line::styled(error.clone(), theme.style("error")),
                Line::from(""),
                key_line(&[("r", "try again"), ("q", "quit")]),
            ],
        ),
        (Net::OfflineMode, true) if state.last_sync.is_none() => message(
            frame,
            body,
            theme,
            "Offline",
            vec![Line::from(
                "No cached queue for this profile yet. Run signoff once without --offline to sync it.",
            )],
        ),
        (Net::Connecting, true) => message(
            frame,
            body,
            theme,
            "Loading",
            vec![Line::from(format!(
                "Loading your queue from {}…",
                state.instance
            ))],
        ),
        (_, true) => message(
            frame,
            body,
            theme,
            "Queue",
            vec![Line::from(
                "Nothing is waiting for your approval. Press r to refresh.",
            )],
        ),
        _ if state.mode == Mode::Detail && areas.detail.is_none() => {
            detail::draw(frame, body, state, now, theme, true);
        }
        _ => {
            queue::draw(frame, areas.list, state, now, theme);
            if let Some(d) = areas.detail {
                detail::draw(frame, d, state, now, theme, state.mode == Mode::Detail);
            }
        }
    }
    if state.decide.is_some() {
        decide::draw(frame, area, state, theme);
    }
    if state.delegation_form.is_some() {
        delegation::form(frame, area, state, theme);
    }
    if let Some(c) = &state.end_confirm {
        decide::confirm_question(frame, area, &c.question, theme);
    }
    if state.mode == Mode::Help {
        help::draw(frame, area, state.help_from, theme);
    }
}

fn header(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let who = match &state.user {
        Some(u) if !u.name.is_empty() => format!("{} ({})", u.user_name, u.name),
        _ => state.login.clone(),
    };
    let mut spans = vec![
        Span::styled(" signoff ", theme.style("title")),
        Span::styled(
            if state.mode == Mode::Delegations {
                "· delegations · "
            } else {
                "· approval queue · "
            },
            theme.style("muted"),
        ),
        Span::raw(who),
    ];
    // Tier counts at the right: full names when they fit, abbreviated otherwise.
    let counts = |short: bool| {
        let mut v = Vec::new();
        for tier in RiskTier::ALL {
            let name = if short {
                tier.short_label()
            } else {
                tier.label()
            };
            v.push(Span::styled(name, theme.tier(tier)));
            v.push(Span::raw(format!(" {}  ", state.count(tier))));
        }
        v
    };
    let long = counts(false);
    let fitting = if fits(&spans, &long, area.width) {
        Some(long)
    } else {
        Some(counts(true)).filter(|c| fits(&spans, c, area.width))
    };
    if let Some(right) = fitting {
        push_right(&mut spans, right, area.width);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_bar(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let mut spans = vec![Span::raw(" ")];
    let last = match state.last_sync {
        Some(at) => format!("last sync {}", ago(now, at)),
        None => "never synced".into(),
    };
    match (&state.net, state.syncing) {
        (_, Some((fetched, total))) => {
            let progress = match total {
                Some(t) if t > 0 => format!(" {fetched}/{t}"),
                _ if fetched > 0 => format!(" {fetched}"),
                _ => "…".into(),
            };
            spans.push(Span::styled(
                format!("⟳ syncing{progress}"),
                theme.style("status.busy"),
            ));
            spans.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::Connecting, None) => {
            spans.push(Span::styled("◌ connecting…", theme.style("status.busy")));
            spans.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::Online, None) => {
            spans.push(Span::styled("● online", theme.style("status.online")));
            let synced = match state.last_sync {
                Some(at) => format!(" · synced {}", ago(now, at)),
                None => String::new(),
            };
            spans.push(Span::styled(synced, theme.style("muted")));
        }
        (Net::Offline { .. }, None) => {
            spans.push(Span::styled(
                format!("✖ OFFLINE — {last}"),
                theme.style("status.offline"),
            ));
            spans.push(Span::styled(" · retrying", theme.style("muted")));
        }
        (Net::AuthFailed { .. }, None) => {
            spans.push(Span::styled(
                "✖ SIGN-IN REFUSED — r to retry",
                theme.style("status.offline"),
            ));
            spans.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::StoreFailed { .. }, None) => {
            spans.push(Span::styled(
                "✖ LOCAL STORE FAILED",
                theme.style("status.offline"),
            ));
            spans.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::OfflineMode, None) => {
            spans.push(Span::styled(
                format!("◌ OFFLINE (--offline) — {last}"),
                theme.style("status.busy"),
            ));
        }
    }
    let (breached, warning) = state.status_counts(now);
    spans.push(Span::raw(format!(" · {} pending", state.items.len())));
    if breached > 0 {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("{breached} breached"),
            theme.sla(crate::domain::SlaStatus::Breached),
        ));
    }
    if warning > 0 {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("{warning} warning"),
            theme.sla(crate::domain::SlaStatus::Warning),
        ));
    }
    spans.push(Span::styled(
        format!(" · outbox {}", state.outbox_pending),
        theme.style("muted"),
    ));
    // Decisions waiting for the user (some may be on approvals no longer in the queue).
    let attention = state
        .deliveries
        .values()
        .filter(|t| t.needs_attention())
        .count();
    if attention > 0 {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("! {attention} to re-decide"),
            theme.style("sla.warning"),
        ));
    }
    // A flash message takes the place of the key hints until it expires.
    if let Some(flash) = &state.flash {
        let (mark, style) = if flash.error {
            ("✖ ", theme.style("error"))
        } else {
            ("✓ ", theme.style("status.online"))
        };
        spans.push(Span::raw("  "));
        let room = (area.width as usize).saturating_sub(width(&spans) + 3);
        let text = crate::domain::text::cap_chars(&format!("{mark}{}", flash.text), room);
        spans.push(Span::styled(text, style));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // Key hints at the right, as many as fit (the most important come first).
    let mut hints: Vec<Span> = Vec::new();
    let registry = if state.mode == Mode::Delegations {
        keymap::hints(keymap::DELEGATION_COMMANDS)
    } else {
        keymap::footer_hints()
    };
    for (key, label) in registry {
        let pair = [
            Span::styled(key, theme.style("key")),
            Span::styled(format!(" {label}  "), theme.style("muted")),
        ];
        let mut candidate = hints.clone();
        candidate.extend(pair);
        if !fits(&spans, &candidate, area.width) {
            break;
        }
        hints = candidate;
    }
    push_right(&mut spans, hints, area.width);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.width()).sum()
}

fn fits(left: &[Span<'_>], right: &[Span<'_>], total: u16) -> bool {
    width(left) + width(right) < total as usize
}

/// Appends `right` to `line`, padded so it ends at the right edge.
fn push_right<'a>(line: &mut Vec<Span<'a>>, right: Vec<Span<'a>>, total: u16) {
    if right.is_empty() {
        return;
    }
    let pad = (total as usize).saturating_sub(width(line) + width(&right));
    line.push(Span::raw(" ".repeat(pad)));
    line.extend(right);
}

fn ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let mins = (now - then).num_minutes();
    match mins {
        ..1 => "just now".into(),
        1..60 => format!("{mins}m ago"),
        _ => format!("{} ago", format::span(now - then)),
    }
}

fn message(frame: &mut Frame, area: Rect, theme: &Theme, title: &str, lines: Vec<Line<'_>>) {
    let block = Block::bordered()
        .title(format!(" {title} "))
        .border_style(theme.style("border"));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .alignment(Alignment::Left),
        area,
    );
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    frame.render_widget(Clear, area);
    let text = vec![
        Line::styled("Terminal too small", theme.style("error")),
        Line::from(format!(
            "signoff needs {}×{}; this one is {}×{}.",
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT,
            area.width,
            area.height
        )),
        Line::from("Enlarge the window, or press q to quit."),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
