//! Bearer tokens: one given as is (`SIGNOFF_TOKEN`), or OAuth 2.0 tokens from the instance's
//! `/oauth_token.do` (servicenow-api.md §2.2) with the password or the refresh-token grant.
//! The access token lives in memory only and is fetched again a minute before it expires and
//! once when the instance refuses it; the refresh token is the caller's to keep (the OS
//! keyring), and a new one the instance hands out is kept here for the caller to save.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::backend::{BackendError, Secret};
use crate::domain::text::clean_line;

/// How signoff proves who it is, other than with a password.
pub enum Bearer {
    /// A token given as is: used until the instance refuses it.
    Static(Secret),
    /// Tokens from the instance's token endpoint.
    OAuth(OAuth),
}

/// How to get an access token.
#[derive(Clone)]
pub enum Grant {
    /// A refresh token kept from an earlier sign-in.
    Refresh(Secret),
    /// The user's password (`auth login`): answers a refresh token too.
    Password { user: String, password: Secret },
}

/// An OAuth client of the instance, and the token it holds.
pub struct OAuth {
    pub client_id: String,
    client_secret: Secret,
    grant: Mutex<Grant>,
    token: tokio::sync::Mutex<Option<Token>>,
}

#[derive(Clone)]
pub(super) struct Token {
    pub access: Secret,
    pub expires_at: DateTime<Utc>,
}

/// Renew this long before the instance's expiry, so no request carries a token that dies on
/// the way.
const MARGIN_SECS: i64 = 60;
/// When the instance does not say (ServiceNow's default is 1800 s).
const DEFAULT_LIFETIME_SECS: i64 = 1799;

impl OAuth {
    pub fn new(client_id: String, client_secret: Secret, grant: Grant) -> OAuth {
        OAuth {
            client_id,
            client_secret,
            grant: Mutex::new(grant),
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The refresh token in use now (the one given, or the one the password grant answered).
    pub fn refresh_token(&self) -> Option<Secret> {
        match &*self.grant.lock().unwrap_or_else(|p| p.into_inner()) {
            Grant::Refresh(r) => Some(r.clone()),
            Grant::Password { .. } => None,
        }
    }

    pub(super) fn token_slot(&self) -> &tokio::sync::Mutex<Option<Token>> {
        &self.token
    }

    /// Whether a held token is still good at `now`.
    pub(super) fn fresh(token: &Option<Token>, now: DateTime<Utc>) -> Option<Secret> {
        token
            .as_ref()
            .filter(|t| t.expires_at - chrono::Duration::seconds(MARGIN_SECS) > now)
            .map(|t| t.access.clone())
    }

    /// The form body of a token request (`application/x-www-form-urlencoded`; a JSON body
    /// fails on a real instance).
    pub(super) fn form(&self) -> String {
        let grant = self.grant.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        match &grant {
            Grant::Refresh(r) => {
                f.append_pair("grant_type", "refresh_token");
                f.append_pair("refresh_token", r.expose());
            }
            Grant::Password { user, password } => {
                f.append_pair("grant_type", "password");
                f.append_pair("username", user);
                f.append_pair("password", password.expose());
            }
        }
        f.append_pair("client_id", &self.client_id);
        f.append_pair("client_secret", self.client_secret.expose());
        f.finish()
    }

    /// Reads a token answer; a refresh token in it replaces the grant (the password is then
    /// no longer held).
    pub(super) fn accept(&self, body: &[u8], now: DateTime<Utc>) -> Result<Token, BackendError> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: Option<String>,
            refresh_token: Option<String>,
            expires_in: Option<serde_json::Value>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let a: Answer = serde_json::from_slice(body).map_err(|_| {
            BackendError::Protocol("the token endpoint's answer is not JSON".into())
        })?;
        let Some(access) = a.access_token.filter(|t| !t.is_empty()) else {
            return Err(BackendError::OAuthRefused {
                reason: clean_line(
                    &a.error_description
                        .or(a.error)
                        .unwrap_or_else(|| "no access token in the answer".into()),
                    200,
                ),
            });
        };
        if !is_token(&access) {
            return Err(BackendError::Protocol(
                "the token endpoint answered an access token with characters no token has".into(),
            ));
        }
        if let Some(r) = a.refresh_token.filter(|t| !t.is_empty() && is_token(t)) {
            *self.grant.lock().unwrap_or_else(|p| p.into_inner()) = Grant::Refresh(Secret::new(r));
        }
        // Numbers or strings, as different releases send them.
        let lifetime = match &a.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_LIFETIME_SECS);
        Ok(Token {
            access: Secret::new(access),
            expires_at: now + chrono::Duration::seconds(lifetime),
        })
    }
}

/// Whether `t` has only the characters a bearer token may have (RFC 6750 §2.1, b64token).
pub fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

/// The reason a token request was refused, from its body (`{"error_description":…}`).
pub(super) fn refusal(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = v["error_description"]
        .as_str()
        .or(v["error"].as_str())
        .unwrap_or("refused");
    clean_line(text, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_urlencoded_and_a_refresh_token_replaces_the_password() {
        let o = OAuth::new(
            "cid".into(),
            Secret::new("s&cret"),
            Grant::Password {
                user: "alice".into(),
                password: Secret::new("p w"),
            },
        );
        assert_eq!(
            o.form(),
            "grant_type=password&username=alice&password=p+w&client_id=cid&client_secret=s%26cret"
        );
        let now = Utc::now();
        let t = o
            .accept(
                br#"{"access_token":"A","refresh_token":"R","expires_in":"1799","token_type":"Bearer"}"#,
                now,
            )
            .unwrap();
        assert_eq!(t.expires_at, now + chrono::Duration::seconds(1799));
        assert_eq!(o.refresh_token().unwrap().expose(), "R");
        assert!(
            o.form()
                .starts_with("grant_type=refresh_token&refresh_token=R&")
        );
        assert!(OAuth::fresh(&Some(t.clone()), now).is_some());
        assert!(OAuth::fresh(&Some(t), now + chrono::Duration::seconds(1740)).is_none());
        let e = o
            .accept(
                br#"{"error_description":"access_denied","error":"server_error"}"#,
                now,
            )
            .err()
            .unwrap();
        assert!(e.to_string().contains("access_denied"), "{e}");
    }
}
