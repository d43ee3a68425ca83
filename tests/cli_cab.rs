//! `signoff cab list|show|minutes|convene` against the built-in server, through the binary.

mod common;

use common::{run_as_demo as run, stderr as err, stdout as out};
use signoff::sim::SimServer;

async fn start() -> SimServer {
    common::sim(11, 120, 100).await
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out(o), err(o)))
}

/// The in-progress weekly meeting's sys_id and name, from `cab list --output json`.
async fn in_progress(h: &std::path::Path, url: &str) -> (String, String) {
    let o = run(h, url, &["cab", "list", "--output", "json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let list = json(&o);
    let m = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["when"] == "in_progress")
        .expect("a meeting in progress");
    (
        m["sys_id"].as_str().unwrap().to_string(),
        m["name"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn meetings_list_in_sections_with_the_users_role() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let o = run(h, &url, &["cab", "list"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let (p, u, r) = (
        text.find("In progress:").unwrap(),
        text.find("Upcoming:").unwrap(),
        text.find("Recent:").unwrap(),
    );
    assert!(p < u && u < r, "{text}");
    let weekly = text.lines().find(|l| l.contains("Weekly CAB")).unwrap();
    assert!(weekly.contains("chair"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Emergency CAB") && l.contains("attendee")),
        "{text}"
    );

    let o = run(h, &url, &["cab", "list", "--output", "json"]).await;
    let list = json(&o);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{list}");
    let whens: Vec<&str> = rows.iter().map(|m| m["when"].as_str().unwrap()).collect();
    assert_eq!(whens[0], "in_progress");
    assert_eq!(whens.last(), Some(&"recent"));
    assert!(rows.iter().any(|m| m["emergency"] == true));

    // Offline, the cache answers the same list.
    let o = run(h, &url, &["--offline", "cab", "list", "--output", "json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(json(&o), list);
    server.shutdown().await;
}

#[tokio::test]
async fn an_agenda_shows_by_name_in_order_with_who_has_not_voted() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    // Offline before anything was cached: a sentence, not an empty list.
    let o = run(h, &url, &["--offline", "cab", "list"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("No CAB meetings are cached yet"),
        "{}",
        err(&o)
    );

    let (sys_id, name) = in_progress(h, &url).await;
    // "weekly" names several meetings: refused, naming them.
    let o = run(h, &url, &["cab", "show", "weekly"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(err(&o).contains("matches 3 meetings"), "{}", err(&o));
    let o = run(h, &url, &["cab", "show", "no such meeting"]).await;
    assert_eq!(o.status.code(), Some(6), "exit 6: not found");

    let o = run(h, &url, &["cab", "show", &name.to_uppercase()]).await;
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.starts_with(&format!("{name} — in progress")), "{text}");
    assert!(text.contains("you: chair"), "{text}");
    assert_eq!(text.matches('▶').count(), 1, "{text}");
    assert!(text.contains("not voted yet:"), "{text}");
    assert!(text.contains("Attendees:"), "{text}");

    let o = run(h, &url, &["cab", "show", &sys_id, "--output", "json"]).await;
    let agenda = json(&o);
    let items = agenda["items"].as_array().unwrap();
    let orders: Vec<i64> = items.iter().map(|i| i["order"].as_i64().unwrap()).collect();
    let mut sorted = orders.clone();
    sorted.sort_unstable();
    assert_eq!(orders, sorted, "agenda order");
    assert_eq!(
        agenda["current_item"],
        items
            .iter()
            .find(|i| i["state"] == "in discussion")
            .unwrap()["number"]
    );
    assert!(
        items
            .iter()
            .all(|i| i["tier"].is_string() && i["allotted_seconds"].as_i64() > Some(0))
    );
    assert!(!agenda["attendees"].as_array().unwrap().is_empty());

    // The cached copy answers offline, saying so.
    let o = run(h, &url, &["--offline", "cab", "show", &sys_id]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("Offline: the meeting as cached"),
        "{}",
        err(&o)
    );
    assert!(out(&o).starts_with(&name));
    server.shutdown().await;
}

#[tokio::test]
async fn minutes_are_written_as_markdown_or_json() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = run(h, &url, &["cab", "list", "--output", "json"]).await;
    let past = json(&o)
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "complete")
        .unwrap()["sys_id"]
        .as_str()
        .unwrap()
        .to_string();

    let o = run(h, &url, &["cab", "minutes", &past]).await;
    assert!(o.status.success(), "{}", err(&o));
    let md = out(&o);
    assert!(md.starts_with("# Minutes: "), "{md}");
    assert!(
        md.contains("## Attendees") && md.contains("## Agenda"),
        "{md}"
    );
    assert!(md.contains("Approved by"), "{md}");

    let file = h.join("minutes.json");
    let o = run(
        h,
        &url,
        &[
            "cab",
            "minutes",
            &past,
            "--format",
            "json",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).is_empty());
    assert!(err(&o).contains("Wrote the minutes"), "{}", err(&o));
    let minutes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(minutes["state"], "complete");
    let items = minutes["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|i| i["allotted_seconds"].as_i64() > Some(0))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_emergency_cab_is_convened_from_the_command_line() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ids = server
        .query_ids(
            "change_request",
            "type=emergency^approval=requested^ORDERBYnumber",
        )
        .unwrap();
    let numbers: Vec<String> = ids
        .iter()
        .take(2)
        .map(|id| server.record("change_request", id).unwrap()["number"].clone())
        .collect();
    let count = || server.query_ids("cab_meeting", "").unwrap().len();
    let before = count();

    // Refusals create nothing.
    for args in [
        vec!["cab", "convene", "CHG;drop"],
        vec!["cab", "convene", "CHG9999999"],
        vec!["cab", "convene", &numbers[0], "--attendees", "nobody.here"],
        vec!["cab", "convene", &numbers[0], "--minutes-per-item", "0"],
    ] {
        let o = run(h, &url, &args).await;
        // Exit 6 for a person who does not exist, 2 for the rest (bad input).
        let code = if args.contains(&"nobody.here") { 6 } else { 2 };
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", err(&o));
        assert!(!err(&o).trim().is_empty());
    }
    let o = run(h, &url, &["--offline", "cab", "convene", &numbers[0]]).await;
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(count(), before);

    let o = run(
        h,
        &url,
        &[
            "cab",
            "convene",
            &numbers[0],
            &numbers[1],
            "--attendees",
            "ben.ishikawa,Carla Diaz",
            "--minutes-per-item",
            "20",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(count(), before + 1);
    let said = out(&o);
    assert!(said.contains("3 attendees"), "{said}");
    let sys_id = said
        .split("id ")
        .nth(1)
        .and_then(|s| s.get(..32))
        .expect("the new meeting's id")
        .to_string();

    // Cached at once: shown offline, in the asked order, with the asked attendees.
    let o = run(
        h,
        &url,
        &["--offline", "cab", "show", &sys_id, "--output", "json"],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let agenda = json(&o);
    assert!(
        agenda["name"]
            .as_str()
            .unwrap()
            .starts_with("Emergency CAB")
    );
    assert_eq!(agenda["state"], "pending");
    assert_eq!(agenda["role"], "chair");
    let got: Vec<&str> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(got, numbers.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        agenda["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["allotted_seconds"] == 1200)
    );
    let people: Vec<&str> = agenda["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(people.len(), 3, "{people:?}");
    assert!(people.contains(&"Ben Ishikawa") && people.contains(&"Carla Diaz"));
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_meeting_text_never_reaches_the_terminal() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (sys_id, before) = in_progress(h, &url).await;
    assert!(server.update_record(
        "cab_meeting",
        &sys_id,
        &[
            ("name", "Weekly \u{1b}]0;pwned\u{7}CAB \u{1b}[2J\u{9b}31m"),
            ("notes", "<p>line\u{1b}[31m one</p>"),
        ],
    ));
    for args in [
        vec!["cab", "list"],
        vec!["cab", "list", "--output", "json"],
        vec!["cab", "show", &sys_id],
        vec!["cab", "minutes", &sys_id],
        vec!["cab", "minutes", &sys_id, "--format", "json"],
        vec!["cab", "show", "pwned"],
    ] {
        let o = run(h, &url, &args).await;
        for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text
                    .chars()
                    .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{7}'),
                "{args:?} {stream}: {text:?}"
            );
        }
    }
    // The hostile name did reach signoff: it shows, made harmless.
    let (_, after) = in_progress(h, &url).await;
    assert_ne!(after, before);
    assert!(
        after.starts_with("Weekly") && after.contains("CAB"),
        "{after:?}"
    );
    server.shutdown().await;
}
