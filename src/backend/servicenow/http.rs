//! The transport: one reqwest client that talks only to the instance.
//!
//! - Redirects are followed only within the instance's own origin (scheme, host, port); one to
//!   anywhere else is refused before anything (body or credentials) is sent there. A write
//!   answered with a redirect is never taken as done, since the body may have gone nowhere.
//! - A loopback instance is never reached through a proxy (HTTP_PROXY on a corporate laptop
//!   would otherwise receive the Authorization header); other instances use the system proxy.
//! - Every answer's `Date` header feeds the server clock, so what the server decides by its
//!   own time (delegation windows) is judged by it.
//! - Errors become one sentence each (`BackendError`), with what the status and body mean.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, DATE, HeaderMap, RETRY_AFTER};
use serde_json::Value;
use url::Url;

use crate::backend::{BackendError, Connection, Secret, is_loopback_host};
use crate::domain::text::clean_line;
use crate::domain::{Clock, ServerClock};

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Same-origin redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// A redirect signoff refused to follow; carried through reqwest's error chain.
#[derive(Debug)]
struct OffOrigin(String);

impl std::fmt::Display for OffOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to {} refused", self.0)
    }
}

impl std::error::Error for OffOrigin {}

/// `scheme://host:port` of a URL, for comparing origins and for messages.
pub(super) fn origin(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

pub(super) struct Transport {
    client: reqwest::Client,
    conn: Connection,
    timeout: Duration,
    clock: Option<Arc<ServerClock>>,
    /// Refuse every write (a read-only profile).
    pub read_only: bool,
    /// The extra CA file in use, named when a certificate is still not trusted.
    ca_file: Option<String>,
    /// A bearer token (given, or from OAuth) instead of basic authentication.
    pub bearer: Option<Arc<super::oauth::Bearer>>,
    /// `--dry-run`: every write is written down here instead of sent (reads still go out).
    pub dry_run: Option<Arc<std::sync::Mutex<Vec<crate::backend::PlannedRequest>>>>,
    /// Wait out a 429 (any request) or a 503 (reads) that says how long, a few times, saying
    /// so on stderr: for one-shot commands (the console's engine has its own backoff).
    pub retry_waits: bool,
}

impl Transport {
    pub fn new(
        conn: Connection,
        timeout: Duration,
        clock: Option<Arc<ServerClock>>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Transport, BackendError> {
        crate::init_tls();
        let home = conn.instance.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if origin(attempt.url()) != origin(&home) {
                let to = origin(attempt.url());
                attempt.error(OffOrigin(to))
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(OffOrigin("the same place, round in a circle".into()))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(policy)
            .user_agent(concat!("signoff/", env!("CARGO_PKG_VERSION")));
        if is_loopback_host(conn.instance.host_str().unwrap_or("")) {
            builder = builder.no_proxy();
        }
        if let Some(path) = ca_file {
            for cert in read_ca_file(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| BackendError::Protocol(format!("could not set up HTTP: {e}")))?;
        Ok(Transport {
            client,
            conn,
            timeout,
            clock,
            read_only: false,
            dry_run: None,
            ca_file: ca_file.map(|p| p.display().to_string()),
            bearer: None,
            retry_waits: false,
        })
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Sends one request with the credentials and JSON headers; answers the response headers
    /// and its body (`None` for an empty one, as DELETE's 204), or the error the status or
    /// body means.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(HeaderMap, Option<Value>), BackendError> {
        let (headers, bytes) = self.send_bytes(method, url, body, what).await?;
        match bytes {
            None => Ok((headers, None)),
            Some(bytes) => {
                let json = decode(&headers, bytes).await?;
                Ok((headers, Some(json)))
            }
        }
    }

    /// [`Self::send`] up to the body: the response headers and the raw body of a successful
    /// answer (`None` for an empty 204), not yet decoded, so a caller can look at it (and start
    /// the next request) before paying for the decoding with [`decode`].
    pub async fn send_bytes(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(HeaderMap, Option<bytes::Bytes>), BackendError> {
        let mut tries = 0;
        let mut renewed = false;
        loop {
            let result = self
                .send_once(method.clone(), url.clone(), body, what)
                .await;
            // An OAuth token the instance no longer takes (revoked, or its clock ahead of
            // ours) is fetched again, once.
            if let Some(super::oauth::Bearer::OAuth(o)) = self.bearer.as_deref()
                && !renewed
                && refused_sign_in(&result)
            {
                renewed = true;
                *o.token_slot().lock().await = None;
                continue;
            }
            let wait = match &result {
                Err(BackendError::RateLimited { retry_after }) => *retry_after,
                // A 503 on a write may have done something: only reads are sent again.
                Err(BackendError::Server {
                    status: 503,
                    retry_after,
                    ..
                }) if method == reqwest::Method::GET => *retry_after,
                _ => return result,
            };
            tries += 1;
            let Some(secs) = wait.filter(|s| *s <= MAX_RETRY_WAIT_SECS) else {
                return result;
            };
            if !self.retry_waits || tries > MAX_WAITS {
                return result;
            }
            eprintln!(
                "signoff: the instance asked to wait {secs} s ({}); waiting, then trying again ({tries} of {MAX_WAITS}).",
                match &result {
                    Err(BackendError::RateLimited { .. }) => "HTTP 429, rate limit",
                    _ => "HTTP 503, unavailable",
                }
            );
            tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(HeaderMap, Option<bytes::Bytes>), BackendError> {
        let started = std::time::Instant::now();
        let write = method != reqwest::Method::GET;
        if write && let Some(plan) = &self.dry_run {
            plan.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(crate::backend::PlannedRequest {
                    method: method.to_string(),
                    url: url.to_string(),
                    body: body.cloned(),
                });
            return Err(BackendError::DryRun);
        }
        if write && self.read_only {
            return Err(BackendError::ReadOnly);
        }
        let req = self.client.request(method.clone(), url.clone());
        let mut req = match self.bearer.as_deref() {
            None => req.basic_auth(&self.conn.user, Some(self.conn.password.expose())),
            Some(b) => req.bearer_auth(self.access_token(b).await?.expose()),
        }
        .header(ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let landed = resp.url().clone();
        let headers = resp.headers().clone();
        // The clock hears the server even when the body never arrives whole.
        self.observe_date(&headers);
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(
            path = url.path(),
            status = status.as_u16(),
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "{method}"
        );
        if write && landed != url {
            // A same-origin redirect of a write: reqwest may have turned it into a GET of
            // another page. Whatever came back is not the answer to the write.
            return Err(BackendError::RedirectedWrite {
                to: clean_line(landed.path(), 120),
            });
        }
        if !status.is_success() {
            let e = status_error(status, &headers, &bytes, what);
            // A given token that is refused cannot be renewed: say so, not "the password".
            if matches!(
                self.bearer.as_deref(),
                Some(super::oauth::Bearer::Static(_))
            ) && matches!(e, BackendError::Unauthorized)
            {
                return Err(BackendError::TokenRefused);
            }
            return Err(e);
        }
        if bytes.is_empty() && status == StatusCode::NO_CONTENT {
            return Ok((headers, None));
        }
        Ok((headers, Some(bytes)))
    }

    /// The access token to send: the given one, or an OAuth token still good for a minute,
    /// else a new one from the instance's token endpoint.
    async fn access_token(&self, bearer: &super::oauth::Bearer) -> Result<Secret, BackendError> {
        let o = match bearer {
            super::oauth::Bearer::Static(t) => return Ok(t.clone()),
            super::oauth::Bearer::OAuth(o) => o,
        };
        let now = || {
            self.clock
                .as_ref()
                .map_or_else(chrono::Utc::now, |c| c.now())
        };
        let mut slot = o.token_slot().lock().await;
        if let Some(t) = super::oauth::OAuth::fresh(&slot, now()) {
            return Ok(t);
        }
        let mut url = self.conn.instance.clone();
        url.set_path("/oauth_token.do");
        url.set_query(None);
        let resp = self
            .client
            .post(url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(o.form())
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        self.observe_date(&headers);
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        tracing::debug!(status = status.as_u16(), "oauth token request");
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Err(BackendError::OAuthRefused {
                reason: super::oauth::refusal(&bytes),
            });
        }
        if !status.is_success() {
            return Err(status_error(status, &headers, &bytes, "the token endpoint"));
        }
        let token = o.accept(&bytes, now())?;
        let access = token.access.clone();
        *slot = Some(token);
        Ok(access)
    }

    fn observe_date(&self, headers: &HeaderMap) {
        let Some(clock) = &self.clock else {
            return;
        };
        let date = headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| chrono::DateTime::parse_from_rfc2822(s.trim()).ok());
        if let Some(d) = date {
            clock.observe(d.with_timezone(&chrono::Utc));
        }
    }

    fn instance_url(&self) -> String {
        self.conn
            .instance
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    fn transport_error(&self, e: reqwest::Error) -> BackendError {
        let url = self.instance_url();
        if let Some(off) = find_source::<OffOrigin>(&e) {
            return BackendError::Redirected {
                from: url,
                to: clean_line(&off.0, 120),
            };
        }
        if e.is_timeout() {
            return BackendError::Timeout {
                url,
                seconds: self.timeout.as_secs().max(1),
            };
        }
        let reason = root_cause(&e);
        if reason.contains("407")
            || reason.contains("proxy authentication")
            || reason.contains("proxy authorization")
        {
            return BackendError::ProxyRefused { reason };
        }
        let lower = reason.to_lowercase();
        if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            return BackendError::UnknownIssuer {
                url,
                ca_file: self.ca_file.clone(),
            };
        }
        BackendError::Unreachable { url, reason }
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = err.source();
    }
    None
}

pub(super) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Answers at least this large are decoded on a blocking thread.
const DECODE_APART: usize = 64 * 1024;

/// The JSON of an answer's body. A large answer (a page of a pull) is decoded on a blocking
/// thread, so the other requests in flight are read and sent meanwhile instead of waiting.
pub(super) async fn decode(
    headers: &HeaderMap,
    bytes: bytes::Bytes,
) -> Result<Value, BackendError> {
    if bytes.len() < DECODE_APART {
        return json_body(headers, &bytes);
    }
    let h = headers.clone();
    tokio::task::spawn_blocking(move || json_body(&h, &bytes))
        .await
        .map_err(|e| BackendError::Protocol(format!("decoding the answer stopped ({e})")))?
}

/// An answer's body read as JSON into `T` (which may borrow from it), once its content type
/// says JSON.
pub(super) fn json_body<'a, T: serde::Deserialize<'a>>(
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<T, BackendError> {
    let ct = header_str(headers, CONTENT_TYPE.as_str()).unwrap_or_default();
    if !ct.to_ascii_lowercase().contains("json") {
        let kind = if ct.is_empty() {
            "no content type".to_string()
        } else {
            clean_line(&ct, 60)
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

/// The message of a ServiceNow error envelope `{"error":{"message","detail"},"status":"failure"}`;
/// `None` when the body is not one.
fn envelope(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    let err = v.get("error")?;
    let msg = err["message"].as_str().unwrap_or("");
    let detail = err["detail"].as_str().unwrap_or("");
    let text = match (msg.is_empty(), detail.is_empty()) {
        (false, false) if msg != detail => format!("{msg} — {detail}"),
        (false, _) => msg.to_string(),
        (true, _) => detail.to_string(),
    };
    Some(clean_line(&text, 200))
}

/// The certificates of a PEM file (`ca_file`), or a sentence saying what is wrong with it.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, BackendError> {
    let bytes = std::fs::read(path).map_err(|e| BackendError::CaFile {
        path: path.display().to_string(),
        problem: e.to_string(),
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| BackendError::CaFile {
            path: path.display().to_string(),
            problem: format!("not PEM certificates ({e})"),
        })?;
    if certs.is_empty() {
        return Err(BackendError::CaFile {
            path: path.display().to_string(),
            problem: "it holds no certificate".into(),
        });
    }
    Ok(certs)
}

/// Whether an answer is the instance refusing the sign-in (its own 401, or a bare one).
fn refused_sign_in<T>(r: &Result<T, BackendError>) -> bool {
    matches!(
        r,
        Err(BackendError::Unauthorized | BackendError::GatewayRefused { status: 401, .. })
    )
}

/// How many times a one-shot command waits as the instance asks, and the longest wait.
const MAX_WAITS: u32 = 3;
const MAX_RETRY_WAIT_SECS: u64 = 120;

/// `Retry-After` in seconds: delta-seconds, or an HTTP-date counted from the answer's own
/// `Date` (so the laptop's clock does not matter), else from now.
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let value = header_str(headers, RETRY_AFTER.as_str())?;
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let now = header_str(headers, DATE.as_str())
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
        .map(|d| d.to_utc())
        .unwrap_or_else(chrono::Utc::now);
    Some((at.to_utc() - now).num_seconds().max(0) as u64)
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8], what: &str) -> BackendError {
    let envelope = envelope(body);
    let message = envelope.clone().unwrap_or_default();
    let retry_after = retry_after(headers);
    match status.as_u16() {
        // ServiceNow's own 401 carries its error envelope; anything else answering 401 (a
        // gateway or SSO portal in front) says nothing about the password.
        401 if envelope.is_some() => BackendError::Unauthorized,
        401 => BackendError::GatewayRefused {
            status: 401,
            kind: content_kind(headers),
        },
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
        407 => BackendError::ProxyRefused {
            reason: "HTTP 407 Proxy Authentication Required".into(),
        },
        429 => BackendError::RateLimited { retry_after },
        s @ 500..=599 => BackendError::Server {
            status: s,
            message,
            retry_after,
        },
        300..=399 => BackendError::Redirected {
            from: String::new(),
            to: header_str(headers, "location")
                .map(|l| clean_line(&l, 120))
                .unwrap_or_else(|| "nowhere (no Location given)".into()),
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

fn content_kind(headers: &HeaderMap) -> String {
    header_str(headers, CONTENT_TYPE.as_str())
        .map(|c| clean_line(c.split(';').next().unwrap_or(""), 40))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "no content type".into())
}

/// The innermost error message ("connection refused"), without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let s = cur.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let s = if s.is_empty() { e.to_string() } else { s };
    clean_line(&s.to_lowercase(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let a = Url::parse("http://127.0.0.1:8080/api/now/table/x?y=1").unwrap();
        let b = Url::parse("http://127.0.0.1:9090/api/now/table/x").unwrap();
        assert_eq!(origin(&a), "http://127.0.0.1:8080");
        assert_ne!(origin(&a), origin(&b));
        let c = Url::parse("https://acme.service-now.com/x").unwrap();
        assert_eq!(origin(&c), "https://acme.service-now.com");
    }

    #[test]
    fn a_401_without_the_envelope_is_not_the_password() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "text/html".parse().unwrap());
        let e = status_error(StatusCode::UNAUTHORIZED, &h, b"<html>SSO</html>", "x");
        assert!(matches!(e, BackendError::GatewayRefused { .. }), "{e:?}");
        assert!(
            !e.to_string().contains("Check the user and password"),
            "{e}"
        );
        let body = br#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#;
        let e = status_error(StatusCode::UNAUTHORIZED, &HeaderMap::new(), body, "x");
        assert!(matches!(e, BackendError::Unauthorized), "{e:?}");
        let e = status_error(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            &HeaderMap::new(),
            b"",
            "x",
        );
        assert!(e.to_string().contains("proxy"), "{e}");
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_by_the_servers_clock() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(7));
        h.insert(
            RETRY_AFTER,
            "Wed, 02 Dec 2026 04:00:30 GMT".parse().unwrap(),
        );
        h.insert(DATE, "Wed, 02 Dec 2026 04:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(30));
        // A date already past: no wait.
        h.insert(DATE, "Wed, 02 Dec 2026 05:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(0));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
