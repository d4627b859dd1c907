//! Every hot query, read through `EXPLAIN QUERY PLAN`: each must use the index it was
//! written for, and none may walk a table or sort in a temporary B-tree, so that its
//! cost follows the rows it returns and not the rows the database holds.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::audit::{self, AuditFilter};
use super::grants::{self, GrantFilter};
use super::page::PageRequest;
use super::{certificates, migrations, peers, rows, tokens};
use mosaic_contract::types::{AuditAction, GrantStatus, Resource};

fn database() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    migrations::apply(&mut conn).unwrap();
    conn
}

/// The plan's lines, one per node.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    let nulls = vec![Value::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// A query that must search `index`. `walk`: a first page may walk `index` in order
/// from its start, since its `LIMIT` stops the walk after one page.
#[track_caller]
fn check(conn: &Connection, name: &str, sql: &str, index: &str, walk: bool) {
    let lines = plan(conn, sql);
    let text = lines.join("\n");
    let uses = lines.iter().any(|l| {
        l.contains(&format!("USING INDEX {index} "))
            || l.contains(&format!("USING COVERING INDEX {index}"))
            || l.ends_with(&format!("USING INDEX {index}"))
    });
    assert!(uses, "{name}: does not use {index}:\n{text}\n{sql}");
    for line in &lines {
        assert!(
            !line.contains("TEMP B-TREE"),
            "{name}: sorts in a temporary B-tree:\n{text}"
        );
        if line.starts_with("SCAN") && line != "SCAN CONSTANT ROW" {
            assert!(
                walk && line.contains(&format!("INDEX {index}")),
                "{name}: scans instead of searching:\n{text}"
            );
        }
    }
    if !walk {
        assert!(
            lines.iter().any(|l| l.starts_with("SEARCH")),
            "{name}: no search:\n{text}"
        );
    }
}

fn page(cursor: bool) -> PageRequest {
    PageRequest {
        limit: 100,
        after: cursor.then(|| (1_700_000_000_000, "1".to_string())),
    }
}

#[test]
fn expiry_visits_only_due_grants() {
    let conn = database();
    check(
        &conn,
        "expiry",
        grants::EXPIRE_DUE,
        "grants_expiring",
        false,
    );
    check(
        &conn,
        "expiry probe",
        grants::ANY_DUE,
        "grants_expiring",
        false,
    );
}

#[test]
fn enrollment_and_federation_lookups_use_their_keys() {
    let conn = database();
    let cases = [
        (
            "token by hash",
            tokens::FIND_BY_HASH,
            "sqlite_autoindex_enrollment_tokens_2",
        ),
        (
            "token spend",
            tokens::REDEEM,
            "sqlite_autoindex_enrollment_tokens_1",
        ),
        ("token history", tokens::HISTORY, "tokens_by_grant"),
        ("grant by id", grants::BY_ID, "sqlite_autoindex_grants_1"),
        (
            "grant activation",
            grants::ACTIVATE,
            "sqlite_autoindex_grants_1",
        ),
        ("grant by certificate", grants::BY_CERT, "grants_by_cert"),
        (
            "grant by previous certificate",
            grants::BY_PREVIOUS_CERT,
            "grants_by_previous_cert",
        ),
        (
            "certificate of a token",
            certificates::FOR_TOKEN,
            "sqlite_autoindex_issued_certificates_2",
        ),
        (
            "certificate by fingerprint",
            certificates::DER_BY_FINGERPRINT,
            "sqlite_autoindex_issued_certificates_3",
        ),
        ("peer by id", peers::BY_ID, "sqlite_autoindex_peers_1"),
        (
            "peer credentials",
            peers::CREDENTIALS,
            "sqlite_autoindex_peers_1",
        ),
        (
            "peers due for renewal",
            peers::DUE_FOR_RENEWAL,
            "peers_renewal_due",
        ),
        (
            "renewal claim",
            peers::CLAIM_RENEWAL,
            "sqlite_autoindex_peers_1",
        ),
        (
            "renewal claim of a due peer",
            peers::CLAIM_DUE_RENEWAL,
            "sqlite_autoindex_peers_1",
        ),
    ];
    for (name, sql, index) in cases {
        check(&conn, name, sql, index, false);
    }
}

#[test]
fn every_list_page_searches_its_index() {
    let conn = database();
    for cursor in [false, true] {
        let p = page(cursor);
        let grant_filters = [
            (None, None, "grants_by_created"),
            (Some("gw-b"), None, "grants_by_peer"),
            (None, Some(GrantStatus::Active), "grants_by_status"),
            (
                Some("gw-b"),
                Some(GrantStatus::Pending),
                "grants_by_peer_status",
            ),
        ];
        for (peer, status, index) in grant_filters {
            let filter = GrantFilter {
                peer_id: peer.map(str::to_string),
                status,
            };
            let (sql, _) = grants::list_query(&filter, &p).statement(&p);
            let walk = !cursor && peer.is_none() && status.is_none();
            check(&conn, &format!("grant page {filter:?}"), &sql, index, walk);
        }
        let audit_filters = [
            (None, None, None, "audit_by_at"),
            (Some("g"), None, None, "audit_by_grant"),
            (
                None,
                Some(AuditAction::EnrollmentRefused),
                None,
                "audit_by_action",
            ),
            (None, None, Some(0), "audit_by_at"),
            (Some("g"), None, Some(0), "audit_by_grant"),
            (
                None,
                Some(AuditAction::FederationRead),
                Some(0),
                "audit_by_action",
            ),
        ];
        for (grant, action, since, index) in audit_filters {
            let filter = AuditFilter {
                grant_id: grant.map(str::to_string),
                action,
                actor: None,
                since,
            };
            let (sql, _) = audit::list_query(&filter, &p).unwrap().statement(&p);
            let walk = !cursor && grant.is_none() && action.is_none() && since.is_none();
            check(&conn, &format!("audit page {filter:?}"), &sql, index, walk);
        }
        let by_actor = AuditFilter {
            actor: Some("alice".into()),
            ..AuditFilter::default()
        };
        let (sql, _) = audit::list_query(&by_actor, &p).unwrap().statement(&p);
        check(&conn, "audit page by actor", &sql, "audit_by_actor", false);
        let (sql, _) = peers::list_query(&p).statement(&p);
        check(&conn, "peer page", &sql, "peers_by_created", !cursor);
        let (sql, _) = rows::page_query(Resource::Tasks, "u", &p).statement(&p);
        check(&conn, "rows page", &sql, "resource_rows_by_owner", false);
    }
}

#[test]
fn the_checker_catches_a_scan() {
    let conn = database();
    let lines = plan(&conn, "SELECT * FROM grants WHERE user_id = ?1");
    assert!(
        lines.iter().any(|l| l.starts_with("SCAN grants")),
        "{lines:?}"
    );
    // The expiry sweep as it was first written: SQLite prefers `grants_by_status` and
    // visits every pending and active grant.
    let unpinned = grants::EXPIRE_DUE.replace(" INDEXED BY grants_expiring", "");
    let lines = plan(&conn, &unpinned);
    assert!(
        lines.iter().any(|l| l.contains("grants_by_status")),
        "{lines:?}"
    );
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(
            &conn,
            "unindexed",
            "SELECT * FROM grants WHERE user_id = ?1",
            "grants_by_created",
            false,
        )
    }));
    assert!(caught.is_err());
}
