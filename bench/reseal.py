"""Times `mosaic gateway reseal` over BENCH_PEERS pending peers (a sealed key and a
sealed enrollment each) on SQLite and, given a server URL, on PostgreSQL. The store is
made by the gateway itself (schema and CA), then seeded directly: each value is sealed
here, with Python's `cryptography`, under the old secret (so the run also checks that
`mosaic` opens what an independent implementation of docs/sealing.md sealed).

    python3 bench/reseal.py MOSAIC_BINARY [POSTGRES_SERVER_URL]
"""

import base64
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OLD = b"bench-old-secret-0123456789abcdef-0123456789abcdef"
NEW = b"bench-new-secret-0123456789abcdef-0123456789abcdef"
PEER_KEY_INFO = b"mosaic/federation/peer-key/v1"
PEER_ENROLLMENT_INFO = b"mosaic/federation/peer-enrollment/v1"
PEERS = int(os.environ.get("BENCH_PEERS", "10000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
PSQL = os.environ.get("PSQL", "psql")


def seal(secret: bytes, info: bytes, aad: str, plaintext: bytes) -> str:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)
    blob = salt + nonce + AESGCM(key).encrypt(nonce, plaintext, aad.encode())
    return "mosaic-sealed-v1:" + base64.urlsafe_b64encode(blob).decode().rstrip("=")


KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)


def rows():
    now = int(time.time() * 1000)
    for i in range(PEERS):
        pid = f"bench-{i:06d}"
        yield (
            pid,
            seal(OLD, PEER_KEY_INFO, pid, KEY),
            seal(OLD, PEER_ENROLLMENT_INFO, pid, b'{"enrollment_url":"https://a.example/x"}'),
            now + i,
        )


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_")}
    e.pop("BETTER_AUTH_SECRET", None)
    e.update(extra)
    return e


def make_store(mosaic, where):
    """Starts a gateway once on `where` (so it makes the schema and its CA) and stops it."""
    gw = subprocess.Popen(
        [mosaic, "gateway", "serve", "--listen", "127.0.0.1:0", *where],
        env=env(BETTER_AUTH_SECRET=OLD.decode(), MOSAIC_ADMIN_TOKEN="bench-admin-token-0123456789"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in gw.stdout:
        if "listening on" in line:
            break
    gw.terminate()
    gw.wait(timeout=30)


def seed_sqlite(path):
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO peers (id, name, remote_url, csr_pem, public_key, sealed_private_key, "
        "sealed_enrollment, status, created_at) VALUES (?, 'A', 'https://a.example', 'csr', "
        "x'00', ?, ?, 'pending', ?)",
        rows(),
    )
    db.commit()
    db.close()


def seed_postgres(url):
    lines = ["BEGIN;"]
    for pid, key, enrollment, at in rows():
        lines.append(
            "INSERT INTO peers (id, name, remote_url, csr_pem, public_key, sealed_private_key, "
            f"sealed_enrollment, status, created_at) VALUES ('{pid}', 'A', 'https://a.example', "
            f"'csr', '\\x00', '{key}', '{enrollment}', 'pending', {at});"
        )
    lines.append("COMMIT;")
    subprocess.run([PSQL, "-q", "-v", "ON_ERROR_STOP=1", url], input="\n".join(lines),
                   text=True, check=True, stdout=subprocess.DEVNULL)


def reseal(mosaic, where):
    start = time.monotonic()
    out = subprocess.run(
        [mosaic, "gateway", "reseal", *where],
        env=env(BETTER_AUTH_SECRET=NEW.decode(), MOSAIC_PREVIOUS_SECRETS=OLD.decode()),
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"reseal failed ({out.returncode}): {out.stderr}")
    m = re.search(r"resealed ([\d,]+), already current ([\d,]+), could not open ([\d,]+)", out.stdout)
    counts = [int(g.replace(",", "")) for g in m.groups()]
    return elapsed, counts


def run(name, mosaic, fresh):
    rates, checks = [], []
    for _ in range(REPEATS):
        where, seed = fresh()
        make_store(mosaic, where)
        seed()
        elapsed, (resealed, current, unopenable) = reseal(mosaic, where)
        assert (resealed, current, unopenable) == (1 + 2 * PEERS, 0, 0), (resealed, current, unopenable)
        rates.append(resealed / elapsed)
        elapsed, (resealed, current, _) = reseal(mosaic, where)
        assert (resealed, current) == (0, 1 + 2 * PEERS)
        checks.append(current / elapsed)
    for what, xs in [("values resealed/s", rates), ("values checked/s, second run (all current)", checks)]:
        print(f"{name}: {PEERS:,} peers ({1 + 2 * PEERS:,} values): {what}: median {statistics.median(xs):,.0f} "
              f"({min(xs):,.0f}-{max(xs):,.0f}, {len(xs)} runs)")


def main():
    mosaic = sys.argv[1]
    tmp = tempfile.TemporaryDirectory()

    def sqlite_store():
        d = tempfile.mkdtemp(dir=tmp.name)
        return ["--data-dir", d], lambda: seed_sqlite(os.path.join(d, "gateway.db"))

    run("SQLite", mosaic, sqlite_store)
    if len(sys.argv) > 2:
        server = sys.argv[2]

        def pg_store():
            name = f"reseal_bench_{os.urandom(4).hex()}"
            subprocess.run([PSQL, "-q", server, "-c", f"CREATE DATABASE {name}"], check=True)
            url = urllib.parse.urlparse(server)._replace(path=f"/{name}").geturl()
            return ["--database-url", url], lambda: seed_postgres(url)

        run("PostgreSQL", mosaic, pg_store)


if __name__ == "__main__":
    main()
