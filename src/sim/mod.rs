//! The built-in ServiceNow-compatible server ("the sim").
//!
//! An independent reading of the ServiceNow Table API as described in
//! `shared/reference/servicenow-api.md` (§0, §1, §3, §4, §7.1, checklist §8): it serves
//! `/api/now/[v1/|v2/]table/{table}[/{sys_id}]` for `sys_user`, `sys_user_group`, `cmdb_ci`,
//! `change_request`, `sysapproval_group`, `sysapproval_approver`, `sys_user_delegate` (§6) and
//! (read-only, §7.2) `sys_journal_field`, over HTTP Basic auth, with
//! deterministic generated demo data, encoded queries, display modes, offset paging, row ACLs,
//! approval side effects and fault injection. It shares no code with the client adapter.
//!
//! Layout: [`table`] storage and dictionary, [`query`] encoded queries, [`data`] generator,
//! [`http`] request handling, [`faults`] injected failures.

mod cab;
pub mod data;
pub mod faults;
pub mod http;
pub mod oauth;
pub mod persist;
pub mod query;
pub mod table;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use faults::{Fault, FaultControl, Gate, When};
use query::{Query, QueryEnv};
use table::{Db, JournalEntry, Kind, SYS_ID, fmt_ts, parse_ts};

/// The demo approver.
pub const DEMO_USER: &str = "alice.moreno";
/// Every seeded user's password.
pub const DEMO_PASSWORD: &str = "demo";

/// Simulator settings.
/// [`SimConfig::page_cap`] for no cap: pages hold what `sysparm_limit` asks (10,000 rows
/// without one, the documented default).
pub const NO_PAGE_CAP: usize = usize::MAX;

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// PRNG seed of the generated data (default 42).
    pub seed: u64,
    /// Number of change requests to generate (default 300).
    pub changes: usize,
    /// Server-side maximum rows per page; larger `sysparm_limit` values are clamped (default
    /// [`NO_PAGE_CAP`]: `sysparm_limit` is honoured, as an instance does).
    pub page_cap: usize,
    /// Where the instance keeps its records across restarts (`--data FILE`): read at start
    /// when it exists (instead of generating data), written after every write. `None`: in
    /// memory only.
    pub data_file: Option<std::path::PathBuf>,
    /// What an invalid part of an encoded query does (default: ignored, as an instance does;
    /// `NoRows` is `glide.invalid_query.returns_no_rows`; `Reject` answers 400).
    pub invalid_query: query::InvalidQuery,
    /// With a data file: use it only when it was generated with this seed and number of
    /// changes, else start over from the seed (the demo, where another `--seed` or
    /// `--changes` asks for another instance).
    pub data_of_this_seed_only: bool,
    /// Fields list queries treat as unknown: a condition on one is ignored, as an instance
    /// ignores an invalid part of an encoded query (an older or customised schema, or a
    /// mistyped name). For testing that clients check the rows they get (default none).
    pub unknown_query_fields: Vec<String>,
    /// Anchor for generated times and the server clock; `None` = real now at start.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether `sysapproval.<change-only field>` resolves through the `task` reference
    /// (UNVERIFIED, §3.3; default true). When false such fields are ignored like unknown ones.
    pub dotwalk_change_fields: bool,
    /// Delay added to every response (default zero).
    pub latency: Duration,
    /// Fraction (0.0..=1.0) of requests answered 500 with the error envelope, chosen by a PRNG
    /// seeded from `seed` and advanced per request (default 0.0 = never).
    pub fail_rate: f64,
    /// At most this many requests per user per `rate_window`; beyond that 429 with
    /// `Retry-After` (§1.8). `None` (default) = no limit and no `X-RateLimit-*` headers.
    pub rate_limit: Option<u32>,
    /// Window of `rate_limit` (default 60 s).
    pub rate_window: Duration,
    /// The server clock stands still except for [`SimServer::advance_clock`] (tests that
    /// must not depend on how fast the machine runs; default false: it runs with real time).
    pub frozen_clock: bool,
    /// Strict decisions (§3.4, "the test double should offer a strict mode"): a PATCH carrying
    /// `sysapproval_approver.state` on a row whose state is not `requested` is refused with 403
    /// and the update envelope, nothing written (default true).
    pub strict_decisions: bool,
    /// On release of a held change (§4.3, domain §3), leave the held `not_required` rows alone
    /// and insert new `requested` rows for the same approvers, as a re-run approval policy may
    /// (default true). When false the same rows flip back to `requested`.
    pub release_creates_new_rows: bool,
    /// Lifetime of an OAuth access token in server seconds (default 1799, as an instance's).
    pub token_lifetime_secs: u64,
    /// What a deep `sysparm_offset` costs, per 1,000 rows skipped, added to the answer, as a
    /// database that must walk past every skipped row (default zero; `signoff sim` uses 1 ms).
    pub offset_cost_per_1000: Duration,
    /// Every seeded user's password (default [`DEMO_PASSWORD`]; tests that look for it in
    /// every file written choose one nothing else contains).
    pub password: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            changes: 300,
            page_cap: NO_PAGE_CAP,
            unknown_query_fields: Vec::new(),
            invalid_query: query::InvalidQuery::Ignore,
            data_file: None,
            data_of_this_seed_only: false,
            now: None,
            dotwalk_change_fields: true,
            latency: Duration::ZERO,
            fail_rate: 0.0,
            rate_limit: None,
            rate_window: faults::DEFAULT_RATE_WINDOW,
            frozen_clock: false,
            strict_decisions: true,
            release_creates_new_rows: true,
            token_lifetime_secs: 1799,
            password: DEMO_PASSWORD.to_string(),
            offset_cost_per_1000: Duration::ZERO,
        }
    }
}

/// A seeded user (all share [`DEMO_PASSWORD`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    pub sys_id: String,
    pub user_name: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
}

