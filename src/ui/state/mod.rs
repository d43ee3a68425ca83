//! Application state and the one place it changes: `update(&mut AppState, Msg) -> Vec<Effect>`.
//! No IO here; effects are performed by `run`.
//!
//! `AppState` composes one component per screen or popup (queue, detail, decision dialog,
//! delegations, help, command line, messages); keys reach them through the command registry
//! and the keymap, in the context of whatever has focus.

pub mod cab;
mod cmdline;
pub mod decide;
pub mod delegations;
pub mod detail;
pub mod help;
pub mod messages;
pub mod notify;
pub mod queue;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::find;
use crate::domain::when::Zone;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;

use super::commands::{self, Cmd, Context};
use super::format;
use super::keymap::Keymap;
use super::layout;
use super::msg::{Effect, Msg, OutboxRow, Synced};
use crate::domain::{
    Approval, DecisionKind, Delegation, DelegationStatus, Delivery, User, UserRef,
};
pub use cab::{CabState, FOLLOW_EVERY, MeetingView};
pub use cmdline::CmdLine;
use queue::ListLine;

/// The sort a click on the list's column headings at `x` (inside the border) asks for.
fn views_columns_sort(x: usize, width: usize) -> Option<find::Sort> {
    let (number, sla, window) = super::views::queue_columns(width);
    let x = x.checked_sub(1 + 3)?; // the border and the cursor's columns
    if x < number {
        Some(find::Sort::Number)
    } else if x < number + sla {
        Some(find::Sort::Deadline)
    } else if x < number + sla + window {
        Some(find::Sort::Window)
    } else {
        None
    }
}

/// My decisions as the list shows them (`None` while read).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryView {
    pub rows: Option<Result<Vec<crate::domain::history::HistoryRow>, String>>,
    pub selected: usize,
    /// signoff's own decisions, as the outbox holds them.
    pub decisions: Vec<(crate::domain::Decision, crate::domain::Delivery)>,
    /// The server's record of my decisions, as last read.
    pub server: crate::domain::history::ServerHistory,
    /// The server is being asked (`Some`: the answer is awaited), or why it could not be.
    pub server_asked: Option<Result<(), String>>,
}

/// The insights screen: the period shown and its figures (`None` while computed).
#[derive(Debug, Clone, PartialEq)]
pub struct InsightsView {
    pub days: i64,
    pub figures: Option<Result<Box<crate::domain::insights::Insights>, String>>,
}

/// The change in full as the detail view has it: asked for, read from the cache, or read
/// from the instance (`fresh`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextView {
    pub change_sys_id: String,
    pub result: Option<Result<Box<crate::domain::context::ChangeContext>, String>>,
    pub fresh: bool,
}

/// `/`'s line: what is typed, where the cursor was and the search in force when it opened
/// (Esc goes back to both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchLine {
    pub input: String,
    origin: usize,
    before: Option<queue::Search>,
}
pub use decide::{DecideModal, Drafts};
pub use delegations::{DelegationForm, DelegationsState, FormField};
pub use help::HelpState;
pub use messages::{FLASH_FOR, Flash, Messages};
pub use queue::{QueueFilter, QueueItem, QueueRows, QueueState, RowSource, Search, Section};

/// The screen under any popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Queue,
    /// The detail of the selected change has focus (full screen when there is no room for a
    /// pane beside or below the list).
    Detail,
    /// The delegation screen: delegations given and received (full screen).
    Delegations,
    /// The CAB meetings list.
    Meetings,
    /// A meeting's agenda, attendees and what needs attention.
    Agenda,
    /// A meeting being run (or followed): the current item fills the screen.
    Session,
}

/// What we know of the connection to the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Net {
    /// No sync has finished in this session yet.
    Connecting,
    Online,
    /// The last sync failed; the engine retries by itself at `retry_at`.
    Offline {
        since: DateTime<Utc>,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// The credentials were refused: nothing is retried until the user asks.
    AuthFailed {
        error: String,
    },
    /// The local store failed.
    StoreFailed {
        error: String,
    },
    /// Started with --offline: the network is never touched.
    OfflineMode,
}

/// Where the decision on one approval stands, as far as the UI knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// The outbox's id for the decision; `None` until the run loop or sync reports it.
    pub client_id: Option<String>,
    /// `None` when only a delivery report is known (not who decided what).
    pub kind: Option<DecisionKind>,
    pub delivery: Delivery,
    /// The justification sent, to prefill a re-decision.
    pub justification: Option<String>,
}

impl Tracked {
    /// The row's delivery text, readable without colour. Only an applied decision has a ✓.
    pub fn label(&self) -> String {
        match &self.delivery {
            Delivery::Queued => "queued".into(),
            Delivery::Sending => "sending…".into(),
            Delivery::Applied { .. } => match self.kind {
                Some(DecisionKind::Hold) => "✓ on hold".into(),
                Some(k) => format!("✓ {}", k.past()),
                None => "✓ applied".into(),
            },
            Delivery::Conflict { .. } => "! conflict".into(),
            Delivery::Failed { .. } => "✗ failed".into(),
            Delivery::Superseded { .. } => "replaced".into(),
        }
    }

    /// Conflicts and failures wait for the user: re-decide or discard.
    pub fn needs_attention(&self) -> bool {
        self.delivery.needs_attention()
    }
}

/// A yes/no question, and what yes does.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub then: ConfirmThen,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmThen {
    EndDelegation {
        sys_id: String,
    },
    /// A move of the open meeting (start, end).
    Move(crate::domain::cab::Move),
    Quit,
    /// Put the changed policy file in force ([`AppState::policy_review`]).
    Policy,
}

/// A changed policy file waiting for confirmation in the console (issue 17): what changed,
/// and who confirms it here.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPrompt {
    pub review: crate::domain::governance::PolicyReview,
    pub by: String,
    /// The diff's changed lines with one of context, as the dialog shows them.
    pub lines: Vec<crate::domain::governance::DiffLine>,
}

pub struct AppState {
    pub instance: String,
    pub login: String,
    /// The profile in use (empty: the default one).
    pub profile: String,
    /// Against the built-in demo instance.
    pub demo: bool,
    /// A read-only profile: nothing is decided or moved from here.
    pub read_only: bool,
    pub user: Option<User>,
    pub policy: crate::domain::Policy,
    /// The viewer's time zone for absolute times.
    pub tz: Zone,
    /// How the zone is named on screen (`UTC+01:00`; the edge names this machine's zone).
    pub tz_label: String,
    /// Keys: the registry's defaults with the user's overrides.
    pub keymap: Keymap,
    /// My decisions, while the list is open.
    pub decided: Option<HistoryView>,
    /// The insights screen, while open.
    pub insights: Option<InsightsView>,
    /// The change in full for the detail view: the last one asked for.
    pub context: Option<ContextView>,
    /// What notifications saw last, and the toast on screen.
    pub watch: notify::Watch,
    /// Whether the console takes the mouse (`mouse` in config.toml, default on).
    pub mouse: bool,
    /// The saved views of the config (`[[views]]`), already checked.
    pub views: Vec<crate::config::View>,
    pub queue: QueueState,
    pub size: Rect,
    pub mode: Mode,
    /// First line of the detail shown.
    pub detail_scroll: usize,
    pub help: Option<HelpState>,
    /// The `:` line, when open.
    pub cmdline: Option<CmdLine>,
    /// `/`'s line, while the search is typed.
    pub search_line: Option<SearchLine>,
    /// Commands run from the `:` line, newest last.
    pub history: Vec<String>,
    pub messages: Messages,
    pub net: Net,
    /// A sync is running: rows fetched so far and the total when known.
    pub syncing: Option<(usize, Option<usize>)>,
    /// When the queue on screen was last synced (from the store at start).
    pub last_sync: Option<DateTime<Utc>>,
    /// Decisions waiting in the outbox.
    pub outbox_pending: usize,
    pub delegations: DelegationsState,
    /// A yes/no question over everything (ending a delegation, quitting, a changed policy).
    pub confirm: Option<Confirm>,
    /// The changed policy file the console asks about (`confirm` holds the question).
    pub policy_review: Option<PolicyPrompt>,
    /// Where decisions stand, by approval sys_id.
    pub deliveries: HashMap<String, Tracked>,
    /// Decisions on screen as open that the last sync's read of the outbox did not hold
    /// (withdrawn, discarded, delivered or replaced by another signoff): they go when the
    /// next read does not hold them either. (One read may predate a decision just stored.)
    outbox_missing: HashSet<String>,
    /// The decision dialog, when open (drawn over the queue; it takes the keys).
    pub decide: Option<DecideModal>,
    pub drafts: Drafts,
    /// `r` was pressed: the next sync's outcome is said.
    pub refreshing: bool,
    /// The approval read again from the server for `e`.
    pub fetching: Option<String>,
    /// CAB meetings: the list and the meeting open.
    pub cab: CabState,
    /// The time of the last tick (the UI reads no clock).
    pub now: Option<DateTime<Utc>>,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    tick_fingerprint: u64,
    /// Effects an answer produced on its way (a fresh copy opening the dialog).
    pending_effects: Vec<Effect>,
}

impl AppState {
    pub fn new(
        instance: String,
        login: String,
        policy: crate::domain::Policy,
        tz: impl Into<Zone>,
    ) -> AppState {
        let mut s = AppState {
            instance,
            login,
            profile: String::new(),
            demo: false,
            read_only: false,
            user: None,
            policy,
            tz: tz.into(),
            tz_label: String::new(),
            keymap: Keymap::default(),
            queue: QueueState::default(),
            size: Rect::new(0, 0, 80, 24),
            mode: Mode::Queue,
            detail_scroll: 0,
            help: None,
            cmdline: None,
            search_line: None,
            views: Vec::new(),
            mouse: true,
            watch: notify::Watch::default(),
            context: None,
            insights: None,
            decided: None,
            history: Vec::new(),
            messages: Messages::default(),
            net: Net::Connecting,
            syncing: None,
            last_sync: None,
            outbox_pending: 0,
            delegations: DelegationsState::default(),
            confirm: None,
            policy_review: None,
            deliveries: HashMap::new(),
            outbox_missing: HashSet::new(),
            decide: None,
            drafts: Drafts::default(),
            refreshing: false,
            fetching: None,
            cab: CabState::default(),
            now: None,
            dirty: true,
            tick_fingerprint: 0,
            pending_effects: Vec::new(),
        };
        s.tz_label = match s.tz {
            Zone::Fixed(o) => format!("UTC{o}"),
            Zone::Local => "local time, summer or winter by date".into(),
        };
        s.queue.rows = layout::list_rows(s.size);
        s.queue.set_policy(s.policy.clone());
        s
    }

    /// The keymap to use (the config's `[keys]` merged over the defaults); its problems are
    /// shown once, and kept in the message log.
    /// The config's saved views.
    pub fn with_views(mut self, views: Vec<crate::config::View>) -> AppState {
        self.views = views;
        self
    }

