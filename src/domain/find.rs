//! Finding changes in the queue (issue 16): the filter expressions `:filter` and saved views
//! take, the orders `:sort` takes, and the text `/` searches.
//!
//! A filter works on [`QueueKey`]s alone (tier, change type, SLA times, hold, CAB, window
//! start), so it runs over a queue of 100,000 held as keys; the text search works on one
//! lower-cased line per approval ([`search_text`]), which the store keeps as a column.

use std::cmp::Ordering;

use super::change::{Approval, ChangeType, Risk};
use super::policy::RiskTier;
use super::queue::QueueKey;
use super::sla::SlaStatus;

/// How the rows of each tier are ordered (tiers, and held changes last, always stay).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sort {
    /// SLA deadline, soonest first: the queue's own order.
    #[default]
    Deadline,
    /// Implementation window start, soonest first; changes without a window last.
    Window,
    /// The change's risk, highest first.
    Risk,
    /// How long the approval has waited, longest first.
    Age,
    /// Change number.
    Number,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Deadline,
        Sort::Window,
        Sort::Risk,
        Sort::Age,
        Sort::Number,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sort::Deadline => "deadline",
            Sort::Window => "window",
            Sort::Risk => "risk",
            Sort::Age => "age",
            Sort::Number => "number",
        }
    }

    pub fn parse(s: &str) -> Result<Sort, String> {
        let s = s.trim().to_lowercase();
        let s = match s.as_str() {
            "" | "sla" | "due" => "deadline",
            "start" => "window",
            "oldest" => "age",
            "num" | "change" => "number",
            other => other,
        };
        Sort::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                format!(
                    "No sort “{}”: use {}.",
                    super::text::clean_line(s, 40),
                    Sort::ALL.map(Sort::name).join(", ")
                )
            })
    }

    /// Orders two keys of the same section; ties keep the queue order (the sort is stable).
    pub fn compare(self, a: &QueueKey, b: &QueueKey) -> Ordering {
        match self {
            Sort::Deadline => Ordering::Equal,
            Sort::Window => a.window.cmp(&b.window),
            Sort::Risk => a.risk.cmp(&b.risk),
            Sort::Age => a.requested.cmp(&b.requested),
            Sort::Number => a.number.cmp(&b.number),
        }
    }
}

/// The change type as a key holds it.
pub fn kind_code(t: Option<&ChangeType>) -> u8 {
    match t {
        None => 0,
        Some(ChangeType::Standard) => 1,
        Some(ChangeType::Normal) => 2,
        Some(ChangeType::Emergency) => 3,
        Some(ChangeType::Other(_)) => 4,
    }
}

const KIND_NAMES: [(&str, u8); 4] = [
    ("standard", 1),
    ("normal", 2),
    ("emergency", 3),
    ("other", 4),
];

/// The risk as a key holds it: 0 very high … 3 low, 4 none (sorted last).
pub fn risk_code(r: Option<Risk>) -> u8 {
    match r {
        Some(Risk::VeryHigh) => 0,
        Some(Risk::High) => 1,
        Some(Risk::Moderate) => 2,
        Some(Risk::Low) => 3,
        None => 4,
    }
}

/// The digits of a change number (`CHG0030042` → 30042), for sorting by number.
pub fn number_value(number: &str) -> u64 {
    number
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

/// Whose approvals a filter expression asks for; the console resolves a name against the
/// people in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    All,
    Mine,
    Person(String),
}

/// A filter on the queue: every condition given must hold (values of one condition are
/// alternatives). The default lets everything through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueQuery {
    pub tiers: Vec<RiskTier>,
    /// [`kind_code`]s.
    pub kinds: Vec<u8>,
    /// SLA states; a change on hold has none (its clock is stopped).
    pub sla: Vec<SlaStatus>,
    pub held: Option<bool>,
    pub cab: Option<bool>,
    /// The implementation window starts within this many hours from now.
    pub window_hours: Option<u32>,
}

