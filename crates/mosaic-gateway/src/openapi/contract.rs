//! What the gateway enforces, written into the generated document so that a client
//! generator or a fuzzer sees the same rules: an operationId each, the constraints of
//! every field and query parameter (from the gateway's own constants), every status an
//! operation can answer, examples, and links that walk a grant's life
//! (create → show, token, revoke; token → preview, enroll).

use serde_json::{Map, Value, json};

use crate::BODY_LIMIT;
use crate::routes::{MAX_HEADERS, MAX_TARGET};
use mosaic_contract::credentials::{MAX_EXPIRES_IN, MAX_NAME_CHARS};
use mosaic_contract::federation::{FieldKind, IMPORT_MAX_ITEMS, resource_fields};
use mosaic_contract::scope::MAX_ROWS_RANGE;
use mosaic_contract::text::MAX_TEXT_CHARS as MAX_TEXT;
use mosaic_contract::types::MAX_REASON_CHARS as MAX_REASON;
use mosaic_contract::types::Resource;

/// Characters refused in every text field: C0 and C1 controls, DEL, the bidirectional
/// formatting characters and U+2028/U+2029 (`api::text::is_unsafe_char`).
const UNSAFE: &str =
    r"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029";
/// The same, less the tab and the line feed that a row's text fields keep (a note's
/// body): `routes::data::check_row`.
const UNSAFE_IN_ROW_TEXT: &str = r"\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029";
/// The same, less the tab and the line breaks that PEM text and multi-line text keep.
const UNSAFE_IN_PEM: &str = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029";

/// An ID in a path (grants, peers): `extract::is_path_id`.
pub const PATH_ID_PATTERN: &str = r"^(?!\.\.?$)[A-Za-z0-9._~-]{1,128}$";

/// A CSR that the gateway accepts (P-256, self-signed): the examples' CSR.
const EXAMPLE_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHSMHkCAQAwFzEVMBMGA1UEAwwMZXhhbXBsZS1wZWVyMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAE5b65lBap67X1t5rSUhkt8Ck43GB7iy7F/UmJyvtbaoZcdkdS
uhKBDwcY2WH+JizxSscxrlMc5oIsetRkl6eYAaAAMAoGCCqGSM49BAMCA0kAMEYC
IQCY9Y5ERnlafEwHooHda8VsgveUQB8ko2odV99jrb/TLwIhANahoU3wYepFQ0FD
DLlQqpf3bTfKM8lyC1b/hPA6It74
-----END CERTIFICATE REQUEST-----
";

/// The operationId of every operation, by method and path.
const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("get", "/api/health", "health"),
    ("get", "/api/ready", "readiness"),
    ("get", "/api/admin/federation/status", "gatewayStatus"),
    ("get", "/api/openapi.json", "openapiDocument"),
    ("post", "/api/admin/federation/grants", "createGrant"),
    ("get", "/api/admin/federation/grants", "listGrants"),
    ("get", "/api/admin/federation/grants/{id}", "showGrant"),
    (
        "patch",
        "/api/admin/federation/grants/{id}/revoke",
        "revokeGrant",
    ),
    (
        "post",
        "/api/admin/federation/grants/{id}/tokens",
        "createToken",
    ),
    (
        "get",
        "/api/federation/enrollment/{token}",
        "previewEnrollment",
    ),
    ("post", "/api/federation/enrollment/{token}", "enroll"),
    ("post", "/api/admin/federation/peers/keypair", "createPeer"),
    ("get", "/api/admin/federation/peers", "listPeers"),
    (
        "patch",
        "/api/admin/federation/peers/{id}/cert",
        "storePeerCertificate",
    ),
    ("delete", "/api/admin/federation/peers/{id}", "removePeer"),
    (
        "post",
        "/api/admin/federation/peers/{id}/renew",
        "renewPeer",
    ),
    (
        "get",
        "/api/admin/federation/peers/{id}/enrollment",
        "showPeerEnrollment",
    ),
    (
        "get",
        "/api/admin/federation/peers/{id}/whoami",
        "peerWhoami",
    ),
    (
        "get",
        "/api/admin/federation/peers/{id}/resources/{resource}",
        "peerResources",
    ),
    ("post", "/api/admin/federation/data/tasks", "importTasks"),
    ("post", "/api/admin/federation/data/notes", "importNotes"),
    (
        "post",
        "/api/admin/federation/data/credentials",
        "importCredentials",
    ),
    ("post", "/api/admin/federation/data/teams", "importTeams"),
    ("post", "/api/admin/federation/data/users", "importUsers"),
    ("get", "/api/federation/v1/whoami", "federationWhoami"),
    (
        "get",
        "/api/federation/v1/resources/{resource}",
        "federationResources",
    ),
    ("post", "/api/federation/v1/renew", "federationRenew"),
    ("get", "/api/admin/federation/audit", "listAudit"),
    ("post", "/api/admin/credentials", "createCredential"),
    ("get", "/api/admin/credentials", "listCredentials"),
    ("delete", "/api/admin/credentials/{id}", "revokeCredential"),
    ("get", "/api/admin/whoami", "adminWhoami"),
];

