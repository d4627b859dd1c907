//! The reference gateway as a process: start-up rules, authentication, the grant
//! endpoints, pagination, error shapes, persistence across `kill -9`, and its OpenAPI file.

use serde_json::{Value, json};

use crate::common::{Gateway, http};
use crate::fixtures::*;

#[test]
fn every_admin_endpoint_needs_the_bearer_token() {
    let gw = Gateway::start();
    let wrong = format!("{}x", gw.admin_token);
    for (method, path, body) in admin_endpoints() {
        let url = format!("{}{path}", gw.url);
        for bearer in [None, Some(wrong.as_str()), Some("")] {
            let (status, resp) = http(method, &url, bearer, body.as_ref());
            assert_error(status, &resp, 401, "unauthorized");
        }
        // Another scheme with the right token is not accepted either.
        let (status, _) = raw(
            method,
            &url,
            &[("authorization", &format!("Basic {}", gw.admin_token))],
            None,
        );
        assert_eq!(status, 401, "{method} {path}");
    }
    let (status, grants) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 200);
    assert_eq!(
        grants["items"],
        json!([]),
        "nothing was created without the token"
    );
}

#[test]
fn grant_create_show_list_and_revoke() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    assert_eq!(grant["status"], "pending");
    assert_eq!(grant["scope"], seed_scope());
    for field in [
        "activated_at",
        "revoked_at",
        "revoked_reason",
        "expires_at",
        "peer_cert_fingerprint",
    ] {
        assert_eq!(grant[field], Value::Null, "{field}");
    }
    assert!(
        grant.get("tokens").is_none(),
        "only show carries the token history"
    );

    let (status, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    assert_eq!(status, 200);
    assert_eq!(shown["tokens"], json!([]));
    let mut without_tokens = shown.clone();
    without_tokens.as_object_mut().unwrap().remove("tokens");
    assert_eq!(without_tokens, grant);

    let (status, revoked) = gw.request(
        "PATCH",
        &format!("{GRANTS}/{id}/revoke"),
        Some(&json!({"reason": "contract ended"})),
    );
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_reason"], "contract ended");
    assert!(revoked["revoked_at"].is_string());

    let (status, body) = gw.request("PATCH", &format!("{GRANTS}/{id}/revoke"), None);
    assert_error(status, &body, 409, "conflict");

    // A revoke without any body is fine too.
    let other = create_grant(&gw);
    let (status, body) = raw(
        "PATCH",
        &format!(
            "{}{GRANTS}/{}/revoke",
            gw.url,
            other["id"].as_str().unwrap()
        ),
        &[("authorization", &format!("Bearer {}", gw.admin_token))],
        None,
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn unknown_grants_are_404() {
    let gw = Gateway::start();
    for (method, path) in [
        ("GET", format!("{GRANTS}/nope")),
        ("PATCH", format!("{GRANTS}/nope/revoke")),
        ("POST", format!("{GRANTS}/nope/tokens")),
    ] {
        let (status, body) = gw.request(method, &path, Some(&json!({})));
        assert_error(status, &body, 404, "not_found");
    }
    for path in [
        format!("{GRANTS}/%FF"),
        "/api/federation/enrollment/%FF".to_string(),
    ] {
        let (status, body) = gw.request("GET", &path, None);
        assert_error(status, &body, 400, "invalid_request");
    }
    let (status, body) = gw.request("GET", "/api/no/such/route", None);
    assert_error(status, &body, 404, "not_found");
    let (status, body) = gw.request("PUT", GRANTS, None);
    assert_eq!(status, 405, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

#[test]
fn invalid_grant_bodies_are_400_naming_the_field() {
    let gw = Gateway::start();
    let scope = seed_scope();
    let cases = [
        (json!({"peer_id": "p", "scope": scope}), "user_id"),
        (
            json!({"user_id": "", "peer_id": "p", "scope": scope}),
            "user_id",
        ),
        (
            json!({"user_id": "u", "peer_id": "p\n", "scope": scope}),
            "peer_id",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": [], "max_rows_per_query": 1}}),
            "scope.resources",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks", "tasks"], "max_rows_per_query": 1}}),
            "scope.resources[1]",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "excluded_resources": ["tasks"], "max_rows_per_query": 1}}),
            "scope.excluded_resources[0]",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": 0}}),
            "scope.max_rows_per_query",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": 10001}}),
            "scope.max_rows_per_query",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["secrets"], "max_rows_per_query": 1}}),
            "secrets",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": 1, "x": 1}}),
            "`scope.x`: unknown field `x`",
        ),
        (
            // The path names the unknown field itself, not the last field read before it.
            json!({"user_id": "u", "peer_id": "p", "scope": scope, "extra": true}),
            "`extra`: unknown field `extra`",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": {"resources": ["tasks"], "max_rows_per_query": -1}}),
            "`scope.max_rows_per_query`: invalid value",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": scope, "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"user_id": "u", "peer_id": "p", "scope": scope, "expires_at": "tomorrow"}),
            "expires_at",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = gw.request("POST", GRANTS, Some(&body));
        assert_error(status, &resp, 400, "invalid_request");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{field} not named in {message:?} for {body}"
        );
    }
    let (status, grants) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 200);
    assert_eq!(grants["items"], json!([]), "no invalid grant was stored");
}

