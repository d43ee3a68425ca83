//! Table storage and field schema of the simulated instance.
//!
//! Models the Table API dictionary facts of `servicenow-api.md`: every value is stored as the
//! string the API returns in value mode (§0.1, §1.4, §1.9), fields have a type that decides how
//! display values are produced (choice labels §3.2/§4.2, reference display values, journals
//! §3.5/§7.2), and `change_request` extends `task` (§4.1), so change-only fields can be told apart
//! from task-level ones when dot-walking through a `task`-typed reference (§3.3).
//!
//! Storage is compact: every table keeps a `Vec` of rows, each row a boxed slice of `u32`
//! handles into one shared string pool ([`Interner`]); repeated strings (states, templates,
//! references) are stored once.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

/// Choice list: stored value → label.
pub type Choices = &'static [(&'static str, &'static str)];

/// Field type, as far as the wire format depends on it (§1.4).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    Int,
    Bool,
    DateTime,
    /// `glide_date` (`YYYY-MM-DD`, §1.9).
    Date,
    Choice(Choices),
    /// Reference. `link` is the table named in the `link` URL (`task` for
    /// `sysapproval_approver.sysapproval`, §3.6); `target` is the table the record lives in.
    Ref {
        link: &'static str,
        target: &'static str,
    },
    /// `journal_input` (`comments`, `work_notes`, `approval_history`): write-only in value mode.
    Journal,
    /// `glide_duration`: the value is the span as a time after the epoch
    /// (`1970-01-01 00:10:00` is ten minutes); the display value is `10 Minutes`.
    Duration,
    /// `glide_list` of references to one table: the value is their sys_ids joined by commas,
    /// the display value their display values joined by `, `.
    List(&'static str),
}

/// One dictionary entry.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: &'static str,
    /// Label used in journal headers (`<time> - <user> (<label>)`, §7.2).
    pub label: &'static str,
    pub kind: Kind,
    /// Defined on `task` (true) or only on the extending table (false, §4.1).
    pub task: bool,
}

impl Field {
    /// True when values compare numerically (integers and integer-valued choices, §1.3).
    pub fn numeric(&self) -> bool {
        match self.kind {
            Kind::Int => true,
            Kind::Choice(c) => c.iter().all(|(v, _)| v.parse::<i64>().is_ok()),
            _ => false,
        }
    }
    pub fn is_time(&self) -> bool {
        matches!(self.kind, Kind::DateTime | Kind::Date)
    }
}

/// Shared string pool. Handle 0 is always `""`.
#[derive(Default)]
pub struct Interner {
    list: Vec<Arc<str>>,
    map: HashMap<Arc<str>, u32>,
}

impl Interner {
    pub fn new() -> Self {
        let mut s = Self::default();
        s.intern("");
        s
    }
    /// Store a string that is likely to repeat (deduplicated).
    pub fn intern(&mut self, v: &str) -> u32 {
        if let Some(&i) = self.map.get(v) {
            return i;
        }
        let a: Arc<str> = Arc::from(v);
        let i = self.list.len() as u32;
        self.list.push(a.clone());
        self.map.insert(a, i);
        i
    }
    /// Store a string that is (nearly) unique, e.g. a sys_id or a timestamp (no dedup map entry).
    pub fn push_unique(&mut self, v: &str) -> u32 {
        if v.is_empty() {
            return 0;
        }
        let i = self.list.len() as u32;
        self.list.push(Arc::from(v));
        i
    }
    pub fn get(&self, i: u32) -> &str {
        &self.list[i as usize]
    }
    pub fn arc(&self, i: u32) -> Arc<str> {
        self.list[i as usize].clone()
    }
}

/// A table: dictionary plus rows.
pub struct Table {
    pub name: &'static str,
    pub fields: Vec<Field>,
    pub index: HashMap<&'static str, usize>,
    /// Field whose value is the record's display value (name, number, ...).
    pub display: usize,
    pub rows: Vec<Box<[u32]>>,
    pub by_id: HashMap<Arc<str>, u32>,
    /// The sys_ids in order: the primary key's index, which a database walks for a query
    /// ordered by `sys_id` (see `Query::key_range`).
    pub keys: BTreeSet<Arc<str>>,
}

impl Table {
    pub fn new(name: &'static str, fields: Vec<Field>, display: &str) -> Table {
        let index: HashMap<&'static str, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect();
        let display = index[display];
        Table {
            name,
            fields,
            index,
            display,
            rows: Vec::new(),
            by_id: HashMap::new(),
            keys: BTreeSet::new(),
        }
    }
    pub fn field(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// One journal entry (§3.5, §7.2).
#[derive(Clone, Debug)]
pub struct JournalEntry {
    pub field: usize,
    pub at: String,
    /// Full name, as shown in the journal header.
    pub author: String,
    /// `user_name` of the author (`sys_journal_field.sys_created_by`).
    pub user: String,
    pub text: String,
}

/// A resolved (possibly dot-walked) field path: `(table, field)` per step; every step but the
/// last is a reference.
#[derive(Clone, Debug)]
pub struct Path {
    pub steps: Vec<(usize, usize)>,
}

/// Display mode of `sysparm_display_value` (§1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Value,
    Display,
    All,
}

/// Per-request rendering options.
pub struct RenderCtx<'a> {
    pub mode: Mode,
    pub exclude_links: bool,
    /// `http://host:port` used in reference links.
    pub base: &'a str,
    /// The requesting user's time zone (`sys_user.time_zone`): date-time display values are
    /// in it; values stay UTC (§1.9).
    pub zone: &'a str,
}

