#!/usr/bin/env bash
# IMAP benchmark, posthorn vs Dovecot on loopback in the same run (called by
# bench/run.sh --imap, or directly):
#
#   bench/imap/run.sh [--quick] [--runs N] [--messages N]
#
# Writes one Maildir of N messages (bench/imap -write-maildir), imports it
# into a fresh posthorn with `posthorn import maildir` (batched DeliverAll,
# before the server starts) and, as root with dovecot-imapd installed, moves
# the same files into the Maildir of a Dovecot with its own base_dir
# (vmail user, static password); then starts both (IMAP on free loopback
# ports) and runs bench/imap -prefilled (see its doc comment for the
# operations). Both are stopped by PID when it ends. JSON lines go to
# $OUT/imap.jsonl; the fill times to stderr.
# $BENCH_OUT, when set, is the working directory (bench/run.sh sets it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"

N=10000 RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) N=1000 RUNS=1 ;;
    --runs) RUNS=$2; shift ;;
    --messages) N=$2; shift ;;
    *) echo "usage: $0 [--quick] [--runs N] [--messages N]" >&2; exit 2 ;;
  esac
  shift
done

OUT=${BENCH_OUT:-$(mktemp -d /tmp/posthorn-bench-imap-XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"
echo "bench imap: working in $OUT"
go build -o "$OUT/posthorn" ./cmd/posthorn
go build -o "$OUT/testdns" ./internal/dns/dnstest/testdns
go build -o "$OUT/imapbench" ./bench/imap

. bench/lib.sh

PH_PID="" DV_PID=""
cleanup() {
  [ -n "${DNS_PID:-}" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null || true
  [ -n "$PH_PID" ] && kill "$PH_PID" 2>/dev/null && wait "$PH_PID" 2>/dev/null || true
  if [ -n "$DV_PID" ]; then
    kill "$DV_PID" 2>/dev/null || true
    for _ in $(seq 100); do [ -d "/proc/$DV_PID" ] || break; sleep 0.1; done
  fi
}
trap cleanup EXIT

# ---- the messages, once, for both servers.
"$OUT/imapbench" -n "$N" -write-maildir "$OUT/maildir"

# ---- posthorn: fresh init, IMAP (STARTTLS port, plaintext LOGIN is allowed
# from loopback) and HTTP on free loopback ports, nothing else.
IMAP_PORT=$(freeport) HTTP_PORT=$(freeport)
start_testdns
"$OUT/posthorn" init --dir "$OUT/ph" --data-dir "$OUT/ph/data" --domain example.com --hostname mail.example.com >/dev/null
sed -i -e "s/^servers = .*/servers = [\"127.0.0.1:$DNS_PORT\"]/" -e 's/^user = .*/user = ""/' -e 's/^allow_root = .*/allow_root = true/' \
  -e 's/^smtp = .*/smtp = []/' -e 's/^submission = .*/submission = []/' \
  -e 's/^submissions = .*/submissions = []/' -e "s/^imap = .*/imap = [\"127.0.0.1:$IMAP_PORT\"]/" \
  -e 's/^imaps = .*/imaps = []/' -e "s/^http = .*/http = [\"127.0.0.1:$HTTP_PORT\"]/" -e 's/^https = .*/https = []/' \
  -e 's/^level = .*/level = "warn"/' "$OUT/ph/posthorn.toml"
PW=bench-password-1
echo "$PW" | "$OUT/posthorn" user add bob@example.com --password-stdin --config "$OUT/ph/posthorn.toml" >/dev/null
S0=$SECONDS
"$OUT/posthorn" import maildir bob@example.com "$OUT/maildir" --config "$OUT/ph/posthorn.toml" 2>"$OUT/import.log" >"$OUT/import.out"
echo "bench imap: posthorn import: $(cat "$OUT/import.out") (wall $((SECONDS - S0)) s)" >&2
"$OUT/posthorn" serve --config "$OUT/ph/posthorn.toml" 2>"$OUT/posthorn.log" &
PH_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# ---- Dovecot (TESTING.md's recipe).
DV_ARGS=()
if [ -x /usr/sbin/dovecot ] && [ "$(id -u)" = 0 ]; then
  id vmail >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vmail
  DV="$OUT/dovecot" DV_PORT=$(freeport)
  mkdir -p "$DV/mail"
  mv "$OUT/maildir" "$DV/mail/bob"
  chown -R vmail:vmail "$DV/mail"
  cat > "$DV/dovecot.conf" <<CONF
base_dir = $DV/run
state_dir = $DV/state
instance_name = posthorn-bench
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$DV/mail/%n
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 1
log_path = $DV/dovecot.log
passdb {
  driver = static
  args = password=pass
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$DV/mail/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DV_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
  /usr/sbin/dovecot -c "$DV/dovecot.conf"
  # The master writes its PID file just after the command returns.
  for _ in $(seq 100); do [ -s "$DV/run/master.pid" ] && break; sleep 0.1; done
  DV_PID=$(cat "$DV/run/master.pid")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$DV_PORT") 2>/dev/null && break; sleep 0.1; done
  DV_ARGS=(-dovecot "127.0.0.1:$DV_PORT" -dovecot-maildir "$DV/mail/bob")
else
  echo "bench imap: Dovecot comparison skipped (needs /usr/sbin/dovecot, from dovecot-imapd, and root)"
  rm -rf "$OUT/maildir"
fi

"$OUT/imapbench" -prefilled -posthorn "127.0.0.1:$IMAP_PORT" -posthorn-pass "$PW" -n "$N" -runs "$RUNS" "${DV_ARGS[@]}" | tee "$OUT/imap.out"
grep '^{' "$OUT/imap.out" > "$OUT/imap.jsonl" || true
echo "(JSON lines: $OUT/imap.jsonl)"
