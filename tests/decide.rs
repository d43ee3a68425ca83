//! Decisions through the outbox against the built-in server: applied once, or a conflict.
//! Every client runs on the sim's clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, no_progress};
use signoff::domain::{
    Approval, ApprovalState, Clock, Decision, DecisionKind, Delivery, Justification,
    JustificationRules, ServerClock,
};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimServer};
use signoff::store::Store;
use signoff::sync::{Deliver, deliver_pending, sync_once};

fn client(server: &SimServer, clock: &Arc<ServerClock>) -> ServiceNow {
    common::client_on(server, DEMO_USER, DEMO_PASSWORD, clock)
}

struct Fixture {
    server: SimServer,
    clock: Arc<ServerClock>,
    sn: ServiceNow,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    fixture_with(common::sim_config(9, 80, 50)).await
}

/// The fixture on a sim started with `cfg`.
async fn fixture_with(cfg: signoff::sim::SimConfig) -> Fixture {
    let server = SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let clock = common::clock(&server);
    let sn = client(&server, &clock);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("d.sqlite3")).unwrap();
    sync_once(&sn, &mut store, clock.as_ref(), &no_progress)
        .await
        .unwrap();
    Fixture {
        server,
        clock,
        sn,
        store,
        _dir: dir,
    }
}

impl Fixture {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    async fn sync(&mut self) -> signoff::sync::SyncOutcome {
        sync_once(&self.sn, &mut self.store, self.clock.as_ref(), &no_progress)
            .await
            .unwrap()
    }

    fn queue(&self) -> Vec<Approval> {
        self.store.load_snapshot().unwrap().approvals
    }

    /// A requested approval whose change is in a state that can be held.
    fn requested(&self, skip: usize) -> Approval {
        self.queue()
            .into_iter()
            .filter(|a| a.state == ApprovalState::Requested && !a.change.on_hold)
            .nth(skip)
            .unwrap()
    }

    fn enqueue(&mut self, kind: DecisionKind, text: &str, a: &Approval) -> String {
        let j = Justification::parse(text, kind, &JustificationRules::default()).unwrap();
        let user = self.store.load_snapshot().unwrap().user.unwrap();
        let now = self.now();
        let d = Decision::for_approvals(kind, &j, std::slice::from_ref(a), &user, now, || {
            signoff::store::new_client_id(now)
        });
        self.store.enqueue(&d, now).unwrap();
        d[0].client_id.clone()
    }

    async fn deliver(&mut self) -> Result<(), String> {
        let report = deliver_pending(
            &self.sn,
            &mut self.store,
            self.clock.as_ref(),
            Deliver::All,
            &|_, _| {},
            true,
        )
        .await
        .map_err(|e| e.to_string())?;
        match report.stopped {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    fn delivery(&self, client_id: &str) -> Delivery {
        self.store
            .outbox(false)
            .unwrap()
            .into_iter()
            .find(|e| e.decision.client_id == client_id)
            .unwrap()
            .delivery
    }

    /// Approval comments on the server carrying this decision's reference.
    fn comments_with_ref(&self, approval: &str, client_id: &str) -> usize {
        let reference = format!("ref {}", &client_id[..12]);
        self.server
            .journal("sysapproval_approver", approval, "comments")
            .iter()
            .filter(|(_, _, text)| text.contains(&reference))
            .count()
    }
}

#[tokio::test]
async fn approve_and_reject_change_the_server_once_with_the_justification() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let b = f.requested(1);
    let approve = f.enqueue(DecisionKind::Approve, "Plan and backout look complete.", &a);
    let reject = f.enqueue(
        DecisionKind::Reject,
        "No test plan for the replica failover step.",
        &b,
    );
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&approve), Delivery::Applied { .. }));
    assert!(matches!(f.delivery(&reject), Delivery::Applied { .. }));
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "approved"
    );
    assert_eq!(
        f.server.record("sysapproval_approver", &b.sys_id).unwrap()["state"],
        "rejected"
    );
    assert_eq!(f.comments_with_ref(&a.sys_id, &approve), 1);
    let journal = f
        .server
        .journal("sysapproval_approver", &b.sys_id, "comments");
    assert!(journal.iter().any(|(_, who, text)| who == DEMO_USER
        && text.starts_with("No test plan for the replica failover step.")));

    // Delivering again sends nothing more.
    f.deliver().await.unwrap();
    assert_eq!(f.comments_with_ref(&a.sys_id, &approve), 1);

    // The local journal holds the whole story, hash-chained.
    let journal = f.store.journal().unwrap();
    let kinds: Vec<&str> = journal.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "decision.queued",
            "decision.queued",
            "decision.applied",
            "decision.applied"
        ]
    );
    let mut prev = signoff::store::GENESIS.to_string();
    for e in &journal {
        assert_eq!(e.prev_hash, prev);
        let at = signoff::store::format_time(e.created_at);
        assert_eq!(
            e.hash,
            signoff::store::chain_hash(&prev, &at, &e.kind, &e.entry)
        );
        prev = e.hash.clone();
    }
    assert!(
        journal[2].entry.contains("state=approved"),
        "{}",
        journal[2].entry
    );

    // The next sync sees both leave the queue.
    let outcome = f.sync().await;
    assert_eq!(outcome.removed, 2, "{outcome:?}");
}