/// The offset from UTC, in seconds, of `zone` at `utc` (seconds since the epoch), for the
/// zones the sim's users live in (EU summer time from the last Sunday of March to the last
/// Sunday of October, 01:00 UTC); any other zone is UTC.
pub fn zone_offset(zone: &str, utc: i64) -> i64 {
    let eu_summer = || {
        let (y, _, _) = civil_from_days(utc.div_euclid(86_400));
        let last_sunday = |m: i64| {
            let d = days_from_civil(y, m, 31);
            d - (d + 4).rem_euclid(7)
        };
        let start = last_sunday(3) * 86_400 + 3_600;
        let end = last_sunday(10) * 86_400 + 3_600;
        (start..end).contains(&utc)
    };
    let (winter, summer) = match zone {
        "Asia/Tokyo" => (9, 9),
        "America/Mexico_City" => (-6, -6),
        "Europe/London" | "Europe/Dublin" | "Europe/Lisbon" => (0, 1),
        "Europe/Madrid" | "Europe/Stockholm" | "Europe/Paris" | "Europe/Berlin"
        | "Europe/Amsterdam" | "Europe/Rome" => (1, 2),
        _ => (0, 0),
    };
    3_600
        * if summer != winter && eu_summer() {
            summer
        } else {
            winter
        }
}

/// The whole database.
pub struct Db {
    pub strings: Interner,
    pub tables: Vec<Table>,
    pub journals: HashMap<(usize, u32), Vec<JournalEntry>>,
    /// Approval rows (of `sysapproval_approver`) made `not_required` by putting a change on
    /// hold, by change row; consumed on release (§4.3).
    pub held: HashMap<u32, Vec<u32>>,
}

pub const SYS_ID: usize = 0;

impl Db {
    pub fn new(tables: Vec<Table>) -> Db {
        Db {
            strings: Interner::new(),
            tables,
            journals: HashMap::new(),
            held: HashMap::new(),
        }
    }
    pub fn table(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }
    pub fn get(&self, t: usize, row: u32, f: usize) -> &str {
        self.strings.get(self.tables[t].rows[row as usize][f])
    }
    pub fn find(&self, t: usize, sys_id: &str) -> Option<u32> {
        self.tables[t].by_id.get(sys_id).copied()
    }
    /// Set one field (no side effects, no stamping).
    pub fn set(&mut self, t: usize, row: u32, f: usize, v: &str) {
        let h = if v.len() > 40 || self.tables[t].fields[f].is_time() || f == SYS_ID {
            self.strings.push_unique(v)
        } else {
            self.strings.intern(v)
        };
        self.tables[t].rows[row as usize][f] = h;
    }
    /// Insert a row from name/value pairs (unknown names ignored). `sys_id` must be among them.
    pub fn insert(&mut self, t: usize, vals: &[(&str, &str)]) -> u32 {
        let n = self.tables[t].fields.len();
        let mut row = vec![0u32; n].into_boxed_slice();
        for (name, v) in vals {
            if let Some(f) = self.tables[t].field(name) {
                row[f] = if f == SYS_ID || self.tables[t].fields[f].is_time() {
                    self.strings.push_unique(v)
                } else {
                    self.strings.intern(v)
                };
            }
        }
        let id = self.strings.arc(row[SYS_ID]);
        let tab = &mut self.tables[t];
        let r = tab.rows.len() as u32;
        tab.rows.push(row);
        tab.keys.insert(id.clone());
        tab.by_id.insert(id, r);
        r
    }
    /// Delete a row (DELETE, §6.4). Later rows move up one place; the sys_id index and the
    /// journal keys of the table follow. Rows of other tables are not affected.
    pub fn remove(&mut self, t: usize, row: u32) {
        let tab = &mut self.tables[t];
        if row as usize >= tab.rows.len() {
            return;
        }
        let gone = tab.rows.remove(row as usize);
        tab.by_id.remove(self.strings.get(gone[SYS_ID]));
        tab.keys.remove(self.strings.get(gone[SYS_ID]));
        for v in tab.by_id.values_mut() {
            if *v > row {
                *v -= 1;
            }
        }
        let keys: Vec<(usize, u32)> = self
            .journals
            .keys()
            .filter(|(jt, jr)| *jt == t && *jr >= row)
            .copied()
            .collect();
        let mut moved: Vec<((usize, u32), Vec<JournalEntry>)> = keys
            .into_iter()
            .filter_map(|k| self.journals.remove(&k).map(|v| (k, v)))
            .collect();
        moved.sort_by_key(|(k, _)| k.1);
        for ((jt, jr), v) in moved {
            if jr > row {
                self.journals.insert((jt, jr - 1), v);
            }
        }
    }
    pub fn add_journal(&mut self, t: usize, row: u32, e: JournalEntry) {
        self.journals.entry((t, row)).or_default().push(e);
    }

