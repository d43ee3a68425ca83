//! The cached queue in queue order, read from the store's index instead of decoded whole: the
//! first screen's rows, the tier counts and the order of every row (see schema V8).
//!
//! Each approval's place (held, tier, SLA deadline and warning time) is computed with the
//! policy when the row is written, and again for every row when the policy changes. The
//! policy it was computed with is kept in `meta`, so any process that writes rows places them
//! the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{Store, StoreError, meta_get, meta_set};
use crate::domain::{Approval, Policy, QueueIndex, QueueKey, RiskTier, SlaClock, UserRef};

/// The policy the rows' places were computed with (JSON).
const META_POLICY: &str = "queue.policy";

/// Where an approval goes in the queue, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub hold: bool,
    pub tier: RiskTier,
    pub deadline: i64,
    pub warning: i64,
}

impl Place {
    pub fn of(policy: &Policy, a: &Approval) -> Place {
        let tier = policy.classify(&a.change).tier;
        let sla = SlaClock::for_approval(policy, tier, a);
        Place {
            hold: a.change.on_hold,
            tier,
            deadline: sla.deadline.timestamp_millis(),
            warning: sla.warning_at.timestamp_millis(),
        }
    }
}

/// What filters, sorts and `/` search read of an approval, as stored (schema 10).
pub(crate) struct Facts {
    pub kind: i64,
    pub risk: i64,
    pub cab: bool,
    pub window: Option<i64>,
    pub requested: i64,
    pub number: i64,
    pub text: String,
    pub ci: Option<String>,
    pub window_end: Option<i64>,
}

impl Facts {
    pub fn of(a: &Approval) -> Facts {
        let k = QueueKey::facts_of(a);
        Facts {
            kind: k.kind.into(),
            risk: k.risk.into(),
            cab: k.cab,
            window: (k.window != crate::domain::find::NO_WINDOW).then_some(k.window),
            requested: k.requested,
            number: i64::try_from(k.number).unwrap_or(i64::MAX),
            text: crate::domain::find::search_text(a),
            ci: (!a.change.configuration_item.is_empty())
                .then(|| a.change.configuration_item.clone()),
            window_end: a.change.end_date.map(|t| t.timestamp_millis()),
        }
    }
}

fn tier_number(t: RiskTier) -> i64 {
    RiskTier::ALL.iter().position(|x| *x == t).unwrap_or(0) as i64
}

/// The width of an `sla_hours` bucket, in milliseconds.
const HOUR_MS: i64 = 3_600_000;

fn tier_of(n: i64) -> Option<RiskTier> {
    usize::try_from(n)
        .ok()
        .and_then(|i| RiskTier::ALL.get(i).copied())
}

/// The queue's counts: per section (a tier, or `None` for the changes on hold, last), and how
/// many not on hold are breached or in warning at the time asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueTotals {
    pub sections: Vec<(Option<RiskTier>, usize)>,
    pub breached: usize,
    pub warning: usize,
}

impl QueueTotals {
    pub fn total(&self) -> usize {
        self.sections.iter().map(|(_, n)| n).sum()
    }
}

/// The order the index keeps: the same as `build_queue`'s (qualified: `approvals` is `a`
/// where it is joined).
const ORDER: &str = "a.q_hold, a.q_tier, a.q_deadline, a.change_number, a.sys_id";

impl Store {
    /// The policy the queue's order is computed with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Orders the queue by `policy` from now on: when it differs from the policy the rows were
    /// placed with, every row is placed again (one transaction). Answers whether it did.
    pub fn set_policy(&mut self, policy: &Policy) -> Result<bool, StoreError> {
        if *policy == self.policy && self.policy_recorded {
            return Ok(false);
        }
        self.policy = policy.clone();
        let started = std::time::Instant::now();
        let placed = place_rows(&mut self.conn, &self.path, &self.policy, false)?;
        self.policy_recorded = true;
        tracing::info!(
            rows = placed,
            ms = started.elapsed().as_millis() as u64,
            "queue placed by a changed policy"
        );
        Ok(true)
    }

