//! CAB meetings in the console: the meetings list, a meeting's agenda (what needs the chair's
//! attention before it starts), and the session view where the chair runs the meeting and
//! attendees follow. Moves are the domain's (the workbench's rules); the UI records them in the
//! outbox through an effect and shows the meeting as moved at once.

use chrono::{DateTime, Utc};

use super::{AppState, Mode};
use crate::domain::cab::{
    AgendaItem, MeetingDetail, MeetingState, MeetingSummary, Move, MoveStatus, Role,
};
use crate::domain::{Approval, ApprovalState, DecisionKind, RiskTier};
use crate::ui::commands::Cmd;
use crate::ui::msg::Effect;

/// How often an open meeting in progress is read again (attendees follow the chair).
pub const FOLLOW_EVERY: chrono::Duration = chrono::Duration::seconds(5);

/// The meetings list and the meeting open, if any.
#[derive(Debug, Default)]
pub struct CabState {
    pub list: Vec<MeetingSummary>,
    pub list_at: Option<DateTime<Utc>>,
    /// The list came from the instance (not only the cache) in this session.
    pub list_fresh: bool,
    pub list_error: Option<String>,
    pub loading: bool,
    pub selected: usize,
    pub open: Option<MeetingView>,
}

/// One meeting on screen.
#[derive(Debug, Default)]
pub struct MeetingView {
    pub sys_id: String,
    pub name: String,
    pub detail: Option<MeetingDetail>,
    pub fetched_at: Option<DateTime<Utc>>,
    pub fresh: bool,
    pub error: Option<String>,
    /// The chair's moves not delivered yet.
    pub waiting_moves: usize,
    /// The agenda row under the cursor.
    pub selected: usize,
    /// First line of the session view's text.
    pub scroll: usize,
    /// A note being typed on the current item.
    pub note: Option<String>,
    /// Notes typed on this meeting's items: (item sys_id, text).
    pub notes: Vec<(String, String)>,
    /// When the meeting was last asked for.
    pub asked_at: Option<DateTime<Utc>>,
    /// The user's attendance was marked in this session.
    pub joined: bool,
}

impl MeetingView {
    /// The item under the agenda cursor.
    pub fn selected_item(&self) -> Option<&AgendaItem> {
        self.detail.as_ref()?.items.get(self.selected)
    }
}

impl AppState {
    /// The meeting open, with its detail.
    pub fn meeting(&self) -> Option<&MeetingDetail> {
        self.cab.open.as_ref()?.detail.as_ref()
    }

    /// How the user takes part in the open meeting.
    pub fn meeting_role(&self) -> Role {
        match (self.meeting(), self.me()) {
            (Some(d), Some(me)) => d.meeting.role_of(me, &d.attendees),
            _ => Role::Observer,
        }
    }

    /// The tier of an agenda item's change, when the change could be read.
    pub fn item_tier(&self, item: &AgendaItem) -> Option<RiskTier> {
        self.meeting()?
            .change_of(item)
            .map(|c| self.policy.classify(c).tier)
    }

    /// Open approvals on the current item's change that the user may decide: their own, and
    /// those of colleagues whose approvals delegation to them is active.
    pub fn session_approvals(&self) -> Vec<Approval> {
        let (Some(d), Some(me)) = (self.meeting(), self.me()) else {
            return Vec::new();
        };
        let Some(item) = d.current() else {
            return Vec::new();
        };
        let now = self.now.unwrap_or_default();
        let covered: Vec<&str> = self
            .delegations
            .list
            .iter()
            .filter(|x| x.delegate.sys_id == me && x.covers_approvals(now))
            .map(|x| x.user.sys_id.as_str())
            .collect();
        d.approvals_of(item)
            .filter(|a| a.approval.in_queue())
            .filter(|a| {
                a.approval.approver.sys_id == me
                    || covered.contains(&a.approval.approver.sys_id.as_str())
            })
            .map(|a| a.approval.clone())
            .collect()
    }

    // What the registry's `enabled` checks ask.

    pub fn hosts_meeting(&self) -> bool {
        self.meeting_role().hosts()
    }

    pub fn meeting_in_progress(&self) -> bool {
        self.meeting()
            .is_some_and(|d| d.meeting.state == MeetingState::InProgress)
    }

    pub fn can_start_meeting(&self) -> bool {
        self.meeting()
            .is_some_and(|d| d.meeting.state == MeetingState::Pending && self.hosts_meeting())
    }

