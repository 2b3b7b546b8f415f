#!/usr/bin/env bash
# End-to-end matrix of the echo service (cmd/echo) against independent oracles.
#
# Starts the echo on two free loopback ports (HTTPS and plain HTTP) with --keylog,
# captures both ports with tshark on lo, and sends real clients, each saving the echo's
# answer: Go crypto/tls over HTTP/2 and HTTP/1.1 and every uTLS v1.8.2 parrot
# (scripts/echoclients), curl --http1.1, --http2 and h2c --http2-prior-knowledge,
# openssl s_client with a raw HTTP/1.1 request, headless Chromium (--dump-dom) and,
# when installed, headless Firefox ESR.
# Then it stops the capture and runs cmd/echo's TestEndToEndAgainstTshark, which
# compares every answer with tshark's decode of the same connection (JA3, HTTP/2
# SETTINGS, WINDOW_UPDATE, header order; decrypted with the echo's key log) and with
# read-tls-client-hello's JA4 of the ClientHello bytes in the capture.
#
#   scripts/echo-e2e.sh [--keep]   --keep keeps the temp dir (pcap, key log, answers)
#
# Needs root (tshark on lo) and the tools of scripts/install-deps.sh. A missing client
# tool is skipped with a note, except in CI (CI set), where it is a failure. Firefox
# ESR, driven through WebDriver BiDi by echoclients, is optional.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "echo-e2e: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf 'echo-e2e: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (tshark captures on lo)"
for t in tshark go node python3; do command -v "$t" >/dev/null || die "$t not found: run scripts/install-deps.sh"; done
[ -d "$here/oracle/node_modules/read-tls-client-hello" ] ||
  (cd "$here/oracle" && npm ci --silent --no-audit --no-fund)

TMPD=$(mktemp -d -t echo-e2e.XXXXXX)
answers="$TMPD/answers"
mkdir -p "$answers"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ]; then log "kept $TMPD"; else rm -rf "$TMPD"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building cmd/echo and scripts/echoclients"
(cd "$repo" && go build -o "$TMPD/echo" ./cmd/echo && go build -o "$TMPD/echoclients" ./scripts/echoclients)

# Two free loopback ports (bound then released).
read -r HTTPS_PORT HTTP_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()')
printf 'https %s\nhttp %s\n' "$HTTPS_PORT" "$HTTP_PORT" >"$TMPD/ports.txt"

# --- capture and echo ---------------------------------------------------------
tshark -i lo -f "tcp port $HTTPS_PORT or tcp port $HTTP_PORT" -B 64 -w "$TMPD/capture.pcapng" -q \
  >"$TMPD/tshark.out" 2>"$TMPD/tshark.err" &
tshark_pid=$!
pids+=("$tshark_pid")
# The rate limit is raised: every client comes from 127.0.0.1.
"$TMPD/echo" --https-addr "127.0.0.1:$HTTPS_PORT" --http-addr "127.0.0.1:$HTTP_PORT" \
  --keylog "$TMPD/keylog.txt" --rate 10000 --rate-burst 10000 2>"$TMPD/echo.log" &
echo_pid=$!
pids+=("$echo_pid")
for _ in $(seq 100); do
  grep -q "Capturing on" "$TMPD/tshark.err" 2>/dev/null && grep -q "serving plain HTTP" "$TMPD/echo.log" 2>/dev/null && break
  kill -0 "$tshark_pid" 2>/dev/null || die "tshark exited: $(cat "$TMPD/tshark.err")"
  kill -0 "$echo_pid" 2>/dev/null || die "echo exited: $(cat "$TMPD/echo.log")"
  sleep 0.1
done
grep -q "Capturing on" "$TMPD/tshark.err" || die "tshark did not start"
grep -q "serving plain HTTP" "$TMPD/echo.log" || die "echo did not start: $(cat "$TMPD/echo.log")"
# "Capturing on" can come before packets are really captured: open plain TCP probe
# connections to the plain port until one shows up in the pcap.
captured=0
for _ in $(seq 40); do
  probe=$(HTTP_PORT=$HTTP_PORT python3 -c 'import os, socket; s = socket.create_connection(("127.0.0.1", int(os.environ["HTTP_PORT"]))); print(s.getsockname()[1]); s.close()')
  sleep 0.25
  if tshark -r "$TMPD/capture.pcapng" -Y "tcp.srcport == $probe" 2>/dev/null | grep -q .; then captured=1; break; fi
done
[ "$captured" -eq 1 ] || die "tshark does not see loopback traffic"
log "echo on 127.0.0.1:$HTTPS_PORT (HTTPS) and 127.0.0.1:$HTTP_PORT (plain), capturing on lo"

# --- clients ------------------------------------------------------------------
# expected.txt lists every answer the test must find (answers/NAME.json, .html or .http).
expected="$TMPD/expected.txt"
: >"$expected"
failed=()

# need TOOL: whether TOOL is installed; in CI a missing one fails the run.
need() {
  command -v "$1" >/dev/null && return 0
  [ -z "${CI:-}" ] || die "$1 is missing (CI): run scripts/install-deps.sh"
  log "  $1 not installed: its clients are skipped"
  return 1
}

