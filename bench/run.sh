#!/usr/bin/env bash
# Bounded load test of SMTP inbound into the mailbox: messages/s accepted
# and stored, and latency per message, at concurrency 1, 8 and 32, for
# posthorn and (when installed, as root) Debian's Postfix delivering to a
# Maildir, on loopback in the same run. Nothing leaves the machine: both
# servers only ever see loopback clients and deliver locally.
#
#   bench/run.sh [--quick] [--runs N] [--no-postfix]
#   bench/run.sh --imap [--quick] [--runs N] [--messages N]
#   bench/run.sh --outbound [--quick] [--runs N] [--messages N]
#
# --imap runs the IMAP benchmark instead (bench/imap/run.sh: posthorn vs
# Dovecot on a mailbox of 10,000 messages by default).
# --outbound runs the outbound delivery benchmark instead (bench/outbound:
# posthorn's queue to Postfix's smtp-sink at concurrency 8 and 32).
#
# --quick: 300 messages per level, one run (a smoke test of the harness).
# Default: 2,000 messages of 4 KiB per level (each level stops after 60 s),
# 3 runs, then the medians. JSON lines go to $OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

for a in "$@"; do
  if [ "$a" = --outbound ]; then
    args=()
    for b in "$@"; do [ "$b" = --outbound ] || args+=("$b"); done
    exec bench/outbound/run.sh "${args[@]}"
  fi
  if [ "$a" = --imap ]; then
    args=()
    for b in "$@"; do [ "$b" = --imap ] || args+=("$b"); done
    exec bench/imap/run.sh "${args[@]}"
  fi
done

N=2000 RUNS=3 POSTFIX=1 LEVELS=1,8,32 SIZE=4096 MAX=60s
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) N=300 RUNS=1 ;;
    --runs) RUNS=$2; shift ;;
    --no-postfix) POSTFIX=0 ;;
    *) echo "usage: $0 [--quick] [--runs N] [--no-postfix]" >&2; exit 2 ;;
  esac
  shift
done

OUT=$(mktemp -d /tmp/posthorn-bench-XXXXXX)
chmod 755 "$OUT"
echo "bench: working in $OUT"
go build -o "$OUT/posthorn" ./cmd/posthorn
go build -o "$OUT/testdns" ./internal/dns/dnstest/testdns
go build -o "$OUT/smtpload" ./bench/smtpload

. bench/lib.sh

PH_PID="" PF_DIR=""
cleanup() {
  [ -n "${DNS_PID:-}" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null || true
  [ -n "$PH_PID" ] && kill "$PH_PID" 2>/dev/null && wait "$PH_PID" 2>/dev/null || true
  if [ -n "$PF_DIR" ]; then
    pid=$(cat "$PF_DIR/queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
    /usr/sbin/postfix -c "$PF_DIR" stop >/dev/null 2>&1 || true
    for _ in $(seq 100); do [ -n "$pid" ] && [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
}
trap cleanup EXIT

# ---- posthorn: a fresh "posthorn init", listeners on free loopback ports.
SMTP_PORT=$(freeport) HTTP_PORT=$(freeport)
start_testdns
"$OUT/posthorn" init --dir "$OUT/ph" --domain example.com --hostname mail.example.com >/dev/null
sed -i -e "s/^servers = .*/servers = [\"127.0.0.1:$DNS_PORT\"]/" -e 's/^user = .*/user = ""/' -e 's/^allow_root = .*/allow_root = true/' \
  -e "s/^smtp = .*/smtp = [\"127.0.0.1:$SMTP_PORT\"]/" -e 's/^submission = .*/submission = []/' \
  -e 's/^submissions = .*/submissions = []/' -e 's/^imap = .*/imap = []/' -e 's/^imaps = .*/imaps = []/' \
  -e "s/^http = .*/http = [\"127.0.0.1:$HTTP_PORT\"]/" -e 's/^https = .*/https = []/' \
  -e 's/^greet_delay = .*/greet_delay = "0s"/' -e 's/^level = .*/level = "warn"/' \
  "$OUT/ph/posthorn.toml"
echo "bench-password-1" | "$OUT/posthorn" user add bob@example.com --password-stdin --config "$OUT/ph/posthorn.toml" >/dev/null
"$OUT/posthorn" serve --config "$OUT/ph/posthorn.toml" 2>"$OUT/posthorn.log" &
PH_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# ---- Postfix → Maildir (virtual delivery), its smtpd on 127.0.0.2.
PF_PORT=""
if [ "$POSTFIX" = 1 ] && [ -x /usr/sbin/postfix ] && [ "$(id -u)" = 0 ]; then
  PF_DIR="$OUT/postfix" PF_PORT=$(freeport)
  mkdir -p "$PF_DIR/queue" "$PF_DIR/vmail"
  chown postfix "$PF_DIR/vmail"
  uid=$(id -u postfix) gid=$(id -g postfix)
  cat > "$PF_DIR/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.bench.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = example.com
virtual_mailbox_base = $PF_DIR/vmail
virtual_mailbox_maps = inline:{ {bob@example.com = bob/} }
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
CF
  cat > "$PF_DIR/master.cf" <<CF
127.0.0.2:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
  /usr/sbin/postfix -c "$PF_DIR" start >/dev/null 2>&1 || { echo "postfix did not start:"; cat "$PF_DIR/maillog"; exit 1; }
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.2/$PF_PORT") 2>/dev/null && break; sleep 0.1; done
else
  echo "bench: Postfix comparison skipped (needs /usr/sbin/postfix and root; --no-postfix)"
fi

RES="$OUT/results.jsonl"
IFS=, read -ra levels <<<"$LEVELS"
for run in $(seq "$RUNS"); do
  for c in "${levels[@]}"; do
    "$OUT/smtpload" -addr "127.0.0.1:$SMTP_PORT" -to bob@example.com -c "$c" -n "$N" -size "$SIZE" -max "$MAX" \
      -label posthorn | grep '^{' | tee -a "$RES"
    if [ -n "$PF_PORT" ]; then
      "$OUT/smtpload" -addr "127.0.0.2:$PF_PORT" -to bob@example.com -c "$c" -n "$N" -size "$SIZE" -max "$MAX" \
        -label postfix -maildir "$PF_DIR/vmail/bob" | grep '^{' | tee -a "$RES"
    fi
  done
done

# Every accepted message is in posthorn's store.
kill "$PH_PID"; wait "$PH_PID" || true; PH_PID=""
stored=$("$OUT/smtpload" -count-store "$OUT/ph/data/store" -account bob@example.com)
accepted=$(grep '"label":"posthorn"' "$RES" | sed 's/.*"accepted":\([0-9]*\).*/\1/' | awk '{s+=$1} END {print s+0}')
echo "posthorn: $accepted accepted, $stored in the store"
[ "$stored" = "$accepted" ] || { echo "bench: MISMATCH: accepted messages missing from the store" >&2; exit 1; }

echo
"$OUT/smtpload" -summarize "$RES"
echo "(4 KiB messages, one connection per message; stored/s: posthorn answers 250 only after the"
echo " message is durable; Postfix's rate is until its Maildir holds every accepted message)"
