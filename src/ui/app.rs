//! Application state and the one place it changes: `update(&mut AppState, Msg) -> Vec<Effect>`.
//! No IO here; effects are performed by `run`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, FixedOffset, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::layout::Rect;

use super::format;
use super::keymap::{Action, action_for};
use super::layout;
use crate::domain::{Approval, Policy, QueueEntry, RiskTier, SlaStatus, User, build_queue};
use crate::sync::SyncEvent;

/// One row of the queue.
pub type QueueItem = QueueEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Queue,
    /// The detail of the selected change has focus (full screen when there is no room for a
    /// pane beside or below the list).
    Detail,
    Help,
}

/// What we know of the connection to the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Net {
    /// No sync has finished in this session yet.
    Connecting,
    Online,
    /// The last sync failed; the engine retries by itself.
    Offline {
        since: DateTime<Utc>,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// The credentials were refused: nothing is retried until the user presses r.
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

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    /// The queue as last synced, read from the store at start (before any network call).
    Cached {
        user: Option<User>,
        approvals: Vec<Approval>,
        synced_at: Option<DateTime<Utc>>,
        outbox_pending: usize,
        /// The approvals carry their long texts (false: summaries, the texts follow).
        complete: bool,
    },
    Sync(SyncEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Refresh,
}

/// A tier's block in the list: where its items start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub tier: RiskTier,
    pub start: usize,
    pub len: usize,
}

pub struct AppState {
    pub instance: String,
    pub login: String,
    pub user: Option<User>,
    pub policy: Policy,
    /// The viewer's time zone for absolute times.
    pub tz: FixedOffset,
    /// Sorted by tier, then deadline, then change number.
    pub items: Vec<QueueItem>,
    /// Non-empty tiers in order.
    pub sections: Vec<Section>,
    pub selected: usize,
    /// First visible line of the list (lines include the tier headers).
    pub scroll: usize,
    pub size: Rect,
    pub mode: Mode,
    pub detail_scroll: u16,
    pub net: Net,
    /// A sync is running: rows fetched so far and the total when known.
    pub syncing: Option<(usize, Option<usize>)>,
    /// When the queue on screen was last synced (from the store at start).
    pub last_sync: Option<DateTime<Utc>>,
    /// Decisions waiting in the outbox.
    pub outbox_pending: usize,
    /// The queue came from summaries; the changes' long texts are still being read.
    pub details_pending: bool,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    tick_fingerprint: u64,
}

