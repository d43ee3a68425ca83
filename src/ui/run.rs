//! The event loop: terminal input, a one-second tick and sync events are merged into messages
//! for `update`; the screen is drawn only when the state says something changed. This is the
//! UI's one IO edge: it performs the effects (the outbox, requests to the engine) and
//! translates what the engine reports into the UI's own messages.
//!
//! `drive` is the loop itself, over any input stream and any terminal backend, so tests run
//! the real loop headlessly with scripted keys; `run` gives it the real terminal.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::msg::{Effect, Msg, OutboxRow, Synced};
use super::state::{AppState, QueueRows, update};
use super::theme::Theme;
use super::views;
use crate::domain::{Clock, Decision};
use crate::store::Store;
use crate::sync::cab::CabCommand;
use crate::sync::{Request, SyncCommand, SyncEvent};

const OFFLINE: &str =
    "Not connected: this needs the instance (signoff runs offline or has not signed in yet).";

/// The UI's end of the sync engine.
pub struct SyncLink {
    pub commands: mpsc::UnboundedSender<SyncCommand>,
    pub events: mpsc::UnboundedReceiver<SyncEvent>,
    /// User search, delegation changes and fresh copies (absent offline).
    pub requests: Option<mpsc::UnboundedSender<Request>>,
    /// CAB meetings (served from the cache offline).
    pub cab: Option<mpsc::UnboundedSender<CabCommand>>,
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
    // Clicks and the wheel (`mouse = false` in config.toml leaves the terminal's own selection).
    let mouse = state.mouse;
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    // A panic in the UI (the main thread) turns paste mode off before ratatui's hook restores
    // the rest of the terminal. A panic in a background task must not restore the terminal
    // under a UI that keeps running: it is logged, and the UI notices the task is gone.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
            if mouse {
                let _ =
                    crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
            }
            restore(info);
        } else {
            tracing::error!(%info, "a background task panicked");
        }
    }));
    let size = terminal.size()?;
    let mut state = state;
    update(&mut state, Msg::Resize(size.width, size.height));
    // First frame from the cache, before any network call.
    terminal.draw(|f| views::draw(f, &state, clock.now(), &theme))?;
    state.dirty = false;
    tracing::info!(
        ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        approvals = state.queue.total(),
        "first frame drawn"
    );
    let result = if exit_after_first_frame {
        Ok(state)
    } else {
        let link = start_sync.map(|start| start());
        drive(
            &mut terminal,
            EventStream::new(),
            state,
            &theme,
            clock,
            link,
            outbox,
        )
        .await
    };
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result.map(drop)
}

/// The loop: until the user quits or the input ends. Answers the final state.
pub async fn drive<B, I>(
    terminal: &mut Terminal<B>,
    mut input: I,
    mut state: AppState,
    theme: &Theme,
    clock: Arc<dyn Clock>,
    mut link: Option<SyncLink>,
    mut outbox: Option<Store>,
) -> std::io::Result<AppState>
where
    B: ratatui::backend::Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    I: Stream<Item = std::io::Result<Event>> + Unpin,
{
    // `kill` and a closed terminal end signoff cleanly, restoring the terminal.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    update(&mut state, Msg::Tick(clock.now()));
    loop {
        if state.dirty {
            let now = clock.now();
            terminal
                .draw(|f| views::draw(f, &state, now, theme))
                .map_err(std::io::Error::other)?;
            state.dirty = false;
        }
        let sync_event = async {
            match link.as_mut() {
                Some(l) => l.events.recv().await,
                None => std::future::pending().await,
            }
        };
        let msg = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(Event::Paste(text))) => Msg::Paste(text),
                Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(state),
            },
            _ = tick.tick() => Msg::Tick(clock.now()),
            _ = terminate.recv() => return Ok(state),
            _ = hangup.recv() => return Ok(state),
            ev = sync_event => match ev {
                Some(ev) => translate(ev),
                None => {
                    // The engine stopped: only an internal error does that.
                    link = None;
                    Msg::StoreFailed {
                        error: "Background sync stopped after an internal error (see the log); restart signoff. Stored decisions are safe and will be delivered then.".into(),
                    }
                }
            },
        };
        // A change read in full is kept for offline review before the screen shows it.
        if let Msg::Context {
            result: Ok(ctx),
            fresh: true,
            ..
        } = &msg
            && let Some(store) = outbox.as_mut()
            && let Err(e) = store.put_change_context(ctx)
        {
            tracing::warn!(error = %e, "could not cache a change's context");
        }
        // So is the server's record of my decisions.
        if let Msg::ServerHistory(Ok(h)) = &msg
            && let Some(store) = outbox.as_mut()
            && let Err(e) = store.put_server_history(h)
        {
            tracing::warn!(error = %e, "could not cache the server's record of decisions");
        }
        // Effects, and what their answers ask for in turn.
        let mut effects = update(&mut state, msg);
        while !effects.is_empty() {
            let mut answers = Vec::new();
            for effect in effects {
                match perform(effect, &state, &clock, &link, &mut outbox) {
                    Done::Quit => return Ok(state),
                    Done::Answer(msg) => answers.push(msg),
                    Done::Nothing => {}
                }
            }
            effects = answers
                .into_iter()
                .flat_map(|msg| update(&mut state, msg))
                .collect();
        }
    }
}

