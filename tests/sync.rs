//! The sync engine against the built-in server over HTTP, with real SQLite files. Every
//! client runs on its sim's clock.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use signoff::backend::no_progress;
use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, Scope};
use signoff::domain::{Approval, Clock, DetailSource, FixedClock, Policy};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, Fault, SimServer};
use signoff::store::Store;
use signoff::sync::{
    Backoff, EngineConfig, SyncCommand, SyncEvent, fill_long_texts, run_engine, sync_once,
    sync_then_texts,
};
use signoff::ui::{AppState, Msg, Theme, update, views};

fn t0() -> DateTime<Utc> {
    common::anchor()
}

async fn start(changes: usize) -> SimServer {
    common::sim(5, changes, 20).await
}

fn client(server: &SimServer, password: &str) -> ServiceNow {
    common::client_on(server, DEMO_USER, password, &common::clock(server))
}

/// One sync on the sim's clock.
async fn sync(
    server: &SimServer,
    sn: &ServiceNow,
    store: &mut Store,
) -> signoff::sync::SyncOutcome {
    sync_once(sn, store, common::clock(server).as_ref(), &no_progress)
        .await
        .unwrap()
}

fn alice(server: &SimServer) -> String {
    server
        .users()
        .into_iter()
        .find(|u| u.user_name == DEMO_USER)
        .unwrap()
        .sys_id
}

/// Alice and everyone with an active approvals delegation to her (the seeded data has one).
fn acting(server: &SimServer) -> Vec<String> {
    let me = alice(server);
    let now = server.now();
    let mut ids = vec![me.clone()];
    for d in server
        .query_ids(
            "sys_user_delegate",
            &format!("delegate={me}^approvals=true^starts<={now}^ends>={now}"),
        )
        .unwrap()
    {
        ids.push(server.record("sys_user_delegate", &d).unwrap()["user"].clone());
    }
    assert!(ids.len() > 1, "the seeded delegation to alice is active");
    ids
}

fn server_ids(server: &SimServer) -> Vec<String> {
    let mut ids = server
        .query_ids(
            "sysapproval_approver",
            &format!(
                // The queue: requested, and suspended by a hold (a seeded agenda change).
                "approverIN{0}^source_table=change_request^state=requested^NQapproverIN{0}^source_table=change_request^state=not_required^sysapproval.on_hold=true",
                acting(server).join(",")
            ),
        )
        .unwrap();
    ids.sort();
    ids
}

fn store_in(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("test.sqlite3")).unwrap()
}

#[tokio::test]
async fn full_then_incremental_sync_tracks_the_server() {
    let server = start(150).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);

    let first = sync(&server, &sn, &mut store).await;
    assert!(first.full);
    assert_eq!(first.total, server_ids(&server).len());
    assert_eq!(first.added, first.total);
    assert_eq!(store.approval_ids().unwrap(), server_ids(&server));

    // Nothing changed: an incremental sync with nothing to do.
    let quiet = sync(&server, &sn, &mut store).await;
    assert!(!quiet.full);
    assert_eq!((quiet.added, quiet.removed), (0, 0));

    // Another approver decides one of ours, one approval is added, one change is retitled.
    server.advance_clock(Duration::from_secs(600));
    let ids = server_ids(&server);
    assert!(server.decide_as(&ids[0], DEMO_USER, "approved", "fine by me"));
    let snapshot = store.load_snapshot().unwrap();
    let retitled = snapshot
        .approvals
        .iter()
        .find(|a| a.sys_id == ids[1])
        .unwrap()
        .change
        .sys_id
        .clone();
    assert!(server.update_record(
        "change_request",
        &retitled,
        &[("short_description", "Retitled while you were away")]
    ));
    let other_change = server
        .query_ids("change_request", "state=-3")
        .unwrap()
        .into_iter()
        .find(|c| !snapshot.approvals.iter().any(|a| &a.change.sys_id == c))
        .expect("a change alice does not approve yet");
    let new_id = server.add_approval(&other_change, DEMO_USER).unwrap();

    let second = sync(&server, &sn, &mut store).await;
    assert!(!second.full, "incremental after the first pull");
    assert_eq!(second.removed, 1);
    assert_eq!(second.added, 1);
    assert!(second.updated >= 1, "{second:?}");
    assert_eq!(store.approval_ids().unwrap(), server_ids(&server));
    let snapshot = store.load_snapshot().unwrap();
    assert!(snapshot.approvals.iter().any(|a| a.sys_id == new_id));
    assert!(
        snapshot
            .approvals
            .iter()
            .any(|a| a.change.short_description == "Retitled while you were away")
    );
    assert!(snapshot.high_water.is_some());

    // An approval handed to someone else matches no query of ours any more: only the
    // periodic id reconciliation notices it.
    server.advance_clock(Duration::from_secs(60));
    let ids = server_ids(&server);
    // dev.patel's delegation to alice has expired: his approvals are not hers to see.
    let dev = server
        .users()
        .into_iter()
        .find(|u| u.user_name == "dev.patel")
        .unwrap()
        .sys_id;
    assert!(server.update_record("sysapproval_approver", &ids[2], &[("approver", &dev)]));
    let soon = sync(&server, &sn, &mut store).await;
    assert_eq!(soon.removed, 0, "not visible to an incremental query");
    server.advance_clock(signoff::sync::RECONCILE_EVERY.to_std().unwrap());
    let reconciled = sync(&server, &sn, &mut store).await;
    assert!(!reconciled.full);
    assert_eq!(reconciled.removed, 1, "{reconciled:?}");
    assert_eq!(store.approval_ids().unwrap(), server_ids(&server));
    server.shutdown().await;
}

