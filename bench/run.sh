#!/usr/bin/env bash
# posthorn against Debian's Postfix and Dovecot on this machine, on loopback
# only, in one bounded run (see bench/README.md):
#
#   bench/run.sh [--quick] [--runs N] [PARTS...] [OPTIONS...]
#
# Parts (default: all of them, in this order):
#   --machine   this machine's limits: fsync rate (1 and 8 threads),
#               sequential write, loopback TCP (bench/machine)
#   --startup   posthorn's startup time (median of 5), idle RSS, binary size
#   --inbound   SMTP inbound into the mailbox, durable: posthorn (SPF, DKIM,
#               DMARC and iprev verified against a loopback DNS server),
#               Postfix → Maildir and Postfix → Dovecot LMTP
#   --outbound  posthorn's queue to Postfix's smtp-sink (bench/outbound)
#   --imap      posthorn vs Dovecot on mailboxes of 10,000 and 100,000
#               messages (bench/imap)
# Options:
#   --quick            small counts, one run (a smoke test, a few minutes)
#   --runs N           repetitions of every measurement (default 3)
#   --messages N       inbound 4 KiB messages per level (default 20000)
#   --large N          inbound 100 KiB messages per level (default 2000)
#   --levels L         inbound concurrency levels (default 1,8,32)
#   --max DUR          inbound: longest a level may send (default 120s)
#   --store-max DUR    inbound: longest wait for a peer's Maildir after that
#                      (default 600s; a run cut short is flagged, not fatal)
#   --imap-sizes L     IMAP mailbox sizes (default 10000,100000)
#   --outbound-messages N   (default 2000)
#   --no-peers         posthorn only
#
# Installs postfix, dovecot-imapd and dovecot-lmtpd when missing (as root;
# BENCH_DRY_INSTALL=1 only prints the commands). Every server it starts is
# stopped by its PID or by its own stop command ("postfix -c DIR stop").
# Results: $OUT/results.jsonl (JSON lines, every run) and $OUT/summary.txt
# (the tables of medians, also printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# Backwards compatible: "--imap" or "--outbound" alone still works (as parts).
PARTS=() RUNS=3 N4=20000 N100=2000 LEVELS=1,8,32 MAX=120s STORE_MAX=600s IMAP_SIZES=10000,100000 OUT_N=2000 PEERS=1 QUICK=0 MSECS=3 WMIB=512
usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --machine | --startup | --inbound | --outbound | --imap) PARTS+=("${1#--}") ;;
    --quick) QUICK=1 RUNS=1 N4=500 N100=100 IMAP_SIZES=1000 OUT_N=300 MSECS=1 WMIB=128 ;;
    --runs) RUNS=$2; shift ;;
    --messages) N4=$2; shift ;;
    --large) N100=$2; shift ;;
    --levels) LEVELS=$2; shift ;;
    --max) MAX=$2; shift ;;
    --store-max) STORE_MAX=$2; shift ;;
    --imap-sizes) IMAP_SIZES=$2; shift ;;
    --outbound-messages) OUT_N=$2; shift ;;
    --no-peers | --no-postfix) PEERS=0 ;;
    *) usage ;;
  esac
  shift
