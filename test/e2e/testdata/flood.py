"""Send COUNT messages over one SMTP connection with smtplib and print
"acked N" for each one the server accepted, flushing at once, so the
caller knows exactly which messages got a 250 before the server died.

usage: flood.py HOST PORT TAG COUNT
"""
import smtplib
import sys

host, port, tag, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
body = "".join("line %03d of the durability test message\r\n" % i for i in range(60))
try:
    with smtplib.SMTP(host, port, local_hostname="flood.example", timeout=20) as s:
        for i in range(count):
            msg = "From: flood@remote.example\r\nTo: bob@example.com\r\nSubject: durable %s %d\r\n\r\n%s" % (tag, i, body)
            s.sendmail("flood@remote.example", ["bob@example.com"], msg)
            print("acked %d" % i, flush=True)
except Exception as e:  # the server was killed
    print("error %r" % (e,), flush=True)
