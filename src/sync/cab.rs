//! CAB meetings: reading them into the cache, and delivering a chair's moves in order.
//!
//! A move is recorded in the store (with the meeting as the chair left it) before anything is
//! sent, like a decision. Delivery reads the meeting on the instance first: a move is applied
//! only if the meeting still stands where the chair saw it; otherwise it is a conflict (someone
//! else moved the meeting meanwhile) and nothing is written. A move made offline is applied
//! with the time it was made, so the item timers bank what really happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::SyncEvent;
use crate::backend::{Backend, BackendError};
use crate::domain::Clock;
use crate::domain::cab::{MeetingDetail, MeetingRead, MeetingSummary, Move, note_line};
use crate::store::{CabMove, MoveStatus, Store, StoreError};

/// How far back and ahead the meetings list looks.
pub const LIST_WINDOW: chrono::Duration = chrono::Duration::days(14);
/// How often waiting moves are tried again while the instance does not answer.
const RETRY: Duration = Duration::from_secs(15);

/// What the UI asks of the CAB worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CabCommand {
    /// The meetings list: the cached one at once, then the instance's.
    Meetings,
    /// One meeting: waiting moves are delivered first, then it is read (or the cached copy
    /// answers, offline or while moves still wait).
    Meeting { sys_id: String },
    /// Moves were recorded: deliver them.
    Deliver,
    /// Mark the user attending (their attendee row).
    Join { attendee_sys_id: String },
}

/// What a round of move delivery did.
#[derive(Debug, Default)]
pub struct MovesReport {
    pub applied: usize,
    pub conflicts: usize,
    /// Why the round stopped before the end; the rest wait, in order.
    pub stopped: Option<BackendError>,
}

/// Delivers waiting moves, oldest first. Each is checked against the meeting on the
/// instance; each outcome is recorded (with a journal entry) and told to `report`. Network
/// trouble stops the round: the move goes back to waiting, and so do those after it.
pub async fn deliver_moves<B: Backend>(
    backend: &B,
    store: &mut Store,
    clock: &dyn Clock,
    report: &(dyn Fn(&CabMove, &MoveStatus) + Sync),
) -> Result<MovesReport, StoreError> {
    let mut done = MovesReport::default();
    let mut ended: Vec<String> = Vec::new();
    for m in store.pending_moves()? {
        store.set_move_status(m.id, &MoveStatus::Sending, clock.now())?;
        let outcome = deliver_one(backend, &m).await;
        let status = match outcome {
            Ok(status) => status,
            Err(error) if error.is_transient() || error.is_auth() => {
                store.set_move_status(m.id, &MoveStatus::Queued, clock.now())?;
                done.stopped = Some(error);
                break;
            }
            Err(error) => {
                MoveStatus::Failed(format!("The {} move was not applied: {error}", m.mv.verb()))
            }
        };
        match &status {
            MoveStatus::Applied => {
                done.applied += 1;
                if m.mv == Move::End {
                    ended.push(m.meeting.clone());
                }
            }
            MoveStatus::Conflict(_) => done.conflicts += 1,
            _ => {}
        }
        tracing::info!(meeting = %m.meeting, mv = m.mv.verb(), ?status, "meeting move");
        store.set_move_status(m.id, &status, clock.now())?;
        report(&m, &status);
    }
    if done.stopped.is_none() {
        for meeting in ended {
            if let Err(e) = share_notes(backend, store, &meeting, clock.now()).await {
                tracing::warn!(%meeting, error = %e, "could not share the meeting notes");
            }
        }
    }
    Ok(done)
}

async fn deliver_one<B: Backend>(backend: &B, m: &CabMove) -> Result<MoveStatus, BackendError> {
    let Some(server) = backend.cab_meeting(&m.meeting).await? else {
        return Ok(MoveStatus::Conflict(
            "The meeting is gone from the instance, or hidden from you; nothing was written."
                .into(),
        ));
    };
    let now_at = server.cursor();
    if now_at != m.expected {
        let on = server
            .current()
            .map_or("no item".to_string(), |i| i.number.clone());
        return Ok(MoveStatus::Conflict(format!(
            "The meeting was moved by someone else meanwhile (it is {} and on {on} now); your {} was not applied.",
            server.meeting.state.label(),
            m.mv.verb()
        )));
    }
    let after = match server.moved(m.mv, &m.host, m.made_at) {
        Ok(after) => after,
        Err(why) => return Ok(MoveStatus::Failed(why)),
    };
    backend.cab_write(&server.writes_to(&after)).await?;
    Ok(MoveStatus::Applied)
}

