//! The decision UI: the justification dialog, confirmation, multi-select, delivery states and
//! the ON HOLD section. Messages in, state and screens asserted; no network, no wall clock.

mod common;

use chrono::Duration;
use common::ui::{approval, ch, ctrl, key, line_with, now, render_at, screen, synced};
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use signoff::domain::{
    Approval, Decision, DecisionKind, Delivery, JustificationError, RiskTier, User, UserRef,
};
use signoff::ui::{AppState, Effect, Msg, OutboxRow, Theme, update, views};

fn held(mut a: Approval) -> Approval {
    a.change.on_hold = true;
    a
}

/// Queue order (index: change):
/// 0 CHG0030001 Emergency · 1 CHG0030042 Critical · 2 CHG0030003 High ·
/// 3..=5 CHG0030004..6 Moderate · ON HOLD: 6 CHG0030008 (Critical, long breached),
/// 7 CHG0030007 (Moderate).
fn fixture() -> Vec<Approval> {
    vec![
        approval(1, "emergency", "3", "2", 10),
        approval(42, "normal", "2", "1", 30),
        approval(3, "normal", "2", "2", 60),
        approval(4, "normal", "3", "2", 100),
        approval(5, "normal", "3", "2", 90),
        approval(6, "normal", "3", "2", 80),
        held(approval(7, "normal", "3", "2", 60)),
        held(approval(8, "normal", "2", "1", 6000)),
    ]
}

fn user() -> User {
    common::ui::alice()
}

fn loaded(w: u16, h: u16) -> AppState {
    common::ui::state_with("http://127.0.0.1:9", fixture(), w, h)
}

fn type_text(s: &mut AppState, text: &str) {
    for c in text.chars() {
        let effects = update(s, ch(c));
        assert!(effects.is_empty(), "typing {c:?} emitted {effects:?}");
    }
}

/// Moves the cursor to row `i` from the top.
fn go(s: &mut AppState, i: usize) {
    update(s, ch('g'));
    for _ in 0..i {
        update(s, ch('j'));
    }
    assert_eq!(s.queue.selected, i);
}

fn number_at(s: &AppState, i: usize) -> String {
    s.queue.item(i).unwrap().approval.change.number.clone()
}

fn render(s: &AppState, w: u16, h: u16) -> Terminal<TestBackend> {
    render_at(s, w, h, now(), &Theme::named("dark", false).unwrap())
}

fn decided(effects: &[Effect]) -> (DecisionKind, String, Vec<String>) {
    let decides: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Decide {
                kind,
                justification,
                approvals,
                ..
            } => Some((
                *kind,
                justification.as_str().to_string(),
                approvals.iter().map(|a| a.sys_id.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(decides.len(), 1, "one Decide effect in {effects:?}");
    decides.into_iter().next().unwrap()
}

#[test]
fn held_changes_get_their_own_last_section() {
    let mut s = loaded(120, 30);
    let sections: Vec<_> = s.queue.sections.iter().map(|x| (x.tier, x.len)).collect();
    assert_eq!(
        sections,
        vec![
            (Some(RiskTier::Emergency), 1),
            (Some(RiskTier::Critical), 1),
            (Some(RiskTier::High), 1),
            (Some(RiskTier::Moderate), 3),
            (None, 2),
        ]
    );
    assert_eq!(number_at(&s, 6), "CHG0030008", "tier order inside ON HOLD");
    assert_eq!(
        s.queue.count(RiskTier::Critical),
        1,
        "the held Critical is not counted"
    );
    assert_eq!(s.queue.held_count(), 2);
    // The held Critical is 100 h past its deadline, yet nothing is breached: timers stop.
    assert_eq!(s.queue.status_counts(now()), (0, 0));
    // Tab reaches the ON HOLD section and wraps.
    for want in [1, 2, 3, 6, 0] {
        update(&mut s, key(KeyCode::Tab));
        assert_eq!(s.queue.selected, want);
    }
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.queue.selected, 6);

    let text = screen(&render(&s, 120, 30));
    assert!(text.contains("── ON HOLD · 2"), "{text}");
    let row = line_with(&text, "CHG0030008");
    assert!(row.contains("on hold"), "{row}");
    assert!(!row.contains("BREACHED"), "{row}");
    assert!(!text.contains("breached"), "{text}");
}

#[test]
fn approve_validates_as_you_type_and_sends() {
    let mut s = loaded(100, 30);
    go(&mut s, 2);
    assert_eq!(number_at(&s, 2), "CHG0030003");
    assert!(update(&mut s, ch('a')).is_empty());
    let modal = s.decide.as_ref().expect("the dialog opens");
    assert_eq!(modal.kind, DecisionKind::Approve);
    assert_eq!(modal.targets.len(), 1);
    assert_eq!(
        modal.verdict,
        Err(JustificationError::Empty(DecisionKind::Approve))
    );

    type_text(&mut s, "ok");
    let modal = s.decide.as_ref().unwrap();
    assert_eq!(
        modal.verdict,
        Err(JustificationError::TooShort { min: 10, got: 2 })
    );
    let text = screen(&render(&s, 100, 30));
    assert!(
        text.contains("Too short: 2 of at least 10 characters."),
        "{text}"
    );
    assert!(text.contains("At least 10 characters"), "the rule: {text}");
    assert!(text.contains("Ctrl-S send · Esc cancel"), "{text}");
    insta::assert_snapshot!("modal_invalid", render(&s, 100, 30).backend());

    // Ctrl-S with an invalid text sends nothing and keeps the dialog.
    assert!(update(&mut s, ctrl('s')).is_empty());
    assert!(s.decide.is_some());

    type_text(&mut s, ", tested");
    update(&mut s, key(KeyCode::Enter));
    type_text(&mut s, "in staging.");
    assert!(s.decide.as_ref().unwrap().verdict.is_ok());
    let text = screen(&render(&s, 100, 30));
    assert!(text.contains("Ready — Ctrl-S to send"), "{text}");
    insta::assert_snapshot!("modal_valid", render(&s, 100, 30).backend());

    let effects = update(&mut s, ctrl('s'));
    let (kind, text, ids) = decided(&effects);
    assert_eq!(kind, DecisionKind::Approve);
    assert_eq!(text, "ok, tested\nin staging.");
    assert_eq!(ids, vec!["appr0003"]);
    assert!(s.decide.is_none(), "the dialog closes");
    let t = &s.deliveries["appr0003"];
    assert_eq!(t.delivery, Delivery::Queued);
    assert_eq!(t.client_id, None);
    assert_eq!(t.kind, Some(DecisionKind::Approve));
    let screen_text = screen(&render(&s, 100, 30));
    assert!(
        line_with(&screen_text, "CHG0030003").contains("queued"),
        "{screen_text}"
    );
    // Deciding again while it only waits replaces it (the outbox supersedes the first)…
    update(&mut s, ch('x'));
    assert!(s.decide.is_some(), "a queued decision can be replaced");
    update(&mut s, key(KeyCode::Esc));
    // …but not while it is being sent.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c1".into(),
            approval_sys_id: "appr0003".into(),
            delivery: Delivery::Sending,
        },
    );
    assert!(update(&mut s, ch('x')).is_empty());
    assert!(s.decide.is_none());
    assert!(
        s.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("being sent right now"),
        "{:?}",
        s.messages.flash
    );
}

