//! The delegation UI: approvals decided for others ("for …" rows, the person filter, the
//! detail's sentence), the delegation screen, the new / edit form and ending a delegation.
//! Messages in, state, effects and screens asserted; no network, no wall clock.

mod common;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use common::ui::{ch, ctrl, key, line_with, now, render_at, screen, synced};
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use signoff::domain::{
    Approval, ApprovalState, Change, ChangeType, Delegation, DelegationDraft, DetailSource, Level,
    Policy, Risk, User, UserRef,
};
use signoff::ui::state::{FormField, QueueFilter};
use signoff::ui::{AppState, Effect, Mode, Msg, Theme, update};

fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    let (mo, d) = if d > 30 { (12, d - 30) } else { (11, d) };
    Utc.with_ymd_and_hms(2026, mo, d, h, m, 0).unwrap()
}

fn who(id: &str, name: &str) -> UserRef {
    UserRef {
        sys_id: id.into(),
        name: name.into(),
        ..Default::default()
    }
}

fn me() -> User {
    User {
        sys_id: "u1".into(),
        user_name: "sam.okafor".into(),
        name: "Sam Okafor".into(),
        email: "sam@example.com".into(),
    }
}

fn person(id: &str, login: &str, name: &str) -> User {
    User {
        sys_id: id.into(),
        user_name: login.into(),
        name: name.into(),
        email: format!("{login}@example.com"),
    }
}

fn approval(n: usize, approver: UserRef, risk: &str) -> Approval {
    Approval {
        source: Default::default(),
        sys_id: format!("appr{n:04}"),
        state: ApprovalState::Requested,
        approver,
        requested_at: now() - Duration::minutes(30 + n as i64),
        due_date: None,
        group: None,
        sys_updated_on: None,
        change: Change {
            sys_id: format!("chg{n:04}"),
            number: format!("CHG{:07}", 30000 + n),
            short_description: format!("Patch cluster {n}"),
            change_type: Some(ChangeType::parse("normal")),
            risk: Risk::from_value(risk).unwrap(),
            impact: Level::from_value("2").unwrap(),
            urgency: Some(Level::Medium),
            state: "Authorize".into(),
            requested_by: who("u7", "Ben Ishikawa"),
            start_date: Some(now() + Duration::hours(30)),
            end_date: Some(now() + Duration::hours(32)),
            detail_source: DetailSource::Full,
            ..Change::default()
        },
    }
}

fn alice() -> UserRef {
    who("u2", "Alice Moreno")
}
fn carla() -> UserRef {
    who("u3", "Carla Diaz")
}
fn bob() -> UserRef {
    who("u4", "Bob Lee")
}
fn sam() -> UserRef {
    who("u1", "Sam Okafor")
}

/// Three of mine, two of Alice's, one of Carla's.
fn queue() -> Vec<Approval> {
    vec![
        approval(1, sam(), "3"),
        approval(2, alice(), "3"),
        approval(3, sam(), "2"),
        approval(4, carla(), "3"),
        approval(5, alice(), "2"),
        approval(6, sam(), "4"),
    ]
}

fn deleg(id: &str, user: UserRef, to: UserRef, s: DateTime<Utc>, e: DateTime<Utc>) -> Delegation {
    Delegation {
        sys_id: id.into(),
        user,
        delegate: to,
        starts: Some(s),
        ends: Some(e),
        approvals: true,
    }
}

/// Received from Alice and Carla (active); given to Bob (upcoming, 10–20 Dec) and an old one
/// to Bob (expired).
fn delegations() -> Vec<Delegation> {
    let mut carla = deleg("d-carla", carla(), sam(), at(20, 0, 0), at(28, 18, 0));
    carla.approvals = true;
    let mut old = deleg("d-old", sam(), bob(), at(1, 8, 0), at(6, 18, 0));
    old.approvals = false;
    vec![
        deleg("d-alice", alice(), sam(), at(23, 8, 0), at(30, 18, 0)),
        carla,
        deleg("d-bob", sam(), bob(), at(40, 8, 0), at(50, 18, 0)),
        old,
    ]
}

