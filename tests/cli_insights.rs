//! `signoff insights` as a service review uses it: the figures of the user's decisions as
//! JSON, and a clear refusal of a period it does not offer.

mod common;

use common::{run_as_demo as run, stderr as err};

#[tokio::test]
async fn insights_print_the_decisions_made_as_json() {
    let server = common::sim(21, 60, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = run(h, &url, &["queue", "--json"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mine: Vec<String> = rows
        .iter()
        .filter(|r| r["state"] == "requested" && r["on_behalf_of"].is_null())
        .map(|r| r["number"].as_str().unwrap().to_string())
        .collect();
    let o = run(
        h,
        &url,
        &["approve", &mine[0], "-m", "Looks good; backout is tested."],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = run(
        h,
        &url,
        &[
            "reject",
            &mine[1],
            "-m",
            "No rollback plan for the database, so no.",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    let o = run(
        h,
        &url,
        &["--offline", "insights", "--days", "7", "--output", "json"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["days"], 7, "{f}");
    assert_eq!(f["decisions"], 2);
    assert_eq!(f["approved"], 1);
    assert_eq!(f["rejected"], 1);
    assert_eq!(f["rejection_rate"], 0.5);
    assert_eq!(f["per_day"].as_array().unwrap().len(), 7);
    assert_eq!(
        f["top_reasons"][0]["reason"],
        "No rollback plan for the database, so no."
    );
    let cycles: u64 = f["cycle_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decisions"].as_u64().unwrap())
        .sum();
    assert_eq!(cycles, 2);

    let o = run(h, &url, &["--offline", "insights", "--days", "12"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("use 7, 30 or 90"), "{}", err(&o));
}
