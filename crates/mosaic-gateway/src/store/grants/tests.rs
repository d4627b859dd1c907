//! The grant store against a real database: each state change happens from its states
//! only, a certificate finds its grant (current or previous), and expiry is swept at
//! `expires_at` exactly, with its audit record.

use super::*;
use crate::store::page::PageRequest;
use crate::testkit::{TestGateway, grant, ms};
use rusqlite::Connection;

fn store() -> (TestGateway, Connection) {
    let gw = TestGateway::new();
    let conn = gw.conn();
    (gw, conn)
}

fn status(conn: &Connection, id: &str) -> GrantStatus {
    get(conn, id).expect("get").expect("grant").status
}

#[test]
fn a_grant_reads_back_as_it_was_stored() {
    let (_gw, conn) = store();
    let mut g = grant("g1", GrantStatus::Active, Some("sha256:11"));
    g.expires_at = Some(g.created_at + time::Duration::days(3));
    g.peer_cert_not_after = Some(g.created_at + time::Duration::hours(2));
    insert(&conn, &g).expect("insert");
    assert_eq!(get(&conn, "g1").expect("get"), Some(g));
    assert_eq!(get(&conn, "g2").expect("get"), None);
}

#[test]
fn a_certificate_finds_its_grant_as_current_then_previous_until_retired() {
    let (_gw, conn) = store();
    let g = grant("g1", GrantStatus::Active, Some("sha256:old"));
    insert(&conn, &g).expect("insert");
    insert(
        &conn,
        &grant("g2", GrantStatus::Active, Some("sha256:other")),
    )
    .expect("g2");
    let (found, role) = by_cert_fingerprint(&conn, "sha256:old")
        .expect("q")
        .expect("g1");
    assert_eq!((found.id.as_str(), role), ("g1", CertRole::Current));
    assert!(
        by_cert_fingerprint(&conn, "sha256:none")
            .expect("q")
            .is_none()
    );

    let not_after = ms(g.created_at) + 7_200_000;
    assert!(renew_cert(&conn, "g1", "sha256:new", not_after, "sha256:old").expect("renew"));
    let renewed = get(&conn, "g1").expect("get").expect("g1");
    assert_eq!(renewed.peer_cert_fingerprint.as_deref(), Some("sha256:new"));
    assert_eq!(renewed.peer_cert_not_after, Some(from_ms(not_after)));
    let (found, role) = by_cert_fingerprint(&conn, "sha256:new")
        .expect("q")
        .expect("g1");
    assert_eq!((found.id.as_str(), role), ("g1", CertRole::Current));
    let (found, role) = by_cert_fingerprint(&conn, "sha256:old")
        .expect("q")
        .expect("g1");
    assert_eq!((found.id.as_str(), role), ("g1", CertRole::Previous));

    retire_previous_cert(&conn, "g2").expect("retire another grant's");
    assert!(
        by_cert_fingerprint(&conn, "sha256:old")
            .expect("q")
            .is_some()
    );
    retire_previous_cert(&conn, "g1").expect("retire");
    assert!(
        by_cert_fingerprint(&conn, "sha256:old")
            .expect("q")
            .is_none()
    );
    assert!(
        by_cert_fingerprint(&conn, "sha256:new")
            .expect("q")
            .is_some()
    );
}

#[test]
fn only_an_active_grant_renews_its_certificate() {
    let (_gw, conn) = store();
    insert(&conn, &grant("p", GrantStatus::Pending, None)).expect("p");
    insert(&conn, &grant("r", GrantStatus::Revoked, Some("sha256:r"))).expect("r");
    assert!(!renew_cert(&conn, "p", "sha256:new", 1, "sha256:old").expect("pending"));
    assert!(!renew_cert(&conn, "r", "sha256:new", 1, "sha256:r").expect("revoked"));
    assert!(!renew_cert(&conn, "none", "sha256:new", 1, "sha256:x").expect("unknown"));
    assert_eq!(
        get(&conn, "r")
            .expect("get")
            .expect("r")
            .peer_cert_fingerprint
            .as_deref(),
        Some("sha256:r")
    );
    assert!(
        by_cert_fingerprint(&conn, "sha256:new")
            .expect("q")
            .is_none()
    );
}

#[test]
fn a_pending_grant_activates_once_with_its_certificate() {
    let (_gw, conn) = store();
    insert(&conn, &grant("g1", GrantStatus::Pending, None)).expect("insert");
    assert!(activate(&conn, "g1", 1_000, "sha256:aa", 9_000).expect("activate"));
    let g = get(&conn, "g1").expect("get").expect("g1");
    assert_eq!(g.status, GrantStatus::Active);
    assert_eq!(g.activated_at, Some(from_ms(1_000)));
    assert_eq!(g.peer_cert_fingerprint.as_deref(), Some("sha256:aa"));
    assert_eq!(g.peer_cert_not_after, Some(from_ms(9_000)));
    assert!(!activate(&conn, "g1", 2_000, "sha256:bb", 9_000).expect("again"));
    assert_eq!(
        get(&conn, "g1")
            .expect("get")
            .expect("g1")
            .peer_cert_fingerprint
            .as_deref(),
        Some("sha256:aa")
    );
    assert!(!activate(&conn, "none", 2_000, "sha256:bb", 9_000).expect("unknown"));
}

