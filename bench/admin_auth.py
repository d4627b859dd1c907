#!/usr/bin/env python3
"""Requests per second of one admin read, `GET /api/admin/federation/grants?limit=1`,
made with the bootstrap admin token and with a named credential (looked up in the
store by its hash on every request), in one run against one gateway (SQLite, rate
limits off): BENCH_ROUNDS rounds of BENCH_SECONDS each, the two credentials alternating,
BENCH_CLIENTS client processes on keep-alive connections. Reports the median of each
and the cost of the lookup per request.

Started by bench/admin_auth.sh after a release build. Not a test: it reports.
"""

import http.client
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/mosaic")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
PATH = "/api/admin/federation/grants?limit=1"
TOKEN = "bench-admin-token-" + "x" * 24
SECRET = "bench-secret-" + "x" * 40


def start(workdir):
    log = open(os.path.join(workdir, "gateway.log"), "w+")
    env = dict(os.environ, BETTER_AUTH_SECRET=SECRET, MOSAIC_ADMIN_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [BIN, "gateway", "serve", "--listen", "127.0.0.1:0", "--rate-limit", "off",
         "--data-dir", os.path.join(workdir, "gw")],
        env=env, stdout=log, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on (http://\S+)", log.read())
        if m:
            return proc, m.group(1)
        time.sleep(0.05)
    raise SystemExit("the gateway did not start")


def api(url, method, path, body=None):
    req = urllib.request.Request(
        url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def client(host, port, bearer, until, counts):
    conn = http.client.HTTPConnection(host, port)
    headers = {"authorization": "Bearer " + bearer}
    n = 0
    while time.time() < until:
        conn.request("GET", PATH, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"answered {resp.status}")
        n += 1
    counts.put(n)


def rate(url, bearer):
    host, port = url[len("http://"):].split(":")
    counts = multiprocessing.Queue()
    until = time.time() + SECONDS
    procs = [multiprocessing.Process(target=client, args=(host, int(port), bearer, until, counts))
             for _ in range(CLIENTS)]
    for p in procs:
        p.start()
    total = sum(counts.get() for _ in procs)
    for p in procs:
        p.join()
    return total / SECONDS


def main():
    with tempfile.TemporaryDirectory() as workdir:
        proc, url = start(workdir)
        try:
            api(url, "POST", "/api/admin/federation/grants", {
                "user_id": "u-1", "peer_id": "gw-b",
                "scope": {"resources": ["tasks"], "excluded_resources": [],
                          "max_rows_per_query": 10}})
            named = api(url, "POST", "/api/admin/credentials",
                        {"name": "bench", "role": "viewer"})["secret"]
            rate(url, TOKEN)  # warm-up
            runs = {"bootstrap token": [], "named credential": []}
            for _ in range(ROUNDS):
                runs["bootstrap token"].append(rate(url, TOKEN))
                runs["named credential"].append(rate(url, named))
        finally:
            proc.terminate()
            proc.wait()
    print(f"GET {PATH}: {CLIENTS} clients, {ROUNDS} rounds of {SECONDS:.0f} s, medians")
    medians = {}
    for name, rates in runs.items():
        medians[name] = statistics.median(rates)
        print(f"  {name:<17} {medians[name]:>8.0f} requests/s  "
              f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")
    a, b = medians["bootstrap token"], medians["named credential"]
    print(f"  the named credential's lookup: {100 * (a - b) / a:+.1f} % of the rate, "
          f"{1e6 / b - 1e6 / a:+.1f} us a request")


if __name__ == "__main__":
    main()
