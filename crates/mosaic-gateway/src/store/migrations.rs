//! The schema, as an append-only list of migrations. `PRAGMA user_version` records how
//! many have run; each runs in its own transaction together with that bump.

use rusqlite::Connection;

/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: grants, their enrollment tokens, the certificates issued for them, the peers this
    // gateway enrolled with, and the audit log.
    r#"
    CREATE TABLE grants (
        id                    TEXT PRIMARY KEY,
        user_id               TEXT NOT NULL,
        peer_id               TEXT NOT NULL,
        scope                 TEXT NOT NULL,
        status                TEXT NOT NULL
                              CHECK (status IN ('pending', 'active', 'revoked', 'expired')),
        created_at            INTEGER NOT NULL,
        activated_at          INTEGER,
        revoked_at            INTEGER,
        revoked_reason        TEXT,
        expires_at            INTEGER,
        peer_cert_fingerprint TEXT,
        -- No grant is active without the certificate it was activated with.
        CHECK (status <> 'active'
               OR (activated_at IS NOT NULL AND peer_cert_fingerprint IS NOT NULL)),
        CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
    ) STRICT;
    CREATE INDEX grants_by_created ON grants (created_at, id);
    CREATE INDEX grants_by_peer ON grants (peer_id, created_at, id);
    CREATE INDEX grants_by_status ON grants (status, created_at, id);
    CREATE INDEX grants_expiring ON grants (expires_at)
        WHERE expires_at IS NOT NULL AND status IN ('pending', 'active');

    -- Only the SHA-256 of a token is kept; the handle is a separate random name that
    -- may be shown and logged.
    CREATE TABLE enrollment_tokens (
        handle           TEXT PRIMARY KEY,
        grant_id         TEXT NOT NULL REFERENCES grants (id),
        token_hash       BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
        issued_at        INTEGER NOT NULL,
        expires_at       INTEGER NOT NULL,
        redeemed_at      INTEGER,
        cert_fingerprint TEXT,
        CHECK ((redeemed_at IS NULL) = (cert_fingerprint IS NULL))
    ) STRICT;
    CREATE INDEX tokens_by_grant ON enrollment_tokens (grant_id, issued_at, handle);

    CREATE TABLE issued_certificates (
        serial       TEXT PRIMARY KEY,
        grant_id     TEXT NOT NULL REFERENCES grants (id),
        token_handle TEXT NOT NULL UNIQUE REFERENCES enrollment_tokens (handle),
        fingerprint  TEXT NOT NULL UNIQUE,
        der          BLOB NOT NULL,
        not_before   INTEGER NOT NULL,
        not_after    INTEGER NOT NULL,
        issued_at    INTEGER NOT NULL
    ) STRICT;

    -- Peers as the enrolling side stores them. grant_id and subject_user_id name a grant
    -- on the remote gateway, so they are not foreign keys.
    CREATE TABLE peers (
        id                  TEXT PRIMARY KEY,
        name                TEXT NOT NULL,
        remote_url          TEXT NOT NULL,
        csr_pem             TEXT NOT NULL,
        public_key          BLOB NOT NULL,
        sealed_private_key  TEXT NOT NULL,
        status              TEXT NOT NULL CHECK (status IN ('pending', 'active')),
        grant_id            TEXT,
        subject_user_id     TEXT,
        certificate_pem     TEXT,
        ca_certificate_pem  TEXT,
        cert_fingerprint    TEXT,
        cert_serial         TEXT,
        cert_not_after      INTEGER,
        created_at          INTEGER NOT NULL,
        activated_at        INTEGER,
        CHECK (status <> 'active'
               OR (certificate_pem IS NOT NULL AND ca_certificate_pem IS NOT NULL
                   AND cert_fingerprint IS NOT NULL AND activated_at IS NOT NULL))
    ) STRICT;
    CREATE INDEX peers_by_created ON peers (created_at, id);

    -- Append-only. grant_id is not a foreign key: a refused enrollment with an unknown
    -- token has no grant, and audit rows outlive whatever they describe.
    CREATE TABLE audit_log (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       INTEGER NOT NULL,
        action   TEXT NOT NULL,
        actor    TEXT NOT NULL,
        grant_id TEXT,
        peer_id  TEXT,
        detail   TEXT
    ) STRICT;
    CREATE INDEX audit_by_at ON audit_log (at, id);
    CREATE INDEX audit_by_grant ON audit_log (grant_id, at, id);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: the data peers read (rows of the five resources, each owned by one user), and
    // the lookup of a grant by the certificate a peer presents.
    r#"
    CREATE TABLE resource_rows (
        resource   TEXT NOT NULL
                   CHECK (resource IN ('tasks', 'notes', 'credentials', 'teams', 'users')),
        user_id    TEXT NOT NULL,
        id         TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        -- The resource's own fields, as a JSON object.
        fields     TEXT NOT NULL,
        PRIMARY KEY (resource, user_id, id)
    ) STRICT;
    CREATE INDEX resource_rows_by_owner ON resource_rows (resource, user_id, created_at, id);
    CREATE INDEX grants_by_cert ON grants (peer_cert_fingerprint)
        WHERE peer_cert_fingerprint IS NOT NULL;
    "#,
    // 3: what a pending peer keeps, sealed, so that `peer finish` can ask the granting
    // gateway again for the certificate of a spent token.
    r#"
    ALTER TABLE peers ADD COLUMN sealed_enrollment TEXT;
    "#,
    // 4: certificate renewal. On the granting side, a grant records its current
    // certificate's expiry and the previous certificate (accepted until the current one is
    // first presented); an issued certificate comes from a token or renews another one.
    // On the enrolling side, a peer records when its certificate is due for renewal.
    r#"
    ALTER TABLE grants ADD COLUMN peer_cert_not_after INTEGER;
    ALTER TABLE grants ADD COLUMN previous_cert_fingerprint TEXT;
    UPDATE grants SET peer_cert_not_after =
        (SELECT c.not_after FROM issued_certificates c
         WHERE c.fingerprint = grants.peer_cert_fingerprint)
    WHERE peer_cert_fingerprint IS NOT NULL;
    CREATE INDEX grants_by_previous_cert ON grants (previous_cert_fingerprint)
        WHERE previous_cert_fingerprint IS NOT NULL;

    CREATE TABLE issued_certificates_v3 (
        serial       TEXT PRIMARY KEY,
        grant_id     TEXT NOT NULL REFERENCES grants (id),
        -- The token an enrollment spent, or the fingerprint of the certificate that
        -- authenticated a renewal: exactly one of the two.
        token_handle TEXT UNIQUE REFERENCES enrollment_tokens (handle),
        renewed_from TEXT,
        fingerprint  TEXT NOT NULL UNIQUE,
        der          BLOB NOT NULL,
        not_before   INTEGER NOT NULL,
        not_after    INTEGER NOT NULL,
        issued_at    INTEGER NOT NULL,
        CHECK ((token_handle IS NULL) <> (renewed_from IS NULL))
    ) STRICT;
    INSERT INTO issued_certificates_v3
        (serial, grant_id, token_handle, renewed_from, fingerprint, der, not_before,
         not_after, issued_at)
    SELECT serial, grant_id, token_handle, NULL, fingerprint, der, not_before, not_after,
           issued_at
    FROM issued_certificates;
    DROP TABLE issued_certificates;
    ALTER TABLE issued_certificates_v3 RENAME TO issued_certificates;

    ALTER TABLE peers ADD COLUMN renew_after INTEGER;
    -- Peers enrolled before: due at two thirds of what was left at activation.
    UPDATE peers SET renew_after = cert_not_after - (cert_not_after - activated_at) / 3
    WHERE status = 'active';
    "#,
    // 5: an index for every list filter, so that no page walks rows it does not return:
    // grants by peer and status together, audit entries by action, and the peers whose
    // renewal is due (read every second by the renewal scheduler).
    r#"
    CREATE INDEX grants_by_peer_status ON grants (peer_id, status, created_at, id);
    CREATE INDEX audit_by_action ON audit_log (action, at, id);
    CREATE INDEX peers_renewal_due ON peers (renew_after, id)
        WHERE status = 'active' AND renew_after IS NOT NULL;
    "#,
    // 6: the claim to renew a peer, shared by every process on the database: who holds it
    // (a random token per renewal) and until when (a lease that outlasts the renewal's
    // call to the granting gateway), and the automatic renewals failed in a row since the
    // last success (the backoff, whose next try is `renew_after`).
    r#"
    ALTER TABLE peers ADD COLUMN renewal_claimed_by TEXT;
    ALTER TABLE peers ADD COLUMN renewal_claimed_until INTEGER;
    ALTER TABLE peers ADD COLUMN renewal_failures INTEGER NOT NULL DEFAULT 0;
    "#,
    // 7: the request each audit row was written by (its X-Request-Id), and the number of
    // grants in each status, kept by triggers so that a metrics scrape reads four rows
    // instead of counting every grant.
    r#"
    ALTER TABLE audit_log ADD COLUMN request_id TEXT;
    CREATE TABLE grant_status_counts (
        status TEXT PRIMARY KEY,
        n      INTEGER NOT NULL
    ) STRICT;
    INSERT INTO grant_status_counts (status, n)
    SELECT s.status, (SELECT count(*) FROM grants g WHERE g.status = s.status)
    FROM (SELECT 'pending' AS status UNION ALL SELECT 'active'
          UNION ALL SELECT 'revoked' UNION ALL SELECT 'expired') s;
    CREATE TRIGGER grants_count_insert AFTER INSERT ON grants BEGIN
        UPDATE grant_status_counts SET n = n + 1 WHERE status = NEW.status;
    END;
    CREATE TRIGGER grants_count_update AFTER UPDATE OF status ON grants
        WHEN OLD.status <> NEW.status BEGIN
        UPDATE grant_status_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE grant_status_counts SET n = n + 1 WHERE status = NEW.status;
    END;
    CREATE TRIGGER grants_count_delete AFTER DELETE ON grants BEGIN
        UPDATE grant_status_counts SET n = n - 1 WHERE status = OLD.status;
    END;
    "#,
    // 8: what the granting gateway said of an active peer's grant when it refused a read
    // (`revoked` or `expired`), so that `peer list` shows it.
    r#"
    ALTER TABLE peers ADD COLUMN grant_ended TEXT;
    "#,
    // 9: named admin credentials (only the SHA-256 of each secret), looked up by that
    // hash on every admin request; and the audit log by actor (`audit list --actor`).
    r#"
    CREATE TABLE admin_credentials (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
        created_at  INTEGER NOT NULL,
        created_by  TEXT NOT NULL,
        expires_at  INTEGER,
        revoked_at  INTEGER
    ) STRICT;
    CREATE INDEX admin_credentials_by_created ON admin_credentials (created_at, id);
    CREATE INDEX audit_by_actor ON audit_log (actor, at, id);
    "#,
];

/// Brings the schema to the newest version; refuses a database from a newer `mosaic`.
pub fn apply(conn: &mut Connection) -> Result<(), String> {
    let fail = |e: rusqlite::Error| format!("database migration failed: {e}");
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(fail)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(format!(
            "the database has schema version {current}, newer than this mosaic knows ({known}): \
             run a newer mosaic, or point --data-dir elsewhere"
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = super::immediate(conn).map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let e = apply(&mut conn).unwrap_err();
        assert!(e.contains("newer"), "{e}");
    }
}
