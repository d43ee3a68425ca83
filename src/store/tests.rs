//! Unit tests for the store's own rules. The file-level scenarios (migration from a hand-built
//! version 1, foreign files, crash safety) are in tests/store.rs.

use chrono::{TimeZone, Utc};

use super::schema::{self, Header, Inspection};
use super::*;
use crate::domain::{
    ApprovalState, Change, Decision, DecisionKind, Delivery, Justification, UserRef,
};

fn user() -> User {
    User {
        sys_id: "u1".into(),
        user_name: "ada".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    }
}

fn approval(sys_id: &str, minute: u32) -> Approval {
    Approval {
        source: Default::default(),
        sys_id: sys_id.into(),
        state: ApprovalState::Requested,
        approver: UserRef {
            sys_id: "u1".into(),
            name: "Ada Lovelace".into(),
            ..Default::default()
        },
        requested_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, minute, 0).unwrap(),
        due_date: None,
        group: None,
        sys_updated_on: None,
        change: Change {
            sys_id: format!("chg-{sys_id}"),
            number: format!("CHG{sys_id}"),
            ..Change::default()
        },
    }
}

#[test]
fn profile_names_are_checked() {
    let dir = Path::new("/data");
    assert_eq!(
        Store::path_for(dir, "work_2-x").unwrap(),
        Path::new("/data/work_2-x.sqlite3")
    );
    assert!(Store::path_for(dir, &"a".repeat(64)).is_ok());
    for bad in ["", "../x", "a b", "é", "a.b", "a/b", &"a".repeat(65)] {
        let err = Store::path_for(dir, bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidProfile { .. }), "{bad:?}");
        assert!(err.to_string().contains("profile name"), "{err}");
    }
}

#[test]
fn header_parsing() {
    assert_eq!(schema::parse_header(b""), Some(Header::Empty));
    assert_eq!(schema::parse_header(b"hello"), None);
    assert_eq!(schema::parse_header(&[b'x'; 100]), None);
    let mut h = b"SQLite format 3\0".to_vec();
    h.resize(100, 0);
    h[60..64].copy_from_slice(&7u32.to_be_bytes());
    h[68..72].copy_from_slice(&APPLICATION_ID.to_be_bytes());
    assert_eq!(
        schema::parse_header(&h),
        Some(Header::Sqlite {
            user_version: 7,
            application_id: APPLICATION_ID
        })
    );
}

#[test]
fn classification() {
    let p = Path::new("/x/s.sqlite3");
    let ins = |application_id, user_version, objects| Inspection {
        application_id,
        user_version,
        objects,
    };
    assert_eq!(schema::classify(p, ins(0, 0, 0)).unwrap(), 0);
    assert_eq!(schema::classify(p, ins(APPLICATION_ID, 1, 5)).unwrap(), 1);
    assert_eq!(
        schema::classify(p, ins(APPLICATION_ID, SCHEMA_VERSION, 9)).unwrap(),
        SCHEMA_VERSION
    );
    assert!(matches!(
        schema::classify(p, ins(APPLICATION_ID, SCHEMA_VERSION + 1, 9)),
        Err(StoreError::NewerSchema { found, known, .. }) if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION
    ));
    assert!(matches!(
        schema::classify(p, ins(0, 0, 1)),
        Err(StoreError::Unrecognised { .. })
    ));
    assert!(matches!(
        schema::classify(p, ins(0, 3, 0)),
        Err(StoreError::Unrecognised { .. })
    ));
    assert!(matches!(
        schema::classify(p, ins(0x1234, 0, 0)),
        Err(StoreError::OtherApplication {
            application_id: 0x1234,
            ..
        })
    ));
}

#[test]
fn errors_are_sentences_naming_the_file() {
    let path = PathBuf::from("/home/ada/.local/share/signoff/work.sqlite3");
    let errors = [
        StoreError::NotSqlite { path: path.clone() },
        StoreError::OtherApplication {
            path: path.clone(),
            application_id: 0x1234,
        },
        StoreError::NewerSchema {
            path: path.clone(),
            found: 9,
            known: 2,
        },
        StoreError::Locked { path: path.clone() },
        StoreError::sqlite(
            &path,
            "save the synced queue",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                None,
            ),
        ),
    ];
    for e in errors {
        let s = e.to_string();
        assert!(s.contains(path.to_str().unwrap()), "{s}");
        assert!(s.ends_with('.'), "{s}");
        assert!(s.starts_with(|c: char| c.is_uppercase() || c == '/'), "{s}");
        assert!(!s.contains("SqliteFailure"), "{s}");
    }
    let newer = StoreError::NewerSchema {
        path,
        found: 9,
        known: 2,
    }
    .to_string();
    assert!(
        newer.contains("newer signoff (schema 9, this one knows 2)"),
        "{newer}"
    );
    assert!(
        newer.contains("upgrade signoff or use another --profile"),
        "{newer}"
    );
}

#[test]
fn times_are_fixed_width_and_round_trip() {
    let t = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::nanoseconds(7);
    let s = format_time(t);
    assert_eq!(s, "2025-01-02T03:04:05.000000007Z");
    assert_eq!(parse_time(&s), Some(t));
    assert!(format_time(t) < format_time(t + chrono::Duration::nanoseconds(1)));
    assert_eq!(parse_time("yesterday"), None);
}

