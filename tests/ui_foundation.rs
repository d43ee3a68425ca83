//! The console's foundation: one command registry behind every key, hint and `:` command;
//! user keymaps; the help at 80×24; and the defects found trying it as a new user would. The
//! last test drives the real event loop headlessly, key presses in, an outbox row out.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, FixedOffset};
use common::ui::{approval, ch, ctrl, key, line_with, now, render_at, screen, synced};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use signoff::domain::{Approval, DecisionKind, Delivery, Policy, User, UserRef};
use signoff::ui::commands::{COMMANDS, Cmd, Context};
use signoff::ui::keymap::{Key, KeyOverride, Keymap};
use signoff::ui::state::help;
use signoff::ui::{AppState, Effect, Mode, Msg, Net, Theme, update};

fn user() -> User {
    common::ui::alice()
}

fn carla() -> UserRef {
    UserRef {
        sys_id: "u9".into(),
        name: "Carla Diaz".into(),
        ..Default::default()
    }
}

/// Ten approvals; 8 and 9 are Carla's, decided as her delegate.
fn fixture() -> Vec<Approval> {
    let mut v: Vec<Approval> = (1..=10)
        .map(|n| approval(n, "normal", "3", "2", 10 * n as i64))
        .collect();
    for a in &mut v[7..] {
        a.approver = carla();
    }
    v
}

fn loaded(w: u16, h: u16) -> AppState {
    common::ui::state_with("https://acme.service-now.com", fixture(), w, h)
}

fn theme() -> Theme {
    Theme::named("dark", false).unwrap()
}

fn text_of(s: &AppState, w: u16, h: u16) -> String {
    screen(&render_at(s, w, h, now(), &theme()))
}

fn type_text(s: &mut AppState, text: &str) {
    for c in text.chars() {
        update(s, ch(c));
    }
}

fn row_of(s: &AppState, id: &str) -> usize {
    s.queue
        .items()
        .iter()
        .position(|i| i.approval.sys_id == id)
        .unwrap()
}

fn go(s: &mut AppState, i: usize) {
    update(s, key(KeyCode::Home));
    for _ in 0..i {
        update(s, ch('j'));
    }
    assert_eq!(s.queue.selected, i);
}

#[test]
fn the_key_shown_for_every_command_is_the_key_that_runs_it() {
    let keymap = Keymap::default();
    assert!(keymap.problems.is_empty(), "{:?}", keymap.problems);
    let mut names = HashMap::new();
    for c in COMMANDS {
        assert!(
            names.insert(c.name, c.cmd).is_none(),
            "{} is registered twice",
            c.name
        );
        for ctx in c.contexts {
            for k in keymap.keys(c.cmd) {
                // What help and hints show is the label; reading it back is the key pressed.
                let shown = Key::parse(&k.label()).unwrap();
                assert_eq!(
                    keymap.lookup(*ctx, &shown.event()),
                    Some(c.cmd),
                    "{} {} shows {} but that key does something else",
                    c.name,
                    ctx.place(),
                    k.label()
                );
            }
        }
    }
    // The help lists every key of its screen as the keymap has it.
    for from in [Context::Queue, Context::Delegations] {
        for line in help::lines(&help::HelpState::new(from), &keymap) {
            if let help::HelpLine::Entry { keys, text } = line {
                if keys.starts_with(':') {
                    continue;
                }
                let first = keys.split(" / ").next().unwrap();
                let k = Key::parse(first).unwrap_or_else(|e| panic!("{keys}: {e}"));
                assert!(
                    COMMANDS.iter().any(|c| keymap.keys(c.cmd).contains(&k)
                        && c.description == text.split(" (:").next().unwrap()),
                    "help says {keys} does {text:?}"
                );
            }
        }
    }
    // The footer's hints run what they say, in the state they are shown in.
    let mut s = loaded(200, 30);
    for (key, label) in s.hints() {
        let k = Key::parse(&key).unwrap();
        let cmd = s.keymap.lookup(s.context(), &k.event()).unwrap();
        let c = COMMANDS.iter().find(|c| c.cmd == cmd).unwrap();
        assert!(
            c.footer == Some(label) || label == "withdraw",
            "{key} {label} runs {}",
            c.name
        );
    }
    // And the keys reach them through update: Enter opens the detail, Esc comes back.
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.mode, Mode::Detail);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.mode, Mode::Queue);
}

