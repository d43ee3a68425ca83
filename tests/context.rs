//! The change in full (issue 16) against the sim: every approval on the change with its
//! state and comments, the change's journal, its attachments and CAB facts; cached in the
//! store and shown in the detail view, offline too.

mod common;

use std::collections::BTreeSet;

use common::rows;
use signoff::backend::Backend;
use signoff::domain::Clock;
use signoff::sim::DEMO_USER;
use signoff::store::Store;
use signoff::ui::{AppState, Mode, Msg, Theme, update, views};

#[tokio::test]
async fn the_change_in_full_is_read_from_the_instance_cached_and_shown_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock, sn, mut store) = common::synced_demo(7, 120, dir.path()).await;
    let queue = store.load_snapshot().unwrap().approvals;
    // A change with attachments and several approvers.
    let mut chosen = None;
    for a in &queue {
        let files = rows(
            &server,
            "sys_attachment",
            &format!("table_sys_id={}", a.change.sys_id),
            "file_name,size_bytes",
        )
        .await;
        let approvals = rows(
            &server,
            "sysapproval_approver",
            &format!("sysapproval={}", a.change.sys_id),
            "sys_id,state",
        )
        .await;
        if !files.is_empty() && approvals.len() >= 2 {
            chosen = Some((a.clone(), files, approvals));
            break;
        }
    }
    let (a, files, approvals) = chosen.expect("a change with attachments and approvers");
    let ctx = sn
        .change_context(&a.sys_id, &a.change.sys_id)
        .await
        .unwrap();
    assert_eq!(ctx.change_sys_id, a.change.sys_id);
    let want: BTreeSet<String> = approvals
        .iter()
        .map(|r| r["sys_id"].as_str().unwrap().to_string())
        .collect();
    let got: BTreeSet<String> = ctx.approvals.iter().map(|o| o.sys_id.clone()).collect();
    assert_eq!(got, want, "every approval on the change");
    assert!(ctx.approvals.iter().any(|o| o.sys_id == a.sys_id));
    for o in &ctx.approvals {
        let r = approvals
            .iter()
            .find(|r| r["sys_id"] == o.sys_id.as_str())
            .unwrap();
        assert_eq!(o.state_value, r["state"].as_str().unwrap());
        // A person's approval names them; one without an approver is the instance's own.
        assert!(
            !o.approver.name.is_empty()
                || o.automated().as_deref() == Some("by rule: Standard change pre-approval"),
            "{o:?}"
        );
    }
    let names: BTreeSet<String> = files
        .iter()
        .map(|r| r["file_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ctx.attachments
            .iter()
            .map(|f| f.name.clone())
            .collect::<BTreeSet<_>>(),
        names
    );
    for f in &ctx.attachments {
        let r = files
            .iter()
            .find(|r| r["file_name"] == f.name.as_str())
            .unwrap();
        assert_eq!(f.size.to_string(), r["size_bytes"].as_str().unwrap());
    }
    assert_eq!(ctx.cab.required, a.change.cab_required);
    assert!(!ctx.cab.conflict_status.is_empty());
    assert!(ctx.hidden.is_empty(), "{:?}", ctx.hidden);

    // A comment written through the instance shows as an entry of the change's approval.
    let decided = ctx
        .approvals
        .iter()
        .find(|o| !o.comments.is_empty())
        .map(|o| o.comments[0].clone());
    if let Some(c) = &decided {
        assert!(
            !c.author.is_empty() && !c.at.is_empty() && !c.text.is_empty(),
            "{c:?}"
        );
    }

    // Cached, then shown in the detail view with the instance gone.
    store.put_change_context(&ctx).unwrap();
    let now = clock.now();
    server.shutdown().await;
    let cached = Store::open(store.path()).unwrap();
    assert_eq!(
        cached.change_context(&a.change.sys_id).unwrap().as_ref(),
        Some(&ctx)
    );
    let me = store.sync_state().unwrap().user.unwrap();
    let ctx_cached = cached.change_context(&a.change.sys_id).unwrap().unwrap();
    let (mut s, mut t, text) = detail_of(me, &a, ctx_cached, now);
    let theme = Theme::named("dark", false).unwrap();
    // The CAB facts are at the top; the approvals, journal and attachments follow the plans.
    assert!(text.contains("CAB       "), "{text}");
    let mut all = text.clone();
    for _ in 0..6 {
        update(
            &mut s,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::PageDown,
                crossterm::event::KeyModifiers::NONE,
            )),
        );
        t.draw(|f| views::draw(f, &s, now, &theme)).unwrap();
        let buf = t.backend().buffer();
        all.push_str(
            &(0..60)
                .map(|y| (0..120).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
                .collect::<String>(),
        );
    }
    assert!(all.contains("Approvals on this change"), "{all}");
    let other = ctx.approvals.iter().find(|o| o.sys_id != a.sys_id).unwrap();
    assert!(all.contains(&other.approver.name), "{all}");
    assert!(all.contains("(this approval)"), "{all}");
    assert!(all.contains("(as cached"), "{all}");
    assert!(all.contains("Attachments"), "{all}");
    assert!(all.contains(&ctx.attachments[0].name), "{all}");
}

