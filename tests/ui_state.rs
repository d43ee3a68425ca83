//! UI state driven by messages, and views rendered into ratatui's TestBackend.
//! No network and no wall clock: approvals are built here and time is fixed.

mod common;

use chrono::{Duration, FixedOffset};
use common::ui::{key, now, render_at, screen, synced};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use signoff::domain::{Approval, Policy, User};
use signoff::ui::{AppState, Effect, Mode, Msg, Theme, update};

/// The shared approval, with an implementation plan to show in the detail pane.
fn approval(n: usize, ty: &str, risk: &str, impact: &str, age_min: i64) -> Approval {
    let mut a = common::ui::approval(n, ty, risk, impact, age_min);
    a.change.implementation_plan = "1. Drain
2. Upgrade"
        .into();
    a
}

/// 2 emergency, 3 high, 30 moderate, 5 low.
fn fixture() -> Vec<Approval> {
    let mut v = vec![
        approval(1, "emergency", "3", "2", 70), // breached (1 h)
        approval(2, "emergency", "3", "2", 50), // warning
        approval(3, "normal", "2", "2", 60),
        approval(4, "normal", "2", "2", 400),
        approval(5, "normal", "2", "2", 500), // breached (8 h)
    ];
    for n in 6..36 {
        v.push(approval(n, "normal", "3", "2", (n as i64) * 30));
    }
    for n in 36..41 {
        v.push(approval(n, "standard", "4", "3", 60));
    }
    v
}

fn user() -> User {
    User {
        sys_id: "u1".into(),
        user_name: "alice.moreno".into(),
        name: "Alice Moreno".into(),
        email: "alice@example.com".into(),
    }
}

fn loaded(w: u16, h: u16) -> AppState {
    let mut s = AppState::new(
        "http://127.0.0.1:9".into(),
        "alice.moreno".into(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(w, h));
    update(
        &mut s,
        synced(user(), fixture(), vec![], now() - Duration::minutes(3)),
    );
    s
}

fn render(s: &AppState, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
    render_at(s, w, h, now(), theme)
}

#[test]
fn queue_is_grouped_by_tier_in_order() {
    let s = loaded(140, 45);
    let tiers: Vec<_> = s.queue.sections.iter().map(|x| (x.tier, x.len)).collect();
    use signoff::domain::RiskTier::*;
    assert_eq!(
        tiers,
        vec![
            (Some(Emergency), 2),
            (Some(High), 3),
            (Some(Moderate), 30),
            (Some(Low), 5)
        ]
    );
    // Within a tier the nearest deadline comes first.
    assert_eq!(
        s.queue.item(0).unwrap().approval.change.number,
        "CHG0030001"
    );
    assert_eq!(
        s.queue.item(2).unwrap().approval.change.number,
        "CHG0030005"
    );
}

#[test]
fn navigation_keys_move_the_selection() {
    let mut s = loaded(140, 30);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(s.queue.selected, 2);
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.queue.selected, 1);
    update(&mut s, key(KeyCode::Char('k')));
    update(&mut s, key(KeyCode::Char('k')));
    assert_eq!(s.queue.selected, 0, "stops at the top");

    update(&mut s, key(KeyCode::Char('G')));
    assert_eq!(s.queue.selected, 39);
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.queue.selected, 39, "stops at the bottom");
    update(&mut s, key(KeyCode::Char('g')));
    assert_eq!(s.queue.selected, 0);

    // Tab jumps from tier to tier, wrapping; Shift-Tab goes back.
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.queue.selected, 2);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.queue.selected, 5);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.queue.selected, 35);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.queue.selected, 0);
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.queue.selected, 35);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(
        s.queue.selected, 35,
        "first Shift-Tab goes to the top of the tier"
    );

    // Paging moves by a screenful and keeps the selection visible.
    update(&mut s, key(KeyCode::Char('g')));
    update(&mut s, key(KeyCode::PageDown));
    let rows = s.list_rows();
    assert_eq!(s.queue.selected, rows - 1);
    let line = s.queue.line_of(s.queue.selected);
    assert!(line >= s.queue.scroll && line < s.queue.scroll + rows);
    update(&mut s, key(KeyCode::PageUp));
    assert_eq!(s.queue.selected, 0);
    assert_eq!(s.queue.scroll, 0);
}

