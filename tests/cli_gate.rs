//! `signoff gate` against the sim: the exit code for each reason, a hold or a rejection
//! winning over an approval, the policy's environment map, and `--wait` turning green when
//! the change is approved mid-wait.

mod common;

use std::path::Path;
use std::process::Stdio;

use chrono::Duration;
use common::{run_as_demo as run, signoff_as_demo, stderr as err, stdout as out};
use signoff::sim::SimServer;
use tokio::io::{AsyncBufReadExt, BufReader};

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A change with `approval` and a window around the sim's now; its number and sys_id.
fn change(server: &SimServer, approval: &str, skip: usize) -> (String, String) {
    let ids = server
        .query_ids(
            "change_request",
            &format!("approval={approval}^on_hold=false^ORDERBYnumber"),
        )
        .unwrap();
    let id = ids
        .get(skip)
        .expect("a seeded change in that state")
        .clone();
    let now = server.server_now();
    assert!(server.update_record(
        "change_request",
        &id,
        &[
            ("start_date", &stamp(now - Duration::hours(1))),
            ("end_date", &stamp(now + Duration::hours(3))),
        ],
    ));
    let number = server.record("change_request", &id).unwrap()["number"].clone();
    (number, id)
}

fn approvals_of(server: &SimServer, change: &str) -> Vec<(String, String)> {
    server
        .query_ids("sysapproval_approver", &format!("sysapproval={change}"))
        .unwrap()
        .into_iter()
        .map(|a| {
            let r = server.record("sysapproval_approver", &a).unwrap();
            (a, r["state"].clone())
        })
        .collect()
}

/// Approves every pending approval of the change as its approver would.
fn approve_all(server: &SimServer, change: &str) {
    let users = server.users();
    for (a, state) in approvals_of(server, change) {
        if state != "requested" {
            continue;
        }
        let approver = server.record("sysapproval_approver", &a).unwrap()["approver"].clone();
        let who = users.iter().find(|u| u.sys_id == approver).unwrap();
        assert!(server.decide_as(&a, &who.user_name, "approved", "Fine for the pipeline."));
    }
}

fn config(home: &Path, text: &str) {
    common::write_config(home, text);
}

