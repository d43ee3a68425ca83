//! The console's delegation form reads and shows each date in the offset in force on that
//! date: in London in November (GMT), a July window is typed and shown in summer time (BST).
//! Its own test binary, so that setting TZ before any time is read affects nothing else.

use chrono::{TimeZone, Utc};
use signoff::domain::when::Zone;
use signoff::domain::{Delegation, User, UserRef};
use signoff::ui::state::DelegationForm;

#[test]
fn a_july_window_typed_in_a_london_winter_is_in_summer_time() {
    // SAFETY: the only test of this binary, run before anything reads the environment.
    unsafe { std::env::set_var("TZ", "Europe/London") };
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let me = User {
        sys_id: "me".into(),
        user_name: "sam.okafor".into(),
        name: "Sam Okafor".into(),
        email: String::new(),
    };
    let bob = UserRef {
        sys_id: "bob".into(),
        name: "Bob Lee".into(),
        ..Default::default()
    };
    let mut form = DelegationForm::open(None, now, Zone::Local);
    // Tomorrow 08:00 in winter is 08:00 UTC.
    assert_eq!(form.starts, "2026-11-26 08:00");
    form.delegate = Some(bob.clone());
    form.starts = "2027-07-01 09:00".into();
    form.ends = "2027-07-08 18:00".into();
    form.validate(Some(&me), &[], Zone::Local, now);
    let draft = form.verdict.clone().expect("a valid window");
    assert_eq!(
        draft.starts,
        Utc.with_ymd_and_hms(2027, 7, 1, 8, 0, 0).unwrap()
    );
    assert_eq!(
        draft.ends,
        Utc.with_ymd_and_hms(2027, 7, 8, 17, 0, 0).unwrap()
    );

    // Across the change back to winter time: each end in its own offset.
    form.starts = "2027-10-30 09:00".into();
    form.ends = "2027-11-01 09:00".into();
    form.validate(Some(&me), &[], Zone::Local, now);
    let draft = form.verdict.clone().expect("a valid window");
    assert_eq!(
        draft.starts,
        Utc.with_ymd_and_hms(2027, 10, 30, 8, 0, 0).unwrap()
    );
    assert_eq!(
        draft.ends,
        Utc.with_ymd_and_hms(2027, 11, 1, 9, 0, 0).unwrap()
    );

    // Editing a July delegation shows it as it was typed.
    let existing = Delegation {
        sys_id: "d1".into(),
        user: me.reference(),
        delegate: bob,
        starts: Some(Utc.with_ymd_and_hms(2027, 7, 1, 8, 0, 0).unwrap()),
        ends: Some(Utc.with_ymd_and_hms(2027, 7, 8, 17, 0, 0).unwrap()),
        approvals: true,
    };
    let form = DelegationForm::open(Some(&existing), now, Zone::Local);
    assert_eq!(form.starts, "2027-07-01 09:00");
    assert_eq!(form.ends, "2027-07-08 18:00");
    assert_eq!(
        signoff::cli::zone_label(Zone::Local),
        "Europe/London, summer or winter by date"
    );
}
