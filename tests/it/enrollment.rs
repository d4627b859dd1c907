//! The enrollment rules of the granting gateway: tokens (single use, TTL, hashing,
//! identical 410s), grant states, CSR checks, concurrency, and the issued certificate.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};
use x509_parser::prelude::*;

use crate::common::{Gateway, SECRET, http};
use crate::fixtures::*;

#[test]
fn token_ttl_is_1_to_900_seconds_default_900() {
    let gw = Gateway::start();
    let id = create_grant(&gw)["id"].as_str().unwrap().to_string();
    for ttl in [json!(0), json!(901), json!(-1), json!("60")] {
        let (status, body) = gw.request(
            "POST",
            &format!("{GRANTS}/{id}/tokens"),
            Some(&json!({"ttl_seconds": ttl})),
        );
        assert_error(status, &body, 400, "invalid_request");
    }
    for ttl in [1, 900] {
        let token = issue_token(&gw, &id, Some(ttl));
        assert!(token["expires_at"].is_string());
    }
    let token = issue_token(&gw, &id, None);
    let expires = parse_time(&token["expires_at"]);
    let left = expires - ::time::OffsetDateTime::now_utc();
    assert!(
        left > ::time::Duration::seconds(800) && left <= ::time::Duration::seconds(900),
        "{left}"
    );
}

#[test]
fn token_shape_url_and_fingerprint() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let token = issue_token(&gw, grant["id"].as_str().unwrap(), None);
    assert_eq!(token["grant_id"], grant["id"]);
    let secret = token["token"].as_str().unwrap();
    assert!(secret.len() >= 43, "at least 256 bits: {secret}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url"
    );
    assert_eq!(
        url_of(&token),
        format!("{}/api/federation/enrollment/{secret}", gw.url)
    );
    let ca_pem = gw.ca_pem();
    assert_eq!(
        token["ca_fingerprint"],
        mosaic::crypto::fingerprint(&pem_der(&ca_pem))
    );

    // Only the hash is stored: the token's text is nowhere in the data directory (or the
    // database).
    for bytes in gw.stored() {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the token is stored in clear"
        );
    }
}

#[test]
fn public_url_is_the_base_of_enrollment_urls() {
    let gw = Gateway::start_with(&["--public-url", "https://a.example/"], true);
    let grant = create_grant(&gw);
    let token = issue_token(&gw, grant["id"].as_str().unwrap(), None);
    assert_eq!(
        url_of(&token),
        format!(
            "https://a.example/api/federation/enrollment/{}",
            token["token"].as_str().unwrap()
        )
    );
}

#[test]
fn preview_shows_the_grant_without_spending_the_token() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let token = issue_token(&gw, grant["id"].as_str().unwrap(), None);
    for _ in 0..2 {
        let (status, preview) = http("GET", &url_of(&token), None, None);
        assert_eq!(status, 200, "{preview}");
        assert_eq!(preview["grant_id"], grant["id"]);
        assert_eq!(preview["subject_user_id"], grant["user_id"]);
        assert_eq!(preview["peer_id"], grant["peer_id"]);
        assert_eq!(preview["scope"], grant["scope"]);
        assert_eq!(preview["expires_at"], token["expires_at"]);
        let ca_pem = preview["ca_certificate_pem"].as_str().unwrap();
        assert_eq!(
            mosaic::crypto::fingerprint(&pem_der(ca_pem)),
            token["ca_fingerprint"]
        );
    }
    let (_, csr) = p256_csr();
    let (status, body) = enroll(&url_of(&token), &csr);
    assert_eq!(status, 200, "the previewed token still works: {body}");
    let (status, body) = http("GET", &url_of(&token), None, None);
    assert_error(status, &body, 410, "token_invalid");
}

#[test]
fn unknown_used_and_expired_tokens_are_the_same_410() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    let expiring = issue_token(&gw, id, Some(1));
    let used = issue_token(&gw, id, None);
    let (_, csr) = p256_csr();
    let (status, _) = enroll(&url_of(&used), &csr);
    assert_eq!(status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let unknown = format!("{}/api/federation/enrollment/{}", gw.url, "A".repeat(43));
    let mut answers = Vec::new();
    for url in [unknown, url_of(&used), url_of(&expiring)] {
        let (_, csr) = p256_csr();
        let (status, body) = enroll(&url, &csr);
        assert_error(status, &body, 410, "token_invalid");
        answers.push(body);
        let (status, body) = http("GET", &url, None, None);
        assert_error(status, &body, 410, "token_invalid");
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "the bodies differ: {answers:?}"
    );
}

