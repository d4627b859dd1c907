#!/usr/bin/env bash
# Property-based tests of the gateway's HTTP API from its OpenAPI document: validates
# docs/openapi.json with openapi-spec-validator, then runs schemathesis against a live
# `mosaic gateway serve` on loopback (temp data dir): every check, the stateful phase
# (links: grant -> token -> enrollment), negative data, with the admin token and once
# without it, plus the custom checks of tests/schemathesis/hooks.py. Any failure fails.
# Every check is on (schemathesis's default); tests/schemathesis/schemathesis.toml turns
# one off for two operations and lets the imports answer 413 to it, and says why.
# Both tools are pinned and installed into a virtualenv under target/.
#
#   scripts/schemathesis.sh            # as CI runs it
#   MAX_EXAMPLES=200 MAX_TIME=600 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0
MAX_EXAMPLES=${MAX_EXAMPLES:-25}   # cases per operation and phase
MAX_TIME=${MAX_TIME:-60}           # seconds, budget of the run with the admin token
venv=target/schemathesis/venv

if [ ! -x "$venv/bin/schemathesis" ] ||
  [ "$("$venv/bin/schemathesis" --version)" != "schemathesis, version $SCHEMATHESIS_VERSION" ] ||
  [ "$("$venv/bin/pip" show openapi-spec-validator 2>/dev/null | sed -n 's/^Version: //p')" != "$VALIDATOR_VERSION" ]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

echo "== openapi-spec-validator docs/openapi.json"
"$venv/bin/openapi-spec-validator" docs/openapi.json

cargo build --locked --quiet
work=$(mktemp -d)
reports=target/schemathesis/reports
rm -rf "$reports"
mkdir -p "$reports"
gateway_pid=
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; wait "$gateway_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# start_gateway NAME ARGS...: a gateway on a free loopback port; sets $url.
start_gateway() {
  local name=$1
  shift
  : >"$work/$name.out"
  BETTER_AUTH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
    MOSAIC_ADMIN_TOKEN=$admin_token \
    target/debug/mosaic gateway serve --listen 127.0.0.1:0 --data-dir "$work/$name" "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  gateway_pid=$!
  for _ in $(seq 100); do
    url=$(sed -n 's/.*listening on //p' "$work/$name.out")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "the gateway did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

stop_gateway() {
  kill "$gateway_pid"
  wait "$gateway_pid" || true
  gateway_pid=
}

admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
MOSAIC_SCHEMATHESIS_CSR=$(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=schemathesis -keyout /dev/null 2>/dev/null)
export MOSAIC_SCHEMATHESIS_CSR
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH=$PWD/tests/schemathesis PYTHONDONTWRITEBYTECODE=1

# run NAME ARGS...: schemathesis with the common options, its reports under $work/NAME.
run() {
  local name=$1
  shift
  "$venv/bin/schemathesis" --config-file tests/schemathesis/schemathesis.toml run "$url/api/openapi.json" \
    --mode all --max-examples "$MAX_EXAMPLES" --max-response-time 5 \
    --workers 1 --no-color \
    --report ndjson --report-ndjson-path "$reports/$name.ndjson" "$@"
  summarize "$reports/$name.ndjson"
}

# summarize NDJSON: test cases per operation and the checks that ran, from the report.
summarize() {
  python3 - "$1" <<'PY'
import collections, json, sys
cases, stateful, checks = collections.Counter(), collections.Counter(), set()
for line in open(sys.argv[1]):
    event = json.loads(line).get("ScenarioFinished")
    if not event:
        continue
    recorder = event["recorder"]
    for case in recorder.get("cases", {}).values():
        if event["phase"] == "stateful":
            stateful[case["value"]["method"] + " " + case["value"]["path"]] += 1
        else:
            cases[recorder["label"]] += 1
    for results in recorder.get("checks", {}).values():
        checks.update(r["name"] for r in results)
print("   test cases per operation: examples, coverage and fuzzing + stateful steps")
for label in sorted(cases.keys() | stateful.keys(), key=lambda l: l.split(" ", 1)[::-1]):
    print(f"   {cases[label]:6d} + {stateful[label]:4d}  {label}")
print(f"   checks run: {', '.join(sorted(checks))}")
PY
}

# Both runs with `--rate-limit off`: the fuzzer is one address sending thousands of
# requests a minute, which is what the limit is for (tests/it/limits.rs tests the 429s).
echo "== schemathesis with the admin token"
start_gateway admin --rate-limit off
started=$(date +%s)
run admin --phases examples,coverage,fuzzing,stateful --max-time "$MAX_TIME" \
  -H "Authorization: Bearer $admin_token"
# The stateful phase must have walked a grant's life for real: the audit log says so.
audit() {
  python3 - "$url/api/admin/federation/audit?action=$1&limit=1000" "$admin_token" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(len(json.load(urllib.request.urlopen(req))["items"]))
PY
}
for action in grant.created token.issued grant.activated grant.revoked; do
  n=$(audit "$action")
  echo "   $action: $n"
  if [ "$n" -eq 0 ]; then
    echo "schemathesis never reached $action: its stateful phase did not walk a grant's life" >&2
    exit 1
  fi
done
stop_gateway

echo "== schemathesis without the admin token"
start_gateway anonymous --rate-limit off
run anonymous --phases examples,coverage,fuzzing --max-time 30
stop_gateway
echo "schemathesis: passed in $(($(date +%s) - started)) s"
