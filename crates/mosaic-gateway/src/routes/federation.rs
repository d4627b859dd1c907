//! `/api/federation/v1/...` on the granting gateway (A): what an enrolled peer reads over
//! mutual TLS. The verified client certificate is the credential; every check of the
//! contract runs in order on every request, against the database, with no cache.

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::data::parse_resource;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathParam, QueryParams};
use crate::rate_limit::{ClientAddr, too_many};
use crate::refusals;
use crate::store::StoreError;
use crate::store::audit::{Actor, Event};
use crate::store::db::{Db, DbError};
use crate::store::grants::CertRole;
use crate::store::page::PageRequest;
use crate::store::{from_ms, grants, rows};
use crate::tls::ClientChain;
use mosaic_contract::federation::{RowsQuery, WhoAmI, codes};
use mosaic_contract::types::{AuditAction, ErrorBody, Grant, GrantStatus, Page};
use mosaic_crypto::verify::{GrantIdentity, grant_identity};

/// The client certificate of the request's connection, if TLS verified one.
pub(super) type Presented = Option<axum::Extension<ClientChain>>;

/// The client's address, from the accept loop.
pub(super) type Client = Option<Extension<ClientAddr>>;

/// Longest part of a peer-chosen path (the resource) kept in a refusal's message, so in
/// its audit row; past it, `…` marks the cut.
const MAX_PATH_IN_MESSAGE: usize = 256;

#[utoipa::path(
    get,
    path = "/api/federation/v1/whoami",
    tag = "federation",
    responses(
        (status = 200, description = "The grant this client certificate holds", body = WhoAmI),
        (status = 401, description = "`certificate_required`: no client certificate", body = ErrorBody),
        (status = 403, description = "`unknown_certificate` or `grant_inactive`", body = ErrorBody),
        (status = 429, description = "Too many refused data-plane requests from this address (`--rate-limit`): one that would be refused (401, 403 or 400) is answered 429 instead; `Retry-After` gives the seconds to wait. A request that passes the checks is never refused so", body = ErrorBody),
    ),
    security(("client_certificate" = []))
)]
pub async fn whoami(
    State(state): State<AppState>,
    client: Client,
    presented: Presented,
) -> Result<Json<WhoAmI>, Response> {
    let Some(leaf) = presented.and_then(|c| c.0.leaf().map(<[u8]>::to_vec)) else {
        return Err(refused(&state, client, Refusal::certificate_required()).await);
    };
    // A refusal undoes the transaction; its audit row is written afterwards, collapsed.
    let answer = state
        .store
        .write(move |tx, now| {
            let (grant, identity, _) = authorize(tx, Some(&leaf), now, None)?;
            let event = read_event(&grant, "whoami");
            let who = WhoAmI {
                grant_id: grant.id,
                subject_user_id: grant.user_id,
                peer_id: grant.peer_id,
                scope: grant.scope,
                status: grant.status,
                cert_fingerprint: identity.fingerprint,
                cert_not_after: identity.not_after,
            };
            Ok::<_, Failed>((Json(who), event))
        })
        .await;
    settle(&state, client, answer).await
}

#[utoipa::path(
    get,
    path = "/api/federation/v1/resources/{resource}",
    tag = "federation",
    params(
        ("resource" = String, Path, description = "tasks, notes, credentials, teams or users"),
        RowsQuery,
    ),
    responses(
        (status = 200, description = "One page of the grant's subject user's rows, in (created_at, id) order", body = Page<Object>),
        (status = 400, description = "`invalid_request`: limit outside 1 to max_rows_per_query, or a bad cursor", body = ErrorBody),
        (status = 401, description = "`certificate_required`: no client certificate", body = ErrorBody),
        (status = 403, description = "`unknown_certificate`, `grant_inactive` or `out_of_scope`", body = ErrorBody),
        (status = 429, description = "Too many refused data-plane requests from this address (`--rate-limit`): one that would be refused (401, 403 or 400) is answered 429 instead; `Retry-After` gives the seconds to wait. A request that passes the checks is never refused so", body = ErrorBody),
    ),
    security(("client_certificate" = []))
)]
pub async fn resources(
    State(state): State<AppState>,
    presented: Presented,
    PathParam(resource): PathParam,
    QueryParams(query): QueryParams<RowsQuery>,
    client: Client,
) -> Result<Json<Page<serde_json::Value>>, Response> {
    let Some(leaf) = presented.and_then(|c| c.0.leaf().map(<[u8]>::to_vec)) else {
        return Err(refused(&state, client, Refusal::certificate_required()).await);
    };
    let answer = state
        .store
        .write(move |tx, now| -> Result<_, Failed> {
            let (grant, _, _) = authorize(tx, Some(&leaf), now, Some((&resource, &query)))?;
            let limit = query.limit.unwrap_or(grant.scope.max_rows_per_query);
            let page = PageRequest::with_limit(limit, query.cursor.as_deref())?;
            let resource = parse_resource(&resource)
                .ok_or_else(|| ApiError::internal("the scope check passed an unknown resource"))?;
            let page = rows::page(tx, resource, &grant.user_id, &page).map_err(StoreError::from)?;
            let event = read_event(
                &grant,
                &format!("{}: {} rows", resource.as_str(), page.items.len()),
            );
            Ok((Json(page), event))
        })
        .await;
    settle(&state, client, answer).await
}