#[test]
fn esc_cancels_without_an_effect() {
    let mut s = loaded(100, 30);
    go(&mut s, 3);
    update(&mut s, ch('a'));
    type_text(&mut s, "Looks fine to me");
    assert!(update(&mut s, key(KeyCode::Esc)).is_empty());
    assert!(s.decide.is_none());
    assert!(s.deliveries.is_empty());
    assert_eq!(s.queue.selected, 3, "Esc did not move anything else");
    // Keys reach the queue again.
    update(&mut s, ch('j'));
    assert_eq!(s.queue.selected, 4);
}

#[test]
fn typed_letters_do_not_trigger_queue_commands() {
    let mut s = loaded(100, 30);
    go(&mut s, 3);
    update(&mut s, ch('a'));
    type_text(&mut s, "quit? jump gx");
    assert_eq!(s.queue.selected, 3);
    assert_eq!(s.decide.as_ref().unwrap().text(), "quit? jump gx");
    // Ctrl-C still quits.
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn rejecting_a_critical_change_asks_first() {
    let mut s = loaded(100, 30);
    go(&mut s, 1);
    assert_eq!(number_at(&s, 1), "CHG0030042");
    update(&mut s, ch('x'));
    type_text(&mut s, "Backout plan is missing for the DB step.");
    assert!(
        update(&mut s, ctrl('s')).is_empty(),
        "not before confirming"
    );
    let modal = s.decide.as_ref().unwrap();
    assert!(modal.confirming);
    assert_eq!(
        modal.question(),
        "Reject CHG0030042 (Critical)? This stops the change."
    );
    let text = screen(&render(&s, 100, 30));
    assert!(
        text.contains("Reject CHG0030042 (Critical)? This stops the change."),
        "{text}"
    );
    assert!(text.contains("y confirm · n back"), "{text}");
    insta::assert_snapshot!("confirm_reject_critical", render(&s, 100, 30).backend());

    // Other keys do nothing while asking; n goes back to the text.
    assert!(update(&mut s, ch('a')).is_empty());
    assert!(update(&mut s, ch('n')).is_empty());
    let modal = s.decide.as_ref().unwrap();
    assert!(!modal.confirming);
    assert_eq!(modal.text(), "Backout plan is missing for the DB step.");

    update(&mut s, ctrl('s'));
    let effects = update(&mut s, ch('y'));
    let (kind, _, ids) = decided(&effects);
    assert_eq!(kind, DecisionKind::Reject);
    assert_eq!(ids, vec!["appr0042"]);
}

#[test]
fn holding_an_emergency_asks_first_but_approving_does_not() {
    let mut s = loaded(100, 30);
    go(&mut s, 0);
    update(&mut s, ch('p'));
    assert_eq!(s.decide.as_ref().unwrap().kind, DecisionKind::Hold);
    type_text(&mut s, "Vendor fix due Friday; hold it.");
    update(&mut s, ctrl('s'));
    assert_eq!(
        s.decide.as_ref().unwrap().question(),
        "Put on hold CHG0030001 (Emergency)? This pauses the change and its timers."
    );
    update(&mut s, key(KeyCode::Esc));
    assert!(s.decide.as_ref().is_some_and(|m| !m.confirming));
    update(&mut s, key(KeyCode::Esc));
    assert!(s.decide.is_none());

    update(&mut s, ch('a'));
    type_text(&mut s, "Emergency fix verified.");
    let (kind, _, _) = decided(&update(&mut s, ctrl('s')));
    assert_eq!(kind, DecisionKind::Approve);
}

#[test]
fn multi_select_decides_once_for_all() {
    let mut s = loaded(100, 30);
    go(&mut s, 2);
    for _ in 0..3 {
        update(&mut s, key(KeyCode::Char(' ')));
    }
    assert_eq!(s.queue.selected, 5, "space moves down");
    assert_eq!(s.queue.selection.len(), 3);
    // Space again on a chosen row takes it out; then back in.
    update(&mut s, ch('k'));
    update(&mut s, key(KeyCode::Char(' ')));
    assert_eq!(s.queue.selection.len(), 2);
    update(&mut s, ch('k'));
    update(&mut s, key(KeyCode::Char(' ')));
    assert_eq!(s.queue.selection.len(), 3);

    let text = screen(&render(&s, 100, 30));
    assert!(text.contains("3 selected"), "{text}");
    for n in ["CHG0030003", "CHG0030004", "CHG0030005"] {
        let row = line_with(&text, n);
        assert!(
            row.contains(&format!("● {n}")),
            "marked without colour: {row}"
        );
    }
    assert!(!line_with(&text, "CHG0030006").contains('●'));

    update(&mut s, ch('a'));
    let modal = s.decide.as_ref().unwrap();
    assert_eq!(modal.targets.len(), 3);
    let text = screen(&render(&s, 100, 30));
    assert!(text.contains("Approve 3 changes"), "{text}");
    assert!(
        text.contains("CHG0030003, CHG0030004, CHG0030005"),
        "{text}"
    );
    type_text(&mut s, "Reviewed together at CAB.");
    let effects = update(&mut s, ctrl('s'));
    let (kind, text, ids) = decided(&effects);
    assert_eq!(kind, DecisionKind::Approve);
    assert_eq!(text, "Reviewed together at CAB.");
    assert_eq!(ids, vec!["appr0003", "appr0004", "appr0005"], "queue order");
    assert!(s.queue.selection.is_empty(), "the selection clears");
    for id in ids {
        assert_eq!(s.deliveries[&id].delivery, Delivery::Queued);
    }
}

#[test]
fn esc_in_the_queue_clears_the_selection() {
    let mut s = loaded(100, 30);
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, key(KeyCode::Char(' ')));
    assert_eq!(s.queue.selection.len(), 2);
    update(&mut s, key(KeyCode::Esc));
    assert!(s.queue.selection.is_empty());
    // With no selection, a decides on the current row only.
    update(&mut s, ch('a'));
    assert_eq!(s.decide.as_ref().unwrap().targets.len(), 1);
}

