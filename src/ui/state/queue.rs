//! The queue list: its rows (filtered by person), the sections per tier, the cursor, the
//! multi-selection and the scroll position.
//!
//! The whole queue is held as keys (a [`QueueIndex`], about a hundred bytes a row): order,
//! tier, SLA times and approver. The approvals themselves are read from a [`RowSource`] (the
//! store) when a row is shown, a window at a time, and dropped again when many have been read;
//! so a queue of 100,000 costs little more memory than its keys. A queue given whole (tests,
//! or a console without a store) is held whole.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::find::{self, QueueQuery, Sort};
use crate::domain::{
    Approval, Policy, QueueEntry, QueueIndex, QueueKey, RiskTier, UserRef, build_queue,
};
use crate::store::QueueTotals;

/// One row of the queue.
pub type QueueItem = QueueEntry;

/// Where the rows' approvals are read from: the store, on the UI's own connection.
pub trait RowSource: Send {
    /// The approvals with these sys_ids, without their long texts (those gone are left out).
    fn summaries(&self, ids: &[&str]) -> Result<Vec<Approval>, String>;
    /// One approval with its long texts.
    fn whole(&self, sys_id: &str) -> Result<Option<Approval>, String>;
    /// The sys_ids of the approvals whose search text holds `needle` (see
    /// [`crate::domain::find::search_text`]).
    fn text_matches(&self, needle: &str) -> Result<HashSet<Box<str>>, String>;
    /// Other changes on the same CI in an overlapping window (see [`crate::store::Store::related`]).
    fn related(&self, a: &Approval, limit: usize) -> Result<Vec<Approval>, String>;
}

impl RowSource for crate::store::Store {
    fn summaries(&self, ids: &[&str]) -> Result<Vec<Approval>, String> {
        self.summaries_by_id(ids).map_err(|e| e.to_string())
    }
    fn whole(&self, sys_id: &str) -> Result<Option<Approval>, String> {
        self.approvals_by_id(&[sys_id.to_string()])
            .map(|mut v| v.pop())
            .map_err(|e| e.to_string())
    }
    fn text_matches(&self, needle: &str) -> Result<HashSet<Box<str>>, String> {
        crate::store::Store::text_matches(self, needle).map_err(|e| e.to_string())
    }
    fn related(&self, a: &Approval, limit: usize) -> Result<Vec<Approval>, String> {
        let c = &a.change;
        let (Some(start), false) = (c.start_date, c.configuration_item.is_empty()) else {
            return Ok(Vec::new());
        };
        let end = c.end_date.unwrap_or(start);
        crate::store::Store::related(
            self,
            &c.sys_id,
            &c.configuration_item,
            start.timestamp_millis(),
            end.timestamp_millis().max(start.timestamp_millis() + 1),
            limit,
        )
        .map_err(|e| e.to_string())
    }
}

/// Rows read around the one asked for, at once (a screen and a half either way).
const WINDOW: usize = 96;
/// Read rows kept before the oldest are dropped.
const CACHE_LIMIT: usize = 4_096;

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

    fn admits(&self, approver: &str, me: Option<&str>) -> bool {
        let mine = me.is_none_or(|me| approver == me);
        match self {
            QueueFilter::All => true,
            QueueFilter::Mine => mine,
            QueueFilter::For(u) => !mine && approver == u.sys_id,
        }
    }
}

/// `/`'s search: what was typed and the approvals whose search text holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub text: String,
    /// `text` as the search text holds it ([`find::needle`]).
    pub needle: String,
    hits: HashSet<Box<str>>,
    /// How many of the rows shown hold it (kept when the search or the rows shown change, so
    /// drawing does not count them).
    pub shown: usize,
    /// Why the store could not search, if it could not.
    pub error: Option<String>,
}

impl Search {
    pub fn hits(&self, sys_id: &str) -> bool {
        self.hits.contains(sys_id)
    }
}

/// A block in the list: one per non-empty tier, then the changes on hold (`tier: None`),
/// whatever their tier. Where its items start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub tier: Option<RiskTier>,
    pub start: usize,
    pub len: usize,
    /// Rows of a folded section (then `len` is 0: only its header is drawn).
    pub folded: usize,
}

/// What one line of the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListLine {
    /// Item `i`.
    Row(usize),
    /// The header of section `s` (an index into [`QueueState::sections`]).
    Header(usize),
}

/// The queue as a sync or the cache gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueRows {
    /// Every approval, whole.
    Whole(Vec<Approval>),
    /// The order, read from the store; rows are read from the source when shown.
    Index(QueueIndex),
}

impl From<Vec<Approval>> for QueueRows {
    fn from(v: Vec<Approval>) -> Self {
        QueueRows::Whole(v)
    }
}

