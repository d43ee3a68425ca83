//! HTTP front end: the Table API routes (`servicenow-api.md` §1.1), Basic auth (§2.1), list and
//! single-record reads with display modes, field lists and paging headers (§1.2, §1.4, §1.5),
//! PATCH/PUT/POST writes (§1.6, §3.4), DELETE of delegations (§6.4), row ACLs for plain
//! approvers and their delegates (§3.3, §3.4, §6.3), the error envelope (§1.7) and injected
//! faults (§1.7, §1.8).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

use super::faults::{
    Fault, HIBERNATING_HTML, MALFORMED_JSON, RATE_LIMIT_RULE, RateDecision, describe_window,
    whole_secs_ceil,
};
use super::query::{Query, QueryEnv};
use super::table::{Db, Mode, Path, RenderCtx, RowOut, fmt_ts};
use super::{
    Actor, Inner, SimUser, active_delegators, apply_update, cab, check_update, insert_record,
    json_to_string, prepare_delegation,
};

fn lock_err() -> Response {
    error(500, "Internal Server Error", None)
}

/// A JSON response.
fn json_response(status: u16, body: &Value, extra: HeaderMap) -> Response {
    json_text_response(status, body.to_string(), extra)
}

fn json_text_response(status: u16, body: String, extra: HeaderMap) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r.headers_mut().extend(extra);
    r
}

/// The error envelope `{"error":{"message","detail"},"status":"failure"}` (§1.7).
pub fn error(status: u16, message: &str, detail: Option<&str>) -> Response {
    json_response(
        status,
        &json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
        HeaderMap::new(),
    )
}