fn loaded(w: u16, h: u16) -> AppState {
    let mut s = AppState::new(
        "http://127.0.0.1:9".into(),
        "sam.okafor".into(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Tick(now()));
    update(&mut s, Msg::Resize(w, h));
    update(
        &mut s,
        synced(me(), queue(), delegations(), now() - Duration::minutes(3)),
    );
    s
}

/// Types `text`, returning every effect emitted on the way.
fn type_text(s: &mut AppState, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, ch(c))).collect()
}

/// Empties the focused text field.
fn clear_field(s: &mut AppState) {
    for _ in 0..40 {
        update(s, key(KeyCode::Backspace));
    }
}

fn render(s: &AppState, w: u16, h: u16) -> Terminal<TestBackend> {
    render_at(s, w, h, now(), &Theme::named("dark", false).unwrap())
}

fn numbers(s: &AppState) -> Vec<String> {
    s.queue
        .items()
        .iter()
        .map(|i| i.approval.change.number.clone())
        .collect()
}

fn verdict_err(s: &AppState) -> String {
    s.delegations
        .form
        .as_ref()
        .expect("the form is open")
        .verdict
        .clone()
        .expect_err("the form is invalid")
}

/// Opens the new-delegation form and picks `who` from the answered search `query`.
fn pick(s: &mut AppState, query: &str, found: Vec<User>, index: usize) {
    let effects = type_text(s, query);
    assert!(effects.contains(&Effect::SearchUsers {
        query: query.into()
    }));
    update(
        s,
        Msg::UsersFound {
            query: query.into(),
            result: Ok(found),
        },
    );
    for _ in 0..index {
        update(s, key(KeyCode::Down));
    }
    update(s, key(KeyCode::Enter));
}

#[test]
fn rows_of_delegators_say_for_whom_and_the_detail_says_why() {
    let mut s = loaded(120, 30);
    let text = screen(&render(&s, 120, 30));
    for n in ["CHG0030002", "CHG0030005"] {
        let row = line_with(&text, n);
        assert!(row.contains("for Alice Moreno · Patch cluster"), "{row}");
    }
    assert!(line_with(&text, "CHG0030004").contains("for Carla Diaz · Patch cluster 4"));
    for n in ["CHG0030001", "CHG0030003", "CHG0030006"] {
        let row = line_with(&text, n);
        assert!(!row.contains("for "), "my own approval is unmarked: {row}");
    }
    insta::assert_snapshot!("queue_for_rows", render(&s, 120, 30).backend());

    // The detail of Alice's approval names her and the delegation's end.
    let i = s
        .queue
        .items()
        .iter()
        .position(|i| i.approval.sys_id == "appr0002")
        .unwrap();
    update(&mut s, ch('g'));
    for _ in 0..i {
        update(&mut s, ch('j'));
    }
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.mode, Mode::Detail);
    let text = screen(&render(&s, 120, 30));
    assert!(
        text.contains(
            "You decide this on behalf of Alice Moreno (delegation until Mon 30 Nov 18:00)"
        ),
        "{text}"
    );
    // The decision dialog says so too.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('a'));
    let text = screen(&render(&s, 120, 30));
    assert!(
        text.contains("On behalf of Alice Moreno (as their delegate)."),
        "{text}"
    );
    update(&mut s, key(KeyCode::Esc));
    // Not on my own.
    update(&mut s, ch('j'));
    assert_eq!(s.selected_item().unwrap().approval.approver.sys_id, "u1");
    update(&mut s, key(KeyCode::Enter));
    assert!(!screen(&render(&s, 120, 30)).contains("on behalf of"));
}

