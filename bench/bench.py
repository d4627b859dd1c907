#!/usr/bin/env python3
"""Benchmarks mosaic against curl and openssl on this machine; prints one table.

Started by bench/run.sh after a release build. Every figure is a median over repeated
runs of a whole process (start-up included), measured by the wall clock around
fork/exec/wait; peak memory is the child's maximum resident set size from wait4().
Not a test: nothing here passes or fails, it reports.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

RUNS = int(os.environ.get("BENCH_RUNS", "21"))
GRANTS = int(os.environ.get("BENCH_GRANTS", "10000"))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/mosaic")
SECRET = "bench-secret-" + "x" * 40
SCOPE = {"resources": ["tasks", "notes"], "excluded_resources": ["credentials"],
         "max_rows_per_query": 100}


def run_timed(argv, env=None):
    """Runs argv once; returns (seconds, peak RSS in KiB, stdout bytes)."""
    out = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    data = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}")
    return elapsed, usage.ru_maxrss, data


def peak_rss_kib(argv, env=None):
    """Peak resident set of argv, measured by GNU time: a fresh small process forks and
    execs it, so the figure is the program's own (wait4() on a child forked from this
    Python process would count the pages it inherited before exec)."""
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(out.read().split()[-1])


def median_ms(samples):
    return statistics.median(samples) * 1000


class Gateway:
    def __init__(self, name, workdir):
        self.dir = os.path.join(workdir, name)
        self.token = "bench-admin-token-" + name  # the gateway wants >= 16 characters
        env = dict(os.environ, BETTER_AUTH_SECRET=SECRET, MOSAIC_ADMIN_TOKEN=self.token)
        self.log = open(os.path.join(workdir, name + ".log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(r"listening on (http://\S+)", self.log.read())
            if m:
                self.url = m.group(1)
                return
            time.sleep(0.05)
        self.log.seek(0)
        raise SystemExit(f"gateway {name} did not start:\n{self.log.read()}")

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": "Bearer " + self.token,
                     "content-type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def create_grants(gw, n, peer="bench-peer"):
    ids = [None] * n
    def worker(start):
        for i in range(start, n, 8):
            ids[i] = gw.api("POST", "/api/admin/federation/grants",
                            {"user_id": f"user-{i}", "peer_id": peer, "scope": SCOPE})["id"]
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def main():
    for tool in ("curl", "openssl", "/usr/bin/time"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed for the baselines")
    work = tempfile.mkdtemp(prefix="mosaic-bench-")
    a, b = Gateway("a", work), Gateway("b", work)
    try:
        report(a, b, work)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(a, b, work):
    env_a = dict(os.environ, MOSAIC_GATEWAY_URL=a.url, MOSAIC_ADMIN_TOKEN=a.token)
    env_b = dict(os.environ, MOSAIC_GATEWAY_URL=b.url, MOSAIC_ADMIN_TOKEN=b.token,
                 BETTER_AUTH_SECRET=SECRET, MOSAIC_STATE_DIR=os.path.join(work, "state"))
    auth = ["-H", "authorization: Bearer " + a.token]
    curl = ["curl", "-sS", "-f", "-o", "/dev/null"] + auth
    scope_file = os.path.join(work, "scope.json")
    with open(scope_file, "w") as f:
        json.dump(SCOPE, f)
    body = json.dumps({"user_id": "u", "peer_id": "p", "scope": SCOPE})
    rows = []

    def compare(name, mosaic_argv, base_argv, target, env=env_a, per_run=None):
        ours, base = [], []
        for i in range(RUNS):
            m_argv, b_argv = (per_run(i) if per_run else (mosaic_argv, base_argv))
            ours.append(run_timed(m_argv, env)[0])
            base.append(run_timed(b_argv)[0])
        m, c = median_ms(ours), median_ms(base)
        rows.append((name, m, c, m / c, target))

    grant_ids = create_grants(a, 1 + 3 * RUNS, peer="one-request")
    show_id = grant_ids[0]
    compare("grant create", [BIN, "federation", "grant", "create", "--user", "u", "--peer", "p",
                             "--scope", scope_file, "-o", "json"],
            curl + ["-X", "POST", "-H", "content-type: application/json", "-d", body,
                    a.url + "/api/admin/federation/grants"], 1.3)
    compare("grant list (1 page)", [BIN, "federation", "grant", "list", "--peer", "one-request",
                                    "-o", "json"],
            curl + [a.url + "/api/admin/federation/grants?peer_id=one-request"], 1.3)
    compare("grant show", [BIN, "federation", "grant", "show", show_id, "-o", "json"],
            curl + [a.url + f"/api/admin/federation/grants/{show_id}"], 1.3)
    compare("grant token", None, None, 1.3, per_run=lambda i: (
        [BIN, "federation", "grant", "token", grant_ids[1 + i], "-o", "json"],
        curl + ["-X", "POST", "-H", "content-type: application/json", "-d", "{}",
                a.url + f"/api/admin/federation/grants/{grant_ids[1 + i]}/tokens"]))
    revoke_ids = grant_ids[1 + RUNS:]
    compare("grant revoke", None, None, 1.3, per_run=lambda i: (
        [BIN, "federation", "grant", "revoke", revoke_ids[2 * i], "-o", "json"],
        curl + ["-X", "PATCH", "-H", "content-type: application/json", "-d", "{}",
                a.url + f"/api/admin/federation/grants/{revoke_ids[2 * i + 1]}/revoke"]))

    # peer add: the whole enrollment (preview, key, CSR, seal, store, enroll, verify,
    # activate: 4 requests over two gateways) against openssl making a key and a CSR.
    tokens = [a.api("POST", f"/api/admin/federation/grants/{gid}/tokens", {})["enrollment_url"]
              for gid in create_grants(a, RUNS, peer="enroll")]
    openssl = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null",
               "-subj", "/CN=bench", "-out", "/dev/null"]
    compare("peer add", None, None, 3.0, env=env_b, per_run=lambda i: (
        [BIN, "federation", "peer", "add", tokens[i], "-o", "json"], openssl))

    # 10,000 grants listed whole, against a curl loop over the same pages.
    # So far: 1 + 3 runs' worth for the one-request commands, 2 per create run, 1 per enrollment.
    create_grants(a, GRANTS - (1 + 6 * RUNS), peer="bulk")
    ours, base, urls = [], [], []
    list_argv = [BIN, "federation", "grant", "list", "-o", "json"]
    for _ in range(max(5, RUNS // 3)):
        t, _, out = run_timed(list_argv, env_a)
        count = len(json.loads(out))
        ours.append(t)
        start, cursor, pages, urls = time.perf_counter(), None, 0, []
        while True:
            q = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            urls.append(a.url + "/api/admin/federation/grants" + q)
            _, _, page = run_timed(["curl", "-sS", "-f"] + auth + [urls[-1]])
            doc = json.loads(page)
            pages += 1
            cursor = doc["next_cursor"]
            if not cursor:
                break
        base.append(time.perf_counter() - start)
    rss = [peak_rss_kib(list_argv, env_a) for _ in range(3)]
    rss_curl = [peak_rss_kib(["curl", "-sS", "-f", "-o", "/dev/null"] + auth + [u]) for u in urls]
    m, c = median_ms(ours), median_ms(base)
    rows.append((f"grant list -o json ({count} grants; curl: {pages} pages)", m, c, m / c, 2.0))

    helps = [run_timed([BIN, "--help"])[0] for _ in range(RUNS)]

    print(f"mosaic benchmark: medians of {RUNS} runs (list: {len(ours)} runs), "
          f"{os.cpu_count()} cores, release build")
    print(f"{'what':58} {'mosaic ms':>10} {'baseline ms':>12} {'ratio':>6} {'target':>7}  met")
    for name, m, c, ratio, target in rows:
        print(f"{name:58} {m:10.2f} {c:12.2f} {ratio:6.2f} {'<=' + str(target) + 'x':>7}  "
              f"{'yes' if ratio <= target else 'NO'}")
    peak = max(rss) / 1024
    print(f"{'grant list peak memory (MiB, target < 30)':58} {peak:10.1f} "
          f"{max(rss_curl) / 1024:12.1f} {'':6} {'<30MiB':>7}  {'yes' if peak < 30 else 'NO'}")
    print(f"{'mosaic --help start-up':58} {median_ms(helps):10.2f}")
    print("baselines: curl for the grant commands, `openssl req -new -newkey ec` for peer add")


if __name__ == "__main__":
    main()
