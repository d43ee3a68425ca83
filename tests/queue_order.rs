//! The queue's order and counts come from the store's index (tier, SLA deadline as the policy
//! computes them, kept as columns): they equal the order `build_queue` gives in memory, on a
//! queue synced from the sim, after a policy change and for rows written before the columns
//! existed. The console shows the same screens from the store's order (rows read when shown)
//! as from the queue held whole.

mod common;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use signoff::backend::no_progress;
use signoff::backend::servicenow::ServiceNow;
use signoff::domain::policy::SlaHours;
use signoff::domain::{Clock, DetailSource, Policy, QueueEntry, SlaStatus, build_queue};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimServer};
use signoff::store::{QueueTotals, Store};
use signoff::sync::{fill_long_texts, sync_once};
use signoff::ui::{AppState, Msg, QueueRows, Theme, update, views};

/// A store in `dir` holding the demo approver's queue (hers and her delegators') from a sim
/// of `changes` changes, synced through the adapter; and the sim's time.
async fn synced_store(dir: &std::path::Path, changes: usize) -> (Store, DateTime<Utc>) {
    let (store, now, server, sn) = first_pass(dir, changes).await;
    fill_long_texts(&sn, &store, None, || true, |_| {})
        .await
        .unwrap();
    server.shutdown().await;
    (store, now)
}

