//! The gateway as a process: what it refuses to start with, what its first start leaves
//! in the data directory, what it prints, and that a `kill -9` loses nothing and SIGTERM
//! stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Gateway, SECRET, http, mosaic};
use crate::fixtures::*;

/// Runs `mosaic gateway serve` expecting it to refuse to start; returns (exit code, stderr).
fn refused_start(envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        !dir.path().join("data").exists(),
        "a refused start must leave no data directory behind"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_to_start_without_a_long_enough_secret() {
    let (code, stderr) = refused_start(&[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("BETTER_AUTH_SECRET"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let (code, stderr) = refused_start(&[("BETTER_AUTH_SECRET", "too-short-secret")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("too-short-secret"),
        "the secret leaked: {stderr}"
    );
}

#[test]
fn refuses_a_short_admin_token() {
    let (code, stderr) = refused_start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("MOSAIC_ADMIN_TOKEN", "short"),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("MOSAIC_ADMIN_TOKEN"), "{stderr}");
    assert!(
        !stderr.contains("short\n") && !stderr.contains("\"short\""),
        "{stderr}"
    );
}

/// The documented minimum is 16 characters after trimming: 16 starts and authenticates,
/// 15 (also when padded with spaces to 17) is refused with exit 2 and not echoed.
#[test]
fn an_admin_token_of_exactly_16_characters_is_the_shortest_accepted() {
    let token = "0123456789abcdef";
    assert_eq!(token.len(), 16);
    let gw = Gateway::start_with_admin_token(token);
    let (status, _) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 200, "the 16-character token authenticates");
    let (status, body) = http(
        "GET",
        &format!("{}{GRANTS}", gw.url),
        Some(&token[1..]),
        None,
    );
    assert_error(status, &body, 401, "unauthorized");

    for short in ["123456789abcdef", " 123456789abcdef "] {
        let (code, stderr) = refused_start(&[
            ("BETTER_AUTH_SECRET", SECRET),
            ("MOSAIC_ADMIN_TOKEN", short),
        ]);
        assert_eq!(code, 2, "{short:?}: {stderr}");
        assert_eq!(
            stderr.trim(),
            "error: cannot start the gateway: MOSAIC_ADMIN_TOKEN is shorter than 16 \
             characters: use a long random value (or, without --database-url, unset it to \
             have one generated)",
            "{short:?}"
        );
    }
}

#[test]
fn first_start_makes_a_private_data_dir_admin_token_and_ca() {
    let gw = Gateway::start_generating_token();
    assert!(gw.admin_token.len() >= 32, "a generated token has 256 bits");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&gw.dir), 0o700);
        for f in ["admin-token", "ca-key.sealed", "ca.pem", "gateway.db"] {
            assert_eq!(mode(&gw.dir.join(f)), 0o600, "{f}");
        }
    }
    let sealed = std::fs::read_to_string(gw.dir.join("ca-key.sealed")).unwrap();
    assert!(
        sealed.starts_with("mosaic-sealed-v1:"),
        "the CA key is sealed: {sealed}"
    );
    assert!(!sealed.contains("PRIVATE KEY"));
    let (status, _) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 200, "the generated token works");
    assert!(
        !gw.log().contains(&gw.admin_token),
        "the generated token is never printed"
    );
}

#[test]
fn health_answers_and_stdout_names_the_address() {
    let gw = Gateway::start();
    let (status, body) = http("GET", &format!("{}/api/health", gw.url), None, None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert!(gw.log().contains(&format!("listening on {}", gw.url)));
}

#[test]
fn kill9_and_restart_loses_nothing() {
    let mut gw = Gateway::start_generating_token();
    let token_before = gw.admin_token.clone();

    let pending = create_grant(&gw);
    let unused = issue_token(&gw, pending["id"].as_str().unwrap(), None);
    let active = create_grant(&gw);
    let t = issue_token(&gw, active["id"].as_str().unwrap(), None);
    let (_, csr) = p256_csr();
    let (status, enrolled) = enroll(&url_of(&t), &csr);
    assert_eq!(status, 200, "{enrolled}");
    let revoked = create_grant(&gw);
    let (status, _) = gw.request(
        "PATCH",
        &format!("{GRANTS}/{}/revoke", revoked["id"].as_str().unwrap()),
        Some(&json!({"reason": "r"})),
    );
    assert_eq!(status, 200);
    let peer_id = format!("peer-{}", crate::common::uuid_like());
    let (status, _) = gw.request(
        "POST",
        &format!("{PEERS}/keypair"),
        Some(&crate::peers::keypair_body(&peer_id).0),
    );
    assert_eq!(status, 201);

    let grants_before = list_all(&gw, GRANTS, 100);
    let peers_before = list_all(&gw, PEERS, 100);
    let audit_before = list_all(&gw, AUDIT, 100);
    let ca_before = std::fs::read(gw.dir.join("ca.pem")).unwrap();

    gw.kill9_and_restart();

    assert_eq!(gw.admin_token, token_before, "the admin token file is kept");
    assert_eq!(list_all(&gw, GRANTS, 100), grants_before);
    assert_eq!(list_all(&gw, PEERS, 100), peers_before);
    assert_eq!(list_all(&gw, AUDIT, 100), audit_before);
    assert_eq!(std::fs::read(gw.dir.join("ca.pem")).unwrap(), ca_before);
    for g in &grants_before {
        if g["status"] == "active" {
            assert!(
                g["peer_cert_fingerprint"].is_string(),
                "active without a certificate: {g}"
            );
        }
    }

    // The unused token survived too, and the CA behind it is the same.
    let (status, preview) = http("GET", &url_of(&unused), None, None);
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["ca_certificate_pem"].as_str().unwrap().as_bytes(),
        &ca_before[..]
    );
    let (_, csr) = p256_csr();
    let (status, body) = enroll(&url_of(&unused), &csr);
    assert_eq!(status, 200, "{body}");
    let again = issue_token(&gw, create_grant(&gw)["id"].as_str().unwrap(), Some(5));
    assert_eq!(
        again["ca_fingerprint"], unused["ca_fingerprint"],
        "same CA after restart"
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = mosaic()
        .args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("BETTER_AUTH_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the gateway exited early"
        );
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// Runs `mosaic gateway serve` on the existing data directory `dir`, expecting it to
/// refuse to start; returns (exit code, stderr).
fn refused_start_in(dir: &std::path::Path) -> (i32, String) {
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env_remove("MOSAIC_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A private, empty data directory in a temp dir.
#[cfg(unix)]
fn private_dir(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[cfg(unix)]
#[test]
fn a_short_admin_token_file_is_refused_as_the_environment_s_is() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = private_dir(&tmp);
    let file = dir.join("admin-token");
    for short in ["x\n", "123456789abcdef\n", "  123456789abcdef  \n"] {
        std::fs::write(&file, short).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (code, stderr) = refused_start_in(&dir);
        assert_eq!(code, 2, "{short:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains("admin-token") && stderr.contains("fewer than 16 characters"),
            "{stderr}"
        );
        assert!(!stderr.contains(short.trim()), "the token leaked: {stderr}");
    }
    // Nothing else was made.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["admin-token"]);
}

#[cfg(unix)]
#[test]
fn a_data_directory_others_can_read_is_refused_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = private_dir(&tmp);
    for mode in [0o755, 0o750, 0o701] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, stderr) = refused_start_in(&dir);
        assert_eq!(code, 2, "{mode:o}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&format!("chmod 700 {}", dir.display())),
            "{stderr}"
        );
        // Nothing changed: still empty, mode as it was.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{mode:o}");
        let now = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(now, mode);
    }
}
