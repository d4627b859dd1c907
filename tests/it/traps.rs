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
