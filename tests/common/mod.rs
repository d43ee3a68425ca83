//! Helpers shared by the command-line tests: a sim on 127.0.0.1:0 and the real binary with a
//! clean environment.
#![allow(dead_code)] // each test crate uses its own subset

pub mod ui;

use std::path::Path;
use std::process::{Output, Stdio};

use chrono::{DateTime, TimeZone, Utc};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimConfig, SimServer};

/// The sims' clock anchor in these tests.
pub fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

pub async fn sim(seed: u64, changes: usize, page_cap: usize) -> SimServer {
    SimServer::start(
        SimConfig {
            seed,
            changes,
            page_cap,
            now: Some(anchor()),
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

/// The binary with nothing from this environment but PATH, its home at `home`, local time
/// UTC and no standard input.
pub fn signoff(home: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNOFF_HOME", home)
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    cmd
}

/// Same, signed in to `url` as the demo approver.
pub fn signoff_as_demo(home: &Path, url: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = signoff(home, args);
    cmd.env("SIGNOFF_INSTANCE", url)
        .env("SIGNOFF_USER", DEMO_USER)
        .env("SIGNOFF_PASSWORD", DEMO_PASSWORD);
    cmd
}

pub async fn run_as_demo(home: &Path, url: &str, args: &[&str]) -> Output {
    signoff_as_demo(home, url, args).output().await.unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
