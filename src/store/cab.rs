//! The CAB cache: the meetings list, each meeting opened (so it can be run offline), the
//! chair's moves waiting to reach the instance, and the notes typed during a session.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::journal::append;
use super::{Store, StoreError, format_time, meta_get, meta_set, parse_time};

/// Whose meetings list is cached (a user sys_id), and when it was read.
const META_CAB_USER: &str = "cab.user";
const META_CAB_FETCHED: &str = "cab.fetched_at";
use crate::domain::UserRef;
use crate::domain::cab::{Cursor, MeetingDetail, MeetingSummary, Move, MoveStatus};

/// A move of a meeting as the chair made it, waiting or delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct CabMove {
    pub id: i64,
    pub meeting: String,
    pub mv: Move,
    pub made_at: DateTime<Utc>,
    pub host: UserRef,
    /// Where the meeting stood when the move was made: it is applied only if it still does.
    pub expected: Cursor,
    pub status: MoveStatus,
}

fn parts(status: &MoveStatus) -> (&'static str, Option<&str>) {
    match status {
        MoveStatus::Queued => ("queued", None),
        MoveStatus::Sending => ("sending", None),
        MoveStatus::Applied => ("applied", None),
        MoveStatus::Conflict(why) => ("conflict", Some(why)),
        MoveStatus::Failed(why) => ("failed", Some(why)),
    }
}

/// A note the chair typed on an agenda item.
#[derive(Debug, Clone, PartialEq)]
pub struct CabNote {
    pub id: i64,
    pub item: String,
    pub number: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// Appended to the meeting's notes on the instance.
    pub shared: bool,
}

