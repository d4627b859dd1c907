//! The gateway's Prometheus metrics (`--metrics-listen`, a listener of its own, never the
//! data-plane port): what the request path, the store and the renewal scheduler count, and
//! what a scrape reads from the database. No label carries a user id, grant id, token or
//! raw path: routes are their templates, refusals their codes.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::store::{Store, StoreError};
use mosaic_contract::paths;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Latency buckets from 1 ms to about 16 s.
#[derive(Clone)]
struct Seconds;

impl MetricConstructor<Histogram> for Seconds {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.001, 2.0, 15))
    }
}

/// Every metric of the process. One set per process, like the log: a gateway is a process.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, Seconds>,
    enrollments: Counter,
    enrollment_refusals: Family<CodeLabels, Counter>,
    federated_reads: Counter,
    federated_refusals: Family<CodeLabels, Counter>,
    renewals: Family<OutcomeLabels, Counter>,
    rate_limited: Family<RouteLabels, Counter>,
    open_connections: Gauge,
    write_batch_size: Histogram,
    commit_seconds: Histogram,
    grants: Family<StatusLabels, Gauge>,
    peers: Family<StatusLabels, Gauge>,
    ca_expiry: Gauge,
    granted_cert_expiry: Family<PeerLabels, Gauge>,
    own_cert_expiry: Family<PeerLabels, Gauge>,
    /// The certificate expiries are read at most once a [`EXPIRY_EVERY`] (they change at
    /// enrollment and renewal only, and reading them visits every active grant).
    expiry_read_at: Mutex<Option<Instant>>,
}

