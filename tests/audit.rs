//! The audit journal as evidence: every kind of tampering by another SQLite client is found at
//! the exact entry, signatures are checked with the key an auditor kept, and a journal
//! re-chained and re-signed with another key is caught with that key.

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::{Connection, params};
use signoff::domain::audit::{chain_hash, head_message, signed_message};
use signoff::domain::{
    Approval, ApprovalState, Change, Decision, DecisionKind, Delivery, Justification, User, UserRef,
};
use signoff::store::{JournalSigner, Store};

fn at(m: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap() + Duration::minutes(m)
}

fn ada() -> User {
    User {
        sys_id: "6816f79cc0a8016401c5a33be04be441".into(),
        user_name: "ada.lovelace".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    }
}

fn approval(n: usize) -> Approval {
    Approval {
        source: Default::default(),
        sys_id: format!("appr{n}"),
        state: ApprovalState::Requested,
        approver: UserRef {
            sys_id: ada().sys_id,
            name: "Ada Lovelace".into(),
            ..Default::default()
        },
        requested_at: at(0),
        due_date: None,
        group: None,
        sys_updated_on: None,
        change: Change {
            sys_id: format!("chg{n}"),
            number: format!("CHG00300{n:02}"),
            short_description: "Patch".into(),
            ..Change::default()
        },
    }
}

/// A store with a journal of `n` decisions, each queued then applied: 2n entries.
fn journal_of(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("work.sqlite3");
    let mut store = Store::open(&path).unwrap();
    for i in 0..n {
        let j = Justification::parse(
            "Backout rehearsed, window is quiet.",
            DecisionKind::Approve,
            &Default::default(),
        )
        .unwrap();
        let mut k = 0;
        let d = Decision::for_approvals(
            DecisionKind::Approve,
            &j,
            &[approval(i)],
            &ada(),
            at(i as i64),
            || {
                k += 1;
                format!("client{i}-{k}")
            },
        );
        store.enqueue(&d, at(i as i64)).unwrap();
        store
            .set_delivery(
                &d[0].client_id,
                &Delivery::Applied { at: at(i as i64) },
                Some("{}"),
                at(i as i64),
            )
            .unwrap();
    }
    (dir, path)
}

/// Another SQLite client, with the journal's triggers dropped.
fn raw(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;")
        .unwrap();
    c
}

fn broken_at(path: &std::path::Path) -> (i64, String) {
    let store = Store::open(path).unwrap();
    let r = store.verify_journal(None).unwrap();
    let b = r.broken.expect("the tampering is found");
    (b.seq, b.what)
}

#[test]
fn an_intact_journal_verifies_and_is_signed() {
    let (_d, path) = journal_of(3);
    let store = Store::open(&path).unwrap();
    let r = store.verify_journal(None).unwrap();
    assert!(r.intact(), "{r:?}");
    assert_eq!(
        (r.entries, r.signed, r.first_seq, r.last_seq),
        (6, 6, Some(1), Some(6))
    );
    assert_eq!(r.key_id, store.journal_signer().key_id());
}

#[test]
fn an_edited_entry_is_named() {
    let (_d, path) = journal_of(3);
    raw(&path)
        .execute(
            "UPDATE journal SET entry = replace(entry, 'quiet', 'noisy') WHERE seq = 3",
            [],
        )
        .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 3, "{what}");
    assert!(what.contains("was edited"), "{what}");
}

#[test]
fn an_edit_with_its_hash_recomputed_fails_its_signature() {
    let (_d, path) = journal_of(3);
    let c = raw(&path);
    let (prev, created, kind, entry): (String, String, String, String) = c
        .query_row(
            "SELECT prev_hash, created_at, kind, entry FROM journal WHERE seq = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let entry = entry.replace("quiet", "noisy");
    let hash = chain_hash(&prev, &created, &kind, &entry);
    c.execute(
        "UPDATE journal SET entry = ?1, hash = ?2 WHERE seq = 3",
        params![entry, hash],
    )
    .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 3, "{what}");
    assert!(what.contains("signature does not verify"), "{what}");
}

