//! signoff: a terminal console for people who approve IT changes.
//!
//! Layers (see DESIGN.md): `domain` is pure; `backend` talks to the ITSM system; `ui` is
//! ratatui state, update and views with no IO; `sim` is an independent ServiceNow-compatible
//! server used by `signoff demo` and the tests.

pub mod backend;
pub mod domain;

/// Installs the TLS crypto provider (ring) once. reqwest is built without a default provider
/// to keep builds lean; building a client without one would panic.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod secrets;
pub mod sim;
pub mod store;
pub mod sync;
pub mod ui;

static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Records the moment the process started (call first thing in `main`).
pub fn mark_start() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// Time since `mark_start` (zero if it was never called).
pub fn since_start() -> std::time::Duration {
    STARTED.get().map(|t| t.elapsed()).unwrap_or_default()
}

/// Crash-safety tests stop the process at named points: with `SIGNOFF_PAUSE_AT=<point>` set,
/// the process says so on stderr and waits there to be killed. Unset (always, outside those
/// tests), this does nothing.
pub fn pause_point(point: &str) {
    if std::env::var("SIGNOFF_PAUSE_AT").is_ok_and(|p| p == point) {
        eprintln!("signoff: paused at {point} (pid {})", std::process::id());
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
