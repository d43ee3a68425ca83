//! `signoff queue [--output …]`: sync (or, offline, read the cache), then print the queue.

use serde::Serialize;

use super::Failure;
use super::connect::Session;
use crate::backend::no_progress;
use crate::domain::{Clock, Policy, QueueEntry};
use crate::sync::sync_then_texts;
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
        let (outcome, ahead) = sync_then_texts(&backend, &mut store, clock.as_ref(), &no_progress)
            .await
            .map_err(super::sync::failure)?;
        crate::sync::fill_long_texts(&backend, &store, ahead, || true, |_| {})
            .await
            .map_err(super::sync::failure)?;
        super::sync::print_notices(&outcome.notices);
    }
    let state = store
        .sync_state()
        .map_err(|e| Failure::other(e.to_string()))?;
    if state.synced_at.is_none() {
        return Err(Failure::other(format!(
            "There is no cached queue for profile {:?} yet. Run `signoff sync` (or leave out --offline) first.",
            s.profile_name
        )));
    }
    let delegations = store
        .delegations()
        .map_err(|e| Failure::other(e.to_string()))?;
    let me = state.user.map(|u| u.sys_id).unwrap_or_default();
    // The queue's order comes from the store's index, the rows a few hundred at a time as
    // they are written: the output never holds the queue.
    let index = store
        .queue_index()
        .map_err(|e| Failure::other(e.to_string()))?;
    let ids: Vec<&str> = index.keys.iter().map(|k| &*k.sys_id).collect();
    let failed = std::cell::RefCell::new(None);
    let policy = s.policy();
    let entries = || {
        ids.chunks(ROWS_AT_ONCE)
            .flat_map(|chunk| {
                store.summaries_by_id(chunk).unwrap_or_else(|e| {
                    failed.borrow_mut().get_or_insert(e);
                    Vec::new()
                })
            })
            .map(|a| QueueEntry::new(&policy, a))
    };
    let printed = print_queue(entries, &delegations, &me, &policy, out, clock.now());
    match failed.into_inner() {
        Some(e) => Err(Failure::other(e.to_string())),
        None => printed,
    }
}

/// Rows read from the store per query while printing.
const ROWS_AT_ONCE: usize = 256;

/// One queue row for scripts.
#[derive(Serialize)]
struct QueueRow {
    number: String,
    approval_sys_id: String,
    change_sys_id: String,
    tier: crate::domain::RiskTier,
    tier_reason: String,
    state: String,
    sla_deadline: String,
    sla_status: crate::domain::SlaStatus,
    escalation_level: u8,
    window_start: Option<String>,
    requested_by: String,
    approver: String,
    /// The approver, when it is a colleague who delegated to you.
    on_behalf_of: Option<String>,
    on_hold: bool,
    /// Set when nobody is there to decide, naming the policy's fallback approver.
    attention: Option<String>,
    short_description: String,
}

fn print_queue<I: Iterator<Item = QueueEntry>>(
    entries: impl Fn() -> I,
    delegations: &[crate::domain::Delegation],
    me: &str,
    policy: &Policy,
    output: super::Output,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Failure> {
    // Rows are made one at a time as they are written: the list is never held.
    let rows = (output != super::Output::Table)
        .then(&entries)
        .into_iter()
        .flatten()
        .map(|e| {
            let attention = crate::domain::needs_fallback(&e, delegations, policy, now);
            let a = e.approval;
            let on_behalf_of = (a.approver.sys_id != me).then(|| a.approver.label().to_string());
            QueueRow {
                tier: e.tier.tier,
                tier_reason: e.tier.reason,
                state: a.state.value().to_string(),
                sla_deadline: e.sla.deadline.to_rfc3339(),
                sla_status: e.sla.status(now),
                escalation_level: e.sla.escalation_level(now),
                window_start: a.change.start_date.map(|t| t.to_rfc3339()),
                requested_by: a.change.requested_by.label().to_string(),
                approver: a.approver.label().to_string(),
                on_behalf_of,
                on_hold: a.change.on_hold,
                attention,
                number: a.change.number,
                approval_sys_id: a.sys_id,
                change_sys_id: a.change.sys_id,
                short_description: a.change.short_description,
            }
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
            let mut count = 0;
            for e in entries() {
                count += 1;
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
                if let Some(note) = crate::domain::needs_fallback(&e, delegations, policy, now) {
                    writeln!(out, "{:<11} ⚑ {note}", "")?;
                }
            }
            writeln!(out, "{count} pending")
        },
        "the queue",
    )
}
