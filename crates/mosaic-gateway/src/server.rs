//! The accept loop for plain HTTP and HTTPS: hyper-util's HTTP/1 + HTTP/2 server with the
//! header-read timeout, caps on concurrent connections (in all and per client address),
//! an idle timeout, a cap on concurrent HTTP/2 streams, and a bounded drain on shutdown.
//! The whole-request timeout and the early 413 are tower layers in `routes::router`.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::rate_limit::ClientAddr;
use super::tls::ClientChain;

/// A client that does not finish its TLS handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Header fields hyper parses before it answers 431 itself (with an empty body).
const HYPER_MAX_HEADERS: usize = 1000;

/// The connection limits (`mosaic gateway serve`'s flags; docs/gateway.md).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send a request's headers, counted from the moment the gateway
    /// waits for them: on HTTP/1 this also closes a keep-alive connection idle that long.
    pub header_timeout: Duration,
    /// Time from the end of the headers to the end of the answer (body read included);
    /// past it the answer is 408.
    pub request_timeout: Duration,
    /// Connections served at once; further ones are accepted and closed at once.
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv6: one /64); further ones
    /// from it are accepted and closed at once.
    pub max_connections_per_address: usize,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY,
    /// even if it answers pings; HTTP/1: also bounded by `header_timeout`).
    pub idle_timeout: Duration,
    /// Streams (requests) one HTTP/2 connection may have open at once.
    pub max_concurrent_streams: u32,
    /// After SIGTERM/SIGINT, how long requests in flight may take before the gateway
    /// exits anyway.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 128,
            idle_timeout: Duration::from_secs(60),
            max_concurrent_streams: 100,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` (over TLS when `tls` is given) until `shutdown` resolves, then lets
/// requests in flight finish for at most `limits.shutdown_timeout`. Over TLS, each
/// connection's verified client chain goes into its requests' extensions.
pub async fn serve(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(|config| TlsAcceptor::from(Arc::new(config)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Above the router's own limit (`routes::MAX_HEADERS`), which answers 431 in the
        // error shape; hyper's answer past this one has no body.
        .max_headers(HYPER_MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout)
        .max_concurrent_streams(limits.max_concurrent_streams);
    // Each connection's task holds a receiver: the drain waits until all are dropped.
    let (drain, draining) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::new(limits.max_connections_per_address));
    let full_logged = AtomicBool::new(false);
    let mut address_full_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning;
                    // the connections already held are served meanwhile.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(address_slot) = per_address.take(addr.ip()) else {
            // Closed at once; logged at most every 10 s, whatever the addresses.
            if address_full_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                address_full_logged = Some(Instant::now());
                tracing::warn!(
                    "{} connections open from {} \
                     (--max-connections-per-address); refusing its new ones",
                    limits.max_connections_per_address,
                    addr.ip()
                );
            }
            drop(tcp);
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed at once: the connections held keep being served.
            if !full_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "{} connections open (--max-connections); refusing new ones",
                    limits.max_connections
                );
            }
            drop(tcp);
            continue;
        };
        full_logged.store(false, Ordering::Relaxed);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let draining = draining.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slots = (slot, address_slot);
            let _open = crate::metrics::get().connection();
            let _ = tcp.set_nodelay(true);
            let conn = Connection {
                builder: &builder,
                addr,
                app,
                idle,
                draining,
            };
            match acceptor {
                None => conn.serve(tcp, None).await,
                Some(acceptor) => {
                    if let Some((tls, chain)) = handshake(&acceptor, tcp).await {
                        conn.serve(tls, chain).await;
                    }
                }
            }
        });
    }
    drop(listener);
    drop(draining);
    let _ = drain.send(true);
    if tokio::time::timeout(limits.shutdown_timeout, drain.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still open after {}s; closing them",
            limits.shutdown_timeout.as_secs()
        );
    }
}

/// The TLS handshake, bounded in time; a failed one (another CA's client certificate,
/// plain HTTP, a scanner) just closes the connection.
async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Option<(
    tokio_rustls::server::TlsStream<TcpStream>,
    Option<ClientChain>,
)> {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return None;
    };
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|certs| ClientChain(Arc::new(certs.iter().map(|c| c.to_vec()).collect())));
    Some((tls, chain))
}

/// One accepted connection, about to be served.
struct Connection<'a> {
    builder: &'a auto::Builder<TokioExecutor>,
    addr: std::net::SocketAddr,
    app: Router,
    idle: Duration,
    /// Becomes true (or closed) when the gateway drains.
    draining: watch::Receiver<bool>,
}

impl Connection<'_> {
    /// Serves the connection until it closes, with the client chain (if any) and the
    /// client's address in every request. It is shut down gracefully (HTTP/2: GOAWAY;
    /// HTTP/1: closed once no request is in flight) when the gateway drains, or once no
    /// request has been in flight for the idle timeout: HTTP/2 pings are no activity.
    async fn serve<I>(mut self, io: I, chain: Option<ClientChain>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let (app, addr, tracked) = (self.app, self.addr, activity.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(addr));
            if let Some(chain) = &chain {
                req.extensions_mut().insert(chain.clone());
            }
            let in_flight = InFlight::new(tracked.clone());
            let answer = app.clone().oneshot(req);
            async move {
                let answer = answer.await;
                drop(in_flight);
                answer
            }
        });
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(conn);
        let idle = activity.idle_for(self.idle);
        tokio::pin!(idle);
        let mut closing = *self.draining.borrow();
        if closing {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                changed = self.draining.changed(), if !closing => {
                    if changed.is_err() || *self.draining.borrow() {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                () = &mut idle, if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Requests in flight on one connection, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    /// Resolves once no request has been in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            if !busy && last.elapsed() >= idle {
                return;
            }
            let wake = if busy {
                Instant::now() + idle
            } else {
                last + idle
            };
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// One request in flight, from its headers to its answer's head.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connections open per client address (IPv6: per /64, which one host usually holds).
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        PerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more connection from `ip`, if it holds fewer than the cap.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: self.clone(),
            key,
        })
    }
}

/// One connection's place in its address's count; given back when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What connections are counted under: the IPv4 address (also when mapped into IPv6),
/// or the IPv6 address's /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_and_given_back() {
        let table = Arc::new(PerAddress::new(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let held = [table.take(a).unwrap(), table.take(a).unwrap()];
        assert!(table.take(a).is_none());
        assert!(table.take("192.0.2.2".parse().unwrap()).is_some());
        // The same address mapped into IPv6 is the same address.
        assert!(table.take("::ffff:192.0.2.1".parse().unwrap()).is_none());
        drop(held);
        assert!(table.take(a).is_some());
        assert_eq!(
            table.open.lock().unwrap().len(),
            0,
            "emptied counts are forgotten"
        );
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let table = Arc::new(PerAddress::new(1));
        let _one = table.take("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            table
                .take("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_none()
        );
        assert!(table.take("2001:db8:1:3::1".parse().unwrap()).is_some());
    }

    #[tokio::test]
    async fn idle_means_no_request_in_flight_for_the_whole_timeout() {
        let activity = Arc::new(Activity::new());
        let request = InFlight::new(activity.clone());
        let idle = Duration::from_millis(100);
        // A request in flight longer than the timeout keeps the connection.
        let waited = tokio::time::timeout(idle * 3, activity.idle_for(idle)).await;
        assert!(waited.is_err(), "idle while a request was in flight");
        drop(request);
        let started = Instant::now();
        activity.idle_for(idle).await;
        assert!(started.elapsed() >= idle);
    }
}
