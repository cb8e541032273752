#!/usr/bin/env bash
# Runs every check and test suite, then prints one line "N passed, N failed" summing all suites.
# Exits non-zero if any lint, type check or test fails.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
status=0
log=$(mktemp)
sol_log=$(mktemp)
# The suites' temporary files (their own, their runners' and browsers') go into one folder of
# this run, removed at the end, so a test process that dies before it cleans up leaves nothing.
tests_tmp=$(mktemp -d "${TMPDIR:-/tmp}/conclave-tests-XXXXXX")
trap 'rm -f "$log" "$sol_log"; rm -rf "$tests_tmp"' EXIT

# Each step prints the seconds since the run began, so a slow phase shows in the CI log.
start=$SECONDS
step() { printf '\n=== %s (at %ds)\n' "$1" $((SECONDS - start)); }

# A check (lint, build, types) counts as a failure of the run but not as a test.
check() {
  local name=$1; shift
  step "$name"
  if ! "$@"; then
    echo "FAILED: $name"
    status=1
  fi
}

# A suite's result, from its log and exit status: its "N passing" / "N failing" lines are added
# to the totals.
tally() {
  local log=$1 rc=$2
  local p f
  p=$(grep -Eo '^ *[0-9]+ passing' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  f=$(grep -Eo '^ *[0-9]+ failing' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then
    status=1
    # A suite that crashed before reporting still counts as one failure.
    [ "$f" -eq 0 ] && failed=$((failed + 1))
  fi
}

# A test suite, its output shown as it runs.
suite() {
  local name=$1; shift
  step "$name"
  TMPDIR="$tests_tmp" "$@" 2>&1 | tee "$log"
  tally "$log" "${PIPESTATUS[0]}"
}

check "build contracts" npx hardhat build --quiet --no-tests
# The Solidity suite runs in the background, its output shown at the end: building it takes
# solc's WebAssembly build about three minutes of one core, which the checks and the TypeScript
# suite (which need only the contracts' artifacts) leave free much of that time.
step "solidity tests (unit, fuzz, invariant): started in the background"
(TMPDIR="$tests_tmp" npx hardhat test solidity >"$sol_log" 2>&1) &
sol=$!
check "lint (solhint + eslint)" npm run --silent lint
check "format (prettier)" npm run --silent format:check
check "type check (tsc)" npm run --silent typecheck
check "unused files, exports and dependencies (knip)" npm run --silent deadcode
check "build the dashboard page (vite)" npm run --silent build:dashboard
step "browser for the dashboard tests"
bash scripts/ensure-chromium.sh
suite "typescript tests (mocha + viem)" npx hardhat test mocha
step "solidity tests (unit, fuzz, invariant): their output"
wait "$sol"
sol_rc=$?
cat "$sol_log"
tally "$sol_log" "$sol_rc"

echo
# Each test removes what it made; what is left here points at one that does not (Node's compile
# cache and tsx's cache are Hardhat's, made by the tests that run a hardhat command).
left=$(find "$tests_tmp" -mindepth 1 -maxdepth 1 ! -name node-compile-cache ! -name 'tsx-*' -printf '%f\n' | sort)
echo "left in the temporary folder by the tests: $(printf '%s' "$left" | grep -c .) entries (removed now)"
[ -n "$left" ] && printf '%s\n' "$left" | sed 's/^/  /' | head -40
echo "finished in $((SECONDS - start)) s"
echo "${passed} passed, ${failed} failed"
exit "$status"
