//! TLS through a TLS-inspecting proxy's own CA: an instance whose certificate comes from a CA
//! this machine does not trust is refused with a sentence naming `ca_file`; with the CA in
//! `ca_file` (or SIGNOFF_CA_FILE) the same instance is reached. A real HTTPS server (Python's
//! ssl module) with a real certificate chain made by openssl, on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::stderr as err;
use tokio::io::AsyncBufReadExt;

fn have(cmd: &str) -> bool {
    std::process::Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || std::process::Command::new(cmd)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA and a certificate it signed for 127.0.0.1.
fn make_chain(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3",
            "-subj",
            "/CN=Inspecting Proxy Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// An HTTPS server answering every GET with an empty Table API result.
const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"result":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[tokio::test]
async fn an_unknown_issuer_names_ca_file_and_ca_file_lets_it_through() {
    if !have("openssl") || !have("python3") {
        eprintln!("skipped: openssl and python3 are needed (.ci/run installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_chain(dir.path());
    let mut server = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SERVER)
        .arg(dir.path().join("srv.pem"))
        .arg(dir.path().join("srv.key"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let port: u16 = lines
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let run = |ca: Option<&Path>| {
        let mut c = common::signoff(home.path(), &["queue"]);
        c.env("SIGNOFF_INSTANCE", &url)
            .env("SIGNOFF_USER", "alice")
            .env("SIGNOFF_PASSWORD", "x");
        if let Some(ca) = ca {
            c.env("SIGNOFF_CA_FILE", ca);
        }
        c
    };

    let o = run(None).output().await.unwrap();
    assert_eq!(o.status.code(), Some(9), "{}", err(&o));
    assert!(
        err(&o).contains("issuer this machine does not trust") && err(&o).contains("ca_file"),
        "{}",
        err(&o)
    );

    // With the CA, TLS holds; the server (which knows no users) is what answers now.
    let o = run(Some(&dir.path().join("ca.pem")))
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("no user named"), "{}", err(&o));

    // The system's own way works too: SSL_CERT_FILE is read by the platform verifier.
    let mut c = run(None);
    c.env("SSL_CERT_FILE", dir.path().join("ca.pem"));
    let o = c.output().await.unwrap();
    assert_eq!(o.status.code(), Some(6), "SSL_CERT_FILE: {}", err(&o));

    // A CA file that is not one is named, before anything is sent.
    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    let o = run(Some(&dir.path().join("junk.pem")))
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("junk.pem"), "{}", err(&o));
    server.kill().await.ok();
}