fn unauthorized() -> Response {
    let mut r = error(
        401,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    );
    // What a client needs to know to answer the challenge (RFC 7235), as an instance sends.
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Service-now\""),
    );
    r
}
fn not_found() -> Response {
    error(
        404,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}
fn forbidden_update() -> Response {
    error(
        403,
        "Operation Failed",
        Some("ACL Exception Update Failed due to security constraints"),
    )
}
fn bad_body() -> Response {
    error(
        400,
        "Exception while reading request",
        Some("The payload is not valid JSON."),
    )
}

/// Response for an injected fault.
/// Response for an injected fault; `now` is the server clock (seconds) for reset headers.
pub fn fault_response(f: &Fault, now: i64) -> Response {
    match f {
        Fault::Status(code) => {
            let code = if (100..=999).contains(code) && StatusCode::from_u16(*code).is_ok() {
                *code
            } else {
                500
            };
            let (msg, detail): (&str, Option<&str>) = match code {
                401 => (
                    "User Not Authenticated",
                    Some("Required to provide Auth information"),
                ),
                403 => ("Insufficient rights to query records", None),
                404 => (
                    "No Record found",
                    Some("Record doesn't exist or ACL restricts the record retrieval"),
                ),
                429 => (
                    "Rate limit exceeded",
                    Some("Rate limit of 100 requests per hour for Table API exceeded"),
                ),
                _ => (
                    StatusCode::from_u16(code)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Error"),
                    None,
                ),
            };
            error(code, msg, detail)
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            h.insert("X-RateLimit-Limit", HeaderValue::from_static("100"));
            let reset = now + *retry_after_secs as i64;
            h.insert("X-RateLimit-Reset", HeaderValue::from(reset));
            json_response(
                429,
                &json!({"error": {"message": "Rate limit exceeded",
                    "detail": "Rate limit of 100 requests per hour for Table API exceeded"},
                    "status": "failure"}),
                h,
            )
        }
        Fault::Unavailable { retry_after_secs } => {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            json_response(
                503,
                &json!({"error": {"message": "Service Unavailable",
                    "detail": "The instance is temporarily unavailable"},
                    "status": "failure"}),
                h,
            )
        }
        Fault::MalformedJson => {
            let mut r = Response::new(Body::from(MALFORMED_JSON));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
            r
        }
        Fault::HibernatingHtml => html(200, HIBERNATING_HTML),
        Fault::HtmlStatus(code) => html(
            *code,
            "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Sign in to continue</h1><form action=\"/sso\"></form></body></html>\n",
        ),
        Fault::Redirect { status, location } => {
            let mut r = html(*status, "<html><body>Moved</body></html>\n");
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        // Handled in `handle`, which has the request; a bare one is a server error.
        Fault::AfterApplying(_) | Fault::LyingTotal { .. } | Fault::Hang | Fault::Held(_) => {
            fault_response(&Fault::Status(500), now)
        }
    }
}

/// An HTML page with this status.
fn html(status: u16, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    r
}

/// `Date` as HTTP writes it (IMF-fixdate), from the server clock.
fn http_date(secs: i64) -> Option<HeaderValue> {
    let t = chrono::DateTime::from_timestamp(secs, 0)?;
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

/// `X-RateLimit-*` headers (§1.8): the limit, the UNIX time the window resets (wall clock),
/// and the matching rule.
fn rate_headers(limit: u32, reset_in: std::time::Duration, now: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("X-RateLimit-Limit", HeaderValue::from(limit));
    let reset = now + whole_secs_ceil(reset_in) as i64;
    h.insert("X-RateLimit-Reset", HeaderValue::from(reset));
    h.insert(
        "X-RateLimit-Rule",
        HeaderValue::from_static(RATE_LIMIT_RULE),
    );
    h
}

/// The 429 of the per-user rate limit (§1.7, §1.8).
fn rate_limited(
    limit: u32,
    reset_in: std::time::Duration,
    window: std::time::Duration,
    now: i64,
) -> Response {
    let mut h = rate_headers(limit, reset_in, now);
    h.insert(
        header::RETRY_AFTER,
        HeaderValue::from(whole_secs_ceil(reset_in)),
    );
    json_response(
        429,
        &json!({"error": {"message": "Rate limit exceeded",
            "detail": format!("Rate limit of {limit} requests per {} for Table API exceeded",
                describe_window(window))},
            "status": "failure"}),
        h,
    )
}

/// Entry point for every request (axum fallback handler). Order: queued/persistent faults,
/// then the per-user rate limit (authenticated users only), then the random 500s of
/// `fail_rate`, then the Table API itself. The fail PRNG advances once per request whatever
/// happens, so a seed fixes the sequence.
pub async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let method = req.method().as_str().to_ascii_uppercase();
    let gzip = accepts_gzip(req.headers());
    // `X-no-response-body: true` suppresses the body of a write's answer (reference §1.1).
    let no_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH")
        && req
            .headers()
            .get("x-no-response-body")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    // A deep offset costs what walking past the skipped rows would (§1.5).
    let cost = offset_cost(inner.config.offset_cost_per_1000, req.uri().query());
    if !cost.is_zero() {
        tokio::time::sleep(cost).await;
    }
    let injected = inner.faults.on_request(&method, req.uri().path());
    let draw = inner.fail_draw();
    let mut resp = match injected {
        Some(Fault::AfterApplying(then)) => {
            let _ = serve(&inner, req).await;
            fault_response(&then, inner.now())
        }
        Some(Fault::LyingTotal { total, link }) => {
            let mut r = serve(&inner, req).await;
            r.headers_mut()
                .insert("X-Total-Count", HeaderValue::from(total));
            if !link {
                r.headers_mut().remove(header::LINK);
            }
            r
        }
        Some(Fault::Held(gate)) => {
            gate.hold().await;
            serve(&inner, req).await
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            fault_response(&Fault::Status(504), inner.now())
        }
        Some(f) => fault_response(&f, inner.now()),
        None => {
            let decision = match authenticate(&inner, req.headers()) {
                Some(u) => inner.faults.check_rate(&u.user_name, inner.now_ms()),
                None => RateDecision::Unlimited,
            };
            match decision {
                RateDecision::Denied {
                    limit,
                    reset_in,
                    window,
                } => rate_limited(limit, reset_in, window, inner.now()),
                _ => {
                    let mut resp = if draw < inner.faults.fail_rate() {
                        fault_response(&Fault::Status(500), inner.now())
                    } else {
                        serve(&inner, req).await
                    };
                    if let RateDecision::Allowed { limit, reset_in } = decision {
                        resp.headers_mut()
                            .extend(rate_headers(limit, reset_in, inner.now()));
                    }
                    resp
                }
            }
        }
    };
    if no_body && resp.status().is_success() {
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        resp = Response::from_parts(parts, axum::body::Body::empty());
    }
    // The server's own clock, as a real instance's Date header carries its own.
    if let Some(date) = http_date(inner.now()) {
        resp.headers_mut().insert(header::DATE, date);
    }
    if gzip {
        resp = gzipped(resp).await;
        if resp.headers().contains_key(header::CONTENT_ENCODING) {
            inner.faults.count_gzipped();
        }
    }
    if let Some(n) = axum::body::HttpBody::size_hint(resp.body()).exact() {
        inner.faults.count_bytes(n);
    }
    if !inner.config.latency.is_zero() {
        tokio::time::sleep(inner.config.latency).await;
    }
    resp
}

/// The delay a page at `sysparm_offset` costs: `per_1000` for every 1,000 rows skipped.
pub fn offset_cost(per_1000: std::time::Duration, query: Option<&str>) -> std::time::Duration {
    if per_1000.is_zero() {
        return std::time::Duration::ZERO;
    }
    let offset = query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "sysparm_offset")
                .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        })
        .unwrap_or(0)
        .min(10_000_000);
    per_1000 * offset / 1000
}