#[test]
fn detail_help_and_quit() {
    let mut s = loaded(100, 30);
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.mode, Mode::Detail);
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(s.detail_scroll, 1);
    assert_eq!(s.queue.selected, 0, "j scrolls the detail, not the queue");
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.mode, Mode::Queue);
    update(&mut s, key(KeyCode::Char('?')));
    assert!(s.help.is_some());
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.queue.selected, 0, "keys do not leak through the help");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.help.is_none());
    assert_eq!(s.mode, Mode::Queue);
    assert_eq!(
        update(&mut s, key(KeyCode::Char('r'))),
        vec![Effect::Refresh]
    );
    assert_eq!(update(&mut s, key(KeyCode::Char('q'))), vec![Effect::Quit]);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(update(&mut s, ctrl_c), vec![Effect::Quit]);
}

#[test]
fn reload_keeps_the_selected_change() {
    let mut s = loaded(140, 30);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Down));
    let chosen = s.selected_item().unwrap().approval.sys_id.clone();
    // The next sync brings the same approvals plus one new emergency at the top.
    let mut next = fixture();
    next.push(approval(99, "emergency", "2", "1", 5));
    update(&mut s, synced(user(), next, vec![], now()));
    assert_eq!(s.selected_item().unwrap().approval.sys_id, chosen);
}

#[test]
fn ticks_redraw_only_when_the_screen_changes() {
    let mut s = loaded(140, 30);
    s.dirty = false;
    // The fixture's deadlines fall on whole minutes of `now()`, so countdowns step at +1 s.
    update(&mut s, Msg::Tick(now() + Duration::seconds(1)));
    assert!(s.dirty, "first tick establishes the countdown texts");
    s.dirty = false;
    update(&mut s, Msg::Tick(now() + Duration::seconds(2)));
    update(&mut s, Msg::Tick(now() + Duration::seconds(30)));
    assert!(!s.dirty, "nothing visible changes within the same minute");
    update(&mut s, Msg::Tick(now() + Duration::seconds(61)));
    assert!(s.dirty, "countdowns moved a minute");
}

#[test]
fn rows_show_countdowns_windows_and_status_words() {
    let s = loaded(140, 45);
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render(&s, 140, 45, &theme));
    assert!(text.contains("── EMERGENCY · 2"), "{text}");
    assert!(text.contains("BREACHED 0h 10m"), "{text}");
    assert!(text.contains("! 0h 10m left"), "{text}");
    assert!(text.contains("starts in 30h"), "{text}");
    assert!(text.contains("Ben Ishikawa"));
    assert!(
        text.contains("▶  CHG0030001"),
        "selection is marked without colour"
    );
    assert!(text.contains("2 breached"), "{text}");
}

#[test]
fn tier_and_sla_styles_come_from_the_theme() {
    let s = loaded(140, 45);
    let theme = Theme::named("dark", false).unwrap();
    let t = render(&s, 140, 45, &theme);
    let buf = t.backend().buffer();
    let find = |needle: &str| -> (u16, u16) {
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            if let Some(b) = line.find(needle) {
                let x = line[..b].chars().count() as u16;
                return (x, y);
            }
        }
        panic!("{needle} not on screen");
    };
    let (x, y) = find("BREACHED");
    assert_eq!(buf[(x, y)].style().fg, theme.style("sla.breached").fg);
    assert!(buf[(x, y)].style().add_modifier.contains(Modifier::BOLD));
    let (x, y) = find("── EMERGENCY");
    assert_eq!(buf[(x + 3, y)].style().fg, theme.style("tier.emergency").fg);

    let plain = Theme::named("dark", true).unwrap();
    let t = render(&s, 140, 45, &plain);
    let buf = t.backend().buffer();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let st = buf[(x, y)].style();
            assert!(
                st.fg.is_none() || st.fg == Some(ratatui::style::Color::Reset),
                "NO_COLOR leaves no colour at {x},{y}"
            );
        }
    }
}

