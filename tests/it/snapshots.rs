//! What a person and a script actually see, pinned: for every command, the exit code,
//! standard output and standard error together, in table and JSON mode, on success and
//! on the main errors. IDs, times, ports, fingerprints, tokens and temp paths are
//! replaced by placeholders so the snapshots hold across runs (`common/transcript.rs`).
//! Review a change with
//! `cargo insta review` (or read the `.snap.new` file next to the snapshot).

use crate::common::transcript::Transcript;
use crate::common::{Gateway, Output, SECRET, mosaic, write_file};

macro_rules! snapshot {
    ($name:expr, $transcript:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!($name, $transcript.finish()))
    }};
}

const SCOPE: &str = r#"{"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100}"#;

/// `grant create --scope -` with the seed scope, as a person types it.
fn create(t: &mut Transcript, gw: &Gateway, user: &str, json: bool) -> Output {
    let mut args = vec![
        "federation",
        "grant",
        "create",
        "--user",
        user,
        "--peer",
        "gw-b",
        "--scope",
        "-",
    ];
    if json {
        args.extend(["-o", "json"]);
    }
    t.run(gw.mosaic(), &args, Some(SCOPE))
}

fn id_of(out: &Output) -> String {
    match serde_json::from_str::<serde_json::Value>(&out.stdout) {
        Ok(v) => v["id"].as_str().unwrap().to_string(),
        Err(_) => out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("id:"))
            .unwrap()
            .trim()
            .to_string(),
    }
}

fn grant_lifecycle(json: bool) -> Transcript {
    let gw = Gateway::start();
    let mut t = Transcript::new(&[&gw]);
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with = |args: &[&'static str]| -> Vec<&'static str> { [args, o].concat() };
    let id = id_of(&create(&mut t, &gw, "u-42", json).ok());
    let id: &'static str = Box::leak(id.into_boxed_str());
    create(&mut t, &gw, "u-43", json).ok();
    t.on(&gw, &with(&["federation", "grant", "show", id])).ok();
    t.on(&gw, &with(&["federation", "grant", "list"])).ok();
    t.on(
        &gw,
        &with(&["federation", "grant", "list", "--status", "active"]),
    )
    .ok();
    t.on(
        &gw,
        &with(&["federation", "grant", "token", id, "--ttl", "600"]),
    )
    .ok();
    t.on(&gw, &with(&["federation", "grant", "show", id])).ok();
    t.on(
        &gw,
        &with(&[
            "federation",
            "grant",
            "revoke",
            id,
            "--reason",
            "contract ended",
        ]),
    )
    .ok();
    t.on(&gw, &with(&["federation", "grant", "revoke", id]))
        .code(4);
    t.on(&gw, &with(&["federation", "grant", "token", id]))
        .code(4);
    t.on(
        &gw,
        &with(&[
            "federation",
            "grant",
            "show",
            "00000000-0000-0000-0000-000000000000",
        ]),
    )
    .code(3);
    t.on(&gw, &with(&["federation", "audit", "list"])).ok();
    t.on(
        &gw,
        &with(&[
            "federation",
            "audit",
            "list",
            "--grant",
            id,
            "--action",
            "grant.revoked",
        ]),
    )
    .ok();
    t
}

#[test]
fn grant_and_audit_commands_in_a_table() {
    snapshot!("grant_and_audit_table", grant_lifecycle(false));
}

#[test]
fn grant_and_audit_commands_in_json() {
    snapshot!("grant_and_audit_json", grant_lifecycle(true));
}

fn input_errors(json: bool) -> Transcript {
    let gw = Gateway::start();
    let mut t = Transcript::new(&[&gw]);
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with = |args: &[&'static str]| -> Vec<&'static str> { [args, o].concat() };
    let bad_scope = r#"{"resources": ["tasks", "salaries"], "max_rows_per_query": 100}"#;
    t.run(
        gw.mosaic(),
        &with(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            "-",
        ]),
        Some(bad_scope),
    )
    .code(2);
    t.run(
        gw.mosaic(),
        &with(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            "-",
            "--dry-run",
        ]),
        Some(SCOPE),
    )
    .ok();
    t.on(
        &gw,
        &with(&["federation", "grant", "token", "g-1", "--ttl", "901"]),
    )
    .code(2);
    t.on(&gw, &with(&["federation", "grant", "lst"])).code(2);
    t.on(&gw, &with(&["federation", "peer", "add", "not a url"]))
        .code(2);
    t.on(
        &gw,
        &with(&["federation", "peer", "remove", "no-such-peer"]),
    )
    .code(3);
    let mut no_token = mosaic();
    no_token.env("MOSAIC_GATEWAY_URL", &gw.url);
    t.run(no_token, &with(&["federation", "grant", "list"]), None)
        .code(5);
    let mut wrong_token = mosaic();
    wrong_token
        .env("MOSAIC_GATEWAY_URL", &gw.url)
        .env("MOSAIC_ADMIN_TOKEN", "not-the-admin-token");
    t.run(wrong_token, &with(&["federation", "grant", "list"]), None)
        .code(5);
    let mut down = mosaic();
    down.env("MOSAIC_GATEWAY_URL", "http://127.0.0.1:9")
        .env("MOSAIC_ADMIN_TOKEN", "t");
    t.run(down, &with(&["federation", "grant", "list"]), None)
        .code(6);
    t
}

