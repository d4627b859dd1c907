//! `GET /api/admin/federation/status`: one answer with what an operator watches (`mosaic
//! status`): the version, the CA's expiry, grants by status, and each peer's certificate
//! and renewal, most urgent first.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::error::ApiError;
use crate::store::stats;
use mosaic_contract::types::{ErrorBody, GatewayStatus, GrantCounts};

#[utoipa::path(
    get,
    path = "/api/admin/federation/status",
    tag = "system",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The gateway's state", body = GatewayStatus),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 429, description = "Too many failed admin authentications from this address", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn status(State(state): State<AppState>) -> Result<Json<GatewayStatus>, ApiError> {
    let counts = state.store.status_counts().await?;
    let mut grants = GrantCounts::default();
    for (status, n) in counts.grants {
        let n = u64::try_from(n).unwrap_or(0);
        match status.as_str() {
            "pending" => grants.pending = n,
            "active" => grants.active = n,
            "revoked" => grants.revoked = n,
            "expired" => grants.expired = n,
            _ => {}
        }
    }
    Ok(Json(GatewayStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        ca_fingerprint: state.ca.fingerprint().to_string(),
        ca_not_after: state.ca.not_after(),
        grants,
        peers: stats::peer_health(&state.store).await?,
    }))
}