#[test]
fn f_cycles_all_mine_and_each_delegator() {
    let mut s = loaded(120, 30);
    assert_eq!(s.queue.len(), 6);
    // Select one of mine; it stays selected under "mine".
    let mine = s
        .queue
        .items()
        .iter()
        .position(|i| i.approval.sys_id == "appr0006")
        .unwrap();
    update(&mut s, ch('g'));
    for _ in 0..mine {
        update(&mut s, ch('j'));
    }
    let step = |s: &mut AppState| assert!(update(s, ch('f')).is_empty());

    step(&mut s);
    assert_eq!(s.queue.filter, QueueFilter::Mine);
    assert_eq!(numbers(&s).len(), 3);
    assert!(
        s.queue
            .items()
            .iter()
            .all(|i| i.approval.approver.sys_id == "u1")
    );
    assert_eq!(s.selected_item().unwrap().approval.sys_id, "appr0006");
    let text = screen(&render(&s, 120, 30));
    assert!(line_with(&text, "Queue (3)").contains("· mine ·"), "{text}");
    assert!(!text.contains("CHG0030002") && !text.contains("CHG0030004"));

    step(&mut s);
    assert_eq!(s.queue.filter, QueueFilter::For(alice()));
    let mut got = numbers(&s);
    got.sort();
    assert_eq!(got, ["CHG0030002", "CHG0030005"]);
    // Sections, counts and Tab follow the filtered rows.
    assert_eq!(s.queue.sections.iter().map(|x| x.len).sum::<usize>(), 2);
    let text = screen(&render(&s, 120, 30));
    assert!(
        line_with(&text, "Queue (2)").contains("· for Alice Moreno"),
        "{text}"
    );
    assert!(
        !text.contains("CHG0030001") && !text.contains("CHG0030004"),
        "{text}"
    );
    update(&mut s, key(KeyCode::Tab));
    assert!(s.queue.selected < 2);

    step(&mut s);
    assert_eq!(s.queue.filter, QueueFilter::For(carla()));
    assert_eq!(numbers(&s), ["CHG0030004"]);
    assert!(screen(&render(&s, 120, 30)).contains("· for Carla Diaz"));

    step(&mut s);
    assert_eq!(s.queue.filter, QueueFilter::All);
    assert_eq!(s.queue.len(), 6);
    assert_eq!(s.selected_item().unwrap().approval.sys_id, "appr0004");
    assert!(!screen(&render(&s, 120, 30)).contains("· for "));

    // A filter on someone who leaves the queue falls back to all.
    step(&mut s);
    step(&mut s);
    step(&mut s);
    assert_eq!(s.queue.filter, QueueFilter::For(carla()));
    let without_carla: Vec<Approval> = queue()
        .into_iter()
        .filter(|a| a.approver.sys_id != "u3")
        .collect();
    update(
        &mut s,
        Msg::Cached {
            user: Some(me()),
            approvals: without_carla,
            synced_at: None,
            outbox_pending: 0,
            complete: true,
            totals: None,
        },
    );
    assert_eq!(s.queue.filter, QueueFilter::All);
    assert_eq!(s.queue.len(), 5);
}

#[test]
fn delegation_screen_lists_given_and_received_with_states() {
    let mut s = loaded(100, 24);
    update(&mut s, ch('D'));
    assert_eq!(s.mode, Mode::Delegations);
    let text = screen(&render(&s, 100, 24));
    assert!(text.contains("Given — who acts for you (2)"), "{text}");
    assert!(text.contains("Received — whom you act for (2)"), "{text}");
    let bob_rows: Vec<&str> = text.lines().filter(|l| l.contains("Bob Lee")).collect();
    assert_eq!(bob_rows.len(), 2, "{text}");
    // Given: the expired one first (by start), then the upcoming one.
    assert!(
        bob_rows[0].contains("Sun 01 Nov – Fri 06 Nov"),
        "{}",
        bob_rows[0]
    );
    assert!(bob_rows[0].contains("expired"));
    assert!(bob_rows[0].contains("approvals no"));
    assert!(
        bob_rows[0].contains('▶'),
        "the cursor starts on the first row"
    );
    assert!(
        bob_rows[1].contains("Thu 10 Dec – Sun 20 Dec"),
        "{}",
        bob_rows[1]
    );
    assert!(bob_rows[1].contains("upcoming"));
    assert!(bob_rows[1].contains("approvals yes"));
    let alice = line_with(&text, "Alice Moreno");
    assert!(
        alice.contains("Mon 23 Nov – Mon 30 Nov") && alice.contains("active"),
        "{alice}"
    );
    assert!(line_with(&text, "Carla Diaz").contains("active"));
    // The footer comes from the screen's registry.
    let footer = text.lines().last().unwrap();
    assert!(
        footer.contains("n new") && footer.contains("x end"),
        "{footer}"
    );
    insta::assert_snapshot!("delegation_screen", render(&s, 100, 24).backend());

    // ? shows the screen's keys, Esc returns to the screen, Esc again to the queue.
    update(&mut s, ch('?'));
    let text = screen(&render(&s, 100, 24));
    assert!(text.contains("give a new delegation"), "{text}");
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.mode, Mode::Delegations);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.mode, Mode::Queue);
}

