//! `signoff audit log|verify|pubkey|export`: the journal as evidence.

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::connect::Session;
use super::{AuditCommand, Failure, Output, OutputFormat};
use crate::backend::Backend;
use crate::domain::Clock;
use crate::domain::audit::{ChainReport, ExportRow, LogRow, csv_cell, export_rows, log_rows};
use crate::domain::text::clean_line;
use crate::store::Store;

/// Exit code of `audit verify` when the journal is not intact.
pub const TAMPERED: u8 = super::exit::TAMPERED;

pub async fn run(s: &Session, cmd: AuditCommand) -> Result<u8, Failure> {
    let mut store = s.open_store()?;
    let store_err = |e: crate::store::StoreError| Failure::other(e.to_string());
    match cmd {
        AuditCommand::Pubkey { out } => {
            let signer = store.journal_signer();
            let line = format!(
                "signoff-journal-key ed25519 {} {}\n",
                base64::engine::general_purpose::STANDARD.encode(signer.public_key()),
                signer.key_id()
            );
            write_out(out.as_deref(), &line, "the public key")?;
            eprintln!(
                "The private half stays in {}; keep this public key where the journal's writer cannot change it.",
                signer.location()
            );
            Ok(0)
        }
        AuditCommand::Verify {
            pubkey,
            against_server,
            expect_head,
        } => {
            let public = match &pubkey {
                Some(path) => Some(read_pubkey(path)?),
                None => None,
            };
            let expect = match &expect_head {
                None => None,
                Some(h) => {
                    let mut parts = h.split_whitespace();
                    match (
                        parts.next().and_then(|s| s.parse::<i64>().ok()),
                        parts.next(),
                    ) {
                        (Some(seq), Some(hash)) if hash.len() == 64 => Some((seq, hash)),
                        _ => {
                            return Err(Failure::usage(
                                "--expect-head takes \"<seq> <hash>\", as an export's chain_head gives it.",
                            ));
                        }
                    }
                }
            };
            let report = store
                .verify_journal_against(public.as_deref(), expect)
                .map_err(store_err)?;
            let anchors = if against_server {
                if s.cli.offline {
                    return Err(Failure::usage(
                        "--against-server reads the instance; leave out --offline.",
                    ));
                }
                Some(against(s, &store).await?)
            } else {
                None
            };
            print_verify(&report, pubkey.as_deref(), anchors.as_ref(), s.output())?;
            let anchored_ok = anchors.as_ref().is_none_or(|a| {
                a.iter()
                    .all(|x| x.status != "differs" && x.status != "missing")
            });
            Ok(if report.intact() && anchored_ok {
                0
            } else {
                TAMPERED
            })
        }
        AuditCommand::Log { from, to, change } => {
            let (from, to) = window(from.as_deref(), to.as_deref())?;
            let entries = store.journal().map_err(store_err)?;
            let rows: Vec<LogRow> = log_rows(&entries)
                .into_iter()
                .zip(&entries)
                .filter(|(_, e)| from.is_none_or(|f| e.created_at >= f))
                .filter(|(_, e)| to.is_none_or(|t| e.created_at <= t))
                .map(|(r, _)| r)
                .filter(|r| {
                    change
                        .as_ref()
                        .is_none_or(|c| r.change.eq_ignore_ascii_case(c.trim()))
                })
                .collect();
            let output = s.output();
            if output != Output::Table {
                return super::output::listing(output, &rows, |_| Ok(()), "the journal").map(|_| 0);
            }
            let text = table(&rows);
            write_out(None, &text, "the journal")?;
            Ok(0)
        }
        AuditCommand::Prune { before, dry_run } => prune(s, &mut store, before.as_deref(), dry_run),
        AuditCommand::AccessReview { from, to } => {
            access_review(s, &store, from.as_deref(), to.as_deref(), s.output()).await
        }
        AuditCommand::Export {
            from,
            to,
            format,
            out,
        } => {
            if !matches!(format, OutputFormat::Csv | OutputFormat::Json) {
                return Err(Failure::usage(
                    "An export is --format csv or --format json.",
                ));
            }
            let (from, to) = window(from.as_deref(), to.as_deref())?;
            let entries = store.journal().map_err(store_err)?;
            let policy = &s.policy();
            let tier_of = |ty: &str, risk: &str, impact: &str| {
                let c = crate::domain::Change {
                    change_type: (!ty.is_empty()).then(|| crate::domain::ChangeType::parse(ty)),
                    risk: crate::domain::Risk::from_label(risk),
                    impact: crate::domain::Level::from_label(impact),
                    ..crate::domain::Change::default()
                };
                policy.classify(&c).tier.label().to_string()
            };
            // What reconciliations recorded as deployed, by change.
            let deployments = store.deployments_by_change().map_err(store_err)?;
            let rows = export_rows(&entries, from, to, &tier_of, &deployments);
            let head = store
                .journal_head_id()
                .map_err(store_err)?
                .unwrap_or_default();
            let text = export_text(&rows, &head, format)?;
            write_out(out.as_deref(), &text, "the export")?;
            if out.is_some() {
                eprintln!(
                    "Exported {} decision{}; journal head {}.",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" },
                    if head.is_empty() { "none" } else { &head }
                );
            }
            Ok(0)
        }
    }
}

