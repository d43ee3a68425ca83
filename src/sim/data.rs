//! Deterministic demo data: users (§7.1), groups, CIs, change requests (§4) and their approval
//! rows (§3), generated from a seed with a private splitmix64 PRNG, so the same seed, size and
//! anchor time give byte-identical data (sys_ids included) on every platform.
//!
//! Approval request times are spread over each SLA tier of the console (`itsm-approvals-domain.md`
//! §2, §5: Emergency 1 h, Critical 4 h, High 8 h, Moderate 24 h, Low 72 h) so that on-track,
//! warning (≥ 75 % elapsed) and breached items exist in every tier, for the demo user too.

use super::SimUser;
use super::table::{Db, JournalEntry, fmt_date, fmt_ts, schema};

/// splitmix64: tiny, portable, good enough for demo data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The generator's state: `Rng::new(state)` goes on where this one is.
    pub fn state(&self) -> u64 {
        self.0
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform integer in [lo, hi] (hi < lo gives lo).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo + 1) as u64) as i64
        }
    }
    pub fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len() as u64) as usize]
    }
    /// 32 lowercase hex digits.
    pub fn sys_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// (user_name, first, last, roles, title, time zone)
const USERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "alice.moreno",
        "Alice",
        "Moreno",
        "itil,approver_user,sn_change_cab.cab_manager",
        "Change Manager",
        "Europe/Madrid",
    ),
    (
        "ben.ishikawa",
        "Ben",
        "Ishikawa",
        "approver_user",
        "Product Owner, Payments",
        "Asia/Tokyo",
    ),
    (
        "carla.diaz",
        "Carla",
        "Diaz",
        "itil,approver_user",
        "Database Team Lead",
        "America/Mexico_City",
    ),
    (
        "dev.patel",
        "Dev",
        "Patel",
        "itil,approver_user",
        "Network Architect",
        "Europe/London",
    ),
    (
        "emma.lindqvist",
        "Emma",
        "Lindqvist",
        "itil,approver_user",
        "Security Officer",
        "Europe/Stockholm",
    ),
    (
        "admin",
        "System",
        "Administrator",
        "admin",
        "System Administrator",
        "UTC",
    ),
    (
        "tom.becker",
        "Tom",
        "Becker",
        "itil",
        "Site Reliability Engineer",
        "Europe/Berlin",
    ),
    (
        "priya.nair",
        "Priya",
        "Nair",
        "itil",
        "Database Administrator",
        "Asia/Kolkata",
    ),
    (
        "lucas.martin",
        "Lucas",
        "Martin",
        "itil",
        "Network Engineer",
        "Europe/Paris",
    ),
    (
        "sofia.rossi",
        "Sofia",
        "Rossi",
        "itil",
        "Platform Engineer",
        "Europe/Rome",
    ),
    (
        "kwame.mensah",
        "Kwame",
        "Mensah",
        "itil",
        "Security Engineer",
        "Africa/Accra",
    ),
    (
        "hannah.schulz",
        "Hannah",
        "Schulz",
        "itil",
        "Storage Engineer",
        "Europe/Vienna",
    ),
    (
        "diego.fernandez",
        "Diego",
        "Fernandez",
        "itil",
        "Release Manager",
        "America/Bogota",
    ),
    (
        "mei.chen",
        "Mei",
        "Chen",
        "itil",
        "Systems Administrator",
        "Asia/Singapore",
    ),
];
const ALICE: usize = 0;
const BEN: usize = 1;
const CARLA: usize = 2;
const DEV: usize = 3;
const EMMA: usize = 4;
const REQUESTERS: std::ops::Range<usize> = 6..14;

/// (name, description, manager index)
const GROUPS: &[(&str, &str, usize)] = &[
    ("Network Operations", "WAN, LAN, edge routing and DNS", DEV),
    (
        "Database Administration",
        "PostgreSQL, Oracle and Redis estates",
        CARLA,
    ),
    (
        "Platform Engineering",
        "Kubernetes clusters, CI/CD and shared services",
        9,
    ),
    (
        "Security Operations",
        "Certificates, firewalls, vulnerability response",
        EMMA,
    ),
    ("Service Desk", "First-line support", 13),
    (
        "Change Advisory Board",
        "Weekly CAB for normal changes",
        ALICE,
    ),
    ("Emergency CAB", "On-call ECAB for emergency changes", DEV),
];
const CAB_GROUP: usize = 5;
const ECAB_GROUP: usize = 6;
const CAB_MEMBERS: &[usize] = &[ALICE, CARLA, DEV];
const ECAB_MEMBERS: &[usize] = &[BEN, DEV, EMMA];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cat {
    Db,
    Net,
    K8s,
    App,
    Storage,
    Host,
    Cache,
    Lb,
}

/// The business service a kind of configuration item serves.
fn service_of(cat: Cat) -> &'static str {
    match cat {
        Cat::Db => "Customer Data",
        Cat::Net | Cat::Lb => "Corporate Network",
        Cat::K8s => "Container Platform",
        Cat::App | Cat::Cache => "Online Store",
        Cat::Storage => "File Services",
        Cat::Host => "Shared Hosting",
    }
}

