//! `signoff approve|reject|hold|resume CHANGE -m TEXT`: outbox first, then delivery of this
//! decision (not the backlog before it), then exactly what became of it.

use std::process::ExitCode;

use super::connect::Session;
use super::{DecideArgs, Failure, exit};
use crate::backend::{BackendError, no_progress};
use crate::domain::{
    Approval, Clock, Decision, DecisionKind, Delivery, Justification, User, text::clean_line,
};
use crate::store::Store;
use crate::sync::{Deliver, SyncError, deliver_pending, sync_once};

pub async fn run(s: &Session, kind: DecisionKind, args: DecideArgs) -> Result<ExitCode, Failure> {
    if !args.dry_run {
        s.writes()?;
    }
    let invalid = Failure::usage;
    let text = match (&args.message, &args.message_file) {
        (Some(m), _) if m == "-" => std::io::read_to_string(std::io::stdin()).map_err(|e| {
            invalid(format!(
                "Could not read the justification from standard input: {e}."
            ))
        })?,
        (Some(m), _) => m.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "Could not read the justification from {}: {e}.",
                path.display()
            ))
        })?,
        (None, None) => {
            return Err(invalid(
                "Give the justification with -m TEXT, -m - or --message-file FILE.".into(),
            ));
        }
    };
    // A file or a pipe ends with a newline that is no part of the reason.
    let text = text.trim_end_matches(['\n', '\r']);
    // The store says which policy is in force (a changed one waits for confirmation).
    let mut store = s.open_store()?;
    let justification = Justification::parse(text, kind, &s.policy().justification)
        .map_err(|e| invalid(format!("The justification was refused: {e}")))?;
    let clock = s.clock_for(Some(&store));
    let backend = if s.cli.offline {
        None
    } else {
        Some(s.connect(&clock)?)
    };
    // A fresh view first, so the decision is made on the server's current state. If that
    // fails for a passing reason, the cached view will do: delivery checks the server's copy
    // before sending anything. An instance that did not answer at all is not asked again
    // now: one wait for it is enough.
    let mut stale = backend.is_none();
    let mut silent: Option<BackendError> = None;
    if let Some(b) = &backend {
        match sync_once(b, &mut store, clock.as_ref(), &no_progress).await {
            Ok(outcome) => super::sync::print_notices(&outcome.notices),
            Err(SyncError::Backend(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "sync before deciding failed; using the cache");
                stale = true;
                if matches!(
                    e,
                    BackendError::Timeout { .. } | BackendError::Unreachable { .. }
                ) {
                    silent = Some(e);
                }
            }
            Err(e) => return Err(super::sync::failure(e)),
        }
    }
    let snapshot = store
        .load_snapshot()
        .map_err(|e| Failure::other(e.to_string()))?;
    let Some(user) = snapshot.user.clone() else {
        return Err(Failure::other(format!(
            "There is no cached queue for profile {:?} yet, so signoff cannot find {}. Run `signoff sync` first.",
            s.profile_name, args.change
        )));
    };
    let wanted = args.change.trim();
    let on_change: Vec<Approval> = snapshot
        .approvals
        .into_iter()
        .filter(|a| a.change.number.eq_ignore_ascii_case(wanted) && a.in_queue())
        .collect();
    let as_synced = if stale { " (as last synced)" } else { "" };
    if on_change.is_empty() {
        return Err(Failure::not_found(format!(
            "{} is not in your queue{as_synced}. Check the number with `signoff queue`.",
            clean_line(wanted, 40)
        )));
    }
    let approvals = choose_approvals(
        on_change,
        &user,
        args.for_user.as_deref(),
        wanted,
        kind,
        as_synced,
    )
    .map_err(invalid)?;
    for a in &approvals {
        kind.applies_to(a).map_err(invalid)?;
    }
    let now = clock.now();
    let policy = s.policy();
    let accepted = accept_risk(&policy, kind, &approvals, args.accept_risk.as_deref(), now)?;
    let mut decisions =
        Decision::for_approvals(kind, &justification, &approvals, &user, now, || {
            crate::store::new_client_id(now)
        });
    Decision::tag_policy(&mut decisions, &policy);
    for d in &mut decisions {
        d.risk_acceptance = accepted
            .iter()
            .find(|(id, _)| *id == d.approval_sys_id)
            .map(|(_, r)| r.clone());
    }
    if args.dry_run {
        return dry_run(s, &clock, backend, &decisions).await;
    }
    let replaced = store
        .enqueue(&decisions, now)
        .map_err(|e| Failure::other(e.to_string()))?;
    crate::pause_point("queued");
    for r in &replaced {
        eprintln!(
            "signoff: this replaces your earlier decision to {} {wanted} ({}); that one will not be sent.",
            r.kind.map_or("decide", DecisionKind::verb),
            r.was
        );
    }
    let ids: Vec<String> = decisions.iter().map(|d| d.client_id.clone()).collect();
    let Some(b) = backend.as_ref() else {
        return Ok(queued_exit(&decisions, "--offline"));
    };
    if let Some(e) = silent {
        return Ok(queued_exit(&decisions, &e.to_string()));
    }
    let report = deliver_pending(
        b,
        &mut store,
        clock.as_ref(),
        Deliver::Only(&ids),
        &|_, _| {},
        true,
    )
    .await
    .map_err(|e| Failure::other(e.to_string()))?;
    let code = tell(&store, &decisions, report.stopped.as_ref())?;
    // Older decisions are not this command's business, but the user should know they wait.
    let waiting = store
        .outbox(true)
        .map_err(|e| Failure::other(e.to_string()))?
        .iter()
        .filter(|e| !ids.contains(&e.decision.client_id))
        .count();
    if waiting > 0 {
        eprintln!(
            "signoff: {waiting} earlier decision{} still wait{} in the outbox; `signoff sync` delivers {}.",
            if waiting == 1 { "" } else { "s" },
            if waiting == 1 { "s" } else { "" },
            if waiting == 1 { "it" } else { "them" },
        );
    }
    Ok(ExitCode::from(code))
}

