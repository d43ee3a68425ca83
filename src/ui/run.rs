//! The event loop: terminal input, a one-second tick and sync events are merged into messages
//! for `update`; the screen is drawn only when the state says something changed.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::app::{AppState, Effect, Msg, update};
use super::theme::Theme;
use super::views;
use crate::domain::Clock;
use crate::domain::Delivery;
use crate::store::Store;
use crate::sync::{Request, SyncCommand, SyncEvent, make_decisions};

const OFFLINE: &str = "Not connected: delegations are changed on the instance, so this needs the network (signoff runs offline or has not signed in yet).";

/// The UI's end of the sync engine.
pub struct SyncLink {
    pub commands: mpsc::UnboundedSender<SyncCommand>,
    pub events: mpsc::UnboundedReceiver<SyncEvent>,
    /// User search and delegation changes (absent offline).
    pub requests: Option<mpsc::UnboundedSender<Request>>,
}

/// Starts the sync engine; called once the first frame (from the cache) is on screen.
pub type StartSync = Box<dyn FnOnce() -> SyncLink + Send>;

/// Runs the TUI until the user quits. The terminal is restored on return and on panic
/// (`ratatui::init` installs a hook that restores it before the panic message prints).
/// Without `start_sync` (offline mode) the network is never touched.
/// Decisions are written to `outbox` (the UI's own connection to the store) before the engine
/// is asked to deliver them. `exit_after_first_frame` is for the start-up benchmark.
pub async fn run(
    state: AppState,
    theme: Theme,
    clock: Arc<dyn Clock>,
    start_sync: Option<StartSync>,
    outbox: Option<Store>,
    exit_after_first_frame: bool,
) -> std::io::Result<()> {
    // An error (no terminal at all, say under cron) is returned, not a panic.
    let mut terminal = ratatui::try_init()?;
    // Pasting a justification arrives as one event instead of a burst of keys.
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste);
    // A panic in the UI (the main thread) turns paste mode off before ratatui's hook restores
    // the rest of the terminal. A panic in a background task must not restore the terminal
    // under a UI that keeps running: it is logged, and the UI notices the task is gone.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
            restore(info);
        } else {
            tracing::error!(%info, "a background task panicked");
        }
    }));
    let result = event_loop(
        &mut terminal,
        state,
        &theme,
        clock,
        start_sync,
        outbox,
        exit_after_first_frame,
    )
    .await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut state: AppState,
    theme: &Theme,
    clock: Arc<dyn Clock>,
    start_sync: Option<StartSync>,
    mut outbox: Option<Store>,
    exit_after_first_frame: bool,
) -> std::io::Result<()> {
    let size = terminal.size()?;
    update(&mut state, Msg::Resize(size.width, size.height));
    // First frame from the cache, before any network call.
    terminal.draw(|f| views::draw(f, &state, clock.now(), theme))?;
    state.dirty = false;
    tracing::info!(
        ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        approvals = state.items.len(),
        "first frame drawn"
    );
    if exit_after_first_frame {
        return Ok(());
    }

    let mut link = start_sync.map(|start| start());
    let mut events = EventStream::new();
    // `kill` and a closed terminal end signoff cleanly, restoring the terminal.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        if state.dirty {
            let now = clock.now();
            terminal.draw(|f| views::draw(f, &state, now, theme))?;
            state.dirty = false;
        }
        let sync_event = async {
            match link.as_mut() {
                Some(l) => l.events.recv().await,
                None => std::future::pending().await,
            }
        };
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(Event::Paste(text))) => Msg::Paste(text),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick(clock.now()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            ev = sync_event => match ev {
                Some(ev) => Msg::Sync(ev),
                None => {
                    // The engine stopped: only an internal error does that.
                    link = None;
                    Msg::Sync(SyncEvent::StoreFailed {
                        error: "Background sync stopped after an internal error (see the log); restart signoff. Stored decisions are safe and will be delivered then.".into(),
                    })
                }
            },
        };
        for effect in update(&mut state, msg) {
            match effect {
                Effect::Quit => return Ok(()),
                Effect::Refresh => {
                    if let Some(l) = &link {
                        let _ = l.commands.send(SyncCommand::Now);
                    }
                }
                Effect::Decide {
                    kind,
                    justification,
                    approvals,
                } => {
                    // Outbox first: the decisions are durable before anything is sent.
                    crate::pause_point("ui.decide");
                    let stored = match (&mut outbox, &state.user) {
                        (Some(store), Some(user)) => {
                            let now = clock.now();
                            let decisions =
                                make_decisions(kind, &justification, &approvals, user, now);
                            store
                                .enqueue(&decisions, now)
                                .map(|replaced| (decisions, replaced))
                                .map_err(|e| e.to_string())
                        }
                        (None, _) => {
                            Err("The local store is not open; nothing was recorded.".into())
                        }
                        (_, None) => Err(
                            "Sync once before deciding: signoff does not know your account yet."
                                .into(),
                        ),
                    };
                    crate::pause_point("ui.stored");
                    match stored {
                        Ok((decisions, replaced)) => {
                            let waiting = replaced
                                .iter()
                                .filter(|r| r.was == "queued" || r.was == "sending")
                                .count();
                            state.outbox_pending =
                                (state.outbox_pending + decisions.len()).saturating_sub(waiting);
                            for d in decisions {
                                update(
                                    &mut state,
                                    Msg::Sync(SyncEvent::Delivery {
                                        client_id: d.client_id,
                                        approval_sys_id: d.approval_sys_id,
                                        delivery: Delivery::Queued,
                                    }),
                                );
                            }
                            if let Some(l) = &link {
                                let _ = l.commands.send(SyncCommand::Deliver);
                            }
                        }
                        Err(error) => {
                            tracing::error!(%error, "could not store a decision");
                            update(&mut state, Msg::Sync(SyncEvent::StoreFailed { error }));
                        }
                    }
                }
                Effect::SearchUsers { query } => {
                    let sent = link
                        .as_ref()
                        .and_then(|l| l.requests.as_ref())
                        .is_some_and(|r| {
                            r.send(Request::SearchUsers {
                                query: query.clone(),
                            })
                            .is_ok()
                        });
                    if !sent {
                        update(
                            &mut state,
                            Msg::UsersFound {
                                query,
                                result: Err(OFFLINE.into()),
                            },
                        );
                    }
                }
                effect @ (Effect::CreateDelegation(_)
                | Effect::EditDelegation { .. }
                | Effect::EndDelegation { .. }) => {
                    let requests = link.as_ref().and_then(|l| l.requests.clone());
                    let request = state
                        .user
                        .as_ref()
                        .and_then(|u| delegation_request(effect, u));
                    let sent = match (requests, request) {
                        (Some(r), Some(req)) => r.send(req).is_ok(),
                        _ => false,
                    };
                    if !sent {
                        update(&mut state, Msg::DelegationDone(Err(OFFLINE.into())));
                    }
                }
                Effect::Discard { client_id } => {
                    if let Some(store) = &mut outbox
                        && let Err(e) = store.discard(&client_id, clock.now())
                    {
                        update(
                            &mut state,
                            Msg::Sync(SyncEvent::StoreFailed {
                                error: e.to_string(),
                            }),
                        );
                    }
                }
            }
        }
    }
}

/// The backend request a delegation effect stands for.
fn delegation_request(effect: Effect, user: &crate::domain::User) -> Option<Request> {
    let me = crate::domain::UserRef {
        sys_id: user.sys_id.clone(),
        name: user.name.clone(),
    };
    Some(match effect {
        Effect::CreateDelegation(draft) => Request::CreateDelegation { me, draft },
        Effect::EditDelegation {
            sys_id,
            starts,
            ends,
        } => Request::EditDelegation {
            sys_id,
            starts,
            ends,
        },
        Effect::EndDelegation { sys_id } => Request::EndDelegation { me, sys_id },
        _ => return None,
    })
}
