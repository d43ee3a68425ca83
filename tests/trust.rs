//! A decision goes only to the instance, only as the person meant, and is reported as what
//! really happened: the real binary against a sim that misbehaves (redirects, pages instead of
//! JSON, writes applied then answered with an error, lying headers, escape sequences in every
//! field, a hung node) and against hostile environments (a proxy, wide directories).

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{run_as_demo as run, signoff_as_demo as command, stderr as err, stdout as out};
use signoff::backend::Backend;
use signoff::domain::Delivery;
use signoff::sim::{Fault, SimServer, When};
use signoff::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A queue row from `signoff queue --json`: number, approval sys_id, whose (None: mine).
struct Row {
    number: String,
    approval: String,
    on_behalf_of: Option<String>,
}

async fn queue(home: &Path, url: &str) -> Vec<Row> {
    let o = run(home, url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    rows.iter()
        .filter(|r| r["state"] == "requested")
        .map(|r| Row {
            number: r["number"].as_str().unwrap().into(),
            approval: r["approval_sys_id"].as_str().unwrap().into(),
            on_behalf_of: r["on_behalf_of"].as_str().map(str::to_string),
        })
        .collect()
}

/// The demo user's own requested approvals.
async fn own(home: &Path, url: &str) -> Vec<Row> {
    queue(home, url)
        .await
        .into_iter()
        .filter(|r| r.on_behalf_of.is_none())
        .collect()
}

fn state(server: &SimServer, approval: &str) -> String {
    server.record("sysapproval_approver", approval).unwrap()["state"].clone()
}

/// Comments on the approval that carry a signoff reference.
fn signoff_comments(server: &SimServer, approval: &str) -> usize {
    server
        .journal("sysapproval_approver", approval, "comments")
        .iter()
        .filter(|(_, _, t)| t.contains("[signoff ref "))
        .count()
}

fn outbox(home: &Path) -> Vec<signoff::store::OutboxEntry> {
    Store::open(&home.join("data/default.sqlite3"))
        .unwrap()
        .outbox(false)
        .unwrap()
}

#[tokio::test]
async fn redirects_to_another_host_are_refused_for_writes_and_reads() {
    let real = common::sim(31, 90, 100).await;
    // Same seed, same records: an impostor that would answer every request plausibly.
    let impostor = common::sim(31, 90, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = real.url();
    let mine = own(h, &url).await;
    let offline = |o: Output| out(&o);
    let before = offline(run(h, &url, &["--offline", "queue", "--json"]).await);

    // A read redirected elsewhere: refused, and the cache is not replaced.
    real.faults().push_when(
        When::method("GET"),
        Fault::Redirect {
            status: 302,
            location: format!("{}/api/now/table/sysapproval_approver", impostor.url()),
        },
    );
    let o = run(h, &url, &["queue", "--json"]).await;
    // Exit 9: the instance itself was not reached (a redirect away from it).
    assert_eq!(o.status.code(), Some(9), "{}", err(&o));
    assert!(
        err(&o).contains("redirect") && err(&o).contains(&impostor.addr().to_string()),
        "{}",
        err(&o)
    );
    assert_eq!(
        offline(run(h, &url, &["--offline", "queue", "--json"]).await),
        before
    );

    // A write redirected elsewhere (307 keeps the method and body): nothing is sent there,
    // nothing is reported applied, and the decision waits to be retried on the instance.
    let target = &mine[0];
    real.faults().push_when(
        When::write(),
        Fault::Redirect {
            status: 307,
            location: format!(
                "{}/api/now/table/sysapproval_approver/{}",
                impostor.url(),
                target.approval
            ),
        },
    );
    let o = run(
        h,
        &url,
        &[
            "approve",
            &target.number,
            "-m",
            "Reviewed; the plan is fine.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}{}", out(&o), err(&o));
    assert!(!out(&o).contains("applied"), "{}", out(&o));
    assert!(
        err(&o).contains("stored the decision") && err(&o).contains("redirect"),
        "{}",
        err(&o)
    );
    assert_eq!(impostor.faults().requests_served(), 0, "nothing reached it");
    assert_eq!(state(&real, &target.approval), "requested");
    assert!(
        outbox(h)
            .iter()
            .all(|e| !matches!(e.delivery, Delivery::Applied { .. }))
    );
    // Once the instance answers properly, the decision lands, once.
    let o = run(h, &url, &["sync"]).await;
    assert!(out(&o).contains("1 applied"), "{}{}", out(&o), err(&o));
    assert_eq!(signoff_comments(&real, &target.approval), 1);
    real.shutdown().await;
    impostor.shutdown().await;
}

#[tokio::test]
async fn a_decision_that_did_not_land_is_replaced_by_the_next_one_not_applied_behind_it() {
    for fault in [Fault::HibernatingHtml, Fault::Status(401)] {
        let server = common::sim(32, 60, 100).await;
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let url = server.url();
        let target = own(h, &url).await.remove(0);
        server.faults().push_when(When::write(), fault.clone());
        let o = run(
            h,
            &url,
            &["approve", &target.number, "-m", "Fine, ship it tonight."],
        )
        .await;
        // Not applied, and said so exactly: stored, and how it will be retried.
        assert_eq!(o.status.code(), Some(75), "{fault:?}: {}", err(&o));
        assert!(
            err(&o).contains("stored the decision to approve")
                && err(&o).contains("replaces it")
                && err(&o).contains("Not sent now"),
            "{fault:?}: {}",
            err(&o)
        );
        assert_eq!(state(&server, &target.approval), "requested");

        // The user changes their mind: the reject replaces the approve, which is never sent.
        let o = run(
            h,
            &url,
            &[
                "reject",
                &target.number,
                "-m",
                "On second thought the backout plan is missing.",
            ],
        )
        .await;
        assert_eq!(
            o.status.code(),
            Some(0),
            "{fault:?}: {}{}",
            out(&o),
            err(&o)
        );
        assert!(
            err(&o).contains("replaces your earlier decision to approve"),
            "{}",
            err(&o)
        );
        assert_eq!(state(&server, &target.approval), "rejected", "{fault:?}");
        let o = run(h, &url, &["sync"]).await;
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(state(&server, &target.approval), "rejected", "{fault:?}");
        assert_eq!(signoff_comments(&server, &target.approval), 1);
        let entries = outbox(h);
        assert!(matches!(entries[0].delivery, Delivery::Superseded { .. }));
        assert!(matches!(entries[1].delivery, Delivery::Applied { .. }));
        let o = run(h, &url, &["outbox", "--all"]).await;
        assert!(
            out(&o).contains("superseded") && out(&o).contains("never sent"),
            "{}",
            out(&o)
        );
        let kinds: Vec<String> = Store::open(&h.join("data/default.sqlite3"))
            .unwrap()
            .journal()
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(
            kinds.contains(&"decision.superseded".to_string()),
            "{kinds:?}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_decision_replaced_by_another_signoff_while_it_waited_is_reported_not_sent() {
    use tokio::io::AsyncBufReadExt;
    let server = common::sim(33, 60, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let target = own(h, &url).await.remove(0);
    // The approve's check is held on the server until the reject has replaced it.
    let gate = signoff::sim::Gate::new();
    server.faults().push_when(
        When {
            method: Some("GET".into()),
            path_contains: Some(target.approval.clone()),
            ..When::default()
        },
        Fault::Held(gate.clone()),
    );
    let approve = command(
        h,
        &url,
        &["approve", &target.number, "-m", "Fine, ship it tonight."],
    )
    .output();
    let approve = tokio::spawn(approve);
    gate.arrived().await;
    let mut reject = command(
        h,
        &url,
        &[
            "reject",
            &target.number,
            "-m",
            "On second thought the backout plan is missing.",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(reject.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let replaced = line.contains("replaces your earlier decision to approve");
        said.push(line);
        if replaced {
            break;
        }
    }
    assert!(!said.is_empty(), "the reject said nothing");
    gate.open();
    let o = approve.await.unwrap().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}{}", out(&o), err(&o));
    assert!(
        err(&o).contains("replaced by a newer decision") && err(&o).contains("not sent"),
        "{}",
        err(&o)
    );
    assert!(
        out(&o).is_empty(),
        "nothing claims it was applied: {}",
        out(&o)
    );
    while let Some(line) = lines.next_line().await.unwrap() {
        said.push(line);
    }
    let status = reject.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "{said:?}");
    assert_eq!(state(&server, &target.approval), "rejected");
    assert_eq!(
        signoff_comments(&server, &target.approval),
        1,
        "only the reject"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_write_applied_then_answered_with_an_error_is_recorded_applied() {
    let server = common::sim(33, 120, 100).await;
    let elsewhere = common::sim(33, 10, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let mine = own(h, &url).await;
    let answers = [
        Fault::Status(400),
        Fault::Status(403),
        Fault::Unavailable {
            retry_after_secs: 1,
        },
        Fault::HibernatingHtml,
        Fault::Redirect {
            status: 302,
            location: format!("{}/somewhere", elsewhere.url()),
        },
    ];
    for (target, answer) in mine.iter().zip(answers) {
        server.faults().push_when(
            When::write(),
            Fault::AfterApplying(Box::new(answer.clone())),
        );
        let o = run(
            h,
            &url,
            &["approve", &target.number, "-m", "Plan reviewed, go ahead."],
        )
        .await;
        assert_eq!(
            o.status.code(),
            Some(0),
            "{answer:?}: {}{}",
            out(&o),
            err(&o)
        );
        assert!(
            out(&o).contains("approved (applied on the server"),
            "{answer:?}: {}",
            out(&o)
        );
        assert!(
            !err(&o).contains("Not sent now") && !err(&o).contains("bug"),
            "{answer:?}: {}",
            err(&o)
        );
        assert_eq!(state(&server, &target.approval), "approved");
        assert_eq!(signoff_comments(&server, &target.approval), 1, "{answer:?}");
    }
    assert_eq!(elsewhere.faults().requests_served(), 0);
    assert!(
        outbox(h)
            .iter()
            .all(|e| matches!(e.delivery, Delivery::Applied { .. }))
    );
    server.shutdown().await;
    elsewhere.shutdown().await;
}

#[tokio::test]
async fn a_colleagues_approval_is_decided_only_when_asked_for() {
    let server = common::sim(34, 90, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let rows = queue(h, &url).await;
    let carla = rows
        .iter()
        .find(|r| r.on_behalf_of.as_deref() == Some("Carla Diaz"))
        .expect("the seeded delegation brings Carla's approvals");
    let number = carla.number.clone();
    // Alice had her own approval on the same change; someone else decided it meanwhile.
    let change = server
        .record("sysapproval_approver", &carla.approval)
        .unwrap()["sysapproval"]
        .clone();
    let mine = server
        .add_approval(&change, signoff::sim::DEMO_USER)
        .unwrap();
    assert!(server.decide_as(&mine, "admin", "approved", "Done for Alice."));

    let o = run(h, &url, &["approve", &number, "-m", "Looks fine to me."]).await;
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    assert!(
        err(&o).contains("no pending approval of yours")
            && err(&o).contains("Carla Diaz")
            && err(&o).contains("--for"),
        "{}",
        err(&o)
    );
    assert_eq!(state(&server, &carla.approval), "requested", "not decided");

    let o = run(
        h,
        &url,
        &[
            "approve",
            &number,
            "--for",
            "Carla Diaz",
            "-m",
            "Covering for Carla; plan reviewed.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).contains("on behalf of Carla Diaz"), "{}", out(&o));
    assert_eq!(state(&server, &carla.approval), "approved");
    server.shutdown().await;
}

/// A proxy that counts connections and answers each request with `reply`.
async fn proxy(reply: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_401_that_is_not_the_instances_is_not_blamed_on_the_password() {
    let server = common::sim(43, 20, 100).await;
    let home = tempfile::tempdir().unwrap();
    // A gateway in front of the instance answers with its sign-in page.
    server.faults().push(Fault::HtmlStatus(401));
    let o = run(home.path(), &server.url(), &["queue", "--json"]).await;
    // Exit 5: refused, though not the password: the message says which.
    assert_eq!(o.status.code(), Some(5));
    assert!(
        err(&o).contains("Something in front of the instance")
            && !err(&o).contains("refused the user name or password"),
        "{}",
        err(&o)
    );
    // The instance's own 401 is.
    server.faults().push(Fault::Status(401));
    let o = run(home.path(), &server.url(), &["queue", "--json"]).await;
    assert!(
        err(&o).contains("refused the user name or password"),
        "{}",
        err(&o)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn loopback_never_goes_through_a_proxy_and_a_407_names_the_proxy() {
    let server = common::sim(35, 40, 100).await;
    let (port, seen) = proxy("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
    let proxy_url = format!("http://127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(home.path(), &server.url(), &["queue", "--json"]);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "all_proxy",
    ] {
        cmd.env(var, &proxy_url);
    }
    let o = cmd.output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the proxy saw nothing");
    server.shutdown().await;

    // A real instance behind a proxy that wants credentials.
    let (port, seen) = proxy(
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let mut cmd = common::signoff(home.path(), &["queue", "--json"]);
    cmd.env("SIGNOFF_INSTANCE", "https://acme.service-now.com")
        .env("SIGNOFF_USER", "alice")
        .env("SIGNOFF_PASSWORD", "x")
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"));
    let o = cmd.output().await.unwrap();
    // Exit 9: unreachable (the proxy refused the way there).
    assert_eq!(o.status.code(), Some(9), "{}", err(&o));
    assert!(err(&o).contains("The proxy refused"), "{}", err(&o));
    assert!(!err(&o).contains("bug"), "{}", err(&o));
    assert!(seen.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_lying_total_costs_a_few_requests_and_is_reported() {
    // (The full pull pages by key, without totals; the offset pager, which reads them, is
    // what incremental syncs and the other lists use.)
    for link in [true, false] {
        let server = common::sim(36, 600, 100).await;
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let url = server.url();
        let o = run(h, &url, &["queue", "--json"]).await;
        let honest = serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout)
            .unwrap()
            .len();
        assert!(honest > 100, "more than one page: {honest}");
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        server.faults().set_persistent(Some(Fault::LyingTotal {
            total: 10_000_000,
            link,
        }));
        let before = server.faults().requests_served();
        let o = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            run(h, &url, &["queue", "--json"]),
        )
        .await
        .expect("finishes, not 100,000 page requests");
        assert!(o.status.success(), "link {link}: {}", err(&o));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(rows.len(), honest, "link {link}");
        let used = server.faults().requests_served() - before;
        assert!(used < 40, "link {link}: {used} requests");
        // The full pull pages by key and never reads the total. The offset pager, which
        // incremental syncs and the other lists use, reads it: there the lie is noticed and
        // said, at the same small cost.
        let clock = common::clock(&server);
        let sn = common::client_on(
            &server,
            signoff::sim::DEMO_USER,
            signoff::sim::DEMO_PASSWORD,
            &clock,
        );
        let me = sn.current_user().await.unwrap();
        let before = server.faults().requests_served();
        let since = common::anchor() - chrono::Duration::days(365);
        let changed = sn
            .approvals(
                std::slice::from_ref(&me.sys_id),
                signoff::backend::Scope::ChangedSince(since),
                &signoff::backend::no_progress,
            )
            .await
            .unwrap();
        assert!(changed.len() > 100, "several pages: {}", changed.len());
        let used = server.faults().requests_served() - before;
        assert!(used < 40, "link {link}: {used} requests by offset");
        let notices = sn.take_notices().join(" ");
        assert!(
            notices.contains("Reading") && notices.contains("10000000"),
            "link {link}: {notices}"
        );
        server.shutdown().await;
    }
}

/// Escape sequences and other terminal controls, as a hostile record would carry them.
const EVIL: &str = "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[31mred\u{1b}[0m\u{9b}1m\u{202e}gnp.exe\u{7}";

/// Whether a text could do anything to a terminal.
fn hostile(s: &str) -> bool {
    s.chars().any(|c| {
        c == '\u{1b}' || c == '\u{7}' || ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{202e}'
    }) || s.contains("]52;")
        || s.contains("[31m")
}

fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn escape_sequences_from_the_server_reach_no_output() {
    let server = common::sim(37, 60, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let mine = own(h, &url).await;
    // A decision stored while offline, for the conflict path below.
    let victim = &mine[0];
    let o = run(
        h,
        &url,
        &[
            "--offline",
            "approve",
            &victim.number,
            "-m",
            "Decided on the train.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));

    // Every string the queue shows, poisoned on the server.
    let evil = |s: &str| format!("{s}{EVIL}");
    for change in server.query_ids("change_request", "").unwrap() {
        let rec = server.record("change_request", &change).unwrap();
        let fields: Vec<(&str, String)> = [
            "number",
            "short_description",
            "description",
            "justification",
            "implementation_plan",
            "backout_plan",
            "test_plan",
            "risk_impact_analysis",
        ]
        .iter()
        .map(|f| (*f, evil(&rec[*f])))
        .collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert!(server.update_record("change_request", &change, &fields));
    }
    for u in server.users() {
        assert!(server.update_record("sys_user", &u.sys_id, &[("name", &evil(&u.name))]));
    }
    for table in ["sys_user_group", "cmdb_ci"] {
        for id in server.query_ids(table, "").unwrap() {
            let name = server.record(table, &id).unwrap()["name"].clone();
            assert!(server.update_record(table, &id, &[("name", &evil(&name))]));
        }
    }
    // The decided approval's state itself is hostile.
    assert!(server.update_record(
        "sysapproval_approver",
        &victim.approval,
        &[("state", &evil("rejected"))]
    ));

    let mut outputs = Vec::new();
    for args in [
        vec!["queue"],
        vec!["sync"],
        vec!["outbox", "--all"],
        vec!["delegate", "list"],
        vec!["doctor"],
        vec![
            "approve",
            &mine[1].number,
            "-m",
            "Approving a poisoned change.",
        ],
    ] {
        let o = run(h, &url, &args).await;
        outputs.push((args.join(" "), out(&o)));
        outputs.push((args.join(" "), err(&o)));
    }
    let o = run(h, &url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut strings = Vec::new();
    json_strings(&json, &mut strings);
    assert!(
        strings.iter().any(|s| s.contains("red")),
        "poisoned data came through"
    );
    outputs.extend(strings.into_iter().map(|s| ("queue --json".to_string(), s)));
    for (what, text) in &outputs {
        assert!(!hostile(text), "{what}: {text:?}");
    }
    // The conflict was reported with the (cleaned) state.
    let o = run(h, &url, &["outbox"]).await;
    assert!(out(&o).contains("conflict"), "{}", out(&o));

    // The console draws the same cache: nothing hostile on screen either.
    let store = Store::open(&h.join("data/default.sqlite3")).unwrap();
    let snapshot = store.load_snapshot().unwrap();
    let mut state = signoff::ui::AppState::new(
        url.clone(),
        "alice.moreno".into(),
        signoff::domain::Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    signoff::ui::update(&mut state, signoff::ui::Msg::Resize(200, 60));
    signoff::ui::update(
        &mut state,
        signoff::ui::Msg::Cached {
            user: snapshot.user,
            approvals: snapshot.approvals,
            synced_at: snapshot.synced_at,
            outbox_pending: 0,
            complete: true,
            totals: None,
        },
    );
    let theme = signoff::ui::Theme::named("dark", false).unwrap();
    let screen = common::ui::screen(&common::ui::render_at(
        &state,
        200,
        60,
        server.server_now(),
        &theme,
    ));
    assert!(screen.contains("red"), "{screen}");
    assert!(!hostile(&screen), "{screen:?}");
    server.shutdown().await;
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_and_the_log_keeps_no_justification() {
    use std::os::unix::fs::PermissionsExt;
    let server = common::sim(38, 40, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for d in ["state", "data"] {
        std::fs::create_dir_all(h.join(d)).unwrap();
        std::fs::set_permissions(h.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let url = server.url();
    let target = own(h, &url).await.remove(0);
    let secret_words = "Zebra-quartz-91 plan checked";
    let o = run(h, &url, &["approve", &target.number, "-m", secret_words]).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(mode(&h.join("state")), 0o700);
    assert_eq!(mode(&h.join("data")), 0o700);
    assert_eq!(mode(&h.join("state/signoff.log")), 0o600);
    assert_eq!(mode(&h.join("data/default.sqlite3.deliver.lock")), 0o600);
    let log = std::fs::read_to_string(h.join("state/signoff.log")).unwrap();
    assert!(log.contains("signoff starting"), "{log}");
    assert!(!log.contains("Zebra-quartz"), "{log}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_hung_instance_costs_one_timeout_and_the_decision_waits() {
    let server = common::sim(39, 40, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("config")).unwrap();
    std::fs::write(h.join("config/config.toml"), "timeout_secs = 2\n").unwrap();
    let url = server.url();
    let target = own(h, &url).await.remove(0);
    server.faults().set_persistent(Some(Fault::Hang));
    let before = server.faults().requests_served();
    let o = run(
        h,
        &url,
        &["approve", &target.number, "-m", "Approving while it hangs."],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));
    assert!(err(&o).contains("did not answer within 2 s"), "{}", err(&o));
    assert_eq!(
        server.faults().requests_served() - before,
        1,
        "one request waited for, not two"
    );
    assert!(outbox(h)[0].delivery.is_pending());
    server.faults().set_persistent(None);
    let o = run(h, &url, &["sync"]).await;
    assert!(out(&o).contains("1 applied"), "{}{}", out(&o), err(&o));
    server.shutdown().await;
}

#[tokio::test]
async fn a_round_that_fails_part_way_still_reports_what_it_delivered() {
    let server = common::sim(40, 90, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let mine = own(h, &url).await;
    for r in &mine[..2] {
        let o = run(
            h,
            &url,
            &[
                "--offline",
                "approve",
                &r.number,
                "-m",
                "Queued on the plane.",
            ],
        )
        .await;
        assert_eq!(o.status.code(), Some(75), "{}", err(&o));
    }
    // The second decision's check fails with a passing error, one longer than a command
    // waits out (a short Retry-After is waited for: see tests/cli.rs).
    server.faults().push_when(
        When::method("GET").on(&mine[1].approval),
        Fault::Unavailable {
            retry_after_secs: 600,
        },
    );
    let o = run(h, &url, &["sync"]).await;
    // Exit 7: the instance failed (HTTP 503), past what a command waits out.
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(
        out(&o).contains("Delivered decisions: 1 applied"),
        "{}",
        out(&o)
    );
    assert!(
        err(&o).contains("HTTP 503") && err(&o).contains("1 decision still waits"),
        "{}",
        err(&o)
    );
    assert_eq!(state(&server, &mine[0].approval), "approved");
    assert_eq!(state(&server, &mine[1].approval), "requested");
    server.shutdown().await;
}

#[tokio::test]
async fn a_decision_command_delivers_its_own_decision_first() {
    let server = common::sim(41, 90, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = server.url();
    let mine = own(h, &url).await;
    let o = run(
        h,
        &url,
        &[
            "--offline",
            "approve",
            &mine[0].number,
            "-m",
            "Queued earlier, offline.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75));
    // The older decision could not be delivered now; it must not stand in the way.
    server.faults().push_when(
        When::method("GET").on(&mine[0].approval),
        Fault::Status(503),
    );
    let o = run(
        h,
        &url,
        &["approve", &mine[1].number, "-m", "This one, right now."],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("approved (applied"), "{}", out(&o));
    assert!(
        err(&o).contains("1 earlier decision still waits"),
        "{}",
        err(&o)
    );
    assert_eq!(state(&server, &mine[1].approval), "approved");
    assert_eq!(state(&server, &mine[0].approval), "requested");
    server.shutdown().await;
}

#[tokio::test]
async fn delegation_windows_follow_the_servers_clock_not_the_laptops() {
    let server = common::sim(42, 90, 100).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // This machine's clock is three days behind the instance's: locally, Carla's delegation
    // (which the server says is active) would not have started yet.
    let behind = (common::anchor() - chrono::Duration::days(3)).to_rfc3339();
    let with_clock = |args: &[&str]| {
        let mut c = command(h, &server.url(), args);
        c.env("SIGNOFF_NOW", &behind);
        c
    };
    let o = with_clock(&["queue", "--json"]).output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        rows.iter().any(|r| r["on_behalf_of"] == "Carla Diaz"),
        "the server's clock says Carla's delegation is active"
    );
    let o = with_clock(&["delegate", "list"]).output().await.unwrap();
    let carla = out(&o)
        .lines()
        .find(|l| l.contains("Carla Diaz"))
        .unwrap()
        .to_string();
    assert!(carla.contains("active"), "{carla}");
    let o = with_clock(&["doctor"]).output().await.unwrap();
    assert!(
        out(&o).contains("3 days 0 h ahead of this machine"),
        "{}",
        out(&o)
    );
    server.shutdown().await;
}