#[tokio::test]
async fn hold_then_resume_round_trip() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let hold = f.enqueue(
        DecisionKind::Hold,
        "Waiting for the vendor's fixed firmware image.",
        &a,
    );
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&hold), Delivery::Applied { .. }));
    let change = f.server.record("change_request", &a.change.sys_id).unwrap();
    assert_eq!(change["on_hold"], "true");
    assert!(change["on_hold_reason"].starts_with("Waiting for the vendor"));
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "not_required"
    );

    // The held approval stays in the queue, marked on hold.
    f.sync().await;
    let held = f
        .queue()
        .into_iter()
        .find(|x| x.sys_id == a.sys_id)
        .expect("held approvals stay in the queue");
    assert!(held.change.on_hold && held.in_queue());
    assert!(DecisionKind::Approve.applies_to(&held).is_err());

    let resume = f.enqueue(DecisionKind::Resume, "Vendor image is in.", &held);
    f.deliver().await.unwrap();
    assert!(
        matches!(f.delivery(&resume), Delivery::Applied { .. }),
        "{:?}",
        f.delivery(&resume)
    );
    assert_eq!(
        f.server.record("change_request", &a.change.sys_id).unwrap()["on_hold"],
        "false"
    );

    // Release brings the approval back as a new row: the client re-queries, not re-uses ids.
    f.sync().await;
    let queue = f.queue();
    assert!(
        !queue.iter().any(|x| x.sys_id == a.sys_id),
        "the old row left"
    );
    let fresh = queue
        .iter()
        .find(|x| x.change.sys_id == a.change.sys_id)
        .expect("a new requested row for the same change");
    assert_eq!(fresh.state, ApprovalState::Requested);
}

#[tokio::test]
async fn queued_while_down_is_delivered_once_when_back() {
    let mut f = fixture().await;
    let a = f.requested(0);
    f.server.stop_accepting().await;
    let id = f.enqueue(DecisionKind::Approve, "Low risk, standard pattern.", &a);
    let err = f.deliver().await.unwrap_err();
    assert!(err.contains("Could not reach"), "{err}");
    assert!(
        f.delivery(&id).is_pending(),
        "still waiting: {:?}",
        f.delivery(&id)
    );
    f.server.start_accepting().await.unwrap();
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&id), Delivery::Applied { .. }));
    f.deliver().await.unwrap();
    assert_eq!(f.comments_with_ref(&a.sys_id, &id), 1, "exactly once");
}

