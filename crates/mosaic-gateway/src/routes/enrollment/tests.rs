//! The enrollment checks, called directly against a real database and the gateway's CA:
//! a token is live until `expires_at` exactly and spent once, only a pending grant
//! enrolls, the issued certificate passes `peer add`'s checks, and a repeat answers the
//! same certificate only to the key that redeemed the token while the grant still holds
//! it.

use axum::Extension;
use axum::http::StatusCode;
use time::OffsetDateTime;

use super::*;
use crate::rate_limit::ClientAddr;
use crate::testkit::{CERT_VALIDITY, TestGateway, grant, ms};
use mosaic_crypto::keys::PeerKey;
use mosaic_crypto::verify::{Expected, verify_issued_cert};
use rusqlite::Connection;

const TOKEN: &str = "enrollment-token-secret";

/// A gateway with pending grant `g1` and its token `h1` (TOKEN), live until
/// `expires_at`; returns a "now" an hour before that.
fn pending() -> (TestGateway, Connection, i64) {
    let gw = TestGateway::new();
    let conn = gw.conn();
    grants::insert(&conn, &grant("g1", GrantStatus::Pending, None)).expect("g1");
    let now = ms(OffsetDateTime::now_utc());
    let expires_at = now + 3_600_000;
    tokens::insert(
        &conn,
        "h1",
        "g1",
        &token_hash(TOKEN),
        now - 1000,
        expires_at,
    )
    .expect("h1");
    (gw, conn, now)
}

fn csr() -> (PeerKey, String) {
    let key = PeerKey::generate().expect("key");
    let csr = key.csr_pem("b").expect("CSR");
    (key, csr)
}

/// (HTTP status, grant ID, why) of a refusal.
fn refused<T>(r: Result<T, Refusal>) -> (StatusCode, Option<String>, String) {
    let refusal = r.err().expect("refused");
    (refusal.answer.status(), refusal.grant_id, refusal.why)
}

fn grant_status(conn: &Connection, id: &str) -> GrantStatus {
    grants::get(conn, id).expect("get").expect("grant").status
}

#[test]
fn a_token_is_live_until_its_expiry_and_unknown_tokens_say_nothing_more() {
    let (_gw, conn, now) = pending();
    let expires_at = now + 3_600_000;
    let live = live_token(&conn, TOKEN, expires_at - 1)
        .expect("query")
        .ok()
        .expect("live");
    assert_eq!((live.handle.as_str(), live.grant_id.as_str()), ("h1", "g1"));
    assert_eq!(
        refused(live_token(&conn, TOKEN, expires_at).expect("query")),
        (
            StatusCode::GONE,
            Some("g1".into()),
            "token h1 expired".into()
        )
    );
    for unknown in ["", "enrollment-token-secreT", "enrollment-token-secret "] {
        assert_eq!(
            refused(live_token(&conn, unknown, now).expect("query")),
            (StatusCode::GONE, None, "unknown token".into())
        );
    }
    tokens::redeem(&conn, "h1", now, "sha256:aa").expect("spend");
    assert_eq!(
        refused(live_token(&conn, TOKEN, now).expect("query")),
        (
            StatusCode::GONE,
            Some("g1".into()),
            "token h1 was already used".into()
        )
    );
}

#[tokio::test]
async fn a_refusal_is_audited_with_its_grant_and_reason_and_answered() {
    let gw = TestGateway::new();
    let from = Some(Extension(ClientAddr(([10, 0, 0, 7], 4000).into())));
    let refusal = Refusal::token(Some("g1"), "token h1 expired");
    let answer = audit_refusal(&gw.state, from, "preview: ", refusal).await;
    assert_eq!(answer.status(), StatusCode::GONE);
    let audit = gw.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let (action, grant_id, detail) = &audit[0];
    assert_eq!(action, "enrollment.refused");
    assert_eq!(grant_id.as_deref(), Some("g1"));
    let detail = detail.as_deref().expect("detail");
    assert!(detail.starts_with("preview: token h1 expired"), "{detail}");
    assert!(detail.contains("10.0.0.7"), "{detail}");
    let unknown = Refusal::token(None, "unknown token");
    assert_eq!(
        (unknown.grant_id, unknown.answer.status()),
        (None, StatusCode::GONE)
    );
}

