"""Python imaplib against posthorn: LOGIN over STARTTLS and IMAPS, SELECT,
FETCH (BODY[], BODYSTRUCTURE, ENVELOPE), STORE, SEARCH (BODY through the
full-text index), COPY, MOVE, EXPUNGE, IDLE (raw: imaplib in Python 3.11
has no idle()) with a delivery over SMTP, LOGOUT.

usage: imaplib_session.py HOST IMAP_PORT IMAPS_PORT CAFILE USER PASS SMTP_PORT
Prints one JSON object with what the test asserts on.
"""
import json
import smtplib
import socket
import ssl
import sys
import time
import imaplib

host, imap_port, imaps_port, cafile, user, password, smtp_port = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
out = {}


def check(typ, data, what):
    if typ != "OK":
        raise SystemExit(f"{what}: {typ} {data!r}")
    return data


# STARTTLS on the plaintext port.
c = imaplib.IMAP4(host, int(imap_port))
out["caps_before_tls"] = sorted(c.capabilities)
check(*c.starttls(ssl_context=ctx), "STARTTLS")
out["caps_after_tls"] = sorted(c.capabilities)
check(*c.login(user, password), "LOGIN")
typ, data = c.select("INBOX")
out["starttls_select"] = [typ, int(data[0])]
c.logout()

# Implicit TLS.
c = imaplib.IMAP4_SSL(host, int(imaps_port), ssl_context=ctx)
check(*c.login(user, password), "LOGIN")
typ, data = c.select("INBOX")
out["exists"] = int(data[0])
typ, data = c.fetch("1", "(BODY[] BODYSTRUCTURE ENVELOPE FLAGS)")
check(typ, data, "FETCH")
# [(b'1 (FLAGS (\\Seen) BODY[] {821}', body), b' BODYSTRUCTURE (...) ...)']
out["fetch_meta"] = data[0][0].decode() + " ".join(d.decode() for d in data[1:] if isinstance(d, bytes))
out["fetch_body"] = data[0][1].decode("utf-8", "replace")
typ, data = c.fetch("1:*", "(FLAGS)")
out["flags_after_body"] = [d.decode() for d in data]
check(*c.store("2", "+FLAGS", r"(\Flagged $Important)"), "STORE")
typ, data = c.fetch("2", "(FLAGS)")
out["stored_flags"] = data[0].decode()
out["search_body"] = check(*c.search(None, "BODY", "zeppelin"), "SEARCH BODY")[0].decode()
out["search_text_uid"] = check(*c.uid("SEARCH", None, "TEXT", "pomegranate"), "UID SEARCH")[0].decode()
out["search_flagged"] = check(*c.search(None, "FLAGGED"), "SEARCH FLAGGED")[0].decode()
out["search_unseen"] = check(*c.search(None, "UNSEEN"), "SEARCH UNSEEN")[0].decode()
c.literal = "Grüße".encode()  # sent as a literal after the last argument
out["search_charset"] = check(*c.search("UTF-8", "SUBJECT"), "SEARCH CHARSET")[0].decode()
check(*c.create("Projects/2026"), "CREATE")
typ, data = c.copy("1", "Projects/2026")
out["copy"] = [typ, data[0].decode()]
typ, data = c.uid("MOVE", "3", "Archive")
out["move"] = [typ, [d.decode() if isinstance(d, bytes) else d for d in data]]
out["move_untagged"] = [r.decode() for r in c.untagged_responses.pop("EXPUNGE", [])]
check(*c.store("1", "+FLAGS", r"\Deleted"), "STORE Deleted")
typ, data = c.expunge()
out["expunge"] = [typ, [d.decode() if d else None for d in data]]
typ, data = c.status("Projects/2026", "(MESSAGES UNSEEN)")
out["status_projects"] = data[0].decode()
typ, data = c.status("Archive", "(MESSAGES)")
out["status_archive"] = data[0].decode()
typ, data = c.list('""', "Projects*")
out["list_projects"] = [d.decode() for d in data]

# IDLE, raw: the client sends IDLE, waits for "+", a message arrives over
# SMTP, and the untagged EXISTS must follow within a second.
c.send(b"i1 IDLE\r\n")
line = c.readline()
out["idle_continuation"] = line.decode().strip()
sent = time.monotonic()
with smtplib.SMTP(host, int(smtp_port), local_hostname="client.example.org") as s:
    s.sendmail("alice@example.org", [user],
               b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: during idle\r\n"
               b"Message-ID: <idle@example.org>\r\n\r\nwake up\r\n")
acked = time.monotonic()
c.sock.settimeout(5)
line = c.readline().decode().strip()
got = time.monotonic()
out["idle_event"] = line
out["idle_after_ack_ms"] = round((got - acked) * 1000)
out["idle_after_send_ms"] = round((got - sent) * 1000)
c.send(b"DONE\r\n")
while True:
    line = c.readline().decode().strip()
    if line.startswith("i1 "):
        out["idle_done"] = line
        break
typ, data = c.fetch("*", "(ENVELOPE)")
out["idle_fetched"] = data[0].decode()
typ, data = c.logout()
out["logout"] = typ
print(json.dumps(out))
