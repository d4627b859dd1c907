//! The shared harness: start a real gateway on a free loopback port with a temp data dir,
//! run the real `mosaic` binary against it, and talk to it directly over HTTP.
#![allow(dead_code)]

pub mod pg;
pub mod relay;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The sealing secret every test gateway runs with (>= 32 bytes).
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789abcdef";

/// Path of the `mosaic` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mosaic"))
}

/// A `mosaic` command with a clean environment: no MOSAIC_* or secret leaks in from the
/// developer's shell.
pub fn mosaic() -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("MOSAIC_")
            || k == "BETTER_AUTH_SECRET"
            || k.ends_with("_PROXY")
            || k.ends_with("_proxy")
        {
            cmd.env_remove(&k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// What a finished `mosaic` run left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
    pub fn stderr_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {self:?}"))
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit {code}: {self:?}");
        self
    }
}

/// Runs a command to completion, feeding `stdin` if given.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn mosaic");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A command that fails before reading its input closes the pipe: not our error.
        if let Err(e) = pipe.write_all(input.as_bytes()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
    }
    let out = child.wait_with_output().expect("wait for mosaic");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `mosaic gateway serve` on a free loopback port.
pub struct Gateway {
    child: Option<Child>,
    pub url: String,
    pub admin_token: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    log: Arc<Mutex<String>>,
    extra_args: Vec<String>,
    token_from_env: bool,
    /// The PostgreSQL database it keeps its state in (`--database-url`), if any.
    pub database: Option<String>,
    /// Environment set for the process after the defaults (e.g. another
    /// `BETTER_AUTH_SECRET`, `MOSAIC_PREVIOUS_SECRETS`).
    pub env: Vec<(String, String)>,
}

impl Gateway {
    /// A gateway with a fresh temp data dir and a known admin token from the environment.
    pub fn start() -> Gateway {
        Self::start_with(&[], true)
    }

    /// A gateway that must make its own admin token (written to DIR/admin-token).
    pub fn start_generating_token() -> Gateway {
        Self::start_with(&[], false)
    }

    pub fn start_with(extra_args: &[&str], token_from_env: bool) -> Gateway {
        let token = token_from_env.then(|| format!("adm-{}", uuid_like()));
        Self::start_inner(extra_args, token)
    }

    /// A gateway given exactly `token` as its admin token in the environment.
    pub fn start_with_admin_token(token: &str) -> Gateway {
        Self::start_inner(&[], Some(token.to_string()))
    }

    fn start_inner(extra_args: &[&str], token: Option<String>) -> Gateway {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let database = pg::server_url().map(|server| pg::fresh_database(&server));
        // With a database the admin token is never generated: every replica is given it.
        let token = match (&database, token) {
            (Some(_), None) => Some(format!("adm-{}", uuid_like())),
            (_, token) => token,
        };
        let token_from_env = token.is_some();
        let mut gw = Gateway {
            child: None,
            url: String::new(),
            admin_token: token.unwrap_or_default(),
            dir,
            _tmp: Some(tmp),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            token_from_env,
            database,
            env: Vec::new(),
        };
        gw.spawn("127.0.0.1:0");
        gw
    }

    /// A replica: a gateway on the PostgreSQL database `database` with admin token
    /// `token`, as every other replica of that database.
    pub fn replica(database: &str, token: &str, extra_args: &[&str]) -> Gateway {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut gw = Gateway {
            child: None,
            url: String::new(),
            admin_token: token.to_string(),
            dir: tmp.path().join("data"),
            _tmp: Some(tmp),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            token_from_env: true,
            database: Some(database.to_string()),
            env: Vec::new(),
        };
        gw.spawn("127.0.0.1:0");
        gw
    }

