#!/usr/bin/env bash
# Captures real TLS/HTTP clients on loopback and writes the golden files
# (fingerprint/testdata/golden/*.txtar) with expected values from tools other than our
# Go code: tshark (JA3, decoded fields), read-tls-client-hello (JA4), and
# scripts/oracle/expect.py (the other fingerprints, from tshark's decoded fields).
#
#   scripts/capture-goldens.sh [--out DIR]   regenerate (default fingerprint/testdata/golden)
#   scripts/capture-goldens.sh --check       capture into a temp dir and compare the
#                                            expect-* sections with the committed goldens
#   --keep                                   keep the temp dir (pcap, PDML, raw files)
#   --only REGEX                             only the clients whose golden name matches
#   --pcap FILE                              also copy the loopback capture (pcapng) to FILE,
#                                            the server's key log to FILE.keylog and its
#                                            port to FILE.port
#   --strict                                 fail when a client is missing or did not connect
#                                            (the test suite's live cross-check uses it)
#
# Needs root (tshark on lo) and the tools of scripts/install-deps.sh. See scripts/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$repo/fingerprint/testdata/golden"
check=0
keep=0
strict=0
pcap_out=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --check) check=1; shift ;;
    --keep) keep=1; shift ;;
    --strict) strict=1; shift ;;
    --pcap) pcap_out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "capture-goldens: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

log() { printf 'capture-goldens: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (tshark captures on lo)"
for t in tshark go node python3; do command -v "$t" >/dev/null || die "$t not found: run scripts/install-deps.sh"; done

TMPD=$(mktemp -d /tmp/capture-goldens.XXXXXX)
export TMPD
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ]; then log "kept $TMPD"; else rm -rf "$TMPD"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------
python3 "$here/oracle/expect.py" selftest || die "expect.py selftest failed"
log "building goldencap"
(cd "$repo" && go build -o "$TMPD/goldencap" ./scripts/goldencap)
GOLDENCAP="$TMPD/goldencap"
export GOLDENCAP
if [ ! -d "$here/oracle/node_modules/read-tls-client-hello" ]; then
  log "installing the npm oracle (npm ci in scripts/oracle)"
  (cd "$here/oracle" && npm ci --silent --no-audit --no-fund)
fi
npm_version=$(node -p "require('$here/oracle/node_modules/read-tls-client-hello/package.json').version")
tshark_version=$(tshark --version 2>/dev/null | head -1)

# A free loopback port (bound then released; nothing else runs here).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export PORT
cap="$TMPD/cap"
mkdir -p "$cap"

# --- capture ----------------------------------------------------------------
tshark -i lo -f "tcp port $PORT" -B 64 -w "$TMPD/capture.pcapng" -q >"$TMPD/tshark.out" 2>"$TMPD/tshark.err" &
tshark_pid=$!
pids+=("$tshark_pid")
"$GOLDENCAP" serve --addr "127.0.0.1:$PORT" --out "$cap" --keylog "$TMPD/keylog.txt" 2>"$TMPD/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 100); do
  grep -q "Capturing on" "$TMPD/tshark.err" 2>/dev/null && grep -q listening "$TMPD/serve.log" 2>/dev/null && break
  kill -0 "$tshark_pid" 2>/dev/null || die "tshark exited: $(cat "$TMPD/tshark.err")"
  kill -0 "$serve_pid" 2>/dev/null || die "goldencap exited: $(cat "$TMPD/serve.log")"
  sleep 0.1
done
grep -q "Capturing on" "$TMPD/tshark.err" || die "tshark did not start"
# "Capturing on" can come before packets are really captured: open plain TCP probe
# connections (the server logs them as failed handshakes) until one shows up in the pcap.
captured=0
for _ in $(seq 40); do
  probe=$(python3 -c 'import os, socket; s = socket.create_connection(("127.0.0.1", int(os.environ["PORT"]))); print(s.getsockname()[1]); s.close()')
  sleep 0.25
  if tshark -r "$TMPD/capture.pcapng" -Y "tcp.srcport == $probe" 2>/dev/null | grep -q .; then captured=1; break; fi
