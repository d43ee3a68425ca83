//! Application state and the one place it changes: `update(&mut AppState, Msg) -> Vec<Effect>`.
//! No IO here; effects are performed by `run`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui_textarea::{TextArea, WrapMode};

use super::format;
use super::keymap::{
    Action, action_for, confirm_action_for, delegation_action_for, editor_action_for,
    form_action_for,
};
use super::layout;
use crate::domain::{
    Approval, DecisionKind, Delegation, DelegationDraft, DelegationStatus, Delivery, Justification,
    JustificationError, Policy, QueueEntry, RiskTier, SlaStatus, User, UserRef, build_queue,
    check_delegation,
};
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
    /// The delegation screen: delegations given and received (full screen).
    Delegations,
}

/// Whose approvals the queue shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum QueueFilter {
    #[default]
    All,
    /// The user's own approvals.
    Mine,
    /// The approvals of one person who delegated to the user.
    For(UserRef),
}

impl QueueFilter {
    /// What the queue title says, e.g. `for Carla Diaz`; nothing for `All`.
    pub fn label(&self) -> Option<String> {
        match self {
            QueueFilter::All => None,
            QueueFilter::Mine => Some("mine".into()),
            QueueFilter::For(u) => Some(format!("for {}", u.label())),
        }
    }

    fn admits(&self, a: &Approval, me: Option<&str>) -> bool {
        let mine = me.is_none_or(|me| a.approver.sys_id == me);
        match self {
            QueueFilter::All => true,
            QueueFilter::Mine => mine,
            QueueFilter::For(u) => !mine && a.approver.sys_id == u.sys_id,
        }
    }
}

/// The fields of the delegation form, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Delegate,
    Starts,
    Ends,
    Approvals,
}

/// The form to give a delegation, or to change the window of one.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegationForm {
    /// The delegation whose window is being changed; `None`: a new delegation.
    pub editing: Option<String>,
    pub field: FormField,
    /// The delegate's name as typed (the chosen person's name once picked).
    pub query: String,
    pub delegate: Option<UserRef>,
    /// People matching `query`, from the last search answered for it.
    pub matches: Vec<User>,
    pub match_selected: usize,
    /// A search for `query` is on its way.
    pub searching: bool,
    /// Why the last search failed.
    pub search_error: Option<String>,
    /// Start and end as typed, local time.
    pub starts: String,
    pub ends: String,
    pub approvals: bool,
    /// The form as validated now: the draft to send, or the sentence saying what is wrong.
    pub verdict: Result<DelegationDraft, String>,
    /// Saved, waiting for the backend's answer.
    pub saving: bool,
    /// Why the backend refused the last save.
    pub refused: Option<String>,
}

impl DelegationForm {
    /// The delegate's name was edited: the pick is dropped, old matches go, and a search is
    /// asked for once there are two characters.
    fn query_changed(&mut self) -> Option<Effect> {
        self.delegate = None;
        self.matches.clear();
        self.match_selected = 0;
        self.search_error = None;
        let query = self.query.trim().to_string();
        self.searching = query.chars().count() >= 2;
        self.searching.then_some(Effect::SearchUsers { query })
    }

