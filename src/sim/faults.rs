//! Fault injection: the failure modes a client must survive (`servicenow-api.md` §1.7, §1.8,
//! §8 item 6): error statuses with the standard envelope, 429 with `Retry-After`, a 200 whose
//! JSON body is broken, and the 200 HTML "Instance Hibernating" page of a sleeping PDI.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the ServiceNow error envelope.
    Status(u16),
    /// 429 + `Retry-After` + `X-RateLimit-*` headers + envelope (§1.8).
    RateLimited { retry_after_secs: u64 },
    /// 503 + `Retry-After` + envelope: the node is down for maintenance (§1.7).
    Unavailable { retry_after_secs: u64 },
    /// 200, `Content-Type: application/json`, body that is not valid JSON (truncated).
    MalformedJson,
    /// 200, `Content-Type: text/html`, an "Instance Hibernating" page (§1.7).
    HibernatingHtml,
    /// This status with an HTML page, not the envelope: what a gateway or single-sign-on
    /// portal in front of an instance answers (a 401 that is not ServiceNow's).
    HtmlStatus(u16),
    /// A redirect (`status`, e.g. 302 or 307) to `location`; nothing is done.
    Redirect { status: u16, location: String },
    /// The request is carried out (a write is applied), then answered with this fault instead
    /// of its result: the client cannot tell from the answer that it worked.
    AfterApplying(Box<Fault>),
    /// Answered as usual, but `X-Total-Count` says `total` (a server lying about list
    /// sizes), and without the `Link` header unless `link`.
    LyingTotal { total: u64, link: bool },
    /// Never answered: the connection stays open and silent (a hung node).
    Hang,
    /// Held until the test opens the gate, then served as usual: a slow answer whose moment
    /// the test chooses (to act while a client waits on it).
    Held(Gate),
}

/// A test's hold on one request: it learns when the request arrived, and lets it go on.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<GateState>,
}

