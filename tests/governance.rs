//! Governance through the binary against the sim (issue 17): a changed policy is not used
//! until confirmed, the confirmation is journaled and every decision names the policy hash
//! in force; approving outside the standard path needs a risk acceptance, which goes to the
//! instance with the decision and into the journal and the export.

mod common;

use std::path::Path;

use common::{run_as_demo as run, stderr as err, stdout as out};
use signoff::domain::{Approval, ApprovalState, ChangeType, Policy};
use signoff::store::Store;

fn store_path(home: &Path) -> std::path::PathBuf {
    home.join("data").join("default.sqlite3")
}

/// The demo user's own pending approvals, as the store has them after a sync.
fn mine(home: &Path) -> Vec<Approval> {
    let store = Store::open(&store_path(home)).unwrap();
    let snap = store.load_snapshot().unwrap();
    let me = snap.user.unwrap().sys_id;
    snap.approvals
        .into_iter()
        .filter(|a| {
            a.approver.sys_id == me && a.state == ApprovalState::Requested && !a.change.on_hold
        })
        .collect()
}

/// A sim and a home whose cache the binary synced from it, as the demo approver.
async fn synced() -> (signoff::sim::SimServer, String, tempfile::TempDir) {
    let server = common::sim(41, 80, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let o = run(home.path(), &url, &["sync"]).await;
    assert!(o.status.success(), "{}", err(&o));
    (server, url, home)
}

async fn export(home: &Path) -> Vec<serde_json::Value> {
    let o = common::signoff(home, &["audit", "export", "--format", "json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["decisions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_changed_policy_waits_for_confirmation_which_is_journaled_and_decisions_name_its_hash() {
    let (_server, url, home) = synced().await;
    let h = home.path();
    let shown = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(o)))
    };
    let o = run(h, &url, &["policy", "show", "--output", "json"]).await;
    let first = shown(&o)["hash"].as_str().unwrap().to_string();
    assert_eq!(
        first,
        signoff::domain::governance::policy_hash(&Policy::default())
    );

    // A shorter response time for Critical: not in force until confirmed.
    common::write_config(h, "[policy.sla_hours]\ncritical = 2.0\n");
    let o = run(h, &url, &["queue", "--offline", "--output", "json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("differs from the confirmed one")
            && err(&o).contains("signoff policy confirm"),
        "{}",
        err(&o)
    );
    let o = run(h, &url, &["policy", "diff", "--output", "table"]).await;
    assert!(out(&o).contains("- critical = 4.0"), "{}", out(&o));
    assert!(out(&o).contains("+ critical = 2.0"), "{}", out(&o));
    let o = run(h, &url, &["policy", "show", "--output", "json"]).await;
    let v = shown(&o);
    assert_eq!(
        v["hash"],
        first.as_str(),
        "the confirmed policy is in force"
    );
    let pending = v["pending_hash"].as_str().unwrap().to_string();
    assert_eq!(v["policy"]["sla_hours"]["critical"], 4.0);

    // Without a terminal, confirming needs --yes.
    let o = run(h, &url, &["policy", "confirm"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--yes"), "{}", err(&o));
    let o = run(h, &url, &["policy", "confirm", "--yes"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains(&pending[..12]), "{}", out(&o));
    let o = run(h, &url, &["policy", "show", "--output", "json"]).await;
    let v = shown(&o);
    assert_eq!(v["hash"], pending.as_str());
    assert!(v["pending_hash"].is_null());
    let o = run(h, &url, &["queue", "--offline", "--output", "json"]).await;
    assert!(!err(&o).contains("differs"), "{}", err(&o));

    let store = Store::open(&store_path(h)).unwrap();
    let entries = store.journal().unwrap();
    let confirmed: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "policy.confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1);
    let entry: serde_json::Value = serde_json::from_str(&confirmed[0].entry).unwrap();
    assert_eq!(entry["old_hash"], first.as_str());
    assert_eq!(entry["new_hash"], pending.as_str());
    let changed: Vec<&str> = entry["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(changed, ["- critical = 4.0", "+ critical = 2.0"]);
    drop(store);

    // A decision names the policy in force.
    let a = &mine(h)[0];
    let o = run(
        h,
        &url,
        &[
            "reject",
            &a.change.number,
            "-m",
            "No test evidence attached.",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let rows = export(h).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["policy_hash"], pending.as_str());
    assert_eq!(rows[0]["risk_acceptance"], "");
}

#[tokio::test]
async fn approving_outside_the_standard_path_needs_a_risk_acceptance_recorded_everywhere() {
    let (server, url, home) = synced().await;
    let h = home.path();
    let policy = Policy::default();
    // One of my changes made an emergency change no CAB has reviewed, on the instance.
    let first = mine(h)[0].clone();
    assert!(server.update_record(
        "change_request",
        &first.change.sys_id,
        &[("type", "emergency"), ("cab_recommendation", "")],
    ));
    let o = run(h, &url, &["sync"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let queue = mine(h);
    let emergency = queue.iter().find(|a| a.sys_id == first.sys_id).unwrap();
    assert_eq!(emergency.change.change_type, Some(ChangeType::Emergency));
    assert!(emergency.change.cab_recommendation.is_empty());
    let tier = policy.classify(&emergency.change).tier;
    let tier_name = format!("{tier:?}").to_lowercase();
    common::confirmed_config(
        h,
        &format!(
            "[policy.deviations]\nemergency_without_cab = true\nsenior_role = \"Change Manager\"\nsenior_for = [\"emergency_without_cab\"]\n[policy.deviations.max_risk]\n{tier_name} = \"low\"\n"
        ),
    )
    .await;
    let number = emergency.change.number.as_str();
    let why = "Outage fix; backout is a config revert.";
    // Without an acceptance: refused, saying why and what to give.
    let o = run(h, &url, &["approve", number, "-m", why]).await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("emergency change no CAB has reviewed")
            && err(&o).contains("--accept-risk"),
        "{}",
        err(&o)
    );
    // Too short.
    let o = run(
        h,
        &url,
        &["approve", number, "-m", why, "--accept-risk", "ok"],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("at least 20 characters"), "{}", err(&o));
    let accept = "Customer outage outweighs the unreviewed risk; ECAB reviews tomorrow.";
    let o = run(
        h,
        &url,
        &["approve", number, "-m", why, "--accept-risk", accept],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("Change Manager must also approve"),
        "{}",
        err(&o)
    );

    // On the instance, with the decision.
    let comments = common::rows(
        &server,
        "sys_journal_field",
        &format!("element_id={}^element=comments", emergency.sys_id),
        "value",
    )
    .await;
    let text: Vec<&str> = comments
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    assert!(
        text.iter().any(|t| t.contains(why)
            && t.contains("Risk accepted (it is an emergency change no CAB has reviewed")
            && t.contains(accept)
            && t.contains("Also to be approved by: Change Manager")),
        "{text:?}"
    );
    // In the journal and the export, as fields of their own.
    let rows = export(h).await;
    let row = rows.iter().find(|r| r["change"] == number).unwrap();
    assert_eq!(row["risk_acceptance"], accept);
    assert!(
        row["deviations"]
            .as_str()
            .unwrap()
            .contains("emergency_without_cab"),
        "{row}"
    );
    assert_eq!(row["senior_role"], "Change Manager");
    assert_eq!(row["outcome"], "applied");

    // Rejecting is never a deviation; an acceptance given anyway is not recorded.
    let other = queue.iter().find(|a| a.sys_id != emergency.sys_id).unwrap();
    let o = run(
        h,
        &url,
        &[
            "reject",
            &other.change.number,
            "-m",
            "Not this week, the freeze holds.",
            "--accept-risk",
            accept,
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("not needed"), "{}", err(&o));
    let rows = export(h).await;
    let row = rows
        .iter()
        .find(|r| r["change"] == other.change.number.as_str())
        .unwrap();
    assert_eq!(row["risk_acceptance"], "");
}

#[tokio::test]
async fn the_console_asks_about_a_changed_policy_and_on_yes_places_the_queue_by_it() {
    use crossterm::event::KeyCode;
    use signoff::domain::governance::PolicyReview;
    use signoff::sync::{EngineConfig, SyncCommand, SyncEvent, run_engine};
    use signoff::ui::{AppState, Effect, Msg, Theme, update};
    let (_server, _url, home) = synced().await;
    let h = home.path();
    let mut store = Store::open(&store_path(h)).unwrap();
    let confirmed = store
        .confirmed_policy()
        .unwrap()
        .expect("adopted at the first run");
    let mut proposed = confirmed.policy.clone();
    proposed.sla_hours.critical = 2.0;
    proposed.sla_hours.moderate = 3.0;
    let review = PolicyReview::of(&confirmed, &proposed).unwrap();
    let now = store.sync_state().unwrap().synced_at.unwrap();
    let console = |review: PolicyReview| {
        let mut s = AppState::new(
            "https://example.service-now.com".into(),
            signoff::sim::DEMO_USER.into(),
            confirmed.policy.clone(),
            chrono::FixedOffset::east_opt(0).unwrap(),
        );
        update(&mut s, Msg::Resize(80, 24));
        update(&mut s, Msg::Tick(now));
        let snap = store.load_snapshot().unwrap();
        update(
            &mut s,
            common::ui::synced(snap.user.unwrap(), snap.approvals, vec![], now),
        );
        s.ask_policy(review, "alice.moreno".into());
        s
    };
    let theme = Theme::named("dark", false).unwrap();
    let key = |s: &mut AppState, c: char| update(s, common::ui::key(KeyCode::Char(c)));

    // No: the confirmed policy stays, and the status line says how to confirm later.
    let mut s = console(review.clone());
    let text = common::ui::screen(&common::ui::render_at(&s, 80, 24, now, &theme));
    assert!(text.contains("Put policy"), "{text}");
    assert!(text.contains("- critical = 4.0"), "{text}");
    assert!(text.contains("+ critical = 2.0"), "{text}");
    assert!(text.contains("+ moderate = 3.0"), "{text}");
    assert!(text.contains("put it in force"), "{text}");
    assert!(key(&mut s, 'n').is_empty());
    assert!(s.confirm.is_none() && s.policy_review.is_none());
    assert_eq!(s.policy, confirmed.policy);
    let text = common::ui::screen(&common::ui::render_at(&s, 80, 24, now, &theme));
    assert!(!text.contains("Put policy"), "{text}");
    assert!(
        s.messages
            .log
            .last()
            .unwrap()
            .text
            .contains("signoff policy confirm"),
        "{:?}",
        s.messages.log
    );

    // Yes: the console asks for it to be confirmed; the journal entry is written, the
    // engine places the queue by it and the console shows the new order.
    let mut s = console(review);
    let effects = key(&mut s, 'y');
    let [Effect::ConfirmPolicy { policy, by }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(**policy, proposed);
    let confirmed = Box::new(store.confirm_policy(policy, by, now).unwrap());
    update(&mut s, Msg::PolicyConfirmed { confirmed });
    assert!(s.policy_review.is_none());
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Store::open(&store_path(h)).unwrap();
    tokio::spawn(run_engine::<signoff::backend::servicenow::ServiceNow>(
        None,
        engine,
        EngineConfig::default(),
        std::sync::Arc::new(signoff::domain::FixedClock(now)),
        cmd_rx,
        ev_tx,
    ));
    cmd_tx.send(SyncCommand::PolicyConfirmed).unwrap();
    let event = loop {
        match ev_rx.recv().await.unwrap() {
            e @ SyncEvent::PolicyInForce { .. } => break e,
            _ => continue,
        }
    };
    let SyncEvent::PolicyInForce {
        policy: placed,
        index,
    } = &event
    else {
        unreachable!()
    };
    assert_eq!(**placed, proposed);
    let want = signoff::domain::build_queue(&proposed, store.load_snapshot().unwrap().approvals);
    let order: Vec<&str> = index.keys.iter().map(|k| &*k.sys_id).collect();
    let expected: Vec<&str> = want.iter().map(|e| e.approval.sys_id.as_str()).collect();
    assert_eq!(order, expected);
    for (k, e) in index.keys.iter().zip(&want) {
        assert_eq!(
            k.deadline,
            e.sla.deadline.timestamp_millis(),
            "{}",
            k.sys_id
        );
    }
    assert!(
        want.iter()
            .any(|e| e.tier.tier == signoff::domain::RiskTier::Moderate),
        "the new response time moves some rows"
    );
    update(&mut s, signoff::ui::run::translate(event));
    assert_eq!(s.policy, proposed);
    let text = common::ui::screen(&common::ui::render_at(&s, 80, 24, now, &theme));
    assert!(!text.contains("Put policy"), "{text}");
    let journal = store.journal().unwrap();
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.kind == "policy.confirmed")
            .count(),
        1,
        "the console's yes, once"
    );
}
