//! One method per endpoint of the contract: the admin API of this gateway
//! (`/api/admin/federation/...`) and the public enrollment endpoint of another gateway.
//! Each builds its URL and hands it to the transport; nothing here knows about HTTP rules.

use reqwest::Method;

use super::transport::{id_segment, parse_http_url};
use super::{Auth, Client};
use crate::api::query::{AuditListQuery, GrantListQuery, PeerListQuery};
use crate::api::types::{
    AuditEntry, CreateGrantRequest, CreatePeerRequest, CreateTokenRequest, EnrollRequest,
    EnrollResponse, EnrollmentPreview, EnrollmentToken, GatewayStatus, Grant, Health, Peer,
    PeerEnrollment, RevokeGrantRequest, StoreCertRequest,
};
use crate::error::Result;

impl Client {
    // ----- grants -----

    pub async fn create_grant(&self, req: &CreateGrantRequest) -> Result<Grant> {
        let url = self.admin_url(&["grants"])?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "grant")
            .await
    }

    /// Every grant that matches, following `next_cursor` through all pages.
    pub async fn list_all_grants(&self, query: &GrantListQuery) -> Result<Vec<Grant>> {
        self.collect_pages(&["grants"], query, "page of grants")
            .await
    }

    /// Every grant that matches, page by page as each arrives (see
    /// [`Client::each_page`](super::Client)): `each` returns false to stop.
    pub async fn each_grant_page(
        &self,
        query: &GrantListQuery,
        each: impl FnMut(Vec<Grant>) -> Result<bool>,
    ) -> Result<()> {
        self.each_page(&["grants"], query, "page of grants", each)
            .await
    }

    /// Every audit entry that matches, oldest first, following `next_cursor`.
    pub async fn list_all_audit(&self, query: &AuditListQuery) -> Result<Vec<AuditEntry>> {
        self.collect_pages(&["audit"], query, "page of audit entries")
            .await
    }

    /// `GET /status`: what `mosaic status` shows.
    pub async fn status(&self) -> Result<GatewayStatus> {
        let url = self.admin_url(&["status"])?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "gateway status")
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

    /// Every peer, following `next_cursor` through all pages.
    pub async fn list_all_peers(&self) -> Result<Vec<Peer>> {
        self.collect_pages(&["peers"], &PeerListQuery::default(), "page of peers")
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

    /// `GET /peers/{id}/enrollment`: what a pending peer keeps to ask again (`peer finish`).
    pub async fn get_peer_enrollment(&self, id: &str) -> Result<PeerEnrollment> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?, "enrollment"])?;
        self.request(
            Method::GET,
            url,
            Auth::Admin,
            None::<&()>,
            "peer enrollment",
        )
        .await
    }

    pub async fn delete_peer(&self, id: &str) -> Result<()> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?])?;
        self.call(Method::DELETE, url, Auth::Admin, None::<&()>)
            .await
            .map(|_| ())
    }

    /// `POST /peers/{id}/renew`: the local gateway renews the peer's certificate.
    pub async fn renew_peer(&self, id: &str) -> Result<Peer> {
        let url = self.admin_url(&["peers", id_segment("peer", id)?, "renew"])?;
        self.request(Method::POST, url, Auth::Admin, None::<&()>, "peer")
            .await
    }

    /// `GET /api/health` of this gateway: its version and its CA's fingerprint.
    pub async fn health(&self) -> Result<Health> {
        let mut url = (*self.base_url()).clone();
        url.path_segments_mut()
            .map_err(|_| crate::error::Error::invalid_input("--gateway: not a base URL"))?
            .pop_if_empty()
            .extend(
                crate::api::paths::HEALTH
                    .split('/')
                    .filter(|s| !s.is_empty()),
            );
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "health answer")
            .await
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
