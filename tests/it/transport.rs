//! The client's transport as scripts depend on it, against stand-ins that misbehave on
//! purpose: exit codes of a broken or absent server, status mapping with the gateway's
//! message, paging, escaping, the insecure-http rule, timeouts, size caps, redirects,
//! proxies, and which credential travels where.

use std::time::Duration;

use crate::cli::{
    TOKEN, always, assert_no_secret, at, dead_url, html_reply, json_reply, list_standin, page,
    run_at,
};
use crate::common::standin::{Reply, StandIn};
use crate::common::{self, run};

#[test]
fn requests_carry_the_user_agent_and_the_bearer_token() {
    let s = list_standin(1);
    run_at(&s.url, &["federation", "grant", "list"]).ok();
    let seen = s.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].path, "/api/admin/federation/grants?limit=1000",
        "{seen:?}"
    );
    assert_eq!(
        seen[0].header("user-agent"),
        Some(format!("mosaic/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[test]
fn filters_and_ids_are_escaped_into_the_url() {
    let s = always(
        404,
        r#"{"error":{"code":"not_found","message":"no such grant"}}"#,
    );
    run_at(&s.url, &["federation", "grant", "show", "a/b c?d"]).code(3);
    let s2 = list_standin(0);
    run_at(
        &s2.url,
        &[
            "federation",
            "grant",
            "list",
            "--peer",
            "gw b&x=1",
            "--status",
            "active",
        ],
    )
    .ok();
    assert_eq!(
        s.requests()[0].path,
        "/api/admin/federation/grants/a%2Fb%20c%3Fd"
    );
    assert_eq!(
        s2.requests()[0].path,
        "/api/admin/federation/grants?peer_id=gw+b%26x%3D1&status=active&limit=1000"
    );
}

#[test]
fn list_follows_every_cursor_and_keeps_order() {
    let s = list_standin(2_345);
    let out = run_at(&s.url, &["federation", "grant", "list", "-o", "json"]).ok();
    let items = out.json();
    let ids: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2_345);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let paths: Vec<String> = s.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/admin/federation/grants?limit=1000",
            "/api/admin/federation/grants?limit=1000&cursor=1000",
            "/api/admin/federation/grants?limit=1000&cursor=2000",
        ]
    );
}

#[test]
fn a_cursor_that_repeats_is_a_broken_gateway() {
    let s = always(200, &page(&["g-1".to_string()], Some("again")));
    let out = run_at(&s.url, &["federation", "grant", "list"]).code(6);
    assert!(out.stderr.contains("same list cursor"), "{out:?}");
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn gateway_down_is_6_in_table_and_json() {
    let url = dead_url();
    let out = run_at(&url, &["federation", "grant", "list"]).code(6);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.starts_with("error: cannot connect to"),
        "{out:?}"
    );
    assert!(out.stderr.contains(&url), "{out:?}");
    let out = run_at(&url, &["federation", "grant", "show", "g1", "-o", "json"]).code(6);
    assert!(out.stdout.is_empty());
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "unreachable");
    assert!(err["error"]["message"].as_str().unwrap().contains(&url));
}

#[test]
fn a_500_is_6_with_the_gateways_message() {
    let s = always(
        500,
        r#"{"error":{"code":"internal","message":"database is locked"}}"#,
    );
    let out = run_at(&s.url, &["federation", "grant", "list"]).code(6);
    assert!(out.stderr.contains("HTTP 500"), "{out:?}");
    assert!(out.stderr.contains("database is locked"), "{out:?}");
    let s = StandIn::start(|_| html_reply(502));
    let out = run_at(&s.url, &["federation", "grant", "show", "g1"]).code(6);
    assert!(out.stderr.contains("HTTP 502"), "{out:?}");
}

#[test]
fn html_instead_of_json_is_6_naming_the_url() {
    let s = StandIn::start(|_| html_reply(200));
    let out = run_at(&s.url, &["federation", "grant", "list", "-o", "json"]).code(6);
    assert!(out.stdout.is_empty());
    let msg = out.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains(&s.url), "{msg}");
    assert!(msg.contains("HTML"), "{msg}");
    // A 404 page from something that is not a gateway is not "grant not found".
    let s = StandIn::start(|_| html_reply(404));
    let out = run_at(&s.url, &["federation", "grant", "show", "g1"]).code(6);
    assert!(out.stderr.contains("is --gateway right?"), "{out:?}");
}

