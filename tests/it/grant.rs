//! `mosaic federation grant create|list|show|revoke|token`: the real binary against a
//! real `mosaic gateway serve`, in table and JSON form, and every exit code a real
//! situation produces. Bad local input is also shown to send nothing, with a stand-in
//! that counts requests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::always;
use crate::common::{self, Gateway, Output, SEED_SCOPE, run, write_file};

/// The fields of a grant, exactly (the contract's shape; nothing more, nothing less).
const GRANT_FIELDS: [&str; 12] = [
    "activated_at",
    "created_at",
    "expires_at",
    "id",
    "peer_cert_fingerprint",
    "peer_cert_not_after",
    "peer_id",
    "revoked_at",
    "revoked_reason",
    "scope",
    "status",
    "user_id",
];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a time: {v}")),
        &Rfc3339,
    )
    .unwrap_or_else(|e| panic!("not RFC 3339: {v}: {e}"))
}

fn scope_file(dir: &Path) -> PathBuf {
    write_file(dir, "scope.json", SEED_SCOPE)
}

/// Every output of a run against `gw` must be free of its admin token.
#[track_caller]
fn clean(gw: &Gateway, out: Output) -> Output {
    assert!(
        !out.stdout.contains(&gw.admin_token),
        "token on stdout: {out:?}"
    );
    assert!(
        !out.stderr.contains(&gw.admin_token),
        "token on stderr: {out:?}"
    );
    out
}

fn create(gw: &Gateway, user: &str, peer: &str, scope: &Path) -> Value {
    clean(
        gw,
        gw.run(&[
            "federation",
            "grant",
            "create",
            "--user",
            user,
            "--peer",
            peer,
            "--scope",
            scope.to_str().unwrap(),
            "-o",
            "json",
        ]),
    )
    .ok()
    .json()
}

#[track_caller]
fn assert_new_grant(g: &Value, user: &str, peer: &str) {
    assert_eq!(keys(g), GRANT_FIELDS, "{g}");
    assert!(!g["id"].as_str().unwrap().is_empty());
    assert_eq!(g["user_id"], user);
    assert_eq!(g["peer_id"], peer);
    assert_eq!(
        g["scope"],
        json!({"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100})
    );
    assert_eq!(g["status"], "pending");
    let created = ts(&g["created_at"]);
    assert!((OffsetDateTime::now_utc() - created).abs() < time::Duration::minutes(5));
    for f in [
        "activated_at",
        "revoked_at",
        "revoked_reason",
        "expires_at",
        "peer_cert_fingerprint",
    ] {
        assert_eq!(g[f], Value::Null, "{f}: {g}");
    }
}

#[test]
fn create_then_show_in_json_and_table() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let scope = scope_file(dir.path());
    let g = create(&gw, "u-42", "gw-b", &scope);
    assert_new_grant(&g, "u-42", "gw-b");
    let id = g["id"].as_str().unwrap();

    let shown = clean(
        &gw,
        gw.run(&["federation", "grant", "show", id, "-o", "json"]),
    )
    .ok()
    .json();
    assert_eq!(without_tokens(shown), g, "show adds only the token history");

    let out = clean(&gw, gw.run(&["federation", "grant", "show", id])).ok();
    for (field, value) in [
        ("id:", id),
        ("user:", "u-42"),
        ("peer:", "gw-b"),
        ("status:", "pending"),
        ("scope.resources:", "tasks, notes"),
        ("scope.excluded_resources:", "credentials"),
        ("scope.max_rows_per_query:", "100"),
        ("activated:", "-"),
        ("revoked:", "-"),
        ("revoked_reason:", "-"),
        ("expires:", "-"),
        ("peer_cert_fingerprint:", "-"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} line: {}", out.stdout));
        assert_eq!(line[field.len()..].trim(), value, "{line}");
    }
    assert!(out.stdout.contains("created:"), "{}", out.stdout);

    // Table form of create: the grant on stdout, a next step on stderr.
    let out = clean(
        &gw,
        gw.run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u-43",
            "--peer",
            "gw-b",
            "--scope",
            scope.to_str().unwrap(),
        ]),
    )
    .ok();
    assert!(out.stdout.starts_with("id:"), "{out:?}");
    assert!(
        out.stderr.contains("mosaic federation grant token"),
        "{out:?}"
    );
}

#[test]
fn create_reads_the_scope_from_stdin_and_takes_an_expiry() {
    let gw = Gateway::start();
    let mut cmd = gw.mosaic();
    cmd.args([
        "federation",
        "grant",
        "create",
        "--user",
        "u-1",
        "--peer",
        "p-1",
        "--scope",
        "-",
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "-o",
        "json",
    ]);
    let g = run(
        cmd,
        Some(r#"{"resources": ["users"], "max_rows_per_query": 1}"#),
    )
    .ok()
    .json();
    assert_eq!(
        g["scope"],
        json!({"resources": ["users"], "excluded_resources": [], "max_rows_per_query": 1})
    );
    assert_eq!(ts(&g["expires_at"]), ts(&json!("2099-01-01T00:00:00Z")));
    let out = gw
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u-1",
            "--peer",
            "p-1",
            "--scope",
            "-",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ])
        .code(2);
    assert!(out.stderr.contains("--expires-at"), "{out:?}");
}

