//! The event loop: terminal input, a one-second tick and sync events are merged into messages
//! for `update`; the screen is drawn only when the state says something changed.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::app::{AppState, Effect, Msg, update};
use super::theme::Theme;
use super::views;
use crate::domain::Clock;
use crate::sync::{SyncCommand, SyncEvent};

/// The UI's end of the sync engine.
pub struct SyncLink {
    pub commands: mpsc::UnboundedSender<SyncCommand>,
    pub events: mpsc::UnboundedReceiver<SyncEvent>,
}

/// Starts the sync engine; called once the first frame (from the cache) is on screen.
pub type StartSync = Box<dyn FnOnce() -> SyncLink + Send>;

/// Runs the TUI until the user quits. The terminal is restored on return and on panic
/// (`ratatui::init` installs a hook that restores it before the panic message prints).
/// Without `start_sync` (offline mode) the network is never touched.
/// `exit_after_first_frame` is for the start-up benchmark.
pub async fn run(
    state: AppState,
    theme: Theme,
    clock: Arc<dyn Clock>,
    start_sync: Option<StartSync>,
    exit_after_first_frame: bool,
) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = event_loop(
        &mut terminal,
        state,
        &theme,
        clock,
        start_sync,
        exit_after_first_frame,
    )
    .await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut state: AppState,
    theme: &Theme,
    clock: Arc<dyn Clock>,
    start_sync: Option<StartSync>,
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
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick(clock.now()),
            ev = sync_event => match ev {
                Some(ev) => Msg::Sync(ev),
                None => {
                    // The engine stopped (it only does when its store or channel is gone).
                    link = None;
                    continue;
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
            }
        }
    }
}
