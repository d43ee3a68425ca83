//! CAB screens: the meetings list, a meeting's agenda (what needs attention, who is there),
//! and the session view, where the current item fills the screen with its timer.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::domain::cab::{
    AgendaItem, Attendance, ItemDecision, ItemState, MeetingDetail, MeetingState, Role, TimerState,
    When, span,
};
use crate::domain::{ApprovalState, SlaClock};
use crate::ui::commands::Cmd;
use crate::ui::format::{self, fit};
use crate::ui::state::{AppState, Mode};
use crate::ui::theme::Theme;

fn key_hint<'a>(state: &AppState, theme: &Theme, keys: &[(Cmd, &'a str)]) -> Line<'a> {
    let mut spans = Vec::new();
    for (cmd, label) in keys {
        spans.push(Span::styled(state.keymap.key(*cmd), theme.style("key")));
        spans.push(Span::styled(format!(" {label}   "), theme.style("muted")));
    }
    Line::from(spans)
}

fn bordered<'a>(title: Vec<Span<'a>>, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .title(Line::from(title))
        .border_style(theme.style("border_focus"))
}

/// How long ago or ahead, roughly: `in 3d`, `in 2h`, `20m ago`.
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t - now;
    let mins = d.num_minutes().abs();
    let rough = match mins {
        0..60 => format!("{mins}m"),
        60..2880 => format!("{}h", mins / 60),
        _ => format!("{}d", mins / 1440),
    };
    if d >= chrono::Duration::zero() {
        format!("in {rough}")
    } else {
        format!("{rough} ago")
    }
}

// ---------------------------------------------------------------------------------------------
// The meetings list
// ---------------------------------------------------------------------------------------------