pub fn apply(doc: &mut Value) {
    schemas(doc);
    imports(doc);
    operations(doc);
    links(doc);
}

/// No control, bidi or edge whitespace; 1 to `max` characters (`routes::check_text`).
fn text(max: usize) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": max,
        "pattern": format!(r"^[^\s{UNSAFE}](?:[^{UNSAFE}]*[^\s{UNSAFE}])?$"),
    })
}

/// Printable text (`routes::check_printable`): no control or bidi characters.
fn printable() -> Value {
    json!({"type": "string", "pattern": format!("^[^{UNSAFE}]*$")})
}

fn pem() -> Value {
    json!({"type": "string", "pattern": format!("^[^{UNSAFE_IN_PEM}]*$")})
}

fn sealed() -> Value {
    json!({"type": "string", "pattern": "^mosaic-sealed-v1:[A-Za-z0-9_-]+$"})
}

fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// Merges `extra` into the schema of `property` of component `schema`.
fn set(doc: &mut Value, schema: &str, property: &str, extra: Value) {
    let target = &mut doc["components"]["schemas"][schema]["properties"][property];
    assert!(target.is_object(), "no property {schema}.{property}");
    merge(target, extra);
}

fn merge(target: &mut Value, extra: Value) {
    let (Value::Object(target), Value::Object(extra)) = (target, extra) else {
        unreachable!("schemas are objects")
    };
    for (k, v) in extra {
        target.insert(k, v);
    }
}

fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!([schema["type"].clone(), "null"]);
    schema
}

