//! No input makes `mosaic` panic: the command lines that once did, and a property test
//! that drives the argument parser and the scope, URL and duration parsers with arbitrary
//! input and requires a documented exit code (0–7), never a panic (101).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::{mosaic, run, write_file};

/// A gateway address nothing listens on: every request that gets that far is refused at
/// once (exit 6).
const DEAD: &str = "http://127.0.0.1:1";

#[test]
fn overflowing_durations_are_exit_2_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let scope = write_file(
        tmp.path(),
        "scope.json",
        r#"{"resources": ["tasks"], "max_rows_per_query": 10}"#,
    );
    let scope = scope.to_str().unwrap();
    for args in [
        vec![
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            scope,
            "--expires-in",
            "8000y",
            "--dry-run",
        ],
        vec!["federation", "audit", "list", "--since", "99999999999999d"],
    ] {
        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", DEAD).args(&args);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.starts_with("error: "), "{out:?}");
        assert!(out.stderr.contains("year"), "{out:?}");
        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", DEAD)
            .args(&args)
            .args(["-o", "json"]);
        let out = run(cmd, None).code(2);
        assert_eq!(
            out.stderr_json()["error"]["code"],
            "invalid_input",
            "{out:?}"
        );
    }
}

/// A value for a flag: anything at all, or something shaped like what the flag expects.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,12}",
        "-?[0-9]{1,24}(ns|s|m|h|d|w|y|M|)( [0-9]{1,20}[smhd])?",
        // Near the edges of what a timestamp can hold.
        "[1-9][0-9]{3,18}(d|w|y|M|h)",
        "[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
        "(https?|ftp|)(://)?(127\\.0\\.0\\.1|localhost|\\[::1\\]|[a-z@:%]{0,6})(:[0-9]{0,6})?(/api/federation/enrollment/[^/]{0,8})?",
        "(sha256:)?[0-9a-fA-F]{0,66}",
    ]
}

/// One command line: a real command with flags drawn from [`value`].
fn command_line() -> impl Strategy<Value = (Vec<String>, String)> {
    let templates: Vec<&'static [&'static str]> = vec![
        &[
            "federation",
            "grant",
            "create",
            "--user",
            "@",
            "--peer",
            "@",
            "--scope",
            "-",
            "--expires-in",
            "@",
            "--dry-run",
        ],
        &[
            "federation",
            "grant",
            "create",
            "--user",
            "@",
            "--peer",
            "@",
            "--scope",
            "-",
            "--expires-at",
            "@",
            "--dry-run",
        ],
        &[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            "-",
        ],
        &[
            "federation",
            "grant",
            "list",
            "--status",
            "@",
            "--peer",
            "@",
        ],
        &["federation", "grant", "show", "@"],
        &["federation", "grant", "revoke", "@", "--reason", "@"],
        &["federation", "grant", "token", "@", "--ttl", "@"],
        &[
            "federation",
            "audit",
            "list",
            "--since",
            "@",
            "--grant",
            "@",
        ],
        &["federation", "audit", "list", "--action", "@"],
        &["federation", "peer", "add", "@", "--ca-fingerprint", "@"],
        &[
            "federation",
            "peer",
            "add",
            "@",
            "--name",
            "@",
            "--expect-user",
            "@",
        ],
        &["federation", "peer", "finish", "@"],
        &["--gateway", "@", "federation", "grant", "list"],
        &["--timeout", "@", "federation", "peer", "list"],
        &["-o", "@", "federation", "grant", "list"],
        &["@", "@"],
        &["federation", "@", "@", "@"],
    ];
    (
        prop::sample::select(templates),
        prop::collection::vec(value(), 6),
        prop::bool::ANY,
        prop_oneof![
            any::<String>(),
            "\\{\"resources\": \\[\"(tasks|notes|credentials|x)\"\\], \"max_rows_per_query\": -?[0-9]{1,22}\\}",
        ],
    )
        .prop_map(|(template, values, json, stdin)| {
            let mut values = values.into_iter().cycle();
            let mut args: Vec<String> = template
                .iter()
                .map(|a| match *a {
                    "@" => values.next().unwrap(),
                    a => a.to_string(),
                })
                .collect();
            if json {
                args.extend(["-o".to_string(), "json".to_string()]);
            }
            // A NUL cannot be passed in an argument; anything else can.
            for a in &mut args {
                a.retain(|c| c != '\0');
            }
            (args, stdin)
        })
}

/// The number of cases is bounded so that CI stays fast; every case is one run of the
/// binary. `PROPTEST_CASES` raises it for a longer local run.
#[test]
fn arbitrary_command_lines_exit_0_to_7_never_panic() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let state = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&command_line(), |(args, stdin)| {
            let mut cmd = mosaic();
            cmd.env("MOSAIC_GATEWAY_URL", DEAD)
                .env("MOSAIC_ADMIN_TOKEN", "adm-robustness")
                .env("MOSAIC_STATE_DIR", state.path())
                .env("MOSAIC_CONFIG", state.path().join("none.toml"))
                .env("BETTER_AUTH_SECRET", crate::common::SECRET)
                .env("RUST_BACKTRACE", "0")
                .args(["--timeout", "2"])
                .args(&args);
            let out = run(cmd, Some(&stdin));
            prop_assert!(
                (0..=7).contains(&out.code),
                "exit {} for {args:?}: {}",
                out.code,
                out.stderr
            );
            prop_assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
            Ok(())
        })
        .unwrap();
}
