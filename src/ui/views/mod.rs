//! Drawing: pure functions of the state, the current time and the theme. Keys named on screen
//! come from the keymap (the registry with the user's overrides).

mod cab;
mod decide;
mod delegation;
mod detail;
mod help;
mod history;
mod insights;
mod queue;
pub use queue::queue_columns;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::commands::Cmd;
use super::format;
use super::layout;
use super::state::{AppState, Mode, Net};
use super::theme::Theme;
use crate::domain::RiskTier;

pub fn draw(frame: &mut Frame, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let area = frame.area();
    if layout::too_small(area) {
        too_small(frame, area, state, theme);
        return;
    }
    let areas = layout::areas(area);
    header(frame, areas.header, state, theme);
    status_bar(frame, areas.status, state, now, theme);

    let body = areas.body;
    let key = |c: Cmd| state.keymap.key(c);
    let key_line = |keys: &[(String, &'static str)]| {
        let mut spans = Vec::new();
        for (k, label) in keys {
            spans.push(Span::styled(k.clone(), theme.style("key")));
            spans.push(Span::raw(format!(" {label}   ")));
        }
        Line::from(spans)
    };
    match (&state.net, state.queue.is_empty()) {
        _ if state.mode == Mode::Delegations => {
            delegation::draw(frame, body, state, now, theme);
        }
        _ if state.mode == Mode::Meetings => cab::meetings(frame, body, state, now, theme),
        _ if state.mode == Mode::Agenda => cab::agenda(frame, body, state, now, theme),
        _ if state.mode == Mode::Session => cab::session(frame, body, state, now, theme),
        (_, true) if state.queue.has_any() => message(
            frame,
            body,
            theme,
            "Queue",
            vec![Line::from(format!(
                "Nothing here with the filter “{}”. Press {} for the next person, or type :filter clear to see the whole queue.",
                state.queue.describe().join(" · "),
                key(Cmd::Filter)
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
                key_line(&[(key(Cmd::Refresh), "try again"), (key(Cmd::Quit), "quit")]),
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
            vec![Line::from(format!(
                "Nothing is waiting for your approval. Press {} to refresh.",
                key(Cmd::Refresh)
            ))],
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
    // A toast sits in the top right corner of the body, under any dialog.
    if let Some(t) = &state.watch.toast {
        toast(frame, body, t, theme);
    }
    if state.decided.is_some() {
        history::draw(frame, body, state, theme);
    }
    if state.insights.is_some() {
        insights::draw(frame, body, state, theme);
    }
    if state.decide.is_some() {
        decide::draw(frame, area, state, theme);
    }
    if state.delegations.form.is_some() {
        delegation::form(frame, area, state, theme);
    }
    if let Some(c) = &state.confirm {
        match c.then {
            super::state::ConfirmThen::Policy => {
                decide::policy_question(frame, area, &c.question, state, theme)
            }
            _ => decide::confirm_question(frame, area, &c.question, state, theme),
        }
    }
    if state.help.is_some() {
        help::draw(frame, area, state, theme);
    }
    if state.messages.open.is_some() {
        help::messages(frame, area, state, theme);
    }
}

fn toast(frame: &mut Frame, body: Rect, t: &super::state::notify::Toast, theme: &Theme) {
    let width = body.width.saturating_sub(4).min(64);
    let height = (t.lines.len() as u16 + 2).min(body.height.saturating_sub(2));
    if width < 20 || height < 3 {
        return;
    }
    let area = Rect {
        x: body.x + body.width - width - 1,
        y: body.y + 1,
        width,
        height,
    };
    let inner = width.saturating_sub(2) as usize;
    let lines: Vec<Line> = t
        .lines
        .iter()
        .map(|l| Line::styled(format::fit(l, inner), theme.style("text")))
        .collect();
    let block = Block::bordered()
        .title(Line::styled(
            format!(
                " {} ",
                format::fit(&t.title, inner.saturating_sub(2)).trim_end()
            ),
            theme.style("key"),
        ))
        .border_style(theme.style("sla.warning"));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn header(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let who = match &state.user {
        Some(u) if !u.name.is_empty() => format!("{} ({})", u.user_name, u.name),
        _ => state.login.clone(),
    };
    let mut spans = vec![Span::styled(" signoff ", theme.style("title"))];
    if state.demo {
        spans.push(Span::styled("DEMO ", theme.style("key")));
    }
    spans.push(Span::styled(
        match state.mode {
            Mode::Delegations => "· delegations · ",
            Mode::Meetings | Mode::Agenda | Mode::Session => cab::header_label(state),
            _ => "· approval queue · ",
        },
        theme.style("muted"),
    ));
    spans.push(Span::raw(who));
    // Which instance and profile, when there is room.
    let host = state
        .instance
        .split("://")
        .nth(1)
        .unwrap_or(&state.instance)
        .trim_end_matches('/');
    let mut place = format!(" · {host}");
    if !state.profile.is_empty() {
        place.push_str(&format!(" [{}]", state.profile));
    }
    let with_place: Vec<Span> = spans
        .iter()
        .cloned()
        .chain([Span::styled(place, theme.style("muted"))])
        .collect();
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
            v.push(Span::raw(format!(" {}  ", state.queue.count(tier))));
        }
        v
    };
    let mut chosen = None;
    for left in [&with_place, &spans] {
        for short in [false, true] {
            let right = counts(short);
            if chosen.is_none() && fits(left, &right, area.width) {
                chosen = Some((left.clone(), Some(right)));
            }
        }
    }
    let (mut left, right) = chosen.unwrap_or_else(|| {
        let left = if fits(&with_place, &[], area.width) {
            with_place.clone()
        } else {
            spans.clone()
        };
        (left, None)
    });
    if let Some(right) = right {
        push_right(&mut left, right, area.width);
    }
    frame.render_widget(Paragraph::new(Line::from(left)), area);
}

fn status_bar(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    // `/`'s line takes the whole bar, with how many rows hold what is typed.
    if let Some(line) = &state.search_line {
        let mut spans = vec![
            Span::styled("/", theme.style("key")),
            Span::raw(line.input.clone()),
            Span::styled("█", theme.style("key")),
        ];
        if !line.input.trim().is_empty() {
            let n = state.queue.search.as_ref().map_or(0, |s| s.shown);
            let (text, style) = match n {
                0 => ("   no match".to_string(), theme.style("error")),
                1 => ("   1 match".to_string(), theme.style("muted")),
                n => (format!("   {n} matches"), theme.style("muted")),
            };
            spans.push(Span::styled(text, style));
        }
        let hints = hint_spans(state, theme);
        push_right_fitting(&mut spans, hints, area.width);
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // The `:` line takes the whole bar.
    if let Some(line) = &state.cmdline {
        let mut spans = vec![
            Span::styled(":", theme.style("key")),
            Span::raw(line.input.clone()),
            Span::styled("█", theme.style("key")),
        ];
        let candidates = line.candidates();
        if !line.input.is_empty() && !candidates.is_empty() && !line.input.contains(' ') {
            spans.push(Span::styled(
                format!("   {}", candidates.join(" · ")),
                theme.style("muted"),
            ));
        } else if candidates.is_empty() && !line.input.contains(' ') {
            spans.push(Span::styled("   (no such command)", theme.style("error")));
        }
        let hints = hint_spans(state, theme);
        push_right_fitting(&mut spans, hints, area.width);
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // The bar in groups: the connection state and what waits for the user always show; the
    // others make room for a message when it needs it.
    let mut net: Vec<Span> = vec![Span::raw(" ")];
    // When the queue was synced, then the counts: the counts go first when room is short.
    let mut when: Vec<Span> = Vec::new();
    let mut counts: Vec<Span> = Vec::new();
    let last = match state.last_sync {
        Some(at) => format!("last sync {}", format::ago(now, at)),
        None => "never synced".into(),
    };
    match (&state.net, state.syncing) {
        (_, Some((fetched, total))) => {
            let progress = match total {
                Some(t) if t > 0 => format!(" {fetched}/{t}"),
                _ if fetched > 0 => format!(" {fetched}"),
                _ => "…".into(),
            };
            net.push(Span::styled(
                format!("⟳ syncing{progress}"),
                theme.style("status.busy"),
            ));
            when.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::Connecting, None) => {
            net.push(Span::styled("◌ connecting…", theme.style("status.busy")));
            when.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::Online, None) => {
            net.push(Span::styled("● online", theme.style("status.online")));
            if let Some(at) = state.last_sync {
                when.push(Span::styled(
                    format!(" · synced {}", format::ago(now, at)),
                    theme.style("muted"),
                ));
            }
        }
        (Net::Offline { retry_at, .. }, None) => {
            net.push(Span::styled(
                format!("✖ OFFLINE — {last}"),
                theme.style("status.offline"),
            ));
            let retry = if *retry_at > now {
                format!(
                    " · retrying in {} · {} now",
                    format::span_short(*retry_at - now),
                    state.keymap.key(Cmd::Refresh)
                )
            } else {
                " · retrying now".to_string()
            };
            net.push(Span::styled(retry, theme.style("muted")));
        }
        (Net::AuthFailed { .. }, None) => {
            net.push(Span::styled(
                format!(
                    "✖ SIGN-IN REFUSED — {} to retry",
                    state.keymap.key(Cmd::Refresh)
                ),
                theme.style("status.offline"),
            ));
            when.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::StoreFailed { .. }, None) => {
            net.push(Span::styled(
                "✖ LOCAL STORE FAILED",
                theme.style("status.offline"),
            ));
            when.push(Span::styled(format!(" · {last}"), theme.style("muted")));
        }
        (Net::OfflineMode, None) => {
            net.push(Span::styled(
                "◌ OFFLINE (--offline)",
                theme.style("status.busy"),
            ));
            when.push(Span::styled(format!(" — {last}"), theme.style("muted")));
        }
    }
    let (breached, warning) = state.queue.status_counts(now);
    // The queue's counts are no help in a meeting: its keys get the room.
    let in_cab = matches!(state.mode, Mode::Meetings | Mode::Agenda | Mode::Session);
    let (breached, warning) = if in_cab { (0, 0) } else { (breached, warning) };
    if !in_cab {
        counts.push(Span::raw(format!(" · {} pending", state.queue.total())));
    }
    if breached > 0 {
        counts.push(Span::raw(" · "));
        counts.push(Span::styled(
            format!("{breached} breached"),
            theme.sla(crate::domain::SlaStatus::Breached),
        ));
    }
    if warning > 0 {
        counts.push(Span::raw(" · "));
        counts.push(Span::styled(
            format!("{warning} warning"),
            theme.sla(crate::domain::SlaStatus::Warning),
        ));
    }
    let mut waiting: Vec<Span> = vec![Span::styled(
        format!(" · outbox {}", state.outbox_pending),
        theme.style("muted"),
    )];
    // Decisions waiting for the user (some may be on approvals no longer in the queue).
    let attention = state
        .deliveries
        .values()
        .filter(|t| t.needs_attention())
        .count();
    if attention > 0 {
        waiting.push(Span::raw(" · "));
        waiting.push(Span::styled(
            format!("! {attention} to decide again"),
            theme.style("sla.warning"),
        ));
    }
    // The bar from the most to the least it can hold.
    let choices: Vec<Vec<Span>> = vec![
        net.iter()
            .chain(&when)
            .chain(&counts)
            .chain(&waiting)
            .cloned()
            .collect(),
        net.iter().chain(&when).chain(&waiting).cloned().collect(),
        net.iter().chain(&waiting).cloned().collect(),
    ];
    let fitting = |room: usize| {
        choices
            .iter()
            .find(|c| width(c) + room < area.width as usize)
            .unwrap_or(&choices[2])
            .clone()
    };
    // A message takes the place of the key hints until it expires; one still too long says
    // where to read it whole.
    if let Some(flash) = &state.messages.flash {
        let (mark, style) = if flash.error {
            ("✖ ", theme.style("error"))
        } else if flash.done {
            ("✓ ", theme.style("status.online"))
        } else {
            ("• ", theme.style("heading"))
        };
        let text = format!("{mark}{}", flash.text);
        let total = area.width as usize;
        let mut spans = fitting(text.chars().count() + 2);
        spans.push(Span::raw("  "));
        let room = total.saturating_sub(width(&spans) + 1);
        let text = if text.chars().count() > room {
            let more = " (:messages)";
            format!(
                "{}{more}",
                crate::domain::text::cap_chars(&text, room.saturating_sub(more.len()))
            )
        } else {
            text
        };
        spans.push(Span::styled(text, style));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    // `? help` and `: command` always fit: the counts make room for them if need be.
    let pinned: usize = hint_spans(state, theme)
        .iter()
        .take(2)
        .map(|g| width(g))
        .sum();
    let mut spans = fitting(pinned);
    let hints = hint_spans(state, theme);
    push_right_fitting(&mut spans, hints, area.width);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The key hints of what can be done now; help and the command line come first, so they are
/// the last to be dropped when the bar is narrow.
fn hint_spans<'a>(state: &AppState, theme: &Theme) -> Vec<Vec<Span<'a>>> {
    let mut hints = state.hints();
    // `? help` and `: command` always, first; then what settles the row under the cursor,
    // then the decisions, then the rest.
    const FIRST: &[&str] = &[
        "help",
        "command",
        "next",
        "pause",
        "resume",
        "defer",
        "note",
        "end meeting",
        "start",
        "session",
        "agenda",
        "decide again",
        "discard",
        "withdraw",
        "approve",
        "reject",
        "hold",
        "resume",
        "send",
        "confirm",
    ];
    hints.sort_by_key(|(_, label)| FIRST.iter().position(|l| l == label).unwrap_or(FIRST.len()));
    hints
        .into_iter()
        .map(|(key, label)| {
            vec![
                Span::styled(key, theme.style("key")),
                Span::styled(format!(" {label}  "), theme.style("muted")),
            ]
        })
        .collect()
}

/// Appends as many hint groups as fit, right-aligned, in their order.
fn push_right_fitting<'a>(line: &mut Vec<Span<'a>>, groups: Vec<Vec<Span<'a>>>, total: u16) {
    let mut right: Vec<Span> = Vec::new();
    for g in groups {
        let mut candidate = right.clone();
        candidate.extend(g);
        if fits(line, &candidate, total) {
            right = candidate;
        }
    }
    push_right(line, right, total);
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

fn too_small(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
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
        Line::from(format!(
            "Enlarge the window, or press {} to quit.",
            state.keymap.key(Cmd::Quit)
        )),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
