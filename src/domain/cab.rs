//! CAB meetings: a meeting with an ordered agenda of changes, a timebox per item, attendees,
//! a decision per change, minutes. Pure rules: how a chair moves a meeting along (the CAB
//! Workbench's behaviour, domain reference §1.7), the item timer, what needs the chair's
//! attention before the meeting, and the minutes. Time is always passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::{Approval, ApprovalState, Change, UserRef};
use super::policy::{Policy, RiskTier};
use super::text::{MAX_LINE, MAX_TEXT, cap_chars, clean_line, is_record_id, sanitize_multiline};

fn check_id(what: &str, id: &str) -> Result<(), String> {
    if is_record_id(id) {
        Ok(())
    } else {
        Err(format!(
            "its {what} {:?} is missing or not an identifier",
            clean_line(id, 40)
        ))
    }
}

/// Where a meeting stands (`cab_meeting.state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingState {
    Pending,
    InProgress,
    Complete,
    Canceled,
    #[serde(untagged)]
    Other(String),
}

impl MeetingState {
    pub fn from_value(v: &str) -> MeetingState {
        match v.trim() {
            "pending" | "" => MeetingState::Pending,
            "in_progress" => MeetingState::InProgress,
            "complete" => MeetingState::Complete,
            "canceled" | "cancelled" => MeetingState::Canceled,
            other => MeetingState::Other(clean_line(other, 40)),
        }
    }
    pub fn value(&self) -> &str {
        match self {
            MeetingState::Pending => "pending",
            MeetingState::InProgress => "in_progress",
            MeetingState::Complete => "complete",
            MeetingState::Canceled => "canceled",
            MeetingState::Other(s) => s,
        }
    }
    pub fn label(&self) -> &str {
        match self {
            MeetingState::Pending => "upcoming",
            MeetingState::InProgress => "in progress",
            MeetingState::Complete => "complete",
            MeetingState::Canceled => "canceled",
            MeetingState::Other(s) => s,
        }
    }
}

/// Where an agenda item stands (`cab_agenda_item.state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    InProgress,
    Paused,
    Complete,
    NoDecision,
    #[serde(untagged)]
    Other(String),
}

impl ItemState {
    pub fn from_value(v: &str) -> ItemState {
        match v.trim() {
            "pending" | "" => ItemState::Pending,
            "in_progress" => ItemState::InProgress,
            "paused" => ItemState::Paused,
            "complete" => ItemState::Complete,
            "no_decision" => ItemState::NoDecision,
            other => ItemState::Other(clean_line(other, 40)),
        }
    }
    pub fn value(&self) -> &str {
        match self {
            ItemState::Pending => "pending",
            ItemState::InProgress => "in_progress",
            ItemState::Paused => "paused",
            ItemState::Complete => "complete",
            ItemState::NoDecision => "no_decision",
            ItemState::Other(s) => s,
        }
    }
    pub fn label(&self) -> &str {
        match self {
            ItemState::Pending => "pending",
            ItemState::InProgress => "in discussion",
            ItemState::Paused => "paused",
            ItemState::Complete => "complete",
            ItemState::NoDecision => "no decision",
            ItemState::Other(s) => s,
        }
    }
    /// Being discussed (running or paused).
    pub fn is_current(&self) -> bool {
        matches!(self, ItemState::InProgress | ItemState::Paused)
    }
    /// Closed by the chair (complete or without a decision).
    pub fn is_closed(&self) -> bool {
        matches!(self, ItemState::Complete | ItemState::NoDecision)
    }
}

/// The board's decision on an item (`cab_agenda_item.decision`), which follows the change's
/// approval on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemDecision {
    Undecided,
    Approved,
    Rejected,
    Preapproved,
    #[serde(untagged)]
    Other(String),
}

impl ItemDecision {
    pub fn from_value(v: &str) -> ItemDecision {
        match v.trim() {
            "" => ItemDecision::Undecided,
            "approved" => ItemDecision::Approved,
            "rejected" => ItemDecision::Rejected,
            "preapproved" => ItemDecision::Preapproved,
            other => ItemDecision::Other(clean_line(other, 40)),
        }
    }
    pub fn value(&self) -> &str {
        match self {
            ItemDecision::Undecided => "",
            ItemDecision::Approved => "approved",
            ItemDecision::Rejected => "rejected",
            ItemDecision::Preapproved => "preapproved",
            ItemDecision::Other(s) => s,
        }
    }
    pub fn label(&self) -> &str {
        match self {
            ItemDecision::Undecided => "undecided",
            ItemDecision::Approved => "approved",
            ItemDecision::Rejected => "rejected",
            ItemDecision::Preapproved => "pre-approved",
            ItemDecision::Other(s) => s,
        }
    }
}

/// Why someone is on the attendee list (`cab_attendee.reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeReason {
    Manager,
    Board,
    Attendee,
    #[serde(untagged)]
    Other(String),
}

impl AttendeeReason {
    pub fn from_value(v: &str) -> AttendeeReason {
        match v.trim() {
            "cab_manager" => AttendeeReason::Manager,
            "cab_board" => AttendeeReason::Board,
            "attendee" | "" => AttendeeReason::Attendee,
            other => AttendeeReason::Other(clean_line(other, 40)),
        }
    }
    pub fn label(&self) -> &str {
        match self {
            AttendeeReason::Manager => "chair",
            AttendeeReason::Board => "board",
            AttendeeReason::Attendee => "attendee",
            AttendeeReason::Other(s) => s,
        }
    }
}

