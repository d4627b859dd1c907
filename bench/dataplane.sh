#!/usr/bin/env bash
# Benchmarks the data plane with a release build: `peer query` of 100 rows next to curl's
# mutual-TLS request straight to the granting gateway (a ratio), and federated reads per
# second through the enrolling gateway at concurrency 1 and 16. Needs python3, curl and
# openssl. Not part of the tests. BENCH_RUNS (default 21) and BENCH_SECONDS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 bench/dataplane.py target/release/mosaic