    pub fn with_keymap(mut self, keymap: Keymap) -> AppState {
        for p in &keymap.problems {
            self.messages
                .push(format!("config.toml {p}"), true, self.now);
        }
        self.keymap = keymap;
        self
    }

    pub fn me(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.sys_id.as_str())
    }

    /// Shows a message in the status bar (kept in `:messages`).
    pub fn flash(&mut self, text: impl Into<String>, error: bool) {
        self.messages.push(text, error, self.now);
        self.dirty = true;
    }

    /// Says that something was done for good (drawn with a ✓).
    pub fn done(&mut self, text: impl Into<String>) {
        self.messages.done(text, self.now);
        self.dirty = true;
    }

    /// When nobody is present to decide this approval: the sentence naming who to chase.
    pub fn attention(&self, item: &QueueItem, now: DateTime<Utc>) -> Option<String> {
        crate::domain::needs_fallback(item, &self.delegations.list, &self.policy, now)
    }

    pub fn has_selection(&self) -> bool {
        !self.queue.is_empty()
    }

    pub fn has_search(&self) -> bool {
        self.queue.search.is_some()
    }

    pub fn selected_item(&self) -> Option<Arc<QueueItem>> {
        self.queue.selected_item()
    }

    /// The person whose approval this is when the user decides it as their delegate.
    pub fn on_behalf_of<'a>(&self, a: &'a Approval) -> Option<&'a UserRef> {
        queue::on_behalf_of(a, self.me())
    }

    pub fn list_rows(&self) -> usize {
        self.queue.rows.max(1)
    }

    /// Rows kept on screen whatever the server says: decisions waiting for the user.
    fn unresolved(&self) -> HashSet<String> {
        self.deliveries
            .iter()
            .filter(|(_, t)| t.needs_attention())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Replaces the queue, keeping the selected change selected if it is still there.
    pub fn set_queue(&mut self, rows: impl Into<queue::QueueRows>) {
        let keep = self.unresolved();
        let me = self.user.as_ref().map(|u| u.sys_id.clone());
        match rows.into() {
            queue::QueueRows::Whole(approvals) => {
                self.queue
                    .set(&self.policy, approvals, &keep, me.as_deref())
            }
            queue::QueueRows::Index(index) => self.queue.set_index(index, &keep, me.as_deref()),
        }
        self.prune();
        self.dirty = true;
    }

    /// Drops applied decisions of approvals no longer in the queue. Conflicts and failures
    /// stay until the user deals with them.
    fn prune(&mut self) {
        if self.deliveries.is_empty() {
            return;
        }
        let present: HashSet<&str> = self.queue.ids().collect();
        self.deliveries.retain(|id, t| {
            present.contains(id.as_str()) || !matches!(t.delivery, Delivery::Applied { .. })
        });
    }

    /// What has the keys now.
    pub fn context(&self) -> Context {
        if self.cmdline.is_some() {
            return Context::CommandLine;
        }
        if self.search_line.is_some() {
            return Context::Search;
        }
        if let Some(m) = &self.decide {
            return if m.confirming {
                Context::Confirm
            } else {
                Context::Editor
            };
        }
        if self.confirm.is_some() {
            return Context::Confirm;
        }
        if self.delegations.form.is_some() {
            return Context::Form;
        }
        if self.cab.open.as_ref().is_some_and(|v| v.note.is_some()) && self.mode == Mode::Session {
            return Context::Note;
        }
        if self.help.is_some() {
            return Context::Help;
        }
        if self.messages.open.is_some() {
            return Context::Messages;
        }
        if self.insights.is_some() {
            return Context::Insights;
        }
        if self.decided.is_some() {
            return Context::History;
        }
        self.screen()
    }

    /// The screen under the popups.
    pub fn screen(&self) -> Context {
        match self.mode {
            Mode::Queue => Context::Queue,
            Mode::Detail => Context::Detail,
            Mode::Delegations => Context::Delegations,
            Mode::Meetings => Context::Meetings,
            Mode::Agenda => Context::Agenda,
            Mode::Session => Context::Session,
        }
    }

    // What the registry's `enabled` checks ask.

    pub fn has_rows(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The history's rows from signoff's decisions and the server's record, merged.
    fn history_rows(&mut self) {
        let me = self
            .user
            .as_ref()
            .map(|u| (u.sys_id.as_str(), u.user_name.as_str()));
        let Some(h) = self.decided.as_mut() else {
            return;
        };
        if matches!(h.rows, Some(Err(_))) {
            return;
        }
        let q = &self.queue;
        let rows = crate::domain::history::rows(&h.decisions, &h.server.decisions, me, &|id| {
            q.position(id)
                .and_then(|i| q.item(i))
                .map(|e| e.approval.clone())
        });
        h.selected = h.selected.min(rows.len().saturating_sub(1));
        h.rows = Some(Ok(rows));
        self.dirty = true;
    }

    /// Whether the open dialog has fields to step through (the delegation form, or a
    /// decision with its risk acceptance).
    pub fn has_fields(&self) -> bool {
        self.delegations.form.is_some() || self.decide.as_ref().is_some_and(|m| m.risk.is_some())
    }

    /// Whether the list shows any tier, folded or not.
    pub fn has_sections(&self) -> bool {
        !self.queue.sections.is_empty()
    }

    fn can(&self, kind: DecisionKind) -> bool {
        self.queue
            .chosen()
            .iter()
            .any(|i| self.refusal(kind, &i.approval).is_none())
    }

    pub fn can_approve(&self) -> bool {
        self.can(DecisionKind::Approve)
    }
    pub fn can_reject(&self) -> bool {
        self.can(DecisionKind::Reject)
    }
    pub fn can_hold(&self) -> bool {
        self.can(DecisionKind::Hold)
    }
    pub fn can_resume(&self) -> bool {
        self.can(DecisionKind::Resume)
    }

    fn selected_tracked(&self) -> Option<&Tracked> {
        self.selected_item()
            .and_then(|i| self.deliveries.get(&i.approval.sys_id))
    }

    pub fn needs_attention(&self) -> bool {
        self.selected_tracked()
            .is_some_and(Tracked::needs_attention)
    }

    pub fn can_discard(&self) -> bool {
        self.selected_tracked()
            .is_some_and(|t| t.needs_attention() || t.delivery == Delivery::Queued)
    }

    pub fn on_given_delegation(&self) -> bool {
        self.delegations
            .selected(self.me())
            .is_some_and(|(_, given)| given)
    }

    pub fn can_go_back(&self) -> bool {
        self.mode != Mode::Queue
            || !self.queue.selection.is_empty()
            || self.help.is_some()
            || self.messages.open.is_some()
    }

    pub fn is_connected(&self) -> bool {
        self.net != Net::OfflineMode
    }

    pub fn can_send(&self) -> bool {
        match (&self.decide, &self.delegations.form) {
            (Some(m), _) => m.ready(),
            (None, Some(f)) => f.verdict.is_ok() && !f.saving,
            _ => false,
        }
    }

    /// The footer's hints: what can be done now, in registry order, `(key, label)`.
    pub fn hints(&self) -> Vec<(String, &'static str)> {
        let ctx = self.context();
        commands::COMMANDS
            .iter()
            .filter(|c| c.contexts.contains(&ctx) && (c.enabled)(self))
            .filter_map(|c| {
                let key = self.keymap.key(c.cmd);
                let label = match (c.cmd, ctx) {
                    (Cmd::Discard, _) if !self.needs_attention() => "withdraw",
                    (Cmd::Open, Context::Meetings) => "agenda",
                    (Cmd::Open, Context::Agenda) => "session",
                    (Cmd::Back, Context::Queue | Context::Detail) => return None,
                    (Cmd::PauseResume, _) if self.meeting().is_some_and(|d| d.cursor().paused) => {
                        "resume"
                    }
                    _ => c.footer?,
                };
                (!key.is_empty()).then_some((key, label))
            })
            .collect()
    }

    /// Why `kind` cannot be decided on this approval now, if it cannot.
    fn refusal(&self, kind: DecisionKind, approval: &Approval) -> Option<String> {
        if self.read_only {
            return Some(format!(
                "This profile is read-only: nothing is {} from here.",
                match kind {
                    DecisionKind::Hold | DecisionKind::Resume => "put on hold or released",
                    _ => "approved or rejected",
                }
            ));
        }
        if let Some(t) = self.deliveries.get(&approval.sys_id) {
            let what = t.kind.map_or("A decision", |k| k.title());
            match &t.delivery {
                // A queued decision not sent yet is replaced by a new one (the outbox
                // supersedes it); one being sent right now has to land first.
                Delivery::Sending => {
                    return Some(format!(
                        "{what} on {} is being sent right now; decide again once it has landed.",
                        approval.change.number,
                    ));
                }
                Delivery::Applied { .. } if t.kind != Some(DecisionKind::Hold) => {
                    return Some(format!(
                        "{} was already {}; the next sync removes it from the queue.",
                        approval.change.number,
                        t.kind.map_or("decided", |k| k.past())
                    ));
                }
                _ => {}
            }
        }
        // The domain's sentence, with the key that releases a hold from the keymap.
        kind.applies_to(approval).err().map(|why| {
            why.replace(
                "release the hold",
                &format!("release the hold ({})", self.keymap.key(Cmd::Resume)),
            )
        })
    }

    /// A cheap summary of every time-dependent text on screen; the screen is redrawn on a
    /// tick only when it changes (countdowns move once a minute per row).
    fn fingerprint(&self, now: DateTime<Utc>) -> u64 {
        let mut h = DefaultHasher::new();
        let rows = self.list_rows();
        let q = &self.queue;
        let first = q.scroll.saturating_sub(q.sections.len());
        let last = (q.scroll + rows).min(q.len());
        for item in (first..last).filter_map(|i| q.item(i)) {
            format::window(item.approval.change.start_date, now).hash(&mut h);
            if item.approval.change.on_hold {
                continue;
            }
            format::countdown(item.sla.remaining(now)).hash(&mut h);
            item.sla.status(now).hash(&mut h);
        }
        if let Some(item) = self.selected_item() {
            item.sla.escalation_level(now).hash(&mut h);
        }
        q.status_counts(now).hash(&mut h);
        if let Some(at) = self.last_sync {
            (now - at).num_minutes().hash(&mut h);
        }
        // The retry countdown moves every second while offline.
        if let Net::Offline { retry_at, .. } = &self.net {
            (*retry_at - now).num_seconds().hash(&mut h);
        }
        // Delegations turn active and expire while the screen shows them.
        for d in &self.delegations.list {
            (d.status(now) as u8).hash(&mut h);
        }
        // A meeting's item timer counts seconds.
        if matches!(self.mode, Mode::Agenda | Mode::Session)
            && let Some(d) = self.meeting()
            && let Some(item) = d.current()
        {
            d.timer(item, now).spent.hash(&mut h);
        }
        h.finish()
    }

    fn resize(&mut self, w: u16, h: u16) {
        self.size = Rect::new(0, 0, w, h);
        self.queue.rows = layout::list_rows(self.size);
        self.queue.ensure_visible();
        self.clamp_detail();
        self.clamp_help();
        self.dirty = true;
    }

    // The detail.

    /// The detail's size on screen: inner width and rows.
    fn detail_area(&self) -> (u16, usize) {
        let areas = layout::areas(self.size);
        let r = areas.detail.unwrap_or(areas.body);
        (
            r.width.saturating_sub(2),
            r.height.saturating_sub(2) as usize,
        )
    }

    /// How far the detail can scroll: its height less the rows shown.
    pub fn detail_max_scroll(&self) -> usize {
        // Before the first tick the countdown texts are a guess; the line count barely moves.
        let now = self
            .now
            .or(self.last_sync)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let (w, rows) = self.detail_area();
        let h = detail::height(&detail::content(self, now), w);
        h.saturating_sub(rows)
    }

    fn clamp_detail(&mut self) {
        self.detail_scroll = self.detail_scroll.min(self.detail_max_scroll());
    }

    fn scroll_detail(&mut self, cmd: Cmd) {
        let (_, rows) = self.detail_area();
        let page = rows.saturating_sub(1).max(1);
        let max = self.detail_max_scroll();
        self.detail_scroll = scrolled(self.detail_scroll, cmd, page, max);
    }

    // The help.

    fn help_rows(&self) -> usize {
        let Some(h) = &self.help else {
            return 0;
        };
        let (w, _) = help::size(self.size.width, self.size.height);
        help::rows(&help::lines(h, &self.keymap), w)
            .iter()
            .map(Vec::len)
            .sum()
    }

    fn clamp_help(&mut self) {
        let total = self.help_rows();
        let (_, rows) = help::size(self.size.width, self.size.height);
        if let Some(h) = &mut self.help {
            h.scroll = h.scroll.min(total.saturating_sub(rows));
        }
    }

    fn scroll_help(&mut self, cmd: Cmd) {
        let total = self.help_rows();
        let (_, rows) = help::size(self.size.width, self.size.height);
        let max = total.saturating_sub(rows);
        let page = rows.saturating_sub(1).max(1);
        if let Some(h) = &mut self.help {
            h.scroll = scrolled(h.scroll, cmd, page, max);
        }
    }

    fn scroll_messages(&mut self, cmd: Cmd) {
        let n = self.messages.log.len();
        if let Some(at) = &mut self.messages.open {
            *at = scrolled(*at, cmd, 10, n.saturating_sub(1));
        }
    }

    // Keys and commands.

    /// A click selects a row (on the selected row: opens it), a tier's header goes to its
    /// first row, a column heading sorts by it; the wheel moves three rows. Only the queue
    /// list takes the mouse, and only while no dialog or line is open.
    fn mouse_event(&mut self, m: crossterm::event::MouseEvent) -> Vec<Effect> {
        use crossterm::event::{MouseButton, MouseEventKind};
        let ctx = self.context();
        let areas = layout::areas(self.size);
        // The list is on screen: the queue, or a detail pane beside or below it.
        let list_shown =
            self.mode == Mode::Queue || self.mode == Mode::Detail && areas.detail.is_some();
        if !matches!(ctx, Context::Queue | Context::Detail) || !list_shown {
            return vec![];
        }
        let list = areas.list;
        let inside = m.column >= list.x
            && m.column < list.x + list.width
            && m.row > list.y
            && m.row + 1 < list.y + list.height;
        if !inside {
            return vec![];
        }
        self.dirty = true;
        match m.kind {
            MouseEventKind::ScrollDown => {
                let to = self.queue.selected + 3;
                self.queue.select(to);
            }
            MouseEventKind::ScrollUp => {
                let to = self.queue.selected.saturating_sub(3);
                self.queue.select(to);
            }
            MouseEventKind::Down(MouseButton::Left) if m.row == list.y + 1 => {
                // The column headings: NUMBER, SLA, WINDOW sort by themselves.
                let x = (m.column - list.x) as usize;
                let sort = views_columns_sort(x, list.width as usize);
                if let Some(sort) = sort {
                    self.queue.view = None;
                    self.sort(Some(sort.name()));
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let line = (m.row - list.y - 2) as usize + self.queue.scroll;
                match self.queue.at_line(line) {
                    Some(ListLine::Row(i)) if i == self.queue.selected && ctx == Context::Queue => {
                        return self.run(Cmd::Open, ctx, None);
                    }
                    Some(ListLine::Row(i)) => {
                        self.queue.select(i);
                    }
                    Some(ListLine::Header(n)) => self.fold_section(n),
                    None => {}
                }
            }
            _ => {}
        }
        vec![]
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return vec![];
        }
        self.dirty = true;
        let ctx = self.context();
        // Typing the help's filter.
        if ctx == Context::Help && self.help.as_ref().is_some_and(|h| h.filtering) {
            self.help_filter_key(key);
            return vec![];
        }
        match self.keymap.lookup(ctx, &key) {
            Some(cmd) => self.run(cmd, ctx, None),
            None => self.typed(ctx, key),
        }
    }

    /// A key no command claims: typed into whatever takes text.
    fn typed(&mut self, ctx: Context, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match ctx {
            Context::Editor => {
                if let Some(m) = self.decide.as_mut()
                    && m.focused().input(key)
                {
                    m.validate(&self.policy);
                }
                vec![]
            }
            Context::Form => {
                let effect = match (self.delegations.form.as_mut(), key.code) {
                    (Some(f), KeyCode::Char(c)) if !ctrl && !c.is_control() => {
                        f.type_text(&c.to_string())
                    }
                    (Some(f), KeyCode::Backspace) => f.backspace(),
                    _ => return vec![],
                };
                self.revalidate_form();
                effect.into_iter().collect()
            }
            Context::Note => {
                if let Some(note) = self.cab.open.as_mut().and_then(|v| v.note.as_mut()) {
                    match key.code {
                        KeyCode::Char(ch) if !ctrl && !ch.is_control() => note.push(ch),
                        KeyCode::Backspace => {
                            note.pop();
                        }
                        _ => {}
                    }
                }
                vec![]
            }
            Context::Search => {
                if let Some(line) = self.search_line.as_mut() {
                    match key.code {
                        KeyCode::Char(ch) if !ctrl && !ch.is_control() => line.input.push(ch),
                        // Backspace on an empty line goes back, as Esc does.
                        KeyCode::Backspace if line.input.pop().is_none() => {
                            return self.search_cmd(Cmd::Cancel);
                        }
                        KeyCode::Backspace => {}
                        _ => return vec![],
                    }
                    self.search_typed();
                }
                vec![]
            }
            Context::CommandLine => {
                if let Some(c) = self.cmdline.as_mut() {
                    match key.code {
                        KeyCode::Char(ch) if !ctrl && !ch.is_control() => c.input.push(ch),
                        // Backspace on an empty line closes it.
                        KeyCode::Backspace if c.input.pop().is_none() => self.cmdline = None,
                        _ => {}
                    }
                }
                vec![]
            }
            _ => vec![],
        }
    }

    fn help_filter_key(&mut self, key: KeyEvent) {
        let Some(h) = self.help.as_mut() else {
            return;
        };
        match key.code {
            KeyCode::Enter => h.filtering = false,
            KeyCode::Esc => {
                h.filtering = false;
                h.filter.clear();
            }
            KeyCode::Backspace => {
                h.filter.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => h.filter.push(c),
            _ => {}
        }
        h.scroll = 0;
    }

    /// Runs a command in a context (`arg`: what followed it on the `:` line).
    pub fn run(&mut self, cmd: Cmd, ctx: Context, arg: Option<&str>) -> Vec<Effect> {
        self.dirty = true;
        match ctx {
            Context::CommandLine => return self.cmdline_cmd(cmd),
            Context::Search => return self.search_cmd(cmd),
            Context::Editor | Context::Confirm if self.decide.is_some() => {
                return self.decide_cmd(cmd);
            }
            Context::Confirm => return self.confirm_cmd(cmd),
            Context::Form => return self.form_cmd(cmd),
            Context::Note => return self.note_cmd(cmd),
            Context::Help => {
                match cmd {
                    Cmd::Help | Cmd::Back => self.help = None,
                    Cmd::HelpFilter => {
                        if let Some(h) = self.help.as_mut() {
                            h.filtering = true;
                        }
                    }
                    Cmd::Quit => return self.quit(),
                    c => self.scroll_help(c),
                }
                return vec![];
            }
            Context::History => {
                let n = match self.decided.as_ref().and_then(|h| h.rows.as_ref()) {
                    Some(Ok(rows)) => rows.len(),
                    _ => 0,
                };
                let page = self.size.height.saturating_sub(6).max(1) as usize;
                let Some(h) = self.decided.as_mut() else {
                    return vec![];
                };
                let last = n.saturating_sub(1);
                match cmd {
                    Cmd::History | Cmd::Back => self.decided = None,
                    Cmd::Down => h.selected = (h.selected + 1).min(last),
                    Cmd::Up => h.selected = h.selected.saturating_sub(1),
                    Cmd::PageDown => h.selected = (h.selected + page).min(last),
                    Cmd::PageUp => h.selected = h.selected.saturating_sub(page),
                    Cmd::Top => h.selected = 0,
                    Cmd::Bottom => h.selected = last,
                    Cmd::Open => {
                        let id = match &h.rows {
                            Some(Ok(rows)) => {
                                rows.get(h.selected).map(|r| r.approval_sys_id.clone())
                            }
                            _ => None,
                        };
                        match id.and_then(|id| self.queue.position(&id)) {
                            Some(i) => {
                                self.decided = None;
                                self.mode = Mode::Queue;
                                self.queue.select(i);
                            }
                            None => self.flash(
                                "That approval is no longer in the queue shown (decided, or filtered out).",
                                false,
                            ),
                        }
                    }
                    Cmd::Quit => return self.quit(),
                    Cmd::Help => self.help = Some(HelpState::new(ctx)),
                    _ => {}
                }
                return vec![];
            }
            Context::Insights => {
                match cmd {
                    Cmd::Insights | Cmd::Back => self.insights = None,
                    Cmd::Period => {
                        if let Some(v) = self.insights.as_mut() {
                            let p = crate::domain::insights::PERIODS;
                            let i = p.iter().position(|d| *d == v.days).unwrap_or(0);
                            v.days = p[(i + 1) % p.len()];
                            v.figures = None;
                            return vec![Effect::Insights { days: v.days }];
                        }
                    }
                    Cmd::Quit => return self.quit(),
                    Cmd::Help => self.help = Some(HelpState::new(ctx)),
                    _ => {}
                }
                return vec![];
            }
            Context::Messages => {
                match cmd {
                    Cmd::Back => self.messages.open = None,
                    Cmd::Quit => return self.quit(),
                    c => self.scroll_messages(c),
                }
                return vec![];
            }
            _ => {}
        }
        // Commands of the screens.
        match cmd {
            Cmd::Quit => return self.quit(),
            Cmd::Help => self.help = Some(HelpState::new(ctx)),
            Cmd::CommandLine => {
                self.cmdline = Some(CmdLine {
                    screen: Some(self.screen()),
                    ..CmdLine::default()
                })
            }
            Cmd::Search => match arg.filter(|a| !a.trim().is_empty()) {
                Some(text) => {
                    self.queue.set_search(Some(text));
                    let from = self.queue.selected;
                    let found = self.queue.step_hit(from, true, true);
                    self.say_hits(found);
                }
                None => {
                    self.search_line = Some(SearchLine {
                        input: String::new(),
                        origin: self.queue.selected,
                        before: self.queue.search.clone(),
                    })
                }
            },
            Cmd::SearchNext | Cmd::SearchPrev => {
                let from = self.queue.selected;
                let found = self.queue.step_hit(from, cmd == Cmd::SearchNext, false);
                self.say_hits(found);
            }
            Cmd::Sort => {
                self.queue.view = None;
                self.sort(arg)
            }
            Cmd::View => self.view(arg),
            Cmd::History => {
                self.decided = Some(HistoryView {
                    rows: None,
                    selected: 0,
                    decisions: Vec::new(),
                    server: Default::default(),
                    server_asked: None,
                });
                return vec![Effect::History];
            }
            Cmd::Insights => {
                self.insights = Some(InsightsView {
                    days: 30,
                    figures: None,
                });
                return vec![Effect::Insights { days: 30 }];
            }
            Cmd::Copy => return self.copy_number(),
            Cmd::Browse => return self.browse(),
            Cmd::Messages => {
                if self.messages.log.is_empty() {
                    self.flash("No messages yet.", false);
                } else {
                    self.messages.open = Some(self.messages.log.len().saturating_sub(1));
                }
            }
            Cmd::Cab => return self.open_meetings(),
            Cmd::Refresh if self.mode == Mode::Meetings => {
                self.cab.loading = true;
                return vec![Effect::CabMeetings];
            }
            Cmd::Refresh if matches!(self.mode, Mode::Agenda | Mode::Session) => {
                let now = self.now;
                let Some(v) = self.cab.open.as_mut() else {
                    return vec![];
                };
                v.asked_at = now;
                let sys_id = v.sys_id.clone();
                self.flash("Reading the meeting again…", false);
                return vec![Effect::CabMeeting { sys_id }];
            }
            Cmd::Refresh if self.net == Net::OfflineMode => {
                self.flash(
                    "Started with --offline: nothing is synced. Restart without it to sync.",
                    true,
                );
            }
            Cmd::Refresh => {
                self.refreshing = true;
                self.flash("Refreshing from the instance…", false);
                return vec![Effect::Refresh];
            }
            Cmd::Delegations if self.mode == Mode::Delegations => self.mode = Mode::Queue,
            Cmd::Delegations => {
                self.mode = Mode::Delegations;
                let me = self.me().map(str::to_string);
                self.delegations.clamp(me.as_deref());
            }
            _ if self.mode == Mode::Delegations => return self.delegations_cmd(cmd),
            _ if matches!(self.mode, Mode::Meetings | Mode::Agenda | Mode::Session) => {
                return self.cab_cmd(cmd);
            }
            Cmd::Approve => return self.open_decide(DecisionKind::Approve),
            Cmd::Reject => return self.open_decide(DecisionKind::Reject),
            Cmd::Hold => return self.open_decide(DecisionKind::Hold),
            Cmd::Resume => return self.open_decide(DecisionKind::Resume),
            Cmd::Redecide => return self.redecide(),
            Cmd::Discard => return self.discard(),
            Cmd::Filter => {
                self.queue.view = None;
                self.filter(arg)
            }
            Cmd::Back if self.mode == Mode::Detail => self.mode = Mode::Queue,
            Cmd::Back => self.queue.selection.clear(),
            c if self.mode == Mode::Detail => self.scroll_detail(c),
            Cmd::Open if self.has_rows() => {
                self.mode = Mode::Detail;
                self.clamp_detail();
            }
            Cmd::Select => self.queue.toggle_selected(),
            Cmd::Fold => self.fold(arg),
            c => {
                let q = &mut self.queue;
                let page = q.rows.saturating_sub(1).max(1);
                let moved = match c {
                    Cmd::Down => q.select(q.selected + 1),
                    Cmd::Up => q.select(q.selected.saturating_sub(1)),
                    Cmd::PageDown => q.select(q.selected + page),
                    Cmd::PageUp => q.select(q.selected.saturating_sub(page)),
                    Cmd::Top => q.select(0),
                    Cmd::Bottom => q.select(q.len().saturating_sub(1)),
                    Cmd::NextTier => q.next_tier(),
                    Cmd::PrevTier => q.prev_tier(),
                    _ => false,
                };
                if moved {
                    self.detail_scroll = 0;
                }
            }
        }
        vec![]
    }

    /// `q`: quits, asking first while decisions have not reached the instance.
    fn quit(&mut self) -> Vec<Effect> {
        let waiting = self
            .deliveries
            .values()
            .filter(|t| t.delivery.is_pending())
            .count()
            .max(self.outbox_pending);
        if waiting == 0 {
            return vec![Effect::Quit];
        }
        let one = waiting == 1;
        let (they, are) = if one { ("it", "is") } else { ("they", "are") };
        let when = match (&self.net, self.now) {
            (Net::Offline { retry_at, .. }, Some(now)) if *retry_at > now => format!(
                "signoff would retry in {}",
                format::span_short(*retry_at - now)
            ),
            (Net::Online | Net::Connecting, _) => format!("{they} {are} being delivered now"),
            _ => format!("{they} cannot be sent now"),
        };
        let what = if one {
            "1 decision has".to_string()
        } else {
            format!("{waiting} decisions have")
        };
        let safe = if one { "It is" } else { "They are" };
        self.confirm = Some(Confirm {
            question: format!(
                "{what} not reached the instance yet ({when}). {safe} safe in the outbox and go{} out the next time signoff runs online, or with `signoff sync`. Quit now?",
                if one { "es" } else { "" }
            ),
            then: ConfirmThen::Quit,
        });
        vec![]
    }

    /// Asks, over the first screen, whether to put a changed policy file in force: the diff,
    /// and yes or no. Until then the confirmed policy stays in force.
    pub fn ask_policy(&mut self, review: crate::domain::governance::PolicyReview, by: String) {
        self.confirm = Some(Confirm {
            question: format!(
                "The policy in the config file changed. {}",
                review.question()
            ),
            then: ConfirmThen::Policy,
        });
        let lines = crate::domain::governance::changed_lines(&review.diff, 1);
        self.policy_review = Some(PolicyPrompt { review, by, lines });
        self.dirty = true;
    }

    fn confirm_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Yes => match self.confirm.take().map(|c| c.then) {
                Some(ConfirmThen::Quit) => vec![Effect::Quit],
                Some(ConfirmThen::EndDelegation { sys_id }) => {
                    vec![Effect::EndDelegation { sys_id }]
                }
                Some(ConfirmThen::Move(mv)) => self.make_move(mv),
                Some(ConfirmThen::Policy) => match &self.policy_review {
                    Some(p) => vec![Effect::ConfirmPolicy {
                        policy: Box::new(p.review.proposed.clone()),
                        by: p.by.clone(),
                    }],
                    None => vec![],
                },
                None => vec![],
            },
            Cmd::No => {
                if let Some(c) = self.confirm.take()
                    && c.then == ConfirmThen::Policy
                    && let Some(p) = self.policy_review.take()
                {
                    self.flash(p.review.sentence(), false);
                }
                vec![]
            }
            Cmd::Interrupt => vec![Effect::Quit],
            _ => vec![],
        }
    }

    /// `f`, or `:filter EXPR` ([`find::FILTER_SYNTAX`]): whose approvals (all, mine, a
    /// person) and conditions; conditions given replace those in force, `clear` drops all.
    fn filter(&mut self, arg: Option<&str>) {
        let me = self.me().map(str::to_string);
        let me = me.as_deref();
        let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
            self.queue.next_filter(me);
            return;
        };
        let (query, whose) = match find::QueueQuery::parse(arg) {
            Ok(parsed) => parsed,
            Err(e) => return self.flash(e, true),
        };
        if let Some(whose) = whose {
            let found = self
                .queue
                .filters(me)
                .into_iter()
                .find(|f| match (f, &whose) {
                    (QueueFilter::All, find::Whose::All) => true,
                    (QueueFilter::Mine, find::Whose::Mine) => true,
                    (QueueFilter::For(u), find::Whose::Person(name)) => {
                        u.label().to_lowercase().contains(name.as_str())
                    }
                    _ => false,
                });
            match found {
                Some(f) => self.queue.filter = f,
                None => {
                    let name = match &whose {
                        find::Whose::Person(n) => crate::domain::text::clean_line(n, 40),
                        _ => String::new(),
                    };
                    return self.flash(
                        format!(
                            "Nobody called “{name}” delegated to you: use all, mine, a delegator's name, or the terms {}.",
                            find::FILTER_SYNTAX
                        ),
                        true,
                    );
                }
            }
        }
        let clear = arg
            .split_whitespace()
            .any(|t| matches!(t.to_lowercase().as_str(), "clear" | "none"));
        if clear || !query.is_empty() {
            self.queue.set_query(query, me);
        } else {
            let f = self.queue.filter.clone();
            self.queue.set_filter(f, me);
        }
        let shown: Vec<String> = self
            .queue
            .filter
            .label()
            .into_iter()
            .chain(Some(self.queue.query.describe()).filter(|d| !d.is_empty()))
            .collect();
        let text = if shown.is_empty() {
            format!("Showing the whole queue ({}).", self.queue.total())
        } else {
            format!(
                "Showing {} of the queue: {}.",
                self.queue.len(),
                shown.join(" · ")
            )
        };
        self.flash(text, false);
    }

    /// Compares the queue with the last look and raises a toast (and the bell, a desktop
    /// notification) for what is new.
    fn look(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let seen = self.queue.seen(now.timestamp_millis());
        let news = self.watch.look(seen, now.timestamp_millis());
        if news.is_empty() {
            return vec![];
        }
        let name = |q: &QueueState, id: &str| {
            q.find(id).map_or_else(
                || id.to_string(),
                |e| {
                    let c = &e.approval.change;
                    format!("{} {}", c.number, c.short_description)
                },
            )
        };
        let mut lines = Vec::new();
        let mut parts = Vec::new();
        for (hashes, what, tag) in [
            (&news.urgent, "new Emergency or Critical", "new"),
            (&news.breached, "breached", "breached"),
            (&news.warning, "in warning", "warning"),
        ] {
            let ids = self.queue.ids_of(hashes);
            if ids.is_empty() {
                continue;
            }
            parts.push(format!("{} {what}", ids.len()));
            for id in ids.iter().take(3) {
                lines.push(format!("{tag} {}", name(&self.queue, id)));
            }
            if ids.len() > 3 {
                lines.push(format!("… and {} more {what}", ids.len() - 3));
            }
        }
        let title = parts.join(" · ");
        let mut effects = Vec::new();
        if self.watch.config.bell {
            effects.push(Effect::Bell);
        }
        if self.watch.config.desktop {
            effects.push(Effect::Desktop {
                title: format!("signoff: {title}"),
                body: lines.join("\n"),
            });
        }
        self.messages
            .push(format!("Notice: {title}"), false, self.now);
        self.watch.toast = Some(notify::Toast {
            title,
            lines,
            until: now + notify::TOAST_FOR,
        });
        self.dirty = true;
        effects
    }

    /// `v` (the next saved view, then none) or `:view NAME` (`:view none`: the whole queue).
    fn view(&mut self, arg: Option<&str>) {
        if self.views.is_empty() {
            return self.flash(
                "No saved views: add [[views]] tables (name, filter, sort) to config.toml.",
                true,
            );
        }
        let current = self
            .queue
            .view
            .as_ref()
            .and_then(|n| self.views.iter().position(|v| &v.name == n));
        let next = match arg.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) if a.eq_ignore_ascii_case("none") || a.eq_ignore_ascii_case("all") => None,
            Some(a) => {
                let wanted = a.to_lowercase();
                match self
                    .views
                    .iter()
                    .position(|v| v.name.to_lowercase().starts_with(&wanted))
                {
                    Some(i) => Some(i),
                    None => {
                        let names: Vec<&str> = self.views.iter().map(|v| v.name.as_str()).collect();
                        let a = crate::domain::text::clean_line(a, 40);
                        return self.flash(
                            format!(
                                "No view “{a}”: the views are {} (or none).",
                                names.join(", ")
                            ),
                            true,
                        );
                    }
                }
            }
            None => match current {
                None => Some(0),
                Some(i) if i + 1 < self.views.len() => Some(i + 1),
                Some(_) => None,
            },
        };
        let me = self.me().map(str::to_string);
        let (filter, sort) = match next {
            Some(i) => {
                let v = &self.views[i];
                let sort = v
                    .sort
                    .as_deref()
                    .map_or(Ok(find::Sort::Deadline), find::Sort::parse);
                (format!("clear {}", v.filter), sort.unwrap_or_default())
            }
            None => ("clear".to_string(), find::Sort::Deadline),
        };
        self.filter(Some(&filter));
        self.queue.set_sort(sort, me.as_deref());
        self.queue.view = next.map(|i| self.views[i].name.clone());
        let text = match &self.queue.view {
            Some(name) => format!(
                "View “{}”: {} of {} approvals.",
                crate::domain::text::clean_line(name, 40),
                self.queue.len(),
                self.queue.index_len()
            ),
            None => format!("No view: the whole queue ({}).", self.queue.total()),
        };
        self.flash(text, false);
    }

    /// `s` (the next order) or `:sort NAME`.
    /// `z` / `:fold`: folds the cursor's tier, or the one named (`held` for the changes on
    /// hold); `all` folds every tier, `none` unfolds them.
    fn fold(&mut self, arg: Option<&str>) {
        let arg = arg
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty());
        let me = self.me().map(str::to_string);
        let q = &mut self.queue;
        let n = match arg.as_deref() {
            None => q.current_section(),
            Some(all @ ("all" | "none")) => {
                q.folded = if all == "all" {
                    q.sections.iter().map(|s| s.tier).collect()
                } else {
                    HashSet::new()
                };
                let (keep, row) = (q.selected_item().map(|e| e.approval.sys_id.clone()), 0);
                q.refilter(keep, row, me.as_deref());
                let said = if all == "all" {
                    "Every tier folded: a click on a header or :fold TIER opens one, :fold none all."
                } else {
                    "Every tier unfolded."
                };
                return self.flash(said, false);
            }
            Some(name) => {
                let found = q.sections.iter().position(|s| match s.tier {
                    Some(t) => t.label().to_lowercase().starts_with(name),
                    None => "held".starts_with(name) || "on hold".starts_with(name),
                });
                match found {
                    Some(n) => Some(n),
                    None => {
                        return self.flash(
                            format!(
                                "No tier “{}” in the list: name one shown (emergency, critical, high, moderate, low, held), or all / none.",
                                crate::domain::text::sanitize_line(name)
                            ),
                            true,
                        );
                    }
                }
            }
        };
        if let Some(n) = n {
            self.fold_section(n);
        }
    }

    /// Folds or unfolds section `n` of the list and says so.
    fn fold_section(&mut self, n: usize) {
        let me = self.me().map(str::to_string);
        let Some(section) = self.queue.sections.get(n).copied() else {
            return;
        };
        let name = section.tier.map_or("On hold", |t| t.label());
        let count = self.queue.section_len(&section);
        let Some(folded) = self.queue.toggle_fold(n, me.as_deref()) else {
            return;
        };
        self.detail_scroll = 0;
        let key = self.keymap.key(Cmd::Fold);
        self.flash(
            if folded {
                format!("{name} folded ({count} hidden); {key} or a click on its header opens it.")
            } else {
                format!("{name} unfolded ({count}).")
            },
            false,
        );
    }

    fn sort(&mut self, arg: Option<&str>) {
        let me = self.me().map(str::to_string);
        let sort = match arg.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => match find::Sort::parse(a) {
                Ok(s) => s,
                Err(e) => return self.flash(e, true),
            },
            None => {
                let all = find::Sort::ALL;
                let i = all.iter().position(|s| *s == self.queue.sort).unwrap_or(0);
                all[(i + 1) % all.len()]
            }
        };
        self.queue.set_sort(sort, me.as_deref());
        self.flash(
            format!(
                "Each tier sorted by {}{}.",
                match sort {
                    find::Sort::Deadline => "SLA deadline, soonest first",
                    find::Sort::Window => "window start, soonest first",
                    find::Sort::Risk => "risk, highest first",
                    find::Sort::Age => "age, longest waiting first",
                    find::Sort::Number => "change number",
                },
                if sort == find::Sort::Deadline {
                    " (the queue's own order)"
                } else {
                    ""
                }
            ),
            false,
        );
    }

    /// What a search step found, said in the status bar.
    fn say_hits(&mut self, found: Option<bool>) {
        let Some(search) = &self.queue.search else {
            let key = self.keymap.key(Cmd::Search);
            return self.flash(format!("No search yet: press {key} to search."), false);
        };
        if let Some(e) = &search.error {
            let e = format!("Could not search the cached queue: {e}");
            return self.flash(e, true);
        }
        let text = crate::domain::text::clean_line(&search.text, 40);
        let (n, at) = self.queue.hit_count();
        match found {
            None if self.queue.unfiltered() => self.flash(format!("Nothing holds “{text}”."), true),
            None => self.flash(
                format!(
                    "No row shown holds “{text}” (a filter is in force: :filter clear shows all)."
                ),
                true,
            ),
            Some(wrapped) => {
                let place = at.map_or(String::new(), |a| format!("{a} of "));
                let wrap = if wrapped { ", from the other end" } else { "" };
                self.flash(format!("“{text}”: {place}{n}{wrap}."), false);
            }
        }
    }

    /// `/`'s line changed: searches again from where the cursor was when it opened.
    fn search_typed(&mut self) {
        let Some(line) = &self.search_line else {
            return;
        };
        let (input, origin) = (line.input.clone(), line.origin);
        self.queue.set_search(Some(&input));
        if self.queue.step_hit(origin, true, true).is_none() {
            self.queue.select(origin);
        }
    }

    fn search_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(line) = self.search_line.take() else {
            return vec![];
        };
        match cmd {
            // Back to where the cursor was and the search before.
            Cmd::Cancel => {
                self.queue.search = line.before;
                self.queue.select(line.origin);
            }
            Cmd::Interrupt => return vec![Effect::Quit],
            Cmd::Run if line.input.trim().is_empty() => self.queue.search = None,
            Cmd::Run => {
                let found = self.queue.is_hit(self.queue.selected).then_some(false);
                self.say_hits(found);
            }
            _ => self.search_line = Some(line),
        }
        vec![]
    }

    /// `y`: the selected change's number to the clipboard.
    fn copy_number(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let number = item.approval.change.number.clone();
        self.flash(format!("Copied {number} to the clipboard (OSC 52)."), false);
        vec![Effect::Copy { text: number }]
    }

    /// `o`: the change's form on the instance, in the browser.
    fn browse(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let c = &item.approval.change;
        let url = format!(
            "{}/change_request.do?sys_id={}",
            self.instance.trim_end_matches('/'),
            c.sys_id
        );
        self.flash(format!("Opening {} in the browser: {url}", c.number), false);
        vec![Effect::Browse { url }]
    }

    // The `:` line.

    fn cmdline_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let history = self.history.clone();
        let Some(line) = self.cmdline.as_mut() else {
            return vec![];
        };
        match cmd {
            Cmd::Cancel => self.cmdline = None,
            Cmd::Interrupt => return vec![Effect::Quit],
            Cmd::Complete => line.complete(),
            Cmd::HistoryBack => line.back(&history),
            Cmd::HistoryForward => line.forward(&history),
            Cmd::Run => {
                let text = line.input.trim().to_string();
                self.cmdline = None;
                if text.is_empty() {
                    return vec![];
                }
                cmdline::remember(&mut self.history, &text);
                let (name, arg) = match text.split_once(char::is_whitespace) {
                    Some((n, a)) => (n, Some(a.trim())),
                    None => (text.as_str(), None),
                };
                let name = name.trim_start_matches(':');
                let ctx = self.screen();
                return match commands::by_colon_name(name) {
                    Some(c) if c.contexts.contains(&ctx) => self.run(c.cmd, ctx, arg),
                    Some(c) => {
                        self.flash(format!(":{} does nothing {}.", c.name, ctx.place()), true);
                        vec![]
                    }
                    None => {
                        self.flash(
                            format!(
                                "Unknown command “:{name}” ({} completes; :help lists them).",
                                self.keymap.key(Cmd::Complete)
                            ),
                            true,
                        );
                        vec![]
                    }
                };
            }
            _ => {}
        }
        vec![]
    }

    // Deciding.

    /// Opens the decision dialog for the chosen approvals, or says why it cannot.
    fn open_decide(&mut self, kind: DecisionKind) -> Vec<Effect> {
        // Decided on as read whole: the decision keeps the approval as the user saw it.
        let chosen: Vec<QueueItem> = self
            .queue
            .chosen()
            .iter()
            .map(|i| QueueItem::clone(&self.queue.whole(i)))
            .collect();
        self.open_decide_on(kind, &chosen)
    }

    /// Opens the decision dialog for these rows (those that can take the decision).
    fn open_decide_on(&mut self, kind: DecisionKind, chosen: &[QueueItem]) -> Vec<Effect> {
        if chosen.is_empty() {
            return vec![];
        }
        let total = chosen.len();
        let mut first_refusal = None;
        let mut targets = Vec::new();
        for item in chosen {
            match self.refusal(kind, &item.approval) {
                None => targets.push((item.approval.clone(), item.tier.tier)),
                Some(why) => {
                    first_refusal.get_or_insert(why);
                }
            }
        }
        if targets.is_empty() {
            let why = first_refusal.unwrap_or_default();
            let text = if total == 1 {
                why
            } else {
                format!("None of the {total} selected changes can take “{kind}”: {why}")
            };
            self.flash(text, true);
            return vec![];
        }
        let left_out = total - targets.len();
        let key = decide::draft_key(targets.iter().map(|(a, _)| a));
        // A re-decision starts from the text sent; otherwise from the draft kept on Esc.
        let text = self
            .drafts
            .take(&key)
            .or_else(|| {
                (targets.len() == 1)
                    .then(|| self.deliveries.get(&targets[0].0.sys_id))
                    .flatten()
                    .filter(|t| t.needs_attention())
                    .and_then(|t| t.justification.clone())
            })
            .unwrap_or_default();
        let now = self.now.unwrap_or_else(Utc::now);
        self.decide = Some(DecideModal::new(
            kind,
            targets,
            left_out,
            &text,
            &self.policy,
            now,
        ));
        vec![]
    }

    /// `e`: decide again on a conflict or failure, against a fresh copy: the approval and its
    /// change are read from the server first.
    fn redecide(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let id = item.approval.sys_id.clone();
        let number = item.approval.change.number.clone();
        let Some(t) = self.deliveries.get(&id).filter(|t| t.needs_attention()) else {
            self.flash(
                format!("{number} has no decision in conflict or failed to decide again."),
                true,
            );
            return vec![];
        };
        // Never stored (the store failed): nothing reached the server, the copy on screen is
        // what it was decided on.
        if t.client_id.is_none() {
            return match t.kind {
                Some(kind) => {
                    let keep = std::mem::take(&mut self.queue.selection);
                    let effects = self.open_decide(kind);
                    self.queue.selection = keep;
                    effects
                }
                None => vec![],
            };
        }
        if !matches!(self.net, Net::Online | Net::Connecting) {
            self.flash(
                format!(
                    "Deciding again needs a fresh copy of {number} from the instance, which cannot be reached now; the conflict stays until then."
                ),
                true,
            );
            return vec![];
        }
        self.fetching = Some(id.clone());
        self.flash(format!("Reading {number} again from the instance…"), false);
        vec![Effect::Fetch {
            approval_sys_id: id,
        }]
    }

    /// The fresh copy for `e` arrived: show what changed and decide against it.
    fn fetched(&mut self, approval_sys_id: String, result: Result<Option<Box<Approval>>, String>) {
        if self.fetching.as_deref() != Some(approval_sys_id.as_str()) {
            return;
        }
        self.fetching = None;
        let Some(t) = self.deliveries.get(&approval_sys_id).cloned() else {
            return;
        };
        let old = self
            .queue
            .find(&approval_sys_id)
            .map(|i| self.queue.whole(&i).approval.clone());
        let number = old
            .as_ref()
            .map_or(approval_sys_id.clone(), |a| a.change.number.clone());
        let me = self.me().map(str::to_string);
        match result {
            Err(e) => self.flash(format!("Could not read {number} again: {e}"), true),
            Ok(fresh) if fresh.as_ref().is_none_or(|a| !a.in_queue()) => {
                // Nothing left to decide: the conflict goes, and so does its row.
                let state = fresh
                    .as_ref()
                    .map_or("gone or no longer visible to you".into(), |a| {
                        format!("now {}", a.state.value())
                    });
                self.deliveries.remove(&approval_sys_id);
                let discard = t.client_id.clone();
                self.queue.forget(&approval_sys_id);
                self.queue.drop_if_gone(&approval_sys_id, me.as_deref());
                self.flash(
                    format!("{number} is {state} on the server: there is nothing left to decide. The conflict is cleared."),
                    false,
                );
                if let Some(client_id) = discard {
                    self.pending_effects.push(Effect::Discard { client_id });
                }
            }
            Ok(None) => {}
            Ok(Some(fresh)) => {
                // What changed since the copy the decision was made on.
                let changed = old.as_ref().and_then(|o| {
                    let fields = o.change.differences(&fresh.change);
                    let updated = o.change.changes_since(&fresh.change).is_some();
                    match (fields.is_empty(), updated) {
                        (false, _) => Some(format!(
                            "Changed on the server since you looked: {}.",
                            fields.join(", ")
                        )),
                        (true, true) => Some(
                            "It was updated on the server since you looked (no field you see changed)."
                                .to_string(),
                        ),
                        (true, false) => None,
                    }
                });
                self.queue.replace(&self.policy, *fresh, me.as_deref());
                // The user moved on to something else meanwhile: the dialog would land on top
                // of it. The copy is fresh now; `e` opens the dialog on it.
                if self.context() != self.screen() {
                    self.flash(
                        format!(
                            "Read {number} again from the instance; press {} on it to decide again.",
                            self.keymap.key(Cmd::Redecide)
                        ),
                        false,
                    );
                    return;
                }
                // Select the fresh row if it is shown (a filter may hide it); the dialog is
                // for it either way.
                if let Some(i) = self.queue.position(&approval_sys_id) {
                    self.queue.select(i);
                }
                let Some(item) = self
                    .queue
                    .find(&approval_sys_id)
                    .map(|i| QueueItem::clone(&i))
                else {
                    return;
                };
                let Some(kind) = t.kind else {
                    self.flash(
                        format!(
                            "Decide on {number} again with {}, {}, {} or {}.",
                            self.keymap.key(Cmd::Approve),
                            self.keymap.key(Cmd::Reject),
                            self.keymap.key(Cmd::Hold),
                            self.keymap.key(Cmd::Resume)
                        ),
                        false,
                    );
                    return;
                };
                // Only this change: the multi-selection is not part of a re-decision.
                let effects = self.open_decide_on(kind, &[item]);
                self.pending_effects.extend(effects);
                if let Some(m) = self.decide.as_mut() {
                    m.note = changed;
                }
            }
        }
    }

    /// `d`: drops the decision in conflict or failed on the selected row, or withdraws one
    /// that waits unsent.
    fn discard(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let id = item.approval.sys_id.clone();
        let number = item.approval.change.number.clone();
        let me = self.me().map(str::to_string);
        match self.deliveries.get(&id).cloned() {
            Some(t) if t.needs_attention() => {
                self.deliveries.remove(&id);
                let what = t.kind.map_or("decision", |k| k.verb());
                self.flash(format!("Discarded the {what} on {number}."), false);
                // The row was kept only for the conflict: it goes if the approval is gone.
                self.queue.drop_if_gone(&id, me.as_deref());
                match t.client_id {
                    Some(client_id) => vec![Effect::Discard { client_id }],
                    None => vec![],
                }
            }
            Some(t) if t.delivery == Delivery::Queued => {
                match t.client_id {
                    Some(client_id) => vec![Effect::Withdraw {
                        client_id,
                        approval_sys_id: id,
                    }],
                    None => {
                        self.flash(
                        format!("The decision on {number} is still being stored; try again in a moment."),
                        true,
                    );
                        vec![]
                    }
                }
            }
            Some(t) if t.delivery == Delivery::Sending => {
                self.flash(
                    format!(
                        "The decision on {number} is being sent right now; it cannot be withdrawn."
                    ),
                    true,
                );
                vec![]
            }
            _ => {
                self.flash(
                    format!("{number} has no decision to discard or withdraw."),
                    true,
                );
                vec![]
            }
        }
    }

    /// A command while the decision dialog (or its confirmation) is open.
    fn decide_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(modal) = self.decide.as_mut() else {
            return vec![];
        };
        if modal.confirming {
            return match cmd {
                Cmd::Interrupt => vec![Effect::Quit],
                Cmd::Yes => self.send(),
                Cmd::No => {
                    modal.confirming = false;
                    vec![]
                }
                _ => vec![],
            };
        }
        match cmd {
            Cmd::Interrupt => vec![Effect::Quit],
            Cmd::Cancel => {
                // The text is kept for this change: reopening restores it.
                let key = modal.draft_key();
                let text = modal.text();
                self.drafts.keep(key, text);
                self.decide = None;
                vec![]
            }
            Cmd::NextField | Cmd::PrevField => {
                modal.switch_field();
                vec![]
            }
            Cmd::Send => {
                if !modal.ready() {
                    // The dialog already says why; nothing is sent.
                    return vec![];
                }
                if modal.risky().is_empty() {
                    self.send()
                } else {
                    modal.confirming = true;
                    vec![]
                }
            }
            _ => vec![],
        }
    }

    /// Emits the decision, marks its rows queued and closes the dialog.
    fn send(&mut self) -> Vec<Effect> {
        let Some(modal) = self.decide.take() else {
            return vec![];
        };
        if !modal.ready() {
            return vec![];
        }
        let accepted = modal.accepted();
        let Ok(justification) = modal.verdict else {
            return vec![];
        };
        self.drafts
            .take(&decide::draft_key(modal.targets.iter().map(|(a, _)| a)));
        let approvals: Vec<Approval> = modal.targets.into_iter().map(|(a, _)| a).collect();
        let replaces = approvals.iter().any(|a| {
            self.deliveries
                .get(&a.sys_id)
                .is_some_and(|t| t.delivery == Delivery::Queued)
        });
        // A re-decision replaces the decision in conflict or failed: storing the new one
        // marks the old one superseded (in the journal too), so nothing is discarded here.
        for a in &approvals {
            self.deliveries.insert(
                a.sys_id.clone(),
                Tracked {
                    client_id: None,
                    kind: Some(modal.kind),
                    delivery: Delivery::Queued,
                    justification: Some(justification.as_str().to_string()),
                },
            );
        }
        let what = match approvals.as_slice() {
            [one] => one.change.number.clone(),
            many => format!("{} changes", many.len()),
        };
        let replaced = if replaces {
            " (replaces the decision that was waiting)"
        } else {
            ""
        };
        self.flash(
            format!(
                "{} {what}: stored in the outbox, being sent{replaced}.",
                modal.kind.title()
            ),
            false,
        );
        self.queue.selection.clear();
        vec![Effect::Decide {
            kind: modal.kind,
            justification,
            approvals,
            accepted,
        }]
    }

    /// The change number of an approval in the queue (its id when it is not there).
    fn number_of(&self, approval_sys_id: &str) -> String {
        self.queue
            .find(approval_sys_id)
            .map_or(approval_sys_id.to_string(), |i| {
                i.approval.change.number.clone()
            })
    }

    /// A delivery report from the outbox or sync.
    fn track(&mut self, client_id: String, approval_sys_id: String, delivery: Delivery) {
        // A decision replaced by a newer one on the same approval: the newer one is the row's.
        if matches!(delivery, Delivery::Superseded { .. }) {
            if self
                .deliveries
                .get(&approval_sys_id)
                .is_some_and(|t| t.client_id.as_deref() == Some(client_id.as_str()))
            {
                self.deliveries.remove(&approval_sys_id);
            }
            return;
        }
        // A report on another decision than the row's (an older one, replaced since): the
        // row keeps the newer one. That the older one landed is news all the same.
        if let Some(t) = self.deliveries.get(&approval_sys_id)
            && let Some(known) = t.client_id.as_deref()
            && known != client_id
        {
            if matches!(delivery, Delivery::Applied { .. }) {
                let number = self.number_of(&approval_sys_id);
                self.flash(
                    format!("Your earlier decision on {number} had reached the server first; it is what the instance has."),
                    false,
                );
            }
            return;
        }
        let entry_id = approval_sys_id.clone();
        let entry = self
            .deliveries
            .entry(approval_sys_id)
            .or_insert_with(|| Tracked {
                client_id: None,
                kind: None,
                delivery: Delivery::Queued,
                justification: None,
            });
        entry.client_id = Some(client_id);
        let landed = matches!(delivery, Delivery::Applied { .. })
            && !matches!(entry.delivery, Delivery::Applied { .. });
        entry.delivery = delivery;
        // Said once it is done for good, with the ✓ it now deserves.
        if landed && let Some(kind) = entry.kind {
            let number = self.number_of(&entry_id);
            self.done(format!(
                "{} {number}: {} on the server.",
                kind.title(),
                kind.past()
            ));
        }
    }

    // Delegations.

    /// A command on the delegation screen (Quit, Help, Refresh and Delegations are handled
    /// before).
    fn delegations_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let me = self.me().map(str::to_string);
        let me = me.as_deref();
        match cmd {
            Cmd::Back => self.mode = Mode::Queue,
            Cmd::Down => {
                self.delegations.cursor += 1;
                self.delegations.clamp(me);
            }
            Cmd::Up => self.delegations.cursor = self.delegations.cursor.saturating_sub(1),
            Cmd::Top => self.delegations.cursor = 0,
            Cmd::Bottom => {
                self.delegations.cursor = usize::MAX;
                self.delegations.clamp(me);
            }
            Cmd::NewDelegation => self.open_form(None),
            Cmd::EditDelegation => match self.delegations.selected(me) {
                None => self.flash(
                    format!(
                        "No delegation to edit; {} gives a new one.",
                        self.keymap.key(Cmd::NewDelegation)
                    ),
                    true,
                ),
                Some((d, false)) => {
                    let who = d.user.label().to_string();
                    self.flash(
                        format!("{who} gave you this delegation; only {who} can change it."),
                        true,
                    );
                }
                Some((d, true)) => {
                    let id = d.sys_id.clone();
                    self.open_form(Some(id));
                }
            },
            Cmd::EndDelegation => self.ask_end(),
            _ => {}
        }
        vec![]
    }

    fn open_form(&mut self, editing: Option<String>) {
        let Some(now) = self.now else {
            return;
        };
        let existing = editing
            .as_ref()
            .and_then(|id| self.delegations.list.iter().find(|d| &d.sys_id == id));
        if editing.is_some() && existing.is_none() {
            return;
        }
        let mut form = DelegationForm::open(existing, now, self.tz);
        form.validate(self.user.as_ref(), &self.delegations.list, self.tz, now);
        self.delegations.form = Some(form);
    }

    /// Validates the open form again (after an edit, or when the delegations changed).
    fn revalidate_form(&mut self) {
        let now = self.now.unwrap_or(DateTime::<Utc>::MIN_UTC);
        if let Some(form) = self.delegations.form.as_mut() {
            form.validate(self.user.as_ref(), &self.delegations.list, self.tz, now);
        }
    }

    /// `x`: asks before ending the selected given delegation; says why not otherwise.
    fn ask_end(&mut self) {
        let now = self.now.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let me = self.me().map(str::to_string);
        let (text, error) = match self.delegations.selected(me.as_deref()) {
            None => ("No delegation to end.".to_string(), true),
            Some((d, false)) => {
                let who = d.user.label();
                (
                    format!("{who} gave you this delegation; only {who} can end it."),
                    true,
                )
            }
            Some((d, true)) if d.status(now) == DelegationStatus::Expired => (
                format!(
                    "Your delegation to {} is already over (expired {}); nothing to end.",
                    d.delegate.label(),
                    d.ends.map_or("—".into(), |t| format::day(t, self.tz))
                ),
                true,
            ),
            Some((d, true)) => {
                let question = match d.status(now) {
                    DelegationStatus::Upcoming => {
                        format!("Cancel your upcoming delegation to {}?", d.delegate.label())
                    }
                    _ => format!("End your delegation to {} now?", d.delegate.label()),
                };
                self.confirm = Some(Confirm {
                    question,
                    then: ConfirmThen::EndDelegation {
                        sys_id: d.sys_id.clone(),
                    },
                });
                return;
            }
        };
        self.flash(text, error);
    }

    /// A command while the delegation form is open.
    fn form_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(form) = self.delegations.form.as_mut() else {
            return vec![];
        };
        let mut effects = Vec::new();
        match cmd {
            Cmd::Interrupt => return vec![Effect::Quit],
            Cmd::Cancel => {
                self.delegations.form = None;
                return vec![];
            }
            Cmd::NextField => form.step(true),
            Cmd::PrevField => form.step(false),
            Cmd::NextMatch
                if form.field == FormField::Delegate
                    && form.match_selected + 1 < form.matches.len() =>
            {
                form.match_selected += 1;
            }
            Cmd::PrevMatch if form.field == FormField::Delegate => {
                form.match_selected = form.match_selected.saturating_sub(1);
            }
            Cmd::Choose => form.choose(),
            Cmd::Toggle if form.field == FormField::Approvals => form.approvals = !form.approvals,
            Cmd::Toggle => effects.extend(form.type_text(" ")),
            Cmd::Send => {
                if form.saving {
                    return vec![];
                }
                let Ok(draft) = form.verdict.clone() else {
                    // The form already says why; nothing is sent.
                    return vec![];
                };
                form.saving = true;
                form.refused = None;
                return vec![match &form.editing {
                    Some(id) => Effect::EditDelegation {
                        sys_id: id.clone(),
                        starts: draft.starts,
                        ends: draft.ends,
                    },
                    None => Effect::CreateDelegation(draft),
                }];
            }
            _ => {}
        }
        self.revalidate_form();
        effects
    }

    fn set_delegations(&mut self, delegations: Vec<Delegation>) {
        self.delegations.list = delegations;
        let me = self.me().map(str::to_string);
        self.delegations.clamp(me.as_deref());
        self.revalidate_form();
    }

    /// Runs an update and the effects it queued for later (answers that open a dialog).
    fn take_effects(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        effects.append(&mut self.pending_effects);
        effects
    }
}

