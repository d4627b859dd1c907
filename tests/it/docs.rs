//! `mosaic completion` and `mosaic man`, generated from the clap tree for every command.

use clap::CommandFactory;
use mosaic::cli::Cli;

use crate::common::{Gateway, Output, mosaic, run};

/// Every command path, e.g. ["federation", "grant", "create"], except `help`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.clone();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, path, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

/// Runs the completion entry point (`COMPLETE=bash mosaic -- mosaic WORDS…`) for the
/// last word of `words`, as the bash script does; returns the candidates and the run.
fn complete(cmd: &mut std::process::Command, words: &[&str]) -> (Vec<String>, Output) {
    cmd.env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .args(["--", "mosaic"])
        .args(words);
    let out = run_cmd(cmd);
    let candidates = out.stdout.lines().map(str::to_string).collect();
    (candidates, out)
}

fn run_cmd(cmd: &mut std::process::Command) -> Output {
    let mut owned = std::process::Command::new(cmd.get_program());
    owned.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => owned.env(k, v),
            None => owned.env_remove(k),
        };
    }
    run(owned, None)
}

/// The candidates for `words` (the last one being completed), with no gateway named.
fn candidates(words: &[&str]) -> Vec<String> {
    let (c, out) = complete(&mut mosaic(), words);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    c
}

#[test]
fn completion_scripts_call_the_binary_back_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let mut cmd = mosaic();
        cmd.args(["completion", shell]);
        let out = run(cmd, None).ok();
        assert!(
            out.stdout.contains("COMPLETE") && out.stdout.contains("mosaic"),
            "{shell}: {}",
            out.stdout
        );
    }
    let mut cmd = mosaic();
    cmd.args(["completion", "tcsh"]);
    run(cmd, None).code(2);
    // Every command completes from a prefix of its name.
    for path in command_paths() {
        let (last, parents) = path.split_last().unwrap();
        let mut words: Vec<&str> = parents.iter().map(String::as_str).collect();
        words.push(&last[..2.min(last.len())]);
        assert!(
            candidates(&words).contains(last),
            "{words:?} does not complete to {last}"
        );
    }
    assert!(
        candidates(&["federation", "peer", "add", "--ca"]).contains(&"--ca-fingerprint".into())
    );
    assert!(
        candidates(&["federation", "grant", "list", "--allow"])
            .contains(&"--allow-insecure-http".into())
    );
}

#[test]
fn enum_flag_values_complete() {
    let set = |words: &[&str]| -> std::collections::BTreeSet<String> {
        candidates(words)
            .into_iter()
            .filter(|c| !c.starts_with('-'))
            .collect()
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        set(&["federation", "grant", "list", "--status", ""]),
        strings(&["active", "expired", "pending", "revoked"])
    );
    assert_eq!(
        set(&["federation", "grant", "list", "--status", "re"]),
        strings(&["revoked"])
    );
    let actions = set(&["federation", "audit", "list", "--action", ""]);
    assert!(
        actions.contains("grant.revoked") && actions.contains("enrollment.refused"),
        "{actions:?}"
    );
    assert_eq!(
        set(&["federation", "audit", "list", "--action", "grant.a"]),
        strings(&["grant.activated"])
    );
    assert_eq!(set(&["-o", ""]), strings(&["json", "table", "wide"]));
    assert_eq!(
        set(&["federation", "grant", "list", "--output", "w"]),
        strings(&["wide"])
    );
    assert_eq!(
        set(&["federation", "peer", "query", "p1", "n"]),
        strings(&["notes"])
    );
    assert!(set(&["completion", ""]).contains("zsh"));
    // Profile names come from the config file.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::write_file(
        dir.path(),
        "config.toml",
        "[profiles.prod]\nurl = \"https://p.example\"\n[profiles.staging]\n",
    );
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &config);
    let (c, _) = complete(&mut cmd, &["config", "use", ""]);
    assert_eq!(c[..2], ["prod", "staging"]);
    assert!(c[2..].iter().all(|c| c.starts_with('-')), "{c:?}");
    let mut cmd = mosaic();
    cmd.env("MOSAIC_CONFIG", &config);
    let (c, _) = complete(&mut cmd, &["--profile", "st"]);
    assert_eq!(c, ["staging"]);
}

