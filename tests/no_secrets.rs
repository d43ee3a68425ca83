//! Secrets never reach a file, a log or the output: every command that signs in, decides,
//! exports or reports runs with trace logging against a sim whose password nothing else
//! contains; then every file written under signoff's home (the cache, the journal, the logs,
//! exports, minutes, evidence) and every byte printed is searched for the password, a wrong
//! password tried once, their base64 in a basic-auth header, the OAuth client secret and the
//! refresh token. Only the owner-only credentials folder may hold the kept secret.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine;
use signoff::sim::DEMO_USER;
use signoff::sim::oauth::DEMO_CLIENT_SECRET;

const PASSWORD: &str = "Gr3p-For-Me-7fq2Lx";
const WRONG: &str = "Wr0ng-Too-9kd3Pz";

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

async fn run(
    home: &Path,
    url: &str,
    args: &[&str],
    stdin: Option<&str>,
    extra: &[(&str, &str)],
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut c = common::signoff(home, args);
    c.env("SIGNOFF_INSTANCE", url)
        .env("SIGNOFF_USER", DEMO_USER)
        .env("SIGNOFF_LOG", "trace")
        .envs(extra.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    child.wait_with_output().await.unwrap()
}

#[tokio::test]
async fn no_file_written_and_nothing_printed_holds_a_secret() {
    let mut cfg = common::sim_config(81, 40, 100);
    cfg.password = PASSWORD.into();
    let server = signoff::sim::SimServer::start(cfg, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out_dir = h.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut printed: Vec<u8> = Vec::new();
    let mut keep = |o: std::process::Output, what: &str| {
        printed.extend(&o.stdout);
        printed.extend(&o.stderr);
        (o.status.code(), what.to_string(), o)
    };

    // Basic authentication: a refused password, then the right one kept; everything after
    // signs in with the kept one.
    let (code, ..) = keep(
        run(
            h,
            &url,
            &["auth", "login", "--password-stdin"],
            Some(&format!("{WRONG}\n")),
            &[],
        )
        .await,
        "wrong login",
    );
    assert_eq!(code, Some(5));
    let (code, _, o) = keep(
        run(
            h,
            &url,
            &["auth", "login", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .await,
        "login",
    );
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(h, &url, &["queue", "-o", "json"], None, &[]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    keep(o, "queue");
    let mine: Vec<&str> = rows
        .iter()
        .filter(|r| r["state"] == "requested" && r["on_behalf_of"].is_null())
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    let evidence = out_dir.join("evidence.json");
    let export = out_dir.join("export.csv");
    let minutes = out_dir.join("minutes.md");
    let steps: Vec<Vec<String>> = vec![
        vec![
            "approve".into(),
            mine[0].into(),
            "-m".into(),
            "Backout rehearsed, window is quiet.".into(),
        ],
        vec![
            "--offline".into(),
            "hold".into(),
            mine[1].into(),
            "-m".into(),
            "Waiting for the vendor's patch notes.".into(),
        ],
        vec![
            "reject".into(),
            mine[2].into(),
            "-m".into(),
            "No rollback plan for the database step.".into(),
            "--dry-run".into(),
        ],
        vec!["sync".into()],
        vec!["outbox".into(), "--all".into()],
        vec!["delegate".into(), "list".into()],
        vec!["cab".into(), "list".into()],
        vec!["doctor".into()],
        vec!["auth".into(), "status".into()],
        vec!["audit".into(), "log".into(), "-o".into(), "csv".into()],
        vec!["audit".into(), "verify".into()],
        vec![
            "audit".into(),
            "export".into(),
            "--format".into(),
            "csv".into(),
            "--out".into(),
            export.display().to_string(),
        ],
        vec![
            "gate".into(),
            mine[0].into(),
            "--env".into(),
            "prod".into(),
            "--evidence".into(),
            evidence.display().to_string(),
        ],
    ];
    for args in &steps {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        keep(run(h, &url, &a, None, &[]).await, &args.join(" "));
    }
    // A meeting's minutes, when the demo user has one.
    let o = run(h, &url, &["cab", "list", "-o", "json"], None, &[]).await;
    let meetings: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap_or_default();
    if let Some(m) = meetings.first() {
        let id = m["sys_id"].as_str().unwrap().to_string();
        keep(
            run(
                h,
                &url,
                &[
                    "cab",
                    "minutes",
                    &id,
                    "--out",
                    &minutes.display().to_string(),
                ],
                None,
                &[],
            )
            .await,
            "minutes",
        );
    }

    // OAuth in a second profile: the refresh token and client secret are kept, nothing else.
    let oauth_home = h.join("oauth");
    common::write_config(
        &oauth_home,
        &format!(
            "auth = \"oauth\"\nclient_id = \"{}\"\n",
            signoff::sim::oauth::DEMO_CLIENT_ID
        ),
    );
    let secret = [("SIGNOFF_CLIENT_SECRET", DEMO_CLIENT_SECRET)];
    let (code, _, o) = keep(
        run(
            &oauth_home,
            &url,
            &["auth", "login", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
            &secret,
        )
        .await,
        "oauth login",
    );
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    keep(
        run(&oauth_home, &url, &["queue", "-o", "json"], None, &[]).await,
        "oauth queue",
    );
    keep(
        run(&oauth_home, &url, &["sync"], None, &[]).await,
        "oauth sync",
    );

    // What may hold a secret: the credentials folders, owner-only.
    let credentials = [
        h.join("data").join("credentials"),
        oauth_home.join("data").join("credentials"),
    ];
    let mut refresh_tokens = Vec::new();
    for dir in &credentials {
        for f in std::fs::read_dir(dir).unwrap().flatten() {
            use std::os::unix::fs::PermissionsExt;
            let mode = f.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.path().display());
            let name = f.file_name().to_string_lossy().to_string();
            if name.starts_with("oauth-refresh") {
                refresh_tokens.push(std::fs::read_to_string(f.path()).unwrap());
            }
        }
    }
    assert_eq!(
        refresh_tokens.len(),
        1,
        "the OAuth profile kept its refresh token"
    );
    // The search finds what is there: the basic profile's kept password, in its own folder.
    let mut kept = Vec::new();
    walk(&credentials[0], &mut kept);
    assert!(
        kept.iter()
            .any(|f| std::fs::read_to_string(f).unwrap().contains(PASSWORD)),
        "the kept password is where it belongs"
    );

    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let needles: Vec<(String, String)> = vec![
        ("the password".into(), PASSWORD.into()),
        ("the wrong password".into(), WRONG.into()),
        ("basic auth".into(), b64(&format!("{DEMO_USER}:{PASSWORD}"))),
        (
            "basic auth (wrong)".into(),
            b64(&format!("{DEMO_USER}:{WRONG}")),
        ),
        ("the password in base64".into(), b64(PASSWORD)),
        ("the client secret".into(), DEMO_CLIENT_SECRET.into()),
        ("the refresh token".into(), refresh_tokens[0].trim().into()),
    ];
    let mut files = Vec::new();
    walk(h, &mut files);
    let written: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !credentials.iter().any(|c| f.starts_with(c)))
        .collect();
    assert!(
        written
            .iter()
            .any(|f| f.to_string_lossy().ends_with("signoff.log")),
        "the trace log was written: {written:?}"
    );
    assert!(written.len() >= 8, "{written:?}");
    for f in &written {
        let bytes = std::fs::read(f).unwrap();
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{what} is in {}",
                f.display()
            );
        }
    }
    for (what, needle) in &needles {
        assert!(
            !printed
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{what} was printed"
        );
    }
    server.shutdown().await;
}