/// Whether an attendee is there (`cab_attendee.attendance`; only two values are known, the
/// rest is shown as the instance says it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    NoResponse,
    Attending,
    NotAttending,
    #[serde(untagged)]
    Other(String),
}

impl Attendance {
    pub fn from_value(v: &str) -> Attendance {
        match v.trim() {
            "" => Attendance::NoResponse,
            "attending" => Attendance::Attending,
            "not_attending" => Attendance::NotAttending,
            other => Attendance::Other(clean_line(other, 40)),
        }
    }
    pub fn label(&self) -> &str {
        match self {
            Attendance::NoResponse => "no response",
            Attendance::Attending => "attending",
            Attendance::NotAttending => "not attending",
            Attendance::Other(s) => s,
        }
    }
}

/// One CAB meeting. Text is sanitised; the notes are the meeting notes as plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub sys_id: String,
    pub name: String,
    pub state: MeetingState,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub manager: UserRef,
    pub delegates: Vec<UserRef>,
    pub board_members: Vec<UserRef>,
    /// The meeting notes, as text (the instance keeps HTML).
    pub notes: String,
    /// Default time per agenda item, in seconds.
    pub time_per_item: i64,
    pub complete_preapproved: bool,
    pub auto_add_decisions: bool,
    pub agenda_locked: bool,
    pub conference: String,
    pub sys_updated_on: Option<DateTime<Utc>>,
}

/// How a user takes part in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The meeting's manager.
    Chair,
    /// A listed delegate: may host instead of the manager.
    Delegate,
    Board,
    Attendee,
    /// Not on the meeting at all (can still read it).
    Observer,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Chair => "chair",
            Role::Delegate => "delegate chair",
            Role::Board => "board member",
            Role::Attendee => "attendee",
            Role::Observer => "observer",
        }
    }
    /// May run the meeting (start it, move it, end it).
    pub fn hosts(self) -> bool {
        matches!(self, Role::Chair | Role::Delegate)
    }
}

impl Meeting {
    pub fn sanitize(&mut self) -> Result<(), String> {
        let Meeting {
            sys_id,
            name,
            state: _,
            start: _,
            end: _,
            actual_end: _,
            manager,
            delegates,
            board_members,
            notes,
            time_per_item,
            complete_preapproved: _,
            auto_add_decisions: _,
            agenda_locked: _,
            conference,
            sys_updated_on: _,
        } = self;
        check_id("meeting sys_id", sys_id)?;
        *name = clean_line(name, MAX_LINE);
        *conference = clean_line(conference, MAX_LINE);
        *notes = cap_chars(&sanitize_multiline(notes), MAX_TEXT);
        *time_per_item = (*time_per_item).clamp(0, 24 * 3600);
        manager.sanitize()?;
        for u in delegates.iter_mut().chain(board_members.iter_mut()) {
            u.sanitize()?;
        }
        Ok(())
    }

    /// How `user_sys_id` takes part: chair, delegate chair, board member, attendee (from the
    /// attendee list), or an observer.
    pub fn role_of(&self, user_sys_id: &str, attendees: &[Attendee]) -> Role {
        if self.manager.sys_id == user_sys_id {
            Role::Chair
        } else if self.delegates.iter().any(|d| d.sys_id == user_sys_id) {
            Role::Delegate
        } else if self.board_members.iter().any(|d| d.sys_id == user_sys_id) {
            Role::Board
        } else if attendees.iter().any(|a| a.user.sys_id == user_sys_id) {
            Role::Attendee
        } else {
            Role::Observer
        }
    }

    /// Whether this looks like an emergency CAB (by its name: the workbench has no flag).
    pub fn is_emergency(&self) -> bool {
        let n = self.name.to_lowercase();
        n.contains("emergency") || n.contains("ecab")
    }
}

/// One item on a meeting's agenda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaItem {
    pub sys_id: String,
    pub change_sys_id: String,
    /// The change's number (from the item's reference), for display before the change is read.
    pub number: String,
    pub short_description: String,
    pub order: i64,
    pub state: ItemState,
    pub decision: ItemDecision,
    /// Allotted time, seconds.
    pub allotted: i64,
    /// Time banked while discussed, seconds (the running part is on the runtime state).
    pub elapsed: i64,
    /// When the item was put on the agenda.
    pub added_at: Option<DateTime<Utc>>,
    pub sys_updated_on: Option<DateTime<Utc>>,
}

impl AgendaItem {
    pub fn sanitize(&mut self) -> Result<(), String> {
        check_id("agenda item sys_id", &self.sys_id)?;
        if !self.change_sys_id.is_empty() {
            check_id("change sys_id", &self.change_sys_id)?;
        }
        self.number = clean_line(&self.number, 40);
        self.short_description = clean_line(&self.short_description, MAX_LINE);
        self.allotted = self.allotted.clamp(0, 24 * 3600);
        self.elapsed = self.elapsed.clamp(0, 7 * 24 * 3600);
        Ok(())
    }
}

/// One person on a meeting's attendee list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendee {
    pub sys_id: String,
    pub user: UserRef,
    pub reason: AttendeeReason,
    pub attendance: Attendance,
    /// The changes they attend for (sys_ids).
    pub for_changes: Vec<String>,
    pub joined_at: Option<DateTime<Utc>>,
}

impl Attendee {
    pub fn sanitize(&mut self) -> Result<(), String> {
        check_id("attendee sys_id", &self.sys_id)?;
        self.user.sanitize()?;
        self.for_changes.retain(|id| is_record_id(id));
        Ok(())
    }