/// The store after a full pull's first pass (the long texts not fetched yet), with the sim
/// still running and a client on its clock.
async fn first_pass(
    dir: &std::path::Path,
    changes: usize,
) -> (Store, DateTime<Utc>, SimServer, ServiceNow) {
    let server: SimServer = common::sim(23, changes, 200).await;
    let clock = common::clock(&server);
    let sn = common::client_on(&server, DEMO_USER, DEMO_PASSWORD, &clock);
    let mut store = Store::open(&dir.join("q.sqlite3")).unwrap();
    sync_once(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    let now = clock.now();
    (store, now, server, sn)
}

/// What the console computed before the store kept the order: every approval decoded and
/// sorted in memory.
fn in_memory(store: &Store, policy: &Policy) -> Vec<std::sync::Arc<QueueEntry>> {
    build_queue(policy, store.load_snapshot().unwrap().approvals)
}

fn totals_of(entries: &[std::sync::Arc<QueueEntry>], now: DateTime<Utc>) -> QueueTotals {
    let mut t = QueueTotals::default();
    let mut held = 0;
    for e in entries {
        if e.approval.change.on_hold {
            held += 1;
            continue;
        }
        match t.sections.last_mut() {
            Some((Some(tier), n)) if *tier == e.tier.tier => *n += 1,
            _ => t.sections.push((Some(e.tier.tier), 1)),
        }
        match e.sla.status(now) {
            SlaStatus::Breached => t.breached += 1,
            SlaStatus::Warning => t.warning += 1,
            SlaStatus::OnTrack => {}
        }
    }
    if held > 0 {
        t.sections.push((None, held));
    }
    t
}

fn assert_store_matches(store: &Store, policy: &Policy, now: DateTime<Utc>) {
    let want = in_memory(store, policy);
    let index = store.queue_index().unwrap();
    let got: Vec<&str> = index.keys.iter().map(|k| &*k.sys_id).collect();
    let expected: Vec<&str> = want.iter().map(|e| e.approval.sys_id.as_str()).collect();
    assert_eq!(got, expected, "the index's order is build_queue's");
    for (k, e) in index.keys.iter().zip(&want) {
        // The whole key, with what filters and sorts read (type, risk, CAB, window, age,
        // number), is the one made in memory.
        assert_eq!(*k, signoff::domain::QueueKey::of(e, k.approver));
        assert_eq!(k.tier, e.tier.tier);
        assert_eq!(k.on_hold, e.approval.change.on_hold);
        assert_eq!(k.deadline, e.sla.deadline.timestamp_millis());
        assert_eq!(k.warning_at, e.sla.warning_at.timestamp_millis());
        // The index names people (id and name); their zones travel with the rows.
        let who = &index.people[k.approver as usize];
        assert_eq!(
            (&who.sys_id, &who.name),
            (&e.approval.approver.sys_id, &e.approval.approver.name)
        );
    }
    // At other times too: the SLA counts move with the clock, across hour boundaries.
    for minutes in [0i64, -150, -61, -7, 13, 59, 61, 95, 600, 3000] {
        let at = now + chrono::Duration::minutes(minutes);
        assert_eq!(
            store.queue_totals(at).unwrap(),
            totals_of(&want, at),
            "{minutes} min from now"
        );
    }
    let head: Vec<String> = store
        .queue_head(25)
        .unwrap()
        .into_iter()
        .map(|a| a.sys_id)
        .collect();
    assert_eq!(head, expected[..25.min(expected.len())]);
}

#[tokio::test]
async fn the_stores_order_and_counts_equal_the_in_memory_queue_also_after_a_policy_change() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, now) = synced_store(dir.path(), 500).await;
    let policy = Policy::default();
    let want = in_memory(&store, &policy);
    assert!(want.len() > 150, "a queue worth ordering: {}", want.len());
    // The seeded queue has several tiers, held changes, breaches and warnings.
    let totals = store.queue_totals(now).unwrap();
    assert!(totals.sections.len() >= 4, "{totals:?}");
    assert!(
        totals.sections.iter().any(|(t, _)| t.is_none()),
        "{totals:?}"
    );
    assert!(totals.breached > 0 && totals.warning > 0, "{totals:?}");
    assert_store_matches(&store, &policy, now);

    // A policy with other response times and warning point orders and counts differently:
    // every row is placed again.
    let changed = Policy {
        sla_hours: SlaHours {
            emergency: 0.5,
            critical: 30.0,
            high: 2.0,
            moderate: 200.0,
            low: 1.0,
        },
        warning_at: 0.2,
        ..Policy::default()
    };
    assert!(store.set_policy(&changed).unwrap(), "placed again");
    assert_store_matches(&store, &changed, now);
    assert_ne!(
        store.queue_totals(now).unwrap(),
        totals,
        "the new policy counts differently"
    );
    // The same policy again costs nothing; a reopened store keeps the policy it placed by.
    assert!(!store.set_policy(&changed).unwrap());
    let path = store.path().to_path_buf();
    drop(store);
    let mut reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.policy(), &changed);
    assert!(!reopened.set_policy(&changed).unwrap());
    assert_store_matches(&reopened, &changed, now);
    // Rows written later are placed by it too.
    let mut some = reopened.load_snapshot().unwrap().approvals;
    some.truncate(10);
    for a in &mut some {
        a.change.on_hold = !a.change.on_hold;
    }
    let user = reopened.sync_state().unwrap().user.unwrap();
    reopened
        .apply_changes(&user, &some, &[], now, None)
        .unwrap();
    assert_store_matches(&reopened, &changed, now);
    // The counts follow rows removed one by one and a whole queue replaced.
    let gone: Vec<String> = some.iter().take(5).map(|a| a.sys_id.clone()).collect();
    reopened
        .apply_changes(&user, &[], &gone, now, None)
        .unwrap();
    assert_store_matches(&reopened, &changed, now);
    let mut half = reopened.load_snapshot().unwrap().approvals;
    half.truncate(half.len() / 2);
    reopened.replace_snapshot(&user, &half, now, None).unwrap();
    assert_store_matches(&reopened, &changed, now);
    reopened.clear_queue().unwrap();
    assert_eq!(reopened.queue_totals(now).unwrap(), QueueTotals::default());
    reopened.put_approvals(&half).unwrap();
    assert_store_matches(&reopened, &changed, now);
    // Business hours: Moderate and Low count working time in Berlin (weekdays 09–17, a
    // holiday), and Critical in Singapore for one group: every row is placed by it.
    let business: Policy = toml::from_str(
        r#"
        [business_hours]
        moderate = "emea"
        low = "emea"
        critical = "emea"
        [schedules.emea]
        zone = "Europe/Berlin"
        holidays = ["2026-11-26"]
        group_zones = { "Database" = "Asia/Singapore" }
        "#,
    )
    .unwrap();
    business.validate().unwrap();
    assert!(reopened.set_policy(&business).unwrap(), "placed again");
    assert_store_matches(&reopened, &business, now);
    let late = reopened.queue_totals(now).unwrap();
    let ticking = in_memory(&reopened, &business)
        .iter()
        .filter(|e| e.sla.business)
        .count();
    assert!(ticking > 0, "some rows count business hours");
    assert_ne!(late, QueueTotals::default());
}

