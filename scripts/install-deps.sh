#!/usr/bin/env bash
# Installs the real components the test suite and the golden capture use:
# tshark, the TLS/HTTP clients, Chromium (with its WebDriver, chromium-driver) and
# Firefox ESR, and the npm oracle.
# Idempotent: what is already installed is not fetched again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

packages=(tshark curl openssl gnutls-bin wget2 nghttp2-client chromium chromium-driver firefox-esr ca-certificates git wrk postgresql)
# node/npm and python3 may come from outside Debian (a preinstalled toolchain).
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
command -v python3 >/dev/null || packages+=(python3)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  # tshark asks whether non-root users may capture; answer no, without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm oracle for JA4 (scripts/oracle: its package.json and lock file).
if [ ! -d "$here/oracle/node_modules/read-tls-client-hello" ]; then
  (cd "$here/oracle" && npm ci --silent --no-audit --no-fund)
fi