    /// Resolve a field name, possibly dot-walked (`sysapproval.number`, §1.2/§1.3). Unknown
    /// names give `None`. Through a `task`-typed reference, change-only fields resolve only
    /// when `change_fields` is set (§3.3, UNVERIFIED behaviour → config switch).
    pub fn resolve(&self, t: usize, name: &str, change_fields: bool) -> Option<Path> {
        let mut steps = Vec::new();
        let mut cur = t;
        let mut via_task = false;
        let parts: Vec<&str> = name.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            let f = self.tables[cur].field(p)?;
            let fd = &self.tables[cur].fields[f];
            if via_task && !change_fields && !fd.task {
                return None;
            }
            steps.push((cur, f));
            if i + 1 < parts.len() {
                match fd.kind {
                    Kind::Ref { link, target } => {
                        via_task = link == "task";
                        cur = self.table(target)?;
                    }
                    _ => return None,
                }
            }
        }
        Some(Path { steps })
    }

    /// Follow a path from `row` of its first table: the record and field holding the final value.
    pub fn walk(&self, path: &Path, row: u32) -> Option<(usize, u32, usize)> {
        let mut row = row;
        let last = path.steps.len() - 1;
        for (i, &(t, f)) in path.steps.iter().enumerate() {
            if i == last {
                return Some((t, row, f));
            }
            let id = self.get(t, row, f);
            if id.is_empty() {
                return None;
            }
            let next = path.steps[i + 1].0;
            row = self.find(next, id)?;
        }
        None
    }

    /// Value-mode string at a path (`""` when a reference on the way is empty).
    pub fn value_at(&self, path: &Path, row: u32) -> &str {
        match self.walk(path, row) {
            Some((t, r, f)) => {
                if matches!(self.tables[t].fields[f].kind, Kind::Journal) {
                    ""
                } else {
                    self.get(t, r, f)
                }
            }
            None => "",
        }
    }

    /// Display value of a whole record (name, number, ...). A delegation (§6) shows as
    /// `<user name> → <delegate name>`.
    pub fn record_display(&self, t: usize, row: u32) -> String {
        let tab = &self.tables[t];
        if tab.name == "sys_user_delegate"
            && let (Some(fu), Some(fd)) = (tab.field("user"), tab.field("delegate"))
        {
            return format!(
                "{} \u{2192} {}",
                self.display_of(t, row, fu),
                self.display_of(t, row, fd)
            );
        }
        let f = tab.display;
        self.display_of(t, row, f)
    }

    /// Display string of one field (choice label, reference display value, journal history).
    pub fn display_of(&self, t: usize, row: u32, f: usize) -> String {
        let fd = &self.tables[t].fields[f];
        let v = self.get(t, row, f);
        match fd.kind {
            Kind::Choice(c) => c
                .iter()
                .find(|(cv, _)| *cv == v)
                .map(|(_, l)| l.to_string())
                .unwrap_or_else(|| v.to_string()),
            Kind::Ref { target, .. } => {
                if v.is_empty() {
                    return String::new();
                }
                match self
                    .table(target)
                    .and_then(|tt| Some((tt, self.find(tt, v)?)))
                {
                    Some((tt, r)) => {
                        let df = self.tables[tt].display;
                        if self.tables[tt].name == "sys_user_delegate" {
                            self.record_display(tt, r)
                        } else if matches!(self.tables[tt].fields[df].kind, Kind::Ref { .. }) {
                            self.get(tt, r, df).to_string()
                        } else {
                            self.display_of(tt, r, df)
                        }
                    }
                    None => String::new(),
                }
            }
            Kind::Journal => self.journal_text(t, row, f),
            Kind::Duration => parse_ts(v).map_or(v.to_string(), duration_display),
            Kind::List(target) => {
                let Some(tt) = self.table(target) else {
                    return v.to_string();
                };
                let df = self.tables[tt].display;
                v.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .filter_map(|id| self.find(tt, id).map(|r| self.display_of(tt, r, df)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            _ => v.to_string(),
        }
    }

    /// Concatenated journal history, newest first, entries separated by a blank line (§7.2).
    pub fn journal_text(&self, t: usize, row: u32, f: usize) -> String {
        let mut out = String::new();
        if let Some(list) = self.journals.get(&(t, row)) {
            let label = self.tables[t].fields[f].label;
            for e in list.iter().rev().filter(|e| e.field == f) {
                out.push_str(&format!(
                    "{} - {} ({})\n{}\n\n",
                    e.at, e.author, label, e.text
                ));
            }
        }
        out
    }

    /// One field of one record in the shape the display mode asks for (§1.4 table), ready to
    /// be written.
    fn field_out(&self, ctx: &RenderCtx, t: usize, row: u32, f: usize) -> FieldOut<'_> {
        let fd = &self.tables[t].fields[f];
        let v = self.get(t, row, f);
        let value = Cow::Borrowed(v);
        match fd.kind {
            Kind::Ref { link, .. } => {
                if v.is_empty() {
                    return FieldOut::empty(ctx.mode);
                }
                let url = || format!("{}/api/now/table/{}/{}", ctx.base, link, v);
                let dv = || Cow::Owned(self.display_of(t, row, f));
                match (ctx.mode, ctx.exclude_links) {
                    (Mode::Value, true) => FieldOut::Plain(value),
                    (Mode::Value, false) => FieldOut::ValueLink { link: url(), value },
                    (Mode::Display, true) => FieldOut::Plain(dv()),
                    (Mode::Display, false) => FieldOut::DisplayLink {
                        display_value: dv(),
                        link: url(),
                    },
                    (Mode::All, true) => FieldOut::All {
                        display_value: dv(),
                        value,
                    },
                    (Mode::All, false) => FieldOut::AllLink {
                        display_value: dv(),
                        link: url(),
                        value,
                    },
                }
            }
            Kind::Journal => match ctx.mode {
                Mode::Value => FieldOut::Plain(Cow::Borrowed("")),
                Mode::Display => FieldOut::Plain(Cow::Owned(self.journal_text(t, row, f))),
                Mode::All => FieldOut::All {
                    display_value: Cow::Owned(self.journal_text(t, row, f)),
                    value: Cow::Borrowed(""),
                },
            },
            Kind::DateTime if !ctx.zone.is_empty() => {
                let dv = parse_ts(v).map_or_else(
                    || v.to_string(),
                    |utc| fmt_ts(utc + zone_offset(ctx.zone, utc)),
                );
                match ctx.mode {
                    Mode::Value => FieldOut::Plain(value),
                    Mode::Display => FieldOut::Plain(Cow::Owned(dv)),
                    Mode::All => FieldOut::All {
                        display_value: Cow::Owned(dv),
                        value,
                    },
                }
            }
            _ => match ctx.mode {
                Mode::Value => FieldOut::Plain(value),
                Mode::Display => FieldOut::Plain(Cow::Owned(self.display_of(t, row, f))),
                Mode::All => FieldOut::All {
                    display_value: Cow::Owned(self.display_of(t, row, f)),
                    value,
                },
            },
        }
    }

    /// A path (dot-walked or not); an empty reference on the way renders as empty.
    fn path_out(&self, ctx: &RenderCtx, path: &Path, row: u32) -> FieldOut<'_> {
        match self.walk(path, row) {
            Some((t, r, f)) => self.field_out(ctx, t, r, f),
            None => FieldOut::empty(ctx.mode),
        }
    }

    /// Render a record: every field, or the `sysparm_fields` list (unknown names dropped,
    /// dotted names under their literal key, §1.2).
    pub fn render_row(
        &self,
        ctx: &RenderCtx,
        t: usize,
        row: u32,
        fields: Option<&[(String, Path)]>,
    ) -> Value {
        serde_json::to_value(self.row_out(ctx, t, row, fields)).unwrap_or(Value::Null)
    }

    /// A record as [`Db::render_row`] renders it, written as it is serialised (a list page
    /// is written straight to its body, without a map per row and per field): its members
    /// in name order, a repeated name once.
    pub fn row_out(
        &self,
        ctx: &RenderCtx,
        t: usize,
        row: u32,
        fields: Option<&[(String, Path)]>,
    ) -> RowOut<'_> {
        let mut members: Vec<(Cow<'_, str>, FieldOut<'_>)> = match fields {
            None => (0..self.tables[t].fields.len())
                .map(|f| {
                    let name = Cow::Borrowed(self.tables[t].fields[f].name);
                    (name, self.field_out(ctx, t, row, f))
                })
                .collect(),
            Some(list) => list
                .iter()
                .map(|(name, path)| (Cow::Owned(name.clone()), self.path_out(ctx, path, row)))
                .collect(),
        };
        // As a map keeps them: by name, the last of a repeated one.
        members.reverse();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|later, first| later.0 == first.0);
        RowOut(members)
    }
}