fn schemas(doc: &mut Value) {
    let rows = MAX_ROWS_RANGE;
    set(
        doc,
        "Scope",
        "resources",
        json!({"minItems": 1, "uniqueItems": true}),
    );
    set(
        doc,
        "Scope",
        "excluded_resources",
        json!({"uniqueItems": true}),
    );
    set(
        doc,
        "Scope",
        "max_rows_per_query",
        json!({"minimum": rows.start(), "maximum": rows.end()}),
    );
    doc["components"]["schemas"]["Scope"]["example"] = json!({"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100});

    set(doc, "CreateGrantRequest", "user_id", text(MAX_TEXT));
    set(doc, "CreateGrantRequest", "peer_id", text(MAX_TEXT));
    doc["components"]["schemas"]["CreateGrantRequest"]["example"] = json!({
        "user_id": "u-42", "peer_id": "gw-b",
        "scope": {"resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100},
        "expires_at": "2030-01-01T00:00:00Z"
    });
    let mut reason = printable();
    reason["maxLength"] = json!(MAX_REASON);
    set(doc, "RevokeGrantRequest", "reason", nullable(reason));
    doc["components"]["schemas"]["RevokeGrantRequest"]["example"] =
        json!({"reason": "contract ended"});
    set(
        doc,
        "CreateTokenRequest",
        "ttl_seconds",
        json!({"minimum": 1, "maximum": 900}),
    );
    doc["components"]["schemas"]["CreateTokenRequest"]["example"] = json!({"ttl_seconds": 600});

    let mut peer_id =
        json!({"type": "string", "pattern": r"^(?!\.\.?$)(?!keypair$)[A-Za-z0-9._~-]{1,128}$"});
    peer_id["description"] =
        json!("Appears in paths: unreserved URL characters, not `.`, `..` or `keypair`");
    set(doc, "CreatePeerRequest", "id", peer_id);
    set(doc, "CreatePeerRequest", "name", text(MAX_TEXT));
    let mut url = printable();
    url["format"] = json!("uri");
    url["pattern"] = json!(format!("^https?://[^{UNSAFE}@]*$"));
    set(doc, "CreatePeerRequest", "remote_url", url);
    set(doc, "CreatePeerRequest", "csr_pem", pem());
    set(doc, "CreatePeerRequest", "sealed_private_key", sealed());
    set(
        doc,
        "CreatePeerRequest",
        "sealed_enrollment",
        nullable(sealed()),
    );

    for field in ["certificate_pem", "ca_certificate_pem"] {
        set(doc, "StoreCertRequest", field, pem());
    }
    set(doc, "StoreCertRequest", "grant_id", text(MAX_TEXT));
    set(doc, "StoreCertRequest", "subject_user_id", text(MAX_TEXT));
    set(doc, "EnrollRequest", "csr_pem", pem());
    doc["components"]["schemas"]["EnrollRequest"]["example"] = json!({"csr_pem": EXAMPLE_CSR});

    // `mosaic_contract::credentials::check_name`.
    let name = json!({
        "type": "string",
        "pattern": format!("^[A-Za-z0-9][A-Za-z0-9._-]{{0,{}}}$", MAX_NAME_CHARS - 1),
    });
    set(doc, "CreateCredentialRequest", "name", name);
    set(
        doc,
        "CreateCredentialRequest",
        "expires_in",
        json!({"minimum": 1, "maximum": MAX_EXPIRES_IN}),
    );
    doc["components"]["schemas"]["CreateCredentialRequest"]["example"] =
        json!({"name": "ci-grants", "role": "operator", "expires_in": 7_776_000});
}

/// The path the import route is declared at; the document has one operation per
/// resource instead, each with that resource's row schema.
const IMPORT_PATH: &str = "/api/admin/federation/data/{resource}";

/// An example row of each resource, as the gateway accepts it.
fn example_row(resource: Resource) -> Value {
    match resource {
        Resource::Tasks => {
            json!({"id": "t1", "title": "Ship it", "status": "open", "due_at": "2026-12-31T00:00:00Z"})
        }
        Resource::Notes => {
            json!({"id": "n1", "title": "Kick-off", "body": "Agenda:\n- scope\n- dates"})
        }
        Resource::Credentials => {
            json!({"id": "c1", "name": "staging database", "kind": "password"})
        }
        Resource::Teams => json!({"id": "team-1", "name": "Platform"}),
        Resource::Users => json!({"id": "u1", "email": "ada@example.com", "name": "Ada"}),
    }
}

/// `Tasks` for `tasks`: the resource's part of its schemas' names.
fn schema_stem(resource: Resource) -> String {
    let name = resource.as_str();
    name[..1].to_ascii_uppercase() + &name[1..]
}

/// The import route as one operation per resource (`/data/tasks`, `/data/notes`, …),
/// each with a body schema that holds exactly that resource's rows
/// (`additionalProperties: false`, its text fields required, its times optional), so that
/// a body valid for one resource is valid for no other and what validates is accepted.
/// `ImportRequest`, the route's shared type, leaves the document.
fn imports(doc: &mut Value) {
    let shared = doc["paths"]
        .as_object_mut()
        .expect("paths")
        .remove(IMPORT_PATH)
        .expect("the import path");
    let mut operations = Vec::new();
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("schemas");
    let generic = schemas.remove("ImportRequest").expect("ImportRequest");
    for resource in Resource::ALL {
        let stem = schema_stem(resource);
        let (body, row) = (format!("Import{stem}Request"), format!("{stem}Row"));
        let mut properties = Map::new();
        properties.insert("id".into(), text(MAX_TEXT));
        properties.insert("created_at".into(), nullable(date_time()));
        properties.insert("updated_at".into(), nullable(date_time()));
        let mut required = vec![json!("id")];
        for (field, kind) in resource_fields(resource) {
            let schema = match kind {
                FieldKind::Text => {
                    json!({"type": "string", "pattern": format!("^[^{UNSAFE_IN_ROW_TEXT}]*$")})
                }
                FieldKind::OptionalTime => nullable(date_time()),
            };
            if matches!(kind, FieldKind::Text) {
                required.push(json!(field));
            }
            properties.insert((*field).into(), schema);
        }
        schemas.insert(
            row.clone(),
            json!({
                "type": "object",
                "description": format!(
                    "A row of {}: `id`, its own fields, and optionally `created_at` and \
                     `updated_at` (RFC 3339; set by the gateway when absent)",
                    resource.as_str()
                ),
                "additionalProperties": false,
                "required": required,
                "properties": properties,
            }),
        );
        schemas.insert(
            body.clone(),
            json!({
                "type": "object",
                "description": format!("Body of `POST /api/admin/federation/data/{}`: rows of one user", resource.as_str()),
                "additionalProperties": false,
                "required": generic["required"].clone(),
                "properties": {
                    "user_id": text(MAX_TEXT),
                    "items": {
                        "type": "array",
                        "maxItems": IMPORT_MAX_ITEMS,
                        "items": {"$ref": format!("#/components/schemas/{row}")},
                    },
                },
                "example": {"user_id": "u-42", "items": [example_row(resource)]},
            }),
        );
        let mut op = shared.clone();
        let post = &mut op["post"];
        post["requestBody"]["content"]["application/json"]["schema"] =
            json!({"$ref": format!("#/components/schemas/{body}")});
        post["responses"]["400"]["description"] = json!("A bad row; the message names the field");
        let params = post["parameters"].as_array_mut().expect("parameters");
        params.retain(|p| p["name"] != "resource");
        if params.is_empty() {
            post.as_object_mut()
                .expect("operation")
                .remove("parameters");
        }
        operations.push((
            format!("/api/admin/federation/data/{}", resource.as_str()),
            op,
        ));
    }
    let paths = doc["paths"].as_object_mut().expect("paths");
    paths.extend(operations);
}

/// Every status an operation can answer that its annotations leave out: the ones any
/// request can get (a bad query or path, the size and time limits), the admin token's,
/// the body's.
fn operations(doc: &mut Value) {
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
            let id = OPERATION_IDS
                .iter()
                .find(|(m, p, _)| m == method && p == path)
                .unwrap_or_else(|| panic!("no operationId for {method} {path}"))
                .2;
            op["operationId"] = json!(id);
            let admin = path.starts_with("/api/admin/");
            let has_body = op.get("requestBody").is_some();
            let mut add = |status: &str, description: String| {
                let responses = op["responses"].as_object_mut().expect("responses");
                responses.entry(status).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                    })
                });
            };
            add(
                "400",
                "Invalid request: an unknown query parameter, a bad path ID, or a bad field (named)".into(),
            );
            add("405", "The path exists, not with this method".into());
            add(
                "408",
                "The request took longer than `--request-timeout`".into(),
            );
            add(
                "414",
                format!("Path and query longer than {MAX_TARGET} bytes"),
            );
            add(
                "431",
                format!("More than {MAX_HEADERS} header fields, or more than 32 KiB of them"),
            );
            if has_body {
                add("413", format!("Body larger than {} KiB", BODY_LIMIT / 1024));
            }
            if admin {
                add("401", "Missing or wrong admin token".into());
                add(
                    "403",
                    "The credential's role may not do this (`forbidden_role`; the message names the role needed)".into(),
                );
                add(
                    "429",
                    "Too many failed admin authentications from this address (`--rate-limit`); `Retry-After` gives the seconds to wait".into(),
                );
            }
            add_retry_after(op);
            sort_responses(op);
            parameters(op);
            if matches!(id, "revokeGrant" | "createToken") {
                op["requestBody"]["required"] = json!(false);
            }
        }
    }
}