/// Whether the client takes gzip (`Accept-Encoding`, §1.1: an instance compresses when asked).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The response with its body gzipped (`Content-Encoding: gzip`); an empty body, or one
/// already encoded, stays as it is.
async fn gzipped(resp: Response) -> Response {
    use std::io::Write;
    if resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(500, "Internal Server Error", None);
    };
    if bytes.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let packed = enc.write_all(&bytes).and_then(|_| enc.finish());
    match packed {
        Ok(z) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            Response::from_parts(parts, Body::from(z))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

fn authenticate<'a>(inner: &'a Inner, headers: &HeaderMap) -> Option<&'a SimUser> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = h.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return super::oauth::bearer_user(inner, cred);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (user, pass) = s.split_once(':')?;
    if pass != inner.config.password {
        return None;
    }
    inner.users.iter().find(|u| u.user_name == user)
}

/// Request-wide options shared by list, single-record and write responses.
struct Opts {
    params: Vec<(String, String)>,
    base: String,
    mode: Mode,
    exclude_links: bool,
}

impl Opts {
    fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    /// How to render for a user in `zone`.
    fn ctx<'a>(&'a self, zone: &'a str) -> RenderCtx<'a> {
        RenderCtx {
            mode: self.mode,
            exclude_links: self.exclude_links,
            base: &self.base,
            zone,
        }
    }
    /// `sysparm_fields`, resolved; unknown names dropped (§1.2).
    fn fields(&self, db: &Db, t: usize, change_fields: bool) -> Option<Vec<(String, Path)>> {
        let raw = self.get("sysparm_fields")?;
        if raw.trim().is_empty() {
            return None;
        }
        Some(
            raw.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .filter_map(|n| db.resolve(t, n, change_fields).map(|p| (n.to_string(), p)))
                .collect(),
        )
    }
}

fn privileged(u: &SimUser) -> bool {
    u.roles.iter().any(|r| r == "itil" || r == "admin")
}
fn is_admin(u: &SimUser) -> bool {
    u.roles.iter().any(|r| r == "admin")
}

/// The caller and the users whose approvals they may act on right now (`getMyApprovals()`
/// minus the caller, §6.3).
struct Caller<'a> {
    user: &'a SimUser,
    acts_for: Vec<String>,
}