#[tokio::test]
async fn incremental_sync_downloads_far_less_than_a_full_pull() {
    let server = start(300).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let before = server.faults().bytes_served();
    sync(&server, &sn, &mut store).await;
    let full_bytes = server.faults().bytes_served() - before;

    server.advance_clock(Duration::from_secs(600));
    let ids = server_ids(&server);
    assert!(server.update_record("sysapproval_approver", &ids[3], &[("comments", "ping")]));
    let before = server.faults().bytes_served();
    let inc = sync(&server, &sn, &mut store).await;
    let inc_bytes = server.faults().bytes_served() - before;
    assert!(!inc.full);
    assert_eq!((inc.added, inc.updated, inc.removed), (0, 1, 0), "{inc:?}");
    // The ids of the queue plus the one updated approval: a small fraction of a full pull.
    assert!(
        inc_bytes * 10 < full_bytes,
        "incremental {inc_bytes} bytes vs full {full_bytes}"
    );
    server.shutdown().await;
}

/// Collects engine events until `until` says stop or the deadline passes.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<SyncEvent>,
    within: Duration,
    mut until: impl FnMut(&SyncEvent) -> bool,
) -> Vec<(Instant, SyncEvent)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        let stop = until(&ev);
        out.push((Instant::now(), ev));
        if stop {
            break;
        }
    }
    out
}

fn engine(
    server: &SimServer,
    password: &str,
    dir: &tempfile::TempDir,
    interval: Duration,
) -> (
    mpsc::UnboundedSender<SyncCommand>,
    mpsc::UnboundedReceiver<SyncEvent>,
) {
    engine_on(server, password, dir, interval, common::clock(server))
}

/// The engine on a given clock: a clock that stands still makes each retry's `retry_at` the
/// exact delay the engine chose.
fn engine_on(
    server: &SimServer,
    password: &str,
    dir: &tempfile::TempDir,
    interval: Duration,
    clock: Arc<dyn Clock>,
) -> (
    mpsc::UnboundedSender<SyncCommand>,
    mpsc::UnboundedReceiver<SyncEvent>,
) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(run_engine(
        Some(Arc::new(client(server, password))),
        store_in(dir),
        EngineConfig {
            interval,
            backoff: Backoff {
                base: Duration::from_millis(50),
                max: Duration::from_millis(400),
                jitter: 0.0,
            },
        },
        clock,
        cmd_rx,
        ev_tx,
    ));
    (cmd_tx, ev_rx)
}