#[test]
fn list_filters_and_renders_both_ways() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let scope = scope_file(dir.path());
    let a = create(&gw, "u-1", "peer-a", &scope);
    let b = create(&gw, "u-2", "peer-b", &scope);
    let c = create(&gw, "u-3", "peer-a", &scope);
    let c_id = c["id"].as_str().unwrap();
    clean(
        &gw,
        gw.run(&["federation", "grant", "revoke", c_id, "-o", "json"]),
    )
    .ok();

    let all = gw
        .run(&["federation", "grant", "list", "-o", "json"])
        .ok()
        .json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    for (got, want) in all.iter().zip([&a, &b]) {
        assert_eq!(got, want);
    }
    assert_eq!(all[2]["status"], "revoked");

    let ids = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["federation", "grant", "list", "-o", "json"];
        full.extend(args);
        gw.run(&full)
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&["--peer", "peer-a"]),
        [a["id"].as_str().unwrap(), c_id]
    );
    assert_eq!(ids(&["--status", "revoked"]), [c_id]);
    assert_eq!(
        ids(&["--peer", "peer-a", "--status", "pending"]),
        [a["id"].as_str().unwrap()]
    );
    assert!(ids(&["--status", "active"]).is_empty());
    assert!(ids(&["--peer", "nobody"]).is_empty());

    let out = clean(&gw, gw.run(&["federation", "grant", "list"])).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "USER", "PEER", "STATUS", "CREATED", "ACTIVATED"]
    );
    assert_eq!(lines.len(), 4);
    let row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(row[0], c_id);
    assert_eq!(&row[1..4], ["u-3", "peer-a", "revoked"]);
    ts(&json!(row[4]));
    assert_eq!(row[5], "-");

    let out = gw
        .run(&["federation", "grant", "list", "--status", "active"])
        .ok();
    assert_eq!(out.stdout, "No grants.\n");
}

