//! Certificates that renew themselves: `peer renew` through two real `--tls` gateways, A's
//! renew route and its rules, refusals that leave B's pair alone, `kill -9` of B in the
//! middle of renewals, and automatic renewal across several short certificate lifetimes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mosaic::crypto::keys::PeerKey;
use mosaic::crypto::verify::{grant_identity, single_pem_der};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::relay::Relay;
use crate::common::tls::{Identity, https};
use crate::common::{Gateway, Output, SECRET, run, write_file};
use crate::dataplane::{ca_of, get_a, peer_identity, pem, refused, signed_identity, tasks};

const USER: &str = "user-9";
const SCOPE: &str =
    r#"{"resources":["tasks"],"excluded_resources":["credentials"],"max_rows_per_query":50}"#;

/// A grants (with `a_args`), B enrolls (with `b_args`); both `--tls`.
struct Fed {
    a: Gateway,
    b: Gateway,
    state: tempfile::TempDir,
    grant: String,
    peer: String,
}

impl Fed {
    fn start(a_args: &[&str], b_args: &[&str]) -> Fed {
        let mut a = vec!["--tls"];
        a.extend(a_args);
        let mut b = vec!["--tls"];
        b.extend(b_args);
        let a = Gateway::start_at("127.0.0.1:0", &a);
        let b = Gateway::start_at("127.0.0.1:0", &b);
        let state = tempfile::tempdir().unwrap();
        let (grant, peer) = enroll(&a, &b, state.path());
        Fed {
            a,
            b,
            state,
            grant,
            peer,
        }
    }

    /// B's record of the peer, from `peer list -o json`.
    fn peer_record(&self) -> Value {
        let list = self
            .b
            .run(&["federation", "peer", "list", "-o", "json"])
            .ok()
            .json();
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == self.peer.as_str())
            .cloned()
            .expect("the peer is listed")
    }

    fn renew(&self) -> Output {
        self.b
            .run(&["federation", "peer", "renew", &self.peer, "-o", "json"])
    }

    fn query(&self) -> Output {
        self.b.run(&[
            "federation",
            "peer",
            "query",
            &self.peer,
            "tasks",
            "-o",
            "json",
        ])
    }

    /// Actions of the audit log of `gw`, oldest first.
    fn actions(gw: &Gateway) -> Vec<String> {
        let entries = gw
            .run(&["federation", "audit", "list", "-o", "json"])
            .ok()
            .json();
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }
}

/// B enrolls with A (`--tls`): rows for [`USER`] on A, a grant of [`SCOPE`], its token,
/// and `peer add` on B (keeping its state in `state`). Answers (grant ID, peer ID).
pub fn enroll(a: &Gateway, b: &Gateway, state: &std::path::Path) -> (String, String) {
    let mut cmd = a.mosaic();
    cmd.args(["federation", "data", "import", "tasks", "--user", USER, "-"]);
    run(cmd, Some(&tasks("t", 3).to_string())).ok();
    let scope = write_file(state, "scope.json", SCOPE);
    let grant = a
        .run(&[
            "federation",
            "grant",
            "create",
            "--user",
            USER,
            "--peer",
            "gw-b",
            "--scope",
            scope.to_str().unwrap(),
            "-o",
            "json",
        ])
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = a
        .run(&["federation", "grant", "token", &grant, "-o", "json"])
        .ok()
        .json();
    let mut cmd = b.mosaic();
    cmd.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state)
        .args(["federation", "peer", "add"])
        .arg(token["enrollment_url"].as_str().unwrap())
        .args([
            "--ca-fingerprint",
            token["ca_fingerprint"].as_str().unwrap(),
        ])
        .args(["-o", "json"]);
    let peer = run(cmd, None).ok().json();
    assert_eq!(peer["status"], "active", "{peer}");
    (grant, peer["id"].as_str().unwrap().to_string())
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a time: {v}")),
        &Rfc3339,
    )
    .unwrap()
}

