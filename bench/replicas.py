#!/usr/bin/env python3
"""Enrollments per second and latency at concurrency 64, side by side: the gateway on
SQLite (one process), on PostgreSQL with one replica, and on PostgreSQL with three
replicas behind a client-side round robin.

Started by bench/replicas.sh (a release build and a throwaway PostgreSQL cluster).
Each configuration gets fresh state: N grants with one token each, then N enrollments,
64 at a time, each spending its own token with the same P-256 CSR (signing dominates a
CSR's cost either way). Latency is per enrollment, from request to answer on one
keep-alive connection per client thread. Not a test: nothing here passes or fails.
"""

import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BIN = os.path.abspath(sys.argv[1])
PG_SERVER = sys.argv[2]
N = int(os.environ.get("BENCH_ENROLLMENTS", "1280"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
SECRET = "bench-secret-" + "x" * 40
ADMIN = "bench-admin-" + "y" * 32
SCOPE = {"resources": ["tasks"], "max_rows_per_query": 100}


def csr_pem():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bench",
             "-keyout", f"{d}/key.pem", "-out", f"{d}/csr.pem"],
            check=True, capture_output=True)
        return open(f"{d}/csr.pem").read()


def start_gateway(args, work):
    env = dict(os.environ, BETTER_AUTH_SECRET=SECRET, MOSAIC_ADMIN_TOKEN=ADMIN)
    stamp = time.monotonic_ns()
    out = open(os.path.join(work, f"out-{stamp}"), "w+")
    err = open(os.path.join(work, f"err-{stamp}"), "w+")
    proc = subprocess.Popen(
        [BIN, "gateway", "serve", "--listen", "127.0.0.1:0", "--rate-limit", "off"] + args,
        env=env, stdout=out, stderr=err)
    for _ in range(600):
        out.seek(0)
        for line in out.read().splitlines():
            if "listening on " in line:
                return proc, line.split("listening on ", 1)[1].strip()
        if proc.poll() is not None:
            err.seek(0)
            raise SystemExit(f"the gateway exited: {' '.join(args)}: {err.read()}")
        time.sleep(0.05)
    raise SystemExit("the gateway did not start")


def request(conn, method, path, body, admin=False):
    headers = {"Content-Type": "application/json"}
    if admin:
        headers["Authorization"] = f"Bearer {ADMIN}"
    conn.request(method, path, body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def prepare(url):
    """N grants with one token each; their enrollment paths."""
    conn = connect(url)
    paths = []
    for i in range(N):
        status, grant = request(conn, "POST", "/api/admin/federation/grants",
                                {"user_id": f"u-{i}", "peer_id": f"p-{i}", "scope": SCOPE},
                                admin=True)
        assert status == 201, grant
        gid = json.loads(grant)["id"]
        status, token = request(conn, "POST", f"/api/admin/federation/grants/{gid}/tokens",
                                {}, admin=True)
        assert status == 201, token
        paths.append(urllib.parse.urlsplit(json.loads(token)["enrollment_url"]).path)
    return paths


def load(urls, paths, csr):
    """Enrolls every path, CONCURRENCY at a time, spread over urls; (seconds, latencies)."""
    work = queue.Queue()
    for i, p in enumerate(paths):
        work.put((urls[i % len(urls)], p))
    latencies, failures = [], []
    lock = threading.Lock()
    start_gate = threading.Barrier(CONCURRENCY + 1)

    def client(k):
        conns = {u: connect(u) for u in urls}
        start_gate.wait()
        while True:
            try:
                url, path = work.get_nowait()
            except queue.Empty:
                return
            t0 = time.perf_counter()
            status, body = request(conns[url], "POST", path, {"csr_pem": csr})
            dt = time.perf_counter() - t0
            with lock:
                (latencies if status == 200 else failures).append(dt if status == 200 else body)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CONCURRENCY)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} enrollments failed, e.g. {failures[0]!r}")
    return elapsed, latencies


def fresh_database():
    name = f"bench_{time.monotonic_ns()}"
    subprocess.run([os.environ.get("PSQL", "psql"), PG_SERVER, "-qc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)
    u = urllib.parse.urlsplit(PG_SERVER)
    return urllib.parse.urlunsplit(u._replace(path=f"/{name}"))


def measure(name, replicas_args, work):
    procs = []
    try:
        urls = []
        for args in replicas_args:
            proc, url = start_gateway(args, work)
            procs.append(proc)
            urls.append(url)
        paths = prepare(urls[0])
        elapsed, lat = load(urls, paths, CSR)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        return (name, len(lat) / elapsed, p(0.50), p(0.99), statistics.mean(lat) * 1000)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


CSR = csr_pem()
rows = []
with tempfile.TemporaryDirectory() as work:
    rows.append(measure("SQLite, 1 process", [["--data-dir", os.path.join(work, "data")]], work))
    db = fresh_database()
    rows.append(measure("PostgreSQL, 1 replica", [["--database-url", db]], work))
    db = fresh_database()
    rows.append(measure("PostgreSQL, 3 replicas", [["--database-url", db]] * 3, work))

print(f"enrollments at concurrency {CONCURRENCY}, {N} per configuration "
      f"({os.cpu_count()} CPUs, client on the same machine)")
print(f"{'store':<24} {'enroll/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
for name, rate, p50, p99, mean in rows:
    print(f"{name:<24} {rate:>9.0f} {p50:>8.1f} {p99:>8.1f} {mean:>8.1f}")
