//! The approval policy: how a change maps to a risk tier, and each tier's response time.
//!
//! Defaults follow common CAB practice; an organisation overrides them in its policy file.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::change::{Change, ChangeType, Level, Risk};
use super::decision::JustificationRules;

/// Risk tiers in queue order: emergency changes always come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskTier {
    Emergency,
    Critical,
    High,
    Moderate,
    Low,
}

impl RiskTier {
    pub const ALL: [RiskTier; 5] = [
        RiskTier::Emergency,
        RiskTier::Critical,
        RiskTier::High,
        RiskTier::Moderate,
        RiskTier::Low,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RiskTier::Emergency => "Emergency",
            RiskTier::Critical => "Critical",
            RiskTier::High => "High",
            RiskTier::Moderate => "Moderate",
            RiskTier::Low => "Low",
        }
    }

    /// A four-letter form for narrow screens.
    pub fn short_label(self) -> &'static str {
        match self {
            RiskTier::Emergency => "Emer",
            RiskTier::Critical => "Crit",
            RiskTier::High => "High",
            RiskTier::Moderate => "Mod",
            RiskTier::Low => "Low",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The tier of a change and the reason for it, in words an approver reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierAssessment {
    pub tier: RiskTier,
    pub reason: String,
}

/// Response time per tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaHours {
    pub emergency: f64,
    pub critical: f64,
    pub high: f64,
    pub moderate: f64,
    pub low: f64,
}

impl Default for SlaHours {
    fn default() -> Self {
        SlaHours {
            emergency: 1.0,
            critical: 4.0,
            high: 8.0,
            moderate: 24.0,
            low: 72.0,
        }
    }
}

/// The approval policy. Deserialises from the `[policy]` table of the config file; every field
/// has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Hours from the request to the response deadline, per tier.
    pub sla_hours: SlaHours,
    /// Fraction of the response time after which an approval is in warning (0..1).
    pub warning_at: f64,
    /// After a breach, the escalation level rises by one for every this many hours past the
    /// deadline (level 1 at the breach itself).
    pub escalation_step_hours: f64,
    /// The highest escalation level.
    pub max_escalation_level: u8,
    /// What a justification must be.
    pub justification: JustificationRules,
    /// Who to chase, per tier, when no approver is present (the `[policy.fallback]` table:
    /// `critical = "Carla Diaz"`).
    pub fallback: std::collections::BTreeMap<RiskTier, String>,
    /// A breach at this escalation level or higher calls for the fallback too.
    pub fallback_at_level: u8,
    /// `[[policy.controls]]`: the compliance controls and the changes they cover.
    pub controls: Vec<ControlRule>,
    /// `[policy.environments]`: per environment, the lowest tier whose approval covers a
    /// deployment there (`prod = "moderate"`: a Low change's approval does not). An
    /// environment not listed is covered by any approved change.
    pub environments: std::collections::BTreeMap<String, RiskTier>,
    /// How long the local journal keeps its entries, in years (7: SOX).
    pub retention_years: u32,
    /// A legal hold keeps every journal entry, whatever their age.
    pub legal_hold: bool,
    /// `[policy.deviations]`: approvals outside the standard path, which need a risk
    /// acceptance.
    pub deviations: super::governance::Deviations,
    /// `[policy.automation]`: approval sources that approve by themselves at the due date.
    pub automation: super::governance::Automation,
    /// `[policy.schedules.NAME]`: business hours a tier's response time may count in.
    pub schedules: std::collections::BTreeMap<String, super::schedule::ScheduleSpec>,
    /// `[policy.business_hours]`: per tier, the schedule its response time counts in
    /// (`moderate = "emea"`); a tier not listed counts around the clock.
    pub business_hours: std::collections::BTreeMap<RiskTier, String>,
    /// `[policy.working_hours]`: per person (name as the instance shows it), the schedule of
    /// their working hours (`"Carla Diaz" = "apac"`), for who is there to decide now.
    pub working_hours: std::collections::BTreeMap<String, String>,
    /// `schedules`, built once (see [`super::schedule::Built`]).
    #[serde(skip)]
    pub built: super::schedule::Built,
}

/// A compliance control and the changes it covers: every attribute given must match (any of
/// its values, case-insensitively; a trailing `*` matches a prefix); a rule with none covers
/// every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRule {
    /// The control's id, e.g. `SOX-ITGC-CM-02`.
    pub id: String,
    #[serde(default)]
    pub ci_class: Vec<String>,
    #[serde(default)]
    pub group: Vec<String>,
    #[serde(default)]
    pub category: Vec<String>,
    #[serde(default)]
    pub service: Vec<String>,
    #[serde(default)]
    pub environment: Vec<String>,
    #[serde(default)]
    pub tier: Vec<RiskTier>,
}

