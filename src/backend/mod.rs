//! The port to an ITSM system: `trait Backend`, and one module per system.
//!
//! Errors are typed here and rendered as one sentence each (what happened, what to do); the
//! binary edge shows them as they are.

pub mod servicenow;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;

use url::Url;

use crate::domain::cab::{Convene, MeetingDetail, MeetingSummary, MoveWrites};
use crate::domain::{Approval, ApprovalState, Delegation, DelegationDraft, LongTexts, User};

/// What signoff needs from an ITSM backend.
pub trait Backend: Send + Sync {
    /// Where the backend is, for the screen (no credentials).
    fn instance_label(&self) -> String;

    /// The login name in use.
    fn login(&self) -> String;

    /// What the user should know about the requests made since the last call (a list the
    /// server described wrongly and paging stopped early on, say), once each.
    fn take_notices(&self) -> Vec<String> {
        Vec::new()
    }

    /// The user the credentials belong to.
    fn current_user(&self) -> impl Future<Output = Result<User, BackendError>> + Send;

    /// Change approvals whose approver is one of `approver_ids`, with the change details the
    /// caller may read: every pending (`requested`) one, those changed since a time (in any
    /// state, so approvals that left the queue are seen), or pending ones by id. `progress`
    /// hears (rows so far, total when known) as pages arrive.
    fn approvals(
        &self,
        approver_ids: &[String],
        scope: Scope,
        progress: Progress<'_>,
    ) -> impl Future<Output = Result<Vec<Approval>, BackendError>> + Send;