#[test]
fn hints_show_only_what_can_be_done_now() {
    let mut s = loaded(200, 30);
    let labels = |s: &AppState| s.hints().into_iter().map(|(_, l)| l).collect::<Vec<_>>();
    let now_labels = labels(&s);
    assert!(now_labels.contains(&"approve") && !now_labels.contains(&"resume"));
    assert!(now_labels.contains(&"help") && now_labels.contains(&"command"));
    assert!(!now_labels.contains(&"discard"), "nothing to discard");
    // A held change: resume, not approve.
    let mut held = fixture();
    held[0].change.on_hold = true;
    update(&mut s, synced(user(), held, vec![], now()));
    let i = row_of(&s, "appr0001");
    go(&mut s, i);
    let held_labels = labels(&s);
    assert!(held_labels.contains(&"resume"), "{held_labels:?}");
    assert!(!held_labels.contains(&"approve"), "{held_labels:?}");
    // ? help and : command are on the footer at every width the console runs at.
    for w in [60, 80, 140] {
        let text = text_of(&s, w, 24);
        let bar = text.lines().nth(23).unwrap();
        assert!(
            bar.contains("? help") && bar.contains(": command"),
            "{w}: {bar}"
        );
    }
}

#[test]
fn user_keys_merge_over_the_defaults_and_bad_lines_are_reported() {
    let o = |command: &str, keys: &[&str], line: usize| KeyOverride {
        command: command.into(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        line,
    };
    let keymap = Keymap::with_overrides(&[
        o("approve", &["A"], 3),
        o("aprove", &["z"], 4),
        o("reject", &["a"], 5),
        o("hold", &["Ctl-H"], 6),
        o("quit", &["Q", "Ctrl-C"], 7),
    ]);
    let at = |ctx, spec: &str| keymap.lookup(ctx, &Key::parse(spec).unwrap().event());
    assert_eq!(at(Context::Queue, "A"), Some(Cmd::Approve));
    assert_eq!(at(Context::Queue, "Q"), Some(Cmd::Quit));
    assert_eq!(at(Context::Queue, "q"), None, "replaced, not added to");
    // reject = a is fine: approve moved away from a.
    assert_eq!(at(Context::Queue, "a"), Some(Cmd::Reject));
    // The problems name their line; the defaults stay for those commands.
    assert_eq!(keymap.problems.len(), 2, "{:?}", keymap.problems);
    assert!(
        keymap.problems[0].starts_with("line 4:")
            && keymap.problems[0].contains("did you mean approve"),
        "{:?}",
        keymap.problems
    );
    assert!(
        keymap.problems[1].starts_with("line 6:") && keymap.problems[1].contains("Ctl-H"),
        "{:?}",
        keymap.problems
    );
    assert_eq!(at(Context::Queue, "p"), Some(Cmd::Hold));

    // A clash in a shared context: the override loses, the default stays usable.
    let keymap = Keymap::with_overrides(&[o("approve", &["x"], 9)]);
    assert_eq!(keymap.problems.len(), 1);
    assert!(
        keymap.problems[0].starts_with("line 9:")
            && keymap.problems[0].contains("x is already reject in the queue")
            && keymap.problems[0].contains("approve keeps a"),
        "{:?}",
        keymap.problems
    );
    let at = |spec: &str| keymap.lookup(Context::Queue, &Key::parse(spec).unwrap().event());
    assert_eq!(at("a"), Some(Cmd::Approve));
    assert_eq!(at("x"), Some(Cmd::Reject));

    // A key that types text where the command works would never reach it; a command that
    // closes or sends cannot go without a key. Both keep their defaults, and say why.
    let keymap = Keymap::with_overrides(&[
        o("send", &["S"], 11),
        o("cancel", &[], 12),
        o("approve", &["Shift-a"], 13),
    ]);
    assert_eq!(keymap.problems.len(), 2, "{:?}", keymap.problems);
    assert!(
        keymap.problems[0].starts_with("line 11:")
            && keymap.problems[0].contains("typed as text in the decision dialog")
            && keymap.problems[0].contains("send keeps Ctrl-S"),
        "{:?}",
        keymap.problems
    );
    assert!(
        keymap.problems[1].starts_with("line 12:")
            && keymap.problems[1].contains("needs a key")
            && keymap.problems[1].contains("cancel keeps Esc"),
        "{:?}",
        keymap.problems
    );
    let ctrl_s = Key::parse("Ctrl-S").unwrap().event();
    assert_eq!(keymap.lookup(Context::Editor, &ctrl_s), Some(Cmd::Send));
    let esc = Key::parse("Esc").unwrap().event();
    assert_eq!(keymap.lookup(Context::Editor, &esc), Some(Cmd::Cancel));
    let shift_a = Key::parse("A").unwrap().event();
    assert_eq!(keymap.lookup(Context::Queue, &shift_a), Some(Cmd::Approve));

    // The problems reach the console's message log, and hints use the user's keys.
    let mut s = loaded(140, 30).with_keymap(Keymap::with_overrides(&[
        o("approve", &["A"], 3),
        o("bogus", &["b"], 8),
    ]));
    assert!(s.messages.log.iter().any(|m| m.text.contains("line 8")));
    assert!(s.hints().contains(&("A".to_string(), "approve")));
    update(&mut s, ch('a'));
    assert!(s.decide.is_none());
    update(&mut s, ch('A'));
    assert!(s.decide.is_some());
}

#[test]
fn the_command_line_completes_runs_and_remembers() {
    let mut s = loaded(140, 30);
    update(&mut s, ch(':'));
    assert!(s.cmdline.is_some());
    type_text(&mut s, "appr");
    let text = text_of(&s, 140, 30);
    assert!(text.lines().last().unwrap().starts_with(":appr"), "{text}");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.cmdline.as_ref().unwrap().input, "approve ");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.cmdline.is_none());
    let m = s.decide.as_ref().expect(":approve opens the dialog");
    assert_eq!(m.kind, DecisionKind::Approve);
    update(&mut s, key(KeyCode::Esc));
    // Arguments: :filter mine, :filter carla.
    update(&mut s, ch(':'));
    type_text(&mut s, "filter carla");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.queue.len(), 3);
    assert!(
        s.queue
            .items()
            .iter()
            .all(|i| i.approval.approver == carla())
    );
    // Unknown: one clear line.
    update(&mut s, ch(':'));
    type_text(&mut s, "frobnicate");
    update(&mut s, key(KeyCode::Enter));
    let flash = s.messages.flash.clone().unwrap();
    assert!(flash.error);
    assert_eq!(
        flash.text,
        "Unknown command “:frobnicate” (Tab completes; :help lists them)."
    );
    // Its own history, newest first with ↑.
    update(&mut s, ch(':'));
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.cmdline.as_ref().unwrap().input, "frobnicate");
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.cmdline.as_ref().unwrap().input, "filter carla");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.cmdline.is_none());
    // :q quits.
    update(&mut s, ch(':'));
    type_text(&mut s, "q");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn the_help_scrolls_and_filters_at_80x24_with_nothing_cut_off() {
    let mut s = loaded(80, 24);
    update(&mut s, ch('?'));
    let first = text_of(&s, 80, 24);
    assert!(first.contains("lines 1–"), "{first}");
    // Every line of the help is reachable by scrolling, and none is wider than the popup.
    let keymap = Keymap::default();
    let (w, _) = help::size(80, 24);
    let rows: Vec<String> = help::rows(&help::lines(s.help.as_ref().unwrap(), &keymap), w)
        .into_iter()
        .flatten()
        .map(|r| match r {
            help::HelpLine::Heading(t) | help::HelpLine::Note(t) => t,
            help::HelpLine::Entry { keys, text } => format!("{keys:<16}{text}"),
        })
        .collect();
    let mut seen = String::new();
    for _ in 0..rows.len() {
        seen.push_str(&text_of(&s, 80, 24));
        update(&mut s, ch('j'));
    }
    for r in &rows {
        assert!(r.chars().count() <= w, "too wide for 80 columns: {r}");
        assert!(seen.contains(r.trim_end()), "never on screen: {r:?}");
    }
    // The legend explains the marks.
    assert!(seen.contains("⚑ nobody"), "{seen}");
    assert!(seen.contains("! conflict"), "{seen}");
    // PgUp comes back to the top.
    for _ in 0..20 {
        update(&mut s, key(KeyCode::PageUp));
    }
    assert_eq!(s.help.as_ref().unwrap().scroll, 0);
    // / filters.
    update(&mut s, ch('/'));
    type_text(&mut s, "withdraw");
    update(&mut s, key(KeyCode::Enter));
    let text = text_of(&s, 80, 24);
    assert!(text.contains("or withdraw one"), "{text}");
    assert!(!text.contains("a page down"), "{text}");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.help.is_none());
}

