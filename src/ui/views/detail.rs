//! The detail pane: the selected change in full, with the reasons behind its tier and SLA.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::domain::text::sanitize_line;
use crate::domain::{Delivery, DetailSource, SlaStatus};
use crate::ui::app::AppState;
use crate::ui::format;
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
    let a = &item.approval;
    let c = &a.change;
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(format!(" {} ", c.number), theme.style("heading")),
            Span::styled(
                if focused {
                    "· j/k scroll · Esc back "
                } else {
                    "· Enter to focus "
                },
                theme.style("muted"),
            ),
        ]))
        .border_style(theme.style(if focused { "border_focus" } else { "border" }));

    let label = |s: &'static str| Span::styled(s, theme.style("muted"));
    let status = item.sla.status(now);
    let mut sla = if c.on_hold {
        vec![
            label("SLA       "),
            Span::styled("on hold", theme.style("muted")),
            Span::raw(" — timers stop while the change is held; u releases the hold"),
        ]
    } else {
        vec![
            label("SLA       "),
            Span::styled(
                format::countdown(item.sla.remaining(now)),
                theme.sla(status),
            ),
            Span::raw(format!(
                "  ({}, due {} from the {})",
                status.label(),
                format::local(item.sla.deadline, state.tz),
                item.sla.source.label()
            )),
        ]
    };
    if status == SlaStatus::Breached && !c.on_hold {
        sla.push(Span::styled(
            format!("  escalation level {}", item.sla.escalation_level(now)),
            theme.sla(status),
        ));
    }
    let window = match (c.start_date, c.end_date) {
        (Some(s), Some(e)) => format!(
            "{} ({} – {})",
            format::window(Some(s), now),
            format::local(s, state.tz),
            format::local(e, state.tz)
        ),
        (Some(s), None) => format!(
            "{} ({})",
            format::window(Some(s), now),
            format::local(s, state.tz)
        ),
        _ => "no planned window".into(),
    };
    let opt = |s: &str| {
        if s.is_empty() {
            "—".to_string()
        } else {
            s.to_string()
        }
    };
    let mut lines = Vec::new();
    // Someone else's approval: say whose, and by which delegation.
    if let Some(person) = state.on_behalf_of(a) {
        let until = match state.delegation_from(person) {
            Some(d) => match d.ends {
                Some(end) => format!(" (delegation until {})", format::local(end, state.tz)),
                None => " (delegation with no end)".to_string(),
            },
            None => " (no delegation to you is known here yet)".to_string(),
        };
        lines.push(Line::from(vec![
            Span::styled("You decide this on behalf of ", theme.style("heading")),
            Span::styled(sanitize_line(person.label()), theme.style("heading")),
            Span::raw(until),
        ]));
        lines.push(Line::from(""));
    }
    // Nobody present to decide: say who to chase.
    if let Some(note) = state.attention(item, now) {
        lines.push(Line::styled(
            format!("⚑ {}", sanitize_line(&note)),
            theme.sla(SlaStatus::Breached),
        ));
        lines.push(Line::from(""));
    }
    // Where a decision on this change stands; conflicts and failures first and loud.
    if let Some(t) = state.deliveries.get(&a.sys_id) {
        let style = super::queue::delivery_style(t, theme);
        let what = t.kind.map_or("decision", |k| k.verb());
        match &t.delivery {
            Delivery::Conflict { reason } | Delivery::Failed { error: reason } => {
                let head = if matches!(t.delivery, Delivery::Conflict { .. }) {
                    format!("! CONFLICT — your {what} was not applied")
                } else {
                    format!("✗ FAILED — your {what} was refused")
                };
                lines.push(Line::styled(head, style));
                lines.push(Line::styled(sanitize_line(reason), style));
                lines.push(Line::from(vec![
                    Span::styled("e", theme.style("key")),
                    Span::raw(" re-decide (your text is kept) · "),
                    Span::styled("d", theme.style("key")),
                    Span::raw(" discard it"),
                ]));
            }
            Delivery::Applied { at } => lines.push(Line::from(vec![
                label("Decision  "),
                Span::styled(t.label(), style),
                Span::raw(format!(" — applied {}", format::local(*at, state.tz))),
            ])),
            Delivery::Queued | Delivery::Sending => lines.push(Line::from(vec![
                label("Decision  "),
                Span::styled(format!("{what} · {}", t.label()), style),
                Span::raw(" — stored; sync delivers it"),
            ])),
            Delivery::Superseded { .. } => {}
        }
        lines.push(Line::from(""));
    }
    lines.extend([
        Line::styled(c.short_description.clone(), theme.style("title")),
        Line::from(""),
        Line::from(vec![
            label("Tier      "),
            Span::styled(item.tier.tier.label(), theme.tier(item.tier.tier)),
            Span::raw(format!(" — {}", item.tier.reason)),
        ]),
        Line::from(sla),
        Line::from(vec![label("Window    "), Span::raw(window)]),
        Line::from(vec![
            label("Type      "),
            Span::raw(
                c.change_type
                    .as_ref()
                    .map_or("—".into(), |t| t.label().to_string()),
            ),
            label("   State "),
            Span::raw(opt(&c.state)),
            label("   Risk "),
            Span::raw(c.risk.map_or("—", |r| r.label())),
            label("   Impact "),
            Span::raw(c.impact.map_or("—", |l| l.label())),
            label("   Urgency "),
            Span::raw(c.urgency.map_or("—", |l| l.label())),
        ]),
        Line::from(vec![
            label("Requester "),
            Span::raw(opt(c.requested_by.label())),
        ]),
        Line::from(vec![
            label("Group     "),
            Span::raw(opt(&c.assignment_group)),
        ]),
        Line::from(vec![
            label("CI        "),
            Span::raw(opt(&c.configuration_item)),
        ]),
        Line::from(vec![
            label("Approver  "),
            Span::raw(opt(a.approver.label())),
            Span::raw(
                a.group
                    .as_ref()
                    .map(|g| format!(" (group {g})"))
                    .unwrap_or_default(),
            ),
            label("   requested "),
            Span::raw(format::local(a.requested_at, state.tz)),
        ]),
    ]);
    if c.on_hold {
        lines.push(Line::styled("ON HOLD", theme.sla(SlaStatus::Warning)));
    }
    if c.detail_source == DetailSource::Summary {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "Summary only: this account cannot read the change record, so plans and risk come from the approval where the instance provides them.",
            theme.style("muted"),
        ));
    }
    for (title, body) in [
        ("Description", &c.description),
        ("Justification", &c.justification),
        ("Implementation plan", &c.implementation_plan),
        ("Backout plan", &c.backout_plan),
        ("Test plan", &c.test_plan),
        ("Risk and impact analysis", &c.risk_impact_analysis),
    ] {
        lines.push(Line::from(""));
        lines.push(Line::styled(title, theme.style("heading")));
        if state.details_pending {
            lines.push(Line::styled("reading the cache…", theme.style("muted")));
        } else if body.is_empty() {
            lines.push(Line::styled("—", theme.style("muted")));
        } else {
            lines.extend(body.lines().map(|l| Line::from(l.to_string())));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((state.detail_scroll, 0)),
        area,
    );
}
