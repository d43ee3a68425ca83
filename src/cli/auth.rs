//! `signoff auth login|status|logout`: the password kept in the OS keyring (else an
//! owner-only file), checked against the instance before it is kept.

use std::io::{BufRead, IsTerminal};

use serde::Serialize;

use super::connect::Session;
use super::{AuthCommand, Failure, Output};
use crate::backend::servicenow::ServiceNow;
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
    let account = s.password_account(&user, &host);
    let dir = s.credentials_dir();
    let secrets = Secrets::for_process();
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
            let who = check(s, &instance, &user, &password).await?;
            let place = secrets
                .set_or_file(&dir, &account, &password)
                .map_err(|e| Failure::other(format!("Could not keep the password: {e}.")))?;
            println!(
                "Signed in as {who} ({user}) at {host}; the password is kept in {place}. `signoff auth logout` removes it."
            );
            Ok(())
        }
        AuthCommand::Status => {
            let output = s.output();
            let saved = secrets
                .get_or_file(&dir, &account)
                .map_err(|e| Failure::other(format!("Could not read the saved password: {e}.")))?;
            let place = match (&saved, secrets.kind()) {
                (None, _) => None,
                (Some(_), crate::secrets::Kind::File) => Some(format!(
                    "the file {} (mode 0600)",
                    Secrets::file_for(&dir, &account).display()
                )),
                (Some(_), kind) => Some(kind.label().to_string()),
            };
            let checked = match &saved {
                Some(p) => Some(check(s, &instance, &user, p).await),
                None => None,
            };
            #[derive(Serialize)]
            struct Status<'a> {
                instance: &'a str,
                user: &'a str,
                profile: &'a str,
                saved_in: Option<&'a str>,
                signed_in: bool,
                name: Option<String>,
                problem: Option<String>,
            }
            let status = Status {
                instance: &host,
                user: &user,
                profile: &s.profile_name,
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
                match (&status.saved_in, &checked) {
                    (None, _) => println!(
                        "No saved password for {user} at {host} (profile {}). `signoff auth login` keeps one.",
                        s.profile_name
                    ),
                    (Some(place), Some(Ok(name))) => println!(
                        "Signed in as {name} ({user}) at {host}; the password is kept in {place}."
                    ),
                    (Some(place), Some(Err(f))) => println!(
                        "A password for {user} at {host} is kept in {place}, but signing in failed: {}",
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
            let had = secrets
                .get_or_file(&dir, &account)
                .map_err(|e| Failure::other(format!("Could not read the saved password: {e}.")))?
                .is_some();
            secrets
                .delete_or_file(&dir, &account)
                .map_err(|e| Failure::other(format!("Could not remove the password: {e}.")))?;
            if had {
                println!("Removed the saved password for {user} at {host}.");
            } else {
                println!("There was no saved password for {user} at {host}.");
            }
            Ok(())
        }
    }
}

/// Signs in with `password`: the user's name, or why not.
async fn check(
    s: &Session,
    instance: &url::Url,
    user: &str,
    password: &str,
) -> Result<String, Failure> {
    let store = s.open_store().ok();
    let clock = s.clock_for(store.as_ref());
    let backend = ServiceNow::with_options(
        Connection {
            instance: instance.clone(),
            user: user.to_string(),
            password: Secret::new(password.to_string()),
        },
        s.options(&clock),
    )?;
    match backend.current_user().await {
        Ok(u) => Ok(u.name),
        Err(BackendError::Unauthorized) => Err(Failure::other(format!(
            "The instance refused the sign-in of {user}: check the password (nothing was kept)."
        ))),
        Err(e) => Err(Failure::other(e.to_string())),
    }
}
