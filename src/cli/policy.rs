//! `signoff policy show|diff|confirm`: the approval policy under change control (issue 17).
//! The policy in force has a hash; a changed policy in the config file is not used until it is
//! confirmed once, and the confirmation (who, when, the old and new hash, the changed lines)
//! is a journal entry.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use super::connect::Session;
use super::{Failure, PolicyCommand, output};
use crate::domain::governance::{DiffLine, changed_lines, policy_hash, policy_text, short_hash};

#[derive(Serialize)]
struct Shown {
    hash: String,
    confirmed_by: Option<String>,
    confirmed_at: Option<String>,
    /// The config file's policy, while it waits for confirmation.
    pending_hash: Option<String>,
    diff: Vec<DiffLine>,
    policy: crate::domain::Policy,
}

pub fn run(s: &Session, command: PolicyCommand) -> Result<u8, Failure> {
    let mut store = s.open_store()?;
    let fail = |e: crate::store::StoreError| Failure::other(e.to_string());
    let in_force = s.policy();
    let confirmed = store.confirmed_policy().map_err(fail)?;
    let review = s.review.borrow().clone();
    match command {
        PolicyCommand::Show | PolicyCommand::Diff => {
            let shown = Shown {
                hash: policy_hash(&in_force),
                confirmed_by: confirmed.as_ref().map(|c| c.confirmed_by.clone()),
                confirmed_at: confirmed.as_ref().map(|c| c.confirmed_at.to_rfc3339()),
                pending_hash: review.as_ref().map(|r| r.proposed_hash.clone()),
                diff: review
                    .as_ref()
                    .map(|r| changed_lines(&r.diff, 2))
                    .unwrap_or_default(),
                policy: in_force.clone(),
            };
            let diff_only = matches!(command, PolicyCommand::Diff);
            output::record(
                s.output(),
                &shown,
                |w| {
                    writeln!(
                        w,
                        "Policy in force: {}{}",
                        short_hash(&shown.hash),
                        match (&shown.confirmed_by, &confirmed) {
                            (Some(by), Some(c)) => format!(
                                " (confirmed by {} on {})",
                                crate::domain::text::clean_line(by, 80),
                                c.confirmed_at.format("%Y-%m-%d %H:%M UTC")
                            ),
                            _ => String::new(),
                        }
                    )?;
                    match &review {
                        None => writeln!(w, "The config file's policy is the one in force.")?,
                        Some(r) => {
                            writeln!(
                                w,
                                "The config file's policy ({}) is not confirmed yet; its changes:",
                                short_hash(&r.proposed_hash)
                            )?;
                            for l in &shown.diff {
                                writeln!(w, "  {}", l.render())?;
                            }
                            writeln!(w, "Confirm it with `signoff policy confirm`.")?;
                        }
                    }
                    if !diff_only {
                        writeln!(w)?;
                        write!(w, "{}", policy_text(&in_force))?;
                    }
                    Ok(())
                },
                "the policy",
            )?;
            Ok(0)
        }
        PolicyCommand::Confirm { yes } => {
            let Some(r) = review else {
                println!(
                    "Nothing to confirm: the config file's policy ({}) is the one in force.",
                    short_hash(&policy_hash(&in_force))
                );
                return Ok(0);
            };
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::usage(
                        "The policy change needs your confirmation: run `signoff policy diff` to read it, then `signoff policy confirm --yes`.",
                    ));
                }
                if !ask(&r) {
                    println!(
                        "Not confirmed: policy {} stays in force.",
                        short_hash(&r.confirmed.hash)
                    );
                    return Ok(1);
                }
            }
            if let Some(said) = s.confirm_policy(&mut store)? {
                println!("{said}");
            }
            Ok(0)
        }
    }
}

/// Shows a changed policy's lines on standard error and asks whether to put it in force.
fn ask(r: &crate::domain::governance::PolicyReview) -> bool {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "The policy in the config file changed:");
    for l in changed_lines(&r.diff, 2) {
        let _ = writeln!(err, "  {}", l.render());
    }
    let _ = write!(err, "{} [y/N] ", r.question());
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}
