//! The detail of the selected change, as lines of (theme role, text): the view draws them and
//! `update` measures them, so scrolling stops at the end and the position is known.

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

use super::super::commands::Cmd;
use super::super::format;
use super::AppState;
use crate::domain::{Delivery, DetailSource, RiskTier, SlaStatus};

/// A piece of text with the theme role it is drawn in.
pub type Seg = (&'static str, String);

pub fn tier_role(t: RiskTier) -> &'static str {
    match t {
        RiskTier::Emergency => "tier.emergency",
        RiskTier::Critical => "tier.critical",
        RiskTier::High => "tier.high",
        RiskTier::Moderate => "tier.moderate",
        RiskTier::Low => "tier.low",
    }
}

pub fn sla_role(s: SlaStatus) -> &'static str {
    match s {
        SlaStatus::OnTrack => "sla.on_track",
        SlaStatus::Warning => "sla.warning",
        SlaStatus::Breached => "sla.breached",
    }
}

/// The theme role for where a decision stands.
pub fn delivery_role(d: &Delivery) -> &'static str {
    match d {
        Delivery::Queued | Delivery::Sending => "status.busy",
        Delivery::Applied { .. } => "status.online",
        Delivery::Conflict { .. } => "sla.warning",
        Delivery::Failed { .. } => "error",
        Delivery::Superseded { .. } => "muted",
    }
}

/// The SLA line of `a` on `clock`: the countdown, its status and deadline (business time left
/// and paused where the clock counts working hours), the escalation level once breached.
fn sla_line(
    state: &AppState,
    a: &crate::domain::Approval,
    tier: crate::domain::RiskTier,
    clock: &crate::domain::SlaClock,
    now: DateTime<Utc>,
) -> Vec<Seg> {
    let keys = &state.keymap;
    let c = &a.change;
    let status = clock.status(now);
    let mut sla = if c.on_hold {
        vec![
            label("SLA       "),
            ("muted", "on hold".into()),
            raw(format!(
                " — timers stop while the change is held; {} releases the hold",
                keys.key(Cmd::Resume)
            )),
        ]
    } else {
        vec![
            label("SLA       "),
            (sla_role(status), format::countdown(clock.remaining(now))),
            raw(format!(
                "  ({}, due {} from the {})",
                status.label(),
                format::local(clock.deadline, state.tz),
                clock.source.label()
            )),
        ]
    };
    // On business hours: whether the clock runs now, and the working time left first.
    if !c.on_hold
        && let Some(b) = clock.business_clock(&state.policy, a, tier, now)
    {
        sla = vec![label("SLA       ")];
        if let Some(until) = b.paused_until {
            sla.push(("sla.warning", format!("⏸ paused until {until} · ")));
        }
        sla.push((
            sla_role(status),
            format!("{} business time left", format::span(b.left)),
        ));
        sla.push(raw(format!(
            "  ({}, due {})",
            status.label(),
            format::local(clock.deadline, state.tz)
        )));
    }
    if status == SlaStatus::Breached && !c.on_hold {
        sla.push((
            sla_role(status),
            format!("  escalation level {}", clock.escalation_level(now)),
        ));
    }
    sla
}