#[tokio::test]
async fn each_reason_has_its_exit_code() {
    let server = common::sim(31, 120, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    // Approved, in its window: 0, with the evidence.
    let (approved, approved_id) = change(&server, "approved", 0);
    let evidence = h.join("evidence.json");
    let o = run(
        h,
        &url,
        &[
            "gate",
            &approved,
            "--env",
            "prod",
            "--evidence",
            evidence.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&evidence).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert_eq!(written["change"], approved.as_str());
    assert_eq!(written["environment"], "prod");
    let approvals = written["approvals"].as_array().unwrap();
    assert!(!approvals.is_empty());
    assert!(approvals.iter().all(|a| a["state"] == "approved"));

    // Pending: 10.
    let (pending, _) = change(&server, "requested", 0);
    let o = run(h, &url, &["gate", &pending, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(10), "{}", err(&o));
    assert!(
        err(&o).contains("is not approved yet (waiting for"),
        "{}",
        err(&o)
    );

    // Rejected: 11; an approved change with one rejected approval is rejected too.
    let (rejected, _) = change(&server, "rejected", 0);
    let o = run(h, &url, &["gate", &rejected, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(11), "{}", err(&o));

    // On hold wins over approved: 12.
    assert!(server.update_record(
        "change_request",
        &approved_id,
        &[
            ("on_hold", "true"),
            ("on_hold_reason", "Vendor patch pending")
        ]
    ));
    let o = run(h, &url, &["gate", &approved, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    assert!(err(&o).contains("on hold"), "{}", err(&o));
    assert!(server.update_record("change_request", &approved_id, &[("on_hold", "false")]));

    // Outside its window: 13 (closed), 13 (not open yet).
    let now = server.server_now();
    assert!(server.update_record(
        "change_request",
        &approved_id,
        &[
            ("start_date", &stamp(now - Duration::hours(5))),
            ("end_date", &stamp(now - Duration::hours(1))),
        ]
    ));
    let o = run(h, &url, &["gate", &approved, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(13), "{}", err(&o));
    assert!(err(&o).contains("window closed"), "{}", err(&o));
    assert!(server.update_record(
        "change_request",
        &approved_id,
        &[
            ("start_date", &stamp(now + Duration::hours(5))),
            ("end_date", &stamp(now + Duration::hours(6))),
        ]
    ));
    let o = run(h, &url, &["gate", &approved, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(13), "{}", err(&o));
    assert!(err(&o).contains("window opens at"), "{}", err(&o));
    assert!(server.update_record(
        "change_request",
        &approved_id,
        &[
            ("start_date", &stamp(now - Duration::hours(1))),
            ("end_date", &stamp(now + Duration::hours(3))),
        ]
    ));

    // Its tier does not cover production in this policy: 14; staging is not listed: 0. Until
    // the changed policy is confirmed, the confirmed one stays in force, and the gate says so.
    config(h, "[policy.environments]\nprod = \"emergency\"\n");
    let o = run(h, &url, &["gate", &approved, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("differs from the confirmed one"),
        "{}",
        err(&o)
    );
    common::confirmed_config(h, "[policy.environments]\nprod = \"emergency\"\n").await;
    let o = run(h, &url, &["gate", &approved, "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(14), "{}", err(&o));
    assert!(
        err(&o).contains("only changes of tier Emergency or above deploy to prod"),
        "{}",
        err(&o)
    );
    let o = run(h, &url, &["gate", &approved, "--env", "staging"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    // Closed, approval or not: 16.
    assert!(server.update_record("change_request", &approved_id, &[("state", "3")]));
    let o = run(h, &url, &["gate", &approved, "--env", "staging"]).await;
    assert_eq!(o.status.code(), Some(16), "{}", err(&o));
    assert!(err(&o).contains("is Closed"), "{}", err(&o));
    assert!(server.update_record("change_request", &approved_id, &[("state", "-2")]));

    // Unknown: 15; bad input: 2 (before anything is asked).
    let o = run(h, &url, &["gate", "CHG9999999", "--env", "prod"]).await;
    assert_eq!(o.status.code(), Some(15), "{}", err(&o));
    for bad in [
        &["gate", "CHG-1", "--env", "prod"][..],
        &[
            "gate",
            "CHG0030001",
            "--env",
            "prod",
            "--wait",
            "--interval",
            "0",
        ][..],
        &[
            "gate",
            "CHG0030001",
            "--env",
            "prod",
            "--wait",
            "--timeout",
            "18446744073709551615",
        ][..],
    ] {
        let o = run(h, &url, bad).await;
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", err(&o));
    }
    // An environment the policy does not list is covered, and the gate says so.
    let o = run(h, &url, &["gate", &approved, "--env", "production"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("production is not in [policy.environments] (prod)"),
        "{}",
        err(&o)
    );
    let o = run(h, &url, &["gate", &approved, "--env", "prod; rm -rf"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = run(h, &url, &["gate", &approved, "--env", "prod", "--offline"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn wait_turns_green_when_the_change_is_approved_mid_wait() {
    let server = common::sim(31, 120, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let (pending, pending_id) = change(&server, "requested", 1);
    let mut child = signoff_as_demo(
        home.path(),
        &url,
        &[
            "gate",
            &pending,
            "--env",
            "prod",
            "--wait",
            "--timeout",
            "2m",
            "--interval",
            "1s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(
        first.contains("not approved yet") && first.contains("Checking again in 1s"),
        "{first}"
    );
    approve_all(&server, &pending_id);
    let o = tokio::time::timeout(std::time::Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("the gate opens within its timeout")
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let evidence: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(evidence["change"], pending.as_str());
    assert!(
        evidence["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["justification"] == "Fine for the pipeline.")
    );

    // A rejection is not waited for: it is the answer at once.
    let (other, other_id) = change(&server, "requested", 2);
    let (a, _) = approvals_of(&server, &other_id)[0].clone();
    let approver = server.record("sysapproval_approver", &a).unwrap()["approver"].clone();
    let who = server
        .users()
        .into_iter()
        .find(|u| u.sys_id == approver)
        .unwrap();
    assert!(server.decide_as(&a, &who.user_name, "rejected", "Not this week."));
    let o = run(
        home.path(),
        &url,
        &["gate", &other, "--env", "prod", "--wait", "--timeout", "5m"],
    )
    .await;
    assert_eq!(o.status.code(), Some(11), "{}", err(&o));
    assert!(!err(&o).contains("Checking again"), "{}", err(&o));
    server.shutdown().await;
}

#[tokio::test]
async fn reconciliation_finds_every_kind_of_unauthorized_deployment() {
    let server = common::sim(31, 120, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let now = server.server_now();
    // Ten minutes on: after the approvals given at the start of the test (stamped to the second).
    let t = |hours: i64| (now + Duration::hours(hours) + Duration::minutes(10)).to_rfc3339();
    // Approved by its approvers on the instance (deployed with the JSON-lines form below).
    let (pending, pending_id) = change(&server, "requested", 0);
    approve_all(&server, &pending_id);
    let (approved, _) = change(&server, "approved", 0);
    let (held, held_id) = change(&server, "approved", 1);
    assert!(server.update_record("change_request", &held_id, &[("on_hold", "true")]));
    let (emergency, _) = {
        let ids = server
            .query_ids(
                "change_request",
                "approval=requested^type=emergency^on_hold=false",
            )
            .unwrap();
        let id = ids[0].clone();
        approve_all(&server, &id);
        assert!(server.update_record(
            "change_request",
            &id,
            &[
                ("start_date", &stamp(now - Duration::hours(1))),
                ("end_date", &stamp(now + Duration::hours(3))),
            ],
        ));
        (
            server.record("change_request", &id).unwrap()["number"].clone(),
            id,
        )
    };
    let (waiting, _) = change(&server, "requested", 1);
    let (rejected, _) = change(&server, "rejected", 0);
    common::confirmed_config(h, "[policy.environments]\nprod = \"emergency\"\n").await;
    let file = h.join("deployments.csv");
    std::fs::write(
        &file,
        format!(
            "time,environment,change,service,version\n\
             {},staging,{approved},checkout,3.2.1\n\
             {},prod,{emergency},payments,1.0.4\n\
             {},prod,,checkout,3.2.2\n\
             {},prod,CHG0999999,checkout,3.2.3\n\
             {},staging,{waiting},auth,2.0.0\n\
             {},staging,{rejected},auth,2.0.1\n\
             {},staging,{held},search,5.1\n\
             {},staging,{approved},checkout,3.3.0\n\
             {},prod,{approved},checkout,3.2.1\n\
             {{\"time\":\"{}\",\"environment\":\"staging\",\"change\":\"{pending}\",\"service\":\"web\",\"version\":\"9\"}}\n",
            t(0), t(0), t(0), t(0), t(0), t(0), t(0), t(5), t(0), t(1)
        ),
    )
    .unwrap();
    let o = run(
        h,
        &url,
        &["reconcile", file.to_str().unwrap(), "--format", "json"],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("7 of 10 deployments were not authorized"),
        "{}",
        err(&o)
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts: Vec<&str> = findings
        .iter()
        .map(|f| f["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        [
            "authorized",
            "authorized",
            "no_change",
            "unknown_change",
            "not_approved",
            "rejected",
            "on_hold",
            "outside_window",
            "wrong_tier",
            "authorized"
        ]
    );
    let o = run(h, &url, &["reconcile", file.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(1));
    let md = out(&o);
    assert!(md.starts_with("# Deployment reconciliation"), "{md}");
    assert!(
        md.contains("10 deployments checked: 3 authorized, 7 not."),
        "{md}"
    );
    assert!(md.contains("**on hold**"), "{md}");

    // A change decided through signoff: the report says what this journal holds about it.
    let o = run(h, &url, &["queue", "--json"]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mine = rows
        .iter()
        .find(|r| r["state"] == "requested" && r["on_behalf_of"].is_null() && r["on_hold"] == false)
        .unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run(
        h,
        &url,
        &["approve", &mine, "-m", "Reviewed the plan; fine."],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let decided = h.join("decided.csv");
    std::fs::write(
        &decided,
        format!(
            "{},staging,{mine},web,1
",
            t(0)
        ),
    )
    .unwrap();
    let o = run(
        h,
        &url,
        &["reconcile", decided.to_str().unwrap(), "--format", "json"],
    )
    .await;
    let f: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        f[0]["journal"]
            .as_str()
            .unwrap()
            .starts_with("approve by Alice Moreno at "),
        "{f:?}"
    );

    // Deployed before its approval was given: not authorized, though approved now.
    let early = h.join("early.csv");
    let approved_at = {
        let id = server
            .query_ids("change_request", &format!("number={pending}"))
            .unwrap()[0]
            .clone();
        approvals_of(&server, &id)
            .into_iter()
            .map(|(a, _)| {
                server.record("sysapproval_approver", &a).unwrap()["sys_updated_on"].clone()
            })
            .max()
            .unwrap()
    };
    let before = chrono::NaiveDateTime::parse_from_str(&approved_at, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        - Duration::minutes(1);
    std::fs::write(
        &early,
        format!("{},staging,{pending},web,8\n", before.to_rfc3339()),
    )
    .unwrap();
    let o = run(
        h,
        &url,
        &["reconcile", early.to_str().unwrap(), "--format", "json"],
    )
    .await;
    let f: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f[0]["verdict"], "not_approved", "{f:?} {approved_at}");
    assert!(
        f[0]["detail"]
            .as_str()
            .unwrap()
            .contains("after the deployment"),
        "{f:?}"
    );

    // Only authorized deployments: exit 0. A bad line: exit 2 naming it.
    let good = h.join("good.csv");
    std::fs::write(
        &good,
        format!("{},staging,{approved},checkout,3.2.1\n", t(0)),
    )
    .unwrap();
    let o = run(h, &url, &["reconcile", good.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    std::fs::write(&good, "yesterday,prod,CHG0030001,x,1\n").unwrap();
    let o = run(h, &url, &["reconcile", good.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("line 1") && err(&o).contains("is not a time"),
        "{}",
        err(&o)
    );
    server.shutdown().await;
}