/// (name, class, category, environment)
const CIS: &[(&str, &str, Cat, &str)] = &[
    (
        "db-prod-07",
        "cmdb_ci_db_postgresql_instance",
        Cat::Db,
        "Production",
    ),
    (
        "db-prod-03",
        "cmdb_ci_db_postgresql_instance",
        Cat::Db,
        "Production",
    ),
    (
        "db-reporting-02",
        "cmdb_ci_db_postgresql_instance",
        Cat::Db,
        "Production",
    ),
    (
        "oracle-erp-01",
        "cmdb_ci_db_ora_instance",
        Cat::Db,
        "Production",
    ),
    (
        "pg-analytics-01",
        "cmdb_ci_db_postgresql_instance",
        Cat::Db,
        "Staging",
    ),
    (
        "edge-router-ams-2",
        "cmdb_ci_ip_router",
        Cat::Net,
        "Production",
    ),
    (
        "edge-router-fra-1",
        "cmdb_ci_ip_router",
        Cat::Net,
        "Production",
    ),
    (
        "core-switch-lon-1",
        "cmdb_ci_ip_switch",
        Cat::Net,
        "Production",
    ),
    ("fw-dmz-01", "cmdb_ci_ip_firewall", Cat::Net, "Production"),
    ("vpn-gw-nyc-1", "cmdb_ci_ip_router", Cat::Net, "Production"),
    (
        "k8s-prod-eu1",
        "cmdb_ci_kubernetes_cluster",
        Cat::K8s,
        "Production",
    ),
    (
        "k8s-prod-us2",
        "cmdb_ci_kubernetes_cluster",
        Cat::K8s,
        "Production",
    ),
    (
        "k8s-stage-eu1",
        "cmdb_ci_kubernetes_cluster",
        Cat::K8s,
        "Staging",
    ),
    ("payments-api", "cmdb_ci_service", Cat::App, "Production"),
    ("api-gateway", "cmdb_ci_service", Cat::App, "Production"),
    ("auth-service", "cmdb_ci_service", Cat::App, "Production"),
    ("checkout-web", "cmdb_ci_service", Cat::App, "Production"),
    ("search-indexer", "cmdb_ci_service", Cat::App, "Production"),
    (
        "notification-svc",
        "cmdb_ci_service",
        Cat::App,
        "Production",
    ),
    ("billing-batch", "cmdb_ci_service", Cat::App, "Production"),
    ("customer-portal", "cmdb_ci_service", Cat::App, "Production"),
    ("inventory-api", "cmdb_ci_service", Cat::App, "Staging"),
    (
        "san-array-02",
        "cmdb_ci_storage_device",
        Cat::Storage,
        "Production",
    ),
    (
        "nas-backup-01",
        "cmdb_ci_storage_device",
        Cat::Storage,
        "Production",
    ),
    (
        "s3-archive-eu",
        "cmdb_ci_storage_device",
        Cat::Storage,
        "Production",
    ),
    (
        "ceph-cluster-03",
        "cmdb_ci_storage_device",
        Cat::Storage,
        "Production",
    ),
    (
        "app-node-114",
        "cmdb_ci_linux_server",
        Cat::Host,
        "Production",
    ),
    (
        "batch-worker-22",
        "cmdb_ci_linux_server",
        Cat::Host,
        "Production",
    ),
    (
        "jump-host-01",
        "cmdb_ci_linux_server",
        Cat::Host,
        "Production",
    ),
    (
        "mail-relay-02",
        "cmdb_ci_linux_server",
        Cat::Host,
        "Production",
    ),
    ("ldap-01", "cmdb_ci_linux_server", Cat::Host, "Production"),
    ("win-fs-03", "cmdb_ci_win_server", Cat::Host, "Production"),
    (
        "ci-runner-07",
        "cmdb_ci_linux_server",
        Cat::Host,
        "Development",
    ),
    (
        "redis-sessions-01",
        "cmdb_ci_db_instance",
        Cat::Cache,
        "Production",
    ),
    (
        "redis-cache-eu",
        "cmdb_ci_db_instance",
        Cat::Cache,
        "Production",
    ),
    (
        "memcached-web-02",
        "cmdb_ci_db_instance",
        Cat::Cache,
        "Production",
    ),
    ("lb-ext-01", "cmdb_ci_lb", Cat::Lb, "Production"),
    ("haproxy-edge-3", "cmdb_ci_lb", Cat::Lb, "Production"),
    ("nginx-ingress-eu", "cmdb_ci_lb", Cat::Lb, "Production"),
    ("f5-dc2-pair", "cmdb_ci_lb", Cat::Lb, "Production"),
];

/// (category, short description template, versions, change category, assignment group)
const TEMPLATES: &[(Cat, &str, &[&str], &str, usize)] = &[
    (
        Cat::Db,
        "Upgrade PostgreSQL on {ci} to {v}",
        &["16.4", "15.8", "16.6"],
        "Software",
        1,
    ),
    (
        Cat::Db,
        "Increase max_connections on {ci} to {v}",
        &["400", "600", "800"],
        "Software",
        1,
    ),
    (
        Cat::Db,
        "Failover test for {ci} streaming replica",
        &[""],
        "Software",
        1,
    ),
    (
        Cat::Db,
        "Rotate database credentials for {ci}",
        &[""],
        "Software",
        3,
    ),
    (
        Cat::Db,
        "Resize {ci} data volume to {v} TB",
        &["2", "4", "8"],
        "Hardware",
        1,
    ),
    (
        Cat::Net,
        "Upgrade firmware on {ci} to {v}",
        &["17.3.2", "17.6.1", "22.4R3"],
        "Network",
        0,
    ),
    (
        Cat::Net,
        "Apply BGP policy change on {ci}",
        &[""],
        "Network",
        0,
    ),
    (
        Cat::Net,
        "Update firewall rules for {ci} egress",
        &[""],
        "Network",
        3,
    ),
    (
        Cat::Net,
        "Replace optics on {ci} uplink port {v}",
        &["Et1/1", "Et2/4", "xe-0/0/3"],
        "Hardware",
        0,
    ),
    (
        Cat::K8s,
        "Upgrade {ci} control plane to Kubernetes {v}",
        &["1.30", "1.31", "1.32"],
        "Software",
        2,
    ),
    (
        Cat::K8s,
        "Scale out {ci} node pool by {v} nodes",
        &["3", "6", "10"],
        "Software",
        2,
    ),
    (
        Cat::K8s,
        "Rotate TLS certificates for {ci} ingress",
        &[""],
        "Software",
        3,
    ),
    (
        Cat::App,
        "Deploy {ci} release {v}",
        &["2.14.0", "3.2.1", "5.0.0-rc2"],
        "Software",
        2,
    ),
    (
        Cat::App,
        "Rotate TLS certificates for {ci}",
        &[""],
        "Software",
        3,
    ),
    (
        Cat::App,
        "Enable feature flag rollout for {ci} ({v} %)",
        &["10", "50", "100"],
        "Software",
        2,
    ),
    (
        Cat::App,
        "Migrate {ci} to new Kubernetes cluster",
        &[""],
        "Software",
        2,
    ),
    (
        Cat::Storage,
        "Replace failed disk in {ci} shelf {v}",
        &["2", "3", "5"],
        "Hardware",
        2,
    ),
    (
        Cat::Storage,
        "Update backup retention policy for {ci} to {v} days",
        &["30", "35", "90"],
        "Software",
        2,
    ),
    (
        Cat::Host,
        "Apply kernel security updates to {ci}",
        &[""],
        "Software",
        2,
    ),
    (
        Cat::Host,
        "Emergency patch for OpenSSL CVE on {ci}",
        &[""],
        "Software",
        3,
    ),
    (
        Cat::Host,
        "Decommission legacy host {ci}",
        &[""],
        "Hardware",
        4,
    ),
    (
        Cat::Cache,
        "Upgrade Redis on {ci} to {v}",
        &["7.2.5", "7.4.1"],
        "Software",
        1,
    ),
    (
        Cat::Cache,
        "Flush and resize {ci} to {v} GB",
        &["16", "32", "64"],
        "Software",
        1,
    ),
    (Cat::Lb, "Enable TLS 1.3 on {ci}", &[""], "Network", 0),
    (
        Cat::Lb,
        "Emergency patch for OpenSSL CVE on edge proxies ({ci})",
        &[""],
        "Network",
        3,
    ),
    (
        Cat::Lb,
        "Drain and replace {ci} pool members",
        &[""],
        "Network",
        0,
    ),
];