/// `--dry-run`: the writes delivery would make for these decisions, built by the adapter
/// itself and written down instead of sent. Delivery first reads each approval back to check
/// that it still applies, and adds the journal's hash to the comment's reference once the
/// decision is journaled (`[signoff ref … j …]`).
async fn dry_run(
    s: &Session,
    clock: &std::sync::Arc<crate::domain::ServerClock>,
    backend: Option<crate::backend::servicenow::ServiceNow>,
    decisions: &[Decision],
) -> Result<ExitCode, Failure> {
    let mut b = match backend {
        Some(b) => b,
        None => s.connect(clock)?,
    };
    let plan = b.plan_writes();
    for d in decisions {
        match crate::sync::write_decision(&b, d).await {
            Err(BackendError::DryRun) => {}
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Err(Failure::other(
                    "The dry run sent a request after all; please report this signoff bug.",
                ));
            }
        }
    }
    let plan = plan.lock().unwrap_or_else(|p| p.into_inner()).clone();
    super::print_plan(s.output(), &plan)?;
    Ok(ExitCode::SUCCESS)
}

/// " on behalf of Carla Diaz" when the decision is a delegate's.
fn for_whom(d: &Decision) -> String {
    d.on_behalf_of
        .as_ref()
        .map_or(String::new(), |p| format!(" on behalf of {}", p.label()))
}

/// Says what became of each decision, from the store (the outcome recorded is what the
/// server has), and answers the exit code: a conflict over a failure over waiting.
fn tell(
    store: &Store,
    decisions: &[Decision],
    stopped: Option<&BackendError>,
) -> Result<u8, Failure> {
    let outbox = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?;
    let mut code = exit::APPLIED;
    let rank = |c: u8| match c {
        exit::CONFLICT => 3,
        exit::FAILURE => 2,
        exit::QUEUED => 1,
        _ => 0,
    };
    let mut raise = |c: u8| {
        if rank(c) > rank(code) {
            code = c;
        }
    };
    for d in decisions {
        let whom = for_whom(d);
        let Some(e) = outbox.iter().find(|e| e.decision.client_id == d.client_id) else {
            eprintln!(
                "signoff: your decision to {} {}{whom} was withdrawn elsewhere (in the console or another signoff) before it was sent; nothing was sent.",
                d.kind.verb(),
                d.change_number,
            );
            raise(exit::CONFLICT);
            continue;
        };
        match &e.delivery {
            Delivery::Applied { at } => println!(
                "{} {}: {}{whom} (applied on the server at {}).",
                d.kind.title(),
                d.change_number,
                d.kind.past(),
                at.to_rfc3339()
            ),
            Delivery::Conflict { reason } => {
                eprintln!(
                    "signoff: conflict on your decision to {} {}{whom}, nothing was forced: {}",
                    d.kind.verb(),
                    d.change_number,
                    clean_line(reason, 600)
                );
                raise(exit::CONFLICT);
            }
            Delivery::Failed { error } => {
                eprintln!(
                    "signoff: the decision to {} {}{whom} failed: {}",
                    d.kind.verb(),
                    d.change_number,
                    clean_line(error, 600)
                );
                raise(exit::FAILURE);
            }
            Delivery::Queued | Delivery::Sending => {
                let why = stopped.map_or(
                    "another signoff is delivering the outbox".to_string(),
                    |e| e.to_string(),
                );
                eprintln!("{}", stored_message(d, &e.delivery, &why));
                raise(exit::QUEUED);
            }
            Delivery::Superseded { .. } => {
                eprintln!(
                    "signoff: your decision to {} {}{whom} was replaced by a newer decision on it (made elsewhere) before it was sent; it was not sent.",
                    d.kind.verb(),
                    d.change_number,
                );
                raise(exit::CONFLICT);
            }
        }
    }
    Ok(code)
}

