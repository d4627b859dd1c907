//! The grant in use: B reads A's rows over mutual TLS through two real `--tls` gateways,
//! every refusal of the contract's table from a real situation, B's errors as exit codes,
//! the CA pin on the wire, and no secret anywhere.

use base64::Engine;
use mosaic::crypto::ca::{CertificateAuthority, ClientCertProfile};
use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::seal::SealingSecret;
use serde_json::{Value, json};

use crate::common::tls::{Identity, https};
use crate::common::{Gateway, Output, SECRET, run, write_file};

pub(crate) const USER: &str = "user-7";
pub(crate) const SCOPE: &str = r#"{"resources":["tasks","notes"],"excluded_resources":["credentials"],"max_rows_per_query":2}"#;

/// Two TLS gateways: A grants, B enrolls; and a state dir for B's operator.
pub(crate) struct Fed {
    pub(crate) a: Gateway,
    pub(crate) b: Gateway,
    pub(crate) state: tempfile::TempDir,
}

impl Fed {
    pub(crate) fn start() -> Fed {
        Self::start_with(&[])
    }

    /// Both gateways with `--tls` and `extra` flags.
    pub(crate) fn start_with(extra: &[&str]) -> Fed {
        let args: Vec<&str> = ["--tls"].iter().chain(extra).copied().collect();
        Fed {
            a: Gateway::start_at("127.0.0.1:0", &args),
            b: Gateway::start_at("127.0.0.1:0", &args),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// `data import RESOURCE --user USER -` on A with `rows` on standard input.
    pub(crate) fn import(&self, resource: &str, user: &str, rows: &Value) -> Output {
        let mut cmd = self.a.mosaic();
        cmd.args([
            "federation",
            "data",
            "import",
            resource,
            "--user",
            user,
            "-",
        ]);
        run(cmd, Some(&rows.to_string()))
    }

    /// A grant on A for `user` with `scope` (plus `extra` flags); returns its ID.
    pub(crate) fn grant(&self, user: &str, scope: &str, extra: &[&str]) -> String {
        let file = write_file(self.state.path(), "scope.json", scope);
        let mut args = vec![
            "federation",
            "grant",
            "create",
            "--user",
            user,
            "--peer",
            "gw-b",
            "--scope",
            file.to_str().unwrap(),
            "-o",
            "json",
        ];
        args.extend(extra);
        let grant = self.a.run(&args).ok().json();
        grant["id"].as_str().unwrap().to_string()
    }

    /// (enrollment URL, CA fingerprint) of a new token for `grant`.
    pub(crate) fn token(&self, grant: &str) -> (String, String) {
        let t = self
            .a
            .run(&["federation", "grant", "token", grant, "-o", "json"])
            .ok()
            .json();
        (
            t["enrollment_url"].as_str().unwrap().to_string(),
            t["ca_fingerprint"].as_str().unwrap().to_string(),
        )
    }

    /// `peer add URL ARGS` run by B's operator with B's secret.
    pub(crate) fn peer_add(&self, url: &str, args: &[&str]) -> Output {
        let mut cmd = self.b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", self.state.path())
            .args(["federation", "peer", "add", url])
            .args(args);
        run(cmd, None)
    }

    /// Enrolls B for `grant` (CA pinned); returns the peer ID.
    pub(crate) fn enroll(&self, grant: &str) -> String {
        let (url, fp) = self.token(grant);
        let peer = self
            .peer_add(&url, &["--ca-fingerprint", &fp, "-o", "json"])
            .ok()
            .json();
        assert_eq!(peer["status"], "active", "{peer}");
        peer["id"].as_str().unwrap().to_string()
    }

    pub(crate) fn b_run(&self, args: &[&str]) -> Output {
        self.b.run(args)
    }

    pub(crate) fn query(&self, peer: &str, resource: &str, extra: &[&str]) -> Output {
        let mut args = vec!["federation", "peer", "query", peer, resource];
        args.extend(extra);
        self.b_run(&args)
    }
}

/// `n` tasks for `user`, with distinct creation times so their order is known.
pub(crate) fn tasks(prefix: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({
                    "id": format!("{prefix}{i}"),
                    "title": format!("{prefix} task {i}"),
                    "status": if i % 2 == 0 { "open" } else { "done" },
                    "due_at": null,
                    "created_at": format!("2026-01-01T00:00:0{i}Z"),
                })
            })
            .collect(),
    )
}