done
[ "$captured" -eq 1 ] || die "tshark does not see loopback traffic"
log "server on 127.0.0.1:$PORT, capturing on lo"

conns="$cap/conns.txt"
clients="$TMPD/clients.tsv"
: >"$clients"
skipped=()

n_accepted() { grep -c ' accept ' "$conns" 2>/dev/null || true; }
n_finished() { grep -vc ' accept ' "$conns" 2>/dev/null || true; }

# Wait until every accepted connection has finished its handshake (or failed) and no
# new one arrived for a moment.
settle() {
  local prev=-1 same=0 a f
  for _ in $(seq 100); do
    a=$(n_accepted); f=$(n_finished)
    if [ "$a" = "$f" ] && [ "$a" = "$prev" ]; then
      same=$((same + 1)); [ "$same" -ge 3 ] && return 0
    else
      same=0
    fi
    prev=$a
    sleep 0.05
  done
}

# run_client NAME UNSTABLE_KEYS DESCRIPTION VERSION COMMAND [PICK]
# COMMAND is a bash command line using $PORT and $TMPD; it is stored as written in the
# golden file's comment. PICK is "http" (default: the first connection that carried an
# HTTP request) or "last" (the client's last connection).
run_client() {
  local name=$1 unstable=$2 desc=$3 version=$4 cmd=$5 pick=${6:-http} before after rc=0
  if [ -n "$only" ] && ! [[ "$name" =~ $only ]]; then return 0; fi
  before=$(n_accepted)
  timeout 60 bash -c "$cmd" >"$TMPD/client-$name.out" 2>&1 </dev/null || rc=$?
  settle
  after=$(n_accepted)
  if [ "$after" -le "$before" ]; then
    log "  $name: no connection (exit $rc), skipped; output: $(head -c 300 "$TMPD/client-$name.out" | tr '\n' ' ')"
    skipped+=("$name (no connection: $(head -c 120 "$TMPD/client-$name.out" | tr '\n\t' '  '))")
    return 0
  fi
  [ "$rc" -eq 0 ] || log "  $name: exit $rc (kept: its hello was captured): $(tail -c 200 "$TMPD/client-$name.out" | tr '\n' ' ')"
  local shown=${cmd//\$HTTP1_REQ/$HTTP1_REQ}
  shown=${shown//\$HTTP10_REQ/$HTTP10_REQ}
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$version" "$((before + 1))" "$after" "$unstable" "$desc" "$shown" "$pick" >>"$clients"
  log "  $name: connections $((before + 1))..$after, exit $rc"
}

# Reads a one-line command from stdin (so quotes stay as written).
cmdline() { local c; IFS= read -r -d '' c || true; printf '%s' "${c%$'\n'}"; }

HTTP1_REQ='GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: raw-over-tls\r\nAccept: */*\r\nConnection: close\r\n\r\n'
HTTP10_REQ='GET /old HTTP/1.0\r\nHost: localhost\r\nUser-Agent: raw-over-tls\r\n\r\n'
export HTTP1_REQ HTTP10_REQ
# Keys that change per connection, for the golden's "unstable-keys:" line (KEYS|REASON):
ORDER_KEYS="ja3,ja3_hash,ja4_o,ja4_ro" # order-dependent: the client shuffles its extensions
SHUFFLE_WHY="the client shuffles its extension order per connection"
SET_KEYS="ja3n,ja3n_hash,ja4,ja4_r,peetprint,peetprint_hash" # the set of extensions changes
SET_WHY="the client shuffles its extensions, and whether it adds padding (21) depends on the random length of its GREASE ECH payload"

# curl (OpenSSL)
if command -v curl >/dev/null; then
  cv=$(curl --version | head -1 | awk '{print $2}')
  cmm=$(echo "$cv" | cut -d. -f1,2)
  cver=$(curl --version | head -1 | sed 's/ ([^)]*) / /')
  run_client "curl-$cmm-h2" - "curl $cv, HTTP/2, SNI localhost" "$cver" \
    'curl -sS -k --http2 -o /dev/null https://localhost:$PORT/'
  run_client "curl-$cmm-h1" - "curl $cv, HTTP/1.1 with Cookie, Referer and Accept-Language, SNI localhost" "$cver" \
    "$(cmdline <<'EOF'
curl -sS -k --http1.1 -o /dev/null -H 'Accept-Language: en-US,en;q=0.9' -H 'Referer: https://localhost/start' -H 'Cookie: session=abc123; theme=dark; _ga=GA1.2.3' https://localhost:$PORT/page?q=1
EOF
)"
  run_client "curl-$cmm-h2-nosni" - "curl $cv, HTTP/2 to 127.0.0.1 (no SNI), two requests on one connection with cookies" "$cver" \
    "$(cmdline <<'EOF'
curl -sS -k --http2 -o /dev/null -o /dev/null -H 'Accept-Language: da, en-gb;q=0.8' -H 'Cookie: b=2; a=1; a=0' https://127.0.0.1:$PORT/one https://127.0.0.1:$PORT/two
EOF
)"
  run_client "curl-$cmm-tls12" - "curl $cv, --tls-max 1.2 (TLS 1.2-only hello), HTTP/2" "$cver" \
    'curl -sS -k --tls-max 1.2 -o /dev/null https://localhost:$PORT/'
  run_client "curl-$cmm-curves" - "curl $cv, --curves X25519:P-256:P-384, HTTP/2" "$cver" \
    'curl -sS -k --curves X25519:P-256:P-384 -o /dev/null https://localhost:$PORT/'
  run_client "curl-$cmm-ciphers" - "curl $cv, --ciphers (TLS 1.2 list) and --tls13-ciphers, HTTP/2" "$cver" \
    'curl -sS -k --ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-SHA --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384 -o /dev/null https://localhost:$PORT/'
  run_client "curl-$cmm-no-alpn" - "curl $cv, --no-alpn (no ALPN extension), HTTP/1.1" "$cver" \
    'curl -sS -k --no-alpn -o /dev/null https://localhost:$PORT/'
  run_client "curl-$cmm-tls10" - "curl $cv, TLS 1.0 only (--tlsv1.0 --tls-max 1.0, SECLEVEL=0)" "$cver" \
    'curl -sS -k --tlsv1.0 --tls-max 1.0 --ciphers DEFAULT@SECLEVEL=0 -o /dev/null https://localhost:$PORT/'
