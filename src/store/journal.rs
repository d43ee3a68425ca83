//! The audit journal's writing side: every entry is chained to the one before (SHA-256), signed
//! with the store's Ed25519 key over its sequence number and hash, and the journal's head
//! (last sequence and hash) is kept in the store's metadata, in the same transaction.
//!
//! The key is the user's, per store (per profile): a PKCS#8 document in a file next to the
//! store, owner-only (0600). Its public half is what an auditor keeps (`signoff audit pubkey`)
//! to check later that no one re-signed the journal with another key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use ring::signature::{Ed25519KeyPair, KeyPair};
use rusqlite::{OptionalExtension, params};

use super::{StoreError, format_time, meta_get, meta_set};
use crate::domain::audit::{GENESIS, chain_hash};

/// The metadata key of the journal's head: `<seq> <hash> <signature>`.
pub(super) const META_HEAD: &str = "journal.head";
/// Where the journal's key is kept: `secret-service` or `file`.
pub(super) const META_KEY_STORE: &str = "journal.key_store";
/// The first entry that had to be signed (set when the store began signing).
const META_SIGNING_SINCE: &str = "journal.signing_since";

/// Signs journal entries with the store's key.
pub struct JournalSigner {
    pair: Ed25519KeyPair,
    key_id: String,
    path: PathBuf,
    /// Where the private key is kept, in words.
    location: String,
}

impl std::fmt::Debug for JournalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("JournalSigner")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl JournalSigner {
    /// The key file of the store at `store_path`.
    pub fn key_path(store_path: &Path) -> PathBuf {
        let mut p = store_path.as_os_str().to_owned();
        p.push(".journal-key");
        PathBuf::from(p)
    }

    /// Loads the store's key, creating it (0600) on first use.
    pub fn load_or_create(store_path: &Path) -> Result<Arc<JournalSigner>, StoreError> {
        let path = Self::key_path(store_path);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // Another process may be creating it right now: a few short waits for its content.
        for attempt in 0..50 {
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => return Self::parse(&path, &text),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match create_key_file(&path) {
                        Ok(text) => return Self::parse(&path, &text),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io(e)),
                    }
                }
                Err(e) => return Err(io(e)),
            }
            if attempt < 49 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        Err(StoreError::Corrupt {
            path: path.clone(),
            detail: "the journal's signing key file is empty; move it away to make a new key (entries signed with the old one then verify only with its exported public key)".into(),
        })
    }

    /// The store's key in the keyring of `secrets`, created there if `create` (the store
    /// records that its key lives there, so every later open looks there).
    pub fn in_keyring(
        store_path: &Path,
        secrets: &crate::secrets::Secrets,
        create: bool,
    ) -> Result<Arc<JournalSigner>, StoreError> {
        let account = crate::secrets::journal_account(store_path);
        let unusable = |detail: String| StoreError::Corrupt {
            path: store_path.to_path_buf(),
            detail,
        };
        let text = match secrets.get(&account) {
            Ok(Some(text)) => text,
            Ok(None) if create => {
                let rng = ring::rand::SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| unusable("the system's random source failed".into()))?;
                let text = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
                secrets.set(&account, &text).map_err(|e| {
                    unusable(format!("the journal's signing key could not be kept: {e}"))
                })?;
                text
            }
            Ok(None) => {
                return Err(unusable(
                    "the journal's signing key is gone from the keyring: entries cannot be signed. Restore it from a backup of the keyring".into(),
                ));
            }
            Err(e) => {
                return Err(unusable(format!("the journal's signing key: {e}")));
            }
        };
        let mut signer = Self::parse_pair(&Self::key_path(store_path), &text)?;
        signer.location = format!("{} (account {account})", secrets.kind().label());
        Ok(Arc::new(signer))
    }

    fn parse(path: &Path, text: &str) -> Result<Arc<JournalSigner>, StoreError> {
        Self::parse_pair(path, text).map(Arc::new)
    }

    fn parse_pair(path: &Path, text: &str) -> Result<JournalSigner, StoreError> {
        let bad = |detail: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let der = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| bad(format!("the journal's signing key is not base64: {e}")))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| bad(format!("the journal's signing key is unreadable: {e}")))?;
        let key_id = crate::domain::audit::key_id(pair.public_key().as_ref());
        Ok(JournalSigner {
            pair,
            key_id,
            path: path.to_path_buf(),
            location: format!("the file {} (mode 0600)", path.display()),
        })
    }

    /// Where the private key is kept, in words.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A short name for the key: the first 16 hex digits of the SHA-256 of its public half.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn key_file(&self) -> &Path {
        &self.path
    }

    fn sign(&self, seq: i64, hash: &str) -> String {
        self.sign_message(&crate::domain::audit::signed_message(seq, hash))
    }

    fn sign_message(&self, message: &str) -> String {
        let sig = self.pair.sign(message.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }
}

