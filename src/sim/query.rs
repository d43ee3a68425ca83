//! Encoded-query parser and evaluator (`sysparm_query`, `servicenow-api.md` §1.3).
//!
//! Grammar: conditions `<field><OP><value>` joined by `^` (AND) and `^OR` (OR with the condition
//! before it); `^NQ` starts a new query ORed with everything before; `ORDERBY<field>` and
//! `ORDERBYDESC<field>` sort (stable, several allowed). Fields may be dot-walked
//! (`sysapproval.number`). Unknown fields drop their condition silently (the platform default,
//! §1.3); an unknown operator after a field name is a 400 error (never match-everything).
//! Comparisons are typed: integers and integer choices numerically, date-times as instants,
//! references on sys_id, booleans on `"true"`/`"false"`.

use std::cmp::Ordering;
use std::ops::Bound;

use super::table::{Db, Path, SYS_ID, parse_ts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    StartsWith,
    EndsWith,
    Like,
    NotLike,
    IsEmpty,
    IsNotEmpty,
    Anything,
    EmptyString,
    Between,
    SameAs,
    NSameAs,
    /// `VALCHANGES`, `CHANGESFROM`, `CHANGESTO`: only meaningful inside business rules; a read
    /// never sees a change in progress, so they match nothing.
    Never,
}

/// Operators, longest spelling first where one is a prefix of another.
const OPS: &[(&str, Op)] = &[
    ("NOT IN", Op::NotIn),
    ("NOTLIKE", Op::NotLike),
    ("STARTSWITH", Op::StartsWith),
    ("ENDSWITH", Op::EndsWith),
    ("LIKE", Op::Like),
    ("ISEMPTY", Op::IsEmpty),
    ("ISNOTEMPTY", Op::IsNotEmpty),
    ("ANYTHING", Op::Anything),
    ("EMPTYSTRING", Op::EmptyString),
    ("BETWEEN", Op::Between),
    ("NSAMEAS", Op::NSameAs),
    ("SAMEAS", Op::SameAs),
    ("VALCHANGES", Op::Never),
    ("CHANGESFROM", Op::Never),
    ("CHANGESTO", Op::Never),
    ("IN", Op::In),
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
];

#[derive(Clone, Debug)]
struct Cond {
    path: Path,
    op: Op,
    values: Vec<String>,
    other: Option<Path>,
    numeric: bool,
    time: bool,
}

/// What an invalid part of an encoded query (an unknown operator, a malformed condition)
/// does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvalidQuery {
    /// Ignored, as an instance does by default (the rest of the query applies).
    #[default]
    Ignore,
    /// The query matches no rows: `glide.invalid_query.returns_no_rows = true`.
    NoRows,
    /// Answered with 400 `Invalid query` (strict, for tests and for finding mistakes).
    Reject,
}

/// Values substituted for `javascript:` expressions (§1.3, §7.1).
pub struct QueryEnv<'a> {
    pub user_sys_id: &'a str,
    pub now: &'a str,
    pub change_fields: bool,
    /// Fields whose conditions are ignored, as an instance ignores a query part naming a
    /// field it does not know (see `SimConfig::unknown_query_fields`).
    pub unknown_fields: &'a [String],
    /// What an invalid part of the query does.
    pub invalid: InvalidQuery,
}

/// A parsed encoded query.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// OR of groups (`^NQ`); each group is an AND of clauses; each clause an OR of conditions.
    /// An empty clause (all its conditions dropped) is true.
    groups: Vec<Vec<Vec<Cond>>>,
    order: Vec<(Path, bool)>,
    /// An invalid part made the whole query match nothing ([`InvalidQuery::NoRows`]).
    nothing: bool,
}

fn subst(v: &str, env: &QueryEnv) -> String {
    match v.trim() {
        "javascript:gs.getUserID()" | "javascript:gs.getUser().getID()" => {
            env.user_sys_id.to_string()
        }
        "javascript:gs.nowDateTime()" | "javascript:gs.nowNoTZ()" => env.now.to_string(),
        _ => v.to_string(),
    }
}

