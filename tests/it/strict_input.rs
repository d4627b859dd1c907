//! Strict input: an object where the contract says object, unknown query parameters
//! refused on every route, peer ids that every client can address, control characters
//! refused in free text, and every 400 naming the field or element.

use serde_json::{Value, json};

use crate::common::Gateway;

const GRANTS: &str = "/api/admin/federation/grants";

fn message(body: &Value) -> &str {
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    body["error"]["message"].as_str().expect("message")
}

fn grant_count(gw: &Gateway) -> usize {
    let (status, list) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().len()
}

#[test]
fn an_array_is_refused_where_the_contract_says_object() {
    let gw = Gateway::start();
    let top = json!(["u-1", "gw-b", {"resources": ["tasks"], "max_rows_per_query": 100}]);
    let (status, body) = gw.request("POST", GRANTS, Some(&top));
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("must be a JSON object"), "{body}");

    let nested = json!({"user_id": "u-1", "peer_id": "gw-b", "scope": [["tasks"], [], 100]});
    let (status, body) = gw.request("POST", GRANTS, Some(&nested));
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).contains("`scope` must be a JSON object"),
        "{body}"
    );
    assert_eq!(grant_count(&gw), 0, "nothing was created");

    // The object form of the same grant is accepted.
    let good = json!({"user_id": "u-1", "peer_id": "gw-b",
                      "scope": {"resources": ["tasks"], "max_rows_per_query": 100}});
    let (status, body) = gw.request("POST", GRANTS, Some(&good));
    assert_eq!(status, 201, "{body}");
    assert_eq!(grant_count(&gw), 1);
}

#[test]
fn a_bad_element_is_named_with_its_index() {
    let gw = Gateway::start();
    let bad = json!({"user_id": "u-1", "peer_id": "gw-b",
                     "scope": {"resources": [1], "max_rows_per_query": 100}});
    let (status, body) = gw.request("POST", GRANTS, Some(&bad));
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("`scope.resources[0]`"), "{body}");
}

#[test]
fn unknown_query_parameters_are_refused_on_every_route() {
    let gw = Gateway::start();
    let grant = gw.grant("u-1", "gw-b");
    let id = grant["id"].as_str().unwrap();
    // A typo must not issue a 900 s token: nothing is issued.
    let (status, body) = gw.request("POST", &format!("{GRANTS}/{id}/tokens?ttl_seconds=5"), None);
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("`ttl_seconds`"), "{body}");
    let (_, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    assert_eq!(shown["tokens"], json!([]), "no token was issued: {shown}");
    for (method, path) in [
        ("GET", "/api/health?verbose=1".to_string()),
        ("GET", format!("{GRANTS}/{id}?expand=all")),
        ("PATCH", format!("{GRANTS}/{id}/revoke?force=true")),
        ("GET", "/api/federation/enrollment/abc?x=1".to_string()),
    ] {
        let (status, body) = gw.request(method, &path, None);
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(message(&body).contains("unknown query parameter"), "{body}");
    }
    // The grant was not revoked by the refused request; lists keep their parameters.
    let (_, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    assert_eq!(shown["revoked_at"], Value::Null, "{shown}");
    let (status, _) = gw.request("GET", &format!("{GRANTS}?limit=5"), None);
    assert_eq!(status, 200);
}

#[test]
fn dot_and_dot_dot_are_refused_as_peer_ids() {
    let gw = Gateway::start();
    for id in [".", "..", "a/b", "a\u{0}b"] {
        let body = json!({"id": id, "name": "B", "remote_url": "http://127.0.0.1:9",
                          "csr_pem": "x", "sealed_private_key": "x"});
        let (status, answer) =
            gw.request("POST", "/api/admin/federation/peers/keypair", Some(&body));
        assert_eq!(status, 400, "{id:?}: {answer}");
        assert!(message(&answer).starts_with("id must be"), "{answer}");
    }
    let (_, peers) = gw.request("GET", "/api/admin/federation/peers", None);
    assert_eq!(peers["items"], json!([]));
}

#[test]
fn a_nul_or_escape_in_a_revoke_reason_is_refused_and_nothing_is_revoked() {
    let gw = Gateway::start();
    let id = gw.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    for reason in ["bad\u{0}reason", "\u{1b}[31mred"] {
        let (status, body) = gw.request(
            "PATCH",
            &format!("{GRANTS}/{id}/revoke"),
            Some(&json!({ "reason": reason })),
        );
        assert_eq!(status, 400, "{body}");
        assert!(message(&body).starts_with("reason "), "{body}");
    }
    let (_, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    assert_eq!(shown["revoked_at"], Value::Null, "{shown}");
}
