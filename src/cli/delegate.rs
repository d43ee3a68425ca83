//! `signoff delegate add|list|edit|end`.

use chrono::Utc;

use super::connect::Session;
use super::{DelegateCommand, Failure};
use crate::backend::Backend;
use crate::backend::servicenow::ServiceNow;
use crate::domain::Clock;

/// `signoff delegate add|list|end|edit`. Windows are judged by the instance's clock (learned
/// from its answers): that is the clock that decides whether a delegation is active.
pub async fn run(s: &Session, cmd: DelegateCommand) -> Result<(), Failure> {
    if s.cli.offline {
        return Err(Failure::usage(
            "Delegations live on the instance; leave out --offline.",
        ));
    }
    let dry_run = match &cmd {
        DelegateCommand::Add { dry_run, .. }
        | DelegateCommand::Edit { dry_run, .. }
        | DelegateCommand::End { dry_run, .. } => *dry_run,
        DelegateCommand::List => false,
    };
    if !matches!(cmd, DelegateCommand::List) && !dry_run {
        s.writes()?;
    }
    let store = s.open_store().ok();
    let clock = s.clock_for(store.as_ref());
    let mut backend = s.connect(&clock)?;
    // A dry run goes the whole way, reads and checks included; its writes are written down.
    let plan = dry_run.then(|| backend.plan_writes());
    let result = act(s, &backend, cmd, clock.as_ref()).await;
    match plan {
        Some(plan) => {
            let plan = plan.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match result {
                Err(f) if plan.is_empty() => Err(f),
                _ => super::print_plan(s.output(), &plan),
            }
        }
        None => result,
    }
}

async fn act(
    s: &Session,
    backend: &ServiceNow,
    cmd: DelegateCommand,
    clock: &dyn Clock,
) -> Result<(), Failure> {
    let user = backend.current_user().await?;
    let me = user.reference();
    let now = clock.now();
    let show = |t: Option<chrono::DateTime<Utc>>| t.map_or("open".to_string(), super::local_time);
    match cmd {
        DelegateCommand::List => {
            let all = backend.delegations(&user.sys_id).await?;
            #[derive(serde::Serialize)]
            struct Row<'a> {
                id: &'a str,
                direction: &'static str,
                user: &'a str,
                delegate: &'a str,
                starts: Option<String>,
                ends: Option<String>,
                status: &'static str,
                approvals: bool,
            }
            // Given first, then received: the table's two sections, in the same order.
            let mine = user.sys_id.as_str();
            let items: Vec<(&crate::domain::Delegation, bool)> = [true, false]
                .into_iter()
                .flat_map(|given| {
                    all.iter()
                        .filter(move |d| (d.user.sys_id == mine) == given)
                        .map(move |d| (d, given))
                })
                .collect();
            let rows: Vec<Row<'_>> = items
                .iter()
                .map(|(d, given)| Row {
                    id: &d.sys_id,
                    direction: if *given { "given" } else { "received" },
                    user: d.user.label(),
                    delegate: d.delegate.label(),
                    starts: d.starts.map(|t| t.to_rfc3339()),
                    ends: d.ends.map(|t| t.to_rfc3339()),
                    status: d.status(now).label(),
                    approvals: d.approvals,
                })
                .collect();
            super::output::listing(
                s.output(),
                &rows,
                |w| {
                    for (title, given) in [("Given", true), ("Received", false)] {
                        writeln!(w, "{title}:")?;
                        let mut any = false;
                        for (d, _) in items.iter().filter(|(_, g)| *g == given) {
                            any = true;
                            let other = if given { &d.delegate } else { &d.user };
                            writeln!(
                                w,
                                "  {:<32} {:<20} {} – {}  {:<8} approvals {}",
                                d.sys_id,
                                other.label(),
                                show(d.starts),
                                show(d.ends),
                                d.status(now).label(),
                                if d.approvals { "yes" } else { "no" }
                            )?;
                        }
                        if !any {
                            writeln!(w, "  (none)")?;
                        }
                    }
                    Ok(())
                },
                "the delegations",
            )?;
        }
        DelegateCommand::Add {
            to,
            from,
            until,
            no_approvals,
            ..
        } => {
            let delegate = find_user(
                backend,
                &to,
                "a delegate must be an active user who can approve",
            )
            .await?;
            let starts = match from {
                Some(f) => crate::domain::when::parse_local(&f, chrono::Local, false)
                    .map_err(Failure::usage)?,
                None => now,
            };
            let ends = crate::domain::when::parse_local(&until, chrono::Local, true)
                .map_err(Failure::usage)?;
            let draft = crate::domain::DelegationDraft {
                delegate: delegate.reference(),
                starts,
                ends,
                approvals: !no_approvals,
            };
            let existing = backend.delegations(&user.sys_id).await?;
            crate::domain::check_delegation(&me, &draft, &existing, None, now)
                .map_err(Failure::usage)?;
            let d = backend.create_delegation(&user.sys_id, &draft).await?;
            println!(
                "Delegated your approvals to {} ({}) from {} to {}; id {}.",
                d.delegate.label(),
                delegate.user_name,
                show(d.starts),
                show(d.ends),
                d.sys_id
            );
        }
        DelegateCommand::End { id, .. } => {
            let text = crate::sync::end_delegation(backend, &me, &id, now)
                .await
                .map_err(Failure::other)?;
            println!("{text}");
        }
        DelegateCommand::Edit {
            id, from, until, ..
        } => {
            let existing = backend.delegations(&user.sys_id).await?;
            let Some(current) = existing.iter().find(|d| d.sys_id == id) else {
                return Err(Failure::usage(format!(
                    "There is no delegation {id} of yours. `signoff delegate list` shows their ids."
                )));
            };
            if current.user.sys_id != user.sys_id {
                return Err(Failure::usage(format!(
                    "That delegation is {}'s to you; only they can change it.",
                    current.user.label()
                )));
            }
            let starts = match from {
                Some(f) => crate::domain::when::parse_local(&f, chrono::Local, false)
                    .map_err(Failure::usage)?,
                None => current.starts.unwrap_or(now),
            };
            let ends = crate::domain::when::parse_local(&until, chrono::Local, true)
                .map_err(Failure::usage)?;
            let draft = crate::domain::DelegationDraft {
                delegate: current.delegate.clone(),
                starts,
                ends,
                approvals: current.approvals,
            };
            crate::domain::check_delegation(&me, &draft, &existing, Some(&id), now)
                .map_err(Failure::usage)?;
            let d = backend.update_delegation(&id, starts, ends).await?;
            println!(
                "Your delegation to {} now runs from {} to {}.",
                d.delegate.label(),
                show(d.starts),
                show(d.ends)
            );
        }
    }
    Ok(())
}

/// The one active user `who` names: an exact login or name, or the only match.
/// `rule` says who may be chosen, for the sentence when nobody matches.
pub(super) async fn find_user(
    backend: &ServiceNow,
    who: &str,
    rule: &str,
) -> Result<crate::domain::User, Failure> {
    let found = backend.search_users(who).await.map_err(Failure::from)?;
    let exact: Vec<_> = found
        .iter()
        .filter(|u| u.user_name.eq_ignore_ascii_case(who) || u.name.eq_ignore_ascii_case(who))
        .collect();
    match (exact.as_slice(), found.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [one]) => Ok(one.clone()),
        (_, []) => Err(Failure::not_found(format!(
            "No active user matches {who:?}: {rule}. Check the name or login."
        ))),
        _ => Err(Failure::usage(format!(
            "{who:?} matches several people: {}. Give the login.",
            found
                .iter()
                .map(|u| format!("{} ({})", u.name, u.user_name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