const PURPOSES: &[&str] = &[
    "The vendor has announced end of support for the running version; staying current keeps us eligible for security fixes.",
    "Monitoring shows sustained saturation during the evening peak; this change adds headroom before the seasonal traffic increase.",
    "Required by the quarterly security baseline review (finding SEC-2291).",
    "Follow-up action from the last major incident post-incident review.",
    "Part of the data-centre consolidation programme, wave 3.",
    "Requested by the product team to unblock the next release train.",
];
const PREPS: &[&str] = &[
    "Take a snapshot / backup of {ci} and verify it restores",
    "Drain traffic from {ci} via the load balancer",
    "Freeze deployments to {ci} in the pipeline",
    "Confirm on-call coverage and open a bridge call",
];
const BACKOUTS: &[&str] = &[
    "Restore {ci} from the pre-change snapshot and re-enable traffic.\nEstimated backout time: 30 minutes.",
    "Redeploy the previous release of {ci} from the artifact registry and revert the configuration commit.\nEstimated backout time: 15 minutes.",
    "Revert the configuration on {ci} to the saved running-config and reload.\nEstimated backout time: 20 minutes.",
];
const TESTS: &[&str] = &[
    "Run the synthetic transaction suite against {ci} and compare error rates with the previous week.",
    "Execute the smoke tests from the runbook; verify dashboards for {ci} show no new alerts for 30 minutes.",
    "Validated in staging on the same version; repeat the health checks on {ci} after the change.",
];
const JUSTIFICATIONS: &[&str] = &[
    "Reduces exposure to a known vulnerability.",
    "Prevents capacity exhaustion forecast within six weeks.",
    "Mandatory compliance control (ISO 27001 A.12.6).",
    "Removes a single point of failure identified in the resilience review.",
    "Lowers operating cost by retiring unsupported components.",
    "Enables the business feature committed for this quarter.",
];
const BLAST: &[&str] = &[
    "Customer-facing traffic for {ci} may see elevated latency for up to 5 minutes.",
    "Internal users only; batch jobs depending on {ci} will be paused during the window.",
    "A short connection reset is expected; clients retry automatically.",
    "No expected outage; rolling change with at least N-1 capacity at all times.",
];

/// Approval SLA (hours) of the console's tiers for a change (domain §5, brief defaults).
pub fn sla_hours(typ: &str, risk: u8, impact: u8) -> i64 {
    if typ == "emergency" {
        1
    } else if risk == 1 || (risk == 2 && impact == 1) {
        4
    } else if risk == 2 {
        8
    } else if risk == 3 {
        24
    } else {
        72
    }
}

fn tier(typ: &str, risk: u8, impact: u8) -> usize {
    match sla_hours(typ, risk, impact) {
        1 => 0,
        4 => 1,
        8 => 2,
        24 => 3,
        _ => 4,
    }
}

/// Fraction of the SLA elapsed, cycling on-track / warning / breached per tier.
fn sla_fraction(rng: &mut Rng, k: usize) -> f64 {
    const PATTERN: [u8; 6] = [0, 1, 2, 0, 0, 1];
    match PATTERN[k % PATTERN.len()] {
        0 => 0.05 + rng.unit() * 0.62,
        1 => 0.78 + rng.unit() * 0.17,
        _ => 1.05 + rng.unit() * 0.35,
    }
}

fn weighted(rng: &mut Rng, w: &[(u8, f64)]) -> u8 {
    let x = rng.unit();
    let mut acc = 0.0;
    for &(v, p) in w {
        acc += p;
        if x < acc {
            return v;
        }
    }
    w[w.len() - 1].0
}

