//! The accept loop for plain HTTP and HTTPS: hyper-util's HTTP/1 + HTTP/2 server with the
//! header-read timeout, a cap on concurrent connections, and a bounded drain on shutdown.
//! The whole-request timeout and the early 413 are tower layers in `routes::router`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
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
        .keep_alive_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let full_logged = AtomicBool::new(false);
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
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::metrics::get().connection();
            let _ = tcp.set_nodelay(true);
            match acceptor {
                None => serve_connection(&builder, tcp, addr, app, None, watcher).await,
                Some(acceptor) => {
                    if let Some((tls, chain)) = handshake(&acceptor, tcp).await {
                        serve_connection(&builder, tls, addr, app, chain, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
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

/// Serves one connection until it closes (or the drain ends), with the client chain (if
/// any) and the client's address in every request.
async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    addr: std::net::SocketAddr,
    app: Router,
    chain: Option<ClientChain>,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(addr));
        if let Some(chain) = &chain {
            req.extensions_mut().insert(chain.clone());
        }
        app.clone().oneshot(req)
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let _ = watcher.watch(conn.into_owned()).await;
}
