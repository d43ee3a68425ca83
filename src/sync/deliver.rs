//! Delivering the outbox: each decision is checked against the server's copy before it is
//! sent, so it is applied exactly once, or surfaced as a conflict, never forced.

use chrono::{DateTime, Utc};

use super::SyncError;
use crate::backend::{Applied, Backend, BackendError, ServerApproval};
use crate::domain::{ApprovalState, Change, Decision, DecisionKind, Delivery};
use crate::store::Store;

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryReport {
    pub applied: usize,
    pub conflicts: usize,
    pub failed: usize,
}

/// Delivers every undelivered decision, oldest first. Each outcome is recorded in the store
/// (with a journal entry) and told to `report`. A network failure, rate limit or server error
/// stops the round (the rest stay queued, in order) and is returned.
///
/// Only one process delivers a store's outbox at a time (a lock file beside the store):
/// `wait` waits for another delivering process to finish; without it the round is skipped
/// (the next one will deliver).
pub async fn deliver_pending<B: Backend>(
    backend: &B,
    store: &mut Store,
    now: impl Fn() -> DateTime<Utc>,
    report: &(dyn Fn(&Decision, &Delivery) + Sync),
    wait: bool,
) -> Result<DeliveryReport, SyncError> {
    let mut done = DeliveryReport::default();
    // Held for the whole round; the statuses are read after taking it, so two processes never
    // send the same decision or overwrite each other's outcome.
    let _lock = loop {
        match store.delivery_lock()? {
            Some(lock) => break lock,
            None if wait => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            None => {
                tracing::debug!("another process is delivering this outbox; skipping this round");
                return Ok(done);
            }
        }
    };
    for entry in store.outbox(true)? {
        let decision = entry.decision;
        // Once marked sending, the decision may have reached the server: every later
        // attempt reads the server's copy first (as every attempt does anyway).
        let was_sending = entry.delivery == Delivery::Sending;
        store.set_delivery(&decision.client_id, &Delivery::Sending, None, now())?;
        report(&decision, &Delivery::Sending);
        let (delivery, answer) = match deliver_one(backend, &decision, was_sending, now()).await {
            Ok(outcome) => {
                crate::pause_point("sent");
                outcome
            }
            // A passing failure, or an answer we cannot read (a proxy's or a hibernating
            // instance's page): nothing is decided. The round stops.
            Err(Stopped { error, reached })
                if error.is_transient()
                    || error.is_auth()
                    || matches!(error, BackendError::Protocol(_)) =>
            {
                tracing::info!(client_id = %decision.client_id, %error, "delivery paused");
                // Nothing was sent: it waits in the queue as before. A write that may have
                // reached the server stays `sending`, so the next try checks first.
                if !reached && !was_sending {
                    store.set_delivery(&decision.client_id, &Delivery::Queued, None, now())?;
                    report(&decision, &Delivery::Queued);
                }
                return Err(SyncError::Backend(error));
            }
            Err(Stopped { error: e, .. }) => (
                Delivery::Failed {
                    error: e.to_string(),
                },
                None,
            ),
        };
        match &delivery {
            Delivery::Applied { .. } => done.applied += 1,
            Delivery::Conflict { .. } => done.conflicts += 1,
            _ => done.failed += 1,
        }
        tracing::info!(
            client_id = %decision.client_id,
            change = %decision.change_number,
            decision = %decision.kind,
            outcome = delivery.label(),
            "delivery"
        );
        store.set_delivery(&decision.client_id, &delivery, answer.as_deref(), now())?;
        report(&decision, &delivery);
    }
    Ok(done)
}

/// Why a delivery stopped, and whether the write may have reached the server.
struct Stopped {
    error: BackendError,
    reached: bool,
}

