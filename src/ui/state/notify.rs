//! Notifications (issue 16): a new Emergency or Critical approval, or approvals entering
//! warning or breach, raise a toast in the corner of the screen and, where the config asks,
//! the terminal bell and a desktop notification.
//!
//! What was known is kept as small sets (the urgent approvals, those in warning, those
//! breached), compared when the queue changes and once a minute; the first look only learns,
//! so starting signoff raises nothing.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// `[notify]` in config.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// New Emergency or Critical approvals.
    pub urgent: bool,
    /// Approvals entering warning or breach.
    pub sla: bool,
    /// Ring the terminal bell with a toast.
    pub bell: bool,
    /// Send a desktop notification with a toast (notify-send, or osascript on macOS).
    pub desktop: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            urgent: true,
            sla: true,
            bell: false,
            desktop: false,
        }
    }
}

/// How long a toast stays up.
pub const TOAST_FOR: Duration = Duration::seconds(8);

/// A toast on screen: its lines and when it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub title: String,
    pub lines: Vec<String>,
    pub until: DateTime<Utc>,
}

/// What the last look saw.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub config: NotifyConfig,
    looked: bool,
    urgent: HashSet<u64>,
    warning: HashSet<u64>,
    breached: HashSet<u64>,
    /// The minute of the last SLA look.
    minute: i64,
    pub toast: Option<Toast>,
}

/// The sets a look compares: the urgent approvals, those in warning and those breached, by
/// [`id_hash`] (eight bytes an approval, so a queue of 100,000 costs little to watch).
pub struct Seen {
    pub urgent: HashSet<u64>,
    pub warning: HashSet<u64>,
    pub breached: HashSet<u64>,
}

/// What a look found new, by kind ([`id_hash`]es; the queue names them).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct News {
    pub urgent: Vec<u64>,
    pub warning: Vec<u64>,
    pub breached: Vec<u64>,
}

/// An approval's sys_id as the watch keeps it.
pub fn id_hash(sys_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sys_id.hash(&mut h);
    h.finish()
}

impl News {
    pub fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.warning.is_empty() && self.breached.is_empty()
    }
}

impl Watch {
    /// Compares `seen` with the last look; the first look only learns.
    pub fn look(&mut self, seen: Seen, now_ms: i64) -> News {
        self.minute = now_ms / 60_000;
        let fresh = |now: &HashSet<u64>, before: &HashSet<u64>| -> Vec<u64> {
            let mut v: Vec<u64> = now.difference(before).copied().collect();
            v.sort();
            v
        };
        let news = if self.looked {
            News {
                urgent: if self.config.urgent {
                    fresh(&seen.urgent, &self.urgent)
                } else {
                    Vec::new()
                },
                // A row that went straight to breach is news of a breach only.
                warning: if self.config.sla {
                    fresh(&seen.warning, &self.warning)
                } else {
                    Vec::new()
                },
                breached: if self.config.sla {
                    fresh(&seen.breached, &self.breached)
                } else {
                    Vec::new()
                },
            }
        } else {
            News::default()
        };
        self.looked = true;
        self.urgent = seen.urgent;
        self.warning = seen.warning;
        self.breached = seen.breached;
        news
    }

    /// Whether to look now: never looked yet (the first look learns), or a minute has passed
    /// since the last (SLA states move with the clock).
    pub fn due(&self, now_ms: i64) -> bool {
        !self.looked || now_ms / 60_000 != self.minute && self.config.sla
    }
}