fn identity(pair: &(String, String)) -> Identity<'_> {
    Identity {
        cert_pem: &pair.0,
        key_pem: &pair.1,
    }
}

/// POST A's renew route with `pair` and `csr_pem`.
fn renew_at_a(
    a: &Gateway,
    pair: Option<&(String, String)>,
    csr_pem: &str,
) -> Result<(u16, Value), String> {
    https(
        "POST",
        &format!("{}/api/federation/v1/renew", a.url),
        &a.ca_pem(),
        pair.map(identity),
        None,
        Some(&json!({ "csr_pem": csr_pem })),
    )
}

/// (grant OID, subject user OID, SPKI) of a PEM certificate.
fn facts(cert_pem: &str) -> (String, String, Vec<u8>) {
    let der = single_pem_der(cert_pem, "certificate").unwrap();
    let id = grant_identity(&der).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    (
        id.grant_id,
        id.subject_user_id,
        cert.public_key().raw.to_vec(),
    )
}

#[test]
fn peer_renew_issues_a_new_certificate_and_a_refuses_the_old_one_once_the_new_is_used() {
    let fed = Fed::start(&[], &["--auto-renew", "off"]);
    let before = fed.peer_record();
    let old = peer_identity(&fed.b, &fed.peer);
    let due = ts(&before["renewal_due_at"]);
    let not_after = ts(&before["cert_not_after"]);
    let now = OffsetDateTime::now_utc();
    // Due at 67-72% of the seven days left at enrollment.
    assert!(
        due > now + time::Duration::hours(108) && due < not_after - time::Duration::hours(45),
        "renewal due {due}, certificate until {not_after}"
    );
    // Certificate times have whole seconds: let the next one end later.
    std::thread::sleep(Duration::from_millis(1100));

    let renewed = fed.renew().ok().json();
    assert_eq!(renewed["id"], fed.peer.as_str());
    assert_eq!(renewed["status"], "active");
    assert_ne!(renewed["cert_fingerprint"], before["cert_fingerprint"]);
    assert_ne!(renewed["cert_serial"], before["cert_serial"]);
    assert!(ts(&renewed["cert_not_after"]) > not_after, "{renewed}");
    assert!(renewed["round_trip_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        fed.peer_record()["cert_fingerprint"],
        renewed["cert_fingerprint"]
    );

    // Same OIDs, a new key; the sealed key B stored opens and is the certificate's key.
    let new = peer_identity(&fed.b, &fed.peer);
    let (old_grant, old_user, old_key) = facts(&old.0);
    let (new_grant, new_user, new_key) = facts(&new.0);
    assert_eq!(
        (new_grant.as_str(), new_user.as_str()),
        (fed.grant.as_str(), USER)
    );
    assert_eq!((old_grant, old_user), (new_grant, new_user));
    assert_ne!(old_key, new_key, "a renewal makes a new key");

    // A shows the new certificate on the grant.
    let grant = fed
        .a
        .run(&["federation", "grant", "show", &fed.grant, "-o", "json"])
        .ok()
        .json();
    assert_eq!(grant["peer_cert_fingerprint"], renewed["cert_fingerprint"]);
    assert_eq!(grant["peer_cert_not_after"], renewed["cert_not_after"]);
    let table = fed.a.run(&["federation", "grant", "show", &fed.grant]).ok();
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("peer_cert_not_after:"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        // The table shows whole seconds; certificate times have nothing more.
        line.contains(
            renewed["cert_not_after"]
                .as_str()
                .unwrap()
                .trim_end_matches(".000Z")
        ),
        "{line}"
    );

    // Until the new certificate is used, the old one still works (B may have crashed
    // before storing the new one) ...
    let (status, _) = get_a(&fed.a, "/api/federation/v1/whoami", Some(&old)).unwrap();
    assert_eq!(status, 200);
    // ... B reads with the new one ...
    let rows = fed.query().ok().json();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    let test = fed
        .b
        .run(&["federation", "peer", "test", &fed.peer, "-o", "json"])
        .ok()
        .json();
    assert_eq!(test["cert_fingerprint"], renewed["cert_fingerprint"]);
    // ... and from then on A refuses the old one.
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", Some(&old)),
        403,
        "unknown_certificate",
    );
    refused(
        renew_at_a(
            &fed.a,
            Some(&old),
            &PeerKey::generate().unwrap().csr_pem("x").unwrap(),
        ),
        403,
        "unknown_certificate",
    );

    assert!(Fed::actions(&fed.a).contains(&"certificate.renewed".to_string()));
    assert!(Fed::actions(&fed.b).contains(&"peer.renewed".to_string()));
    let table = fed
        .b
        .run(&["federation", "peer", "list", "-o", "wide"])
        .ok();
    assert!(table.stdout.contains("RENEWAL DUE"), "{}", table.stdout);
    drop(fed.state);
}