#[tokio::test]
async fn someone_else_deciding_first_is_a_conflict_and_nothing_is_sent() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let id = f.enqueue(DecisionKind::Approve, "Looks fine to me, go ahead.", &a);
    assert!(
        f.server
            .decide_as(&a.sys_id, "admin", "rejected", "Not this week.")
    );
    f.deliver().await.unwrap();
    match f.delivery(&id) {
        Delivery::Conflict { reason } => {
            assert!(
                reason.contains("rejected") && reason.contains(&a.change.number),
                "{reason}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(f.comments_with_ref(&a.sys_id, &id), 0);
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "rejected"
    );
    // Discarding keeps a journal entry and empties the outbox.
    assert!(f.store.discard(&id, f.now()).unwrap());
    assert!(f.store.outbox(false).unwrap().is_empty());
    assert_eq!(
        f.store.journal().unwrap().last().unwrap().kind,
        "decision.discarded"
    );
}

#[tokio::test]
async fn a_change_edited_after_you_looked_is_a_conflict() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let id = f.enqueue(DecisionKind::Approve, "Approving the plan as written.", &a);
    f.server.advance_clock(Duration::from_secs(300));
    assert!(f.server.update_record(
        "change_request",
        &a.change.sys_id,
        &[("short_description", "Now also upgrading the kernel")]
    ));
    f.deliver().await.unwrap();
    match f.delivery(&id) {
        Delivery::Conflict { reason } => {
            assert!(
                reason.contains("after you looked") && reason.contains("title"),
                "{reason}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "requested"
    );
}

#[tokio::test]
async fn a_crash_after_the_server_applied_does_not_send_twice() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let id = f.enqueue(DecisionKind::Approve, "Checked the window and the CI.", &a);
    // The previous run sent it and died before recording the answer.
    let decision = f.store.outbox(true).unwrap().remove(0).decision;
    f.store
        .set_delivery(&id, &Delivery::Sending, None, f.now())
        .unwrap();
    f.sn.decide(&a.sys_id, ApprovalState::Approved, &decision.comment())
        .await
        .unwrap();
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&id), Delivery::Applied { .. }));
    assert_eq!(f.comments_with_ref(&a.sys_id, &id), 1, "not sent again");
}

#[tokio::test]
async fn deciding_for_a_delegator_records_on_whose_behalf() {
    let mut f = fixture().await;
    let me = f.store.load_snapshot().unwrap().user.unwrap();
    let theirs = f
        .queue()
        .into_iter()
        .find(|a| a.approver.sys_id != me.sys_id && a.state == ApprovalState::Requested)
        .expect("the seeded delegation brings a colleague's approvals");
    let id = f.enqueue(
        DecisionKind::Approve,
        "Covering for Carla; plan reviewed.",
        &theirs,
    );
    let decision = f.store.outbox(true).unwrap().remove(0).decision;
    assert_eq!(
        decision.on_behalf_of.as_ref().unwrap().sys_id,
        theirs.approver.sys_id
    );
    f.deliver().await.unwrap();
    assert!(
        matches!(f.delivery(&id), Delivery::Applied { .. }),
        "{:?}",
        f.delivery(&id)
    );
    let journal = f
        .server
        .journal("sysapproval_approver", &theirs.sys_id, "comments");
    let (_, who, text) = journal.last().unwrap();
    assert_eq!(who, DEMO_USER, "the delegate acts");
    assert!(
        text.contains(&format!("on behalf of {}", theirs.approver.name)),
        "{text}"
    );
}

#[tokio::test]
async fn a_delegation_ended_while_waiting_turns_the_decision_into_a_conflict() {
    let mut f = fixture().await;
    let me = f.store.load_snapshot().unwrap().user.unwrap();
    let theirs = f
        .queue()
        .into_iter()
        .find(|a| a.approver.sys_id != me.sys_id && a.state == ApprovalState::Requested)
        .unwrap();
    let id = f.enqueue(DecisionKind::Approve, "Covering for Carla today.", &theirs);
    // Carla comes back early and ends the delegation before it is delivered.
    let delegation = f
        .store
        .delegations()
        .unwrap()
        .into_iter()
        .find(|d| d.user.sys_id == theirs.approver.sys_id && d.delegate.sys_id == me.sys_id)
        .unwrap();
    let now = f.server.server_now();
    assert!(
        f.server
            .end_delegation(&delegation.sys_id, now - chrono::Duration::minutes(1))
    );
    f.deliver().await.unwrap();
    match f.delivery(&id) {
        Delivery::Conflict { reason } => assert!(reason.contains("no longer active"), "{reason}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        f.server
            .record("sysapproval_approver", &theirs.sys_id)
            .unwrap()["state"],
        "requested",
        "nothing was sent"
    );
    // The next sync drops Carla's approvals: the acting set changed.
    let outcome = f.sync().await;
    assert!(outcome.full, "a changed acting set means a full pull");
    assert!(f.queue().iter().all(|a| a.approver.sys_id == me.sys_id));
}

#[tokio::test]
async fn two_processes_delivering_one_outbox_send_each_decision_once() {
    let mut f = fixture().await;
    let ids: Vec<(String, String)> = (0..3)
        .map(|i| {
            let a = f.requested(i);
            let id = f.enqueue(DecisionKind::Approve, "Reviewed, fine to go ahead.", &a);
            (a.sys_id, id)
        })
        .collect();
    // A second connection to the same file, as a script running beside the console would.
    let mut other = Store::open(f.store.path()).unwrap();
    let sn2 = client(&f.server, &f.clock);
    let clock = f.clock.clone();
    let (a, b) = tokio::join!(
        deliver_pending(
            &f.sn,
            &mut f.store,
            clock.as_ref(),
            Deliver::All,
            &|_, _| {},
            true
        ),
        deliver_pending(
            &sn2,
            &mut other,
            clock.as_ref(),
            Deliver::All,
            &|_, _| {},
            true
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.applied + b.applied, 3, "{a:?} {b:?}");
    for (approval, id) in &ids {
        assert_eq!(f.comments_with_ref(approval, id), 1, "sent exactly once");
        assert!(matches!(f.delivery(id), Delivery::Applied { .. }));
    }
}

#[tokio::test]
async fn an_unreadable_answer_pauses_delivery_instead_of_failing_it() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let id = f.enqueue(DecisionKind::Approve, "Fine, the window is quiet.", &a);
    // A hibernating developer instance answers with a web page.
    f.server.faults().push(signoff::sim::Fault::HibernatingHtml);
    let err = f.deliver().await.unwrap_err();
    assert!(err.contains("hibernating"), "{err}");
    assert_eq!(f.delivery(&id), Delivery::Queued, "waits, not failed");
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&id), Delivery::Applied { .. }));
}

