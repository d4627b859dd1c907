#!/usr/bin/env bash
# The whole federation story on one machine: builds mosaic, starts two reference gateways
# over HTTPS (A grants, B enrolls) on free loopback ports with temp data dirs and a
# generated secret each (kept in a 0600 file), then: A imports rows for a user -> grant
# create -> grant token -> peer add on B (CA pinned) -> peer test -> peer query of a
# granted resource (rows) -> peer query of an excluded resource (refused, as expected) ->
# grant revoke on A -> peer query refused at once, and B's peer list shows grant_revoked. Each command is printed with the gateway it runs against. Stops
# the gateways on exit and fails loudly if any step does not behave as shown.
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo's own progress lines: a first build takes a few minutes.
echo "building mosaic (cargo build --locked; the first build takes a few minutes)..."
cargo build --locked
bin="$PWD/target/debug/mosaic"

# Each gateway's secret comes from its own file; one exported in this shell would clash.
unset BETTER_AUTH_SECRET BETTER_AUTH_SECRET_FILE
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

# start NAME: runs a gateway over HTTPS on a free port; sets NAME_URL, NAME_DIR and
# NAME_SECRET (a 0600 file holding its sealing secret, 256 random bits from mosaic itself,
# never printed), as the README keeps it: every later start needs the same secret.
start() {
  local name=$1 dir="$work/$1" url="" key="$work/$1.secret"
  (umask 077; "$bin" gateway secret >"$key")
  printf -v "${name}_SECRET" '%s' "$key"
  : >"$work/$name.log" # exists before the first poll below
  BETTER_AUTH_SECRET_FILE=$key "$bin" gateway serve --tls --listen 127.0.0.1:0 --data-dir "$dir" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    url=$(sed -n 's/.*listening on \(https[^ ]*\).*/\1/p' "$work/$name.log" | head -n 1)
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { echo "gateway $name did not start" >&2; exit 1; }
  printf -v "${name}_URL" '%s' "$url"
  printf -v "${name}_DIR" '%s' "$dir"
  echo "gateway $name listening on $url (its own CA, data in a temp dir)"
}

# on NAME: the following commands talk to gateway NAME's admin API, trusting its CA.
on() {
  local url_var="$1_URL" dir_var="$1_DIR"
  export MOSAIC_GATEWAY_URL=${!url_var} MOSAIC_ADMIN_TOKEN_FILE=${!dir_var}/admin-token
  export MOSAIC_CACERT=${!dir_var}/ca.pem
  current=$1
}
mosaic() { "$bin" "$@"; }
# run CMD...: prints the command and the gateway it runs against, then runs it.
run() {
  printf '\n[on gateway %s] $' "$current"
  printf ' %q' "$@"
  printf '\n'
  "$@"
}
# refused CODE CMD...: runs CMD, which must fail with exit CODE (an expected refusal).
refused() {
  local want=$1 got=0
  shift
  run "$@" || got=$?
  if [ "$got" -ne "$want" ]; then
    echo "expected exit $want (a refusal), got $got" >&2
    exit 1
  fi
  echo "(refused as expected: exit $got)"
}
# field NAME: the first string field NAME of the JSON document on stdin.
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

start A
start B

cat >"$work/scope.json" <<'JSON'
{ "resources": ["tasks", "notes"], "excluded_resources": ["credentials"], "max_rows_per_query": 100 }
JSON
cat >"$work/tasks.json" <<'JSON'
[ {"id": "task-1", "title": "Renew the TLS certificates", "status": "open", "due_at": "2026-12-31T00:00:00Z"},
  {"id": "task-2", "title": "Review the federation grants", "status": "done", "due_at": null},
  {"id": "task-3", "title": "Rotate the admin token", "status": "open", "due_at": null} ]
JSON
cat >"$work/credentials.json" <<'JSON'
[ {"id": "cred-1", "name": "production database", "kind": "password"} ]
JSON

# On A: the granting admin loads the user's data and grants gateway B part of it.
on A
run mosaic federation data import tasks --user user-42 "$work/tasks.json"
run mosaic federation data import credentials --user user-42 "$work/credentials.json"
run mosaic federation grant create --user user-42 --peer gateway-b --scope "$work/scope.json" -o json \
  | tee "$work/grant.json"
grant_id=$(field id <"$work/grant.json")
run mosaic federation grant token "$grant_id" --ttl 600 -o json | tee "$work/token.json"
url=$(field enrollment_url <"$work/token.json")
fp=$(field ca_fingerprint <"$work/token.json")

# On B: the enrolling admin, with B's own sealing secret (B refuses a key it cannot open).
# The pin is the only trust in A: MOSAIC_CACERT names B's CA, not A's.
on B
export MOSAIC_STATE_DIR=$work/state
BETTER_AUTH_SECRET_FILE=$B_SECRET run mosaic federation peer add "$url" --ca-fingerprint "$fp" \
  --name gateway-a -o json | tee "$work/peer.json"
peer_id=$(field id <"$work/peer.json")
run mosaic federation peer test "$peer_id"
run mosaic federation peer query "$peer_id" tasks | tee "$work/rows.txt"
grep -q "Review the federation grants" "$work/rows.txt" || { echo "rows missing" >&2; exit 1; }
refused 5 mosaic federation peer query "$peer_id" credentials

# Back on A: revoke. B's very next read is refused.
on A
run mosaic federation grant revoke "$grant_id" --reason "demo finished"
on B
refused 5 mosaic federation peer query "$peer_id" tasks
run mosaic federation peer list | tee "$work/peers.txt"
grep -q "grant_revoked" "$work/peers.txt" || { echo "peer not shown grant_revoked" >&2; exit 1; }

echo
echo "demo OK"