#[test]
fn a_renew_route_checks_the_certificate_and_the_csr_and_answers_the_same_key_again() {
    let fed = Fed::start(&[], &["--auto-renew", "off"]);
    let current = peer_identity(&fed.b, &fed.peer);
    let csr = |key: &PeerKey| key.csr_pem("gw-b").unwrap();

    // No client certificate; a certificate of A's CA that no grant recorded.
    refused(
        renew_at_a(&fed.a, None, &csr(&PeerKey::generate().unwrap())),
        401,
        "certificate_required",
    );
    let forged = signed_identity(&ca_of(&fed.a), &fed.grant, USER);
    refused(
        renew_at_a(&fed.a, Some(&forged), &csr(&PeerKey::generate().unwrap())),
        403,
        "unknown_certificate",
    );
    // Not a CSR; a CSR for the presented certificate's own key.
    refused(
        renew_at_a(&fed.a, Some(&current), "not a csr"),
        400,
        "invalid_request",
    );
    let der = single_pem_der(&current.0, "certificate").unwrap();
    let own_key_pem = current.1.clone();
    let own = PeerKey::from_pkcs8_der(&pem_der(&own_key_pem)).unwrap();
    let (status, body) = renew_at_a(&fed.a, Some(&current), &csr(&own)).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new key"),
        "{body}"
    );
    assert!(grant_identity(&der).is_ok());

    // A new key: a certificate with the grant's OIDs, for that key.
    let key = PeerKey::generate().unwrap();
    let (status, first) = renew_at_a(&fed.a, Some(&current), &csr(&key)).unwrap();
    assert_eq!(status, 200, "{first}");
    let (g, u, spki) = facts(first["certificate_pem"].as_str().unwrap());
    assert_eq!((g.as_str(), u.as_str()), (fed.grant.as_str(), USER));
    assert_eq!(spki, key.spki_der());
    assert_eq!(first["grant_id"], fed.grant.as_str());
    assert_eq!(
        first["ca_certificate_pem"].as_str().unwrap(),
        fed.a.ca_pem()
    );

    // The answer was lost: the same key again, with the same (now previous) certificate,
    // gets the same certificate; another key gets another one.
    let (status, again) = renew_at_a(&fed.a, Some(&current), &csr(&key)).unwrap();
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["certificate_pem"], first["certificate_pem"]);
    assert_eq!(again["not_after"], first["not_after"]);
    let other = PeerKey::generate().unwrap();
    let (status, second) = renew_at_a(&fed.a, Some(&current), &csr(&other)).unwrap();
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["certificate_pem"], first["certificate_pem"]);
    // Only the last one issued is the grant's current certificate.
    let first_pair = (
        first["certificate_pem"].as_str().unwrap().to_string(),
        pem("PRIVATE KEY", key.pkcs8_der()),
    );
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", Some(&first_pair)),
        403,
        "unknown_certificate",
    );
    let second_pair = (
        second["certificate_pem"].as_str().unwrap().to_string(),
        pem("PRIVATE KEY", other.pkcs8_der()),
    );
    let (status, who) = get_a(&fed.a, "/api/federation/v1/whoami", Some(&second_pair)).unwrap();
    assert_eq!(status, 200, "{who}");
    assert_eq!(
        who["cert_not_after"].as_str(),
        second["not_after"].as_str(),
        "{who}"
    );
    // The new one was used: the one B still holds is refused now.
    refused(
        get_a(&fed.a, "/api/federation/v1/whoami", Some(&current)),
        403,
        "unknown_certificate",
    );
    let renewals = Fed::actions(&fed.a)
        .iter()
        .filter(|a| *a == "certificate.renewed")
        .count();
    assert_eq!(
        renewals, 3,
        "two renewals and one repeated answer, each audited"
    );
}