    fn fields(&self) -> &'static [FormField] {
        if self.editing.is_some() {
            &[FormField::Starts, FormField::Ends]
        } else {
            &[
                FormField::Delegate,
                FormField::Starts,
                FormField::Ends,
                FormField::Approvals,
            ]
        }
    }

    fn step(&mut self, forward: bool) {
        let fields = self.fields();
        let i = fields.iter().position(|f| *f == self.field).unwrap_or(0);
        let n = fields.len();
        self.field = fields[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    fn text_mut(&mut self) -> Option<&mut String> {
        match self.field {
            FormField::Delegate => Some(&mut self.query),
            FormField::Starts => Some(&mut self.starts),
            FormField::Ends => Some(&mut self.ends),
            FormField::Approvals => None,
        }
    }

    fn validate(
        &mut self,
        me: Option<&User>,
        delegations: &[Delegation],
        tz: FixedOffset,
        now: DateTime<Utc>,
    ) {
        self.verdict = (|| {
            let delegate = self.delegate.clone().ok_or_else(|| {
                "Pick a delegate: type two letters or more of a name, then choose with ↑/↓ and Enter."
                    .to_string()
            })?;
            let starts = format::parse_local(&self.starts, tz, false).ok_or_else(|| {
                format!(
                    "The start “{}” is not a date: type YYYY-MM-DD or YYYY-MM-DD HH:MM.",
                    self.starts.trim()
                )
            })?;
            let ends = format::parse_local(&self.ends, tz, true).ok_or_else(|| {
                format!(
                    "The end “{}” is not a date: type YYYY-MM-DD or YYYY-MM-DD HH:MM.",
                    self.ends.trim()
                )
            })?;
            let me = me.ok_or_else(|| {
                "Your account is not known yet; wait for the first sync.".to_string()
            })?;
            let me = UserRef {
                sys_id: me.sys_id.clone(),
                name: me.name.clone(),
            };
            let draft = DelegationDraft {
                delegate,
                starts,
                ends,
                approvals: self.approvals,
            };
            check_delegation(&me, &draft, delegations, self.editing.as_deref(), now)?;
            Ok(draft)
        })();
    }
}

/// The question asked before ending a delegation early.
#[derive(Debug, Clone, PartialEq)]
pub struct EndConfirm {
    pub sys_id: String,
    pub question: String,
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
    /// Text pasted into the terminal (bracketed paste): typed into the decision dialog when it
    /// is open, ignored otherwise.
    Paste(String),
    /// Users matching a `SearchUsers` query (or why the search failed).
    UsersFound {
        query: String,
        result: Result<Vec<User>, String>,
    },
    /// The outcome of a delegation change: a sentence for the user, or why it failed. The
    /// delegation list itself arrives with the next `Synced`.
    DelegationDone(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    Refresh,
    /// Store these decisions in the outbox (one per approval), then have them delivered.
    Decide {
        kind: DecisionKind,
        justification: Justification,
        approvals: Vec<Approval>,
    },
    /// The user discarded a decision in conflict (or failed).
    Discard {
        client_id: String,
    },
    /// Look up active users whose name or login matches (answered with `Msg::UsersFound`).
    SearchUsers {
        query: String,
    },
    /// Create a delegation from the user (answered with `Msg::DelegationDone`).
    CreateDelegation(DelegationDraft),
    /// Change a delegation's window (answered with `Msg::DelegationDone`).
    EditDelegation {
        sys_id: String,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
    },
    /// End a delegation now (answered with `Msg::DelegationDone`).
    EndDelegation {
        sys_id: String,
    },
}

/// A block in the list: one per non-empty tier, then the changes on hold (`tier: None`),
/// whatever their tier. Where its items start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub tier: Option<RiskTier>,
    pub start: usize,
    pub len: usize,
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
    /// The row's delivery text, readable without colour.
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
        matches!(
            self.delivery,
            Delivery::Conflict { .. } | Delivery::Failed { .. }
        )
    }
}

/// The decision dialog: one decision and one justification for one or more approvals.
pub struct DecideModal {
    pub kind: DecisionKind,
    /// The approvals it is for, in queue order, with their tiers (all of them accept `kind`).
    pub targets: Vec<(Approval, RiskTier)>,
    /// Chosen approvals the decision does not apply to, left out.
    pub left_out: usize,
    pub editor: TextArea<'static>,
    /// The text as validated now.
    pub verdict: Result<Justification, JustificationError>,
    /// The second confirmation is showing (reject or hold on a Critical or Emergency change).
    pub confirming: bool,
}

impl DecideModal {
    fn new(
        kind: DecisionKind,
        targets: Vec<(Approval, RiskTier)>,
        left_out: usize,
        text: &str,
        policy: &Policy,
    ) -> DecideModal {
        let lines: Vec<String> = if text.is_empty() {
            vec![String::new()]
        } else {
            text.lines().map(str::to_string).collect()
        };
        let mut editor = TextArea::new(lines);
        editor.set_wrap_mode(WrapMode::WordOrGlyph);
        // No colours here (the theme is the views' business): modifiers only, NO_COLOR-safe.
        editor.set_cursor_line_style(Style::default());
        editor.set_selection_style(Style::default().add_modifier(Modifier::REVERSED));
        editor.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
        editor.set_placeholder_text(format!("Why do you {} this change?", kind.verb()));
        editor.move_cursor(ratatui_textarea::CursorMove::Bottom);
        editor.move_cursor(ratatui_textarea::CursorMove::End);
        let mut m = DecideModal {
            kind,
            targets,
            left_out,
            editor,
            verdict: Err(JustificationError::Empty(kind)),
            confirming: false,
        };
        m.validate(policy);
        m
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    fn validate(&mut self, policy: &Policy) {
        self.verdict = Justification::parse(&self.text(), self.kind, &policy.justification);
    }

    /// The approvals whose tier makes this decision ask for a second confirmation.
    pub fn risky(&self) -> Vec<&(Approval, RiskTier)> {
        self.targets
            .iter()
            .filter(|(_, t)| self.kind.needs_confirmation(*t))
            .collect()
    }

    /// The confirmation question, e.g. `Reject CHG0030042 (Critical)? This stops the change.`
    pub fn question(&self) -> String {
        let risky = self.risky();
        let what = match (self.targets.len(), risky.as_slice()) {
            (1, [(a, t)]) => format!("{} ({})", a.change.number, t.label()),
            (n, [(a, t)]) => format!(
                "{n} changes, {} ({}) among them",
                a.change.number,
                t.label()
            ),
            (n, r) => format!("{n} changes, {} of them Critical or Emergency", r.len()),
        };
        let one = self.targets.len() == 1;
        let effect = match (self.kind, one) {
            (DecisionKind::Reject, true) => "This stops the change.",
            (DecisionKind::Reject, false) => "This stops them.",
            (_, true) => "This pauses the change and its timers.",
            (_, false) => "This pauses them and their timers.",
        };
        let verb = match self.kind {
            DecisionKind::Hold => "Put on hold",
            k => k.title(),
        };
        format!("{verb} {what}? {effect}")
    }
}

/// A short message in the status bar, in place of the key hints.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    /// Something was refused (drawn as an error), rather than done.
    pub error: bool,
    /// When it goes away; set from the first tick when no tick came yet.
    pub until: Option<DateTime<Utc>>,
}