/// One end of a window (`None`: open).
type Bound = Option<DateTime<Utc>>;

/// `--from` / `--to` as instants (a date alone: from midnight / to the end of that day).
fn window(from: Option<&str>, to: Option<&str>) -> Result<(Bound, Bound), Failure> {
    let parse = |t: Option<&str>, end: bool| {
        t.map(|t| crate::domain::when::parse_local(t, chrono::Local, end))
            .transpose()
            .map_err(Failure::usage)
    };
    let (from, to) = (parse(from, false)?, parse(to, true)?);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(Failure::usage("--to is before --from; swap them."));
    }
    Ok((from, to))
}

fn read_pubkey(path: &Path) -> Result<Vec<u8>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!(
            "Could not read the public key {}: {e}.",
            path.display()
        ))
    })?;
    let b64 = text
        .split_whitespace()
        .find(|w| w.len() == 44 && w.ends_with('='))
        .unwrap_or(text.trim());
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(k) if k.len() == 32 => Ok(k),
        _ => Err(Failure::usage(format!(
            "{} is not a journal public key (what `signoff audit pubkey` writes).",
            path.display()
        ))),
    }
}

fn write_out(path: Option<&Path>, text: &str, what: &str) -> Result<(), Failure> {
    match path {
        Some(p) => std::fs::write(p, text).map_err(|e| {
            Failure::other(format!("Could not write {what} to {}: {e}.", p.display()))
        }),
        None => super::print_stdout(text.as_bytes(), what),
    }
}

fn csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn table(rows: &[LogRow]) -> String {
    let mut out = format!(
        "{:>5}  {:<20} {:<19} {:<11} {:<8} {:<28} {}\n",
        "SEQ", "AT (UTC)", "KIND", "CHANGE", "DECISION", "BY", "JUSTIFICATION / ANSWER"
    );
    for r in rows {
        let by = if r.on_behalf_of.is_empty() {
            r.actor.clone()
        } else {
            format!("{} for {}", r.actor, r.on_behalf_of)
        };
        // The decision's own entry: why; the later ones: what happened.
        let order = if r.kind == "decision.queued" {
            [&r.justification, &r.reason, &r.server_answer]
        } else {
            [&r.reason, &r.server_answer, &r.justification]
        };
        let what = order
            .into_iter()
            .find(|t| !t.is_empty())
            .cloned()
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>5}  {:<20} {:<19} {:<11} {:<8} {:<28} {}\n",
            r.seq,
            r.at.get(..19).unwrap_or(&r.at).replace('T', " "),
            crate::domain::text::cap_chars(&r.kind, 19),
            crate::domain::text::cap_chars(&r.change, 11),
            crate::domain::text::cap_chars(&r.decision, 8),
            crate::domain::text::cap_chars(&by, 28),
            crate::domain::text::cap_chars(&what, 80),
        ));
    }
    if rows.is_empty() {
        out.push_str("(no entries)\n");
    }
    out
}