#[test]
fn revoke_records_the_reason_and_twice_is_a_conflict() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let g = create(&gw, "u-1", "p-1", &scope_file(dir.path()));
    let id = g["id"].as_str().unwrap();

    let r = clean(
        &gw,
        gw.run(&[
            "federation",
            "grant",
            "revoke",
            id,
            "--reason",
            "contract ended",
            "-o",
            "json",
        ]),
    )
    .ok()
    .json();
    assert_eq!(keys(&r), GRANT_FIELDS);
    assert_eq!(r["id"], id);
    assert_eq!(r["status"], "revoked");
    assert_eq!(r["revoked_reason"], "contract ended");
    assert!(ts(&r["revoked_at"]) >= ts(&r["created_at"]));
    assert_eq!(r["activated_at"], Value::Null);
    assert_eq!(r["scope"], g["scope"]);

    let out = clean(
        &gw,
        gw.run(&["federation", "grant", "revoke", id, "-o", "json"]),
    )
    .code(4);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr_json()["error"]["code"], "conflict");

    // Table form, on a second grant; a revoked grant gets no tokens.
    let g2 = create(&gw, "u-2", "p-1", &scope_file(dir.path()));
    let id2 = g2["id"].as_str().unwrap();
    let out = clean(&gw, gw.run(&["federation", "grant", "revoke", id2])).ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("revoked"))
    );
    assert!(out.stderr.contains("Revoked grant"), "{out:?}");
    gw.run(&["federation", "grant", "token", id2]).code(4);

    let shown = gw
        .run(&["federation", "grant", "show", id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(without_tokens(shown), r, "show adds only the token history");
}

/// `grant show` adds the token history (`tokens`) to the contract's grant shape; this
/// checks it is an array and returns the rest for comparison with other answers.
#[track_caller]
fn without_tokens(mut shown: Value) -> Value {
    let tokens = shown
        .as_object_mut()
        .and_then(|o| o.remove("tokens"))
        .expect("grant show carries the token history");
    assert!(tokens.is_array(), "{tokens}");
    shown
}

#[test]
fn token_in_json_and_table() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let g = create(&gw, "u-1", "p-1", &scope_file(dir.path()));
    let id = g["id"].as_str().unwrap();

    let before = OffsetDateTime::now_utc();
    let t = clean(
        &gw,
        gw.run(&["federation", "grant", "token", id, "-o", "json"]),
    )
    .ok()
    .json();
    let mut k = keys(&t);
    k.sort();
    assert_eq!(
        k,
        [
            "ca_fingerprint",
            "enrollment_url",
            "expires_at",
            "grant_id",
            "token"
        ]
    );
    assert_eq!(t["grant_id"], id);
    let token = t["token"].as_str().unwrap();
    assert!(token.len() >= 16, "{token}");
    let url = t["enrollment_url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/api/federation/enrollment/{token}")),
        "{url}"
    );
    let ttl = ts(&t["expires_at"]) - before;
    assert!(
        ttl <= time::Duration::seconds(901) && ttl >= time::Duration::seconds(890),
        "default TTL: {ttl}"
    );
    let fp = t["ca_fingerprint"].as_str().unwrap();
    let hex = fp.strip_prefix("sha256:").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );

    let before = OffsetDateTime::now_utc();
    let out = clean(
        &gw,
        gw.run(&["federation", "grant", "token", id, "--ttl", "60"]),
    )
    .ok();
    let line = |name: &str| -> String {
        let l = out
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}: {}", out.stdout));
        l[name.len()..].trim().to_string()
    };
    let token2 = line("token:");
    assert_ne!(token2, token);
    let url2 = line("enrollment_url:");
    assert!(url2.ends_with(&token2), "{url2}");
    let expires = line("expires:");
    let (abs, rel) = expires.split_once(" (").unwrap();
    let ttl = ts(&json!(abs)) - before;
    assert!(ttl <= time::Duration::seconds(61) && ttl >= time::Duration::seconds(50));
    assert!(
        rel == "in 1m)" || rel.starts_with("in 59s") || rel.starts_with("in 58s"),
        "{rel}"
    );
    assert_eq!(line("ca_fingerprint:"), fp);
    assert!(
        out.stdout.contains(&format!(
            "mosaic federation peer add '{url2}' --ca-fingerprint {fp}"
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_grant_is_3_everywhere() {
    let gw = Gateway::start();
    for verb in ["show", "revoke", "token"] {
        let out = clean(
            &gw,
            gw.run(&["federation", "grant", verb, "no-such-grant", "-o", "json"]),
        )
        .code(3);
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr_json()["error"]["code"], "not_found", "{verb}");
    }
}

#[test]
fn wrong_or_missing_admin_token_is_5() {
    let gw = Gateway::start();
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_ADMIN_TOKEN", "wrong-token").args([
        "federation",
        "grant",
        "list",
        "-o",
        "json",
    ]);
    let out = clean(&gw, run(cmd, None)).code(5);
    assert_eq!(out.stderr_json()["error"]["code"], "unauthorized");
    assert!(!out.stderr.contains("wrong-token"));

    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_ADMIN_TOKEN")
        .args(["federation", "grant", "show", "x"]);
    let out = run(cmd, None).code(5);
    assert!(out.stderr.contains("MOSAIC_ADMIN_TOKEN"), "{out:?}");

    // The right token from a file works.
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "t", &format!("{}\n", gw.admin_token));
    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_ADMIN_TOKEN").args([
        "federation",
        "grant",
        "list",
        "--token-file",
        file.to_str().unwrap(),
    ]);
    clean(&gw, run(cmd, None)).ok();
}

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
    let g = create(&gw, "u", "p", &scope_file(dir.path()));
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
    let scope = scope_file(dir.path());
    // Valid locally, too large for the gateway's request body limit: its 413.
    let user = "u".repeat(100_000);
    let out = clean(
        &gw,
        gw.run(&[
            "federation",
            "grant",
            "create",
            "--user",
            &user,
            "--peer",
            "p",
            "--scope",
            scope.to_str().unwrap(),
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
    let all = gw
        .run(&["federation", "grant", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(all, json!([]));
}

/// 2,500 grants made by direct concurrent POSTs, listed whole by the CLI through pages.
#[test]
fn list_returns_2500_grants_through_pagination() {
    const N: usize = 2_500;
    let gw = Gateway::start();
    let scope: Value = serde_json::from_str(SEED_SCOPE).unwrap();
    let threads = 8;
    let made: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gw, scope) = (&gw, &scope);
                s.spawn(move || {
                    (t..N)
                        .step_by(threads)
                        .map(|i| {
                            let body = json!({"user_id": format!("u-{i}"), "peer_id": "p-bulk", "scope": scope});
                            let (status, g) =
                                gw.request("POST", "/api/admin/federation/grants", Some(&body));
                            assert_eq!(status, 201, "{g}");
                            g["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let made: BTreeSet<String> = made.into_iter().collect();
    assert_eq!(made.len(), N);

    let out = clean(&gw, gw.run(&["federation", "grant", "list", "-o", "json"])).ok();
    let items = out.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), N);
    let listed: BTreeSet<String> = items
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, made, "every grant exactly once");
    let order: Vec<(OffsetDateTime, &str)> = items
        .iter()
        .map(|g| (ts(&g["created_at"]), g["id"].as_str().unwrap()))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "ordered by (created_at, id)"
    );

    let out = gw
        .run(&["federation", "grant", "list", "--peer", "p-bulk"])
        .ok();
    assert_eq!(out.stdout.lines().count(), N + 1);

    // `| head -1` on the long list: exit 0, nothing on stderr.
    let mut cmd = gw.mosaic();
    cmd.args(["federation", "grant", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(first.starts_with("ID "), "{first}");
    assert_eq!(done.status.code(), Some(0));
    assert!(
        done.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
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