/// Build the database and the seeded user list.
pub fn generate(seed: u64, changes: usize, now: i64) -> (Db, Vec<SimUser>) {
    let mut db = Db::new(schema());
    let mut rng = Rng::new(seed ^ 0x0005_EED0_F516_E0FF);
    let mut ids = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x1D5);
    let t_user = db.table("sys_user").expect("table");
    let t_group = db.table("sys_user_group").expect("table");
    let t_ci = db.table("cmdb_ci").expect("table");
    let t_chg = db.table("change_request").expect("table");
    let t_gapp = db.table("sysapproval_group").expect("table");
    let t_appr = db.table("sysapproval_approver").expect("table");
    let epoch = fmt_ts(now - 400 * 86400);

    // Users (§7.1).
    let mut users = Vec::new();
    let user_ids: Vec<String> = USERS.iter().map(|_| ids.sys_id()).collect();
    for (i, &(login, first, last, roles, title, tz)) in USERS.iter().enumerate() {
        let name = format!("{first} {last}");
        let email = format!("{login}@example.com");
        let manager = if i == ALICE || i >= 5 {
            ""
        } else {
            &user_ids[ALICE]
        };
        db.insert(
            t_user,
            &[
                ("sys_id", &user_ids[i]),
                ("user_name", login),
                ("name", &name),
                ("first_name", first),
                ("last_name", last),
                ("email", &email),
                ("title", title),
                ("active", "true"),
                ("locked_out", "false"),
                ("manager", manager),
                ("time_zone", tz),
                ("date_format", "yyyy-MM-dd"),
                ("time_format", "HH:mm:ss"),
                ("roles", roles),
                ("web_service_access_only", "false"),
                ("sys_created_on", &epoch),
                ("sys_created_by", "admin"),
                ("sys_updated_on", &epoch),
                ("sys_updated_by", "admin"),
                ("sys_mod_count", "0"),
            ],
        );
        users.push(SimUser {
            sys_id: user_ids[i].clone(),
            user_name: login.to_string(),
            name,
            email,
            roles: roles.split(',').map(str::to_string).collect(),
        });
    }

    // Groups.
    let group_ids: Vec<String> = GROUPS.iter().map(|_| ids.sys_id()).collect();
    for (i, &(name, desc, mgr)) in GROUPS.iter().enumerate() {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "-"));
        db.insert(
            t_group,
            &[
                ("sys_id", &group_ids[i]),
                ("name", name),
                ("description", desc),
                ("manager", &user_ids[mgr]),
                ("email", &email),
                ("active", "true"),
                ("sys_created_on", &epoch),
                ("sys_created_by", "admin"),
                ("sys_updated_on", &epoch),
                ("sys_updated_by", "admin"),
                ("sys_mod_count", "0"),
            ],
        );
    }

    // Configuration items.
    let ci_ids: Vec<String> = CIS.iter().map(|_| ids.sys_id()).collect();
    for (i, &(name, class, _, env)) in CIS.iter().enumerate() {
        db.insert(
            t_ci,
            &[
                ("sys_id", &ci_ids[i]),
                ("name", name),
                ("sys_class_name", class),
                ("operational_status", "1"),
                ("environment", env),
                ("sys_created_on", &epoch),
                ("sys_created_by", "admin"),
                ("sys_updated_on", &epoch),
                ("sys_updated_by", "admin"),
                ("sys_mod_count", "0"),
            ],
        );
    }

    let mut counters = [0usize; 10];
    let mut gapp_no = 10001u64;
    let f_work_notes = db.tables[t_chg].field("work_notes").expect("field");
    let f_hist = db.tables[t_chg].field("approval_history").expect("field");
    let f_comments = db.tables[t_appr].field("comments").expect("field");
    for i in 0..changes {
        let chg_id = ids.sys_id();
        let number = format!("CHG{:07}", 30001 + i as u64);
        let x = rng.unit();
        let typ = if x < 0.30 {
            "standard"
        } else if x < 0.95 {
            "normal"
        } else {
            "emergency"
        };
        let risk = match typ {
            "standard" => weighted(&mut rng, &[(4, 0.85), (3, 0.15)]),
            "emergency" => weighted(&mut rng, &[(1, 0.2), (2, 0.5), (3, 0.3)]),
            _ => weighted(&mut rng, &[(1, 0.04), (2, 0.26), (3, 0.4), (4, 0.3)]),
        };
        let impact = weighted(&mut rng, &[(1, 0.2), (2, 0.45), (3, 0.35)]);
        let urgency = if typ == "emergency" {
            1
        } else {
            weighted(&mut rng, &[(1, 0.2), (2, 0.45), (3, 0.35)])
        };
        let priority = (impact + urgency - 1).min(4);
        let (cat, tmpl, versions, category, group) = *rng.pick(TEMPLATES);
        let cis: Vec<usize> = (0..CIS.len()).filter(|&k| CIS[k].2 == cat).collect();
        let ci = *rng.pick(&cis);
        let ci_name = CIS[ci].0;
        let short = tmpl
            .replace("{ci}", ci_name)
            .replace("{v}", rng.pick::<&str>(versions));
        let requester = rng.range(REQUESTERS.start as i64, REQUESTERS.end as i64 - 1) as usize;
        let assigned = if rng.chance(0.6) {
            user_ids[rng.range(REQUESTERS.start as i64, REQUESTERS.end as i64 - 1) as usize]
                .as_str()
        } else {
            ""
        };
        let description = format!(
            "{short}.\n\n{}\n\nScope: {ci_name} ({}).",
            rng.pick(PURPOSES),
            CIS[ci].3
        );
        let plan = format!(
            "1. Post start notice in #change-ops and confirm monitoring is green\n2. {}\n3. {short}\n4. Verify health checks and error rates on {ci_name} for 15 minutes\n5. Post completion notice and update this change",
            rng.pick(PREPS).replace("{ci}", ci_name)
        );
        let backout = rng.pick(BACKOUTS).replace("{ci}", ci_name);
        let test_plan = rng.pick(TESTS).replace("{ci}", ci_name);
        let justification = *rng.pick(JUSTIFICATIONS);
        let risk_label = ["Very High", "High", "Moderate", "Low"][risk as usize - 1];
        let ria = format!(
            "Risk: {risk_label}. Impact: {}.\n{}",
            ["High", "Medium", "Low"][impact as usize - 1],
            rng.pick(BLAST).replace("{ci}", ci_name)
        );
        let sla = sla_hours(typ, risk, impact) * 3600;
        let pending = rng.chance(if typ == "standard" { 0.55 } else { 0.9 });
        let alice_in = rng.chance(if pending { 0.45 } else { 0.4 });
        let group_approval = typ != "standard" && risk <= 3 && rng.chance(0.25);

        let (state, approval, requested_at, decided_at, start, rejected);
        if pending {
            state = if typ == "normal" && rng.chance(0.4) {
                "-4"
            } else {
                "-3"
            };
            approval = "requested";
            let key = tier(typ, risk, impact) * 2 + alice_in as usize;
            let k = counters[key];
            counters[key] += 1;
            let frac = sla_fraction(&mut rng, k);
            requested_at = now - (frac * sla as f64) as i64;
            decided_at = None;
            let deadline = requested_at + sla;
            start = if rng.chance(0.08) {
                // Starts before the approval deadline (or already started).
                let lo = now - 7200;
                if deadline > lo + 900 {
                    rng.range(lo, deadline - 900)
                } else {
                    now - rng.range(0, 7200)
                }
            } else {
                let lo = deadline.max(now) + 3600;
                let hi = (now + 14 * 86400).max(lo);
                let extra = rng.range(0, (hi - lo) / 2);
                let s = rng.range(lo, lo + (hi - lo) / 2 + extra);
                ((s + 899) / 900 * 900).min(now + 14 * 86400)
            };
            rejected = false;
        } else {
            rejected = typ != "standard" && rng.chance(0.12);
            requested_at = now - rng.range(2 * 3600, 10 * 86400);
            let decided = (requested_at + rng.range(600, sla.max(1200))).min(now - 60);
            decided_at = Some(decided);
            if rejected {
                state = "-5";
                approval = "rejected";
                start = now + rng.range(86400, 14 * 86400) / 900 * 900;
            } else {
                approval = "approved";
                let s = *rng.pick(&["-2", "-1", "0", "3"]);
                state = s;
                start = match s {
                    "-2" => now + rng.range(3600, 14 * 86400) / 900 * 900,
                    "-1" => now - rng.range(0, 7200),
                    _ => decided + (now - decided) / 3,
                };
            }
        }
        let end = start + rng.range(1, 8) * 3600;
        let created = requested_at - rng.range(600, 3 * 86400);
        let closed_at = if state == "3" {
            fmt_ts(end.min(now - 60).max(start))
        } else {
            String::new()
        };
        let updated = decided_at.unwrap_or(requested_at);
        let cab_required = group_approval || risk <= 2;
        let cab_date = if cab_required {
            fmt_date(requested_at + 86400)
        } else {
            String::new()
        };
        // A board that has met on the change has recommended (no randomness drawn, so the
        // rest of the seeded data stays as it was).
        let cab_recommendation = if cab_required && requested_at + 86400 < now {
            "Approve as planned"
        } else {
            ""
        };
        let (created_s, requested_s, updated_s) =
            (fmt_ts(created), fmt_ts(requested_at), fmt_ts(updated));
        let (start_s, end_s) = (fmt_ts(start), fmt_ts(end));
        let active = if state == "3" { "false" } else { "true" };
        let mod_count = rng.range(2, 9).to_string();
        let (close_code, close_notes) = if state == "3" {
            ("successful", "Completed as planned; no issues observed.")
        } else {
            ("", "")
        };
        let row = db.insert(
            t_chg,
            &[
                ("sys_id", &chg_id),
                ("number", &number),
                ("short_description", &short),
                ("description", &description),
                ("state", state),
                ("approval", approval),
                ("impact", &impact.to_string()),
                ("urgency", &urgency.to_string()),
                ("priority", &priority.to_string()),
                ("active", active),
                ("assignment_group", &group_ids[group]),
                ("assigned_to", assigned),
                ("cmdb_ci", &ci_ids[ci]),
                ("business_service", service_of(cat)),
                ("opened_by", &user_ids[requester]),
                ("opened_at", &created_s),
                ("closed_at", &closed_at),
                ("sys_class_name", "change_request"),
                ("upon_approval", "proceed"),
                ("upon_reject", "cancel"),
                ("type", typ),
                ("requested_by", &user_ids[requester]),
                ("start_date", &start_s),
                ("end_date", &end_s),
                ("implementation_plan", &plan),
                ("backout_plan", &backout),
                ("test_plan", &test_plan),
                ("justification", justification),
                ("risk_impact_analysis", &ria),
                ("risk", &risk.to_string()),
                ("category", category),
                ("cab_required", if cab_required { "true" } else { "false" }),
                ("cab_date", &cab_date),
                ("cab_recommendation", cab_recommendation),
                ("conflict_status", "Not Run"),
                ("on_hold", "false"),
                ("on_hold_reason", ""),
                ("close_code", close_code),
                ("close_notes", close_notes),
                ("sys_created_on", &created_s),
                ("sys_created_by", USERS[requester].0),
                ("sys_updated_on", &updated_s),
                ("sys_updated_by", "system"),
                ("sys_mod_count", &mod_count),
            ],
        );
        let req_name = format!("{} {}", USERS[requester].1, USERS[requester].2);
        if rng.chance(0.25) {
            db.add_journal(
                t_chg,
                row,
                JournalEntry {
                    field: f_work_notes,
                    at: fmt_ts(created + 1800),
                    author: req_name.clone(),
                    user: USERS[requester].0.to_string(),
                    text: "Pre-checks completed; monitoring dashboards linked in the description."
                        .into(),
                },
            );
        }

        // Approvers (§3): the group approval (one row per member) and 1-3 individuals.
        let mut members: Vec<(usize, bool)> = Vec::new(); // (user, via group)
        let mut gapp_id = String::new();
        if group_approval {
            let (g, list) = if alice_in {
                (CAB_GROUP, CAB_MEMBERS)
            } else {
                (ECAB_GROUP, ECAB_MEMBERS)
            };
            gapp_id = ids.sys_id();
            let gnum = format!("GAPP{gapp_no:07}");
            gapp_no += 1;
            let gshort = format!("{} approval for {number}", GROUPS[g].0);
            db.insert(
                t_gapp,
                &[
                    ("sys_id", &gapp_id),
                    ("number", &gnum),
                    ("short_description", &gshort),
                    ("parent", &chg_id),
                    ("assignment_group", &group_ids[g]),
                    ("approval", approval),
                    ("active", if pending { "true" } else { "false" }),
                    ("sys_created_on", &requested_s),
                    ("sys_created_by", "system"),
                    ("sys_updated_on", &updated_s),
                    ("sys_updated_by", "system"),
                    ("sys_mod_count", "0"),
                ],
            );
            members.extend(list.iter().map(|&u| (u, true)));
        }
        if alice_in && !members.iter().any(|m| m.0 == ALICE) {
            members.push((ALICE, false));
        }
        let individuals = if members.is_empty() {
            rng.range(1, 3)
        } else {
            rng.range(0, 2)
        };
        for _ in 0..individuals {
            let u = *rng.pick(&[BEN, CARLA, DEV, EMMA]);
            if !members.iter().any(|m| m.0 == u) {
                members.push((u, false));
            }
        }
        let due = if rng.chance(0.15) {
            fmt_ts(requested_at + sla)
        } else {
            String::new()
        };
        for (n, &(u, via_group)) in members.iter().enumerate() {
            let appr_id = ids.sys_id();
            let (st, upd, by, mods) = match decided_at {
                None => {
                    if u != ALICE && !via_group && n > 0 && rng.chance(0.25) {
                        let t = requested_at + (now - requested_at) / 2;
                        ("approved", fmt_ts(t), USERS[u].0, "1")
                    } else {
                        ("requested", requested_s.clone(), "system", "0")
                    }
                }
                Some(d) => {
                    let st = if rejected && n == 0 {
                        "rejected"
                    } else {
                        "approved"
                    };
                    (st, fmt_ts(d), USERS[u].0, "1")
                }
            };
            let arow = db.insert(
                t_appr,
                &[
                    ("sys_id", &appr_id),
                    ("approver", &user_ids[u]),
                    ("state", st),
                    ("sysapproval", &chg_id),
                    ("document_id", &chg_id),
                    ("source_table", "change_request"),
                    ("group", if via_group { &gapp_id } else { "" }),
                    ("due_date", &due),
                    ("expected_start", &start_s),
                    ("approval_column", "approval"),
                    ("approval_journal_column", "approval_history"),
                    ("approval_source", ""),
                    ("iteration", "1"),
                    ("order", ""),
                    ("sys_created_on", &requested_s),
                    ("sys_created_by", "system"),
                    ("sys_updated_on", &upd),
                    ("sys_updated_by", by),
                    ("sys_mod_count", mods),
                ],
            );
            if st != "requested" {
                let who = format!("{} {}", USERS[u].1, USERS[u].2);
                let text = if st == "rejected" {
                    "Rejected: backout plan does not cover the schema migration."
                } else {
                    "Approved. Plan and backout look fine."
                };
                db.add_journal(
                    t_appr,
                    arow,
                    JournalEntry {
                        field: f_comments,
                        at: upd.clone(),
                        author: who.clone(),
                        user: USERS[u].0.to_string(),
                        text: text.into(),
                    },
                );
                db.add_journal(
                    t_chg,
                    row,
                    JournalEntry {
                        field: f_hist,
                        at: upd,
                        author: who,
                        user: USERS[u].0.to_string(),
                        text: format!(
                            "{text} ({})",
                            if st == "rejected" {
                                "Rejected"
                            } else {
                                "Approved"
                            }
                        ),
                    },
                );
            }
        }
    }

    // Delegations (§6), relative to the anchor; generated last so the ids of everything
    // above do not depend on them.
    let t_del = db.table("sys_user_delegate").expect("table");
    const DAY: i64 = 86400;
    // (delegator, delegate, starts, ends, approvals, created)
    let delegations: [(usize, usize, i64, i64, bool, i64); 5] = [
        (
            CARLA,
            ALICE,
            now - 2 * DAY,
            now + 5 * DAY,
            true,
            now - 3 * DAY,
        ),
        (DEV, ALICE, now - 8 * DAY, now - DAY, true, now - 9 * DAY),
        (EMMA, ALICE, now + 3 * DAY, now + 10 * DAY, true, now - DAY),
        (DEV, BEN, now - DAY, now + 6 * DAY, false, now - 2 * DAY),
        (
            ALICE,
            BEN,
            now + 20 * DAY,
            now + 34 * DAY,
            true,
            now - 4 * DAY,
        ),
    ];
    for (user, delegate, starts, ends, approvals, created) in delegations {
        let id = ids.sys_id();
        let created = fmt_ts(created);
        db.insert(
            t_del,
            &[
                ("sys_id", &id),
                ("user", &user_ids[user]),
                ("delegate", &user_ids[delegate]),
                ("starts", &fmt_ts(starts)),
                ("ends", &fmt_ts(ends)),
                ("approvals", if approvals { "true" } else { "false" }),
                ("assignments", "false"),
                ("notifications", if approvals { "true" } else { "false" }),
                ("invitations", "false"),
                ("sys_created_on", &created),
                ("sys_created_by", USERS[user].0),
                ("sys_updated_on", &created),
                ("sys_updated_by", USERS[user].0),
                ("sys_mod_count", "0"),
            ],
        );
    }
    // CAB meetings last, for the same reason.
    super::cab::seed(
        &mut db,
        &mut ids,
        &super::cab::People {
            alice: &user_ids[ALICE],
            ben: &user_ids[BEN],
            carla: &user_ids[CARLA],
            dev: &user_ids[DEV],
            emma: &user_ids[EMMA],
            cab_group: &group_ids[CAB_GROUP],
            ecab_group: &group_ids[ECAB_GROUP],
        },
        now,
    );
    let t_change = db.table("change_request").expect("table");
    let class = db.tables[t_change].field("sys_class_name").expect("field");
    for row in 0..db.tables[t_change].rows.len() as u32 {
        db.set(t_change, row, class, "change_request");
    }
    // Last of all, so the records above keep their seeded ids.
    incidents(&mut db, &mut rng, &mut ids, &user_ids, &group_ids, now);
    catalog(&mut db, &mut ids, now);
    attachments(&mut db, seed, now);
    task_slas(&mut db, seed, now);
    automation(&mut db, seed, now);
    (db, users)
}

