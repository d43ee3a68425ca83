//! The command registry: every command's name, description, default keys, the contexts where
//! it applies, its footer label and an `enabled(state)` check. Dispatch, the footer, the `?`
//! help, the `:` line and prose that names a key all read it (through the keymap, which
//! merges the user's `[keys]` over these defaults), so hints never lie.

use super::state::AppState;

/// Where the user is: which keys mean what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The queue list has focus.
    Queue,
    /// The detail of the selected change has focus.
    Detail,
    /// The delegation screen.
    Delegations,
    /// The new / edit delegation form (other keys type into the field).
    Form,
    /// The decision dialog (other keys type into the justification).
    Editor,
    /// A yes/no question.
    Confirm,
    /// The `?` help.
    Help,
    /// The `:` command line (other keys type into it).
    CommandLine,
    /// The message log.
    Messages,
    /// The CAB meetings list.
    Meetings,
    /// A meeting's agenda.
    Agenda,
    /// A meeting being run or followed.
    Session,
    /// A note being typed on the current agenda item (other keys type into it).
    Note,
    /// `/`'s search being typed (other keys type into it).
    Search,
    /// The insights screen.
    Insights,
    /// My decisions.
    History,
}

impl Context {
    /// `in the queue`, for sentences.
    pub fn place(self) -> &'static str {
        match self {
            Context::Queue => "in the queue",
            Context::Detail => "in the detail view",
            Context::Delegations => "on the delegation screen",
            Context::Form => "in the delegation form",
            Context::Editor => "in the decision dialog",
            Context::Confirm => "in a confirmation",
            Context::Help => "in the help",
            Context::CommandLine => "on the command line",
            Context::Messages => "in the message log",
            Context::Meetings => "in the meetings list",
            Context::Agenda => "on the agenda",
            Context::Session => "in a meeting session",
            Context::Note => "in a note",
            Context::Search => "in the search",
            Context::Insights => "in the insights",
            Context::History => "in your decisions",
        }
    }

    /// Whether other keys type text here (a dialog, a form, the command line).
    pub fn takes_text(self) -> bool {
        matches!(
            self,
            Context::Form
                | Context::Editor
                | Context::CommandLine
                | Context::Note
                | Context::Search
        )
    }

    /// The heading of this context's keys in the help.
    pub fn title(self) -> &'static str {
        match self {
            Context::Queue => "Queue",
            Context::Detail => "Detail",
            Context::Delegations => "Delegations",
            Context::Form => "New / edit delegation form",
            Context::Editor => "Decision dialog (other keys type the justification)",
            Context::Confirm => "Confirmation",
            Context::Help => "Help",
            Context::CommandLine => "Command line (:)",
            Context::Messages => "Message log",
            Context::Meetings => "CAB meetings",
            Context::Agenda => "Meeting agenda",
            Context::Session => "Meeting session (the chair runs it, attendees follow)",
            Context::Note => "Note on the item (other keys type the note)",
            Context::Search => "Search (other keys type what to find)",
            Context::Insights => "Insights",
            Context::History => "Your decisions",
        }
    }
}

/// What a key or a `:` command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmd {
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextTier,
    PrevTier,
    Fold,
    Open,
    Approve,
    Reject,
    Hold,
    Resume,
    Select,
    Redecide,
    /// Discard a decision in conflict or failed, or withdraw one still waiting.
    Discard,
    Filter,
    Delegations,
    NewDelegation,
    EditDelegation,
    EndDelegation,
    Back,
    /// Close a dialog, form or the command line.
    Cancel,
    Refresh,
    Help,
    HelpFilter,
    CommandLine,
    Messages,
    Quit,
    /// Ctrl-C where letters type (dialogs, forms, the command line).
    Interrupt,
    Send,
    Yes,
    No,
    NextField,
    PrevField,
    NextMatch,
    PrevMatch,
    Choose,
    Toggle,
    Run,
    Complete,
    HistoryBack,
    HistoryForward,
    /// The CAB meetings list.
    Cab,
    /// Start the meeting (the chair) or join the session.
    StartMeeting,
    NextItem,
    PrevItem,
    DeferItem,
    PauseResume,
    EndMeeting,
    Note,
    /// `/`: search the queue as you type.
    Search,
    SearchNext,
    SearchPrev,
    /// The order of each tier's rows.
    Sort,
    /// A saved view of the config (`[[views]]`).
    View,
    /// Copy the change number to the clipboard.
    Copy,
    /// Open the change in the instance's web UI.
    Browse,
    /// The insights screen: cycle times, rejections, last-minute approvals.
    Insights,
    /// The next period of the insights (7, 30, 90 days).
    Period,
    /// My decisions, newest first.
    History,
}