fn create_key_file(path: &Path) -> std::io::Result<String> {
    use std::io::Write;
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| std::io::Error::other("the system's random source failed"))?;
    let text = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(text)
}

/// Appends a journal entry chained to the last one and signed, and moves the head. Answers
/// the entry's hash.
pub(super) fn append(
    conn: &rusqlite::Connection,
    signer: &JournalSigner,
    now: DateTime<Utc>,
    kind: &str,
    entry: &str,
) -> rusqlite::Result<String> {
    let (last, prev): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (checkpoint_seq(conn), checkpoint_hash(conn)));
    let seq = last + 1;
    let at = format_time(now);
    let hash = chain_hash(&prev, &at, kind, entry);
    let sig = signer.sign(seq, &hash);
    conn.execute(
        "INSERT INTO journal (seq, created_at, kind, entry, prev_hash, hash, sig, key_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, kind, entry, prev, hash, sig, signer.key_id()],
    )?;
    let head_sig = signer.sign_message(&crate::domain::audit::head_message(seq, &hash));
    meta_set(conn, META_HEAD, &format!("{seq} {hash} {head_sig}"))?;
    Ok(hash)
}

/// Where a pruned journal starts: the checkpoint's last sequence number (0: never pruned).
fn checkpoint_seq(conn: &rusqlite::Connection) -> i64 {
    checkpoint(conn).map_or(0, |(seq, _)| seq)
}

fn checkpoint_hash(conn: &rusqlite::Connection) -> String {
    checkpoint(conn).map_or_else(|| GENESIS.to_string(), |(_, h)| h)
}

fn checkpoint(conn: &rusqlite::Connection) -> Option<(i64, String)> {
    let text = meta_get(conn, super::META_CHECKPOINT).ok()??;
    let c: crate::domain::audit::Checkpoint = serde_json::from_str(&text).ok()?;
    Some((c.seq, c.hash))
}

/// Finds (or makes) the journal key of the store at `path`: a key file next to it wins (a
/// key made before the keyring was used stays); then where the store recorded it; a new
/// key goes to the keyring when `secrets` has one, else to the file. Records the choice.
pub(super) fn signer_for(
    conn: &rusqlite::Connection,
    path: &Path,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<Arc<JournalSigner>, StoreError> {
    use crate::secrets::{Kind, Secrets};
    let err = |e| StoreError::sqlite(path, "read where the journal key is", e);
    let recorded = meta_get(conn, META_KEY_STORE).map_err(err)?;
    let file = JournalSigner::key_path(path);
    let (signer, kind) = if file.exists() || recorded.as_deref() == Some(Kind::File.value()) {
        (JournalSigner::load_or_create(path)?, Kind::File)
    } else if recorded.as_deref() == Some(Kind::SecretService.value()) {
        let secrets = secrets.cloned().unwrap_or_else(Secrets::for_process);
        if secrets.kind() != Kind::SecretService {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: "its journal's signing key is in the Secret Service keyring, which does not answer here (no session bus, or the keyring is locked); run signoff where your keyring is unlocked".into(),
            });
        }
        (
            JournalSigner::in_keyring(path, &secrets, false)?,
            Kind::SecretService,
        )
    } else {
        match secrets {
            Some(s) if s.kind() == Kind::SecretService => (
                JournalSigner::in_keyring(path, s, true)?,
                Kind::SecretService,
            ),
            _ => (JournalSigner::load_or_create(path)?, Kind::File),
        }
    };
    if recorded.as_deref() != Some(kind.value()) {
        meta_set(conn, META_KEY_STORE, kind.value())
            .map_err(|e| StoreError::sqlite(path, "record where the journal key is", e))?;
    }
    Ok(signer)
}

impl super::Store {
    /// The journal's signing key (its public half and id).
    pub fn journal_signer(&self) -> &JournalSigner {
        &self.signer
    }

    /// The head recorded with the journal: `<seq> <hash> <signature>` (`None`: nothing
    /// written since heads were recorded).
    pub fn journal_head(&self) -> Result<Option<String>, StoreError> {
        self.get_meta(META_HEAD)
    }

