//! One method per endpoint of the contract: the admin API of this gateway
//! (`/api/admin/federation/...`) and the public enrollment endpoint of another gateway.
//! Each builds its URL and hands it to the transport; nothing here knows about HTTP rules.

use reqwest::Method;

use super::transport::{id_segment, parse_http_url};
use super::{Auth, Client};
use crate::api::types::{
    AuditAction, AuditEntry, CreateGrantRequest, CreatePeerRequest, CreateTokenRequest,
    EnrollRequest, EnrollResponse, EnrollmentPreview, EnrollmentToken, Grant, GrantStatus,
    PAGE_LIMIT_MAX, Page, Peer, RevokeGrantRequest, StoreCertRequest,
};
use crate::error::{Error, Result};

/// Filters of `audit list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub grant_id: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<time::OffsetDateTime>,
}

/// Filters of `grant list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub peer_id: Option<String>,
    pub status: Option<GrantStatus>,
}

impl Client {
    // ----- grants -----

    pub async fn create_grant(&self, req: &CreateGrantRequest) -> Result<Grant> {
        let url = self.admin_url(&["grants"])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "grant")
            .await
    }

    /// One page of grants.
    pub async fn list_grants(
        &self,
        filter: &GrantFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Grant>> {
        let mut url = self.admin_url(&["grants"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(peer) = &filter.peer_id {
                q.append_pair("peer_id", peer);
            }
            if let Some(status) = filter.status {
                q.append_pair("status", status.as_str());
            }
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "page of grants")
            .await
    }

    /// One page of the audit log, oldest first.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>> {
        let mut url = self.admin_url(&["audit"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(grant) = &filter.grant_id {
                q.append_pair("grant_id", grant);
            }
            if let Some(action) = filter.action {
                q.append_pair("action", action.as_str());
            }
            if let Some(since) = filter.since {
                let since = since
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| Error::invalid_input(format!("--since: {e}")))?;
                q.append_pair("since", &since);
            }
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(
            Method::GET,
            url,
            Auth::Admin,
            None::<&()>,
            "page of audit entries",
        )
        .await
    }

    /// Every audit entry that matches, following `next_cursor` through all pages.
    pub async fn list_all_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.collect_pages(|cursor| async move { self.list_audit(filter, cursor.as_deref()).await })
            .await
    }

    /// Every grant that matches, following `next_cursor` through all pages.
    pub async fn list_all_grants(&self, filter: &GrantFilter) -> Result<Vec<Grant>> {
        self.collect_pages(
            |cursor| async move { self.list_grants(filter, cursor.as_deref()).await },
        )
        .await
    }

    pub async fn get_grant(&self, id: &str) -> Result<Grant> {
        let url = self.admin_url(&["grants", id_segment("grant", id)?])?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "grant")
            .await
    }

    pub async fn revoke_grant(&self, id: &str, req: &RevokeGrantRequest) -> Result<Grant> {
        let url = self.admin_url(&["grants", id_segment("grant", id)?, "revoke"])?;
        self.request(Method::PATCH, url, Auth::Admin, Some(req), "grant")
            .await
    }

    pub async fn create_token(
        &self,
        grant_id: &str,
        req: &CreateTokenRequest,
    ) -> Result<EnrollmentToken> {
        let url = self.admin_url(&["grants", id_segment("grant", grant_id)?, "tokens"])?;
        self.request(
            Method::POST,
            url,
            Auth::Admin,
            Some(req),
            "enrollment token",
        )
        .await
    }

    // ----- peers -----

    /// One page of peers.
    pub async fn list_peers(&self, cursor: Option<&str>) -> Result<Page<Peer>> {
        let mut url = self.admin_url(&["peers"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &PAGE_LIMIT_MAX.to_string());
            if let Some(cursor) = cursor {
                q.append_pair("cursor", cursor);
            }
        }
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "page of peers")
            .await
    }

    /// Every peer, following `next_cursor` through all pages.
    pub async fn list_all_peers(&self) -> Result<Vec<Peer>> {
        self.collect_pages(|cursor| async move { self.list_peers(cursor.as_deref()).await })
            .await
    }

    /// `POST /peers/keypair`: stores a pending peer with its CSR and sealed key.
    pub async fn create_peer(&self, req: &CreatePeerRequest) -> Result<Peer> {
        let url = self.admin_url(&["peers", "keypair"])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "peer")
            .await
    }

    /// `PATCH /peers/{id}/cert`: stores the issued certificate and activates the peer.
    pub async fn store_peer_cert(&self, id: &str, req: &StoreCertRequest) -> Result<Peer> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?, "cert"])?;
        self.request(Method::PATCH, url, Auth::Admin, Some(req), "peer")
            .await
    }

    pub async fn delete_peer(&self, id: &str) -> Result<()> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?])?;
        self.call(Method::DELETE, url, Auth::Admin, None::<&()>)
            .await
            .map(|_| ())
    }

    // ----- the public enrollment endpoint of another gateway -----

    /// `GET <enrollment-url>`: what the token would grant, without spending it.
    pub async fn preview_enrollment(&self, enrollment_url: &str) -> Result<EnrollmentPreview> {
        let url = parse_http_url("enrollment URL", enrollment_url)?;
        self.request(
            Method::GET,
            url,
            Auth::Public,
            None::<&()>,
            "enrollment preview",
        )
        .await
    }

    /// `POST <enrollment-url>`: spends the token and returns the signed certificate.
    pub async fn enroll(
        &self,
        enrollment_url: &str,
        req: &EnrollRequest,
    ) -> Result<EnrollResponse> {
        let url = parse_http_url("enrollment URL", enrollment_url)?;
        self.request(
            Method::POST,
            url,
            Auth::Public,
            Some(req),
            "enrollment response",
        )
        .await
    }
}
