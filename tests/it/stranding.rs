//! No enrollment strands: `peer add` killed with SIGKILL at many points, through loopback
//! forwarders that delay every answer, then `peer finish` on every pending peer: no grant
//! active on A without its certificate active on B, no token spent without a certificate
//! stored on B, every peer active with a sealed key that matches its certificate. And a
//! state directory that cannot take a file (under a file, or on a full disk) stops `peer add` before the token is spent.

use std::process::Stdio;
use std::time::Duration;

use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::seal::SealingSecret;
use serde_json::Value;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::common::standin::{StandIn, forward};
use crate::common::{Gateway, SECRET, SEED_SCOPE, run, write_file};

/// Kills tried: bounded, so that the test stays a few seconds long.
const KILLS: u64 = 40;
/// Each answer through a forwarder waits this long, so that kills land mid-request too.
const DELAY: Duration = Duration::from_millis(25);

fn slow_forwarder(to: &str) -> StandIn {
    let to = to.to_string();
    StandIn::start(move |req| {
        std::thread::sleep(DELAY);
        forward(req, &to)
    })
}

fn grant_with_token(a: &Gateway, scope: &str) -> (String, String) {
    let grant = a
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            "user-7",
            "--peer",
            "gw-b",
            "--scope",
            scope,
            "-o",
            "json",
        ])
        .ok()
        .json();
    let id = grant["id"].as_str().unwrap().to_string();
    let token = a
        .run(&["federation", "grant", "token", &id, "-o", "json"])
        .ok()
        .json();
    (id, token["enrollment_url"].as_str().unwrap().to_string())
}

