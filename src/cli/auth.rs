//! `signoff auth login|status|logout`: the password kept in the OS keyring (else an
//! owner-only file), checked against the instance before it is kept.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use serde::Serialize;

use super::connect::Session;
use super::{AuthCommand, Failure, Output};
use crate::backend::servicenow::ServiceNow;
use crate::backend::servicenow::oauth::{Bearer, Grant, OAuth};
use crate::backend::{Backend, BackendError, Connection, Secret};
use crate::secrets::Secrets;

pub async fn run(s: &Session, cmd: AuthCommand) -> Result<(), Failure> {
    if s.cli.offline {
        return Err(Failure::usage(
            "Signing in asks the instance; leave out --offline.",
        ));
    }
    let (instance, user) = s.identity()?;
    let host = instance.host_str().unwrap_or_default().to_string();
    let client_id = s.oauth_client_id()?;
    // What is kept: the password for basic authentication, the refresh token for OAuth.
    let (account, what) = match &client_id {
        Some(_) => (s.refresh_account(&user, &host), "refresh token"),
        None => (s.password_account(&user, &host), "password"),
    };
    let dir = s.credentials_dir();
    let secrets = Secrets::for_credentials();
    let place_of = |account: &str| match secrets.kind() {
        crate::secrets::Kind::File => format!(
            "the file {} (mode 0600)",
            Secrets::file_for(&dir, account).display()
        ),
        kind => kind.label().to_string(),
    };
    match cmd {
        AuthCommand::Login { password_stdin } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| Failure::usage(format!("Could not read the password: {e}.")))?;
                line.trim_end_matches(['\n', '\r']).to_string()
            } else if std::io::stdin().is_terminal() {
                rpassword::prompt_password(format!("Password for {user} at {host}: "))
                    .map_err(|e| Failure::usage(format!("Could not read the password: {e}.")))?
            } else {
                return Err(Failure::usage(
                    "No password: run this in a terminal, or give it on standard input with --password-stdin.",
                ));
            };
            if password.is_empty() {
                return Err(Failure::usage("The password is empty; nothing was kept."));
            }
            let Some(client_id) = client_id else {
                let who = check(s, &instance, &user, Secret::new(password.clone()), None).await?;
                let place = secrets
                    .set_or_file(&dir, &account, &password)
                    .map_err(|e| Failure::other(format!("Could not keep the password: {e}.")))?;
                println!(
                    "Signed in as {who} ({user}) at {host}; the password is kept in {place}. `signoff auth logout` removes it."
                );
                return Ok(());
            };
            // OAuth: the password buys a refresh token once and is then forgotten.
            let secret = match s.client_secret(&client_id, &host) {
                Ok(secret) => secret,
                Err(_) if !password_stdin && std::io::stdin().is_terminal() => Secret::new(
                    rpassword::prompt_password(format!(
                        "Client secret of the OAuth client {client_id} at {host}: "
                    ))
                    .map_err(|e| Failure::usage(format!("Could not read the secret: {e}.")))?,
                ),
                Err(f) => return Err(f),
            };
            let oauth = Arc::new(Bearer::OAuth(OAuth::new(
                client_id.clone(),
                secret.clone(),
                Grant::Password {
                    user: user.clone(),
                    password: Secret::new(password),
                },
            )));
            let who = check(s, &instance, &user, Secret::new(""), Some(oauth.clone())).await?;
            let Bearer::OAuth(o) = &*oauth else {
                unreachable!("built as OAuth above")
            };
            let Some(refresh) = o.refresh_token() else {
                return Err(Failure::other(
                    "The instance signed you in but gave no refresh token, so there is nothing to keep; check that the OAuth client's refresh token lifespan is not zero.",
                ));
            };
            let place = secrets
                .set_or_file(&dir, &account, refresh.expose())
                .map_err(|e| Failure::other(format!("Could not keep the refresh token: {e}.")))?;
            secrets
                .set_or_file(&dir, &s.client_account(&client_id, &host), secret.expose())
                .map_err(|e| Failure::other(format!("Could not keep the client secret: {e}.")))?;
            println!(
                "Signed in as {who} ({user}) at {host} with the OAuth client {client_id}; its refresh token and secret are kept in {place}, the password is not kept. `signoff auth logout` removes them."
            );
            Ok(())
        }
        AuthCommand::Status => {
            let output = s.output();
            let saved = secrets
                .get_or_file(&dir, &account)
                .map_err(|e| Failure::other(format!("Could not read the saved {what}: {e}.")))?;
            let place = saved.as_ref().map(|_| place_of(&account));
            let checked = match (&saved, &client_id) {
                (None, _) => None,
                (Some(p), None) => {
                    Some(check(s, &instance, &user, Secret::new(p.clone()), None).await)
                }
                (Some(r), Some(id)) => Some(match s.client_secret(id, &host) {
                    Ok(secret) => {
                        let oauth = Arc::new(Bearer::OAuth(OAuth::new(
                            id.clone(),
                            secret,
                            Grant::Refresh(Secret::new(r.clone())),
                        )));
                        check(s, &instance, &user, Secret::new(""), Some(oauth)).await
                    }
                    Err(f) => Err(f),
                }),
            };
            #[derive(Serialize)]
            struct Status<'a> {
                instance: &'a str,
                user: &'a str,
                profile: &'a str,
                method: &'static str,
                client_id: Option<&'a str>,
                saved_in: Option<&'a str>,
                signed_in: bool,
                name: Option<String>,
                problem: Option<String>,
            }
            let status = Status {
                instance: &host,
                user: &user,
                profile: &s.profile_name,
                method: if client_id.is_some() {
                    "oauth"
                } else {
                    "basic"
                },
                client_id: client_id.as_deref(),
                saved_in: place.as_deref(),
                signed_in: matches!(checked, Some(Ok(_))),
                name: checked.as_ref().and_then(|c| c.as_ref().ok().cloned()),
                problem: checked
                    .as_ref()
                    .and_then(|c| c.as_ref().err().map(|f| f.message.clone())),
            };
            if output != Output::Table {
                super::output::record(output, &status, |_| Ok(()), "the status")?;
            } else {
                let via = client_id
                    .as_ref()
                    .map_or(String::new(), |c| format!(" with the OAuth client {c}"));
                match (&status.saved_in, &checked) {
                    (None, _) => println!(
                        "No saved {what} for {user} at {host} (profile {}). `signoff auth login` keeps one.",
                        s.profile_name
                    ),
                    (Some(place), Some(Ok(name))) => println!(
                        "Signed in as {name} ({user}) at {host}{via}; the {what} is kept in {place}."
                    ),
                    (Some(place), Some(Err(f))) => println!(
                        "A {what} for {user} at {host} is kept in {place}, but signing in failed: {}",
                        f.message
                    ),
                    (Some(_), None) => {}
                }
            }
            match checked {
                Some(Err(f)) => Err(f),
                _ => Ok(()),
            }
        }
        AuthCommand::Logout => {
            let mut accounts = vec![
                (s.password_account(&user, &host), "password"),
                (s.refresh_account(&user, &host), "refresh token"),
            ];
            if let Some(id) = &client_id {
                accounts.push((s.client_account(id, &host), "client secret"));
            }
            let mut removed = Vec::new();
            for (a, name) in &accounts {
                if secrets
                    .get_or_file(&dir, a)
                    .map_err(|e| Failure::other(format!("Could not read a saved secret: {e}.")))?
                    .is_some()
                {
                    removed.push(*name);
                }
                secrets.delete_or_file(&dir, a).map_err(|e| {
                    Failure::other(format!("Could not remove a saved secret: {e}."))
                })?;
            }
            if removed.is_empty() {
                println!("There was no saved {what} for {user} at {host}.");
            } else {
                println!(
                    "Removed the saved {} for {user} at {host}.",
                    removed.join(" and ")
                );
            }
            Ok(())
        }
    }
}

/// Signs in with the password or the bearer: the user's name, or why not.
async fn check(
    s: &Session,
    instance: &url::Url,
    user: &str,
    password: Secret,
    bearer: Option<Arc<Bearer>>,
) -> Result<String, Failure> {
    let store = s.open_store().ok();
    let clock = s.clock_for(store.as_ref());
    let mut options = s.options(&clock);
    options.bearer = bearer;
    let backend = ServiceNow::with_options(
        Connection {
            instance: instance.clone(),
            user: user.to_string(),
            password,
        },
        options,
    )?;
    match backend.current_user().await {
        Ok(u) => Ok(u.name),
        Err(BackendError::Unauthorized) => Err(Failure::new(
            super::Kind::Refused,
            format!(
                "The instance refused the sign-in of {user}: check the password (nothing was kept)."
            ),
        )),
        Err(e) => Err(e.into()),
    }
}