#[test]
fn the_screen_says_where_and_what_each_column_is() {
    let mut s = loaded(140, 30);
    s.profile = "prod".into();
    let text = text_of(&s, 140, 30);
    let header = text.lines().next().unwrap();
    assert!(header.contains("acme.service-now.com [prod]"), "{header}");
    assert!(!header.contains("DEMO"));
    s.demo = true;
    let text = text_of(&s, 140, 30);
    assert!(text.lines().next().unwrap().contains("DEMO"), "{text}");
    let headings = text.lines().nth(2).unwrap();
    for col in [
        "NUMBER",
        "SLA",
        "WINDOW",
        "TYPE",
        "REQUESTED BY",
        "DESCRIPTION",
    ] {
        assert!(headings.contains(col), "{headings}");
    }
    // The group is shown by name.
    update(&mut s, key(KeyCode::Enter));
    let text = text_of(&s, 140, 30);
    assert!(
        line_with(&text, "Group").contains("Network Operations"),
        "{text}"
    );
}

#[test]
fn discarding_a_conflict_on_an_approval_that_left_removes_its_row() {
    let mut s = loaded(140, 30);
    let i = row_of(&s, "appr0004");
    go(&mut s, i);
    update(&mut s, ch('a'));
    type_text(&mut s, "Plan reviewed with the team.");
    update(&mut s, ctrl('s'));
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-4".into(),
            approval_sys_id: "appr0004".into(),
            delivery: Delivery::Conflict {
                reason: "Rejected by Bob first.".into(),
            },
        },
    );
    // The approval leaves the queue on the server; its row stays for the conflict.
    let without: Vec<Approval> = fixture()
        .into_iter()
        .filter(|a| a.sys_id != "appr0004")
        .collect();
    update(&mut s, synced(user(), without, vec![], now()));
    let i = row_of(&s, "appr0004");
    go(&mut s, i);
    assert_eq!(
        update(&mut s, ch('d')),
        vec![Effect::Discard {
            client_id: "c-4".into()
        }]
    );
    // Gone now, without waiting for a sync that changes something.
    assert!(
        s.queue
            .items()
            .iter()
            .all(|i| i.approval.sys_id != "appr0004")
    );
    let text = text_of(&s, 140, 30);
    assert!(
        !text
            .lines()
            .any(|l| l.contains("CHG0030004") && l.contains("starts in")),
        "{text}"
    );
}

