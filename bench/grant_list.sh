#!/usr/bin/env bash
# Wall time of `mosaic federation grant list -o json` over BENCH_GRANTS grants (default
# 2500) on a fresh reference gateway: the median of BENCH_RUNS whole-process runs
# (default 11), release build. Reuses the gateway and timing helpers of bench/bench.py.
# Not a test: it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 - target/release/mosaic <<'EOF'
import json, os, shutil, statistics, sys, tempfile
sys.path.insert(0, "bench")
import bench

grants = int(os.environ.get("BENCH_GRANTS", "2500"))
runs = int(os.environ.get("BENCH_RUNS", "11"))
work = tempfile.mkdtemp(prefix="mosaic-grant-list-")
gw = bench.Gateway("a", work)
try:
    bench.create_grants(gw, grants)
    env = dict(os.environ, MOSAIC_GATEWAY_URL=gw.url, MOSAIC_ADMIN_TOKEN=gw.token)
    argv = [bench.BIN, "federation", "grant", "list", "-o", "json"]
    times = []
    for _ in range(runs):
        t, _, out = bench.run_timed(argv, env)
        assert len(json.loads(out)) == grants
        times.append(t)
    ms = sorted(t * 1000 for t in times)
    # No memory figure: ru_maxrss of a child forked from Python keeps the interpreter's
    # pages from before exec, so it says more about Python than about mosaic.
    print(f"grant list -o json, {grants} grants, {runs} runs, {os.cpu_count()} cores: "
          f"median {statistics.median(ms):.1f} ms (min {ms[0]:.1f}, max {ms[-1]:.1f})")
finally:
    gw.stop()
    shutil.rmtree(work, ignore_errors=True)
EOF
