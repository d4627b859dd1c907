//! Operator views through the CLI: `audit list`, the token history of `grant show`, and
//! grants that expire by themselves (`grant create --expires-in`).

use std::time::Duration;

use serde_json::Value;

use crate::common::{Gateway, SECRET, SEED_SCOPE, run, write_file};

fn create(gw: &Gateway, dir: &std::path::Path, extra: &[&str]) -> String {
    let scope = write_file(dir, "scope.json", SEED_SCOPE);
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    gw.run(&args).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn token(gw: &Gateway, grant: &str, ttl: &str) -> Value {
    gw.run(&[
        "federation",
        "grant",
        "token",
        grant,
        "--ttl",
        ttl,
        "-o",
        "json",
    ])
    .ok()
    .json()
}

#[test]
fn audit_token_history_and_expiry_through_the_cli() {
    let a = Gateway::start();
    let b = Gateway::start();
    let dir = tempfile::tempdir().unwrap();

    // Grant 1: one token redeemed by a real enrollment, one left unused, one expired.
    let g1 = create(&a, dir.path(), &[]);
    let short = token(&a, &g1, "1");
    let unused = token(&a, &g1, "900");
    let redeemed = token(&a, &g1, "900");
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", dir.path())
        .args([
            "federation",
            "peer",
            "add",
            redeemed["enrollment_url"].as_str().unwrap(),
            "-o",
            "json",
        ]);
    let peer = run(cmd, None).ok().json();
    // A second use of the spent token is refused (a preview is not an enrollment, so this
    // POSTs a CSR directly) and audited.
    let csr = mosaic::crypto::keys::PeerKey::generate()
        .unwrap()
        .csr_pem("late")
        .unwrap();
    let (status, _) = crate::common::http(
        "POST",
        redeemed["enrollment_url"].as_str().unwrap(),
        None,
        Some(&serde_json::json!({ "csr_pem": csr })),
    );
    assert_eq!(status, 410);

    // Grant 2 expires by itself; grant 3 is revoked with a reason.
    let g2 = create(&a, dir.path(), &["--expires-in", "2s"]);
    let g3 = create(&a, dir.path(), &[]);
    a.run(&[
        "federation",
        "grant",
        "revoke",
        &g3,
        "--reason",
        "contract ended",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(2100));

    // Token history: one of each state, none showing the token itself.
    let shown = a
        .run(&["federation", "grant", "show", &g1, "-o", "json"])
        .ok();
    for t in [&short, &unused, &redeemed] {
        assert!(
            !shown.stdout.contains(t["token"].as_str().unwrap()),
            "a token is shown again"
        );
    }
    let tokens = shown.json()["tokens"].as_array().unwrap().clone();
    let states: Vec<&str> = tokens
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["expired", "unused", "redeemed"], "{tokens:?}");
    assert_eq!(tokens[2]["cert_fingerprint"], peer["cert_fingerprint"]);
    assert!(tokens[2]["redeemed_at"].is_string() && tokens[1]["redeemed_at"].is_null());
    for t in &tokens {
        assert!(t["handle"].as_str().is_some_and(|h| !h.is_empty()));
        assert!(t["issued_at"].is_string() && t["expires_at"].is_string());
    }
    let table = a.run(&["federation", "grant", "show", &g1]).ok().stdout;
    assert!(
        table.contains("Tokens:") && table.contains("redeemed") && table.contains("unused"),
        "{table}"
    );

    // --expires-in reached: the grant reads expired and takes no token.
    let expired = a
        .run(&["federation", "grant", "show", &g2, "-o", "json"])
        .ok()
        .json();
    assert_eq!(expired["status"], "expired");
    a.run(&["federation", "grant", "token", &g2]).code(4);

    // The audit log has every event type, with the details an operator needs.
    let entries = a
        .run(&["federation", "audit", "list", "-o", "json"])
        .ok()
        .json();
    let entries = entries.as_array().unwrap();
    let find = |action: &str, grant: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["grant_id"] == grant)
            .unwrap_or_else(|| panic!("no {action} for {grant} in {entries:#?}"))
            .clone()
    };
    find("grant.created", &g1);
    find("token.issued", &g1);
    let activated = find("grant.activated", &g1);
    assert!(
        activated["detail"]
            .as_str()
            .unwrap()
            .contains(peer["cert_fingerprint"].as_str().unwrap())
    );
    let refused = find("enrollment.refused", &g1);
    assert!(refused["detail"].is_string());
    assert_eq!(find("grant.revoked", &g3)["detail"], "contract ended");
    find("grant.expired", &g2);
    for e in entries {
        assert!(e["at"].is_string() && e["id"].is_string(), "{e}");
        let text = e.to_string();
        assert!(
            !text.contains(redeemed["token"].as_str().unwrap()),
            "a token in the audit log"
        );
    }

    // Filters: --grant and --since.
    let only = a
        .run(&["federation", "audit", "list", "--grant", &g3, "-o", "json"])
        .ok()
        .json();
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|e| e["grant_id"] == g3.as_str())
    );
    assert_eq!(
        only.as_array().unwrap().len(),
        2,
        "created and revoked: {only}"
    );
    let future = a
        .run(&[
            "federation",
            "audit",
            "list",
            "--since",
            "2099-01-01T00:00:00Z",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(future, Value::Array(vec![]));
    let recent = a
        .run(&["federation", "audit", "list", "--since", "1h", "-o", "json"])
        .ok()
        .json();
    assert_eq!(recent.as_array().unwrap().len(), entries.len());
    a.run(&["federation", "audit", "list", "--since", "yesterday-ish"])
        .code(2);
    a.run(&["federation", "audit", "list", "--action", "grant.exploded"])
        .code(2);
    let table = a
        .run(&["federation", "audit", "list", "--action", "grant.revoked"])
        .ok()
        .stdout;
    assert!(
        table.contains("contract ended") && !table.contains("grant.created"),
        "{table}"
    );
}
