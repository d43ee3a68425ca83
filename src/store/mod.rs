//! The local store: one SQLite file per profile holding the last synced queue (so signoff opens
//! instantly and reads offline), sync metadata, the outbox of decisions and the audit journal.
//!
//! Every write is one transaction, so a crash or a kill leaves either the old state or the new
//! one, never a mix. The file is recognised by `PRAGMA application_id` and versioned with
//! `PRAGMA user_version`; a file that is not a signoff store, or was written by a newer signoff,
//! is refused before anything is written to it.

mod cab;
mod context;
mod error;
mod governance;
mod journal;
mod outbox;
mod queue;
mod schema;
mod sla;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::domain::{Approval, Delegation, DetailSource, LongTexts, User};

pub use crate::domain::cab::MoveStatus;
pub use cab::{CabMove, CabNote};
pub use error::StoreError;
pub use journal::{DeploymentRecord, JournalSigner};
pub use outbox::{
    GENESIS, JournalEntry, OutboxEntry, Superseded, anchor_of, chain_hash, new_client_id,
};
pub use queue::QueueTotals;
pub use schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// How long a statement waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Meta keys the store itself uses. Other keys are free for callers of `get_meta`/`set_meta`.
const META_USER: &str = "snapshot.user";
const META_SYNCED_AT: &str = "snapshot.synced_at";
const META_HIGH_WATER: &str = "snapshot.high_water";
const META_DELEGATIONS: &str = "delegations";
/// Where a pruned journal starts (a signed `Checkpoint`, JSON).
const META_CHECKPOINT: &str = "journal.checkpoint";

/// The cached queue as of the last successful sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub user: Option<User>,
    /// Ordered by `requested_at`, then `sys_id`; callers re-sort as they need.
    pub approvals: Vec<Approval>,
    /// When the last successful sync finished.
    pub synced_at: Option<DateTime<Utc>>,
    /// The largest `sys_updated_on` seen, for incremental sync.
    pub high_water: Option<DateTime<Utc>>,
}