else
  skipped+=("curl (not installed)")
fi

# openssl s_client
if command -v openssl >/dev/null; then
  ov=$(openssl version | awk '{print $2}')
  omm=$(echo "$ov" | cut -d. -f1,2)
  over=$(openssl version)
  run_client "openssl-$omm-tls13" - "openssl s_client $ov, TLS 1.3 default, no ALPN, raw HTTP/1.1 request" "$over" \
    'printf "$HTTP1_REQ" | openssl s_client -connect 127.0.0.1:$PORT -servername localhost -quiet -ign_eof'
  run_client "openssl-$omm-tls12" - "openssl s_client $ov, -tls1_2 -alpn http/1.1, raw HTTP/1.1 request" "$over" \
    'printf "$HTTP1_REQ" | openssl s_client -connect 127.0.0.1:$PORT -servername localhost -tls1_2 -alpn http/1.1 -quiet -ign_eof'
  run_client "openssl-$omm-tls11" - "openssl s_client $ov, -tls1_1 -cipher DEFAULT@SECLEVEL=0, raw HTTP/1.0 request" "$over" \
    'printf "$HTTP10_REQ" | openssl s_client -connect 127.0.0.1:$PORT -servername localhost -tls1_1 -cipher DEFAULT@SECLEVEL=0 -quiet -ign_eof'
  run_client "openssl-$omm-tls10" - "openssl s_client $ov, -tls1 -cipher DEFAULT@SECLEVEL=0, no SNI, raw HTTP/1.0 request" "$over" \
    'printf "$HTTP10_REQ" | openssl s_client -connect 127.0.0.1:$PORT -noservername -tls1 -cipher DEFAULT@SECLEVEL=0 -quiet -ign_eof'
  # -max_send_frag 512 with a hello over 512 bytes (long ALPN list, P-521 key share):
  # the ClientHello is spread over two TLS records.
  run_client "openssl-$omm-split" - "openssl s_client $ov, -max_send_frag 512: ClientHello in two TLS records, long ALPN list, raw HTTP/1.0 request" "$over" \
    'printf "$HTTP10_REQ" | openssl s_client -connect 127.0.0.1:$PORT -servername localhost -max_send_frag 512 -groups P-521:X25519 -alpn http/1.1,http/1.0,spdy/3.1,acme-tls/1,imap,pop3,managesieve,ftp,xmpp-client,xmpp-server,coap,mqtt,irc,nntp,nnsp,sunrpc,ntske/1,dot,doq -quiet -ign_eof'