#[test]
fn the_main_errors_in_a_table() {
    snapshot!("errors_table", input_errors(false));
}

#[test]
fn the_main_errors_in_json() {
    snapshot!("errors_json", input_errors(true));
}

fn peer_commands(json: bool) -> Transcript {
    let (a, b) = (Gateway::start(), Gateway::start());
    let state = tempfile::tempdir().unwrap();
    let mut t = Transcript::new(&[&a, &b]);
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with =
        |args: &[&str]| -> Vec<String> { args.iter().chain(o).map(|s| s.to_string()).collect() };
    let on_b = |t: &mut Transcript, args: &[String]| {
        let mut cmd = b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", state.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        t.run(cmd, &args, None)
    };
    on_b(&mut t, &with(&["federation", "peer", "list"])).ok();
    let grant = create(&mut t, &a, "user-7", true).ok().json();
    let token = t
        .on(
            &a,
            &[
                "federation",
                "grant",
                "token",
                grant["id"].as_str().unwrap(),
                "-o",
                "json",
            ],
        )
        .ok()
        .json();
    let url = token["enrollment_url"].as_str().unwrap();
    let pin = token["ca_fingerprint"].as_str().unwrap();
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    on_b(
        &mut t,
        &with(&[
            "federation",
            "peer",
            "add",
            url,
            "--ca-fingerprint",
            &wrong_pin,
        ]),
    )
    .code(7);
    let peer = on_b(
        &mut t,
        &with(&[
            "federation",
            "peer",
            "add",
            url,
            "--ca-fingerprint",
            pin,
            "--name",
            "gateway-a",
        ]),
    )
    .ok();
    on_b(&mut t, &with(&["federation", "peer", "add", url])).code(4);
    on_b(&mut t, &with(&["federation", "peer", "list"])).ok();
    let peer_id = id_of(&peer);
    on_b(&mut t, &with(&["federation", "peer", "finish", &peer_id])).code(4);
    on_b(&mut t, &with(&["federation", "peer", "remove", &peer_id])).ok();
    on_b(&mut t, &with(&["federation", "peer", "list"])).ok();
    t.path(state.path(), "[STATE]")
}

#[test]
fn peer_commands_in_a_table() {
    snapshot!("peer_table", peer_commands(false));
}

#[test]
fn peer_commands_in_json() {
    snapshot!("peer_json", peer_commands(true));
}

fn config_commands(json: bool) -> Transcript {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "config.toml",
        "default_profile = \"a\"\n[profiles.a]\nurl = \"https://gw-a.example\"\n\
         [profiles.b]\nurl = \"https://gw-b.example\"\ntoken_file = \"/etc/mosaic/b.token\"\n\
         cacert = \"/etc/mosaic/b.pem\"\noutput = \"json\"\n",
    );
    let mut t = Transcript::new(&[]);
    t.secrets.push("secret-admin-token".into());
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with = |args: &[&'static str]| -> Vec<&'static str> { [args, o].concat() };
    let cmd = || {
        let mut cmd = mosaic();
        cmd.env("MOSAIC_CONFIG", &config);
        cmd
    };
    t.run(cmd(), &with(&["config", "list"]), None).ok();
    t.run(cmd(), &with(&["config", "show"]), None).ok();
    let mut env = cmd();
    env.env("MOSAIC_ADMIN_TOKEN", "secret-admin-token")
        .env("MOSAIC_GATEWAY_URL", "https://env.example");
    t.run(env, &with(&["config", "show", "--profile", "b"]), None)
        .ok();
    t.run(cmd(), &with(&["config", "show", "--profile", "c"]), None)
        .code(2);
    t.run(
        cmd(),
        &with(&[
            "config",
            "set-profile",
            "c",
            "--gateway",
            "https://gw-c.example",
            "--profile-output",
            "wide",
        ]),
        None,
    )
    .ok();
    t.run(cmd(), &with(&["config", "use", "c"]), None).ok();
    t.run(cmd(), &with(&["config", "use", "nope"]), None)
        .code(2);
    t.run(cmd(), &with(&["config", "list"]), None).ok();
    t.path(dir.path(), "[DIR]")
}

