//! `grant create|token` with bad input: refused locally with exit 2 and the field named,
//! before any request; the gateway's own refusals; and the `-v` log, which never shows
//! a secret.

use crate::cli::always;
use crate::common::{self, Gateway, SEED_SCOPE, run, write_file};
use crate::grant::{clean, scope_file};

#[test]
fn bad_local_input_never_reaches_the_real_gateway() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(
        dir.path(),
        "bad.json",
        r#"{"resources": [], "max_rows_per_query": 1}"#,
    );
    let out = gw
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            bad.to_str().unwrap(),
        ])
        .code(2);
    assert!(out.stderr.contains("resources"), "{out:?}");
    let g = gw.grant("u", "p");
    let id = g["id"].as_str().unwrap();
    for ttl in ["0", "901"] {
        gw.run(&["federation", "grant", "token", id, "--ttl", ttl])
            .code(2);
    }
    let all = gw
        .run(&["federation", "grant", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "only the good grant exists"
    );
    // The gateway logs every request it answers: one create, one list, and nothing else.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let log = loop {
        let log = gw.log();
        if log.contains("GET /api/admin/federation/grants") || std::time::Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        log.matches("POST /api/admin/federation/grants ").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("/tokens").count(), 0, "{log}");
}

#[test]
fn the_gateways_own_refusal_of_input_is_2_with_its_message() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    // Valid locally (a row file may hold 8 MiB), too large for the gateway's request body
    // limit: its 413.
    let rows = format!(
        r#"[{{"id": "t1", "title": "{}", "status": "open", "due_at": null}}]"#,
        "t".repeat(100_000)
    );
    let file = write_file(dir.path(), "rows.json", &rows);
    let out = clean(
        &gw,
        gw.run(&[
            "federation",
            "data",
            "import",
            "tasks",
            "--user",
            "u-1",
            file.to_str().unwrap(),
            "-o",
            "json",
        ]),
    )
    .code(2);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "invalid_input");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{err}"
    );
    let (status, body) = gw.request("GET", "/api/admin/federation/audit", None);
    assert_eq!(status, 200);
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "data.imported"),
        "{body}"
    );
}

#[test]
fn the_verbose_log_never_shows_the_admin_or_an_enrollment_token() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let scope = scope_file(dir.path());
    let out = clean(
        &gw,
        gw.run(&[
            "-v",
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            scope.to_str().unwrap(),
            "-o",
            "json",
        ]),
    )
    .ok();
    assert!(out.stderr.contains("debug: POST "), "{out:?}");
    assert!(out.stderr.contains("-> HTTP 201"), "{out:?}");
    let id = out.json()["id"].as_str().unwrap().to_string();
    let out = clean(
        &gw,
        gw.run(&["-v", "federation", "grant", "token", &id, "-o", "json"]),
    )
    .ok();
    let token = out.json()["token"].as_str().unwrap().to_string();
    assert!(!out.stderr.contains(&token), "{out:?}");
    for args in [
        vec!["-v", "federation", "grant", "list"],
        vec!["-v", "federation", "grant", "show", &id],
        vec!["-v", "federation", "grant", "revoke", &id],
        vec!["-v", "federation", "grant", "revoke", &id],
        vec!["-v", "federation", "grant", "show", "nope"],
    ] {
        let out = clean(&gw, gw.run(&args));
        assert!(out.stderr.contains("debug: "), "{out:?}");
        assert!(!out.stderr.contains(&token));
    }
}

// ----- bad scope files: a stand-in proves that nothing is sent -----