/// The delays the engine chose after each failure (from `retry_at` on a clock standing at
/// `t0`), and the errors it reported.
fn retries(events: &[(Instant, SyncEvent)]) -> Vec<(Duration, String)> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            SyncEvent::Offline {
                retry_at, error, ..
            } => Some(((*retry_at - t0()).to_std().unwrap(), error.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn engine_backs_off_under_server_errors_and_recovers() {
    let server = start(40).await;
    server.set_fail_rate(1.0);
    let dir = tempfile::tempdir().unwrap();
    let (_cmd, mut rx) = engine_on(
        &server,
        DEMO_PASSWORD,
        &dir,
        Duration::from_secs(60),
        Arc::new(FixedClock(t0())),
    );
    let before = server.faults().requests_served();
    let mut offline = 0;
    let events = collect(&mut rx, Duration::from_secs(10), |e| {
        offline += usize::from(matches!(e, SyncEvent::Offline { .. }));
        offline == 5
    })
    .await;
    // 50, 100, 200, 400, 400 ms: doubling to the cap, not a busy loop.
    let delays: Vec<u128> = retries(&events)
        .iter()
        .map(|(d, _)| d.as_millis())
        .collect();
    assert_eq!(delays, [50, 100, 200, 400, 400]);
    assert!(retries(&events)[0].1.contains("HTTP 500"), "{events:?}");
    // One request per attempt: each failure stops the cycle at once.
    assert_eq!(server.faults().requests_served() - before, 5);

    server.set_fail_rate(0.0);
    let events = collect(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, SyncEvent::Synced { .. })
    })
    .await;
    assert!(
        matches!(events.last(), Some((_, SyncEvent::Synced { .. }))),
        "recovers by itself"
    );
    server.shutdown().await;
}

/// The server answers one request with `fault` (asking to wait a second): the engine reports
/// it and schedules the retry after that second (its own backoff would say 50 ms), then
/// recovers.
async fn assert_waits_as_asked(fault: Fault, status: &str) {
    let server = start(40).await;
    server.faults().push(fault);
    let dir = tempfile::tempdir().unwrap();
    let (_cmd, mut rx) = engine_on(
        &server,
        DEMO_PASSWORD,
        &dir,
        Duration::from_secs(60),
        Arc::new(FixedClock(t0())),
    );
    let events = collect(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, SyncEvent::Synced { .. })
    })
    .await;
    let retries = retries(&events);
    assert_eq!(retries.len(), 1, "{events:?}");
    let (delay, error) = &retries[0];
    assert!(error.contains(status), "{error}");
    assert_eq!(*delay, Duration::from_secs(1), "Retry-After wins");
    assert!(matches!(events.last(), Some((_, SyncEvent::Synced { .. }))));
    server.shutdown().await;
}

#[tokio::test]
async fn engine_honours_retry_after() {
    assert_waits_as_asked(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        "HTTP 429",
    )
    .await;
}

#[tokio::test]
async fn engine_honours_retry_after_on_503_too() {
    assert_waits_as_asked(
        Fault::Unavailable {
            retry_after_secs: 1,
        },
        "HTTP 503",
    )
    .await;
}

