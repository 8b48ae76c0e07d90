#!/usr/bin/python3
"""Logs in to IMAPS with Python's imaplib and reports, as one JSON line,
what the server answered: the login, GETQUOTAROOT/GETQUOTA of INBOX and a
small APPEND (when the login worked).

usage: imaplib_account.py HOST PORT CAFILE USER PASSWORD
"""
import imaplib
import json
import ssl
import sys

host, port, cafile, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
c = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
try:
    typ, data = c.login(user, password)
    out["login"] = typ
except imaplib.IMAP4.error as e:
    out["login"] = "NO " + str(e)
if out["login"] == "OK":
    typ, data = c.getquotaroot("INBOX")
    out["getquotaroot"] = [typ] + [d.decode() if isinstance(d, bytes) else str(d) for d in data]
    typ, data = c.getquota('""')
    out["getquota"] = [typ] + [d.decode() if isinstance(d, bytes) else str(d) for d in data]
    msg = b"From: a@example.org\r\nSubject: appended\r\n\r\nhello\r\n"
    typ, data = c.append("INBOX", None, None, msg)
    out["append"] = [typ] + [d.decode() if isinstance(d, bytes) else str(d) for d in data]
    c.logout()
print(json.dumps(out))