pub fn meetings(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let c = &state.cab;
    let mut title = vec![
        Span::styled(" CAB meetings ", theme.style("heading")),
        Span::styled(format!("({}) ", c.list.len()), theme.style("muted")),
    ];
    let source = match (c.loading, c.list_fresh, c.list_at) {
        (true, _, _) => "· reading the instance… ".to_string(),
        (false, false, Some(at)) => format!("· cached {} ", relative(at, now)),
        _ => String::new(),
    };
    title.push(Span::styled(source, theme.style("muted")));
    let block = bordered(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    if c.list.is_empty() {
        let text = if c.loading {
            "Reading your CAB meetings…".to_string()
        } else if let Some(e) = &c.list_error {
            e.clone()
        } else {
            "No CAB meetings in the last or next 14 days where you are the chair, a delegate, on the board or invited.".to_string()
        };
        let lines = vec![
            Line::from(text),
            Line::from(""),
            key_hint(
                state,
                theme,
                &[(Cmd::Refresh, "read again"), (Cmd::Back, "queue")],
            ),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    // Narrow: the start without "in 2h" (the sections say when), so the name keeps its room.
    let wide = w >= 100;
    let (when_w, role_w, agenda_w) = if wide { (27, 15, 17) } else { (17, 13, 0) };
    let name_w = w.saturating_sub(3 + when_w + role_w + agenda_w + 12);
    let mut lines = vec![Line::styled(
        format!(
            "   {}{}{}{}{}",
            fit("WHEN", when_w),
            fit("MEETING", name_w),
            fit("YOU ARE", role_w),
            fit("AGENDA", agenda_w),
            "STATE"
        ),
        theme.style("muted"),
    )];
    let me = state.me().unwrap_or_default();
    let mut last: Option<When> = None;
    let mut rows: Vec<(Option<usize>, Line)> = Vec::new();
    for (i, m) in c.list.iter().enumerate() {
        let when = m.meeting.when(now);
        if last != Some(when) {
            rows.push((
                None,
                Line::styled(format!("── {} ", when.label()), theme.style("heading")),
            ));
            last = Some(when);
        }
        let start = m.meeting.start.map_or("—".to_string(), |t| {
            if wide {
                format!("{} · {}", format::local(t, state.tz), relative(t, now))
            } else {
                format::local(t, state.tz)
            }
        });
        let role = m.role_of(me);
        let agenda = format!(
            "{} item{}, {} open",
            m.items,
            if m.items == 1 { "" } else { "s" },
            m.open_items
        );
        let selected = i == c.selected;
        let state_style = match m.meeting.state {
            MeetingState::InProgress => theme.style("status.online"),
            _ => theme.style("muted"),
        };
        let mut name = m.meeting.name.clone();
        if m.meeting.is_emergency() {
            name = format!("⚡ {name}");
        }
        let mut spans = vec![
            Span::raw(if selected { " ▶ " } else { "   " }),
            Span::raw(fit(&start, when_w)),
            Span::styled(fit(&name, name_w), theme.style("text")),
            Span::styled(
                fit(role.label(), role_w),
                if role.hosts() {
                    theme.style("key")
                } else {
                    theme.style("text")
                },
            ),
            Span::raw(fit(&agenda, agenda_w)),
            Span::styled(m.meeting.state.label().to_string(), state_style),
        ];
        if selected {
            spans = spans
                .into_iter()
                .map(|s| {
                    let st = s.style.patch(theme.style("selection"));
                    s.style(st)
                })
                .collect();
        }
        rows.push((Some(i), Line::from(spans)));
    }
    // Keep the selected row visible.
    let room = (inner.height as usize).saturating_sub(1);
    let at = rows
        .iter()
        .position(|(i, _)| *i == Some(c.selected))
        .unwrap_or(0);
    let first = at.saturating_sub(room.saturating_sub(1));
    lines.extend(rows.into_iter().skip(first).take(room).map(|(_, l)| l));
    frame.render_widget(Paragraph::new(lines), inner);
}

// ---------------------------------------------------------------------------------------------
// The agenda
// ---------------------------------------------------------------------------------------------

/// The meeting's heading lines: name, when, chair, state, progress.
fn meeting_head<'a>(
    d: &MeetingDetail,
    state: &AppState,
    now: DateTime<Utc>,
    theme: &Theme,
    role: Role,
) -> Vec<Line<'a>> {
    let m = &d.meeting;
    let when = match (m.start, m.end) {
        (Some(s), Some(e)) => format!(
            "{} – {}",
            format::local(s, state.tz),
            e.with_timezone(&state.tz).format("%H:%M")
        ),
        (Some(s), None) => format::local(s, state.tz),
        _ => "no time set".into(),
    };
    let decided = d.items.iter().filter(|i| i.state.is_closed()).count();
    let (spent, allotted) = d.totals(now);
    let state_style = match m.state {
        MeetingState::InProgress => theme.style("status.online"),
        _ => theme.style("muted"),
    };
    let present = d
        .attendees
        .iter()
        .filter(|a| a.attendance == Attendance::Attending)
        .count();
    vec![
        Line::from(vec![
            Span::styled(m.state.label().to_uppercase(), state_style),
            Span::styled(format!("  {when}"), theme.style("text")),
            Span::styled(
                format!("  · chair {} · you: {}", m.manager.label(), role.label()),
                theme.style("muted"),
            ),
        ]),
        Line::styled(
            format!(
                "{decided} of {} items closed · {} spent of {} allotted · {present} of {} attending{}",
                d.items.len(),
                span(spent),
                span(allotted),
                d.attendees.len(),
                if m.conference.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", m.conference)
                }
            ),
            theme.style("muted"),
        ),
    ]
}

fn item_status(item: &AgendaItem, theme: &Theme) -> (String, Style) {
    let text = match (&item.state, &item.decision) {
        (ItemState::Pending, ItemDecision::Undecided) => "pending".to_string(),
        (ItemState::Pending, d) => format!("pending · {}", d.label()),
        (s, ItemDecision::Undecided) => s.label().to_string(),
        (s, d) => format!("{} · {}", s.label(), d.label()),
    };
    let style = match (&item.state, &item.decision) {
        (ItemState::InProgress, _) => theme.style("status.online"),
        (ItemState::Paused, _) => theme.style("status.busy"),
        (_, ItemDecision::Rejected) => theme.style("sla.breached"),
        (_, ItemDecision::Approved | ItemDecision::Preapproved) => theme.style("sla.on_track"),
        _ => theme.style("muted"),
    };
    (text, style)
}

