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

#[test]
fn every_route_that_takes_an_id_refuses_one_outside_the_pattern() {
    let gw = Gateway::start();
    let grant = gw.grant("u-1", "gw-b");
    let good = grant["id"].as_str().unwrap();
    let cert = json!({"certificate_pem": "x", "ca_certificate_pem": "x",
                      "grant_id": "g", "subject_user_id": "u"});
    // Percent-encoded, so that no client normalises them away: `..`, `.`, a slash, NUL,
    // ESC, a space, a backslash, and 129 characters.
    let long = "a".repeat(129);
    let bad_ids = [
        "%2E%2E", "%2E", "a%2Fb", "a%00b", "a%1Bb", "a%20b", "a%5Cb", &long,
    ];
    for id in bad_ids {
        for (method, path, body) in [
            ("GET", format!("{GRANTS}/{id}"), None),
            ("PATCH", format!("{GRANTS}/{id}/revoke"), None),
            ("POST", format!("{GRANTS}/{id}/tokens"), None),
            ("PATCH", format!("{PEERS}/{id}/cert"), Some(&cert)),
            ("DELETE", format!("{PEERS}/{id}"), None),
            ("POST", format!("{PEERS}/{id}/renew"), None),
            ("GET", format!("{PEERS}/{id}/enrollment"), None),
            ("GET", format!("{PEERS}/{id}/whoami"), None),
            ("GET", format!("{PEERS}/{id}/resources/tasks"), None),
        ] {
            let (status, answer) = gw.request(method, &path, body);
            assert_eq!(status, 400, "{method} {path}: {answer}");
            assert!(
                message(&answer).starts_with("path: `id` must be 1 to 128 characters"),
                "{method} {path}: {answer}"
            );
        }
    }
    // An ID of the pattern gets through to the lookup: 404, or the grant itself.
    let (status, _) = gw.request("GET", &format!("{GRANTS}/no-such.grant~1"), None);
    assert_eq!(status, 404);
    let (status, _) = gw.request("GET", &format!("{GRANTS}/{good}"), None);
    assert_eq!(status, 200);
}

const PEERS: &str = "/api/admin/federation/peers";

#[test]
fn control_characters_are_refused_in_every_text_field_with_the_field_named() {
    let gw = Gateway::start();
    let esc = "x\u{1b}[2J";
    let scope = json!({"resources": ["tasks"], "max_rows_per_query": 10});
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            GRANTS.into(),
            json!({"user_id": esc, "peer_id": "p", "scope": scope}),
            "user_id ",
        ),
        (
            "POST",
            GRANTS.into(),
            json!({"user_id": "u", "peer_id": esc, "scope": scope}),
            "peer_id ",
        ),
        (
            "POST",
            format!("{PEERS}/keypair"),
            json!({"id": "p1", "name": esc, "remote_url": "http://127.0.0.1:9",
                   "csr_pem": "x", "sealed_private_key": "x"}),
            "name ",
        ),
        (
            "POST",
            format!("{PEERS}/keypair"),
            json!({"id": "p1", "name": "n", "remote_url": "http://127.0.0.1:9/\u{7}",
                   "csr_pem": "x", "sealed_private_key": "x"}),
            "remote_url ",
        ),
        (
            "POST",
            format!("{PEERS}/keypair"),
            json!({"id": "p1", "name": "n", "remote_url": "http://127.0.0.1:9",
                   "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\n\u{1b}]0;t\u{7}",
                   "sealed_private_key": "x"}),
            "csr_pem ",
        ),
        (
            "POST",
            format!("{PEERS}/keypair"),
            json!({"id": "p1", "name": "n", "remote_url": "http://127.0.0.1:9",
                   "csr_pem": "x", "sealed_private_key": format!("mosaic-sealed-v1:{esc}")}),
            "sealed_private_key",
        ),
        (
            "PATCH",
            format!("{PEERS}/p1/cert"),
            json!({"certificate_pem": esc, "ca_certificate_pem": "x", "grant_id": "g",
                   "subject_user_id": "u"}),
            "certificate_pem ",
        ),
        (
            "PATCH",
            format!("{PEERS}/p1/cert"),
            json!({"certificate_pem": "x", "ca_certificate_pem": esc, "grant_id": "g",
                   "subject_user_id": "u"}),
            "ca_certificate_pem ",
        ),
        (
            "PATCH",
            format!("{PEERS}/p1/cert"),
            json!({"certificate_pem": "x", "ca_certificate_pem": "x", "grant_id": esc,
                   "subject_user_id": "u"}),
            "grant_id ",
        ),
        (
            "POST",
            "/api/admin/federation/data/notes".into(),
            json!({"user_id": "u", "items": [{"id": "n1", "title": "t", "body": "ok"},
                                              {"id": "n2", "title": esc, "body": "b"}]}),
            "items[1].title: ",
        ),
        (
            "POST",
            "/api/admin/federation/data/notes".into(),
            json!({"user_id": "u", "items": [{"id": "n\u{0}", "title": "t", "body": "b"}]}),
            "items[0].id ",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = gw.request(method, &path, Some(&body));
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(message(&answer).starts_with(field), "{field}: {answer}");
    }
    for (path, field) in [
        (format!("{GRANTS}?peer_id=a%1Bb"), "peer_id "),
        (
            "/api/admin/federation/audit?grant_id=a%00b".to_string(),
            "grant_id ",
        ),
    ] {
        let (status, answer) = gw.request("GET", &path, None);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(message(&answer).starts_with(field), "{answer}");
    }
    // Nothing was stored; a note's body keeps its line feeds and tabs.
    assert_eq!(grant_count(&gw), 0);
    let (_, peers) = gw.request("GET", PEERS, None);
    assert_eq!(peers["items"], json!([]));
    let note = json!({"user_id": "u", "items": [{"id": "n1", "title": "t", "body": "a\n\tb"}]});
    let (status, answer) = gw.request("POST", "/api/admin/federation/data/notes", Some(&note));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["imported"], 1);
}

