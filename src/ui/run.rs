//! The event loop: terminal input, a one-second tick and background results are merged into
//! messages for `update`; the screen is drawn only when the state says something changed.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::app::{AppState, Effect, Msg, update};
use super::theme::Theme;
use super::views;
use crate::backend::Backend;
use crate::domain::{Clock, User};

/// Runs the TUI until the user quits. The terminal is restored on return and on panic
/// (`ratatui::init` installs a hook that restores it before the panic message prints).
pub async fn run<B: Backend + 'static>(
    backend: Arc<B>,
    state: AppState,
    theme: Theme,
    clock: Arc<dyn Clock>,
) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, backend, state, &theme, clock).await;
    ratatui::restore();
    result
}

async fn event_loop<B: Backend + 'static>(
    terminal: &mut DefaultTerminal,
    backend: Arc<B>,
    mut state: AppState,
    theme: &Theme,
    clock: Arc<dyn Clock>,
) -> std::io::Result<()> {
    let size = terminal.size()?;
    update(&mut state, Msg::Resize(size.width, size.height));

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut in_flight = true;
    spawn_load(backend.clone(), clock.clone(), None, tx.clone());

    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        if state.dirty {
            let now = clock.now();
            terminal.draw(|f| views::draw(f, &state, now, theme))?;
            state.dirty = false;
        }
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick(clock.now()),
            Some(m) = rx.recv() => {
                in_flight = false;
                m
            }
        };
        for effect in update(&mut state, msg) {
            match effect {
                Effect::Quit => return Ok(()),
                // Single flight: a refresh while one is running is already covered by it.
                Effect::Refresh if !in_flight => {
                    in_flight = true;
                    spawn_load(
                        backend.clone(),
                        clock.clone(),
                        state.user.clone(),
                        tx.clone(),
                    );
                }
                Effect::Refresh => {}
            }
        }
    }
}

fn spawn_load<B: Backend + 'static>(
    backend: Arc<B>,
    clock: Arc<dyn Clock>,
    known_user: Option<User>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let result = async {
            let user = match known_user {
                Some(u) => u,
                None => backend.current_user().await?,
            };
            let approvals = backend
                .pending_approvals(std::slice::from_ref(&user.sys_id))
                .await?;
            Ok::<_, crate::backend::BackendError>((user, approvals))
        }
        .await;
        let at = clock.now();
        let msg = match result {
            Ok((user, approvals)) => {
                tracing::info!(
                    approvals = approvals.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "queue loaded"
                );
                Msg::Loaded {
                    user,
                    approvals,
                    at,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "loading the queue failed");
                Msg::LoadFailed {
                    error: e.to_string(),
                    at,
                }
            }
        };
        let _ = tx.send(msg);
    });
}
