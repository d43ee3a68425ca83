//! The outbox (decisions stored before any network call) and the hash-chained journal.

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::journal::append;
pub use crate::domain::audit::{GENESIS, JournalEntry, chain_hash};

use super::{Store, StoreError, format_time, parse_time};
use crate::domain::{Decision, Delivery};

/// A new decision id: 24 hex characters from the time (the caller's clock), the process and a
/// counter, hashed. Unique across processes and calls even on a clock that stands still.
pub fn new_client_id(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = now.timestamp_nanos_opt().unwrap_or(now.timestamp());
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hex::encode(h.finalize())[..24].to_string()
}

/// One decision in the outbox with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub decision: Decision,
    pub delivery: Delivery,
    pub attempts: u32,
    pub updated_at: DateTime<Utc>,
    /// What the server answered (its record after the change), when it did.
    pub server_answer: Option<String>,
}

/// An earlier decision a new one replaced (see [`Store::enqueue`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Superseded {
    pub client_id: String,
    pub approval_sys_id: String,
    /// Where it stood: `queued`, `sending`, `conflict` or `failed`.
    pub was: String,
    pub kind: Option<crate::domain::DecisionKind>,
}

/// What a server comment carries of a journal entry's hash: its first 16 hex digits.
pub fn anchor_of(hash: &str) -> String {
    hash.chars().take(16).collect()
}

fn status_of(d: &Delivery) -> (&'static str, Option<&str>) {
    match d {
        Delivery::Queued => ("queued", None),
        Delivery::Sending => ("sending", None),
        Delivery::Applied { .. } => ("applied", None),
        Delivery::Conflict { reason } => ("conflict", Some(reason)),
        Delivery::Failed { error } => ("failed", Some(error)),
        Delivery::Superseded { by } => ("superseded", Some(by)),
    }
}

