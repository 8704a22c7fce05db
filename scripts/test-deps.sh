#!/usr/bin/env bash
# Installs what the interop and browser tests need, when it is missing:
# Debian's chromium, nginx, faketime (libfaketime: the clock-skew test) and redis-server (tests that freeze or
# restart their own Redis), and the npm packages of tests/js (axios, oidc-client 1.11, openid-client 6).
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: not root; cannot install ${need_apt[*]} (those tests will be skipped outside CI)" >&2
  fi
fi
if [ -f tests/js/package.json ] && command -v npm >/dev/null 2>&1; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package.json -nt tests/js/node_modules ]; then
    (cd tests/js && npm install --no-audit --no-fund --silent)
    touch tests/js/node_modules
  fi
fi