    pub fn can_move_meeting(&self) -> bool {
        self.mode == Mode::Session && self.hosts_meeting() && self.meeting_in_progress()
    }

    pub fn has_current_item(&self) -> bool {
        self.meeting().is_some_and(|d| d.current().is_some())
    }

    pub fn can_take_notes(&self) -> bool {
        self.mode == Mode::Session && self.hosts_meeting() && self.has_current_item()
    }

    pub fn has_meetings(&self) -> bool {
        !self.cab.list.is_empty()
    }

    pub fn has_agenda(&self) -> bool {
        self.meeting().is_some_and(|d| !d.items.is_empty())
    }

    /// `C` / `:cab`: the meetings list (again: back to the queue).
    pub(super) fn open_meetings(&mut self) -> Vec<Effect> {
        if matches!(self.mode, Mode::Meetings | Mode::Agenda | Mode::Session) {
            self.mode = Mode::Queue;
            return vec![];
        }
        self.mode = Mode::Meetings;
        self.cab.loading = true;
        vec![Effect::CabMeetings]
    }

    /// A command on one of the CAB screens (those of every screen are handled before).
    pub(super) fn cab_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        match self.mode {
            Mode::Meetings => self.meetings_cmd(cmd),
            Mode::Agenda => self.agenda_cmd(cmd),
            Mode::Session => self.session_cmd(cmd),
            _ => vec![],
        }
    }

    fn meetings_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.cab.list.len();
        let c = &mut self.cab;
        match cmd {
            Cmd::Down | Cmd::Up | Cmd::PageDown | Cmd::PageUp | Cmd::Top | Cmd::Bottom => {
                c.selected = super::scrolled(c.selected, cmd, 10, n.saturating_sub(1))
            }
            Cmd::Back => self.mode = Mode::Queue,
            Cmd::Open => {
                let Some(m) = self.cab.list.get(self.cab.selected) else {
                    return vec![];
                };
                let sys_id = m.meeting.sys_id.clone();
                let name = m.meeting.name.clone();
                return self.open_meeting(sys_id, name);
            }
            _ => {}
        }
        vec![]
    }

    /// Opens a meeting's agenda: the cached copy shows at once, the instance's follows.
    pub(super) fn open_meeting(&mut self, sys_id: String, name: String) -> Vec<Effect> {
        let same = self.cab.open.as_ref().is_some_and(|v| v.sys_id == sys_id);
        if !same {
            self.cab.open = Some(MeetingView {
                sys_id: sys_id.clone(),
                name,
                asked_at: self.now,
                ..MeetingView::default()
            });
        }
        self.mode = Mode::Agenda;
        vec![Effect::CabMeeting { sys_id }]
    }

    fn agenda_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.meeting().map_or(0, |d| d.items.len());
        let Some(v) = self.cab.open.as_mut() else {
            return vec![];
        };
        match cmd {
            Cmd::Down | Cmd::Up | Cmd::PageDown | Cmd::PageUp | Cmd::Top | Cmd::Bottom => {
                v.selected = super::scrolled(v.selected, cmd, 10, n.saturating_sub(1))
            }
            Cmd::Back => self.mode = Mode::Meetings,
            Cmd::Open | Cmd::StartMeeting => return self.enter_session(cmd == Cmd::StartMeeting),
            _ => {}
        }
        vec![]
    }

    /// The session view. A chair starting a pending meeting is asked first.
    fn enter_session(&mut self, start: bool) -> Vec<Effect> {
        let Some(d) = self.meeting() else {
            self.flash("The meeting is still loading.", true);
            return vec![];
        };
        let pending = d.meeting.state == MeetingState::Pending;
        if pending && start {
            if !self.hosts_meeting() {
                self.flash(
                    format!(
                        "Only the chair ({}) or a listed delegate can start this meeting.",
                        d.meeting.manager.label()
                    ),
                    true,
                );
                return vec![];
            }
            let first = d
                .items
                .iter()
                .find(|i| i.state == crate::domain::cab::ItemState::Pending)
                .map_or(String::new(), |i| format!(" with {}", i.number));
            self.confirm = Some(super::Confirm {
                question: format!(
                    "Start {} now{first}? Attendees on the portal and in signoff will follow you.",
                    d.meeting.name
                ),
                then: super::ConfirmThen::Move(Move::Start),
            });
            return vec![];
        }
        self.mode = Mode::Session;
        if let Some(v) = self.cab.open.as_mut() {
            v.scroll = 0;
        }
        self.join_effects()
    }

    /// Marks the user attending the first time they open a meeting in progress.
    fn join_effects(&mut self) -> Vec<Effect> {
        let (Some(d), Some(me)) = (self.meeting(), self.me()) else {
            return vec![];
        };
        if d.meeting.state != MeetingState::InProgress {
            return vec![];
        }
        let Some(row) = d.attendees.iter().find(|a| a.user.sys_id == me) else {
            return vec![];
        };
        if row.attendance == crate::domain::cab::Attendance::Attending && row.joined_at.is_some() {
            return vec![];
        }
        let attendee_sys_id = row.sys_id.clone();
        match self.cab.open.as_mut() {
            Some(v) if !v.joined => {
                v.joined = true;
                vec![Effect::CabJoin { attendee_sys_id }]
            }
            _ => vec![],
        }
    }

    fn session_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        match cmd {
            Cmd::Back => {
                self.mode = Mode::Agenda;
                vec![]
            }
            Cmd::StartMeeting => self.enter_session(true),
            Cmd::NextItem => self.make_move(Move::Next),
            Cmd::PrevItem => self.make_move(Move::Back),
            Cmd::DeferItem => self.make_move(Move::Defer),
            Cmd::PauseResume => {
                let paused = self.meeting().is_some_and(|d| d.cursor().paused);
                self.make_move(if paused { Move::Resume } else { Move::Pause })
            }
            Cmd::EndMeeting => {
                if !self.can_move_meeting() {
                    return self.refuse_move(Move::End);
                }
                // Items never reached stay pending; the one under discussion is closed
                // without a decision (its approvals stay open either way).
                let not_reached = self.meeting().map_or(0, |d| {
                    d.items
                        .iter()
                        .filter(|i| i.state == crate::domain::cab::ItemState::Pending)
                        .count()
                });
                let left = match not_reached {
                    0 => String::new(),
                    1 => " 1 item was not reached; it stays on the agenda, undecided.".into(),
                    n => {
                        format!(" {n} items were not reached; they stay on the agenda, undecided.")
                    }
                };
                self.confirm = Some(super::Confirm {
                    question: format!(
                        "End the meeting now?{left} Your notes are added to the meeting's notes."
                    ),
                    then: super::ConfirmThen::Move(Move::End),
                });
                vec![]
            }
            Cmd::Note => {
                if !self.can_take_notes() {
                    self.flash(
                        "Notes are taken by the chair on the item being discussed.",
                        true,
                    );
                    return vec![];
                }
                if let Some(v) = self.cab.open.as_mut() {
                    v.note = Some(String::new());
                }
                vec![]
            }
            Cmd::Approve => self.session_decide(DecisionKind::Approve),
            Cmd::Reject => self.session_decide(DecisionKind::Reject),
            Cmd::Hold => self.session_decide(DecisionKind::Hold),
            Cmd::Resume => self.session_decide(DecisionKind::Resume),
            c => {
                if let Some(v) = self.cab.open.as_mut() {
                    v.scroll = super::scrolled(v.scroll, c, 10, 500);
                }
                vec![]
            }
        }
    }

    fn refuse_move(&mut self, mv: Move) -> Vec<Effect> {
        let why = match self.meeting() {
            None => "The meeting is still loading.".to_string(),
            Some(d) if !self.hosts_meeting() => format!(
                "Only the chair ({}) or a listed delegate can {} the meeting; you follow it.",
                d.meeting.manager.label(),
                mv.verb()
            ),
            Some(d) => match d.meeting.state {
                MeetingState::Pending => format!(
                    "The meeting has not started; press {} to start it.",
                    self.keymap.key(Cmd::StartMeeting)
                ),
                ref s => format!("The meeting is {}.", s.label()),
            },
        };
        self.flash(why, true);
        vec![]
    }

    /// Moves the meeting: the domain says what it becomes; it is shown at once and recorded
    /// in the outbox, which delivers it.
    pub(super) fn make_move(&mut self, mv: Move) -> Vec<Effect> {
        if self.read_only {
            self.flash(
                "This profile is read-only: the meeting is not moved from here.".to_string(),
                true,
            );
            return vec![];
        }
        if mv != Move::Start && !self.can_move_meeting() {
            return self.refuse_move(mv);
        }
        let (Some(d), Some(user), Some(now)) = (self.meeting(), self.user.as_ref(), self.now)
        else {
            return vec![];
        };
        let host = user.reference();
        let expected = d.cursor();
        match d.moved(mv, &host, now) {
            Err(why) => {
                self.flash(why, true);
                vec![]
            }
            Ok(after) => {
                let said = match (mv, after.current()) {
                    (Move::Start, Some(i)) => format!("Started the meeting on {}.", i.number),
                    (Move::Next | Move::Defer | Move::Back, Some(i)) => {
                        format!("Now discussing {}.", i.number)
                    }
                    (Move::Next, None) => {
                        "That was the last item; end the meeting when the board is done.".into()
                    }
                    (Move::Pause, _) => "Paused; the item's timer is stopped.".into(),
                    (Move::Resume, _) => "Resumed.".into(),
                    (Move::End, _) => "Ended the meeting.".into(),
                    _ => String::new(),
                };
                let effect = Effect::CabMove {
                    after: Box::new(after.clone()),
                    mv,
                    expected,
                };
                if let Some(v) = self.cab.open.as_mut() {
                    v.detail = Some(after);
                    v.waiting_moves += 1;
                    v.scroll = 0;
                }
                if mv == Move::Start {
                    self.mode = Mode::Session;
                }
                if !said.is_empty() {
                    self.flash(said, false);
                }
                let mut effects = vec![effect];
                if mv == Move::Start {
                    effects.extend(self.join_effects());
                }
                effects
            }
        }
    }

    /// A decision on the current item: the user's own open approvals on its change.
    fn session_decide(&mut self, kind: DecisionKind) -> Vec<Effect> {
        let Some(d) = self.meeting() else {
            return vec![];
        };
        let Some(item) = d.current() else {
            self.flash("No item is being discussed.", true);
            return vec![];
        };
        let number = item.number.clone();
        let targets = self.session_approvals();
        if targets.is_empty() {
            let waiting: Vec<String> = d
                .open_approvals(item)
                .map(|a| a.approval.approver.label().to_string())
                .collect();
            let still = if waiting.is_empty() {
                if d.all_approvals {
                    " No approval on it is open.".to_string()
                } else {
                    String::new()
                }
            } else {
                format!(" Still to vote: {}.", waiting.join(", "))
            };
            self.flash(
                format!(
                    "You hold no open approval on {number}: the board's decision is recorded by the approvers who do, in signoff or the portal.{still}"
                ),
                true,
            );
            return vec![];
        }
        let items: Vec<super::QueueItem> = crate::domain::build_queue(&self.policy, targets)
            .into_iter()
            .map(|e| super::QueueItem::clone(&e))
            .collect();
        self.open_decide_on(kind, &items)
    }

    /// Every tick: while a meeting in progress is on screen it is read again every few
    /// seconds, so attendees follow the chair.
    pub(super) fn cab_tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        if !matches!(self.mode, Mode::Agenda | Mode::Session) {
            return vec![];
        }
        let Some(v) = self.cab.open.as_mut() else {
            return vec![];
        };
        let live = v
            .detail
            .as_ref()
            .is_some_and(|d| d.meeting.state == MeetingState::InProgress);
        let due = v.asked_at.is_none_or(|t| now - t >= FOLLOW_EVERY);
        if !live || !due || v.note.is_some() {
            return vec![];
        }
        v.asked_at = Some(now);
        vec![Effect::CabMeeting {
            sys_id: v.sys_id.clone(),
        }]
    }

    /// A note typed on the current item: Enter keeps it, Esc drops it.
    pub(super) fn note_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(v) = self.cab.open.as_mut() else {
            return vec![];
        };
        match cmd {
            Cmd::Cancel => {
                v.note = None;
                vec![]
            }
            Cmd::Interrupt => vec![Effect::Quit],
            Cmd::Run => {
                let text = v.note.take().unwrap_or_default();
                let text = crate::domain::text::clean_line(&text, 500);
                if text.is_empty() {
                    return vec![];
                }
                let Some(item) = v.detail.as_ref().and_then(|d| d.current()).cloned() else {
                    return vec![];
                };
                v.notes.push((item.sys_id.clone(), text.clone()));
                vec![Effect::CabNote {
                    meeting_sys_id: v.sys_id.clone(),
                    item_sys_id: item.sys_id,
                    number: item.number,
                    text,
                }]
            }
            _ => vec![],
        }
    }

    pub(super) fn cab_meetings_msg(
        &mut self,
        mut list: Vec<MeetingSummary>,
        at: Option<DateTime<Utc>>,
        error: Option<String>,
        fresh: bool,
    ) {
        self.dirty = true;
        // Cached or fresh, the same order: the cursor stays on the meeting it was on.
        if let Some(now) = self.now {
            crate::domain::cab::sort_meetings(&mut list, now);
        }
        let keep = self
            .cab
            .list
            .get(self.cab.selected)
            .map(|m| m.meeting.sys_id.clone());
        if fresh || !self.cab.list_fresh {
            self.cab.list = list;
            self.cab.list_at = at;
        }
        self.cab.list_fresh |= fresh;
        if fresh || error.is_some() {
            self.cab.loading = false;
        }
        if let Some(e) = &error {
            self.flash(format!("Could not read the CAB meetings: {e}"), true);
        }
        self.cab.list_error = error;
        self.cab.selected = keep
            .and_then(|id| self.cab.list.iter().position(|m| m.meeting.sys_id == id))
            .unwrap_or(0)
            .min(self.cab.list.len().saturating_sub(1));
    }

    pub(super) fn cab_meeting_msg(&mut self, read: crate::domain::cab::MeetingRead) {
        let crate::domain::cab::MeetingRead {
            sys_id,
            detail,
            fetched_at: at,
            fresh,
            error,
            waiting_moves,
            notes,
        } = read;
        self.dirty = true;
        let Some(v) = self.cab.open.as_mut() else {
            return;
        };
        if v.sys_id != sys_id {
            return;
        }
        let before = v
            .detail
            .as_ref()
            .and_then(|d| d.current().map(|i| i.sys_id.clone()));
        let offline_again = error.is_some() && v.error.is_none();
        let first = v.detail.is_none();
        // A fresh copy while moves of ours still wait would undo them on screen: the local
        // one stands until they are delivered.
        if let Some(d) = detail
            && (fresh || v.detail.is_none() || v.waiting_moves == 0 || waiting_moves > 0)
        {
            v.name = d.meeting.name.clone();
            v.detail = Some(*d);
            v.fetched_at = at;
        }
        v.fresh = fresh;
        v.waiting_moves = waiting_moves;
        v.error = error.clone();
        v.notes = notes;
        let n = v.detail.as_ref().map_or(0, |d| d.items.len());
        // First sight of a meeting in progress: the cursor starts on the item being discussed.
        if first
            && let Some(d) = &v.detail
            && let Some(cur) = d.current()
        {
            v.selected = d
                .items
                .iter()
                .position(|i| i.sys_id == cur.sys_id)
                .unwrap_or(0);
        }
        v.selected = v.selected.min(n.saturating_sub(1));
        let after = v
            .detail
            .as_ref()
            .and_then(|d| d.current().map(|i| (i.sys_id.clone(), i.number.clone())));
        // An attendee's view follows the chair: say when the item changes.
        if self.mode == Mode::Session
            && !self.hosts_meeting()
            && before.is_some()
            && after.as_ref().map(|a| &a.0) != before.as_ref()
        {
            if let Some(v) = self.cab.open.as_mut() {
                v.scroll = 0;
            }
            match after {
                Some((_, number)) => self.flash(format!("The chair moved on to {number}."), false),
                None => self.flash("The chair closed the last item.", false),
            }
        }
        if offline_again && let Some(e) = error {
            self.flash(format!("Showing the meeting as cached: {e}"), true);
        }
        let joins = if self.mode == Mode::Session {
            self.join_effects()
        } else {
            vec![]
        };
        self.pending_effects.extend(joins);
    }

    pub(super) fn cab_move_msg(&mut self, meeting: String, mv: Move, status: MoveStatus) {
        self.dirty = true;
        let open = self.cab.open.as_ref().is_some_and(|v| v.sys_id == meeting);
        match status {
            MoveStatus::Applied => {
                if open && let Some(v) = self.cab.open.as_mut() {
                    v.waiting_moves = v.waiting_moves.saturating_sub(1);
                }
            }
            MoveStatus::Conflict(why) | MoveStatus::Failed(why) => {
                self.flash(why, true);
                if open && let Some(v) = self.cab.open.as_mut() {
                    v.waiting_moves = 0;
                    self.pending_effects.push(Effect::CabMeeting {
                        sys_id: meeting.clone(),
                    });
                }
                let _ = mv;
            }
            MoveStatus::Queued | MoveStatus::Sending => {}
        }
    }
}

/// Whether an approval is decided (for the agenda's "who has voted").
pub fn voted(state: &ApprovalState) -> bool {
    matches!(state, ApprovalState::Approved | ApprovalState::Rejected)
}
