//! Proxies: a loopback gateway is always reached directly, whatever the environment says;
//! a remote one through the configured proxy, over a tunnel that carries no token in
//! clear; `-v` names the proxy a request takes.

use crate::common::standin::{Reply, StandIn};
use crate::common::{Gateway, run};

const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A proxy that records every request and refuses to forward any.
fn capturing_proxy() -> StandIn {
    StandIn::start(|_| Reply::Raw(502, "text/plain", b"no".to_vec()))
}

#[test]
fn loopback_requests_bypass_every_proxy_variable() {
    let proxy = capturing_proxy();
    let gw = Gateway::start();
    let mut cmd = gw.mosaic();
    for var in PROXY_VARS {
        cmd.env(var, &proxy.url);
    }
    cmd.args(["federation", "grant", "list", "-v"]);
    let out = run(cmd, None).ok();
    assert!(
        out.stderr.contains("debug: GET http://127.0.0.1"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("via proxy"), "{out:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn a_remote_gateway_goes_through_the_proxy_in_a_tunnel_without_the_token() {
    let proxy = capturing_proxy();
    let with_credentials = proxy
        .url
        .replace("http://", "http://proxy-user:proxy-secret@");
    let mut cmd = crate::common::mosaic();
    cmd.env("HTTPS_PROXY", &with_credentials)
        .env("MOSAIC_ADMIN_TOKEN", "adm-never-to-the-proxy")
        .args(["--gateway", "https://gw.invalid", "--timeout", "5"])
        .args(["federation", "grant", "list", "-v"]);
    let out = run(cmd, None).code(6);
    // -v names the proxy, without its credentials.
    let debug: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("debug:"))
        .collect();
    assert_eq!(debug.len(), 1, "{out:?}");
    assert!(
        debug[0].contains(&format!("via proxy {}", proxy.url)),
        "{out:?}"
    );
    assert!(!out.stderr.contains("proxy-secret"), "{out:?}");
    // The proxy saw one tunnel request, and no token.
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT", "{seen:?}");
    assert_eq!(seen[0].path, "gw.invalid:443");
    assert!(seen[0].header("authorization").is_none(), "{seen:?}");
    let everything = format!("{seen:?}");
    assert!(
        !everything.contains("adm-never-to-the-proxy"),
        "{everything}"
    );
    assert!(!everything.contains("Bearer"), "{everything}");

    // NO_PROXY for that host: no proxy is used (and the name does not resolve).
    let mut cmd = crate::common::mosaic();
    cmd.env("HTTPS_PROXY", &proxy.url)
        .env("NO_PROXY", ".invalid")
        .env("MOSAIC_ADMIN_TOKEN", "adm-never-to-the-proxy")
        .args(["--gateway", "https://gw.invalid", "--timeout", "5"])
        .args(["federation", "grant", "list", "-v"]);
    let out = run(cmd, None).code(6);
    assert!(!out.stderr.contains("via proxy"), "{out:?}");
    assert_eq!(proxy.requests().len(), 1);
}

#[test]
fn plain_http_to_a_remote_gateway_is_refused_before_the_proxy_sees_anything() {
    let proxy = capturing_proxy();
    let mut cmd = crate::common::mosaic();
    cmd.env("HTTP_PROXY", &proxy.url)
        .env("ALL_PROXY", &proxy.url)
        .env("MOSAIC_ADMIN_TOKEN", "adm-never-to-the-proxy")
        .args(["--gateway", "http://gw.invalid"])
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(2);
    assert!(out.stderr.contains("--allow-insecure-http"), "{out:?}");
    assert!(proxy.requests().is_empty());
}
