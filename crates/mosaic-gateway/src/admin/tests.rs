//! The admin token: where it comes from, its minimum length at the boundary, and the
//! check in front of the admin API, driven through the gateway's router in-process.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;
use crate::rate_limit::ClientAddr;
use crate::routes;
use crate::testkit::{ADMIN_TOKEN, TestGateway};

fn data_dir() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = DataDir::open(Some(tmp.path().join("data"))).expect("data dir");
    (tmp, dir)
}

fn from_env(value: &str, dir: &DataDir) -> Result<(AdminToken, AdminTokenSource), String> {
    AdminToken::resolve(AdminToken::from_env(Some(value.into()))?, dir)
}

#[test]
fn an_admin_token_from_the_environment_needs_16_characters_after_trimming() {
    let (_tmp, dir) = data_dir();
    let sixteen = "0123456789abcdef";
    let (token, source) = from_env(&format!("  {sixteen}\n"), &dir).expect("16 characters");
    assert!(matches!(source, AdminTokenSource::Env));
    assert!(token.matches(sixteen));
    assert!(!token.matches("0123456789abcdeF"));
    assert!(!dir.file(ADMIN_TOKEN_FILE).exists(), "nothing is written");

    for short in ["0123456789abcde", " 0123456789abcde \n", ""] {
        let err = from_env(short, &dir)
            .err()
            .expect("shorter than 16 is refused");
        assert_eq!(
            err,
            "MOSAIC_ADMIN_TOKEN is shorter than 16 characters: use a long random value \
             (or, without --database-url, unset it to have one generated)"
        );
    }
    let long = "x".repeat(64);
    assert!(
        from_env(&long, &dir)
            .expect("64 characters")
            .0
            .matches(&long)
    );
}

#[test]
fn without_the_environment_the_token_is_generated_once_then_read_back() {
    let (_tmp, dir) = data_dir();
    let (generated, source) = AdminToken::resolve(None, &dir).expect("generated");
    assert!(matches!(source, AdminTokenSource::File { generated: true }));
    let text = std::fs::read_to_string(dir.file(ADMIN_TOKEN_FILE)).expect("written");
    let token = text.trim_end();
    assert_eq!(token.len(), 43, "32 random bytes, base64url: {token:?}");
    assert!(generated.matches(token));

    let (read, source) = AdminToken::resolve(None, &dir).expect("read back");
    assert!(matches!(
        source,
        AdminTokenSource::File { generated: false }
    ));
    assert!(read.matches(token));
    assert!(!read.matches(&token[1..]));

    // The environment wins over the file.
    let (env, _) = from_env("from-the-environment", &dir).expect("env");
    assert!(env.matches("from-the-environment") && !env.matches(token));

    // The file is held to the environment's rule: 16 characters after trimming.
    for short in [" \n", "123456789abcdef\n", " 123456789abcdef \n"] {
        std::fs::write(dir.file(ADMIN_TOKEN_FILE), short).expect("shorten it");
        let err = AdminToken::resolve(None, &dir).err().expect("short file");
        assert!(
            err.contains("admin-token holds fewer than 16 characters"),
            "{err}"
        );
        assert!(!err.contains("123456789abcdef"), "{err}");
    }
    std::fs::write(dir.file(ADMIN_TOKEN_FILE), "0123456789abcdef\n").expect("16");
    let (sixteen, _) = AdminToken::resolve(None, &dir).expect("16 characters");
    assert!(sixteen.matches("0123456789abcdef"));
}

/// `GET /api/admin/federation/grants` through the whole router, with `authorization`
/// and from `from`.
async fn list_grants(gw: &TestGateway, authorization: Option<&str>, from: [u8; 4]) -> StatusCode {
    let mut req = Request::get("/api/admin/federation/grants");
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    let mut req = req.body(Body::empty()).expect("request");
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::from((from, 40_000))));
    let app = routes::router(gw.state.clone(), Duration::from_secs(10));
    app.oneshot(req).await.expect("answer").status()
}

