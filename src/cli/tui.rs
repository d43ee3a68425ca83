//! The console (`signoff`, `signoff tui`) and `signoff demo`.

use std::sync::Arc;

use super::Failure;
use super::connect::Session;
use crate::backend::servicenow::ServiceNow;
use crate::backend::{Backend, Connection, Secret, parse_instance_url};
use crate::domain::{Clock, ServerClock};
use crate::sim;
use crate::store::Store;
use crate::sync::{EngineConfig, run_engine, run_requests};
use crate::ui::keymap::Keymap;
use crate::ui::{self, AppState, Theme};

/// `signoff` / `signoff tui`: the cached queue at once, then (online) the sync engine.
pub async fn console(s: &Session, theme: Theme) -> Result<(), Failure> {
    let store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    if s.cli.offline {
        let instance = s.profile.instance.clone().unwrap_or_default();
        let login = s.profile.user.clone().unwrap_or_default();
        let place = Place {
            instance,
            login,
            demo: false,
        };
        run::<ServiceNow>(s, theme, store, clock, place, None).await
    } else {
        let mut backend = s.connect(&clock)?;
        // The console's engine backs off itself, and nothing may print over the screen.
        backend.set_retry_waits(false);
        let place = Place {
            instance: backend.instance_label(),
            login: backend.login(),
            demo: false,
        };
        run(s, theme, store, clock, place, Some(backend)).await
    }
}

/// Who and where, for the header.
struct Place {
    instance: String,
    login: String,
    demo: bool,
}

/// `signoff demo`: the console against the built-in instance, in this process.
pub async fn demo(
    s: &Session,
    theme: Theme,
    seed: u64,
    changes: usize,
    fresh: bool,
) -> Result<(), Failure> {
    let store = s.open_store_named("demo")?;
    let clock = s.clock_for(Some(&store));
    let data_file = s.paths.data_dir.join("demo-instance.json");
    let server = super::sim::start_demo(seed, changes, clock.now(), data_file, fresh).await?;
    let conn = Connection {
        instance: parse_instance_url(&server.url()).map_err(Failure::other)?,
        user: sim::DEMO_USER.to_string(),
        password: Secret::new(sim::DEMO_PASSWORD),
    };
    let backend = ServiceNow::with_options(
        conn,
        crate::backend::servicenow::Options {
            retry_waits: false,
            ..s.options(&clock)
        },
    )?;
    let place = Place {
        instance: backend.instance_label(),
        login: backend.login(),
        demo: true,
    };
    let backend = (!s.cli.offline).then_some(backend);
    let result = run(s, theme, store, clock, place, backend).await;
    server.shutdown().await;
    result
}