pub struct Command {
    pub cmd: Cmd,
    /// The name used on the `:` line and in `[keys]`.
    pub name: &'static str,
    pub description: &'static str,
    /// Default keys, as `Key::parse` reads them.
    pub keys: &'static [&'static str],
    pub contexts: &'static [Context],
    /// Short label in the footer, if it is worth a place there.
    pub footer: Option<&'static str>,
    /// Offered on the `:` line.
    pub colon: bool,
    /// Whether it can do something now; hints show only what can.
    pub enabled: fn(&AppState) -> bool,
}

use Context::*;

const SCREENS: &[Context] = &[Queue, Detail, Delegations, Meetings, Agenda, Session];
/// Every screen and the lists over them: where keys are commands, not text.
const LISTS: &[Context] = &[
    Queue,
    Detail,
    Delegations,
    Help,
    Messages,
    Insights,
    History,
    Meetings,
    Agenda,
    Session,
];
const DECIDING: &[Context] = &[Queue, Detail];
/// Where a decision can be made: the queue, and a meeting's current item.
const DECISIONS: &[Context] = &[Queue, Detail, Session];

fn always(_: &AppState) -> bool {
    true
}

pub const COMMANDS: &[Command] = &[
    Command {
        cmd: Cmd::Down,
        name: "down",
        description: "next change (in the detail, the help or a list: scroll down)",
        keys: &["j", "Down"],
        contexts: LISTS,
        footer: Some("move"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Up,
        name: "up",
        description: "previous change (or scroll up)",
        keys: &["k", "Up"],
        contexts: LISTS,
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::PageDown,
        name: "page-down",
        description: "a page down",
        keys: &["PgDn"],
        contexts: LISTS,
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::PageUp,
        name: "page-up",
        description: "a page up",
        keys: &["PgUp"],
        contexts: LISTS,
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Top,
        name: "top",
        description: "first change (or the top)",
        keys: &["g", "Home"],
        contexts: LISTS,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Bottom,
        name: "bottom",
        description: "last change (or the end)",
        keys: &["G", "End"],
        contexts: LISTS,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::NextTier,
        name: "next-tier",
        description: "next risk tier",
        keys: &["Tab"],
        contexts: &[Queue],
        footer: Some("tier"),
        colon: false,
        enabled: AppState::has_rows,
    },
    Command {
        cmd: Cmd::PrevTier,
        name: "prev-tier",
        description: "previous risk tier (first: the top of this one)",
        keys: &["Shift-Tab"],
        contexts: &[Queue],
        footer: None,
        colon: false,
        enabled: AppState::has_rows,
    },
    Command {
        cmd: Cmd::Fold,
        name: "fold",
        description: "fold or unfold this tier (or a tier named, held, all, none)",
        keys: &["z"],
        contexts: &[Queue],
        footer: None,
        colon: true,
        enabled: AppState::has_sections,
    },
    Command {
        cmd: Cmd::Open,
        name: "open",
        description: "open the change in full",
        keys: &["Enter"],
        contexts: &[Queue, Meetings, Agenda, History],
        footer: Some("detail"),
        colon: true,
        enabled: AppState::has_rows,
    },
    Command {
        cmd: Cmd::Approve,
        name: "approve",
        description: "approve the change (or the selected ones), with a justification",
        keys: &["a"],
        contexts: DECISIONS,
        footer: Some("approve"),
        colon: true,
        enabled: AppState::can_approve,
    },
    Command {
        cmd: Cmd::Reject,
        name: "reject",
        description: "reject the change (or the selected ones)",
        keys: &["x"],
        contexts: DECISIONS,
        footer: Some("reject"),
        colon: true,
        enabled: AppState::can_reject,
    },
    Command {
        cmd: Cmd::Hold,
        name: "hold",
        description: "put the change on hold (pauses it and its timers)",
        keys: &["p"],
        contexts: DECISIONS,
        footer: Some("hold"),
        colon: true,
        enabled: AppState::can_hold,
    },
    Command {
        cmd: Cmd::Resume,
        name: "resume",
        description: "release the hold on a change",
        keys: &["u"],
        contexts: DECISIONS,
        footer: Some("resume"),
        colon: true,
        enabled: AppState::can_resume,
    },
    Command {
        cmd: Cmd::Select,
        name: "select",
        description: "select the change for one decision on several (again: unselect)",
        keys: &["Space"],
        contexts: &[Queue],
        footer: Some("select"),
        colon: false,
        enabled: AppState::has_rows,
    },
    Command {
        cmd: Cmd::Redecide,
        name: "redecide",
        description: "decide again on a conflict or failure, against a fresh copy from the server",
        keys: &["e"],
        contexts: DECIDING,
        footer: Some("decide again"),
        colon: true,
        enabled: AppState::needs_attention,
    },
    Command {
        cmd: Cmd::Discard,
        name: "discard",
        description: "discard a decision in conflict or failed, or withdraw one not sent yet",
        keys: &["d"],
        contexts: DECIDING,
        footer: Some("discard"),
        colon: true,
        enabled: AppState::can_discard,
    },
    Command {
        cmd: Cmd::Filter,
        name: "filter",
        description: "whose approvals: all → mine → each person who delegated to you; :filter takes terms too (tier:critical,high type:emergency sla:breached held -held cab window:4h mine for:NAME clear)",
        keys: &["f"],
        contexts: DECIDING,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Delegations,
        name: "delegations",
        description: "delegations given and received (again: back to the queue)",
        keys: &["D"],
        contexts: SCREENS,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::NewDelegation,
        name: "new-delegation",
        description: "give a new delegation",
        keys: &["n"],
        contexts: &[Delegations],
        footer: Some("new"),
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::EditDelegation,
        name: "edit-delegation",
        description: "change the window of the selected given delegation",
        keys: &["e"],
        contexts: &[Delegations],
        footer: Some("edit"),
        colon: false,
        enabled: AppState::on_given_delegation,
    },
    Command {
        cmd: Cmd::EndDelegation,
        name: "end-delegation",
        description: "end the selected given delegation now (asks first)",
        keys: &["x"],
        contexts: &[Delegations],
        footer: Some("end"),
        colon: false,
        enabled: AppState::on_given_delegation,
    },
    Command {
        cmd: Cmd::Back,
        name: "back",
        description: "back / clear the selection / close",
        keys: &["Esc"],
        contexts: LISTS,
        footer: Some("back"),
        colon: false,
        enabled: AppState::can_go_back,
    },
    Command {
        cmd: Cmd::Refresh,
        name: "refresh",
        description: "sync with the instance now",
        keys: &["r"],
        contexts: SCREENS,
        footer: Some("refresh"),
        colon: true,
        enabled: AppState::is_connected,
    },
    Command {
        cmd: Cmd::Sort,
        name: "sort",
        description: "order each tier by SLA deadline → window start → risk → age → number; :sort window picks one",
        keys: &["s"],
        contexts: &[Queue],
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Insights,
        name: "insights",
        description: "insights over your decisions: cycle time by tier, decisions per day, rejections, last-minute approvals, breaches (again or Esc: close)",
        keys: &["I"],
        contexts: &[Queue, Detail, Insights],
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::History,
        name: "history",
        description: "your decisions, newest first: outcome, on whose behalf, why, and whether the change moved since (again or Esc: close; Enter goes to it in the queue)",
        keys: &["H"],
        contexts: &[Queue, Detail, History],
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Period,
        name: "period",
        description: "the next period: 7 → 30 → 90 days",
        keys: &["Tab"],
        contexts: &[Insights],
        footer: Some("period"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::View,
        name: "view",
        description: "the next saved view of config.toml ([[views]]: name, filter, sort), then the whole queue; :view NAME picks one",
        keys: &["v"],
        contexts: &[Queue],
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Search,
        name: "search",
        description: "search number, title, requester, CI, groups and description as you type (Enter keeps, Esc goes back); :search TEXT",
        keys: &["/"],
        contexts: &[Queue],
        footer: Some("search"),
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::SearchNext,
        name: "search-next",
        description: "the next row the search found",
        keys: &["n"],
        contexts: &[Queue],
        footer: None,
        colon: true,
        enabled: AppState::has_search,
    },
    Command {
        cmd: Cmd::SearchPrev,
        name: "search-prev",
        description: "the previous row the search found",
        keys: &["N"],
        contexts: &[Queue],
        footer: None,
        colon: true,
        enabled: AppState::has_search,
    },
    Command {
        cmd: Cmd::Copy,
        name: "copy",
        description: "copy the change number to the clipboard (OSC 52: most terminals; tmux with set-clipboard on)",
        keys: &["y"],
        contexts: DECIDING,
        footer: None,
        colon: true,
        enabled: AppState::has_selection,
    },
    Command {
        cmd: Cmd::Browse,
        name: "browse",
        description: "open the change in the instance's web UI, in the browser",
        keys: &["o"],
        contexts: DECIDING,
        footer: None,
        colon: true,
        enabled: AppState::has_selection,
    },
    Command {
        cmd: Cmd::Help,
        name: "help",
        description: "this help (again or Esc: close)",
        keys: &["?"],
        contexts: &[Queue, Detail, Delegations, Help, Meetings, Agenda, Session],
        footer: Some("help"),
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::HelpFilter,
        name: "help-filter",
        description: "filter the help: type words, Enter keeps, Esc clears",
        keys: &["/"],
        contexts: &[Help],
        footer: Some("filter"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::CommandLine,
        name: "command",
        description: "type a command (:approve, :filter mine, :messages …; Tab completes)",
        keys: &[":"],
        contexts: SCREENS,
        footer: Some("command"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Messages,
        name: "messages",
        description: "the messages shown so far, in full",
        keys: &[],
        contexts: SCREENS,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Quit,
        name: "quit",
        description: "quit (asks first while decisions wait in the outbox)",
        keys: &["q", "Ctrl-C"],
        contexts: LISTS,
        footer: Some("quit"),
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::Interrupt,
        name: "interrupt",
        description: "quit at once (what is stored stays in the outbox; a dialog's text is lost)",
        keys: &["Ctrl-C"],
        contexts: &[Form, Editor, Confirm, CommandLine, Note, Search],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Send,
        name: "send",
        description: "send the decision / save the delegation (when valid)",
        keys: &["Ctrl-S"],
        contexts: &[Editor, Form],
        footer: Some("send"),
        colon: false,
        enabled: AppState::can_send,
    },
    Command {
        cmd: Cmd::Yes,
        name: "yes",
        description: "yes, go ahead",
        keys: &["y", "Y"],
        contexts: &[Confirm],
        footer: Some("confirm"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::No,
        name: "no",
        description: "no, go back",
        keys: &["n", "N", "Esc"],
        contexts: &[Confirm],
        footer: Some("back"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::NextField,
        name: "next-field",
        description: "next field",
        keys: &["Tab"],
        contexts: &[Form, Editor],
        footer: Some("next field"),
        colon: false,
        enabled: AppState::has_fields,
    },
    Command {
        cmd: Cmd::PrevField,
        name: "prev-field",
        description: "previous field",
        keys: &["Shift-Tab"],
        contexts: &[Form, Editor],
        footer: None,
        colon: false,
        enabled: AppState::has_fields,
    },
    Command {
        cmd: Cmd::NextMatch,
        name: "next-match",
        description: "next person in the matches",
        keys: &["Down"],
        contexts: &[Form],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::PrevMatch,
        name: "prev-match",
        description: "previous person in the matches",
        keys: &["Up"],
        contexts: &[Form],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Choose,
        name: "choose",
        description: "pick the highlighted person (elsewhere: next field)",
        keys: &["Enter"],
        contexts: &[Form],
        footer: Some("pick"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Toggle,
        name: "toggle",
        description: "turn approvals on or off (on the approvals field; elsewhere a space)",
        keys: &["Space"],
        contexts: &[Form],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Cancel,
        name: "cancel",
        description: "cancel (a decision's text is kept for next time)",
        keys: &["Esc"],
        contexts: &[Form, Editor, CommandLine, Note, Search],
        footer: Some("cancel"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Run,
        name: "run",
        description: "run the command (a note or a search: keep it)",
        keys: &["Enter"],
        contexts: &[CommandLine, Note, Search],
        footer: Some("run"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Complete,
        name: "complete",
        description: "complete the command name",
        keys: &["Tab"],
        contexts: &[CommandLine],
        footer: Some("complete"),
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::HistoryBack,
        name: "history-back",
        description: "the command before",
        keys: &["Up"],
        contexts: &[CommandLine],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::HistoryForward,
        name: "history-forward",
        description: "the command after",
        keys: &["Down"],
        contexts: &[CommandLine],
        footer: None,
        colon: false,
        enabled: always,
    },
    Command {
        cmd: Cmd::Cab,
        name: "cab",
        description: "CAB meetings: in progress, upcoming and recent (again: back to the queue)",
        keys: &["C"],
        contexts: SCREENS,
        footer: None,
        colon: true,
        enabled: always,
    },
    Command {
        cmd: Cmd::StartMeeting,
        name: "start",
        description: "start the meeting (the chair; asks first)",
        keys: &["s"],
        contexts: &[Agenda, Session],
        footer: Some("start"),
        colon: true,
        enabled: AppState::can_start_meeting,
    },
    Command {
        cmd: Cmd::NextItem,
        name: "next",
        description: "close the current item and discuss the next (the chair)",
        keys: &["n"],
        contexts: &[Session],
        footer: Some("next"),
        colon: true,
        enabled: AppState::can_move_meeting,
    },
    Command {
        cmd: Cmd::PrevItem,
        name: "back-item",
        description: "back to the item before (the chair)",
        keys: &["b"],
        contexts: &[Session],
        footer: Some("back"),
        colon: true,
        enabled: AppState::can_move_meeting,
    },
    Command {
        cmd: Cmd::DeferItem,
        name: "defer",
        description: "defer the current item to the end of the agenda (the chair)",
        keys: &["d"],
        contexts: &[Session],
        footer: Some("defer"),
        colon: true,
        enabled: AppState::can_move_meeting,
    },
    Command {
        cmd: Cmd::PauseResume,
        name: "pause",
        description: "pause the item's timer, or resume it (the chair)",
        keys: &["Space"],
        contexts: &[Session],
        footer: Some("pause"),
        colon: true,
        enabled: AppState::can_move_meeting,
    },
    Command {
        cmd: Cmd::EndMeeting,
        name: "end",
        description: "end the meeting (the chair; asks first); the notes go to the meeting's notes",
        keys: &["E"],
        contexts: &[Session],
        footer: Some("end meeting"),
        colon: true,
        enabled: AppState::can_move_meeting,
    },
    Command {
        cmd: Cmd::Note,
        name: "note",
        description: "a note on the current item, for the minutes (the chair)",
        keys: &["N"],
        contexts: &[Session],
        footer: Some("note"),
        colon: true,
        enabled: AppState::can_take_notes,
    },
];

/// What a command does on some screens, where that differs from its description.
const DESCRIBED_IN: &[(Cmd, Context, &str)] = &[
    (Cmd::Open, Meetings, "open the meeting's agenda"),
    (
        Cmd::Open,
        Agenda,
        "open the session (the chair starts it there; attendees follow it)",
    ),
];

impl Command {
    /// What it does in `ctx`.
    pub fn description_in(&self, ctx: Context) -> &'static str {
        DESCRIBED_IN
            .iter()
            .find(|(cmd, c, _)| *cmd == self.cmd && *c == ctx)
            .map_or(self.description, |(_, _, d)| d)
    }
}

/// The registry entry of a command.
pub fn command(cmd: Cmd) -> &'static Command {
    COMMANDS
        .iter()
        .find(|c| c.cmd == cmd)
        .expect("every command is registered")
}

/// The registry entry for `cmd` in `ctx` (a command may have another entry elsewhere).
pub fn entry(cmd: Cmd, ctx: Context) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.cmd == cmd && c.contexts.contains(&ctx))
}

/// Commands the `:` line can run on this screen (all of them for `None`), with their aliases.
pub fn colon_names_in(screen: Option<Context>) -> Vec<&'static str> {
    let here = |c: &Command| c.colon && screen.is_none_or(|s| c.contexts.contains(&s));
    let mut names: Vec<&'static str> = COMMANDS
        .iter()
        .filter(|c| here(c))
        .map(|c| c.name)
        .collect();
    names.extend(
        ALIASES
            .iter()
            .filter(|(_, real)| COMMANDS.iter().any(|c| c.name == *real && here(c)))
            .map(|(a, _)| *a),
    );
    names.sort_unstable();
    names.dedup();
    names
}

/// Other names the `:` line accepts.
pub const ALIASES: &[(&str, &str)] = &[
    ("delegate", "delegations"),
    ("q", "quit"),
    ("withdraw", "discard"),
    ("sync", "refresh"),
    ("meetings", "cab"),
    ("minutes", "note"),
];

/// The command a `:` name means.
pub fn by_colon_name(name: &str) -> Option<&'static Command> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, real)| real);
    COMMANDS.iter().find(|c| c.colon && c.name == name)
}