#[derive(Default)]
struct GateState {
    arrived: tokio::sync::Notify,
    open: tokio::sync::Notify,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    /// Waits until the held request has arrived.
    pub async fn arrived(&self) {
        self.inner.arrived.notified().await;
    }
    /// Lets the held request be served.
    pub fn open(&self) {
        self.inner.open.notify_one();
    }
    /// Server side: says the request is here, then waits for the gate to open.
    pub(crate) async fn hold(&self) {
        self.inner.arrived.notify_one();
        self.inner.open.notified().await;
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Gate {}

/// Which requests a queued fault waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct When {
    /// Only this method (`GET`, `PATCH`, …), upper case.
    pub method: Option<String>,
    /// Only writes (POST, PUT, PATCH, DELETE).
    pub writes: bool,
    /// Only requests whose path contains this (a table name, a sys_id).
    pub path_contains: Option<String>,
}

impl When {
    /// The next request, whatever it is.
    pub fn any() -> When {
        When::default()
    }
    /// The next write.
    pub fn write() -> When {
        When {
            writes: true,
            ..When::default()
        }
    }
    /// The next request with this method.
    pub fn method(m: &str) -> When {
        When {
            method: Some(m.to_ascii_uppercase()),
            ..When::default()
        }
    }
    /// Narrowed to paths containing `part`.
    pub fn on(mut self, part: &str) -> When {
        self.path_contains = Some(part.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let write = matches!(method, "POST" | "PUT" | "PATCH" | "DELETE");
        (!self.writes || write)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

#[derive(Default)]
struct FaultState {
    queue: Mutex<VecDeque<(When, Fault)>>,
    persistent: Mutex<Option<Fault>>,
    served: AtomicU64,
    /// Response body bytes sent.
    bytes: AtomicU64,
    /// Responses sent gzipped.
    gzipped: AtomicU64,
    /// `f64` bits of the random 500 fraction (0.0 = off).
    fail_rate: AtomicU64,
    rate: Mutex<RateState>,
}

/// Per-user fixed-window request counting (§1.8; the real platform counts per user per hour,
/// the sim per `window`).
struct RateState {
    limit: Option<u32>,
    window: Duration,
    /// user_name → (window start on the server clock in ms, requests admitted in that window)
    users: HashMap<String, (i64, u32)>,
}

impl Default for RateState {
    fn default() -> Self {
        RateState {
            limit: None,
            window: DEFAULT_RATE_WINDOW,
            users: HashMap::new(),
        }
    }
}

/// Default rate-limit window.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// Sys_id reported in `X-RateLimit-Rule` (a made-up `sys_rate_limit_rules` row).
pub const RATE_LIMIT_RULE: &str = "5a1e7f00c0ffee00d15ea5e5a11ce0ff";

/// Outcome of the rate-limit check for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RateDecision {
    /// No rule applies: no headers.
    Unlimited,
    /// Admitted; headers carry the limit and the window reset.
    Allowed { limit: u32, reset_in: Duration },
    /// Over the limit: 429.
    Denied {
        limit: u32,
        reset_in: Duration,
        window: Duration,
    },
}

/// Cheap cloneable handle to the server's fault injector.
#[derive(Clone, Default)]
pub struct FaultControl {
    inner: Arc<FaultState>,
}

impl FaultControl {
    /// One-shot: the next request (any path) gets `fault`; several are served FIFO.
    pub fn push(&self, fault: Fault) {
        self.push_when(When::any(), fault);
    }
    /// One-shot: the next request that `when` matches gets `fault` (others pass by).
    pub fn push_when(&self, when: When, fault: Fault) {
        lock(&self.inner.queue).push_back((when, fault));
    }
    /// Every request gets `fault` until cleared with `None` (one-shot faults go first).
    pub fn set_persistent(&self, fault: Option<Fault>) {
        *lock(&self.inner.persistent) = fault;
    }
    /// Response body bytes sent so far (for tests comparing how much a client downloads).
    pub fn bytes_served(&self) -> u64 {
        self.inner.bytes.load(Ordering::SeqCst)
    }
    pub(crate) fn count_bytes(&self, n: u64) {
        self.inner.bytes.fetch_add(n, Ordering::SeqCst);
    }
    /// Responses sent with `Content-Encoding: gzip` so far (the client asked for it).
    pub fn gzipped_responses(&self) -> u64 {
        self.inner.gzipped.load(Ordering::SeqCst)
    }
    pub(crate) fn count_gzipped(&self) {
        self.inner.gzipped.fetch_add(1, Ordering::SeqCst);
    }
    /// Number of HTTP requests received so far.
    pub fn requests_served(&self) -> u64 {
        self.inner.served.load(Ordering::SeqCst)
    }
    /// Fraction (0.0..=1.0) of requests that answer 500 with the error envelope; which ones is
    /// decided by the server's seeded PRNG, so a given seed gives the same sequence. Values
    /// outside the range are clamped (NaN = 0).
    pub fn set_fail_rate(&self, rate: f64) {
        let r = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.inner.fail_rate.store(r.to_bits(), Ordering::SeqCst);
    }
    /// The current random-500 fraction.
    pub fn fail_rate(&self) -> f64 {
        f64::from_bits(self.inner.fail_rate.load(Ordering::SeqCst))
    }
    /// At most `limit` requests per user per `window` (`None` = no limit); beyond that 429
    /// with `Retry-After`. Changing the setting starts fresh windows for everyone. A zero
    /// window counts as one millisecond.
    pub fn set_rate_limit(&self, limit: Option<u32>, window: Duration) {
        let mut r = lock(&self.inner.rate);
        r.limit = limit;
        r.window = window.max(Duration::from_millis(1));
        r.users.clear();
    }
    /// The current rate limit and window.
    pub fn rate_limit(&self) -> (Option<u32>, Duration) {
        let r = lock(&self.inner.rate);
        (r.limit, r.window)
    }
    /// Count `user`'s request against the rate limit at `now_ms` on the server clock.
    pub(crate) fn check_rate(&self, user: &str, now_ms: i64) -> RateDecision {
        let mut r = lock(&self.inner.rate);
        let Some(limit) = r.limit else {
            return RateDecision::Unlimited;
        };
        let window = r.window;
        let slot = r.users.entry(user.to_string()).or_insert((now_ms, 0));
        let since = |start: i64| Duration::from_millis(u64::try_from(now_ms - start).unwrap_or(0));
        if since(slot.0) >= window {
            *slot = (now_ms, 0);
        }
        let reset_in = window.saturating_sub(since(slot.0));
        if slot.1 >= limit {
            return RateDecision::Denied {
                limit,
                reset_in,
                window,
            };
        }
        slot.1 += 1;
        RateDecision::Allowed { limit, reset_in }
    }
    /// Count a request and take the fault it must get, if any.
    pub(crate) fn on_request(&self, method: &str, path: &str) -> Option<Fault> {
        self.inner.served.fetch_add(1, Ordering::SeqCst);
        {
            let mut queue = lock(&self.inner.queue);
            if let Some(i) = queue.iter().position(|(w, _)| w.matches(method, path)) {
                return queue.remove(i).map(|(_, f)| f);
            }
        }
        lock(&self.inner.persistent).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whole seconds until `d` has passed, at least 1 (for `Retry-After`).
pub(crate) fn whole_secs_ceil(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// A window as the rate-limit detail names it: "hour", "minute", "5 minutes", "30 seconds".
pub fn describe_window(w: Duration) -> String {
    let s = w.as_secs();
    let unit = |n: u64, one: &str| {
        if n == 1 {
            one.to_string()
        } else {
            format!("{n} {one}s")
        }
    };
    if s == 0 {
        format!("{} ms", w.as_millis())
    } else if w.subsec_nanos() != 0 {
        format!("{:.3} seconds", w.as_secs_f64())
    } else if s.is_multiple_of(86_400) {
        unit(s / 86_400, "day")
    } else if s.is_multiple_of(3600) {
        unit(s / 3600, "hour")
    } else if s.is_multiple_of(60) {
        unit(s / 60, "minute")
    } else {
        unit(s, "second")
    }
}

/// Body of the hibernating-instance page.
pub const HIBERNATING_HTML: &str = "<!DOCTYPE html>\n<html><head><title>Instance Hibernating page</title></head>\n<body><h1>Your instance is hibernating</h1>\n<p>This developer instance is hibernating. Sign in to the developer portal to wake it up.</p>\n</body></html>\n";

/// A JSON body cut off mid-record.
pub const MALFORMED_JSON: &str =
    "{\"result\":[{\"sys_id\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\",\"state\":\"reque";
