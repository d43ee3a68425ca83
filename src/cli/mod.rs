//! Command-line interface: argument parsing and dispatch (here), exit codes and the error
//! envelope, connecting (`connect`), and one file per use case.

mod audit;
mod auth;
mod cab;
mod connect;
mod decide;
mod delegate;
mod doctor;
mod gate;
mod insights;
mod outbox;
pub mod output;
mod policy;
mod queue;
mod reconcile;
mod sim;
mod sync;
mod tui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::backend::BackendError;
use crate::config::{Config, Paths};
use crate::domain::DecisionKind;
use crate::ui::{self, Theme};
pub use connect::Session;
pub use output::Output;
pub use tui::zone_label;

#[derive(Debug, Parser)]
#[command(
    name = "signoff",
    version,
    about = "A terminal console for people who approve IT changes.",
    after_help = "Get started:\n  signoff demo                          Try the console on a built-in demo instance\n  signoff auth login                    Sign in once; the secret goes to the OS keyring\n  signoff                               Open your approval queue\n  signoff queue -o json                 Your queue for scripts (JSON when piped anyway)\n  signoff approve CHG0030001 -m TEXT    Decide from a script\n  signoff gate CHG0030001 --env prod    May this change deploy now? (exit 0 or a reason)\n\nSigning in: SIGNOFF_PASSWORD, password_command, a kept password or OAuth refresh token\n(`signoff auth login`), SIGNOFF_TOKEN, or signoff asks.\n\nExit codes: 0 done, 1 other, 2 bad input, 3 journal tampered, 4 conflict, 5 refused,\n6 not found, 7 server error, 8 rate limited, 9 unreachable, 10-16 gate, 75 queued."
)]
pub struct Cli {
    /// The ServiceNow instance, e.g. https://acme.service-now.com (or just `acme`).
    #[arg(
        long,
        env = "SIGNOFF_INSTANCE",
        global = true,
        help_heading = "Global options"
    )]
    pub instance: Option<String>,
    /// Your login name on the instance.
    #[arg(
        long,
        env = "SIGNOFF_USER",
        global = true,
        help_heading = "Global options"
    )]
    pub user: Option<String>,
    /// Colour theme: dark, light, high-contrast, high-contrast-light, or a file
    /// themes/NAME.toml in the config directory. NO_COLOR turns colour off.
    #[arg(
        long,
        env = "SIGNOFF_THEME",
        global = true,
        help_heading = "Global options"
    )]
    pub theme: Option<String>,
    /// Which configured connection (and cache) to use; see [profiles.NAME] in config.toml.
    #[arg(
        long,
        env = "SIGNOFF_PROFILE",
        global = true,
        help_heading = "Global options"
    )]
    pub profile: Option<String>,
    /// Never touch the network: work from the local cache only.
    #[arg(long, global = true, help_heading = "Global options")]
    pub offline: bool,
    /// No colour, whatever the theme (the same as NO_COLOR=1).
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_color: bool,
    /// How listings and reports print: table, json, jsonl or csv (default: table on a
    /// terminal, json when standard output is a pipe or a file). Under json and jsonl,
    /// errors are a JSON envelope on standard error.
    #[arg(
        long,
        short = 'o',
        env = "SIGNOFF_OUTPUT",
        global = true,
        value_enum,
        help_heading = "Global options"
    )]
    pub output: Option<Output>,
    /// Quit right after the first frame (start-up benchmark).
    #[arg(long, global = true, hide = true)]
    pub exit_after_first_frame: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the approval console (the default).
    Tui,
    /// Open the console against a built-in demo instance; nothing else needed.
    Demo {
        /// Seed of the demo data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of changes on the demo instance.
        #[arg(long, default_value_t = 300)]
        changes: usize,
        /// Start the demo instance over from its seed: the records it kept from earlier runs
        /// (decisions, comments, delegations) are forgotten.
        #[arg(long)]
        fresh: bool,
    },
    /// Run the built-in ServiceNow-compatible server for other clients and tests.
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Seed of the generated data (the same seed, the same data).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of changes to generate.
        #[arg(long, default_value_t = 300)]
        changes: usize,
        /// Keep the instance's records in this file across restarts: read at start when it
        /// exists (then --seed and --changes do not apply), written after every write.
        #[arg(long, value_name = "FILE")]
        data: Option<std::path::PathBuf>,
        /// Most rows the server returns per page whatever sysparm_limit asks, to test clients'
        /// paging (default: none; as an instance, sysparm_limit is honoured, 10,000 rows
        /// without one).
        #[arg(long)]
        page_cap: Option<usize>,
        /// Delay added to every response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Fraction of requests (0 to 1) that fail with HTTP 500, e.g. 0.1.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Requests allowed per minute per user; beyond that HTTP 429 with Retry-After.
        #[arg(long)]
        rate_limit: Option<u32>,
        /// What a deep sysparm_offset costs, in milliseconds per 1,000 rows skipped, as a real
        /// instance's database walks past them (0: free).
        #[arg(long, default_value_t = 1)]
        offset_cost_ms: u64,
    },
    /// Sync, then print your pending approvals in queue order (--offline: from the cache).
    Queue {
        /// The same as --output json (kept for older scripts).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Deliver waiting decisions, sync the local cache once, and report what changed.
    Sync,
    /// Approve the change's pending approval, with a justification.
    Approve(DecideArgs),
    /// Reject the change's pending approval, with a justification.
    Reject(DecideArgs),
    /// Put the change on hold; the justification is the hold reason.
    Hold(DecideArgs),
    /// Release the change's hold; the justification is written as a comment.
    Resume(DecideArgs),
    /// Hand your approvals to a colleague while you are away, and see who covers whom.
    #[command(subcommand)]
    Delegate(DelegateCommand),
    /// Print where signoff keeps its files, which instance and account a profile uses, and
    /// the state of its cache (no network).
    Doctor,
    /// Approval figures of the last 7, 30 or 90 days from your decisions and the cached queue:
    /// cycle time by tier, decisions per day, rejections, last-minute approvals, breaches.
    Insights {
        /// The period: 7, 30 or 90 days.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// The approval policy under change control: the policy in force and its hash, a changed
    /// policy file's diff, and its confirmation (journaled). A changed policy is not used
    /// until it is confirmed.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script: `signoff completions bash > /etc/bash_completion.d/signoff`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `signoff man | man -l -`.
    Man,
    /// Sign in once (the password, or an OAuth refresh token, kept in the OS keyring, else an
    /// owner-only file), check the sign-in, or remove what is kept.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// For pipelines: exit 0 only if the change may be deployed to the environment now
    /// (approved, not on hold, inside its planned window, of a tier that covers the
    /// environment); otherwise the reason and a documented exit code (10–16).
    Gate {
        /// The change number, e.g. CHG0030001.
        change: String,
        /// The environment deployed to, e.g. prod (see [policy.environments]).
        #[arg(long)]
        env: String,
        /// Keep checking (with backoff) until the gate opens or --timeout passes; only what
        /// can still change is waited for (an approval, a hold, a window not open yet).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits: 30m, 90s, 1h30m.
        #[arg(long, default_value = "30m")]
        timeout: String,
        /// The first pause between checks with --wait (it grows to at most a minute).
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Also write the evidence (JSON) to this file.
        #[arg(long)]
        evidence: Option<std::path::PathBuf>,
    },
    /// Check deployments (a CSV or JSON-lines file: time, environment, change, service,
    /// version; `-` reads standard input) against the changes that should have authorised
    /// them; exit 1 when any was not.
    Reconcile {
        /// The deployments file (`-` reads standard input).
        file: std::path::PathBuf,
        /// The report: md (Markdown) or json.
        #[arg(long, value_enum, default_value_t = OutputFormat::Md)]
        format: OutputFormat,
    },
    /// The audit journal: show, verify and export it, and the public key that checks it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// CAB meetings: list them, show an agenda, write the minutes, convene an emergency CAB.
    #[command(subcommand)]
    Cab(CabCommand),
    /// List decisions not yet applied (queued, conflicts, failures; exit 4 while conflicts or
    /// failures wait), or discard or retry one by its ref.
    Outbox {
        /// Include decisions already applied.
        #[arg(long)]
        all: bool,
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Drop a decision in conflict or failed, or take back one not sent yet.
    Discard {
        /// Its ref, as `signoff outbox` shows it (the start is enough).
        reference: String,
    },
    /// Check a decision in conflict or failed against the instance again, and send it if it
    /// still applies.
    Retry {
        /// Its ref, as `signoff outbox` shows it (the start is enough).
        reference: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DelegateCommand {
    /// Delegate your approvals: `signoff delegate add --to bob.lee --from 2026-12-20 --until 2027-01-03`.
    Add {
        /// The colleague (login or full name).
        #[arg(long)]
        to: String,
        /// Start: YYYY-MM-DD (midnight), YYYY-MM-DD HH:MM (local time) or RFC 3339; default now.
        #[arg(long)]
        from: Option<String>,
        /// End: YYYY-MM-DD (end of that day), YYYY-MM-DD HH:MM (local time) or RFC 3339.
        #[arg(long)]
        until: String,
        /// Delegate without the right to approve (notifications only).
        #[arg(long)]
        no_approvals: bool,
        /// Print the request that would be sent, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delegations you gave and received, with their windows and states.
    List,
    /// End one of your delegations now (an upcoming one is cancelled).
    End {
        /// The delegation's id, from `signoff delegate list`.
        id: String,
        /// Print the request that would be sent, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change the window of one of your delegations.
    Edit {
        /// The delegation's id, from `signoff delegate list`.
        id: String,
        /// New start: YYYY-MM-DD, YYYY-MM-DD HH:MM (local time) or RFC 3339; default: as it is.
        #[arg(long)]
        from: Option<String>,
        /// New end: YYYY-MM-DD (end of that day), YYYY-MM-DD HH:MM or RFC 3339.
        #[arg(long)]
        until: String,
        /// Print the request that would be sent, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CabCommand {
    /// Your CAB meetings (in progress, the next and last 14 days): as chair, delegate, board
    /// member or attendee.
    List,
    /// A meeting's agenda in order: tier, window, open approvals, what needs attention, and
    /// the attendees.
    Show {
        /// The meeting: its sys_id, or a part of its name that only it has.
        meeting: String,
    },
    /// The minutes: attendance, and per item the decision, who decided and why, time spent
    /// against time allotted, and the chair's notes.
    Minutes {
        /// The meeting: its sys_id, or a part of its name that only it has.
        meeting: String,
        /// md (Markdown) or json.
        #[arg(long, value_enum, default_value_t = OutputFormat::Md)]
        format: OutputFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Convene an ad-hoc (emergency) CAB for these changes, chaired by you:
    /// `signoff cab convene CHG0030001 CHG0030002 --attendees ben.ishikawa,carla.diaz`.
    Convene {
        /// The changes to review, in agenda order.
        #[arg(required = true, value_name = "CHANGE")]
        changes: Vec<String>,
        /// Who to invite (logins or names, comma-separated); you are listed as the chair.
        #[arg(long, value_delimiter = ',')]
        attendees: Vec<String>,
        /// The meeting's name (default: "Emergency CAB — " and the change numbers).
        #[arg(long)]
        name: Option<String>,
        /// Start: YYYY-MM-DD HH:MM (local time) or RFC 3339; default now.
        #[arg(long)]
        start: Option<String>,
        /// Time allotted per change, in minutes.
        #[arg(long, default_value_t = 15)]
        minutes_per_item: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Ask for the password once, check it against the instance, and keep it (with OAuth: keep
    /// the refresh token the instance answers, not the password).
    Login {
        /// Read the password from standard input (one line) instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Whether a password or refresh token is kept, where, and whether it signs in.
    Status,
    /// Remove the kept password.
    Logout,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The journal's entries: sequence, time, who (and for whom), change, approval, decision,
    /// justification, the hash of the change as seen, the server's answer, controls, hashes.
    Log {
        /// From this date (YYYY-MM-DD, YYYY-MM-DD HH:MM local, or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// To this date (a date alone: the end of that day).
        #[arg(long)]
        to: Option<String>,
        /// Only entries about this change.
        #[arg(long)]
        change: Option<String>,
    },
    /// Recompute the chain and check every signature; exit 0 only for an intact journal
    /// (3 when it is not).
    Verify {
        /// The public key to check signatures with (from `signoff audit pubkey`); default: this
        /// machine's key.
        #[arg(long)]
        pubkey: Option<std::path::PathBuf>,
        /// Also check each applied decision against the journal hash its comment carries on
        /// the instance.
        #[arg(long)]
        against_server: bool,
        /// A head seen earlier ("<seq> <hash>", an export's chain_head): the journal, which
        /// only grows, must still hold that entry; catches entries cut from the end.
        #[arg(long, value_name = "SEQ HASH")]
        expect_head: Option<String>,
    },
    /// The journal's public key, for an auditor to keep.
    Pubkey {
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Drop journal entries older than the policy's retention period (refused under a legal
    /// hold); the rest still verifies from a signed checkpoint.
    Prune {
        /// Only entries before this date (it must itself be outside the retention period).
        #[arg(long)]
        before: Option<String>,
        /// Say what would go, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// For the periodic review of approval rights: the delegations given and received (active,
    /// upcoming, or ended in the period) and the decisions taken on someone's behalf.
    AccessReview {
        /// From this date (YYYY-MM-DD, YYYY-MM-DD HH:MM local, or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// To this date (a date alone: the end of that day).
        #[arg(long)]
        to: Option<String>,
    },
    /// One row per decision for auditors (columns in the README); the same journal gives the
    /// same bytes, and the export names the chain head it covers.
    Export {
        /// From this date (YYYY-MM-DD, YYYY-MM-DD HH:MM local, or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// To this date (a date alone: the end of that day).
        #[arg(long)]
        to: Option<String>,
        /// json or csv.
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        format: OutputFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// The format of a document a command writes (minutes, exports, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    /// Markdown (the minutes).
    Md,
    Csv,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force, its hash and who confirmed it.
    Show,
    /// Print what the config file's policy changes against the policy in force.
    Diff,
    /// Put the config file's changed policy in force (asks first unless --yes).
    Confirm {
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The change number, e.g. CHG0030001.
    pub change: String,
    /// Why: the justification recorded with the decision (`-m -` reads it from standard
    /// input).
    #[arg(
        short = 'm',
        long = "message",
        required_unless_present = "message_file",
        conflicts_with = "message_file"
    )]
    pub message: Option<String>,
    /// Read the justification from this file.
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<std::path::PathBuf>,
    /// Decide the approval of this colleague (login or name), who delegated to you. Without
    /// it only your own approval is decided: a colleague's is never decided by default.
    #[arg(long = "for", value_name = "USER")]
    pub for_user: Option<String>,
    /// Print the requests that would be sent (method, URL, JSON body) and send nothing:
    /// nothing is queued or journaled.
    #[arg(long)]
    pub dry_run: bool,
    /// The risk acceptance an approval outside the standard path needs (after the SLA
    /// breached, inside the window, an emergency change without CAB review, a risk above the
    /// tier's; see [policy.deviations]): written to the server with the decision and kept in
    /// the journal and exports.
    #[arg(long, value_name = "TEXT")]
    pub accept_risk: Option<String>,
}

/// The exit codes, a stable table (README "Exit codes"): scripts may rely on them.
pub mod exit {
    /// Done (a decision: applied on the server).
    pub const APPLIED: u8 = 0;
    /// Something else went wrong.
    pub const FAILURE: u8 = 1;
    /// Bad input or configuration (a justification too short, an unknown option, a
    /// read-only profile asked to write).
    pub const INVALID: u8 = 2;
    /// The audit journal does not verify.
    pub const TAMPERED: u8 = 3;
    /// The decision no longer applies (someone else decided, the change moved), or decisions
    /// in conflict wait in the outbox.
    pub const CONFLICT: u8 = 4;
    /// The instance refused the sign-in or the access (HTTP 401/403).
    pub const REFUSED: u8 = 5;
    /// What was asked for does not exist (a change number, a user, a meeting, a ref).
    pub const NOT_FOUND: u8 = 6;
    /// The instance failed or answered what signoff cannot use (HTTP 5xx, not JSON).
    pub const SERVER: u8 = 7;
    /// The instance kept rate-limiting (HTTP 429) past the waits signoff allows itself.
    pub const RATE_LIMITED: u8 = 8;
    /// The instance could not be reached (network, DNS, TLS, proxy, timeout, a redirect
    /// away from it).
    pub const UNREACHABLE: u8 = 9;
    /// Stored in the outbox for later delivery (offline); EX_TEMPFAIL.
    pub const QUEUED: u8 = 75;
}

/// What kind of failure, as scripts see it: an exit code and a name in the error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other,
    Usage,
    ReadOnly,
    Conflict,
    Refused,
    NotFound,
    Server,
    RateLimited,
    Unreachable,
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Other => exit::FAILURE,
            Kind::Usage | Kind::ReadOnly => exit::INVALID,
            Kind::Conflict => exit::CONFLICT,
            Kind::Refused => exit::REFUSED,
            Kind::NotFound => exit::NOT_FOUND,
            Kind::Server => exit::SERVER,
            Kind::RateLimited => exit::RATE_LIMITED,
            Kind::Unreachable => exit::UNREACHABLE,
        }
    }

    /// The name in the error envelope.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Other => "other",
            Kind::Usage => "bad_input",
            Kind::ReadOnly => "read_only",
            Kind::Conflict => "conflict",
            Kind::Refused => "refused",
            Kind::NotFound => "not_found",
            Kind::Server => "server_error",
            Kind::RateLimited => "rate_limited",
            Kind::Unreachable => "unreachable",
        }
    }

    /// What to do, in general, for this kind; a failure may say something more precise.
    fn remediation(self) -> &'static str {
        match self {
            Kind::Other => {
                "See the message; the log file (`signoff doctor` names it) has the details."
            }
            Kind::Usage => {
                "Correct the command line or the configuration; `signoff help COMMAND` shows the options."
            }
            Kind::ReadOnly => {
                "Use a profile without read_only = true (and unset SIGNOFF_READ_ONLY) to send changes."
            }
            Kind::Conflict => {
                "Look at the change again (`signoff outbox`, `signoff queue`) and decide anew if it still needs you."
            }
            Kind::Refused => {
                "Check the user and password (`signoff auth status`), and that the account may use the REST API on this instance."
            }
            Kind::NotFound => "Check the number or name; `signoff queue` lists what waits for you.",
            Kind::Server => {
                "Try again in a few minutes; if it persists, check the instance's status page."
            }
            Kind::RateLimited => {
                "Wait a minute and try again; ask your administrator about the REST rate limit if it keeps happening."
            }
            Kind::Unreachable => {
                "Check the instance URL, the network or VPN, and the proxy settings (HTTPS_PROXY, NO_PROXY); decisions made meanwhile wait in the outbox."
            }
        }
    }
}

/// An error at the edge: a sentence for the user, its kind and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
    pub kind: Kind,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: kind.code(),
            kind,
        }
    }
    /// Bad input or configuration: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Other, message)
    }
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Kind::NotFound, message)
    }
    pub fn remediation(&self) -> &'static str {
        self.kind.remediation()
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        Failure::new(backend_kind(&e), e.to_string())
    }
}

