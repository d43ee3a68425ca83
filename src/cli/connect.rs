//! From flags, environment and config to a store, a clock and a backend.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use super::{Cli, Failure};
use crate::backend::servicenow::oauth::{Bearer, Grant, OAuth};
use crate::backend::servicenow::{Options, ServiceNow};
use crate::backend::{Connection, Secret, parse_instance_url};
use crate::config::{Config, Paths, Profile};
use crate::domain::{Clock, ServerClock, StartedAt, SystemClock};
use crate::store::Store;

/// Everything a command needs to know before it does anything.
pub struct Session {
    pub cli: Cli,
    pub paths: Paths,
    pub config: Config,
    pub profile_name: String,
    pub profile: Profile,
    /// This machine's clock (`SIGNOFF_NOW` starts it elsewhere, for tests and demos).
    local: Arc<dyn Clock>,
    /// The policy in force, once a store said (the confirmed one while the config file's
    /// change waits for confirmation).
    in_force: std::cell::RefCell<Option<crate::domain::Policy>>,
    /// The config file's policy differs from the confirmed one: what changed.
    pub review: std::cell::RefCell<Option<crate::domain::governance::PolicyReview>>,
    /// Say so on standard error when the policy file's change waits for confirmation.
    pub warn_policy: bool,
}

impl Session {
    /// How this command's listing prints (`--output`, else by whether stdout is a terminal).
    pub fn output(&self) -> super::Output {
        super::Output::resolve(self.cli.output)
    }

    pub fn new(cli: Cli, paths: Paths, config: Config) -> Result<Session, Failure> {
        let wanted = cli
            .profile
            .clone()
            .or_else(|| first_env(&["SERVICENOW_PROFILE"]));
        let (profile_name, profile) = config.profile(wanted.as_deref()).map_err(Failure::usage)?;
        Ok(Session {
            cli,
            paths,
            config,
            profile_name,
            profile,
            local: local_clock()?,
            in_force: Default::default(),
            review: Default::default(),
            warn_policy: false,
        })
    }

    /// The policy in force: the config file's, unless a store holds a confirmed policy that
    /// the file's change has not replaced yet (see [`Session::open_store`]).
    pub fn policy(&self) -> crate::domain::Policy {
        self.in_force
            .borrow()
            .clone()
            .unwrap_or_else(|| self.config.policy.clone())
    }

