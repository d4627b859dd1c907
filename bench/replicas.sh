#!/usr/bin/env bash
# Enrollments per second and p50/p99 latency at concurrency 64 on SQLite (one gateway
# process) and on PostgreSQL with one and with three replicas, side by side in one run.
# Builds mosaic in release mode, starts a throwaway PostgreSQL cluster (scripts/pg.sh)
# and removes it at the end. Needs python3, openssl and PostgreSQL's server package.
# BENCH_ENROLLMENTS (default 1280) and BENCH_CONCURRENCY (default 64) change the load.
#
#   bench/replicas.sh
#
# Not part of the tests: figures depend on the machine, its disk and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
export MOSAIC_PG_DIR="${TMPDIR:-/tmp}/mosaic-pg-bench-$$"
server=$(scripts/pg.sh start)
trap 'scripts/pg.sh stop' EXIT
psql=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -1 || true)
PSQL="${psql:-psql}" python3 bench/replicas.py target/release/mosaic "$server"