    /// The journal's head as an auditor notes it: `<seq> <hash>`, from the last entry.
    pub fn journal_head_id(&self) -> Result<Option<String>, StoreError> {
        let last: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err("read the journal", e))?;
        Ok(last.map(|(seq, hash)| format!("{seq} {}", crate::domain::text::clean_line(&hash, 80))))
    }

    /// The checkpoint a prune left, if any.
    pub fn journal_checkpoint(
        &self,
    ) -> Result<Option<crate::domain::audit::Checkpoint>, StoreError> {
        match self.get_meta(super::META_CHECKPOINT)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                self.corrupt(format!("the journal's prune checkpoint is unreadable: {e}"))
            }),
        }
    }

    /// Checks the whole journal with `public` (32 bytes; default: this store's own key) and,
    /// when given, a head seen earlier (`seq`, hash) it must still hold.
    pub fn verify_journal_against(
        &self,
        public: Option<&[u8]>,
        expect: Option<(i64, &str)>,
    ) -> Result<crate::domain::audit::ChainReport, StoreError> {
        let entries = self.journal()?;
        let head = self.journal_head()?;
        let checkpoint = self.journal_checkpoint()?;
        let signing_since = self
            .get_meta(META_SIGNING_SINCE)?
            .and_then(|s| s.parse::<i64>().ok());
        let own = self.signer.public_key();
        Ok(crate::domain::audit::verify(
            &entries,
            public.unwrap_or(&own),
            crate::domain::audit::Anchors {
                head: head.as_deref(),
                checkpoint: checkpoint.as_ref(),
                signing_since,
                expect,
                key_given: public.is_some(),
            },
        ))
    }

    /// Checks the whole journal with `public` (default: this store's own key).
    pub fn verify_journal(
        &self,
        public: Option<&[u8]>,
    ) -> Result<crate::domain::audit::ChainReport, StoreError> {
        self.verify_journal_against(public, None)
    }
}

/// A deployment a reconciliation checked, and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub at: DateTime<Utc>,
    pub environment: String,
    pub change: String,
    pub service: String,
    pub version: String,
    /// `authorized`, or why not.
    pub finding: String,
}

impl super::Store {
    /// Records what a reconciliation found (a deployment seen again is updated).
    pub fn record_deployments(
        &mut self,
        found: &[DeploymentRecord],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "record the deployments", e);
        let tx = self.conn.transaction().map_err(err)?;
        for d in found {
            tx.execute(
                "INSERT INTO deployments (at, environment, change, service, version, finding, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (at, environment, change, service, version)
                 DO UPDATE SET finding = excluded.finding, recorded_at = excluded.recorded_at",
                params![
                    format_time(d.at),
                    d.environment,
                    d.change,
                    d.service,
                    d.version,
                    d.finding,
                    format_time(now)
                ],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// What reconciliations found deployed, by change number: `prod 2026-11-25T12:00:00Z
    /// checkout 3.2.1 (authorized)`, several joined with `; `, oldest first.
    pub fn deployments_by_change(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let action = "read the deployments";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT change, at, environment, service, version, finding FROM deployments
                 WHERE change != '' ORDER BY at, id",
            )
            .map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map([], |r| {
                // Cleaned on the way out: the file may have been edited.
                let c = |i: usize| -> rusqlite::Result<String> {
                    Ok(crate::domain::text::clean_line(
                        &r.get::<_, String>(i)?,
                        120,
                    ))
                };
                Ok((
                    c(0)?,
                    format!(
                        "{} {}Z {} {} ({})",
                        c(2)?,
                        c(1)?.get(..19).unwrap_or(""),
                        c(3)?,
                        c(4)?,
                        c(5)?
                    ),
                ))
            })
            .map_err(|e| self.err(action, e))?;
        let mut out: std::collections::BTreeMap<String, String> = Default::default();
        for row in rows {
            let (change, text) = row.map_err(|e| self.err(action, e))?;
            out.entry(change)
                .and_modify(|t| {
                    t.push_str("; ");
                    t.push_str(&text);
                })
                .or_insert(text);
        }
        Ok(out)
    }
}

impl super::Store {
    /// Drops the journal's entries up to `through` (inclusive), leaving a checkpoint signed
    /// like an entry (the last dropped entry's sequence number and hash), so the rest still
    /// verifies; a `journal.pruned` entry records it. One transaction. Answers how many
    /// entries went.
    pub fn prune_journal(&mut self, through: i64, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "prune the journal", e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let hash: Option<String> = tx
            .query_row("SELECT hash FROM journal WHERE seq = ?1", [through], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let Some(hash) = hash else {
            return Ok(0);
        };
        tx.execute_batch("DROP TRIGGER journal_no_delete;")
            .map_err(err)?;
        let n = tx
            .execute("DELETE FROM journal WHERE seq <= ?1", [through])
            .map_err(err)?;
        tx.execute_batch(
            "CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
             BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;",
        )
        .map_err(err)?;
        let checkpoint = crate::domain::audit::Checkpoint {
            seq: through,
            hash: hash.clone(),
            pruned_at: now,
            sig: signer.sign_message(&crate::domain::audit::checkpoint_message(
                through, &hash, now,
            )),
            key_id: signer.key_id().to_string(),
        };
        let text = serde_json::to_string(&checkpoint).map_err(|e| StoreError::Encode {
            path: path.clone(),
            what: "the prune checkpoint".into(),
            detail: e.to_string(),
        })?;
        meta_set(&tx, super::META_CHECKPOINT, &text).map_err(err)?;
        append(
            &tx,
            &signer,
            now,
            "journal.pruned",
            &serde_json::json!({ "through": through, "hash": hash, "entries": n }).to_string(),
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }
}
