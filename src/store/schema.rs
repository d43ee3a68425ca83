//! The store's schema: an ordered list of migration steps, and the checks that tell a signoff
//! store from any other file before anything is written to it.

use std::io::Read;
use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// `PRAGMA application_id` of every signoff store: "SIGN" in ASCII.
pub const APPLICATION_ID: u32 = 0x5349_474E;

/// Migration steps in order: step `i` takes the schema from version `i` to `i + 1`. Never edit
/// a step that has shipped; add a new one.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Version 1: sync metadata and the cached queue. `data` is the whole domain `Approval`
/// (including its `Change`) as JSON; the other columns are copies for lookups and ordering.
/// Times are RFC 3339 in UTC with nanoseconds, so they sort as text.
const V1: &str = "
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

/// Version 2: the outbox of decisions (written before any network call) and the hash-chained
/// audit journal (append-only: the triggers refuse edits and deletions).
const V2: &str = "
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    client_id       TEXT NOT NULL UNIQUE,
    approval_sys_id TEXT NOT NULL,
    change_sys_id   TEXT NOT NULL,
    decision        TEXT NOT NULL,
    justification   TEXT NOT NULL,
    acting_user     TEXT NOT NULL,
    on_behalf_of    TEXT,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'applied', 'conflict', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    server_answer   TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_by_status ON outbox (status, id);