#[test]
fn a_deleted_entry_is_named_in_the_middle_and_at_the_end() {
    let (_d, path) = journal_of(3);
    raw(&path)
        .execute("DELETE FROM journal WHERE seq = 4", [])
        .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 4, "{what}");
    assert!(what.contains("entry 4 is missing"), "{what}");

    let (_d, path) = journal_of(3);
    raw(&path)
        .execute("DELETE FROM journal WHERE seq >= 5", [])
        .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 5, "{what}");
    assert!(
        what.contains("ends at entry 4") && what.contains("head records entry 6"),
        "{what}"
    );
}

#[test]
fn reordered_entries_are_named() {
    let (_d, path) = journal_of(3);
    let c = raw(&path);
    c.execute_batch(
        "UPDATE journal SET seq = 100 WHERE seq = 2;
         UPDATE journal SET seq = 2 WHERE seq = 3;
         UPDATE journal SET seq = 3 WHERE seq = 100;",
    )
    .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 2, "{what}");
    assert!(what.contains("does not follow entry 1"), "{what}");
}

#[test]
fn an_inserted_entry_is_named_even_with_a_correct_chain() {
    // Unsigned, chained correctly, head moved too: the missing signature names it.
    let (_d, path) = journal_of(2);
    let c = Connection::open(&path).unwrap(); // an insert needs no trigger dropped
    let last: String = c
        .query_row("SELECT hash FROM journal WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    let created = "2026-11-25T13:00:00.000000000Z";
    let entry = r#"{"client_id":"forged","decision":"approve"}"#;
    let hash = chain_hash(&last, created, "decision.queued", entry);
    c.execute(
        "INSERT INTO journal (seq, created_at, kind, entry, prev_hash, hash) VALUES (5, ?1, 'decision.queued', ?2, ?3, ?4)",
        params![created, entry, last, hash],
    )
    .unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'journal.head'",
        [format!("5 {hash}")],
    )
    .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 5, "{what}");
    assert!(
        what.contains("not signed") && what.contains("inserted"),
        "{what}"
    );

    // With a made-up signature: it does not verify.
    let (_d, path) = journal_of(2);
    let c = Connection::open(&path).unwrap();
    let (last, key_id): (String, String) = c
        .query_row("SELECT hash, key_id FROM journal WHERE seq = 4", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let hash = chain_hash(&last, created, "decision.queued", entry);
    let fake = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    c.execute(
        "INSERT INTO journal (seq, created_at, kind, entry, prev_hash, hash, sig, key_id) VALUES (5, ?1, 'decision.queued', ?2, ?3, ?4, ?5, ?6)",
        params![created, entry, last, hash, fake, key_id],
    )
    .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 5, "{what}");
    assert!(what.contains("signature does not verify"), "{what}");
}

