//! The audit log (every event type, filters, pages), the token history of `grant show`,
//! and grants reaching `expired` when their `expires_at` passes.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::{Gateway, http};
use crate::fixtures::*;

fn entries(gw: &Gateway, query: &str) -> Vec<Value> {
    list_all(gw, &format!("{AUDIT}?{query}"), 1000)
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[test]
fn every_grant_and_token_event_is_audited() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    let token = issue_token(&gw, id, None);
    let (_, p384) = csr_with(&rcgen::PKCS_ECDSA_P384_SHA384);
    assert_eq!(enroll(&url_of(&token), &p384).0, 400);
    let (_, csr) = p256_csr();
    let (status, enrolled) = enroll(&url_of(&token), &csr);
    assert_eq!(status, 200);
    // The same key again gets the same certificate (idempotent redemption); another key
    // gets the one indistinguishable 410.
    let again = enroll(&url_of(&token), &csr);
    assert_eq!(again.0, 200);
    assert_eq!(again.1["certificate_pem"], enrolled["certificate_pem"]);
    let (_, other) = p256_csr();
    assert_eq!(enroll(&url_of(&token), &other).0, 410);
    let (status, _) = gw.request(
        "PATCH",
        &format!("{GRANTS}/{id}/revoke"),
        Some(&json!({"reason": "peer decommissioned"})),
    );
    assert_eq!(status, 200);
    let unknown = format!("{}/api/federation/enrollment/nope", gw.url);
    assert_eq!(enroll(&unknown, &csr).0, 410);

    let for_grant = entries(&gw, &format!("grant_id={id}"));
    assert_eq!(
        actions(&for_grant),
        [
            "grant.created",
            "token.issued",
            "enrollment.refused",
            "grant.activated",
            "enrollment.repeated",
            "enrollment.refused",
            "grant.revoked"
        ]
    );
    for e in &for_grant {
        assert_eq!(e["grant_id"], grant["id"]);
        assert!(e["id"].is_string() && e["at"].is_string(), "{e}");
    }
    let fingerprint =
        mosaic::crypto::fingerprint(&pem_der(enrolled["certificate_pem"].as_str().unwrap()));
    let detail = |i: usize| for_grant[i]["detail"].as_str().unwrap_or("").to_string();
    assert!(
        detail(2).contains("P-256"),
        "why the CSR was refused: {}",
        detail(2)
    );
    assert!(detail(3).contains(&fingerprint), "{}", detail(3));
    assert!(detail(4).contains(&fingerprint), "{}", detail(4));
    assert!(detail(5).contains("already used"), "{}", detail(5));
    assert_eq!(detail(6), "peer decommissioned");
    assert_eq!(for_grant[0]["actor"], "bootstrap");
    assert_eq!(for_grant[3]["actor"], "enrollment");

    // The handle in the audit log is the one in the token history; the token is in neither.
    let (_, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    let handle = shown["tokens"][0]["handle"].as_str().unwrap();
    assert!(detail(1).contains(handle), "{}", detail(1));
    let all = entries(&gw, "");
    assert!(
        !Value::from(all.clone())
            .to_string()
            .contains(token["token"].as_str().unwrap())
    );

    // A refusal with an unknown token has no grant.
    let last = all.last().unwrap();
    assert_eq!(last["action"], "enrollment.refused");
    assert_eq!(last["grant_id"], Value::Null);
    assert_eq!(last["detail"], "unknown token; from 127.0.0.1");
}

/// The count a collapsed `enrollment.refused` row stands for (1 for a plain row).
fn collapsed_count(detail: &str) -> u64 {
    match detail.split("; ").nth(2) {
        None => 1,
        Some(rest) => {
            assert!(rest.contains("collapsed into this row"), "{detail}");
            rest.split(' ').next().unwrap().parse().unwrap()
        }
    }
}

#[test]
fn guessed_tokens_grow_the_audit_log_by_a_bounded_number_of_rows_that_count_them() {
    const N: u64 = 40;
    let mut gw = Gateway::start();
    let (_, csr) = p256_csr();
    for i in 0..N {
        let url = format!("{}/api/federation/enrollment/guess-{i}", gw.url);
        let (status, body) = http("GET", &url, None, None);
        assert_eq!(status, 410, "{body}");
        assert_eq!(enroll(&url, &csr).0, 410);
    }
    let refused = entries(&gw, "action=enrollment.refused");
    // Each kind is written at its 1st, 2nd, 4th, ... 32nd refusal: 6 rows, not 40.
    let (previews, posts): (Vec<&Value>, Vec<&Value>) = refused
        .iter()
        .partition(|e| e["detail"].as_str().unwrap().starts_with("preview: "));
    assert_eq!(previews.len(), 6, "{refused:#?}");
    assert_eq!(posts.len(), 6, "{refused:#?}");
    assert_eq!(
        previews[0]["detail"],
        "preview: unknown token; from 127.0.0.1"
    );
    assert_eq!(
        posts[5]["detail"],
        "unknown token; from 127.0.0.1; 16 refusals like it collapsed into this row \
         (32 in this minute)"
    );
    for e in &refused {
        assert_eq!(e["grant_id"], Value::Null);
        assert!(
            !e["detail"].as_str().unwrap().contains("guess-"),
            "no token: {e}"
        );
    }

    // The rest is written when the window ends, or at shutdown: every refusal is counted.
    gw.sigterm_and_restart();
    let refused = entries(&gw, "action=enrollment.refused");
    assert_eq!(refused.len(), 14, "{refused:#?}");
    for prefix in ["preview: unknown token", "unknown token"] {
        let rows: Vec<&str> = refused
            .iter()
            .map(|e| e["detail"].as_str().unwrap())
            .filter(|d| d.starts_with(&format!("{prefix};")))
            .collect();
        assert_eq!(rows.iter().map(|d| collapsed_count(d)).sum::<u64>(), N);
        assert!(
            rows.last()
                .unwrap()
                .ends_with("(40 in the minute that ended)"),
            "{rows:#?}"
        );
    }
}

#[test]
fn audit_filters_and_pages() {
    let gw = Gateway::start();
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    for _ in 0..3 {
        let g = create_grant(&gw);
        issue_token(&gw, g["id"].as_str().unwrap(), Some(60));
    }
    let all = entries(&gw, "");
    assert_eq!(all.len(), 6);
    assert_eq!(list_all(&gw, AUDIT, 1), all, "pages of one, same order");
    assert_eq!(
        actions(&entries(&gw, "action=token.issued")),
        ["token.issued"; 3]
    );
    let since = |t: OffsetDateTime| t.format(&Rfc3339).unwrap().replace('+', "%2B");
    assert_eq!(entries(&gw, &format!("since={}", since(before))).len(), 6);
    let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(entries(&gw, &format!("since={}", since(future))).is_empty());
    let third_at = all[3]["at"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(
        entries(&gw, &format!("since={third_at}")),
        all[3..].to_vec(),
        "at or after"
    );

    for bad in [
        "since=yesterday",
        "action=grant.deleted",
        "limit=0",
        "cursor=x",
        "grant=1",
    ] {
        let (status, body) = gw.request("GET", &format!("{AUDIT}?{bad}"), None);
        assert_error(status, &body, 400, "invalid_request");
    }
}

#[test]
fn peer_events_are_audited() {
    let gw = Gateway::start();
    let id = format!("peer-{}", crate::common::uuid_like());
    let (body, _) = crate::peers::keypair_body(&id);
    assert_eq!(
        gw.request("POST", &format!("{PEERS}/keypair"), Some(&body))
            .0,
        201
    );
    assert_eq!(gw.request("DELETE", &format!("{PEERS}/{id}"), None).0, 204);
    let peer_entries: Vec<Value> = entries(&gw, "")
        .into_iter()
        .filter(|e| e["peer_id"] == id.as_str())
        .collect();
    assert_eq!(actions(&peer_entries), ["peer.added", "peer.removed"]);
    let sealed = body["sealed_private_key"].as_str().unwrap();
    assert!(!Value::from(peer_entries).to_string().contains(sealed));
}

#[test]
fn tokens_and_grants_expire_with_one_audit_record() {
    let gw = Gateway::start();
    let grant = create_grant(&gw);
    let id = grant["id"].as_str().unwrap();
    let redeemed = issue_token(&gw, id, None);
    let expiring = issue_token(&gw, id, Some(1));
    let unused = issue_token(&gw, id, None);

    let expires_at = OffsetDateTime::now_utc() + time::Duration::milliseconds(1000);
    let expiring_grant = create_grant_with(
        &gw,
        json!({"expires_at": expires_at.format(&Rfc3339).unwrap()}),
    );
    let eid = expiring_grant["id"].as_str().unwrap();
    assert_eq!(expiring_grant["status"], "pending");
    assert_eq!(
        parse_time(&expiring_grant["expires_at"]).unix_timestamp(),
        expires_at.unix_timestamp()
    );
    let live_token_of_expiring_grant = issue_token(&gw, eid, None);

    std::thread::sleep(std::time::Duration::from_millis(1100));

    let (_, csr) = p256_csr();
    let (status, enrolled) = enroll(&url_of(&redeemed), &csr);
    assert_eq!(status, 200, "{enrolled}");

    let (_, shown) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
    let tokens = shown["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    let fingerprint =
        mosaic::crypto::fingerprint(&pem_der(enrolled["certificate_pem"].as_str().unwrap()));
    assert_eq!(tokens[0]["state"], "redeemed");
    assert!(tokens[0]["redeemed_at"].is_string());
    assert_eq!(tokens[0]["cert_fingerprint"], fingerprint.as_str());
    assert_eq!(tokens[1]["state"], "expired");
    assert_eq!(tokens[1]["redeemed_at"], Value::Null);
    assert_eq!(tokens[1]["expires_at"], expiring["expires_at"]);
    assert_eq!(tokens[2]["state"], "unused");
    assert_eq!(tokens[2]["cert_fingerprint"], Value::Null);
    for t in tokens {
        assert!(t["handle"].as_str().unwrap().starts_with("tok_"));
        assert!(t.get("token").is_none());
    }
    let text = shown.to_string();
    for t in [&redeemed, &expiring, &unused] {
        assert!(
            !text.contains(t["token"].as_str().unwrap()),
            "a token is shown again"
        );
    }

    // The grant past its expires_at reads as expired everywhere, and is final.
    let (_, g) = gw.request("GET", &format!("{GRANTS}/{eid}"), None);
    assert_eq!(g["status"], "expired");
    let expired_ids: Vec<Value> = list_all(&gw, &format!("{GRANTS}?status=expired"), 10)
        .into_iter()
        .map(|g| g["id"].clone())
        .collect();
    assert_eq!(expired_ids, vec![expiring_grant["id"].clone()]);
    let (status, body) = gw.request("POST", &format!("{GRANTS}/{eid}/tokens"), Some(&json!({})));
    assert_error(status, &body, 409, "conflict");
    let (status, body) = gw.request("PATCH", &format!("{GRANTS}/{eid}/revoke"), None);
    assert_error(status, &body, 409, "conflict");
    let (_, csr) = p256_csr();
    let (status, body) = enroll(&url_of(&live_token_of_expiring_grant), &csr);
    assert_error(status, &body, 409, "conflict");
    let (status, _) = http("GET", &url_of(&live_token_of_expiring_grant), None, None);
    assert_eq!(status, 409);

    let expiries = entries(&gw, &format!("grant_id={eid}&action=grant.expired"));
    assert_eq!(expiries.len(), 1, "recorded once, however often it is read");
    assert_eq!(expiries[0]["actor"], "gateway");
}
