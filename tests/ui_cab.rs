//! The console's CAB screens drawn from what the built-in server answers: the meetings list,
//! an agenda, the session (at 80×24 and wide), notes and ending a meeting.
//!
//! The sim runs on a frozen clock at a fixed instant (not the suite's anchor), so the dates
//! on these snapshots are the same on every run; the console runs on that same clock.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::KeyCode;
use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, Scope, no_progress};
use signoff::domain::ServerClock;
use signoff::domain::cab::{MeetingDetail, MeetingState, Move};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimConfig, SimServer};
use signoff::ui::{AppState, Effect, Mode, Msg, Theme, update};

use common::ui::{ch, key, render_at, screen};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

struct Console {
    server: SimServer,
    sn: ServiceNow,
    ui: AppState,
    _clock: Arc<ServerClock>,
}

async fn console(w: u16, h: u16) -> Console {
    let server = SimServer::start(
        SimConfig {
            frozen_clock: true,
            now: Some(at()),
            ..common::sim_config(11, 120, 100)
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let clock = common::clock(&server);
    let sn = common::client_on(&server, DEMO_USER, DEMO_PASSWORD, &clock);
    let me = sn.current_user().await.unwrap();
    let approvals = sn
        .approvals(
            std::slice::from_ref(&me.sys_id),
            Scope::Pending,
            &no_progress,
        )
        .await
        .unwrap();
    // The instance's label on the header: fixed, as the sim's port is not.
    let mut ui = AppState::new(
        "cab-demo.service-now.com".into(),
        DEMO_USER.into(),
        signoff::domain::Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut ui, Msg::Resize(w, h));
    update(
        &mut ui,
        common::ui::synced(me, approvals, vec![], at() - chrono::Duration::minutes(1)),
    );
    update(&mut ui, Msg::Tick(at()));
    Console {
        server,
        sn,
        ui,
        _clock: clock,
    }
}

impl Console {
    /// `C`, answered with the instance's list.
    async fn meetings(&mut self) {
        let effects = update(&mut self.ui, ch('C'));
        assert!(effects.iter().any(|e| matches!(e, Effect::CabMeetings)));
        let me = self.ui.user.clone().unwrap();
        let mut list = self
            .sn
            .cab_meetings(
                &me.sys_id,
                at() - chrono::Duration::days(14),
                at() + chrono::Duration::days(14),
            )
            .await
            .unwrap();
        signoff::domain::cab::sort_meetings(&mut list, at());
        update(
            &mut self.ui,
            Msg::CabMeetings {
                list,
                fetched_at: Some(at()),
                error: None,
                fresh: true,
            },
        );
        assert_eq!(self.ui.mode, Mode::Meetings);
    }

    /// Moves the cursor to the meeting named `name`, opens it (Enter) and answers with it.
    async fn open(&mut self, name: &str) -> MeetingDetail {
        let at_row = self
            .ui
            .cab
            .list
            .iter()
            .position(|m| m.meeting.name.starts_with(name))
            .unwrap_or_else(|| panic!("no meeting {name}"));
        while self.ui.cab.selected < at_row {
            update(&mut self.ui, ch('j'));
        }
        let effects = update(&mut self.ui, key(KeyCode::Enter));
        let sys_id = effects
            .iter()
            .find_map(|e| match e {
                Effect::CabMeeting { sys_id } => Some(sys_id.clone()),
                _ => None,
            })
            .expect("the meeting is read");
        let detail = self.sn.cab_meeting(&sys_id).await.unwrap().unwrap();
        update(
            &mut self.ui,
            Msg::CabMeeting(signoff::domain::cab::MeetingRead {
                sys_id,
                detail: Some(Box::new(detail.clone())),
                fetched_at: Some(at()),
                fresh: true,
                error: None,
                waiting_moves: 0,
                notes: vec![],
            }),
        );
        assert_eq!(self.ui.mode, Mode::Agenda);
        detail
    }

    fn draw(&self, w: u16, h: u16) -> ratatui::Terminal<ratatui::backend::TestBackend> {
        render_at(&self.ui, w, h, at(), &Theme::named("dark", false).unwrap())
    }
}

#[tokio::test]
async fn meetings_list_snapshots() {
    for (w, h) in [(80, 24), (140, 30)] {
        let mut c = console(w, h).await;
        c.meetings().await;
        let t = c.draw(w, h);
        let text = screen(&t);
        for section in ["In progress", "Upcoming", "Recent"] {
            assert!(text.contains(section), "{text}");
        }
        insta::assert_snapshot!(format!("meetings_{w}x{h}"), text);
        c.server.shutdown().await;
    }
}

#[tokio::test]
async fn agenda_snapshots_show_what_needs_attention() {
    for (w, h) in [(80, 24), (140, 40)] {
        let mut c = console(w, h).await;
        c.meetings().await;
        // Next week's meeting: the crafted collision and the change edited since it was added.
        let d = c.open("Weekly CAB — 2026-12-02").await;
        assert_eq!(d.meeting.state, MeetingState::Pending);
        let text = screen(&c.draw(w, h));
        assert!(text.contains(&d.items[0].number), "{text}");
        insta::assert_snapshot!(format!("agenda_{w}x{h}"), text);
        c.server.shutdown().await;
    }
}

#[tokio::test]
async fn session_snapshots_and_the_chairs_keys() {
    for (w, h) in [(80, 24), (140, 40)] {
        let mut c = console(w, h).await;
        c.meetings().await;
        let d = c.open("Weekly CAB — 2026-11-25").await;
        assert_eq!(d.meeting.state, MeetingState::InProgress);
        update(&mut c.ui, key(KeyCode::Enter));
        assert_eq!(c.ui.mode, Mode::Session);
        assert!(c.ui.hosts_meeting());
        let current = d.current().unwrap().number.clone();
        let text = screen(&c.draw(w, h));
        assert!(text.contains(&current) && text.contains("LIVE"), "{text}");
        insta::assert_snapshot!(format!("session_{w}x{h}"), text);
        c.server.shutdown().await;
    }
}

#[tokio::test]
async fn the_chair_types_a_note_and_ends_the_meeting_after_confirming() {
    let mut c = console(120, 40).await;
    c.meetings().await;
    let d = c.open("Weekly CAB — 2026-11-25").await;
    update(&mut c.ui, key(KeyCode::Enter));
    let current = d.current().unwrap().clone();

    // N opens the note line; letters type into it (n does not move the meeting on).
    update(&mut c.ui, ch('N'));
    for k in "needs a rollback test".chars() {
        let effects = update(&mut c.ui, ch(k));
        assert!(effects.is_empty(), "{k:?} → {effects:?}");
    }
    assert!(screen(&c.draw(120, 40)).contains("needs a rollback test"));
    let effects = update(&mut c.ui, key(KeyCode::Enter));
    let noted = effects.iter().find_map(|e| match e {
        Effect::CabNote {
            item_sys_id, text, ..
        } => Some((item_sys_id.clone(), text.clone())),
        _ => None,
    });
    assert_eq!(
        noted,
        Some((current.sys_id.clone(), "needs a rollback test".to_string()))
    );
    assert_eq!(
        c.ui.meeting().unwrap().current().unwrap().sys_id,
        current.sys_id
    );
    let text = screen(&c.draw(120, 40));
    assert!(text.contains("needs a rollback test"), "{text}");

    // E asks first; n keeps the meeting going, y ends it (one move, through the outbox).
    let effects = update(&mut c.ui, ch('E'));
    assert!(effects.is_empty());
    assert!(
        screen(&c.draw(120, 40)).contains("End"),
        "the confirmation shows"
    );
    update(&mut c.ui, ch('n'));
    assert_eq!(
        c.ui.meeting().unwrap().meeting.state,
        MeetingState::InProgress
    );
    update(&mut c.ui, ch('E'));
    let effects = update(&mut c.ui, ch('y'));
    let ended = effects.iter().find_map(|e| match e {
        Effect::CabMove { mv, after, .. } => Some((*mv, after.meeting.state.clone())),
        _ => None,
    });
    assert_eq!(ended, Some((Move::End, MeetingState::Complete)));
    c.server.shutdown().await;
}

#[tokio::test]
async fn the_cursor_starts_on_the_meeting_in_progress_even_after_a_cached_list() {
    let mut c = console(100, 30).await;
    c.meetings().await;
    let mut cached = c.ui.cab.list.clone();
    cached.reverse(); // the store's order is not the list's
    let mut fresh = console(100, 30).await;
    update(&mut fresh.ui, ch('C'));
    update(
        &mut fresh.ui,
        Msg::CabMeetings {
            list: cached,
            fetched_at: Some(at()),
            error: None,
            fresh: false,
        },
    );
    update(
        &mut fresh.ui,
        Msg::CabMeetings {
            list: c.ui.cab.list.clone(),
            fetched_at: Some(at()),
            error: None,
            fresh: true,
        },
    );
    let selected = &fresh.ui.cab.list[fresh.ui.cab.selected];
    assert_eq!(selected.meeting.state, MeetingState::InProgress);
    c.server.shutdown().await;
    fresh.server.shutdown().await;
}
