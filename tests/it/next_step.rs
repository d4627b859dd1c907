//! The second hour of a new operator (issue 27): each mistake made as a user makes it,
//! against real gateways and the real binary, reads as what went wrong and what to type
//! next, with its documented exit code. The secret kept in a file survives restarts.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::json;

use crate::common::{Gateway, SECRET, mosaic, run, write_file};
use crate::dataplane::{Fed, SCOPE, USER, tasks};

/// `mosaic gateway serve` on a free port with `env` (no secret of the harness): the
/// running child and its URL, or the exit code and standard error of a refused start.
pub(crate) fn serve(dir: &Path, env: &[(&str, &str)]) -> Result<(Child, String), (i32, String)> {
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn gateway");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        if let Some(i) = line.find("listening on ") {
            let url = line[i + "listening on ".len()..].trim().to_string();
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return Ok((child, url));
        }
        line.clear();
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    Err((code, stderr))
}

pub(crate) fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What the README says: `(umask 077; mosaic gateway secret > gw-a.secret)`.
fn secret_file(dir: &Path, name: &str) -> String {
    let out = run(
        {
            let mut cmd = mosaic();
            cmd.args(["gateway", "secret"]);
            cmd
        },
        None,
    )
    .ok();
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path.to_str().unwrap().to_string()
}

#[test]
fn a_secret_kept_in_a_file_survives_restarts_and_a_new_secret_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gw-a");
    let file = secret_file(tmp.path(), "gw-a.secret");
    let (gw, _) = serve(&dir, &[("BETTER_AUTH_SECRET_FILE", &file)]).expect("first start");
    stop(gw);
    let ca = std::fs::read(dir.join("ca-key.sealed")).unwrap();
    let (gw, _) = serve(&dir, &[("BETTER_AUTH_SECRET_FILE", &file)]).expect("second start");
    stop(gw);

    // The README's old start command: a new secret each time.
    let other = secret_file(tmp.path(), "other.secret");
    let (code, stderr) = serve(&dir, &[("BETTER_AUTH_SECRET_FILE", &other)]).unwrap_err();
    assert_eq!(code, 2, "{stderr}");
    for words in [
        "ca-key.sealed",
        "does not open with this sealing secret",
        "the secret its data was created with",
        "BETTER_AUTH_SECRET_FILE",
        "nothing was changed",
    ] {
        assert!(stderr.contains(words), "{words:?} missing: {stderr}");
    }
    assert_eq!(std::fs::read(dir.join("ca-key.sealed")).unwrap(), ca);
    // And the data directory still opens with its own secret.
    let (gw, _) = serve(&dir, &[("BETTER_AUTH_SECRET_FILE", &file)]).expect("third start");
    stop(gw);
}

#[test]
fn the_secret_comes_from_one_place_and_a_readable_file_draws_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let file = secret_file(tmp.path(), "s");
    let (code, stderr) = serve(
        &tmp.path().join("d"),
        &[
            ("BETTER_AUTH_SECRET_FILE", &file),
            ("BETTER_AUTH_SECRET", SECRET),
        ],
    )
    .unwrap_err();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("both BETTER_AUTH_SECRET and BETTER_AUTH_SECRET_FILE are set"),
        "{stderr}"
    );
    assert!(!tmp.path().join("d").exists(), "nothing written: {stderr}");

    let empty = write_file(tmp.path(), "empty", "\n");
    let (code, stderr) = serve(
        &tmp.path().join("d"),
        &[("BETTER_AUTH_SECRET_FILE", empty.to_str().unwrap())],
    )
    .unwrap_err();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the file is empty"), "{stderr}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut cmd = mosaic();
        cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("d"))
            .env("BETTER_AUTH_SECRET_FILE", &file)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        stop(child);
        assert!(
            first.contains("warning:") && first.contains("readable by group or others"),
            "{first}"
        );
    }
}