/// The `approval_source` of an approval an approval policy approves by itself at its due
/// date unless the change is paused (the instance's values are unverified; signoff's policy
/// names which sources auto-approve, and this one by default).
pub const AUTO_APPROVE_SOURCE: &str = "Change approval policy: auto-approve at the due date";
/// The `approval_source` of approvals made by a rule, decided at once.
pub const RULE_SOURCE: &str = "Standard change pre-approval";

pub fn is_auto_approval(source: &str) -> bool {
    source == AUTO_APPROVE_SOURCE
}

/// Automated approvals: about one in eight requested approvals due within a day get a timed
/// auto-approval, and each standard change an approval the pre-approval rule granted
/// (approver: none; by `system`). A generator of its own, so the records above keep their
/// seeded values.
fn automation(db: &mut Db, seed: u64, now: i64) {
    use crate::sim::table::{fmt_ts, parse_ts};
    let (Some(t_appr), Some(t_chg)) =
        (db.table("sysapproval_approver"), db.table("change_request"))
    else {
        return;
    };
    let mut rng = Rng::new(seed ^ 0xA070_A990_0E5E_7AB1);
    let fa = |db: &Db, n: &str| db.tables[t_appr].field(n).expect("field");
    let (f_state, f_due, f_src) = (
        fa(db, "state"),
        fa(db, "due_date"),
        fa(db, "approval_source"),
    );
    for row in 0..db.tables[t_appr].rows.len() as u32 {
        let due = parse_ts(db.get(t_appr, row, f_due));
        if db.get(t_appr, row, f_state) == "requested"
            && due.is_some_and(|d| d > now && d < now + 86_400)
            && rng.chance(0.12)
        {
            db.set(t_appr, row, f_src, AUTO_APPROVE_SOURCE);
        }
    }
    let fc = |db: &Db, n: &str| db.tables[t_chg].field(n).expect("field");
    let (f_id, f_type, f_created) = (fc(db, "sys_id"), fc(db, "type"), fc(db, "sys_created_on"));
    for row in 0..db.tables[t_chg].rows.len() as u32 {
        if db.get(t_chg, row, f_type) != "standard" {
            continue;
        }
        let change = db.get(t_chg, row, f_id).to_string();
        let at = fmt_ts(parse_ts(db.get(t_chg, row, f_created)).unwrap_or(now) + 60);
        let id = rng.sys_id();
        db.insert(
            t_appr,
            &[
                ("sys_id", id.as_str()),
                ("approver", ""),
                ("state", "approved"),
                ("sysapproval", change.as_str()),
                ("document_id", change.as_str()),
                ("source_table", "change_request"),
                ("approval_source", RULE_SOURCE),
                ("approval_column", "approval"),
                ("approval_journal_column", "approval_history"),
                ("iteration", "1"),
                ("sys_created_on", at.as_str()),
                ("sys_created_by", "system"),
                ("sys_updated_on", at.as_str()),
                ("sys_updated_by", "system"),
                ("sys_mod_count", "1"),
            ],
        );
    }
}

