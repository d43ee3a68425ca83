//! Paths and the config file.
//!
//! Locations come from `directories` (XDG on Linux), or all under SIGNOFF_HOME when it is set
//! (tests and portable installs use it). The config file holds no secrets.

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
}

/// Creates a directory (and parents) readable only by the user.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// `config.toml`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Instance URL, e.g. https://acme.service-now.com.
    pub instance: Option<String>,
    /// Login name on the instance.
    pub user: Option<String>,
    /// Theme name: dark, light or high-contrast.
    pub theme: Option<String>,
    /// Rows asked for per page.
    pub page_size: Option<usize>,
    pub policy: Policy,
}

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
        let config: Config = toml::from_str(&text).map_err(|e| {
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
        Ok(config)
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
}