/// Shows the cached queue at once, then (with a backend) starts the sync engine. The UI, the
/// engine and the backend share one server clock.
async fn run<B: Backend + 'static>(
    s: &Session,
    theme: Theme,
    store: Store,
    clock: Arc<ServerClock>,
    place: Place,
    backend: Option<B>,
) -> Result<(), Failure> {
    // A changed policy file is asked about over the first screen: the confirmed policy stays
    // in force until the user says yes there (or runs `signoff policy confirm`).
    let review = s.review.borrow().clone().map(|r| (r, s.who(&store)));
    // The UI's own connection: decisions are written there before anything is sent.
    let outbox = Store::open(store.path()).map_err(|e| Failure::other(e.to_string()))?;
    // The first screen's rows and the counts, from the store's index; the order of the rest
    // follows from the engine once the frame is drawn, and rows are read when shown.
    let fail = |e: crate::store::StoreError| Failure::other(e.to_string());
    let sync_state = store.sync_state().map_err(fail)?;
    let head = store.queue_head(first_screen_rows()).map_err(fail)?;
    let totals = store.queue_totals(clock.now()).map_err(fail)?;
    tracing::info!(
        approvals = totals.total(),
        first_rows = head.len(),
        at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        "cache read"
    );
    let outbox_pending = store
        .outbox_pending()
        .map_err(|e| Failure::other(e.to_string()))?;
    // Each date in the offset in force on it (a July window typed in winter is in summer time).
    let tz = crate::domain::when::Zone::Local;
    let mut state = AppState::new(place.instance, place.login, s.policy(), tz)
        .with_keymap(Keymap::with_overrides(&s.config.keys))
        .with_views(s.config.views.clone());
    state.mouse = s.config.mouse.unwrap_or(true);
    state.watch.config = s.config.notify;
    state.tz_label = zone_label(tz);
    state.demo = place.demo;
    state.read_only = s.read_only();
    if s.profile_name != crate::config::DEFAULT_PROFILE {
        state.profile = s.profile_name.clone();
    }
    // The UI's connection for reading rows as they are shown.
    let rows = Store::open(store.path()).map_err(fail)?;
    state.queue.attach(Box::new(rows), s.policy());
    ui::update(
        &mut state,
        ui::Msg::Cached {
            user: sync_state.user,
            approvals: head,
            synced_at: sync_state.synced_at,
            outbox_pending,
            complete: true,
            totals: Some(totals),
        },
    );
    tracing::debug!(
        at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        "queue built"
    );
    if let Some((review, by)) = review {
        state.ask_policy(review, by);
    }
    let clock: Arc<dyn Clock> = clock;
    if backend.is_none() {
        state.net = ui::Net::OfflineMode;
    }
    let config = EngineConfig {
        interval: s.interval(),
        ..EngineConfig::default()
    };
    let engine_clock = clock.clone();
    // The CAB worker's own connection (meetings, moves, notes).
    let cab_store = Store::open(store.path()).map_err(|e| Failure::other(e.to_string()))?;
    // The engine starts once the first frame is on screen: it reads the rest of the cache,
    // then (with a backend) syncs.
    let start_sync: ui::run::StartSync = Box::new(move || {
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        let backend = backend.map(Arc::new);
        let requests = backend.clone().map(|b| {
            let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(run_requests(
                b,
                engine_clock.clone(),
                req_rx,
                ev_tx.clone(),
                cmd_tx.clone(),
            ));
            req_tx
        });
        let (cab_tx, cab_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(crate::sync::cab::run_cab(
            backend.clone(),
            cab_store,
            engine_clock.clone(),
            cab_rx,
            ev_tx.clone(),
        ));
        tokio::spawn(run_engine(
            backend,
            store,
            config,
            engine_clock,
            cmd_rx,
            ev_tx,
        ));
        ui::run::SyncLink {
            commands: cmd_tx,
            events: ev_rx,
            requests,
            cab: Some(cab_tx),
        }
    });
    ui::run::run(
        state,
        theme,
        clock,
        Some(start_sync),
        Some(outbox),
        s.cli.exit_after_first_frame,
    )
    .await
    .map_err(|e| Failure::other(format!("The terminal failed: {e}.")))
}

/// How many rows the first screen shows at this terminal's size (a few more, to be sure).
fn first_screen_rows() -> usize {
    let (w, h) = crossterm::terminal::size().unwrap_or((80, 24));
    ui::layout::list_rows(ratatui::layout::Rect::new(0, 0, w, h)) + 8
}

/// How the console names this machine's zone: `TZ` by name where it is set, else today's
/// offset; each date is shown in its own offset either way.
pub fn zone_label(tz: crate::domain::when::Zone) -> String {
    use crate::domain::when::Zone;
    match tz {
        Zone::Fixed(o) => format!("UTC{o}"),
        Zone::Local => match std::env::var("TZ") {
            Ok(name) if !name.trim().is_empty() => format!(
                "{}, summer or winter by date",
                crate::domain::text::clean_line(name.trim_start_matches(':'), 40)
            ),
            _ => format!(
                "UTC{} today, summer or winter by date",
                chrono::Local::now().offset()
            ),
        },
    }
}