#[test]
fn deciding_again_uses_a_fresh_copy_and_says_what_changed() {
    let mut s = loaded(140, 30);
    let i = row_of(&s, "appr0005");
    go(&mut s, i);
    update(&mut s, ch('a'));
    type_text(&mut s, "Approving the plan as written.");
    update(&mut s, ctrl('s'));
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-5".into(),
            approval_sys_id: "appr0005".into(),
            delivery: Delivery::Conflict {
                reason: "CHG0030005 changed on the server after you looked at it (risk).".into(),
            },
        },
    );
    update(
        &mut s,
        Msg::Synced(Box::new(signoff::ui::Synced {
            user: user(),
            at: now(),
            approvals: None,
            outbox_pending: 0,
            open: vec![],
            delegations: vec![],
            summary: String::new(),
            notices: vec![],
        })),
    );
    assert_eq!(s.net, Net::Online);
    let effects = update(&mut s, ch('e'));
    assert_eq!(
        effects,
        vec![Effect::Fetch {
            approval_sys_id: "appr0005".into()
        }]
    );
    let mut fresh = fixture()[4].clone();
    fresh.change.risk = Some(signoff::domain::Risk::High);
    fresh.change.sys_updated_on = Some(now() + Duration::minutes(5));
    update(
        &mut s,
        Msg::Fetched {
            approval_sys_id: "appr0005".into(),
            result: Ok(Some(Box::new(fresh.clone()))),
        },
    );
    let m = s.decide.as_ref().expect("the dialog, on the fresh copy");
    assert_eq!(m.targets[0].0, fresh, "decided against the fresh copy");
    assert_eq!(m.text(), "Approving the plan as written.");
    assert_eq!(
        m.note.as_deref(),
        Some("Changed on the server since you looked: risk.")
    );
    let text = text_of(&s, 140, 30);
    assert!(
        text.contains("Changed on the server since you looked: risk."),
        "{text}"
    );
    let effects = update(&mut s, ctrl('s'));
    let Some(Effect::Decide { approvals, .. }) = effects.last() else {
        panic!("{effects:?}");
    };
    assert_eq!(approvals[0], fresh);

    // Offline, it says it needs the instance, and keeps the conflict.
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-6".into(),
            approval_sys_id: "appr0005".into(),
            delivery: Delivery::Conflict { reason: "x".into() },
        },
    );
    update(
        &mut s,
        Msg::Offline {
            since: now(),
            error: "Could not reach".into(),
            retry_at: now() + Duration::seconds(72),
        },
    );
    assert!(update(&mut s, ch('e')).is_empty());
    assert!(
        s.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("fresh copy")
    );
    // The status bar says when the next retry is.
    let bar = text_of(&s, 140, 30).lines().last().unwrap().to_string();
    assert!(
        bar.contains("retrying in 1m 12s · r now") || bar.contains("fresh copy"),
        "{bar}"
    );
}