/// SLAs on about a third of the changes waiting for approval (`task_sla`, with their
/// `contract_sla` definitions), counted from the change's creation. A generator of their own,
/// so the records above keep their seeded values.
fn task_slas(db: &mut Db, seed: u64, now: i64) {
    use crate::sim::table::fmt_ts;
    let (Some(t_def), Some(t_sla)) = (db.table("contract_sla"), db.table("task_sla")) else {
        return;
    };
    let mut rng = Rng::new(seed ^ 0x7A5C_51A0_0BAD_C0DE);
    let at = fmt_ts(now - 30 * 86_400);
    let defs: Vec<(String, i64)> = [
        ("Change approval response (8 business hours)", 8 * 3600),
        ("Emergency change approval (2 hours)", 2 * 3600),
    ]
    .iter()
    .map(|&(name, secs)| {
        let id = rng.sys_id();
        let mut vals = vec![
            ("sys_id", id.as_str()),
            ("name", name),
            ("collection", "change_request"),
            ("target", "response"),
        ];
        let dur = fmt_ts(secs);
        vals.push(("duration", dur.as_str()));
        vals.push(("schedule", "8-5 weekdays"));
        vals.push(("timezone", "Europe/London"));
        vals.extend(stamps(&at));
        db.insert(t_def, &vals);
        (id, secs)
    })
    .collect();
    let t_chg = db.table("change_request").expect("table");
    let field = |name: &str| db.tables[t_chg].field(name).expect("field");
    let (f_id, f_state, f_type, f_created, f_hold) = (
        field("sys_id"),
        field("state"),
        field("type"),
        field("sys_created_on"),
        field("on_hold"),
    );
    for row in 0..db.tables[t_chg].rows.len() as u32 {
        // Waiting for approval: New, Assess or Authorize.
        if !matches!(db.get(t_chg, row, f_state), "-5" | "-4" | "-3") || !rng.chance(0.35) {
            continue;
        }
        let change = db.get(t_chg, row, f_id).to_string();
        let emergency = db.get(t_chg, row, f_type) == "emergency";
        let held = db.get(t_chg, row, f_hold) == "true";
        let Some(start) = crate::sim::table::parse_ts(db.get(t_chg, row, f_created)) else {
            continue;
        };
        let (def, secs) = &defs[usize::from(emergency)];
        let breach = start + secs;
        let elapsed = (now - start).max(0);
        let left = (breach - now).max(0);
        let pct = format!("{:.2}", elapsed as f64 * 100.0 / *secs as f64);
        let id = rng.sys_id();
        let (start_s, breach_s) = (fmt_ts(start), fmt_ts(breach));
        let (left_s, elapsed_s) = (fmt_ts(left), fmt_ts(elapsed));
        let mut vals = vec![
            ("sys_id", id.as_str()),
            ("task", change.as_str()),
            ("sla", def.as_str()),
            ("stage", if held { "paused" } else { "in_progress" }),
            ("active", "true"),
            ("start_time", start_s.as_str()),
            ("end_time", ""),
            ("planned_end_time", breach_s.as_str()),
            ("original_breach_time", breach_s.as_str()),
            ("has_breached", if now >= breach { "true" } else { "false" }),
            ("percentage", pct.as_str()),
            ("business_percentage", pct.as_str()),
            ("time_left", left_s.as_str()),
            ("business_time_left", left_s.as_str()),
            ("duration", elapsed_s.as_str()),
            ("business_duration", elapsed_s.as_str()),
            ("pause_duration", "1970-01-01 00:00:00"),
            ("schedule", "8-5 weekdays"),
            ("timezone", "Europe/London"),
        ];
        let stamp = fmt_ts(start);
        vals.extend(stamps(&stamp));
        db.insert(t_sla, &vals);
    }
}