/// `federation.read` by the grant's peer.
fn read_event(grant: &Grant, detail: &str) -> Event {
    Event::new(AuditAction::FederationRead, Actor::Peer)
        .grant(&grant.id)
        .peer(&grant.peer_id)
        .detail(detail)
}

/// Why a federation request was refused, for the answer and the audit log.
pub(super) struct Refusal {
    error: ApiError,
    fingerprint: Option<String>,
    /// The grant's ID and peer ID (boxed: a refusal stays small as an `Err`).
    grant: Option<Box<(String, String)>>,
    /// The checks retired the grant's previous certificate (its current one was
    /// presented): retired again after the refused transaction is undone.
    retired: bool,
}

/// Why a data-plane transaction ended without an answer: undone in both cases.
pub(super) enum Failed {
    Error(ApiError),
    Refused(Refusal),
}

impl From<ApiError> for Failed {
    fn from(e: ApiError) -> Self {
        Failed::Error(e)
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Error(e.into())
    }
}

impl From<Refusal> for Failed {
    fn from(refusal: Refusal) -> Self {
        Failed::Refused(refusal)
    }
}

/// The answer of a data-plane transaction: its value, or its error, or its refusal
/// (counted, rate-limited and audited by [`refused`]).
pub(super) async fn settle<T>(
    state: &AppState,
    client: Client,
    answer: Result<T, Failed>,
) -> Result<T, Response> {
    match answer {
        Ok(value) => Ok(value),
        Err(Failed::Error(e)) => Err(e.into_response()),
        Err(Failed::Refused(refusal)) => Err(refused(state, client, refusal).await),
    }
}

/// A refused data-plane request: counted against the address's refusals (past
/// `--rate-limit`, the answer is 429 instead of the refusal) and written to the audit log
/// as `federation.refused`, collapsed with its repeats from the same address
/// (`refusals`). Every refusal is counted, the ones answered 429 too. A request that
/// passes the checks is never refused here, whatever its address did before.
pub(super) async fn refused(state: &AppState, client: Client, refusal: Refusal) -> Response {
    if refusal.error.status().is_server_error() {
        return refusal.error.into_response();
    }
    let ip: Option<IpAddr> = client.map(|Extension(ClientAddr(addr))| addr.ip());
    if let (true, Some(grant_id)) = (refusal.retired, refusal.grant.as_ref().map(|g| g.0.clone())) {
        let retired = state
            .store
            .update(move |tx, _| {
                grants::retire_previous_cert(tx, &grant_id).map_err(StoreError::from)
            })
            .await;
        if let Err(e) = retired {
            return ApiError::from(e).into_response();
        }
    }
    let limited = match (state.rate_limits.as_deref(), ip) {
        (Some(limits), Some(ip)) => limits.data_plane_refused(ip).err(),
        _ => None,
    };
    let grant = refusal
        .grant
        .as_deref()
        .map(|(id, peer)| (id.as_str(), peer.as_str()));
    let rows = state
        .refusals
        .refused_federation(ip, grant, &refusal.why(), Instant::now());
    if let Err(e) = refusals::write(&state.store, rows).await {
        return ApiError::from(e).into_response();
    }
    match limited {
        Some(wait) => too_many(wait, "refused data-plane requests"),
        None => refusal.error.into_response(),
    }
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Refusal {
            error: ApiError::coded(status, code, message),
            fingerprint: None,
            grant: None,
            retired: false,
        }
    }

    /// No client certificate: decided without the database.
    pub(super) fn certificate_required() -> Self {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "a client certificate issued by this gateway is required (mutual TLS)".into(),
        )
    }

    /// Marks that the checks retired the previous certificate of the refusal's grant
    /// ([`Refusal::of`]) before refusing.
    pub(super) fn retiring(mut self) -> Self {
        self.retired = true;
        self
    }

    pub(super) fn of(mut self, identity: &GrantIdentity, grant: Option<&Grant>) -> Self {
        self.fingerprint = Some(identity.fingerprint.clone());
        self.grant = grant.map(|g| Box::new((g.id.clone(), g.peer_id.clone())));
        self
    }

    /// What its `federation.refused` row says: the code and message, and the
    /// certificate's fingerprint.
    pub(super) fn why(&self) -> String {
        format!(
            "{}: {}; certificate {}",
            self.error.code(),
            self.error,
            self.fingerprint.as_deref().unwrap_or("none")
        )
    }
}