#[derive(Default)]
pub struct QueueState {
    /// The whole queue in order (tier, then deadline, then change number; held last).
    index: QueueIndex,
    /// Positions in `index` that `filter` lets through, in order: what the list, sections,
    /// counts and keys work on.
    visible: Vec<u32>,
    /// Rows given whole or kept whatever the store says (decisions waiting for the user, a
    /// fresh copy read from the server).
    pinned: HashMap<Box<str>, Arc<QueueItem>>,
    /// Pinned rows that are summaries (the first screen's): their long texts are read from
    /// the source.
    pinned_summaries: bool,
    /// Rows read from the source.
    loaded: RefCell<HashMap<Box<str>, Arc<QueueItem>>>,
    /// The selected row with its long texts, read for the detail view.
    whole: RefCell<Option<Arc<QueueItem>>>,
    /// The changes related to one change (same CI, overlapping window), as last looked up.
    related: RefCell<Option<(String, Vec<Approval>)>>,
    source: Option<Box<dyn RowSource>>,
    /// The policy the store's order was computed with: rows read are classified by it.
    policy: Policy,
    /// Rows on screen only for a decision waiting for the user: their approval left the
    /// queue on the server.
    kept: HashSet<String>,
    /// Until the whole order is read: the counts the store gave with the first rows.
    pub totals: Option<QueueTotals>,
    pub filter: QueueFilter,
    /// The other conditions the list's rows meet (`:filter tier:critical …`).
    pub query: QueueQuery,
    /// How the rows of each tier are ordered.
    pub sort: Sort,
    /// The saved view in force, by name (its filter and sort are `query`, `filter`, `sort`).
    pub view: Option<String>,
    /// `/`'s search, while one is in force.
    pub search: Option<Search>,
    /// The time the filter's SLA and window conditions were judged at (ms, the last tick).
    pub now_ms: i64,
    /// Non-empty tiers in order.
    pub sections: Vec<Section>,
    /// Sections folded to their header (by tier; `None` is the changes on hold).
    pub folded: HashSet<Option<RiskTier>>,
    /// Rows the filter lets through that a folded section hides (positions in `index`):
    /// they still count in totals and the status bar.
    folded_rows: Vec<u32>,
    pub selected: usize,
    /// First visible line of the list (lines include the tier headers).
    pub scroll: usize,
    /// Rows the list shows (set from the terminal size).
    pub rows: usize,
    /// Approvals chosen with Space for one decision on several (sys_ids).
    pub selection: HashSet<String>,
    /// The queue came from summaries and no source can give the long texts: they are still
    /// being read.
    pub details_pending: bool,
}

impl std::fmt::Debug for QueueState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueState")
            .field("rows", &self.index.keys.len())
            .field("visible", &self.visible.len())
            .field("filter", &self.filter)
            .field("selected", &self.selected)
            .field("scroll", &self.scroll)
            .field("source", &self.source.is_some())
            .finish()
    }
}

fn entry(policy: &Policy, approval: Approval) -> Arc<QueueItem> {
    Arc::new(QueueEntry::new(policy, approval))
}

impl QueueState {
    /// Rows are read from `source` from now on; `policy` is the one the store orders by.
    pub fn attach(&mut self, source: Box<dyn RowSource>, policy: Policy) {
        self.source = Some(source);
        self.policy = policy;
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Rows the list shows (after the filter).
    pub fn len(&self) -> usize {
        self.visible.len()
    }

    pub fn is_empty(&self) -> bool {
        self.visible.is_empty()
    }

    /// The queue's size as the title shows it: the store's count until the order is read.
    pub fn total(&self) -> usize {
        match &self.totals {
            Some(t) if self.unfiltered() => t.total().max(self.shown_len()),
            _ => self.shown_len(),
        }
    }

    /// Rows the filter lets through, folded away or not.
    fn shown_len(&self) -> usize {
        self.len() + self.folded_rows.len()
    }

    /// Whether the queue holds any row at all, whatever the filter shows.
    pub fn has_any(&self) -> bool {
        !self.index.keys.is_empty()
    }

    /// The sys_ids of every row, filtered or not.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys.iter().map(|k| &*k.sys_id)
    }

    fn key(&self, i: usize) -> Option<&QueueKey> {
        self.visible
            .get(i)
            .and_then(|&k| self.index.keys.get(k as usize))
    }

    fn approver(&self, k: &QueueKey) -> &str {
        self.index
            .people
            .get(k.approver as usize)
            .map_or("", |p| p.sys_id.as_str())
    }

    /// Row `i` of the list, read from the source if it is not at hand (with the rows around
    /// it). `None` past the end, or when the store no longer has it.
    pub fn item(&self, i: usize) -> Option<Arc<QueueItem>> {
        let key = self.key(i)?;
        if let Some(e) = self.at_hand(&key.sys_id) {
            return Some(e);
        }
        self.load_around(i);
        self.loaded.borrow().get(&key.sys_id).cloned()
    }

