//! Gateway replicas on one PostgreSQL database: every guarantee of the contract holds
//! whichever replica a request reaches, a replica killed mid-load loses nothing another
//! acknowledged, and the replicas ride out a database restart. Runs when
//! `MOSAIC_TEST_DATABASE_URL` names a server (`scripts/pg.sh start`); otherwise each test
//! says once that the PostgreSQL suite was skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Gateway, http, pg, uuid_like};
use crate::enrollment::{exactly_one_winner, race};
use crate::fixtures::*;

/// Three replicas of one gateway on a fresh database, rate limits off (the races come
/// from one address on purpose).
fn three_replicas(server: &str) -> (String, Vec<Gateway>) {
    let database = pg::fresh_database(server);
    let token = format!("adm-{}", uuid_like());
    let replicas = (0..3)
        .map(|_| Gateway::replica(&database, &token, &["--rate-limit", "off"]))
        .collect();
    (database, replicas)
}

/// `url` (an enrollment URL of any replica) as served by `gw`.
fn on(gw: &Gateway, url: &str) -> String {
    let path = &url[url.find("/api/").expect("an API URL")..];
    format!("{}{path}", gw.url)
}

#[test]
fn of_64_enrollments_with_one_token_over_three_replicas_exactly_one_wins_in_each_of_20_rounds() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let (_db, replicas) = three_replicas(&server);
    for round in 0..20 {
        let grant = create_grant(&replicas[round % 3]);
        let id = grant["id"].as_str().unwrap();
        let url = url_of(&issue_token(&replicas[(round + 1) % 3], id, None));
        let urls = (0..64).map(|i| on(&replicas[i % 3], &url)).collect();
        let csrs = (0..64).map(|_| p256_csr().1).collect();
        let results = race(urls, csrs);
        exactly_one_winner(&replicas[(round + 2) % 3], id, &results, 410);
    }
}

#[test]
fn of_64_enrollments_with_64_tokens_of_one_grant_over_three_replicas_exactly_one_wins() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let (_db, replicas) = three_replicas(&server);
    for round in 0..5 {
        let grant = create_grant(&replicas[round % 3]);
        let id = grant["id"].as_str().unwrap();
        let urls = (0..64)
            .map(|i| {
                let url = url_of(&issue_token(&replicas[(i + 1) % 3], id, None));
                on(&replicas[i % 3], &url)
            })
            .collect();
        let csrs = (0..64).map(|_| p256_csr().1).collect();
        let results = race(urls, csrs);
        exactly_one_winner(&replicas[(round + 1) % 3], id, &results, 409);
    }
}

#[test]
fn a_grant_lives_across_replicas_and_a_revoke_on_one_stops_reads_on_another() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let database = pg::fresh_database(&server);
    let token = format!("adm-{}", uuid_like());
    let replicas: Vec<Gateway> = (0..3)
        .map(|_| Gateway::replica(&database, &token, &["--tls"]))
        .collect();
    // Every replica serves the one CA, and peers pin it.
    let ca = replicas[0].ca_pem();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let user = "u-replicas";
    let mut import = replicas[2].mosaic();
    import.args(["federation", "data", "import", "tasks", "--user", user, "-"]);
    crate::common::run(import, Some(&crate::dataplane::tasks("t", 2).to_string())).ok();

    let grant = crate::fixtures::create_grant_with(&replicas[0], json!({"user_id": user}));
    let id = grant["id"].as_str().unwrap();
    let issued = issue_token(&replicas[1], id, None);
    assert_eq!(
        issued["ca_fingerprint"],
        mosaic::crypto::fingerprint(&pem_der(&ca))
    );
    let (key, csr) = p256_csr();
    let (status, enrolled) = crate::common::tls::https(
        "POST",
        &on(&replicas[2], &url_of(&issued)),
        &ca,
        None,
        None,
        Some(&json!({ "csr_pem": csr })),
    )
    .expect("a TLS answer");
    assert_eq!(status, 200, "{enrolled}");
    let (_, seen) = replicas[0].request("GET", &format!("{GRANTS}/{id}"), None);
    assert_eq!(seen["status"], "active");

    // The peer reads over mutual TLS from replica 2 with the certificate replica 3 issued.
    let cert = enrolled["certificate_pem"].as_str().unwrap();
    let key_pem = key.serialize_pem();
    let read = |gw: &Gateway| {
        let identity = crate::common::tls::Identity {
            cert_pem: cert,
            key_pem: &key_pem,
        };
        crate::common::tls::https(
            "GET",
            &format!("{}/api/federation/v1/resources/tasks", gw.url),
            &ca,
            Some(identity),
            None,
            None,
        )
        .expect("a TLS answer")
    };
    let (status, body) = read(&replicas[1]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");

    let (status, _) = replicas[0].request(
        "PATCH",
        &format!("{GRANTS}/{id}/revoke"),
        Some(&json!({"reason": "replicas"})),
    );
    assert_eq!(status, 200);
    for gw in &replicas {
        let (status, body) = read(gw);
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "grant_inactive", "{body}");
    }
}

