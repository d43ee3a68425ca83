//! The ServiceNow adapter against the built-in server on 127.0.0.1:0, over real HTTP.

mod common;

use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{
    Backend, BackendError, Connection, Scope, Secret, no_progress, parse_instance_url,
};
use signoff::domain::{ApprovalState, DetailSource};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, Fault, SimConfig, SimServer};

fn config(changes: usize, page_cap: usize) -> SimConfig {
    common::sim_config(7, changes, page_cap)
}

async fn start(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .expect("sim starts")
}

fn client(server: &SimServer, user: &str, password: &str) -> ServiceNow {
    common::client_on(server, user, password, &common::clock(server))
}

fn user_id(server: &SimServer, login: &str) -> String {
    server
        .users()
        .into_iter()
        .find(|u| u.user_name == login)
        .expect("seeded user")
        .sys_id
}

/// The approver's queue as the sim has it: requested approvals, and those suspended because
/// their change is on hold (the seed puts one CAB agenda change on hold).
fn expected_ids(server: &SimServer, approver: &str) -> Vec<String> {
    let mine = format!("approver={approver}^source_table=change_request");
    let mut ids = server
        .query_ids(
            "sysapproval_approver",
            &format!("{mine}^state=requested^NQ{mine}^state=not_required^sysapproval.on_hold=true"),
        )
        .unwrap();
    ids.sort();
    ids
}

