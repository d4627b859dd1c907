//! The grant in use, refused: A's refusals in the contract table's order, an expired
//! grant, what B makes of A's failures (exit codes), and a pinned enrollment that meets
//! another CA's chain.

use std::time::Duration;

use serde_json::json;

use crate::common::Gateway;
use crate::dataplane::*;

#[test]
fn a_refuses_each_case_of_the_contract_table_in_order() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 3)).ok();
    fed.import("tasks", "user-8", &tasks("u", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    let id = peer_identity(&fed.b, &peer);

    // The enrolled certificate and key authenticate, straight to A (as curl would).
    let (status, who) = get_a(&fed.a, "/api/federation/v1/whoami", Some(&id)).unwrap();
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["grant_id"], grant.as_str());
    let (status, page) = get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&id)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "max_rows_per_query"
    );
    assert!(page["next_cursor"].is_string());

    // 1. No client certificate.
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", None),
        401,
        "certificate_required",
    );
    // A certificate of another CA: the handshake itself fails.
    let other = Gateway::start();
    let foreign = signed_identity(&ca_of(&other), &grant, USER);
    let err = get_a(&fed.a, "/api/federation/v1/whoami", Some(&foreign)).unwrap_err();
    assert!(!err.is_empty());
    // 2. A's CA, the grant's OIDs, but not the certificate the grant recorded.
    let forged = signed_identity(&ca_of(&fed.a), &grant, USER);
    refused(
        get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&forged)),
        403,
        "unknown_certificate",
    );
    // A valid certificate of another grant reads that grant's user only.
    let grant8 = fed.grant("user-8", SCOPE, &[]);
    let peer8 = fed.enroll(&grant8);
    let id8 = peer_identity(&fed.b, &peer8);
    let (_, page8) = get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&id8)).unwrap();
    let rows8: Vec<&str> = page8["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rows8, ["u0"]);

    // 4 before 5: an out-of-scope resource with a bad limit is out_of_scope.
    refused(
        get_a(
            &fed.a,
            "/api/federation/v1/resources/teams?limit=9999",
            Some(&id),
        ),
        403,
        "out_of_scope",
    );
    refused(
        get_a(
            &fed.a,
            "/api/federation/v1/resources/credentials",
            Some(&id),
        ),
        403,
        "out_of_scope",
    );
    for limit in ["0", "3"] {
        refused(
            get_a(
                &fed.a,
                &format!("/api/federation/v1/resources/tasks?limit={limit}"),
                Some(&id),
            ),
            400,
            "invalid_request",
        );
    }
    // 3 before 4: after the revoke every request is grant_inactive, in scope or not.
    fed.a.run(&["federation", "grant", "revoke", &grant]).ok();
    for path in [
        "/api/federation/v1/whoami",
        "/api/federation/v1/resources/credentials",
    ] {
        refused(get_a(&fed.a, path, Some(&id)), 403, "grant_inactive");
    }
    // The other grant is untouched.
    assert_eq!(
        get_a(&fed.a, "/api/federation/v1/whoami", Some(&id8))
            .unwrap()
            .0,
        200
    );
}

#[test]
fn an_expired_grant_is_refused_on_the_next_request() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &["--expires-in", "4s"]);
    let started = std::time::Instant::now();
    let peer = fed.enroll(&grant);
    fed.query(&peer, "tasks", &[]).ok();
    std::thread::sleep(
        Duration::from_secs(4).saturating_sub(started.elapsed()) + Duration::from_millis(300),
    );
    let out = fed.query(&peer, "tasks", &[]).code(5);
    assert!(
        out.stderr.contains("grant_inactive") && out.stderr.contains("expired"),
        "{}",
        out.stderr
    );
}

#[test]
fn b_maps_what_goes_wrong_with_a_to_exit_codes() {
    let mut fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    fed.b_run(&["federation", "peer", "test", &peer]).ok();

    // A pending peer: exit 4.
    let (body, _) = crate::peers::keypair_body("pending-peer");
    let (status, _) = fed
        .b
        .request("POST", "/api/admin/federation/peers/keypair", Some(&body));
    assert_eq!(status, 201);
    let out = fed
        .b_run(&["federation", "peer", "test", "pending-peer"])
        .code(4);
    assert!(out.stderr.contains("pending"), "{}", out.stderr);
    fed.b_run(&["federation", "peer", "test", "no-such-peer"])
        .code(3);

    // A stopped: exit 6.
    let addr = fed.a.addr();
    fed.a.stop();
    let out = fed
        .b_run(&["federation", "peer", "query", &peer, "tasks"])
        .code(6);
    assert!(out.stderr.contains("granting gateway"), "{}", out.stderr);

    // Another gateway (another CA) answering at A's address: exit 7.
    let impostor = Gateway::start_at(&addr, &["--tls"]);
    let out = fed
        .b_run(&["federation", "peer", "test", &peer, "-o", "json"])
        .code(7);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "verification_failed");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CA stored at enrollment"),
        "{err}"
    );
    assert!(
        !impostor.log().contains("/api/federation/v1/"),
        "no request reached it"
    );
}

#[test]
fn a_pinned_enrollment_refuses_a_chain_of_another_ca_before_any_csr() {
    let fed = Fed::start();
    let other = Gateway::start_tls();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    // The same path, served by a gateway whose chain ends at another CA.
    let elsewhere = url.replace(&fed.a.url, &other.url);
    let out = fed.peer_add(&elsewhere, &["--ca-fingerprint", &fp]).code(7);
    assert!(out.stderr.contains("pinned CA"), "{}", out.stderr);
    assert!(
        !other.log().contains("/api/federation/enrollment"),
        "{}",
        other.log()
    );
    assert!(
        fed.b_run(&["federation", "peer", "list", "-o", "json"])
            .ok()
            .json()
            == json!([])
    );
    // The token is unspent: the real URL with the pin works, trusting nothing but the pin.
    let out = fed.peer_add(&url, &["--ca-fingerprint", &fp]).ok();
    assert!(out.stderr.contains("active"), "{}", out.stderr);
}
