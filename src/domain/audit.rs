//! The audit journal as evidence: how an entry is chained and signed, and checking a journal
//! (pure: the entries, the recorded head and the key come in, a report goes out).
//!
//! Each entry's hash is SHA-256 over the previous entry's hash, its time, its kind and its
//! text; its signature is Ed25519 over its sequence number and that hash. So an edited entry
//! no longer matches its hash, a deleted one leaves a gap in the numbers, a moved or inserted
//! one does not follow the one before, one renumbered or forged does not carry a signature the
//! key made, and a journal cut short ends before the head recorded with it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One journal entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    /// The time exactly as stored (what the hash covers).
    pub created_text: String,
    pub kind: String,
    pub entry: String,
    pub prev_hash: String,
    pub hash: String,
    /// Base64 Ed25519 signature of [`signed_message`] (`None`: written before entries were
    /// signed).
    pub sig: Option<String>,
    /// Which key signed it (see `key_id`).
    pub key_id: Option<String>,
}

/// The chain hash of an entry: SHA-256 over the previous hash, the time, the kind and the
/// entry, each on its own line.
pub fn chain_hash(prev_hash: &str, created_at: &str, kind: &str, entry: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev_hash, created_at, kind, entry] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// What an entry's signature covers: its place in the journal and its hash.
pub fn signed_message(seq: i64, hash: &str) -> String {
    format!("signoff-journal-v1\n{seq}\n{hash}")
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &[u8]) -> String {
    hex::encode(Sha256::digest(public))[..16].to_string()
}

/// Where a pruned journal starts: the last entry dropped, signed like an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last sequence number pruned.
    pub seq: i64,
    /// Its hash: the first kept entry's previous hash.
    pub hash: String,
    pub pruned_at: DateTime<Utc>,
    /// Base64 signature of [`signed_message`]`(seq, hash)`.
    pub sig: String,
    pub key_id: String,
}

/// The outcome of checking a journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    pub entries: usize,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub signed: usize,
    /// Entries written before signing began (a store older than signed journals).
    pub unsigned_legacy: usize,
    /// The key the signatures were checked with.
    pub key_id: String,
    /// The first thing wrong, at its entry; `None`: the chain is whole.
    pub broken: Option<Break>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Break {
    pub seq: i64,
    pub what: String,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks `entries` (in stored order) against the `head` recorded with them (`seq hash`),
/// the `checkpoint` a prune left, and the public key `public` (32 bytes).
pub fn verify(
    entries: &[JournalEntry],
    head: Option<&str>,
    checkpoint: Option<&Checkpoint>,
    public: &[u8],
) -> ChainReport {
    let key = key_id(public);
    let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public);
    let signature_ok = |seq: i64, hash: &str, sig: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(sig)
            .ok()
            .is_some_and(|raw| {
                verifier
                    .verify(signed_message(seq, hash).as_bytes(), &raw)
                    .is_ok()
            })
    };
    let mut report = ChainReport {
        entries: entries.len(),
        first_seq: entries.first().map(|e| e.seq),
        last_seq: entries.last().map(|e| e.seq),
        head_hash: entries.last().map(|e| e.hash.clone()),
        signed: 0,
        unsigned_legacy: 0,
        key_id: key.clone(),
        broken: None,
    };
    let fail = |report: &mut ChainReport, seq: i64, what: String| {
        if report.broken.is_none() {
            report.broken = Some(Break { seq, what });
        }
    };
    let (mut expect_seq, mut prev_hash) = (1, GENESIS.to_string());
    if let Some(c) = checkpoint {
        if c.key_id != key || !signature_ok(c.seq, &c.hash, &c.sig) {
            fail(
                &mut report,
                c.seq,
                format!(
                    "the prune checkpoint at entry {} is not signed by key {key}: the start of the journal cannot be trusted",
                    c.seq
                ),
            );
        }
        expect_seq = c.seq + 1;
        prev_hash = c.hash.clone();
    }
    let mut signing_began = false;
    for e in entries {
        if report.broken.is_some() {
            break;
        }
        if e.seq > expect_seq {
            let missing = if e.seq == expect_seq + 1 {
                format!("entry {expect_seq} is missing: it was deleted")
            } else {
                format!(
                    "entries {expect_seq}–{} are missing: they were deleted",
                    e.seq - 1
                )
            };
            fail(&mut report, expect_seq, missing);
            break;
        }
        if e.seq < expect_seq {
            fail(
                &mut report,
                e.seq,
                format!("entry {} appears twice or out of order", e.seq),
            );
            break;
        }
        if chain_hash(&e.prev_hash, &e.created_text, &e.kind, &e.entry) != e.hash {
            fail(
                &mut report,
                e.seq,
                format!(
                    "entry {} was edited: its content no longer matches its hash",
                    e.seq
                ),
            );
            break;
        }
        if e.prev_hash != prev_hash {
            fail(
                &mut report,
                e.seq,
                format!(
                    "entry {} does not follow entry {}: it was moved, replaced or inserted",
                    e.seq,
                    e.seq - 1
                ),
            );
            break;
        }
        match (&e.sig, &e.key_id) {
            (Some(sig), Some(id)) => {
                signing_began = true;
                if *id != key {
                    fail(
                        &mut report,
                        e.seq,
                        format!(
                            "entry {} is signed with another key ({id}, not {key}): the journal was re-signed",
                            e.seq
                        ),
                    );
                    break;
                }
                if !signature_ok(e.seq, &e.hash, sig) {
                    fail(
                        &mut report,
                        e.seq,
                        format!(
                            "entry {}'s signature does not verify with key {key}: it was forged or renumbered",
                            e.seq
                        ),
                    );
                    break;
                }
                report.signed += 1;
            }
            _ if signing_began => {
                fail(
                    &mut report,
                    e.seq,
                    format!(
                        "entry {} is not signed, though the entries before it are: it was inserted",
                        e.seq
                    ),
                );
                break;
            }
            _ => report.unsigned_legacy += 1,
        }
        expect_seq = e.seq + 1;
        prev_hash = e.hash.clone();
    }
    if report.broken.is_none()
        && let Some(head) = head
    {
        let (seq, hash) = head.split_once(' ').unwrap_or((head, ""));
        let seq: i64 = seq.parse().unwrap_or(-1);
        let last = entries.last().map_or(expect_seq - 1, |e| e.seq);
        if seq > last {
            fail(
                &mut report,
                last + 1,
                format!(
                    "the journal ends at entry {last}, but its head records entry {seq}: the entries after {last} were deleted"
                ),
            );
        } else if seq != last || entries.last().is_some_and(|e| e.hash != hash) {
            fail(
                &mut report,
                last,
                format!(
                    "the journal's last entry ({last}) is not the head recorded with it (entry {seq}): entries were added behind signoff's back"
                ),
            );
        }
    }
    report
}