/// Files attached to about a third of the changes (`sys_attachment`: names, sizes and types
/// only; the sim keeps no content). A generator of their own, so the records above keep
/// their seeded values.
fn attachments(db: &mut Db, seed: u64, now: i64) {
    const FILES: &[(&str, &str, u64)] = &[
        ("implementation-plan.pdf", "application/pdf", 182_344),
        ("backout-runbook.md", "text/markdown", 6_912),
        ("test-evidence.png", "image/png", 1_482_113),
        ("vendor-release-notes.pdf", "application/pdf", 412_908),
        ("config-diff.txt", "text/plain", 3_377),
    ];
    let mut rng = Rng::new(seed ^ 0x0A77_AC4E_D0C5_F11E);
    let t_chg = db.table("change_request").expect("table");
    let Some(t_att) = db.table("sys_attachment") else {
        return;
    };
    let f_id = db.tables[t_chg].field("sys_id").expect("field");
    let at = crate::sim::table::fmt_ts(now - 86_400);
    for row in 0..db.tables[t_chg].rows.len() as u32 {
        if !rng.chance(0.35) {
            continue;
        }
        let change = db.get(t_chg, row, f_id).to_string();
        let n = 1 + rng.below(2) as usize;
        let first = rng.below(FILES.len() as u64) as usize;
        for k in 0..n {
            let (name, kind, size) = FILES[(first + k * 2) % FILES.len()];
            let id = rng.sys_id();
            let size = (size + rng.below(size / 4 + 1)).to_string();
            let mut vals = vec![
                ("sys_id", id.as_str()),
                ("file_name", name),
                ("content_type", kind),
                ("size_bytes", size.as_str()),
                ("table_name", "change_request"),
                ("table_sys_id", change.as_str()),
            ];
            vals.extend(stamps(&at));
            db.insert(t_att, &vals);
        }
    }
}