#[tokio::test]
async fn a_release_that_may_have_landed_stays_sending_through_a_stopped_round() {
    let mut f = fixture().await;
    let a = f.requested(0);
    f.enqueue(
        DecisionKind::Hold,
        "Waiting for the vendor's fixed image.",
        &a,
    );
    f.deliver().await.unwrap();
    f.sync().await;
    let held = f
        .queue()
        .into_iter()
        .find(|x| x.sys_id == a.sys_id)
        .unwrap();
    let resume = f.enqueue(DecisionKind::Resume, "Vendor image is in.", &held);
    // A previous run sent the release and died before recording the answer.
    let decision = f.store.outbox(true).unwrap().remove(0).decision;
    assert!(f.store.claim(&resume, f.now()).unwrap());
    f.sn.set_hold(&a.change.sys_id, false, &decision.comment())
        .await
        .unwrap();
    // This round stops on its first read: the node is down for maintenance.
    f.server.faults().push(signoff::sim::Fault::Unavailable {
        retry_after_secs: 30,
    });
    assert!(f.deliver().await.is_err());
    assert_eq!(
        f.delivery(&resume),
        Delivery::Sending,
        "it may have reached the server: it is not put back as never sent"
    );
    // So the next round still knows it may have been sent, and a release leaves no trace but
    // the state: it is recorded as applied, not as someone else's release.
    f.deliver().await.unwrap();
    assert!(
        matches!(f.delivery(&resume), Delivery::Applied { .. }),
        "{:?}",
        f.delivery(&resume)
    );
}