/// Where a scroll (or a cursor) goes for a movement command, within `0..=max`.
fn scrolled(at: usize, cmd: Cmd, page: usize, max: usize) -> usize {
    match cmd {
        Cmd::Down => at + 1,
        Cmd::Up => at.saturating_sub(1),
        Cmd::PageDown => at + page,
        Cmd::PageUp => at.saturating_sub(page),
        Cmd::Top => 0,
        Cmd::Bottom => max,
        _ => at,
    }
    .min(max)
}

/// The one place state changes.
pub fn update(state: &mut AppState, msg: Msg) -> Vec<Effect> {
    // New rows (or their texts) may hold what the search in force looks for.
    let rows_came = matches!(
        msg,
        Msg::Cached { .. } | Msg::CacheLoaded { .. } | Msg::Synced(_) | Msg::TextsArrived { .. }
    );
    let tick = matches!(msg, Msg::Tick(_));
    let key = matches!(msg, Msg::Key(_));
    let mut effects = update_inner(state, msg);
    if rows_came && let Some(text) = state.queue.search.as_ref().map(|s| s.text.clone()) {
        state.queue.set_search(Some(&text));
    }
    if let Some(now) = state.now {
        // A key or its time ends the toast.
        if state
            .watch
            .toast
            .as_ref()
            .is_some_and(|t| key || now >= t.until)
        {
            state.watch.toast = None;
            state.dirty = true;
        }
        let now_ms = now.timestamp_millis();
        // Only the whole queue is looked at: the first rows shown before the order is read
        // would make every other row news.
        let whole = state.queue.has_any() && state.queue.totals.is_none();
        if (rows_came || tick && state.watch.due(now_ms)) && whole {
            effects.extend(state.look(now));
        }
    }
    // The detail view open on a change not read in full yet: read it.
    if state.mode == Mode::Detail
        && let Some(item) = state.selected_item()
        && state
            .context
            .as_ref()
            .is_none_or(|v| v.change_sys_id != item.approval.change.sys_id)
    {
        let change_sys_id = item.approval.change.sys_id.clone();
        state.context = Some(ContextView {
            change_sys_id: change_sys_id.clone(),
            result: None,
            fresh: false,
        });
        effects.push(Effect::ChangeContext {
            approval_sys_id: item.approval.sys_id.clone(),
            change_sys_id,
        });
    }
    state.take_effects(effects)
}