else
  skipped+=("openssl (not installed)")
fi

# gnutls-cli
if command -v gnutls-cli >/dev/null; then
  gv=$(gnutls-cli --version | head -1 | awk '{print $2}')
  gmm=$(echo "$gv" | cut -d. -f1,2)
  run_client "gnutls-cli-$gmm" - "gnutls-cli $gv, ALPN http/1.1, raw HTTP/1.1 request" "gnutls-cli $gv" \
    '(printf "$HTTP1_REQ"; sleep 1) | gnutls-cli --insecure --sni-hostname localhost --alpn http/1.1 --port $PORT 127.0.0.1'
else
  skipped+=("gnutls-cli (not installed)")
fi

# wget2 (GnuTLS, nghttp2)
if command -v wget2 >/dev/null; then
  wv=$(wget2 --version | head -1 | awk '{print $3}')
  wmm=$(echo "$wv" | cut -d. -f1,2)
  run_client "wget2-$wmm" - "GNU Wget2 $wv (HTTP/2 when negotiated)" "$(wget2 --version | head -1)" \
    'wget2 -q --no-check-certificate --no-ocsp --no-hsts --no-hpkp --no-tcp-fastopen -O /dev/null https://localhost:$PORT/'
else
  skipped+=("wget2 (not installed)")
fi

# nghttp (nghttp2 client: PRIORITY frames)
if command -v nghttp >/dev/null; then
  hv=$(nghttp --version | awk '{print $2}' | cut -d/ -f2)
  hmm=$(echo "$hv" | cut -d. -f1,2)
  run_client "nghttp-$hmm" - "nghttp $hv (nghttp2), extra headers" "$(nghttp --version)" \
    "$(cmdline <<'EOF'
nghttp -n -H 'accept-language: fr-CH, fr;q=0.9' -H 'cookie: id=7; lang=fr' -H 'x-extra: 1' https://localhost:$PORT/nghttp
EOF
)"
else
  skipped+=("nghttp (not installed)")
fi

# node (OpenSSL bundled with node)
nv=$(node --version | sed 's/^v//')
nmaj=$(echo "$nv" | cut -d. -f1)
nver="node $nv openssl $(node -p process.versions.openssl)"
run_client "node-$nmaj-https" - "node $nv https module (HTTP/1.1, no ALPN)" "$nver" \
  "$(cmdline <<'EOF'
