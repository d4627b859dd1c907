//! The grant in use: B reads A's rows over mutual TLS through two real `--tls` gateways,
//! every refusal of the contract's table from a real situation, B's errors as exit codes,
//! the CA pin on the wire, and no secret anywhere.

use std::time::Duration;

use base64::Engine;
use mosaic::crypto::ca::{CertificateAuthority, ClientCertProfile};
use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::seal::SealingSecret;
use serde_json::{Value, json};

use crate::common::tls::{Identity, https};
use crate::common::{Gateway, Output, SECRET, run, write_file};

const USER: &str = "user-7";
const SCOPE: &str = r#"{"resources":["tasks","notes"],"excluded_resources":["credentials"],"max_rows_per_query":2}"#;

/// Two TLS gateways: A grants, B enrolls; and a state dir for B's operator.
struct Fed {
    a: Gateway,
    b: Gateway,
    state: tempfile::TempDir,
}

impl Fed {
    fn start() -> Fed {
        Fed {
            a: Gateway::start_tls(),
            b: Gateway::start_tls(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// `data import RESOURCE --user USER -` on A with `rows` on standard input.
    fn import(&self, resource: &str, user: &str, rows: &Value) -> Output {
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
    fn grant(&self, user: &str, scope: &str, extra: &[&str]) -> String {
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
    fn token(&self, grant: &str) -> (String, String) {
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
    fn peer_add(&self, url: &str, args: &[&str]) -> Output {
        let mut cmd = self.b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", self.state.path())
            .args(["federation", "peer", "add", url])
            .args(args);
        run(cmd, None)
    }

    /// Enrolls B for `grant` (CA pinned); returns the peer ID.
    fn enroll(&self, grant: &str) -> String {
        let (url, fp) = self.token(grant);
        let peer = self
            .peer_add(&url, &["--ca-fingerprint", &fp, "-o", "json"])
            .ok()
            .json();
        assert_eq!(peer["status"], "active", "{peer}");
        peer["id"].as_str().unwrap().to_string()
    }

    fn b_run(&self, args: &[&str]) -> Output {
        self.b.run(args)
    }

    fn query(&self, peer: &str, resource: &str, extra: &[&str]) -> Output {
        let mut args = vec!["federation", "peer", "query", peer, resource];
        args.extend(extra);
        self.b_run(&args)
    }
}

/// `n` tasks for `user`, with distinct creation times so their order is known.
fn tasks(prefix: &str, n: usize) -> Value {
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

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The certificate and private key (PEM) B holds for `peer`, the key unsealed with the
/// test secret as the documented scheme says.
fn peer_identity(b: &Gateway, peer: &str) -> (String, String) {
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

fn pem(label: &str, der: &[u8]) -> String {
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
fn ca_of(a: &Gateway) -> CertificateAuthority {
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
fn signed_identity(ca: &CertificateAuthority, grant_id: &str, user: &str) -> (String, String) {
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
fn get_a(
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
fn refused(answer: Result<(u16, Value), String>, status: u16, code: &str) {
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
    assert!(out.stdout.contains("imported 1 rows of notes"), "{out:?}");
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
fn a_refuses_each_case_of_the_contract_table_in_order() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 3)).ok();
    fed.import("tasks", "user-8", &tasks("u", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    let id = peer_identity(&fed.b, &peer);

    // The enrolled certificate and key authenticate, straight to A (as curl would).
    let (status, who) = get_a(&fed.a, "/api/federation/v1/whoami", Some(&id)).unwrap();
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["grant_id"], grant.as_str());
    let (status, page) = get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&id)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "max_rows_per_query"
    );
    assert!(page["next_cursor"].is_string());

    // 1. No client certificate.
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", None),
        401,
        "certificate_required",
    );
    // A certificate of another CA: the handshake itself fails.
    let other = Gateway::start();
    let foreign = signed_identity(&ca_of(&other), &grant, USER);
    let err = get_a(&fed.a, "/api/federation/v1/whoami", Some(&foreign)).unwrap_err();
    assert!(!err.is_empty());
    // 2. A's CA, the grant's OIDs, but not the certificate the grant recorded.
    let forged = signed_identity(&ca_of(&fed.a), &grant, USER);
    refused(
        get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&forged)),
        403,
        "unknown_certificate",
    );
    // A valid certificate of another grant reads that grant's user only.
    let grant8 = fed.grant("user-8", SCOPE, &[]);
    let peer8 = fed.enroll(&grant8);
    let id8 = peer_identity(&fed.b, &peer8);
    let (_, page8) = get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&id8)).unwrap();
    let rows8: Vec<&str> = page8["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rows8, ["u0"]);

    // 4 before 5: an out-of-scope resource with a bad limit is out_of_scope.
    refused(
        get_a(
            &fed.a,
            "/api/federation/v1/resources/teams?limit=9999",
            Some(&id),
        ),
        403,
        "out_of_scope",
    );
    refused(
        get_a(
            &fed.a,
            "/api/federation/v1/resources/credentials",
            Some(&id),
        ),
        403,
        "out_of_scope",
    );
    for limit in ["0", "3"] {
        refused(
            get_a(
                &fed.a,
                &format!("/api/federation/v1/resources/tasks?limit={limit}"),
                Some(&id),
            ),
            400,
            "invalid_request",
        );
    }
    // 3 before 4: after the revoke every request is grant_inactive, in scope or not.
    fed.a.run(&["federation", "grant", "revoke", &grant]).ok();
    for path in [
        "/api/federation/v1/whoami",
        "/api/federation/v1/resources/credentials",
    ] {
        refused(get_a(&fed.a, path, Some(&id)), 403, "grant_inactive");
    }
    // The other grant is untouched.
    assert_eq!(
        get_a(&fed.a, "/api/federation/v1/whoami", Some(&id8))
            .unwrap()
            .0,
        200
    );
}

#[test]
fn an_expired_grant_is_refused_on_the_next_request() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &["--expires-in", "4s"]);
    let started = std::time::Instant::now();
    let peer = fed.enroll(&grant);
    fed.query(&peer, "tasks", &[]).ok();
    std::thread::sleep(
        Duration::from_secs(4).saturating_sub(started.elapsed()) + Duration::from_millis(300),
    );
    let out = fed.query(&peer, "tasks", &[]).code(5);
    assert!(
        out.stderr.contains("grant_inactive") && out.stderr.contains("expired"),
        "{}",
        out.stderr
    );
}

#[test]
fn b_maps_what_goes_wrong_with_a_to_exit_codes() {
    let mut fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    fed.b_run(&["federation", "peer", "test", &peer]).ok();

    // A pending peer: exit 4.
    let (body, _) = crate::peers::keypair_body("pending-peer");
    let (status, _) = fed
        .b
        .request("POST", "/api/admin/federation/peers/keypair", Some(&body));
    assert_eq!(status, 201);
    let out = fed
        .b_run(&["federation", "peer", "test", "pending-peer"])
        .code(4);
    assert!(out.stderr.contains("pending"), "{}", out.stderr);
    fed.b_run(&["federation", "peer", "test", "no-such-peer"])
        .code(3);

    // A stopped: exit 6.
    let addr = fed.a.addr();
    fed.a.stop();
    let out = fed
        .b_run(&["federation", "peer", "query", &peer, "tasks"])
        .code(6);
    assert!(out.stderr.contains("granting gateway"), "{}", out.stderr);

    // Another gateway (another CA) answering at A's address: exit 7.
    let impostor = Gateway::start_at(&addr, &["--tls"]);
    let out = fed
        .b_run(&["federation", "peer", "test", &peer, "-o", "json"])
        .code(7);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "verification_failed");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CA stored at enrollment"),
        "{err}"
    );
    assert!(
        !impostor.log().contains("/api/federation/v1/"),
        "no request reached it"
    );
}

#[test]
fn a_pinned_enrollment_refuses_a_chain_of_another_ca_before_any_csr() {
    let fed = Fed::start();
    let other = Gateway::start_tls();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    // The same path, served by a gateway whose chain ends at another CA.
    let elsewhere = url.replace(&fed.a.url, &other.url);
    let out = fed.peer_add(&elsewhere, &["--ca-fingerprint", &fp]).code(7);
    assert!(out.stderr.contains("pinned CA"), "{}", out.stderr);
    assert!(
        !other.log().contains("/api/federation/enrollment"),
        "{}",
        other.log()
    );
    assert!(
        fed.b_run(&["federation", "peer", "list", "-o", "json"])
            .ok()
            .json()
            == json!([])
    );
    // The token is unspent: the real URL with the pin works, trusting nothing but the pin.
    let out = fed.peer_add(&url, &["--ca-fingerprint", &fp]).ok();
    assert!(out.stderr.contains("active"), "{}", out.stderr);
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

#[test]
fn a_server_certificate_from_files_is_served_with_a_warning_about_peers() {
    let files = tempfile::tempdir().unwrap();
    let other = CertificateAuthority::generate("another CA", time::Duration::days(1)).unwrap();
    let leaf = other
        .issue_server(&["127.0.0.1".to_string()], time::Duration::days(1))
        .unwrap();
    let chain = format!("{}{}", pem("CERTIFICATE", &leaf.der), other.cert_pem());
    let cert = write_file(files.path(), "chain.pem", &chain);
    let key = write_file(
        files.path(),
        "key.pem",
        &pem("PRIVATE KEY", &leaf.key_pkcs8_der),
    );
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    // The harness trusts the chain's CA (MOSAIC_CACERT) and checks health through it.
    let gw = Gateway::start_at("127.0.0.1:0", &["--tls-cert", cert, "--tls-key", key]);
    assert!(gw.url.starts_with("https://"));
    gw.run(&["federation", "grant", "list"]).ok();
    assert!(
        gw.log().contains("does not end at this gateway's CA"),
        "{}",
        gw.log()
    );
    // The gateway's own CA does not verify this server certificate.
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_CACERT", gw.dir.join("ca.pem"))
        .args(["federation", "grant", "list"]);
    run(cmd, None).code(6);

    // Unusable files stop the start-up with one line naming the flag; half a pair is usage.
    for args in [
        vec!["--tls-cert", "/nonexistent/chain.pem", "--tls-key", key],
        vec!["--tls-cert", key, "--tls-key", key],
        vec!["--tls-cert", cert],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = crate::common::mosaic();
        cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .env("BETTER_AUTH_SECRET", SECRET);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.contains("--tls-"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn cacert_flag_and_env_trust_a_tls_gateway() {
    let gw = Gateway::start_tls();
    gw.run(&["federation", "grant", "list"]).ok();
    let ca = gw.dir.join("ca.pem");
    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_CACERT")
        .args(["federation", "grant", "list", "--cacert"])
        .arg(&ca);
    run(cmd, None).ok();
    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_CACERT")
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(6);
    assert!(out.stderr.contains("--cacert"), "{}", out.stderr);
}

#[test]
fn data_import_checks_rows_and_is_idempotent() {
    let gw = Gateway::start();
    let import = |resource: &str, rows: &str| {
        let mut cmd = gw.mosaic();
        cmd.args([
            "federation",
            "data",
            "import",
            resource,
            "--user",
            USER,
            "-",
        ]);
        run(cmd, Some(rows))
    };
    let cases = [
        (
            "tasks",
            r#"[{"id": "t1", "title": "a", "status": "open", "colour": "red"}]"#,
            "items[0].colour",
        ),
        (
            "tasks",
            r#"[{"id": "t1", "status": "open"}]"#,
            "items[0].title",
        ),
        (
            "notes",
            r#"[{"id": 5, "title": "a", "body": "b"}]"#,
            "items[0].id",
        ),
        (
            "tasks",
            r#"[{"id": "t1", "title": "a", "status": "open", "due_at": "tomorrow"}]"#,
            "items[0].due_at",
        ),
        ("users", r#"{"id": "u"}"#, "JSON array"),
        (
            "teams",
            r#"[{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]"#,
            "twice",
        ),
    ];
    for (resource, rows, named) in cases {
        let out = import(resource, rows).code(2);
        assert!(out.stderr.contains(named), "{named}: {}", out.stderr);
    }
    import("widgets", "[]").code(2);
    let (status, body) = gw.request(
        "POST",
        "/api/admin/federation/data/widgets",
        Some(&json!({"user_id": USER, "items": []})),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_request"))
    );

    let rows = r#"[{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]"#;
    for _ in 0..2 {
        let out = import("teams", &format!("{rows}\n")).ok();
        assert!(
            out.stdout
                .contains("imported 2 rows of teams for user user-7"),
            "{}",
            out.stdout
        );
    }
    let db = rusqlite::Connection::open(gw.dir.join("gateway.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM resource_rows WHERE resource = 'teams'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2, "idempotent by id");
    let audit = gw
        .run(&[
            "federation",
            "audit",
            "list",
            "--action",
            "data.imported",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(audit.as_array().unwrap().len(), 2);

    // Over plain HTTP there is no client certificate: the data plane says so.
    let (status, body) = crate::common::http(
        "GET",
        &format!("{}/api/federation/v1/whoami", gw.url),
        None,
        None,
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("certificate_required"))
    );
}