    /// Every pending approval of `approver_ids` (as `approvals` with [`Scope::Pending`]),
    /// handed to `out` a page at a time as pages arrive, so a full pull of any size never
    /// holds the whole queue. The pages leave out the changes' long texts (see
    /// [`Backend::long_texts`]), so the queue is usable sooner and the pages are smaller. An approval may come twice (treat pages as upserts). Stops
    /// early, without error, when `out` is closed.
    fn pending_approvals(
        &self,
        approver_ids: &[String],
        progress: Progress<'_>,
        out: PageSender,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The long texts of these approvals' changes, which [`Backend::pending_approvals`] leaves
    /// out of its pages (rows marked `DetailSource::TextsPending`): fetched after the queue is
    /// usable, handed to `out` a batch at a time as answers arrive. Approvals the server no
    /// longer shows are left out. Stops early, without error, when `out` is closed.
    fn long_texts(
        &self,
        approval_ids: &[String],
        out: TextSender,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The instance's own SLAs (`task_sla`) on change requests, sanitised: every active one,
    /// or (`since`) every one updated since then in any stage, so clocks that completed or
    /// were cancelled are seen to stop.
    fn instance_slas(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> impl Future<Output = Result<Vec<crate::domain::context::TaskSla>, BackendError>> + Send;

    /// The change of this approval in full: every approval on it, its comments and work
    /// notes, attachments, CAB and conflict facts ([`crate::domain::context`]), sanitised.
    /// Parts the instance does not show are named in `hidden`, not errors.
    fn change_context(
        &self,
        approval_sys_id: &str,
        change_sys_id: &str,
    ) -> impl Future<Output = Result<crate::domain::context::ChangeContext, BackendError>> + Send;

    /// Approvals decided (approved or rejected) since `since` that are `me`'s or that `me`
    /// updated last: decisions made in the web UI or elsewhere, newest first, at most
    /// `limit`, sanitised.
    fn decided(
        &self,
        me: &crate::domain::User,
        since: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::domain::history::ServerDecision>, BackendError>> + Send;

    /// One approval as the server has it now (`None`: gone, or no longer visible to us).
    fn approval(
        &self,
        approval_sys_id: &str,
    ) -> impl Future<Output = Result<Option<ServerApproval>, BackendError>> + Send;

    /// Approves or rejects an approval, with the comment written to its journal.
    fn decide(
        &self,
        approval_sys_id: &str,
        state: ApprovalState,
        comment: &str,
    ) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Puts a change on hold (the text is the hold reason) or releases it (the text is a
    /// comment).
    fn set_hold(
        &self,
        change_sys_id: &str,
        hold: bool,
        text: &str,
    ) -> impl Future<Output = Result<Applied, BackendError>> + Send;

    /// Delegations where `user_sys_id` is the delegator or the delegate.
    fn delegations(
        &self,
        user_sys_id: &str,
    ) -> impl Future<Output = Result<Vec<Delegation>, BackendError>> + Send;

    /// Active users whose name contains `text` or whose login starts with it (at most 20).
    fn search_users(
        &self,
        text: &str,
    ) -> impl Future<Output = Result<Vec<User>, BackendError>> + Send;

    /// Creates a delegation from `user_sys_id` to the draft's delegate.
    fn create_delegation(
        &self,
        user_sys_id: &str,
        draft: &DelegationDraft,
    ) -> impl Future<Output = Result<Delegation, BackendError>> + Send;

    /// Changes a delegation's window.
    fn update_delegation(
        &self,
        sys_id: &str,
        starts: chrono::DateTime<chrono::Utc>,
        ends: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Delegation, BackendError>> + Send;

    /// Removes a delegation (one that has not started yet).
    fn delete_delegation(
        &self,
        sys_id: &str,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// The sys_ids of every pending approval of `approver_ids`: a cheap way to notice
    /// approvals that left the queue without downloading the queue again.
    fn pending_approval_ids(
        &self,
        approver_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send;

    /// CAB meetings starting between `from` and `to` (and any in progress) where
    /// `user_sys_id` is the manager, a delegate, a board member or on the attendee list.
    fn cab_meetings(
        &self,
        user_sys_id: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<MeetingSummary>, BackendError>> + Send;

    /// One meeting in full: agenda, attendees, live cursor, the agenda's changes and their
    /// approvals (`None`: gone, or hidden from the user).
    fn cab_meeting(
        &self,
        meeting_sys_id: &str,
    ) -> impl Future<Output = Result<Option<MeetingDetail>, BackendError>> + Send;

    /// Writes a move of a meeting: items closed first, then the one opened, the live cursor,
    /// the meeting itself last (as the CAB Workbench does).
    fn cab_write(
        &self,
        writes: &MoveWrites,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Appends paragraphs (plain text, escaped here) to a meeting's notes.
    fn cab_append_notes(
        &self,
        meeting_sys_id: &str,
        lines: &[String],
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Marks the user attending a meeting (their attendee row), stamping when they joined.
    fn cab_join(
        &self,
        attendee_sys_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Creates a meeting with its agenda and attendees; answers its sys_id.
    fn cab_convene(
        &self,
        draft: &Convene,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;

    /// A change by number as a deployment gate reads it: the record, its approval, its
    /// approvals with their latest comments (`None`: no such change, or hidden).
    fn change_status(
        &self,
        number: &str,
    ) -> impl Future<Output = Result<Option<crate::domain::gate::ChangeStatus>, BackendError>> + Send;

    /// Changes by number (for a meeting's agenda).
    fn changes_by_number(
        &self,
        numbers: &[String],
    ) -> impl Future<Output = Result<Vec<crate::domain::Change>, BackendError>> + Send;
}

/// The server's copy of an approval, with what a retry needs to recognise its own decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerApproval {
    pub approval: Approval,
    /// The approval's comment history as text.
    pub comments: String,
    /// The change's hold reason (empty when not on hold or not readable).
    pub hold_reason: String,
}

/// What the server answered to a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The server's time of the write (its record's sys_updated_on), when it said.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// A short account of the record after the write, for the journal.
    pub answer: String,
}

/// Which approvals to fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every pending (`requested`) approval.
    Pending,
    /// Approvals in any state whose own row or whose change was updated at or after this time.
    ChangedSince(chrono::DateTime<chrono::Utc>),
    /// Pending approvals with these sys_ids.
    PendingIds(Vec<String>),
}

/// Progress of a long fetch: rows so far, and the total when the server said.
/// Where [`Backend::pending_approvals`] sends its pages.
pub type PageSender = tokio::sync::mpsc::Sender<Vec<Approval>>;
/// Where [`Backend::long_texts`] sends its batches: (approval sys_id, its change's texts).
pub type TextSender = tokio::sync::mpsc::Sender<Vec<(String, LongTexts)>>;

pub type Progress<'a> = &'a (dyn Fn(usize, Option<usize>) + Sync);

/// A progress callback that ignores progress.
pub fn no_progress(_: usize, _: Option<usize>) {}

/// A write as it would go to the instance (`--dry-run`): the method, the full URL and the
/// JSON body. Never the credentials.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedRequest {
    pub method: String,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

/// Everything that can go wrong talking to a backend, each with advice for the user.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("This is a dry run: the request was written down, not sent.")]
    DryRun,
    #[error(
        "The instance refused the OAuth sign-in ({reason}). Check the client id and secret (client_id in the profile, SIGNOFF_CLIENT_SECRET), then sign in again with `signoff auth login`; a refresh token expires after 100 days by default."
    )]
    OAuthRefused { reason: String },
    #[error(
        "The instance refused the bearer token (HTTP 401): it expired or was revoked. Get a new one for SIGNOFF_TOKEN, or sign in with `signoff auth login`."
    )]
    TokenRefused,
    #[error(
        "The CA file {path} (ca_file in the profile, or SIGNOFF_CA_FILE) cannot be used: {problem}. Give a PEM file with your proxy's or company's CA certificate."
    )]
    CaFile { path: String, problem: String },
    #[error(
        "{url} presented a certificate from an issuer this machine does not trust{}. If your network inspects TLS (a corporate proxy), put its CA certificate in a PEM file and name it with ca_file = \"…\" in the profile (or SIGNOFF_CA_FILE); otherwise check the instance URL.",
        ca_file.as_ref().map(|p| format!(" (even with the CA file {p})")).unwrap_or_default()
    )]
    UnknownIssuer {
        url: String,
        ca_file: Option<String>,
    },
    #[error(
        "This profile is read-only (read_only = true in its config, or SIGNOFF_READ_ONLY): signoff sends no changes to the instance."
    )]
    ReadOnly,
    #[error(
        "The instance refused the user name or password (HTTP 401). Check the user and password (SIGNOFF_USER, SIGNOFF_PASSWORD), and that the instance allows basic authentication for this account."
    )]
    Unauthorized,
    #[error(
        "Something in front of the instance refused the request (HTTP {status} with {kind}, not ServiceNow's own answer), so this says nothing about your password. Check that the instance URL is the instance itself, and whether your network needs a VPN or single sign-on first."
    )]
    GatewayRefused { status: u16, kind: String },
    #[error(
        "The instance answered with a redirect to {to}, which is not the instance{}; signoff sent nothing there (no data, no credentials). Check the instance URL: give the address the instance itself answers on.",
        if from.is_empty() { String::new() } else { format!(" ({from})") }
    )]
    Redirected { from: String, to: String },
    #[error(
        "The instance answered the write with a redirect (to {to}) instead of the updated record, so signoff cannot tell from the answer whether it was applied; it checks the record on the instance before doing anything else."
    )]
    RedirectedWrite { to: String },
    #[error(
        "The proxy refused the connection ({reason}). Check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and the proxy's credentials, or ask your network team."
    )]
    ProxyRefused { reason: String },
    #[error(
        "The instance denied access to {what} (HTTP 403: {message}). Ask your ServiceNow administrator for the approver role on this instance."
    )]
    Forbidden { what: String, message: String },
    #[error("The instance denied access to {what} (HTTP 403: {message}). {advice}")]
    Refused {
        what: String,
        message: String,
        advice: &'static str,
    },
    #[error("The instance has no {what} (HTTP 404). Check the instance URL and the user name.")]
    NotFound { what: String },
    #[error(
        "The instance is rate-limiting requests (HTTP 429){}. Wait and try again; if it keeps happening, ask your administrator about the REST rate limit for your account.",
        retry_after.map(|s| format!("; it asks to retry after {s} s")).unwrap_or_default()
    )]
    RateLimited { retry_after: Option<u64> },
    #[error(
        "The instance answered with a server error (HTTP {status}{}). Try again in a few minutes; if it persists, check the instance's status page.",
        if message.is_empty() { String::new() } else { format!(": {message}") }
    )]
    Server {
        status: u16,
        message: String,
        /// Seconds the server asked to wait (Retry-After, usual on 503).
        retry_after: Option<u64>,
    },
    #[error(
        "The instance rejected the request as invalid (HTTP {status}: {message}). This is likely a signoff bug; please report it with the log file."
    )]
    BadRequest { status: u16, message: String },
    #[error(
        "Could not reach {url}: {reason}. Check the instance URL and your network or VPN connection."
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} did not answer within {seconds} s. Check your network or VPN connection and try again."
    )]
    Timeout { url: String, seconds: u64 },
    #[error("The instance sent a response signoff cannot read: {0}.")]
    Protocol(String),
    #[error(
        "The instance sent a {table} record signoff cannot use ({sys_id}): {problem}. Ask your ServiceNow administrator to check that record."
    )]
    BadRecord {
        table: &'static str,
        sys_id: String,
        problem: String,
    },
    #[error("The instance has no user named {0:?}. Check the user name (--user or SIGNOFF_USER).")]
    UnknownUser(String),
}