node -e 'const r=require("https").get({host:"127.0.0.1",servername:"localhost",port:+process.env.PORT,path:"/node",rejectUnauthorized:false,headers:{"Accept-Language":"en-GB","Cookie":"n=1"}},s=>{s.resume();s.on("end",()=>process.exit(0))});r.on("error",e=>{console.error(e);process.exit(1)})'
EOF
)"
run_client "node-$nmaj-http2" - "node $nv http2 module (HTTP/2)" "$nver" \
  "$(cmdline <<'EOF'
node -e 'const h=require("http2").connect("https://localhost:"+process.env.PORT,{rejectUnauthorized:false});const q=h.request({":path":"/node-h2","accept-language":"ja"});q.resume();q.on("end",()=>h.close());q.end()'
EOF
)"

# Python ssl + http.client
pv=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
pmm=$(echo "$pv" | cut -d. -f1,2)
pver=$(python3 -c 'import ssl, sys; print("Python", sys.version.split()[0], ssl.OPENSSL_VERSION)')
run_client "python-$pmm-http-client" - "Python $pv ssl + http.client (ALPN http/1.1), GET with several cookies then POST" "$pver" \
  "$(cmdline <<'EOF'
python3 -c 'import ssl, http.client, os; c = ssl._create_unverified_context(); c.set_alpn_protocols(["http/1.1"]); h = http.client.HTTPSConnection("localhost", int(os.environ["PORT"]), context=c); h.request("GET", "/py?a=1", headers={"Accept-Language": "de-DE,de;q=0.9", "Cookie": "sid=42; theme=dark; lang=de", "Referer": "https://localhost/"}); h.getresponse().read(); h.request("POST", "/py-form", body="x=1", headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "sid=42"}); h.getresponse().read()'
EOF
)"

# Go crypto/tls through net/http, and every uTLS parrot (goldencap client)
gov=$(go env GOVERSION | sed 's/^go//')
gomm=$(echo "$gov" | cut -d. -f1,2)
utlsv=$(cd "$repo" && go list -m -f '{{.Version}}' github.com/refraction-networking/utls)
run_client "go-$gomm-h2" - "Go $gov crypto/tls + net/http (HTTP/2), two requests" "go$gov" \
  '$GOLDENCAP client --addr 127.0.0.1:$PORT --parrot go'
run_client "go-$gomm-h1" - "Go $gov crypto/tls + net/http with ForceAttemptHTTP2 off (HTTP/1.1), two requests" "go$gov" \
  '$GOLDENCAP client --addr 127.0.0.1:$PORT --parrot go-h1'
while read -r pname pstem porder pset; do
  unst=-
  [ "$porder" = shuffled ] && unst="$ORDER_KEYS|$SHUFFLE_WHY"
  [ "$pset" = varies ] && unst="$ORDER_KEYS,$SET_KEYS|$SET_WHY"
  desc="uTLS $utlsv parrot $pname (Go $gov), then HTTP/2 or HTTP/1.1 by ALPN"
  pick=http
  if [[ "$pname" == *PSK* ]]; then
    # Two connections: the second resumes the first's session, so its hello carries a
    # real pre_shared_key extension (see goldencap's utlsClient).
    desc="$desc; second connection, resuming the first's TLS 1.3 session (pre_shared_key)"
    pick=last
  fi
  run_client "$pstem" "$unst" "$desc" "utls $utlsv go$gov" \
    "\$GOLDENCAP client --addr 127.0.0.1:\$PORT --parrot $pname" "$pick"
done < <("$GOLDENCAP" parrots)

# Headless Chromium
if command -v chromium >/dev/null; then
  chv=$(chromium --version 2>/dev/null | grep -o 'Chromium [0-9.]*' | awk '{print $2}')
  chmaj=$(echo "$chv" | cut -d. -f1)
  run_client "chromium-$chmaj-linux" "$ORDER_KEYS|$SHUFFLE_WHY" "Chromium $chv headless (Debian), --dump-dom" "Chromium $chv" \
    'chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir=$TMPD/chromium --ignore-certificate-errors --dump-dom https://localhost:$PORT/'
