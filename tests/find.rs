//! Finding changes (issue 16): `/` search, `:filter` expressions and `:sort` orders, on a
//! queue synced from the sim into a real store. Every shown row matches and no matching row
//! is hidden, judged from the approvals' own fields; the console reading the store's order
//! shows the same rows as the console holding the queue whole; search goes through the real
//! key path and highlights what it found.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use signoff::backend::no_progress;
use signoff::domain::{Approval, ChangeType, Clock, Policy, QueueEntry, RiskTier, SlaStatus};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER};
use signoff::store::Store;
use signoff::sync::{fill_long_texts, sync_once};
use signoff::ui::state::queue::ListLine;
use signoff::ui::{AppState, Msg, QueueRows, Theme, update, views};

/// A store holding the demo approver's queue from a sim of 400 changes, long texts and all,
/// and the sim's time.
async fn synced(dir: &std::path::Path) -> (Store, DateTime<Utc>) {
    let server = common::sim(41, 400, 200).await;
    let clock = common::clock(&server);
    let sn = common::client_on(&server, DEMO_USER, DEMO_PASSWORD, &clock);
    let mut store = Store::open(&dir.join("q.sqlite3")).unwrap();
    sync_once(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    fill_long_texts(&sn, &store, None, || true, |_| {})
        .await
        .unwrap();
    let now = clock.now();
    server.shutdown().await;
    (store, now)
}

fn console(store: &Store, now: DateTime<Utc>) -> AppState {
    let mut s = AppState::new(
        "https://example.service-now.com".into(),
        DEMO_USER.into(),
        Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(120, 40));
    s.user = store.sync_state().unwrap().user;
    update(&mut s, Msg::Tick(now));
    s
}

/// The console holding every approval whole.
fn whole(store: &Store, now: DateTime<Utc>) -> AppState {
    let mut s = console(store, now);
    let state = store.sync_state().unwrap();
    update(
        &mut s,
        Msg::Cached {
            user: state.user,
            approvals: store.load_snapshot().unwrap().approvals,
            synced_at: state.synced_at,
            outbox_pending: 0,
            complete: true,
            totals: None,
        },
    );
    s
}

/// The console reading the store's order, rows read when shown, search asked of the store.
fn from_store(store: &Store, now: DateTime<Utc>) -> AppState {
    let mut s = console(store, now);
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

fn key(s: &mut AppState, code: KeyCode) {
    update(s, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(s: &mut AppState, text: &str) {
    for c in text.chars() {
        key(s, KeyCode::Char(c));
    }
}

/// `:NAME ARG` typed on the command line and run.
fn colon(s: &mut AppState, line: &str) {
    key(s, KeyCode::Char(':'));
    typed(s, line);
    key(s, KeyCode::Enter);
}

fn shown(s: &AppState) -> Vec<String> {
    s.queue
        .items()
        .iter()
        .map(|i| i.approval.sys_id.clone())
        .collect()
}

fn last_message(s: &AppState) -> String {
    s.messages
        .log
        .last()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

/// Whether `a` meets `expr`, judged from its own fields (not from the queue's keys).
fn meets(expr: &str, a: &Approval, now: DateTime<Utc>, me: &str) -> bool {
    let policy = Policy::default();
    let e = QueueEntry::new(&policy, a.clone());
    let c = &a.change;
    expr.split_whitespace().all(|term| match term {
        "tier:critical" => e.tier.tier == RiskTier::Critical,
        "tier:high,moderate" => matches!(e.tier.tier, RiskTier::High | RiskTier::Moderate),
        "type:emergency" => c.change_type == Some(ChangeType::Emergency),
        "type:normal,standard" => matches!(
            c.change_type,
            Some(ChangeType::Normal) | Some(ChangeType::Standard)
        ),
        "sla:breached" => !c.on_hold && e.sla.status(now) == SlaStatus::Breached,
        "sla:warning,ok" => {
            !c.on_hold && matches!(e.sla.status(now), SlaStatus::Warning | SlaStatus::OnTrack)
        }
        "held" => c.on_hold,
        "-held" => !c.on_hold,
        "cab" => c.cab_required,
        "-cab" => !c.cab_required,
        "window:6h" => c
            .start_date
            .is_some_and(|t| t >= now && t <= now + Duration::hours(6)),
        "window:3d" => c
            .start_date
            .is_some_and(|t| t >= now && t <= now + Duration::days(3)),
        "mine" => a.approver.sys_id == me,
        "clear" => true,
        other => panic!("no reference for {other}"),
    })
}

const EXPRESSIONS: &[&str] = &[
    "tier:critical",
    "tier:high,moderate",
    "type:emergency",
    "type:normal,standard",
    "sla:breached",
    "sla:warning,ok",
    "held",
    "-held",
    "cab",
    "-cab",
    "window:6h",
    "window:3d",
    "mine",
    "tier:high,moderate -held cab",
    "type:normal,standard sla:warning,ok window:3d",
    "clear",
];

#[tokio::test]
async fn every_shown_row_meets_the_filter_and_no_row_that_meets_it_is_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let all = store.load_snapshot().unwrap().approvals;
    let me = store.sync_state().unwrap().user.unwrap().sys_id;
    let mut held_whole = whole(&store, now);
    let mut read = from_store(&store, now);
    for expr in EXPRESSIONS {
        // `mine` stays in force until `all` or `clear`: start each from the whole queue.
        colon(&mut held_whole, "filter clear");
        colon(&mut read, "filter clear");
        colon(&mut held_whole, &format!("filter {expr}"));
        colon(&mut read, &format!("filter {expr}"));
        let want: BTreeSet<String> = all
            .iter()
            .filter(|a| meets(expr, a, now, &me))
            .map(|a| a.sys_id.clone())
            .collect();
        let got = shown(&held_whole);
        assert_eq!(
            got.iter().cloned().collect::<BTreeSet<_>>(),
            want,
            "{expr}: {}",
            last_message(&held_whole)
        );
        assert_eq!(got.len(), want.len(), "{expr}: a row shown twice");
        assert_eq!(
            shown(&read),
            got,
            "{expr}: the store's console shows the same rows"
        );
        if *expr != "clear" {
            assert!(
                last_message(&read).starts_with(&format!("Showing {} of the queue", want.len())),
                "{expr}: {}",
                last_message(&read)
            );
        }
    }
    // The seeded queue has rows of every kind, so none of the above was vacuous.
    for expr in [
        "type:emergency",
        "sla:breached",
        "held",
        "cab",
        "window:3d",
        "mine",
    ] {
        assert!(
            all.iter().any(|a| meets(expr, a, now, &me)),
            "no row meets {expr}"
        );
    }
}

#[tokio::test]
async fn the_filter_and_sort_in_force_are_in_the_title_and_bad_terms_say_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let mut s = from_store(&store, now);
    colon(&mut s, "filter tier:high,moderate -held");
    colon(&mut s, "sort window");
    let text = screen(&s, 120, 40);
    let title = text.lines().find(|l| l.contains("Queue (")).unwrap();
    assert!(
        title.contains("tier:high,moderate -held · by window"),
        "{title}"
    );
    colon(&mut s, "filter tier:urgent");
    let said = last_message(&s);
    assert!(
        said.contains("“tier:urgent” is not a filter") && said.contains("emergency, critical"),
        "{said}"
    );
    // The filter in force is kept.
    assert!(screen(&s, 120, 40).contains("tier:high,moderate -held"));
    colon(&mut s, "sort colour");
    assert!(last_message(&s).contains("deadline, window, risk, age, number"));
    colon(&mut s, "filter clear");
    colon(&mut s, "sort deadline");
    let title = screen(&s, 120, 40);
    let title = title
        .lines()
        .find(|l| l.contains("Queue ("))
        .unwrap()
        .to_string();
    assert!(
        !title.contains("by ") && !title.contains("tier:"),
        "{title}"
    );
}

#[tokio::test]
async fn each_sort_orders_the_rows_of_every_tier_and_keeps_the_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let mut held_whole = whole(&store, now);
    let mut read = from_store(&store, now);
    let policy = Policy::default();
    let base: BTreeSet<String> = shown(&read).into_iter().collect();
    for name in ["window", "risk", "age", "number", "deadline"] {
        colon(&mut held_whole, &format!("sort {name}"));
        colon(&mut read, &format!("sort {name}"));
        let items = read.queue.items();
        assert_eq!(
            items
                .iter()
                .map(|i| i.approval.sys_id.clone())
                .collect::<BTreeSet<_>>(),
            base,
            "{name}: the same rows"
        );
        assert_eq!(shown(&held_whole), shown(&read), "{name}: the same order");
        // Sections stay: tiers in order, held last.
        let group = |i: &QueueEntry| (i.approval.change.on_hold, i.tier.tier);
        let groups: Vec<_> = items.iter().map(|i| group(i)).collect();
        assert!(
            groups.windows(2).all(|w| w[0] <= w[1]),
            "{name}: tiers kept"
        );
        for w in items.windows(2) {
            if group(&w[0]) != group(&w[1]) {
                continue;
            }
            let (a, b) = (&w[0].approval, &w[1].approval);
            let ok = match name {
                "window" => {
                    let at = |x: &Approval| x.change.start_date.unwrap_or(DateTime::<Utc>::MAX_UTC);
                    at(a) <= at(b)
                }
                "risk" => {
                    let r = |x: &Approval| x.change.risk.map_or(9, |r| r as u8);
                    r(a) <= r(b)
                }
                "age" => a.requested_at <= b.requested_at,
                "number" => {
                    let n = |x: &Approval| {
                        x.change
                            .number
                            .trim_start_matches("CHG")
                            .parse::<u64>()
                            .unwrap()
                    };
                    n(a) <= n(b)
                }
                _ => {
                    let d = |x: &Approval| QueueEntry::new(&policy, x.clone()).sla.deadline;
                    d(a) <= d(b)
                }
            };
            assert!(ok, "{name}: {} before {}", a.change.number, b.change.number);
        }
    }
}

/// What `/` finds, judged from the approvals' fields: number, title, requester, CI,
/// assignment group, approval group and description, ignoring case.
fn holds(a: &Approval, text: &str) -> bool {
    let c = &a.change;
    let t = text.to_lowercase();
    [
        &c.number,
        &c.short_description,
        &c.requested_by.name,
        &c.configuration_item,
        &c.assignment_group,
        a.group.as_ref().unwrap_or(&String::new()),
        &c.description,
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(&t))
}

#[tokio::test]
async fn search_finds_every_row_holding_the_text_in_any_field_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = synced(dir.path()).await;
    let all = store.load_snapshot().unwrap().approvals;
    let a = &all[all.len() / 3];
    let c = &a.change;
    let word = |s: &str| {
        s.split_whitespace()
            .max_by_key(|w| w.len())
            .unwrap_or("")
            .to_string()
    };
    let needles = [
        c.number.clone(),
        c.number[c.number.len() - 3..].to_string(),
        word(&c.short_description).to_uppercase(),
        c.requested_by.name.split(' ').next().unwrap().to_string(),
        c.configuration_item.clone(),
        c.assignment_group.to_lowercase(),
        word(&c.description),
        "no such thing anywhere".to_string(),
    ];
    for n in &needles {
        let want: BTreeSet<&str> = all
            .iter()
            .filter(|a| holds(a, n))
            .map(|a| a.sys_id.as_str())
            .collect();
        let got = store
            .text_matches(&signoff::domain::find::needle(n))
            .unwrap();
        let got: BTreeSet<&str> = got.iter().map(|s| &**s).collect();
        assert_eq!(got, want, "{n:?}");
    }
    assert!(needles[..7].iter().all(|n| all.iter().any(|a| holds(a, n))));
}

fn screen(s: &AppState, w: u16, h: u16) -> String {
    let buf = buffer(s, w, h);
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn buffer(s: &AppState, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let theme = Theme::named("dark", false).unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = s.now.unwrap();
    t.draw(|f| views::draw(f, s, now, &theme)).unwrap();
    t.backend().buffer().clone()
}

#[tokio::test]
async fn slash_searches_as_you_type_n_steps_through_the_matches_and_esc_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let mut s = from_store(&store, now);
    key(&mut s, KeyCode::Char('j'));
    key(&mut s, KeyCode::Char('j'));
    let origin = s.queue.selected;
    let items = s.queue.items();
    // A requester with several approvals in the queue, not on the selected row.
    let who = items
        .iter()
        .map(|i| i.approval.change.requested_by.name.clone())
        .find(|n| {
            !n.is_empty()
                && items
                    .iter()
                    .filter(|i| &i.approval.change.requested_by.name == n)
                    .count()
                    >= 3
        })
        .unwrap();
    let text = who.split(' ').next_back().unwrap().to_lowercase();
    let expected: Vec<usize> = (0..items.len())
        .filter(|&i| holds(&items[i].approval, &text))
        .collect();
    key(&mut s, KeyCode::Char('/'));
    typed(&mut s, &text);
    // The cursor is on the first match at or after where it was.
    let first = *expected
        .iter()
        .find(|&&i| i >= origin)
        .unwrap_or(&expected[0]);
    assert_eq!(s.queue.selected, first);
    let bar = screen(&s, 120, 40);
    let bar = bar.lines().last().unwrap();
    assert!(bar.starts_with(&format!("/{text}█")), "{bar}");
    assert!(
        bar.contains(&format!("{} matches", expected.len())),
        "{bar}"
    );
    key(&mut s, KeyCode::Enter);
    assert!(
        last_message(&s).contains(&format!("of {}", expected.len())),
        "{}",
        last_message(&s)
    );
    // n and N step through the matches, wrapping at the ends.
    let at = expected.iter().position(|&i| i == first).unwrap();
    key(&mut s, KeyCode::Char('n'));
    assert_eq!(s.queue.selected, expected[(at + 1) % expected.len()]);
    key(&mut s, KeyCode::Char('N'));
    key(&mut s, KeyCode::Char('N'));
    assert_eq!(
        s.queue.selected,
        expected[(at + expected.len() - 1) % expected.len()]
    );
    // The match is highlighted on the selected row (the requester's column).
    let buf = buffer(&s, 120, 40);
    let rows: Vec<String> = (0..40)
        .map(|y| (0..120).map(|x| buf[(x, y)].symbol()).collect())
        .collect();
    let line = rows.iter().position(|r| r.contains('▶')).unwrap() as u16;
    let row = &rows[line as usize];
    let chars: Vec<char> = row.chars().collect();
    let col = (0..chars.len())
        .find(|&i| {
            chars[i..]
                .iter()
                .collect::<String>()
                .to_lowercase()
                .starts_with(&text)
        })
        .expect("the match is on the row") as u16;
    assert!(
        buf[(col, line)].modifier.contains(Modifier::UNDERLINED),
        "{row}"
    );
    // A new search that Esc abandons: back where the cursor was, the old search in force.
    let before = s.queue.selected;
    key(&mut s, KeyCode::Char('/'));
    typed(&mut s, "zzz-nothing");
    assert!(
        screen(&s, 120, 40)
            .lines()
            .last()
            .unwrap()
            .contains("no match")
    );
    assert_eq!(s.queue.selected, before);
    key(&mut s, KeyCode::Esc);
    assert_eq!(s.queue.search.as_ref().unwrap().text, text);
    // :search TEXT does the same in one go, and a blank / search ends the search.
    colon(
        &mut s,
        &format!("search {}", items[expected[0]].approval.change.number),
    );
    assert_eq!(s.queue.selected, expected[0]);
    key(&mut s, KeyCode::Char('/'));
    key(&mut s, KeyCode::Enter);
    assert!(s.queue.search.is_none());
    key(&mut s, KeyCode::Char('n'));
    assert!(last_message(&s).contains("No search yet"));
}

#[tokio::test]
async fn saved_views_from_the_config_apply_their_filter_and_sort_and_v_steps_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let config = signoff::config::Config::parse(
        r#"
[[views]]
name = "emergencies"
filter = "type:emergency"
sort = "window"

[[views]]
name = "mine, not held"
filter = "mine -held"
"#,
        std::path::Path::new("config.toml"),
    )
    .unwrap();
    let all = store.load_snapshot().unwrap().approvals;
    let me = store.sync_state().unwrap().user.unwrap().sys_id;
    let mut s = from_store(&store, now).with_views(config.views);
    colon(&mut s, "sort age");
    key(&mut s, KeyCode::Char('v'));
    let want = all
        .iter()
        .filter(|a| meets("type:emergency", a, now, &me))
        .count();
    assert_eq!(shown(&s).len(), want);
    assert_eq!(s.queue.sort, signoff::domain::find::Sort::Window);
    let text = screen(&s, 120, 40);
    assert!(
        text.contains("· view emergencies · type:emergency · by window"),
        "{text}"
    );
    key(&mut s, KeyCode::Char('v'));
    let want: BTreeSet<String> = all
        .iter()
        .filter(|a| meets("mine -held", a, now, &me))
        .map(|a| a.sys_id.clone())
        .collect();
    assert_eq!(shown(&s).into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(s.queue.sort, signoff::domain::find::Sort::Deadline);
    // Past the last view: the whole queue again.
    key(&mut s, KeyCode::Char('v'));
    assert_eq!(shown(&s).len(), all.len());
    assert!(s.queue.describe().is_empty());
    colon(&mut s, "view emerg");
    assert_eq!(s.queue.view.as_deref(), Some("emergencies"));
    // Changing the filter by hand leaves the view.
    colon(&mut s, "filter held");
    assert_eq!(s.queue.view, None);
    colon(&mut s, "view nope");
    assert!(last_message(&s).contains("the views are emergencies, mine, not held"));
    // A view the config cannot apply is refused when the config is read, with its name.
    let e = signoff::config::Config::parse(
        "[[views]]\nname = \"late\"\nfilter = \"sla:late,soon\"\n",
        std::path::Path::new("config.toml"),
    )
    .unwrap_err();
    assert!(
        e.contains("view 1 (late) filter:") && e.contains("breached, warning and ok"),
        "{e}"
    );
}

/// Mouse events through the console's own loop: what `drive` does with them.
async fn driven(s: AppState, events: Vec<crossterm::event::Event>, now: DateTime<Utc>) -> AppState {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(signoff::domain::FixedClock(now));
    let input = futures::stream::iter(events.into_iter().map(Ok));
    signoff::ui::run::drive(
        &mut terminal,
        input,
        s,
        &Theme::named("dark", false).unwrap(),
        clock,
        None,
        None,
    )
    .await
    .unwrap()
}

fn click(x: u16, y: u16) -> crossterm::event::Event {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    crossterm::event::Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

fn wheel(down: bool, y: u16) -> crossterm::event::Event {
    use crossterm::event::{MouseEvent, MouseEventKind};
    crossterm::event::Event::Mouse(MouseEvent {
        kind: if down {
            MouseEventKind::ScrollDown
        } else {
            MouseEventKind::ScrollUp
        },
        column: 20,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

#[tokio::test]
async fn clicks_select_rows_fold_tiers_sort_by_a_heading_and_the_wheel_scrolls() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let s = from_store(&store, now);
    // The first rows, then the whole order: nothing is news at start.
    assert!(s.watch.toast.is_none(), "{:?}", s.watch.toast);
    let list = signoff::ui::layout::areas(s.size).list;
    // Rows start below the border and the headings; the first line is the first tier's header.
    let top = list.y + 2;
    assert_eq!(s.queue.at_line(0), Some(ListLine::Header(0)));
    let first_len = s.queue.sections[0].len;
    assert!(first_len >= 3 && s.queue.sections.len() >= 2);
    let s = driven(s, vec![click(30, top + 3)], now).await;
    assert_eq!(s.queue.selected, 2, "the third row");
    let s = driven(s, vec![wheel(true, top + 5), wheel(true, top + 5)], now).await;
    assert_eq!(s.queue.selected, 8);
    let s = driven(s, vec![wheel(false, top + 5)], now).await;
    assert_eq!(s.queue.selected, 5);
    // The second tier's header folds it: only its header is left, with its count; the rows
    // still count in the title; a second click opens it again.
    let header = (first_len + 1 - s.queue.scroll) as u16;
    let (total, second) = (s.queue.total(), s.queue.sections[1]);
    let s = driven(s, vec![click(30, top + header)], now).await;
    let folded = s.queue.sections[1];
    assert_eq!((folded.len, folded.folded), (0, second.len));
    assert_eq!(s.queue.total(), total);
    assert_eq!(s.queue.len(), total - second.len);
    let name = second.tier.unwrap().label().to_uppercase();
    let text = screen(&s, 140, 45);
    assert!(
        text.contains(&format!("▸ {name} · {} folded", second.len)),
        "{text}"
    );
    // j steps over the folded tier: from the first tier's last row to the third tier's first.
    let mut s = s;
    s.queue.select(first_len - 1);
    key(&mut s, KeyCode::Char('j'));
    assert_eq!(s.queue.selected, first_len);
    assert_eq!(s.queue.sections[2].start, first_len);
    let header = (s.queue.line_of(first_len) - 2 - s.queue.scroll) as u16;
    let s = driven(s, vec![click(30, top + header)], now).await;
    assert_eq!(s.queue.sections[1], second);
    assert_eq!(s.queue.len(), total);
    // `z` folds the cursor's tier; `:fold none` opens every tier again, `:fold all` folds all.
    let mut s = s;
    s.queue.select(second.start + 1);
    key(&mut s, KeyCode::Char('z'));
    assert_eq!(s.queue.sections[1].len, 0);
    assert!(last_message(&s).contains("folded"), "{}", last_message(&s));
    assert_eq!(
        s.queue.selected, s.queue.sections[2].start,
        "the next row shown"
    );
    colon(&mut s, "fold all");
    assert!(s.queue.is_empty() && s.queue.total() == total);
    colon(&mut s, "fold none");
    assert_eq!(s.queue.len(), total);
    // Folding the first tier from its first row: its header stays in view above the next.
    s.queue.select(0);
    key(&mut s, KeyCode::Char('z'));
    assert_eq!(s.queue.selected, 0);
    assert_eq!(s.queue.scroll, 0, "the folded header is the first line");
    assert!(
        screen(&s, 140, 45).contains(&format!(
            "▸ {} · {first_len} folded",
            s.queue.sections[0].tier.unwrap().label().to_uppercase()
        )),
        "{}",
        screen(&s, 140, 45)
    );
    colon(&mut s, "fold none");
    colon(&mut s, "fold nonsense");
    assert!(last_message(&s).contains("No tier"), "{}", last_message(&s));
    s.queue.select(second.start);
    // A click outside the list (the status bar) does nothing.
    let before = s.queue.selected;
    let bar = s.size.height - 1;
    let s = driven(s, vec![click(30, bar)], now).await;
    assert_eq!(s.queue.selected, before);
    // The NUMBER heading sorts by number, SLA by deadline again.
    let s = driven(s, vec![click(list.x + 6, list.y + 1)], now).await;
    assert_eq!(s.queue.sort, signoff::domain::find::Sort::Number);
    let s = driven(s, vec![click(list.x + 18, list.y + 1)], now).await;
    assert_eq!(s.queue.sort, signoff::domain::find::Sort::Deadline);
    // A click on the selected row opens it.
    let line = (s.queue.line_of(s.queue.selected) - s.queue.scroll) as u16;
    let s = driven(s, vec![click(30, top + line)], now).await;
    assert_eq!(s.mode, signoff::ui::Mode::Detail);
}

#[tokio::test]
async fn related_changes_share_the_ci_and_overlap_the_window_from_the_store_as_held_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, now) = synced(dir.path()).await;
    let all = store.load_snapshot().unwrap().approvals;
    let overlapping = |a: &Approval, o: &Approval| {
        let (c, oc) = (&a.change, &o.change);
        let (Some(s), Some(os)) = (c.start_date, oc.start_date) else {
            return false;
        };
        let e = c.end_date.unwrap_or(s).max(s + Duration::milliseconds(1));
        let oe = oc.end_date.unwrap_or(os);
        !c.configuration_item.is_empty()
            && oc.configuration_item == c.configuration_item
            && oc.sys_id != c.sys_id
            && os < e
            && oe > s
    };
    let want_for = |a: &Approval| -> BTreeSet<String> {
        all.iter()
            .filter(|o| overlapping(a, o))
            .map(|o| o.change.sys_id.clone())
            .collect()
    };
    // A change with some related ones, and one with none.
    let with = all
        .iter()
        .find(|a| (1..=5).contains(&want_for(a).len()))
        .expect("a change sharing its CI and window with others");
    let without = all.iter().find(|a| want_for(a).is_empty()).unwrap();
    let read = from_store(&store, now);
    let held_whole = whole(&store, now);
    for a in [with, without] {
        let want = want_for(a);
        for (name, s) in [("store", &read), ("whole", &held_whole)] {
            let got: Vec<Approval> = s.queue.related(a);
            let ids: BTreeSet<String> = got.iter().map(|o| o.change.sys_id.clone()).collect();
            assert_eq!(ids, want, "{name}: {}", a.change.number);
            assert_eq!(got.len(), ids.len(), "{name}: one row a change");
        }
    }
}
