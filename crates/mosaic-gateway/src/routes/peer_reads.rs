//! `/api/admin/federation/peers/{id}/whoami` and `.../resources/{resource}` on the
//! enrolling gateway (B): B calls the peer (A) over mutual TLS and relays A's answer.
//! The CLI never sees the private key.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathId, PathPair, QueryParams};
use crate::store::audit::{Actor, Event};
use crate::store::{StoreError, peers};
use mosaic_contract::federation::{RowsQuery, WhoAmI};
use mosaic_contract::paths;
use mosaic_contract::types::{AuditAction, PeerStatus};
use mosaic_contract::types::{ErrorBody, Page};

#[utoipa::path(
    get,
    path = "/api/admin/federation/peers/{id}/whoami",
    tag = "peers",
    params(("id" = String, Path, description = "The peer's ID")),
    responses(
        (status = 200, description = "The peer's answer: the grant this gateway's certificate holds there", body = WhoAmI),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "`peer_refused`: the peer refused; the message carries its code and message", body = ErrorBody),
        (status = 404, description = "No such peer", body = ErrorBody),
        (status = 409, description = "The peer is pending", body = ErrorBody),
        (status = 502, description = "`peer_unreachable` (connection, TLS, timeout, unusable answer) or `peer_untrusted` (its server certificate is not under the CA stored at enrollment)", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn whoami(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<serde_json::Value>, ApiError> {
    let answer = call(&state, &id, paths::WHOAMI).await?;
    // Only a well-formed answer is relayed.
    serde_json::from_value::<WhoAmI>(answer.clone()).map_err(|e| unusable(&e))?;
    Ok(Json(answer))
}

#[utoipa::path(
    get,
    path = "/api/admin/federation/peers/{id}/resources/{resource}",
    tag = "peers",
    params(
        ("id" = String, Path, description = "The peer's ID"),
        ("resource" = String, Path, description = "tasks, notes, credentials, teams or users"),
        RowsQuery,
    ),
    responses(
        (status = 200, description = "The peer's answer: one page of rows", body = Page<Object>),
        (status = 400, description = "Bad limit or cursor (the peer's message, or this gateway's)", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 403, description = "`peer_refused`: the peer refused; the message carries its code and message", body = ErrorBody),
        (status = 404, description = "No such peer", body = ErrorBody),
        (status = 409, description = "The peer is pending", body = ErrorBody),
        (status = 502, description = "`peer_unreachable` or `peer_untrusted`", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
pub async fn resources(
    State(state): State<AppState>,
    PathPair(id, resource): PathPair,
    QueryParams(query): QueryParams<RowsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let answer = call(&state, &id, &resource_path(&resource, &query)?).await?;
    serde_json::from_value::<Page<serde_json::Map<String, serde_json::Value>>>(answer.clone())
        .map_err(|e| unusable(&e))?;
    Ok(Json(answer))
}

/// The path and query of A's resource read: the resource as one path segment
/// (percent-encoded), then `limit` and `cursor`, each only when given.
fn resource_path(resource: &str, query: &RowsQuery) -> Result<String, ApiError> {
    let mut path = url::Url::parse("https://peer.invalid").map_err(ApiError::internal)?;
    path.path_segments_mut()
        .map_err(|_| ApiError::internal("URL without a path"))?
        .extend(paths::DATA_PLANE_SEGMENTS)
        .extend(["resources", resource]);
    {
        let mut pairs = path.query_pairs_mut();
        if let Some(limit) = query.limit {
            pairs.append_pair("limit", &limit.to_string());
        }
        if let Some(cursor) = &query.cursor {
            pairs.append_pair("cursor", cursor);
        }
    }
    Ok(match path.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", path.path()),
        _ => path.path().to_string(),
    })
}

async fn call(
    state: &AppState,
    id: &str,
    path_and_query: &str,
) -> Result<serde_json::Value, ApiError> {
    let peer_id = id.to_string();
    let creds = state
        .store
        .run(move |conn| {
            peers::credentials(conn, &peer_id).map_err(|e| ApiError::from(StoreError::from(e)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no peer with ID {id}")))?;
    let answer = state
        .peer_clients
        .get(&state.secret, id, creds, path_and_query)
        .await;
    if let Err(refused) = &answer
        && let Some(how) = grant_ended(refused)
    {
        record_grant_ended(state, id, how).await;
    }
    answer
}

/// `revoked` or `expired`, when the granting gateway refused because the grant ended
/// (`grant_inactive`, whose message is `grant <id> is <status>`).
fn grant_ended(refused: &ApiError) -> Option<&'static str> {
    if refused.code() != mosaic_contract::federation::codes::PEER_REFUSED {
        return None;
    }
    let message = refused.to_string();
    let said = message
        .split_once(&format!(
            "{}: ",
            mosaic_contract::federation::codes::GRANT_INACTIVE
        ))?
        .1;
    if said.ends_with(" is revoked") {
        Some(peers::GRANT_REVOKED)
    } else if said.ends_with(" is expired") {
        Some(peers::GRANT_EXPIRED)
    } else {
        None
    }
}

/// Keeps what the granting gateway said on the peer (its status in `peer list`), once,
/// with an audit entry. The refusal is answered whether or not this could be written.
async fn record_grant_ended(state: &AppState, id: &str, how: &'static str) {
    let peer_id = id.to_string();
    let known = state
        .store
        .run(move |conn| peers::get(conn, &peer_id).map_err(StoreError::from))
        .await;
    if !matches!(known, Ok(Some(peer)) if peer.status == PeerStatus::Active) {
        return; // recorded already (or gone)
    }
    let peer_id = id.to_string();
    let written = state
        .store
        .write(move |tx, _now| {
            let changed = peers::record_grant_ended(tx, &peer_id, how)
                .map_err(|e| ApiError::from(StoreError::from(e)))?;
            let event = Event::new(AuditAction::PeerGrantEnded, Actor::Admin)
                .peer(&peer_id)
                .detail(how);
            Ok::<_, ApiError>((changed, event))
        })
        .await;
    if let Err(e) = written {
        eprintln!("mosaic gateway: cannot record that peer {id}'s grant is {how}: {e}");
    }
}

fn unusable(e: &serde_json::Error) -> ApiError {
    ApiError::coded(
        axum::http::StatusCode::BAD_GATEWAY,
        mosaic_contract::federation::codes::PEER_UNREACHABLE,
        format!("the granting gateway's answer does not have the contract's shape: {e}"),
    )
}

#[cfg(test)]
mod tests;
