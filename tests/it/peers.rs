//! The enrolling side's peer records: keypair, the certificate checks before a peer is
//! active, list, remove; and the sealed key never coming back out.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use serde_json::{Value, json};

use crate::common::{Gateway, SECRET, uuid_like};
use crate::fixtures::*;

/// A valid `peers/keypair` body for `id`, and the key behind its CSR.
pub fn keypair_body(id: &str) -> (Value, KeyPair) {
    let (key, csr) = p256_csr();
    let secret = mosaic::crypto::seal::SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let sealed = secret.seal_peer_key(id, &key.serialize_der());
    (
        json!({
            "id": id,
            "name": "gateway A",
            "remote_url": "https://a.example",
            "csr_pem": csr,
            "sealed_private_key": sealed,
        }),
        key,
    )
}

fn new_peer(gw: &Gateway) -> (String, Value, KeyPair) {
    let id = format!("peer-{}", uuid_like());
    let (body, key) = keypair_body(&id);
    let (status, peer) = gw.request("POST", &format!("{PEERS}/keypair"), Some(&body));
    assert_eq!(status, 201, "{peer}");
    (id, body, key)
}

/// Enrolls `key` with a grant of `gw` itself (a gateway can be both sides); returns the
/// enrollment response.
fn enroll_key(gw: &Gateway, key: &KeyPair) -> Value {
    let grant = create_grant(gw);
    let token = issue_token(gw, grant["id"].as_str().unwrap(), None);
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(key).unwrap().pem().unwrap();
    let (status, resp) = enroll(&url_of(&token), &csr);
    assert_eq!(status, 200, "{resp}");
    resp
}

fn cert_body(resp: &Value) -> Value {
    json!({
        "certificate_pem": resp["certificate_pem"],
        "ca_certificate_pem": resp["ca_certificate_pem"],
        "grant_id": resp["grant_id"],
        "subject_user_id": resp["subject_user_id"],
    })
}

#[test]
fn keypair_then_cert_makes_an_active_peer() {
    let gw = Gateway::start();
    let (id, body, key) = new_peer(&gw);
    let (_, listed) = gw.request("GET", PEERS, None);
    let peer = &listed["items"][0];
    assert_eq!(peer["id"], id.as_str());
    assert_eq!(peer["name"], "gateway A");
    assert_eq!(peer["remote_url"], "https://a.example");
    assert_eq!(peer["status"], "pending");
    for field in [
        "grant_id",
        "subject_user_id",
        "cert_fingerprint",
        "cert_serial",
        "cert_not_after",
        "activated_at",
    ] {
        assert_eq!(peer[field], Value::Null, "{field}");
    }

    let resp = enroll_key(&gw, &key);
    let (status, active) = gw.request(
        "PATCH",
        &format!("{PEERS}/{id}/cert"),
        Some(&cert_body(&resp)),
    );
    assert_eq!(status, 200, "{active}");
    assert_eq!(active["status"], "active");
    assert_eq!(active["grant_id"], resp["grant_id"]);
    assert_eq!(active["subject_user_id"], resp["subject_user_id"]);
    let der = pem_der(resp["certificate_pem"].as_str().unwrap());
    assert_eq!(
        active["cert_fingerprint"],
        mosaic::crypto::fingerprint(&der)
    );
    assert_eq!(active["cert_not_after"], resp["not_after"]);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(active["cert_serial"], hex::encode(cert.raw_serial()));
    assert!(active["activated_at"].is_string());

    let (status, again) = gw.request(
        "PATCH",
        &format!("{PEERS}/{id}/cert"),
        Some(&cert_body(&resp)),
    );
    assert_error(status, &again, 409, "conflict");

    // The sealed key never comes back.
    let sealed = body["sealed_private_key"].as_str().unwrap();
    let (_, listed) = gw.request("GET", PEERS, None);
    assert!(!listed.to_string().contains(sealed));
    assert!(!active.to_string().contains(sealed));
    assert!(!gw.log().contains(sealed));
}

