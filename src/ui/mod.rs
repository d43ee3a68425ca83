//! The terminal UI: state + update + views (no IO), and the event loop that runs them.

pub mod app;
pub mod format;
pub mod keymap;
pub mod layout;
pub mod run;
pub mod theme;
pub mod views;

pub use app::{AppState, Effect, Mode, Msg, Net, update};
pub use theme::Theme;
