#!/usr/bin/python3
"""Independent producer and reader of Maildir and mbox for the import
and export e2e test, using Python's mailbox module.

  mailport.py make DIR       write DIR/Maildir (with folders) and DIR/in.mbox
  mailport.py dump-maildir D print the messages of Maildir D as JSON
  mailport.py dump-mbox F    print the messages of mbox F as JSON

A dump lists {folder, flags, date, body}: flags as IMAP names, date in
Unix seconds (Maildir: mtime; mbox: the From_ line), body with LF line
endings and without the mbox state fields, trailing newlines removed.
"""
import json
import mailbox
import re
import sys
import time

T0 = 1709294400  # 2024-03-01 12:00:00 UTC


def msg(n, extra=""):
    return (f"From: Sender {n} <s{n}@example.org>\nTo: you@example.com\n"
            f"Subject: message {n}\nMessage-ID: <{n}.e2e@example.org>\n\n"
            f"Body {n}\n{extra}")


def make(d):
    md = mailbox.Maildir(d + "/Maildir", create=True)
    def add(box, n, flags, sub="cur", extra=""):
        m = mailbox.MaildirMessage(msg(n, extra))
        m.set_subdir(sub)
        if flags:
            m.set_flags(flags)
        m.set_date(T0 + n * 3600)
        box.add(m)
    add(md, 1, "FS")
    add(md, 2, "", sub="new")
    add(md, 3, "S", extra="From the start of a line\nlast line\n")
    add(md.add_folder("Sent"), 4, "S")
    lists = md.add_folder("Lists.Go")
    add(lists, 5, "RS")
    add(lists, 6, "ST")
    add(lists, 7, "D")
    md.add_folder("Empty")
    mb = mailbox.mbox(d + "/in.mbox", create=True)
    for n, flags in ((10, "RF"), (11, "A"), (12, "RO")):
        m = mailbox.mboxMessage(msg(n, "From inside the body\n"))
        m.set_from("MAILER-DAEMON", time.gmtime(T0 + n * 3600))
        m.set_flags(flags)
        mb.add(m)
    mb.flush()


MAILDIR_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted", "D": "\\Draft"}
MBOX_FLAGS = {"R": "\\Seen", "A": "\\Answered", "F": "\\Flagged", "D": "\\Deleted", "T": "\\Draft"}
STATE = re.compile(rb"^(Status|X-Status|X-Keywords):[^\n]*\n", re.M | re.I)


def norm(body):
    body = body.replace(b"\r\n", b"\n")
    head, sep, rest = body.partition(b"\n\n")
    return (STATE.sub(b"", head + b"\n")[:-1] + sep + rest).rstrip(b"\n").decode("utf-8", "replace")


def dump_maildir(d):
    md = mailbox.Maildir(d, create=False)
    out = []
    for name, box in [("INBOX", md)] + [(f, md.get_folder(f)) for f in md.list_folders()]:
        out.append({"folder": name, "flags": [], "date": 0, "body": ""})  # the folder exists
        for key in box.keys():
            m = box.get_message(key)
            out.append({"folder": name, "flags": sorted(MAILDIR_FLAGS[c] for c in m.get_flags() if c in MAILDIR_FLAGS),
                        "date": int(m.get_date()), "body": norm(box.get_bytes(key))})
    print(json.dumps(out))


def dump_mbox(f):
    mb = mailbox.mbox(f, create=False)
    out = []
    for key in mb.keys():
        m = mb.get_message(key)
        date = " ".join(m.get_from().split()[1:])
        out.append({"folder": "", "flags": sorted(set(MBOX_FLAGS[c] for c in m.get_flags() if c in MBOX_FLAGS)),
                    "date": int(time.mktime(time.strptime(date, "%a %b %d %H:%M:%S %Y")) - time.timezone),
                    "body": norm(mb.get_bytes(key, from_=False))})
    print(json.dumps(out))


if __name__ == "__main__":
    {"make": make, "dump-maildir": dump_maildir, "dump-mbox": dump_mbox}[sys.argv[1]](sys.argv[2])
