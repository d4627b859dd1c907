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

/// The count a collapsed `federation.refused` row stands for (1 for a plain row).
pub(crate) fn collapsed_count(detail: &str) -> u64 {
    match detail
        .split("; ")
        .find(|part| part.contains("collapsed into this row"))
    {
        None => 1,
        Some(part) => part.split(' ').next().unwrap().parse().unwrap(),
    }
}

/// The details of the `federation.refused` rows, oldest first.
fn refused_rows(gw: &Gateway) -> Vec<String> {
    let (status, page) = gw.request(
        "GET",
        "/api/admin/federation/audit?action=federation.refused&limit=100",
        None,
    );
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn refusals_without_a_certificate_are_collapsed_in_the_audit_log() {
    const N: u64 = 51;
    let mut gw = Gateway::start_with(&["--rate-limit", "off"], true);
    let url = format!("{}/api/federation/v1/whoami", gw.url);
    for i in 0..N {
        let (status, body) = crate::common::http("GET", &url, None, None);
        assert_eq!(status, 401, "request {i}: {body}");
        assert_eq!(body["error"]["code"], "certificate_required");
    }
    let rows = refused_rows(&gw);
    // Written at the 1st, 2nd, 4th, ... 32nd refusal: 6 rows, not 51.
    assert_eq!(rows.len(), 6, "{rows:#?}");
    assert_eq!(
        rows[0],
        "certificate_required: a client certificate issued by this gateway is required \
         (mutual TLS); certificate none; from 127.0.0.1"
    );
    assert!(
        rows[5].ends_with(
            "; from 127.0.0.1; 16 refusals like it collapsed into this row (32 in this minute)"
        ),
        "{rows:#?}"
    );
    // The rest is written at shutdown (or when the minute ends): every refusal counted.
    gw.sigterm_and_restart();
    let rows = refused_rows(&gw);
    assert_eq!(rows.len(), 7, "{rows:#?}");
    assert_eq!(rows.iter().map(|d| collapsed_count(d)).sum::<u64>(), N);
}

#[test]
fn an_address_past_its_refusals_gets_429_but_a_valid_certificate_from_it_still_reads() {
    let fed = Fed {
        a: Gateway::start_at("127.0.0.1:0", &["--tls", "--rate-limit", "5"]),
        b: Gateway::start_tls(),
        state: tempfile::tempdir().unwrap(),
    };
    fed.import("tasks", USER, &tasks("t", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    let id = peer_identity(&fed.b, &peer);
    for _ in 0..5 {
        refused(
            get_a(&fed.a, "/api/federation/v1/whoami", None),
            401,
            "certificate_required",
        );
    }
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", None),
        429,
        "rate_limited",
    );
    // Refusals with a certificate count too: a scope refusal past the budget is 429.
    refused(
        get_a(
            &fed.a,
            "/api/federation/v1/resources/credentials",
            Some(&id),
        ),
        429,
        "rate_limited",
    );
    // The peer behind the same address is never refused by the limiter.
    for _ in 0..3 {
        let (status, body) =
            get_a(&fed.a, "/api/federation/v1/resources/tasks", Some(&id)).unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn an_out_of_scope_refusal_stores_at_most_256_characters_of_the_path() {
    let fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    let id = peer_identity(&fed.b, &peer);
    let long = "x".repeat(8000);
    refused(
        get_a(
            &fed.a,
            &format!("/api/federation/v1/resources/{long}"),
            Some(&id),
        ),
        403,
        "out_of_scope",
    );
    let rows = refused_rows(&fed.a);
    let row = rows.last().expect("a federation.refused row");
    assert!(row.contains(&format!("\"{}…\"", "x".repeat(256))), "{row}");
    assert!(!row.contains(&"x".repeat(257)), "{} characters", row.len());
    assert!(row.len() < 600, "{} characters", row.len());
}