#[test]
fn new_delegation_searches_picks_and_creates_with_the_default_window() {
    let mut s = loaded(100, 30);
    update(&mut s, ch('D'));
    assert!(update(&mut s, ch('n')).is_empty());
    let form = s.delegations.form.as_ref().expect("the form opens");
    assert_eq!(form.field, FormField::Delegate);
    assert_eq!(form.starts, "2026-11-26 08:00");
    assert_eq!(form.ends, "2026-12-03 18:00");
    assert!(verdict_err(&s).contains("Pick a delegate"));

    // One letter asks nothing; two ask.
    assert!(update(&mut s, ch('B')).is_empty());
    assert_eq!(
        update(&mut s, ch('o')),
        vec![Effect::SearchUsers { query: "Bo".into() }]
    );
    // An answer to an older query is dropped.
    update(
        &mut s,
        Msg::UsersFound {
            query: "B".into(),
            result: Ok(vec![person("u9", "ben", "Ben Ishikawa")]),
        },
    );
    assert!(s.delegations.form.as_ref().unwrap().matches.is_empty());
    update(
        &mut s,
        Msg::UsersFound {
            query: "Bo".into(),
            result: Ok(vec![
                person("u8", "bo.svensson", "Bo Svensson"),
                person("u4", "bob.lee", "Bob Lee"),
            ]),
        },
    );
    update(&mut s, key(KeyCode::Down));
    let text = screen(&render(&s, 100, 30));
    assert!(
        line_with(&text, "Bob Lee (bob.lee)").contains('▶'),
        "{text}"
    );
    assert!(text.contains("Bo Svensson (bo.svensson)"));
    insta::assert_snapshot!("new_delegation_form", render(&s, 100, 30).backend());

    // Ctrl-S before picking sends nothing.
    assert!(update(&mut s, ctrl('s')).is_empty());
    update(&mut s, key(KeyCode::Enter));
    let form = s.delegations.form.as_ref().unwrap();
    assert_eq!(form.delegate, Some(bob()));
    assert_eq!(form.query, "Bob Lee");
    assert_eq!(form.field, FormField::Starts);
    let text = screen(&render(&s, 100, 30));
    assert!(text.contains("Ready — Ctrl-S to save"), "{text}");

    let effects = update(&mut s, ctrl('s'));
    assert_eq!(
        effects,
        vec![Effect::CreateDelegation(DelegationDraft {
            delegate: bob(),
            starts: Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap(),
            ends: Utc.with_ymd_and_hms(2026, 12, 3, 18, 0, 0).unwrap(),
            approvals: true,
        })]
    );
    // Sent once: a second Ctrl-S while it is on its way does nothing.
    assert!(update(&mut s, ctrl('s')).is_empty());

    update(
        &mut s,
        Msg::DelegationDone(Ok("Bob Lee acts for you from Thu 26 Nov.".into())),
    );
    assert!(s.delegations.form.is_none(), "the form closes");
    let flash = s.messages.flash.as_ref().unwrap();
    assert!(!flash.error);
    assert_eq!(flash.text, "Bob Lee acts for you from Thu 26 Nov.");
    assert!(screen(&render(&s, 100, 30)).contains("✓ Bob Lee acts for you"));
}

