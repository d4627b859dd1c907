//! One method per endpoint of the data plane on this gateway: the admin import of rows,
//! and the reads it makes of a peer on the operator's behalf (`peer test`, `peer query`).

use reqwest::Method;

use super::transport::{id_segment, with_query};
use super::{Auth, Client};
use crate::api::federation::{ImportRequest, ImportResult, RowsQuery, WhoAmI};
use crate::api::types::Page;
use crate::error::{Error, Result};

/// One row as a peer answers it: `id`, `created_at`, `updated_at` and the resource's fields.
pub type Row = serde_json::Map<String, serde_json::Value>;

impl Client {
    /// `POST /data/{resource}`: rows of one user, idempotent by row `id`.
    pub async fn import_rows(&self, resource: &str, req: &ImportRequest) -> Result<ImportResult> {
        let url = self.admin_url(&["data", id_segment("resource", resource)?])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "import result")
            .await
    }

    /// `GET /peers/{id}/whoami`: the local gateway asks the peer who it is to it.
    pub async fn peer_whoami(&self, peer_id: &str) -> Result<WhoAmI> {
        let url = self.admin_url(&["peers", id_segment("peer", peer_id)?, "whoami"])?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "whoami answer")
            .await
    }

    /// `GET /peers/{id}/resources/{resource}`: one page of the peer's rows.
    pub async fn peer_rows(
        &self,
        peer_id: &str,
        resource: &str,
        query: &RowsQuery,
    ) -> Result<Page<Row>> {
        let url = self.admin_url(&[
            "peers",
            id_segment("peer", peer_id)?,
            "resources",
            id_segment("resource", resource)?,
        ])?;
        let url = with_query(url, query)?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "page of rows")
            .await
    }

    /// Every row, following `next_cursor` page by page (pages of `limit` rows, or the
    /// grant's maximum). A cursor handed out twice is a broken peer, not a loop.
    pub async fn peer_rows_all(
        &self,
        peer_id: &str,
        resource: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut query = RowsQuery {
            limit,
            cursor: None,
        };
        loop {
            let page = self.peer_rows(peer_id, resource, &query).await?;
            rows.extend(page.items);
            match page.next_cursor {
                None => return Ok(rows),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(Error::unreachable(
                        "the peer handed out the same cursor twice; stopping instead of looping forever",
                    ));
                }
                next => query.cursor = next,
            }
        }
    }
}