/// Appends a meeting's notes not shared yet (and, when the instance does not add decisions
/// itself, each item's decision) to the meeting's notes on the instance.
pub async fn share_notes<B: Backend>(
    backend: &B,
    store: &mut Store,
    meeting: &str,
    now: DateTime<Utc>,
) -> Result<usize, String> {
    let notes: Vec<_> = store
        .notes(meeting)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|n| !n.shared)
        .collect();
    let mut lines: Vec<String> = notes
        .iter()
        .map(|n| note_line(&n.number, &n.text))
        .collect();
    let detail = backend
        .cab_meeting(meeting)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(d) = &detail
        && !d.meeting.auto_add_decisions
    {
        for item in &d.items {
            lines.push(format!(
                "{} - {} ({})",
                item.number,
                item.decision.label(),
                item.state.label()
            ));
        }
    }
    if lines.is_empty() {
        return Ok(0);
    }
    backend
        .cab_append_notes(meeting, &lines)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<i64> = notes.iter().map(|n| n.id).collect();
    store
        .mark_notes_shared(&ids, now)
        .map_err(|e| e.to_string())?;
    Ok(notes.len())
}

/// The chair's notes on a meeting, by item: the store's, and those found in the meeting's
/// notes on the instance (written there by signoff) for items without local ones.
pub fn notes_by_item(
    store: &Store,
    detail: &MeetingDetail,
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in store.notes(&detail.meeting.sys_id)? {
        out.entry(n.item).or_default().push(n.text);
    }
    let shared = crate::domain::cab::notes_from_text(&detail.meeting.notes);
    for item in &detail.items {
        if !out.contains_key(&item.sys_id)
            && let Some(notes) = shared.get(&item.number)
        {
            out.insert(item.sys_id.clone(), notes.clone());
        }
    }
    Ok(out)
}

/// Reads the meetings list into the cache.
pub async fn refresh_meetings<B: Backend>(
    backend: &B,
    store: &mut Store,
    user_sys_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<MeetingSummary>, String> {
    let mut list = backend
        .cab_meetings(user_sys_id, now - LIST_WINDOW, now + LIST_WINDOW)
        .await
        .map_err(|e| e.to_string())?;
    crate::domain::cab::sort_meetings(&mut list, now);
    store
        .save_meetings(&list, user_sys_id, now)
        .map_err(|e| e.to_string())?;
    Ok(list)
}

/// Serves the UI's CAB commands until the channel closes. Without a backend (offline) the
/// cache answers everything.
pub async fn run_cab<B: Backend + 'static>(
    backend: Option<Arc<B>>,
    mut store: Store,
    clock: Arc<dyn Clock>,
    mut commands: mpsc::UnboundedReceiver<CabCommand>,
    events: mpsc::UnboundedSender<SyncEvent>,
) {
    let mut retry = tokio::time::interval(RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cmd = tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => cmd,
                None => return,
            },
            _ = retry.tick() => {
                if !store.pending_moves().is_ok_and(|m| !m.is_empty()) {
                    continue;
                }
                CabCommand::Deliver
            }
        };
        let b = backend.as_deref();
        let event = match cmd {
            CabCommand::Meetings => meetings(b, &mut store, clock.as_ref(), &events).await,
            CabCommand::Meeting { sys_id } => {
                meeting(b, &mut store, clock.as_ref(), &events, &sys_id).await
            }
            CabCommand::Deliver => match b {
                Some(b) => deliver(b, &mut store, clock.as_ref(), &events).await,
                None => None,
            },
            CabCommand::Join { attendee_sys_id } => match b {
                Some(b) => {
                    if let Err(e) = b.cab_join(&attendee_sys_id, clock.now()).await {
                        tracing::info!(error = %e, "could not mark the attendance");
                    }
                    None
                }
                None => None,
            },
        };
        if let Some(ev) = event
            && events.send(ev).is_err()
        {
            return;
        }
    }
}

