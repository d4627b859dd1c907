//! Rotating `BETTER_AUTH_SECRET`: previous secrets that only open, `mosaic gateway reseal`
//! on a live federation (SQLite, or PostgreSQL with `MOSAIC_TEST_DATABASE_URL`), `kill -9`
//! of reseal mid-run, and the refusals: a short secret, a value no given secret opens, a
//! gateway whose CA key opens with none.

use std::process::{Command, Stdio};
use std::time::Duration;

use mosaic::crypto::seal::{PEER_ENROLLMENT_INFO, PEER_KEY_INFO, SealingSecret};
use serde_json::json;

use crate::common::{Gateway, Output, SECRET, mosaic, pg, run, uuid_like, write_file};
use crate::dataplane::{Fed, SCOPE, USER, tasks};

/// The secret gateways rotate to.
const NEW: &str = "rotated-secret-0123456789abcdef-0123456789abcdef";
/// A secret that sealed nothing.
const WRONG: &str = "never-used-secret-0123456789abcdef-0123456789";

const CA_KEY_INFO: &[u8] = b"mosaic/gateway/ca-key/v1";
const CA_KEY_AAD: &[u8] = b"mosaic-gateway-ca";

fn secret(s: &str) -> SealingSecret {
    SealingSecret::new(s.as_bytes().to_vec()).unwrap()
}

/// The rotation window: the new secret seals, the old one only opens.
fn rotating() -> Vec<(&'static str, &'static str)> {
    vec![
        ("BETTER_AUTH_SECRET", NEW),
        ("MOSAIC_PREVIOUS_SECRETS", SECRET),
    ]
}

/// `mosaic gateway reseal` on `gw`'s store with `env`.
fn reseal_command(gw: &Gateway, env: &[(&str, &str)], extra: &[&str]) -> Command {
    let mut cmd = mosaic();
    cmd.args(["gateway", "reseal"]);
    match &gw.database {
        Some(url) => cmd.args(["--database-url", url]),
        None => cmd.arg("--data-dir").arg(&gw.dir),
    };
    cmd.args(extra).envs(env.iter().copied());
    cmd
}

fn reseal(gw: &Gateway, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let out = run(reseal_command(gw, env, extra), None);
    for s in [SECRET, NEW, WRONG] {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "a secret in {out:?}"
        );
    }
    out
}

/// One sealed value as stored: its record, HKDF label, associated data and text.
#[derive(Debug, Clone, PartialEq)]
struct Sealed {
    record: String,
    info: &'static [u8],
    aad: Vec<u8>,
    text: String,
}

/// A peer's ID, sealed key and sealed enrollment.
type PeerRow = (String, String, Option<String>);

/// Every sealed value `gw` keeps, read straight from its store.
fn sealed_values(gw: &Gateway) -> Vec<Sealed> {
    let (ca, peers): (Vec<String>, Vec<PeerRow>) = match &gw.database {
        Some(url) => (
            pg::query(url, "SELECT sealed_key FROM gateway_ca")
                .into_iter()
                .map(|r| r[0].clone().unwrap())
                .collect(),
            pg::query(
                url,
                "SELECT id, sealed_private_key, sealed_enrollment FROM peers ORDER BY id",
            )
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap(), r[2].clone()))
            .collect(),
        ),
        None => {
            let db = rusqlite::Connection::open_with_flags(
                gw.dir.join("gateway.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut stmt = db
                .prepare("SELECT id, sealed_private_key, sealed_enrollment FROM peers ORDER BY id")
                .unwrap();
            let peers = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let ca = std::fs::read_to_string(gw.dir.join("ca-key.sealed")).unwrap();
            (vec![ca.trim().to_string()], peers)
        }
    };
    let mut values: Vec<Sealed> = ca
        .into_iter()
        .map(|text| Sealed {
            record: "CA".into(),
            info: CA_KEY_INFO,
            aad: CA_KEY_AAD.to_vec(),
            text,
        })
        .collect();
    for (id, key, enrollment) in peers {
        values.push(Sealed {
            record: format!("peer {id}"),
            info: PEER_KEY_INFO,
            aad: id.clone().into_bytes(),
            text: key,
        });
        if let Some(text) = enrollment {
            values.push(Sealed {
                record: format!("peer {id} enrollment"),
                info: PEER_ENROLLMENT_INFO,
                aad: id.into_bytes(),
                text,
            });
        }
    }
    values
}

/// How many of `values` open with `s` alone.
fn opening_with(values: &[Sealed], s: &str) -> usize {
    let s = secret(s);
    values
        .iter()
        .filter(|v| s.open(v.info, &v.aad, &v.text).is_ok())
        .count()
}