fn parse_cond(db: &Db, t: usize, part: &str, env: &QueryEnv) -> Result<Option<Cond>, String> {
    let fend = part
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(part.len());
    let field = &part[..fend];
    let rest = &part[fend..];
    if field.is_empty() {
        return Err(format!("Invalid condition '{part}'"));
    }
    let Some(&(spelling, op)) = OPS.iter().find(|(s, _)| rest.starts_with(s)) else {
        return Err(format!(
            "Invalid operator in condition '{part}' for field '{field}'"
        ));
    };
    let raw = &rest[spelling.len()..];
    if env.unknown_fields.iter().any(|f| f == field) {
        return Ok(None);
    }
    let Some(path) = db.resolve(t, field, env.change_fields) else {
        return Ok(None);
    };
    let &(lt, lf) = path.steps.last().expect("non-empty path");
    let fd = &db.tables[lt].fields[lf];
    let values = match op {
        Op::In | Op::NotIn => {
            let v = subst(raw, env);
            v.split(',').map(|x| subst(x, env)).collect()
        }
        Op::Between => {
            let mut it = raw.splitn(2, '@');
            let a = subst(it.next().unwrap_or(""), env);
            let b = subst(it.next().unwrap_or(""), env);
            vec![a, b]
        }
        _ => vec![subst(raw, env)],
    };
    let other = match op {
        Op::SameAs | Op::NSameAs => Some(
            db.resolve(t, raw, env.change_fields)
                .ok_or_else(|| format!("Invalid field '{raw}' in condition '{part}'"))?,
        ),
        _ => None,
    };
    Ok(Some(Cond {
        path,
        op,
        values,
        other,
        numeric: fd.numeric(),
        time: fd.is_time(),
    }))
}

impl Query {
    /// Parse an encoded query against table `t`. `Err` carries the 400 detail.
    pub fn parse(db: &Db, t: usize, q: &str, env: &QueryEnv) -> Result<Query, String> {
        let mut query = Query::default();
        let mut group: Vec<Vec<Cond>> = Vec::new();
        let mut invalid = false;
        // An invalid condition is dropped, makes the query match nothing, or is an error.
        let mut cond = |part: &str| match parse_cond(db, t, part, env) {
            Ok(c) => Ok(c),
            Err(e) => match env.invalid {
                InvalidQuery::Reject => Err(e),
                InvalidQuery::Ignore => Ok(None),
                InvalidQuery::NoRows => {
                    invalid = true;
                    Ok(None)
                }
            },
        };
        for part in q.split('^') {
            if part.is_empty() || part == "EQ" {
                continue;
            }
            if let Some(f) = part.strip_prefix("ORDERBYDESC") {
                if let Some(p) = db.resolve(t, f, env.change_fields) {
                    query.order.push((p, true));
                }
            } else if let Some(f) = part.strip_prefix("ORDERBY") {
                if let Some(p) = db.resolve(t, f, env.change_fields) {
                    query.order.push((p, false));
                }
            } else if let Some(rest) = part.strip_prefix("NQ") {
                query.groups.push(std::mem::take(&mut group));
                if !rest.is_empty() {
                    let c = cond(rest)?;
                    group.push(c.into_iter().collect());
                }
            } else if let Some(rest) = part.strip_prefix("OR") {
                let c = cond(rest)?;
                match group.last_mut() {
                    Some(clause) => clause.extend(c),
                    None => group.push(c.into_iter().collect()),
                }
            } else {
                let c = cond(part)?;
                group.push(c.into_iter().collect());
            }
        }
        query.nothing = invalid;
        query.groups.push(group);
        // A group that is entirely empty matches everything; keep the semantics simple.
        Ok(query)
    }

    /// The sys_ids a query can match when each of its groups pins `sys_id` (`sys_id=…` or
    /// `sys_idIN…`), which a database answers from the primary key instead of a scan; `None`
    /// when some group does not.
    pub fn pinned_ids(&self, db: &Db) -> Option<Vec<&str>> {
        let mut ids = Vec::new();
        for group in &self.groups {
            let pin = group.iter().find_map(|clause| match clause.as_slice() {
                [c] if matches!(c.op, Op::Eq | Op::In)
                    && matches!(c.path.steps.as_slice(),
                        [(t, f)] if db.tables[*t].fields[*f].name == "sys_id") =>
                {
                    Some(c.values.iter().map(String::as_str))
                }
                _ => None,
            })?;
            ids.extend(pin);
        }
        Some(ids)
    }

    /// The `sys_id` range a query ordered by `sys_id` alone can be answered from by walking
    /// the primary key in order (as a database walks its index), or `None` when the order is
    /// another. Each bound is the loosest that every `^NQ` group sets with `sys_id>`, `>=`,
    /// `<` or `<=` (unbounded when some group sets none); it is inclusive, so it only narrows
    /// the walk and every row in it is still matched against the whole query.
    pub fn key_range(&self, t: usize) -> Option<(Bound<String>, Bound<String>)> {
        let own_id = |p: &Path| matches!(p.steps.as_slice(), [(pt, f)] if *pt == t && *f == SYS_ID);
        match self.order.as_slice() {
            [(p, false)] if own_id(p) => {}
            _ => return None,
        }
        // Each group's own bound on sys_id (`None` when some group sets none, which leaves the
        // walk unbounded on that side): the tightest of its conditions.
        let per_group = |ops: &[Op], lower: bool| -> Option<Vec<&str>> {
            self.groups
                .iter()
                .map(|group| {
                    let values = group
                        .iter()
                        .filter_map(|clause| match clause.as_slice() {
                            [c] if ops.contains(&c.op) && own_id(&c.path) => c.values.first(),
                            _ => None,
                        })
                        .map(String::as_str)
                        .filter(|v| !v.is_empty());
                    if lower { values.max() } else { values.min() }
                })
                .collect()
        };
        // The groups are ORed: the walk covers the loosest of them.
        let bound = |b: Option<&str>| b.map_or(Bound::Unbounded, |v| Bound::Included(v.into()));
        let lo = per_group(&[Op::Gt, Op::Ge], true).and_then(|b| b.into_iter().min());
        let hi = per_group(&[Op::Lt, Op::Le], false).and_then(|b| b.into_iter().max());
        Some((bound(lo), bound(hi)))
    }