fn update_inner(state: &mut AppState, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => state.key(key),
        Msg::Resize(w, h) => {
            state.resize(w, h);
            vec![]
        }
        Msg::Mouse(m) => state.mouse_event(m),
        Msg::History {
            decisions,
            server,
            asking,
        } => {
            if let Some(h) = state.decided.as_mut() {
                match decisions {
                    Ok(d) => h.decisions = d,
                    Err(e) => h.rows = Some(Err(e)),
                }
                h.server = server;
                h.server_asked = asking.then_some(Ok(()));
                state.history_rows();
            }
            vec![]
        }
        Msg::ServerHistory(result) => {
            if let Some(h) = state.decided.as_mut() {
                match result {
                    Ok(server) => {
                        h.server = server;
                        h.server_asked = None;
                    }
                    Err(e) => h.server_asked = Some(Err(e)),
                }
                state.history_rows();
            }
            vec![]
        }
        Msg::Insights { days, result } => {
            let now = state.now.map_or(0, |t| t.timestamp_millis());
            if let Some(v) = state.insights.as_mut()
                && v.days == days
            {
                // What is pending now comes from the queue the console holds.
                v.figures = Some(result.map(|mut f| {
                    f.pending_breached = state.queue.breached_by_tier(now);
                    // Escalation starts at the breach (level 1), so these are the same rows.
                    f.pending_escalated = f.pending_breached.iter().map(|b| b.count).sum();
                    f
                }));
                state.dirty = true;
            }
            vec![]
        }
        Msg::Context {
            change_sys_id,
            result,
            fresh,
        } => {
            if let Some(v) = state.context.as_mut()
                && v.change_sys_id == change_sys_id
            {
                match (&v.result, &result) {
                    // A failed read keeps the cached copy (it says how old it is).
                    (Some(Ok(_)), Err(_)) if fresh => v.fresh = true,
                    // The cache answering after the instance did changes nothing.
                    (Some(Ok(_)), _) if v.fresh && !fresh => {}
                    _ => {
                        v.result = Some(result);
                        v.fresh = fresh;
                    }
                }
                state.dirty = true;
            }
            vec![]
        }
        Msg::Said { text, error } => {
            state.flash(text, error);
            vec![]
        }
        Msg::PolicyConfirmed { confirmed } => {
            if let Some(p) = state.policy_review.take() {
                state.done(p.review.confirmed_sentence(&confirmed));
            }
            vec![]
        }
        Msg::PolicyInForce { policy, index } => {
            state.policy = *policy;
            state.queue.set_policy(state.policy.clone());
            state.set_queue(queue::QueueRows::Index(index));
            state.dirty = true;
            vec![]
        }
        Msg::Tick(now) => {
            state.now = Some(now);
            let me = state.me().map(str::to_string);
            state.queue.tick(now.timestamp_millis(), me.as_deref());
            if state.messages.tick(now) {
                state.dirty = true;
            }
            let f = state.fingerprint(now);
            if f != state.tick_fingerprint {
                state.tick_fingerprint = f;
                state.dirty = true;
            }
            state.cab_tick(now)
        }
        Msg::Paste(text) => {
            state.dirty = true;
            if let Some(form) = state.delegations.form.as_mut() {
                let effects: Vec<Effect> = form.type_text(&text).into_iter().collect();
                state.revalidate_form();
                return effects;
            }
            if let Some(line) = state.cmdline.as_mut() {
                line.input.extend(text.chars().filter(|c| !c.is_control()));
                return vec![];
            }
            if let Some(note) = state.cab.open.as_mut().and_then(|v| v.note.as_mut()) {
                note.extend(text.chars().filter(|c| !c.is_control()));
                return vec![];
            }
            if let Some(modal) = state.decide.as_mut()
                && !modal.confirming
            {
                modal.paste(&text, &state.policy);
            }
            vec![]
        }
        Msg::Cached {
            user,
            approvals,
            synced_at,
            outbox_pending,
            complete,
            totals,
        } => {
            state.user = user;
            state.last_sync = synced_at;
            state.outbox_pending = outbox_pending;
            state.queue.details_pending = !complete;
            match totals {
                // The first rows only; the order of the rest follows from the store.
                Some(totals) => {
                    let me = state.me().map(str::to_string);
                    state
                        .queue
                        .set_head(&state.policy, approvals, totals, me.as_deref());
                    state.dirty = true;
                }
                None => state.set_queue(approvals),
            }
            vec![]
        }
        Msg::UsersFound { query, result } => {
            // Only the answer for the name as it stands now; older ones are dropped.
            if let Some(form) = state.delegations.form.as_mut()
                && form.delegate.is_none()
                && form.query.trim() == query
            {
                form.searching = false;
                match result {
                    Ok(users) => {
                        form.matches = users;
                        form.match_selected = 0;
                        form.search_error = None;
                    }
                    Err(e) => {
                        form.matches.clear();
                        form.search_error = Some(e);
                    }
                }
                state.dirty = true;
            }
            vec![]
        }
        Msg::DelegationDone(Ok(sentence)) => {
            state.delegations.form = None;
            state.confirm = None;
            state.done(sentence);
            vec![]
        }
        Msg::DelegationDone(Err(sentence)) => {
            match state.delegations.form.as_mut() {
                // The input stays; the form says why, and Ctrl-S tries again.
                Some(form) => {
                    form.saving = false;
                    form.refused = Some(sentence);
                    state.dirty = true;
                }
                None => state.flash(sentence, true),
            }
            vec![]
        }
        Msg::CacheLoaded {
            approvals,
            outbox,
            delegations,
        } => {
            state.dirty = true;
            state.set_delegations(delegations);
            load_outbox(state, outbox);
            // A sync may have finished first; its queue is newer than the cache's.
            if state.queue.details_pending || state.queue.totals.is_some() {
                state.queue.details_pending = false;
                state.set_queue(approvals);
            } else {
                state.prune();
            }
            vec![]
        }
        Msg::Delivery {
            client_id,
            approval_sys_id,
            delivery,
        } => {
            state.dirty = true;
            state.track(client_id, approval_sys_id, delivery);
            vec![]
        }
        Msg::Stored {
            decisions,
            replaced,
            outbox_pending,
        } => {
            state.dirty = true;
            for (client_id, approval) in replaced {
                state.track(
                    client_id,
                    approval,
                    Delivery::Superseded { by: String::new() },
                );
            }
            for (client_id, approval) in decisions {
                state.track(client_id, approval, Delivery::Queued);
            }
            state.outbox_pending = outbox_pending;
            vec![]
        }
        Msg::SyncStarted => {
            state.dirty = true;
            state.syncing = Some((0, None));
            vec![]
        }
        Msg::SyncProgress { fetched, total } => {
            state.dirty = true;
            state.syncing = Some((fetched, total));
            vec![]
        }
        Msg::Synced(synced) => {
            synced_msg(state, *synced);
            vec![]
        }
        Msg::TextsArrived { ids } => {
            tracing::debug!(count = ids.len(), "long texts arrived");
            // Those rows, read before, lack them: read again when shown.
            state.queue.forget_rows(&ids);
            state.dirty = true;
            vec![]
        }
        Msg::Offline {
            since,
            error,
            retry_at,
        } => {
            state.dirty = true;
            state.syncing = None;
            let news = !matches!(&state.net, Net::Offline { error: e, .. } if *e == error);
            if std::mem::take(&mut state.refreshing) {
                state.flash(format!("Refresh failed: {error}"), true);
            } else if news {
                // Why it is offline, once (the status bar keeps saying that it is).
                state.flash(error.clone(), true);
            }
            state.net = Net::Offline {
                since,
                error,
                retry_at,
            };
            vec![]
        }
        Msg::AuthFailed { error } => {
            state.dirty = true;
            state.syncing = None;
            state.refreshing = false;
            state.flash(error.clone(), true);
            state.net = Net::AuthFailed { error };
            vec![]
        }
        Msg::StoreFailed { error } => {
            state.dirty = true;
            // A decision the UI made that never got its outbox id was not recorded: say so
            // on its row instead of showing it queued.
            for t in state.deliveries.values_mut() {
                if t.client_id.is_none() && t.delivery.is_pending() {
                    t.delivery = Delivery::Failed {
                        error: format!("Not recorded: {error}"),
                    };
                }
            }
            state.syncing = None;
            state.flash(error.clone(), true);
            state.net = Net::StoreFailed { error };
            vec![]
        }
        Msg::Fetched {
            approval_sys_id,
            result,
        } => {
            state.dirty = true;
            state.fetched(approval_sys_id, result);
            vec![]
        }
        Msg::CabMeetings {
            list,
            fetched_at,
            error,
            fresh,
        } => {
            state.cab_meetings_msg(list, fetched_at, error, fresh);
            vec![]
        }
        Msg::CabMeeting(read) => {
            state.cab_meeting_msg(read);
            vec![]
        }
        Msg::CabMove {
            meeting,
            mv,
            status,
        } => {
            state.cab_move_msg(meeting, mv, status);
            vec![]
        }
        Msg::CabOffline { error } => {
            state.dirty = true;
            if let Some(v) = state.cab.open.as_mut()
                && v.error.is_none()
            {
                v.error = Some(error.clone());
                state.flash(
                    format!("The meeting's moves wait in the outbox: {error}"),
                    true,
                );
            }
            vec![]
        }
        Msg::Withdrawn {
            client_id,
            approval_sys_id,
            withdrawn,
        } => {
            state.dirty = true;
            let number = state.number_of(&approval_sys_id);
            if withdrawn {
                if state
                    .deliveries
                    .get(&approval_sys_id)
                    .is_some_and(|t| t.client_id.as_deref() == Some(client_id.as_str()))
                {
                    state.deliveries.remove(&approval_sys_id);
                }
                state.outbox_pending = state.outbox_pending.saturating_sub(1);
                state.done(format!(
                    "Withdrew the decision on {number}; nothing was sent."
                ));
            } else {
                state.flash(
                    format!("Could not withdraw the decision on {number}: it no longer waits (it is being sent, was delivered, or was replaced); its row shows what became of it."),
                    true,
                );
            }
            vec![]
        }
    }
}

