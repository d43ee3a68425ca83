//! `signoff queue [--output …]`: sync (or, offline, read the cache), then print the queue.

use serde::Serialize;

use super::Failure;
use super::connect::Session;
use crate::backend::no_progress;
use crate::domain::{Approval, Clock, Policy, build_queue};
use crate::sync::sync_once;
use crate::ui;

pub async fn run(s: &Session, json: bool) -> Result<(), Failure> {
    let out = if json {
        super::Output::Json
    } else {
        s.output()
    };
    let mut store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    if !s.cli.offline {
        let backend = s.connect(&clock)?;
        let outcome = sync_once(&backend, &mut store, clock.as_ref(), &no_progress)
            .await
            .map_err(super::sync::failure)?;
        super::sync::print_notices(&outcome.notices);
    }
    // Decoded row by row on this thread: the memory the sync just freed is reused.
    let snapshot = store
        .load_snapshot()
        .map_err(|e| Failure::other(e.to_string()))?;
    if snapshot.synced_at.is_none() {
        return Err(Failure::other(format!(
            "There is no cached queue for profile {:?} yet. Run `signoff sync` (or leave out --offline) first.",
            s.profile_name
        )));
    }
    let delegations = store
        .delegations()
        .map_err(|e| Failure::other(e.to_string()))?;
    let me = snapshot.user.map(|u| u.sys_id).unwrap_or_default();
    print_queue(
        snapshot.approvals,
        &delegations,
        &me,
        &s.config.policy,
        out,
        clock.now(),
    )
}

/// One queue row for scripts.
#[derive(Serialize)]
struct QueueRow<'a> {
    number: &'a str,
    approval_sys_id: &'a str,
    change_sys_id: &'a str,
    tier: crate::domain::RiskTier,
    tier_reason: &'a str,
    state: &'a str,
    sla_deadline: String,
    sla_status: crate::domain::SlaStatus,
    escalation_level: u8,
    window_start: Option<String>,
    requested_by: &'a str,
    approver: &'a str,
    /// The approver, when it is a colleague who delegated to you.
    on_behalf_of: Option<&'a str>,
    on_hold: bool,
    /// Set when nobody is there to decide, naming the policy's fallback approver.
    attention: Option<String>,
    short_description: &'a str,
}

fn print_queue(
    approvals: Vec<Approval>,
    delegations: &[crate::domain::Delegation],
    me: &str,
    policy: &Policy,
    output: super::Output,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Failure> {
    let queue = build_queue(policy, approvals);
    // Rows are made one at a time as they are written: the list is never held twice.
    let rows = (output != super::Output::Table)
        .then_some(&queue)
        .into_iter()
        .flatten()
        .map(|e| QueueRow {
            number: &e.approval.change.number,
            approval_sys_id: &e.approval.sys_id,
            change_sys_id: &e.approval.change.sys_id,
            tier: e.tier.tier,
            tier_reason: &e.tier.reason,
            state: e.approval.state.value(),
            sla_deadline: e.sla.deadline.to_rfc3339(),
            sla_status: e.sla.status(now),
            escalation_level: e.sla.escalation_level(now),
            window_start: e.approval.change.start_date.map(|t| t.to_rfc3339()),
            requested_by: e.approval.change.requested_by.label(),
            approver: e.approval.approver.label(),
            on_behalf_of: (e.approval.approver.sys_id != me).then(|| e.approval.approver.label()),
            on_hold: e.approval.change.on_hold,
            attention: crate::domain::needs_fallback(e, delegations, policy, now),
            short_description: &e.approval.change.short_description,
        });
    super::output::stream(
        output,
        rows,
        |out| {
            writeln!(
                out,
                "{:<11} {:<10} {:<18} {:<16} DESCRIPTION",
                "NUMBER", "TIER", "SLA", "WINDOW"
            )?;
            for e in &queue {
                let c = &e.approval.change;
                let sla = if c.on_hold {
                    "on hold".to_string()
                } else {
                    ui::format::countdown(e.sla.remaining(now))
                };
                let whose = if e.approval.approver.sys_id != me {
                    format!("for {} · ", e.approval.approver.label())
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{:<11} {:<10} {:<18} {:<16} {whose}{}",
                    c.number,
                    e.tier.tier.label(),
                    sla,
                    ui::format::window(c.start_date, now),
                    c.short_description
                )?;
                if let Some(note) = crate::domain::needs_fallback(e, delegations, policy, now) {
                    writeln!(out, "{:<11} ⚑ {note}", "")?;
                }
            }
            writeln!(out, "{} pending", queue.len())
        },
        "the queue",
    )
}