impl BackendError {
    /// How long the server asked to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            BackendError::RateLimited { retry_after }
            | BackendError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the credentials (or the way in) were refused: retrying cannot help until the
    /// user acts.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            BackendError::Unauthorized
                | BackendError::GatewayRefused { .. }
                | BackendError::ProxyRefused { .. }
        )
    }

    /// Whether retrying later might help (network trouble, rate limits, server errors).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::RateLimited { .. }
                | BackendError::Server { .. }
                | BackendError::Unreachable { .. }
                | BackendError::Timeout { .. }
        )
    }
}

/// A password or token. Its Debug and Display never show the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    pub instance: Url,
    pub user: String,
    pub password: Secret,
}

/// Parses an instance address. `acme` becomes `https://acme.service-now.com`; a URL without a
/// scheme gets `https://`. Plain http is accepted only for loopback addresses, so credentials
/// never cross a network unencrypted.
pub fn parse_instance_url(input: &str) -> Result<Url, String> {
    let input = input.trim().trim_end_matches('/');
    if input.is_empty() {
        return Err(
            "No instance given. Pass --instance URL or set SIGNOFF_INSTANCE, e.g. https://acme.service-now.com."
                .into(),
        );
    }
    let with_scheme = if input.contains("://") {
        input.to_string()
    } else if !input.contains(['.', ':', '/']) {
        format!("https://{input}.service-now.com")
    } else {
        format!("https://{input}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        format!("The instance address {input:?} is not a valid URL ({e}). Use a form like https://acme.service-now.com.")
    })?;
    let host = url.host_str().unwrap_or("").to_string();
    if host.is_empty() {
        return Err(format!(
            "The instance address {input:?} has no host name. Use a form like https://acme.service-now.com."
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => {
            return Err(format!(
                "Refusing plain http to {host}: credentials would cross the network unencrypted. Use https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost)."
            ));
        }
        other => {
            return Err(format!(
                "The instance address uses the scheme {other:?}; use https://."
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "The instance address contains a user name or password; give just the instance (the user comes from --user, the password from SIGNOFF_PASSWORD or the prompt)."
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "The instance address {input:?} should not contain a query or fragment; give just the instance, e.g. https://acme.service-now.com."
        ));
    }
    Ok(url)
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    trimmed.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls() {
        assert_eq!(
            parse_instance_url("acme").unwrap().as_str(),
            "https://acme.service-now.com/"
        );
        assert_eq!(
            parse_instance_url("acme.service-now.com/")
                .unwrap()
                .as_str(),
            "https://acme.service-now.com/"
        );
        assert!(parse_instance_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_instance_url("http://127.9.0.1:8080").is_ok());
        assert!(parse_instance_url("http://[::1]:8080").is_ok());
        assert!(parse_instance_url("http://localhost:8080").is_ok());
        let err = parse_instance_url("http://acme.service-now.com").unwrap_err();
        assert!(err.contains("Refusing plain http"), "{err}");
        assert!(parse_instance_url("http://10.0.0.1").is_err());
        assert!(parse_instance_url("ftp://x.example").is_err());
        assert!(parse_instance_url("").is_err());
        assert!(parse_instance_url("https://acme.service-now.com/?x=1").is_err());
        let err = parse_instance_url("https://bob:hunter2@acme.service-now.com").unwrap_err();
        assert!(
            !err.contains("hunter2") && err.contains("password"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = Connection {
            instance: parse_instance_url("acme").unwrap(),
            user: "a".into(),
            password: s,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