    /// Who confirms a policy here: the account the store last synced as, else the
    /// profile's, else this machine's user.
    pub fn who(&self, store: &Store) -> String {
        store
            .sync_state()
            .ok()
            .and_then(|s| s.user)
            .map(|u| u.user_name)
            .or_else(|| self.identity().map(|(_, user)| user).ok())
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "unknown".into())
    }

    /// Puts the config file's changed policy in force in `store` (journaled) and from now on
    /// in this session; answers the sentence that says so. Nothing to confirm: `None`.
    pub fn confirm_policy(&self, store: &mut Store) -> Result<Option<String>, Failure> {
        let Some(r) = self.review.borrow().clone() else {
            return Ok(None);
        };
        let fail = |e: crate::store::StoreError| Failure::other(e.to_string());
        let clock = self.clock_for(Some(store));
        let by = self.who(store);
        let c = store
            .confirm_policy(&r.proposed, &by, clock.now())
            .map_err(fail)?;
        store.set_policy(&r.proposed).map_err(fail)?;
        *self.in_force.borrow_mut() = Some(r.proposed.clone());
        *self.review.borrow_mut() = None;
        Ok(Some(r.confirmed_sentence(&c)))
    }

    /// The policy to use with `store`: the file's when it is the confirmed one (the first
    /// policy a store sees is adopted as confirmed), else the confirmed one, with the review
    /// kept for `signoff policy diff`, the console's dialog and a warning.
    fn govern(&self, store: &mut Store) -> crate::domain::Policy {
        use crate::domain::governance::PolicyReview;
        let file = &self.config.policy;
        let in_force = match store.confirmed_policy() {
            Ok(None) => {
                let by = self.who(store);
                if let Err(e) = store.confirm_policy(file, &by, self.local.now()) {
                    tracing::warn!(error = %e, "could not record the policy in force");
                }
                file.clone()
            }
            Ok(Some(c)) => match PolicyReview::of(&c, file) {
                None => file.clone(),
                Some(review) => {
                    if self.review.borrow().is_none() {
                        if self.warn_policy {
                            eprintln!("{}", review.sentence());
                        }
                        tracing::warn!(
                            confirmed = %c.hash,
                            file = %review.proposed_hash,
                            "the policy file changed; using the confirmed policy"
                        );
                    }
                    *self.review.borrow_mut() = Some(review);
                    c.policy
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "the confirmed policy is unreadable; using the file's");
                file.clone()
            }
        };
        *self.in_force.borrow_mut() = Some(in_force.clone());
        in_force
    }

    /// The server's clock as last measured for this store (this machine's until then).
    pub fn clock_for(&self, store: Option<&Store>) -> Arc<ServerClock> {
        let skew = store.and_then(crate::sync::stored_skew).map(|(s, _)| s);
        Arc::new(ServerClock::with_skew(self.local.clone(), skew))
    }

    /// The profile's store, its queue ordered by the configured policy.
    pub fn open_store(&self) -> Result<Store, Failure> {
        self.open_store_named(&self.profile_name.clone())
    }

    /// The store of another profile (the demo keeps its own).
    pub fn open_store_named(&self, profile: &str) -> Result<Store, Failure> {
        let mut store = open_store(&self.paths, profile)?;
        let policy = self.govern(&mut store);
        store
            .set_policy(&policy)
            .map_err(|e| Failure::other(e.to_string()))?;
        Ok(store)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.profile.sync_interval_secs.unwrap_or(60))
    }

    /// Builds the backend from flags, environment and config, asking for the password if
    /// needed. Every answer's `Date` feeds `clock`.
    pub fn connect(&self, clock: &Arc<ServerClock>) -> Result<ServiceNow, Failure> {
        let (instance, user) = self.identity()?;
        let host = instance.host_str().unwrap_or_default().to_string();
        let mut options = self.options(clock);
        // A token given as is comes first; then OAuth, if the profile uses it; then the
        // password.
        let (password, bearer) = if let Some(t) = first_env(&["SIGNOFF_TOKEN", "SERVICENOW_TOKEN"])
        {
            if !crate::backend::servicenow::oauth::is_token(t.trim()) {
                return Err(Failure::usage(
                    "SIGNOFF_TOKEN holds characters no bearer token has (only letters, digits and -._~+/=); check how it was copied.",
                ));
            }
            (Secret::new(""), Some(Bearer::Static(Secret::new(t.trim()))))
        } else if let Some(client_id) = self.oauth_client_id()? {
            let secret = self.client_secret(&client_id, &host)?;
            let grant = match self.saved(&self.refresh_account(&user, &host)) {
                Some(r) => Grant::Refresh(Secret::new(r)),
                None => Grant::Password {
                    user: user.clone(),
                    password: self.password(&user, &host, false)?,
                },
            };
            (
                Secret::new(""),
                Some(Bearer::OAuth(OAuth::new(client_id, secret, grant))),
            )
        } else {
            (self.password(&user, &host, true)?, None)
        };
        options.bearer = bearer.map(Arc::new);
        let conn = Connection {
            instance,
            user: user.trim().to_string(),
            password,
        };
        Ok(ServiceNow::with_options(conn, options)?)
    }

    /// The password: SIGNOFF_PASSWORD (or SERVICENOW_PASSWORD, SN_PASSWORD), the profile's
    /// password_command, the one kept by `auth login` (with `saved`), else asked for on a
    /// terminal.
    pub fn password(&self, user: &str, host: &str, saved: bool) -> Result<Secret, Failure> {
        if let Some(p) = first_env(&["SIGNOFF_PASSWORD", "SERVICENOW_PASSWORD", "SN_PASSWORD"]) {
            return Ok(Secret::new(p));
        }
        if let Some(cmd) = &self.profile.password_command {
            return run_password_command(cmd).map(Secret::new);
        }
        if saved && let Some(p) = self.saved(&self.password_account(user, host)) {
            return Ok(Secret::new(p));
        }
        if std::io::stdin().is_terminal() {
            let p = rpassword::prompt_password(format!("Password for {user} at {host}: "))
                .map_err(|e| Failure::usage(format!("Could not read the password: {e}.")))?;
            return Ok(Secret::new(p));
        }
        Err(Failure::usage(
            "No password: run `signoff auth login` once, set SIGNOFF_PASSWORD or password_command, or run signoff in a terminal to be asked for it.",
        ))
    }

    /// A secret kept by `auth login` (keyring, else the owner-only file), if any.
    pub fn saved(&self, account: &str) -> Option<String> {
        crate::secrets::Secrets::for_credentials()
            .get_or_file(&self.credentials_dir(), account)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a saved secret could not be read");
                None
            })
    }

    /// The OAuth client id, when this profile signs in with OAuth (`auth = "oauth"`, or a
    /// client id given).
    pub fn oauth_client_id(&self) -> Result<Option<String>, Failure> {
        let id = first_env(&["SIGNOFF_CLIENT_ID", "SERVICENOW_CLIENT_ID"])
            .or_else(|| self.profile.client_id.clone())
            .map(|s| s.trim().to_string());
        match (self.profile.auth.as_deref().map(str::trim), id) {
            (None | Some("basic"), None) => Ok(None),
            (None | Some("oauth"), Some(id)) => Ok(Some(id)),
            (Some("oauth"), None) => Err(Failure::usage(format!(
                "Profile {:?} signs in with OAuth but names no client: add client_id = \"…\" (the Application Registry entry's id) or set SIGNOFF_CLIENT_ID.",
                self.profile_name
            ))),
            (Some("basic"), Some(_)) => Ok(None),
            (Some(other), _) => Err(Failure::usage(format!(
                "auth = {other:?} in profile {:?} is not a way to sign in: use \"basic\" or \"oauth\".",
                self.profile_name
            ))),
        }
    }

    /// The OAuth client's secret: SIGNOFF_CLIENT_SECRET, else the one `auth login` kept.
    pub fn client_secret(&self, client_id: &str, host: &str) -> Result<Secret, Failure> {
        first_env(&["SIGNOFF_CLIENT_SECRET", "SERVICENOW_CLIENT_SECRET"])
            .or_else(|| self.saved(&self.client_account(client_id, host)))
            .map(Secret::new)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "No secret for the OAuth client {client_id:?}: set SIGNOFF_CLIENT_SECRET, or run `signoff auth login` once to keep it."
                ))
            })
    }

    /// The keyring account of the profile's OAuth refresh token.
    pub fn refresh_account(&self, user: &str, host: &str) -> String {
        format!(
            "oauth-refresh:{}:{}@{}",
            self.profile_name,
            user.trim(),
            host
        )
    }

    /// The keyring account of an OAuth client's secret.
    pub fn client_account(&self, client_id: &str, host: &str) -> String {
        format!(
            "oauth-client:{}:{}@{}",
            self.profile_name,
            client_id.trim(),
            host
        )
    }

    /// A read-only profile sends no writes: `read_only = true` in the profile (or at the top
    /// of the config), or SIGNOFF_READ_ONLY / SERVICENOW_READ_ONLY set to 1 or true.
    pub fn read_only(&self) -> bool {
        let env = first_env(&["SIGNOFF_READ_ONLY", "SERVICENOW_READ_ONLY"])
            .is_some_and(|v| matches!(v.trim().to_lowercase().as_str(), "1" | "true" | "yes"));
        env || self.profile.read_only.unwrap_or(false)
    }

    /// Refuses a command that would change something on the instance, in a read-only profile.
    pub fn writes(&self) -> Result<(), Failure> {
        if self.read_only() {
            return Err(Failure::usage(format!(
                "Profile {:?} is read-only (read_only = true, or SIGNOFF_READ_ONLY): signoff sends no changes from it. Use another profile to decide.",
                self.profile_name
            )));
        }
        Ok(())
    }

    /// Where passwords are kept when no keyring answers (owner-only files).
    pub fn credentials_dir(&self) -> std::path::PathBuf {
        self.paths.data_dir.join("credentials")
    }

    /// The keyring account of a profile's password: profile, user and instance.
    pub fn password_account(&self, user: &str, host: &str) -> String {
        format!("password:{}:{}@{}", self.profile_name, user.trim(), host)
    }

    /// The instance and user this profile signs in as: flags and SIGNOFF_*, then the
    /// ServiceNow CLI's SERVICENOW_* and Ansible's SN_* variables, then the config.
    pub fn identity(&self) -> Result<(url::Url, String), Failure> {
        let instance = self
            .cli
            .instance
            .clone()
            .or_else(|| first_env(&["SERVICENOW_INSTANCE", "SN_HOST"]))
            .or_else(|| self.profile.instance.clone())
            .ok_or_else(|| {
                Failure::usage(
                    "No instance configured. Pass --instance URL or set SIGNOFF_INSTANCE (or try `signoff demo`).",
                )
            })?;
        let instance = parse_instance_url(&instance).map_err(Failure::usage)?;
        let user = self
            .cli
            .user
            .clone()
            .or_else(|| first_env(&["SERVICENOW_USERNAME", "SN_USERNAME"]))
            .or_else(|| self.profile.user.clone())
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| Failure::usage("No user name. Pass --user NAME or set SIGNOFF_USER."))?;
        Ok((instance, user.trim().to_string()))
    }

    /// Page size, timeout and clock for a backend of this profile.
    pub fn options(&self, clock: &Arc<ServerClock>) -> Options {
        Options {
            page_size: self.profile.page_size,
            timeout: self.profile.timeout_secs.map(Duration::from_secs),
            clock: Some(clock.clone()),
            read_only: self.read_only(),
            retry_waits: true,
            bearer: None,
            ca_file: self
                .profile
                .ca_file
                .clone()
                .or_else(|| first_env(&["SIGNOFF_CA_FILE"]).map(std::path::PathBuf::from)),
        }
    }
}

