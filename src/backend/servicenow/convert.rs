//! Wire rows → domain types. Tolerates every shape the API uses; rejects values that make no
//! sense (a date that is not a date, a risk of 9) with an error naming the record and field.
//!
//! Strings are copied as the server sent them; the domain's `sanitize` then cleans every one
//! and checks every id, once, for every record (the boundary).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::wire::Row;
use crate::backend::BackendError;
use crate::domain::text::clean_line;
use crate::domain::{
    Approval, ApprovalState, Change, ChangeType, Delegation, DetailSource, Level, LongTexts, Risk,
    User, UserRef,
};

/// Task-level fields: these resolve when dot-walked through the approval's `task` reference.
pub(crate) const TASK_FIELDS: &[&str] = &[
    "number",
    "short_description",
    "description",
    "impact",
    "urgency",
    "state",
    "assignment_group",
    "cmdb_ci",
    "business_service",
    "opened_by",
    "sys_updated_on",
];

/// Through the change's configuration item: its class and environment (from an approval row
/// a second dot-walk; an instance that does not answer it leaves them empty).
pub(crate) const CHANGE_RECORD_FIELDS: &[&str] = &["cmdb_ci.sys_class_name", "cmdb_ci.environment"];

/// Fields only on `change_request`; whether they resolve through the `task` reference varies
/// between instances (reference §3.3), so both answers are handled.
pub(crate) const CHANGE_ONLY_FIELDS: &[&str] = &[
    "type",
    "risk",
    "requested_by",
    "start_date",
    "end_date",
    "justification",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "risk_impact_analysis",
    "on_hold",
    "category",
    "cab_required",
    "cab_recommendation",
];

pub(crate) const APPROVAL_FIELDS: &[&str] = &[
    "sys_id",
    "state",
    "approver",
    // Where the approver works (follow the sun, business hours in their zone).
    "approver.time_zone",
    "sysapproval",
    "document_id",
    "source_table",
    "group",
    // The group approval's group by name (the group approval itself displays as GAPP…).
    "group.assignment_group",
    "due_date",
    "approval_source",
    "sys_created_on",
    "sys_updated_on",
];

/// The change's long texts: left out of a full pull's pages and fetched after the queue is
/// usable ([`approval_fields_without_texts`], [`long_texts`]).
pub(crate) const LONG_TEXT_FIELDS: &[&str] = &[
    "description",
    "justification",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "risk_impact_analysis",
];

