//! Changes and approvals as signoff understands them, independent of any backend's wire shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::{MAX_LINE, MAX_TEXT, cap_chars, clean_line, is_record_id, sanitize_multiline};

/// Checks a record id from the server before it is kept (ids go into URLs and queries).
fn check_id(what: &str, id: &str) -> Result<(), String> {
    if is_record_id(id) {
        Ok(())
    } else {
        Err(format!(
            "its {what} {:?} is missing or not an identifier",
            clean_line(id, 40)
        ))
    }
}

/// A person in the ITSM system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub sys_id: String,
    pub user_name: String,
    pub name: String,
    pub email: String,
}

/// A reference to a record: its id and what to show for it. Either part may be empty when the
/// backend did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub sys_id: String,
    pub name: String,
    /// Their time zone as the instance keeps it (`sys_user.time_zone`, an IANA name), where
    /// it was read with the reference; empty when not. Left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
}

impl User {
    /// The user as a reference (id and name), as decisions and delegations name people.
    pub fn reference(&self) -> UserRef {
        UserRef {
            sys_id: self.sys_id.clone(),
            name: self.name.clone(),
            ..Default::default()
        }
    }

    /// Cleans every field for display and checks the id: how a user from the server is kept.
    pub fn sanitize(&mut self) -> Result<(), String> {
        let User {
            sys_id,
            user_name,
            name,
            email,
        } = self;
        check_id("sys_id", sys_id)?;
        for field in [user_name, name, email] {
            *field = clean_line(field, MAX_LINE);
        }
        Ok(())
    }
}

impl UserRef {
    /// Cleans the name and checks the id (which may be empty: the server did not say).
    pub fn sanitize(&mut self) -> Result<(), String> {
        if !self.sys_id.is_empty() {
            check_id("reference", &self.sys_id)?;
        }
        self.name = clean_line(&self.name, MAX_LINE);
        self.time_zone = clean_line(&self.time_zone, 64);
        Ok(())
    }

    /// Their zone, where the instance gave one this build knows.
    pub fn zone(&self) -> Option<chrono_tz::Tz> {
        super::schedule::parse_zone(&self.time_zone).ok()
    }

    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.sys_id
        } else {
            &self.name
        }
    }
}

/// The change type. Customers may configure more types than the three shipped ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    Standard,
    Normal,
    Emergency,
    #[serde(untagged)]
    Other(String),
}

impl ChangeType {
    pub fn parse(value: &str) -> ChangeType {
        match value.trim().to_ascii_lowercase().as_str() {
            "standard" => ChangeType::Standard,
            "normal" => ChangeType::Normal,
            "emergency" => ChangeType::Emergency,
            _ => ChangeType::Other(clean_line(value, 40)),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            ChangeType::Standard => "Standard",
            ChangeType::Normal => "Normal",
            ChangeType::Emergency => "Emergency",
            ChangeType::Other(s) if s.is_empty() => "—",
            ChangeType::Other(s) => s,
        }
    }
}

/// Change risk. Stored values follow ServiceNow: 1 Very High, 2 High, 3 Moderate, 4 Low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    VeryHigh,
    High,
    Moderate,
    Low,
}

impl Risk {
    /// From the stored value; `None` for empty ("-- None --"). Unknown numbers are an error.
    pub fn from_value(value: &str) -> Result<Option<Risk>, String> {
        match value.trim() {
            "" => Ok(None),
            "1" => Ok(Some(Risk::VeryHigh)),
            "2" => Ok(Some(Risk::High)),
            "3" => Ok(Some(Risk::Moderate)),
            "4" => Ok(Some(Risk::Low)),
            other => Err(format!("unknown risk value {other:?} (expected 1 to 4)")),
        }
    }

    /// From its label (as the journal keeps it); `None` for anything else.
    pub fn from_label(label: &str) -> Option<Risk> {
        [Risk::VeryHigh, Risk::High, Risk::Moderate, Risk::Low]
            .into_iter()
            .find(|r| r.label().eq_ignore_ascii_case(label.trim()))
    }

