//! What scripts rely on beyond the values: with `-o json` one document on stdout or one
//! JSON error on stderr (usage errors too), a reader that closes the pipe early, and a
//! full disk on stdout.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::cli::{always, at, list_standin, run_at};
use crate::common::{self, run};

#[test]
fn json_errors_leave_stdout_empty() {
    let s = always(
        404,
        r#"{"error":{"code":"not_found","message":"grant g9 not found"}}"#,
    );
    let out = run_at(&s.url, &["federation", "grant", "show", "g9", "-o", "json"]).code(3);
    assert!(out.stdout.is_empty());
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "not_found");
    assert_eq!(err["error"]["gateway_code"], "not_found");
    // The gateway's own words verbatim, with the gateway asked; the next step apart.
    assert_eq!(
        err["error"]["message"],
        format!(
            "no grant with ID g9 on the gateway at {} (grant g9 not found)",
            s.url.trim_end_matches('/')
        )
    );
    assert!(
        err["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("grants live on the granting gateway"),
        "{err}"
    );
}

#[test]
fn the_gateways_own_code_is_repeated_only_when_it_is_a_plain_word() {
    let with_code = |code: &str| {
        let body = serde_json::json!({"error": {"code": code, "message": "busy"}});
        let s = always(409, &body.to_string());
        let out = run_at(
            &s.url,
            &["federation", "grant", "revoke", "g9", "-o", "json"],
        )
        .code(4);
        out.stderr_json()["error"].clone()
    };
    let err = with_code("renewal_in_progress");
    assert_eq!(err["code"], "conflict");
    assert_eq!(err["gateway_code"], "renewal_in_progress");
    let long = "a".repeat(65);
    for hostile in ["", "Not_Snake", "x\u{1b}[2J", "with space", &long, "9lives"] {
        let err = with_code(hostile);
        assert_eq!(err["code"], "conflict", "{hostile:?}");
        assert!(err.get("gateway_code").is_none(), "{hostile:?}: {err}");
    }
    // A code that is not a gateway's answer has none.
    let mut c = common::mosaic();
    c.args(["federation", "grant", "create", "--user", "u", "-o", "json"]);
    assert!(
        run(c, None).code(2).stderr_json()["error"]
            .get("gateway_code")
            .is_none()
    );
}

#[test]
fn usage_errors_are_2_and_json_when_json_was_asked_for() {
    let mut c = common::mosaic();
    c.args(["federation", "grant", "create", "--user", "u", "-o", "json"]);
    let out = run(c, None).code(2);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "invalid_input");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("--peer"),
        "{err}"
    );
    let mut c = common::mosaic();
    c.args(["federation", "grant", "list", "--status", "sleeping"]);
    let out = run(c, None).code(2);
    assert!(out.stderr.contains("sleeping"), "{out:?}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    let s = list_standin(3_000);
    for format in ["table", "json"] {
        let mut cmd = at(&s.url);
        cmd.args(["federation", "grant", "list", "-o", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone now, like `| head -1`.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
        assert!(!first.is_empty());
    }
}

#[test]
fn a_full_disk_on_stdout_is_an_internal_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // not on this platform
    };
    let s = list_standin(10);
    let mut cmd = at(&s.url);
    cmd.args(["federation", "grant", "list", "-o", "json"])
        .stdout(full)
        .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard output"));
}
