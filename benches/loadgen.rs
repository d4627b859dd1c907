//! The load generator of `bench/scale.py`: a release-built client that is not the
//! bottleneck. Not a test and not run by `cargo test`; `cargo bench --bench loadgen
//! --no-run` builds it. Every command prints one line of JSON with its figures.
//!
//! ```text
//! loadgen seed    URL ADMIN_TOKEN COUNT CONCURRENCY       create COUNT grants
//! loadgen enroll  URL ADMIN_TOKEN COUNT CONCURRENCY       COUNT enrollments, timed
//! loadgen commits DIR COUNT                               SQLite fsync'd commits/s
//! loadgen get     URL ADMIN_TOKEN COUNT CONCURRENCY       COUNT admin GETs, timed
//! ```
//!
//! `enroll` makes its grants, tokens, keys and CSRs before the timed region, so only the
//! `POST <enrollment-url>` requests are timed; it reports the rate, the latency
//! percentiles and its own CPU time over the timed region.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type Fail = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match args.first().map(String::as_str) {
        Some("seed") if args.len() == 5 => runtime().block_on(seed(&args[1..])),
        Some("enroll") if args.len() == 5 => runtime().block_on(enroll(&args[1..])),
        Some("commits") if args.len() == 3 => commits(&args[1], num(&args[2])),
        Some("get") if args.len() == 5 => runtime().block_on(get(&args[1..])),
        _ => Err("usage: loadgen seed|enroll|get URL ADMIN_TOKEN COUNT CONCURRENCY | loadgen commits DIR COUNT".into()),
    };
    match result {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn num(s: &str) -> usize {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// Runs `work(i)` for i in 0..count on `concurrency` tasks; the latency of each.
async fn drive<F, Fut>(count: usize, concurrency: usize, work: F) -> Result<Vec<Duration>, Fail>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Fail>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok::<_, Fail>(latencies);
                    }
                    let start = Instant::now();
                    work(i).await?;
                    latencies.push(start.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Value, Fail> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return Err(format!("POST {url}: {status}: {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

fn scope() -> Value {
    json!({"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100})
}

async fn create_grants(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    count: usize,
    concurrency: usize,
) -> Result<(Vec<String>, Duration), Fail> {
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); count]));
    let (http2, grants, token2, ids2) = (
        http.clone(),
        format!("{url}/api/admin/federation/grants"),
        token.to_string(),
        ids.clone(),
    );
    let start = Instant::now();
    drive(count, concurrency, move |i| {
        let (http, grants, token, ids) =
            (http2.clone(), grants.clone(), token2.clone(), ids2.clone());
        async move {
            let body =
                json!({"user_id": format!("user-{i}"), "peer_id": "bench", "scope": scope()});
            let grant = post(&http, &grants, Some(&token), &body).await?;
            ids.lock().unwrap()[i] = grant["id"].as_str().ok_or("no id")?.to_string();
            Ok(())
        }
    })
    .await?;
    let elapsed = start.elapsed();
    let ids = std::mem::take(&mut *ids.lock().unwrap());
    Ok((ids, elapsed))
}

async fn seed(args: &[String]) -> Result<String, Fail> {
    let (url, token, count, concurrency) = (&args[0], &args[1], num(&args[2]), num(&args[3]));
    let http = client(concurrency);
    let (_, elapsed) = create_grants(&http, url, token, count, concurrency).await?;
    Ok(json!({"grants": count, "seconds": elapsed.as_secs_f64(),
              "per_second": count as f64 / elapsed.as_secs_f64()})
    .to_string())
}

async fn enroll(args: &[String]) -> Result<String, Fail> {
    let (url, token, count, concurrency) = (&args[0], &args[1], num(&args[2]), num(&args[3]));
    let http = client(concurrency);
    // Untimed: grants, their tokens, and a key and CSR for each.
    let (ids, _) = create_grants(&http, url, token, count, concurrency.max(16)).await?;
    let urls = Arc::new(std::sync::Mutex::new(vec![String::new(); count]));
    let (http2, base, token2, ids, urls2) = (
        http.clone(),
        url.clone(),
        token.clone(),
        Arc::new(ids),
        urls.clone(),
    );
    drive(count, concurrency.max(16), move |i| {
        let (http, base, token, ids, urls) = (
            http2.clone(),
            base.clone(),
            token2.clone(),
            ids.clone(),
            urls2.clone(),
        );
        async move {
            let t = post(
                &http,
                &format!("{base}/api/admin/federation/grants/{}/tokens", ids[i]),
                Some(&token),
                &json!({}),
            )
            .await?;
            urls.lock().unwrap()[i] = t["enrollment_url"].as_str().ok_or("no url")?.to_string();
            Ok(())
        }
    })
    .await?;
    let urls = Arc::new(std::mem::take(&mut *urls.lock().unwrap()));
    let bodies: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let key = mosaic::crypto::keys::PeerKey::generate().expect("key");
            serde_json::to_vec(&json!({"csr_pem": key.csr_pem("bench").expect("csr")})).unwrap()
        })
        .collect();
    let bodies = Arc::new(bodies);

    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let http2 = http.clone();
    let mut latencies = drive(count, concurrency, move |i| {
        let (http, urls, bodies) = (http2.clone(), urls.clone(), bodies.clone());
        async move {
            let resp = http
                .post(&urls[i])
                .header("content-type", "application/json")
                .body(bodies[i].clone())
                .send()
                .await?;
            let status = resp.status();
            let _ = resp.bytes().await?;
            if status != reqwest::StatusCode::OK {
                return Err(format!("enrollment answered {status}").into());
            }
            Ok(())
        }
    })
    .await?;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
            .as_secs_f64()
            * 1000.0
    };
    Ok(json!({
        "enrollments": count, "concurrency": concurrency, "seconds": wall,
        "per_second": count as f64 / wall, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "loadgen_cpu_percent": 100.0 * cpu / wall,
    })
    .to_string())
}

