//! `signoff cab list|show|minutes|convene`: CAB meetings from the command line.
//!
//! Online, each command reads the instance and refreshes the cache; `--offline` answers from
//! the cache the console (or an earlier command) filled. What is printed comes from the
//! domain's sanitised types only.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::connect::Session;
use super::{CabCommand, Failure, OutputFormat};
use crate::backend::Backend;
use crate::backend::servicenow::ServiceNow;
use crate::domain::cab::{AttendeeReason, Convene, MeetingDetail, MeetingSummary, When};
use crate::domain::{ChangeType, Clock, Policy, SlaClock, UserRef};
use crate::store::Store;

pub async fn run(s: &Session, cmd: CabCommand) -> Result<(), Failure> {
    let mut store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    let backend = if s.cli.offline {
        None
    } else {
        Some(s.connect(&clock)?)
    };
    let now = clock.now();
    match cmd {
        CabCommand::List => {
            let (list, me) = meetings(backend.as_ref(), &mut store, now).await?;
            print_list(&list, &me, s.output(), now)
        }
        CabCommand::Show { meeting } => {
            let (detail, me) = meeting_detail(backend.as_ref(), &mut store, &meeting, now).await?;
            print_agenda(&detail, &me, &s.policy(), s.output(), now)
        }
        CabCommand::Minutes {
            meeting,
            format,
            out,
        } => {
            if !matches!(format, OutputFormat::Md | OutputFormat::Json) {
                return Err(Failure::usage(
                    "The minutes are --format md or --format json.",
                ));
            }
            let (detail, _) = meeting_detail(backend.as_ref(), &mut store, &meeting, now).await?;
            let notes = crate::sync::cab::notes_by_item(&store, &detail)
                .map_err(|e| Failure::other(e.to_string()))?;
            let minutes = detail.minutes(&notes, now);
            let text = match format {
                OutputFormat::Json => super::json_text(&minutes)?,
                _ => minutes.to_markdown(),
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| {
                        Failure::other(format!(
                            "Could not write the minutes to {}: {e}.",
                            path.display()
                        ))
                    })?;
                    eprintln!(
                        "Wrote the minutes of {:?} to {}.",
                        detail.meeting.name,
                        path.display()
                    );
                    Ok(())
                }
                None => write_stdout(&text),
            }
        }
        CabCommand::Convene {
            changes,
            attendees,
            name,
            start,
            minutes_per_item,
        } => {
            s.writes()?;
            let Some(backend) = backend.as_ref() else {
                return Err(Failure::usage(
                    "A meeting is created on the instance; leave out --offline.",
                ));
            };
            convene(
                backend,
                &mut store,
                &changes,
                &attendees,
                name,
                start,
                minutes_per_item,
                now,
            )
            .await
        }
    }
}

/// The meetings list (and the user's sys_id): from the instance, or the cache offline.
async fn meetings(
    backend: Option<&ServiceNow>,
    store: &mut Store,
    now: DateTime<Utc>,
) -> Result<(Vec<MeetingSummary>, String), Failure> {
    match backend {
        Some(b) => {
            let user = b.current_user().await?;
            let list = crate::sync::cab::refresh_meetings(b, store, &user.sys_id, now)
                .await
                .map_err(Failure::other)?;
            Ok((list, user.sys_id))
        }
        None => {
            let (mut list, fetched) = store
                .meetings()
                .map_err(|e| Failure::other(e.to_string()))?;
            if fetched.is_none() {
                return Err(Failure::other(
                    "No CAB meetings are cached yet. Run `signoff cab list` online (or open them with C in the console) first.",
                ));
            }
            crate::domain::cab::sort_meetings(&mut list, now);
            Ok((list, cached_user(store)))
        }
    }
}

/// Whose the cached meetings are: recorded with the list (else the cached queue's user).
fn cached_user(store: &Store) -> String {
    store
        .meetings_user()
        .ok()
        .flatten()
        .or_else(|| {
            store
                .load_snapshot()
                .ok()
                .and_then(|s| s.user)
                .map(|u| u.sys_id)
        })
        .unwrap_or_default()
}

