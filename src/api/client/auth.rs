//! One method per endpoint of `/api/admin/credentials` and `/api/admin/whoami`: the
//! gateway's named admin credentials and the one this client is using.

use reqwest::Method;
use url::Url;

use super::transport::id_segment;
use super::{Auth, Client};
use crate::api::credentials::{CreateCredentialRequest, CreatedCredential, Credential, WhoAmI};
use crate::api::paths;
use crate::api::types::Page;
use crate::error::{Error, Result};

impl Client {
    /// `base` + the given path segments (below `/api/admin`, not `/federation`).
    fn root_url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base_url().clone();
        url.path_segments_mut()
            .map_err(|_| Error::invalid_input("--gateway: not a base URL"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `GET /api/admin/whoami`: the name, role and expiry of the credential in use.
    pub async fn whoami(&self) -> Result<WhoAmI> {
        let url = self.root_url(&paths::ADMIN_WHOAMI_SEGMENTS)?;
        self.request(Method::GET, url, Auth::Admin, None::<&()>, "credential")
            .await
    }

    /// `POST /api/admin/credentials`: the new credential and its secret (shown once).
    pub async fn create_credential(
        &self,
        req: &CreateCredentialRequest,
    ) -> Result<CreatedCredential> {
        let url = self.root_url(&paths::CREDENTIALS_SEGMENTS)?;
        self.request(Method::POST, url, Auth::Admin, Some(req), "credential")
            .await
    }

    /// `GET /api/admin/credentials`: every named credential, without secrets.
    pub async fn list_credentials(&self) -> Result<Vec<Credential>> {
        let url = self.root_url(&paths::CREDENTIALS_SEGMENTS)?;
        let page: Page<Credential> = self
            .request(Method::GET, url, Auth::Admin, None::<&()>, "credentials")
            .await?;
        Ok(page.items)
    }

    /// `DELETE /api/admin/credentials/{id}`: the credential, revoked.
    pub async fn revoke_credential(&self, id: &str) -> Result<Credential> {
        let mut segments = paths::CREDENTIALS_SEGMENTS.to_vec();
        segments.push(id_segment("credential", id)?);
        let url = self.root_url(&segments)?;
        self.request(Method::DELETE, url, Auth::Admin, None::<&()>, "credential")
            .await
    }
}