#[test]
fn a_body_of_the_wrong_shape_is_6() {
    let s = always(200, r#"{"id": "g1", "status": "sideways"}"#);
    let out = run_at(&s.url, &["federation", "grant", "show", "g1"]).code(6);
    assert!(out.stderr.contains("not a grant"), "{out:?}");
}

#[test]
fn error_statuses_map_to_exit_codes_with_the_message_verbatim() {
    for (status, code, exit) in [
        (400, "invalid_request", 2),
        (401, "unauthorized", 5),
        (403, "unauthorized", 5),
        (404, "not_found", 3),
        (409, "conflict", 4),
        (413, "payload_too_large", 2),
    ] {
        let message = format!("gateway says {status} in its own words");
        let s = always(
            status,
            &format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#),
        );
        let out = run_at(&s.url, &["federation", "grant", "revoke", "g1"]).code(exit);
        assert!(out.stderr.contains(&message), "{status}: {out:?}");
    }
    let s = always(
        410,
        r#"{"error":{"code":"token_invalid","message":"gone"}}"#,
    );
    let out = run_at(
        &s.url,
        &["federation", "grant", "token", "g1", "-o", "json"],
    )
    .code(4);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "token_invalid");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enrollment token used, unknown or expired")
    );
    assert!(
        err["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("mosaic federation grant token <grant-id>")
    );
}

#[test]
fn plain_http_to_a_remote_host_needs_the_flag() {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers there.
    let out = run_at(
        "http://192.0.2.1:14242",
        &["federation", "grant", "list", "-o", "json"],
    )
    .code(2);
    let msg = out.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("--allow-insecure-http"), "{msg}");
    let out = run_at(
        "http://192.0.2.1:14242",
        &[
            "federation",
            "grant",
            "list",
            "--allow-insecure-http",
            "--timeout",
            "1",
        ],
    )
    .code(6);
    assert!(!out.stderr.contains("--allow-insecure-http"), "{out:?}");
    // Loopback by name is fine without the flag.
    let s = list_standin(1);
    let port = s.url.rsplit(':').next().unwrap();
    run_at(
        &format!("http://localhost:{port}"),
        &["federation", "grant", "list"],
    )
    .ok();
}

#[test]
fn a_silent_gateway_times_out_with_6() {
    let s = StandIn::start(|_| Reply::Hang(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let out = run_at(&s.url, &["federation", "grant", "list", "--timeout", "1"]).code(6);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(out.stderr.contains("no answer within 1 s"), "{out:?}");
    run_at(&s.url, &["federation", "grant", "list", "--timeout", "0"]).code(2);
    // MOSAIC_TIMEOUT is the same setting, for scripts and CI.
    let started = std::time::Instant::now();
    let mut cmd = common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &s.url)
        .env("MOSAIC_ADMIN_TOKEN", TOKEN)
        .env("MOSAIC_TIMEOUT", "1")
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(6);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(out.stderr.contains("no answer within 1 s"), "{out:?}");
}

#[test]
fn an_oversized_answer_is_refused_with_6() {
    let s = StandIn::start(|_| json_reply(200, &" ".repeat(9 * 1024 * 1024)));
    let out = run_at(&s.url, &["federation", "grant", "list"]).code(6);
    assert!(out.stderr.contains("more than 8 MiB"), "{out:?}");
}

#[test]
fn redirects_are_not_followed() {
    let s = always(307, "");
    let out = run_at(&s.url, &["federation", "grant", "list"]).code(6);
    assert!(out.stderr.contains("redirect"), "{out:?}");
    assert_eq!(s.requests().len(), 1);
}

/// The admin token once went in clear to any HTTP_PROXY, because the plain-http rule
/// looked at the target, not at the hop. A loopback target is reached directly; the proxy
/// rules for other hosts are in `proxy.rs`.
#[test]
fn a_loopback_gateway_never_goes_through_the_proxy() {
    let proxy = list_standin(1);
    // Nothing listens on 127.0.0.2:9: the direct connection is refused.
    let mut cmd = at("http://127.0.0.2:9");
    cmd.env("HTTP_PROXY", &proxy.url)
        .args(["federation", "grant", "list", "-o", "json"]);
    run(cmd, None).code(6);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn enrollment_requests_carry_no_admin_token_and_never_show_the_enrollment_token() {
    let secret = "ENROLLTOKEN9b2c";
    // A careless gateway that echoes the token in its error message.
    let s = StandIn::start(move |_| {
        json_reply(
            400,
            &format!(r#"{{"error":{{"code":"invalid_request","message":"bad token {secret}"}}}}"#),
        )
    });
    let url = format!("{}/api/federation/enrollment/{secret}", s.url);
    for format in ["table", "json"] {
        let mut cmd = at(&dead_url());
        cmd.env("BETTER_AUTH_SECRET", common::SECRET).args([
            "-v",
            "federation",
            "peer",
            "add",
            &url,
            "-o",
            format,
        ]);
        let out = run(cmd, None).code(2);
        assert_no_secret(&out, secret);
        assert_no_secret(&out, TOKEN);
        assert!(out.stderr.contains("enrollment/<redacted>"), "{out:?}");
        assert!(out.stderr.contains("bad token <redacted>"), "{out:?}");
    }
    let seen = s.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "GET");
    assert!(seen.iter().all(|r| r.header("authorization").is_none()));
}
