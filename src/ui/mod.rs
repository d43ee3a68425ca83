//! The terminal UI: state + update + views (no IO), and the event loop that runs them.
//!
//! `ui` depends on the domain only: `run` translates what the sync engine and the store say
//! into the UI's own messages (`msg`).

pub mod commands;
pub mod format;
pub mod keymap;
pub mod layout;
pub mod msg;
pub mod run;
pub mod state;
pub mod theme;
pub mod views;

pub use msg::{Effect, Msg, OutboxRow, Synced};
pub use state::{AppState, Mode, Net, QueueRows, update};
pub use theme::Theme;
