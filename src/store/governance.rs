//! The policy under change control (issue 17): the policy last confirmed, kept in the store's
//! metadata, and each confirmation as a journal entry (who, when, the old and new hash, what
//! changed), in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;

use super::journal::append;
use super::{Store, StoreError, meta_get, meta_set};
use crate::domain::Policy;
use crate::domain::governance::{
    ConfirmedPolicy, DiffLine, changed_lines, diff, policy_hash, policy_text,
};

/// The meta key of the confirmed policy (JSON of [`ConfirmedPolicy`]).
const META_POLICY: &str = "policy.confirmed";

impl Store {
    /// The policy last confirmed, if one ever was.
    pub fn confirmed_policy(&self) -> Result<Option<ConfirmedPolicy>, StoreError> {
        let data = meta_get(&self.conn, META_POLICY)
            .map_err(|e| self.err("read the confirmed policy", e))?;
        data.map(|d| {
            serde_json::from_str(&d)
                .map_err(|e| self.corrupt(format!("the confirmed policy is unreadable: {e}")))
        })
        .transpose()
    }

    /// Puts `policy` in force: kept as the confirmed policy, with a journal entry
    /// `policy.confirmed` saying who, when, the old and new hash and the changed lines. The
    /// first policy a store sees is adopted without an entry (there is nothing it replaces;
    /// every decision's entry names the policy hash in force).
    pub fn confirm_policy(
        &mut self,
        policy: &Policy,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmedPolicy, StoreError> {
        let before = self.confirmed_policy()?;
        let confirmed = ConfirmedPolicy {
            hash: policy_hash(policy),
            policy: policy.clone(),
            confirmed_by: by.to_string(),
            confirmed_at: now,
        };
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "confirm the policy", e);
        let data = serde_json::to_string(&confirmed).map_err(|e| StoreError::Encode {
            path: path.clone(),
            what: "the confirmed policy".into(),
            detail: e.to_string(),
        })?;
        let changed: Vec<String> = match &before {
            Some(b) => changed_lines(&diff(&policy_text(&b.policy), &policy_text(policy)), 0)
                .iter()
                .map(DiffLine::render)
                .collect(),
            None => Vec::new(),
        };
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        meta_set(&tx, META_POLICY, &data).map_err(err)?;
        if let Some(b) = &before {
            append(
                &tx,
                &signer,
                now,
                "policy.confirmed",
                &serde_json::json!({
                    "acting_user": by,
                    "old_hash": b.hash,
                    "new_hash": confirmed.hash,
                    "changed": changed,
                })
                .to_string(),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(confirmed)
    }
}
