//! PostgreSQL for the gateway tests: with `MOSAIC_TEST_DATABASE_URL` set (by
//! `scripts/pg.sh start`), every test gateway keeps its state in a fresh database of that
//! server instead of SQLite in its data directory, so the same tests run on both stores.

use std::sync::Once;

/// The server's URL, if the PostgreSQL suite is enabled.
pub fn server_url() -> Option<String> {
    std::env::var("MOSAIC_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Whether the PostgreSQL suite must run (CI): then a missing server fails the tests
/// instead of skipping them.
pub fn required() -> bool {
    std::env::var("MOSAIC_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// The server's URL, or `None` after one line saying the PostgreSQL suite was skipped
/// and how to enable it (a failure where it is required).
pub fn server_or_skip(test: &str) -> Option<String> {
    if let Some(url) = server_url() {
        return Some(url);
    }
    assert!(
        !required(),
        "MOSAIC_TEST_REQUIRE_POSTGRES=1 but MOSAIC_TEST_DATABASE_URL is not set"
    );
    static SAID: Once = Once::new();
    // Straight to standard error, past the test harness's capture: the line shows in
    // a green run too.
    SAID.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "PostgreSQL suite skipped ({test} and the others): run \
             `export MOSAIC_TEST_DATABASE_URL=\"$(scripts/pg.sh start)\"` to enable it"
        );
    });
    None
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `sql` (simple protocol, several statements allowed) on the database at `url`;
/// every value of every row as text.
pub fn query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (url, sql) = (url.to_string(), sql.to_string());
    // Its own thread: a test may already run inside a runtime.
    std::thread::spawn(move || {
        runtime().block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
            let task = tokio::spawn(conn);
            let messages = client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            drop(client);
            let _ = task.await;
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    })
    .join()
    .expect("query thread")
}

/// A new, empty database on the server; its URL.
pub fn fresh_database(server: &str) -> String {
    let name = format!("mosaic_t_{}", super::uuid_like().replace('-', "_"));
    query(server, &format!("CREATE DATABASE {name}"));
    let mut url = url::Url::parse(server).expect("MOSAIC_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// One text value of the first row of `sql`.
pub fn scalar(url: &str, sql: &str) -> Option<String> {
    query(url, sql)
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten())
}