#[test]
fn approvals_off_and_a_typed_window_are_sent_as_typed() {
    let mut s = loaded(100, 30);
    update(&mut s, ch('D'));
    update(&mut s, ch('n'));
    pick(
        &mut s,
        "car",
        vec![person("u3", "carla.diaz", "Carla Diaz")],
        0,
    );
    clear_field(&mut s);
    type_text(&mut s, "2026-11-27");
    update(&mut s, key(KeyCode::Tab));
    clear_field(&mut s);
    type_text(&mut s, "2026-11-29 12:30");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(
        s.delegations.form.as_ref().unwrap().field,
        FormField::Approvals
    );
    update(&mut s, ch(' '));
    assert!(screen(&render(&s, 100, 30)).contains("[ ] no"));
    assert_eq!(
        update(&mut s, ctrl('s')),
        vec![Effect::CreateDelegation(DelegationDraft {
            delegate: carla(),
            starts: Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap(),
            ends: Utc.with_ymd_and_hms(2026, 11, 29, 12, 30, 0).unwrap(),
            approvals: false,
        })]
    );
}

#[test]
fn invalid_delegations_say_why_and_send_nothing() {
    let mut s = loaded(100, 30);
    update(&mut s, ch('D'));
    update(&mut s, ch('n'));

    // Myself.
    pick(&mut s, "sam", vec![me()], 0);
    assert!(verdict_err(&s).contains("You cannot delegate to yourself"));
    assert!(update(&mut s, ctrl('s')).is_empty());
    assert!(
        screen(&render(&s, 100, 30)).contains("✖ You cannot delegate to yourself"),
        "the sentence is shown"
    );

    // Editing the name drops the pick.
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(
        s.delegations.form.as_ref().unwrap().field,
        FormField::Delegate
    );
    clear_field(&mut s);
    assert_eq!(s.delegations.form.as_ref().unwrap().delegate, None);
    pick(&mut s, "bob", vec![person("u4", "bob.lee", "Bob Lee")], 0);
    assert!(s.delegations.form.as_ref().unwrap().verdict.is_ok());

    // End before start.
    update(&mut s, key(KeyCode::Tab));
    clear_field(&mut s);
    type_text(&mut s, "2026-11-20");
    let why = verdict_err(&s);
    assert!(why.contains("must be after the start"), "{why}");
    assert!(update(&mut s, ctrl('s')).is_empty());

    // Not a date.
    clear_field(&mut s);
    type_text(&mut s, "2026-13-01");
    assert!(verdict_err(&s).contains("is not a date"));
    assert!(screen(&render(&s, 100, 30)).contains("is not a date"));

    // Overlapping the upcoming delegation to Bob (10–20 Dec).
    clear_field(&mut s);
    type_text(&mut s, "2026-12-12");
    let why = verdict_err(&s);
    assert!(why.contains("overlaps your delegation to Bob Lee"), "{why}");
    assert!(update(&mut s, ctrl('s')).is_empty());
    assert!(screen(&render(&s, 100, 30)).contains("overlaps your delegation to Bob Lee"));

    // Valid again; the backend refuses: the form stays with the input and says why.
    clear_field(&mut s);
    type_text(&mut s, "2026-12-05 18:00");
    assert_eq!(update(&mut s, ctrl('s')).len(), 1);
    update(
        &mut s,
        Msg::DelegationDone(Err("The server refused it: Bob Lee is inactive.".into())),
    );
    let form = s.delegations.form.as_ref().expect("the form stays");
    assert_eq!(form.ends, "2026-12-05 18:00");
    assert!(screen(&render(&s, 100, 30)).contains("Not saved: The server refused it"));
    // It can be sent again; Esc drops it.
    assert_eq!(update(&mut s, ctrl('s')).len(), 1);
    update(&mut s, key(KeyCode::Esc));
    assert!(s.delegations.form.is_none());
    assert_eq!(s.mode, Mode::Delegations);
}

