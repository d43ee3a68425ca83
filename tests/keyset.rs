//! The full pull pages by key (`ORDERBYsys_id`, `sys_id>` the last key, four ranges in
//! parallel): every row exactly once against the sim with a small page cap, with pages that
//! ACLs shorten or empty, and with rows added and removed while it pages.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use signoff::backend::servicenow::ServiceNow;
use signoff::backend::{Backend, Scope, no_progress};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimServer};

async fn sim(page_cap: usize) -> SimServer {
    let mut cfg = common::sim_config(91, 240, page_cap);
    cfg.frozen_clock = true;
    SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap()
}

/// The queue's rows as the sim has them for these approvers.
fn expected(server: &SimServer, approvers: &[String]) -> BTreeSet<String> {
    let a = format!(
        "approverIN{}^source_table=change_request",
        approvers.join(",")
    );
    server
        .query_ids(
            "sysapproval_approver",
            &format!("{a}^state=requested^NQ{a}^state=not_required^sysapproval.on_hold=true"),
        )
        .unwrap()
        .into_iter()
        .collect()
}

/// The demo approver's adapter with pages of `page`, and whose approvals it pulls.
async fn demo_client(server: &SimServer, page: usize) -> (ServiceNow, Vec<String>) {
    let clock = common::clock(server);
    let sn = common::client_on(server, DEMO_USER, DEMO_PASSWORD, &clock).with_page_size(page);
    let me = sn.current_user().await.unwrap();
    (sn, vec![me.sys_id])
}

fn ids(approvals: &[signoff::domain::Approval]) -> (BTreeSet<String>, usize) {
    let set: BTreeSet<String> = approvals.iter().map(|a| a.sys_id.clone()).collect();
    (set, approvals.len())
}

#[tokio::test]
async fn every_row_once_with_a_small_page_cap() {
    let server = sim(7).await;
    let (sn, approvers) = demo_client(&server, 7).await;
    let want = expected(&server, &approvers);
    assert!(want.len() > 30, "many pages of 7: {}", want.len());
    let before = server.faults().requests_served();
    let got = sn
        .approvals(&approvers, Scope::Pending, &no_progress)
        .await
        .unwrap();
    let (set, n) = ids(&got);
    assert_eq!(n, set.len(), "no row twice");
    assert_eq!(set, want);
    // Four ranges, each about a quarter of the rows in pages of 7, plus one page to end each
    // range at most, plus the change records: nothing like a page per row.
    let used = server.faults().requests_served() - before;
    assert!(
        used as usize <= want.len() / 7 + 4 * 2 + 10,
        "{used} requests for {} rows",
        want.len()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pages_emptied_by_acls_are_stepped_over() {
    let server = sim(5).await;
    // A plain approver (no itil): rows of approvers it may not act for are filtered after
    // the limit, so pages come back short or empty while more rows follow.
    let plain = server
        .users()
        .into_iter()
        .find(|u| {
            u.roles.iter().any(|r| r == "approver_user")
                && !u.roles.iter().any(|r| r == "itil" || r == "admin")
        })
        .expect("a plain approver");
    let stranger = server
        .users()
        .into_iter()
        .find(|u| u.user_name == DEMO_USER)
        .unwrap();
    let clock = common::clock(&server);
    let sn = common::client_on(&server, &plain.user_name, DEMO_PASSWORD, &clock).with_page_size(5);
    let approvers = vec![plain.sys_id.clone(), stranger.sys_id.clone()];
    let mine = expected(&server, std::slice::from_ref(&plain.sys_id));
    let matched = expected(&server, &approvers);
    assert!(
        matched.len() > mine.len() + 10,
        "the stranger's rows fill pages: {} vs {}",
        matched.len(),
        mine.len()
    );
    let got = sn
        .approvals(&approvers, Scope::Pending, &no_progress)
        .await
        .unwrap();
    let (set, n) = ids(&got);
    assert_eq!(n, set.len(), "no row twice");
    assert_eq!(set, mine, "every row it may read, and only those");
    server.shutdown().await;
}

#[tokio::test]
async fn rows_added_and_removed_while_paging_shift_nothing() {
    let server = sim(6).await;
    let (sn, approvers) = demo_client(&server, 6).await;
    let start = expected(&server, &approvers);
    let changes = server
        .query_ids("change_request", "approval=requested^ORDERBYnumber")
        .unwrap();
    // After the first pages: decide some rows elsewhere (they leave the queue) and add
    // approvals for the demo user (they join it), as other people would meanwhile.
    let removed: Vec<String> = start.iter().step_by(5).take(8).cloned().collect();
    let done = Mutex::new(false);
    let added = Mutex::new(Vec::new());
    let progress = |n: usize, _: Option<usize>| {
        let mut done = done.lock().unwrap();
        if n >= 12 && !*done {
            *done = true;
            for id in &removed {
                assert!(server.decide_as(id, "admin", "approved", "Approved in the CAB."));
            }
            let mut added = added.lock().unwrap();
            for c in changes.iter().take(6) {
                if let Some(id) = server.add_approval(c, DEMO_USER) {
                    added.push(id);
                }
            }
        }
    };
    let got = sn
        .approvals(&approvers, Scope::Pending, &progress)
        .await
        .unwrap();
    assert!(*done.lock().unwrap(), "the data moved while paging");
    let end = expected(&server, &approvers);
    let (set, n) = ids(&got);
    assert_eq!(n, set.len(), "no row twice");
    // Rows there from start to end are all read; nothing read was never there.
    let stable: BTreeSet<String> = start.intersection(&end).cloned().collect();
    let ever: HashSet<String> = start.union(&end).cloned().collect();
    assert!(
        stable.is_subset(&set),
        "missing: {:?}",
        stable.difference(&set).collect::<Vec<_>>()
    );
    assert!(set.iter().all(|id| ever.contains(id)));
    assert!(!added.lock().unwrap().is_empty());
    server.shutdown().await;
}
