//! `signoff auth login|status|logout` with the file fallback (no keyring in the test
//! environment; tests/keyring.rs covers the Secret Service): the password is checked before it
//! is kept, kept owner-only, used when SIGNOFF_PASSWORD is not set, and removed.

mod common;

use std::io::Write;

use common::{stderr as err, stdout as out};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER};

fn signoff(home: &std::path::Path, url: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = common::signoff(home, args);
    c.env("SIGNOFF_INSTANCE", url)
        .env("SIGNOFF_USER", DEMO_USER);
    c
}

#[tokio::test]
async fn a_password_is_checked_kept_used_and_removed() {
    let server = common::sim(3, 30, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let credentials = h.join("data").join("credentials");

    // Without one: a sentence that says how to keep one.
    let o = signoff(h, &url, &["queue", "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("signoff auth login"), "{}", err(&o));

    // A wrong password is refused and not kept.
    let o = common::with_stdin(
        signoff(h, &url, &["auth", "login", "--password-stdin"]),
        "wrong\n",
    )
    .await;
    assert_eq!(o.status.code(), Some(5), "exit 5: refused; {}", out(&o));
    assert!(err(&o).contains("refused the sign-in"), "{}", err(&o));
    assert!(!credentials.exists() || std::fs::read_dir(&credentials).unwrap().next().is_none());

    let o = common::with_stdin(
        signoff(h, &url, &["auth", "login", "--password-stdin"]),
        &format!("{DEMO_PASSWORD}\n"),
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("Signed in as Alice Moreno") && out(&o).contains("(mode 0600)"),
        "{}",
        out(&o)
    );
    let files: Vec<_> = std::fs::read_dir(&credentials)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&credentials)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }

    // Used without SIGNOFF_PASSWORD.
    let o = signoff(h, &url, &["queue", "--json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let o = signoff(h, &url, &["auth", "status", "--output", "json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["signed_in"], true);
    assert_eq!(status["name"], "Alice Moreno");
    assert!(status["saved_in"].as_str().unwrap().contains("mode 0600"));

    // The password is nowhere but its file: not in the config, the store, the log.
    for entry in walk(h) {
        if entry.starts_with(&credentials) {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(DEMO_PASSWORD.len())
                .any(|w| w == DEMO_PASSWORD.as_bytes()),
            "the password is in {}",
            entry.display()
        );
    }

    let o = signoff(h, &url, &["auth", "logout"])
        .output()
        .await
        .unwrap();
    assert!(
        out(&o).contains("Removed the saved password"),
        "{}",
        out(&o)
    );
    let o = signoff(h, &url, &["auth", "status"])
        .output()
        .await
        .unwrap();
    assert!(out(&o).starts_with("No saved password"), "{}", out(&o));
    let o = signoff(h, &url, &["queue", "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::io::stdout().flush();
    server.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_servicenow_cli_and_ansible_variables_work_after_signoffs_own() {
    let server = common::sim(3, 30, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for vars in [
        [
            ("SERVICENOW_INSTANCE", url.as_str()),
            ("SERVICENOW_USERNAME", DEMO_USER),
            ("SERVICENOW_PASSWORD", DEMO_PASSWORD),
        ],
        [
            ("SN_HOST", url.as_str()),
            ("SN_USERNAME", DEMO_USER),
            ("SN_PASSWORD", DEMO_PASSWORD),
        ],
    ] {
        let mut c = common::signoff(h, &["queue", "--json"]);
        c.envs(vars);
        let o = c.output().await.unwrap();
        assert!(o.status.success(), "{vars:?}: {}", err(&o));
    }
    // SIGNOFF_* comes first: a wrong SERVICENOW_PASSWORD does not replace the right one.
    let mut c = common::signoff(h, &["queue", "--json"]);
    c.envs([
        ("SIGNOFF_INSTANCE", url.as_str()),
        ("SIGNOFF_USER", DEMO_USER),
        ("SIGNOFF_PASSWORD", DEMO_PASSWORD),
        ("SERVICENOW_PASSWORD", "wrong"),
        ("SERVICENOW_USERNAME", "nobody"),
    ]);
    let o = c.output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    server.shutdown().await;
}

#[tokio::test]
async fn a_read_only_profile_reads_and_sends_no_change() {
    let server = common::sim(3, 30, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    common::write_config(h, "[profiles.auditor]\nread_only = true\n");
    let base = |args: &[&str]| {
        let mut c = common::signoff_as_demo(h, &url, args);
        c.env("SIGNOFF_PROFILE", "auditor");
        c
    };
    let o = base(&["queue", "--json"]).output().await.unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let number = rows[0]["number"].as_str().unwrap().to_string();
    for args in [
        vec![
            "approve",
            number.as_str(),
            "-m",
            "Looks fine to me, ship it.",
        ],
        vec![
            "delegate",
            "add",
            "--to",
            "ben.ishikawa",
            "--until",
            "2027-01-01",
        ],
        vec!["cab", "convene", number.as_str()],
    ] {
        let o = base(&args).output().await.unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(err(&o).contains("is read-only"), "{args:?}: {}", err(&o));
    }
    // The environment does it too, for the default profile.
    let mut c = common::signoff_as_demo(
        h,
        &url,
        &["approve", &number, "-m", "Looks fine to me, ship it."],
    );
    c.env("SIGNOFF_READ_ONLY", "1");
    let o = c.output().await.unwrap();
    assert_eq!(o.status.code(), Some(2));
    // Nothing reached the instance: the approval is as it was.
    let approval = rows[0]["approval_sys_id"].as_str().unwrap();
    assert_eq!(
        server.record("sysapproval_approver", approval).unwrap()["state"],
        rows[0]["state"].as_str().unwrap()
    );
    // The adapter itself refuses every write of a read-only profile.
    let clock = common::clock(&server);
    let sn = signoff::backend::servicenow::ServiceNow::with_options(
        signoff::backend::Connection {
            instance: signoff::backend::parse_instance_url(&url).unwrap(),
            user: DEMO_USER.into(),
            password: signoff::backend::Secret::new(DEMO_PASSWORD),
        },
        signoff::backend::servicenow::Options {
            clock: Some(clock),
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    use signoff::backend::Backend;
    assert!(sn.current_user().await.is_ok(), "reads work");
    let e = sn
        .delete_delegation("0123456789abcdef0123456789abcdef")
        .await
        .unwrap_err();
    assert!(matches!(e, signoff::backend::BackendError::ReadOnly), "{e}");
    server.shutdown().await;
}

/// `password_command` in the profile: its first line is the password; a failing one is named.
#[tokio::test]
async fn a_password_command_supplies_the_password() {
    let server = common::sim(4, 20, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let write = |cmd: &str| common::write_config(h, &format!("password_command = {cmd:?}\n"));
    write(&format!("printf '{DEMO_PASSWORD}\\nsecond line\\n'"));
    let o = signoff(h, &url, &["queue", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    write("exit 3");
    let o = signoff(h, &url, &["queue"]).output().await.unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("password_command failed"), "{}", err(&o));
    server.shutdown().await;
}