impl<'a> Caller<'a> {
    fn new(inner: &Inner, db: &Db, user: &'a SimUser) -> Caller<'a> {
        Caller {
            user,
            acts_for: active_delegators(inner, db, &user.sys_id),
        }
    }
    /// The approver of an approval row is the caller or someone who delegates to them.
    fn approves_for(&self, approver: &str) -> bool {
        approver == self.user.sys_id || self.acts_for.iter().any(|a| a == approver)
    }
}

/// Row-level read ACL (§3.3, §6.3): approver-only users cannot read changes or journal
/// entries (`sys_journal_field`, §7.2: lists come back `[]` with 200) and only see their own
/// approval rows and those of users with an active approvals delegation to them.
fn can_read(db: &Db, t: usize, row: u32, c: &Caller) -> bool {
    if privileged(c.user) {
        return true;
    }
    match db.tables[t].name {
        "change_request" | "sys_journal_field" => false,
        name if cab::TABLES.contains(&name) => cab::may_read(&c.user.roles),
        "sysapproval_approver" => {
            let f = db.tables[t].field("approver").expect("approver field");
            c.approves_for(db.get(t, row, f))
        }
        _ => true,
    }
}

/// Write ACL (§3.4, §6): approval rows by their approver, an active approvals delegate of the
/// approver or an admin; changes by itil/admin; delegations by their delegator (`user`) or an
/// admin; journal entries by nobody (written only as a side effect); everything else by admin.
fn can_write(db: &Db, t: usize, row: u32, c: &Caller) -> bool {
    if db.tables[t].name == "sys_journal_field" {
        return false;
    }
    if is_admin(c.user) {
        return true;
    }
    match db.tables[t].name {
        "sysapproval_approver" => {
            let f = db.tables[t].field("approver").expect("approver field");
            c.approves_for(db.get(t, row, f))
        }
        "change_request" => privileged(c.user),
        "sys_user_delegate" => {
            let f = db.tables[t].field("user").expect("user field");
            db.get(t, row, f) == c.user.sys_id
        }
        name if cab::TABLES.contains(&name) => cab::may_update(db, t, row, &c.user.sys_id),
        _ => false,
    }
}

/// A non-admin may only create or move delegations of their own (§6.2): the `user` a write
/// asks for, if any, must be the caller.
fn own_delegation(body: &Map<String, Value>, u: &SimUser) -> bool {
    if is_admin(u) {
        return true;
    }
    match body.get("user").and_then(json_to_string) {
        Some(v) => {
            let v = v.trim();
            v.is_empty() || v == u.sys_id
        }
        None => true,
    }
}

async fn serve(inner: &Inner, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path == "/oauth_revoke_token.do" && parts.method == axum::http::Method::GET {
        return super::oauth::revoke(inner, parts.uri.query().unwrap_or(""));
    }
    if path == "/oauth_token.do" {
        if parts.method != axum::http::Method::POST {
            return error(405, "Method not allowed", None);
        }
        return match axum::body::to_bytes(body, 1 << 16).await {
            Ok(b) => super::oauth::token(inner, &parts.headers, &b),
            Err(_) => bad_body(),
        };
    }
    let Some(user) = authenticate(inner, &parts.headers) else {
        return unauthorized();
    };
    inner.auto_approve_due();
    let bytes = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(_) => return bad_body(),
    };
    let path = parts.uri.path().to_string();
    let rest = path.strip_prefix("/api/now/").map(|p| {
        p.strip_prefix("v1/")
            .or_else(|| p.strip_prefix("v2/"))
            .unwrap_or(p)
    });
    let Some(rest) = rest.and_then(|p| p.strip_prefix("table/")) else {
        return error(400, "Requested URI does not represent any resource", None);
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if segs.is_empty() || segs.len() > 2 || segs[0].is_empty() {
        return error(400, "Requested URI does not represent any resource", None);
    }
    let table = segs[0];
    let id = segs.get(1).copied();
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| inner.addr.to_string());
    let mut opts = Opts {
        params,
        base: format!("http://{host}"),
        mode: Mode::Value,
        exclude_links: false,
    };
    opts.mode = match opts
        .get("sysparm_display_value")
        .map(str::to_ascii_lowercase)
    {
        Some(v) if v == "true" => Mode::Display,
        Some(v) if v == "all" => Mode::All,
        _ => Mode::Value,
    };
    opts.exclude_links = opts.flag("sysparm_exclude_reference_link");

    let method = parts.method.as_str().to_ascii_uppercase();
    let method = parts
        .headers
        .get("X-HTTP-Method-Override")
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_uppercase)
        .unwrap_or(method);
    match (method.as_str(), id) {
        ("GET" | "HEAD", None) => {
            let Ok(db) = inner.db.read() else {
                return lock_err();
            };
            list(inner, &db, table, user, &opts, &path)
        }
        ("GET" | "HEAD", Some(id)) => {
            let Ok(db) = inner.db.read() else {
                return lock_err();
            };
            get_one(inner, &db, table, id, user, &opts)
        }
        ("PATCH" | "PUT", Some(id)) => {
            let Some(mut db) = inner.write_db() else {
                return lock_err();
            };
            update(inner, &mut db, table, id, user, &opts, &bytes)
        }
        ("POST", None) => {
            let Some(mut db) = inner.write_db() else {
                return lock_err();
            };
            create(inner, &mut db, table, user, &opts, &bytes, &path)
        }
        ("DELETE", Some(id)) => {
            let Some(mut db) = inner.write_db() else {
                return lock_err();
            };
            delete(inner, &mut db, table, id, user)
        }
        _ => error(405, "Method not Supported", None),
    }
}

