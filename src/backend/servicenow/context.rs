//! The change in full for the detail view (issue 16): the approvals on the change, its
//! journal, attachments and CAB facts, in three reads. An instance that refuses a part (its
//! ACLs hide journal entries or attachments from approvers, reference §7.2) leaves that part
//! empty and named in `hidden`; only the first read failing is an error.

use super::paging::MAX_PAGE_ROWS;
use super::wire::Row;
use super::{ServiceNow, check_id, convert};
use crate::backend::BackendError;
use crate::domain::context::{Attachment, CabFacts, ChangeContext, OtherApproval, parse_history};
use crate::domain::history::ServerDecision;
use crate::domain::{User, UserRef};

/// Dot-walked from the user's own approval: whoever may read the approval may read these.
const CHANGE_FIELDS: &[&str] = &[
    "sysapproval.comments",
    "sysapproval.work_notes",
    "sysapproval.cab_required",
    "sysapproval.cab_date",
    "sysapproval.cab_recommendation",
    "sysapproval.cab_delegate",
    "sysapproval.conflict_status",
    "sysapproval.conflict_last_run",
];

impl ServiceNow {
    pub(super) async fn read_change_context(
        &self,
        approval_sys_id: &str,
        change_sys_id: &str,
    ) -> Result<ChangeContext, BackendError> {
        check_id(approval_sys_id)?;
        check_id(change_sys_id)?;
        let mut ctx = ChangeContext {
            change_sys_id: change_sys_id.to_string(),
            ..ChangeContext::default()
        };
        let record = self
            .get_record(
                "sysapproval_approver",
                approval_sys_id,
                &CHANGE_FIELDS.join(","),
                "the change's journal and CAB facts",
            )
            .await?;
        if let Some(record) = record {
            let row = Row::new(&record);
            // Newest first, both fields together.
            let mut journal = parse_history(&row.display("sysapproval.work_notes"));
            journal.extend(parse_history(&row.display("sysapproval.comments")));
            journal.sort_by(|a, b| b.at.cmp(&a.at));
            ctx.journal = journal;
            ctx.cab = CabFacts {
                required: matches!(row.value("sysapproval.cab_required").trim(), "true" | "1"),
                date: row.display("sysapproval.cab_date"),
                recommendation: row.display("sysapproval.cab_recommendation"),
                delegate: row.display("sysapproval.cab_delegate"),
                conflict_status: row.display("sysapproval.conflict_status"),
                conflict_last_run: row.display("sysapproval.conflict_last_run"),
            };
        }
        let approvals = self
            .get_all(
                "sysapproval_approver",
                &format!("sysapproval={change_sys_id}^ORDERBYsys_created_on"),
                "sys_id,approver,state,group,sys_updated_on,sys_updated_by,approval_source,comments",
                "the change's approvals",
                &|row| {
                    Ok(OtherApproval {
                        sys_id: row.value("sys_id"),
                        approver: UserRef {
                            sys_id: row.value("approver"),
                            name: row.display("approver"),
                            ..Default::default()
                        },
                        group: row.display("group"),
                        state: row.display("state"),
                        state_value: row.value("state"),
                        updated: convert::time_value(row, "sys_updated_on"),
                        comments: parse_history(&row.display("comments")),
                        source: row.display("approval_source"),
                        decided_by: row.value("sys_updated_by"),
                    })
                },
                &crate::backend::no_progress,
            )
            .await;
        match approvals {
            Ok(list) => ctx.approvals = list.into_iter().take(MAX_PAGE_ROWS).collect(),
            Err(BackendError::NotFound { .. }) => {}
            Err(e) => ctx.hidden.push(format!("the other approvals ({e})")),
        }
        let attachments = self
            .get_all(
                "sys_attachment",
                &format!("table_name=change_request^table_sys_id={change_sys_id}^ORDERBYfile_name"),
                "file_name,size_bytes,content_type",
                "the change's attachments",
                &|row| {
                    Ok(Attachment {
                        name: row.display("file_name"),
                        size: row.value("size_bytes").trim().parse().unwrap_or(0),
                        content_type: row.display("content_type"),
                    })
                },
                &crate::backend::no_progress,
            )
            .await;
        match attachments {
            Ok(list) => ctx.attachments = list,
            Err(BackendError::NotFound { .. }) => {}
            Err(e) => ctx.hidden.push(format!("the attachments ({e})")),
        }
        // The instance's own SLAs on the change; durations are times after the epoch.
        let slas = self
            .get_all(
                "task_sla",
                &format!("task={change_sys_id}^ORDERBYDESCactive^ORDERBYplanned_end_time"),
                convert::INSTANCE_SLA_FIELDS,
                "the change's SLAs",
                &|row| Ok(convert::instance_sla(row)),
                &crate::backend::no_progress,
            )
            .await;
        match slas {
            Ok(list) => ctx.slas = list.into_iter().take(20).collect(),
            Err(BackendError::NotFound { .. }) => {}
            Err(e) => ctx.hidden.push(format!("the change's SLAs ({e})")),
        }
        ctx.sanitize();
        Ok(ctx)
    }

    /// Approvals decided since `since` that are `me`'s or that `me` updated last (decisions
    /// made in the web UI or elsewhere), newest first, at most `limit`.
    pub(super) async fn read_decided(
        &self,
        me: &User,
        since: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<ServerDecision>, BackendError> {
        check_id(&me.sys_id)?;
        // The login goes into the encoded query: only when it cannot break out of it.
        let plain = !me.user_name.is_empty()
            && me
                .user_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        let by_me = if plain {
            format!("^ORsys_updated_by={}", me.user_name)
        } else {
            String::new()
        };
        let query = format!(
            "approver={}{by_me}^source_table=change_request^stateINapproved,rejected^sys_updated_on>={}^ORDERBYDESCsys_updated_on",
            me.sys_id,
            since.format("%Y-%m-%d %H:%M:%S")
        );
        let rows = self
            .get_all(
                "sysapproval_approver",
                &query,
                "sys_id,state,approver,sys_updated_on,sys_updated_by,approval_source,comments,sysapproval.number,sysapproval.short_description",
                "your decisions on the server",
                &|row| {
                    let id = row.value("sys_id");
                    check_id(&id)?;
                    let mut d = ServerDecision {
                        approval_sys_id: id,
                        number: row.display("sysapproval.number"),
                        title: row.display("sysapproval.short_description"),
                        state: row.value("state"),
                        decided_at: convert::time_value(row, "sys_updated_on"),
                        approver: UserRef {
                            sys_id: row.value("approver"),
                            name: row.display("approver"),
                            ..Default::default()
                        },
                        decided_by: row.value("sys_updated_by"),
                        comment: parse_history(&row.display("comments"))
                            .into_iter()
                            .next()
                            .map(|e| e.text)
                            .unwrap_or_default(),
                        source: row.display("approval_source"),
                    };
                    d.sanitize();
                    Ok(d)
                },
                &crate::backend::no_progress,
            )
            .await;
        match rows {
            Ok(mut list) => {
                list.retain(|d| matches!(d.state.as_str(), "approved" | "rejected"));
                list.truncate(limit);
                Ok(list)
            }
            Err(BackendError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
