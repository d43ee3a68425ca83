//! Requests the user makes of the backend directly (not through the outbox): user search and
//! delegation changes. Each runs in its own task, so a long sync never blocks them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{SyncCommand, SyncEvent};
use crate::backend::{Backend, BackendError};
use crate::domain::when::Zone;
use crate::domain::{Clock, Delegation, DelegationDraft, DelegationStatus, UserRef};

#[derive(Debug, Clone)]
pub enum Request {
    SearchUsers {
        query: String,
    },
    /// `tz`: the viewer's zone, for the sentence that confirms it.
    CreateDelegation {
        me: UserRef,
        draft: DelegationDraft,
        tz: Zone,
    },
    EditDelegation {
        sys_id: String,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
        tz: Zone,
    },
    EndDelegation {
        me: UserRef,
        sys_id: String,
    },
    /// One approval as the server has it now (to decide again on a conflict).
    FetchApproval {
        approval_sys_id: String,
    },
    /// Decisions the server records that are mine or made by me, since a time.
    ServerHistory {
        me: crate::domain::User,
        since: DateTime<Utc>,
    },
    /// The change of an approval in full, for the detail view.
    ChangeContext {
        approval_sys_id: String,
        change_sys_id: String,
    },
}

/// The most decisions the history reads from the server.
pub const SERVER_HISTORY_LIMIT: usize = 1_000;

/// `2027-07-01 09:00 (+01:00)`: a time in the viewer's zone, its offset on that date shown.
fn local(t: DateTime<Utc>, tz: Zone) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M (%:z)")
        .to_string()
}

/// Serves requests until the channel closes; a delegation change also asks the engine to
/// sync, so the delegation list and the queue follow.
pub async fn run_requests<B: Backend + 'static>(
    backend: Arc<B>,
    clock: Arc<dyn Clock>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<SyncEvent>,
    engine: mpsc::UnboundedSender<SyncCommand>,
) {
    while let Some(request) = requests.recv().await {
        let backend = backend.clone();
        let events = events.clone();
        let engine = engine.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            let event = match request {
                Request::SearchUsers { query } => {
                    let result = backend
                        .search_users(&query)
                        .await
                        .map_err(|e| e.to_string());
                    SyncEvent::UsersFound { query, result }
                }
                Request::CreateDelegation { me, draft, tz } => {
                    let at = |t: DateTime<Utc>| local(t, tz);
                    let result = backend
                        .create_delegation(&me.sys_id, &draft)
                        .await
                        .map(|d| {
                            format!(
                                "Delegated your approvals to {} from {} to {}.",
                                d.delegate.label(),
                                d.starts.map_or("now".into(), at),
                                d.ends.map_or("open end".into(), at),
                            )
                        })
                        .map_err(|e| e.to_string());
                    let _ = engine.send(SyncCommand::Now);
                    SyncEvent::DelegationDone(result)
                }
                Request::EditDelegation {
                    sys_id,
                    starts,
                    ends,
                    tz,
                } => {
                    let result = backend
                        .update_delegation(&sys_id, starts, ends)
                        .await
                        .map(|d| {
                            format!(
                                "Your delegation to {} now runs to {}.",
                                d.delegate.label(),
                                local(ends, tz)
                            )
                        })
                        .map_err(|e| e.to_string());
                    let _ = engine.send(SyncCommand::Now);
                    SyncEvent::DelegationDone(result)
                }
                Request::FetchApproval { approval_sys_id } => {
                    let result = backend
                        .approval(&approval_sys_id)
                        .await
                        .map(|found| found.map(|s| Box::new(s.approval)))
                        .map_err(|e| e.to_string());
                    SyncEvent::Fetched {
                        approval_sys_id,
                        result,
                    }
                }
                Request::ChangeContext {
                    approval_sys_id,
                    change_sys_id,
                } => {
                    let result = backend
                        .change_context(&approval_sys_id, &change_sys_id)
                        .await
                        .map(|mut c| {
                            c.fetched_at = Some(clock.now());
                            Box::new(c)
                        })
                        .map_err(|e| e.to_string());
                    SyncEvent::Context {
                        change_sys_id,
                        result,
                    }
                }
                Request::ServerHistory { me, since } => SyncEvent::ServerHistory(
                    backend
                        .decided(&me, since, SERVER_HISTORY_LIMIT)
                        .await
                        .map(|decisions| crate::domain::history::ServerHistory {
                            read_at: Some(clock.now()),
                            decisions,
                        })
                        .map_err(|e| e.to_string()),
                ),
                Request::EndDelegation { me, sys_id } => {
                    let result = end_delegation(backend.as_ref(), &me, &sys_id, clock.now()).await;
                    let _ = engine.send(SyncCommand::Now);
                    SyncEvent::DelegationDone(result)
                }
            };
            let _ = events.send(event);
        });
    }
}

/// Ends one of `me`'s delegations now: an active one gets its end set to now, one that has
/// not started is removed. Answers a sentence for the user.
pub async fn end_delegation<B: Backend>(
    backend: &B,
    me: &UserRef,
    sys_id: &str,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let all = backend
        .delegations(&me.sys_id)
        .await
        .map_err(|e| e.to_string())?;
    let Some(d): Option<&Delegation> = all.iter().find(|d| d.sys_id == sys_id) else {
        return Err(format!(
            "There is no delegation {sys_id} of yours. `signoff delegate list` shows their ids."
        ));
    };
    if d.user.sys_id != me.sys_id {
        return Err(format!(
            "That delegation is {}'s to you; only {} can end it.",
            d.user.label(),
            d.user.label()
        ));
    }
    let done = match d.status(now) {
        DelegationStatus::Expired => {
            return Err(format!(
                "Your delegation to {} is already over.",
                d.delegate.label()
            ));
        }
        DelegationStatus::Upcoming => backend.delete_delegation(sys_id).await.map(|()| {
            format!(
                "Cancelled your upcoming delegation to {}.",
                d.delegate.label()
            )
        }),
        DelegationStatus::Active => {
            let starts = d.starts.unwrap_or(now);
            backend
                .update_delegation(sys_id, starts, now)
                .await
                .map(|_| format!("Ended your delegation to {} now.", d.delegate.label()))
        }
    };
    done.map_err(|e: BackendError| e.to_string())
}
