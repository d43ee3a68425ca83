//! gzip on the wire: the sim compresses when asked (and only then), the answer decodes to the
//! same JSON, and the adapter asks for it on every request, so a full pull moves far fewer
//! bytes.

mod common;

use std::io::Read;

use signoff::backend::{Backend, Scope, no_progress};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER};

#[tokio::test]
async fn the_sim_gzips_when_asked_and_the_adapter_asks() {
    signoff::init_tls();
    let server = common::sim(95, 200, 100).await;
    let url = format!(
        "{}/api/now/table/sysapproval_approver?sysparm_limit=100&sysparm_display_value=all",
        server.url()
    );
    // A client that does not decode by itself, to see the bytes as sent.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let plain = raw
        .get(&url)
        .basic_auth(DEMO_USER, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let packed = raw
        .get(&url)
        .basic_auth(DEMO_USER, Some(DEMO_PASSWORD))
        .header("Accept-Encoding", "gzip, deflate")
        .send()
        .await
        .unwrap();
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let packed = packed.bytes().await.unwrap();
    assert!(
        packed.len() * 4 < plain.len(),
        "{} gzipped vs {} plain",
        packed.len(),
        plain.len()
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    let a: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&unpacked).unwrap();
    assert_eq!(a, b, "the same answer");
    // q=0 refuses it.
    let refused = raw
        .get(&url)
        .basic_auth(DEMO_USER, Some(DEMO_PASSWORD))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());

    // The adapter: every answer of a full pull came gzipped, and decoded.
    let clock = common::clock(&server);
    let sn = common::client_on(&server, DEMO_USER, DEMO_PASSWORD, &clock);
    let me = sn.current_user().await.unwrap();
    let (requests, gzipped) = (
        server.faults().requests_served(),
        server.faults().gzipped_responses(),
    );
    let approvals = sn
        .approvals(
            std::slice::from_ref(&me.sys_id),
            Scope::Pending,
            &no_progress,
        )
        .await
        .unwrap();
    assert!(!approvals.is_empty());
    let requests = server.faults().requests_served() - requests;
    let gzipped = server.faults().gzipped_responses() - gzipped;
    assert!(requests >= 4, "{requests}");
    assert_eq!(gzipped, requests, "every answer gzipped");
    server.shutdown().await;
}
