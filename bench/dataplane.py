#!/usr/bin/env python3
"""Benchmarks the data plane: a federated read of 100 rows by `mosaic federation peer
query` (the CLI -> gateway B -> mutual TLS -> gateway A) next to curl making the same
mutual-TLS request straight to A with a certificate and key file, and federated reads
per second through B's admin API at concurrency 1 and 16.

Started by bench/dataplane.sh after a release build. Both gateways run with --tls.
Medians over BENCH_RUNS whole processes (start-up included). Not a test: it reports.
"""

import http.client
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

RUNS = int(os.environ.get("BENCH_RUNS", "21"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROWS = 100
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/mosaic")
SECRET = "bench-secret-" + "x" * 40
USER = "bench-user"
SCOPE = {"resources": ["tasks", "notes"], "excluded_resources": ["credentials"],
         "max_rows_per_query": ROWS}


class Gateway:
    def __init__(self, name, workdir):
        self.dir = os.path.join(workdir, name)
        self.token = "bench-admin-token-" + name
        env = dict(os.environ, BETTER_AUTH_SECRET=SECRET, MOSAIC_ADMIN_TOKEN=self.token)
        self.log = open(os.path.join(workdir, name + ".log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "gateway", "serve", "--tls", "--listen", "127.0.0.1:0",
             "--data-dir", self.dir],
            env=env, stdout=self.log, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(r"listening on (https://\S+)", self.log.read())
            if m:
                self.url = m.group(1)
                self.ca = os.path.join(self.dir, "ca.pem")
                self.tls = ssl.create_default_context(cafile=self.ca)
                return
            time.sleep(0.05)
        raise SystemExit(f"gateway {name} did not start")

    def api(self, method, path, body=None, auth=True):
        headers = {"content-type": "application/json"}
        if auth:
            headers["authorization"] = "Bearer " + self.token
        req = urllib.request.Request(
            path if path.startswith("https://") else self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(req, context=self.tls) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run_timed(argv, env=None):
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}")
    return elapsed


def grant_token(a):
    grant = a.api("POST", "/api/admin/federation/grants",
                  {"user_id": USER, "peer_id": "gw-b", "scope": SCOPE})
    return a.api("POST", f"/api/admin/federation/grants/{grant['id']}/tokens", {})


def reads_per_second(b, path, concurrency):
    """Federated reads through B, each thread on its own keep-alive connection."""
    host, port = b.url[len("https://"):].rsplit(":", 1)
    headers = {"authorization": "Bearer " + b.token}
    counts = [0] * concurrency
    stop = time.perf_counter() + SECONDS

    def worker(k):
        conn = http.client.HTTPSConnection(host, int(port), context=b.tls)
        while time.perf_counter() < stop:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"read failed: {resp.status}")
            counts[k] += 1
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def main():
    for tool in ("curl", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed for the baseline")
    work = tempfile.mkdtemp(prefix="mosaic-bench-dataplane-")
    a, b = Gateway("a", work), Gateway("b", work)
    try:
        report(a, b, work)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(a, b, work):
    rows = [{"id": f"task-{i:03}", "title": f"task number {i}", "status": "open",
             "due_at": None} for i in range(ROWS)]
    a.api("POST", "/api/admin/federation/data/tasks", {"user_id": USER, "items": rows})

    # B enrolls with one grant (CA pinned), as `peer add` does.
    token = grant_token(a)
    env_b = dict(os.environ, MOSAIC_GATEWAY_URL=b.url, MOSAIC_ADMIN_TOKEN=b.token,
                 MOSAIC_CACERT=b.ca, BETTER_AUTH_SECRET=SECRET,
                 MOSAIC_STATE_DIR=os.path.join(work, "state"))
    out = subprocess.run([BIN, "federation", "peer", "add", token["enrollment_url"],
                          "--ca-fingerprint", token["ca_fingerprint"], "-o", "json"],
                         env=env_b, capture_output=True, check=True)
    peer = json.loads(out.stdout)["id"]

    # curl gets its own certificate for a grant of the same user and scope, with a key
    # made by openssl: the files an operator would hand to curl.
    token = grant_token(a)
    key, csr = os.path.join(work, "peer.key"), os.path.join(work, "peer.csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bench", "-keyout", key,
                    "-out", csr], check=True, capture_output=True)
    with open(csr) as f:
        issued = a.api("POST", token["enrollment_url"], {"csr_pem": f.read()}, auth=False)
    cert = os.path.join(work, "peer.pem")
    with open(cert, "w") as f:
        f.write(issued["certificate_pem"])

    query = [BIN, "federation", "peer", "query", peer, "tasks", "-o", "json"]
    got = json.loads(subprocess.run(query, env=env_b, capture_output=True, check=True).stdout)
    assert len(got) == ROWS, f"peer query returned {len(got)} rows"
    curl = ["curl", "-sS", "-f", "-o", "/dev/null", "--cert", cert, "--key", key,
            "--cacert", a.ca, a.url + "/api/federation/v1/resources/tasks"]
    ours, base = [], []
    for _ in range(RUNS):
        ours.append(run_timed(query, env_b))
        base.append(run_timed(curl))
    m, c = statistics.median(ours) * 1000, statistics.median(base) * 1000

    path = f"/api/admin/federation/peers/{peer}/resources/tasks"
    rps1 = reads_per_second(b, path, 1)
    rps16 = reads_per_second(b, path, 16)

    print(f"data plane, {ROWS} rows, both gateways --tls, medians of {RUNS} runs:")
    print(f"  mosaic federation peer query (CLI -> B -> mTLS -> A)  {m:7.1f} ms")
    print(f"  curl --cert --key --cacert straight to A              {c:7.1f} ms")
    print(f"  ratio                                                 {m / c:7.2f}")
    print(f"federated reads through B's admin API ({ROWS} rows each, {SECONDS:.0f} s each):")
    print(f"  concurrency  1: {rps1:7.1f} reads/s")
    print(f"  concurrency 16: {rps16:7.1f} reads/s")


if __name__ == "__main__":
    main()