    /// Not known to be away: attending, or not (yet) answered.
    pub fn may_be_present(&self) -> bool {
        !matches!(self.attendance, Attendance::NotAttending)
    }
}

/// The live cursor of a meeting (`cab_runtime_state`): which item is discussed since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    pub sys_id: String,
    pub current_item: Option<String>,
    pub current_start: Option<DateTime<Utc>>,
    pub timer_state: String,
    pub host: UserRef,
    pub agenda_update_at: Option<DateTime<Utc>>,
}

impl Runtime {
    pub fn sanitize(&mut self) -> Result<(), String> {
        check_id("runtime sys_id", &self.sys_id)?;
        if let Some(id) = &self.current_item
            && !is_record_id(id)
        {
            self.current_item = None;
        }
        self.timer_state = clean_line(&self.timer_state, 40);
        self.host.sanitize()
    }
}

/// An approval on an agenda change, with the comment of its decision when it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaApproval {
    pub approval: Approval,
    /// The latest comment on the approval (the justification of a decision), as text.
    pub comment: String,
}

/// A meeting as the chair and attendees see it: agenda (in order), attendees, the live
/// cursor, and each agenda change with its approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingDetail {
    pub meeting: Meeting,
    pub items: Vec<AgendaItem>,
    pub attendees: Vec<Attendee>,
    pub runtime: Option<Runtime>,
    /// The agenda's changes the user may read.
    pub changes: Vec<Change>,
    pub approvals: Vec<AgendaApproval>,
    /// False when the instance showed only the user's own approvals (plain approvers cannot
    /// read everyone's): who has not voted is then unknown.
    pub all_approvals: bool,
}

/// A meeting as signoff read it for the screen: fresh from the instance or (offline, `fresh`
/// false) as cached, with what waits here on it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingRead {
    pub sys_id: String,
    pub detail: Option<Box<MeetingDetail>>,
    pub fetched_at: Option<DateTime<Utc>>,
    pub fresh: bool,
    pub error: Option<String>,
    /// The chair's moves on it not delivered yet.
    pub waiting_moves: usize,
    /// Notes typed on its items here: (item sys_id, text), oldest first.
    pub notes: Vec<(String, String)>,
}

/// A move of the meeting, as the chair makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    Start,
    Next,
    Back,
    Defer,
    Pause,
    Resume,
    End,
}

impl Move {
    pub fn verb(self) -> &'static str {
        match self {
            Move::Start => "start",
            Move::Next => "next",
            Move::Back => "back",
            Move::Defer => "defer",
            Move::Pause => "pause",
            Move::Resume => "resume",
            Move::End => "end",
        }
    }
    pub fn parse(s: &str) -> Option<Move> {
        Some(match s {
            "start" => Move::Start,
            "next" => Move::Next,
            "back" => Move::Back,
            "defer" => Move::Defer,
            "pause" => Move::Pause,
            "resume" => Move::Resume,
            "end" => Move::End,
            _ => return None,
        })
    }
}

/// Where a chair's move stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveStatus {
    Queued,
    Sending,
    Applied,
    /// The meeting was not where the move expected it; nothing was written.
    Conflict(String),
    Failed(String),
}

/// Where a meeting stands, as a move expects to find it: a move made offline is applied only
/// if the meeting is still there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub state: MeetingState,
    pub current: Option<String>,
    pub paused: bool,
}

/// What a move writes: only the fields that change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MoveWrites {
    pub meeting: Option<MeetingUpdate>,
    pub items: Vec<ItemUpdate>,
    pub runtime: Option<RuntimeUpdate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingUpdate {
    pub sys_id: String,
    pub state: Option<MeetingState>,
    pub actual_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemUpdate {
    pub sys_id: String,
    pub state: Option<ItemState>,
    pub decision: Option<ItemDecision>,
    pub elapsed: Option<i64>,
    pub order: Option<i64>,
}

/// The runtime row to write (`sys_id` `None`: it does not exist yet and is created).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeUpdate {
    pub sys_id: Option<String>,
    pub meeting_sys_id: String,
    /// `Some(None)` clears it.
    pub current_item: Option<Option<String>>,
    pub current_start: Option<DateTime<Utc>>,
    pub timer_state: Option<String>,
    pub host: Option<String>,
    pub agenda_update_at: DateTime<Utc>,
}

impl MoveWrites {
    pub fn is_empty(&self) -> bool {
        self.meeting.is_none() && self.items.is_empty() && self.runtime.is_none()
    }
}

/// The item timer: how long an item has been discussed against its allotted time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub allotted: i64,
    pub spent: i64,
    pub running: bool,
}

/// What the timer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerState {
    /// Time left, in seconds.
    Left(i64),
    /// Exactly at the allotted time.
    Due,
    /// Past it, by seconds.
    Overrun(i64),
}

impl Timer {
    pub fn state(&self) -> TimerState {
        let left = self.allotted - self.spent;
        match left {
            l if l > 0 => TimerState::Left(l),
            0 => TimerState::Due,
            l => TimerState::Overrun(-l),
        }
    }
}

/// A change on the agenda whose window overlaps another agenda change's on the same
/// configuration item or assignment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collision {
    pub item: String,
    pub with_item: String,
    pub with_number: String,
    /// "edge-router-ams-2" (the CI) or "group Network Operations".
    pub on: String,
}