#[track_caller]
fn assert_summary(out: &Output, resealed: usize, current: usize, unopenable: usize) {
    let want =
        format!("resealed {resealed}, already current {current}, could not open {unopenable}");
    assert!(out.stdout.contains(&want), "expected {want:?}: {out:?}");
}

/// The whole procedure on two TLS gateways with an active federation: B rotates
/// (restart with the new secret and the old as previous, reseal, drop the old one,
/// restart) and still reads from A and renews; then A rotates and still signs.
#[test]
fn rotating_both_gateways_secrets_keeps_the_federation_working() {
    let mut fed = Fed::start();
    fed.import("tasks", USER, &tasks("t", 3)).ok();
    let grant = fed.grant(USER, SCOPE, &[]);
    let peer = fed.enroll(&grant);
    fed.query(&peer, "tasks", &["-o", "json"]).ok();

    // B: the new secret seals, the old one still opens the peer's key.
    fed.b.restart_with_env(&rotating());
    fed.query(&peer, "tasks", &["-o", "json"]).ok();
    let before = sealed_values(&fed.b);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(opening_with(&before, SECRET), 2);
    let out = reseal(&fed.b, &rotating(), &[]).ok();
    assert_summary(&out, 2, 0, 0);
    assert!(
        out.stdout.contains("the previous secrets can be removed"),
        "{out:?}"
    );
    assert_eq!(opening_with(&sealed_values(&fed.b), NEW), 2);
    // While B still serves (its peer client cached or not), reads go on.
    fed.query(&peer, "tasks", &["-o", "json"]).ok();
    // Idempotent: a second run changes nothing.
    let again = sealed_values(&fed.b);
    assert_summary(&reseal(&fed.b, &rotating(), &[]).ok(), 0, 2, 0);
    assert_eq!(sealed_values(&fed.b), again);
    let doc = reseal(&fed.b, &rotating(), &["-o", "json"]).ok().json();
    assert_eq!(
        doc,
        json!({"resealed": 0, "already_current": 2, "could_not_open": 0,
               "previous_secrets_removable": true})
    );

    // The old secret dropped: B starts, reads and renews with the resealed key.
    fed.b.restart_with_env(&[("BETTER_AUTH_SECRET", NEW)]);
    fed.query(&peer, "tasks", &["-o", "json"]).ok();
    fed.b_run(&["federation", "peer", "renew", &peer, "-o", "json"])
        .ok();
    fed.query(&peer, "tasks", &["-o", "json"]).ok();
    assert_eq!(
        opening_with(&sealed_values(&fed.b), NEW),
        2,
        "renewal seals under the new secret"
    );

    // A: its CA key resealed; once the old secret is dropped, it still signs.
    fed.a.restart_with_env(&rotating());
    let out = reseal(&fed.a, &rotating(), &[]).ok();
    assert_summary(&out, 1, 0, 0);
    fed.a.restart_with_env(&[("BETTER_AUTH_SECRET", NEW)]);
    fed.b_run(&["federation", "peer", "renew", &peer, "-o", "json"])
        .ok();
    fed.query(&peer, "tasks", &["-o", "json"]).ok();
    let second = fed.grant(USER, SCOPE, &[]);
    let (url, fp) = fed.token(&second);
    let mut add = fed.b.mosaic();
    add.env("BETTER_AUTH_SECRET", NEW)
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
    let added = run(add, None).ok().json();
    assert_eq!(added["status"], "active", "{added}");
    let other = added["id"].as_str().unwrap();
    fed.query(other, "tasks", &["-o", "json"]).ok();
    for gw in [&fed.a, &fed.b] {
        assert!(!gw.log().contains(SECRET) && !gw.log().contains(NEW));
    }
}

/// What each seeded pending peer keeps for `peer finish`: an enrollment URL nobody
/// answers at.
const KEPT: &str = r#"{"enrollment_url":"https://127.0.0.1:9/api/federation/enrollment/x","ca_fingerprint":"sha256:0000000000000000000000000000000000000000000000000000000000000000","pinned":false,"grant_id":"g-1","subject_user_id":"u-1"}"#;