fn matches_any(patterns: &[String], value: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => value.to_lowercase().starts_with(&prefix.to_lowercase()),
            None => p.eq_ignore_ascii_case(value.trim()),
        })
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            sla_hours: SlaHours::default(),
            warning_at: 0.75,
            escalation_step_hours: 1.0,
            max_escalation_level: 3,
            justification: JustificationRules::default(),
            fallback: std::collections::BTreeMap::new(),
            fallback_at_level: 2,
            controls: Vec::new(),
            environments: std::collections::BTreeMap::new(),
            retention_years: 7,
            legal_hold: false,
            deviations: super::governance::Deviations::default(),
            automation: super::governance::Automation::default(),
            schedules: std::collections::BTreeMap::new(),
            business_hours: std::collections::BTreeMap::new(),
            working_hours: std::collections::BTreeMap::new(),
            built: Default::default(),
        }
    }
}

impl Policy {
    /// Checks the numbers make sense; returns a sentence naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        let h = &self.sla_hours;
        for (name, v) in [
            ("emergency", h.emergency),
            ("critical", h.critical),
            ("high", h.high),
            ("moderate", h.moderate),
            ("low", h.low),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 24.0 * 365.0) {
                return Err(format!(
                    "policy.sla_hours.{name} is {v}; it must be a number of hours above 0 and at most a year"
                ));
            }
        }
        if !(self.warning_at > 0.0 && self.warning_at < 1.0) {
            return Err(format!(
                "policy.warning_at is {}; it must be a fraction between 0 and 1, such as 0.75",
                self.warning_at
            ));
        }
        if !(self.escalation_step_hours.is_finite()
            && self.escalation_step_hours > 0.0
            && self.escalation_step_hours <= 24.0 * 365.0)
        {
            return Err(
                "policy.escalation_step_hours must be a number of hours above 0 and at most a year"
                    .into(),
            );
        }
        if !(1..=100).contains(&self.retention_years) {
            return Err(format!(
                "policy.retention_years is {}; it must be between 1 and 100",
                self.retention_years
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        for name in self.environments.keys() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!(
                    "policy.environments has the environment {:?}; a name is letters, digits and - _ . (as --env takes it)",
                    super::text::clean_line(name, 40)
                ));
            }
            let lower = name.to_lowercase();
            if seen.contains(&lower) {
                return Err(format!(
                    "policy.environments names {name:?} twice (names are compared without case)"
                ));
            }
            seen.push(lower);
        }
        for c in &self.controls {
            let id = c.id.trim();
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.:/".contains(ch))
            {
                return Err(format!(
                    "policy.controls has the id {:?}; an id is 1 to 64 letters, digits and - _ . : /",
                    super::text::clean_line(id, 70)
                ));
            }
        }
        self.deviations.validate()?;
        for (name, spec) in &self.schedules {
            spec.build()
                .map_err(|e| format!("policy.schedules.{name}: {e}"))?;
        }
        for (person, name) in &self.working_hours {
            if !self.schedules.contains_key(name) {
                return Err(format!(
                    "policy.working_hours gives {person:?} the schedule {name:?}, which [policy.schedules] does not define"
                ));
            }
        }
        for (tier, name) in &self.business_hours {
            if !self.schedules.contains_key(name) {
                return Err(format!(
                    "policy.business_hours.{} names the schedule {name:?}, which [policy.schedules] does not define",
                    tier.label().to_lowercase()
                ));
            }
        }
        self.justification.validate()
    }

    /// The business-hours schedule an approval's response time counts in, by its change's
    /// tier: in the change's assignment group's zone where the schedule names one, else in
    /// the approver's own zone (as the instance keeps it) where the schedule says
    /// `approver_zone = true`, else in the schedule's zone. `None`: around the clock.
    pub fn schedule_for(
        &self,
        tier: RiskTier,
        approval: &super::change::Approval,
    ) -> Option<super::schedule::Schedule> {
        let name = self.business_hours.get(&tier)?;
        let mut s = self.built.get(&self.schedules, name)?;
        let spec = self.schedules.get(name)?;
        let zone = spec
            .group_zone(&approval.change.assignment_group)
            .or_else(|| approval.approver.zone().filter(|_| spec.approver_zone));
        if let Some(z) = zone {
            s.zone = z;
        }
        Some(s)
    }

    /// The working hours of `person`: the schedule the policy gives them by name (ignoring
    /// case), else the one it gives everyone (`"*"`), counted in the person's own zone where
    /// the instance keeps one (`sys_user.time_zone`: it knows where they are), else in the
    /// schedule's. `None`: the policy gives them none.
    pub fn hours_of(&self, person: &super::change::UserRef) -> Option<super::schedule::Schedule> {
        let named = |who: &str| {
            self.working_hours
                .iter()
                .find(|(p, _)| p.trim().eq_ignore_ascii_case(who))
                .map(|(_, s)| s)
        };
        let name = named(person.name.trim()).or_else(|| named("*"))?;
        let mut s = self.built.get(&self.schedules, name)?;
        if let Some(z) = person.zone() {
            s.zone = z;
        }
        Some(s)
    }

    /// The controls covering `change` (by the tier the policy gives it), sorted, each once.
    pub fn controls_for(&self, change: &Change) -> Vec<String> {
        let tier = self.classify(change).tier;
        let mut ids: Vec<String> = self
            .controls
            .iter()
            .filter(|r| {
                matches_any(&r.ci_class, &change.ci_class)
                    && matches_any(&r.group, &change.assignment_group)
                    && matches_any(&r.category, &change.category)
                    && matches_any(&r.service, &change.service)
                    && matches_any(&r.environment, &change.environment)
                    && (r.tier.is_empty() || r.tier.contains(&tier))
            })
            .map(|r| r.id.trim().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Whether an approved change of `tier` covers a deployment to `environment`; `Err`
    /// names the lowest tier that would.
    pub fn covers(&self, tier: RiskTier, environment: &str) -> Result<(), RiskTier> {
        let needed = self
            .environments
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(environment.trim()))
            .map(|(_, t)| *t);
        match needed {
            // Tiers are ordered most demanding first: Emergency, Critical, … Low.
            Some(lowest) if tier > lowest => Err(lowest),
            _ => Ok(()),
        }
    }

    /// The response time allowed for a tier.
    pub fn response_time(&self, tier: RiskTier) -> Duration {
        let h = &self.sla_hours;
        let hours = match tier {
            RiskTier::Emergency => h.emergency,
            RiskTier::Critical => h.critical,
            RiskTier::High => h.high,
            RiskTier::Moderate => h.moderate,
            RiskTier::Low => h.low,
        };
        hours_to_duration(hours)
    }

    pub fn escalation_step(&self) -> Duration {
        hours_to_duration(self.escalation_step_hours)
    }

    /// Derives the tier from the change's type, risk, impact and urgency.
    ///
    /// Emergency changes come first whatever their risk. Otherwise the assessed risk decides,
    /// raised one tier when impact is also High; with no risk assessed, impact and urgency do.
    pub fn classify(&self, change: &Change) -> TierAssessment {
        use RiskTier as T;
        if change.change_type == Some(ChangeType::Emergency) {
            return TierAssessment {
                tier: T::Emergency,
                reason: "emergency change".into(),
            };
        }
        let impact_high = change.impact == Some(Level::High);
        let (tier, reason) = match change.risk {
            Some(Risk::VeryHigh) => (T::Critical, "risk Very High".to_string()),
            Some(Risk::High) if impact_high => (T::Critical, "risk High, impact High".into()),
            Some(Risk::High) => (T::High, "risk High".into()),
            Some(Risk::Moderate) if impact_high => (T::High, "risk Moderate, impact High".into()),
            Some(Risk::Moderate) => (T::Moderate, "risk Moderate".into()),
            Some(Risk::Low) if change.change_type == Some(ChangeType::Standard) => {
                (T::Low, "standard change, risk Low".into())
            }
            Some(Risk::Low) => (T::Low, "risk Low".into()),
            None => {
                let label = |l: Option<Level>| l.map(Level::label).unwrap_or("unset");
                let tier = match (change.impact, change.urgency) {
                    (Some(Level::High), Some(Level::High)) => T::High,
                    (Some(Level::High), _) | (_, Some(Level::High)) => T::Moderate,
                    (Some(Level::Medium), _) | (_, Some(Level::Medium)) => T::Moderate,
                    _ => T::Low,
                };
                (
                    tier,
                    format!(
                        "risk not assessed; impact {}, urgency {}",
                        label(change.impact),
                        label(change.urgency)
                    ),
                )
            }
        };
        TierAssessment { tier, reason }
    }
}

