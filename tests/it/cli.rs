//! The command line as scripts depend on it, where no real gateway is needed: flags,
//! environment, local checks, the request log, JSON errors, pipes. The stand-in helpers
//! here also serve `transport.rs`.

use std::process::Command;

use serde_json::Value;

use crate::common::standin::{Reply, StandIn};
use crate::common::{self, run};

pub(crate) const TOKEN: &str = "adm-cli-test-token-7f3a9c";

/// `mosaic` pointed at `url` with a known admin token.
pub(crate) fn at(url: &str) -> Command {
    let mut cmd = common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", url)
        .env("MOSAIC_ADMIN_TOKEN", TOKEN);
    cmd
}

pub(crate) fn run_at(url: &str, args: &[&str]) -> common::Output {
    let mut cmd = at(url);
    cmd.args(args);
    run(cmd, None)
}

/// A JSON answer from a literal.
pub fn json_reply(status: u16, body: &str) -> Reply {
    Reply::Raw(status, "application/json", body.as_bytes().to_vec())
}

/// What a web server that is not a gateway answers.
pub(crate) fn html_reply(status: u16) -> Reply {
    Reply::Raw(
        status,
        "text/html",
        b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>".to_vec(),
    )
}

/// A stand-in that answers every request with `status` and a JSON `body`.
pub fn always(status: u16, body: &str) -> StandIn {
    let body = body.to_string();
    StandIn::start(move |_| json_reply(status, &body))
}

/// A grant as the contract shapes it, for stand-in lists.
pub(crate) fn grant_json(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","user_id":"u-1","peer_id":"p-1","scope":{{"resources":["tasks"],"excluded_resources":[],"max_rows_per_query":10}},"status":"pending","created_at":"2026-01-01T00:00:00Z","activated_at":null,"revoked_at":null,"revoked_reason":null,"expires_at":null,"peer_cert_fingerprint":null}}"#
    )
}

/// A loopback URL where nothing listens.
pub(crate) fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

pub(crate) fn page(ids: &[String], next: Option<&str>) -> String {
    let items: Vec<String> = ids.iter().map(|id| grant_json(id)).collect();
    let next = next.map_or("null".to_string(), |c| format!("\"{c}\""));
    format!(r#"{{"items":[{}],"next_cursor":{next}}}"#, items.join(","))
}

/// A stand-in holding `n` grants, served in pages of 1000 with numeric cursors.
pub(crate) fn list_standin(n: usize) -> StandIn {
    StandIn::start(move |req| {
        let start: usize = req
            .path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("cursor="))
            .map_or(0, |c| c.parse().unwrap());
        let end = (start + 1000).min(n);
        let ids: Vec<String> = (start..end).map(|i| format!("g-{i:05}")).collect();
        let next = (end < n).then(|| end.to_string());
        json_reply(200, &page(&ids, next.as_deref()))
    })
}

pub(crate) fn assert_no_secret(out: &common::Output, secret: &str) {
    assert!(!out.stdout.contains(secret), "secret on stdout: {out:?}");
    assert!(!out.stderr.contains(secret), "secret on stderr: {out:?}");
}

#[test]
fn version_names_the_crate_version() {
    let out = run(
        {
            let mut c = common::mosaic();
            c.arg("--version");
            c
        },
        None,
    )
    .ok();
    assert_eq!(
        out.stdout.trim(),
        format!("mosaic {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_grant_command_has_help_with_an_example() {
    for verb in ["create", "list", "show", "revoke", "token"] {
        let mut c = common::mosaic();
        c.args(["federation", "grant", verb, "--help"]);
        let out = run(c, None).ok();
        assert!(
            (out.stdout.contains("Example:") || out.stdout.contains("Examples:")),
            "{verb}: {}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains(&format!("mosaic federation grant {verb}")),
            "{verb}: {}",
            out.stdout
        );
        for global in [
            "--gateway",
            "--output",
            "--cacert",
            "--timeout",
            "--token-file",
        ] {
            assert!(out.stdout.contains(global), "{verb} lacks {global}");
        }
    }
}

#[test]
fn global_flags_work_before_and_after_the_subcommand_and_from_env() {
    let s = list_standin(3);
    for args in [
        vec!["-o", "json", "federation", "grant", "list"],
        vec!["federation", "grant", "list", "-o", "json"],
        vec!["federation", "--output=json", "grant", "list"],
    ] {
        let out = run_at("http://127.0.0.1:1", &{
            let mut a = args.clone();
            a.extend(["--gateway", &s.url]);
            a
        })
        .ok();
        assert_eq!(out.json().as_array().unwrap().len(), 3, "{args:?}");
    }
    let mut cmd = at(&s.url);
    cmd.env("MOSAIC_OUTPUT", "json")
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).ok();
    assert_eq!(out.json().as_array().unwrap().len(), 3);
    // The flag beats the environment.
    let mut cmd = at(&s.url);
    cmd.env("MOSAIC_OUTPUT", "json")
        .args(["federation", "grant", "list", "-o", "table"]);
    let out = run(cmd, None).ok();
    assert!(out.stdout.starts_with("ID "), "{out:?}");
}

#[test]
fn missing_admin_token_is_5_and_sends_nothing() {
    let s = list_standin(1);
    let mut cmd = common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &s.url)
        .args(["federation", "grant", "list", "-o", "json"]);
    let out = run(cmd, None).code(5);
    let err = out.stderr_json();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no admin token"),
        "{err}"
    );
    // The next step names both ways to give one.
    let hint = err["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("MOSAIC_ADMIN_TOKEN"), "{hint}");
    assert!(hint.contains("--token-file"), "{hint}");
    // An empty variable is no token either.
    let mut cmd = common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &s.url)
        .env("MOSAIC_ADMIN_TOKEN", "")
        .args(["federation", "grant", "list"]);
    run(cmd, None).code(5);
    assert!(s.requests().is_empty());
}