/// The export's columns, in order (documented in the README).
const EXPORT_COLUMNS: &[&str] = &[
    "decided_at",
    "change",
    "approval",
    "decision",
    "approver",
    "decided_by",
    "on_behalf_of",
    "justification",
    "change_type",
    "risk",
    "impact",
    "tier",
    "configuration_item",
    "assignment_group",
    "window_start",
    "window_end",
    "controls",
    "policy_hash",
    "risk_acceptance",
    "deviations",
    "senior_role",
    "outcome",
    "outcome_at",
    "outcome_reason",
    "server_answer",
    "deployment",
    "seen_hash",
    "client_id",
    "first_seq",
    "last_seq",
    "chain_head",
];

fn export_text(rows: &[ExportRow], head: &str, format: OutputFormat) -> Result<String, Failure> {
    if format == OutputFormat::Json {
        #[derive(Serialize)]
        struct Export<'a> {
            /// The journal head (`<seq> <hash>`) the export covers.
            chain_head: &'a str,
            decisions: &'a [ExportRow],
        }
        return super::json_text(&Export {
            chain_head: head,
            decisions: rows,
        });
    }
    Ok(csv(
        EXPORT_COLUMNS,
        rows.iter().map(|r| {
            vec![
                r.decided_at.clone(),
                r.change.clone(),
                r.approval.clone(),
                r.decision.clone(),
                r.approver.clone(),
                r.decided_by.clone(),
                r.on_behalf_of.clone(),
                r.justification.clone(),
                r.change_type.clone(),
                r.risk.clone(),
                r.impact.clone(),
                r.tier.clone(),
                r.configuration_item.clone(),
                r.assignment_group.clone(),
                r.window_start.clone(),
                r.window_end.clone(),
                r.controls.clone(),
                r.policy_hash.clone(),
                r.risk_acceptance.clone(),
                r.deviations.clone(),
                r.senior_role.clone(),
                r.outcome.clone(),
                r.outcome_at.clone(),
                r.outcome_reason.clone(),
                r.server_answer.clone(),
                r.deployment.clone(),
                r.seen_hash.clone(),
                r.client_id.clone(),
                r.first_seq.to_string(),
                r.last_seq.to_string(),
                head.to_string(),
            ]
        }),
    ))
}

/// One applied decision checked against the comment its server copy carries.
#[derive(Debug, Serialize)]
struct Anchor {
    seq: i64,
    change: String,
    client_id: String,
    /// `anchored`, `differs`, `missing`, or `unverifiable` (a hold keeps only its latest
    /// reason; a decision from before anchors were written).
    status: &'static str,
    detail: String,
}