#[test]
fn a_queued_decision_can_be_withdrawn_and_quitting_says_what_waits() {
    let mut s = loaded(140, 30);
    let i = row_of(&s, "appr0003");
    go(&mut s, i);
    update(&mut s, ch('a'));
    type_text(&mut s, "Fine by me, go ahead.");
    update(&mut s, ctrl('s'));
    update(
        &mut s,
        Msg::Stored {
            decisions: vec![("c-3".into(), "appr0003".into())],
            replaced: vec![],
            outbox_pending: 1,
        },
    );
    // Quitting asks, and says how many wait and when they go.
    assert!(update(&mut s, ch('q')).is_empty());
    let q = s.confirm.as_ref().expect("asks first").question.clone();
    assert!(
        q.starts_with("1 decision has not reached the instance yet"),
        "{q}"
    );
    assert!(q.contains("signoff sync"), "{q}");
    assert!(update(&mut s, ch('n')).is_empty());
    assert!(s.confirm.is_none());
    // d withdraws it (the store answers).
    assert_eq!(
        update(&mut s, ch('d')),
        vec![Effect::Withdraw {
            client_id: "c-3".into(),
            approval_sys_id: "appr0003".into()
        }]
    );
    update(
        &mut s,
        Msg::Withdrawn {
            client_id: "c-3".into(),
            approval_sys_id: "appr0003".into(),
            withdrawn: true,
        },
    );
    assert!(!s.deliveries.contains_key("appr0003"));
    assert_eq!(s.outbox_pending, 0);
    let flash = s.messages.flash.clone().unwrap();
    assert!(flash.done && flash.text.contains("Withdrew"), "{flash:?}");
    // Nothing waits: q quits at once.
    assert_eq!(update(&mut s, ch('q')), vec![Effect::Quit]);
}