#[test]
fn two_replicas_starting_at_once_on_an_empty_database_make_one_ca_and_migrate_once() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    for _ in 0..3 {
        let database = pg::fresh_database(&server);
        let token = format!("adm-{}", uuid_like());
        let starts: Vec<_> = (0..2)
            .map(|_| {
                let (database, token) = (database.clone(), token.clone());
                std::thread::spawn(move || Gateway::replica(&database, &token, &[]))
            })
            .collect();
        let replicas: Vec<Gateway> = starts.into_iter().map(|t| t.join().unwrap()).collect();
        let fingerprints: Vec<String> = replicas
            .iter()
            .map(|gw| {
                let line = gw
                    .log()
                    .lines()
                    .find(|l| l.contains("CA fingerprint: "))
                    .expect("the CA line")
                    .to_string();
                line[line.find("sha256:").unwrap()..].to_string()
            })
            .collect();
        assert_eq!(fingerprints[0], fingerprints[1]);
        assert_eq!(
            pg::scalar(&database, "SELECT count(*) FROM gateway_ca").as_deref(),
            Some("1")
        );
        assert_eq!(
            pg::query(
                &database,
                "SELECT version FROM schema_migrations ORDER BY version"
            ),
            // Each of the PostgreSQL schema's migrations, once.
            (1..=5)
                .map(|v| vec![Some(v.to_string())])
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_replica_killed_mid_load_loses_nothing_another_acknowledged() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let (_db, mut replicas) = three_replicas(&server);
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let (url, token) = (
                replicas[i % 3].url.clone(),
                replicas[i % 3].admin_token.clone(),
            );
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 60 {
                    n += 1;
                    let body = json!({
                        "user_id": format!("u-{i}-{n}"),
                        "peer_id": "gw-b",
                        "scope": seed_scope(),
                    });
                    // A request to the killed replica fails: not acknowledged.
                    let answer = std::panic::catch_unwind(|| {
                        http("POST", &format!("{url}{GRANTS}"), Some(&token), Some(&body))
                    });
                    match answer {
                        Ok((201, grant)) => acknowledged
                            .lock()
                            .unwrap()
                            .push(grant["id"].as_str().unwrap().to_string()),
                        Ok((status, body)) => panic!("{status} {body}"),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    replicas[0].stop(); // SIGKILL
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the load ran: {}",
        acknowledged.len()
    );
    for gw in &replicas[1..] {
        let listed: std::collections::HashSet<String> = list_all(gw, GRANTS, 1000)
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_string())
            .collect();
        for id in &acknowledged {
            assert!(
                listed.contains(id),
                "grant {id} was acknowledged but is gone"
            );
        }
    }
}

/// A cluster of this test's own (`scripts/pg.sh` in a directory of its own), so that
/// stopping it disturbs no other test; removed when dropped.
struct OwnCluster {
    dir: String,
    url: String,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let dir = format!("/tmp/mosaic-pg-{}", uuid_like());
        let out = Self::script(&dir, "start");
        OwnCluster {
            url: out.trim().to_string(),
            dir,
        }
    }

    fn script(dir: &str, verb: &str) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh");
        let out = std::process::Command::new("sh")
            .args([script, verb])
            .env("MOSAIC_PG_DIR", dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/pg.sh {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        Self::script(&self.dir, "stop");
    }
}

#[test]
fn the_replicas_answer_503_while_the_database_is_down_and_recover_without_a_restart() {
    if pg::server_or_skip("replicas").is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let database = pg::fresh_database(&cluster.url);
    let token = format!("adm-{}", uuid_like());
    let replicas: Vec<Gateway> = (0..3)
        .map(|_| Gateway::replica(&database, &token, &[]))
        .collect();
    let grant = create_grant(&replicas[0]);
    let id = grant["id"].as_str().unwrap().to_string();

    OwnCluster::script(&cluster.dir, "pause");
    for gw in &replicas {
        let (status, body) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let body = json!({"user_id": "u-down", "peer_id": "gw-b", "scope": seed_scope()});
        let (status, answer) = gw.request("POST", GRANTS, Some(&body));
        assert_eq!(status, 503, "{answer}");
        assert!(!gw.log().contains(&token), "no admin token in the log");
    }
    OwnCluster::script(&cluster.dir, "resume");

    // Back: every replica serves again, the same processes, no restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    for gw in &replicas {
        loop {
            let (status, body) = gw.request("GET", &format!("{GRANTS}/{id}"), None);
            if status == 200 {
                assert_eq!(body["id"], Value::from(id.clone()));
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(
                Instant::now() < deadline,
                "no recovery: {body}\n{}",
                gw.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let made = create_grant(gw);
        assert!(made["id"].is_string());
    }
}

#[test]
fn a_list_paged_across_replicas_is_the_list_of_any_one() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let (_db, replicas) = three_replicas(&server);
    for i in 0..25 {
        create_grant(&replicas[i % 3]);
    }
    let whole: Vec<Value> = list_all(&replicas[0], GRANTS, 1000);
    assert_eq!(whole.len(), 25);
    // Each page from the next replica, with the cursor the previous one handed out.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0.. {
        let mut path = format!("{GRANTS}?limit=7");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = replicas[page_no % 3].request("GET", &path, None);
        assert_eq!(status, 200, "{page}");
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, whole);
}

/// A granting gateway behind a relay and `n` replicas of an enrolling gateway (with
/// `b_args`) on one fresh database, the peer enrolled through the first replica.
struct Renewing {
    relay: crate::common::relay::Relay,
    a: Gateway,
    bs: Vec<Gateway>,
    grant: String,
    peer: String,
    _state: tempfile::TempDir,
}

fn renewing(server: &str, a_args: &[&str], n: usize, b_args: &[&str]) -> Renewing {
    let relay = crate::common::relay::Relay::start();
    let a = crate::renewal::granting_behind(&relay, a_args);
    let database = pg::fresh_database(server);
    let token = format!("adm-{}", uuid_like());
    let bs: Vec<Gateway> = (0..n)
        .map(|_| Gateway::replica(&database, &token, b_args))
        .collect();
    let state = tempfile::tempdir().unwrap();
    let (grant, peer) = crate::renewal::enroll(&a, &bs[0], state.path());
    Renewing {
        relay,
        a,
        bs,
        grant,
        peer,
        _state: state,
    }
}

impl Renewing {
    fn bs(&self) -> Vec<&Gateway> {
        self.bs.iter().collect()
    }
}

#[test]
fn concurrent_peer_renew_on_every_replica_renews_once_and_refuses_the_others() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let fed = renewing(&server, &[], 3, &["--auto-renew", "off"]);
    for round in 1..=2 {
        let renewed = crate::renewal::renew_race(&fed.relay, &fed.bs(), &fed.peer, 3).json();
        assert_eq!(renewed["id"], fed.peer.as_str());
        crate::renewal::assert_b_holds_a_s_current(&fed.a, &fed.bs(), &fed.grant, &fed.peer, round);
    }
}