    pub fn label(self) -> &'static str {
        match self {
            Risk::VeryHigh => "Very High",
            Risk::High => "High",
            Risk::Moderate => "Moderate",
            Risk::Low => "Low",
        }
    }
}

/// Impact and urgency: 1 High, 2 Medium, 3 Low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    pub fn from_value(value: &str) -> Result<Option<Level>, String> {
        match value.trim() {
            "" => Ok(None),
            "1" => Ok(Some(Level::High)),
            "2" => Ok(Some(Level::Medium)),
            "3" => Ok(Some(Level::Low)),
            other => Err(format!(
                "unknown impact/urgency value {other:?} (expected 1 to 3)"
            )),
        }
    }

    /// From its label (as the journal keeps it); `None` for anything else.
    pub fn from_label(label: &str) -> Option<Level> {
        [Level::High, Level::Medium, Level::Low]
            .into_iter()
            .find(|l| l.label().eq_ignore_ascii_case(label.trim()))
    }

    pub fn label(self) -> &'static str {
        match self {
            Level::High => "High",
            Level::Medium => "Medium",
            Level::Low => "Low",
        }
    }
}

/// How complete the change details are: `Full` when the change's own fields were readable
/// (directly or through the approval's reference), `Summary` when only the task-level fields on
/// the approval row came through (plain approvers often cannot read `change_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DetailSource {
    Full,
    #[default]
    Summary,
    /// The change's fields came through but not yet its long texts (description,
    /// justification, plans, risk analysis): a full pull fetches those after the queue is
    /// usable (see [`LongTexts`]).
    TextsPending,
}

/// A change's long texts, fetched after the rest of the queue by a full pull. Sanitised when
/// set on a change ([`Change::set_long_texts`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LongTexts {
    pub description: String,
    pub justification: String,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
    pub risk_impact_analysis: String,
}

/// A change request as an approver needs to see it. Text fields are already sanitised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Change {
    pub sys_id: String,
    pub number: String,
    pub short_description: String,
    pub description: String,
    pub change_type: Option<ChangeType>,
    pub risk: Option<Risk>,
    pub impact: Option<Level>,
    pub urgency: Option<Level>,
    /// The state's label as the instance shows it ("Authorize").
    pub state: String,
    pub requested_by: UserRef,
    pub assignment_group: String,
    pub configuration_item: String,
    /// The change's category (`category`).
    #[serde(default)]
    pub category: String,
    /// The business service it touches (`business_service`).
    #[serde(default)]
    pub service: String,
    /// The configuration item's class (`cmdb_ci.sys_class_name`), where the change record
    /// could be read.
    #[serde(default)]
    pub ci_class: String,
    /// The configuration item's environment (`cmdb_ci.environment`), likewise.
    #[serde(default)]
    pub environment: String,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub justification: String,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
    pub risk_impact_analysis: String,
    pub on_hold: bool,
    /// The change must go before the change advisory board (`cab_required`). Left out of the
    /// JSON when false, so journal entries written before it existed read the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cab_required: bool,
    /// What the CAB recommended (`cab_recommendation`): set once a board has reviewed it.
    /// Left out of the JSON when empty, as `cab_required`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cab_recommendation: String,
    /// The instance's own SLA clock on the change (`task_sla`) that counts for its approvals,
    /// where it runs one ([`super::context::InstanceSla::counting`]): set by the store from
    /// the SLAs a sync read, never by the change's own row. Left out of the JSON when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_sla: Option<super::context::InstanceSla>,
    pub sys_updated_on: Option<DateTime<Utc>>,
    pub detail_source: DetailSource,
}

