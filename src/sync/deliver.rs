//! Delivering the outbox: each decision is checked against the server's copy before it is
//! sent, so it is applied exactly once, or surfaced as a conflict, never forced.

use chrono::{DateTime, Utc};

use crate::backend::{Applied, Backend, BackendError, ServerApproval};
use crate::domain::{ApprovalState, Change, Clock, Decision, DecisionKind, Delivery};
use crate::store::{Store, StoreError};

/// What a delivery round did.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub applied: usize,
    pub conflicts: usize,
    pub failed: usize,
    /// Why the round stopped before the end (network trouble, refused credentials, an answer
    /// that is not the instance's): the decisions not reached wait, in order, and so does the
    /// one it stopped on. What was delivered before is counted above all the same.
    pub stopped: Option<BackendError>,
}

impl DeliveryReport {
    pub fn is_empty(&self) -> bool {
        self.applied + self.conflicts + self.failed == 0 && self.stopped.is_none()
    }
}

/// Which decisions a round delivers.
#[derive(Debug, Clone, Copy)]
pub enum Deliver<'a> {
    /// Every undelivered decision, oldest first.
    All,
    /// Only these (a decision command delivers its own first, not the backlog before it).
    Only(&'a [String]),
}

/// Delivers undelivered decisions, oldest first. Each outcome is recorded in the store (with
/// a journal entry) and told to `report`. A network failure, refused sign-in, rate limit,
/// server error or unreadable answer stops the round (the rest stay queued, in order); the
/// report says why. Only store failures are errors.
///
/// Only one process delivers a store's outbox at a time (a lock file beside the store):
/// `wait` waits for another delivering process to finish; without it the round is skipped
/// (the next one will deliver).
pub async fn deliver_pending<B: Backend>(
    backend: &B,
    store: &mut Store,
    clock: &dyn Clock,
    which: Deliver<'_>,
    report: &(dyn Fn(&Decision, &Delivery) + Sync),
    wait: bool,
) -> Result<DeliveryReport, StoreError> {
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
        if let Deliver::Only(ids) = which
            && !ids.contains(&decision.client_id)
        {
            continue;
        }
        // Once marked sending, the decision may have reached the server: every later
        // attempt reads the server's copy first (as every attempt does anyway). A decision
        // superseded since the round began is not claimed, and never sent.
        let was_sending = entry.delivery == Delivery::Sending;
        if !store.claim(&decision.client_id, clock.now())? {
            continue;
        }
        report(&decision, &Delivery::Sending);
        // Every other decision of ours on this approval that is not known to be applied: one
        // of them may be what the server shows.
        let earlier: Vec<Decision> = store
            .decisions_on(&decision.approval_sys_id)?
            .into_iter()
            .filter(|e| {
                e.decision.client_id != decision.client_id
                    && !matches!(e.delivery, Delivery::Applied { .. })
            })
            .map(|e| e.decision)
            .collect();
        let checked = check(backend, &decision, &earlier, was_sending, clock).await;
        // Asked right before the write: a decision replaced while it was being checked (the
        // user decided again, here or in another signoff) is not sent, and its outcome is not
        // recorded: the newer decision speaks for the user now.
        let outcome = match checked {
            Ok(Checked::Send) if !store.is_sending(&decision.client_id)? => {
                tracing::info!(client_id = %decision.client_id, "replaced before it was sent; not sent");
                continue;
            }
            Ok(Checked::Send) => send(backend, &decision, clock).await,
            Ok(Checked::Done(outcome)) => Ok(outcome),
            Err(stopped) => Err(stopped),
        };
        let outcome = match outcome {
            Ok(outcome) => {
                crate::pause_point("sent");
                outcome
            }
            Err(Stopped { error, reached }) => {
                tracing::info!(client_id = %decision.client_id, %error, "delivery paused");
                // Nothing reached the server: it waits in the queue as before. A write that
                // may have reached it (now or in an earlier attempt) stays `sending`, so the
                // next try checks first and knows it may have been sent.
                if !reached
                    && !was_sending
                    && store.set_delivery(
                        &decision.client_id,
                        &Delivery::Queued,
                        None,
                        clock.now(),
                    )?
                {
                    report(&decision, &Delivery::Queued);
                }
                done.stopped = Some(error);
                return Ok(done);
            }
        };
        // An earlier decision of ours that reached the server first is recorded as applied.
        if let Some(first) = &outcome.earlier_applied {
            let applied = Delivery::Applied { at: outcome.at };
            if store.set_delivery(
                &first.client_id,
                &applied,
                Some("found applied on the server by a later decision's check"),
                clock.now(),
            )? {
                report(first, &applied);
                done.applied += 1;
            }
        }
        let delivery = outcome.delivery;
        tracing::info!(
            client_id = %decision.client_id,
            change = %decision.change_number,
            decision = %decision.kind,
            outcome = delivery.label(),
            "delivery"
        );
        // A decision superseded while it was being checked keeps that status unless it was
        // applied: the newer decision speaks for the user now.
        if !store.set_delivery(
            &decision.client_id,
            &delivery,
            outcome.answer.as_deref(),
            clock.now(),
        )? {
            tracing::info!(client_id = %decision.client_id, "superseded or withdrawn meanwhile; outcome not recorded");
            continue;
        }
        match &delivery {
            Delivery::Applied { .. } => done.applied += 1,
            Delivery::Conflict { .. } => done.conflicts += 1,
            _ => done.failed += 1,
        }
        report(&decision, &delivery);
    }
    Ok(done)
}

