//! The data plane's authorisation, called directly: certificates from the gateway's own
//! CA, grants in a real database, and every check of the contract at its boundary.

use axum::http::StatusCode;
use time::OffsetDateTime;

use super::*;
use crate::testkit::{TestGateway, grant, ms};
use mosaic_crypto::ca::ClientCert;

type Checked = Result<(Grant, GrantIdentity, CertRole), Refusal>;

fn passed(checked: Checked) -> (Grant, GrantIdentity, CertRole) {
    match checked {
        Ok(passed) => passed,
        Err(refusal) => panic!("refused: {}", refusal.error),
    }
}

/// (status, code, message) of a refusal.
fn refusal(checked: Checked) -> (StatusCode, &'static str, String) {
    let refusal = checked.expect_err("refused");
    let e = &refusal.error;
    (e.status(), e.code(), e.to_string())
}

fn query(limit: Option<u32>) -> RowsQuery {
    RowsQuery {
        limit,
        cursor: None,
    }
}

/// A gateway where grant `g1` (user-1's tasks and notes; credentials listed but
/// excluded; 50 rows a page) is active with the returned certificate.
fn active_grant() -> (TestGateway, rusqlite::Connection, ClientCert, i64) {
    let gw = TestGateway::new();
    let conn = gw.conn();
    let (cert, _) = gw.client_cert("g1", "user-1");
    grants::insert(
        &conn,
        &grant("g1", GrantStatus::Active, Some(&cert.fingerprint)),
    )
    .expect("g1");
    (gw, conn, cert, ms(OffsetDateTime::now_utc()))
}

#[test]
fn the_grant_certificate_passes_and_names_its_grant() {
    let (_gw, conn, cert, now) = active_grant();
    let (grant, identity, role) = passed(authorize(&conn, Some(&cert.der), now, None));
    assert_eq!(grant.id, "g1");
    assert_eq!(identity.fingerprint, cert.fingerprint);
    assert_eq!(identity.grant_id, "g1");
    assert_eq!(identity.subject_user_id, "user-1");
    assert_eq!(role, CertRole::Current);

    let event = read_event(&grant, "tasks: 3 rows");
    assert_eq!(event.action, AuditAction::FederationRead);
    assert_eq!(event.actor, Actor::Peer);
    assert_eq!(event.grant_id.as_deref(), Some("g1"));
    assert_eq!(event.peer_id.as_deref(), Some("peer-1"));
    assert_eq!(event.detail.as_deref(), Some("tasks: 3 rows"));
}

#[test]
fn without_a_client_certificate_the_answer_is_401() {
    let (_gw, conn, _, now) = active_grant();
    assert_eq!(
        refusal(authorize(&conn, None, now, None)),
        (
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "a client certificate issued by this gateway is required (mutual TLS)".into()
        )
    );
}

#[test]
fn a_certificate_without_the_grant_oids_is_unknown() {
    let (gw, conn, _, now) = active_grant();
    let ca_der =
        mosaic_crypto::verify::single_pem_der(gw.state.ca.cert_pem(), "CA").expect("CA DER");
    for leaf in [b"not DER".to_vec(), ca_der] {
        let (status, code, message) = refusal(authorize(&conn, Some(&leaf), now, None));
        assert_eq!(
            (status, code),
            (StatusCode::FORBIDDEN, codes::UNKNOWN_CERTIFICATE)
        );
        assert!(
            message.starts_with("the client certificate is not a grant certificate: "),
            "{message}"
        );
    }
}

#[test]
fn a_certificate_is_refused_from_its_not_after_on() {
    let (_gw, conn, cert, _) = active_grant();
    let not_after = ms(cert.not_after);
    assert!(authorize(&conn, Some(&cert.der), not_after - 1, None).is_ok());
    let checked = authorize(&conn, Some(&cert.der), not_after, None);
    let refused = checked.as_ref().expect_err("expired");
    assert_eq!(
        refused.fingerprint.as_deref(),
        Some(cert.fingerprint.as_str())
    );
    assert_eq!(
        refusal(checked),
        (
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "the client certificate has expired".into()
        )
    );
}

#[test]
fn a_certificate_no_grant_holds_is_unknown_even_with_a_grants_oids() {
    let (gw, conn, _, now) = active_grant();
    let unknown = "no grant holds this client certificate".to_string();
    let forbidden = |leaf: &[u8]| refusal(authorize(&conn, Some(leaf), now, None));
    // g1's IDs, another key: not the certificate g1 holds.
    let (other, _) = gw.client_cert("g1", "user-1");
    assert_eq!(
        forbidden(&other.der),
        (
            StatusCode::FORBIDDEN,
            codes::UNKNOWN_CERTIFICATE,
            unknown.clone()
        )
    );
    // Grants that hold a certificate whose grant ID, or whose subject user ID, is not
    // theirs.
    let (wrong_grant, _) = gw.client_cert("g9", "user-1");
    grants::insert(
        &conn,
        &grant("g2", GrantStatus::Active, Some(&wrong_grant.fingerprint)),
    )
    .expect("g2");
    let (wrong_user, _) = gw.client_cert("g3", "user-2");
    grants::insert(
        &conn,
        &grant("g3", GrantStatus::Active, Some(&wrong_user.fingerprint)),
    )
    .expect("g3");
    for cert in [&wrong_grant, &wrong_user] {
        assert_eq!(
            forbidden(&cert.der),
            (
                StatusCode::FORBIDDEN,
                codes::UNKNOWN_CERTIFICATE,
                unknown.clone()
            )
        );
    }
}