/// The `Retry-After` header of every 429.
fn add_retry_after(op: &mut Value) {
    if let Some(r) = op["responses"].get_mut("429") {
        r["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1}
        }});
    }
}

fn sort_responses(op: &mut Value) {
    let responses = op["responses"].as_object_mut().expect("responses");
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    *responses = sorted.into_iter().collect::<Map<_, _>>();
}

/// Constraints of the path and query parameters.
fn parameters(op: &mut Value) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        let schema = match (p["in"].as_str(), p["name"].as_str()) {
            (Some("path"), Some("id")) => json!({"type": "string", "pattern": PATH_ID_PATTERN}),
            (Some("path"), Some("resource")) => {
                json!({"$ref": "#/components/schemas/Resource"})
            }
            (Some("query"), Some("limit")) => {
                json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000})
            }
            (Some("query"), Some("status")) => json!({"$ref": "#/components/schemas/GrantStatus"}),
            (Some("query"), Some("action")) => json!({"$ref": "#/components/schemas/AuditAction"}),
            (Some("query"), Some("since")) => date_time(),
            (Some("query"), Some("peer_id" | "grant_id" | "actor")) => printable(),
            (Some("query"), Some("cursor")) => {
                json!({"type": "string", "pattern": "^[A-Za-z0-9_-]+$"})
            }
            _ => continue,
        };
        p["schema"] = schema;
    }
}