/// (file content, text the message must contain: the field, and the rule where it helps).
const BAD_SCOPES: &[(&str, &str)] = &[
    (r#"{"max_rows_per_query": 10}"#, "resources: required"),
    (
        r#"{"resources": "tasks", "max_rows_per_query": 10}"#,
        "resources: must be an array",
    ),
    (
        r#"{"resources": null, "max_rows_per_query": 10}"#,
        "resources: must be an array",
    ),
    (
        r#"{"resources": [], "max_rows_per_query": 10}"#,
        "resources: must name at least one resource",
    ),
    (
        r#"{"resources": ["files"], "max_rows_per_query": 10}"#,
        "resources[0]: unknown resource \"files\"",
    ),
    (
        r#"{"resources": ["Tasks"], "max_rows_per_query": 10}"#,
        "resources[0]: unknown resource \"Tasks\"",
    ),
    (
        r#"{"resources": ["tasks", 7], "max_rows_per_query": 10}"#,
        "resources[1]: must be a resource name",
    ),
    (
        r#"{"resources": ["notes", "notes"], "max_rows_per_query": 10}"#,
        "resources[1]: duplicate resource \"notes\"",
    ),
    (
        r#"{"resources": ["tasks"], "excluded_resources": ["tasks"], "max_rows_per_query": 10}"#,
        "excluded_resources[0]: \"tasks\" is also listed in resources",
    ),
    (
        r#"{"resources": ["tasks"], "excluded_resources": ["secrets"], "max_rows_per_query": 10}"#,
        "excluded_resources[0]: unknown resource",
    ),
    (
        r#"{"resources": ["tasks"], "excluded_resources": ["users", "users"], "max_rows_per_query": 10}"#,
        "excluded_resources[1]: duplicate",
    ),
    (
        r#"{"resources": ["tasks"], "excluded_resources": {"users": true}, "max_rows_per_query": 10}"#,
        "excluded_resources: must be an array",
    ),
    (
        r#"{"resources": ["tasks"]}"#,
        "max_rows_per_query: required",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": 0}"#,
        "max_rows_per_query: must be an integer from 1 to 10000, got 0",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": 10001}"#,
        "max_rows_per_query: must be an integer from 1 to 10000, got 10001",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": -1}"#,
        "max_rows_per_query: must be an integer",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": 2.5}"#,
        "max_rows_per_query: must be an integer",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": "100"}"#,
        "max_rows_per_query: must be an integer",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": null}"#,
        "max_rows_per_query: must be an integer",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": 1e20}"#,
        "max_rows_per_query: must be an integer",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows_per_query": 10, "expires": "never"}"#,
        "expires: unknown field",
    ),
    (
        r#"{"resources": ["tasks"], "max_rows": 10}"#,
        "max_rows: unknown field",
    ),
    (
        r#"{"resources": ["tasks"], "resources": ["credentials"], "max_rows_per_query": 10}"#,
        "resources: appears twice",
    ),
];

#[test]
fn bad_scope_files_are_2_name_the_field_and_send_nothing() {
    assert!(BAD_SCOPES.len() >= 15);
    let standin = always(500, "{}");
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &str, stdin: Option<&str>, want: &str| {
        let mut cmd = common::mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &standin.url)
            .env("MOSAIC_ADMIN_TOKEN", "t")
            .args([
                "federation",
                "grant",
                "create",
                "--user",
                "u",
                "--peer",
                "p",
                "--scope",
                path,
                "-o",
                "json",
            ]);
        let out = run(cmd, stdin).code(2);
        assert!(out.stdout.is_empty(), "{out:?}");
        let err = out.stderr_json();
        assert_eq!(err["error"]["code"], "invalid_input");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "want {want:?} in {msg:?}");
    };
    for (i, (content, want)) in BAD_SCOPES.iter().enumerate() {
        let path = write_file(dir.path(), &format!("scope-{i}.json"), content);
        let p = path.to_str().unwrap();
        check(p, None, want);
        check(p, None, &format!("scope file {p}"));
    }
    // Syntax errors give the line and column; other failures name the file.
    let p = write_file(
        dir.path(),
        "comma.json",
        "{\n  \"resources\": [\"tasks\",],\n  \"max_rows_per_query\": 1\n}",
    );
    check(p.to_str().unwrap(), None, "invalid JSON at line 2, column");
    let p = write_file(dir.path(), "list.json", "[\"tasks\"]");
    check(p.to_str().unwrap(), None, "must be a JSON object");
    let p = write_file(dir.path(), "empty.json", "");
    check(p.to_str().unwrap(), None, "empty");
    let big = format!(
        "{{\"resources\": [\"tasks\"], \"max_rows_per_query\": 1{}}}",
        " ".repeat(1024 * 1024)
    );
    let p = write_file(dir.path(), "big.json", &big);
    check(p.to_str().unwrap(), None, "larger than 1 MiB");
    let missing = dir.path().join("missing.json");
    check(missing.to_str().unwrap(), None, "missing.json");
    check(
        "-",
        Some("{\"resources\": [\"x\"], \"max_rows_per_query\": 1}"),
        "scope file standard input: resources[0]",
    );
    check("-", Some(&big), "larger than 1 MiB");
    // Empty --user and --peer are refused too.
    let good = write_file(dir.path(), "good.json", SEED_SCOPE);
    for (user, peer, want) in [("", "p", "--user"), ("u", " ", "--peer")] {
        let mut cmd = common::mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &standin.url)
            .env("MOSAIC_ADMIN_TOKEN", "t")
            .args([
                "federation",
                "grant",
                "create",
                "--user",
                user,
                "--peer",
                peer,
                "--scope",
                good.to_str().unwrap(),
            ]);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.contains(want), "{out:?}");
    }
    assert!(standin.requests().is_empty(), "{:?}", standin.requests());
}