impl Store {
    /// An exclusive lock on delivering this store's outbox (a lock file beside the store,
    /// released when the returned file is dropped, or by the system if the process dies).
    /// Never blocks: `None` while another holder has it.
    pub fn delivery_lock(&self) -> Result<Option<std::fs::File>, StoreError> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".deliver.lock");
        let path = std::path::PathBuf::from(name);
        let io = |e: std::io::Error| StoreError::Io {
            path: path.clone(),
            source: e,
        };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(io)?;
        super::restrict_permissions(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Stores decisions in one transaction, with a journal entry each: after this returns they
    /// survive a crash, and nothing has been sent yet.
    ///
    /// A new decision on an approval replaces any earlier one that is not applied (waiting,
    /// being sent, in conflict or failed): the earlier one becomes `superseded`, with a journal
    /// entry, and is never sent, so a decision the user took back cannot land after the new
    /// one. (One that already reached the server is recognised there when the new one is
    /// delivered.) Answers the ids of the decisions superseded, with their approvals.
    pub fn enqueue(
        &mut self,
        decisions: &[Decision],
        now: DateTime<Utc>,
    ) -> Result<Vec<Superseded>, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "store the decision", e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut superseded = Vec::new();
        for d in decisions {
            let earlier: Vec<(String, String, String)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT client_id, status, decision FROM outbox WHERE approval_sys_id = ?1
                         AND status IN ('queued', 'sending', 'conflict', 'failed') ORDER BY id",
                    )
                    .map_err(err)?;
                let rows = stmt
                    .query_map([&d.approval_sys_id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)?
            };
            for (old, was, verb) in earlier {
                tx.execute(
                    "UPDATE outbox SET status = 'superseded', last_error = ?2, updated_at = ?3
                     WHERE client_id = ?1",
                    params![old, d.client_id, format_time(now)],
                )
                .map_err(err)?;
                append(
                    &tx,
                    &signer,
                    now,
                    "decision.superseded",
                    &serde_json::json!({
                        "client_id": old,
                        "was": was,
                        "by": d.client_id,
                        "approval": d.approval_sys_id,
                    })
                    .to_string(),
                )
                .map_err(err)?;
                superseded.push(Superseded {
                    client_id: old,
                    approval_sys_id: d.approval_sys_id.clone(),
                    was,
                    kind: crate::domain::DecisionKind::parse(&verb),
                });
            }
            let data = serde_json::to_string(d).map_err(|e| StoreError::Encode {
                path: path.clone(),
                what: format!("decision {}", d.client_id),
                detail: e.to_string(),
            })?;
            let when = format_time(now);
            tx.execute(
                "INSERT INTO outbox (client_id, approval_sys_id, change_sys_id, decision,
                                     justification, acting_user, on_behalf_of, created_at,
                                     status, attempts, updated_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?8, ?9)",
                params![
                    d.client_id,
                    d.approval_sys_id,
                    d.change_sys_id,
                    d.kind.verb(),
                    d.justification.as_str(),
                    d.acting_user.sys_id,
                    d.on_behalf_of.as_ref().map(|u| u.sys_id.clone()),
                    when,
                    data,
                ],
            )
            .map_err(err)?;
            let c = &d.seen.change;
            let hash = append(
                &tx,
                &signer,
                now,
                "decision.queued",
                &serde_json::json!({
                    "client_id": d.client_id,
                    "decision": d.kind.verb(),
                    "change": d.change_number,
                    "approval": d.approval_sys_id,
                    "justification": d.justification.as_str(),
                    "acting_user": d.acting_user.label(),
                    "on_behalf_of": d.on_behalf_of.as_ref().map(|u| u.label().to_string()),
                    "seen_hash": d.seen_hash(),
                    "type": c.change_type.as_ref().map(|t| t.label().to_string()),
                    "risk": c.risk.map(|r| r.label().to_string()),
                    "impact": c.impact.map(|l| l.label().to_string()),
                    "urgency": c.urgency.map(|l| l.label().to_string()),
                    "ci": c.configuration_item,
                    "group": c.assignment_group,
                    "window_start": c.start_date.map(format_time),
                    "window_end": c.end_date.map(format_time),
                    "controls": d.controls,
                    "policy_hash": d.policy_hash,
                    "risk_acceptance": d.risk_acceptance.as_ref().map(|r| r.statement.clone()),
                    "deviations": d.risk_acceptance.as_ref().map(|r| r.kinds()),
                    "senior_role": d.risk_acceptance.as_ref().and_then(|r| r.senior_role.clone()),
                })
                .to_string(),
            )
            .map_err(err)?;
            tx.execute(
                "UPDATE outbox SET journal_hash = ?2 WHERE client_id = ?1",
                params![d.client_id, hash],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(superseded)
    }

    /// Takes a waiting decision for sending: marks it `sending` (counting the attempt) if it
    /// is still waiting. Answers false when it is not (superseded or withdrawn meanwhile, or
    /// delivered by another process), and then it must not be sent.
    pub fn claim(&mut self, client_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET status = 'sending', updated_at = ?2, attempts = attempts + 1
                 WHERE client_id = ?1 AND status IN ('queued', 'sending')",
                params![client_id, format_time(now)],
            )
            .map_err(|e| self.err("record the delivery", e))?;
        Ok(n > 0)
    }

    /// Whether the decision is still being sent (not superseded or withdrawn since it was
    /// claimed): checked again right before the write.
    pub fn is_sending(&self, client_id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE client_id = ?1 AND status = 'sending'",
                [client_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.err("read the outbox", e))
    }

    /// Outbox entries, oldest first: all of them, or only those not delivered yet.
    pub fn outbox(&self, pending_only: bool) -> Result<Vec<OutboxEntry>, StoreError> {
        let filter = if pending_only {
            "WHERE status IN ('queued', 'sending')"
        } else {
            ""
        };
        self.entries(filter, [])
    }

    /// The decisions still open, oldest first: waiting, being sent, in conflict or failed.
    pub fn open_decisions(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.entries(
            "WHERE status IN ('queued', 'sending', 'conflict', 'failed')",
            [],
        )
    }

    /// Every decision recorded on one approval, oldest first.
    pub fn decisions_on(&self, approval_sys_id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.entries("WHERE approval_sys_id = ?1", [approval_sys_id])
    }

    fn entries<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let action = "read the outbox";
        let sql = format!(
            "SELECT data, status, last_error, attempts, updated_at, server_answer, journal_hash
             FROM outbox {filter} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (data, status, last_error, attempts, updated_at, server_answer, journal_hash) =
                row.map_err(|e| self.err(action, e))?;
            let Some(data) = data else {
                continue; // written by a version without decision data: nothing to deliver
            };
            let mut decision: Decision = serde_json::from_str(&data)
                .map_err(|e| self.corrupt(format!("an outbox entry is unreadable: {e}")))?;
            decision.anchor = journal_hash.map(|h| anchor_of(&h));
            let updated_at = parse_time(&updated_at).unwrap_or(decision.created_at);
            let reason = last_error.unwrap_or_default();
            let delivery = match status.as_str() {
                "queued" => Delivery::Queued,
                "sending" => Delivery::Sending,
                "applied" => Delivery::Applied { at: updated_at },
                "conflict" => Delivery::Conflict { reason },
                "superseded" => Delivery::Superseded { by: reason },
                _ => Delivery::Failed { error: reason },
            };
            out.push(OutboxEntry {
                decision,
                delivery,
                attempts: attempts.max(0) as u32,
                updated_at,
                server_answer,
            });
        }
        Ok(out)
    }

    /// Records where a decision stands, with a journal entry for every outcome (not for the
    /// step to `sending`, which only counts the attempt). Answers false, writing nothing, when
    /// the decision is no longer where that outcome could follow from: a conflict, failure or
    /// return to the queue is only recorded on a decision being sent (one superseded or
    /// withdrawn meanwhile stays so); being applied on the server is recorded whatever the
    /// decision's local status, since it is what happened, unless it is already recorded.
    pub fn set_delivery(
        &mut self,
        client_id: &str,
        delivery: &Delivery,
        server_answer: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "record the delivery", e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let (status, reason) = status_of(delivery);
        let updated_at = match delivery {
            Delivery::Applied { at } => format_time(*at),
            _ => format_time(now),
        };
        let attempt = i64::from(matches!(delivery, Delivery::Sending));
        let from = match delivery {
            Delivery::Sending => "'queued', 'sending'",
            Delivery::Applied { .. } => "'queued', 'sending', 'conflict', 'failed', 'superseded'",
            _ => "'sending'",
        };
        let n = tx
            .execute(
                &format!(
                    "UPDATE outbox SET status = ?2, last_error = ?3, updated_at = ?4,
                         attempts = attempts + ?5, server_answer = coalesce(?6, server_answer)
                     WHERE client_id = ?1 AND status IN ({from})"
                ),
                params![
                    client_id,
                    status,
                    reason,
                    updated_at,
                    attempt,
                    server_answer
                ],
            )
            .map_err(err)?;
        if n == 0 {
            return Ok(false);
        }
        if !matches!(delivery, Delivery::Sending | Delivery::Queued) {
            append(
                &tx,
                &signer,
                now,
                &format!("decision.{status}"),
                &serde_json::json!({
                    "client_id": client_id,
                    "reason": reason,
                    "server_answer": server_answer,
                    "applied_at": match delivery {
                        Delivery::Applied { at } => Some(format_time(*at)),
                        _ => None,
                    },
                })
                .to_string(),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// Removes a decision the user discarded (a conflict or failure), keeping a journal entry.
    pub fn discard(&mut self, client_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.remove(client_id, &["conflict", "failed"], "discarded", now)
    }

    /// Puts a decision in conflict or failed back in the queue, to be checked and sent again
    /// (the check before sending decides whether it still applies), with a journal entry.
    /// Answers false when it was not in conflict or failed.
    pub fn requeue(&mut self, client_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.settle(
            client_id,
            "UPDATE outbox SET status = 'queued', last_error = NULL, updated_at = ?2
             WHERE client_id = ?1 AND status IN ('conflict', 'failed')",
            params![client_id, format_time(now)],
            "requeued",
            "queue the decision again",
            now,
        )
    }

    /// Takes back a decision that waits unsent (queued), keeping a journal entry. Answers
    /// false when it is no longer waiting (being sent, or delivered): then it stands.
    pub fn withdraw(&mut self, client_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.remove(client_id, &["queued"], "withdrawn", now)
    }

    /// Deletes a decision if it is in one of `statuses`, with a `decision.<what>` journal
    /// entry, in one transaction. Answers whether it was there to delete.
    fn remove(
        &mut self,
        client_id: &str,
        statuses: &[&str],
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let listed = statuses
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        self.settle(
            client_id,
            &format!("DELETE FROM outbox WHERE client_id = ?1 AND status IN ({listed})"),
            params![client_id],
            what,
            "remove the decision",
            now,
        )
    }

    /// Runs `sql` with `args` on a decision's row and, if it touched one, appends a
    /// `decision.<what>` journal entry, in one transaction. Answers whether it touched one.
    fn settle(
        &mut self,
        client_id: &str,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        what: &str,
        action: &'static str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, action, e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx.execute(sql, args).map_err(err)?;
        if n > 0 {
            append(
                &tx,
                &signer,
                now,
                &format!("decision.{what}"),
                &serde_json::json!({ "client_id": client_id }).to_string(),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(n > 0)
    }

    /// The whole journal, oldest first.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let action = "read the journal";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, created_at, kind, entry, prev_hash, hash, sig, key_id
                 FROM journal ORDER BY seq",
            )
            .map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(JournalEntry {
                    seq: r.get(0)?,
                    created_at: DateTime::<Utc>::default(),
                    created_text: r.get(1)?,
                    kind: r.get(2)?,
                    entry: r.get(3)?,
                    prev_hash: r.get(4)?,
                    hash: r.get(5)?,
                    sig: r.get(6)?,
                    key_id: r.get(7)?,
                })
            })
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::new();
        for row in rows {
            let mut e = row.map_err(|e| self.err(action, e))?;
            // A bad time is reported by verification (the hash covers the text), not here.
            e.created_at = parse_time(&e.created_text).unwrap_or_default();
            out.push(e);
        }
        Ok(out)
    }
}
