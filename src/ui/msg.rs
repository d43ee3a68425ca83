//! The UI's own messages and effects. The run loop translates what the sync engine and the
//! store report into these, so the UI depends on the domain only.

use chrono::{DateTime, Utc};

use crate::ui::state::QueueRows;
use crossterm::event::KeyEvent;

use crate::domain::cab::{Cursor, MeetingDetail, MeetingRead, MeetingSummary, Move, MoveStatus};
use crate::domain::{
    Approval, Decision, DecisionKind, Delegation, DelegationDraft, Delivery, Justification, User,
};

/// A decision in the outbox as the UI hears of it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub decision: Decision,
    pub delivery: Delivery,
}

/// A finished sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    pub user: User,
    pub at: DateTime<Utc>,
    /// The new queue; `None` when nothing changed (the queue on screen is current).
    pub approvals: Option<QueueRows>,
    pub outbox_pending: usize,
    /// The outbox's open decisions (waiting, being sent, in conflict or failed) as read
    /// after the sync, oldest first.
    pub open: Vec<OutboxRow>,
    /// Delegations given and received, fresh from the server.
    pub delegations: Vec<Delegation>,
    /// `2 added, 1 updated, 0 removed (incremental)`.
    pub summary: String,
    /// What the user should know about it (paging stopped early, say).
    pub notices: Vec<String>,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// A change in full: from the cache (`fresh: false`) or just read from the instance.
    Context {
        change_sys_id: String,
        result: Result<Box<crate::domain::context::ChangeContext>, String>,
        fresh: bool,
    },
    /// The insights figures, or why they could not be computed.
    Insights {
        days: i64,
        result: Result<Box<crate::domain::insights::Insights>, String>,
    },
    /// My decisions (from the outbox, which keeps each with the approval as seen), and the
    /// server's record of them as cached.
    History {
        decisions: Result<Vec<(crate::domain::Decision, crate::domain::Delivery)>, String>,
        server: crate::domain::history::ServerHistory,
        /// The server is being asked afresh (a `ServerHistory` follows).
        asking: bool,
    },
    /// The server's record of my decisions, read afresh.
    ServerHistory(Result<crate::domain::history::ServerHistory, String>),
    /// A click or the wheel.
    Mouse(crossterm::event::MouseEvent),
    /// What the IO edge has to tell the user (an effect that could not be carried out).
    Said {
        text: String,
        error: bool,
    },
    /// The changed policy was confirmed (journaled). The queue is placed by it next
    /// ([`Msg::PolicyInForce`]).
    PolicyConfirmed {
        confirmed: Box<crate::domain::governance::ConfirmedPolicy>,
    },
    /// The store's queue is placed by this policy now, in this order.
    PolicyInForce {
        policy: Box<crate::domain::Policy>,
        index: crate::domain::QueueIndex,
    },
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    /// Text pasted into the terminal (bracketed paste): typed into the field that has focus.
    Paste(String),
    /// The queue as last synced, read from the store at start (before any network call).
    Cached {
        user: Option<User>,
        approvals: Vec<Approval>,
        synced_at: Option<DateTime<Utc>>,
        outbox_pending: usize,
        /// The approvals carry their long texts (false: summaries, the texts follow).
        complete: bool,
        /// Set when `approvals` are only the first rows of a larger cached queue: the store's
        /// counts of the whole, until `CacheLoaded` gives its order.
        totals: Option<crate::store::QueueTotals>,
    },
    /// The whole cached queue (whole, or its order in the store), the outbox (oldest first)
    /// and the delegations as last synced.
    CacheLoaded {
        approvals: QueueRows,
        outbox: Vec<OutboxRow>,
        delegations: Vec<Delegation>,
    },
    /// Decisions the UI made are in the outbox (`(client id, approval)`), replacing the ones
    /// in `replaced`; `outbox_pending` waits in all.
    Stored {
        decisions: Vec<(String, String)>,
        replaced: Vec<(String, String)>,
        outbox_pending: usize,
    },
    /// A decision moved on (stored, sending, applied, conflict, failed, superseded).
    Delivery {
        client_id: String,
        approval_sys_id: String,
        delivery: Delivery,
    },
    SyncStarted,
    SyncProgress {
        fetched: usize,
        total: Option<usize>,
    },
    Synced(Box<Synced>),
    /// The long texts of these approvals are in the store (a full pull's second pass).
    TextsArrived {
        ids: Vec<String>,
    },
    /// The backend could not be reached (or answered with an error); retrying at `retry_at`.
    Offline {
        since: DateTime<Utc>,
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// The credentials were refused; no retries until the user asks.
    AuthFailed {
        error: String,
    },
    /// The local store failed.
    StoreFailed {
        error: String,
    },
    /// Users matching a `SearchUsers` query (or why the search failed).
    UsersFound {
        query: String,
        result: Result<Vec<User>, String>,
    },
    /// The outcome of a delegation change: a sentence for the user, or why it failed. The
    /// delegation list itself arrives with the next `Synced`.
    DelegationDone(Result<String, String>),
    /// The server's copy of an approval, asked for to decide again on a conflict (`None`: it
    /// is gone or no longer visible).
    Fetched {
        approval_sys_id: String,
        result: Result<Option<Box<Approval>>, String>,
    },
    /// The CAB meetings list: the cached one first (`fresh` false), then the instance's.
    CabMeetings {
        list: Vec<MeetingSummary>,
        fetched_at: Option<DateTime<Utc>>,
        error: Option<String>,
        fresh: bool,
    },
    /// One meeting, fresh or as cached, with the notes typed on it here.
    CabMeeting(MeetingRead),
    /// A move of the chair's reached an outcome.
    CabMove {
        meeting: String,
        mv: Move,
        status: MoveStatus,
    },
    /// The chair's moves could not be delivered now; they wait in order.
    CabOffline {
        error: String,
    },
    /// The answer to withdrawing a queued decision: withdrawn, or too late (being sent).
    Withdrawn {
        client_id: String,
        approval_sys_id: String,
        withdrawn: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Confirm the changed policy (`by`: who, for the journal) and put it in force.
    ConfirmPolicy {
        policy: Box<crate::domain::Policy>,
        by: String,
    },
    Quit,
    Refresh,
    /// Put this text on the terminal's clipboard (OSC 52).
    Copy {
        text: String,
    },
    /// Read the change of this approval in full (answered with `Msg::Context`, the cached
    /// copy first).
    ChangeContext {
        approval_sys_id: String,
        change_sys_id: String,
    },
    /// Compute the insights over the last `days` (answered with `Msg::Insights`).
    Insights {
        days: i64,
    },
    /// Read my decisions (answered with `Msg::History`).
    History,
    /// Ring the terminal bell.
    Bell,
    /// A desktop notification.
    Desktop {
        title: String,
        body: String,
    },
    /// Open this URL in the user's browser.
    Browse {
        url: String,
    },
    /// Store these decisions in the outbox (one per approval), then have them delivered.
    Decide {
        kind: DecisionKind,
        justification: Justification,
        approvals: Vec<Approval>,
        /// The risk acceptances of approvals outside the standard path, by approval sys_id.
        accepted: Vec<(String, crate::domain::governance::RiskAcceptance)>,
    },
    /// The user discarded a decision in conflict (or failed).
    Discard {
        client_id: String,
    },
    /// Take back a queued decision that has not been sent (answered with `Msg::Withdrawn`).
    Withdraw {
        client_id: String,
        approval_sys_id: String,
    },
    /// Read one approval and its change from the server (answered with `Msg::Fetched`).
    Fetch {
        approval_sys_id: String,
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
    /// The CAB meetings list (answered with `Msg::CabMeetings`, cached first).
    CabMeetings,
    /// One meeting (answered with `Msg::CabMeeting`); waiting moves are delivered first.
    CabMeeting {
        sys_id: String,
    },
    /// Record a move of a meeting in the outbox (with the meeting as it stands after it),
    /// then deliver it.
    CabMove {
        after: Box<MeetingDetail>,
        mv: Move,
        expected: Cursor,
    },
    /// Keep a note typed on an agenda item.
    CabNote {
        meeting_sys_id: String,
        item_sys_id: String,
        number: String,
        text: String,
    },
    /// Mark the user attending a meeting.
    CabJoin {
        attendee_sys_id: String,
    },
}