#[test]
fn tokens_only_for_pending_grants_and_revoked_grants_never_activate() {
    let gw = Gateway::start();
    // Active grant: no new tokens.
    let active = create_grant(&gw);
    let aid = active["id"].as_str().unwrap();
    let spare = issue_token(&gw, aid, None);
    let t = issue_token(&gw, aid, None);
    let (_, csr) = p256_csr();
    assert_eq!(enroll(&url_of(&t), &csr).0, 200);
    let (status, body) = gw.request("POST", &format!("{GRANTS}/{aid}/tokens"), Some(&json!({})));
    assert_error(status, &body, 409, "conflict");
    // ... and its other unexpired token cannot enroll a second peer.
    let (_, csr) = p256_csr();
    let (status, body) = enroll(&url_of(&spare), &csr);
    assert_error(status, &body, 409, "conflict");

    // Revoked grant: no new tokens, and its existing unexpired token is refused.
    let revoked = create_grant(&gw);
    let rid = revoked["id"].as_str().unwrap();
    let t = issue_token(&gw, rid, None);
    let (status, _) = gw.request(
        "PATCH",
        &format!("{GRANTS}/{rid}/revoke"),
        Some(&json!({"reason": "no"})),
    );
    assert_eq!(status, 200);
    let (status, body) = gw.request("POST", &format!("{GRANTS}/{rid}/tokens"), Some(&json!({})));
    assert_error(status, &body, 409, "conflict");
    let (_, csr) = p256_csr();
    let (status, body) = enroll(&url_of(&t), &csr);
    assert_error(status, &body, 409, "conflict");
    let (status, body) = http("GET", &url_of(&t), None, None);
    assert_error(status, &body, 409, "conflict");
    let (_, after) = gw.request("GET", &format!("{GRANTS}/{rid}"), None);
    assert_eq!(after["status"], "revoked");
    assert_eq!(after["peer_cert_fingerprint"], Value::Null);
    assert_eq!(
        after["tokens"][0]["state"], "unused",
        "the refused token was not spent"
    );

    // Revoking an active grant works, once.
    let (status, body) = gw.request("PATCH", &format!("{GRANTS}/{aid}/revoke"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
    assert!(
        body["peer_cert_fingerprint"].is_string(),
        "the certificate stays on record"
    );
}

/// A P-384 key in a CSR signed with ecdsa-with-SHA256, the signature algorithm of P-256
/// (made with `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -sha256`).
const P384_KEY_SHA256_SIGNATURE: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBBzCBjgIBADAPMQ0wCwYDVQQDDARwMzg0MHYwEAYHKoZIzj0CAQYFK4EEACID
YgAE6D4mUXBb1AHze8duL3H8m9mmeF44z4zJeqUzG1PfpbP/ssZKAb13Bm6Sh0Bd
ukgERXvMVm0BpTYxZjad1OWI6qlNFonkvDhZkgu9h3dBmThsMKA3Jcoc0Zd/N7jX
u3oMoAAwCgYIKoZIzj0EAwIDaAAwZQIxALwdTtPXfZRD4R9C0flzzSmezcScp8LM
eEEh2fQyRK4YYAUhFVuXZhF8NvFZ1j6lTwIwLl0T2fCVVu00Jz5SWSzLEgCRo0Di
tXXk6F8o71XMZlUlCLF2z2ypsdoGCCxV8xE5
-----END CERTIFICATE REQUEST-----
";

#[test]
fn only_self_signed_p256_csrs_are_accepted() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let token = issue_token(&gw, grant["id"].as_str().unwrap(), None);
    let url = url_of(&token);
    let (_, p384) = csr_with(&rcgen::PKCS_ECDSA_P384_SHA384);
    let (_, ed25519) = csr_with(&rcgen::PKCS_ED25519);
    let (_, good) = p256_csr();
    let not_a_csr = good.replace("CERTIFICATE REQUEST", "CERTIFICATE");
    for bad in [
        p384,
        P384_KEY_SHA256_SIGNATURE.to_string(),
        ed25519,
        badly_signed_csr(),
        "hello".to_string(),
        not_a_csr,
        String::new(),
    ] {
        let (status, body) = enroll(&url, &bad);
        assert_error(status, &body, 400, "invalid_request");
    }
    let (status, body) = http("POST", &url, None, Some(&json!({"csr": good})));
    assert_error(status, &body, 400, "invalid_request");
    // None of those spent the token.
    let (status, body) = enroll(&url, &good);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_issued_certificate_is_the_one_the_contract_describes() {
    let gw = Gateway::start_with(&["--cert-validity-days", "3"], true);
    let grant = create_grant(&gw);
    let token = issue_token(&gw, grant["id"].as_str().unwrap(), None);
    let (key, csr) = p256_csr();
    let (status, resp) = enroll(&url_of(&token), &csr);
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["grant_id"], grant["id"]);
    assert_eq!(resp["subject_user_id"], grant["user_id"]);
    assert_eq!(resp["peer_id"], grant["peer_id"]);

    let cert_der = pem_der(resp["certificate_pem"].as_str().unwrap());
    let ca_der = pem_der(resp["ca_certificate_pem"].as_str().unwrap());
    let (_, cert) = X509Certificate::from_der(&cert_der).unwrap();
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();

    use rcgen::PublicKeyData;
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice(),
        "the CSR's key"
    );
    cert.verify_signature(Some(ca.public_key()))
        .expect("signed by the CA");
    assert_eq!(cert.issuer(), ca.subject());
    assert!(ca.is_ca());
    assert!(!cert.is_ca());
    let eku = cert
        .extended_key_usage()
        .unwrap()
        .expect("an EKU extension");
    assert!(eku.value.client_auth, "clientAuth");
    assert!(!eku.value.server_auth);

    let utf8 = |oid: &[u64]| -> (bool, String) {
        let oid = x509_parser::asn1_rs::Oid::from(oid).unwrap();
        let matching: Vec<_> = cert.extensions().iter().filter(|e| e.oid == oid).collect();
        assert_eq!(matching.len(), 1, "exactly once: {oid}");
        let v = matching[0].value;
        assert_eq!(v[0], 0x0c, "a UTF8String");
        assert_eq!(v[1] as usize, v.len() - 2, "short-form DER length");
        (
            matching[0].critical,
            String::from_utf8(v[2..].to_vec()).unwrap(),
        )
    };
    assert_eq!(
        utf8(mosaic::crypto::oid::GRANT_ID),
        (false, grant["id"].as_str().unwrap().to_string())
    );
    assert_eq!(
        utf8(mosaic::crypto::oid::SUBJECT_USER_ID),
        (false, grant["user_id"].as_str().unwrap().to_string())
    );

    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) as f64 / 86400.0;
    assert!(
        (3.0..3.01).contains(&days),
        "about 3 days (plus a few minutes of skew allowance): {days}"
    );
    assert!(validity.is_valid(), "valid now");
    let not_after = parse_time(&resp["not_after"]);
    assert_eq!(not_after.unix_timestamp(), validity.not_after.timestamp());

    let (_, shown) = gw.request(
        "GET",
        &format!("{GRANTS}/{}", grant["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(shown["status"], "active");
    assert!(shown["activated_at"].is_string());
    assert_eq!(
        shown["peer_cert_fingerprint"],
        mosaic::crypto::fingerprint(&cert_der)
    );

    // Serials are random, not derived from the key.
    let g2 = create_grant(&gw);
    let t2 = issue_token(&gw, g2["id"].as_str().unwrap(), None);
    let reused_csr = {
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.serialize_request(&key).unwrap().pem().unwrap()
    };
    let (status, resp2) = enroll(&url_of(&t2), &reused_csr);
    assert_eq!(status, 200, "{resp2}");
    let der2 = pem_der(resp2["certificate_pem"].as_str().unwrap());
    let (_, cert2) = X509Certificate::from_der(&der2).unwrap();
    assert_ne!(
        cert.raw_serial(),
        cert2.raw_serial(),
        "same key, different serial"
    );
    assert!(cert.raw_serial().len() >= 16, "at least 128 bits of serial");
}

/// Enrolls `csrs.len()` peers at once, each against its URL; returns the statuses.
pub(crate) fn race(urls: Vec<String>, csrs: Vec<String>) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(urls.len()));
    let threads: Vec<_> = urls
        .into_iter()
        .zip(csrs)
        .map(|(url, csr)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                enroll(&url, &csr)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[track_caller]
pub(crate) fn exactly_one_winner(
    gw: &Gateway,
    grant_id: &str,
    results: &[(u16, Value)],
    losers: u16,
) {
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, losers, "{body}");
    }
    let (_, grant) = gw.request("GET", &format!("{GRANTS}/{grant_id}"), None);
    assert_eq!(grant["status"], "active");
    let cert = pem_der(winners[0].1["certificate_pem"].as_str().unwrap());
    assert_eq!(
        grant["peer_cert_fingerprint"],
        mosaic::crypto::fingerprint(&cert)
    );
    let redeemed = grant["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "redeemed")
        .count();
    assert_eq!(redeemed, 1, "{grant}");
}

#[test]
fn of_32_concurrent_enrollments_with_one_token_exactly_one_wins() {
    // 320 enrollments from one address: past any honest --rate-limit on purpose.
    let gw = Gateway::start_with(&["--rate-limit", "off"], true);
    for _ in 0..10 {
        let grant = create_grant(&gw);
        let id = grant["id"].as_str().unwrap();
        let url = url_of(&issue_token(&gw, id, None));
        let csrs: Vec<String> = (0..32).map(|_| p256_csr().1).collect();
        let results = race(vec![url; 32], csrs);
        exactly_one_winner(&gw, id, &results, 410);
    }
}

#[test]
fn of_64_concurrent_enrollments_with_one_token_exactly_one_wins_in_each_of_20_rounds() {
    // The 64 arrive together, so the writer commits many of them in one batch, each in its
    // own savepoint: the first to run spends the token, every later one in the batch sees
    // it spent. Each signed its certificate beforehand; only the winner's is kept.
    let gw = Gateway::start_with(&["--rate-limit", "off"], true);
    for _ in 0..20 {
        let grant = create_grant(&gw);
        let id = grant["id"].as_str().unwrap();
        let url = url_of(&issue_token(&gw, id, None));
        let csrs: Vec<String> = (0..64).map(|_| p256_csr().1).collect();
        let results = race(vec![url; 64], csrs);
        exactly_one_winner(&gw, id, &results, 410);
    }
}

#[test]
fn of_32_concurrent_enrollments_with_32_tokens_of_one_grant_exactly_one_wins() {
    // 320 enrollments from one address: past any honest --rate-limit on purpose.
    let gw = Gateway::start_with(&["--rate-limit", "off"], true);
    for _ in 0..10 {
        let grant = create_grant(&gw);
        let id = grant["id"].as_str().unwrap();
        let urls: Vec<String> = (0..32)
            .map(|_| url_of(&issue_token(&gw, id, None)))
            .collect();
        let csrs: Vec<String> = (0..32).map(|_| p256_csr().1).collect();
        let results = race(urls, csrs);
        exactly_one_winner(&gw, id, &results, 409);
    }
}

#[test]
fn no_secret_appears_in_answers_or_logs() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    let token = issue_token(&gw, id, None);
    let secret = token["token"].as_str().unwrap().to_string();
    let spare = issue_token(&gw, id, None)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let url = url_of(&token);

    let mut bodies = Vec::new();
    bodies.push(http("GET", &url, None, None).1);
    let (_, bad) = csr_with(&rcgen::PKCS_ECDSA_P384_SHA384);
    bodies.push(enroll(&url, &bad).1);
    bodies.push(enroll(&url, &p256_csr().1).1);
    bodies.push(enroll(&url, &p256_csr().1).1);
    bodies.push(
        http(
            "GET",
            &format!("{}/api/federation/enrollment/{secret}x", gw.url),
            None,
            None,
        )
        .1,
    );
    bodies.push(gw.request("GET", &format!("{GRANTS}/{id}"), None).1);
    bodies.push(gw.request("GET", GRANTS, None).1);
    bodies.push(gw.request("GET", AUDIT, None).1);
    bodies.push(
        http(
            "GET",
            &format!("{}{GRANTS}", gw.url),
            Some("wrong-token-value"),
            None,
        )
        .1,
    );

    let text = bodies
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let log = gw.log();
    for (what, needle) in [
        ("admin token", gw.admin_token.as_str()),
        ("secret", SECRET),
        ("enrollment token", secret.as_str()),
        ("unused enrollment token", spare.as_str()),
        ("wrong bearer", "wrong-token-value"),
    ] {
        assert!(!text.contains(needle), "the {what} is in an answer: {text}");
        assert!(!log.contains(needle), "the {what} is in the log:\n{log}");
    }
    assert!(
        log.contains("/api/federation/enrollment/[REDACTED]"),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("POST /api/admin/federation/grants 201")),
        "{log}"
    );
}