/// How a filter expression is written, for help and error messages.
pub const FILTER_SYNTAX: &str = "tier:critical,high  type:emergency  sla:breached,warning  held  -held  cab  -cab  window:4h  mine  all  for:NAME  clear";

impl QueueQuery {
    pub fn is_empty(&self) -> bool {
        *self == QueueQuery::default()
    }

    /// Parses `expr` (terms separated by spaces, see [`FILTER_SYNTAX`]) into a filter and,
    /// when it names one, whose approvals. A bare word that is no term is a person's name.
    pub fn parse(expr: &str) -> Result<(QueueQuery, Option<Whose>), String> {
        let mut q = QueueQuery::default();
        let mut whose = None;
        for term in expr.split_whitespace() {
            let lower = term.to_lowercase();
            let (negated, word) = match lower.strip_prefix('-').or(lower.strip_prefix('!')) {
                Some(rest) => (true, rest.to_string()),
                None => (false, lower.clone()),
            };
            let (key, value) = match word.split_once([':', '=', '<']) {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (word.clone(), None),
            };
            let bad = |what: &str| {
                format!(
                    "“{}” is not a filter: {what}. Filters are: {FILTER_SYNTAX}.",
                    super::text::clean_line(term, 40)
                )
            };
            let list = |v: &Option<String>| -> Vec<String> {
                v.as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let yes_no = |v: &Option<String>| -> Result<bool, String> {
                match v.as_deref() {
                    None | Some("yes" | "true" | "y" | "1") => Ok(!negated),
                    Some("no" | "false" | "n" | "0") => Ok(negated),
                    Some(_) => Err(bad("say yes or no")),
                }
            };
            match key.as_str() {
                "clear" | "none" if value.is_none() => {
                    q = QueueQuery::default();
                    whose = Some(Whose::All);
                }
                "all" | "everyone" if value.is_none() => whose = Some(Whose::All),
                "mine" | "me" if value.is_none() => whose = Some(Whose::Mine),
                "for" => match value.filter(|v| !v.is_empty()) {
                    Some(v) => whose = Some(Whose::Person(v)),
                    None => return Err(bad("name someone, e.g. for:carla")),
                },
                "tier" | "tiers" => {
                    for v in list(&value) {
                        let t = RiskTier::ALL
                            .into_iter()
                            .find(|t| t.label().to_lowercase().starts_with(&v))
                            .ok_or_else(|| {
                                bad("the tiers are emergency, critical, high, moderate and low")
                            })?;
                        if !q.tiers.contains(&t) {
                            q.tiers.push(t);
                        }
                    }
                    if q.tiers.is_empty() {
                        return Err(bad("name a tier, e.g. tier:critical"));
                    }
                }
                "type" | "kind" => {
                    for v in list(&value) {
                        let (_, code) = KIND_NAMES
                            .into_iter()
                            .find(|(n, _)| n.starts_with(&v))
                            .ok_or_else(|| {
                                bad("the types are standard, normal, emergency and other")
                            })?;
                        if !q.kinds.contains(&code) {
                            q.kinds.push(code);
                        }
                    }
                    if q.kinds.is_empty() {
                        return Err(bad("name a type, e.g. type:emergency"));
                    }
                }
                "sla" => {
                    for v in list(&value) {
                        let s = match v.as_str() {
                            "breached" | "breach" | "late" => SlaStatus::Breached,
                            "warning" | "warn" => SlaStatus::Warning,
                            "ok" | "ontrack" | "on-track" | "on_track" => SlaStatus::OnTrack,
                            _ => return Err(bad("the SLA states are breached, warning and ok")),
                        };
                        if !q.sla.contains(&s) {
                            q.sla.push(s);
                        }
                    }
                    if q.sla.is_empty() {
                        return Err(bad("name a state, e.g. sla:breached"));
                    }
                }
                "breached" | "warning" if value.is_none() && !negated => {
                    let s = if key == "breached" {
                        SlaStatus::Breached
                    } else {
                        SlaStatus::Warning
                    };
                    if !q.sla.contains(&s) {
                        q.sla.push(s);
                    }
                }
                "held" | "hold" | "paused" => q.held = Some(yes_no(&value)?),
                "cab" => q.cab = Some(yes_no(&value)?),
                "window" | "starts" => {
                    let v = value.unwrap_or_default();
                    let v = v.trim_start_matches(['<', '=']);
                    let (n, unit) =
                        v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
                    let n: u32 = n
                        .parse()
                        .map_err(|_| bad("give the hours, e.g. window:4h or window:2d"))?;
                    let hours = match unit {
                        "" | "h" => Some(n),
                        "d" => n.checked_mul(24),
                        _ => None,
                    }
                    .filter(|h| *h > 0 && *h <= 24 * 366)
                    .ok_or_else(|| bad("give the hours, e.g. window:4h or window:2d"))?;
                    q.window_hours = Some(hours);
                }
                _ if value.is_none() && !negated => whose = Some(Whose::Person(word)),
                _ => return Err(bad("unknown term")),
            }
        }
        Ok((q, whose))
    }

    /// The filter written back as an expression (`QueueQuery::parse` reads it again); empty
    /// when it lets everything through.
    pub fn describe(&self) -> String {
        let mut terms: Vec<String> = Vec::new();
        if !self.tiers.is_empty() {
            let names: Vec<String> = self
                .tiers
                .iter()
                .map(|t| t.label().to_lowercase())
                .collect();
            terms.push(format!("tier:{}", names.join(",")));
        }
        if !self.kinds.is_empty() {
            let names: Vec<&str> = self
                .kinds
                .iter()
                .filter_map(|c| KIND_NAMES.iter().find(|(_, k)| k == c).map(|(n, _)| *n))
                .collect();
            terms.push(format!("type:{}", names.join(",")));
        }
        if !self.sla.is_empty() {
            let names: Vec<&str> = self
                .sla
                .iter()
                .map(|s| match s {
                    SlaStatus::Breached => "breached",
                    SlaStatus::Warning => "warning",
                    SlaStatus::OnTrack => "ok",
                })
                .collect();
            terms.push(format!("sla:{}", names.join(",")));
        }
        match self.held {
            Some(true) => terms.push("held".into()),
            Some(false) => terms.push("-held".into()),
            None => {}
        }
        match self.cab {
            Some(true) => terms.push("cab".into()),
            Some(false) => terms.push("-cab".into()),
            None => {}
        }
        if let Some(h) = self.window_hours {
            terms.push(if h % 24 == 0 {
                format!("window:{}d", h / 24)
            } else {
                format!("window:{h}h")
            });
        }
        terms.join(" ")
    }

    /// Whether the approval with this key passes, at `now_ms` (the SLA state and the window
    /// depend on the time).
    pub fn admits(&self, k: &QueueKey, now_ms: i64) -> bool {
        (self.tiers.is_empty() || self.tiers.contains(&k.tier))
            && (self.kinds.is_empty() || self.kinds.contains(&k.kind))
            && (self.sla.is_empty() || (!k.on_hold && self.sla.contains(&k.status(now_ms))))
            && self.held.is_none_or(|h| k.on_hold == h)
            && self.cab.is_none_or(|c| k.cab == c)
            && self.window_hours.is_none_or(|h| {
                k.window != NO_WINDOW
                    && k.window >= now_ms
                    && k.window <= now_ms.saturating_add(i64::from(h) * 3_600_000)
            })
    }
}

/// A key's `window` when the change has no start date.
pub const NO_WINDOW: i64 = i64::MAX;

/// What `/` searches in an approval, lower-cased on one line: the change number, title,
/// requester, configuration item, assignment group, approval group and description.
pub fn search_text(a: &Approval) -> String {
    let c = &a.change;
    let parts = [
        c.number.as_str(),
        c.short_description.as_str(),
        c.requested_by.name.as_str(),
        c.configuration_item.as_str(),
        c.assignment_group.as_str(),
        a.group.as_deref().unwrap_or(""),
        c.description.as_str(),
    ];
    let mut out = String::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('\u{1f}'); // no needle spans two fields
        }
        out.extend(
            p.chars()
                .flat_map(char::to_lowercase)
                .map(|c| if c == '\n' { ' ' } else { c }),
        );
    }
    out
}

