//! "Your decisions" (issue 16): my decisions newest first with their outcome, on whose behalf
//! and why, and a flag on those whose change moved afterwards; against a crafted outbox and
//! the queue as the server has it now.

mod common;

use chrono::Duration;
use common::ui::{approval, ch, key, now, render_at, screen, state_with};
use crossterm::event::KeyCode;
use signoff::domain::{Decision, DecisionKind, Delivery, UserRef};
use signoff::ui::{Effect, Mode, Msg, Theme, update};

fn decided(
    a: &signoff::domain::Approval,
    kind: DecisionKind,
    minutes_ago: i64,
    why: &str,
) -> Decision {
    common::ui::decision(a, kind, now() - Duration::minutes(minutes_ago), why)
}

/// The history's answer with `decisions` from the outbox and nothing from the server.
fn from_outbox(s: &mut signoff::ui::AppState, decisions: Vec<(Decision, Delivery)>) {
    update(
        s,
        Msg::History {
            decisions: Ok(decisions),
            server: Default::default(),
            asking: false,
        },
    );
}

#[test]
fn decisions_are_listed_newest_first_and_those_that_moved_since_are_flagged() {
    // In the queue now: approval 1 (asked again after I approved it) and approval 3 (its
    // change edited after I put it on hold).
    let a1 = approval(1, "normal", "4", "3", 30);
    let mut a3 = approval(3, "normal", "3", "2", 30);
    let seen3 = a3.clone();
    a3.change.sys_updated_on = Some(now() - Duration::minutes(5));
    let mut seen3 = seen3;
    seen3.change.sys_updated_on = Some(now() - Duration::minutes(50));
    let a2 = approval(2, "emergency", "2", "1", 90);
    let mut s = state_with(
        "https://x.service-now.com",
        vec![a1.clone(), a3.clone()],
        120,
        30,
    );
    let effects = update(&mut s, ch('H'));
    assert_eq!(effects, vec![Effect::History]);
    let mut for_carla = decided(
        &a2,
        DecisionKind::Reject,
        20,
        "No rollback plan for the database.",
    );
    for_carla.on_behalf_of = Some(UserRef {
        sys_id: "u9".into(),
        name: "Carla Diaz".into(),
        ..Default::default()
    });
    for_carla.risk_acceptance = Some(signoff::domain::governance::RiskAcceptance {
        statement: "Late, but the fix is needed tonight.".into(),
        deviations: vec![],
        senior_role: None,
    });
    let mut hold = decided(
        &seen3,
        DecisionKind::Hold,
        40,
        "Waiting for the vendor's notes.",
    );
    hold.seen = seen3.clone();
    let decisions = vec![
        (
            decided(
                &a1,
                DecisionKind::Approve,
                60,
                "Backout rehearsed, window quiet.",
            ),
            Delivery::Applied { at: now() },
        ),
        (for_carla, Delivery::Applied { at: now() }),
        (hold, Delivery::Applied { at: now() }),
        (
            decided(
                &a2,
                DecisionKind::Approve,
                10,
                "Second try after the conflict.",
            ),
            Delivery::Conflict {
                reason: "moved".into(),
            },
        ),
    ];
    from_outbox(&mut s, decisions);
    let rows = match &s.decided.as_ref().unwrap().rows {
        Some(Ok(r)) => r.clone(),
        other => panic!("{other:?}"),
    };
    let order: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.number.as_str(), r.decision.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("CHG0030002", "approve", "conflict"),
            ("CHG0030002", "reject", "applied"),
            ("CHG0030003", "hold", "applied"),
            ("CHG0030001", "approve", "applied"),
        ]
    );
    assert_eq!(rows[0].moved, None, "not in the queue: nothing known");
    assert_eq!(
        rows[2].moved.as_deref(),
        Some("the change was edited since")
    );
    assert_eq!(rows[3].moved.as_deref(), Some("asked again since"));
    assert_eq!(rows[1].on_behalf_of.as_deref(), Some("Carla Diaz"));
    assert_eq!(
        rows[1].risk_accepted.as_deref(),
        Some("Late, but the fix is needed tonight.")
    );
    assert_eq!(rows[0].risk_accepted, None);

    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render_at(&s, 120, 30, now(), &theme));
    assert!(text.contains("Your decisions (4)"), "{text}");
    assert!(text.contains("for Carla Diaz"), "{text}");
    assert!(text.contains("⚠ risk accepted · for Carla Diaz"), "{text}");
    assert!(
        text.contains("risk accepted: “Late, but the fix is needed tonight.”"),
        "{text}"
    );
    assert!(text.contains("⟳ asked again since"), "{text}");
    assert!(
        text.contains("“No rollback plan for the database.”"),
        "{text}"
    );
    // Enter on a decision still in the queue goes to it there.
    for _ in 0..3 {
        update(&mut s, ch('j'));
    }
    update(&mut s, key(KeyCode::Enter));
    assert!(s.decided.is_none());
    assert_eq!(s.mode, Mode::Queue);
    assert_eq!(s.selected_item().unwrap().approval.sys_id, a1.sys_id);
}

