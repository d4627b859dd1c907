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
    let (id, url) = a.grant_with_token("user-7", "gw-b");
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

#[test]
fn peer_add_through_another_name_of_the_local_gateway_is_refused_by_its_ca() {
    use crate::common::standin::{StandIn, forward};
    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let (id, url) = a.grant_with_token("user-8", "gw-b");
    // A under another origin: a forwarder on another port (as a proxy or a public name
    // would be), so the URL alone does not give it away.
    let a_url = a.url.clone();
    let other_name = StandIn::start(move |req| forward(req, &a_url));
    let via_other = url.replace(&a.url, &other_name.url);
    assert_ne!(via_other, url);
    let peer_add = |gw: &Gateway, url: &str| {
        let mut cmd = gw.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "add", url, "-o", "json"]);
        run(cmd, None)
    };
    let out = peer_add(&a, &via_other).code(2);
    let message = out.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("the local gateway's own CA") && message.contains("token is unspent"),
        "{message}"
    );
    // Only the preview went through the forwarder: no CSR, no enrollment.
    assert!(
        other_name.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        other_name.requests()
    );
    let shown = a
        .run(&["federation", "grant", "show", &id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["tokens"][0]["state"], "unused");
    assert_eq!(a.run(&["federation", "peer", "list", "-q"]).ok().stdout, "");
    // The same URL through the forwarder works for the real enrolling gateway.
    let peer = peer_add(&b, &via_other).ok().json();
    assert_eq!(peer["status"], "active");
}

#[test]
fn an_answer_that_is_not_the_gateways_json_is_6_never_3() {
    use crate::cli::{always, html_reply, run_at};
    use crate::common::standin::StandIn;
    let no_endpoint = r#"{"error":{"code":"not_found","message":"no such endpoint"}}"#;
    // peer add: the enrollment endpoint answers 410 for an unknown token, never 404.
    let b = Gateway::start();
    for standin in [
        StandIn::start(|_| html_reply(404)),
        always(404, no_endpoint),
    ] {
        let enrollment_url = format!("{}/api/federation/enrollment/tok123", standin.url);
        let mut cmd = b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET).args([
            "federation",
            "peer",
            "add",
            &enrollment_url,
            "-o",
            "json",
        ]);
        let out = run(cmd, None).code(6);
        let err = out.stderr_json();
        assert_eq!(err["error"]["code"], "unreachable");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is the enrollment URL right?"),
            "{err}"
        );
        assert!(standin.requests().iter().all(|r| r.method == "GET"));
    }
    // Admin commands: a 404 from an endpoint every gateway has, or the "no such
    // endpoint" of a server that is not (this version of) the gateway, is 6.
    let s = always(404, no_endpoint);
    for args in [
        &["federation", "grant", "list"][..],
        &["federation", "peer", "list"],
        &["federation", "audit", "list"],
        &["federation", "grant", "show", "g1"],
        &["federation", "grant", "revoke", "g1", "--yes"],
    ] {
        let out = run_at(&s.url, args).code(6);
        assert!(
            out.stderr.contains("is --gateway right?"),
            "{args:?}: {out:?}"
        );
    }
    let s = StandIn::start(|_| html_reply(404));
    run_at(&s.url, &["federation", "grant", "list"]).code(6);
    // The gateway's own "no such grant" stays 3.
    let a = Gateway::start();
    let out = a
        .run(&["federation", "grant", "show", "no-such-grant"])
        .code(3);
    assert!(!out.stderr.contains("--gateway right"), "{out:?}");
}