/// The kind of a failure talking to the instance.
pub fn backend_kind(e: &BackendError) -> Kind {
    match e {
        BackendError::ReadOnly => Kind::ReadOnly,
        BackendError::CaFile { .. } => Kind::Usage,
        BackendError::DryRun => Kind::Other,
        BackendError::Unauthorized
        | BackendError::OAuthRefused { .. }
        | BackendError::TokenRefused
        | BackendError::Forbidden { .. }
        | BackendError::Refused { .. }
        | BackendError::GatewayRefused { .. } => Kind::Refused,
        BackendError::NotFound { .. } | BackendError::UnknownUser(_) => Kind::NotFound,
        BackendError::RateLimited { .. } => Kind::RateLimited,
        BackendError::Server { .. }
        | BackendError::BadRequest { .. }
        | BackendError::Protocol(_)
        | BackendError::BadRecord { .. }
        | BackendError::RedirectedWrite { .. } => Kind::Server,
        BackendError::Unreachable { .. }
        | BackendError::Timeout { .. }
        | BackendError::ProxyRefused { .. }
        | BackendError::UnknownIssuer { .. }
        | BackendError::Redirected { .. } => Kind::Unreachable,
    }
}

impl Cli {
    /// Whether an error is written as the JSON envelope: under `--output json|jsonl`, or for a
    /// listing whose standard output is not a terminal (where it prints JSON by default).
    pub fn json_errors(&self) -> bool {
        match self.output {
            Some(o) => o.is_json(),
            None => {
                self.command.as_ref().is_some_and(Command::is_listing)
                    && Output::resolve(None).is_json()
            }
        }
    }
}

