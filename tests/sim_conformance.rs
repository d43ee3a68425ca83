//! Conformance tests for the ServiceNow simulator, over real HTTP on 127.0.0.1:0 with a fixed
//! clock. They check the Table API behaviours listed in `servicenow-api.md` §8.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signoff::sim::query::InvalidQuery;
use signoff::sim::{self, Fault, SimConfig, SimServer};

/// The sim's clock anchor: 2026-11-25 10:00 UTC, or `SIGNOFF_TEST_ANCHOR` (the whole suite
/// runs once with the anchor a year away, to show nothing depends on the date).
fn fixed_now() -> DateTime<Utc> {
    match std::env::var("SIGNOFF_TEST_ANCHOR") {
        Ok(s) if !s.is_empty() => DateTime::parse_from_rfc3339(&s)
            .expect("SIGNOFF_TEST_ANCHOR is an RFC 3339 time")
            .to_utc(),
        _ => Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap(),
    }
}

fn config(changes: usize) -> SimConfig {
    SimConfig {
        changes,
        now: Some(fixed_now()),
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> SimServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sim starts")
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Resp {
    fn result(&self) -> &Vec<Value> {
        self.body["result"].as_array().expect("result array")
    }
    fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
    fn total(&self) -> usize {
        self.header("x-total-count").unwrap().parse().unwrap()
    }
    fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(",<")
            .find(|p| p.ends_with("rel=\"next\""))
            .map(|p| {
                let p = p.trim_start_matches('<');
                p[..p.find('>').unwrap()].to_string()
            })
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn send(req: reqwest::RequestBuilder) -> Resp {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

fn url(s: &SimServer, path: &str, params: &[(&str, &str)]) -> url::Url {
    let mut u = url::Url::parse(&format!("{}{}", s.url(), path)).unwrap();
    if !params.is_empty() {
        u.query_pairs_mut().extend_pairs(params);
    }
    u
}

async fn get(s: &SimServer, user: &str, path: &str, params: &[(&str, &str)]) -> Resp {
    send(
        client()
            .get(url(s, path, params))
            .basic_auth(user, Some(sim::DEMO_PASSWORD)),
    )
    .await
}

async fn patch(s: &SimServer, user: &str, path: &str, params: &[(&str, &str)], body: &str) -> Resp {
    send(
        client()
            .patch(url(s, path, params))
            .basic_auth(user, Some(sim::DEMO_PASSWORD))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// Rows (as admin) of a list query, with the given fields.
async fn rows(s: &SimServer, table: &str, query: &str, fields: &str) -> Vec<Value> {
    let r = get(
        s,
        "admin",
        &format!("/api/now/table/{table}"),
        &[
            ("sysparm_query", query),
            ("sysparm_fields", fields),
            ("sysparm_limit", "10000"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.result().clone()
}

fn assert_envelope(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], "failure", "{}", r.text);
    assert_eq!(r.body["error"]["message"], message, "{}", r.text);
    assert!(r.body["error"].get("detail").is_some());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "content type"
    );
}

fn user_id(s: &SimServer, login: &str) -> String {
    s.users()
        .into_iter()
        .find(|u| u.user_name == login)
        .unwrap()
        .sys_id
}

fn big_cap(changes: usize) -> SimConfig {
    SimConfig {
        page_cap: 100_000,
        ..config(changes)
    }
}

#[tokio::test]
async fn query_operators() {
    let s = start(big_cap(80)).await;
    let all = rows(&s, "change_request", "", "sys_id,risk").await;
    assert_eq!(all.len(), 80);
    let count = |v: &[Value], f: &dyn Fn(&Value) -> bool| v.iter().filter(|r| f(r)).count();

    // = and !=
    let r2 = rows(&s, "change_request", "risk=2", "risk").await;
    assert!(!r2.is_empty());
    assert!(r2.iter().all(|r| r["risk"] == "2"));
    let not2 = rows(&s, "change_request", "risk!=2", "risk").await;
    assert_eq!(r2.len() + not2.len(), 80);
    assert!(not2.iter().all(|r| r["risk"] != "2"));

    // IN / NOT IN, ^OR and ^NQ agree
    let inn = rows(&s, "change_request", "riskIN2,4", "risk").await;
    assert_eq!(
        inn.len(),
        count(&all, &|r| r["risk"] == "2" || r["risk"] == "4")
    );
    let or = rows(&s, "change_request", "risk=2^ORrisk=4", "risk").await;
    assert_eq!(or.len(), inn.len());
    let nq = rows(&s, "change_request", "risk=2^NQrisk=4", "risk").await;
    assert_eq!(nq.len(), inn.len());
    let notin = rows(&s, "change_request", "riskNOT IN2,4", "risk").await;
    assert_eq!(notin.len() + inn.len(), 80);
    // ^OR binds to the previous condition only: (type=normal) AND (risk=2 OR risk=4)
    let mixed = rows(
        &s,
        "change_request",
        "type=normal^risk=2^ORrisk=4",
        "risk,type",
    )
    .await;
    assert!(
        mixed
            .iter()
            .all(|r| r["type"] == "normal" && (r["risk"] == "2" || r["risk"] == "4"))
    );

    // numeric comparisons and BETWEEN
    let lt = rows(&s, "change_request", "risk<3", "risk").await;
    assert_eq!(
        lt.len(),
        count(&all, &|r| r["risk"].as_str().unwrap() < "3")
    );
    let ge = rows(&s, "change_request", "risk>=3", "risk").await;
    assert_eq!(lt.len() + ge.len(), 80);
    let btw = rows(&s, "change_request", "impactBETWEEN1@2", "impact").await;
    assert!(!btw.is_empty() && btw.iter().all(|r| r["impact"] == "1" || r["impact"] == "2"));

    // date-time comparisons
    let cut = (fixed_now() + chrono::Duration::days(2))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let cut = cut.as_str();
    let after = rows(
        &s,
        "change_request",
        &format!("start_date>{cut}"),
        "start_date",
    )
    .await;
    let before = rows(
        &s,
        "change_request",
        &format!("start_date<={cut}"),
        "start_date",
    )
    .await;
    assert_eq!(after.len() + before.len(), 80);
    assert!(!after.is_empty() && !before.is_empty());
    assert!(
        after
            .iter()
            .all(|r| r["start_date"].as_str().unwrap() > cut)
    );

    // string operators (case-insensitive)
    let sw = rows(
        &s,
        "change_request",
        "short_descriptionSTARTSWITHupgrade",
        "short_description",
    )
    .await;
    assert!(!sw.is_empty());
    assert!(sw.iter().all(|r| {
        r["short_description"]
            .as_str()
            .unwrap()
            .starts_with("Upgrade")
    }));
    let like = rows(
        &s,
        "change_request",
        "short_descriptionLIKEtls",
        "short_description",
    )
    .await;
    assert!(like.iter().all(|r| {
        r["short_description"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("tls")
    }));
    let notlike = rows(
        &s,
        "change_request",
        "short_descriptionNOTLIKEtls",
        "short_description",
    )
    .await;
    assert_eq!(like.len() + notlike.len(), 80);
    let ew = rows(&s, "cmdb_ci", "nameENDSWITH-01", "name").await;
    assert!(
        !ew.is_empty()
            && ew
                .iter()
                .all(|r| r["name"].as_str().unwrap().ends_with("-01"))
    );

    // ISEMPTY / ISNOTEMPTY / ANYTHING / EMPTYSTRING
    let empty = rows(&s, "change_request", "closed_atISEMPTY", "closed_at").await;
    let nonempty = rows(&s, "change_request", "closed_atISNOTEMPTY", "closed_at").await;
    assert_eq!(empty.len() + nonempty.len(), 80);
    assert!(!empty.is_empty());
    assert!(empty.iter().all(|r| r["closed_at"] == ""));
    assert_eq!(
        rows(&s, "change_request", "numberANYTHING", "number")
            .await
            .len(),
        80
    );
    assert_eq!(
        rows(&s, "change_request", "closed_atEMPTYSTRING", "number")
            .await
            .len(),
        empty.len()
    );

    // ORDERBY / ORDERBYDESC (multiple, stable)
    let desc = rows(&s, "change_request", "ORDERBYDESCnumber", "number").await;
    let nums: Vec<&str> = desc.iter().map(|r| r["number"].as_str().unwrap()).collect();
    let mut sorted = nums.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(nums, sorted);
    let multi = rows(
        &s,
        "change_request",
        "ORDERBYrisk^ORDERBYDESCnumber",
        "risk,number",
    )
    .await;
    for w in multi.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ra, rb) = (a["risk"].as_str().unwrap(), b["risk"].as_str().unwrap());
        assert!(ra < rb || (ra == rb && a["number"].as_str() > b["number"].as_str()));
    }
    let default = rows(&s, "change_request", "", "number").await;
    assert_eq!(
        default[0]["number"], "CHG0030001",
        "insertion order by default"
    );

    // dot-walking in conditions, javascript:gs.getUserID()
    let alice = user_id(&s, "alice.moreno");
    let by_num = rows(
        &s,
        "sysapproval_approver",
        "sysapproval.number=CHG0030001",
        "sysapproval",
    )
    .await;
    let chg1 = &default[0];
    let chg1_id =
        rows(&s, "change_request", "number=CHG0030001", "sys_id").await[0]["sys_id"].clone();
    assert!(!by_num.is_empty(), "{chg1}");
    assert!(by_num.iter().all(|r| r["sysapproval"]["value"] == chg1_id));
    let by_login = rows(
        &s,
        "sysapproval_approver",
        "approver.user_name=alice.moreno",
        "approver",
    )
    .await;
    assert!(!by_login.is_empty());
    assert!(
        by_login
            .iter()
            .all(|r| r["approver"]["value"] == alice.as_str())
    );
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sysapproval_approver",
        &[
            ("sysparm_query", "approver=javascript:gs.getUserID()"),
            ("sysparm_limit", "100000"),
        ],
    )
    .await;
    assert_eq!(r.total(), by_login.len());

    // An unknown field, and by default an invalid part, are dropped as an instance does:
    // the rest of the query applies.
    let with_unknown = rows(&s, "change_request", "no_such_field=5^risk=2", "risk").await;
    assert_eq!(with_unknown.len(), r2.len());
    let all_changes = rows(&s, "change_request", "", "sys_id").await.len();
    for (bad, want) in [
        ("stateFOO requested", all_changes),
        ("state~~x", all_changes),
        ("risk=2^impactZZ3", r2.len()),
    ] {
        let r = get(
            &s,
            "admin",
            "/api/now/table/change_request",
            &[("sysparm_query", bad), ("sysparm_fields", "sys_id")],
        )
        .await;
        assert_eq!(r.status, 200, "{bad}: {}", r.text);
        assert_eq!(r.result().len(), want, "{bad}");
    }
    // query_ids agrees with HTTP
    assert_eq!(
        s.query_ids("change_request", "risk=2").unwrap().len(),
        r2.len()
    );
    assert!(s.query_ids("change_request", "state~~x").is_err());
    s.shutdown().await;
}

#[tokio::test]
async fn paging_headers_and_walk() {
    let s = start(SimConfig {
        page_cap: 25,
        ..config(60)
    })
    .await;
    let r = get(
        &s,
        "admin",
        "/api/now/table/change_request",
        &[("sysparm_limit", "1000"), ("sysparm_fields", "sys_id")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result().len(), 25, "clamped to page cap");
    assert_eq!(r.total(), 60);
    let link = r.header("link").unwrap().to_string();
    assert!(!link.contains(' '), "no spaces: {link}");
    assert!(
        link.contains("rel=\"first\"")
            && link.contains("rel=\"next\"")
            && link.contains("rel=\"last\"")
    );
    assert!(!link.contains("rel=\"prev\""));
    assert!(link.contains("sysparm_limit=25") && link.contains("sysparm_fields=sys_id"));
    assert!(link.starts_with(&format!("<{}/api/now/table/change_request?", s.url())));

    // walk every page via Link rel="next"
    let mut seen = Vec::new();
    let mut next = Some(
        url(
            &s,
            "/api/now/table/change_request",
            &[("sysparm_limit", "25"), ("sysparm_fields", "sys_id")],
        )
        .to_string(),
    );
    let mut pages = 0;
    let mut last = None;
    while let Some(u) = next {
        let r = send(client().get(&u).basic_auth("admin", Some("demo"))).await;
        assert_eq!(r.status, 200);
        seen.extend(
            r.result()
                .iter()
                .map(|v| v["sys_id"].as_str().unwrap().to_string()),
        );
        next = r.next_link();
        pages += 1;
        last = Some(r);
    }
    assert_eq!(pages, 3);
    let last = last.unwrap();
    assert!(last.header("link").unwrap().contains("rel=\"prev\""));
    assert_eq!(seen.len(), 60);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        60,
        "every row exactly once"
    );

    // v2 path behaves the same; headers can be suppressed
    let r = get(
        &s,
        "admin",
        "/api/now/v2/table/change_request",
        &[
            ("sysparm_suppress_pagination_header", "true"),
            ("sysparm_no_count", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("link").is_none());
    assert!(r.header("x-total-count").is_none());
    // empty result is 200 []
    let r = get(
        &s,
        "admin",
        "/api/now/table/change_request",
        &[("sysparm_query", "number=NOPE")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.result().is_empty());
    assert_eq!(r.total(), 0);
    // negative offset
    let r = get(
        &s,
        "admin",
        "/api/now/table/change_request",
        &[("sysparm_offset", "-1")],
    )
    .await;
    assert_envelope(&r, 400, "Invalid sysparm_offset");
    s.shutdown().await;
}

/// Without a count, a query ordered by sys_id is answered by walking the primary key from its
/// bound (as a database does): the same rows as the counted answer, a `next` link exactly
/// when rows are left, and a `last` only once the walk reached the end (nothing was counted).
#[tokio::test]
async fn keyed_pages_without_a_count_walk_the_key() {
    let s = start(big_cap(300)).await;
    let all: Vec<String> = rows(&s, "sysapproval_approver", "ORDERBYsys_id", "sys_id")
        .await
        .iter()
        .map(|v| v["sys_id"].as_str().unwrap().to_string())
        .collect();
    assert!(all.len() > 100, "{} approvals", all.len());
    let (lo, hi) = (&all[10], &all[all.len() - 10]);
    // Two ORed branches with different bounds: the walk starts at the looser one, and each
    // branch still applies its own.
    let q = format!(
        "state=requested^sys_id>{lo}^sys_id<{hi}^NQstate!=requested^sys_id>={}^ORDERBYsys_id",
        all[40]
    );
    let fields = [("sysparm_query", q.as_str()), ("sysparm_fields", "sys_id")];
    let counted = get(&s, "admin", "/api/now/table/sysapproval_approver", &fields).await;
    let want: Vec<&str> = counted
        .result()
        .iter()
        .map(|v| v["sys_id"].as_str().unwrap())
        .collect();
    assert!(want.len() > 20 && want.windows(2).all(|w| w[0] < w[1]));
    let mut seen: Vec<String> = Vec::new();
    let mut offset = 0;
    loop {
        let off = offset.to_string();
        let mut params = fields.to_vec();
        params.extend([
            ("sysparm_no_count", "true"),
            ("sysparm_limit", "7"),
            ("sysparm_offset", off.as_str()),
        ]);
        let r = get(&s, "admin", "/api/now/table/sysapproval_approver", &params).await;
        assert_eq!(r.status, 200);
        assert!(r.header("x-total-count").is_none());
        let link = r.header("link").unwrap().to_string();
        let page: Vec<String> = r
            .result()
            .iter()
            .map(|v| v["sys_id"].as_str().unwrap().to_string())
            .collect();
        seen.extend(page);
        offset += 7;
        assert_eq!(
            link.contains("rel=\"next\""),
            offset < want.len(),
            "at {offset}: {link}"
        );
        if !link.contains("rel=\"next\"") {
            break;
        }
    }
    assert_eq!(seen, want);
    s.shutdown().await;
}

#[tokio::test]
async fn display_value_shapes() {
    let s = start(config(40)).await;
    let chg = &rows(
        &s,
        "change_request",
        "assigned_toISEMPTY^state=-3",
        "sys_id",
    )
    .await[0];
    let id = chg["sys_id"].as_str().unwrap().to_string();
    let path = format!("/api/now/table/change_request/{id}");
    let rec = s.record("change_request", &id).unwrap();
    let group_id = rec["assignment_group"].clone();
    let group_name = s.record("sys_user_group", &group_id).unwrap()["name"].clone();
    let link = format!("{}/api/now/table/sys_user_group/{group_id}", s.url());

    let v = get(&s, "alice.moreno", &path, &[]).await;
    assert_eq!(v.status, 200);
    let r = &v.body["result"];
    assert_eq!(r["state"], "-3");
    assert_eq!(r["number"], rec["number"].as_str());
    assert_eq!(
        r["assignment_group"],
        json!({"link": link, "value": group_id})
    );
    assert_eq!(r["assigned_to"], "");
    assert_eq!(r["comments"], "");
    assert_eq!(r["on_hold"], "false");
    let ts = r["sys_created_on"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{ts}"
    );

    let t = get(
        &s,
        "alice.moreno",
        &path,
        &[("sysparm_display_value", "true")],
    )
    .await;
    let r = &t.body["result"];
    assert_eq!(r["state"], "Authorize");
    let risk_label =
        ["Very High", "High", "Moderate", "Low"][rec["risk"].parse::<usize>().unwrap() - 1];
    assert_eq!(r["risk"], risk_label);
    let pri_label = [
        "1 - Critical",
        "2 - High",
        "3 - Moderate",
        "4 - Low",
        "5 - Planning",
    ][rec["priority"].parse::<usize>().unwrap() - 1];
    assert_eq!(r["priority"], pri_label);
    assert_eq!(
        r["impact"].as_str().unwrap()[..4],
        format!("{} - ", rec["impact"])
    );
    assert_eq!(
        r["assignment_group"],
        json!({"display_value": group_name, "link": link})
    );
    assert_eq!(r["assigned_to"], "");
    // Date-times display in the requesting user's zone (alice: Europe/Madrid, one hour
    // ahead of UTC in winter, two in summer); values stay UTC.
    let shown = r["sys_created_on"].as_str().unwrap();
    let ahead = |shown: &str| {
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        (at(shown) - at(ts)).num_hours()
    };
    assert!(matches!(ahead(shown), 1 | 2), "{shown} vs {ts}");

    let a = get(
        &s,
        "alice.moreno",
        &path,
        &[("sysparm_display_value", "all")],
    )
    .await;
    let r = &a.body["result"];
    assert_eq!(
        r["state"],
        json!({"display_value": "Authorize", "value": "-3"})
    );
    assert_eq!(
        r["assignment_group"],
        json!({"display_value": group_name, "link": link, "value": group_id})
    );
    assert_eq!(r["number"]["value"], rec["number"].as_str());
    assert_eq!(r["sys_created_on"]["value"], ts);
    assert_eq!(r["sys_created_on"]["display_value"], shown);
    assert_eq!(r["assigned_to"], json!({"display_value": "", "value": ""}));

    // exclude_reference_link in each mode
    let ex = |mode: &'static str| {
        let s = &s;
        let path = path.clone();
        async move {
            get(
                s,
                "alice.moreno",
                &path,
                &[
                    ("sysparm_display_value", mode),
                    ("sysparm_exclude_reference_link", "true"),
                    ("sysparm_fields", "assignment_group"),
                ],
            )
            .await
            .body["result"]["assignment_group"]
                .clone()
        }
    };
    assert_eq!(ex("false").await, json!(group_id));
    assert_eq!(ex("true").await, json!(group_name));
    assert_eq!(
        ex("all").await,
        json!({"display_value": group_name, "value": group_id})
    );

    // sysapproval references table task in its link; display value is the change number
    let appr = get(
        &s,
        "admin",
        "/api/now/table/sysapproval_approver",
        &[("sysparm_limit", "1"), ("sysparm_display_value", "all")],
    )
    .await;
    let sa = &appr.result()[0]["sysapproval"];
    assert!(
        sa["link"]
            .as_str()
            .unwrap()
            .contains("/api/now/table/task/")
    );
    assert!(sa["display_value"].as_str().unwrap().starts_with("CHG"));
    assert!(
        appr.result()[0]["approver"]["display_value"]
            .as_str()
            .unwrap()
            .contains(' ')
    );
    s.shutdown().await;
}

#[tokio::test]
async fn fields_and_dotwalk_switch() {
    for dotwalk in [true, false] {
        let s = start(SimConfig {
            dotwalk_change_fields: dotwalk,
            ..config(30)
        })
        .await;
        let r = get(
            &s,
            "alice.moreno",
            "/api/now/table/sysapproval_approver",
            &[
                ("sysparm_fields", "sys_id,sysapproval.number,sysapproval.risk,sysapproval.short_description,bogus,approver.name"),
                ("sysparm_display_value", "all"),
                ("sysparm_limit", "5"),
            ],
        )
        .await;
        assert_eq!(r.status, 200);
        let row = &r.result()[0];
        let keys: BTreeSet<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: BTreeSet<&str> = [
            "sys_id",
            "sysapproval.number",
            "sysapproval.short_description",
            "approver.name",
        ]
        .into();
        if dotwalk {
            want.insert("sysapproval.risk");
            assert!(row["sysapproval.risk"]["display_value"].is_string());
        }
        assert_eq!(keys, want, "dotwalk_change_fields={dotwalk}");
        assert!(
            row["sysapproval.number"]["value"]
                .as_str()
                .unwrap()
                .starts_with("CHG")
        );
        // change-only dotted condition is ignored when the switch is off
        let total = s.query_ids("sysapproval_approver", "").unwrap().len();
        let filtered = s
            .query_ids("sysapproval_approver", "sysapproval.risk=2")
            .unwrap()
            .len();
        if dotwalk {
            assert!(filtered < total);
        } else {
            assert_eq!(filtered, total);
        }
        s.shutdown().await;
    }
}

#[tokio::test]
async fn auth_and_acls() {
    let s = start(config(60)).await;
    let r = send(client().get(url(&s, "/api/now/table/change_request", &[]))).await;
    assert_envelope(&r, 401, "User Not Authenticated");
    assert_eq!(
        r.body["error"]["detail"],
        "Required to provide Auth information"
    );
    let r = send(
        client()
            .get(url(&s, "/api/now/table/change_request", &[]))
            .basic_auth("alice.moreno", Some("wrong")),
    )
    .await;
    assert_envelope(&r, 401, "User Not Authenticated");
    let r = get(&s, "alice.moreno", "/api/now/table/no_such_table", &[]).await;
    assert_envelope(&r, 400, "Invalid table no_such_table");
    assert_eq!(
        r.body["error"]["detail"],
        "Table no_such_table does not exist"
    );

    // ben (approver_user only): no change_request access
    let r = get(&s, "ben.ishikawa", "/api/now/table/change_request", &[]).await;
    assert_envelope(&r, 403, "Insufficient rights to query records");
    assert!(r.body["error"]["detail"].is_null());
    let chg = s.query_ids("change_request", "").unwrap()[0].clone();
    let r = get(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/change_request/{chg}"),
        &[],
    )
    .await;
    assert_envelope(&r, 404, "No Record found");

    // ben's approval pages come back short while more pages follow; total counts all rows
    let ben = user_id(&s, "ben.ishikawa");
    let all_appr = s.query_ids("sysapproval_approver", "").unwrap().len();
    let mut next = Some(
        url(
            &s,
            "/api/now/table/sysapproval_approver",
            &[
                ("sysparm_limit", "10"),
                (
                    "sysparm_fields",
                    "sys_id,approver,sysapproval.short_description,sysapproval.risk",
                ),
            ],
        )
        .to_string(),
    );
    let mut short_with_next = false;
    let mut got = 0;
    while let Some(u) = next {
        let r = send(client().get(&u).basic_auth("ben.ishikawa", Some("demo"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.total(), all_appr);
        next = r.next_link();
        if r.result().len() < 10 && next.is_some() {
            short_with_next = true;
        }
        for row in r.result() {
            assert_eq!(row["approver"]["value"], ben.as_str());
            assert!(
                !row["sysapproval.short_description"]
                    .as_str()
                    .unwrap()
                    .is_empty()
            );
            assert!(!row["sysapproval.risk"].as_str().unwrap().is_empty());
        }
        got += r.result().len();
    }
    assert!(short_with_next);
    let bens = s
        .query_ids("sysapproval_approver", &format!("approver={ben}"))
        .unwrap();
    assert_eq!(got, bens.len());
    assert!(!bens.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn patch_approve_and_journal() {
    let s = start(config(60)).await;
    let alice = user_id(&s, "alice.moreno");
    let id = s
        .query_ids(
            "sysapproval_approver",
            &format!("approver={alice}^state=requested"),
        )
        .unwrap()[0]
        .clone();
    let before = s.record("sysapproval_approver", &id).unwrap();
    let path = format!("/api/now/table/sysapproval_approver/{id}");

    // an itil user who is not the approver may not write
    let r = patch(&s, "carla.diaz", &path, &[], r#"{"state":"approved"}"#).await;
    assert_envelope(&r, 403, "Operation Failed");
    assert_eq!(
        r.body["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );
    // ben cannot even see the row
    let r = patch(&s, "ben.ishikawa", &path, &[], r#"{"state":"approved"}"#).await;
    assert_eq!(r.status, 404);
    // body that is not JSON
    let r = patch(&s, "alice.moreno", &path, &[], "state=approved").await;
    assert_envelope(&r, 400, "Exception while reading request");

    let r = patch(
        &s,
        "alice.moreno",
        &path,
        &[(
            "sysparm_fields",
            "sys_id,state,comments,sys_mod_count,sys_updated_by,bogus",
        )],
        r#"{"state":"approved","comments":"Looks good","bogus":"x","sys_created_by":"mallory"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = &r.body["result"];
    assert_eq!(res["state"], "approved");
    assert_eq!(res["comments"], "");
    assert_eq!(res["sys_updated_by"], "alice.moreno");
    let mods: u64 = before["sys_mod_count"].parse().unwrap();
    assert_eq!(res["sys_mod_count"], (mods + 1).to_string());
    assert_eq!(res.as_object().unwrap().len(), 5);
    let after = s.record("sysapproval_approver", &id).unwrap();
    assert_eq!(after["sys_created_by"], "system");
    assert_eq!(after["state"], "approved");
    let anchor = fixed_now().format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(after["sys_updated_on"].as_str() >= anchor.as_str());

    // second comment through PUT; journal reads back newest first
    let r = send(
        client()
            .put(url(&s, &path, &[]))
            .basic_auth("alice.moreno", Some("demo"))
            .header("Content-Type", "application/json")
            .body(r#"{"comments":"Second note"}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        &s,
        "alice.moreno",
        &path,
        &[
            ("sysparm_display_value", "true"),
            ("sysparm_fields", "comments,state"),
        ],
    )
    .await;
    let c = r.body["result"]["comments"].as_str().unwrap();
    assert_eq!(r.body["result"]["state"], "Approved");
    assert!(
        c.starts_with(&fixed_now().format("%Y-%m-%d %H:%M:").to_string()),
        "{c}"
    );
    assert!(
        c.contains(" - Alice Moreno (Comments)\nSecond note\n\n"),
        "{c}"
    );
    assert!(
        c.find("Second note").unwrap() < c.find("Looks good").unwrap(),
        "{c}"
    );
    assert!(c.ends_with("Looks good\n\n"), "{c}");
    let r = get(
        &s,
        "alice.moreno",
        &path,
        &[
            ("sysparm_display_value", "all"),
            ("sysparm_fields", "comments"),
        ],
    )
    .await;
    assert_eq!(r.body["result"]["comments"]["value"], "");
    assert!(
        r.body["result"]["comments"]["display_value"]
            .as_str()
            .unwrap()
            .contains("Looks good")
    );

    // update_record stamps like a background process
    let chg = after["sysapproval"].clone();
    let m0: u64 = s.record("change_request", &chg).unwrap()["sys_mod_count"]
        .parse()
        .unwrap();
    assert!(s.update_record(
        "change_request",
        &chg,
        &[("short_description", "Changed in background")]
    ));
    let c = s.record("change_request", &chg).unwrap();
    assert_eq!(c["short_description"], "Changed in background");
    assert_eq!(c["sys_mod_count"], (m0 + 1).to_string());
    assert!(!s.update_record("change_request", "nope", &[]));
    s.shutdown().await;
}

#[tokio::test]
async fn faults() {
    let s = start(config(10)).await;
    let f = s.faults();
    let path = "/api/now/table/sys_user";
    let before = f.requests_served();
    f.push(Fault::Status(503));
    f.push(Fault::RateLimited {
        retry_after_secs: 7,
    });
    f.push(Fault::MalformedJson);
    f.push(Fault::HibernatingHtml);
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_envelope(&r, 503, "Service Unavailable");
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_envelope(&r, 429, "Rate limit exceeded");
    assert_eq!(r.header("retry-after"), Some("7"));
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("Hibernating"));
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_eq!(r.status, 200);
    assert!(!r.result().is_empty());
    f.set_persistent(Some(Fault::Status(500)));
    for _ in 0..2 {
        assert_eq!(get(&s, "alice.moreno", path, &[]).await.status, 500);
    }
    f.set_persistent(None);
    assert_eq!(get(&s, "alice.moreno", path, &[]).await.status, 200);
    assert_eq!(f.requests_served() - before, 8);
    s.shutdown().await;
}

#[tokio::test]
async fn determinism() {
    let a = start(config(50)).await;
    let b = start(config(50)).await;
    for table in [
        "sys_user",
        "change_request",
        "sysapproval_approver",
        "sysapproval_group",
        "cmdb_ci",
    ] {
        let ia = a.query_ids(table, "").unwrap();
        let ib = b.query_ids(table, "").unwrap();
        assert_eq!(ia, ib, "{table}");
        for id in ia.iter().take(20) {
            assert_eq!(a.record(table, id), b.record(table, id));
            assert_eq!(id.len(), 32);
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
    let ra = get(
        &a,
        "admin",
        "/api/now/table/change_request",
        &[
            ("sysparm_display_value", "all"),
            ("sysparm_exclude_reference_link", "true"),
        ],
    )
    .await;
    let rb = get(
        &b,
        "admin",
        "/api/now/table/change_request",
        &[
            ("sysparm_display_value", "all"),
            ("sysparm_exclude_reference_link", "true"),
        ],
    )
    .await;
    assert_eq!(ra.body, rb.body);
    let c = start(SimConfig {
        seed: 7,
        ..config(50)
    })
    .await;
    assert_ne!(
        a.query_ids("change_request", "").unwrap(),
        c.query_ids("change_request", "").unwrap()
    );
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn demo_user_workload_and_sla_spread() {
    let s = start(config(300)).await;
    let rows = rows(
        &s,
        "sysapproval_approver",
        "approver.user_name=alice.moreno^state=requested",
        "sys_created_on,sysapproval.risk,sysapproval.type,sysapproval.impact,sysapproval.start_date",
    )
    .await;
    assert!((80..=150).contains(&rows.len()), "{}", rows.len());
    let risks: BTreeSet<&str> = rows
        .iter()
        .map(|r| r["sysapproval.risk"].as_str().unwrap())
        .collect();
    assert!(risks.len() >= 3, "{risks:?}");
    // every SLA tier has on-track, warning and breached items
    let now = fixed_now().naive_utc();
    let mut buckets: BTreeSet<(u32, u8)> = BTreeSet::new();
    for r in &rows {
        let (typ, risk, impact) = (
            r["sysapproval.type"].as_str().unwrap(),
            r["sysapproval.risk"].as_str().unwrap(),
            r["sysapproval.impact"].as_str().unwrap(),
        );
        let sla = if typ == "emergency" {
            1
        } else if risk == "1" || (risk == "2" && impact == "1") {
            4
        } else if risk == "2" {
            8
        } else if risk == "3" {
            24
        } else {
            72
        };
        let created = chrono::NaiveDateTime::parse_from_str(
            r["sys_created_on"].as_str().unwrap(),
            "%Y-%m-%d %H:%M:%S",
        )
        .unwrap();
        let frac = (now - created).num_seconds() as f64 / (sla as f64 * 3600.0);
        let b = if frac >= 1.0 {
            2
        } else if frac >= 0.75 {
            1
        } else {
            0
        };
        buckets.insert((sla, b));
    }
    for sla in [1, 4, 8, 24, 72] {
        for b in 0..3 {
            assert!(
                buckets.contains(&(sla, b)),
                "tier {sla}h bucket {b}: {buckets:?}"
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn large_instance_demo_user_volume() {
    let t0 = std::time::Instant::now();
    let s = start(config(30_000)).await;
    let gen_time = t0.elapsed();
    let alice = user_id(&s, "alice.moreno");
    let n = s
        .query_ids(
            "sysapproval_approver",
            &format!("approver={alice}^state=requested"),
        )
        .unwrap()
        .len();
    assert!(n >= 10_000, "{n}");
    eprintln!("30k changes: generated in {gen_time:?}, alice has {n} requested approvals");
    s.shutdown().await;
}

/// Size check for the upper bound of `--changes` (run with `--release -- --ignored`).
#[tokio::test]
#[ignore]
async fn hundred_thousand_changes() {
    let t0 = std::time::Instant::now();
    let s = start(config(100_000)).await;
    eprintln!("100k changes generated in {:?}", t0.elapsed());
    let t1 = std::time::Instant::now();
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sysapproval_approver",
        &[
            (
                "sysparm_query",
                "approver=javascript:gs.getUserID()^state=requested^ORDERBYsys_created_on",
            ),
            ("sysparm_limit", "100"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    eprintln!("first page in {:?}, total {}", t1.elapsed(), r.total());
    s.shutdown().await;
}

#[tokio::test]
async fn name_value_pairs_and_post() {
    let s = start(big_cap(40)).await;
    let r = get(
        &s,
        "admin",
        "/api/now/table/change_request",
        &[("risk", "2"), ("sysparm_fields", "risk")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.result().len(),
        s.query_ids("change_request", "risk=2").unwrap().len()
    );
    assert!(r.result().iter().all(|v| v["risk"] == "2"));

    let r = send(
        client()
            .post(url(&s, "/api/now/table/change_request", &[]))
            .basic_auth("carla.diaz", Some("demo"))
            .header("Content-Type", "application/json")
            .body(r#"{"short_description":"New change","risk":"4","work_notes":"created"}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let loc = r.header("location").unwrap().to_string();
    let id = r.body["result"]["sys_id"].as_str().unwrap().to_string();
    assert!(loc.ends_with(&format!("/api/now/table/change_request/{id}")));
    assert_eq!(r.body["result"]["number"], "CHG0030041");
    let g = send(client().get(&loc).basic_auth("carla.diaz", Some("demo"))).await;
    assert_eq!(g.body["result"]["short_description"], "New change");
    assert_eq!(g.body["result"]["sys_created_by"], "carla.diaz");
    let r = send(
        client()
            .post(url(&s, "/api/now/table/change_request", &[]))
            .basic_auth("ben.ishikawa", Some("demo"))
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 403);
    s.shutdown().await;
}

#[tokio::test]
async fn odd_inputs_never_crash() {
    let s = start(config(10)).await;
    for q in [
        "^^^OR",
        "=",
        "OR",
        "NQ",
        "ORDERBY",
        "risk",
        "riskIN",
        "riskBETWEEN",
        "sys_idSAMEASnope",
        "é=ü",
        "a.b.c.d=1",
        "sysapproval.=x",
    ] {
        let r = get(
            &s,
            "admin",
            "/api/now/table/sysapproval_approver",
            &[("sysparm_query", q), ("sysparm_fields", ".,..,a.")],
        )
        .await;
        assert!(matches!(r.status, 200 | 400), "{q}: {}", r.status);
        assert!(r.body.is_object(), "{q}");
    }
    for p in [
        "/api/now/table/",
        "/api/now/table/change_request/x/y",
        "/",
        "/api/now/v2/table/sys_user/%00",
    ] {
        let r = get(&s, "admin", p, &[("sysparm_limit", "abc")]).await;
        assert!(matches!(r.status, 400 | 404), "{p}: {}", r.status);
        assert_eq!(r.body["status"], "failure", "{p}");
    }
    let r = get(
        &s,
        "admin",
        "/api/now/table/sys_user",
        &[("sysparm_limit", "abc")],
    )
    .await;
    assert_envelope(&r, 400, "Invalid sysparm_limit");
    assert_eq!(
        get(&s, "admin", "/api/now/table/sys_user", &[])
            .await
            .status,
        200
    );
    s.shutdown().await;
}

/// Statuses of `n` sequential cheap GETs.
async fn statuses(s: &SimServer, n: usize) -> Vec<u16> {
    let c = client();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = c
            .get(url(s, "/api/now/table/sys_user", &[("sysparm_limit", "1")]))
            .basic_auth("alice.moreno", Some(sim::DEMO_PASSWORD))
            .send()
            .await
            .expect("request");
        out.push(r.status().as_u16());
    }
    out
}

#[tokio::test]
async fn fail_rate() {
    let s = start(SimConfig {
        fail_rate: 1.0,
        ..config(10)
    })
    .await;
    for _ in 0..3 {
        let r = get(&s, "alice.moreno", "/api/now/table/sys_user", &[]).await;
        assert_envelope(&r, 500, "Internal Server Error");
    }
    s.set_fail_rate(0.0);
    assert_eq!(
        get(&s, "alice.moreno", "/api/now/table/sys_user", &[])
            .await
            .status,
        200
    );
    s.shutdown().await;

    let cfg = SimConfig {
        fail_rate: 0.3,
        ..config(10)
    };
    let a = start(cfg.clone()).await;
    let b = start(cfg).await;
    let c = start(SimConfig {
        seed: 43,
        fail_rate: 0.3,
        ..config(10)
    })
    .await;
    let (sa, sb, sc) = tokio::join!(statuses(&a, 200), statuses(&b, 200), statuses(&c, 200));
    assert!(sa.iter().all(|&x| x == 200 || x == 500));
    let fails = sa.iter().filter(|&&x| x == 500).count();
    assert!((40..=80).contains(&fails), "{fails} of 200 failed");
    assert_eq!(sa, sb, "same seed, same sequence");
    assert_ne!(sa, sc, "another seed, another sequence");
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn rate_limit() {
    // The server clock stands still: windows pass only when the test moves it.
    let s = start(SimConfig {
        rate_limit: Some(5),
        frozen_clock: true,
        ..config(10)
    })
    .await;
    let path = "/api/now/table/sys_user";
    for _ in 0..5 {
        let r = get(&s, "alice.moreno", path, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_envelope(&r, 429, "Rate limit exceeded");
    assert_eq!(
        r.body["error"]["detail"],
        "Rate limit of 5 requests per minute for Table API exceeded"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = s.server_now().timestamp();
    assert!(reset > now && reset <= now + 60, "{reset} vs {now}");
    // Per user: another user still passes.
    assert_eq!(get(&s, "admin", path, &[]).await.status, 200);
    // A short window resets.
    s.set_rate_limit(Some(1), std::time::Duration::from_millis(300));
    assert_eq!(get(&s, "alice.moreno", path, &[]).await.status, 200);
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    s.advance_clock(std::time::Duration::from_millis(350));
    assert_eq!(get(&s, "alice.moreno", path, &[]).await.status, 200);
    // Off: passes, no headers.
    s.set_rate_limit(None, std::time::Duration::from_secs(60));
    for _ in 0..3 {
        let r = get(&s, "alice.moreno", path, &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.header("x-ratelimit-limit").is_none());
    }
    s.shutdown().await;
}

#[tokio::test]
async fn stop_and_start_accepting() {
    let s = start(config(10)).await;
    let base = s.url();
    let path = "/api/now/table/change_request";
    let id = get(&s, "admin", path, &[("sysparm_limit", "1")])
        .await
        .result()[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s.update_record("change_request", &id, &[("short_description", "kept")]));
    // A keep-alive client with a pooled connection.
    let c = client();
    let one = format!("{base}{path}/{id}");
    let ok = c
        .get(&one)
        .basic_auth("admin", Some(sim::DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let _ = ok.text().await;
    assert!(s.is_accepting());
    // Idle keep-alive connections close at once: nothing has to be cut.
    assert!(s.stop_accepting().await, "stopped without cutting anything");
    assert!(!s.is_accepting());
    for client in [c.clone(), client()] {
        let e = client
            .get(&one)
            .basic_auth("admin", Some(sim::DEMO_PASSWORD))
            .send()
            .await
            .expect_err("server is down");
        assert!(e.is_connect() || e.is_request(), "{e:?}");
    }
    s.stop_accepting().await; // idempotent
    s.start_accepting().await.expect("rebinds");
    assert!(s.is_accepting());
    assert_eq!(s.url(), base);
    let r = send(c.get(&one).basic_auth("admin", Some(sim::DEMO_PASSWORD))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["result"]["short_description"], "kept");
    s.start_accepting().await.expect("no-op");
    // Shutdown works in both states.
    s.shutdown().await;
    let s = start(config(5)).await;
    s.stop_accepting().await;
    s.shutdown().await;
}

#[tokio::test]
async fn sync_helpers() {
    let s = start(config(30)).await;
    let alice = user_id(&s, "alice.moreno");
    let pending = rows(
        &s,
        "sysapproval_approver",
        &format!("approver={alice}^state=requested"),
        "sys_id,sysapproval,sys_updated_on,sys_mod_count",
    )
    .await;
    assert!(!pending.is_empty());
    let first = &pending[0];
    let appr = first["sys_id"].as_str().unwrap().to_string();
    let before = first["sys_updated_on"].as_str().unwrap().to_string();
    let mods: u64 = first["sys_mod_count"].as_str().unwrap().parse().unwrap();
    let t0 = s.now();
    s.advance_clock(std::time::Duration::from_secs(3600));
    let t1 = s.now();
    assert!(t1 > t0);
    assert!(s.decide_as(
        &appr,
        "alice.moreno",
        "approved",
        "Looks fine (from mobile)."
    ));
    assert!(!s.decide_as("nope", "alice.moreno", "approved", ""));
    assert!(!s.decide_as(&appr, "nobody", "approved", ""));
    let r = get(
        &s,
        "alice.moreno",
        &format!("/api/now/table/sysapproval_approver/{appr}"),
        &[],
    )
    .await;
    let rec = &r.body["result"];
    assert_eq!(rec["state"], "approved");
    assert_eq!(rec["sys_updated_by"], "alice.moreno");
    let after = rec["sys_updated_on"].as_str().unwrap();
    assert!(after > before.as_str() && after >= t1.as_str(), "{after}");
    assert_eq!(rec["sys_mod_count"], (mods + 1).to_string());
    let still: Vec<String> = rows(
        &s,
        "sysapproval_approver",
        &format!("approver={alice}^state=requested"),
        "sys_id",
    )
    .await
    .iter()
    .map(|v| v["sys_id"].as_str().unwrap().to_string())
    .collect();
    assert!(!still.contains(&appr));
    let since = rows(
        &s,
        "sysapproval_approver",
        &format!("sys_updated_on>={t1}"),
        "sys_id",
    )
    .await;
    assert!(since.iter().any(|v| v["sys_id"] == appr.as_str()));

    // A new approver on a change.
    s.advance_clock(std::time::Duration::from_millis(1500));
    let t2 = s.now();
    assert!(t2 > t1);
    let chg = first["sysapproval"]["value"].as_str().unwrap().to_string();
    let new = s.add_approval(&chg, "alice.moreno").expect("inserted");
    assert!(s.add_approval("nope", "alice.moreno").is_none());
    assert!(s.add_approval(&chg, "nobody").is_none());
    let got = rows(
        &s,
        "sysapproval_approver",
        &format!("approver={alice}^state=requested^sys_updated_on>={t2}"),
        "sys_id,sysapproval,state,sys_mod_count,source_table",
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["sys_id"], new.as_str());
    assert_eq!(got[0]["sysapproval"]["value"], chg.as_str());
    assert_eq!(got[0]["source_table"], "change_request");
    let change = s.record("change_request", &chg).unwrap();
    assert_eq!(change["approval"], "requested");
    s.shutdown().await;
}

/// user_name of a user sys_id.
fn login_of(s: &SimServer, sys_id: &str) -> String {
    s.users()
        .into_iter()
        .find(|u| u.sys_id == sys_id)
        .unwrap()
        .user_name
}

#[tokio::test]
async fn strict_decisions_and_reject_comments() {
    let s = start(config(60)).await;
    let alice = user_id(&s, "alice.moreno");
    let mine = rows(
        &s,
        "sysapproval_approver",
        &format!("approver={alice}^state=requested"),
        "sys_id,sysapproval",
    )
    .await;
    // An approval of a change in Assess/Authorize that nobody has rejected.
    let mut pick = None;
    for a in &mine {
        let chg = a["sysapproval"]["value"].as_str().unwrap();
        let c = s.record("change_request", chg).unwrap();
        if (c["state"] == "-4" || c["state"] == "-3") && c["approval"] == "requested" {
            pick = Some((a["sys_id"].as_str().unwrap().to_string(), chg.to_string()));
            break;
        }
    }
    let (id, chg) = pick.expect("a pending approval of an Assess/Authorize change");
    let others: Vec<String> = s
        .query_ids(
            "sysapproval_approver",
            &format!("sysapproval={chg}^state=requested^sys_id!={id}"),
        )
        .unwrap();
    for o in &others {
        let who = login_of(
            &s,
            &s.record("sysapproval_approver", o).unwrap()["approver"],
        );
        assert!(s.decide_as(o, &who, "approved", "ok"));
    }
    let path = format!("/api/now/table/sysapproval_approver/{id}");

    // a non-approver itil user may not decide
    let r = patch(&s, "carla.diaz", &path, &[], r#"{"state":"approved"}"#).await;
    assert_envelope(&r, 403, "Operation Failed");

    let r = patch(
        &s,
        "alice.moreno",
        &path,
        &[("sysparm_fields", "state")],
        r#"{"state":"approved","comments":"Fine by me"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["state"], "approved");
    let c = s.record("change_request", &chg).unwrap();
    assert_eq!(c["approval"], "approved");
    assert_eq!(c["state"], "-2");

    // approving again: refused in strict mode, nothing written
    let before = s.record("sysapproval_approver", &id).unwrap();
    let r = patch(&s, "alice.moreno", &path, &[], r#"{"state":"approved"}"#).await;
    assert_envelope(&r, 403, "Operation Failed");
    assert_eq!(
        r.body["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );
    let r = patch(
        &s,
        "alice.moreno",
        &path,
        &[],
        r#"{"state":"rejected","comments":"changed my mind"}"#,
    )
    .await;
    assert_envelope(&r, 403, "Operation Failed");
    assert_eq!(s.record("sysapproval_approver", &id).unwrap(), before);
    assert_eq!(s.journal("sysapproval_approver", &id, "comments").len(), 1);
    // comments alone are still fine
    let r = patch(&s, "alice.moreno", &path, &[], r#"{"comments":"FYI"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.set_strict_decisions(false);
    let r = patch(&s, "alice.moreno", &path, &[], r#"{"state":"approved"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.set_strict_decisions(true);

    // rejecting needs a comment
    let id2 = mine
        .iter()
        .map(|a| a["sys_id"].as_str().unwrap().to_string())
        .find(|a| *a != id && s.record("sysapproval_approver", a).unwrap()["state"] == "requested")
        .expect("another pending approval");
    let path2 = format!("/api/now/table/sysapproval_approver/{id2}");
    let before = s.record("sysapproval_approver", &id2).unwrap();
    for body in [
        r#"{"state":"rejected"}"#,
        r#"{"state":"rejected","comments":"   "}"#,
        r#"{"state":"rejected","work_notes":"not a comment"}"#,
    ] {
        let r = patch(&s, "alice.moreno", &path2, &[], body).await;
        assert_envelope(&r, 400, "Comments are required when rejecting");
    }
    assert_eq!(s.record("sysapproval_approver", &id2).unwrap(), before);
    assert!(
        s.journal("sysapproval_approver", &id2, "comments")
            .is_empty()
    );
    s.advance_clock(std::time::Duration::from_secs(5));
    let r = patch(
        &s,
        "alice.moreno",
        &path2,
        &[
            ("sysparm_display_value", "true"),
            ("sysparm_fields", "state,comments"),
        ],
        r#"{"state":"rejected","comments":"No backout plan"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["state"], "Rejected");
    let entry = " - Alice Moreno (Comments)\nNo backout plan\n\n";
    let c = r.body["result"]["comments"].as_str().unwrap();
    assert!(c.starts_with(&s.now()[..16]) && c.ends_with(entry), "{c}");
    let chg2 = before["sysapproval"].clone();
    assert_eq!(
        s.record("change_request", &chg2).unwrap()["approval"],
        "rejected"
    );

    // readback: by sys_id (true / all), in a list, and via sys_journal_field
    let r = get(
        &s,
        "alice.moreno",
        &path2,
        &[("sysparm_display_value", "true")],
    )
    .await;
    assert!(
        r.body["result"]["comments"]
            .as_str()
            .unwrap()
            .contains(entry)
    );
    let r = get(
        &s,
        "alice.moreno",
        &path2,
        &[
            ("sysparm_display_value", "all"),
            ("sysparm_fields", "comments"),
        ],
    )
    .await;
    assert_eq!(r.body["result"]["comments"]["value"], "");
    assert!(
        r.body["result"]["comments"]["display_value"]
            .as_str()
            .unwrap()
            .contains(entry)
    );
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sysapproval_approver",
        &[
            ("sysparm_query", &format!("sys_id={id2}")),
            ("sysparm_display_value", "true"),
            ("sysparm_fields", "sys_id,comments"),
        ],
    )
    .await;
    assert_eq!(r.result().len(), 1);
    assert!(r.result()[0]["comments"].as_str().unwrap().contains(entry));

    let jq = format!("element_id={id2}^element=comments^ORDERBYDESCsys_created_on");
    let jparams = [
        ("sysparm_query", jq.as_str()),
        (
            "sysparm_fields",
            "sys_id,sys_created_on,sys_created_by,value,element,name,element_id",
        ),
    ];
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sys_journal_field",
        &jparams,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result().len(), 1, "{}", r.text);
    let j = &r.result()[0];
    assert_eq!(j["value"], "No backout plan");
    assert_eq!(j["sys_created_by"], "alice.moreno");
    assert_eq!(j["name"], "sysapproval_approver");
    assert_eq!(j["element"], "comments");
    assert_eq!(j["element_id"], id2.as_str());
    let jsid = j["sys_id"].as_str().unwrap().to_string();
    // Stamped by the sim's clock, which runs on in real time: between its anchor and now.
    let stamped = j["sys_created_on"].as_str().unwrap_or_default();
    let anchor = fixed_now().format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(
        anchor.as_str() <= stamped && stamped <= s.now().as_str(),
        "{stamped}"
    );
    // newest first on the first approval (two comments)
    let q1 = format!("element_id={id}^element=comments^ORDERBYDESCsys_created_on");
    let r = get(
        &s,
        "admin",
        "/api/now/table/sys_journal_field",
        &[("sysparm_query", q1.as_str())],
    )
    .await;
    let vals: Vec<&str> = r
        .result()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(vals.len(), 2);
    let j = s.journal("sysapproval_approver", &id, "comments");
    assert_eq!(j.len(), 2);
    assert_eq!(j[0].1, "alice.moreno");
    assert_eq!(j[0].2, "Fine by me");
    assert_eq!(j[1].2, "FYI");
    assert!(j[0].0 <= j[1].0);
    // the approval history entry on the change is journaled too
    let r = get(
        &s,
        "admin",
        "/api/now/table/sys_journal_field",
        &[(
            "sysparm_query",
            format!("element_id={chg2}^element=approval_history").as_str(),
        )],
    )
    .await;
    assert_eq!(r.result().len(), 1, "{}", r.text);
    assert_eq!(r.result()[0]["name"], "change_request");
    // approver-only users see nothing; nobody writes
    let r = get(
        &s,
        "ben.ishikawa",
        "/api/now/table/sys_journal_field",
        &jparams,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.result().is_empty());
    let r = patch(
        &s,
        "admin",
        &format!("/api/now/table/sys_journal_field/{jsid}"),
        &[],
        r#"{"value":"x"}"#,
    )
    .await;
    assert_envelope(&r, 403, "Operation Failed");
    let r = get(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/sys_journal_field/{jsid}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
    let r = send(
        client()
            .post(url(&s, "/api/now/table/sys_journal_field", &[]))
            .basic_auth("admin", Some("demo"))
            .body(r#"{"value":"x"}"#),
    )
    .await;
    assert_envelope(&r, 403, "Operation Failed");
    s.shutdown().await;
}

/// Approval sys_ids of a change in one state.
fn approvals_in(s: &SimServer, chg: &str, state: &str) -> BTreeSet<String> {
    s.query_ids(
        "sysapproval_approver",
        &format!("sysapproval={chg}^state={state}"),
    )
    .unwrap()
    .into_iter()
    .collect()
}

fn approvers_of(s: &SimServer, ids: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = ids
        .iter()
        .map(|i| s.record("sysapproval_approver", i).unwrap()["approver"].clone())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn hold_and_release() {
    let s = start(config(60)).await;
    let chg = s
        .query_ids(
            "change_request",
            "stateIN-4,-3^on_hold=false^approval=requested",
        )
        .unwrap()
        .into_iter()
        .find(|c| !approvals_in(&s, c, "requested").is_empty())
        .expect("a change with pending approvals");
    let path = format!("/api/now/table/change_request/{chg}");
    let pending = approvals_in(&s, &chg, "requested");
    let already_nr = approvals_in(&s, &chg, "not_required");

    // hold without a reason: 400, nothing written
    let before = s.record("change_request", &chg).unwrap();
    for body in [
        r#"{"on_hold":"true"}"#,
        r#"{"on_hold":true,"on_hold_reason":"  "}"#,
    ] {
        let r = patch(&s, "carla.diaz", &path, &[], body).await;
        assert_envelope(&r, 400, "On hold reason is required");
    }
    assert_eq!(s.record("change_request", &chg).unwrap(), before);
    assert_eq!(approvals_in(&s, &chg, "requested"), pending);
    // only itil/admin may write changes
    let r = patch(
        &s,
        "ben.ishikawa",
        &path,
        &[],
        r#"{"on_hold":"true","on_hold_reason":"x"}"#,
    )
    .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.text);

    // releasing a change that is not on hold
    let r = patch(&s, "carla.diaz", &path, &[], r#"{"on_hold":"false"}"#).await;
    assert_envelope(&r, 400, "Change is not on hold");

    // hold with reason and a work note
    let r = patch(
        &s,
        "carla.diaz",
        &path,
        &[("sysparm_fields", "on_hold,on_hold_reason")],
        r#"{"on_hold":"true","on_hold_reason":"Waiting for vendor","work_notes":"Vendor patch late"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["on_hold"], "true");
    assert_eq!(r.body["result"]["on_hold_reason"], "Waiting for vendor");
    assert!(approvals_in(&s, &chg, "requested").is_empty());
    let nr = approvals_in(&s, &chg, "not_required");
    assert!(pending.is_subset(&nr));
    let notes = s.journal("change_request", &chg, "work_notes");
    assert_eq!(notes.last().unwrap().1, "carla.diaz");
    assert_eq!(notes.last().unwrap().2, "Vendor patch late");
    let r = patch(
        &s,
        "carla.diaz",
        &path,
        &[],
        r#"{"on_hold":"true","on_hold_reason":"again"}"#,
    )
    .await;
    assert_envelope(&r, 400, "Change is already on hold");

    // release, new rows on (default)
    s.advance_clock(std::time::Duration::from_secs(60));
    let before = s.now();
    let r = patch(&s, "carla.diaz", &path, &[], r#"{"on_hold":"false"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(approvals_in(&s, &chg, "not_required"), nr);
    let fresh = approvals_in(&s, &chg, "requested");
    assert_eq!(fresh.len(), pending.len());
    assert!(fresh.is_disjoint(&pending));
    assert_eq!(approvers_of(&s, &fresh), approvers_of(&s, &pending));
    let now = s.now();
    for id in &fresh {
        let rec = s.record("sysapproval_approver", id).unwrap();
        let stamped = rec["sys_created_on"].as_str();
        assert!(
            before.as_str() <= stamped && stamped <= now.as_str(),
            "{stamped}"
        );
        assert_eq!(rec["document_id"], chg.as_str());
        assert_eq!(rec["source_table"], "change_request");
    }
    let c = s.record("change_request", &chg).unwrap();
    assert_eq!(c["on_hold"], "false");
    assert_eq!(c["approval"], "requested");
    // the reinstated rows are decidable over HTTP by their approver
    let one = fresh.iter().next().unwrap().clone();
    let who = login_of(
        &s,
        &s.record("sysapproval_approver", &one).unwrap()["approver"],
    );
    let r = patch(
        &s,
        &who,
        &format!("/api/now/table/sysapproval_approver/{one}"),
        &[],
        r#"{"comments":"seen"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // hold again (reason already on the record), then release with the switch off
    let r = patch(&s, "admin", &path, &[], r#"{"on_hold":"true"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(approvals_in(&s, &chg, "requested").is_empty());
    s.set_release_creates_new_rows(false);
    let r = patch(&s, "admin", &path, &[], r#"{"on_hold":"false"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(approvals_in(&s, &chg, "requested"), fresh);
    let nr2 = approvals_in(&s, &chg, "not_required");
    assert_eq!(nr2, nr, "earlier rows stay not_required");
    assert!(already_nr.is_subset(&nr2));
    assert_eq!(
        s.record("change_request", &chg).unwrap()["approval"],
        "requested"
    );

    // closed, canceled and new changes cannot be held
    for (state, label) in [("3", "Closed"), ("4", "Canceled"), ("-5", "New")] {
        let Some(c) = s
            .query_ids("change_request", &format!("state={state}^on_hold=false"))
            .unwrap()
            .into_iter()
            .next()
        else {
            continue;
        };
        let before = s.record("change_request", &c).unwrap();
        let r = patch(
            &s,
            "carla.diaz",
            &format!("/api/now/table/change_request/{c}"),
            &[],
            r#"{"on_hold":"true","on_hold_reason":"Waiting"}"#,
        )
        .await;
        assert_envelope(
            &r,
            400,
            &format!("A change in state {label} cannot be put on hold"),
        );
        assert_eq!(s.record("change_request", &c).unwrap(), before);
    }
    assert!(
        !s.query_ids("change_request", "state=3").unwrap().is_empty(),
        "seed has closed changes"
    );
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Delegation (servicenow-api.md §6, §3.4)
// ---------------------------------------------------------------------------------------------

const DEL: &str = "/api/now/table/sys_user_delegate";

async fn post(s: &SimServer, user: &str, path: &str, body: &Value) -> Resp {
    send(
        client()
            .post(url(s, path, &[]))
            .basic_auth(user, Some(sim::DEMO_PASSWORD))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn delete(s: &SimServer, user: &str, path: &str) -> Resp {
    send(
        client()
            .delete(url(s, path, &[]))
            .basic_auth(user, Some(sim::DEMO_PASSWORD)),
    )
    .await
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `delegate=<me>^approvals=true^starts<=now^ends>=now` (§6.3) as `user`, returning the
/// delegators' sys_ids.
async fn active_delegators(s: &SimServer, user: &str, now: &str) -> Vec<String> {
    let me = user_id(s, user);
    let q = format!("delegate={me}^approvals=true^starts<={now}^ends>={now}");
    let r = get(
        s,
        user,
        DEL,
        &[
            ("sysparm_query", q.as_str()),
            (
                "sysparm_fields",
                "sys_id,user,delegate,starts,ends,approvals,assignments,notifications,invitations",
            ),
            ("sysparm_exclude_reference_link", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.result()
        .iter()
        .map(|v| v["user"].as_str().unwrap().to_string())
        .collect()
}

fn requested_of(s: &SimServer, login: &str) -> Vec<String> {
    let id = user_id(s, login);
    s.query_ids(
        "sysapproval_approver",
        &format!("approver={id}^state=requested"),
    )
    .unwrap()
}

#[tokio::test]
async fn delegation_seed_and_queries() {
    let s = start(config(300)).await;
    let now = s.now();
    assert_eq!(ts(s.server_now()), now);
    let (alice, ben, carla) = (
        user_id(&s, "alice.moreno"),
        user_id(&s, "ben.ishikawa"),
        user_id(&s, "carla.diaz"),
    );
    // exactly carla's delegation is active for alice; the javascript form agrees
    assert_eq!(
        active_delegators(&s, "alice.moreno", &now).await,
        vec![carla.clone()]
    );
    assert_eq!(
        active_delegators(&s, "alice.moreno", "javascript:gs.nowDateTime()").await,
        vec![carla.clone()]
    );
    // ben: dev's delegation is active but without approvals, alice's is upcoming
    assert!(active_delegators(&s, "ben.ishikawa", &now).await.is_empty());
    let to_ben = rows(
        &s,
        "sys_user_delegate",
        &format!("delegate={ben}"),
        "user,approvals,starts",
    )
    .await;
    assert_eq!(to_ben.len(), 2);
    // all of alice's, with windows relative to the anchor
    let r = get(
        &s,
        "alice.moreno",
        DEL,
        &[
            ("sysparm_query", &format!("delegate={alice}^ORDERBYstarts")),
            ("sysparm_display_value", "all"),
            ("sysparm_exclude_reference_link", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.total(), 3);
    let got: Vec<(String, String, String)> = r
        .result()
        .iter()
        .map(|v| {
            (
                v["user"]["display_value"].as_str().unwrap().to_string(),
                v["starts"]["value"].as_str().unwrap().to_string(),
                v["ends"]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let d = |days: i64| ts(fixed_now() + chrono::Duration::days(days));
    assert_eq!(
        got,
        vec![
            ("Dev Patel".to_string(), d(-8), d(-1)),
            ("Carla Diaz".to_string(), d(-2), d(5)),
            ("Emma Lindqvist".to_string(), d(3), d(10)),
        ]
    );
    for v in r.result() {
        assert_eq!(v["approvals"]["value"], "true");
        assert_eq!(v["delegate"]["display_value"], "Alice Moreno");
        assert_eq!(v["sys_mod_count"]["value"], "0");
    }
    // paging works on the table too
    let r = get(&s, "ben.ishikawa", DEL, &[("sysparm_limit", "2")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result().len(), 2);
    assert_eq!(r.total(), 5);
    assert!(r.next_link().is_some());
    // carla has pending approvals for alice to act on in the demo
    assert!(requested_of(&s, "carla.diaz").len() >= 3);
    // deterministic
    let s2 = start(config(300)).await;
    assert_eq!(
        s.query_ids("sys_user_delegate", "").unwrap(),
        s2.query_ids("sys_user_delegate", "").unwrap()
    );
    s2.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn delegation_crud_and_validation() {
    let s = start(config(20)).await;
    let (alice, ben, carla) = (
        user_id(&s, "alice.moreno"),
        user_id(&s, "ben.ishikawa"),
        user_id(&s, "carla.diaz"),
    );
    let ends = ts(fixed_now() + chrono::Duration::days(7));
    let count = || s.query_ids("sys_user_delegate", "").unwrap().len();
    let before = count();

    // create by the delegator: 201 + Location, defaults
    let r = post(
        &s,
        "carla.diaz",
        DEL,
        &json!({"user": carla, "delegate": ben, "ends": ends}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["result"]["sys_id"].as_str().unwrap().to_string();
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.ends_with(&format!("{DEL}/{id}")));
    let rec = &r.body["result"];
    assert_eq!(rec["approvals"], "true");
    for f in ["assignments", "notifications", "invitations"] {
        assert_eq!(rec[f], "false", "{f}");
    }
    assert!(!rec["starts"].as_str().unwrap().is_empty());
    assert!(rec["starts"].as_str().unwrap() <= s.now().as_str());
    assert_eq!(rec["ends"], ends.as_str());
    assert_eq!(rec["user"]["value"], carla.as_str());
    assert_eq!(rec["sys_created_by"], "carla.diaz");
    assert_eq!(count(), before + 1);
    let g = send(client().get(&loc).basic_auth("ben.ishikawa", Some("demo"))).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["result"]["delegate"]["value"], ben.as_str());

    // update by the delegator
    let later = ts(fixed_now() + chrono::Duration::days(9));
    let r = patch(
        &s,
        "carla.diaz",
        &format!("{DEL}/{id}"),
        &[],
        &json!({"approvals": false, "notifications": "true", "ends": later}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["approvals"], "false");
    assert_eq!(r.body["result"]["notifications"], "true");
    assert_eq!(r.body["result"]["ends"], later.as_str());
    assert_eq!(r.body["result"]["sys_mod_count"], "1");
    assert_eq!(r.body["result"]["sys_updated_by"], "carla.diaz");

    // others may not touch it: the delegate, an itil user, and carla moving it to someone else
    for who in ["ben.ishikawa", "alice.moreno"] {
        let r = patch(
            &s,
            who,
            &format!("{DEL}/{id}"),
            &[],
            r#"{"approvals":"true"}"#,
        )
        .await;
        assert_envelope(&r, 403, "Operation Failed");
        assert_eq!(
            r.body["error"]["detail"],
            "ACL Exception Update Failed due to security constraints"
        );
    }
    let r = patch(
        &s,
        "carla.diaz",
        &format!("{DEL}/{id}"),
        &[],
        &json!({"user": alice}).to_string(),
    )
    .await;
    assert_envelope(&r, 403, "Operation Failed");

    // invalid updates: 400, nothing written
    for body in [
        json!({"ends": "2020-01-01 00:00:00"}),
        json!({"delegate": carla}),
        json!({"ends": ""}),
        json!({"ends": "next tuesday"}),
    ] {
        let r = patch(
            &s,
            "carla.diaz",
            &format!("{DEL}/{id}"),
            &[],
            &body.to_string(),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["status"], "failure");
    }
    assert_eq!(s.record("sys_user_delegate", &id).unwrap()["ends"], later);
    assert_eq!(
        s.record("sys_user_delegate", &id).unwrap()["sys_mod_count"],
        "1"
    );

    // delete: not by the delegate; by the delegator 204 without a body
    let r = delete(&s, "ben.ishikawa", &format!("{DEL}/{id}")).await;
    assert_envelope(&r, 403, "Operation Failed");
    let r = delete(&s, "carla.diaz", &format!("{DEL}/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    assert_eq!(count(), before);
    let r = get(&s, "carla.diaz", &format!("{DEL}/{id}"), &[]).await;
    assert_envelope(&r, 404, "No Record found");
    let r = delete(&s, "carla.diaz", &format!("{DEL}/{id}")).await;
    assert_envelope(&r, 404, "No Record found");
    // the other rows are intact and still addressable after the delete
    for other in s.query_ids("sys_user_delegate", "").unwrap() {
        let r = get(&s, "admin", &format!("{DEL}/{other}"), &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["result"]["sys_id"], other.as_str());
    }
    // other tables cannot be deleted
    let chg = s.query_ids("change_request", "").unwrap()[0].clone();
    let r = delete(&s, "admin", &format!("/api/now/table/change_request/{chg}")).await;
    assert_eq!(r.status, 403);

    // creating for someone else: 403 (admin may)
    let r = post(
        &s,
        "alice.moreno",
        DEL,
        &json!({"user": carla, "delegate": alice, "ends": ends}),
    )
    .await;
    assert_envelope(&r, 403, "Operation Failed");
    assert_eq!(
        r.body["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );
    assert_eq!(count(), before);
    let r = post(
        &s,
        "admin",
        DEL,
        &json!({"user": carla, "delegate": alice, "ends": ends, "approvals": "false"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["result"]["approvals"], "false");
    let admin_id = r.body["result"]["sys_id"].as_str().unwrap().to_string();
    assert_eq!(count(), before + 1);

    // validation: 400 with a message, nothing created
    let past = ts(fixed_now() - chrono::Duration::days(1));
    let cases = [
        (
            json!({"user": carla, "delegate": carla, "ends": ends}),
            "own delegate",
        ),
        (
            json!({"user": carla, "delegate": ben, "starts": ends, "ends": past}),
            "before starts",
        ),
        (json!({"user": carla, "delegate": ben}), "ends"),
        (json!({"user": carla, "ends": ends}), "delegate"),
        (json!({"delegate": ben, "ends": ends}), "user"),
        (
            json!({"user": carla, "delegate": "0123456789abcdef0123456789abcdef", "ends": ends}),
            "Invalid reference for delegate",
        ),
    ];
    for (body, needle) in cases {
        let r = post(&s, "carla.diaz", DEL, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.body["status"], "failure");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg} / {needle}");
    }
    assert_eq!(count(), before + 1);
    // overlaps are accepted
    let r = post(
        &s,
        "carla.diaz",
        DEL,
        &json!({"user": carla, "delegate": alice, "starts": ts(fixed_now()), "ends": ends}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_ne!(r.body["result"]["sys_id"], admin_id.as_str());
    s.shutdown().await;
}

#[tokio::test]
async fn delegates_decide_approvals() {
    let s = start(config(300)).await;
    let approve = r#"{"state":"approved","comments":"Approved on behalf"}"#;
    let path = |id: &str| format!("/api/now/table/sysapproval_approver/{id}");

    // alice is carla's active delegate: 200, journal author alice
    let carla_rows = requested_of(&s, "carla.diaz");
    assert!(carla_rows.len() >= 3);
    let r = patch(&s, "alice.moreno", &path(&carla_rows[0]), &[], approve).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["state"], "approved");
    assert_eq!(r.body["result"]["sys_updated_by"], "alice.moreno");
    assert_eq!(
        r.body["result"]["approver"]["value"],
        user_id(&s, "carla.diaz").as_str()
    );
    let j = s.journal("sysapproval_approver", &carla_rows[0], "comments");
    let last = j.last().unwrap();
    assert_eq!(last.1, "alice.moreno");
    assert_eq!(last.2, "Approved on behalf");

    // expired (dev) and upcoming (emma) delegations do not count
    for login in ["dev.patel", "emma.lindqvist"] {
        let ids = requested_of(&s, login);
        assert!(!ids.is_empty(), "{login}");
        let r = patch(&s, "alice.moreno", &path(&ids[0]), &[], approve).await;
        assert_envelope(&r, 403, "Operation Failed");
        assert_eq!(
            s.record("sysapproval_approver", &ids[0]).unwrap()["state"],
            "requested"
        );
    }

    // a delegation without approvals does not count either (itil delegate, so the row is readable)
    let now = s.server_now();
    let emma_ids = requested_of(&s, "emma.lindqvist");
    let d = s.add_delegation(
        "emma.lindqvist",
        "carla.diaz",
        now - chrono::Duration::hours(1),
        now + chrono::Duration::days(1),
        false,
    );
    assert_eq!(d.len(), 32);
    let r = patch(&s, "carla.diaz", &path(&emma_ids[0]), &[], approve).await;
    assert_envelope(&r, 403, "Operation Failed");
    // ... and approver_user ben cannot even see dev's rows (dev → ben has approvals=false)
    let dev_ids = requested_of(&s, "dev.patel");
    let r = patch(&s, "ben.ishikawa", &path(&dev_ids[0]), &[], approve).await;
    assert_envelope(&r, 404, "No Record found");

    // an unrelated itil user
    let r = patch(&s, "tom.becker", &path(&carla_rows[1]), &[], approve).await;
    assert_envelope(&r, 403, "Operation Failed");
    assert_eq!(
        r.body["error"]["detail"],
        "ACL Exception Update Failed due to security constraints"
    );

    // once carla ends the delegation, alice can no longer act for her
    let carla_del = s
        .query_ids(
            "sys_user_delegate",
            &format!(
                "user={}^delegate={}",
                user_id(&s, "carla.diaz"),
                user_id(&s, "alice.moreno")
            ),
        )
        .unwrap();
    assert_eq!(carla_del.len(), 1);
    assert!(s.end_delegation(&carla_del[0], now - chrono::Duration::minutes(1)));
    assert!(!s.end_delegation("nope", now));
    let r = patch(&s, "alice.moreno", &path(&carla_rows[1]), &[], approve).await;
    assert_envelope(&r, 403, "Operation Failed");
    assert!(
        active_delegators(&s, "alice.moreno", &s.now())
            .await
            .is_empty()
    );
    s.shutdown().await;
}

#[tokio::test]
async fn approver_user_delegate_reads_delegator_rows() {
    let s = start(config(120)).await;
    let carla = user_id(&s, "carla.diaz");
    let carla_ids = s
        .query_ids("sysapproval_approver", &format!("approver={carla}"))
        .unwrap();
    assert!(!carla_ids.is_empty());
    let q = format!("approver={carla}");
    let fields = [
        ("sysparm_query", q.as_str()),
        ("sysparm_fields", "sys_id,approver"),
    ];
    let ben_list = || {
        get(
            &s,
            "ben.ishikawa",
            "/api/now/table/sysapproval_approver",
            &fields,
        )
    };
    // not delegated: hidden
    let r = ben_list().await;
    assert_eq!(r.status, 200);
    assert!(r.result().is_empty());
    let r = get(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/sysapproval_approver/{}", carla_ids[0]),
        &[],
    )
    .await;
    assert_envelope(&r, 404, "No Record found");

    // actively delegated: visible, and ben may decide
    let now = s.server_now();
    let d = s.add_delegation(
        "carla.diaz",
        "ben.ishikawa",
        now - chrono::Duration::hours(2),
        now + chrono::Duration::days(2),
        true,
    );
    assert!(!d.is_empty());
    assert_eq!(
        s.record("sys_user_delegate", &d).unwrap()["sys_created_by"],
        "carla.diaz"
    );
    let r = ben_list().await;
    let got: HashSet<String> = r
        .result()
        .iter()
        .map(|v| v["sys_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, carla_ids.iter().cloned().collect::<HashSet<_>>());
    let r = get(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/sysapproval_approver/{}", carla_ids[0]),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let pending = requested_of(&s, "carla.diaz");
    let r = patch(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/sysapproval_approver/{}", pending[0]),
        &[],
        r#"{"state":"approved","comments":"for Carla"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.journal("sysapproval_approver", &pending[0], "comments")
            .last()
            .unwrap()
            .1,
        "ben.ishikawa"
    );
    // ben's view still holds only his own and carla's rows
    let all = get(
        &s,
        "ben.ishikawa",
        "/api/now/table/sysapproval_approver",
        &[
            ("sysparm_fields", "approver"),
            ("sysparm_exclude_reference_link", "true"),
            ("sysparm_limit", "10000"),
        ],
    )
    .await;
    let ben = user_id(&s, "ben.ishikawa");
    assert!(
        all.result()
            .iter()
            .all(|v| v["approver"] == carla.as_str() || v["approver"] == ben.as_str())
    );

    // ended: hidden again
    assert!(s.end_delegation(&d, now - chrono::Duration::minutes(5)));
    assert!(ben_list().await.result().is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn sys_user_search() {
    let s = start(config(10)).await;
    let names = |r: &Resp| -> Vec<String> {
        r.result()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = get(
        &s,
        "ben.ishikawa",
        "/api/now/table/sys_user",
        &[
            ("sysparm_query", "active=true^nameLIKEali^ORDERBYname"),
            ("sysparm_fields", "sys_id,name,user_name"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let n = names(&r);
    assert!(n.contains(&"Alice Moreno".to_string()), "{n:?}");
    assert!(n.iter().all(|x| x.to_lowercase().contains("ali")));
    let mut sorted = n.clone();
    sorted.sort();
    assert_eq!(n, sorted);
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sys_user",
        &[
            ("sysparm_query", "user_nameSTARTSWITHal^active=true"),
            ("sysparm_fields", "user_name"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let logins: Vec<&str> = r
        .result()
        .iter()
        .map(|v| v["user_name"].as_str().unwrap())
        .collect();
    assert_eq!(logins, vec!["alice.moreno"]);
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sys_user",
        &[
            ("sysparm_query", "active=true^ORDERBYname"),
            ("sysparm_fields", "name"),
        ],
    )
    .await;
    let n = names(&r);
    assert_eq!(n.len(), s.users().len());
    let mut sorted = n.clone();
    sorted.sort();
    assert_eq!(n, sorted);
    let r = get(
        &s,
        "alice.moreno",
        "/api/now/table/sys_user",
        &[("sysparm_query", "active=false")],
    )
    .await;
    assert!(r.result().is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn queries_pinning_sys_ids_answer_as_a_scan_does() {
    let s = start(config(120)).await;
    let all = rows(&s, "sysapproval_approver", "ORDERBYsys_id", "sys_id,state").await;
    let ids: Vec<&str> = all.iter().map(|r| r["sys_id"].as_str().unwrap()).collect();
    assert!(ids.len() > 40);
    let some = format!(
        "{},{},{},0000000000000000000000000000dead,{}",
        ids[3], ids[17], ids[3], ids[40]
    );
    let fields = "sys_id,state,sys_created_on";
    // Each pinned query, and the same rows asked for so that every row must be looked at (a
    // clause of two conditions pins nothing).
    for (pinned, scanned) in [
        (
            format!("sys_idIN{some}"),
            format!("sys_idIN{some}^ORsys_id=none"),
        ),
        (
            format!("sys_idIN{some}^state=requested^ORDERBYDESCsys_created_on"),
            format!("sys_idIN{some}^ORsys_id=none^state=requested^ORDERBYDESCsys_created_on"),
        ),
        (
            format!("sys_id={}^NQsys_idIN{},{}", ids[5], ids[9], ids[5]),
            format!(
                "sys_id={}^ORsys_id=none^NQsys_idIN{},{}^ORsys_id=none",
                ids[5], ids[9], ids[5]
            ),
        ),
    ] {
        let a = rows(&s, "sysapproval_approver", &pinned, fields).await;
        let b = rows(&s, "sysapproval_approver", &scanned, fields).await;
        assert!(!a.is_empty(), "{pinned}");
        assert_eq!(a, b, "{pinned}");
    }
    let three = rows(
        &s,
        "sysapproval_approver",
        &format!("sys_idIN{some}"),
        "sys_id",
    )
    .await;
    assert_eq!(
        three.len(),
        3,
        "each existing row once, the unknown id matches nothing"
    );
}

/// Paging as documented: without sysparm_limit up to 10,000 rows; any limit is honoured, so
/// `sysparm_offset += sysparm_limit` and the `Link` header both reach every row; a cap only
/// when the sim is started with one.
#[tokio::test]
async fn paging_as_documented_and_a_cap_only_when_asked() {
    let s = start(config(400)).await;
    let path = "/api/now/table/sysapproval_approver";
    let all = get(&s, "admin", path, &[("sysparm_fields", "sys_id")]).await;
    assert_eq!(all.status, 200, "{}", all.text);
    let total = all.total();
    assert!(total > 250, "{total}");
    assert_eq!(
        all.result().len(),
        total,
        "no limit: every row (up to 10,000)"
    );
    // The documented recipe with an odd limit.
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0;
    while offset < total {
        let (l, o) = ("37".to_string(), offset.to_string());
        let page = get(
            &s,
            "admin",
            path,
            &[
                ("sysparm_fields", "sys_id"),
                ("sysparm_limit", &l),
                ("sysparm_offset", &o),
                ("sysparm_query", "ORDERBYsys_id"),
            ],
        )
        .await;
        assert_eq!(page.result().len(), 37.min(total - offset));
        seen.extend(page.result().iter().map(|r| r["sys_id"].to_string()));
        offset += 37;
    }
    assert_eq!(seen.len(), total, "offset += limit reaches every row");
    // A big limit is honoured too (no hidden cap of 100).
    let big = get(
        &s,
        "admin",
        path,
        &[("sysparm_fields", "sys_id"), ("sysparm_limit", "250")],
    )
    .await;
    assert_eq!(big.result().len(), 250);
    s.shutdown().await;

    // Started with a cap: pages hold at most that, and the Link header says where next.
    let capped = start(SimConfig {
        page_cap: 40,
        ..config(400)
    })
    .await;
    let first = get(
        &capped,
        "admin",
        path,
        &[("sysparm_fields", "sys_id"), ("sysparm_limit", "250")],
    )
    .await;
    assert_eq!(first.result().len(), 40);
    let next = first.next_link().expect("a next link");
    assert!(
        next.contains("sysparm_limit=40") && next.contains("sysparm_offset=40"),
        "{next}"
    );
    capped.shutdown().await;
}

/// A 401 names the challenge (`WWW-Authenticate: Basic realm=...`); a write sent with
/// `X-no-response-body: true` is applied and answered without a body.
#[tokio::test]
async fn unauthorized_names_the_challenge_and_writes_can_skip_the_body() {
    let s = start(config(40)).await;
    let r = send(client().get(url(&s, "/api/now/table/sys_user", &[]))).await;
    assert_envelope(&r, 401, "User Not Authenticated");
    let challenge = r.header("www-authenticate").unwrap_or_default().to_string();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let approval = rows(&s, "sysapproval_approver", "state=requested", "sys_id").await[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/now/table/sysapproval_approver/{approval}");
    let quiet = send(
        client()
            .patch(url(&s, &path, &[]))
            .basic_auth("admin", Some(sim::DEMO_PASSWORD))
            .header("Content-Type", "application/json")
            .header("X-no-response-body", "true")
            .body(r#"{"comments":"applied quietly"}"#),
    )
    .await;
    assert!((200..300).contains(&quiet.status), "{}", quiet.status);
    assert!(quiet.text.is_empty(), "{}", quiet.text);
    let notes = s.journal("sysapproval_approver", &approval, "comments");
    assert_eq!(notes.last().unwrap().2, "applied quietly");
    // Without the header the answer carries the record, as before.
    let loud = patch(&s, "admin", &path, &[], r#"{"comments":"and loudly"}"#).await;
    assert_eq!(loud.status, 200);
    assert_eq!(loud.body["result"]["sys_id"], approval.as_str());
}

/// Every row of `table` (as admin) without reference links, which name the sim's port.
async fn all_rows(s: &SimServer, table: &str) -> Vec<Value> {
    let r = get(
        s,
        "admin",
        &format!("/api/now/table/{table}"),
        &[
            ("sysparm_query", "ORDERBYsys_id"),
            ("sysparm_exclude_reference_link", "true"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.result().clone()
}

/// `--data FILE`: every table's records, the journals and a write made over HTTP come back
/// after a restart; a file that is not a snapshot is refused with a sentence, not reseeded.
#[tokio::test]
async fn a_sim_on_a_data_file_keeps_its_records_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("instance.json");
    let cfg = SimConfig {
        data_file: Some(file.clone()),
        ..config(60)
    };
    let s = start(cfg.clone()).await;
    assert!(file.exists(), "written at start");
    let approval = rows(&s, "sysapproval_approver", "state=requested", "sys_id").await[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/now/table/sysapproval_approver/{approval}");
    let r = patch(
        &s,
        "admin",
        &path,
        &[],
        r#"{"comments":"kept across restarts"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tables = [
        "sys_user",
        "change_request",
        "sysapproval_approver",
        "sys_user_delegate",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(all_rows(&s, t).await);
    }
    let journal = s.journal("sysapproval_approver", &approval, "comments");
    s.shutdown().await;

    // Another seed would generate other data: the file wins.
    let again = start(SimConfig {
        seed: 4242,
        ..cfg.clone()
    })
    .await;
    for (t, want) in tables.iter().zip(&before) {
        assert_eq!(&all_rows(&again, t).await, want, "{t}");
    }
    assert_eq!(
        again.journal("sysapproval_approver", &approval, "comments"),
        journal
    );
    assert!(journal.iter().any(|j| j.2 == "kept across restarts"));
    again.shutdown().await;

    // Unless the file must be of this seed (the demo): another seed starts over.
    let other = start(SimConfig {
        seed: 4242,
        data_of_this_seed_only: true,
        ..cfg.clone()
    })
    .await;
    assert_ne!(&all_rows(&other, "sys_user").await, &before[0]);
    other.shutdown().await;

    std::fs::write(&file, b"not a snapshot").unwrap();
    let err = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a snapshot"), "{err}");
}

/// `glide.invalid_query.returns_no_rows`: an invalid part makes the query match nothing; the
/// strict switch answers 400 instead.
#[tokio::test]
async fn invalid_query_parts_match_nothing_or_are_refused_when_switched() {
    for (mode, status) in [(InvalidQuery::NoRows, 200), (InvalidQuery::Reject, 400)] {
        let s = start(SimConfig {
            invalid_query: mode,
            ..config(40)
        })
        .await;
        for bad in ["stateFOO requested", "risk=2^impactZZ3"] {
            let r = get(
                &s,
                "admin",
                "/api/now/table/change_request",
                &[("sysparm_query", bad)],
            )
            .await;
            if status == 400 {
                assert_envelope(&r, 400, "Invalid query");
            } else {
                assert_eq!(r.status, 200, "{}", r.text);
                assert!(r.result().is_empty(), "{bad}: {}", r.text);
            }
        }
        // A valid query is unaffected.
        assert!(
            !rows(&s, "change_request", "risk=2", "sys_id")
                .await
                .is_empty()
        );
        s.shutdown().await;
    }
}

/// Version 1 of the Table API answers an empty list with 404; v2 and the unversioned path
/// with an empty result.
#[tokio::test]
async fn an_empty_list_is_a_404_on_v1_only() {
    let s = start(config(40)).await;
    let nothing = [("sysparm_query", "number=CHG_NO_SUCH")];
    let r = get(&s, "admin", "/api/now/v1/table/change_request", &nothing).await;
    assert_envelope(&r, 404, "No Record found");
    for path in [
        "/api/now/v2/table/change_request",
        "/api/now/table/change_request",
    ] {
        let r = get(&s, "admin", path, &nothing).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(r.result().is_empty());
    }
    // A v1 list that matches answers as usual.
    let r = get(
        &s,
        "admin",
        "/api/now/v1/table/change_request",
        &[("sysparm_limit", "3")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result().len(), 3);
    s.shutdown().await;
}

/// What generic clients probe: a small incident table, and the schema of every table served
/// in sys_db_object, sys_dictionary and sys_choice.
#[tokio::test]
async fn incident_and_the_schema_tables_are_served() {
    let s = start(config(40)).await;
    let incidents = rows(&s, "incident", "ORDERBYnumber", "number,state,caller_id").await;
    assert!(incidents.len() >= 10, "{}", incidents.len());
    assert!(incidents[0]["number"].as_str().unwrap().starts_with("INC"));
    let tables: Vec<String> = rows(&s, "sys_db_object", "", "name")
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for t in [
        "change_request",
        "sysapproval_approver",
        "sys_user",
        "incident",
        "sys_choice",
    ] {
        assert!(tables.iter().any(|n| n == t), "{t} in {tables:?}");
    }
    let approver = rows(
        &s,
        "sys_dictionary",
        "name=sysapproval_approver^element=approver",
        "internal_type,reference,column_label",
    )
    .await;
    assert_eq!(approver.len(), 1);
    assert_eq!(approver[0]["internal_type"], "reference");
    assert_eq!(approver[0]["reference"], "sys_user");
    let states: Vec<String> = rows(
        &s,
        "sys_choice",
        "name=sysapproval_approver^element=state^ORDERBYsequence",
        "value,label",
    )
    .await
    .iter()
    .map(|r| r["value"].as_str().unwrap().to_string())
    .collect();
    for v in ["requested", "approved", "rejected", "not_required"] {
        assert!(states.iter().any(|s| s == v), "{v} in {states:?}");
    }
    s.shutdown().await;
}

/// `task` is served as the parent of `change_request`: the `link` of an approval's
/// `sysapproval` resolves, a change read through `task` has the task fields and
/// `sys_class_name`, and a change-only field is not a task field.
#[tokio::test]
async fn the_link_of_sysapproval_resolves_through_task() {
    let s = start(config(40)).await;
    let r = get(
        &s,
        "admin",
        "/api/now/table/sysapproval_approver",
        &[("sysparm_fields", "sysapproval"), ("sysparm_limit", "1")],
    )
    .await;
    let link = r.result()[0]["sysapproval"]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.contains("/api/now/table/task/"), "{link}");
    let change = r.result()[0]["sysapproval"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let task = send(
        client()
            .get(url::Url::parse(&link).unwrap())
            .basic_auth("admin", Some(sim::DEMO_PASSWORD)),
    )
    .await;
    assert_eq!(task.status, 200, "{}", task.text);
    let rec = &task.body["result"];
    assert_eq!(rec["sys_id"], change.as_str());
    assert_eq!(rec["sys_class_name"], "change_request");
    assert!(rec["number"].as_str().unwrap().starts_with("CHG"));
    assert!(rec.get("short_description").is_some());
    for child_only in ["type", "risk", "backout_plan", "justification"] {
        assert!(
            rec.get(child_only).is_none(),
            "{child_only} is not on task: {rec}"
        );
    }
    // The same record through change_request has them.
    let full = get(
        &s,
        "admin",
        &format!("/api/now/table/change_request/{change}"),
        &[],
    )
    .await;
    assert!(full.body["result"].get("risk").is_some());
    // A list of task: conditions on change-only fields are unknown there, so ignored.
    let all = rows(&s, "task", "", "sys_id").await.len();
    assert_eq!(all, rows(&s, "change_request", "", "sys_id").await.len());
    assert_eq!(rows(&s, "task", "risk=2", "sys_id").await.len(), all);
    // A plain approver may not read change records, through task either.
    let ben = get(
        &s,
        "ben.ishikawa",
        &format!("/api/now/table/task/{change}"),
        &[],
    )
    .await;
    assert_eq!(ben.status, 403, "{}", ben.text);
    s.shutdown().await;
}

/// Date-time display values follow each user's zone; a user without one (admin) sees UTC.
#[tokio::test]
async fn date_time_display_values_are_in_the_users_zone() {
    let s = start(config(20)).await;
    let id = rows(&s, "change_request", "", "sys_id").await[0]["sys_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/now/table/change_request/{id}");
    let all = [
        ("sysparm_display_value", "all"),
        ("sysparm_fields", "sys_created_on"),
    ];
    let shift = |r: &Resp| {
        let f = &r.body["result"]["sys_created_on"];
        let at = |v: &Value| {
            chrono::NaiveDateTime::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d %H:%M:%S").unwrap()
        };
        (at(&f["display_value"]) - at(&f["value"])).num_minutes()
    };
    // Tokyo has no summer time; Mexico City none since 2022.
    for (user, want) in [("admin", vec![0]), ("alice.moreno", vec![60, 120])] {
        let r = get(&s, user, &path, &all).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(want.contains(&shift(&r)), "{user}: {}", r.text);
    }
    let zones: Vec<(String, String)> = rows(&s, "sys_user", "", "user_name,time_zone")
        .await
        .iter()
        .map(|u| {
            (
                u["user_name"].as_str().unwrap().to_string(),
                u["time_zone"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (user, zone, minutes) in [("Asia/Tokyo", 540), ("America/Mexico_City", -360)]
        .iter()
        .filter_map(|(z, m)| {
            zones
                .iter()
                .find(|(_, uz)| uz == z)
                .map(|(u, _)| (u.clone(), *z, *m))
        })
    {
        // Their own user record, which every user may read.
        let own = format!("/api/now/table/sys_user/{}", user_id(&s, &user));
        let r = get(&s, &user, &own, &all).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(shift(&r), minutes, "{user} in {zone}");
    }
    assert!(
        zones.iter().any(|(_, z)| z == "Asia/Tokyo"),
        "the seed has a user in Tokyo: {zones:?}"
    );
    s.shutdown().await;
}

/// name=value parameters take a value or a display value, as an instance does.
#[tokio::test]
async fn name_value_parameters_take_display_values() {
    let s = start(config(60)).await;
    let alice = user_id(&s, "alice.moreno");
    let path = "/api/now/table/sysapproval_approver";
    let count = |r: &Resp| r.result().len();
    let by_value = get(
        &s,
        "admin",
        path,
        &[("state", "requested"), ("approver", &alice)],
    )
    .await;
    assert!(count(&by_value) > 5, "{}", by_value.text);
    for (state, approver) in [
        ("Requested", alice.as_str()),
        ("requested", "Alice Moreno"),
        ("Requested", "Alice Moreno"),
    ] {
        let r = get(
            &s,
            "admin",
            path,
            &[("state", state), ("approver", approver)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            count(&r),
            count(&by_value),
            "state={state} approver={approver}"
        );
    }
    // A display value that names nothing matches nothing.
    let none = get(&s, "admin", path, &[("approver", "Nobody Here")]).await;
    assert_eq!(count(&none), 0);
    s.shutdown().await;
}

/// Every reference's `link` points at a URL the sim serves.
#[tokio::test]
async fn every_reference_link_is_served() {
    let s = start(config(40)).await;
    let tables: Vec<String> = rows(&s, "sys_db_object", "", "name")
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    let mut links = std::collections::BTreeMap::new();
    for t in &tables {
        let r = get(
            &s,
            "admin",
            &format!("/api/now/table/{t}"),
            &[("sysparm_limit", "25")],
        )
        .await;
        assert_eq!(r.status, 200, "{t}: {}", r.text);
        for row in r.result() {
            for (field, v) in row.as_object().unwrap() {
                if let Some(link) = v.get("link").and_then(Value::as_str) {
                    // One link per table and field is enough.
                    links
                        .entry((t.clone(), field.clone()))
                        .or_insert(link.to_string());
                }
            }
        }
    }
    assert!(links.len() > 15, "{links:?}");
    for ((t, field), link) in &links {
        let r = send(
            client()
                .get(url::Url::parse(link).unwrap())
                .basic_auth("admin", Some(sim::DEMO_PASSWORD)),
        )
        .await;
        assert_eq!(r.status, 200, "{t}.{field} links to {link}: {}", r.text);
    }
    s.shutdown().await;
}
