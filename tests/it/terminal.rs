//! Nothing a gateway or a stored record says can drive the operator's terminal: control
//! and bidi characters are escaped in tables, progress lines and errors (one line each),
//! JSON output stays exact, and the gateway refuses them (and URL userinfo) on the way in.

use serde_json::{Value, json};

use crate::common::standin::{Reply, StandIn};
use crate::common::{Gateway, SECRET, SEED_SCOPE, mosaic, run, write_file};

/// Retitles the window, rings the bell, clears the screen, breaks the line and reverses
/// what follows.
const NASTY: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\nline2\u{202e}txt.exe\u{9b}31m";

#[track_caller]
fn assert_terminal_safe(text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}', '\r'] {
        assert!(
            !text.contains(bad),
            "{bad:?} reached the terminal: {text:?}"
        );
    }
}

/// A stand-in granting gateway whose preview carries escapes in every text field it
/// shows, and whose enrollment answer is an error message with escapes and a newline.
fn escaping_a() -> StandIn {
    let ca =
        mosaic::crypto::ca::CertificateAuthority::generate("A", time::Duration::days(3)).unwrap();
    let ca_pem = ca.cert_pem().to_string();
    StandIn::start(move |req| {
        if req.method == "GET" {
            return Reply::json(
                200,
                &json!({"grant_id": format!("g-{NASTY}"), "subject_user_id": format!("u-{NASTY}"),
                    "peer_id": format!("p-{NASTY}"),
                    "scope": serde_json::from_str::<Value>(SEED_SCOPE).unwrap(),
                    "expires_at": "2099-01-01T00:00:00Z", "ca_certificate_pem": ca_pem}),
            );
        }
        Reply::json(
            409,
            &json!({"error": {"code": "conflict", "message": format!("grant {NASTY} is active")}}),
        )
    })
}

#[test]
fn peer_add_escapes_what_the_granting_gateway_says() {
    let a = escaping_a();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let url = format!("{}/api/federation/enrollment/tok-1", a.url);
    let peer_add = |json: bool| {
        let mut cmd = b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "add", &url]);
        if json {
            cmd.args(["-o", "json"]);
        }
        run(cmd, None)
    };

    let out = peer_add(false).code(4);
    assert_terminal_safe(&out.stderr);
    assert_terminal_safe(&out.stdout);
    // The preview line names the user, escaped, on one line.
    let preview: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("preview:"))
        .collect();
    assert_eq!(preview.len(), 1, "{out:?}");
    assert!(
        preview[0].contains(r"u-x\x1b]0;pwned\x07\x1b[2J\nline2\u{202e}txt.exe\x9b31m"),
        "{out:?}"
    );
    // The error is one line, the gateway's message escaped in it.
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].contains(r"\x1b[2J\nline2"), "{out:?}");
    assert!(
        !out.stderr.lines().any(|l| l.starts_with("line2")),
        "{out:?}"
    );

    // JSON keeps the message exact (JSON escapes it itself).
    let out = peer_add(true).code(4);
    assert_terminal_safe(&out.stderr);
    let message = out.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(NASTY), "{message:?}");
}

