//! Per-client-address rate limits (governor, keyed by IP): the enrollment routes (GET and
//! POST), failed admin authentications and refused data-plane requests. `--rate-limit N`:
//! N a minute per address, in bursts of up to N; `off` disables all three. Only the
//! enrollment limit counts every request: the other two count failures, and a request
//! with a valid credential (the admin token, a grant's certificate) is never refused by
//! them, so a guesser behind a shared address (NAT, load balancer) locks nobody out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use super::AppState;
use super::error::ApiError;

/// Addresses tracked before the idle ones are forgotten.
const TRACKED: usize = 10_000;

/// The client's address, put into every request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

type Limiter = RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>;

/// The gateway's limiters; `None` with `--rate-limit off`.
pub struct RateLimits {
    enrollment: Limiter,
    admin_failures: Limiter,
    /// Addresses that used up their failed admin attempts, and until when: every admin
    /// request from them without the right token is 429 then.
    admin_blocked: Mutex<HashMap<IpAddr, Instant>>,
    data_plane_refusals: Limiter,
}

impl RateLimits {
    pub fn per_minute(n: NonZeroU32) -> Self {
        let quota = Quota::per_minute(n);
        RateLimits {
            enrollment: RateLimiter::hashmap(quota),
            admin_failures: RateLimiter::hashmap(quota),
            admin_blocked: Mutex::new(HashMap::new()),
            data_plane_refusals: RateLimiter::hashmap(quota),
        }
    }

    /// Counts a refused data-plane request from `ip`; `Err(wait)` once it is one too many
    /// (it is then answered 429 instead of its refusal).
    pub fn data_plane_refused(&self, ip: IpAddr) -> Result<(), Duration> {
        check(&self.data_plane_refusals, ip)
    }

    /// `Err(wait)` when `ip` has no enrollment request left.
    fn enrollment(&self, ip: IpAddr) -> Result<(), Duration> {
        check(&self.enrollment, ip)
    }

    /// `Err(wait)` while `ip` is blocked for failed admin authentication (asked only for
    /// requests without the right token).
    pub fn admin_blocked(&self, ip: IpAddr) -> Result<(), Duration> {
        let mut blocked = self
            .admin_blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match blocked.get(&ip) {
            Some(until) if *until > now => Err(*until - now),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed admin authentication from `ip`; `Err(wait)` once it is one too
    /// many (the address is then blocked for `wait`).
    pub fn admin_failed(&self, ip: IpAddr) -> Result<(), Duration> {
        check(&self.admin_failures, ip).inspect_err(|wait| {
            let mut blocked = self
                .admin_blocked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if blocked.len() >= TRACKED {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + *wait);
        })
    }
}

fn check(limiter: &Limiter, ip: IpAddr) -> Result<(), Duration> {
    if limiter.len() >= TRACKED {
        limiter.retain_recent();
    }
    limiter
        .check_key(&ip)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// The 429 answer, in the error shape, with `Retry-After` in whole seconds.
pub fn too_many(wait: Duration, what: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut response = ApiError::coded(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many {what} from this address; retry in {secs} s"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The client's IP address (none only for requests not from the accept loop).
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.ip())
}

/// Layer of the enrollment route: each request (GET preview or POST) takes one.
pub async fn limit_enrollment(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(limits), Some(ip)) = (state.rate_limits.as_deref(), client_ip(&req))
        && let Err(wait) = limits.enrollment(ip)
    {
        return too_many(wait, "enrollment requests");
    }
    next.run(req).await
}