#[test]
fn decisions_that_do_not_apply_are_not_offered() {
    let mut s = loaded(100, 30);
    go(&mut s, 6);
    assert!(s.queue.item(6).unwrap().approval.change.on_hold);
    assert!(update(&mut s, ch('a')).is_empty());
    assert!(s.decide.is_none(), "no dialog for a held change");
    let flash = s.messages.flash.clone().expect("a flash says why");
    assert_eq!(
        flash.text,
        "CHG0030008 is on hold; release the hold (u) before deciding."
    );
    assert!(flash.error);
    let text = screen(&render(&s, 100, 30));
    assert!(
        text.contains("CHG0030008 is on hold; release the hold (u)"),
        "in the status bar: {text}"
    );
    // The flash goes 6 s after the tick that was current when it was shown.
    update(&mut s, Msg::Tick(now() + Duration::seconds(5)));
    assert!(s.messages.flash.is_some());
    s.dirty = false;
    update(&mut s, Msg::Tick(now() + Duration::seconds(6)));
    assert!(s.messages.flash.is_none());
    assert!(s.dirty, "its going away is redrawn");

    // u on a change that is not held.
    go(&mut s, 3);
    update(&mut s, ch('u'));
    assert!(s.decide.is_none());
    assert_eq!(s.messages.flash.unwrap().text, "CHG0030004 is not on hold.");
}