#[test]
fn peer_add_reads_the_secret_file_of_the_enrolling_gateway() {
    let fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    let file = write_file(fed.state.path(), "gw-b.secret", &format!("{SECRET}\n"));
    let mut cmd = fed.b.mosaic();
    cmd.env("BETTER_AUTH_SECRET_FILE", &file)
        .env("MOSAIC_STATE_DIR", fed.state.path())
        .args([
            "federation",
            "peer",
            "add",
            &url,
            "--ca-fingerprint",
            &fp,
            "-o",
            "json",
        ]);
    let peer = run(cmd, None).ok().json();
    assert_eq!(peer["status"], "active");
    let out = fed
        .query(peer["id"].as_str().unwrap(), "tasks", &["-o", "json"])
        .ok();
    assert_eq!(out.json(), json!([]));
}

#[test]
fn a_wrong_scheme_names_the_scheme_the_gateway_speaks() {
    let tls = Gateway::start_tls();
    let plain_url = tls.url.replace("https://", "http://");
    let mut cmd = tls.mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &plain_url)
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(6);
    assert!(out.stderr.contains("speaks HTTPS"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("hint: use --gateway {}", tls.url)),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("invalid HTTP version"),
        "{}",
        out.stderr
    );

    let plain = Gateway::start();
    let tls_url = plain.url.replace("http://", "https://");
    let mut cmd = plain.mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &tls_url)
        .args(["federation", "grant", "list", "-o", "json"]);
    let out = run(cmd, None).code(6);
    let err = out.stderr_json();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("speaks plain HTTP"), "{err}");
    assert!(!message.contains("InvalidContentType"), "{err}");
    assert_eq!(
        err["error"]["hint"],
        format!("use --gateway {} (or MOSAIC_GATEWAY_URL)", plain.url)
    );
}

