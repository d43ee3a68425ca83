//! The local store against real SQLite files: creation, migration from the previous schema,
//! refusal of files that are not ours, snapshot round trips, and atomicity under SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use signoff::domain::{
    Approval, ApprovalState, Change, ChangeType, DetailSource, Level, Risk, User, UserRef,
};
use signoff::store::{APPLICATION_ID, SCHEMA_VERSION, Store, StoreError};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, h, m, 0).unwrap()
}

fn ada() -> User {
    User {
        sys_id: "6816f79cc0a8016401c5a33be04be441".into(),
        user_name: "ada.lovelace".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    }
}

/// An approval with every field set to something distinctive.
fn rich_approval() -> Approval {
    Approval {
        source: "Standard change pre-approval".into(),
        sys_id: "appr-rich".into(),
        state: ApprovalState::Other("escalated ✓".into()),
        approver: UserRef {
            sys_id: ada().sys_id,
            name: "Ada Lovelace".into(),
            ..Default::default()
        },
        requested_at: at(8, 15) + chrono::Duration::nanoseconds(123_456_789),
        due_date: Some(at(16, 0)),
        group: Some("CAB – Network".into()),
        sys_updated_on: Some(at(9, 1)),
        change: Change {
            sys_id: "chg-rich".into(),
            number: "CHG0031337".into(),
            short_description: "Replace core switch \"sw-01\"".into(),
            description: "Line one\nline two\n\ttabbed 'quotes' and ünïcödé".into(),
            change_type: Some(ChangeType::Other("Expedited".into())),
            risk: Some(Risk::VeryHigh),
            impact: Some(Level::High),
            urgency: Some(Level::Medium),
            state: "Authorize".into(),
            requested_by: UserRef {
                sys_id: "u-req".into(),
                name: "Grace Hopper".into(),
                ..Default::default()
            },
            assignment_group: "Network Ops".into(),
            configuration_item: "sw-01.dc1".into(),
            category: "Network".into(),
            service: "Corporate Network".into(),
            ci_class: "cmdb_ci_ip_switch".into(),
            environment: "Production".into(),
            start_date: Some(at(22, 0)),
            end_date: Some(at(23, 30)),
            justification: "End of life hardware".into(),
            implementation_plan: "1. drain\n2. swap\n3. undrain".into(),
            backout_plan: "Swap back".into(),
            test_plan: "Ping everything".into(),
            risk_impact_analysis: "Brief outage of rack 4".into(),
            on_hold: true,
            cab_required: true,
            cab_recommendation: "Approve as planned".into(),
            instance_sla: None,
            sys_updated_on: Some(at(7, 59)),
            detail_source: DetailSource::Full,
        },
    }
}

fn plain_approval(sys_id: &str, tag: &str, minute: u32) -> Approval {
    Approval {
        source: Default::default(),
        sys_id: sys_id.into(),
        state: ApprovalState::Requested,
        approver: UserRef {
            sys_id: ada().sys_id,
            name: String::new(),
            ..Default::default()
        },
        requested_at: at(10, minute % 60),
        due_date: None,
        group: None,
        sys_updated_on: Some(at(11, minute % 60)),
        change: Change {
            sys_id: format!("chg-{sys_id}"),
            number: format!("CHG{minute:07}"),
            short_description: tag.into(),
            change_type: Some(ChangeType::Normal),
            risk: Some(Risk::Moderate),
            ..Change::default()
        },
    }
}

fn tagged(tag: &str, n: usize) -> Vec<Approval> {
    (0..n)
        .map(|i| plain_approval(&format!("{tag}-{i:05}"), tag, i as u32))
        .collect()
}

