//! CAB Workbench tables over the Table API (domain reference §1.3–§1.8): meetings, agenda
//! items, attendees and the live cursor are read as ordinary tables; a chair's moves write
//! the same rows the workbench's scripts write. Whether an instance's ACLs allow those writes
//! over REST is not known in general (§1.8): a refusal is reported as such, in words.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::wire::Row;
use super::{Convert, ServiceNow, check_id, convert, result_object};
use crate::backend::{BackendError, no_progress};
use crate::domain::cab::{
    AgendaApproval, AgendaItem, Attendance, Attendee, AttendeeReason, Convene, ItemDecision,
    ItemState, Meeting, MeetingDetail, MeetingState, MeetingSummary, MoveWrites, Runtime,
    html_escape, notes_text,
};
use crate::domain::{Change, DetailSource, UserRef};

const MEETING_FIELDS: &str = "sys_id,name,state,start,end,actual_end,manager,delegates,board_members,meeting_notes,time_per_agenda_item,complete_preapproved_changes,auto_add_agenda_decisions,agenda_locked,conference_details,sys_updated_on";
const ITEM_FIELDS: &str = "sys_id,cab_meeting,task,task.number,order,state,decision,alotted_time,elapsed_time,short_description,sys_created_on,sys_updated_on";
const ATTENDEE_FIELDS: &str =
    "sys_id,cab_meeting,attendee,reason,attendance,attending_for_tasks,joined_at";
const RUNTIME_FIELDS: &str = "sys_id,cab_meeting,current_agenda_item,current_agenda_item_start,timer_state,host,agenda_update_at";

const READ_ADVICE: &str = "Reading CAB meetings needs the itil, sn_change_read or sn_change_cab.cab_manager role; ask your ServiceNow administrator.";
const WRITE_ADVICE: &str = "Only the meeting's manager and its delegates may run it; if you are one of them, the instance's ACLs do not allow it over the REST API; ask your ServiceNow administrator.";
const CREATE_ADVICE: &str = "Creating a meeting needs the sn_change_cab.cab_manager role; ask your ServiceNow administrator.";

/// A 403 on the CAB tables, in words that say what is needed.
fn refused(e: BackendError, advice: &'static str) -> BackendError {
    match e {
        BackendError::Forbidden { what, message } => BackendError::Refused {
            what,
            message,
            advice,
        },
        e => e,
    }
}

fn bad(table: &'static str, sys_id: &str, problem: String) -> BackendError {
    BackendError::BadRecord {
        table,
        sys_id: sys_id.to_string(),
        problem,
    }
}

fn time(row: &Row<'_>, name: &str) -> Option<DateTime<Utc>> {
    convert::time_value(row, name)
}

/// A reference field as a user.
fn user_ref(row: &Row<'_>, name: &str) -> UserRef {
    UserRef {
        sys_id: row.value(name),
        name: row.display(name),
        ..Default::default()
    }
}

/// A `glide_list` of users: the value is their sys_ids joined by commas, the display value
/// their names joined by ", " (matched by position when the counts agree).
fn user_list(row: &Row<'_>, name: &str) -> Vec<UserRef> {
    let ids: Vec<String> = row
        .value(name)
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let display = row.display(name);
    let names: Vec<&str> = display.split(", ").collect();
    let named = names.len() == ids.len() && display != row.value(name);
    ids.into_iter()
        .enumerate()
        .map(|(i, sys_id)| UserRef {
            name: if named {
                names[i].to_string()
            } else {
                String::new()
            },
            sys_id,
            ..Default::default()
        })
        .collect()
}

/// A duration field in seconds. The Table API's value is the span as a time after the epoch
/// (`1970-01-01 00:10:00`); `HH:MM:SS`, `D HH:MM:SS` and plain seconds are read too.
pub(crate) fn duration(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if s.is_empty() {
        return Some(0);
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (days, clock) = match s.split_once(' ') {
        Some((d, c)) => (d.parse::<i64>().ok()?, c),
        None => (0, s),
    };
    let parts: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse::<i64>())
        .collect::<Result<_, _>>()
        .ok()?;
    let [h, m, sec] = parts[..] else {
        return None;
    };
    Some(days * 86400 + h * 3600 + m * 60 + sec)
}