#[tokio::test]
async fn engine_goes_offline_when_the_server_stops_and_back_when_it_returns() {
    let server = start(40).await;
    let dir = tempfile::tempdir().unwrap();
    let (cmd, mut rx) = engine(&server, DEMO_PASSWORD, &dir, Duration::from_millis(150));
    let events = collect(&mut rx, Duration::from_secs(3), |e| {
        matches!(e, SyncEvent::Synced { .. })
    })
    .await;
    assert!(matches!(events.last(), Some((_, SyncEvent::Synced { .. }))));

    server.stop_accepting().await;
    let events = collect(&mut rx, Duration::from_secs(3), |e| {
        matches!(e, SyncEvent::Offline { .. })
    })
    .await;
    match &events.last().unwrap().1 {
        SyncEvent::Offline { error, .. } => assert!(error.contains("Could not reach"), "{error}"),
        other => panic!("expected offline, got {other:?}"),
    }

    server.start_accepting().await.unwrap();
    cmd.send(SyncCommand::Now).unwrap();
    let events = collect(&mut rx, Duration::from_secs(3), |e| {
        matches!(e, SyncEvent::Synced { .. })
    })
    .await;
    assert!(
        matches!(events.last(), Some((_, SyncEvent::Synced { .. }))),
        "back online: {events:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_stop_the_retries_until_asked() {
    let server = start(20).await;
    let dir = tempfile::tempdir().unwrap();
    let (cmd, mut rx) = engine(&server, "wrong", &dir, Duration::from_millis(100));
    let events = collect(&mut rx, Duration::from_secs(2), |e| {
        matches!(e, SyncEvent::AuthFailed { .. })
    })
    .await;
    assert!(matches!(
        events.last(),
        Some((_, SyncEvent::AuthFailed { .. }))
    ));
    let quiet = collect(&mut rx, Duration::from_millis(500), |_| false).await;
    assert!(quiet.is_empty(), "no retries on its own: {quiet:?}");
    cmd.send(SyncCommand::Now).unwrap();
    let again = collect(&mut rx, Duration::from_secs(2), |e| {
        matches!(e, SyncEvent::AuthFailed { .. })
    })
    .await;
    assert!(matches!(again.first(), Some((_, SyncEvent::Started))));
    server.shutdown().await;
}

#[tokio::test]
async fn the_queue_renders_from_the_cache_with_the_server_gone() {
    let server = start(120).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    sync(&server, &sn, &mut store).await;
    let expected = server_ids(&server).len();
    server.shutdown().await;
    drop(store);

    // A new process: open the store, draw from it; no server exists any more.
    let store = store_in(&dir);
    let snapshot = store.load_snapshot().unwrap();
    let mut state = AppState::new(
        "http://127.0.0.1:1".into(),
        DEMO_USER.into(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut state, Msg::Resize(140, 40));
    update(
        &mut state,
        Msg::Cached {
            user: snapshot.user,
            approvals: snapshot.approvals,
            synced_at: snapshot.synced_at,
            outbox_pending: 0,
            complete: true,
            totals: None,
        },
    );
    update(
        &mut state,
        Msg::Offline {
            since: t0(),
            error: "Could not reach http://127.0.0.1:1: connection refused.".into(),
            retry_at: t0(),
        },
    );
    assert_eq!(state.queue.len(), expected);
    let now = t0() + chrono::Duration::minutes(12);
    let clock = FixedClock(now);
    let theme = Theme::named("dark", false).unwrap();
    let mut term = Terminal::new(TestBackend::new(140, 40)).unwrap();
    term.draw(|f| views::draw(f, &state, clock.now(), &theme))
        .unwrap();
    let buf = term.backend().buffer();
    let text: String = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("OFFLINE — last sync 12m ago"), "{text}");
    // The count (the status bar gives it up to the message saying why it is offline).
    assert!(text.contains(&format!("Queue ({expected})")), "{text}");
    assert!(
        text.contains("Could not reach"),
        "why it is offline: {text}"
    );
    assert!(text.contains("CHG00"), "{text}");
}

#[tokio::test]
async fn a_full_pull_stores_the_queue_first_and_the_long_texts_after() {
    let server = start(300).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let outcome = sync(&server, &sn, &mut store).await;
    assert!(outcome.full);

    // The queue is usable: every approval is stored, the change fields there, the long
    // texts not yet.
    let first = store.load_snapshot().unwrap().approvals;
    assert_eq!(first.len(), outcome.total);
    let pending: Vec<&Approval> = first
        .iter()
        .filter(|a| a.change.detail_source == DetailSource::TextsPending)
        .collect();
    assert!(
        pending.len() * 2 > first.len(),
        "{} of {}",
        pending.len(),
        first.len()
    );
    assert!(
        pending
            .iter()
            .all(|a| a.change.risk.is_some() || a.change.change_type.is_some())
    );
    assert!(
        pending
            .iter()
            .all(|a| a.change.description.is_empty() && a.change.implementation_plan.is_empty())
    );
    assert_eq!(store.texts_pending(10_000).unwrap().len(), pending.len());

    // The second pass completes them: each row is then what the server gives whole.
    let filled = fill_long_texts(&sn, &store, None, || true, |_| {})
        .await
        .unwrap();
    assert_eq!(filled, pending.len());
    assert!(store.texts_pending(10).unwrap().is_empty());
    let whole = sn
        .approvals(&acting(&server), Scope::Pending, &no_progress)
        .await
        .unwrap();
    assert!(
        whole
            .iter()
            .all(|a| a.change.detail_source != DetailSource::TextsPending)
    );
    let mut whole: Vec<Approval> = whole.into_iter().filter(Approval::in_queue).collect();
    whole.sort_by(|a, b| a.sys_id.cmp(&b.sys_id));
    let mut now = store.load_snapshot().unwrap().approvals;
    now.sort_by(|a, b| a.sys_id.cmp(&b.sys_id));
    assert_eq!(now.len(), whole.len());
    // The store adds the instance's SLA clock to the rows of changes that have one.
    assert!(now.iter().any(|a| a.change.instance_sla.is_some()));
    for (got, want) in now.iter_mut().zip(&whole) {
        got.change.instance_sla = None;
        assert_eq!(got, want, "{}", got.sys_id);
    }
    assert!(now.iter().any(|a| !a.change.implementation_plan.is_empty()));
    // Nothing waits any more: another round asks for nothing.
    assert_eq!(
        fill_long_texts(&sn, &store, None, || true, |_| {})
            .await
            .unwrap(),
        0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_pull_asks_for_the_long_texts_before_it_has_stored_its_pages() {
    let server = start(300).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let clock = common::clock(&server);
    let (outcome, ahead) = sync_then_texts(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    assert!(outcome.full);
    // The queue is stored whole before the texts are: what waits is what was asked for.
    let pending = store.texts_pending(10_000).unwrap();
    assert!(
        pending.len() * 2 > outcome.total,
        "{} of {}",
        pending.len(),
        outcome.total
    );
    assert_eq!(
        store.load_snapshot().unwrap().approvals.len(),
        outcome.total
    );
    let ahead = ahead.expect("a full pull asks for the texts of what it stored without them");
    let filled = fill_long_texts(&sn, &store, Some(ahead), || true, |_| {})
        .await
        .unwrap();
    assert_eq!(filled, pending.len());
    assert!(store.texts_pending(10).unwrap().is_empty());
    // The same store a sync and a pass from the store's list leave.
    let dir2 = tempfile::tempdir().unwrap();
    let mut other = store_in(&dir2);
    sync(&server, &sn, &mut other).await;
    fill_long_texts(&sn, &other, None, || true, |_| {})
        .await
        .unwrap();
    let by_id = |s: &Store| {
        let mut a = s.load_snapshot().unwrap().approvals;
        a.sort_by(|x, y| x.sys_id.cmp(&y.sys_id));
        a
    };
    assert_eq!(by_id(&store), by_id(&other));

    // An incremental sync has nothing to ask for ahead.
    let (again, ahead) = sync_then_texts(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    assert!(!again.full);
    assert!(ahead.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn texts_asked_for_ahead_and_never_stored_wait_for_the_next_pass() {
    let server = start(300).await;
    let sn = client(&server, DEMO_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let clock = common::clock(&server);
    let (_, ahead) = sync_then_texts(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    let waiting = store.texts_pending(10_000).unwrap().len();
    assert!(waiting > 0);
    // Stopped before the first batch is stored (a decision came first): nothing is lost.
    let filled = fill_long_texts(&sn, &store, ahead, || false, |_| {})
        .await
        .unwrap();
    assert_eq!(filled, 0);
    assert_eq!(store.texts_pending(10_000).unwrap().len(), waiting);
    assert_eq!(
        fill_long_texts(&sn, &store, None, || true, |_| {})
            .await
            .unwrap(),
        waiting
    );
    assert!(store.texts_pending(10).unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn the_engine_reports_the_queue_before_the_long_texts() {
    let server = start(300).await;
    let dir = tempfile::tempdir().unwrap();
    let (_cmd, mut rx) = engine(&server, DEMO_PASSWORD, &dir, Duration::from_secs(3600));
    let events = collect(&mut rx, Duration::from_secs(20), |e| {
        matches!(e, SyncEvent::TextsArrived { .. })
    })
    .await;
    let synced = events
        .iter()
        .position(|(_, e)| matches!(e, SyncEvent::Synced { .. }))
        .expect("a sync");
    let texts = events
        .iter()
        .position(|(_, e)| matches!(e, SyncEvent::TextsArrived { ids } if !ids.is_empty()))
        .expect("the long texts arrive");
    assert!(synced < texts, "the queue first");
    // The rest of the pass follows, a batch at a time, until none waits.
    let store = store_in(&dir);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !store.texts_pending(10).unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pass never ended"
        );
        let more = collect(&mut rx, Duration::from_secs(1), |e| {
            matches!(e, SyncEvent::TextsArrived { .. })
        })
        .await;
        assert!(
            more.iter()
                .all(|(_, e)| matches!(e, SyncEvent::TextsArrived { .. })),
            "nothing but texts meanwhile"
        );
    }
    server.shutdown().await;
}