#[test]
fn config_commands_in_a_table() {
    snapshot!("config_table", config_commands(false));
}

#[test]
fn config_commands_in_json() {
    snapshot!("config_json", config_commands(true));
}

/// The grant in use: rows imported on A, read by B over mutual TLS (`peer test`, `peer
/// query`), a resource outside the scope, and the grant revoked under B's feet.
fn data_plane_commands(json: bool) -> Transcript {
    let (a, b) = (Gateway::start_tls(), Gateway::start_tls());
    let state = tempfile::tempdir().unwrap();
    let mut t = Transcript::new(&[&a, &b]);
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with =
        |args: &[&str]| -> Vec<String> { args.iter().chain(o).map(|s| s.to_string()).collect() };
    // Times given, so that the rows (and their table) are the same on every run.
    let rows = r#"[{"id": "t1", "title": "Write the report", "status": "open",
                    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-02T10:30:00Z"},
                   {"id": "t2", "title": "Review", "status": "done", "due_at": "2026-12-01T00:00:00Z",
                    "created_at": "2026-11-03T08:15:00Z", "updated_at": "2026-11-03T08:15:00Z"}]"#;
    let args = with(&[
        "federation",
        "data",
        "import",
        "tasks",
        "--user",
        "user-7",
        "-",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(a.mosaic(), &args, Some(rows)).ok();
    let grant = create(&mut t, &a, "user-7", true).ok().json();
    let grant_id = grant["id"].as_str().unwrap();
    let token = t
        .on(
            &a,
            &["federation", "grant", "token", grant_id, "-o", "json"],
        )
        .ok()
        .json();
    let mut add = b.mosaic();
    add.env("BETTER_AUTH_SECRET", SECRET)
        .env("MOSAIC_STATE_DIR", state.path());
    let url = token["enrollment_url"].as_str().unwrap();
    let pin = token["ca_fingerprint"].as_str().unwrap();
    let peer = t
        .run(
            add,
            &[
                "federation",
                "peer",
                "add",
                url,
                "--ca-fingerprint",
                pin,
                "-o",
                "json",
            ],
            None,
        )
        .ok()
        .json();
    let peer_id = peer["id"].as_str().unwrap();
    let on_b = |t: &mut Transcript, args: &[&str]| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        t.on(&b, &args)
    };
    on_b(&mut t, &["federation", "peer", "test", peer_id]).ok();
    on_b(&mut t, &["federation", "peer", "query", peer_id, "tasks"]).ok();
    on_b(
        &mut t,
        &[
            "federation",
            "peer",
            "query",
            peer_id,
            "tasks",
            "--limit",
            "1",
        ],
    )
    .ok();
    on_b(
        &mut t,
        &["federation", "peer", "query", peer_id, "credentials"],
    );
    t.on(
        &a,
        &["federation", "grant", "revoke", grant_id, "-o", "json"],
    )
    .ok();
    on_b(&mut t, &["federation", "peer", "test", peer_id]);
    t.path(state.path(), "[STATE]")
}

#[test]
fn data_plane_commands_in_a_table() {
    snapshot!("data_plane_table", data_plane_commands(false));
}

#[test]
fn data_plane_commands_in_json() {
    snapshot!("data_plane_json", data_plane_commands(true));
}