    fn at_hand(&self, sys_id: &str) -> Option<Arc<QueueItem>> {
        if let Some(e) = self.pinned.get(sys_id) {
            return Some(e.clone());
        }
        self.loaded.borrow().get(sys_id).cloned()
    }

    fn load_around(&self, i: usize) {
        let Some(source) = &self.source else {
            return;
        };
        let lo = i.saturating_sub(WINDOW / 2);
        let hi = (i + WINDOW).min(self.len());
        let ids: Vec<&str> = {
            let loaded = self.loaded.borrow();
            (lo..hi)
                .filter_map(|j| self.key(j))
                .map(|k| &*k.sys_id)
                .filter(|id| !self.pinned.contains_key(*id) && !loaded.contains_key(*id))
                .collect()
        };
        match source.summaries(&ids) {
            Ok(list) => {
                let mut loaded = self.loaded.borrow_mut();
                if loaded.len() + list.len() > CACHE_LIMIT {
                    loaded.clear();
                }
                for a in list {
                    loaded.insert(a.sys_id.as_str().into(), entry(&self.policy, a));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read queue rows from the store"),
        }
    }

    /// Every row the list shows, in order (each read: for a small queue, or a test).
    pub fn items(&self) -> Vec<Arc<QueueItem>> {
        (0..self.len()).filter_map(|i| self.item(i)).collect()
    }

    pub fn selected_item(&self) -> Option<Arc<QueueItem>> {
        self.item(self.selected)
    }

    /// `item` with its long texts (read from the source; the item itself when there is none
    /// or it cannot be read).
    pub fn whole(&self, item: &Arc<QueueItem>) -> Arc<QueueItem> {
        let Some(source) = &self.source else {
            return item.clone();
        };
        let id = item.approval.sys_id.as_str();
        if self.pinned.contains_key(id) && !self.pinned_summaries {
            return item.clone();
        }
        if let Some(w) = self.whole.borrow().as_ref()
            && w.approval.sys_id == id
        {
            return w.clone();
        }
        match source.whole(id) {
            Ok(Some(a)) => {
                let w = entry(&self.policy, a);
                *self.whole.borrow_mut() = Some(w.clone());
                w
            }
            Ok(None) => item.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read an approval from the store");
                item.clone()
            }
        }
    }

    /// The selected row with its long texts.
    pub fn selected_whole(&self) -> Option<Arc<QueueItem>> {
        self.selected_item().map(|i| self.whole(&i))
    }

    /// Other changes on the same configuration item whose windows overlap this one's, from
    /// the cache (the store, or the rows held whole), at most five; looked up once a change.
    pub fn related(&self, a: &Approval) -> Vec<Approval> {
        if let Some((id, list)) = &*self.related.borrow()
            && *id == a.change.sys_id
        {
            return list.clone();
        }
        let c = &a.change;
        let list = match &self.source {
            Some(source) => source.related(a, 5).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not look up related changes");
                Vec::new()
            }),
            None => {
                let overlaps = |o: &Approval| {
                    let oc = &o.change;
                    match (c.start_date, oc.start_date) {
                        (Some(s), Some(os)) => {
                            let e = c.end_date.unwrap_or(s);
                            let oe = oc.end_date.unwrap_or(os);
                            os < e.max(s + chrono::Duration::milliseconds(1)) && oe > s
                        }
                        _ => false,
                    }
                };
                let mut seen = HashSet::new();
                let mut v: Vec<Approval> = self
                    .pinned
                    .values()
                    .map(|e| &e.approval)
                    .filter(|o| {
                        !c.configuration_item.is_empty()
                            && o.change.configuration_item == c.configuration_item
                            && o.change.sys_id != c.sys_id
                            && overlaps(o)
                    })
                    .filter(|o| seen.insert(o.change.sys_id.clone()))
                    .cloned()
                    .collect();
                v.sort_by_key(|o| o.change.start_date);
                v.truncate(5);
                v
            }
        };
        *self.related.borrow_mut() = Some((a.change.sys_id.clone(), list.clone()));
        list
    }

    /// The row of this approval, filtered or not.
    pub fn find(&self, sys_id: &str) -> Option<Arc<QueueItem>> {
        if let Some(e) = self.at_hand(sys_id) {
            return Some(e);
        }
        if !self.ids().any(|id| id == sys_id) {
            return None;
        }
        let source = self.source.as_ref()?;
        let a = source.summaries(&[sys_id]).ok()?.pop()?;
        let e = entry(&self.policy, a);
        self.loaded.borrow_mut().insert(sys_id.into(), e.clone());
        Some(e)
    }

    /// Where this approval is in the list, if the filter shows it.
    pub fn position(&self, sys_id: &str) -> Option<usize> {
        self.visible.iter().position(|&k| {
            self.index
                .keys
                .get(k as usize)
                .is_some_and(|k| &*k.sys_id == sys_id)
        })
    }

    fn keep_place(&self) -> (Option<String>, usize) {
        let selected = self.key(self.selected).map(|k| k.sys_id.to_string());
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        (selected, screen_row)
    }

    /// Rows in `keep` (decisions waiting for the user) that `present` no longer has, as last
    /// seen.
    fn kept_rows(&self, keep: &HashSet<String>, present: &HashSet<&str>) -> Vec<Arc<QueueItem>> {
        keep.iter()
            .filter(|id| !present.contains(id.as_str()))
            .filter_map(|id| self.find(id))
            .collect()
    }

    /// Replaces the queue with approvals given whole, keeping the selected change selected
    /// (on the same screen line) if it is still there. Rows in `keep` (decisions waiting for
    /// the user) stay, as last seen, even when their approval left the queue on the server.
    pub fn set(
        &mut self,
        policy: &Policy,
        mut approvals: Vec<Approval>,
        keep: &HashSet<String>,
        me: Option<&str>,
    ) {
        let (selected, screen_row) = self.keep_place();
        let present: HashSet<&str> = approvals.iter().map(|a| a.sys_id.as_str()).collect();
        let kept = self.kept_rows(keep, &present);
        drop(present);
        self.kept = kept.iter().map(|e| e.approval.sys_id.clone()).collect();
        approvals.extend(kept.into_iter().map(|e| e.approval.clone()));
        // Changes on hold come last (build_queue's order), in their own section.
        let entries = build_queue(policy, approvals);
        self.index = QueueIndex::of_entries(&entries);
        self.pinned = entries
            .into_iter()
            .map(|e| (e.approval.sys_id.as_str().into(), e))
            .collect();
        self.loaded.borrow_mut().clear();
        *self.whole.borrow_mut() = None;
        *self.related.borrow_mut() = None;
        self.totals = None;
        self.pinned_summaries = false;
        self.refilter(selected, screen_row, me);
    }

    /// The first rows only, with the store's counts, until the whole order is read.
    pub fn set_head(
        &mut self,
        policy: &Policy,
        approvals: Vec<Approval>,
        totals: QueueTotals,
        me: Option<&str>,
    ) {
        self.set(policy, approvals, &HashSet::new(), me);
        self.totals = Some(totals);
        self.pinned_summaries = true;
    }

    /// Replaces the queue with the order read from the store (rows are read when shown),
    /// keeping the selected change selected and the rows in `keep`, as `set` does.
    /// Forgets these rows as read from the source, which has newer copies of them now (the
    /// long texts a full pull fetches after the queue); the others stay read.
    pub fn forget_rows(&mut self, ids: &[String]) {
        let mut loaded = self.loaded.borrow_mut();
        for id in ids {
            loaded.remove(id.as_str());
        }
        let mut whole = self.whole.borrow_mut();
        if whole
            .as_ref()
            .is_some_and(|w| ids.contains(&w.approval.sys_id))
        {
            *whole = None;
        }
    }

    pub fn set_index(&mut self, mut index: QueueIndex, keep: &HashSet<String>, me: Option<&str>) {
        let (selected, screen_row) = self.keep_place();
        let kept = if keep.is_empty() {
            Vec::new()
        } else {
            let present: HashSet<&str> = index.keys.iter().map(|k| &*k.sys_id).collect();
            self.kept_rows(keep, &present)
        };
        self.kept = kept.iter().map(|e| e.approval.sys_id.clone()).collect();
        self.pinned = HashMap::new();
        for e in kept {
            let approver = index.person(&e.approval.approver);
            let key = QueueKey::of(&e, approver);
            let at = index.keys.partition_point(|k| k.order() <= key.order());
            index.keys.insert(at, key);
            self.pinned.insert(e.approval.sys_id.as_str().into(), e);
        }
        self.index = index;
        self.loaded.borrow_mut().clear();
        *self.whole.borrow_mut() = None;
        *self.related.borrow_mut() = None;
        self.totals = None;
        self.pinned_summaries = false;
        self.details_pending = false;
        self.refilter(selected, screen_row, me);
    }

    /// The server says this approval is no longer in the queue: its row goes once nothing
    /// keeps it (see `drop_if_gone`).
    pub fn forget(&mut self, approval_sys_id: &str) {
        self.kept.insert(approval_sys_id.to_string());
    }

    /// Takes out a row kept only for a decision the user has now dealt with.
    pub fn drop_if_gone(&mut self, approval_sys_id: &str, me: Option<&str>) {
        if !self.kept.remove(approval_sys_id) {
            return;
        }
        let before = self.index.keys.len();
        self.index.keys.retain(|k| &*k.sys_id != approval_sys_id);
        self.pinned.remove(approval_sys_id);
        self.loaded.borrow_mut().remove(approval_sys_id);
        if self.index.keys.len() != before {
            let (keep, screen_row) = self.keep_place();
            self.refilter(keep, screen_row, me);
        }
    }

    /// Puts a fresh copy of an approval in place of the one on screen.
    pub fn replace(&mut self, policy: &Policy, fresh: Approval, me: Option<&str>) {
        let (selected, screen_row) = self.keep_place();
        let id = fresh.sys_id.clone();
        self.index.keys.retain(|k| *k.sys_id != *id);
        self.kept.remove(&id);
        let e = entry(policy, fresh);
        let approver = self.index.person(&e.approval.approver);
        let key = QueueKey::of(&e, approver);
        let at = self
            .index
            .keys
            .partition_point(|k| k.order() <= key.order());
        self.index.keys.insert(at, key);
        self.loaded.borrow_mut().remove(id.as_str());
        *self.whole.borrow_mut() = None;
        *self.related.borrow_mut() = None;
        self.pinned.insert(id.as_str().into(), e);
        self.refilter(selected, screen_row, me);
    }

    /// Rebuilds the visible rows from the whole queue and the filter, keeping `keep` selected
    /// when it is still visible. A filter on a person no longer in the queue falls back to all.
    pub fn refilter(&mut self, keep: Option<String>, screen_row: usize, me: Option<&str>) {
        if let QueueFilter::For(u) = &self.filter
            && !self.index.keys.iter().any(|k| {
                let a = self.approver(k);
                a == u.sys_id && me.is_some_and(|me| a != me)
            })
        {
            self.filter = QueueFilter::All;
        }
        let admitted: Vec<bool> = self
            .index
            .people
            .iter()
            .map(|p| self.filter.admits(&p.sys_id, me))
            .collect();
        let now = self.now_ms;
        self.visible = self
            .index
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| admitted.get(k.approver as usize).copied().unwrap_or(false))
            .filter(|(_, k)| self.query.admits(k, now))
            .map(|(i, _)| i as u32)
            .collect();
        self.sections = self.build_sections();
        if self.sort != Sort::Deadline {
            // Within each tier (tiers, and held changes last, stay where they are).
            let (keys, sort) = (&self.index.keys, self.sort);
            for s in &self.sections {
                self.visible[s.start..s.start + s.len]
                    .sort_by(|&a, &b| sort.compare(&keys[a as usize], &keys[b as usize]));
            }
        }
        self.fold_sections();
        self.recount_hits();
        if !self.selection.is_empty() {
            let visible: HashSet<String> = (0..self.len())
                .filter_map(|i| self.key(i))
                .filter(|k| self.selection.contains(&*k.sys_id))
                .map(|k| k.sys_id.to_string())
                .collect();
            self.selection = visible;
        }
        self.selected = keep
            .and_then(|id| self.position(&id))
            .unwrap_or(self.selected)
            .min(self.len().saturating_sub(1));
        self.scroll = self.line_of(self.selected).saturating_sub(screen_row);
        self.ensure_visible();
    }

    /// The clock moved to `now_ms`: a filter on SLA states or windows is judged again once a
    /// minute, so rows entering breach or their window come and go on their own.
    pub fn tick(&mut self, now_ms: i64, me: Option<&str>) {
        let before = self.now_ms;
        self.now_ms = now_ms;
        let timed = !self.query.sla.is_empty() || self.query.window_hours.is_some();
        if timed && before / 60_000 != now_ms / 60_000 {
            let (keep, screen_row) = self.keep_place();
            self.refilter(keep, screen_row, me);
        }
    }

    /// What notifications compare ([`super::notify`]): every approval of the queue, shown or
    /// not, that is Emergency or Critical, in warning, or breached (held ones have no clock).
    pub fn seen(&self, now_ms: i64) -> super::notify::Seen {
        let mut seen = super::notify::Seen {
            urgent: HashSet::new(),
            warning: HashSet::new(),
            breached: HashSet::new(),
        };
        for k in self.index.keys.iter().filter(|k| !k.on_hold) {
            let urgent = matches!(k.tier, RiskTier::Emergency | RiskTier::Critical);
            let status = k.status(now_ms);
            if !urgent && status == crate::domain::SlaStatus::OnTrack {
                continue;
            }
            let h = super::notify::id_hash(&k.sys_id);
            if urgent {
                seen.urgent.insert(h);
            }
            match status {
                crate::domain::SlaStatus::Breached => {
                    seen.breached.insert(h);
                }
                crate::domain::SlaStatus::Warning => {
                    seen.warning.insert(h);
                }
                crate::domain::SlaStatus::OnTrack => {}
            }
        }
        seen
    }

    /// The approvals breached now, not on hold, per tier (for the insights).
    pub fn breached_by_tier(&self, now_ms: i64) -> Vec<crate::domain::insights::ByTier> {
        let mut n = std::collections::BTreeMap::new();
        for k in self.index.keys.iter().filter(|k| !k.on_hold) {
            if k.status(now_ms) == crate::domain::SlaStatus::Breached {
                *n.entry(k.tier).or_insert(0usize) += 1;
            }
        }
        n.into_iter()
            .map(|(t, count)| crate::domain::insights::ByTier {
                tier: t.label().to_string(),
                count,
            })
            .collect()
    }

    /// The sys_ids of the queue's approvals with these [`super::notify::id_hash`]es, in
    /// queue order.
    pub fn ids_of(&self, hashes: &[u64]) -> Vec<Box<str>> {
        if hashes.is_empty() {
            return Vec::new();
        }
        let wanted: HashSet<u64> = hashes.iter().copied().collect();
        self.index
            .keys
            .iter()
            .filter(|k| wanted.contains(&super::notify::id_hash(&k.sys_id)))
            .map(|k| k.sys_id.clone())
            .collect()
    }

    /// How many approvals the queue holds, shown or not (the order read so far).
    pub fn index_len(&self) -> usize {
        self.index.keys.len()
    }

    /// Whether every row is shown (no person, no condition): the store's counts hold.
    pub fn unfiltered(&self) -> bool {
        self.filter == QueueFilter::All && self.query.is_empty()
    }

    /// Shows only the rows `query` lets through.
    pub fn set_query(&mut self, query: QueueQuery, me: Option<&str>) {
        self.query = query;
        let (keep, screen_row) = self.keep_place();
        self.refilter(keep, screen_row, me);
    }

    /// Orders each tier's rows by `sort`.
    pub fn set_sort(&mut self, sort: Sort, me: Option<&str>) {
        self.sort = sort;
        let (keep, screen_row) = self.keep_place();
        self.refilter(keep, screen_row, me);
    }

    /// What the title says of the filter and sort in force, e.g. `tier:critical · by window`.
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.view.iter().map(|v| format!("view {v}")).collect();
        out.extend(self.filter.label());
        let q = self.query.describe();
        if !q.is_empty() {
            out.push(q);
        }
        if self.sort != Sort::Deadline {
            out.push(format!("by {}", self.sort.name()));
        }
        out
    }

    /// Searches for `text` (`None` or blank: no search). The store answers for the rows it
    /// holds; rows given whole or pinned are searched here, by the same text.
    pub fn set_search(&mut self, text: Option<&str>) {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            self.search = None;
            return;
        };
        let needle = find::needle(text);
        let (mut hits, error) = match &self.source {
            Some(source) => match source.text_matches(&needle) {
                Ok(h) => (h, None),
                Err(e) => (HashSet::new(), Some(e)),
            },
            None => (HashSet::new(), None),
        };
        for (id, e) in &self.pinned {
            if find::search_text(&e.approval).contains(&needle) {
                hits.insert(id.clone());
            }
        }
        self.search = Some(Search {
            text: text.to_string(),
            needle,
            hits,
            shown: 0,
            error,
        });
        self.recount_hits();
    }

    /// Counts the shown rows that hold the search text.
    fn recount_hits(&mut self) {
        let n = match &self.search {
            Some(s) => (0..self.len())
                .filter(|&i| self.key(i).is_some_and(|k| s.hits(&k.sys_id)))
                .count(),
            None => return,
        };
        if let Some(s) = self.search.as_mut() {
            s.shown = n;
        }
    }

    /// Whether row `i` holds the search text.
    pub fn is_hit(&self, i: usize) -> bool {
        match (&self.search, self.key(i)) {
            (Some(s), Some(k)) => s.hits(&k.sys_id),
            _ => false,
        }
    }

    /// The shown rows that hold the search text, and where the cursor is among them (its
    /// 1-based place when it is on one).
    pub fn hit_count(&self) -> (usize, Option<usize>) {
        let Some(s) = &self.search else {
            return (0, None);
        };
        let mut n = 0;
        let mut at = None;
        for i in 0..self.len() {
            if self.key(i).is_some_and(|k| s.hits(&k.sys_id)) {
                n += 1;
                if i == self.selected {
                    at = Some(n);
                }
            }
        }
        (n, at)
    }

    /// Moves to the next row holding the search text after `from` (before it, backwards),
    /// wrapping at the ends; `from` itself counts when `inclusive`. Answers whether it wrapped,
    /// or `None` when no shown row holds it.
    pub fn step_hit(&mut self, from: usize, forward: bool, inclusive: bool) -> Option<bool> {
        let n = self.len();
        if n == 0 || self.search.is_none() {
            return None;
        }
        let from = from.min(n - 1);
        let start = if inclusive { 0 } else { 1 };
        for step in start..=n {
            let i = if forward {
                (from + step) % n
            } else {
                (from + n * 2 - step) % n
            };
            if self.is_hit(i) {
                self.select(i);
                return Some(if forward { i < from } else { i > from });
            }
        }
        None
    }

    /// The filters `f` cycles through: all, mine, then each person present in the queue who
    /// delegated to the user, by name.
    pub fn filters(&self, me: Option<&str>) -> Vec<QueueFilter> {
        let mut present = vec![false; self.index.people.len()];
        for k in &self.index.keys {
            if let Some(p) = present.get_mut(k.approver as usize) {
                *p = true;
            }
        }
        let mut people: Vec<UserRef> = self
            .index
            .people
            .iter()
            .zip(present)
            .filter(|(p, present)| {
                *present && !p.sys_id.is_empty() && me.is_some_and(|me| p.sys_id != me)
            })
            .map(|(p, _)| p.clone())
            .collect();
        people.sort_by(|a, b| a.label().cmp(b.label()).then(a.sys_id.cmp(&b.sys_id)));
        people.dedup_by(|a, b| a.sys_id == b.sys_id);
        let mut out = vec![QueueFilter::All, QueueFilter::Mine];
        out.extend(people.into_iter().map(QueueFilter::For));
        out
    }

    /// Shows the rows `filter` lets through.
    pub fn set_filter(&mut self, filter: QueueFilter, me: Option<&str>) {
        self.filter = filter;
        let (keep, screen_row) = self.keep_place();
        self.refilter(keep, screen_row, me);
    }

    pub fn next_filter(&mut self, me: Option<&str>) {
        let filters = self.filters(me);
        let i = filters.iter().position(|f| *f == self.filter).unwrap_or(0);
        self.set_filter(filters[(i + 1) % filters.len()].clone(), me);
    }

    /// How many rows a section has: the store's count until the whole order is read.
    pub fn section_len(&self, section: &Section) -> usize {
        match &self.totals {
            Some(t) if self.unfiltered() => t
                .sections
                .iter()
                .find(|(tier, _)| *tier == section.tier)
                .map_or(section.len + section.folded, |(_, n)| *n),
            _ => section.len + section.folded,
        }
    }

    fn count_of(&self, tier: Option<RiskTier>) -> usize {
        match &self.totals {
            Some(t) if self.unfiltered() => t
                .sections
                .iter()
                .find(|(s, _)| *s == tier)
                .map_or(0, |(_, n)| *n),
            _ => self
                .sections
                .iter()
                .find(|s| s.tier == tier)
                .map_or(0, |s| s.len + s.folded),
        }
    }

    /// Changes of this tier not on hold.
    pub fn count(&self, tier: RiskTier) -> usize {
        self.count_of(Some(tier))
    }

    /// Changes on hold.
    pub fn held_count(&self) -> usize {
        self.count_of(None)
    }

    /// Breached and warning approvals; held changes do not count (their timers stop).
    pub fn status_counts(&self, now: DateTime<Utc>) -> (usize, usize) {
        if let Some(t) = &self.totals
            && self.unfiltered()
        {
            return (t.breached, t.warning);
        }
        let now = now.timestamp_millis();
        let mut breached = 0;
        let mut warning = 0;
        let folded = self
            .folded_rows
            .iter()
            .map(|&p| &self.index.keys[p as usize]);
        for k in (0..self.len()).filter_map(|i| self.key(i)).chain(folded) {
            if k.on_hold {
                continue;
            }
            match k.status(now) {
                crate::domain::SlaStatus::Breached => breached += 1,
                crate::domain::SlaStatus::Warning => warning += 1,
                crate::domain::SlaStatus::OnTrack => {}
            }
        }
        (breached, warning)
    }

    /// What list line `line` (counting tier headers) shows.
    pub fn at_line(&self, line: usize) -> Option<ListLine> {
        let mut at = 0;
        for (n, s) in self.sections.iter().enumerate() {
            if line == at {
                return Some(ListLine::Header(n));
            }
            if line <= at + s.len {
                return Some(ListLine::Row(s.start + line - at - 1));
            }
            at += s.len + 1;
        }
        None
    }

    /// The list line (counting tier headers) on which item `i` is drawn.
    pub fn line_of(&self, i: usize) -> usize {
        let headers = self.sections.iter().filter(|s| s.start <= i).count();
        i + headers
    }

    pub fn total_lines(&self) -> usize {
        self.len() + self.sections.len()
    }

    fn section_of(&self, i: usize) -> usize {
        self.sections
            .iter()
            .rposition(|s| s.start <= i)
            .unwrap_or(0)
    }

    pub fn ensure_visible(&mut self) {
        let rows = self.rows.max(1);
        if self.is_empty() {
            self.scroll = 0;
            return;
        }
        let mut line = self.line_of(self.selected);
        // Keep the tier header in view when selecting the first item of a tier, and the
        // headers of folded tiers just above it.
        let headers = self
            .sections
            .iter()
            .filter(|s| s.start == self.selected)
            .count();
        line = line.saturating_sub(headers);
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

    /// Moves the cursor; answers whether it moved.
    pub fn select(&mut self, i: usize) -> bool {
        let i = i.min(self.len().saturating_sub(1));
        let moved = i != self.selected;
        self.selected = i;
        self.ensure_visible();
        moved
    }

    pub fn next_tier(&mut self) -> bool {
        let Some(cur) = self.current_section() else {
            return false;
        };
        let n = self.sections.len();
        let next = (1..=n)
            .map(|d| (cur + d) % n)
            .find(|&s| self.sections[s].len > 0);
        next.is_some_and(|s| self.select(self.sections[s].start))
    }

    /// First the top of the current tier, then the previous one.
    pub fn prev_tier(&mut self) -> bool {
        let Some(cur) = self.current_section() else {
            return false;
        };
        let s = self.sections[cur];
        if self.selected != s.start {
            return self.select(s.start);
        }
        let n = self.sections.len();
        let prev = (1..=n)
            .map(|d| (cur + n - d) % n)
            .find(|&s| self.sections[s].len > 0);
        prev.is_some_and(|s| self.select(self.sections[s].start))
    }

    /// Space: into the multi-selection (or out), then down.
    pub fn toggle_selected(&mut self) {
        let Some(id) = self.key(self.selected).map(|k| k.sys_id.to_string()) else {
            return;
        };
        if !self.selection.remove(&id) {
            self.selection.insert(id);
        }
        self.select(self.selected + 1);
    }

    /// The approvals a decision is for: the multi-selection in queue order, else the
    /// selected row.
    pub fn chosen(&self) -> Vec<Arc<QueueItem>> {
        if self.selection.is_empty() {
            self.selected_item().into_iter().collect()
        } else {
            (0..self.len())
                .filter(|&i| {
                    self.key(i)
                        .is_some_and(|k| self.selection.contains(&*k.sys_id))
                })
                .filter_map(|i| self.item(i))
                .collect()
        }
    }

    /// Folds section `n` to its header, or unfolds it; the cursor stays on its row when that
    /// row is still shown, else goes to the header's next row. Answers whether it is folded.
    pub fn toggle_fold(&mut self, n: usize, me: Option<&str>) -> Option<bool> {
        let tier = self.sections.get(n)?.tier;
        let folded = if self.folded.remove(&tier) {
            false
        } else {
            self.folded.insert(tier);
            true
        };
        let (keep, screen_row) = self.keep_place();
        let start = self.sections[n].start;
        self.refilter(keep, screen_row, me);
        if folded && self.sections.get(n).is_some_and(|s| s.len == 0) {
            // The cursor was in the folded tier: the next row shown (else the last).
            let i = self.sections.get(n).map_or(start, |s| s.start);
            self.select(i);
        }
        Some(folded)
    }

    /// The section the cursor is in (folded sections hold no rows, so never this).
    pub fn current_section(&self) -> Option<usize> {
        (!self.sections.is_empty()).then(|| self.section_of(self.selected))
    }

    /// Takes the rows of folded sections out of `visible`, leaving their headers.
    fn fold_sections(&mut self) {
        self.folded_rows.clear();
        if self.folded.is_empty() {
            return;
        }
        let mut visible = Vec::with_capacity(self.visible.len());
        for s in &mut self.sections {
            let rows = &self.visible[s.start..s.start + s.len];
            s.start = visible.len();
            if self.folded.contains(&s.tier) {
                self.folded_rows.extend_from_slice(rows);
                s.folded = s.len;
                s.len = 0;
            } else {
                visible.extend_from_slice(rows);
            }
        }
        self.visible = visible;
    }

    fn build_sections(&self) -> Vec<Section> {
        let mut out: Vec<Section> = Vec::new();
        for (i, k) in (0..self.len()).filter_map(|i| self.key(i)).enumerate() {
            let key = (!k.on_hold).then_some(k.tier);
            match out.last_mut() {
                Some(s) if s.tier == key => s.len += 1,
                _ => out.push(Section {
                    tier: key,
                    start: i,
                    len: 1,
                    folded: 0,
                }),
            }
        }
        out
    }
}

/// The person whose approval this is when `me` decides it as their delegate.
pub fn on_behalf_of<'a>(a: &'a Approval, me: Option<&str>) -> Option<&'a UserRef> {
    let me = me?;
    (!a.approver.sys_id.is_empty() && a.approver.sys_id != me).then_some(&a.approver)
}