/// The search as it looks at 80x24: the matches counted in the bar and the title.
#[test]
fn snapshot_search() {
    let approvals: Vec<_> = (1..=12)
        .map(|i| {
            let mut a = approval(
                i,
                "normal",
                if i % 3 == 0 { "2" } else { "4" },
                "2",
                30 + i as i64 * 7,
            );
            if i % 4 == 0 {
                a.change.short_description = format!("Patch the edge router, step {i}");
            }
            a
        })
        .collect();
    let mut s = state_with("https://x.service-now.com", approvals, 80, 24);
    update(&mut s, ch('/'));
    for c in "edge router".chars() {
        update(&mut s, ch(c));
    }
    let theme = Theme::named("dark", true).unwrap();
    insta::assert_snapshot!(render_at(&s, 80, 24, now(), &theme).backend());
}

/// Your decisions at 80x24.
#[test]
fn snapshot_history() {
    let a1 = approval(1, "normal", "4", "3", 30);
    let a2 = approval(2, "emergency", "2", "1", 90);
    let mut s = state_with("https://x.service-now.com", vec![a1.clone()], 80, 24);
    update(&mut s, ch('H'));
    from_outbox(
        &mut s,
        vec![
            (
                decided(
                    &a1,
                    DecisionKind::Approve,
                    60,
                    "Backout rehearsed, window quiet.",
                ),
                Delivery::Applied { at: now() },
            ),
            (
                decided(
                    &a2,
                    DecisionKind::Reject,
                    20,
                    "No rollback plan for the database.",
                ),
                Delivery::Applied { at: now() },
            ),
        ],
    );
    let theme = Theme::named("dark", true).unwrap();
    insta::assert_snapshot!(render_at(&s, 80, 24, now(), &theme).backend());
}

