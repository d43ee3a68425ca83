//! Insights (issue 16) over a crafted set of decisions, against figures worked out by hand;
//! the `I` screen draws them as a bar chart and a sparkline that read without colour.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::ui::{approval, now, render_at, screen, state_with};
use signoff::domain::insights::{PERIODS, compute};
use signoff::domain::{Approval, Decision, DecisionKind, Delivery, Policy};
use signoff::ui::{Msg, Theme, update};

/// A decision on `a`, `minutes_after` its request.
fn decided(a: &Approval, kind: DecisionKind, minutes_after: i64, why: &str) -> Decision {
    common::ui::decision(
        a,
        kind,
        a.requested_at + Duration::minutes(minutes_after),
        why,
    )
}

fn at_minutes_ago(n: usize, ty: &str, risk: &str, impact: &str, ago: i64) -> Approval {
    let mut a = approval(n, ty, risk, impact, 0);
    a.requested_at = now() - Duration::minutes(ago);
    a
}

/// The insights screen with the last 30 days' figures of `decisions`.
fn shown(s: &mut signoff::ui::AppState, decisions: &[(Decision, Delivery)]) {
    let figures = compute(&Policy::default(), decisions, &[], &[], &[], now(), 30);
    update(
        s,
        Msg::Insights {
            days: 30,
            result: Ok(Box::new(figures)),
        },
    );
}

fn applied() -> Delivery {
    Delivery::Applied { at: now() }
}

#[test]
fn the_figures_are_the_ones_worked_out_by_hand() {
    let policy = Policy::default();
    // Four normal low-risk approvals decided in 10, 20, 30 and 40 minutes; one rejected
    // twice for the same CI and requester; one emergency decided in 90 minutes, 30 minutes
    // before its window; one decision 40 days ago (outside 30 days); one in conflict.
    let mut a: Vec<Approval> = (1..=4)
        .map(|i| at_minutes_ago(i, "normal", "4", "3", 600 + i as i64 * 60))
        .collect();
    a[2].change.configuration_item = "db-01".into();
    a[3].change.configuration_item = "db-01".into();
    let mut e = at_minutes_ago(5, "emergency", "2", "1", 200);
    e.change.start_date = Some(e.requested_at + Duration::minutes(120));
    let old = at_minutes_ago(6, "normal", "4", "3", 40 * 24 * 60);
    let conflicted = at_minutes_ago(7, "normal", "4", "3", 300);
    let decisions = vec![
        (
            decided(
                &a[0],
                DecisionKind::Approve,
                10,
                "Looks fine, backout rehearsed.",
            ),
            applied(),
        ),
        (
            decided(
                &a[1],
                DecisionKind::Approve,
                20,
                "Looks fine, backout rehearsed.",
            ),
            applied(),
        ),
        (
            decided(
                &a[2],
                DecisionKind::Reject,
                30,
                "No rollback plan for the database.",
            ),
            applied(),
        ),
        (
            decided(
                &a[3],
                DecisionKind::Reject,
                40,
                "No rollback plan for the database!",
            ),
            applied(),
        ),
        (
            decided(
                &e,
                DecisionKind::Approve,
                90,
                "Emergency fix, reviewed with the on-call.",
            ),
            applied(),
        ),
        (
            decided(
                &old,
                DecisionKind::Approve,
                5,
                "Old one, outside the period.",
            ),
            applied(),
        ),
        (
            decided(
                &conflicted,
                DecisionKind::Approve,
                5,
                "Went in conflict, not counted.",
            ),
            Delivery::Conflict {
                reason: "moved".into(),
            },
        ),
        (
            decided(&a[0], DecisionKind::Hold, 1, "Holds are not outcomes."),
            applied(),
        ),
    ];
    let f = compute(&policy, &decisions, &[], &[], &[], now(), 30);
    assert_eq!(
        (f.decisions, f.approved, f.rejected, f.not_applied),
        (5, 3, 2, 1)
    );
    assert!((f.rejection_rate - 0.4).abs() < 1e-9);
    let tier_of = |x: &Approval| policy.classify(&x.change).tier.label().to_string();
    let low = f
        .cycle_time
        .iter()
        .find(|c| c.tier == tier_of(&a[0]))
        .unwrap();
    // 10, 20, 30, 40: nearest-rank median 20, p90 40.
    assert_eq!(
        (low.decisions, low.median_minutes, low.p90_minutes),
        (4, 20, 40)
    );
    let em = f.cycle_time.iter().find(|c| c.tier == tier_of(&e)).unwrap();
    assert_eq!(
        (em.decisions, em.median_minutes, em.p90_minutes),
        (1, 90, 90)
    );
    // Per day: 30 entries, summing to the five counted decisions.
    assert_eq!(f.per_day.len(), 30);
    assert_eq!(f.per_day.iter().sum::<u64>(), 5);
    // The two rejections read as one reason, and db-01 and its requester are flagged.
    assert_eq!(f.top_reasons.len(), 1);
    assert_eq!(f.top_reasons[0].count, 2);
    let flagged: Vec<(&str, &str, usize)> = f
        .repeated
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str(), r.rejections))
        .collect();
    assert_eq!(
        flagged,
        vec![("requester", "Ben Ishikawa", 2), ("ci", "db-01", 2)]
    );
    let group = &f.rejections_by_group[0];
    // All five changes are Network Operations'.
    assert_eq!((group.decided, group.rejected), (5, 2));
    // The emergency was approved 30 minutes before its window: last-minute.
    assert_eq!(f.last_minute.len(), 1);
    assert_eq!(
        (f.last_minute[0].tier.as_str(), f.last_minute[0].count),
        (tier_of(&e).as_str(), 1)
    );
    // Over 90 days the old decision counts too; over 7 the same as 30.
    assert_eq!(
        compute(&policy, &decisions, &[], &[], &[], now(), 90).decisions,
        6
    );
    assert_eq!(
        compute(&policy, &decisions, &[], &[], &[], now(), 7).decisions,
        5
    );
    let _: DateTime<Utc> = now();
}

