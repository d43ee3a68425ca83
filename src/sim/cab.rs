//! The CAB Workbench as the simulated instance models it (domain reference §1): seeded
//! meetings, the table ACLs, and the platform's own rules on writes: an agenda item's
//! decision follows its change's approval (§1.7), adding an item stamps the change's CAB date
//! (§1.3), and new rows get the workbench's defaults. Moving a meeting along (start, next,
//! pause, end) is what the workbench's scripts write into these tables; over the Table API the
//! client writes those rows itself, and the sim stores what it is given.

use std::collections::HashMap;

use super::data::{Rng, stamps};
use super::table::{Db, SYS_ID, fmt_ts, parse_ts};

/// Tables of the CAB Workbench.
pub const TABLES: &[&str] = &[
    "cab_meeting",
    "cab_agenda_item",
    "cab_attendee",
    "cab_runtime_state",
];

/// The role that may create meetings (§1.1).
pub const MANAGER_ROLE: &str = "sn_change_cab.cab_manager";

/// The seeded people, by sys_id.
pub struct People<'a> {
    pub alice: &'a str,
    pub ben: &'a str,
    pub carla: &'a str,
    pub dev: &'a str,
    pub emma: &'a str,
    pub cab_group: &'a str,
    pub ecab_group: &'a str,
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86400;

fn field(db: &Db, t: usize, name: &str) -> usize {
    db.tables[t]
        .field(name)
        .unwrap_or_else(|| panic!("{} has no field {name}", db.tables[t].name))
}

/// A change of the seed, as the agenda picks them.
struct Candidate {
    row: u32,
    sys_id: String,
    requested_by: String,
}

