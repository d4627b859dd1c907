//! Output for scripts and people: `-q` prints the identifying value, `--jq` picks fields,
//! `--no-headers` and `-o wide` shape tables, narrow tables fit 100 columns, and hints go
//! to standard error only when it is a terminal.

use std::process::Command;

use crate::common::{self, Gateway, SECRET, SEED_SCOPE, run};

fn is_uuid(s: &str) -> bool {
    regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .unwrap()
        .is_match(s)
}

/// `grant create --user USER --peer gw-b --scope -` with extra flags, on `gw`.
fn create(gw: &Gateway, user: &str, extra: &[&str]) -> common::Output {
    let mut cmd = gw.mosaic();
    cmd.args([
        "federation",
        "grant",
        "create",
        "--user",
        user,
        "--peer",
        "gw-b",
        "--scope",
        "-",
    ])
    .args(extra);
    run(cmd, Some(SEED_SCOPE))
}

#[test]
fn a_script_does_the_whole_granting_side_without_jq() {
    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();

    let out = create(&a, "user-7", &["-q"]).ok();
    let id = out.stdout.trim_end().to_string();
    assert!(is_uuid(&id), "{out:?}");
    assert_eq!(out.stdout, format!("{id}\n"));
    assert!(out.stderr.is_empty(), "{out:?}");

    let listed = a.run(&["federation", "grant", "list", "-q"]).ok().stdout;
    assert_eq!(listed, format!("{id}\n"));

    let url = a
        .run(&["federation", "grant", "token", &id, "-q"])
        .ok()
        .stdout;
    let url = url.trim_end();
    assert!(
        url.starts_with(&format!("{}/api/federation/enrollment/", a.url)) && !url.contains('\n'),
        "{url}"
    );
    let ca = a
        .run(&[
            "federation",
            "grant",
            "token",
            &id,
            "--jq",
            ".ca_fingerprint",
        ])
        .ok()
        .stdout;
    assert!(ca.starts_with("sha256:") && ca.ends_with('\n'), "{ca}");

    // The URL from `-q` is what `peer add` takes; `-q` there prints the new peer's ID
    // and nothing of its progress.
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add", url, "-q"]);
    let added = run(cmd, None).ok();
    let peer_id = added.stdout.trim_end();
    assert!(is_uuid(peer_id), "{added:?}");
    assert!(added.stderr.is_empty(), "{added:?}");
    let listed = b.run(&["federation", "peer", "list", "-q"]).ok().stdout;
    assert_eq!(listed, format!("{peer_id}\n"));
    let status = b
        .run(&["federation", "peer", "list", "--jq", ".[0].status"])
        .ok()
        .stdout;
    assert_eq!(status, "active\n");

    // The grant is active now: the script reads that as text, and objects as compact JSON.
    let status = a
        .run(&["federation", "grant", "show", &id, "--jq", ".status"])
        .ok()
        .stdout;
    assert_eq!(status, "active\n");
    let picked = a
        .run(&[
            "federation",
            "grant",
            "list",
            "--jq",
            ".[] | {id, n: .scope.max_rows_per_query}",
        ])
        .ok()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(picked.trim_end()).unwrap();
    assert_eq!(v, serde_json::json!({"id": id, "n": 100}));
}

#[test]
fn a_bad_jq_expression_is_exit_2_before_any_request() {
    // Nothing listens on port 1: a request would end in exit 6.
    for expr in [".[", "no_such_function"] {
        let mut cmd = common::mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", "http://127.0.0.1:1")
            .env("MOSAIC_ADMIN_TOKEN", "t")
            .args(["federation", "grant", "list", "--jq", expr]);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.starts_with("error: --jq: "), "{out:?}");
        assert!(out.stdout.is_empty());
    }
    let a = Gateway::start();
    let id = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let out = a
        .run(&["federation", "grant", "show", &id, "--jq", ".id + 1"])
        .code(2);
    assert!(out.stderr.contains("--jq: "), "{out:?}");
    let out = a
        .run(&["federation", "grant", "show", &id, "-q", "--jq", ".id"])
        .code(2);
    assert!(out.stderr.contains("cannot be used with"), "{out:?}");
}