/// Checks one decision against the server and sends it if it still applies. Answers the
/// outcome and the server's account of the write.
async fn deliver_one<B: Backend>(
    backend: &B,
    d: &Decision,
    was_sending: bool,
    now: DateTime<Utc>,
) -> Result<(Delivery, Option<String>), Stopped> {
    let conflict = |reason: String| Ok((Delivery::Conflict { reason }, None));
    let checked = backend
        .approval(&d.approval_sys_id)
        .await
        .map_err(|error| Stopped {
            error,
            reached: false,
        })?;
    let Some(server) = checked else {
        return conflict(format!(
            "{}: the approval no longer exists or is no longer visible to you.",
            d.change_number
        ));
    };
    // Already in effect (say a previous run sent it and died): recorded, never resent.
    if let Some(done) = already_done(d, &server, was_sending) {
        return Ok((done, Some("found already applied on the server".into())));
    }
    // Deciding for a colleague needs their delegation to still hold (it may have ended while
    // the decision waited in the outbox).
    if let Some(principal) = &d.on_behalf_of {
        let delegations = backend
            .delegations(&d.acting_user.sys_id)
            .await
            .map_err(|error| Stopped {
                error,
                reached: false,
            })?;
        let holds = delegations.iter().any(|x| {
            x.user.sys_id == principal.sys_id
                && x.delegate.sys_id == d.acting_user.sys_id
                && x.covers_approvals(now)
        });
        if !holds {
            return conflict(format!(
                "{}: your delegation from {} is no longer active (it ended or was withdrawn); the approval is theirs again. Nothing was sent.",
                d.change_number,
                principal.label()
            ));
        }
    }

    let a = &server.approval;
    let expected_state = match d.kind {
        DecisionKind::Resume => None,
        _ => Some(ApprovalState::Requested),
    };
    if let Some(expected) = expected_state
        && a.state != expected
    {
        return conflict(format!(
            "{} is now {} on the server (decided by someone else, cancelled, or put on hold); nothing was sent.",
            d.change_number,
            describe_state(&a.state, a.change.on_hold)
        ));
    }
    match d.kind {
        DecisionKind::Resume if !a.change.on_hold => {
            return conflict(format!(
                "{} is no longer on hold (someone else released it); nothing was sent.",
                d.change_number
            ));
        }
        DecisionKind::Hold if a.change.on_hold => {
            return conflict(format!(
                "{} was put on hold by someone else; nothing was sent.",
                d.change_number
            ));
        }
        _ => {}
    }
    if let Some(moved) = moved_since_seen(&d.seen.change, &a.change) {
        return conflict(format!(
            "{} changed on the server after you looked at it{moved}; review it and decide again, or discard.",
            d.change_number
        ));
    }
    let comment = d.comment();
    let sent = match d.kind {
        DecisionKind::Approve => {
            backend
                .decide(&d.approval_sys_id, ApprovalState::Approved, &comment)
                .await
        }
        DecisionKind::Reject => {
            backend
                .decide(&d.approval_sys_id, ApprovalState::Rejected, &comment)
                .await
        }
        DecisionKind::Hold => backend.set_hold(&d.change_sys_id, true, &comment).await,
        DecisionKind::Resume => backend.set_hold(&d.change_sys_id, false, &comment).await,
    };
    match sent {
        Ok(Applied { at, answer }) => Ok((
            Delivery::Applied {
                at: at.unwrap_or_else(Utc::now),
            },
            Some(answer),
        )),
        // The state moved under us, or we may no longer act on this approval.
        Err(BackendError::Forbidden { message, .. })
            if matches!(d.kind, DecisionKind::Approve | DecisionKind::Reject) =>
        {
            conflict(format!(
                "{}: the instance refused the decision ({message}); it may have been decided meanwhile, or you may no longer approve it.",
                d.change_number
            ))
        }
        Err(BackendError::NotFound { .. })
            if matches!(d.kind, DecisionKind::Approve | DecisionKind::Reject) =>
        {
            conflict(format!(
                "{}: the approval is gone or no longer visible to you.",
                d.change_number
            ))
        }
        // Holding needs write access to the change itself, which plain approvers lack.
        Err(BackendError::NotFound { .. } | BackendError::Forbidden { .. }) => Ok((
            Delivery::Failed {
                error: format!(
                    "{}: the instance refused to {} the change; putting changes on hold needs the itil or change manager role.",
                    d.change_number,
                    d.kind.verb()
                ),
            },
            None,
        )),
        Err(error) => Err(Stopped {
            error,
            reached: true,
        }),
    }
}

/// The decision is already in effect on the server: our reference is in the comments (or the
/// hold reason), or, for a decision that may have been sent before a crash, the server is in
/// the state it asked for.
fn already_done(d: &Decision, server: &ServerApproval, was_sending: bool) -> Option<Delivery> {
    let a = &server.approval;
    let ours_in_comments = server.comments.contains(&d.reference());
    let at = a
        .sys_updated_on
        .or(a.change.sys_updated_on)
        .unwrap_or_else(Utc::now);
    let reached = match d.kind {
        DecisionKind::Approve => a.state == ApprovalState::Approved && ours_in_comments,
        DecisionKind::Reject => a.state == ApprovalState::Rejected && ours_in_comments,
        DecisionKind::Hold => {
            a.change.on_hold && (server.hold_reason.contains(&d.reference()) || was_sending)
        }
        // A release leaves no trace on the approval row we can read: trust the state only if
        // this decision may already have been sent.
        DecisionKind::Resume => !a.change.on_hold && was_sending,
    };
    reached.then_some(Delivery::Applied { at })
}

fn describe_state(state: &ApprovalState, on_hold: bool) -> String {
    match state {
        ApprovalState::NotRequired if on_hold => "on hold".into(),
        ApprovalState::NotRequired => "no longer required".into(),
        s => s.value().to_string(),
    }
}

/// When the server's change was updated after the copy the user decided on, names the fields
/// that differ (those the user could see).
fn moved_since_seen(seen: &Change, now: &Change) -> Option<String> {
    let (Some(before), Some(after)) = (seen.sys_updated_on, now.sys_updated_on) else {
        return None;
    };
    if after <= before {
        return None;
    }
    let mut fields = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            fields.push(name);
        }
    };
    check("title", seen.short_description != now.short_description);
    check("state", seen.state != now.state);
    check("type", seen.change_type != now.change_type);
    check("risk", seen.risk != now.risk);
    check("impact", seen.impact != now.impact);
    check("urgency", seen.urgency != now.urgency);
    check("planned start", seen.start_date != now.start_date);
    check("planned end", seen.end_date != now.end_date);
    // Texts the summary view may not have had: compare only when both sides have them.
    for (name, a, b) in [
        ("description", &seen.description, &now.description),
        (
            "implementation plan",
            &seen.implementation_plan,
            &now.implementation_plan,
        ),
        ("backout plan", &seen.backout_plan, &now.backout_plan),
        ("test plan", &seen.test_plan, &now.test_plan),
        ("justification", &seen.justification, &now.justification),
    ] {
        check(name, !a.is_empty() && !b.is_empty() && a != b);
    }
    Some(if fields.is_empty() {
        String::new()
    } else {
        format!(" ({})", fields.join(", "))
    })
}