impl Command {
    /// Whether the command prints a listing or a report in the `--output` format.
    pub fn is_listing(&self) -> bool {
        match self {
            Command::Queue { .. } | Command::Sync | Command::Doctor | Command::Insights { .. } => {
                true
            }
            Command::Outbox { action, .. } => action.is_none(),
            Command::Delegate(d) => matches!(d, DelegateCommand::List),
            Command::Cab(c) => matches!(c, CabCommand::List | CabCommand::Show { .. }),
            Command::Audit(a) => matches!(
                a,
                AuditCommand::Log { .. }
                    | AuditCommand::Verify { .. }
                    | AuditCommand::AccessReview { .. }
            ),
            Command::Auth(a) => matches!(a, AuthCommand::Status),
            _ => false,
        }
    }

    /// The command's name for the log: never its arguments, which carry justifications.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Tui => "tui",
            Command::Demo { .. } => "demo",
            Command::Sim { .. } => "sim",
            Command::Queue { .. } => "queue",
            Command::Sync => "sync",
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Hold(_) => "hold",
            Command::Resume(_) => "resume",
            Command::Delegate(_) => "delegate",
            Command::Doctor => "doctor",
            Command::Insights { .. } => "insights",
            Command::Policy(_) => "policy",
            Command::Cab(_) => "cab",
            Command::Audit(_) => "audit",
            Command::Gate { .. } => "gate",
            Command::Auth(_) => "auth",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
            Command::Reconcile { .. } => "reconcile",
            Command::Outbox { .. } => "outbox",
        }
    }
}

