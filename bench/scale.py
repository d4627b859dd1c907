#!/usr/bin/env python3
"""How the gateway and `grant list` scale with the gateway's history; prints figures.

Started by bench/run.sh after a release build of mosaic and of the load generator
(benches/loadgen.rs). Every figure is repeated (BENCH_REPEATS, at least 5) and printed as
its median with the spread (lowest-highest) of the repeats. Not a test: it reports.

1. Single requests on an empty gateway: each grant command next to curl making the same
   request, and `peer add` next to `openssl req` making a key and a CSR (whole processes,
   start-up included).
2. For 1,000, 10,000 and 100,000 grants on one gateway (seeded through the admin API by the
   load generator at concurrency 64):
   - `grant list -o json` (all pages) next to one curl process fetching the same pages
     over one kept-alive connection (their URLs are collected beforehand, untimed), with
     mosaic's peak memory;
   - at 1,000 and 100,000: enrollments/s and p50/p99 latency at concurrency 1, 8 and 64
     (the load generator prepares grants, tokens, keys and CSRs before its timed region
     and reports its own CPU), and the gateway's resident memory after the load.
3. The machine's anchors, measured in the same run: SQLite's rate of fsync'd commits
   (WAL, synchronous = FULL) in the same directory, and `openssl speed ecdsap256`.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1])
LOADGEN = os.path.abspath(sys.argv[2])
REPEATS = max(5, int(os.environ.get("BENCH_REPEATS", "5")))
RUNS = max(5, int(os.environ.get("BENCH_RUNS", "11")))
ENROLLMENTS = int(os.environ.get("BENCH_ENROLLMENTS", "400"))
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
SECRET = "bench-secret-" + "x" * 40
SCOPE = {"resources": ["tasks", "notes"], "excluded_resources": ["credentials"],
         "max_rows_per_query": 100}
GRANTS = "/api/admin/federation/grants"


def spread(samples, fmt="{:.1f}"):
    """median (lowest-highest)"""
    return (f"{fmt.format(statistics.median(samples))} "
            f"({fmt.format(min(samples))}-{fmt.format(max(samples))})")


def timed(argv, env=None):
    """Runs argv under GNU time: (seconds, peak RSS in KiB). Output is discarded."""
    with tempfile.NamedTemporaryFile("r") as t:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + argv, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=True)
        elapsed = time.perf_counter() - start
        return elapsed, int(t.read().split()[-1])


def loadgen(*args):
    out = subprocess.run([LOADGEN] + [str(a) for a in args], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


class Gateway:
    def __init__(self, name, workdir):
        self.dir = os.path.join(workdir, name)
        self.token = "bench-admin-token-" + name
        env = dict(os.environ, BETTER_AUTH_SECRET=SECRET, MOSAIC_ADMIN_TOKEN=self.token)
        self.log = open(os.path.join(workdir, name + ".log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "gateway", "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir,
             "--rate-limit", "off"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(r"listening on (http://\S+)", self.log.read())
            if m:
                self.url = m.group(1)
                return
            time.sleep(0.05)
        raise SystemExit(f"gateway {name} did not start")

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"authorization": "Bearer " + self.token,
                     "content-type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            text = resp.read()
            return json.loads(text) if text else None

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return kib / 1024

    def env(self):
        return dict(os.environ, MOSAIC_GATEWAY_URL=self.url, MOSAIC_ADMIN_TOKEN=self.token)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def single_requests(a, b, work):
    curl = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "authorization: Bearer " + a.token]
    scope_file = os.path.join(work, "scope.json")
    with open(scope_file, "w") as f:
        json.dump(SCOPE, f)
    body = json.dumps({"user_id": "u", "peer_id": "p", "scope": SCOPE})
    ids = [a.api("POST", GRANTS, {"user_id": "u", "peer_id": "one", "scope": SCOPE})["id"]
           for _ in range(1 + 4 * RUNS)]
    rows = []

    def compare(name, pairs, env):
        ours, base = [], []
        for m_argv, b_argv in pairs:
            ours.append(timed(m_argv, env)[0] * 1000)
            base.append(timed(b_argv)[0] * 1000)
        ratios = [o / c for o, c in zip(ours, base)]
        rows.append((name, ours, base, statistics.median(ours) / statistics.median(base), ratios))

    m = [BIN, "federation", "grant"]
    compare("grant create", [(m + ["create", "--user", "u", "--peer", "p", "--scope", scope_file,
                                   "-o", "json"],
                              curl + ["-X", "POST", "-H", "content-type: application/json",
                                      "-d", body, a.url + GRANTS])] * RUNS, a.env())
    compare("grant list (1 page)", [(m + ["list", "--peer", "one", "-o", "json"],
                                     curl + [a.url + GRANTS + "?peer_id=one"])] * RUNS, a.env())
    compare("grant show", [(m + ["show", ids[0], "-o", "json"],
                            curl + [a.url + GRANTS + "/" + ids[0]])] * RUNS, a.env())
    compare("grant token", [(m + ["token", ids[1 + i], "-o", "json"],
                             curl + ["-X", "POST", "-H", "content-type: application/json", "-d",
                                     "{}", a.url + f"{GRANTS}/{ids[1 + RUNS + i]}/tokens"])
                            for i in range(RUNS)], a.env())
    compare("grant revoke", [(m + ["revoke", ids[1 + 2 * RUNS + i], "-o", "json"],
                              curl + ["-X", "PATCH", "-H", "content-type: application/json",
                                      "-d", "{}",
                                      a.url + f"{GRANTS}/{ids[1 + 3 * RUNS + i]}/revoke"])
                             for i in range(RUNS)], a.env())
    urls = [a.api("POST", f"{GRANTS}/{g}/tokens", {})["enrollment_url"]
            for g in [a.api("POST", GRANTS, {"user_id": "u", "peer_id": "enroll",
                                             "scope": SCOPE})["id"] for _ in range(RUNS)]]
    openssl = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", "/dev/null", "-subj", "/CN=bench", "-out", "/dev/null"]
    env_b = dict(b.env(), BETTER_AUTH_SECRET=SECRET, MOSAIC_STATE_DIR=os.path.join(work, "state"))
    compare("peer add (vs openssl req)",
            [([BIN, "federation", "peer", "add", u, "-o", "json"], openssl) for u in urls], env_b)
    print(f"\n## Single requests (whole processes; median (lowest-highest) of {RUNS} runs, ms)")
    print(f"{'what':28} {'mosaic':>22} {'baseline':>22} {'ratio':>6}")
    for name, ours, base, ratio, _ in rows:
        print(f"{name:28} {spread(ours):>22} {spread(base):>22} {ratio:6.2f}")


def list_figures(a, count):
    """`grant list -o json` over every grant, next to one curl fetching the same pages."""
    urls, cursor = [], None
    while True:
        q = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        urls.append(a.url + GRANTS + q)
        cursor = a.api("GET", GRANTS + q)["next_cursor"]
        if not cursor:
            break
    curl = ["curl", "-sS", "-f", "-H", "authorization: Bearer " + a.token] + urls
    ours, rss, base = [], [], []
    for _ in range(REPEATS):
        t, r = timed([BIN, "federation", "grant", "list", "-o", "json"], a.env())
        ours.append(t * 1000)
        rss.append(r / 1024)
        base.append(timed(curl)[0] * 1000)
    return {"grants": count, "pages": len(urls), "ours": ours, "curl": base, "rss": rss}


def enroll_figures(a):
    out = {}
    for c in (1, 8, 64):
        runs = [loadgen("enroll", a.url, a.token, ENROLLMENTS, c) for _ in range(REPEATS)]
        out[c] = runs
    return out


def main():
    for tool in ("curl", "openssl", "/usr/bin/time"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed for the baselines")
    work = tempfile.mkdtemp(prefix="mosaic-scale-", dir=os.environ.get("BENCH_DIR"))
    a, b = Gateway("a", work), Gateway("b", work)
    try:
        print(f"mosaic scale benchmark: {os.cpu_count()} cores, release build, "
              f"load average {os.getloadavg()[0]:.1f} at start; every figure is the median "
              f"(lowest-highest) of {REPEATS} repeats unless said")
        single_requests(a, b, work)
        b.stop()
        lists, enrolls, seeded = [], {}, []
        for size in SIZES:
            total = count_grants(a)
            if size > total:
                seeded.append(loadgen("seed", a.url, a.token, size - total, 64))
            lists.append(list_figures(a, count_grants(a)))
            if size in (SIZES[0], SIZES[-1]):
                start = count_grants(a)
                enrolls[start] = (enroll_figures(a), a.rss_mib())
        commits = [loadgen("commits", work, 2000)["per_second"] for _ in range(REPEATS)]
        signs = [openssl_sign() for _ in range(REPEATS)]
        report(lists, enrolls, seeded, commits, signs)
    finally:
        a.stop()
        if b.proc.poll() is None:
            b.stop()
        shutil.rmtree(work, ignore_errors=True)


def count_grants(a):
    n, cursor = 0, None
    while True:
        page = a.api("GET", GRANTS + "?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        n += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return n


def openssl_sign():
    out = subprocess.run(["openssl", "speed", "-seconds", "1", "ecdsap256"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    line = [l for l in out.splitlines() if "ecdsa (nistp256)" in l][-1]
    return float(line.split()[-2])


def report(lists, enrolls, seeded, commits, signs):
    print("\n## Anchors (same run)")
    print(f"SQLite fsync'd commits/s (WAL, synchronous=FULL): {spread(commits, '{:.0f}')}")
    print(f"openssl speed ecdsap256, signs/s:                 {spread(signs, '{:.0f}')}")
    for s in seeded:
        print(f"seeded {s['grants']} grants through the admin API at concurrency 64: "
              f"{s['per_second']:.0f}/s")
    print("\n## grant list -o json, every page (ms; peak memory MiB)")
    print(f"{'grants':>8} {'pages':>5} {'mosaic':>22} {'one curl, same pages':>22} "
          f"{'ratio':>6} {'peak MiB':>18}")
    for l in lists:
        ratio = statistics.median(l["ours"]) / statistics.median(l["curl"])
        print(f"{l['grants']:8} {l['pages']:5} {spread(l['ours']):>22} {spread(l['curl']):>22} "
              f"{ratio:6.2f} {spread(l['rss']):>18}")
    print("\n## Enrollments (POST <enrollment-url> until the certificate is back; "
          f"{ENROLLMENTS} a run)")
    print(f"{'grants at start':>15} {'conc.':>5} {'enrollments/s':>22} {'p50 ms':>18} "
          f"{'p99 ms':>20} {'loadgen CPU %':>18}")
    for start, (figures, rss) in enrolls.items():
        for c, runs in figures.items():
            print(f"{start:15} {c:5} {spread([r['per_second'] for r in runs], '{:.0f}'):>22} "
                  f"{spread([r['p50_ms'] for r in runs], '{:.2f}'):>18} "
                  f"{spread([r['p99_ms'] for r in runs], '{:.2f}'):>20} "
                  f"{spread([r['loadgen_cpu_percent'] for r in runs], '{:.0f}'):>18}")
        print(f"{'':15} gateway resident memory after the load: {rss:.1f} MiB")
    starts = list(enrolls)
    if len(starts) == 2:
        first, last = (statistics.median([r["per_second"] for r in enrolls[s][0][8]])
                       for s in starts)
        c64 = statistics.median([r["per_second"] for r in enrolls[starts[-1]][0][64]])
        print(f"\nconcurrency 8: {last:.0f}/s at {starts[-1]} grants vs {first:.0f}/s at "
              f"{starts[0]} ({100 * (last / first - 1):+.1f}%); concurrency 64 at "
              f"{starts[-1]} grants: {c64:.0f}/s = {c64 / statistics.median(commits):.2f} x "
              f"the fsync'd-commit rate")


if __name__ == "__main__":
    main()