#[test]
fn malformed_json_wrong_content_type_and_huge_bodies_get_json_errors() {
    let gw = Gateway::start();
    let url = format!("{}{GRANTS}", gw.url);
    let auth = format!("Bearer {}", gw.admin_token);
    let json_ct = ("content-type", "application/json");

    let (status, text) = raw(
        "POST",
        &url,
        &[("authorization", &auth), json_ct],
        Some(b"{not json".to_vec()),
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_error(status, &body, 400, "invalid_request");

    let (status, text) = raw(
        "POST",
        &url,
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(b"{}".to_vec()),
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_error(status, &body, 400, "invalid_request");

    let (status, text) = raw("POST", &url, &[("authorization", &auth), json_ct], None);
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_error(status, &body, 400, "invalid_request");

    let huge = json!({"user_id": "u".repeat(70 * 1024), "peer_id": "p", "scope": seed_scope()});
    let (status, text) = raw(
        "POST",
        &url,
        &[("authorization", &auth), json_ct],
        Some(serde_json::to_vec(&huge).unwrap()),
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_error(status, &body, 413, "payload_too_large");
}

#[test]
fn grant_list_pages_in_creation_order_and_filters() {
    let gw = Gateway::start();
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create_grant(&gw)["id"].as_str().unwrap().to_string());
    }
    let first = &created[0];
    let peer_of_first = {
        let (_, g) = gw.request("GET", &format!("{GRANTS}/{first}"), None);
        g["peer_id"].as_str().unwrap().to_string()
    };
    let (status, _) = gw.request("PATCH", &format!("{GRANTS}/{}/revoke", created[3]), None);
    assert_eq!(status, 200);

    let ids = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(list_all(&gw, GRANTS, 1)),
        created,
        "pages of 1 in created_at, id order"
    );
    assert_eq!(ids(list_all(&gw, GRANTS, 3)), created);
    assert_eq!(ids(list_all(&gw, GRANTS, 1000)), created);

    let (status, page) = gw.request("GET", &format!("{GRANTS}?limit=7"), None);
    assert_eq!(status, 200);
    assert_eq!(
        page["next_cursor"],
        Value::Null,
        "no cursor after the last page"
    );

    assert_eq!(
        ids(list_all(&gw, &format!("{GRANTS}?status=revoked"), 2)),
        vec![created[3].clone()]
    );
    assert_eq!(
        ids(list_all(&gw, &format!("{GRANTS}?status=pending"), 2)).len(),
        6
    );
    assert_eq!(
        ids(list_all(&gw, &format!("{GRANTS}?status=active"), 2)).len(),
        0
    );
    assert_eq!(
        ids(list_all(
            &gw,
            &format!("{GRANTS}?peer_id={peer_of_first}"),
            5
        )),
        vec![first.clone()]
    );

    for bad in [
        "status=gone",
        "limit=0",
        "limit=1001",
        "limit=abc",
        "cursor=%21%21",
        "colour=blue",
    ] {
        let (status, body) = gw.request("GET", &format!("{GRANTS}?{bad}"), None);
        assert_error(status, &body, 400, "invalid_request");
    }
}

#[test]
fn openapi_document_is_served_and_matches_the_checked_in_copy() {
    let gw = Gateway::start();
    let (status, text) = raw("GET", &format!("{}/api/openapi.json", gw.url), &[], None);
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&text).unwrap();
    assert!(
        served["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    for path in [
        "/api/admin/federation/grants",
        "/api/admin/federation/grants/{id}",
        "/api/admin/federation/grants/{id}/revoke",
        "/api/admin/federation/grants/{id}/tokens",
        "/api/admin/federation/peers",
        "/api/admin/federation/peers/keypair",
        "/api/admin/federation/peers/{id}/cert",
        "/api/admin/federation/peers/{id}",
        "/api/admin/federation/audit",
        "/api/federation/enrollment/{token}",
        "/api/admin/federation/peers/{id}/whoami",
        "/api/admin/federation/peers/{id}/resources/{resource}",
        "/api/admin/federation/data/tasks",
        "/api/admin/federation/data/notes",
        "/api/admin/federation/data/credentials",
        "/api/admin/federation/data/teams",
        "/api/admin/federation/data/users",
        "/api/federation/v1/whoami",
        "/api/federation/v1/resources/{resource}",
        "/api/health",
    ] {
        assert!(
            served["paths"][path].is_object(),
            "{path} missing from the document"
        );
    }

    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == text,
        "docs/openapi.json differs from the generated document; regenerate it with\n  \
         UPDATE_OPENAPI=1 cargo test --test it openapi\nand commit the result"
    );
}

