//! Named admin credentials: each operation of the OpenAPI document answered for each
//! role as decided, operators and a viewer working with their own credentials and their
//! names in the audit log and the request log, revocation and expiry at the next request
//! (across replicas on PostgreSQL), the bootstrap token refused when told so, and no
//! secret anywhere but the creation answer.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Gateway, SEED_SCOPE, http, pg, run, uuid_like};
use crate::fixtures::*;

const CREDENTIALS: &str = "/api/admin/credentials";
const WHOAMI: &str = "/api/admin/whoami";

/// `mosaic auth credential create NAME --role ROLE -q` with the bootstrap token: the
/// secret.
fn create(gw: &Gateway, name: &str, role: &str) -> String {
    let out = gw
        .run(&["auth", "credential", "create", name, "--role", role, "-q"])
        .ok();
    let secret = out.stdout.trim().to_string();
    assert!(secret.starts_with("mosaic_adm_"), "{out:?}");
    secret
}

/// A `mosaic` command against `gw` with `secret` as its admin credential.
fn as_(gw: &Gateway, secret: &str, args: &[&str]) -> crate::common::Output {
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_ADMIN_TOKEN", secret).args(args);
    run(cmd, None)
}

fn get(gw: &Gateway, path: &str, secret: &str) -> (u16, Value) {
    http("GET", &format!("{}{path}", gw.url), Some(secret), None)
}

/// The least role of each admin operation, by operationId: decided here again, apart
/// from the gateway's table, so that an operation added without a decision fails.
fn least_role() -> HashMap<&'static str, u8> {
    let (viewer, operator, admin) = (0, 1, 2);
    HashMap::from([
        ("gatewayStatus", viewer),
        ("listGrants", viewer),
        ("showGrant", viewer),
        ("listPeers", viewer),
        ("showPeerEnrollment", viewer),
        ("peerWhoami", viewer),
        ("peerResources", viewer),
        ("listAudit", viewer),
        ("adminWhoami", viewer),
        ("listCredentials", viewer),
        ("createGrant", operator),
        ("revokeGrant", operator),
        ("createToken", operator),
        ("createPeer", operator),
        ("storePeerCertificate", operator),
        ("removePeer", operator),
        ("renewPeer", operator),
        ("importTasks", operator),
        ("importNotes", operator),
        ("importCredentials", operator),
        ("importTeams", operator),
        ("importUsers", operator),
        ("createCredential", admin),
        ("revokeCredential", admin),
    ])
}

#[test]
fn every_admin_operation_of_the_document_answers_each_role_as_decided() {
    let gw = Gateway::start_with(&["--rate-limit", "off"], true);
    let roles = [
        ("viewer", create(&gw, "vera", "viewer")),
        ("operator", create(&gw, "otto", "operator")),
        ("admin", create(&gw, "ada", "admin")),
        ("admin", gw.admin_token.clone()),
    ];
    let (_, doc) = http("GET", &format!("{}/api/openapi.json", gw.url), None, None);
    let least = least_role();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/admin/") {
            continue;
        }
        let concrete = path
            .replace("{id}", "no-such-id")
            .replace("{resource}", "tasks");
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let needed = *least
                .get(id)
                .unwrap_or_else(|| panic!("no role decided for {id} ({method} {path})"));
            let body = (method != "get" && method != "delete").then(|| json!({}));
            for (level, (role, secret)) in roles.iter().enumerate() {
                let level = level.min(2) as u8;
                let (status, answer) = http(
                    &method.to_uppercase(),
                    &format!("{}{concrete}", gw.url),
                    Some(secret),
                    body.as_ref(),
                );
                assert_ne!(status, 401, "{role} {id}: {answer}");
                if level >= needed {
                    assert_ne!(status, 403, "{role} may {id}: {answer}");
                } else {
                    assert_eq!(status, 403, "{role} may not {id}: {answer}");
                    assert_eq!(answer["error"]["code"], "forbidden_role", "{id}");
                }
            }
            walked += 1;
        }
    }
    assert_eq!(
        walked,
        least.len(),
        "an entry for no operation of the document"
    );
}

