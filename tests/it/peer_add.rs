//! `mosaic federation peer add|list|remove|finish`: the enrollment flow across two real
//! gateway processes, refusals before the token is spent, and what is left behind.
//! Hostile granting gateways are in `peer_add_hostile.rs`.

use std::time::Duration;

use mosaic::crypto::keys::PeerKey;
use serde_json::{Value, json};

use crate::common::standin::{Reply, StandIn, forward};
use crate::common::{Gateway, Output, SECRET, SEED_SCOPE, run, write_file};

/// A granting gateway (A) and an enrolling one (B), and a state dir for B's operator.
pub(crate) struct Pair {
    pub(crate) a: Gateway,
    pub(crate) b: Gateway,
    pub(crate) state: tempfile::TempDir,
}

impl Pair {
    pub(crate) fn start() -> Pair {
        Pair {
            a: Gateway::start(),
            b: Gateway::start(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// Creates a grant on A and returns (grant JSON, token JSON).
    pub(crate) fn grant_and_token(&self) -> (Value, Value) {
        let scope = write_file(self.state.path(), "scope.json", SEED_SCOPE);
        let grant = self
            .a
            .run(&[
                "federation",
                "grant",
                "create",
                "--user",
                "user-7",
                "--peer",
                "gw-b",
                "--scope",
                scope.to_str().unwrap(),
                "-o",
                "json",
            ])
            .ok()
            .json();
        let token = self
            .a
            .run(&[
                "federation",
                "grant",
                "token",
                grant["id"].as_str().unwrap(),
                "-o",
                "json",
            ])
            .ok()
            .json();
        (grant, token)
    }

    /// `mosaic federation peer add ARGS` run by B's operator.
    pub(crate) fn peer_add(&self, args: &[&str]) -> Output {
        peer_add_on(&self.b, &self.state, args)
    }
}

pub(crate) fn peer_add_on(b: &Gateway, state: &tempfile::TempDir, args: &[&str]) -> Output {
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add"])
        .args(args);
    run(cmd, None)
}

pub(crate) fn peers(b: &Gateway) -> Vec<Value> {
    b.run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn active_peers(b: &Gateway) -> usize {
    peers(b).iter().filter(|p| p["status"] == "active").count()
}

#[test]
fn full_flow_across_two_gateways() {
    let pair = Pair::start();
    let (grant, token) = pair.grant_and_token();
    let url = token["enrollment_url"].as_str().unwrap();
    let fp = token["ca_fingerprint"].as_str().unwrap();
    let out = pair
        .peer_add(&[
            url,
            "--ca-fingerprint",
            fp,
            "--expect-grant",
            grant["id"].as_str().unwrap(),
            "--expect-user",
            "user-7",
            "--name",
            "gateway-a",
            "-o",
            "json",
        ])
        .ok();
    let peer = out.json();
    assert!(
        out.stderr.is_empty(),
        "json mode prints nothing else: {}",
        out.stderr
    );
    assert_eq!(peer["status"], "active");
    assert_eq!(peer["name"], "gateway-a");
    assert_eq!(peer["grant_id"], grant["id"]);
    assert_eq!(peer["subject_user_id"], "user-7");
    assert_eq!(peer["remote_url"], pair.a.url);
    assert!(peer.get("sealed_private_key").is_none());
    let cert_fp = peer["cert_fingerprint"].as_str().unwrap();
    assert!(
        cert_fp.starts_with("sha256:") && cert_fp.len() == 7 + 64,
        "{cert_fp}"
    );

    let listed = peers(&pair.b);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], peer["id"]);
    assert_eq!(listed[0]["cert_fingerprint"], cert_fp);
    assert!(listed[0].get("sealed_private_key").is_none());

    let shown = pair
        .a
        .run(&[
            "federation",
            "grant",
            "show",
            grant["id"].as_str().unwrap(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(shown["status"], "active");
    assert_eq!(
        shown["peer_cert_fingerprint"], cert_fp,
        "A and B agree on the certificate"
    );

    // The table forms of `peer add` (one line per step) and `peer list`:
    // tests/it/snapshots.rs.
}

#[test]
fn a_spent_or_revoked_token_is_refused_with_exit_4() {
    let pair = Pair::start();
    let (grant, token) = pair.grant_and_token();
    let url = token["enrollment_url"].as_str().unwrap();
    pair.peer_add(&[url, "-o", "json"]).ok();
    let again = pair.peer_add(&[url, "-o", "json"]).code(4);
    assert_eq!(again.stderr_json()["error"]["code"], "token_invalid");
    assert_eq!(active_peers(&pair.b), 1);
    assert_eq!(
        peers(&pair.b).len(),
        1,
        "the refused attempt leaves no pending record"
    );

    let (grant2, token2) = pair.grant_and_token();
    pair.a
        .run(&[
            "federation",
            "grant",
            "revoke",
            grant2["id"].as_str().unwrap(),
            "--reason",
            "test",
        ])
        .ok();
    let out = pair
        .peer_add(&[token2["enrollment_url"].as_str().unwrap()])
        .code(4);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert_eq!(peers(&pair.b).len(), 1);
    let _ = grant;
}

#[test]
fn a_wrong_pin_or_expectation_stops_before_the_token_is_spent() {
    let pair = Pair::start();
    let (grant, token) = pair.grant_and_token();
    let url = token["enrollment_url"].as_str().unwrap();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = pair.peer_add(&[url, "--ca-fingerprint", &wrong]).code(7);
    assert!(
        out.stderr.contains("CA fingerprint mismatch"),
        "{}",
        out.stderr
    );
    pair.peer_add(&[url, "--expect-grant", "another-grant"])
        .code(7);
    pair.peer_add(&[url, "--expect-user", "another-user"])
        .code(7);
    assert!(peers(&pair.b).is_empty(), "nothing was stored");
    // The token is still good.
    pair.peer_add(&[
        url,
        "--ca-fingerprint",
        token["ca_fingerprint"].as_str().unwrap(),
        "--expect-grant",
        grant["id"].as_str().unwrap(),
        "--expect-user",
        "user-7",
    ])
    .ok();
}

#[test]
fn a_key_sealed_with_another_secret_is_refused_before_the_token_is_spent() {
    let pair = Pair::start();
    let (grant, token) = pair.grant_and_token();
    let url = token["enrollment_url"].as_str().unwrap();
    let fp = token["ca_fingerprint"].as_str().unwrap();
    let mut cmd = pair.b.mosaic();
    cmd.env(
        "BETTER_AUTH_SECRET",
        "not-the-gateway-secret-but-long-enough-0123456789",
    )
    .env("MOSAIC_STATE_DIR", pair.state.path())
    .args(["federation", "peer", "add", url, "--ca-fingerprint", fp]);
    let out = run(cmd, None).code(2);
    assert!(
        out.stderr.contains("differs from the gateway's"),
        "{}",
        out.stderr
    );
    assert!(peers(&pair.b).is_empty(), "nothing left behind on B");
    let (_, shown) = pair.a.request(
        "GET",
        &format!(
            "/api/admin/federation/grants/{}",
            grant["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(shown["status"], "pending", "{shown}");
    assert_eq!(shown["tokens"][0]["state"], "unused", "{shown}");

    // The same token then works with the gateway's own secret.
    pair.peer_add(&[url, "--ca-fingerprint", fp]).ok();
    assert_eq!(active_peers(&pair.b), 1);
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let state = tempfile::tempdir().unwrap();
    let a = StandIn::start(|_| Reply::json(500, &json!({})));
    let b = StandIn::start(|_| Reply::json(500, &json!({})));
    let url = format!("{}/api/federation/enrollment/tok", a.url);
    let run_with = |secret: Option<&str>, args: &[&str]| {
        let mut cmd = crate::common::mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &b.url)
            .env("MOSAIC_ADMIN_TOKEN", "t")
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "add"])
            .args(args);
        if let Some(s) = secret {
            cmd.env("BETTER_AUTH_SECRET", s);
        }
        run(cmd, None)
    };
    let missing = run_with(None, &[&url]).code(2);
    assert!(
        missing.stderr.contains("BETTER_AUTH_SECRET is not set"),
        "{}",
        missing.stderr
    );
    let short = run_with(Some("too-short-secret"), &[&url]).code(2);
    assert!(
        short.stderr.contains("at least 32 bytes"),
        "{}",
        short.stderr
    );
    assert!(
        !short.stderr.contains("too-short-secret"),
        "the secret is never echoed"
    );
    run_with(Some(SECRET), &[&url, "--ca-fingerprint", "sha256:beef"]).code(2);
    run_with(Some(SECRET), &["not a url"]).code(2);
    let insecure = run_with(
        Some(SECRET),
        &["http://gateway-a.invalid/api/federation/enrollment/tok"],
    )
    .code(2);
    assert!(
        insecure.stderr.contains("--allow-insecure-http"),
        "{}",
        insecure.stderr
    );
    assert!(
        a.requests().is_empty() && b.requests().is_empty(),
        "no request was made"
    );

    // No admin token for the local gateway: exit 5, still before any request.
    let mut cmd = crate::common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &b.url)
        .env("BETTER_AUTH_SECRET", SECRET)
        .args(["federation", "peer", "add", &url]);
    run(cmd, None).code(5);
    assert!(a.requests().is_empty() && b.requests().is_empty());
}

#[test]
fn a_failed_activation_loses_nothing_and_peer_finish_completes_it() {
    let pair = Pair::start();
    let (_, token) = pair.grant_and_token();
    let b_url = pair.b.url.clone();
    // B behind a proxy that loses every PATCH: the certificate is issued but not stored.
    let flaky_b = StandIn::start(move |req| {
        if req.method == "PATCH" {
            Reply::json(
                503,
                &json!({"error": {"code": "internal", "message": "unavailable"}}),
            )
        } else {
            forward(req, &b_url)
        }
    });
    let mut cmd = pair.b.mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &flaky_b.url)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", pair.state.path())
        .args([
            "federation",
            "peer",
            "add",
            token["enrollment_url"].as_str().unwrap(),
        ]);
    let out = run(cmd, None).code(6);
    let pending = peers(&pair.b);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "pending");
    let id = pending[0]["id"].as_str().unwrap();
    let finish = format!("mosaic federation peer finish {id}");
    assert!(
        out.stderr.contains(&finish),
        "names the command: {}",
        out.stderr
    );

    let kept = pair
        .state
        .path()
        .join("enrollments")
        .join(format!("{id}.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the kept certificate is private");
    }
    // The grant is active on A: the token is spent, and only the kept file can finish.
    let mut cmd = pair.b.mosaic();
    cmd.env("MOSAIC_STATE_DIR", pair.state.path()).args([
        "federation",
        "peer",
        "finish",
        id,
        "-o",
        "json",
    ]);
    let peer = run(cmd, None).ok().json();
    assert_eq!(peer["status"], "active");
    assert!(!kept.exists(), "the kept file is removed once stored");
    assert_eq!(active_peers(&pair.b), 1);
}

#[test]
fn peer_remove_deletes_a_pending_peer() {
    let pair = Pair::start();
    let (_, token) = pair.grant_and_token();
    // A hang after the preview leaves a pending peer (nobody knows if the token was spent).
    let a_url = pair.a.url.clone();
    let lossy_a = StandIn::start(move |req| {
        if req.method == "POST" {
            Reply::Hang(Duration::from_secs(6))
        } else {
            forward(req, &a_url)
        }
    });
    let url = token["enrollment_url"]
        .as_str()
        .unwrap()
        .replace(&pair.a.url, &lossy_a.url);
    let out = pair.peer_add(&[&url, "--timeout", "2"]).code(6);
    let listed = peers(&pair.b);
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert!(
        out.stderr
            .contains(&format!("mosaic federation peer remove {id}")),
        "{}",
        out.stderr
    );
    let removed = pair
        .b
        .run(&["federation", "peer", "remove", &id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(removed["id"], id.as_str());
    assert!(peers(&pair.b).is_empty());
    pair.b.run(&["federation", "peer", "remove", &id]).code(3);
}

#[test]
fn the_secret_and_the_private_key_appear_nowhere() {
    let pair = Pair::start();
    let (_, token) = pair.grant_and_token();
    let out = pair
        .peer_add(&[token["enrollment_url"].as_str().unwrap(), "-v"])
        .ok();
    let everything = format!(
        "{}{}{}{}",
        out.stdout,
        out.stderr,
        pair.a.log(),
        pair.b.log()
    );
    assert!(!everything.contains(SECRET), "the sealing secret leaked");
    assert!(!everything.contains("PRIVATE KEY"), "a private key leaked");
    assert!(
        !everything.contains("mosaic-sealed-v1:"),
        "the sealed key is never shown"
    );
    let token_value = token["token"].as_str().unwrap();
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(token_value),
        "the token leaked in -v output"
    );
}

#[test]
fn the_stored_sealed_key_opens_per_the_documented_scheme_and_only_so() {
    use mosaic::crypto::seal::SealingSecret;
    use x509_parser::prelude::{FromDer, X509Certificate};

    let pair = Pair::start();
    let (_, token) = pair.grant_and_token();
    let peer = pair
        .peer_add(&[token["enrollment_url"].as_str().unwrap(), "-o", "json"])
        .ok()
        .json();
    let id = peer["id"].as_str().unwrap();
    // Read B's database directly: no endpoint ever returns the sealed key.
    let db = rusqlite::Connection::open_with_flags(
        pair.b.dir.join("gateway.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (sealed, cert_pem): (String, String) = db
        .query_row(
            "SELECT sealed_private_key, certificate_pem FROM peers WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(sealed.starts_with("mosaic-sealed-v1:"), "{sealed}");

    let secret = SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let pkcs8 = secret
        .open_peer_key(id, &sealed)
        .expect("opens with B's secret and the peer ID");
    let key = PeerKey::from_pkcs8_der(&pkcs8).expect("a P-256 PKCS#8 key");
    let der = mosaic::crypto::verify::single_pem_der(&cert_pem, "certificate").unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.public_key().raw,
        key.spki_der(),
        "the sealed key is the certificate's key"
    );

    // A flipped byte, another peer ID, another secret: none opens.
    let mut bytes = sealed.clone().into_bytes();
    let i = bytes.len() - 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    assert!(
        secret
            .open_peer_key(id, &String::from_utf8(bytes).unwrap())
            .is_err()
    );
    assert!(secret.open_peer_key("another-peer", &sealed).is_err());
    let other = SealingSecret::new(b"another-secret-of-at-least-32-bytes!".to_vec()).unwrap();
    assert!(other.open_peer_key(id, &sealed).is_err());
}
