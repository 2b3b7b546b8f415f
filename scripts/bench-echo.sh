#!/usr/bin/env bash
# The load run of the echo service (cmd/echo) against plain crypto/tls and
# net/http baselines: server CPU per operation, A/B interleaved, median of
# 5 runs each, and memory per idle connection. Method and figures:
# docs/echo-load.md.
#
#   scripts/bench-echo.sh                     # all four measurements, then the table
#   scripts/bench-echo.sh -only keepalive -runs 3    # any flags of "loadecho bench"
#   scripts/bench-echo.sh --profile SCENARIO  # handshake, request or keepalive: CPU
#                                             # profiles of echo and its baseline
#
# Builds cmd/echo, its test binary (TestLoadChild runs echo's serve() for
# the memory figure and the profiles) and scripts/loadecho into a temp dir
# (removed on exit; PROFILE_DIR=DIR keeps the profiles there instead), then
# runs "loadecho bench": each server is a separate process on 127.0.0.1,
# the load runs in loadecho. Progress and per-run figures go to stderr,
# the table to stdout. Missed targets are printed as FAIL; the script exits
# 0 unless the run itself fails. It installs the Debian package wrk when
# missing. About 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench-echo: installing wrk" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== build echo, its test binary and loadecho" >&2
go build -o "$tmp/echo" ./cmd/echo
go test -c -o "$tmp/echo.test" ./cmd/echo
go build -o "$tmp/loadecho" ./scripts/loadecho

if [ "${1:-}" = "--profile" ]; then
  scenario=${2:?"usage: bench-echo.sh --profile handshake|request|keepalive"}
  dir=${PROFILE_DIR:-$tmp}
  mkdir -p "$dir"
  out=$dir/$scenario
  "$tmp/loadecho" profile -echo-test "$tmp/echo.test" -scenario "$scenario" -out "$out" \
    -handshakes 10000 -requests 6000 -wrk-args "-t1 -c16 -d10s"
  [ "$dir" = "$tmp" ] || cp "$tmp/echo.test" "$dir/echo.test" # pprof needs the binary for symbols
  echo "== echo: CPU, cumulative"
  go tool pprof -top -cum -nodecount 60 "$tmp/echo.test" "$out-echo.pprof" 2>/dev/null
  echo "== baseline: CPU, cumulative"
  go tool pprof -top -cum -nodecount 40 "$out-baseline.pprof" 2>/dev/null
  echo "== echo: allocated bytes"
  go tool pprof -sample_index=alloc_space -top -nodecount 30 "$tmp/echo.test" "$out-echo.allocs.pprof" 2>/dev/null
  exit 0
fi

"$tmp/loadecho" bench -echo "$tmp/echo" -echo-test "$tmp/echo.test" "$@"