pub(crate) fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The certificate and private key (PEM) B holds for `peer`, the key unsealed with the
/// test secret as the documented scheme says.
pub(crate) fn peer_identity(b: &Gateway, peer: &str) -> (String, String) {
    let db = rusqlite::Connection::open(b.dir.join("gateway.db")).unwrap();
    let (sealed, cert): (String, String) = db
        .query_row(
            "SELECT sealed_private_key, certificate_pem FROM peers WHERE id = ?1",
            [peer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let secret = SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let key = secret.open_peer_key(peer, &sealed).unwrap();
    (cert, pem("PRIVATE KEY", &key))
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A's own CA, opened from its data dir with the test secret: to sign a certificate that
/// A's CA issued but no grant recorded.
pub(crate) fn ca_of(a: &Gateway) -> CertificateAuthority {
    let sealed = std::fs::read_to_string(a.dir.join("ca-key.sealed")).unwrap();
    let secret = SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let key = secret
        .open(
            b"mosaic/gateway/ca-key/v1",
            b"mosaic-gateway-ca",
            sealed.trim(),
        )
        .unwrap();
    let ca_pem = std::fs::read_to_string(a.dir.join("ca.pem")).unwrap();
    CertificateAuthority::load(&ca_pem, &key).unwrap()
}

/// A client certificate and key signed by `ca` for `grant_id` / `user`.
pub(crate) fn signed_identity(
    ca: &CertificateAuthority,
    grant_id: &str,
    user: &str,
) -> (String, String) {
    let key = PeerKey::generate().unwrap();
    let csr = key.csr_pem("forged").unwrap();
    let cert = ca
        .issue(
            &csr,
            &ClientCertProfile::new(grant_id, user, time::Duration::days(1)),
        )
        .unwrap();
    (cert.pem, pem("PRIVATE KEY", key.pkcs8_der()))
}

/// GET `path` on A over mutual TLS with `identity`.
pub(crate) fn get_a(
    a: &Gateway,
    path: &str,
    identity: Option<&(String, String)>,
) -> Result<(u16, Value), String> {
    https(
        "GET",
        &format!("{}{path}", a.url),
        &a.ca_pem(),
        identity.map(|(cert, key)| Identity {
            cert_pem: cert,
            key_pem: key,
        }),
        None,
        None,
    )
}

#[track_caller]
pub(crate) fn refused(answer: Result<(u16, Value), String>, status: u16, code: &str) {
    let (got, body) = answer.expect("an HTTP answer");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

#[test]
fn the_whole_flow_over_two_tls_gateways() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 5)).ok();
    fed.import("tasks", "someone-else", &tasks("x", 2)).ok();
    let notes = json!([{"id": "n1", "title": "N", "body": "text"}]);
    let out = fed.import("notes", USER, &notes).ok();
    assert!(out.stdout.contains("imported 1 row of notes"), "{out:?}");
    fed.import(
        "credentials",
        USER,
        &json!([{"id": "c1", "name": "db", "kind": "password"}]),
    )
    .ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);

    // peer test: the grant, as A sees it, through B.
    let test = fed
        .b_run(&["federation", "peer", "test", &peer, "-o", "json"])
        .ok()
        .json();
    assert_eq!(test["grant_id"], grant.as_str());
    assert_eq!(test["subject_user_id"], USER);
    assert_eq!(test["status"], "active");
    assert_eq!(test["scope"]["max_rows_per_query"], 2);
    assert!(test["round_trip_ms"].as_f64().unwrap() > 0.0, "{test}");
    let listed = fed
        .b_run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(test["cert_fingerprint"], listed[0]["cert_fingerprint"]);
    let table = fed.b_run(&["federation", "peer", "test", &peer]).ok();
    assert!(table.stdout.contains("round trip"), "{}", table.stdout);

    // One page is at most max_rows_per_query rows; --all walks every page exactly once.
    let first = fed.query(&peer, "tasks", &["-o", "json"]).ok();
    assert_eq!(ids(&first.json()), ["t0", "t1"]);
    for limit in ["1", "2"] {
        let all = fed
            .query(&peer, "tasks", &["--all", "--limit", limit, "-o", "json"])
            .ok()
            .json();
        assert_eq!(ids(&all), ["t0", "t1", "t2", "t3", "t4"], "--limit {limit}");
        let imported = tasks("t", 5);
        for (got, want) in all
            .as_array()
            .unwrap()
            .iter()
            .zip(imported.as_array().unwrap())
        {
            for field in ["id", "title", "status", "due_at"] {
                assert_eq!(got[field], want[field], "{field} of {got}");
            }
            assert_eq!(
                got["created_at"].as_str().unwrap()[..19],
                want["created_at"].as_str().unwrap()[..19]
            );
        }
    }
    let notes_read = fed.query(&peer, "notes", &["-o", "json"]).ok().json();
    assert_eq!(notes_read[0]["body"], "text");
    let shown = fed.query(&peer, "tasks", &["--all"]).ok();
    assert!(
        shown.stdout.contains("TITLE") && shown.stdout.contains("t task 4"),
        "{}",
        shown.stdout
    );

    // Re-importing a known id replaces the row.
    fed.import(
        "tasks",
        USER,
        &json!([{"id": "t1", "title": "renamed", "status": "done"}]),
    )
    .ok();
    let all = fed
        .query(&peer, "tasks", &["--all", "-o", "json"])
        .ok()
        .json();
    assert_eq!(ids(&all).len(), 5);
    assert_eq!(all[1]["title"], "renamed");

    // Refusals, relayed by B with A's code: exit 5; a bad limit is exit 2.
    for resource in ["credentials", "teams"] {
        let out = fed.query(&peer, resource, &[]).code(5);
        assert!(out.stderr.contains("out_of_scope"), "{}", out.stderr);
    }
    let out = fed.query(&peer, "tasks", &["--limit", "3"]).code(2);
    assert!(out.stderr.contains("max_rows_per_query"), "{}", out.stderr);
    let out = fed.query(&peer, "credentials", &["-o", "json"]).code(5);
    assert_eq!(out.stderr_json()["error"]["code"], "unauthorized");
    assert!(out.stdout.is_empty());

    // A revoke stops the very next read, with no restart.
    fed.a
        .run(&["federation", "grant", "revoke", &grant, "--reason", "done"])
        .ok();
    let out = fed.query(&peer, "tasks", &[]).code(5);
    assert!(out.stderr.contains("grant_inactive"), "{}", out.stderr);
    fed.b_run(&["federation", "peer", "test", &peer]).code(5);

    // A audited the reads and the refusals, with the certificate's fingerprint.
    let audit = fed
        .a
        .run(&[
            "federation",
            "audit",
            "list",
            "--grant",
            &grant,
            "-o",
            "json",
        ])
        .ok()
        .json();
    let entries = audit.as_array().unwrap();
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert!(count("federation.read") >= 6, "{audit}");
    assert!(count("federation.refused") >= 4, "{audit}");
    let refusal = entries
        .iter()
        .find(|e| e["action"] == "federation.refused")
        .unwrap();
    let fp = test["cert_fingerprint"].as_str().unwrap();
    assert!(
        refusal["detail"].as_str().unwrap().contains(fp),
        "{refusal}"
    );
}