/// How long the certificate expiry gauges are kept between two reads of the database.
const EXPIRY_EVERY: Duration = Duration::from_secs(60);

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mosaic");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(Seconds),
            enrollments: Counter::default(),
            enrollment_refusals: Family::default(),
            federated_reads: Counter::default(),
            federated_refusals: Family::default(),
            renewals: Family::default(),
            rate_limited: Family::default(),
            open_connections: Gauge::default(),
            write_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            commit_seconds: Seconds.new_metric(),
            grants: Family::default(),
            peers: Family::default(),
            ca_expiry: Gauge::default(),
            granted_cert_expiry: Family::default(),
            own_cert_expiry: Family::default(),
            expiry_read_at: Mutex::new(None),
            registry: Registry::default(),
        };
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let r = &mut registry;
        r.register("build_info", "The gateway's version (always 1)", build_info);
        r.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer, by route template and method",
            m.request_seconds.clone(),
        );
        r.register(
            "enrollments",
            "Enrollments that issued a certificate",
            m.enrollments.clone(),
        );
        r.register(
            "enrollment_refusals",
            "Refused enrollment requests (preview or redeem), by error code",
            m.enrollment_refusals.clone(),
        );
        r.register(
            "federated_reads",
            "Data-plane requests answered with rows or an identity",
            m.federated_reads.clone(),
        );
        r.register(
            "federated_refusals",
            "Refused data-plane requests, by error code",
            m.federated_refusals.clone(),
        );
        r.register(
            "renewals",
            "Renewals of this gateway's client certificates (enrolling side), by outcome",
            m.renewals.clone(),
        );
        r.register(
            "rate_limited_requests",
            "Requests answered 429 rate_limited, by route template and method",
            m.rate_limited.clone(),
        );
        r.register(
            "open_connections",
            "Client connections open now",
            m.open_connections.clone(),
        );
        r.register(
            "store_write_batch_size",
            "Writes committed together by one commit of the store (group commit)",
            m.write_batch_size.clone(),
        );
        r.register(
            "store_commit_duration_seconds",
            "Time of one commit of the store, its sync to disk included",
            m.commit_seconds.clone(),
        );
        r.register(
            "grants",
            "Grants of this gateway by status (granting side)",
            m.grants.clone(),
        );
        r.register(
            "peers",
            "Peers this gateway enrolled with, by status (enrolling side)",
            m.peers.clone(),
        );
        r.register(
            "ca_expiry_timestamp_seconds",
            "When the gateway's CA certificate expires (Unix time)",
            m.ca_expiry.clone(),
        );
        r.register(
            "granted_client_certificate_expiry_timestamp_seconds",
            "Granting side: the earliest expiry of the client certificates of active grants, by peer name",
            m.granted_cert_expiry.clone(),
        );
        r.register(
            "peer_client_certificate_expiry_timestamp_seconds",
            "Enrolling side: when this gateway's client certificate for each active peer expires, by peer ID",
            m.own_cert_expiry.clone(),
        );
        Metrics { registry, ..m }
    }

    /// One answered request. `route` is the router's template (never the raw path: an
    /// enrollment token is a path segment); `code` the error code of a refusal.
    pub fn request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        code: Option<&str>,
        took: Duration,
    ) {
        let labels = RouteLabels {
            route: route.to_string(),
            method: method.to_string(),
        };
        self.request_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route: labels.route.clone(),
                method: labels.method.clone(),
                status,
            })
            .inc();
        if code == Some("rate_limited") {
            self.rate_limited.get_or_create(&labels).inc();
            return;
        }
        let ok = (200..300).contains(&status);
        let coded = || CodeLabels {
            code: code.unwrap_or("unknown").to_string(),
        };
        if route == paths::ENROLLMENT_ROUTE {
            if ok && method == "POST" {
                self.enrollments.inc();
            } else if !ok {
                self.enrollment_refusals.get_or_create(&coded()).inc();
            }
        } else if route.starts_with(paths::DATA_PLANE) && route != paths::RENEW {
            if ok {
                self.federated_reads.inc();
            } else {
                self.federated_refusals.get_or_create(&coded()).inc();
            }
        }
    }

    /// One automatic or requested renewal of a client certificate of this gateway's.
    pub fn renewal(&self, outcome: &'static str) {
        self.renewals
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A connection opened; it counts as open until the guard is dropped.
    pub fn connection(&'static self) -> ConnectionGuard {
        self.open_connections.inc();
        ConnectionGuard(self)
    }

    /// One commit of the store: how many writes it carried and how long it took.
    pub fn commit(&self, writes: usize, took: Duration) {
        self.write_batch_size.observe(writes as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The exposition: the counters as they stand, and the gauges read from the store
    /// (the status counts on every scrape, from a table the writes keep up to date; the
    /// certificate expiries at most once a minute).
    pub async fn render(&self, state: &AppState) -> Result<String, StoreError> {
        let counts = state.store.status_counts().await?;
        self.grants.clear();
        for (status, n) in counts.grants {
            self.grants.get_or_create(&StatusLabels { status }).set(n);
        }
        self.peers.clear();
        for (status, n) in counts.peers {
            self.peers.get_or_create(&StatusLabels { status }).set(n);
        }
        self.ca_expiry.set(state.ca.not_after().unix_timestamp());
        if self.expiry_due() {
            read_expiries(self, &state.store).await?;
        }
        let mut om = String::new();
        prometheus_client::encoding::text::encode_registry(&mut om, &self.registry)
            .expect("writing to a String cannot fail");
        Ok(prometheus_text(&om))
    }

    fn expiry_due(&self) -> bool {
        let mut at = self
            .expiry_read_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = at.is_none_or(|t| t.elapsed() >= EXPIRY_EVERY);
        if due {
            *at = Some(Instant::now());
        }
        due
    }
}

async fn read_expiries(m: &Metrics, store: &Store) -> Result<(), StoreError> {
    let expiries = store.certificate_expiries().await?;
    m.granted_cert_expiry.clear();
    for (peer, at) in expiries.granted {
        m.granted_cert_expiry
            .get_or_create(&PeerLabels { peer })
            .set(at / 1000);
    }
    m.own_cert_expiry.clear();
    for (peer, at) in expiries.own {
        m.own_cert_expiry
            .get_or_create(&PeerLabels { peer })
            .set(at / 1000);
    }
    Ok(())
}

/// Counts an open connection until dropped.
pub struct ConnectionGuard(&'static Metrics);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.dec();
    }
}

/// The client crate writes OpenMetrics text; Prometheus' classic text format (0.0.4), which
/// `promtool check metrics` and every Prometheus server read, differs in two ways that
/// matter here: a counter's HELP and TYPE name the sample (`…_total`), and there is no
/// `# EOF` or `# UNIT` line.
fn prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line.starts_with("# HELP ") {
            help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let shown = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some(h) = help.take() {
                let text = h
                    .strip_prefix("# HELP ")
                    .and_then(|r| r.split_once(' '))
                    .map_or("", |(_, t)| t);
                let _ = writeln!(out, "# HELP {shown} {text}");
            }
            let _ = writeln!(out, "# TYPE {shown} {kind}");
            continue;
        }
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The metrics listener's one route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", routing::get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    match get().render(&state).await {
        Ok(text) => (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!("metrics: cannot read the database: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway's database does not answer\n",
            )
                .into_response()
        }
    }
}

/// Serves `/metrics` on `addr` (plain HTTP; meant for a scraper on a private network)
/// until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) {
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!("metrics listener stopped: {e}");
    }
}

/// Binds the metrics listener before anything is written, like the main one.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e} (--metrics-listen)"))
}

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn counters_are_named_by_their_samples_and_eof_is_dropped() {
        let om = "# HELP mosaic_enrollments Enrollments.\n# TYPE mosaic_enrollments counter\n\
                  mosaic_enrollments_total 2\n# HELP mosaic_peers Peers.\n# TYPE mosaic_peers gauge\n\
                  mosaic_peers{status=\"active\"} 1\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP mosaic_enrollments_total Enrollments.\n# TYPE mosaic_enrollments_total counter\n\
             mosaic_enrollments_total 2\n# HELP mosaic_peers Peers.\n# TYPE mosaic_peers gauge\n\
             mosaic_peers{status=\"active\"} 1\n"
        );
    }
}