/// Meetings relative to `now`: one in progress, two upcoming, one past, one emergency (ad hoc),
/// on changes of the seed. Fewer changes make shorter agendas; none make empty ones.
pub fn seed(db: &mut Db, ids: &mut Rng, who: &People, now: i64) {
    let tc = db.table("change_request").expect("table");
    let ta = db.table("sysapproval_approver").expect("table");
    let (f_type, f_appr, f_state, f_req) = (
        field(db, tc, "type"),
        field(db, tc, "approval"),
        field(db, tc, "state"),
        field(db, tc, "requested_by"),
    );
    let (fa_chg, fa_who, fa_state) = (
        field(db, ta, "sysapproval"),
        field(db, ta, "approver"),
        field(db, ta, "state"),
    );
    let mut alice_waits: HashMap<String, bool> = HashMap::new();
    for r in 0..db.tables[ta].rows.len() as u32 {
        if db.get(ta, r, fa_who) == who.alice && db.get(ta, r, fa_state) == "requested" {
            alice_waits.insert(db.get(ta, r, fa_chg).to_string(), true);
        }
    }
    let (mut approved, mut mine, mut others, mut emergency) = (vec![], vec![], vec![], vec![]);
    for r in 0..db.tables[tc].rows.len() as u32 {
        let c = Candidate {
            row: r,
            sys_id: db.get(tc, r, SYS_ID).to_string(),
            requested_by: db.get(tc, r, f_req).to_string(),
        };
        let (typ, appr, state) = (
            db.get(tc, r, f_type),
            db.get(tc, r, f_appr),
            db.get(tc, r, f_state),
        );
        if typ == "standard" {
            continue;
        }
        if appr == "approved" && state == "-2" {
            approved.push(c);
        } else if appr == "requested" && typ == "emergency" {
            emergency.push(c);
        } else if appr == "requested" && alice_waits.contains_key(&c.sys_id) {
            mine.push(c);
        } else if appr == "requested" {
            others.push(c);
        }
    }
    let take = |v: &mut Vec<Candidate>, n: usize| -> Vec<Candidate> {
        let n = n.min(v.len());
        v.drain(..n).collect()
    };
    let mut live = take(&mut approved, 1);
    live.extend(take(&mut mine, 3));
    live.extend(take(&mut others, 2));
    let mut next_week = take(&mut mine, 3);
    next_week.extend(take(&mut others, 2));
    let network = take(&mut others, 3);
    let past = take(&mut approved, 3);
    let urgent = take(&mut emergency, 2);

    let hour = |t: i64| t - t.rem_euclid(HOUR);
    let list = |v: &[&str]| v.join(",");
    let board = list(&[who.alice, who.carla, who.dev]);

    // 1. The weekly CAB, in progress: the first item decided, the second being discussed.
    let start = now - 20 * MIN;
    let m = meeting(
        db,
        ids,
        &Meeting {
            name: "Weekly CAB",
            manager: who.alice,
            delegates: who.dev,
            board: &board,
            groups: who.cab_group,
            state: "in_progress",
            start,
            end: start + HOUR,
            notes: "",
            created: now - 6 * DAY,
        },
    );
    let items = agenda(db, ids, &m, &live, 10 * MIN, now - 6 * DAY);
    for (i, item) in items.iter().enumerate() {
        match i {
            0 => set_item(db, *item, "complete", "approved", 8 * MIN),
            1 => set_item(db, *item, "in_progress", "", 0),
            _ => {}
        }
    }
    let mut people = vec![
        (who.alice, "cab_manager", "attending", Some(start)),
        (who.carla, "cab_board", "attending", Some(start + MIN)),
        (who.dev, "cab_board", "not_attending", None),
    ];
    attendees(db, ids, &m, &mut people, &live, now - 6 * DAY, |i| {
        if i < 2 {
            ("attending", Some(start + 2 * MIN))
        } else {
            ("", None)
        }
    });
    if let Some(current) = items.get(1) {
        runtime(
            db,
            ids,
            &m,
            Some(*current),
            now - 4 * MIN,
            "running",
            who.alice,
        );
    }

    // 2. Next week's CAB: one collision (two changes on one CI at once), one change on hold,
    // one edited after it was put on the agenda.
    let start = hour(now + 7 * DAY) + HOUR;
    let m = meeting(
        db,
        ids,
        &Meeting {
            name: "Weekly CAB",
            manager: who.alice,
            delegates: who.dev,
            board: &board,
            groups: who.cab_group,
            state: "pending",
            start,
            end: start + HOUR,
            notes: "",
            created: now - DAY,
        },
    );
    let added = now - 2 * DAY;
    let items = agenda(db, ids, &m, &next_week, 10 * MIN, added);
    if next_week.len() >= 2 {
        collide(db, tc, next_week[0].row, next_week[1].row);
    }
    if let Some(c) = next_week.get(2) {
        hold(
            db,
            tc,
            ta,
            c.row,
            "Waiting for the vendor to confirm the maintenance window.",
        );
    }
    if let (Some(c), Some(&item)) = (next_week.get(3), items.get(3)) {
        let ti = db.table("cab_agenda_item").expect("table");
        let f = field(db, ti, "sys_created_on");
        db.set(ti, item, f, &fmt_ts(added));
        let f = field(db, tc, "sys_updated_on");
        db.set(tc, c.row, f, &fmt_ts(now - HOUR));
        let f = field(db, tc, "short_description");
        let title = format!("{} (rescheduled)", db.get(tc, c.row, f));
        db.set(tc, c.row, f, &title);
    }
    let mut people = vec![
        (who.alice, "cab_manager", "", None),
        (who.carla, "cab_board", "", None),
        (who.dev, "cab_board", "", None),
    ];
    attendees(db, ids, &m, &mut people, &next_week, now - DAY, |_| {
        ("", None)
    });

    // 3. The network CAB, chaired by Carla; Alice sits on its board.
    let start = hour(now + 3 * DAY) + 2 * HOUR;
    let m = meeting(
        db,
        ids,
        &Meeting {
            name: "Network CAB",
            manager: who.carla,
            delegates: "",
            board: &list(&[who.carla, who.alice]),
            groups: "",
            state: "pending",
            start,
            end: start + HOUR,
            notes: "",
            created: now - 2 * DAY,
        },
    );
    agenda(db, ids, &m, &network, 15 * MIN, now - 2 * DAY);
    let mut people = vec![
        (who.carla, "cab_manager", "", None),
        (who.alice, "cab_board", "", None),
    ];
    attendees(db, ids, &m, &mut people, &network, now - 2 * DAY, |_| {
        ("", None)
    });

    // 4. Last week's CAB, complete, with its decisions in the notes.
    let start = hour(now - 7 * DAY);
    let mut notes = String::new();
    for (i, c) in past.iter().enumerate() {
        let number = db.get(tc, c.row, field(db, tc, "number")).to_string();
        notes.push_str(&format!(
            "<p>(CAB Automation) - {number} - Approved - Alice Moreno - {} UTC</p>",
            fmt_ts(start + (i as i64 + 1) * 9 * MIN)
        ));
    }
    let m = meeting(
        db,
        ids,
        &Meeting {
            name: "Weekly CAB",
            manager: who.alice,
            delegates: who.dev,
            board: &board,
            groups: who.cab_group,
            state: "complete",
            start,
            end: start + HOUR,
            notes: &notes,
            created: now - 13 * DAY,
        },
    );
    let f_end = field(db, m.t, "actual_end");
    db.set(m.t, m.row, f_end, &fmt_ts(start + 41 * MIN));
    let items = agenda(db, ids, &m, &past, 10 * MIN, now - 13 * DAY);
    for (i, item) in items.iter().enumerate() {
        set_item(db, *item, "complete", "approved", (7 + 3 * i as i64) * MIN);
    }
    let mut people = vec![
        (who.alice, "cab_manager", "attending", Some(start)),
        (who.carla, "cab_board", "attending", Some(start)),
        (who.dev, "cab_board", "attending", Some(start + 5 * MIN)),
    ];
    attendees(db, ids, &m, &mut people, &past, now - 13 * DAY, |_| {
        ("attending", Some(start + 3 * MIN))
    });
    runtime(db, ids, &m, None, start, "stopped", who.alice);

    // 5. An emergency CAB convened for today's emergency changes.
    let start = hour(now + 2 * HOUR);
    let m = meeting(
        db,
        ids,
        &Meeting {
            name: "Emergency CAB",
            manager: who.dev,
            delegates: "",
            board: &list(&[who.ben, who.dev, who.emma]),
            groups: who.ecab_group,
            state: "pending",
            start,
            end: start + 30 * MIN,
            notes: "",
            created: now - HOUR,
        },
    );
    agenda(db, ids, &m, &urgent, 15 * MIN, now - HOUR);
    let mut people = vec![
        (who.dev, "cab_manager", "attending", None),
        (who.ben, "cab_board", "", None),
        (who.emma, "cab_board", "", None),
        (who.alice, "attendee", "", None),
    ];
    attendees(db, ids, &m, &mut people, &urgent, now - HOUR, |_| {
        ("", None)
    });
}