/// How long a flash message stays.
pub const FLASH_FOR: chrono::Duration = chrono::Duration::seconds(6);

pub struct AppState {
    pub instance: String,
    pub login: String,
    pub user: Option<User>,
    pub policy: Policy,
    /// The viewer's time zone for absolute times.
    pub tz: FixedOffset,
    /// The whole queue, sorted by tier, then deadline, then change number.
    pub all_items: Vec<Arc<QueueItem>>,
    /// The rows `filter` lets through, in the same order: what the list, sections, counts and
    /// keys work on.
    pub items: Vec<Arc<QueueItem>>,
    pub filter: QueueFilter,
    /// Non-empty tiers in order.
    pub sections: Vec<Section>,
    pub selected: usize,
    /// First visible line of the list (lines include the tier headers).
    pub scroll: usize,
    pub size: Rect,
    pub mode: Mode,
    /// Where `?` help returns to.
    pub help_from: Mode,
    pub detail_scroll: u16,
    pub net: Net,
    /// A sync is running: rows fetched so far and the total when known.
    pub syncing: Option<(usize, Option<usize>)>,
    /// When the queue on screen was last synced (from the store at start).
    pub last_sync: Option<DateTime<Utc>>,
    /// Decisions waiting in the outbox.
    pub outbox_pending: usize,
    /// Delegations given and received (from the cache, then each sync).
    pub delegations: Vec<Delegation>,
    /// The cursor on the delegation screen: given rows first, then received ones.
    pub delegation_cursor: usize,
    /// The new / edit delegation form, when open (over the delegation screen).
    pub delegation_form: Option<DelegationForm>,
    /// Ending a delegation early, waiting for y/n.
    pub end_confirm: Option<EndConfirm>,
    /// The queue came from summaries; the changes' long texts are still being read.
    pub details_pending: bool,
    /// Approvals chosen with Space for one decision on several (sys_ids).
    pub selection: HashSet<String>,
    /// Where decisions stand, by approval sys_id.
    pub deliveries: HashMap<String, Tracked>,
    /// The decision dialog, when open (drawn over the queue; it takes the keys).
    pub decide: Option<DecideModal>,
    pub flash: Option<Flash>,
    /// The time of the last tick (the UI reads no clock).
    pub now: Option<DateTime<Utc>>,
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
            all_items: Vec::new(),
            items: Vec::new(),
            filter: QueueFilter::All,
            sections: Vec::new(),
            selected: 0,
            scroll: 0,
            size: Rect::new(0, 0, 80, 24),
            mode: Mode::Queue,
            help_from: Mode::Queue,
            detail_scroll: 0,
            net: Net::Connecting,
            syncing: None,
            last_sync: None,
            outbox_pending: 0,
            delegations: Vec::new(),
            delegation_cursor: 0,
            delegation_form: None,
            end_confirm: None,
            details_pending: false,
            selection: HashSet::new(),
            deliveries: HashMap::new(),
            decide: None,
            flash: None,
            now: None,
            dirty: true,
            tick_fingerprint: 0,
        }
    }

    /// When nobody is present to decide this approval: the sentence naming who to chase.
    pub fn attention(&self, item: &QueueItem, now: DateTime<Utc>) -> Option<String> {
        crate::domain::needs_fallback(item, &self.delegations, &self.policy, now)
    }

    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.items.get(self.selected).map(|i| &**i)
    }

    /// Replaces the queue, keeping the selected change selected if it is still there.
    pub fn set_queue(&mut self, mut approvals: Vec<Approval>) {
        let keep = self.selected_item().map(|i| i.approval.sys_id.clone());
        // The selected row stays on the same screen line when rows arrive or leave above it.
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        // A decision in conflict (or failed) keeps its row, as last seen, until the user
        // re-decides or discards it, even when the approval left the queue on the server.
        let unresolved = |id: &String| {
            self.deliveries.get(id).is_some_and(|t| {
                matches!(
                    t.delivery,
                    Delivery::Conflict { .. } | Delivery::Failed { .. }
                )
            })
        };
        if self.deliveries.keys().any(unresolved) {
            let fresh: HashSet<&str> = approvals.iter().map(|a| a.sys_id.as_str()).collect();
            let kept: Vec<Approval> = self
                .all_items
                .iter()
                .filter(|i| {
                    unresolved(&i.approval.sys_id) && !fresh.contains(i.approval.sys_id.as_str())
                })
                .map(|i| i.approval.clone())
                .collect();
            approvals.extend(kept);
        }
        // Changes on hold come last (build_queue's order), in their own section.
        self.all_items = build_queue(&self.policy, approvals);
        self.prune();
        self.refilter(keep, screen_row);
    }

    /// Rebuilds the visible rows from the whole queue and the filter, keeping `keep` selected
    /// when it is still visible. A filter on a person no longer in the queue falls back to all.
    fn refilter(&mut self, keep: Option<String>, screen_row: usize) {
        if let QueueFilter::For(u) = &self.filter
            && !self.all_items.iter().any(|i| {
                self.on_behalf_of(&i.approval)
                    .is_some_and(|p| p.sys_id == u.sys_id)
            })
        {
            self.filter = QueueFilter::All;
        }
        let me = self.user.as_ref().map(|u| u.sys_id.as_str());
        self.items = self
            .all_items
            .iter()
            .filter(|i| self.filter.admits(&i.approval, me))
            .cloned()
            .collect();
        self.sections = sections(&self.items);
        if !self.selection.is_empty() {
            let visible: HashSet<&str> = self
                .items
                .iter()
                .map(|i| i.approval.sys_id.as_str())
                .collect();
            self.selection.retain(|id| visible.contains(id.as_str()));
        }
        self.selected = keep
            .and_then(|id| self.items.iter().position(|i| i.approval.sys_id == id))
            .unwrap_or(self.selected)
            .min(self.items.len().saturating_sub(1));
        self.scroll = self.line_of(self.selected).saturating_sub(screen_row);
        self.ensure_visible();
        self.dirty = true;
    }

    /// The person whose approval this is when the user decides it as their delegate.
    pub fn on_behalf_of<'a>(&self, a: &'a Approval) -> Option<&'a UserRef> {
        let me = self.user.as_ref()?;
        (!a.approver.sys_id.is_empty() && a.approver.sys_id != me.sys_id).then_some(&a.approver)
    }

    /// The delegation that lets the user decide `person`'s approvals (an active one first).
    pub fn delegation_from(&self, person: &UserRef) -> Option<&Delegation> {
        let me = self.user.as_ref()?;
        let theirs = || {
            self.delegations
                .iter()
                .filter(|d| d.user.sys_id == person.sys_id && d.delegate.sys_id == me.sys_id)
        };
        let now = self.now;
        theirs()
            .find(|d| now.is_some_and(|n| d.covers_approvals(n)))
            .or_else(|| theirs().next())
    }

    /// The filters `f` cycles through: all, mine, then each person present in the queue who
    /// delegated to the user, by name.
    pub fn filters(&self) -> Vec<QueueFilter> {
        let mut people: Vec<UserRef> = Vec::new();
        for i in &self.all_items {
            if let Some(p) = self.on_behalf_of(&i.approval)
                && !people.iter().any(|q| q.sys_id == p.sys_id)
            {
                people.push(p.clone());
            }
        }
        people.sort_by(|a, b| a.label().cmp(b.label()).then(a.sys_id.cmp(&b.sys_id)));
        let mut out = vec![QueueFilter::All, QueueFilter::Mine];
        out.extend(people.into_iter().map(QueueFilter::For));
        out
    }

    fn next_filter(&mut self) {
        let filters = self.filters();
        let i = filters.iter().position(|f| *f == self.filter).unwrap_or(0);
        self.filter = filters[(i + 1) % filters.len()].clone();
        let keep = self.selected_item().map(|i| i.approval.sys_id.clone());
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        self.refilter(keep, screen_row);
    }

    /// The delegations the user gave and received, each by start.
    pub fn delegation_lists(&self) -> (Vec<&Delegation>, Vec<&Delegation>) {
        let me = self.user.as_ref().map_or("", |u| u.sys_id.as_str());
        let mut given: Vec<&Delegation> = self
            .delegations
            .iter()
            .filter(|d| d.user.sys_id == me)
            .collect();
        let mut received: Vec<&Delegation> = self
            .delegations
            .iter()
            .filter(|d| d.delegate.sys_id == me && d.user.sys_id != me)
            .collect();
        given.sort_by_key(|d| (d.starts, d.sys_id.clone()));
        received.sort_by_key(|d| (d.starts, d.sys_id.clone()));
        (given, received)
    }

    /// The delegation under the cursor, and whether the user gave it.
    pub fn selected_delegation(&self) -> Option<(&Delegation, bool)> {
        let (given, received) = self.delegation_lists();
        let i = self.delegation_cursor;
        if i < given.len() {
            Some((given[i], true))
        } else {
            received.get(i - given.len()).map(|d| (*d, false))
        }
    }

    /// Drops selection marks and applied decisions of approvals no longer in the queue.
    /// Conflicts and failures stay until the user deals with them.
    fn prune(&mut self) {
        if self.selection.is_empty() && self.deliveries.is_empty() {
            return;
        }
        let present: HashSet<&str> = self
            .all_items
            .iter()
            .map(|i| i.approval.sys_id.as_str())
            .collect();
        self.selection.retain(|id| present.contains(id.as_str()));
        self.deliveries.retain(|id, t| {
            present.contains(id.as_str()) || !matches!(t.delivery, Delivery::Applied { .. })
        });
    }

    /// Changes of this tier not on hold.
    pub fn count(&self, tier: RiskTier) -> usize {
        self.sections
            .iter()
            .find(|s| s.tier == Some(tier))
            .map_or(0, |s| s.len)
    }

    /// Changes on hold.
    pub fn held_count(&self) -> usize {
        self.sections
            .iter()
            .find(|s| s.tier.is_none())
            .map_or(0, |s| s.len)
    }

    /// Breached and warning approvals; held changes do not count (their timers stop).
    pub fn status_counts(&self, now: DateTime<Utc>) -> (usize, usize) {
        let mut breached = 0;
        let mut warning = 0;
        for i in self.items.iter().filter(|i| !i.approval.change.on_hold) {
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
        self.status_counts(now).hash(&mut h);
        if let Some(at) = self.last_sync {
            (now - at).num_minutes().hash(&mut h);
        }
        // Delegations turn active and expire while the screen shows them.
        for d in &self.delegations {
            (d.status(now) as u8).hash(&mut h);
        }
        h.finish()
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        let page = self.list_rows().saturating_sub(1).max(1);
        match (self.mode, action) {
            (_, Action::Quit) => return vec![Effect::Quit],
            (Mode::Help, Action::Help | Action::Back) => self.mode = self.help_from,
            (Mode::Help, _) => return vec![],
            (_, Action::Help) => {
                self.help_from = self.mode;
                self.mode = Mode::Help;
            }
            (_, Action::Refresh) if self.net == Net::OfflineMode => return vec![],
            (_, Action::Refresh) => {
                self.dirty = true;
                return vec![Effect::Refresh];
            }
            (Mode::Queue | Mode::Detail, Action::Approve) => {
                return self.open_decide(DecisionKind::Approve);
            }
            (Mode::Queue | Mode::Detail, Action::Reject) => {
                return self.open_decide(DecisionKind::Reject);
            }
            (Mode::Queue | Mode::Detail, Action::Hold) => {
                return self.open_decide(DecisionKind::Hold);
            }
            (Mode::Queue | Mode::Detail, Action::Resume) => {
                return self.open_decide(DecisionKind::Resume);
            }
            (Mode::Queue | Mode::Detail, Action::Delegations) => {
                self.mode = Mode::Delegations;
                self.clamp_delegation_cursor();
            }
            (Mode::Queue | Mode::Detail, Action::Filter) => self.next_filter(),
            (Mode::Delegations, _) => return self.delegations_act(action),
            (Mode::Queue | Mode::Detail, Action::Redecide) => return self.redecide(),
            (Mode::Queue | Mode::Detail, Action::Discard) => return self.discard(),
            (Mode::Queue, Action::ToggleSelect) if !self.items.is_empty() => {
                let id = self.items[self.selected].approval.sys_id.clone();
                if !self.selection.remove(&id) {
                    self.selection.insert(id);
                }
                self.select(self.selected + 1);
            }
            (Mode::Queue, Action::Back) if !self.selection.is_empty() => self.selection.clear(),
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

    fn clamp_delegation_cursor(&mut self) {
        let (given, received) = self.delegation_lists();
        let n = given.len() + received.len();
        self.delegation_cursor = self.delegation_cursor.min(n.saturating_sub(1));
    }

    /// A key on the delegation screen (Quit, Help and Refresh are handled by `act`).
    fn delegations_act(&mut self, action: Action) -> Vec<Effect> {
        self.dirty = true;
        match action {
            Action::Back => self.mode = Mode::Queue,
            Action::Down => {
                self.delegation_cursor += 1;
                self.clamp_delegation_cursor();
            }
            Action::Up => self.delegation_cursor = self.delegation_cursor.saturating_sub(1),
            Action::NewDelegation => self.open_form(None),
            Action::EditDelegation => match self.selected_delegation() {
                None => self.flash("No delegation to edit; n gives a new one.", true),
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
            Action::EndDelegation => self.ask_end(),
            _ => {}
        }
        vec![]
    }

    /// Opens the form: a new delegation from tomorrow 08:00 to a week later 18:00 (local), or
    /// the window of the given delegation `editing`.
    fn open_form(&mut self, editing: Option<String>) {
        let Some(now) = self.now else {
            return;
        };
        let tz = self.tz;
        let (delegate, query, starts, ends, approvals) = match &editing {
            Some(id) => {
                let Some(d) = self.delegations.iter().find(|d| &d.sys_id == id) else {
                    return;
                };
                (
                    Some(d.delegate.clone()),
                    d.delegate.label().to_string(),
                    d.starts
                        .map(|t| format::input_local(t, tz))
                        .unwrap_or_default(),
                    d.ends
                        .map(|t| format::input_local(t, tz))
                        .unwrap_or_default(),
                    d.approvals,
                )
            }
            None => {
                let starts = format::local_day_at(now, tz, 1, 8, 0);
                let ends = format::local_day_at(now, tz, 8, 18, 0);
                let text = |t: Option<DateTime<Utc>>| {
                    t.map(|t| format::input_local(t, tz)).unwrap_or_default()
                };
                (None, String::new(), text(starts), text(ends), true)
            }
        };
        let mut form = DelegationForm {
            field: if editing.is_some() {
                FormField::Starts
            } else {
                FormField::Delegate
            },
            editing,
            query,
            delegate,
            matches: Vec::new(),
            match_selected: 0,
            searching: false,
            search_error: None,
            starts,
            ends,
            approvals,
            verdict: Err(String::new()),
            saving: false,
            refused: None,
        };
        form.validate(self.user.as_ref(), &self.delegations, tz, now);
        self.delegation_form = Some(form);
    }

    /// Validates the open form again (after an edit, or when the delegations changed).
    fn revalidate_form(&mut self) {
        let now = self.now.unwrap_or(DateTime::<Utc>::MIN_UTC);
        if let Some(form) = self.delegation_form.as_mut() {
            form.validate(self.user.as_ref(), &self.delegations, self.tz, now);
        }
    }

    /// `x`: asks before ending the selected given delegation; says why not otherwise.
    fn ask_end(&mut self) {
        let now = self.now.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let (text, error) = match self.selected_delegation() {
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
                    DelegationStatus::Upcoming => format!(
                        "Cancel your upcoming delegation to {}? y/n",
                        d.delegate.label()
                    ),
                    _ => format!("End your delegation to {} now? y/n", d.delegate.label()),
                };
                self.end_confirm = Some(EndConfirm {
                    sys_id: d.sys_id.clone(),
                    question,
                });
                return;
            }
        };
        self.flash(text, error);
    }

    /// A key while the end-delegation question shows.
    fn end_confirm_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.dirty = true;
        match confirm_action_for(key) {
            Some(Action::Quit) => vec![Effect::Quit],
            Some(Action::Confirm) => match self.end_confirm.take() {
                Some(c) => vec![Effect::EndDelegation { sys_id: c.sys_id }],
                None => vec![],
            },
            Some(Action::Back) => {
                self.end_confirm = None;
                vec![]
            }
            _ => vec![],
        }
    }

    /// A key while the delegation form is open.
    fn form_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(form) = self.delegation_form.as_mut() else {
            return vec![];
        };
        self.dirty = true;
        let mut effects = Vec::new();
        match form_action_for(key) {
            Some(Action::Quit) => return vec![Effect::Quit],
            Some(Action::Back) => {
                self.delegation_form = None;
                return vec![];
            }
            Some(Action::NextField) => form.step(true),
            Some(Action::PrevField) => form.step(false),
            Some(Action::Down) if form.field == FormField::Delegate => {
                if form.match_selected + 1 < form.matches.len() {
                    form.match_selected += 1;
                }
            }
            Some(Action::Up) if form.field == FormField::Delegate => {
                form.match_selected = form.match_selected.saturating_sub(1);
            }
            Some(Action::Choose) => match form.matches.get(form.match_selected) {
                Some(u) if form.field == FormField::Delegate => {
                    let person = UserRef {
                        sys_id: u.sys_id.clone(),
                        name: u.name.clone(),
                    };
                    form.query = person.label().to_string();
                    form.delegate = Some(person);
                    form.matches.clear();
                    form.match_selected = 0;
                    form.search_error = None;
                    form.field = FormField::Starts;
                }
                _ => form.step(true),
            },
            Some(Action::Send) => {
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
            _ => {
                let ctrl = key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL);
                let code = key.code;
                if form.field == FormField::Approvals {
                    if code == crossterm::event::KeyCode::Char(' ') {
                        form.approvals = !form.approvals;
                    }
                } else {
                    let field = form.field;
                    let Some(text) = form.text_mut() else {
                        return vec![];
                    };
                    let changed = match code {
                        crossterm::event::KeyCode::Char(c) if !ctrl && !c.is_control() => {
                            text.push(c);
                            true
                        }
                        crossterm::event::KeyCode::Backspace => text.pop().is_some(),
                        _ => false,
                    };
                    if !changed {
                        return vec![];
                    }
                    form.refused = None;
                    if field == FormField::Delegate {
                        effects.extend(form.query_changed());
                    }
                }
            }
        }
        self.revalidate_form();
        effects
    }

    /// Shows a message in the status bar for `FLASH_FOR` from the last tick.
    pub fn flash(&mut self, text: impl Into<String>, error: bool) {
        self.flash = Some(Flash {
            text: text.into(),
            error,
            until: self.now.map(|n| n + FLASH_FOR),
        });
        self.dirty = true;
    }

    /// The approvals a decision is for: the multi-selection in queue order, else the
    /// selected row.
    fn chosen(&self) -> Vec<&QueueItem> {
        if self.selection.is_empty() {
            self.selected_item().into_iter().collect()
        } else {
            self.items
                .iter()
                .filter(|i| self.selection.contains(&i.approval.sys_id))
                .map(|i| &**i)
                .collect()
        }
    }

    /// Why `kind` cannot be decided on this approval now, if it cannot.
    fn refusal(&self, kind: DecisionKind, approval: &Approval) -> Option<String> {
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
        kind.applies_to(approval).err()
    }

    /// Opens the decision dialog for the chosen approvals, or says why it cannot.
    fn open_decide(&mut self, kind: DecisionKind) -> Vec<Effect> {
        self.open_decide_with(kind, "")
    }

    fn open_decide_with(&mut self, kind: DecisionKind, text: &str) -> Vec<Effect> {
        let chosen = self.chosen();
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
        self.decide = Some(DecideModal::new(
            kind,
            targets,
            left_out,
            text,
            &self.policy,
        ));
        self.dirty = true;
        vec![]
    }

    /// `e`: the dialog again for a decision in conflict or failed, with its text.
    fn redecide(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let number = item.approval.change.number.clone();
        match self.deliveries.get(&item.approval.sys_id) {
            Some(t) if t.needs_attention() => match t.kind {
                Some(kind) => {
                    let text = t.justification.clone().unwrap_or_default();
                    // Only this change: the multi-selection is not part of a re-decision.
                    let keep = std::mem::take(&mut self.selection);
                    let out = self.open_decide_with(kind, &text);
                    self.selection = keep;
                    out
                }
                None => {
                    self.flash(format!("Decide on {number} again with a, x, p or u."), true);
                    vec![]
                }
            },
            _ => {
                self.flash(
                    format!("{number} has no decision in conflict or failed to re-decide."),
                    true,
                );
                vec![]
            }
        }
    }

    /// `d`: drops the decision in conflict or failed on the selected row.
    fn discard(&mut self) -> Vec<Effect> {
        let Some(item) = self.selected_item() else {
            return vec![];
        };
        let id = item.approval.sys_id.clone();
        let number = item.approval.change.number.clone();
        match self.deliveries.get(&id) {
            Some(t) if t.needs_attention() => {
                let t = self.deliveries.remove(&id).expect("present");
                let what = t.kind.map_or("decision", |k| k.verb());
                self.flash(format!("Discarded the {what} on {number}."), false);
                match t.client_id {
                    Some(client_id) => vec![Effect::Discard { client_id }],
                    None => vec![],
                }
            }
            _ => {
                self.flash(
                    format!("{number} has no decision in conflict or failed to discard."),
                    true,
                );
                vec![]
            }
        }
    }

    /// A key while the decision dialog is open.
    fn decide_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(modal) = self.decide.as_mut() else {
            return vec![];
        };
        self.dirty = true;
        if modal.confirming {
            return match confirm_action_for(key) {
                Some(Action::Quit) => vec![Effect::Quit],
                Some(Action::Confirm) => self.send(),
                Some(Action::Back) => {
                    modal.confirming = false;
                    vec![]
                }
                _ => vec![],
            };
        }
        match editor_action_for(key) {
            Some(Action::Quit) => vec![Effect::Quit],
            Some(Action::Back) => {
                self.decide = None;
                vec![]
            }
            Some(Action::Send) => {
                if modal.verdict.is_err() {
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
            _ => {
                if modal.editor.input(key) {
                    modal.validate(&self.policy);
                }
                vec![]
            }
        }
    }

    /// Emits the decision, marks its rows queued and closes the dialog.
    fn send(&mut self) -> Vec<Effect> {
        let Some(modal) = self.decide.take() else {
            return vec![];
        };
        let Ok(justification) = modal.verdict else {
            return vec![];
        };
        let mut effects = Vec::new();
        let approvals: Vec<Approval> = modal.targets.into_iter().map(|(a, _)| a).collect();
        let replaces = approvals.iter().any(|a| {
            self.deliveries
                .get(&a.sys_id)
                .is_some_and(|t| t.delivery == Delivery::Queued)
        });
        for a in &approvals {
            // A re-decision replaces the decision in conflict or failed.
            if let Some(old) = self.deliveries.get(&a.sys_id)
                && old.needs_attention()
                && let Some(client_id) = old.client_id.clone()
            {
                effects.push(Effect::Discard { client_id });
            }
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
                "{} {what}: queued, sent in the background{replaced}.",
                modal.kind.title()
            ),
            false,
        );
        self.selection.clear();
        effects.push(Effect::Decide {
            kind: modal.kind,
            justification,
            approvals,
        });
        effects
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
        entry.delivery = delivery;
    }
}