#[test]
fn the_bulk_dialog_says_whose_each_approval_is() {
    let mut s = loaded(140, 30);
    // One of Alice's and one of Carla's.
    let mine = row_of(&s, "appr0002");
    go(&mut s, mine);
    update(&mut s, ch(' '));
    let theirs = row_of(&s, "appr0009");
    go(&mut s, theirs);
    update(&mut s, ch(' '));
    update(&mut s, ch('a'));
    let text = text_of(&s, 140, 30);
    assert!(
        text.contains("CHG0030002,") || text.contains("CHG0030002 "),
        "{text}"
    );
    assert!(text.contains("CHG0030009 (for Carla Diaz)"), "{text}");
    assert!(!text.contains("CHG0030002 (for"), "{text}");
    assert!(
        text.contains("1 of yours, 1 decided on a colleague's behalf"),
        "{text}"
    );
    assert!(
        !text.contains("On behalf of Carla Diaz (as their delegate)"),
        "{text}"
    );
}

#[test]
fn the_detail_stops_at_its_end_and_says_where_you_are() {
    let mut long = fixture();
    long[0].change.implementation_plan = (1..=60)
        .map(|i| format!("{i}. step {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut s = loaded(100, 30);
    update(&mut s, synced(user(), long, vec![], now()));
    let i = row_of(&s, "appr0001");
    go(&mut s, i);
    update(&mut s, key(KeyCode::Enter));
    let text = text_of(&s, 100, 30);
    assert!(text.contains("lines 1–26 of"), "{text}");
    assert!(text.contains("more below"), "{text}");
    for _ in 0..500 {
        update(&mut s, ch('j'));
    }
    let max = s.detail_scroll;
    assert!(max > 0);
    update(&mut s, ch('j'));
    assert_eq!(s.detail_scroll, max, "no scrolling past the end");
    let text = text_of(&s, 100, 30);
    assert!(
        text.contains("60. step 60") && !text.contains("more below"),
        "{text}"
    );
    // k comes back at once, PgUp to the top.
    update(&mut s, ch('k'));
    assert_eq!(s.detail_scroll, max - 1);
    for _ in 0..10 {
        update(&mut s, key(KeyCode::PageUp));
    }
    assert_eq!(s.detail_scroll, 0);
}

#[test]
fn drafts_are_kept_pastes_keep_their_lines_and_the_count_shows_the_rules() {
    let mut s = loaded(120, 30);
    go(&mut s, 3);
    update(&mut s, ch('x'));
    type_text(&mut s, "The backout");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.decide.is_none());
    // Reopening restores it (whatever the decision: the text is about the change).
    update(&mut s, ch('x'));
    assert_eq!(s.decide.as_ref().unwrap().text(), "The backout");
    // A paste with CR and CRLF line endings keeps its line breaks.
    update(&mut s, Msg::Paste(" plan:\r1. drain\r\n2. revert\r".into()));
    let m = s.decide.as_ref().unwrap();
    assert_eq!(
        m.editor.lines(),
        ["The backout plan:", "1. drain", "2. revert", ""]
    );
    // The live count against the policy's bounds (reject: 20 to 4000).
    let text = text_of(&s, 120, 30);
    assert!(text.contains("36 / 20–4000 characters"), "{text}");
    // Another change has its own (empty) draft.
    update(&mut s, key(KeyCode::Esc));
    go(&mut s, 4);
    update(&mut s, ch('x'));
    assert_eq!(s.decide.as_ref().unwrap().text(), "");
}

#[test]
fn row_states_move_no_column_and_only_applied_has_a_tick() {
    let mut s = loaded(140, 30);
    // The screen column (not the byte) where `what` starts on the row of `n`.
    let col = |s: &AppState, n: &str, what: &str| {
        let text = text_of(s, 140, 30);
        let row = line_with(&text, n);
        row[..row.find(what).unwrap()].chars().count()
    };
    let before = col(&s, "CHG0030003", "starts in");
    let i = row_of(&s, "appr0003");
    go(&mut s, i);
    update(&mut s, ch('a'));
    type_text(&mut s, "Fine by me, go ahead.");
    update(&mut s, ctrl('s'));
    let text = text_of(&s, 140, 30);
    let row = line_with(&text, "CHG0030003");
    assert!(row.contains("queued") && !row.contains('✓'), "{row}");
    assert!(!text.lines().last().unwrap().contains('✓'), "not done yet");
    assert_eq!(col(&s, "CHG0030003", "starts in"), before);
    assert_eq!(col(&s, "CHG0030004", "starts in"), before, "other rows too");
    update(
        &mut s,
        Msg::Delivery {
            client_id: "c-3".into(),
            approval_sys_id: "appr0003".into(),
            delivery: Delivery::Applied { at: now() },
        },
    );
    let text = text_of(&s, 140, 30);
    assert!(
        line_with(&text, "CHG0030003").contains("✓ approved"),
        "{text}"
    );
}

#[test]
fn refresh_says_what_it_did_and_long_messages_are_kept() {
    let mut s = loaded(80, 24);
    assert_eq!(update(&mut s, ch('r')), vec![Effect::Refresh]);
    update(
        &mut s,
        Msg::Synced(Box::new(signoff::ui::Synced {
            user: user(),
            at: now(),
            approvals: None,
            outbox_pending: 0,
            open: vec![],
            delegations: vec![],
            summary: "0 added, 0 updated, 0 removed (incremental)".into(),
            notices: vec![],
        })),
    );
    let flash = s.messages.flash.clone().unwrap();
    assert_eq!(
        flash.text,
        "Refreshed: 0 added, 0 updated, 0 removed (incremental)."
    );
    // A sentence too long for the bar says where to read it whole.
    let long = "The instance answered with a redirect to https://login.example.com/sso?next=… which is not the instance; signoff sent nothing there.";
    s.flash(long, true);
    let bar = text_of(&s, 80, 24).lines().last().unwrap().to_string();
    assert!(bar.contains("(:messages)"), "{bar}");
    update(&mut s, ch(':'));
    type_text(&mut s, "messages");
    update(&mut s, key(KeyCode::Enter));
    let text = text_of(&s, 80, 24);
    assert!(
        text.contains("Messages") && text.contains("signoff sent nothing there"),
        "{text}"
    );
    update(&mut s, key(KeyCode::Esc));
    assert!(s.messages.open.is_none());
}

/// The real event loop, headless: keys through the same path as a terminal's, a real store and
/// the real engine against the sim; a decision from the key press to the outbox row and the
/// server.
#[tokio::test]
async fn the_run_loop_takes_a_decision_from_keys_to_the_outbox() {
    use signoff::backend::no_progress;
    use signoff::store::Store;
    use signoff::sync::{EngineConfig, run_engine, run_requests, sync_once};
    use signoff::ui::run::{SyncLink, drive};

    let server = common::sim(61, 40, 100).await;
    let clock = common::clock(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ui.sqlite3");
    let client = || {
        common::client_on(
            &server,
            signoff::sim::DEMO_USER,
            signoff::sim::DEMO_PASSWORD,
            &clock,
        )
    };
    let mut store = Store::open(&path).unwrap();
    sync_once(&client(), &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    let snapshot = store.load_summaries().unwrap();
    let me = snapshot.user.clone().unwrap();
    let target = snapshot
        .approvals
        .iter()
        .filter(|a| a.approver.sys_id == me.sys_id && a.in_queue() && !a.change.on_hold)
        .map(|a| a.sys_id.clone())
        .collect::<Vec<_>>();
    let mut state = AppState::new(
        server.url(),
        me.user_name.clone(),
        Policy::default(),
        FixedOffset::east_opt(0).unwrap(),
    );
    // As the console does: rows are read from the store when shown.
    state
        .queue
        .attach(Box::new(Store::open(&path).unwrap()), Policy::default());
    update(&mut state, Msg::Resize(120, 40));
    update(
        &mut state,
        Msg::Cached {
            user: snapshot.user,
            approvals: snapshot.approvals,
            synced_at: snapshot.synced_at,
            outbox_pending: 0,
            complete: false,
            totals: None,
        },
    );
    // The row the cursor starts on, if it is the user's own; else move to the first one.
    let first_own = state
        .queue
        .items()
        .iter()
        .position(|i| target.contains(&i.approval.sys_id))
        .unwrap();
    let decided = state.queue.item(first_own).unwrap().approval.sys_id.clone();

    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
    let backend = Arc::new(client());
    let engine_clock: Arc<dyn signoff::domain::Clock> = clock.clone();
    tokio::spawn(run_requests(
        backend.clone(),
        engine_clock.clone(),
        req_rx,
        ev_tx.clone(),
        cmd_tx.clone(),
    ));
    tokio::spawn(run_engine(
        Some(backend),
        store,
        EngineConfig {
            interval: std::time::Duration::from_secs(3600),
            ..EngineConfig::default()
        },
        engine_clock.clone(),
        cmd_rx,
        ev_tx,
    ));
    let link = SyncLink {
        commands: cmd_tx,
        events: ev_rx,
        requests: Some(req_tx),
        cab: None,
    };

    // The keyboard: move to the row, a, the justification, Ctrl-S; once the outbox says it
    // is applied, q.
    let (keys, input) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<Event>>();
    let input = Box::pin(futures::stream::unfold(input, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let press = move |code: KeyCode, mods: KeyModifiers| {
        keys.send(Ok(Event::Key(KeyEvent::new(code, mods))))
            .unwrap();
    };
    let watcher = Store::open(&path).unwrap();
    let driver = tokio::spawn(async move {
        for _ in 0..first_own {
            press(KeyCode::Char('j'), KeyModifiers::NONE);
        }
        press(KeyCode::Char('a'), KeyModifiers::NONE);
        for c in "Reviewed from the headless loop.".chars() {
            press(KeyCode::Char(c), KeyModifiers::NONE);
        }
        press(KeyCode::Char('s'), KeyModifiers::CONTROL);
        let mut applied = false;
        for _ in 0..200 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            applied = watcher
                .outbox(false)
                .unwrap()
                .iter()
                .any(|e| matches!(e.delivery, Delivery::Applied { .. }));
            if applied {
                break;
            }
        }
        // Let the loop hear of it, then quit.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        press(KeyCode::Char('q'), KeyModifiers::NONE);
        applied
    });
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let outbox = Store::open(&path).unwrap();
    let final_state = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        drive(
            &mut terminal,
            input,
            state,
            &theme(),
            clock.clone(),
            Some(link),
            Some(outbox),
        ),
    )
    .await
    .expect("the loop ends on q")
    .unwrap();
    assert!(driver.await.unwrap(), "the decision was applied");

    let entries = Store::open(&path).unwrap().outbox(false).unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.decision.approval_sys_id, decided);
    assert_eq!(e.decision.kind, DecisionKind::Approve);
    assert_eq!(
        e.decision.justification.as_str(),
        "Reviewed from the headless loop."
    );
    assert!(matches!(e.delivery, Delivery::Applied { .. }));
    assert_eq!(
        server.record("sysapproval_approver", &decided).unwrap()["state"],
        "approved"
    );
    // The loop heard it: the applied approval left the queue on the next sync.
    assert!(
        final_state
            .queue
            .items()
            .iter()
            .all(|i| i.approval.sys_id != decided),
        "the decided approval left the queue"
    );
    let text = screen_of(&terminal);
    assert!(text.contains("outbox 0"), "{text}");
    server.shutdown().await;
}

fn screen_of(t: &Terminal<TestBackend>) -> String {
    screen(t)
}
