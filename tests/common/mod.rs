//! Helpers shared by the command-line tests: a sim on 127.0.0.1:0 and the real binary with a
//! clean environment.
#![allow(dead_code)] // each test crate uses its own subset

pub mod ui;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use signoff::backend::servicenow::{Options, ServiceNow};
use signoff::backend::{Connection, Secret, parse_instance_url};
use signoff::domain::{Clock, ServerClock};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, SimClock, SimConfig, SimServer};

/// The sims' clock anchor in these tests: 2026-11-25 12:00 UTC, or `SIGNOFF_TEST_ANCHOR`
/// (RFC 3339). Every client under test runs on its sim's clock, so the suite passes on any
/// date; running it with the anchor a year away proves it.
pub fn anchor() -> DateTime<Utc> {
    match std::env::var("SIGNOFF_TEST_ANCHOR") {
        Ok(s) if !s.is_empty() => DateTime::parse_from_rfc3339(&s)
            .expect("SIGNOFF_TEST_ANCHOR is an RFC 3339 time")
            .to_utc(),
        _ => Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
    }
}

pub fn sim_config(seed: u64, changes: usize, page_cap: usize) -> SimConfig {
    SimConfig {
        seed,
        changes,
        page_cap,
        now: Some(anchor()),
        ..SimConfig::default()
    }
}

pub async fn sim(seed: u64, changes: usize, page_cap: usize) -> SimServer {
    SimServer::start(
        sim_config(seed, changes, page_cap),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

/// The sim's clock as a client's.
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// A server clock whose local time is the sim's: what every client under test runs on.
pub fn clock(server: &SimServer) -> Arc<ServerClock> {
    Arc::new(ServerClock::new(Arc::new(SimTime(server.clock()))))
}

/// The adapter signed in to `server` as `user`, on `clock`.
pub fn client_on(
    server: &SimServer,
    user: &str,
    password: &str,
    clock: &Arc<ServerClock>,
) -> ServiceNow {
    ServiceNow::with_options(
        Connection {
            instance: parse_instance_url(&server.url()).unwrap(),
            user: user.into(),
            password: Secret::new(password),
        },
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .unwrap()
}

/// The demo approver's client on `server`, on the sim's clock.
pub fn demo_client(server: &SimServer) -> (Arc<ServerClock>, ServiceNow) {
    let clock = clock(server);
    let sn = client_on(server, DEMO_USER, DEMO_PASSWORD, &clock);
    (clock, sn)
}

/// A sim of `changes` changes from `seed`, the demo approver's client on it, and a store in
/// `dir` synced from it once.
pub async fn synced_demo(
    seed: u64,
    changes: usize,
    dir: &Path,
) -> (
    SimServer,
    Arc<ServerClock>,
    ServiceNow,
    signoff::store::Store,
) {
    let server = sim(seed, changes, 200).await;
    let (clock, sn) = demo_client(&server);
    let mut store = signoff::store::Store::open(&dir.join("synced.sqlite3")).unwrap();
    sync(&sn, &mut store, &clock).await;
    (server, clock, sn, store)
}

/// One sync of `store` through `sn` on `clock`, which must succeed.
pub async fn sync(
    sn: &ServiceNow,
    store: &mut signoff::store::Store,
    clock: &Arc<ServerClock>,
) -> signoff::sync::SyncOutcome {
    signoff::sync::sync_once(sn, store, clock.as_ref(), &signoff::backend::no_progress)
        .await
        .unwrap()
}

/// The environment the binary runs with in these tests: nothing from this one but PATH, its
/// home at `home`, local time UTC, and its clock started at the sims' anchor (the sim it
/// talks to started there a moment earlier; signoff corrects the rest from the sim's Date
/// header). With `url`, signed in there as the demo approver.
pub fn env(home: &Path, url: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("SIGNOFF_HOME", home.display().to_string()),
        ("SIGNOFF_NOW", anchor().to_rfc3339()),
        ("TZ", "UTC".to_string()),
        // Never the developer's own keyring: tests/keyring.rs tests a real one on purpose.
        ("SIGNOFF_SECRETS", "file".to_string()),
        // Standard output is a pipe here, where listings print JSON by default; the tests of
        // the formats ask for theirs (or remove this to see the default).
        ("SIGNOFF_OUTPUT", "table".to_string()),
    ];
    if let Some(url) = url {
        env.extend([
            ("SIGNOFF_INSTANCE", url.to_string()),
            ("SIGNOFF_USER", DEMO_USER.to_string()),
            ("SIGNOFF_PASSWORD", DEMO_PASSWORD.to_string()),
        ]);
    }
    env
}

/// The binary with the tests' environment (see [`env`]) and no standard input.
pub fn signoff(home: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
    cmd.args(args)
        .env_clear()
        .envs(env(home, None))
        .stdin(Stdio::null());
    cmd
}

/// Same, signed in to `url` as the demo approver.
pub fn signoff_as_demo(home: &Path, url: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signoff"));
    cmd.args(args)
        .env_clear()
        .envs(env(home, Some(url)))
        .stdin(Stdio::null());
    cmd
}

/// Rows of a table as the sim serves them to an admin, read with plain HTTP (not our client).
pub async fn rows(
    server: &signoff::sim::SimServer,
    table: &str,
    query: &str,
    fields: &str,
) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/api/now/table/{table}?sysparm_query={}&sysparm_fields={fields}&sysparm_limit=1000",
        server.url(),
        urlencode(query)
    );
    signoff::init_tls();
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .basic_auth("admin", Some(DEMO_PASSWORD))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["result"].as_array().cloned().unwrap_or_default()
}

/// Writes `fields` to a record with plain HTTP as `user` (the web UI's part, not our client).
pub async fn patch_record(
    server: &signoff::sim::SimServer,
    table: &str,
    user: &str,
    sys_id: &str,
    fields: serde_json::Value,
) {
    let url = format!("{}/api/now/table/{table}/{sys_id}", server.url());
    let status = reqwest::Client::new()
        .patch(url)
        .basic_auth(user, Some(DEMO_PASSWORD))
        .header("Accept", "application/json")
        .json(&fields)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes signoff's config file under the test home `home` (`config/config.toml`).
pub fn write_config(home: &Path, text: &str) {
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config").join("config.toml"), text).unwrap();
}

/// Writes a config with a changed policy and confirms it (`signoff policy confirm --yes`): a
/// changed policy is not used until it is confirmed.
pub async fn confirmed_config(home: &Path, text: &str) {
    confirmed_config_at(home, text, &anchor().to_rfc3339()).await;
}

/// The same, confirmed at `now` (RFC 3339) whatever the anchor.
pub async fn confirmed_config_at(home: &Path, text: &str, now: &str) {
    write_config(home, text);
    let o = signoff(home, &["policy", "confirm", "--yes"])
        .env("SIGNOFF_NOW", now)
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs `c` with `input` on its standard input; its output.
pub async fn with_stdin(mut c: tokio::process::Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
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
