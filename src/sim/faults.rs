//! Fault injection: the failure modes a client must survive (`servicenow-api.md` §1.7, §1.8,
//! §8 item 6): error statuses with the standard envelope, 429 with `Retry-After`, a 200 whose
//! JSON body is broken, and the 200 HTML "Instance Hibernating" page of a sleeping PDI.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the ServiceNow error envelope.
    Status(u16),
    /// 429 + `Retry-After` + `X-RateLimit-*` headers + envelope (§1.8).
    RateLimited { retry_after_secs: u64 },
    /// 200, `Content-Type: application/json`, body that is not valid JSON (truncated).
    MalformedJson,
    /// 200, `Content-Type: text/html`, an "Instance Hibernating" page (§1.7).
    HibernatingHtml,
}

#[derive(Default)]
struct FaultState {
    queue: Mutex<VecDeque<Fault>>,
    persistent: Mutex<Option<Fault>>,
    served: AtomicU64,
}

/// Cheap cloneable handle to the server's fault injector.
#[derive(Clone, Default)]
pub struct FaultControl {
    inner: Arc<FaultState>,
}

impl FaultControl {
    /// One-shot: the next request (any path) gets `fault`; several are served FIFO.
    pub fn push(&self, fault: Fault) {
        lock(&self.inner.queue).push_back(fault);
    }
    /// Every request gets `fault` until cleared with `None` (one-shot faults go first).
    pub fn set_persistent(&self, fault: Option<Fault>) {
        *lock(&self.inner.persistent) = fault;
    }
    /// Number of HTTP requests received so far.
    pub fn requests_served(&self) -> u64 {
        self.inner.served.load(Ordering::SeqCst)
    }
    /// Count a request and take the fault it must get, if any.
    pub(crate) fn on_request(&self) -> Option<Fault> {
        self.inner.served.fetch_add(1, Ordering::SeqCst);
        if let Some(f) = lock(&self.inner.queue).pop_front() {
            return Some(f);
        }
        lock(&self.inner.persistent).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Body of the hibernating-instance page.
pub const HIBERNATING_HTML: &str = "<!DOCTYPE html>\n<html><head><title>Instance Hibernating page</title></head>\n<body><h1>Your instance is hibernating</h1>\n<p>This developer instance is hibernating. Sign in to the developer portal to wake it up.</p>\n</body></html>\n";

/// A JSON body cut off mid-record.
pub const MALFORMED_JSON: &str =
    "{\"result\":[{\"sys_id\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\",\"state\":\"reque";
