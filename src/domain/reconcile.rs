//! Reconciliation: deployments (what a pipeline says it deployed) against the changes that
//! should have authorised them. Pure: the deployments, the changes as the instance has them
//! and the policy come in; a finding per deployment goes out.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::gate::{ChangeStatus, Refusal, judge};
use super::policy::Policy;
use super::text::clean_line;

/// One deployment from a pipeline's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    /// The line of the file it came from (1-based).
    pub line: usize,
    pub at: DateTime<Utc>,
    pub environment: String,
    /// The change number it names (empty: none).
    pub change: String,
    pub service: String,
    pub version: String,
}

/// What a deployment was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Authorized,
    NoChange,
    UnknownChange,
    NotApproved,
    Rejected,
    OnHold,
    OutsideWindow,
    WrongTier,
    Closed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Authorized => "authorized",
            Verdict::NoChange => "no change",
            Verdict::UnknownChange => "unknown change",
            Verdict::NotApproved => "not approved",
            Verdict::Rejected => "rejected",
            Verdict::OnHold => "on hold",
            Verdict::OutsideWindow => "outside the window",
            Verdict::WrongTier => "tier does not cover the environment",
            Verdict::Closed => "change closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub deployment: Deployment,
    pub verdict: Verdict,
    pub detail: String,
    /// What this journal holds about the change: the decisions taken through signoff that
    /// reached the instance (empty: none here).
    pub journal: String,
}

/// Reads a deployments file: CSV (`time,environment,change,service,version`, a header line
/// optional) or JSON lines with those keys. Times are RFC 3339 or `YYYY-MM-DD HH:MM[:SS]` in
/// UTC. A line that cannot be read is an error naming it.
pub fn parse_deployments(text: &str) -> Result<Vec<Deployment>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut first_data = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = if l.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(l)
                .map_err(|e| format!("line {line} is not valid JSON: {e}"))?;
            let get = |k: &str| match v.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            vec![
                get("time"),
                get("environment"),
                get("change"),
                get("service"),
                get("version"),
            ]
        } else {
            let cells = csv_cells(l).map_err(|e| format!("line {line}: {e}"))?;
            if first_data
                && cells
                    .first()
                    .is_some_and(|c| c.eq_ignore_ascii_case("time"))
            {
                first_data = false;
                continue; // the header
            }
            cells
        };
        if fields.len() < 2 {
            return Err(format!(
                "line {line} has {} field(s); a deployment is time, environment, change, service, version",
                fields.len()
            ));
        }
        let field = |n: usize| clean_line(fields.get(n).map_or("", |s| s.as_str()), 120);
        let at = parse_time(&field(0)).ok_or_else(|| {
            format!(
                "line {line}: {:?} is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS, UTC)",
                field(0)
            )
        })?;
        first_data = false;
        let environment = field(1);
        if environment.is_empty() {
            return Err(format!("line {line} names no environment"));
        }
        let change = field(2).to_uppercase();
        if !change.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "line {line}: {change:?} is not a change number (like CHG0030001; leave it empty for none)"
            ));
        }
        out.push(Deployment {
            line,
            at,
            environment,
            change,
            service: field(3),
            version: field(4),
        });
    }
    Ok(out)
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .map(|n| n.and_utc())
}

/// The cells of one CSV line (quotes with doubled `""` inside).
fn csv_cells(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                cells.push(if was_quoted {
                    cur.clone()
                } else {
                    cur.trim().to_string()
                });
                cur.clear();
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    cells.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(cells)
}

