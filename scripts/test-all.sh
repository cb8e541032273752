#!/usr/bin/env bash
# Runs every check and test suite, then prints one line "N passed, N failed" summing all suites.
# Exits non-zero if any lint, type check or test fails.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
status=0
log=$(mktemp)
# The suites' temporary files (their own, their runners' and browsers') go into one folder of
# this run, removed at the end, so a test process that dies before it cleans up leaves nothing.
tests_tmp=$(mktemp -d "${TMPDIR:-/tmp}/conclave-tests-XXXXXX")
trap 'rm -f "$log"; rm -rf "$tests_tmp"' EXIT

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

# A test suite: its "N passing" / "N failing" lines are added to the totals.
suite() {
  local name=$1; shift
  step "$name"
  TMPDIR="$tests_tmp" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
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

check "build contracts" npx hardhat build --quiet
check "lint (solhint + eslint)" npm run --silent lint
check "format (prettier)" npm run --silent format:check
check "type check (tsc)" npm run --silent typecheck
check "unused files, exports and dependencies (knip)" npm run --silent deadcode
check "build the dashboard page (vite)" npm run --silent build:dashboard
step "browser for the dashboard tests"
bash scripts/ensure-chromium.sh
suite "solidity tests (unit, fuzz, invariant)" npx hardhat test solidity
suite "typescript tests (mocha + viem)" npx hardhat test mocha

echo
# Each test removes what it made; what is left here points at one that does not.
echo "left in the temporary folder by the tests: $(find "$tests_tmp" -mindepth 1 -maxdepth 1 | wc -l) entries (removed now)"
echo "finished in $((SECONDS - start)) s"
echo "${passed} passed, ${failed} failed"
exit "$status"
