//! Building blocks for the gateway tests: grants, tokens, CSRs, enrollments, raw HTTP.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use x509_parser::pem::parse_x509_pem;

use crate::common::{Gateway, SEED_SCOPE, http, uuid_like};

pub const GRANTS: &str = "/api/admin/federation/grants";
pub const PEERS: &str = "/api/admin/federation/peers";
pub const AUDIT: &str = "/api/admin/federation/audit";

pub fn seed_scope() -> Value {
    serde_json::from_str(SEED_SCOPE).unwrap()
}

/// Creates a pending grant for a fresh user and peer; returns it.
#[track_caller]
pub fn create_grant(gw: &Gateway) -> Value {
    create_grant_with(gw, json!({}))
}

/// Creates a grant with `extra` fields merged into the body.
#[track_caller]
pub fn create_grant_with(gw: &Gateway, extra: Value) -> Value {
    let mut body = json!({
        "user_id": format!("user-{}", uuid_like()),
        "peer_id": format!("peer-{}", uuid_like()),
        "scope": seed_scope(),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, grant) = gw.request("POST", GRANTS, Some(&body));
    assert_eq!(status, 201, "{grant}");
    grant
}

/// Issues an enrollment token; returns the token response.
#[track_caller]
pub fn issue_token(gw: &Gateway, grant_id: &str, ttl: Option<u32>) -> Value {
    let body = match ttl {
        Some(t) => json!({ "ttl_seconds": t }),
        None => json!({}),
    };
    let (status, token) = gw.request("POST", &format!("{GRANTS}/{grant_id}/tokens"), Some(&body));
    assert_eq!(status, 201, "{token}");
    token
}

/// An RFC 3339 timestamp of an answer.
#[track_caller]
pub fn parse_time(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

pub fn url_of(token: &Value) -> String {
    token["enrollment_url"].as_str().unwrap().to_string()
}

/// A key and its self-signed CSR, made with `alg`.
pub fn csr_with(alg: &'static rcgen::SignatureAlgorithm) -> (rcgen::KeyPair, String) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test peer");
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, pem)
}

/// A P-256 key and its CSR: what `peer add` sends.
pub fn p256_csr() -> (rcgen::KeyPair, String) {
    csr_with(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// The DER inside the first PEM block of `pem`.
pub fn pem_der(pem: &str) -> Vec<u8> {
    parse_x509_pem(pem.as_bytes()).unwrap().1.contents
}

/// `der` as a PEM block with `label`.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A P-256 CSR whose signature no longer matches its content.
pub fn badly_signed_csr() -> String {
    let (_, pem) = p256_csr();
    let mut der = pem_der(&pem);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    to_pem("CERTIFICATE REQUEST", &der)
}

/// POST <enrollment-url> with a CSR.
pub fn enroll(url: &str, csr_pem: &str) -> (u16, Value) {
    http("POST", url, None, Some(&json!({ "csr_pem": csr_pem })))
}

/// One HTTP request with full control of headers and body; returns (status, body text).
pub fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = match body {
        Some(b) => agent.run(req.body(b).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    (
        status,
        resp.into_body().read_to_string().unwrap_or_default(),
    )
}

/// Asserts an error answer with the contract's shape and `code`.
#[track_caller]
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Every item of a list endpoint, following `next_cursor`.
pub fn list_all(gw: &Gateway, path: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = gw.request("GET", &url, None);
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}