fn list(gw: &Gateway, what: &str) -> Vec<Value> {
    gw.run(&["federation", what, "list", "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn peer_add_killed_at_any_point_strands_no_grant() {
    let a = Gateway::start();
    let b = Gateway::start();
    let slow_a = slow_forwarder(&a.url);
    let slow_b = slow_forwarder(&b.url);
    let state = tempfile::tempdir().unwrap();
    let scope = write_file(state.path(), "scope.json", SEED_SCOPE);
    let scope = scope.to_str().unwrap();

    let mut grant_ids = Vec::new();
    let mut finished_by_itself = 0;
    for i in 0..KILLS {
        let (grant_id, url) = grant_with_token(&a, scope);
        grant_ids.push(grant_id);
        let url = url.replace(&a.url, &slow_a.url);
        let mut cmd = b.mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &slow_b.url)
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "add", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // Spread over 2..=250 ms, with a step that is not a multiple of the delay.
        std::thread::sleep(Duration::from_millis(2 + (i * 37) % 249));
        match child.try_wait().unwrap() {
            Some(_) => finished_by_itself += 1,
            None => {
                child.kill().unwrap();
            }
        }
        child.wait().unwrap();
    }

    let pending: Vec<String> = list(&b, "peer")
        .iter()
        .filter(|p| p["status"] == "pending")
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for id in &pending {
        let mut cmd = b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path())
            .args(["federation", "peer", "finish", id]);
        run(cmd, None).ok();
    }

    // B: nothing pending, every active peer's sealed key is its certificate's key.
    let peers = list(&b, "peer");
    assert!(peers.iter().all(|p| p["status"] == "active"), "{peers:?}");
    let db = rusqlite::Connection::open_with_flags(
        b.dir.join("gateway.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let secret = SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    for p in &peers {
        let id = p["id"].as_str().unwrap();
        let (sealed, cert_pem): (String, String) = db
            .query_row(
                "SELECT sealed_private_key, certificate_pem FROM peers WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let key = PeerKey::from_pkcs8_der(&secret.open_peer_key(id, &sealed).unwrap()).unwrap();
        let der = mosaic::crypto::verify::single_pem_der(&cert_pem, "certificate").unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.public_key().raw, key.spki_der(), "peer {id}");
        assert_eq!(p["cert_fingerprint"], mosaic::crypto::fingerprint(&der));
    }

    // A: every active grant's certificate is active on B; every other grant's token is
    // unspent.
    let grants = list(&a, "grant");
    let mut active = 0;
    for id in &grant_ids {
        let g = grants.iter().find(|g| &g["id"] == id).unwrap();
        let on_b: Vec<&Value> = peers.iter().filter(|p| &p["grant_id"] == id).collect();
        let shown = a
            .run(&["federation", "grant", "show", id, "-o", "json"])
            .ok()
            .json();
        let spent = shown["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["state"] == "redeemed");
        if g["status"] == "active" {
            active += 1;
            assert!(spent);
            assert_eq!(on_b.len(), 1, "grant {id} stranded: {on_b:?}");
            assert_eq!(on_b[0]["cert_fingerprint"], g["peer_cert_fingerprint"]);
        } else {
            assert_eq!(g["status"], "pending", "{g}");
            assert!(!spent, "grant {id}: token spent without a certificate on B");
            assert!(on_b.is_empty(), "{on_b:?}");
        }
    }
    // No certificate left behind in the state directory (a write probe killed mid-way is
    // removed by a later run).
    let leftovers: Vec<_> = std::fs::read_dir(state.path().join("enrollments"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".probe-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let repeated = a
        .run(&[
            "federation",
            "audit",
            "list",
            "--action",
            "enrollment.repeated",
            "-o",
            "json",
        ])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .len();
    eprintln!(
        "stranding: {KILLS} runs, {} killed, {finished_by_itself} finished by themselves, \
         {} pending peers finished ({repeated} by asking A again for a spent token), \
         {active} grants active, 0 stranded",
        KILLS - finished_by_itself,
        pending.len()
    );
    assert!(
        !pending.is_empty(),
        "no kill landed mid-enrollment: the test proved nothing"
    );
}

#[test]
fn an_unusable_state_directory_stops_peer_add_before_the_token_is_spent() {
    let a = Gateway::start();
    let b = Gateway::start();
    let tmp = tempfile::tempdir().unwrap();
    let scope = write_file(tmp.path(), "scope.json", SEED_SCOPE);
    let (grant_id, url) = grant_with_token(&a, scope.to_str().unwrap());
    // A state directory under a file cannot exist.
    let file = write_file(tmp.path(), "a-file", "x");
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", file.join("state"))
        .args(["federation", "peer", "add", &url]);
    let out = run(cmd, None).code(2);
    assert!(out.stderr.contains("state directory"), "{out:?}");
    assert!(out.stderr.contains("the token is unspent"), "{out:?}");
    assert!(list(&b, "peer").is_empty());
    // Not spent: the same URL enrolls once the directory is usable.
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", tmp.path().join("state"))
        .args(["federation", "peer", "add", &url, "-o", "json"]);
    let peer = run(cmd, None).ok().json();
    assert_eq!(peer["status"], "active");
    assert_eq!(peer["grant_id"].as_str(), Some(grant_id.as_str()));
}

/// A full disk under the state directory (a 16 KiB tmpfs, filled, in a private mount
/// namespace made with `unshare`): `peer add` stops before the token is spent, says so,
/// and stores no peer; the same URL then enrolls with room to write.
#[test]
fn a_full_state_directory_stops_peer_add_before_the_token_is_spent() {
    let a = Gateway::start();
    let b = Gateway::start();
    let tmp = tempfile::tempdir().unwrap();
    let scope = write_file(tmp.path(), "scope.json", SEED_SCOPE);
    let (grant_id, url) = grant_with_token(&a, scope.to_str().unwrap());
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    // Mount a tiny tmpfs over `full`, fill it to the last byte, then run `peer add` with
    // its state directory there. The mount lives only in this process's namespace.
    let script = r#"mount -t tmpfs -o size=16k tmpfs "$1" || exit 90
head -c 1048576 /dev/zero > "$1/fill" 2>/dev/null
[ "$(df -k "$1" | awk 'NR==2 {print $4}')" = 0 ] || exit 91
shift; exec "$@""#;
    let base = b.mosaic();
    let mut cmd = std::process::Command::new("unshare");
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", full.join("state"))
        .stdin(Stdio::null())
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(&full)
        .arg(crate::common::bin())
        .args(["federation", "peer", "add", &url]);
    let out = run(cmd, None);
    assert!(
        out.code != 90 && out.code != 91,
        "could not make a full tmpfs (unshare -rm and mount -t tmpfs are needed): {out:?}"
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("state directory"), "{out:?}");
    assert!(out.stderr.contains("the token is unspent"), "{out:?}");
    assert!(list(&b, "peer").is_empty());
    let grant = a
        .run(&["federation", "grant", "show", &grant_id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(grant["status"], "pending", "{grant}");
    // Not spent: the same URL enrolls once the state directory has room.
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", tmp.path().join("state"))
        .args(["federation", "peer", "add", &url, "-o", "json"]);
    let peer = run(cmd, None).ok().json();
    assert_eq!(peer["status"], "active");
}

/// B loses the certificate and the state directory loses the file that kept it (a full
/// or wiped disk): the token is spent, yet `peer finish` gets the same certificate from
/// A again with the peer's own key, and the peer becomes active.
#[test]
fn with_the_kept_file_lost_peer_finish_asks_the_granting_gateway_again() {
    use crate::common::standin::Reply;
    use serde_json::json;

    let a = Gateway::start();
    let b = Gateway::start();
    let state = tempfile::tempdir().unwrap();
    let scope = write_file(state.path(), "scope.json", SEED_SCOPE);
    let (grant_id, url) = grant_with_token(&a, scope.to_str().unwrap());
    let b_url = b.url.clone();
    let lossy_b = StandIn::start(move |req| {
        if req.method == "PATCH" {
            Reply::json(
                503,
                &json!({"error": {"code": "internal", "message": "unavailable"}}),
            )
        } else {
            forward(req, &b_url)
        }
    });
    let mut cmd = b.mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &lossy_b.url)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add", &url]);
    let out = run(cmd, None).code(6);
    assert!(out.stderr.contains("it is kept in"), "{out:?}");
    std::fs::remove_dir_all(state.path().join("enrollments")).unwrap();

    // A: the token is spent and the grant active.
    let grant = a
        .run(&["federation", "grant", "show", &grant_id, "-o", "json"])
        .ok()
        .json();
    assert_eq!(grant["status"], "active");
    let id = list(&b, "peer")[0]["id"].as_str().unwrap().to_string();

    // Without B's secret the sealed enrollment cannot be opened: exit 2, nothing changes.
    let mut cmd = b.mosaic();
    cmd.env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "finish", &id]);
    run(cmd, None).code(2);

    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "finish", &id]);
    let out = run(cmd, None).ok();
    assert!(
        out.stderr.contains("asking the granting gateway again"),
        "{out:?}"
    );
    let peer = &list(&b, "peer")[0];
    assert_eq!(peer["status"], "active");
    assert_eq!(peer["cert_fingerprint"], grant["peer_cert_fingerprint"]);
    let repeated = a
        .run(&[
            "federation",
            "audit",
            "list",
            "--action",
            "enrollment.repeated",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(repeated.as_array().unwrap().len(), 1, "{repeated}");

    // Finishing again: nothing to finish (exit 4), and the peer stays as it is.
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "finish", &id]);
    run(cmd, None).code(4);
}