fn invalid_table(table: &str) -> Response {
    error(
        400,
        &format!("Invalid table {table}"),
        Some(&format!("Table {table} does not exist")),
    )
}

/// Parse a numeric parameter; `Err` is the 400 response.
fn parse_num(opts: &Opts, k: &str, default: i64) -> Result<i64, Box<Response>> {
    match opts.get(k) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            Box::new(error(
                400,
                &format!("Invalid {k}"),
                Some(&format!("{k} must be a number: {v}")),
            ))
        }),
    }
}

fn list(inner: &Inner, db: &Db, table: &str, user: &SimUser, opts: &Opts, path: &str) -> Response {
    let Some(t) = table_of(db, table) else {
        return invalid_table(table);
    };
    let as_task = table == "task";
    if db.tables[t].name == "change_request" && !privileged(user)
        || cab::TABLES.contains(&db.tables[t].name) && !cab::may_read(&user.roles)
    {
        return error(403, "Insufficient rights to query records", None);
    }
    let limit = match parse_num(opts, "sysparm_limit", 10_000) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let offset = match parse_num(opts, "sysparm_offset", 0) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if offset < 0 {
        return error(
            400,
            "Invalid sysparm_offset",
            Some("sysparm_offset must not be negative"),
        );
    }
    // Read as `task`, the fields only `change_request` has are unknown (reference §3.3).
    let mut unknown = inner.config.unknown_query_fields.clone();
    if as_task {
        unknown.extend(child_only_fields(db, t));
    }
    let cap = i64::try_from(inner.config.page_cap.max(1)).unwrap_or(i64::MAX);
    let limit = limit.clamp(1, cap) as usize;
    let caller = Caller::new(inner, db, user);
    let offset = offset as usize;
    let now = fmt_ts(inner.now());
    let env = QueryEnv {
        user_sys_id: &user.sys_id,
        now: &now,
        change_fields: inner.config.dotwalk_change_fields,
        unknown_fields: &unknown,
        invalid: inner.config.invalid_query,
    };
    // name=value pairs (§1.2) are ANDed with sysparm_query; names that are not fields of the
    // table (other parameters) are ignored.
    let mut encoded = opts.get("sysparm_query").unwrap_or("").to_string();
    for (k, v) in &opts.params {
        if k.starts_with("sysparm_") {
            continue;
        }
        if let Some(path) = db.resolve(t, k, inner.config.dotwalk_change_fields) {
            let v = value_for(db, &path, v);
            encoded.push_str(&format!("^{k}={v}"));
        }
    }
    let query = match Query::parse(db, t, &encoded, &env) {
        Ok(q) => q,
        Err(detail) => return error(400, "Invalid query", Some(&detail)),
    };
    // Rows in table order, then sorted (stable): a query pinning sys_ids reads just those
    // rows, as a database does by primary key. Without a count, a query ordered by sys_id
    // walks the primary key from its lower bound and stops one row past the page, as a
    // database does with `ORDER BY sys_id LIMIT`: the row past it says whether a next page
    // exists, and `total` is then only a lower bound.
    let counted = !opts.flag("sysparm_no_count");
    let walk = if counted { None } else { query.key_range(t) };
    let (rows, total_known) = match (query.pinned_ids(db), walk) {
        (Some(ids), _) => {
            let mut rows: Vec<u32> = ids.iter().filter_map(|id| db.find(t, id)).collect();
            rows.sort_unstable();
            rows.dedup();
            rows.retain(|&r| query.matches(db, r));
            query.sort(db, &mut rows);
            (rows, true)
        }
        (None, Some((lo, hi))) => {
            let tab = &db.tables[t];
            let want = offset.saturating_add(limit).saturating_add(1);
            let rows: Vec<u32> = tab
                .keys
                .range::<str, _>((
                    lo.as_ref().map(String::as_str),
                    hi.as_ref().map(String::as_str),
                ))
                .filter_map(|k| tab.by_id.get(k).copied())
                .filter(|&r| query.matches(db, r))
                .take(want)
                .collect();
            let known = rows.len() < want;
            (rows, known)
        }
        (None, None) => {
            let mut rows: Vec<u32> = (0..db.tables[t].rows.len() as u32)
                .filter(|&r| query.matches(db, r))
                .collect();
            query.sort(db, &mut rows);
            (rows, true)
        }
    };
    let total = rows.len();
    let fields = fields_for(db, t, opts, as_task, inner.config.dotwalk_change_fields);
    let zone = user_zone(db, user);
    let ctx = opts.ctx(&zone);
    let result: Vec<RowOut<'_>> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .filter(|&&r| can_read(db, t, r, &caller))
        .map(|&r| db.row_out(&ctx, t, r, fields.as_deref()))
        .collect();
    // Version 1 of the Table API answers a list that matches nothing with 404 (reference
    // §1.1); the latest version with an empty result.
    if result.is_empty() && path.starts_with("/api/now/v1/") {
        return not_found();
    }
    let mut h = HeaderMap::new();
    if counted {
        h.insert("X-Total-Count", HeaderValue::from(total as u64));
    }
    if !opts.flag("sysparm_suppress_pagination_header") {
        let link = link_header(
            &opts.base,
            path,
            &opts.params,
            limit,
            offset,
            total,
            total_known,
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.insert(header::LINK, v);
        }
    }
    // Written straight from the records: no map per row and per field to build and free.
    #[derive(serde::Serialize)]
    struct List<'a> {
        result: Vec<RowOut<'a>>,
    }
    match serde_json::to_string(&List { result }) {
        Ok(body) => json_text_response(200, body, h),
        Err(_) => error(500, "Internal Server Error", None),
    }
}

