//! `signoff approve|reject|hold|resume|outbox|sync` as scripts use them: exit codes, and
//! crash safety with real SIGKILLs of the real binary.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{run_as_demo as run, signoff_as_demo as command, stderr as err, stdout as out};
use signoff::sim::SimServer;
use signoff::store::Store;
use tokio::io::{AsyncBufReadExt, BufReader};

async fn start() -> SimServer {
    common::sim(21, 60, 100).await
}

/// The change numbers of the demo user's own requested approvals (not those of colleagues who
/// delegated to her: deciding those needs --for), from `signoff queue --json`.
async fn numbers(home: &Path, url: &str) -> Vec<(String, String)> {
    let o = run(home, url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    rows.iter()
        .filter(|r| r["state"] == "requested" && r["on_behalf_of"].is_null())
        .map(|r| {
            (
                r["number"].as_str().unwrap().to_string(),
                r["approval_sys_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn exit_codes_say_what_happened() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let queue = numbers(h, &url).await;

    // 0: applied on the server.
    let o = run(
        h,
        &url,
        &[
            "approve",
            &queue[0].0,
            "-m",
            "Looks good; backout is tested.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("approved (applied on the server"),
        "{}",
        out(&o)
    );
    assert_eq!(
        server.record("sysapproval_approver", &queue[0].1).unwrap()["state"],
        "approved"
    );

    // 2: invalid input, nothing stored or sent.
    let o = run(h, &url, &["reject", &queue[1].0, "-m", "no"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("Too short: 2 of at least 20 characters"),
        "{}",
        err(&o)
    );
    let o = run(
        h,
        &url,
        &["approve", "CHG9999999", "-m", "Looks good to me."],
    )
    .await;
    assert_eq!(o.status.code(), Some(6), "exit 6: not found");
    assert!(
        err(&o).contains("CHG9999999 is not in your queue"),
        "{}",
        err(&o)
    );
    let o = run(h, &url, &["approve", &queue[1].0]).await;
    assert_eq!(o.status.code(), Some(2), "missing -m is a usage error");

    // A decision made offline on a stale view becomes a conflict when delivered.
    let o = run(
        h,
        &url,
        &[
            "--offline",
            "approve",
            &queue[2].0,
            "-m",
            "Approve from the train.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));
    assert!(err(&o).contains("stored the decision"), "{}", err(&o));
    assert!(server.decide_as(&queue[2].1, "admin", "rejected", "Rejected by the CAB."));
    // The sync itself worked; its exit code says a conflict waits for the user (4).
    let o = run(h, &url, &["sync"]).await;
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert!(out(&o).contains("1 in conflict"), "{}", out(&o));
    assert!(
        err(&o).contains("1 decision in conflict or failed waits"),
        "{}",
        err(&o)
    );
    let o = run(h, &url, &["outbox"]).await;
    assert_eq!(o.status.code(), Some(4));
    assert!(
        out(&o).contains("conflict") && out(&o).contains(&queue[2].0),
        "{}",
        out(&o)
    );
    // Retried, it still does not apply (the CAB rejected it); discarded, it is gone.
    let reference = out(&o)
        .split("ref ")
        .nth(1)
        .map(|r| r[..12].to_string())
        .expect("the outbox shows the ref");
    let o = run(h, &url, &["outbox", "retry", &reference]).await;
    assert_eq!(o.status.code(), Some(4), "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("still does not apply"), "{}", err(&o));
    let o = run(h, &url, &["outbox", "discard", &reference[..6]]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).starts_with("Discarded the decision to approve"),
        "{}",
        out(&o)
    );
    let o = run(h, &url, &["outbox", "discard", &reference]).await;
    assert_eq!(
        o.status.code(),
        Some(6),
        "gone already (not found): {}",
        err(&o)
    );
    let o = run(h, &url, &["outbox", "retry", "zz"]).await;
    assert_eq!(o.status.code(), Some(2));

    // 4: the pre-decision sync fails (a passing 503), so the cached view is used; delivery
    // checks the server's copy, finds it decided by someone else, and sends nothing.
    server.faults().push(signoff::sim::Fault::Status(503));
    assert!(server.decide_as(&queue[3].1, "admin", "approved", "Done elsewhere."));
    let o = run(
        h,
        &url,
        &["approve", &queue[3].0, "-m", "Also fine by me, go."],
    )
    .await;
    assert_eq!(o.status.code(), Some(4), "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("conflict"), "{}", err(&o));

    // 75: the instance cannot be reached at all.
    server.stop_accepting().await;
    let o = run(
        h,
        &url,
        &[
            "approve",
            &queue[4].0,
            "-m",
            "Approving while the VPN is down.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));
    let o = run(h, &url, &["outbox"]).await;
    assert!(
        out(&o).contains("queued") && out(&o).contains(&queue[4].0),
        "{}",
        out(&o)
    );
    server.start_accepting().await.unwrap();
    let o = run(h, &url, &["sync"]).await;
    assert!(out(&o).contains("1 applied"), "{}{}", out(&o), err(&o));
    assert_eq!(
        server.record("sysapproval_approver", &queue[4].1).unwrap()["state"],
        "approved"
    );

    // 1: refused for a reason re-sending cannot fix (a plain approver may not hold changes).
    let ben = tempfile::tempdir().unwrap();
    let mut cmd = command(ben.path(), &url, &["queue", "--json"]);
    cmd.env("SIGNOFF_USER", "ben.ishikawa");
    let o = cmd.output().await.unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let number = rows[0]["number"].as_str().unwrap();
    let mut cmd = command(
        ben.path(),
        &url,
        &["hold", number, "-m", "Hold until the vendor answers us."],
    );
    cmd.env("SIGNOFF_USER", "ben.ishikawa");
    let o = cmd.output().await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("refused"), "{}", err(&o));
    server.shutdown().await;
}

/// Runs a decision command that pauses at `point`, SIGKILLs it there, then lets `signoff sync`
/// finish the job. Returns how many comments carry a signoff reference on the approval.
async fn kill_at(point: &str) {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let queue = numbers(h, &url).await;
    let (number, approval) = &queue[0];

    let mut cmd = command(
        h,
        &url,
        &["approve", number, "-m", "Killed mid-flight, still once."],
    );
    cmd.env("SIGNOFF_PAUSE_AT", point).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let marker = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("the child reaches the pause point")
        .unwrap()
        .unwrap();
    assert!(
        marker.starts_with(&format!("signoff: paused at {point} (pid ")),
        "{marker}"
    );
    child.kill().await.unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    // What the killed process left: the decision is in the outbox, not lost.
    let store = Store::open(&h.join("data/default.sqlite3")).unwrap();
    let entries = store.outbox(false).unwrap();
    assert_eq!(entries.len(), 1, "stored before anything was sent");
    assert!(
        entries[0].delivery.is_pending(),
        "{:?}",
        entries[0].delivery
    );
    drop(store);

    let o = run(h, &url, &["sync"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("1 applied"), "{}", out(&o));
    let store = Store::open(&h.join("data/default.sqlite3")).unwrap();
    assert!(matches!(
        store.outbox(false).unwrap()[0].delivery,
        signoff::domain::Delivery::Applied { .. }
    ));
    let with_ref: Vec<_> = server
        .journal("sysapproval_approver", approval, "comments")
        .into_iter()
        .filter(|(_, _, text)| text.contains("[signoff ref "))
        .collect();
    assert_eq!(with_ref.len(), 1, "applied exactly once: {with_ref:?}");
    assert_eq!(
        server.record("sysapproval_approver", approval).unwrap()["state"],
        "approved"
    );
    let o = run(h, &url, &["sync"]).await;
    assert!(
        !out(&o).contains("applied"),
        "nothing left to deliver: {}",
        out(&o)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sigkill_right_after_queuing_loses_nothing() {
    kill_at("queued").await;
}

#[tokio::test]
async fn sigkill_right_after_sending_does_not_send_twice() {
    kill_at("sent").await;
}

#[tokio::test]
async fn the_justification_comes_from_stdin_or_a_file() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let queue = numbers(h, &url).await;
    let mut child = command(h, &url, &["approve", &queue[0].0, "-m", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"Read from a pipe: the backout is tested.\nSecond line of the reason.\n")
        .await
        .unwrap();
    drop(stdin);
    let o = child.wait_with_output().await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let comments = server.journal("sysapproval_approver", &queue[0].1, "comments");
    assert!(
        comments.iter().any(|(_, _, t)| t
            .starts_with("Read from a pipe: the backout is tested.\nSecond line of the reason.\n")),
        "{comments:?}"
    );
    let file = h.join("why.txt");
    std::fs::write(&file, "From a file: reviewed with the DBA team.\n").unwrap();
    let o = run(
        h,
        &url,
        &[
            "approve",
            &queue[1].0,
            "--message-file",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = run(h, &url, &["approve", &queue[2].0]).await;
    assert_eq!(o.status.code(), Some(2), "a justification is required");
    let o = run(
        h,
        &url,
        &[
            "approve",
            &queue[2].0,
            "--message-file",
            "/nonexistent/why.txt",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("Could not read the justification"),
        "{}",
        err(&o)
    );
    server.shutdown().await;
}
