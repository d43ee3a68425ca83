//! A ServiceNow client nobody here wrote (pysnow, from the Python package registry) against
//! the built-in server: it lists every pending approval with its own documented paging, and
//! gets as many rows as `X-Total-Count` says. `.ci/run` installs it into `target/pyclients`;
//! elsewhere the test says why it skipped.

use std::path::PathBuf;
use std::process::Command;

use signoff::sim::{SimConfig, SimServer};

/// pysnow pages with `sysparm_offset` and `sysparm_limit` (`stream=True`), counts the rows
/// and prints them with the server's `X-Total-Count`.
const SCRIPT: &str = r#"
import sys, pysnow, requests
host = sys.argv[1]
s = requests.Session(); s.auth = ("admin", "demo")
c = pysnow.Client(host=host, session=s, use_ssl=False)
r = c.resource(api_path="/table/sysapproval_approver")
q = "state=requested^source_table=change_request"
n = sum(1 for _ in r.get(query=q, stream=True).all())
t = requests.get("http://%s/api/now/table/sysapproval_approver" % host,
                 params={"sysparm_query": q, "sysparm_limit": "1", "sysparm_fields": "sys_id"},
                 auth=("admin", "demo"), headers={"Accept": "application/json"})
print(n, t.headers["X-Total-Count"])
"#;

/// A Python that imports pysnow: `SIGNOFF_PYSNOW_PYTHON`, else the venv `.ci/run` makes.
fn python_with_pysnow() -> Result<PathBuf, String> {
    let python = std::env::var_os("SIGNOFF_PYSNOW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyclients/bin/python")
        });
    match Command::new(&python).args(["-c", "import pysnow"]).output() {
        Ok(o) if o.status.success() => Ok(python),
        Ok(o) => Err(format!(
            "{} cannot import pysnow ({})",
            python.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{} does not run ({e})", python.display())),
    }
}

#[tokio::test]
async fn pysnow_lists_every_pending_approval_with_its_documented_paging() {
    let python = match python_with_pysnow() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}; .ci/run installs pysnow into target/pyclients");
            return;
        }
    };
    let server = SimServer::start(
        SimConfig {
            changes: 1_500,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("sim starts");
    let host = server.addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", SCRIPT, &host])
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<usize> = stdout
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{stdout}");
    assert!(
        counts[1] > 1_000,
        "a list longer than any default page: {stdout}"
    );
    assert_eq!(counts[0], counts[1], "every row, as X-Total-Count says");
    server.shutdown().await;
}