else
  skipped+=("chromium (not installed)")
fi

# Firefox ESR (optional: Debian package firefox-esr). Firefox cannot skip certificate
# checks from the command line, so its fresh profile pins goldencap's certificate in
# cert_override.txt, and user.js turns off its background traffic.
if command -v firefox-esr >/dev/null; then
  fv=$(firefox-esr --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)
  fmaj=$(echo "$fv" | cut -d. -f1)
  ffp="$TMPD/firefox-profile"
  mkdir -p "$ffp" "$TMPD/firefox-home"
  certfp=$(openssl x509 -in "$cap/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
  printf '# PSM Certificate Override Settings file\n# This is a generated file!  Do not edit.\nlocalhost:%s:\tOID.2.16.840.1.101.3.4.2.1\t%s\t\n' \
    "$PORT" "$certfp" >"$ffp/cert_override.txt"
  cat >"$ffp/user.js" <<'EOF'
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("app.update.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
EOF
  run_client "firefox-esr-$fmaj-linux" - "Firefox ESR $fv headless (Debian), --screenshot; fresh profile with cert_override.txt for the server's certificate" "Firefox ESR $fv" \
    'HOME=$TMPD/firefox-home firefox-esr --headless --no-remote --profile $TMPD/firefox-profile --screenshot $TMPD/firefox.png https://localhost:$PORT/'
else
  skipped+=("firefox-esr (not installed: Debian package firefox-esr)")
fi

# --- stop the capture ---------------------------------------------------------
settle
sleep 0.5
kill -INT "$tshark_pid" 2>/dev/null || true
wait "$tshark_pid" 2>/dev/null || true
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
pids=()

# --- expected values ----------------------------------------------------------
log "decoding with tshark"
# Decode the server port as TLS: a random port may belong to another
# dissector (seen: a port that Wireshark reads as a binary RPC protocol).
tshark -r "$TMPD/capture.pcapng" -d "tcp.port==$PORT,tls" -o "tls.keylog_file:$TMPD/keylog.txt" -T pdml \
  -Y 'tls.handshake.type == 1 || http.request || http2' >"$TMPD/all.pdml" 2>"$TMPD/tshark-read.err" ||
  die "tshark -r failed: $(cat "$TMPD/tshark-read.err")"
hellos=("$cap"/conn-*.hello.bin)
[ -e "${hellos[0]}" ] || die "no ClientHello captured"
(cd "$here/oracle" && node ja4.js "${hellos[@]}") >"$TMPD/oracle.jsonl"

stage="$TMPD/golden"
log "building expectations (expect.py)"
python3 "$here/oracle/expect.py" build --pdml "$TMPD/all.pdml" --server-port "$PORT" --capdir "$cap" \
  --clients "$clients" --oracle "$TMPD/oracle.jsonl" --tshark-version "$tshark_version" \
  --npm-version "read-tls-client-hello $npm_version" --out "$stage" ||
  die "expect.py cross-checks failed: goldens NOT written (rerun with --keep to inspect $TMPD)"

if [ "${#skipped[@]}" -gt 0 ]; then
  log "skipped:"
  for s in "${skipped[@]}"; do log "  $s"; done
  [ "$strict" -eq 0 ] || die "--strict: ${#skipped[@]} client(s) skipped"
fi

if [ "$check" -eq 1 ]; then
  log "comparing with $out"
  python3 "$here/oracle/expect.py" check --new "$stage" --old "$out"
  exit $?
fi
if [ -n "$pcap_out" ]; then
  cp "$TMPD/capture.pcapng" "$pcap_out"
  cp "$TMPD/keylog.txt" "$pcap_out.keylog"
  echo "$PORT" >"$pcap_out.port"
fi
mkdir -p "$out"
cp "$stage"/*.txtar "$out"/
log "wrote $(ls "$stage"/*.txtar | wc -l) golden files to $out"