/// A duration as the Table API stores it.
pub(crate) fn duration_value(secs: i64) -> String {
    Utc.timestamp_opt(secs.max(0), 0)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn flag(row: &Row<'_>, name: &str) -> bool {
    matches!(row.value(name).trim(), "true" | "1")
}

fn meeting(row: &Row<'_>) -> Result<Meeting, BackendError> {
    let sys_id = row.value("sys_id");
    let mut m = Meeting {
        name: row.display("name"),
        state: MeetingState::from_value(&row.value("state")),
        start: time(row, "start"),
        end: time(row, "end"),
        actual_end: time(row, "actual_end"),
        manager: user_ref(row, "manager"),
        delegates: user_list(row, "delegates"),
        board_members: user_list(row, "board_members"),
        notes: notes_text(&row.value("meeting_notes")),
        time_per_item: duration(&row.value("time_per_agenda_item")).unwrap_or(600),
        complete_preapproved: flag(row, "complete_preapproved_changes"),
        auto_add_decisions: flag(row, "auto_add_agenda_decisions"),
        agenda_locked: flag(row, "agenda_locked"),
        conference: row.display("conference_details"),
        sys_updated_on: time(row, "sys_updated_on"),
        sys_id: sys_id.clone(),
    };
    m.sanitize().map_err(|p| bad("cab_meeting", &sys_id, p))?;
    Ok(m)
}

fn item(row: &Row<'_>) -> Result<AgendaItem, BackendError> {
    let sys_id = row.value("sys_id");
    let b = |p: String| bad("cab_agenda_item", &sys_id, p);
    let order = match row.value("order").trim() {
        "" => 0,
        o => o
            .parse::<f64>()
            .map(|f| f as i64)
            .map_err(|_| b(format!("its order {o:?} is not a number")))?,
    };
    let mut number = row.display("task.number");
    if number.is_empty() {
        number = row.display("task");
    }
    let mut i = AgendaItem {
        change_sys_id: row.value("task"),
        number,
        short_description: row.display("short_description"),
        order,
        state: ItemState::from_value(&row.value("state")),
        decision: ItemDecision::from_value(&row.value("decision")),
        allotted: duration(&row.value("alotted_time"))
            .ok_or_else(|| b("its allotted time is not a duration".into()))?,
        elapsed: duration(&row.value("elapsed_time"))
            .ok_or_else(|| b("its elapsed time is not a duration".into()))?,
        added_at: time(row, "sys_created_on"),
        sys_updated_on: time(row, "sys_updated_on"),
        sys_id: sys_id.clone(),
    };
    i.sanitize().map_err(b)?;
    Ok(i)
}

fn attendee(row: &Row<'_>) -> Result<Attendee, BackendError> {
    let sys_id = row.value("sys_id");
    let mut a = Attendee {
        user: user_ref(row, "attendee"),
        reason: AttendeeReason::from_value(&row.value("reason")),
        attendance: Attendance::from_value(&row.value("attendance")),
        for_changes: row
            .value("attending_for_tasks")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        joined_at: time(row, "joined_at"),
        sys_id: sys_id.clone(),
    };
    a.sanitize().map_err(|p| bad("cab_attendee", &sys_id, p))?;
    Ok(a)
}

fn runtime(row: &Row<'_>) -> Result<Runtime, BackendError> {
    let sys_id = row.value("sys_id");
    let current = row.value("current_agenda_item");
    let mut r = Runtime {
        current_item: (!current.is_empty()).then_some(current),
        current_start: time(row, "current_agenda_item_start"),
        timer_state: row.value("timer_state"),
        host: user_ref(row, "host"),
        agenda_update_at: time(row, "agenda_update_at"),
        sys_id: sys_id.clone(),
    };
    r.sanitize()
        .map_err(|p| bad("cab_runtime_state", &sys_id, p))?;
    Ok(r)
}

/// The newest entry of a journal field's history (display value: newest first, each entry a
/// header line `<time> - <name> (<label>)` and its text, entries apart by a blank line). An
/// entry's text may itself hold blank lines: it ends only where the next header starts.
pub(crate) fn latest_entry(history: &str) -> String {
    let text = history.trim_start();
    // `2026-11-25 12:00:00 - Alice Moreno (Comments)`, in whatever date format the user has.
    let header = |l: &str| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" - ");
    let mut lines = text.lines();
    match lines.next() {
        Some(first) if header(first) => {
            let mut out: Vec<&str> = Vec::new();
            let mut after_blank = false;
            for l in lines {
                if after_blank && header(l) {
                    break;
                }
                after_blank = l.trim().is_empty();
                out.push(l);
            }
            out.join("\n").trim().to_string()
        }
        _ => text.split("\n\n").next().unwrap_or("").trim().to_string(),
    }
}

