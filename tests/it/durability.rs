//! What the gateway acknowledged survives `kill -9`: writes are grouped into one commit,
//! and none is answered before that commit is on disk.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::Gateway;
use crate::fixtures::*;

/// One request that may fail in transport (the gateway is killed under it): the status
/// and body, or `None`.
fn try_request(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    body: &Value,
) -> Option<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = agent
        .run(req.body(serde_json::to_vec(body).unwrap()).unwrap())
        .ok()?;
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).ok()?))
}

#[derive(Default)]
struct Acknowledged {
    /// Grants answered 201.
    grants: Vec<String>,
    /// Enrollments answered 200: (grant, certificate fingerprint).
    enrollments: Vec<(String, String)>,
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let mut gw = Gateway::start_with(&["--rate-limit", "off"], true);
    let base = gw.url.clone();
    let admin = gw.admin_token.clone();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let csrs: Vec<String> = (0..400).map(|_| p256_csr().1).collect();
    let csrs = Arc::new(Mutex::new(csrs));
    // Eight clients, each: create a grant, issue a token, enroll; until the gateway dies
    // under them or 400 rounds are done.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (base, admin) = (base.clone(), admin.clone());
            let (acked, answered, stop, csrs) =
                (acked.clone(), answered.clone(), stop.clone(), csrs.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(csr) = csrs.lock().unwrap().pop() else {
                        return;
                    };
                    let body = json!({"user_id": "u-1", "peer_id": "gw-b", "scope": seed_scope()});
                    let grants = format!("{base}{GRANTS}");
                    let Some((201, grant)) = try_request("POST", &grants, Some(&admin), &body)
                    else {
                        return;
                    };
                    let id = grant["id"].as_str().unwrap().to_string();
                    acked.lock().unwrap().grants.push(id.clone());
                    answered.fetch_add(1, Ordering::SeqCst);
                    let tokens = format!("{grants}/{id}/tokens");
                    let Some((201, token)) = try_request("POST", &tokens, Some(&admin), &json!({}))
                    else {
                        return;
                    };
                    let url = token["enrollment_url"].as_str().unwrap().to_string();
                    let Some((200, cert)) =
                        try_request("POST", &url, None, &json!({"csr_pem": csr}))
                    else {
                        return;
                    };
                    let der = pem_der(cert["certificate_pem"].as_str().unwrap());
                    let fingerprint = mosaic::crypto::fingerprint(&der);
                    acked.lock().unwrap().enrollments.push((id, fingerprint));
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Kill it in the middle of the load: requests are in flight, commits are queued.
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < 150 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    gw.kill9_and_restart();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap();
    assert!(
        acked.grants.len() >= 75,
        "too little load: {}",
        acked.grants.len()
    );
    assert!(!acked.enrollments.is_empty());
    let all: std::collections::HashMap<String, Value> = list_all(&gw, GRANTS, 1000)
        .into_iter()
        .map(|g| (g["id"].as_str().unwrap().to_string(), g))
        .collect();
    for id in &acked.grants {
        assert!(all.contains_key(id), "acknowledged grant {id} was lost");
    }
    for (id, fingerprint) in &acked.enrollments {
        let grant = &all[id];
        assert_eq!(grant["status"], "active", "{grant}");
        assert_eq!(
            grant["peer_cert_fingerprint"],
            fingerprint.as_str(),
            "{grant}"
        );
    }
}
