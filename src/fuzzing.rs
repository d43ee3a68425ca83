//! Entry points for fuzzing (`examples/fuzz.rs` drives them, `tests/fuzz_regressions.rs` replays
//! what they once failed on): each takes arbitrary bytes and must neither panic nor hang.
//! What they check beyond that: the sanitiser's output is clean and idempotent, and whatever
//! the adapter decodes from a hostile answer is clean text.

use crate::domain::text;

/// The fuzzed parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A Table API answer through the adapter's decoding (approvals, changes, users,
    /// delegations).
    Decode,
    /// An encoded query through the sim's parser and matcher.
    Query,
    /// A justification through the validator, for each decision.
    Justification,
    /// Text through the sanitiser.
    Sanitize,
    /// A config file through its parser.
    Config,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Decode,
        Target::Query,
        Target::Justification,
        Target::Sanitize,
        Target::Config,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Decode => "decode",
            Target::Query => "query",
            Target::Justification => "justification",
            Target::Sanitize => "sanitize",
            Target::Config => "config",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Runs one input; panics (the fuzzer's finding) when a property does not hold.
pub fn run(target: Target, data: &[u8]) {
    match target {
        Target::Decode => crate::backend::servicenow::fuzz_decode(data),
        Target::Query => query(data),
        Target::Justification => justification(data),
        Target::Sanitize => sanitize(data),
        Target::Config => {
            let text = String::from_utf8_lossy(data);
            let _ = crate::config::Config::parse(&text, std::path::Path::new("fuzz.toml"));
        }
    }
}

fn sanitize(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let line = text::sanitize_line(&s);
    assert!(
        text::is_clean(&line),
        "sanitize_line left control characters: {line:?}"
    );
    assert_eq!(
        text::sanitize_line(&line),
        line,
        "sanitize_line is idempotent"
    );
    let multi = text::sanitize_multiline(&s);
    assert!(
        !multi.chars().any(|c| c.is_control() && c != '\n'),
        "sanitize_multiline left control characters: {multi:?}"
    );
    for max in [0, 1, 7, 80] {
        let c = text::clean_line(&s, max);
        assert!(text::is_clean(&c), "clean_line: {c:?}");
        let _ = text::cap_chars(&s, max);
    }
}

fn justification(data: &[u8]) {
    use crate::domain::decision::JustificationRules;
    use crate::domain::{DecisionKind, Justification};
    let s = String::from_utf8_lossy(data);
    let rules = JustificationRules::default();
    for kind in [
        DecisionKind::Approve,
        DecisionKind::Reject,
        DecisionKind::Hold,
        DecisionKind::Resume,
    ] {
        if let Ok(j) = Justification::parse(&s, kind, &rules) {
            // What is accepted is what is kept: parsing it again accepts the same text.
            let again = Justification::parse(j.as_str(), kind, &rules);
            assert!(
                again.as_ref().is_ok_and(|a| a == &j),
                "{j:?} then {again:?}"
            );
        }
    }
}

fn query(data: &[u8]) {
    use crate::sim::query::{Query, QueryEnv};
    use crate::sim::table::Db;
    static DB: std::sync::OnceLock<Db> = std::sync::OnceLock::new();
    let db = DB.get_or_init(|| crate::sim::data::generate(7, 6, 1_764_072_000).0);
    let q = String::from_utf8_lossy(data);
    let env = QueryEnv {
        user_sys_id: "0123456789abcdef0123456789abcdef",
        now: "2025-11-25 12:00:00",
        change_fields: true,
        unknown_fields: &[],
        invalid: crate::sim::query::InvalidQuery::Reject,
    };
    for table in ["sysapproval_approver", "change_request", "sys_user"] {
        let Some(t) = db.table(table) else { continue };
        if let Ok(parsed) = Query::parse(db, t, &q, &env) {
            let n = db.tables[t].rows.len().min(16) as u32;
            let mut rows: Vec<u32> = (0..n).collect();
            for r in &rows {
                let _ = parsed.matches(db, *r);
            }
            parsed.sort(db, &mut rows);
        }
    }
}

/// Tokens worth splicing into inputs of each target (what its grammar is made of).
pub fn dictionary(target: Target) -> &'static [&'static str] {
    match target {
        Target::Decode => &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "null",
            "true",
            "\"result\"",
            "\"value\"",
            "\"display_value\"",
            "\"link\"",
            "\"sys_id\"",
            "\"sysapproval\"",
            "\"state\"",
            "\"requested\"",
            "\"number\"",
            "\"short_description\"",
            "\"start_date\"",
            "\"2026-11-25 12:00:00\"",
            "\"\\u001b[31m\"",
            "\"\\u202e\"",
            "1e999",
            "-0",
        ],
        Target::Query => &[
            "^",
            "^OR",
            "^NQ",
            "=",
            "!=",
            "IN",
            "NOTIN",
            "LIKE",
            "STARTSWITH",
            "ISEMPTY",
            "ISNOTEMPTY",
            "ON",
            "BETWEEN",
            ">",
            "<=",
            "ORDERBY",
            "ORDERBYDESC",
            "sys_id",
            "approver",
            "state",
            "sysapproval.",
            "number",
            "sys_updated_on",
            "@",
            ",",
            "javascript:gs.getUserID()",
            "javascript:gs.nowDateTime()",
            "requested",
            "2026-11-25",
        ],
        Target::Justification => &[
            " ",
            "\n",
            "\r\n",
            "\t",
            "\u{1b}[2J",
            "\u{7}",
            "\u{202e}",
            "aaaa",
            "ab",
            "Backout ",
            "tested in staging.",
            "\u{0}",
            "\u{feff}",
            "é",
            "👍",
        ],
        Target::Sanitize => &[
            "\u{1b}[",
            "\u{1b}]52;c;",
            "\u{7}",
            "\u{9b}",
            "\u{1b}P",
            "\u{1b}\\",
            "\r",
            "\n",
            "\u{202e}",
            "\u{2066}",
            "\u{200b}",
            "\u{0}",
            "\u{7f}",
            "\t",
            "é",
            "👍🏽",
        ],
        Target::Config => &[
            "[",
            "]",
            "=",
            "\"",
            "\n",
            "[profiles.",
            "instance",
            "user",
            "page_size",
            "timeout_secs",
            "sync_interval_secs",
            "read_only",
            "true",
            "[keys]",
            "approve",
            "[policy",
            "[[policy.controls]]",
            "[policy.environments]",
            "retention_years",
            "0",
            "-1",
            "4294967296",
            "auth",
            "\"oauth\"",
            "client_id",
            "ca_file",
        ],
    }
}

