//! Command-line interface: argument parsing and the commands behind it.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Offset, Utc};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::backend::servicenow::ServiceNow;
use crate::backend::{Backend, BackendError, Connection, Secret, no_progress, parse_instance_url};
use crate::config::{Config, Paths, Profile};
use crate::domain::{
    Approval, Clock, DecisionKind, Delivery, Justification, Policy, SystemClock, build_queue,
};
use crate::sim;
use crate::store::Store;
use crate::sync::{
    DeliveryReport, EngineConfig, SyncError, deliver_pending, make_decisions, run_engine,
    run_requests, sync_once,
};
use crate::ui::{self, AppState, Theme};

#[derive(Debug, Parser)]
#[command(
    name = "signoff",
    version,
    about = "A terminal console for people who approve IT changes.",
    after_help = "Run `signoff demo` to try it against a built-in demo instance.\nThe password comes from SIGNOFF_PASSWORD, or signoff asks for it."
)]
pub struct Cli {
    /// The ServiceNow instance, e.g. https://acme.service-now.com (or just `acme`).
    #[arg(long, env = "SIGNOFF_INSTANCE", global = true)]
    pub instance: Option<String>,
    /// Your login name on the instance.
    #[arg(long, env = "SIGNOFF_USER", global = true)]
    pub user: Option<String>,
    /// Colour theme: dark, light or high-contrast. NO_COLOR turns colour off.
    #[arg(long, env = "SIGNOFF_THEME", global = true)]
    pub theme: Option<String>,
    /// Which configured connection (and cache) to use; see [profiles.NAME] in config.toml.
    #[arg(long, env = "SIGNOFF_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Never touch the network: work from the local cache only.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Quit right after the first frame (start-up benchmark).
    #[arg(long, global = true, hide = true)]
    pub exit_after_first_frame: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the approval console (the default).
    Tui,
    /// Open the console against a built-in demo instance; nothing else needed.
    Demo {
        /// Seed of the demo data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of changes on the demo instance.
        #[arg(long, default_value_t = 300)]
        changes: usize,
    },
    /// Run the built-in ServiceNow-compatible server for other clients and tests.
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 300)]
        changes: usize,
        /// Most rows the server returns per page.
        #[arg(long, default_value_t = 100)]
        page_cap: usize,
        /// Delay added to every response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Fraction of requests (0 to 1) that fail with HTTP 500, e.g. 0.1.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Requests allowed per minute per user; beyond that HTTP 429 with Retry-After.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Sync, then print your pending approvals in queue order (--offline: from the cache).
    Queue {
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Deliver waiting decisions, sync the local cache once, and report what changed.
    Sync,
    /// Approve the change's pending approval, with a justification.
    Approve(DecideArgs),
    /// Reject the change's pending approval, with a justification.
    Reject(DecideArgs),
    /// Put the change on hold; the justification is the hold reason.
    Hold(DecideArgs),
    /// Release the change's hold; the justification is written as a comment.
    Resume(DecideArgs),
    /// Hand your approvals to a colleague while you are away, and see who covers whom.
    #[command(subcommand)]
    Delegate(DelegateCommand),
    /// Print where signoff keeps its files, which instance and account a profile uses, and
    /// the state of its cache (no network).
    Doctor,
    /// List decisions not yet applied on the server (queued, conflicts, failures).
    Outbox {
        /// Include decisions already applied.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DelegateCommand {
    /// Delegate your approvals: `signoff delegate add --to bob.lee --from 2026-12-20 --until 2027-01-03`.
    Add {
        /// The colleague (login or full name).
        #[arg(long)]
        to: String,
        /// Start: YYYY-MM-DD (midnight), YYYY-MM-DD HH:MM (local time) or RFC 3339; default now.
        #[arg(long)]
        from: Option<String>,
        /// End: YYYY-MM-DD (end of that day), YYYY-MM-DD HH:MM (local time) or RFC 3339.
        #[arg(long)]
        until: String,
        /// Delegate without the right to approve (notifications only).
        #[arg(long)]
        no_approvals: bool,
    },
    /// Delegations you gave and received, with their windows and states.
    List,
    /// End one of your delegations now (an upcoming one is cancelled).
    End {
        /// The delegation's id, from `signoff delegate list`.
        id: String,
    },
    /// Change the window of one of your delegations.
    Edit {
        id: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The change number, e.g. CHG0030001.
    pub change: String,
    /// Why: the justification recorded with the decision.
    #[arg(short = 'm', long = "message")]
    pub message: String,
    /// Decide the approval of this colleague (login or name), who delegated to you; without
    /// it your own approval is decided, or the delegated one when you have none.
    #[arg(long = "for", value_name = "USER")]
    pub for_user: Option<String>,
}

/// Exit codes of the decision commands.
pub mod exit {
    /// Applied on the server.
    pub const APPLIED: u8 = 0;
    /// Something else went wrong.
    pub const FAILURE: u8 = 1;
    /// Invalid input (e.g. the justification is too short).
    pub const INVALID: u8 = 2;
    /// The decision no longer applies (someone else decided, the change moved).
    pub const CONFLICT: u8 = 4;
    /// Stored in the outbox for later delivery (offline); EX_TEMPFAIL.
    pub const QUEUED: u8 = 75;
}

/// An error at the edge: a sentence for the user and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Bad input or configuration: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
    pub fn other(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        Failure::other(e.to_string())
    }
}

/// Runs a parsed command line.
pub async fn run(mut cli: Cli, paths: Paths) -> Result<ExitCode, Failure> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        command = ?cli.command,
        at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
        "signoff starting"
    );
    let config = Config::load(&paths.config_file()).map_err(Failure::usage)?;
    let theme_name = cli
        .theme
        .clone()
        .or_else(|| config.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme =
        Theme::named(&theme_name, ui::theme::no_color_requested()).map_err(Failure::usage)?;
    let (profile_name, profile) = config
        .profile(cli.profile.as_deref())
        .map_err(Failure::usage)?;
    let interval = Duration::from_secs(profile.sync_interval_secs.unwrap_or(60));
    let command = cli.command.take();
    let decide =
        |kind, args| decide_cli(&cli, &paths, &profile_name, &profile, &config, kind, args);
    match command {
        None | Some(Command::Tui) => {
            let store = open_store(&paths, &profile_name)?;
            let tui = Tui {
                policy: config.policy,
                theme,
                interval,
                exit_after_first_frame: cli.exit_after_first_frame,
            };
            if cli.offline {
                let instance = profile.instance.clone().unwrap_or_default();
                let login = profile.user.clone().unwrap_or_default();
                tui.run::<ServiceNow>(store, instance, login, None).await?;
            } else {
                let backend = connect(&cli, &profile)?;
                let (instance, login) = (backend.instance_label(), backend.login());
                tui.run(store, instance, login, Some(backend)).await?;
            }
        }
        Some(Command::Demo { seed, changes }) => {
            let store = open_store(&paths, "demo")?;
            let server = start_sim(seed, changes, 100, 0, 0).await?;
            let conn = Connection {
                instance: parse_instance_url(&server.url()).map_err(Failure::other)?,
                user: sim::DEMO_USER.to_string(),
                password: Secret::new(sim::DEMO_PASSWORD),
            };
            let backend = ServiceNow::new(conn)?;
            let (instance, login) = (backend.instance_label(), backend.login());
            let tui = Tui {
                policy: config.policy,
                theme,
                interval,
                exit_after_first_frame: cli.exit_after_first_frame,
            };
            let backend = (!cli.offline).then_some(backend);
            let result = tui.run(store, instance, login, backend).await;
            server.shutdown().await;
            result?;
        }
        Some(Command::Sim {
            port,
            seed,
            changes,
            page_cap,
            latency_ms,
            fail_rate,
            rate_limit,
        }) => {
            let mut cfg = sim_config(seed, changes, page_cap, latency_ms)?;
            sim_faults(&mut cfg, fail_rate, rate_limit)?;
            sim::run_standalone(cfg, port).await.map_err(|e| {
                Failure::other(format!(
                    "Could not start the server on 127.0.0.1:{port}: {e}. Choose another --port."
                ))
            })?;
        }
        Some(Command::Queue { json }) => {
            let mut store = open_store(&paths, &profile_name)?;
            if !cli.offline {
                let backend = connect(&cli, &profile)?;
                sync_once(&backend, &mut store, Utc::now(), &no_progress)
                    .await
                    .map_err(sync_failure)?;
            }
            // Decoded row by row on this thread: the memory the sync just freed is reused.
            let snapshot = store
                .load_snapshot()
                .map_err(|e| Failure::other(e.to_string()))?;
            if snapshot.synced_at.is_none() {
                return Err(Failure::other(format!(
                    "There is no cached queue for profile {profile_name:?} yet. Run `signoff sync` (or leave out --offline) first."
                )));
            }
            let delegations = store
                .delegations()
                .map_err(|e| Failure::other(e.to_string()))?;
            let me = snapshot.user.map(|u| u.sys_id).unwrap_or_default();
            print_queue(snapshot.approvals, &delegations, &me, &config.policy, json)?;
        }
        Some(Command::Approve(args)) => return decide(DecisionKind::Approve, args).await,
        Some(Command::Reject(args)) => return decide(DecisionKind::Reject, args).await,
        Some(Command::Hold(args)) => return decide(DecisionKind::Hold, args).await,
        Some(Command::Resume(args)) => return decide(DecisionKind::Resume, args).await,
        Some(Command::Delegate(cmd)) => {
            if cli.offline {
                return Err(Failure::usage(
                    "Delegations live on the instance; leave out --offline.",
                ));
            }
            let backend = connect(&cli, &profile)?;
            delegate_cli(&backend, cmd).await?;
        }
        Some(Command::Doctor) => {
            let exists = |p: &std::path::Path| if p.exists() { "" } else { " (not there yet)" };
            let store_path = Store::path_for(&paths.data_dir, &profile_name)
                .map_err(|e| Failure::usage(e.to_string()))?;
            println!("signoff {}", env!("CARGO_PKG_VERSION"));
            println!("profile      {profile_name}");
            println!(
                "instance     {}",
                cli.instance
                    .clone()
                    .or(profile.instance.clone())
                    .unwrap_or_else(|| "(none: --instance or SIGNOFF_INSTANCE)".into())
            );
            println!(
                "user         {}",
                cli.user
                    .clone()
                    .or(profile.user.clone())
                    .unwrap_or_else(|| "(none: --user or SIGNOFF_USER)".into())
            );
            println!(
                "password     {}",
                if std::env::var_os("SIGNOFF_PASSWORD").is_some() {
                    "from SIGNOFF_PASSWORD"
                } else {
                    "asked for when needed"
                }
            );
            println!("theme        {theme_name}");
            let config_file = paths.config_file();
            println!(
                "config       {}{}",
                config_file.display(),
                exists(&config_file)
            );
            println!(
                "cache        {}{}",
                store_path.display(),
                exists(&store_path)
            );
            println!("log          {}", paths.log_file().display());
            if store_path.exists() {
                let store = Store::open(&store_path).map_err(|e| Failure::other(e.to_string()))?;
                let state = store
                    .sync_state()
                    .map_err(|e| Failure::other(e.to_string()))?;
                let cached = store
                    .approval_ids()
                    .map_err(|e| Failure::other(e.to_string()))?
                    .len();
                let outbox = store
                    .outbox(false)
                    .map_err(|e| Failure::other(e.to_string()))?;
                let pending = outbox.iter().filter(|e| e.delivery.is_pending()).count();
                let conflicts = outbox
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.delivery,
                            Delivery::Conflict { .. } | Delivery::Failed { .. }
                        )
                    })
                    .count();
                println!(
                    "schema       {}",
                    store
                        .schema_version()
                        .map_err(|e| Failure::other(e.to_string()))?
                );
                println!(
                    "signed in as {}",
                    state.user.map_or("(never synced)".to_string(), |u| format!(
                        "{} ({})",
                        u.user_name, u.name
                    ))
                );
                println!(
                    "last sync    {}",
                    state
                        .synced_at
                        .map_or("never".to_string(), |t| t.to_rfc3339())
                );
                println!("cached       {cached} approvals");
                println!("outbox       {pending} waiting, {conflicts} conflicts or failures");
            }
        }
        Some(Command::Outbox { all }) => {
            let store = open_store(&paths, &profile_name)?;
            let entries = store
                .outbox(false)
                .map_err(|e| Failure::other(e.to_string()))?;
            let shown: Vec<_> = entries
                .iter()
                .filter(|e| all || !matches!(e.delivery, Delivery::Applied { .. }))
                .collect();
            if shown.is_empty() {
                println!("The outbox is empty: every decision has been applied.");
            }
            for e in shown {
                let d = &e.decision;
                let text = crate::domain::text::cap_chars(
                    &crate::domain::text::sanitize_line(d.justification.as_str()),
                    60,
                );
                println!(
                    "{:<9} {:<8} {:<11} {}  {:?}",
                    e.delivery.label(),
                    d.kind.verb(),
                    d.change_number,
                    d.created_at.format("%Y-%m-%d %H:%M"),
                    text
                );
                match &e.delivery {
                    Delivery::Conflict { reason } | Delivery::Failed { error: reason } => {
                        println!("          {reason}")
                    }
                    _ => {}
                }
            }
        }
        Some(Command::Sync) => {
            if cli.offline {
                return Err(Failure::usage(
                    "`signoff sync` needs the network; leave out --offline.",
                ));
            }
            let mut store = open_store(&paths, &profile_name)?;
            let backend = connect(&cli, &profile)?;
            let started = std::time::Instant::now();
            let delivered = deliver_pending(&backend, &mut store, Utc::now, &|_, _| {}, true)
                .await
                .map_err(sync_failure)?;
            if delivered != DeliveryReport::default() {
                println!(
                    "Delivered decisions: {} applied, {} in conflict, {} failed{}.",
                    delivered.applied,
                    delivered.conflicts,
                    delivered.failed,
                    if delivered.conflicts + delivered.failed > 0 {
                        " (see `signoff outbox`)"
                    } else {
                        ""
                    }
                );
            }
            let outcome = sync_once(&backend, &mut store, Utc::now(), &no_progress)
                .await
                .map_err(sync_failure)?;
            println!(
                "Synced {} as {}: {} pending — {}, in {:.1} s.",
                backend.instance_label(),
                outcome.user.user_name,
                outcome.total,
                outcome.summary(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `signoff approve|reject|hold|resume CHANGE -m TEXT`: outbox first, then delivery.
async fn decide_cli(
    cli: &Cli,
    paths: &Paths,
    profile_name: &str,
    profile: &Profile,
    config: &Config,
    kind: DecisionKind,
    args: DecideArgs,
) -> Result<ExitCode, Failure> {
    let invalid = |m: String| Failure {
        message: m,
        code: exit::INVALID,
    };
    let justification = Justification::parse(&args.message, kind, &config.policy.justification)
        .map_err(|e| invalid(format!("The justification was refused: {e}")))?;
    let mut store = open_store(paths, profile_name)?;
    let backend = if cli.offline {
        None
    } else {
        Some(connect(cli, profile)?)
    };
    // A fresh view first, so the decision is made on the server's current state. If that
    // fails for a passing reason, the cached view will do: delivery checks the server's copy
    // before sending anything.
    let mut stale = backend.is_none();
    if let Some(b) = &backend {
        match sync_once(b, &mut store, Utc::now(), &no_progress).await {
            Ok(_) => {}
            Err(SyncError::Backend(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "sync before deciding failed; using the cache");
                stale = true;
            }
            Err(e) => return Err(sync_failure(e)),
        }
    }
    let snapshot = store
        .load_snapshot()
        .map_err(|e| Failure::other(e.to_string()))?;
    let Some(user) = snapshot.user.clone() else {
        return Err(Failure::other(format!(
            "There is no cached queue for profile {profile_name:?} yet, so signoff cannot find {}. Run `signoff sync` first.",
            args.change
        )));
    };
    let wanted = args.change.trim();
    let on_change: Vec<Approval> = snapshot
        .approvals
        .into_iter()
        .filter(|a| a.change.number.eq_ignore_ascii_case(wanted) && a.in_queue())
        .collect();
    if on_change.is_empty() {
        return Err(invalid(format!(
            "{wanted} is not in your queue{}. Check the number with `signoff queue`.",
            if stale { " (as last synced)" } else { "" }
        )));
    }
    let approvals =
        choose_approvals(on_change, &user, args.for_user.as_deref(), wanted).map_err(invalid)?;
    for a in &approvals {
        kind.applies_to(a).map_err(invalid)?;
    }
    let decisions = make_decisions(kind, &justification, &approvals, &user, Utc::now());
    store
        .enqueue(&decisions, Utc::now())
        .map_err(|e| Failure::other(e.to_string()))?;
    crate::pause_point("queued");
    let ids: Vec<&str> = decisions.iter().map(|d| d.client_id.as_str()).collect();
    let queued_exit = |why: &str| {
        eprintln!(
            "signoff: stored the decision to {} {wanted} in the outbox; it will be delivered when the instance can be reached (`signoff sync`). Not sent now: {why}",
            kind.verb()
        );
        Ok(ExitCode::from(exit::QUEUED))
    };
    let Some(b) = backend.as_ref() else {
        return queued_exit("--offline");
    };
    match deliver_pending(b, &mut store, Utc::now, &|_, _| {}, true).await {
        Ok(_) => {}
        Err(SyncError::Backend(e)) if e.is_transient() => return queued_exit(&e.to_string()),
        Err(e) => return Err(sync_failure(e)),
    }
    let outbox = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?;
    let mine: Vec<_> = outbox
        .iter()
        .filter(|e| ids.contains(&e.decision.client_id.as_str()))
        .collect();
    let mut code = exit::APPLIED;
    for e in mine {
        match &e.delivery {
            Delivery::Applied { at } => println!(
                "{} {}: {} (applied on the server at {}).",
                kind.title(),
                e.decision.change_number,
                kind.past(),
                at.to_rfc3339()
            ),
            Delivery::Conflict { reason } => {
                eprintln!("signoff: conflict, nothing was forced: {reason}");
                code = code.max(exit::CONFLICT);
            }
            Delivery::Failed { error } => {
                eprintln!("signoff: the instance refused the decision: {error}");
                if code != exit::CONFLICT {
                    code = exit::FAILURE;
                }
            }
            Delivery::Queued | Delivery::Sending => {
                eprintln!(
                    "signoff: the decision is still in the outbox; run `signoff sync` to deliver it."
                );
                // A conflict or failure elsewhere in the batch says more.
                if code == exit::APPLIED {
                    code = exit::QUEUED;
                }
            }
        }
    }
    Ok(ExitCode::from(code))
}

/// `signoff delegate add|list|end|edit`.
async fn delegate_cli(backend: &ServiceNow, cmd: DelegateCommand) -> Result<(), Failure> {
    let user = backend.current_user().await?;
    let me = crate::domain::UserRef {
        sys_id: user.sys_id.clone(),
        name: user.name.clone(),
    };
    let now = Utc::now();
    let tz = chrono::Local::now().offset().fix();
    let show = |t: Option<chrono::DateTime<Utc>>| {
        t.map_or("open".to_string(), |t| {
            t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M").to_string()
        })
    };
    match cmd {
        DelegateCommand::List => {
            let all = backend.delegations(&user.sys_id).await?;
            for (title, given) in [("Given", true), ("Received", false)] {
                println!("{title}:");
                let mut any = false;
                for d in all
                    .iter()
                    .filter(|d| (d.user.sys_id == user.sys_id) == given)
                {
                    any = true;
                    let other = if given { &d.delegate } else { &d.user };
                    println!(
                        "  {:<32} {:<20} {} – {}  {:<8} approvals {}",
                        d.sys_id,
                        other.label(),
                        show(d.starts),
                        show(d.ends),
                        d.status(now).label(),
                        if d.approvals { "yes" } else { "no" }
                    );
                }
                if !any {
                    println!("  (none)");
                }
            }
        }
        DelegateCommand::Add {
            to,
            from,
            until,
            no_approvals,
        } => {
            let delegate = find_user(backend, &to).await?;
            let starts = match from {
                Some(f) => parse_when(&f, false, tz).map_err(Failure::usage)?,
                None => now,
            };
            let ends = parse_when(&until, true, tz).map_err(Failure::usage)?;
            let draft = crate::domain::DelegationDraft {
                delegate: crate::domain::UserRef {
                    sys_id: delegate.sys_id.clone(),
                    name: delegate.name.clone(),
                },
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
        DelegateCommand::End { id } => {
            let text = crate::sync::end_delegation(backend, &me, &id, now)
                .await
                .map_err(Failure::other)?;
            println!("{text}");
        }
        DelegateCommand::Edit { id, from, until } => {
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
                Some(f) => parse_when(&f, false, tz).map_err(Failure::usage)?,
                None => current.starts.unwrap_or(now),
            };
            let ends = parse_when(&until, true, tz).map_err(Failure::usage)?;
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
async fn find_user(backend: &ServiceNow, who: &str) -> Result<crate::domain::User, Failure> {
    let found = backend
        .search_users(who)
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    let exact: Vec<_> = found
        .iter()
        .filter(|u| u.user_name.eq_ignore_ascii_case(who) || u.name.eq_ignore_ascii_case(who))
        .collect();
    match (exact.as_slice(), found.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [one]) => Ok(one.clone()),
        (_, []) => Err(Failure::usage(format!(
            "No active user matches {who:?}: a delegate must be an active user who can approve. Check the name or login."
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

/// `YYYY-MM-DD` (start of day, or its end when `end_of_day`), `YYYY-MM-DD HH:MM` in local
/// time, or RFC 3339.
fn parse_when(
    text: &str,
    end_of_day: bool,
    tz: chrono::FixedOffset,
) -> Result<chrono::DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let local = if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M") {
        dt
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if end_of_day {
            d.and_hms_opt(23, 59, 59).expect("valid time")
        } else {
            d.and_hms_opt(0, 0, 0).expect("valid time")
        }
    } else {
        return Err(format!(
            "{t:?} is not a date: use YYYY-MM-DD, YYYY-MM-DD HH:MM (local time) or RFC 3339."
        ));
    };
    local
        .and_local_timezone(tz)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| format!("{t:?} is not a valid local time."))
}

/// Which of the approvals on a change to decide: the one named with --for, else the user's
/// own, else the single delegated one.
fn choose_approvals(
    on_change: Vec<Approval>,
    me: &crate::domain::User,
    for_user: Option<&str>,
    number: &str,
) -> Result<Vec<Approval>, String> {
    let names = |list: &[Approval]| {
        list.iter()
            .map(|a| a.approver.label().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(who) = for_user {
        let who = who.trim().to_lowercase();
        let chosen: Vec<Approval> = on_change
            .iter()
            .filter(|a| {
                a.approver.name.to_lowercase() == who
                    || a.approver.name.to_lowercase().replace(' ', ".") == who
            })
            .cloned()
            .collect();
        return if chosen.is_empty() {
            Err(format!(
                "{number} has no approval of {who:?} in your queue; it has approvals of: {}.",
                names(&on_change)
            ))
        } else {
            Ok(chosen)
        };
    }
    let mine: Vec<Approval> = on_change
        .iter()
        .filter(|a| a.approver.sys_id == me.sys_id)
        .cloned()
        .collect();
    if !mine.is_empty() {
        return Ok(mine);
    }
    if on_change.len() == 1 {
        return Ok(on_change);
    }
    Err(format!(
        "{number} has approvals of several colleagues who delegated to you ({}); say whose with --for NAME.",
        names(&on_change)
    ))
}

fn sync_failure(e: SyncError) -> Failure {
    Failure::other(e.to_string())
}

fn open_store(paths: &Paths, profile: &str) -> Result<Store, Failure> {
    let path =
        Store::path_for(&paths.data_dir, profile).map_err(|e| Failure::usage(e.to_string()))?;
    Store::open(&path).map_err(|e| Failure::other(e.to_string()))
}

/// Everything the console needs besides the store and the backend.
struct Tui {
    policy: Policy,
    theme: Theme,
    interval: Duration,
    exit_after_first_frame: bool,
}

impl Tui {
    /// Shows the cached queue at once, then (with a backend) starts the sync engine.
    async fn run<B: Backend + 'static>(
        self,
        store: Store,
        instance: String,
        login: String,
        backend: Option<B>,
    ) -> Result<(), Failure> {
        // The UI's own connection: decisions are written there before anything is sent.
        let outbox = Store::open(store.path()).map_err(|e| Failure::other(e.to_string()))?;
        let snapshot = store
            .load_summaries()
            .map_err(|e| Failure::other(e.to_string()))?;
        tracing::info!(
            approvals = snapshot.approvals.len(),
            at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
            "cache read"
        );
        let outbox_pending = store
            .outbox_pending()
            .map_err(|e| Failure::other(e.to_string()))?;
        let tz = chrono::Local::now().offset().fix();
        let mut state = AppState::new(instance, login, self.policy, tz);
        ui::update(
            &mut state,
            ui::Msg::Cached {
                user: snapshot.user,
                approvals: snapshot.approvals,
                synced_at: snapshot.synced_at,
                outbox_pending,
                complete: false,
            },
        );
        tracing::debug!(
            at_ms = format!("{:.1}", crate::since_start().as_secs_f64() * 1e3),
            "queue built"
        );
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if backend.is_none() {
            state.net = ui::Net::OfflineMode;
        }
        let config = EngineConfig {
            interval: self.interval,
            ..EngineConfig::default()
        };
        let engine_clock = clock.clone();
        // The engine starts once the first frame is on screen: it reads the rest of the cache,
        // then (with a backend) syncs.
        let start_sync: ui::run::StartSync = Box::new(move || {
            let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
            let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
            let backend = backend.map(Arc::new);
            let requests = backend.clone().map(|b| {
                let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(run_requests(b, req_rx, ev_tx.clone(), cmd_tx.clone()));
                req_tx
            });
            tokio::spawn(run_engine(
                backend,
                store,
                config,
                engine_clock,
                cmd_rx,
                ev_tx,
            ));
            ui::run::SyncLink {
                commands: cmd_tx,
                events: ev_rx,
                requests,
            }
        });
        ui::run::run(
            state,
            self.theme,
            clock,
            Some(start_sync),
            Some(outbox),
            self.exit_after_first_frame,
        )
        .await
        .map_err(|e| Failure::other(format!("The terminal failed: {e}.")))
    }
}

fn sim_config(
    seed: u64,
    changes: usize,
    page_cap: usize,
    latency_ms: u64,
) -> Result<sim::SimConfig, Failure> {
    if changes > 100_000 {
        return Err(Failure::usage(
            "--changes can be at most 100000. Choose a smaller number.",
        ));
    }
    if page_cap == 0 {
        return Err(Failure::usage("--page-cap must be at least 1."));
    }
    Ok(sim::SimConfig {
        seed,
        changes,
        page_cap,
        latency: std::time::Duration::from_millis(latency_ms),
        ..sim::SimConfig::default()
    })
}

/// Validates and applies the fault switches of `signoff sim`.
fn sim_faults(
    cfg: &mut sim::SimConfig,
    fail_rate: f64,
    rate_limit: Option<u32>,
) -> Result<(), Failure> {
    if !(0.0..=1.0).contains(&fail_rate) {
        return Err(Failure::usage(format!(
            "--fail-rate must be a fraction from 0 to 1 (e.g. 0.1 fails one request in ten), not {fail_rate}."
        )));
    }
    if rate_limit == Some(0) {
        return Err(Failure::usage(
            "--rate-limit must be at least 1 request per minute. Leave it out for no limit.",
        ));
    }
    cfg.fail_rate = fail_rate;
    cfg.rate_limit = rate_limit;
    cfg.rate_window = std::time::Duration::from_secs(60);
    Ok(())
}

async fn start_sim(
    seed: u64,
    changes: usize,
    page_cap: usize,
    latency_ms: u64,
    port: u16,
) -> Result<sim::SimServer, Failure> {
    let cfg = sim_config(seed, changes, page_cap, latency_ms)?;
    sim::SimServer::start(cfg, ([127, 0, 0, 1], port).into())
        .await
        .map_err(|e| Failure::other(format!("Could not start the demo instance: {e}.")))
}

/// Builds the backend from flags, environment and config, asking for the password if needed.
fn connect(cli: &Cli, config: &Profile) -> Result<ServiceNow, Failure> {
    let instance = cli.instance.clone().or_else(|| config.instance.clone()).ok_or_else(|| {
        Failure::usage(
            "No instance configured. Pass --instance URL or set SIGNOFF_INSTANCE (or try `signoff demo`).",
        )
    })?;
    let instance = parse_instance_url(&instance).map_err(Failure::usage)?;
    let user = cli
        .user
        .clone()
        .or_else(|| config.user.clone())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| Failure::usage("No user name. Pass --user NAME or set SIGNOFF_USER."))?;
    let password = match std::env::var("SIGNOFF_PASSWORD") {
        Ok(p) if !p.is_empty() => Secret::new(p),
        _ if std::io::stdin().is_terminal() => {
            let host = instance.host_str().unwrap_or_default().to_string();
            let p = rpassword::prompt_password(format!("Password for {user} at {host}: "))
                .map_err(|e| Failure::usage(format!("Could not read the password: {e}.")))?;
            Secret::new(p)
        }
        _ => {
            return Err(Failure::usage(
                "No password: set SIGNOFF_PASSWORD, or run signoff in a terminal to be asked for it.",
            ));
        }
    };
    let mut backend = ServiceNow::new(Connection {
        instance,
        user: user.trim().to_string(),
        password,
    })?;
    if let Some(n) = config.page_size {
        backend = backend.with_page_size(n);
    }
    Ok(backend)
}

/// One queue row for scripts.
#[derive(Serialize)]
struct QueueRow<'a> {
    number: &'a str,
    approval_sys_id: &'a str,
    change_sys_id: &'a str,
    tier: crate::domain::RiskTier,
    tier_reason: &'a str,
    state: &'a str,
    sla_deadline: String,
    sla_status: crate::domain::SlaStatus,
    escalation_level: u8,
    window_start: Option<String>,
    requested_by: &'a str,
    approver: &'a str,
    /// The approver, when it is a colleague who delegated to you.
    on_behalf_of: Option<&'a str>,
    on_hold: bool,
    /// Set when nobody is there to decide, naming the policy's fallback approver.
    attention: Option<String>,
    short_description: &'a str,
}

fn print_queue(
    approvals: Vec<Approval>,
    delegations: &[crate::domain::Delegation],
    me: &str,
    policy: &Policy,
    json: bool,
) -> Result<(), Failure> {
    let now = Utc::now();
    let queue = build_queue(policy, approvals);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = if json {
        let rows: Vec<QueueRow<'_>> = queue
            .iter()
            .map(|e| QueueRow {
                number: &e.approval.change.number,
                approval_sys_id: &e.approval.sys_id,
                change_sys_id: &e.approval.change.sys_id,
                tier: e.tier.tier,
                tier_reason: &e.tier.reason,
                state: e.approval.state.value(),
                sla_deadline: e.sla.deadline.to_rfc3339(),
                sla_status: e.sla.status(now),
                escalation_level: e.sla.escalation_level(now),
                window_start: e.approval.change.start_date.map(|t| t.to_rfc3339()),
                requested_by: e.approval.change.requested_by.label(),
                approver: e.approval.approver.label(),
                on_behalf_of: (e.approval.approver.sys_id != me)
                    .then(|| e.approval.approver.label()),
                on_hold: e.approval.change.on_hold,
                attention: crate::domain::needs_fallback(e, delegations, policy, now),
                short_description: &e.approval.change.short_description,
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        (|| {
            writeln!(
                out,
                "{:<11} {:<10} {:<18} {:<16} DESCRIPTION",
                "NUMBER", "TIER", "SLA", "WINDOW"
            )?;
            for e in &queue {
                let c = &e.approval.change;
                let sla = if c.on_hold {
                    "on hold".to_string()
                } else {
                    ui::format::countdown(e.sla.remaining(now))
                };
                let whose = if e.approval.approver.sys_id != me {
                    format!("for {} · ", e.approval.approver.label())
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{:<11} {:<10} {:<18} {:<16} {whose}{}",
                    c.number,
                    e.tier.tier.label(),
                    sla,
                    ui::format::window(c.start_date, now),
                    c.short_description
                )?;
                if let Some(note) = crate::domain::needs_fallback(e, delegations, policy, now) {
                    writeln!(out, "{:<11} ⚑ {note}", "")?;
                }
            }
            writeln!(out, "{} pending", queue.len())
        })()
    };
    match written.and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // `signoff queue | head` closes the pipe early; that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::other(format!("Could not write the queue: {e}."))),
    }
}