#[tokio::test]
async fn only_the_bearer_admin_token_opens_the_admin_api() {
    let gw = TestGateway::new();
    let ip = [127, 0, 0, 1];
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    assert_eq!(list_grants(&gw, Some(&bearer), ip).await, StatusCode::OK);
    let lower = format!("bearer {ADMIN_TOKEN}");
    assert_eq!(list_grants(&gw, Some(&lower), ip).await, StatusCode::OK);
    for refused in [
        None,
        Some("Bearer wrong-token-of-some-length"),
        Some(&format!("Bearer {}", &ADMIN_TOKEN[1..])),
        Some(&format!("Basic {ADMIN_TOKEN}")),
        Some(ADMIN_TOKEN),
    ] {
        assert_eq!(
            list_grants(&gw, refused, ip).await,
            StatusCode::UNAUTHORIZED,
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn an_address_out_of_failed_attempts_is_refused_but_the_right_token_still_passes() {
    let gw = TestGateway::with_rate_limit(Some(2));
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (guesser, other) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    for _ in 0..2 {
        let status = list_grants(&gw, Some("Bearer wrong"), guesser).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = list_grants(&gw, Some("Bearer wrong"), guesser).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let status = list_grants(&gw, None, guesser).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The admin behind the same address is not locked out, and the guesser stays limited.
    assert_eq!(
        list_grants(&gw, Some(&bearer), guesser).await,
        StatusCode::OK
    );
    let status = list_grants(&gw, Some("Bearer wrong"), guesser).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(list_grants(&gw, Some(&bearer), other).await, StatusCode::OK);
}

#[test]
fn replicas_take_the_token_from_the_environment_or_the_given_file_never_a_generated_one() {
    let (tmp, _dir) = data_dir();
    let sixteen = "0123456789abcdef";
    let shared = |env: Option<&str>, file: Option<&std::path::Path>| {
        AdminToken::resolve_shared(AdminToken::from_env(env.map(Into::into))?, file)
    };
    let (token, source) = shared(Some(&format!(" {sixteen}\n")), None).expect("env");
    assert!(matches!(source, AdminTokenSource::Env));
    assert!(token.matches(sixteen) && !token.matches("0123456789abcdeF"));
    let err = shared(Some("0123456789abcde"), None)
        .err()
        .expect("15 characters");
    assert_eq!(
        err,
        "MOSAIC_ADMIN_TOKEN is shorter than 16 characters: use a long random value \
         (or, without --database-url, unset it to have one generated)"
    );
    let err = shared(None, None).err().expect("neither");
    assert!(err.starts_with("with --database-url, every replica needs the same admin token"));

    let file = tmp.path().join("shared-token");
    std::fs::write(&file, format!("{sixteen}\n")).expect("write");
    let (token, source) = shared(None, Some(&file)).expect("file");
    assert!(matches!(source, AdminTokenSource::Given(ref p) if *p == file));
    assert!(token.matches(sixteen));
    let (token, _) = shared(Some("from-the-environment"), Some(&file)).expect("env wins");
    assert!(token.matches("from-the-environment"));
    std::fs::write(&file, "0123456789abcde\n").expect("write");
    let err = shared(None, Some(&file)).err().expect("15 characters");
    assert!(
        err.ends_with("holds fewer than 16 characters: use a long random value"),
        "{err}"
    );
    let err = shared(None, Some(&tmp.path().join("missing")))
        .err()
        .expect("missing");
    assert!(err.starts_with("cannot read "), "{err}");
    assert!(!err.contains(sixteen));
}

/// A named credential of `role` stored directly, live unless `revoked` or `expired`;
/// its secret.
fn named(gw: &TestGateway, name: &str, role: &str, revoked: bool, expired: bool) -> String {
    let (secret, digest) = crate::credentials::new_secret();
    let now = crate::store::now_ms();
    gw.conn()
        .execute(
            "INSERT INTO admin_credentials (id, name, role, secret_hash, created_at, created_by,
                 expires_at, revoked_at) VALUES (?1, ?1, ?2, ?3, ?4, 'bootstrap', ?5, ?6)",
            rusqlite::params![
                name,
                role,
                &digest[..],
                now - 10_000,
                expired.then_some(now - 1),
                revoked.then_some(now - 1)
            ],
        )
        .expect("insert credential");
    secret.to_string()
}

/// `method path` through the whole router with `Bearer secret` and `body` (JSON text):
/// the status and the body.
async fn call(
    gw: &TestGateway,
    method: &str,
    path: &str,
    secret: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::from(([10, 0, 0, 9], 40_000))));
    let app = routes::router(gw.state.clone(), Duration::from_secs(10));
    let answer = app.oneshot(req).await.expect("answer");
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

const GRANTS: &str = "/api/admin/federation/grants";
const CREDENTIALS: &str = "/api/admin/credentials";

#[tokio::test]
async fn each_role_may_what_its_table_says_and_is_refused_the_rest_before_the_body() {
    let gw = TestGateway::new();
    let viewer = named(&gw, "vera", "viewer", false, false);
    let operator = named(&gw, "otto", "operator", false, false);
    let admin = named(&gw, "ada", "admin", false, false);
    let new_cred = r#"{"name": "ci", "role": "viewer"}"#;

    // A read: every role.
    for secret in [&viewer, &operator, &admin, &ADMIN_TOKEN.to_string()] {
        assert_eq!(call(&gw, "GET", GRANTS, secret, "").await.0, StatusCode::OK);
    }
    // A write: refused to a viewer, malformed body or not, naming the role needed.
    for body in ["{", r#"{"user_id": "u"}"#] {
        let (status, answer) = call(&gw, "POST", GRANTS, &viewer, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_eq!(answer["error"]["code"], "forbidden_role");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("operator role") && message.contains("`vera`"),
            "{message}"
        );
    }
    // An operator's malformed write reaches the handler: 400.
    assert_eq!(
        call(&gw, "POST", GRANTS, &operator, "{").await.0,
        StatusCode::BAD_REQUEST
    );
    // Managing credentials: admins only.
    for secret in [&viewer, &operator] {
        let (status, answer) = call(&gw, "POST", CREDENTIALS, secret, new_cred).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admin role")
        );
    }
    let (status, created) = call(&gw, "POST", CREDENTIALS, &admin, new_cred).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created_by"], "ada");
    let secret = created["secret"].as_str().unwrap();
    let (status, me) = call(&gw, "GET", "/api/admin/whoami", secret, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], "ci");
    assert_eq!(me["role"], "viewer");
    let (_, me) = call(&gw, "GET", "/api/admin/whoami", ADMIN_TOKEN, "").await;
    assert_eq!(me["name"], "bootstrap");
    assert_eq!(me["role"], "admin");
    // Who did it is the audit row's actor.
    let actor: String = gw
        .conn()
        .query_row(
            "SELECT actor FROM audit_log WHERE action = 'credential.created'",
            [],
            |r| r.get(0),
        )
        .expect("audited");
    assert_eq!(actor, "ada");
}