/// Reads each applied decision's approval on the instance and compares the journal hash its
/// comment carries with the local entry's.
async fn against(s: &Session, store: &Store) -> Result<Vec<Anchor>, Failure> {
    let clock = s.clock_for(Some(store));
    let backend = s.connect(&clock)?;
    let entries = store.journal().map_err(|e| Failure::other(e.to_string()))?;
    let rows = log_rows(&entries);
    let applied: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r.kind == "decision.applied")
        .map(|r| r.client_id.as_str())
        .collect();
    let mut out = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.kind == "decision.queued" && applied.contains(r.client_id.as_str()))
    {
        let reference: String = r.client_id.chars().take(12).collect();
        let anchor = crate::store::anchor_of(&r.hash);
        let server = backend.approval(&r.approval).await?;
        let Some(server) = server else {
            out.push(Anchor {
                seq: r.seq,
                change: r.change.clone(),
                client_id: r.client_id.clone(),
                status: "missing",
                detail: "the approval is gone from the instance, or hidden from this account"
                    .into(),
            });
            continue;
        };
        let text = format!("{}\n{}", server.comments, server.hold_reason);
        let tag = format!("[signoff ref {reference}");
        let found: Vec<&str> = text
            .match_indices(&tag)
            .map(|(i, _)| {
                let rest = &text[i + tag.len()..];
                rest.split(']').next().unwrap_or("").trim()
            })
            .collect();
        let (status, detail) = if found.is_empty() {
            if matches!(r.decision.as_str(), "hold" | "resume") {
                (
                    "unverifiable",
                    "a hold keeps only its latest reason on the instance".to_string(),
                )
            } else {
                (
                    "missing",
                    format!("no comment on the instance carries ref {reference}"),
                )
            }
        } else if found
            .iter()
            .any(|f| f.strip_prefix("j ") == Some(anchor.as_str()))
        {
            ("anchored", format!("j {anchor}"))
        } else if found.iter().all(|f| f.is_empty()) {
            (
                "unverifiable",
                "written before comments carried the journal hash".to_string(),
            )
        } else {
            (
                "differs",
                format!(
                    "the instance's comment carries {}, the journal entry hashes to {anchor}",
                    clean_line(found[0], 40)
                ),
            )
        };
        out.push(Anchor {
            seq: r.seq,
            change: r.change.clone(),
            client_id: r.client_id.clone(),
            status,
            detail,
        });
    }
    Ok(out)
}

fn print_verify(
    r: &ChainReport,
    pubkey: Option<&Path>,
    anchors: Option<&Vec<Anchor>>,
    output: Output,
) -> Result<(), Failure> {
    if output != Output::Table {
        #[derive(Serialize)]
        struct Out<'a> {
            intact: bool,
            #[serde(flatten)]
            report: &'a ChainReport,
            #[serde(skip_serializing_if = "Option::is_none")]
            server: Option<&'a Vec<Anchor>>,
        }
        return super::output::record(
            output,
            &Out {
                intact: r.intact(),
                report: r,
                server: anchors,
            },
            |_| Ok(()),
            "the report",
        );
    }
    let key = match pubkey {
        Some(p) => format!("the public key in {}", p.display()),
        None => "this machine's; give --pubkey with a key exported earlier to rule out a re-signed journal".into(),
    };
    let mut t = String::new();
    match &r.broken {
        None => t.push_str(&format!(
            "The journal is intact: {} entr{}{}, chain head {}; {} signed, checked with key {}, {key}.\n",
            r.entries,
            if r.entries == 1 { "y" } else { "ies" },
            match (r.first_seq, r.last_seq) {
                (Some(a), Some(b)) => format!(" ({a}–{b})"),
                _ => String::new(),
            },
            r.head_hash.as_deref().map_or("none", |h| &h[..16.min(h.len())]),
            r.signed,
            r.key_id,
        )),
        Some(b) => t.push_str(&format!(
            "The journal is NOT intact: {} (entry {}). Checked with key {}, {key}.\n",
            b.what, b.seq, r.key_id
        )),
    }
    if r.unsigned_legacy > 0 {
        t.push_str(&format!(
            "{} entr{} from before entries were signed: chained, not signed.\n",
            r.unsigned_legacy,
            if r.unsigned_legacy == 1 {
                "y is"
            } else {
                "ies are"
            }
        ));
    }
    if let Some(anchors) = anchors {
        let count = |s: &str| anchors.iter().filter(|a| a.status == s).count();
        t.push_str(&format!(
            "Against the instance: {} applied decision{} anchored, {} differ, {} missing, {} unverifiable.\n",
            count("anchored"),
            if anchors.len() == 1 { "" } else { "s" },
            count("differs"),
            count("missing"),
            count("unverifiable"),
        ));
        for a in anchors.iter().filter(|a| a.status != "anchored") {
            t.push_str(&format!(
                "  entry {} {} ({}): {} — {}\n",
                a.seq, a.change, a.client_id, a.status, a.detail
            ));
        }
    }
    write_out(None, &t, "the report")
}