/// One meeting, named by sys_id or by a part of its name, read in full.
async fn meeting_detail(
    backend: Option<&ServiceNow>,
    store: &mut Store,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(MeetingDetail, String), Failure> {
    let (list, me) = meetings(backend, store, now).await?;
    let sys_id = pick(&list, name)?;
    match backend {
        Some(b) => match b.cab_meeting(&sys_id).await? {
            Some(detail) => {
                store
                    .save_meeting(&detail, now)
                    .map_err(|e| Failure::other(e.to_string()))?;
                Ok((detail, me))
            }
            None => Err(Failure::not_found(format!(
                "The instance shows no meeting {sys_id}: it was deleted, or you may not read it."
            ))),
        },
        None => match store
            .meeting(&sys_id)
            .map_err(|e| Failure::other(e.to_string()))?
        {
            Some((detail, at)) => {
                eprintln!(
                    "Offline: the meeting as cached {}.",
                    crate::ui::format::ago(now, at)
                );
                Ok((detail, me))
            }
            None => Err(Failure::other(
                "That meeting's agenda is not cached. Open it once online (`signoff cab show`, or Enter on it in the console) first.",
            )),
        },
    }
}

/// The sys_id of the meeting `name` means: its sys_id, or the only meeting whose name holds
/// it (case-insensitive). A meeting not in the list (outside its window) can still be named by
/// sys_id.
fn pick(list: &[MeetingSummary], name: &str) -> Result<String, Failure> {
    let wanted = name.trim();
    if list.iter().any(|m| m.meeting.sys_id == wanted)
        || (wanted.len() == 32 && wanted.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Ok(wanted.to_string());
    }
    let lower = wanted.to_lowercase();
    let exact: Vec<&MeetingSummary> = list
        .iter()
        .filter(|m| m.meeting.name.to_lowercase() == lower)
        .collect();
    let found: Vec<&MeetingSummary> = if exact.len() == 1 {
        exact
    } else {
        list.iter()
            .filter(|m| m.meeting.name.to_lowercase().contains(&lower))
            .collect()
    };
    match found.as_slice() {
        [one] => Ok(one.meeting.sys_id.clone()),
        [] => Err(Failure::not_found(format!(
            "No meeting of yours is called {:?}. `signoff cab list` shows them (name or sys_id).",
            crate::domain::text::clean_line(wanted, 60)
        ))),
        many => Err(Failure::usage(format!(
            "{:?} matches {} meetings: {}. Give more of the name, or the sys_id.",
            crate::domain::text::clean_line(wanted, 60),
            many.len(),
            many.iter()
                .map(|m| format!(
                    "{} ({}, {})",
                    m.meeting.name,
                    when(m.meeting.start),
                    m.meeting.sys_id
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or("no date".to_string(), super::local_time)
}

fn minutes(seconds: i64) -> String {
    if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    }
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    super::print_stdout(text.as_bytes(), "the output")
}

#[derive(Serialize)]
struct MeetingRow<'a> {
    sys_id: &'a str,
    name: &'a str,
    state: &'a str,
    /// `in_progress`, `upcoming` or `recent`.
    when: &'static str,
    start: Option<String>,
    end: Option<String>,
    role: &'static str,
    emergency: bool,
    items: usize,
    open_items: usize,
}

fn print_list(
    list: &[MeetingSummary],
    me: &str,
    output: super::Output,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    if output != super::Output::Table {
        let rows: Vec<MeetingRow<'_>> = list
            .iter()
            .map(|m| MeetingRow {
                sys_id: &m.meeting.sys_id,
                name: &m.meeting.name,
                state: m.meeting.state.value(),
                when: match m.meeting.when(now) {
                    When::InProgress => "in_progress",
                    When::Upcoming => "upcoming",
                    When::Recent => "recent",
                },
                start: m.meeting.start.map(|t| t.to_rfc3339()),
                end: m.meeting.end.map(|t| t.to_rfc3339()),
                role: m.role_of(me).label(),
                emergency: m.meeting.is_emergency(),
                items: m.items,
                open_items: m.open_items,
            })
            .collect();
        return super::output::listing(output, &rows, |_| Ok(()), "the meetings");
    }
    let mut text = String::new();
    if list.is_empty() {
        text.push_str(
            "No CAB meetings in the last or next 14 days where you chair, sit on the board or attend.\n",
        );
    }
    for section in [When::InProgress, When::Upcoming, When::Recent] {
        let rows: Vec<&MeetingSummary> = list
            .iter()
            .filter(|m| m.meeting.when(now) == section)
            .collect();
        if rows.is_empty() {
            continue;
        }
        text.push_str(&format!("{}:\n", section.label()));
        for m in rows {
            let plural = if m.items == 1 { "" } else { "s" };
            let items = if m.open_items == m.items || section == When::Upcoming {
                format!("{} item{plural}", m.items)
            } else {
                format!("{} of {} item{plural} open", m.open_items, m.items)
            };
            text.push_str(&format!(
                "  {:<22} {:<40} {:<14} {:<18} {}\n",
                when(m.meeting.start),
                crate::domain::text::cap_chars(&m.meeting.name, 40),
                m.role_of(me).label(),
                items,
                m.meeting.sys_id
            ));
        }
    }
    write_stdout(&text)
}

#[derive(Serialize)]
struct AgendaOut<'a> {
    sys_id: &'a str,
    name: &'a str,
    state: &'a str,
    start: Option<String>,
    end: Option<String>,
    chair: &'a str,
    role: &'static str,
    current_item: Option<&'a str>,
    items: Vec<ItemOut<'a>>,
    attendees: Vec<AttendeeOut<'a>>,
}

#[derive(Serialize)]
struct ItemOut<'a> {
    order: i64,
    number: &'a str,
    title: &'a str,
    tier: Option<crate::domain::RiskTier>,
    tier_reason: Option<String>,
    window_start: Option<String>,
    window_end: Option<String>,
    /// When the first open approval on the change breaches its SLA.
    sla_deadline: Option<String>,
    #[serde(skip)]
    sla: Option<SlaClock>,
    state: &'a str,
    decision: &'a str,
    allotted_seconds: i64,
    spent_seconds: i64,
    approvals: Vec<VoteOut<'a>>,
    attention: Vec<String>,
}

#[derive(Serialize)]
struct VoteOut<'a> {
    approver: &'a str,
    state: &'a str,
}

#[derive(Serialize)]
struct AttendeeOut<'a> {
    name: &'a str,
    reason: &'a str,
    attendance: &'a str,
}

fn print_agenda(
    d: &MeetingDetail,
    me: &str,
    policy: &Policy,
    output: super::Output,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let role = d.meeting.role_of(me, &d.attendees);
    let items: Vec<ItemOut<'_>> = d
        .items
        .iter()
        .map(|item| {
            let change = d.change_of(item);
            let tier = change.map(|c| policy.classify(c));
            let sla = tier.as_ref().and_then(|t| {
                d.approvals_of(item)
                    .find(|a| a.approval.in_queue())
                    .map(|a| SlaClock::for_approval(policy, t.tier, &a.approval))
            });
            ItemOut {
                order: item.order,
                number: &item.number,
                title: change.map_or(&item.short_description, |c| &c.short_description),
                tier: tier.as_ref().map(|t| t.tier),
                tier_reason: tier.as_ref().map(|t| t.reason.clone()),
                window_start: change.and_then(|c| c.start_date).map(|t| t.to_rfc3339()),
                window_end: change.and_then(|c| c.end_date).map(|t| t.to_rfc3339()),
                sla_deadline: sla.as_ref().map(|s| s.deadline.to_rfc3339()),
                sla,
                state: item.state.label(),
                decision: item.decision.label(),
                allotted_seconds: item.allotted,
                spent_seconds: d.timer(item, now).spent,
                approvals: d
                    .approvals_of(item)
                    .map(|a| VoteOut {
                        approver: a.approval.approver.label(),
                        state: a.approval.state.value(),
                    })
                    .collect(),
                attention: tier.map_or(Vec::new(), |t| d.attention(item, policy, t.tier)),
            }
        })
        .collect();
    let out = AgendaOut {
        sys_id: &d.meeting.sys_id,
        name: &d.meeting.name,
        state: d.meeting.state.value(),
        start: d.meeting.start.map(|t| t.to_rfc3339()),
        end: d.meeting.end.map(|t| t.to_rfc3339()),
        chair: d.meeting.manager.label(),
        role: role.label(),
        current_item: d.current().map(|i| i.number.as_str()),
        items,
        attendees: d
            .attendees
            .iter()
            .map(|a| AttendeeOut {
                name: a.user.label(),
                reason: a.reason.label(),
                attendance: a.attendance.label(),
            })
            .collect(),
    };
    if output != super::Output::Table {
        return super::output::record(output, &out, |_| Ok(()), "the agenda");
    }
    let mut t = format!(
        "{} — {}, {} to {}; chaired by {}; you: {}\n",
        out.name,
        d.meeting.state.label(),
        when(d.meeting.start),
        when(d.meeting.end),
        out.chair,
        out.role
    );
    if !d.all_approvals {
        t.push_str("(The instance shows you only your own approvals: who else has to vote is not known.)\n");
    }
    t.push('\n');
    for (item, o) in d.items.iter().zip(&out.items) {
        let current = if d.current().is_some_and(|c| c.sys_id == item.sys_id) {
            "▶"
        } else {
            " "
        };
        t.push_str(&format!(
            "{current} {:<11} {:<9} {:<14} {:<12} {}\n",
            o.number,
            o.tier.map_or("—", |t| t.label()),
            o.state,
            o.decision,
            o.title
        ));
        let window = d
            .change_of(item)
            .and_then(|c| c.start_date)
            .map_or("no planned window".to_string(), |s| {
                format!("window from {}", when(Some(s)))
            });
        let sla = o.sla.as_ref().map_or(String::new(), |c| {
            format!(" · SLA {}", crate::ui::format::countdown(c.remaining(now)))
        });
        t.push_str(&format!(
            "    {} · {window}{sla} · {} of {} allotted\n",
            o.tier_reason.as_deref().unwrap_or("change not readable"),
            minutes(o.spent_seconds),
            minutes(o.allotted_seconds),
        ));
        let waiting: Vec<&str> = d
            .open_approvals(item)
            .map(|a| a.approval.approver.label())
            .collect();
        if !waiting.is_empty() {
            t.push_str(&format!("    not voted yet: {}\n", waiting.join(", ")));
        }
        for a in &o.attention {
            t.push_str(&format!("    ⚠ {a}\n"));
        }
    }
    t.push_str("\nAttendees:\n");
    for a in &out.attendees {
        t.push_str(&format!(
            "  {:<28} {:<10} {}\n",
            a.name, a.reason, a.attendance
        ));
    }
    if out.attendees.is_empty() {
        t.push_str("  (none listed)\n");
    }
    write_stdout(&t)
}

/// `signoff cab convene`: an ad-hoc meeting for these changes, chaired by the user, with the
/// attendees named, starting now (or at `start`).
#[allow(clippy::too_many_arguments)]
async fn convene(
    backend: &ServiceNow,
    store: &mut Store,
    numbers: &[String],
    attendees: &[String],
    name: Option<String>,
    start: Option<String>,
    per_item_minutes: u32,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    let mut wanted: Vec<String> = Vec::new();
    for n in numbers {
        let n = n.trim().to_uppercase();
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Failure::usage(format!(
                "{:?} is not a change number (like CHG0030001).",
                crate::domain::text::clean_line(&n, 40)
            )));
        }
        if !wanted.contains(&n) {
            wanted.push(n);
        }
    }
    if !(1..=240).contains(&per_item_minutes) {
        return Err(Failure::usage(
            "--minutes-per-item must be between 1 and 240.",
        ));
    }
    let start = match start {
        Some(s) => {
            crate::domain::when::parse_local(&s, chrono::Local, false).map_err(Failure::usage)?
        }
        None => now,
    };
    let user = backend.current_user().await?;
    let found = backend.changes_by_number(&wanted).await?;
    let mut changes = Vec::new();
    for n in &wanted {
        match found.iter().find(|c| &c.number == n) {
            Some(c) => changes.push(c),
            None => {
                return Err(Failure::usage(format!(
                    "There is no change {n} on the instance (or you may not read it)."
                )));
            }
        }
    }
    let routine: Vec<&str> = changes
        .iter()
        .filter(|c| c.change_type != Some(ChangeType::Emergency))
        .map(|c| c.number.as_str())
        .collect();
    if !routine.is_empty() {
        eprintln!(
            "Note: {} {}; convening anyway.",
            routine.join(", "),
            if routine.len() == 1 {
                "is not an emergency change"
            } else {
                "are not emergency changes"
            }
        );
    }
    let me = user.reference();
    let mut people: Vec<(UserRef, AttendeeReason, Vec<String>)> =
        vec![(me.clone(), AttendeeReason::Manager, Vec::new())];
    let all: Vec<String> = changes.iter().map(|c| c.sys_id.clone()).collect();
    for who in attendees
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let u =
            super::delegate::find_user(backend, who, "an attendee must be an active user").await?;
        if people.iter().any(|(p, _, _)| p.sys_id == u.sys_id) {
            continue;
        }
        people.push((u.reference(), AttendeeReason::Attendee, all.clone()));
    }
    let per_item = i64::from(per_item_minutes) * 60;
    let numbers: Vec<&str> = changes.iter().map(|c| c.number.as_str()).collect();
    let name = name
        .map(|n| crate::domain::text::clean_line(&n, 80))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Emergency CAB — {}", numbers.join(", ")));
    let draft = Convene {
        name: crate::domain::text::cap_chars(&name, 80),
        manager: me,
        start,
        end: start + chrono::Duration::seconds(per_item * changes.len() as i64),
        per_item,
        changes: changes
            .iter()
            .map(|c| (c.sys_id.clone(), c.number.clone()))
            .collect(),
        attendees: people,
    };
    let sys_id = backend.cab_convene(&draft).await?;
    // Read back (what the instance made of it) and cached, so the console lists it at once
    // and it can be opened offline.
    let _ = crate::sync::cab::refresh_meetings(backend, store, &user.sys_id, now).await;
    match backend.cab_meeting(&sys_id).await {
        Ok(Some(detail)) => {
            if detail.items.len() != changes.len() {
                eprintln!(
                    "Warning: the instance shows {} of the {} agenda items; check it with `signoff cab show {sys_id}`.",
                    detail.items.len(),
                    changes.len()
                );
            }
            let _ = store.save_meeting(&detail, now);
        }
        Ok(None) => eprintln!(
            "Warning: the instance does not show the new meeting to you; check it on the instance."
        ),
        Err(e) => eprintln!("Warning: could not read the new meeting back: {e}"),
    }
    println!(
        "Convened {:?}: {} on the agenda ({} min each), {} attendee{} with you in the chair, from {}; id {sys_id}.",
        draft.name,
        numbers.join(", "),
        per_item_minutes,
        draft.attendees.len(),
        if draft.attendees.len() == 1 { "" } else { "s" },
        when(Some(start)),
    );
    println!("Run it with `signoff` → C, or `signoff cab show {sys_id}`.");
    Ok(())
}