/// Every admin endpoint with a body that would otherwise be valid enough to reach it.
fn admin_endpoints() -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        (
            "POST",
            GRANTS.into(),
            Some(json!({"user_id":"u","peer_id":"p","scope":seed_scope()})),
        ),
        ("GET", GRANTS.into(), None),
        ("GET", format!("{GRANTS}/g1"), None),
        ("PATCH", format!("{GRANTS}/g1/revoke"), Some(json!({}))),
        ("POST", format!("{GRANTS}/g1/tokens"), Some(json!({}))),
        ("GET", PEERS.into(), None),
        ("POST", format!("{PEERS}/keypair"), Some(json!({}))),
        ("PATCH", format!("{PEERS}/p1/cert"), Some(json!({}))),
        ("DELETE", format!("{PEERS}/p1"), None),
        ("GET", AUDIT.into(), None),
        ("GET", "/api/admin/federation/no-such-thing".into(), None),
    ]
}

/// The document's import operation for `resource`: its own path, or the shared one.
fn import_operation<'a>(doc: &'a Value, resource: &str) -> &'a Value {
    let own = format!("/api/admin/federation/data/{resource}");
    let op = match doc["paths"].get(&own) {
        Some(item) => &item["post"],
        None => &doc["paths"]["/api/admin/federation/data/{resource}"]["post"],
    };
    assert!(op.is_object(), "no import operation for {resource}");
    op
}

/// `schema`, or what its `$ref` points at.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}")),
        None => schema,
    }
}

/// The request body schema of the import of `resource`, and its example.
fn import_body<'a>(doc: &'a Value, resource: &str) -> (&'a Value, &'a Value) {
    let media = &import_operation(doc, resource)["requestBody"]["content"]["application/json"];
    let schema = resolved(doc, &media["schema"]);
    let example = if media["example"].is_object() {
        &media["example"]
    } else {
        &schema["example"]
    };
    assert!(example.is_object(), "no example for {resource}");
    (schema, example)
}

/// Whether `row` fits the document's item schema in `body`: every required field there,
/// no field the schema does not name unless it allows more (the object-level rules; the
/// values' own formats are the fuzzer's business).
fn fits(doc: &Value, body: &Value, row: &Value) -> bool {
    let items = resolved(doc, &body["properties"]["items"]);
    let item = resolved(doc, &items["items"]);
    let row = row.as_object().unwrap();
    let properties = item["properties"].as_object().unwrap();
    let required = item["required"].as_array().cloned().unwrap_or_default();
    required
        .iter()
        .all(|r| row.contains_key(r.as_str().unwrap()))
        && (item["additionalProperties"] != json!(false)
            || row.keys().all(|k| properties.contains_key(k)))
}

/// What validates is accepted: for each resource the document's example import fits that
/// resource's schema and a real gateway stores it (200); each example fits no other
/// resource's schema, and the gateway refuses it there (400).
#[test]
fn every_resource_s_import_example_is_accepted_and_refused_by_the_other_resources() {
    let gw = Gateway::start();
    let (_, text) = raw("GET", &format!("{}/api/openapi.json", gw.url), &[], None);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let resources = ["tasks", "notes", "credentials", "teams", "users"];
    let mut refused = Vec::new();
    for resource in resources {
        let (_, example) = import_body(&doc, resource);
        let path = format!("/api/admin/federation/data/{resource}");
        let (status, body) = gw.request("POST", &path, Some(example));
        if status != 200 {
            refused.push(format!("{resource}: {status} {body}"));
        }
    }
    assert!(
        refused.is_empty(),
        "the document's own examples are refused:\n{}",
        refused.join("\n")
    );
    for resource in resources {
        let (schema, example) = import_body(&doc, resource);
        for row in example["items"].as_array().unwrap() {
            assert!(fits(&doc, schema, row), "{resource}: {row}");
        }
        for other in resources.iter().filter(|o| **o != resource) {
            let (other_schema, _) = import_body(&doc, other);
            let row = &example["items"][0];
            assert!(
                !fits(&doc, other_schema, row),
                "{resource}'s example also fits {other}'s schema: {row}"
            );
            let other_path = format!("/api/admin/federation/data/{other}");
            let (status, body) = gw.request("POST", &other_path, Some(example));
            assert_error(status, &body, 400, "invalid_request");
        }
    }
}
