//! Measures how long one frame of the queue takes to render with a large queue.
//!
//! Loads the queue from an in-process sim through the real adapter into a store in a temporary
//! folder, gives the console the store's order (rows are read from the store when shown, as in
//! the console), then renders frames into ratatui's TestBackend while moving the selection
//! (PgDn, j, G, Tab, and the person filter), and prints the median and p99 of key plus frame.
//! Run: `cargo run --release --example render_bench -- [CHANGES] [WIDTH] [HEIGHT]`

use std::time::Instant;

use chrono::{FixedOffset, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, Connection, Scope, Secret, no_progress, parse_instance_url};
use signoff::domain::Policy;
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimConfig, SimServer};
use signoff::store::Store;
use signoff::ui::{AppState, Msg, QueueRows, Theme, update, views};

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--store PATH`: a cache an earlier sync filled (the benchmark's 100,000 case), instead
    // of a queue loaded here from an in-process sim.
    let cached = match args.iter().position(|a| a == "--store") {
        Some(i) if i + 1 < args.len() => {
            let path = std::path::PathBuf::from(args.remove(i + 1));
            args.remove(i);
            Some(path)
        }
        _ => None,
    };
    let changes: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(30_000);
    let width: u16 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(140);
    let height: u16 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(45);

    let dir = tempfile::tempdir().unwrap();
    let (path, user, server) = match cached {
        Some(path) => {
            let store = Store::open(&path).unwrap();
            let user = store
                .sync_state()
                .unwrap()
                .user
                .expect("the cache names its user");
            (path, user, None)
        }
        None => {
            let (path, user, server) = fill_from_sim(changes, dir.path()).await;
            (path, user, Some(server))
        }
    };
    let store = Store::open(&path).unwrap();
    let instance = server.as_ref().map_or_else(|| "cache".into(), |s| s.url());
    let mut state = AppState::new(
        instance,
        user.user_name.clone(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut state, Msg::Resize(width, height));
    state
        .queue
        .attach(Box::new(Store::open(&path).unwrap()), Policy::default());
    state.user = Some(user);
    let built = Instant::now();
    let index = store.queue_index().unwrap();
    let n = index.keys.len();
    update(
        &mut state,
        Msg::CacheLoaded {
            approvals: QueueRows::Index(index),
            outbox: vec![],
            delegations: vec![],
        },
    );
    let built = built.elapsed();
    let theme = Theme::named("dark", false).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let now = Utc::now();
    let mut times = Vec::new();
    for i in 0..2_000 {
        // Move through the queue so every frame draws different rows.
        let code = match i % 500 {
            499 => KeyCode::Char('g'),
            250 => KeyCode::Char('G'),
            100 | 300 => KeyCode::Tab,
            200 | 400 => KeyCode::Char('f'),
            n if n % 3 == 0 => KeyCode::Char('j'),
            _ => KeyCode::PageDown,
        };
        let t = Instant::now();
        update(
            &mut state,
            Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        );
        terminal
            .draw(|f| views::draw(f, &state, now, &theme))
            .unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "render: {n} approvals (order read from the store in {:.1} ms), {width}x{height}, {} keys each with its frame: median {:.3} ms, p99 {:.3} ms",
        built.as_secs_f64() * 1e3,
        times.len(),
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    if let Some(server) = server {
        server.shutdown().await;
    }
}

/// Loads the demo approver's own queue from an in-process sim into a store under `dir`.
async fn fill_from_sim(
    changes: usize,
    dir: &std::path::Path,
) -> (std::path::PathBuf, signoff::domain::User, SimServer) {
    let server = SimServer::start(
        SimConfig {
            changes,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("sim starts");
    let sn = ServiceNow::new(Connection {
        instance: parse_instance_url(&server.url()).unwrap(),
        user: DEMO_USER.into(),
        password: Secret::new(DEMO_PASSWORD),
    })
    .unwrap();
    let user = sn.current_user().await.unwrap();
    let approvals = sn
        .approvals(
            std::slice::from_ref(&user.sys_id),
            Scope::Pending,
            &no_progress,
        )
        .await
        .unwrap();
    let path = dir.join("bench.sqlite3");
    let mut store = Store::open(&path).unwrap();
    store.set_policy(&Policy::default()).unwrap();
    store
        .replace_snapshot(&user, &approvals, Utc::now(), None)
        .unwrap();
    (path, user, server)
}
