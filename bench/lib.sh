# Shared by bench/run.sh and bench/imap/run.sh; source it after setting OUT.

# freeport prints a free TCP port on 127.0.0.1.
freeport() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_testdns [ZONEFILE...] starts the loopback test DNS server posthorn
# resolves through, so no query leaves the machine (unknown names are
# NXDOMAIN at once); it serves example.com's MX and A plus the zone files
# given, and sets DNS_PORT and DNS_PID. Needs "$OUT/testdns".
start_testdns() {
  DNS_PORT=$(freeport)
  printf 'example.com. 300 IN MX 10 mail.example.com.\nmail.example.com. 300 IN A 127.0.0.1\n' >"$OUT/zone.txt"
  "$OUT/testdns" -listen "127.0.0.1:$DNS_PORT" "$OUT/zone.txt" "$@" >"$OUT/testdns.log" 2>&1 &
  DNS_PID=$!
  for _ in $(seq 50); do grep -q listening "$OUT/testdns.log" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$OUT/testdns.log" || { echo "bench: testdns did not start:" >&2; cat "$OUT/testdns.log" >&2; return 1; }
}

# ensure_packages installs Debian's postfix, dovecot-imapd and
# dovecot-lmtpd when they are missing and we are root: one apt-get update,
# then a non-interactive install (Postfix with "No configuration": the
# benchmark starts its own instances with their own configuration
# directories, and the package's default instance is never started). With
# BENCH_DRY_INSTALL=1 it only prints what it would run. It returns 1 when a
# package is missing and cannot be installed.
ensure_packages() {
  local missing=()
  [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/smtp-sink ] || missing+=(postfix)
  [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
  [ -x /usr/lib/dovecot/lmtp ] || missing+=(dovecot-lmtpd)
  [ ${#missing[@]} -eq 0 ] && return 0
  local run=()
  [ "${BENCH_DRY_INSTALL:-0}" = 1 ] && run=(echo "bench: would run:")
  if [ "$(id -u)" != 0 ] && [ "${BENCH_DRY_INSTALL:-0}" != 1 ]; then
    echo "bench: missing ${missing[*]} and not root: the peers are skipped" >&2
    return 1
  fi
  echo "bench: installing ${missing[*]}" >&2
  "${run[@]}" apt-get update -qq || return 1
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    if [ ${#run[@]} -gt 0 ]; then
      "${run[@]}" debconf-set-selections "<<<'postfix postfix/main_mailer_type select No configuration'"
    else
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    fi
  fi
  DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || return 1
}

# cg_create NAME creates a cgroup v1 cpuacct group for one server and
# prints its directory, or nothing when cpuacct is not available (not
# root, cgroup v2 only): callers then fall back to the process tree.
cg_create() {
  local root=/sys/fs/cgroup/cpuacct
  [ -w "$root" ] && [ -f "$root/cpuacct.usage" ] || return 0
  mkdir -p "$root/$1" 2>/dev/null && echo "$root/$1"
}

# in_cgroup DIR CMD... moves the current (sub)shell into the cgroup DIR
# (none when DIR is "") and execs CMD, so CMD and everything it forks are
# accounted there from the start. Call it in a subshell or in the
# background: "(in_cgroup DIR CMD)" or "in_cgroup DIR CMD &" ($! is then
# CMD's PID).
in_cgroup() {
  local cg=$1
  shift
  if [ -n "$cg" ]; then echo "$BASHPID" >"$cg/cgroup.procs"; fi
  exec "$@"
}

# cg_remove DIR removes an (empty) cgroup made by cg_create.
cg_remove() { [ -n "${1:-}" ] && rmdir "$1" 2>/dev/null || true; }

# wait_tcp HOST PORT waits up to 10 s for a TCP listener.
wait_tcp() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# posthorn_config DIR SMTP_PORT HTTP_PORT IMAP_PORT rewrites the fresh
# "posthorn init" configuration in DIR for the benchmarks: listeners on the
# loopback ports given (none for an empty port), the test DNS server,
# greet_delay 0 (the early-talker wait would dominate), log level warn,
# no TLS reports, XCLIENT from loopback (smtpload presents clients in
# 192.0.2.0/24), running as the current user.
posthorn_config() {
  local f=$1/posthorn.toml smtp="" http="" imap=""
  [ -n "$2" ] && smtp="\"127.0.0.1:$2\""
  [ -n "$3" ] && http="\"127.0.0.1:$3\""
  [ -n "${4:-}" ] && imap="\"127.0.0.1:$4\""
  sed -i -e "s/^servers = .*/servers = [\"127.0.0.1:$DNS_PORT\"]/" -e 's/^user = .*/user = ""/' -e 's/^allow_root = .*/allow_root = true/' \
    -e "s/^smtp = .*/smtp = [$smtp]/" -e 's/^submission = .*/submission = []/' \
    -e 's/^submissions = .*/submissions = []/' -e "s/^imap = .*/imap = [$imap]/" -e 's/^imaps = .*/imaps = []/' \
    -e "s/^http = .*/http = [$http]/" -e 's/^https = .*/https = []/' \
    -e 's/^greet_delay = .*/greet_delay = "0s"/' -e 's/^level = .*/level = "warn"/' \
    -e 's/^tls_reports = .*/tls_reports = false/' -e 's|^xclient_networks = .*|xclient_networks = ["127.0.0.0/8"]|' \
    "$f"
  grep -q '^xclient_networks = \["127.0.0.0/8"\]' "$f" || { echo "bench: could not set xclient_networks in $f" >&2; return 1; }
}