#[test]
fn the_screen_draws_the_charts_with_their_numbers_and_tab_steps_the_period() {
    let mut s = state_with(
        "https://x.service-now.com",
        vec![approval(1, "normal", "4", "3", 30)],
        100,
        30,
    );
    let effects = update(&mut s, common::ui::ch('I'));
    assert_eq!(effects, vec![signoff::ui::Effect::Insights { days: 30 }]);
    let a = at_minutes_ago(2, "normal", "4", "3", 600);
    let decisions = vec![(
        decided(
            &a,
            DecisionKind::Reject,
            75,
            "No rollback plan for the database.",
        ),
        applied(),
    )];
    shown(&mut s, &decisions);
    // Without colour the figures are still there as text.
    let theme = Theme::named("dark", true).unwrap();
    let text = screen(&render_at(&s, 100, 30, now(), &theme));
    assert!(text.contains("Insights · last 30 days"), "{text}");
    assert!(
        text.contains("1 decision · 0 approved · 1 rejected (100%)"),
        "{text}"
    );
    assert!(text.contains("Cycle time by tier"), "{text}");
    assert!(
        text.contains("1h15/1h15"),
        "the bar's value as text\n{text}"
    );
    assert!(
        text.contains("Decisions per day (max 1, 1 in all)"),
        "{text}"
    );
    assert!(
        text.contains("“No rollback plan for the database.”"),
        "{text}"
    );
    let effects = update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Tab,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    assert_eq!(
        effects,
        vec![signoff::ui::Effect::Insights { days: PERIODS[2] }]
    );
    assert!(screen(&render_at(&s, 100, 30, now(), &theme)).contains("Computing…"));
    update(&mut s, common::ui::key(crossterm::event::KeyCode::Esc));
    assert!(s.insights.is_none());
}

/// The insights screen at 80x24, without colour.
#[test]
fn snapshot_insights() {
    let mut s = state_with(
        "https://x.service-now.com",
        vec![approval(1, "normal", "4", "3", 30)],
        80,
        24,
    );
    update(&mut s, common::ui::ch('I'));
    let a = at_minutes_ago(2, "normal", "4", "3", 600);
    let b = at_minutes_ago(3, "emergency", "2", "1", 300);
    let decisions = vec![
        (
            decided(
                &a,
                DecisionKind::Reject,
                75,
                "No rollback plan for the database.",
            ),
            applied(),
        ),
        (
            decided(
                &b,
                DecisionKind::Approve,
                20,
                "Emergency fix, reviewed with on-call.",
            ),
            applied(),
        ),
    ];
    shown(&mut s, &decisions);
    let theme = Theme::named("dark", true).unwrap();
    insta::assert_snapshot!(render_at(&s, 80, 24, now(), &theme).backend());
}
