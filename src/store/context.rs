//! The change in full, cached for offline review (issue 16): one row per change, replaced
//! whenever the instance is read again.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::context::ChangeContext;
use crate::domain::history::ServerHistory;

/// The meta key the server's record of my decisions is cached under.
const META_SERVER_HISTORY: &str = "server_history";

impl Store {
    /// Keeps `ctx` as the change's context (the newer read wins).
    pub fn put_change_context(&mut self, ctx: &ChangeContext) -> Result<(), StoreError> {
        let data = serde_json::to_string(ctx).map_err(|e| StoreError::Encode {
            path: self.path.clone(),
            what: format!("the context of change {}", ctx.change_sys_id),
            detail: e.to_string(),
        })?;
        self.conn
            .execute(
                "INSERT INTO change_context (change_sys_id, data) VALUES (?1, ?2)
                 ON CONFLICT (change_sys_id) DO UPDATE SET data = excluded.data",
                params![ctx.change_sys_id, data],
            )
            .map_err(|e| self.err("cache the change's context", e))?;
        Ok(())
    }

    /// The cached context of a change, if it was ever read.
    pub fn change_context(&self, change_sys_id: &str) -> Result<Option<ChangeContext>, StoreError> {
        let data: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM change_context WHERE change_sys_id = ?1",
                [change_sys_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("read the change's cached context", e))?;
        data.map(|d| {
            serde_json::from_str(&d)
                .map_err(|e| self.corrupt(format!("a cached change context is unreadable: {e}")))
        })
        .transpose()
    }

    /// Keeps the server's record of my decisions, as last read, for offline review.
    pub fn put_server_history(&mut self, h: &ServerHistory) -> Result<(), StoreError> {
        let data = serde_json::to_string(h).map_err(|e| StoreError::Encode {
            path: self.path.clone(),
            what: "the server's record of your decisions".into(),
            detail: e.to_string(),
        })?;
        self.set_meta(META_SERVER_HISTORY, &data)
    }

    /// The server's record of my decisions as last read (empty if never read).
    pub fn server_history(&self) -> Result<ServerHistory, StoreError> {
        match self.get_meta(META_SERVER_HISTORY)? {
            None => Ok(ServerHistory::default()),
            Some(d) => serde_json::from_str(&d).map_err(|e| {
                self.corrupt(format!(
                    "the cached server record of your decisions is unreadable: {e}"
                ))
            }),
        }
    }
}
