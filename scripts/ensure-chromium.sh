#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (/usr/bin/chromium) with playwright-core.
# Installs it with apt-get when it is missing and this runs as root; otherwise says why the
# browser tests will be skipped. Never fails the run: the tests report the skip themselves.
set -uo pipefail
chromium=${CONCLAVE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
  echo "chromium: $chromium"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium: $chromium is missing and cannot be installed here (needs root and apt-get): the dashboard's browser tests will be skipped"
  exit 0
fi
echo "chromium: installing Debian's chromium (apt-get) for the dashboard's browser tests ..."
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y -q --no-install-recommends chromium >/tmp/conclave-chromium-install.log 2>&1 ||
  { apt-get update -q >>/tmp/conclave-chromium-install.log 2>&1 && apt-get install -y -q --no-install-recommends chromium >>/tmp/conclave-chromium-install.log 2>&1; }; then
  if [ -x "$chromium" ]; then
    echo "chromium: installed $("$chromium" --version 2>/dev/null || echo "$chromium")"
  else
    echo "chromium: Debian's chromium is installed but $chromium is still missing: the dashboard's browser tests will be skipped"
  fi
else
  echo "chromium: apt-get install failed (see /tmp/conclave-chromium-install.log): the dashboard's browser tests will be skipped"
fi
exit 0