/// `audit prune`: entries older than the retention period go, unless a legal hold keeps them;
/// a broken journal is not pruned (that would hide the break).
fn prune(
    s: &Session,
    store: &mut Store,
    before: Option<&str>,
    dry_run: bool,
) -> Result<u8, Failure> {
    let policy = &s.policy();
    if policy.legal_hold {
        return Err(Failure::usage(
            "A legal hold is on (policy.legal_hold): every journal entry is kept. Nothing was pruned.",
        ));
    }
    let clock = s.clock_for(Some(store));
    let now = clock.now();
    let years = policy.retention_years;
    let limit = now
        .checked_sub_months(chrono::Months::new(12 * years))
        .unwrap_or(now);
    let cutoff = match before {
        None => limit,
        Some(b) => {
            let b = window(Some(b), None)?
                .0
                .ok_or_else(|| Failure::usage("--before needs a date."))?;
            if b > limit {
                return Err(Failure::usage(format!(
                    "Entries after {} are within the retention period ({years} years, policy.retention_years); nothing was pruned.",
                    limit.format("%Y-%m-%d")
                )));
            }
            b
        }
    };
    let report = store
        .verify_journal(None)
        .map_err(|e| Failure::other(e.to_string()))?;
    if let Some(b) = &report.broken {
        return Err(Failure::other(format!(
            "The journal is not intact ({}); pruning would hide that. Nothing was pruned.",
            b.what
        )));
    }
    let entries = store.journal().map_err(|e| Failure::other(e.to_string()))?;
    // Only a leading run: the chain is cut at one place.
    let old: Vec<&crate::domain::audit::JournalEntry> = entries
        .iter()
        .take_while(|e| e.created_at < cutoff)
        .collect();
    let through = entries
        .iter()
        .take_while(|e| e.created_at < cutoff)
        .last()
        .map(|e| e.seq);
    let Some(through) = through else {
        println!(
            "Nothing to prune: no journal entry is older than {} ({years} years).",
            cutoff.format("%Y-%m-%d")
        );
        return Ok(0);
    };
    let first = entries.first().map_or(through, |e| e.seq);
    if dry_run {
        println!(
            "Would prune entries {first}–{through} ({} entries, older than {}); nothing was changed.",
            old.len(),
            cutoff.format("%Y-%m-%d")
        );
        return Ok(0);
    }
    let n = store
        .prune_journal(through, now)
        .map_err(|e| Failure::other(e.to_string()))?;
    println!(
        "Pruned entries {first}–{through} ({n} entries, older than {}); the journal now starts at {} from a signed checkpoint, and still verifies.",
        cutoff.format("%Y-%m-%d"),
        through + 1
    );
    Ok(0)
}

/// One delegation in an access review.
#[derive(Debug, Serialize)]
struct ReviewDelegation {
    id: String,
    from: String,
    to: String,
    starts: Option<DateTime<Utc>>,
    ends: Option<DateTime<Utc>>,
    approvals: bool,
    /// Where it stands now: upcoming, active, expired.
    status: &'static str,
}

/// A decision taken on someone's behalf.
#[derive(Debug, Serialize)]
struct ReviewDecision {
    at: String,
    change: String,
    decision: String,
    decided_by: String,
    on_behalf_of: String,
    justification: String,
}

