#!/usr/bin/env bash
# Benchmarks a release build of mosaic: how it scales with the gateway's history (1,000,
# 10,000 and 100,000 grants), against curl and openssl, next to the disk's fsync'd-commit
# rate and the CPU's signing rate; prints figures with their spread. Needs python3, curl,
# openssl and GNU time (/usr/bin/time). Not part of the tests. Takes about 10 minutes on
# two cores. BENCH_REPEATS (>= 5), BENCH_RUNS (single requests, default 11),
# BENCH_ENROLLMENTS (per run, default 400) and BENCH_SIZES (default 1000,10000,100000)
# change it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
loadgen=$(cargo bench --bench loadgen --no-run --locked 2>&1 |
  sed -n 's/.*Executable .*(\(target\/[^)]*loadgen-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -x "$loadgen" ] || { echo "bench: cannot find the load generator's binary" >&2; exit 1; }
exec python3 bench/scale.py target/release/mosaic "$loadgen"
