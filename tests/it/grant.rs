//! `mosaic federation grant create|list|show|revoke|token`: the real binary against a
//! real `mosaic gateway serve`, in table and JSON form, and every exit code a real
//! situation produces. Bad local input is also shown to send nothing, with a stand-in
//! that counts requests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::{Gateway, Output, SEED_SCOPE, run, write_file};
use crate::fixtures::{GRANTS, list_all};

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

pub fn scope_file(dir: &Path) -> PathBuf {
    write_file(dir, "scope.json", SEED_SCOPE)
}

/// Every output of a run against `gw` must be free of its admin token.
#[track_caller]
pub fn clean(gw: &Gateway, out: Output) -> Output {
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
fn create_then_show_in_json() {
    let gw = Gateway::start();
    let g = gw.grant("u-42", "gw-b");
    assert_new_grant(&g, "u-42", "gw-b");
    let id = g["id"].as_str().unwrap();

    let shown = clean(
        &gw,
        gw.run(&["federation", "grant", "show", id, "-o", "json"]),
    )
    .ok()
    .json();
    assert_eq!(without_tokens(shown), g, "show adds only the token history");

    // The table forms of create and show: tests/it/snapshots.rs.
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
fn list_filters() {
    let gw = Gateway::start();
    let a = gw.grant("u-1", "peer-a");
    let b = gw.grant("u-2", "peer-b");
    let c = gw.grant("u-3", "peer-a");
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

    // The table form: tests/it/snapshots.rs.
}

#[test]
fn revoke_records_the_reason_and_twice_is_a_conflict() {
    let gw = Gateway::start();
    let g = gw.grant("u-1", "p-1");
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

    // A revoked grant gets no tokens.
    gw.run(&["federation", "grant", "token", id]).code(4);

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
fn token_in_json_and_its_table_values() {
    let gw = Gateway::start();
    let g = gw.grant("u-1", "p-1");
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
    // The whole table: tests/it/snapshots.rs; here, that its values are this token's.
    let line = |name: &str| -> String {
        let l = out.stdout.lines().find(|l| l.starts_with(name)).unwrap();
        l[name.len()..].trim().to_string()
    };
    let (token2, url2) = (line("token:"), line("enrollment_url:"));
    assert_ne!(token2, token);
    assert!(url2.ends_with(&token2), "{url2}");
    let expires = line("expires:");
    let ttl = ts(&json!(expires.split_once(" (").unwrap().0)) - before;
    assert!(ttl <= time::Duration::seconds(61) && ttl >= time::Duration::seconds(50));
    // The paste line is a hint for a terminal (tests/it/scripting.rs), not part of the record.
    assert!(!out.stdout.contains("peer add"), "{}", out.stdout);
    assert!(url2.contains("/api/federation/enrollment/") && fp.starts_with("sha256:"));
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

    // Streamed page by page, the document is the one the whole list makes at once: the
    // pages as the API serves them, printed by serde_json in one piece.
    let pages: Vec<Value> = list_all(&gw, GRANTS, 1000);
    assert_eq!(items, &pages, "the streamed list is the paged list");
    let grants: Vec<mosaic::api::types::Grant> =
        serde_json::from_value(Value::Array(pages)).unwrap();
    let whole = serde_json::to_string_pretty(&grants).unwrap() + "\n";
    assert!(
        out.stdout == whole,
        "streamed bytes differ from the one-piece document"
    );

    let out = gw
        .run(&["federation", "grant", "list", "--peer", "p-bulk"])
        .ok();
    assert_eq!(out.stdout.lines().count(), N + 1);
    // One set of column widths over every page: each row ends at the same column.
    let widths: BTreeSet<usize> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.chars().count())
        .collect();
    assert_eq!(widths.len(), 1, "rows of different widths: {widths:?}");
    let quiet = gw.run(&["federation", "grant", "list", "-q"]).ok();
    let quiet: BTreeSet<String> = quiet.stdout.lines().map(str::to_string).collect();
    assert_eq!(quiet, made);

    // `-o json | head -c 100`: exit 0, nothing on stderr.
    let mut cmd = gw.mosaic();
    cmd.args(["federation", "grant", "list", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut head = [0u8; 100];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    assert!(
        head.starts_with(b"[\n  {"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(done.status.code(), Some(0));
    assert!(
        done.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

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