#[tokio::test]
async fn every_page_is_fetched_when_the_queue_exceeds_the_page_cap() {
    let server = start(config(300, 7)).await;
    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    assert_eq!(me.user_name, DEMO_USER);
    assert_eq!(me.sys_id, user_id(&server, DEMO_USER));

    let approvals = sn
        .approvals(
            std::slice::from_ref(&me.sys_id),
            Scope::Pending,
            &no_progress,
        )
        .await
        .unwrap();
    let mut got: Vec<String> = approvals.iter().map(|a| a.sys_id.clone()).collect();
    got.sort();
    let want = expected_ids(&server, &me.sys_id);
    assert!(
        want.len() > 7 * 5,
        "the queue spans many pages ({})",
        want.len()
    );
    assert_eq!(got, want, "every pending approval exactly once");
    assert!(approvals.iter().all(|a| a.state == ApprovalState::Requested
        || a.state == ApprovalState::NotRequired && a.change.on_hold));
    // Field shapes converted: numbers, references, dates, and the change's own fields.
    let a = &approvals[0];
    assert!(a.change.number.starts_with("CHG"), "{:?}", a.change.number);
    assert!(!a.change.short_description.is_empty());
    assert_eq!(a.approver.name, "Alice Moreno");
    assert_eq!(a.change.detail_source, DetailSource::Full);
    assert!(approvals.iter().any(|a| a.change.risk.is_some()));
    assert!(approvals.iter().any(|a| a.change.start_date.is_some()));
    assert!(
        approvals
            .iter()
            .any(|a| !a.change.implementation_plan.is_empty())
    );
    assert!(
        approvals
            .iter()
            .any(|a| !a.change.requested_by.name.is_empty())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn change_fields_come_from_change_request_when_dot_walking_stops_at_task() {
    let mut cfg = config(120, 10);
    cfg.dotwalk_change_fields = false;
    let server = start(cfg).await;
    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    let approvals = sn
        .approvals(&[me.sys_id], Scope::Pending, &no_progress)
        .await
        .unwrap();
    assert!(!approvals.is_empty());
    for a in &approvals {
        assert_eq!(
            a.change.detail_source,
            DetailSource::Full,
            "{}",
            a.change.number
        );
        let rec = server.record("change_request", &a.change.sys_id).unwrap();
        assert_eq!(a.change.number, rec["number"]);
        assert_eq!(
            a.change
                .risk
                .map(|r| r as u8 + 1)
                .map(|v| v.to_string())
                .unwrap_or_default(),
            rec["risk"]
        );
        assert_eq!(
            a.change.implementation_plan.is_empty(),
            rec["implementation_plan"].is_empty()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn plain_approver_gets_every_row_despite_short_pages_and_no_change_access() {
    let mut cfg = config(200, 5);
    cfg.dotwalk_change_fields = false;
    let server = start(cfg).await;
    let sn = client(&server, "ben.ishikawa", DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    let approvals = sn
        .approvals(
            std::slice::from_ref(&me.sys_id),
            Scope::Pending,
            &no_progress,
        )
        .await
        .unwrap();
    let mut got: Vec<String> = approvals.iter().map(|a| a.sys_id.clone()).collect();
    got.sort();
    assert!(!got.is_empty());
    assert_eq!(got, expected_ids(&server, &me.sys_id));
    // change_request is forbidden for this user: the queue still shows the approval's fields.
    for a in &approvals {
        assert_eq!(a.change.detail_source, DetailSource::Summary);
        assert!(a.change.number.starts_with("CHG"));
        assert!(!a.change.short_description.is_empty());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn plain_approver_sees_full_details_when_dot_walking_reaches_the_change() {
    let server = start(config(200, 50)).await;
    let sn = client(&server, "ben.ishikawa", DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    let approvals = sn
        .approvals(&[me.sys_id], Scope::Pending, &no_progress)
        .await
        .unwrap();
    assert!(!approvals.is_empty());
    assert!(
        approvals
            .iter()
            .all(|a| a.change.detail_source == DetailSource::Full)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_mapped_to_sentences() {
    let server = start(config(30, 100)).await;

    let err = client(&server, DEMO_USER, "wrong")
        .current_user()
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Unauthorized), "{err:?}");
    assert!(err.to_string().contains("SIGNOFF_PASSWORD"));

    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    let ids = [me.sys_id.clone()];

    server.faults().push(Fault::Status(500));
    let err = sn
        .approvals(&ids, Scope::Pending, &no_progress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());

    server.faults().push(Fault::RateLimited {
        retry_after_secs: 7,
    });
    let err = sn
        .approvals(&ids, Scope::Pending, &no_progress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BackendError::RateLimited {
                retry_after: Some(7)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("retry after 7 s"));

    server.faults().push(Fault::MalformedJson);
    let err = sn
        .approvals(&ids, Scope::Pending, &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("malformed"), "{err}");

    server.faults().push(Fault::HibernatingHtml);
    let err = sn.current_user().await.unwrap_err();
    assert!(err.to_string().contains("hibernating"), "{err}");

    let err = client(&server, "nobody.here", DEMO_PASSWORD)
        .current_user()
        .await
        .unwrap_err();
    // Unknown users cannot authenticate on the sim; a real instance answers 401 too.
    assert!(
        matches!(
            err,
            BackendError::Unauthorized | BackendError::UnknownUser(_)
        ),
        "{err:?}"
    );

    // After the faults, the same client works again.
    assert!(
        !sn.approvals(&ids, Scope::Pending, &no_progress)
            .await
            .unwrap()
            .is_empty()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unreachable_instance() {
    // Bind and release a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sn = ServiceNow::new(Connection {
        instance: parse_instance_url(&format!("http://127.0.0.1:{port}")).unwrap(),
        user: "a".into(),
        password: Secret::new("b"),
    })
    .unwrap();
    let err = sn.current_user().await.unwrap_err();
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("Could not reach"), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn nonsense_in_a_record_is_refused_with_its_name() {
    let server = start(config(60, 100)).await;
    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let me = sn.current_user().await.unwrap();
    let ids = expected_ids(&server, &me.sys_id);
    assert!(server.update_record("sysapproval_approver", &ids[0], &[("due_date", "soon-ish")]));
    let err = sn
        .approvals(&[me.sys_id], Scope::Pending, &no_progress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::BadRecord { .. }), "{err:?}");
    assert!(
        text.contains(&ids[0]) && text.contains("due_date"),
        "{text}"
    );
    server.shutdown().await;
}

/// An instance that ignores a part of the query it does not understand (here the approver
/// condition) answers everyone's approvals: the adapter keeps only those asked for, and says
/// so, for the full pull and for a lookup by id.
#[tokio::test]
async fn rows_the_query_did_not_ask_for_are_left_out() {
    let mut cfg = config(200, 50);
    cfg.unknown_query_fields = vec!["approver".into()];
    let server = start(cfg).await;
    let me = user_id(&server, DEMO_USER);
    // The sim really answers more than asked.
    let everyone = server
        .query_ids(
            "sysapproval_approver",
            "state=requested^source_table=change_request",
        )
        .unwrap();
    let want = expected_ids(&server, &me);
    assert!(
        everyone.len() > want.len() + 20,
        "{} vs {}",
        everyone.len(),
        want.len()
    );

    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let got = sn
        .approvals(std::slice::from_ref(&me), Scope::Pending, &no_progress)
        .await
        .unwrap();
    let mut ids: Vec<String> = got.iter().map(|a| a.sys_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, want, "only her approvals");
    assert!(got.iter().all(|a| a.approver.sys_id == me));
    let notices = sn.take_notices();
    assert!(
        notices.iter().any(|n| n.contains("left out")),
        "{notices:?}"
    );
    // By id: an id not asked for is not taken either.
    let other = everyone
        .iter()
        .find(|id| !want.contains(id))
        .unwrap()
        .clone();
    let by_id = sn
        .approvals(
            std::slice::from_ref(&me),
            Scope::PendingIds(vec![want[0].clone(), other.clone()]),
            &no_progress,
        )
        .await
        .unwrap();
    assert_eq!(
        by_id.iter().map(|a| a.sys_id.clone()).collect::<Vec<_>>(),
        vec![want[0].clone()]
    );
    server.shutdown().await;
}

/// An approval of something other than a change, answered by an instance that ignored the
/// `source_table` part of the query, is left out too.
#[tokio::test]
async fn approvals_of_other_records_are_left_out() {
    let mut cfg = config(120, 50);
    cfg.unknown_query_fields = vec!["source_table".into()];
    let server = start(cfg).await;
    let me = user_id(&server, DEMO_USER);
    let want = expected_ids(&server, &me);
    let other = want[0].clone();
    assert!(server.update_record(
        "sysapproval_approver",
        &other,
        &[("source_table", "sc_req_item")]
    ));
    let sn = client(&server, DEMO_USER, DEMO_PASSWORD);
    let got = sn
        .approvals(std::slice::from_ref(&me), Scope::Pending, &no_progress)
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|a| a.sys_id.as_str()).collect();
    assert!(
        !ids.contains(&other.as_str()),
        "the request item's approval is left out"
    );
    assert_eq!(ids.len(), want.len() - 1);
    assert!(sn.take_notices().iter().any(|n| n.contains("left out")));
    server.shutdown().await;
}

#[tokio::test]
async fn the_queue_and_the_delegations_carry_each_persons_zone_from_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _, store) = common::synced_demo(7, 120, dir.path()).await;
    let zone_of = |id: &str| server.record("sys_user", id).unwrap()["time_zone"].clone();
    let queue = store.load_snapshot().unwrap().approvals;
    assert!(!queue.is_empty());
    for a in &queue {
        assert_eq!(a.approver.time_zone, zone_of(&a.approver.sys_id), "{a:?}");
        assert!(a.approver.zone().is_some(), "{:?}", a.approver);
    }
    let delegations = store.delegations().unwrap();
    assert!(!delegations.is_empty());
    for d in &delegations {
        assert_eq!(d.user.time_zone, zone_of(&d.user.sys_id), "{d:?}");
        assert_eq!(d.delegate.time_zone, zone_of(&d.delegate.sys_id), "{d:?}");
    }
}
