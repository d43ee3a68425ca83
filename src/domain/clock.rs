//! The clock is injected so that SLA countdowns are deterministic in tests, and so that what
//! the server decides by its own clock (whether a delegation is active, whether a window has
//! opened) is judged by the server's time, not the laptop's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// How far this clock is known to be from the machine's own (the server clock's learned
    /// skew); `None` for clocks that are not corrected.
    fn skew(&self) -> Option<Duration> {
        None
    }
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always answers the same instant (tests, snapshots).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that starts at a given instant and then runs with `base` (the wall clock, say):
/// `signoff` under test runs on the simulator's calendar this way.
pub struct StartedAt {
    base: Arc<dyn Clock>,
    offset: Duration,
}

impl StartedAt {
    pub fn new(start: DateTime<Utc>, base: Arc<dyn Clock>) -> StartedAt {
        let offset = start - base.now();
        StartedAt { base, offset }
    }
}

impl Clock for StartedAt {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + self.offset
    }
}

/// The server's time, as well as this machine can tell: the local clock plus the skew
/// learned from the server's `Date` headers. Until a skew is learned (or restored from the
/// store) it is the local clock.
///
/// A `Date` header has whole seconds, so a reading is taken as the middle of its second and
/// the skew moves only when a reading differs from it by more than a second: a correct clock
/// never jitters.
pub struct ServerClock {
    local: Arc<dyn Clock>,
    skew_ms: AtomicI64,
    known: AtomicBool,
}

/// How far a reading must differ from the current skew before it replaces it.
const DEADBAND_MS: i64 = 1_000;

impl ServerClock {
    pub fn new(local: Arc<dyn Clock>) -> ServerClock {
        ServerClock {
            local,
            skew_ms: AtomicI64::new(0),
            known: AtomicBool::new(false),
        }
    }

    /// Starts from a skew measured earlier (the last sync's, kept in the store).
    pub fn with_skew(local: Arc<dyn Clock>, skew: Option<Duration>) -> ServerClock {
        let c = ServerClock::new(local);
        if let Some(s) = skew {
            c.skew_ms.store(s.num_milliseconds(), Ordering::Relaxed);
            c.known.store(true, Ordering::Relaxed);
        }
        c
    }

    /// Takes one reading: the server said it was `server` (whole seconds) just now.
    pub fn observe(&self, server: DateTime<Utc>) {
        let mid = server + Duration::milliseconds(500);
        let reading = (mid - self.local.now()).num_milliseconds();
        let current = self.skew_ms.load(Ordering::Relaxed);
        if (reading - current).abs() > DEADBAND_MS {
            self.skew_ms.store(reading, Ordering::Relaxed);
        }
        self.known.store(true, Ordering::Relaxed);
    }

    /// This machine's own time.
    pub fn local_now(&self) -> DateTime<Utc> {
        self.local.now()
    }
}

impl Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        let skew = Duration::milliseconds(self.skew_ms.load(Ordering::Relaxed));
        let local = self.local.now();
        local.checked_add_signed(skew).unwrap_or(local)
    }

    /// How far the server's clock is ahead of this machine's (negative: behind); `None` until
    /// a reading was taken.
    fn skew(&self) -> Option<Duration> {
        self.known
            .load(Ordering::Relaxed)
            .then(|| Duration::milliseconds(self.skew_ms.load(Ordering::Relaxed)))
    }
}

/// A skew in words: `in step`, `3 s ahead`, `6 days 2 h behind`.
pub fn describe_skew(skew: Duration) -> String {
    let secs = skew.num_seconds();
    let a = secs.unsigned_abs();
    if a <= 1 {
        return "in step with this machine".into();
    }
    let amount = if a < 120 {
        format!("{a} s")
    } else if a < 7200 {
        format!("{} min", a / 60)
    } else if a < 172_800 {
        format!("{} h {} min", a / 3600, a % 3600 / 60)
    } else {
        format!("{} days {} h", a / 86_400, a % 86_400 / 3600)
    };
    let way = if secs > 0 { "ahead of" } else { "behind" };
    format!("{amount} {way} this machine")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, s).unwrap()
    }

    #[test]
    fn learns_the_server_time_without_jitter() {
        let local: Arc<dyn Clock> = Arc::new(FixedClock(t(10)));
        let c = ServerClock::new(local.clone());
        assert_eq!(c.skew(), None);
        assert_eq!(c.now(), t(10));
        // Same second: in step, no skew.
        c.observe(t(10));
        assert_eq!(c.skew(), Some(Duration::zero()));
        assert_eq!(c.now(), t(10));
        // A whole day behind.
        let server = t(10) - Duration::days(1);
        c.observe(server);
        assert_eq!(c.now(), server + Duration::milliseconds(500));
        // Readings within a second of that do not move it.
        c.observe(server + Duration::seconds(1));
        assert_eq!(c.now(), server + Duration::milliseconds(500));
        let restored = ServerClock::with_skew(local, Some(Duration::hours(2)));
        assert_eq!(restored.now(), t(10) + Duration::hours(2));
    }

    #[test]
    fn skew_in_words() {
        assert_eq!(
            describe_skew(Duration::milliseconds(800)),
            "in step with this machine"
        );
        assert_eq!(
            describe_skew(Duration::seconds(42)),
            "42 s ahead of this machine"
        );
        assert_eq!(
            describe_skew(Duration::minutes(-7)),
            "7 min behind this machine"
        );
        assert_eq!(
            describe_skew(Duration::days(-365) - Duration::hours(3)),
            "365 days 3 h behind this machine"
        );
    }

    #[test]
    fn started_at_runs_from_its_start() {
        let base: Arc<dyn Clock> = Arc::new(FixedClock(t(0)));
        let c = StartedAt::new(t(0) - Duration::days(400), base);
        assert_eq!(c.now(), t(0) - Duration::days(400));
    }
}