/// The contract's checks, in its order; the first failure is the answer. `read` is the
/// resource and query of a resource read (none for whoami and renew). A grant's previous
/// certificate (the one its current one renewed) passes too, until the current one is
/// first presented: from then on, only the current one does.
pub(super) fn authorize(
    conn: &dyn Db,
    leaf: Option<&[u8]>,
    now: i64,
    read: Option<(&str, &RowsQuery)>,
) -> Result<(Grant, GrantIdentity, CertRole), Refusal> {
    let refuse = |status, code, message: String| Refusal::new(status, code, message);
    // 1. A client certificate, verified by the TLS layer against this gateway's CA.
    let Some(leaf) = leaf else {
        return Err(Refusal::certificate_required());
    };
    let identity = grant_identity(leaf).map_err(|e| {
        refuse(
            StatusCode::FORBIDDEN,
            codes::UNKNOWN_CERTIFICATE,
            format!("the client certificate is not a grant certificate: {e}"),
        )
    })?;
    if identity.not_after <= from_ms(now) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "the client certificate has expired".into(),
        )
        .of(&identity, None));
    }
    // 2. A grant records this certificate, and its IDs are the certificate's OIDs.
    let db_error = |e: DbError| Refusal {
        error: StoreError::from(e).into(),
        fingerprint: None,
        grant: None,
        retired: false,
    };
    let found = grants::by_cert_fingerprint(conn, &identity.fingerprint)
        .map_err(db_error)?
        .filter(|(g, _)| g.id == identity.grant_id && g.user_id == identity.subject_user_id);
    let Some((grant, role)) = found else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            codes::UNKNOWN_CERTIFICATE,
            "no grant holds this client certificate".into(),
        )
        .of(&identity, None));
    };
    // 3. The grant is active now (expiry was swept in this very transaction).
    if grant.status != GrantStatus::Active {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            codes::GRANT_INACTIVE,
            format!("grant {} is {}", grant.id, grant.status.as_str()),
        )
        .of(&identity, Some(&grant)));
    }
    let retired = role == CertRole::Current;
    if retired {
        grants::retire_previous_cert(conn, &grant.id).map_err(db_error)?;
    }
    let refuse = |status, code, message: String| {
        let refusal = refuse(status, code, message).of(&identity, Some(&grant));
        if retired { refusal.retiring() } else { refusal }
    };
    let Some((resource, query)) = read else {
        return Ok((grant, identity, role));
    };
    // 4. The resource is granted and not excluded.
    let scope = &grant.scope;
    let granted = parse_resource(resource)
        .filter(|r| scope.resources.contains(r) && !scope.excluded_resources.contains(r));
    if granted.is_none() {
        let why = match parse_resource(resource) {
            None => format!("{:?} is not a resource", capped(resource)),
            Some(r) if scope.excluded_resources.contains(&r) => {
                format!("{} is excluded by grant {}", r.as_str(), grant.id)
            }
            Some(r) => format!("{} is not granted by grant {}", r.as_str(), grant.id),
        };
        return Err(refuse(StatusCode::FORBIDDEN, codes::OUT_OF_SCOPE, why));
    }
    // 5. The page size is within the grant's limit.
    let max = scope.max_rows_per_query;
    if let Some(limit) = query.limit
        && !(1..=max).contains(&limit)
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            mosaic_contract::types::codes::INVALID_REQUEST,
            format!("limit must be from 1 to {max} (the grant's max_rows_per_query), got {limit}"),
        ));
    }
    Ok((grant, identity, role))
}

/// At most [`MAX_PATH_IN_MESSAGE`] characters of `text`, then `…` if it was longer.
fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_PATH_IN_MESSAGE) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests;