impl Store {
    /// Replaces the cached meetings list: `user_sys_id`'s meetings, read at `now`.
    pub fn save_meetings(
        &mut self,
        list: &[MeetingSummary],
        user_sys_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "cache the CAB meetings", e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute("DELETE FROM cab_meetings", []).map_err(err)?;
        for m in list {
            let data = encode(&path, m)?;
            tx.execute(
                "INSERT INTO cab_meetings (sys_id, start, data, fetched_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    m.meeting.sys_id,
                    m.meeting.start.map(format_time),
                    data,
                    format_time(now)
                ],
            )
            .map_err(err)?;
        }
        meta_set(&tx, META_CAB_USER, user_sys_id).map_err(err)?;
        meta_set(&tx, META_CAB_FETCHED, &format_time(now)).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Whose meetings the cached list holds (a user sys_id), if one was saved.
    pub fn meetings_user(&self) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, META_CAB_USER).map_err(|e| self.err("read the CAB meetings", e))
    }

    /// The cached meetings list and when it was fetched (`None`: never).
    pub fn meetings(&self) -> Result<(Vec<MeetingSummary>, Option<DateTime<Utc>>), StoreError> {
        let action = "read the CAB meetings";
        let mut stmt = self
            .conn
            .prepare("SELECT data, fetched_at FROM cab_meetings ORDER BY start, sys_id")
            .map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::new();
        let mut fetched = None;
        for row in rows {
            let (data, at) = row.map_err(|e| self.err(action, e))?;
            out.push(
                serde_json::from_str(&data)
                    .map_err(|e| self.corrupt(format!("a cached meeting is unreadable: {e}")))?,
            );
            fetched = fetched.max(parse_time(&at));
        }
        // An empty list was fetched too.
        let saved = meta_get(&self.conn, META_CAB_FETCHED)
            .map_err(|e| self.err(action, e))?
            .and_then(|t| parse_time(&t));
        Ok((out, saved.or(fetched)))
    }

    /// Caches a meeting as last read (or as the chair moved it).
    pub fn save_meeting(
        &mut self,
        detail: &MeetingDetail,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let data = encode(&self.path, detail)?;
        self.conn
            .execute(
                "INSERT INTO cab_details (sys_id, data, fetched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sys_id) DO UPDATE SET data = excluded.data,
                     fetched_at = excluded.fetched_at",
                params![detail.meeting.sys_id, data, format_time(now)],
            )
            .map_err(|e| self.err("cache the meeting", e))?;
        Ok(())
    }

    /// Every cached meeting in full (for the insights' time per agenda item).
    pub fn meeting_details(&self) -> Result<Vec<MeetingDetail>, StoreError> {
        let action = "read the cached meetings";
        let mut stmt = self
            .conn
            .prepare("SELECT data FROM cab_details")
            .map_err(|e| self.err(action, e))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(action, e))?;
        rows.iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| self.corrupt(format!("a cached meeting is unreadable: {e}")))
            })
            .collect()
    }

    /// A cached meeting and when it was cached.
    pub fn meeting(
        &self,
        sys_id: &str,
    ) -> Result<Option<(MeetingDetail, DateTime<Utc>)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT data, fetched_at FROM cab_details WHERE sys_id = ?1",
                [sys_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err("read the cached meeting", e))?;
        let Some((data, at)) = row else {
            return Ok(None);
        };
        let detail = serde_json::from_str(&data)
            .map_err(|e| self.corrupt(format!("a cached meeting is unreadable: {e}")))?;
        Ok(Some((detail, parse_time(&at).unwrap_or_default())))
    }

    /// Records a move before anything is sent, with the meeting as it stands after it (what
    /// the chair sees), and a journal entry; one transaction.
    pub fn record_move(
        &mut self,
        after: &MeetingDetail,
        mv: Move,
        host: &UserRef,
        expected: &Cursor,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "record the meeting move", e);
        let data = encode(&path, after)?;
        let host_json = encode(&path, host)?;
        let expected_json = encode(&path, expected)?;
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let at = format_time(now);
        tx.execute(
            "INSERT INTO cab_moves (meeting, move, made_at, host, expected, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?3)",
            params![
                after.meeting.sys_id,
                mv.verb(),
                at,
                host_json,
                expected_json
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO cab_details (sys_id, data, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (sys_id) DO UPDATE SET data = excluded.data",
            params![after.meeting.sys_id, data, at],
        )
        .map_err(err)?;
        append(
            &tx,
            &signer,
            now,
            "cab.moved",
            &serde_json::json!({
                "move_id": id,
                "meeting": after.meeting.sys_id,
                "name": after.meeting.name,
                "move": mv.verb(),
                "host": host.label(),
                "expected_item": expected.current,
            })
            .to_string(),
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(id)
    }

    /// Moves not yet delivered, oldest first (all meetings).
    pub fn pending_moves(&self) -> Result<Vec<CabMove>, StoreError> {
        self.moves("WHERE status IN ('queued', 'sending')")
    }

    /// Every move recorded on a meeting, oldest first.
    pub fn moves_of(&self, meeting: &str) -> Result<Vec<CabMove>, StoreError> {
        let all = self.moves("")?;
        Ok(all.into_iter().filter(|m| m.meeting == meeting).collect())
    }

    fn moves(&self, filter: &str) -> Result<Vec<CabMove>, StoreError> {
        let action = "read the meeting moves";
        let sql = format!(
            "SELECT id, meeting, move, made_at, host, expected, status, last_error
             FROM cab_moves {filter} ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(|e| self.err(action, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, meeting, mv, made_at, host, expected, status, why) =
                row.map_err(|e| self.err(action, e))?;
            let bad = |what: &str| self.corrupt(format!("meeting move {id}: {what}"));
            let why = why.unwrap_or_default();
            out.push(CabMove {
                id,
                meeting,
                mv: Move::parse(&mv).ok_or_else(|| bad("unknown move"))?,
                made_at: parse_time(&made_at).ok_or_else(|| bad("unreadable time"))?,
                host: serde_json::from_str(&host).map_err(|_| bad("unreadable host"))?,
                expected: serde_json::from_str(&expected)
                    .map_err(|_| bad("unreadable expectation"))?,
                status: match status.as_str() {
                    "queued" => MoveStatus::Queued,
                    "sending" => MoveStatus::Sending,
                    "applied" => MoveStatus::Applied,
                    "conflict" => MoveStatus::Conflict(why),
                    _ => MoveStatus::Failed(why),
                },
            });
        }
        Ok(out)
    }

    /// Records where a move stands; outcomes get a journal entry.
    pub fn set_move_status(
        &mut self,
        id: i64,
        status: &MoveStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "record the meeting move", e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let (name, why) = parts(status);
        tx.execute(
            "UPDATE cab_moves SET status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, name, why, format_time(now)],
        )
        .map_err(err)?;
        if !matches!(status, MoveStatus::Queued | MoveStatus::Sending) {
            append(
                &tx,
                &signer,
                now,
                &format!("cab.move.{name}"),
                &serde_json::json!({ "move_id": id, "reason": why }).to_string(),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Keeps a note typed on an agenda item.
    pub fn add_note(
        &mut self,
        meeting: &str,
        item: &str,
        number: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO cab_notes (meeting, item, number, text, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![meeting, item, number, text, format_time(now)],
            )
            .map_err(|e| self.err("keep the note", e))?;
        Ok(())
    }

    /// The notes typed on a meeting's items, oldest first.
    pub fn notes(&self, meeting: &str) -> Result<Vec<CabNote>, StoreError> {
        let action = "read the notes";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, item, number, text, created_at, shared FROM cab_notes
                 WHERE meeting = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(action, e))?;
        let rows = stmt
            .query_map([meeting], |r| {
                Ok(CabNote {
                    id: r.get(0)?,
                    item: r.get(1)?,
                    number: r.get(2)?,
                    text: r.get(3)?,
                    created_at: parse_time(&r.get::<_, String>(4)?).unwrap_or_default(),
                    shared: r.get::<_, i64>(5)? != 0,
                })
            })
            .map_err(|e| self.err(action, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.err(action, e))
    }

    /// Marks notes as appended to the meeting's notes on the instance.
    pub fn mark_notes_shared(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::sqlite(&path, "record the shared notes", e);
        let signer = self.signer.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for id in ids {
            tx.execute("UPDATE cab_notes SET shared = 1 WHERE id = ?1", [id])
                .map_err(err)?;
        }
        if !ids.is_empty() {
            append(
                &tx,
                &signer,
                now,
                "cab.notes.shared",
                &serde_json::json!({ "notes": ids }).to_string(),
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

fn encode<T: serde::Serialize>(path: &std::path::Path, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Encode {
        path: path.to_path_buf(),
        what: "a CAB record".into(),
        detail: e.to_string(),
    })
}