#[test]
fn grant_and_peer_ids_complete_from_the_gateway() {
    let a = Gateway::start();
    let b = Gateway::start();
    let g1 = a.grant("u-1", "gw-b")["id"].as_str().unwrap().to_string();
    let g2 = a.grant("u-2", "gw-c")["id"].as_str().unwrap().to_string();
    let ids = |gw: &Gateway, words: &[&str]| -> Vec<String> {
        let (c, out) = complete(&mut gw.mosaic(), words);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        c.into_iter().filter(|c| !c.starts_with('-')).collect()
    };
    let mut both = vec![g1.clone(), g2.clone()];
    both.sort();
    for verb in ["show", "revoke", "token"] {
        let mut got = ids(&a, &["federation", "grant", verb, ""]);
        got.sort();
        assert_eq!(got, both, "grant {verb}");
    }
    assert_eq!(
        ids(&a, &["federation", "grant", "show", &g1[..8]]),
        vec![g1.clone()]
    );
    let mut got = ids(&a, &["federation", "audit", "list", "--grant", ""]);
    got.sort();
    assert_eq!(got, both);
    // The help of a candidate says what it is (fish shows it).
    let mut cmd = a.mosaic();
    cmd.env("COMPLETE", "fish")
        .args(["--", "mosaic", "federation", "grant", "show", &g2]);
    let out = run_cmd(&mut cmd);
    assert_eq!(
        out.stdout.trim(),
        format!("{g2}\tpending (user u-2, peer gw-c)")
    );

    // A peer: B enrolled with A.
    let token = a
        .run(&["federation", "grant", "token", &g1, "-q"])
        .ok()
        .stdout;
    let mut cmd = b.mosaic();
    let state = tempfile::tempdir().unwrap();
    cmd.env("BETTER_AUTH_SECRET", crate::common::SECRET)
        .env("MOSAIC_STATE_DIR", state.path())
        .args(["federation", "peer", "add", token.trim(), "-q"]);
    let peer = run(cmd, None).ok().stdout.trim().to_string();
    for verb in ["remove", "test", "finish", "renew", "query"] {
        assert_eq!(
            ids(&b, &["federation", "peer", verb, ""]),
            vec![peer.clone()],
            "peer {verb}"
        );
    }
    assert!(ids(&a, &["federation", "peer", "remove", ""]).is_empty());

    // --gateway on the line being completed beats the environment.
    let mut cmd = b.mosaic();
    cmd.env("MOSAIC_ADMIN_TOKEN", &a.admin_token);
    let (c, _) = complete(
        &mut cmd,
        &["--gateway", &a.url, "federation", "grant", "show", &g2[..8]],
    );
    assert_eq!(c, vec![g2.clone()]);
}

#[test]
fn id_completion_is_silent_and_quick_when_the_gateway_fails() {
    use crate::common::standin::{Reply, StandIn};
    let hang = StandIn::start(|_| Reply::Hang(std::time::Duration::from_secs(20)));
    let html = StandIn::start(|_| crate::cli::html_reply(500));
    let dead = crate::cli::dead_url();
    for url in [hang.url.as_str(), html.url.as_str(), dead.as_str()] {
        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", url)
            .env("MOSAIC_ADMIN_TOKEN", "adm-0123456789abcdef");
        let started = std::time::Instant::now();
        let (c, out) = complete(&mut cmd, &["federation", "grant", "show", ""]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{url}: took {:?}",
            started.elapsed()
        );
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.is_empty(), "{url}: {out:?}");
        assert!(c.iter().all(|c| c.starts_with('-')), "{url}: {c:?}");
    }
    // No admin token at all: silent too.
    let (c, out) = complete(&mut mosaic(), &["federation", "peer", "remove", ""]);
    assert!(
        out.stderr.is_empty() && c.iter().all(|c| c.starts_with('-')),
        "{out:?}"
    );
}

#[test]
fn man_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let mut cmd = mosaic();
    cmd.args(["man", "--out"]).arg(&out_dir);
    let out = run(cmd, None).ok();
    let mut paths = command_paths();
    paths.push(Vec::new());
    assert_eq!(out.stdout.lines().count(), paths.len(), "{}", out.stdout);
    for path in paths {
        let name = std::iter::once("mosaic".to_string())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>();
        let file = out_dir.join(format!("{}.1", name.join("-")));
        let page =
            std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("no page {}", file.display()));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{} is roff",
            file.display()
        );
        assert!(page.contains(".SH NAME"), "{}", file.display());
    }
    let create = std::fs::read_to_string(out_dir.join("mosaic-federation-grant-create.1")).unwrap();
    assert!(create.contains("scope"), "the page carries the help");
    assert!(
        create.contains(
            ".SH EXAMPLES\n.PP\n.RS 4\n.nf\nmosaic federation grant create \\-\\-user u\\-42"
        ),
        "the example is a literal block: {create}"
    );
}