/// The `sys_*` stamps of a seeded record created (and last updated) by admin at `at`.
pub(super) fn stamps(at: &str) -> [(&'static str, &str); 5] {
    [
        ("sys_created_on", at),
        ("sys_created_by", "admin"),
        ("sys_updated_on", at),
        ("sys_updated_by", "admin"),
        ("sys_mod_count", "0"),
    ]
}

/// A handful of incidents, for clients that probe the best-known table.
fn incidents(
    db: &mut Db,
    rng: &mut Rng,
    ids: &mut Rng,
    user_ids: &[String],
    group_ids: &[String],
    now: i64,
) {
    let t = db.table("incident").expect("table");
    const TITLES: &[&str] = &[
        "VPN drops every few minutes",
        "Printer on floor 3 offline",
        "Cannot open the expense portal",
        "Laptop battery swells",
        "Shared mailbox missing in Outlook",
        "Wi-Fi slow in meeting room B",
    ];
    for n in 0..12u32 {
        let opened = fmt_ts(now - 3_600 * (1 + rng.below(240) as i64));
        let title = *rng.pick(TITLES);
        let (id, number, description) = (
            ids.sys_id(),
            format!("INC{:07}", 10_001 + n),
            format!("{title}. Reported by the caller."),
        );
        let mut vals = vec![
            ("sys_id", id.as_str()),
            ("number", number.as_str()),
            ("short_description", title),
            ("description", description.as_str()),
            ("state", rng.pick(super::table::INCIDENT_STATES).0),
            ("priority", rng.pick(super::table::PRIORITIES).0),
            ("caller_id", rng.pick(user_ids).as_str()),
            ("assignment_group", rng.pick(group_ids).as_str()),
            ("opened_at", opened.as_str()),
        ];
        vals.extend(stamps(&opened));
        db.insert(t, &vals);
    }
}

/// `sys_db_object`, `sys_dictionary` and `sys_choice` for every table served, from the
/// definitions the sim serves them by.
fn catalog(db: &mut Db, ids: &mut Rng, now: i64) {
    use super::table::Kind;
    let at = fmt_ts(now);
    let (t_obj, t_dict, t_choice) = (
        db.table("sys_db_object").expect("table"),
        db.table("sys_dictionary").expect("table"),
        db.table("sys_choice").expect("table"),
    );
    let defs: Vec<(&'static str, Vec<super::table::Field>)> = db
        .tables
        .iter()
        .map(|t| (t.name, t.fields.clone()))
        .collect();
    for (name, fields) in defs {
        let (id, label) = (ids.sys_id(), label_of(name));
        let mut vals = vec![
            ("sys_id", id.as_str()),
            ("name", name),
            ("label", label.as_str()),
            // No table served extends another, so none names a parent.
            ("super_class", ""),
        ];
        vals.extend(stamps(&at));
        db.insert(t_obj, &vals);
        for field in &fields {
            let reference = match &field.kind {
                Kind::Ref { target, .. } | Kind::List(target) => *target,
                _ => "",
            };
            let id = ids.sys_id();
            let mut vals = vec![
                ("sys_id", id.as_str()),
                ("name", name),
                ("element", field.name),
                ("column_label", field.label),
                ("internal_type", super::table::internal_type(&field.kind)),
                ("reference", reference),
            ];
            vals.extend(stamps(&at));
            db.insert(t_dict, &vals);
            let Kind::Choice(choices) = field.kind else {
                continue;
            };
            for (i, (value, label)) in choices.iter().enumerate() {
                let (id, sequence) = (ids.sys_id(), (i * 100).to_string());
                let mut vals = vec![
                    ("sys_id", id.as_str()),
                    ("name", name),
                    ("element", field.name),
                    ("value", *value),
                    ("label", *label),
                    ("sequence", sequence.as_str()),
                    ("inactive", "false"),
                ];
                vals.extend(stamps(&at));
                db.insert(t_choice, &vals);
            }
        }
    }
}

/// A table's label from its name (`change_request` → `Change Request`).
fn label_of(name: &str) -> String {
    name.trim_start_matches("sys_")
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}
