//! OAuth 2.0 against the sim's `/oauth_token.do`, for real over HTTP: the password grant, a
//! token reused while valid, renewed before it expires (on the sim's clock, which the client
//! shares) and once when the instance refuses it; a wrong secret; `auth login` keeping the
//! refresh token and never the password; SIGNOFF_TOKEN as a given bearer token.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{stderr as err, stdout as out};
use signoff::backend::servicenow::oauth::{Bearer, Grant, OAuth};
use signoff::backend::servicenow::{Options, ServiceNow};
use signoff::backend::{Backend, BackendError, Connection, Secret, parse_instance_url};
use signoff::sim::oauth::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER};

fn oauth_client(server: &signoff::sim::SimServer, secret: &str) -> ServiceNow {
    let bearer = Bearer::OAuth(OAuth::new(
        DEMO_CLIENT_ID.into(),
        Secret::new(secret),
        Grant::Password {
            user: DEMO_USER.into(),
            password: Secret::new(DEMO_PASSWORD),
        },
    ));
    ServiceNow::with_options(
        Connection {
            instance: parse_instance_url(&server.url()).unwrap(),
            user: DEMO_USER.into(),
            password: Secret::new(""),
        },
        Options {
            clock: Some(common::clock(server)),
            bearer: Some(Arc::new(bearer)),
            ..Options::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_are_fetched_reused_renewed_before_expiry_and_once_on_a_401() {
    let mut cfg = common::sim_config(71, 20, 100);
    cfg.frozen_clock = true;
    let server = signoff::sim::SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let client = oauth_client(&server, DEMO_CLIENT_SECRET);

    let me = client.current_user().await.unwrap();
    assert_eq!(me.user_name, DEMO_USER);
    assert_eq!(
        server.token_requests(),
        1,
        "one token for the first request"
    );
    client.current_user().await.unwrap();
    client.delegations(&me.sys_id).await.unwrap();
    assert_eq!(server.token_requests(), 1, "reused while valid");

    // 1799 s tokens; 30 minutes on, within a minute of expiry: renewed before use, no 401.
    server.advance_clock(Duration::from_secs(1750));
    client.current_user().await.unwrap();
    assert_eq!(server.token_requests(), 2, "renewed before it expired");

    // The instance forgets the token: the 401 is answered by one renewal and a retry.
    server.revoke_access_tokens();
    client.current_user().await.unwrap();
    assert_eq!(server.token_requests(), 3, "renewed once on the 401");

    // A wrong client secret is a refused OAuth sign-in, said as such.
    let bad = oauth_client(&server, "not-the-secret");
    let e = bad.current_user().await.unwrap_err();
    assert!(matches!(e, BackendError::OAuthRefused { .. }), "{e:?}");
    assert!(e.to_string().contains("access_denied"), "{e}");
    server.shutdown().await;
}

/// The profile of these tests: OAuth with the sim's client.
fn oauth_home(url: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    common::write_config(
        home.path(),
        &format!(
            "instance = \"{url}\"\nuser = \"{DEMO_USER}\"\nauth = \"oauth\"\nclient_id = \"{DEMO_CLIENT_ID}\"\n"
        ),
    );
    home
}

#[tokio::test]
async fn auth_login_keeps_the_refresh_token_and_never_the_password() {
    let server = common::sim(72, 20, 100).await;
    let url = server.url();
    let home = oauth_home(&url);
    let h = home.path();

    // Without the client's secret, the sentence says where it comes from.
    let o = common::with_stdin(
        common::signoff(h, &["auth", "login", "--password-stdin"]),
        "demo\n",
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("SIGNOFF_CLIENT_SECRET"), "{}", err(&o));

    let mut c = common::signoff(h, &["auth", "login", "--password-stdin"]);
    c.env("SIGNOFF_CLIENT_SECRET", DEMO_CLIENT_SECRET);
    let o = common::with_stdin(c, &format!("{DEMO_PASSWORD}\n")).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("with the OAuth client"), "{}", out(&o));
    assert!(out(&o).contains("the password is not kept"), "{}", out(&o));

    // What is kept is the refresh token and the client secret, owner-only; no password.
    let credentials = h.join("data").join("credentials");
    let mut kept = Vec::new();
    for entry in std::fs::read_dir(&credentials).unwrap() {
        let path = entry.unwrap().path();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        kept.push(std::fs::read_to_string(&path).unwrap());
    }
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().any(|k| k.contains(DEMO_CLIENT_SECRET)));
    assert!(!kept.iter().any(|k| k.trim() == DEMO_PASSWORD), "{kept:?}");

    // Later runs sign in with it: no password, no secret in the environment.
    let o = common::signoff(h, &["queue", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!rows.is_empty());
    let o = common::signoff(h, &["auth", "status", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["method"], "oauth");
    assert_eq!(status["signed_in"], true, "{status}");

    // Logged out, nothing is left and the next run has no way in.
    let o = common::signoff(h, &["auth", "logout"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(std::fs::read_dir(&credentials).unwrap().count(), 0);
    let o = common::signoff(h, &["queue"]).output().await.unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    server.shutdown().await;
}

#[tokio::test]
async fn a_given_bearer_token_is_used_until_the_instance_refuses_it() {
    let server = common::sim(73, 20, 100).await;
    let url = server.url();
    // A token from the instance, as a pipeline's secret store would hold it.
    signoff::init_tls();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/oauth_token.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&client_id={DEMO_CLIENT_ID}&client_secret={DEMO_CLIENT_SECRET}&username={DEMO_USER}&password={DEMO_PASSWORD}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    // The client may also authenticate with HTTP Basic (RFC 6749 §2.3.1), as
    // requests-oauthlib does; a wrong secret either way is the documented refusal.
    for (secret, status) in [(DEMO_CLIENT_SECRET, 200), ("wrong", 401)] {
        let r = reqwest::Client::new()
            .post(format!("{url}/oauth_token.do"))
            .basic_auth(DEMO_CLIENT_ID, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=password&username={DEMO_USER}&password={DEMO_PASSWORD}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        let body: serde_json::Value = r.json().await.unwrap();
        if status == 401 {
            assert_eq!(body["error_description"], "access_denied");
        } else {
            assert!(body["access_token"].is_string());
        }
    }
    assert_eq!(answer["expires_in"], 1799);
    let token = answer["access_token"].as_str().unwrap().to_string();

    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let run = |args: &'static [&'static str]| {
        let mut c = common::signoff(h, args);
        c.env("SIGNOFF_INSTANCE", &url)
            .env("SIGNOFF_USER", DEMO_USER)
            .env("SERVICENOW_TOKEN", &token);
        c
    };
    let o = run(&["queue", "-o", "json"]).output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    server.revoke_access_tokens();
    let o = run(&["queue", "-o", "table"]).output().await.unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("refused the bearer token"), "{}", err(&o));
    assert!(!err(&o).contains(&token), "the token is never printed");
    server.shutdown().await;
}
