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
