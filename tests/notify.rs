//! Notifications (issue 16): a new Emergency or Critical approval, or one entering warning or
//! breach, raises a toast (and the bell or a desktop notification where the config asks);
//! starting signoff raises nothing, and each kind can be turned off.

mod common;

use chrono::Duration;
use common::ui::{alice, approval, ch, now, render_at, screen, state_with, synced};
use signoff::domain::{Policy, QueueEntry, RiskTier, SlaStatus};
use signoff::ui::state::notify::NotifyConfig;
use signoff::ui::{AppState, Effect, Msg, Theme, update};

fn theme() -> Theme {
    Theme::named("dark", false).unwrap()
}

/// A low-risk approval and an emergency one, then the queue with a second emergency.
fn queue() -> Vec<signoff::domain::Approval> {
    vec![
        approval(1, "normal", "4", "3", 10),
        approval(2, "emergency", "2", "1", 5),
    ]
}

fn resynced(s: &mut AppState, approvals: Vec<signoff::domain::Approval>) -> Vec<Effect> {
    update(s, synced(alice(), approvals, vec![], now()))
}

#[test]
fn a_new_urgent_approval_raises_a_toast_and_the_first_look_raises_nothing() {
    let mut s = state_with("https://x.service-now.com", queue(), 120, 40);
    assert!(s.watch.toast.is_none(), "starting signoff raises nothing");
    let mut more = queue();
    let mut urgent = approval(3, "emergency", "1", "1", 1);
    urgent.change.short_description = "Fail over the payment database".into();
    more.push(urgent.clone());
    more.push(approval(4, "normal", "4", "3", 1));
    let tier = QueueEntry::new(&Policy::default(), urgent).tier.tier;
    assert!(matches!(tier, RiskTier::Emergency | RiskTier::Critical));
    resynced(&mut s, more.clone());
    let t = s.watch.toast.clone().expect("a toast");
    assert_eq!(t.title, "1 new Emergency or Critical");
    assert_eq!(
        t.lines,
        vec!["new CHG0030003 Fail over the payment database"]
    );
    let text = screen(&render_at(&s, 120, 40, now(), &theme()));
    assert!(text.contains("1 new Emergency or Critical"), "{text}");
    // As it looks at 80x24 (the README shows it).
    let plain = Theme::named("dark", true).unwrap();
    insta::assert_snapshot!(render_at(&s, 80, 24, now(), &plain).backend());
    assert!(
        text.contains("CHG0030003 Fail over the payment database"),
        "{text}"
    );
    // The same queue again: nothing new.
    update(&mut s, ch('j'));
    assert!(s.watch.toast.is_none(), "a key ends the toast");
    resynced(&mut s, more);
    assert!(s.watch.toast.is_none());
}

#[test]
fn approvals_entering_breach_raise_a_toast_once_and_the_bell_when_asked() {
    let mut s = state_with("https://x.service-now.com", queue(), 120, 40);
    s.watch.config = NotifyConfig {
        bell: true,
        ..NotifyConfig::default()
    };
    let e = QueueEntry::new(&Policy::default(), queue()[1].clone());
    assert_eq!(e.sla.status(now()), SlaStatus::OnTrack);
    // The clock passes the emergency's deadline: one toast, with the bell.
    let later = e.sla.deadline + Duration::minutes(1);
    let effects = update(&mut s, Msg::Tick(later));
    let t = s.watch.toast.clone().expect("a toast");
    assert!(t.title.contains("1 breached"), "{t:?}");
    assert!(
        t.lines.iter().any(|l| l.starts_with("breached CHG0030002")),
        "{t:?}"
    );
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
    // It goes after its time, and the same breach is not news again.
    let gone = later + Duration::seconds(9);
    update(&mut s, Msg::Tick(gone));
    assert!(s.watch.toast.is_none());
    update(&mut s, Msg::Tick(gone + Duration::minutes(2)));
    assert!(s.watch.toast.is_none());
}

#[test]
fn each_kind_of_notification_can_be_turned_off() {
    let mut s = state_with("https://x.service-now.com", queue(), 120, 40);
    s.watch.config = NotifyConfig {
        urgent: false,
        sla: false,
        ..NotifyConfig::default()
    };
    let mut more = queue();
    more.push(approval(3, "emergency", "1", "1", 1));
    resynced(&mut s, more);
    let e = QueueEntry::new(&Policy::default(), queue()[1].clone());
    update(&mut s, Msg::Tick(e.sla.deadline + Duration::minutes(1)));
    assert!(s.watch.toast.is_none());
    let config = signoff::config::Config::parse(
        "[notify]\nurgent = false\nbell = true\n",
        std::path::Path::new("config.toml"),
    )
    .unwrap();
    assert_eq!(
        config.notify,
        NotifyConfig {
            urgent: false,
            sla: true,
            bell: true,
            desktop: false
        }
    );
}