#[test]
fn narrow_tables_fit_100_columns_and_wide_shows_everything() {
    let a = Gateway::start();
    let long_user = format!("user-{}", "x".repeat(40));
    create(&a, &long_user, &["-q"]).ok();
    create(&a, "u-2", &["-q"]).ok();

    let narrow = a.run(&["federation", "grant", "list"]).ok().stdout;
    assert_eq!(narrow.lines().count(), 3, "{narrow}");
    for line in narrow.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.len()
        );
    }
    assert!(!narrow.contains(&long_user), "{narrow}");
    assert!(narrow.contains("user-xxxxxxxx…"), "{narrow}");

    let wide = a
        .run(&["federation", "grant", "list", "-o", "wide"])
        .ok()
        .stdout;
    assert!(wide.contains(&long_user), "{wide}");
    assert!(
        wide.lines().next().unwrap().ends_with("ACTIVATED"),
        "{wide}"
    );

    let bare = a
        .run(&["federation", "grant", "list", "--no-headers"])
        .ok()
        .stdout;
    assert_eq!(bare.lines().count(), 2, "{bare}");
    assert!(bare.lines().all(|l| is_uuid(&l[..36])), "{bare}");

    // Empty lists print nothing on stdout, whatever the list.
    let none = a
        .run(&["federation", "grant", "list", "--status", "revoked"])
        .ok();
    assert_eq!((none.stdout.as_str(), none.stderr.as_str()), ("", ""));
    let none = a.run(&["federation", "peer", "list"]).ok();
    assert_eq!(none.stdout, "");
}

/// Runs `mosaic ARGS` against `gw` under a pseudo-terminal (`script`); returns what the
/// terminal showed, standard output and error together, in order.
fn on_a_terminal(gw: &Gateway, args: &[&str]) -> String {
    let (code, shown) = on_a_terminal_answering(gw, args, "");
    assert_eq!(code, 0, "{shown}");
    shown
}