    /// The first `limit` approvals in queue order, without their long texts.
    pub fn queue_head(&self, limit: usize) -> Result<Vec<Approval>, StoreError> {
        let action = "read the first rows of the queue";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT a.sys_id, COALESCE(s.summary, a.data) FROM approvals a
                 LEFT JOIN approval_summaries s ON s.sys_id = a.sys_id
                 ORDER BY {ORDER} LIMIT ?1"
            ))
            .map_err(|e| self.err(action, e))?;
        let mut rows = stmt
            .query([limit as i64])
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::with_capacity(limit.min(1000));
        while let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
            out.push(self.decode_row(row, action)?);
        }
        Ok(out)
    }

    /// The sys_ids of the cached approvals whose search text (number, title, requester, CI,
    /// groups, description: [`crate::domain::find::search_text`]) holds `needle`, which
    /// [`crate::domain::find::needle`] made. One scan of a column, no JSON decoded.
    pub fn text_matches(
        &self,
        needle: &str,
    ) -> Result<std::collections::HashSet<Box<str>>, StoreError> {
        let action = "search the cached queue";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sys_id FROM approvals WHERE instr(q_text, ?1) > 0")
            .map_err(|e| self.err(action, e))?;
        let mut rows = stmt.query([needle]).map_err(|e| self.err(action, e))?;
        let mut out = std::collections::HashSet::new();
        while let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
            let id = row
                .get_ref(0)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(|e| self.err(action, e))?;
            out.insert(id.into());
        }
        Ok(out)
    }

    /// Other changes on configuration item `ci` whose windows overlap `[start, end)` (ms), one
    /// approval (summary) each, soonest first, at most `limit`: what may collide with a change.
    pub fn related(
        &self,
        change_sys_id: &str,
        ci: &str,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<Approval>, StoreError> {
        let action = "find the related changes";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT MIN(sys_id) FROM approvals
                 WHERE q_ci = ?1 AND change_sys_id != ?2 AND q_window IS NOT NULL
                   AND q_window < ?4 AND COALESCE(q_window_end, q_window) > ?3
                 GROUP BY change_sys_id ORDER BY MIN(q_window) LIMIT ?5",
            )
            .map_err(|e| self.err(action, e))?;
        let ids: Vec<String> = stmt
            .query_map(
                rusqlite::params![ci, change_sys_id, start, end, limit as i64],
                |r| r.get(0),
            )
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(action, e))?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.summaries_by_id(&ids)
    }

    /// The approvals with these sys_ids without their long texts, in the order asked (those
    /// not cached are left out).
    pub fn summaries_by_id(&self, ids: &[&str]) -> Result<Vec<Approval>, StoreError> {
        let action = "read cached approvals";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.sys_id, COALESCE(s.summary, a.data) FROM approvals a
                 LEFT JOIN approval_summaries s ON s.sys_id = a.sys_id
                 WHERE a.sys_id = ?1",
            )
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = stmt.query([id]).map_err(|e| self.err(action, e))?;
            if let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
                out.push(self.decode_row(row, action)?);
            }
        }
        Ok(out)
    }

    fn decode_row(
        &self,
        row: &rusqlite::Row<'_>,
        action: &'static str,
    ) -> Result<Approval, StoreError> {
        let sys_id: String = row.get(0).map_err(|e| self.err(action, e))?;
        let data = row
            .get_ref(1)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(|e| self.err(action, e))?;
        serde_json::from_str::<Approval>(data)
            .map_err(|e| self.corrupt(format!("the cached approval {sys_id} is unreadable: {e}")))
    }

    /// The tier counts, and the breached and warning counts at `now`, from the index.
    pub fn queue_totals(&self, now: DateTime<Utc>) -> Result<QueueTotals, StoreError> {
        let action = "count the cached queue";
        let now = now.timestamp_millis();
        // The hours before this one from `sla_hours`, this hour's rows from the indexes: a
        // few rows read at any queue size (schema version 9).
        let hour = now.div_euclid(HOUR_MS);
        let count = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.query_row([now, hour], |r| r.get::<_, i64>(0)))
                .map_err(|e| self.err(action, e))
        };
        let breached = count(
            "SELECT (SELECT IFNULL(sum(n), 0) FROM sla_hours
                     WHERE hold = 0 AND kind = 0 AND hour < ?2)
                  + (SELECT count(*) FROM approvals WHERE q_hold = 0
                     AND q_deadline >= ?2 * 3600000 AND q_deadline <= ?1
                     AND q_warning IS NOT NULL)",
        )?;
        let entered = count(
            "SELECT (SELECT IFNULL(sum(n), 0) FROM sla_hours
                     WHERE hold = 0 AND kind = 1 AND hour < ?2)
                  + (SELECT count(*) FROM approvals WHERE q_hold = 0
                     AND min(q_warning, q_deadline) >= ?2 * 3600000
                     AND min(q_warning, q_deadline) <= ?1)",
        )?;
        let mut totals = QueueTotals {
            breached: breached.max(0) as usize,
            warning: (entered - breached).max(0) as usize,
            ..QueueTotals::default()
        };
        // Kept by triggers (schema version 9): one row per (held, tier).
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hold, tier, n FROM queue_counts WHERE n > 0 ORDER BY hold, tier",
            )
            .map_err(|e| self.err(action, e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(action, e))?;
        let (mut held, mut per_tier) = (0, [0usize; RiskTier::ALL.len()]);
        while let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
            let get = |i| row.get::<_, i64>(i).map_err(|e| self.err(action, e));
            let count = get(2)?.max(0) as usize;
            if get(0)? == 1 {
                held += count;
            } else {
                // A row not yet placed (tier -1) counts as low, as the queue shows it.
                let tier = tier_of(get(1)?).unwrap_or(RiskTier::Low);
                per_tier[tier as usize] += count;
            }
        }
        for (tier, n) in RiskTier::ALL.iter().zip(per_tier) {
            if n > 0 {
                totals.sections.push((Some(*tier), n));
            }
        }
        if held > 0 {
            totals.sections.push((None, held));
        }
        Ok(totals)
    }

    /// Every cached approval's key, in queue order, read from the index alone.
    pub fn queue_index(&self) -> Result<QueueIndex, StoreError> {
        let action = "read the queue order";
        let started = std::time::Instant::now();
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT sys_id, approver_sys_id, approver_name, q_hold, q_tier, q_deadline,
                        q_warning, q_kind, q_risk, q_cab, q_window, q_requested, q_number
                 FROM approvals a ORDER BY {ORDER}"
            ))
            .map_err(|e| self.err(action, e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(action, e))?;
        let mut index = QueueIndex::default();
        let mut people: HashMap<String, u32> = HashMap::new();
        while let Some(row) = rows.next().map_err(|e| self.err(action, e))? {
            let text = |i| -> Result<&str, StoreError> {
                row.get_ref(i)
                    .and_then(|v| v.as_str_or_null().map_err(Into::into))
                    .map(|s| s.unwrap_or(""))
                    .map_err(|e| self.err(action, e))
            };
            let int = |i| {
                row.get::<_, Option<i64>>(i)
                    .map_err(|e| self.err(action, e))
            };
            let approver_id = text(1)?;
            let approver = match people.get(approver_id) {
                Some(&i) => i,
                None => {
                    let i = index.people.len() as u32;
                    index.people.push(UserRef {
                        sys_id: approver_id.to_string(),
                        name: text(2)?.to_string(),
                        ..Default::default()
                    });
                    people.insert(approver_id.to_string(), i);
                    i
                }
            };
            index.keys.push(QueueKey {
                sys_id: text(0)?.into(),
                approver,
                on_hold: int(3)? == Some(1),
                tier: int(4)?.and_then(tier_of).unwrap_or(RiskTier::Low),
                deadline: int(5)?.unwrap_or(0),
                warning_at: int(6)?.unwrap_or(0),
                kind: int(7)?.and_then(|v| u8::try_from(v).ok()).unwrap_or(0),
                risk: int(8)?.and_then(|v| u8::try_from(v).ok()).unwrap_or(4),
                cab: int(9)? == Some(1),
                window: int(10)?.unwrap_or(crate::domain::find::NO_WINDOW),
                requested: int(11)?.unwrap_or(0),
                number: int(12)?.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            });
        }
        tracing::debug!(
            rows = index.keys.len(),
            ms = started.elapsed().as_millis() as u64,
            "queue order read"
        );
        Ok(index)
    }
}