impl AppState {
    pub fn new(instance: String, login: String, policy: Policy, tz: FixedOffset) -> AppState {
        AppState {
            instance,
            login,
            user: None,
            policy,
            tz,
            items: Vec::new(),
            sections: Vec::new(),
            selected: 0,
            scroll: 0,
            size: Rect::new(0, 0, 80, 24),
            mode: Mode::Queue,
            detail_scroll: 0,
            net: Net::Connecting,
            syncing: None,
            last_sync: None,
            outbox_pending: 0,
            details_pending: false,
            dirty: true,
            tick_fingerprint: 0,
        }
    }

    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.items.get(self.selected)
    }

    /// Replaces the queue, keeping the selected change selected if it is still there.
    pub fn set_queue(&mut self, approvals: Vec<Approval>) {
        let keep = self.selected_item().map(|i| i.approval.sys_id.clone());
        // The selected row stays on the same screen line when rows arrive or leave above it.
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        self.items = build_queue(&self.policy, approvals);
        self.sections = sections(&self.items);
        self.selected = keep
            .and_then(|id| self.items.iter().position(|i| i.approval.sys_id == id))
            .unwrap_or(self.selected)
            .min(self.items.len().saturating_sub(1));
        self.scroll = self.line_of(self.selected).saturating_sub(screen_row);
        self.ensure_visible();
        self.dirty = true;
    }

    pub fn count(&self, tier: RiskTier) -> usize {
        self.sections
            .iter()
            .find(|s| s.tier == tier)
            .map_or(0, |s| s.len)
    }

    pub fn status_counts(&self, now: DateTime<Utc>) -> (usize, usize) {
        let mut breached = 0;
        let mut warning = 0;
        for i in &self.items {
            match i.sla.status(now) {
                SlaStatus::Breached => breached += 1,
                SlaStatus::Warning => warning += 1,
                SlaStatus::OnTrack => {}
            }
        }
        (breached, warning)
    }

    /// The list line (counting tier headers) on which item `i` is drawn.
    pub fn line_of(&self, i: usize) -> usize {
        let headers = self.sections.iter().filter(|s| s.start <= i).count();
        i + headers
    }

    pub fn total_lines(&self) -> usize {
        self.items.len() + self.sections.len()
    }

    pub fn list_rows(&self) -> usize {
        layout::list_rows(self.size).max(1)
    }

    fn section_of(&self, i: usize) -> usize {
        self.sections
            .iter()
            .rposition(|s| s.start <= i)
            .unwrap_or(0)
    }

    fn ensure_visible(&mut self) {
        let rows = self.list_rows();
        if self.items.is_empty() {
            self.scroll = 0;
            return;
        }
        let mut line = self.line_of(self.selected);
        // Keep the tier header in view when selecting the first item of a tier.
        if self.sections.iter().any(|s| s.start == self.selected) {
            line = line.saturating_sub(1);
        }
        if line < self.scroll {
            self.scroll = line;
        }
        let sel_line = self.line_of(self.selected);
        if sel_line >= self.scroll + rows {
            self.scroll = sel_line + 1 - rows;
        }
        let max_scroll = self.total_lines().saturating_sub(rows);
        self.scroll = self.scroll.min(max_scroll);
    }

    fn select(&mut self, i: usize) {
        let i = i.min(self.items.len().saturating_sub(1));
        if i != self.selected {
            self.selected = i;
            self.detail_scroll = 0;
        }
        self.ensure_visible();
        self.dirty = true;
    }

    /// A cheap summary of every time-dependent text on screen; the screen is redrawn on a
    /// tick only when it changes (countdowns move once a minute per row).
    fn fingerprint(&self, now: DateTime<Utc>) -> u64 {
        let mut h = DefaultHasher::new();
        let rows = self.list_rows();
        let first = self.scroll.saturating_sub(self.sections.len());
        let last = (self.scroll + rows).min(self.items.len());
        for item in self.items.get(first..last).unwrap_or(&[]) {
            format::countdown(item.sla.remaining(now)).hash(&mut h);
            format::window(item.approval.change.start_date, now).hash(&mut h);
            item.sla.status(now).hash(&mut h);
        }
        if let Some(item) = self.selected_item() {
            item.sla.escalation_level(now).hash(&mut h);
        }
        self.status_counts(now).hash(&mut h);
        if let Some(at) = self.last_sync {
            (now - at).num_minutes().hash(&mut h);
        }
        h.finish()
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        let page = self.list_rows().saturating_sub(1).max(1);
        match (self.mode, action) {
            (_, Action::Quit) => return vec![Effect::Quit],
            (Mode::Help, Action::Help | Action::Back) => self.mode = Mode::Queue,
            (Mode::Help, _) => return vec![],
            (_, Action::Help) => self.mode = Mode::Help,
            (_, Action::Refresh) if self.net == Net::OfflineMode => return vec![],
            (_, Action::Refresh) => {
                self.dirty = true;
                return vec![Effect::Refresh];
            }
            (Mode::Detail, Action::Back) => self.mode = Mode::Queue,
            (Mode::Detail, Action::Down) => {
                self.detail_scroll = self.detail_scroll.saturating_add(1)
            }
            (Mode::Detail, Action::Up) => self.detail_scroll = self.detail_scroll.saturating_sub(1),
            (Mode::Detail, Action::PageDown) => {
                self.detail_scroll = self.detail_scroll.saturating_add(page as u16)
            }
            (Mode::Detail, Action::PageUp) => {
                self.detail_scroll = self.detail_scroll.saturating_sub(page as u16)
            }
            (Mode::Detail, Action::Top) => self.detail_scroll = 0,
            (Mode::Detail, _) => return vec![],
            (Mode::Queue, Action::OpenDetail) if !self.items.is_empty() => self.mode = Mode::Detail,
            (Mode::Queue, Action::Down) => self.select(self.selected + 1),
            (Mode::Queue, Action::Up) => self.select(self.selected.saturating_sub(1)),
            (Mode::Queue, Action::PageDown) => self.select(self.selected + page),
            (Mode::Queue, Action::PageUp) => self.select(self.selected.saturating_sub(page)),
            (Mode::Queue, Action::Top) => self.select(0),
            (Mode::Queue, Action::Bottom) => self.select(self.items.len().saturating_sub(1)),
            (Mode::Queue, Action::NextTier) if !self.sections.is_empty() => {
                let next = (self.section_of(self.selected) + 1) % self.sections.len();
                self.select(self.sections[next].start);
            }
            (Mode::Queue, Action::PrevTier) if !self.sections.is_empty() => {
                let cur = self.section_of(self.selected);
                let s = self.sections[cur];
                // First Shift-Tab goes to the top of the current tier, then to the previous one.
                let target = if self.selected != s.start {
                    s.start
                } else {
                    self.sections[(cur + self.sections.len() - 1) % self.sections.len()].start
                };
                self.select(target);
            }
            (Mode::Queue, _) => return vec![],
        }
        self.dirty = true;
        vec![]
    }
}