/// A small PRNG (xorshift64*): the same seed, the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// One mutation of `input`: flip, insert, delete, duplicate a span, splice a dictionary
/// token or a piece of `other` (another corpus entry).
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8], dict: &[&str]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next_u64() as u8),
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(16)).min(v.len());
                let span = v[start..end].to_vec();
                v.splice(at..at, span);
            }
            4 | 5 if !dict.is_empty() => {
                let token = dict[rng.below(dict.len())].as_bytes();
                v.splice(at..at, token.iter().copied());
            }
            _ if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(32)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            _ => {}
        }
    }
    v.truncate(1 << 16);
    v
}

/// A structure-aware mutation for JSON inputs: one string or number leaf (or a key) of the
/// document is mutated and the document written back, so most inputs still parse and reach
/// the decoding behind the parser. `None` when `input` is not JSON.
pub fn mutate_json(rng: &mut Rng, input: &[u8], dict: &[&str]) -> Option<Vec<u8>> {
    use serde_json::Value;
    /// JSON pointers (RFC 6901) of every leaf.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        let esc = |k: &str| k.replace('~', "~0").replace('/', "~1");
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, c)| leaves(c, format!("{at}/{}", esc(k)), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| leaves(c, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }
    let mut doc: Value = serde_json::from_slice(input).ok()?;
    let mut all = Vec::new();
    leaves(&doc, String::new(), &mut all);
    if all.is_empty() {
        return None;
    }
    let pick = all[rng.below(all.len())].clone();
    let choice = rng.below(6);
    let leaf = doc.pointer_mut(&pick)?;
    let text = match &*leaf {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mutated = String::from_utf8_lossy(&mutate(rng, text.as_bytes(), b"", dict)).into_owned();
    *leaf = match choice {
        0 => Value::Null,
        1 => serde_json::json!({"value": mutated, "display_value": mutated}),
        2 => Value::Bool(mutated.len().is_multiple_of(2)),
        _ => Value::String(mutated),
    };
    serde_json::to_vec(&doc).ok()
}