/// A gateway with `n` pending peers, each a sealed key and a sealed enrollment under
/// [`SECRET`] (one key pair for all: only the sealing is under test).
fn gateway_with_pending_peers(n: usize) -> (Gateway, Vec<String>) {
    let gw = Gateway::start();
    let (key, csr) = crate::fixtures::p256_csr();
    let der = key.serialize_der();
    let old = secret(SECRET);
    let ids: Vec<String> = (0..n)
        .map(|i| format!("p{i:04}-{}", &uuid_like()[..8]))
        .collect();
    for id in &ids {
        let body = json!({
            "id": id,
            "name": "gateway A",
            "remote_url": "https://a.example",
            "csr_pem": csr,
            "sealed_private_key": old.seal_peer_key(id, &der),
            "sealed_enrollment": old.seal_enrollment(id, KEPT.as_bytes()),
        });
        let (status, answer) =
            gw.request("POST", "/api/admin/federation/peers/keypair", Some(&body));
        assert_eq!(status, 201, "{answer}");
    }
    (gw, ids)
}

/// `kill -9` of reseal at random points of a run over a few hundred values, next to a
/// gateway serving in the rotation window; every value opens with the old or the new
/// secret after each kill, and a rerun leaves every one under the new secret.
#[test]
fn kill_9_of_reseal_at_random_points_loses_no_value() {
    const PEERS: usize = 300;
    const KILLS: usize = 12;
    let (mut gw, ids) = gateway_with_pending_peers(PEERS);
    let total = 1 + 2 * PEERS;
    gw.restart_with_env(&rotating());
    // In the rotation window a new key sealed under the old secret is refused: it would
    // stop opening once that secret is removed.
    let (body, _) = crate::peers::keypair_body("sealed-under-the-old-secret");
    let (status, answer) = gw.request("POST", "/api/admin/federation/peers/keypair", Some(&body));
    assert_eq!(status, 400, "{answer}");
    // `peer finish` opens an enrollment under the old secret only when it is given.
    let state = tempfile::tempdir().unwrap();
    let previous = write_file(state.path(), "previous", &format!("{SECRET}\n"));
    let finish = |env: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = gw.mosaic();
        cmd.env("MOSAIC_STATE_DIR", state.path())
            .envs(env.iter().copied())
            .args(["federation", "peer", "finish", &ids[0]])
            .args(extra);
        run(cmd, None)
    };
    let out = finish(&[("BETTER_AUTH_SECRET", NEW)], &[]).code(2);
    assert!(out.stderr.contains("does not open"), "{out:?}");
    // Opened: it goes on to ask the granting gateway, which is not there.
    finish(&rotating(), &[]).code(6);
    finish(
        &[("BETTER_AUTH_SECRET", NEW)],
        &["--previous-secrets-file", previous.to_str().unwrap()],
    )
    .code(6);
    let mut mid_run = 0;
    // Values under the new secret after each kill.
    let mut progress: Vec<usize> = Vec::new();
    // A cheap xorshift: random enough for kill points, no new dependency.
    let mut state = u64::from(std::process::id()) | 1;
    for kill in 0..KILLS as u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Later kills come later: early ones land in a slow run's start, later ones in a
        // fast run's middle, whatever the machine's speed.
        let delay = Duration::from_millis(10 + 25 * kill + state % 25);
        let mut child = reseal_command(&gw, &rotating(), &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let values = sealed_values(&gw);
        assert_eq!(values.len(), total);
        let (new, old) = (opening_with(&values, NEW), opening_with(&values, SECRET));
        assert_eq!(
            new + old,
            total,
            "every value opens with one secret or the other"
        );
        progress.push(new);
        // The serving gateway opens every pending peer's enrollment, whichever secret.
        let (status, _) = gw.request(
            "GET",
            &format!("/api/admin/federation/peers/{}/enrollment", ids[PEERS / 2]),
            None,
        );
        assert_eq!(status, 200);
    }
    assert!(mid_run > 0, "no kill landed mid-run");
    assert!(
        progress.iter().any(|&n| 0 < n && n < total),
        "no kill left a run half done: {progress:?}"
    );
    let out = reseal(&gw, &rotating(), &[]).ok();
    assert!(out.stdout.contains("could not open 0"), "{out:?}");
    let values = sealed_values(&gw);
    assert_eq!(values.len(), total);
    assert_eq!(
        opening_with(&values, NEW),
        total,
        "after the rerun, all under the new secret"
    );
    eprintln!(
        "reseal: {KILLS} kills, {mid_run} mid-run, {total} values, resealed after each: {progress:?}"
    );
    gw.restart_with_env(&[("BETTER_AUTH_SECRET", NEW)]);
    let (status, kept) = gw.request(
        "GET",
        &format!("/api/admin/federation/peers/{}/enrollment", ids[0]),
        None,
    );
    assert_eq!(status, 200, "{kept}");
    let text = kept["sealed_enrollment"].as_str().unwrap();
    assert!(secret(NEW).open_enrollment(&ids[0], text).is_ok());
}

