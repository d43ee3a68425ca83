//! Helpers shared by the UI tests: keys in, screen text out.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use signoff::domain::{
    Approval, ApprovalState, Change, ChangeType, Delegation, DetailSource, Level, Risk, User,
    UserRef,
};
use signoff::ui::{AppState, Msg, Synced, Theme, views};

/// Alice's decision of `kind` on `a` at `at`, with `why` as its justification (the default
/// rules), as the outbox keeps it.
pub fn decision(
    a: &Approval,
    kind: signoff::domain::DecisionKind,
    at: DateTime<Utc>,
    why: &str,
) -> signoff::domain::Decision {
    use signoff::domain::{Justification, JustificationRules};
    signoff::domain::Decision {
        client_id: format!("c-{}-{}", a.sys_id, at.timestamp()),
        kind,
        approval_sys_id: a.sys_id.clone(),
        change_sys_id: a.change.sys_id.clone(),
        change_number: a.change.number.clone(),
        justification: Justification::parse(why, kind, &JustificationRules::default()).unwrap(),
        acting_user: UserRef {
            sys_id: "u1".into(),
            name: "Alice Moreno".into(),
            ..Default::default()
        },
        on_behalf_of: None,
        created_at: at,
        seen: a.clone(),
        controls: vec![],
        anchor: None,
        policy_hash: None,
        risk_acceptance: None,
    }
}

/// The UI tests' "now": a fixed instant (no sim is involved; snapshots show dates).
pub fn now() -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// A requested approval of Alice's on change CHG00300nn, requested `age_min` minutes before
/// `now()`, its window starting 30 hours after.
pub fn approval(n: usize, ty: &str, risk: &str, impact: &str, age_min: i64) -> Approval {
    Approval {
        source: Default::default(),
        sys_id: format!("appr{n:04}"),
        state: ApprovalState::Requested,
        approver: UserRef {
            sys_id: "u1".into(),
            name: "Alice Moreno".into(),
            ..Default::default()
        },
        requested_at: now() - Duration::minutes(age_min),
        due_date: None,
        group: None,
        sys_updated_on: None,
        change: Change {
            sys_id: format!("chg{n:04}"),
            number: format!("CHG{:07}", 30000 + n),
            short_description: format!("Change number {n} with a reasonably long title"),
            description: "Line one\nLine two".into(),
            change_type: Some(ChangeType::parse(ty)),
            risk: Risk::from_value(risk).unwrap(),
            impact: Level::from_value(impact).unwrap(),
            urgency: Some(Level::Medium),
            state: "Authorize".into(),
            requested_by: UserRef {
                sys_id: "u2".into(),
                name: "Ben Ishikawa".into(),
                ..Default::default()
            },
            assignment_group: "Network Operations".into(),
            configuration_item: "edge-router-ams-2".into(),
            start_date: Some(now() + Duration::hours(30)),
            end_date: Some(now() + Duration::hours(32)),
            detail_source: DetailSource::Full,
            ..Change::default()
        },
    }
}

/// The demo approver as the UI tests know her.
pub fn alice() -> User {
    User {
        sys_id: "u1".into(),
        user_name: "alice.moreno".into(),
        name: "Alice Moreno".into(),
        email: "alice@example.com".into(),
    }
}

/// The console at `w`×`h` against `instance`, signed in as Alice, with `approvals` synced
/// three minutes ago and the clock at `now()`.
pub fn state_with(instance: &str, approvals: Vec<Approval>, w: u16, h: u16) -> AppState {
    let mut s = AppState::new(
        instance.into(),
        "alice.moreno".into(),
        signoff::domain::Policy::default(),
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    signoff::ui::update(&mut s, Msg::Resize(w, h));
    signoff::ui::update(
        &mut s,
        synced(alice(), approvals, vec![], now() - Duration::minutes(3)),
    );
    signoff::ui::update(&mut s, Msg::Tick(now()));
    s
}

/// A finished sync as the engine reports it.
pub fn synced(
    user: User,
    approvals: Vec<Approval>,
    delegations: Vec<Delegation>,
    at: DateTime<Utc>,
) -> Msg {
    Msg::Synced(Box::new(Synced {
        user,
        at,
        approvals: Some(approvals.into()),
        outbox_pending: 0,
        open: vec![],
        delegations,
        summary: "0 added, 0 updated, 0 removed (full pull)".into(),
        notices: Vec::new(),
    }))
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Draws the real views into a `w`×`h` TestBackend at `now`.
pub fn render_at(
    s: &AppState,
    w: u16,
    h: u16,
    now: chrono::DateTime<chrono::Utc>,
    theme: &Theme,
) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, s, now, theme)).unwrap();
    t
}

/// The screen as text, one line per row.
pub fn screen(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The screen line that contains `needle`.
pub fn line_with(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not on screen:\n{text}"))
        .to_string()
}