impl ServiceNow {
    /// Every row of a CAB table matching `query` (an empty list: v1's 404 is none).
    async fn cab_rows<T: Send>(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        what: &str,
        convert: Convert<'_, T>,
    ) -> Result<Vec<T>, BackendError> {
        match self
            .get_all(table, query, fields, what, convert, &no_progress)
            .await
        {
            Err(BackendError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(refused(e, READ_ADVICE)),
            ok => ok,
        }
    }

    pub(super) async fn cab_meetings_of(
        &self,
        user: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeetingSummary>, BackendError> {
        check_id(user)?;
        let (f, t) = (stamp(from), stamp(to));
        let mine = format!(
            "start>={f}^start<={t}^manager={user}^ORdelegatesLIKE{user}^ORboard_membersLIKE{user}^NQstate=in_progress^manager={user}^ORdelegatesLIKE{user}^ORboard_membersLIKE{user}"
        );
        let mut meetings: Vec<Meeting> = self
            .cab_rows(
                "cab_meeting",
                &format!("{mine}^ORDERBYstart"),
                MEETING_FIELDS,
                "CAB meetings",
                &|row| meeting(row),
            )
            .await?;
        // Meetings the user is invited to without being on the board.
        let invited: Vec<String> = self
            .cab_rows(
                "cab_attendee",
                &format!("attendee={user}^cab_meeting.start>={f}^cab_meeting.start<={t}"),
                "sys_id,cab_meeting",
                "CAB attendees",
                &|row| Ok(row.value("cab_meeting")),
            )
            .await?;
        let known: HashSet<String> = meetings.iter().map(|m| m.sys_id.clone()).collect();
        let more: Vec<String> = invited
            .iter()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        more.iter().try_for_each(|id| check_id(id))?;
        if !more.is_empty() {
            let extra = self
                .cab_rows(
                    "cab_meeting",
                    &format!("sys_idIN{}", more.join(",")),
                    MEETING_FIELDS,
                    "CAB meetings",
                    &|row| meeting(row),
                )
                .await?;
            meetings.extend(extra);
        }
        if meetings.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = meetings.iter().map(|m| m.sys_id.clone()).collect();
        let items: Vec<(String, ItemState)> = self
            .cab_rows(
                "cab_agenda_item",
                &format!("cab_meetingIN{}", ids.join(",")),
                "sys_id,cab_meeting,state",
                "agenda items",
                &|row| {
                    Ok((
                        row.value("cab_meeting"),
                        ItemState::from_value(&row.value("state")),
                    ))
                },
            )
            .await?;
        let invited: HashSet<String> = invited.into_iter().collect();
        Ok(meetings
            .into_iter()
            .map(|m| {
                let of: Vec<&ItemState> = items
                    .iter()
                    .filter(|(id, _)| *id == m.sys_id)
                    .map(|(_, s)| s)
                    .collect();
                MeetingSummary {
                    items: of.len(),
                    open_items: of.iter().filter(|s| !s.is_closed()).count(),
                    attendee: invited.contains(&m.sys_id),
                    meeting: m,
                }
            })
            .collect())
    }

    pub(super) async fn cab_meeting_detail(
        &self,
        sys_id: &str,
    ) -> Result<Option<MeetingDetail>, BackendError> {
        let record = self
            .get_record("cab_meeting", sys_id, MEETING_FIELDS, "the CAB meeting")
            .await
            .map_err(|e| refused(e, READ_ADVICE))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let meeting = meeting(&Row::new(&record))?;
        let by_meeting = format!("cab_meeting={sys_id}");
        let items = self
            .cab_rows(
                "cab_agenda_item",
                &format!("{by_meeting}^ORDERBYorder"),
                ITEM_FIELDS,
                "the agenda",
                &|row| item(row),
            )
            .await?;
        let attendees = self
            .cab_rows(
                "cab_attendee",
                &by_meeting,
                ATTENDEE_FIELDS,
                "the attendees",
                &|row| attendee(row),
            )
            .await?;
        let runtime = self
            .cab_rows(
                "cab_runtime_state",
                &format!("{by_meeting}^ORDERBYDESCsys_updated_on"),
                RUNTIME_FIELDS,
                "the meeting's live state",
                &|row| runtime(row),
            )
            .await?
            .into_iter()
            .next();
        let change_ids: Vec<String> = items
            .iter()
            .map(|i| i.change_sys_id.clone())
            .filter(|id| !id.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let changes = if change_ids.is_empty() {
            Some(HashMap::new())
        } else {
            self.change_records(change_ids.clone()).await?
        };
        let readable = changes.is_some();
        let changes = changes.unwrap_or_default();
        let approvals = if change_ids.is_empty() {
            Vec::new()
        } else {
            self.agenda_approvals(&change_ids, &changes).await?
        };
        let mut order: Vec<&AgendaItem> = items.iter().collect();
        order.sort_by_key(|i| i.order);
        let mut detail = MeetingDetail {
            changes: order
                .iter()
                .filter_map(|i| changes.get(&i.change_sys_id).cloned())
                .collect(),
            meeting,
            items,
            attendees,
            runtime,
            approvals,
            all_approvals: readable,
        };
        detail
            .sanitize()
            .map_err(|p| bad("cab_meeting", sys_id, p))?;
        Ok(Some(detail))
    }

    /// The approvals on the agenda's changes with their latest comment. The change is the
    /// full record where it could be read.
    async fn agenda_approvals(
        &self,
        change_ids: &[String],
        changes: &HashMap<String, Change>,
    ) -> Result<Vec<AgendaApproval>, BackendError> {
        let fields = convert::approval_fields(&["comments"], &[]);
        let query = format!(
            "sysapprovalIN{}^source_table=change_request^ORDERBYsys_created_on",
            change_ids.join(",")
        );
        let rows = match self
            .get_all(
                "sysapproval_approver",
                &query,
                &fields,
                "the agenda's approvals",
                &|row| {
                    let mut approval = convert::approval(row)?;
                    if approval.change.detail_source == DetailSource::Summary
                        && let Some(c) = changes.get(&approval.change.sys_id)
                    {
                        approval.change = c.clone();
                    }
                    Ok(AgendaApproval {
                        approval,
                        comment: latest_entry(&row.display("comments")),
                    })
                },
                &no_progress,
            )
            .await
        {
            Err(BackendError::NotFound { .. }) => Vec::new(),
            other => other?,
        };
        Ok(rows)
    }

    pub(super) async fn cab_write_moves(&self, w: &MoveWrites) -> Result<(), BackendError> {
        let write_err = |e| refused(e, WRITE_ADVICE);
        // Items that stop being discussed first, then the one that starts.
        let (opening, closing): (Vec<_>, Vec<_>) = w
            .items
            .iter()
            .partition(|u| u.state == Some(ItemState::InProgress));
        for u in closing.into_iter().chain(opening) {
            let mut body = Map::new();
            if let Some(s) = &u.state {
                body.insert("state".into(), json!(s.value()));
            }
            if let Some(d) = &u.decision {
                body.insert("decision".into(), json!(d.value()));
            }
            if let Some(e) = u.elapsed {
                body.insert("elapsed_time".into(), json!(duration_value(e)));
            }
            if let Some(o) = u.order {
                body.insert("order".into(), json!(o.to_string()));
            }
            self.patch_record(
                "cab_agenda_item",
                &u.sys_id,
                &Value::Object(body),
                "the agenda item",
            )
            .await
            .map_err(write_err)?;
        }
        if let Some(r) = &w.runtime {
            let mut body = Map::new();
            if let Some(c) = &r.current_item {
                body.insert(
                    "current_agenda_item".into(),
                    json!(c.clone().unwrap_or_default()),
                );
            }
            if let Some(t) = r.current_start {
                body.insert("current_agenda_item_start".into(), json!(stamp(t)));
            }
            if let Some(s) = &r.timer_state {
                body.insert("timer_state".into(), json!(s));
            }
            if let Some(h) = &r.host {
                check_id(h)?;
                body.insert("host".into(), json!(h));
            }
            body.insert("agenda_update_at".into(), json!(stamp(r.agenda_update_at)));
            match &r.sys_id {
                Some(id) => {
                    self.patch_record(
                        "cab_runtime_state",
                        id,
                        &Value::Object(body),
                        "the meeting's live state",
                    )
                    .await
                    .map_err(write_err)?;
                }
                None => {
                    check_id(&r.meeting_sys_id)?;
                    body.insert("cab_meeting".into(), json!(r.meeting_sys_id));
                    self.post_record(
                        "cab_runtime_state",
                        &Value::Object(body),
                        "the meeting's live state",
                    )
                    .await
                    .map_err(write_err)?;
                }
            }
        }
        if let Some(m) = &w.meeting {
            let mut body = Map::new();
            if let Some(s) = &m.state {
                body.insert("state".into(), json!(s.value()));
            }
            if let Some(t) = m.actual_end {
                body.insert("actual_end".into(), json!(stamp(t)));
            }
            self.patch_record(
                "cab_meeting",
                &m.sys_id,
                &Value::Object(body),
                "the CAB meeting",
            )
            .await
            .map_err(write_err)?;
        }
        Ok(())
    }

    pub(super) async fn cab_append(
        &self,
        meeting: &str,
        lines: &[String],
    ) -> Result<(), BackendError> {
        if lines.is_empty() {
            return Ok(());
        }
        // Appended to the notes as they are now, read just before.
        let record = self
            .get_record(
                "cab_meeting",
                meeting,
                "sys_id,meeting_notes",
                "the CAB meeting",
            )
            .await
            .map_err(|e| refused(e, READ_ADVICE))?
            .ok_or_else(|| BackendError::NotFound {
                what: "CAB meeting".into(),
            })?;
        let mut notes = Row::new(&record).value("meeting_notes");
        for l in lines {
            notes.push_str(&format!("<p>{}</p>", html_escape(l)));
        }
        self.patch_record(
            "cab_meeting",
            meeting,
            &json!({ "meeting_notes": notes }),
            "the meeting notes",
        )
        .await
        .map_err(|e| refused(e, WRITE_ADVICE))?;
        Ok(())
    }

    pub(super) async fn cab_mark_joined(
        &self,
        attendee: &str,
        at: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        self.patch_record(
            "cab_attendee",
            attendee,
            &json!({ "attendance": "attending", "joined_at": stamp(at) }),
            "your attendance",
        )
        .await
        .map(drop)
    }

    pub(super) async fn cab_create(&self, d: &Convene) -> Result<String, BackendError> {
        check_id(&d.manager.sys_id)?;
        let record = self
            .post_record(
                "cab_meeting",
                &json!({
                    "name": d.name,
                    "manager": d.manager.sys_id,
                    "state": "pending",
                    "start": stamp(d.start),
                    "end": stamp(d.end),
                    "time_per_agenda_item": duration_value(d.per_item),
                    "auto_add_agenda_decisions": "true",
                }),
                "the CAB meeting",
            )
            .await
            .map_err(|e| refused(e, CREATE_ADVICE))?;
        let meeting = Row::new(&record).value("sys_id");
        check_id(&meeting)?;
        for (n, (change, _)) in d.changes.iter().enumerate() {
            check_id(change)?;
            self.post_record(
                "cab_agenda_item",
                &json!({
                    "cab_meeting": meeting,
                    "task": change,
                    "order": ((n + 1) * 100).to_string(),
                    "alotted_time": duration_value(d.per_item),
                }),
                "an agenda item",
            )
            .await
            .map_err(|e| refused(e, CREATE_ADVICE))?;
        }
        for (who, reason, tasks) in &d.attendees {
            check_id(&who.sys_id)?;
            let reason = match reason {
                AttendeeReason::Manager => "cab_manager",
                AttendeeReason::Board => "cab_board",
                _ => "attendee",
            };
            self.post_record(
                "cab_attendee",
                &json!({
                    "cab_meeting": meeting,
                    "attendee": who.sys_id,
                    "reason": reason,
                    "attending_for_tasks": tasks.join(","),
                }),
                "an attendee",
            )
            .await
            .map_err(|e| refused(e, CREATE_ADVICE))?;
        }
        Ok(meeting)
    }

    pub(super) async fn changes_numbered(
        &self,
        numbers: &[String],
    ) -> Result<Vec<Change>, BackendError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        for n in numbers {
            if !n.chars().all(|c| c.is_ascii_alphanumeric()) || n.is_empty() {
                return Err(BackendError::BadRequest {
                    status: 400,
                    message: format!(
                        "{:?} is not a change number",
                        crate::domain::text::clean_line(n, 40)
                    ),
                });
            }
        }
        let fields = convert::change_fields(&[]);
        match self
            .get_all(
                "change_request",
                &format!("numberIN{}", numbers.join(",")),
                &fields,
                "change requests",
                &|row| convert::change_record(row),
                &no_progress,
            )
            .await
        {
            Err(BackendError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// A change by number with its `approval` field and its approvals (for the gate).
    pub(super) async fn change_status_of(
        &self,
        number: &str,
    ) -> Result<Option<crate::domain::gate::ChangeStatus>, BackendError> {
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BackendError::BadRequest {
                status: 400,
                message: format!(
                    "{:?} is not a change number",
                    crate::domain::text::clean_line(number, 40)
                ),
            });
        }
        let fields = convert::change_fields(&["approval"]);
        let found = self
            .get_all(
                "change_request",
                &format!("number={number}"),
                &fields,
                "the change request",
                &|row| Ok((convert::change_record(row)?, row.value("approval"))),
                &no_progress,
            )
            .await;
        let rows = match found {
            Err(BackendError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let Some((change, approval)) = rows.into_iter().find(|(c, _)| c.number == number) else {
            return Ok(None);
        };
        let mut changes = HashMap::new();
        changes.insert(change.sys_id.clone(), change.clone());
        let approvals = self
            .agenda_approvals(std::slice::from_ref(&change.sys_id), &changes)
            .await?;
        Ok(Some(crate::domain::gate::ChangeStatus {
            change,
            approval: crate::domain::text::clean_line(&approval, 40),
            approvals,
        }))
    }

    /// POSTs a record and answers it (value mode).
    async fn post_record(
        &self,
        table: &str,
        body: &Value,
        what: &str,
    ) -> Result<Map<String, Value>, BackendError> {
        let url = self.table_url(table, &[("sysparm_exclude_reference_link", "true")]);
        let (_, json) = self
            .http
            .send(reqwest::Method::POST, url, Some(body), what)
            .await?;
        result_object(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_every_form_and_write_as_the_api_stores_them() {
        assert_eq!(duration("1970-01-01 00:10:00"), Some(600));
        assert_eq!(duration("1970-01-02 01:00:05"), Some(86400 + 3605));
        assert_eq!(duration("00:15:00"), Some(900));
        assert_eq!(duration("2 01:00:00"), Some(2 * 86400 + 3600));
        assert_eq!(duration("90"), Some(90));
        assert_eq!(duration(""), Some(0));
        assert_eq!(duration("ten minutes"), None);
        assert_eq!(duration_value(600), "1970-01-01 00:10:00");
        assert_eq!(duration_value(86400 + 61), "1970-01-02 00:01:01");
    }

    #[test]
    fn the_latest_journal_entry_is_the_justification() {
        let h = "2026-11-25 12:00:00 - Alice Moreno (Comments)\nLooks fine.\n[signoff ref abc]\n\n2026-11-24 09:00:00 - Ben (Comments)\nOlder.\n\n";
        assert_eq!(latest_entry(h), "Looks fine.\n[signoff ref abc]");
        // A justification in paragraphs, with signoff's delegate line, stays whole.
        let h = "2026-11-25 12:00:00 - Alice Moreno (Comments)\nFirst reason.\n\nSecond reason.\n\n(decided by Alice Moreno on behalf of Carla Diaz)\n[signoff ref abc]\n\n2026-11-24 09:00:00 - Ben (Comments)\nOlder.\n";
        assert_eq!(
            latest_entry(h),
            "First reason.\n\nSecond reason.\n\n(decided by Alice Moreno on behalf of Carla Diaz)\n[signoff ref abc]"
        );
        assert_eq!(latest_entry(""), "");
        assert_eq!(latest_entry("just text"), "just text");
    }
}