/// The sentence for a decision that waits in the outbox, and what will happen to it.
fn stored_message(d: &Decision, delivery: &Delivery, why: &str) -> String {
    let checked = if *delivery == Delivery::Sending {
        " It may have reached the server: before anything is sent again, the server's copy is read, so it is never applied twice."
    } else {
        ""
    };
    format!(
        "signoff: stored the decision to {} {}{} in the outbox ({}); it will be delivered by `signoff sync` or the console once the instance answers, and a new decision on {} replaces it.{checked} Not sent now: {why}",
        d.kind.verb(),
        d.change_number,
        for_whom(d),
        delivery.label(),
        d.change_number,
    )
}

fn queued_exit(decisions: &[Decision], why: &str) -> ExitCode {
    for d in decisions {
        eprintln!("{}", stored_message(d, &Delivery::Queued, why));
    }
    ExitCode::from(exit::QUEUED)
}

/// Which of the approvals on a change to decide: the ones of the colleague named with --for,
/// else the user's own. A colleague's approval is never decided without --for: delegated
/// authority is used only on purpose.
fn choose_approvals(
    on_change: Vec<Approval>,
    me: &User,
    for_user: Option<&str>,
    number: &str,
    kind: DecisionKind,
    as_synced: &str,
) -> Result<Vec<Approval>, String> {
    let number = clean_line(number, 40);
    let names = |list: &[&Approval]| {
        let mut names: Vec<String> = list
            .iter()
            .map(|a| a.approver.label().to_string())
            .collect();
        names.dedup();
        names.join(" and ")
    };
    if let Some(who) = for_user {
        let who = who.trim().to_lowercase();
        let chosen: Vec<Approval> = on_change
            .iter()
            .filter(|a| a.approver.sys_id != me.sys_id)
            .filter(|a| {
                a.approver.name.to_lowercase() == who
                    || a.approver.name.to_lowercase().replace(' ', ".") == who
            })
            .cloned()
            .collect();
        return if chosen.is_empty() {
            Err(format!(
                "{number} has no approval of {:?} in your queue{as_synced}; it has approvals of: {}.",
                clean_line(&who, 60),
                names(&on_change.iter().collect::<Vec<_>>())
            ))
        } else {
            Ok(chosen)
        };
    }
    let mine: Vec<Approval> = on_change
        .iter()
        .filter(|a| a.approver.sys_id == me.sys_id)
        .cloned()
        .collect();
    if !mine.is_empty() {
        return Ok(mine);
    }
    let theirs: Vec<&Approval> = on_change.iter().collect();
    let example = theirs
        .first()
        .map(|a| a.approver.label().to_string())
        .unwrap_or_default();
    Err(format!(
        "{number} has no pending approval of yours{as_synced}; what remains is the approval of {}, who delegated to you. Nothing was decided. To decide it on their behalf, say so: signoff {} {number} --for \"{example}\" -m \"…\".",
        names(&theirs),
        kind.verb()
    ))
}

/// The risk acceptance of each approval that approving now would deviate on, from
/// `--accept-risk`; an approval outside the standard path without one is refused, naming
/// why. Rejections and holds never deviate.
fn accept_risk(
    policy: &crate::domain::Policy,
    kind: DecisionKind,
    approvals: &[Approval],
    statement: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, crate::domain::governance::RiskAcceptance)>, Failure> {
    use crate::domain::governance::{RiskAcceptance, deviations_of};
    let deviating = if kind == DecisionKind::Approve {
        deviations_of(policy, approvals, now)
    } else {
        Vec::new()
    };
    if deviating.is_empty() {
        if statement.is_some() {
            eprintln!(
                "signoff: this decision is on the standard path; --accept-risk is not needed and was not recorded."
            );
        }
        return Ok(Vec::new());
    }
    let why: Vec<String> = deviating
        .iter()
        .flat_map(|(_, d)| d.iter().map(|d| d.why.clone()))
        .collect();
    let Some(statement) = statement else {
        return Err(Failure::usage(format!(
            "Approving this deviates from the standard path ({}): give a risk acceptance with --accept-risk TEXT (at least {} characters).",
            why.join("; "),
            policy.deviations.min_statement
        )));
    };
    let accepted = deviating
        .into_iter()
        .map(|(id, d)| {
            RiskAcceptance::new(&policy.deviations, d, statement)
                .map(|r| (id, r))
                .map_err(Failure::usage)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(role) = accepted.iter().find_map(|(_, r)| r.senior_role.as_ref()) {
        eprintln!(
            "signoff: the risk acceptance is recorded; the policy says {} must also approve this deviation.",
            clean_line(role, 80)
        );
    }
    Ok(accepted)
}
