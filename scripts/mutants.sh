#!/usr/bin/env bash
# Mutation testing of the security core with cargo-mutants: every mutant of the files
# `.cargo/mutants.toml` names must be caught by a test (or not compile), else this fails.
#
#   scripts/mutants.sh            both passes, side by side, each in a copy (see copy_of)
#   scripts/mutants.sh crypto     the mosaic-crypto crate against its unit tests
#   scripts/mutants.sh gateway    the enrollment route, the token and grant store, the
#                                 admin token and the federation routes of the
#                                 mosaic-gateway crate against its unit tests
#
# Each pass mutates one crate and runs that crate's unit tests only (a second or two per
# mutant): the checks are unit-tested in place, against a temp-dir SQLite store and
# certificates from a real CA. A mutant rebuilds its crate and nothing above it (the CLI
# is never rebuilt). `--in-place` reuses target/ (cargo-mutants puts the sources back
# when it ends), so do not edit the tree while it runs. Builds use the `mutants` profile
# (no debug information: faster links); MUTANTS_PROFILE=dev reuses the dev profile's
# builds instead (CI does, with the dev profile's debug information turned off). Reports
# go to target/mutants-report/<pass>/mutants.out/ (missed.txt lists survivors).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS_VERSION=27.1.0
profile=${MUTANTS_PROFILE:-mutants}
report=$PWD/target/mutants-report

if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $MUTANTS_VERSION" ]; then
  echo "== installing cargo-mutants $MUTANTS_VERSION"
  cargo install --locked "cargo-mutants@$MUTANTS_VERSION"
fi

# run PASS DIR ARGS...: one pass over the crate in DIR; fails on any missed mutant. A
# mutant whose tests hang until the timeout (cargo-mutants' exit 3) was detected, not
# missed: it counts as caught. Any other failure (a red baseline, a crash) fails too.
run() {
  local pass=$1 dir=$2 rc=0 start=$SECONDS
  shift 2
  rm -rf "${report:?}/$pass"
  mkdir -p "$report/$pass"
  echo "== mutants: $pass"
  # A hang is detected in seconds: the unit tests take about one.
  cargo mutants --in-place -d "$dir" --profile "$profile" -C --locked -C --lib \
    --minimum-test-timeout 20 -o "$report/$pass" "$@" 2>&1 | sed -u "s/^/[$pass] /" || rc=$?
  local out="$report/$pass/mutants.out"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    echo "mutants ($pass): cargo mutants exited $rc" >&2
    [ -s "$out/missed.txt" ] && sed 's/^/  missed: /' "$out/missed.txt" >&2
    return 1
  fi
  if [ ! -s "$out/caught.txt" ] || [ -s "$out/missed.txt" ]; then
    echo "mutants ($pass): missed mutants, or none caught" >&2
    return 1
  fi
  echo "mutants ($pass): $(wc -l <"$out/caught.txt") caught," \
    "$(wc -l <"$out/unviable.txt") unviable," \
    "$(cat "$out/timeout.txt" 2>/dev/null | wc -l) timed out, 0 missed" \
    "in $((SECONDS - start)) s"
}

# The gateway crate depends on the crypto crate, so the gateway pass must never see a
# crypto mutant; and `.ci/run` runs the tests while mutation testing goes on, so neither
# pass may touch this tree. When both run, each mutates a copy of the workspace of its
# own (sources only, modification times kept, so its builds in the copy's own target/
# stay incremental from one run to the next), and the two run at once: one builds while
# the other tests. A single pass runs in place (`MUTANTS_IN_PLACE=0` copies it too).
copy_of() {
  local copy=target/mutants-src/$1
  mkdir -p "$copy"
  rm -rf "${copy:?}/src" "$copy/crates" "$copy/.cargo" "$copy/benches"
  cp -a Cargo.toml Cargo.lock src crates .cargo benches "$copy/"
  echo "$copy"
}

crypto() { run crypto "${1:-.}" --package mosaic-crypto; }
gateway() { run gateway "${1:-.}" --package mosaic-gateway; }

passes=("$@")
[ ${#passes[@]} -gt 0 ] || passes=(crypto gateway)
for pass in "${passes[@]}"; do
  case $pass in
    crypto | gateway) ;;
    *)
      echo "unknown pass $pass: expected crypto or gateway" >&2
      exit 2
      ;;
  esac
done

if [ ${#passes[@]} -eq 2 ] && [ "${passes[0]}" != "${passes[1]}" ]; then
  crypto_dir=$(copy_of crypto)
  gateway_dir=$(copy_of gateway)
  crypto "$crypto_dir" &
  crypto_pid=$!
  trap 'kill "$crypto_pid" 2>/dev/null || true' INT TERM
  gateway_rc=0
  gateway "$gateway_dir" || gateway_rc=$?
  crypto_rc=0
  wait "$crypto_pid" || crypto_rc=$?
  [ "$gateway_rc" -eq 0 ] && [ "$crypto_rc" -eq 0 ] || exit 1
else
  for pass in "${passes[@]}"; do
    if [ "${MUTANTS_IN_PLACE:-1}" = 0 ]; then
      "$pass" "$(copy_of "$pass")" || exit 1
    else
      "$pass" || exit 1
    fi
  done
fi
