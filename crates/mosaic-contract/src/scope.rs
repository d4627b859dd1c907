//! A grant's scope: which resources a peer may read, which it may never, and how many
//! rows per query. The rules here are the contract's, checked by the CLI before it sends
//! a scope and by the gateway before it stores one.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A resource kind a grant can expose to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Tasks,
    Notes,
    Credentials,
    Teams,
    Users,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Tasks,
        Resource::Notes,
        Resource::Credentials,
        Resource::Teams,
        Resource::Users,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Tasks => "tasks",
            Resource::Notes => "notes",
            Resource::Credentials => "credentials",
            Resource::Teams => "teams",
            Resource::Users => "users",
        }
    }
}

/// What a grant lets a peer read. The file given to `grant create --scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub excluded_resources: Vec<Resource>,
    #[serde(deserialize_with = "crate::integer::u32")]
    pub max_rows_per_query: u32,
}

/// Bounds of `max_rows_per_query`.
pub const MAX_ROWS_RANGE: std::ops::RangeInclusive<u32> = 1..=10_000;

/// A scope that parsed but breaks one of the contract's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ScopeViolation {
    /// The offending field, e.g. `resources` or `excluded_resources[1]`.
    pub field: String,
    /// The rule it breaks, in words.
    pub rule: String,
}

impl Scope {
    /// Checks the rules the JSON shape alone cannot express. Both the CLI (before any
    /// request) and the gateway (never trusting the client) call this.
    pub fn validate(&self) -> Result<(), ScopeViolation> {
        let violation = |field: String, rule: &str| ScopeViolation {
            field,
            rule: rule.to_string(),
        };
        if self.resources.is_empty() {
            return Err(violation(
                "resources".into(),
                "must name at least one resource",
            ));
        }
        for (i, r) in self.resources.iter().enumerate() {
            if self.resources[..i].contains(r) {
                return Err(violation(
                    format!("resources[{i}]"),
                    &format!("duplicate resource \"{}\"", r.as_str()),
                ));
            }
        }
        for (i, r) in self.excluded_resources.iter().enumerate() {
            if self.excluded_resources[..i].contains(r) {
                return Err(violation(
                    format!("excluded_resources[{i}]"),
                    &format!("duplicate resource \"{}\"", r.as_str()),
                ));
            }
            if self.resources.contains(r) {
                return Err(violation(
                    format!("excluded_resources[{i}]"),
                    &format!(
                        "\"{}\" is also listed in resources; a resource cannot be both granted and excluded",
                        r.as_str()
                    ),
                ));
            }
        }
        if !MAX_ROWS_RANGE.contains(&self.max_rows_per_query) {
            return Err(violation(
                "max_rows_per_query".into(),
                &format!(
                    "must be an integer from {} to {}, got {}",
                    MAX_ROWS_RANGE.start(),
                    MAX_ROWS_RANGE.end(),
                    self.max_rows_per_query
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> Result<Scope, String> {
        let s: Scope = serde_json::from_str(json).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn seed_scope_is_valid() {
        let s = scope(r#"{"resources":["tasks","notes"],"excluded_resources":["credentials"],"max_rows_per_query":100}"#).unwrap();
        assert_eq!(s.resources, vec![Resource::Tasks, Resource::Notes]);
    }

    #[test]
    fn overlap_names_the_field() {
        let e = scope(r#"{"resources":["tasks"],"excluded_resources":["notes","tasks"],"max_rows_per_query":1}"#)
            .unwrap_err();
        assert!(e.starts_with("excluded_resources[1]:"), "{e}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = scope(r#"{"resources":["tasks"],"max_rows_per_query":1,"extra":1}"#).unwrap_err();
        assert!(e.contains("extra"), "{e}");
    }
}