#[test]
fn keypair_validates_its_body() {
    let gw = Gateway::start();
    let (id, valid, _) = new_peer(&gw);
    let (status, body) = gw.request("POST", &format!("{PEERS}/keypair"), Some(&valid));
    assert_error(status, &body, 409, "conflict");

    let with = |field: &str, value: Value| {
        let mut b = keypair_body(&format!("p-{}", uuid_like())).0;
        b[field] = value;
        b
    };
    let cases = [
        (
            with("sealed_private_key", json!("-----BEGIN PRIVATE KEY-----")),
            "sealed_private_key",
        ),
        (
            with("sealed_private_key", json!("mosaic-sealed-v1:!!!")),
            "sealed_private_key",
        ),
        (
            with("sealed_private_key", json!("mosaic-sealed-v1:AAAA")),
            "sealed_private_key",
        ),
        (
            with("csr_pem", json!(csr_with(&rcgen::PKCS_ECDSA_P384_SHA384).1)),
            "P-256",
        ),
        (with("csr_pem", json!(badly_signed_csr())), "signature"),
        (with("remote_url", json!("ftp://a.example")), "remote_url"),
        (with("remote_url", json!("not a url")), "remote_url"),
        (with("id", json!("a/b")), "id"),
        (with("id", json!("")), "id"),
        (with("name", json!("")), "name"),
        (with("extra", json!(1)), "extra"),
    ];
    for (body, named) in cases {
        let (status, resp) = gw.request("POST", &format!("{PEERS}/keypair"), Some(&body));
        assert_error(status, &resp, 400, "invalid_request");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{named} not in {message:?}");
    }
    let (_, listed) = gw.request("GET", PEERS, None);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only {id}");
}

#[test]
fn a_sealed_key_the_gateway_cannot_use_is_refused() {
    let gw = Gateway::start();
    let other_secret =
        mosaic::crypto::seal::SealingSecret::new(b"another-secret-of-more-than-32-bytes!".to_vec())
            .unwrap();
    let ours = mosaic::crypto::seal::SealingSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let other_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    // Each case: a keypair body whose sealed key is made the wrong way.
    let case = |seal: &dyn Fn(&str, &KeyPair) -> String| {
        let id = format!("p-{}", uuid_like());
        let (mut body, key) = keypair_body(&id);
        body["sealed_private_key"] = json!(seal(&id, &key));
        body
    };
    let cases = [
        (
            case(&|id, key| other_secret.seal_peer_key(id, &key.serialize_der())),
            "differs from the gateway's",
        ),
        (
            case(&|_, key| ours.seal_peer_key("someone-else", &key.serialize_der())),
            "differs from the gateway's",
        ),
        (
            case(&|id, _| ours.seal_peer_key(id, &other_key.serialize_der())),
            "not the private key of csr_pem",
        ),
    ];
    for (body, named) in cases {
        let (status, resp) = gw.request("POST", &format!("{PEERS}/keypair"), Some(&body));
        assert_error(status, &resp, 400, "invalid_request");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{message:?}");
        assert!(!message.contains(SECRET), "{message:?}");
    }
    let (_, listed) = gw.request("GET", PEERS, None);
    assert!(listed["items"].as_array().unwrap().is_empty(), "{listed}");
}

#[test]
fn a_certificate_for_another_key_or_ids_is_refused_naming_the_check() {
    let gw = Gateway::start();
    let (id, _, key) = new_peer(&gw);
    let good = enroll_key(&gw, &key);
    let other_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let foreign = enroll_key(&gw, &other_key);
    let other_gw = Gateway::start();
    let other_ca = {
        let g = create_grant(&other_gw);
        let t = issue_token(&other_gw, g["id"].as_str().unwrap(), None);
        http_preview_ca(&url_of(&t))
    };

    let patch = |body: Value| gw.request("PATCH", &format!("{PEERS}/{id}/cert"), Some(&body));
    let with = |field: &str, value: Value| {
        let mut b = cert_body(&good);
        b[field] = value;
        b
    };
    let mut cases = vec![
        (cert_body(&foreign), "public key"),
        (
            with("ca_certificate_pem", json!(other_ca)),
            "not signed by the CA",
        ),
        (
            with("ca_certificate_pem", good["certificate_pem"].clone()),
            "not a certificate authority",
        ),
        (with("grant_id", json!("another-grant")), "grant ID"),
        (
            with("subject_user_id", json!("another-user")),
            "subject user ID",
        ),
        (with("certificate_pem", json!("junk")), "issued certificate"),
        (with("ca_certificate_pem", json!("")), "CA certificate"),
    ];
    let (hand_made, hand_made_valid) = hand_made_cases(&key, &good);
    cases.extend(hand_made);
    for (body, check) in cases {
        let (status, resp) = patch(body);
        assert_error(status, &resp, 400, "invalid_request");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(check), "{check} not named in {message:?}");
    }
    let (_, listed) = gw.request("GET", PEERS, None);
    assert_eq!(
        listed["items"][0]["status"], "pending",
        "nothing was stored as active"
    );

    // The hand-made baseline passes every check: each refusal above was for its one flaw.
    let (status, resp) = patch(hand_made_valid);
    assert_eq!(status, 200, "{resp}");

    let (status, resp) = gw.request(
        "PATCH",
        &format!("{PEERS}/nope/cert"),
        Some(&cert_body(&good)),
    );
    assert_error(status, &resp, 404, "not_found");
}