#[test]
fn only_a_pending_grant_can_be_enrolled() {
    let (_gw, conn, now) = pending();
    let token = live_token(&conn, TOKEN, now)
        .expect("query")
        .ok()
        .expect("live");
    assert_eq!(
        pending_grant(&conn, &token)
            .expect("query")
            .ok()
            .expect("pending")
            .id,
        "g1"
    );
    for (status, what) in [
        ("active", "already active (a peer enrolled)"),
        ("revoked", "revoked"),
        ("expired", "expired"),
    ] {
        conn.execute(
            "UPDATE grants SET status = ?1, activated_at = 1, revoked_at = 1,
                               peer_cert_fingerprint = 'sha256:aa'",
            [status],
        )
        .expect("set status");
        let refusal = pending_grant(&conn, &token)
            .expect("query")
            .expect_err("refused");
        assert_eq!(refusal.grant_id.as_deref(), Some("g1"));
        assert_eq!(refusal.why, format!("token h1: grant is {what}"));
        assert_eq!(refusal.answer.status(), StatusCode::CONFLICT);
        assert_eq!(
            refusal.answer.to_string(),
            format!("grant g1 is {what}: it can no longer be enrolled")
        );
    }
}

#[test]
fn redeeming_issues_a_certificate_peer_add_accepts_and_activates_the_grant() {
    let (gw, conn, now) = pending();
    let (key, csr) = csr();
    let (response, event) = redeem(&conn, &gw.state, TOKEN, &csr, Signed::Nothing, now)
        .expect("query")
        .ok()
        .expect("enrolled");
    assert_eq!(response.grant_id, "g1");
    assert_eq!(response.subject_user_id, "user-1");
    assert_eq!(response.peer_id, "peer-1");
    assert_eq!(response.ca_certificate_pem, gw.state.ca.cert_pem());
    let expected = Expected {
        public_key_spki: key.spki_der(),
        grant_id: "g1",
        subject_user_id: "user-1",
        ca_fingerprint: Some(gw.state.ca.fingerprint()),
    };
    let issued = verify_issued_cert(
        &response.certificate_pem,
        &response.ca_certificate_pem,
        &expected,
        OffsetDateTime::now_utc(),
    )
    .expect("the certificate passes peer add's checks");
    assert_eq!(response.not_after, issued.not_after);
    let lifetime = response.not_after - OffsetDateTime::now_utc();
    assert!(lifetime <= CERT_VALIDITY && lifetime > CERT_VALIDITY - time::Duration::minutes(5));

    let g1 = grants::get(&conn, "g1").expect("get").expect("g1");
    assert_eq!(g1.status, GrantStatus::Active);
    assert_eq!(
        g1.peer_cert_fingerprint.as_deref(),
        Some(issued.fingerprint.as_str())
    );
    let token = tokens::find_by_hash(&conn, &token_hash(TOKEN))
        .expect("q")
        .expect("h1");
    assert_eq!(token.redeemed_at, Some(now));
    assert_eq!(event.action, AuditAction::GrantActivated);
    assert_eq!(event.grant_id.as_deref(), Some("g1"));
    assert_eq!(
        event.detail,
        Some(format!("token h1, certificate {}", issued.fingerprint))
    );
}

