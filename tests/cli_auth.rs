//! `signoff auth login|status|logout` with the file fallback (no keyring in the test
//! environment; tests/keyring.rs covers the Secret Service): the password is checked before it
//! is kept, kept owner-only, used when SIGNOFF_PASSWORD is not set, and removed.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{stderr as err, stdout as out};
use signoff::sim::{DEMO_PASSWORD, DEMO_USER};

fn signoff(home: &std::path::Path, url: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = common::signoff(home, args);
    c.env("SIGNOFF_INSTANCE", url)
        .env("SIGNOFF_USER", DEMO_USER);
    c
}

async fn with_stdin(mut c: tokio::process::Command, input: &str) -> std::process::Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    use tokio::io::AsyncWriteExt;
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
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
    let o = with_stdin(
        signoff(h, &url, &["auth", "login", "--password-stdin"]),
        "wrong\n",
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(err(&o).contains("refused the sign-in"), "{}", err(&o));
    assert!(!credentials.exists() || std::fs::read_dir(&credentials).unwrap().next().is_none());

    let o = with_stdin(
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