impl Change {
    /// Cleans every text for display (escape sequences and control characters removed, lengths
    /// capped) and checks the ids: how a change from the server is kept, so that no output
    /// path (screen, command line, exports) can forget. Idempotent.
    pub fn sanitize(&mut self) -> Result<(), String> {
        // Destructured in full: a new field does not compile until it is considered here.
        let Change {
            sys_id,
            number,
            short_description,
            description,
            change_type,
            risk: _,
            impact: _,
            urgency: _,
            state,
            requested_by,
            assignment_group,
            configuration_item,
            category,
            service,
            ci_class,
            environment,
            start_date: _,
            end_date: _,
            justification,
            implementation_plan,
            backout_plan,
            test_plan,
            risk_impact_analysis,
            on_hold: _,
            cab_required: _,
            cab_recommendation,
            instance_sla,
            sys_updated_on: _,
            detail_source: _,
        } = self;
        check_id("change sys_id", sys_id)?;
        if let Some(s) = instance_sla {
            s.sanitize();
        }
        for line in [
            number,
            short_description,
            state,
            assignment_group,
            configuration_item,
            category,
            service,
            ci_class,
            environment,
            cab_recommendation,
        ] {
            *line = clean_line(line, MAX_LINE);
        }
        for text in [
            description,
            justification,
            implementation_plan,
            backout_plan,
            test_plan,
            risk_impact_analysis,
        ] {
            *text = clean_text(text);
        }
        if let Some(ChangeType::Other(t)) = change_type {
            *t = clean_line(t, 40);
        }
        requested_by.sanitize()
    }
}

/// A long text as kept: escape sequences and control characters removed, length capped.
fn clean_text(text: &str) -> String {
    cap_chars(&sanitize_multiline(text), MAX_TEXT)
}

impl Change {
    /// The long texts (description, justification, plans, risk analysis), which a summary
    /// leaves out.
    pub fn long_texts_mut(&mut self) -> [&mut String; 6] {
        [
            &mut self.description,
            &mut self.justification,
            &mut self.implementation_plan,
            &mut self.backout_plan,
            &mut self.test_plan,
            &mut self.risk_impact_analysis,
        ]
    }

    /// Whether any long text is there (a summary, or a row waiting for its texts, has none).
    pub fn has_long_texts(&self) -> bool {
        [
            &self.description,
            &self.justification,
            &self.implementation_plan,
            &self.backout_plan,
            &self.test_plan,
            &self.risk_impact_analysis,
        ]
        .iter()
        .any(|t| !t.is_empty())
    }

    /// Sets the long texts a full pull fetched after the queue (sanitised here); the change's
    /// details are then complete.
    pub fn set_long_texts(&mut self, texts: &LongTexts) {
        self.description = clean_text(&texts.description);
        self.justification = clean_text(&texts.justification);
        self.implementation_plan = clean_text(&texts.implementation_plan);
        self.backout_plan = clean_text(&texts.backout_plan);
        self.test_plan = clean_text(&texts.test_plan);
        self.risk_impact_analysis = clean_text(&texts.risk_impact_analysis);
        self.detail_source = DetailSource::Full;
    }

    /// When `newer` was updated after this copy, the fields an approver can see that differ
    /// (empty when only the update time moved); `None` when it was not updated since. Long
    /// texts count only when both copies have them (a summary has none).
    pub fn changes_since(&self, newer: &Change) -> Option<Vec<&'static str>> {
        let (Some(before), Some(after)) = (self.sys_updated_on, newer.sys_updated_on) else {
            return None;
        };
        if after <= before {
            return None;
        }
        Some(self.differences(newer))
    }

    /// The fields an approver can see that differ between this copy and `other`. Long texts
    /// count only when both copies have them (a summary has none).
    pub fn differences(&self, newer: &Change) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut check = |name: &'static str, differs: bool| {
            if differs {
                fields.push(name);
            }
        };
        check("title", self.short_description != newer.short_description);
        check("state", self.state != newer.state);
        check("type", self.change_type != newer.change_type);
        check("risk", self.risk != newer.risk);
        check("impact", self.impact != newer.impact);
        check("urgency", self.urgency != newer.urgency);
        check("planned start", self.start_date != newer.start_date);
        check("planned end", self.end_date != newer.end_date);
        for (name, a, b) in [
            ("description", &self.description, &newer.description),
            (
                "implementation plan",
                &self.implementation_plan,
                &newer.implementation_plan,
            ),
            ("backout plan", &self.backout_plan, &newer.backout_plan),
            ("test plan", &self.test_plan, &newer.test_plan),
            ("justification", &self.justification, &newer.justification),
        ] {
            check(name, !a.is_empty() && !b.is_empty() && a != b);
        }
        fields
    }
}

