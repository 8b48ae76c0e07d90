"""Python smtplib against posthorn: SMTPUTF8 with a UTF-8 local part and an
IDN domain, DSN parameters, and BDAT over a raw socket. Prints one JSON
object with the replies; the Go test asserts on them and on the store.

usage: smtputf8.py HOST PORT
"""
import json
import smtplib
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
out = {}

utf8_msg = (
    "From: Absender <absender@straße.example>\r\n"
    "To: Jürgen <jürgen@bücher.example>\r\n"
    "Subject: smtplib Grüße SMTPUTF8\r\n"
    "Message-ID: <smtputf8-1@straße.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße aus Köln ✓\r\n"
    ".leading dot\r\n"
).encode("utf-8")

with smtplib.SMTP(host, port, local_hostname="py.client.example", timeout=20) as s:
    s.ehlo()
    out["ehlo_smtputf8"] = s.has_extn("smtputf8")
    out["ehlo_dsn"] = s.has_extn("dsn")
    out["ehlo_chunking"] = s.has_extn("chunking")
    # Without SMTPUTF8 a non-ASCII address is refused.
    s.command_encoding = "utf-8"
    code, msg = s.mail("absender@straße.example")
    out["mail_no_utf8"] = [code, msg.decode("utf-8", "replace")]
    s.rset()
    refused = s.sendmail(
        "absender@straße.example",
        ["jürgen@bücher.example", "JÜRGEN@xn--bcher-kva.example"],
        utf8_msg,
        mail_options=["SMTPUTF8", "BODY=8BITMIME"],
    )
    out["utf8_refused"] = {k: [v[0], v[1].decode("utf-8", "replace")] for k, v in refused.items()}

    # DSN parameters (RFC 3461) are accepted and kept with the envelope.
    dsn_msg = b"From: dsn@remote.example\r\nTo: bob@example.com\r\nSubject: smtplib DSN params\r\n\r\nwith DSN\r\n"
    refused = s.sendmail(
        "dsn@remote.example",
        ["bob@example.com"],
        dsn_msg,
        mail_options=["RET=HDRS", "ENVID=QQ314159+2Bx"],
        rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bdsn@example.com"],
    )
    out["dsn_refused"] = {k: list(v) for k, v in refused.items()}
    # An invalid NOTIFY combination is a syntax error.
    s.mail("dsn@remote.example")
    code, msg = s.rcpt("bob@example.com", ["NOTIFY=NEVER,SUCCESS"])
    out["bad_notify"] = [code, msg.decode()]
    s.rset()

# BDAT (RFC 3030) over a raw socket: two chunks, pipelined.
chunk1 = b"From: bdat@remote.example\r\nTo: bob@example.com\r\nSubject: smtplib BDAT chunks\r\n\r\nfirst chunk\r\n"
chunk2 = b"MAIL FROM:<inside@chunk.example>\r\n.\r\nlast chunk, no dot-stuffing\r\n"
sock = socket.create_connection((host, port), timeout=20)
f = sock.makefile("rb")


def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            return lines


reply()
sock.sendall(b"EHLO py.client.example\r\n")
reply()
sock.sendall(
    b"MAIL FROM:<bdat@remote.example> BODY=8BITMIME\r\nRCPT TO:<bob@example.com>\r\n"
    + b"BDAT %d\r\n" % len(chunk1) + chunk1
    + b"BDAT %d LAST\r\n" % len(chunk2) + chunk2
    + b"QUIT\r\n"
)
out["bdat"] = [reply()[-1] for _ in range(5)]
sock.close()
out["bdat_body"] = (chunk1 + chunk2).decode()
out["utf8_body"] = utf8_msg.decode("utf-8")
print(json.dumps(out))