/// An open signoff store.
/// What the last sync left behind, apart from the approvals themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    pub user: Option<User>,
    pub synced_at: Option<DateTime<Utc>>,
    pub high_water: Option<DateTime<Utc>>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Signs the journal's entries (the store's key, next to the file).
    signer: std::sync::Arc<JournalSigner>,
    /// The policy the cached rows are placed in the queue by (see `queue`).
    policy: crate::domain::Policy,
    /// Whether `policy` is the one recorded with the rows (else the default, unrecorded).
    policy_recorded: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Formats a time the way the store keeps it: RFC 3339, UTC, nanoseconds (fixed width, so
/// text order is time order).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a time written by `format_time` (any RFC 3339 time is accepted).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Opens or creates the store file: parent folder created (0700), file mode 0600, WAL
    /// journal mode, busy timeout, foreign keys on, migrations run in one transaction.
    ///
    /// A file that is not a signoff store (not SQLite, another application's database, or an
    /// unmarked database that already has tables) or that a newer signoff wrote is refused and
    /// left byte-for-byte untouched. An empty file or a new path becomes a new store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, None)
    }

    /// Like [`Store::open`]; a new journal key goes to the keyring of `secrets` when it has
    /// one (a store whose key is already somewhere keeps it there).
    pub fn open_with(
        path: &Path,
        secrets: Option<&crate::secrets::Secrets>,
    ) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::config::ensure_private_dir(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }

        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => return Err(StoreError::IsDirectory { path }),
            Ok(_) => schema::check_header(&path, schema::read_header(&path)?)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match create_private_file(&path) {
                    Ok(()) => {}
                    // Another process created it meanwhile: check it like any existing file.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        schema::check_header(&path, schema::read_header(&path)?)?
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        }

        let sql = |action| {
            let path = path.clone();
            move |e| StoreError::sqlite(&path, action, e)
        };
        // Look before writing: a read-only connection that never checkpoints on close, so a
        // file that turns out not to be ours (even one with a -wal left by a crash) is not
        // modified. `migrate` checks again inside its write transaction.
        {
            let probe = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql("open the database"))?;
            probe
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                .map_err(sql("open the database"))?;
            probe
                .busy_timeout(BUSY_TIMEOUT)
                .map_err(sql("set the busy timeout"))?;
            let found = schema::inspect(&probe).map_err(sql("read the schema"))?;
            schema::classify(&path, found)?;
        }

        let mut conn = connect(&path)?;
        migrate(&mut conn, &path)?;
        restrict_permissions(&path).map_err(io)?;
        // SQLite's side files hold the same data (changes, decisions): private too.
        for side in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(side);
            let side = PathBuf::from(name);
            if side.exists() {
                restrict_permissions(&side).map_err(io)?;
            }
        }

        let signer = journal::signer_for(&conn, &path, secrets)?;
        let recorded = queue::recorded_policy(&conn).map_err(sql("read the queue policy"))?;
        let policy_recorded = recorded.is_some();
        let policy = recorded.unwrap_or_default();
        // Rows written before the queue's order was stored (schema 8), or before its filter
        // facts were (schema 10), are placed once.
        let unplaced: bool = conn
            .query_row(
                // Two lookups an index answers each (an OR of them would scan the table).
                "SELECT EXISTS (SELECT 1 FROM approvals WHERE q_hold IS NULL)
                     OR EXISTS (SELECT 1 FROM approvals WHERE q_kind IS NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(sql("read the queue order"))?;
        if unplaced {
            queue::place_rows(&mut conn, &path, &policy, true)?;
        }
        Ok(Store {
            conn,
            path,
            signer,
            policy,
            policy_recorded: policy_recorded || unplaced,
        })
    }

    /// Another connection to this store's file for the page writer of a full pull, on a
    /// thread of its own: the same journal key and queue policy, without checking the file
    /// again. Its commits are not fsynced one by one (`synchronous = NORMAL`: WAL frames reach
    /// the disk at the next checkpoint or full commit): it writes only rows the server sends
    /// again, so power lost mid-pull costs a refetch, never a decision.
    pub fn page_writer(&self) -> Result<Store, StoreError> {
        let conn = connect(&self.path)?;
        // Fewer checkpoints (every 4,000 pages instead of 1,000) copy each of the index pages
        // a pull touches again and again fewer times.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000;")
            .map_err(|e| StoreError::sqlite(&self.path, "configure the database", e))?;
        Ok(Store {
            conn,
            path: self.path.clone(),
            signer: self.signer.clone(),
            policy: self.policy.clone(),
            policy_recorded: self.policy_recorded,
        })
    }

    /// `<data_dir>/<profile>.sqlite3`. Profile names are 1 to 64 of `[A-Za-z0-9_-]`.
    pub fn path_for(data_dir: &Path, profile: &str) -> Result<PathBuf, StoreError> {
        let valid = (1..=64).contains(&profile.len())
            && profile
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(StoreError::InvalidProfile {
                profile: profile.to_string(),
            });
        }
        Ok(data_dir.join(format!("{profile}.sqlite3")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file (`SCHEMA_VERSION` once open succeeded).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let v: i32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err("read the schema version", e))?;
        Ok(v as u32)
    }

    /// The sync bookkeeping (user, last sync, high-water mark) without reading the approvals.
    pub fn sync_state(&self) -> Result<SyncState, StoreError> {
        let user = match self.get_meta(META_USER)? {
            Some(json) => Some(
                serde_json::from_str::<User>(&json)
                    .map_err(|e| self.corrupt(format!("the cached user is unreadable: {e}")))?,
            ),
            None => None,
        };
        Ok(SyncState {
            user,
            synced_at: self.meta_time(&self.conn, META_SYNCED_AT)?,
            high_water: self.meta_time(&self.conn, META_HIGH_WATER)?,
        })
    }

    /// The cached queue, read in one transaction so it is always one sync's result.
    pub fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        self.load(
            &["SELECT sys_id, data FROM approvals ORDER BY requested_at, sys_id"],
            false,
        )
    }

    /// The cached queue without the long texts of each change (see `summary_of`): several
    /// times faster to read for a large queue, for the first frame at start-up.
    pub fn load_summaries(&self) -> Result<Snapshot, StoreError> {
        // Two plain scans instead of a join: summaries on their own, then the whole record
        // of any row written before summaries existed. The caller orders the queue.
        let count = |table: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(|e| self.err("count the cached approvals", e))
        };
        if count("approvals")? == count("approval_summaries")? {
            self.load(&["SELECT sys_id, summary FROM approval_summaries"], true)
        } else {
            self.load(
                &[
                    "SELECT sys_id, summary FROM approval_summaries",
                    "SELECT sys_id, data FROM approvals
                 WHERE sys_id NOT IN (SELECT sys_id FROM approval_summaries)",
                ],
                true,
            )
        }
    }

    /// Reads a snapshot. `parallel` decodes on several threads (fastest, but holds the raw
    /// JSON and the decoded queue at once); otherwise each row is decoded as it is read.
    fn load(&self, selects: &[&str], parallel: bool) -> Result<Snapshot, StoreError> {
        let action = "read the cached queue";
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err(action, e))?;

        let user = match meta_get(&tx, META_USER).map_err(|e| self.err(action, e))? {
            Some(json) => Some(
                serde_json::from_str::<User>(&json)
                    .map_err(|e| self.corrupt(format!("the cached user is unreadable: {e}")))?,
            ),
            None => None,
        };
        let synced_at = self.meta_time(&tx, META_SYNCED_AT)?;
        let high_water = self.meta_time(&tx, META_HIGH_WATER)?;

        let started = std::time::Instant::now();
        let mut raw: Vec<(String, String)> = Vec::new();
        let mut approvals = Vec::new();
        for select in selects {
            let mut stmt = tx.prepare(select).map_err(|e| self.err(action, e))?;
            let mut rows = stmt.query([]).map_err(|e| self.err(action, e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
                let sys_id: String = row.get(0).map_err(|e| self.err(action, e))?;
                if parallel {
                    raw.push((sys_id, row.get(1).map_err(|e| self.err(action, e))?));
                } else {
                    let data = row
                        .get_ref(1)
                        .and_then(|v| v.as_str().map_err(Into::into))
                        .map_err(|e| self.err(action, e))?;
                    approvals.push(serde_json::from_str::<Approval>(data).map_err(|e| {
                        self.corrupt(format!("the cached approval {sys_id} is unreadable: {e}"))
                    })?);
                }
            }
        }
        tx.finish().map_err(|e| self.err(action, e))?;
        if parallel {
            approvals = self.decode_all(raw)?;
        }
        tracing::debug!(
            rows = approvals.len(),
            ms = started.elapsed().as_millis() as u64,
            parallel,
            "snapshot loaded"
        );

        Ok(Snapshot {
            user,
            approvals,
            synced_at,
            high_water,
        })
    }

    /// Decodes stored approvals, on several threads for a large queue: start-up shows the
    /// cached queue, and decoding is most of the time that takes.
    fn decode_all(&self, raw: Vec<(String, String)>) -> Result<Vec<Approval>, StoreError> {
        let path = self.path.as_path();
        let decode = |chunk: &[(String, String)]| -> Result<Vec<Approval>, StoreError> {
            chunk
                .iter()
                .map(|(sys_id, data)| {
                    serde_json::from_str::<Approval>(data).map_err(|e| StoreError::Corrupt {
                        path: path.to_path_buf(),
                        detail: format!("the cached approval {sys_id} is unreadable: {e}"),
                    })
                })
                .collect()
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4);
        if threads < 2 || raw.len() < 2_000 {
            return decode(&raw);
        }
        let chunk = raw.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Approval>, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = raw
                .chunks(chunk)
                .map(|c| scope.spawn(move || decode(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            detail: "decoding the cache failed".into(),
                        })
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(raw.len());
        for part in parts {
            out.append(&mut part?);
        }
        Ok(out)
    }

    /// Replaces the whole cached queue in one transaction: a crash mid-write leaves the
    /// previous snapshot intact.
    pub fn replace_snapshot(
        &mut self,
        user: &User,
        approvals: &[Approval],
        synced_at: DateTime<Utc>,
        high_water: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let action = "save the synced queue";
        let user_json = encode_user(&self.path, user)?;
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, action, e);

        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        delete_all_approvals(&tx).map_err(err)?;
        upsert_rows(&tx, &path, &self.policy, approvals)?;
        write_sync_meta(&tx, &user_json, synced_at, high_water).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Forgets the cached queue and whose it was (before a full pull for another user or
    /// instance, whose pages then arrive through [`Store::put_approvals`]).
    pub fn clear_queue(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "clear the cached queue", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        delete_all_approvals(&tx).map_err(err)?;
        tx.execute(
            "DELETE FROM meta WHERE key IN (?1, ?2, ?3)",
            [META_USER, META_SYNCED_AT, META_HIGH_WATER],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Saves pages of a full pull as they arrive (one short transaction, so a decision
    /// written meanwhile never waits long): each row is the server's at the time it was read.
    /// The pull ends with [`Store::apply_changes`], which removes the rows it did not see and
    /// records the sync.
    pub fn put_approvals(&mut self, approvals: &[Approval]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "save the synced queue", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        upsert_rows(&tx, &path, &self.policy, approvals)?;
        tx.commit().map_err(err)
    }

    /// Up to `limit` cached approvals whose change's long texts have not arrived yet (a full
    /// pull stores rows without them; see [`Store::put_long_texts`]).
    pub fn texts_pending(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let action = "read which approvals wait for their texts";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sys_id FROM approvals WHERE texts_pending = 1 LIMIT ?1")
            .map_err(|e| StoreError::sqlite(&self.path, action, e))?;
        let ids = stmt
            .query_map([limit as i64], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(|e| StoreError::sqlite(&self.path, action, e))?;
        Ok(ids)
    }

    /// Completes approvals with the long texts the server gave (`texts`, by approval sys_id),
    /// in one transaction, and stops waiting for the approvals in `asked` it left out (gone,
    /// or hidden from us since): the next sync settles them.
    /// Rows a newer sync replaced with whole ones meanwhile are left as they are.
    pub fn put_long_texts(
        &mut self,
        asked: &[String],
        texts: &[(String, LongTexts)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "save the changes' long texts", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut read = tx
                .prepare_cached(
                    "SELECT data FROM approvals WHERE sys_id = ?1 AND texts_pending = 1",
                )
                .map_err(err)?;
            let mut write = tx
                .prepare_cached(
                    "UPDATE approvals SET data = ?2, texts_pending = 0, q_text = ?3
                     WHERE sys_id = ?1",
                )
                .map_err(err)?;
            let mut summary = tx
                .prepare_cached(
                    "INSERT INTO approval_summaries (sys_id, summary) VALUES (?1, ?2)
                     ON CONFLICT (sys_id) DO UPDATE SET summary = excluded.summary",
                )
                .map_err(err)?;
            for (id, t) in texts {
                let data: Option<String> =
                    read.query_row([id], |r| r.get(0)).optional().map_err(err)?;
                let Some(data) = data else { continue };
                let mut a: Approval =
                    serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
                        path: path.clone(),
                        detail: format!("the cached approval {id} is unreadable: {e}"),
                    })?;
                a.change.set_long_texts(t);
                write
                    .execute(params![
                        id,
                        encode(&path, &a)?,
                        crate::domain::find::search_text(&a)
                    ])
                    .map_err(err)?;
                summary
                    .execute(params![id, encode(&path, &summary_of(&a))?])
                    .map_err(err)?;
            }
            // The rest of `asked` (those the texts completed are settled above).
            let answered: std::collections::HashSet<&str> =
                texts.iter().map(|(id, _)| id.as_str()).collect();
            let mut settle = tx
                .prepare_cached("UPDATE approvals SET texts_pending = 0 WHERE sys_id = ?1")
                .map_err(err)?;
            for id in asked.iter().filter(|id| !answered.contains(id.as_str())) {
                settle.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Applies an incremental sync in one transaction: upserts `upserts`, deletes the approvals
    /// whose sys_ids are in `removed`, and records `synced_at` and `high_water`.
    ///
    /// Refused when the cached queue belongs to another user (a full sync must replace it).
    pub fn apply_changes(
        &mut self,
        user: &User,
        upserts: &[Approval],
        removed: &[String],
        synced_at: DateTime<Utc>,
        high_water: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let action = "save the synced changes";
        let user_json = encode_user(&self.path, user)?;
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, action, e);

        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        if let Some(json) = meta_get(&tx, META_USER).map_err(err)? {
            let cached = serde_json::from_str::<User>(&json).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: format!("the cached user is unreadable: {e}"),
            })?;
            if cached.sys_id != user.sys_id {
                return Err(StoreError::UserMismatch {
                    path: path.clone(),
                    cached: cached.user_name,
                    given: user.user_name.clone(),
                });
            }
        }
        upsert_rows(&tx, &path, &self.policy, upserts)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM approvals WHERE sys_id = ?1")
                .map_err(err)?;
            let mut delete_summary = tx
                .prepare_cached("DELETE FROM approval_summaries WHERE sys_id = ?1")
                .map_err(err)?;
            for sys_id in removed {
                delete.execute([sys_id]).map_err(err)?;
                delete_summary.execute([sys_id]).map_err(err)?;
            }
        }
        write_sync_meta(&tx, &user_json, synced_at, high_water).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The sys_ids of all cached approvals, sorted.
    pub fn approval_ids(&self) -> Result<Vec<String>, StoreError> {
        let action = "list the cached approvals";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sys_id FROM approvals ORDER BY sys_id")
            .map_err(|e| self.err(action, e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(action, e))?;
        Ok(ids)
    }

    /// The cached approvals with these sys_ids (those not cached are left out).
    pub fn approvals_by_id(&self, ids: &[String]) -> Result<Vec<Approval>, StoreError> {
        let action = "read cached approvals";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT data FROM approvals WHERE sys_id = ?1")
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let data: Option<String> = stmt
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(action, e))?;
            if let Some(data) = data {
                out.push(serde_json::from_str::<Approval>(&data).map_err(|e| {
                    self.corrupt(format!("the cached approval {id} is unreadable: {e}"))
                })?);
            }
        }
        Ok(out)
    }

    /// The delegations given and received, as last synced (offline review shows who covers
    /// whom).
    pub fn delegations(&self) -> Result<Vec<Delegation>, StoreError> {
        match self.get_meta(META_DELEGATIONS)? {
            None => Ok(Vec::new()),
            Some(json) => {
                let mut list: Vec<Delegation> = serde_json::from_str(&json).map_err(|e| {
                    self.corrupt(format!("the cached delegations are unreadable: {e}"))
                })?;
                // Cleaned again on the way out: the file may have been edited.
                for d in &mut list {
                    d.sanitize().map_err(|e| {
                        self.corrupt(format!("a cached delegation is unusable: {e}"))
                    })?;
                }
                Ok(list)
            }
        }
    }

    pub fn set_delegations(&mut self, delegations: &[Delegation]) -> Result<(), StoreError> {
        let (key, json) = self.delegations_setting(delegations)?;
        self.set_metas(&[(key, &json)])
    }

    /// The setting [`Store::set_delegations`] writes, for [`Store::set_metas`].
    pub fn delegations_setting(
        &self,
        delegations: &[Delegation],
    ) -> Result<(&'static str, String), StoreError> {
        let json = serde_json::to_string(delegations).map_err(|e| StoreError::Encode {
            path: self.path.clone(),
            what: "delegations".into(),
            detail: e.to_string(),
        })?;
        Ok((META_DELEGATIONS, json))
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, key).map_err(|e| self.err("read a setting", e))
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        meta_set(&self.conn, key, value).map_err(|e| self.err("save a setting", e))
    }

    /// Several settings in one transaction: one commit (one fsync) for what a sync records.
    pub fn set_metas(&mut self, settings: &[(&str, &str)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "save the settings", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for (key, value) in settings {
            meta_set(&tx, key, value).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Decisions not yet delivered: outbox entries that are queued or being sent.
    pub fn outbox_pending(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM outbox
                 WHERE status IN ('queued', 'sending') AND data IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err("count the queued decisions", e))?;
        Ok(n.max(0) as usize)
    }

    fn err(&self, action: &'static str, e: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, action, e)
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    fn meta_time(&self, conn: &Connection, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match meta_get(conn, key).map_err(|e| self.err("read the sync times", e))? {
            None => Ok(None),
            Some(s) => parse_time(&s)
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("the time {key} is not RFC 3339: {s:?}"))),
        }
    }
}

/// Runs the missing migration steps in one IMMEDIATE transaction, re-checking the file inside
/// it (another signoff process may have migrated it meanwhile).
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |action| move |e| StoreError::sqlite(path, action, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("start the schema upgrade"))?;
    let found = schema::inspect(&tx).map_err(sql("read the schema"))?;
    let from = schema::classify(path, found)?;
    if from == SCHEMA_VERSION && found.application_id == APPLICATION_ID {
        return Ok(());
    }
    for step in &MIGRATIONS[from as usize..] {
        tx.execute_batch(step).map_err(sql("upgrade the schema"))?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION as i32)
        .map_err(sql("upgrade the schema"))?;
    tx.pragma_update(None, "application_id", APPLICATION_ID as i32)
        .map_err(sql("upgrade the schema"))?;
    tx.commit().map_err(sql("upgrade the schema"))
}

/// A connection to the store at `path` as every one is configured: WAL, a busy timeout, full
/// fsync on commit and foreign keys.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let sql = |action| move |e| StoreError::sqlite(path, action, e);
    let conn = Connection::open(path).map_err(sql("open the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sql("set the busy timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql("switch to WAL journal mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "the store could not use WAL journal mode");
    }
    // FULL: a committed decision survives power loss, not only a crash of signoff.
    // temp_store MEMORY: a statement's own undo journal stays in memory. An upsert of an
    // approval touches a dozen index pages and its count triggers, so each one spilled its
    // journal to a temporary file: a full pull of 12,000 approvals made 400,000 writes to
    // files that were deleted at once. Crash safety is the WAL's and does not change.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .map_err(sql("configure the database"))?;
    Ok(conn)
}

/// Empties the cached queue and its summaries and counts, freeing the pages instead of reading
/// every row for the count trigger (which is dropped for the delete and created again).
fn delete_all_approvals(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(concat!(
        "DROP TRIGGER queue_counts_delete;
         DELETE FROM approvals;
         DELETE FROM approval_summaries;
         DELETE FROM queue_counts;
         DELETE FROM sla_hours;
         DELETE FROM instance_slas;
        ",
        schema::count_on_delete!()
    ))
}

/// The approval without its long texts: what the queue list needs.
pub fn summary_of(a: &Approval) -> Approval {
    let mut s = a.clone();
    for text in s.change.long_texts_mut() {
        text.clear();
    }
    s
}

/// One approval as stored: the indexed columns and the whole value as JSON.
fn encode(path: &Path, a: &Approval) -> Result<String, StoreError> {
    serde_json::to_string(a).map_err(|e| StoreError::Encode {
        path: path.to_path_buf(),
        what: format!("approval {}", a.sys_id),
        detail: e.to_string(),
    })
}

fn encode_user(path: &Path, user: &User) -> Result<String, StoreError> {
    serde_json::to_string(user).map_err(|e| StoreError::Encode {
        path: path.to_path_buf(),
        what: format!("user {}", user.user_name),
        detail: e.to_string(),
    })
}

/// Writes approvals one at a time (encoding each just before it is written, so a large
/// queue's JSON is never all in memory at once).
fn upsert_rows(
    conn: &Connection,
    path: &Path,
    policy: &crate::domain::Policy,
    approvals: &[Approval],
) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, "save the synced queue", e);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO approvals
                 (sys_id, approver_sys_id, change_sys_id, change_number, state,
                  requested_at, sys_updated_on, data, q_hold, q_tier, q_deadline, q_warning,
                  approver_name, texts_pending, q_kind, q_risk, q_cab, q_window, q_requested,
                  q_number, q_text, q_ci, q_window_end)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22, ?23)
             ON CONFLICT (sys_id) DO UPDATE SET
                 approver_sys_id = excluded.approver_sys_id,
                 change_sys_id = excluded.change_sys_id,
                 change_number = excluded.change_number,
                 state = excluded.state,
                 requested_at = excluded.requested_at,
                 sys_updated_on = excluded.sys_updated_on,
                 data = excluded.data,
                 q_hold = excluded.q_hold,
                 q_tier = excluded.q_tier,
                 q_deadline = excluded.q_deadline,
                 q_warning = excluded.q_warning,
                 approver_name = excluded.approver_name,
                 texts_pending = excluded.texts_pending,
                 q_kind = excluded.q_kind,
                 q_risk = excluded.q_risk,
                 q_cab = excluded.q_cab,
                 q_window = excluded.q_window,
                 q_requested = excluded.q_requested,
                 q_number = excluded.q_number,
                 q_text = excluded.q_text,
                 q_ci = excluded.q_ci,
                 q_window_end = excluded.q_window_end",
        )
        .map_err(err)?;
    let mut summaries = conn
        .prepare_cached(
            "INSERT INTO approval_summaries (sys_id, summary) VALUES (?1, ?2)
             ON CONFLICT (sys_id) DO UPDATE SET summary = excluded.summary",
        )
        .map_err(err)?;
    let mut no_summary = conn
        .prepare_cached("DELETE FROM approval_summaries WHERE sys_id = ?1")
        .map_err(err)?;
    // The instance's SLA clock on each change, as the last sync read them (a row from the
    // server never carries it), looked up once for all the rows.
    let changes: Vec<&str> = approvals.iter().map(|a| a.change.sys_id.as_str()).collect();
    let slas = sla::counting_for(conn, path, &changes)?;
    for a in approvals {
        let counting = slas.get(&a.change.sys_id);
        let a = if a.change.instance_sla.as_ref() == counting {
            std::borrow::Cow::Borrowed(a)
        } else {
            let mut a = a.clone();
            a.change.instance_sla = counting.cloned();
            std::borrow::Cow::Owned(a)
        };
        let a = a.as_ref();
        let data = encode(path, a)?;
        // A row without long texts (a full pull's, before its second pass) is its own
        // summary: readers fall back to `data` when there is no summary row.
        if a.change.has_long_texts() {
            let summary = encode(path, &summary_of(a))?;
            summaries.execute(params![a.sys_id, summary]).map_err(err)?;
        } else {
            no_summary.execute([&a.sys_id]).map_err(err)?;
        }
        let (hold, tier, deadline, warning) = queue::place_params(policy, a);
        let f = queue::Facts::of(a);
        stmt.execute(params![
            a.sys_id,
            a.approver.sys_id,
            a.change.sys_id,
            a.change.number,
            a.state.value(),
            format_time(a.requested_at),
            a.sys_updated_on.map(format_time),
            data,
            hold,
            tier,
            deadline,
            warning,
            a.approver.name,
            a.change.detail_source == DetailSource::TextsPending,
            f.kind,
            f.risk,
            f.cab,
            f.window,
            f.requested,
            f.number,
            f.text,
            f.ci,
            f.window_end,
        ])
        .map_err(err)?;
    }
    Ok(())
}

/// Records whose queue this is and when it was synced.
fn write_sync_meta(
    conn: &Connection,
    user_json: &str,
    synced_at: DateTime<Utc>,
    high_water: Option<DateTime<Utc>>,
) -> rusqlite::Result<()> {
    meta_set(conn, META_USER, user_json)?;
    meta_set(conn, META_SYNCED_AT, &format_time(synced_at))?;
    match high_water {
        Some(t) => meta_set(conn, META_HIGH_WATER, &format_time(t)),
        None => meta_delete(conn, META_HIGH_WATER),
    }
}

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

fn meta_delete(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

/// The store holds change details and decisions: owner-only, whatever the umask or an older
/// copy said. Runs only once the file is known to be ours.
#[cfg(unix)]
pub(crate) fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != 0o600 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