#[test]
fn a_journal_re_signed_with_another_key_is_caught_with_the_kept_public_key() {
    let (_d, path) = journal_of(2);
    let kept = Store::open(&path).unwrap().journal_signer().public_key();
    // The attacker rewrites entry 2, re-chains and re-signs everything with a key of their own
    // (and puts it where signoff looks for the key).
    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let theirs = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let their_id = signoff::domain::audit::key_id(theirs.public_key().as_ref());
    let c = raw(&path);
    let rows: Vec<(i64, String, String, String)> = c
        .prepare("SELECT seq, created_at, kind, entry FROM journal ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = signoff::domain::audit::GENESIS.to_string();
    for (seq, created, kind, entry) in rows {
        let entry = if seq == 2 {
            entry.replace("Backout", "No backout")
        } else {
            entry
        };
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
    std::fs::write(
        JournalSigner::key_path(&path),
        base64::engine::general_purpose::STANDARD.encode(doc.as_ref()),
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    // With the key now on this machine it looks whole: that is why auditors keep the key.
    assert!(store.verify_journal(None).unwrap().intact());
    let r = store.verify_journal(Some(&kept)).unwrap();
    let b = r.broken.expect("caught with the kept key");
    assert_eq!(b.seq, 1, "{}", b.what);
    assert!(b.what.contains("signed with another key"), "{}", b.what);
}

#[test]
fn deployments_a_reconciliation_found_are_kept_by_change() {
    use signoff::store::DeploymentRecord;
    let (_d, path) = journal_of(1);
    let mut store = Store::open(&path).unwrap();
    let d = |v: &str, finding: &str| DeploymentRecord {
        at: at(5),
        environment: "prod".into(),
        change: "CHG0030000".into(),
        service: "checkout".into(),
        version: v.into(),
        finding: finding.into(),
    };
    store
        .record_deployments(
            &[d("3.2.1", "not approved"), d("3.2.2", "authorized")],
            at(6),
        )
        .unwrap();
    // Seen again: the finding is updated, not doubled.
    store
        .record_deployments(&[d("3.2.1", "authorized")], at(7))
        .unwrap();
    let by = store.deployments_by_change().unwrap();
    assert_eq!(
        by["CHG0030000"],
        "prod 2026-11-25T12:05:00Z checkout 3.2.1 (authorized); prod 2026-11-25T12:05:00Z checkout 3.2.2 (authorized)"
    );
}

#[test]
fn cutting_the_end_off_is_caught_whatever_is_done_to_the_head() {
    // The head removed, or rewritten to the new last entry (with that entry's own signature,
    // the only signature at hand): both are named.
    for rewrite in [false, true] {
        let (_d, path) = journal_of(3);
        let c = raw(&path);
        c.execute("DELETE FROM journal WHERE seq >= 5", []).unwrap();
        if rewrite {
            let (hash, sig): (String, String) = c
                .query_row("SELECT hash, sig FROM journal WHERE seq = 4", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'journal.head'",
                [format!("4 {hash} {sig}")],
            )
            .unwrap();
        } else {
            c.execute("DELETE FROM meta WHERE key = 'journal.head'", [])
                .unwrap();
        }
        let (seq, what) = broken_at(&path);
        assert_eq!(seq, 5, "{what}");
        assert!(what.contains("head"), "{what}");
    }
    // A head kept from earlier (an export's chain_head) catches it even with a head replayed.
    let (_d, path) = journal_of(3);
    let store = Store::open(&path).unwrap();
    let seen = store.journal_head_id().unwrap().unwrap();
    drop(store);
    // Later, a journal two entries shorter whose head is consistent with it (here: another
    // journal of the same shape, as a cut-and-re-headed one would be).
    let (_d2, path2) = journal_of(2);
    let store = Store::open(&path2).unwrap();
    let (seq, hash) = seen.split_once(' ').unwrap();
    let r = store
        .verify_journal_against(None, Some((seq.parse().unwrap(), hash)))
        .unwrap();
    let b = r
        .broken
        .expect("the journal is shorter than the head seen earlier");
    assert!(b.what.contains("before entry 6 seen earlier"), "{}", b.what);
}

#[test]
fn an_unsigned_rewrite_and_a_replayed_checkpoint_are_caught() {
    // Every entry stripped of its signature, the head deleted: the store knows since when
    // entries are signed.
    let (_d, path) = journal_of(2);
    let kept = Store::open(&path).unwrap().journal_signer().public_key();
    let c = raw(&path);
    c.execute("UPDATE journal SET sig = NULL, key_id = NULL", [])
        .unwrap();
    c.execute("DELETE FROM meta WHERE key = 'journal.head'", [])
        .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 1, "{what}");
    assert!(what.contains("not signed"), "{what}");
    // That marker deleted too, it reads like a journal from before signing; the key an
    // auditor kept does not vouch for it.
    c.execute("DELETE FROM meta WHERE key = 'journal.signing_since'", [])
        .unwrap();
    let store = Store::open(&path).unwrap();
    let r = store.verify_journal(None).unwrap();
    assert!(
        r.intact() && r.signed == 0 && r.unsigned_legacy == 4,
        "{r:?}"
    );
    let r = store.verify_journal(Some(&kept)).unwrap();
    let b = r.broken.expect("the kept key vouches for nothing here");
    assert!(b.what.contains("no entry is signed by key"), "{}", b.what);
    drop(store);

    // A checkpoint made from an entry's own signature (the prune message differs): caught.
    let (_d, path) = journal_of(3);
    let c = raw(&path);
    let (hash, sig, key_id): (String, String, String) = c
        .query_row(
            "SELECT hash, sig, key_id FROM journal WHERE seq = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    c.execute("DELETE FROM journal WHERE seq <= 2", []).unwrap();
    let checkpoint = serde_json::json!({
        "seq": 2, "hash": hash, "pruned_at": "2026-11-25T12:00:00Z", "sig": sig, "key_id": key_id
    });
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('journal.checkpoint', ?1)",
        [checkpoint.to_string()],
    )
    .unwrap();
    let (seq, what) = broken_at(&path);
    assert_eq!(seq, 2, "{what}");
    assert!(what.contains("checkpoint"), "{what}");
}
