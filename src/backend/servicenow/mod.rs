//! The ServiceNow adapter: the Table API over reqwest (reference: servicenow-api.md §1, §3, §7).
//!
//! Every request asks for `sysparm_display_value=all` with reference links excluded, so each
//! field is a `{display_value, value}` pair; the reader in `wire` still accepts every other
//! shape. Lists are paged with `sysparm_limit`/`sysparm_offset`, following the `Link` header.

mod convert;
mod wire;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::Value;
use url::Url;

use super::{Applied, Backend, BackendError, Connection, Progress, Scope, ServerApproval};
use chrono::{DateTime, Utc};

use crate::domain::{
    Approval, ApprovalState, Change, Delegation, DelegationDraft, DetailSource, User,
};
use wire::Row;

/// Rows asked for per page. Instances may cap pages lower; the `Link` header tells us.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Pages fetched at once once the total is known.
const PARALLEL_PAGES: usize = 4;
/// Change ids per `sys_idIN` query (keeps URLs well under common proxy limits).
const IDS_PER_QUERY: usize = 100;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ServiceNow {
    http: reqwest::Client,
    conn: Connection,
    page_size: usize,
}

/// Turns one wire row into a domain value; runs as each page arrives, so the JSON of a large
/// queue is never held all at once.
type Convert<'c, T> = &'c (dyn Fn(&Row<'_>) -> Result<T, BackendError> + Sync);

/// One page of a list answer, already converted: `(sys_id, item)` pairs.
struct Page<T> {
    rows: Vec<(String, T)>,
    total: Option<usize>,
    next: Option<Url>,
    had_link: bool,
}

impl ServiceNow {
    pub fn new(conn: Connection) -> Result<ServiceNow, BackendError> {
        crate::init_tls();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("signoff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Protocol(format!("could not set up HTTP: {e}")))?;
        Ok(ServiceNow {
            http,
            conn,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    pub fn with_page_size(mut self, n: usize) -> ServiceNow {
        self.page_size = n.clamp(1, 10_000);
        self
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn table_url(&self, table: &str, params: &[(&str, &str)]) -> Url {
        let mut url = self.conn.instance.clone();
        url.set_path(&format!("/api/now/table/{table}"));
        url.query_pairs_mut().extend_pairs(params.iter().copied());
        url
    }

    /// The same request on our own instance: the `Link` header is followed by its path and
    /// query only, so credentials never go to another host whatever the header says.
    fn rebase(&self, link: &Url) -> Url {
        let mut url = self.conn.instance.clone();
        url.set_path(link.path());
        url.set_query(link.query());
        url
    }

    async fn get_page<T>(
        &self,
        url: Url,
        what: &str,
        convert: Convert<'_, T>,
    ) -> Result<Page<T>, BackendError> {
        let (headers, json) = self.send(reqwest::Method::GET, url, None, what).await?;
        let rows = match json {
            Value::Object(mut m) => match m.remove("result") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::Object(o) => {
                            let row = Row(o);
                            Ok((row.value("sys_id"), convert(&row)?))
                        }
                        _ => Err(BackendError::Protocol(
                            "a result row is not a JSON object".into(),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => {
                    return Err(BackendError::Protocol(
                        "the list answer's \"result\" is not an array".into(),
                    ));
                }
                None => {
                    return Err(BackendError::Protocol(
                        "the answer has no \"result\" member".into(),
                    ));
                }
            },
            _ => {
                return Err(BackendError::Protocol(
                    "the answer is not a JSON object".into(),
                ));
            }
        };
        let total = header_str(&headers, "x-total-count").and_then(|s| s.trim().parse().ok());
        let link = header_str(&headers, "link");
        let next = link.as_deref().and_then(link_next).map(|u| self.rebase(&u));
        Ok(Page {
            rows,
            total,
            next,
            had_link: link.is_some(),
        })
    }

    /// Sends one request with the credentials and JSON headers; answers the response headers
    /// and its JSON body, or the error the status or body means.
    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(HeaderMap, Value), BackendError> {
        let started = std::time::Instant::now();
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .basic_auth(&self.conn.user, Some(self.conn.password.expose()))
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(
            path = url.path(),
            status = status.as_u16(),
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "{method}"
        );
        if !status.is_success() {
            return Err(status_error(status, &headers, &bytes, what));
        }
        Ok((headers.clone(), parse_json(&headers, &bytes)?))
    }

    /// A request answered without a body (DELETE: 204).
    async fn send_no_body(
        &self,
        method: reqwest::Method,
        url: Url,
        what: &str,
    ) -> Result<(), BackendError> {
        let resp = self
            .http
            .request(method, url)
            .basic_auth(&self.conn.user, Some(self.conn.password.expose()))
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            Ok(())
        } else {
            Err(status_error(status, &headers, &bytes, what))
        }
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
        let mut url = self.table_url(
            table,
            &[
                ("sysparm_fields", fields),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        url.path_segments_mut()
            .map_err(|_| BackendError::Protocol("the instance URL cannot take a path".into()))?
            .push(sys_id);
        match self.send(reqwest::Method::GET, url, None, what).await {
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
        let mut url = self.table_url(table, &[("sysparm_exclude_reference_link", "true")]);
        url.path_segments_mut()
            .map_err(|_| BackendError::Protocol("the instance URL cannot take a path".into()))?
            .push(sys_id);
        let (_, json) = self
            .send(reqwest::Method::PATCH, url, Some(body), what)
            .await?;
        result_object(json)
    }

    /// Every row of a list query, across all pages.
    ///
    /// After the first page, when the `Link` header shows the instance's page size and
    /// `X-Total-Count` the total, the remaining pages are fetched a few at a time. A page may
    /// hold fewer rows than its limit (ACLs filter after the limit), so progress is always by
    /// offset, never by rows received; rows are de-duplicated by sys_id in case the data
    /// moved between pages.
    #[allow(clippy::too_many_arguments)]
    async fn get_all<T: Send>(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
    ) -> Result<Vec<T>, BackendError> {
        let limit = self.page_size.to_string();
        let first = self.table_url(
            table,
            &[
                ("sysparm_query", query),
                ("sysparm_fields", fields),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_limit", &limit),
                ("sysparm_offset", "0"),
            ],
        );
        let mut page = self.get_page(first.clone(), what, convert).await?;
        let mut rows = std::mem::take(&mut page.rows);
        progress(rows.len(), page.total);

        // Fast path: the total and the server's page size are known, fetch the rest in parallel.
        let mut follow = page.next.take();
        if let (Some(next), Some(total)) = (&follow, page.total) {
            let (Some(offset), Some(step)) = (
                query_param(next, "sysparm_offset"),
                query_param(next, "sysparm_limit"),
            ) else {
                return self
                    .follow_links(rows, follow, what, convert, progress)
                    .await;
            };
            // The total and page size come from the server: past a sane number of pages,
            // follow the links one at a time instead of planning them all.
            if step > 0 && offset < total && (total - offset) / step <= 100_000 {
                let urls: Vec<Url> = (offset..total)
                    .step_by(step)
                    .map(|o| with_offset(next, o, step))
                    .collect();
                let mut pages = futures::stream::iter(urls)
                    .map(|u| self.get_page(u, what, convert))
                    .buffered(PARALLEL_PAGES);
                follow = None;
                while let Some(p) = pages.next().await {
                    let mut p = p?;
                    rows.append(&mut p.rows);
                    follow = p.next.take();
                    progress(rows.len(), Some(total));
                }
            }
        } else if follow.is_none() && !page.had_link {
            // No Link header at all (suppressed, or a proxy dropped it): page by offset until
            // the total is reached. A short page may be a server cap or ACL filtering; stepping
            // by the rows received can only overlap (de-duplicated below), never skip.
            let mut offset = 0usize;
            let mut last_len = rows.len();
            while let Some(total) = page.total {
                offset += if last_len == 0 {
                    self.page_size
                } else {
                    last_len.min(self.page_size)
                };
                if offset >= total {
                    break;
                }
                let url = with_offset(&first, offset, self.page_size);
                page = self.get_page(url, what, convert).await?;
                last_len = page.rows.len();
                rows.append(&mut page.rows);
                progress(rows.len(), Some(total));
            }
        }
        self.follow_links(rows, follow, what, convert, progress)
            .await
    }

    /// Follows `rel="next"` until there is none (also picks up rows added while paging).
    async fn follow_links<T>(
        &self,
        mut rows: Vec<(String, T)>,
        mut next: Option<Url>,
        what: &str,
        convert: Convert<'_, T>,
        progress: Progress<'_>,
    ) -> Result<Vec<T>, BackendError> {
        let mut seen_urls = HashSet::new();
        while let Some(url) = next {
            if !seen_urls.insert(url.to_string()) || seen_urls.len() > 100_000 {
                return Err(BackendError::Protocol(
                    "the instance's paging links go round in a circle".into(),
                ));
            }
            let mut page = self.get_page(url, what, convert).await?;
            rows.append(&mut page.rows);
            progress(rows.len(), page.total);
            next = page.next;
        }
        let mut ids = HashSet::with_capacity(rows.len());
        Ok(rows
            .into_iter()
            .filter(|(id, _)| id.is_empty() || ids.insert(id.clone()))
            .map(|(_, item)| item)
            .collect())
    }

    fn transport_error(&self, e: reqwest::Error) -> BackendError {
        let url = self
            .conn
            .instance
            .as_str()
            .trim_end_matches('/')
            .to_string();
        if e.is_timeout() {
            return BackendError::Timeout {
                url,
                seconds: REQUEST_TIMEOUT.as_secs(),
            };
        }
        BackendError::Unreachable {
            url,
            reason: root_cause(&e),
        }
    }

    /// Full change records for changes whose details the approval rows did not carry.
    /// Returns `None` when the user may not read `change_request` (common for approvers).
    async fn change_records(
        &self,
        ids: Vec<String>,
    ) -> Result<Option<HashMap<String, Change>>, BackendError> {
        ids.iter().try_for_each(|id| check_id(id))?;
        let mut fields: Vec<&str> = vec!["sys_id"];
        fields.extend(convert::TASK_FIELDS);
        fields.extend(convert::CHANGE_ONLY_FIELDS);
        let fields = fields.join(",");
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
            .buffered(PARALLEL_PAGES)
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

impl Backend for ServiceNow {
    fn instance_label(&self) -> String {
        self.conn
            .instance
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    fn login(&self) -> String {
        self.conn.user.clone()
    }

    async fn current_user(&self) -> Result<User, BackendError> {
        let login = self.conn.user.trim();
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
        let mut fields: Vec<String> = convert::APPROVAL_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for f in convert::TASK_FIELDS
            .iter()
            .chain(convert::CHANGE_ONLY_FIELDS)
        {
            fields.push(format!("sysapproval.{f}"));
        }
        let fields = fields.join(",");
        let approvers = format!(
            "approverIN{}^source_table=change_request",
            approver_ids.join(",")
        );
        let queries: Vec<String> = match &scope {
            Scope::Pending => vec![format!("{}{ORDER}", queue_query(approver_ids))],
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

        let missing: Vec<String> = approvals
            .iter()
            .filter(|a| a.change.detail_source == DetailSource::Summary)
            .map(|a| a.change.sys_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty()
            && let Some(mut changes) = self.change_records(missing).await?
        {
            for a in &mut approvals {
                if a.change.detail_source == DetailSource::Summary
                    && let Some(c) = changes.get(&a.change.sys_id)
                {
                    a.change = c.clone();
                }
            }
            changes.clear();
        }
        Ok(approvals)
    }

    async fn approval(
        &self,
        approval_sys_id: &str,
    ) -> Result<Option<ServerApproval>, BackendError> {
        let mut fields: Vec<String> = convert::APPROVAL_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        fields.push("comments".into());
        for f in convert::TASK_FIELDS
            .iter()
            .chain(convert::CHANGE_ONLY_FIELDS)
            .chain(&["on_hold_reason"])
        {
            fields.push(format!("sysapproval.{f}"));
        }
        let Some(record) = self
            .get_record(
                "sysapproval_approver",
                approval_sys_id,
                &fields.join(","),
                "the approval",
            )
            .await?
        else {
            return Ok(None);
        };
        let row = Row(&record);
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
        let row = Row(&record);
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
        let row = Row(&record);
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
        let mut url = self.table_url(
            "sys_user_delegate",
            &[
                ("sysparm_fields", convert::DELEGATION_FIELDS),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        url.set_fragment(None);
        let (_, json) = self
            .send(reqwest::Method::POST, url, Some(&body), "the delegation")
            .await?;
        convert::delegation(&Row(&result_object(json)?))
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
        let mut url = self.table_url(
            "sys_user_delegate",
            &[
                ("sysparm_fields", convert::DELEGATION_FIELDS),
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
            ],
        );
        url.path_segments_mut()
            .map_err(|_| BackendError::Protocol("the instance URL cannot take a path".into()))?
            .push(sys_id);
        let (_, json) = self
            .send(reqwest::Method::PATCH, url, Some(&body), "the delegation")
            .await?;
        convert::delegation(&Row(&result_object(json)?))
    }

    async fn delete_delegation(&self, sys_id: &str) -> Result<(), BackendError> {
        let mut url = self.table_url("sys_user_delegate", &[]);
        url.path_segments_mut()
            .map_err(|_| BackendError::Protocol("the instance URL cannot take a path".into()))?
            .push(sys_id);
        url.set_query(None);
        self.send_no_body(reqwest::Method::DELETE, url, "the delegation")
            .await
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
}

/// Ids go into encoded queries unescaped: only plain identifiers are allowed.
fn check_id(id: &str) -> Result<(), BackendError> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(BackendError::BadRequest {
            status: 400,
            message: format!("{id:?} is not a sys_id"),
        })
    }
}

/// The `result` object of a single-record answer.
fn result_object(json: Value) -> Result<serde_json::Map<String, Value>, BackendError> {
    match json {
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
        .map(|f| format!("{f}={}", row.value(f)))
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

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `rel="next"` target of a `Link` header (reference §1.5: no spaces on real instances,
/// but spaces are tolerated).
fn link_next(header: &str) -> Option<Url> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        Url::parse(target).ok()
    })
}

fn query_param(url: &Url, name: &str) -> Option<usize> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn with_offset(url: &Url, offset: usize, limit: usize) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sysparm_offset" && k != "sysparm_limit")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("sysparm_limit", &limit.to_string())
        .append_pair("sysparm_offset", &offset.to_string());
    out
}

fn parse_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, BackendError> {
    let ct = header_str(headers, CONTENT_TYPE.as_str()).unwrap_or_default();
    if !ct.to_ascii_lowercase().contains("json") {
        let kind = if ct.is_empty() {
            "no content type".to_string()
        } else {
            ct
        };
        return Err(BackendError::Protocol(format!(
            "it answered with {kind} instead of JSON (a hibernating developer instance answers with a web page: open the instance in a browser to wake it, and check the URL)"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        BackendError::Protocol(format!(
            "the JSON is malformed ({e}); if this repeats, check for a proxy between you and the instance"
        ))
    })
}

/// The message of a ServiceNow error envelope `{"error":{"message","detail"},"status":"failure"}`.
fn envelope_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let err = &v["error"];
    let msg = err["message"].as_str().unwrap_or("");
    let detail = err["detail"].as_str().unwrap_or("");
    let text = match (msg.is_empty(), detail.is_empty()) {
        (false, false) if msg != detail => format!("{msg} — {detail}"),
        (false, _) => msg.to_string(),
        (true, _) => detail.to_string(),
    };
    crate::domain::text::cap_chars(&crate::domain::text::sanitize_line(&text), 200)
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8], what: &str) -> BackendError {
    let message = envelope_message(body);
    match status.as_u16() {
        401 => BackendError::Unauthorized,
        403 => BackendError::Forbidden {
            what: what.to_string(),
            message: if message.is_empty() {
                "access denied".into()
            } else {
                message
            },
        },
        404 => BackendError::NotFound {
            what: what.to_string(),
        },
        429 => BackendError::RateLimited {
            retry_after: header_str(headers, RETRY_AFTER.as_str())
                .and_then(|s| s.trim().parse().ok()),
        },
        s @ 500..=599 => BackendError::Server {
            status: s,
            message,
            retry_after: header_str(headers, RETRY_AFTER.as_str())
                .and_then(|v| v.trim().parse().ok()),
        },
        s => BackendError::BadRequest {
            status: s,
            message: if message.is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                message
            },
        },
    }
}

/// The innermost error message ("Connection refused (os error 111)"), without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let s = cur.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    if s.is_empty() {
        e.to_string()
    } else {
        s.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let h = r#"<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=0>;rel="first",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=595>;rel="prev",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=605>;rel="next",<https://dev1.service-now.com/api/now/table/sys_user?sysparm_limit=5&sysparm_offset=610>;rel="last""#;
        let next = link_next(h).unwrap();
        assert_eq!(query_param(&next, "sysparm_offset"), Some(605));
        assert_eq!(query_param(&next, "sysparm_limit"), Some(5));
        let last_page = r#"<https://x/a?sysparm_offset=0>;rel="first", <https://x/a?sysparm_offset=5>; rel="prev""#;
        assert!(link_next(last_page).is_none());
    }

    #[test]
    fn offsets_are_replaced() {
        let u = Url::parse("https://x/api?sysparm_query=a%5Eb&sysparm_limit=5&sysparm_offset=10")
            .unwrap();
        let v = with_offset(&u, 20, 7);
        assert_eq!(query_param(&v, "sysparm_offset"), Some(20));
        assert_eq!(query_param(&v, "sysparm_limit"), Some(7));
        assert!(v.query().unwrap().contains("sysparm_query=a%5Eb"));
    }
}