#[tokio::test]
async fn a_store_from_before_the_kept_counts_counts_its_rows_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced_store(dir.path(), 200).await;
    let path = store.path().to_path_buf();
    drop(store);
    // What schema 8 held: no counts table, triggers or deadline indexes, and none of schema
    // 10's filter columns.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER queue_counts_insert; DROP TRIGGER queue_counts_update;
             DROP TRIGGER queue_counts_delete; DROP TRIGGER sla_hours_update;
             DROP TABLE queue_counts; DROP TABLE sla_hours;
             DROP INDEX approvals_by_deadline; DROP INDEX approvals_by_warning;
             DROP INDEX approvals_texts_pending; ALTER TABLE approvals DROP COLUMN texts_pending;
             DROP INDEX approvals_without_facts; DROP INDEX approvals_by_ci;
             ALTER TABLE approvals DROP COLUMN q_kind; ALTER TABLE approvals DROP COLUMN q_risk;
             ALTER TABLE approvals DROP COLUMN q_cab; ALTER TABLE approvals DROP COLUMN q_window;
             ALTER TABLE approvals DROP COLUMN q_requested;
             ALTER TABLE approvals DROP COLUMN q_number; ALTER TABLE approvals DROP COLUMN q_text;
             ALTER TABLE approvals DROP COLUMN q_ci;
             ALTER TABLE approvals DROP COLUMN q_window_end;
             DROP TABLE change_context;
             DROP TABLE instance_slas;
             PRAGMA user_version = 8;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 11);
    assert_store_matches(&store, &Policy::default(), now);
}

#[tokio::test]
async fn rows_written_before_the_order_was_stored_are_placed_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced_store(dir.path(), 200).await;
    let path = store.path().to_path_buf();
    drop(store);
    // What a store upgraded from schema 7 holds: rows without their place.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE approvals SET q_hold = NULL, q_tier = NULL, q_deadline = NULL,
                 q_warning = NULL, approver_name = NULL;
             DELETE FROM meta WHERE key = 'queue.policy';",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_store_matches(&store, &Policy::default(), now);
}

fn press(s: &mut AppState, code: KeyCode) {
    update(s, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn screen(s: &AppState, now: DateTime<Utc>, w: u16, h: u16) -> String {
    let theme = Theme::named("dark", false).unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, s, now, &theme)).unwrap();
    let buf = t.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn console(store: &Store, now: DateTime<Utc>, w: u16, h: u16) -> AppState {
    let mut s = AppState::new(
        "https://example.service-now.com".into(),
        DEMO_USER.into(),
        Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(w, h));
    s.user = store.sync_state().unwrap().user;
    update(&mut s, Msg::Tick(now));
    s
}

/// The console from the store (first rows and counts, then the order; rows read when shown)
/// and the console holding the queue whole draw the same screens, key after key, through
/// the whole queue, a filter and the detail view, at 80x24 and wide.
#[tokio::test]
async fn the_console_draws_the_same_screens_from_the_stores_order_as_from_the_queue_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced_store(dir.path(), 7600).await;
    let snapshot = store.load_snapshot().unwrap();
    let n = snapshot.approvals.len();
    // More rows than the console keeps read at once, so rows are dropped and read again.
    assert!(n > 4_500, "{n}");
    for (w, h) in [(80u16, 24u16), (150, 45)] {
        let mut whole = console(&store, now, w, h);
        update(
            &mut whole,
            Msg::Cached {
                user: snapshot.user.clone(),
                approvals: snapshot.approvals.clone(),
                synced_at: snapshot.synced_at,
                outbox_pending: 0,
                complete: true,
                totals: None,
            },
        );

        let mut from_store = console(&store, now, w, h);
        from_store.queue.attach(
            Box::new(Store::open(store.path()).unwrap()),
            Policy::default(),
        );
        // The first frame: the first rows and the store's counts only.
        let first = store.queue_head(40).unwrap();
        assert_eq!(first.len(), 40);
        update(
            &mut from_store,
            Msg::Cached {
                user: snapshot.user.clone(),
                approvals: first,
                synced_at: snapshot.synced_at,
                outbox_pending: 0,
                complete: true,
                totals: Some(store.queue_totals(now).unwrap()),
            },
        );
        assert_eq!(from_store.queue.total(), n);
        assert_eq!(
            screen(&from_store, now, w, h),
            screen(&whole, now, w, h),
            "the first frame, from the first rows and the counts"
        );
        // Keys work before the order arrives.
        press(&mut from_store, KeyCode::Char('j'));
        press(&mut whole, KeyCode::Char('j'));
        assert_eq!(screen(&from_store, now, w, h), screen(&whole, now, w, h));
        update(
            &mut from_store,
            Msg::CacheLoaded {
                approvals: QueueRows::Index(store.queue_index().unwrap()),
                outbox: vec![],
                delegations: vec![],
            },
        );
        assert_eq!(from_store.queue.len(), n);
        assert_eq!(screen(&from_store, now, w, h), screen(&whole, now, w, h));

        let pages = n / 10 + 5;
        let mut keys = vec![KeyCode::PageDown; pages];
        keys.extend([
            KeyCode::Char('g'),
            KeyCode::Tab,
            KeyCode::Tab,
            KeyCode::Char('G'),
        ]);
        keys.extend([KeyCode::PageUp; 5]);
        keys.extend([KeyCode::Char('k'), KeyCode::Char('f'), KeyCode::Char('j')]);
        keys.extend([KeyCode::PageDown; 30]);
        keys.extend([KeyCode::Char('f'), KeyCode::Char('f'), KeyCode::Enter]);
        for (i, code) in keys.into_iter().enumerate() {
            press(&mut from_store, code);
            press(&mut whole, code);
            assert_eq!(
                from_store.queue.selected, whole.queue.selected,
                "key {i} ({code:?})"
            );
            // Every page is compared at the start and the end; in between, every tenth.
            if i % 10 == 0 || i > pages {
                assert_eq!(
                    screen(&from_store, now, w, h),
                    screen(&whole, now, w, h),
                    "key {i} ({code:?}) at {w}x{h}"
                );
            }
        }
        // The detail view (Enter above) shows the long texts, read from the store.
        let text = screen(&from_store, now, w, h);
        assert!(text.contains("Description"), "{text}");
        let selected = from_store.queue.selected_whole().unwrap();
        assert!(!selected.approval.change.description.is_empty());
        assert_eq!(
            selected.approval,
            snapshot
                .approvals
                .iter()
                .find(|a| a.sys_id == selected.approval.sys_id)
                .unwrap()
                .clone()
        );
    }
}

