//! Paths and the config file.
//!
//! Locations come from `directories` (XDG on Linux), or all under SIGNOFF_HOME when it is set
//! (tests and portable installs use it). The config file holds no secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::Policy;

#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Paths, String> {
        if let Some(home) = std::env::var_os("SIGNOFF_HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            return Ok(Paths {
                config_dir: home.join("config"),
                data_dir: home.join("data"),
                state_dir: home.join("state"),
            });
        }
        let dirs = directories::ProjectDirs::from("", "", "signoff").ok_or(
            "Could not find a home directory for signoff's files. Set SIGNOFF_HOME to a folder signoff may use.",
        )?;
        Ok(Paths {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
            state_dir: dirs
                .state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_path_buf(),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("signoff.log")
    }

    /// Where user themes live: `themes/NAME.toml` beside the config file.
    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }
}

/// Creates a directory and any missing parents, each readable only by the user. The directory
/// itself is made owner-only even when it already existed with wider permissions (its
/// parents, which signoff does not own, are left as they are).
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Opens (creating if needed) a file only the user may read, for appending: the log. An
/// existing file with wider permissions is narrowed.
pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        options.open(path)?;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    options.open(path).map(drop)
}

/// `config.toml`. Every key is optional. Top-level connection keys form the `default`
/// profile; `[profiles.NAME]` tables add more (each with its own cache).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Instance URL, e.g. https://acme.service-now.com.
    pub instance: Option<String>,
    /// Login name on the instance.
    pub user: Option<String>,
    /// Theme name: a built-in (dark, light, high-contrast, high-contrast-light) or a file
    /// `themes/NAME.toml` in the config directory that patches one.
    pub theme: Option<String>,
    /// Rows asked for per page.
    pub page_size: Option<usize>,
    /// Whether the console takes the mouse (clicks, the wheel); default on. Off leaves the
    /// terminal's own text selection.
    pub mouse: Option<bool>,
    /// Seconds between background syncs (default 60).
    pub sync_interval_secs: Option<u64>,
    /// Seconds one request may take before signoff gives up on it (default 30).
    pub timeout_secs: Option<u64>,
    /// Send no changes to the instance (for every profile without its own setting).
    pub read_only: Option<bool>,
    /// "basic" or "oauth" (see [`Profile::auth`]).
    pub auth: Option<String>,
    /// The OAuth client id (see [`Profile::client_id`]).
    pub client_id: Option<String>,
    /// A command printing the password (see [`Profile::password_command`]).
    pub password_command: Option<String>,
    /// Extra CA certificates (see [`Profile::ca_file`]).
    pub ca_file: Option<std::path::PathBuf>,
    /// The profile used when --profile is not given (default: "default").
    pub default_profile: Option<String>,
    pub profiles: BTreeMap<String, Profile>,
    pub policy: Policy,
    /// `[keys]`: command name = key or list of keys, merged over the defaults.
    #[serde(rename = "keys")]
    keys_raw: BTreeMap<String, toml::Spanned<KeyList>>,
    /// The `[keys]` entries with their lines, for the keymap.
    #[serde(skip)]
    pub keys: Vec<crate::ui::keymap::KeyOverride>,
    /// `[notify]`: toasts for new urgent approvals and SLA changes, the bell, the desktop.
    pub notify: crate::ui::state::notify::NotifyConfig,
    /// `[[views]]`: named filters and sorts of the queue (`v` steps through them, `:view
    /// NAME` picks one), as gh-dash's sections.
    pub views: Vec<View>,
}

/// One saved view: a name, a `:filter` expression and a `:sort` order.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct View {
    pub name: String,
    pub filter: String,
    pub sort: Option<String>,
}

/// A key or several, as `[keys]` takes them: `approve = "A"` or `approve = ["a", "A"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// One backend connection with its own cache.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub instance: Option<String>,
    pub user: Option<String>,
    pub page_size: Option<usize>,
    pub sync_interval_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
    /// Send no changes to the instance (CAB observers, auditors).
    pub read_only: Option<bool>,
    /// How to sign in: "basic" (the password, the default) or "oauth" (a token from the
    /// instance's oauth_token.do; needs client_id).
    pub auth: Option<String>,
    /// The OAuth client (Application Registry entry) id; its secret comes from
    /// SIGNOFF_CLIENT_SECRET or `signoff auth login`, never from this file.
    pub client_id: Option<String>,
    /// A command that prints the password on its first line, e.g. "pass show snow".
    pub password_command: Option<String>,
    /// PEM file of extra CA certificates to trust (a TLS-inspecting proxy's).
    pub ca_file: Option<std::path::PathBuf>,
}

pub const DEFAULT_PROFILE: &str = "default";