/// `audit access-review`: the delegations around the user (from the instance, or the cache
/// offline) that were in force at some point of the period, and the decisions on someone's
/// behalf in it (from the journal).
async fn access_review(
    s: &Session,
    store: &Store,
    from: Option<&str>,
    to: Option<&str>,
    output: Output,
) -> Result<u8, Failure> {
    let (from, to) = window(from, to)?;
    let clock = s.clock_for(Some(store));
    let now = clock.now();
    let (delegations, source) = if s.cli.offline {
        (
            store
                .delegations()
                .map_err(|e| Failure::other(e.to_string()))?,
            "the cache",
        )
    } else {
        let backend = s.connect(&clock)?;
        let user = backend.current_user().await?;
        (backend.delegations(&user.sys_id).await?, "the instance")
    };
    let overlaps = |d: &crate::domain::Delegation| {
        from.is_none_or(|f| d.ends.is_none_or(|e| e >= f))
            && to.is_none_or(|t| d.starts.is_none_or(|st| st <= t))
    };
    let delegations: Vec<ReviewDelegation> = delegations
        .iter()
        .filter(|d| overlaps(d))
        .map(|d| ReviewDelegation {
            id: d.sys_id.clone(),
            from: d.user.label().to_string(),
            to: d.delegate.label().to_string(),
            starts: d.starts,
            ends: d.ends,
            approvals: d.approvals,
            status: d.status(now).label(),
        })
        .collect();
    let entries = store.journal().map_err(|e| Failure::other(e.to_string()))?;
    let decisions: Vec<ReviewDecision> = log_rows(&entries)
        .into_iter()
        .zip(&entries)
        .filter(|(r, e)| {
            r.kind == "decision.queued"
                && !r.on_behalf_of.is_empty()
                && from.is_none_or(|f| e.created_at >= f)
                && to.is_none_or(|t| e.created_at <= t)
        })
        .map(|(r, _)| ReviewDecision {
            at: r.at,
            change: r.change,
            decision: r.decision,
            decided_by: r.actor,
            on_behalf_of: r.on_behalf_of,
            justification: r.justification,
        })
        .collect();
    if output != Output::Table {
        #[derive(Serialize)]
        struct Review<'a> {
            from: Option<DateTime<Utc>>,
            to: Option<DateTime<Utc>>,
            delegations: &'a [ReviewDelegation],
            decisions_on_behalf: &'a [ReviewDecision],
        }
        return super::output::record(
            output,
            &Review {
                from,
                to,
                delegations: &delegations,
                decisions_on_behalf: &decisions,
            },
            |_| Ok(()),
            "the review",
        )
        .map(|_| 0);
    }
    let show = |t: Option<DateTime<Utc>>| {
        t.map_or("open".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M").to_string()
        })
    };
    let mut t = format!(
        "Access review{}: delegations from {source}, decisions from the journal.\n\nDelegations:\n",
        match (from, to) {
            (None, None) => String::new(),
            (f, t) => format!(" {} to {}", show(f), show(t)),
        }
    );
    for d in &delegations {
        t.push_str(&format!(
            "  {:<20} → {:<20} {} – {}  {:<8} approvals {}\n",
            crate::domain::text::cap_chars(&d.from, 20),
            crate::domain::text::cap_chars(&d.to, 20),
            show(d.starts),
            show(d.ends),
            d.status,
            if d.approvals { "yes" } else { "no" }
        ));
    }
    if delegations.is_empty() {
        t.push_str("  (none)\n");
    }
    t.push_str("\nDecisions on someone's behalf:\n");
    for d in &decisions {
        t.push_str(&format!(
            "  {}  {:<11} {:<8} {} for {}: {}\n",
            d.at.get(..16).unwrap_or(&d.at).replace('T', " "),
            d.change,
            d.decision,
            d.decided_by,
            d.on_behalf_of,
            crate::domain::text::cap_chars(&d.justification, 80)
        ));
    }
    if decisions.is_empty() {
        t.push_str("  (none)\n");
    }
    write_out(None, &t, "the review")?;
    Ok(0)
}
