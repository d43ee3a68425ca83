//! `signoff insights [--days 7|30|90]`: the approval figures of the last days from the user's
//! own decisions and the cached queue (see [`crate::domain::insights`]), for service review
//! meetings; `--output json` prints the same figures the console's `I` screen charts.

use std::io::Write;

use super::Failure;
use super::connect::Session;
use super::output;
use crate::domain::insights::{self, Insights};
use crate::domain::{Clock, build_queue};

/// The figures from the store of the session's profile, at the session's clock.
pub fn figures(s: &Session, days: i64) -> Result<Insights, Failure> {
    let store = s.open_store()?;
    let clock = s.clock_for(Some(&store));
    let decisions: Vec<_> = store
        .outbox(false)
        .map_err(|e| Failure::other(e.to_string()))?
        .into_iter()
        .map(|e| (e.decision, e.delivery))
        .collect();
    let pending = build_queue(
        &s.policy(),
        store
            .load_snapshot()
            .map_err(|e| Failure::other(e.to_string()))?
            .approvals,
    );
    let meetings = store
        .meeting_details()
        .map_err(|e| Failure::other(e.to_string()))?;
    let server = store
        .server_history()
        .map_err(|e| Failure::other(e.to_string()))?;
    Ok(insights::compute(
        &s.policy(),
        &decisions,
        &pending,
        &meetings,
        &server.decisions,
        clock.now(),
        days,
    ))
}

pub fn run(s: &Session, days: i64) -> Result<u8, Failure> {
    if !insights::PERIODS.contains(&days) {
        return Err(Failure::usage(format!(
            "--days is {days}; use 7, 30 or 90."
        )));
    }
    let f = figures(s, days)?;
    output::record(s.output(), &f, |w| table(w, &f), "the insights")?;
    Ok(0)
}

fn hours(minutes: i64) -> String {
    format!("{}h {:02}m", minutes / 60, minutes % 60)
}

fn table(w: &mut dyn Write, f: &Insights) -> std::io::Result<()> {
    writeln!(
        w,
        "Last {} days: {} decision{} ({} approved, {} rejected, {:.0}% rejected){}",
        f.days,
        f.decisions,
        if f.decisions == 1 { "" } else { "s" },
        f.approved,
        f.rejected,
        f.rejection_rate * 100.0,
        if f.not_applied > 0 {
            format!(
                "; {} not applied (conflict or failed) left out",
                f.not_applied
            )
        } else {
            String::new()
        }
    )?;
    writeln!(w, "\nCycle time, request to decision (median / p90):")?;
    if f.cycle_time.is_empty() {
        writeln!(w, "  —")?;
    }
    for c in &f.cycle_time {
        writeln!(
            w,
            "  {:<10} {:>9} / {:>9}  ({} decisions)",
            c.tier,
            hours(c.median_minutes),
            hours(c.p90_minutes),
            c.decisions
        )?;
    }
    writeln!(
        w,
        "\nDecisions per day: {}",
        f.per_day
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    for (title, list) in [
        ("Rejections by group", &f.rejections_by_group),
        ("Rejections by change type", &f.rejections_by_type),
    ] {
        writeln!(w, "\n{title}:")?;
        for r in list.iter().filter(|r| r.decided > 0) {
            let name = if r.name.is_empty() { "—" } else { &r.name };
            writeln!(
                w,
                "  {name:<28} {}/{} ({:.0}%)",
                r.rejected,
                r.decided,
                r.rate * 100.0
            )?;
        }
    }
    if !f.top_reasons.is_empty() {
        writeln!(w, "\nTop rejection reasons:")?;
        for r in &f.top_reasons {
            writeln!(w, "  {}× {}", r.count, r.reason)?;
        }
    }
    if !f.repeated.is_empty() {
        writeln!(
            w,
            "\nRejected more than once (an upstream planning problem?):"
        )?;
        for r in &f.repeated {
            writeln!(
                w,
                "  {} {}: {} rejections ({})",
                r.kind,
                r.name,
                r.rejections,
                r.changes.join(", ")
            )?;
        }
    }
    let tiers = |l: &[insights::ByTier]| insights::ByTier::list(l, ", ");
    writeln!(
        w,
        "\nLast-minute approvals (< 1 h before the window): {}",
        tiers(&f.last_minute)
    )?;
    writeln!(
        w,
        "Decided after the SLA breached: {}",
        tiers(&f.decided_after_breach)
    )?;
    writeln!(
        w,
        "Escalated: {} decided after escalating; {} pending escalated now",
        f.decided_escalated, f.pending_escalated
    )?;
    writeln!(
        w,
        "Pending and breached now: {}",
        tiers(&f.pending_breached)
    )?;
    writeln!(w, "\nCAB: {}", f.cab.describe())?;
    writeln!(
        w,
        "Automated approvals: {}",
        insights::describe_automated(&f.automated)
    )?;
    Ok(())
}