/// The newest decision per approval from the outbox (oldest first, so the last one); one
/// the UI made since (its client id not known yet) is newer still and stays.
fn load_outbox(state: &mut AppState, outbox: Vec<OutboxRow>) {
    for (id, e) in newest_per_approval(outbox) {
        if state
            .deliveries
            .get(&id)
            .is_some_and(|t| t.client_id.is_none())
        {
            continue;
        }
        state.deliveries.insert(id, tracked(e));
    }
}

/// The last decision per approval in outbox order, leaving out superseded ones.
fn newest_per_approval(outbox: Vec<OutboxRow>) -> HashMap<String, OutboxRow> {
    let mut newest = HashMap::new();
    for e in outbox {
        if !matches!(e.delivery, Delivery::Superseded { .. }) {
            newest.insert(e.decision.approval_sys_id.clone(), e);
        }
    }
    newest
}

fn tracked(e: OutboxRow) -> Tracked {
    Tracked {
        client_id: Some(e.decision.client_id),
        kind: Some(e.decision.kind),
        delivery: e.delivery,
        justification: Some(e.decision.justification.as_str().to_string()),
    }
}

/// Brings the rows' decisions in line with the outbox's open ones as a sync read them: what
/// another signoff decided, sent, withdrew or discarded shows here too. A decision on screen
/// that the read did not hold may be one stored after the read: it goes only when a second
/// read does not hold it either, and until then the outbox's row does not replace it.
fn reconcile_outbox(state: &mut AppState, open: Vec<OutboxRow>) {
    let open_ids: HashSet<String> = open.iter().map(|e| e.decision.client_id.clone()).collect();
    let mut missing = HashSet::new();
    let mut gone = Vec::new();
    for (approval, t) in &state.deliveries {
        let Some(id) = &t.client_id else { continue };
        let open_here = t.delivery.is_pending() || t.needs_attention();
        if !open_here || open_ids.contains(id) {
            continue;
        }
        if state.outbox_missing.contains(id) {
            gone.push(approval.clone());
        } else {
            missing.insert(id.clone());
        }
    }
    for approval in gone {
        state.deliveries.remove(&approval);
    }
    state.outbox_missing = missing;
    for (approval, e) in newest_per_approval(open) {
        let replace = match state.deliveries.get(&approval) {
            None => true,
            Some(t) => match &t.client_id {
                Some(id) => {
                    *id == e.decision.client_id || !t.delivery.is_pending() && !t.needs_attention()
                }
                None => false,
            },
        };
        if replace {
            state.deliveries.insert(approval, tracked(e));
        }
    }
}

fn synced_msg(state: &mut AppState, s: Synced) {
    state.dirty = true;
    state.set_delegations(s.delegations);
    state.syncing = None;
    state.net = Net::Online;
    state.user = Some(s.user);
    state.last_sync = Some(s.at);
    state.outbox_pending = s.outbox_pending;
    reconcile_outbox(state, s.open);
    if let Some(approvals) = s.approvals {
        state.queue.details_pending = false;
        state.set_queue(approvals);
    }
    if let Some(notice) = s.notices.first() {
        state.flash(notice.clone(), true);
    } else if std::mem::take(&mut state.refreshing) {
        state.done(format!("Refreshed: {}.", s.summary));
    }
    state.clamp_detail();
}
