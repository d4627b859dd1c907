#!/usr/bin/env bash
# The whole federation flow on one machine: builds mosaic, starts two reference gateways
# (A grants, B enrolls) on free loopback ports with temp data dirs and a generated secret,
# then runs grant create -> grant token -> peer add (on B) -> peer list -> grant show ->
# grant revoke, printing each command before its output. Stops the gateways on exit and
# fails loudly on any error.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "building mosaic (cargo build)..."
cargo build --quiet --locked
bin="$PWD/target/debug/mosaic"

work=$(mktemp -d)
pids=()
cleanup() {
  local code=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$code" -ne 0 ]; then
    echo "demo FAILED (exit $code); gateway logs:" >&2
    tail -n 20 "$work"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT

# One sealing secret per gateway, 32 random bytes as hex; never printed.
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# start NAME: runs a gateway on a free port; sets NAME_URL, NAME_DIR and NAME_SECRET.
start() {
  local name=$1 dir="$work/$1" url="" key
  key=$(secret)
  printf -v "${name}_SECRET" '%s' "$key"
  : >"$work/$name.log" # exists before the first poll below
  BETTER_AUTH_SECRET=$key "$bin" gateway serve --listen 127.0.0.1:0 --data-dir "$dir" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/$name.log" | head -n 1)
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { echo "gateway $name did not start" >&2; exit 1; }
  printf -v "${name}_URL" '%s' "$url"
  printf -v "${name}_DIR" '%s' "$dir"
  echo "gateway $name listening on $url (data in a temp dir)"
}

mosaic() { "$bin" "$@"; }
run() {
  printf '\n$'
  printf ' %q' "$@"
  printf '\n'
  "$@"
}
# field NAME: the first string field NAME of the JSON document on stdin.
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

start A
start B

cat >"$work/scope.json" <<'JSON'
{ "resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100 }
JSON

# On A: the granting admin.
export MOSAIC_GATEWAY_URL=$A_URL MOSAIC_ADMIN_TOKEN_FILE=$A_DIR/admin-token
run mosaic federation grant create --user user-42 --peer gateway-b --scope "$work/scope.json" -o json \
  | tee "$work/grant.json"
grant_id=$(field id <"$work/grant.json")
run mosaic federation grant token "$grant_id" --ttl 600 -o json | tee "$work/token.json"
url=$(field enrollment_url <"$work/token.json")
fp=$(field ca_fingerprint <"$work/token.json")

# On B: the enrolling admin, with B's own sealing secret (B refuses a key it cannot open).
export MOSAIC_GATEWAY_URL=$B_URL MOSAIC_ADMIN_TOKEN_FILE=$B_DIR/admin-token
export MOSAIC_STATE_DIR=$work/state
BETTER_AUTH_SECRET=$B_SECRET run mosaic federation peer add "$url" --ca-fingerprint "$fp" --name gateway-a
run mosaic federation peer list

# Back on A: the grant is active, then revoked.
export MOSAIC_GATEWAY_URL=$A_URL MOSAIC_ADMIN_TOKEN_FILE=$A_DIR/admin-token
run mosaic federation grant show "$grant_id"
run mosaic federation grant revoke "$grant_id" --reason "demo finished"

echo
echo "demo OK"