#[test]
fn a_refused_csr_leaves_the_token_unspent_and_the_grant_pending() {
    let (gw, conn, now) = pending();
    let (status, grant_id, why) =
        refused(redeem(&conn, &gw.state, TOKEN, "not a CSR", Signed::Nothing, now).expect("query"));
    assert_eq!(
        (status, grant_id.as_deref()),
        (StatusCode::BAD_REQUEST, Some("g1"))
    );
    assert!(why.starts_with("token h1: CSR refused: "), "{why}");
    assert!(live_token(&conn, TOKEN, now).expect("query").is_ok());
    assert_eq!(grant_status(&conn, "g1"), GrantStatus::Pending);
    // And the token still enrolls.
    assert!(
        redeem(&conn, &gw.state, TOKEN, &csr().1, Signed::Nothing, now)
            .expect("query")
            .is_ok()
    );
}

#[test]
fn a_revoked_grant_is_not_enrolled_and_keeps_its_token() {
    let (gw, conn, now) = pending();
    assert!(grants::revoke(&conn, "g1", now, None).expect("revoke"));
    let (status, _, why) =
        refused(redeem(&conn, &gw.state, TOKEN, &csr().1, Signed::Nothing, now).expect("query"));
    assert_eq!(
        (status, why.as_str()),
        (StatusCode::CONFLICT, "token h1: grant is revoked")
    );
    assert!(live_token(&conn, TOKEN, now).expect("query").is_ok());
}

#[test]
fn a_spent_token_answers_the_same_certificate_again_only_to_its_key() {
    let (gw, conn, now) = pending();
    let (_, csr_b) = csr();
    let (first, _) = redeem(&conn, &gw.state, TOKEN, &csr_b, Signed::Nothing, now)
        .expect("q")
        .ok()
        .expect("enrolled");
    // The same key again: the same certificate, to the byte, audited as a repeat.
    let (again, event) = redeem(&conn, &gw.state, TOKEN, &csr_b, Signed::Nothing, now + 5)
        .expect("q")
        .ok()
        .expect("answered again");
    assert_eq!(again, first);
    assert_eq!(event.action, AuditAction::EnrollmentRepeated);
    assert_eq!(event.grant_id.as_deref(), Some("g1"));
    let fingerprint = grants::get(&conn, "g1")
        .expect("q")
        .expect("g1")
        .peer_cert_fingerprint;
    assert_eq!(
        event.detail,
        Some(format!(
            "token h1 presented again by the key it was redeemed with: certificate {} answered again",
            fingerprint.expect("fingerprint")
        ))
    );
    // Another key, or no CSR at all: the one 410 of a used token.
    for other in [csr().1, "not a CSR".to_string()] {
        assert_eq!(
            refused(redeem(&conn, &gw.state, TOKEN, &other, Signed::Nothing, now + 5).expect("q")),
            (
                StatusCode::GONE,
                Some("g1".into()),
                "token h1 was already used".into()
            )
        );
    }
    assert!(
        repeat(&conn, &gw.state, "another token", &csr_b)
            .expect("q")
            .is_none()
    );
}

#[test]
fn no_repeat_once_the_grant_renewed_or_was_revoked() {
    let (gw, conn, now) = pending();
    let (_, csr_b) = csr();
    redeem(&conn, &gw.state, TOKEN, &csr_b, Signed::Nothing, now)
        .expect("q")
        .ok()
        .expect("enrolled");
    assert!(
        repeat(&conn, &gw.state, TOKEN, &csr_b)
            .expect("q")
            .is_some()
    );

    let current = grants::get(&conn, "g1")
        .expect("q")
        .expect("g1")
        .peer_cert_fingerprint;
    let current = current.expect("fingerprint");
    assert!(grants::renew_cert(&conn, "g1", "sha256:renewed", now, &current).expect("renew"));
    assert!(
        repeat(&conn, &gw.state, TOKEN, &csr_b)
            .expect("q")
            .is_none()
    );
    conn.execute(
        "UPDATE grants SET peer_cert_fingerprint = ?1 WHERE id = 'g1'",
        [&current],
    )
    .expect("back to the first certificate");
    assert!(
        repeat(&conn, &gw.state, TOKEN, &csr_b)
            .expect("q")
            .is_some()
    );

    assert!(grants::revoke(&conn, "g1", now, None).expect("revoke"));
    assert!(
        repeat(&conn, &gw.state, TOKEN, &csr_b)
            .expect("q")
            .is_none()
    );
}

