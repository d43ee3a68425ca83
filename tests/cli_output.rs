//! The command-line contract for scripts: every listing in table, json, jsonl and csv; JSON
//! by default when standard output is a pipe; the error envelope under JSON output; and the
//! exit-code table, each kind provoked for real against the sim.

mod common;

use std::path::Path;

use common::{stderr as err, stdout as out};
use signoff::sim::DEMO_PASSWORD;
use signoff::sim::Fault;

/// The binary as a script runs it: the tests' environment, signed in to `url`, with the
/// output format left to signoff's default (standard output here is a pipe).
fn script(home: &Path, url: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = common::signoff_as_demo(home, url, args);
    cmd.env_remove("SIGNOFF_OUTPUT");
    cmd
}

async fn run(home: &Path, url: &str, args: &[&str]) -> std::process::Output {
    script(home, url, args).output().await.unwrap()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The error envelope on stderr: one line, one JSON object.
fn envelope(o: &std::process::Output) -> serde_json::Value {
    let text = err(o);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON on stderr");
    for key in ["kind", "code", "message", "remediation"] {
        assert!(!v["error"][key].is_null(), "{key} in {v}");
    }
    assert_eq!(
        v["error"]["code"].as_i64(),
        o.status.code().map(i64::from),
        "the envelope's code is the exit code"
    );
    v
}

#[tokio::test]
async fn every_listing_prints_in_every_format() {
    let server = common::sim(61, 40, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    // Piped, a listing is JSON without asking.
    let o = run(h, &url, &["queue"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("JSON by default");
    assert!(!rows.is_empty());
    let number = rows[0]["number"].as_str().unwrap().to_string();
    // Something in the outbox and the journal, so their listings have rows.
    let o = run(
        h,
        &url,
        &[
            "--offline",
            "hold",
            &number,
            "-m",
            "Waiting for the vendor's notes.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));

    // (arguments, a field every row has, whether it is one record rather than a list)
    let listings: &[(&[&str], &str, bool)] = &[
        (&["queue", "--offline"], "number", false),
        (&["outbox"], "reference", false),
        (&["delegate", "list"], "direction", false),
        (&["doctor"], "profile", true),
        (&["cab", "list"], "name", false),
        (&["audit", "log"], "seq", false),
        (&["audit", "verify"], "intact", true),
        (&["audit", "access-review"], "delegations", true),
        (&["auth", "status"], "signed_in", true),
        (&["sync"], "pending", true),
    ];
    for (args, field, one) in listings {
        let name = args.join(" ");
        for format in ["json", "jsonl", "csv", "table"] {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--output", format]);
            let o = run(h, &url, &all).await;
            // The outbox holds a decision; sync delivers it (exit 0), later runs see none.
            assert!(
                o.status.success(),
                "{name} -o {format}: {:?} {}",
                o.status,
                err(&o)
            );
            let text = out(&o);
            match format {
                "json" => {
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{name} json: {e}: {text}"));
                    let first = if *one { &v } else { &v[0] };
                    if *one || v.as_array().is_some_and(|a| !a.is_empty()) {
                        assert!(!first[field].is_null(), "{name} json lacks {field}: {text}");
                    } else {
                        assert!(v.is_array(), "{name} json is a list: {text}");
                    }
                }
                "jsonl" => {
                    for line in text.lines() {
                        let v: serde_json::Value = serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("{name} jsonl: {e}: {line}"));
                        assert!(!v[field].is_null(), "{name} jsonl lacks {field}: {line}");
                    }
                    if *one {
                        assert_eq!(text.lines().count(), 1, "{name}: {text}");
                    }
                }
                "csv" => {
                    if let Some(header) = text.lines().next() {
                        assert!(
                            header.split(',').any(|c| c == *field),
                            "{name} csv header lacks {field}: {header}"
                        );
                        let width = header.split(',').count();
                        assert!(width > 1, "{name}: {header}");
                    } else {
                        assert!(!*one, "{name}: a record always has a row");
                    }
                }
                _ => {
                    assert!(
                        serde_json::from_str::<serde_json::Value>(&text).is_err(),
                        "{name} table is for people: {text}"
                    );
                }
            }
        }
    }
    // A meeting's agenda, as one record (the sim seeds meetings the demo user sits in).
    let meetings: Vec<serde_json::Value> =
        serde_json::from_slice(&run(h, &url, &["cab", "list"]).await.stdout).unwrap();
    {
        let m = meetings.first().expect("the sim seeds meetings");
        let id = m["sys_id"].as_str().unwrap();
        for format in ["json", "jsonl", "csv"] {
            let o = run(h, &url, &["cab", "show", id, "-o", format]).await;
            assert!(o.status.success(), "cab show -o {format}: {}", err(&o));
            assert!(out(&o).contains(id) || format != "json", "{}", out(&o));
        }
        let o = run(h, &url, &["cab", "show", id]).await;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["items"].is_array(), "{v}");
    }
    // The queue's JSON lines and JSON list hold the same rows.
    let list = run(h, &url, &["queue", "--offline", "-o", "json"]).await;
    let lines = run(h, &url, &["queue", "--offline", "-o", "jsonl"]).await;
    let list: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out(&lines)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(list, lines);
    // CSV: one header and a line per approval, the columns in the JSON's order.
    let csv = out(&run(h, &url, &["queue", "--offline", "-o", "csv"]).await);
    assert_eq!(csv.lines().count(), list.len() + 1, "{csv}");
    assert!(
        csv.starts_with("number,approval_sys_id,change_sys_id,tier,"),
        "{csv}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_an_envelope_under_json_and_a_sentence_otherwise() {
    let server = common::sim(62, 20, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let mut cmd = script(h, &url, &["queue"]);
    cmd.env("SIGNOFF_PASSWORD", "wrong-password");
    let o = cmd.output().await.unwrap();
    assert_eq!(o.status.code(), Some(5));
    let v = envelope(&o);
    assert_eq!(v["error"]["kind"], "refused");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused the user name or password")
    );
    assert!(out(&o).is_empty(), "nothing on stdout: {}", out(&o));
    assert!(!err(&o).contains("wrong-password"));

    // Asked for a table, the same failure is one plain sentence.
    let mut cmd = script(h, &url, &["queue", "-o", "table"]);
    cmd.env("SIGNOFF_PASSWORD", "wrong-password");
    let o = cmd.output().await.unwrap();
    assert_eq!(o.status.code(), Some(5));
    assert!(
        err(&o).starts_with("signoff: The instance refused"),
        "{}",
        err(&o)
    );

    // A decision command under --output json reports its failures as the envelope too.
    let o = run(
        h,
        &url,
        &["-o", "json", "approve", "CHG0000001", "-m", "too short"],
    )
    .await;
    let v = envelope(&o);
    assert!(matches!(o.status.code(), Some(2) | Some(6)), "{}", err(&o));
    assert!(["bad_input", "not_found"].contains(&v["error"]["kind"].as_str().unwrap()));
    server.shutdown().await;
}

/// The exit-code table (README, "Exit codes"), each kind provoked against the sim's faults.
#[tokio::test]
async fn each_failure_kind_has_its_exit_code() {
    let server = common::sim(63, 30, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let json = |o: &std::process::Output| -> Vec<serde_json::Value> {
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let queue = json(&run(h, &url, &["queue"]).await);
    let mine: Vec<String> = queue
        .iter()
        .filter(|r| r["state"] == "requested" && r["on_behalf_of"].is_null())
        .map(|r| r["number"].as_str().unwrap().to_string())
        .collect();
    assert!(mine.len() >= 3);
    let kind = |o: &std::process::Output| envelope(o)["error"]["kind"].clone();
    let approve = |n: &str| {
        vec![
            "-o".to_string(),
            "json".into(),
            "approve".into(),
            n.to_string(),
            "-m".into(),
            "Backout rehearsed, window is quiet.".into(),
        ]
    };

    // 2: bad input.
    let o = run(h, &url, &["-o", "json", "approve", &mine[0], "-m", "ok"]).await;
    assert_eq!((o.status.code(), kind(&o)), (Some(2), "bad_input".into()));
    // 6: not found.
    let a = approve("CHG9999999");
    let o = run(h, &url, &args(&a)).await;
    assert_eq!((o.status.code(), kind(&o)), (Some(6), "not_found".into()));
    // 5: the sign-in refused.
    let mut cmd = script(h, &url, &["-o", "json", "sync"]);
    cmd.env("SIGNOFF_PASSWORD", format!("{DEMO_PASSWORD}-not"));
    let o = cmd.output().await.unwrap();
    assert_eq!((o.status.code(), kind(&o)), (Some(5), "refused".into()));
    // 7: a server error.
    server.faults().push(Fault::Status(500));
    let o = run(h, &url, &["-o", "json", "sync"]).await;
    assert_eq!(
        (o.status.code(), kind(&o)),
        (Some(7), "server_error".into())
    );
    // 8: rate limited for longer than a command waits.
    server.faults().push(Fault::RateLimited {
        retry_after_secs: 3600,
    });
    let o = run(h, &url, &["-o", "json", "sync"]).await;
    assert_eq!(
        (o.status.code(), kind(&o)),
        (Some(8), "rate_limited".into())
    );
    // 75: queued for later (offline), then 4: a conflict once someone else decided.
    let a = approve(&mine[1]);
    let mut offline = args(&a);
    offline.insert(0, "--offline");
    let o = run(h, &url, &offline).await;
    assert_eq!(o.status.code(), Some(75), "{}", err(&o));
    let approval = queue
        .iter()
        .find(|r| r["number"] == mine[1].as_str())
        .unwrap()["approval_sys_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(server.decide_as(&approval, "admin", "rejected", "Rejected by the CAB."));
    let o = run(h, &url, &["-o", "json", "sync"]).await;
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["delivered_conflicts"], 1, "{report}");
    let o = run(h, &url, &["outbox", "-o", "json"]).await;
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(json(&o)[0]["state"], "conflict");
    // 9: unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = approve(&mine[2]);
    let mut cmd = script(h, &url, &["-o", "json", "sync"]);
    cmd.env("SIGNOFF_INSTANCE", format!("http://127.0.0.1:{port}"));
    let o = cmd.output().await.unwrap();
    assert_eq!((o.status.code(), kind(&o)), (Some(9), "unreachable".into()));
    // 0: applied.
    let o = run(h, &url, &args(&a)).await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    server.shutdown().await;
}

/// `--dry-run` prints the very requests the adapter builds, and sends, queues and journals
/// nothing; a read-only profile may dry-run.
#[tokio::test]
async fn dry_runs_print_the_requests_and_change_nothing() {
    let server = common::sim(64, 30, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let queue: Vec<serde_json::Value> =
        serde_json::from_slice(&run(h, &url, &["queue"]).await.stdout).unwrap();
    let mine = queue
        .iter()
        .find(|r| r["state"] == "requested" && r["on_behalf_of"].is_null())
        .unwrap();
    let number = mine["number"].as_str().unwrap();
    let approval = mine["approval_sys_id"].as_str().unwrap();
    let why = "Backout rehearsed, window is quiet.";

    let o = run(
        h,
        &url,
        &["approve", number, "-m", why, "--dry-run", "-o", "table"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(text.starts_with("Dry run: nothing was sent"), "{text}");
    assert!(
        text.contains(&format!(
            "PATCH {url}/api/now/table/sysapproval_approver/{approval}?"
        )),
        "{text}"
    );
    assert!(text.contains(r#""state":"approved""#), "{text}");
    assert!(text.contains(why), "{text}");
    assert!(
        !text.contains(DEMO_PASSWORD) && !text.contains("Authorization"),
        "{text}"
    );

    // As JSON, for a script; hold writes the change, not the approval.
    let mut cmd = script(
        h,
        &url,
        &[
            "hold",
            number,
            "-m",
            "Waiting for the vendor's notes.",
            "--dry-run",
        ],
    );
    cmd.env("SIGNOFF_READ_ONLY", "1");
    let o = cmd.output().await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert_eq!(plan[0]["method"], "PATCH");
    assert!(
        plan[0]["url"]
            .as_str()
            .unwrap()
            .contains("/api/now/table/change_request/")
    );
    assert_eq!(plan[0]["body"]["on_hold"], "true");

    // Nothing moved: the approval still waits, the outbox and the journal are empty.
    let queue: Vec<serde_json::Value> =
        serde_json::from_slice(&run(h, &url, &["queue"]).await.stdout).unwrap();
    let still = queue
        .iter()
        .find(|r| r["approval_sys_id"] == approval)
        .unwrap();
    assert_eq!(still["state"], "requested");
    assert_eq!(still["on_hold"], false);
    let outbox: Vec<serde_json::Value> =
        serde_json::from_slice(&run(h, &url, &["outbox", "--all"]).await.stdout).unwrap();
    assert!(outbox.is_empty(), "{outbox:?}");
    let journal: Vec<serde_json::Value> =
        serde_json::from_slice(&run(h, &url, &["audit", "log"]).await.stdout).unwrap();
    assert!(
        journal
            .iter()
            .all(|e| !e["kind"].as_str().unwrap().starts_with("decision")),
        "{journal:?}"
    );

    // A delegation: the POST it would make, and no delegation on the instance.
    let delegations = || async {
        let o = run(h, &url, &["delegate", "list"]).await;
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
    };
    let before = delegations().await;
    let o = run(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "ben.ishikawa",
            "--from",
            "2099-01-01",
            "--until",
            "2099-01-03",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan[0]["method"], "POST");
    assert!(
        plan[0]["url"]
            .as_str()
            .unwrap()
            .contains("/api/now/table/sys_user_delegate")
    );
    assert_eq!(plan[0]["body"]["approvals"], "true");
    assert!(
        plan[0]["body"]["starts"]
            .as_str()
            .unwrap()
            .starts_with("2099-01-01")
    );
    assert_eq!(delegations().await, before);
    server.shutdown().await;
}
