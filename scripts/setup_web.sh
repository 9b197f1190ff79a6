#!/usr/bin/env bash
# What the Foxglove tests (test/graph/test_foxglove.py) run outside Python:
#   test/graph/web/node_modules  @foxglove/ws-protocol, protobufjs, ws, esbuild, playwright-core, as
#                          locked by test/graph/web/package-lock.json (npm ci; again when it changes)
#   chromium               Debian's, driven headless by playwright-core (apt-get, as root)
# Without node/npm, or chromium where this is not root, it says what is missing and the tests
# that need it are skipped with that reason. A no-op once everything is there.
set -uo pipefail

cd "$(dirname "$0")/../test/graph/web"
if command -v npm >/dev/null 2>&1; then
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat node_modules/.qcoinf-lock 2>/dev/null)" != "$want" ]; then
    echo "setup_web: npm ci in test/graph/web"
    if npm ci --no-audit --no-fund --loglevel=error >/dev/null; then
      echo "$want" > node_modules/.qcoinf-lock
    else
      echo "setup_web: npm ci failed (the Foxglove client and browser tests will be skipped)" >&2
    fi
  fi
else
  echo "setup_web: node/npm missing (install Node.js >= 18 to run the Foxglove client and" \
       "browser tests; they are skipped otherwise)" >&2
fi

chromium=${QCOINF_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup_web: installing chromium"
    start=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
        || echo "setup_web: apt-get could not install chromium" >&2
    fi
    echo "setup_web: done in $(( $(date +%s) - start )) s"
  else
    echo "setup_web: $chromium missing (apt-get install chromium, or set QCOINF_CHROMIUM, to" \
         "run the Foxglove layout browser test; it is skipped otherwise)" >&2
  fi
fi
exit 0