#[test]
fn every_400_names_the_field_or_element() {
    let gw = Gateway::start();
    let id = gw.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "POST",
            GRANTS.into(),
            Some(
                json!({"peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": 1}}),
            ),
            "user_id",
        ),
        (
            "POST",
            GRANTS.into(),
            Some(
                json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks", "bogus"], "max_rows_per_query": 1}}),
            ),
            "`scope.resources[1]`",
        ),
        (
            "POST",
            GRANTS.into(),
            Some(json!({"user_id": "u", "peer_id": "p",
                        "scope": {"resources": ["tasks"], "max_rows_per_query": "ten"}})),
            "`scope.max_rows_per_query`",
        ),
        (
            "POST",
            GRANTS.into(),
            Some(
                json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": 1}, "extra": 1}),
            ),
            "`extra`",
        ),
        (
            "POST",
            format!("{GRANTS}/{id}/tokens"),
            Some(json!({"ttl_seconds": 901})),
            "ttl_seconds",
        ),
        (
            "POST",
            format!("{GRANTS}/{id}/tokens"),
            Some(json!({"ttl_seconds": -1})),
            "`ttl_seconds`",
        ),
        (
            "PATCH",
            format!("{GRANTS}/{id}/revoke"),
            Some(json!({"reason": 7})),
            "`reason`",
        ),
        ("GET", format!("{GRANTS}?limit=abc"), None, "limit"),
        ("GET", format!("{GRANTS}?status=gone"), None, "status"),
        (
            "GET",
            "/api/admin/federation/audit?since=yesterday".into(),
            None,
            "since",
        ),
        (
            "POST",
            "/api/admin/federation/data/notes".into(),
            Some(json!({"user_id": "u", "items": [{"id": "n1", "title": 5, "body": "b"}]})),
            "items[0].title",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = gw.request(method, &path, body.as_ref());
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert!(
            message(&answer).contains(field),
            "{field} not named: {answer}"
        );
    }
}

#[test]
fn integers_are_read_as_json_schema_reads_them_and_a_whitespace_body_is_not_absent() {
    let gw = Gateway::start();
    let id = gw.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let tokens = format!("{GRANTS}/{id}/tokens");
    // 60.0 is the integer 60 (JSON Schema): a 60 s token, not a refusal.
    let (status, token) = gw.request("POST", &tokens, Some(&json!({"ttl_seconds": 60.0})));
    assert_eq!(status, 201, "{token}");
    let issued = crate::fixtures::parse_time(&token["expires_at"]);
    let left = issued - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(60) && left > time::Duration::seconds(50),
        "{left}"
    );
    let (status, body) = gw.request("POST", &tokens, Some(&json!({"ttl_seconds": 60.5})));
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("`ttl_seconds`"), "{body}");
    let scope = json!({"user_id": "u", "peer_id": "p",
                       "scope": {"resources": ["tasks"], "max_rows_per_query": 1e2}});
    let (status, grant) = gw.request("POST", GRANTS, Some(&scope));
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["scope"]["max_rows_per_query"], 100);

    // A body of whitespace is malformed JSON, not a missing body: nothing is issued.
    let before = gw.request("GET", &format!("{GRANTS}/{id}"), None).1["tokens"]
        .as_array()
        .unwrap()
        .len();
    let url = format!("{}{tokens}", gw.url);
    let answer = ureq::post(&url)
        .header("authorization", format!("Bearer {}", gw.admin_token))
        .header("content-type", "application/json")
        .config()
        .http_status_as_error(false)
        .build()
        .send(" ")
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let after = gw.request("GET", &format!("{GRANTS}/{id}"), None).1["tokens"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "no token was issued");
    // No body at all is still the optional body left out.
    let (status, _) = gw.request("POST", &tokens, None);
    assert_eq!(status, 201);
}

#[test]
fn timestamps_are_rfc3339_date_times_as_the_document_says() {
    let gw = Gateway::start();
    let scope = json!({"resources": ["tasks"], "max_rows_per_query": 10});
    for bad in [
        "2030-01-01 00:00:00Z",
        "2030-06-30T23:59:60Z",
        "2030-01-01T00:00:00",
    ] {
        let body = json!({"user_id": "u", "peer_id": "p", "scope": scope, "expires_at": bad});
        let (status, answer) = gw.request("POST", GRANTS, Some(&body));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(message(&answer).contains("`expires_at`"), "{answer}");
        let since = bad.replace(' ', "%20");
        let (status, answer) = gw.request(
            "GET",
            &format!("/api/admin/federation/audit?since={since}"),
            None,
        );
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(message(&answer).starts_with("since "), "{answer}");
    }
    assert_eq!(grant_count(&gw), 0);
    let body = json!({"user_id": "u", "peer_id": "p", "scope": scope,
                      "expires_at": "2030-01-01t00:00:00+02:00"});
    let (status, grant) = gw.request("POST", GRANTS, Some(&body));
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["expires_at"], "2029-12-31T22:00:00.000Z");
}
