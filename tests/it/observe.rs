//! A gateway an operator can watch: `/metrics` after traffic of every kind, checked by
//! `promtool` and scraped by a real Prometheus server; JSON logs with one request id per
//! request, echoed and written into the audit row; readiness; and `mosaic status`.
//!
//! `promtool` and `prometheus` come from Debian's `prometheus` package (`.ci/run` installs
//! it and sets MOSAIC_TEST_REQUIRE_PROMETHEUS=1, so CI never skips); without them the
//! Prometheus checks say once that they were skipped.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Gateway, SECRET, http, uuid_like};
use crate::dataplane::{Fed, SCOPE, USER, tasks};

/// `--metrics-listen` on a free port, JSON logs.
const WATCHED: &[&str] = &["--metrics-listen", "127.0.0.1:0", "--log-format", "json"];

/// The metrics URL a gateway announced at start-up.
fn metrics_url(gw: &Gateway) -> String {
    gw.log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["message"].as_str().map(str::to_string))
        .find_map(|m| m.strip_prefix("metrics on ").map(str::to_string))
        .unwrap_or_else(|| panic!("no metrics line; log:\n{}", gw.log()))
}

fn get_text(url: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<(String, String)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let hs = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (status, resp.into_body().read_to_string().unwrap(), hs)
}

/// The value of the sample `name{labels}` (labels as written, e.g. `code="out_of_scope"`).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let want = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find(|l| l.starts_with(&want))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn prometheus_required() -> bool {
    std::env::var_os("MOSAIC_TEST_REQUIRE_PROMETHEUS").is_some()
}

/// `promtool`, or `None` (skipped, said once) when it is absent and not required.
fn tool(name: &str) -> Option<String> {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name.to_string());
    }
    assert!(
        !prometheus_required(),
        "{name} is required (MOSAIC_TEST_REQUIRE_PROMETHEUS) but absent: install Debian's prometheus package"
    );
    eprintln!("observe: {name} not found (Debian's prometheus package): its checks were skipped");
    None
}