/// Prints what `--dry-run` wrote down instead of sending: for people, each request's method,
/// URL and body; for scripts, the list as JSON.
pub(crate) fn print_plan(
    out: Output,
    plan: &[crate::backend::PlannedRequest],
) -> Result<(), Failure> {
    output::listing(
        out,
        plan,
        |w| {
            writeln!(
                w,
                "Dry run: nothing was sent, queued or journaled. {} request{} would be sent:",
                plan.len(),
                if plan.len() == 1 { "" } else { "s" }
            )?;
            for r in plan {
                writeln!(w, "\n{} {}", r.method, r.url)?;
                if let Some(body) = &r.body {
                    writeln!(w, "Content-Type: application/json\n{body}")?;
                }
            }
            Ok(())
        },
        "the requests",
    )
}

/// Writes a command's output to stdout; a reader that stops early (`| head`) is no failure.
pub(crate) fn print_stdout(bytes: &[u8], what: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(format!("Could not write {what}: {e}"))),
    }
}

/// A time as the command line prints it: local, in the offset in force on its own date
/// (summer or winter), with that offset.
pub(crate) fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%a %Y-%m-%d %H:%M %:z")
        .to_string()
}

/// A value as pretty JSON with a final newline, for stdout or a file.
pub(crate) fn json_text<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    let mut t = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::other(format!("Could not write JSON: {e}")))?;
    t.push('\n');
    Ok(t)
}

