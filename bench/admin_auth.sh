#!/usr/bin/env bash
# Requests/s of an admin read with the bootstrap token next to a named credential (one
# store lookup per request), in one run: bench/admin_auth.py on a release build. Not a
# test: it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 bench/admin_auth.py target/release/mosaic