/// Shared server state.
pub struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) db: RwLock<Db>,
    pub(crate) users: Vec<SimUser>,
    pub(crate) faults: FaultControl,
    pub(crate) addr: SocketAddr,
    /// The anchor, in milliseconds since the epoch.
    anchor_ms: i64,
    started: Instant,
    /// Milliseconds added by [`SimServer::advance_clock`].
    skew_ms: AtomicI64,
    ids: Mutex<data::Rng>,
    fail_rng: Mutex<data::Rng>,
    /// Runtime value of [`SimConfig::strict_decisions`].
    strict: AtomicBool,
    /// Runtime value of [`SimConfig::release_creates_new_rows`].
    release_new: AtomicBool,
    /// OAuth tokens handed out.
    pub(crate) tokens: Mutex<oauth::Tokens>,
    /// What the records were generated from (kept in the data file).
    origin: persist::Origin,
    /// Approval rows a policy approves by itself at their due date, still requested, by due
    /// time (found again after any write).
    auto_rows: Mutex<Option<Vec<(i64, u32)>>>,
}

/// The records held for writing; see [`Inner::write_db`].
pub(crate) struct DbWrite<'a> {
    db: std::sync::RwLockWriteGuard<'a, Db>,
    inner: &'a Inner,
}

impl std::ops::Deref for DbWrite<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl std::ops::DerefMut for DbWrite<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.db
    }
}

impl Drop for DbWrite<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.inner.save(&self.db) {
            tracing::warn!(error = %e, "the sim could not write its data file");
        }
    }
}

impl Inner {
    /// Server clock in whole seconds: the `now` anchor advanced by the real time elapsed since
    /// start (unless frozen) and by [`SimServer::advance_clock`].
    pub(crate) fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The server clock in milliseconds (rate-limit windows are counted on it).
    pub(crate) fn now_ms(&self) -> i64 {
        let run = if self.config.frozen_clock {
            0
        } else {
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX / 4)
        };
        self.anchor_ms + run + self.skew_ms.load(Ordering::SeqCst)
    }

    /// Writes the records to the data file, when there is one.
    pub(crate) fn persist(&self) -> std::io::Result<()> {
        let db = self.db.read().unwrap_or_else(|p| p.into_inner());
        self.save(&db)
    }

    fn save(&self, db: &Db) -> std::io::Result<()> {
        let Some(path) = &self.config.data_file else {
            return Ok(());
        };
        let ids = lock(&self.ids).state();
        persist::save(path, self.origin, db, &self.users, self.now(), ids)
    }

    /// Write access to the records. Released, they are kept in the data file (when there is
    /// one), so every write (over HTTP or through the test helpers) is saved the same way.
    pub(crate) fn write_db(&self) -> Option<DbWrite<'_>> {
        // A write may set an approval's source: the timed auto-approvals are found again.
        *lock(&self.auto_rows) = None;
        Some(DbWrite {
            db: self.db.write().ok()?,
            inner: self,
        })
    }

    /// Timed auto-approvals (an approval policy that approves at the due date unless the
    /// change is paused): those due by now are approved by `system`, as the instance's
    /// scheduler would, before a request is answered. A change on hold has its approvals
    /// made not_required, so it is never auto-approved.
    pub(crate) fn auto_approve_due(&self) {
        let now = self.now();
        let due: Vec<u32> = {
            let Ok(db) = self.db.read() else { return };
            let Some(t) = db.table("sysapproval_approver") else {
                return;
            };
            let field = |n: &str| db.tables[t].field(n);
            let (Some(f_src), Some(f_state), Some(f_due)) =
                (field("approval_source"), field("state"), field("due_date"))
            else {
                return;
            };
            let mut rows = lock(&self.auto_rows);
            let rows = rows.get_or_insert_with(|| {
                let mut rows: Vec<(i64, u32)> = (0..db.tables[t].rows.len() as u32)
                    .filter(|&r| {
                        data::is_auto_approval(db.get(t, r, f_src))
                            && db.get(t, r, f_state) == "requested"
                    })
                    .filter_map(|r| Some((table::parse_ts(db.get(t, r, f_due))?, r)))
                    .collect();
                rows.sort_unstable();
                rows
            });
            // Most requests find the earliest still in the future and stop there.
            rows.iter()
                .take_while(|(due, _)| *due <= now)
                .map(|&(_, r)| r)
                .filter(|&r| db.get(t, r, f_state) == "requested")
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let Some(mut db) = self.write_db() else {
            return;
        };
        let Some(t) = db.table("sysapproval_approver") else {
            return;
        };
        let actor = Actor {
            user_name: "system".into(),
            name: "System".into(),
        };
        for row in due {
            let mut body = Map::new();
            body.insert("state".into(), Value::String("approved".into()));
            body.insert(
                "comments".into(),
                Value::String(
                    "Approved automatically at the due date: the review window ended without a pause.".into(),
                ),
            );
            apply_update(self, &mut db, t, row, &body, &actor);
        }
    }

    /// A fresh sys_id from the (seeded) id PRNG.
    pub(crate) fn new_sys_id(&self) -> String {
        lock(&self.ids).sys_id()
    }

    pub(crate) fn strict_decisions(&self) -> bool {
        self.strict.load(Ordering::SeqCst)
    }

    /// Next value in [0, 1) of the per-request fail PRNG.
    pub(crate) fn fail_draw(&self) -> f64 {
        match self.fail_rng.lock() {
            Ok(mut r) => r.unit(),
            Err(e) => e.into_inner().unit(),
        }
    }
}

/// Who performs a write (journal author and `sys_updated_by`).
pub struct Actor {
    pub user_name: String,
    pub name: String,
}

/// The accept loop currently serving (absent while stopped).
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The server clock (the `now` anchor, advanced by real time and by
/// [`SimServer::advance_clock`]), in whole seconds as the server stamps records.
#[derive(Clone)]
pub struct SimClock(Arc<Inner>);

impl SimClock {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.0.now(), 0).unwrap_or_default()
    }
}

/// A running simulator.
pub struct SimServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

/// Bind with `SO_REUSEADDR`, so a re-bind right after [`SimServer::stop_accepting`] is not
/// refused because of connections in TIME_WAIT.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serve `listener` in a task until the returned sender fires. On stop, axum closes the
/// listener first, then shuts down every connection (idle keep-alive ones at once).
fn serve(inner: &Arc<Inner>, listener: tokio::net::TcpListener) -> Running {
    let app = axum::Router::new()
        .fallback(http::handle)
        .with_state(inner.clone());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Running { stop, task }
}

