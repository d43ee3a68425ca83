//! The queue list: its rows (filtered by person), the sections per tier, the cursor, the
//! multi-selection and the scroll position.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{Approval, Policy, QueueEntry, RiskTier, SlaStatus, UserRef, build_queue};

/// One row of the queue.
pub type QueueItem = QueueEntry;

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

/// A block in the list: one per non-empty tier, then the changes on hold (`tier: None`),
/// whatever their tier. Where its items start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub tier: Option<RiskTier>,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Default)]
pub struct QueueState {
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
    /// Rows the list shows (set from the terminal size).
    pub rows: usize,
    /// Approvals chosen with Space for one decision on several (sys_ids).
    pub selection: HashSet<String>,
    /// The approvals the last sync (or the cache) had pending: a row kept for a conflict after
    /// its approval left goes with the conflict.
    pub pending_ids: HashSet<String>,
    /// The queue came from summaries; the changes' long texts are still being read.
    pub details_pending: bool,
}

impl QueueState {
    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.items.get(self.selected).map(|i| &**i)
    }

    /// Replaces the queue, keeping the selected change selected (on the same screen line) if
    /// it is still there. Rows in `keep` (decisions waiting for the user) stay, as last seen,
    /// even when their approval left the queue on the server.
    pub fn set(
        &mut self,
        policy: &Policy,
        mut approvals: Vec<Approval>,
        keep: &HashSet<String>,
        me: Option<&str>,
    ) {
        let selected = self.selected_item().map(|i| i.approval.sys_id.clone());
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        self.pending_ids = approvals.iter().map(|a| a.sys_id.clone()).collect();
        if !keep.is_empty() {
            let kept: Vec<Approval> = self
                .all_items
                .iter()
                .filter(|i| {
                    keep.contains(&i.approval.sys_id)
                        && !self.pending_ids.contains(&i.approval.sys_id)
                })
                .map(|i| i.approval.clone())
                .collect();
            approvals.extend(kept);
        }
        // Changes on hold come last (build_queue's order), in their own section.
        self.all_items = build_queue(policy, approvals);
        self.refilter(selected, screen_row, me);
    }

    /// Takes out a row kept only for a decision the user has now dealt with.
    pub fn drop_if_gone(&mut self, approval_sys_id: &str, me: Option<&str>) {
        if self.pending_ids.contains(approval_sys_id) {
            return;
        }
        let before = self.all_items.len();
        self.all_items
            .retain(|i| i.approval.sys_id != approval_sys_id);
        if self.all_items.len() != before {
            let keep = self.selected_item().map(|i| i.approval.sys_id.clone());
            let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
            self.refilter(keep, screen_row, me);
        }
    }

    /// Puts a fresh copy of an approval in place of the one on screen.
    pub fn replace(&mut self, policy: &Policy, fresh: Approval, me: Option<&str>) {
        let mut approvals: Vec<Approval> = self
            .all_items
            .iter()
            .filter(|i| i.approval.sys_id != fresh.sys_id)
            .map(|i| i.approval.clone())
            .collect();
        self.pending_ids.insert(fresh.sys_id.clone());
        approvals.push(fresh);
        let selected = self.selected_item().map(|i| i.approval.sys_id.clone());
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        self.all_items = build_queue(policy, approvals);
        self.refilter(selected, screen_row, me);
    }

    /// Rebuilds the visible rows from the whole queue and the filter, keeping `keep` selected
    /// when it is still visible. A filter on a person no longer in the queue falls back to all.
    pub fn refilter(&mut self, keep: Option<String>, screen_row: usize, me: Option<&str>) {
        if let QueueFilter::For(u) = &self.filter
            && !self
                .all_items
                .iter()
                .any(|i| on_behalf_of(&i.approval, me).is_some_and(|p| p.sys_id == u.sys_id))
        {
            self.filter = QueueFilter::All;
        }
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
    }

    /// The filters `f` cycles through: all, mine, then each person present in the queue who
    /// delegated to the user, by name.
    pub fn filters(&self, me: Option<&str>) -> Vec<QueueFilter> {
        let mut people: Vec<UserRef> = Vec::new();
        for i in &self.all_items {
            if let Some(p) = on_behalf_of(&i.approval, me)
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

    /// Shows the rows `filter` lets through.
    pub fn set_filter(&mut self, filter: QueueFilter, me: Option<&str>) {
        self.filter = filter;
        let keep = self.selected_item().map(|i| i.approval.sys_id.clone());
        let screen_row = self.line_of(self.selected).saturating_sub(self.scroll);
        self.refilter(keep, screen_row, me);
    }

    pub fn next_filter(&mut self, me: Option<&str>) {
        let filters = self.filters(me);
        let i = filters.iter().position(|f| *f == self.filter).unwrap_or(0);
        self.set_filter(filters[(i + 1) % filters.len()].clone(), me);
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

    fn section_of(&self, i: usize) -> usize {
        self.sections
            .iter()
            .rposition(|s| s.start <= i)
            .unwrap_or(0)
    }

    pub fn ensure_visible(&mut self) {
        let rows = self.rows.max(1);
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

    /// Moves the cursor; answers whether it moved.
    pub fn select(&mut self, i: usize) -> bool {
        let i = i.min(self.items.len().saturating_sub(1));
        let moved = i != self.selected;
        self.selected = i;
        self.ensure_visible();
        moved
    }

    pub fn next_tier(&mut self) -> bool {
        if self.sections.is_empty() {
            return false;
        }
        let next = (self.section_of(self.selected) + 1) % self.sections.len();
        self.select(self.sections[next].start)
    }

    /// First the top of the current tier, then the previous one.
    pub fn prev_tier(&mut self) -> bool {
        if self.sections.is_empty() {
            return false;
        }
        let cur = self.section_of(self.selected);
        let s = self.sections[cur];
        let target = if self.selected != s.start {
            s.start
        } else {
            self.sections[(cur + self.sections.len() - 1) % self.sections.len()].start
        };
        self.select(target)
    }

    /// Space: into the multi-selection (or out), then down.
    pub fn toggle_selected(&mut self) {
        let Some(id) = self.selected_item().map(|i| i.approval.sys_id.clone()) else {
            return;
        };
        if !self.selection.remove(&id) {
            self.selection.insert(id);
        }
        self.select(self.selected + 1);
    }

    /// The approvals a decision is for: the multi-selection in queue order, else the
    /// selected row.
    pub fn chosen(&self) -> Vec<&QueueItem> {
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
}

/// The person whose approval this is when `me` decides it as their delegate.
pub fn on_behalf_of<'a>(a: &'a Approval, me: Option<&str>) -> Option<&'a UserRef> {
    let me = me?;
    (!a.approver.sys_id.is_empty() && a.approver.sys_id != me).then_some(&a.approver)
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
