//! Profiles and the precedence flag > env > profile > default, through `mosaic config
//! show`, and a real request made with nothing but a profile.

use serde_json::Value;

use crate::common::{Gateway, mosaic, run, write_file};

fn show(config: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", config)
        .args(["config", "show", "-o", "json"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, None).ok().json()
}

const CONFIG: &str = r#"
default_profile = "a"
[profiles.a]
url = "https://a.example"
output = "table"
[profiles.b]
url = "https://b.example"
cacert = "/etc/mosaic/b.pem"
"#;

#[test]
fn precedence_is_flag_then_env_then_profile_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "config.toml", CONFIG);
    let gw = |v: &Value| {
        (
            v["gateway"]["value"].clone(),
            v["gateway"]["source"]["kind"].clone(),
        )
    };

    // The default profile.
    let v = show(&config, &[], &[]);
    assert_eq!(gw(&v), ("https://a.example".into(), "profile".into()));
    assert_eq!(v["profile"]["value"], "a");
    // --profile beats default_profile; MOSAIC_PROFILE too.
    let v = show(&config, &[], &["--profile", "b"]);
    assert_eq!(gw(&v).0, "https://b.example");
    assert_eq!(v["cacert"]["value"], "/etc/mosaic/b.pem");
    let v = show(&config, &[("MOSAIC_PROFILE", "b")], &[]);
    assert_eq!(gw(&v).0, "https://b.example");
    assert_eq!(v["profile"]["source"]["name"], "MOSAIC_PROFILE");
    // env beats profile.
    let v = show(
        &config,
        &[("MOSAIC_GATEWAY_URL", "https://env.example")],
        &[],
    );
    assert_eq!(gw(&v), ("https://env.example".into(), "env".into()));
    // flag beats env.
    let v = show(
        &config,
        &[("MOSAIC_GATEWAY_URL", "https://env.example")],
        &["--gateway", "https://flag.example"],
    );
    assert_eq!(gw(&v), ("https://flag.example".into(), "flag".into()));
    // A config file named by MOSAIC_CONFIG must exist; an absent default one is fine.
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", dir.path().join("absent.toml"))
        .args(["config", "show"]);
    run(cmd, None).code(2);
    let mut cmd = mosaic();
    cmd.env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("none"))
        .args(["config", "show", "-o", "json"]);
    let v = run(cmd, None).ok().json();
    assert_eq!(gw(&v), ("http://127.0.0.1:14242".into(), "default".into()));
    assert_eq!(v["output"]["source"]["kind"], "flag");
    assert_eq!(v["profile"]["source"]["kind"], "unset");
}

#[test]
fn config_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "config.toml", CONFIG);
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &config)
        .args(["--profile", "nope", "federation", "grant", "list"]);
    let out = run(cmd, None).code(2);
    assert!(
        out.stderr.contains("unknown profile \"nope\""),
        "{}",
        out.stderr
    );
    let bad = write_file(dir.path(), "bad.toml", "[profiles.a]\nurl = 3\n");
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &bad).args(["config", "list"]);
    let out = run(cmd, None).code(2);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
}

#[test]
fn a_profile_alone_reaches_a_real_gateway_and_secrets_stay_hidden() {
    let gateway = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let token = write_file(dir.path(), "a.token", &gateway.admin_token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!(
            "[profiles.local]\nurl = \"{}\"\ntoken_file = \"{}\"\noutput = \"json\"\n",
            gateway.url,
            token.display()
        ),
    );
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &config)
        .args(["--profile", "local", "federation", "grant", "list"]);
    let out = run(cmd, None).ok();
    assert!(out.json().is_array(), "the profile's output = json applies");
    assert!(
        out.stderr.is_empty(),
        "a 0600 token file draws no warning: {}",
        out.stderr
    );

    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &config)
        .args(["--profile", "local", "config", "show", "-o", "table"]);
    let out = run(cmd, None).ok();
    assert!(
        !out.stdout.contains(&gateway.admin_token),
        "the token is redacted"
    );
    assert!(out.stdout.contains("<redacted>"), "{}", out.stdout);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut cmd = mosaic();
        cmd.env("MOSAIC_CONFIG", &config).args([
            "--profile",
            "local",
            "federation",
            "grant",
            "list",
            "-o",
            "table",
        ]);
        let out = run(cmd, None).ok();
        assert!(
            out.stderr.contains("readable by group or others"),
            "{}",
            out.stderr
        );
    }
}
