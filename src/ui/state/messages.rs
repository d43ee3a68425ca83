//! Status messages: the one in the status bar (for a few seconds) and the log of every message
//! shown this session (`:messages`), so a sentence too long for the bar, or gone before it was
//! read, is not lost.

use chrono::{DateTime, Utc};

/// How long a message stays in the status bar.
pub const FLASH_FOR: chrono::Duration = chrono::Duration::seconds(6);
/// Messages the log keeps.
const KEEP: usize = 200;

/// A short message in the status bar, in place of the key hints.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    /// Something was refused or went wrong (drawn as an error), rather than done.
    pub error: bool,
    /// Something was done for good (drawn with a ✓); otherwise just news.
    pub done: bool,
    /// When it goes away; set from the first tick when no tick came yet.
    pub until: Option<DateTime<Utc>>,
}

/// One message in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub at: Option<DateTime<Utc>>,
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Default)]
pub struct Messages {
    pub flash: Option<Flash>,
    pub log: Vec<Logged>,
    /// The message log is open, scrolled this far.
    pub open: Option<usize>,
}

impl Messages {
    /// Shows a message in the status bar and keeps it in the log.
    pub fn push(&mut self, text: impl Into<String>, error: bool, now: Option<DateTime<Utc>>) {
        self.show(text.into(), error, false, now);
    }

    /// Shows that something was done for good (a ✓ goes with it).
    pub fn done(&mut self, text: impl Into<String>, now: Option<DateTime<Utc>>) {
        self.show(text.into(), false, true, now);
    }

    fn show(&mut self, text: String, error: bool, done: bool, now: Option<DateTime<Utc>>) {
        if self.log.len() == KEEP {
            self.log.remove(0);
        }
        self.log.push(Logged {
            at: now,
            text: text.clone(),
            error,
        });
        self.flash = Some(Flash {
            text,
            error,
            done,
            until: now.map(|n| n + FLASH_FOR),
        });
    }

    /// A tick: the status-bar message goes when its time is up. Answers whether it went.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        match &mut self.flash {
            Some(f) if f.until.is_none() => {
                f.until = Some(now + FLASH_FOR);
                false
            }
            Some(f) if f.until.is_some_and(|u| now >= u) => {
                self.flash = None;
                true
            }
            _ => false,
        }
    }
}