/// [`approval_fields`] without the change's long texts (a full pull's pages).
pub(crate) fn approval_fields_without_texts() -> String {
    approval_fields(&[], &[])
        .split(',')
        .filter(|f| {
            f.strip_prefix("sysapproval.")
                .is_none_or(|name| !LONG_TEXT_FIELDS.contains(&name))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `sysparm_fields` of the second pass: each approval's `sys_id` and its change's long texts.
pub(crate) fn long_text_fields() -> String {
    std::iter::once("sys_id".to_string())
        .chain(LONG_TEXT_FIELDS.iter().map(|f| format!("sysapproval.{f}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// An approval row of the second pass: its sys_id and its change's long texts (sanitised when
/// set on the change).
pub(crate) fn long_texts(row: &Row<'_>) -> Result<(String, LongTexts), BackendError> {
    let sys_id = required_id(row, "sys_id", "sysapproval_approver", "")?;
    let text = |name: &str| row.display(&format!("sysapproval.{name}"));
    Ok((
        sys_id,
        LongTexts {
            description: text("description"),
            justification: text("justification"),
            implementation_plan: text("implementation_plan"),
            backout_plan: text("backout_plan"),
            test_plan: text("test_plan"),
            risk_impact_analysis: text("risk_impact_analysis"),
        },
    ))
}

/// `sysparm_fields` for change records: `sys_id`, `extra`, and every change field.
pub(crate) fn change_fields(extra: &[&str]) -> String {
    let mut fields: Vec<&str> = vec!["sys_id"];
    fields.extend(extra);
    fields.extend(TASK_FIELDS);
    fields.extend(CHANGE_ONLY_FIELDS);
    fields.extend(CHANGE_RECORD_FIELDS);
    fields.join(",")
}

/// `sysparm_fields` for approval rows: their own fields and `own`, and every change field
/// through `sysapproval` with `change_extra`.
pub(crate) fn approval_fields(own: &[&str], change_extra: &[&str]) -> String {
    let mut fields: Vec<String> = APPROVAL_FIELDS
        .iter()
        .chain(own)
        .map(|s| s.to_string())
        .collect();
    for f in TASK_FIELDS
        .iter()
        .chain(CHANGE_ONLY_FIELDS)
        .chain(CHANGE_RECORD_FIELDS)
        .chain(change_extra)
    {
        fields.push(format!("sysapproval.{f}"));
    }
    fields.join(",")
}

pub(crate) fn user(row: &Row<'_>) -> Result<User, BackendError> {
    let sys_id = required_id(row, "sys_id", "sys_user", "")?;
    let mut user = User {
        user_name: row.value("user_name"),
        name: row.display("name"),
        email: row.value("email"),
        sys_id: sys_id.clone(),
    };
    user.sanitize().map_err(|problem| BackendError::BadRecord {
        table: "sys_user",
        sys_id,
        problem,
    })?;
    Ok(user)
}

pub(crate) const DELEGATION_FIELDS: &str =
    "sys_id,user,user.time_zone,delegate,delegate.time_zone,starts,ends,approvals";

/// A `sys_user_delegate` row.
pub(crate) fn delegation(row: &Row<'_>) -> Result<Delegation, BackendError> {
    let sys_id = required_id(row, "sys_id", "sys_user_delegate", "")?;
    let bad = |problem: String| BackendError::BadRecord {
        table: "sys_user_delegate",
        sys_id: sys_id.clone(),
        problem,
    };
    let user_ref = |name: &str| UserRef {
        sys_id: row.value(name),
        name: row.display(name),
        time_zone: row.value(&format!("{name}.time_zone")),
    };
    let user = user_ref("user");
    let delegate = user_ref("delegate");
    if user.sys_id.is_empty() || delegate.sys_id.is_empty() {
        return Err(bad("it names no user or no delegate".into()));
    }
    let mut d = Delegation {
        user,
        delegate,
        starts: date_time(row, "starts").map_err(&bad)?,
        ends: date_time(row, "ends").map_err(&bad)?,
        approvals: boolean(&row.value("approvals")).map_err(|e| bad(format!("approvals: {e}")))?,
        sys_id: sys_id.clone(),
    };
    d.sanitize().map_err(bad)?;
    Ok(d)
}

/// Whether the approval row carries the change-only fields (the instance resolved them).
pub(crate) fn has_change_fields(row: &Row<'_>) -> bool {
    row.field("sysapproval.type").is_some() || row.field("sysapproval.risk").is_some()
}

/// An approval row with its dot-walked `sysapproval.*` fields.
pub(crate) fn approval(row: &Row<'_>) -> Result<Approval, BackendError> {
    let sys_id = required_id(row, "sys_id", "sysapproval_approver", "")?;
    let bad = |problem: String| BackendError::BadRecord {
        table: "sysapproval_approver",
        sys_id: sys_id.clone(),
        problem,
    };
    let requested_at = date_time(row, "sys_created_on")
        .map_err(&bad)?
        .ok_or_else(|| bad("it has no creation time (sys_created_on)".into()))?;
    let mut change_id = row.value("sysapproval");
    if change_id.is_empty() {
        change_id = row.value("document_id");
    }
    if change_id.is_empty() {
        return Err(bad("it does not say which change it approves".into()));
    }
    let mut change = change(row, "sysapproval.", change_id).map_err(&bad)?;
    // A page without the long texts (a full pull's) leaves them for the second pass.
    let texts_left_out = LONG_TEXT_FIELDS
        .iter()
        .all(|f| row.field(&format!("sysapproval.{f}")).is_none());
    change.detail_source = match (has_change_fields(row), texts_left_out) {
        (true, false) => DetailSource::Full,
        (true, true) => DetailSource::TextsPending,
        (false, _) => DetailSource::Summary,
    };
    let group = match row.display("group.assignment_group") {
        name if !name.trim().is_empty() => name,
        _ => row.display("group"),
    };
    let mut approval = Approval {
        state: ApprovalState::from_value(&row.value("state")),
        approver: UserRef {
            sys_id: row.value("approver"),
            name: row.display("approver"),
            time_zone: row.value("approver.time_zone"),
        },
        requested_at,
        due_date: date_time(row, "due_date").map_err(&bad)?,
        group: (!group.trim().is_empty()).then_some(group),
        source: row.display("approval_source"),
        sys_updated_on: date_time(row, "sys_updated_on").map_err(&bad)?,
        change,
        sys_id: sys_id.clone(),
    };
    approval.sanitize().map_err(bad)?;
    Ok(approval)
}

/// An approval row of the queue's query, `None` when it approves something other than a
/// change (`source_table`), which the query did not ask for.
pub(crate) fn change_approval(row: &Row<'_>) -> Result<Option<Approval>, BackendError> {
    let table = row.value("source_table");
    if !table.is_empty() && table != "change_request" {
        return Ok(None);
    }
    approval(row).map(Some)
}

/// A `change_request` row read directly.
pub(crate) fn change_record(row: &Row<'_>) -> Result<Change, BackendError> {
    let sys_id = required_id(row, "sys_id", "change_request", "")?;
    let bad = |problem| BackendError::BadRecord {
        table: "change_request",
        sys_id: sys_id.clone(),
        problem,
    };
    let mut c = change(row, "", sys_id.clone()).map_err(bad)?;
    c.detail_source = DetailSource::Full;
    c.sanitize().map_err(bad)?;
    Ok(c)
}

/// The change fields under a prefix ("" on the change itself, "sysapproval." on an approval).
fn change(row: &Row<'_>, prefix: &str, sys_id: String) -> Result<Change, String> {
    let f = |name: &str| format!("{prefix}{name}");
    let line = |name: &str| row.display(&f(name));
    let text = |name: &str| row.display(&f(name));
    let type_value = row.value(&f("type"));
    Ok(Change {
        number: line("number"),
        short_description: line("short_description"),
        description: text("description"),
        change_type: (!type_value.is_empty()).then(|| ChangeType::parse(&type_value)),
        risk: Risk::from_value(&row.value(&f("risk")))
            .map_err(|e| format!("{}: {e}", f("risk")))?,
        impact: Level::from_value(&row.value(&f("impact")))
            .map_err(|e| format!("{}: {e}", f("impact")))?,
        urgency: Level::from_value(&row.value(&f("urgency")))
            .map_err(|e| format!("{}: {e}", f("urgency")))?,
        state: line("state"),
        requested_by: {
            let mut who = UserRef {
                sys_id: row.value(&f("requested_by")),
                name: line("requested_by"),
                ..Default::default()
            };
            if who.sys_id.is_empty() && who.name.is_empty() {
                who = UserRef {
                    sys_id: row.value(&f("opened_by")),
                    name: line("opened_by"),
                    ..Default::default()
                };
            }
            who
        },
        assignment_group: line("assignment_group"),
        configuration_item: line("cmdb_ci"),
        category: line("category"),
        service: line("business_service"),
        ci_class: line("cmdb_ci.sys_class_name"),
        environment: line("cmdb_ci.environment"),
        start_date: date_time(row, &f("start_date"))?,
        end_date: date_time(row, &f("end_date"))?,
        justification: text("justification"),
        implementation_plan: text("implementation_plan"),
        backout_plan: text("backout_plan"),
        test_plan: text("test_plan"),
        risk_impact_analysis: text("risk_impact_analysis"),
        on_hold: boolean(&row.value(&f("on_hold")))
            .map_err(|e| format!("{}: {e}", f("on_hold")))?,
        cab_required: boolean(&row.value(&f("cab_required")))
            .map_err(|e| format!("{}: {e}", f("cab_required")))?,
        cab_recommendation: line("cab_recommendation"),
        instance_sla: None,
        sys_updated_on: date_time(row, &f("sys_updated_on"))?,
        detail_source: DetailSource::Summary,
        sys_id,
    })
}

fn required_id(
    row: &Row<'_>,
    name: &str,
    table: &'static str,
    context: &str,
) -> Result<String, BackendError> {
    let id = row.value(name);
    if crate::domain::text::is_record_id(&id) {
        Ok(id)
    } else {
        Err(BackendError::BadRecord {
            table,
            sys_id: if id.is_empty() {
                "no sys_id".into()
            } else {
                clean_line(&id, 40)
            },
            problem: format!("its {name} {context}is missing or not an identifier"),
        })
    }
}

/// Table API date-times are `YYYY-MM-DD HH:MM:SS` in UTC (value mode); date-only fields carry
/// `YYYY-MM-DD`. RFC 3339 is accepted too. Empty means no value.
fn date_time(row: &Row<'_>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = row.value(name);
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Ok(Some(t.and_utc()));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    Err(format!(
        "{name} is {:?}, which is not a date and time",
        clean_line(s, 40)
    ))
}

/// `sysparm_fields` for `task_sla` rows ([`instance_sla`]), with the task they time.
pub(crate) const INSTANCE_SLA_FIELDS: &str = "task,sla,stage,active,start_time,planned_end_time,has_breached,business_time_left,business_percentage";

/// One `task_sla` row; durations are times after the epoch (reference §2.1). Unreadable
/// values are left out rather than refused: the clock then falls back to signoff's estimate.
pub(crate) fn instance_sla(row: &Row<'_>) -> crate::domain::context::InstanceSla {
    let yes = |name: &str| matches!(row.value(name).trim(), "true" | "1");
    let mut sla = crate::domain::context::InstanceSla {
        name: row.display("sla"),
        stage: row.display("stage"),
        active: yes("active"),
        start_at: time_value(row, "start_time"),
        breach_at: time_value(row, "planned_end_time"),
        has_breached: yes("has_breached"),
        business_left: time_value(row, "business_time_left").map(|t| t.timestamp()),
        business_percentage: row
            .value("business_percentage")
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite())
            .map(|p| p.clamp(0.0, 100_000.0).round() as u32),
    };
    sla.sanitize();
    sla
}

/// A date-time field's value, `None` when empty or not a date-time.
pub(crate) fn time_value(row: &Row<'_>, name: &str) -> Option<DateTime<Utc>> {
    date_time(row, name).ok().flatten()
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approval_from_all_mode_row() {
        let v = json!({
            "sys_id": {"display_value": "a1", "value": "a1"},
            "state": {"display_value": "Requested", "value": "requested"},
            "approver": {"display_value": "Alice Moreno", "value": "u1"},
            "sysapproval": {"display_value": "CHG0030001", "value": "c1"},
            "sys_created_on": {"display_value": "2026-11-25 11:00:00", "value": "2026-11-25 10:00:00"},
            "due_date": {"display_value": "", "value": ""},
            "group": "",
            "sysapproval.number": {"display_value": "CHG0030001", "value": "CHG0030001"},
            "sysapproval.short_description": {"display_value": "Patch \u{1b}[31mrouter", "value": "x"},
            "sysapproval.type": {"display_value": "Normal", "value": "normal"},
            "sysapproval.risk": {"display_value": "High", "value": "2"},
            "sysapproval.impact": {"display_value": "1 - High", "value": "1"},
            "sysapproval.start_date": {"display_value": "x", "value": "2026-11-28 22:00:00"},
            "sysapproval.on_hold": {"display_value": "false", "value": "false"},
            "sysapproval.requested_by": {"display_value": "Ben Ishikawa", "value": "u2"},
            "sysapproval.justification": {"display_value": "Security fix", "value": "Security fix"},
            "extra_field": {"display_value": "ignored", "value": "ignored"}
        });
        // Without any long text the row is a full pull's page: its texts follow.
        let mut light = v.as_object().unwrap().clone();
        light.remove("sysapproval.justification");
        let pending = approval(&Row::new(&light)).unwrap();
        assert_eq!(pending.change.detail_source, DetailSource::TextsPending);
        assert_eq!(pending.change.justification, "");
        let a = approval(&Row::new(v.as_object().unwrap())).unwrap();
        assert_eq!(a.change.justification, "Security fix");
        assert_eq!(a.sys_id, "a1");
        assert_eq!(a.state, ApprovalState::Requested);
        assert_eq!(a.approver.name, "Alice Moreno");
        assert_eq!(a.requested_at.to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert_eq!(a.change.sys_id, "c1");
        assert_eq!(a.change.short_description, "Patch router");
        assert_eq!(a.change.risk, Some(Risk::High));
        assert_eq!(a.change.impact, Some(Level::High));
        assert_eq!(a.change.requested_by.name, "Ben Ishikawa");
        assert_eq!(a.change.detail_source, DetailSource::Full);
        assert!(a.due_date.is_none());
    }

    #[test]
    fn a_group_approval_shows_its_group_by_name() {
        let v = json!({
            "sys_id": "a1", "state": "requested", "sysapproval": "c1",
            "sys_created_on": "2026-11-25 10:00:00",
            "group": {"display_value": "GAPP0010001", "value": "g1"},
            "group.assignment_group": {"display_value": "Change Advisory Board", "value": "grp1"},
        });
        let a = approval(&Row::new(v.as_object().unwrap())).unwrap();
        assert_eq!(a.group.as_deref(), Some("Change Advisory Board"));
    }

    #[test]
    fn summary_when_change_fields_missing() {
        let v = json!({
            "sys_id": "a1", "state": "requested", "sysapproval": {"link": "https://x/api/now/table/task/c1", "value": "c1"},
            "sys_created_on": "2026-11-25 10:00:00",
            "sysapproval.number": "CHG1",
        });
        let a = approval(&Row::new(v.as_object().unwrap())).unwrap();
        assert_eq!(a.change.detail_source, DetailSource::Summary);
        assert_eq!(a.change.number, "CHG1");
        assert_eq!(a.change.risk, None);
    }

    #[test]
    fn nonsense_is_rejected_with_the_field_named() {
        let base = json!({"sys_id": "a1", "state": "requested", "sysapproval": "c1", "sys_created_on": "2026-11-25 10:00:00"});
        let mut bad_date = base.clone();
        bad_date["due_date"] = json!("next tuesday");
        let err = approval(&Row::new(bad_date.as_object().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("due_date") && err.contains("a1"), "{err}");

        let mut bad_risk = base.clone();
        bad_risk["sysapproval.risk"] = json!("9");
        let err = approval(&Row::new(bad_risk.as_object().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sysapproval.risk"), "{err}");

        let mut no_id = base.clone();
        no_id["sys_id"] = json!("");
        assert!(approval(&Row::new(no_id.as_object().unwrap())).is_err());

        let mut no_change = base.clone();
        no_change["sysapproval"] = json!("");
        assert!(approval(&Row::new(no_change.as_object().unwrap())).is_err());

        // Ids go into URLs and queries: a change id that is not an identifier is refused.
        let mut bad_change = base.clone();
        bad_change["sysapproval"] = json!("c1^ORstate=approved");
        let err = approval(&Row::new(bad_change.as_object().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("change sys_id"), "{err}");
        let mut bad_approver = base.clone();
        bad_approver["approver"] = json!("u1,u2");
        assert!(approval(&Row::new(bad_approver.as_object().unwrap())).is_err());

        let mut no_created = base;
        no_created["sys_created_on"] = json!("");
        assert!(approval(&Row::new(no_created.as_object().unwrap())).is_err());
    }
}