/// Runs a profile's password_command (through `sh -c`) and answers the first line it prints.
fn run_password_command(cmd: &str) -> Result<String, Failure> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Failure::usage(format!("Could not run password_command: {e}.")))?;
    if !out.status.success() {
        return Err(Failure::usage(format!(
            "password_command failed ({}); run it yourself to see why, or fix it in the config.",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next().map(|l| l.trim_end_matches('\r')) {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(Failure::usage(
            "password_command printed nothing; it must print the password on its first line.",
        )),
    }
}

/// The first of these environment variables that is set and not empty.
pub fn first_env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.trim().is_empty())
}

/// This machine's clock: the wall clock, or, with `SIGNOFF_NOW=<RFC 3339>`, a clock that
/// starts at that instant and runs from there (tests give signoff the simulator's calendar
/// this way; a demo can be shown on any date).
fn local_clock() -> Result<Arc<dyn Clock>, Failure> {
    let system: Arc<dyn Clock> = Arc::new(SystemClock);
    match std::env::var("SIGNOFF_NOW") {
        Ok(s) if !s.trim().is_empty() => {
            let start = chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
                Failure::usage(format!(
                    "SIGNOFF_NOW is {s:?}, which is not an RFC 3339 time ({e}); use a form like 2026-11-25T12:00:00Z, or unset it."
                ))
            })?;
            Ok(Arc::new(StartedAt::new(start.to_utc(), system)))
        }
        _ => Ok(system),
    }
}

pub fn open_store(paths: &Paths, profile: &str) -> Result<Store, Failure> {
    let path =
        Store::path_for(&paths.data_dir, profile).map_err(|e| Failure::usage(e.to_string()))?;
    // A new store keeps its journal key in the OS keyring when one answers.
    Store::open_with(&path, Some(&crate::secrets::Secrets::for_process()))
        .map_err(|e| Failure::other(e.to_string()))
}
