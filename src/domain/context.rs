//! The change in full (issue 16): every approval on the change with who decided when and what
//! they said, the change's comments and work notes, its attachments, and its CAB and conflict
//! facts. Read from the instance when the detail opens, kept in the store for offline review.
//! Every text is sanitised here, as [`super::Change`]'s are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::UserRef;
use super::text::{clean_line, sanitize_multiline};

/// One entry of a journal field (comments, work notes), as the instance shows its history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The date as the instance wrote it (the user's format and zone).
    pub at: String,
    pub author: String,
    /// The field's label, e.g. `Work notes`, `Additional comments`, `Comments`.
    pub kind: String,
    pub text: String,
}

/// An approval on the change, the user's own or anyone else's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherApproval {
    pub sys_id: String,
    pub approver: UserRef,
    /// The approval group it belongs to, if any.
    pub group: String,
    /// The state as the instance shows it (`Requested`, `Approved`, …) and its value.
    pub state: String,
    pub state_value: String,
    /// When it was last updated: when it was decided, for a decided one.
    pub updated: Option<DateTime<Utc>>,
    pub comments: Vec<JournalEntry>,
    /// `approval_source`: the rule or policy that made it, if any.
    #[serde(default)]
    pub source: String,
    /// The login that last updated it (`sys_updated_by`).
    #[serde(default)]
    pub decided_by: String,
}

impl OtherApproval {
    /// Made or decided by the instance itself (a rule, a policy, the system account), not a
    /// person: what it says about itself.
    pub fn automated(&self) -> Option<String> {
        // A waiting approval was last touched by the workflow that asked for it: only a
        // decision says who decided.
        let by = if self.decided() {
            self.decided_by.as_str()
        } else {
            ""
        };
        super::governance::automation_of(&self.source, &self.approver.sys_id, by)
    }

    pub fn decided(&self) -> bool {
        matches!(self.state_value.as_str(), "approved" | "rejected")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

/// An SLA the instance itself runs on the change (`task_sla`, domain reference §2.1): where
/// there is one, its clock is the one that counts, not signoff's estimate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSla {
    /// The SLA definition's name.
    pub name: String,
    /// `in_progress`, `paused`, `cancelled`, `completed` (as the instance shows it).
    pub stage: String,
    pub active: bool,
    /// When the clock started (`start_time`), where the instance says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    pub breach_at: Option<DateTime<Utc>>,
    pub has_breached: bool,
    /// Seconds left inside the SLA's schedule, where the instance says.
    pub business_left: Option<i64>,
    /// The business elapsed percentage, rounded, where the instance says.
    pub business_percentage: Option<u32>,
}

impl InstanceSla {
    /// Cleans its texts for display; idempotent.
    pub fn sanitize(&mut self) {
        self.name = clean_line(&self.name, 120);
        self.stage = clean_line(&self.stage, 40);
    }

    /// Paused by the instance (the change is on hold or waiting): the clock does not run.
    pub fn paused(&self) -> bool {
        self.stage.eq_ignore_ascii_case("paused")
    }

    /// Of a change's SLAs, the one whose clock counts for its approvals: the running one
    /// that breaches first (one without a breach time cannot set a deadline).
    pub fn counting<'a>(
        slas: impl IntoIterator<Item = &'a InstanceSla>,
    ) -> Option<&'a InstanceSla> {
        slas.into_iter()
            .filter(|s| s.running() && s.breach_at.is_some())
            .min_by_key(|s| (s.breach_at, s.name.as_str()))
    }

    /// Still counting (not completed or cancelled).
    pub fn running(&self) -> bool {
        self.active
            && !matches!(
                self.stage.to_lowercase().as_str(),
                "completed" | "cancelled"
            )
    }
}

/// One `task_sla` record as a sync reads it: which record, on which change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSla {
    pub sys_id: String,
    /// The change's sys_id (`task`).
    pub change_sys_id: String,
    pub sla: InstanceSla,
}

/// What the change says about CAB review and conflicts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CabFacts {
    pub required: bool,
    /// The CAB date as the instance shows it (date only), empty when none.
    pub date: String,
    pub recommendation: String,
    pub delegate: String,
    /// `conflict_status` (`Not Run`, `No Conflict`, `Conflict`) and when it last ran.
    pub conflict_status: String,
    pub conflict_last_run: String,
}

/// Everything about one change beyond its own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeContext {
    pub change_sys_id: String,
    pub approvals: Vec<OtherApproval>,
    /// The change's comments and work notes, newest first.
    pub journal: Vec<JournalEntry>,
    pub attachments: Vec<Attachment>,
    pub cab: CabFacts,
    /// The instance's own SLAs on the change (`task_sla`), running ones first.
    #[serde(default)]
    pub slas: Vec<InstanceSla>,
    /// Parts the instance would not show (no read access), said in the detail.
    pub hidden: Vec<String>,
    pub fetched_at: Option<DateTime<Utc>>,
}

