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
        .args(["federation", "grant", "list"]);
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

/// `mosaic ARGS` with the config file under `xdg` (the default path, no MOSAIC_CONFIG).
fn in_home(xdg: &std::path::Path, args: &[&str]) -> crate::common::Output {
    let mut cmd = mosaic();
    cmd.env("XDG_CONFIG_HOME", xdg).env("HOME", xdg).args(args);
    run(cmd, None)
}

#[test]
fn config_show_names_the_files_path_even_when_it_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("mosaic").join("config.toml");
    let v = in_home(dir.path(), &["config", "show", "-o", "json"])
        .ok()
        .json();
    assert_eq!(v["config_file"], expected.display().to_string());
    assert_eq!(v["config_file_exists"], false);
    let out = in_home(dir.path(), &["config", "show"]).ok();
    assert!(
        out.stdout.contains(&format!(
            "config file:  {}  (does not exist yet)",
            expected.display()
        )),
        "{out:?}"
    );
    // A file MOSAIC_CONFIG names may be missing for `config` commands (they show or make
    // it), not for the others (a typo must not silently mean "no profiles").
    let named = dir.path().join("named.toml");
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &named)
        .args(["config", "show", "-o", "json"]);
    assert_eq!(
        run(cmd, None).ok().json()["config_file"],
        named.display().to_string()
    );
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &named)
        .args(["federation", "grant", "list"]);
    let out = run(cmd, None).code(2);
    assert!(out.stderr.contains("named by MOSAIC_CONFIG"), "{out:?}");
}

#[test]
fn set_profile_and_use_round_trip_through_config_show_and_reach_the_gateway() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let token = write_file(home, "a.token", &format!("{}\n", gw.admin_token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = home.join("mosaic").join("config.toml");
    // A file with a comment and a profile of its own, both kept.
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "# written by hand\n[profiles.other]\nurl = \"https://other.example\" # keep me\n",
    )
    .unwrap();

    // A relative token file is stored absolute, so the profile works from anywhere.
    let mut cmd = mosaic();
    cmd.env("XDG_CONFIG_HOME", home)
        .env("HOME", home)
        .current_dir(home)
        .args(["config", "set-profile", "a", "--gateway", &gw.url])
        .args(["--token-file", "a.token", "-o", "json"]);
    let row = run(cmd, None).ok().json();
    assert_eq!(row[0]["name"], "a");
    assert_eq!(row[0]["url"], gw.url);
    assert_eq!(row[0]["token_file"], token.display().to_string());
    assert_eq!(row[0]["default"], false);
    // -o shaped this command's output only; the profile's output is --profile-output.
    assert_eq!(row[0]["output"], Value::Null);

    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with("# written by hand\n"), "{text}");
    assert!(
        text.contains("url = \"https://other.example\" # keep me"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Not the default yet: config show uses no profile.
    let v = in_home(home, &["config", "show", "-o", "json"]).ok().json();
    assert_eq!(v["profile"]["value"], Value::Null);
    assert_eq!(v["config_file"], config.display().to_string());
    assert_eq!(v["config_file_exists"], true);

    // `config use` makes it the default; show and a real request follow it.
    in_home(home, &["config", "use", "a"]).ok();
    let v = in_home(home, &["config", "show", "-o", "json"]).ok().json();
    assert_eq!(v["profile"]["value"], "a");
    assert_eq!(v["profile"]["source"]["kind"], "profile");
    assert_eq!(v["gateway"]["value"], gw.url);
    assert_eq!(
        v["gateway"]["source"],
        serde_json::json!({"kind": "profile", "name": "a"})
    );
    assert_eq!(v["token_file"]["value"], token.display().to_string());
    let table = in_home(home, &["config", "show"]).ok().stdout;
    assert!(
        table.contains(&format!("gateway:      {}  (profile a)", gw.url)),
        "{table}"
    );
    assert!(
        table.contains("profile:      a  (profile default_profile)"),
        "{table}"
    );
    assert!(!table.contains(&gw.admin_token));
    let out = in_home(home, &["federation", "grant", "list", "-o", "json"]).ok();
    assert_eq!(out.json(), serde_json::json!([]));

    // Updating one setting keeps the others; the output setting reaches config show.
    in_home(
        home,
        &["config", "set-profile", "a", "--profile-output", "wide"],
    )
    .ok();
    let v = in_home(home, &["config", "show", "-o", "json"]).ok().json();
    assert_eq!(v["gateway"]["value"], gw.url);
    let v = in_home(home, &["config", "show", "--jq", ".output.value"]).ok();
    assert_eq!(v.stdout, "wide\n");
    let list = in_home(home, &["config", "list", "-o", "json"]).ok().json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "other"]);
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["output"], "wide");

    // Mistakes are exit 2 and change nothing.
    let before = std::fs::read_to_string(&config).unwrap();
    for (args, says) in [
        (&["config", "use", "nope"][..], "no profile \"nope\""),
        (&["config", "set-profile", "b"], "nothing to set"),
        (
            &["config", "set-profile", "a b", "--gateway", "http://x"],
            "profile name",
        ),
        (
            &["config", "set-profile", "b", "--gateway", "http://x/api"],
            "without /api",
        ),
    ] {
        let out = in_home(home, args).code(2);
        assert!(out.stderr.contains(says), "{args:?}: {out:?}");
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}
