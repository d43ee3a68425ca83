//! `signoff reconcile DEPLOYMENTS [--format md|json]`: every deployment against the change
//! that should have authorised it; exit 1 when any was not.

use std::collections::HashMap;

use super::connect::Session;
use super::{Failure, OutputFormat};
use crate::backend::Backend;
use crate::domain::Clock;
use crate::domain::reconcile::{Verdict, judge_deployment, parse_deployments, report_markdown};
use crate::store::DeploymentRecord;

pub async fn run(s: &Session, file: &std::path::Path, format: OutputFormat) -> Result<u8, Failure> {
    if !matches!(format, OutputFormat::Md | OutputFormat::Json) {
        return Err(Failure::usage(
            "A reconciliation report is --format md or --format json.",
        ));
    }
    if s.cli.offline {
        return Err(Failure::usage(
            "Reconciling reads each change on the instance; leave out --offline.",
        ));
    }
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure::usage(format!("Could not read {}: {e}.", file.display())))?;
    let deployments = parse_deployments(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}.", file.display())))?;
    let mut store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    let backend = s.connect(&clock)?;
    let mut changes = HashMap::new();
    for d in deployments.iter().filter(|d| !d.change.is_empty()) {
        if !changes.contains_key(&d.change) {
            let status = backend.change_status(&d.change).await?;
            changes.insert(d.change.clone(), status);
        }
    }
    let journal = crate::domain::reconcile::journal_decisions(&crate::domain::audit::log_rows(
        &store.journal().map_err(|e| Failure::other(e.to_string()))?,
    ));
    let findings: Vec<_> = deployments
        .iter()
        .map(|d| {
            let mut f = judge_deployment(
                d,
                changes.get(&d.change).and_then(|s| s.as_ref()),
                &s.policy(),
            );
            f.journal = journal.get(&d.change).cloned().unwrap_or_default();
            f
        })
        .collect();
    let records: Vec<DeploymentRecord> = findings
        .iter()
        .map(|f| DeploymentRecord {
            at: f.deployment.at,
            environment: f.deployment.environment.clone(),
            change: f.deployment.change.clone(),
            service: f.deployment.service.clone(),
            version: f.deployment.version.clone(),
            finding: f.verdict.label().to_string(),
        })
        .collect();
    store
        .record_deployments(&records, clock.now())
        .map_err(|e| Failure::other(e.to_string()))?;
    let out = match format {
        OutputFormat::Json => super::json_text(&findings)?,
        _ => report_markdown(&findings),
    };
    super::print_stdout(out.as_bytes(), "the report")?;
    let bad = findings
        .iter()
        .filter(|f| f.verdict != Verdict::Authorized)
        .count();
    if bad > 0 {
        eprintln!(
            "signoff reconcile: {bad} of {} deployment{} not authorized.",
            findings.len(),
            if findings.len() == 1 {
                " was"
            } else {
                "s were"
            }
        );
        return Ok(1);
    }
    Ok(0)
}