/// Judges one deployment: its change (`None`: not on the instance) must have been approved,
/// not on hold or rejected, with the deployment inside its planned window and its tier
/// covering the environment — the gate's rules at the time of the deployment.
pub fn judge_deployment(d: &Deployment, status: Option<&ChangeStatus>, policy: &Policy) -> Finding {
    let (verdict, detail) = if d.change.is_empty() {
        (
            Verdict::NoChange,
            "the deployment names no change".to_string(),
        )
    } else {
        match status {
            None => (
                Verdict::UnknownChange,
                format!("there is no change {} on the instance", d.change),
            ),
            Some(s) => match judge(s, &d.environment, policy, d.at) {
                // Approved now; but was it already approved when it was deployed? The last
                // approval decided after the deployment says no.
                Ok(_) => match s
                    .approvals
                    .iter()
                    .filter(|a| a.approval.state == super::change::ApprovalState::Approved)
                    .filter_map(|a| a.approval.sys_updated_on)
                    .max()
                {
                    Some(approved_at) if approved_at > d.at => (
                        Verdict::NotApproved,
                        format!(
                            "{} was approved only at {}, after the deployment",
                            d.change,
                            approved_at.format("%Y-%m-%d %H:%M UTC")
                        ),
                    ),
                    _ => (
                        Verdict::Authorized,
                        format!("{} was approved for it", d.change),
                    ),
                },
                Err((refusal, why)) => (
                    match refusal {
                        Refusal::Unknown => Verdict::UnknownChange,
                        Refusal::OnHold => Verdict::OnHold,
                        Refusal::Rejected => Verdict::Rejected,
                        Refusal::NotApproved => Verdict::NotApproved,
                        Refusal::TooEarly | Refusal::OutsideWindow => Verdict::OutsideWindow,
                        Refusal::WrongTier => Verdict::WrongTier,
                        Refusal::Closed => Verdict::Closed,
                    },
                    why,
                ),
            },
        }
    };
    Finding {
        deployment: d.clone(),
        verdict,
        detail,
        journal: String::new(),
    }
}

/// Per change number, the decisions of this journal that reached the instance:
/// `approve by Alice Moreno for Carla Diaz at 2026-11-25T12:00:00Z`, joined with `; `.
pub fn journal_decisions(
    rows: &[super::audit::LogRow],
) -> std::collections::BTreeMap<String, String> {
    let mut out: std::collections::BTreeMap<String, String> = Default::default();
    for r in rows.iter().filter(|r| r.kind == "decision.applied") {
        let who = if r.on_behalf_of.is_empty() {
            r.actor.clone()
        } else {
            format!("{} for {}", r.actor, r.on_behalf_of)
        };
        let text = format!("{} by {who} at {}", r.decision, r.at);
        out.entry(r.change.clone())
            .and_modify(|t| {
                t.push_str("; ");
                t.push_str(&text);
            })
            .or_insert(text);
    }
    out
}

/// The report as Markdown.
pub fn report_markdown(findings: &[Finding]) -> String {
    let bad = findings
        .iter()
        .filter(|f| f.verdict != Verdict::Authorized)
        .count();
    let mut out = String::from("# Deployment reconciliation\n\n");
    out.push_str(&format!(
        "{} deployment{} checked: {} authorized, {} not.\n\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        findings.len() - bad,
        bad
    ));
    out.push_str("| line | time (UTC) | environment | change | service | version | finding | detail | in this journal |\n|---|---|---|---|---|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|");
    for f in findings {
        let d = &f.deployment;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            d.line,
            d.at.format("%Y-%m-%d %H:%M:%S"),
            cell(&d.environment),
            cell(if d.change.is_empty() {
                "—"
            } else {
                &d.change
            }),
            cell(&d.service),
            cell(&d.version),
            if f.verdict == Verdict::Authorized {
                f.verdict.label().to_string()
            } else {
                format!("**{}**", f.verdict.label())
            },
            cell(&f.detail),
            cell(if f.journal.is_empty() {
                "—"
            } else {
                &f.journal
            })
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_read_from_csv_as_jq_writes_it_and_json_lines() {
        let text = "time,environment,change,service,version\n\
            \"2026-11-25T12:00:00Z\",\"production\",\"CHG0030042\",\"checkout\",\"abcdef12\"\n\
            \"2026-11-25T13:00:00Z\",\"production\",\"\",\"check, out\",\"a\"\"b\"\n\
            # a comment\n\
            {\"time\":\"2026-11-25 14:00:00\",\"environment\":\"prod\",\"change\":\"chg0030043\",\"service\":\"web\",\"version\":9}\n";
        let d = parse_deployments(text).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].line, d[0].change.as_str()), (2, "CHG0030042"));
        assert_eq!(
            (
                d[1].change.as_str(),
                d[1].service.as_str(),
                d[1].version.as_str()
            ),
            ("", "check, out", "a\"b")
        );
        assert_eq!(
            (d[2].change.as_str(), d[2].version.as_str()),
            ("CHG0030043", "9")
        );
        assert!(
            parse_deployments("\"2026-11-25T12:00:00Z,prod\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse_deployments("2026-11-25T12:00:00Z,\n")
                .unwrap_err()
                .contains("no environment")
        );
    }
}