#[test]
fn two_operators_and_a_viewer_work_under_their_own_names_and_one_is_removed_alone() {
    let gw = Gateway::start_with(&["--log-format", "json"], true);
    let alice = create(&gw, "alice", "operator");
    let bob = create(&gw, "bob", "operator");
    let vera = create(&gw, "vera", "viewer");

    let me = as_(&gw, &vera, &["auth", "whoami", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        me,
        json!({"name": "vera", "role": "viewer", "expires_at": null})
    );

    // alice creates a grant, bob revokes it; vera may read it, not revoke it.
    let mut cmd = gw.mosaic();
    cmd.env("MOSAIC_ADMIN_TOKEN", &alice).args([
        "federation",
        "grant",
        "create",
        "--user",
        "u-1",
        "--peer",
        "gw-b",
        "--scope",
        "-",
        "-o",
        "json",
    ]);
    let grant = run(cmd, Some(SEED_SCOPE)).ok().json();
    let id = grant["id"].as_str().unwrap();
    as_(&gw, &vera, &["federation", "grant", "show", id]).ok();
    let refused = as_(&gw, &vera, &["federation", "grant", "revoke", id, "--yes"]).code(5);
    assert!(refused.stderr.contains("operator role"), "{refused:?}");
    as_(&gw, &bob, &["federation", "grant", "revoke", id, "--yes"]).ok();

    let of = |actor: &str| -> Vec<Value> {
        as_(
            &gw,
            &vera,
            &[
                "federation",
                "audit",
                "list",
                "--actor",
                actor,
                "-o",
                "json",
            ],
        )
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
    };
    let by_alice = of("alice");
    assert_eq!(by_alice.len(), 1, "{by_alice:?}");
    assert_eq!(by_alice[0]["action"], "grant.created");
    let by_bob = of("bob");
    assert_eq!(by_bob[0]["action"], "grant.revoked");
    assert_eq!(by_bob[0]["grant_id"], id);
    assert_eq!(of("bootstrap").len(), 3, "three credentials created");

    // Taking alice's access away: no restart, bob and vera untouched.
    let list = as_(&gw, &vera, &["auth", "credential", "list", "-o", "json"])
        .ok()
        .json();
    let alice_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    as_(
        &gw,
        &bob,
        &["auth", "credential", "revoke", &alice_id, "--yes"],
    )
    .code(5);
    let revoked = gw
        .run(&[
            "auth",
            "credential",
            "revoke",
            &alice_id,
            "--yes",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    as_(&gw, &alice, &["federation", "grant", "list"]).code(5);
    as_(&gw, &bob, &["federation", "grant", "list"]).ok();
    as_(&gw, &vera, &["auth", "whoami"]).ok();
    let refused = of("alice");
    assert_eq!(refused.last().unwrap()["action"], "credential.refused");

    // Names in the request log; no secret anywhere but the creation answers.
    let log = gw.log();
    let actors: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "request")
        .filter_map(|v| v["actor"].as_str().map(str::to_string))
        .collect();
    for name in ["alice", "bob", "vera", "bootstrap"] {
        assert!(actors.iter().any(|a| a == name), "{name}: {actors:?}");
    }
    let audit = serde_json::to_string(&list_all(&gw, AUDIT, 1000)).unwrap();
    for secret in [&alice, &bob, &vera, &gw.admin_token] {
        assert!(!log.contains(secret.as_str()), "a secret in the log");
        assert!(
            !audit.contains(secret.as_str()),
            "a secret in the audit log"
        );
        assert!(!list.to_string().contains(secret.as_str()));
    }
    for c in list.as_array().unwrap() {
        assert!(
            c.get("secret").is_none() && c.get("secret_hash").is_none(),
            "{c}"
        );
    }
}

#[test]
fn an_expired_credential_is_refused_at_its_next_request() {
    let gw = Gateway::start();
    let (status, created) = gw.request(
        "POST",
        CREDENTIALS,
        Some(&json!({"name": "brief", "role": "viewer", "expires_in": 2})),
    );
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(get(&gw, WHOAMI, secret).0, 200);
    std::thread::sleep(Duration::from_millis(2100));
    let (status, answer) = get(&gw, WHOAMI, secret);
    assert_eq!(status, 401, "{answer}");
    let refused = list_all(&gw, &format!("{AUDIT}?actor=brief"), 100);
    assert_eq!(refused.last().unwrap()["action"], "credential.refused");
    // A credential the gateway does not have is exit 3, naming it.
    let missing = gw
        .run(&[
            "auth",
            "credential",
            "revoke",
            "no-such-credential",
            "--yes",
        ])
        .code(3);
    assert!(missing.stderr.contains("no-such-credential"), "{missing:?}");
}

#[test]
fn the_bootstrap_token_is_refused_while_a_named_admin_exists_when_told_so() {
    let gw = Gateway::start_with(&["--no-bootstrap-token"], true);
    create(&gw, "vera", "viewer");
    assert_eq!(gw.request("GET", GRANTS, None).0, 200, "no named admin yet");
    let ada = create(&gw, "ada", "admin");
    let (status, _) = gw.request("GET", GRANTS, None);
    assert_eq!(status, 401, "the bootstrap token is refused now");
    assert_eq!(get(&gw, GRANTS, &ada).0, 200);
    // With every named credential revoked, the break-glass token works again.
    let list = as_(&gw, &ada, &["auth", "credential", "list", "-o", "json"])
        .ok()
        .json();
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ada")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    as_(&gw, &ada, &["auth", "credential", "revoke", &id, "--yes"]).ok();
    assert_eq!(gw.request("GET", GRANTS, None).0, 200);
}

#[test]
fn a_credential_revoked_through_one_replica_is_refused_by_every_replica_at_once() {
    let Some(server) = pg::server_or_skip("credentials") else {
        return;
    };
    let database = pg::fresh_database(&server);
    let token = format!("adm-{}", uuid_like());
    let replicas: Vec<Gateway> = (0..2)
        .map(|_| Gateway::replica(&database, &token, &[]))
        .collect();
    let alice = create(&replicas[0], "alice", "operator");
    for gw in &replicas {
        assert_eq!(get(gw, WHOAMI, &alice).0, 200);
    }
    let (_, list) = replicas[1].request("GET", CREDENTIALS, None);
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = replicas[1].request("DELETE", &format!("{CREDENTIALS}/{id}"), None);
    assert_eq!(status, 200);
    for gw in &replicas {
        assert_eq!(get(gw, WHOAMI, &alice).0, 401);
    }
    // Expiry too, on both.
    let (_, brief) = replicas[0].request(
        "POST",
        CREDENTIALS,
        Some(&json!({"name": "brief", "role": "viewer", "expires_in": 2})),
    );
    let brief = brief["secret"].as_str().unwrap().to_string();
    assert_eq!(get(&replicas[1], WHOAMI, &brief).0, 200);
    std::thread::sleep(Duration::from_millis(2100));
    for gw in &replicas {
        assert_eq!(get(gw, WHOAMI, &brief).0, 401);
    }
}