/// A record stored before the gateway refused such text (or by another implementation)
/// is shown escaped by `grant show`, `grant list` and `audit list`.
#[test]
fn stored_records_are_shown_escaped_in_tables_and_exact_in_json() {
    let real = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let scope = write_file(dir.path(), "scope.json", SEED_SCOPE);
    let grant = real
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u-1",
            "--peer",
            "gw-b",
            "--scope",
            scope.to_str().unwrap(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    let id = grant["id"].as_str().unwrap().to_string();
    real.run(&["federation", "grant", "revoke", &id, "--reason", "done"])
        .ok();
    let (_, mut shown) = real.request("GET", &format!("/api/admin/federation/grants/{id}"), None);
    shown["revoked_reason"] = json!(NASTY);
    shown["user_id"] = json!(format!("u-{NASTY}"));
    let (_, mut audit) = real.request("GET", "/api/admin/federation/audit", None);
    for item in audit["items"].as_array_mut().unwrap() {
        item["detail"] = json!(NASTY);
    }
    let list = json!({"items": [shown.clone()], "next_cursor": null});
    let standin = StandIn::start(move |req| {
        if req.path.starts_with("/api/admin/federation/audit") {
            Reply::json(200, &audit)
        } else if req.path.starts_with("/api/admin/federation/grants?") {
            Reply::json(200, &list)
        } else {
            Reply::json(200, &shown)
        }
    });
    for args in [
        vec!["federation", "grant", "show", id.as_str()],
        vec!["federation", "grant", "list"],
        vec!["federation", "audit", "list"],
    ] {
        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &standin.url)
            .env("MOSAIC_ADMIN_TOKEN", "adm-x")
            .args(&args);
        let out = run(cmd, None).ok();
        assert_terminal_safe(&out.stdout);
        assert!(
            out.stdout.contains(r"\x1b]0;pwned\x07"),
            "{args:?}: {out:?}"
        );
        assert!(
            !out.stdout.lines().any(|l| l.starts_with("line2")),
            "{out:?}"
        );

        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &standin.url)
            .env("MOSAIC_ADMIN_TOKEN", "adm-x")
            .args(&args)
            .args(["-o", "json"]);
        let out = run(cmd, None).ok();
        assert!(
            out.json()
                .to_string()
                .contains(&json!(NASTY).to_string()[1..20]),
            "{out:?}"
        );
    }
}

#[test]
fn the_gateway_refuses_control_characters_and_url_userinfo() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let scope = write_file(dir.path(), "scope.json", SEED_SCOPE);
    let grant = gw
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u-1",
            "--peer",
            "gw-b",
            "--scope",
            scope.to_str().unwrap(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    let id = grant["id"].as_str().unwrap();
    for reason in ["a\u{1b}[2Jb", "line\nbreak", "rev\u{202e}erse"] {
        let out = gw
            .run(&["federation", "grant", "revoke", id, "--reason", reason])
            .code(2);
        assert!(out.stderr.contains("reason must not contain"), "{out:?}");
        assert_terminal_safe(&out.stderr);
    }
    for user in ["u\u{202e}1", "u\u{7}"] {
        let out = gw
            .run(&[
                "federation",
                "grant",
                "create",
                "--user",
                user,
                "--peer",
                "gw-b",
                "--scope",
                scope.to_str().unwrap(),
            ])
            .code(2);
        assert!(out.stderr.contains("user_id must not contain"), "{out:?}");
    }
    // Nothing was changed by the refusals.
    let shown = gw
        .run(&["federation", "grant", "show", id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["status"], "pending");

    // A remote_url with a user name or password, or a tab, is refused.
    let key = mosaic::crypto::keys::PeerKey::generate().unwrap();
    let sealer = mosaic::crypto::seal::SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    for remote in ["https://user:pw@a.example", "https://a.exa\tmple"] {
        let peer_id = crate::common::uuid_like();
        let body = json!({"id": peer_id, "name": "a", "remote_url": remote,
            "csr_pem": key.csr_pem("x").unwrap(),
            "sealed_private_key": sealer.seal_peer_key(&peer_id, key.pkcs8_der())});
        let (status, answer) =
            gw.request("POST", "/api/admin/federation/peers/keypair", Some(&body));
        assert_eq!(status, 400, "{remote}: {answer}");
        assert!(answer.to_string().contains("remote_url"), "{answer}");
    }

    // --public-url with userinfo: the gateway does not start.
    let data = tempfile::tempdir().unwrap();
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--public-url", "https://user:pw@a.example"])
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_ADMIN_TOKEN", "adm-x");
    let out = run(cmd, None).code(2);
    assert!(out.stderr.contains("user name or password"), "{out:?}");
    assert!(!out.stderr.contains("pw@"), "{out:?}");
}