/// [`on_a_terminal`], typing `answer` on the terminal: the exit code and what it showed.
fn on_a_terminal_answering(gw: &Gateway, args: &[&str], answer: &str) -> (i32, String) {
    let mut line = common::bin().display().to_string();
    for a in args {
        line.push(' ');
        line.push_str(&format!("'{a}'"));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("MOSAIC_GATEWAY_URL", &gw.url)
        .env("MOSAIC_ADMIN_TOKEN", &gw.admin_token)
        .env("COLUMNS", "200");
    if gw.is_tls() {
        cmd.env("MOSAIC_CACERT", gw.ca_file());
    }
    let out = run(cmd, Some(answer));
    (out.code, out.stdout.replace("\r\n", "\n"))
}

#[test]
fn hints_follow_the_record_on_a_terminal_and_never_reach_a_pipe() {
    let a = Gateway::start();
    let id = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();

    let piped = a.run(&["federation", "grant", "token", &id]).ok();
    assert!(piped.stdout.contains("enrollment_url:"), "{piped:?}");
    assert!(!piped.stdout.contains("Single use"), "{piped:?}");
    assert!(piped.stderr.is_empty(), "{piped:?}");

    let shown = on_a_terminal(&a, &["federation", "grant", "token", &id]);
    let record = shown.find("ca_fingerprint:").expect(&shown);
    let hint = shown.find("Single use").expect(&shown);
    assert!(record < hint, "the hint comes before the record: {shown}");
    assert!(
        shown.contains("mosaic federation peer add '"),
        "no paste line: {shown}"
    );

    let shown = on_a_terminal(&a, &["federation", "grant", "list", "--status", "revoked"]);
    assert_eq!(shown.trim(), "No grants.");
    let shown = on_a_terminal(&a, &["federation", "grant", "list", "-q"]);
    assert_eq!(shown.trim(), id);
}

#[test]
fn an_empty_peer_query_says_so_on_a_terminal_and_prints_nothing_to_a_pipe() {
    use crate::dataplane::{Fed, SCOPE, USER};
    let fed = Fed::start();
    let peer = fed.enroll(&fed.grant(USER, SCOPE, &[]));
    let shown = on_a_terminal(&fed.b, &["federation", "peer", "query", &peer, "notes"]);
    assert_eq!(shown.trim(), "No rows of notes.");
    let piped = fed.query(&peer, "notes", &[]).ok();
    assert_eq!((piped.stdout.as_str(), piped.stderr.as_str()), ("", ""));
}

/// Every string in `v` that starts like a timestamp.
fn timestamps(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s)
            if regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T")
                .unwrap()
                .is_match(s) =>
        {
            out.push(s.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| timestamps(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| timestamps(v, out)),
        _ => {}
    }
}

#[test]
fn every_timestamp_in_json_has_exactly_three_fractional_digits_in_utc() {
    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let id = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let token = a
        .run(&["federation", "grant", "token", &id, "-o", "json"])
        .ok()
        .json();
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args([
            "federation",
            "peer",
            "add",
            token["enrollment_url"].as_str().unwrap(),
            "-o",
            "json",
        ]);
    let peer = run(cmd, None).ok().json();
    let mut seen = Vec::new();
    timestamps(&token, &mut seen);
    timestamps(&peer, &mut seen);
    for (gw, args) in [
        (&a, vec!["federation", "grant", "show", &id, "-o", "json"]),
        (&a, vec!["federation", "grant", "list", "-o", "json"]),
        (&a, vec!["federation", "audit", "list", "-o", "json"]),
        (&b, vec!["federation", "peer", "list", "-o", "json"]),
    ] {
        timestamps(&gw.run(&args).ok().json(), &mut seen);
    }
    // created, activated, token issued/expires/redeemed, cert not after, audit times...
    assert!(seen.len() >= 12, "{seen:?}");
    let exact = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    for t in &seen {
        assert!(exact.is_match(t), "{t} in {seen:?}");
    }
    // The gateway answers the same way on the wire.
    let (status, body) = a.request("GET", &format!("/api/admin/federation/grants/{id}"), None);
    assert_eq!(status, 200);
    let created = body["created_at"].as_str().unwrap();
    assert!(exact.is_match(created), "{created}");
}

#[test]
fn revoke_asks_on_a_terminal_showing_what_is_lost_and_yes_skips_it() {
    let a = Gateway::start();
    let id = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let status = |a: &Gateway| {
        a.run(&["federation", "grant", "show", &id, "--jq", ".status"])
            .ok()
            .stdout
    };

    let (code, shown) = on_a_terminal_answering(&a, &["federation", "grant", "revoke", &id], "n\n");
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains(&format!(
            "Revoke grant {id} (pending: user u-1, peer gw-b)?"
        )),
        "{shown}"
    );
    assert!(shown.contains("[y/N]"), "{shown}");
    assert!(
        shown.contains("not confirmed: nothing was revoked"),
        "{shown}"
    );
    assert_eq!(status(&a), "pending\n");

    // No answer at all (end of input) is no.
    let (code, _) = on_a_terminal_answering(&a, &["federation", "grant", "revoke", &id], "");
    assert_eq!(code, 2);
    assert_eq!(status(&a), "pending\n");

    let (code, shown) = on_a_terminal_answering(&a, &["federation", "grant", "revoke", &id], "y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("[y/N]"), "{shown}");
    assert!(shown.contains("Revoked grant"), "{shown}");
    assert_eq!(status(&a), "revoked\n");

    // --yes: no question; without a terminal: no question either (scripts keep working).
    let other = a.grant("u-2", "gw-b")["id"].as_str().unwrap().to_string();
    let shown = on_a_terminal(&a, &["federation", "grant", "revoke", &other, "--yes"]);
    assert!(!shown.contains("[y/N]"), "{shown}");
    assert!(shown.contains("Revoked grant"), "{shown}");
    let third = a.grant("u-3", "gw-b")["id"].as_str().unwrap().to_string();
    let piped = a.run(&["federation", "grant", "revoke", &third]).ok();
    assert!(!piped.stderr.contains("[y/N]"), "{piped:?}");
    assert!(piped.stdout.contains("revoked"), "{piped:?}");
}

#[test]
fn removing_an_active_peer_asks_on_a_terminal() {
    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let id = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let url = a
        .run(&["federation", "grant", "token", &id, "-q"])
        .ok()
        .stdout;
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add", url.trim_end(), "-q"]);
    let peer_id = run(cmd, None).ok().stdout.trim_end().to_string();

    let (code, shown) =
        on_a_terminal_answering(&b, &["federation", "peer", "remove", &peer_id], "no\n");
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains(&format!("Remove active peer {peer_id} (")),
        "{shown}"
    );
    assert!(shown.contains(&format!("grant {id})?")), "{shown}");
    let listed = b.run(&["federation", "peer", "list", "-q"]).ok().stdout;
    assert_eq!(listed.trim_end(), peer_id);

    let shown = on_a_terminal(&b, &["federation", "peer", "remove", &peer_id, "-y"]);
    assert!(!shown.contains("[y/N]"), "{shown}");
    assert!(
        shown.contains(&format!("removed peer {peer_id}")),
        "{shown}"
    );
    assert_eq!(b.run(&["federation", "peer", "list", "-q"]).ok().stdout, "");
}
