//! Where signoff keeps secrets: the OS keyring through the keyring ecosystem (keyring-core
//! with the Secret Service store on Linux: GNOME Keyring, KWallet), else a file only its owner
//! can read (0600). Sign-in secrets (passwords, refresh tokens) may also go to the kernel's
//! keyutils store, the keyring of headless Linux, when it works in this session; the journal
//! key never does, since keyutils keys do not outlive the login session and a journal key
//! must.
//!
//! The store in use is found once per process, by keeping and reading back a throwaway
//! secret, and said wherever it matters (`signoff doctor`, `auth login`, `audit pubkey`).

use std::path::Path;
use std::sync::Arc;

/// Which store holds the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SecretService,
    /// The kernel keyutils store (this login session's keyring, linked to the persistent one).
    KeyUtils,
    /// No keyring answered: files next to what they protect, mode 0600.
    File,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::SecretService => "the Secret Service keyring",
            Kind::KeyUtils => {
                "the kernel keyring (keyutils; gone when the login session ends or at reboot)"
            }
            Kind::File => "a file only you can read",
        }
    }

    /// The value kept in a store's metadata.
    pub fn value(self) -> &'static str {
        match self {
            Kind::SecretService => "secret-service",
            Kind::KeyUtils => "keyutils",
            Kind::File => "file",
        }
    }
}

/// The secrets store of this process.
#[derive(Clone)]
pub struct Secrets {
    kind: Kind,
    store: Option<Arc<keyring_core::CredentialStore>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("kind", &self.kind).finish()
    }
}

/// The service name every signoff secret is filed under.
pub const SERVICE: &str = "signoff";

/// A secret could not be read or kept.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(pub String);

impl Secrets {
    /// No keyring: secrets go to files.
    pub fn files() -> Secrets {
        Secrets {
            kind: Kind::File,
            store: None,
        }
    }

    /// The Secret Service, if a session bus and a secrets daemon answer (a look-up of an
    /// entry that does not exist); else files. `SIGNOFF_SECRETS=file` skips the keyring (tests,
    /// and setups that want the file).
    pub fn detect() -> Secrets {
        if std::env::var("SIGNOFF_SECRETS").is_ok_and(|v| v == "file")
            || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        {
            return Secrets::files();
        }
        match zbus_secret_service_keyring_store::Store::new() {
            Ok(store) => {
                let store: Arc<keyring_core::CredentialStore> = store;
                if works(store.as_ref()) {
                    tracing::info!(store = Kind::SecretService.label(), "secrets store");
                    return Secrets {
                        kind: Kind::SecretService,
                        store: Some(store),
                    };
                }
                tracing::info!("the Secret Service did not answer a look-up; using files");
            }
            Err(e) => tracing::info!(error = %e, "no Secret Service; using files"),
        }
        Secrets::files()
    }

    /// The store of this process for long-lived secrets (the journal key), found once.
    pub fn for_process() -> Secrets {
        static PROCESS: std::sync::OnceLock<Secrets> = std::sync::OnceLock::new();
        PROCESS.get_or_init(Secrets::detect).clone()
    }

    /// The store for sign-in secrets (passwords, refresh tokens, client secrets), found once:
    /// the Secret Service, else the kernel keyutils store if it keeps and gives back a secret
    /// in this session, else files. `SIGNOFF_SECRETS=keyutils` asks for keyutils first,
    /// `SIGNOFF_SECRETS=file` for files.
    pub fn for_credentials() -> Secrets {
        static CREDENTIALS: std::sync::OnceLock<Secrets> = std::sync::OnceLock::new();
        CREDENTIALS
            .get_or_init(|| {
                let wanted = std::env::var("SIGNOFF_SECRETS").unwrap_or_default();
                if wanted == "file" {
                    return Secrets::files();
                }
                if wanted != "keyutils" {
                    let found = Secrets::for_process();
                    if found.kind != Kind::File {
                        return found;
                    }
                }
                Secrets::keyutils().unwrap_or_else(Secrets::files)
            })
            .clone()
    }