#[test]
fn resume_on_a_held_change() {
    let mut s = loaded(100, 30);
    go(&mut s, 7);
    update(&mut s, ch('u'));
    let modal = s.decide.as_ref().expect("u opens the dialog");
    assert_eq!(modal.kind, DecisionKind::Resume);
    type_text(&mut s, "Vendor fix is in.");
    let (kind, _, ids) = decided(&update(&mut s, ctrl('s')));
    assert_eq!(kind, DecisionKind::Resume);
    assert_eq!(ids, vec!["appr0007"]);
}

#[test]
fn a_selection_leaves_out_what_does_not_apply() {
    let mut s = loaded(100, 30);
    go(&mut s, 5);
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, key(KeyCode::Char(' '))); // CHG0030008, held
    update(&mut s, ch('a'));
    let modal = s.decide.as_ref().unwrap();
    assert_eq!(modal.targets.len(), 1);
    assert_eq!(modal.left_out, 1);
    let text = screen(&render(&s, 100, 30));
    assert!(
        text.contains("1 selected change left out: approve does not apply to it."),
        "{text}"
    );
    update(&mut s, key(KeyCode::Esc));

    // When none apply, nothing opens and the flash says so.
    update(&mut s, key(KeyCode::Esc));
    go(&mut s, 6);
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, key(KeyCode::Char(' ')));
    assert_eq!(s.queue.selection.len(), 2);
    update(&mut s, ch('x'));
    assert!(s.decide.is_none());
    assert!(
        s.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .starts_with("None of the 2 selected changes"),
        "{:?}",
        s.messages.flash
    );
}

#[test]
fn delivery_reports_update_the_rows() {
    let mut s = loaded(120, 30);
    go(&mut s, 2);
    update(&mut s, ch('a'));
    type_text(&mut s, "Fine, tested in staging.");
    update(&mut s, ctrl('s'));
    let deliver = |s: &mut AppState, id: &str, client: &str, d: Delivery| {
        update(
            s,
            Msg::Delivery {
                client_id: client.into(),
                approval_sys_id: id.into(),
                delivery: d,
            },
        );
    };
    deliver(&mut s, "appr0003", "c-3", Delivery::Sending);
    assert_eq!(s.deliveries["appr0003"].client_id.as_deref(), Some("c-3"));
    let text = screen(&render(&s, 120, 30));
    assert!(
        line_with(&text, "CHG0030003").contains("sending…"),
        "{text}"
    );
    deliver(&mut s, "appr0003", "c-3", Delivery::Applied { at: now() });
    let text = screen(&render(&s, 120, 30));
    assert!(
        line_with(&text, "CHG0030003").contains("✓ approved"),
        "{text}"
    );

    // A decision made elsewhere (from the outbox) turns into a conflict.
    deliver(
        &mut s,
        "appr0004",
        "c-4",
        Delivery::Conflict {
            reason: "Bob Chen rejected it first.".into(),
        },
    );
    let text = screen(&render(&s, 120, 30));
    let row = line_with(&text, "CHG0030004");
    assert!(row.contains("! conflict"), "{row}");
    assert!(row.contains("Bob Chen rejected it first."), "{row}");
    assert!(text.contains("! 1 to decide again"), "{text}");
}

#[test]
fn conflicts_can_be_discarded_or_redecided() {
    let mut s = loaded(180, 40);
    go(&mut s, 3);
    let id = s.queue.item(3).unwrap().approval.sys_id.clone();
    update(&mut s, ch('x'));
    type_text(&mut s, "The backout plan was never tested.");
    let (kind, _, _) = decided(&update(&mut s, ctrl('s')));
    assert_eq!(kind, DecisionKind::Reject);
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-9".into(),
            approval_sys_id: id.clone(),
            delivery: Delivery::Conflict {
                reason: "The change moved to Scheduled since you looked.".into(),
            },
        },
    );
    // The detail pane shows the reason and the way out.
    let text = screen(&render(&s, 180, 40));
    assert!(
        text.contains("! CONFLICT — your reject was not applied"),
        "{text}"
    );
    assert!(text.contains("e decide again"), "{text}");

    // e: a fresh copy is read from the server first, then the dialog again, same kind, same
    // text, on the fresh copy.
    let fresh = fresh_copy(&s, &id);
    reread(&mut s, &id, fresh);
    let modal = s.decide.as_ref().expect("e re-opens the dialog");
    assert_eq!(modal.kind, DecisionKind::Reject);
    assert_eq!(modal.text(), "The backout plan was never tested.");
    assert!(modal.verdict.is_ok());
    let effects = update(&mut s, ctrl('s'));
    // The store supersedes the one in conflict when it takes the new decision (so the
    // journal says it was replaced, not discarded): nothing else to do.
    assert_eq!(effects.len(), 1, "{effects:?}");
    decided(&effects);
    assert_eq!(s.deliveries[&id].delivery, Delivery::Queued);

    // d: discard a conflict.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-10".into(),
            approval_sys_id: id.clone(),
            delivery: Delivery::Failed {
                error: "The instance refused: approval is read-only.".into(),
            },
        },
    );
    assert_eq!(
        update(&mut s, ch('d')),
        vec![Effect::Discard {
            client_id: "c-10".into()
        }]
    );
    assert!(!s.deliveries.contains_key(&id), "the row's state is gone");
    // d with nothing to discard does nothing but say so.
    assert!(update(&mut s, ch('d')).is_empty());
    assert!(s.messages.flash.as_ref().unwrap().error);
    assert!(update(&mut s, ch('e')).is_empty());
    assert!(s.decide.is_none());
}

