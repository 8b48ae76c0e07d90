#!/usr/bin/env bash
# Bounded load test of outbound delivery: posthorn's queue delivering to
# Postfix's smtp-sink on loopback, at queue concurrency 8 and 32; 3 runs,
# medians. See bench/outbound/main.go and bench/README.md.
#
#   bench/run.sh --outbound [--quick] [--runs N] [--messages N]
# $BENCH_OUT, when set, is the working directory (bench/run.sh sets it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
N=2000 RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) N=300 RUNS=1 ;;
    --runs) RUNS=$2; shift ;;
    --messages) N=$2; shift ;;
    *) echo "usage: $0 [--quick] [--runs N] [--messages N]" >&2; exit 2 ;;
  esac
  shift
done
[ -x /usr/sbin/smtp-sink ] || { echo "bench: needs Postfix's smtp-sink (apt-get install postfix)" >&2; exit 1; }
OUT=${BENCH_OUT:-$(mktemp -d /tmp/posthorn-outbound-XXXXXX)}
mkdir -p "$OUT"
echo "bench: working in $OUT"
go build -o "$OUT/posthorn" ./cmd/posthorn
go build -o "$OUT/outbound" ./bench/outbound
"$OUT/outbound" -posthorn "$OUT/posthorn" -dir "$OUT" -n "$N" -runs "$RUNS" -levels 8,32 | tee "$OUT/results.jsonl"