impl Config {
    /// Reads the config file if there is one.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(format!(
                    "Could not read the config file {}: {e}. Check its permissions.",
                    path.display()
                ));
            }
        };
        Config::parse(&text, path)
    }

    /// Reads a config file's text (`path` names it in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            format!(
                "The config file {} is not valid: {}. Fix or remove it.",
                path.display(),
                e.to_string().trim()
            )
        })?;
        config
            .policy
            .validate()
            .map_err(|e| format!("The config file {}: {e}.", path.display()))?;
        let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
        let mut keys: Vec<_> = std::mem::take(&mut config.keys_raw)
            .into_iter()
            .map(|(command, spanned)| {
                let line = line_of(spanned.span().start);
                let keys = match spanned.into_inner() {
                    KeyList::One(k) => vec![k],
                    KeyList::Many(ks) => ks,
                };
                crate::ui::keymap::KeyOverride {
                    command,
                    keys,
                    line,
                }
            })
            .collect();
        keys.sort_by_key(|k| k.line);
        config.keys = keys;
        for (i, v) in config.views.iter().enumerate() {
            let name = crate::domain::text::clean_line(&v.name, 40);
            let at = |what: String| {
                format!(
                    "The config file {}: view {} ({}) {what}",
                    path.display(),
                    i + 1,
                    if name.is_empty() { "no name" } else { &name }
                )
            };
            if name.trim().is_empty() {
                return Err(at("needs a name (name = \"…\").".into()));
            }
            if config.views[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&v.name))
            {
                return Err(at(
                    "has the name of an earlier view; give each its own.".into()
                ));
            }
            crate::domain::find::QueueQuery::parse(&v.filter)
                .map_err(|e| at(format!("filter: {e}")))?;
            if let Some(sort) = &v.sort {
                crate::domain::find::Sort::parse(sort).map_err(|e| at(format!("sort: {e}")))?;
            }
        }
        for secs in std::iter::once(config.sync_interval_secs)
            .chain(config.profiles.values().map(|p| p.sync_interval_secs))
            .flatten()
        {
            if secs < 5 {
                return Err(format!(
                    "The config file {}: sync_interval_secs is {secs}; use at least 5 seconds.",
                    path.display()
                ));
            }
        }
        for secs in std::iter::once(config.timeout_secs)
            .chain(config.profiles.values().map(|p| p.timeout_secs))
            .flatten()
        {
            if !(1..=600).contains(&secs) {
                return Err(format!(
                    "The config file {}: timeout_secs is {secs}; use 1 to 600 seconds.",
                    path.display()
                ));
            }
        }
        Ok(config)
    }

    /// The named profile (`None`: the configured default). The `default` profile is the
    /// top-level keys, overridden by a `[profiles.default]` table if there is one.
    pub fn profile(&self, name: Option<&str>) -> Result<(String, Profile), String> {
        let name = name
            .map(str::to_string)
            .or_else(|| self.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        let top = Profile {
            instance: self.instance.clone(),
            user: self.user.clone(),
            page_size: self.page_size,
            sync_interval_secs: self.sync_interval_secs,
            timeout_secs: self.timeout_secs,
            read_only: self.read_only,
            auth: self.auth.clone(),
            client_id: self.client_id.clone(),
            password_command: self.password_command.clone(),
            ca_file: self.ca_file.clone(),
        };
        match self.profiles.get(&name) {
            Some(p) => Ok((
                name,
                Profile {
                    instance: p.instance.clone().or(top.instance),
                    user: p.user.clone().or(top.user),
                    page_size: p.page_size.or(top.page_size),
                    sync_interval_secs: p.sync_interval_secs.or(top.sync_interval_secs),
                    timeout_secs: p.timeout_secs.or(top.timeout_secs),
                    read_only: p.read_only.or(top.read_only),
                    auth: p.auth.clone().or(top.auth),
                    client_id: p.client_id.clone().or(top.client_id),
                    password_command: p.password_command.clone().or(top.password_command),
                    ca_file: p.ca_file.clone().or(top.ca_file),
                },
            )),
            None if name == DEFAULT_PROFILE || name == "demo" => Ok((name, top)),
            None => {
                let mut known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                known.insert(0, DEFAULT_PROFILE);
                Err(format!(
                    "There is no profile {name:?} in the config file. Known profiles: {}. Add a [profiles.{name}] table to config.toml.",
                    known.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert!(Config::load(&path).unwrap().instance.is_none());

        std::fs::write(
            &path,
            "instance = \"acme\"\n[policy]\nwarning_at = 0.5\n[policy.sla_hours]\nhigh = 6\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.instance.as_deref(), Some("acme"));
        assert_eq!(c.policy.warning_at, 0.5);
        assert_eq!(c.policy.sla_hours.high, 6.0);
        assert_eq!(c.policy.sla_hours.low, 72.0);

        std::fs::write(&path, "instanse = \"acme\"\n").unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(
            err.contains("instanse") && err.contains("config.toml"),
            "{err}"
        );

        std::fs::write(&path, "[policy]\nwarning_at = 2\n").unwrap();
        assert!(Config::load(&path).unwrap_err().contains("warning_at"));
    }

    #[test]
    fn profiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "user = \"alice\"\ninstance = \"prod\"\n[profiles.test]\ninstance = \"https://test.example.com\"\nsync_interval_secs = 30\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        let (name, p) = c.profile(None).unwrap();
        assert_eq!(name, "default");
        assert_eq!(p.instance.as_deref(), Some("prod"));
        let (_, p) = c.profile(Some("test")).unwrap();
        assert_eq!(p.instance.as_deref(), Some("https://test.example.com"));
        assert_eq!(
            p.user.as_deref(),
            Some("alice"),
            "inherits the top-level user"
        );
        assert_eq!(p.sync_interval_secs, Some(30));
        let err = c.profile(Some("staging")).unwrap_err();
        assert!(err.contains("staging") && err.contains("test"), "{err}");

        std::fs::write(&path, "sync_interval_secs = 1\n").unwrap();
        assert!(Config::load(&path).unwrap_err().contains("at least 5"));
    }

    #[test]
    fn keys_come_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "theme = \"dark\"\n\n[keys]\napprove = [\"A\", \"a\"]\nquit = \"Q\"\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!((c.keys[0].command.as_str(), c.keys[0].line), ("approve", 4));
        assert_eq!(c.keys[0].keys, ["A", "a"]);
        assert_eq!((c.keys[1].command.as_str(), c.keys[1].line), ("quit", 5));
        assert_eq!(c.keys[1].keys, ["Q"]);
    }
}
