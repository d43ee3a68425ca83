//! `signoff sync`: deliver what waits, then sync once and say what changed.

use std::process::ExitCode;

use super::connect::Session;
use super::{Failure, exit};
use crate::backend::{Backend, no_progress};
use crate::sync::{Deliver, DeliveryReport, SyncError, deliver_pending, sync_once};

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
    // What was delivered is said even when the round stopped part-way.
    report(&delivered);
    if let Some(e) = delivered.stopped {
        let waiting = store.outbox_pending().unwrap_or(0);
        return Err(Failure::other(format!(
            "{e} {waiting} decision{} still wait{} in the outbox and will be delivered when the instance answers.",
            if waiting == 1 { "" } else { "s" },
            if waiting == 1 { "s" } else { "" },
        )));
    }
    let outcome = sync_once(&backend, &mut store, clock.as_ref(), &no_progress)
        .await
        .map_err(failure)?;
    print_notices(&outcome.notices);
    println!(
        "Synced {} as {}: {} pending — {}, in {:.1} s.",
        backend.instance_label(),
        outcome.user.user_name,
        outcome.total,
        outcome.summary(),
        started.elapsed().as_secs_f64()
    );
    // Exit 4 while decisions in conflict or failed wait for the user.
    let waiting = store
        .open_decisions()
        .map_err(|e| Failure::other(e.to_string()))?
        .iter()
        .filter(|e| e.delivery.needs_attention())
        .count();
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

fn report(delivered: &DeliveryReport) {
    if delivered.applied + delivered.conflicts + delivered.failed == 0 {
        return;
    }
    println!(
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
}

/// What the sync wants the user to know, on stderr (stdout stays the command's output).
pub fn print_notices(notices: &[String]) {
    for n in notices {
        eprintln!("signoff: note: {n}");
    }
}

pub fn failure(e: SyncError) -> Failure {
    Failure::other(e.to_string())
}
