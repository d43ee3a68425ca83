//! `signoff sync`: deliver what waits, then sync once and say what changed.

use std::process::ExitCode;

use super::connect::Session;
use super::{Failure, exit};
use crate::backend::{Backend, no_progress};
use crate::sync::{
    Deliver, DeliveryReport, SyncError, deliver_pending, fill_long_texts, sync_then_texts,
};

pub async fn run(s: &Session) -> Result<ExitCode, Failure> {
    if s.cli.offline {
        return Err(Failure::usage(
            "`signoff sync` needs the network; leave out --offline.",
        ));
    }
    let mut store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    let backend = s.connect(&clock)?;
    let started = std::time::Instant::now();
    let delivered = deliver_pending(
        &backend,
        &mut store,
        clock.as_ref(),
        Deliver::All,
        &|_, _| {},
        true,
    )
    .await
    .map_err(|e| Failure::other(e.to_string()))?;
    let output = s.output();
    // What was delivered is said even when the round stopped part-way (on stderr when
    // stdout carries a report for a script).
    report(&delivered, output == super::Output::Table);
    if let Some(e) = delivered.stopped {
        let waiting = store.outbox_pending().unwrap_or(0);
        return Err(Failure::new(
            super::backend_kind(&e),
            format!(
                "{e} {waiting} decision{} still wait{} in the outbox and will be delivered when the instance answers.",
                if waiting == 1 { "" } else { "s" },
                if waiting == 1 { "s" } else { "" },
            ),
        ));
    }
    let (outcome, ahead) = sync_then_texts(&backend, &mut store, clock.as_ref(), &no_progress)
        .await
        .map_err(failure)?;
    let queue_seconds = started.elapsed().as_secs_f64();
    let long_texts = fill_long_texts(&backend, &store, ahead, || true, |_| {})
        .await
        .map_err(failure)?;
    print_notices(&outcome.notices);
    // Exit 4 while decisions in conflict or failed wait for the user.
    let waiting = store
        .open_decisions()
        .map_err(|e| Failure::other(e.to_string()))?
        .iter()
        .filter(|e| e.delivery.needs_attention())
        .count();
    let seconds = started.elapsed().as_secs_f64();
    #[derive(serde::Serialize)]
    struct Report<'a> {
        instance: &'a str,
        user: &'a str,
        full: bool,
        added: usize,
        updated: usize,
        removed: usize,
        pending: usize,
        delivered_applied: usize,
        delivered_conflicts: usize,
        delivered_failed: usize,
        decisions_needing_attention: usize,
        seconds: f64,
        /// When the queue was stored, before the second pass fetched the long texts.
        queue_seconds: f64,
        /// Approvals whose change's long texts the second pass fetched.
        long_texts: usize,
    }
    let label = backend.instance_label();
    super::output::record(
        output,
        &Report {
            instance: &label,
            user: &outcome.user.user_name,
            full: outcome.full,
            added: outcome.added,
            updated: outcome.updated,
            removed: outcome.removed,
            pending: outcome.total,
            delivered_applied: delivered.applied,
            delivered_conflicts: delivered.conflicts,
            delivered_failed: delivered.failed,
            decisions_needing_attention: waiting,
            seconds: (seconds * 1000.0).round() / 1000.0,
            queue_seconds: (queue_seconds * 1000.0).round() / 1000.0,
            long_texts,
        },
        |w| {
            let texts = if long_texts > 0 {
                format!(" (the queue in {queue_seconds:.1} s, then the long texts of {long_texts})")
            } else {
                String::new()
            };
            writeln!(
                w,
                "Synced {label} as {}: {} pending — {}, in {seconds:.1} s{texts}.",
                outcome.user.user_name,
                outcome.total,
                outcome.summary(),
            )
        },
        "the sync report",
    )?;
    if waiting > 0 {
        eprintln!(
            "signoff: {waiting} decision{} in conflict or failed wait{} for you: `signoff outbox` shows {}.",
            if waiting == 1 { "" } else { "s" },
            if waiting == 1 { "s" } else { "" },
            if waiting == 1 { "it" } else { "them" },
        );
        return Ok(ExitCode::from(exit::CONFLICT));
    }
    Ok(ExitCode::from(exit::APPLIED))
}

fn report(delivered: &DeliveryReport, on_stdout: bool) {
    if delivered.applied + delivered.conflicts + delivered.failed == 0 {
        return;
    }
    let line = format!(
        "Delivered decisions: {} applied, {} in conflict, {} failed{}.",
        delivered.applied,
        delivered.conflicts,
        delivered.failed,
        if delivered.conflicts + delivered.failed > 0 {
            " (see `signoff outbox`)"
        } else {
            ""
        }
    );
    if on_stdout {
        println!("{line}");
    } else {
        eprintln!("signoff: {line}");
    }
}

/// What the sync wants the user to know, on stderr (stdout stays the command's output).
pub fn print_notices(notices: &[String]) {
    for n in notices {
        eprintln!("signoff: note: {n}");
    }
}

pub fn failure(e: SyncError) -> Failure {
    match &e {
        SyncError::Backend(b) => Failure::new(super::backend_kind(b), e.to_string()),
        SyncError::Store(_) => Failure::other(e.to_string()),
    }
}