/// The approval on screen as the server has it now: updated an hour later, retitled.
fn fresh_copy(s: &AppState, id: &str) -> Approval {
    let mut a = s.queue.find(id).unwrap().approval.clone();
    a.change.short_description = format!("{} (retitled)", a.change.short_description);
    a.change.sys_updated_on = Some(now() + Duration::hours(1));
    a
}

/// `e`: asks the server for a fresh copy, which answers `fresh`.
fn reread(s: &mut AppState, id: &str, fresh: Approval) {
    assert_eq!(
        update(s, ch('e')),
        vec![Effect::Fetch {
            approval_sys_id: id.into()
        }]
    );
    assert!(s.decide.is_none(), "not before the fresh copy is in");
    update(
        s,
        Msg::Fetched {
            approval_sys_id: id.into(),
            result: Ok(Some(Box::new(fresh))),
        },
    );
}

fn entry(a: &Approval, client_id: &str, kind: DecisionKind, delivery: Delivery) -> OutboxRow {
    let text = "Outage window clashes with payroll.";
    OutboxRow {
        decision: Decision {
            client_id: client_id.into(),
            ..common::ui::decision(a, kind, now() - Duration::minutes(20), text)
        },
        delivery,
    }
}

#[test]
fn the_outbox_from_the_cache_fills_the_delivery_states() {
    let mut s = loaded(120, 30);
    let all = fixture();
    let outbox = vec![
        entry(
            &all[3],
            "c-a",
            DecisionKind::Reject,
            Delivery::Conflict {
                reason: "Cancelled by the requester.".into(),
            },
        ),
        entry(&all[4], "c-b", DecisionKind::Hold, Delivery::Queued),
    ];
    update(
        &mut s,
        Msg::CacheLoaded {
            approvals: all.into(),
            outbox,
            delegations: vec![],
        },
    );
    let t = &s.deliveries["appr0004"];
    assert_eq!(t.client_id.as_deref(), Some("c-a"));
    assert_eq!(t.kind, Some(DecisionKind::Reject));
    assert_eq!(s.deliveries["appr0005"].delivery, Delivery::Queued);
    // e prefills the outbox's justification.
    let i = s
        .queue
        .items()
        .iter()
        .position(|i| i.approval.sys_id == "appr0004")
        .unwrap();
    go(&mut s, i);
    let fresh = fresh_copy(&s, "appr0004");
    reread(&mut s, "appr0004", fresh);
    assert_eq!(
        s.decide.as_ref().unwrap().text(),
        "Outage window clashes with payroll."
    );
}

#[test]
fn paste_goes_into_the_dialog() {
    let mut s = loaded(100, 30);
    go(&mut s, 3);
    update(&mut s, Msg::Paste("Pasted from the CAB minutes.".into()));
    assert!(s.decide.is_none(), "ignored without a dialog");
    update(&mut s, ch('a'));
    update(&mut s, Msg::Paste("Pasted from the CAB minutes.".into()));
    let modal = s.decide.as_ref().unwrap();
    assert_eq!(modal.text(), "Pasted from the CAB minutes.");
    assert!(modal.verdict.is_ok());
}

#[test]
fn the_dialog_fits_the_smallest_terminal() {
    let mut s = loaded(60, 12);
    go(&mut s, 1);
    update(&mut s, ch('x'));
    type_text(&mut s, "too short");
    let text = screen(&render(&s, 60, 12));
    assert!(text.contains("Reject CHG0030042"), "{text}");
    assert!(text.contains("too short"), "the editor shows: {text}");
    assert!(text.contains("Too short: 9 of at least 20"), "{text}");
    assert!(text.contains("Ctrl-S send"), "{text}");
    // Long text scrolls inside the editor; the verdict stays in view.
    for _ in 0..6 {
        update(&mut s, key(KeyCode::Enter));
        type_text(&mut s, "more words");
    }
    let text = screen(&render(&s, 60, 12));
    assert!(text.contains("more words"), "{text}");
    assert!(text.contains("Ready"), "{text}");

    update(&mut s, ctrl('s'));
    let text = screen(&render(&s, 60, 12));
    assert!(text.contains("y confirm"), "{text}");
}