async fn deliver<B: Backend>(
    b: &B,
    store: &mut Store,
    clock: &dyn Clock,
    events: &mpsc::UnboundedSender<SyncEvent>,
) -> Option<SyncEvent> {
    let report = |m: &CabMove, status: &MoveStatus| {
        let _ = events.send(SyncEvent::CabMove {
            meeting: m.meeting.clone(),
            mv: m.mv,
            status: status.clone(),
        });
    };
    match deliver_moves(b, store, clock, &report).await {
        Ok(r) => r.stopped.map(|e| SyncEvent::CabOffline {
            error: e.to_string(),
        }),
        Err(e) => Some(SyncEvent::StoreFailed {
            error: e.to_string(),
        }),
    }
}

async fn meetings<B: Backend>(
    b: Option<&B>,
    store: &mut Store,
    clock: &dyn Clock,
    events: &mpsc::UnboundedSender<SyncEvent>,
) -> Option<SyncEvent> {
    let cached = store.meetings();
    let (list, at) = match cached {
        Ok(c) => c,
        Err(e) => {
            return Some(SyncEvent::StoreFailed {
                error: e.to_string(),
            });
        }
    };
    let _ = events.send(SyncEvent::CabMeetings {
        list: list.clone(),
        fetched_at: at,
        error: None,
        fresh: false,
    });
    let b = b?;
    let now = clock.now();
    let user = match store.sync_state().ok().and_then(|s| s.user) {
        Some(u) => u,
        None => match b.current_user().await {
            Ok(u) => u,
            Err(e) => return Some(cab_error(list, at, e.to_string())),
        },
    };
    Some(match refresh_meetings(b, store, &user.sys_id, now).await {
        Ok(list) => SyncEvent::CabMeetings {
            list,
            fetched_at: Some(now),
            error: None,
            fresh: true,
        },
        Err(e) => cab_error(list, at, e),
    })
}

fn cab_error(list: Vec<MeetingSummary>, at: Option<DateTime<Utc>>, e: String) -> SyncEvent {
    SyncEvent::CabMeetings {
        list,
        fetched_at: at,
        error: Some(e),
        fresh: false,
    }
}

async fn meeting<B: Backend>(
    b: Option<&B>,
    store: &mut Store,
    clock: &dyn Clock,
    events: &mpsc::UnboundedSender<SyncEvent>,
    sys_id: &str,
) -> Option<SyncEvent> {
    let cached = match store.meeting(sys_id) {
        Ok(c) => c,
        Err(e) => {
            return Some(SyncEvent::StoreFailed {
                error: e.to_string(),
            });
        }
    };
    let answer = |detail: Option<MeetingDetail>,
                  at: Option<DateTime<Utc>>,
                  fresh: bool,
                  error: Option<String>,
                  store: &Store| {
        SyncEvent::CabMeeting(MeetingRead {
            sys_id: sys_id.to_string(),
            detail: detail.map(Box::new),
            fetched_at: at,
            fresh,
            error,
            waiting_moves: store
                .pending_moves()
                .map(|m| m.iter().filter(|m| m.meeting == sys_id).count())
                .unwrap_or(0),
            notes: store
                .notes(sys_id)
                .map(|n| n.into_iter().map(|n| (n.item, n.text)).collect())
                .unwrap_or_default(),
        })
    };
    let Some(b) = b else {
        let (d, at) = cached.unzip();
        return Some(answer(d, at, false, None, store));
    };
    if let Some(ev) = deliver(b, store, clock, events).await {
        // Offline: the cached copy (as the chair left it) is the meeting.
        let error = match &ev {
            SyncEvent::CabOffline { error } => error.clone(),
            _ => return Some(ev),
        };
        let (d, at) = cached.unzip();
        return Some(answer(d, at, false, Some(error), store));
    }
    let now = clock.now();
    match b.cab_meeting(sys_id).await {
        Ok(Some(detail)) => {
            if let Err(e) = store.save_meeting(&detail, now) {
                return Some(SyncEvent::StoreFailed {
                    error: e.to_string(),
                });
            }
            Some(answer(Some(detail), Some(now), true, None, store))
        }
        Ok(None) => Some(answer(
            None,
            None,
            true,
            Some("The meeting is gone from the instance, or hidden from you.".into()),
            store,
        )),
        Err(e) => {
            let (d, at) = cached.unzip();
            Some(answer(d, at, false, Some(e.to_string()), store))
        }
    }
}