/// Links from a created grant to what can be done with it, and from an issued token to
/// the enrollment it is for, so that a stateful tester can walk a grant's life.
fn links(doc: &mut Value) {
    let grant_links = json!({
        "ShowGrant": {"operationId": "showGrant", "parameters": {"id": "$response.body#/id"},
                      "description": "The grant just created"},
        "IssueToken": {"operationId": "createToken", "parameters": {"id": "$response.body#/id"},
                       "description": "An enrollment token for the grant"},
        "RevokeGrant": {"operationId": "revokeGrant", "parameters": {"id": "$response.body#/id"},
                        "description": "Revoke the grant"},
    });
    doc["paths"]["/api/admin/federation/grants"]["post"]["responses"]["201"]["links"] = grant_links;
    doc["paths"]["/api/admin/federation/grants/{id}/tokens"]["post"]["responses"]["201"]["links"] = json!({
        "PreviewEnrollment": {"operationId": "previewEnrollment",
                              "parameters": {"token": "$response.body#/token"},
                              "description": "What the token grants, without spending it"},
        "Enroll": {"operationId": "enroll", "parameters": {"token": "$response.body#/token"},
                   "description": "Spend the token for a client certificate"},
        "ShowGrant": {"operationId": "showGrant", "parameters": {"id": "$response.body#/grant_id"},
                      "description": "The grant the token is for"},
    });
    doc["paths"]["/api/federation/enrollment/{token}"]["post"]["responses"]["200"]["links"] = json!({
        "ShowGrant": {"operationId": "showGrant", "parameters": {"id": "$response.body#/grant_id"},
                      "description": "The grant, now active"},
        "RevokeGrant": {"operationId": "revokeGrant", "parameters": {"id": "$response.body#/grant_id"},
                        "description": "Revoke the grant"},
    });
    doc["paths"]["/api/admin/credentials"]["post"]["responses"]["201"]["links"] = json!({
        "RevokeCredential": {"operationId": "revokeCredential",
                             "parameters": {"id": "$response.body#/id"},
                             "description": "Revoke the credential just created"},
    });
    doc["paths"]["/api/admin/federation/peers/keypair"]["post"]["responses"]["201"]["links"] = json!({
        "RemovePeer": {"operationId": "removePeer", "parameters": {"id": "$response.body#/id"},
                       "description": "Remove the peer just created"},
        "ShowPeerEnrollment": {"operationId": "showPeerEnrollment",
                               "parameters": {"id": "$response.body#/id"},
                               "description": "What the pending peer keeps for `peer finish`"},
    });
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::OPERATION_IDS;

    #[test]
    fn operation_ids_are_unique_and_every_operation_has_one() {
        let ids: HashSet<&str> = OPERATION_IDS.iter().map(|(_, _, id)| *id).collect();
        assert_eq!(ids.len(), OPERATION_IDS.len(), "an operationId used twice");
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::json()).unwrap();
        let mut seen = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(seen.insert(id), "{id} twice ({method} {path})");
            }
        }
        assert_eq!(seen.len(), OPERATION_IDS.len(), "an entry for no operation");
    }

    /// One import operation per resource, each with its own row schema and example; the
    /// shared path and its one-size example are gone.
    #[test]
    fn each_resource_has_its_own_import_operation_row_schema_and_example() {
        use mosaic_contract::federation::resource_fields;
        use mosaic_contract::types::Resource;
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::json()).unwrap();
        assert!(doc["paths"].get(super::IMPORT_PATH).is_none());
        assert!(doc["components"]["schemas"].get("ImportRequest").is_none());
        for resource in Resource::ALL {
            let path = format!("/api/admin/federation/data/{}", resource.as_str());
            let op = &doc["paths"][&path]["post"];
            assert!(op["parameters"].is_null(), "{path}: no path parameter");
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            let body = doc.pointer(body.trim_start_matches('#')).unwrap();
            let row = body["properties"]["items"]["items"]["$ref"]
                .as_str()
                .unwrap();
            let row = doc.pointer(row.trim_start_matches('#')).unwrap();
            assert_eq!(row["additionalProperties"], false, "{path}");
            let mut names: Vec<&str> = row["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            names.sort_unstable();
            let mut expected = vec!["created_at", "id", "updated_at"];
            expected.extend(resource_fields(resource).iter().map(|(f, _)| *f));
            expected.sort_unstable();
            assert_eq!(names, expected, "{path}");
            let example = &body["example"]["items"][0];
            let keys: Vec<&String> = example.as_object().unwrap().keys().collect();
            assert!(
                keys.iter().all(|k| names.contains(&k.as_str())),
                "{path}: {example}"
            );
            for required in row["required"].as_array().unwrap() {
                assert!(example.get(required.as_str().unwrap()).is_some(), "{path}");
            }
        }
    }

    #[test]
    fn the_path_id_pattern_is_the_gateways_rule() {
        // The document's regex (ECMA 262) without its lookahead, plus the two exclusions.
        for id in ["a", "gw-b", "0b1c.d~e_f", &"x".repeat(128), "..a", "..."] {
            assert!(crate::extract::is_path_id(id), "{id}");
        }
        for id in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(!crate::extract::is_path_id(id), "{id}");
        }
    }
}