/// The second hour of a new operator (issue 27): each common mistake, its words and its
/// next step.
fn second_hour(json: bool) -> Transcript {
    let fed = crate::dataplane::Fed::start();
    let plain = Gateway::start();
    let tmp = tempfile::tempdir().unwrap();
    // A data directory of its own (SQLite, whatever the other gateways run on), made
    // with one secret.
    let data_dir = tmp.path().join("gw-a");
    let secret = write_file(tmp.path(), "gw-a.secret", &format!("{SECRET}\n"));
    let (first, _) = crate::next_step::serve(
        &data_dir,
        &[("BETTER_AUTH_SECRET_FILE", secret.to_str().unwrap())],
    )
    .expect("first start");
    crate::next_step::stop(first);
    let mut t = Transcript::new(&[&fed.a, &fed.b, &plain])
        .path(&data_dir, "[data-dir]")
        .path(tmp.path(), "[tmp]");
    let o: &[&str] = if json { &["-o", "json"] } else { &[] };
    let with =
        |args: &[&str]| -> Vec<String> { args.iter().chain(o).map(|s| s.to_string()).collect() };
    let run = |t: &mut Transcript, cmd: std::process::Command, args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        t.run(cmd, &args, None)
    };

    // A gateway started with a secret other than the one its data was created with.
    let other = write_file(tmp.path(), "other.secret", &"x".repeat(43));
    #[cfg(unix)]
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut wrong = mosaic();
    wrong.env("BETTER_AUTH_SECRET_FILE", &other);
    let data_dir = data_dir.to_str().unwrap().to_string();
    run(
        &mut t,
        wrong,
        &with(&[
            "gateway",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
        ]),
    )
    .code(2);

    // http:// to a gateway that serves HTTPS, https:// to one that does not.
    let mut cmd = fed.a.mosaic();
    cmd.env(
        "MOSAIC_GATEWAY_URL",
        fed.a.url.replace("https://", "http://"),
    );
    run(&mut t, cmd, &with(&["federation", "grant", "list"])).code(6);
    let mut cmd = plain.mosaic();
    cmd.env(
        "MOSAIC_GATEWAY_URL",
        plain.url.replace("http://", "https://"),
    );
    run(&mut t, cmd, &with(&["federation", "grant", "list"])).code(6);

    // peer add without the pin, then with a wrong one.
    let grant = fed.grant(crate::dataplane::USER, crate::dataplane::SCOPE, &[]);
    let (url, fp) = fed.token(&grant);
    let add = |pin: Option<&str>| {
        let mut cmd = fed.b.mosaic();
        cmd.env("BETTER_AUTH_SECRET", SECRET)
            .env("MOSAIC_STATE_DIR", fed.state.path());
        let mut args = vec!["federation", "peer", "add", url.as_str()];
        if let Some(pin) = pin {
            args.extend(["--ca-fingerprint", pin]);
        }
        (cmd, with(&args))
    };
    let (cmd, args) = add(None);
    run(&mut t, cmd, &args).code(6);
    let wrong_pin = format!("sha256:{}", "ab".repeat(32));
    let (cmd, args) = add(Some(&wrong_pin));
    run(&mut t, cmd, &args).code(7);
    let peer = fed
        .peer_add(&url, &["--ca-fingerprint", &fp, "-q"])
        .ok()
        .stdout
        .trim()
        .to_string();

    // The wrong gateway asked.
    run(
        &mut t,
        fed.a.mosaic(),
        &with(&["federation", "peer", "test", &peer]),
    )
    .code(3);
    run(
        &mut t,
        fed.b.mosaic(),
        &with(&["federation", "grant", "revoke", &grant]),
    )
    .code(3);

    // Two IDs in one variable.
    let both = format!("{peer}\n{peer}");
    run(
        &mut t,
        fed.b.mosaic(),
        &with(&["federation", "peer", "test", &both]),
    )
    .code(2);

    // After a revoke on A: B's read, and B's list.
    fed.a
        .run(&[
            "federation",
            "grant",
            "revoke",
            &grant,
            "--reason",
            "contract ended",
        ])
        .ok();
    run(
        &mut t,
        fed.b.mosaic(),
        &with(&["federation", "peer", "query", &peer, "tasks"]),
    )
    .code(5);
    run(
        &mut t,
        fed.b.mosaic(),
        &with(&["federation", "peer", "list"]),
    )
    .ok();

    // An empty variable, a duration without a unit.
    let mut cmd = fed.a.mosaic();
    cmd.env("MOSAIC_CACERT", "");
    run(&mut t, cmd, &with(&["federation", "grant", "list"])).code(2);
    let scope = write_file(tmp.path(), "scope.json", SCOPE);
    let scope = scope.to_str().unwrap().to_string();
    run(
        &mut t,
        fed.a.mosaic(),
        &with(&[
            "federation",
            "grant",
            "create",
            "--user",
            "u",
            "--peer",
            "p",
            "--scope",
            &scope,
            "--expires-in",
            "30",
        ]),
    )
    .code(2);
    t
}

#[test]
fn the_second_hour_in_a_table() {
    snapshot!("second_hour_table", second_hour(false));
}

#[test]
fn the_second_hour_in_json() {
    snapshot!("second_hour_json", second_hour(true));
}