fn sections(items: &[QueueItem]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match out.last_mut() {
            Some(s) if s.tier == item.tier.tier => s.len += 1,
            _ => out.push(Section {
                tier: item.tier.tier,
                start: i,
                len: 1,
            }),
        }
    }
    out
}

/// The one place state changes.
pub fn update(state: &mut AppState, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return vec![];
            }
            match action_for(key) {
                Some(action) => state.act(action),
                None => vec![],
            }
        }
        Msg::Resize(w, h) => {
            state.size = Rect::new(0, 0, w, h);
            state.ensure_visible();
            state.dirty = true;
            vec![]
        }
        Msg::Tick(now) => {
            let f = state.fingerprint(now);
            if f != state.tick_fingerprint {
                state.tick_fingerprint = f;
                state.dirty = true;
            }
            vec![]
        }
        Msg::Cached {
            user,
            approvals,
            synced_at,
            outbox_pending,
            complete,
        } => {
            state.user = user;
            state.last_sync = synced_at;
            state.outbox_pending = outbox_pending;
            state.details_pending = !complete;
            state.set_queue(approvals);
            vec![]
        }
        Msg::Sync(event) => {
            state.dirty = true;
            match event {
                SyncEvent::CacheLoaded { approvals } => {
                    // A sync may have finished first; its queue is newer than the cache's.
                    if state.details_pending {
                        state.details_pending = false;
                        state.set_queue(approvals);
                    }
                }
                SyncEvent::Started => state.syncing = Some((0, None)),
                SyncEvent::Progress { fetched, total } => {
                    state.syncing = Some((fetched, total));
                }
                SyncEvent::Synced {
                    outcome,
                    approvals,
                    outbox_pending,
                } => {
                    state.syncing = None;
                    state.net = Net::Online;
                    state.user = Some(outcome.user);
                    state.last_sync = Some(outcome.at);
                    state.outbox_pending = outbox_pending;
                    if let Some(approvals) = approvals {
                        state.details_pending = false;
                        state.set_queue(approvals);
                    }
                }
                SyncEvent::Offline {
                    since,
                    error,
                    retry_at,
                } => {
                    state.syncing = None;
                    state.net = Net::Offline {
                        since,
                        error,
                        retry_at,
                    };
                }
                SyncEvent::AuthFailed { error } => {
                    state.syncing = None;
                    state.net = Net::AuthFailed { error };
                }
                SyncEvent::StoreFailed { error } => {
                    state.syncing = None;
                    state.net = Net::StoreFailed { error };
                }
            }
            vec![]
        }
    }
}