/// `Link` header without spaces (§1.5): first, prev (offset > 0), next (more rows), last
/// (only when `total` is the count, not a lower bound: a query without a count cannot know
/// where the last page starts).
fn link_header(
    base: &str,
    path: &str,
    params: &[(String, String)],
    limit: usize,
    offset: usize,
    total: usize,
    total_known: bool,
) -> String {
    let url = |off: usize| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if k != "sysparm_limit" && k != "sysparm_offset" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("sysparm_limit", &limit.to_string());
        ser.append_pair("sysparm_offset", &off.to_string());
        format!("<{base}{path}?{}>", ser.finish())
    };
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let mut parts = vec![format!("{};rel=\"first\"", url(0))];
    if offset > 0 {
        parts.push(format!(
            "{};rel=\"prev\"",
            url(offset.saturating_sub(limit))
        ));
    }
    if offset + limit < total {
        parts.push(format!("{};rel=\"next\"", url(offset + limit)));
    }
    if total_known {
        parts.push(format!("{};rel=\"last\"", url(last)));
    }
    parts.join(",")
}

fn get_one(inner: &Inner, db: &Db, table: &str, id: &str, user: &SimUser, opts: &Opts) -> Response {
    let Some(t) = table_of(db, table) else {
        return invalid_table(table);
    };
    if table == "task" && !privileged(user) {
        return error(403, "Insufficient rights to query records", None);
    }
    let Some(row) = db.find(t, id) else {
        return not_found();
    };
    if !can_read(db, t, row, &Caller::new(inner, db, user)) {
        return not_found();
    }
    let fields = fields_for(
        db,
        t,
        opts,
        table == "task",
        inner.config.dotwalk_change_fields,
    );
    let zone = user_zone(db, user);
    let rec = db.render_row(&opts.ctx(&zone), t, row, fields.as_deref());
    json_response(200, &json!({ "result": rec }), HeaderMap::new())
}

