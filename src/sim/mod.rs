//! The built-in ServiceNow-compatible server ("the sim").
//!
//! An independent reading of the ServiceNow Table API as described in
//! `/work/shared/reference/servicenow-api.md` (§0, §1, §3, §4, §7.1, checklist §8): it serves
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
    ids: Mutex<data::Rng>,
}

impl Inner {
    /// Server clock: the `now` anchor advanced by the real time elapsed since start.
    pub(crate) fn now(&self) -> i64 {
        self.anchor + self.started.elapsed().as_secs() as i64
    }
}

/// Who performs a write (journal author and `sys_updated_by`).
pub struct Actor {
    pub user_name: String,
    pub name: String,
}

/// A running simulator.
pub struct SimServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
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
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            ids: Mutex::new(data::Rng::new(config.seed ^ 0xC0FF_EE00_D15E_A5E5)),
            config,
            db: RwLock::new(db),
            users,
            faults: FaultControl::default(),
            addr,
            anchor,
            started: Instant::now(),
        });
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
        Ok(SimServer {
            inner,
            addr,
            stop,
            task,
        })
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

    /// Stop serving and wait (briefly) for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
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
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
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
