//! What B asks A for a resource read: exactly the path and query it was given, encoded.

use super::*;

fn path(resource: &str, limit: Option<u32>, cursor: Option<&str>) -> String {
    let query = RowsQuery {
        limit,
        cursor: cursor.map(str::to_string),
    };
    resource_path(resource, &query).expect("path")
}

#[test]
fn a_read_without_limit_or_cursor_has_no_query() {
    assert_eq!(
        path("tasks", None, None),
        "/api/federation/v1/resources/tasks"
    );
}

#[test]
fn limit_and_cursor_are_passed_on_encoded() {
    assert_eq!(
        path("notes", Some(5), None),
        "/api/federation/v1/resources/notes?limit=5"
    );
    assert_eq!(
        path("notes", None, Some("a b&c=d")),
        "/api/federation/v1/resources/notes?cursor=a+b%26c%3Dd"
    );
    assert_eq!(
        path("notes", Some(1), Some("xyz")),
        "/api/federation/v1/resources/notes?limit=1&cursor=xyz"
    );
}

#[test]
fn the_resource_stays_one_path_segment() {
    assert_eq!(
        path("../admin/grants?x", None, None),
        "/api/federation/v1/resources/..%2Fadmin%2Fgrants%3Fx"
    );
}

/// Before any connection: a peer this gateway does not know is a 404 naming it, not an
/// empty answer relayed.
#[tokio::test]
async fn a_read_from_an_unknown_peer_is_not_found() {
    let gw = crate::testkit::TestGateway::new();
    let e = call(&gw.state, "p-missing", paths::WHOAMI)
        .await
        .expect_err("no such peer");
    assert_eq!(e.status(), axum::http::StatusCode::NOT_FOUND);
    assert_eq!(e.to_string(), "no peer with ID p-missing");
}

fn refusal(code: &'static str, message: &str) -> ApiError {
    ApiError::coded(axum::http::StatusCode::FORBIDDEN, code, message.to_string())
}

#[test]
fn only_a_refusal_for_an_ended_grant_says_how_it_ended() {
    use mosaic_contract::federation::codes::{PEER_REFUSED, PEER_UNREACHABLE};
    let said = |code, message: &str| grant_ended(&refusal(code, message));
    let refused = "the granting gateway refused: grant_inactive: grant g-1 is";
    assert_eq!(
        said(PEER_REFUSED, &format!("{refused} revoked")),
        Some(peers::GRANT_REVOKED)
    );
    assert_eq!(
        said(PEER_REFUSED, &format!("{refused} expired")),
        Some(peers::GRANT_EXPIRED)
    );
    assert_eq!(said(PEER_REFUSED, &format!("{refused} pending")), None);
    assert_eq!(
        said(
            PEER_REFUSED,
            "the granting gateway refused: out_of_scope: notes is not granted"
        ),
        None
    );
    assert_eq!(said(PEER_UNREACHABLE, &format!("{refused} revoked")), None);
}

/// An active peer `id` in `gw`'s store, as `peer add` leaves it.
fn active_peer(gw: &crate::testkit::TestGateway, id: &str) {
    gw.conn()
        .execute(
            "INSERT INTO peers (id, name, remote_url, csr_pem, public_key, sealed_private_key,
                                status, certificate_pem, ca_certificate_pem, cert_fingerprint,
                                created_at, activated_at)
             VALUES (?1, 'a', 'https://a.test', 'csr', x'00', 'sealed', 'active', 'cert',
                     'ca', 'sha256:00', 1, 1)",
            [id],
        )
        .expect("insert a peer");
}

async fn status_of(gw: &crate::testkit::TestGateway, id: &str) -> PeerStatus {
    let id = id.to_string();
    gw.state
        .store
        .run(move |conn| peers::get(conn, &id).map_err(StoreError::from))
        .await
        .expect("read")
        .expect("the peer")
        .status
}

#[tokio::test]
async fn an_ended_grant_is_recorded_on_an_active_peer_once() {
    let gw = crate::testkit::TestGateway::new();
    active_peer(&gw, "p-1");
    active_peer(&gw, "p-2");
    record_grant_ended(&gw.state, "p-1", peers::GRANT_REVOKED).await;
    record_grant_ended(&gw.state, "p-1", peers::GRANT_REVOKED).await;
    record_grant_ended(&gw.state, "p-2", peers::GRANT_EXPIRED).await;
    record_grant_ended(&gw.state, "p-missing", peers::GRANT_EXPIRED).await;
    assert_eq!(status_of(&gw, "p-1").await, PeerStatus::GrantRevoked);
    assert_eq!(status_of(&gw, "p-2").await, PeerStatus::GrantExpired);
    let ended: Vec<_> = gw
        .audit()
        .into_iter()
        .filter(|(action, _, _)| action == "peer.grant_ended")
        .map(|(_, _, detail)| detail)
        .collect();
    assert_eq!(
        ended,
        [Some("revoked".to_string()), Some("expired".to_string())]
    );
}
