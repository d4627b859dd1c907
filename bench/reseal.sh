#!/usr/bin/env bash
# The rate of `mosaic gateway reseal` (values per second) at BENCH_PEERS pending peers
# (default 10,000: a sealed key and a sealed enrollment each, plus the CA key) on SQLite
# and on PostgreSQL, BENCH_REPEATS times each (default 3), with the rate of a second,
# idempotent run. Builds mosaic in release mode, starts a throwaway PostgreSQL cluster
# (scripts/pg.sh; skipped when PostgreSQL's server package is absent) and removes it at
# the end. Needs python3 with `cryptography` (the values are sealed by it).
#
#   bench/reseal.sh
#
# Not part of the tests: figures depend on the machine, its disk and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
psql=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -1 || true)
export PSQL="${psql:-psql}"
if server=$(MOSAIC_PG_DIR="${TMPDIR:-/tmp}/mosaic-pg-bench-$$" scripts/pg.sh start 2>/dev/null); then
    trap 'MOSAIC_PG_DIR="${TMPDIR:-/tmp}/mosaic-pg-bench-$$" scripts/pg.sh stop' EXIT
    python3 bench/reseal.py target/release/mosaic "$server"
else
    echo "PostgreSQL not available (scripts/pg.sh install): SQLite only" >&2
    python3 bench/reseal.py target/release/mosaic
fi
