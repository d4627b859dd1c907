//! `/api/federation/v1/...` on the granting gateway (A): what an enrolled peer reads over
//! mutual TLS. The verified client certificate is the credential; every check of the
//! contract runs in order on every request, against the database, with no cache.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::data::parse_resource;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathParam, QueryParams};
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

#[utoipa::path(
    get,
    path = "/api/federation/v1/whoami",
    tag = "federation",
    responses(
        (status = 200, description = "The grant this client certificate holds", body = WhoAmI),
        (status = 401, description = "`certificate_required`: no client certificate", body = ErrorBody),
        (status = 403, description = "`unknown_certificate` or `grant_inactive`", body = ErrorBody),
    ),
    security(("client_certificate" = []))
)]
pub async fn whoami(
    State(state): State<AppState>,
    presented: Presented,
) -> Result<Json<WhoAmI>, ApiError> {
    let leaf = presented.and_then(|c| c.0.leaf().map(<[u8]>::to_vec));
    // The refusal is an answer, not a failed write: its audit event is committed too.
    state
        .store
        .write(move |tx, now| {
            Ok::<_, ApiError>(match authorize(tx, leaf.as_deref(), now, None) {
                Ok((grant, identity, _)) => {
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
                    (Ok(Json(who)), event)
                }
                Err(refusal) => refusal.into_answer(),
            })
        })
        .await?
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
    ),
    security(("client_certificate" = []))
)]
pub async fn resources(
    State(state): State<AppState>,
    presented: Presented,
    PathParam(resource): PathParam,
    QueryParams(query): QueryParams<RowsQuery>,
) -> Result<Json<Page<serde_json::Value>>, ApiError> {
    let leaf = presented.and_then(|c| c.0.leaf().map(<[u8]>::to_vec));
    state
        .store
        .write(move |tx, now| -> Result<_, ApiError> {
            let checked = authorize(tx, leaf.as_deref(), now, Some((&resource, &query)));
            let (grant, _, _) = match checked {
                Ok(passed) => passed,
                Err(refusal) => return Ok(refusal.into_answer()),
            };
            let limit = query.limit.unwrap_or(grant.scope.max_rows_per_query);
            let page = PageRequest::with_limit(limit, query.cursor.as_deref())?;
            let resource = parse_resource(&resource)
                .ok_or_else(|| ApiError::internal("the scope check passed an unknown resource"))?;
            let page = rows::page(tx, resource, &grant.user_id, &page).map_err(StoreError::from)?;
            let event = read_event(
                &grant,
                &format!("{}: {} rows", resource.as_str(), page.items.len()),
            );
            Ok((Ok(Json(page)), event))
        })
        .await?
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
    grant: Option<(String, String)>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Refusal {
            error: ApiError::coded(status, code, message),
            fingerprint: None,
            grant: None,
        }
    }

    pub(super) fn of(mut self, identity: &GrantIdentity, grant: Option<&Grant>) -> Self {
        self.fingerprint = Some(identity.fingerprint.clone());
        self.grant = grant.map(|g| (g.id.clone(), g.peer_id.clone()));
        self
    }

    /// The refusal as an answer, with its audit event (`federation.refused`: why, and
    /// the certificate's fingerprint).
    pub(super) fn into_answer<T>(self) -> (Result<T, ApiError>, Event) {
        let detail = format!(
            "{}: {}; certificate {}",
            self.error.code(),
            self.error,
            self.fingerprint.as_deref().unwrap_or("none")
        );
        let mut event = Event::new(AuditAction::FederationRefused, Actor::Peer).detail(detail);
        if let Some((grant_id, peer_id)) = self.grant {
            event = event.grant(grant_id).peer(peer_id);
        }
        (Err(self.error), event)
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
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            codes::CERTIFICATE_REQUIRED,
            "a client certificate issued by this gateway is required (mutual TLS)".into(),
        ));
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
    if role == CertRole::Current {
        grants::retire_previous_cert(conn, &grant.id).map_err(db_error)?;
    }
    let Some((resource, query)) = read else {
        return Ok((grant, identity, role));
    };
    // 4. The resource is granted and not excluded.
    let scope = &grant.scope;
    let granted = parse_resource(resource)
        .filter(|r| scope.resources.contains(r) && !scope.excluded_resources.contains(r));
    if granted.is_none() {
        let why = match parse_resource(resource) {
            None => format!("{resource:?} is not a resource"),
            Some(r) if scope.excluded_resources.contains(&r) => {
                format!("{} is excluded by grant {}", r.as_str(), grant.id)
            }
            Some(r) => format!("{} is not granted by grant {}", r.as_str(), grant.id),
        };
        return Err(
            refuse(StatusCode::FORBIDDEN, codes::OUT_OF_SCOPE, why).of(&identity, Some(&grant))
        );
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
        )
        .of(&identity, Some(&grant)));
    }
    Ok((grant, identity, role))
}

#[cfg(test)]
mod tests;
