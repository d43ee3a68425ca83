//! Automated approvals in plain view (issue 17), against the sim: a timed auto-approval shows
//! its countdown in the queue and the detail, approves by itself at its due date, and a hold
//! during the window stops it; approvals made by a rule or the system are marked automated
//! in the change in full.

mod common;

use chrono::Duration;
use signoff::backend::{Backend, no_progress};
use signoff::domain::governance::auto_approves_at;
use signoff::domain::{ApprovalState, Clock, Policy};
use signoff::sim::DEMO_USER;
use signoff::sim::data::{AUTO_APPROVE_SOURCE, RULE_SOURCE};
use signoff::sync::sync_once;
use signoff::ui::{AppState, Msg, Theme, update, views};

fn screen(s: &AppState, now: chrono::DateTime<chrono::Utc>) -> String {
    let theme = Theme::named("dark", false).unwrap();
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 45)).unwrap();
    t.draw(|f| views::draw(f, s, now, &theme)).unwrap();
    let buf = t.backend().buffer();
    (0..45)
        .map(|y| (0..140).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
        .collect()
}

#[tokio::test]
async fn a_timed_auto_approval_counts_down_approves_at_its_due_date_and_a_hold_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock, sn, mut store) = common::synced_demo(17, 120, dir.path()).await;
    let snap = store.load_snapshot().unwrap();
    let me = snap.user.clone().unwrap();
    let mine: Vec<_> = snap
        .approvals
        .iter()
        .filter(|a| {
            a.approver.sys_id == me.sys_id
                && a.state == ApprovalState::Requested
                && !a.change.on_hold
        })
        .cloned()
        .collect();
    assert!(mine.len() >= 2);
    let (a, b) = (&mine[0], &mine[1]);
    // Both become timed auto-approvals due in two hours, on the instance.
    let due = signoff::sim::table::fmt_ts((clock.now() + Duration::hours(2)).timestamp());
    for x in [a, b] {
        assert!(server.update_record(
            "sysapproval_approver",
            &x.sys_id,
            &[("approval_source", AUTO_APPROVE_SOURCE), ("due_date", &due)],
        ));
    }
    sync_once(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    let snap = store.load_snapshot().unwrap();
    let fresh = snap
        .approvals
        .iter()
        .find(|x| x.sys_id == a.sys_id)
        .unwrap();
    assert_eq!(fresh.source, AUTO_APPROVE_SOURCE);
    let policy = Policy::default();
    let at = auto_approves_at(&policy, fresh).expect("a timed auto-approval");
    assert!((at - clock.now() - Duration::hours(2)).num_seconds().abs() <= 1);

    // The console says so, in the row and the detail.
    let now = clock.now();
    let mut s = AppState::new(
        "https://example.service-now.com".into(),
        DEMO_USER.into(),
        policy.clone(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(140, 45));
    update(&mut s, Msg::Tick(now));
    update(
        &mut s,
        common::ui::synced(me.clone(), vec![fresh.clone()], vec![], now),
    );
    let text = screen(&s, now);
    assert!(
        text.contains("⚙ auto 1h 59m") || text.contains("⚙ auto 2h 00m"),
        "{text}"
    );
    update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    let text = screen(&s, now);
    assert!(
        text.contains("unless paused (p puts the change on hold)"),
        "{text}"
    );
    assert!(text.contains("by rule: Change approval policy"), "{text}");

    // B's change is put on hold during the window; then the window ends.
    sn.set_hold(
        &b.change.sys_id,
        true,
        "Waiting for the vendor's patch notes.",
    )
    .await
    .unwrap();
    server.advance_clock(std::time::Duration::from_secs(3 * 3600));
    let state_of = |id: &str| {
        let server = &server;
        let id = id.to_string();
        async move {
            common::rows(
                server,
                "sysapproval_approver",
                &format!("sys_id={id}"),
                "state,sys_updated_by",
            )
            .await
            .remove(0)
        }
    };
    let ra = state_of(&a.sys_id).await;
    assert_eq!(ra["state"], "approved", "{ra}");
    assert_eq!(ra["sys_updated_by"], "system", "{ra}");
    let rb = state_of(&b.sys_id).await;
    assert_ne!(rb["state"], "approved", "the hold stopped it: {rb}");

    // In the change in full, A is marked automated, by its rule.
    let ctx = sn
        .change_context(&a.sys_id, &a.change.sys_id)
        .await
        .unwrap();
    let o = ctx.approvals.iter().find(|o| o.sys_id == a.sys_id).unwrap();
    assert_eq!(
        o.automated().as_deref(),
        Some(format!("by rule: {AUTO_APPROVE_SOURCE}").as_str())
    );
    // A person's approval is not.
    assert!(
        ctx.approvals
            .iter()
            .filter(|o| o.sys_id != a.sys_id && !o.approver.sys_id.is_empty())
            .all(|o| o.source.is_empty() == o.automated().is_none() || o.decided_by == "system")
    );
}

#[tokio::test]
async fn a_standard_changes_pre_approval_is_marked_as_made_by_a_rule() {
    let server = common::sim(17, 120, 200).await;
    let rows = common::rows(
        &server,
        "sysapproval_approver",
        &format!("approval_source={RULE_SOURCE}"),
        "sys_id,sysapproval,state,sys_updated_by",
    )
    .await;
    assert!(!rows.is_empty());
    // A reference reads as {link, value} in value mode.
    let change = rows[0]["sysapproval"]["value"]
        .as_str()
        .or(rows[0]["sysapproval"].as_str())
        .unwrap();
    let (_, sn) = common::demo_client(&server);
    let approval = rows[0]["sys_id"].as_str().unwrap();
    let ctx = sn.change_context(approval, change).await.unwrap();
    let o = ctx
        .approvals
        .iter()
        .find(|o| o.sys_id == approval)
        .expect("the rule's approval is on the change");
    assert_eq!(o.state_value, "approved");
    assert_eq!(
        o.automated().as_deref(),
        Some(format!("by rule: {RULE_SOURCE}").as_str())
    );
}