/// The state of one approval row. Stored values follow ServiceNow exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    NotRequested,
    Requested,
    Approved,
    Rejected,
    Cancelled,
    NotRequired,
    Skipped,
    #[serde(untagged)]
    Other(String),
}

impl ApprovalState {
    pub fn from_value(value: &str) -> ApprovalState {
        match value.trim() {
            "not requested" => ApprovalState::NotRequested,
            "requested" => ApprovalState::Requested,
            "approved" => ApprovalState::Approved,
            "rejected" => ApprovalState::Rejected,
            "cancelled" => ApprovalState::Cancelled,
            "not_required" => ApprovalState::NotRequired,
            "skipped" => ApprovalState::Skipped,
            other => ApprovalState::Other(clean_line(other, 40)),
        }
    }

    pub fn value(&self) -> &str {
        match self {
            ApprovalState::NotRequested => "not requested",
            ApprovalState::Requested => "requested",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Cancelled => "cancelled",
            ApprovalState::NotRequired => "not_required",
            ApprovalState::Skipped => "skipped",
            ApprovalState::Other(s) => s,
        }
    }
}

/// One person's sign-off on one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub sys_id: String,
    pub state: ApprovalState,
    pub approver: UserRef,
    /// When the approval was requested (the row's creation time).
    pub requested_at: DateTime<Utc>,
    /// The approval's own due date, where the backend sets one.
    pub due_date: Option<DateTime<Utc>>,
    /// Set when the approval belongs to a group approval.
    pub group: Option<String>,
    /// What created or decides it (`approval_source`: a rule or approval policy), empty for a
    /// plain approval. Left out of the JSON when empty, so older journal hashes stay.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub sys_updated_on: Option<DateTime<Utc>>,
    pub change: Change,
}

impl Approval {
    /// Cleans every server string and checks every id (see [`Change::sanitize`]).
    pub fn sanitize(&mut self) -> Result<(), String> {
        let Approval {
            sys_id,
            state,
            approver,
            requested_at: _,
            due_date: _,
            group,
            source,
            sys_updated_on: _,
            change,
        } = self;
        check_id("sys_id", sys_id)?;
        if let ApprovalState::Other(s) = state {
            *s = clean_line(s, 40);
        }
        approver.sanitize()?;
        if let Some(g) = group {
            *g = clean_line(g, MAX_LINE);
        }
        *source = clean_line(source, MAX_LINE);
        change.sanitize()
    }

    /// Whether the approval belongs in the queue: requested, or paused because its change is
    /// on hold.
    pub fn in_queue(&self) -> bool {
        match self.state {
            ApprovalState::Requested => true,
            ApprovalState::NotRequired => self.change.on_hold,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The long texts of the second pass come from the server like every other text: they
    /// are sanitised when set, and the change's details are then complete.
    #[test]
    fn long_texts_are_sanitised_when_set() {
        let mut c = Change {
            detail_source: DetailSource::TextsPending,
            ..Change::default()
        };
        let evil = "Line one\u{1b}[2J\u{1b}]8;;http://x\u{7}\nLine two\u{9b}31m\u{202e}";
        c.set_long_texts(&LongTexts {
            description: evil.into(),
            justification: evil.into(),
            implementation_plan: evil.into(),
            backout_plan: evil.into(),
            test_plan: evil.into(),
            risk_impact_analysis: "x".repeat(MAX_TEXT * 2),
        });
        assert_eq!(c.detail_source, DetailSource::Full);
        for t in [
            &c.description,
            &c.justification,
            &c.implementation_plan,
            &c.backout_plan,
            &c.test_plan,
        ] {
            assert!(t.starts_with("Line one") && t.contains("Line two"), "{t:?}");
            assert!(!t.chars().any(|ch| ch.is_control() && ch != '\n'), "{t:?}");
            assert!(!t.contains('\u{202e}') && !t.contains('\u{9b}'), "{t:?}");
        }
        assert!(c.risk_impact_analysis.chars().count() <= MAX_TEXT);
    }
}