#[test]
fn a_replica_killed_while_it_holds_the_renewal_claim_blocks_the_peer_only_until_its_lease_ends() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    // A lease of 2 x 4 s.
    let mut fed = renewing(
        &server,
        &[],
        2,
        &["--auto-renew", "off", "--renewal-timeout", "4s"],
    );
    fed.relay.hold();
    let mut cmd = fed.bs[0].mosaic();
    cmd.args(["federation", "peer", "renew", &fed.peer])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut renewing_cli = cmd.spawn().unwrap();
    // The renewal claimed the peer, then called A: its bytes wait at the relay.
    fed.relay.wait_held(1, Duration::from_secs(30));
    let claimed = Instant::now();
    fed.bs[0].kill9_and_restart();
    let _ = renewing_cli.wait();
    // Nothing the dead replica sent reaches A.
    fed.relay.release(true);

    // The claim outlives its holder, on the replica that came back and on the other one.
    for b in &fed.bs {
        let (status, body) = b.request(
            "POST",
            &format!("/api/admin/federation/peers/{}/renew", fed.peer),
            None,
        );
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "renewal_in_progress", "{body}");
    }
    assert!(
        claimed.elapsed() < Duration::from_secs(8),
        "checked within the lease"
    );
    // Then the lease ends and the other replica renews.
    let renewed = loop {
        let out = fed.bs[1].run(&["federation", "peer", "renew", &fed.peer, "-o", "json"]);
        if out.code == 0 {
            break out.json();
        }
        assert_eq!(out.code, 4, "refused while the claim lasts: {out:?}");
        assert!(
            claimed.elapsed() < Duration::from_secs(30),
            "the claim of a dead replica never lapsed: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let waited = claimed.elapsed();
    assert!(
        waited >= Duration::from_secs(7),
        "renewed after {waited:?}, within the lease"
    );
    eprintln!("the claim of a replica killed mid-renewal lapsed after {waited:?} (lease 8 s)");
    assert!(renewed["cert_fingerprint"].is_string());
    crate::renewal::assert_b_holds_a_s_current(&fed.a, &fed.bs(), &fed.grant, &fed.peer, 1);
}

#[test]
fn automatic_renewal_on_three_replicas_renews_once_per_cycle_and_b_keeps_a_s_current() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    // The shortest lifetime (30 s), renewed at half of it: a cycle every 15 to 16.5 s.
    let fed = renewing(
        &server,
        &["--cert-validity", "30s"],
        3,
        &["--auto-renew", "50"],
    );
    const CYCLES: usize = 2;
    let started = Instant::now();
    let mut fingerprints: Vec<Value> = Vec::new();
    let mut reads = 0;
    while crate::renewal::renewals_at(&fed.a) < CYCLES {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{CYCLES} renewals in 60 s; fingerprints seen: {fingerprints:?}"
        );
        // Federated reads keep working through every replica, whichever renewed.
        let b = &fed.bs[reads % 3];
        let rows = b.run(&[
            "federation",
            "peer",
            "query",
            &fed.peer,
            "tasks",
            "-o",
            "json",
        ]);
        assert_eq!(
            rows.code,
            0,
            "read {reads} after {:?}: {rows:?}",
            started.elapsed()
        );
        reads += 1;
        let list = b
            .run(&["federation", "peer", "list", "-o", "json"])
            .ok()
            .json();
        let fp = list[0]["cert_fingerprint"].clone();
        if fingerprints.last() != Some(&fp) {
            fingerprints.push(fp);
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    // A's last renewal is stored by B within moments; the next is 15 s away.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let renewed_on_b = renewals_stored(&fed.bs[0]);
        if renewed_on_b.as_array().unwrap().len() >= CYCLES || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let issued = crate::renewal::renewals_at(&fed.a);
    let by_replica: Vec<usize> = fed
        .bs
        .iter()
        .map(|b| {
            b.log()
                .lines()
                .filter(|l| l.contains("renewed the certificate of peer"))
                .count()
        })
        .collect();
    eprintln!(
        "automatic renewal on 3 replicas: {issued} certificates issued by A in {:?}, \
         renewals per replica {by_replica:?}, {reads} reads",
        started.elapsed()
    );
    // Exactly one renewal per cycle: every certificate A issued is one B stored.
    let stored_on_b = renewals_stored(&fed.bs[0]);
    assert_eq!(
        stored_on_b.as_array().unwrap().len(),
        issued,
        "{stored_on_b}"
    );
    assert_eq!(by_replica.iter().sum::<usize>(), issued, "{by_replica:?}");
    crate::renewal::assert_b_holds_a_s_current(&fed.a, &fed.bs(), &fed.grant, &fed.peer, issued);
    for b in &fed.bs {
        assert!(
            !b.log().contains(crate::common::SECRET),
            "no secret in a replica's log"
        );
    }
}

/// The `peer.renewed` entries of B's audit log: one per certificate B stored.
fn renewals_stored(b: &Gateway) -> serde_json::Value {
    b.run(&[
        "federation",
        "audit",
        "list",
        "--action",
        "peer.renewed",
        "-o",
        "json",
    ])
    .ok()
    .json()
}

/// A "database server" that answers every SSLRequest with `N` (no TLS), as a server
/// without TLS or anyone on the path can; it records, per connection, whatever the
/// client sent after that answer (or instead of an SSLRequest).
struct RefusesTls {
    addr: String,
    after_refusal: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl RefusesTls {
    fn start() -> RefusesTls {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let after_refusal = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = after_refusal.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                    let mut first = [0u8; 8];
                    if stream.read_exact(&mut first).is_err() {
                        return;
                    }
                    // SSLRequest: length 8, code 80877103.
                    let mut rest = if first == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] {
                        let _ = stream.write_all(b"N");
                        Vec::new()
                    } else {
                        first.to_vec()
                    };
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        rest.extend_from_slice(&buf[..n]);
                    }
                    seen.lock().unwrap().push(rest);
                });
            }
        });
        RefusesTls {
            addr,
            after_refusal,
        }
    }

    /// Whether any connection sent a StartupMessage (protocol 3.0) in plain text: its
    /// user and database names, and the next step of the login, in the clear.
    fn saw_plaintext_startup(&self) -> bool {
        self.after_refusal
            .lock()
            .unwrap()
            .iter()
            .any(|bytes| bytes.len() >= 8 && bytes[4..8] == [0, 3, 0, 0])
    }

    fn connections(&self) -> usize {
        self.after_refusal.lock().unwrap().len()
    }
}

