//! `signoff outbox [--all]`: decisions not yet applied, with where each stands (exit 4 while
//! conflicts or failures wait); `outbox discard|retry REF` settles one.

use super::connect::Session;
use super::{Failure, OutboxAction, exit};
use crate::domain::text::clean_line;
use crate::domain::{Clock, Delivery};
use crate::store::{OutboxEntry, Store};
use crate::sync::{Deliver, deliver_pending};

pub async fn run(s: &Session, all: bool, action: Option<OutboxAction>) -> Result<u8, Failure> {
    let mut store = s.open_store()?;
    match action {
        None => list(&store, all, s.output()),
        Some(OutboxAction::Discard { reference }) => {
            let e = find(&store, &reference)?;
            let clock = s.clock_for(Some(&store));
            let id = e.decision.client_id.clone();
            let what = describe(&e);
            let title = cap(&what);
            let done = match e.delivery {
                Delivery::Queued => store.withdraw(&id, clock.now()),
                Delivery::Conflict { .. } | Delivery::Failed { .. } => {
                    store.discard(&id, clock.now())
                }
                Delivery::Sending => {
                    return Err(Failure::usage(format!(
                        "{title} is being sent (it may have reached the instance); it cannot be taken back now. `signoff sync` settles it."
                    )));
                }
                Delivery::Applied { .. } | Delivery::Superseded { .. } => {
                    return Err(Failure::usage(format!(
                        "{title} is {}: there is nothing to discard.",
                        e.delivery.label()
                    )));
                }
            }
            .map_err(|e| Failure::other(e.to_string()))?;
            if !done {
                return Err(Failure::other(format!(
                    "{title} changed meanwhile (another signoff settled it); see `signoff outbox`."
                )));
            }
            println!("Discarded {what}; it will not be sent. The journal keeps a record.");

            Ok(exit::APPLIED)
        }
        Some(OutboxAction::Retry { reference }) => {
            s.writes()?;
            let e = find(&store, &reference)?;
            let what = describe(&e);
            let title = cap(&what);
            if !e.delivery.needs_attention() {
                return Err(Failure::usage(format!(
                    "{title} is {}; only a conflict or a failure is retried.",
                    e.delivery.label()
                )));
            }
            if s.cli.offline {
                return Err(Failure::usage(
                    "A retry checks the decision on the instance; leave out --offline.",
                ));
            }
            let clock = s.clock_for(Some(&store));
            let backend = s.connect(&clock)?;
            let id = e.decision.client_id.clone();
            store
                .requeue(&id, clock.now())
                .map_err(|e| Failure::other(e.to_string()))?;
            let report = deliver_pending(
                &backend,
                &mut store,
                clock.as_ref(),
                Deliver::Only(std::slice::from_ref(&id)),
                &|_, _| {},
                true,
            )
            .await
            .map_err(|e| Failure::other(e.to_string()))?;
            let now = store
                .outbox(false)
                .map_err(|e| Failure::other(e.to_string()))?
                .into_iter()
                .find(|x| x.decision.client_id == id);
            match now.map(|x| x.delivery) {
                Some(Delivery::Applied { .. }) => {
                    println!("{title}: applied on the instance this time.");
                    Ok(exit::APPLIED)
                }
                Some(Delivery::Conflict { reason }) => {
                    eprintln!("{title} still does not apply: {}", clean_line(&reason, 600));
                    Ok(exit::CONFLICT)
                }
                Some(Delivery::Failed { error }) => {
                    eprintln!("{title} failed again: {}", clean_line(&error, 600));
                    Ok(exit::FAILURE)
                }
                _ => {
                    let why = report.stopped.map_or(String::new(), |e| format!(" ({e})"));
                    eprintln!(
                        "{title} waits in the outbox{why}; it is sent when the instance answers."
                    );
                    Ok(exit::QUEUED)
                }
            }
        }
    }
}