/// A name=value parameter's value: as given, or the value of the choice or record it names
/// by display value (`state=Requested`, `approver=Alice Moreno`), as an instance takes either.
fn value_for(db: &Db, path: &Path, given: &str) -> String {
    use super::table::Kind;
    let Some(&(t, f)) = path.steps.last() else {
        return given.to_string();
    };
    match db.tables[t].fields[f].kind {
        Kind::Choice(choices) => choices
            .iter()
            .find(|(v, _)| *v == given)
            .or_else(|| choices.iter().find(|(_, l)| l.eq_ignore_ascii_case(given)))
            .map_or_else(|| given.to_string(), |(v, _)| v.to_string()),
        Kind::Ref { target, .. } => {
            let Some(tt) = db.table(target) else {
                return given.to_string();
            };
            if given.is_empty() || db.find(tt, given).is_some() {
                return given.to_string();
            }
            let df = db.tables[tt].display;
            (0..db.tables[tt].rows.len() as u32)
                .find(|&r| db.display_of(tt, r, df) == given)
                .map_or_else(
                    || given.to_string(),
                    |r| db.get(tt, r, super::table::SYS_ID).to_string(),
                )
        }
        _ => given.to_string(),
    }
}

/// The user's time zone as their `sys_user` record says (empty: UTC).
fn user_zone(db: &Db, user: &SimUser) -> String {
    db.table("sys_user")
        .and_then(|t| {
            let row = db.find(t, &user.sys_id)?;
            let f = db.tables[t].field("time_zone")?;
            Some(db.get(t, row, f).to_string())
        })
        .unwrap_or_default()
}

/// The table a read names. `task` is served as the parent of `change_request` (the only
/// task the sim keeps): its rows, with the task fields only (reference §3.3).
fn table_of(db: &Db, table: &str) -> Option<usize> {
    match table {
        "task" => db.table("change_request"),
        t => db.table(t),
    }
}

/// The fields of table `t` that its parent `task` does not have.
fn child_only_fields(db: &Db, t: usize) -> Vec<String> {
    db.tables[t]
        .fields
        .iter()
        .filter(|f| !f.task)
        .map(|f| f.name.to_string())
        .collect()
}

/// The fields to render: those asked for, and read as `task` only task fields (all of them
/// when none are asked for).
fn fields_for(
    db: &Db,
    t: usize,
    opts: &Opts,
    as_task: bool,
    change_fields: bool,
) -> Option<Vec<(String, Path)>> {
    let asked = opts.fields(db, t, change_fields);
    if !as_task {
        return asked;
    }
    let on_task = |p: &Path| {
        p.steps
            .first()
            .is_some_and(|&(pt, pf)| pt != t || db.tables[t].fields[pf].task)
    };
    Some(match asked {
        Some(asked) => asked.into_iter().filter(|(_, p)| on_task(p)).collect(),
        None => db.tables[t]
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.task)
            .map(|(i, f)| {
                (
                    f.name.to_string(),
                    Path {
                        steps: vec![(t, i)],
                    },
                )
            })
            .collect(),
    })
}

