#!/usr/bin/env bash
# Mutation testing of the security core with cargo-mutants: every mutant of the files
# `.cargo/mutants.toml` names must be caught by a test (or not compile), else this fails.
#
#   scripts/mutants.sh            both passes
#   scripts/mutants.sh crypto     src/crypto/ against the library's unit tests, without
#                                 the gateway feature
#   scripts/mutants.sh gateway    the enrollment route, the token and grant store, the
#                                 admin token and the federation routes against the
#                                 library's unit tests (gateway feature)
#
# Both passes run the library's unit tests only (a second or two per mutant): the checks
# are unit-tested in place, against a temp-dir SQLite store and certificates from a real
# CA. `--in-place` reuses target/ (cargo-mutants puts the sources back when it ends), so
# do not edit the tree while it runs. Builds use the `mutants` profile (no debug
# information: faster links); MUTANTS_PROFILE=dev reuses the dev profile's builds
# instead (CI does, with the dev profile's debug information turned off). Reports go to
# target/mutants-report/<pass>/mutants.out/ (missed.txt lists survivors).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS_VERSION=27.1.0
profile=${MUTANTS_PROFILE:-mutants}
report=target/mutants-report

if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $MUTANTS_VERSION" ]; then
  echo "== installing cargo-mutants $MUTANTS_VERSION"
  cargo install --locked "cargo-mutants@$MUTANTS_VERSION"
fi

# run PASS ARGS...: one pass; fails on any missed mutant. A mutant whose tests hang until
# the timeout (cargo-mutants' exit 3) was detected, not missed: it counts as caught. Any
# other failure (a red baseline, a crash) fails too.
run() {
  local pass=$1 rc=0 start=$SECONDS
  shift
  rm -rf "${report:?}/$pass"
  mkdir -p "$report/$pass"
  echo "== mutants: $pass"
  # A hang is detected in seconds: the unit tests take about one.
  cargo mutants --in-place --profile "$profile" -C --locked -C --lib \
    --minimum-test-timeout 20 -o "$report/$pass" "$@" || rc=$?
  local out="$report/$pass/mutants.out"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    echo "mutants ($pass): cargo mutants exited $rc" >&2
    [ -s "$out/missed.txt" ] && sed 's/^/  missed: /' "$out/missed.txt" >&2
    exit 1
  fi
  if [ ! -s "$out/caught.txt" ] || [ -s "$out/missed.txt" ]; then
    echo "mutants ($pass): missed mutants, or none caught" >&2
    exit 1
  fi
  echo "mutants ($pass): $(wc -l <"$out/caught.txt") caught," \
    "$(wc -l <"$out/unviable.txt") unviable," \
    "$(cat "$out/timeout.txt" 2>/dev/null | wc -l) timed out, 0 missed" \
    "in $((SECONDS - start)) s"
}

passes=("$@")
[ ${#passes[@]} -gt 0 ] || passes=(crypto gateway)
for pass in "${passes[@]}"; do
  case $pass in
    crypto) run crypto --no-default-features -e 'src/gateway/**' ;;
    # Only the gateway's tests: the others cannot see a mutant of these files.
    gateway) run gateway -e 'src/crypto/**' -- gateway:: ;;
    *)
      echo "unknown pass $pass: expected crypto or gateway" >&2
      exit 2
      ;;
  esac
done