impl ChangeContext {
    /// Cleans every text for display (see [`super::Change::sanitize`]); idempotent.
    pub fn sanitize(&mut self) {
        let entry = |e: &mut JournalEntry| {
            e.at = clean_line(&e.at, 40);
            e.author = clean_line(&e.author, 80);
            e.kind = clean_line(&e.kind, 40);
            e.text = sanitize_multiline(&e.text);
        };
        for a in &mut self.approvals {
            a.approver.name = clean_line(&a.approver.name, 80);
            a.group = clean_line(&a.group, 80);
            a.state = clean_line(&a.state, 40);
            a.state_value = clean_line(&a.state_value, 40);
            a.source = clean_line(&a.source, 120);
            a.decided_by = clean_line(&a.decided_by, 80);
            a.comments.iter_mut().for_each(entry);
        }
        self.journal.iter_mut().for_each(entry);
        for f in &mut self.attachments {
            f.name = clean_line(&f.name, 120);
            f.content_type = clean_line(&f.content_type, 60);
        }
        let c = &mut self.cab;
        for s in [
            &mut c.date,
            &mut c.recommendation,
            &mut c.delegate,
            &mut c.conflict_status,
            &mut c.conflict_last_run,
        ] {
            *s = clean_line(s, 120);
        }
        self.slas.iter_mut().for_each(InstanceSla::sanitize);
        for h in &mut self.hidden {
            *h = clean_line(h, 200);
        }
    }
}

/// A journal field's display value, the instance's history text: entries newest first, each
/// `<date> - <name> (<label>)` on a line, the text below, a blank line between entries
/// (reference §7.2). Text that does not look like that is kept as one entry.
pub fn parse_history(text: &str) -> Vec<JournalEntry> {
    let mut out: Vec<JournalEntry> = Vec::new();
    for block in text.split("\n\n") {
        let block = block.trim_matches('\n');
        if block.trim().is_empty() {
            continue;
        }
        let (head, body) = block.split_once('\n').unwrap_or((block, ""));
        let parsed = head.rsplit_once(" (").and_then(|(left, label)| {
            let label = label.strip_suffix(')')?;
            let (at, author) = left.split_once(" - ")?;
            // The date starts with a digit (`2026-12-02 17:13:57`, `19-Aug-2026 …`).
            at.starts_with(|c: char| c.is_ascii_digit())
                .then(|| (at.to_string(), author.to_string(), label.to_string()))
        });
        match parsed {
            Some((at, author, kind)) => out.push(JournalEntry {
                at,
                author,
                kind,
                text: body.to_string(),
            }),
            // Not a header: the text goes with the entry before (a blank line inside it).
            None => match out.last_mut() {
                Some(last) => {
                    last.text.push_str("\n\n");
                    last.text.push_str(block);
                }
                None => out.push(JournalEntry {
                    text: block.to_string(),
                    ..JournalEntry::default()
                }),
            },
        }
    }
    out
}

/// A size in bytes for people: `812 B`, `14.2 KB`, `3.1 MB`.
pub fn size_label(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K {
        format!("{bytes} B")
    } else if b < K * K {
        format!("{:.1} KB", b / K)
    } else if b < K * K * K {
        format!("{:.1} MB", b / K / K)
    } else {
        format!("{:.1} GB", b / K / K / K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_read_into_entries_newest_first() {
        let h = "2026-12-02 17:13:57 - Emma Lindqvist (Comments)\nApproved. Plan fine.\n\n2026-12-01 09:00:00 - Ben Ishikawa (Work notes)\nFirst line\nsecond line\n\nA paragraph of the same note\n\n";
        let e = parse_history(h);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].author, "Emma Lindqvist");
        assert_eq!(e[0].kind, "Comments");
        assert_eq!(e[0].at, "2026-12-02 17:13:57");
        assert_eq!(e[0].text, "Approved. Plan fine.");
        assert_eq!(
            e[1].text,
            "First line\nsecond line\n\nA paragraph of the same note"
        );
        assert_eq!(
            parse_history("just text"),
            vec![JournalEntry {
                text: "just text".into(),
                ..Default::default()
            }]
        );
        assert!(parse_history("").is_empty());
        assert_eq!(size_label(812), "812 B");
        assert_eq!(size_label(14_540), "14.2 KB");
    }

    #[test]
    fn escape_sequences_do_not_survive() {
        let mut c = ChangeContext {
            journal: parse_history(
                "2026-12-02 17:13:57 - \x1b]52;c;aGk=\x07Eve (Comments)\n\x1b[2Jwiped",
            ),
            attachments: vec![Attachment {
                name: "plan\x1b[31m.pdf".into(),
                size: 1,
                content_type: "application/pdf".into(),
            }],
            ..Default::default()
        };
        c.sanitize();
        let all = format!("{c:?}");
        assert!(!all.contains('\x1b') && !all.contains('\x07'), "{all}");
    }
}