/// One field as it is written (§1.4): a plain string, or an object of the display value, the
/// link and the value (members in name order).
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum FieldOut<'a> {
    Plain(Cow<'a, str>),
    All {
        display_value: Cow<'a, str>,
        value: Cow<'a, str>,
    },
    AllLink {
        display_value: Cow<'a, str>,
        link: String,
        value: Cow<'a, str>,
    },
    ValueLink {
        link: String,
        value: Cow<'a, str>,
    },
    DisplayLink {
        display_value: Cow<'a, str>,
        link: String,
    },
}

impl FieldOut<'_> {
    /// An empty reference (or a dot-walk through one).
    fn empty(mode: Mode) -> Self {
        match mode {
            Mode::All => FieldOut::All {
                display_value: Cow::Borrowed(""),
                value: Cow::Borrowed(""),
            },
            _ => FieldOut::Plain(Cow::Borrowed("")),
        }
    }
}

/// A record's members, written as a JSON object.
pub struct RowOut<'a>(Vec<(Cow<'a, str>, FieldOut<'a>)>);

impl serde::Serialize for RowOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Dictionary (§3.1, §4.1, §7.1)
// ---------------------------------------------------------------------------------------------

/// `sysapproval_approver.state` and `task.approval` choices (§3.2, §4.2).
pub const APPROVAL_STATES: Choices = &[
    ("not requested", "Not Yet Requested"),
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("cancelled", "Cancelled"),
    ("not_required", "No Longer Required"),
    ("skipped", "Skipped"),
    ("duplicate", "Duplicate"),
];
/// `change_request.state` (§4.2).
pub const CHANGE_STATES: Choices = &[
    ("-5", "New"),
    ("-4", "Assess"),
    ("-3", "Authorize"),
    ("-2", "Scheduled"),
    ("-1", "Implement"),
    ("0", "Review"),
    ("3", "Closed"),
    ("4", "Canceled"),
];
/// `task_sla.stage` (domain §2.1; `breached` and `achieved` only in the old engine).
pub const SLA_STAGES: Choices = &[
    ("in_progress", "In progress"),
    ("paused", "Paused"),
    ("cancelled", "Cancelled"),
    ("completed", "Completed"),
];
/// `change_request.risk` (§4.2; domain §5.1).
pub const RISK: Choices = &[
    ("1", "Very High"),
    ("2", "High"),
    ("3", "Moderate"),
    ("4", "Low"),
];
/// `impact` / `urgency` (§4.2).
pub const IMPACT: Choices = &[("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")];
/// `priority` (§4.2).
pub const PRIORITY: Choices = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];
pub const CHANGE_TYPES: Choices = &[
    ("standard", "Standard"),
    ("normal", "Normal"),
    ("emergency", "Emergency"),
];
pub const CLOSE_CODES: Choices = &[
    ("successful", "Successful"),
    ("successful_issues", "Successful with issues"),
    ("unsuccessful", "Unsuccessful"),
];
pub const UPON_APPROVAL: Choices = &[
    ("proceed", "Proceed to Next Task"),
    ("do_nothing", "Wait for a User to Close this task"),
];
pub const UPON_REJECT: Choices = &[
    ("cancel", "Cancel all future Tasks"),
    ("goto", "Go to a previous Task"),
];
pub const OPERATIONAL_STATUS: Choices = &[
    ("1", "Operational"),
    ("2", "Non-Operational"),
    ("3", "Repair in Progress"),
    ("6", "Retired"),
];

fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        task: true,
    }
}
/// A field defined on `change_request` only (not on `task`).
fn c(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        task: false,
    }
}
const fn r(target: &'static str) -> Kind {
    Kind::Ref {
        link: target,
        target,
    }
}

fn with_sys(mut v: Vec<Field>) -> Vec<Field> {
    v.insert(0, f("sys_id", "Sys ID", Kind::Str));
    v.extend([
        f("sys_created_on", "Created", Kind::DateTime),
        f("sys_created_by", "Created by", Kind::Str),
        f("sys_updated_on", "Updated", Kind::DateTime),
        f("sys_updated_by", "Updated by", Kind::Str),
        f("sys_mod_count", "Updates", Kind::Int),
    ]);
    v
}

/// `cab_meeting.state` (domain §1.3).
pub const MEETING_STATES: Choices = &[
    ("pending", "Pending"),
    ("in_progress", "In Progress"),
    ("complete", "Complete"),
    ("canceled", "Canceled"),
];
/// `cab_agenda_item.state` (domain §1.4).
pub const AGENDA_STATES: Choices = &[
    ("pending", "Pending"),
    ("in_progress", "In Progress"),
    ("paused", "Paused"),
    ("complete", "Complete"),
    ("no_decision", "No Decision"),
];
/// `cab_agenda_item.decision` (domain §1.4); empty is undecided.
pub const AGENDA_DECISIONS: Choices = &[
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("preapproved", "Pre-approved"),
];
/// `cab_attendee.reason` (domain §1.5).
pub const ATTENDEE_REASONS: Choices = &[
    ("cab_manager", "CAB Manager"),
    ("cab_board", "CAB Board Member"),
    ("attendee", "Attendee"),
];
/// `cab_attendee.attendance` (domain §1.5; only these two are known).
pub const ATTENDANCE: Choices = &[
    ("attending", "Attending"),
    ("not_attending", "Not Attending"),
];