/// Version 1 exactly as it shipped, written out here so the test keeps checking the upgrade
/// from the real previous schema even if someone edits the code's copy.
const V1_SQL: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE approvals (
    sys_id          TEXT PRIMARY KEY NOT NULL,
    approver_sys_id TEXT NOT NULL,
    change_sys_id   TEXT NOT NULL,
    change_number   TEXT NOT NULL,
    state           TEXT NOT NULL,
    requested_at    TEXT NOT NULL,
    sys_updated_on  TEXT,
    data            TEXT NOT NULL
);
CREATE INDEX approvals_by_requested ON approvals (requested_at, sys_id);
CREATE INDEX approvals_by_change ON approvals (change_sys_id);
CREATE INDEX approvals_by_approver ON approvals (approver_sys_id);
";

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn open_creates_a_private_wal_store_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("signoff");
    let path = Store::path_for(&data_dir, "work").unwrap();
    assert_eq!(path, data_dir.join("work.sqlite3"));
    {
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.path(), path);
        assert_eq!(store.schema_version().unwrap(), 11);
        assert_eq!(SCHEMA_VERSION, 11);
        assert_eq!(store.outbox_pending().unwrap(), 0);
        store
            .replace_snapshot(&ada(), &[rich_approval()], at(12, 0), Some(at(9, 1)))
            .unwrap();
        store.set_meta("cursor", "42").unwrap();
        // SQLite's side files hold the same data: private too.
        #[cfg(unix)]
        for side in ["-wal", "-shm"] {
            let side = std::path::PathBuf::from(format!("{}{side}", path.display()));
            assert!(side.exists(), "{} exists while open", side.display());
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600);
        // The journal's signing key, next to the store: owner-only too.
        assert_eq!(mode(&signoff::store::JournalSigner::key_path(&path)), 0o600);
        assert_eq!(mode(&data_dir), 0o700);
        assert_eq!(mode(data_dir.parent().unwrap()), 0o700);
    }
    let conn = Connection::open(&path).unwrap();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app as u32, APPLICATION_ID);
    drop(conn);

    let store = Store::open(&path).unwrap();
    let snap = store.load_snapshot().unwrap();
    assert_eq!(snap.approvals, vec![rich_approval()]);
    assert_eq!(snap.user, Some(ada()));
    assert_eq!(snap.synced_at, Some(at(12, 0)));
    assert_eq!(snap.high_water, Some(at(9, 1)));
    assert_eq!(store.get_meta("cursor").unwrap().as_deref(), Some("42"));
}

#[test]
fn an_empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite3");
    std::fs::write(&path, b"").unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn migrates_a_version_1_store_and_keeps_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    let approval = rich_approval();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(V1_SQL).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID as i32)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO approvals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                approval.sys_id,
                approval.approver.sys_id,
                approval.change.sys_id,
                approval.change.number,
                approval.state.value(),
                "2025-06-02T08:15:00.123456789Z",
                "2025-06-02T09:01:00.000000000Z",
                serde_json::to_string(&approval).unwrap(),
            ],
        )
        .unwrap();
        let user = serde_json::to_string(&ada()).unwrap();
        for (k, v) in [
            ("snapshot.user", user.as_str()),
            ("snapshot.synced_at", "2025-06-02T12:00:00.000000000Z"),
            ("snapshot.high_water", "2025-06-02T09:01:00Z"),
        ] {
            conn.execute("INSERT INTO meta VALUES (?1, ?2)", [k, v])
                .unwrap();
        }
    }

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let snap = store.load_snapshot().unwrap();
    assert_eq!(snap.approvals, vec![approval.clone()]);
    // Rows from before the summary column: the summaries fall back to the whole record.
    assert_eq!(store.load_summaries().unwrap().approvals, vec![approval]);
    assert_eq!(snap.user, Some(ada()));
    assert_eq!(snap.synced_at, Some(at(12, 0)));
    assert_eq!(snap.high_water, Some(at(9, 1)));

    // The new tables are there and usable.
    assert_eq!(store.outbox_pending().unwrap(), 0);
    drop(store);
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO outbox (client_id, approval_sys_id, change_sys_id, decision, justification,
                             acting_user, created_at, updated_at, data)
         VALUES ('c1', 'appr-rich', 'chg-rich', 'approve', 'Looks safe', 'ada.lovelace',
                 '2025-06-02T12:01:00Z', '2025-06-02T12:01:00Z', '{}')",
        [],
    )
    .unwrap();
    assert!(
        conn.execute(
            "INSERT INTO outbox (client_id, approval_sys_id, change_sys_id, decision,
                                 justification, acting_user, created_at, updated_at, status)
             VALUES ('c2', 'a', 'c', 'approve', 'j', 'u', 't', 't', 'lost')",
            [],
        )
        .is_err(),
        "unknown outbox status accepted"
    );
    drop(conn);
    store = Store::open(&path).unwrap();
    assert_eq!(store.outbox_pending().unwrap(), 1);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

