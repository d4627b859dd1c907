//! `peer add` against hostile or broken granting gateways (stand-ins, since a correct
//! gateway never issues such certificates): every check ends in exit 7 (or 6 for a
//! broken answer) and no active peer.

use std::sync::Arc;
use std::time::Duration;

use mosaic::crypto::ca::{CertificateAuthority, ClientCertProfile, grant_extension};
use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::oid;
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{Value, json};

use crate::common::standin::{Reply, Request, StandIn};
use crate::common::{Gateway, SEED_SCOPE, write_file};
use crate::peer_add::{Pair, active_peers, peer_add_on};

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
        // The error comes last, followed only by its next step.
        let last: Vec<&str> = out.stderr.trim_end().lines().rev().take(2).collect();
        assert!(
            last[0] == errors[0] || (last[1] == errors[0] && last[0].starts_with("hint: ")),
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