fn fingerprint_of(cert_pem: &str) -> String {
    mosaic::crypto::fingerprint(&single_pem_der(cert_pem, "certificate").unwrap())
}

/// The DER inside a PEM block.
fn pem_der(pem_text: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn renewing_a_revoked_grant_is_refused_and_b_keeps_its_pair() {
    let fed = Fed::start(&[], &["--auto-renew", "off"]);
    let before = fed.peer_record();
    let pair = peer_identity(&fed.b, &fed.peer);
    fed.a
        .run(&[
            "federation",
            "grant",
            "revoke",
            &fed.grant,
            "--reason",
            "ended",
        ])
        .ok();

    let out = fed.renew().code(5);
    let err = out.stderr_json();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("grant_inactive"), "{message}");
    assert!(message.contains("revoked"), "{message}");
    assert!(out.stdout.is_empty(), "{out:?}");

    let after = fed.peer_record();
    assert_eq!(after, before, "B's record is untouched");
    assert_eq!(
        peer_identity(&fed.b, &fed.peer),
        pair,
        "B's key and certificate are kept"
    );
    assert!(!Fed::actions(&fed.b).contains(&"peer.renewed".to_string()));
    assert!(!Fed::actions(&fed.a).contains(&"certificate.renewed".to_string()));
    assert!(Fed::actions(&fed.a).contains(&"federation.refused".to_string()));
}

#[test]
fn an_expired_certificate_cannot_renew_itself_and_the_error_says_a_new_grant_is_needed() {
    let fed = Fed::start(&["--cert-validity", "30s"], &["--auto-renew", "off"]);
    let record = fed.peer_record();
    let not_after = ts(&record["cert_not_after"]);
    let left = not_after - OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(31),
        "a 30 s certificate: {record}"
    );
    std::thread::sleep(Duration::from_secs_f64(
        left.as_seconds_f64().max(0.0) + 1.5,
    ));

    let out = fed.renew().code(4);
    let message = out.stderr_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("expired"), "{message}");
    assert!(message.contains("a new grant is needed"), "{message}");
    let table = fed
        .b
        .run(&["federation", "peer", "renew", &fed.peer])
        .code(4);
    assert!(table.stderr.contains("new grant"), "{table:?}");
    assert_eq!(fed.peer_record(), record, "nothing changed on B");
}