/// The console showing approval `a` in full with `ctx` as the change's context (as read from
/// the cache), at 120x60: the state, its terminal and the first screen's text.
fn detail_of(
    me: signoff::domain::User,
    a: &signoff::domain::Approval,
    ctx: signoff::domain::context::ChangeContext,
    now: chrono::DateTime<chrono::Utc>,
) -> (
    AppState,
    ratatui::Terminal<ratatui::backend::TestBackend>,
    String,
) {
    let mut s = AppState::new(
        "https://example.service-now.com".into(),
        DEMO_USER.into(),
        signoff::domain::Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(120, 60));
    s.user = Some(me.clone());
    update(&mut s, Msg::Tick(now));
    update(&mut s, common::ui::synced(me, vec![a.clone()], vec![], now));
    let effects = update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    assert_eq!(s.mode, Mode::Detail);
    assert!(
        effects.iter().any(|e| matches!(e, signoff::ui::Effect::ChangeContext { change_sys_id, .. } if *change_sys_id == a.change.sys_id)),
        "{effects:?}"
    );
    update(
        &mut s,
        Msg::Context {
            change_sys_id: a.change.sys_id.clone(),
            result: Ok(Box::new(ctx)),
            fresh: false,
        },
    );
    let theme = Theme::named("dark", false).unwrap();
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 60)).unwrap();
    t.draw(|f| views::draw(f, &s, now, &theme)).unwrap();
    let buf = t.backend().buffer();
    let text: String = (0..60)
        .map(|y| (0..120).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
        .collect();
    (s, t, text)
}

#[tokio::test]
async fn the_instances_own_slas_on_a_change_count_instead_of_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock, sn, store) = common::synced_demo(7, 120, dir.path()).await;
    let queue = store.load_snapshot().unwrap().approvals;
    let mut found = None;
    for a in &queue {
        let slas = rows(
            &server,
            "task_sla",
            &format!("task={}", a.change.sys_id),
            "sys_id,sla,stage,planned_end_time,has_breached",
        )
        .await;
        if !slas.is_empty() {
            found = Some((a.clone(), slas));
            break;
        }
    }
    let (a, slas) = found.expect("a change with an SLA of the instance's own");
    let ctx = sn
        .change_context(&a.sys_id, &a.change.sys_id)
        .await
        .unwrap();
    assert_eq!(ctx.slas.len(), slas.len());
    let s = &ctx.slas[0];
    assert!(s.running(), "{s:?}");
    assert!(s.name.contains("approval"), "{s:?}");
    assert_eq!(
        s.breach_at.unwrap().format("%Y-%m-%d %H:%M:%S").to_string(),
        slas[0]["planned_end_time"].as_str().unwrap()
    );
    assert_eq!(
        s.has_breached,
        slas[0]["has_breached"].as_str().unwrap() == "true"
    );
    let me = store.sync_state().unwrap().user.unwrap();
    let (_, _, text) = detail_of(me, &a, ctx.clone(), clock.now());
    let line = common::ui::line_with(&text, "(instance SLA)");
    assert!(line.contains(&s.name), "{text}");
    let estimate = common::ui::line_with(&text, "signoff's estimate:");
    assert!(!estimate.contains("instance"), "its own clock: {estimate}");

    // The sync kept the SLA with the approval: its clock, and so its place in the queue, is
    // the instance's breach time, the same in the store's order as in memory.
    let policy = signoff::domain::Policy::default();
    let clock_of = |a: &signoff::domain::Approval| {
        let tier = policy.classify(&a.change).tier;
        signoff::domain::SlaClock::for_approval(&policy, tier, a)
    };
    assert_eq!(a.change.instance_sla.as_ref(), Some(s), "{a:?}");
    let c = clock_of(&a);
    assert_eq!(c.source, signoff::domain::sla::DeadlineSource::InstanceSla);
    assert_eq!(Some(c.deadline), s.breach_at);
    let order = |queue: &[signoff::domain::Approval]| -> Vec<String> {
        signoff::domain::build_queue(&policy, queue.to_vec())
            .into_iter()
            .map(|e| e.approval.sys_id.clone())
            .collect()
    };
    let indexed: Vec<String> = store
        .queue_head(queue.len())
        .unwrap()
        .into_iter()
        .map(|a| a.sys_id)
        .collect();
    assert_eq!(indexed, order(&queue));

    // The instance completes the SLA: the next (incremental) sync sees it stop, and the
    // approval's clock is signoff's estimate again.
    for row in &slas {
        common::patch_record(
            &server,
            "task_sla",
            "admin",
            row["sys_id"].as_str().unwrap(),
            serde_json::json!({"stage": "completed", "active": "false"}),
        )
        .await;
    }
    let mut store = store;
    let outcome = common::sync(&sn, &mut store, &clock).await;
    assert!(!outcome.full, "{outcome:?}");
    let now = store
        .approvals_by_id(std::slice::from_ref(&a.sys_id))
        .unwrap();
    assert_eq!(now[0].change.instance_sla, None, "{:?}", now[0]);
    assert_ne!(
        clock_of(&now[0]).source,
        signoff::domain::sla::DeadlineSource::InstanceSla
    );
}