    /// Does `row` of the query's table match?
    pub fn matches(&self, db: &Db, row: u32) -> bool {
        !self.nothing
            && self.groups.iter().any(|g| {
                g.iter()
                    .all(|clause| clause.is_empty() || clause.iter().any(|c| eval(db, c, row)))
            })
    }

    /// Sort rows by the ORDERBY list (stable; empty values first in ascending order).
    pub fn sort(&self, db: &Db, rows: &mut [u32]) {
        if self.order.is_empty() {
            return;
        }
        let keys: Vec<(bool, bool, bool)> = self
            .order
            .iter()
            .map(|(p, desc)| {
                let &(t, f) = p.steps.last().expect("path");
                let fd = &db.tables[t].fields[f];
                (fd.numeric(), fd.is_time(), *desc)
            })
            .collect();
        rows.sort_by(|&a, &b| {
            for ((p, _), &(numeric, time, desc)) in self.order.iter().zip(&keys) {
                let va = db.value_at(p, a);
                let vb = db.value_at(p, b);
                let o = cmp_values(va, vb, numeric, time).unwrap_or_else(|| va.cmp(vb));
                let o = if desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
}

/// Typed comparison; `None` when either side does not parse as the field's type.
fn cmp_values(a: &str, b: &str, numeric: bool, time: bool) -> Option<Ordering> {
    if a.is_empty() || b.is_empty() {
        return Some(a.len().cmp(&b.len()).then(Ordering::Equal));
    }
    if numeric {
        let x: f64 = a.trim().parse().ok()?;
        let y: f64 = b.trim().parse().ok()?;
        return x.partial_cmp(&y);
    }
    if time {
        return Some(parse_ts(a)?.cmp(&parse_ts(b)?));
    }
    Some(a.cmp(b))
}

fn typed_eq(v: &str, x: &str, c: &Cond) -> bool {
    if v == x {
        return true;
    }
    if (c.numeric || c.time) && !v.is_empty() && !x.is_empty() {
        return cmp_values(v, x, c.numeric, c.time) == Some(Ordering::Equal);
    }
    false
}

fn ordered(v: &str, x: &str, c: &Cond, want: fn(Ordering) -> bool) -> bool {
    if v.is_empty() || x.is_empty() {
        return false;
    }
    match cmp_values(v, x, c.numeric, c.time) {
        Some(o) => want(o),
        None => false,
    }
}

fn eval(db: &Db, c: &Cond, row: u32) -> bool {
    let v = db.value_at(&c.path, row);
    let x = c.values.first().map(String::as_str).unwrap_or("");
    let lower = || v.to_lowercase();
    match c.op {
        Op::Eq => typed_eq(v, x, c),
        Op::Ne => !typed_eq(v, x, c),
        Op::Lt => ordered(v, x, c, |o| o == Ordering::Less),
        Op::Le => ordered(v, x, c, |o| o != Ordering::Greater),
        Op::Gt => ordered(v, x, c, |o| o == Ordering::Greater),
        Op::Ge => ordered(v, x, c, |o| o != Ordering::Less),
        Op::In => c.values.iter().any(|x| typed_eq(v, x, c)),
        Op::NotIn => !c.values.iter().any(|x| typed_eq(v, x, c)),
        Op::StartsWith => lower().starts_with(&x.to_lowercase()),
        Op::EndsWith => lower().ends_with(&x.to_lowercase()),
        Op::Like => lower().contains(&x.to_lowercase()),
        Op::NotLike => !lower().contains(&x.to_lowercase()),
        Op::IsEmpty | Op::EmptyString => v.is_empty(),
        Op::IsNotEmpty => !v.is_empty(),
        Op::Anything => true,
        Op::Between => {
            let hi = c.values.get(1).map(String::as_str).unwrap_or("");
            ordered(v, x, c, |o| o != Ordering::Less)
                && ordered(v, hi, c, |o| o != Ordering::Greater)
        }
        Op::SameAs | Op::NSameAs => {
            let o = c.other.as_ref().map(|p| db.value_at(p, row)).unwrap_or("");
            (v == o) == (c.op == Op::SameAs)
        }
        Op::Never => false,
    }
}