/// `GET /api/admin/federation/grants?limit=1` COUNT times: an admin request through the
/// whole middleware (authentication, request id, log line, metrics) and one small read.
async fn get(args: &[String]) -> Result<String, Fail> {
    let (url, token, count, concurrency) = (&args[0], &args[1], num(&args[2]), num(&args[3]));
    let http = client(concurrency);
    let target = Arc::new(format!("{url}/api/admin/federation/grants?limit=1"));
    let token = Arc::new(token.clone());
    let start = Instant::now();
    let http2 = http.clone();
    let mut latencies = drive(count, concurrency, move |_| {
        let (http, target, token) = (http2.clone(), target.clone(), token.clone());
        async move {
            let resp = http
                .get(target.as_str())
                .bearer_auth(token.as_str())
                .send()
                .await?;
            let status = resp.status();
            let _ = resp.bytes().await?;
            if !status.is_success() {
                return Err(format!("GET answered {status}").into());
            }
            Ok(())
        }
    })
    .await?;
    let wall = start.elapsed().as_secs_f64();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2].as_secs_f64() * 1000.0;
    Ok(
        json!({"requests": count, "concurrency": concurrency, "seconds": wall,
              "per_second": count as f64 / wall, "p50_ms": p50})
        .to_string(),
    )
}

/// This process's user + system CPU time, from /proc/self/stat (in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The disk's rate of durable commits as the gateway makes them: WAL, synchronous =
/// FULL, one small row per transaction.
fn commits(dir: &str, count: usize) -> Result<String, Fail> {
    let path = std::path::Path::new(dir).join("commits.db");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, what TEXT NOT NULL);",
    )?;
    let start = Instant::now();
    for i in 0..count {
        conn.execute(
            "INSERT INTO t (at, what) VALUES (?1, 'a row of about the audit size')",
            [i as i64],
        )?;
    }
    let wall = start.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(json!({"commits": count, "per_second": count as f64 / wall}).to_string())
}