/// Signal the accept loop to stop and wait (briefly) for it; aborting it drops whatever is
/// left. Answers whether it stopped by itself (false: it had to be aborted).
async fn halt(r: Running, wait: Duration) -> bool {
    let _ = r.stop.send(());
    let mut task = r.task;
    if tokio::time::timeout(wait, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
        return false;
    }
    true
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimServer {
    /// Generates the data, binds `addr` (tests use 127.0.0.1:0), serves in a tokio task.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimServer> {
        let anchor_at = config.now.unwrap_or_else(chrono::Utc::now);
        let mut anchor = anchor_at.timestamp();
        let (seed, changes) = (config.seed, config.changes);
        let mut ids = data::Rng::new(config.seed ^ 0xC0FF_EE00_D15E_A5E5);
        let mut origin = persist::Origin { seed, changes };
        let restored = match &config.data_file {
            Some(path) => persist::load(path)?,
            None => None,
        }
        .filter(|r| !config.data_of_this_seed_only || r.origin == origin);
        let (db, users, fresh) = match restored {
            Some(r) => {
                // The clock never goes back before the snapshot; ids go on from it.
                anchor = anchor.max(r.now);
                ids = data::Rng::new(r.ids);
                origin = r.origin;
                (r.db, r.users, false)
            }
            None => {
                let (db, users) =
                    tokio::task::spawn_blocking(move || data::generate(seed, changes, anchor))
                        .await
                        .map_err(std::io::Error::other)?;
                (db, users, true)
            }
        };
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let (config_strict, config_release_new) =
            (config.strict_decisions, config.release_creates_new_rows);
        let faults = FaultControl::default();
        faults.set_fail_rate(config.fail_rate);
        faults.set_rate_limit(config.rate_limit, config.rate_window);
        let inner = Arc::new(Inner {
            ids: Mutex::new(ids),
            fail_rng: Mutex::new(data::Rng::new(config.seed ^ 0xFA11_0FF5_E7B0_0B00)),
            config,
            db: RwLock::new(db),
            users,
            faults,
            addr,
            anchor_ms: anchor * 1000,
            started: Instant::now(),
            skew_ms: AtomicI64::new(0),
            strict: AtomicBool::new(config_strict),
            release_new: AtomicBool::new(config_release_new),
            tokens: Mutex::new(oauth::Tokens::default()),
            origin,
            auto_rows: Mutex::new(None),
        });
        if fresh && inner.config.data_file.is_some() {
            inner.persist()?;
        }
        let running = serve(&inner, listener);
        Ok(SimServer {
            inner,
            addr,
            running: Mutex::new(Some(running)),
        })
    }

    /// Close the listener and every open connection (keep-alive ones included), so clients
    /// see connection refused/reset, as during an outage. Data and settings are kept; a no-op
    /// if already stopped. In-flight requests get up to a second to finish. Answers whether
    /// everything closed by itself (idle connections do at once); false when something had to
    /// be cut after that second.
    pub async fn stop_accepting(&self) -> bool {
        let running = lock(&self.running).take();
        match running {
            Some(r) => halt(r, Duration::from_secs(1)).await,
            None => true,
        }
    }

    /// Bind the same address again and serve the same data. Retries for about two seconds
    /// while the port is still in use; a no-op if already serving.
    pub async fn start_accepting(&self) -> std::io::Result<()> {
        if self.is_accepting() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let listener = loop {
            match bind(self.addr) {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mut slot = lock(&self.running);
        if slot.is_none() {
            *slot = Some(serve(&self.inner, listener));
        }
        Ok(())
    }

    /// Whether the server is accepting connections.
    pub fn is_accepting(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Runtime switch for [`SimConfig::fail_rate`].
    pub fn set_fail_rate(&self, rate: f64) {
        self.inner.faults.set_fail_rate(rate);
    }

    /// Runtime switch for [`SimConfig::rate_limit`] / [`SimConfig::rate_window`]; counting
    /// starts afresh.
    pub fn set_rate_limit(&self, limit: Option<u32>, window: Duration) {
        self.inner.faults.set_rate_limit(limit, window);
    }

    /// Runtime switch for [`SimConfig::strict_decisions`].
    pub fn set_strict_decisions(&self, on: bool) {
        self.inner.strict.store(on, Ordering::SeqCst);
    }

    /// Runtime switch for [`SimConfig::release_creates_new_rows`].
    pub fn set_release_creates_new_rows(&self, on: bool) {
        self.inner.release_new.store(on, Ordering::SeqCst);
    }

    /// Journal entries of one journal field of a record, oldest first, as
    /// `(time, user_name, text)`; empty if the record, table or field is unknown.
    pub fn journal(&self, table: &str, sys_id: &str, field: &str) -> Vec<(String, String, String)> {
        let Ok(db) = self.inner.db.read() else {
            return Vec::new();
        };
        let Some(t) = db.table(table) else {
            return Vec::new();
        };
        let (Some(row), Some(f)) = (db.find(t, sys_id), db.tables[t].field(field)) else {
            return Vec::new();
        };
        db.journals
            .get(&(t, row))
            .map(|list| {
                list.iter()
                    .filter(|e| e.field == f)
                    .map(|e| (e.at.clone(), e.user.clone(), e.text.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forget every OAuth access token handed out (refresh tokens stay): the next request
    /// with one is refused with 401.
    pub fn revoke_access_tokens(&self) {
        oauth::revoke_access(&self.inner);
    }

    /// How many requests the token endpoint has answered.
    pub fn token_requests(&self) -> u64 {
        oauth::token_requests(&self.inner)
    }

    /// Move the server clock forward by `by` (rounded up to whole seconds), so later writes
    /// get strictly later `sys_updated_on` values.
    pub fn advance_clock(&self, by: Duration) {
        let secs = by.as_secs() + u64::from(by.subsec_nanos() > 0);
        self.inner.skew_ms.fetch_add(
            i64::try_from(secs).unwrap_or(i64::MAX / 4_000) * 1000,
            Ordering::SeqCst,
        );
    }

    /// The server clock as a stored-format UTC timestamp (`YYYY-MM-DD HH:MM:SS`).
    pub fn now(&self) -> String {
        fmt_ts(self.inner.now())
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Seeded users.
    pub fn users(&self) -> Vec<SimUser> {
        self.inner.users.clone()
    }

    /// Fault injection handle.
    pub fn faults(&self) -> FaultControl {
        self.inner.faults.clone()
    }

    /// A record as value-mode strings (references as sys_id, journals `""`); `None` if absent.
    pub fn record(&self, table: &str, sys_id: &str) -> Option<BTreeMap<String, String>> {
        let db = self.inner.db.read().ok()?;
        let t = db.table(table)?;
        let row = db.find(t, sys_id)?;
        Some(
            db.tables[t]
                .fields
                .iter()
                .enumerate()
                .map(|(f, fd)| {
                    let v = if matches!(fd.kind, Kind::Journal) {
                        ""
                    } else {
                        db.get(t, row, f)
                    };
                    (fd.name.to_string(), v.to_string())
                })
                .collect(),
        )
    }

    /// Update fields directly (as a background business process would), stamping
    /// `sys_updated_on`/`sys_mod_count` and running the same side effects as a PATCH.
    /// Returns false if the record is absent.
    pub fn update_record(&self, table: &str, sys_id: &str, fields: &[(&str, &str)]) -> bool {
        let Some(mut db) = self.inner.write_db() else {
            return false;
        };
        let Some(t) = db.table(table) else {
            return false;
        };
        let Some(row) = db.find(t, sys_id) else {
            return false;
        };
        let body: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let actor = Actor {
            user_name: "system".into(),
            name: "System".into(),
        };
        apply_update(&self.inner, &mut db, t, row, &body, &actor);
        true
    }

    /// Decide an approval as `user_name` would with a PATCH of `state` and `comments`
    /// (another approver or a delegate acting elsewhere): journal entry, stamps, roll-up onto
    /// the change. No ACL check. Returns false if the approval or the user is unknown.
    pub fn decide_as(
        &self,
        approval_sys_id: &str,
        user_name: &str,
        state: &str,
        comment: &str,
    ) -> bool {
        let Some(user) = self.inner.users.iter().find(|u| u.user_name == user_name) else {
            return false;
        };
        let Some(mut db) = self.inner.write_db() else {
            return false;
        };
        let Some(t) = db.table("sysapproval_approver") else {
            return false;
        };
        let Some(row) = db.find(t, approval_sys_id) else {
            return false;
        };
        let mut body = Map::new();
        body.insert("state".into(), Value::String(state.into()));
        body.insert("comments".into(), Value::String(comment.into()));
        let actor = Actor {
            user_name: user.user_name.clone(),
            name: user.name.clone(),
        };
        apply_update(&self.inner, &mut db, t, row, &body, &actor);
        true
    }

    /// Insert a `requested` approval of `change_sys_id` for `approver_user_name`, as a workflow
    /// adding an approver would (created and updated now by `system`, then the change's
    /// approval rolls up). Returns the new sys_id, or `None` if the change or user is unknown.
    pub fn add_approval(&self, change_sys_id: &str, approver_user_name: &str) -> Option<String> {
        let user = self
            .inner
            .users
            .iter()
            .find(|u| u.user_name == approver_user_name)?;
        let mut db = self.inner.write_db()?;
        let tc = db.table("change_request")?;
        let crow = db.find(tc, change_sys_id)?;
        let ta = db.table("sysapproval_approver")?;
        let start = db.tables[tc]
            .field("start_date")
            .map(|f| db.get(tc, crow, f).to_string())
            .unwrap_or_default();
        let body: Map<String, Value> = [
            ("approver", user.sys_id.as_str()),
            ("state", "requested"),
            ("sysapproval", change_sys_id),
            ("document_id", change_sys_id),
            ("source_table", "change_request"),
            ("expected_start", start.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
        let actor = Actor {
            user_name: "system".into(),
            name: "System".into(),
        };
        let row = insert_record(&self.inner, &mut db, ta, &body, &actor);
        let id = db.get(ta, row, SYS_ID).to_string();
        let at = fmt_ts(self.inner.now());
        rollup(&mut db, tc, crow, "system", &at);
        Some(id)
    }

    /// The server clock (see [`SimServer::now`]) as a typed UTC time.
    pub fn server_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock().now()
    }

    /// A handle on the server clock that outlives borrows of the server: a client under test
    /// runs on the same time as the server it talks to.
    pub fn clock(&self) -> SimClock {
        SimClock(self.inner.clone())
    }

    /// Insert a `sys_user_delegate` row (§6) as the delegator would: `user` delegates to
    /// `delegate` (both user names) from `starts` to `ends`, approvals as given, the other
    /// flags false. No validation beyond the users existing. Returns the new sys_id, or an
    /// empty string if either user is unknown.
    pub fn add_delegation(
        &self,
        user: &str,
        delegate: &str,
        starts: chrono::DateTime<chrono::Utc>,
        ends: chrono::DateTime<chrono::Utc>,
        approvals: bool,
    ) -> String {
        let find = |n: &str| self.inner.users.iter().find(|u| u.user_name == n);
        let (Some(u), Some(d)) = (find(user), find(delegate)) else {
            return String::new();
        };
        let Some(mut db) = self.inner.write_db() else {
            return String::new();
        };
        let Some(t) = db.table("sys_user_delegate") else {
            return String::new();
        };
        let body: Map<String, Value> = [
            ("user", u.sys_id.clone()),
            ("delegate", d.sys_id.clone()),
            ("starts", fmt_ts(starts.timestamp())),
            ("ends", fmt_ts(ends.timestamp())),
            ("approvals", approvals.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
        let actor = Actor {
            user_name: u.user_name.clone(),
            name: u.name.clone(),
        };
        let row = insert_record(&self.inner, &mut db, t, &body, &actor);
        db.get(t, row, SYS_ID).to_string()
    }

    /// Set `ends` of a delegation to `at` (stamped as an update by `system`). Returns false if
    /// the delegation is absent.
    pub fn end_delegation(&self, sys_id: &str, at: chrono::DateTime<chrono::Utc>) -> bool {
        let ends = fmt_ts(at.timestamp());
        self.update_record("sys_user_delegate", sys_id, &[("ends", ends.as_str())])
    }

    /// sys_ids of `table` matching an encoded query, as the admin sees them.
    pub fn query_ids(&self, table: &str, encoded_query: &str) -> Result<Vec<String>, String> {
        let db = self.inner.db.read().map_err(|e| e.to_string())?;
        let t = db
            .table(table)
            .ok_or_else(|| format!("Invalid table {table}"))?;
        let admin = self
            .inner
            .users
            .iter()
            .find(|u| u.user_name == "admin")
            .map(|u| u.sys_id.clone())
            .unwrap_or_default();
        let now = fmt_ts(self.inner.now());
        let env = QueryEnv {
            user_sys_id: &admin,
            now: &now,
            change_fields: self.inner.config.dotwalk_change_fields,
            unknown_fields: &[],
            // A mistake in a test's own query fails loudly.
            invalid: query::InvalidQuery::Reject,
        };
        let q = Query::parse(&db, t, encoded_query, &env)?;
        let mut rows: Vec<u32> = (0..db.tables[t].rows.len() as u32)
            .filter(|&r| q.matches(&db, r))
            .collect();
        q.sort(&db, &mut rows);
        Ok(rows
            .into_iter()
            .map(|r| db.get(t, r, SYS_ID).to_string())
            .collect())
    }

    /// Stop serving and wait (briefly) for the server task; works whether or not the server
    /// is accepting.
    pub async fn shutdown(self) {
        let running = lock(&self.running).take();
        if let Some(r) = running {
            halt(r, Duration::from_secs(2)).await;
        }
    }
}

/// `signoff sim`: start on 127.0.0.1:`port` (0 = random), print the URL, the demo users with
/// their roles and the password, then serve until Ctrl-C.
pub async fn run_standalone(config: SimConfig, port: u16) -> std::io::Result<()> {
    let server = SimServer::start(config, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("ServiceNow simulator listening on {}", server.url());
    println!("Password for every user: {}", server.inner.config.password);
    println!(
        "OAuth (POST /oauth_token.do, password or refresh_token grant): client_id {} client_secret {}",
        oauth::DEMO_CLIENT_ID,
        oauth::DEMO_CLIENT_SECRET
    );
    for u in server.users() {
        let marker = if u.user_name == DEMO_USER {
            "  (demo approver)"
        } else {
            ""
        };
        println!(
            "  {:<16} {:<22} roles: {}{}",
            u.user_name,
            u.name,
            u.roles.join(","),
            marker
        );
    }
    let meetings = server
        .query_ids("cab_meeting", "ORDERBYstart")
        .unwrap_or_default();
    if !meetings.is_empty() {
        println!("CAB meetings (cab_meeting):");
        for id in meetings {
            if let Some(m) = server.record("cab_meeting", &id) {
                let get = |k: &str| m.get(k).map_or("", String::as_str);
                println!(
                    "  {:<28} {:<12} starts {}",
                    get("name"),
                    get("state"),
                    get("start")
                );
            }
        }
    }
    for line in fault_summary(&server.inner.config) {
        println!("{line}");
    }
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
}

/// One sentence per active fault switch of `config`, or a single "none" line.
pub fn fault_summary(config: &SimConfig) -> Vec<String> {
    let mut out = Vec::new();
    if config.fail_rate > 0.0 {
        out.push(format!(
            "Fault: {:.1}% of requests answer 500 (seeded by --seed).",
            config.fail_rate * 100.0
        ));
    }
    if let Some(n) = config.rate_limit {
        out.push(format!(
            "Fault: rate limit of {n} requests per {} per user; beyond that 429 with Retry-After.",
            faults::describe_window(config.rate_window)
        ));
    }
    if !config.latency.is_zero() {
        out.push(format!(
            "Fault: every response is delayed by {} ms.",
            config.latency.as_millis()
        ));
    }
    if out.is_empty() {
        out.push("Faults: none (see --fail-rate, --rate-limit, --latency-ms).".into());
    }
    out
}

pub(crate) fn json_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Object(o) => o.get("value").and_then(json_to_string),
        Value::Array(_) => None,
    }
}

/// `true`/`false` for a boolean write (`"1"`, `"0"` and any case accepted, as the platform
/// coerces them); other field types unchanged.
fn normalize(kind: Kind, s: String) -> String {
    if !matches!(kind, Kind::Bool) {
        return s;
    }
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => "true".into(),
        "false" | "0" | "" => "false".into(),
        _ => s,
    }
}

fn is_true(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1")
}

/// Append a journal entry (§3.5, §7.2) and its `sys_journal_field` row.
#[allow(clippy::too_many_arguments)]
fn write_journal(
    inner: &Inner,
    db: &mut Db,
    t: usize,
    row: u32,
    f: usize,
    actor: &Actor,
    at: &str,
    text: String,
) {
    if let Some(tj) = db.table("sys_journal_field") {
        let id = inner.new_sys_id();
        let element_id = db.get(t, row, SYS_ID).to_string();
        let (element, name) = (db.tables[t].fields[f].name, db.tables[t].name);
        db.insert(
            tj,
            &[
                ("sys_id", &id),
                ("element_id", &element_id),
                ("element", element),
                ("name", name),
                ("value", &text),
                ("sys_created_on", at),
                ("sys_created_by", &actor.user_name),
            ],
        );
    }
    db.add_journal(
        t,
        row,
        JournalEntry {
            field: f,
            at: at.to_string(),
            author: actor.name.clone(),
            user: actor.user_name.clone(),
            text,
        },
    );
}

/// Why a write over the API is refused (status, message, detail); nothing is written.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: u16,
    pub message: String,
    pub detail: Option<String>,
}

fn refuse(status: u16, message: &str, detail: Option<&str>) -> Result<(), Refusal> {
    Err(Refusal {
        status,
        message: message.into(),
        detail: detail.map(str::to_string),
    })
}

/// sys_ids of the users who delegate their approvals to `delegate_sys_id` right now (§6.3, as
/// `getMyApprovals()` resolves them): `sys_user_delegate` rows with `delegate` = them,
/// `approvals` true and `starts <= now <= ends` on the server clock.
pub(crate) fn active_delegators(inner: &Inner, db: &Db, delegate_sys_id: &str) -> Vec<String> {
    let Some(t) = db.table("sys_user_delegate") else {
        return Vec::new();
    };
    let tab = &db.tables[t];
    let field = |n: &str| tab.field(n).expect("sys_user_delegate field");
    let (fu, fd, fs, fe, fa) = (
        field("user"),
        field("delegate"),
        field("starts"),
        field("ends"),
        field("approvals"),
    );
    let now = inner.now();
    let mut out: Vec<String> = Vec::new();
    for r in 0..tab.rows.len() as u32 {
        if db.get(t, r, fd) != delegate_sys_id || !is_true(db.get(t, r, fa)) {
            continue;
        }
        let (Some(s), Some(e)) = (parse_ts(db.get(t, r, fs)), parse_ts(db.get(t, r, fe))) else {
            continue;
        };
        let u = db.get(t, r, fu);
        if s <= now && now <= e && !u.is_empty() && !out.iter().any(|x| x == u) {
            out.push(u.to_string());
        }
    }
    out
}

/// Validate a delegation write (§6.1, §6.4) against the record it produces (the body over
/// the existing row, or over the insert defaults when `row` is `None`) and return the body to
/// apply: references as plain sys_ids, times in the stored format, an empty `starts` as now.
/// Refused (400): a missing `user`, `delegate` or `ends`; a reference to no user; a user
/// delegating to themselves; an unreadable time; `ends` before `starts`. Overlapping
/// delegations are accepted, as on the platform. Write ACLs are the caller's business.
pub(crate) fn prepare_delegation(
    inner: &Inner,
    db: &Db,
    t: usize,
    row: Option<u32>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Refusal> {
    let bad = |message: String, detail: &str| Refusal {
        status: 400,
        message,
        detail: Some(detail.to_string()),
    };
    let eff = |name: &str| -> String {
        if let Some(v) = body.get(name) {
            return json_to_string(v).unwrap_or_default().trim().to_string();
        }
        match (row, db.tables[t].field(name)) {
            (Some(r), Some(f)) => db.get(t, r, f).to_string(),
            _ => String::new(),
        }
    };
    let (user, delegate, starts, ends) = (eff("user"), eff("delegate"), eff("starts"), eff("ends"));
    let missing: Vec<&str> = [("user", &user), ("delegate", &delegate), ("ends", &ends)]
        .into_iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| n)
        .collect();
    if !missing.is_empty() {
        return Err(bad(
            format!("Mandatory fields are missing: {}", missing.join(", ")),
            "A delegation needs user, delegate and ends",
        ));
    }
    let tu = db.table("sys_user");
    for (name, id) in [("user", &user), ("delegate", &delegate)] {
        if tu.and_then(|tu| db.find(tu, id)).is_none() {
            return Err(bad(
                format!("Invalid reference for {name}: {id}"),
                &format!("No sys_user record with sys_id {id}"),
            ));
        }
    }
    if user == delegate {
        return Err(bad(
            "A user cannot be their own delegate".into(),
            "delegate must be a different user than user",
        ));
    }
    let now = inner.now();
    let starts_s = if starts.is_empty() {
        now
    } else {
        parse_ts(&starts).ok_or_else(|| {
            bad(
                format!("Invalid date for starts: {starts}"),
                "Use UTC YYYY-MM-DD HH:MM:SS",
            )
        })?
    };
    let ends_s = parse_ts(&ends).ok_or_else(|| {
        bad(
            format!("Invalid date for ends: {ends}"),
            "Use UTC YYYY-MM-DD HH:MM:SS",
        )
    })?;
    if ends_s < starts_s {
        return Err(bad(
            "Ends must not be before starts".into(),
            &format!(
                "ends {} is before starts {}",
                fmt_ts(ends_s),
                fmt_ts(starts_s)
            ),
        ));
    }
    let mut out = body.clone();
    for (k, v) in [("user", &user), ("delegate", &delegate)] {
        if out.contains_key(k) {
            out.insert(k.into(), Value::String(v.clone()));
        }
    }
    if row.is_none() || out.contains_key("starts") {
        out.insert("starts".into(), Value::String(fmt_ts(starts_s)));
    }
    if out.contains_key("ends") {
        out.insert("ends".into(), Value::String(fmt_ts(ends_s)));
    }
    Ok(out)
}

/// Business rules checked before an API write (after ACLs): strict decisions and mandatory
/// rejection comments on approvals (§3.4), hold/release rules on changes (§4.3, domain §3).
/// Background writes ([`SimServer::update_record`], [`SimServer::decide_as`]) skip these.
pub(crate) fn check_update(
    inner: &Inner,
    db: &Db,
    t: usize,
    row: u32,
    body: &Map<String, Value>,
) -> Result<(), Refusal> {
    let tab = &db.tables[t];
    let body_str = |k: &str| body.get(k).and_then(json_to_string);
    match tab.name {
        "sysapproval_approver" => {
            let Some(new) = body_str("state") else {
                return Ok(());
            };
            let fs = tab.field("state").expect("field");
            let cur = db.get(t, row, fs);
            if inner.strict_decisions() && cur != "requested" {
                return refuse(
                    403,
                    "Operation Failed",
                    Some("ACL Exception Update Failed due to security constraints"),
                );
            }
            let comments = body_str("comments").unwrap_or_default();
            if new == "rejected" && comments.trim().is_empty() {
                return refuse(
                    400,
                    "Comments are required when rejecting",
                    Some("Provide non-blank comments in the same request as state=rejected"),
                );
            }
            Ok(())
        }
        "change_request" => {
            let Some(want) = body_str("on_hold") else {
                return Ok(());
            };
            let fh = tab.field("on_hold").expect("field");
            let held = is_true(db.get(t, row, fh));
            if !is_true(&want) {
                if !held {
                    return refuse(
                        400,
                        "Change is not on hold",
                        Some("Only a change that is on hold can be released"),
                    );
                }
                return Ok(());
            }
            if held {
                return refuse(
                    400,
                    "Change is already on hold",
                    Some("Release the change before putting it on hold again"),
                );
            }
            let fst = tab.field("state").expect("field");
            let label = match db.get(t, row, fst) {
                "-5" => Some("New"),
                "3" => Some("Closed"),
                "4" => Some("Canceled"),
                _ => None,
            };
            if let Some(label) = label {
                return refuse(
                    400,
                    &format!("A change in state {label} cannot be put on hold"),
                    Some("Changes can be put on hold only when not New, Closed or Canceled"),
                );
            }
            let fr = tab.field("on_hold_reason").expect("field");
            let reason = body_str("on_hold_reason").unwrap_or_else(|| db.get(t, row, fr).into());
            if reason.trim().is_empty() {
                return refuse(
                    400,
                    "On hold reason is required",
                    Some("on_hold_reason must not be empty when on_hold is true"),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Apply a write (§1.6): unknown and `sys_*` fields ignored, journal fields append an entry
/// (author = actor, time = server clock), then stamp `sys_updated_*`/`sys_mod_count` and run
/// side effects: approval roll-up onto the change (§3.2, §3.4) and on-hold handling (§4.3).
pub(crate) fn apply_update(
    inner: &Inner,
    db: &mut Db,
    t: usize,
    row: u32,
    body: &Map<String, Value>,
    actor: &Actor,
) {
    let at = fmt_ts(inner.now());
    let mut changed: Vec<usize> = Vec::new();
    let mut touched = false;
    for (k, v) in body {
        let Some(f) = db.tables[t].field(k) else {
            continue;
        };
        if k.starts_with("sys_") {
            continue;
        }
        let Some(s) = json_to_string(v) else {
            continue;
        };
        let kind = db.tables[t].fields[f].kind;
        if matches!(kind, Kind::Journal) {
            if !s.trim().is_empty() {
                write_journal(inner, db, t, row, f, actor, &at, s);
                touched = true;
            }
            continue;
        }
        let s = normalize(kind, s);
        if db.get(t, row, f) != s {
            db.set(t, row, f, &s);
            changed.push(f);
            touched = true;
        }
    }
    if !touched {
        return;
    }
    stamp(db, t, row, &actor.user_name, &at);
    let name = db.tables[t].name;
    let names: Vec<&'static str> = changed
        .iter()
        .map(|&f| db.tables[t].fields[f].name)
        .collect();
    if name == "sysapproval_approver" && names.contains(&"state") {
        let fa = db.tables[t].field("sysapproval").expect("field");
        let fs = db.tables[t].field("state").expect("field");
        let chg_id = db.get(t, row, fa).to_string();
        let state = db.get(t, row, fs).to_string();
        if let Some(tc) = db.table("change_request")
            && let Some(crow) = db.find(tc, &chg_id)
        {
            if state == "approved" || state == "rejected" {
                let fh = db.tables[tc].field("approval_history").expect("field");
                let label = if state == "approved" {
                    "Approved"
                } else {
                    "Rejected"
                };
                let text = format!("{label} by {}", actor.name);
                write_journal(inner, db, tc, crow, fh, actor, &at, text);
            }
            rollup(db, tc, crow, &actor.user_name, &at);
        }
    }
    if name == "change_request" && names.contains(&"on_hold") {
        let fh = db.tables[t].field("on_hold").expect("field");
        let hold = is_true(db.get(t, row, fh));
        if hold {
            hold_approvals(db, t, row, &actor.user_name, &at);
        } else {
            let new_rows = inner.release_new.load(Ordering::SeqCst);
            release_approvals(inner, db, t, row, &actor.user_name, &at, new_rows);
        }
        rollup(db, t, row, &actor.user_name, &at);
    }
}

/// Hold (§4.3): the change's `requested` approvals become `not_required`; remember which.
fn hold_approvals(db: &mut Db, tc: usize, crow: u32, by: &str, at: &str) {
    let Some(ta) = db.table("sysapproval_approver") else {
        return;
    };
    let chg_id = db.get(tc, crow, SYS_ID).to_string();
    let fa = db.tables[ta].field("sysapproval").expect("field");
    let fs = db.tables[ta].field("state").expect("field");
    let mut held = Vec::new();
    for r in 0..db.tables[ta].rows.len() as u32 {
        if db.get(ta, r, fa) == chg_id && db.get(ta, r, fs) == "requested" {
            db.set(ta, r, fs, "not_required");
            stamp(db, ta, r, by, at);
            held.push(r);
        }
    }
    db.held.entry(crow).or_default().extend(held);
}

/// Release (§4.3, domain §3): reinstate the approvals the hold made `not_required` (or, for a
/// change held without the sim's knowledge, every `not_required` one), either by flipping
/// them back to `requested` or by inserting new `requested` rows for the same approvers.
fn release_approvals(
    inner: &Inner,
    db: &mut Db,
    tc: usize,
    crow: u32,
    by: &str,
    at: &str,
    new_rows: bool,
) {
    let Some(ta) = db.table("sysapproval_approver") else {
        return;
    };
    let chg_id = db.get(tc, crow, SYS_ID).to_string();
    let fa = db.tables[ta].field("sysapproval").expect("field");
    let fs = db.tables[ta].field("state").expect("field");
    let rows: Vec<u32> = match db.held.remove(&crow) {
        Some(list) => list,
        None => (0..db.tables[ta].rows.len() as u32).collect(),
    };
    let rows: Vec<u32> = rows
        .into_iter()
        .filter(|&r| db.get(ta, r, fa) == chg_id && db.get(ta, r, fs) == "not_required")
        .collect();
    const COPIED: &[&str] = &[
        "approver",
        "group",
        "sysapproval",
        "document_id",
        "source_table",
        "due_date",
        "expected_start",
        "approval_column",
        "approval_journal_column",
        "approval_source",
        "iteration",
        "order",
    ];
    for r in rows {
        if !new_rows {
            db.set(ta, r, fs, "requested");
            stamp(db, ta, r, by, at);
            continue;
        }
        let id = inner.new_sys_id();
        let copied: Vec<(&str, String)> = COPIED
            .iter()
            .filter_map(|&n| {
                let f = db.tables[ta].field(n)?;
                Some((n, db.get(ta, r, f).to_string()))
            })
            .collect();
        let mut vals: Vec<(&str, &str)> = vec![
            ("sys_id", &id),
            ("state", "requested"),
            ("sys_created_on", at),
            ("sys_created_by", "system"),
            ("sys_updated_on", at),
            ("sys_updated_by", "system"),
            ("sys_mod_count", "0"),
        ];
        vals.extend(copied.iter().map(|(n, v)| (*n, v.as_str())));
        db.insert(ta, &vals);
    }
}

fn stamp(db: &mut Db, t: usize, row: u32, by: &str, at: &str) {
    let tab = &db.tables[t];
    let (fu, fb, fm) = (
        tab.field("sys_updated_on"),
        tab.field("sys_updated_by"),
        tab.field("sys_mod_count"),
    );
    if let Some(f) = fu {
        db.set(t, row, f, at);
    }
    if let Some(f) = fb {
        db.set(t, row, f, by);
    }
    if let Some(f) = fm {
        let n: u64 = db.get(t, row, f).parse().unwrap_or(0);
        db.set(t, row, f, &(n + 1).to_string());
    }
}

/// Roll approval rows up to `change_request.approval` (§3.2) and move the change on
/// (approved in Assess/Authorize → Scheduled; rejected → New, §3.4 / checklist §8.5).
fn rollup(db: &mut Db, tc: usize, crow: u32, by: &str, at: &str) {
    let Some(ta) = db.table("sysapproval_approver") else {
        return;
    };
    let chg_id = db.get(tc, crow, SYS_ID).to_string();
    let fa = db.tables[ta].field("sysapproval").expect("field");
    let fs = db.tables[ta].field("state").expect("field");
    let states: Vec<String> = (0..db.tables[ta].rows.len() as u32)
        .filter(|&r| db.get(ta, r, fa) == chg_id)
        .map(|r| db.get(ta, r, fs).to_string())
        .filter(|s| {
            !matches!(
                s.as_str(),
                "not_required" | "cancelled" | "skipped" | "duplicate"
            )
        })
        .collect();
    let fapp = db.tables[tc].field("approval").expect("field");
    let fstate = db.tables[tc].field("state").expect("field");
    let old = db.get(tc, crow, fapp).to_string();
    let new = if states.iter().any(|s| s == "rejected") {
        "rejected"
    } else if states.is_empty() {
        old.as_str()
    } else if states.iter().all(|s| s == "approved") {
        "approved"
    } else if states.iter().all(|s| s == "not requested") {
        "not requested"
    } else {
        "requested"
    }
    .to_string();
    if new == old {
        return;
    }
    db.set(tc, crow, fapp, &new);
    cab::follow_change_approval(db, tc, crow, &new, by, at);
    let st = db.get(tc, crow, fstate).to_string();
    if new == "approved" && (st == "-4" || st == "-3") {
        db.set(tc, crow, fstate, "-2");
    } else if new == "rejected" {
        db.set(tc, crow, fstate, "-5");
    }
    stamp(db, tc, crow, by, at);
}

/// POST insert (§1.1): a new sys_id, table defaults (§4.1 dictionary defaults), the body's
/// writable fields, creation stamps.
pub(crate) fn insert_record(
    inner: &Inner,
    db: &mut Db,
    t: usize,
    body: &Map<String, Value>,
    actor: &Actor,
) -> u32 {
    let id = inner.new_sys_id();
    let at = fmt_ts(inner.now());
    let number;
    let mut vals: Vec<(&str, &str)> = vec![
        ("sys_id", &id),
        ("sys_created_on", &at),
        ("sys_created_by", &actor.user_name),
        ("sys_updated_on", &at),
        ("sys_updated_by", &actor.user_name),
        ("sys_mod_count", "0"),
    ];
    match db.tables[t].name {
        "change_request" => {
            number = format!("CHG{:07}", 30001 + db.tables[t].rows.len());
            vals.extend([
                ("number", number.as_str()),
                ("state", "-5"),
                ("approval", "not requested"),
                ("type", "normal"),
                ("risk", "3"),
                ("impact", "3"),
                ("urgency", "3"),
                ("priority", "4"),
                ("active", "true"),
                ("on_hold", "false"),
                ("cab_required", "false"),
                ("conflict_status", "Not Run"),
                ("sys_class_name", "change_request"),
                ("opened_at", &at),
            ]);
        }
        "sysapproval_approver" => vals.extend([
            ("state", "not requested"),
            ("iteration", "1"),
            ("approval_column", "approval"),
            ("approval_journal_column", "approval_history"),
        ]),
        "sys_user" | "sys_user_group" => vals.push(("active", "true")),
        // §6.4: a delegation covers approvals unless told otherwise and starts now.
        "sys_user_delegate" => vals.extend([
            ("starts", at.as_str()),
            ("approvals", "true"),
            ("assignments", "false"),
            ("notifications", "false"),
            ("invitations", "false"),
        ]),
        _ => {}
    }
    let row = db.insert(t, &vals);
    // Body fields: like an update but without stamping a modification.
    for (k, v) in body {
        let Some(f) = db.tables[t].field(k) else {
            continue;
        };
        if k.starts_with("sys_") {
            continue;
        }
        let Some(s) = json_to_string(v) else {
            continue;
        };
        let kind = db.tables[t].fields[f].kind;
        if matches!(kind, Kind::Journal) {
            if !s.trim().is_empty() {
                write_journal(inner, db, t, row, f, actor, &at, s);
            }
        } else {
            db.set(t, row, f, &normalize(kind, s));
        }
    }
    cab::after_insert(db, t, row);
    row
}
