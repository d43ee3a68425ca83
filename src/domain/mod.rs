//! Pure domain types and rules: no IO, no async, no clock reads (time is passed in).
//!
//! The words here are the ones in DESIGN.md: an *approval* is one person's pending sign-off on
//! one *change*; the *policy* turns a change into a *risk tier* (with the reason) and an SLA
//! *clock* into a status.

pub mod audit;
pub mod cab;
pub mod change;
pub mod clock;
pub mod context;
pub mod decision;
pub mod delegation;
pub mod find;
pub mod gate;
pub mod governance;
pub mod history;
pub mod insights;
pub mod policy;
pub mod queue;
pub mod reconcile;
pub mod schedule;
pub mod sla;
pub mod text;
pub mod when;

pub use change::{
    Approval, ApprovalState, Change, ChangeType, DetailSource, Level, LongTexts, Risk, User,
    UserRef,
};
pub use clock::{Clock, FixedClock, ServerClock, StartedAt, SystemClock, describe_skew};
pub use decision::{
    Decision, DecisionKind, Delivery, Justification, JustificationError, JustificationRules,
};
pub use delegation::{
    Delegation, DelegationDraft, DelegationStatus, acting_for, check_delegation, needs_fallback,
};
pub use policy::{Policy, RiskTier, TierAssessment};
pub use queue::{QueueEntry, QueueIndex, QueueKey, build_queue};
pub use sla::{SlaClock, SlaStatus};