#[test]
fn an_unspent_token_is_no_repeat() {
    let (gw, conn, _) = pending();
    assert!(
        repeat(&conn, &gw.state, TOKEN, &csr().1)
            .expect("q")
            .is_none()
    );
}

#[test]
fn pem_lines_are_64_columns() {
    let der: Vec<u8> = (0..=255).collect();
    let text = base64_lines(&der);
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[..5].iter().all(|l| l.len() == 64));
    assert_eq!(lines[5].len(), 344 - 5 * 64);
    use base64::Engine;
    let joined = lines.concat();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(joined)
            .expect("base64"),
        der
    );
}

/// The enrolling gateway signs ahead of the write for the token's grant; the write takes
/// that certificate (or that refusal of the CSR) only for the grant it was made for.
#[tokio::test]
async fn what_was_signed_ahead_is_used_only_for_its_own_grant() {
    let (gw, conn, now) = pending();
    let (_, csr_b) = csr();
    let Signed::Issued { grant_id, cert } =
        sign_ahead(&gw.state, TOKEN, &csr_b).await.expect("read")
    else {
        panic!("a live token's CSR is signed ahead");
    };
    assert_eq!(grant_id, "g1");
    for (token, csr_pem) in [("unknown", csr_b.as_str()), (TOKEN, "not a CSR")] {
        let signed = sign_ahead(&gw.state, token, csr_pem).await.expect("read");
        match (token, signed) {
            ("unknown", Signed::Nothing) => {}
            (TOKEN, Signed::Rejected { grant_id, why }) => {
                assert_eq!(grant_id, "g1");
                assert!(!why.is_empty());
            }
            (_, _) => panic!("{token}: wrong outcome"),
        }
    }

    // Signed for another grant: ignored, the certificate is signed now, for g1.
    let (other, _) = gw.client_cert("g9", "user-9");
    let elsewhere = Signed::Issued {
        grant_id: "g9".into(),
        cert: other.clone(),
    };
    let tx = gw.conn();
    tx.execute_batch("BEGIN").expect("begin");
    let (answer, _) = redeem(&tx, &gw.state, TOKEN, &csr_b, elsewhere, now)
        .expect("q")
        .ok()
        .expect("enrolled");
    assert_ne!(answer.certificate_pem, other.pem);
    let identity = mosaic_crypto::verify::grant_identity(
        &mosaic_crypto::verify::single_pem_der(&answer.certificate_pem, "cert").expect("pem"),
    )
    .expect("grant certificate");
    assert_eq!(identity.grant_id, "g1");
    tx.execute_batch("ROLLBACK").expect("rollback");
    let refused_elsewhere = Signed::Rejected {
        grant_id: "g9".into(),
        why: "not for this grant".into(),
    };
    let tx = gw.conn();
    tx.execute_batch("BEGIN").expect("begin");
    assert!(
        redeem(&tx, &gw.state, TOKEN, &csr_b, refused_elsewhere, now)
            .expect("q")
            .is_ok()
    );
    tx.execute_batch("ROLLBACK").expect("rollback");

    // Signed for g1: that very certificate, or that very refusal.
    let rejected = Signed::Rejected {
        grant_id: "g1".into(),
        why: "the CSR's flaw".into(),
    };
    let (status, _, why) =
        refused(redeem(&conn, &gw.state, TOKEN, &csr_b, rejected, now).expect("q"));
    assert_eq!(
        (status, why.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "token h1: CSR refused: the CSR's flaw"
        )
    );
    let ahead = Signed::Issued {
        grant_id: "g1".into(),
        cert: cert.clone(),
    };
    let (answer, _) = redeem(&conn, &gw.state, TOKEN, &csr_b, ahead, now)
        .expect("q")
        .ok()
        .expect("enrolled");
    assert_eq!(answer.certificate_pem, cert.pem);
}