done
[ ${#PARTS[@]} -gt 0 ] || PARTS=(machine startup inbound outbound imap)
want() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }

OUT=$(mktemp -d /tmp/posthorn-bench-XXXXXX)
chmod 755 "$OUT"
RES="$OUT/results.jsonl"
: >"$RES"
T0=$SECONDS
echo "bench: working in $OUT; parts: ${PARTS[*]}; runs: $RUNS"
go build -o "$OUT/posthorn" ./cmd/posthorn
go build -o "$OUT/testdns" ./internal/dns/dnstest/testdns
go build -o "$OUT/smtpload" ./bench/smtpload
go build -o "$OUT/machine" ./bench/machine

. bench/lib.sh

if [ "$PEERS" = 1 ] && ! ensure_packages; then
  echo "bench: Postfix and Dovecot not available: posthorn only" >&2
  PEERS=0
fi
[ "$PEERS" = 1 ] && [ "$(id -u)" != 0 ] && { echo "bench: the peers need root: posthorn only" >&2; PEERS=0; }

# ------------------------------------------------------------ cleanup
PH_PID="" PF_DIRS=() DV_PID="" CGROUPS=()
stop_posthorn() {
  [ -n "$PH_PID" ] || return 0
  kill "$PH_PID" 2>/dev/null || true
  wait "$PH_PID" 2>/dev/null || true
  PH_PID=""
}
cleanup() {
  set +e
  stop_posthorn
  for d in "${PF_DIRS[@]}"; do
    pid=$(tr -d ' ' <"$d/queue/pid/master.pid" 2>/dev/null)
    /usr/sbin/postfix -c "$d" stop >/dev/null 2>&1
    for _ in $(seq 100); do [ -n "$pid" ] && [ -d "/proc/$pid" ] || break; sleep 0.1; done
  done
  if [ -n "$DV_PID" ]; then
    kill "$DV_PID" 2>/dev/null
    for _ in $(seq 100); do [ -d "/proc/$DV_PID" ] || break; sleep 0.1; done
  fi
  [ -n "${DNS_PID:-}" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
  for cg in "${CGROUPS[@]}"; do
    for _ in $(seq 50); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done
    cg_remove "$cg"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs

# ------------------------------------------------------------ machine limits
part_machine() {
  echo "== machine limits (fsync, sequential write, loopback TCP)"
  for run in $(seq "$RUNS"); do
    "$OUT/machine" -dir "$OUT" -seconds "$MSECS" -write-mib "$WMIB" | tee -a "$RES"
  done
}

# ------------------------------------------------------------ startup, idle RSS, size
part_startup() {
  echo "== posthorn startup time, idle RSS, binary size"
  [ -n "${DNS_PID:-}" ] || start_testdns
  for i in $(seq 5); do
    local d="$OUT/start$i" sp hp
    sp=$(freeport) hp=$(freeport)
    "$OUT/posthorn" init --dir "$d" --data-dir "$d/data" --domain example.com --hostname mail.example.com >/dev/null
    posthorn_config "$d" "$sp" "$hp"
    "$OUT/machine" -startup -smtp "127.0.0.1:$sp" -health "http://127.0.0.1:$hp/healthz" -idle 2s \
      -- "$OUT/posthorn" serve --config "$d/posthorn.toml" | tee -a "$RES"
    rm -rf "$d"
  done
  go build -ldflags="-s -w" -o "$OUT/posthorn-stripped" ./cmd/posthorn
  for f in posthorn posthorn-stripped; do
    printf '{"kind":"size","name":"%s","value":%s,"unit":"MiB","detail":"go build%s ./cmd/posthorn"}\n' \
      "$f" "$(stat -c %s "$OUT/$f" | awk '{printf "%.2f", $1/1048576}')" \
      "$([ $f = posthorn-stripped ] && echo ' -ldflags=-s -w')" | tee -a "$RES"
  done
}

# ------------------------------------------------------------ SMTP inbound
# postfix_instance DIR IP PORT TRANSPORT CGROUP: a Postfix with its own
# configuration directory, its smtpd on IP:PORT, delivering
# bob@example.com with TRANSPORT (virtual: to DIR/vmail/bob, a Maildir; or
# lmtp:unix:PATH), trusting loopback for XCLIENT, started in CGROUP.
postfix_instance() {
  local dir=$1 ip=$2 port=$3 transport=$4 cg=$5 uid gid
  mkdir -p "$dir/queue" "$dir/vmail"
  chown postfix "$dir/vmail"
  uid=$(id -u postfix) gid=$(id -g postfix)
  cat >"$dir/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
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
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.com
virtual_mailbox_base = $dir/vmail
virtual_mailbox_maps = inline:{ {bob@example.com = bob/} }
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_transport = $transport
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
CF
  cat >"$dir/master.cf" <<CF
$ip:$port inet n - n - - smtpd
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
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
  PF_DIRS+=("$dir")
  (in_cgroup "$cg" /usr/sbin/postfix -c "$dir" start >"$dir/start.log" 2>&1) || {
    echo "bench: postfix -c $dir did not start (its fatal errors go to syslog; try postfix -c $dir check):" >&2
    cat "$dir/start.log" "$dir/maillog" >&2 2>/dev/null
    return 1
  }
  wait_tcp "$ip" "$port" || { echo "bench: postfix smtpd not listening on $ip:$port" >&2; return 1; }
}

# dovecot_lmtp DIR CGROUP: a Dovecot with its own base_dir serving LMTP on
# DIR/run/lmtp, delivering bob@example.com (passwd-file userdb) to the
# Maildir DIR/mail/bob; sets DV_PID (its master).
dovecot_lmtp() {
  local dv=$1 cg=$2
  id vmail >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vmail
  mkdir -p "$dv/mail/bob"
  chown -R vmail:vmail "$dv/mail"
  echo "bob@example.com:{PLAIN}pass:$(id -u vmail):$(id -g vmail)::$dv/mail/bob::" >"$dv/users"
  cat >"$dv/dovecot.conf" <<CONF
base_dir = $dv/run
state_dir = $dv/state
instance_name = posthorn-bench-lmtp
listen = 127.0.0.1
protocols = lmtp
ssl = no
mail_location = maildir:$dv/mail/%n
first_valid_uid = 1
log_path = $dv/dovecot.log
passdb {
  driver = passwd-file
  args = $dv/users
}
userdb {
  driver = passwd-file
  args = $dv/users
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
CONF
  (in_cgroup "$cg" /usr/sbin/dovecot -c "$dv/dovecot.conf") || { cat "$dv/dovecot.log" >&2; return 1; }
  for _ in $(seq 100); do [ -S "$dv/run/lmtp" ] && [ -s "$dv/run/master.pid" ] && break; sleep 0.1; done
  DV_PID=$(cat "$dv/run/master.pid")
}

# clear_maildir DIR deletes the delivered files (between runs, untimed), so
# counting them stays cheap, and Dovecot's index and uidlist files with
# them: left behind, they describe tens of thousands of vanished messages
# and slowed every later LMTP run (stored msgs/s 300 → 71 over three runs).
clear_maildir() {
  find "$1/new" "$1/cur" -type f -delete 2>/dev/null || true
  find "$1" -maxdepth 1 -type f -name 'dovecot*' -delete 2>/dev/null || true
}

part_inbound() {
  echo "== SMTP inbound: ${N4} × 4 KiB and ${N100} × 100 KiB per level, concurrency $LEVELS, $RUNS run(s)"
  local cg_ph cg_pf cg_pd
  cg_ph=$(cg_create "posthorn-bench-$$-ph")
  [ -n "$cg_ph" ] && CGROUPS+=("$cg_ph")
  "$OUT/smtpload" -setup-auth "$OUT"
  [ -n "${DNS_PID:-}" ] && { kill "$DNS_PID"; wait "$DNS_PID" 2>/dev/null || true; }
  start_testdns "$OUT/zone-auth.txt"

  local sp hp ph="$OUT/ph"
  sp=$(freeport) hp=$(freeport)
  "$OUT/posthorn" init --dir "$ph" --data-dir "$ph/data" --domain example.com --hostname mail.example.com >/dev/null
  posthorn_config "$ph" "$sp" "$hp"
  echo "bench-password-1" | "$OUT/posthorn" user add bob@example.com --password-stdin --config "$ph/posthorn.toml" >/dev/null
  start_ph() {
    in_cgroup "$cg_ph" "$OUT/posthorn" serve --config "$ph/posthorn.toml" 2>>"$OUT/posthorn.log" &
    PH_PID=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$hp/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  }
  # One signed message from a presented client first: posthorn must record
  # spf=pass, dkim=pass and dmarc=pass, or the benchmark measures the wrong
  # thing.
  start_ph
  "$OUT/smtpload" -addr "127.0.0.1:$sp" -xclient -dkim-key "$OUT/dkim.pem" -c 1 -n 1 -label probe >/dev/null
  stop_posthorn
  "$OUT/smtpload" -check-auth "$ph/data/store" -account bob@example.com ||
    { echo "bench: FAILED: posthorn did not verify SPF, DKIM and DMARC as passing (see above)" >&2; exit 1; }
  start_ph

  local servers=(posthorn) pf1="$OUT/postfix-maildir" pf2="$OUT/postfix-lmtp" dv="$OUT/dovecot-lmtp" p1 p2
  declare -A addr maildir cg
  addr[posthorn]="127.0.0.1:$sp" maildir[posthorn]="" cg[posthorn]=$cg_ph
  if [ "$PEERS" = 1 ]; then
    cg_pf=$(cg_create "posthorn-bench-$$-pf")
    cg_pd=$(cg_create "posthorn-bench-$$-pd")
    [ -n "$cg_pf" ] && CGROUPS+=("$cg_pf" "$cg_pd")
    p1=$(freeport) p2=$(freeport)
    postfix_instance "$pf1" 127.0.0.2 "$p1" virtual "$cg_pf"
    dovecot_lmtp "$dv" "$cg_pd"
    postfix_instance "$pf2" 127.0.0.3 "$p2" "lmtp:unix:$dv/run/lmtp" "$cg_pd"
    servers+=(postfix-maildir postfix-dovecot)
    addr[postfix-maildir]="127.0.0.2:$p1" maildir[postfix-maildir]="$pf1/vmail/bob" cg[postfix-maildir]=$cg_pf
    addr[postfix-dovecot]="127.0.0.3:$p2" maildir[postfix-dovecot]="$dv/mail/bob" cg[postfix-dovecot]=$cg_pd
  fi
  local pids=()
  [ -n "$cg_ph" ] || echo "bench: no cgroup v1 cpuacct: CPU is summed over each server's process tree" >&2

  local run size n c i s k
  IFS=, read -ra levels <<<"$LEVELS"
  for run in $(seq "$RUNS"); do
    for size in 4096 102400; do
      n=$N4
      [ "$size" = 102400 ] && n=$N100
      for c in "${levels[@]}"; do
        # A B C, starting one further on each run.
        for k in $(seq 0 $((${#servers[@]} - 1))); do
          s=${servers[$(((k + run - 1) % ${#servers[@]}))]}
          local meter=(-cgroup "${cg[$s]}")
          if [ -z "${cg[$s]}" ]; then
            case $s in
              posthorn) meter=(-pid "$PH_PID") ;;
              postfix-maildir) meter=(-pid "$(tr -d ' ' <"$pf1/queue/pid/master.pid")") ;;
              postfix-dovecot) meter=(-pid "$(tr -d ' ' <"$pf2/queue/pid/master.pid")") ;; # Dovecot not included
            esac
          fi
          local md=()
          if [ -n "${maildir[$s]}" ]; then
            clear_maildir "${maildir[$s]}"
            md=(-maildir "${maildir[$s]}")
          fi
          "$OUT/smtpload" -addr "${addr[$s]}" -xclient -dkim-key "$OUT/dkim.pem" -to bob@example.com \
            -c "$c" -n "$n" -size "$size" -max "$MAX" -store-max "$STORE_MAX" -keep-going \
            -label "$s" -run "$run" "${meter[@]}" "${md[@]}" |
            grep '^{' | tee -a "$RES" || { echo "bench: FAILED: $s c=$c size=$size" >&2; exit 1; }
        done
      done
    done
  done

  # Every accepted message (and the probe) is in posthorn's store.
  stop_posthorn
  local stored accepted
  stored=$("$OUT/smtpload" -count-store "$ph/data/store" -account bob@example.com)
  accepted=$(grep '"kind":"inbound","label":"posthorn"' "$RES" | sed 's/.*"accepted":\([0-9]*\).*/\1/' | awk '{s+=$1} END {print s+1}')
  echo "posthorn: $accepted accepted (with the probe), $stored in the store"
  [ "$stored" = "$accepted" ] || { echo "bench: MISMATCH: accepted messages missing from the store" >&2; exit 1; }
  "$OUT/smtpload" -check-auth "$ph/data/store" -account bob@example.com
  rm -rf "$ph/data" # gigabytes after a full run
}

# ------------------------------------------------------------ outbound, IMAP
part_outbound() {
  echo "== outbound: posthorn's queue to smtp-sink, $OUT_N messages, concurrency 8 and 32"
  if [ ! -x /usr/sbin/smtp-sink ]; then
    echo "bench: outbound skipped: no /usr/sbin/smtp-sink (postfix)" >&2
    return 0
  fi
  BENCH_OUT="$OUT/outbound" bench/outbound/run.sh --runs "$RUNS" --messages "$OUT_N" ||
    { echo "bench: FAILED: outbound" >&2; FAILED+=(outbound); return 0; }
  grep '^{' "$OUT/outbound/results.jsonl" | sed 's/^{/{"kind":"outbound",/' >>"$RES"
}

part_imap() {
  local n
  IFS=, read -ra sizes <<<"$IMAP_SIZES"
  for n in "${sizes[@]}"; do
    echo "== IMAP: mailbox of $n messages"
    BENCH_OUT="$OUT/imap-$n" bench/imap/run.sh --runs "$RUNS" --messages "$n" ||
      { echo "bench: FAILED: IMAP with $n messages" >&2; FAILED+=("imap-$n"); continue; }
    sed 's/^{/{"kind":"imap",/' "$OUT/imap-$n/imap.jsonl" >>"$RES"
    rm -rf "$OUT/imap-$n/ph/data" "$OUT/imap-$n/dovecot/mail"
  done
}

FAILED=()
for p in machine startup inbound outbound imap; do
  want "$p" || continue
  S0=$SECONDS
  "part_$p"
  echo "bench: $p took $((SECONDS - S0)) s"
done

# ------------------------------------------------------------ summary
{
  echo "posthorn benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "parts: ${PARTS[*]}; runs: $RUNS; wall time $((SECONDS - T0)) s; JSON lines: $RES"
  if want machine || want startup; then "$OUT/machine" -summarize "$RES"; fi
  if want inbound; then
    "$OUT/smtpload" -summarize "$RES"
    echo "posthorn verifies SPF, DKIM (RSA-2048), DMARC and iprev on every message (clients presented with XCLIENT);"
    echo "Postfix checks none of these. stored msgs/s: posthorn answers 250 only after the message is durable;"
    echo "the peers' rate runs until their Maildir holds every accepted message."
    echo "CPU: $(grep -m1 -o '"cpu_source":"[^"]*"' "$RES" | cut -d'"' -f4) (all processes of each server, incl. Dovecot for postfix-dovecot)"
  fi
  if want outbound && [ -f "$OUT/outbound/results.jsonl" ]; then
    echo
    echo "Outbound: posthorn's queue to Postfix's smtp-sink (medians)"
    sed -n '/^# medians/,$p' "$OUT/outbound/results.jsonl" | grep -v '^#'
  fi
  if want imap; then
    IFS=, read -ra sizes <<<"$IMAP_SIZES"
    for n in "${sizes[@]}"; do
      [ -s "$OUT/imap-$n/imap.jsonl" ] || continue
      echo
      "$OUT/imap-$n/imapbench" -summarize "$OUT/imap-$n/imap.jsonl"
    done
  fi
} >"$OUT/summary.txt"
echo
cat "$OUT/summary.txt"
echo "(summary: $OUT/summary.txt; JSON lines: $RES)"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "bench: FAILED parts: ${FAILED[*]}" >&2
  exit 1
fi