/// The policy recorded with the rows, if any can be read.
pub(crate) fn recorded_policy(conn: &Connection) -> rusqlite::Result<Option<Policy>> {
    Ok(meta_get(conn, META_POLICY)?.and_then(|json| serde_json::from_str(&json).ok()))
}

/// Places rows by `policy` (only the unplaced ones when `only_missing`) and records the
/// policy, in one transaction. Answers how many rows it placed.
pub(crate) fn place_rows(
    conn: &mut Connection,
    path: &std::path::Path,
    policy: &Policy,
    only_missing: bool,
) -> Result<usize, StoreError> {
    let err = |e| StoreError::sqlite(path, "order the cached queue", e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let mut placed = 0;
    {
        let mut read = tx
            // Rows never placed are read whole (once), for the search text's description; a
            // new policy only moves rows, so it reads the summaries and keeps the text.
            .prepare(if only_missing {
                "SELECT a.sys_id, a.data FROM approvals a
                 WHERE a.q_hold IS NULL OR a.q_kind IS NULL"
            } else {
                "SELECT a.sys_id, COALESCE(s.summary, a.data) FROM approvals a
                 LEFT JOIN approval_summaries s ON s.sys_id = a.sys_id"
            })
            .map_err(err)?;
        let mut update = tx
            .prepare(
                "UPDATE approvals SET q_hold = ?2, q_tier = ?3, q_deadline = ?4, q_warning = ?5,
                     approver_name = ?6, q_kind = ?7, q_risk = ?8, q_cab = ?9, q_window = ?10,
                     q_requested = ?11, q_number = ?12, q_text = COALESCE(?13, q_text),
                     q_ci = ?14, q_window_end = ?15
                 WHERE sys_id = ?1",
            )
            .map_err(err)?;
        let mut rows = read.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let sys_id: String = row.get(0).map_err(err)?;
            let data = row
                .get_ref(1)
                .and_then(|v| v.as_str().map_err(Into::into))
                .map_err(err)?;
            let a: Approval = serde_json::from_str(data).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("the cached approval {sys_id} is unreadable: {e}"),
            })?;
            let p = Place::of(policy, &a);
            let f = Facts::of(&a);
            update
                .execute(params![
                    sys_id,
                    p.hold,
                    tier_number(p.tier),
                    p.deadline,
                    p.warning,
                    a.approver.name,
                    f.kind,
                    f.risk,
                    f.cab,
                    f.window,
                    f.requested,
                    f.number,
                    only_missing.then_some(f.text),
                    f.ci,
                    f.window_end,
                ])
                .map_err(err)?;
            placed += 1;
        }
    }
    let json = serde_json::to_string(policy).map_err(|e| StoreError::Encode {
        path: path.to_path_buf(),
        what: "the queue policy".into(),
        detail: e.to_string(),
    })?;
    meta_set(&tx, META_POLICY, &json).map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(placed)
}

/// The columns `upsert_rows` writes for an approval's place.
pub(crate) fn place_params(policy: &Policy, a: &Approval) -> (bool, i64, i64, i64) {
    let p = Place::of(policy, a);
    (p.hold, tier_number(p.tier), p.deadline, p.warning)
}
