//! The built-in ServiceNow-compatible server ("the sim").
//!
//! An independent reading of the ServiceNow Table API as described in
//! `shared/reference/servicenow-api.md` (§0, §1, §3, §4, §7.1, checklist §8): it serves
//! `/api/now/[v1/|v2/]table/{table}[/{sys_id}]` for `sys_user`, `sys_user_group`, `cmdb_ci`,
//! `change_request`, `sysapproval_group` and `sysapproval_approver`, over HTTP Basic auth, with
//! deterministic generated demo data, encoded queries, display modes, offset paging, row ACLs,
//! approval side effects and fault injection. It shares no code with the client adapter.
//!
//! Layout: [`table`] storage and dictionary, [`query`] encoded queries, [`data`] generator,
//! [`http`] request handling, [`faults`] injected failures.

pub mod data;
pub mod faults;
pub mod http;
pub mod query;
pub mod table;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use faults::{Fault, FaultControl};
use query::{Query, QueryEnv};
use table::{Db, JournalEntry, Kind, SYS_ID, fmt_ts};

/// The demo approver.
pub const DEMO_USER: &str = "alice.moreno";
/// Every seeded user's password.
pub const DEMO_PASSWORD: &str = "demo";

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// PRNG seed of the generated data (default 42).
    pub seed: u64,
    /// Number of change requests to generate (default 300).
    pub changes: usize,
    /// Server-side maximum rows per page; larger `sysparm_limit` values are clamped (default 100).
    pub page_cap: usize,
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
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            changes: 300,
            page_cap: 100,
            now: None,
            dotwalk_change_fields: true,
            latency: Duration::ZERO,
            fail_rate: 0.0,
            rate_limit: None,
            rate_window: faults::DEFAULT_RATE_WINDOW,
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
    anchor: i64,
    started: Instant,
    /// Seconds added by [`SimServer::advance_clock`].
    skew: AtomicI64,
    ids: Mutex<data::Rng>,
    fail_rng: Mutex<data::Rng>,
}

impl Inner {
    /// Server clock: the `now` anchor advanced by the real time elapsed since start and by
    /// [`SimServer::advance_clock`].
    pub(crate) fn now(&self) -> i64 {
        self.anchor + self.started.elapsed().as_secs() as i64 + self.skew.load(Ordering::SeqCst)
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
/// left.
async fn halt(r: Running, wait: Duration) {
    let _ = r.stop.send(());
    let mut task = r.task;
    if tokio::time::timeout(wait, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimServer {
    /// Generates the data, binds `addr` (tests use 127.0.0.1:0), serves in a tokio task.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimServer> {
        let anchor = config.now.unwrap_or_else(chrono::Utc::now).timestamp();
        let (seed, changes) = (config.seed, config.changes);
        let (db, users) =
            tokio::task::spawn_blocking(move || data::generate(seed, changes, anchor))
                .await
                .map_err(std::io::Error::other)?;
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let faults = FaultControl::default();
        faults.set_fail_rate(config.fail_rate);
        faults.set_rate_limit(config.rate_limit, config.rate_window);
        let inner = Arc::new(Inner {
            ids: Mutex::new(data::Rng::new(config.seed ^ 0xC0FF_EE00_D15E_A5E5)),
            fail_rng: Mutex::new(data::Rng::new(config.seed ^ 0xFA11_0FF5_E7B0_0B00)),
            config,
            db: RwLock::new(db),
            users,
            faults,
            addr,
            anchor,
            started: Instant::now(),
            skew: AtomicI64::new(0),
        });
        let running = serve(&inner, listener);
        Ok(SimServer {
            inner,
            addr,
            running: Mutex::new(Some(running)),
        })
    }

    /// Close the listener and every open connection (keep-alive ones included), so clients
    /// see connection refused/reset, as during an outage. Data and settings are kept; a no-op
    /// if already stopped. In-flight requests get up to a second to finish.
    pub async fn stop_accepting(&self) {
        let running = lock(&self.running).take();
        if let Some(r) = running {
            halt(r, Duration::from_secs(1)).await;
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

    /// Move the server clock forward by `by` (rounded up to whole seconds), so later writes
    /// get strictly later `sys_updated_on` values.
    pub fn advance_clock(&self, by: Duration) {
        let secs = by.as_secs() + u64::from(by.subsec_nanos() > 0);
        self.inner.skew.fetch_add(
            i64::try_from(secs).unwrap_or(i64::MAX / 4),
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
        let Ok(mut db) = self.inner.db.write() else {
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
        apply_update(&mut db, t, row, &body, &actor, self.inner.now());
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
        let Ok(mut db) = self.inner.db.write() else {
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
        apply_update(&mut db, t, row, &body, &actor, self.inner.now());
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
        let mut db = self.inner.db.write().ok()?;
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
    println!("Password for every user: {DEMO_PASSWORD}");
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

fn json_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Object(o) => o.get("value").and_then(json_to_string),
        Value::Array(_) => None,
    }
}

/// Apply a write (§1.6): unknown and `sys_*` fields ignored, journal fields append an entry
/// (author = actor, time = server clock), then stamp `sys_updated_*`/`sys_mod_count` and run
/// side effects: approval roll-up onto the change (§3.2, §3.4) and on-hold handling (§4.3).
pub(crate) fn apply_update(
    db: &mut Db,
    t: usize,
    row: u32,
    body: &Map<String, Value>,
    actor: &Actor,
    now: i64,
) {
    let at = fmt_ts(now);
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
        if matches!(db.tables[t].fields[f].kind, Kind::Journal) {
            if !s.trim().is_empty() {
                db.add_journal(
                    t,
                    row,
                    JournalEntry {
                        field: f,
                        at: at.clone(),
                        author: actor.name.clone(),
                        text: s,
                    },
                );
                touched = true;
            }
            continue;
        }
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
                db.add_journal(
                    tc,
                    crow,
                    JournalEntry {
                        field: fh,
                        at: at.clone(),
                        author: actor.name.clone(),
                        text: format!("{label} by {}", actor.name),
                    },
                );
            }
            rollup(db, tc, crow, &actor.user_name, &at);
        }
    }
    if name == "change_request" && names.contains(&"on_hold") {
        let fh = db.tables[t].field("on_hold").expect("field");
        let hold = db.get(t, row, fh) == "true";
        let chg_id = db.get(t, row, SYS_ID).to_string();
        if let Some(ta) = db.table("sysapproval_approver") {
            let fa = db.tables[ta].field("sysapproval").expect("field");
            let fs = db.tables[ta].field("state").expect("field");
            let (from, to) = if hold {
                ("requested", "not_required")
            } else {
                ("not_required", "requested")
            };
            for r in 0..db.tables[ta].rows.len() as u32 {
                if db.get(ta, r, fa) == chg_id && db.get(ta, r, fs) == from {
                    db.set(ta, r, fs, to);
                    stamp(db, ta, r, &actor.user_name, &at);
                }
            }
        }
        rollup(db, t, row, &actor.user_name, &at);
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
    let id = match inner.ids.lock() {
        Ok(mut r) => r.sys_id(),
        Err(e) => e.into_inner().sys_id(),
    };
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
        if matches!(db.tables[t].fields[f].kind, Kind::Journal) {
            if !s.trim().is_empty() {
                db.add_journal(
                    t,
                    row,
                    JournalEntry {
                        field: f,
                        at: at.clone(),
                        author: actor.name.clone(),
                        text: s,
                    },
                );
            }
        } else {
            db.set(t, row, f, &s);
        }
    }
    row
}