/// The console as it starts: the first rows and the counts from the store, then its order.
fn from_store(store: &Store, now: DateTime<Utc>, w: u16, h: u16) -> AppState {
    let mut s = console(store, now, w, h);
    s.queue.attach(
        Box::new(Store::open(store.path()).unwrap()),
        Policy::default(),
    );
    let state = store.sync_state().unwrap();
    update(
        &mut s,
        Msg::Cached {
            user: state.user,
            approvals: store.queue_head(40).unwrap(),
            synced_at: state.synced_at,
            outbox_pending: 0,
            complete: true,
            totals: Some(store.queue_totals(now).unwrap()),
        },
    );
    update(
        &mut s,
        Msg::CacheLoaded {
            approvals: QueueRows::Index(store.queue_index().unwrap()),
            outbox: vec![],
            delegations: vec![],
        },
    );
    s
}

/// A row whose long texts have not arrived says so in the detail view; when they arrive the
/// open detail shows them.
#[tokio::test]
async fn the_detail_view_waits_for_the_long_texts_and_shows_them_when_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now, server, sn) = first_pass(dir.path(), 200).await;
    let first = store
        .load_snapshot()
        .unwrap()
        .approvals
        .into_iter()
        .find(|a| a.change.detail_source == DetailSource::TextsPending)
        .expect("a row waiting for its texts");
    for (w, h) in [(80u16, 24u16), (150, 45)] {
        let mut s = from_store(&store, now, w, h);
        // Select that row: move down until the detail names its change.
        press(&mut s, KeyCode::Enter);
        let mut tries = 0;
        while !screen(&s, now, w, h).contains(first.change.number.as_str()) {
            press(&mut s, KeyCode::Esc);
            press(&mut s, KeyCode::Char('j'));
            press(&mut s, KeyCode::Enter);
            tries += 1;
            assert!(
                tries < 500,
                "the row is in the queue: {}",
                screen(&s, now, w, h)
            );
        }
        let waiting = screen(&s, now, w, h).replace('\n', " ");
        assert!(waiting.contains("still being fetched"), "{waiting}");
    }
    // The detail open while the texts arrive shows them.
    let mut s = from_store(&store, now, 150, 45);
    press(&mut s, KeyCode::Enter);
    while !screen(&s, now, 150, 45).contains(first.change.number.as_str()) {
        press(&mut s, KeyCode::Esc);
        press(&mut s, KeyCode::Char('j'));
        press(&mut s, KeyCode::Enter);
    }
    assert!(screen(&s, now, 150, 45).contains("still being fetched"));
    fill_long_texts(&sn, &store, None, || true, |_| {})
        .await
        .unwrap();
    let whole = store
        .approvals_by_id(std::slice::from_ref(&first.sys_id))
        .unwrap()
        .remove(0);
    assert_eq!(whole.change.detail_source, DetailSource::Full);
    let line = whole
        .change
        .description
        .lines()
        .find(|l| l.len() > 10)
        .expect("a description")
        .to_string();
    update(
        &mut s,
        Msg::TextsArrived {
            ids: store.approval_ids().unwrap(),
        },
    );
    let shown = screen(&s, now, 150, 45);
    assert!(!shown.contains("still being fetched"), "{shown}");
    assert!(
        shown.contains(&line[..line.len().min(60)]),
        "{line}\n{shown}"
    );
    server.shutdown().await;
}
