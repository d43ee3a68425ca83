//! The command line against a server nobody here wrote (tests/hostile_server.py, in Python):
//! escape sequences in every field, a Date that is not a date, a total of ten million and an
//! endless Link, change records it will not show, and writes answered with a redirect to
//! another host. signoff must print nothing a terminal would act on, page a bounded number of
//! times and say why, and never call a redirected decision applied.

mod common;

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Whether a text could do anything to a terminal.
fn hostile(s: &str) -> bool {
    // As printed, and as `{:?}` writes them (escaped), so a Debug dump is checked too.
    let escaped = ["\\u{1b}", "\\u{7}", "\\u{202e}"]
        .iter()
        .any(|e| s.contains(e))
        || (0x80..=0x9f).any(|c| s.contains(&format!("\\u{{{c:x}}}")));
    escaped
        || s.chars().any(|c| {
            c == '\u{1b}' || c == '\u{7}' || ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{202e}'
        })
        || s.contains("]52;")
}

/// Starts tests/hostile_server.py: the process, its URL, and the requests it saw (read once
/// it is killed).
async fn hostile_server() -> (
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<Vec<String>>,
) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile_server.py");
    let mut server = tokio::process::Command::new("python3")
        .arg(script)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the hostile server");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let requests = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push(l);
        }
        seen
    });
    (server, url, requests)
}

#[tokio::test]
async fn a_hostile_server_gets_clean_output_bounded_paging_and_no_false_success() {
    let (mut server, url, requests) = hostile_server().await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| {
        let mut cmd = common::signoff(home.path(), args);
        cmd.env("SIGNOFF_INSTANCE", &url)
            .env("SIGNOFF_USER", "eve")
            .env("SIGNOFF_PASSWORD", "x");
        async move { cmd.output().await.unwrap() }
    };

    let o = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        run(&["queue", "--json"]),
    )
    .await
    .expect("bounded paging finishes");
    let (out, err) = (common::stdout(&o), common::stderr(&o));
    assert!(o.status.success(), "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 3);
    let text = rows.iter().map(|r| r.to_string()).collect::<String>();
    let decoded: Vec<String> = rows
        .iter()
        .flat_map(|r| r.as_object().unwrap().values())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(decoded.iter().any(|s| s.contains("Patch the router")));
    for s in decoded.iter().chain([&text, &err]) {
        assert!(!hostile(s), "{s:?}");
    }
    assert!(
        err.contains("note: Reading your approvals stopped") && err.contains("10000000"),
        "{err}"
    );
    // The instance's SLA on the first change counts (its breach time), escapes and all
    // around it; the second's breach time is no time, so its estimate stays.
    let deadline = |n: &str| {
        rows.iter()
            .find(|r| r["number"] == n)
            .map(|r| r["sla_deadline"].clone())
            .unwrap()
    };
    assert_eq!(deadline("CHG0000001"), "2026-11-25T18:00:00+00:00");
    assert_ne!(deadline("CHG0000002"), deadline("CHG0000001"));

    let o = run(&["queue"]).await;
    assert!(o.status.success());
    assert!(!hostile(&common::stdout(&o)), "{:?}", common::stdout(&o));

    // The decision is redirected to another host: refused, kept, never reported applied.
    let o = run(&[
        "approve",
        "CHG0000001",
        "-m",
        "Looks fine; the backout is a revert.",
    ])
    .await;
    let (out, err) = (common::stdout(&o), common::stderr(&o));
    assert_eq!(o.status.code(), Some(75), "{out}{err}");
    assert!(!out.contains("applied"), "{out}");
    assert!(
        err.contains("redirect") && err.contains("stored the decision"),
        "{err}"
    );
    assert!(!hostile(&out) && !hostile(&err), "{err:?}");
    let o = run(&["outbox"]).await;
    assert!(
        common::stdout(&o).contains("queued"),
        "{}",
        common::stdout(&o)
    );

    server.kill().await.unwrap();
    let seen = requests.await.unwrap();
    let lists = seen
        .iter()
        .filter(|l| l.starts_with("GET /api/now/table/sysapproval_approver?"))
        .count();
    assert!(lists < 40, "{lists} list requests for 3 rows");
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("PATCH")).count(),
        1,
        "one write, not re-sent anywhere: {seen:?}"
    );
}