fn http_preview_ca(url: &str) -> String {
    let (status, preview) = crate::common::http("GET", url, None, None);
    assert_eq!(status, 200);
    preview["ca_certificate_pem"].as_str().unwrap().to_string()
}

/// Certificates from a CA made here, each breaking one rule: expired, no clientAuth, a
/// missing OID, a duplicated OID, a non-UTF8String OID; and one that keeps every rule.
fn hand_made_cases(key: &KeyPair, good: &Value) -> (Vec<(Value, &'static str)>, Value) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let grant_id = good["grant_id"].as_str().unwrap();
    let user_id = good["subject_user_id"].as_str().unwrap();
    let utf8 = |s: &str| {
        let mut v = vec![0x0c, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    };
    let base = || {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(mosaic::crypto::oid::GRANT_ID, utf8(grant_id)),
            CustomExtension::from_oid_content(mosaic::crypto::oid::SUBJECT_USER_ID, utf8(user_id)),
        ];
        p
    };
    let body = |p: CertificateParams| {
        let cert = p.signed_by(key, &issuer).unwrap();
        json!({
            "certificate_pem": cert.pem(),
            "ca_certificate_pem": ca_cert.pem(),
            "grant_id": grant_id,
            "subject_user_id": user_id,
        })
    };

    let mut expired = base();
    expired.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    expired.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut server_only = base();
    server_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut no_grant = base();
    no_grant.custom_extensions.remove(0);
    let mut twice = base();
    twice
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            mosaic::crypto::oid::SUBJECT_USER_ID,
            utf8(user_id),
        ));
    let mut printable = base();
    printable.custom_extensions[0] =
        CustomExtension::from_oid_content(mosaic::crypto::oid::GRANT_ID, {
            let mut v = utf8(grant_id);
            v[0] = 0x13;
            v
        });
    let cases = vec![
        (body(expired), "not valid now"),
        (body(server_only), "clientAuth"),
        (body(no_grant), "lacks"),
        (body(twice), "more than once"),
        (body(printable), "UTF8String"),
    ];
    (cases, body(base()))
}

#[test]
fn remove_deletes_a_peer() {
    let gw = Gateway::start();
    let (id, _, _) = new_peer(&gw);
    let (status, body) = gw.request("DELETE", &format!("{PEERS}/{id}"), None);
    assert_eq!(status, 204, "{body}");
    let (status, body) = gw.request("DELETE", &format!("{PEERS}/{id}"), None);
    assert_error(status, &body, 404, "not_found");
    let (_, listed) = gw.request("GET", PEERS, None);
    assert_eq!(listed["items"], json!([]));
    // The ID is free again.
    let (body, _) = keypair_body(&id);
    let (status, _) = gw.request("POST", &format!("{PEERS}/keypair"), Some(&body));
    assert_eq!(status, 201);
}

#[test]
fn peer_list_pages() {
    let gw = Gateway::start();
    let ids: Vec<String> = (0..5).map(|_| new_peer(&gw).0).collect();
    let listed: Vec<String> = list_all(&gw, PEERS, 2)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids);
    let (status, body) = gw.request("GET", &format!("{PEERS}?limit=0"), None);
    assert_error(status, &body, 400, "invalid_request");
}