#[test]
fn kill_9_of_b_during_renewals_always_leaves_a_pair_that_a_accepts() {
    // A killed renewal's claim on the peer: on SQLite released when B starts again (one
    // process per data directory), on PostgreSQL held until its lease (2 x 2 s) ends.
    let mut fed = Fed::start(&[], &["--auto-renew", "off", "--renewal-timeout", "2s"]);
    let on_postgres = fed.b.database.is_some();
    // The narrowest window first, made deterministic: A issued a certificate that B never
    // stored (B died between A's answer and its own commit). B's pair still works, and B
    // renews again with another key.
    let held = peer_identity(&fed.b, &fed.peer);
    let lost = PeerKey::generate().unwrap().csr_pem("lost").unwrap();
    let (status, body) = renew_at_a(&fed.a, Some(&held), &lost).unwrap();
    assert_eq!(status, 200, "{body}");
    fed.b.kill9_and_restart();
    fed.b.run(&["federation", "peer", "test", &fed.peer]).ok();
    let renewed = fed.renew().ok().json();
    assert_ne!(
        renewed["cert_fingerprint"].as_str(),
        Some(fingerprint_of(body["certificate_pem"].as_str().unwrap()).as_str())
    );
    fed.query().ok();
    // Kill points spread over the renewal's round trip (a few ms to a few tens of ms in a
    // debug build), with a time-seeded offset; the seed is printed for a replay.
    let seed = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    const KILLS: u64 = 20;
    let renewals_at_a = |fed: &Fed| {
        Fed::actions(&fed.a)
            .iter()
            .filter(|a| *a == "certificate.renewed")
            .count()
    };
    // Kills that hit before A answered, between A's answer and B's commit, after it.
    let (mut before_a, mut in_between, mut swapped) = (0, 0, 0);
    for i in 0..KILLS {
        let before = fed.peer_record()["cert_fingerprint"].clone();
        let issued_before = renewals_at_a(&fed);
        let delay = Duration::from_micros(i * 4_000 + next() % 4_000);
        let mut cmd = fed.b.mosaic();
        cmd.args(["federation", "peer", "renew", &fed.peer, "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(delay);
        fed.b.kill9_and_restart();
        let status = child.wait().unwrap();
        assert!(
            matches!(status.code(), Some(0) | Some(6)) || (on_postgres && status.code() == Some(4)),
            "renew ended with {status:?} (kill {i} at {delay:?}, seed {seed})"
        );
        // Whatever the point: B holds a pair that A accepts.
        let test = fed
            .b
            .run(&["federation", "peer", "test", &fed.peer, "-o", "json"]);
        assert_eq!(
            test.code,
            0,
            "after kill {i} at {delay:?} (seed {seed}): {test:?}\nB's log:\n{}",
            fed.b.log()
        );
        let after = fed.peer_record()["cert_fingerprint"].clone();
        if after != before {
            swapped += 1;
        } else if renewals_at_a(&fed) > issued_before {
            in_between += 1;
        } else {
            before_a += 1;
        }
    }
    eprintln!(
        "{KILLS} kills of B during renewals: {before_a} before A answered, {in_between} \
         between A's answer and B's commit, {swapped} after the commit (seed {seed})"
    );
    // And it renews again (once the last claim is gone), and reads, as if nothing happened.
    let deadline = Instant::now() + Duration::from_secs(30);
    let renewed = loop {
        let out = fed.renew();
        if out.code != 4 || !on_postgres || Instant::now() > deadline {
            break out.ok().json();
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        fed.peer_record()["cert_fingerprint"],
        renewed["cert_fingerprint"]
    );
    assert_eq!(fed.query().ok().json().as_array().unwrap().len(), 3);
    let issued = renewals_at_a(&fed);
    assert!(
        issued as u64 > swapped,
        "A issued {issued} renewals, B stored {swapped} of them before the final one"
    );
}

#[test]
fn automatic_renewal_keeps_queries_working_across_three_certificate_lifetimes() {
    let fed = Fed::start(&["--cert-validity", "30s"], &[]);
    let first = fed.peer_record();
    let first_not_after = ts(&first["cert_not_after"]);
    let lifetime = time::Duration::seconds(30);
    let end = first_not_after + lifetime * 2 + time::Duration::seconds(3);
    let mut fingerprints = vec![first["cert_fingerprint"].clone()];
    let mut queries = 0;
    let started = Instant::now();
    // The longest time between two successful queries: every lifetime must be covered by
    // several queries, however slowly a loaded machine runs each one.
    let mut longest_gap = Duration::ZERO;
    let mut last_success = Instant::now();
    while OffsetDateTime::now_utc() < end {
        let rows = fed.query();
        assert_eq!(
            rows.code,
            0,
            "query {queries} after {:?} failed: {rows:?}\nB's log:\n{}",
            started.elapsed(),
            fed.b.log()
        );
        assert_eq!(rows.json().as_array().unwrap().len(), 3);
        queries += 1;
        longest_gap = longest_gap.max(last_success.elapsed());
        last_success = Instant::now();
        let fp = fed.peer_record()["cert_fingerprint"].clone();
        if fingerprints.last() != Some(&fp) {
            fingerprints.push(fp);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    // Three lifetimes of the first certificate have passed without any command.
    assert!(OffsetDateTime::now_utc() > first_not_after + lifetime * 2);
    assert!(
        fingerprints.len() >= 4,
        "at least three renewals in three 30 s lifetimes: {fingerprints:?}"
    );
    let log = fed.b.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("renewed the certificate of peer"))
        .count();
    assert!(lines >= 3, "one log line per renewal:\n{log}");
    assert!(!log.contains(SECRET), "no secret in B's log");
    // At most 10 s between successes: at least three queries in each 30 s lifetime.
    assert!(
        longest_gap <= Duration::from_secs(10),
        "{queries} queries, {longest_gap:?} between two of them"
    );
}

#[test]
fn serve_refuses_bad_renewal_settings_with_a_clear_error() {
    for (args, needle) in [
        (vec!["--cert-validity", "10s"], "must be from 30s to 365d"),
        (vec!["--cert-validity", "soon"], "--cert-validity"),
        (vec!["--auto-renew", "95"], "from 50 to 90, or off"),
        (vec!["--renewal-timeout", "0s"], "--renewal-timeout"),
        (
            vec!["--renewal-timeout", "11m"],
            "whole seconds from 1s to 10m",
        ),
        (
            vec!["--renewal-timeout", "1500ms"],
            "whole seconds from 1s to 10m",
        ),
        (
            vec!["--cert-validity", "2m", "--cert-validity-days", "3"],
            "cannot be used with",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = crate::common::mosaic();
        cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("d"))
            .args(&args)
            .env("BETTER_AUTH_SECRET", SECRET);
        let out = run(cmd, None).code(2);
        assert!(out.stderr.contains(needle), "{args:?}: {out:?}");
        assert!(
            !dir.path().join("d").exists(),
            "{args:?}: nothing is written before the settings are checked"
        );
    }
}

/// How many certificates A issued by renewal (`certificate.renewed` in its audit log).
pub fn renewals_at(a: &Gateway) -> usize {
    Fed::actions(a)
        .iter()
        .filter(|action| *action == "certificate.renewed")
        .count()
}

/// A (`--tls`, with `a_args`) reached by its peers through `relay` (its enrollment URLs
/// name the relay).
pub fn granting_behind(relay: &Relay, a_args: &[&str]) -> Gateway {
    let public = format!("https://{}", relay.addr);
    let mut args = vec!["--tls", "--public-url", &public];
    args.extend(a_args);
    let a = Gateway::start_at("127.0.0.1:0", &args);
    relay.to(&a.addr());
    a
}

/// `peer renew PEER -o json`, `per` times on each of `gateways`, all started at once while
/// `relay` holds every byte on its way to A: the one renewal that took the peer's claim
/// waits at the relay; every other is refused while it waits: 409 `renewal_in_progress`
/// from the gateway, exit 4 from `mosaic`. Then the relay lets the winner through;
/// answers its output (a success).
pub fn renew_race(relay: &Relay, gateways: &[&Gateway], peer: &str, per: usize) -> Output {
    relay.hold();
    let (tx, rx) = std::sync::mpsc::channel();
    let calls = gateways.len() * per;
    for i in 0..calls {
        let mut cmd = gateways[i % gateways.len()].mosaic();
        cmd.args(["federation", "peer", "renew", peer, "-o", "json"]);
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(run(cmd, None)).unwrap());
    }
    relay.wait_held(1, Duration::from_secs(30));
    for _ in 1..calls {
        let refused = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("every call but the held one answers");
        assert_eq!(refused.code, 4, "refused as a conflict: {refused:?}");
        let error = refused.stderr_json();
        assert_eq!(error["error"]["code"], "conflict", "{refused:?}");
        assert_eq!(
            error["error"]["gateway_code"], "renewal_in_progress",
            "{refused:?}"
        );
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(peer) && message.contains("being renewed right now"),
            "{message}"
        );
    }
    // The gateway's own answer, in the contract's error shape, from each of them.
    for gw in gateways {
        let (status, body) = gw.request(
            "POST",
            &format!("/api/admin/federation/peers/{peer}/renew"),
            None,
        );
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "renewal_in_progress", "{body}");
    }
    assert_eq!(relay.held(), 1, "one renewal reached A");
    relay.release(false);
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the held renewal answers")
        .ok()
}

/// After renewals: A issued `renewals` certificates by renewal, the certificate every
/// gateway of `bs` (one B, or its replicas) has stored is the one A holds as the grant's
/// current one, and federated reads through each of them work.
pub fn assert_b_holds_a_s_current(
    a: &Gateway,
    bs: &[&Gateway],
    grant: &str,
    peer: &str,
    renewals: usize,
) {
    assert_eq!(renewals_at(a), renewals, "certificates A issued by renewal");
    let current = a
        .run(&["federation", "grant", "show", grant, "-o", "json"])
        .ok()
        .json()["peer_cert_fingerprint"]
        .clone();
    assert!(current.is_string(), "{current}");
    for b in bs {
        let list = b
            .run(&["federation", "peer", "list", "-o", "json"])
            .ok()
            .json();
        let stored = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == peer)
            .map(|p| p["cert_fingerprint"].clone());
        assert_eq!(stored, Some(current.clone()), "B stores A's current one");
        let rows = b
            .run(&["federation", "peer", "query", peer, "tasks", "-o", "json"])
            .ok()
            .json();
        assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
        b.run(&["federation", "peer", "test", peer]).ok();
    }
}

