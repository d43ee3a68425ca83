//! Business-hours SLA clocks in the console (issue 17): a tier counted on a schedule shows the
//! working time left, and outside hours says the clock is paused and until when.

mod common;

use chrono::Duration;
use common::ui::{alice, approval, key, now, render_at, screen, synced};
use crossterm::event::KeyCode;
use signoff::domain::Policy;
use signoff::ui::{AppState, Msg, Theme, update};

/// Low changes count 14:00–18:00 Berlin time on weekdays; the clock stands at Wednesday
/// 2026-11-25 12:00 UTC (13:00 in Berlin), before the day's hours.
fn policy() -> Policy {
    let p: Policy = toml::from_str(
        r#"
        [business_hours]
        low = "afternoons"
        [schedules.afternoons]
        zone = "Europe/Berlin"
        hours = "14:00-18:00"
        "#,
    )
    .unwrap();
    p.validate().unwrap();
    p
}

fn console(p: Policy) -> AppState {
    let mut s = AppState::new(
        "https://x.service-now.com".into(),
        "alice.moreno".into(),
        p,
        chrono::FixedOffset::east_opt(0).unwrap(),
    );
    update(&mut s, Msg::Resize(140, 40));
    // A Low change requested yesterday at 12:00 UTC: four working hours counted since
    // (14:00–18:00 Berlin), so 72 − 4 = 68 working hours left.
    let mut a = approval(1, "normal", "4", "3", 24 * 60);
    // No window to cut the deadline short.
    a.change.start_date = None;
    a.change.end_date = None;
    update(
        &mut s,
        synced(alice(), vec![a], vec![], now() - Duration::minutes(3)),
    );
    update(&mut s, Msg::Tick(now()));
    s
}

#[test]
fn a_business_hours_clock_counts_working_time_and_says_when_it_is_paused() {
    let s = console(policy());
    let item = s.queue.item(0).unwrap();
    assert!(item.sla.business);
    let b = item
        .sla
        .business_clock(&s.policy, &item.approval, item.tier.tier, now())
        .unwrap();
    assert_eq!(b.left, Duration::hours(68));
    assert_eq!(b.paused_until.as_deref(), Some("Wed 14:00 CET"));
    // Four hours on the Tuesday, then 17 working days of four: Thursday 17 December, 18:00
    // in Berlin.
    assert_eq!(item.sla.deadline.to_rfc3339(), "2026-12-17T17:00:00+00:00");
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render_at(&s, 140, 40, now(), &theme));
    assert!(text.contains("⏸ 2d 20h left"), "{text}");
    let mut s = s;
    update(&mut s, key(KeyCode::Enter));
    let text = screen(&render_at(&s, 140, 40, now(), &theme));
    assert!(
        text.contains("⏸ paused until Wed 14:00 CET · 2d 20h business time left  (on track, due Thu 17 Dec 17:00)"),
        "{text}"
    );

    // Inside hours the clock runs: no pause.
    let later = now() + Duration::hours(2);
    let item = s.queue.item(0).unwrap();
    let b = item
        .sla
        .business_clock(&s.policy, &item.approval, item.tier.tier, later)
        .unwrap();
    assert_eq!(b.paused_until, None);
    assert_eq!(b.left, Duration::hours(67));

    // The same change around the clock: 72 hours from the request.
    let plain = console(Policy::default());
    let item = plain.queue.item(0).unwrap();
    assert!(!item.sla.business);
    assert_eq!(item.sla.deadline, now() + Duration::hours(48));
}

#[test]
fn an_approver_outside_their_working_hours_is_marked_in_the_queue_and_the_detail() {
    let mut p = policy();
    p.working_hours
        .insert("Alice Moreno".into(), "afternoons".into());
    p.validate().unwrap();
    let mut s = console(p);
    let theme = Theme::named("dark", false).unwrap();
    let text = screen(&render_at(&s, 140, 40, now(), &theme));
    let row = common::ui::line_with(&text, "CHG0030001");
    assert!(row.contains("☾ Change number 1"), "{row}");
    update(&mut s, key(KeyCode::Enter));
    let text = screen(&render_at(&s, 140, 40, now(), &theme));
    assert!(
        text.contains("☾ outside working hours until Wed 14:00 CET"),
        "{text}"
    );
    // In her hours, no mark.
    let later = now() + Duration::hours(2);
    update(&mut s, Msg::Tick(later));
    let text = screen(&render_at(&s, 140, 40, later, &theme));
    assert!(text.contains("in working hours now"), "{text}");
}