/// `gateway serve` on `url` with a CA file for the database; it must refuse to start:
/// (exit code, standard error).
fn serve_refusing(url: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["db.test".to_string()]).unwrap();
    let ca = crate::common::write_file(dir.path(), "db-ca.pem", &cert.cert.pem());
    let mut cmd = crate::common::mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--database-url", url, "--database-ca-file"])
        .arg(&ca)
        .env("BETTER_AUTH_SECRET", crate::common::SECRET)
        .env("MOSAIC_ADMIN_TOKEN", format!("adm-{}", uuid_like()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
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

/// With `--database-ca-file` and no `sslmode`, TLS is required: a server (or anyone on
/// the path) answering the SSLRequest with `N` does not get the login in plain text, and
/// the gateway refuses to start with one line.
#[test]
fn with_a_database_ca_file_a_server_refusing_tls_gets_no_plaintext_login() {
    let server = RefusesTls::start();
    let url = format!("postgres://mosaic@{}/mosaic", server.addr);
    let (code, stderr) = serve_refusing(&url);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.connections() >= 1,
        "the gateway never tried: {stderr}"
    );
    assert!(
        !server.saw_plaintext_startup(),
        "the gateway sent its StartupMessage in plain text after the server refused TLS; \
         it said: {stderr}"
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("TLS"), "{stderr}");
}

/// `sslmode=prefer` or `disable` written in the URL next to `--database-ca-file` is
/// refused before any connection, naming the fix.
#[test]
fn with_a_database_ca_file_sslmode_prefer_or_disable_is_refused_before_connecting() {
    let server = RefusesTls::start();
    for mode in ["prefer", "disable"] {
        let url = format!("postgres://mosaic@{}/mosaic?sslmode={mode}", server.addr);
        let (code, stderr) = serve_refusing(&url);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(&format!("sslmode={mode}")), "{stderr}");
        assert!(stderr.contains("use sslmode=require"), "{stderr}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.connections(), 0, "no connection was made");
}

/// A replica whose database stops answering is not ready, and says why; once the database
/// is back, it is ready again. Liveness (`/api/health`) answers throughout.
#[test]
fn a_replica_whose_database_is_down_is_not_ready_and_says_why() {
    let Some(server) = pg::server_or_skip("replicas") else {
        return;
    };
    let database = pg::fresh_database(&server);
    let token = format!("adm-{}", uuid_like());
    let gw = Gateway::replica(&database, &token, &[]);
    let ready = || http("GET", &format!("{}/api/ready", gw.url), None, None);
    assert_eq!(ready(), (200, json!({"status": "ready"})));

    let name = database.rsplit('/').next().unwrap().to_string();
    pg::query(
        &server,
        &format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    );
    let (status, body) = ready();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("database"), "{message}");
    assert!(!message.contains(&token), "{message}");
    assert_eq!(
        http("GET", &format!("{}/api/health", gw.url), None, None).0,
        200
    );

    pg::query(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready again: {:?}",
            ready()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