/// All simulated tables, in a fixed order.
pub fn schema() -> Vec<Table> {
    use Kind::*;
    let sys_user = with_sys(vec![
        f("user_name", "User ID", Str),
        f("name", "Name", Str),
        f("first_name", "First name", Str),
        f("last_name", "Last name", Str),
        f("email", "Email", Str),
        f("title", "Title", Str),
        f("active", "Active", Bool),
        f("locked_out", "Locked out", Bool),
        f("manager", "Manager", r("sys_user")),
        f("time_zone", "Time zone", Str),
        f("date_format", "Date format", Str),
        f("time_format", "Time format", Str),
        f("roles", "Roles", Str),
        f("web_service_access_only", "Web service access only", Bool),
    ]);
    let sys_user_group = with_sys(vec![
        f("name", "Name", Str),
        f("description", "Description", Str),
        f("manager", "Manager", r("sys_user")),
        f("email", "Group email", Str),
        f("active", "Active", Bool),
    ]);
    let cmdb_ci = with_sys(vec![
        f("name", "Name", Str),
        f("sys_class_name", "Class", Str),
        f(
            "operational_status",
            "Operational status",
            Choice(OPERATIONAL_STATUS),
        ),
        f("environment", "Environment", Str),
    ]);
    let task_ref = Ref {
        link: "task",
        target: "change_request",
    };
    let change_request = with_sys(vec![
        f("number", "Number", Str),
        // The record's class: what a read through `task` tells it by.
        f("sys_class_name", "Class", Str),
        f("short_description", "Short description", Str),
        f("description", "Description", Str),
        f("state", "State", Choice(CHANGE_STATES)),
        f("approval", "Approval", Choice(APPROVAL_STATES)),
        f("impact", "Impact", Choice(IMPACT)),
        f("urgency", "Urgency", Choice(IMPACT)),
        f("priority", "Priority", Choice(PRIORITY)),
        f("active", "Active", Bool),
        f("assignment_group", "Assignment group", r("sys_user_group")),
        f("assigned_to", "Assigned to", r("sys_user")),
        f("cmdb_ci", "Configuration item", r("cmdb_ci")),
        f("business_service", "Service", Str),
        f("opened_by", "Opened by", r("sys_user")),
        f("opened_at", "Opened", DateTime),
        f("closed_at", "Closed", DateTime),
        f("sys_class_name", "Task type", Str),
        f("upon_approval", "Upon approval", Choice(UPON_APPROVAL)),
        f("upon_reject", "Upon reject", Choice(UPON_REJECT)),
        f("comments", "Additional comments", Journal),
        f("work_notes", "Work notes", Journal),
        f("approval_history", "Approval history", Journal),
        c("type", "Type", Choice(CHANGE_TYPES)),
        c("requested_by", "Requested by", r("sys_user")),
        c("start_date", "Planned start date", DateTime),
        c("end_date", "Planned end date", DateTime),
        c("implementation_plan", "Implementation plan", Str),
        c("backout_plan", "Backout plan", Str),
        c("test_plan", "Test plan", Str),
        c("justification", "Justification", Str),
        c("risk_impact_analysis", "Risk and impact analysis", Str),
        c("risk", "Risk", Choice(RISK)),
        c("category", "Category", Str),
        c("cab_required", "CAB required", Bool),
        c("cab_date", "CAB date", Date),
        c("cab_recommendation", "CAB recommendation", Str),
        c("conflict_status", "Conflict status", Str),
        c("on_hold", "On hold", Bool),
        c("on_hold_reason", "On hold reason", Str),
        c("close_code", "Close code", Choice(CLOSE_CODES)),
        c("close_notes", "Close notes", Str),
    ]);
    let sysapproval_group = with_sys(vec![
        f("number", "Number", Str),
        f("short_description", "Short description", Str),
        f("parent", "Parent", task_ref),
        f("assignment_group", "Assignment group", r("sys_user_group")),
        f("approval", "Approval", Choice(APPROVAL_STATES)),
        f("active", "Active", Bool),
    ]);
    let sysapproval_approver = with_sys(vec![
        f("approver", "Approver", r("sys_user")),
        f("state", "State", Choice(APPROVAL_STATES)),
        f("sysapproval", "Approval for", task_ref),
        f("document_id", "Approving", r("change_request")),
        f("source_table", "Source table", Str),
        f("group", "Group", r("sysapproval_group")),
        f("comments", "Comments", Journal),
        f("due_date", "Due date", DateTime),
        f("expected_start", "Expected start", DateTime),
        f("approval_column", "Approval column", Str),
        f("approval_journal_column", "Approval journal column", Str),
        f("approval_source", "Approval source", Str),
        f("iteration", "Iteration", Int),
        f("order", "Order", Int),
    ]);
    // §7.2 option B: one row per journal entry written through the sim (seeded history has
    // none). Only the fields the reference shows.
    let sys_journal_field = vec![
        f("sys_id", "Sys ID", Str),
        f("element_id", "Element ID", Str),
        f("element", "Element", Str),
        f("name", "Table name", Str),
        f("value", "Value", Str),
        f("sys_created_on", "Created", DateTime),
        f("sys_created_by", "Created by", Str),
    ];
    // A change's attached files: their names, sizes and types (no content).
    let sys_attachment = with_sys(vec![
        f("file_name", "File name", Str),
        f("content_type", "Content type", Str),
        f("size_bytes", "Size bytes", Int),
        f("table_name", "Table name", Str),
        f("table_sys_id", "Table sys ID", Str),
    ]);
    // Domain §2.2: an SLA definition.
    let contract_sla = with_sys(vec![
        f("name", "Name", Str),
        f("collection", "Table", Str),
        f("target", "Target", Str),
        f("duration", "Duration", Duration),
        f("schedule", "Schedule", Str),
        f("timezone", "Timezone", Str),
    ]);
    // Domain §2.1: one row per SLA attached to a task.
    let task_sla = with_sys(vec![
        f(
            "task",
            "Task",
            Kind::Ref {
                link: "task",
                target: "change_request",
            },
        ),
        f("sla", "SLA definition", r("contract_sla")),
        f("stage", "Stage", Choice(SLA_STAGES)),
        f("active", "Active", Bool),
        f("start_time", "Start time", DateTime),
        f("end_time", "Stop time", DateTime),
        f("planned_end_time", "Breach time", DateTime),
        f("original_breach_time", "Original breach time", DateTime),
        f("has_breached", "Has breached", Bool),
        f("percentage", "Actual elapsed percentage", Str),
        f("business_percentage", "Business elapsed percentage", Str),
        f("time_left", "Actual time left", Duration),
        f("business_time_left", "Business time left", Duration),
        f("duration", "Actual elapsed time", Duration),
        f("business_duration", "Business elapsed time", Duration),
        f("pause_duration", "Actual elapsed pause", Duration),
        f("schedule", "Schedule", Str),
        f("timezone", "Timezone", Str),
    ]);
    // §6.1: one row per delegation; `user` delegates to `delegate` within [starts, ends].
    let sys_user_delegate = with_sys(vec![
        f("user", "User", r("sys_user")),
        f("delegate", "Delegate", r("sys_user")),
        f("starts", "Starts", DateTime),
        f("ends", "Ends", DateTime),
        f("approvals", "Approvals", Bool),
        f("assignments", "Assignments", Bool),
        f("notifications", "All notifications", Bool),
        f("invitations", "Meeting invitations", Bool),
    ]);
    // Domain §1.3–§1.6: the CAB Workbench's tables, read and written over the Table API.
    let cab_meeting = with_sys(vec![
        f("name", "Name", Str),
        f("manager", "Manager", r("sys_user")),
        f("delegates", "Delegates", List("sys_user")),
        f("board_members", "Board members", List("sys_user")),
        f("board_groups", "Board groups", List("sys_user_group")),
        f("state", "State", Choice(MEETING_STATES)),
        f("start", "Meeting start time", DateTime),
        f("end", "Meeting end time", DateTime),
        f("actual_end", "Actual end", DateTime),
        f("meeting_notes", "Meeting notes", Str),
        f("time_per_agenda_item", "Time per agenda item", Duration),
        f(
            "complete_preapproved_changes",
            "Complete pre-approved changes",
            Bool,
        ),
        f(
            "auto_add_agenda_decisions",
            "Add agenda decisions to notes",
            Bool,
        ),
        f("agenda_locked", "Agenda locked", Bool),
        f("conference_details", "Conference details", Str),
        f(
            "change_range_start",
            "Change requests starting after",
            DateTime,
        ),
        f(
            "change_range_end",
            "Change requests starting on or before",
            DateTime,
        ),
    ]);
    let cab_agenda_item = with_sys(vec![
        f("cab_meeting", "CAB meeting", r("cab_meeting")),
        f("task", "Task", task_ref),
        f("order", "Order", Int),
        f("state", "State", Choice(AGENDA_STATES)),
        f("decision", "Decision", Choice(AGENDA_DECISIONS)),
        f("alotted_time", "Allotted time", Duration),
        f("elapsed_time", "Elapsed time", Duration),
        f("short_description", "Short description", Str),
        f("added", "Added", Str),
        f("notification_sent", "Notification sent", Bool),
    ]);
    let cab_attendee = with_sys(vec![
        f("cab_meeting", "CAB meeting", r("cab_meeting")),
        f("attendee", "Attendee", r("sys_user")),
        f("reason", "Reason", Choice(ATTENDEE_REASONS)),
        f("added", "Added", Str),
        f("attending_for_tasks", "Attending for", Str),
        f("attendance", "Attendance", Choice(ATTENDANCE)),
        f("invite_sent", "Invite sent", Bool),
        f("joined_at", "Joined at", DateTime),
    ]);
    let cab_runtime_state = with_sys(vec![
        f("cab_meeting", "CAB meeting", r("cab_meeting")),
        f(
            "current_agenda_item",
            "Current agenda item",
            r("cab_agenda_item"),
        ),
        f(
            "current_agenda_item_start",
            "Current agenda item start",
            DateTime,
        ),
        f("timer_state", "Timer state", Str),
        f("agenda_update_at", "Agenda updated at", DateTime),
        f("host", "Host", r("sys_user")),
    ]);
    // What generic clients probe: a small incident table, and the schema of every table
    // served (sys_db_object, sys_dictionary, sys_choice), filled from these definitions.
    let incident = with_sys(vec![
        f("number", "Number", Str),
        f("short_description", "Short description", Str),
        f("description", "Description", Str),
        f("state", "State", Choice(INCIDENT_STATES)),
        f("priority", "Priority", Choice(PRIORITIES)),
        f("caller_id", "Caller", r("sys_user")),
        f("assignment_group", "Assignment group", r("sys_user_group")),
        f("opened_at", "Opened", DateTime),
    ]);
    let sys_db_object = with_sys(vec![
        f("name", "Name", Str),
        f("label", "Label", Str),
        f("super_class", "Extends table", r("sys_db_object")),
    ]);
    let sys_dictionary = with_sys(vec![
        f("name", "Table", Str),
        f("element", "Column name", Str),
        f("column_label", "Column label", Str),
        f("internal_type", "Type", Str),
        f("reference", "Reference", Str),
    ]);
    let sys_choice = with_sys(vec![
        f("name", "Table", Str),
        f("element", "Element", Str),
        f("value", "Value", Str),
        f("label", "Label", Str),
        f("sequence", "Sequence", Int),
        f("inactive", "Inactive", Bool),
    ]);
    vec![
        Table::new("sys_user", sys_user, "name"),
        Table::new("sys_user_group", sys_user_group, "name"),
        Table::new("cmdb_ci", cmdb_ci, "name"),
        Table::new("change_request", change_request, "number"),
        Table::new("sysapproval_group", sysapproval_group, "number"),
        Table::new("sysapproval_approver", sysapproval_approver, "sysapproval"),
        Table::new("sys_journal_field", sys_journal_field, "value"),
        Table::new("sys_attachment", sys_attachment, "file_name"),
        Table::new("contract_sla", contract_sla, "name"),
        Table::new("task_sla", task_sla, "sla"),
        Table::new("sys_user_delegate", sys_user_delegate, "user"),
        Table::new("cab_meeting", cab_meeting, "name"),
        Table::new("cab_agenda_item", cab_agenda_item, "short_description"),
        Table::new("cab_attendee", cab_attendee, "attendee"),
        Table::new("cab_runtime_state", cab_runtime_state, "cab_meeting"),
        Table::new("incident", incident, "number"),
        Table::new("sys_db_object", sys_db_object, "name"),
        Table::new("sys_dictionary", sys_dictionary, "column_label"),
        Table::new("sys_choice", sys_choice, "label"),
    ]
}