fn rows(outbox: Vec<crate::store::OutboxEntry>) -> Vec<OutboxRow> {
    outbox
        .into_iter()
        .map(|e| OutboxRow {
            decision: e.decision,
            delivery: e.delivery,
        })
        .collect()
}

/// What the engine reports, in the UI's words.
pub fn translate(ev: SyncEvent) -> Msg {
    match ev {
        SyncEvent::CacheLoaded {
            index,
            outbox,
            delegations,
        } => Msg::CacheLoaded {
            approvals: QueueRows::Index(index),
            outbox: rows(outbox),
            delegations,
        },
        SyncEvent::Delivery {
            client_id,
            approval_sys_id,
            delivery,
        } => Msg::Delivery {
            client_id,
            approval_sys_id,
            delivery,
        },
        SyncEvent::Started => Msg::SyncStarted,
        SyncEvent::PolicyInForce { policy, index } => Msg::PolicyInForce { policy, index },
        SyncEvent::Progress { fetched, total } => Msg::SyncProgress { fetched, total },
        SyncEvent::TextsArrived { ids } => Msg::TextsArrived { ids },
        SyncEvent::Synced {
            outcome,
            index,
            outbox_pending,
            open,
            delegations,
        } => Msg::Synced(Box::new(Synced {
            summary: outcome.summary(),
            user: outcome.user,
            at: outcome.at,
            approvals: index.map(QueueRows::Index),
            outbox_pending,
            open: rows(open),
            delegations,
            notices: outcome.notices,
        })),
        SyncEvent::Offline {
            since,
            error,
            retry_at,
        } => Msg::Offline {
            since,
            error,
            retry_at,
        },
        SyncEvent::UsersFound { query, result } => Msg::UsersFound { query, result },
        SyncEvent::CabMeetings {
            list,
            fetched_at,
            error,
            fresh,
        } => Msg::CabMeetings {
            list,
            fetched_at,
            error,
            fresh,
        },
        SyncEvent::CabMeeting(read) => Msg::CabMeeting(read),
        SyncEvent::CabMove {
            meeting,
            mv,
            status,
        } => Msg::CabMove {
            meeting,
            mv,
            status,
        },
        SyncEvent::CabOffline { error } => Msg::CabOffline { error },
        SyncEvent::DelegationDone(result) => Msg::DelegationDone(result),
        SyncEvent::Fetched {
            approval_sys_id,
            result,
        } => Msg::Fetched {
            approval_sys_id,
            result,
        },
        SyncEvent::ServerHistory(result) => Msg::ServerHistory(result),
        SyncEvent::Context {
            change_sys_id,
            result,
        } => Msg::Context {
            change_sys_id,
            result,
            fresh: true,
        },
        SyncEvent::AuthFailed { error } => Msg::AuthFailed { error },
        SyncEvent::StoreFailed { error } => Msg::StoreFailed { error },
    }
}

/// How far back the history asks the server for my decisions.
const HISTORY_DAYS: i64 = 90;