/// The one decision whose ref starts with `reference`.
fn find(store: &Store, reference: &str) -> Result<OutboxEntry, Failure> {
    let wanted = reference
        .trim()
        .trim_start_matches("ref")
        .trim()
        .to_lowercase();
    if wanted.len() < 4 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::usage(format!(
            "{:?} is not a decision's ref: give at least 4 of the hex digits `signoff outbox` shows after `ref`.",
            clean_line(reference, 40)
        )));
    }
    let entries = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?;
    let found: Vec<OutboxEntry> = entries
        .into_iter()
        .filter(|e| e.decision.client_id.starts_with(&wanted))
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one")),
        0 => Err(Failure::not_found(format!(
            "No decision in the outbox has ref {wanted}; `signoff outbox --all` lists them."
        ))),
        n => Err(Failure::usage(format!(
            "{n} decisions have a ref starting with {wanted}; give more of it."
        ))),
    }
}

/// `the decision…` at the start of a sentence.
fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

fn describe(e: &OutboxEntry) -> String {
    let d = &e.decision;
    format!("the decision to {} {}", d.kind.verb(), d.change_number)
}

/// One outbox row for scripts.
#[derive(serde::Serialize)]
struct Row {
    state: &'static str,
    decision: &'static str,
    change: String,
    created_at: String,
    reference: String,
    on_behalf_of: Option<String>,
    justification: String,
    /// Why it is in conflict or failed, what replaced it, or what sending means now.
    note: Option<String>,
}

fn list(store: &Store, all: bool, output: super::Output) -> Result<u8, Failure> {
    let entries = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?;
    // Applied and superseded decisions are settled: shown with --all.
    let rows: Vec<Row> = entries
        .iter()
        .filter(|e| {
            all || !matches!(
                e.delivery,
                Delivery::Applied { .. } | Delivery::Superseded { .. }
            )
        })
        .map(|e| {
            let d = &e.decision;
            let short = d.reference().trim_start_matches("ref ").to_string();
            Row {
                state: e.delivery.label(),
                decision: d.kind.verb(),
                change: clean_line(&d.change_number, 40),
                created_at: d.created_at.to_rfc3339(),
                on_behalf_of: d.on_behalf_of.as_ref().map(|p| p.label().to_string()),
                justification: d.justification.as_str().to_string(),
                note: match &e.delivery {
                    Delivery::Conflict { reason } | Delivery::Failed { error: reason } => {
                        Some(format!(
                            "{} — `signoff outbox retry {short}` or `discard {short}`",
                            clean_line(reason, 600)
                        ))
                    }
                    Delivery::Superseded { by } => Some(format!(
                        "replaced by a later decision (ref {}); never sent",
                        clean_line(&by.chars().take(12).collect::<String>(), 12)
                    )),
                    Delivery::Sending => Some(
                        "may have reached the server; it is checked there before any retry".into(),
                    ),
                    _ => None,
                },
                reference: short,
            }
        })
        .collect();
    super::output::listing(
        output,
        &rows,
        |w| {
            if rows.is_empty() {
                writeln!(w, "The outbox is empty: nothing waits to be delivered.")?;
            }
            for r in &rows {
                let whom = r
                    .on_behalf_of
                    .as_ref()
                    .map_or(String::new(), |p| format!(" for {p}"));
                writeln!(
                    w,
                    "{:<10} {:<8} {:<11} {}  ref {}  {:?}{whom}",
                    r.state,
                    r.decision,
                    r.change,
                    r.created_at
                        .get(..16)
                        .unwrap_or(&r.created_at)
                        .replace('T', " "),
                    r.reference,
                    clean_line(&r.justification, 60),
                )?;
                if let Some(note) = &r.note {
                    writeln!(w, "           {note}")?;
                }
            }
            Ok(())
        },
        "the outbox",
    )?;
    let attention = entries
        .iter()
        .filter(|e| {
            all || !matches!(
                e.delivery,
                Delivery::Applied { .. } | Delivery::Superseded { .. }
            )
        })
        .filter(|e| e.delivery.needs_attention())
        .count();
    Ok(if attention > 0 {
        exit::CONFLICT
    } else {
        exit::APPLIED
    })
}