#[test]
fn small_terminal_gets_a_message_not_a_broken_frame() {
    let mut s = loaded(140, 45);
    update(&mut s, Msg::Resize(50, 10));
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render(&s, 50, 10, &theme));
    assert!(text.contains("Terminal too small"), "{text}");
    assert!(text.contains("50×10"), "{text}");
    // Growing again brings the queue back.
    update(&mut s, Msg::Resize(80, 24));
    let text = screen(&render(&s, 80, 24, &theme));
    assert!(text.contains("CHG0030001"), "{text}");
}

#[test]
fn load_failure_is_a_sentence_with_a_way_out() {
    let mut s = AppState::new(
        "https://acme.service-now.com".into(),
        "alice".into(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(100, 20));
    update(
        &mut s,
        Msg::AuthFailed {
            error: "The instance refused the user name or password (HTTP 401).".into(),
        },
    );
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render(&s, 100, 20, &theme));
    assert!(text.contains("Could not load the queue"), "{text}");
    assert!(text.contains("refused the user name"), "{text}");
    assert!(text.contains("r try again"), "{text}");
    assert!(text.contains("SIGN-IN REFUSED"), "{text}");
}

#[test]
fn snapshot_queue_with_side_detail() {
    let mut s = loaded(180, 40);
    update(&mut s, key(KeyCode::Tab));
    let theme = Theme::named("dark", false).unwrap();
    insta::assert_snapshot!(render(&s, 180, 40, &theme).backend());
}

#[test]
fn snapshot_help() {
    let mut s = loaded(100, 30);
    update(&mut s, key(KeyCode::Char('?')));
    let theme = Theme::named("dark", false).unwrap();
    insta::assert_snapshot!(render(&s, 100, 30, &theme).backend());
}

#[test]
fn first_frame_from_summaries_then_the_full_cache() {
    let mut s = AppState::new(
        "http://127.0.0.1:9".into(),
        "alice.moreno".into(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(100, 40));
    let full = fixture();
    let summaries: Vec<Approval> = full.iter().map(signoff::store::summary_of).collect();
    update(
        &mut s,
        Msg::Cached {
            user: Some(user()),
            approvals: summaries,
            synced_at: Some(now() - Duration::minutes(12)),
            outbox_pending: 0,
            complete: false,
            totals: None,
        },
    );
    update(&mut s, key(KeyCode::Enter));
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render(&s, 100, 40, &theme));
    assert!(text.contains("reading the cache…"), "{text}");
    assert!(text.contains("connecting"), "{text}");
    assert!(text.contains("last sync 12m ago"), "{text}");

    update(
        &mut s,
        Msg::CacheLoaded {
            approvals: full.into(),
            outbox: vec![],
            delegations: vec![],
        },
    );
    assert!(!s.queue.details_pending);
    let text = screen(&render(&s, 100, 40, &theme));
    assert!(!text.contains("reading the cache…"), "{text}");
    assert!(text.contains("Line one"), "the texts arrived: {text}");
}

#[test]
fn overdue_approvals_name_the_fallback_approver() {
    let mut policy = Policy {
        fallback_at_level: 1,
        ..Policy::default()
    };
    policy
        .fallback
        .insert(signoff::domain::RiskTier::Emergency, "Duty manager".into());
    let mut s = AppState::new(
        "http://127.0.0.1:9".into(),
        "alice.moreno".into(),
        policy,
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(120, 40));
    update(&mut s, synced(user(), fixture(), vec![], now()));
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render(&s, 120, 40, &theme));
    // CHG0030001 (Emergency) is 10 minutes overdue; CHG0030002 is not due yet.
    let row = |n: &str| text.lines().find(|l| l.contains(n)).unwrap().to_string();
    assert!(row("CHG0030001").contains('⚑'), "{text}");
    assert!(!row("CHG0030002").contains('⚑'), "{text}");
    assert!(
        text.contains("⚑ No one present to decide: the response is overdue (escalation level 1); chase Duty manager."),
        "{text}"
    );
}
