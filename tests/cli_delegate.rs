//! `signoff delegate add|list|end|edit` against the built-in server.

mod common;

use chrono::Duration;
use common::{run_as_demo as run, stderr as err, stdout as out};
use signoff::sim::{DEMO_USER, SimServer};

async fn start() -> SimServer {
    common::sim(3, 40, 100).await
}

fn line<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|l| l.contains(needle)).unwrap_or("")
}

#[tokio::test]
async fn delegations_round_trip_and_bad_ones_are_refused() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // The sim's clock runs from its anchor; dates are relative to it.
    let day = |n: i64| {
        (server.server_now() + Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };

    let o = run(h, &url, &["delegate", "list"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let list = out(&o);
    assert!(line(&list, "Carla Diaz").contains("active"), "{list}");
    assert!(line(&list, "Dev Patel").contains("expired"), "{list}");
    assert!(line(&list, "Emma Lindqvist").contains("upcoming"), "{list}");
    let given = &list[..list.find("Received:").unwrap()];
    assert!(line(given, "Ben Ishikawa").contains("upcoming"), "{list}");

    // Overlapping the seeded one to Ben (days 20-34), to oneself, backwards, unknown person.
    let (from, until) = (day(25), day(30));
    let o = run(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "carla.diaz",
            "--from",
            &from,
            "--until",
            &until,
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        err(&o).contains("overlaps your delegation to Ben Ishikawa"),
        "{}",
        err(&o)
    );
    let o = run(
        h,
        &url,
        &["delegate", "add", "--to", DEMO_USER, "--until", &day(3)],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("yourself"), "{}", err(&o));
    let o = run(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "carla.diaz",
            "--from",
            &day(5),
            "--until",
            &day(2),
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("must be after"), "{}", err(&o));
    let o = run(
        h,
        &url,
        &["delegate", "add", "--to", "nobody.here", "--until", &day(3)],
    )
    .await;
    assert_eq!(o.status.code(), Some(6), "exit 6: not found");
    assert!(err(&o).contains("No active user matches"), "{}", err(&o));

    // A good one, by full name.
    let o = run(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "Carla Diaz",
            "--from",
            &day(2),
            "--until",
            &day(9),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("Delegated your approvals to Carla Diaz (carla.diaz)"),
        "{text}"
    );
    let id = text
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string();
    let rec = server
        .record("sys_user_delegate", &id)
        .expect("created on the server");
    assert_eq!(rec["approvals"], "true");
    assert_eq!(rec["starts"], format!("{} 00:00:00", day(2)));
    assert_eq!(rec["ends"], format!("{} 23:59:59", day(9)));

    // Edit its window, then end it (it has not started, so it is cancelled).
    let o = run(h, &url, &["delegate", "edit", &id, "--until", &day(11)]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        server.record("sys_user_delegate", &id).unwrap()["ends"],
        format!("{} 23:59:59", day(11))
    );
    let o = run(h, &url, &["delegate", "end", &id]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("Cancelled your upcoming delegation to Carla Diaz"),
        "{}",
        out(&o)
    );
    assert!(server.record("sys_user_delegate", &id).is_none());

    // An active one is ended now, not deleted.
    let o = run(
        h,
        &url,
        &["delegate", "add", "--to", "dev.patel", "--until", &day(1)],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let id = out(&o)
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string();
    let o = run(h, &url, &["delegate", "end", &id]).await;
    assert!(
        out(&o).contains("Ended your delegation to Dev Patel now"),
        "{}{}",
        out(&o),
        err(&o)
    );
    let ends = server.record("sys_user_delegate", &id).unwrap()["ends"].clone();
    assert!(ends < format!("{} 00:00:00", day(1)), "{ends}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_queue_marks_delegated_approvals_and_names_fallbacks() {
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("config")).unwrap();
    std::fs::write(
        h.join("config/config.toml"),
        "[policy]\nfallback_at_level = 1\n[policy.fallback]\ncritical = \"Carla Diaz\"\nemergency = \"Duty manager\"\nhigh = \"Dev Patel\"\nmoderate = \"Dev Patel\"\nlow = \"Dev Patel\"\n",
    )
    .unwrap();
    let o = run(h, &url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let carla: Vec<_> = rows
        .iter()
        .filter(|r| r["on_behalf_of"] == "Carla Diaz")
        .collect();
    assert!(!carla.is_empty(), "Carla's approvals are in Alice's queue");
    assert!(
        rows.iter().any(|r| r["on_behalf_of"].is_null()),
        "and Alice's own"
    );
    // Breached approvals (escalation level >= 1 here) name the tier's fallback.
    let breached: Vec<_> = rows
        .iter()
        .filter(|r| r["sla_status"] == "breached")
        .collect();
    assert!(!breached.is_empty());
    for r in &breached {
        let note = r["attention"].as_str().unwrap_or_default();
        assert!(note.starts_with("No one present to decide"), "{r}");
        assert!(note.contains("chase"), "{r}");
    }
    assert!(
        rows.iter()
            .filter(|r| r["sla_status"] == "on_track")
            .all(|r| r["attention"].is_null())
    );
    let text = run(h, &url, &["queue", "--offline"]).await;
    assert!(out(&text).contains("for Carla Diaz · "), "{}", out(&text));
    assert!(
        out(&text).contains("⚑ No one present to decide"),
        "{}",
        out(&text)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_summer_window_typed_in_winter_means_summer_time() {
    // In London in November (GMT), a July window is British Summer Time (UTC+1): the offset
    // of that date, not of today.
    let server = start().await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    use chrono::Datelike;
    let year = server.server_now().year() + 1;
    let (from, until) = (format!("{year}-07-01 09:00"), format!("{year}-07-08"));
    let mut c = common::signoff_as_demo(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "ben.ishikawa",
            "--from",
            &from,
            "--until",
            &until,
        ],
    );
    c.env("TZ", "Europe/London");
    let o = c.output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let said = out(&o);
    assert!(said.contains("+01:00"), "times carry their zone: {said}");
    let id = said
        .rsplit("id ")
        .next()
        .unwrap()
        .trim()
        .trim_end_matches('.');
    let record = server.record("sys_user_delegate", id).expect("created");
    assert_eq!(
        record["starts"],
        format!("{year}-07-01 08:00:00"),
        "{record:?}"
    );
    assert_eq!(
        record["ends"],
        format!("{year}-07-08 22:59:59"),
        "{record:?}"
    );
    // A time the clocks skip (the last Sunday of March, 01:30) is refused with a sentence.
    let march_end = (25..=31)
        .rev()
        .find(|d| {
            chrono::NaiveDate::from_ymd_opt(year, 3, *d)
                .unwrap()
                .weekday()
                == chrono::Weekday::Sun
        })
        .unwrap();
    let mut c = common::signoff_as_demo(
        h,
        &url,
        &[
            "delegate",
            "add",
            "--to",
            "ben.ishikawa",
            "--from",
            &format!("{year}-03-{march_end:02} 01:30"),
            "--until",
            &format!("{year}-04-02"),
        ],
    );
    c.env("TZ", "Europe/London");
    let o = c.output().await.unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(err(&o).contains("clocks skip it"), "{}", err(&o));
    server.shutdown().await;
}