    fn spawn(&mut self, listen: &str) {
        let mut cmd = mosaic();
        cmd.args(["gateway", "serve", "--listen", listen, "--data-dir"])
            .arg(&self.dir)
            .args(&self.extra_args)
            .args(self.database.iter().flat_map(|url| ["--database-url", url]))
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.token_from_env {
            cmd.env("MOSAIC_ADMIN_TOKEN", &self.admin_token);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd.spawn().expect("spawn gateway");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let mut r = BufReader::new(stderr);
            while r.read_line(&mut s).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push_str(&s);
                s.clear();
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let mut sent = false;
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push_str(&line);
                // `--log-format json` writes the same line as a JSON object's message.
                let text = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| line.clone());
                if let (false, Some(i)) = (sent, text.find("listening on ")) {
                    let url = text[i + "listening on ".len()..].trim().to_string();
                    let _ = tx.send(url);
                    sent = true;
                }
                line.clear();
            }
            let mut rest = String::new();
            let _ = r.read_to_string(&mut rest);
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("gateway did not start; log:\n{}", self.log()));
        self.url = url;
        self.child = Some(child);
        if !self.token_from_env {
            self.admin_token = std::fs::read_to_string(self.dir.join("admin-token"))
                .expect("admin-token file")
                .trim()
                .to_string();
        }
        self.wait_healthy();
    }

    /// A gateway served with these arguments (e.g. `--tls`) on `listen`, with a fresh
    /// temp data dir and a known admin token.
    pub fn start_at(listen: &str, extra_args: &[&str]) -> Gateway {
        let tmp = tempfile::tempdir().expect("temp dir");
        let database = pg::server_url().map(|server| pg::fresh_database(&server));
        let mut gw = Gateway {
            child: None,
            url: String::new(),
            admin_token: format!("adm-{}", uuid_like()),
            dir: tmp.path().join("data"),
            _tmp: Some(tmp),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            token_from_env: true,
            database,
            env: Vec::new(),
        };
        gw.spawn(listen);
        gw
    }

    /// A gateway served over HTTPS (`--tls`) on a free loopback port.
    pub fn start_tls() -> Gateway {
        Self::start_at("127.0.0.1:0", &["--tls"])
    }

    pub fn is_tls(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// The gateway's CA certificate (PEM).
    pub fn ca_pem(&self) -> String {
        if let (Some(database), false) = (
            &self.database,
            self.extra_args.iter().any(|a| a == "--tls-cert"),
        ) {
            return pg::scalar(database, "SELECT cert_pem FROM gateway_ca").expect("the CA row");
        }
        std::fs::read_to_string(self.ca_file()).expect("CA file")
    }

    /// Everything the gateway stored, as bytes to search: the files of its data
    /// directory, or the rows of its database as text.
    pub fn stored(&self) -> Vec<Vec<u8>> {
        if let Some(database) = &self.database {
            return pg::query(
                database,
                "SELECT t::text FROM grants t UNION ALL SELECT t::text FROM enrollment_tokens t \
                 UNION ALL SELECT t::text FROM audit_log t UNION ALL SELECT t::text FROM peers t",
            )
            .into_iter()
            .flatten()
            .flatten()
            .map(String::into_bytes)
            .collect();
        }
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect()
    }

    /// The file of the CA its HTTPS chain ends at: its own `ca.pem`, or with
    /// `--tls-cert FILE` that chain (whose last certificate is its CA).
    pub fn ca_file(&self) -> PathBuf {
        match self.extra_args.iter().position(|a| a == "--tls-cert") {
            Some(i) => PathBuf::from(&self.extra_args[i + 1]),
            // The CA is in the database: a copy beside the (unused) data directory.
            None if self.database.is_some() => {
                let file = self.dir.with_file_name("ca.pem");
                std::fs::write(&file, self.ca_pem()).expect("write ca.pem");
                file
            }
            None => self.dir.join("ca.pem"),
        }
    }

    /// host:port it listens on.
    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string()
    }

    /// The gateway process's id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("gateway running").id()
    }

    /// Waits up to `within` for the process to exit by itself; whether it did.
    pub fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("gateway running");
        while Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.is_tls() {
                let url = format!("{}/api/health", self.url);
                if tls::https("GET", &url, &self.ca_pem(), None, None, None)
                    .is_ok_and(|(status, _)| status == 200)
                {
                    return;
                }
                assert!(Instant::now() < deadline, "gateway never became healthy");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let health = ureq::get(&format!("{}/api/health", self.url)).call();
            if health.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "gateway never became healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the gateway printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `kill -9`, then start again on the same data dir and port.
    pub fn kill9_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let listen = self.addr();
        self.spawn(&listen);
    }

    /// Stops the process (SIGKILL), then starts it again on the same data dir and port
    /// with `env` instead of the environment it had.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.stop();
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let listen = self.addr();
        self.spawn(&listen);
    }

    /// SIGTERM (a clean stop: the gateway's shutdown runs), then start again on the same
    /// data dir and port.
    pub fn sigterm_and_restart(&mut self) {
        let pid = self.pid().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        assert!(
            self.exited_within(Duration::from_secs(15)),
            "still running after SIGTERM"
        );
        let listen = self.addr();
        self.spawn(&listen);
    }

    /// A `mosaic` command pointed at this gateway with its admin token.
    pub fn mosaic(&self) -> Command {
        let mut cmd = mosaic();
        cmd.env("MOSAIC_GATEWAY_URL", &self.url)
            .env("MOSAIC_ADMIN_TOKEN", &self.admin_token);
        if self.is_tls() {
            cmd.env("MOSAIC_CACERT", self.ca_file());
        }
        cmd
    }

    /// Runs `mosaic ARGS` against this gateway.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.mosaic();
        cmd.args(args);
        run(cmd, None)
    }

    /// `mosaic federation grant create` for `user` and `peer` with the seed scope (read
    /// from standard input): the new grant, as JSON. No output may carry the admin token.
    pub fn grant(&self, user: &str, peer: &str) -> Value {
        let mut cmd = self.mosaic();
        cmd.args([
            "federation",
            "grant",
            "create",
            "--user",
            user,
            "--peer",
            peer,
            "--scope",
            "-",
            "-o",
            "json",
        ]);
        let out = run(cmd, Some(SEED_SCOPE)).ok();
        assert!(
            !out.stdout.contains(&self.admin_token) && !out.stderr.contains(&self.admin_token),
            "admin token in the output: {out:?}"
        );
        out.json()
    }

    /// A new grant for `user` and `peer` and a token for it, as a script gets them: the
    /// grant's ID and the enrollment URL that `grant token -q` prints.
    pub fn grant_with_token(&self, user: &str, peer: &str) -> (String, String) {
        let id = self.grant(user, peer)["id"].as_str().unwrap().to_string();
        let url = self
            .run(&["federation", "grant", "token", &id, "-q"])
            .ok()
            .stdout
            .trim_end()
            .to_string();
        (id, url)
    }

    /// A direct HTTP request with the admin token; returns (status, body as JSON or Null).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        if self.is_tls() {
            let url = format!("{}{}", self.url, path);
            return tls::https(
                method,
                &url,
                &self.ca_pem(),
                None,
                Some(&self.admin_token),
                body,
            )
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        }
        http(
            method,
            &format!("{}{}", self.url, path),
            Some(&self.admin_token),
            body,
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP request; any status is returned, not turned into an error.
pub fn http(method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = match body {
        Some(b) => agent.run(
            req.header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap())
                .unwrap(),
        ),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A unique-enough ID for test data.
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}-{}-{}",
        nanos,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The scope of the seed document.
pub const SEED_SCOPE: &str = r#"{"resources":["tasks","notes"],"excluded_resources":["credentials"],"max_rows_per_query":100}"#;
pub mod standin;
pub mod tls;
pub mod transcript;