/// What performing an effect came to.
/// Starts the desktop's browser on `url` (detached, its output discarded); where there is
/// none, says the URL instead.
fn open_browser(url: &str) -> Option<Msg> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut cmd = std::process::Command::new(opener);
    cmd.arg(url);
    match spawn_detached(cmd) {
        Ok(()) => None,
        Err(e) => Some(Msg::Said {
            text: format!("Open {url} yourself: no browser could be started ({opener}: {e})."),
            error: true,
        }),
    }
}

/// Starts a helper program with no terminal IO (it would draw over the screen), reaped on a
/// thread of its own so the loop never waits for it.
fn spawn_detached(mut cmd: std::process::Command) -> std::io::Result<()> {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Writes control bytes (OSC 52, the bell) to the terminal, when standard output is one.
fn to_terminal(bytes: &[u8]) {
    use std::io::{IsTerminal, Write};
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
}

/// A desktop notification through the platform's tool; where there is none, the toast on
/// screen is all (logged).
fn desktop_notification(title: &str, body: &str) {
    let cmd = if cfg!(target_os = "macos") {
        let script = format!(
            "display notification {} with title {}",
            applescript_string(body),
            applescript_string(title)
        );
        let mut c = std::process::Command::new("osascript");
        c.arg("-e").arg(script);
        c
    } else {
        let mut c = std::process::Command::new("notify-send");
        c.arg("--app-name=signoff").arg(title).arg(body);
        c
    };
    if let Err(e) = spawn_detached(cmd) {
        tracing::info!(error = %e, "no desktop notification");
    }
}

/// `s` as an AppleScript string literal.
fn applescript_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

enum Done {
    Quit,
    /// What the UI should hear of it at once.
    Answer(Msg),
    Nothing,
}

impl From<Option<Msg>> for Done {
    fn from(m: Option<Msg>) -> Done {
        m.map_or(Done::Nothing, Done::Answer)
    }
}

/// Performs one effect.
fn perform(
    effect: Effect,
    state: &AppState,
    clock: &Arc<dyn Clock>,
    link: &Option<SyncLink>,
    outbox: &mut Option<Store>,
) -> Done {
    let request = |r: Request| {
        link.as_ref()
            .and_then(|l| l.requests.as_ref())
            .is_some_and(|tx| tx.send(r).is_ok())
    };
    let cab = |c: CabCommand| {
        link.as_ref()
            .and_then(|l| l.cab.as_ref())
            .is_some_and(|tx| tx.send(c).is_ok())
    };
    match effect {
        Effect::Quit => Done::Quit,
        Effect::Copy { text } => {
            // OSC 52: the terminal puts the text on the system clipboard (also over ssh).
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            to_terminal(format!("\x1b]52;c;{b64}\x07").as_bytes());
            Done::Nothing
        }
        Effect::Browse { url } => open_browser(&url).into(),
        Effect::ChangeContext {
            approval_sys_id,
            change_sys_id,
        } => {
            let asked = request(Request::ChangeContext {
                approval_sys_id,
                change_sys_id: change_sys_id.clone(),
            });
            let cached = outbox.as_ref().map(|s| s.change_context(&change_sys_id));
            match cached {
                Some(Ok(Some(ctx))) => Done::Answer(Msg::Context {
                    change_sys_id,
                    result: Ok(Box::new(ctx)),
                    fresh: false,
                }),
                Some(Err(e)) if !asked => Done::Answer(Msg::Context {
                    change_sys_id,
                    result: Err(e.to_string()),
                    fresh: false,
                }),
                _ if !asked => Done::Answer(Msg::Context {
                    change_sys_id,
                    result: Err("not read yet, and signoff is offline".into()),
                    fresh: false,
                }),
                _ => Done::Nothing,
            }
        }
        Effect::History => {
            // The server's record is asked for afresh (when online); the cached one shows now.
            let asking = state.user.as_ref().is_some_and(|me| {
                request(Request::ServerHistory {
                    me: me.clone(),
                    since: clock.now() - chrono::Duration::days(HISTORY_DAYS),
                })
            });
            let (decisions, server) = match outbox.as_ref() {
                None => (
                    Err("there is no store to read your decisions from".to_string()),
                    Default::default(),
                ),
                Some(store) => (
                    store
                        .outbox(false)
                        .map(|entries| {
                            entries
                                .into_iter()
                                .map(|e| (e.decision, e.delivery))
                                .collect()
                        })
                        .map_err(|e| e.to_string()),
                    store.server_history().unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "the cached server history is unreadable");
                        Default::default()
                    }),
                ),
            };
            Done::Answer(Msg::History {
                decisions,
                server,
                asking,
            })
        }
        Effect::Insights { days } => {
            let result = match outbox.as_ref() {
                None => Err("there is no store to read your decisions from".to_string()),
                Some(store) => store
                    .outbox(false)
                    .map(|entries| {
                        let decisions: Vec<_> = entries
                            .into_iter()
                            .map(|e| (e.decision, e.delivery))
                            .collect();
                        let meetings = store.meeting_details().unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "cached meetings unreadable for insights");
                            Vec::new()
                        });
                        let server = store.server_history().unwrap_or_default();
                        Box::new(crate::domain::insights::compute(
                            &state.policy,
                            &decisions,
                            &[],
                            &meetings,
                            &server.decisions,
                            clock.now(),
                            days,
                        ))
                    })
                    .map_err(|e| e.to_string()),
            };
            Done::Answer(Msg::Insights { days, result })
        }
        Effect::Bell => {
            to_terminal(b"\x07");
            Done::Nothing
        }
        Effect::Desktop { title, body } => {
            desktop_notification(&title, &body);
            Done::Nothing
        }
        Effect::CabMeetings => {
            if cab(CabCommand::Meetings) {
                Done::Nothing
            } else {
                Done::Answer(Msg::CabMeetings {
                    list: Vec::new(),
                    fetched_at: None,
                    error: Some(OFFLINE.into()),
                    fresh: false,
                })
            }
        }
        Effect::CabMeeting { sys_id } => {
            cab(CabCommand::Meeting { sys_id });
            Done::Nothing
        }
        Effect::CabJoin { attendee_sys_id } => {
            cab(CabCommand::Join { attendee_sys_id });
            Done::Nothing
        }
        Effect::CabMove {
            after,
            mv,
            expected,
        } => {
            // Outbox first, as for decisions: the move is durable before anything is sent.
            let recorded = match (outbox.as_mut(), &state.user) {
                (Some(store), Some(user)) => store
                    .record_move(&after, mv, &user.reference(), &expected, clock.now())
                    .map_err(|e| e.to_string()),
                (None, _) => Err("The local store is not open; the move was not recorded.".into()),
                (_, None) => Err(
                    "Sync once before running a meeting: signoff does not know your account yet."
                        .into(),
                ),
            };
            match recorded {
                Ok(_) => {
                    cab(CabCommand::Deliver);
                    Done::Nothing
                }
                Err(error) => Done::Answer(Msg::StoreFailed { error }),
            }
        }
        Effect::CabNote {
            meeting_sys_id,
            item_sys_id,
            number,
            text,
        } => {
            let Some(store) = outbox.as_mut() else {
                return Done::Nothing;
            };
            store
                .add_note(&meeting_sys_id, &item_sys_id, &number, &text, clock.now())
                .err()
                .map(|e| Msg::StoreFailed {
                    error: e.to_string(),
                })
                .into()
        }
        Effect::ConfirmPolicy { policy, by } => {
            let Some(store) = outbox.as_mut() else {
                return Done::Answer(Msg::Said {
                    text: "The policy cannot be confirmed here: the local store is not open. Run `signoff policy confirm`.".into(),
                    error: true,
                });
            };
            match store.confirm_policy(&policy, &by, clock.now()) {
                Ok(confirmed) => {
                    // The engine places the queue by it, between syncs, and sends the order.
                    if let Some(l) = link {
                        let _ = l.commands.send(SyncCommand::PolicyConfirmed);
                    }
                    Done::Answer(Msg::PolicyConfirmed {
                        confirmed: Box::new(confirmed),
                    })
                }
                Err(e) => Done::Answer(Msg::Said {
                    text: e.to_string(),
                    error: true,
                }),
            }
        }
        Effect::Refresh => {
            if let Some(l) = link {
                let _ = l.commands.send(SyncCommand::Now);
            }
            Done::Nothing
        }
        Effect::Decide {
            kind,
            justification,
            approvals,
            accepted,
        } => {
            // Outbox first: the decisions are durable before anything is sent.
            crate::pause_point("ui.decide");
            let stored = match (outbox.as_mut(), &state.user) {
                (Some(store), Some(user)) => {
                    let now = clock.now();
                    let mut decisions = Decision::for_approvals(
                        kind,
                        &justification,
                        &approvals,
                        user,
                        now,
                        || crate::store::new_client_id(now),
                    );
                    Decision::tag_policy(&mut decisions, &state.policy);
                    for d in &mut decisions {
                        d.risk_acceptance = accepted
                            .iter()
                            .find(|(id, _)| *id == d.approval_sys_id)
                            .map(|(_, r)| r.clone());
                    }
                    store
                        .enqueue(&decisions, now)
                        .map(|replaced| (decisions, replaced))
                        .map_err(|e| e.to_string())
                }
                (None, _) => Err("The local store is not open; nothing was recorded.".into()),
                (_, None) => {
                    Err("Sync once before deciding: signoff does not know your account yet.".into())
                }
            };
            crate::pause_point("ui.stored");
            match stored {
                Ok((decisions, replaced)) => {
                    let outbox_pending = outbox
                        .as_ref()
                        .and_then(|s| s.outbox_pending().ok())
                        .unwrap_or(state.outbox_pending + decisions.len());
                    if let Some(l) = link {
                        let _ = l.commands.send(SyncCommand::Deliver);
                    }
                    Done::Answer(Msg::Stored {
                        decisions: decisions
                            .into_iter()
                            .map(|d| (d.client_id, d.approval_sys_id))
                            .collect(),
                        replaced: replaced
                            .into_iter()
                            .map(|r| (r.client_id, r.approval_sys_id))
                            .collect(),
                        outbox_pending,
                    })
                }
                Err(error) => {
                    tracing::error!(%error, "could not store a decision");
                    Done::Answer(Msg::StoreFailed { error })
                }
            }
        }
        Effect::Discard { client_id } => {
            let Some(store) = outbox.as_mut() else {
                return Done::Nothing;
            };
            store
                .discard(&client_id, clock.now())
                .err()
                .map(|e| Msg::StoreFailed {
                    error: e.to_string(),
                })
                .into()
        }
        Effect::Withdraw {
            client_id,
            approval_sys_id,
        } => {
            let Some(store) = outbox.as_mut() else {
                return Done::Nothing;
            };
            Done::Answer(match store.withdraw(&client_id, clock.now()) {
                Ok(withdrawn) => Msg::Withdrawn {
                    client_id,
                    approval_sys_id,
                    withdrawn,
                },
                Err(e) => Msg::StoreFailed {
                    error: e.to_string(),
                },
            })
        }
        Effect::Fetch { approval_sys_id } => {
            let asked = request(Request::FetchApproval {
                approval_sys_id: approval_sys_id.clone(),
            });
            (!asked)
                .then(|| Msg::Fetched {
                    approval_sys_id,
                    result: Err(OFFLINE.into()),
                })
                .into()
        }
        Effect::SearchUsers { query } => {
            let asked = request(Request::SearchUsers {
                query: query.clone(),
            });
            (!asked)
                .then(|| Msg::UsersFound {
                    query,
                    result: Err(OFFLINE.into()),
                })
                .into()
        }
        effect @ (Effect::CreateDelegation(_)
        | Effect::EditDelegation { .. }
        | Effect::EndDelegation { .. }) => {
            let asked = state
                .user
                .as_ref()
                .and_then(|u| delegation_request(effect, u, state.tz))
                .is_some_and(request);
            (!asked)
                .then(|| Msg::DelegationDone(Err(OFFLINE.into())))
                .into()
        }
    }
}

/// The backend request a delegation effect stands for.
fn delegation_request(
    effect: Effect,
    user: &crate::domain::User,
    tz: crate::domain::when::Zone,
) -> Option<Request> {
    let me = user.reference();
    Some(match effect {
        Effect::CreateDelegation(draft) => Request::CreateDelegation { me, draft, tz },
        Effect::EditDelegation {
            sys_id,
            starts,
            ends,
        } => Request::EditDelegation {
            sys_id,
            starts,
            ends,
            tz,
        },
        Effect::EndDelegation { sys_id } => Request::EndDelegation { me, sys_id },
        _ => return None,
    })
}
