//! The `signoff` binary as scripts use it: real process, real sim over HTTP, temp SIGNOFF_HOME.

mod common;

use std::process::Output;

use common::stderr;
use signoff::sim::{DEMO_PASSWORD, DEMO_USER, Fault, SimServer};

async fn start(changes: usize) -> SimServer {
    common::sim(11, changes, 25).await
}

/// Runs the binary with a clean environment apart from the given variables.
async fn signoff(args: &[&str], env: &[(&str, &str)]) -> Output {
    signoff_with_log(args, env).await.0
}

/// Same, also returning what the run wrote to its log file.
async fn signoff_with_log(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::signoff(home.path(), args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let log = std::fs::read_to_string(home.path().join("state/signoff.log")).unwrap_or_default();
    (out, log)
}

#[tokio::test]
async fn queue_json_lists_every_pending_approval() {
    let server = start(150).await;
    let url = server.url();
    let out = signoff(
        &["queue", "--json"],
        &[
            ("SIGNOFF_INSTANCE", &url),
            ("SIGNOFF_USER", DEMO_USER),
            ("SIGNOFF_PASSWORD", DEMO_PASSWORD),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let alice = server
        .users()
        .into_iter()
        .find(|u| u.user_name == DEMO_USER)
        .unwrap();
    // Hers, and those of Carla, who delegated her approvals to Alice (seeded, active).
    let now = server.now();
    let mut acting = vec![alice.sys_id.clone()];
    for d in server
        .query_ids(
            "sys_user_delegate",
            &format!(
                "delegate={}^approvals=true^starts<={now}^ends>={now}",
                alice.sys_id
            ),
        )
        .unwrap()
    {
        acting.push(server.record("sys_user_delegate", &d).unwrap()["user"].clone());
    }
    assert_eq!(acting.len(), 2);
    let want = server
        .query_ids(
            "sysapproval_approver",
            &format!(
                // The queue: requested, and suspended by a hold (a seeded agenda change).
                "approverIN{0}^source_table=change_request^state=requested^NQapproverIN{0}^source_table=change_request^state=not_required^sysapproval.on_hold=true",
                acting.join(",")
            ),
        )
        .unwrap();
    assert_eq!(rows.len(), want.len());
    let tiers = ["emergency", "critical", "high", "moderate", "low"];
    let mut last_tier = 0;
    let mut held_seen = false;
    for r in &rows {
        for key in [
            "number",
            "approval_sys_id",
            "tier",
            "tier_reason",
            "state",
            "sla_deadline",
            "sla_status",
            "window_start",
            "requested_by",
            "short_description",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        // Requested, or suspended while its change is on hold.
        assert!(
            r["state"] == "requested" || r["state"] == "not_required" && r["on_hold"] == true,
            "{r}"
        );
        let deadline = r["sla_deadline"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(deadline).unwrap();
        assert!(["on_track", "warning", "breached"].contains(&r["sla_status"].as_str().unwrap()));
        // By tier, changes on hold last (their clocks stop), by tier again.
        let held = r["on_hold"] == true;
        assert!(held || !held_seen, "changes on hold come last: {r}");
        if held && !held_seen {
            held_seen = true;
            last_tier = 0;
        }
        let t = tiers.iter().position(|t| *t == r["tier"]).unwrap();
        assert!(t >= last_tier, "queue order is by tier");
        last_tier = t;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_ends_in_one_sentence_and_a_non_zero_exit() {
    let server = start(20).await;
    let url = server.url();
    let base = |pw: &'static str| {
        vec![
            ("SIGNOFF_INSTANCE", url.clone()),
            ("SIGNOFF_USER", DEMO_USER.to_string()),
            ("SIGNOFF_PASSWORD", pw.to_string()),
        ]
    };
    let run = |env: Vec<(&'static str, String)>| async move {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        signoff(&["queue", "--json"], &env).await
    };

    let (out, log) = signoff_with_log(
        &["queue", "--json", "--user", DEMO_USER, "--instance", &url],
        &[
            ("SIGNOFF_PASSWORD", "hunter2-secret"),
            ("SIGNOFF_LOG", "trace"),
        ],
    )
    .await;
    // Exit 5: the instance refused the sign-in (README, exit codes).
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("refused the user name or password"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("hunter2"),
        "the password is not echoed"
    );
    assert!(
        log.contains("exiting with an error"),
        "the log is written: {log}"
    );
    assert!(
        !log.contains("hunter2"),
        "the password never reaches the log"
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    server.faults().push(Fault::Status(500));
    let out = run(base(DEMO_PASSWORD)).await;
    assert_eq!(out.status.code(), Some(7), "exit 7: server error");
    assert!(
        stderr(&out).contains("server error (HTTP 500"),
        "{}",
        stderr(&out)
    );

    // Two 429s asking for a second each: waited out, said on stderr, and the queue printed.
    for _ in 0..2 {
        server.faults().push(Fault::RateLimited {
            retry_after_secs: 1,
        });
    }
    let out = run(base(DEMO_PASSWORD)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out)
            .matches("asked to wait 1 s (HTTP 429, rate limit)")
            .count(),
        2,
        "{}",
        stderr(&out)
    );
    // Asked to wait longer than a command should: the sentence, at once.
    server.faults().push(Fault::RateLimited {
        retry_after_secs: 3600,
    });
    let out = run(base(DEMO_PASSWORD)).await;
    assert_eq!(out.status.code(), Some(8), "exit 8: rate limited");
    assert!(stderr(&out).contains("rate-limiting"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("waiting"), "{}", stderr(&out));

    server.faults().push(Fault::MalformedJson);
    let out = run(base(DEMO_PASSWORD)).await;
    assert_eq!(
        out.status.code(),
        Some(7),
        "exit 7: an answer that is not the API's"
    );
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing half-printed");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = base(DEMO_PASSWORD);
    env[0].1 = format!("http://127.0.0.1:{port}");
    let out = run(env).await;
    assert_eq!(out.status.code(), Some(9), "exit 9: unreachable");
    assert!(stderr(&out).contains("Could not reach"), "{}", stderr(&out));

    let mut env = base(DEMO_PASSWORD);
    env[0].1 = "http://acme.service-now.com".into();
    let out = run(env).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("https://"), "{}", stderr(&out));

    let out = run(vec![
        ("SIGNOFF_INSTANCE", url.clone()),
        ("SIGNOFF_USER", DEMO_USER.to_string()),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SIGNOFF_PASSWORD"),
        "{}",
        stderr(&out)
    );

    let out = run(vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("signoff demo"), "{}", stderr(&out));
    server.shutdown().await;
}

#[tokio::test]
async fn a_broken_config_file_is_named() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(home.path().join("config/config.toml"), "theme = [\n").unwrap();
    let out = common::signoff(home.path(), &["queue"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("config.toml"), "{}", stderr(&out));
}

/// Runs the binary with SIGNOFF_HOME at `home`.
async fn signoff_at(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::signoff(home, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

#[tokio::test]
async fn sync_reports_changes_and_the_cache_answers_offline() {
    let server = start(80).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("SIGNOFF_INSTANCE", url.as_str()),
        ("SIGNOFF_USER", DEMO_USER),
        ("SIGNOFF_PASSWORD", DEMO_PASSWORD),
    ];
    let out = signoff_at(home.path(), &["sync"], &env).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("full pull") && text.contains("pending"),
        "{text}"
    );

    let out = signoff_at(home.path(), &["sync"], &env).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("0 added, 0 updated, 0 removed (incremental)"),
        "{text}"
    );

    let doctor = signoff_at(home.path(), &["doctor"], &env).await;
    let text = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success(), "{}", stderr(&doctor));
    assert!(
        text.contains("signed in as alice.moreno (Alice Moreno)"),
        "{text}"
    );
    assert!(text.contains("outbox       0 waiting"), "{text}");
    assert!(
        text.contains("password     from SIGNOFF_PASSWORD"),
        "{text}"
    );

    let online = signoff_at(home.path(), &["queue", "--json"], &env).await;
    assert!(online.status.success(), "{}", stderr(&online));
    server.shutdown().await;

    // The server is gone: --offline answers from the cache without touching the network.
    let offline = signoff_at(home.path(), &["queue", "--json", "--offline"], &env).await;
    assert!(offline.status.success(), "{}", stderr(&offline));
    let a: Vec<serde_json::Value> = serde_json::from_slice(&online.stdout).unwrap();
    let b: Vec<serde_json::Value> = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(a.len(), b.len());
    let numbers = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter().map(|r| r["number"].to_string()).collect()
    };
    assert_eq!(numbers(&a), numbers(&b));

    // Without --offline the same command says the instance is unreachable.
    let out = signoff_at(home.path(), &["queue", "--json"], &env).await;
    // Exit 9: unreachable (README, exit codes).
    assert_eq!(out.status.code(), Some(9));
    assert!(stderr(&out).contains("Could not reach"), "{}", stderr(&out));
}

#[tokio::test]
async fn offline_without_a_cache_and_unknown_profiles_are_explained() {
    let home = tempfile::tempdir().unwrap();
    let out = signoff_at(home.path(), &["queue", "--offline"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no cached queue"), "{}", stderr(&out));

    let out = signoff_at(home.path(), &["queue", "--profile", "staging"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no profile \"staging\""),
        "{}",
        stderr(&out)
    );

    let out = signoff_at(home.path(), &["sync", "--offline"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn completions_and_the_manual_come_from_the_command_definition() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = common::signoff(home.path(), &["completions", shell])
            .output()
            .await
            .unwrap();
        assert!(o.status.success(), "{shell}");
        let text = common::stdout(&o);
        for sub in ["approve", "audit", "gate", "reconcile", "cab", "auth"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
    }
    // The bash script is valid bash.
    let o = common::signoff(home.path(), &["completions", "bash"])
        .output()
        .await
        .unwrap();
    let script = home.path().join("signoff.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success());
    let o = common::signoff(home.path(), &["man"])
        .output()
        .await
        .unwrap();
    let man = common::stdout(&o);
    assert!(
        man.contains(".TH signoff 1") && man.contains("gate"),
        "{man}"
    );
    let o = common::signoff(home.path(), &["completions", "powershell-or-not"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