fn hours_to_duration(hours: f64) -> Duration {
    Duration::seconds((hours * 3600.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(t: &str, risk: &str, impact: &str, urgency: &str) -> Change {
        Change {
            change_type: Some(ChangeType::parse(t)),
            risk: Risk::from_value(risk).unwrap(),
            impact: Level::from_value(impact).unwrap(),
            urgency: Level::from_value(urgency).unwrap(),
            ..Change::default()
        }
    }

    #[test]
    fn tier_classification_table() {
        use RiskTier::*;
        let p = Policy::default();
        let table = [
            // type, risk, impact, urgency => tier, reason
            ("emergency", "4", "3", "3", Emergency, "emergency change"),
            ("emergency", "", "", "", Emergency, "emergency change"),
            ("normal", "1", "3", "3", Critical, "risk Very High"),
            ("normal", "2", "1", "3", Critical, "risk High, impact High"),
            ("normal", "2", "2", "1", High, "risk High"),
            ("normal", "3", "1", "2", High, "risk Moderate, impact High"),
            ("normal", "3", "2", "1", Moderate, "risk Moderate"),
            ("standard", "4", "3", "3", Low, "standard change, risk Low"),
            ("normal", "4", "1", "1", Low, "risk Low"),
            (
                "normal",
                "",
                "1",
                "1",
                High,
                "risk not assessed; impact High, urgency High",
            ),
            (
                "normal",
                "",
                "3",
                "1",
                Moderate,
                "risk not assessed; impact Low, urgency High",
            ),
            (
                "normal",
                "",
                "",
                "",
                Low,
                "risk not assessed; impact unset, urgency unset",
            ),
            ("custom", "2", "3", "3", High, "risk High"),
        ];
        for (t, r, i, u, tier, reason) in table {
            let got = p.classify(&change(t, r, i, u));
            assert_eq!(got.tier, tier, "{t} risk={r} impact={i} urgency={u}");
            assert_eq!(got.reason, reason, "{t} risk={r} impact={i} urgency={u}");
        }
    }

    #[test]
    fn default_response_times() {
        let p = Policy::default();
        assert_eq!(p.response_time(RiskTier::Emergency), Duration::hours(1));
        assert_eq!(p.response_time(RiskTier::Critical), Duration::hours(4));
        assert_eq!(p.response_time(RiskTier::High), Duration::hours(8));
        assert_eq!(p.response_time(RiskTier::Moderate), Duration::hours(24));
        assert_eq!(p.response_time(RiskTier::Low), Duration::hours(72));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn bad_policies_are_named() {
        let mut p = Policy::default();
        p.sla_hours.high = 0.0;
        assert!(p.validate().unwrap_err().contains("sla_hours.high"));
        let p = Policy {
            warning_at: 1.5,
            ..Policy::default()
        };
        assert!(p.validate().unwrap_err().contains("warning_at"));
    }

    #[test]
    fn tiers_sort_emergency_first() {
        let mut v = vec![RiskTier::Low, RiskTier::Emergency, RiskTier::High];
        v.sort();
        assert_eq!(v, [RiskTier::Emergency, RiskTier::High, RiskTier::Low]);
    }

    #[test]
    fn controls_follow_the_change_attributes_and_environments_their_tiers() {
        let p: Policy = toml::from_str(
            r#"
            [[controls]]
            id = "SOX-ITGC-CM-02"
            environment = ["Production"]
            ci_class = ["cmdb_ci_db_*"]
            [[controls]]
            id = "HIPAA-164.308"
            service = ["Patient Records"]
            [[controls]]
            id = "CHG-ALL"
            [environments]
            prod = "moderate"
            "#,
        )
        .unwrap();
        p.validate().unwrap();
        let mut c = change("normal", "3", "2", "2");
        c.environment = "production".into();
        c.ci_class = "cmdb_ci_db_postgresql_instance".into();
        assert_eq!(p.controls_for(&c), ["CHG-ALL", "SOX-ITGC-CM-02"]);
        c.ci_class = "cmdb_ci_linux_server".into();
        c.service = "patient records".into();
        assert_eq!(p.controls_for(&c), ["CHG-ALL", "HIPAA-164.308"]);
        // Tiers are most demanding first: Moderate and above cover prod, Low does not.
        assert_eq!(p.covers(RiskTier::High, "prod"), Ok(()));
        assert_eq!(p.covers(RiskTier::Moderate, "PROD"), Ok(()));
        assert_eq!(p.covers(RiskTier::Low, "prod"), Err(RiskTier::Moderate));
        assert_eq!(p.covers(RiskTier::Low, "staging"), Ok(()));
        let bad: Policy = toml::from_str("[[controls]]\nid = \"SOX ITGC\"\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("policy.controls"));
    }
}