#[test]
fn token_file_from_flag_or_env_wins_over_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::write_file(dir.path(), "token", "from-the-file\n");
    let s = list_standin(0);
    run_at(
        &s.url,
        &[
            "federation",
            "grant",
            "list",
            "--token-file",
            file.to_str().unwrap(),
        ],
    )
    .ok();
    let mut cmd = at(&s.url);
    cmd.env("MOSAIC_ADMIN_TOKEN_FILE", &file)
        .args(["federation", "grant", "list"]);
    run(cmd, None).ok();
    let auth: Vec<String> = s
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    assert_eq!(auth, ["Bearer from-the-file", "Bearer from-the-file"]);

    let missing = dir.path().join("nope");
    let out = run_at(
        &s.url,
        &[
            "federation",
            "grant",
            "list",
            "--token-file",
            missing.to_str().unwrap(),
        ],
    )
    .code(2);
    assert!(out.stderr.contains("token file"), "{out:?}");
    let empty = common::write_file(dir.path(), "empty", "\n");
    run_at(
        &s.url,
        &[
            "federation",
            "grant",
            "list",
            "--token-file",
            empty.to_str().unwrap(),
        ],
    )
    .code(2);
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn bad_gateway_url_and_cacert_are_2() {
    for url in [
        "127.0.0.1:14242",
        "ftp://gw.example",
        "https://user:pw@gw.example",
    ] {
        let out = run_at(url, &["federation", "grant", "list"]).code(2);
        assert!(out.stderr.contains("--gateway"), "{out:?}");
        assert!(!out.stderr.contains("pw@"), "{out:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let not_pem = common::write_file(dir.path(), "ca.pem", "hello");
    for path in [not_pem, dir.path().join("missing.pem")] {
        let out = run_at(
            "https://gw.example",
            &[
                "federation",
                "grant",
                "list",
                "--cacert",
                path.to_str().unwrap(),
            ],
        )
        .code(2);
        assert!(out.stderr.contains("--cacert"), "{out:?}");
    }
}

/// Regression: redaction once stepped through the URL by bytes and panicked (exit 101)
/// on a multi-byte character after the enrollment path.
#[test]
fn a_gateway_url_with_multi_byte_characters_is_2_not_a_panic() {
    for url in [
        "nota url/api/federation/enrollment/#12345678é",
        "nota url/api/federation/enrollment/é",
    ] {
        let out = run_at(url, &["federation", "grant", "list"]).code(2);
        assert!(out.stderr.contains("--gateway"), "{out:?}");
    }
    // A real URL whose path holds one: it points into the API, so exit 2 naming the
    // root, token left out.
    let dead = dead_url();
    let url = format!("{dead}/api/federation/enrollment/tökén");
    let out = run_at(&url, &["federation", "grant", "list"]).code(2);
    assert!(!out.stderr.contains("tökén"), "{out:?}");
    assert!(out.stderr.contains(&dead), "{out:?}");
    let out = common::run(
        {
            let mut cmd = common::mosaic();
            cmd.args([
                "federation",
                "peer",
                "add",
                "nota url/api/federation/enrollment/tökén#é",
            ]);
            cmd
        },
        None,
    )
    .code(2);
    assert!(!out.stderr.contains("tökén"), "{out:?}");
}

#[test]
fn bad_ttl_is_2_and_sends_nothing() {
    let s = list_standin(0);
    for ttl in ["0", "901", "-1", "abc", "1.5", "99999999999"] {
        let out = run_at(
            &s.url,
            &[
                "federation",
                "grant",
                "token",
                "g1",
                "--ttl",
                ttl,
                "-o",
                "json",
            ],
        )
        .code(2);
        let msg = out.stderr_json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains("--ttl"), "{ttl}: {msg}");
    }
    assert!(s.requests().is_empty());
}

#[test]
fn ttl_is_sent_when_given_and_left_to_the_gateway_otherwise() {
    let s = always(
        201,
        r#"{"grant_id":"g1","token":"tok","enrollment_url":"http://127.0.0.1:1/api/federation/enrollment/tok","expires_at":"2030-01-01T00:00:00Z","ca_fingerprint":"sha256:00"}"#,
    );
    run_at(
        &s.url,
        &["federation", "grant", "token", "g1", "--ttl", "60"],
    )
    .ok();
    run_at(&s.url, &["federation", "grant", "token", "g1"]).ok();
    let seen = s.requests();
    assert_eq!(seen[0].path, "/api/admin/federation/grants/g1/tokens");
    assert_eq!(seen[0].body, br#"{"ttl_seconds":60}"#);
    assert_eq!(seen[1].body, b"{}");
}

#[test]
fn verbose_log_shows_requests_but_no_secrets() {
    let enrollment_secret = "ENROLL-SECRET-5d1e";
    let s = StandIn::start(move |req| {
        if req.path.ends_with("/tokens") {
            json_reply(
                201,
                &format!(
                    r#"{{"grant_id":"g1","token":"{enrollment_secret}","enrollment_url":"http://127.0.0.1:1/api/federation/enrollment/{enrollment_secret}","expires_at":"2030-01-01T00:00:00Z","ca_fingerprint":"sha256:00"}}"#
                ),
            )
        } else {
            json_reply(200, &page(&["g-1".to_string()], None))
        }
    });
    let out = run_at(&s.url, &["-v", "federation", "grant", "list"]).ok();
    assert_no_secret(&out, TOKEN);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("debug: GET "))
        .unwrap_or_else(|| panic!("no request log: {out:?}"));
    assert!(
        line.contains(&format!("{}/api/admin/federation/grants?limit=1000", s.url)),
        "{line}"
    );
    assert!(line.contains("-> HTTP 200 OK in "), "{line}");
    assert!(line.contains(" ms"), "{line}");

    let out = run_at(
        &s.url,
        &[
            "federation",
            "grant",
            "token",
            "g1",
            "--verbose",
            "-o",
            "json",
        ],
    )
    .ok();
    assert_no_secret(&out_stderr_only(&out), enrollment_secret);
    assert_no_secret(&out, TOKEN);
    assert!(out.stderr.contains("debug: POST "), "{out:?}");
    assert_eq!(out.json()["token"], enrollment_secret);

    // Failures are logged too, still without the token.
    let out = run_at(&dead_url(), &["-v", "federation", "grant", "show", "g1"]).code(6);
    assert!(out.stderr.contains("debug: GET "), "{out:?}");
    assert_no_secret(&out, TOKEN);
}

fn out_stderr_only(out: &common::Output) -> common::Output {
    common::Output {
        code: out.code,
        stdout: String::new(),
        stderr: out.stderr.clone(),
    }
}

#[test]
fn dry_run_checks_everything_and_sends_nothing() {
    let s = list_standin(0);
    let dir = tempfile::tempdir().unwrap();
    let scope = common::write_file(dir.path(), "scope.json", common::SEED_SCOPE);
    let mut cmd = common::mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &s.url).args([
        "federation",
        "grant",
        "create",
        "--user",
        "u-1",
        "--peer",
        "p-1",
        "--scope",
        scope.to_str().unwrap(),
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "--dry-run",
        "-o",
        "json",
    ]);
    let out = run(cmd, None).ok();
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(
        out.json(),
        serde_json::json!({
            "dry_run": true, "user_id": "u-1", "peer_id": "p-1",
            "scope": serde_json::from_str::<Value>(common::SEED_SCOPE).unwrap(),
            "status": "pending", "expires_at": "2099-01-01T00:00:00.000Z"
        })
    );
    let out = run_at(
        &s.url,
        &[
            "federation",
            "grant",
            "create",
            "--user",
            "u-1",
            "--peer",
            "p-1",
            "--scope",
            scope.to_str().unwrap(),
            "--dry-run",
        ],
    )
    .ok();
    assert!(out.stdout.starts_with("dry_run:"), "{out:?}");
    assert!(
        out.stdout
            .contains("scope.resources:           tasks, notes"),
        "{out:?}"
    );
    // The "nothing was sent" note is a hint: for a terminal only (tests/it/scripting.rs).
    assert!(out.stderr.is_empty(), "{out:?}");
    assert!(s.requests().is_empty());
}
