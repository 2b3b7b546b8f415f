#!/usr/bin/env bash
# The storage issue's documented load runs, against a real PostgreSQL with
# fsync on (PostgreSQL's defaults unless "-c name=value" says otherwise):
#
#  1. sustained ingest: Chromium-sized visits (the chromium-156-linux golden's
#     hello and HTTP/2 preface, a real Chrome's header lists per context, the
#     page's JavaScript values) built, derived, redacted and enqueued at a fixed
#     rate on a storage.Writer for 60 s; observations written a second, drops,
#     batch latency, the database's CPU;
#  2. the page under load while the database is stopped: a page server
#     (observation per request, Enqueue, a 2 kB HTML answer) under an
#     open-loop load; run A with the database up, run B with it stopped
#     (pg_ctl stop -m fast) 5 s in and started 10 s later, interleaved;
#     failed requests, p99 of B against A, the Writer's counts.
#
#   scripts/bench-storage.sh                       # both, then the table
#   scripts/bench-storage.sh -rounds 3 -page-rate 2000   # any flags of "loadstore bench"
#   scripts/bench-storage.sh -statements -cpuprofile ingest.pprof   # where the time goes
#
# Builds scripts/loadstore into a temp dir (removed on exit) and runs
# "loadstore bench": it starts a PostgreSQL cluster of its own (initdb and
# pg_ctl on a temporary directory and a free loopback port; as root through
# runuser -u postgres) and removes it at the end. Progress goes to stderr,
# the table to stdout. Exit status 2 when a target is missed, 1 when the run
# itself fails. About 5 minutes on 2 cores. Method and figures:
# docs/storage-load.md. Needs the postgresql package (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== build loadstore" >&2
go build -o "$tmp/loadstore" ./scripts/loadstore

"$tmp/loadstore" bench "$@"