struct Meeting<'a> {
    name: &'a str,
    manager: &'a str,
    delegates: &'a str,
    board: &'a str,
    groups: &'a str,
    state: &'a str,
    start: i64,
    end: i64,
    notes: &'a str,
    created: i64,
}

/// A seeded meeting row: its table, row, sys_id and start.
struct Seeded {
    t: usize,
    row: u32,
    sys_id: String,
    start: i64,
}

fn meeting(db: &mut Db, ids: &mut Rng, m: &Meeting) -> Seeded {
    let t = db.table("cab_meeting").expect("table");
    let id = ids.sys_id();
    let (start, end, created) = (fmt_ts(m.start), fmt_ts(m.end), fmt_ts(m.created));
    let range_start = fmt_ts(m.start);
    let range_end = fmt_ts(m.start + 7 * DAY);
    let name = format!("{} — {}", m.name, &start[..10]);
    let mut vals: Vec<(&str, &str)> = vec![
        ("sys_id", &id),
        ("name", &name),
        ("manager", m.manager),
        ("delegates", m.delegates),
        ("board_members", m.board),
        ("board_groups", m.groups),
        ("state", m.state),
        ("start", &start),
        ("end", &end),
        ("meeting_notes", m.notes),
        ("time_per_agenda_item", "1970-01-01 00:10:00"),
        ("complete_preapproved_changes", "false"),
        ("auto_add_agenda_decisions", "true"),
        ("agenda_locked", "false"),
        ("conference_details", "Bridge: +1 555 0100, code 4411"),
        ("change_range_start", &range_start),
        ("change_range_end", &range_end),
    ];
    vals.extend(stamps(&created));
    let row = db.insert(t, &vals);
    Seeded {
        t,
        row,
        sys_id: id,
        start: m.start,
    }
}

