//! The typed HTTP client for `/api/admin/federation`: one method per endpoint.