/// Asserts that opening `path` fails with an error matching `check` and leaves every byte
/// (and the absence of side files) as it was.
fn assert_refused(path: &Path, check: impl Fn(&StoreError) -> bool) -> String {
    let before = std::fs::read(path).unwrap();
    let err = Store::open(path).unwrap_err();
    assert!(check(&err), "unexpected error: {err:?}");
    let message = err.to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("--profile"), "{message}");
    assert!(std::fs::read(path).unwrap() == before, "file was modified");
    for side in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        assert!(!PathBuf::from(p).exists(), "{side} file created");
    }
    message
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(V1_SQL).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID as i32)
            .unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let message = assert_refused(&path, |e| {
        matches!(
            e,
            StoreError::NewerSchema {
                found: 99,
                known: SCHEMA_VERSION,
                ..
            }
        )
    });
    assert!(
        message.contains(&format!(
            "was written by a newer signoff (schema 99, this one knows {SCHEMA_VERSION})"
        )),
        "{message}"
    );
    assert!(message.contains("upgrade signoff"), "{message}");
}

#[test]
fn files_that_are_not_sqlite_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.sqlite3");
    std::fs::write(&text, "these are my notes, not a database\n").unwrap();
    assert_refused(&text, |e| matches!(e, StoreError::NotSqlite { .. }));

    let random = dir.path().join("random.sqlite3");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, bytes).unwrap();
    assert_refused(&random, |e| matches!(e, StoreError::NotSqlite { .. }));

    // Starts like SQLite but is cut short.
    let short = dir.path().join("short.sqlite3");
    std::fs::write(&short, b"SQLite format 3\0tiny").unwrap();
    assert_refused(&short, |e| matches!(e, StoreError::NotSqlite { .. }));

    let folder = dir.path().join("folder.sqlite3");
    std::fs::create_dir(&folder).unwrap();
    assert!(matches!(
        Store::open(&folder),
        Err(StoreError::IsDirectory { .. })
    ));
}

#[test]
fn another_applications_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        conn.pragma_update(None, "application_id", 0x0F0F_0F0F)
            .unwrap();
    }
    let message = assert_refused(&path, |e| {
        matches!(
            e,
            StoreError::OtherApplication {
                application_id: 0x0F0F_0F0F,
                ..
            }
        )
    });
    assert!(message.contains("another application"), "{message}");

    // Another application's empty database (only the id set) is not ours either.
    let bare = dir.path().join("bare.sqlite3");
    {
        let conn = Connection::open(&bare).unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
    }
    assert_refused(&bare, |e| matches!(e, StoreError::OtherApplication { .. }));
}

#[test]
fn an_unmarked_database_with_tables_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unmarked.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);
             INSERT INTO invoices (total) VALUES (12.5);",
        )
        .unwrap();
    }
    let message = assert_refused(&path, |e| matches!(e, StoreError::Unrecognised { .. }));
    assert!(message.contains("did not create"), "{message}");
}

