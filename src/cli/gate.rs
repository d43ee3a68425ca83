//! `signoff gate CHANGE --env ENV [--wait --timeout 30m] [--evidence FILE]`: may this change
//! be deployed there now? Exit 0 with the evidence, or a reason and its exit code.

use std::time::{Duration, Instant};

use super::Failure;
use super::connect::Session;
use crate::backend::Backend;
use crate::domain::Clock;
use crate::domain::gate::{Refusal, judge};

pub struct GateArgs {
    pub change: String,
    pub env: String,
    pub wait: bool,
    pub timeout: String,
    pub interval: String,
    pub evidence: Option<std::path::PathBuf>,
}

/// `30m`, `90s`, `2h`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("{t:?} is not a duration (like 30m, 90s or 1h30m)");
    // At most a day: a gate that waits longer is a pipeline stuck.
    let cap = |secs: u64| {
        if secs == 0 || secs > 24 * 3600 {
            Err(format!(
                "{t:?} is not a duration between 1 second and 24 hours"
            ))
        } else {
            Ok(Duration::from_secs(secs))
        }
    };
    if let Ok(secs) = t.parse::<u64>() {
        return cap(secs);
    }
    let mut total = 0u64;
    let mut number = String::new();
    for ch in t.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    cap(total)
}

pub async fn run(s: &Session, a: GateArgs) -> Result<u8, Failure> {
    if s.cli.offline {
        return Err(Failure::usage(
            "The gate asks the instance; a cached answer could let an unapproved change through. Leave out --offline.",
        ));
    }
    let number = a.change.trim().to_uppercase();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Failure::usage(format!(
            "{:?} is not a change number (like CHG0030001).",
            crate::domain::text::clean_line(&number, 40)
        )));
    }
    let env = a.env.trim().to_string();
    if env.is_empty()
        || !env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Failure::usage(
            "--env names an environment, like prod or staging (letters, digits, - _ .).",
        ));
    }
    let timeout = parse_duration(&a.timeout).map_err(Failure::usage)?;
    let policy = &s.policy();
    if !policy.environments.is_empty()
        && !policy
            .environments
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&env))
    {
        eprintln!(
            "signoff gate: note: {env} is not in [policy.environments] ({}); any approved change covers it.",
            policy
                .environments
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut interval = parse_duration(&a.interval).map_err(Failure::usage)?;
    let store = s.open_store().ok();
    let clock = s.clock_for(store.as_ref());
    let backend = s.connect(&clock)?;
    let started = Instant::now();
    loop {
        let verdict = match backend.change_status(&number).await {
            Ok(Some(status)) => judge(&status, &env, &s.policy(), clock.now()),
            Ok(None) => Err((
                Refusal::Unknown,
                format!(
                    "There is no change {number} on the instance, or this account may not read it."
                ),
            )),
            // Network trouble while waiting is waited out; otherwise it is the answer.
            Err(e) if a.wait && e.is_transient() && started.elapsed() < timeout => Err((
                Refusal::NotApproved,
                format!("the instance did not answer ({e})"),
            )),
            Err(e) => return Err(Failure::other(e.to_string())),
        };
        match verdict {
            Ok(evidence) => {
                let json = super::json_text(&evidence)?;
                if let Some(path) = &a.evidence {
                    std::fs::write(path, &json).map_err(|e| {
                        Failure::other(format!(
                            "Could not write the evidence to {}: {e}.",
                            path.display()
                        ))
                    })?;
                }
                eprintln!(
                    "signoff gate: {number} may be deployed to {env}: approved, not on hold, inside its window, and its tier ({}) covers {env}.",
                    evidence.tier
                );
                print!("{json}");
                return Ok(0);
            }
            Err((refusal, why)) => {
                let left = timeout.saturating_sub(started.elapsed());
                if !a.wait || !refusal.may_change() || left.is_zero() {
                    let gave_up = if a.wait && refusal.may_change() {
                        format!(" Gave up after {}.", human(timeout))
                    } else {
                        String::new()
                    };
                    eprintln!("signoff gate: {why}{gave_up}");
                    return Ok(refusal.exit_code());
                }
                let pause = interval.min(left);
                eprintln!(
                    "signoff gate: {why} Checking again in {} ({} left).",
                    human(pause),
                    human(left)
                );
                tokio::time::sleep(pause).await;
                // Back off gently: every check is a few requests to the instance.
                interval = interval
                    .min(Duration::from_secs(60))
                    .mul_f64(1.5)
                    .min(Duration::from_secs(60));
            }
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
    }
}
