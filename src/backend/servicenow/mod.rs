//! The ServiceNow adapter: the Table API over reqwest (reference: servicenow-api.md §1, §3, §7).
//!
//! Every request asks for `sysparm_display_value=all` with reference links excluded, so each
//! field is a `{display_value, value}` pair; the reader in `wire` still accepts every other
//! shape. Lists are paged with `sysparm_limit`/`sysparm_offset`, following the `Link` header.

mod cab;
mod context;
mod convert;
mod http;
pub mod oauth;
mod paging;
mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use url::Url;

use super::{
    Applied, Backend, BackendError, Connection, PageSender, Progress, Scope, ServerApproval,
};
use chrono::{DateTime, Utc};

use crate::domain::text::clean_line;
use crate::domain::{
    Approval, ApprovalState, Change, Delegation, DelegationDraft, DetailSource, LongTexts,
    ServerClock, User,
};
use wire::Row;

/// Rows asked for per page. Instances may cap pages lower; the `Link` header tells us.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Change-record queries run at once.
const PARALLEL_QUERIES: usize = 4;
/// Rows per page of the instance's SLAs: small rows, read in few requests.
const SLA_PAGE_ROWS: usize = 1000;
/// Change ids per `sys_idIN` query (keeps URLs well under common proxy limits).
const IDS_PER_QUERY: usize = 100;
/// Pages a streamed full pull keeps ready for a slower receiver (the store) before the
/// key ranges wait.
const PAGES_AHEAD: usize = 8;

pub struct ServiceNow {
    http: http::Transport,
    page_size: usize,
    /// Things the user should know about the last requests (paging stopped early, say).
    notices: Mutex<Vec<String>>,
}

