//! Conformance tests for the ServiceNow simulator, over real HTTP on 127.0.0.1:0 with a fixed
//! clock. They check the Table API behaviours listed in `servicenow-api.md` §8.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signoff::sim::{self, Fault, SimConfig, SimServer};

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
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
    let cut = "2026-11-27 10:00:00";
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

    // unknown field silently dropped; unknown operator is a 400
    let with_unknown = rows(&s, "change_request", "no_such_field=5^risk=2", "risk").await;
    assert_eq!(with_unknown.len(), r2.len());
    for bad in ["stateFOO requested", "state~~x", "risk=2^impactZZ3"] {
        let r = get(
            &s,
            "admin",
            "/api/now/table/change_request",
            &[("sysparm_query", bad)],
        )
        .await;
        assert_envelope(&r, 400, "Invalid query");
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
    assert_eq!(r["sys_created_on"], ts);

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
    assert_eq!(
        r["sys_created_on"],
        json!({"display_value": ts, "value": ts})
    );
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
    assert!(after["sys_updated_on"].as_str() >= "2026-11-25 10:00:00");

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
    assert!(c.starts_with("2026-11-25 10:00:"), "{c}");
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
    let s = start(SimConfig {
        rate_limit: Some(5),
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
    let now = Utc::now().timestamp();
    assert!(reset > now - 2 && reset <= now + 61, "{reset} vs {now}");
    // Per user: another user still passes.
    assert_eq!(get(&s, "admin", path, &[]).await.status, 200);
    // A short window resets.
    s.set_rate_limit(Some(1), std::time::Duration::from_millis(300));
    assert_eq!(get(&s, "alice.moreno", path, &[]).await.status, 200);
    let r = get(&s, "alice.moreno", path, &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
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
    let t = std::time::Instant::now();
    s.stop_accepting().await;
    assert!(!s.is_accepting());
    assert!(t.elapsed() < std::time::Duration::from_millis(900));
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