fn parse_body(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Some(m),
        // Only the first record of an array is processed (§1.1).
        Ok(Value::Array(a)) => match a.into_iter().next() {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

fn update(
    inner: &Inner,
    db: &mut Db,
    table: &str,
    id: &str,
    user: &SimUser,
    opts: &Opts,
    bytes: &[u8],
) -> Response {
    let Some(t) = db.table(table) else {
        return invalid_table(table);
    };
    let Some(row) = db.find(t, id) else {
        return not_found();
    };
    let caller = Caller::new(inner, db, user);
    if !can_read(db, t, row, &caller) {
        return not_found();
    }
    if !can_write(db, t, row, &caller) {
        return forbidden_update();
    }
    let Some(mut body) = parse_body(bytes) else {
        return bad_body();
    };
    if db.tables[t].name == "sys_user_delegate" {
        if !own_delegation(&body, user) {
            return forbidden_update();
        }
        body = match prepare_delegation(inner, db, t, Some(row), &body) {
            Ok(b) => b,
            Err(r) => return error(r.status, &r.message, r.detail.as_deref()),
        };
    }
    let actor = Actor {
        user_name: user.user_name.clone(),
        name: user.name.clone(),
    };
    if let Err(r) = check_update(inner, db, t, row, &body) {
        return error(r.status, &r.message, r.detail.as_deref());
    }
    apply_update(inner, db, t, row, &body, &actor);
    let fields = opts.fields(db, t, inner.config.dotwalk_change_fields);
    let zone = user_zone(db, user);
    let rec = db.render_row(&opts.ctx(&zone), t, row, fields.as_deref());
    json_response(200, &json!({ "result": rec }), HeaderMap::new())
}

fn create(
    inner: &Inner,
    db: &mut Db,
    table: &str,
    user: &SimUser,
    opts: &Opts,
    bytes: &[u8],
    path: &str,
) -> Response {
    let Some(t) = db.table(table) else {
        return invalid_table(table);
    };
    let name = db.tables[t].name;
    let is_cab = cab::TABLES.contains(&name);
    let allowed = (is_admin(user) && name != "sys_journal_field")
        || name == "sys_user_delegate"
        || is_cab
        || (privileged(user) && matches!(name, "change_request" | "sysapproval_approver"));
    if !allowed {
        return error(
            403,
            "Operation Failed",
            Some("ACL Exception Insert Failed due to security constraints"),
        );
    }
    let Some(mut body) = parse_body(bytes) else {
        return bad_body();
    };
    if is_cab && !is_admin(user) {
        let meeting = body.get("cab_meeting").and_then(json_to_string);
        if let Err(why) = cab::may_create(db, t, meeting.as_deref(), &user.sys_id, &user.roles) {
            let status = if why.starts_with("ACL") { 403 } else { 400 };
            return error(status, "Operation Failed", Some(why));
        }
    }
    if name == "sys_user_delegate" {
        // Anyone may delegate their own work (§6.2); only an admin may do it for others.
        if !own_delegation(&body, user) {
            return forbidden_update();
        }
        body = match prepare_delegation(inner, db, t, None, &body) {
            Ok(b) => b,
            Err(r) => return error(r.status, &r.message, r.detail.as_deref()),
        };
    }
    let actor = Actor {
        user_name: user.user_name.clone(),
        name: user.name.clone(),
    };
    let row = insert_record(inner, db, t, &body, &actor);
    let id = db.get(t, row, 0).to_string();
    let fields = opts.fields(db, t, inner.config.dotwalk_change_fields);
    let zone = user_zone(db, user);
    let rec = db.render_row(&opts.ctx(&zone), t, row, fields.as_deref());
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}{}/{}",
        opts.base,
        path.trim_end_matches('/'),
        id
    )) {
        h.insert(header::LOCATION, v);
    }
    json_response(201, &json!({ "result": rec }), h)
}

/// DELETE (§6.4): 204 with no body. Only delegations can be deleted (by their delegator or an
/// admin); the sim models no deletes elsewhere, so other tables answer 403.
fn delete(inner: &Inner, db: &mut Db, table: &str, id: &str, user: &SimUser) -> Response {
    let Some(t) = db.table(table) else {
        return invalid_table(table);
    };
    let Some(row) = db.find(t, id) else {
        return not_found();
    };
    let caller = Caller::new(inner, db, user);
    if !can_read(db, t, row, &caller) {
        return not_found();
    }
    if db.tables[t].name != "sys_user_delegate" || !can_write(db, t, row, &caller) {
        return error(
            403,
            "Operation Failed",
            Some("ACL Exception Delete Failed due to security constraints"),
        );
    }
    db.remove(t, row);
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_page_costs_more_the_deeper_its_offset() {
        let ms = Duration::from_millis(1);
        assert_eq!(
            offset_cost(ms, Some("sysparm_offset=0&sysparm_limit=100")),
            Duration::ZERO
        );
        assert_eq!(offset_cost(ms, Some("sysparm_limit=100")), Duration::ZERO);
        assert_eq!(
            offset_cost(ms, Some("a=b&sysparm_offset=50000")),
            Duration::from_millis(50)
        );
        assert_eq!(offset_cost(ms, Some("sysparm_offset=-5")), Duration::ZERO);
        assert_eq!(
            offset_cost(Duration::ZERO, Some("sysparm_offset=50000")),
            Duration::ZERO
        );
        // Keyset pages carry no offset: the same cost at any depth.
        assert_eq!(
            offset_cost(ms, Some("sysparm_query=sys_id%3Eabc%5EORDERBYsys_id")),
            Duration::ZERO
        );
    }
}