/// Runs a parsed command line.
pub async fn run(mut cli: Cli, paths: Paths) -> Result<ExitCode, Failure> {
    let command = cli.command.take();
    // Generated from the command-line definition itself, so they never fall behind it.
    match &command {
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "signoff", &mut out);
            return print_stdout(&out, "the completion script").map(|_| ExitCode::SUCCESS);
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Failure::other(format!("Could not write the manual page: {e}")))?;
            return print_stdout(&out, "the manual page").map(|_| ExitCode::SUCCESS);
        }
        _ => {}
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        command = command.as_ref().map_or("tui", Command::name),
        at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        "signoff starting"
    );
    let config = Config::load(&paths.config_file()).map_err(Failure::usage)?;
    let theme_name = cli
        .theme
        .clone()
        .or_else(|| config.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme = Theme::load(
        &theme_name,
        &paths.themes_dir(),
        cli.no_color || ui::theme::no_color_requested(),
    )
    .map_err(Failure::usage)?;
    let mut session = Session::new(cli, paths, config)?;
    // The console asks about a changed policy in a dialog, and `policy` says it itself;
    // every other command warns on standard error.
    session.warn_policy = !matches!(
        command,
        None | Some(Command::Tui) | Some(Command::Demo { .. }) | Some(Command::Policy(_))
    );
    match command {
        None | Some(Command::Tui) => tui::console(&session, theme).await?,
        Some(Command::Demo {
            seed,
            changes,
            fresh,
        }) => tui::demo(&session, theme, seed, changes, fresh).await?,
        Some(Command::Sim {
            port,
            seed,
            changes,
            data,
            page_cap,
            latency_ms,
            fail_rate,
            rate_limit,
            offset_cost_ms,
        }) => {
            let mut cfg = sim::config_with(seed, changes, page_cap, latency_ms, offset_cost_ms)?;
            cfg.data_file = data;
            sim::faults(&mut cfg, fail_rate, rate_limit)?;
            sim::standalone(cfg, port).await?;
        }
        Some(Command::Queue { json }) => queue::run(&session, json).await?,
        Some(Command::Approve(args)) => {
            return decide::run(&session, DecisionKind::Approve, args).await;
        }
        Some(Command::Reject(args)) => {
            return decide::run(&session, DecisionKind::Reject, args).await;
        }
        Some(Command::Hold(args)) => return decide::run(&session, DecisionKind::Hold, args).await,
        Some(Command::Resume(args)) => {
            return decide::run(&session, DecisionKind::Resume, args).await;
        }
        Some(Command::Delegate(cmd)) => delegate::run(&session, cmd).await?,
        Some(Command::Doctor) => doctor::run(&session, &theme_name)?,
        Some(Command::Cab(cmd)) => cab::run(&session, cmd).await?,
        Some(Command::Auth(cmd)) => auth::run(&session, cmd).await?,
        Some(Command::Completions { .. } | Command::Man) => {}
        Some(Command::Audit(cmd)) => return audit::run(&session, cmd).await.map(ExitCode::from),
        Some(Command::Reconcile { file, format }) => {
            return reconcile::run(&session, &file, format)
                .await
                .map(ExitCode::from);
        }
        Some(Command::Gate {
            change,
            env,
            wait,
            timeout,
            interval,
            evidence,
        }) => {
            let args = gate::GateArgs {
                change,
                env,
                wait,
                timeout,
                interval,
                evidence,
            };
            return gate::run(&session, args).await.map(ExitCode::from);
        }
        Some(Command::Policy(command)) => {
            return policy::run(&session, command).map(ExitCode::from);
        }
        Some(Command::Insights { days }) => {
            return insights::run(&session, days).map(ExitCode::from);
        }
        Some(Command::Outbox { all, action }) => {
            return outbox::run(&session, all, action).await.map(ExitCode::from);
        }
        Some(Command::Sync) => return sync::run(&session).await,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit codes `--help` lists are the ones the code uses.
    #[test]
    fn help_lists_the_exit_codes_in_use() {
        let cmd = <Cli as clap::CommandFactory>::command();
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let help = help.replace('\n', " ");
        for (code, name) in [
            (exit::FAILURE, "other"),
            (exit::INVALID, "bad input"),
            (exit::TAMPERED, "journal tampered"),
            (exit::CONFLICT, "conflict"),
            (exit::REFUSED, "refused"),
            (exit::NOT_FOUND, "not found"),
            (exit::SERVER, "server error"),
            (exit::RATE_LIMITED, "rate limited"),
            (exit::UNREACHABLE, "unreachable"),
            (exit::QUEUED, "queued"),
        ] {
            assert!(
                help.contains(&format!("{code} {name}")),
                "{code} {name}: {help}"
            );
        }
    }

    /// Every option of every command says what it is for, and the global ones stand under
    /// their own heading.
    #[test]
    fn every_option_has_help_and_globals_their_heading() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{path} --{id}"));
                }
                if arg.is_global_set()
                    && !arg.is_hide_set()
                    && arg.get_help_heading() != Some("Global options")
                {
                    missing.push(format!("{path} --{id} (global, without the heading)"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut missing = Vec::new();
        walk(&cmd, "signoff", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:#?}");
    }
}