#[test]
fn replace_snapshot_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let mut store = Store::open(&path).unwrap();

    let mut minimal = plain_approval("appr-min", "min", 1);
    minimal.state = ApprovalState::NotRequired;
    minimal.sys_updated_on = None;
    minimal.change = Change {
        sys_id: "chg-min".into(),
        ..Change::default()
    };
    let mut emergency = plain_approval("appr-emer", "emer", 2);
    emergency.change.change_type = Some(ChangeType::Emergency);
    emergency.change.detail_source = DetailSource::Summary;
    let all = vec![rich_approval(), minimal, emergency];

    store
        .replace_snapshot(&ada(), &all, at(12, 0), Some(at(11, 2)))
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    let snap = store.load_snapshot().unwrap();
    // Order: requested_at, then sys_id.
    let mut expected = all.clone();
    expected.sort_by(|a, b| (a.requested_at, &a.sys_id).cmp(&(b.requested_at, &b.sys_id)));
    assert_eq!(snap.approvals, expected);
    assert_eq!(snap.user, Some(ada()));
    assert_eq!(snap.synced_at, Some(at(12, 0)));
    assert_eq!(snap.high_water, Some(at(11, 2)));

    // A second replace drops what the first had.
    let mut store = store;
    store
        .replace_snapshot(&ada(), &[rich_approval()], at(13, 0), None)
        .unwrap();
    let snap = store.load_snapshot().unwrap();
    assert_eq!(snap.approvals, vec![rich_approval()]);
    assert_eq!(snap.synced_at, Some(at(13, 0)));
    assert_eq!(snap.high_water, None);
}

#[test]
fn apply_changes_upserts_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let mut store = Store::open(&path).unwrap();
    store
        .replace_snapshot(&ada(), &tagged("A", 5), at(12, 0), Some(at(11, 4)))
        .unwrap();

    let mut changed = plain_approval("A-00001", "A", 1);
    changed.state = ApprovalState::Approved;
    changed.change.short_description = "edited".into();
    let added = plain_approval("N-00001", "N", 30);
    store
        .apply_changes(
            &ada(),
            &[changed.clone(), added.clone()],
            &["A-00003".into(), "A-00004".into(), "not-cached".into()],
            at(12, 5),
            Some(at(11, 30)),
        )
        .unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.approval_ids().unwrap(),
        ["A-00000", "A-00001", "A-00002", "N-00001"]
    );
    let snap = store.load_snapshot().unwrap();
    assert_eq!(snap.approvals.len(), 4);
    assert_eq!(
        snap.approvals.iter().find(|a| a.sys_id == "A-00001"),
        Some(&changed)
    );
    assert_eq!(
        snap.approvals.iter().find(|a| a.sys_id == "N-00001"),
        Some(&added)
    );
    assert_eq!(snap.synced_at, Some(at(12, 5)));
    assert_eq!(snap.high_water, Some(at(11, 30)));
}

// ---- atomicity under SIGKILL -------------------------------------------------------------

const CRASH_DB_ENV: &str = "SIGNOFF_STORE_CRASH_CHILD_DB";
const CHILD_TEST: &str = "crash_child_writes_snapshots_forever";
const A_COUNT: usize = 2_000;
const B_COUNT: usize = 3_000;

fn synced_at_for(tag: &str) -> DateTime<Utc> {
    if tag == "A" { at(1, 0) } else { at(2, 0) }
}

/// Not a test on its own: the child process of `snapshots_survive_sigkill_mid_write`. It does
/// nothing unless the parent set the environment variable.
#[test]
#[ignore = "child process of snapshots_survive_sigkill_mid_write"]
fn crash_child_writes_snapshots_forever() {
    let Some(path) = std::env::var_os(CRASH_DB_ENV) else {
        return;
    };
    let a = tagged("A", A_COUNT);
    let b = tagged("B", B_COUNT);
    let mut store = Store::open(Path::new(&path)).unwrap();
    for i in 0u64.. {
        let (tag, list) = if i % 2 == 0 { ("A", &a) } else { ("B", &b) };
        store
            .replace_snapshot(&ada(), list, synced_at_for(tag), None)
            .unwrap();
        println!("committed {tag} {i}");
    }
}