#[tokio::test]
async fn revoked_and_expired_credentials_are_unknown_ones_but_audited_by_name() {
    let gw = TestGateway::new();
    let revoked = named(&gw, "gone", "admin", true, false);
    let expired = named(&gw, "late", "admin", false, true);
    for secret in [
        &revoked,
        &expired,
        &format!("{}x", &revoked[..revoked.len() - 1]),
    ] {
        let (status, answer) = call(&gw, "GET", GRANTS, secret, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    let refused: Vec<String> = gw
        .conn()
        .prepare("SELECT actor FROM audit_log WHERE action = 'credential.refused' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(refused, ["gone", "late"]);
}

#[tokio::test]
async fn a_revocation_holds_at_the_next_request() {
    let gw = TestGateway::new();
    let alice = named(&gw, "alice", "operator", false, false);
    assert_eq!(call(&gw, "GET", GRANTS, &alice, "").await.0, StatusCode::OK);
    let (status, _) = call(
        &gw,
        "DELETE",
        "/api/admin/credentials/alice",
        ADMIN_TOKEN,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        call(&gw, "GET", GRANTS, &alice, "").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = call(
        &gw,
        "DELETE",
        "/api/admin/credentials/alice",
        ADMIN_TOKEN,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn without_bootstrap_the_admin_token_is_refused_while_a_named_admin_is_live() {
    let mut gw = TestGateway::new();
    gw.state.no_bootstrap = true;
    assert_eq!(
        call(&gw, "GET", GRANTS, ADMIN_TOKEN, "").await.0,
        StatusCode::OK,
        "no named credential yet"
    );
    named(&gw, "dead", "admin", true, false);
    named(&gw, "late", "admin", false, true);
    named(&gw, "vera", "viewer", false, false);
    assert_eq!(
        call(&gw, "GET", GRANTS, ADMIN_TOKEN, "").await.0,
        StatusCode::OK,
        "only a revoked and an expired admin, and a live viewer"
    );
    let ada = named(&gw, "ada", "admin", false, false);
    assert_eq!(
        call(&gw, "GET", GRANTS, ADMIN_TOKEN, "").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&gw, "GET", GRANTS, &ada, "").await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_address_out_of_failed_attempts_still_lets_a_named_credential_through() {
    let gw = TestGateway::with_rate_limit(Some(2));
    let alice = named(&gw, "alice", "viewer", false, false);
    let from = [10, 0, 0, 9];
    for _ in 0..2 {
        assert_eq!(
            list_grants(&gw, Some("Bearer mosaic_adm_wrong"), from).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        list_grants(&gw, Some("Bearer mosaic_adm_wrong"), from).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let bearer = format!("Bearer {alice}");
    assert_eq!(list_grants(&gw, Some(&bearer), from).await, StatusCode::OK);
}