#[test]
fn snapshot_queue_with_delivery_states_and_on_hold() {
    let mut s = loaded(120, 22);
    let report = |s: &mut AppState, id: &str, client: &str, d: Delivery| {
        update(
            s,
            Msg::Delivery {
                client_id: client.into(),
                approval_sys_id: id.into(),
                delivery: d,
            },
        );
    };
    // A UI decision still queued, with its kind known.
    go(&mut s, 2);
    update(&mut s, ch('a'));
    type_text(&mut s, "Tested in staging.");
    update(&mut s, ctrl('s'));
    report(&mut s, "appr0004", "c-4", Delivery::Sending);
    report(
        &mut s,
        "appr0005",
        "c-5",
        Delivery::Failed {
            error: "Approval is read-only.".into(),
        },
    );
    report(
        &mut s,
        "appr0006",
        "c-6",
        Delivery::Conflict {
            reason: "Bob Chen rejected it first.".into(),
        },
    );
    report(&mut s, "appr0007", "c-7", Delivery::Applied { at: now() });
    go(&mut s, 4);
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, Msg::Tick(now() + Duration::seconds(7)));
    let text = screen(&render(&s, 120, 22));
    for want in [
        "queued",
        "sending…",
        "✗ failed",
        "! conflict",
        "✓ applied",
        "on hold",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    insta::assert_snapshot!("queue_delivery_states", render(&s, 120, 22).backend());
}

#[test]
fn a_decision_the_store_could_not_record_shows_as_failed() {
    let mut s = loaded(120, 30);
    go(&mut s, 2);
    update(&mut s, ch('a'));
    type_text(&mut s, "Fine, tested in staging.");
    update(&mut s, ctrl('s'));
    // Another decision already has its outbox id: the failure is not about it.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-4".into(),
            approval_sys_id: "appr0004".into(),
            delivery: Delivery::Queued,
        },
    );
    update(
        &mut s,
        Msg::StoreFailed {
            error: "disk full".into(),
        },
    );
    assert_eq!(
        s.deliveries["appr0003"].delivery,
        Delivery::Failed {
            error: "Not recorded: disk full".into()
        }
    );
    assert_eq!(s.deliveries["appr0004"].delivery, Delivery::Queued);
    // e offers the same decision again with the text kept (it never reached the server: no
    // fresh copy is needed); nothing to discard first.
    update(&mut s, ch('e'));
    assert_eq!(
        s.decide.as_ref().unwrap().text(),
        "Fine, tested in staging."
    );
    let effects = update(&mut s, ctrl('s'));
    assert_eq!(effects.len(), 1, "{effects:?}");
    decided(&effects);
}

#[test]
fn the_dialog_has_no_colour_under_no_color() {
    let mut s = loaded(100, 30);
    go(&mut s, 1);
    update(&mut s, ch('x'));
    let plain = Theme::named("dark", true).unwrap();
    for step in 0..2 {
        let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
        t.draw(|f| views::draw(f, &s, now(), &plain)).unwrap();
        let buf = t.backend().buffer();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                let st = buf[(x, y)].style();
                for c in [st.fg, st.bg] {
                    assert!(
                        c.is_none() || c == Some(ratatui::style::Color::Reset),
                        "colour at {x},{y} (step {step})"
                    );
                }
            }
        }
        // Then with a valid text and the confirmation up.
        type_text(&mut s, "Backout plan is missing for the DB step.");
        update(&mut s, ctrl('s'));
    }
}

#[test]
fn a_conflict_keeps_its_row_after_the_approval_left_the_queue() {
    let mut s = loaded(120, 30);
    let id = s.queue.item(2).unwrap().approval.sys_id.clone();
    let number = s.queue.item(2).unwrap().approval.change.number.clone();
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-9".into(),
            approval_sys_id: id.clone(),
            delivery: Delivery::Conflict {
                reason: format!("{number} is now rejected on the server"),
            },
        },
    );
    // The next sync no longer has the approval (someone else rejected it).
    let rest: Vec<Approval> = fixture().into_iter().filter(|a| a.sys_id != id).collect();
    update(&mut s, synced(user(), rest, vec![], now()));
    assert!(
        s.queue.items().iter().any(|i| i.approval.sys_id == id),
        "the row stays"
    );
    let text = screen(&render(&s, 120, 30));
    assert!(line_with(&text, &number).contains("conflict"), "{text}");
    // Once discarded, the next sync lets it go.
    let at = s
        .queue
        .items()
        .iter()
        .position(|i| i.approval.sys_id == id)
        .unwrap();
    go(&mut s, at);
    update(&mut s, ch('d'));
    let rest: Vec<Approval> = fixture().into_iter().filter(|a| a.sys_id != id).collect();
    update(&mut s, synced(user(), rest, vec![], now()));
    assert!(!s.queue.items().iter().any(|i| i.approval.sys_id == id));
}

/// A finished sync that changed nothing, with the outbox's open decisions as read after it.
fn synced_with_open(open: Vec<OutboxRow>) -> Msg {
    Msg::Synced(Box::new(signoff::ui::Synced {
        user: user(),
        at: now(),
        approvals: None,
        outbox_pending: open.iter().filter(|e| e.delivery.is_pending()).count(),
        open,
        delegations: vec![],
        summary: "0 added, 0 updated, 0 removed (incremental)".into(),
        notices: vec![],
    }))
}