#[test]
fn pending_and_active_grants_revoke_once() {
    let (_gw, conn) = store();
    insert(&conn, &grant("p", GrantStatus::Pending, None)).expect("p");
    insert(&conn, &grant("a", GrantStatus::Active, Some("sha256:a"))).expect("a");
    insert(&conn, &grant("e", GrantStatus::Expired, None)).expect("e");
    assert!(revoke(&conn, "p", 5_000, Some("left")).expect("pending"));
    assert!(revoke(&conn, "a", 5_000, None).expect("active"));
    assert!(!revoke(&conn, "a", 6_000, None).expect("again"));
    assert!(!revoke(&conn, "e", 6_000, None).expect("expired"));
    let p = get(&conn, "p").expect("get").expect("p");
    assert_eq!(
        (p.status, p.revoked_at),
        (GrantStatus::Revoked, Some(from_ms(5_000)))
    );
    assert_eq!(p.revoked_reason.as_deref(), Some("left"));
    assert_eq!(status(&conn, "e"), GrantStatus::Expired);
}

#[test]
fn expiry_is_swept_at_expires_at_exactly_with_one_audit_record_each() {
    let (gw, conn) = store();
    let now = 1_800_000_000_000;
    let mut due = grant("due", GrantStatus::Active, Some("sha256:d"));
    due.expires_at = Some(from_ms(now));
    let mut later = grant("later", GrantStatus::Pending, None);
    later.expires_at = Some(from_ms(now + 1));
    let mut revoked = grant("revoked", GrantStatus::Revoked, None);
    revoked.expires_at = Some(from_ms(now - 1));
    for g in [
        &due,
        &later,
        &revoked,
        &grant("never", GrantStatus::Pending, None),
    ] {
        insert(&conn, g).expect("insert");
    }
    assert_eq!(expire_due(&conn, now).expect("sweep"), 1);
    assert_eq!(status(&conn, "due"), GrantStatus::Expired);
    assert_eq!(status(&conn, "later"), GrantStatus::Pending);
    assert_eq!(status(&conn, "revoked"), GrantStatus::Revoked);
    assert_eq!(status(&conn, "never"), GrantStatus::Pending);
    let expired = |gw: &TestGateway| {
        gw.audit()
            .into_iter()
            .filter(|(action, _, _)| action == "grant.expired")
            .collect::<Vec<_>>()
    };
    assert_eq!(
        expired(&gw),
        [(
            "grant.expired".to_string(),
            Some("due".to_string()),
            Some("expires_at passed".to_string())
        )]
    );
    assert_eq!(expire_due(&conn, now + 1).expect("sweep"), 1);
    assert_eq!(expire_due(&conn, now + 1).expect("sweep"), 0);
    assert_eq!(status(&conn, "later"), GrantStatus::Expired);
    assert_eq!(expired(&gw).len(), 2, "one record per grant, once");
}

#[test]
fn the_list_filters_by_peer_and_status_in_creation_order() {
    let (_gw, conn) = store();
    let a = grant("a", GrantStatus::Pending, None);
    let mut b = grant("b", GrantStatus::Active, Some("sha256:b"));
    b.created_at = a.created_at + time::Duration::seconds(2);
    let mut c = grant("c", GrantStatus::Pending, None);
    c.created_at = a.created_at + time::Duration::seconds(1);
    c.peer_id = "peer-2".into();
    for g in [&b, &a, &c] {
        insert(&conn, g).expect("insert");
    }
    let ids = |filter: GrantFilter| {
        let page = PageRequest::parse(Some(10), None).expect("page");
        list(&conn, &filter, &page)
            .expect("list")
            .items
            .into_iter()
            .map(|g| g.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(GrantFilter::default()), ["a", "c", "b"]);
    let peer1 = GrantFilter {
        peer_id: Some("peer-1".into()),
        status: None,
    };
    assert_eq!(ids(peer1), ["a", "b"]);
    let pending = GrantFilter {
        peer_id: None,
        status: Some(GrantStatus::Pending),
    };
    assert_eq!(ids(pending), ["a", "c"]);
}

#[test]
fn a_grant_is_due_from_its_expires_at_on_while_pending_or_active() {
    let (_gw, conn) = store();
    let now = 1_800_000_000_000;
    assert!(!any_due(&conn, now).expect("empty"));
    let mut revoked = grant("revoked", GrantStatus::Revoked, None);
    revoked.expires_at = Some(from_ms(now - 10));
    insert(&conn, &revoked).expect("revoked");
    insert(
        &conn,
        &grant("never", GrantStatus::Active, Some("sha256:n")),
    )
    .expect("never");
    assert!(!any_due(&conn, now).expect("a revoked grant is never due"));
    for (id, status) in [("p", GrantStatus::Pending), ("a", GrantStatus::Active)] {
        let mut g = grant(id, status, Some(&format!("sha256:{id}")));
        g.expires_at = Some(from_ms(now));
        insert(&conn, &g).expect("insert");
        assert!(!any_due(&conn, now - 1).expect("before"), "{id}");
        assert!(any_due(&conn, now).expect("at expires_at"), "{id}");
        expire_due(&conn, now).expect("sweep");
        assert!(!any_due(&conn, now + 1).expect("swept"), "{id}");
    }
}
