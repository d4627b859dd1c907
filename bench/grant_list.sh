#!/usr/bin/env bash
# `mosaic federation grant list -o json` over BENCH_GRANTS grants (default 2500; a
# comma-separated list for several sizes) next to one curl process fetching the same pages,
# with mosaic's peak memory: the list part of bench/run.sh alone, release build. Not a
# test: it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
loadgen=$(cargo bench --bench loadgen --no-run --locked 2>&1 |
  sed -n 's/.*Executable .*(\(target\/[^)]*loadgen-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -x "$loadgen" ] || { echo "bench: cannot find the load generator's binary" >&2; exit 1; }
BENCH_ONLY=list BENCH_SIZES="${BENCH_GRANTS:-2500}" \
  exec python3 bench/scale.py target/release/mosaic "$loadgen"