/// The refusals: a short secret (exit 2), a short previous secret (exit 2), no gateway
/// data (exit 2, nothing made), a value no given secret opens (named, untouched, exit 4,
/// the others resealed), and a gateway whose CA key opens with no secret given (one line,
/// exit 2, nothing changed).
#[test]
fn refusals_name_the_problem_and_change_nothing() {
    let (mut gw, ids) = gateway_with_pending_peers(3);
    gw.stop();
    let before = sealed_values(&gw);

    let short = reseal(&gw, &[("BETTER_AUTH_SECRET", "too-short")], &[]).code(2);
    assert!(
        short.stderr.contains("BETTER_AUTH_SECRET is too short"),
        "{short:?}"
    );
    let out = reseal(
        &gw,
        &[
            ("BETTER_AUTH_SECRET", NEW),
            ("MOSAIC_PREVIOUS_SECRETS", &format!("{SECRET},short")),
        ],
        &[],
    )
    .code(2);
    assert!(
        out.stderr
            .contains("previous secret 2 is too short (5 bytes)"),
        "{out:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    let out = reseal(
        &gw,
        &rotating(),
        &["--previous-secrets-file", missing.to_str().unwrap()],
    )
    .code(2);
    assert!(out.stderr.contains("--previous-secrets-file"), "{out:?}");
    if gw.database.is_none() {
        let mut cmd = mosaic();
        cmd.args(["gateway", "reseal", "--data-dir"])
            .arg(&missing)
            .envs(rotating());
        let out = run(cmd, None).code(2);
        assert!(out.stderr.contains("no gateway data in"), "{out:?}");
        assert!(!missing.exists(), "nothing made");
    }
    // A wrong previous secret: nothing opens, nothing changes.
    let out = reseal(
        &gw,
        &[
            ("BETTER_AUTH_SECRET", NEW),
            ("MOSAIC_PREVIOUS_SECRETS", WRONG),
        ],
        &[],
    )
    .code(4);
    assert_summary(&out, 0, 0, before.len());
    assert!(out.stderr.contains(&format!("peer {}", ids[0])), "{out:?}");
    assert_eq!(sealed_values(&gw), before);

    // A gateway whose CA key opens with no secret given refuses to start, in one line.
    let mut serve = mosaic();
    serve
        .args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&gw.dir)
        .args(gw.database.iter().flat_map(|url| ["--database-url", url]))
        .env("BETTER_AUTH_SECRET", NEW)
        .env("MOSAIC_ADMIN_TOKEN", &gw.admin_token);
    let files_before = dir_snapshot(&gw.dir);
    let refused = run(serve, None).code(2);
    let line = refused.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{refused:?}");
    assert!(
        line.contains("does not open with this sealing secret"),
        "{line}"
    );
    assert!(line.contains("MOSAIC_PREVIOUS_SECRETS"), "{line}");
    assert_eq!(dir_snapshot(&gw.dir), files_before, "nothing changed");
    assert_eq!(sealed_values(&gw), before);

    // One value under a secret nobody gives: it is named and left, the rest resealed.
    let odd = &ids[1];
    let stranger = secret(WRONG).seal_peer_key(odd, b"not a key");
    match &gw.database {
        Some(url) => {
            pg::query(
                url,
                &format!("UPDATE peers SET sealed_private_key = '{stranger}' WHERE id = '{odd}'"),
            );
        }
        None => {
            let db = rusqlite::Connection::open(gw.dir.join("gateway.db")).unwrap();
            db.execute(
                "UPDATE peers SET sealed_private_key = ?1 WHERE id = ?2",
                [&stranger, odd],
            )
            .unwrap();
        }
    }
    let file = write_file(tmp.path(), "previous", &format!("\n{SECRET}\n"));
    let out = reseal(
        &gw,
        &[("BETTER_AUTH_SECRET", NEW)],
        &["--previous-secrets-file", file.to_str().unwrap()],
    )
    .code(4);
    assert_summary(&out, before.len() - 1, 0, 1);
    assert!(
        out.stderr
            .contains(&format!("peer {odd}: its sealed private key does not open")),
        "{out:?}"
    );
    assert!(!out.stdout.contains("can be removed"), "{out:?}");
    let after = sealed_values(&gw);
    let kept = after
        .iter()
        .find(|v| v.record == format!("peer {odd}"))
        .unwrap();
    assert_eq!(kept.text, stranger, "left as it was");
    assert_eq!(opening_with(&after, NEW), before.len() - 1);
}

/// The files of a data directory with their contents (the database's too).
fn dir_snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    if !dir.exists() {
        // A gateway on PostgreSQL writes nothing to its data directory.
        return Vec::new();
    }
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}