#[test]
fn man_pages_have_examples_exit_status_environment_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mosaic();
    cmd.args(["man", "--out"]).arg(dir.path());
    let written = run(cmd, None).ok().stdout;
    let reference =
        regex::Regex::new(r"(mosaic(?:\\-|-)[a-z\\-]+)\(1\)|\\fB(mosaic[a-z\\-]*)\\fR\(1\)")
            .unwrap();
    for path in written.lines() {
        let page = std::fs::read_to_string(path).unwrap();
        for section in [
            ".SH EXAMPLES",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
        ] {
            assert!(page.contains(section), "{path} lacks {section}");
        }
        assert!(!page.contains(".SH EXTRA"), "{path}");
        assert!(!page.contains("help(1)"), "{path} names a help page");
        // groff renders it without a preprocessor: non-ASCII characters are escapes.
        assert!(page.is_ascii(), "{path} is not ASCII");
        // Every page it names exists.
        for m in reference.captures_iter(&page) {
            let name = m.get(1).or(m.get(2)).unwrap().as_str().replace("\\-", "-");
            let file = dir.path().join(format!("{name}.1"));
            assert!(
                file.exists(),
                "{path} names {name}(1), which does not exist"
            );
        }
        // Examples are literal lines that start with a command or a variable.
        let examples = page.split(".SH EXAMPLES").nth(1).unwrap();
        let block = examples.split(".SH ").next().unwrap();
        for line in block
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('.'))
        {
            assert!(
                line.starts_with("mosaic ")
                    || line.starts_with("export ")
                    || line.starts_with("echo ")
                    || line.starts_with("id=")
                    || line.starts_with("BETTER_AUTH_SECRET=")
                    || line.starts_with("BETTER_AUTH_SECRET_FILE=")
                    || line.starts_with("(umask 077; mosaic ")
                    || line.starts_with("  "),
                "{path}: example line {line:?}"
            );
        }
    }
    let serve = std::fs::read_to_string(dir.path().join("mosaic-gateway-serve.1")).unwrap();
    let env = serve.split(".SH ENVIRONMENT").nth(1).unwrap();
    for var in [
        "BETTER_AUTH_SECRET",
        "MOSAIC_ADMIN_TOKEN",
        "MOSAIC_DATA_DIR",
        "MOSAIC_RATE_LIMIT",
    ] {
        assert!(env.contains(var), "gateway serve's ENVIRONMENT lacks {var}");
    }
    let grant = std::fs::read_to_string(dir.path().join("mosaic-federation-grant.1")).unwrap();
    let env = grant.split(".SH ENVIRONMENT").nth(1).unwrap();
    for var in [
        "MOSAIC_GATEWAY_URL",
        "MOSAIC_ADMIN_TOKEN_FILE",
        "MOSAIC_TIMEOUT",
        "MOSAIC_CONFIG",
    ] {
        assert!(
            env.contains(var),
            "the grant page's ENVIRONMENT lacks {var}"
        );
    }
}

#[test]
fn gateway_serve_help_documents_every_variable_it_reads() {
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--help"]);
    let help = run(cmd, None).ok().stdout;
    for var in [
        "BETTER_AUTH_SECRET",
        "MOSAIC_ADMIN_TOKEN",
        "MOSAIC_DATA_DIR",
        "MOSAIC_AUTO_RENEW",
        "MOSAIC_RATE_LIMIT",
        "XDG_DATA_HOME",
    ] {
        assert!(help.contains(var), "gateway serve --help lacks {var}");
    }
    assert!(!help.contains("openssl"), "{help}");
    // Every group command shows an example.
    for path in command_paths() {
        let mut cmd = mosaic();
        cmd.args(&path).arg("--help");
        let help = run(cmd, None).ok().stdout;
        assert!(help.contains("\nExample"), "{path:?} --help has no example");
    }
}

#[test]
fn gateway_secret_makes_secrets_a_gateway_accepts() {
    use std::io::{BufRead, BufReader};
    let secret = || {
        let mut cmd = mosaic();
        cmd.args(["gateway", "secret"]);
        let out = run(cmd, None).ok();
        let s = out.stdout.trim_end().to_string();
        assert_eq!(out.stdout, format!("{s}\n"));
        assert_eq!(s.len(), 43, "{s}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        s
    };
    let (sealing, admin) = (secret(), secret());
    assert_ne!(sealing, admin);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = mosaic();
    cmd.args(["gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("BETTER_AUTH_SECRET", &sealing)
        .env("MOSAIC_ADMIN_TOKEN", &admin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap() > 0 {
        if let Some(i) = line.find("listening on ") {
            url = Some(line[i + "listening on ".len()..].trim().to_string());
            break;
        }
        line.clear();
    }
    let url = url.expect("the gateway started");
    let mut cmd = mosaic();
    cmd.env("MOSAIC_GATEWAY_URL", &url)
        .env("MOSAIC_ADMIN_TOKEN", &admin)
        .args(["federation", "grant", "list", "-o", "json"]);
    let out = run(cmd, None);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.ok().json(), serde_json::json!([]));
}
