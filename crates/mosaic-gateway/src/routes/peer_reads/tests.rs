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