fn sections(items: &[Arc<QueueItem>]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = (!item.approval.change.on_hold).then_some(item.tier.tier);
        match out.last_mut() {
            Some(s) if s.tier == key => s.len += 1,
            _ => out.push(Section {
                tier: key,
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
            if state.decide.is_some() {
                return state.decide_key(key);
            }
            if state.end_confirm.is_some() {
                return state.end_confirm_key(key);
            }
            if state.delegation_form.is_some() {
                return state.form_key(key);
            }
            let action = if state.mode == Mode::Delegations {
                delegation_action_for(key)
            } else {
                action_for(key)
            };
            match action {
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
            state.now = Some(now);
            if let Some(flash) = &mut state.flash {
                match flash.until {
                    None => flash.until = Some(now + FLASH_FOR),
                    Some(until) if now >= until => {
                        state.flash = None;
                        state.dirty = true;
                    }
                    Some(_) => {}
                }
            }
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
        Msg::UsersFound { query, result } => {
            // Only the answer for the name as it stands now; older ones are dropped.
            if let Some(form) = state.delegation_form.as_mut()
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
            state.delegation_form = None;
            state.end_confirm = None;
            state.flash(sentence, false);
            vec![]
        }
        Msg::DelegationDone(Err(sentence)) => {
            match state.delegation_form.as_mut() {
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
        Msg::Sync(event) => {
            state.dirty = true;
            match event {
                SyncEvent::CacheLoaded {
                    approvals,
                    outbox,
                    delegations,
                } => {
                    state.delegations = delegations;
                    state.clamp_delegation_cursor();
                    state.revalidate_form();
                    // The newest decision per approval; one the UI made since (its client id
                    // not known yet) is newer still and stays.
                    let mut newest: HashMap<String, crate::store::OutboxEntry> = HashMap::new();
                    for e in outbox {
                        let id = e.decision.approval_sys_id.clone();
                        match newest.get(&id) {
                            Some(old) if old.decision.created_at > e.decision.created_at => {}
                            _ => {
                                newest.insert(id, e);
                            }
                        }
                    }
                    for (id, e) in newest {
                        if state
                            .deliveries
                            .get(&id)
                            .is_some_and(|t| t.client_id.is_none())
                        {
                            continue;
                        }
                        state.deliveries.insert(
                            id,
                            Tracked {
                                client_id: Some(e.decision.client_id),
                                kind: Some(e.decision.kind),
                                delivery: e.delivery,
                                justification: Some(e.decision.justification.as_str().to_string()),
                            },
                        );
                    }
                    // A sync may have finished first; its queue is newer than the cache's.
                    if state.details_pending {
                        state.details_pending = false;
                        state.set_queue(approvals);
                    } else {
                        state.prune();
                    }
                }
                SyncEvent::Delivery {
                    client_id,
                    approval_sys_id,
                    delivery,
                } => state.track(client_id, approval_sys_id, delivery),
                SyncEvent::UsersFound { query, result } => {
                    return update(state, Msg::UsersFound { query, result });
                }
                SyncEvent::DelegationDone(result) => {
                    return update(state, Msg::DelegationDone(result));
                }
                SyncEvent::Started => state.syncing = Some((0, None)),
                SyncEvent::Progress { fetched, total } => {
                    state.syncing = Some((fetched, total));
                }
                SyncEvent::Synced {
                    outcome,
                    approvals,
                    outbox_pending,
                    delegations,
                } => {
                    state.delegations = delegations;
                    state.syncing = None;
                    state.net = Net::Online;
                    state.user = Some(outcome.user);
                    state.clamp_delegation_cursor();
                    state.revalidate_form();
                    state.last_sync = Some(outcome.at);
                    state.outbox_pending = outbox_pending;
                    if let Some(notice) = outcome.notices.first() {
                        state.flash(notice.clone(), true);
                    }
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
                    // A decision the UI made that never got its outbox id was not recorded:
                    // say so on its row instead of showing it queued.
                    for t in state.deliveries.values_mut() {
                        if t.client_id.is_none() && t.delivery.is_pending() {
                            t.delivery = Delivery::Failed {
                                error: format!("Not recorded: {error}"),
                            };
                        }
                    }
                    state.syncing = None;
                    state.net = Net::StoreFailed { error };
                }
            }
            vec![]
        }
        Msg::Paste(text) => {
            if let Some(form) = state.delegation_form.as_mut()
                && let Some(field) = form.text_mut()
            {
                // One line: line breaks and control characters are dropped.
                field.extend(text.chars().filter(|c| !c.is_control()));
                form.refused = None;
                let effects: Vec<Effect> = if form.field == FormField::Delegate {
                    form.query_changed().into_iter().collect()
                } else {
                    vec![]
                };
                state.revalidate_form();
                state.dirty = true;
                return effects;
            }
            if let Some(modal) = state.decide.as_mut()
                && !modal.confirming
            {
                modal.editor.insert_str(text);
                modal.validate(&state.policy);
                state.dirty = true;
            }
            vec![]
        }
    }
}