impl MeetingDetail {
    /// Cleans every server string and checks the ids; sorts the agenda by order.
    pub fn sanitize(&mut self) -> Result<(), String> {
        self.meeting.sanitize()?;
        for i in &mut self.items {
            i.sanitize()?;
        }
        self.items.sort_by_key(|i| (i.order, i.sys_id.clone()));
        for a in &mut self.attendees {
            a.sanitize()?;
        }
        if let Some(r) = &mut self.runtime {
            r.sanitize()?;
        }
        for c in &mut self.changes {
            c.sanitize()?;
        }
        for a in &mut self.approvals {
            a.approval.sanitize()?;
            a.comment = cap_chars(&sanitize_multiline(&a.comment), MAX_TEXT);
        }
        Ok(())
    }

    pub fn item(&self, sys_id: &str) -> Option<&AgendaItem> {
        self.items.iter().find(|i| i.sys_id == sys_id)
    }

    pub fn change_of(&self, item: &AgendaItem) -> Option<&Change> {
        self.changes.iter().find(|c| c.sys_id == item.change_sys_id)
    }

    /// The approvals on an agenda item's change.
    pub fn approvals_of<'a>(
        &'a self,
        item: &'a AgendaItem,
    ) -> impl Iterator<Item = &'a AgendaApproval> + 'a {
        self.approvals
            .iter()
            .filter(move |a| a.approval.change.sys_id == item.change_sys_id)
    }

    /// Approvals still open on an item's change (requested).
    pub fn open_approvals<'a>(
        &'a self,
        item: &'a AgendaItem,
    ) -> impl Iterator<Item = &'a AgendaApproval> + 'a {
        self.approvals_of(item)
            .filter(|a| a.approval.state == ApprovalState::Requested)
    }

    /// The item being discussed: the runtime's current item while it is running or paused,
    /// else the first item in discussion.
    pub fn current(&self) -> Option<&AgendaItem> {
        if let Some(id) = self
            .runtime
            .as_ref()
            .and_then(|r| r.current_item.as_deref())
            && let Some(item) = self.item(id)
            && item.state.is_current()
        {
            return Some(item);
        }
        self.items.iter().find(|i| i.state.is_current())
    }

    pub fn cursor(&self) -> Cursor {
        let current = self.current();
        Cursor {
            state: self.meeting.state.clone(),
            current: current.map(|i| i.sys_id.clone()),
            paused: current.is_some_and(|i| i.state == ItemState::Paused),
        }
    }

    /// An item's timer at `now`.
    pub fn timer(&self, item: &AgendaItem, now: DateTime<Utc>) -> Timer {
        let running = item.state == ItemState::InProgress;
        let live = if running {
            self.running_since(item)
                .map_or(0, |s| (now - s).num_seconds().max(0))
        } else {
            0
        };
        Timer {
            allotted: item.allotted,
            spent: item.elapsed + live,
            running,
        }
    }

    fn running_since(&self, item: &AgendaItem) -> Option<DateTime<Utc>> {
        let r = self.runtime.as_ref()?;
        (r.current_item.as_deref() == Some(item.sys_id.as_str()))
            .then_some(r.current_start)
            .flatten()
    }

    /// Time discussed over the whole meeting and the time allotted to all its items.
    pub fn totals(&self, now: DateTime<Utc>) -> (i64, i64) {
        self.items.iter().fold((0, 0), |(spent, allotted), i| {
            (spent + self.timer(i, now).spent, allotted + i.allotted)
        })
    }

    /// Pairs of agenda changes whose windows overlap on the same configuration item or
    /// assignment group, for each item (both ways).
    pub fn collisions(&self) -> Vec<Collision> {
        let mut out = Vec::new();
        for a in &self.items {
            let Some(ca) = self.change_of(a) else {
                continue;
            };
            for b in &self.items {
                if a.sys_id == b.sys_id {
                    continue;
                }
                let Some(cb) = self.change_of(b) else {
                    continue;
                };
                let (Some(sa), Some(ea), Some(sb), Some(eb)) =
                    (ca.start_date, ca.end_date, cb.start_date, cb.end_date)
                else {
                    continue;
                };
                if !(sa < eb && sb < ea) {
                    continue;
                }
                let on = if !ca.configuration_item.is_empty()
                    && ca.configuration_item == cb.configuration_item
                {
                    ca.configuration_item.clone()
                } else if !ca.assignment_group.is_empty()
                    && ca.assignment_group == cb.assignment_group
                {
                    format!("group {}", ca.assignment_group)
                } else {
                    continue;
                };
                out.push(Collision {
                    item: a.sys_id.clone(),
                    with_item: b.sys_id.clone(),
                    with_number: cb.number.clone(),
                    on,
                });
            }
        }
        out
    }

    /// What needs the chair's attention on an item before (or during) the meeting, one
    /// sentence each: collisions, a change on hold, a change edited since it was put on the
    /// agenda, approvals nobody present can decide.
    pub fn attention(&self, item: &AgendaItem, policy: &Policy, tier: RiskTier) -> Vec<String> {
        self.attention_among(item, policy, tier, &self.collisions())
    }

    /// [`MeetingDetail::attention`] with the agenda's collisions worked out once already (a
    /// screen asks it of every item).
    pub fn attention_among(
        &self,
        item: &AgendaItem,
        policy: &Policy,
        tier: RiskTier,
        collisions: &[Collision],
    ) -> Vec<String> {
        let mut out = Vec::new();
        for c in collisions.iter().filter(|c| c.item == item.sys_id) {
            out.push(format!(
                "Collides with {} on {}: their windows overlap.",
                c.with_number, c.on
            ));
        }
        if let Some(change) = self.change_of(item) {
            if change.on_hold {
                out.push("The change is on hold: its approvals are suspended.".into());
            }
            // Once the board has decided, an edit (the decision's own, say) is history.
            let open = !item.state.is_closed() && item.decision == ItemDecision::Undecided;
            if let (true, Some(updated), Some(added)) = (open, change.sys_updated_on, item.added_at)
                && updated > added
            {
                out.push("The change was edited after it was put on the agenda.".into());
            }
        }
        // Each approver nobody present can stand in for: not invited, or not attending.
        let absent: Vec<String> = self
            .open_approvals(item)
            .filter_map(|a| {
                let listed = self
                    .attendees
                    .iter()
                    .find(|p| p.user.sys_id == a.approval.approver.sys_id);
                let why = match listed {
                    None => "not invited",
                    Some(p) if !p.may_be_present() => "not attending",
                    Some(_) => return None,
                };
                Some(format!("{} ({why})", a.approval.approver.label()))
            })
            .collect();
        if !absent.is_empty() {
            let who = absent.join(", ");
            let chase = match policy.fallback.get(&tier) {
                Some(f) => format!("chase {f}"),
                None => format!(
                    "no fallback approver is set for {} changes in the policy",
                    tier.label()
                ),
            };
            out.push(format!(
                "No one present can decide the approval{} of {who}; {chase}.",
                if absent.len() == 1 { "" } else { "s" }
            ));
        }
        out
    }

    /// The meeting after `mv` made by `host` at `now`, or why the move cannot be made now.
    /// The rules follow the CAB Workbench (domain reference §1.7).
    pub fn moved(
        &self,
        mv: Move,
        host: &UserRef,
        now: DateTime<Utc>,
    ) -> Result<MeetingDetail, String> {
        let mut d = self.clone();
        let in_progress = d.meeting.state == MeetingState::InProgress;
        match mv {
            Move::Start => {
                match d.meeting.state {
                    MeetingState::Pending => {}
                    MeetingState::InProgress => {
                        return Err("The meeting is already in progress.".into());
                    }
                    ref s => {
                        return Err(format!(
                            "The meeting is {}; it cannot be started again.",
                            s.label()
                        ));
                    }
                }
                let first = d
                    .next_pending(None)
                    .ok_or("The agenda has nothing to discuss; add changes to it first.")?;
                d.meeting.state = MeetingState::InProgress;
                d.open(&first, host, now);
            }
            Move::Next => {
                if !in_progress {
                    return Err(not_running(&d.meeting.state));
                }
                let current = d.current().map(|i| i.sys_id.clone());
                if let Some(id) = &current {
                    d.close(id, now);
                }
                match d.next_pending(None) {
                    Some(next) => d.open(&next, host, now),
                    None if current.is_some() => d.idle(host, now),
                    None => return Err("Every item has been discussed; end the meeting.".into()),
                }
            }
            Move::Back => {
                if !in_progress {
                    return Err(not_running(&d.meeting.state));
                }
                let current = d.current().cloned();
                let previous = d
                    .items
                    .iter()
                    .filter(|i| i.state.is_closed())
                    .filter(|i| current.as_ref().is_none_or(|c| i.order < c.order))
                    .max_by_key(|i| i.order)
                    .map(|i| i.sys_id.clone())
                    .ok_or("There is no earlier item to go back to.")?;
                if let Some(c) = &current {
                    d.bank(&c.sys_id, now);
                    d.set_state(&c.sys_id, ItemState::Pending);
                }
                d.open(&previous, host, now);
            }
            Move::Defer => {
                if !in_progress {
                    return Err(not_running(&d.meeting.state));
                }
                let current = d
                    .current()
                    .map(|i| i.sys_id.clone())
                    .ok_or("No item is being discussed.")?;
                let next = d
                    .next_pending(Some(&current))
                    .ok_or("Nothing else is waiting on the agenda; close this item with next.")?;
                d.bank(&current, now);
                let last = d
                    .items
                    .iter()
                    .filter(|i| i.state == ItemState::Pending)
                    .map(|i| i.order)
                    .max()
                    .unwrap_or(0);
                if let Some(item) = d.items.iter_mut().find(|i| i.sys_id == current) {
                    item.state = ItemState::Pending;
                    item.order = last + 100;
                }
                d.items.sort_by_key(|i| (i.order, i.sys_id.clone()));
                d.open(&next, host, now);
            }
            Move::Pause => {
                let current = d.current().cloned().ok_or("No item is being discussed.")?;
                if current.state == ItemState::Paused {
                    return Err("The item is already paused.".into());
                }
                d.bank(&current.sys_id, now);
                d.set_state(&current.sys_id, ItemState::Paused);
                d.runtime_mut(host, now).timer_state = "paused".into();
            }
            Move::Resume => {
                let current = d.current().cloned().ok_or("No item is being discussed.")?;
                if current.state != ItemState::Paused {
                    return Err("The item is not paused.".into());
                }
                d.set_state(&current.sys_id, ItemState::InProgress);
                let r = d.runtime_mut(host, now);
                r.current_start = Some(now);
                r.timer_state = "running".into();
            }
            Move::End => {
                if !in_progress {
                    return Err(not_running(&d.meeting.state));
                }
                if let Some(id) = d.current().map(|i| i.sys_id.clone()) {
                    d.close(&id, now);
                }
                d.meeting.state = MeetingState::Complete;
                d.meeting.actual_end = Some(now);
                d.idle(host, now);
            }
        }
        Ok(d)
    }

    /// What the server needs written to go from this meeting to `after`.
    pub fn writes_to(&self, after: &MeetingDetail) -> MoveWrites {
        let mut w = MoveWrites::default();
        let (a, b) = (&self.meeting, &after.meeting);
        if a.state != b.state || a.actual_end != b.actual_end {
            w.meeting = Some(MeetingUpdate {
                sys_id: b.sys_id.clone(),
                state: (a.state != b.state).then(|| b.state.clone()),
                actual_end: if a.actual_end != b.actual_end {
                    b.actual_end
                } else {
                    None
                },
            });
        }
        for new in &after.items {
            let Some(old) = self.item(&new.sys_id) else {
                continue;
            };
            let u = ItemUpdate {
                sys_id: new.sys_id.clone(),
                state: (old.state != new.state).then(|| new.state.clone()),
                decision: (old.decision != new.decision).then(|| new.decision.clone()),
                elapsed: (old.elapsed != new.elapsed).then_some(new.elapsed),
                order: (old.order != new.order).then_some(new.order),
            };
            if u.state.is_some() || u.decision.is_some() || u.elapsed.is_some() || u.order.is_some()
            {
                w.items.push(u);
            }
        }
        if let Some(new) = &after.runtime
            && self.runtime.as_ref() != Some(new)
        {
            let old = self.runtime.as_ref().filter(|o| o.sys_id == new.sys_id);
            let differs = |f: &dyn Fn(&Runtime) -> bool| old.is_none_or(f);
            w.runtime = Some(RuntimeUpdate {
                sys_id: old.map(|o| o.sys_id.clone()),
                meeting_sys_id: after.meeting.sys_id.clone(),
                current_item: differs(&|o| o.current_item != new.current_item)
                    .then(|| new.current_item.clone()),
                current_start: if differs(&|o| o.current_start != new.current_start) {
                    new.current_start
                } else {
                    None
                },
                timer_state: differs(&|o| o.timer_state != new.timer_state)
                    .then(|| new.timer_state.clone()),
                host: differs(&|o| o.host.sys_id != new.host.sys_id)
                    .then(|| new.host.sys_id.clone()),
                agenda_update_at: new.agenda_update_at.unwrap_or_default(),
            });
        }
        w
    }

    /// The first pending item in agenda order, other than `except`.
    fn next_pending(&self, except: Option<&str>) -> Option<String> {
        self.items
            .iter()
            .filter(|i| i.state == ItemState::Pending && Some(i.sys_id.as_str()) != except)
            .min_by_key(|i| i.order)
            .map(|i| i.sys_id.clone())
    }

    fn set_state(&mut self, id: &str, state: ItemState) {
        if let Some(i) = self.items.iter_mut().find(|i| i.sys_id == id) {
            i.state = state;
        }
    }

    /// Adds the running time of the item to its elapsed time.
    fn bank(&mut self, id: &str, now: DateTime<Utc>) {
        let Some(item) = self.item(id).cloned() else {
            return;
        };
        if item.state != ItemState::InProgress {
            return;
        }
        let live = self
            .running_since(&item)
            .map_or(0, |s| (now - s).num_seconds().max(0));
        if let Some(i) = self.items.iter_mut().find(|i| i.sys_id == id) {
            i.elapsed += live;
        }
        if let Some(r) = &mut self.runtime {
            r.current_start = Some(now);
        }
    }

    /// Closes an item (§1.7, "next"): without a decision it has none; with one it is
    /// complete, and taken as approved unless pre-approved or rejected.
    fn close(&mut self, id: &str, now: DateTime<Utc>) {
        self.bank(id, now);
        if let Some(i) = self.items.iter_mut().find(|i| i.sys_id == id) {
            if i.decision == ItemDecision::Undecided {
                i.state = ItemState::NoDecision;
            } else {
                i.state = ItemState::Complete;
                if !matches!(
                    i.decision,
                    ItemDecision::Preapproved | ItemDecision::Rejected
                ) {
                    i.decision = ItemDecision::Approved;
                }
            }
        }
    }

    /// Makes an item the one discussed, its timer running from `now`.
    fn open(&mut self, id: &str, host: &UserRef, now: DateTime<Utc>) {
        self.set_state(id, ItemState::InProgress);
        let r = self.runtime_mut(host, now);
        r.current_item = Some(id.to_string());
        r.current_start = Some(now);
        r.timer_state = "running".into();
    }

    /// No item is discussed.
    fn idle(&mut self, host: &UserRef, now: DateTime<Utc>) {
        let r = self.runtime_mut(host, now);
        r.current_item = None;
        r.timer_state = "stopped".into();
    }

    fn runtime_mut(&mut self, host: &UserRef, now: DateTime<Utc>) -> &mut Runtime {
        let r = self.runtime.get_or_insert_with(|| Runtime {
            sys_id: String::new(),
            current_item: None,
            current_start: None,
            timer_state: String::new(),
            host: host.clone(),
            agenda_update_at: None,
        });
        r.host = host.clone();
        r.agenda_update_at = Some(now);
        r
    }
}

