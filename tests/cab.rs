//! CAB meetings against the built-in server over HTTP: the meetings list, a meeting's agenda
//! and people, moving a meeting as the workbench does (through the outbox), decisions during
//! a session, what attendees see, minutes, and a session that loses the network. Every client
//! runs on its sim's clock, frozen so timers are exact.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, BackendError};
use signoff::domain::cab::{
    Attendance, AttendeeReason, Convene, ItemDecision, ItemState, MeetingDetail, MeetingState,
    Move, MoveStatus, Role, TimerState, When,
};
use signoff::domain::{
    ApprovalState, Clock, Decision, DecisionKind, Justification, JustificationRules, ServerClock,
    UserRef,
};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimConfig, SimServer};
use signoff::store::Store;
use signoff::sync::cab::{deliver_moves, notes_by_item};
use signoff::sync::{Deliver, deliver_pending};

async fn frozen() -> SimServer {
    frozen_at(common::anchor()).await
}

/// A sim whose clock stands at `now` (advanced only by the test).
async fn frozen_at(now: chrono::DateTime<chrono::Utc>) -> SimServer {
    SimServer::start(
        SimConfig {
            frozen_clock: true,
            now: Some(now),
            ..common::sim_config(11, 120, 100)
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

struct Chair {
    server: SimServer,
    clock: Arc<ServerClock>,
    sn: ServiceNow,
    me: UserRef,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn chair() -> Chair {
    chair_on(frozen().await).await
}

async fn chair_on(server: SimServer) -> Chair {
    let clock = common::clock(&server);
    let sn = common::client_on(&server, DEMO_USER, DEMO_PASSWORD, &clock);
    let me = sn.current_user().await.unwrap().reference();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cab.sqlite3")).unwrap();
    Chair {
        server,
        clock,
        sn,
        me,
        store,
        _dir: dir,
    }
}

impl Chair {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    async fn meetings(&self) -> Vec<signoff::domain::cab::MeetingSummary> {
        let now = self.now();
        self.sn
            .cab_meetings(
                &self.me.sys_id,
                now - chrono::Duration::days(14),
                now + chrono::Duration::days(14),
            )
            .await
            .unwrap()
    }

    /// The meeting in a state and chaired by the user.
    async fn meeting(&self, state: MeetingState) -> MeetingDetail {
        let id = self
            .meetings()
            .await
            .into_iter()
            .find(|m| m.meeting.state == state && m.role_of(&self.me.sys_id) == Role::Chair)
            .unwrap()
            .meeting
            .sys_id;
        self.read(&id).await
    }

    async fn read(&self, id: &str) -> MeetingDetail {
        self.sn.cab_meeting(id).await.unwrap().unwrap()
    }

    /// A move as the console makes it: recorded in the outbox, then delivered.
    async fn make(&mut self, d: &MeetingDetail, mv: Move) -> MeetingDetail {
        let after = d.moved(mv, &self.me, self.now()).unwrap();
        self.store
            .record_move(&after, mv, &self.me, &d.cursor(), self.now())
            .unwrap();
        let report = deliver_moves(&self.sn, &mut self.store, self.clock.as_ref(), &|_, _| {})
            .await
            .unwrap();
        assert!(report.stopped.is_none(), "{:?}", report.stopped);
        assert_eq!(report.applied, 1, "{mv:?}");
        self.read(&d.meeting.sys_id).await
    }

    fn wait(&self, secs: u64) {
        self.server.advance_clock(Duration::from_secs(secs));
    }

    fn item(&self, id: &str) -> BTreeMap<String, String> {
        self.server.record("cab_agenda_item", id).unwrap()
    }

    /// Decides the user's open approval on an item's change through the outbox.
    async fn decide(&mut self, d: &MeetingDetail, item: usize, kind: DecisionKind, text: &str) {
        let approval = d
            .open_approvals(&d.items[item])
            .find(|a| a.approval.approver.sys_id == self.me.sys_id)
            .expect("an open approval of mine")
            .approval
            .clone();
        let user = self.sn.current_user().await.unwrap();
        let j = Justification::parse(text, kind, &JustificationRules::default()).unwrap();
        let now = self.now();
        let decisions = Decision::for_approvals(
            kind,
            &j,
            std::slice::from_ref(&approval),
            &user,
            now,
            || signoff::store::new_client_id(now),
        );
        self.store.enqueue(&decisions, now).unwrap();
        let report = deliver_pending(
            &self.sn,
            &mut self.store,
            self.clock.as_ref(),
            Deliver::All,
            &|_, _| {},
            true,
        )
        .await
        .unwrap();
        assert_eq!(report.applied, 1, "{report:?}");
    }
}

#[tokio::test]
async fn the_meetings_list_has_every_meeting_the_user_takes_part_in() {
    let c = chair().await;
    let now = c.now();
    let list = c.meetings().await;
    let mut seen: Vec<(When, Role, String)> = list
        .iter()
        .map(|m| {
            (
                m.meeting.when(now),
                m.role_of(&c.me.sys_id),
                m.meeting.name.clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| (a.0, a.1 as u8, &a.2).cmp(&(b.0, b.1 as u8, &b.2)));
    let kinds: Vec<(When, Role)> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        kinds,
        vec![
            (When::InProgress, Role::Chair),
            (When::Upcoming, Role::Chair),
            (When::Upcoming, Role::Board),
            (When::Upcoming, Role::Attendee),
            (When::Recent, Role::Chair),
        ],
        "{seen:?}"
    );
    let live = list
        .iter()
        .find(|m| m.meeting.state == MeetingState::InProgress)
        .unwrap();
    assert_eq!((live.items, live.open_items), (6, 5));
    assert!(list.iter().any(|m| m.meeting.is_emergency()));
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_meeting_reads_in_agenda_order_with_its_people_and_cursor() {
    let c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let orders: Vec<i64> = d.items.iter().map(|i| i.order).collect();
    assert_eq!(orders, vec![100, 200, 300, 400, 500, 600]);
    assert_eq!(d.items[0].state, ItemState::Complete);
    assert_eq!(d.items[0].decision, ItemDecision::Approved);
    let current = d.current().unwrap();
    assert_eq!(current.sys_id, d.items[1].sys_id);
    // The chair opened it four minutes ago, of ten allotted.
    let timer = d.timer(current, c.now());
    assert_eq!((timer.spent, timer.allotted), (240, 600));
    assert!(d.all_approvals, "an itil user reads everyone's approvals");
    assert_eq!(d.changes.len(), 6);
    assert!(
        d.open_approvals(current)
            .any(|a| a.approval.approver.sys_id == c.me.sys_id)
    );
    let dev = d
        .attendees
        .iter()
        .find(|a| a.user.name == "Dev Patel")
        .unwrap();
    assert_eq!(dev.attendance, Attendance::NotAttending);
    assert_eq!(dev.reason, AttendeeReason::Board);
    assert_eq!(d.meeting.delegates[0].name, "Dev Patel");
    assert_eq!(d.meeting.time_per_item, 600);
    c.server.shutdown().await;
}

#[tokio::test]
async fn preparing_shows_collisions_holds_edits_and_absent_approvers() {
    let c = chair().await;
    let d = c.meeting(MeetingState::Pending).await;
    let policy = signoff::domain::Policy::default();
    let tier = signoff::domain::RiskTier::Moderate;
    let say = |i: usize| d.attention(&d.items[i], &policy, tier).join(" | ");
    // The seed's crafted agenda: items 1 and 2 on one CI at overlapping times, item 3 on
    // hold, item 4 edited after it was put on the agenda.
    let collisions = d.collisions();
    assert_eq!(collisions.len(), 2, "{collisions:?}");
    assert!(
        say(0).contains(&format!("Collides with {}", d.items[1].number)),
        "{}",
        say(0)
    );
    assert!(
        say(1).contains(&format!("Collides with {}", d.items[0].number)),
        "{}",
        say(1)
    );
    assert!(say(2).contains("on hold"), "{}", say(2));
    assert!(
        say(3).contains("edited after it was put on the agenda"),
        "{}",
        say(3)
    );
    for i in [0, 1, 3] {
        assert!(!say(i).contains("on hold"), "{i}: {}", say(i));
    }
    // Dev declines: his approvals have nobody present to decide them.
    let dev = d
        .attendees
        .iter()
        .find(|a| a.user.name == "Dev Patel")
        .unwrap();
    c.server.update_record(
        "cab_attendee",
        &dev.sys_id,
        &[("attendance", "not_attending")],
    );
    let d = c.read(&d.meeting.sys_id).await;
    let devs = d.items.iter().find(|i| {
        d.open_approvals(i)
            .any(|a| a.approval.approver.name == "Dev Patel")
    });
    if let Some(item) = devs {
        let said = d.attention(item, &policy, tier).join(" | ");
        assert!(
            said.contains("No one present can decide")
                && said.contains("Dev Patel (not attending)"),
            "{said}"
        );
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_crafted_agenda_collides_only_where_windows_overlap_on_one_ci_or_group() {
    let c = chair().await;
    // Three pending changes of the seed on one agenda: a and b on one CI overlapping, c on
    // the same CI later.
    let ids = c
        .server
        .query_ids(
            "change_request",
            "approval=requested^type=normal^ORDERBYnumber",
        )
        .unwrap();
    let (a, b, x) = (&ids[0], &ids[1], &ids[2]);
    let ci = c.server.record("change_request", a).unwrap()["cmdb_ci"].clone();
    for (id, start, end) in [
        (a, "2026-12-10 20:00:00", "2026-12-10 23:00:00"),
        (b, "2026-12-10 22:30:00", "2026-12-11 01:00:00"),
        (x, "2026-12-11 01:00:00", "2026-12-11 02:00:00"),
    ] {
        c.server.update_record(
            "change_request",
            id,
            &[
                ("cmdb_ci", &ci),
                ("start_date", start),
                ("end_date", end),
                ("assignment_group", ""),
            ],
        );
    }
    let numbers: Vec<(String, String)> = [a, b, x]
        .iter()
        .map(|id| {
            let n = c.server.record("change_request", id).unwrap()["number"].clone();
            (id.to_string(), n)
        })
        .collect();
    let now = c.now();
    let meeting =
        c.sn.cab_convene(&Convene {
            name: "Collision check".into(),
            manager: c.me.clone(),
            start: now + chrono::Duration::days(1),
            end: now + chrono::Duration::days(1) + chrono::Duration::hours(1),
            per_item: 600,
            changes: numbers.clone(),
            attendees: vec![(c.me.clone(), AttendeeReason::Manager, vec![])],
        })
        .await
        .unwrap();
    let d = c.read(&meeting).await;
    let pairs: Vec<(String, String)> = d
        .collisions()
        .into_iter()
        .map(|x| (d.item(&x.item).unwrap().number.clone(), x.with_number))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (numbers[0].1.clone(), numbers[1].1.clone()),
            (numbers[1].1.clone(), numbers[0].1.clone()),
        ],
        "touching windows (b ends as x starts) do not collide"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn each_move_changes_the_server_as_the_workbench_does() {
    let mut c = chair().await;
    let d = c.meeting(MeetingState::Pending).await;
    let id = d.meeting.sys_id.clone();
    let items: Vec<String> = d.items.iter().map(|i| i.sys_id.clone()).collect();
    let meeting = |c: &Chair| c.server.record("cab_meeting", &id).unwrap();
    let runtime = |c: &Chair| {
        let ids = c
            .server
            .query_ids("cab_runtime_state", &format!("cab_meeting={id}"))
            .unwrap();
        assert_eq!(ids.len(), 1, "one runtime row per meeting");
        c.server.record("cab_runtime_state", &ids[0]).unwrap()
    };

    // Start: the meeting runs, the first item is discussed, the cursor points at it.
    let d = c.make(&d, Move::Start).await;
    assert_eq!(meeting(&c)["state"], "in_progress");
    assert_eq!(c.item(&items[0])["state"], "in_progress");
    assert_eq!(runtime(&c)["current_agenda_item"], items[0]);
    assert_eq!(runtime(&c)["current_agenda_item_start"], c.server.now());
    assert_eq!(runtime(&c)["host"], c.me.sys_id);

    // Next without a decision: the item closes as no decision, the next one opens; the time
    // spent is banked on the closed item.
    c.wait(300);
    let d = c.make(&d, Move::Next).await;
    assert_eq!(c.item(&items[0])["state"], "no_decision");
    assert_eq!(c.item(&items[0])["decision"], "");
    assert_eq!(c.item(&items[0])["elapsed_time"], "1970-01-01 00:05:00");
    assert_eq!(c.item(&items[1])["state"], "in_progress");
    assert_eq!(runtime(&c)["current_agenda_item"], items[1]);

    // Defer: the item goes back to pending at the end of the agenda; the next one opens.
    c.wait(60);
    let last = d.items.iter().map(|i| i.order).max().unwrap();
    let d = c.make(&d, Move::Defer).await;
    assert_eq!(c.item(&items[1])["state"], "pending");
    assert_eq!(c.item(&items[1])["order"], (last + 100).to_string());
    assert_eq!(c.item(&items[1])["elapsed_time"], "1970-01-01 00:01:00");
    assert_eq!(c.item(&items[2])["state"], "in_progress");

    // Pause banks the time and stops the timer; resume starts it again.
    c.wait(120);
    let d = c.make(&d, Move::Pause).await;
    assert_eq!(c.item(&items[2])["state"], "paused");
    assert_eq!(c.item(&items[2])["elapsed_time"], "1970-01-01 00:02:00");
    assert_eq!(runtime(&c)["timer_state"], "paused");
    c.wait(600);
    assert_eq!(
        d.timer(d.current().unwrap(), c.now()).spent,
        120,
        "paused: no time runs"
    );
    let d = c.make(&d, Move::Resume).await;
    assert_eq!(c.item(&items[2])["state"], "in_progress");
    assert_eq!(runtime(&c)["current_agenda_item_start"], c.server.now());

    // Back: the item before (the first, closed) is discussed again; this one waits.
    let d = c.make(&d, Move::Back).await;
    assert_eq!(c.item(&items[0])["state"], "in_progress");
    assert_eq!(c.item(&items[2])["state"], "pending");

    // End: the current item closes, the meeting completes with its end time.
    c.wait(30);
    let d = c.make(&d, Move::End).await;
    assert_eq!(meeting(&c)["state"], "complete");
    assert_eq!(meeting(&c)["actual_end"], c.server.now());
    assert_eq!(c.item(&items[0])["state"], "no_decision");
    assert_eq!(c.item(&items[0])["elapsed_time"], "1970-01-01 00:05:30");
    assert_eq!(runtime(&c)["current_agenda_item"], "");
    assert_eq!(runtime(&c)["timer_state"], "stopped");
    assert!(d.current().is_none());
    // A finished meeting cannot be moved again.
    assert!(d.moved(Move::Start, &c.me, c.now()).is_err());
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_decision_in_session_is_an_approval_decision_and_the_item_follows_it() {
    let mut c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let current = d.items.iter().position(|i| i.state.is_current()).unwrap();
    let item = d.items[current].sys_id.clone();
    c.decide(
        &d,
        current,
        DecisionKind::Approve,
        "The board agrees: the window is quiet.",
    )
    .await;
    let mine = d
        .open_approvals(&d.items[current])
        .find(|a| a.approval.approver.sys_id == c.me.sys_id)
        .unwrap()
        .approval
        .sys_id
        .clone();
    assert_eq!(
        c.server.record("sysapproval_approver", &mine).unwrap()["state"],
        "approved"
    );
    // Only the change's approval decides the item: while others still have to vote, it is
    // undecided.
    let d = c.read(&d.meeting.sys_id).await;
    let waiting = d.open_approvals(&d.items[current]).count();
    if waiting > 0 {
        assert_eq!(c.item(&item)["decision"], "");
    }
    // When the last approver approves, the change is approved and the item under discussion
    // becomes approved (§1.7), with the automation line in the notes.
    for a in d.open_approvals(&d.items[current]) {
        let login = c
            .server
            .users()
            .into_iter()
            .find(|u| u.sys_id == a.approval.approver.sys_id)
            .unwrap()
            .user_name;
        c.server
            .decide_as(&a.approval.sys_id, &login, "approved", "Fine by me.");
    }
    assert_eq!(c.item(&item)["decision"], "approved");
    let d = c.read(&d.meeting.sys_id).await;
    assert_eq!(d.items[current].decision, ItemDecision::Approved);
    assert!(d.meeting.notes.contains(&format!(
        "(CAB Automation) - {} - Approved",
        d.items[current].number
    )));
    // A pending item's change approved before it is discussed: pre-approved.
    let later = d
        .items
        .iter()
        .position(|i| i.state == ItemState::Pending && d.open_approvals(i).next().is_some())
        .unwrap();
    for a in d.open_approvals(&d.items[later]) {
        c.server
            .decide_as(&a.approval.sys_id, "admin", "approved", "Pre-approved.");
    }
    assert_eq!(c.item(&d.items[later].sys_id)["decision"], "preapproved");
    c.server.shutdown().await;
}

#[tokio::test]
async fn the_timer_counts_down_to_the_allotted_time_then_overruns() {
    let c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let item = d.current().unwrap().clone();
    // Four minutes spent of ten at the start.
    let at = |secs: i64| {
        d.timer(&item, c.now() + chrono::Duration::seconds(secs))
            .state()
    };
    assert_eq!(at(0), TimerState::Left(360));
    assert_eq!(at(359), TimerState::Left(1));
    assert_eq!(at(360), TimerState::Due);
    assert_eq!(at(361), TimerState::Overrun(1));
    assert_eq!(at(3960), TimerState::Overrun(3600));
    c.server.shutdown().await;
}

#[tokio::test]
async fn an_attendee_follows_the_chair_and_decides_their_own_approvals() {
    let mut c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let carla = common::client_on(&c.server, "carla.diaz", DEMO_PASSWORD, &c.clock);
    let carla_me = carla.current_user().await.unwrap();
    let seen = carla.cab_meeting(&d.meeting.sys_id).await.unwrap().unwrap();
    assert_eq!(
        seen.meeting.role_of(&carla_me.sys_id, &seen.attendees),
        Role::Board
    );
    assert_eq!(
        seen.current().map(|i| &i.sys_id),
        d.current().map(|i| &i.sys_id)
    );

    // The console as Carla sees it: the session view of the meeting.
    let mut ui = common::ui::state_with(&c.server.url(), vec![], 120, 40);
    ui.user = Some(carla_me.clone());
    signoff::ui::update(&mut ui, signoff::ui::Msg::Tick(c.now()));
    signoff::ui::update(&mut ui, common::ui::ch('C'));
    let list = c.meetings().await;
    signoff::ui::update(
        &mut ui,
        signoff::ui::Msg::CabMeetings {
            list,
            fetched_at: Some(c.now()),
            error: None,
            fresh: true,
        },
    );
    let cab_meeting = |detail: MeetingDetail| {
        signoff::ui::Msg::CabMeeting(signoff::domain::cab::MeetingRead {
            sys_id: detail.meeting.sys_id.clone(),
            detail: Some(Box::new(detail)),
            fetched_at: None,
            fresh: true,
            error: None,
            waiting_moves: 0,
            notes: vec![],
        })
    };
    let at = ui
        .cab
        .list
        .iter()
        .position(|m| m.meeting.sys_id == d.meeting.sys_id)
        .unwrap();
    ui.cab.selected = at;
    signoff::ui::update(&mut ui, common::ui::key(crossterm::event::KeyCode::Enter));
    signoff::ui::update(&mut ui, cab_meeting(seen));
    signoff::ui::update(&mut ui, common::ui::key(crossterm::event::KeyCode::Enter));
    assert_eq!(ui.mode, signoff::ui::Mode::Session);
    assert!(!ui.hosts_meeting());
    // Carla cannot move the meeting.
    signoff::ui::update(&mut ui, common::ui::ch('n'));
    assert!(
        ui.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("Only the chair")
    );

    // The chair moves on; Carla's next read (every few seconds) follows.
    c.make(&d, Move::Next).await;
    let effects = signoff::ui::update(
        &mut ui,
        signoff::ui::Msg::Tick(c.now() + chrono::Duration::seconds(6)),
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, signoff::ui::Effect::CabMeeting { .. })),
        "{effects:?}"
    );
    let fresh = carla.cab_meeting(&d.meeting.sys_id).await.unwrap().unwrap();
    let next = fresh.current().unwrap().number.clone();
    signoff::ui::update(&mut ui, cab_meeting(fresh));
    assert_eq!(ui.meeting().unwrap().current().unwrap().number, next);
    assert!(
        ui.messages
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains(&format!("moved on to {next}")),
        "{:?}",
        ui.messages.flash
    );
    let text = common::ui::screen(&common::ui::render_at(
        &ui,
        120,
        40,
        c.now(),
        &signoff::ui::Theme::named("dark", false).unwrap(),
    ));
    assert!(
        text.contains(&next) && text.contains("following Alice Moreno"),
        "{text}"
    );
    // Her decision on the current item: her own approval, if she holds one; otherwise the
    // console says who does.
    let effects = signoff::ui::update(&mut ui, common::ui::ch('a'));
    match ui.decide.as_ref() {
        Some(modal) => assert!(
            modal
                .targets
                .iter()
                .all(|(a, _)| a.approver.sys_id == carla_me.sys_id)
        ),
        None => {
            assert!(effects.is_empty());
            assert!(
                ui.messages
                    .flash
                    .as_ref()
                    .unwrap()
                    .text
                    .contains("You hold no open approval"),
                "{:?}",
                ui.messages.flash
            );
        }
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_session_that_goes_offline_keeps_its_moves_and_catches_up_in_order() {
    let mut c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let items: Vec<String> = d.items.iter().map(|i| i.sys_id.clone()).collect();
    c.server.stop_accepting().await;
    // Two moves made offline, a minute apart: each recorded with the meeting as it stood.
    let first = d.moved(Move::Next, &c.me, c.now()).unwrap();
    c.store
        .record_move(&first, Move::Next, &c.me, &d.cursor(), c.now())
        .unwrap();
    c.wait(60);
    let second = first.moved(Move::Next, &c.me, c.now()).unwrap();
    c.store
        .record_move(&second, Move::Next, &c.me, &first.cursor(), c.now())
        .unwrap();
    let r = deliver_moves(&c.sn, &mut c.store, c.clock.as_ref(), &|_, _| {})
        .await
        .unwrap();
    assert!(r.stopped.is_some() && r.applied == 0);
    assert_eq!(
        c.store.pending_moves().unwrap().len(),
        2,
        "both wait, in order"
    );
    // The cached meeting is the chair's: two items on.
    let (cached, _) = c.store.meeting(&d.meeting.sys_id).unwrap().unwrap();
    assert_eq!(cached.current().unwrap().sys_id, items[3]);

    c.server.start_accepting().await.unwrap();
    let r = deliver_moves(&c.sn, &mut c.store, c.clock.as_ref(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!((r.applied, r.conflicts), (2, 0));
    assert_eq!(c.item(&items[1])["state"], "no_decision");
    assert_eq!(c.item(&items[2])["state"], "no_decision");
    // The second item was discussed for the minute between the two moves, as it happened.
    assert_eq!(c.item(&items[2])["elapsed_time"], "1970-01-01 00:01:00");
    assert_eq!(c.item(&items[3])["state"], "in_progress");

    // Someone else moves the meeting while a move of ours waits: a conflict, nothing written.
    let now_d = c.read(&d.meeting.sys_id).await;
    c.server.stop_accepting().await;
    let mine = now_d.moved(Move::Next, &c.me, c.now()).unwrap();
    c.store
        .record_move(&mine, Move::Next, &c.me, &now_d.cursor(), c.now())
        .unwrap();
    c.server.start_accepting().await.unwrap();
    c.server.update_record(
        "cab_agenda_item",
        &items[3],
        &[("state", "complete"), ("decision", "approved")],
    );
    c.server
        .update_record("cab_agenda_item", &items[4], &[("state", "in_progress")]);
    let rt = c
        .server
        .query_ids(
            "cab_runtime_state",
            &format!("cab_meeting={}", d.meeting.sys_id),
        )
        .unwrap();
    c.server.update_record(
        "cab_runtime_state",
        &rt[0],
        &[("current_agenda_item", &items[4])],
    );
    let said = std::sync::Mutex::new(Vec::new());
    let r = deliver_moves(&c.sn, &mut c.store, c.clock.as_ref(), &|_, s| {
        said.lock().unwrap().push(s.clone())
    })
    .await
    .unwrap();
    assert_eq!(r.conflicts, 1);
    match &said.lock().unwrap()[0] {
        MoveStatus::Conflict(why) => assert!(why.contains("moved by someone else"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.item(&items[4])["state"],
        "in_progress",
        "not moved on again"
    );
    let kinds: Vec<String> = c
        .store
        .journal()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"cab.move.conflict".to_string()),
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "cab.move.applied").count(), 2);
    c.server.shutdown().await;
}

#[tokio::test]
async fn minutes_of_a_scripted_session() {
    // A fixed calendar: the minutes are compared with a golden file, dates included. (The
    // clients run on the sim's clock, so this passes on any date too.)
    use chrono::TimeZone;
    let mut c = chair_on(
        frozen_at(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
                .unwrap(),
        )
        .await,
    )
    .await;
    let d = c.meeting(MeetingState::Pending).await;
    let d = c.make(&d, Move::Start).await;
    c.store
        .add_note(
            &d.meeting.sys_id,
            &d.items[0].sys_id,
            &d.items[0].number,
            "Vendor confirmed the firmware image; backout rehearsed on staging.",
            c.now(),
        )
        .unwrap();
    c.wait(420);
    c.decide(
        &d,
        0,
        DecisionKind::Approve,
        "Backout rehearsed; the window is quiet.",
    )
    .await;
    // The other approvers vote in the portal: the change is approved, and so is the item.
    for a in d.open_approvals(&d.items[0]) {
        if a.approval.approver.sys_id == c.me.sys_id {
            continue;
        }
        let login = c
            .server
            .users()
            .into_iter()
            .find(|u| u.sys_id == a.approval.approver.sys_id)
            .unwrap()
            .user_name;
        c.server.decide_as(
            &a.approval.sys_id,
            &login,
            "approved",
            "Agreed in the meeting.",
        );
    }
    let d = c.read(&d.meeting.sys_id).await;
    assert_eq!(d.items[0].decision, ItemDecision::Approved);
    let d = c.make(&d, Move::Next).await;
    c.wait(300);
    let d = c.make(&d, Move::Next).await;
    c.wait(90);
    let d = c.make(&d, Move::End).await;
    // The notes went to the meeting's notes on the instance.
    assert!(
        d.meeting
            .notes
            .contains(&format!("{} notes: Vendor confirmed", d.items[0].number)),
        "{}",
        d.meeting.notes
    );
    let notes = notes_by_item(&c.store, &d).unwrap();
    let minutes = d.minutes(&notes, c.now());
    assert_eq!(minutes.items[0].spent_seconds, 420);
    assert_eq!(minutes.items[0].decided_by[0].approver, "Alice Moreno");
    assert_eq!(
        minutes.items[0].decided_by[0].justification,
        "Backout rehearsed; the window is quiet."
    );
    // From the instance's copy alone (another machine): the same notes.
    let fresh_dir = tempfile::tempdir().unwrap();
    let other = Store::open(&fresh_dir.path().join("x.sqlite3")).unwrap();
    assert_eq!(notes_by_item(&other, &d).unwrap(), notes);
    insta::assert_snapshot!("minutes_md", minutes.to_markdown());
    insta::assert_snapshot!(
        "minutes_json",
        serde_json::to_string_pretty(&minutes).unwrap()
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn refusals_say_what_is_needed() {
    let c = chair().await;
    let now = c.now();
    // Ben is a plain approver: the CAB tables are not his to read.
    let ben = common::client_on(&c.server, "ben.ishikawa", DEMO_PASSWORD, &c.clock);
    let ben_me = ben.current_user().await.unwrap();
    let err = ben
        .cab_meetings(&ben_me.sys_id, now, now + chrono::Duration::days(1))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("needs the itil"), "{err}");
    // Carla is not a CAB manager: she cannot convene a meeting.
    let carla = common::client_on(&c.server, "carla.diaz", DEMO_PASSWORD, &c.clock);
    let carla_me = carla.current_user().await.unwrap().reference();
    let err = carla
        .cab_convene(&Convene {
            name: "Emergency CAB".into(),
            manager: carla_me.clone(),
            start: now,
            end: now + chrono::Duration::hours(1),
            per_item: 600,
            changes: vec![],
            attendees: vec![],
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("sn_change_cab.cab_manager"),
        "{err}"
    );
    // Nor move Alice's meeting.
    let d = c.meeting(MeetingState::InProgress).await;
    let after = d.moved(Move::Next, &carla_me, now).unwrap();
    let err = carla.cab_write(&d.writes_to(&after)).await.unwrap_err();
    assert!(
        err.to_string().contains("Only the meeting's manager"),
        "{err}"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn an_emergency_cab_is_convened_with_its_agenda_and_attendees() {
    let c = chair().await;
    let ids = c
        .server
        .query_ids(
            "change_request",
            "type=emergency^approval=requested^ORDERBYnumber",
        )
        .unwrap();
    let numbers: Vec<String> = ids
        .iter()
        .take(2)
        .map(|id| c.server.record("change_request", id).unwrap()["number"].clone())
        .collect();
    let changes = c.sn.changes_by_number(&numbers).await.unwrap();
    assert_eq!(changes.len(), numbers.len());
    let ben = c
        .server
        .users()
        .into_iter()
        .find(|u| u.user_name == "ben.ishikawa")
        .unwrap();
    let now = c.now();
    let id =
        c.sn.cab_convene(&Convene {
            name: "Emergency CAB".into(),
            manager: c.me.clone(),
            start: now,
            end: now + chrono::Duration::minutes(30),
            per_item: 900,
            changes: changes
                .iter()
                .map(|ch| (ch.sys_id.clone(), ch.number.clone()))
                .collect(),
            attendees: vec![
                (c.me.clone(), AttendeeReason::Manager, vec![]),
                (
                    UserRef {
                        sys_id: ben.sys_id.clone(),
                        name: ben.name.clone(),
                        ..Default::default()
                    },
                    AttendeeReason::Attendee,
                    changes.iter().map(|ch| ch.sys_id.clone()).collect(),
                ),
            ],
        })
        .await
        .unwrap();
    let d = c.read(&id).await;
    assert_eq!(d.meeting.state, MeetingState::Pending);
    assert!(d.meeting.is_emergency());
    let got: Vec<&str> = d.items.iter().map(|i| i.number.as_str()).collect();
    assert_eq!(got, numbers.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(d.items.iter().all(|i| i.allotted == 900));
    assert_eq!(d.attendees.len(), 2);
    // Adding the items stamped the changes' CAB date.
    let cab_date = c.server.record("change_request", &ids[0]).unwrap()["cab_date"].clone();
    assert_eq!(cab_date, now.format("%Y-%m-%d").to_string());
    c.server.shutdown().await;
}

#[tokio::test]
async fn approvals_decided_elsewhere_show_in_the_agenda() {
    let c = chair().await;
    let d = c.meeting(MeetingState::InProgress).await;
    let (item, other) = d
        .items
        .iter()
        .filter(|i| i.state.is_current() || i.state == ItemState::Pending)
        .find_map(|i| {
            d.open_approvals(i)
                .find(|a| a.approval.approver.sys_id != c.me.sys_id)
                .map(|a| (i.clone(), a.approval.clone()))
        })
        .unwrap();
    let login = c
        .server
        .users()
        .into_iter()
        .find(|u| u.sys_id == other.approver.sys_id)
        .unwrap()
        .user_name;
    c.server.decide_as(
        &other.sys_id,
        &login,
        "rejected",
        "No backout for the schema change.",
    );
    let d = c.read(&d.meeting.sys_id).await;
    let theirs = d
        .approvals_of(&item)
        .find(|a| a.approval.sys_id == other.sys_id)
        .unwrap();
    assert_eq!(theirs.approval.state, ApprovalState::Rejected);
    assert_eq!(theirs.comment, "No backout for the schema change.");
    assert_eq!(
        d.item(&item.sys_id).unwrap().decision,
        ItemDecision::Rejected
    );
    c.server.shutdown().await;
}