#[tokio::test]
async fn decisions_made_on_the_server_are_merged_with_the_outboxs_once_each() {
    use signoff::backend::Backend;
    use signoff::domain::{ApprovalState, Clock};
    let server = common::sim(7, 120, 200).await;
    let (clock, sn) = common::demo_client(&server);
    let me = sn.current_user().await.unwrap();
    let mine = common::rows(
        &server,
        "sysapproval_approver",
        &format!(
            "approver={}^state=requested^source_table=change_request",
            me.sys_id
        ),
        "sys_id",
    )
    .await;
    let id = |i: usize| mine[i]["sys_id"].as_str().unwrap().to_string();
    assert!(mine.len() >= 4);
    // What the seed already holds as decided by me.
    let seeded = common::rows(
        &server,
        "sysapproval_approver",
        &format!("approver={}^stateINapproved,rejected", me.sys_id),
        "sys_id",
    )
    .await
    .len();
    // In the web UI: one approved by me with a comment, one of mine rejected by an admin.
    common::patch_record(
        &server,
        "sysapproval_approver",
        signoff::sim::DEMO_USER,
        &id(0),
        serde_json::json!({"state": "approved", "comments": "Approved from the web form."}),
    )
    .await;
    common::patch_record(
        &server,
        "sysapproval_approver",
        "admin",
        &id(1),
        serde_json::json!({"state": "rejected", "comments": "Out of policy."}),
    )
    .await;
    // A policy's timed auto-approval of mine whose window has just ended: the system approves.
    let past =
        signoff::sim::table::fmt_ts((clock.now() - chrono::Duration::minutes(1)).timestamp());
    assert!(server.update_record(
        "sysapproval_approver",
        &id(3),
        &[
            ("approval_source", signoff::sim::data::AUTO_APPROVE_SOURCE),
            ("due_date", &past),
        ],
    ));
    // Through signoff: in its outbox as well as on the server.
    sn.decide(
        &id(2),
        ApprovalState::Rejected,
        "Rejected here: no test evidence.",
    )
    .await
    .unwrap();
    let since = clock.now() - chrono::Duration::days(90);
    let server_side = sn.decided(&me, since, 1_000).await.unwrap();
    assert!(server_side.len() >= seeded + 3, "{}", server_side.len());
    let web = server_side
        .iter()
        .find(|d| d.approval_sys_id == id(0))
        .unwrap();
    assert_eq!(web.state, "approved");
    assert_eq!(web.comment, "Approved from the web form.");
    assert_eq!(web.decided_by, me.user_name);
    assert!(!web.number.is_empty() && !web.title.is_empty());
    let sorted = server_side
        .windows(2)
        .all(|w| w[0].decided_at >= w[1].decided_at);
    assert!(sorted, "newest first");

    // The outbox holds the decision made here; the merge lists it once, as signoff's.
    let a = signoff::domain::Approval {
        sys_id: id(2),
        ..approval(2, "normal", "3", "2", 30)
    };
    let ours = (
        decided(
            &a,
            DecisionKind::Reject,
            1,
            "Rejected here: no test evidence.",
        ),
        Delivery::Applied { at: now() },
    );
    let rows = signoff::domain::history::rows(
        &[ours],
        &server_side,
        Some((&me.sys_id, &me.user_name)),
        &|_| None,
    );
    let of = |sys_id: &str| -> Vec<&signoff::domain::history::HistoryRow> {
        rows.iter()
            .filter(|r| r.approval_sys_id == sys_id)
            .collect()
    };
    assert_eq!(of(&id(2)).len(), 1);
    assert_eq!(of(&id(2))[0].outcome, "applied");
    let web = of(&id(0));
    assert_eq!((web.len(), web[0].outcome.as_str()), (1, "elsewhere"));
    assert_eq!(web[0].decision, "approve");
    assert_eq!(web[0].by, None, "decided by me");
    let admin = of(&id(1));
    assert_eq!(admin[0].decision, "reject");
    assert_eq!(admin[0].by.as_deref(), Some("admin"));
    assert_eq!(admin[0].justification, "Out of policy.");
    let auto = of(&id(3));
    assert_eq!(auto.len(), 1, "auto-approved by the system");
    assert_eq!(auto[0].decision, "approve");
    assert_eq!(auto[0].by, None);
    assert_eq!(
        auto[0].automated.as_deref(),
        Some(format!("by rule: {}", signoff::sim::data::AUTO_APPROVE_SOURCE).as_str())
    );
    assert_eq!(rows.len(), server_side.len());
}

#[test]
fn the_history_says_where_its_rows_come_from_and_shows_the_servers_record_offline() {
    let a1 = approval(1, "normal", "4", "3", 30);
    let mut s = state_with("https://x.service-now.com", vec![a1.clone()], 120, 30);
    update(&mut s, ch('H'));
    let server = signoff::domain::history::ServerHistory {
        read_at: Some(now() - Duration::hours(2)),
        decisions: vec![signoff::domain::history::ServerDecision {
            approval_sys_id: "b".repeat(32),
            number: "CHG0039999".into(),
            title: "Rotate the TLS certificates".into(),
            state: "rejected".into(),
            decided_at: Some(now() - Duration::hours(3)),
            approver: UserRef {
                sys_id: "u1".into(),
                name: "Alice Moreno".into(),
                ..Default::default()
            },
            decided_by: "alice".into(),
            comment: "No change window booked.".into(),
            source: String::new(),
        }],
    };
    update(
        &mut s,
        Msg::History {
            decisions: Ok(vec![]),
            server: server.clone(),
            asking: true,
        },
    );
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render_at(&s, 120, 30, now(), &theme));
    assert!(text.contains("Your decisions (1)"), "{text}");
    assert!(text.contains("asking again"), "{text}");
    assert!(text.contains("CHG0039999"), "{text}");
    assert!(text.contains("elsewhere"), "{text}");
    assert!(text.contains("“No change window booked.”"), "{text}");
    // The server cannot be reached: its record as read stays, and the line says why.
    update(
        &mut s,
        Msg::ServerHistory(Err("the instance did not answer".into())),
    );
    let text = screen(&render_at(&s, 120, 30, now(), &theme));
    assert!(
        text.contains("could not be asked (the instance did not answer)"),
        "{text}"
    );
    assert!(text.contains("CHG0039999"), "{text}");
}