/// The selected change in full: empty when nothing is selected.
pub fn content(state: &AppState, now: DateTime<Utc>) -> Vec<Vec<Seg>> {
    let Some(item) = state.queue.selected_whole() else {
        return Vec::new();
    };
    let keys = &state.keymap;
    let a = &item.approval;
    let c = &a.change;
    let sla = sla_line(state, a, item.tier.tier, &item.sla, now);
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
    let blank = Vec::new;
    let mut lines: Vec<Vec<Seg>> = Vec::new();
    // Someone else's approval: say whose, and by which delegation.
    if let Some(person) = state.on_behalf_of(a) {
        let me = state.user.as_ref().map_or("", |u| u.sys_id.as_str());
        let until = match state.delegations.from(person, me, state.now) {
            Some(d) => match d.ends {
                Some(end) => format!(" (delegation until {})", format::local(end, state.tz)),
                None => " (delegation with no end)".to_string(),
            },
            None => " (no delegation to you is known here yet)".to_string(),
        };
        lines.push(vec![
            ("heading", "You decide this on behalf of ".into()),
            ("heading", person.label().to_string()),
            raw(until),
        ]);
        lines.push(blank());
    }
    // Nobody present to decide: say who to chase.
    if let Some(note) = state.attention(&item, now) {
        lines.push(vec![(sla_role(SlaStatus::Breached), format!("⚑ {note}"))]);
        lines.push(blank());
    }
    // Where a decision on this change stands; conflicts and failures first and loud.
    if let Some(t) = state.deliveries.get(&a.sys_id) {
        let role = delivery_role(&t.delivery);
        let what = t.kind.map_or("decision", |k| k.verb());
        match &t.delivery {
            Delivery::Conflict { reason } | Delivery::Failed { error: reason } => {
                let head = if matches!(t.delivery, Delivery::Conflict { .. }) {
                    format!("! CONFLICT — your {what} was not applied")
                } else {
                    format!("✗ FAILED — your {what} was refused")
                };
                lines.push(vec![(role, head)]);
                lines.push(vec![(role, reason.clone())]);
                lines.push(vec![
                    ("key", keys.key(Cmd::Redecide)),
                    raw(" decide again on a fresh copy (your text is kept) · ".into()),
                    ("key", keys.key(Cmd::Discard)),
                    raw(" discard it".into()),
                ]);
            }
            Delivery::Applied { at } => lines.push(vec![
                label("Decision  "),
                (role, t.label()),
                raw(format!(" — applied {}", format::local(*at, state.tz))),
            ]),
            Delivery::Queued => lines.push(vec![
                label("Decision  "),
                (role, format!("{what} · {}", t.label())),
                raw(format!(
                    " — stored, not sent yet; {} withdraws it",
                    keys.key(Cmd::Discard)
                )),
            ]),
            Delivery::Sending => lines.push(vec![
                label("Decision  "),
                (role, format!("{what} · {}", t.label())),
                raw(" — being delivered".into()),
            ]),
            Delivery::Superseded { .. } => {}
        }
        lines.push(blank());
    }
    lines.push(vec![("title", c.short_description.clone())]);
    lines.push(blank());
    lines.push(vec![
        label("Tier      "),
        (tier_role(item.tier.tier), item.tier.tier.label().into()),
        raw(format!(" — {}", item.tier.reason)),
    ]);
    // The change in full, as read for this change (or being read).
    let ctx = state
        .context
        .as_ref()
        .filter(|v| v.change_sys_id == c.sys_id);
    let read = ctx.and_then(|v| v.result.as_ref().and_then(|r| r.as_ref().ok()));
    // The instance's own SLA clocks on the change, where it runs any, count instead of
    // signoff's estimate (which stays, below them, as an estimate).
    // Before the change is read in full, the one the last sync kept.
    let instance_slas: Vec<&crate::domain::context::InstanceSla> = match read {
        Some(x) => x.slas.iter().filter(|s| s.running()).collect(),
        None => c.instance_sla.iter().collect(),
    };
    if instance_slas.is_empty() {
        lines.push(sla);
    } else {
        for s in &instance_slas {
            let breached = s.has_breached || s.breach_at.is_some_and(|b| b <= now);
            let role = if breached {
                "sla.breached"
            } else {
                "sla.on_track"
            };
            let mut line = vec![
                label("SLA       "),
                (role, s.name.clone()),
                label(" (instance SLA)"),
            ];
            line.push(raw(format!(" · {}", s.stage)));
            if let Some(b) = s.breach_at {
                line.push((
                    role,
                    format!(
                        " · {} {}",
                        if breached { "breached" } else { "breaches" },
                        format::local(b, state.tz)
                    ),
                ));
            }
            if let Some(left) = s.business_left.filter(|_| !breached) {
                line.push(raw(format!(
                    " · {} business time left",
                    format::span(chrono::Duration::seconds(left))
                )));
            }
            if let Some(p) = s.business_percentage {
                line.push(label_owned(format!(" · {p}% elapsed")));
            }
            lines.push(line);
        }
        // Signoff's own clock, not the instance's copied into the approval.
        let own = crate::domain::SlaClock::estimate(&state.policy, item.tier.tier, a);
        let mut estimate = vec![label("          signoff's estimate: ")];
        estimate.extend(
            sla_line(state, a, item.tier.tier, &own, now)
                .into_iter()
                .skip(1),
        );
        lines.push(estimate);
    }
    // A timed auto-approval: it approves by itself at its due date unless paused.
    if let Some(at) = crate::domain::governance::auto_approves_at(&state.policy, a) {
        let left = at - now;
        let text = if left > chrono::Duration::zero() {
            format!("auto-approves in {} unless paused", format::span(left))
        } else {
            "auto-approves now unless paused".to_string()
        };
        lines.push(vec![
            label("Automated "),
            ("sla.warning", format!("⚙ {text}")),
            raw(format!(
                " ({} puts the change on hold) · by rule: {}",
                keys.key(Cmd::Hold),
                a.source
            )),
        ]);
    } else if !a.source.is_empty() {
        lines.push(vec![
            label("Automated "),
            raw(format!("⚙ by rule: {}", a.source)),
        ]);
    }
    lines.push(vec![label("Window    "), raw(window)]);
    lines.push(vec![
        label("Type      "),
        raw(c
            .change_type
            .as_ref()
            .map_or("—".into(), |t| t.label().to_string())),
        label("   State "),
        raw(opt(&c.state)),
        label("   Risk "),
        raw(c.risk.map_or("—", |r| r.label()).into()),
        label("   Impact "),
        raw(c.impact.map_or("—", |l| l.label()).into()),
        label("   Urgency "),
        raw(c.urgency.map_or("—", |l| l.label()).into()),
    ]);
    lines.push(vec![label("Requester "), raw(opt(c.requested_by.label()))]);
    lines.push(vec![label("Group     "), raw(opt(&c.assignment_group))]);
    let mut ci = vec![label("CI        "), raw(opt(&c.configuration_item))];
    if !c.ci_class.is_empty() {
        ci.push(raw(format!(" ({})", c.ci_class)));
    }
    if !c.environment.is_empty() {
        ci.push(label("   Environment "));
        ci.push(raw(c.environment.clone()));
    }
    lines.push(ci);
    if !c.service.is_empty() || !c.category.is_empty() {
        lines.push(vec![
            label("Service   "),
            raw(opt(&c.service)),
            label("   Category "),
            raw(opt(&c.category)),
        ]);
    }
    let controls = state.policy.controls_for(c);
    if !controls.is_empty() {
        lines.push(vec![label("Controls  "), ("key", controls.join(" · "))]);
    }
    lines.push(vec![
        label("Approver  "),
        raw(opt(a.approver.label())),
        raw(a
            .group
            .as_ref()
            .map(|g| format!(" (group {g})"))
            .unwrap_or_default()),
        label("   requested "),
        raw(format::local(a.requested_at, state.tz)),
    ]);
    // Whether the approver is at work now, where the policy knows their hours.
    match crate::domain::delegation::in_hours(&state.policy, &a.approver, now) {
        Some(Ok(())) => lines.push(vec![
            label("          "),
            raw("in working hours now".into()),
        ]),
        Some(Err((_, back))) => lines.push(vec![
            label("          "),
            (
                "sla.warning",
                format!("☾ outside working hours until {back}"),
            ),
        ]),
        None => {}
    }
    if c.on_hold {
        lines.push(vec![(sla_role(SlaStatus::Warning), "ON HOLD".into())]);
    }
    if let Some(x) = read {
        let cab = &x.cab;
        let mut line = vec![
            label("CAB       "),
            raw(if cab.required {
                "required".into()
            } else {
                "not required".into()
            }),
        ];
        if !cab.date.is_empty() {
            line.push(label("   date "));
            line.push(raw(cab.date.clone()));
        }
        if !cab.recommendation.is_empty() {
            line.push(label("   recommendation "));
            line.push(raw(cab.recommendation.clone()));
        }
        lines.push(line);
        if !cab.conflict_status.is_empty() {
            let role = if cab.conflict_status.eq_ignore_ascii_case("conflict") {
                "sla.breached"
            } else {
                "text"
            };
            let mut line = vec![label("Conflicts "), (role, cab.conflict_status.clone())];
            if !cab.conflict_last_run.is_empty() {
                line.push(label("   last run "));
                line.push(raw(cab.conflict_last_run.clone()));
            }
            lines.push(line);
        }
    }
    match c.detail_source {
        DetailSource::Summary => {
            lines.push(blank());
            lines.push(vec![(
                "muted",
                "Summary only: this account cannot read the change record, so plans and risk come from the approval where the instance provides them.".into(),
            )]);
        }
        DetailSource::TextsPending => {
            lines.push(blank());
            lines.push(vec![(
                "muted",
                "The description, justification and plans are still being fetched: the queue came first. They appear here when they arrive (or at the next sync).".into(),
            )]);
        }
        DetailSource::Full => {}
    }
    for (title, body) in [
        ("Description", &c.description),
        ("Justification", &c.justification),
        ("Implementation plan", &c.implementation_plan),
        ("Backout plan", &c.backout_plan),
        ("Test plan", &c.test_plan),
        ("Risk and impact analysis", &c.risk_impact_analysis),
    ] {
        lines.push(blank());
        lines.push(vec![("heading", title.into())]);
        if state.queue.details_pending {
            lines.push(vec![("muted", "reading the cache…".into())]);
        } else if body.is_empty() {
            lines.push(vec![("muted", "—".into())]);
        } else {
            lines.extend(body.lines().map(|l| vec![raw(l.to_string())]));
        }
    }
    // Who else must approve, and what they said.
    lines.push(blank());
    lines.push(vec![("heading", "Approvals on this change".into())]);
    match ctx.and_then(|v| v.result.as_ref()) {
        None if ctx.is_none() => lines.push(vec![(
            "muted",
            format!(
                "{} opens the change and reads them, with its comments, work notes and attachments",
                keys.key(Cmd::Open)
            ),
        )]),
        None => lines.push(vec![("muted", "reading them from the instance…".into())]),
        Some(Err(e)) => lines.push(vec![("error", format!("Could not read them: {e}"))]),
        Some(Ok(x)) if x.approvals.is_empty() => {
            lines.push(vec![("muted", "none the instance shows to you".into())])
        }
        Some(Ok(x)) => {
            for o in &x.approvals {
                let role = match o.state_value.as_str() {
                    "approved" => "status.online",
                    "rejected" => "error",
                    _ => "muted",
                };
                let who = if o.approver.sys_id.is_empty() && o.approver.name.is_empty() {
                    "(no approver)"
                } else {
                    o.approver.label()
                };
                let mut line = vec![(role, format!("{:<10}", o.state)), raw(format!(" {who}"))];
                if o.approver.sys_id == a.approver.sys_id && o.sys_id == a.sys_id {
                    line.push(("key", " (this approval)".into()));
                }
                if !o.group.is_empty() {
                    line.push(label(" · group "));
                    line.push(raw(o.group.clone()));
                }
                if o.decided()
                    && let Some(t) = o.updated
                {
                    line.push(label(" · "));
                    line.push(raw(format::local(t, state.tz)));
                }
                if let Some(how) = o.automated() {
                    line.push(("heading", format!(" · ⚙ automated, {how}")));
                }
                lines.push(line);
                for j in &o.comments {
                    lines.push(vec![
                        label("    “"),
                        raw(j.text.replace('\n', " ")),
                        label("” "),
                        ("muted", j.at.clone()),
                    ]);
                }
            }
            // An automated approval never outweighs a person's rejection or a hold.
            let automated = x
                .approvals
                .iter()
                .any(|o| o.state_value == "approved" && o.automated().is_some());
            let stopped = c.on_hold
                || x.approvals
                    .iter()
                    .any(|o| o.state_value == "rejected" && o.automated().is_none());
            if automated && stopped {
                lines.push(vec![(
                    "sla.warning",
                    "An automated approval does not override a rejection or a hold: signoff (and its gate) count this change as stopped.".into(),
                )]);
            }
        }
    }
    // What may collide: other changes on the same CI in an overlapping window.
    let related = state.queue.related(a);
    if !related.is_empty() {
        lines.push(blank());
        lines.push(vec![(
            "heading",
            format!(
                "Related changes on {} in an overlapping window",
                c.configuration_item
            ),
        )]);
        for r in &related {
            let rc = &r.change;
            lines.push(vec![
                raw(format!("{:<11}", rc.number)),
                (
                    "sla.warning",
                    format!("{} ", format::window(rc.start_date, now)),
                ),
                raw(rc.short_description.clone()),
            ]);
        }
    }
    if let Some(v) = ctx.filter(|v| !v.fresh && v.result.as_ref().is_some_and(|r| r.is_ok())) {
        let when = v
            .result
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .and_then(|x| x.fetched_at)
            .map_or("earlier".to_string(), |t| format::ago(now, t));
        lines.push(vec![("muted", format!("(as cached {when})"))]);
    }
    if let Some(x) = read {
        lines.push(blank());
        lines.push(vec![("heading", "Comments and work notes".into())]);
        if x.journal.is_empty() {
            lines.push(vec![("muted", "—".into())]);
        }
        for j in &x.journal {
            lines.push(vec![
                ("muted", j.at.clone()),
                raw(format!(" {} ", j.author)),
                label("("),
                label_owned(j.kind.clone()),
                label(")"),
            ]);
            lines.extend(j.text.lines().map(|l| vec![raw(format!("  {l}"))]));
        }
        lines.push(blank());
        lines.push(vec![("heading", "Attachments".into())]);
        if x.attachments.is_empty() {
            lines.push(vec![("muted", "—".into())]);
        }
        for f in &x.attachments {
            lines.push(vec![
                raw(f.name.clone()),
                label(" · "),
                raw(crate::domain::context::size_label(f.size)),
                label(" · "),
                ("muted", f.content_type.clone()),
            ]);
        }
        for h in &x.hidden {
            lines.push(vec![("muted", format!("The instance did not show {h}."))]);
        }
    }
    lines
}

fn label(s: &'static str) -> Seg {
    ("muted", s.to_string())
}

fn label_owned(s: String) -> Seg {
    ("muted", s)
}

fn raw(s: String) -> Seg {
    ("text", s)
}

/// Screen rows the content takes at `width` (wrapped as the view wraps it).
pub fn height(content: &[Vec<Seg>], width: u16) -> usize {
    let text = Text::from(
        content
            .iter()
            .map(|l| {
                Line::from(
                    l.iter()
                        .map(|(_, t)| Span::raw(t.as_str()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    );
    Paragraph::new(text)
        .wrap(Wrap { trim: false })
        .line_count(width.max(1))
}