fn not_running(state: &MeetingState) -> String {
    match state {
        MeetingState::Pending => "The meeting has not started; start it first.".into(),
        s => format!("The meeting is {}.", s.label()),
    }
}

/// A meeting's minutes: who was there, and per item the decision, who decided and why, the
/// time spent against the time allotted, and the notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minutes {
    pub meeting: String,
    pub state: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// When the meeting was ended, if it was.
    pub ended: Option<DateTime<Utc>>,
    pub chair: String,
    pub attendees: Vec<MinutesAttendee>,
    pub items: Vec<MinutesItem>,
    pub spent_seconds: i64,
    pub allotted_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinutesAttendee {
    pub name: String,
    pub role: String,
    pub attendance: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinutesItem {
    pub number: String,
    pub title: String,
    pub state: String,
    pub decision: String,
    /// In words: `Approved`, `No decision`, `Not discussed`.
    pub outcome: String,
    pub decided_by: Vec<MinutesVote>,
    pub waiting_for: Vec<String>,
    pub spent_seconds: i64,
    pub allotted_seconds: i64,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinutesVote {
    pub approver: String,
    /// Who decided, when a delegate did it for the approver.
    pub by_delegate: Option<String>,
    pub decision: String,
    pub justification: String,
}

/// The justification of a decision from its comment, and who made it when it was a delegate
/// (from signoff's "(decided by … on behalf of …)" line): signoff's reference line and that
/// line are bookkeeping, not the reason.
pub fn justification_of(comment: &str) -> (String, Option<String>) {
    let mut by = None;
    let kept: Vec<&str> = comment
        .lines()
        .filter(|l| {
            let t = l.trim();
            if t.starts_with("[signoff ref") {
                return false;
            }
            if let Some(rest) = t.strip_prefix("(decided by ")
                && let Some((who, _)) = rest.split_once(" on behalf of ")
                && t.ends_with(')')
            {
                by = Some(who.trim().to_string());
                return false;
            }
            true
        })
        .collect();
    (kept.join("\n").trim().to_string(), by)
}

impl MeetingDetail {
    /// The minutes at `now`, with the chair's notes per item (by item sys_id).
    pub fn minutes(&self, notes: &BTreeMap<String, Vec<String>>, now: DateTime<Utc>) -> Minutes {
        let items: Vec<MinutesItem> = self
            .items
            .iter()
            .map(|item| {
                let timer = self.timer(item, now);
                let title = self
                    .change_of(item)
                    .map_or(item.short_description.clone(), |c| {
                        c.short_description.clone()
                    });
                let decided_by = self
                    .approvals_of(item)
                    .filter(|a| {
                        matches!(
                            a.approval.state,
                            ApprovalState::Approved | ApprovalState::Rejected
                        )
                    })
                    .map(|a| {
                        let (justification, by_delegate) = justification_of(&a.comment);
                        MinutesVote {
                            approver: a.approval.approver.label().to_string(),
                            by_delegate,
                            decision: a.approval.state.value().to_string(),
                            justification,
                        }
                    })
                    .collect();
                let outcome = match (&item.decision, &item.state) {
                    (ItemDecision::Undecided, s) if s.is_closed() => "No decision".to_string(),
                    (ItemDecision::Undecided, s) if s.is_current() => "In discussion".to_string(),
                    (ItemDecision::Undecided, _) => "Not discussed".to_string(),
                    (d, _) => capitalise(d.label()),
                };
                MinutesItem {
                    number: item.number.clone(),
                    title,
                    state: item.state.label().to_string(),
                    decision: item.decision.label().to_string(),
                    outcome,
                    decided_by,
                    waiting_for: self
                        .open_approvals(item)
                        .map(|a| a.approval.approver.label().to_string())
                        .collect(),
                    spent_seconds: timer.spent,
                    allotted_seconds: item.allotted,
                    notes: notes.get(&item.sys_id).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let (spent, allotted) = self.totals(now);
        Minutes {
            meeting: self.meeting.name.clone(),
            state: self.meeting.state.label().to_string(),
            start: self.meeting.start,
            end: self.meeting.end,
            ended: self.meeting.actual_end,
            chair: self.meeting.manager.label().to_string(),
            attendees: self
                .attendees
                .iter()
                .map(|a| MinutesAttendee {
                    name: a.user.label().to_string(),
                    role: a.reason.label().to_string(),
                    attendance: a.attendance.label().to_string(),
                })
                .collect(),
            items,
            spent_seconds: spent,
            allotted_seconds: allotted,
        }
    }
}

/// `12m 05s`, `1h 02m`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

impl Minutes {
    /// The minutes as Markdown (times in UTC).
    pub fn to_markdown(&self) -> String {
        let when = |t: Option<DateTime<Utc>>| {
            t.map_or("—".to_string(), |t| {
                t.format("%Y-%m-%d %H:%M UTC").to_string()
            })
        };
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = format!("# Minutes: {}\n\n", self.meeting);
        out.push_str(&format!(
            "- Chair: {}\n- Scheduled: {} to {}\n",
            self.chair,
            when(self.start),
            when(self.end),
        ));
        if self.ended.is_some() {
            out.push_str(&format!("- Ended: {}\n", when(self.ended)));
        }
        out.push_str(&format!(
            "- State: {}\n- Time: {} spent of {} allotted\n\n",
            self.state,
            span(self.spent_seconds),
            span(self.allotted_seconds)
        ));
        out.push_str("## Attendees\n\n| Name | Role | Attendance |\n|---|---|---|\n");
        for a in &self.attendees {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&a.name),
                a.role,
                a.attendance
            ));
        }
        out.push_str("\n## Agenda\n");
        for (n, i) in self.items.iter().enumerate() {
            out.push_str(&format!(
                "\n### {}. {} — {}\n\n- Outcome: {}\n- Time: {} of {}\n",
                n + 1,
                i.number,
                i.title,
                i.outcome,
                span(i.spent_seconds),
                span(i.allotted_seconds)
            ));
            for v in &i.decided_by {
                let why = if v.justification.is_empty() {
                    String::new()
                } else {
                    format!(": “{}”", v.justification.replace('\n', " "))
                };
                let who = match &v.by_delegate {
                    Some(by) => format!("{by} for {}", v.approver),
                    None => v.approver.clone(),
                };
                out.push_str(&format!("- {} by {who}{why}\n", capitalise(&v.decision)));
            }
            if !i.waiting_for.is_empty() {
                out.push_str(&format!(
                    "- Not yet decided by: {}\n",
                    i.waiting_for.join(", ")
                ));
            }
            for note in &i.notes {
                out.push_str(&format!("- Note: {}\n", note.replace('\n', " ")));
            }
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The meeting notes as text: paragraphs and line breaks become lines, other tags go, the
/// common entities are decoded. (The instance keeps the notes as HTML.)
pub fn notes_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        if tag == "br"
            || tag == "br/"
            || tag == "br /"
            || tag == "/p"
            || tag == "/div"
            || tag == "/li"
        {
            out.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Escapes text for the instance's HTML notes.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The line signoff appends to the meeting notes for an item's notes: `CHG0030001 notes:
/// text`, recognisable when the minutes are written from the instance's copy.
pub fn note_line(number: &str, note: &str) -> String {
    format!("{number} notes: {}", note.replace('\n', " "))
}

/// The chair's notes found in the meeting notes (as text), by change number.
pub fn notes_from_text(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((number, note)) = line.split_once(" notes: ")
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_alphanumeric())
        {
            out.entry(number.to_string())
                .or_default()
                .push(note.trim().to_string());
        }
    }
    out
}

/// A meeting in the meetings list, with the size of its agenda.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingSummary {
    pub meeting: Meeting,
    pub items: usize,
    /// Items not closed yet.
    pub open_items: usize,
    /// The user is on its attendee list.
    pub attendee: bool,
}

impl MeetingSummary {
    /// How the user takes part (the attendee list is not in a summary, only whether they are
    /// on it).
    pub fn role_of(&self, user_sys_id: &str) -> Role {
        match self.meeting.role_of(user_sys_id, &[]) {
            Role::Observer if self.attendee => Role::Attendee,
            r => r,
        }
    }
}

/// Which part of the list a meeting belongs to at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    InProgress,
    Upcoming,
    Recent,
}

impl When {
    pub fn label(self) -> &'static str {
        match self {
            When::InProgress => "In progress",
            When::Upcoming => "Upcoming",
            When::Recent => "Recent",
        }
    }
}

impl Meeting {
    pub fn when(&self, now: DateTime<Utc>) -> When {
        match self.state {
            MeetingState::InProgress => When::InProgress,
            MeetingState::Complete | MeetingState::Canceled => When::Recent,
            _ if self.end.is_some_and(|e| e < now) => When::Recent,
            _ => When::Upcoming,
        }
    }
}

/// Meetings in list order: in progress, then upcoming (soonest first), then recent (latest
/// first).
pub fn sort_meetings(list: &mut [MeetingSummary], now: DateTime<Utc>) {
    list.sort_by(|a, b| {
        let (wa, wb) = (a.meeting.when(now), b.meeting.when(now));
        wa.cmp(&wb).then_with(|| match wa {
            When::Recent => b.meeting.start.cmp(&a.meeting.start),
            _ => a.meeting.start.cmp(&b.meeting.start),
        })
    });
}

/// An ad-hoc (emergency) meeting to create: its agenda and who is asked to attend.
#[derive(Debug, Clone, PartialEq)]
pub struct Convene {
    pub name: String,
    pub manager: UserRef,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Time per item, seconds.
    pub per_item: i64,
    /// (change sys_id, number), in agenda order.
    pub changes: Vec<(String, String)>,
    /// (person, why they are there, the changes they attend for).
    pub attendees: Vec<(UserRef, AttendeeReason, Vec<String>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_justification_loses_signoffs_bookkeeping_and_names_the_delegate() {
        let c = "First reason.\n\nSecond reason.\n\n(decided by Alice Moreno on behalf of Carla Diaz)\n[signoff ref 3aa5]";
        assert_eq!(
            justification_of(c),
            (
                "First reason.\n\nSecond reason.".to_string(),
                Some("Alice Moreno".to_string())
            )
        );
        assert_eq!(
            justification_of("Fine (decided by nobody)"),
            ("Fine (decided by nobody)".to_string(), None)
        );
        let minutes = Minutes {
            meeting: "CAB".into(),
            state: "complete".into(),
            start: None,
            end: None,
            ended: None,
            chair: "Alice Moreno".into(),
            attendees: vec![],
            items: vec![MinutesItem {
                number: "CHG0030004".into(),
                title: "Patch".into(),
                state: "complete".into(),
                decision: "approved".into(),
                outcome: "Approved".into(),
                decided_by: vec![MinutesVote {
                    approver: "Carla Diaz".into(),
                    by_delegate: Some("Alice Moreno".into()),
                    decision: "approved".into(),
                    justification: "Urgent.".into(),
                }],
                waiting_for: vec![],
                spent_seconds: 60,
                allotted_seconds: 600,
                notes: vec![],
            }],
            spent_seconds: 60,
            allotted_seconds: 600,
        };
        assert!(
            minutes
                .to_markdown()
                .contains("- Approved by Alice Moreno for Carla Diaz: “Urgent.”"),
            "{}",
            minutes.to_markdown()
        );
    }
}