/// Agenda items for `changes`, in order (100, 200, …), added at `added`.
fn agenda(
    db: &mut Db,
    ids: &mut Rng,
    m: &Seeded,
    changes: &[Candidate],
    allotted: i64,
    added: i64,
) -> Vec<u32> {
    let t = db.table("cab_agenda_item").expect("table");
    let tc = db.table("change_request").expect("table");
    let (f_short, f_cab_date, f_updated) = (
        field(db, tc, "short_description"),
        field(db, tc, "cab_date"),
        field(db, tc, "sys_updated_on"),
    );
    let mut rows = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        // Put on the agenda after the change's last edit (it was current when added).
        let edited = parse_ts(db.get(tc, c.row, f_updated)).unwrap_or(added);
        let at = fmt_ts(added.max(edited + 60));
        let id = ids.sys_id();
        let short = db.get(tc, c.row, f_short).to_string();
        let order = ((i + 1) * 100).to_string();
        let allotted = fmt_ts(allotted);
        let mut vals: Vec<(&str, &str)> = vec![
            ("sys_id", &id),
            ("cab_meeting", &m.sys_id),
            ("task", &c.sys_id),
            ("order", &order),
            ("state", "pending"),
            ("decision", ""),
            ("alotted_time", &allotted),
            ("elapsed_time", "1970-01-01 00:00:00"),
            ("short_description", &short),
            ("added", "manual"),
            ("notification_sent", "true"),
        ];
        vals.extend(stamps(&at));
        rows.push(db.insert(t, &vals));
        db.set(tc, c.row, f_cab_date, &fmt_ts(m.start)[..10]);
    }
    rows
}

fn set_item(db: &mut Db, row: u32, state: &str, decision: &str, elapsed: i64) {
    let t = db.table("cab_agenda_item").expect("table");
    let (fs, fd, fe) = (
        field(db, t, "state"),
        field(db, t, "decision"),
        field(db, t, "elapsed_time"),
    );
    db.set(t, row, fs, state);
    db.set(t, row, fd, decision);
    db.set(t, row, fe, &fmt_ts(elapsed));
}