/// Why a delivery stopped, and whether the write may have reached the server.
struct Stopped {
    error: BackendError,
    reached: bool,
}

/// How one decision ended.
struct Outcome {
    delivery: Delivery,
    /// The server's account of the write.
    answer: Option<String>,
    /// An earlier (superseded) decision of ours on the same approval turned out to be on
    /// the server: it is what happened.
    earlier_applied: Option<Box<Decision>>,
    /// When the server's record last changed.
    at: DateTime<Utc>,
}

impl Outcome {
    fn new(delivery: Delivery, answer: Option<String>, at: DateTime<Utc>) -> Outcome {
        Outcome {
            delivery,
            answer,
            earlier_applied: None,
            at,
        }
    }
}

/// What checking a decision against the server found.
enum Checked {
    /// It was settled without sending (already applied, or a conflict).
    Done(Outcome),
    /// It still applies: send it.
    Send,
}

/// Checks one decision against the server: whether it is already applied or no longer
/// applies. Delegation windows are judged by the server's clock.
async fn check<B: Backend>(
    backend: &B,
    d: &Decision,
    earlier: &[Decision],
    was_sending: bool,
    clock: &dyn Clock,
) -> Result<Checked, Stopped> {
    let not_reached = |error| Stopped {
        error,
        reached: false,
    };
    let checked = backend.approval(&d.approval_sys_id).await;
    let now = clock.now();
    let conflict = |reason: String| {
        Ok(Checked::Done(Outcome::new(
            Delivery::Conflict { reason },
            None,
            now,
        )))
    };
    // The instance answered, about this record only: the decision cannot go, and the rest of
    // the outbox can. Anything else (the network, the sign-in, the way in) stops the round.
    let checked = match checked {
        Ok(checked) => checked,
        Err(BackendError::Forbidden { message, .. }) => {
            return conflict(format!(
                "{}: the instance no longer lets you read this approval ({message}), so it cannot be checked; nothing was sent.",
                d.change_number
            ));
        }
        Err(e @ (BackendError::BadRecord { .. } | BackendError::BadRequest { .. })) => {
            return Ok(Checked::Done(Outcome::new(
                Delivery::Failed {
                    error: format!(
                        "{}: the approval could not be checked before sending: {e} Nothing was sent, and it will not be retried.",
                        d.change_number
                    ),
                },
                None,
                now,
            )));
        }
        Err(e) => return Err(not_reached(e)),
    };
    let Some(server) = checked else {
        return conflict(format!(
            "{}: the approval no longer exists or is no longer visible to you.",
            d.change_number
        ));
    };
    let at = server_time(&server).unwrap_or(now);
    // Already in effect (say a previous run sent it and died): recorded, never resent.
    if let Some(done) = already_done(d, &server, was_sending, at) {
        return Ok(Checked::Done(Outcome::new(
            done,
            Some("found already applied on the server".into()),
            at,
        )));
    }
    // Deciding for a colleague needs their delegation to still hold (it may have ended while
    // the decision waited in the outbox).
    if let Some(principal) = &d.on_behalf_of {
        let delegations = backend
            .delegations(&d.acting_user.sys_id)
            .await
            .map_err(not_reached)?;
        let now = clock.now();
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
    if let Some(reason) = no_longer_applies(d, &server) {
        // Perhaps it moved because an earlier decision of ours got there first.
        if let Some(first) = earlier
            .iter()
            .find(|e| already_done(e, &server, true, at).is_some() && reached_by_ref(e, &server))
        {
            return Ok(Checked::Done(Outcome {
                delivery: Delivery::Conflict {
                    reason: format!(
                        "{}: your earlier decision to {} it (ref {}) had already reached the server, so this one was not sent. Decide again if you meant to change it.",
                        d.change_number,
                        first.kind.verb(),
                        first.reference().trim_start_matches("ref ")
                    ),
                },
                answer: None,
                earlier_applied: Some(Box::new(first.clone())),
                at,
            }));
        }
        return conflict(reason);
    }
    Ok(Checked::Send)
}

/// The write a decision is on the instance (the approval's state, or the change's hold), with
/// its comment; `--dry-run` calls it on an adapter that writes requests down.
pub async fn write<B: Backend>(backend: &B, d: &Decision) -> Result<Applied, BackendError> {
    let comment = d.comment();
    match d.kind {
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
    }
}

/// Sends a checked decision and records what the server did with it.
async fn send<B: Backend>(
    backend: &B,
    d: &Decision,
    clock: &dyn Clock,
) -> Result<Outcome, Stopped> {
    let now = clock.now();
    let conflict = |reason: String| Ok(Outcome::new(Delivery::Conflict { reason }, None, now));
    let sent = write(backend, d).await;
    let error = match sent {
        Ok(Applied {
            at: applied_at,
            answer,
        }) => {
            return Ok(Outcome::new(
                Delivery::Applied {
                    at: applied_at.unwrap_or(now),
                },
                Some(answer),
                applied_at.unwrap_or(now),
            ));
        }
        Err(e) => e,
    };
    // No answer at all: whether it arrived is unknown. It stays `sending`; the next attempt
    // reads the server first. (Reading now would wait a second timeout.)
    if matches!(
        error,
        BackendError::Timeout { .. } | BackendError::Unreachable { .. }
    ) {
        return Err(Stopped {
            error,
            reached: true,
        });
    }
    // The server answered, but not with the record after the write. What it did is on the
    // record: read it before calling the decision anything.
    let fresh = match backend.approval(&d.approval_sys_id).await {
        Ok(fresh) => fresh,
        Err(_) => {
            return Err(Stopped {
                error,
                reached: true,
            });
        }
    };
    if let Some(server) = &fresh {
        let at = server_time(server).unwrap_or(now);
        if let Some(done) = already_done(d, server, true, at) {
            tracing::info!(client_id = %d.client_id, %error, "the write was applied although its answer was an error");
            return Ok(Outcome::new(
                done,
                Some(format!(
                    "applied on the server; its answer to the write was an error: {error}"
                )),
                at,
            ));
        }
    }
    match error {
        // The state moved under us, or we may no longer act on this approval.
        BackendError::Forbidden { message, .. }
            if matches!(d.kind, DecisionKind::Approve | DecisionKind::Reject) =>
        {
            let now_state = fresh.as_ref().map_or(String::new(), |s| {
                format!(
                    " It is {} on the server now.",
                    describe_state(&s.approval.state, s.approval.change.on_hold)
                )
            });
            conflict(format!(
                "{}: the instance refused the decision ({message}); it may have been decided meanwhile, or you may no longer approve it.{now_state}",
                d.change_number
            ))
        }
        BackendError::NotFound { .. } if fresh.is_none() => conflict(format!(
            "{}: the approval is gone or no longer visible to you.",
            d.change_number
        )),
        // Holding needs write access to the change itself, which plain approvers lack.
        BackendError::NotFound { .. } | BackendError::Forbidden { .. } => Ok(Outcome::new(
            Delivery::Failed {
                error: format!(
                    "{}: the instance refused to {} the change; putting changes on hold needs the itil or change manager role. It was not applied and will not be retried.",
                    d.change_number,
                    d.kind.verb()
                ),
            },
            None,
            now,
        )),
        BackendError::BadRequest { status, message } => Ok(Outcome::new(
            Delivery::Failed {
                error: format!(
                    "{}: the instance refused the decision as invalid (HTTP {status}: {message}); it was not applied and will not be retried.",
                    d.change_number
                ),
            },
            None,
            now,
        )),
        BackendError::BadRecord { .. } => Ok(Outcome::new(
            Delivery::Failed {
                error: format!(
                    "{}: {error} It was not applied and will not be retried.",
                    d.change_number
                ),
            },
            None,
            now,
        )),
        // Not applied (the record says so), and worth another try: a passing failure, a
        // refused sign-in, a page or a redirect instead of the instance's answer.
        error => Err(Stopped {
            error,
            reached: false,
        }),
    }
}

/// Why the decision can no longer be sent as it was made, if it cannot.
fn no_longer_applies(d: &Decision, server: &ServerApproval) -> Option<String> {
    let a = &server.approval;
    if d.kind != DecisionKind::Resume && a.state != ApprovalState::Requested {
        return Some(format!(
            "{} is now {} on the server (decided by someone else, cancelled, or put on hold); nothing was sent.",
            d.change_number,
            describe_state(&a.state, a.change.on_hold)
        ));
    }
    match d.kind {
        DecisionKind::Resume if !a.change.on_hold => {
            return Some(format!(
                "{} is no longer on hold (someone else released it); nothing was sent.",
                d.change_number
            ));
        }
        DecisionKind::Hold if a.change.on_hold => {
            return Some(format!(
                "{} was put on hold by someone else; nothing was sent.",
                d.change_number
            ));
        }
        _ => {}
    }
    moved_since_seen(&d.seen.change, &a.change).map(|moved| {
        format!(
            "{} changed on the server after you looked at it{moved}; review it and decide again, or discard.",
            d.change_number
        )
    })
}

/// When the server's copy last changed.
fn server_time(server: &ServerApproval) -> Option<DateTime<Utc>> {
    server
        .approval
        .sys_updated_on
        .or(server.approval.change.sys_updated_on)
}

/// Whether our reference for this decision is in the server's comments or hold reason.
fn reached_by_ref(d: &Decision, server: &ServerApproval) -> bool {
    let r = d.reference();
    server.comments.contains(&r) || server.hold_reason.contains(&r)
}

/// The decision is already in effect on the server: our reference is in the comments (or the
/// hold reason), or, for a decision that may have been sent before a crash, the server is in
/// the state it asked for.
fn already_done(
    d: &Decision,
    server: &ServerApproval,
    was_sending: bool,
    at: DateTime<Utc>,
) -> Option<Delivery> {
    let a = &server.approval;
    let ours_in_comments = server.comments.contains(&d.reference());
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
    let fields = seen.changes_since(now)?;
    Some(if fields.is_empty() {
        String::new()
    } else {
        format!(" ({})", fields.join(", "))
    })
}
