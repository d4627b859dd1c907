//! The gateway's own HTTPS (a certificate from files, trusted with `--cacert` or
//! `MOSAIC_CACERT`) and `data import` on it: rows checked, imports idempotent.

use mosaic::crypto::ca::CertificateAuthority;
use serde_json::json;

use crate::common::{Gateway, SECRET, run, write_file};
use crate::dataplane::*;

#[test]
fn a_server_certificate_from_files_is_served_with_a_warning_about_peers() {
    let files = tempfile::tempdir().unwrap();
    let other = CertificateAuthority::generate("another CA", time::Duration::days(1)).unwrap();
    let leaf = other
        .issue_server(&["127.0.0.1".to_string()], time::Duration::days(1))
        .unwrap();
    let chain = format!("{}{}", pem("CERTIFICATE", &leaf.der), other.cert_pem());
    let cert = write_file(files.path(), "chain.pem", &chain);
    let key = write_file(
        files.path(),
        "key.pem",
        &pem("PRIVATE KEY", &leaf.key_pkcs8_der),
    );
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    // The harness trusts the chain's CA (MOSAIC_CACERT) and checks health through it.
    let gw = Gateway::start_at("127.0.0.1:0", &["--tls-cert", cert, "--tls-key", key]);
    assert!(gw.url.starts_with("https://"));
    gw.run(&["federation", "grant", "list"]).ok();
    assert!(
        gw.log().contains("does not end at this gateway's CA"),
        "{}",
        gw.log()
    );
    // The gateway's own CA does not verify this server certificate.
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_CACERT", gw.dir.join("ca.pem"))
        .args(["federation", "grant", "list"]);
    run(cmd, None).code(6);

    // Unusable files stop the start-up with one line naming the flag; half a pair is usage.
    for args in [
        vec!["--tls-cert", "/nonexistent/chain.pem", "--tls-key", key],
        vec!["--tls-cert", key, "--tls-key", key],
        vec!["--tls-cert", cert],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = crate::common::mosaic();
        cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            // A directory the gateway makes (0700): a temp dir itself is 0755, refused.
            .arg(dir.path().join("data"))
            .args(&args)
            .env("BETTER_AUTH_SECRET", SECRET);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.contains("--tls-"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn cacert_flag_and_env_trust_a_tls_gateway() {
    let gw = Gateway::start_tls();
    gw.run(&["federation", "grant", "list"]).ok();
    let ca = gw.dir.join("ca.pem");
    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_CACERT")
        .args(["federation", "grant", "list", "--cacert"])
        .arg(&ca);
    run(cmd, None).ok();
    let mut cmd = gw.mosaic();
    cmd.env_remove("MOSAIC_CACERT")
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(6);
    assert!(out.stderr.contains("--cacert"), "{}", out.stderr);
}

#[test]
fn data_import_checks_rows_and_is_idempotent() {
    let gw = Gateway::start();
    let import = |resource: &str, rows: &str| {
        let mut cmd = gw.mosaic();
        cmd.args([
            "federation",
            "data",
            "import",
            resource,
            "--user",
            USER,
            "-",
        ]);
        run(cmd, Some(rows))
    };
    let cases = [
        (
            "tasks",
            r#"[{"id": "t1", "title": "a", "status": "open", "colour": "red"}]"#,
            "items[0].colour",
        ),
        (
            "tasks",
            r#"[{"id": "t1", "status": "open"}]"#,
            "items[0].title",
        ),
        (
            "notes",
            r#"[{"id": 5, "title": "a", "body": "b"}]"#,
            "items[0].id",
        ),
        (
            "tasks",
            r#"[{"id": "t1", "title": "a", "status": "open", "due_at": "tomorrow"}]"#,
            "items[0].due_at",
        ),
        ("users", r#"{"id": "u"}"#, "JSON array"),
        (
            "teams",
            r#"[{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]"#,
            "twice",
        ),
    ];
    for (resource, rows, named) in cases {
        let out = import(resource, rows).code(2);
        assert!(out.stderr.contains(named), "{named}: {}", out.stderr);
    }
    import("widgets", "[]").code(2);
    let (status, body) = gw.request(
        "POST",
        "/api/admin/federation/data/widgets",
        Some(&json!({"user_id": USER, "items": []})),
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_request"))
    );

    let rows = r#"[{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]"#;
    for _ in 0..2 {
        let out = import("teams", &format!("{rows}\n")).ok();
        assert!(
            out.stdout
                .contains("imported 2 rows of teams for user user-7"),
            "{}",
            out.stdout
        );
    }
    let db = rusqlite::Connection::open(gw.dir.join("gateway.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM resource_rows WHERE resource = 'teams'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2, "idempotent by id");
    let audit = gw
        .run(&[
            "federation",
            "audit",
            "list",
            "--action",
            "data.imported",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(audit.as_array().unwrap().len(), 2);

    // Over plain HTTP there is no client certificate: the data plane says so.
    let (status, body) = crate::common::http(
        "GET",
        &format!("{}/api/federation/v1/whoami", gw.url),
        None,
        None,
    );
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("certificate_required"))
    );
}