# run_client NAME COMMAND: COMMAND (bash, sees $HTTPS_PORT $HTTP_PORT $TMPD $answers)
# writes the echo's answer to answers/NAME.*; a failure is noted, the run goes on, and
# the test reports the missing answer.
run_client() {
  local name=$1 cmd=$2 rc=0
  echo "$name" >>"$expected"
  HTTPS_PORT=$HTTPS_PORT HTTP_PORT=$HTTP_PORT TMPD=$TMPD answers=$answers \
    timeout 60 bash -c "$cmd" >"$TMPD/client-$name.out" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    log "  $name: exit $rc: $(tail -c 300 "$TMPD/client-$name.out" | tr '\n' ' ')"
  else
    log "  $name: done"
  fi
}

log "Go crypto/tls and every uTLS parrot (scripts/echoclients)"
"$TMPD/echoclients" --list >>"$expected"
"$TMPD/echoclients" --https "127.0.0.1:$HTTPS_PORT" --out "$answers" >"$TMPD/echoclients.out" 2>&1 ||
  { failed+=(echoclients); log "  echoclients: $(grep 'echoclients:' "$TMPD/echoclients.out" | tr '\n' ' ')"; }

if need curl; then
  run_client curl-h1 'curl -sS -k --http1.1 -o "$answers/curl-h1.json" -H "Accept-Language: en-GB, en;q=0.8" -H "X-Order: 1" "https://localhost:$HTTPS_PORT/e2e/curl-h1?q=1"'
  run_client curl-h2 'curl -sS -k --http2 -o "$answers/curl-h2.json" -H "X-Order: 2" "https://localhost:$HTTPS_PORT/e2e/curl-h2"'
  run_client curl-h2c 'curl -sS --http2-prior-knowledge -o "$answers/curl-h2c.json" "http://127.0.0.1:$HTTP_PORT/e2e/curl-h2c"'
fi

if need openssl; then
  # -quiet prints only the application data: the raw HTTP response (chunked).
  run_client openssl-s-client 'printf "GET /e2e/openssl-s-client HTTP/1.1\r\nHost: localhost\r\nUser-Agent: openssl-s_client\r\nAccept: application/json\r\nConnection: close\r\n\r\n" |
    openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost -quiet -ign_eof >"$answers/openssl-s-client.http"'
fi

if need chromium; then
  # A navigation asks for text/html: the echo's page holds the JSON in its <pre>.
  run_client chromium 'chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$TMPD/chromium-profile" --ignore-certificate-errors \
    --ssl-key-log-file="$TMPD/chromium.keylog" --dump-dom "https://localhost:$HTTPS_PORT/e2e/chromium" >"$answers/chromium.html"'
fi

# Firefox ESR (optional, skipped when not installed): it cannot print the page it
# loaded from the command line, so echoclients drives it through WebDriver BiDi on a
# loopback port, in a session that accepts the self-signed certificate, and saves the
# text of the page's <pre>. user.js turns off its background traffic.
if command -v firefox-esr >/dev/null; then
  BIDI_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  ffp="$TMPD/firefox-profile"
  mkdir -p "$ffp" "$TMPD/firefox-home"
  printf 'user_pref("%s", %s);\n' browser.shell.checkDefaultBrowser false datareporting.policy.dataSubmissionEnabled false \
    toolkit.telemetry.reportingpolicy.firstRun false network.captive-portal-service.enabled false \
    network.connectivity-service.enabled false app.update.enabled false browser.safebrowsing.update.enabled false \
    extensions.update.enabled false network.dns.disablePrefetch true network.prefetch-next false >"$ffp/user.js"
  HOME="$TMPD/firefox-home" firefox-esr --headless --no-remote --profile "$ffp" --remote-debugging-port "$BIDI_PORT" \
    >"$TMPD/firefox.out" 2>"$TMPD/firefox.err" </dev/null &
  firefox_pid=$!
  pids+=("$firefox_pid")
  for _ in $(seq 300); do
    grep -q "WebDriver BiDi listening" "$TMPD/firefox.err" 2>/dev/null && break
    kill -0 "$firefox_pid" 2>/dev/null || break
    sleep 0.1
  done
  BIDI_PORT=$BIDI_PORT run_client firefox-esr '"$TMPD/echoclients" --bidi "ws://127.0.0.1:$BIDI_PORT" --name firefox-esr --out "$answers" --page "https://localhost:$HTTPS_PORT/e2e/firefox-esr"'
  kill "$firefox_pid" 2>/dev/null || true
  wait "$firefox_pid" 2>/dev/null || true
else
  log "  firefox-esr not installed (optional): skipped"
fi

# --- stop the capture ---------------------------------------------------------
sleep 0.5
kill -INT "$tshark_pid" 2>/dev/null || true
wait "$tshark_pid" 2>/dev/null || true
kill "$echo_pid" 2>/dev/null || true
wait "$echo_pid" 2>/dev/null || true
pids=()
log "$(wc -l <"$expected") answers expected, $(ls "$answers" | wc -l) saved${failed[*]:+; failed: ${failed[*]}}"

# --- compare with tshark and read-tls-client-hello -----------------------------
log "running TestEndToEndAgainstTshark"
# -v for the closing table (one line per answer and its checks); the per-subtest
# RUN/PASS lines are left out, failures and their diffs are not.
(cd "$repo" && FP_ECHO_E2E_DIR="$TMPD" go test -count=1 -run '^TestEndToEndAgainstTshark$' -v ./cmd/echo) |
  grep -v -e '^=== RUN' -e '^=== NAME' -e '^    --- PASS: TestEndToEndAgainstTshark/'
