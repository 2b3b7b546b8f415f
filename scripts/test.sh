#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the real components
# (scripts/install-deps.sh), then checks formatting and vet, runs every Go
# test with the race detector, replays and briefly runs every fuzzer, runs
# each benchmark once, and cross-checks the fingerprints live against a new
# capture of real clients (tshark and read-tls-client-hello as oracles).
#
#   FUZZTIME=20000x   how long each fuzzer runs (default 20000 executions). A
#                     count, not a duration: Go 1.26's fuzz coordinator can
#                     fail a duration run at its deadline with "context
#                     deadline exceeded" and no crasher (golang/go#75804).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "install components"
bash scripts/install-deps.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './scripts/oracle/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "pebble, the local ACME server TestACME gets echo's certificates from"
pebble_dir=$(mktemp -d)
GOBIN="$pebble_dir" go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1
export FP_PEBBLE="$pebble_dir/pebble"

step "go test -race"
go test -race -count=1 ./...
rm -rf "$pebble_dir"

step "fuzzers (${FUZZTIME:-20000x} each)"
for pkg in ./fingerprint ./analyze ./capture ./web ./profiles; do
  for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    go test "$pkg" -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZTIME:-20000x}"
  done
done

step "benchmarks, one pass each (figures are not asserted)"
go test -run '^$' -bench . -benchtime 1x ./...

step "live cross-check: new capture of real clients, fingerprints against tshark and read-tls-client-hello"
live=$(mktemp -d)
trap 'rm -rf "$live"' EXIT
bash scripts/capture-goldens.sh --strict --out "$live" --pcap "$live/capture.pcapng"
committed=$(ls fingerprint/testdata/golden/*.txtar | wc -l)
fresh=$(ls "$live"/*.txtar | wc -l)
if [ "$fresh" -lt "$committed" ]; then
  echo "live capture produced $fresh goldens, fewer than the $committed committed"; exit 1
fi
FP_GOLDEN_DIR="$live" go test -count=1 -run 'TestGolden' ./fingerprint
FP_LIVE_PCAP="$live/capture.pcapng" go test -count=1 -run 'TestLiveCaptureAgainstTshark' -v ./analyze

step "echo end to end: real clients against a running echo, answers against tshark and read-tls-client-hello"
bash scripts/echo-e2e.sh

step "generated capture: TCP and QUIC hellos against tshark"
go run ./scripts/gencapture -out "$live/generated.pcap" -size 20MB -seed 7
FP_GENERATED_PCAP="$live/generated.pcap" go test -count=1 -run 'TestGeneratedCaptureAgainstTshark' -v ./analyze

step "all passed"