#[tokio::test]
async fn an_approval_no_longer_readable_is_a_conflict_and_the_rest_is_delivered() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let b = f.requested(1);
    let first = f.enqueue(DecisionKind::Approve, "Standard pattern, low risk.", &a);
    let second = f.enqueue(DecisionKind::Approve, "Standard pattern, low risk.", &b);
    // The approver lost read access to the first approval while it waited.
    f.server.faults().push_when(
        signoff::sim::When {
            method: Some("GET".into()),
            path_contains: Some(a.sys_id.clone()),
            ..Default::default()
        },
        signoff::sim::Fault::Status(403),
    );
    f.deliver().await.unwrap();
    match f.delivery(&first) {
        Delivery::Conflict { reason } => {
            assert!(reason.contains("no longer lets you read"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.delivery(&second), Delivery::Applied { .. }));
    assert_eq!(f.comments_with_ref(&a.sys_id, &first), 0, "nothing sent");
}

#[tokio::test]
async fn a_decision_replaced_while_it_was_checked_is_not_sent() {
    let mut f = fixture().await;
    let a = f.requested(0);
    let first = f.enqueue(DecisionKind::Approve, "Standard pattern, low risk.", &a);
    // The check of the first decision is held on the server; meanwhile the user decides
    // again (in another signoff, on the same outbox).
    let gate = signoff::sim::Gate::new();
    f.server.faults().push_when(
        signoff::sim::When {
            method: Some("GET".into()),
            path_contains: Some(a.sys_id.clone()),
            ..Default::default()
        },
        signoff::sim::Fault::Held(gate.clone()),
    );
    let path = f._dir.path().join("d.sqlite3");
    let clock = f.clock.clone();
    let approval = a.clone();
    let other = tokio::spawn(async move {
        gate.arrived().await;
        let mut store = Store::open(&path).unwrap();
        let user = store.load_snapshot().unwrap().user.unwrap();
        let j = Justification::parse(
            "The backout plan was never tested.",
            DecisionKind::Reject,
            &JustificationRules::default(),
        )
        .unwrap();
        let now = clock.now();
        let d = Decision::for_approvals(
            DecisionKind::Reject,
            &j,
            std::slice::from_ref(&approval),
            &user,
            now,
            || signoff::store::new_client_id(now),
        );
        let replaced = store.enqueue(&d, now).unwrap();
        assert_eq!(replaced.len(), 1, "the approve is superseded");
        gate.open();
        d[0].client_id.clone()
    });
    let report = deliver_pending(
        &f.sn,
        &mut f.store,
        f.clock.as_ref(),
        Deliver::Only(std::slice::from_ref(&first)),
        &|_, _| {},
        true,
    )
    .await
    .unwrap();
    let second = other.await.unwrap();
    assert!(report.is_empty(), "{report:?}");
    assert!(
        matches!(f.delivery(&first), Delivery::Superseded { .. }),
        "{:?}",
        f.delivery(&first)
    );
    assert_eq!(f.comments_with_ref(&a.sys_id, &first), 0, "never sent");
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "requested"
    );
    // The newer one goes out as usual.
    f.deliver().await.unwrap();
    assert!(matches!(f.delivery(&second), Delivery::Applied { .. }));
    assert_eq!(
        f.server.record("sysapproval_approver", &a.sys_id).unwrap()["state"],
        "rejected"
    );
}

/// A sim started on a data file keeps its records: a decision queued while it was down is
/// delivered once when it comes back on the same data, not refused as a conflict.
#[tokio::test]
async fn a_decision_queued_while_the_sim_was_down_is_applied_once_when_it_returns() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = common::sim_config(9, 80, 50);
    cfg.data_file = Some(data.path().join("instance.json"));
    let mut f = fixture_with(cfg.clone()).await;
    // A record made before the stop: only the data file keeps it.
    let some_change = f.queue()[0].change.sys_id.clone();
    let early = f
        .server
        .add_approval(&some_change, "ben.ishikawa")
        .expect("an approval added");
    let ids_before = f
        .server
        .query_ids("sysapproval_approver", "ORDERBYsys_id")
        .unwrap();
    assert!(ids_before.contains(&early));
    f.server.stop_accepting().await;

    // While it is down: a decision goes to the outbox.
    let a = f.requested(0);
    let text = "Approved offline: the backout plan was reviewed.";
    let client_id = f.enqueue(DecisionKind::Approve, text, &a);

    // Back on the same data and port, as a new server: the same records, and the decision
    // applies once.
    let back = SimServer::start(cfg, f.server.addr()).await.unwrap();
    std::mem::replace(&mut f.server, back).shutdown().await;
    assert_eq!(
        f.server
            .query_ids("sysapproval_approver", "ORDERBYsys_id")
            .unwrap(),
        ids_before,
        "the same records"
    );
    f.clock = common::clock(&f.server);
    f.sn = client(&f.server, &f.clock);
    for _ in 0..2 {
        f.deliver().await.unwrap();
    }
    let row = f.server.record("sysapproval_approver", &a.sys_id).unwrap();
    assert_eq!(row["state"], "approved");
    let comments = f
        .server
        .journal("sysapproval_approver", &a.sys_id, "comments");
    assert_eq!(
        comments.iter().filter(|c| c.2.contains(text)).count(),
        1,
        "{comments:?}"
    );
    let delivered = f.delivery(&client_id);
    assert!(
        matches!(delivered, Delivery::Applied { .. }),
        "{delivered:?}"
    );
    // A record made after the restart gets an id the generator had not given before.
    let user = f.store.load_snapshot().unwrap().user.unwrap();
    let made = f
        .server
        .add_approval(&a.change.sys_id, &user.user_name)
        .expect("an approval added");
    assert!(!ids_before.contains(&made), "{made}");
    assert_ne!(made, early);
    f.server.shutdown().await;
}
