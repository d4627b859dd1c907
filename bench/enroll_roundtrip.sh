#!/usr/bin/env bash
# Measures one enrollment round trip on loopback: POST <enrollment-url> with a P-256 CSR
# until the signed certificate is back (token lookup, CSR check, CA signature, and the
# fsync'd commit that spends the token and activates the grant). Prints the median and
# the 90th percentile over N enrollments, as curl's time_total (no process start-up).
#
#   bench/enroll_roundtrip.sh [N]        (default 200; needs curl and openssl)
#
# Not part of the tests: timings depend on the machine, its disk and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}

for tool in curl openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
cargo build --release --locked --quiet
bin=target/release/mosaic

work=$(mktemp -d)
gateway_pid=
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export BETTER_AUTH_SECRET="bench-secret-$(openssl rand -hex 24)"
export MOSAIC_ADMIN_TOKEN="bench-admin-$(openssl rand -hex 24)"
# A benchmark enrolls faster than any honest client: no rate limit.
"$bin" gateway serve --listen 127.0.0.1:0 --rate-limit off --data-dir "$work/data" >"$work/out" 2>"$work/err" &
gateway_pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/out")
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "the gateway did not start:" >&2; cat "$work/err" >&2; exit 1; }

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench \
  -keyout "$work/key.pem" -out "$work/csr.pem" 2>/dev/null
csr=$(awk 'BEGIN{ORS="\\n"} {print}' "$work/csr.pem")
printf '{"csr_pem":"%s"}' "$csr" >"$work/enroll.json"

admin() { curl -sf -H "Authorization: Bearer $MOSAIC_ADMIN_TOKEN" -H 'Content-Type: application/json' "$@"; }
scope='{"resources":["tasks"],"max_rows_per_query":100}'
: >"$work/times"
for i in $(seq "$n"); do
  grant=$(admin -X POST "$url/api/admin/federation/grants" \
    -d "{\"user_id\":\"u-$i\",\"peer_id\":\"p-$i\",\"scope\":$scope}")
  grant_id=$(printf '%s' "$grant" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
  token=$(admin -X POST "$url/api/admin/federation/grants/$grant_id/tokens" -d '{}')
  enrollment_url=$(printf '%s' "$token" | sed -n 's/.*"enrollment_url":"\([^"]*\)".*/\1/p')
  curl -sf -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' \
    -X POST "$enrollment_url" --data-binary @"$work/enroll.json" >>"$work/times"
done

sort -n "$work/times" | awk -v n="$n" '
  { t[NR] = $1 * 1000 }
  END {
    median = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
    p90 = t[int(n * 0.9 + 0.5)]
    printf "enrollment round trip over %d runs: median %.2f ms, p90 %.2f ms, min %.2f ms\n", n, median, p90, t[1]
  }'
