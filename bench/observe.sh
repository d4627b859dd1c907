#!/usr/bin/env bash
# What watching a gateway costs: requests/s of an admin GET and enrollments/s on one
# gateway with metrics and JSON logs off (the defaults) and one with them on
# (--metrics-listen, --log-format json), in the same run, alternating; then the time of one
# scrape of /metrics with BENCH_GRANTS grants in the store (default 100,000).
#
#   bench/observe.sh            (needs curl; about 3 minutes on two cores)
#
# Not part of the tests: timings depend on the machine, its disk and its load.
set -euo pipefail
cd "$(dirname "$0")/.."
grants=${BENCH_GRANTS:-100000}
repeats=${BENCH_REPEATS:-3}
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

cargo build --release --locked --quiet
cargo bench --locked --bench loadgen --no-run --quiet
bin=target/release/mosaic
loadgen=$(ls -t target/release/deps/loadgen-* | grep -v '\.d$' | head -1)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export BETTER_AUTH_SECRET="bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export MOSAIC_ADMIN_TOKEN="bench-admin-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# start NAME ARGS...: a gateway; sets url_NAME (and metrics_NAME when it serves them).
start() {
  local name=$1
  shift
  mkdir -m 700 "$work/$name"
  "$bin" gateway serve --listen 127.0.0.1:0 --rate-limit off --data-dir "$work/$name/data" "$@" \
    >"$work/$name/out" 2>"$work/$name/err" &
  pids+=($!)
  local url=
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$work/$name/out" | head -1 | sed 's/listening on //' || true)
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { echo "gateway $name did not start" >&2; cat "$work/$name/err" >&2; exit 1; }
  printf -v "url_$name" '%s' "$url"
  printf -v "metrics_$name" '%s' "$(grep -o 'metrics on http://[0-9.:]*/metrics' "$work/$name/out" | head -1 | sed 's/metrics on //' || true)"
}

start off
start on --metrics-listen 127.0.0.1:0 --log-format json
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for kind in off on; do : >"$work/get_$kind"; : >"$work/enroll_$kind"; done
for _ in $(seq "$repeats"); do
  for kind in off on; do
    url_var="url_$kind"
    "$loadgen" get "${!url_var}" "$MOSAIC_ADMIN_TOKEN" 5000 8 | field per_second >>"$work/get_$kind"
    "$loadgen" enroll "${!url_var}" "$MOSAIC_ADMIN_TOKEN" 500 8 | field per_second >>"$work/enroll_$kind"
  done
done
printf '%-44s %12s %12s\n' "median of $repeats runs" "logs+metrics off" "on"
printf '%-44s %12.0f %12.0f\n' "admin GET requests/s (concurrency 8)" \
  "$(median <"$work/get_off")" "$(median <"$work/get_on")"
printf '%-44s %12.0f %12.0f\n' "enrollments/s (concurrency 8)" \
  "$(median <"$work/enroll_off")" "$(median <"$work/enroll_on")"

have=$(curl -s "$metrics_on" | sed -n 's/^mosaic_grants{status="\([a-z]*\)"} \([0-9]*\)/\2/p' | awk '{s+=$1} END {print s+0}')
if [ "$have" -lt "$grants" ]; then
  "$loadgen" seed "$url_on" "$MOSAIC_ADMIN_TOKEN" $((grants - have)) 64 >/dev/null
fi
have=$(curl -s "$metrics_on" | sed -n 's/^mosaic_grants{status="\([a-z]*\)"} \([0-9]*\)/\2/p' | awk '{s+=$1} END {print s+0}')
: >"$work/scrape"
for _ in $(seq 20); do
  curl -s -o /dev/null -w '%{time_total}\n' "$metrics_on" >>"$work/scrape"
done
size=$(curl -s "$metrics_on" | wc -c)
printf '%-44s %9.1f ms (median of 20; %s bytes)\n' "one scrape at $have grants" \
  "$(median <"$work/scrape" | awk '{print $1 * 1000}')" "$size"