CREATE INDEX outbox_by_approval ON outbox (approval_sys_id);
CREATE TABLE journal (
    seq        INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind       TEXT NOT NULL,
    entry      TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
";

/// Version 3: each approval's summary, the approval without its long texts (description,
/// justification, plans), so start-up can show a large queue before decoding every plan. In a
/// table of its own: read from `approvals`, it would sit behind `data`'s overflow pages. Rows
/// written before version 3 have none; readers fall back to `data`.
const V3: &str = "
CREATE TABLE approval_summaries (
    sys_id  TEXT PRIMARY KEY NOT NULL,
    summary TEXT NOT NULL
);
";

/// Version 4: the whole decision as JSON beside its columns (it carries the approval as the
/// user saw it, which conflict detection compares with the server's copy).
const V4: &str = "
ALTER TABLE outbox ADD COLUMN data TEXT;
";

/// Version 5: a decision can be superseded (a newer decision on the same approval replaced it
/// before it was delivered). SQLite cannot change a CHECK, so the outbox is rebuilt.
const V5: &str = "
CREATE TABLE outbox_v5 (
    id              INTEGER PRIMARY KEY,
    client_id       TEXT NOT NULL UNIQUE,
    approval_sys_id TEXT NOT NULL,
    change_sys_id   TEXT NOT NULL,
    decision        TEXT NOT NULL,
    justification   TEXT NOT NULL,
    acting_user     TEXT NOT NULL,
    on_behalf_of    TEXT,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'applied', 'conflict', 'failed',
                                      'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    server_answer   TEXT,
    updated_at      TEXT NOT NULL,
    data            TEXT
);
INSERT INTO outbox_v5 (id, client_id, approval_sys_id, change_sys_id, decision, justification,
                       acting_user, on_behalf_of, created_at, status, attempts, last_error,
                       server_answer, updated_at, data)
    SELECT id, client_id, approval_sys_id, change_sys_id, decision, justification, acting_user,
           on_behalf_of, created_at, status, attempts, last_error, server_answer, updated_at, data
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v5 RENAME TO outbox;
CREATE INDEX outbox_by_status ON outbox (status, id);
CREATE INDEX outbox_by_approval ON outbox (approval_sys_id);
";

/// Version 6: CAB meetings. The meetings list and each meeting opened are cached whole (JSON
/// of the domain's summary and detail) so a meeting can be run offline; a chair's moves wait
/// in their own outbox, in order, with where they expected the meeting to stand; notes typed
/// during a session are kept per item until they are shared to the meeting's notes.
const V6: &str = "
CREATE TABLE cab_meetings (
    sys_id     TEXT PRIMARY KEY NOT NULL,
    start      TEXT,
    data       TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
CREATE TABLE cab_details (
    sys_id     TEXT PRIMARY KEY NOT NULL,
    data       TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
CREATE TABLE cab_moves (
    id          INTEGER PRIMARY KEY,
    meeting     TEXT NOT NULL,
    move        TEXT NOT NULL,
    made_at     TEXT NOT NULL,
    host        TEXT NOT NULL,
    expected    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sending', 'applied', 'conflict', 'failed')),
    last_error  TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX cab_moves_by_status ON cab_moves (status, id);
CREATE TABLE cab_notes (
    id         INTEGER PRIMARY KEY,
    meeting    TEXT NOT NULL,
    item       TEXT NOT NULL,
    number     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    shared     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cab_notes_by_meeting ON cab_notes (meeting, id);
";

/// What the first 100 bytes of an existing file say, read without SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// The file is empty: SQLite treats it as a new database.
    Empty,
    Sqlite {
        user_version: u32,
        application_id: u32,
    },
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Reads the database header of `path` with plain file IO, so that a file which is not ours is
/// refused before SQLite opens it (opening can roll back a hot journal, which writes).
pub(crate) fn read_header(path: &Path) -> Result<Header, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(100);
    file.by_ref().take(100).read_to_end(&mut buf).map_err(io)?;
    parse_header(&buf).ok_or_else(|| StoreError::NotSqlite {
        path: path.to_path_buf(),
    })
}

/// `None` when the bytes are not the start of an SQLite database.
pub(crate) fn parse_header(bytes: &[u8]) -> Option<Header> {
    if bytes.is_empty() {
        return Some(Header::Empty);
    }
    if bytes.len() < 100 || &bytes[..16] != MAGIC {
        return None;
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some(Header::Sqlite {
        user_version: be(60),
        application_id: be(68),
    })
}

/// What SQLite says about an open database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inspection {
    pub application_id: u32,
    pub user_version: u32,
    /// Tables, indexes, views and triggers in `sqlite_schema`.
    pub objects: u64,
}

pub(crate) fn inspect(conn: &Connection) -> rusqlite::Result<Inspection> {
    // Both pragmas are signed 32-bit integers in SQLite; the header stores them as raw bits.
    let application_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let user_version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    Ok(Inspection {
        application_id: application_id as u32,
        user_version: user_version as u32,
        objects: objects.max(0) as u64,
    })
}

/// Decides whether the database may be used, and from which schema version it must be
/// migrated. Refuses anything that is not a signoff store or is newer than this build.
pub(crate) fn classify(path: &Path, found: Inspection) -> Result<u32, StoreError> {
    let path = path.to_path_buf();
    match found.application_id {
        APPLICATION_ID => {
            if found.user_version > SCHEMA_VERSION {
                Err(StoreError::NewerSchema {
                    path,
                    found: found.user_version,
                    known: SCHEMA_VERSION,
                })
            } else if found.user_version == 0 && found.objects > 0 {
                Err(StoreError::Corrupt {
                    path,
                    detail: "it carries signoff's mark but no schema version".to_string(),
                })
            } else {
                Ok(found.user_version)
            }
        }
        0 if found.objects > 0 => Err(StoreError::Unrecognised {
            path,
            reason: format!("it already holds {} tables or indexes", found.objects),
        }),
        0 if found.user_version != 0 => Err(StoreError::Unrecognised {
            path,
            reason: format!("its user_version is {}", found.user_version),
        }),
        0 => Ok(0),
        other => Err(StoreError::OtherApplication {
            path,
            application_id: other,
        }),
    }
}

/// The same checks on the raw header, before SQLite touches the file. The schema count is not
/// in the header, so this cannot catch everything; `classify` runs again once open.
pub(crate) fn check_header(path: &Path, header: Header) -> Result<(), StoreError> {
    match header {
        Header::Empty => Ok(()),
        Header::Sqlite {
            user_version,
            application_id,
        } => match application_id {
            APPLICATION_ID | 0 => {
                if application_id == APPLICATION_ID && user_version > SCHEMA_VERSION {
                    Err(StoreError::NewerSchema {
                        path: path.to_path_buf(),
                        found: user_version,
                        known: SCHEMA_VERSION,
                    })
                } else {
                    Ok(())
                }
            }
            other => Err(StoreError::OtherApplication {
                path: path.to_path_buf(),
                application_id: other,
            }),
        },
    }
}

/// Version 7: journal entries are signed (Ed25519 over their sequence number and hash) and
/// name the key; entries from before stay unsigned and are reported as such. A decision keeps
/// the hash of its journal entry, which its server comment carries. Deployments a
/// reconciliation checked, with what it found.
const V7: &str = "
ALTER TABLE journal ADD COLUMN sig TEXT;
ALTER TABLE journal ADD COLUMN key_id TEXT;
INSERT INTO meta (key, value)
    SELECT 'journal.signing_since', CAST(COALESCE(MAX(seq), 0) + 1 AS TEXT) FROM journal;
ALTER TABLE outbox ADD COLUMN journal_hash TEXT;
CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    environment  TEXT NOT NULL,
    change       TEXT NOT NULL,
    service      TEXT NOT NULL,
    version      TEXT NOT NULL,
    finding      TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    UNIQUE (at, environment, change, service, version)
);
";

/// Version 8: each approval's place in the queue as the policy computes it (held or not, tier
/// as 0 = emergency to 4 = low, SLA deadline and warning time in milliseconds), and an index
/// in queue order that covers what the queue's outline needs, so the first screen, the tier
/// counts and the whole order are read without decoding an approval. Rows written before
/// version 8 have NULLs until the store places them (at open, with the policy it last used).
const V8: &str = "
ALTER TABLE approvals ADD COLUMN q_hold INTEGER;
ALTER TABLE approvals ADD COLUMN q_tier INTEGER;
ALTER TABLE approvals ADD COLUMN q_deadline INTEGER;
ALTER TABLE approvals ADD COLUMN q_warning INTEGER;
ALTER TABLE approvals ADD COLUMN approver_name TEXT;
CREATE INDEX approvals_in_queue_order ON approvals
    (q_hold, q_tier, q_deadline, change_number, sys_id, approver_sys_id, approver_name, q_warning);
";

// The statements the count triggers are made of, each written once: a row's (held, tier)
// and SLA hours leave the counts (`OLD`) or join them (`NEW`).
macro_rules! queue_count_old {
    () => {
        "    UPDATE queue_counts SET n = n - 1
        WHERE hold = (OLD.q_hold IS 1) AND tier = IFNULL(OLD.q_tier, -1);
"
    };
}
macro_rules! queue_count_new {
    () => {
        "    INSERT INTO queue_counts (hold, tier, n) VALUES (NEW.q_hold IS 1, IFNULL(NEW.q_tier, -1), 1)
        ON CONFLICT (hold, tier) DO UPDATE SET n = n + 1;
"
    };
}
macro_rules! sla_hours_old {
    () => {
        "    UPDATE sla_hours SET n = n - 1
        WHERE OLD.q_deadline IS NOT NULL AND OLD.q_warning IS NOT NULL
            AND hold = (OLD.q_hold IS 1) AND kind = 0 AND hour = OLD.q_deadline / 3600000;
    UPDATE sla_hours SET n = n - 1
        WHERE OLD.q_deadline IS NOT NULL AND OLD.q_warning IS NOT NULL
            AND hold = (OLD.q_hold IS 1) AND kind = 1
            AND hour = min(OLD.q_warning, OLD.q_deadline) / 3600000;
    DELETE FROM sla_hours WHERE n <= 0 AND hold = (OLD.q_hold IS 1)
        AND ((kind = 0 AND hour = OLD.q_deadline / 3600000)
            OR (kind = 1 AND hour = min(OLD.q_warning, OLD.q_deadline) / 3600000));
"
    };
}
macro_rules! sla_hours_new {
    () => {
        "    INSERT INTO sla_hours (hold, kind, hour, n)
        SELECT NEW.q_hold IS 1, 0, NEW.q_deadline / 3600000, 1
            WHERE NEW.q_deadline IS NOT NULL AND NEW.q_warning IS NOT NULL
        ON CONFLICT (hold, kind, hour) DO UPDATE SET n = n + 1;
    INSERT INTO sla_hours (hold, kind, hour, n)
        SELECT NEW.q_hold IS 1, 1, min(NEW.q_warning, NEW.q_deadline) / 3600000, 1
            WHERE NEW.q_deadline IS NOT NULL AND NEW.q_warning IS NOT NULL
        ON CONFLICT (hold, kind, hour) DO UPDATE SET n = n + 1;
"
    };
}

/// The trigger that keeps the counts (`queue_counts`, `sla_hours`) when an approval row goes.
/// A bulk clear drops it, deletes, empties the counts and creates it again (see
/// `Store::delete_all_approvals`): with it in place SQLite reads every deleted row, long texts
/// and all, instead of freeing the table's pages.
macro_rules! count_on_delete {
    () => {
        concat!(
            "CREATE TRIGGER queue_counts_delete AFTER DELETE ON approvals BEGIN\n",
            $crate::store::schema::queue_count_old!(),
            $crate::store::schema::sla_hours_old!(),
            "END;\n"
        )
    };
}
pub(super) use {count_on_delete, queue_count_old, sla_hours_old};

/// Version 9: counts that cost the same at any queue size, kept by triggers. `queue_counts`
/// holds the number of cached approvals in each (held, tier) part of the queue (a NULL tier,
/// a row not yet placed, counts as tier -1). `sla_hours` counts, per hour, the SLA deadlines
/// (kind 0) and the times a row enters warning or breach (kind 1, the earlier of warning time
/// and deadline): the breached count at a time is the hours before it plus the rows of its
/// own hour (read from the deadline index), and the warning count is kind 1's minus kind
/// 0's. Rows not yet placed have no SLA times and are not counted there. `texts_pending`
/// marks the rows a full pull stored without their change's long texts, which follow.
const V9: &str = concat!(
    "
CREATE TABLE queue_counts (
    hold  INTEGER NOT NULL,
    tier  INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (hold, tier)
) WITHOUT ROWID;
CREATE TABLE sla_hours (
    hold  INTEGER NOT NULL,
    kind  INTEGER NOT NULL,
    hour  INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (hold, kind, hour)
) WITHOUT ROWID;
INSERT INTO queue_counts (hold, tier, n)
    SELECT q_hold IS 1, IFNULL(q_tier, -1), count(*) FROM approvals WHERE true GROUP BY 1, 2;
INSERT INTO sla_hours (hold, kind, hour, n)
    SELECT q_hold IS 1, 0, q_deadline / 3600000, count(*) FROM approvals
        WHERE q_deadline IS NOT NULL AND q_warning IS NOT NULL GROUP BY 1, 3;
INSERT INTO sla_hours (hold, kind, hour, n)
    SELECT q_hold IS 1, 1, min(q_warning, q_deadline) / 3600000, count(*) FROM approvals
        WHERE q_deadline IS NOT NULL AND q_warning IS NOT NULL GROUP BY 1, 3;
CREATE TRIGGER queue_counts_insert AFTER INSERT ON approvals BEGIN
",
    queue_count_new!(),
    sla_hours_new!(),
    "END;
CREATE TRIGGER queue_counts_update AFTER UPDATE OF q_hold, q_tier ON approvals
    WHEN (OLD.q_hold IS 1) IS NOT (NEW.q_hold IS 1)
        OR IFNULL(OLD.q_tier, -1) IS NOT IFNULL(NEW.q_tier, -1)
BEGIN
",
    queue_count_old!(),
    queue_count_new!(),
    "END;
CREATE TRIGGER sla_hours_update AFTER UPDATE OF q_hold, q_deadline, q_warning ON approvals
    WHEN (OLD.q_hold IS 1) IS NOT (NEW.q_hold IS 1)
        OR OLD.q_deadline IS NOT NEW.q_deadline OR OLD.q_warning IS NOT NEW.q_warning
BEGIN
",
    sla_hours_old!(),
    sla_hours_new!(),
    "END;
ALTER TABLE approvals ADD COLUMN texts_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX approvals_texts_pending ON approvals (sys_id) WHERE texts_pending = 1;
CREATE INDEX approvals_by_deadline ON approvals (q_hold, q_deadline, q_warning);
CREATE INDEX approvals_by_warning ON approvals (q_hold, min(q_warning, q_deadline));
",
    count_on_delete!()
);

/// Version 10: what filters, sorts and `/` search read (issue 16), kept beside the queue
/// place: the change type and risk as codes, CAB required, the window start and request time
/// (ms), the change number's digits, the lower-cased search text, and the CI and window end
/// (related changes: the same CI in an overlapping window). Rows from before are
/// placed again when the store opens (`q_kind IS NULL`). `change_context` caches each
/// change in full (approvals, journal, attachments, CAB facts) for offline review.
const V10: &str = "
ALTER TABLE approvals ADD COLUMN q_kind INTEGER;
ALTER TABLE approvals ADD COLUMN q_risk INTEGER;
ALTER TABLE approvals ADD COLUMN q_cab INTEGER;
ALTER TABLE approvals ADD COLUMN q_window INTEGER;
ALTER TABLE approvals ADD COLUMN q_requested INTEGER;
ALTER TABLE approvals ADD COLUMN q_number INTEGER;
ALTER TABLE approvals ADD COLUMN q_text TEXT;
ALTER TABLE approvals ADD COLUMN q_ci TEXT;
ALTER TABLE approvals ADD COLUMN q_window_end INTEGER;
CREATE INDEX approvals_by_ci ON approvals (q_ci, q_window);
CREATE INDEX approvals_without_facts ON approvals (sys_id) WHERE q_kind IS NULL;
CREATE TABLE change_context (
    change_sys_id TEXT PRIMARY KEY NOT NULL,
    data          TEXT NOT NULL
);
";

/// Version 11: the instance's own SLAs on changes (`task_sla`, issue 17), one row per record
/// by its sys_id: the running one that breaches first is copied into each approval of its
/// change (`Change::instance_sla`) and sets that approval's place in the queue. The related
/// changes' index covers what their query reads (5 ms to 0.2 ms for a CI with 1,600 rows).
const V11: &str = "
DROP INDEX approvals_by_ci;
CREATE INDEX approvals_by_ci ON approvals (q_ci, q_window, q_window_end, change_sys_id, sys_id);
CREATE TABLE instance_slas (
    sys_id        TEXT PRIMARY KEY NOT NULL,
    change_sys_id TEXT NOT NULL,
    data          TEXT NOT NULL
);
CREATE INDEX instance_slas_by_change ON instance_slas (change_sys_id);
";
