//! CAB meetings against the built-in server over HTTP: the meetings list, a meeting's agenda
//! and people, moving a meeting as the workbench does, decisions during a session, minutes.
//! Every client runs on its sim's clock, frozen so timers are exact.

mod common;

use std::sync::Arc;
use std::time::Duration;

use signoff::backend::Backend;
use signoff::backend::servicenow::ServiceNow;
use signoff::domain::cab::{ItemDecision, ItemState, MeetingState, Move, Role, When};
use signoff::domain::{Clock, ServerClock};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimConfig, SimServer};

async fn frozen() -> SimServer {
    SimServer::start(
        SimConfig {
            frozen_clock: true,
            ..common::sim_config(11, 120, 100)
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

fn as_user(server: &SimServer, user: &str, clock: &Arc<ServerClock>) -> ServiceNow {
    common::client_on(server, user, DEMO_PASSWORD, clock)
}

#[tokio::test]
async fn the_meetings_list_has_every_meeting_the_user_takes_part_in() {
    let server = frozen().await;
    let clock = common::clock(&server);
    let sn = as_user(&server, DEMO_USER, &clock);
    let me = sn.current_user().await.unwrap();
    let now = clock.now();
    let list = sn
        .cab_meetings(
            &me.sys_id,
            now - chrono::Duration::days(14),
            now + chrono::Duration::days(14),
        )
        .await
        .unwrap();
    let mut seen: Vec<(String, When, Role)> = list
        .iter()
        .map(|m| {
            (
                m.meeting.name.clone(),
                m.meeting.when(now),
                m.role_of(&me.sys_id),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let kinds: Vec<(When, Role)> = seen.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(
        kinds,
        vec![
            (When::InProgress, Role::Chair),
            (When::Upcoming, Role::Attendee),
            (When::Upcoming, Role::Board),
            (When::Upcoming, Role::Chair),
            (When::Recent, Role::Chair),
        ],
        "{seen:?}"
    );
    let live = list
        .iter()
        .find(|m| m.meeting.state == MeetingState::InProgress)
        .unwrap();
    assert_eq!(live.items, 6);
    assert_eq!(live.open_items, 5);
    server.shutdown().await;
}

#[tokio::test]
async fn a_meeting_reads_in_agenda_order_with_its_people_and_cursor() {
    let server = frozen().await;
    let clock = common::clock(&server);
    let sn = as_user(&server, DEMO_USER, &clock);
    let me = sn.current_user().await.unwrap();
    let now = clock.now();
    let list = sn
        .cab_meetings(
            &me.sys_id,
            now - chrono::Duration::days(14),
            now + chrono::Duration::days(14),
        )
        .await
        .unwrap();
    let live = list
        .iter()
        .find(|m| m.meeting.state == MeetingState::InProgress)
        .unwrap();
    let d = sn.cab_meeting(&live.meeting.sys_id).await.unwrap().unwrap();
    let orders: Vec<i64> = d.items.iter().map(|i| i.order).collect();
    assert_eq!(orders, vec![100, 200, 300, 400, 500, 600]);
    assert_eq!(d.items[0].state, ItemState::Complete);
    assert_eq!(d.items[0].decision, ItemDecision::Approved);
    let current = d.current().unwrap();
    assert_eq!(current.sys_id, d.items[1].sys_id);
    let timer = d.timer(current, now);
    assert_eq!((timer.spent, timer.allotted), (240, 600));
    assert!(d.all_approvals);
    assert_eq!(d.changes.len(), 6);
    assert!(
        d.open_approvals(current)
            .any(|a| a.approval.approver.sys_id == me.sys_id)
    );
    assert!(d.attendees.iter().any(|a| a.user.name == "Carla Diaz"));
    let _ = Move::Next;
    server.shutdown().await;
}