#[test]
fn e_edits_the_window_of_a_given_delegation() {
    let mut s = loaded(100, 30);
    update(&mut s, ch('D'));
    // A received one cannot be edited.
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    assert!(update(&mut s, ch('e')).is_empty());
    assert!(s.delegations.form.is_none());
    assert!(
        s.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("only Carla Diaz can change it")
    );

    update(&mut s, ch('k'));
    assert!(update(&mut s, ch('e')).is_empty());
    let form = s.delegations.form.as_ref().expect("the form opens");
    assert_eq!(form.editing.as_deref(), Some("d-bob"));
    assert_eq!(form.field, FormField::Starts);
    assert_eq!(form.starts, "2026-12-10 08:00");
    assert_eq!(form.ends, "2026-12-20 18:00");
    let text = screen(&render(&s, 100, 30));
    assert!(text.contains("Change the delegation's window"), "{text}");
    assert!(!text.contains("Approvals"), "only the window: {text}");
    // Tab moves between the two dates only.
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.delegations.form.as_ref().unwrap().field, FormField::Ends);
    clear_field(&mut s);
    type_text(&mut s, "2026-12-22 18:00");
    assert_eq!(
        update(&mut s, ctrl('s')),
        vec![Effect::EditDelegation {
            sys_id: "d-bob".into(),
            starts: Utc.with_ymd_and_hms(2026, 12, 10, 8, 0, 0).unwrap(),
            ends: Utc.with_ymd_and_hms(2026, 12, 22, 18, 0, 0).unwrap(),
        }]
    );
}

#[test]
fn x_asks_then_ends_a_given_delegation() {
    let mut s = loaded(100, 30);
    update(&mut s, ch('D'));
    // The expired one: refused with the reason.
    assert!(update(&mut s, ch('x')).is_empty());
    assert!(s.confirm.is_none());
    let flash = s.messages.flash.as_ref().unwrap();
    assert!(
        flash.error && flash.text.contains("already over"),
        "{flash:?}"
    );

    update(&mut s, ch('j'));
    assert!(update(&mut s, ch('x')).is_empty());
    let q = &s.confirm.as_ref().expect("it asks").question;
    assert!(
        q.contains("delegation to Bob Lee") && q.ends_with('?'),
        "{q}"
    );
    assert!(screen(&render(&s, 100, 30)).contains("delegation to Bob Lee"));
    // n: nothing happens.
    assert!(update(&mut s, ch('n')).is_empty());
    assert!(s.confirm.is_none());
    update(&mut s, ch('x'));
    assert_eq!(
        update(&mut s, ch('y')),
        vec![Effect::EndDelegation {
            sys_id: "d-bob".into()
        }]
    );
    update(
        &mut s,
        Msg::DelegationDone(Ok("Your delegation to Bob Lee is cancelled.".into())),
    );
    assert_eq!(
        s.messages.flash.as_ref().unwrap().text,
        "Your delegation to Bob Lee is cancelled."
    );
    // A failure with no form open is flashed as an error.
    update(
        &mut s,
        Msg::DelegationDone(Err("The server is unreachable; try again.".into())),
    );
    assert!(s.messages.flash.as_ref().unwrap().error);
}

#[test]
fn an_active_given_delegation_is_ended_now() {
    let mut s = loaded(100, 30);
    let mut ds = delegations();
    ds.push(deleg(
        "d-erin",
        sam(),
        who("u5", "Erin Park"),
        at(24, 8, 0),
        at(26, 18, 0),
    ));
    update(
        &mut s,
        Msg::CacheLoaded {
            approvals: queue().into(),
            outbox: vec![],
            delegations: ds,
        },
    );
    update(&mut s, ch('D'));
    let text = screen(&render(&s, 100, 30));
    assert!(line_with(&text, "Erin Park").contains("active"), "{text}");
    // Given by start: old, Erin, Bob.
    update(&mut s, ch('j'));
    update(&mut s, ch('x'));
    assert_eq!(
        s.confirm.as_ref().unwrap().question,
        "End your delegation to Erin Park now?"
    );
    assert_eq!(
        update(&mut s, ch('y')),
        vec![Effect::EndDelegation {
            sys_id: "d-erin".into()
        }]
    );
}
