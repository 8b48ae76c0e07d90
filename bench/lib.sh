# Shared by bench/run.sh and bench/imap/run.sh; source it after setting OUT.

# freeport prints a free TCP port on 127.0.0.1.
freeport() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_testdns starts the loopback test DNS server posthorn resolves
# through, so no query leaves the machine (unknown names are NXDOMAIN at
# once); it sets DNS_PORT and DNS_PID. Needs "$OUT/testdns".
start_testdns() {
  DNS_PORT=$(freeport)
  printf 'example.com. 300 IN MX 10 mail.example.com.\nmail.example.com. 300 IN A 127.0.0.1\n' >"$OUT/zone.txt"
  "$OUT/testdns" -listen "127.0.0.1:$DNS_PORT" "$OUT/zone.txt" >"$OUT/testdns.log" 2>&1 &
  DNS_PID=$!
  for _ in $(seq 50); do grep -q listening "$OUT/testdns.log" 2>/dev/null && break; sleep 0.1; done
}