#[test]
fn a_report_on_an_older_decision_leaves_the_row_to_the_newer_one() {
    let mut s = loaded(120, 30);
    let id = s.queue.item(3).unwrap().approval.sys_id.clone();
    let number = s.queue.item(3).unwrap().approval.change.number.clone();
    update(
        &mut s,
        Msg::Stored {
            decisions: vec![("c-new".into(), id.clone())],
            replaced: vec![("c-old".into(), id.clone())],
            outbox_pending: 1,
        },
    );
    // The older one turns out to have reached the server first (found by the newer one's
    // check): that is news, but the row stays the newer decision's.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-old".into(),
            approval_sys_id: id.clone(),
            delivery: Delivery::Applied { at: now() },
        },
    );
    let t = &s.deliveries[&id];
    assert_eq!(t.client_id.as_deref(), Some("c-new"));
    assert_eq!(t.delivery, Delivery::Queued);
    let flash = &s.messages.flash.as_ref().unwrap().text;
    assert!(
        flash.contains("earlier decision") && flash.contains(&number),
        "{flash}"
    );
    // Any other report on the older one changes nothing.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-old".into(),
            approval_sys_id: id.clone(),
            delivery: Delivery::Conflict {
                reason: "moved".into(),
            },
        },
    );
    assert_eq!(s.deliveries[&id].delivery, Delivery::Queued);
}

#[test]
fn each_sync_brings_in_what_another_signoff_did_to_the_outbox() {
    let mut s = loaded(120, 30);
    let all = fixture();
    let mine = all[3].sys_id.clone();
    update(
        &mut s,
        Msg::Stored {
            decisions: vec![("c-1".into(), mine.clone())],
            replaced: vec![],
            outbox_pending: 1,
        },
    );
    // `signoff approve` in another terminal decided CHG0030005 meanwhile.
    let elsewhere = entry(&all[4], "c-cli", DecisionKind::Approve, Delivery::Queued);
    update(&mut s, synced_with_open(vec![elsewhere.clone()]));
    assert_eq!(
        s.deliveries[&all[4].sys_id].client_id.as_deref(),
        Some("c-cli")
    );
    // The read did not hold c-1; it may have been read before c-1 was stored, so c-1 stays…
    assert_eq!(s.deliveries[&mine].delivery, Delivery::Queued);
    // …until a second read does not hold it either (another signoff withdrew it).
    let mut sent = elsewhere.clone();
    sent.delivery = Delivery::Sending;
    update(&mut s, synced_with_open(vec![sent]));
    assert!(!s.deliveries.contains_key(&mine), "withdrawn elsewhere");
    assert_eq!(s.deliveries[&all[4].sys_id].delivery, Delivery::Sending);
    assert_eq!(s.outbox_pending, 1);
    // A decision the outbox holds again is not dropped.
    update(&mut s, synced_with_open(vec![elsewhere.clone()]));
    update(&mut s, synced_with_open(vec![elsewhere]));
    assert_eq!(s.deliveries[&all[4].sys_id].delivery, Delivery::Queued);
}

/// A reject in conflict on the row at `i` (from the outbox), and `e` pressed on it: the
/// fresh copy is asked for.
fn conflict_and_reread(s: &mut AppState, i: usize) -> String {
    let approvals: Vec<Approval> = s
        .queue
        .ids()
        .map(|id| s.queue.find(id).unwrap().approval.clone())
        .collect();
    let a = s.queue.item(i).unwrap().approval.clone();
    let conflict = Delivery::Conflict {
        reason: "The change moved to Scheduled since you looked.".into(),
    };
    update(
        s,
        Msg::CacheLoaded {
            approvals: approvals.into(),
            outbox: vec![entry(&a, "c-9", DecisionKind::Reject, conflict)],
            delegations: vec![],
        },
    );
    go(s, i);
    assert_eq!(
        update(s, ch('e')),
        vec![Effect::Fetch {
            approval_sys_id: a.sys_id.clone()
        }]
    );
    a.sys_id
}

#[test]
fn a_fresh_copy_arriving_under_a_popup_does_not_open_the_dialog_over_it() {
    let mut s = loaded(120, 30);
    let id = conflict_and_reread(&mut s, 3);
    update(&mut s, ch('?'));
    assert!(s.help.is_some());
    let fresh = fresh_copy(&s, &id);
    update(
        &mut s,
        Msg::Fetched {
            approval_sys_id: id.clone(),
            result: Ok(Some(Box::new(fresh))),
        },
    );
    assert!(
        s.decide.is_none(),
        "the help stays on top, with no dialog under it"
    );
    assert!(s.help.is_some());
    let flash = &s.messages.flash.as_ref().unwrap().text;
    assert!(flash.contains("press e"), "{flash}");
}

