//! `signoff audit log|verify|pubkey|export` through the binary: decisions made against the
//! sim are in the journal, verify says intact (exit 0) or names the tampered entry (exit 3),
//! the instance's comments anchor the journal against a wholesale rewrite, and exports are
//! golden and byte-identical on re-run.

mod common;

use std::path::Path;

use base64::Engine;
use chrono::{Duration, TimeZone, Utc};
use common::{run_as_demo as run, stderr as err, stdout as out};
use rusqlite::{Connection, params};
use signoff::domain::audit::{GENESIS, chain_hash, head_message, signed_message};
use signoff::domain::{
    Approval, ApprovalState, Change, ChangeType, Decision, DecisionKind, Delivery, Justification,
    Level, Risk, User, UserRef,
};
use signoff::store::{JournalSigner, Store};

/// The demo user's own requested approvals, from `signoff queue --json`.
async fn mine(home: &Path, url: &str) -> Vec<String> {
    let o = run(home, url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    rows.iter()
        .filter(|r| {
            r["state"] == "requested"
                && r["on_behalf_of"].is_null()
                && !r["on_hold"].as_bool().unwrap()
        })
        .map(|r| r["number"].as_str().unwrap().to_string())
        .collect()
}

fn store_path(home: &Path) -> std::path::PathBuf {
    home.join("data").join("default.sqlite3")
}

#[tokio::test]
async fn decisions_are_logged_verified_and_anchored_on_the_instance() {
    let server = common::sim(21, 60, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Controls from the policy: one for every change, one by the CI's environment and class.
    common::write_config(
        h,
        "[[policy.controls]]\nid = \"CHG-ALL\"\n[[policy.controls]]\nid = \"SOX-ITGC-CM-02\"\nenvironment = [\"Production\"]\nci_class = [\"cmdb_ci_*\"]\n",
    );
    let queue = mine(h, &url).await;
    for (n, why) in [
        (&queue[0], "Backout rehearsed; the window is quiet."),
        (&queue[1], "Same plan as last week, which went fine."),
    ] {
        let o = run(h, &url, &["approve", n, "-m", why]).await;
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    }

    let o = run(h, &url, &["audit", "log", "--output", "json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let queued: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["kind"] == "decision.queued")
        .collect();
    assert_eq!(queued.len(), 2, "{rows:?}");
    assert_eq!(queued[0]["change"], queue[0].as_str());
    assert_eq!(
        queued[0]["justification"],
        "Backout rehearsed; the window is quiet."
    );
    assert_eq!(queued[0]["actor"], "Alice Moreno");
    assert_eq!(queued[0]["seen_hash"].as_str().unwrap().len(), 64);
    // The change's CI class and environment came from the instance; the controls followed.
    let store = Store::open(&store_path(h)).unwrap();
    let seen = &store.outbox(false).unwrap()[0].decision.seen.change;
    assert!(
        seen.ci_class.starts_with("cmdb_ci_") && !seen.environment.is_empty(),
        "{seen:?}"
    );
    assert!(
        !seen.service.is_empty() && !seen.category.is_empty(),
        "{seen:?}"
    );
    let controls: Vec<&str> = queued[0]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = if seen.environment == "Production" {
        vec!["CHG-ALL", "SOX-ITGC-CM-02"]
    } else {
        vec!["CHG-ALL"]
    };
    assert_eq!(controls, expected);
    drop(store);
    let applied = rows
        .iter()
        .find(|r| r["kind"] == "decision.applied")
        .unwrap();
    assert_eq!(
        applied["change"],
        queue[0].as_str(),
        "joined to its decision"
    );
    assert!(!applied["server_answer"].as_str().unwrap().is_empty());
    let o = run(h, &url, &["audit", "log", "--change", &queue[1]]).await;
    let table = out(&o);
    assert!(
        table.contains("Same plan as last week") && !table.contains("Backout rehearsed"),
        "{table}"
    );

    // Intact, with this machine's key and with the key the auditor exported.
    let key = h.join("journal.pub");
    let o = run(
        h,
        &url,
        &["audit", "pubkey", "--out", key.to_str().unwrap()],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("signoff-journal-key ed25519 ")
    );
    let o = run(h, &url, &["audit", "verify"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).starts_with("The journal is intact: 4 entries (1–4)"),
        "{}",
        out(&o)
    );
    let o = run(
        h,
        &url,
        &[
            "audit",
            "verify",
            "--pubkey",
            key.to_str().unwrap(),
            "--against-server",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("2 applied decisions anchored, 0 differ, 0 missing"),
        "{}",
        out(&o)
    );

    // The journal rewritten wholesale (a justification changed), re-chained and re-signed with
    // a new key put in place of the old: locally consistent, but the instance's comments and
    // the kept key both say otherwise.
    let path = store_path(h);
    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let theirs = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let their_id = signoff::domain::audit::key_id(theirs.public_key().as_ref());
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;")
            .unwrap();
        let rows: Vec<(i64, String, String, String)> = c
            .prepare("SELECT seq, created_at, kind, entry FROM journal ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut prev = GENESIS.to_string();
        for (seq, created, kind, entry) in rows {
            let entry = entry.replace("the window is quiet", "no one objected");
            let hash = chain_hash(&prev, &created, &kind, &entry);
            let sig = base64::engine::general_purpose::STANDARD
                .encode(theirs.sign(signed_message(seq, &hash).as_bytes()).as_ref());
            c.execute(
                "UPDATE journal SET entry = ?2, prev_hash = ?3, hash = ?4, sig = ?5, key_id = ?6 WHERE seq = ?1",
                params![seq, entry, prev, hash, sig, their_id],
            )
            .unwrap();
            let head_sig = base64::engine::general_purpose::STANDARD
                .encode(theirs.sign(head_message(seq, &hash).as_bytes()).as_ref());
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'journal.head'",
                [format!("{seq} {hash} {head_sig}")],
            )
            .unwrap();
            prev = hash;
        }
    }
    std::fs::write(
        JournalSigner::key_path(&path),
        base64::engine::general_purpose::STANDARD.encode(doc.as_ref()),
    )
    .unwrap();
    let o = run(h, &url, &["audit", "verify"]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "with the planted key it looks whole: {}",
        out(&o)
    );
    let o = run(h, &url, &["audit", "verify", "--against-server"]).await;
    assert_eq!(o.status.code(), Some(3), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("2 differ"), "{}", out(&o));
    let o = run(
        h,
        &url,
        &["audit", "verify", "--pubkey", key.to_str().unwrap()],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(out(&o).contains("signed with another key"), "{}", out(&o));
    server.shutdown().await;
}

#[tokio::test]
async fn a_tampered_journal_fails_verify_naming_the_entry() {
    let server = common::sim(21, 60, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let queue = mine(h, &url).await;
    let o = run(
        h,
        &url,
        &["approve", &queue[0], "-m", "Backout rehearsed; fine by me."],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let c = Connection::open(store_path(h)).unwrap();
    c.execute_batch("DROP TRIGGER journal_no_update;").unwrap();
    c.execute(
        "UPDATE journal SET entry = replace(entry, 'fine by me', 'not fine') WHERE seq = 1",
        [],
    )
    .unwrap();
    let o = run(h, &url, &["audit", "verify", "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["intact"], false);
    assert_eq!(r["broken"]["seq"], 1);
    assert!(r["broken"]["what"].as_str().unwrap().contains("was edited"));

    // Whoever edits the file may also plant escape sequences: no output path passes them on.
    c.execute(
        "UPDATE journal SET entry = replace(entry, 'not fine', 'x\u{1b}]52;c;ZXZpbA==\u{7}'), key_id = 'k\u{1b}[31m', created_at = created_at || '\u{1b}[2J' WHERE seq = 1",
        [],
    )
    .unwrap();
    for args in [
        &["audit", "log"][..],
        &["audit", "log", "--output", "csv"][..],
        &["audit", "verify"][..],
        &["audit", "export", "--format", "csv"][..],
        &["audit", "access-review", "--offline"][..],
    ] {
        let o = run(h, &url, args).await;
        for text in [out(&o), err(&o)] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{args:?}: {text:?}"
            );
        }
    }
    server.shutdown().await;
}

fn at(m: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap() + Duration::minutes(m)
}

/// A journal built with fixed times and ids: an applied approval, a delegate's rejection in
/// conflict, a withdrawn hold.
fn fixed_journal(home: &Path) {
    let mut store = Store::open(&store_path(home)).unwrap();
    let ada = User {
        sys_id: "u-ada".into(),
        user_name: "ada.lovelace".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    };
    let approval = |n: usize, approver: &str, ty: &str, risk: &str| Approval {
        source: Default::default(),
        sys_id: format!("appr{n}"),
        state: ApprovalState::Requested,
        approver: UserRef {
            sys_id: if approver == "Ada Lovelace" {
                "u-ada".into()
            } else {
                format!("u-{}", approver.to_lowercase().replace(' ', "."))
            },
            name: approver.into(),
            ..Default::default()
        },
        requested_at: at(0),
        due_date: None,
        group: None,
        sys_updated_on: None,
        change: Change {
            sys_id: format!("chg{n}"),
            number: format!("CHG00300{n:02}"),
            short_description: "Patch, with \"quotes\", commas".into(),
            change_type: Some(ChangeType::parse(ty)),
            risk: Risk::from_value(risk).unwrap(),
            impact: Level::from_value("2").unwrap(),
            configuration_item: "=cmd|' /C calc'!A0".into(),
            assignment_group: "Network Ops".into(),
            start_date: Some(at(600)),
            end_date: Some(at(720)),
            ..Change::default()
        },
    };
    let steps: [(DecisionKind, Approval, &str, Option<Delivery>); 3] = [
        (
            DecisionKind::Approve,
            approval(1, "Ada Lovelace", "normal", "3"),
            "Backout rehearsed, window is quiet.",
            Some(Delivery::Applied { at: at(2) }),
        ),
        (
            DecisionKind::Reject,
            approval(2, "Carla Diaz", "emergency", "2"),
            "No rollback plan for the database, so no.",
            Some(Delivery::Conflict {
                reason: "decided elsewhere".into(),
            }),
        ),
        (
            DecisionKind::Hold,
            approval(3, "Ada Lovelace", "normal", "4"),
            "Waiting for the vendor's patch notes.",
            None,
        ),
    ];
    for (i, (kind, a, why, outcome)) in steps.into_iter().enumerate() {
        let j = Justification::parse(why, kind, &Default::default()).unwrap();
        let mut d = Decision::for_approvals(kind, &j, &[a], &ada, at(i as i64 * 10), || {
            format!("fixedclient{i:04}")
        });
        d[0].controls = vec!["SOX-ITGC-CM-02".into()];
        store.enqueue(&d, at(i as i64 * 10)).unwrap();
        store.claim(&d[0].client_id, at(i as i64 * 10 + 1)).unwrap();
        match outcome {
            Some(o) => {
                let answer = match o {
                    Delivery::Applied { .. } => "state=approved",
                    _ => "state=approved by Ben Ishikawa",
                };
                store
                    .set_delivery(&d[0].client_id, &o, Some(answer), at(i as i64 * 10 + 2))
                    .unwrap();
            }
            None => {
                store
                    .set_delivery(
                        &d[0].client_id,
                        &Delivery::Queued,
                        None,
                        at(i as i64 * 10 + 2),
                    )
                    .unwrap();
                store
                    .withdraw(&d[0].client_id, at(i as i64 * 10 + 3))
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn exports_are_golden_and_the_same_bytes_on_every_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fixed_journal(h);
    let mut outputs = Vec::new();
    for format in ["csv", "json"] {
        let file = h.join(format!("export.{format}"));
        let args = [
            "audit",
            "export",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-20",
            "--format",
            format,
            "--out",
            file.to_str().unwrap(),
        ];
        let o = common::signoff(h, &args).output().await.unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let first = std::fs::read(&file).unwrap();
        let o = common::signoff(h, &args).output().await.unwrap();
        assert!(o.status.success());
        assert_eq!(
            std::fs::read(&file).unwrap(),
            first,
            "byte-identical on re-run"
        );
        outputs.push(String::from_utf8(first).unwrap());
    }
    let csv = &outputs[0];
    // A spreadsheet does not run what a change's fields say.
    assert!(csv.contains("'=cmd|' /C calc'!A0"), "{csv}");
    insta::assert_snapshot!("export_csv", csv);
    insta::assert_snapshot!("export_json", &outputs[1]);

    // Outside the window: nothing.
    let o = common::signoff(
        h,
        &["audit", "export", "--from", "2026-11-21", "--format", "csv"],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(out(&o).lines().count(), 1, "the header only: {}", out(&o));
    let o = common::signoff(h, &["audit", "export", "--format", "md"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn retention_and_legal_hold_govern_pruning_and_a_pruned_journal_still_verifies() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fixed_journal(h); // six entries on 2026-11-20
    let later = |args: &[&str]| {
        let mut c = common::signoff(h, args);
        c.env("SIGNOFF_NOW", "2034-06-01T00:00:00Z");
        c
    };
    // Within seven years: nothing to prune.
    let o = common::signoff(h, &["audit", "prune"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("Nothing to prune"), "{}", out(&o));
    // Asking for entries still within retention is refused.
    let o = later(&["audit", "prune", "--before", "2030-01-01"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        err(&o).contains("within the retention period (7 years"),
        "{}",
        err(&o)
    );
    // Under a legal hold nothing goes, however old.
    // (Confirmed the day the entries were written, so they are as old as they are.)
    common::confirmed_config_at(h, "[policy]\nlegal_hold = true\n", "2026-11-20T12:00:00Z").await;
    let o = later(&["audit", "prune"]).output().await.unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("legal hold"), "{}", err(&o));
    common::confirmed_config_at(h, "", "2026-11-20T12:05:00Z").await;
    // The six entries of the decisions, and the two confirmations of the policy changes.
    let o = later(&["audit", "prune", "--dry-run"])
        .output()
        .await
        .unwrap();
    assert!(
        out(&o).starts_with("Would prune entries 1–8 (8 entries"),
        "{}",
        out(&o)
    );
    assert_eq!(
        Store::open(&store_path(h))
            .unwrap()
            .journal()
            .unwrap()
            .len(),
        8
    );
    let confirmations = Store::open(&store_path(h))
        .unwrap()
        .journal()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "policy.confirmed")
        .count();
    assert_eq!(confirmations, 2);
    let o = later(&["audit", "prune"]).output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("starts at 9 from a signed checkpoint"),
        "{}",
        out(&o)
    );

    // What is left verifies from the checkpoint, with the kept key too; the prune is itself
    // in the journal.
    let key = h.join("k.pub");
    common::signoff(h, &["audit", "pubkey", "--out", key.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let o = common::signoff(h, &["audit", "verify", "--pubkey", key.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("1 entry (9–9)"), "{}", out(&o));
    let o = common::signoff(h, &["audit", "log", "--output", "json"])
        .output()
        .await
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "journal.pruned");

    // A forged checkpoint (moved to hide more) is caught.
    let c = Connection::open(store_path(h)).unwrap();
    c.execute(
        "UPDATE meta SET value = replace(value, '\"seq\":8', '\"seq\":7') WHERE key = 'journal.checkpoint'",
        [],
    )
    .unwrap();
    let o = common::signoff(h, &["audit", "verify"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(out(&o).contains("checkpoint"), "{}", out(&o));
}

#[tokio::test]
async fn an_access_review_lists_delegations_and_decisions_on_someones_behalf() {
    let server = common::sim(21, 60, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = run(h, &url, &["queue", "--json"]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let theirs = rows
        .iter()
        .find(|r| {
            r["state"] == "requested" && !r["on_behalf_of"].is_null() && r["on_hold"] == false
        })
        .expect("an approval of a colleague who delegated to the demo user");
    let (number, principal) = (
        theirs["number"].as_str().unwrap(),
        theirs["on_behalf_of"].as_str().unwrap(),
    );
    let o = run(
        h,
        &url,
        &[
            "approve",
            number,
            "-m",
            "Covering while they are away; plan is sound.",
            "--for",
            principal,
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = run(h, &url, &["audit", "access-review", "--output", "json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let review: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let delegations = review["delegations"].as_array().unwrap();
    assert!(
        delegations.iter().any(|d| d["from"] == principal
            && d["to"] == "Alice Moreno"
            && d["status"] == "active"),
        "{delegations:?}"
    );
    let decided = review["decisions_on_behalf"].as_array().unwrap();
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["change"], number);
    assert_eq!(decided[0]["decided_by"], "Alice Moreno");
    assert_eq!(decided[0]["on_behalf_of"], principal);
    let o = run(h, &url, &["audit", "access-review"]).await;
    assert!(
        out(&o).contains(&format!("Alice Moreno for {principal}")),
        "{}",
        out(&o)
    );
    // A period with nothing in it.
    let o = run(
        h,
        &url,
        &[
            "audit",
            "access-review",
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-31",
            "--output",
            "json",
        ],
    )
    .await;
    let review: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(review["decisions_on_behalf"].as_array().unwrap().is_empty());
    server.shutdown().await;
}