#[test]
fn only_an_active_grant_passes_and_the_refusal_is_audited_with_the_grant() {
    let gw = TestGateway::new();
    let conn = gw.conn();
    let now = ms(OffsetDateTime::now_utc());
    for (id, status) in [
        ("gp", GrantStatus::Pending),
        ("gr", GrantStatus::Revoked),
        ("ge", GrantStatus::Expired),
    ] {
        let (cert, _) = gw.client_cert(id, "user-1");
        grants::insert(&conn, &grant(id, status, Some(&cert.fingerprint))).expect("grant");
        let checked = authorize(&conn, Some(&cert.der), now, None);
        let message = format!("grant {id} is {}", status.as_str());
        let refused = checked.expect_err("inactive");
        assert_eq!(
            (
                refused.error.status(),
                refused.error.code(),
                refused.error.to_string()
            ),
            (
                StatusCode::FORBIDDEN,
                codes::GRANT_INACTIVE,
                message.clone()
            )
        );
        // What its collapsed `federation.refused` row carries.
        assert_eq!(refused.error.code(), codes::GRANT_INACTIVE);
        assert_eq!(
            refused.grant.as_deref(),
            Some(&(id.to_string(), "peer-1".to_string()))
        );
        assert_eq!(
            refused.why(),
            format!(
                "grant_inactive: {message}; certificate {}",
                cert.fingerprint
            )
        );
    }
    let refused = authorize(&conn, None, now, None).expect_err("no certificate");
    assert_eq!(refused.error.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.grant, None);
    assert!(refused.why().ends_with("; certificate none"));
}

#[test]
fn the_previous_certificate_passes_until_the_renewed_one_is_presented() {
    let (gw, conn, old, now) = active_grant();
    let (new, _) = gw.client_cert("g1", "user-1");
    let renewed = grants::renew_cert(
        &conn,
        "g1",
        &new.fingerprint,
        ms(new.not_after),
        &old.fingerprint,
    );
    assert!(renewed.expect("renew"));
    for _ in 0..2 {
        let (_, _, role) = passed(authorize(&conn, Some(&old.der), now, None));
        assert_eq!(role, CertRole::Previous);
    }
    let (_, _, role) = passed(authorize(&conn, Some(&new.der), now, None));
    assert_eq!(role, CertRole::Current);
    let (_, code, _) = refusal(authorize(&conn, Some(&old.der), now, None));
    assert_eq!(code, codes::UNKNOWN_CERTIFICATE);
    assert!(authorize(&conn, Some(&new.der), now, None).is_ok());
}

#[test]
fn a_read_needs_a_granted_resource_that_is_not_excluded() {
    let (_gw, conn, cert, now) = active_grant();
    let read =
        |resource: &str| authorize(&conn, Some(&cert.der), now, Some((resource, &query(None))));
    for granted in ["tasks", "notes"] {
        assert!(read(granted).is_ok(), "{granted}");
    }
    for (resource, why) in [
        ("credentials", "credentials is excluded by grant g1"),
        ("teams", "teams is not granted by grant g1"),
        ("users", "users is not granted by grant g1"),
        ("Tasks", "\"Tasks\" is not a resource"),
    ] {
        assert_eq!(
            refusal(read(resource)),
            (StatusCode::FORBIDDEN, codes::OUT_OF_SCOPE, why.to_string()),
            "{resource}"
        );
    }
    // A path the peer chose is kept to 256 characters in the message (so the audit row).
    let long = "é".repeat(300);
    let (_, _, message) = refusal(read(&long));
    assert_eq!(
        message,
        format!("\"{}…\" is not a resource", "é".repeat(256))
    );
    let exact = "é".repeat(256);
    let (_, _, message) = refusal(read(&exact));
    assert_eq!(message, format!("{exact:?} is not a resource"));
}

#[test]
fn a_page_size_is_from_1_to_the_grants_maximum() {
    let (_gw, conn, cert, now) = active_grant();
    let read = |limit| authorize(&conn, Some(&cert.der), now, Some(("tasks", &query(limit))));
    for ok in [None, Some(1), Some(50)] {
        assert!(read(ok).is_ok(), "{ok:?}");
    }
    for bad in [0, 51] {
        assert_eq!(
            refusal(read(Some(bad))),
            (
                StatusCode::BAD_REQUEST,
                mosaic_contract::types::codes::INVALID_REQUEST,
                format!("limit must be from 1 to 50 (the grant's max_rows_per_query), got {bad}")
            )
        );
    }
}

/// A refusal is answered as itself (its status and code), and past the address's burst of
/// refusals as 429; other addresses, and a gateway without rate limits, are not affected.
#[tokio::test]
async fn a_refusal_is_answered_as_itself_until_its_address_is_past_the_limit() {
    use crate::rate_limit::ClientAddr;
    let refuse = || {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "no client certificate".into(),
        )
    };
    let from = |ip: &str| Some(Extension(ClientAddr(format!("{ip}:4000").parse().unwrap())));
    let limited = TestGateway::with_rate_limit(Some(2));
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            refused(&limited.state, from("10.0.0.1"), refuse())
                .await
                .status(),
        );
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let other = refused(&limited.state, from("10.0.0.2"), refuse()).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);

    let open = TestGateway::new();
    for _ in 0..5 {
        let answer = refused(&open.state, from("10.0.0.1"), refuse()).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
}
