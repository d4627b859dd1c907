//! `mosaic federation peer add|list|remove|finish`: the enrollment flow across two real
//! gateway processes, and every check `peer add` makes against hostile granting gateways
//! (stand-ins, since a correct gateway never issues such certificates).

use std::sync::Arc;
use std::time::Duration;

use mosaic::crypto::ca::{CertificateAuthority, ClientCertProfile, grant_extension};
use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::oid;
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{Value, json};

use crate::common::standin::{Reply, Request, StandIn, forward};
use crate::common::{Gateway, Output, SECRET, SEED_SCOPE, run, write_file};

/// A granting gateway (A) and an enrolling one (B), and a state dir for B's operator.
struct Pair {
    a: Gateway,
    b: Gateway,
    state: tempfile::TempDir,
}

impl Pair {
    fn start() -> Pair {
        Pair {
            a: Gateway::start(),
            b: Gateway::start(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// Creates a grant on A and returns (grant JSON, token JSON).
    fn grant_and_token(&self) -> (Value, Value) {
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
    fn peer_add(&self, args: &[&str]) -> Output {
        peer_add_on(&self.b, &self.state, args)
    }
}

fn peer_add_on(b: &Gateway, state: &tempfile::TempDir, args: &[&str]) -> Output {
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add"])
        .args(args);
    run(cmd, None)
}

fn peers(b: &Gateway) -> Vec<Value> {
    b.run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn active_peers(b: &Gateway) -> usize {
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

/// How a hostile granting gateway misbehaves.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    WrongGrantOid,
    WrongUserOid,
    MissingOid,
    DuplicatedOid,
    AnotherKey,
    AnotherCa,
    /// Signed by another key under the name of A's CA.
    ForgedIssuer,
    Expired,
    NoClientAuth,
    NotJson,
    ServerError,
    Hang,
    Oversized,
}

const GRANT: &str = "grant-hostile";
const USER: &str = "user-hostile";

/// A stand-in granting gateway that previews honestly and then misbehaves as told.
fn hostile_a(how: Hostile) -> (StandIn, String) {
    let ca =
        Arc::new(CertificateAuthority::generate("hostile A", time::Duration::days(30)).unwrap());
    let other_ca = CertificateAuthority::generate("other CA", time::Duration::days(30)).unwrap();
    let impostor = CertificateAuthority::generate("hostile A", time::Duration::days(30)).unwrap();
    let ca_fp = ca.fingerprint().to_string();
    let handler = move |req: &Request| -> Reply {
        let ca_pem = ca.cert_pem().to_string();
        if req.method == "GET" {
            return Reply::json(
                200,
                &json!({"grant_id": GRANT, "subject_user_id": USER, "peer_id": "gw-b",
                    "scope": serde_json::from_str::<Value>(SEED_SCOPE).unwrap(),
                    "expires_at": "2099-01-01T00:00:00Z", "ca_certificate_pem": ca_pem}),
            );
        }
        let csr = req.json()["csr_pem"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut profile = ClientCertProfile::new(GRANT, USER, time::Duration::days(7));
        let mut signer: &CertificateAuthority = &ca;
        let mut csr_to_sign = csr.clone();
        match how {
            Hostile::WrongGrantOid => {
                profile.custom_extensions[0] = grant_extension(oid::GRANT_ID, "another-grant")
            }
            Hostile::WrongUserOid => {
                profile.custom_extensions[1] = grant_extension(oid::SUBJECT_USER_ID, "another-user")
            }
            Hostile::MissingOid => {
                profile.custom_extensions.remove(0);
            }
            Hostile::DuplicatedOid => profile
                .custom_extensions
                .push(grant_extension(oid::SUBJECT_USER_ID, USER)),
            Hostile::AnotherKey => {
                csr_to_sign = PeerKey::generate().unwrap().csr_pem("attacker").unwrap()
            }
            Hostile::AnotherCa => signer = &other_ca,
            Hostile::ForgedIssuer => signer = &impostor,
            Hostile::Expired => {
                profile.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(9);
                profile.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(2);
            }
            Hostile::NoClientAuth => {
                profile.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
            }
            Hostile::NotJson => {
                return Reply::Raw(200, "text/html", b"<html>welcome</html>".to_vec());
            }
            Hostile::ServerError => {
                return Reply::json(
                    500,
                    &json!({"error": {"code": "internal", "message": "boom"}}),
                );
            }
            Hostile::Hang => return Reply::Hang(Duration::from_secs(8)),
            Hostile::Oversized => {
                return Reply::Raw(200, "application/json", vec![b' '; 20 * 1024 * 1024]);
            }
        }
        let cert = signer.issue(&csr_to_sign, &profile).unwrap();
        Reply::json(
            200,
            &json!({"certificate_pem": cert.pem, "ca_certificate_pem": ca_pem,
                "grant_id": GRANT, "subject_user_id": USER, "peer_id": "gw-b",
                "not_after": "2099-01-01T00:00:00Z"}),
        )
    };
    (StandIn::start(handler), ca_fp)
}

#[test]
fn hostile_certificates_end_in_exit_7_with_no_active_peer() {
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let cases = [
        (Hostile::WrongGrantOid, "grant ID"),
        (Hostile::WrongUserOid, "subject user ID"),
        (Hostile::MissingOid, "lacks the grant ID extension"),
        (Hostile::DuplicatedOid, "more than once"),
        (Hostile::AnotherKey, "public key"),
        (Hostile::AnotherCa, "not signed by the CA"),
        (Hostile::ForgedIssuer, "not signed by the CA"),
        (Hostile::Expired, "not valid now"),
        (Hostile::NoClientAuth, "clientAuth"),
    ];
    for (how, check) in cases {
        let (a, ca_fp) = hostile_a(how);
        let url = format!("{}/api/federation/enrollment/tok", a.url);
        let out = peer_add_on(&b, &state, &[&url, "--ca-fingerprint", &ca_fp]);
        assert_eq!(out.code, 7, "{how:?}: {out:?}");
        assert!(
            out.stderr.contains(check),
            "{how:?} names the check '{check}': {}",
            out.stderr
        );
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {}", out.stderr);
        assert!(
            out.stderr.trim_end().ends_with(errors[0]),
            "the error comes last: {}",
            out.stderr
        );
        assert_eq!(active_peers(&b), 0, "{how:?} left an active peer");
    }
}

/// The issued certificate names A's CA as its issuer, byte for byte, but another key
/// signed it: only the signature check can tell, and it does.
#[test]
fn a_certificate_in_the_cas_name_but_not_by_its_key_is_exit_7() {
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let (a, ca_fp) = hostile_a(Hostile::ForgedIssuer);
    let url = format!("{}/api/federation/enrollment/tok", a.url);
    let out = peer_add_on(
        &b,
        &state,
        &[&url, "--ca-fingerprint", &ca_fp, "-o", "json"],
    );
    assert_eq!(out.code, 7, "{out:?}");
    let error = &out.stderr_json()["error"];
    assert_eq!(error["code"], "verification_failed", "{out:?}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the certificate is not signed by the CA certificate"),
        "{error}"
    );
    let issued = a
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("the CSR was sent");
    assert!(issued.json()["csr_pem"].is_string());
    assert_eq!(active_peers(&b), 0);
}

/// User IDs of 127, 128, 129 and 256 bytes (short and long DER length forms, and the
/// longest the gateway stores) travel through A's CA, the certificate's extension and
/// `peer add`'s check, and come out unchanged.
#[test]
fn ids_at_the_der_length_boundaries_enroll_end_to_end() {
    use mosaic::crypto::verify::{single_pem_der, utf8_extension};
    use x509_parser::prelude::{FromDer, X509Certificate};

    let pair = Pair::start();
    let scope = write_file(pair.state.path(), "scope.json", SEED_SCOPE);
    for len in [127, 128, 129, 256] {
        let user = format!("{len}-{}", "u".repeat(len - 4));
        assert_eq!(user.len(), len);
        let grant = pair
            .a
            .run(&[
                "federation",
                "grant",
                "create",
                "--user",
                &user,
                "--peer",
                "gw-b",
                "--scope",
                scope.to_str().unwrap(),
                "-o",
                "json",
            ])
            .ok()
            .json();
        let grant_id = grant["id"].as_str().unwrap();
        let token = pair
            .a
            .run(&["federation", "grant", "token", grant_id, "-o", "json"])
            .ok()
            .json();
        let peer = pair
            .peer_add(&[
                token["enrollment_url"].as_str().unwrap(),
                "--ca-fingerprint",
                token["ca_fingerprint"].as_str().unwrap(),
                "--expect-grant",
                grant_id,
                "--expect-user",
                &user,
                "-o",
                "json",
            ])
            .ok()
            .json();
        assert_eq!(peer["status"], "active", "{len} bytes");
        assert_eq!(peer["subject_user_id"], user.as_str(), "{len} bytes");

        let db = rusqlite::Connection::open_with_flags(
            pair.b.dir.join("gateway.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let cert_pem: String = db
            .query_row(
                "SELECT certificate_pem FROM peers WHERE id = ?1",
                [peer["id"].as_str().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        let der = single_pem_der(&cert_pem, "certificate").unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let in_cert = utf8_extension(&cert, oid::SUBJECT_USER_ID, "subject user ID").unwrap();
        assert_eq!(in_cert, user, "{len} bytes");
    }
}

#[test]
fn broken_granting_gateways_end_in_exit_6_with_no_active_peer() {
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    for how in [
        Hostile::NotJson,
        Hostile::ServerError,
        Hostile::Hang,
        Hostile::Oversized,
    ] {
        let (a, _) = hostile_a(how);
        let url = format!("{}/api/federation/enrollment/tok", a.url);
        let out = peer_add_on(&b, &state, &[&url, "--timeout", "2", "-o", "json"]);
        assert_eq!(out.code, 6, "{how:?}: {out:?}");
        assert_eq!(out.stderr_json()["error"]["code"], "unreachable", "{how:?}");
        assert!(
            !out.stderr.contains("/enrollment/tok"),
            "the token is redacted: {}",
            out.stderr
        );
        assert_eq!(active_peers(&b), 0, "{how:?} left an active peer");
    }
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