#[test]
fn migrates_step_by_step_from_every_older_version() {
    let dir = tempfile::tempdir().unwrap();
    for from in 0..SCHEMA_VERSION {
        let path = dir.path().join(format!("from{from}.sqlite3"));
        {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..from as usize] {
                conn.execute_batch(step).unwrap();
            }
            if from > 0 {
                conn.pragma_update(None, "application_id", APPLICATION_ID as i32)
                    .unwrap();
                conn.pragma_update(None, "user_version", from as i32)
                    .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            SCHEMA_VERSION,
            "from {from}"
        );
        assert_eq!(store.outbox_pending().unwrap(), 0);
    }
}

#[test]
fn snapshot_order_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite3")).unwrap();
    let empty = store.load_snapshot().unwrap();
    assert_eq!(empty, Snapshot::default());

    let synced = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
    let list = vec![approval("c", 5), approval("a", 9), approval("b", 5)];
    store
        .replace_snapshot(&user(), &list, synced, None)
        .unwrap();
    let snap = store.load_snapshot().unwrap();
    let ids: Vec<_> = snap.approvals.iter().map(|a| a.sys_id.as_str()).collect();
    assert_eq!(ids, ["b", "c", "a"]);
    assert_eq!(snap.user, Some(user()));
    assert_eq!(snap.synced_at, Some(synced));
    assert_eq!(snap.high_water, None);
    assert_eq!(store.approval_ids().unwrap(), ["a", "b", "c"]);

    assert_eq!(store.get_meta("ui.theme").unwrap(), None);
    store.set_meta("ui.theme", "dark").unwrap();
    store.set_meta("ui.theme", "light").unwrap();
    assert_eq!(
        store.get_meta("ui.theme").unwrap().as_deref(),
        Some("light")
    );
}

#[test]
fn apply_changes_refuses_another_users_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite3")).unwrap();
    let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
    store
        .replace_snapshot(&user(), &[approval("a", 1)], t, None)
        .unwrap();
    let other = User {
        sys_id: "u2".into(),
        user_name: "grace".into(),
        ..user()
    };
    let err = store
        .apply_changes(&other, &[approval("b", 2)], &[], t, None)
        .unwrap_err();
    assert!(matches!(err, StoreError::UserMismatch { .. }), "{err}");
    assert_eq!(store.approval_ids().unwrap(), ["a"]);
}

#[test]
fn journal_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite3")).unwrap();
    store
        .conn
        .execute(
            "INSERT INTO journal (created_at, kind, entry, prev_hash, hash)
             VALUES ('2025-01-01T00:00:00.000000000Z', 'decision', '{}', '', 'h1')",
            [],
        )
        .unwrap();
    assert!(
        store
            .conn
            .execute("UPDATE journal SET kind = 'x'", [])
            .is_err()
    );
    assert!(store.conn.execute("DELETE FROM journal", []).is_err());
}

#[test]
fn store_can_move_to_a_blocking_task() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
    assert_send::<StoreError>();
}

#[test]
fn outcomes_are_recorded_only_where_they_can_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite3")).unwrap();
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
    let a = approval("a1", 0);
    let decide = |kind: DecisionKind, text: &str| {
        let j = Justification::parse(text, kind, &Default::default()).unwrap();
        Decision::for_approvals(kind, &j, std::slice::from_ref(&a), &user(), now, || {
            new_client_id(now)
        })
    };
    let first = decide(DecisionKind::Approve, "Standard pattern, low risk.");
    let id = first[0].client_id.clone();
    store.enqueue(&first, now).unwrap();
    let conflict = Delivery::Conflict {
        reason: "moved".into(),
    };
    // Only a decision being sent gets an outcome other than applied.
    assert!(!store.set_delivery(&id, &conflict, None, now).unwrap());
    assert!(store.claim(&id, now).unwrap());
    assert!(store.is_sending(&id).unwrap());
    // Replaced while it was being sent: it stays superseded, and is never put back.
    let second = decide(DecisionKind::Reject, "The backout plan was never tested.");
    assert_eq!(store.enqueue(&second, now).unwrap().len(), 1);
    assert!(!store.is_sending(&id).unwrap());
    for d in [&conflict, &Delivery::Queued, &Delivery::Sending] {
        assert!(!store.set_delivery(&id, d, None, now).unwrap(), "{d:?}");
    }
    let status = |store: &Store| {
        store
            .outbox(false)
            .unwrap()
            .into_iter()
            .find(|e| e.decision.client_id == id)
            .unwrap()
            .delivery
    };
    assert!(matches!(status(&store), Delivery::Superseded { .. }));
    // Found applied on the server after all: that is what happened, recorded once.
    let applied = Delivery::Applied { at: now };
    assert!(
        store
            .set_delivery(&id, &applied, Some("found"), now)
            .unwrap()
    );
    assert!(
        !store
            .set_delivery(&id, &applied, Some("again"), now)
            .unwrap()
    );
    assert_eq!(status(&store), applied);
    let kinds: Vec<String> = store
        .journal()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "decision.applied").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"decision.conflict".to_string()),
        "{kinds:?}"
    );
}
