#!/usr/bin/env bash
# Benchmarks a release build of mosaic against curl and openssl and prints one table.
# Needs python3, curl, openssl and GNU time (/usr/bin/time). Not part of the tests. BENCH_RUNS and BENCH_GRANTS
# change the number of runs (default 21) and of listed grants (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 bench/bench.py target/release/mosaic
