//! `signoff sim`, and the in-process instance behind `signoff demo`.

use super::Failure;
use crate::sim;

pub fn config(
    seed: u64,
    changes: usize,
    page_cap: Option<usize>,
    latency_ms: u64,
) -> Result<sim::SimConfig, Failure> {
    config_with(seed, changes, page_cap, latency_ms, 0)
}

/// [`config`] with the cost of deep offsets (`--offset-cost-ms`, per 1,000 rows skipped).
pub fn config_with(
    seed: u64,
    changes: usize,
    page_cap: Option<usize>,
    latency_ms: u64,
    offset_cost_ms: u64,
) -> Result<sim::SimConfig, Failure> {
    if changes > 400_000 {
        return Err(Failure::usage(
            "--changes can be at most 400000. Choose a smaller number.",
        ));
    }
    if page_cap == Some(0) {
        return Err(Failure::usage(
            "--page-cap must be at least 1. Leave it out for no cap.",
        ));
    }
    Ok(sim::SimConfig {
        seed,
        changes,
        page_cap: page_cap.unwrap_or(sim::NO_PAGE_CAP),
        latency: std::time::Duration::from_millis(latency_ms),
        offset_cost_per_1000: std::time::Duration::from_millis(offset_cost_ms),
        ..sim::SimConfig::default()
    })
}

/// Validates and applies the fault switches of `signoff sim`.
pub fn faults(
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

pub async fn standalone(cfg: sim::SimConfig, port: u16) -> Result<(), Failure> {
    sim::run_standalone(cfg, port).await.map_err(|e| {
        Failure::other(format!(
            "Could not start the server on 127.0.0.1:{port}: {e}. Choose another --port."
        ))
    })
}

/// The demo instance on 127.0.0.1 (a free port), its clock starting at `now`, keeping its
/// records in `data_file` (started over from the seed when `fresh`).
pub async fn start_demo(
    seed: u64,
    changes: usize,
    now: chrono::DateTime<chrono::Utc>,
    data_file: std::path::PathBuf,
    fresh: bool,
) -> Result<sim::SimServer, Failure> {
    if fresh {
        match std::fs::remove_file(&data_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::other(format!(
                    "Could not remove the demo instance's records at {}: {e}.",
                    data_file.display()
                )));
            }
        }
    }
    let mut cfg = config(seed, changes, None, 0)?;
    cfg.now = Some(now);
    cfg.data_file = Some(data_file);
    // Another seed or size than the records kept: the user asked for another instance.
    cfg.data_of_this_seed_only = true;
    sim::SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| Failure::other(format!("Could not start the demo instance: {e}.")))
}
