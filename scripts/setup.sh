#!/usr/bin/env bash
# Installs every system package dealcoach needs on Debian 12 (run as root or with sudo),
# plus the npm-only tools (buf, the CEL conformance data, benchmark peers) into tools/node.
# Idempotent: safe to run again; it only installs what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libre2-dev nlohmann-json3-dev
  libcurl4-openssl-dev libpq-dev postgresql
  libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev clang-format
  clang libclang-rt-14-dev lld
  tzdata openssl
  libssl-dev
  libgoogle-perftools-dev
  prometheus-cpp-dev libxml2-utils
  chromium fonts-dejavu-core zlib1g-dev
)
# Node.js is only used for tooling (buf lint, conformance data, benchmark peers).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm tools, pinned in tools/node/package.json (lockfile committed). Not `npm ci`: the
# registry lacks some of buf's optional per-platform packages at the pinned version, and
# `npm ci` rejects a lockfile without them; `install --no-save` keeps the lockfile as is.
if [ ! -x "$here/tools/node/node_modules/.bin/buf" ]; then
  (cd "$here/tools/node" && npm install --no-save --no-audit --no-fund --loglevel=error)
fi
# Deployment checks (tests/deploy): exactly the versions in its package-lock.json.
if [ ! -d "$here/tests/deploy/node_modules/kubernetes-models" ]; then
  (cd "$here/tests/deploy" && npm ci --no-audit --no-fund --loglevel=error)
fi
# Browser tests and the OpenAPI lint (puppeteer-core drives Debian's chromium; it never
# downloads a browser, and PUPPETEER_SKIP_DOWNLOAD makes sure nothing in the tree does;
# axe-core; @redocly/cli), pinned in tests/browser/package-lock.json.
if [ ! -x "$here/tests/browser/node_modules/.bin/redocly" ] ||
  [ ! -d "$here/tests/browser/node_modules/puppeteer-core" ] ||
  [ ! -d "$here/tests/browser/node_modules/axe-core" ]; then
  (cd "$here/tests/browser" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
# The Salesforce kit's LWC Jest tests (@salesforce/sfdx-lwc-jest), pinned in
# integrations/salesforce/package-lock.json.
if [ ! -x "$here/integrations/salesforce/node_modules/.bin/sfdx-lwc-jest" ]; then
  (cd "$here/integrations/salesforce" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The HubSpot card's test (vitest + @hubspot/ui-extensions/testing) and HubSpot's lint
# (eslint + @hubspot/eslint-config-ui-extensions), pinned in
# integrations/hubspot/src/app/cards/package-lock.json.
if [ ! -x "$here/integrations/hubspot/src/app/cards/node_modules/.bin/vitest" ] ||
  [ ! -d "$here/integrations/hubspot/src/app/cards/node_modules/@hubspot/eslint-config-ui-extensions" ]; then
  (cd "$here/integrations/hubspot/src/app/cards" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
