//! The console killed with SIGKILL between Ctrl-S and the outbox write, and right after it:
//! the real binary in a pseudo-terminal (`script`, from util-linux), keys typed into it.
//! Before the write nothing is stored, sent or half-written; after it the decision is safe and
//! `signoff sync` delivers it once.

#![cfg(unix)]

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{run_as_demo as run, stderr as err, stdout as out};
use signoff::store::{GENESIS, Store, chain_hash, format_time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The console in a 120×40 pseudo-terminal, paused at `point`; answers its pid once there.
async fn console_paused_at(home: &std::path::Path, url: &str, point: &str) -> u32 {
    let bin = env!("CARGO_BIN_EXE_signoff");
    let mut cmd = tokio::process::Command::new("script");
    // `script` gives the console a terminal; its output is the terminal's.
    cmd.env_clear()
        .envs(common::env(home, Some(url)))
        .env("TERM", "xterm-256color")
        .env("SIGNOFF_PAUSE_AT", point)
        .arg("-qfec")
        .arg(format!("stty cols 120 rows 40; exec {bin}"))
        .arg("/dev/null");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("script(1) from util-linux runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |needle: &'static str| {
        let seen = seen.clone();
        async move {
            for _ in 0..200 {
                let text = seen.lock().unwrap().clone();
                if let Some(i) = text.find(needle) {
                    return text[i..].to_string();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!(
                "{needle:?} never appeared: {:?}",
                seen.lock()
                    .unwrap()
                    .chars()
                    .rev()
                    .take(2000)
                    .collect::<String>()
            );
        }
    };
    // The first frame, from the cache.
    wait_for("pending").await;
    // a: approve the selected change; a justification; Ctrl-S sends.
    stdin.write_all(b"a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stdin
        .write_all(b"Killed between the keys and the outbox.")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stdin.write_all(&[0x13]).await.unwrap();
    let tail = wait_for("paused at").await;
    let pid: u32 = tail
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {tail:?}"));
    std::mem::forget(child); // killed below; script(1) ends with its child
    pid
}

fn sigkill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The journal is whole: every entry chained to the one before.
fn journal_intact(store: &Store) -> usize {
    let journal = store.journal().unwrap();
    let mut prev = GENESIS.to_string();
    for e in &journal {
        assert_eq!(e.prev_hash, prev);
        assert_eq!(
            e.hash,
            chain_hash(&prev, &format_time(e.created_at), &e.kind, &e.entry)
        );
        prev = e.hash.clone();
    }
    journal.len()
}

fn signoff_comments(server: &signoff::sim::SimServer) -> usize {
    server
        .query_ids("sysapproval_approver", "")
        .unwrap()
        .iter()
        .map(|a| {
            server
                .journal("sysapproval_approver", a, "comments")
                .iter()
                .filter(|(_, _, t)| t.contains("[signoff ref "))
                .count()
        })
        .sum()
}

#[tokio::test]
async fn killing_the_console_around_the_outbox_write_loses_and_fakes_nothing() {
    let server = common::sim(51, 40, 100).await;
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let o = run(h, &url, &["sync"]).await;
    assert!(o.status.success(), "{}", err(&o));
    let store_path = h.join("data/default.sqlite3");

    // Between Ctrl-S and the write: nothing stored, nothing sent, the store whole.
    let pid = console_paused_at(h, &url, "ui.decide").await;
    sigkill(pid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = Store::open(&store_path).unwrap();
    assert!(
        store.outbox(false).unwrap().is_empty(),
        "nothing half-stored"
    );
    assert_eq!(journal_intact(&store), 0);
    drop(store);
    assert_eq!(signoff_comments(&server), 0, "nothing sent");
    let o = run(h, &url, &["outbox"]).await;
    assert!(out(&o).contains("The outbox is empty"), "{}", out(&o));

    // Right after the write: the decision survives and is delivered once.
    let pid = console_paused_at(h, &url, "ui.stored").await;
    sigkill(pid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = Store::open(&store_path).unwrap();
    let entries = store.outbox(false).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].delivery.is_pending(),
        "{:?}",
        entries[0].delivery
    );
    assert_eq!(entries[0].decision.acting_user.name, "Alice Moreno");
    assert_eq!(journal_intact(&store), 1);
    drop(store);
    let o = run(h, &url, &["sync"]).await;
    assert!(out(&o).contains("1 applied"), "{}{}", out(&o), err(&o));
    assert_eq!(signoff_comments(&server), 1, "applied exactly once");
    server.shutdown().await;
}