/// A search needle as the search text holds it: lower-cased, trimmed.
pub fn needle(text: &str) -> String {
    text.trim().chars().flat_map(char::to_lowercase).collect()
}

/// Byte ranges of `text` where `needle` (as [`needle`] gives it) occurs, case-insensitively,
/// for highlighting; not overlapping, left to right.
pub fn match_ranges(text: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let want: Vec<char> = needle.chars().collect();
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let mut from = 0;
    for &start in &starts {
        if start < from {
            continue;
        }
        let mut lowered = text[start..]
            .char_indices()
            .flat_map(|(i, c)| c.to_lowercase().map(move |l| (i + c.len_utf8(), l)));
        let mut end = start;
        let mut ok = true;
        for w in &want {
            match lowered.next() {
                Some((e, l)) if l == *w => end = start + e,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            out.push(start..end);
            from = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_read_back_as_written() {
        let (q, whose) =
            QueueQuery::parse("tier:crit,high type:emergency sla:breached -held cab window:2d")
                .unwrap();
        assert_eq!(whose, None);
        assert_eq!(q.tiers, vec![RiskTier::Critical, RiskTier::High]);
        assert_eq!(q.kinds, vec![3]);
        assert_eq!(q.held, Some(false));
        assert_eq!(q.cab, Some(true));
        assert_eq!(q.window_hours, Some(48));
        let d = q.describe();
        assert_eq!(
            d,
            "tier:critical,high type:emergency sla:breached -held cab window:2d"
        );
        assert_eq!(QueueQuery::parse(&d).unwrap().0, q);
        assert_eq!(QueueQuery::parse("mine").unwrap().1, Some(Whose::Mine));
        assert_eq!(
            QueueQuery::parse("for:carla held").unwrap(),
            (
                QueueQuery {
                    held: Some(true),
                    ..Default::default()
                },
                Some(Whose::Person("carla".into()))
            )
        );
        assert_eq!(
            QueueQuery::parse("Carla").unwrap().1,
            Some(Whose::Person("carla".into()))
        );
        assert!(QueueQuery::parse("").unwrap().0.is_empty());
    }

    #[test]
    fn bad_terms_say_what_is_allowed() {
        for bad in [
            "tier:urgent",
            "type:",
            "sla:late,soon",
            "window:soon",
            "held:maybe",
            "-x:y",
            "for:",
        ] {
            let e = QueueQuery::parse(bad).unwrap_err();
            assert!(
                e.contains("is not a filter") && e.contains("tier:"),
                "{bad}: {e}"
            );
        }
        assert!(
            Sort::parse("colour")
                .unwrap_err()
                .contains("deadline, window, risk, age, number")
        );
        assert_eq!(Sort::parse("Window"), Ok(Sort::Window));
    }

    #[test]
    fn ranges_are_found_whatever_the_case() {
        assert_eq!(match_ranges("Patch DB patch", "patch"), vec![0..5, 9..14]);
        assert_eq!(match_ranges("aaa", "aa"), vec![0..2]);
        assert_eq!(match_ranges("Grüße ÜBER", "über"), vec![8..13]);
        assert!(match_ranges("abc", "").is_empty());
        assert_eq!(number_value("CHG0030042"), 30042);
    }
}