fn promtool_check(text: &str) {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Prometheus server on a free loopback port scraping `targets` every second.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[String]) -> Option<Prometheus> {
        let bin = tool("prometheus")?;
        let dir = tempfile::tempdir().unwrap();
        let hosts: Vec<String> = targets
            .iter()
            .map(|t| {
                t.trim_start_matches("http://")
                    .trim_end_matches("/metrics")
                    .to_string()
            })
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mosaic\n    static_configs:\n      - targets: {}\n",
            serde_json::to_string(&hosts).unwrap()
        );
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Some(Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// Waits (up to `within`) until the PromQL `query` has one result equal to `want`.
    fn expect(&self, query: &str, want: f64, within: Duration) {
        let deadline = Instant::now() + within;
        let url = format!("{}/api/v1/query?query={}", self.url, url_escape(query));
        let mut last = Value::Null;
        while Instant::now() < deadline {
            // Until the server listens, the request fails: retried like a missing value.
            if let Some(body) = ureq::get(&url)
                .call()
                .ok()
                .and_then(|r| r.into_body().read_to_string().ok())
            {
                last = serde_json::from_str(&body).unwrap_or(Value::Null);
                let got = last["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if got == Some(want) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("Prometheus never answered {query} with {want}: {last}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn metrics_after_traffic_of_every_kind_pass_promtool_and_prometheus_sees_them() {
    let fed = Fed::start_with(WATCHED);
    fed.import("tasks", USER, &tasks("t", 3)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    // A refused enrollment: a token that does not exist.
    let (url, fp) = fed.token(&grant);
    let forged = format!("{}x", &url[..url.len() - 1]);
    let out = fed.peer_add(&forged, &["--ca-fingerprint", &fp]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    let peer = {
        let out = fed
            .peer_add(&url, &["--ca-fingerprint", &fp, "-o", "json"])
            .ok()
            .json();
        out["id"].as_str().unwrap().to_string()
    };
    fed.query(&peer, "tasks", &[]).ok();
    fed.query(&peer, "credentials", &[]).code(5);
    fed.b_run(&["federation", "peer", "renew", &peer]).ok();
    let second = fed.grant("user-8", SCOPE, &[]);
    fed.a
        .run(&["federation", "grant", "revoke", &second, "--yes"])
        .ok();

    let (a_url, b_url) = (metrics_url(&fed.a), metrics_url(&fed.b));
    assert_ne!(
        a_url,
        format!("{}/metrics", fed.a.url),
        "never the API's port"
    );
    let (status, a, headers) = get_text(&a_url, &[]);
    assert_eq!(status, 200, "{a}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4")),
        "{headers:?}"
    );
    let (_, b, _) = get_text(&b_url, &[]);
    promtool_check(&a);
    promtool_check(&b);

    // What A counted.
    assert_eq!(sample(&a, "mosaic_enrollments_total", ""), Some(1.0), "{a}");
    let refused: f64 = a
        .lines()
        .filter(|l| l.starts_with("mosaic_enrollment_refusals_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 1.0, "{a}");
    assert!(
        sample(&a, "mosaic_federated_reads_total", "").unwrap() >= 1.0,
        "{a}"
    );
    assert_eq!(
        sample(
            &a,
            "mosaic_federated_refusals_total",
            "code=\"out_of_scope\""
        ),
        Some(1.0),
        "{a}"
    );
    assert_eq!(
        sample(&a, "mosaic_grants", "status=\"active\""),
        Some(1.0),
        "{a}"
    );
    assert_eq!(
        sample(&a, "mosaic_grants", "status=\"revoked\""),
        Some(1.0),
        "{a}"
    );
    assert_eq!(
        sample(&a, "mosaic_grants", "status=\"pending\""),
        Some(0.0),
        "{a}"
    );
    assert_eq!(
        sample(
            &a,
            "mosaic_build_info",
            &format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))
        ),
        Some(1.0)
    );
    assert!(sample(&a, "mosaic_ca_expiry_timestamp_seconds", "").unwrap() > 1.7e9);
    assert!(
        sample(
            &a,
            "mosaic_granted_client_certificate_expiry_timestamp_seconds",
            "peer=\"gw-b\""
        )
        .unwrap()
            > 1.7e9,
        "{a}"
    );
    assert!(
        sample(&a, "mosaic_store_write_batch_size_count", "").unwrap() >= 5.0,
        "{a}"
    );
    assert!(
        a.contains(r#"mosaic_http_requests_total{route="/api/federation/enrollment/{token}",method="POST",status="200"} 1"#),
        "the route template, never the token: {a}"
    );
    // No token, grant id, user id or enrollment URL anywhere.
    let token = url.rsplit('/').next().unwrap();
    for secret in [token, &grant, &second, USER, SECRET, &fed.a.admin_token] {
        assert!(
            !a.contains(secret) && !b.contains(secret),
            "{secret} in the metrics"
        );
    }

    // What B counted: its peer, and its own certificate's expiry.
    assert_eq!(
        sample(&b, "mosaic_peers", "status=\"active\""),
        Some(1.0),
        "{b}"
    );
    let shown = fed
        .b_run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json();
    let not_after = shown[0]["cert_not_after"].as_str().unwrap();
    let expiry =
        time::OffsetDateTime::parse(not_after, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp() as f64;
    let labels = format!("peer=\"{peer}\"");
    assert_eq!(
        sample(
            &b,
            "mosaic_peer_client_certificate_expiry_timestamp_seconds",
            &labels
        ),
        Some(expiry),
        "{b}"
    );

    // A real Prometheus server scrapes both and answers PromQL.
    if let Some(prom) = Prometheus::start(&[a_url, b_url]) {
        let within = Duration::from_secs(30);
        prom.expect("count(up == 1)", 2.0, within);
        prom.expect("sum(mosaic_enrollments_total)", 1.0, within);
        let query = format!("mosaic_peer_client_certificate_expiry_timestamp_seconds{{{labels}}}");
        prom.expect(&query, expiry, within);
    }
}

#[test]
fn json_logs_give_each_request_an_id_echoed_and_written_into_its_audit_row() {
    let gw = Gateway::start_with(&["--log-format", "json"], true);
    let (code, ready) = http("GET", &format!("{}/api/ready", gw.url), None, None);
    assert_eq!((code, ready["status"].as_str()), (200, Some("ready")));
    let scope = json!({"resources": ["tasks"], "excluded_resources": [], "max_rows_per_query": 10});
    let body = json!({"user_id": "u-1", "peer_id": "gw-b", "scope": scope});

    // A kept id: echoed, logged, and in the audit row of the grant it created.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(&format!("{}/api/admin/federation/grants", gw.url))
        .header("authorization", &format!("Bearer {}", gw.admin_token))
        .header("x-request-id", "deploy-42.a")
        .send_json(&body)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["x-request-id"], "deploy-42.a");
    // An id that is not plain text is replaced, not logged.
    let (_, _, headers) = get_text(
        &format!("{}/api/health", gw.url),
        &[("x-request-id", "a b\"c")],
    );
    let made = headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_ne!(made, "a b\"c");
    assert_eq!(made.len(), 36, "a new UUID: {made}");
    // A token in a path, and a failed admin request.
    let token_path = format!(
        "{}/api/federation/enrollment/secret-{}",
        gw.url,
        uuid_like()
    );
    get_text(&token_path, &[]);
    http(
        "GET",
        &format!("{}/api/admin/federation/grants", gw.url),
        Some("wrong-token-0123456789"),
        None,
    );

    let audit = gw
        .run(&["federation", "audit", "list", "-o", "json"])
        .ok()
        .json();
    let created = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "grant.created")
        .unwrap();
    assert_eq!(created["request_id"], "deploy-42.a", "{created}");

    // A grant past its expiry: the sweep that expires it is an event of its own.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(600);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let expiring = json!({"user_id": "u-2", "peer_id": "gw-b", "scope": scope, "expires_at": soon});
    let (status, _) = gw.request("POST", "/api/admin/federation/grants", Some(&expiring));
    assert_eq!(status, 201);
    std::thread::sleep(Duration::from_millis(700));
    gw.run(&["federation", "grant", "list"]).ok();
    let log = gw.log();
    let mut requests = Vec::new();
    for line in log.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        if v["target"] == "request" {
            assert!(
                v["request_id"].as_str().is_some_and(|s| !s.is_empty()),
                "{v}"
            );
            requests.push(v);
        }
    }
    assert!(requests.len() >= 5, "{log}");
    let grant = requests
        .iter()
        .find(|v| v["request_id"] == "deploy-42.a")
        .unwrap();
    assert_eq!(grant["method"], "POST");
    assert_eq!(grant["route"], "/api/admin/federation/grants");
    assert_eq!(grant["status"], 201);
    assert_eq!(grant["actor"], "bootstrap");
    assert!(grant["duration_ms"].as_f64().is_some());
    assert!(requests.iter().any(|v| v["request_id"] == made.as_str()));
    let refused = requests.iter().find(|v| v["status"] == 401).unwrap();
    assert_eq!(refused["actor"], "anonymous");
    assert!(log.contains("listening on"), "start-up lines are JSON too");
    let sweep = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["target"] == "expiry")
        .unwrap_or_else(|| panic!("no expiry event:\n{log}"));
    assert_eq!(sweep["expired"], 1, "{sweep}");
    for secret in [
        gw.admin_token.as_str(),
        SECRET,
        "wrong-token-0123456789",
        "secret-",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn status_tells_the_operator_what_needs_action() {
    let fed = Fed::start_with(&[]);
    // A fresh gateway: nothing needs attention.
    let out = fed.a.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(out["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        out["ca_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(out["ca_not_after"].is_string());
    assert_eq!(
        out["grants"],
        json!({"pending": 0, "active": 0, "revoked": 0, "expired": 0})
    );

    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    let a = fed.a.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(a["grants"]["active"], 1);
    let b = fed.b.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(b["peers"][0]["id"], peer.as_str());
    assert_eq!(b["peers"][0]["status"], "active");
    assert!(b["peers"][0]["cert_not_after"].is_string());
    assert!(b["peers"][0]["renewal_due_at"].is_string());
    assert_eq!(b["peers"][0]["renewal_failures"], 0);
    let table = fed.b.run(&["status"]).ok();
    assert!(
        table.stdout.contains("CA expires") && table.stdout.contains(&peer),
        "{}",
        table.stdout
    );

    // A pending peer (an enrollment that never finished) needs attention: exit 8, named,
    // listed first.
    let (body, _) = crate::peers::keypair_body("stuck-peer");
    let (status, answer) =
        fed.b
            .request("POST", "/api/admin/federation/peers/keypair", Some(&body));
    assert_eq!(status, 201, "{answer}");
    let out = fed.b.run(&["status"]).code(8);
    assert!(
        out.stderr.contains("peer finish stuck-peer"),
        "{}",
        out.stderr
    );
    let json = fed.b.run(&["status", "-o", "json"]).code(8);
    assert_eq!(json.json()["peers"][0]["id"], "stuck-peer");
    assert_eq!(json.stderr_json()["error"]["code"], "needs_attention");
}

/// With `--log-format json` a refusal to start is one JSON object too (the error shape),
/// and nothing else is written.
#[test]
fn a_refusal_to_start_with_json_logs_is_one_json_object() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = crate::common::mosaic();
    cmd.args([
        "gateway",
        "serve",
        "--log-format",
        "json",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(tmp.path().join("data"))
    .env("BETTER_AUTH_SECRET", "too-short");
    let out = crate::common::run(cmd, None).code(2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BETTER_AUTH_SECRET")
    );
    assert!(
        !out.stderr.contains("too-short"),
        "the secret is never echoed"
    );
}