/// `incident.state`.
pub const INCIDENT_STATES: Choices = &[
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];
/// `incident.priority`.
pub const PRIORITIES: Choices = &[
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
];

/// The dictionary type of a field, as `sys_dictionary.internal_type` names it.
pub fn internal_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::Str | Kind::Choice(_) => "string",
        Kind::Int => "integer",
        Kind::Bool => "boolean",
        Kind::DateTime => "glide_date_time",
        Kind::Date => "glide_date",
        Kind::Ref { .. } => "reference",
        Kind::Journal => "journal_input",
        Kind::Duration => "glide_duration",
        Kind::List(_) => "glide_list",
    }
}

// ---------------------------------------------------------------------------------------------
// Time helpers (value format `YYYY-MM-DD HH:MM:SS` UTC, §1.9), allocation-light for big N.
// ---------------------------------------------------------------------------------------------

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Format UNIX seconds as `YYYY-MM-DD HH:MM:SS`.
/// A duration as the platform shows it: `1 Day 2 Hours 5 Minutes`, `10 Minutes`, `0 Seconds`.
pub fn duration_display(secs: i64) -> String {
    let secs = secs.max(0);
    let parts = [
        (secs / 86400, "Day"),
        (secs % 86400 / 3600, "Hour"),
        (secs % 3600 / 60, "Minute"),
        (secs % 60, "Second"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if shown.is_empty() {
        "0 Seconds".into()
    } else {
        shown.join(" ")
    }
}

pub fn fmt_ts(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        y,
        m,
        d,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Format UNIX seconds as `YYYY-MM-DD`.
pub fn fmt_date(secs: i64) -> String {
    fmt_ts(secs)[..10].to_string()
}

/// Parse `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`, midnight) as UNIX seconds.
pub fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 10 && b.len() != 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86400;
    if b.len() == 19 {
        if b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + se;
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ts_roundtrip() {
        let s = "2026-11-25 10:00:00";
        assert_eq!(fmt_ts(parse_ts(s).unwrap()), s);
        assert_eq!(parse_ts("1970-01-01"), Some(0));
        assert_eq!(parse_ts("2024-02-30 1:00:00"), None);
    }
}
