//! The instance's own SLAs on changes (`task_sla`, issue 17), as the last sync read them.
//! Each approval carries the one that counts for its change ([`InstanceSla::counting`]), so
//! its place in the queue (the SLA deadline column) follows the instance's clock.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use super::{Store, StoreError, upsert_rows};
use crate::domain::Approval;
use crate::domain::context::{InstanceSla, TaskSla};

/// The SLA whose clock counts for the approvals of each of `changes` that has one, in one
/// query (a page of a pull, the changes a sync's SLAs touched).
pub(super) fn counting_for(
    conn: &Connection,
    path: &Path,
    changes: &[&str],
) -> Result<HashMap<String, InstanceSla>, StoreError> {
    let err = |e| StoreError::sqlite(path, "read the changes' SLAs", e);
    let ids = serde_json::to_string(changes).map_err(|e| StoreError::Encode {
        path: path.to_path_buf(),
        what: "the changes whose SLAs to read".into(),
        detail: e.to_string(),
    })?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT change_sys_id, data FROM instance_slas
             WHERE change_sys_id IN (SELECT value FROM json_each(?1))",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([ids], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(err)?;
    let mut by_change: HashMap<String, Vec<InstanceSla>> = HashMap::new();
    for (change, data) in rows {
        let sla = serde_json::from_str::<InstanceSla>(&data).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("a cached SLA of change {change} is unreadable: {e}"),
        })?;
        by_change.entry(change).or_default().push(sla);
    }
    Ok(by_change
        .into_iter()
        .filter_map(|(change, slas)| Some((change, InstanceSla::counting(&slas)?.clone())))
        .collect())
}

impl Store {
    /// Keeps the SLAs a sync read: `full`, every running one (those not in it have stopped);
    /// else the ones updated since the last read, in any stage. The approvals of every change
    /// whose counting SLA changed are placed again, in the same transaction. Returns how
    /// many approvals moved to another clock.
    pub fn put_instance_slas(&mut self, slas: &[TaskSla], full: bool) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "save the changes' SLAs", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut touched: BTreeSet<String> = BTreeSet::new();
        if full {
            let mut stmt = tx
                .prepare("SELECT DISTINCT change_sys_id FROM instance_slas")
                .map_err(err)?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(err)?;
            touched.extend(ids);
            drop(stmt);
            tx.execute("DELETE FROM instance_slas", []).map_err(err)?;
        }
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO instance_slas (sys_id, change_sys_id, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (sys_id) DO UPDATE SET
                         change_sys_id = excluded.change_sys_id, data = excluded.data",
                )
                .map_err(err)?;
            let mut gone = tx
                .prepare_cached("DELETE FROM instance_slas WHERE sys_id = ?1")
                .map_err(err)?;
            for s in slas {
                touched.insert(s.change_sys_id.clone());
                // A clock that stopped counts no more: only running ones are kept.
                if !s.sla.running() {
                    gone.execute([&s.sys_id]).map_err(err)?;
                    continue;
                }
                let data = serde_json::to_string(&s.sla).map_err(|e| StoreError::Encode {
                    path: path.clone(),
                    what: format!("the SLA {}", s.sys_id),
                    detail: e.to_string(),
                })?;
                put.execute(params![s.sys_id, s.change_sys_id, data])
                    .map_err(err)?;
            }
        }
        // The approvals whose clock is now another: placed again with it.
        let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
        let now = counting_for(&tx, &path, &touched)?;
        let mut moved: Vec<Approval> = Vec::new();
        {
            let mut read = tx
                .prepare_cached("SELECT data FROM approvals WHERE change_sys_id = ?1")
                .map_err(err)?;
            for change in touched {
                let rows = read
                    .query_map([change], |r| r.get::<_, String>(0))
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(err)?;
                for data in rows {
                    let a: Approval =
                        serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
                            path: path.clone(),
                            detail: format!(
                                "a cached approval of change {change} is unreadable: {e}"
                            ),
                        })?;
                    if a.change.instance_sla.as_ref() != now.get(change) {
                        moved.push(a);
                    }
                }
            }
        }
        upsert_rows(&tx, &path, &self.policy, &moved)?;
        tx.commit().map_err(err)?;
        Ok(moved.len())
    }
}
