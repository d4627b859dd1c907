//! Slips the tool catches before they cost anything: a `--gateway` that points into the
//! API, and `peer add` run against the granting gateway itself.

use crate::common::{Gateway, SECRET, run};

#[test]
fn a_gateway_url_with_api_in_its_path_is_exit_2_naming_the_root() {
    let a = Gateway::start();
    for suffix in ["/api", "/api/", "/api/admin/federation"] {
        let mut cmd = a.mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", format!("{}{suffix}", a.url))
            .args(["federation", "grant", "list"]);
        let out = run(cmd, None).code(2);
        assert!(
            out.stderr
                .contains(&format!("without /api (try --gateway {})", a.url)),
            "{out:?}"
        );
        assert!(out.stdout.is_empty());
    }
    // A path prefix in front of the API is kept, and the root itself works.
    a.run(&["federation", "grant", "list"]).ok();
}

#[test]
fn peer_add_against_the_granting_gateway_itself_is_exit_2_and_the_token_stays_unspent() {
    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let id = a.grant("user-7", "gw-b")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = a
        .run(&["federation", "grant", "token", &id, "-q"])
        .ok()
        .stdout
        .trim_end()
        .to_string();
    let peer_add = |gw: &Gateway, url: &str| {
        let mut cmd = gw.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "add", url, "-q"]);
        run(cmd, None)
    };
    // The same gateway, by its own URL and by another loopback name.
    let localhost = url.replace("127.0.0.1", "localhost");
    for own in [url.as_str(), localhost.as_str()] {
        let out = peer_add(&a, own).code(2);
        assert!(
            out.stderr.contains("served by the local gateway"),
            "{out:?}"
        );
        assert!(out.stderr.contains("the token is unspent"), "{out:?}");
    }
    let status = a
        .run(&["federation", "grant", "show", &id, "--jq", ".status"])
        .ok()
        .stdout;
    assert_eq!(status, "pending\n");
    assert_eq!(a.run(&["federation", "peer", "list", "-q"]).ok().stdout, "");
    // The token was not spent: the right gateway enrolls with it.
    let peer_id = peer_add(&b, &url).ok().stdout;
    assert_eq!(peer_id.trim_end().len(), 36, "{peer_id}");
    let status = a
        .run(&["federation", "grant", "show", &id, "--jq", ".status"])
        .ok()
        .stdout;
    assert_eq!(status, "active\n");
}

/// Runs `mosaic gateway serve ARGS --data-dir DIR` expecting a refusal within 20 s;
/// returns (exit code, stderr).
fn serve_refused(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut cmd = crate::common::mosaic();
    cmd.args(["gateway", "serve"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("BETTER_AUTH_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started with {args:?} although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The names and sizes of the entries of a directory, sorted.
fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut entries: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn gateway_serve_with_a_bad_flag_or_a_busy_port_leaves_no_data_directory_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--listen", "127.0.0.1:99999"],
            "cannot listen on 127.0.0.1:99999",
        ),
        (
            &["--listen", "localhost:port"],
            "cannot listen on localhost:port",
        ),
        (
            &["--listen", &busy_addr],
            &format!("cannot listen on {busy_addr}"),
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--public-url",
                "ftp://gw.example",
            ],
            "--public-url",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--tls",
                "--tls-cert",
                "/nonexistent/cert.pem",
                "--tls-key",
                "/nonexistent/key.pem",
            ],
            "--tls-cert /nonexistent/cert.pem",
        ),
        (&["--listen", "0.0.0.0:0"], "pass --public-url"),
    ];
    for (i, (args, says)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("data-{i}"));
        let (code, stderr) = serve_refused(args, &dir);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!dir.exists(), "{args:?} left {} behind", dir.display());
    }
    // An existing data directory is left exactly as it was.
    let gw = {
        let mut gw = Gateway::start();
        gw.stop();
        gw
    };
    let before = listing(&gw.dir);
    assert!(
        before.iter().any(|(name, _)| name == "ca.pem"),
        "{before:?}"
    );
    let (code, stderr) = serve_refused(&["--listen", &busy_addr], &gw.dir);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(listing(&gw.dir), before);
    drop(busy);
}

#[test]
fn gateway_serve_on_an_unspecified_address_needs_a_public_url() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let dir = tmp.path().join("refused");
        let (code, stderr) = serve_refused(&["--listen", listen], &dir);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("unspecified address") && stderr.contains("--public-url"),
            "{stderr}"
        );
        assert!(!dir.exists());
    }
    // With --public-url it starts, and hands out enrollment URLs under that URL.
    let dir = tmp.path().join("data");
    let mut cmd = crate::common::mosaic();
    cmd.args(["gateway", "serve", "--listen", "0.0.0.0:0", "--public-url"])
        .arg("http://127.0.0.1:1")
        .arg("--data-dir")
        .arg(&dir)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_ADMIN_TOKEN", "adm-0123456789abcdef")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut banner = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    while !banner.contains("listening on") {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.contains("enrollment URLs under: http://127.0.0.1:1\n"),
        "{banner}"
    );
    assert!(banner.contains("listening on http://0.0.0.0:"), "{banner}");
}