#[test]
fn snapshots_survive_sigkill_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite3");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    // (commits to wait for, extra delay before the kill): varied so the kill lands in
    // different phases of a write.
    let rounds: [(usize, u64); 5] = [(1, 0), (2, 13), (1, 37), (3, 5), (2, 61)];
    let mut seen = std::collections::BTreeSet::new();

    for (round, (commits, delay_ms)) in rounds.into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--include-ignored"])
            .env(CRASH_DB_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut committed = 0;
        while committed < commits {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("committed ") => committed += 1,
                Some(Ok(_)) => {}
                other => {
                    let status = child.wait().unwrap();
                    panic!("round {round}: child stopped early ({status}): {other:?}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        drop(lines);

        let store = Store::open(&path).unwrap();
        let snap = store.load_snapshot().unwrap();
        let tag = snap
            .approvals
            .first()
            .map(|a| a.change.short_description.clone())
            .unwrap_or_else(|| panic!("round {round}: empty snapshot after the kill"));
        let expected = if tag == "A" { A_COUNT } else { B_COUNT };
        assert!(tag == "A" || tag == "B", "round {round}: tag {tag:?}");
        assert_eq!(
            snap.approvals.len(),
            expected,
            "round {round}: partial snapshot"
        );
        assert!(
            snap.approvals
                .iter()
                .all(|a| a.change.short_description == tag && a.sys_id.starts_with(&tag)),
            "round {round}: mixed snapshot"
        );
        assert_eq!(snap.synced_at, Some(synced_at_for(&tag)), "round {round}");
        assert_eq!(snap.user, Some(ada()));
        seen.insert(tag);
    }
    eprintln!(
        "crash test: {} rounds in {:?}, saw snapshots {seen:?}",
        rounds.len(),
        started.elapsed()
    );
}

/// A foreign WAL-mode database left behind by a crash (its last commits only in the -wal
/// file, the main file's header still unmarked): reading it must not checkpoint into it.
#[test]
fn a_crashed_foreign_wal_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sqlite3");
    let path = dir.path().join("crashed.sqlite3");
    let wal = |p: &Path| {
        let mut s = p.as_os_str().to_owned();
        s.push("-wal");
        PathBuf::from(s)
    };
    let conn = Connection::open(&live).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t (x); INSERT INTO t VALUES (1);",
    )
    .unwrap();
    conn.pragma_update(None, "application_id", 0x0F0F_0F0F)
        .unwrap();
    // Copy while the other connection is still open: the copy looks like a crashed process.
    std::fs::copy(&live, &path).unwrap();
    std::fs::copy(wal(&live), wal(&path)).unwrap();
    drop(conn);

    let main_before = std::fs::read(&path).unwrap();
    let wal_before = std::fs::read(wal(&path)).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OtherApplication {
                application_id: 0x0F0F_0F0F,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        std::fs::read(&path).unwrap() == main_before,
        "main file modified"
    );
    assert!(
        std::fs::read(wal(&path)).unwrap() == wal_before,
        "-wal file modified"
    );
}

#[test]
fn summaries_leave_out_the_long_texts_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite3")).unwrap();
    let full = rich_approval();
    store
        .replace_snapshot(&ada(), std::slice::from_ref(&full), at(12, 0), None)
        .unwrap();
    let summary = store.load_summaries().unwrap();
    assert_eq!(summary.user, Some(ada()));
    assert_eq!(summary.synced_at, Some(at(12, 0)));
    let s = &summary.approvals[0];
    assert!(!full.change.implementation_plan.is_empty());
    assert!(s.change.implementation_plan.is_empty() && s.change.description.is_empty());
    assert_eq!(s.change.short_description, full.change.short_description);
    assert_eq!(s.change.start_date, full.change.start_date);
    assert_eq!(s.change.risk, full.change.risk);
    assert_eq!(*s, signoff::store::summary_of(&full));
    assert_eq!(store.load_snapshot().unwrap().approvals, vec![full]);
}