/// Turns one wire row into a domain value; runs as each page arrives, so the JSON of a large
/// queue is never held all at once.
type Convert<'c, T> = &'c (dyn Fn(&Row<'_>) -> Result<T, BackendError> + Sync);

/// How to reach the instance besides where and as whom.
#[derive(Clone, Default)]
pub struct Options {
    /// Rows per page asked for (default 100).
    pub page_size: Option<usize>,
    /// How long one request may take (default 30 s).
    pub timeout: Option<Duration>,
    /// The server clock fed by every answer's `Date` header.
    pub clock: Option<Arc<ServerClock>>,
    /// Send no writes at all (a read-only profile: CAB observers, auditors).
    pub read_only: bool,
    /// Sign in with a bearer token (given, or OAuth) instead of the password.
    pub bearer: Option<Arc<oauth::Bearer>>,
    /// Extra CA certificates to trust (PEM), for a TLS-inspecting proxy.
    pub ca_file: Option<std::path::PathBuf>,
    /// Wait out a rate limit (or a 503 on a read) that says for how long, a few times,
    /// saying so on stderr (one-shot commands; the console's engine backs off itself).
    pub retry_waits: bool,
}

impl ServiceNow {
    pub fn new(conn: Connection) -> Result<ServiceNow, BackendError> {
        ServiceNow::with_options(conn, Options::default())
    }

    pub fn with_options(conn: Connection, options: Options) -> Result<ServiceNow, BackendError> {
        let timeout = options
            .timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(http::DEFAULT_TIMEOUT);
        let mut http =
            http::Transport::new(conn, timeout, options.clock, options.ca_file.as_deref())?;
        http.read_only = options.read_only;
        http.bearer = options.bearer;
        http.retry_waits = options.retry_waits;
        Ok(ServiceNow {
            http,
            page_size: options
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, paging::MAX_PAGE_ROWS),
            notices: Mutex::new(Vec::new()),
        })
    }

    /// From now on, writes are not sent but written down (`--dry-run`); the list answered
    /// fills as the adapter builds them, each write answering [`BackendError::DryRun`].
    pub fn plan_writes(&mut self) -> Arc<Mutex<Vec<crate::backend::PlannedRequest>>> {
        let plan = Arc::new(Mutex::new(Vec::new()));
        self.http.dry_run = Some(plan.clone());
        plan
    }

    /// Whether to wait out rate limits on stderr (off for the console, whose screen is
    /// stderr's and whose engine backs off itself).
    pub fn set_retry_waits(&mut self, on: bool) {
        self.http.retry_waits = on;
    }

    pub fn with_page_size(mut self, n: usize) -> ServiceNow {
        self.page_size = n.clamp(1, paging::MAX_PAGE_ROWS);
        self
    }

    pub fn connection(&self) -> &Connection {
        self.http.conn()
    }

    /// Says that `rows` approvals an instance answered were not asked for and were left out.
    fn left_out(&self, rows: usize) {
        if rows == 0 {
            return;
        }
        tracing::warn!(
            rows,
            "the instance answered approvals the query did not ask for; left out"
        );
        self.notice(format!(
            "The instance answered {rows} approval{} that are not waiting for you or the colleagues you cover (it may have ignored part of the query); they were left out. Tell your ServiceNow administrator if this repeats.",
            if rows == 1 { "" } else { "s" }
        ));
    }

    fn notice(&self, text: String) {
        if let Ok(mut n) = self.notices.lock() {
            n.push(text);
        }
    }

    fn table_url(&self, table: &str, params: &[(&str, &str)]) -> Url {
        let mut url = self.connection().instance.clone();
        url.set_path(&format!("/api/now/table/{table}"));
        url.query_pairs_mut().extend_pairs(params.iter().copied());
        url
    }

    /// The same request on our own instance: the `Link` header is followed by its path and
    /// query only, so credentials never go to another host whatever the header says.
    fn rebase(&self, link: &Url) -> Url {
        let mut url = self.connection().instance.clone();
        url.set_path(link.path());
        url.set_query(link.query());
        url
    }

    /// One record's URL, or an error when `sys_id` is not an identifier.
    fn record_url(
        &self,
        table: &str,
        sys_id: &str,
        params: &[(&str, &str)],
    ) -> Result<Url, BackendError> {
        check_id(sys_id)?;
        let mut url = self.table_url(table, params);
        url.path_segments_mut()
            .map_err(|_| BackendError::Protocol("the instance URL cannot take a path".into()))?
            .push(sys_id);
        if params.is_empty() {
            url.set_query(None);
        }
        Ok(url)
    }

    /// One record (`{"result": {...}}`), `None` when the instance says it does not exist or
    /// may not be seen (the two look the same, reference §1.7).
    async fn get_record(
        &self,
        table: &str,
        sys_id: &str,
        fields: &str,
        what: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, BackendError> {
        let url = self.record_url(
            table,
            sys_id,
            &[
                ("sysparm_fields", fields),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        )?;
        match self.http.send(reqwest::Method::GET, url, None, what).await {
            Ok((_, json)) => Ok(Some(result_object(json)?)),
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PATCHes a record and answers the server's record after the write (value mode).
    async fn patch_record(
        &self,
        table: &str,
        sys_id: &str,
        body: &Value,
        what: &str,
    ) -> Result<serde_json::Map<String, Value>, BackendError> {
        let url = self.record_url(table, sys_id, &[("sysparm_exclude_reference_link", "true")])?;
        let (_, json) = self
            .http
            .send(reqwest::Method::PATCH, url, Some(body), what)
            .await?;
        result_object(json)
    }

    /// Full change records for the approvals that came with summaries only (when the user may
    /// read `change_request`).
    /// Answers whether change_request was readable (`true` when nothing was needed).
    async fn fill_changes(&self, approvals: &mut [Approval]) -> Result<bool, BackendError> {
        let missing: Vec<String> = approvals
            .iter()
            .filter(|a| a.change.detail_source == DetailSource::Summary)
            .map(|a| a.change.sys_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(true);
        }
        let Some(mut changes) = self.change_records(missing).await? else {
            return Ok(false);
        };
        for a in approvals.iter_mut() {
            if a.change.detail_source == DetailSource::Summary
                && let Some(c) = changes.get(&a.change.sys_id)
            {
                a.change = c.clone();
            }
        }
        changes.clear();
        Ok(true)
    }

    /// Full change records for changes whose details the approval rows did not carry.
    /// Returns `None` when the user may not read `change_request` (common for approvers).
    async fn change_records(
        &self,
        ids: Vec<String>,
    ) -> Result<Option<HashMap<String, Change>>, BackendError> {
        ids.iter().try_for_each(|id| check_id(id))?;
        let fields = convert::change_fields(&[]);
        let chunks: Vec<String> = ids
            .chunks(IDS_PER_QUERY)
            .map(|c| format!("sys_idIN{}", c.join(",")))
            .collect();
        let convert: Convert<'_, Change> = &|row| convert::change_record(row);
        let results: Vec<Result<Vec<Change>, BackendError>> = futures::stream::iter(chunks)
            .map(|q| {
                let fields = fields.clone();
                async move {
                    self.get_all(
                        "change_request",
                        &q,
                        &fields,
                        "change requests",
                        convert,
                        &super::no_progress,
                    )
                    .await
                }
            })
            .buffered(PARALLEL_QUERIES)
            .collect()
            .await;
        let mut out = HashMap::new();
        for r in results {
            match r {
                Ok(changes) => {
                    for c in changes {
                        out.insert(c.sys_id.clone(), c);
                    }
                }
                Err(BackendError::Forbidden { .. } | BackendError::NotFound { .. }) => {
                    tracing::info!(
                        "change_request is not readable for this user; showing approval summaries"
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(out))
    }
}

/// What an approvals query asked for, to check each row against: an instance that ignores a
/// part of a query it does not understand answers more, and signoff never shows or decides
/// those rows.
struct Asked<'a> {
    approvers: HashSet<&'a str>,
    /// Only these approvals (a lookup by id).
    ids: Option<HashSet<&'a str>>,
    /// Only approvals in the queue (requested, or suspended by a hold).
    queue_only: bool,
}

impl Asked<'_> {
    fn wants(&self, a: &Approval) -> bool {
        self.approvers.contains(a.approver.sys_id.as_str())
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(a.sys_id.as_str()))
            && (!self.queue_only || a.in_queue())
    }
}

impl Backend for ServiceNow {
    fn instance_label(&self) -> String {
        self.connection()
            .instance
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    fn login(&self) -> String {
        self.connection().user.clone()
    }

    fn take_notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    async fn current_user(&self) -> Result<User, BackendError> {
        let login = self.connection().user.trim();
        if login.is_empty() || login.contains('^') || login.contains(',') {
            return Err(BackendError::UnknownUser(login.to_string()));
        }
        let url = self.table_url(
            "sys_user",
            &[
                ("sysparm_query", &format!("user_name={login}")),
                ("sysparm_fields", "sys_id,user_name,name,email"),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_limit", "1"),
            ],
        );
        let page = match self
            .get_page(url, "your user record", &|row| convert::user(row))
            .await
        {
            // v1 of the API answers 404 for an empty list.
            Err(BackendError::NotFound { .. }) => {
                return Err(BackendError::UnknownUser(login.into()));
            }
            other => other?,
        };
        page.rows
            .into_iter()
            .next()
            .map(|(_, user)| user)
            .ok_or_else(|| BackendError::UnknownUser(login.into()))
    }

    async fn approvals(
        &self,
        approver_ids: &[String],
        scope: Scope,
        progress: Progress<'_>,
    ) -> Result<Vec<Approval>, BackendError> {
        if approver_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids go into the encoded query as they are: only plain identifiers.
        approver_ids.iter().try_for_each(|id| check_id(id))?;
        if let Scope::PendingIds(ids) = &scope {
            ids.iter().try_for_each(|id| check_id(id))?;
        }
        let fields = convert::approval_fields(&[], &[]);
        let approvers = format!(
            "approverIN{}^source_table=change_request",
            approver_ids.join(",")
        );
        // The full pull pages by key (the same cost at any depth, parallel over ranges).
        if matches!(scope, Scope::Pending) {
            let (tx, mut rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
            let fetch = self.pending_approvals(approver_ids, progress, tx);
            let collect = async {
                let mut all = Vec::new();
                let mut seen = HashSet::new();
                while let Some(page) = rx.recv().await {
                    all.extend(page.into_iter().filter(|a| seen.insert(a.sys_id.clone())));
                }
                all
            };
            let (fetched, mut all) = futures::join!(fetch, collect);
            fetched?;
            // Whole rows: the long texts the pages left out, fetched now.
            let pending: Vec<String> = all
                .iter()
                .filter(|a| a.change.detail_source == DetailSource::TextsPending)
                .map(|a| a.sys_id.clone())
                .collect();
            let (tx, mut rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
            let fetch = self.long_texts(&pending, tx);
            let collect = async {
                let mut texts: HashMap<String, LongTexts> = HashMap::new();
                while let Some(batch) = rx.recv().await {
                    texts.extend(batch);
                }
                texts
            };
            let (fetched, texts) = futures::join!(fetch, collect);
            fetched?;
            for a in &mut all {
                if let Some(t) = texts.get(&a.sys_id) {
                    a.change.set_long_texts(t);
                }
            }
            return Ok(all);
        }
        let queries: Vec<String> = match &scope {
            Scope::Pending => unreachable!("paged by key above"),
            Scope::ChangedSince(t) => {
                let t = t.format("%Y-%m-%d %H:%M:%S");
                // ^OR binds to the condition before it: (approval updated OR change updated).
                vec![format!(
                    "{approvers}^sys_updated_on>={t}^ORsysapproval.sys_updated_on>={t}{ORDER}"
                )]
            }
            Scope::PendingIds(ids) => ids
                .chunks(IDS_PER_QUERY)
                .map(|c| format!("{approvers}^sys_idIN{}{ORDER}", c.join(",")))
                .collect(),
        };
        let mut approvals = Vec::new();
        for q in queries {
            match self
                .get_all(
                    "sysapproval_approver",
                    &q,
                    &fields,
                    "your approvals",
                    &|row| convert::approval(row),
                    progress,
                )
                .await
            {
                Err(BackendError::NotFound { .. }) => {} // v1: an empty list is a 404
                other => approvals.append(&mut other?),
            }
        }
        let asked = Asked {
            approvers: approver_ids.iter().map(String::as_str).collect(),
            ids: match &scope {
                Scope::PendingIds(ids) => Some(ids.iter().map(String::as_str).collect()),
                _ => None,
            },
            queue_only: false,
        };
        let before = approvals.len();
        approvals.retain(|a| asked.wants(a));
        self.left_out(before - approvals.len());

        self.fill_changes(&mut approvals).await?;
        Ok(approvals)
    }

    async fn pending_approvals(
        &self,
        approver_ids: &[String],
        progress: Progress<'_>,
        out: PageSender,
    ) -> Result<(), BackendError> {
        if approver_ids.is_empty() {
            return Ok(());
        }
        approver_ids.iter().try_for_each(|id| check_id(id))?;
        let fields = convert::approval_fields_without_texts();
        let (tx, mut rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        let fetch = async move {
            let got = self
                .get_all_by_key(
                    "sysapproval_approver",
                    &queue_query(approver_ids),
                    &fields,
                    "your approvals",
                    &|row| convert::change_approval(row),
                    progress,
                    &tx,
                )
                .await;
            drop(tx);
            got
        };
        // Each page gets its change records (where the rows carried summaries only) on its
        // way out; `None` remembers for the rest of the pull that change_request is unreadable.
        let asked = Asked {
            approvers: approver_ids.iter().map(String::as_str).collect(),
            ids: None,
            queue_only: true,
        };
        let mut unasked = 0usize;
        let forward = async {
            let mut changes_readable = true;
            let result = loop {
                let Some(page) = rx.recv().await else {
                    break Ok(());
                };
                let mut page: Vec<Approval> = page
                    .into_iter()
                    .filter_map(|(_, a)| {
                        // `None`: the approval of something other than a change.
                        let wanted = a.filter(|a| asked.wants(a));
                        unasked += usize::from(wanted.is_none());
                        wanted
                    })
                    .collect();
                if changes_readable {
                    match self.fill_changes(&mut page).await {
                        Ok(readable) => changes_readable = readable,
                        Err(e) => break Err(e),
                    }
                }
                if out.send(page).await.is_err() {
                    break Ok(());
                }
            };
            rx.close();
            result
        };
        let (fetched, forwarded) = futures::join!(fetch, forward);
        self.left_out(unasked);
        match fetched {
            Err(BackendError::NotFound { .. }) => {} // v1: an empty list is a 404
            other => other?,
        }
        forwarded
    }

    async fn long_texts(
        &self,
        approval_ids: &[String],
        out: super::TextSender,
    ) -> Result<(), BackendError> {
        approval_ids.iter().try_for_each(|id| check_id(id))?;
        let fields = &convert::long_text_fields();
        let convert: Convert<'_, (String, LongTexts)> = &|row| convert::long_texts(row);
        let queries: Vec<String> = approval_ids
            .chunks(IDS_PER_QUERY)
            .map(|chunk| format!("sys_idIN{}", chunk.join(",")))
            .collect();
        const TABLE: &str = "sysapproval_approver";
        const WHAT: &str = "the changes' long texts";
        // PARALLEL_QUERIES always in flight (answers in any order), and decoded apart from
        // them: a slot is free again as soon as its answer has arrived.
        let (raw_tx, mut raw_rx) = tokio::sync::mpsc::channel(PARALLEL_QUERIES);
        let fetch = async move {
            let mut answers = futures::stream::iter(queries)
                .map(|query| async move {
                    let url = self.first_page_url(TABLE, &query, fields);
                    (query, self.fetch_raw(url, WHAT).await)
                })
                .buffer_unordered(PARALLEL_QUERIES);
            while let Some(answer) = answers.next().await {
                if raw_tx.send(answer).await.is_err() {
                    break;
                }
            }
        };
        let read = async move {
            while let Some((query, raw)) = raw_rx.recv().await {
                let rows = match raw {
                    Ok(raw) => {
                        let page = paging::read_page(raw, convert).await?;
                        if page.next.is_none() {
                            page.rows.into_iter().map(|(_, t)| t).collect()
                        } else {
                            // The instance pages below a hundred rows: the query is read
                            // again, page by page.
                            self.get_all(TABLE, &query, fields, WHAT, convert, &super::no_progress)
                                .await?
                        }
                    }
                    Err(BackendError::NotFound { .. }) => Vec::new(), // v1: none
                    Err(e) => return Err(e),
                };
                if out.send(rows).await.is_err() {
                    break; // the receiver stopped listening
                }
            }
            Ok(())
        };
        // A failed read drops the receiver (moved into it), which stops the fetching too.
        let ((), read) = futures::join!(fetch, read);
        read
    }

    async fn instance_slas(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<crate::domain::context::TaskSla>, BackendError> {
        let which = match since {
            None => "active=true".to_string(),
            Some(t) => format!("sys_updated_on>={}", t.format("%Y-%m-%d %H:%M:%S")),
        };
        let query = format!("{which}^task.sys_class_name=change_request^ORDERBYsys_id");
        // A row naming no task it could be joined with is of no use: left out, not an error.
        let rows = self
            .get_all_in_pages_of(
                SLA_PAGE_ROWS,
                "task_sla",
                &query,
                &format!("sys_id,{}", convert::INSTANCE_SLA_FIELDS),
                "the changes' SLAs",
                &|row| {
                    let (sys_id, task) = (row.value("sys_id"), row.value("task"));
                    let ok = check_id(&sys_id).is_ok() && check_id(&task).is_ok();
                    Ok(ok.then(|| crate::domain::context::TaskSla {
                        sys_id,
                        change_sys_id: task,
                        sla: convert::instance_sla(row),
                    }))
                },
                &super::no_progress,
            )
            .await?;
        Ok(rows.into_iter().flatten().collect())
    }

    async fn change_context(
        &self,
        approval_sys_id: &str,
        change_sys_id: &str,
    ) -> Result<crate::domain::context::ChangeContext, BackendError> {
        self.read_change_context(approval_sys_id, change_sys_id)
            .await
    }

    async fn decided(
        &self,
        me: &crate::domain::User,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::domain::history::ServerDecision>, BackendError> {
        self.read_decided(me, since, limit).await
    }

    async fn approval(
        &self,
        approval_sys_id: &str,
    ) -> Result<Option<ServerApproval>, BackendError> {
        let fields = convert::approval_fields(&["comments"], &["on_hold_reason"]);
        let Some(record) = self
            .get_record(
                "sysapproval_approver",
                approval_sys_id,
                &fields,
                "the approval",
            )
            .await?
        else {
            return Ok(None);
        };
        let row = Row::new(&record);
        let approval = convert::approval(&row)?;
        Ok(Some(ServerApproval {
            // In display mode the journal reads back as its history (reference §7.2).
            comments: row.display("comments"),
            hold_reason: row.display("sysapproval.on_hold_reason"),
            approval,
        }))
    }

    async fn decide(
        &self,
        approval_sys_id: &str,
        state: ApprovalState,
        comment: &str,
    ) -> Result<Applied, BackendError> {
        let body = serde_json::json!({ "state": state.value(), "comments": comment });
        let record = self
            .patch_record(
                "sysapproval_approver",
                approval_sys_id,
                &body,
                "the approval",
            )
            .await?;
        let row = Row::new(&record);
        let got = ApprovalState::from_value(&row.value("state"));
        if got != state {
            return Err(BackendError::Protocol(format!(
                "the approval is {} after the update, not {}",
                got.value(),
                state.value()
            )));
        }
        Ok(Applied {
            at: convert::time_value(&row, "sys_updated_on"),
            answer: answer_of(&row, &["state", "sys_updated_on", "sys_updated_by"]),
        })
    }

    async fn set_hold(
        &self,
        change_sys_id: &str,
        hold: bool,
        text: &str,
    ) -> Result<Applied, BackendError> {
        // Hold: the justification is the hold reason; release: it is a comment (§4.3).
        let body = if hold {
            serde_json::json!({ "on_hold": "true", "on_hold_reason": text })
        } else {
            serde_json::json!({ "on_hold": "false", "comments": text })
        };
        let record = self
            .patch_record("change_request", change_sys_id, &body, "the change request")
            .await?;
        let row = Row::new(&record);
        if row.value("on_hold") != hold.to_string() {
            return Err(BackendError::Protocol(format!(
                "the change's on_hold is {:?} after the update",
                row.value("on_hold")
            )));
        }
        Ok(Applied {
            at: convert::time_value(&row, "sys_updated_on"),
            answer: answer_of(
                &row,
                &["on_hold", "state", "sys_updated_on", "sys_updated_by"],
            ),
        })
    }

    async fn delegations(&self, user_sys_id: &str) -> Result<Vec<Delegation>, BackendError> {
        check_id(user_sys_id)?;
        let query = format!("user={user_sys_id}^ORdelegate={user_sys_id}^ORDERBYstarts");
        match self
            .get_all(
                "sys_user_delegate",
                &query,
                convert::DELEGATION_FIELDS,
                "delegations",
                &|row| convert::delegation(row),
                &super::no_progress,
            )
            .await
        {
            Err(BackendError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    async fn search_users(&self, text: &str) -> Result<Vec<User>, BackendError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        // Encoded queries have no escaping: refuse the characters that would change the query.
        if text.contains(['^', '=', ',']) {
            return Err(BackendError::BadRequest {
                status: 400,
                message: "search text may not contain ^, = or ,".into(),
            });
        }
        let mut url = self.table_url(
            "sys_user",
            &[
                (
                    "sysparm_query",
                    format!("active=true^nameLIKE{text}^ORuser_nameSTARTSWITH{text}^ORDERBYname")
                        .as_str(),
                ),
                ("sysparm_fields", "sys_id,user_name,name,email"),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        url.query_pairs_mut().append_pair("sysparm_limit", "20");
        let page = match self.get_page(url, "users", &|row| convert::user(row)).await {
            Err(BackendError::NotFound { .. }) => return Ok(Vec::new()),
            other => other?,
        };
        Ok(page.rows.into_iter().map(|(_, u)| u).collect())
    }

    async fn create_delegation(
        &self,
        user_sys_id: &str,
        draft: &DelegationDraft,
    ) -> Result<Delegation, BackendError> {
        check_id(user_sys_id)?;
        let body = serde_json::json!({
            "user": user_sys_id,
            "delegate": draft.delegate.sys_id,
            "starts": draft.starts.format("%Y-%m-%d %H:%M:%S").to_string(),
            "ends": draft.ends.format("%Y-%m-%d %H:%M:%S").to_string(),
            "approvals": draft.approvals.to_string(),
            "assignments": "false",
            "notifications": draft.approvals.to_string(),
            "invitations": "false",
        });
        let url = self.table_url(
            "sys_user_delegate",
            &[
                ("sysparm_fields", convert::DELEGATION_FIELDS),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        let (_, json) = self
            .http
            .send(reqwest::Method::POST, url, Some(&body), "the delegation")
            .await?;
        convert::delegation(&Row::new(&result_object(json)?))
    }

    async fn update_delegation(
        &self,
        sys_id: &str,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Result<Delegation, BackendError> {
        let body = serde_json::json!({
            "starts": starts.format("%Y-%m-%d %H:%M:%S").to_string(),
            "ends": ends.format("%Y-%m-%d %H:%M:%S").to_string(),
        });
        let url = self.record_url(
            "sys_user_delegate",
            sys_id,
            &[
                ("sysparm_fields", convert::DELEGATION_FIELDS),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        )?;
        let (_, json) = self
            .http
            .send(reqwest::Method::PATCH, url, Some(&body), "the delegation")
            .await?;
        convert::delegation(&Row::new(&result_object(json)?))
    }

    async fn delete_delegation(&self, sys_id: &str) -> Result<(), BackendError> {
        let url = self.record_url("sys_user_delegate", sys_id, &[])?;
        self.http
            .send(reqwest::Method::DELETE, url, None, "the delegation")
            .await
            .map(drop)
    }

    async fn pending_approval_ids(
        &self,
        approver_ids: &[String],
    ) -> Result<Vec<String>, BackendError> {
        if approver_ids.is_empty() {
            return Ok(Vec::new());
        }
        approver_ids.iter().try_for_each(|id| check_id(id))?;
        let query = format!("{}{ORDER}", queue_query(approver_ids));
        match self
            .get_all(
                "sysapproval_approver",
                &query,
                "sys_id",
                "your approvals",
                &|row| Ok(row.value("sys_id")),
                &super::no_progress,
            )
            .await
        {
            Err(BackendError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    async fn cab_meetings(
        &self,
        user_sys_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::cab::MeetingSummary>, BackendError> {
        self.cab_meetings_of(user_sys_id, from, to).await
    }

    async fn cab_meeting(
        &self,
        meeting_sys_id: &str,
    ) -> Result<Option<crate::domain::cab::MeetingDetail>, BackendError> {
        self.cab_meeting_detail(meeting_sys_id).await
    }

    async fn cab_write(&self, writes: &crate::domain::cab::MoveWrites) -> Result<(), BackendError> {
        self.cab_write_moves(writes).await
    }

    async fn cab_append_notes(
        &self,
        meeting_sys_id: &str,
        lines: &[String],
    ) -> Result<(), BackendError> {
        self.cab_append(meeting_sys_id, lines).await
    }

    async fn cab_join(&self, attendee_sys_id: &str, at: DateTime<Utc>) -> Result<(), BackendError> {
        self.cab_mark_joined(attendee_sys_id, at).await
    }

    async fn cab_convene(
        &self,
        draft: &crate::domain::cab::Convene,
    ) -> Result<String, BackendError> {
        self.cab_create(draft).await
    }

    async fn changes_by_number(&self, numbers: &[String]) -> Result<Vec<Change>, BackendError> {
        self.changes_numbered(numbers).await
    }

    async fn change_status(
        &self,
        number: &str,
    ) -> Result<Option<crate::domain::gate::ChangeStatus>, BackendError> {
        self.change_status_of(number).await
    }
}

/// Ids go into encoded queries unescaped: only plain identifiers are allowed.
fn check_id(id: &str) -> Result<(), BackendError> {
    if crate::domain::text::is_record_id(id) {
        Ok(())
    } else {
        Err(BackendError::BadRequest {
            status: 400,
            message: format!("{:?} is not a sys_id", clean_line(id, 40)),
        })
    }
}

/// The `result` object of a single-record answer.
fn result_object(json: Option<Value>) -> Result<serde_json::Map<String, Value>, BackendError> {
    match json.unwrap_or(Value::Null) {
        Value::Object(mut m) => match m.remove("result") {
            Some(Value::Object(o)) => Ok(o),
            // sn_chg_rest wraps single records in an array (reference §5).
            Some(Value::Array(mut a)) if a.len() == 1 => match a.remove(0) {
                Value::Object(o) => Ok(o),
                _ => Err(BackendError::Protocol(
                    "the record is not a JSON object".into(),
                )),
            },
            _ => Err(BackendError::Protocol(
                "the answer has no \"result\" record".into(),
            )),
        },
        _ => Err(BackendError::Protocol(
            "the answer is not a JSON object".into(),
        )),
    }
}

/// A short account of the server's record after a write, for the journal.
fn answer_of(row: &Row<'_>, fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("{f}={}", clean_line(&row.value(f), 80)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The approvals in the queue: requested ones, and those paused because their change is on
/// hold (the platform marks them not_required until the hold is released; reference §4.3).
fn queue_query(approver_ids: &[String]) -> String {
    let approvers = format!(
        "approverIN{}^source_table=change_request",
        approver_ids.join(",")
    );
    format!("{approvers}^state=requested^NQ{approvers}^state=not_required^sysapproval.on_hold=true")
}

/// Stable paging order (offset paging can otherwise skip or repeat rows).
const ORDER: &str = "^ORDERBYsys_created_on^ORDERBYsys_id";

/// Fuzzing (`crate::fuzzing`): a Table API answer, as bytes, through the decoding every
/// answer goes through; whatever comes out must be clean text.
#[doc(hidden)]
pub fn fuzz_decode(bytes: &[u8]) {
    use crate::domain::text::is_clean;
    let Ok(json) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let rows: Vec<serde_json::Map<String, Value>> = match &json {
        Value::Object(o) => match o.get("result") {
            Some(Value::Array(a)) => a.iter().filter_map(|r| r.as_object().cloned()).collect(),
            Some(Value::Object(r)) => vec![r.clone()],
            _ => vec![o.clone()],
        },
        Value::Array(a) => a.iter().filter_map(|r| r.as_object().cloned()).collect(),
        _ => return,
    };
    for map in &rows {
        let row = Row::new(map);
        if let Ok(a) = convert::approval(&row) {
            for s in [
                &a.change.number,
                &a.change.short_description,
                a.approver.label(),
                a.change.requested_by.label(),
            ] {
                assert!(is_clean(s), "decoded approval text not clean: {s:?}");
            }
        }
        if let Ok(c) = convert::change_record(&row) {
            assert!(
                is_clean(&c.number) && is_clean(&c.short_description),
                "{c:?}"
            );
        }
        if let Ok(u) = convert::user(&row) {
            assert!(is_clean(&u.name) && is_clean(&u.user_name), "{u:?}");
        }
        if let Ok(d) = convert::delegation(&row) {
            assert!(
                is_clean(d.delegate.label()) && is_clean(d.user.label()),
                "{d:?}"
            );
        }
    }
}