/// Who still has to vote on an item's change: `Carla Diaz, you`.
fn waiting_for(d: &MeetingDetail, item: &AgendaItem, me: &str) -> String {
    let names: Vec<String> = d
        .open_approvals(item)
        .map(|a| {
            if a.approval.approver.sys_id == me {
                "you".to_string()
            } else {
                a.approval.approver.label().to_string()
            }
        })
        .collect();
    if names.is_empty() {
        if d.all_approvals || d.approvals_of(item).next().is_some() {
            "—".into()
        } else {
            "?".into()
        }
    } else {
        names.join(", ")
    }
}

pub fn agenda(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let Some(v) = &state.cab.open else {
        return;
    };
    let mut title = vec![Span::styled(
        format!(" {} ", v.name),
        theme.style("heading"),
    )];
    title.extend(source_note(v, now, theme));
    let block = bordered(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(d) = &v.detail else {
        let text = v
            .error
            .clone()
            .unwrap_or_else(|| "Reading the meeting…".into());
        frame.render_widget(
            Paragraph::new(vec![Line::from(text)]).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    };
    let me = state.me().unwrap_or_default();
    let role = d.meeting.role_of(me, &d.attendees);
    let w = inner.width as usize;
    let mut lines = meeting_head(d, state, now, theme, role);
    // The table, then the selected item's details below.
    let (num_w, tier_w, time_w, status_w) = (11, 10, 12, 22);
    let wait_w = if w >= 110 { 22 } else { 0 };
    let title_w = w.saturating_sub(4 + num_w + tier_w + time_w + status_w + wait_w);
    lines.push(Line::styled(
        format!(
            "    {}{}{}{}{}{}",
            fit("NUMBER", num_w),
            fit("TITLE", title_w),
            fit("TIER", tier_w),
            fit("WAITING FOR", wait_w),
            fit("TIME", time_w),
            "STATE"
        ),
        theme.style("muted"),
    ));
    // The table takes what the item's details below leave (at least three rows).
    let below = 8usize;
    let table_rows = d.items.len().min(
        (inner.height as usize)
            .saturating_sub(lines.len() + below)
            .max(3),
    );
    let first = v.selected.saturating_sub(table_rows.saturating_sub(1));
    let current = d.current().map(|i| i.sys_id.clone());
    // Once a frame, not once a row.
    let collisions = d.collisions();
    for (i, item) in d.items.iter().enumerate().skip(first).take(table_rows) {
        let selected = i == v.selected;
        let tier = state.item_tier(item);
        let timer = d.timer(item, now);
        let time = if item.state == ItemState::Pending && timer.spent == 0 {
            span(item.allotted)
        } else {
            format!("{}/{}", short(timer.spent), short(item.allotted))
        };
        let attention = tier.map_or(Vec::new(), |t| {
            d.attention_among(item, &state.policy, t, &collisions)
        });
        let marker = if Some(&item.sys_id) == current.as_ref() {
            "●"
        } else if !attention.is_empty() {
            "⚠"
        } else {
            " "
        };
        let (status, status_style) = item_status(item, theme);
        let mut spans = vec![
            Span::raw(if selected { " ▶" } else { "  " }),
            Span::styled(format!("{marker} "), theme.style("sla.warning")),
            Span::styled(fit(&item.number, num_w), theme.style("text")),
            Span::raw(fit(
                &d.change_of(item)
                    .map_or(item.short_description.clone(), |c| {
                        c.short_description.clone()
                    }),
                title_w,
            )),
            Span::styled(
                fit(tier.map_or("—", |t| t.label()), tier_w),
                tier.map_or(theme.style("muted"), |t| theme.tier(t)),
            ),
            Span::raw(fit(&waiting_for(d, item, me), wait_w)),
            Span::raw(fit(&time, time_w)),
            Span::styled(status, status_style),
        ];
        if selected {
            spans = spans
                .into_iter()
                .map(|s| {
                    let st = s.style.patch(theme.style("selection"));
                    s.style(st)
                })
                .collect();
        }
        lines.push(Line::from(spans));
    }
    // The selected item: what needs attention, who has to vote.
    if let Some(item) = d.items.get(v.selected) {
        lines.push(Line::styled(
            format!("── {} ", item.number),
            theme.style("heading"),
        ));
        let tier = state.item_tier(item);
        if let (Some(c), Some(t)) = (d.change_of(item), tier) {
            let reason = state.policy.classify(c).reason;
            lines.push(Line::from(vec![
                Span::styled(t.label().to_string(), theme.tier(t)),
                Span::styled(format!(" · {reason}"), theme.style("muted")),
            ]));
            let sla = d
                .approvals_of(item)
                .find(|a| a.approval.in_queue())
                .map(|a| SlaClock::for_approval(&state.policy, t, &a.approval));
            let window = format::window(c.start_date, now);
            let sla_text = sla.map_or(String::new(), |s| {
                format!(" · SLA {}", format::countdown(s.remaining(now)))
            });
            lines.push(Line::styled(
                format!(
                    "{window}{sla_text} · {} · {}",
                    if c.configuration_item.is_empty() {
                        "no CI"
                    } else {
                        &c.configuration_item
                    },
                    c.assignment_group
                ),
                theme.style("muted"),
            ));
        }
        let attention = tier.map_or(Vec::new(), |t| {
            d.attention_among(item, &state.policy, t, &collisions)
        });
        for a in &attention {
            lines.push(Line::styled(format!("⚠ {a}"), theme.style("sla.warning")));
        }
        let votes: Vec<Span> = d
            .approvals_of(item)
            .flat_map(|a| {
                let (mark, style) = match a.approval.state {
                    ApprovalState::Approved => ("✓", theme.style("sla.on_track")),
                    ApprovalState::Rejected => ("✗", theme.style("sla.breached")),
                    ApprovalState::Requested => ("…", theme.style("sla.warning")),
                    _ => ("·", theme.style("muted")),
                };
                [
                    Span::styled(format!("{mark} "), style),
                    Span::raw(format!("{}   ", a.approval.approver.label())),
                ]
            })
            .collect();
        if !votes.is_empty() {
            let mut l = vec![Span::styled("Approvals: ", theme.style("muted"))];
            l.extend(votes);
            lines.push(Line::from(l));
        } else if !d.all_approvals {
            lines.push(Line::styled(
                "Approvals: the instance shows you only your own.",
                theme.style("muted"),
            ));
        }
    }
    let attendees: Vec<Span> = d
        .attendees
        .iter()
        .flat_map(|a| {
            let (mark, style) = match a.attendance {
                Attendance::Attending => ("●", theme.style("status.online")),
                Attendance::NotAttending => ("✗", theme.style("sla.breached")),
                _ => ("○", theme.style("muted")),
            };
            [
                Span::styled(format!("{mark} "), style),
                Span::raw(format!("{} ({})  ", a.user.label(), a.reason.label())),
            ]
        })
        .collect();
    let mut people = vec![Span::styled("Attendees: ", theme.style("muted"))];
    people.extend(attendees);
    lines.push(Line::from(people));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// `12:05` for a span under an hour, `1h05` above.
fn short(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}h{:02}", s / 3600, s % 3600 / 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `· cached 3m ago · 2 moves waiting` in a title.
fn source_note<'a>(
    v: &crate::ui::state::MeetingView,
    now: DateTime<Utc>,
    theme: &Theme,
) -> Vec<Span<'a>> {
    let mut out = Vec::new();
    if !v.fresh
        && let Some(at) = v.fetched_at
    {
        out.push(Span::styled(
            format!("· cached {} ", relative(at, now)),
            theme.style("sla.warning"),
        ));
    }
    if v.waiting_moves > 0 {
        out.push(Span::styled(
            format!(
                "· {} move{} waiting to reach the instance ",
                v.waiting_moves,
                if v.waiting_moves == 1 { "" } else { "s" }
            ),
            theme.style("sla.warning"),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

pub fn session(frame: &mut Frame, area: Rect, state: &AppState, now: DateTime<Utc>, theme: &Theme) {
    let Some(v) = &state.cab.open else {
        return;
    };
    let Some(d) = &v.detail else {
        agenda(frame, area, state, now, theme);
        return;
    };
    let me = state.me().unwrap_or_default();
    let role = d.meeting.role_of(me, &d.attendees);
    let current = d.current();
    let position = current.and_then(|c| d.items.iter().position(|i| i.sys_id == c.sys_id));
    let mut title = vec![
        Span::styled(
            if d.meeting.state == MeetingState::InProgress {
                " ● LIVE "
            } else {
                " SESSION "
            },
            theme.style(if d.meeting.state == MeetingState::InProgress {
                "status.online"
            } else {
                "muted"
            }),
        ),
        Span::styled(format!("{} ", d.meeting.name), theme.style("heading")),
    ];
    if let Some(p) = position {
        title.push(Span::styled(
            format!("· item {} of {} ", p + 1, d.items.len()),
            theme.style("muted"),
        ));
    }
    if !role.hosts() {
        title.push(Span::styled(
            format!("· following {} ", d.meeting.manager.label()),
            theme.style("muted"),
        ));
    }
    title.extend(source_note(v, now, theme));
    let block = bordered(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Wide: the whole agenda stays in view on the right, with where each item stands.
    let inner = if inner.width >= 120 {
        let rail_w = RAIL_WIDTH.min(inner.width / 3);
        let main = Rect {
            width: inner.width - rail_w - 1,
            ..inner
        };
        let rail = Rect {
            x: inner.x + inner.width - rail_w,
            width: rail_w,
            ..inner
        };
        let rail_block = Block::new()
            .borders(ratatui::widgets::Borders::LEFT)
            .border_style(theme.style("border"));
        let rail_inner = rail_block.inner(rail);
        frame.render_widget(rail_block, rail);
        frame.render_widget(
            Paragraph::new(agenda_rail(d, now, theme, rail_inner.width as usize)),
            rail_inner,
        );
        main
    } else {
        inner
    };
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let Some(item) = current else {
        let text = match (&d.meeting.state, role.hosts()) {
            (MeetingState::Pending, true) => format!(
                "The meeting has not started. Press {} to start it with the first item.",
                state.keymap.key(Cmd::StartMeeting)
            ),
            (MeetingState::Pending, false) => format!(
                "The meeting has not started; this view follows {} once it does.",
                d.meeting.manager.label()
            ),
            (MeetingState::InProgress, true) => format!(
                "Every item has been discussed. Press {} to end the meeting.",
                state.keymap.key(Cmd::EndMeeting)
            ),
            (MeetingState::InProgress, false) => "No item is being discussed right now.".into(),
            (s, _) => format!("The meeting is {}.", s.label()),
        };
        lines.extend(meeting_head(d, state, now, theme, role));
        lines.push(Line::from(""));
        lines.push(Line::from(text));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    };
    // The timer line.
    let timer = d.timer(item, now);
    let (timer_text, timer_style) = match timer.state() {
        TimerState::Left(l) if item.state == ItemState::Paused => (
            format!("⏸ PAUSED · {} left of {}", short(l), short(timer.allotted)),
            theme.style("status.busy"),
        ),
        TimerState::Left(l) => (
            format!("⏱ {} left of {}", short(l), short(timer.allotted)),
            if l <= 120 {
                theme.style("sla.warning")
            } else {
                theme.style("status.online")
            },
        ),
        TimerState::Due => (
            format!("⏱ TIME'S UP · {} allotted", short(timer.allotted)),
            theme.style("sla.warning"),
        ),
        TimerState::Overrun(o) => (
            format!(
                "⏱ OVERRUN +{} · {} allotted",
                short(o),
                short(timer.allotted)
            ),
            theme.style("sla.breached"),
        ),
    };
    let change = d.change_of(item);
    let tier = state.item_tier(item);
    let mut head = vec![
        Span::styled(format!("{} ", item.number), theme.style("heading")),
        Span::styled(timer_text, timer_style),
    ];
    if let Some(t) = tier {
        head.push(Span::raw("  "));
        head.push(Span::styled(t.label().to_string(), theme.tier(t)));
    }
    let (status, status_style) = item_status(item, theme);
    head.push(Span::styled(format!("  {status}"), status_style));
    lines.push(Line::from(head));
    let title = change.map_or(item.short_description.clone(), |c| {
        c.short_description.clone()
    });
    lines.push(Line::styled(title, theme.style("text")));
    let mut body: Vec<Line> = Vec::new();
    if let Some(c) = change {
        if let Some(t) = tier {
            body.push(Line::styled(
                format!("Why {}: {}", t.label(), state.policy.classify(c).reason),
                theme.style("muted"),
            ));
        }
        let window = match (c.start_date, c.end_date) {
            (Some(s), Some(e)) => format!(
                "{} – {} ({})",
                format::local(s, state.tz),
                e.with_timezone(&state.tz).format("%H:%M"),
                format::window(Some(s), now)
            ),
            _ => format::window(c.start_date, now),
        };
        let facts = format!(
            "{} · {} · {} · requested by {}",
            window,
            if c.configuration_item.is_empty() {
                "no CI"
            } else {
                &c.configuration_item
            },
            c.assignment_group,
            c.requested_by.label()
        );
        for l in format::wrap(&facts, w.max(10)) {
            body.push(Line::styled(l, theme.style("muted")));
        }
    }
    // What needs attention is never cut off: it wraps.
    if let Some(t) = tier {
        for a in d.attention(item, &state.policy, t) {
            for l in format::wrap(&format!("⚠ {a}"), w.max(10)) {
                body.push(Line::styled(l, theme.style("sla.warning")));
            }
        }
    }
    // Who votes, and what the user can do.
    let mut votes = vec![Span::styled("Approvals: ", theme.style("muted"))];
    let mut any = false;
    for a in d.approvals_of(item) {
        any = true;
        let (mark, style) = match a.approval.state {
            ApprovalState::Approved => ("✓", theme.style("sla.on_track")),
            ApprovalState::Rejected => ("✗", theme.style("sla.breached")),
            ApprovalState::Requested => ("…", theme.style("sla.warning")),
            _ => ("·", theme.style("muted")),
        };
        let who = if a.approval.approver.sys_id == me {
            "you".to_string()
        } else {
            a.approval.approver.label().to_string()
        };
        votes.push(Span::styled(format!("{mark} "), style));
        votes.push(Span::raw(format!("{who}   ")));
    }
    if !any {
        votes.push(Span::styled(
            if d.all_approvals {
                "none on this change"
            } else {
                "the instance shows you only your own"
            },
            theme.style("muted"),
        ));
    }
    body.push(Line::from(votes));
    let mine = state.session_approvals();
    if !mine.is_empty() {
        body.push(key_hint(
            state,
            theme,
            &[
                (Cmd::Approve, "approve"),
                (Cmd::Reject, "reject"),
                (Cmd::Hold, "hold"),
            ],
        ));
    }
    let notes: Vec<&String> = v
        .notes
        .iter()
        .filter(|(i, _)| *i == item.sys_id)
        .map(|(_, t)| t)
        .collect();
    if !notes.is_empty() || v.note.is_some() {
        body.push(Line::styled("Notes", theme.style("heading")));
        for n in notes {
            body.push(Line::from(format!("• {n}")));
        }
        if let Some(typing) = &v.note {
            body.push(Line::from(vec![
                Span::styled("• ", theme.style("key")),
                Span::raw(typing.clone()),
                Span::styled("█", theme.style("key")),
                Span::styled(
                    format!(
                        "   {} keep · {} drop",
                        state.keymap.key(Cmd::Run),
                        state.keymap.key(Cmd::Cancel)
                    ),
                    theme.style("muted"),
                ),
            ]));
        }
    }
    if let Some(c) = change {
        for (label, text) in [
            ("Implementation plan", &c.implementation_plan),
            ("Backout plan", &c.backout_plan),
            ("Test plan", &c.test_plan),
            ("Risk and impact", &c.risk_impact_analysis),
        ] {
            if text.is_empty() {
                continue;
            }
            body.push(Line::styled(label.to_string(), theme.style("heading")));
            for l in text.lines() {
                for wrapped in format::wrap(l, w.max(10)) {
                    body.push(Line::from(wrapped));
                }
            }
        }
    }
    // Next up, for the chair.
    if let Some(next) = d
        .items
        .iter()
        .filter(|i| i.state == ItemState::Pending)
        .min_by_key(|i| i.order)
    {
        body.push(Line::styled(
            format!("Next: {} {}", next.number, next.short_description),
            theme.style("muted"),
        ));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    let scroll = v.scroll.min(body.len().saturating_sub(room));
    lines.extend(body.into_iter().skip(scroll).take(room));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Width of the session's agenda rail (wide terminals).
const RAIL_WIDTH: u16 = 40;

/// The agenda beside the session: each item's mark, number, time spent against allotted, and
/// the meeting's totals and attendance.
fn agenda_rail<'a>(
    d: &MeetingDetail,
    now: DateTime<Utc>,
    theme: &Theme,
    w: usize,
) -> Vec<Line<'a>> {
    let closed = d.items.iter().filter(|i| i.state.is_closed()).count();
    let mut lines = vec![Line::from(vec![
        Span::styled(" Agenda ", theme.style("heading")),
        Span::styled(
            format!("{closed} of {} closed", d.items.len()),
            theme.style("muted"),
        ),
    ])];
    for item in &d.items {
        let (mark, style) = match (&item.state, &item.decision) {
            (s, _) if s.is_current() => ("▶", theme.style("status.online")),
            (_, ItemDecision::Approved | ItemDecision::Preapproved) => {
                ("✓", theme.style("sla.on_track"))
            }
            (_, ItemDecision::Rejected) => ("✗", theme.style("sla.breached")),
            (s, _) if s.is_closed() => ("–", theme.style("muted")),
            _ => ("·", theme.style("muted")),
        };
        let t = d.timer(item, now);
        let time = if t.spent == 0 && !item.state.is_current() {
            format!("{:>5}", short(t.allotted))
        } else {
            format!("{}/{}", short(t.spent), short(t.allotted))
        };
        let title_w = w.saturating_sub(3 + 11 + time.chars().count() + 1);
        let title = d
            .change_of(item)
            .map_or(item.short_description.as_str(), |c| {
                c.short_description.as_str()
            });
        let over = t.spent > t.allotted;
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::styled(fit(&item.number, 11), style),
            Span::styled(fit(title, title_w), theme.style("muted")),
            Span::styled(
                format!(" {time}"),
                if over {
                    theme.style("sla.breached")
                } else {
                    theme.style("muted")
                },
            ),
        ]));
    }
    let (spent, allotted) = d.totals(now);
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(" {} of {} spent", span(spent), span(allotted)),
        theme.style("muted"),
    ));
    let present = d
        .attendees
        .iter()
        .filter(|a| a.attendance == Attendance::Attending)
        .count();
    lines.push(Line::styled(
        format!(" {present} of {} attending", d.attendees.len()),
        theme.style("muted"),
    ));
    lines
}

/// The header's label for the CAB screens.
pub fn header_label(state: &AppState) -> &'static str {
    match state.mode {
        Mode::Meetings => "· CAB meetings · ",
        Mode::Agenda => "· CAB agenda · ",
        Mode::Session => "· CAB session · ",
        _ => "",
    }
}