#[test]
fn concurrent_peer_renew_calls_renew_once_and_refuse_the_others_with_renewal_in_progress() {
    let relay = Relay::start();
    let a = granting_behind(&relay, &[]);
    let b = Gateway::start_at("127.0.0.1:0", &["--auto-renew", "off"]);
    let state = tempfile::tempdir().unwrap();
    let (grant, peer) = enroll(&a, &b, state.path());
    let before = b
        .run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["cert_fingerprint"]
        .clone();
    let renewed = renew_race(&relay, &[&b], &peer, 6).json();
    assert_ne!(renewed["cert_fingerprint"], before);
    assert_b_holds_a_s_current(&a, &[&b], &grant, &peer, 1);
    // The claim went with the swap: the next renewal goes through at once.
    b.run(&["federation", "peer", "renew", &peer]).ok();
    assert_b_holds_a_s_current(&a, &[&b], &grant, &peer, 2);
}

/// The `(attempt N)` of each failed automatic renewal in `log`, in order.
fn failed_attempts(log: &str) -> Vec<u32> {
    log.lines()
        .filter(|l| l.contains("failed (attempt "))
        .filter_map(|l| {
            let rest = &l[l.find("(attempt ")? + "(attempt ".len()..];
            rest[..rest.find(')')?].parse().ok()
        })
        .collect()
}