/// A spent token presented again by the key that spent it gets the same certificate
/// while the grant is active with it (idempotent redemption); another key, or the same
/// key once the grant is revoked, gets the one indistinguishable 410.
#[test]
fn a_spent_token_repeats_its_certificate_only_to_its_key_while_the_grant_is_active() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    let url = url_of(&issue_token(&gw, id, None));
    let (_, csr) = p256_csr();
    let (status, first) = enroll(&url, &csr);
    assert_eq!(status, 200, "{first}");

    let (status, again) = enroll(&url, &csr);
    assert_eq!(status, 200, "{again}");
    for field in [
        "certificate_pem",
        "ca_certificate_pem",
        "grant_id",
        "subject_user_id",
        "peer_id",
        "not_after",
    ] {
        assert_eq!(again[field], first[field], "{field}");
    }
    let der = pem_der(again["certificate_pem"].as_str().unwrap());
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        mosaic::crypto::fingerprint(&der),
        gw.request("GET", &format!("{GRANTS}/{id}"), None).1["peer_cert_fingerprint"]
    );
    assert!(cert.validity().is_valid());

    let (_, other) = p256_csr();
    let (status, body) = enroll(&url, &other);
    assert_error(status, &body, 410, "token_invalid");

    let (status, _) = gw.request(
        "PATCH",
        &format!("{GRANTS}/{id}/revoke"),
        Some(&json!({"reason": "test"})),
    );
    assert_eq!(status, 200);
    let (status, body) = enroll(&url, &csr);
    assert_error(status, &body, 410, "token_invalid");
}