/// `people` (user, reason, attendance, joined) and each change's requester, who attends for
/// it; `requester(i)` gives the i-th requester's attendance and join time.
fn attendees(
    db: &mut Db,
    ids: &mut Rng,
    m: &Seeded,
    people: &mut Vec<(&str, &str, &str, Option<i64>)>,
    changes: &[Candidate],
    created: i64,
    requester: impl Fn(usize) -> (&'static str, Option<i64>),
) {
    let t = db.table("cab_attendee").expect("table");
    let at = fmt_ts(created);
    let mut tasks: HashMap<String, Vec<String>> = HashMap::new();
    let mut requesters: Vec<(String, &'static str, Option<i64>)> = Vec::new();
    for c in changes {
        if c.requested_by.is_empty() {
            continue;
        }
        tasks
            .entry(c.requested_by.clone())
            .or_default()
            .push(c.sys_id.clone());
        if !people.iter().any(|p| p.0 == c.requested_by)
            && !requesters.iter().any(|r| r.0 == c.requested_by)
        {
            let (attendance, joined) = requester(requesters.len());
            requesters.push((c.requested_by.clone(), attendance, joined));
        }
    }
    let mut rows: Vec<(String, &str, &str, Option<i64>, &str)> = people
        .iter()
        .map(|(u, reason, att, joined)| (u.to_string(), *reason, *att, *joined, "manual"))
        .collect();
    rows.extend(
        requesters
            .iter()
            .map(|(u, att, joined)| (u.clone(), "attendee", *att, *joined, "auto")),
    );
    for (user, reason, attendance, joined, added) in rows {
        let id = ids.sys_id();
        let for_tasks = tasks.get(&user).map(|v| v.join(",")).unwrap_or_default();
        let joined = joined.map(fmt_ts).unwrap_or_default();
        let mut vals: Vec<(&str, &str)> = vec![
            ("sys_id", &id),
            ("cab_meeting", &m.sys_id),
            ("attendee", &user),
            ("reason", reason),
            ("added", added),
            ("attending_for_tasks", &for_tasks),
            ("attendance", attendance),
            ("invite_sent", "true"),
            ("joined_at", &joined),
        ];
        vals.extend(stamps(&at));
        db.insert(t, &vals);
    }
}

fn runtime(
    db: &mut Db,
    ids: &mut Rng,
    m: &Seeded,
    current: Option<u32>,
    since: i64,
    timer: &str,
    host: &str,
) {
    let t = db.table("cab_runtime_state").expect("table");
    let ti = db.table("cab_agenda_item").expect("table");
    let id = ids.sys_id();
    let current = current
        .map(|r| db.get(ti, r, SYS_ID).to_string())
        .unwrap_or_default();
    let since = fmt_ts(since);
    let mut vals: Vec<(&str, &str)> = vec![
        ("sys_id", &id),
        ("cab_meeting", &m.sys_id),
        ("current_agenda_item", &current),
        ("current_agenda_item_start", &since),
        ("timer_state", timer),
        ("agenda_update_at", &since),
        ("host", host),
    ];
    vals.extend(stamps(&since));
    db.insert(t, &vals);
}

/// Puts change `b` on change `a`'s configuration item, its window overlapping `a`'s.
fn collide(db: &mut Db, tc: usize, a: u32, b: u32) {
    let (f_ci, f_start, f_end) = (
        field(db, tc, "cmdb_ci"),
        field(db, tc, "start_date"),
        field(db, tc, "end_date"),
    );
    let ci = db.get(tc, a, f_ci).to_string();
    let Some(start) = parse_ts(db.get(tc, a, f_start)) else {
        return;
    };
    db.set(tc, b, f_ci, &ci);
    db.set(tc, b, f_start, &fmt_ts(start + 30 * MIN));
    db.set(tc, b, f_end, &fmt_ts(start + 150 * MIN));
}

/// Puts a seeded change on hold as the platform would (its requested approvals become
/// `not_required` and are remembered for the release).
fn hold(db: &mut Db, tc: usize, ta: usize, row: u32, reason: &str) {
    let (f_hold, f_reason) = (field(db, tc, "on_hold"), field(db, tc, "on_hold_reason"));
    db.set(tc, row, f_hold, "true");
    db.set(tc, row, f_reason, reason);
    let chg = db.get(tc, row, SYS_ID).to_string();
    let (fa, fs) = (field(db, ta, "sysapproval"), field(db, ta, "state"));
    let mut held = Vec::new();
    for r in 0..db.tables[ta].rows.len() as u32 {
        if db.get(ta, r, fa) == chg && db.get(ta, r, fs) == "requested" {
            db.set(ta, r, fs, "not_required");
            held.push(r);
        }
    }
    db.held.entry(row).or_default().extend(held);
}

// ---------------------------------------------------------------------------------------------
// Rules on writes
// ---------------------------------------------------------------------------------------------

/// Whether a user with `roles` may read the CAB tables (§1.1: itil, the change roles, the
/// CAB manager, admin).
pub fn may_read(roles: &[String]) -> bool {
    roles.iter().any(|r| {
        matches!(
            r.as_str(),
            "itil" | "admin" | "sn_change_read" | "sn_change_write" | MANAGER_ROLE
        )
    })
}

/// The meeting a CAB row belongs to (the row itself for a meeting).
fn meeting_of(db: &Db, t: usize, row: u32) -> Option<(usize, u32)> {
    let tm = db.table("cab_meeting")?;
    if t == tm {
        return Some((tm, row));
    }
    let f = db.tables[t].field("cab_meeting")?;
    Some((tm, db.find(tm, db.get(t, row, f))?))
}

/// The manager and delegates of the meeting of a CAB row: who may host it.
pub fn hosts(db: &Db, t: usize, row: u32) -> Vec<String> {
    let Some((tm, m)) = meeting_of(db, t, row) else {
        return Vec::new();
    };
    let mut out = vec![db.get(tm, m, field(db, tm, "manager")).to_string()];
    out.extend(
        db.get(tm, m, field(db, tm, "delegates"))
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    );
    out
}

/// Whether `user` may update this CAB row: the meeting's hosts may update anything of it;
/// an attendee may update their own attendance row.
pub fn may_update(db: &Db, t: usize, row: u32, user: &str) -> bool {
    if hosts(db, t, row).iter().any(|h| h == user) {
        return true;
    }
    db.tables[t].name == "cab_attendee"
        && db.tables[t]
            .field("attendee")
            .is_some_and(|f| db.get(t, row, f) == user)
}

/// Whether `user` (with `roles`) may create a row in CAB table `t` with this body: a meeting
/// needs the CAB manager role; an item, attendee or runtime row needs to be a host of the
/// meeting it names. Answers why not.
pub fn may_create(
    db: &Db,
    t: usize,
    meeting: Option<&str>,
    user: &str,
    roles: &[String],
) -> Result<(), &'static str> {
    let name = db.tables[t].name;
    if name == "cab_meeting" {
        return if roles.iter().any(|r| r == MANAGER_ROLE) {
            Ok(())
        } else {
            Err("ACL Exception Insert Failed due to security constraints")
        };
    }
    let tm = db.table("cab_meeting").ok_or("no meetings")?;
    let Some(m) = meeting.and_then(|id| db.find(tm, id.trim())) else {
        return Err("Invalid reference for cab_meeting");
    };
    if !hosts(db, tm, m).iter().any(|h| h == user) {
        return Err("ACL Exception Insert Failed due to security constraints");
    }
    if name == "cab_agenda_item" && db.get(tm, m, field(db, tm, "agenda_locked")) == "true" {
        return Err("The agenda of this meeting is locked");
    }
    Ok(())
}

/// Defaults of a new CAB row the body left empty (§1.3, §1.4), and the change's CAB date for
/// a new agenda item.
pub fn after_insert(db: &mut Db, t: usize, row: u32) {
    let name = db.tables[t].name;
    let set_empty = |db: &mut Db, f: &str, v: &str| {
        let f = field(db, t, f);
        if db.get(t, row, f).is_empty() {
            db.set(t, row, f, v);
        }
    };
    match name {
        "cab_meeting" => {
            set_empty(db, "state", "pending");
            set_empty(db, "time_per_agenda_item", "1970-01-01 00:10:00");
            set_empty(db, "complete_preapproved_changes", "false");
            set_empty(db, "auto_add_agenda_decisions", "true");
            set_empty(db, "agenda_locked", "false");
        }
        "cab_agenda_item" => {
            set_empty(db, "state", "pending");
            set_empty(db, "elapsed_time", "1970-01-01 00:00:00");
            set_empty(db, "notification_sent", "false");
            let Some((tm, m)) = meeting_of(db, t, row) else {
                return;
            };
            let per_item = db
                .get(tm, m, field(db, tm, "time_per_agenda_item"))
                .to_string();
            set_empty(db, "alotted_time", &per_item);
            let f_order = field(db, t, "order");
            if db.get(t, row, f_order).is_empty() {
                let meeting_id = db.get(tm, m, SYS_ID).to_string();
                let f_m = field(db, t, "cab_meeting");
                let last = (0..db.tables[t].rows.len() as u32)
                    .filter(|&r| r != row && db.get(t, r, f_m) == meeting_id)
                    .filter_map(|r| db.get(t, r, f_order).parse::<i64>().ok())
                    .max()
                    .unwrap_or(0);
                db.set(t, row, f_order, &(last + 100).to_string());
            }
            let tc = db.table("change_request").expect("table");
            let task = db.get(t, row, field(db, t, "task")).to_string();
            if let Some(c) = db.find(tc, &task) {
                let short = db
                    .get(tc, c, field(db, tc, "short_description"))
                    .to_string();
                set_empty(db, "short_description", &short);
                if let Some(start) = parse_ts(db.get(tm, m, field(db, tm, "start"))) {
                    let f = field(db, tc, "cab_date");
                    db.set(tc, c, f, &fmt_ts(start)[..10]);
                }
            }
        }
        "cab_attendee" => {
            set_empty(db, "invite_sent", "false");
            set_empty(db, "added", "manual");
        }
        _ => {}
    }
}

/// §1.7: the agenda items of a change follow its approval. Approved while the item waits:
/// `preapproved` (and `complete` when the meeting completes pre-approved changes); approved
/// while it is discussed: `approved`; rejected: `rejected`. With `auto_add_agenda_decisions`
/// a line is added to the meeting notes. Meetings complete or canceled are left alone.
pub fn follow_change_approval(
    db: &mut Db,
    tc: usize,
    crow: u32,
    approval: &str,
    by: &str,
    at: &str,
) {
    if approval != "approved" && approval != "rejected" {
        return;
    }
    let (Some(ti), Some(tm)) = (db.table("cab_agenda_item"), db.table("cab_meeting")) else {
        return;
    };
    let chg = db.get(tc, crow, SYS_ID).to_string();
    let number = db.get(tc, crow, field(db, tc, "number")).to_string();
    let (f_task, f_state, f_decision, f_meeting) = (
        field(db, ti, "task"),
        field(db, ti, "state"),
        field(db, ti, "decision"),
        field(db, ti, "cab_meeting"),
    );
    let (fm_state, fm_complete, fm_auto, fm_notes) = (
        field(db, tm, "state"),
        field(db, tm, "complete_preapproved_changes"),
        field(db, tm, "auto_add_agenda_decisions"),
        field(db, tm, "meeting_notes"),
    );
    let by_name = db
        .table("sys_user")
        .and_then(|tu| {
            let fu = db.tables[tu].field("user_name")?;
            let fname = db.tables[tu].field("name")?;
            (0..db.tables[tu].rows.len() as u32)
                .find(|&r| db.get(tu, r, fu) == by)
                .map(|r| db.get(tu, r, fname).to_string())
        })
        .unwrap_or_else(|| by.to_string());
    let rows: Vec<u32> = (0..db.tables[ti].rows.len() as u32)
        .filter(|&r| db.get(ti, r, f_task) == chg)
        .collect();
    for r in rows {
        let Some(m) = db.find(tm, db.get(ti, r, f_meeting)) else {
            continue;
        };
        if matches!(db.get(tm, m, fm_state), "complete" | "canceled") {
            continue;
        }
        let state = db.get(ti, r, f_state).to_string();
        let decision = match (approval, state.as_str()) {
            ("rejected", _) => "rejected",
            ("approved", "pending") => "preapproved",
            ("approved", "in_progress" | "paused") => "approved",
            _ => continue,
        };
        if db.get(ti, r, f_decision) == decision {
            continue;
        }
        db.set(ti, r, f_decision, decision);
        if decision == "preapproved" && db.get(tm, m, fm_complete) == "true" {
            db.set(ti, r, f_state, "complete");
        }
        stamp_row(db, ti, r, by, at);
        if db.get(tm, m, fm_auto) == "true" {
            let label = match decision {
                "rejected" => "Rejected",
                "preapproved" => "Pre-approved",
                _ => "Approved",
            };
            let notes = format!(
                "{}<p>(CAB Automation) - {number} - {label} - {by_name} - {at} UTC</p>",
                db.get(tm, m, fm_notes)
            );
            db.set(tm, m, fm_notes, &notes);
            stamp_row(db, tm, m, by, at);
        }
    }
}

fn stamp_row(db: &mut Db, t: usize, row: u32, by: &str, at: &str) {
    let (fu, fb, fc) = (
        field(db, t, "sys_updated_on"),
        field(db, t, "sys_updated_by"),
        field(db, t, "sys_mod_count"),
    );
    db.set(t, row, fu, at);
    db.set(t, row, fb, by);
    let n: u64 = db.get(t, row, fc).parse().unwrap_or(0);
    db.set(t, row, fc, &(n + 1).to_string());
}