#[test]
fn peer_add_without_the_pin_names_the_fingerprint_and_the_unspent_token() {
    let fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    let out = fed.peer_add(&url, &[]).code(6);
    for words in [
        "issued by a CA this machine does not trust",
        "the granting gateway's own CA",
        "the token is unspent",
        "hint: run the same `peer add` again with --ca-fingerprint",
        "`grant token` printed",
    ] {
        assert!(out.stderr.contains(words), "{words:?}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("--cacert"), "{}", out.stderr);
    fed.peer_add(&url, &["--ca-fingerprint", &fp]).ok();
}

#[test]
fn a_wrong_fingerprint_reads_as_pinned_and_presented() {
    let fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let out = fed.peer_add(&url, &["--ca-fingerprint", &wrong]).code(7);
    assert!(
        out.stderr.contains(&format!(
            "presented CA {fp}, not the pinned CA {wrong} (--ca-fingerprint)"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the token is unspent"),
        "{}",
        out.stderr
    );
    for debug in ["OtherError", "PinNotInChain", "(Other("] {
        assert!(!out.stderr.contains(debug), "{}", out.stderr);
    }
    fed.peer_add(&url, &["--ca-fingerprint", &fp]).ok();
}

#[test]
fn not_found_names_the_gateway_asked_and_the_side_that_keeps_the_record() {
    let fed = Fed::start();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);

    let out = fed.a.run(&["federation", "peer", "test", &peer]).code(3);
    for words in [
        format!("no peer with ID {peer} on the gateway at {}", fed.a.url),
        "peers live on the enrolling gateway".to_string(),
    ] {
        assert!(out.stderr.contains(&words), "{words:?}: {}", out.stderr);
    }
    let out = fed
        .b
        .run(&["federation", "grant", "revoke", &grant, "-o", "json"])
        .code(3);
    let err = out.stderr_json();
    assert_eq!(err["error"]["code"], "not_found");
    assert_eq!(
        err["error"]["message"],
        format!("no grant with ID {grant} on the gateway at {}", fed.b.url)
    );
    assert!(
        err["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("grants live on the granting gateway"),
        "{err}"
    );
}

#[test]
fn a_revoked_grant_shows_on_the_peer_and_the_refusal_names_the_next_step() {
    let fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 1)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    fed.a
        .run(&["federation", "grant", "revoke", &grant, "--reason", "ended"])
        .ok();

    let out = fed.query(&peer, "tasks", &[]).code(5);
    assert!(out.stderr.contains("is revoked"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("ask the granting admin for a new grant")
            && out
                .stderr
                .contains(&format!("mosaic federation peer remove {peer}")),
        "{}",
        out.stderr
    );
    let peers = fed
        .b_run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(peers[0]["status"], "grant_revoked", "{peers}");
    let table = fed.b_run(&["federation", "peer", "list"]).ok();
    assert!(table.stdout.contains("grant_revoked"), "{}", table.stdout);
    // Recorded once, however often the peer is refused.
    fed.query(&peer, "tasks", &[]).code(5);
    let audit = fed
        .b_run(&[
            "federation",
            "audit",
            "list",
            "--action",
            "peer.grant_ended",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit[0]["detail"], "revoked");
    // The peer can still be removed, as the hint says.
    fed.b_run(&["federation", "peer", "remove", &peer]).ok();
}

#[test]
fn several_ids_in_one_variable_are_shown_escaped_and_nothing_is_sent() {
    let fed = Fed::start();
    let first = fed.enroll(&fed.grant(USER, SCOPE, &[]));
    let second = fed.enroll(&fed.grant(USER, SCOPE, &[]));
    let listed = fed.b_run(&["federation", "peer", "list", "-q"]).ok().stdout;
    // What `peer=$(mosaic federation peer list -q)` holds.
    let both = listed.trim_end();
    assert!(both.contains(&first) && both.contains(&second));
    let out = fed.b_run(&["federation", "peer", "test", both]).code(2);
    assert!(
        out.stderr.contains(&both.replace('\n', "\\n")),
        "the newline shown escaped: {}",
        out.stderr
    );
    assert!(out.stderr.contains("holds 2 lines"), "{}", out.stderr);
    assert!(
        out.stderr.contains("hint: pass one peer ID"),
        "{}",
        out.stderr
    );
    // The README's way: the ID that `peer add -q` printed.
    let (url, fp) = fed.token(&fed.grant(USER, SCOPE, &[]));
    let peer = fed
        .peer_add(&url, &["--ca-fingerprint", &fp, "-q"])
        .ok()
        .stdout
        .trim()
        .to_string();
    fed.b_run(&["federation", "peer", "test", &peer]).ok();
}

#[test]
fn the_smaller_things_read_as_what_to_type() {
    let gw = Gateway::start();
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_CACERT", "")
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(2);
    assert!(
        out.stderr
            .contains("MOSAIC_CACERT is set but empty (it stands for --cacert <FILE>)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("unset MOSAIC_CACERT"), "{}", out.stderr);

    let scope = write_file(gw.dir.parent().unwrap(), "scope.json", SCOPE);
    let create = |expires: &str| {
        gw.run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            scope.to_str().unwrap(),
            "--expires-in",
            expires,
        ])
        .code(2)
        .stderr
    };
    let bare = create("30");
    assert!(
        bare.contains("\"30\" has no unit: write 30d (days)"),
        "{bare}"
    );
    assert!(!bare.contains("30sec"), "{bare}");
    let month = create("1mo");
    assert!(month.contains("write 30d"), "{month}");
    assert!(!month.contains("supported units"), "{month}");

    let mut cmd = gw.mosaic();
    cmd.args(["federation", "data", "import", "tasks", "--user", "u", "-"]);
    let out = run(cmd, Some(&tasks("one", 1).to_string())).ok();
    assert!(
        out.stdout.contains("imported 1 row of tasks"),
        "{}",
        out.stdout
    );

    let help = run(
        {
            let mut cmd = mosaic();
            cmd.args(["gateway", "serve", "--help"]);
            cmd
        },
        None,
    )
    .ok()
    .stdout;
    for client_only in ["--jq", "--no-headers", "--output"] {
        assert!(!help.contains(client_only), "{client_only}: {help}");
    }
    assert!(help.contains("--data-dir"), "{help}");
}