#[test]
fn automatic_renewal_keeps_its_backoff_in_the_database_across_a_restart() {
    let relay = Relay::start();
    let a = granting_behind(&relay, &["--cert-validity", "30s"]);
    // A short lease: on PostgreSQL a kill mid-renewal leaves the claim until it ends.
    let mut b = Gateway::start_at(
        "127.0.0.1:0",
        &["--auto-renew", "50", "--renewal-timeout", "2s"],
    );
    let state = tempfile::tempdir().unwrap();
    let (grant, peer) = enroll(&a, &b, state.path());
    // A becomes unreachable: the relay forwards to a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    relay.to(&closed.local_addr().unwrap().to_string());
    drop(closed);
    let waited = Instant::now();
    while failed_attempts(&b.log()).len() < 2 {
        assert!(
            waited.elapsed() < Duration::from_secs(40),
            "two failed renewals within 40 s:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(failed_attempts(&b.log())[..2], [1, 2], "{}", b.log());
    // The next try is the peer's renewal due time, a backoff away.
    let due = ts(&b
        .run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["renewal_due_at"]);
    assert!(
        due <= OffsetDateTime::now_utc() + time::Duration::seconds(5),
        "{due}"
    );

    // A new process counts on from what the database holds.
    let before_restart = b.log().len();
    b.kill9_and_restart();
    while failed_attempts(&b.log()[before_restart..]).is_empty() {
        assert!(waited.elapsed() < Duration::from_secs(60), "{}", b.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = failed_attempts(&b.log()[before_restart..]);
    assert!(
        after[0] >= 3,
        "attempts after the restart: {after:?}\n{}",
        b.log()
    );

    // A is back: the next try renews, and the failures are cleared.
    relay.to(&a.addr());
    while !b.log()[before_restart..].contains("renewed the certificate of peer") {
        assert!(waited.elapsed() < Duration::from_secs(75), "{}", b.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_b_holds_a_s_current(&a, &[&b], &grant, &peer, 1);
    let due = ts(&b
        .run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["renewal_due_at"]);
    assert!(
        due > OffsetDateTime::now_utc() + time::Duration::seconds(10),
        "due again at half of the new lifetime: {due}"
    );
}

/// Sets columns of B's row of `peer` (`set`: an SQL assignment list), in B's own database:
/// what the passing of time or another process would have done to it.
fn set_peer_row(b: &Gateway, peer: &str, set: &str) {
    let sql = format!("UPDATE peers SET {set} WHERE id = '{peer}'");
    if let Some(database) = &b.database {
        crate::common::pg::query(database, &sql);
        return;
    }
    let db = rusqlite::Connection::open(b.dir.join("gateway.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(db.execute(&sql, []).unwrap(), 1, "{sql}");
}

/// The renewal's claim lapses while A's answer is on its way (held by the relay), and
/// another renewal takes the claim and ends without a swap: the final swap of the
/// automatic renewal finds the claim gone. That is a failure like any other, retried
/// with backoff under a claim taken again, not the end of automatic renewal for the peer
/// (whose certificate would then expire).
#[test]
fn automatic_renewal_retries_a_peer_whose_claim_lapsed_before_the_swap() {
    let relay = Relay::start();
    let a = granting_behind(&relay, &[]);
    let b = Gateway::start_at(
        "127.0.0.1:0",
        &["--auto-renew", "50", "--renewal-timeout", "5s"],
    );
    let state = tempfile::tempdir().unwrap();
    let (grant, peer) = enroll(&a, &b, state.path());
    let before = b
        .run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["cert_fingerprint"]
        .clone();
    let started = Instant::now();
    // Due now; the scheduler's renewal waits at the relay with A's request.
    relay.hold();
    set_peer_row(&b, &peer, "renew_after = 0");
    relay.wait_held(1, Duration::from_secs(10));
    // Its claim lapses, another renewal takes it, and that one's claim lapses too.
    set_peer_row(
        &b,
        &peer,
        "renewal_claimed_by = 'another-renewal', renewal_claimed_until = 1",
    );
    relay.release(false);
    while !b.log().contains("renewed the certificate of peer") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no renewal after the lapsed claim; B's log:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = b.log();
    assert!(
        !log.contains("no more automatic tries"),
        "a lapsed claim is not a reason to stop:\n{log}"
    );
    assert_eq!(failed_attempts(&log), [1], "{log}");
    assert!(log.contains("renewal claim lapsed"), "{log}");
    let after = b
        .run(&["federation", "peer", "list", "-o", "json"])
        .ok()
        .json()[0]["cert_fingerprint"]
        .clone();
    assert_ne!(after, before);
    // A issued twice (the answer B could not store, then the one it stored); B holds A's
    // current certificate and `peer query` authenticates with it.
    assert_b_holds_a_s_current(&a, &[&b], &grant, &peer, 2);
    eprintln!(
        "lapsed claim: renewed {:?} after the claim was lost",
        started.elapsed()
    );
}