#[tokio::test]
async fn a_hostile_servers_cab_meeting_prints_clean_and_convening_is_refused() {
    let (mut server, url, requests) = hostile_server().await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = common::signoff(home.path(), args);
        cmd.env("SIGNOFF_INSTANCE", &url)
            .env("SIGNOFF_USER", "eve")
            .env("SIGNOFF_PASSWORD", "x");
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
                .await
                .expect("finishes despite the endless paging")
                .unwrap()
        }
    };
    let meeting = "m0000000000000000000000000000001";
    let o = run(&["cab", "list"]).await;
    let (out, err) = (common::stdout(&o), common::stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(out.contains("Weekly CAB") && out.contains(meeting), "{out}");
    assert!(!hostile(&out) && !hostile(&err), "{out:?} {err:?}");
    for args in [
        &["cab", "show", "m0000000000000000000000000000001"][..],
        &["cab", "show", "weekly", "--output", "json"][..],
        &["cab", "minutes", "weekly"][..],
        &["cab", "minutes", "weekly", "--format", "json"][..],
        &["--offline", "cab", "show", "weekly"][..],
    ] {
        let o = run(args).await;
        let (out, err) = (common::stdout(&o), common::stderr(&o));
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(
            out.contains("Patch the router") || out.contains("CHG0000001"),
            "{args:?}: {out}"
        );
        assert!(
            !hostile(&out) && !hostile(&err),
            "{args:?}: {out:?} {err:?}"
        );
    }
    // The change records are refused (403): convening says so, and creates nothing.
    let o = run(&["cab", "convene", "CHG0000001", "--attendees", "eve"]).await;
    let (out, err) = (common::stdout(&o), common::stderr(&o));
    assert!(!o.status.success(), "{out}");
    assert!(!out.contains("Convened"), "{out}");
    assert!(!err.trim().is_empty() && !hostile(&err), "{err:?}");
    server.kill().await.unwrap();
    let seen = requests.await.unwrap();
    assert!(
        !seen.iter().any(|l| l.starts_with("POST")),
        "nothing created: {seen:?}"
    );
}

/// OAuth against a hostile token endpoint: a refusal full of escapes, an HTML page, a token
/// of escapes already expired, a redirect away. Each ends in one clean sentence and a
/// non-zero exit, never a panic, and no request follows the redirect.
#[tokio::test]
async fn a_hostile_token_endpoint_is_refused_cleanly() {
    let (mut server, url, requests) = hostile_server().await;
    let home = tempfile::tempdir().unwrap();
    for (client, code, says) in [
        ("evil", 5, "refused the OAuth sign-in"),
        ("html", 7, "not JSON"),
        ("token", 7, "characters no token has"),
        ("redirect", 9, "redirect"),
    ] {
        let mut cmd = common::signoff(home.path(), &["queue", "-o", "table"]);
        cmd.env("SIGNOFF_INSTANCE", &url)
            .env("SIGNOFF_USER", "eve")
            .env("SIGNOFF_PASSWORD", "x")
            .env("SIGNOFF_CLIENT_ID", client)
            .env("SIGNOFF_CLIENT_SECRET", "s");
        let o = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("no hang")
            .unwrap();
        let (out, err) = (common::stdout(&o), common::stderr(&o));
        assert_ne!(o.status.code(), Some(101), "{client}: a panic: {err}");
        assert!(
            !hostile(&out) && !hostile(&err),
            "{client}: {out:?} {err:?}"
        );
        assert_eq!(o.status.code(), Some(code), "{client}: {err}");
        assert!(err.contains(says), "{client}: {err}");
        assert_eq!(err.lines().count(), 1, "{client}: one sentence: {err}");
    }
    server.kill().await.unwrap();
    let seen = requests.await.unwrap();
    assert!(
        seen.iter().all(|r| !r.contains("127.0.0.1:9")),
        "nothing followed the redirect: {seen:?}"
    );
}

/// The change in full read from a hostile server: whatever it sends (escape sequences in
/// every field, an unknown table for attachments, endless pages), the context that comes back
/// is clean, and a part the server refuses is named instead of failing the rest.
#[tokio::test]
async fn a_hostile_servers_change_in_full_comes_back_clean() {
    use signoff::backend::Backend;
    let (mut server, url, _requests) = hostile_server().await;
    let sn = signoff::backend::servicenow::ServiceNow::new(signoff::backend::Connection {
        instance: signoff::backend::parse_instance_url(&url).unwrap(),
        user: "eve".into(),
        password: signoff::backend::Secret::new("x"),
    })
    .unwrap();
    let ctx = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sn.change_context(
            "a0000000000000000000000000000001",
            "c0000000000000000000000000000001",
        ),
    )
    .await
    .expect("bounded")
    .unwrap();
    let all = format!("{ctx:?}");
    assert!(!hostile(&all), "{all}");
    assert!(!ctx.approvals.is_empty(), "{all}");
    assert!(
        ctx.hidden.iter().any(|h| h.starts_with("the attachments")),
        "{:?}",
        ctx.hidden
    );
    // Its SLAs arrive clean (checked above); a breach time that is no time is left out.
    assert!(!ctx.slas.is_empty(), "{all}");
    assert!(ctx.slas.iter().any(|s| s.breach_at.is_none()), "{all}");
    assert!(
        ctx.slas.iter().all(|s| s.business_percentage.is_none()),
        "{all}"
    );
    // The history's read of decisions made elsewhere: bounded, every string clean.
    let me = signoff::domain::User {
        sys_id: "u0000000000000000000000000000001".into(),
        user_name: "eve".into(),
        name: "Eve".into(),
        email: String::new(),
    };
    let since = chrono::Utc::now() - chrono::Duration::days(90);
    let decided = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sn.decided(&me, since, 1_000),
    )
    .await
    .expect("bounded");
    let all = format!("{decided:?}");
    assert!(!hostile(&all), "{all}");
    server.kill().await.unwrap();
}
