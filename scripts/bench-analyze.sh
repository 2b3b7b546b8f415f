#!/usr/bin/env bash
# The load run of "fp analyze" on capture files, against tshark as the
# baseline.
#
#   scripts/bench-analyze.sh [SIZE]      # SIZE defaults to 200MB (units as gencapture -size)
#
# Generates two captures with scripts/gencapture, of SIZE and SIZE/10, in a
# temp dir (removed on exit), builds ./cmd/fp once, then on each file runs 3
# times, alternating:
#
#   tshark -r FILE -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3 > /dev/null
#   fp analyze FILE > /dev/null               (under /usr/bin/time -v)
#
# and prints, per file, the size, the median wall time of each, the speed-up
# (tshark / fp) and fp's peak resident set size, then the RSS ratio of the
# big file to the small one (near 1 when memory does not grow with the file).
# One more, untimed, fp run per file counts its TLS lines against the
# ClientHellos gencapture wrote. A failing fp analyze is reported (its error
# is printed) and the script still exits 0; anything else failing exits 1.
#
# Environment: SEED (default 1) for gencapture, RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-200MB}
seed=${SEED:-1}
runs=${RUNS:-3}

# size/10 with the same unit: "200MB" -> "20MB", "1.5GiB" -> "0.15GiB".
num=${size%%[!0-9.]*}
unit=${size#"$num"}
if [ -z "$num" ]; then
  echo "bench-analyze: size $size: want a number with an optional unit (200MB)" >&2
  exit 1
fi
small=$(awk -v n="$num" 'BEGIN { printf "%g", n / 10 }')$unit

install() { # install the Debian packages $@ (as root, or through sudo)
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench-analyze: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
[ -x /usr/bin/time ] || install time
command -v tshark >/dev/null || install tshark

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== build gencapture and fp" >&2
go build -o "$tmp/gencapture" ./scripts/gencapture
go build -o "$tmp/fp" ./cmd/fp

declare -A hellos
for f in big small; do
  s=$size
  [ "$f" = small ] && s=$small
  echo "== generate $s ($f.pcap)" >&2
  "$tmp/gencapture" -out "$tmp/$f.pcap" -size "$s" -seed "$seed" 2>"$tmp/$f.gen"
  cat "$tmp/$f.gen" >&2
  # "  client hellos: tcp N, quic M (...)"
  hellos[$f]=$(awk '/client hellos:/ { gsub(",", ""); print $4 + $6 }' "$tmp/$f.gen")
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A tshark_med fp_med fp_rss fp_ok fp_lines
for f in big small; do
  file=$tmp/$f.pcap
  t_times=() f_times=() rss=0 ok=ok
  for i in $(seq "$runs"); do
    echo "== $f.pcap run $i/$runs: tshark" >&2
    a=$(now)
    tshark -r "$file" -Y 'tls.handshake.type==1' -T fields -e tls.handshake.ja3 >/dev/null 2>"$tmp/tshark.err" ||
      { echo "bench-analyze: tshark failed:" >&2; cat "$tmp/tshark.err" >&2; exit 1; }
    b=$(now)
    t_times+=("$(elapsed "$a" "$b")")

    echo "== $f.pcap run $i/$runs: fp analyze" >&2
    rc=0
    a=$(now)
    /usr/bin/time -v -o "$tmp/time.txt" "$tmp/fp" analyze "$file" >/dev/null 2>"$tmp/fp.err" || rc=$?
    b=$(now)
    f_times+=("$(elapsed "$a" "$b")")
    r=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt")
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    if [ "$rc" -ne 0 ]; then
      ok="exit $rc"
      echo "bench-analyze: fp analyze $f.pcap exited $rc:" >&2
      head -n 20 "$tmp/fp.err" >&2
    fi
  done
  tshark_med[$f]=$(median "${t_times[@]}")
  fp_med[$f]=$(median "${f_times[@]}")
  fp_rss[$f]=$rss
  fp_ok[$f]=$ok
  # Untimed: what fp found, against what the generator wrote.
  "$tmp/fp" analyze "$file" >"$tmp/fp.out" 2>/dev/null || true
  fp_lines[$f]=$(grep -c '"kind":"tls"' "$tmp/fp.out" || true)
  rm -f "$tmp/fp.out"
done

echo
printf '%-6s %10s %12s %12s %9s %14s %18s %s\n' file "size MB" "tshark s" "fp s" speed-up "fp peak RSS" "hellos fp/written" "fp status"
for f in big small; do
  mb=$(awk -v n="$(stat -c %s "$tmp/$f.pcap")" 'BEGIN { printf "%.1f", n / 1e6 }')
  speedup=$(awk -v t="${tshark_med[$f]}" -v p="${fp_med[$f]}" 'BEGIN { if (p > 0) printf "%.1fx", t / p; else print "-" }')
  rssmb=$(awk -v k="${fp_rss[$f]}" 'BEGIN { printf "%.1f MB", k / 1024 }')
  printf '%-6s %10s %12s %12s %9s %14s %18s %s\n' "$f" "$mb" "${tshark_med[$f]}" "${fp_med[$f]}" "$speedup" "$rssmb" \
    "${fp_lines[$f]}/${hellos[$f]}" "${fp_ok[$f]}"
done
awk -v b="${fp_rss[big]}" -v s="${fp_rss[small]}" \
  'BEGIN { if (s > 0) printf "fp peak RSS big/small: %.2f (file size ratio about 10)\n", b / s }'
echo "(medians of $runs runs, wall seconds; tshark: -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3; hellos: TCP and QUIC)"
