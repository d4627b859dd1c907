//! A gateway's first start makes its CA certificate and sealed key together or not at
//! all: killed with SIGKILL at any moment of a first start, every restart succeeds with
//! exactly one CA, which stays the same from then on.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::{SECRET, mosaic};

/// Kill tries: bounded, so that the test stays a few seconds long.
const TRIES: u64 = 30;

fn serve(dir: &Path) -> Child {
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_ADMIN_TOKEN", "adm-first-start-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// Starts a gateway on `dir` and waits until it listens; returns it and its stderr so far.
fn serve_until_listening(dir: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = serve(dir);
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on ") {
                let _ = tx.send(line);
            }
        }
    });
    let (etx, erx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        let log: Vec<String> = erx.try_iter().collect();
        panic!("the gateway did not start on {}: {log:?}", dir.display());
    }
    (child, erx)
}

fn ca_state(dir: &Path) -> String {
    ["ca.pem", "ca-key.sealed", "ca.new", "ca.ready"]
        .iter()
        .filter(|f| dir.join(f).exists())
        .copied()
        .collect::<Vec<_>>()
        .join("+")
}

#[test]
fn a_first_start_killed_at_any_moment_restarts_with_one_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let mut half_made = 0;
    let mut states = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..TRIES {
        let dir = tmp.path().join(format!("data-{i}"));
        let mut child = serve(&dir);
        std::thread::sleep(Duration::from_millis(2 + (i * 37) % 240));
        let _ = child.kill();
        let _ = child.wait();
        let left = ca_state(&dir);
        *states.entry(left.clone()).or_default() += 1;
        if !left.is_empty() && left != "ca.pem+ca-key.sealed" {
            half_made += 1;
        }

        let (mut gw, _) = serve_until_listening(&dir);
        gw.kill().unwrap();
        gw.wait().unwrap();
        assert_eq!(ca_state(&dir), "ca.pem+ca-key.sealed", "after {left:?}");
        let pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 1);

        // The CA stays the one made: a second restart keeps it.
        let (mut gw, _) = serve_until_listening(&dir);
        gw.kill().unwrap();
        gw.wait().unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), pem);
    }
    eprintln!(
        "first start: {TRIES} kills, {half_made} left a half-made CA ({states:?}), every restart made or kept one CA"
    );
}

#[test]
fn a_key_without_its_certificate_is_redone_only_if_nothing_was_ever_served() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (mut gw, _) = serve_until_listening(&dir);
    gw.kill().unwrap();
    gw.wait().unwrap();
    // What an older mosaic's first start could leave: the key, no certificate.
    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    let old_key = std::fs::read_to_string(dir.join("ca-key.sealed")).unwrap();
    let (mut gw, stderr) = serve_until_listening(&dir);
    std::thread::sleep(Duration::from_millis(100));
    gw.kill().unwrap();
    gw.wait().unwrap();
    let said: Vec<String> = stderr.try_iter().collect();
    assert!(
        said.iter().any(|l| l.contains("never served a request")),
        "{said:?}"
    );
    assert_eq!(ca_state(&dir), "ca.pem+ca-key.sealed");
    assert_ne!(
        std::fs::read_to_string(dir.join("ca-key.sealed")).unwrap(),
        old_key
    );

    // Once the gateway holds a record, a missing certificate is an error, not a new CA.
    let mut gw = crate::common::Gateway::start();
    let scope = crate::common::write_file(&gw.dir, "scope.json", crate::common::SEED_SCOPE);
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
    ])
    .ok();
    gw.stop();
    std::fs::remove_file(gw.dir.join("ca.pem")).unwrap();
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&gw.dir)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_ADMIN_TOKEN", "adm-first-start-0123456789");
    let out = crate::common::run(cmd, None);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("restore the missing file"), "{out:?}");
    assert!(!gw.dir.join("ca.pem").exists());
}
