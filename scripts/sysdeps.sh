#!/usr/bin/env bash
# Install the Debian packages that some tests need, when they are missing and we may.
# Tests that need them skip with a clear reason on a laptop without them, and fail under CI=true.
set -euo pipefail
want=()
# Filled in as parts land: softhsm2 (PKCS#11 token), chromium (dashboard browser tests).
defaults="softhsm2 chromium"
for pkg in ${SEALMETER_SYSDEPS:-$defaults}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
done
if [ ${#want[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "sysdeps: missing ${want[*]}; install them to run every test" >&2
    exit 0
fi
echo "sysdeps: installing ${want[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