    /// The kernel keyutils store, if it works here (it needs a session keyring of this
    /// process's own: a login session has one, `keyctl session -` makes one).
    fn keyutils() -> Option<Secrets> {
        // Without a session keyring of its own, a process falls back to the user's shared
        // `_uid_ses` one, where a write fails part-way and leaves the key behind: not tried.
        let own_session = linux_keyutils::KeyRing::from_special_id(
            linux_keyutils::KeyRingIdentifier::Session,
            false,
        )
        .and_then(|k| k.metadata())
        .is_ok_and(|m| !m.get_description().starts_with("_uid_ses"));
        if !own_session {
            tracing::info!("no session keyring of this login; keyutils not used");
            return None;
        }
        match linux_keyutils_keyring_store::Store::new() {
            Ok(store) => {
                let store: Arc<keyring_core::CredentialStore> = store;
                if works(store.as_ref()) {
                    tracing::info!(store = Kind::KeyUtils.label(), "sign-in secrets store");
                    return Some(Secrets {
                        kind: Kind::KeyUtils,
                        store: Some(store),
                    });
                }
                tracing::info!("the keyutils store did not keep a secret; using files");
                None
            }
            Err(e) => {
                tracing::info!(error = %e, "no keyutils store; using files");
                None
            }
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file a secret `account` is kept in without a keyring, in `dir` (owner-only).
    pub fn file_for(dir: &Path, account: &str) -> std::path::PathBuf {
        let safe: String = account
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{safe}.secret"))
    }

    /// Reads `account` from the keyring, or without one from its file in `dir`.
    pub fn get_or_file(&self, dir: &Path, account: &str) -> Result<Option<String>, SecretError> {
        if self.store.is_some() {
            return self.get(account);
        }
        let path = Self::file_for(dir, account);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretError(format!(
                "could not read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Keeps `account` in the keyring, or without one in its file in `dir` (mode 0600).
    /// Answers where it went, in words.
    pub fn set_or_file(
        &self,
        dir: &Path,
        account: &str,
        secret: &str,
    ) -> Result<String, SecretError> {
        if self.store.is_some() {
            self.set(account, secret)?;
            return Ok(self.kind.label().to_string());
        }
        let path = Self::file_for(dir, account);
        write_private(dir, &path, secret)
            .map_err(|e| SecretError(format!("could not write {}: {e}", path.display())))?;
        Ok(format!("the file {} (mode 0600)", path.display()))
    }

    /// Removes `account` from the keyring, or its file in `dir`.
    pub fn delete_or_file(&self, dir: &Path, account: &str) -> Result<(), SecretError> {
        if self.store.is_some() {
            return self.delete(account);
        }
        match std::fs::remove_file(Self::file_for(dir, account)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SecretError(format!(
                "could not remove the secret file: {e}"
            ))),
        }
    }

    /// The keyring's secret `account` (`Ok(None)`: there is none; files have no accounts).
    pub fn get(&self, account: &str) -> Result<Option<String>, SecretError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let entry = store
            .build(SERVICE, account, None)
            .map_err(|e| SecretError(format!("the keyring could not be asked: {e}")))?;
        match entry.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(SecretError(format!("the keyring did not answer: {e}"))),
        }
    }

    /// Keeps `secret` as `account` in the keyring (replacing any earlier one).
    pub fn set(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        let Some(store) = &self.store else {
            return Err(SecretError("no keyring is in use".into()));
        };
        store
            .build(SERVICE, account, None)
            .and_then(|e| e.set_password(secret))
            .map_err(|e| SecretError(format!("the keyring refused the secret: {e}")))
    }

    /// Removes the keyring's secret `account` (no error if there was none).
    pub fn delete(&self, account: &str) -> Result<(), SecretError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        match store
            .build(SERVICE, account, None)
            .and_then(|e| e.delete_credential())
        {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(SecretError(format!("the keyring did not remove it: {e}"))),
        }
    }
}

/// Whether a store keeps and gives back a throwaway secret.
fn works(store: &keyring_core::CredentialStore) -> bool {
    let account = format!("probe-{}", std::process::id());
    let Ok(entry) = store.build(SERVICE, &account, None) else {
        return false;
    };
    let ok =
        entry.set_password("probe").is_ok() && entry.get_password().is_ok_and(|p| p == "probe");
    let _ = entry.delete_credential();
    ok
}

/// The keyring account of the journal key of the store at `store_path`.
pub fn journal_account(store_path: &Path) -> String {
    format!(
        "journal-key:{}",
        store_path
            .canonicalize()
            .unwrap_or_else(|_| store_path.to_path_buf())
            .display()
    )
}

fn write_private(dir: &Path, path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    crate::config::ensure_private_dir(dir)?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