#[test]
fn no_secret_appears_in_any_output_or_log_with_verbose() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 2)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    let token = url.rsplit('/').next().unwrap().to_string();
    let mut outputs = vec![fed.peer_add(&url, &["--ca-fingerprint", &fp, "-v"]).ok()];
    let peer = fed
        .b_run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    outputs.push(fed.b_run(&["federation", "peer", "test", &peer, "-v"]).ok());
    outputs.push(
        fed.b_run(&["federation", "peer", "query", &peer, "tasks", "--all", "-v"])
            .ok(),
    );
    outputs.push(
        fed.b_run(&["federation", "peer", "query", &peer, "credentials", "-v"])
            .code(5),
    );
    let (_, key_pem) = peer_identity(&fed.b, &peer);
    let key_body: String = key_pem.lines().nth(1).unwrap().to_string();
    let mut text: String = outputs
        .iter()
        .map(|o| format!("{}{}", o.stdout, o.stderr))
        .collect();
    text.push_str(&fed.a.log());
    text.push_str(&fed.b.log());
    for secret in [
        SECRET,
        &fed.a.admin_token,
        &fed.b.admin_token,
        &token,
        &key_body,
    ] {
        assert!(!text.contains(secret), "a secret leaked: {secret:.6}…");
    }
    assert!(!text.contains("PRIVATE KEY") && !text.contains("mosaic-sealed-v1:"));
    assert!(text.contains("debug:"), "-v logged requests");
}