#[test]
fn a_fresh_copy_hidden_by_the_filter_is_still_the_one_decided() {
    let mut approvals = fixture();
    // CHG0030009: Carla's, who delegated to Alice.
    let mut theirs = approval(9, "normal", "3", "2", 50);
    theirs.approver = UserRef {
        sys_id: "u3".into(),
        name: "Carla Diaz".into(),
        ..Default::default()
    };
    approvals.push(theirs);
    let mut s = common::ui::state_with("http://127.0.0.1:9", approvals, 120, 30);
    let i = s
        .queue
        .items()
        .iter()
        .position(|i| i.approval.change.number == "CHG0030009")
        .unwrap();
    let id = conflict_and_reread(&mut s, i);
    // Meanwhile only Alice's own approvals are shown: Carla's row is hidden.
    update(&mut s, ch(':'));
    type_text(&mut s, "filter mine");
    update(&mut s, key(KeyCode::Enter));
    assert!(!s.queue.items().iter().any(|i| i.approval.sys_id == id));
    let fresh = fresh_copy(&s, &id);
    update(
        &mut s,
        Msg::Fetched {
            approval_sys_id: id.clone(),
            result: Ok(Some(Box::new(fresh))),
        },
    );
    let modal = s
        .decide
        .as_ref()
        .expect("the dialog opens on the fresh copy");
    let targets: Vec<&str> = modal
        .targets
        .iter()
        .map(|(a, _)| a.change.number.as_str())
        .collect();
    assert_eq!(targets, ["CHG0030009"], "not the row under the cursor");
}

#[test]
fn a_read_only_profile_decides_nothing_from_the_console() {
    let mut s = loaded(120, 40);
    s.read_only = true;
    let effects = update(&mut s, ch('a'));
    assert!(effects.is_empty(), "{effects:?}");
    assert!(s.decide.is_none(), "no dialog opens");
    let flash = s.messages.flash.as_ref().expect("it says why");
    assert!(flash.text.contains("read-only"), "{}", flash.text);
}

#[test]
fn approving_after_the_breach_asks_for_a_risk_acceptance_in_the_same_dialog() {
    // A Low change requested 80 hours ago: its 72-hour SLA breached.
    let late = approval(1, "normal", "4", "3", 80 * 60);
    let mut s = common::ui::state_with("http://127.0.0.1:9", vec![late.clone()], 100, 30);
    s.policy.deviations.after_breach = true;
    s.policy.deviations.senior_role = "Change Manager".into();
    s.policy.deviations.senior_for = vec![signoff::domain::governance::DeviationKind::AfterBreach];
    update(&mut s, ch('a'));
    type_text(&mut s, "Backout rehearsed, window is quiet.");
    let text = screen(&render(&s, 100, 30));
    assert!(
        text.contains("Outside the standard path: its SLA breached on "),
        "{text}"
    );
    assert!(text.contains("Change Manager must also approve"), "{text}");
    assert!(text.contains("Write the risk acceptance"), "{text}");
    // Not ready: Ctrl-S sends nothing.
    assert!(update(&mut s, ctrl('s')).is_empty());
    assert!(s.decide.is_some());
    // Tab to the acceptance; typed text goes there, not into the justification.
    update(&mut s, key(KeyCode::Tab));
    type_text(&mut s, "Late, but the change is still needed tonight.");
    let m = s.decide.as_ref().unwrap();
    assert_eq!(m.text(), "Backout rehearsed, window is quiet.");
    assert!(m.ready());
    let effects = update(&mut s, ctrl('s'));
    let accepted = effects
        .iter()
        .find_map(|e| match e {
            Effect::Decide { accepted, .. } => Some(accepted.clone()),
            _ => None,
        })
        .expect("a Decide effect");
    assert_eq!(accepted.len(), 1);
    let (id, a) = &accepted[0];
    assert_eq!(id, &late.sys_id);
    assert_eq!(a.statement, "Late, but the change is still needed tonight.");
    assert_eq!(a.kinds(), "after_breach");
    assert_eq!(a.senior_role.as_deref(), Some("Change Manager"));

    // Rejecting the same change is on the standard path: no second field.
    let mut s = common::ui::state_with("http://127.0.0.1:9", vec![late], 100, 30);
    s.policy.deviations.after_breach = true;
    update(&mut s, ch('x'));
    assert!(s.decide.as_ref().unwrap().risk.is_none());
}

/// The dialog with a risk acceptance fits at 80x24.
#[test]
fn the_risk_acceptance_fits_at_80x24() {
    let late = approval(1, "normal", "4", "3", 80 * 60);
    let mut s = common::ui::state_with("http://127.0.0.1:9", vec![late], 80, 24);
    s.policy.deviations.after_breach = true;
    s.policy.deviations.window_started = true;
    update(&mut s, ch('a'));
    let text = screen(&render(&s, 80, 24));
    assert!(text.contains("Outside the standard path"), "{text}");
    assert!(text.contains("Risk acceptance"), "{text}");
    assert!(text.contains("Ctrl-S send"), "{text}");
}
