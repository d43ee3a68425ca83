//! `signoff outbox [--all]`: decisions not yet applied, with where each stands.

use super::Failure;
use super::connect::Session;
use crate::domain::Delivery;
use crate::domain::text::clean_line;

pub fn run(s: &Session, all: bool) -> Result<(), Failure> {
    let store = s.open_store()?;
    let entries = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?;
    // Applied and superseded decisions are settled: shown with --all.
    let shown: Vec<_> = entries
        .iter()
        .filter(|e| {
            all || !matches!(
                e.delivery,
                Delivery::Applied { .. } | Delivery::Superseded { .. }
            )
        })
        .collect();
    if shown.is_empty() {
        println!("The outbox is empty: nothing waits to be delivered.");
    }
    for e in shown {
        let d = &e.decision;
        let whom = d
            .on_behalf_of
            .as_ref()
            .map_or(String::new(), |p| format!(" for {}", p.label()));
        println!(
            "{:<10} {:<8} {:<11} {}  {:?}{whom}",
            e.delivery.label(),
            d.kind.verb(),
            d.change_number,
            d.created_at.format("%Y-%m-%d %H:%M"),
            clean_line(d.justification.as_str(), 60),
        );
        let note = match &e.delivery {
            Delivery::Conflict { reason } | Delivery::Failed { error: reason } => {
                clean_line(reason, 600)
            }
            Delivery::Superseded { by } => format!(
                "replaced by a later decision (ref {}); never sent",
                clean_line(&by.chars().take(12).collect::<String>(), 12)
            ),
            Delivery::Sending => {
                "may have reached the server; it is checked there before any retry".into()
            }
            _ => continue,
        };
        println!("           {note}");
    }
    Ok(())
}
