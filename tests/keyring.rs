//! The journal's signing key in a real Secret Service: GNOME Keyring on a private session bus
//! (`dbus-run-session`), as on a Linux desktop; and sign-in secrets in the kernel keyutils
//! store of a fresh session keyring (`keyctl session -`), as on a headless server. `.ci/run`
//! installs gnome-keyring, dbus and keyutils from the Debian packages; where they are missing
//! these tests say so and do nothing else.

mod common;

use std::path::Path;
use tokio::process::Command;

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// `program args…` (a session wrapper running a script) with nothing from this environment
/// but PATH: the script finds signoff in $SIGNOFF, signed in to `server` as the demo approver
/// with the password in $PASSWORD.
fn session(
    program: &str,
    args: &[&str],
    signoff_home: &Path,
    server: &signoff::sim::SimServer,
) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNOFF_HOME", signoff_home)
        .env("SIGNOFF", env!("CARGO_BIN_EXE_signoff"))
        .env("SIGNOFF_INSTANCE", server.url())
        .env("SIGNOFF_USER", signoff::sim::DEMO_USER)
        .env("PASSWORD", signoff::sim::DEMO_PASSWORD)
        .env("TZ", "UTC");
    c
}

#[tokio::test]
async fn the_journal_key_and_the_password_live_in_a_real_secret_service() {
    for program in ["dbus-run-session", "gnome-keyring-daemon"] {
        if !have(program) {
            eprintln!(
                "SKIPPED: {program} is not installed (apt-get install dbus gnome-keyring); the Secret Service round trip was not tested"
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let runtime = dir.path().join("run");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    let signoff_home = dir.path().join("signoff");
    let script = r#"
        set -e
        printf 'keyring-test-unlock' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
        "$SIGNOFF" audit pubkey
        "$SIGNOFF" audit pubkey
        printf '%s\n' "$PASSWORD" | "$SIGNOFF" auth login --password-stdin
        "$SIGNOFF" auth status -o table
        "$SIGNOFF" queue --json >/dev/null
        "$SIGNOFF" doctor -o table
    "#;
    let server = common::sim(3, 20, 100).await;
    let out = session(
        "dbus-run-session",
        &["--", "sh", "-c", script],
        &signoff_home,
        &server,
    )
    .env("HOME", &home)
    .env("XDG_RUNTIME_DIR", &runtime)
    .output()
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let keys: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("signoff-journal-key ed25519 "))
        .collect();
    assert_eq!(keys.len(), 2, "{stdout}");
    assert_eq!(keys[0], keys[1], "the same key both times: it was kept");
    let key_id = keys[0].rsplit(' ').next().unwrap();
    assert!(
        stdout.contains(&format!(
            "journal key  {key_id} in the Secret Service keyring"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("stays in the Secret Service keyring"),
        "{stderr}"
    );
    let store = signoff_home.join("data").join("default.sqlite3");
    assert!(store.exists());
    assert!(
        !Path::new(&format!("{}.journal-key", store.display())).exists(),
        "no key file beside the store"
    );
    // Without the keyring (the session is gone), the store says where its key is rather than
    // signing with a new one.
    let o = Command::new(env!("CARGO_BIN_EXE_signoff"))
        .args(["audit", "pubkey"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNOFF_HOME", &signoff_home)
        .output()
        .await
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Secret Service keyring, which does not answer here"),
        "{err}"
    );
}

#[tokio::test]
async fn sign_in_secrets_live_in_the_kernel_keyring_of_a_fresh_session() {
    if !have("keyctl") {
        eprintln!(
            "SKIPPED: keyctl is not installed (apt-get install keyutils); the keyutils round trip was not tested"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signoff_home = dir.path().join("signoff");
    // One session keyring for the whole script: what a login session gives its processes.
    let script = r#"
        set -e
        printf '%s\n' "$PASSWORD" | "$SIGNOFF" auth login --password-stdin
        "$SIGNOFF" queue -o json > queue.json
        "$SIGNOFF" auth status -o json
        "$SIGNOFF" auth logout
        if "$SIGNOFF" queue -o table 2>/dev/null; then echo "signed in after logout"; exit 1; fi
    "#;
    let server = common::sim(5, 20, 100).await;
    let out = session(
        "keyctl",
        &["session", "-", "sh", "-c", script],
        &signoff_home,
        &server,
    )
    .current_dir(dir.path())
    .env("SIGNOFF_SECRETS", "keyutils")
    .output()
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the password is kept in the kernel keyring (keyutils"),
        "{stdout}"
    );
    assert!(stdout.contains(r#""signed_in": true"#), "{stdout}");
    assert!(stdout.contains("Removed the saved password"), "{stdout}");
    let queue = std::fs::read_to_string(dir.path().join("queue.json")).unwrap();
    assert!(queue.trim_start().starts_with('['), "{queue}");
    // Nothing fell back to a file.
    let credentials = signoff_home.join("data").join("credentials");
    assert!(
        !credentials.exists() || std::fs::read_dir(&credentials).unwrap().next().is_none(),
        "no credential file"
    );
}
