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

/// What the head's signature covers (a message of its own: an entry's signature is not a
/// head's).
pub fn head_message(seq: i64, hash: &str) -> String {
    format!("signoff-journal-head-v1\n{seq}\n{hash}")
}

/// What a prune checkpoint's signature covers.
pub fn checkpoint_message(seq: i64, hash: &str, pruned_at: DateTime<Utc>) -> String {
    format!(
        "signoff-journal-checkpoint-v1\n{seq}\n{hash}\n{}",
        pruned_at.to_rfc3339()
    )
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
    /// Base64 signature of [`checkpoint_message`]`(seq, hash, pruned_at)`.
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

/// What a check of the journal goes by, besides its entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anchors<'a> {
    /// The signed head recorded with the journal: `seq hash sig`.
    pub head: Option<&'a str>,
    /// The checkpoint a prune left.
    pub checkpoint: Option<&'a Checkpoint>,
    /// The first entry that had to be signed (entries before it were written by a signoff
    /// that did not sign).
    pub signing_since: Option<i64>,
    /// A head seen earlier (`seq`, hash; an export's chain_head) the journal, which only
    /// grows, must still hold.
    pub expect: Option<(i64, &'a str)>,
    /// The key was given by the auditor (not read from this machine): it must vouch for the
    /// journal, so a journal with no entry it signed is not intact.
    pub key_given: bool,
}

/// Checks `entries` (in stored order) with the public key `public` (32 bytes) against the
/// `anchors` recorded with them or kept elsewhere.
pub fn verify(entries: &[JournalEntry], public: &[u8], anchors: Anchors<'_>) -> ChainReport {
    let Anchors {
        head,
        checkpoint,
        signing_since,
        expect,
        key_given,
    } = anchors;
    let key = key_id(public);
    let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public);
    let signature_ok = |message: &str, sig: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(sig)
            .ok()
            .is_some_and(|raw| verifier.verify(message.as_bytes(), &raw).is_ok())
    };
    let clean = |s: &str| super::text::clean_line(s, 80);
    let mut report = ChainReport {
        entries: entries.len(),
        first_seq: entries.first().map(|e| e.seq),
        last_seq: entries.last().map(|e| e.seq),
        head_hash: entries.last().map(|e| clean(&e.hash)),
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
        if c.key_id != key
            || !signature_ok(&checkpoint_message(c.seq, &c.hash, c.pruned_at), &c.sig)
        {
            fail(
                &mut report,
                c.seq,
                format!(
                    "the prune checkpoint at entry {} is not signed by key {key}: the start of the journal cannot be trusted",
                    c.seq
                ),
            );
        } else if !entries.iter().any(|e| {
            e.kind == "journal.pruned"
                && serde_json::from_str::<serde_json::Value>(&e.entry).is_ok_and(|v| {
                    v.get("through").and_then(|t| t.as_i64()) == Some(c.seq)
                        && v.get("hash").and_then(|h| h.as_str()) == Some(c.hash.as_str())
                })
        }) {
            fail(
                &mut report,
                c.seq,
                format!(
                    "the prune checkpoint at entry {} has no journal entry recording that prune",
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
        if DateTime::parse_from_rfc3339(&e.created_text).is_err() {
            fail(
                &mut report,
                e.seq,
                format!("entry {} has an unreadable time", e.seq),
            );
            break;
        }
        match (&e.sig, &e.key_id) {
            (Some(sig), Some(id)) => {
                signing_began = true;
                if *id != key {
                    let id = clean(id);
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
                if !signature_ok(&signed_message(e.seq, &e.hash), sig) {
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
            _ if signing_began
                || head.is_some()
                || signing_since.is_some_and(|since| e.seq >= since) =>
            {
                fail(
                    &mut report,
                    e.seq,
                    format!(
                        "entry {} is not signed, in a journal whose entries are: it was inserted or rewritten",
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
    let last = entries.last().map_or(expect_seq - 1, |e| e.seq);
    if report.broken.is_none() && key_given && report.signed == 0 && !entries.is_empty() {
        fail(
            &mut report,
            entries[0].seq,
            format!(
                "no entry is signed by key {key}: it cannot vouch for this journal (written before entries were signed, or stripped of its signatures)"
            ),
        );
    }
    if report.broken.is_none() {
        match head {
            None if report.signed > 0 || signing_since.is_some_and(|s| s <= last) => fail(
                &mut report,
                last + 1,
                format!(
                    "the journal's signed head is missing: entries after {last} may have been deleted"
                ),
            ),
            None => {}
            Some(head) => {
                let mut parts = head.split(' ');
                let seq: i64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
                let hash = parts.next().unwrap_or("");
                let sig = parts.next().unwrap_or("");
                if !signature_ok(&head_message(seq, hash), sig) {
                    fail(
                        &mut report,
                        last + 1,
                        format!(
                            "the journal's head is not signed by key {key}: it was rewritten, and entries at the end may have been deleted"
                        ),
                    );
                } else if seq > last {
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
        }
    }
    if report.broken.is_none()
        && let Some((seq, hash)) = expect
    {
        let hash = clean(hash);
        match entries.iter().find(|e| e.seq == seq) {
            Some(e) if e.hash == hash => {}
            Some(_) => fail(
                &mut report,
                seq,
                format!(
                    "entry {seq} is not the one seen earlier (its hash differs): the journal was rewritten"
                ),
            ),
            None if seq > last => fail(
                &mut report,
                last + 1,
                format!(
                    "the journal ends at entry {last}, before entry {seq} seen earlier: the entries after {last} were deleted"
                ),
            ),
            None => fail(
                &mut report,
                seq,
                format!(
                    "entry {seq}, seen earlier, is no longer in the journal (pruned up to {})",
                    checkpoint.map_or(0, |c| c.seq)
                ),
            ),
        }
    }
    report
}

/// One journal entry as an auditor reads it: the entry's own fields, with the decision it is
/// about (from that decision's `decision.queued` entry) filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRow {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub client_id: String,
    pub actor: String,
    pub on_behalf_of: String,
    pub change: String,
    pub approval: String,
    pub decision: String,
    pub justification: String,
    /// SHA-256 of the approval and change as the approver saw them.
    pub seen_hash: String,
    pub server_answer: String,
    pub reason: String,
    pub controls: Vec<String>,
    pub prev_hash: String,
    pub hash: String,
}

fn text(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => super::text::clean_line(s, 4000),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => super::text::clean_line(&other.to_string(), 4000),
    }
}

fn list(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .filter_map(|x| x.as_str())
                .map(|s| super::text::clean_line(s, 80))
                .collect()
        })
        .unwrap_or_default()
}

/// The journal as rows, oldest first. Every text is a clean line (no control characters):
/// the journal may hold what a server answered.
pub fn log_rows(entries: &[JournalEntry]) -> Vec<LogRow> {
    let parsed: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| serde_json::from_str(&e.entry).unwrap_or(serde_json::Value::Null))
        .collect();
    let mut queued: std::collections::HashMap<String, &serde_json::Value> =
        std::collections::HashMap::new();
    for (e, v) in entries.iter().zip(&parsed) {
        if e.kind == "decision.queued" {
            queued.insert(text(v, "client_id"), v);
        }
    }
    entries
        .iter()
        .zip(&parsed)
        .map(|(e, v)| {
            let client_id = text(v, "client_id");
            let q = queued.get(&client_id).copied().unwrap_or(v);
            let from_q = |k: &str| text(q, k);
            LogRow {
                seq: e.seq,
                // What is read from the store could have been written by anyone with the file.
                at: super::text::clean_line(&e.created_text, 40),
                kind: super::text::clean_line(&e.kind, 80),
                actor: {
                    let a = from_q("acting_user");
                    if a.is_empty() { text(v, "host") } else { a }
                },
                on_behalf_of: from_q("on_behalf_of"),
                change: {
                    let c = from_q("change");
                    if c.is_empty() { text(v, "name") } else { c }
                },
                approval: from_q("approval"),
                decision: {
                    let d = from_q("decision");
                    if d.is_empty() { text(v, "move") } else { d }
                },
                justification: if e.kind == "policy.confirmed" {
                    // What changed in the policy, in one line.
                    let short = |k: &str| {
                        let h = text(v, k);
                        super::governance::short_hash(&h).to_string()
                    };
                    format!(
                        "policy {} → {}: {}",
                        short("old_hash"),
                        short("new_hash"),
                        list(v, "changed").join("; ")
                    )
                } else {
                    from_q("justification")
                },
                seen_hash: from_q("seen_hash"),
                server_answer: text(v, "server_answer"),
                reason: text(v, "reason"),
                controls: list(q, "controls"),
                prev_hash: super::text::clean_line(&e.prev_hash, 80),
                hash: super::text::clean_line(&e.hash, 80),
                client_id,
            }
        })
        .collect()
}

/// One decision for an auditor's export: who decided what, why, on what, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow {
    pub decided_at: String,
    pub change: String,
    pub approval: String,
    pub decision: String,
    /// Whose approval it was (the approver).
    pub approver: String,
    /// Who took the decision (the approver, or their delegate).
    pub decided_by: String,
    pub on_behalf_of: String,
    pub justification: String,
    pub change_type: String,
    pub risk: String,
    pub impact: String,
    pub tier: String,
    pub configuration_item: String,
    pub assignment_group: String,
    pub window_start: String,
    pub window_end: String,
    pub controls: String,
    /// The hash of the policy in force when it was decided (empty before policies had one).
    pub policy_hash: String,
    /// The risk acceptance of an approval outside the standard path, and its deviations.
    pub risk_acceptance: String,
    pub deviations: String,
    /// The senior role that must also approve it, where the policy names one.
    pub senior_role: String,
    /// Where it ended: applied, conflict, failed, superseded, withdrawn, discarded, queued.
    pub outcome: String,
    pub outcome_at: String,
    pub outcome_reason: String,
    pub server_answer: String,
    /// What a reconciliation found deployed under the change, where one was run.
    pub deployment: String,
    pub seen_hash: String,
    pub client_id: String,
    /// The journal entries it spans.
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The decisions queued between `from` and `to` (inclusive), oldest first, with their last
/// outcome; `tier_of(type, risk, impact)` names the tier (by the policy in force). Pure and
/// ordered by the journal, so the same journal gives the same rows.
pub fn export_rows(
    entries: &[JournalEntry],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    tier_of: &dyn Fn(&str, &str, &str) -> String,
    deployments: &std::collections::BTreeMap<String, String>,
) -> Vec<ExportRow> {
    let rows = log_rows(entries);
    let mut out: Vec<ExportRow> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (r, e) in rows.iter().zip(entries) {
        if r.kind == "decision.queued" {
            if from.is_some_and(|f| e.created_at < f) || to.is_some_and(|t| e.created_at > t) {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&e.entry).unwrap_or_default();
            let (ty, risk, impact) = (text(&v, "type"), text(&v, "risk"), text(&v, "impact"));
            index.insert(r.client_id.clone(), out.len());
            out.push(ExportRow {
                decided_at: r.at.clone(),
                change: r.change.clone(),
                approval: r.approval.clone(),
                decision: r.decision.clone(),
                approver: if r.on_behalf_of.is_empty() {
                    r.actor.clone()
                } else {
                    r.on_behalf_of.clone()
                },
                decided_by: r.actor.clone(),
                on_behalf_of: r.on_behalf_of.clone(),
                justification: r.justification.clone(),
                tier: if ty.is_empty() && risk.is_empty() {
                    String::new()
                } else {
                    tier_of(&ty, &risk, &impact)
                },
                change_type: ty,
                risk,
                impact,
                configuration_item: text(&v, "ci"),
                assignment_group: text(&v, "group"),
                window_start: text(&v, "window_start"),
                window_end: text(&v, "window_end"),
                controls: r.controls.join(" "),
                policy_hash: text(&v, "policy_hash"),
                risk_acceptance: text(&v, "risk_acceptance"),
                deviations: text(&v, "deviations"),
                senior_role: text(&v, "senior_role"),
                outcome: "queued".into(),
                outcome_at: r.at.clone(),
                outcome_reason: String::new(),
                server_answer: String::new(),
                deployment: deployments.get(&r.change).cloned().unwrap_or_default(),
                seen_hash: r.seen_hash.clone(),
                client_id: r.client_id.clone(),
                first_seq: r.seq,
                last_seq: r.seq,
            });
        } else if let Some(outcome) = r.kind.strip_prefix("decision.")
            && let Some(&i) = index.get(&r.client_id)
        {
            let x = &mut out[i];
            x.outcome = outcome.to_string();
            x.outcome_at = r.at.clone();
            x.outcome_reason = r.reason.clone();
            if !r.server_answer.is_empty() {
                x.server_answer = r.server_answer.clone();
            }
            x.last_seq = r.seq;
        }
    }
    out
}

/// A field for a CSV cell: quoted when it must be, and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-`, `@` gets a `'`).
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
