//! The instance's OAuth token endpoint, `POST /oauth_token.do` (servicenow-api.md §2.2):
//! form-encoded bodies only, the `password` and `refresh_token` grants for one registered
//! client, access tokens that expire on the server clock (1799 s by default), the same access
//! token answered again while it is valid, a refresh that keeps the refresh token, and
//! `{"error_description":"access_denied","error":"server_error"}` with 401 on any failure.
//! `GET /oauth_revoke_token.do?token=…` revokes either kind, without authentication.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::{Inner, SimUser};

/// The OAuth client registered on the sim (Application Registry entry).
pub const DEMO_CLIENT_ID: &str = "signoff-demo-client";
/// Its secret.
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret";
/// How long a refresh token lasts (ServiceNow's default, 100 days).
const REFRESH_LIFETIME_SECS: i64 = 8_640_000;

/// Tokens handed out: token → (user name, expiry in server seconds).
#[derive(Default)]
pub struct Tokens {
    access: HashMap<String, (String, i64)>,
    refresh: HashMap<String, (String, i64)>,
    /// Token requests answered (granted or refused), for tests.
    pub requests: u64,
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, Tokens> {
    inner.tokens.lock().unwrap_or_else(|p| p.into_inner())
}

/// The user a bearer token belongs to, while it is valid.
pub fn bearer_user<'a>(inner: &'a Inner, token: &str) -> Option<&'a SimUser> {
    let now = inner.now();
    let name = {
        let t = lock(inner);
        let (name, until) = t.access.get(token.trim())?;
        if *until <= now {
            return None;
        }
        name.clone()
    };
    inner.users.iter().find(|u| u.user_name == name)
}

/// Forgets every access token (a restart of the instance's node, or an admin's revoke): the
/// next API call with one gets 401.
pub fn revoke_access(inner: &Inner) {
    lock(inner).access.clear();
}

pub fn token_requests(inner: &Inner) -> u64 {
    lock(inner).requests
}

fn denied() -> Response {
    answer(
        401,
        json!({"error_description": "access_denied", "error": "server_error"}),
    )
}

fn answer(status: u16, body: serde_json::Value) -> Response {
    let mut r = Response::new(axum::body::Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

/// `POST /oauth_token.do`.
pub fn token(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> Response {
    lock(inner).requests += 1;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    // A JSON body fails on a real instance, the same way as a wrong secret.
    if !form {
        return denied();
    }
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    // The client may authenticate in the body or with HTTP Basic (RFC 6749 §2.3.1), as
    // requests-oauthlib (pysnow) does.
    if !params.contains_key("client_id")
        && let Some((id, secret)) = basic_client(headers)
    {
        params.insert("client_id".into(), id);
        params.insert("client_secret".into(), secret);
    }
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != DEMO_CLIENT_ID || get("client_secret") != DEMO_CLIENT_SECRET {
        return denied();
    }
    let now = inner.now();
    let lifetime = inner.config.token_lifetime_secs.max(1) as i64;
    let mut t = lock(inner);
    let (user, refresh) = match get("grant_type") {
        "password" => {
            let user = get("username");
            if get("password") != inner.config.password
                || !inner.users.iter().any(|u| u.user_name == user)
            {
                return denied();
            }
            let refresh = inner.new_sys_id() + &inner.new_sys_id();
            t.refresh.insert(
                refresh.clone(),
                (user.to_string(), now + REFRESH_LIFETIME_SECS),
            );
            (user.to_string(), Some(refresh))
        }
        "refresh_token" => match t.refresh.get(get("refresh_token")) {
            Some((user, until)) if *until > now => (user.clone(), None),
            _ => return denied(),
        },
        _ => return denied(),
    };
    // While a token is still valid, the same one is answered again.
    let existing = t
        .access
        .iter()
        .find(|(_, (u, until))| *u == user && *until > now)
        .map(|(k, (_, until))| (k.clone(), *until));
    let (access, until) = existing.unwrap_or_else(|| {
        let k = inner.new_sys_id() + &inner.new_sys_id();
        t.access.insert(k.clone(), (user.clone(), now + lifetime));
        (k, now + lifetime)
    });
    let mut body = json!({
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": until - now,
        "access_token": access,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    answer(200, body)
}

/// The client id and secret of an `Authorization: Basic` header (each form-urlencoded).
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// `GET /oauth_revoke_token.do?token=…`: no authentication needed.
pub fn revoke(inner: &Inner, query: &str) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(tok) = params.get("token") {
        let mut t = lock(inner);
        t.access.remove(tok);
        t.refresh.remove(tok);
    }
    answer(200, json!({}))
}