#[test]
fn dry_run_refuses_exactly_what_the_gateway_refuses_with_the_same_words() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let seed: serde_json::Value = serde_json::from_str(SEED_SCOPE).unwrap();
    let dup_scope = serde_json::json!({"resources": ["tasks", "tasks"], "max_rows_per_query": 5});
    let long_user = "u".repeat(300);
    let long_peer = "p".repeat(257);
    let at_limit = "u".repeat(256);
    // (user, peer, scope, the field the refusal names; None: both accept)
    let cases: Vec<(&str, &str, &serde_json::Value, Option<&str>)> = vec![
        (&long_user, "gw-b", &seed, Some("user_id")),
        ("u-1", &long_peer, &seed, Some("peer_id")),
        ("", "gw-b", &seed, Some("user_id")),
        ("u-1", "", &seed, Some("peer_id")),
        ("a\u{1b}]0;pwned\u{7}", "gw-b", &seed, Some("user_id")),
        ("u-1", "gw\u{202e}b", &seed, Some("peer_id")),
        ("u\n1", "gw-b", &seed, Some("user_id")),
        ("u\u{85}1", "gw-b", &seed, Some("user_id")),
        (" u-1", "gw-b", &seed, Some("user_id")),
        ("u-1", "gw-b ", &seed, Some("peer_id")),
        ("u-1", "gw-b", &dup_scope, Some("scope.resources[1]")),
        (&at_limit, "gw-b", &seed, None),
        ("ü-ñ 1", "gw b", &seed, None),
    ];
    for (user, peer, scope, field) in cases {
        let (status, body) = gw.request(
            "POST",
            "/api/admin/federation/grants",
            Some(&serde_json::json!({"user_id": user, "peer_id": peer, "scope": scope})),
        );
        let scope_path = write_file(dir.path(), "scope.json", &scope.to_string());
        let dry_run = |format: &str| {
            let mut cmd = common::mosaic();
            cmd.args([
                "federation",
                "grant",
                "create",
                "--user",
                user,
                "--peer",
                peer,
                "--scope",
                scope_path.to_str().unwrap(),
                "--dry-run",
                "-o",
                format,
            ]);
            run(cmd, None)
        };
        let Some(field) = field else {
            assert_eq!(status, 201, "{user:?} {peer:?}: {body}");
            assert_eq!(dry_run("json").ok().json()["user_id"], user);
            continue;
        };
        assert_eq!(status, 400, "{user:?} {peer:?}: {body}");
        let gateway_says = body["error"]["message"].as_str().unwrap();
        assert!(gateway_says.starts_with(field), "{gateway_says}");
        let out = dry_run("json").code(2);
        let cli_says = out.stderr_json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        // The scope file's reader names the field within the file (`resources[1]`).
        let rule = gateway_says.strip_prefix("scope.").unwrap_or(gateway_says);
        assert!(
            cli_says.ends_with(rule),
            "{user:?} {peer:?}: the dry run says {cli_says:?}, the gateway {gateway_says:?}"
        );
        // The table form says the same, and echoes nothing a terminal would act on.
        let out = dry_run("table").code(2);
        assert!(out.stderr.contains(rule), "{out:?}");
        assert!(
            !out.stderr
                .contains(|c: char| c.is_control() && c != '\n' || c == '\u{202e}'),
            "raw control characters in {:?}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn grant_revoke_checks_the_reason_by_the_gateways_rule_before_sending() {
    let gw = Gateway::start();
    let id = gw.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    for reason in ["r".repeat(1025), "ended\u{1b}[2J".to_string()] {
        let path = format!("/api/admin/federation/grants/{id}/revoke");
        let (status, body) =
            gw.request("PATCH", &path, Some(&serde_json::json!({"reason": reason})));
        assert_eq!(status, 400, "{body}");
        let gateway_says = body["error"]["message"].as_str().unwrap();
        let out = gw
            .run(&[
                "federation",
                "grant",
                "revoke",
                &id,
                "--reason",
                &reason,
                "-o",
                "json",
            ])
            .code(2);
        let cli_says = out.stderr_json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(cli_says, format!("--reason: {gateway_says}"));
    }
    let status = gw
        .run(&["federation", "grant", "show", &id, "--jq", ".status"])
        .ok()
        .stdout;
    assert_eq!(status, "pending\n");
    gw.run(&[
        "federation",
        "grant",
        "revoke",
        &id,
        "--reason",
        &"r".repeat(1024),
    ])
    .ok();
}
